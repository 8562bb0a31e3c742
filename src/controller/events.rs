//! What a finished pass means for the notifications: what changed since the pass before (an
//! object newly blocked, newly drifting in detect mode, a resource newly StandAlone, a new
//! invalid commit, a new failure) becomes an event; what stays as it was is not sent again.
//! Only bookkeeping: the notifier queues, and nothing here waits.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{EventKind, EventSeverity, ReconcileMode};
use crate::notify::{Event, Notifier};

use super::pass::Outcome;
use super::status::{ObjectState, PassRecord, Result as PassResult, Standing};

/// What the previous passes were notified for.
#[derive(Default)]
pub(super) struct Memory {
    /// Objects and their standing (with its detail) at the last pass that planned.
    objects: BTreeMap<String, (Standing, Option<String>)>,
    /// (resource, node) StandAlone at the last observation.
    standalone: BTreeSet<(String, String)>,
    /// The last invalid commit notified.
    invalid: Option<String>,
    /// The error of the last failed pass notified.
    failed: Option<String>,
}

/// Pending actions listed in a drift event at most.
const PENDING_SHOWN: usize = 5;

impl Memory {
    /// Emits the events of a finished pass and remembers what it saw.
    pub(super) fn after_pass(&mut self, n: &Notifier, outcome: &Outcome, record: &PassRecord) {
        if let Some(d) = &outcome.desired {
            n.configure(d, outcome.commit.as_deref());
        }
        let error = record.error.clone().unwrap_or_default();
        match record.result {
            PassResult::Invalid => {
                if self.invalid != record.commit {
                    self.invalid = record.commit.clone();
                    let commit = record.commit.as_deref().unwrap_or("-");
                    let mut e = Event::new(
                        EventKind::InvalidCommit,
                        EventSeverity::Error,
                        "Repository",
                        format!(
                            "commit {} is invalid; nothing was changed:\n{error}",
                            short(commit)
                        ),
                    );
                    e.commit = record.commit.clone();
                    n.emit(e);
                }
            }
            PassResult::Failed => {
                if self.failed.as_deref() != Some(error.as_str()) {
                    self.failed = Some(error.clone());
                    let object = record
                        .failed_objects
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "Repository".into());
                    let mut msg = error.clone();
                    if record.failed_objects.len() > 1 {
                        msg.push_str(&format!(" (objects: {})", record.failed_objects.join(", ")));
                    }
                    n.emit(Event::new(
                        EventKind::PassFailed,
                        EventSeverity::Error,
                        object,
                        msg,
                    ));
                }
            }
            PassResult::InSync | PassResult::Applied | PassResult::Drift => {
                self.failed = None;
            }
            PassResult::Suspended => {}
        }
        if !matches!(record.result, PassResult::Invalid | PassResult::Suspended) {
            self.invalid = None;
        }
        let planned = !outcome.objects.is_empty();
        if planned {
            let detect = outcome.mode == Some(ReconcileMode::Detect);
            for (o, st) in &outcome.objects {
                self.object_events(n, o, st, detect);
            }
            self.objects = outcome
                .objects
                .iter()
                .map(|(o, st)| (o.clone(), (st.state, st.detail.clone())))
                .collect();
        }
        if let Some(c) = &outcome.census {
            for (res, node) in c.standalone.difference(&self.standalone) {
                n.emit(Event::new(
                    EventKind::SplitBrain,
                    EventSeverity::Error,
                    format!("Volume/{res}"),
                    format!("DRBD resource {res} is StandAlone on {node}: a split brain or a manual disconnect; nothing is done to it or its domains until an operator resolves it"),
                ));
            }
            self.standalone = c.standalone.clone();
        }
        for f in &outcome.failed_back {
            let object = f.split(' ').next().unwrap_or(f).to_string();
            n.emit(Event::new(
                EventKind::Failback,
                EventSeverity::Info,
                object,
                format!("back on its preferred node: {f}"),
            ));
        }
    }

    /// A blocked object not blocked (for the same reason) before; in detect mode, an object
    /// that drifts and did not.
    fn object_events(&self, n: &Notifier, o: &str, st: &ObjectState, detect: bool) {
        let before = self.objects.get(o);
        match st.state {
            Standing::Blocked => {
                let same = before.is_some_and(|(s, d)| *s == Standing::Blocked && *d == st.detail);
                if !same {
                    n.emit(Event::new(
                        EventKind::Blocked,
                        EventSeverity::Error,
                        o,
                        st.detail.clone().unwrap_or_else(|| "blocked".into()),
                    ));
                }
            }
            Standing::Drift if detect => {
                if before.is_none_or(|(s, _)| *s != Standing::Drift) {
                    let mut pending: Vec<String> =
                        st.pending.iter().take(PENDING_SHOWN).cloned().collect();
                    if st.pending.len() > PENDING_SHOWN {
                        pending.push(format!("and {} more", st.pending.len() - PENDING_SHOWN));
                    }
                    n.emit(Event::new(
                        EventKind::Drift,
                        EventSeverity::Info,
                        o,
                        format!(
                            "differs from the desired state (detect mode: nothing changed); would: {}",
                            pending.join("; ")
                        ),
                    ));
                }
            }
            Standing::Drift | Standing::InSync | Standing::Failing => {}
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}
