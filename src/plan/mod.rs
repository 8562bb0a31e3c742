//! The planner: `plan(desired, allocation, observed, policy)` diffs what should be against what
//! is and returns the ordered actions that close the gap, grouped into stages. Pure and
//! deterministic: no I/O, no clock, ordered maps only — the same inputs give the same plan.
//!
//! Unknown is not absent: nothing is created or deleted on a node whose observation failed, and
//! a domain that may run on such a node is not started elsewhere. Split brain (a resource left
//! StandAlone) stops every action on the volume and its domains until an operator resolves it.

pub mod action;
mod blank;
mod capacity;
mod domains;
mod failover;
mod host;
mod images;
mod protection;
pub mod rollback;
mod running;
pub mod saved;
mod snapshots;
mod storage;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::alloc::Allocation;
use crate::model::{Desired, Name};
use crate::observe::{NodeState, Observed, PartKind};
use crate::render::Rendered;

pub use action::{Action, Check};
pub use blank::{blank_reads, blank_reads_of};
pub use failover::{connected_to, may_run_on, next_step, resynced};

/// Switches that are not part of the desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Destructive actions allowed (`--prune`, or the Cluster's `prune: true`).
    pub prune: bool,
    /// Nodes confirmed off by a fence or a person (a record in `STATE_DIR/ha/`). One that does
    /// not answer runs nothing: its domains start on their peers. One that answers again is
    /// returning: out of scheduling, never promoted, until its record is cleared.
    pub fenced: BTreeSet<Name>,
    /// Failed-over domains kept where they were started (failback manual): domain → node.
    pub placed: BTreeMap<Name, Name>,
    /// Protected domains seen running without their shadow: domain → since when
    /// (`2026-12-07T12:04:31Z`, from `STATE_DIR/ha/unprotected.json`).
    pub unprotected: BTreeMap<Name, String>,
}

/// The phases of a plan, in execution order. Actions of one phase on different nodes run in
/// parallel; on one node, in the order they were planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Phase {
    Network,
    Lvm,
    Files,
    MetaData,
    Up,
    InitialPrimary,
    Resize,
    Mkfs,
    GrowFs,
    O2cb,
    DetachSnapshots,
    RemoveSnapshots,
    Unprotect,
    StopDomains,
    ShrinkDomains,
    DetachDisks,
    Demote,
    Adjust,
    TwoPrimariesOn,
    Promote,
    Mount,
    Images,
    Migrate,
    MigratedDemote,
    TwoPrimariesOff,
    AdjustLate,
    StartDomains,
    AttachDisks,
    CreateSnapshots,
    AttachSnapshots,
    GrowDomains,
    Protect,
    Prune,
}

impl Phase {
    fn title(self) -> &'static str {
        match self {
            Phase::Network => "network: bonds and bridges",
            Phase::Lvm => "LVM: logical volumes",
            Phase::Files => "config files",
            Phase::MetaData => "DRBD: meta-data",
            Phase::Up => "DRBD: resources up",
            Phase::InitialPrimary => "DRBD: initial sync source",
            Phase::Resize => "DRBD: grow devices",
            Phase::Mkfs => "filesystems: create",
            Phase::GrowFs => "filesystems: grow",
            Phase::O2cb => "OCFS2: cluster stack",
            Phase::Unprotect => "protection: stop (destroy shadows)",
            Phase::StopDomains => "domains: stop",
            Phase::ShrinkDomains => "domains: give back memory and vCPUs",
            Phase::DetachDisks => "domains: detach disks",
            Phase::DetachSnapshots => "snapshots: detach",
            Phase::RemoveSnapshots => "snapshots: remove",
            Phase::Demote => "DRBD: demote",
            Phase::Adjust => "DRBD: apply changed configurations",
            Phase::TwoPrimariesOn => "migration: allow two primaries",
            Phase::Promote => "DRBD: promote",
            Phase::Mount => "OCFS2: mount",
            Phase::Images => "OCFS2: domain images (create, grow)",
            Phase::Migrate => "domains: live-migrate",
            Phase::MigratedDemote => "migration: demote the source",
            Phase::TwoPrimariesOff => "migration: back to one primary",
            Phase::AdjustLate => "DRBD: end dual-primary where it is no longer wanted",
            Phase::StartDomains => "domains: start",
            Phase::AttachDisks => "domains: attach disks",
            Phase::CreateSnapshots => "snapshots: create",
            Phase::AttachSnapshots => "snapshots: attach read-only",
            Phase::GrowDomains => "domains: raise memory and vCPUs",
            Phase::Protect => "protection: start (shadows on the peers)",
            Phase::Prune => "prune: remove what the state no longer has",
        }
    }
}

/// A group of actions run together: in parallel across nodes, in order on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub title: String,
    pub actions: Vec<Action>,
}

/// A config file that changes: `old` None = created, `new` None = removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub node: Name,
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Something the plan will not do, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// `Kind/name` or `node/name`.
    pub object: String,
    pub reason: String,
    /// What it would run, in words, once allowed.
    pub would: Vec<String>,
}

/// The plan: stages of actions, the file changes they make, what is blocked and warnings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub cluster: String,
    /// What the plan was made against; set by whoever opened the target (the planner does not
    /// know it). Absent in plans saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::target::TargetName>,
    /// Fingerprint of the observation the plan was made from; a saved plan is refused once the
    /// cluster no longer looks like this.
    pub observed: String,
    pub allocation: Allocation,
    pub stages: Vec<Stage>,
    pub files: Vec<FileChange>,
    pub blocked: Vec<Blocked>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// No action at all: the cluster is as desired (apart from what is blocked).
    pub fn is_empty(&self) -> bool {
        self.stages.iter().all(|s| s.actions.is_empty())
    }
    pub fn action_count(&self) -> usize {
        self.stages.iter().map(|s| s.actions.len()).sum()
    }
}

/// Why planning could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("node `{0}` of the desired state was not observed at all")]
    NotObserved(Name),
}

/// Fingerprint of an observation: a stable hash (FNV-1a, 64 bits) of its JSON form, hashed as
/// it is written rather than kept (a large estate's observation is tens of megabytes of JSON).
pub fn fingerprint(observed: &Observed) -> String {
    struct Fnv(u64);
    impl std::io::Write for Fnv {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    if serde_json::to_writer(&mut hash, observed).is_err() {
        // What hashing the empty text the old way gave.
        hash = Fnv(0xcbf2_9ce4_8422_2325);
    }
    format!("{:016x}", hash.0)
}

/// What the planner knows while it works: inputs, and the actions collected so far.
pub(crate) struct Ctx<'a> {
    pub d: &'a Desired,
    pub a: &'a Allocation,
    pub o: &'a Observed,
    pub files: &'a Rendered,
    pub policy: &'a Policy,
    steps: Vec<(Phase, Action)>,
    pub blocked: Vec<Blocked>,
    pub warnings: Vec<String>,
    /// Nodes with a part that could not be observed, and why.
    pub unknown: BTreeMap<Name, String>,
    /// Volumes no action may touch (split brain, unknown node, foreign LV, ...).
    pub frozen: BTreeSet<Name>,
    /// Volumes created by this plan (brand new: blank, get an initial primary).
    pub new_volumes: BTreeSet<Name>,
    /// Nodes each volume will be Primary on once the storage phases ran.
    pub primary_after_storage: BTreeMap<Name, BTreeSet<Name>>,
    /// Free bytes left in each node's VG once the LVs planned so far exist.
    pub vg_free: BTreeMap<Name, u64>,
    /// Domain image files: whether each will be there once the plan ran.
    pub images: images::Images,
}

impl<'a> Ctx<'a> {
    pub fn add(&mut self, phase: Phase, action: Action) {
        self.steps.push((phase, action));
    }
    pub fn block(&mut self, object: String, reason: String, would: Vec<String>) {
        self.blocked.push(Blocked {
            object,
            reason,
            would,
        });
    }
    /// Fenced and not answering: off, running nothing.
    pub fn off(&self, node: &Name) -> bool {
        self.policy.fenced.contains(node) && self.unknown.contains_key(node)
    }
    /// Fenced (off, or back but not yet resynced): nothing is scheduled or promoted there.
    pub fn held_out(&self, node: &Name) -> bool {
        self.policy.fenced.contains(node)
    }
    /// The node's state when every part of it was observed.
    pub fn known(&self, node: &Name) -> Option<&'a NodeState> {
        if self.unknown.contains_key(node) {
            return None;
        }
        self.o.nodes.get(node)
    }
}

/// Plans the changes that bring the observed cluster to the desired state.
pub fn plan(d: &Desired, a: &Allocation, o: &Observed, policy: &Policy) -> Result<Plan, PlanError> {
    plan_rendered(d, a, &crate::render::render(d, a), o, policy)
}

/// [`plan`] with the files already rendered from `d` and `a` (`crate::render::render(d, a)`):
/// the observation renders them to know which files to read, and rendering a large estate
/// twice costs as much as a third of the plan.
pub fn plan_rendered(
    d: &Desired,
    a: &Allocation,
    rendered: &crate::render::Rendered,
    o: &Observed,
    policy: &Policy,
) -> Result<Plan, PlanError> {
    for n in d.nodes.keys() {
        if !o.nodes.contains_key(n) {
            return Err(PlanError::NotObserved(n.clone()));
        }
    }
    // The observation's fingerprint (a pass over all of it) is worked out beside the plan.
    std::thread::scope(|scope| {
        let observed = scope.spawn(|| fingerprint(o));
        let plan = plan_with_files(d, a, rendered, o, policy);
        let observed = observed
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok(Plan { observed, ..plan })
    })
}

fn plan_with_files(
    d: &Desired,
    a: &Allocation,
    rendered: &crate::render::Rendered,
    o: &Observed,
    policy: &Policy,
) -> Plan {
    let mut ctx = Ctx {
        d,
        a,
        o,
        files: rendered,
        policy,
        steps: Vec::new(),
        blocked: Vec::new(),
        warnings: Vec::new(),
        unknown: BTreeMap::new(),
        frozen: BTreeSet::new(),
        new_volumes: BTreeSet::new(),
        primary_after_storage: BTreeMap::new(),
        vg_free: BTreeMap::new(),
        images: BTreeMap::new(),
    };
    for (name, state) in &o.nodes {
        if let Some(reason) = unknown_reason(state) {
            ctx.unknown.insert(name.clone(), reason);
        }
    }
    failover::nodes(&mut ctx);
    host::network(&mut ctx);
    storage::volumes(&mut ctx);
    let files = host::files(&mut ctx);
    host::ocfs2(&mut ctx);
    images::images(&mut ctx);
    domains::domains(&mut ctx);
    snapshots::snapshots(&mut ctx);
    protection::protection(&mut ctx);
    host::prune(&mut ctx);

    let mut by_phase: BTreeMap<Phase, Vec<Action>> = BTreeMap::new();
    for (phase, action) in ctx.steps {
        by_phase.entry(phase).or_default().push(action);
    }
    let stages = by_phase
        .into_iter()
        .map(|(phase, actions)| Stage {
            title: phase.title().to_string(),
            actions,
        })
        .collect();
    Plan {
        cluster: d.cluster_name.clone(),
        target: None,
        observed: String::new(),
        allocation: a.clone(),
        stages,
        files,
        blocked: ctx.blocked,
        warnings: ctx.warnings,
    }
}

fn unknown_reason(s: &NodeState) -> Option<String> {
    use PartKind::{Drbd, Files, Listening, Lvm, Net, Ocfs2, Xen};
    [Lvm, Drbd, Xen, Net, Ocfs2, Listening, Files]
        .into_iter()
        .find_map(|part| s.unknown_in(part).map(|u| (part.label(), u)))
        .map(|(what, u)| {
            if u.command.is_empty() {
                u.to_string()
            } else {
                format!("{what}: {u}")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming the JSON through the hash gives what hashing the whole text gave, so plans
    /// saved before still prove against the same observation.
    #[test]
    fn the_fingerprint_is_the_hash_of_the_whole_json_text() {
        let mut o = Observed::default();
        for name in ["a", "b"] {
            let u = || crate::observe::Unknown {
                command: "lvs".into(),
                status: Some(5),
                stderr: "no \"VG\"\n".into(),
                reason: format!("exit status 5 on {name}"),
            };
            use crate::observe::Part::Unknown;
            let state = NodeState {
                lvm: Unknown(u()),
                drbd: Unknown(u()),
                xen: Unknown(u()),
                net: Unknown(u()),
                ocfs2: Unknown(u()),
                listening: crate::observe::Part::Known([22, 7788].into()),
                files: [(
                    "/etc/xen/x.cfg".to_string(),
                    crate::observe::Part::Known(Some("name = \"x\"\n".into())),
                )]
                .into(),
                filesystems: Default::default(),
                images: Default::default(),
                metadata: Default::default(),
            };
            o.nodes.insert(name.parse().expect("name"), state);
        }
        let json = serde_json::to_string(&o).expect("json");
        let whole = json.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        assert_eq!(fingerprint(&o), format!("{whole:016x}"));
        assert_ne!(fingerprint(&o), fingerprint(&Observed::default()));
    }
}
