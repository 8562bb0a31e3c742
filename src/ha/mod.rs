//! Node loss (DESIGN.md §8): the fence runner ([`fence`]), the records of fenced nodes and of
//! failed-over domains in `STATE_DIR/ha/` ([`record`]), and the failover decision. Never starts
//! anything on a node whose peer was not fenced: what starts where is the planner's, and every
//! change goes through [`crate::reconcile::apply`].

pub mod failover;
pub mod fence;
pub mod record;
pub mod unprotected;
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
    /// Protected domains running without their shadow, and since when.
    pub unprotected: unprotected::Unprotected,
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
            unprotected: unprotected::read(state_dir)?,
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
                    .filter(|(_, p)| p.released.is_none())
                    .map(|(dom, p)| (dom.clone(), p.node.clone()))
                    .collect(),
                Failback::Auto => BTreeMap::new(),
            },
            unprotected: self.unprotected.domains.clone(),
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

/// What [`settle`] found: the facts to plan with, and the failed-over domains it found back
/// home (their placements forgotten).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub facts: Facts,
    pub failed_back: Vec<(Name, Placement)>,
}

/// Under the apply lock, before planning: reads the facts, clears the record of every fenced
/// node that is back and resynced (it is healthy again; failback follows the Cluster's
/// `ha.failback`), and forgets the placement of every failed-over domain that runs elsewhere
/// now — failed back — or is no longer desired.
pub fn settle(state_dir: &Path, d: &Desired, o: &Observed) -> Result<Settled, RecordError> {
    let mut facts = Facts::load(state_dir, d)?;
    for n in facts.resynced(d, o) {
        record::clear_record(state_dir, &n)?;
        tracing::info!("node {n} is back and resynced: its fence record is cleared");
        facts.fenced.remove(&n);
    }
    let fenced = facts.fenced.keys().cloned().collect();
    facts.unprotected = unprotected::update(state_dir, d, o, &fenced, &crate::clock::now())?;
    let mut failed_back = Vec::new();
    let mut kept = facts.placements.clone();
    taken_over(d, o, &facts.fenced, &mut kept);
    for (dom, p) in &facts.placements.domains {
        let gone = !d.domains.contains_key(dom);
        let back = failed_back_from(o, dom, &p.node);
        if gone || back.is_some() {
            kept.domains.remove(dom);
        }
        if let Some(on) = back {
            tracing::info!(
                "domain {dom} failed back: it runs on {on}, no longer on {} where it was failed over \
                 to at {}",
                p.node,
                p.at
            );
            failed_back.push((dom.clone(), p.clone()));
        }
    }
    if kept != facts.placements {
        record::write_placements(state_dir, &kept)?;
        facts.placements = kept;
    }
    Ok(Settled { facts, failed_back })
}

/// A domain of a fenced node found running on another node without a placement — its shadow
/// took over there (Remus), or a person started it — is placed there, as if the failover had
/// started it: manual failback keeps it where it runs.
fn taken_over(
    d: &Desired,
    o: &Observed,
    fenced: &BTreeMap<Name, FenceRecord>,
    placements: &mut Placements,
) {
    for (dom, spec) in &d.domains {
        if !fenced.contains_key(&spec.node) || placements.domains.contains_key(dom) {
            continue;
        }
        let on = o.nodes.iter().find(|(n, s)| {
            *n != &spec.node
                && s.xen
                    .known()
                    .is_some_and(|x| x.domains.contains_key(dom.as_str()))
        });
        if let Some((n, _)) = on {
            tracing::info!(
                "domain {dom} runs on {n} while its node {} is fenced: kept there as failed over",
                spec.node
            );
            placements.domains.insert(
                dom.clone(),
                Placement {
                    node: n.clone(),
                    from: spec.node.clone(),
                    at: crate::clock::now(),
                    released: None,
                },
            );
        }
    }
}

/// Under the apply lock, once the plan is approved: records where it starts a domain that could
/// run on a fenced node (on a survivor), so manual failback keeps it there — whoever applies
/// the plan (the failover, a pass of a controller restarted half way through one, `apply`).
/// Returns the placements made now.
pub fn place(
    state_dir: &Path,
    d: &Desired,
    facts: &Facts,
    plan: &crate::plan::Plan,
) -> Result<Vec<(Name, Placement)>, RecordError> {
    if facts.fenced.is_empty() {
        return Ok(Vec::new());
    }
    let mut placements = facts.placements.clone();
    let mut placed = Vec::new();
    let at = crate::clock::now();
    for a in plan.stages.iter().flat_map(|s| &s.actions) {
        let (crate::plan::Action::XlCreate { node: to, domain }
        | crate::plan::Action::RemusTakeover { node: to, domain }) = a
        else {
            continue;
        };
        let Some((name, spec)) = d.domains.get_key_value(domain.as_str()) else {
            continue;
        };
        let may_run = crate::render::xl::domain_nodes(d, spec);
        let from = match facts.fenced.contains_key(&spec.node) {
            true => Some(&spec.node),
            false => facts.fenced.keys().find(|n| may_run.contains(*n)),
        };
        let Some(from) = from.filter(|f| *f != to) else {
            continue;
        };
        let p = Placement {
            node: to.clone(),
            from: from.clone(),
            at: at.clone(),
            released: None,
        };
        placements.domains.insert(name.clone(), p.clone());
        placed.push((name.clone(), p));
    }
    if !placed.is_empty() {
        record::write_placements(state_dir, &placements)?;
    }
    Ok(placed)
}

/// The node `dom` runs on when that is not `survivor`, and `survivor` was read and does not run
/// it: the domain left the node it was failed over to.
fn failed_back_from<'a>(o: &'a Observed, dom: &Name, survivor: &Name) -> Option<&'a Name> {
    let runs = |n: &Name| {
        o.nodes
            .get(n)
            .and_then(|s| s.xen.known())
            .map(|x| x.domains.contains_key(dom.as_str()))
    };
    if runs(survivor) != Some(false) {
        return None;
    }
    o.nodes
        .keys()
        .find(|n| *n != survivor && runs(n) == Some(true))
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
