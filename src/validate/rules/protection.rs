//! Rules for a Domain's `protection` (Remus): a shadow needs one peer that holds every disk of
//! the domain — each disk a DRBD volume replicated to exactly the domain's node and one other —
//! and disk replication Xen can do with the DRBD xenflux runs.

use std::collections::BTreeSet;

use crate::diag::Diagnostics;
use crate::model::{DiskReplication, DomainSpec, Kind, Name};

use super::super::decode::{Decoded, Locator};

/// Why Remus's own DRBD disk replication is refused, in one sentence.
pub const NO_PROTOCOL_D: &str = "Remus's DRBD disk replication needs DRBD's protocol D (the \
     Remus patch to DRBD, which in-tree DRBD 8.4 and DRBD 9 do not have: Xen's block-drbd-probe \
     refuses a device whose `drbdsetup show` lacks `protocol D;`, and then `xl remus` fails); \
     use `diskReplication: none` (xl remus -d -F)";

pub(super) fn check_protection(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    for (name, dom) in &d.domains {
        if let Some(p) = &dom.protection {
            check_one(d, loc, out, name, dom, p.disk_replication);
        }
    }
}

fn check_one(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    name: &Name,
    dom: &DomainSpec,
    disks: DiskReplication,
) {
    let mut err = |field: &str, msg: String| {
        out.push(loc.error(Kind::Domain, name.as_str(), field, msg));
    };
    if disks == DiskReplication::Drbd {
        err("spec.protection.diskReplication", NO_PROTOCOL_D.into());
    }
    if dom.disks.is_empty() {
        err(
            "spec.protection",
            "a protected domain needs its disks on DRBD volumes: they name the peer that holds its shadow"
                .into(),
        );
    }
    let mut pairs: BTreeSet<Vec<&Name>> = BTreeSet::new();
    for (i, disk) in dom.disks.iter().enumerate() {
        let field = format!("spec.disks[{i}].volume");
        let Some(volume) = &disk.volume else {
            err(
                &format!("spec.disks[{i}].file"),
                "a protected domain's disks are DRBD volumes: the shadow's peer is the other node of \
                 its volumes, and an image file has none"
                    .into(),
            );
            continue;
        };
        // An unknown volume is reported by the disk rules.
        let Some(v) = d.volumes.get(volume) else {
            continue;
        };
        if v.nodes.len() != 2 || !v.nodes.contains(&dom.node) {
            err(
                &field,
                format!(
                    "volume `{}` is on {}: a protected domain's volumes are replicated to its node `{}` and \
                     exactly one other, which holds the shadow",
                    volume,
                    v.nodes.iter().map(Name::as_str).collect::<Vec<_>>().join(", "),
                    dom.node
                ),
            );
            continue;
        }
        if disks == DiskReplication::None && !v.dual_primary {
            err(
                &field,
                format!(
                    "volume `{}` must be `dualPrimary: true`: with `diskReplication: none` the shadow on the peer \
                     holds the DRBD device open, which DRBD allows only on a Primary",
                    volume
                ),
            );
        }
        let mut pair: Vec<&Name> = v.nodes.iter().collect();
        pair.sort();
        pairs.insert(pair);
    }
    if pairs.len() > 1 {
        err(
            "spec.disks",
            format!(
                "its volumes are on different pairs of nodes ({}): the shadow needs one peer holding them all",
                pairs
                    .iter()
                    .map(|p| p.iter().map(|n| n.as_str()).collect::<Vec<_>>().join("+"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}
