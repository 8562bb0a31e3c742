//! Allocation of DRBD minors, TCP ports, indexed meta-data slots and domain MACs.
//!
//! Deterministic (ordered maps only; same input → same result) and sticky: a value already in
//! use for an object (from [`Existing`], filled from observation) is kept, pins are honoured, and
//! everything else gets the lowest value free on every node involved. Exhaustion and conflicts are
//! diagnostics located at the object that could not be served.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::diag::Diagnostics;
use crate::model::{Desired, Kind, Mac, MetaKind, Name, Size, VolumeSpec};
use crate::validate::rules::{flexible_meta_size, META_SLOT};
use crate::validate::Locator;

mod macs;

/// What nodes already use, as observed. Empty for a cluster that has never been observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Existing {
    pub nodes: BTreeMap<Name, NodeUsage>,
    /// MAC of a domain's NIC (by NIC index) as seen in its running config or `.cfg` file.
    pub macs: BTreeMap<(Name, usize), Mac>,
    /// MACs in use by domains the desired state does not know.
    pub foreign_macs: BTreeSet<Mac>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeUsage {
    /// DRBD resources configured on the node, by resource name.
    pub resources: BTreeMap<String, ResourceUse>,
    /// TCP ports something listens on (`ss -Htln`).
    pub listening: BTreeSet<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResourceUse {
    pub minor: Option<u32>,
    pub port: Option<u16>,
    pub meta_index: Option<u32>,
    /// DRBD 9 node-ids of the resource's hosts as this node's configuration has them.
    pub node_ids: BTreeMap<String, u32>,
}

/// Where an allocated value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Written in the desired state.
    Pinned,
    /// Already in use for this object on the cluster.
    Kept,
    /// Allocated now.
    New,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned<T> {
    pub value: T,
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum MetaAlloc {
    /// Slot `index` of the node's meta LV.
    Indexed {
        index: u32,
        origin: Origin,
    },
    /// A meta LV of its own (`NAME-md`) of this size.
    Flexible {
        size: Size,
    },
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAlloc {
    pub minor: Assigned<u32>,
    pub port: Assigned<u16>,
    pub meta: MetaAlloc,
    /// DRBD 9 node-id of each node of the volume (kept once seen, else the lowest free).
    pub node_ids: BTreeMap<Name, u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub volumes: BTreeMap<Name, VolumeAlloc>,
    /// Size each node's meta LV needs: (highest slot + 1) × 128 MiB. Only nodes with indexed slots.
    pub meta_lv_size: BTreeMap<Name, Size>,
    /// MAC of every NIC of every domain, in NIC order.
    pub macs: BTreeMap<Name, Vec<Assigned<Mac>>>,
}

impl Allocation {
    /// How many values of each sort this allocation made new (pins and kept values excluded).
    pub fn new_counts(&self) -> (usize, usize, usize, usize) {
        let minors = self
            .volumes
            .values()
            .filter(|v| v.minor.origin == Origin::New)
            .count();
        let ports = self
            .volumes
            .values()
            .filter(|v| v.port.origin == Origin::New)
            .count();
        let slots = self
            .volumes
            .values()
            .filter(|v| {
                matches!(
                    v.meta,
                    MetaAlloc::Indexed {
                        origin: Origin::New,
                        ..
                    }
                )
            })
            .count();
        let macs = self
            .macs
            .values()
            .flatten()
            .filter(|m| m.origin == Origin::New)
            .count();
        (minors, ports, slots, macs)
    }
}

/// One sort of per-node number (minor, port, meta slot) for the generic assignment below.
struct Numbers<'a> {
    what: &'static str,
    field: &'static str,
    /// Values in allocation order; never more than a constant bound (65536 ports), whatever
    /// the input says.
    candidates: Vec<u32>,
    /// Pins at or above this are not taken (validation reports them).
    pin_limit: u32,
    exhausted: &'a dyn Fn(&Name, usize) -> String,
}

struct Want<'a> {
    volume: &'a Name,
    nodes: &'a [Name],
    pin: Option<u32>,
}

/// Numbers already taken on each node, and by what.
type Used = BTreeMap<Name, BTreeMap<u32, String>>;

/// What each node holds that is not a desired volume on that node: orphans keep their numbers.
#[derive(Default)]
struct Busy {
    minor: Used,
    port: Used,
    slot: Used,
}

/// The numbers of one sort assigned to each volume.
type Assignments = BTreeMap<Name, Assigned<u32>>;

/// Minors, ports and meta-data slots for every volume (then its meta LV sizes and node-ids),
/// and MACs for every NIC; what cannot be served is a diagnostic.
pub fn allocate(
    desired: &Desired,
    existing: &Existing,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Allocation {
    let busy = busy(desired, existing);
    let volumes: Vec<(&Name, &VolumeSpec)> = desired.volumes.iter().collect();
    let kept = Kept { existing, loc };
    let minors = minors(desired, &volumes, &kept, busy.minor, loc, diags);
    let ports = ports(desired, &volumes, &kept, busy.port, loc, diags);
    let slots = slots(desired, &volumes, &kept, busy.slot.clone(), loc, diags);
    Allocation {
        volumes: volume_allocs(&volumes, &minors, &ports, &slots, existing),
        meta_lv_size: meta_lv_sizes(&volumes, &slots, &busy.slot),
        macs: macs::allocate_macs(desired, existing, loc, diags),
    }
}

/// Minors, ports and meta slots that nodes use for something else: a listening service, or a
/// resource that is not a desired volume there.
fn busy(desired: &Desired, existing: &Existing) -> Busy {
    let mut busy = Busy::default();
    for (node, usage) in &existing.nodes {
        let ours: BTreeSet<u16> = usage.resources.values().filter_map(|r| r.port).collect();
        for p in usage.listening.iter().filter(|p| !ours.contains(p)) {
            busy.port
                .entry(node.clone())
                .or_default()
                .insert(u32::from(*p), format!("a listening service (port {p})"));
        }
        for (res, r) in &usage.resources {
            let desired_here = desired
                .volumes
                .get(res.as_str())
                .is_some_and(|v| v.nodes.contains(node));
            if desired_here {
                continue;
            }
            let owner = format!("resource `{res}` already on {node}");
            if let Some(m) = r.minor {
                busy.minor
                    .entry(node.clone())
                    .or_default()
                    .insert(m, owner.clone());
            }
            if let Some(p) = r.port {
                busy.port
                    .entry(node.clone())
                    .or_default()
                    .insert(u32::from(p), owner.clone());
            }
            if let Some(i) = r.meta_index {
                busy.slot.entry(node.clone()).or_default().insert(i, owner);
            }
        }
    }
    busy
}

/// The value a volume's nodes already use for one of its numbers.
struct Kept<'k> {
    existing: &'k Existing,
    loc: &'k Locator,
}

impl Kept<'_> {
    /// The value the nodes agree on; an error when they disagree (the lowest is returned).
    fn value(
        &self,
        volume: &Name,
        nodes: &[Name],
        pick: fn(&ResourceUse) -> Option<u32>,
        field: &str,
        diags: &mut Diagnostics,
    ) -> Option<u32> {
        // Most volumes have two nodes: no map or set is built unless they disagree.
        let seen: Vec<(&Name, u32)> = nodes
            .iter()
            .filter_map(|n| {
                let r = self.existing.nodes.get(n)?.resources.get(volume.as_str())?;
                pick(r).map(|v| (n, v))
            })
            .collect();
        let lowest = seen.iter().map(|(_, v)| *v).min();
        if seen.iter().any(|(_, v)| Some(*v) != lowest) {
            let seen: BTreeMap<&Name, u32> = seen.into_iter().collect();
            let list: Vec<String> = seen.iter().map(|(n, v)| format!("{n}: {v}")).collect();
            diags.push(self.loc.error(
                Kind::Volume,
                volume.as_str(),
                field,
                format!(
                "the nodes disagree about this resource's {} ({}); fix the resource by hand first",
                field.trim_start_matches("spec."), list.join(", ")),
            ));
        }
        lowest
    }
}

/// minor_count is 1 to 255 (validation says so); a wrong value never sizes anything here.
fn max_minors(desired: &Desired) -> u32 {
    desired.cluster.drbd.max_minors.clamp(1, 255)
}

/// DRBD minors: below maxMinors on every node of the volume.
fn minors(
    desired: &Desired,
    volumes: &[(&Name, &VolumeSpec)],
    kept: &Kept,
    busy: Used,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Assignments {
    let max = max_minors(desired);
    let minor_exhausted = |node: &Name, count: usize| {
        format!("no free DRBD minor on {node}: the node would have {count} DRBD devices, more than maxMinors {max} (minors 0-{})", max.saturating_sub(1))
    };
    assign(
        &Numbers {
            what: "minor",
            field: "spec.minor",
            candidates: (0..max).collect(),
            pin_limit: max,
            exhausted: &minor_exhausted,
        },
        volumes
            .iter()
            .map(|(n, v)| Want {
                volume: n,
                nodes: &v.nodes,
                pin: v.minor,
            })
            .collect(),
        |w, d| kept.value(w.volume, w.nodes, |r| r.minor, "spec.minor", d),
        busy,
        loc,
        diags,
    )
}

/// TCP ports: from the cluster's pool, never an OCFS2 o2cb port.
fn ports(
    desired: &Desired,
    volumes: &[(&Name, &VolumeSpec)],
    kept: &Kept,
    busy: Used,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Assignments {
    let o2cb_ports: BTreeSet<u32> = desired
        .ocfs2
        .values()
        .map(|c| u32::from(c.port))
        .chain([u32::from(crate::model::O2CB_DEFAULT_PORT)])
        .collect();
    let (first, last) = (
        desired.cluster.drbd.ports.first,
        desired.cluster.drbd.ports.last,
    );
    let port_exhausted = |node: &Name, _count: usize| {
        format!("port pool {first}-{last} is exhausted on {node}: every port is in use or reserved for OCFS2")
    };
    assign(
        &Numbers {
            what: "port",
            field: "spec.port",
            candidates: (u32::from(first)..=u32::from(last))
                .filter(|p| !o2cb_ports.contains(p))
                .collect(),
            pin_limit: 1 << 16,
            exhausted: &port_exhausted,
        },
        volumes
            .iter()
            .map(|(n, v)| Want {
                volume: n,
                nodes: &v.nodes,
                pin: v.port.map(u32::from),
            })
            .collect(),
        |w, d| kept.value(w.volume, w.nodes, |r| r.port.map(u32::from), "spec.port", d),
        busy,
        loc,
        diags,
    )
}

/// Indexed meta-data slots, for the volumes with `meta: indexed`.
fn slots(
    desired: &Desired,
    volumes: &[(&Name, &VolumeSpec)],
    kept: &Kept,
    busy: Used,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Assignments {
    let max = max_minors(desired);
    let slot_exhausted = |node: &Name, count: usize| {
        format!("no free meta-data slot on {node} ({count} slots in use)")
    };
    assign(
        &Numbers {
            what: "meta-data slot",
            field: "spec.metaIndex",
            // A node holds at most maxMinors resources, so it never needs more slots.
            candidates: (0..max).collect(),
            pin_limit: max,
            exhausted: &slot_exhausted,
        },
        volumes
            .iter()
            .filter(|(_, v)| v.meta == MetaKind::Indexed)
            .map(|(n, v)| Want {
                volume: n,
                nodes: &v.nodes,
                pin: v.meta_index,
            })
            .collect(),
        |w, d| kept.value(w.volume, w.nodes, |r| r.meta_index, "spec.metaIndex", d),
        busy,
        loc,
        diags,
    )
}

/// Each volume that got every number it needs: minor, port, meta-data, node-ids.
fn volume_allocs(
    volumes: &[(&Name, &VolumeSpec)],
    minors: &Assignments,
    ports: &Assignments,
    slots: &Assignments,
    existing: &Existing,
) -> BTreeMap<Name, VolumeAlloc> {
    let seen_ids = seen_node_ids(existing);
    let mut out = BTreeMap::new();
    for (name, v) in volumes {
        let (Some(minor), Some(port)) = (minors.get(*name), ports.get(*name)) else {
            continue;
        };
        let meta = match v.meta {
            MetaKind::Indexed => match slots.get(*name) {
                Some(s) => MetaAlloc::Indexed {
                    index: s.value,
                    origin: s.origin,
                },
                None => continue,
            },
            MetaKind::Flexible => MetaAlloc::Flexible {
                size: flexible_meta_size(v.size, v.nodes.len().saturating_sub(1) as u64),
            },
            MetaKind::Internal => MetaAlloc::Internal,
        };
        let port = Assigned {
            value: u16::try_from(port.value).unwrap_or(u16::MAX),
            origin: port.origin,
        };
        let node_ids = node_ids(name, &v.nodes, &seen_ids);
        out.insert(
            (*name).clone(),
            VolumeAlloc {
                minor: *minor,
                port,
                meta,
                node_ids,
            },
        );
    }
    out
}

/// Meta LV size per node: highest slot in use (ours or an orphan's) + 1.
fn meta_lv_sizes(
    volumes: &[(&Name, &VolumeSpec)],
    slots: &Assignments,
    busy_slot: &Used,
) -> BTreeMap<Name, Size> {
    let mut highest: BTreeMap<Name, u32> = BTreeMap::new();
    for (name, v) in volumes {
        if let Some(s) = slots.get(*name) {
            for n in v.nodes.iter() {
                let h = highest.entry(n.clone()).or_insert(0);
                *h = (*h).max(s.value);
            }
        }
    }
    for (node, used) in busy_slot {
        if let Some(max_orphan) = used.keys().max() {
            let h = highest.entry(node.clone()).or_insert(0);
            *h = (*h).max(*max_orphan);
        }
    }
    highest
        .into_iter()
        .map(|(n, h)| (n, Size((u64::from(h) + 1) * META_SLOT)))
        .collect()
}

/// The node-id each (resource, host) has in the first node's configuration (in node order)
/// that gives it one: one pass over the observation instead of one per host of every volume.
type SeenIds<'e> = BTreeMap<(&'e str, &'e str), u32>;

fn seen_node_ids(existing: &Existing) -> SeenIds<'_> {
    let mut seen = SeenIds::new();
    for usage in existing.nodes.values() {
        for (res, r) in &usage.resources {
            for (host, id) in &r.node_ids {
                seen.entry((res.as_str(), host.as_str())).or_insert(*id);
            }
        }
    }
    seen
}

/// DRBD 9 node-ids within one resource: an id any node's configuration already gives a host is
/// kept (so reordering `nodes` changes nothing), the other hosts take the lowest free ids.
fn node_ids(volume: &Name, nodes: &[Name], seen_ids: &SeenIds) -> BTreeMap<Name, u32> {
    let mut out = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for n in nodes {
        let seen = seen_ids.get(&(volume.as_str(), n.as_str())).copied();
        if let Some(id) = seen.filter(|id| !taken.contains(id)) {
            taken.insert(id);
            out.insert(n.clone(), id);
        }
    }
    for n in nodes {
        if !out.contains_key(n) {
            let id = (0..).find(|i| !taken.contains(i)).unwrap_or(0);
            taken.insert(id);
            out.insert(n.clone(), id);
        }
    }
    out
}

/// Pins and kept values first (conflicts are errors), then the lowest candidate free on every
/// node of the volume, volumes in name order.
fn assign(
    numbers: &Numbers,
    wants: Vec<Want>,
    kept: impl Fn(&Want, &mut Diagnostics) -> Option<u32>,
    mut used: Used,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Assignments {
    let mut out = BTreeMap::new();
    let mut open = Vec::new();
    for w in &wants {
        let existing = kept(w, diags);
        let Some(fixed) = fixed(numbers, w, existing, loc, diags) else {
            open.push(w);
            continue;
        };
        if reserve(numbers, w, fixed.value, &mut used, loc, diags) {
            out.insert(w.volume.clone(), fixed);
        }
    }
    let mut reported: BTreeSet<Name> = BTreeSet::new();
    // Per node, every candidate below this position is taken there (nothing is released while
    // assigning): the search for the lowest value free on all of a volume's nodes starts at
    // the highest of its nodes' floors, so a node's candidates are passed over once in all,
    // not once per volume.
    let mut floor: BTreeMap<&Name, usize> = BTreeMap::new();
    for w in open {
        let start = w
            .nodes
            .iter()
            .map(|n| floor.get(n).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let taken: Vec<&BTreeMap<u32, String>> =
            w.nodes.iter().filter_map(|n| used.get(n)).collect();
        let free = numbers
            .candidates
            .get(start..)
            .unwrap_or_default()
            .iter()
            .copied()
            .find(|c| taken.iter().all(|u| !u.contains_key(c)));
        match free {
            Some(value) => {
                for n in w.nodes {
                    let u = used.entry(n.clone()).or_default();
                    u.insert(value, format!("volume `{}`", w.volume));
                    let f = floor.entry(n).or_default();
                    while numbers
                        .candidates
                        .get(*f)
                        .is_some_and(|c| u.contains_key(c))
                    {
                        *f += 1;
                    }
                }
                out.insert(
                    w.volume.clone(),
                    Assigned {
                        value,
                        origin: Origin::New,
                    },
                );
            }
            None => {
                if let Some(message) = exhausted(numbers, w, &wants, &used, &mut reported) {
                    diags.push(loc.error(Kind::Volume, w.volume.as_str(), "spec.nodes", message));
                }
            }
        }
    }
    out
}

/// The value a volume must have: the one it already uses on the cluster (a pin that says
/// otherwise is an error), else its pin; None when it is free to take any.
fn fixed(
    numbers: &Numbers,
    w: &Want,
    existing: Option<u32>,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> Option<Assigned<u32>> {
    let pin = w.pin.filter(|p| *p < numbers.pin_limit);
    match (pin, existing) {
        (Some(p), Some(k)) if p != k => {
            diags.push(loc.error(Kind::Volume, w.volume.as_str(), numbers.field, format!(
                "the resource already uses {} {k} on the cluster and the pin says {p}; an existing resource keeps its {}",
                numbers.what, numbers.what)));
            Some(Assigned {
                value: k,
                origin: Origin::Kept,
            })
        }
        (_, Some(k)) => Some(Assigned {
            value: k,
            origin: Origin::Kept,
        }),
        (Some(p), None) => Some(Assigned {
            value: p,
            origin: Origin::Pinned,
        }),
        (None, None) => None,
    }
}

/// Takes a fixed value on every node of the volume; where something else holds it, says so.
/// Returns whether no node clashed.
fn reserve(
    numbers: &Numbers,
    w: &Want,
    value: u32,
    used: &mut Used,
    loc: &Locator,
    diags: &mut Diagnostics,
) -> bool {
    let mut clash = false;
    for n in w.nodes {
        let slot = used.entry(n.clone()).or_default();
        if let Some(owner) = slot.get(&value) {
            diags.push(loc.error(
                Kind::Volume,
                w.volume.as_str(),
                numbers.field,
                format!(
                    "{} {value} on {n} is already taken by {owner}",
                    numbers.what
                ),
            ));
            clash = true;
        } else {
            slot.insert(value, format!("volume `{}`", w.volume));
        }
    }
    !clash
}

/// Why no value is free on all of a volume's nodes: the node that is full (once per node; None
/// for the volumes after the first), or, with none full, that the nodes' free sets do not meet.
fn exhausted(
    numbers: &Numbers,
    w: &Want,
    wants: &[Want],
    used: &Used,
    reported: &mut BTreeSet<Name>,
) -> Option<String> {
    let full: Vec<&Name> = w
        .nodes
        .iter()
        .filter(|n| {
            numbers
                .candidates
                .iter()
                .all(|c| used.get(*n).is_some_and(|u| u.contains_key(c)))
        })
        .collect();
    match full.first() {
        Some(n) => {
            let count = wants.iter().filter(|x| x.nodes.contains(n)).count()
                + used.get(*n).map_or(0, |u| {
                    u.values().filter(|o| !o.starts_with("volume")).count()
                });
            // One message per node is enough; the rest follow from it.
            reported
                .insert((*n).clone())
                .then(|| (numbers.exhausted)(n, count))
        }
        None => Some(format!(
            "no {} is free on all of {} at once",
            numbers.what,
            w.nodes
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
