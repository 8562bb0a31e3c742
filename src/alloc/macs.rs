//! Domain MACs: pinned ones unique, kept ones kept, new ones the lowest free in a block of Xen's
//! range chosen from the cluster name. Deterministic, like every allocation.

use std::collections::BTreeMap;

use crate::diag::Diagnostics;
use crate::model::{Desired, Kind, Mac, Name};
use crate::validate::Locator;

use super::{Assigned, Existing, Origin};

/// MACs: pinned ones must be unique; kept ones stay; new ones are the lowest free in a block of
/// Xen's range chosen from the cluster name, so two clusters on one LAN rarely meet.
pub(super) fn allocate_macs(
    desired: &Desired,
    existing: &Existing,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> BTreeMap<Name, Vec<Assigned<Mac>>> {
    let mut used: BTreeMap<Mac, String> = existing
        .foreign_macs
        .iter()
        .map(|m| (*m, "a domain outside this state".to_string()))
        .chain(
            existing
                .macs
                .iter()
                .filter(|((dom, _), _)| !desired.domains.contains_key(dom))
                .map(|((dom, i), m)| {
                    (
                        *m,
                        format!("domain `{dom}` NIC {i} (on the cluster, not in this state)"),
                    )
                }),
        )
        .collect();
    let mut fixed: BTreeMap<(Name, usize), Assigned<Mac>> = BTreeMap::new();
    for (dom, spec) in &desired.domains {
        for (i, nic) in spec.nics.iter().enumerate() {
            let owner = format!("domain `{dom}` NIC {i}");
            let pick = match (nic.mac, existing.macs.get(&(dom.clone(), i))) {
                (Some(p), _) => Some(Assigned {
                    value: p,
                    origin: Origin::Pinned,
                }),
                (None, Some(k)) => Some(Assigned {
                    value: *k,
                    origin: Origin::Kept,
                }),
                (None, None) => None,
            };
            let Some(pick) = pick else { continue };
            if let Some(other) = used.get(&pick.value) {
                diags.push(loc.error(
                    Kind::Domain,
                    dom.as_str(),
                    &format!("spec.nics[{i}].mac"),
                    format!("MAC {} is already used by {other}", pick.value),
                ));
                continue;
            }
            used.insert(pick.value, owner);
            fixed.insert((dom.clone(), i), pick);
        }
    }
    let base = fnv1a(desired.cluster_name.as_bytes()) % 0xff * 0x1_0000 + 1;
    let mut next = base;
    let mut out = BTreeMap::new();
    for (dom, spec) in &desired.domains {
        let mut list = Vec::with_capacity(spec.nics.len());
        for i in 0..spec.nics.len() {
            if let Some(f) = fixed.get(&(dom.clone(), i)) {
                list.push(*f);
                continue;
            }
            while used.contains_key(&Mac::xen(next)) {
                next = (next + 1) & 0xff_ffff;
            }
            let mac = Mac::xen(next);
            used.insert(mac, format!("domain `{dom}` NIC {i}"));
            list.push(Assigned {
                value: mac,
                origin: Origin::New,
            });
        }
        out.insert(dom.clone(), list);
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}
