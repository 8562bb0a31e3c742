//! Volumes: LVs (data, flexible meta, the indexed meta LV), DRBD meta-data, up, the initial
//! sync source of a new pair, growing, and filesystems on new or blank devices.

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::{MetaAlloc, VolumeAlloc};
use crate::drivers::drbd::{ConnectionState, DiskState, Role};
use crate::model::{Filesystem, MetaKind, Name, VolumeSpec};
use crate::observe::{DrbdResource, LvState, NodeState};

use super::action::{Action, MANAGED_TAG, MD_TAG, MKFS_TAG};
use super::blank::{blank_proof, waits_for_md};
use super::{Ctx, Phase};

pub(super) fn lv<'s>(state: &'s NodeState, vg: &str, name: &str) -> Option<&'s LvState> {
    state.lvm.known()?.lvs.get(&format!("{vg}/{name}"))
}

pub(super) fn resource<'s>(state: &'s NodeState, name: &str) -> Option<&'s DrbdResource> {
    state.drbd.known()?.resources.get(name)
}

/// The node that becomes the sync source of a new volume: where its running domain goes, else
/// its first node.
fn source_node(targets: &BTreeMap<Name, Name>, name: &Name, v: &VolumeSpec) -> Name {
    match targets.get(name) {
        Some(t) if v.nodes.contains(t) => t.clone(),
        _ => v.nodes[0].clone(),
    }
}

/// Where the running domain of each volume will run (its first running domain in name order).
fn domain_targets(ctx: &Ctx) -> BTreeMap<Name, Name> {
    let mut out = BTreeMap::new();
    for dom in ctx
        .d
        .domains
        .values()
        .filter(|d| d.state == crate::model::DomainState::Running)
    {
        let Some(t) = super::domains::target(ctx, dom) else {
            continue;
        };
        for k in &dom.disks {
            out.entry(k.volume.clone()).or_insert_with(|| t.clone());
        }
    }
    out
}

pub(super) fn volumes(ctx: &mut Ctx) {
    meta_lvs(ctx);
    let volumes: Vec<(Name, VolumeSpec)> = ctx
        .d
        .volumes
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let targets = domain_targets(ctx);
    for (name, v) in &volumes {
        volume(ctx, &targets, name, v);
    }
}

/// The indexed meta-data LV of each node: created or grown to hold the highest slot.
fn meta_lvs(ctx: &mut Ctx) {
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
        .map(|a| match a {
            Action::CreateLv { size, .. } => *size,
            Action::ExtendLv { lv: l, size, .. } => size - lv(s, vg, l).map_or(0, |x| x.size),
            _ => 0,
        })
        .sum()
}

/// A phase blocked the volume (reported and frozen): the phases after it plan nothing.
struct Frozen;

/// Report `reason` for the volume and freeze it: no action may touch it in this plan.
fn freeze(
    ctx: &mut Ctx,
    object: String,
    name: &Name,
    reason: String,
    would: Vec<String>,
) -> Frozen {
    ctx.block(object, reason, would);
    ctx.frozen.insert(name.clone());
    Frozen
}

fn volume(ctx: &mut Ctx, targets: &BTreeMap<Name, Name>, name: &Name, v: &VolumeSpec) {
    let Some(alloc) = ctx.a.volumes.get(name).cloned() else {
        return;
    };
    let object = format!("Volume/{name}");
    if super::failover::degraded_volume(ctx, name, v)
        || observed_everywhere(ctx, &object, name, v).is_err()
        || not_elsewhere(ctx, &object, name, v).is_err()
    {
        return;
    }
    let vol = Vol {
        object,
        name,
        v,
        alloc,
        states: v
            .nodes
            .iter()
            .filter_map(|n| Some((n.clone(), ctx.known(n)?)))
            .collect(),
    };
    let _ = vol.plan(ctx, targets);
}

/// Every node of the volume must be observed: creating half a pair is not safe.
fn observed_everywhere(
    ctx: &mut Ctx,
    object: &str,
    name: &Name,
    v: &VolumeSpec,
) -> Result<(), Frozen> {
    let unknown: Vec<&Name> = v
        .nodes
        .iter()
        .filter(|n| ctx.unknown.contains_key(*n))
        .collect();
    if let Some(n) = unknown.first() {
        let reason =
            format!("node {n} could not be observed; no change to this volume until it can");
        return Err(freeze(ctx, object.to_string(), name, reason, Vec::new()));
    }
    Ok(())
}

/// The volume exists on a node that is no longer one of its nodes: its data is there, and
/// moving data between nodes is not something to do behind an operator's back.
fn not_elsewhere(ctx: &mut Ctx, object: &str, name: &Name, v: &VolumeSpec) -> Result<(), Frozen> {
    let elsewhere: Vec<Name> = ctx
        .d
        .nodes
        .iter()
        .filter(|(n, _)| !v.nodes.contains(n))
        .filter(|(n, spec)| {
            ctx.known(n).is_some_and(|s| {
                resource(s, name.as_str()).is_some()
                    || lv(s, spec.volume_group.as_str(), name.as_str())
                        .is_some_and(|l| l.tags.contains(MANAGED_TAG))
            })
        })
        .map(|(n, _)| n.clone())
        .collect();
    if !elsewhere.is_empty() {
        let list: Vec<&str> = elsewhere.iter().map(|n| n.as_str()).collect();
        return Err(freeze(
            ctx,
            object.to_string(),
            name,
            format!(
                "it still exists on {}, which is no longer among its nodes; changing a volume's nodes \
                 would leave its data behind: put the nodes back, or create a new volume and copy the data",
                list.join(", ")
            ),
            Vec::new(),
        ));
    }
    Ok(())
}

/// One volume whose nodes were all observed: what each of its phases reads.
struct Vol<'v> {
    object: String,
    name: &'v Name,
    v: &'v VolumeSpec,
    alloc: VolumeAlloc,
    states: BTreeMap<Name, &'v NodeState>,
}

/// The LVs planned for a volume, held back until the VG space check passed.
struct LvSteps {
    /// Nodes where the data LV is created now.
    created: BTreeSet<Name>,
    /// Some LV is extended.
    grown: bool,
    steps: Vec<Action>,
}

impl Vol<'_> {
    /// The phases in order; a phase that blocks the volume ends it.
    fn plan(&self, ctx: &mut Ctx, targets: &BTreeMap<Name, Name>) -> Result<(), Frozen> {
        self.not_standalone(ctx)?;
        let lvs = self.lvs(ctx)?;
        self.proven_blank(ctx, &lvs.created)?;
        self.vg_space(ctx, &lvs.steps)?;
        for a in lvs.steps {
            ctx.add(Phase::Lvm, a);
        }
        let md_now = self.metadata_and_up(ctx, &lvs.created);
        let all_new = md_now.len() == self.v.nodes.len();
        let source = source_node(targets, self.name, self.v);
        let mut primary = self.initial_primary(ctx, all_new, &source);
        self.grow(ctx, lvs.grown, all_new, &mut primary);
        self.filesystem(ctx, &source, &primary);
        ctx.primary_after_storage.insert(self.name.clone(), primary);
        Ok(())
    }

    fn freeze(&self, ctx: &mut Ctx, reason: String, would: Vec<String>) -> Frozen {
        freeze(ctx, self.object.clone(), self.name, reason, would)
    }

    /// Split brain, or someone disconnected it by hand: stop, report, let an operator decide.
    fn not_standalone(&self, ctx: &mut Ctx) -> Result<(), Frozen> {
        let name = self.name;
        for (n, s) in &self.states {
            let standalone = resource(s, name.as_str())
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.peers
                        .iter()
                        .any(|p| p.connection == ConnectionState::StandAlone)
                });
            if standalone {
                return Err(self.freeze(
                    ctx,
                    format!(
                        "StandAlone on {n}: split brain or a manual disconnect; nothing is done to this volume or its \
                         domains until an operator resolves it (on the node whose changes are discarded: \
                         drbdadm connect --discard-my-data {name}; on the other: drbdadm connect {name})"
                    ),
                    Vec::new(),
                ));
            }
        }
        Ok(())
    }

    /// LVs: data (and a flexible meta LV), created or grown; never one xenflux did not make.
    fn lvs(&self, ctx: &mut Ctx) -> Result<LvSteps, Frozen> {
        let (name, v) = (self.name, self.v);
        let mut out = LvSteps {
            created: BTreeSet::new(),
            grown: false,
            steps: Vec::new(),
        };
        for (n, s) in &self.states {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            let mut lvs = vec![(name.to_string(), v.size.bytes())];
            if let MetaAlloc::Flexible { size } = self.alloc.meta {
                lvs.push((format!("{name}-md"), size.bytes()));
            }
            for (lv_name, size) in lvs {
                match lv(s, &vg, &lv_name) {
                    None => {
                        let for_mkfs = v.filesystem != Filesystem::None && lv_name == name.as_str();
                        out.steps.push(Action::CreateLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size, for_mkfs });
                        if lv_name == name.as_str() {
                            out.created.insert(n.clone());
                        }
                    }
                    Some(l) if !l.tags.contains(MANAGED_TAG) => {
                        let found = match lv_name == name.as_str() {
                            true => blank_proof(ctx, n, s, name)
                                .err()
                                .map_or(String::new(), |f| format!("; {f}")),
                            false => String::new(),
                        };
                        return Err(self.freeze(
                            ctx,
                            format!(
                                "LV {vg}/{lv_name} on {n} exists but was not created by xenflux (no `{MANAGED_TAG}` tag){found}; \
                                 if it is this volume's LV, tag it (`lvchange --addtag {MANAGED_TAG} {vg}/{lv_name}`): xenflux then \
                                 initialises DRBD on it only if it is blank, and otherwise says what it found"
                            ),
                            Vec::new(),
                        ));
                    }
                    Some(l) if l.size < size => {
                        out.steps.push(Action::ExtendLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size });
                        out.grown = true;
                    }
                    Some(l) if l.size > size && lv_name == name.as_str() => ctx.warnings.push(format!(
                        "volume {name}: LV {vg}/{lv_name} on {n} is {} but {} is desired; xenflux never shrinks a volume",
                        crate::model::Size(l.size),
                        v.size
                    )),
                    Some(_) => {}
                }
            }
        }
        Ok(out)
    }

    /// An LV that exists without meta-data — an apply that stopped before create-md, or an LV
    /// an operator tagged to adopt it — is initialised only when it is proven blank now.
    fn proven_blank(&self, ctx: &mut Ctx, created: &BTreeSet<Name>) -> Result<(), Frozen> {
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
    fn vg_space(&self, ctx: &mut Ctx, steps: &[Action]) -> Result<(), Frozen> {
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

    /// Meta-data on LVs this xenflux created and never initialised; then up (or adjust).
    /// Returns the nodes where create-md is planned now.
    fn metadata_and_up(&self, ctx: &mut Ctx, created: &BTreeSet<Name>) -> BTreeSet<Name> {
        let (name, v) = (self.name, self.v);
        let ending_dual = |s: &NodeState| {
            !v.dual_primary
                && resource(s, name.as_str())
                    .and_then(|r| r.config.as_ref())
                    .is_some_and(|c| c.allow_two_primaries)
        };
        let res = name.to_string();
        let mut md_now: BTreeSet<Name> = BTreeSet::new();
        for (n, s) in &self.states {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            let needs_md = created.contains(n)
                || lv(s, &vg, name.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG));
            let kernel = resource(s, &res).and_then(|r| r.kernel.as_ref());
            if needs_md && kernel.is_none() {
                let spec = &ctx.d.nodes[n];
                let meta = crate::render::drbd::meta_location(name, spec, &self.alloc);
                ctx.add(
                    Phase::MetaData,
                    Action::CreateMd {
                        node: n.clone(),
                        resource: res.clone(),
                        vg,
                        lv: res.clone(),
                        meta,
                        version: ctx.d.cluster.drbd.version,
                    },
                );
                md_now.insert(n.clone());
            }
            let path = crate::render::drbd::res_path(name);
            let file_changes = ctx
                .files
                .nodes
                .get(n)
                .and_then(|f| f.get(&path))
                .is_some_and(|want| {
                    s.files
                        .get(&path)
                        .and_then(|p| p.known())
                        .is_none_or(|have| have.as_ref() != Some(want))
                });
            match kernel {
                None => ctx.add(
                    Phase::Up,
                    Action::Up {
                        node: n.clone(),
                        resource: res.clone(),
                    },
                ),
                // Ending dual-primary waits until moves and demotions left one Primary.
                Some(_) if file_changes && ending_dual(s) => ctx.add(
                    Phase::AdjustLate,
                    Action::Adjust {
                        node: n.clone(),
                        resource: res.clone(),
                    },
                ),
                Some(_) if file_changes => ctx.add(
                    Phase::Adjust,
                    Action::Adjust {
                        node: n.clone(),
                        resource: res.clone(),
                    },
                ),
                // The kernel still allows two Primaries though the file does not (a migration
                // that stopped half way, a hand-run `net-options`): `adjust` brings back the
                // file's options, once moves and demotions have left one Primary.
                Some(k) if !v.dual_primary && k.allow_two_primaries == Some(true) => ctx.add(
                    Phase::AdjustLate,
                    Action::Adjust {
                        node: n.clone(),
                        resource: res.clone(),
                    },
                ),
                Some(_) => {}
            }
        }
        md_now
    }

    /// A brand-new pair has no good data anywhere: one node is forced to be the sync source.
    /// Returns the nodes that will be Primary.
    fn initial_primary(&self, ctx: &mut Ctx, all_new: bool, source: &Name) -> BTreeSet<Name> {
        let (name, states) = (self.name, &self.states);
        let res = name.to_string();
        let all_inconsistent = states.values().all(|s| {
            resource(s, &res)
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.disk == DiskState::Inconsistent
                        && k.peers.iter().all(|p| {
                            p.connection == ConnectionState::Connected
                                && p.disk == DiskState::Inconsistent
                        })
                })
        });
        let mut primary: BTreeSet<Name> = states
            .iter()
            .filter(|(_, s)| {
                resource(s, &res)
                    .and_then(|r| r.kernel.as_ref())
                    .is_some_and(|k| k.role == Role::Primary)
            })
            .map(|(n, _)| n.clone())
            .collect();
        if all_new || all_inconsistent {
            ctx.add(
                Phase::InitialPrimary,
                Action::InitialPrimary {
                    node: source.clone(),
                    resource: res.clone(),
                },
            );
            primary.insert(source.clone());
            ctx.new_volumes.insert(name.clone());
        } else if !seeded(states, &res) {
            // No node reports UpToDate data: the resource is down everywhere (a first apply that
            // stopped between the nodes' create-md or before `up`, or nodes that rebooted), or up
            // without a peer to tell. DRBD refuses to promote without UpToDate data, so nothing is
            // promoted or started until the next reconcile sees it up and Connected — and then
            // promotes, or picks the initial sync source when every side is Inconsistent.
            // The volume is frozen, but its later phases still run, as they always have.
            let _ = self.freeze(
                ctx,
                "no node reports UpToDate data yet: nothing is promoted or started until the resource is up and Connected on every node (the next reconcile)".into(),
                Vec::new(),
            );
        }
        primary
    }

    /// Grow: the DRBD device follows its LVs once every node is Connected and UpToDate.
    fn grow(&self, ctx: &mut Ctx, grown: bool, all_new: bool, primary: &mut BTreeSet<Name>) {
        let (name, v, states, alloc) = (self.name, self.v, &self.states, &self.alloc);
        let res = name.to_string();
        let external = v.meta != MetaKind::Internal;
        let device_small = states.values().any(|s| {
            s.drbd
                .known()
                .and_then(|d| d.device_sizes.get(&alloc.minor.value))
                .is_some_and(|sz| external && *sz < v.size.bytes())
        });
        if !((grown || device_small) && !all_new) {
            return;
        }
        let healthy = states.values().all(|s| {
            resource(s, &res)
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.disk == DiskState::UpToDate
                        && k.peers.iter().all(|p| {
                            p.connection == ConnectionState::Connected
                                && p.disk == DiskState::UpToDate
                        })
                })
        });
        let on = primary
            .iter()
            .next()
            .cloned()
            .unwrap_or_else(|| v.nodes[0].clone());
        if !healthy {
            ctx.warnings.push(format!(
                "volume {name}: the DRBD device grows once both nodes are Connected and UpToDate (not yet)"
            ));
            return;
        }
        // DRBD resizes only with a Primary ("Need one Primary node to resize"): promote one
        // for it; the role pass demotes it again when nothing needs it there.
        if primary.is_empty() {
            ctx.add(
                Phase::Resize,
                Action::Primary {
                    node: on.clone(),
                    resource: res.clone(),
                },
            );
            primary.insert(on.clone());
        }
        ctx.add(
            Phase::Resize,
            Action::Resize {
                node: on.clone(),
                resource: res.clone(),
            },
        );
        // Only a filesystem blkid has seen on this Primary is grown.
        let device = crate::render::drbd::device(alloc.minor.value);
        let has_fs = states
            .get(&on)
            .and_then(|s| s.filesystems.get(&device))
            .and_then(|p| p.known())
            .is_some_and(|fs| fs.as_deref() == Some(super::action::fs_name(v.filesystem)));
        if v.filesystem != Filesystem::None && primary.contains(&on) && has_fs {
            let used = ctx
                .d
                .domains
                .values()
                .any(|d| d.disks.iter().any(|k| &k.volume == name));
            if used && v.filesystem != Filesystem::Ocfs2 {
                ctx.warnings.push(format!(
                    "volume {name}: the {} filesystem is in use by a domain; grow it from inside the guest",
                    super::action::fs_name(v.filesystem)
                ));
            } else {
                ctx.add(
                    Phase::GrowFs,
                    Action::GrowFs {
                        node: on,
                        device,
                        fs: v.filesystem,
                    },
                );
            }
        }
    }

    /// A filesystem only on a blank device: a new one, or one blkid reads as blank on a Primary.
    fn filesystem(&self, ctx: &mut Ctx, source: &Name, primary: &BTreeSet<Name>) {
        let (name, v, states) = (self.name, self.v, &self.states);
        if v.filesystem == Filesystem::None {
            return;
        }
        let device = crate::render::drbd::device(self.alloc.minor.value);
        let blank_new = ctx.new_volumes.contains(name);
        // Besides a volume created now, only an LV still tagged for its filesystem (never used
        // since xenflux created it) that blkid reads as blank on a Primary, with no domain
        // holding it, gets one. Anything else may hold a domain's data, signature or not.
        let in_use = states.values().any(|s| {
            s.xen.known().is_some_and(|x| {
                x.domains
                    .values()
                    .any(|d| d.disks.iter().any(|(p, _, _)| p == &device))
            })
        });
        let tagged_blank = |n: &Name| {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            states.get(n).is_some_and(|s| {
                lv(s, &vg, name.as_str()).is_some_and(|l| l.tags.contains(MKFS_TAG))
                    && s.filesystems
                        .get(&device)
                        .and_then(|p| p.known())
                        .is_some_and(|fs| fs.is_none())
            })
        };
        let blank_on = if blank_new || in_use {
            None
        } else {
            primary.iter().find(|n| tagged_blank(n)).cloned()
        };
        let blank_seen = blank_on.is_some();
        let untagged_blank = !blank_new
            && !blank_seen
            && primary.iter().any(|n| {
                states
                    .get(n)
                    .and_then(|s| s.filesystems.get(&device))
                    .and_then(|p| p.known())
                    .is_some_and(|fs| fs.is_none())
            });
        if untagged_blank {
            ctx.warnings.push(format!(
                "volume {name}: no {} filesystem on it, and xenflux makes filesystems only on volumes it created \
                 for one (it may hold a domain's data); make it by hand if the volume is really unused",
                super::action::fs_name(v.filesystem)
            ));
        }
        if blank_new || blank_seen {
            let on = blank_on.unwrap_or_else(|| source.clone());
            let ocfs2 = ctx
                .d
                .ocfs2_filesystems()
                .find(|(_, f)| &f.volume == name)
                .map(|(c, f)| (c.clone(), f.clone()));
            let (label, slots, cluster) = match ocfs2 {
                Some((c, f)) => (Some(f.label), Some(f.slots), Some(c.to_string())),
                None => (None, None, None),
            };
            let lv = format!("{}/{name}", ctx.d.nodes[&on].volume_group);
            ctx.add(
                Phase::Mkfs,
                Action::Mkfs {
                    node: on,
                    device,
                    fs: v.filesystem,
                    label,
                    slots,
                    cluster,
                    lv,
                },
            );
        }
    }
}

/// Some node of the resource has UpToDate data, by its own or its peer's account.
fn seeded(states: &BTreeMap<Name, &NodeState>, res: &str) -> bool {
    states.values().any(|s| {
        resource(s, res)
            .and_then(|r| r.kernel.as_ref())
            .is_some_and(|k| {
                k.disk == DiskState::UpToDate
                    || k.peers.iter().any(|p| p.disk == DiskState::UpToDate)
            })
    })
}
