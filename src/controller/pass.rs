//! One reconcile pass as the controller runs it: fetch the commit, read the desired state from its
//! tree, observe, plan, and apply (enforce mode) or only report (detect mode), then observe again
//! to tell what drift remains. Level-triggered: it never learns why it runs. Blocking; the
//! controller runs it off the async runtime, one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::exec::{Event, Lock};
use crate::model::{Desired, ReconcileMode};
use crate::reconcile::{
    self, approve, snapshot, Applied, ApplyCtx, ApproveError, Decision, Intent, ReconcileError,
};
use crate::target::{TargetError, TargetHandle};
use crate::transport::Transport;
use crate::validate::validate;

use super::source::Repo;
use super::status::{self, ObjectState, Result as PassResult};

/// How the controller reaches the cluster: the simulator, or real nodes over SSH.
pub trait Connector: Send + Sync {
    /// `sim`, `ssh`, ... for `/status`.
    fn name(&self) -> String;
    /// Opens the cluster for one pass.
    fn connect(&self, desired: &Desired) -> Result<Box<dyn Connection>, String>;
    /// Opens the cluster as the commands do, for a failover ([`crate::ha::failover`] opens it,
    /// finishes it before the fence runs, and opens it again).
    fn open_target(&self, desired: &Desired) -> Result<TargetHandle, TargetError>;
    /// How verification waits for effects on this target.
    fn settle(&self) -> Option<crate::exec::Settle> {
        Some(crate::exec::SETTLE)
    }
}

/// The cluster, open for one pass.
pub trait Connection {
    fn transport(&self) -> &dyn Transport;
    /// Ends the pass (the simulator saves itself here).
    fn finish(self: Box<Self>) -> Result<(), String>;
}

/// What a pass found and did.
#[derive(Debug)]
pub struct Outcome {
    pub commit: Option<String>,
    pub cluster: Option<String>,
    pub mode: Option<ReconcileMode>,
    pub interval: Option<std::time::Duration>,
    pub result: PassResult,
    pub applied: usize,
    pub error: Option<String>,
    /// Every object a failure is attributed to (each keeps its own backoff).
    pub failed_objects: BTreeSet<String>,
    /// Objects whose actions were skipped because something they depend on failed: neither
    /// failed nor done.
    pub skipped_objects: BTreeSet<String>,
    /// Applying made progress and a plan made afresh still has actions (a step that waits for
    /// the one before it, such as promoting once a resource is up): reconcile again soon.
    pub more: bool,
    pub objects: BTreeMap<String, ObjectState>,
    pub seconds: f64,
    /// The desired state the pass read (the node watch probes its nodes).
    pub desired: Option<std::sync::Arc<Desired>>,
    /// Failed-over domains this pass found back home.
    pub failed_back: Vec<String>,
    /// What the pass's last observation counted (None when it observed nothing).
    pub census: Option<status::Census>,
}

/// Inputs of a pass.
pub struct Pass<'a> {
    pub repo: &'a Repo,
    pub state_dir: &'a Path,
    pub connector: &'a dyn Connector,
    /// Set to stop after the running stage.
    pub stop: &'a AtomicBool,
    /// Asked before every stage of an apply (the leader's lease, confirmed on etcd).
    pub guard: Option<&'a crate::reconcile::Guard>,
}

pub use crate::reconcile::inflight_path;

impl Pass<'_> {
    pub fn run(&self) -> Outcome {
        let started = Instant::now();
        let mut out = Outcome {
            commit: None,
            cluster: None,
            mode: None,
            interval: None,
            result: PassResult::Failed,
            applied: 0,
            error: None,
            failed_objects: BTreeSet::new(),
            skipped_objects: BTreeSet::new(),
            failed_back: Vec::new(),
            census: None,
            more: false,
            objects: BTreeMap::new(),
            seconds: 0.0,
            desired: None,
        };
        self.run_into(&mut out);
        out.seconds = started.elapsed().as_secs_f64();
        out
    }

    fn run_into(&self, out: &mut Outcome) {
        let fail = |out: &mut Outcome, objects: BTreeSet<String>, e: String| {
            out.result = PassResult::Failed;
            out.error = Some(e);
            out.failed_objects.extend(objects);
        };
        let one = |object: &str| BTreeSet::from([object.to_string()]);
        let fetched = match self.repo.fetch() {
            Ok(f) => f,
            Err(e) => return fail(out, one("Repository"), e.to_string()),
        };
        out.commit = Some(fetched.commit.clone());
        if status::read_suspension(self.state_dir).is_some() {
            out.result = PassResult::Suspended;
            return;
        }
        let first = match validate(&fetched.sources, &Default::default()) {
            Ok(v) => v,
            Err(diags) => {
                out.result = PassResult::Invalid;
                out.error = Some(
                    diags
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                return;
            }
        };
        let d = &first.desired;
        out.desired = Some(std::sync::Arc::new(d.clone()));
        out.cluster = Some(d.cluster_name.clone());
        out.mode = Some(d.cluster.reconcile.mode);
        out.interval = Some(std::time::Duration::from_secs(
            d.cluster.reconcile.interval.seconds,
        ));
        let cluster_object = format!("Cluster/{}", d.cluster_name);
        let conn = match self.connector.connect(d) {
            Ok(c) => c,
            Err(e) => return fail(out, one(&cluster_object), e),
        };
        let result = self.converge(&fetched.sources, conn.as_ref(), out);
        if let Err(e) = conn.finish() {
            tracing::error!("{e}");
            if out.error.is_none() {
                fail(out, one(&cluster_object), e);
            }
        }
        if let Err((objects, e)) = result {
            fail(out, objects, e);
        }
    }

    fn converge(
        &self,
        sources: &[crate::load::Source],
        conn: &dyn Connection,
        out: &mut Outcome,
    ) -> Result<(), Failure> {
        let t = conn.transport();
        let one = |object: String| BTreeSet::from([object]);
        let as_failure = |e: ReconcileError| match e {
            ReconcileError::Invalid(diags) => (
                one("Cluster".to_string()),
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            e @ (ReconcileError::Plan(_) | ReconcileError::Ha(_)) => {
                (one("Cluster".to_string()), e.to_string())
            }
        };
        let cluster_object = || one(format!("Cluster/{}", sources_cluster(out)));
        let lock = Lock::acquire(self.state_dir).map_err(|e| (cluster_object(), e.to_string()))?;
        let snap = snapshot(sources, t).map_err(as_failure)?;
        let approved = approve(&lock, &snap, false, Intent::Fresh).map_err(|e| match e {
            ApproveError::Reconcile(e) => as_failure(e),
            ApproveError::Saved(e) => (cluster_object(), e.to_string()),
        })?;
        out.census = Some(status::Census::of(&snap.observed));
        out.failed_back = approved
            .failed_back()
            .iter()
            .map(|(dom, p)| {
                format!(
                    "Domain/{dom} (failed over to {}, away from {})",
                    p.node, p.from
                )
            })
            .collect();
        let plan = approved.plan();
        let d = &snap.validated.desired;
        out.objects = status::objects(d, plan);
        if plan.is_empty() {
            out.result = if plan.blocked.is_empty() {
                PassResult::InSync
            } else {
                PassResult::Drift
            };
            return Ok(());
        }
        if d.cluster.reconcile.mode == ReconcileMode::Detect {
            tracing::info!(
                actions = plan.action_count(),
                "detect mode: drift reported, nothing changed"
            );
            out.result = PassResult::Drift;
            return Ok(());
        }
        let ctx = ApplyCtx {
            stop: Some(self.stop),
            guard: self.guard,
            commit: out.commit.as_deref(),
            ..ApplyCtx::new(sources, t)
        };
        let applied = reconcile::apply(approved, &ctx, &mut log_progress);
        self.record(&applied, out)
    }

    /// Records what an apply did and what it decided: objects and their states, the count, and
    /// for a failure every object a backoff is kept for.
    fn record(&self, applied: &Applied, out: &mut Outcome) -> Result<(), Failure> {
        out.applied = applied.ran.len();
        match &applied.after {
            Ok(after) => {
                out.objects = status::objects(&after.snapshot.validated.desired, &after.plan);
                out.census = Some(status::Census::of(&after.snapshot.observed));
            }
            Err(e) => tracing::warn!("observing after the apply: {e}"),
        }
        for f in &applied.failed {
            if let Some(o) = out.objects.get_mut(&f.object) {
                o.state = status::Standing::Failing;
                o.detail = Some(f.to_string());
            }
        }
        for s in &applied.skipped {
            out.skipped_objects.insert(s.object.clone());
            if let Some(o) = out.objects.get_mut(&s.object) {
                if o.detail.is_none() {
                    o.detail = Some(format!("skipped: {} failed", s.because));
                }
            }
        }
        let left = applied.after.as_ref().map(|a| &a.plan);
        match &applied.decision {
            Decision::Retry { objects } => {
                let first = applied
                    .failed
                    .first()
                    .map(|f| f.to_string())
                    .or_else(|| applied.after.as_ref().err().map(|e| e.to_string()))
                    .unwrap_or_default();
                let error = match applied.failed.len() {
                    0 | 1 => first,
                    n => format!("{first} (and {} more failure(s))", n - 1),
                };
                Err((objects.keys().cloned().collect(), error))
            }
            Decision::Requeue => {
                out.more = true;
                out.result = PassResult::Drift;
                Ok(())
            }
            Decision::Done => {
                out.result = match left {
                    Ok(p) if p.is_empty() && p.blocked.is_empty() => PassResult::Applied,
                    Ok(_) | Err(_) => PassResult::Drift,
                };
                Ok(())
            }
        }
    }
}

/// A pass that failed: the objects the failure is attributed to, and the error.
type Failure = (BTreeSet<String>, String);

/// The cluster's name as far as the pass knows it.
fn sources_cluster(out: &Outcome) -> String {
    out.cluster.clone().unwrap_or_default()
}

/// Progress of an apply, as log lines.
pub(super) fn log_progress(e: Event) {
    match e {
        Event::Stage {
            index,
            total,
            title,
        } => tracing::info!("stage {index}/{total}: {title}"),
        Event::Action { node, action, ok } => {
            if ok {
                tracing::info!("{node}: {}", action.describe());
            } else {
                tracing::warn!("{node}: FAILED {}", action.describe());
            }
        }
        Event::Skipped {
            node,
            action,
            because,
        } => tracing::warn!("{node}: skipped {} ({because} failed)", action.describe()),
        Event::Waiting {
            node,
            action,
            detail,
            wait,
        } => tracing::info!(
            "{node}: {}: {detail}; looking again in {:.1} s",
            action.describe(),
            wait.as_secs_f64()
        ),
    }
}
