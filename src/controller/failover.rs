//! The controller's automatic failover: a node the watch declared dead goes through
//! [`crate::ha::failover`] with its fence — the same decision, fence, record and apply as
//! `xenflux failover NODE` — under the apply lock, on a blocking thread, between passes.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::exec::Lock;
use crate::ha::{self, Confirm, Outcome, Request};
use crate::model::Name;
use crate::validate::validate;

use super::pass::{log_progress, Connector};
use super::source::Repo;
use super::{lock, Options, Shared};

/// What a failover came to, for the log, `/status`, `/metrics` and the notifications.
struct Done {
    /// `failed_over`, `refused`, `not_confirmed` or `error`.
    result: &'static str,
    text: String,
    /// The fence, when it ran: whether it confirmed the node off, and how.
    fence: Option<(bool, String)>,
}

/// Fails `node` over (declared dead at `declared`) and records the outcome.
pub(super) async fn run(
    opts: &Options,
    connector: &Arc<dyn Connector>,
    shared: &Arc<Shared>,
    node: Name,
    declared: Instant,
    lease: Option<(Arc<super::lease::Leadership>, super::lease::Token)>,
) {
    let job = {
        let (repo, state_dir) = (opts.repo.clone(), opts.state_dir.clone());
        let (c, n, sh) = (connector.clone(), node.clone(), shared.clone());
        tokio::task::spawn_blocking(move || {
            let _gate = lock(&sh.cluster_gate);
            let confirm = lease.map(|(l, token)| move || l.confirm(token));
            let guard = confirm.as_ref().map(|c| c as &crate::reconcile::Guard);
            failover(&repo, &state_dir, c.as_ref(), &n, guard)
        })
    };
    let done = job.await.unwrap_or_else(|_| Done {
        result: "error",
        text: "the failover panicked".into(),
        fence: None,
    });
    notify(shared, &node, &done);
    match done.result {
        "failed_over" => tracing::warn!(node = %node, "failover: {}", done.text),
        _ => tracing::error!(node = %node, result = done.result, "failover: {}", done.text),
    }
    let mut m = lock(&shared.metrics);
    *m.failovers.entry(done.result).or_default() += 1;
    if done.result == "failed_over" {
        m.failover_last_seconds = declared.elapsed().as_secs_f64();
    }
    drop(m);
    lock(&shared.nodes)
        .entry(node.to_string())
        .or_default()
        .failover = Some(format!("{}: {}", done.result, done.text));
}

fn failover(
    repo: &Repo,
    state_dir: &Path,
    c: &dyn Connector,
    node: &Name,
    guard: Option<&crate::reconcile::Guard>,
) -> Done {
    let error = |text: String| Done {
        result: "error",
        text,
        fence: None,
    };
    let fetched = match repo.fetch() {
        Ok(f) => f,
        Err(e) => return error(e.to_string()),
    };
    let d = match validate(&fetched.sources, &Default::default()) {
        Ok(v) => v.desired,
        Err(diags) => {
            return error(format!(
                "the desired state is invalid ({} problem(s))",
                diags.len()
            ))
        }
    };
    let lock = match Lock::acquire(state_dir) {
        Ok(l) => l,
        Err(e) => return error(e.to_string()),
    };
    let mut open = || c.open_target(&d);
    let outcome = ha::failover(
        &lock,
        Request {
            node,
            confirm: Confirm::Fence,
            sources: &fetched.sources,
            open: &mut open,
            settle: c.settle(),
            journal: true,
            ask: &mut |_, _| true,
            progress: &mut log_progress,
            guard,
        },
    );
    match outcome {
        Err(e) => error(e.to_string()),
        Ok(Outcome::Refused { why }) => Done {
            result: "refused",
            text: why,
            fence: None,
        },
        Ok(Outcome::NotConfirmed { why, what_to_do }) => Done {
            result: "not_confirmed",
            text: format!("the fence is NOT confirmed ({why}); nothing was started; {what_to_do}"),
            fence: Some((false, format!("{why}; {what_to_do}"))),
        },
        Ok(Outcome::Declined) => Done {
            result: "refused",
            text: "declined".into(),
            fence: None,
        },
        Ok(Outcome::FailedOver(f)) => {
            let placed: Vec<String> = f
                .placed
                .iter()
                .map(|(d, n)| format!("{d} on {n}"))
                .collect();
            Done {
                result: if f.applied.complete() {
                    "failed_over"
                } else {
                    "error"
                },
                text: format!(
                    "fenced by {} ({}); started: {}; {} action(s) ran, {} failed",
                    f.record.by,
                    f.record.how,
                    if placed.is_empty() {
                        "nothing".to_string()
                    } else {
                        placed.join(", ")
                    },
                    f.applied.ran.len(),
                    f.applied.failed.len()
                ),
                fence: Some((
                    true,
                    format!("fenced by {} ({})", f.record.by, f.record.how),
                )),
            }
        }
    }
}

/// The fence (when it ran) and the failover as events.
fn notify(shared: &Shared, node: &Name, done: &Done) {
    use crate::model::{EventKind, EventSeverity};
    use crate::notify::Event;
    let object = format!("Node/{node}");
    if let Some((confirmed, how)) = &done.fence {
        let (severity, what) = if *confirmed {
            (EventSeverity::Info, format!("{node} is off: {how}"))
        } else {
            (
                EventSeverity::Error,
                format!("the fence of {node} is NOT confirmed: {how}"),
            )
        };
        shared
            .notifier
            .emit(Event::new(EventKind::Fence, severity, object.clone(), what));
    }
    let severity = if done.result == "failed_over" {
        EventSeverity::Info
    } else {
        EventSeverity::Error
    };
    shared.notifier.emit(Event::new(
        EventKind::Failover,
        severity,
        object,
        format!("{}: {}", done.result.replace('_', " "), done.text),
    ));
}
