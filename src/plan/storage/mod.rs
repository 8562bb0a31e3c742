//! Volumes: LVs (data, flexible meta, the indexed meta LV), DRBD meta-data, up, the initial
//! sync source of a new pair, growing, and filesystems on new or blank devices.
//!
//! Here: which volumes are planned at all (every node observed, none left elsewhere) and the
//! order of a volume's phases ([`Vol::plan`]); the phases live in `lvm` (LVs and VG space),
//! `drbd` (meta-data, up, the initial Primary, resize) and `fs` (make and grow filesystems).

mod drbd;
mod fs;
mod lvm;

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::VolumeAlloc;
use crate::drivers::drbd::ConnectionState;
use crate::model::{FsKind, Name, VolumeSpec};
use crate::observe::{DrbdResource, LvState, MetaDisk, NodeState};

use super::action::MANAGED_TAG;
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
        for v in dom.disks.iter().filter_map(|k| k.volume.as_ref()) {
            out.entry(v.clone()).or_insert_with(|| t.clone());
        }
    }
    out
}

pub(super) fn volumes(ctx: &mut Ctx) {
    lvm::meta_lvs(ctx);
    let volumes: Vec<(Name, VolumeSpec)> = ctx
        .d
        .volumes
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let targets = domain_targets(ctx);
    let present = present_at(ctx);
    for (name, v) in &volumes {
        volume(ctx, &targets, &present, name, v);
    }
}

/// The nodes of the desired state (in name order) where each name is a DRBD resource or an LV
/// xenflux made in the node's volume group: gathered once, so that finding a volume left on a
/// node that is no longer its own does not look at every node for every volume.
fn present_at(ctx: &Ctx) -> BTreeMap<String, Vec<Name>> {
    let mut at: BTreeMap<String, Vec<Name>> = BTreeMap::new();
    for (n, spec) in &ctx.d.nodes {
        let Some(s) = ctx.known(n) else {
            continue;
        };
        let mut names: BTreeSet<&str> = BTreeSet::new();
        if let Some(drbd) = s.drbd.known() {
            names.extend(drbd.resources.keys().map(String::as_str));
        }
        if let Some(lvm) = s.lvm.known() {
            let prefix = format!("{}/", spec.volume_group);
            for (key, l) in &lvm.lvs {
                if let Some(name) = key.strip_prefix(&prefix) {
                    if l.tags.contains(MANAGED_TAG) {
                        names.insert(name);
                    }
                }
            }
        }
        for name in names {
            at.entry(name.to_string()).or_default().push(n.clone());
        }
    }
    at
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

fn volume(
    ctx: &mut Ctx,
    targets: &BTreeMap<Name, Name>,
    present: &BTreeMap<String, Vec<Name>>,
    name: &Name,
    v: &VolumeSpec,
) {
    let Some(alloc) = ctx.a.volumes.get(name).cloned() else {
        return;
    };
    let object = format!("Volume/{name}");
    if super::failover::degraded_volume(ctx, name, v)
        || observed_everywhere(ctx, &object, name, v).is_err()
        || not_elsewhere(ctx, present, &object, name, v).is_err()
    {
        return;
    }
    let vol = Vol {
        object,
        name,
        v,
        alloc,
        fs: v.filesystem.kind(),
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
fn not_elsewhere(
    ctx: &mut Ctx,
    present: &BTreeMap<String, Vec<Name>>,
    object: &str,
    name: &Name,
    v: &VolumeSpec,
) -> Result<(), Frozen> {
    let elsewhere: Vec<Name> = present
        .get(name.as_str())
        .into_iter()
        .flatten()
        .filter(|n| !v.nodes.contains(n))
        .cloned()
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

/// A device path with device-mapper's name of an LV (`/dev/mapper/VG-LV`, each `-` inside a
/// name doubled) spelt as `/dev/VG/LV`, so one LV compares equal under both names.
fn lvm_path(path: &str) -> String {
    let Some(dm) = path.strip_prefix("/dev/mapper/") else {
        return path.to_string();
    };
    let (name, index) = match dm.find('[') {
        Some(i) => dm.split_at(i),
        None => (dm, ""),
    };
    // The separator is the first `-` that is not doubled.
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            if bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&name[..i], &name[i + 1..]);
            return format!(
                "/dev/{}/{}{index}",
                vg.replace("--", "-"),
                lv.replace("--", "-")
            );
        }
        i += 1;
    }
    path.to_string()
}

/// One volume whose nodes were all observed: what each of its phases reads.
struct Vol<'v> {
    object: String,
    name: &'v Name,
    v: &'v VolumeSpec,
    alloc: VolumeAlloc,
    /// The filesystem to make and grow on it; None for `filesystem: none`. The one place a
    /// volume's filesystem becomes the kind its actions carry.
    fs: Option<FsKind>,
    states: BTreeMap<Name, &'v NodeState>,
}

impl Vol<'_> {
    /// The phases in order; a phase that blocks the volume ends it.
    fn plan(&self, ctx: &mut Ctx, targets: &BTreeMap<Name, Name>) -> Result<(), Frozen> {
        self.not_standalone(ctx)?;
        self.disks_stay(ctx)?;
        self.one_definition(ctx)?;
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
        if !lvs.held {
            self.grow(ctx, lvs.grown, all_new, &mut primary);
        }
        self.filesystem(ctx, &source, &primary);
        ctx.primary_after_storage.insert(self.name.clone(), primary);
        Ok(())
    }

    fn freeze(&self, ctx: &mut Ctx, reason: String, would: Vec<String>) -> Frozen {
        freeze(ctx, self.object.clone(), self.name, reason, would)
    }

    /// A resource a node has configured keeps its backing disk and its meta-data where they
    /// are: a new `meta` kind, `metaVolume` or `volumeGroup` would rewrite the file and
    /// `adjust` (or `up`) would detach the disk and attach one with no meta-data there.
    fn disks_stay(&self, ctx: &mut Ctx) -> Result<(), Frozen> {
        let name = self.name;
        for (n, s) in &self.states {
            let Some(c) = resource(s, name.as_str()).and_then(|r| r.config.as_ref()) else {
                continue;
            };
            let Some(spec) = ctx.d.nodes.get(n) else {
                continue;
            };
            let want_disk = format!("/dev/{}/{name}", spec.volume_group);
            let want_meta = crate::render::drbd::meta_disk(name, spec, &self.alloc);
            let have_meta = c.meta.as_ref().map(|m| match m {
                MetaDisk::Internal => "internal".to_string(),
                MetaDisk::Indexed { path, index } => format!("{path}[{index}]"),
                MetaDisk::Flexible { path } => path.clone(),
            });
            let moved = [
                ("backing disk", &c.disk, want_disk),
                ("meta-disk", &have_meta, want_meta),
            ]
            .into_iter()
            .filter_map(|(what, have, want)| {
                let have = have.as_ref()?;
                (lvm_path(have) != lvm_path(&want)).then(|| {
                    format!("its {what} on {n} is {have}, the desired state makes it {want}")
                })
            })
            .collect::<Vec<_>>();
            if !moved.is_empty() {
                return Err(self.freeze(
                    ctx,
                    format!(
                        "{}: xenflux never moves an existing resource's disk or meta-data (DRBD would detach the \
                         disk and find no meta-data at the new place); put `meta`, `metaVolume` and `volumeGroup` \
                         back, or create a new volume and copy the data",
                        moved.join("; ")
                    ),
                    Vec::new(),
                ));
            }
        }
        Ok(())
    }

    /// A resource defined in a file of its own choosing (`drbd.conf`, `r0.res`) would be defined
    /// twice once xenflux writes its file, and drbdadm refuses every command on a configuration
    /// that defines a resource twice: the operator moves the definition first.
    fn one_definition(&self, ctx: &mut Ctx) -> Result<(), Frozen> {
        let name = self.name;
        let ours = crate::render::drbd::res_path(name);
        for (n, s) in &self.states {
            let file = resource(s, name.as_str())
                .and_then(|r| r.config.as_ref())
                .and_then(|c| c.file.as_deref());
            if let Some(f) = file.filter(|f| *f != ours) {
                return Err(self.freeze(
                    ctx,
                    format!(
                        "DRBD resource {name} on {n} is defined in {f}, and xenflux writes it to {ours}: DRBD \
                         refuses a resource defined twice, so move its definition there (`mv {f} {ours}` when {f} \
                         holds nothing else, or cut it out) and plan again"
                    ),
                    Vec::new(),
                ));
            }
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::lvm_path;

    #[test]
    fn device_mapper_names_are_the_lvs_they_name() {
        assert_eq!(lvm_path("/dev/mapper/XEN-dns"), "/dev/XEN/dns");
        assert_eq!(lvm_path("/dev/mapper/my--vg-a--b"), "/dev/my-vg/a-b");
        assert_eq!(lvm_path("/dev/mapper/XEN-meta[3]"), "/dev/XEN/meta[3]");
        assert_eq!(lvm_path("/dev/XEN/dns"), "/dev/XEN/dns");
        assert_eq!(lvm_path("internal"), "internal");
        assert_eq!(lvm_path("/dev/mapper/nodash"), "/dev/mapper/nodash");
    }
}
