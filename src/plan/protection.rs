//! Protection (Remus): a protected domain runs with a shadow on its peer — the other node of
//! its volumes — and gets one whenever it runs without: after it starts, after it moves, and
//! after a failover, in the other direction as soon as the old host is back and resynced.
//! It counts as protected while its `xl remus` runs where it runs and its shadow is on the
//! peer; a shadow without its sender (left by a start that failed) is destroyed and protection
//! started again. When its host is fenced, the failover lets the shadow take over.
//! While it cannot get one, the plan says so ("unprotected since 12:04 UTC, waiting for
//! dom0"). A shadow is stopped from its own side (destroyed) before its domain stops or moves,
//! and when protection is no longer wanted: stopping the sending side would make the shadow
//! take over while the domain still runs.
//!
//! Runs after the domain pass: where each domain runs after this plan is read from the
//! observation and the actions already planned.

use std::collections::BTreeSet;

use crate::drivers::drbd::{ConnectionState, DiskState};
use crate::model::{DiskReplication, DomainSpec, DomainState, Name, ProtectionSpec};

use super::action::Action;
use super::storage::resource;
use super::{Ctx, Phase};

/// Xen releases whose `xl` has `remus` with disk and network options (4.5 and later).
const FIRST_XEN: (u32, u32) = (4, 5);

pub(super) fn protection(ctx: &mut Ctx) {
    let names: Vec<Name> = ctx.d.domains.keys().cloned().collect();
    for name in &names {
        let dom = &ctx.d.domains[name];
        let shadows = shadows(ctx, name);
        match (&dom.protection, dom.state) {
            (Some(p), DomainState::Running) => {
                let shadows = take_over(ctx, name, dom, shadows);
                protect(ctx, name, dom, p, &shadows)
            }
            (_, _) => {
                for n in shadows {
                    ctx.add(
                        Phase::Unprotect,
                        Action::RemusStop {
                            node: n,
                            domain: name.to_string(),
                        },
                    );
                }
            }
        }
    }
    for (n, s) in &ctx.o.nodes {
        let Some(x) = s.xen.known() else { continue };
        for dom in x.incoming.keys() {
            if !ctx.d.domains.contains_key(dom.as_str()) {
                ctx.warnings.push(format!(
                    "node {n}: {} receives domain {dom}, which is not in the desired state (left alone)",
                    crate::drivers::remus::shadow_name(dom)
                ));
            }
        }
    }
}

/// The known nodes holding a shadow of `name`.
fn shadows(ctx: &Ctx, name: &Name) -> Vec<Name> {
    ctx.o
        .nodes
        .iter()
        .filter(|(_, s)| {
            s.xen
                .known()
                .is_some_and(|x| x.incoming.contains_key(name.as_str()))
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// Where the domain runs now (one node whose Xen was read), and where after this plan: None
/// when it runs nowhere then (blocked, or stopped).
fn hosts(ctx: &Ctx, name: &Name) -> (Option<Name>, Option<Name>) {
    let now: Vec<&Name> = ctx
        .o
        .nodes
        .iter()
        .filter(|(_, s)| {
            s.xen
                .known()
                .is_some_and(|x| x.domains.get(name.as_str()).is_some_and(|d| !d.stopping))
        })
        .map(|(n, _)| n)
        .collect();
    let now = match now.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    let mut after = now.clone();
    for (_, a) in &ctx.steps {
        match a {
            Action::XlCreate { node, domain } | Action::RemusTakeover { node, domain }
                if domain == name.as_str() =>
            {
                after = Some(node.clone())
            }
            Action::XlMigrate { target, domain, .. } if domain == name.as_str() => {
                after = Some(target.clone())
            }
            Action::XlShutdown { domain, .. } if domain == name.as_str() => after = None,
            _ => {}
        }
    }
    (now, after)
}

/// The memory a shadow holds against its domain's: a shadow is whole once it holds all of it
/// (the first copy fills it; one left by a start that failed holds none).
fn whole(ctx: &Ctx, node: &Name, name: &Name, dom: &DomainSpec) -> bool {
    ctx.known(node)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.incoming.get(name.as_str()))
        .and_then(|d| d.memory_mib)
        .is_some_and(|m| m >= dom.memory_mib())
}

/// The failover of a protected domain: the domain pass starts it on a survivor of its fenced
/// host; where that survivor holds its whole shadow, the shadow takes over instead (from its
/// last checkpoint, not a cold boot), and a shadow it cannot take over from is destroyed
/// before the start. Returns the shadows left for [`protect`].
fn take_over(ctx: &mut Ctx, name: &Name, dom: &DomainSpec, shadows: Vec<Name>) -> Vec<Name> {
    let start = ctx.steps.iter().position(|(_, a)| {
        matches!(a, Action::XlCreate { node, domain } if domain == name.as_str() && shadows.contains(node))
    });
    let Some(i) = start else {
        return shadows;
    };
    let node = ctx.steps[i].1.node().clone();
    let host_off = crate::render::xl::domain_nodes(ctx.d, dom)
        .iter()
        .any(|n| n != &node && ctx.off(n));
    if host_off && whole(ctx, &node, name, dom) {
        ctx.steps[i].1 = Action::RemusTakeover {
            node: node.clone(),
            domain: name.to_string(),
        };
        return shadows.into_iter().filter(|n| n != &node).collect();
    }
    ctx.add(
        Phase::Unprotect,
        Action::RemusStop {
            node: node.clone(),
            domain: name.to_string(),
        },
    );
    shadows.into_iter().filter(|n| n != &node).collect()
}

/// A protected domain that should run: its shadow kept, stopped before it moves, or started
/// where it will run; or the reason it cannot be.
fn protect(ctx: &mut Ctx, name: &Name, dom: &DomainSpec, p: &ProtectionSpec, shadows: &[Name]) {
    let (now, after) = hosts(ctx, name);
    let Some(host) = after else {
        return;
    };
    let Some(peer) = peer_of(dom, ctx, &host) else {
        return;
    };
    let moves = now.as_ref() != Some(&host);
    // Whether its sender runs is read with the host's Xen: unread, nothing is concluded (a
    // shadow is never destroyed because a probe failed).
    let Some(xen) = ctx.o.nodes.get(&host).and_then(|s| s.xen.known()) else {
        ctx.block(
            format!("Domain/{name}"),
            format!("{name}: whether it is protected is not known: Xen on {host}, where it runs, could not be read"),
            Vec::new(),
        );
        return;
    };
    let sending = xen.senders.contains(name.as_str());
    if !moves && sending && shadows == [peer.clone()] {
        if !whole(ctx, &peer, name, dom) {
            ctx.warnings.push(format!(
                "domain {name}: its shadow on {peer} is being filled (the first copy of its memory): protected once it holds all {} MiB",
                dom.memory_mib()
            ));
        }
        return;
    }
    for n in shadows {
        ctx.add(
            Phase::Unprotect,
            Action::RemusStop {
                node: n.clone(),
                domain: name.to_string(),
            },
        );
    }
    match waiting(ctx, dom, &host, &peer) {
        Some(why) => {
            let since = ctx
                .policy
                .unprotected
                .get(name)
                .map(|at| format!(" since {}", crate::ha::unprotected::since_words(at)))
                .unwrap_or_default();
            ctx.block(
                format!("Domain/{name}"),
                format!("{name}: unprotected{since}, waiting for {peer}: {why}"),
                vec![format!("protect domain {name} with a shadow on {peer}")],
            );
        }
        None => {
            let Some(address) = ctx.d.nodes.get(&peer).map(|n| n.address.to_string()) else {
                return;
            };
            ctx.add(
                Phase::Protect,
                Action::RemusStart {
                    node: host,
                    domain: name.to_string(),
                    peer,
                    address,
                    interval_ms: p.interval.ms,
                    network_buffering: p.network_buffering,
                    disk_replication: p.disk_replication == DiskReplication::Drbd,
                },
            );
        }
    }
}

/// The node holding the shadow when the domain runs on `host`: the other node of its volumes
/// (validation keeps them on one pair).
fn peer_of(dom: &DomainSpec, ctx: &Ctx, host: &Name) -> Option<Name> {
    let v = ctx.d.volumes.get(dom.disks.first()?.volume.as_ref()?)?;
    if !v.nodes.contains(host) {
        return None;
    }
    v.nodes.iter().find(|n| *n != host).cloned()
}

/// Why the shadow cannot be started on `peer` now; None when it can.
fn waiting(ctx: &Ctx, dom: &DomainSpec, host: &Name, peer: &Name) -> Option<String> {
    if let Some(reason) = ctx.unknown.get(peer) {
        return Some(match ctx.held_out(peer) {
            true => {
                "it is fenced (off); once it is back and resynced, the shadow starts there".into()
            }
            false => format!("it could not be observed ({reason})"),
        });
    }
    if ctx.held_out(peer) {
        return Some(
            "it was fenced and is back: the shadow starts there once each of its DRBD resources is Connected \
             and UpToDate on both sides"
                .into(),
        );
    }
    if ctx.unknown.contains_key(host) {
        return Some(format!("{host}, where it runs, could not be observed"));
    }
    if !ctx.d.nodes.get(peer).is_some_and(|n| n.schedulable) {
        return Some("it is not schedulable (drained)".into());
    }
    let version = ctx
        .known(host)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.version.as_deref());
    if !version_at_least(version, FIRST_XEN) {
        return Some(format!(
            "Xen {} on {host} has no `xl remus` with disk and network options (4.5 and later)",
            version.unwrap_or("of unknown version")
        ));
    }
    let vols: BTreeSet<&Name> = dom.disks.iter().filter_map(|k| k.volume.as_ref()).collect();
    for v in vols {
        if ctx.frozen.contains(v) {
            return Some(format!("its volume {v} is blocked (see above)"));
        }
        let in_sync = [host, peer].iter().all(|n| {
            ctx.known(n)
                .and_then(|s| resource(s, v.as_str()))
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.disk == DiskState::UpToDate
                        && !k.peers.is_empty()
                        && k.peers.iter().all(|p| {
                            p.connection == ConnectionState::Connected
                                && p.disk == DiskState::UpToDate
                        })
                })
        });
        if !in_sync || ctx.new_volumes.contains(v) {
            return Some(format!(
                "DRBD volume {v} is not yet Connected and UpToDate on both {host} and {peer}"
            ));
        }
    }
    let free = ctx
        .known(peer)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.free_memory_mib)
        .unwrap_or(0);
    let coming: u64 = ctx
        .steps
        .iter()
        .filter_map(|(_, a)| match a {
            Action::XlCreate { node, domain }
            | Action::XlMigrate {
                target: node,
                domain,
                ..
            } if node == peer => ctx
                .d
                .domains
                .get(domain.as_str())
                .map(DomainSpec::memory_mib),
            _ => None,
        })
        .sum();
    let need = dom.memory_mib();
    if free.saturating_sub(coming) < need {
        return Some(format!(
            "its shadow needs {need} MiB and {peer} has {} MiB free",
            free.saturating_sub(coming)
        ));
    }
    None
}

/// Whether `version` (`4.17.5`, `4.17.6-pre`) is at least `min` (major, minor).
fn version_at_least(version: Option<&str>, min: (u32, u32)) -> bool {
    let Some(v) = version else { return false };
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= min,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_versions_compare_by_major_and_minor() {
        assert!(version_at_least(Some("4.17.5"), (4, 5)));
        assert!(version_at_least(Some("4.5"), (4, 5)));
        assert!(!version_at_least(Some("4.4.1"), (4, 5)));
        assert!(!version_at_least(Some("3.4"), (4, 5)));
        assert!(!version_at_least(Some("unstable"), (4, 5)));
        assert!(!version_at_least(None, (4, 5)));
    }
}
