//! The LVM phases of a volume: the nodes' indexed meta LVs, the data (and flexible meta) LVs
//! created or grown, an existing LV proven blank before DRBD is initialised on it, and the VG
//! space they take checked and reserved.

use std::collections::BTreeSet;

use crate::alloc::MetaAlloc;
use crate::model::Name;
use crate::observe::NodeState;

use super::super::action::{Action, MANAGED_TAG, MD_TAG};
use super::super::blank::{blank_proof, waits_for_md};
use super::super::{Ctx, Phase};
use super::{lv, lvm_path, resource, Frozen, Vol};
use crate::drivers::drbd::DiskState;

/// The indexed meta-data LV of each node: created or grown to hold the highest slot.
pub(super) fn meta_lvs(ctx: &mut Ctx) {
    let sizes: Vec<(Name, u64)> = ctx
        .a
        .meta_lv_size
        .iter()
        .map(|(n, s)| (n.clone(), s.bytes()))
        .collect();
    for (node, size) in sizes {
        let Some(state) = ctx.known(&node) else {
            continue;
        };
        let spec = &ctx.d.nodes[&node];
        let (vg, meta) = (spec.volume_group.to_string(), spec.meta_volume.to_string());
        let grow = size.saturating_sub(lv(state, &vg, &meta).map_or(0, |l| l.size));
        if let Some(f) = state
            .lvm
            .known()
            .and_then(|l| l.vgs.get(&vg))
            .map(|g| g.free)
        {
            ctx.vg_free.insert(node.clone(), f.saturating_sub(grow));
        }
        match lv(state, &vg, &meta) {
            None => ctx.add(
                Phase::Lvm,
                Action::CreateLv {
                    node,
                    vg,
                    lv: meta,
                    size,
                    for_mkfs: false,
                },
            ),
            Some(l) if l.size < size => ctx.add(
                Phase::Lvm,
                Action::ExtendLv {
                    node,
                    vg,
                    lv: meta,
                    size,
                },
            ),
            Some(_) => {}
        }
    }
}

/// Bytes the planned LV creations and extensions take from a node's VG.
fn lv_need(steps: &[Action], n: &Name, s: &NodeState, vg: &str) -> u64 {
    steps
        .iter()
        .filter(|a| a.node() == n)
        .map(|a| {
            // Only LV creations and extensions are among the steps; anything else takes nothing.
            if let Action::CreateLv { size, .. } = a {
                *size
            } else if let Action::ExtendLv { lv: l, size, .. } = a {
                size - lv(s, vg, l).map_or(0, |x| x.size)
            } else {
                0
            }
        })
        .sum()
}

/// The LVs planned for a volume, held back until the VG space check passed.
pub(super) struct LvSteps {
    /// Nodes where the data LV is created now.
    pub(super) created: BTreeSet<Name>,
    /// Some LV is extended.
    pub(super) grown: bool,
    /// The volume keeps its size: a node has a snapshot of its LV (nothing grows, not the
    /// DRBD device either).
    pub(super) held: bool,
    pub(super) steps: Vec<Action>,
}

impl Vol<'_> {
    /// LVs: data (and a flexible meta LV), created or grown; never one xenflux did not make.
    pub(super) fn lvs(&self, ctx: &mut Ctx) -> Result<LvSteps, Frozen> {
        let (name, v) = (self.name, self.v);
        let mut out = LvSteps {
            created: BTreeSet::new(),
            grown: false,
            held: false,
            steps: Vec::new(),
        };
        // LVM grows the origin of a snapshot only while it is inactive: the volume keeps its
        // size on every node while one of them has a snapshot of it (the rest goes on).
        let snapshotted = self.states.iter().find_map(|(n, s)| {
            let vg = ctx.d.nodes[n].volume_group.as_str();
            // Only a volume that grows looks for snapshots (a scan of the node's LVs).
            let grows = lv(s, vg, name.as_str()).is_some_and(|l| l.size < v.size.bytes());
            if !grows {
                return None;
            }
            let snaps = super::super::snapshots::of_origin(s, vg, name.as_str());
            (!snaps.is_empty()).then(|| (n.clone(), vg.to_string(), snaps.join(", ")))
        });
        if let Some((n, vg, snaps)) = &snapshotted {
            out.held = true;
            ctx.block(
                self.object.clone(),
                format!(
                    "LV {vg}/{name} on {n} has snapshot {snaps}: LVM grows the origin of a snapshot only \
                     while it is inactive (\"Snapshot origin volumes can be resized only while inactive\"); \
                     remove the Snapshot from the state, apply, then grow"
                ),
                vec![format!("grow volume {name} to {}", v.size)],
            );
        }
        for (n, s) in &self.states {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            let mut lvs = vec![(name.to_string(), v.size.bytes())];
            if let MetaAlloc::Flexible { size } = self.alloc.meta {
                lvs.push((format!("{name}-md"), size.bytes()));
            }
            for (lv_name, size) in lvs {
                match lv(s, &vg, &lv_name) {
                    None => {
                        let for_mkfs = self.fs.is_some() && lv_name == name.as_str();
                        out.steps.push(Action::CreateLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size, for_mkfs });
                        if lv_name == name.as_str() {
                            out.created.insert(n.clone());
                        }
                    }
                    Some(l) if !l.tags.contains(MANAGED_TAG) => {
                        let data = lv_name == name.as_str();
                        match self.adoption(ctx, n, s) {
                            Ok(()) if v.adopt => {
                                out.steps.push(Action::AdoptLv {
                                    node: n.clone(),
                                    vg: vg.clone(),
                                    lv: lv_name.clone(),
                                    resource: name.to_string(),
                                    initialised: data,
                                });
                                continue;
                            }
                            proof => {
                                let found = match data {
                                    true => blank_proof(ctx, n, s, name)
                                        .err()
                                        .map_or(String::new(), |f| format!("; {f}")),
                                    false => String::new(),
                                };
                                let hint = match (v.adopt, proof) {
                                    (true, Err(why)) => format!("`adopt: true` does not take it: {why}"),
                                    (_, Ok(())) => format!(
                                        "DRBD resource {name} runs on it as desired: say `adopt: true` in the volume \
                                         and xenflux takes it over (`lvchange --addtag`, nothing written to it)"
                                    ),
                                    (false, Err(_)) => format!(
                                        "if it is this volume's LV, tag it (`lvchange --addtag {MANAGED_TAG} {vg}/{lv_name}`): \
                                         xenflux then initialises DRBD on it only if it is blank, and otherwise says what it found"
                                    ),
                                };
                                return Err(self.freeze(
                                    ctx,
                                    format!(
                                        "LV {vg}/{lv_name} on {n} exists but was not created by xenflux (no `{MANAGED_TAG}` tag){found}; {hint}"
                                    ),
                                    Vec::new(),
                                ));
                            }
                        }
                    }
                    Some(l) if l.size < size && snapshotted.is_some() && lv_name == name.as_str() => {}
                    Some(l) if l.size < size => {
                        out.steps.push(Action::ExtendLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size });
                        out.grown = true;
                    }
                    // Not a warning: a plan that leaves it so must not say the cluster matches.
                    Some(l) if l.size > size && lv_name == name.as_str() => ctx.block(
                        self.object.clone(),
                        format!(
                            "LV {vg}/{lv_name} on {n} is {} but {} is desired; xenflux never shrinks a volume \
                             (it would cut off the end of the data): put the size back",
                            crate::model::Size(l.size),
                            v.size
                        ),
                        Vec::new(),
                    ),
                    Some(_) => {}
                }
            }
        }
        Ok(out)
    }

    /// Whether the volume's DRBD resource runs on `n` on the LVs the desired state gives it —
    /// configured with the desired minor, backing disk and meta-data location (`disks_stay` has
    /// compared the last two), and attached in the kernel under that minor — which proves a
    /// hand-made LV is this volume's and its meta-data the resource's own. The reason otherwise.
    fn adoption(&self, ctx: &Ctx, n: &Name, s: &NodeState) -> Result<(), String> {
        let name = self.name;
        let minor = self.alloc.minor.value;
        let r = resource(s, name.as_str());
        let Some(c) = r.and_then(|r| r.config.as_ref()) else {
            return Err(format!("no DRBD resource {name} is configured on {n}"));
        };
        let want_disk = format!("/dev/{}/{name}", ctx.d.nodes[n].volume_group);
        if c.disk.as_deref().map(lvm_path) != Some(want_disk.clone()) || c.meta.is_none() {
            return Err(format!(
                "DRBD resource {name} on {n} is not configured on {want_disk} with its meta-data"
            ));
        }
        if c.minor != Some(minor) {
            return Err(format!(
                "DRBD resource {name} on {n} has minor {}, the volume's is {minor}",
                c.minor.map_or("none".into(), |m| m.to_string())
            ));
        }
        let Some(k) = r.and_then(|r| r.kernel.as_ref()) else {
            return Err(format!("DRBD resource {name} is not up on {n}"));
        };
        let attached = matches!(
            k.disk,
            DiskState::UpToDate
                | DiskState::Consistent
                | DiskState::Outdated
                | DiskState::Inconsistent
        );
        if !attached || k.minor.is_some_and(|m| m != minor) {
            return Err(format!(
                "DRBD resource {name} on {n} does not run attached to its disk (minor {}, disk {})",
                k.minor.map_or("?".into(), |m| m.to_string()),
                k.disk
            ));
        }
        Ok(())
    }

    /// An LV that exists without meta-data — an apply that stopped before create-md, or an LV
    /// an operator tagged to adopt it — is initialised only when it is proven blank now.
    pub(super) fn proven_blank(
        &self,
        ctx: &mut Ctx,
        created: &BTreeSet<Name>,
    ) -> Result<(), Frozen> {
        let name = self.name;
        for (n, s) in &self.states {
            if created.contains(n) || !waits_for_md(ctx, n, s, name) {
                continue;
            }
            if let Err(found) = blank_proof(ctx, n, s, name) {
                let vg = &ctx.d.nodes[n].volume_group;
                let reason = format!(
                    "LV {vg}/{name} on {n} has no DRBD meta-data from xenflux (no `{MD_TAG}` tag), and {found}: \
                     create-md runs only on a device proven blank. {}",
                    found.hint(vg.as_str(), name.as_str())
                );
                return Err(self.freeze(ctx, reason, Vec::new()));
            }
        }
        Ok(())
    }

    /// Free space in the VG, checked now rather than by a failing lvcreate halfway through;
    /// once it fits, what the LVs take is reserved.
    pub(super) fn vg_space(&self, ctx: &mut Ctx, steps: &[Action]) -> Result<(), Frozen> {
        let free = |ctx: &Ctx, n: &Name, s: &NodeState, vg: &str| {
            ctx.vg_free
                .get(n)
                .copied()
                .or_else(|| s.lvm.known().and_then(|l| l.vgs.get(vg)).map(|g| g.free))
        };
        for (n, s) in &self.states {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            let need = lv_need(steps, n, s, &vg);
            match free(ctx, n, s, &vg) {
                None => {
                    return Err(self.freeze(
                        ctx,
                        format!("VG {vg} does not exist on {n}"),
                        Vec::new(),
                    ));
                }
                Some(f) if f < need => {
                    return Err(self.freeze(
                        ctx,
                        format!(
                            "VG {vg} on {n} has {} free once the LVs planned before it exist; this volume needs {}",
                            crate::model::Size(f),
                            crate::model::Size(need)
                        ),
                        steps.iter().map(|a| a.describe()).collect(),
                    ));
                }
                Some(_) => {}
            }
        }
        for (n, s) in &self.states {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            let need = lv_need(steps, n, s, &vg);
            if let Some(f) = free(ctx, n, s, &vg) {
                ctx.vg_free.insert(n.clone(), f.saturating_sub(need));
            }
        }
        Ok(())
    }
}
