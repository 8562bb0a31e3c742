//! Whether an existing LV is blank: the reads that prove it before create-md may run on it,
//! and what was found instead. Only reads the observation; plans nothing itself.

use crate::drivers::drbd::meta::{MetaFound, MetaLocation};
use crate::model::Name;
use crate::observe::{NodeState, Part};

use super::action::MD_TAG;
use super::storage::{lv, resource};
use super::Ctx;

/// The data LV of `volume` on a node exists without xenflux's meta-data tag while the kernel
/// does not run the resource: `create-md` would be planned for it.
pub(super) fn waits_for_md(ctx: &Ctx, node: &Name, s: &NodeState, volume: &Name) -> bool {
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
    let on_node = d
        .volumes
        .keys()
        .filter(|n| d.volumes[*n].nodes.contains(node));
    blank_reads_of(d, a, node, s, on_node)
}

/// [`blank_reads`] of the volumes `on_node` (those of the node, in name order; see
/// [`crate::model::Desired::volumes_by_node`]).
pub fn blank_reads_of<'v>(
    d: &crate::model::Desired,
    a: &crate::alloc::Allocation,
    node: &Name,
    s: &NodeState,
    on_node: impl Iterator<Item = &'v Name>,
) -> (Vec<String>, Vec<MetaLocation>) {
    let mut devices = Vec::new();
    let mut meta = Vec::new();
    let Some(spec) = d.nodes.get(node) else {
        return (devices, meta);
    };
    let vg = spec.volume_group.as_str();
    for name in on_node {
        let Some(va) = a.volumes.get(name) else {
            continue;
        };
        let waits = lv(s, vg, name.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG))
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
pub(super) enum Found {
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
    pub(super) fn hint(&self, vg: &str, lv: &str) -> String {
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
pub(super) fn blank_proof(
    ctx: &Ctx,
    node: &Name,
    s: &NodeState,
    volume: &Name,
) -> Result<(), Found> {
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
