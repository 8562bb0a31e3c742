//! What the controller's probes say about each node over time (DESIGN.md §8): `healthy` while
//! it answers, `suspect` from its first unanswered probe, `dead` once it has not answered for
//! the Cluster's `ha.deadAfter`. Declaring a node dead is only the trigger: whether it may be
//! fenced (its peer answers and its peer's DRBD lost the connection to it) is decided by
//! [`super::may_fence`] on a fresh observation. Pure: the caller gives the clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::Name;

/// A node's standing in the probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Healthy,
    /// Not answering since this instant, for less than `deadAfter`.
    Suspect {
        since: Instant,
    },
    /// Not answering for `deadAfter` or longer (declared once per outage).
    Dead {
        since: Instant,
    },
}

impl Standing {
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::Healthy => "healthy",
            Standing::Suspect { .. } => "suspect",
            Standing::Dead { .. } => "dead",
        }
    }
}

/// A change worth acting on or telling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The first unanswered probe.
    Suspect(Name),
    /// Unanswered for `deadAfter`: the controller tries to fail it over.
    Dead { node: Name, silent_for: Duration },
    /// Answers again (after being suspect or dead).
    Back(Name),
}

/// Every node's standing.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    nodes: BTreeMap<Name, Standing>,
}

impl Tracker {
    pub fn standing(&self, node: &Name) -> Standing {
        self.nodes.get(node).copied().unwrap_or(Standing::Healthy)
    }

    pub fn all(&self) -> &BTreeMap<Name, Standing> {
        &self.nodes
    }

    /// Forgets nodes no longer in the desired state.
    pub fn keep_only<'a>(&mut self, nodes: impl IntoIterator<Item = &'a Name>) {
        let keep: std::collections::BTreeSet<&Name> = nodes.into_iter().collect();
        self.nodes.retain(|n, _| keep.contains(n));
    }

    /// One probe of `node` at `now`.
    pub fn probe(
        &mut self,
        node: &Name,
        answered: bool,
        now: Instant,
        dead_after: Duration,
    ) -> Option<Change> {
        let before = self.standing(node);
        let (after, change) = match (before, answered) {
            (Standing::Healthy, true) => (Standing::Healthy, None),
            (Standing::Suspect { .. } | Standing::Dead { .. }, true) => {
                (Standing::Healthy, Some(Change::Back(node.clone())))
            }
            (Standing::Healthy, false) => (
                Standing::Suspect { since: now },
                Some(Change::Suspect(node.clone())),
            ),
            (Standing::Suspect { since }, false) => {
                let silent_for = now.saturating_duration_since(since);
                if silent_for >= dead_after {
                    (
                        Standing::Dead { since },
                        Some(Change::Dead {
                            node: node.clone(),
                            silent_for,
                        }),
                    )
                } else {
                    (Standing::Suspect { since }, None)
                }
            }
            (Standing::Dead { since }, false) => (Standing::Dead { since }, None),
        };
        self.nodes.insert(node.clone(), after);
        change
    }

    /// Declares `node` dead again at its next unanswered probe (a failover that could not run
    /// yet, such as one whose peer did not answer either, is tried again).
    pub fn retry(&mut self, node: &Name) {
        if let Some(Standing::Dead { since }) = self.nodes.get(node).copied() {
            self.nodes.insert(node.clone(), Standing::Suspect { since });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_suspect_at_once_dead_after_the_time_and_declared_once() {
        let mut t = Tracker::default();
        let n: Name = "dom0".parse().unwrap();
        let start = Instant::now();
        let dead_after = Duration::from_secs(30);
        assert_eq!(t.probe(&n, true, start, dead_after), None);
        assert_eq!(
            t.probe(&n, false, start + Duration::from_secs(1), dead_after),
            Some(Change::Suspect(n.clone()))
        );
        assert_eq!(
            t.probe(&n, false, start + Duration::from_secs(30), dead_after),
            None,
            "29 s silent is not 30"
        );
        assert_eq!(
            t.probe(&n, false, start + Duration::from_secs(31), dead_after),
            Some(Change::Dead {
                node: n.clone(),
                silent_for: Duration::from_secs(30)
            })
        );
        assert_eq!(
            t.probe(&n, false, start + Duration::from_secs(40), dead_after),
            None,
            "declared once"
        );
        t.retry(&n);
        assert!(matches!(
            t.probe(&n, false, start + Duration::from_secs(45), dead_after),
            Some(Change::Dead { .. })
        ));
        assert_eq!(
            t.probe(&n, true, start + Duration::from_secs(50), dead_after),
            Some(Change::Back(n.clone()))
        );
        assert_eq!(t.standing(&n), Standing::Healthy);
    }

    #[test]
    fn one_answer_in_between_starts_the_count_again() {
        let mut t = Tracker::default();
        let n: Name = "dom0".parse().unwrap();
        let start = Instant::now();
        let dead_after = Duration::from_secs(10);
        t.probe(&n, false, start, dead_after);
        t.probe(&n, true, start + Duration::from_secs(8), dead_after);
        t.probe(&n, false, start + Duration::from_secs(9), dead_after);
        assert_eq!(
            t.probe(&n, false, start + Duration::from_secs(15), dead_after),
            None
        );
        assert!(matches!(
            t.probe(&n, false, start + Duration::from_secs(19), dead_after),
            Some(Change::Dead { .. })
        ));
    }
}
