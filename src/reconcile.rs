//! One reconcile pass, as the CLI, the controller and failover run it: validate the desired
//! state, observe every node (in parallel, one batch each), allocate with what the cluster
//! already uses, and plan ([`snapshot`], [`plan_for`]); then, under the apply lock, [`approve`]
//! the plan (proving a saved one) and [`apply`] it — the one apply path — which returns what
//! ran, failed and was skipped, and a [`Decision`] for the caller to print, schedule or record.
//! The observing depends on the allocation (which devices to look at) and the allocation on the
//! observation (sticky values), so a second observation follows when the first one looked at the
//! wrong devices.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::diag::Diagnostic;
use crate::exec::{Deps, Event, Executor, Failed, Lock, Run, Settle, Skipped, SETTLE};
use crate::load::Source;
use crate::model::{Desired, Name};
use crate::observe::{observe_node, NodeState, Observed, PartKind, Probe};
use crate::plan::{plan, plan_rendered, Action, Plan, PlanError, Policy};
use crate::render::Rendered;
use crate::transport::Transport;
use crate::validate::{validate, Validated};

/// The desired state with its allocation, and the observation it was made against.
pub struct Snapshot {
    pub validated: Validated,
    pub observed: Observed,
    /// What `STATE_DIR/ha/` says about node loss ([`with_ha`]); empty from [`snapshot`].
    pub ha: crate::ha::Facts,
    /// The config files rendered from `validated` (its desired state and allocation): made
    /// once to know which files to read, and kept for the planner. None when the snapshot was
    /// put together otherwise (the planner renders them); whoever changes `validated` sets it
    /// to None.
    pub rendered: Option<Rendered>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the desired state is invalid ({} problem(s))", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Ha(#[from] crate::ha::RecordError),
}

/// The probe for one node: its files, bonds and devices under this allocation.
pub fn probe(v: &Validated, node: &Name) -> Probe {
    let files = crate::render::render_node(&v.desired, &v.allocation, node).into_keys();
    Probe::for_node(&v.desired, files, &minors(v), node)
}

/// The probe of every node of the desired state, rendering the cluster's files once.
pub fn probes(v: &Validated) -> BTreeMap<Name, Probe> {
    probes_of(v, &crate::render::render(&v.desired, &v.allocation))
}

/// The probe of every node of the desired state, whose files are `rendered`.
fn probes_of(v: &Validated, rendered: &Rendered) -> BTreeMap<Name, Probe> {
    Probe::for_nodes(&v.desired, &rendered.nodes, &minors(v))
}

fn minors(v: &Validated) -> BTreeMap<Name, u32> {
    v.allocation
        .volumes
        .iter()
        .map(|(n, a)| (n.clone(), a.minor.value))
        .collect()
}

/// What the executor observes after a stage: `probe`, asking only about the parts it names.
/// The probes are made once, not after every stage.
pub fn observer<'a>(
    v: &'a Validated,
    t: &'a dyn Transport,
) -> impl Fn(&Name, &BTreeSet<PartKind>) -> NodeState + Sync + 'a {
    let probes = probes(v);
    move |node, parts| {
        let probe = match probes.get(node) {
            Some(p) => p.clone(),
            None => probe(v, node),
        };
        observe_node(t, node.as_str(), &probe.only(parts))
    }
}

/// Observes every node of the desired state, all in parallel.
pub fn observe_cluster(v: &Validated, t: &dyn Transport) -> Observed {
    observe_probes(&probes(v), t)
}

/// Observes every node of `probes`, in parallel.
fn observe_probes(probes: &BTreeMap<Name, Probe>, t: &dyn Transport) -> Observed {
    let probes: Vec<(&Name, &Probe)> = probes.iter().collect();
    Observed {
        nodes: observe_all(&probes, t),
    }
}

/// How many nodes are observed at once: each is one batch (one SSH session, one simulator
/// call), and a large estate must not open hundreds of SSH connections together.
pub const OBSERVE_AT_ONCE: usize = 32;

/// Observes each node with its probe, up to [`OBSERVE_AT_ONCE`] at a time (fewer when the
/// transport says so, [`Transport::batches_at_once`]); a node whose
/// observation panicked is left out (the planner then refuses: not observed).
pub fn observe_all(probes: &[(&Name, &Probe)], t: &dyn Transport) -> BTreeMap<Name, NodeState> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        let at_once = OBSERVE_AT_ONCE.min(t.batches_at_once()).max(1);
        for _ in 0..probes.len().min(at_once) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((n, p)) = probes.get(i) else {
                    break;
                };
                let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    observe_node(t, n.as_str(), p)
                }));
                if let (Ok(state), Ok(mut done)) = (seen, done.lock()) {
                    done.insert((*n).clone(), state);
                }
            });
        }
    });
    done.into_inner().unwrap_or_default()
}

/// Adds what an LV that waits for `create-md` holds (its signatures and its meta-data location,
/// [`crate::plan::blank_reads`]) to the observation of each node that has one, so the planner
/// can prove it blank or say what is there. Nodes without such an LV are not asked again.
fn with_blank_reads(v: &Validated, t: &dyn Transport, mut observed: Observed) -> Observed {
    let by_node = v.desired.volumes_by_node();
    let probes: Vec<(Name, Probe)> = observed
        .nodes
        .iter()
        .filter_map(|(n, s)| {
            let on_node = by_node.get(n).into_iter().flatten().map(|(name, _)| *name);
            let (devices, meta) =
                crate::plan::blank_reads_of(&v.desired, &v.allocation, n, s, on_node);
            if devices.is_empty() && meta.is_empty() {
                return None;
            }
            let probe = Probe {
                host: n.to_string(),
                drbd_version: v.desired.cluster.drbd.version,
                devices,
                meta,
                ..Probe::default()
            }
            .only(&[PartKind::Filesystems, PartKind::MetaData].into());
            Some((n.clone(), probe))
        })
        .collect();
    let probes: Vec<(&Name, &Probe)> = probes.iter().map(|(n, p)| (n, p)).collect();
    for (n, read) in observe_all(&probes, t) {
        if let Some(s) = observed.nodes.get_mut(&n) {
            s.filesystems.extend(read.filesystems);
            s.metadata.extend(read.metadata);
        }
    }
    observed
}

/// Validates, observes and allocates (sticky: what the cluster uses is kept).
pub fn snapshot(sources: &[Source], t: &dyn Transport) -> Result<Snapshot, ReconcileError> {
    let first = validate(sources, &Default::default()).map_err(ReconcileError::Invalid)?;
    snapshot_of(first, t)
}

/// [`snapshot`] of a desired state already validated with nothing observed.
pub fn snapshot_of(first: Validated, t: &dyn Transport) -> Result<Snapshot, ReconcileError> {
    let mut rendered = crate::render::render(&first.desired, &first.allocation);
    let first_probes = probes_of(&first, &rendered);
    let observed = observe_probes(&first_probes, t);
    let first_allocation = first.allocation.clone();
    let v = crate::validate::reallocate(first, &observed.existing())
        .map_err(ReconcileError::Invalid)?;
    // The files and probes follow from the desired state (unchanged) and the allocation.
    let mut same_probes = true;
    if v.allocation != first_allocation {
        rendered = crate::render::render(&v.desired, &v.allocation);
        same_probes = probes_of(&v, &rendered) == first_probes;
    }
    let observed = if same_probes {
        observed
    } else {
        observe_probes(&probes_of(&v, &rendered), t)
    };
    let observed = with_blank_reads(&v, t, observed);
    Ok(Snapshot {
        validated: v,
        observed,
        ha: crate::ha::Facts::default(),
        rendered: Some(rendered),
    })
}

/// The snapshot with the fence records and placements kept in `state_dir` (a corrupt record is
/// an error: whether a node is off is never guessed).
pub fn with_ha(mut s: Snapshot, state_dir: &Path) -> Result<Snapshot, ReconcileError> {
    s.ha = crate::ha::Facts::load(state_dir, &s.validated.desired)?;
    Ok(s)
}

/// The plan for a snapshot under a policy (prune from the flag or the Cluster document; fenced
/// nodes and placements from the snapshot's HA facts).
pub fn plan_for(s: &Snapshot, prune_flag: bool) -> Result<Plan, ReconcileError> {
    plan_with(s, &s.ha, prune_flag)
}

fn plan_with(
    s: &Snapshot,
    ha: &crate::ha::Facts,
    prune_flag: bool,
) -> Result<Plan, ReconcileError> {
    let d = &s.validated.desired;
    let policy: Policy = ha.policy(d, prune_flag || d.cluster.prune);
    let a = &s.validated.allocation;
    Ok(match &s.rendered {
        Some(rendered) => plan_rendered(d, a, rendered, &s.observed, &policy)?,
        None => plan(d, a, &s.observed, &policy)?,
    })
}

/// The desired state's node names, for transports that need to know them up front.
pub fn node_names(d: &Desired) -> Vec<String> {
    d.nodes.keys().map(|n| n.to_string()).collect()
}

/// A plan cleared to run: made under the apply lock from the snapshot it will run against,
/// and, for a saved plan, proved to be the plan xenflux makes now. Only [`approve`] makes one.
pub struct Approved<'a> {
    lock: &'a Lock,
    snap: &'a Snapshot,
    plan: Plan,
    failed_back: Vec<(Name, crate::ha::Placement)>,
    placed: Vec<(Name, crate::ha::Placement)>,
}

impl Approved<'_> {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Failed-over domains found back home while approving (their placements forgotten).
    pub fn failed_back(&self) -> &[(Name, crate::ha::Placement)] {
        &self.failed_back
    }

    /// Domains the plan starts on a survivor of a fenced node ([`crate::ha::place`]).
    pub fn placed(&self) -> &[(Name, crate::ha::Placement)] {
        &self.placed
    }
}

/// What is to be applied.
pub enum Intent<'a> {
    /// The plan made now.
    Fresh,
    /// A plan saved earlier (`plan --out`); `path` names it in messages.
    Saved { path: &'a str, plan: &'a Plan },
}

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Saved(#[from] crate::plan::saved::SavedPlanError),
}

/// Plans against `snap` under the lock and, for a saved plan, proves it is that plan (same
/// observation, same actions; made with `--prune` only if prune is on now). The HA facts are
/// read again under the lock (whatever the snapshot carries), and the fence record of a node
/// that is back and resynced is cleared first ([`crate::ha::settle`]).
pub fn approve<'a>(
    lock: &'a Lock,
    snap: &'a Snapshot,
    prune: bool,
    intent: Intent,
) -> Result<Approved<'a>, ApproveError> {
    let settled = crate::ha::settle(lock.state_dir(), &snap.validated.desired, &snap.observed)
        .map_err(ReconcileError::from)?;
    let ha = &settled.facts;
    let now = plan_with(snap, ha, prune)?;
    if let Intent::Saved { path, plan: saved } = intent {
        let with_prune = match prune {
            true => None,
            false => Some(plan_with(snap, ha, true)?),
        };
        crate::plan::saved::prove(path, saved, &now, with_prune.as_ref())?;
    }
    let placed = crate::ha::place(lock.state_dir(), &snap.validated.desired, ha, &now)
        .map_err(ReconcileError::from)?;
    Ok(Approved {
        lock,
        snap,
        plan: now,
        failed_back: settled.failed_back,
        placed,
    })
}

/// A check made before each stage of an apply (see [`ApplyCtx::guard`]).
pub type Guard = dyn Fn() -> Result<(), String> + Sync;

/// How an apply reaches the cluster.
pub struct ApplyCtx<'a> {
    /// The desired state, for the observation after applying.
    pub sources: &'a [Source],
    pub transport: &'a dyn Transport,
    /// Set from outside to stop after the running stage.
    pub stop: Option<&'a AtomicBool>,
    /// Asked before every stage, the first included: an error (a controller deposed as leader)
    /// stops the apply there, saying why.
    pub guard: Option<&'a Guard>,
    /// How verification waits for effects to settle; None looks once (the simulator needs no
    /// patience).
    pub settle: Option<Settle>,
    /// Keep the journal in `STATE_DIR/journal.jsonl`.
    pub journal: bool,
    /// The commit applied, for the in-flight marker.
    pub commit: Option<&'a str>,
}

impl<'a> ApplyCtx<'a> {
    /// Real (or simulated) nodes: journal kept, verification as patient as real nodes need.
    pub fn new(sources: &'a [Source], transport: &'a dyn Transport) -> ApplyCtx<'a> {
        ApplyCtx {
            sources,
            transport,
            stop: None,
            guard: None,
            settle: Some(SETTLE),
            journal: true,
            commit: None,
        }
    }
}

/// What should happen next, for the caller to print, schedule or record (kube-runtime's
/// `Action`): the reconciler decides, the runtime schedules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Everything planned ran and was verified; nothing is left but what is blocked.
    Done,
    /// Progress was made and a plan made afresh has more (a step waits on the one before it,
    /// or a stop was asked for): run again soon, after the runtime's short delay.
    Requeue,
    /// Something failed: try again, with a backoff kept for each object in `objects` (every
    /// object an action failed for). Each maps to `true` when every failure of it may pass by
    /// itself (a node that did not answer, an effect that did not show yet).
    Retry { objects: BTreeMap<String, bool> },
}

/// The observation after applying and the plan it gives: normally empty.
pub struct After {
    pub snapshot: Snapshot,
    pub plan: Plan,
}

/// A failed live migration undone in the same apply.
#[derive(Debug)]
pub struct RolledBack {
    pub domain: String,
    /// Where the domain runs, and keeps its one Primary.
    pub kept_on: Option<Name>,
    /// The compensating actions that ran and were verified.
    pub ran: Vec<Action>,
    /// Why nothing (or not everything) could be undone.
    pub problem: Option<String>,
}

/// What an apply did, action by action, and what comes next.
pub struct Applied {
    /// The plan that was applied.
    pub plan: Plan,
    /// Ran and verified.
    pub ran: Vec<Action>,
    /// Failed (after verification was given its patience), rollback steps included.
    pub failed: Vec<Failed>,
    /// Not run because an object they depend on failed.
    pub skipped: Vec<Skipped>,
    pub rolled_back: Vec<RolledBack>,
    /// A stop was asked for: `(stages run, total)`.
    pub interrupted: Option<(usize, usize)>,
    /// The cluster observed again after applying.
    pub after: Result<After, ReconcileError>,
    pub decision: Decision,
}

impl Applied {
    /// Everything planned ran and was verified.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.interrupted.is_none()
    }
}

/// The marker of an apply in progress (`STATE_DIR/controller/inflight.json`): present after a
/// forced stop, so the controller's next start reports the unfinished run.
pub fn inflight_path(state_dir: &Path) -> PathBuf {
    state_dir.join("controller").join("inflight.json")
}

/// The one way a plan is applied, whoever asks (CLI, controller, failover): under the lock the
/// plan was approved with, with the in-flight marker set, stage by stage through the executor
/// (a failure stays with its object; a failed live migration is rolled back in the same apply),
/// then the cluster observed again to decide what comes next.
pub fn apply(approved: Approved, ctx: &ApplyCtx, progress: &mut dyn FnMut(Event)) -> Applied {
    let Approved {
        lock, snap, plan, ..
    } = approved;
    let state_dir = lock.state_dir();
    let marker = mark_inflight(state_dir, ctx, &plan);
    let v = &snap.validated;
    let observe = observer(v, ctx.transport);
    let (run, rolled_back) = {
        let exec = Executor {
            transport: ctx.transport,
            lvm_extra: Vec::new(),
            journal: ctx.journal.then(|| state_dir.join("journal.jsonl")),
            observe: &observe,
            stop: ctx.stop,
            guard: ctx.guard,
            settle: ctx.settle,
            deps: Deps::of(&v.desired, &plan.allocation),
        };
        run_stages(&exec, &plan, &v.desired, progress)
    };
    let _ = std::fs::remove_file(&marker);
    tracing::debug!("observing the cluster after applying");
    let after = snapshot(ctx.sources, ctx.transport)
        .and_then(|s| with_ha(s, state_dir))
        .and_then(|mut s| {
            // Protection started or lost by this apply is recorded now, under the lock.
            let fenced = s.ha.fenced.keys().cloned().collect();
            s.ha.unprotected = crate::ha::unprotected::update(
                state_dir,
                &s.validated.desired,
                &s.observed,
                &fenced,
                &crate::clock::now(),
            )?;
            Ok(s)
        })
        .and_then(|snapshot| {
            let plan = plan_for(&snapshot, false)?;
            Ok(After { snapshot, plan })
        });
    let decision = decide(&run, &after, &v.desired);
    Applied {
        plan,
        ran: run.ran,
        failed: run.failed,
        skipped: run.skipped,
        rolled_back,
        interrupted: run.interrupted,
        after,
        decision,
    }
}

/// Writes the in-flight marker (best effort); returns its path.
fn mark_inflight(state_dir: &Path, ctx: &ApplyCtx, plan: &Plan) -> PathBuf {
    let marker = inflight_path(state_dir);
    let note = serde_json::json!({
        "commit": ctx.commit,
        "started": crate::clock::now(),
        "actions": plan.action_count(),
        "stages": plan.stages.len(),
    });
    if let Some(dir) = marker.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::fsutil::write_atomic(&marker, note.to_string());
    marker
}

/// Runs the plan's stages; after a stage in which a live migration failed, its rollback.
fn run_stages(
    exec: &Executor,
    plan: &Plan,
    d: &Desired,
    progress: &mut dyn FnMut(Event),
) -> (Run, Vec<RolledBack>) {
    let mut run = Run::default();
    let mut rolled_back = Vec::new();
    let total = plan.stages.len();
    for (i, stage) in plan.stages.iter().enumerate() {
        if exec.stopping(i) {
            run.interrupted = Some((i, total));
            break;
        }
        let failed_before = run.failed.len();
        exec.run_stage(i + 1, total, stage, &mut run, false, progress);
        let migrations: Vec<(String, Name, Name)> = run.failed[failed_before..]
            .iter()
            .filter_map(|f| match &f.action {
                Action::XlMigrate {
                    node,
                    domain,
                    target,
                    ..
                } => Some((domain.clone(), node.clone(), target.clone())),
                _ => None,
            })
            .collect();
        for (domain, source, target) in migrations {
            let r = roll_back(exec, d, &domain, &source, &target, i + 1, total, progress);
            run.failed.extend(r.1);
            rolled_back.push(r.0);
        }
    }
    (run, rolled_back)
}

/// Observes both nodes of a failed migration and runs the compensating stages.
#[allow(clippy::too_many_arguments)]
fn roll_back(
    exec: &Executor,
    d: &Desired,
    domain: &str,
    source: &Name,
    target: &Name,
    stage: usize,
    total: usize,
    progress: &mut dyn FnMut(Event),
) -> (RolledBack, Vec<Failed>) {
    let parts = BTreeSet::from([PartKind::Xen, PartKind::Drbd]);
    let seen: BTreeMap<Name, NodeState> = [source, target]
        .into_iter()
        .map(|n| (n.clone(), (exec.observe)(n, &parts)))
        .collect();
    let mut out = RolledBack {
        domain: domain.into(),
        kept_on: None,
        ran: Vec::new(),
        problem: None,
    };
    let r = match crate::plan::rollback::after_failed_migration(d, domain, source, target, &seen) {
        Ok(r) => r,
        Err(e) => {
            out.problem = Some(e.to_string());
            return (out, Vec::new());
        }
    };
    out.kept_on = Some(r.keep.clone());
    let mut run = Run::default();
    for s in &r.stages {
        exec.run_stage(stage, total, s, &mut run, true, progress);
    }
    if !run.failed.is_empty() {
        out.problem = Some(format!(
            "{} rollback step(s) failed; the volumes may still have two Primaries",
            run.failed.len()
        ));
    }
    out.ran = run.ran;
    (out, run.failed)
}

/// What comes next after applying.
fn decide(run: &Run, after: &Result<After, ReconcileError>, d: &Desired) -> Decision {
    if !run.failed.is_empty() {
        let mut objects = BTreeMap::new();
        for f in &run.failed {
            *objects.entry(f.object.clone()).or_insert(true) &= f.failure.is_transient();
        }
        return Decision::Retry { objects };
    }
    match after {
        Err(_) => Decision::Retry {
            objects: BTreeMap::from([(format!("Cluster/{}", d.cluster_name), true)]),
        },
        Ok(_) if run.interrupted.is_some() => Decision::Requeue,
        Ok(a) if !a.plan.is_empty() && !run.ran.is_empty() => Decision::Requeue,
        Ok(_) => Decision::Done,
    }
}
