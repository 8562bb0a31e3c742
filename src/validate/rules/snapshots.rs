//! Rules for Snapshots: a known, single-primary volume; a copy-on-write size in whole extents
//! that the origin can fill; an LV name no node uses for anything else; and, when attached, a
//! running domain that can run beside the volume, on a virtual device none of its own disks or
//! other snapshots use.

use std::collections::BTreeMap;

use crate::diag::Diagnostics;
use crate::model::{snapshot_lv, DomainState, Kind, Name};

use super::super::decode::{Decoded, Locator};
use super::domains::valid_vdev;
use super::EXTENT;

/// Snapshots in one desired state at most: each keeps copy-on-write work on its origin's writes.
pub const MAX_SNAPSHOTS: usize = 256;

pub(super) fn check_snapshots(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    // (domain, target) → the snapshot attached there first.
    let mut attached: BTreeMap<(&Name, &str), &Name> = BTreeMap::new();
    for (i, (name, s)) in d.snapshots.iter().enumerate() {
        let mut err = |field: &str, message: String| {
            out.push(loc.error(Kind::Snapshot, name.as_str(), field, message))
        };
        if i == MAX_SNAPSHOTS {
            err(
                "metadata.name",
                format!("more than {MAX_SNAPSHOTS} Snapshots: each slows its volume's writes"),
            );
        }
        let volume = d.volumes.get(&s.volume);
        if volume.is_none() && !known(Kind::Volume, s.volume.as_str()) {
            err("spec.volume", format!("unknown volume `{}`", s.volume));
        }
        if let Some(v) = volume {
            if v.dual_primary {
                err(
                    "spec.volume",
                    format!(
                        "volume `{}` is dual-primary: a snapshot of one node's LV misses the other \
                         node's writes in flight, and its OCFS2 cannot be mounted outside its cluster",
                        s.volume
                    ),
                );
            }
        }
        let size = s.size.bytes();
        if size < EXTENT || size % EXTENT != 0 {
            err(
                "spec.size",
                format!(
                    "{} is not a whole number of 4 MiB extents of at least one (LVM would round it)",
                    s.size
                ),
            );
        } else if let Some(v) = volume.filter(|v| size > v.size.bytes()) {
            err(
                "spec.size",
                format!(
                    "{} is more than volume `{}` ({}): the origin can never fill more, and LVM would \
                     shrink it",
                    s.size, s.volume, v.size
                ),
            );
        }
        let lv = snapshot_lv(name.as_str());
        for n in volume.map(|v| v.nodes.as_slice()).unwrap_or_default() {
            if d.nodes
                .get(n)
                .is_some_and(|ns| ns.meta_volume.as_str() == lv)
            {
                err(
                    "metadata.name",
                    format!("its LV {lv} is node {n}'s meta-data LV"),
                );
            }
        }
        let Some(at) = &s.attach else { continue };
        if !valid_vdev(&at.target) || !at.target.starts_with("xvd") {
            err(
                "spec.attach.target",
                format!(
                    "`{}` is not a Xen virtual device name (xvdb, xvdc, ...)",
                    at.target
                ),
            );
        }
        let Some(dom) = d.domains.get(&at.domain) else {
            if !known(Kind::Domain, at.domain.as_str()) {
                err(
                    "spec.attach.domain",
                    format!("unknown domain `{}`", at.domain),
                );
            }
            continue;
        };
        if dom.state == DomainState::Stopped {
            err(
                "spec.attach.domain",
                format!(
                    "domain `{}` is `state: stopped`: a snapshot is hot-attached to a running domain",
                    at.domain
                ),
            );
        }
        if let Some(v) = volume.filter(|v| !v.nodes.contains(&dom.node)) {
            err(
                "spec.attach.domain",
                format!(
                    "domain `{}` runs on {}, which holds no LV of volume `{}` (nodes {}): a \
                     snapshot is a local LV and attaches only to a domain on its own node",
                    at.domain,
                    dom.node,
                    s.volume,
                    v.nodes
                        .iter()
                        .map(Name::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if dom.disks.iter().any(|k| k.target == at.target) {
            err(
                "spec.attach.target",
                format!(
                    "`{}` is a disk of domain `{}` already",
                    at.target, at.domain
                ),
            );
        }
        if let Some(first) = attached.insert((&at.domain, at.target.as_str()), name) {
            attached.insert((&at.domain, at.target.as_str()), first);
            err(
                "spec.attach.target",
                format!(
                    "snapshot `{first}` is attached to domain `{}` as `{}` already",
                    at.domain, at.target
                ),
            );
        }
    }
}
