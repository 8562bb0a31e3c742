//! Planning around node loss (DESIGN.md §8). A node that does not answer is unknown, and what
//! it may run is not started elsewhere — unless it is fenced (`Policy::fenced`): then it is
//! off, its volumes are planned on the survivor alone (promoted there, nothing else changed),
//! and its domains start on their peers within the peers' memory. A fenced node that answers
//! again stays out of scheduling until it has resynced. Pure, like the rest of the planner.

use std::collections::BTreeSet;

use crate::drivers::drbd::{ConnectionState, DiskState, Role};
use crate::model::{Desired, Name, VolumeSpec};
use crate::observe::Observed;

use super::storage::resource;
use super::Ctx;

/// What a person (or `xenflux failover`) does about `node`, which could not be observed and is
/// not fenced. A node that answered (only part of it could not be read) is never to be powered
/// off: that would stop what runs there because a probe failed.
pub fn next_step(d: &Desired, o: &Observed, node: &Name) -> String {
    if o.nodes.get(node).is_some_and(answered) {
        return format!(
            "{node} answers but part of it could not be read: fix that (the reason above) and plan again; \
             a node that answers is not fenced or failed over"
        );
    }
    match d.nodes.get(node).and_then(|n| n.fence.as_ref()) {
        Some(_) => format!(
            "`xenflux failover {node}` runs its fence command and then starts them on their peers; \
             if the fence fails, power {node} off by hand, then `xenflux failover {node} --confirm-fenced`"
        ),
        None => format!(
            "no fence is declared for {node}: power it off by hand, then `xenflux failover {node} --confirm-fenced`"
        ),
    }
}

/// Whether the node answered its observation: some part of it was read.
fn answered(s: &crate::observe::NodeState) -> bool {
    s.lvm.known().is_some()
        || s.drbd.known().is_some()
        || s.xen.known().is_some()
        || s.net.known().is_some()
}

/// The domains of the desired state that may run on `node` (it could hold their disks) and
/// are not seen running on a node that answered.
pub fn may_run_on(d: &Desired, o: &Observed, node: &Name) -> Vec<Name> {
    let seen: BTreeSet<&str> = o
        .nodes
        .iter()
        .filter(|(n, _)| *n != node)
        .filter_map(|(_, s)| s.xen.known())
        .flat_map(|x| x.domains.keys().map(String::as_str))
        .collect();
    d.domains
        .iter()
        .filter(|(name, dom)| {
            !seen.contains(name.as_str()) && crate::render::xl::domain_nodes(d, dom).contains(node)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether every DRBD resource of `node` is Connected with UpToDate data on both sides, as both
/// the node and its peers report it.
pub fn resynced(d: &Desired, o: &Observed, node: &Name) -> bool {
    let view = |n: &Name, vol: &Name| {
        let s = o.nodes.get(n)?;
        let k = s
            .drbd
            .known()?
            .resources
            .get(vol.as_str())?
            .kernel
            .clone()?;
        Some(
            k.disk == DiskState::UpToDate
                && !k.peers.is_empty()
                && k.peers.iter().all(|p| {
                    p.connection == ConnectionState::Connected && p.disk == DiskState::UpToDate
                }),
        )
    };
    d.volumes
        .iter()
        .filter(|(_, v)| v.nodes.contains(node))
        .all(|(vol, v)| v.nodes.iter().all(|n| view(n, vol) == Some(true)))
}

/// Whether a resource is still Connected to `node`: its peer of that name (DRBD 9 names
/// peers), or any peer when none is named (8.4 has one).
pub fn connected_to(k: &crate::observe::DrbdKernel, node: &Name) -> bool {
    k.peers.iter().any(|p| {
        p.connection == ConnectionState::Connected
            && p.name.as_deref().is_none_or(|n| n == node.as_str())
    })
}

/// What is reported about nodes that did not answer or are fenced.
pub(super) fn nodes(ctx: &mut Ctx) {
    let names: Vec<Name> = ctx.d.nodes.keys().cloned().collect();
    for name in names {
        let object = format!("node/{name}");
        let unknown = ctx.unknown.get(&name).cloned();
        match (unknown, ctx.held_out(&name)) {
            (Some(_), true) => ctx.block(
                object,
                "fenced (powered off): nothing is planned there; its domains start on their peers".into(),
                Vec::new(),
            ),
            (Some(reason), false) => {
                let doms = may_run_on(ctx.d, ctx.o, &name);
                let until = match ctx.o.nodes.get(&name).is_some_and(answered) {
                    true => "",
                    false => " until it is fenced",
                };
                let domains = match doms.as_slice() {
                    [] => String::new(),
                    list => format!(
                        "; domains that may still run there ({}) are not started elsewhere{until}: {}",
                        list.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "),
                        next_step(ctx.d, ctx.o, &name)
                    ),
                };
                ctx.block(
                    object,
                    format!(
                        "could not be observed ({reason}): nothing is created or deleted there{domains}"
                    ),
                    Vec::new(),
                );
            }
            (None, true) if resynced(ctx.d, ctx.o, &name) => ctx.warnings.push(format!(
                "node {name} was fenced and has resynced: its fence record is cleared at the next apply"
            )),
            (None, true) => ctx.block(
                object,
                "fenced and answering again: out of scheduling (nothing starts or is promoted there) until each of \
                 its DRBD resources is Connected and UpToDate on both sides"
                    .into(),
                Vec::new(),
            ),
            (None, false) => {}
        }
    }
}

/// Why a domain that runs nowhere observed is not started: it may run on a node that did not
/// answer and is not fenced. None when no such node could hold it.
pub(super) fn blind(ctx: &Ctx, possible: &[Name]) -> Option<String> {
    let n = possible
        .iter()
        .find(|n| ctx.unknown.contains_key(*n) && !ctx.off(n))?;
    Some(format!(
        "it may still be running on {n}, which could not be observed and is not fenced: nothing is promoted \
         or started elsewhere; {}",
        next_step(ctx.d, ctx.o, n)
    ))
}

/// A volume one of whose nodes is fenced and off: planned on the survivors alone — nothing
/// created, grown or brought up, only roles. A survivor must answer, have the resource up,
/// not StandAlone, with UpToDate data (or already be Primary), or the volume is blocked.
/// Returns false when no node of the volume is off (the normal planning applies).
pub(super) fn degraded_volume(ctx: &mut Ctx, name: &Name, v: &VolumeSpec) -> bool {
    let Some(off) = v.nodes.iter().find(|n| ctx.off(n)).cloned() else {
        return false;
    };
    let object = format!("Volume/{name}");
    let mut primary = BTreeSet::new();
    let mut problem = None;
    for n in v.nodes.iter().filter(|n| !ctx.off(n)) {
        let Some(s) = ctx.known(n) else {
            problem = Some(format!(
                "node {n} could not be observed; no change to this volume until it can"
            ));
            break;
        };
        let Some(k) = resource(s, name.as_str()).and_then(|r| r.kernel.as_ref()) else {
            problem = Some(format!(
                "its peer {off} is fenced, but the resource is not up on {n}: nothing is promoted; check its data \
                 on {n}, then `drbdadm up {name}` there"
            ));
            break;
        };
        if k.peers
            .iter()
            .any(|p| p.connection == ConnectionState::StandAlone)
        {
            problem = Some(format!(
                "StandAlone on {n} while {off} is fenced: a split brain or a manual disconnect; nothing is done to \
                 this volume or its domains until an operator resolves it"
            ));
            break;
        }
        if k.role == Role::Primary {
            primary.insert(n.clone());
        } else if connected_to(k, &off) {
            problem = Some(format!(
                "its peer {off} is recorded as fenced, but DRBD on {n} is still Connected to a peer: nothing is \
                 promoted until {n} reports the connection lost (is {off} really off?)"
            ));
            break;
        } else if k.disk != DiskState::UpToDate {
            problem = Some(format!(
                "its peer {off} is fenced, but its data on {n} is {}, not UpToDate: nothing is promoted or started",
                k.disk
            ));
            break;
        }
    }
    match problem {
        Some(reason) => {
            ctx.block(object, reason, Vec::new());
            ctx.frozen.insert(name.clone());
        }
        None => {
            ctx.primary_after_storage.insert(name.clone(), primary);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::drbd::ReplState;
    use crate::observe::{DrbdKernel, DrbdPeer};

    fn peer(name: Option<&str>, connection: &str) -> DrbdPeer {
        DrbdPeer {
            name: name.map(String::from),
            connection: ConnectionState::parse(connection),
            replication: ReplState::Off,
            role: Role::parse("Unknown"),
            disk: DiskState::DUnknown,
            sync_percent: None,
        }
    }

    fn kernel(peers: Vec<DrbdPeer>) -> DrbdKernel {
        DrbdKernel {
            minor: Some(1),
            role: Role::Secondary,
            disk: DiskState::UpToDate,
            peers,
            allow_two_primaries: None,
        }
    }

    #[test]
    fn connected_to_names_the_peer_on_drbd_9_and_any_peer_on_8_4() {
        let a: Name = "a".parse().unwrap();
        // 8.4: one unnamed peer.
        assert!(connected_to(&kernel(vec![peer(None, "Connected")]), &a));
        assert!(!connected_to(&kernel(vec![peer(None, "WFConnection")]), &a));
        // DRBD 9: still Connected to c, not to a.
        let k = kernel(vec![
            peer(Some("a"), "Connecting"),
            peer(Some("c"), "Connected"),
        ]);
        assert!(!connected_to(&k, &a));
        assert!(connected_to(&k, &"c".parse().unwrap()));
    }
}
