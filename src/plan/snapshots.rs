//! Snapshots: an LVM snapshot of a volume's backing LV, made on the node where the volume is
//! Primary and hot-attached read-only to a domain running there; a Snapshot removed from the
//! state is detached and removed. Only snapshots xenflux made (tags `xenflux` and
//! `xenflux-snap`, LV `NAME.snap`) are ever detached or removed.
//!
//! A snapshot stays on the node it was taken on: when the volume's domain moves, the LV there
//! keeps receiving DRBD's replicated writes, so the snapshot stays a consistent point in time
//! (and its copy-on-write space keeps filling). The domain it is attached to stays with it: it
//! is not live-migrated while a snapshot is attached (see [`pins`]).

use std::collections::BTreeMap;

use crate::drivers::xl::vbd_devid;
use crate::model::{snapshot_lv, Name, Size, SnapshotSpec};
use crate::observe::{LvState, NodeState};

use super::action::{own_snapshot as ours, Action, SNAP_TAG};
use super::{Ctx, Phase};

/// The snapshots of LV `VG/ORIGIN` a node has (any, made by xenflux or not), by LV name.
pub(super) fn of_origin(s: &NodeState, vg: &str, origin: &str) -> Vec<String> {
    let Some(lvm) = s.lvm.known() else {
        return Vec::new();
    };
    let prefix = format!("{vg}/");
    lvm.lvs
        .iter()
        .filter(|(_, l)| l.snapshot.as_ref().is_some_and(|sn| sn.origin == origin))
        .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Whether `path` is the device of a snapshot xenflux made on `node`: its attachments are the
/// snapshot planner's, never a domain's own disks to detach.
pub(super) fn is_snapshot_disk(ctx: &Ctx, node: &Name, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/dev/") else {
        return false;
    };
    ctx.known(node)
        .and_then(|s| s.lvm.known())
        .and_then(|l| l.lvs.get(rest))
        .is_some_and(ours)
}

/// Why a running domain on `node` may not be live-migrated: a snapshot (a local LV) is
/// attached to it and stays attached. None when none is — a snapshot this plan detaches
/// (removed from the state, or attached elsewhere now) does not hold the domain, since the
/// detach stage runs before any migration and a failed detach stops the apply.
pub(super) fn pins(ctx: &Ctx, node: &Name, domain: &str) -> Option<String> {
    let x = ctx.known(node)?.xen.known()?;
    let d = x.domains.get(domain)?;
    let stays = |path: &str, vdev: &str| {
        let snapshot = path
            .rsplit('/')
            .next()
            .and_then(|lv| lv.strip_suffix(crate::model::snapshot::SNAPSHOT_LV_SUFFIX));
        let wanted_here = snapshot
            .and_then(|n| ctx.d.snapshots.iter().find(|(name, _)| name.as_str() == n))
            .and_then(|(_, spec)| spec.attach.as_ref())
            .is_some_and(|a| a.domain.as_str() == domain);
        // One xenflux cannot name to `xl block-detach` is never detached by it.
        wanted_here || vbd_devid(vdev).is_none()
    };
    let attached: Vec<&str> = d
        .disks
        .iter()
        .filter(|(p, v, _)| is_snapshot_disk(ctx, node, p) && stays(p, v))
        .map(|(p, _, _)| p.as_str())
        .collect();
    (!attached.is_empty()).then(|| {
        format!(
            "snapshot {} is attached to it on {node}: a snapshot is a local LV, so the domain \
             stays there until the Snapshot is removed from the state (or its attach is)",
            attached.join(", ")
        )
    })
}

/// One snapshot LV xenflux made, as observed.
struct Found<'o> {
    node: Name,
    vg: String,
    lv: &'o LvState,
    /// (domain, virtual device) it is attached to on its node.
    attached: Vec<(String, String)>,
}

/// Every Snapshot of the desired state, then the snapshots xenflux made that it no longer has.
pub(super) fn snapshots(ctx: &mut Ctx) {
    let found = observed(ctx);
    let wanted: Vec<(Name, SnapshotSpec)> = ctx
        .d
        .snapshots
        .iter()
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    for (name, spec) in &wanted {
        let here: Vec<&Found> = found
            .get(&snapshot_lv(name.as_str()))
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        snapshot(ctx, name, spec, &here);
    }
    // Made by xenflux, and no longer in the state: detached, then removed.
    for (lv, list) in &found {
        let Some(name) = lv.strip_suffix(crate::model::snapshot::SNAPSHOT_LV_SUFFIX) else {
            continue;
        };
        if wanted.iter().any(|(n, _)| n.as_str() == name) {
            continue;
        }
        for f in list {
            detach_all(ctx, f, lv, None);
            ctx.add(
                Phase::RemoveSnapshots,
                Action::RemoveSnapshot {
                    node: f.node.clone(),
                    vg: f.vg.clone(),
                    lv: lv.clone(),
                },
            );
        }
    }
}

/// Every snapshot LV xenflux made on the nodes observed in full, by LV name, with what it is
/// attached to.
fn observed<'a>(ctx: &Ctx<'a>) -> BTreeMap<String, Vec<Found<'a>>> {
    let mut out: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for (node, spec) in &ctx.d.nodes {
        let Some(s) = ctx.known(node) else { continue };
        let Some(lvm) = s.lvm.known() else { continue };
        let vg = spec.volume_group.to_string();
        let prefix = format!("{vg}/");
        for (key, l) in &lvm.lvs {
            let Some(lv) = key.strip_prefix(&prefix) else {
                continue;
            };
            if !ours(l) {
                continue;
            }
            let attached = s.attached(&format!("/dev/{key}"));
            out.entry(lv.to_string()).or_default().push(Found {
                node: node.clone(),
                vg: vg.clone(),
                lv: l,
                attached,
            });
        }
    }
    out
}

/// Detaches the snapshot from everything it is attached to but `keep` (domain, target).
fn detach_all(ctx: &mut Ctx, f: &Found, lv: &str, keep: Option<(&str, &str)>) {
    for (dom, vdev) in &f.attached {
        if keep == Some((dom.as_str(), vdev.as_str())) {
            continue;
        }
        let Some(devid) = vbd_devid(vdev) else {
            ctx.block(
                format!(
                    "Snapshot/{}",
                    lv.trim_end_matches(crate::model::snapshot::SNAPSHOT_LV_SUFFIX)
                ),
                format!(
                    "it is attached to domain {dom} as `{vdev}`, which is no xvd device xenflux \
                     can name to xl block-detach: detach it by hand"
                ),
                Vec::new(),
            );
            continue;
        };
        ctx.add(
            Phase::DetachSnapshots,
            Action::DetachSnapshot {
                node: f.node.clone(),
                domain: dom.clone(),
                vg: f.vg.clone(),
                lv: lv.to_string(),
                target: vdev.clone(),
                devid,
            },
        );
    }
}

/// One Snapshot of the desired state.
fn snapshot(ctx: &mut Ctx, name: &Name, spec: &SnapshotSpec, found: &[&Found]) {
    let object = format!("Snapshot/{name}");
    let lv = snapshot_lv(name.as_str());
    let vol = &spec.volume;
    if ctx.frozen.contains(vol) {
        ctx.block(
            object,
            format!("its volume {vol} is blocked (see above)"),
            Vec::new(),
        );
        return;
    }
    if let Some(n) = foreign(ctx, vol, &lv) {
        let vg = &ctx.d.nodes[&n].volume_group;
        ctx.block(
            object,
            format!(
                "LV {vg}/{lv} on {n} exists but was not made by xenflux (no `{SNAP_TAG}` tag): it is \
                 never touched; rename or remove it by hand"
            ),
            Vec::new(),
        );
        return;
    }
    // Unknown is not absent: a node of the volume that could not be observed may hold it.
    let blind = ctx.d.volumes.get(vol).and_then(|v| {
        v.nodes
            .iter()
            .find(|n| ctx.unknown.contains_key(*n))
            .cloned()
    });
    match (found, blind) {
        ([], Some(n)) => ctx.block(
            object,
            format!(
                "{n} could not be observed and may hold the snapshot: it is not made anywhere \
                 else (that would be a new point in time)"
            ),
            Vec::new(),
        ),
        ([], None) => create(ctx, spec, &object, &lv),
        ([f], _) => keep(ctx, name, spec, &object, &lv, f),
        (many, _) => {
            let on: Vec<&str> = many.iter().map(|f| f.node.as_str()).collect();
            ctx.block(
                object,
                format!(
                    "snapshot LV {lv} exists on {} at once: remove the one not wanted by hand",
                    on.join(" and ")
                ),
                Vec::new(),
            );
        }
    }
}

/// A node of the volume with an LV of the snapshot's name that xenflux did not make.
fn foreign(ctx: &Ctx, vol: &Name, lv: &str) -> Option<Name> {
    let nodes = ctx.d.volumes.get(vol)?.nodes.clone();
    nodes.into_iter().find(|n| {
        let vg = &ctx.d.nodes[n].volume_group;
        ctx.known(n)
            .and_then(|s| s.lvm.known())
            .and_then(|l| l.lvs.get(&format!("{vg}/{lv}")))
            .is_some_and(|l| !ours(l))
    })
}

/// The node the volume is Primary on once this plan ran: observed Primary, plus promotions
/// planned, minus demotions planned. The one node, or why there is none.
fn primary_after(ctx: &Ctx, vol: &Name) -> Result<Name, String> {
    let Some(v) = ctx.d.volumes.get(vol) else {
        return Err(format!("volume {vol} is not in the desired state"));
    };
    let mut on: Vec<Name> = Vec::new();
    for n in &v.nodes {
        let observed = ctx
            .known(n)
            .and_then(|s| super::storage::resource(s, vol.as_str()))
            .and_then(|r| r.kernel.as_ref())
            .is_some_and(|k| k.role == crate::drivers::drbd::Role::Primary);
        let planned = |promote: bool| {
            ctx.steps.iter().any(|(_, a)| match a {
                Action::Primary { node, resource } | Action::InitialPrimary { node, resource } => {
                    promote && node == n && resource == vol.as_str()
                }
                Action::Secondary { node, resource } => {
                    !promote && node == n && resource == vol.as_str()
                }
                _ => false,
            })
        };
        if (observed || planned(true)) && !planned(false) {
            on.push(n.clone());
        }
    }
    match on.as_slice() {
        [n] => Ok(n.clone()),
        [] => Err(format!(
            "volume {vol} is Primary on no node (its domain does not run): a snapshot is taken where \
             the volume is Primary, and is made once it is"
        )),
        _ => Err(format!(
            "volume {vol} is Primary on {} nodes: a snapshot of one node's LV would miss the other's writes",
            on.len()
        )),
    }
}

/// Not there yet: made where the volume is Primary (when the VG has the room), then attached.
fn create(ctx: &mut Ctx, spec: &SnapshotSpec, object: &str, lv: &str) {
    let would = vec![format!(
        "snapshot volume {} as {lv} ({} copy-on-write)",
        spec.volume, spec.size
    )];
    let node = match primary_after(ctx, &spec.volume) {
        Ok(n) => n,
        Err(why) => return ctx.block(object.to_string(), why, would),
    };
    if ctx.unknown.contains_key(&node) {
        return ctx.block(
            object.to_string(),
            format!("{node} could not be observed"),
            would,
        );
    }
    let vg = ctx.d.nodes[&node].volume_group.to_string();
    let size = spec.size.bytes();
    let free = ctx.vg_free.get(&node).copied().or_else(|| {
        ctx.known(&node)
            .and_then(|s| s.lvm.known())
            .and_then(|l| l.vgs.get(&vg))
            .map(|g| g.free)
    });
    match free {
        Some(f) if f >= size => {
            ctx.vg_free.insert(node.clone(), f - size);
        }
        f => {
            return ctx.block(
                object.to_string(),
                format!(
                    "VG {vg} on {node} has {} free once the LVs planned before it exist; the snapshot needs {}",
                    Size(f.unwrap_or(0)),
                    spec.size
                ),
                would,
            )
        }
    }
    ctx.add(
        Phase::CreateSnapshots,
        Action::CreateSnapshot {
            node: node.clone(),
            vg: vg.clone(),
            lv: lv.to_string(),
            origin: spec.volume.to_string(),
            size,
        },
    );
    if let Some(at) = &spec.attach {
        attach(ctx, object, &node, &vg, lv, &at.domain, &at.target);
    }
}

/// There already: reported when invalid (re-made only with prune), its copy-on-write space
/// grown when more is desired, attached where the state says and nowhere else.
fn keep(ctx: &mut Ctx, name: &Name, spec: &SnapshotSpec, object: &str, lv: &str, f: &Found) {
    let node = &f.node;
    let Some(snap) = &f.lv.snapshot else { return };
    if snap.origin != spec.volume.as_str() {
        return ctx.block(
            object.to_string(),
            format!(
                "{}/{lv} on {node} is a snapshot of {}, not of volume {}: a snapshot is never \
                 replaced silently; remove the Snapshot from the state, apply, then add it again",
                f.vg, snap.origin, spec.volume
            ),
            Vec::new(),
        );
    }
    if snap.invalid {
        if ctx.policy.prune {
            ctx.warnings.push(format!(
                "snapshot {name} on {node} is invalid (its {} of copy-on-write space filled up): \
                 re-made now (prune), as a new point in time",
                Size(f.lv.size)
            ));
            detach_all(ctx, f, lv, None);
            ctx.add(
                Phase::RemoveSnapshots,
                Action::RemoveSnapshot {
                    node: node.clone(),
                    vg: f.vg.clone(),
                    lv: lv.to_string(),
                },
            );
            return create(ctx, spec, object, lv);
        }
        let attached = match f.attached.as_slice() {
            [] => "It is not attached".to_string(),
            list => format!(
                "It stays attached to {} (reads fail)",
                list.iter()
                    .map(|(d, v)| format!("{d} as {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return ctx.block(
            object.to_string(),
            format!(
                "snapshot {}/{lv} on {node} is invalid: its {} of copy-on-write space filled up, \
                 so its data is gone. {attached}; remove the Snapshot from the state (it is then \
                 detached and removed), or apply with --prune to re-make it (a new point in time, \
                 with a larger `size` if it filled up again)",
                f.vg,
                Size(f.lv.size)
            ),
            vec![format!("re-make snapshot {name} on {node}")],
        );
    }
    let size = spec.size.bytes();
    if f.lv.size < size {
        ctx.add(
            Phase::CreateSnapshots,
            Action::ExtendLv {
                node: node.clone(),
                vg: f.vg.clone(),
                lv: lv.to_string(),
                size,
            },
        );
    } else if f.lv.size > size {
        ctx.warnings.push(format!(
            "snapshot {name} on {node} has {} of copy-on-write space, more than the {} desired: \
             it is never shrunk (that could invalidate it)",
            Size(f.lv.size),
            spec.size
        ));
    }
    let keep_at = spec
        .attach
        .as_ref()
        .map(|a| (a.domain.as_str(), a.target.as_str()));
    detach_all(ctx, f, lv, keep_at);
    if let Some(at) = &spec.attach {
        let there = f
            .attached
            .iter()
            .any(|(d, v)| d == at.domain.as_str() && v == &at.target);
        if !there {
            attach(ctx, object, node, &f.vg, lv, &at.domain, &at.target);
        }
    }
}

/// Attaches the snapshot on `node` to `domain` when the domain runs there after this plan.
fn attach(
    ctx: &mut Ctx,
    object: &str,
    node: &Name,
    vg: &str,
    lv: &str,
    domain: &Name,
    target: &str,
) {
    let would = vec![format!(
        "attach /dev/{vg}/{lv} to domain {domain} as {target}, read-only"
    )];
    let runs = |n: &Name| {
        ctx.known(n)
            .and_then(|s| s.xen.known())
            .and_then(|x| x.domains.get(domain.as_str()))
            .is_some_and(|d| !d.stopping)
    };
    let planned = |pred: &dyn Fn(&Action) -> bool| ctx.steps.iter().any(|(_, a)| pred(a));
    let started_here = planned(
        &|a| matches!(a, Action::XlCreate { node: n, domain: d } if n == node && d == domain.as_str()),
    );
    let leaves = planned(&|a| match a {
        Action::XlShutdown { node: n, domain: d }
        | Action::XlMigrate {
            node: n, domain: d, ..
        } => n == node && d == domain.as_str(),
        _ => false,
    });
    if (runs(node) && !leaves) || started_here {
        ctx.add(
            Phase::AttachSnapshots,
            Action::AttachSnapshot {
                node: node.clone(),
                domain: domain.to_string(),
                vg: vg.to_string(),
                lv: lv.to_string(),
                target: target.to_string(),
            },
        );
        return;
    }
    let elsewhere: Vec<&Name> = ctx
        .d
        .nodes
        .keys()
        .filter(|n| *n != node && runs(n))
        .collect();
    let where_ = match elsewhere.first() {
        Some(n) => format!("runs on {n}"),
        None if leaves => format!("leaves {node} in this plan"),
        None => "does not run".to_string(),
    };
    ctx.block(
        object.to_string(),
        format!(
            "the snapshot is on {node} but domain {domain} {where_}: a snapshot is a local LV and \
             attaches only to a domain on its own node (set the domain's `node: {node}`)"
        ),
        would,
    );
}
