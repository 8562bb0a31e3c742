//! Volumes and Nodes: DRBD resources as both ends configure them, their backing LVs and
//! meta-data, each node's replication address, volume group and meta LV.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::drivers::drbd::dump_xml::ResourceConfig;
use crate::model::{
    Filesystem, LvName, LvmName, MetaKind, Name, NodeSpec, Protocol, Rate, Size, VolumeSpec,
};
use crate::observe::MetaDisk;

use super::{inexpressible, name, section_option, vg_lv, Imported, MODELLED_RESOURCE_OPTIONS};
use crate::import::{ImportError, NodeObs};

/// One resource as one node configures it.
struct Side<'a> {
    node: &'a NodeObs,
    rc: &'a ResourceConfig,
    minor: u32,
    port: u16,
    vg: String,
    lv_size: u64,
    meta: MetaDisk,
}

pub(super) fn volumes(
    out: &mut Imported,
    obs: &[NodeObs],
    hosts: &BTreeMap<&str, &NodeObs>,
    errors: &mut Vec<ImportError>,
) {
    let mut by_res: BTreeMap<String, Vec<Side>> = BTreeMap::new();
    for o in obs {
        for rc in &o.drbd_xml.resources {
            match side(o, rc, hosts) {
                Ok(Some(s)) => by_res.entry(rc.name.clone()).or_default().push(s),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    for (res, sides) in by_res {
        if let Err(e) = volume(out, res, sides) {
            errors.push(e);
        }
    }
}

/// How `o` configures `rc`: None when it is not one of the resource's hosts.
fn side<'a>(
    o: &'a NodeObs,
    rc: &'a ResourceConfig,
    hosts: &BTreeMap<&str, &NodeObs>,
) -> Result<Option<Side<'a>>, ImportError> {
    let drbd = o.state.drbd.known().expect("complete observation");
    let lvm = o.state.lvm.known().expect("complete observation");
    let node = &o.arg.key;
    let Some(c) = drbd.resources.get(&rc.name).and_then(|r| r.config.as_ref()) else {
        return Ok(None);
    };
    for h in &rc.hosts {
        if !hosts.contains_key(h.name.as_str()) {
            return Err(inexpressible(
                node,
                format!(
                    "DRBD resource `{}` is replicated to `{}`, which is not among the \
                     nodes imported: add --node for it",
                    rc.name, h.name
                ),
            ));
        }
    }
    let Some(this) = rc.hosts.iter().find(|h| h.name == o.hostname) else {
        return Ok(None);
    };
    if this.volumes.len() != 1 {
        return Err(inexpressible(
            node,
            format!(
                "DRBD resource `{}` has {} volumes: xenflux models one volume per resource",
                rc.name,
                this.volumes.len()
            ),
        ));
    }
    let (Some(minor), Some(port), Some(disk), Some(meta)) =
        (c.minor, c.port, c.disk.as_deref(), c.meta.clone())
    else {
        return Err(inexpressible(
            node,
            format!(
                "DRBD resource `{}` lacks a minor, port, disk or meta-disk",
                rc.name
            ),
        ));
    };
    let Some((vg, lv)) = vg_lv(disk) else {
        return Err(inexpressible(
            node,
            format!(
                "DRBD resource `{}` has disk {disk}: xenflux keeps a volume on \
                 /dev/VG/{} (an LV named after it)",
                rc.name, rc.name
            ),
        ));
    };
    if lv != rc.name {
        return Err(inexpressible(
            node,
            format!(
                "DRBD resource `{}` has disk {disk}: xenflux keeps a volume on \
                 /dev/{vg}/{} (an LV named after it); rename the LV or the resource",
                rc.name, rc.name
            ),
        ));
    }
    let lv_size = lvm
        .lvs
        .get(&format!("{vg}/{lv}"))
        .map(|l| l.size)
        .ok_or_else(|| {
            inexpressible(
                node,
                format!("DRBD resource `{}`: its disk {disk} is no LV", rc.name),
            )
        })?;
    Ok(Some(Side {
        node: o,
        rc,
        minor,
        port,
        vg: vg.to_string(),
        lv_size,
        meta,
    }))
}

/// The Volume of resource `res`, from every node that configures it.
fn volume(out: &mut Imported, res: String, sides: Vec<Side>) -> Result<(), ImportError> {
    let first = &sides[0];
    let node = &first.node.arg.key;
    let Some(vname) = name(&res) else {
        return Err(inexpressible(
            node,
            format!("DRBD resource `{res}` is not a valid object name"),
        ));
    };
    let object = format!("Volume/{res}");
    for s in &sides[1..] {
        if s.minor != first.minor || s.port != first.port {
            return Err(inexpressible(
                &s.node.arg.key,
                format!(
                    "DRBD resource `{res}` has minor {} port {} here and minor {} port {} \
                     on {}: xenflux uses the same minor and port on every node",
                    s.minor, s.port, first.minor, first.port, first.node.hostname
                ),
            ));
        }
    }
    let (meta, meta_index) = meta_kind(&sides, &res)?;
    let nodes: BTreeSet<Name> = first
        .rc
        .hosts
        .iter()
        .filter_map(|h| name(&h.name))
        .collect();
    let seen: BTreeSet<&str> = sides.iter().map(|s| s.node.hostname.as_str()).collect();
    for n in &nodes {
        if !seen.contains(n.as_str()) {
            return Err(inexpressible(
                node,
                format!(
                    "DRBD resource `{res}` names host `{n}`, whose configuration does not \
                     have it: configure it on every host first"
                ),
            ));
        }
    }
    let size = sides.iter().map(|s| s.lv_size).max().unwrap_or(0);
    if sides.iter().any(|s| s.lv_size != size) {
        out.note(
            &object,
            format!(
                "backing LVs differ in size ({}): the largest is written",
                sides
                    .iter()
                    .map(|s| format!("{} {} bytes", s.node.hostname, s.lv_size))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let sections = &first.rc.sections;
    for sec in sections {
        for (k, v) in &sec.options {
            if !MODELLED_RESOURCE_OPTIONS.contains(&(sec.name.as_str(), k.as_str())) {
                out.note(
                    &object,
                    format!("DRBD option `{} {{ {k} {v}; }}` is not modelled: the rewritten .res file drops it", sec.name),
                );
            }
        }
    }
    let protocol = match section_option(sections, "net", "protocol") {
        Some("A") => Some(Protocol::A),
        Some("B") => Some(Protocol::B),
        _ => Some(Protocol::C),
    };
    let sync_rate =
        section_option(sections, "disk", "resync-rate").and_then(|r| r.parse::<Rate>().ok());
    // xenflux writes a rate as a fixed rate (`c-plan-ahead 0`) and no controller setting
    // without one: anything else is a setting its first adjust changes in the kernel.
    match (sync_rate.is_some(), section_option(sections, "disk", "c-plan-ahead")) {
        (true, Some("0")) | (false, None) => {}
        (true, plan_ahead) => out.note(
            &object,
            format!(
                "`disk {{ resync-rate; }}` with the dynamic resync controller on (c-plan-ahead {}): \
                 xenflux writes the rate as a fixed rate (`c-plan-ahead 0`), so its first adjust \
                 turns the controller off in the kernel",
                plan_ahead.unwrap_or("unset, DRBD's default 20")
            ),
        ),
        (false, Some(v)) => out.note(
            &object,
            format!(
                "`disk {{ c-plan-ahead {v}; }}` without a resync-rate is not modelled: the rewritten \
                 .res file drops it and its first adjust sets DRBD's default in the kernel"
            ),
        ),
    }
    let dual = sides.iter().any(|s| {
        s.node
            .state
            .drbd
            .known()
            .and_then(|d| d.resources.get(&res))
            .and_then(|r| r.config.as_ref())
            .is_some_and(|c| c.allow_two_primaries)
    });
    // xenflux touches only LVs it owns. Hand-made ones are handed over by `adopt`: the plan tags
    // them where the running resource proves they are this volume's, and blocks otherwise.
    let tag = crate::plan::action::MANAGED_TAG;
    let mut adopt = false;
    for s in &sides {
        let mut lvs = vec![res.clone()];
        if matches!(s.meta, MetaDisk::Flexible { .. }) {
            lvs.push(format!("{res}-md"));
        }
        let lvm = s.node.state.lvm.known().expect("complete observation");
        for lv in lvs {
            let key = format!("{}/{lv}", s.vg);
            if lvm.lvs.get(&key).is_some_and(|l| !l.tags.contains(tag)) {
                adopt = true;
                out.note(
                    &object,
                    format!(
                        "LV {key} on {} has no `{tag}` tag (made by hand): the volume says `adopt: true`, \
                         so the first apply tags it (`lvchange --addtag`) once it sees DRBD resource {res} \
                         attached to it with this minor and meta-data — nothing is written to the LV; \
                         if the resource is not running there, the volume stays blocked until it is",
                        s.node.hostname
                    ),
                );
            }
        }
    }
    let filesystem = filesystem_of(out, &sides, &object);
    out.state.volumes.insert(
        vname,
        VolumeSpec {
            size: Size(size),
            nodes: nodes.into_iter().collect(),
            meta,
            dual_primary: dual,
            filesystem,
            sync_rate,
            protocol,
            minor: Some(first.minor),
            port: Some(first.port),
            meta_index,
            adopt,
        },
    );
    Ok(())
}

fn meta_kind(sides: &[Side], res: &str) -> Result<(MetaKind, Option<u32>), ImportError> {
    let first = &sides[0];
    let mismatch = |s: &Side| {
        inexpressible(
            &s.node.arg.key,
            format!(
                "DRBD resource `{res}` keeps its meta-data differently here than on {}: \
                 xenflux uses one kind and slot on every node",
                first.node.hostname
            ),
        )
    };
    let kind = match &first.meta {
        MetaDisk::Internal => (MetaKind::Internal, None),
        MetaDisk::Indexed { index, .. } => (MetaKind::Indexed, Some(*index)),
        MetaDisk::Flexible { .. } => (MetaKind::Flexible, None),
    };
    for s in sides {
        let same = match (&s.meta, &first.meta) {
            (MetaDisk::Internal, MetaDisk::Internal) => true,
            (MetaDisk::Indexed { index: a, .. }, MetaDisk::Indexed { index: b, .. }) => a == b,
            (MetaDisk::Flexible { .. }, MetaDisk::Flexible { .. }) => true,
            _ => false,
        };
        if !same {
            return Err(mismatch(s));
        }
        match &s.meta {
            MetaDisk::Flexible { path } if path != &format!("/dev/{}/{res}-md", s.vg) => {
                return Err(inexpressible(
                    &s.node.arg.key,
                    format!(
                        "DRBD resource `{res}` keeps its meta-data on {path}: xenflux's \
                         flexible meta-data LV is /dev/{}/{res}-md",
                        s.vg
                    ),
                ));
            }
            MetaDisk::Indexed { path, .. } if vg_lv(path).is_none_or(|(vg, _)| vg != s.vg) => {
                return Err(inexpressible(
                    &s.node.arg.key,
                    format!(
                        "DRBD resource `{res}` keeps its meta-data on {path}, outside its \
                         volume group {}",
                        s.vg
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(kind)
}

/// The filesystem on the backing LV (blkid reads it in any DRBD role).
fn filesystem_of(out: &mut Imported, sides: &[Side], object: &str) -> Filesystem {
    let mut found = BTreeSet::new();
    for s in sides {
        let disk = format!("/dev/{}/{}", s.vg, s.rc.name);
        if let Some(Some(t)) = s.node.state.filesystems.get(&disk).and_then(|p| p.known()) {
            found.insert(t.clone());
        }
    }
    let mut fs = Filesystem::None;
    for t in &found {
        match t.as_str() {
            "ext3" => fs = Filesystem::Ext3,
            "ext4" => fs = Filesystem::Ext4,
            "xfs" => fs = Filesystem::Xfs,
            "ocfs2" => fs = Filesystem::Ocfs2,
            // DRBD's own internal meta-data, a guest's partition table: no filesystem of ours.
            "drbd" => {}
            t if t.starts_with("partition table") => {}
            other => out.note(
                object,
                format!("holds a `{other}` filesystem, which xenflux does not model: written as `filesystem: none`"),
            ),
        }
    }
    fs
}

pub(super) fn nodes(out: &mut Imported, obs: &[NodeObs], errors: &mut Vec<ImportError>) {
    for o in obs {
        if let Err(e) = node(out, o) {
            errors.push(e);
        }
    }
}

/// The Node of `o`: its replication address, volume group and meta LV.
fn node(out: &mut Imported, o: &NodeObs) -> Result<(), ImportError> {
    let n = name(&o.hostname).expect("checked");
    let object = format!("Node/{}", o.hostname);
    let drbd = o.state.drbd.known().expect("complete");
    let lvm = o.state.lvm.known().expect("complete");
    // The replication address: this host's address in its resources.
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    let mut vgs: BTreeSet<String> = BTreeSet::new();
    let mut metas: BTreeSet<String> = BTreeSet::new();
    for r in drbd.resources.values() {
        let Some(c) = &r.config else { continue };
        if let Some(Some(a)) = c.hosts.get(&o.hostname) {
            let ip = a
                .rsplit_once(':')
                .map_or(a.as_str(), |(ip, _)| ip)
                .trim_start_matches('[')
                .trim_end_matches(']');
            if let Ok(ip) = ip.parse() {
                addrs.insert(ip);
            }
        }
        if let Some((vg, _)) = c.disk.as_deref().and_then(vg_lv) {
            vgs.insert(vg.to_string());
        }
        if let Some(MetaDisk::Indexed { path, .. }) = &c.meta {
            if let Some((_, lv)) = vg_lv(path) {
                metas.insert(lv.to_string());
            }
        }
    }
    let address = match addrs.iter().next() {
        Some(a) => *a,
        None => fallback_address(o).ok_or_else(|| {
            inexpressible(
                &o.arg.key,
                "no DRBD resource names an address for it and no bridge carries one: \
                 xenflux needs its replication address"
                    .into(),
            )
        })?,
    };
    if addrs.len() > 1 {
        out.note(
            &object,
            format!(
                "its resources use several addresses ({}): xenflux has one replication address per node; {address} is written",
                addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if addrs.is_empty() {
        out.note(
            &object,
            format!("no DRBD resource names its address: {address} (a bridge's) is written"),
        );
    }
    let vg = match vgs.len() {
        0 if lvm.vgs.len() == 1 => lvm.vgs.keys().next().cloned(),
        0 => None,
        _ => vgs.iter().next().cloned(),
    };
    if vgs.len() > 1 {
        return Err(inexpressible(
            &o.arg.key,
            format!(
                "its volumes are in several volume groups ({}): xenflux keeps a node's \
                 volumes in one",
                vgs.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let vg: LvmName = vg.and_then(|v| v.parse().ok()).ok_or_else(|| {
        inexpressible(
            &o.arg.key,
            format!(
                "cannot tell its volume group ({} found, none used by DRBD)",
                lvm.vgs.len()
            ),
        )
    })?;
    if metas.len() > 1 {
        return Err(inexpressible(
            &o.arg.key,
            format!(
                "indexed meta-data in several LVs ({}): xenflux keeps one per node",
                metas.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let meta_volume: LvName = metas
        .into_iter()
        .next()
        .unwrap_or_else(|| "meta".into())
        .parse()
        .map_err(|e: String| inexpressible(&o.arg.key, e))?;
    out.state.nodes.insert(
        n,
        NodeSpec {
            address,
            ssh: o.arg.ssh.clone(),
            volume_group: vg,
            meta_volume,
            memory: domain_memory(o),
            schedulable: true,
            fence: None,
            allow_management_change: false,
        },
    );
    out.note(
        &object,
        "no `fence` command is written: automatic failover needs one (DESIGN §8)",
    );
    Ok(())
}

fn fallback_address(o: &NodeObs) -> Option<IpAddr> {
    let net = o.state.net.known()?;
    net.links
        .values()
        .filter(|l| l.kind.as_deref() == Some("bridge"))
        .flat_map(|l| &l.addresses)
        .filter_map(|a| a.split('/').next()?.parse::<IpAddr>().ok())
        .find(|ip| !ip.is_loopback())
}

/// Memory the node has for domains, as Xen counts it now: what is free plus what its domains
/// (crashed ones kept by Xen included) hold — dom0's own share is not in it. None when Xen did
/// not say how much is free.
fn domain_memory(o: &NodeObs) -> Option<Size> {
    let xen = o.state.xen.known()?;
    let free = xen.free_memory_mib?;
    let held = xen
        .domains
        .values()
        .filter_map(|d| d.memory_mib)
        .chain(xen.kept.values().map(|k| k.memory_mib))
        .fold(free, u64::saturating_add);
    Some(Size(held.saturating_mul(1 << 20)))
}
