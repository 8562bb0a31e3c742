//! Rules for Domains: node, memory and vCPUs (and their maximums), boot, disks (known volumes
//! on the domain's node or image files — see `images` —, never one written by two domains), NICs; and node memory for the
//! domains that prefer or may fail over to each node.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostics;
use crate::model::units::MIB;
use crate::model::{DomainSpec, DomainState, Filesystem, GuestType, Kind, Name, Size};

use super::super::decode::{Decoded, Locator};
use super::{images, MAX_MEMORY};

/// Who uses each disk, in document order: writable volumes (domain, disk index), and images.
#[derive(Default)]
struct Users<'d> {
    volumes: BTreeMap<&'d Name, Vec<(&'d Name, usize)>>,
    images: images::ImageUsers<'d>,
}

/// Each domain (size, boot, disks, NICs), then the volumes two domains would write.
pub(super) fn check_domains(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    let mut users = Users::default();
    for (name, dom) in &d.domains {
        let dn = name.as_str();
        check_size(loc, out, known, dom, dn);
        check_boot(loc, out, dom, dn);
        check_disks(d, loc, out, name, dom, &mut users);
        check_nics(d, loc, out, dom, dn);
    }
    check_shared_disks(loc, out, users.volumes);
    images::check_shared_images(loc, out, users.images);
}

/// Its node, memory and vCPUs, and their maximums and priority.
fn check_size(
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
    dom: &DomainSpec,
    dn: &str,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// How it boots: a bootloader or a kernel (with what only a kernel takes), per guest type.
fn check_boot(loc: &Locator, out: &mut Diagnostics, dom: &DomainSpec, dn: &str) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// Its disks: virtual device names, once each; each a known volume replicated to its node
/// (never the OCFS2 one) or an image file (see `images`); recorded in `users`.
fn check_disks<'d>(
    d: &'d Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    name: &'d Name,
    dom: &'d DomainSpec,
    users: &mut Users<'d>,
) {
    let dn = name.as_str();
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
        let vol = match (&disk.volume, &disk.file) {
            (Some(_), Some(_)) => {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &field,
                    "give either `volume` (a DRBD Volume) or `file` (an image on OCFS2), not both"
                        .into(),
                );
                continue;
            }
            (None, None) => {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &field,
                    "a disk needs `volume` (a DRBD Volume) or `file` (an image on OCFS2)".into(),
                );
                continue;
            }
            (None, Some(path)) => {
                images::check_file_disk(d, loc, out, dn, dom, i, path);
                users
                    .images
                    .entry(path)
                    .or_default()
                    .push((name, i, disk.mode));
                continue;
            }
            (Some(vol), None) => vol,
        };
        if disk.size.is_some() {
            err(out, Kind::Domain, dn, &format!("{field}.size"), format!(
                "`size` is for `file` disks only: volume `{vol}` has its size in the Volume's `spec.size`"));
        }
        match d.volumes.get(vol) {
            None if !d.is_broken(Kind::Volume, vol.as_str()) => {
                err(
                    out,
                    Kind::Domain,
                    dn,
                    &format!("{field}.volume"),
                    format!("unknown volume `{vol}`"),
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
                            "volume `{vol}` is not replicated to the domain's node `{}` (it is on {})",
                            dom.node,
                            join(&v.nodes)
                        ),
                    );
                }
                if v.filesystem == Filesystem::Ocfs2 {
                    err(out, Kind::Domain, dn, &format!("{field}.volume"), format!(
                        "volume `{vol}` carries the shared OCFS2 filesystem; a domain cannot use it as a disk (give an image `file` on it)"));
                }
                if disk.mode == crate::model::DiskMode::ReadWrite {
                    users.volumes.entry(vol).or_default().push((name, i));
                }
            }
        }
    }
}

/// Its NICs: known bridges on its node, Xen MACs.
fn check_nics(d: &Decoded, loc: &Locator, out: &mut Diagnostics, dom: &DomainSpec, dn: &str) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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

/// A volume that is a writable disk of two domains.
fn check_shared_disks(
    loc: &Locator,
    out: &mut Diagnostics,
    volume_users: BTreeMap<&Name, Vec<(&Name, usize)>>,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    for (vol, users) in volume_users {
        if users.len() > 1 {
            for (dom, i) in &users[1..] {
                err(out, Kind::Domain, dom.as_str(), &format!("spec.disks[{i}].volume"), format!(
                    "volume `{vol}` is already a writable disk of domain `{}`: two domains writing one disk corrupt it",
                    users[0].0));
            }
        }
    }
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

pub(super) fn valid_vdev(t: &str) -> bool {
    let rest = ["xvd", "hd", "sd"].iter().find_map(|p| t.strip_prefix(p));
    let Some(rest) = rest else { return false };
    let letters = rest.bytes().take_while(|b| b.is_ascii_lowercase()).count();
    (1..=3).contains(&letters)
        && rest[letters..].bytes().all(|b| b.is_ascii_digit())
        && rest.len() <= 6
}

/// Memory per node (warning) and N+1: if any node fails, its peers can host its domains.
pub(super) fn check_capacity(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    // One pass over the running domains: the memory each node's own domains need, and what
    // each node would take on from each peer (domains that can run there: every disk
    // replicated there). Only nodes of a domain's first disk can hold all of its disks.
    let mut preferred: BTreeMap<&Name, u64> = BTreeMap::new();
    let mut from_peer: BTreeMap<Name, BTreeMap<&Name, u64>> = BTreeMap::new();
    for dom in d.domains.values() {
        if dom.state != DomainState::Running {
            continue;
        }
        let mem = dom.memory.bytes();
        let e = preferred.entry(&dom.node).or_default();
        *e = e.saturating_add(mem);
        let Some(first) = dom.disks.first().and_then(|k| images::disk_nodes(d, k)) else {
            continue;
        };
        let nodes: Vec<Option<Vec<Name>>> =
            dom.disks.iter().map(|k| images::disk_nodes(d, k)).collect();
        let hosts: BTreeSet<Name> = first.into_iter().collect();
        for node in hosts {
            let can_run_here = nodes
                .iter()
                .all(|ns| ns.as_ref().is_some_and(|ns| ns.contains(&node)));
            if node != dom.node && can_run_here {
                let e = from_peer
                    .entry(node)
                    .or_default()
                    .entry(&dom.node)
                    .or_default();
                *e = e.saturating_add(mem);
            }
        }
    }
    for (node, spec) in &d.nodes {
        let Some(cap) = spec.memory else { continue };
        let preferred = preferred.get(node).copied().unwrap_or(0);
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
        for (peer, extra) in from_peer.get(node).into_iter().flatten() {
            let total = preferred.saturating_add(*extra);
            if total > cap.bytes() {
                out.push(loc.warning(Kind::Node, node.as_str(), "spec.memory", format!(
                    "N+1: if {peer} fails, {node} would host {} of domains, more than its {cap}", Size(total))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
