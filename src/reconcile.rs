//! One reconcile pass, as the CLI and the controller run it: validate the desired state, observe
//! every node (in parallel, one batch each), allocate with what the cluster already uses, and
//! plan. The observing depends on the allocation (which devices to look at) and the allocation
//! on the observation (sticky values), so a second observation follows when the first one looked
//! at the wrong devices.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostic;
use crate::load::Source;
use crate::model::{Desired, Name};
use crate::observe::{observe_node, NodeState, Observed, PartKind, Probe};
use crate::plan::{plan, Plan, PlanError, Policy};
use crate::transport::Transport;
use crate::validate::{validate, Validated};

/// The desired state with its allocation, and the observation it was made against.
pub struct Snapshot {
    pub validated: Validated,
    pub observed: Observed,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the desired state is invalid ({} problem(s))", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// The probe for one node: its files, bonds and devices under this allocation.
pub fn probe(v: &Validated, node: &Name) -> Probe {
    let files = crate::render::render_node(&v.desired, &v.allocation, node).into_keys();
    let minors: BTreeMap<Name, u32> = v
        .allocation
        .volumes
        .iter()
        .map(|(n, a)| (n.clone(), a.minor.value))
        .collect();
    Probe::for_node(&v.desired, files, &minors, node)
}

/// What the executor observes after a stage: `probe`, asking only about the parts it names.
pub fn observer<'a>(
    v: &'a Validated,
    t: &'a dyn Transport,
) -> impl Fn(&Name, &BTreeSet<PartKind>) -> NodeState + Sync + 'a {
    move |node, parts| observe_node(t, node.as_str(), &probe(v, node).only(parts))
}

/// Observes every node of the desired state, all in parallel.
pub fn observe_cluster(v: &Validated, t: &dyn Transport) -> Observed {
    let probes: Vec<(Name, Probe)> = v
        .desired
        .nodes
        .keys()
        .map(|n| (n.clone(), probe(v, n)))
        .collect();
    let nodes: BTreeMap<Name, NodeState> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|(n, p)| scope.spawn(move || (n.clone(), observe_node(t, n.as_str(), p))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Observed { nodes }
}

/// Adds what an LV that waits for `create-md` holds (its signatures and its meta-data location,
/// [`crate::plan::blank_reads`]) to the observation of each node that has one, so the planner
/// can prove it blank or say what is there. Nodes without such an LV are not asked again.
fn with_blank_reads(v: &Validated, t: &dyn Transport, mut observed: Observed) -> Observed {
    let probes: Vec<(Name, Probe)> = observed
        .nodes
        .iter()
        .filter_map(|(n, s)| {
            let (devices, meta) = crate::plan::blank_reads(&v.desired, &v.allocation, n, s);
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
    let reads: Vec<(Name, NodeState)> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|(n, p)| scope.spawn(move || (n.clone(), observe_node(t, n.as_str(), p))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (n, read) in reads {
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
    let observed = observe_cluster(&first, t);
    let v = validate(sources, &observed.existing()).map_err(ReconcileError::Invalid)?;
    let same_probes = v
        .desired
        .nodes
        .keys()
        .all(|n| probe(&v, n) == probe(&first, n));
    let observed = if same_probes {
        observed
    } else {
        observe_cluster(&v, t)
    };
    let observed = with_blank_reads(&v, t, observed);
    Ok(Snapshot {
        validated: v,
        observed,
    })
}

/// The plan for a snapshot under a policy (prune from the flag or the Cluster document).
pub fn plan_for(s: &Snapshot, prune_flag: bool) -> Result<Plan, ReconcileError> {
    let policy = Policy {
        prune: prune_flag || s.validated.desired.cluster.prune,
    };
    Ok(plan(
        &s.validated.desired,
        &s.validated.allocation,
        &s.observed,
        &policy,
    )?)
}

/// The desired state's node names, for transports that need to know them up front.
pub fn node_names(d: &Desired) -> Vec<String> {
    d.nodes.keys().map(|n| n.to_string()).collect()
}
