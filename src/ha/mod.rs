//! Node loss (DESIGN.md §8): the fence runner ([`fence`]), the records of fenced nodes and of
//! failed-over domains in `STATE_DIR/ha/` ([`record`]), and the failover decision. Never starts
//! anything on a node whose peer was not fenced: what starts where is the planner's, and every
//! change goes through [`crate::reconcile::apply`].

pub mod failover;
pub mod fence;
pub mod record;
pub mod watch;

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::{Desired, Failback, Name};
use crate::observe::Observed;
use crate::plan::Policy;

pub use failover::{
    assume_dead, capacity, failback, failover, may_fence, Confirm, FailedOver, FailoverError,
    Outcome, Request,
};
pub use record::{By, FenceRecord, Placement, Placements, RecordError};

/// What `STATE_DIR/ha/` holds for the nodes of a desired state: the planner's input about node
/// loss.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Fence records, by node.
    pub fenced: BTreeMap<Name, FenceRecord>,
    pub placements: Placements,
}

impl Facts {
    /// Reads the fence record of every node of `d` and the placements.
    pub fn load(state_dir: &Path, d: &Desired) -> Result<Facts, RecordError> {
        let mut fenced = BTreeMap::new();
        for n in d.nodes.keys() {
            if let Some(r) = record::read_record(state_dir, n)? {
                fenced.insert(n.clone(), r);
            }
        }
        Ok(Facts {
            fenced,
            placements: record::read_placements(state_dir)?,
        })
    }

    /// The planner's switches for these facts: fenced nodes, and with manual failback the
    /// placements of failed-over domains.
    pub fn policy(&self, d: &Desired, prune: bool) -> Policy {
        Policy {
            prune,
            fenced: self.fenced.keys().cloned().collect(),
            placed: match d.cluster.ha.failback {
                Failback::Manual => self
                    .placements
                    .domains
                    .iter()
                    .map(|(dom, p)| (dom.clone(), p.node.clone()))
                    .collect(),
                Failback::Auto => BTreeMap::new(),
            },
        }
    }

    /// Fenced nodes that answer again and have resynced: their records are to be cleared.
    pub fn resynced(&self, d: &Desired, o: &Observed) -> Vec<Name> {
        self.fenced
            .keys()
            .filter(|n| {
                o.nodes
                    .get(*n)
                    .is_some_and(|s| s.drbd.is_known() && s.xen.is_known())
                    && crate::plan::resynced(d, o, n)
            })
            .cloned()
            .collect()
    }
}

/// Under the apply lock, before planning: reads the facts and clears the record of every fenced
/// node that is back and resynced (it is healthy again; failback follows the Cluster's
/// `ha.failback`).
pub fn settle(state_dir: &Path, d: &Desired, o: &Observed) -> Result<Facts, RecordError> {
    let mut facts = Facts::load(state_dir, d)?;
    for n in facts.resynced(d, o) {
        record::clear_record(state_dir, &n)?;
        tracing::info!("node {n} is back and resynced: its fence record is cleared");
        facts.fenced.remove(&n);
    }
    Ok(facts)
}

/// A node's state in node loss (DESIGN.md §8), as far as one observation and the records tell.
/// `suspect` and `dead` need time (the controller's probes over `deadAfter`): one observation
/// says `Unreachable`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health<'a> {
    Healthy,
    /// Not observed and not fenced: what it runs is unknown.
    Unreachable,
    /// Recorded as off and not answering.
    Fenced(&'a FenceRecord),
    /// Recorded as off and answering again: out of scheduling until resynced.
    Returning(&'a FenceRecord),
}

/// The health of `node`: answering means its Xen and DRBD state were both read.
pub fn health<'a>(facts: &'a Facts, o: &Observed, node: &Name) -> Health<'a> {
    let answers = o
        .nodes
        .get(node)
        .is_some_and(|s| s.xen.is_known() && s.drbd.is_known());
    match (facts.fenced.get(node), answers) {
        (Some(r), false) => Health::Fenced(r),
        (Some(r), true) => Health::Returning(r),
        (None, false) => Health::Unreachable,
        (None, true) => Health::Healthy,
    }
}
