//! Executing a plan: stage by stage, the actions of a stage in parallel across nodes (in order on
//! one node), one command at a time so a failure stops its action before the next command runs.
//! Every command goes to the journal; after each stage the touched nodes are observed again and
//! each action's effect is checked — again, at growing intervals, while the effect may still be
//! settling (a domain Xen has not reaped yet, a DRBD role change in flight), up to a limit per
//! kind of action.
//!
//! A failure stays with its object: an action that fails marks its object (and, for a domain,
//! the volumes it uses) failed, and later actions whose object is failed or uses a failed object
//! are skipped; everything else runs on through the later stages. Executing never re-plans; the
//! one caller, [`crate::reconcile::apply`], decides anything beyond the plan and reports it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alloc::Allocation;
use crate::model::{Desired, Name};
use crate::observe::{NodeState, PartKind};
use crate::plan::{Action, Plan, Stage};
use crate::transport::{Cmd, Output, Transport, TransportError};

/// Why an apply could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("another apply ({holder}) holds the lock {path}; wait for it to finish")]
    Locked { path: PathBuf, holder: String },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl ExecError {
    /// Worth retrying on the next reconcile rather than needing an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            ExecError::Locked { .. } => true,
            ExecError::Io { .. } => false,
        }
    }
}

/// How one action failed on its node (Ganeti's `RpcResult`: offline is not failed).
#[derive(Debug, thiserror::Error)]
pub enum NodeFailure {
    /// The node did not answer, or its answer broke off: the command may not have run.
    #[error("{0}")]
    Unreachable(TransportError),
    /// A command ran and failed.
    #[error("{detail}")]
    Command {
        argv: Vec<String>,
        status: Option<i32>,
        stderr: String,
        /// The failure in a sentence (a `timeout` that ran out says so).
        detail: String,
    },
    /// A check before writing refused: nothing was written.
    #[error("refused, nothing was written: {0}")]
    Refused(String),
    /// The commands succeeded but the effect was not seen on the node afterwards.
    #[error("{0}")]
    NotVerified(String),
}

impl NodeFailure {
    /// Worth retrying on a later reconcile (a node that did not answer, an effect that may show
    /// once things settle) rather than needing an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            NodeFailure::Unreachable(e) => e.is_transient(),
            NodeFailure::NotVerified(_) => true,
            NodeFailure::Command { .. } | NodeFailure::Refused(_) => false,
        }
    }
}

/// An action that failed (after its verification was given its patience).
#[derive(Debug)]
pub struct Failed {
    /// 1-based stage number.
    pub stage: usize,
    pub object: String,
    pub action: Action,
    pub failure: NodeFailure,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stage {}: {}: {}: {}",
            self.stage,
            self.action.node(),
            self.action.describe(),
            self.failure
        )
    }
}

/// An action not run because an object it depends on failed in this apply.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub stage: usize,
    pub object: String,
    pub action: Action,
    /// The failed object it waits on (itself, or one it uses).
    pub because: String,
}

/// What running stages did, action by action.
#[derive(Debug, Default)]
pub struct Run {
    /// Ran and verified.
    pub ran: Vec<Action>,
    pub failed: Vec<Failed>,
    pub skipped: Vec<Skipped>,
    /// A stop was asked for: `(stages run, total)`; the rest is left to the next reconcile.
    pub interrupted: Option<(usize, usize)>,
    /// Objects failed so far (their own failures, or those of what holds them).
    pub failed_objects: BTreeSet<String>,
}

/// Which object each action works for, and which objects each object uses: a domain uses its
/// volumes and bridges, a volume its nodes (their meta-data LV), a bridge the bonds it has as
/// ports. A failure skips what uses the failed object, directly or through others.
pub struct Deps<'a> {
    object: Box<dyn Fn(&Action) -> String + Sync + 'a>,
    uses: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Deps<'a> {
    /// The dependencies the desired state declares.
    pub fn of(d: &'a Desired, alloc: &'a Allocation) -> Deps<'a> {
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, dom) in &d.domains {
            let e = uses.entry(format!("Domain/{name}")).or_default();
            // An image disk depends on the volume under its OCFS2 filesystem.
            e.extend(dom.disks.iter().filter_map(|k| {
                match (&k.volume, &k.file) {
                    (Some(v), _) => Some(format!("Volume/{v}")),
                    (None, Some(p)) => d
                        .image_filesystem(p)
                        .map(|(_, f)| format!("Volume/{}", f.volume)),
                    (None, None) => None,
                }
            }));
            e.extend(dom.nics.iter().map(|n| format!("Bridge/{}", n.bridge)));
        }
        for (name, v) in &d.volumes {
            let e = uses.entry(format!("Volume/{name}")).or_default();
            e.extend(v.nodes.iter().map(|n| format!("Node/{n}")));
        }
        for (name, s) in &d.snapshots {
            let e = uses.entry(format!("Snapshot/{name}")).or_default();
            e.insert(format!("Volume/{}", s.volume));
            e.extend(s.attach.iter().map(|a| format!("Domain/{}", a.domain)));
        }
        for (name, b) in &d.bridges {
            let e = uses.entry(format!("Bridge/{name}")).or_default();
            e.extend(
                b.ports
                    .iter()
                    .filter(|p| d.bonds.keys().any(|bond| bond.as_str() == p.as_str()))
                    .map(|p| format!("Bond/{p}")),
            );
        }
        Deps {
            object: Box::new(move |a: &Action| a.object(d, alloc)),
            uses,
        }
    }

    /// Every node is one object: a failure skips what comes later on its node only.
    pub fn per_node() -> Deps<'static> {
        Deps {
            object: Box::new(|a: &Action| format!("Node/{}", a.node())),
            uses: BTreeMap::new(),
        }
    }

    pub fn object(&self, a: &Action) -> String {
        (self.object)(a)
    }

    /// The objects a failure of `a` marks failed: its own, and for a domain the volumes it uses
    /// (their later role steps — demote the migration source, back to one primary — are there
    /// for the domain's move and must not run while it is where it was).
    pub fn fails_with(&self, a: &Action) -> Vec<String> {
        let object = self.object(a);
        let mut out = vec![object.clone()];
        if object.starts_with("Domain/") {
            out.extend(
                self.uses
                    .get(&object)
                    .into_iter()
                    .flatten()
                    .filter(|o| o.starts_with("Volume/"))
                    .cloned(),
            );
        }
        out
    }

    /// The failed object `a` waits on, if any: its own object or one it uses, transitively.
    pub fn blocked_by(&self, a: &Action, failed: &BTreeSet<String>) -> Option<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.object(a)];
        while let Some(o) = todo.pop() {
            if failed.contains(&o) {
                return Some(o);
            }
            if seen.insert(o.clone()) {
                todo.extend(self.uses.get(&o).into_iter().flatten().cloned());
            }
        }
        None
    }
}

/// One apply at a time per state directory: an exclusive `flock` on `STATE_DIR/apply.lock`,
/// held for the Lock's life and released by the kernel when the process dies (so a crashed apply
/// leaves no stale lock, and a reused pid keeps none alive). The file holds the holder's pid for
/// the message only, and is never removed: removing races with the next opener.
pub struct Lock {
    _held: crate::fsutil::FileLock,
    dir: PathBuf,
}

impl Lock {
    pub fn acquire(state_dir: &Path) -> Result<Lock, ExecError> {
        std::fs::create_dir_all(state_dir).map_err(|error| ExecError::Io {
            path: state_dir.into(),
            error,
        })?;
        let path = state_dir.join("apply.lock");
        match crate::fsutil::FileLock::try_acquire(&path) {
            Ok(Some(mut held)) => {
                let _ = held.write_pid();
                Ok(Lock {
                    _held: held,
                    dir: state_dir.into(),
                })
            }
            Ok(None) => {
                let holder = crate::fsutil::holder(&path);
                Err(ExecError::Locked { path, holder })
            }
            Err(crate::fsutil::LockError::Io { path, error }) => Err(ExecError::Io { path, error }),
            Err(e @ crate::fsutil::LockError::TimedOut { .. }) => Err(ExecError::Io {
                path,
                error: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// The state directory this lock holds.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }
}

/// One journal line: a command and what it did.
#[derive(Clone, Debug, Serialize)]
pub struct Entry<'a> {
    /// When the command finished (UTC).
    pub at: String,
    pub stage: usize,
    pub node: &'a str,
    pub action: String,
    pub command: String,
    pub status: Option<i32>,
    pub stderr: String,
}

/// How one action of a node's share of a stage went.
enum Step {
    Ran,
    Failed(NodeFailure),
    /// Not run: the failed object it waits on.
    Skipped(String),
}

/// What each action of one node's share of a stage did.
type NodeOutcome<'p> = Vec<(&'p Action, Step)>;

/// What happened, for progress lines.
pub enum Event<'a> {
    Stage {
        index: usize,
        total: usize,
        title: &'a str,
    },
    Action {
        node: &'a Name,
        action: &'a Action,
        ok: bool,
    },
    /// Not run: `because` (an object) failed earlier in this apply.
    Skipped {
        node: &'a Name,
        action: &'a Action,
        because: &'a str,
    },
    /// An action's effect is not visible yet; the node is observed again after `wait`.
    Waiting {
        node: &'a Name,
        action: &'a Action,
        detail: &'a str,
        wait: Duration,
    },
}

/// Runs stages on nodes. Built only by [`crate::reconcile::apply`] (and the benchmark): every
/// caller applies a plan through that one function.
pub(crate) struct Executor<'a> {
    pub(crate) transport: &'a dyn Transport,
    /// Extra LVM words for this environment (see `Action::cmds`); empty in production.
    pub(crate) lvm_extra: Vec<String>,
    /// Appended JSON lines; None keeps no journal.
    pub(crate) journal: Option<PathBuf>,
    /// Observes a node again after a stage, to verify the actions: only the parts named (the
    /// rest may come back unknown).
    pub(crate) observe: &'a (dyn Fn(&Name, &BTreeSet<PartKind>) -> NodeState + Sync),
    /// Set from outside to stop after the stage that is running (graceful shutdown).
    pub(crate) stop: Option<&'a AtomicBool>,
    /// Asked before every stage: an error stops the run there (a deposed leader).
    pub(crate) guard: Option<&'a crate::reconcile::Guard>,
    /// How a failed verification is tried again; None verifies once.
    pub(crate) settle: Option<Settle>,
    /// What each action belongs to and what depends on it.
    pub(crate) deps: Deps<'a>,
}

/// Verification tried again while an effect may still be settling: after `step`, doubling up
/// to `max_step`, for as long as `patience` gives the action.
#[derive(Clone, Copy, Debug)]
pub struct Settle {
    pub step: Duration,
    pub max_step: Duration,
    pub patience: fn(&Action) -> Duration,
}

/// What real nodes need.
pub const SETTLE: Settle = Settle {
    step: Duration::from_millis(500),
    max_step: Duration::from_secs(5),
    patience,
};

/// How long an action's effect may take to become visible after its commands returned.
pub fn patience(a: &Action) -> Duration {
    Duration::from_secs(match a.part() {
        // Xen lists a domain that has shut down (flags `--ps--`) until it is reaped; a new
        // domain's configuration is readable only once libxl has stored it.
        Some(PartKind::Xen) => 60,
        // DRBD role and connection changes, an OCFS2 mount joining the DLM domain.
        Some(PartKind::Drbd | PartKind::Ocfs2) => 20,
        Some(_) | None => 10,
    })
}

impl<'a> Executor<'a> {
    /// Runs every stage of the plan, stopping between stages when asked.
    pub(crate) fn run(&self, plan: &Plan, progress: &mut dyn FnMut(Event)) -> Run {
        let mut run = Run::default();
        let total = plan.stages.len();
        for (i, stage) in plan.stages.iter().enumerate() {
            if self.stopping(i) {
                run.interrupted = Some((i, total));
                break;
            }
            self.run_stage(i + 1, total, stage, &mut run, false, progress);
        }
        run
    }

    /// Whether a stop was asked for before stage `i` (0-based; the first stage always runs),
    /// or the guard refuses stage `i` (the first included).
    pub(crate) fn stopping(&self, i: usize) -> bool {
        if let Some(Err(why)) = self.guard.map(|g| g()) {
            tracing::warn!(stage = i + 1, "stopping before this stage: {why}");
            return true;
        }
        i > 0 && self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Runs one stage: the nodes in parallel, then each touched node observed again and every
    /// action that ran verified. Actions whose object depends on a failed one are skipped —
    /// unless `compensating`: a step that undoes a failure runs for the very object that failed.
    pub(crate) fn run_stage(
        &self,
        index: usize,
        total: usize,
        stage: &Stage,
        run: &mut Run,
        compensating: bool,
        progress: &mut dyn FnMut(Event),
    ) {
        progress(Event::Stage {
            index,
            total,
            title: &stage.title,
        });
        let mut per_node: BTreeMap<&Name, Vec<&Action>> = BTreeMap::new();
        for a in &stage.actions {
            per_node.entry(a.node()).or_default().push(a);
        }
        let failed_before = if compensating {
            BTreeSet::new()
        } else {
            run.failed_objects.clone()
        };
        let results: Vec<(&Name, NodeOutcome)> = std::thread::scope(|scope| {
            let handles: Vec<_> = per_node
                .iter()
                .map(|(node, actions)| {
                    let (node, actions, failed) = (*node, actions.clone(), &failed_before);
                    scope.spawn(move || (node, self.run_node(index, node, &actions, failed)))
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut to_verify: BTreeMap<&Name, Vec<&Action>> = BTreeMap::new();
        for (node, outcomes) in results {
            for (action, step) in outcomes {
                match step {
                    Step::Ran => {
                        progress(Event::Action {
                            node,
                            action,
                            ok: true,
                        });
                        to_verify.entry(node).or_default().push(action);
                    }
                    Step::Failed(failure) => {
                        progress(Event::Action {
                            node,
                            action,
                            ok: false,
                        });
                        self.record_failure(run, index, action, failure);
                    }
                    Step::Skipped(because) => {
                        progress(Event::Skipped {
                            node,
                            action,
                            because: &because,
                        });
                        run.skipped.push(Skipped {
                            stage: index,
                            object: self.deps.object(action),
                            action: action.clone(),
                            because,
                        });
                    }
                }
            }
        }
        for (node, actions) in &to_verify {
            for (a, r) in self.verify_node(node, actions, progress) {
                match r {
                    Ok(()) => run.ran.push(a.clone()),
                    Err(detail) => {
                        self.record_failure(run, index, a, NodeFailure::NotVerified(detail))
                    }
                }
            }
        }
    }

    fn record_failure(&self, run: &mut Run, stage: usize, a: &Action, failure: NodeFailure) {
        run.failed_objects.extend(self.deps.fails_with(a));
        run.failed.push(Failed {
            stage,
            object: self.deps.object(a),
            action: a.clone(),
            failure,
        });
    }

    /// Checks every action's effect on a fresh observation of `node`, observing again while an
    /// effect is still within its [`patience`]; one result per action.
    fn verify_node<'p>(
        &self,
        node: &Name,
        actions: &[&'p Action],
        progress: &mut dyn FnMut(Event),
    ) -> Vec<(&'p Action, Result<(), String>)> {
        let parts: BTreeSet<PartKind> = actions.iter().filter_map(|a| a.part()).collect();
        if parts.is_empty() {
            return actions.iter().map(|a| (*a, Ok(()))).collect();
        }
        let started = Instant::now();
        let mut wait = self.settle.map_or(Duration::ZERO, |s| s.step);
        tracing::debug!(%node, ?parts, "verifying");
        let mut state = (self.observe)(node, &parts);
        let mut out = Vec::new();
        for a in actions {
            let r = loop {
                let Err(detail) = a.verify(&state) else {
                    break Ok(());
                };
                let Some(s) = self.settle else {
                    break Err(detail);
                };
                if started.elapsed() + wait > (s.patience)(a) {
                    let waited = started.elapsed().as_secs_f64();
                    break Err(format!("{detail} (still so after {waited:.1} s)"));
                }
                progress(Event::Waiting {
                    node,
                    action: a,
                    detail: &detail,
                    wait,
                });
                std::thread::sleep(wait);
                wait = (wait * 2).min(s.max_step);
                tracing::debug!(%node, %detail, "verifying again");
                state = (self.observe)(node, &parts);
            };
            out.push((*a, r));
        }
        out
    }

    /// Runs a node's share of a stage in order; after a failure the node's later actions still
    /// run unless they depend on what failed.
    fn run_node<'p>(
        &self,
        stage: usize,
        node: &Name,
        actions: &[&'p Action],
        failed_before: &BTreeSet<String>,
    ) -> NodeOutcome<'p> {
        let mut failed = failed_before.clone();
        let mut out = Vec::new();
        for a in actions {
            if let Some(because) = self.deps.blocked_by(a, &failed) {
                out.push((*a, Step::Skipped(because)));
                continue;
            }
            match self.run_action(stage, node, a) {
                Ok(()) => out.push((*a, Step::Ran)),
                Err(f) => {
                    failed.extend(self.deps.fails_with(a));
                    out.push((*a, Step::Failed(f)));
                }
            }
        }
        out
    }

    fn run_action(&self, stage: usize, node: &Name, a: &Action) -> Result<(), NodeFailure> {
        // The reads that prove a device blank come first, at the moment of writing.
        for check in a.checks() {
            let out = self.run_one(stage, node, a, &check.cmd())?;
            if let Err(reason) = check.judge(&out) {
                return Err(NodeFailure::Refused(reason));
            }
        }
        for cmd in a.cmds(&self.lvm_extra) {
            let out = self.run_one(stage, node, a, &cmd)?;
            if !out.success() {
                return Err(NodeFailure::Command {
                    detail: describe(&cmd, &out),
                    argv: cmd.argv,
                    status: out.status,
                    stderr: out.stderr,
                });
            }
        }
        Ok(())
    }

    /// Runs one command of `a` on `node` and journals it; Err when the node did not answer.
    fn run_one(
        &self,
        stage: usize,
        node: &Name,
        a: &Action,
        cmd: &Cmd,
    ) -> Result<Output, NodeFailure> {
        let outs = self
            .transport
            .run_batch(node.as_str(), std::slice::from_ref(cmd));
        let out = match outs {
            Ok(mut v) if !v.is_empty() => v.remove(0),
            Ok(_) => {
                let e = TransportError::Interrupted {
                    node: node.to_string(),
                    completed: 0,
                    total: 1,
                    reason: "the transport returned no output".into(),
                };
                self.log(stage, node, a, cmd, None, &e.to_string());
                return Err(NodeFailure::Unreachable(e));
            }
            Err(e) => {
                self.log(stage, node, a, cmd, None, &e.to_string());
                return Err(NodeFailure::Unreachable(e));
            }
        };
        self.log(stage, node, a, cmd, out.status, &out.stderr);
        Ok(out)
    }

    fn log(
        &self,
        stage: usize,
        node: &Name,
        a: &Action,
        cmd: &Cmd,
        status: Option<i32>,
        stderr: &str,
    ) {
        let Some(path) = &self.journal else { return };
        let e = Entry {
            at: crate::clock::now(),
            stage,
            node: node.as_str(),
            action: a.describe(),
            command: cmd.display(),
            status,
            stderr: stderr.trim_end().to_string(),
        };
        if let Ok(line) = serde_json::to_string(&e) {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

/// What a failed command did, in a sentence; a command bounded by coreutils `timeout` that ran
/// out of time (exit 124) says so.
fn describe(cmd: &Cmd, o: &Output) -> String {
    match cmd.argv.as_slice() {
        [t, secs, inner @ ..] if t == "timeout" && o.status == Some(124) => {
            format!("`{}` did not finish within {secs} s", inner.join(" "))
        }
        _ => o.describe(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::observe::{interpret, Part, Probe, XenDomain, XenState};
    use crate::plan::Stage;
    use crate::transport::TransportError;

    /// Every command succeeds at once.
    struct Obliging;

    impl Transport for Obliging {
        fn run_batch(&self, _: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
            Ok(batch
                .iter()
                .map(|c| Output {
                    argv: c.argv.clone(),
                    status: Some(0),
                    stdout: String::new(),
                    stderr: String::new(),
                })
                .collect())
        }
    }

    /// A node whose Xen lists `domains` as `(name, stopping)`; everything else unobserved.
    fn node_with(domains: &[(&str, bool)]) -> NodeState {
        let mut s = interpret(&Probe::default(), &[]);
        s.xen = Part::Known(XenState {
            domains: domains
                .iter()
                .map(|(name, stopping)| {
                    let d = XenDomain {
                        domid: Some(7),
                        memory_mib: Some(128),
                        max_memory_mib: Some(128),
                        vcpus: Some(1),
                        max_vcpus: Some(1),
                        disks: Vec::new(),
                        nics: Vec::new(),
                        stopping: *stopping,
                    };
                    (name.to_string(), d)
                })
                .collect(),
            ..Default::default()
        });
        s
    }

    fn plan_of(a: Action) -> Plan {
        Plan {
            cluster: "lab".into(),
            target: None,
            observed: String::new(),
            allocation: Default::default(),
            stages: vec![Stage {
                title: "domains".into(),
                actions: vec![a],
            }],
            files: Vec::new(),
            blocked: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Millisecond steps; a patient one gives every action 200 ms, an impatient one none.
    fn quick(patient: bool) -> Settle {
        Settle {
            step: Duration::from_millis(1),
            max_step: Duration::from_millis(4),
            patience: if patient {
                |_| Duration::from_millis(200)
            } else {
                |_| Duration::ZERO
            },
        }
    }

    /// Runs `a` with the node observed as `seen(n)` on the n-th observation; returns the result
    /// and how many observations were made.
    fn run(
        a: Action,
        settle: Option<Settle>,
        seen: impl Fn(usize) -> NodeState + Sync,
    ) -> (Result<usize, String>, usize) {
        let count = AtomicUsize::new(0);
        let observe = |_: &Name, _: &BTreeSet<PartKind>| seen(count.fetch_add(1, Ordering::SeqCst));
        let exec = Executor {
            transport: &Obliging,
            lvm_extra: Vec::new(),
            journal: None,
            observe: &observe,
            stop: None,
            guard: None,
            settle,
            deps: Deps::per_node(),
        };
        let r = exec.run(&plan_of(a), &mut |_| {});
        let r = match r.failed.first() {
            None => Ok(r.ran.len()),
            Some(f) => Err(f.to_string()),
        };
        (r, count.load(Ordering::SeqCst))
    }

    fn create() -> Action {
        Action::XlCreate {
            node: "nodea".parse().unwrap(),
            domain: "dns".into(),
        }
    }

    #[test]
    fn a_domain_that_shows_up_late_is_waited_for() {
        let (r, looks) = run(create(), Some(quick(true)), |n| match n {
            0 | 1 => node_with(&[]),
            _ => node_with(&[("dns", false)]),
        });
        assert_eq!(r.unwrap(), 1);
        assert_eq!(looks, 3);
    }

    #[test]
    fn without_settling_the_first_observation_decides() {
        let (r, looks) = run(create(), None, |n| match n {
            0 => node_with(&[]),
            _ => node_with(&[("dns", false)]),
        });
        assert_eq!(looks, 1);
        let e = r.unwrap_err();
        assert!(e.contains("domain dns is not running"), "{e}");
    }

    #[test]
    fn an_effect_that_never_shows_fails_once_patience_is_spent() {
        let (r, looks) = run(create(), Some(quick(true)), |_| node_with(&[]));
        let e = r.unwrap_err();
        assert!(
            e.contains("domain dns is not running (still so after"),
            "{e}"
        );
        assert!(looks > 3, "observed again while patient: {looks}");
        let (r, looks) = run(create(), Some(quick(false)), |_| node_with(&[]));
        assert!(r.is_err());
        assert_eq!(looks, 1, "no patience, no second look");
    }

    #[test]
    fn a_domain_xen_has_not_reaped_has_stopped_but_does_not_run() {
        let shutdown = Action::XlShutdown {
            node: "nodea".parse().unwrap(),
            domain: "dns".into(),
        };
        let (r, _) = run(shutdown, None, |_| node_with(&[("dns", true)]));
        assert_eq!(r.unwrap(), 1);
        let (r, _) = run(create(), None, |_| node_with(&[("dns", true)]));
        assert!(r.is_err(), "a shut-down domain is not a started one");
    }

    #[test]
    fn an_unobserved_part_is_named_not_taken_for_absence() {
        let (r, _) = run(create(), None, |_| interpret(&Probe::default(), &[]));
        let e = r.unwrap_err();
        assert!(
            e.contains("Xen could not be observed: no output for xl"),
            "{e}"
        );
    }

    /// A guard that refuses (a controller deposed as leader) stops the run before the stage it
    /// refuses, the first included; one that refuses later lets the stages before it run.
    #[test]
    fn a_refusing_guard_stops_before_its_stage() {
        let observe = |_: &Name, _: &BTreeSet<PartKind>| node_with(&[("dns", false)]);
        let mut plan = plan_of(create());
        plan.stages.push(Stage {
            title: "o2cb".into(),
            actions: vec![Action::O2cbStart {
                node: "nodea".parse().unwrap(),
            }],
        });
        for (allowed, ran) in [(0, 0), (1, 1), (2, 2)] {
            let asked = std::sync::Arc::new(AtomicUsize::new(0));
            let guard = move || match asked.fetch_add(1, Ordering::SeqCst) < allowed {
                true => Ok(()),
                false => Err("deposed".to_string()),
            };
            let exec = Executor {
                transport: &Obliging,
                lvm_extra: Vec::new(),
                journal: None,
                observe: &observe,
                stop: None,
                guard: Some(&guard),
                settle: None,
                deps: Deps::per_node(),
            };
            let r = exec.run(&plan, &mut |_| {});
            assert_eq!(r.ran.len(), ran, "guard allowing {allowed} stage(s)");
            let stopped = (ran < 2).then_some((ran, 2));
            assert_eq!(r.interrupted, stopped);
        }
    }

    #[test]
    fn verification_asks_only_about_what_the_stage_changed() {
        let asked = std::sync::Mutex::new(Vec::new());
        let observe = |_: &Name, parts: &BTreeSet<PartKind>| {
            asked.lock().unwrap().push(parts.clone());
            node_with(&[("dns", false)])
        };
        let exec = Executor {
            transport: &Obliging,
            lvm_extra: Vec::new(),
            journal: None,
            observe: &observe,
            stop: None,
            guard: None,
            settle: None,
            deps: Deps::per_node(),
        };
        let mut plan = plan_of(create());
        plan.stages.push(Stage {
            title: "o2cb".into(),
            actions: vec![Action::O2cbStart {
                node: "nodea".parse().unwrap(),
            }],
        });
        assert_eq!(exec.run(&plan, &mut |_| {}).ran.len(), 2);
        // The O2CB stage changes nothing verification reads: no observation at all.
        assert_eq!(
            *asked.lock().unwrap(),
            vec![BTreeSet::from([PartKind::Xen])]
        );
    }

    #[test]
    fn a_command_that_timed_out_says_so() {
        let cmd = Cmd::new(crate::drivers::xl::shutdown_wait("dns"));
        let out = Output {
            argv: cmd.argv.clone(),
            status: Some(124),
            stdout: String::new(),
            stderr: "Shutting down domain 3\nWaiting for 1 domains\n".into(),
        };
        assert_eq!(
            describe(&cmd, &out),
            "`xl shutdown -w dns` did not finish within 180 s"
        );
    }
}
