//! Rules for Ocfs2Clusters: names o2cb accepts, nodes, one cluster per node, filesystems on
//! their own volumes, and mountpoints that neither coincide nor nest on a node.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostics;
use crate::model::{Kind, MountPath, Name, Ocfs2ClusterSpec};

use super::super::decode::{Decoded, Locator};

pub(super) fn check_ocfs2(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    let mut seen = Seen::default();
    for (name, c) in &d.ocfs2 {
        let cn = name.as_str();
        check_name_and_port(c, cn, loc, out);
        let members = check_nodes(c, name, loc, out, known, &mut seen);
        check_heartbeat(c, cn, loc, out);
        check_filesystems(d, c, name, &members, loc, out, &mut seen);
    }
    check_mountpoints(&seen.mounts, d, loc, out);
}

/// What the clusters checked so far hold.
#[derive(Default)]
struct Seen<'d> {
    /// The cluster each node is in (o2cb runs one per node).
    node_cluster: BTreeMap<&'d Name, &'d Name>,
    /// The cluster each volume is a filesystem of.
    fs_volumes: BTreeMap<&'d Name, &'d Name>,
    /// Mountpoints per node: (path, cluster, filesystem index).
    mounts: BTreeMap<&'d Name, Vec<(&'d MountPath, &'d Name, usize)>>,
}

/// A port, and a name o2cb accepts; some nodes.
fn check_name_and_port(c: &Ocfs2ClusterSpec, cn: &str, loc: &Locator, out: &mut Diagnostics) {
    if c.port == 0 {
        out.push(loc.error(Kind::Ocfs2Cluster, cn, "spec.port", "must be 1 to 65535"));
    }
    if !cn.bytes().all(|b| b.is_ascii_alphanumeric()) || cn.len() > 16 {
        out.push(loc.error(
            Kind::Ocfs2Cluster,
            cn,
            "metadata.name",
            "an OCFS2 cluster name has only letters and digits, at most 16 (o2cb rejects others)",
        ));
    }
    if c.nodes.is_empty() {
        out.push(loc.error(
            Kind::Ocfs2Cluster,
            cn,
            "spec.nodes",
            "an OCFS2 cluster needs nodes",
        ));
    }
}

/// Each node known, listed once, with its own number (0 to 254) and IPv4 address, and in no
/// other OCFS2 cluster. Returns the nodes listed.
fn check_nodes<'d>(
    c: &'d Ocfs2ClusterSpec,
    name: &'d Name,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
    seen: &mut Seen<'d>,
) -> BTreeSet<&'d Name> {
    let cn = name.as_str();
    let mut numbers = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    let mut members = BTreeSet::new();
    for (i, n) in c.nodes.iter().enumerate() {
        let f = format!("spec.nodes[{i}]");
        if !known(Kind::Node, n.node.as_str()) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.node"),
                format!("unknown node `{}`", n.node),
            ));
        }
        if !members.insert(&n.node) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.node"),
                format!("node `{}` is listed twice", n.node),
            ));
        }
        if !numbers.insert(n.number) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.number"),
                format!("node number {} is used twice", n.number),
            ));
        }
        if n.number > 254 {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.number"),
                "node numbers are 0 to 254".to_string(),
            ));
        }
        if n.address.is_ipv6() {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.address"),
                "o2cb takes IPv4 node addresses only",
            ));
        }
        if let Some(p) = super::unicast_problem(n.address) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.address"),
                format!("{} {p}", n.address),
            ));
        }
        if !addrs.insert(n.address) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{f}.address"),
                format!("address {} is used twice", n.address),
            ));
        }
        if let Some(other) = seen.node_cluster.insert(&n.node, name) {
            out.push(loc.error(Kind::Ocfs2Cluster, cn, &format!("{f}.node"),
                format!("node `{}` is already in OCFS2 cluster `{other}`; o2cb runs one cluster per node", n.node)));
        }
    }
    members
}

/// O2CB's heartbeat timings within their minimums and sane maximums.
fn check_heartbeat(c: &Ocfs2ClusterSpec, cn: &str, loc: &Locator, out: &mut Diagnostics) {
    let hb = &c.heartbeat;
    // Upper bounds: beyond them a dead node goes unnoticed for more than ten minutes.
    for (field, value, min, max, unit) in [
        ("deadThreshold", hb.dead_threshold, 7, 300, ""),
        ("idleTimeoutMs", hb.idle_timeout_ms, 5000, 600_000, " ms"),
        (
            "keepaliveDelayMs",
            hb.keepalive_delay_ms,
            1000,
            600_000,
            " ms",
        ),
        (
            "reconnectDelayMs",
            hb.reconnect_delay_ms,
            2000,
            600_000,
            " ms",
        ),
    ] {
        if value < min {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("spec.heartbeat.{field}"),
                format!("{value}{unit} is below the O2CB minimum of {min}{unit}"),
            ));
        } else if value > max {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("spec.heartbeat.{field}"),
                format!("{value}{unit} is above the limit of {max}{unit}"),
            ));
        }
    }
    if hb.keepalive_delay_ms >= hb.idle_timeout_ms {
        out.push(loc.error(
            Kind::Ocfs2Cluster,
            cn,
            "spec.heartbeat.keepaliveDelayMs",
            "the keepalive delay must be shorter than the idle timeout",
        ));
    }
}

/// Each filesystem named once, labelled, on a known dual-primary volume of its own whose nodes
/// are members and fit its slots; its mountpoints are gathered per node.
fn check_filesystems<'d>(
    d: &'d Decoded,
    c: &'d Ocfs2ClusterSpec,
    name: &'d Name,
    members: &BTreeSet<&Name>,
    loc: &Locator,
    out: &mut Diagnostics,
    seen: &mut Seen<'d>,
) {
    let cn = name.as_str();
    let mut fs_names = BTreeSet::new();
    for (i, f) in c.filesystems.iter().enumerate() {
        let field = format!("spec.filesystems[{i}]");
        if !fs_names.insert(&f.name) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{field}.name"),
                format!("filesystem `{}` is listed twice", f.name),
            ));
        }
        if f.label.is_empty() || f.label.len() > 63 {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{field}.label"),
                "a label has 1 to 63 characters",
            ));
        }
        if let Some(other) = seen.fs_volumes.insert(&f.volume, name) {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                &format!("{field}.volume"),
                format!("volume `{}` is already a filesystem of `{other}`", f.volume),
            ));
        }
        let Some(v) = d.volumes.get(&f.volume) else {
            if !d.is_broken(Kind::Volume, f.volume.as_str()) {
                out.push(loc.error(
                    Kind::Ocfs2Cluster,
                    cn,
                    &format!("{field}.volume"),
                    format!("unknown volume `{}`", f.volume),
                ));
            }
            continue;
        };
        for n in &v.nodes {
            seen.mounts
                .entry(n)
                .or_default()
                .push((&f.mountpoint, name, i));
        }
        if !v.dual_primary {
            out.push(loc.error(Kind::Ocfs2Cluster, cn, &format!("{field}.volume"), format!(
                "volume `{}` is not dual-primary; OCFS2 on DRBD mounts on every node at once (`dualPrimary: true`)", f.volume)));
        }
        for n in &v.nodes {
            if !members.contains(n) {
                out.push(loc.error(
                    Kind::Ocfs2Cluster,
                    cn,
                    &format!("{field}.volume"),
                    format!(
                        "volume `{}` is on {n}, which is not a node of this OCFS2 cluster",
                        f.volume
                    ),
                ));
            }
        }
        if (f.slots as usize) < v.nodes.len() || f.slots == 0 || f.slots > 255 {
            out.push(loc.error(Kind::Ocfs2Cluster, cn, &format!("{field}.slots"), format!(
                "{} slots for {} nodes that mount it: need at least one slot per node (at most 255)", f.slots, v.nodes.len())));
        }
    }
}

/// Two filesystems on one node may not share a mountpoint, nor may one be mounted inside the
/// other: whichever is mounted second hides the first (or its directory), and the order of
/// mounts would decide which one the domains see.
fn check_mountpoints(
    mounts: &BTreeMap<&Name, Vec<(&MountPath, &Name, usize)>>,
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
) {
    let mut reported = BTreeSet::new();
    for (node, list) in mounts {
        for (i, (path, cluster, fs)) in list.iter().enumerate() {
            for (other, oc, ofs) in list.iter().take(i) {
                let fs_name = |c: &Name, k: usize| d.ocfs2[c].filesystems[k].name.clone();
                let why = if path == other {
                    format!(
                        "mountpoint {path} on {node} is also filesystem `{}`'s",
                        fs_name(oc, *ofs)
                    )
                } else if path.is_below(other) {
                    format!("mountpoint {path} on {node} lies inside filesystem `{}`'s mountpoint {other}: whichever is mounted last hides the other", fs_name(oc, *ofs))
                } else if other.is_below(path) {
                    format!("filesystem `{}`'s mountpoint {other} on {node} lies inside {path}: whichever is mounted last hides the other", fs_name(oc, *ofs))
                } else {
                    continue;
                };
                if reported.insert((cluster.to_string(), *fs, oc.to_string(), *ofs)) {
                    out.push(loc.error(
                        Kind::Ocfs2Cluster,
                        cluster.as_str(),
                        &format!("spec.filesystems[{fs}].mountpoint"),
                        why,
                    ));
                }
            }
        }
    }
}
