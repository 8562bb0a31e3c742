//! Node loss and return: power and networks, as LAB.md's "Node loss in the lab" measured them.
//! A node powered off loses everything in memory — its domains, its DRBD devices, its mounts,
//! its o2cb stack — and keeps what is on disk (LVs, their data and DRBD meta-data, files). Its
//! peers' resources fall back to `WFConnection` with the peer `Unknown`/`DUnknown`, each side
//! keeping its own role and disk state (a Primary that loses its peer starts a new data
//! generation, as DRBD's "new current UUID"). Powering on is a boot: Xen with Domain-0 only,
//! the o2cb init script (when `/etc/default/o2cb` enables it), then the DRBD init script's
//! `drbdadm up` of every resource the node's configuration gives it: Secondary, connecting; the
//! handshake decides who resyncs or finds a split brain. The network links the node's
//! configuration brings up at boot are kept as they were (minus the domains' vifs).
//!
//! Cutting a node from its peers leaves it running: both sides of each resource go
//! `WFConnection`, and healing reconnects them, with the same handshake.

use super::drbd;
use super::ocfs2;
use super::state::{LinkKind, O2cb, World};

/// Powers a node off (the plug pulled, or a fence). False when it was off already.
pub(crate) fn power_off(w: &mut World, node: &str) -> bool {
    let n = w.node_mut(node);
    if n.presence.off {
        return false;
    }
    n.presence.off = true;
    let senders: Vec<String> = n.remus.keys().cloned().collect();
    let shadows: Vec<String> = n
        .domains
        .keys()
        .filter_map(|d| crate::drivers::remus::shadow_of(d).map(String::from))
        .collect();
    if !senders.is_empty() {
        super::remus::host_off(w, node);
    }
    for d in shadows {
        super::remus::shadow_gone(w, node, &d);
    }
    let n = w.node_mut(node);
    n.domains.edit().clear();
    n.links.retain(|_, l| l.kind != LinkKind::Vif);
    n.drbd.clear();
    n.mounts.clear();
    n.o2cb = O2cb::default();
    true
}

/// Boots a powered-off node. False when it was on already (nothing changes then).
pub(crate) fn power_on(w: &mut World, node: &str) -> bool {
    let n = w.node_mut(node);
    if !n.presence.off {
        return false;
    }
    n.presence.off = false;
    n.next_domid = 1;
    // The init scripts print their failures to the console and the boot goes on.
    ocfs2::init_script(w, node, &["start"]);
    drbd::boot(w, node);
    true
}

/// Cuts (or restores) the controller's network to a node.
pub(crate) fn cut_from_controller(w: &mut World, node: &str, cut: bool) {
    w.node_mut(node).presence.cut_from_controller = cut;
}

/// Cuts a node from the controller and from its peers; it keeps running.
pub(crate) fn isolate(w: &mut World, node: &str) {
    let p = &mut w.node_mut(node).presence;
    p.cut_from_controller = true;
    p.cut_from_peers = true;
}

/// Restores every network of a node (it stays off if it is off).
pub(crate) fn heal(w: &mut World, node: &str) {
    let p = &mut w.node_mut(node).presence;
    p.cut_from_controller = false;
    p.cut_from_peers = false;
}
