//! Between reconcile passes, with `ha.enabled`, the controller probes every node with one cheap
//! read (`cat /proc/drbd`) over the connection it already holds, every `deadAfter / 3` (1 to 10
//! seconds). A node silent for `deadAfter` is declared dead ([`crate::ha::watch`]) and handed
//! to the loop, which runs [`crate::ha::failover`] — the same path as `xenflux failover NODE`:
//! the peer must answer and have lost its DRBD connection to the node, the fence must confirm
//! the node is off, the record is written, and only then the survivor is promoted and the
//! domains started. A declared node that is not fenced yet is handed over again every
//! `deadAfter` while it stays silent (a peer that did not answer may answer now; a fence that
//! did not confirm is tried again).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::drivers::drbd::cat_proc_drbd;
use crate::ha::watch::{Change, Standing, Tracker};
use crate::model::{Desired, Name};
use crate::transport::Cmd;

use super::pass::Connector;
use super::{lock, Shared, Trigger};

/// One node as the probes see it, for `/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeWatch {
    /// healthy, suspect or dead.
    pub standing: String,
    /// Seconds since it last answered (0 while healthy).
    pub silent_seconds: u64,
    /// What the last failover of this node came to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
}

/// How often nodes are probed for a `deadAfter`.
pub fn probe_every(dead_after: Duration) -> Duration {
    (dead_after / 3).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Probes until the task is aborted (the controller stopping).
pub(super) async fn run(shared: Arc<Shared>, connector: Arc<dyn Connector>) {
    let mut tracker = Tracker::default();
    let mut handed: BTreeMap<Name, Instant> = BTreeMap::new();
    loop {
        let desired = lock(&shared.desired).clone();
        let ha = desired
            .as_ref()
            .map(|d| d.cluster.ha.clone())
            .filter(|ha| ha.enabled);
        let Some(ha) = ha else {
            lock(&shared.nodes).clear();
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let dead_after = Duration::from_secs(ha.dead_after.seconds);
        tokio::time::sleep(probe_every(dead_after)).await;
        let Some(d) = desired else { continue };
        let answers = {
            let (c, d, sh) = (connector.clone(), d.clone(), shared.clone());
            let job = move || {
                let _gate = lock(&sh.cluster_gate);
                probe(c.as_ref(), &d)
            };
            match tokio::task::spawn_blocking(job).await {
                Ok(a) => a,
                Err(_) => continue,
            }
        };
        tracker.keep_only(d.nodes.keys());
        let now = Instant::now();
        for (node, answered) in &answers {
            match tracker.probe(node, *answered, now, dead_after) {
                Some(Change::Suspect(n)) => tracing::warn!(node = %n, "node does not answer"),
                Some(Change::Back(n)) => {
                    tracing::info!(node = %n, "node answers again");
                    handed.remove(&n);
                    shared.trigger(Trigger::NodeBack);
                }
                Some(Change::Dead { node, silent_for }) => {
                    tracing::error!(node = %node, seconds = silent_for.as_secs(), "node declared dead");
                    shared.notifier.emit(crate::notify::Event::new(
                        crate::model::EventKind::NodeDead,
                        crate::model::EventSeverity::Error,
                        format!("Node/{node}"),
                        format!(
                            "{node} has not answered for {} s: declared dead; failing over once its fence confirms it is off",
                            silent_for.as_secs()
                        ),
                    ));
                    hand_over(&shared, &node, &mut handed, now);
                }
                None => {
                    // Still dead and not fenced yet: hand it over again every deadAfter.
                    let again = matches!(tracker.standing(node), Standing::Dead { .. })
                        && handed
                            .get(node)
                            .is_some_and(|at| now.duration_since(*at) >= dead_after)
                        && !fenced(&shared, node);
                    if again {
                        hand_over(&shared, node, &mut handed, now);
                    }
                }
            }
        }
        let mut nodes = lock(&shared.nodes);
        let failovers: BTreeMap<Name, Option<String>> = nodes
            .iter()
            .filter_map(|(n, w)| Some((n.parse().ok()?, w.failover.clone())))
            .collect();
        *nodes = tracker
            .all()
            .iter()
            .map(|(n, s)| {
                let silent_seconds = match s {
                    Standing::Healthy => 0,
                    Standing::Suspect { since } | Standing::Dead { since } => {
                        now.duration_since(*since).as_secs()
                    }
                };
                let w = NodeWatch {
                    standing: s.as_str().into(),
                    silent_seconds,
                    failover: failovers.get(n).cloned().flatten(),
                };
                (n.to_string(), w)
            })
            .collect();
    }
}

fn hand_over(shared: &Shared, node: &Name, handed: &mut BTreeMap<Name, Instant>, now: Instant) {
    handed.insert(node.clone(), now);
    lock(&shared.lost).insert(node.clone(), now);
    shared.trigger(Trigger::NodeLost);
}

fn fenced(shared: &Shared, node: &Name) -> bool {
    matches!(
        crate::ha::record::read_record(&shared.state_dir, node),
        Ok(Some(_))
    )
}

/// One read per node, in parallel: whether it answered. Empty when the cluster could not be
/// opened (nothing is known, so nothing is concluded).
fn probe(c: &dyn Connector, d: &Desired) -> BTreeMap<Name, bool> {
    let Ok(conn) = c.connect(d) else {
        return BTreeMap::new();
    };
    let t = conn.transport();
    let cmd = [Cmd::new(cat_proc_drbd())];
    let answers = std::thread::scope(|scope| {
        let handles: Vec<_> = d
            .nodes
            .keys()
            .map(|n| {
                let cmd = &cmd;
                scope.spawn(move || {
                    // An answer is a batch that came back, whatever the command said (a node
                    // without the DRBD module loaded still answers).
                    (n.clone(), t.run_reads(n.as_str(), cmd).is_ok())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let _ = conn.finish();
    answers
}
