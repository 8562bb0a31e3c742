//! One reconcile pass as the controller runs it: fetch the commit, read the desired state from its
//! tree, observe, plan, and apply (enforce mode) or only report (detect mode), then observe again
//! to tell what drift remains. Level-triggered: it never learns why it runs. Blocking; the
//! controller runs it off the async runtime, one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::exec::{Event, ExecError, Executor, Lock};
use crate::model::{Desired, ReconcileMode};
use crate::reconcile::{plan_for, snapshot, ReconcileError};
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
    /// The object a failure is attributed to (for its backoff).
    pub failed_object: Option<String>,
    /// Applying made progress and a plan made afresh still has actions (a step that waits for
    /// the one before it, such as promoting once a resource is up): reconcile again soon.
    pub more: bool,
    pub objects: BTreeMap<String, ObjectState>,
    pub seconds: f64,
}

/// Inputs of a pass.
pub struct Pass<'a> {
    pub repo: &'a Repo,
    pub state_dir: &'a Path,
    pub connector: &'a dyn Connector,
    /// Set to stop after the running stage.
    pub stop: &'a AtomicBool,
}

/// The marker of an apply in progress: present after a forced stop.
pub fn inflight_path(state_dir: &Path) -> PathBuf {
    state_dir.join("controller").join("inflight.json")
}

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
            failed_object: None,
            more: false,
            objects: BTreeMap::new(),
            seconds: 0.0,
        };
        self.run_into(&mut out);
        out.seconds = started.elapsed().as_secs_f64();
        out
    }

    fn run_into(&self, out: &mut Outcome) {
        let fail = |out: &mut Outcome, object: &str, e: String| {
            out.result = PassResult::Failed;
            out.error = Some(e);
            out.failed_object = Some(object.to_string());
        };
        let fetched = match self.repo.fetch() {
            Ok(f) => f,
            Err(e) => return fail(out, "Repository", e.to_string()),
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
        out.cluster = Some(d.cluster_name.clone());
        out.mode = Some(d.cluster.reconcile.mode);
        out.interval = Some(std::time::Duration::from_secs(
            d.cluster.reconcile.interval.seconds,
        ));
        let cluster_object = format!("Cluster/{}", d.cluster_name);
        let conn = match self.connector.connect(d) {
            Ok(c) => c,
            Err(e) => return fail(out, &cluster_object, e),
        };
        let result = self.converge(&fetched.sources, conn.as_ref(), out);
        if let Err(e) = conn.finish() {
            tracing::error!("{e}");
            if out.error.is_none() {
                fail(out, &cluster_object, e);
            }
        }
        if let Err((object, e)) = result {
            fail(out, &object, e);
        }
    }

    fn converge(
        &self,
        sources: &[crate::load::Source],
        conn: &dyn Connection,
        out: &mut Outcome,
    ) -> Result<(), (String, String)> {
        let t = conn.transport();
        let as_failure = |e: ReconcileError| match e {
            ReconcileError::Invalid(diags) => (
                "Cluster".to_string(),
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            ReconcileError::Plan(e) => ("Cluster".to_string(), e.to_string()),
        };
        let snap = snapshot(sources, t).map_err(as_failure)?;
        let plan = plan_for(&snap, false).map_err(as_failure)?;
        let d = &snap.validated.desired;
        out.objects = status::objects(d, &plan);
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
        let _lock = Lock::acquire(self.state_dir)
            .map_err(|e| (format!("Cluster/{}", d.cluster_name), e.to_string()))?;
        let marker = inflight_path(self.state_dir);
        let note = serde_json::json!({
            "commit": out.commit,
            "started": crate::clock::now(),
            "actions": plan.action_count(),
            "stages": plan.stages.len(),
        });
        if let Some(dir) = marker.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::fsutil::write_atomic(&marker, note.to_string());
        let v = &snap.validated;
        let observe = crate::reconcile::observer(v, t);
        let exec = Executor {
            stop: Some(self.stop),
            ..Executor::new(t, &observe, self.state_dir.join("journal.jsonl"))
        };
        let mut progress = |e: Event| match e {
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
        };
        let ran = exec.run(&plan, &mut progress);
        let _ = std::fs::remove_file(&marker);
        match ran {
            Ok(n) => out.applied = n,
            Err(e) => {
                out.applied = done_of(&e);
                let object = match &e {
                    ExecError::Failed { failed, .. } | ExecError::NotVerified { failed, .. } => {
                        failed.object(d, &plan.allocation)
                    }
                    ExecError::Locked { .. }
                    | ExecError::Io { .. }
                    | ExecError::Interrupted { .. } => format!("Cluster/{}", d.cluster_name),
                };
                if let Some(o) = out.objects.get_mut(&object) {
                    o.state = "failing".into();
                    o.detail = Some(e.to_string());
                }
                return Err((object, e.to_string()));
            }
        }
        // What is left after applying, seen afresh: normally nothing.
        let after = snapshot(sources, t).map_err(as_failure)?;
        let left = plan_for(&after, false).map_err(as_failure)?;
        out.objects = status::objects(&after.validated.desired, &left);
        out.more = !left.is_empty();
        out.result = if left.is_empty() && left.blocked.is_empty() {
            PassResult::Applied
        } else {
            PassResult::Drift
        };
        Ok(())
    }
}

fn done_of(e: &ExecError) -> usize {
    match e {
        ExecError::Failed { done, .. }
        | ExecError::NotVerified { done, .. }
        | ExecError::Interrupted { done, .. } => *done,
        ExecError::Locked { .. } | ExecError::Io { .. } => 0,
    }
}
