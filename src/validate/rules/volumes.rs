//! Rules for Volumes: names (the data LV's), nodes per DRBD version, size in whole extents and
//! within limits, pinned slot, minor and port, the meta-data kind, and OCFS2 filesystems.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostics;
use crate::model::names::lv_name_problem;
use crate::model::{
    DrbdSettings, DrbdVersion, Filesystem, Kind, MetaKind, Name, Size, VolumeSpec,
    O2CB_DEFAULT_PORT,
};

use super::super::decode::{Decoded, Locator};
use super::{indexed_meta_capacity, DRBD_MINOR_LIMIT, EXTENT, FLEXIBLE_META_SUFFIX, MAX_VOLUME};

pub(super) fn check_volumes(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    drbd: &DrbdSettings,
    known: &dyn Fn(Kind, &str) -> bool,
) {
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
        check_name(d, loc, out, vn, v);
        check_nodes(loc, out, drbd, known, vn, v);
        check_size(loc, out, vn, v);
        check_numbers(loc, out, drbd, &o2cb_ports, vn, v);
        check_meta(loc, out, vn, v);
        check_filesystem(loc, out, &ocfs2_volumes, vn, v);
    }
}

/// The volume's name is its data LV's name on every node.
fn check_name(d: &Decoded, loc: &Locator, out: &mut Diagnostics, vn: &str, v: &VolumeSpec) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// Its nodes: known, listed once, as many as the DRBD version replicates between.
fn check_nodes(
    loc: &Locator,
    out: &mut Diagnostics,
    drbd: &DrbdSettings,
    known: &dyn Fn(Kind, &str) -> bool,
    vn: &str,
    v: &VolumeSpec,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// Its size: above zero, within the limit, whole LVM extents.
fn check_size(loc: &Locator, out: &mut Diagnostics, vn: &str, v: &VolumeSpec) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// Its pinned meta-data slot, minor and port.
fn check_numbers(
    loc: &Locator,
    out: &mut Diagnostics,
    drbd: &DrbdSettings,
    o2cb_ports: &BTreeSet<u16>,
    vn: &str,
    v: &VolumeSpec,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// Its meta-data kind: an indexed slot that can serve its size; a slot only when indexed.
fn check_meta(loc: &Locator, out: &mut Diagnostics, vn: &str, v: &VolumeSpec) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
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
}

/// An ocfs2 filesystem exactly when an Ocfs2Cluster carries the volume.
fn check_filesystem(
    loc: &Locator,
    out: &mut Diagnostics,
    ocfs2_volumes: &BTreeMap<&str, (&Name, usize)>,
    vn: &str,
    v: &VolumeSpec,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    match (v.filesystem, ocfs2_volumes.get(vn)) {
        (Filesystem::Ocfs2, None) => err(
            out,
            Kind::Volume,
            vn,
            "spec.filesystem",
            "an ocfs2 volume must be a filesystem of an Ocfs2Cluster (which formats and mounts it)"
                .into(),
        ),
        (fs, Some((c, _))) if fs != Filesystem::Ocfs2 => err(
            out,
            Kind::Volume,
            vn,
            "spec.filesystem",
            format!("Ocfs2Cluster `{c}` carries this volume, so its filesystem must be `ocfs2`"),
        ),
        _ => {}
    }
}
