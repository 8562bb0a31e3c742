//! The rules a cluster must never break, checked after every simulated command: at most one
//! Primary per resource unless every Primary allows two, no Primaries on both sides of a broken
//! connection, no Primary on a node still resyncing as SyncTarget after its return, no domain on
//! two nodes, every running domain's DRBD disks Primary and UpToDate
//! where it runs, no local filesystem mounted on two nodes at once. A node cut off from the
//! others but still running counts with everything it runs; a powered-off node runs nothing.
//! Each rule broken is one sentence naming the nodes and objects.
//!
//! One rule is about an act rather than a state, checked when a domain starts
//! ([`unsafe_start`]): never start a domain on a node whose DRBD peer for one of its disks is
//! neither connected nor powered off (that peer may run the domain, or write the disk, itself).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::state::{Conn, Dev, Disk, DomDisk, Role, World};

pub(crate) fn check(w: &World) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Hash maps for speed (this runs after most simulated commands); the result is a sorted
    // set, and each list keeps the nodes' name order, so nothing depends on hashing.
    let mut primaries: HashMap<&str, Vec<&str>> = HashMap::new();
    for (node, n) in &w.nodes {
        for (res, r) in &n.drbd {
            if r.role == Role::Primary {
                primaries.entry(res).or_default().push(node);
            }
        }
    }
    for (res, nodes) in &primaries {
        if nodes.len() < 2 {
            continue;
        }
        let all_allow = nodes.iter().all(|n| w.node(n).drbd[*res].two_primaries);
        if !all_allow {
            out.insert(format!(
                "two Primaries without allow-two-primaries: {res} is Primary on {}",
                nodes.join(" and ")
            ));
        }
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                if w.node(a).drbd[*res].conns.get(*b) != Some(&Conn::Connected) {
                    out.insert(format!(
                        "Primary on both sides of a broken connection: {res} on {a} and {b} (their data diverges)"
                    ));
                }
            }
        }
    }
    for (node, n) in &w.nodes {
        for (res, r) in &n.drbd {
            if let Some(s) = r.resync.as_ref().filter(|s| !s.source) {
                if r.role == Role::Primary {
                    out.insert(format!(
                        "promoted before resynced: {res} is Primary on {node} while it resyncs from {}",
                        s.peer
                    ));
                }
            }
        }
    }
    let mut runs: HashMap<&str, Vec<&str>> = HashMap::new();
    for (node, n) in &w.nodes {
        // Node::resolve of a DRBD device, without a search of every resource per disk: the
        // first resource (in name order) with that minor.
        let mut by_minor: HashMap<u32, &str> = HashMap::new();
        if !n.domains.is_empty() {
            for (res, r) in &n.drbd {
                by_minor.entry(r.conf.minor).or_insert(res);
            }
        }
        for (dom, d) in &n.domains {
            runs.entry(dom).or_default().push(node);
            for k in &d.disks {
                let drbd = match k.target.strip_prefix("/dev/drbd") {
                    Some(minor) => minor
                        .parse::<u32>()
                        .ok()
                        .and_then(|m| by_minor.get(&m).copied()),
                    None => None,
                };
                if let Some(res) = drbd {
                    let r = &n.drbd[res];
                    if r.role != Role::Primary || r.disk != Disk::UpToDate {
                        out.insert(format!(
                            "domain {dom} on {node} uses {} which is not Primary and UpToDate there",
                            k.target
                        ));
                    }
                }
            }
        }
    }
    for (dom, nodes) in runs {
        if nodes.len() > 1 {
            out.insert(format!("domain {dom} runs on {}", nodes.join(" and ")));
        }
    }
    let mut local_mounts: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (node, n) in &w.nodes {
        for m in n.mounts.iter().filter(|m| m.fstype != "ocfs2") {
            if let Some(fs) = n.resolve(&m.device).and_then(|d| n.content(&d).fs) {
                local_mounts.entry(fs.uuid).or_default().push(node);
            }
        }
    }
    for (uuid, nodes) in local_mounts {
        if nodes.len() > 1 {
            out.insert(format!(
                "local filesystem {uuid} mounted on {} at once",
                nodes.join(" and ")
            ));
        }
    }
    out
}

/// Why starting domain `dom` with `disks` on `node` breaks the HA contract: one sentence per
/// DRBD peer of one of its disks that is neither connected to `node` nor powered off.
pub(crate) fn unsafe_start(w: &World, node: &str, dom: &str, disks: &[DomDisk]) -> Vec<String> {
    let n = w.node(node);
    let mut out = Vec::new();
    for k in disks {
        let Some(Dev::Drbd(res)) = n.resolve(&k.target) else {
            continue;
        };
        let r = &n.drbd[&res];
        for p in &r.conf.peers {
            if r.conns.get(&p.node) != Some(&Conn::Connected) && !w.is_off(&p.node) {
                out.push(format!(
                    "unsafe start: `xl create` of {dom} on {node} while {}, its DRBD peer for {res}, is neither connected nor powered off",
                    p.node
                ));
            }
        }
    }
    out
}
