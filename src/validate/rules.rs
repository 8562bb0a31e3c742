//! Semantic checks over the decoded documents: references resolve, and the DRBD, LVM, Xen,
//! network and OCFS2 rules of DESIGN.md §4 hold. Allocation-related rules (minor, port and slot
//! exhaustion, pin conflicts) live in `alloc`. Every check reports; none stops the others.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostics;
use crate::model::names::{ifname_problem, lv_name_problem};
use crate::model::units::{MIB, PIB, TIB};
use crate::model::{
    BondMode, DomainState, DrbdVersion, Filesystem, GuestType, Kind, MetaKind, MountPath, Name,
    Size, O2CB_DEFAULT_PORT,
};

use super::decode::{Decoded, Locator};

/// LVM's default extent: LV sizes must be whole extents or LVM rounds them (and the plan would
/// never converge on the written size).
pub const EXTENT: u64 = 4 * MIB;
/// One indexed meta-data slot.
pub const META_SLOT: u64 = 128 * MIB;
/// The largest volume accepted.
pub const MAX_VOLUME: u64 = PIB;
/// The most memory a node or a domain is given (Xen's host limit is 16 TiB).
pub const MAX_MEMORY: u64 = 16 * TIB;
/// DRBD's own limit on minors (2^20), whatever `maxMinors` says.
pub const DRBD_MINOR_LIMIT: u32 = 1 << 20;
/// Suffix of a flexible meta-data LV (`NAME-md`): xenflux creates and prunes LVs with it.
pub const FLEXIBLE_META_SUFFIX: &str = "-md";

/// Why `host` cannot be an ssh destination: an IP literal or a DNS host name, at most 253
/// bytes, never starting with '-' (ssh would read it as an option).
pub fn ssh_host_problem(host: &str) -> Option<&'static str> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if host.is_empty() || host.len() > 253 {
        return Some("must be 1 to 253 bytes");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host
        .strip_suffix('.')
        .unwrap_or(host)
        .split('.')
        .all(label_ok)
    {
        None
    } else {
        Some("must be an IPv4 or IPv6 address or a DNS host name (letters, digits, '-' and '.', no label starting or ending with '-')")
    }
}

/// Whether `user` is a POSIX user name (`^[a-z_][a-z0-9_-]{0,31}$`).
pub fn ssh_user_ok(user: &str) -> bool {
    let mut b = user.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && user.len() <= 32
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// Sectors of a slot taken by the superblock and activity log.
const MD_FIXED_SECTORS: u64 = 72;

/// The largest volume an indexed (128 MiB) meta-data slot can serve with `peers` peers:
/// ⌊(262144 − 72) / (8 × peers)⌋ bitmap sectors, each covering 2^18 data sectors (128 MiB).
pub fn indexed_meta_capacity(peers: u64) -> u64 {
    let bitmap_sectors = (META_SLOT / 512 - MD_FIXED_SECTORS) / (8 * peers.max(1));
    bitmap_sectors * 128 * MIB
}

/// Flexible external meta-data size for a volume: Ms = ⌈Cs / 2^18⌉ × 8 × N + 72 sectors,
/// rounded up to whole extents.
pub fn flexible_meta_size(data: Size, peers: u64) -> Size {
    let cs = data.bytes().div_ceil(512);
    let sectors = cs.div_ceil(1 << 18) * 8 * peers.max(1) + MD_FIXED_SECTORS;
    Size((sectors * 512).div_ceil(EXTENT) * EXTENT)
}

pub fn check(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    let cluster = d
        .cluster
        .as_ref()
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let cname = d
        .cluster
        .as_ref()
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    let known = |kind: Kind, name: &str| -> bool {
        let present = match kind {
            Kind::Node => d.nodes.keys().any(|n| n == name),
            Kind::Volume => d.volumes.keys().any(|n| n == name),
            Kind::Bridge => d.bridges.keys().any(|n| n == name),
            Kind::Bond => d.bonds.keys().any(|n| n == name),
            Kind::Domain => d.domains.keys().any(|n| n == name),
            Kind::Ocfs2Cluster => d.ocfs2.keys().any(|n| n == name),
            Kind::Cluster => d.cluster.is_some(),
        };
        present || d.is_broken(kind, name)
    };

    // Cluster
    let drbd = &cluster.drbd;
    if !(1..=255).contains(&drbd.max_minors) {
        err(
            out,
            Kind::Cluster,
            &cname,
            "spec.drbd.maxMinors",
            format!(
                "must be 1 to 255 (the DRBD module's minor_count limit), found {}",
                drbd.max_minors
            ),
        );
    }
    if drbd.ports.first == 0 || drbd.ports.first > drbd.ports.last {
        err(
            out,
            Kind::Cluster,
            &cname,
            "spec.drbd.ports",
            format!(
                "port pool {}-{} is empty or starts at 0",
                drbd.ports.first, drbd.ports.last
            ),
        );
    }

    // Nodes
    if d.nodes.is_empty() && !d.broken.contains_key(&Kind::Node) {
        if let Some((n, _)) = &d.cluster {
            out.push(loc.warning(Kind::Cluster, n, "", "no Node documents: nothing to manage"));
        }
    }
    let mut addresses: BTreeMap<std::net::IpAddr, &Name> = BTreeMap::new();
    for (name, n) in &d.nodes {
        if let Some(first) = addresses.insert(n.address, name) {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.address",
                format!(
                    "address {} is also node `{first}`'s replication address",
                    n.address
                ),
            );
        }
        if n.fence.is_some() {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.fence",
                "fence is not supported yet: xenflux does not fail over; remove it".into(),
            );
        }
        if let Some(ssh) = &n.ssh {
            if let Some(p) = ssh_host_problem(&ssh.host) {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.ssh.host",
                    format!("`{}` {p}", ssh.host),
                );
            }
            if ssh.user.as_deref().is_some_and(|u| !ssh_user_ok(u)) {
                err(out, Kind::Node, name.as_str(), "spec.ssh.user",
                    "must be a POSIX user name: a lowercase letter or '_', then up to 31 lowercase letters, digits, '_' or '-'".into());
            }
            if ssh.port == Some(0) {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.ssh.port",
                    "must be 1 to 65535".into(),
                );
            }
        }
        if n.memory.is_some_and(|m| m.bytes() > MAX_MEMORY) {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.memory",
                format!("at most {} (Xen's host limit)", Size(MAX_MEMORY)),
            );
        }
        let meta = n.meta_volume.as_str();
        if let Some(base) = meta.strip_suffix(FLEXIBLE_META_SUFFIX) {
            if d.volumes
                .iter()
                .any(|(v, spec)| v.as_str() == base && spec.nodes.contains(name))
            {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.metaVolume",
                    format!(
                    "`{meta}` is the flexible meta-data LV name of volume `{base}` on this node"),
                );
            }
        }
    }

    // Volumes
    let o2cb_ports: BTreeSet<u16> = d
        .ocfs2
        .values()
        .map(|c| c.port)
        .chain([O2CB_DEFAULT_PORT])
        .collect();
    let ocfs2_volumes: BTreeMap<&str, (&Name, usize)> = d
        .ocfs2
        .iter()
        .flat_map(|(c, spec)| {
            spec.filesystems
                .iter()
                .enumerate()
                .map(move |(i, f)| (f.volume.as_str(), (c, i)))
        })
        .collect();
    for (name, v) in &d.volumes {
        let vn = name.as_str();
        // The volume's name is its data LV's name on every node.
        if let Some(p) = lv_name_problem(vn) {
            err(out, Kind::Volume, vn, "metadata.name", p);
        }
        if vn.ends_with(FLEXIBLE_META_SUFFIX) {
            err(out, Kind::Volume, vn, "metadata.name", format!(
                "names ending in `{FLEXIBLE_META_SUFFIX}` are the flexible meta-data LVs xenflux creates (and prunes with their volume); choose another name"));
        }
        for node in &v.nodes {
            if let Some(spec) = d.nodes.get(node) {
                if spec.meta_volume.as_str() == vn {
                    err(out, Kind::Volume, vn, "metadata.name", format!(
                        "`{vn}` is node {node}'s metaVolume, the LV holding every volume's meta-data there; choose another name"));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (i, node) in v.nodes.iter().enumerate() {
            if !known(Kind::Node, node.as_str()) {
                err(
                    out,
                    Kind::Volume,
                    vn,
                    &format!("spec.nodes[{i}]"),
                    format!("unknown node `{node}`"),
                );
            }
            if !seen.insert(node) {
                err(
                    out,
                    Kind::Volume,
                    vn,
                    &format!("spec.nodes[{i}]"),
                    format!("node `{node}` is listed twice"),
                );
            }
        }
        match drbd.version {
            DrbdVersion::V84 if v.nodes.len() != 2 => err(out, Kind::Volume, vn, "spec.nodes",
                format!("DRBD 8.4 replicates between exactly two nodes, found {}; set drbd.version: \"9\" on the Cluster for more", v.nodes.len())),
            DrbdVersion::V9 if v.nodes.len() < 2 || v.nodes.len() > 32 => err(out, Kind::Volume, vn, "spec.nodes",
                format!("a DRBD 9 volume has 2 to 32 nodes, found {}", v.nodes.len())),
            _ => {}
        }
        if v.size.bytes() == 0 {
            err(
                out,
                Kind::Volume,
                vn,
                "spec.size",
                "must be greater than zero".into(),
            );
        } else if v.size.bytes() > MAX_VOLUME {
            err(
                out,
                Kind::Volume,
                vn,
                "spec.size",
                format!(
                    "{} is larger than the limit of {}",
                    v.size,
                    Size(MAX_VOLUME)
                ),
            );
        } else if v.size.bytes() % EXTENT != 0 {
            err(
                out,
                Kind::Volume,
                vn,
                "spec.size",
                format!(
                    "{} is not a whole number of 4 MiB LVM extents; LVM would round it up to {}",
                    v.size,
                    Size(v.size.bytes().div_ceil(EXTENT) * EXTENT)
                ),
            );
        }
        if let Some(i) = v.meta_index {
            if i >= drbd.max_minors.min(255) {
                err(out, Kind::Volume, vn, "spec.metaIndex", format!(
                    "slot {i} is outside 0-{}: a node holds at most maxMinors ({}) resources, so no slot beyond is needed",
                    drbd.max_minors.clamp(1, 255) - 1, drbd.max_minors));
            }
        }
        if let Some(m) = v.minor {
            if m >= drbd.max_minors || m >= DRBD_MINOR_LIMIT {
                err(
                    out,
                    Kind::Volume,
                    vn,
                    "spec.minor",
                    format!(
                        "minor {m} is outside 0-{} (maxMinors {})",
                        drbd.max_minors.saturating_sub(1),
                        drbd.max_minors
                    ),
                );
            }
        }
        if let Some(p) = v.port {
            if p == 0 {
                err(
                    out,
                    Kind::Volume,
                    vn,
                    "spec.port",
                    "port 0 is not a port".into(),
                );
            } else if o2cb_ports.contains(&p) {
                err(
                    out,
                    Kind::Volume,
                    vn,
                    "spec.port",
                    format!("port {p} is the OCFS2 o2cb port"),
                );
            }
        }
        let peers = v.nodes.len().saturating_sub(1).max(1) as u64;
        match v.meta {
            MetaKind::Indexed => {
                let cap = indexed_meta_capacity(peers);
                if v.size.bytes() > cap {
                    err(out, Kind::Volume, vn, "spec.size", format!(
                        "{} is larger than one 128 MiB indexed meta-data slot can serve ({} with {peers} peer{}); use `meta: flexible`",
                        v.size, Size(cap), if peers == 1 { "" } else { "s" }));
                }
            }
            MetaKind::Flexible | MetaKind::Internal => {
                if v.meta_index.is_some() {
                    err(
                        out,
                        Kind::Volume,
                        vn,
                        "spec.metaIndex",
                        "a meta-data slot only applies to `meta: indexed`".into(),
                    );
                }
                if v.meta == MetaKind::Internal {
                    out.push(loc.warning(Kind::Volume, vn, "spec.meta",
                        "internal meta-data lives at the end of the LV: growing the volume moves it (operators prefer indexed or flexible)"));
                }
            }
        }
        match (v.filesystem, ocfs2_volumes.get(vn)) {
            (Filesystem::Ocfs2, None) => err(out, Kind::Volume, vn, "spec.filesystem",
                "an ocfs2 volume must be a filesystem of an Ocfs2Cluster (which formats and mounts it)".into()),
            (fs, Some((c, _))) if fs != Filesystem::Ocfs2 => err(out, Kind::Volume, vn, "spec.filesystem",
                format!("Ocfs2Cluster `{c}` carries this volume, so its filesystem must be `ocfs2`")),
            _ => {}
        }
    }

    // Domains
    let mut volume_users: BTreeMap<&Name, Vec<(&Name, usize)>> = BTreeMap::new();
    for (name, dom) in &d.domains {
        let dn = name.as_str();
        if !known(Kind::Node, dom.node.as_str()) {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.node",
                format!("unknown node `{}`", dom.node),
            );
        }
        if dom.memory.bytes() > MAX_MEMORY {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.memory",
                format!(
                    "{} is more than the limit of {}",
                    dom.memory,
                    Size(MAX_MEMORY)
                ),
            );
        } else if dom.memory.bytes() < 32 * MIB || dom.memory.bytes() % MIB != 0 {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.memory",
                format!(
                    "{} must be whole MiB and at least 32MiB (xl counts memory in MiB)",
                    dom.memory
                ),
            );
        }
        if dom.vcpus == 0 || dom.vcpus > 512 {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.vcpus",
                format!("must be 1 to 512, found {}", dom.vcpus),
            );
        }
        check_domain_limits(dom, dn, loc, out);
        let direct = dom.kernel.is_some();
        match dom.kind {
            GuestType::Pv if dom.bootloader.is_none() && !direct => err(
                out,
                Kind::Domain,
                dn,
                "spec",
                "a PV domain needs `bootloader` (e.g. pygrub) or `kernel`".into(),
            ),
            GuestType::Pvh if !direct => err(
                out,
                Kind::Domain,
                dn,
                "spec.kernel",
                "a PVH domain needs `kernel`".into(),
            ),
            _ => {}
        }
        if dom.bootloader.is_some() && direct {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.bootloader",
                "give either `bootloader` or `kernel`, not both".into(),
            );
        }
        if !direct {
            for (field, set) in [
                ("ramdisk", &dom.ramdisk),
                ("extra", &dom.extra),
                ("root", &dom.root),
            ] {
                if set.is_some() {
                    err(
                        out,
                        Kind::Domain,
                        dn,
                        &format!("spec.{field}"),
                        format!("`{field}` needs `kernel`"),
                    );
                }
            }
        }
        for (field, v) in [
            ("kernel", &dom.kernel),
            ("ramdisk", &dom.ramdisk),
            ("extra", &dom.extra),
            ("root", &dom.root),
            ("bootloader", &dom.bootloader),
        ] {
            if v.as_deref().is_some_and(|s| s.contains(['"', '\n', '\\'])) {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &format!("spec.{field}"),
                    "must not contain quotes, backslashes or newlines".into(),
                );
            }
        }
        let mut targets = BTreeSet::new();
        for (i, disk) in dom.disks.iter().enumerate() {
            let field = format!("spec.disks[{i}]");
            if !valid_vdev(&disk.target) {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &format!("{field}.target"),
                    format!(
                        "`{}` is not a virtual device name (xvda, xvdb1, hda, sda, ...)",
                        disk.target
                    ),
                );
            }
            if !targets.insert(disk.target.as_str()) {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &format!("{field}.target"),
                    format!("target `{}` is used twice", disk.target),
                );
            }
            match d.volumes.get(&disk.volume) {
                None if !d.is_broken(Kind::Volume, disk.volume.as_str()) => {
                    err(
                        out,
                        Kind::Domain,
                        dn,
                        &format!("{field}.volume"),
                        format!("unknown volume `{}`", disk.volume),
                    );
                }
                None => {}
                Some(v) => {
                    if !v.nodes.contains(&dom.node) {
                        err(
                            out,
                            Kind::Domain,
                            dn,
                            &format!("{field}.volume"),
                            format!(
                            "volume `{}` is not replicated to the domain's node `{}` (it is on {})",
                            disk.volume, dom.node, join(&v.nodes)),
                        );
                    }
                    if v.filesystem == Filesystem::Ocfs2 {
                        err(out, Kind::Domain, dn, &format!("{field}.volume"), format!(
                            "volume `{}` carries the shared OCFS2 filesystem; a domain cannot use it as a disk", disk.volume));
                    }
                    if disk.mode == crate::model::DiskMode::ReadWrite {
                        volume_users
                            .entry(&disk.volume)
                            .or_default()
                            .push((name, i));
                    }
                }
            }
        }
        for (i, nic) in dom.nics.iter().enumerate() {
            let field = format!("spec.nics[{i}]");
            let bridge_name = nic.bridge.as_str();
            match d.bridges.iter().find(|(n, _)| n.as_str() == bridge_name) {
                None if !d.is_broken(Kind::Bridge, bridge_name) => {
                    err(
                        out,
                        Kind::Domain,
                        dn,
                        &format!("{field}.bridge"),
                        format!("unknown bridge `{bridge_name}`"),
                    );
                }
                None => {}
                Some((_, b)) => {
                    let on = b.nodes.as_ref().is_none_or(|ns| ns.contains(&dom.node));
                    if !on {
                        err(
                            out,
                            Kind::Domain,
                            dn,
                            &format!("{field}.bridge"),
                            format!(
                                "bridge `{bridge_name}` is not on the domain's node `{}`",
                                dom.node
                            ),
                        );
                    }
                }
            }
            if let Some(mac) = nic.mac {
                if !mac.is_xen() {
                    err(
                        out,
                        Kind::Domain,
                        dn,
                        &format!("{field}.mac"),
                        format!("{mac} is outside Xen's range 00:16:3e:xx:xx:xx"),
                    );
                }
            }
        }
    }
    for (vol, users) in volume_users {
        if users.len() > 1 {
            for (dom, i) in &users[1..] {
                err(out, Kind::Domain, dom.as_str(), &format!("spec.disks[{i}].volume"), format!(
                    "volume `{vol}` is already a writable disk of domain `{}`: two domains writing one disk corrupt it",
                    users[0].0));
            }
        }
    }
    check_capacity(d, loc, out);
    check_network(d, loc, out, &known);
    check_ocfs2(d, loc, out, &known);
}

/// The highest `priority` a domain may have.
pub const MAX_PRIORITY: u32 = 1000;

/// `maxMemory`, `maxVcpus` (never below what the domain runs with) and `priority`.
fn check_domain_limits(
    dom: &crate::model::DomainSpec,
    dn: &str,
    loc: &Locator,
    out: &mut Diagnostics,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    if let Some(max) = dom.max_memory {
        if max.bytes() > MAX_MEMORY {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.maxMemory",
                format!("{max} is more than the limit of {}", Size(MAX_MEMORY)),
            );
        } else if max.bytes() % MIB != 0 {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.maxMemory",
                format!("{max} must be whole MiB (xl counts memory in MiB)"),
            );
        } else if max.bytes() < dom.memory.bytes() {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.maxMemory",
                format!(
                    "{max} is less than memory {}: Xen cannot run a domain above its maximum",
                    dom.memory
                ),
            );
        }
    }
    if let Some(max) = dom.max_vcpus {
        if max == 0 || max > 512 {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.maxVcpus",
                format!("must be 1 to 512, found {max}"),
            );
        } else if max < dom.vcpus {
            err(
                out,
                Kind::Domain,
                dn,
                "spec.maxVcpus",
                format!(
                "{max} is less than vcpus {}: Xen cannot bring more vCPUs online than the maximum",
                dom.vcpus),
            );
        }
    }
    if dom.priority > MAX_PRIORITY {
        err(
            out,
            Kind::Domain,
            dn,
            "spec.priority",
            format!("must be 0 to {MAX_PRIORITY}, found {}", dom.priority),
        );
    }
}

fn join(names: &[Name]) -> String {
    names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn valid_vdev(t: &str) -> bool {
    let rest = ["xvd", "hd", "sd"].iter().find_map(|p| t.strip_prefix(p));
    let Some(rest) = rest else { return false };
    let letters = rest.bytes().take_while(|b| b.is_ascii_lowercase()).count();
    (1..=3).contains(&letters)
        && rest[letters..].bytes().all(|b| b.is_ascii_digit())
        && rest.len() <= 6
}

/// Memory per node (warning) and N+1: if any node fails, its peers can host its domains.
fn check_capacity(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    let running: Vec<(&Name, &crate::model::DomainSpec)> = d
        .domains
        .iter()
        .filter(|(_, dom)| dom.state == DomainState::Running)
        .collect();
    for (node, spec) in &d.nodes {
        let Some(cap) = spec.memory else { continue };
        let preferred: u64 = running
            .iter()
            .filter(|(_, dom)| &dom.node == node)
            .map(|(_, dom)| dom.memory.bytes())
            .fold(0u64, u64::saturating_add);
        if preferred > cap.bytes() {
            out.push(loc.warning(
                Kind::Node,
                node.as_str(),
                "spec.memory",
                format!(
                    "domains preferring {node} need {}, more than its {cap}",
                    Size(preferred)
                ),
            ));
            continue;
        }
        // Domains that can run here (every disk replicated here) and prefer another node.
        let can_run_here = |dom: &crate::model::DomainSpec| {
            dom.disks.iter().all(|disk| {
                d.volumes
                    .get(&disk.volume)
                    .is_some_and(|v| v.nodes.contains(node))
            })
        };
        let mut by_peer: BTreeMap<&Name, u64> = BTreeMap::new();
        for (_, dom) in &running {
            if &dom.node != node && can_run_here(dom) && !dom.disks.is_empty() {
                let e = by_peer.entry(&dom.node).or_default();
                *e = e.saturating_add(dom.memory.bytes());
            }
        }
        for (peer, extra) in by_peer {
            let total = preferred.saturating_add(extra);
            if total > cap.bytes() {
                out.push(loc.warning(Kind::Node, node.as_str(), "spec.memory", format!(
                    "N+1: if {peer} fails, {node} would host {} of domains, more than its {cap}", Size(total))));
            }
        }
    }
}

fn check_network(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    let all_nodes: Vec<Name> = d.nodes.keys().cloned().collect();
    let nodes_of = |ns: &Option<Vec<Name>>| ns.clone().unwrap_or_else(|| all_nodes.clone());
    // (node, interface) -> the master it is enslaved to, for "one master" checks.
    let mut master: BTreeMap<(Name, String), String> = BTreeMap::new();
    for (name, b) in &d.bonds {
        let bn = name.as_str();
        if let Some(p) = ifname_problem(bn) {
            out.push(loc.error(Kind::Bond, bn, "metadata.name", p));
        }
        if b.miimon > 60_000 {
            out.push(loc.error(
                Kind::Bond,
                bn,
                "spec.miimon",
                format!("at most 60000 ms, found {}", b.miimon),
            ));
        }
        if let Some(ns) = &b.nodes {
            for (i, n) in ns.iter().enumerate() {
                if !known(Kind::Node, n.as_str()) {
                    out.push(loc.error(
                        Kind::Bond,
                        bn,
                        &format!("spec.nodes[{i}]"),
                        format!("unknown node `{n}`"),
                    ));
                }
            }
        }
        if b.slaves.is_empty() {
            out.push(loc.error(
                Kind::Bond,
                bn,
                "spec.slaves",
                "a bond needs at least one slave",
            ));
        }
        if let Some(p) = &b.primary {
            if b.mode != BondMode::ActiveBackup {
                out.push(loc.error(
                    Kind::Bond,
                    bn,
                    "spec.primary",
                    "`primary` applies to mode active-backup only",
                ));
            } else if !b.slaves.contains(p) {
                out.push(loc.error(
                    Kind::Bond,
                    bn,
                    "spec.primary",
                    format!("`{p}` is not one of the slaves"),
                ));
            }
        }
        if b.lacp_rate.is_some() && b.mode != BondMode::Lacp {
            out.push(loc.error(
                Kind::Bond,
                bn,
                "spec.lacpRate",
                "`lacpRate` applies to mode 802.3ad only",
            ));
        }
        if b.xmit_hash_policy.is_some()
            && !matches!(
                b.mode,
                BondMode::Lacp | BondMode::BalanceXor | BondMode::BalanceTlb | BondMode::BalanceAlb
            )
        {
            out.push(loc.error(Kind::Bond, bn, "spec.xmitHashPolicy",
                "`xmitHashPolicy` applies to modes 802.3ad, balance-xor, balance-tlb and balance-alb"));
        }
        for (i, s) in b.slaves.iter().enumerate() {
            if d.bonds.keys().any(|n| n.as_str() == s.as_str())
                || d.bridges.keys().any(|n| n.as_str() == s.as_str())
            {
                out.push(loc.error(
                    Kind::Bond,
                    bn,
                    &format!("spec.slaves[{i}]"),
                    format!("`{s}` is a bond or bridge, not a NIC"),
                ));
                continue;
            }
            for node in nodes_of(&b.nodes) {
                if let Some(other) = master.insert((node.clone(), s.to_string()), bn.to_string()) {
                    out.push(loc.error(Kind::Bond, bn, &format!("spec.slaves[{i}]"),
                        format!("`{s}` on {node} is already enslaved to `{other}`: an interface has one master")));
                }
            }
        }
    }
    for (name, br) in &d.bridges {
        let bn = name.as_str();
        if d.bonds.contains_key(name) {
            out.push(loc.error(
                Kind::Bridge,
                bn,
                "metadata.name",
                format!("`{bn}` is also a Bond: one interface name, one device"),
            ));
        }
        for (node, gw) in &br.gateways {
            match br.addresses.get(node) {
                None => out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    &format!("spec.gateways.{node}"),
                    format!("a gateway on {node} needs an address of the bridge on {node}"),
                )),
                Some(a) if a.addr.is_ipv4() != gw.is_ipv4() => out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    &format!("spec.gateways.{node}"),
                    format!("gateway {gw} and address {a} are of different IP families"),
                )),
                Some(_) => {}
            }
        }
        if let Some(p) = ifname_problem(bn) {
            out.push(loc.error(Kind::Bridge, bn, "metadata.name", p));
        }
        let nodes = nodes_of(&br.nodes);
        if let Some(ns) = &br.nodes {
            for (i, n) in ns.iter().enumerate() {
                if !known(Kind::Node, n.as_str()) {
                    out.push(loc.error(
                        Kind::Bridge,
                        bn,
                        &format!("spec.nodes[{i}]"),
                        format!("unknown node `{n}`"),
                    ));
                }
            }
        }
        if br.ports.len() >= 2 && !br.stp {
            out.push(loc.error(
                Kind::Bridge,
                bn,
                "spec.stp",
                format!(
                "bridge with {} uplinks ({}) must run STP (`stp: true`), or it makes a loop",
                br.ports.len(), br.ports.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")),
            ));
        }
        if let Some(fd) = br.forward_delay {
            if !(2..=30).contains(&fd) {
                out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    "spec.forwardDelay",
                    format!("STP forward delay is 2 to 30 seconds, found {fd}"),
                ));
            }
        }
        for (i, p) in br.ports.iter().enumerate() {
            let field = format!("spec.ports[{i}]");
            if d.bridges.keys().any(|n| n.as_str() == p.as_str()) {
                out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    &field,
                    format!("`{p}` is a bridge; bridges do not nest"),
                ));
                continue;
            }
            if let Some((bond_name, bond)) = d.bonds.iter().find(|(n, _)| n.as_str() == p.as_str())
            {
                let bond_nodes = nodes_of(&bond.nodes);
                for node in &nodes {
                    if !bond_nodes.contains(node) {
                        out.push(loc.error(
                            Kind::Bridge,
                            bn,
                            &field,
                            format!("bond `{bond_name}` does not exist on {node}"),
                        ));
                    }
                }
            }
            for node in &nodes {
                match master.insert((node.clone(), p.to_string()), bn.to_string()) {
                    None => {}
                    Some(other) if d.bonds.keys().any(|n| n.as_str() == other) => {
                        out.push(loc.error(Kind::Bridge, bn, &field,
                            format!("`{p}` is a slave of bond `{other}` on {node}; use the bond as the bridge port")));
                    }
                    Some(other) => {
                        out.push(loc.error(Kind::Bridge, bn, &field,
                            format!("`{p}` on {node} is already a port of `{other}`: an interface has one master")));
                    }
                }
            }
        }
        for (field, keys) in [
            ("addresses", br.addresses.keys().collect::<Vec<_>>()),
            ("gateways", br.gateways.keys().collect()),
        ] {
            for n in keys {
                if !nodes.contains(n) {
                    out.push(loc.error(
                        Kind::Bridge,
                        bn,
                        &format!("spec.{field}.{n}"),
                        format!("`{n}` is not a node of this bridge"),
                    ));
                }
            }
        }
    }
}

fn check_ocfs2(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    let mut node_cluster: BTreeMap<&Name, &Name> = BTreeMap::new();
    let mut fs_volumes: BTreeMap<&Name, &Name> = BTreeMap::new();
    // Mountpoints per node: (path, cluster, filesystem index).
    let mut mounts: BTreeMap<&Name, Vec<(&MountPath, &Name, usize)>> = BTreeMap::new();
    for (name, c) in &d.ocfs2 {
        let cn = name.as_str();
        if c.port == 0 {
            out.push(loc.error(Kind::Ocfs2Cluster, cn, "spec.port", "must be 1 to 65535"));
        }
        if !cn.bytes().all(|b| b.is_ascii_alphanumeric()) || cn.len() > 16 {
            out.push(loc.error(Kind::Ocfs2Cluster, cn, "metadata.name",
                "an OCFS2 cluster name has only letters and digits, at most 16 (o2cb rejects others)"));
        }
        if c.nodes.is_empty() {
            out.push(loc.error(
                Kind::Ocfs2Cluster,
                cn,
                "spec.nodes",
                "an OCFS2 cluster needs nodes",
            ));
        }
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
            if !addrs.insert(n.address) {
                out.push(loc.error(
                    Kind::Ocfs2Cluster,
                    cn,
                    &format!("{f}.address"),
                    format!("address {} is used twice", n.address),
                ));
            }
            if let Some(other) = node_cluster.insert(&n.node, name) {
                out.push(loc.error(Kind::Ocfs2Cluster, cn, &format!("{f}.node"),
                    format!("node `{}` is already in OCFS2 cluster `{other}`; o2cb runs one cluster per node", n.node)));
            }
        }
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
            if let Some(other) = fs_volumes.insert(&f.volume, name) {
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
                mounts.entry(n).or_default().push((&f.mountpoint, name, i));
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
    check_mountpoints(&mounts, d, loc, out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units::{GIB, TIB};

    #[test]
    fn indexed_slot_capacity_is_4tib_minus_1_125gib() {
        assert_eq!(indexed_meta_capacity(1), 4 * TIB - 1152 * MIB);
        assert_eq!(indexed_meta_capacity(1), 4 * TIB - (GIB + GIB / 8));
        assert!(indexed_meta_capacity(2) < 2 * TIB);
    }

    #[test]
    fn flexible_meta_follows_the_drbd_formula() {
        // 256 MiB of data: 2^19 sectors → 2 bitmap chunks → 16 + 72 = 88 sectors (real drbdmeta: 88),
        // rounded up to one 4 MiB extent.
        assert_eq!(flexible_meta_size(Size(256 * MIB), 1), Size(4 * MIB));
        // 8 TiB with one peer: ⌈2^34 / 2^18⌉ × 8 + 72 = 524360 sectors = 256.04 MiB → 260 MiB.
        assert_eq!(flexible_meta_size(Size(8 * TIB), 1), Size(260 * MIB));
        // two peers double the bitmap
        assert_eq!(flexible_meta_size(Size(8 * TIB), 2), Size(516 * MIB));
    }

    #[test]
    fn vdev_names() {
        for ok in ["xvda", "xvdb1", "hda", "sdc", "xvdaa"] {
            assert!(valid_vdev(ok), "{ok}");
        }
        for bad in ["xvd", "vda", "xvda;", "xvdA", "/dev/xvda"] {
            assert!(!valid_vdev(bad), "{bad}");
        }
    }
}
