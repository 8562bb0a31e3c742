//! Failover of a lost node: decide whether it may be fenced, fence it, record it, then plan and
//! apply through [`crate::reconcile::approve`] and [`crate::reconcile::apply`] — the one apply
//! path; the planner decides what starts where ([`crate::plan`]). The CLI (`xenflux failover`)
//! and the controller call [`failover`] and only print or record what it returns.
//!
//! Refused, with nothing done: a node that answers; a peer that does not answer either (this
//! machine may be the one cut off); a peer whose DRBD is still Connected to the node; a node
//! without a fence when no person confirmed it is off. A fence that is not confirmed starts
//! nothing.

use std::collections::BTreeSet;

use crate::drivers::drbd::{ConnectionState, DiskState, ReplState, Role};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::exec::{Event, Lock, Settle};
use crate::load::Source;
use crate::model::{Desired, FenceSpec, Name};
use crate::observe::{NodeState, Observed, Part, Unknown};
use crate::plan::{Action, Plan};
use crate::reconcile::{self, Applied, ApplyCtx, Intent, ReconcileError, Snapshot};
use crate::target::{TargetError, TargetHandle};
use crate::transport::Transport;

use super::fence::{self, Fenced};
use super::record::{self, By, FenceRecord, Placement};

/// How the node is known to be off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Run the Node's fence command (after the checks).
    Fence,
    /// A person powered it off (`--confirm-fenced`).
    Operator,
}

/// What a failover came to.
pub enum Outcome {
    /// Nothing was done (no fence ran, nothing was recorded or started).
    Refused { why: String },
    /// The fence ran and did not confirm the node is off: nothing was recorded or started.
    NotConfirmed { why: String, what_to_do: String },
    /// The caller's confirmation was declined before anything ran.
    Declined,
    /// The node is recorded as fenced and the plan was applied.
    FailedOver(Box<FailedOver>),
}

pub struct FailedOver {
    pub record: FenceRecord,
    /// The record was already there (a failover run again): no fence ran now.
    pub already: bool,
    /// Domains placed on a survivor (kept there while failback is manual): (domain, node).
    pub placed: Vec<(Name, Name)>,
    pub applied: Applied,
}

#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Approve(#[from] reconcile::ApproveError),
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// The nodes that share a volume with `node`.
pub fn peers(d: &Desired, node: &Name) -> BTreeSet<Name> {
    d.volumes
        .values()
        .filter(|v| v.nodes.contains(node))
        .flat_map(|v| v.nodes.iter().cloned())
        .filter(|n| n != node)
        .collect()
}

/// Whether `node` may be fenced now: it does not answer, every peer answers, and every peer's
/// DRBD has lost the connection to it. Err says why not.
pub fn may_fence(d: &Desired, o: &Observed, node: &Name) -> Result<(), String> {
    let Some(state) = o.nodes.get(node) else {
        return Err(format!("{node} was not observed"));
    };
    if state.xen.is_known() || state.drbd.is_known() {
        return Err(format!(
            "{node} answers (its Xen or DRBD state was read): it is not lost; nothing was done"
        ));
    }
    let peers = peers(d, node);
    if peers.is_empty() {
        return Err(format!(
            "{node} shares no volume with another node: there is nothing to fail over"
        ));
    }
    for p in &peers {
        let Some(drbd) = o.nodes.get(p).and_then(|s| s.drbd.known()) else {
            return Err(format!(
                "its peer {p} cannot be reached either: this machine may be the one cut off, so nothing was done"
            ));
        };
        for (vol, v) in &d.volumes {
            if !(v.nodes.contains(node) && v.nodes.contains(p)) {
                continue;
            }
            let Some(k) = drbd
                .resources
                .get(vol.as_str())
                .and_then(|r| r.kernel.as_ref())
            else {
                continue;
            };
            if crate::plan::connected_to(k, node) {
                return Err(format!(
                    "DRBD on {p} is still Connected to {node} for {vol}: {node} may be alive behind a broken \
                     management path; nothing was done (if you know it is off: `xenflux failover {node} --confirm-fenced`)"
                ));
            }
        }
    }
    Ok(())
}

/// What the failover of `node` would be: the snapshot as it would look with `node` dead and
/// fenced — its observation unknown, its peers' DRBD disconnected from it (as DRBD reports a
/// lost peer: WFConnection, Unknown/DUnknown) — for `plan --assume-dead`. Changes nothing.
pub fn assume_dead(mut s: Snapshot, node: &Name, by: By) -> Snapshot {
    let gone = || Unknown {
        command: String::new(),
        status: None,
        stderr: String::new(),
        reason: "assumed dead (plan --assume-dead)".into(),
    };
    if let Some(st) = s.observed.nodes.get_mut(node) {
        *st = NodeState {
            lvm: Part::Unknown(gone()),
            drbd: Part::Unknown(gone()),
            xen: Part::Unknown(gone()),
            net: Part::Unknown(gone()),
            ocfs2: Part::Unknown(gone()),
            listening: Part::Unknown(gone()),
            files: st
                .files
                .keys()
                .map(|k| (k.clone(), Part::Unknown(gone())))
                .collect(),
            filesystems: Default::default(),
            metadata: Default::default(),
            images: st
                .images
                .keys()
                .map(|k| (k.clone(), Part::Unknown(gone())))
                .collect(),
        };
    }
    let d = &s.validated.desired;
    for p in peers(d, node) {
        let Some(Part::Known(drbd)) = s.observed.nodes.get_mut(&p).map(|x| &mut x.drbd) else {
            continue;
        };
        for (vol, v) in &d.volumes {
            if !(v.nodes.contains(node) && v.nodes.contains(&p)) {
                continue;
            }
            if let Some(k) = drbd
                .resources
                .get_mut(vol.as_str())
                .and_then(|r| r.kernel.as_mut())
            {
                let named = |x: &crate::observe::DrbdPeer| {
                    x.name.as_deref().is_none_or(|n| n == node.as_str())
                };
                for x in k.peers.iter_mut().filter(|x| named(x)) {
                    x.connection = ConnectionState::parse("WFConnection");
                    x.replication = ReplState::Off;
                    x.role = Role::parse("Unknown");
                    x.disk = DiskState::DUnknown;
                    x.sync_percent = None;
                }
            }
        }
    }
    let record = FenceRecord {
        node: node.clone(),
        fenced_at: crate::clock::now(),
        by,
        command: None,
        how: "assumed".into(),
    };
    s.ha.fenced.insert(node.clone(), record);
    s
}

/// Each peer's memory after the failover `plan` of `node` (made from `o`): what runs there now,
/// what the plan starts there, against the Node's declared memory and Xen's free memory — the
/// N+1 check in numbers, one line per peer.
pub fn capacity(d: &Desired, o: &Observed, plan: &Plan, node: &Name) -> Vec<String> {
    peers(d, node)
        .into_iter()
        .map(|p| {
            let xen = o.nodes.get(&p).and_then(|s| s.xen.known());
            let now: u64 = xen.map_or(0, |x| {
                x.domains.values().filter_map(|dom| dom.memory_mib).sum()
            });
            let started: Vec<(String, u64)> = plan
                .stages
                .iter()
                .flat_map(|s| &s.actions)
                .filter_map(|a| match a {
                    Action::XlCreate { node: n, domain } if n == &p => {
                        let mib = d.domains.get(domain.as_str())?.memory_mib();
                        Some((domain.clone(), mib))
                    }
                    _ => None,
                })
                .collect();
            let add: u64 = started.iter().map(|(_, m)| m).sum();
            let list = match started.as_slice() {
                [] => "nothing".to_string(),
                l => l
                    .iter()
                    .map(|(dom, m)| format!("{dom} {m}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let declared = d
                .nodes
                .get(&p)
                .and_then(|n| n.memory)
                .map_or("no memory declared".to_string(), |m| {
                    format!("{} MiB declared", m.bytes() >> 20)
                });
            let free = xen
                .and_then(|x| x.free_memory_mib)
                .map_or(String::new(), |f| format!("; Xen has {f} MiB free now"));
            format!(
                "{p}: {now} MiB in domains now + {add} MiB started by the failover ({list}) = {} MiB, {declared}{free}",
                now + add
            )
        })
        .collect()
}

/// What a failover needs from its caller.
pub struct Request<'a> {
    pub node: &'a Name,
    pub confirm: Confirm,
    /// The desired state.
    pub sources: &'a [Source],
    /// Opens the cluster. It is opened twice: to decide, and after the fence to apply; it is
    /// finished (the simulator saved and released) before the fence runs, since a fence agent
    /// may itself act on the cluster (`xenflux sim power NODE off`).
    pub open: &'a mut dyn FnMut() -> Result<TargetHandle, TargetError>,
    /// How verification waits for effects (see [`ApplyCtx::settle`]).
    pub settle: Option<Settle>,
    /// Keep the journal in `STATE_DIR/journal.jsonl`.
    pub journal: bool,
    /// Asked once with what is about to happen (fence and plan) before anything runs; false
    /// stops with [`Outcome::Declined`].
    pub ask: &'a mut dyn FnMut(&str, &Plan) -> bool,
    pub progress: &'a mut dyn FnMut(Event),
    /// Asked right before the fence and before every stage of the apply (a controller's lease on
    /// etcd): an error refuses the failover, or stops it between stages.
    pub guard: Option<&'a crate::reconcile::Guard>,
}

/// What the checks came to: stop with an outcome, or go on.
enum Decided {
    Stop(Outcome),
    Go {
        existing: Option<FenceRecord>,
        fence: Option<FenceSpec>,
        what: String,
        preview: Box<Plan>,
        /// The observation decided on, and when it was made.
        snap: Box<Snapshot>,
        observed: Instant,
    },
}

/// An observation the decision was made on is applied with when it is at most this old once
/// the fence is confirmed: the fence does not change what the survivors see (they lost the node
/// already), and observing an emulated node again costs ten seconds and more. Older (a person
/// took time to confirm, a fence agent was slow), the cluster is observed again.
const DECIDED_FRESH_FOR: Duration = Duration::from_secs(15);

/// Decide, fence, record, plan and apply, under `lock` (held by the caller for the whole
/// failover).
pub fn failover(lock: &Lock, r: Request) -> Result<Outcome, FailoverError> {
    let h = (r.open)()?;
    let decided = decide(lock.state_dir(), &r, h.transport());
    h.finish()?;
    let (existing, fence_spec, what, preview, snap, observed) = match decided? {
        Decided::Stop(outcome) => return Ok(outcome),
        Decided::Go {
            existing,
            fence,
            what,
            preview,
            snap,
            observed,
        } => (existing, fence, what, preview, snap, observed),
    };
    if !(r.ask)(&what, &preview) {
        return Ok(Outcome::Declined);
    }
    if let Some(Err(why)) = r.guard.map(|g| g()) {
        return Ok(Outcome::Refused {
            why: format!("nothing was fenced: {why}"),
        });
    }
    let node = r.node;
    let (record, already) = match existing {
        Some(rec) => (rec, true),
        None => {
            let rec = match &fence_spec {
                Some(f) => match fence::fence(node.as_str(), f) {
                    Fenced::Confirmed { how } => FenceRecord {
                        node: node.clone(),
                        fenced_at: crate::clock::now(),
                        by: By::Fence,
                        command: Some(fence::shown(&f.command)),
                        how,
                    },
                    Fenced::NotConfirmed { why, what_to_do } => {
                        return Ok(Outcome::NotConfirmed { why, what_to_do })
                    }
                },
                None => FenceRecord {
                    node: node.clone(),
                    fenced_at: crate::clock::now(),
                    by: By::Operator,
                    command: None,
                    how: "a person confirmed it is powered off (--confirm-fenced)".into(),
                },
            };
            // Before anything else: a controller that restarts now knows the node is off.
            record::write_record(lock.state_dir(), &rec)?;
            (rec, false)
        }
    };
    // Open again (a fence agent may have acted on the cluster); observe again unless the
    // decision's observation is fresh.
    let h = (r.open)()?;
    let ctx = ApplyCtx {
        sources: r.sources,
        transport: h.transport(),
        stop: None,
        guard: r.guard,
        settle: r.settle,
        journal: r.journal,
        commit: None,
    };
    let fresh = (observed.elapsed() <= DECIDED_FRESH_FOR).then_some(*snap);
    let applied = apply(lock, &ctx, node, fresh, r.progress);
    h.finish()?;
    let (placed, applied) = applied?;
    Ok(Outcome::FailedOver(Box::new(FailedOver {
        record,
        already,
        placed,
        applied,
    })))
}

/// The checks before anything runs, and the plan the failover would make.
fn decide(state_dir: &Path, r: &Request, t: &dyn Transport) -> Result<Decided, FailoverError> {
    let node = r.node;
    let stop = |why: String| Ok(Decided::Stop(Outcome::Refused { why }));
    let snap = reconcile::with_ha(reconcile::snapshot(r.sources, t)?, state_dir)?;
    let observed = Instant::now();
    let d = &snap.validated.desired;
    let Some(spec) = d.nodes.get(node) else {
        return stop(format!("the desired state has no node `{node}`"));
    };
    let existing = snap.ha.fenced.get(node).cloned();
    let answers = snap
        .observed
        .nodes
        .get(node)
        .is_some_and(|s| s.xen.is_known() || s.drbd.is_known());
    match (&existing, answers) {
        (None, true) => {
            return stop(format!(
                "{node} answers (its Xen or DRBD state was read): it is not lost, and is not fenced; nothing was done"
            ))
        }
        (Some(_), true) => {
            return stop(format!(
                "{node} is recorded as fenced and answers again: it is returning (out of scheduling until it has \
                 resynced); `xenflux apply` brings it back"
            ))
        }
        _ => {}
    }
    let fence_spec = match (&existing, r.confirm, &spec.fence) {
        (Some(_), _, _) | (None, Confirm::Operator, _) => None,
        (None, Confirm::Fence, None) => {
            return stop(format!(
                "{node} has no fence declared; {}",
                fence::by_hand(node.as_str())
            ))
        }
        (None, Confirm::Fence, Some(f)) => {
            if let Err(why) = may_fence(d, &snap.observed, node) {
                return stop(why);
            }
            Some(f.clone())
        }
    };
    let what = match (&existing, &fence_spec) {
        (Some(rec), _) => format!(
            "{node} is recorded as fenced (by {} at {}): apply its failover",
            rec.by, rec.fenced_at
        ),
        (None, Some(f)) => format!(
            "fence {node} with `{}`, then start its domains on their peers",
            fence::shown(&f.command)
        ),
        (None, None) => format!(
            "record that a person powered {node} off, then start its domains on their peers"
        ),
    };
    // What would run: the plan of this observation with the node recorded as fenced (it does
    // not answer already; its peers' DRBD is shown as it is).
    let mut snap = snap;
    snap.ha
        .fenced
        .entry(node.clone())
        .or_insert_with(|| FenceRecord {
            node: node.clone(),
            fenced_at: crate::clock::now(),
            by: By::Operator,
            command: None,
            how: "about to be fenced".into(),
        });
    let preview = reconcile::plan_for(&snap, false)?;
    if existing.is_none() {
        snap.ha.fenced.remove(node);
    }
    Ok(Decided::Go {
        existing,
        fence: fence_spec,
        what,
        preview: Box::new(preview),
        snap: Box::new(snap),
        observed,
    })
}

/// Snapshot (unless `fresh` is given), approve (under the lock; it records the placements),
/// apply.
fn apply(
    lock: &Lock,
    ctx: &ApplyCtx,
    node: &Name,
    fresh: Option<Snapshot>,
    progress: &mut dyn FnMut(Event),
) -> Result<(Vec<(Name, Name)>, Applied), FailoverError> {
    let snap = match fresh {
        Some(s) => s,
        None => reconcile::snapshot(ctx.sources, ctx.transport)?,
    };
    let snap = reconcile::with_ha(snap, lock.state_dir())?;
    let approved = reconcile::approve(lock, &snap, false, Intent::Fresh)?;
    let placed = approved
        .placed()
        .iter()
        .filter(|(_, p)| p.from == *node)
        .map(|(dom, p)| (dom.clone(), p.node.clone()))
        .collect();
    Ok((placed, reconcile::apply(approved, ctx, progress)))
}

/// `xenflux failback DOMAIN`: release the domain from where it was failed over to; the
/// planner's normal placement (its preferred node) applies from the next plan on, and the
/// placement is forgotten once the domain is back ([`super::settle`]). Err when there is none.
pub fn failback(state_dir: &Path, domain: &Name) -> Result<Placement, String> {
    let mut p = record::read_placements(state_dir).map_err(|e| e.to_string())?;
    let Some(placed) = p.domains.get_mut(domain) else {
        return Err(format!(
            "domain {domain} has no failover placement (it is placed by its Domain document already)"
        ));
    };
    if placed.released.is_none() {
        placed.released = Some(crate::clock::now());
    }
    let released = placed.clone();
    record::write_placements(state_dir, &p).map_err(|e| e.to_string())?;
    Ok(released)
}
