//! Volumes: LVs (data, flexible meta, the indexed meta LV), DRBD meta-data, up, the initial
//! sync source of a new pair, growing, and filesystems on new or blank devices.

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::MetaAlloc;
use crate::drivers::drbd::meta::{MetaFound, MetaLocation};
use crate::drivers::drbd::{ConnectionState, DiskState, Role};
use crate::model::{Filesystem, MetaKind, Name, VolumeSpec};
use crate::observe::{DrbdResource, LvState, NodeState, Part};

use super::action::{Action, MANAGED_TAG, MD_TAG, MKFS_TAG};
use super::{Ctx, Phase};

fn lv<'s>(state: &'s NodeState, vg: &str, name: &str) -> Option<&'s LvState> {
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

/// The data LV of `volume` on a node exists without xenflux's meta-data tag while the kernel
/// does not run the resource: `create-md` would be planned for it.
fn waits_for_md(ctx: &Ctx, node: &Name, s: &NodeState, volume: &Name) -> bool {
    let vg = ctx.d.nodes[node].volume_group.as_str();
    lv(s, vg, volume.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG))
        && resource(s, volume.as_str())
            .and_then(|r| r.kernel.as_ref())
            .is_none()
}

/// The reads that must prove a volume's existing LV on `node` blank before create-md may be
/// planned there (see [`blank_proof`]): the LV's signatures and its meta-data location. Empty
/// where no create-md waits, so a converged cluster pays nothing for them.
pub fn blank_reads(
    d: &crate::model::Desired,
    a: &crate::alloc::Allocation,
    node: &Name,
    s: &NodeState,
) -> (Vec<String>, Vec<MetaLocation>) {
    let mut devices = Vec::new();
    let mut meta = Vec::new();
    let Some(spec) = d.nodes.get(node) else {
        return (devices, meta);
    };
    let vg = spec.volume_group.as_str();
    for (name, v) in &d.volumes {
        let Some(va) = a.volumes.get(name) else {
            continue;
        };
        let waits = v.nodes.contains(node)
            && lv(s, vg, name.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG))
            && resource(s, name.as_str())
                .and_then(|r| r.kernel.as_ref())
                .is_none();
        if waits {
            devices.push(format!("/dev/{vg}/{name}"));
            meta.push(crate::render::drbd::meta_location(name, spec, va));
        }
    }
    (devices, meta)
}

/// What keeps an existing LV from counting as blank.
enum Found {
    Signature(String),
    MetaDataInUse(String),
    Unread(String),
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Signature(what) => write!(f, "it holds {what} (blkid -p)"),
            Found::MetaDataInUse(at) => {
                write!(
                    f,
                    "{at} holds DRBD meta-data that has been in use (drbdmeta dump-md)"
                )
            }
            Found::Unread(why) => write!(f, "it could not be proven blank: {why}"),
        }
    }
}

impl Found {
    /// What an operator can do that loses nothing.
    fn hint(&self, vg: &str, lv: &str) -> String {
        match self {
            Found::Signature(_) => format!(
                "xenflux never puts DRBD under existing data (create-md and the first sync would overwrite \
                 the peer's copy): copy the data into a new volume; only if the LV's content is disposable, \
                 erase its signatures yourself (`wipefs -a /dev/{vg}/{lv}`)"
            ),
            Found::MetaDataInUse(_) => format!(
                "If it is this resource's own meta-data (a resource built by hand with this minor and \
                 meta-data location), mark it as initialised (`lvchange --addtag {MD_TAG} {vg}/{lv}`) and \
                 xenflux brings the resource up as it is; otherwise give the volume another metaIndex"
            ),
            Found::Unread(_) => "It is read again on the next reconcile.".to_string(),
        }
    }
}

/// Whether the observation proves the volume's LV on `node` blank: no signature on it, and no
/// meta-data in use where its meta-data would go.
fn blank_proof(ctx: &Ctx, node: &Name, s: &NodeState, volume: &Name) -> Result<(), Found> {
    let spec = &ctx.d.nodes[node];
    let device = format!("/dev/{}/{volume}", spec.volume_group);
    let Some(va) = ctx.a.volumes.get(volume) else {
        return Err(Found::Unread("the volume has no allocation".into()));
    };
    let at = crate::render::drbd::meta_location(volume, spec, va);
    // Meta-data in use first: the backing LV of a DRBD resource holds the guest's data too, and
    // the meta-data says what it is.
    let meta = match s.metadata.get(&at.key()) {
        Some(Part::Known(MetaFound::Nothing | MetaFound::Unused)) => Ok(()),
        Some(Part::Known(MetaFound::InUse)) => return Err(Found::MetaDataInUse(at.key())),
        Some(Part::Unknown(u)) => Err(Found::Unread(u.to_string())),
        None => Err(Found::Unread(format!("{} was not read", at.key()))),
    };
    match s.filesystems.get(&device) {
        Some(Part::Known(None)) => {}
        Some(Part::Known(Some(t))) if t == "drbd" && at.index == "internal" => {}
        Some(Part::Known(Some(t))) => {
            let words = match t.strip_prefix("partition table (") {
                Some(p) => super::action::signature_words(None, p.strip_suffix(')')),
                None => super::action::signature_words(Some(t), None),
            };
            return Err(Found::Signature(words));
        }
        Some(Part::Unknown(u)) => return Err(Found::Unread(u.to_string())),
        None => return Err(Found::Unread(format!("{device} was not read"))),
    }
    meta
}

fn volume(ctx: &mut Ctx, targets: &BTreeMap<Name, Name>, name: &Name, v: &VolumeSpec) {
    let object = format!("Volume/{name}");
    let Some(alloc) = ctx.a.volumes.get(name).cloned() else {
        return;
    };
    // Every node of the volume must be observed: creating half a pair is not safe.
    let unknown: Vec<&Name> = v
        .nodes
        .iter()
        .filter(|n| ctx.unknown.contains_key(*n))
        .collect();
    if let Some(n) = unknown.first() {
        let reason =
            format!("node {n} could not be observed; no change to this volume until it can");
        ctx.block(object, reason, Vec::new());
        ctx.frozen.insert(name.clone());
        return;
    }
    // The volume exists on a node that is no longer one of its nodes: its data is there, and
    // moving data between nodes is not something to do behind an operator's back.
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
        ctx.block(
            object,
            format!(
                "it still exists on {}, which is no longer among its nodes; changing a volume's nodes \
                 would leave its data behind: put the nodes back, or create a new volume and copy the data",
                list.join(", ")
            ),
            Vec::new(),
        );
        ctx.frozen.insert(name.clone());
        return;
    }
    let states: BTreeMap<Name, &NodeState> = v
        .nodes
        .iter()
        .filter_map(|n| Some((n.clone(), ctx.known(n)?)))
        .collect();

    // Split brain, or someone disconnected it by hand: stop, report, let an operator decide.
    for (n, s) in &states {
        let standalone = resource(s, name.as_str())
            .and_then(|r| r.kernel.as_ref())
            .is_some_and(|k| {
                k.peers
                    .iter()
                    .any(|p| p.connection == ConnectionState::StandAlone)
            });
        if standalone {
            ctx.block(
                object.clone(),
                format!(
                    "StandAlone on {n}: split brain or a manual disconnect; nothing is done to this volume or its \
                     domains until an operator resolves it (on the node whose changes are discarded: \
                     drbdadm connect --discard-my-data {name}; on the other: drbdadm connect {name})"
                ),
                Vec::new(),
            );
            ctx.frozen.insert(name.clone());
            return;
        }
    }

    // LVs: data (and a flexible meta LV), created or grown; never one xenflux did not make.
    let mut created: BTreeSet<Name> = BTreeSet::new();
    let mut grown = false;
    let mut steps: Vec<Action> = Vec::new();
    for (n, s) in &states {
        let vg = ctx.d.nodes[n].volume_group.to_string();
        let mut lvs = vec![(name.to_string(), v.size.bytes())];
        if let MetaAlloc::Flexible { size } = alloc.meta {
            lvs.push((format!("{name}-md"), size.bytes()));
        }
        for (lv_name, size) in lvs {
            match lv(s, &vg, &lv_name) {
                None => {
                    let for_mkfs = v.filesystem != Filesystem::None && lv_name == name.as_str();
                    steps.push(Action::CreateLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size, for_mkfs });
                    if lv_name == name.as_str() {
                        created.insert(n.clone());
                    }
                }
                Some(l) if !l.tags.contains(MANAGED_TAG) => {
                    let found = match lv_name == name.as_str() {
                        true => blank_proof(ctx, n, s, name)
                            .err()
                            .map_or(String::new(), |f| format!("; {f}")),
                        false => String::new(),
                    };
                    ctx.block(
                        object.clone(),
                        format!(
                            "LV {vg}/{lv_name} on {n} exists but was not created by xenflux (no `{MANAGED_TAG}` tag){found}; \
                             if it is this volume's LV, tag it (`lvchange --addtag {MANAGED_TAG} {vg}/{lv_name}`): xenflux then \
                             initialises DRBD on it only if it is blank, and otherwise says what it found"
                        ),
                        Vec::new(),
                    );
                    ctx.frozen.insert(name.clone());
                    return;
                }
                Some(l) if l.size < size => {
                    steps.push(Action::ExtendLv { node: n.clone(), vg: vg.clone(), lv: lv_name.clone(), size });
                    grown = true;
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
    // An LV that exists without meta-data — an apply that stopped before create-md, or an LV an
    // operator tagged to adopt it — is initialised only when it is proven blank now.
    for (n, s) in &states {
        if created.contains(n) || !waits_for_md(ctx, n, s, name) {
            continue;
        }
        if let Err(found) = blank_proof(ctx, n, s, name) {
            let vg = &ctx.d.nodes[n].volume_group;
            ctx.block(
                object.clone(),
                format!(
                    "LV {vg}/{name} on {n} has no DRBD meta-data from xenflux (no `{MD_TAG}` tag), and {found}: \
                     create-md runs only on a device proven blank. {}",
                    found.hint(vg.as_str(), name.as_str())
                ),
                Vec::new(),
            );
            ctx.frozen.insert(name.clone());
            return;
        }
    }
    // Free space in the VG, checked now rather than by a failing lvcreate halfway through.
    for (n, s) in &states {
        let vg = ctx.d.nodes[n].volume_group.to_string();
        let need = lv_need(&steps, n, s, &vg);
        let free = ctx
            .vg_free
            .get(n)
            .copied()
            .or_else(|| s.lvm.known().and_then(|l| l.vgs.get(&vg)).map(|g| g.free));
        match free {
            None => {
                ctx.block(
                    object.clone(),
                    format!("VG {vg} does not exist on {n}"),
                    Vec::new(),
                );
                ctx.frozen.insert(name.clone());
                return;
            }
            Some(f) if f < need => {
                ctx.block(
                    object.clone(),
                    format!(
                        "VG {vg} on {n} has {} free once the LVs planned before it exist; this volume needs {}",
                        crate::model::Size(f),
                        crate::model::Size(need)
                    ),
                    steps.iter().map(|a| a.describe()).collect(),
                );
                ctx.frozen.insert(name.clone());
                return;
            }
            Some(_) => {}
        }
    }
    for (n, s) in &states {
        let vg = ctx.d.nodes[n].volume_group.to_string();
        let need = lv_need(&steps, n, s, &vg);
        let free = ctx
            .vg_free
            .get(n)
            .copied()
            .or_else(|| s.lvm.known().and_then(|l| l.vgs.get(&vg)).map(|g| g.free));
        if let Some(f) = free {
            ctx.vg_free.insert(n.clone(), f.saturating_sub(need));
        }
    }
    for a in steps {
        ctx.add(Phase::Lvm, a);
    }

    let ending_dual = |s: &NodeState| {
        !v.dual_primary
            && resource(s, name.as_str())
                .and_then(|r| r.config.as_ref())
                .is_some_and(|c| c.allow_two_primaries)
    };
    // Meta-data on LVs this xenflux created and never initialised; then up (or adjust).
    let res = name.to_string();
    let mut md_now: BTreeSet<Name> = BTreeSet::new();
    for (n, s) in &states {
        let vg = ctx.d.nodes[n].volume_group.to_string();
        let needs_md = created.contains(n)
            || lv(s, &vg, name.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG));
        let kernel = resource(s, &res).and_then(|r| r.kernel.as_ref());
        if needs_md && kernel.is_none() {
            let spec = &ctx.d.nodes[n];
            let meta = crate::render::drbd::meta_location(name, spec, &alloc);
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
            // The kernel still allows two Primaries though the file does not (a migration that
            // stopped half way, a hand-run `net-options`): `adjust` brings back the file's
            // options, once moves and demotions have left one Primary.
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

    // A brand-new pair has no good data anywhere: one node is forced to be the sync source.
    let all_new = md_now.len() == v.nodes.len();
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
    let source = source_node(targets, name, v);
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
    } else if !seeded(&states, &res) {
        // No node reports UpToDate data: the resource is down everywhere (a first apply that
        // stopped between the nodes' create-md or before `up`, or nodes that rebooted), or up
        // without a peer to tell. DRBD refuses to promote without UpToDate data, so nothing is
        // promoted or started until the next reconcile sees it up and Connected — and then
        // promotes, or picks the initial sync source when every side is Inconsistent.
        ctx.block(
            format!("Volume/{name}"),
            "no node reports UpToDate data yet: nothing is promoted or started until the resource is up and Connected on every node (the next reconcile)".into(),
            Vec::new(),
        );
        ctx.frozen.insert(name.clone());
    }

    // Grow: the DRBD device follows its LVs once every node is Connected and UpToDate.
    let external = v.meta != MetaKind::Internal;
    let device_small = states.values().any(|s| {
        s.drbd
            .known()
            .and_then(|d| d.device_sizes.get(&alloc.minor.value))
            .is_some_and(|sz| external && *sz < v.size.bytes())
    });
    if (grown || device_small) && !all_new {
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
        if healthy {
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
                    let device = crate::render::drbd::device(alloc.minor.value);
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
        } else {
            ctx.warnings.push(format!(
                "volume {name}: the DRBD device grows once both nodes are Connected and UpToDate (not yet)"
            ));
        }
    }

    // A filesystem only on a blank device: a new one, or one blkid reads as blank on a Primary.
    if v.filesystem != Filesystem::None {
        let device = crate::render::drbd::device(alloc.minor.value);
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
    ctx.primary_after_storage.insert(name.clone(), primary);
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
