//! From what the nodes have to the documents that describe it: one spec per object, every
//! allocation pinned, and a [`Note`] for whatever the specs cannot say. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::drivers::drbd::dump_xml::{ResourceConfig, Section};
use crate::drivers::xlcfg::{DiskAccess, DiskSpec as XlDisk, VifSpec, XlConfig};
use crate::model::units::MIB;
use crate::model::{
    BondMode, BondSpec, BridgeSpec, Cidr, ClusterSpec, DiskMode, DiskSpec, DomainSpec, DomainState,
    DrbdVersion, Filesystem, GuestType, Heartbeat, IfName, LacpRate, LvName, LvmName, MetaKind,
    Name, NicSpec, NodeSpec, Ocfs2ClusterSpec, Ocfs2Filesystem, Ocfs2Node, PortRange, Protocol,
    Rate, Size, VolumeSpec, XmitHashPolicy,
};
use crate::observe::MetaDisk;

use super::read::{INTERFACES_D, NETWORK_FILE, O2CB_DEFAULTS};
use super::{ImportError, NodeObs, Note};

/// The imported state: specs by kind and name, and the notes.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub cluster_name: String,
    pub cluster: ClusterSpec,
    pub nodes: BTreeMap<Name, NodeSpec>,
    pub volumes: BTreeMap<Name, VolumeSpec>,
    pub domains: BTreeMap<Name, DomainSpec>,
    pub bonds: BTreeMap<Name, BondSpec>,
    pub bridges: BTreeMap<Name, BridgeSpec>,
    pub ocfs2: BTreeMap<Name, Ocfs2ClusterSpec>,
    pub notes: Vec<Note>,
}

impl Imported {
    fn note(&mut self, object: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note {
            object: object.into(),
            text: text.into(),
        });
    }
}

fn name(s: &str) -> Option<Name> {
    s.parse().ok()
}

fn inexpressible(node: &str, what: String) -> ImportError {
    ImportError::Inexpressible {
        node: node.to_string(),
        what,
    }
}

/// `/dev/VG/LV` → (VG, LV).
fn vg_lv(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    (!lv.contains('/')).then_some((vg, lv))
}

fn section_option<'a>(sections: &'a [Section], section: &str, key: &str) -> Option<&'a str> {
    sections
        .iter()
        .filter(|s| s.name == section)
        .flat_map(|s| &s.options)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Resource options xenflux writes itself, by section.
const MODELLED_RESOURCE_OPTIONS: &[(&str, &str)] = &[
    ("net", "protocol"),
    ("net", "allow-two-primaries"),
    ("disk", "resync-rate"),
    ("disk", "c-plan-ahead"),
    ("startup", "become-primary-on"),
];

/// Builds the state from every node's observation.
pub fn build(obs: &[NodeObs], cluster_name: &str) -> Result<Imported, ImportError> {
    let mut out = Imported {
        cluster_name: cluster_name.to_string(),
        ..Default::default()
    };
    let hosts: BTreeMap<&str, &NodeObs> = obs.iter().map(|o| (o.hostname.as_str(), o)).collect();
    for o in obs {
        if name(&o.hostname).is_none() {
            return Err(inexpressible(
                &o.arg.key,
                format!(
                    "host name `{}` is not a valid object name (lower-case letters, digits, `-`)",
                    o.hostname
                ),
            ));
        }
    }
    volumes(&mut out, obs, &hosts)?;
    nodes(&mut out, obs)?;
    cluster(&mut out, obs);
    domains(&mut out, obs);
    network(&mut out, obs);
    ocfs2(&mut out, obs)?;
    out.notes.sort();
    out.notes.dedup();
    Ok(out)
}

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

fn volumes(
    out: &mut Imported,
    obs: &[NodeObs],
    hosts: &BTreeMap<&str, &NodeObs>,
) -> Result<(), ImportError> {
    let mut by_res: BTreeMap<String, Vec<Side>> = BTreeMap::new();
    for o in obs {
        let drbd = o.state.drbd.known().expect("complete observation");
        let lvm = o.state.lvm.known().expect("complete observation");
        for rc in &o.drbd_xml.resources {
            let node = &o.arg.key;
            let Some(c) = drbd.resources.get(&rc.name).and_then(|r| r.config.as_ref()) else {
                continue;
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
                continue;
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
            by_res.entry(rc.name.clone()).or_default().push(Side {
                node: o,
                rc,
                minor,
                port,
                vg: vg.to_string(),
                lv_size,
                meta,
            });
        }
    }
    for (res, sides) in by_res {
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
        let dual = sides.iter().any(|s| {
            s.node
                .state
                .drbd
                .known()
                .and_then(|d| d.resources.get(&res))
                .and_then(|r| r.config.as_ref())
                .is_some_and(|c| c.allow_two_primaries)
        });
        // xenflux touches only LVs it owns: an untagged one blocks its volume until handed over.
        let tag = crate::plan::action::MANAGED_TAG;
        for s in &sides {
            let mut lvs = vec![res.clone()];
            if matches!(s.meta, MetaDisk::Flexible { .. }) {
                lvs.push(format!("{res}-md"));
            }
            let lvm = s.node.state.lvm.known().expect("complete observation");
            for lv in lvs {
                let key = format!("{}/{lv}", s.vg);
                if lvm.lvs.get(&key).is_some_and(|l| !l.tags.contains(tag)) {
                    out.note(
                        &object,
                        format!(
                            "LV {key} on {} has no `{tag}` tag, so xenflux does not own it and its \
                             plans block this volume (and its domains) until it is handed over: \
                             `lvchange --addtag {tag} {key}` on {}",
                            s.node.hostname, s.node.hostname
                        ),
                    );
                }
            }
        }
        let filesystem = filesystem_of(out, &sides, &object);
        out.volumes.insert(
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
            },
        );
    }
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

fn nodes(out: &mut Imported, obs: &[NodeObs]) -> Result<(), ImportError> {
    for o in obs {
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
        out.nodes.insert(
            n,
            NodeSpec {
                address,
                ssh: o.arg.ssh.clone(),
                volume_group: vg,
                meta_volume,
                memory: None,
                schedulable: true,
                fence: None,
                allow_management_change: false,
            },
        );
        out.note(
            &object,
            "no `fence` command is written: automatic failover needs one (DESIGN §8)",
        );
    }
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

fn cluster(out: &mut Imported, obs: &[NodeObs]) {
    let mut spec = ClusterSpec::default();
    let v9 = obs.iter().any(|o| {
        o.state
            .drbd
            .known()
            .and_then(|d| d.module_version.as_deref())
            .is_some_and(|v| v.starts_with('9'))
    });
    spec.drbd.version = if v9 {
        DrbdVersion::V9
    } else {
        DrbdVersion::V84
    };
    let ports: Vec<u16> = out.volumes.values().filter_map(|v| v.port).collect();
    let default = PortRange::default();
    spec.drbd.ports = PortRange {
        first: ports
            .iter()
            .copied()
            .min()
            .map_or(default.first, |p| p.min(default.first)),
        last: ports
            .iter()
            .copied()
            .max()
            .map_or(default.last, |p| p.max(default.last)),
    };
    // The most common resync rate becomes the default when every volume has one.
    let mut rates: BTreeMap<String, usize> = BTreeMap::new();
    for v in out.volumes.values() {
        if let Some(r) = &v.sync_rate {
            *rates.entry(r.to_string()).or_default() += 1;
        }
    }
    let all_rated = out.volumes.values().all(|v| v.sync_rate.is_some());
    if all_rated {
        if let Some((common, _)) = rates
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(*r)))
        {
            let common: Rate = common.parse().expect("rendered from a Rate");
            for v in out.volumes.values_mut() {
                if v.sync_rate.as_ref() == Some(&common) {
                    v.sync_rate = None;
                }
            }
            spec.drbd.sync_rate = Some(common);
        }
    }
    for v in out.volumes.values_mut() {
        if v.protocol == Some(spec.drbd.protocol) {
            v.protocol = None;
        }
    }
    // Common-section options xenflux does not write.
    for o in obs {
        for sec in &o.drbd_xml.common {
            for (k, v) in &sec.options {
                let ours = sec.name == "net" && k.starts_with("after-sb-") && v == "disconnect"
                    || sec.name == "global" && k == "usage-count";
                if !ours {
                    out.note(
                        "Cluster",
                        format!(
                            "DRBD common option `{} {{ {k} {v}; }}` on {} is not modelled: xenflux's global_common.conf drops it",
                            sec.name, o.hostname
                        ),
                    );
                }
            }
        }
    }
    out.cluster = spec;
}

/// The xl cfg keys xenflux writes (with the values it writes for the `on_*` ones).
const XL_KEYS: &[&str] = &[
    "name",
    "type",
    "builder",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "bootloader",
    "kernel",
    "ramdisk",
    "root",
    "extra",
    "disk",
    "vif",
    "on_poweroff",
    "on_reboot",
    "on_crash",
];

fn domains(out: &mut Imported, obs: &[NodeObs]) {
    // Where each domain runs, and its config per node.
    let mut running: BTreeMap<String, Vec<&NodeObs>> = BTreeMap::new();
    let mut configs: BTreeMap<String, Vec<(&NodeObs, &str, &String)>> = BTreeMap::new();
    for o in obs {
        if let Some(x) = o.state.xen.known() {
            for (d, dom) in &x.domains {
                if !dom.stopping {
                    running.entry(d.clone()).or_default().push(o);
                }
            }
        }
        for (file, text) in &o.xl_configs {
            let stem = file.trim_end_matches(".cfg");
            let dname = XlConfig::parse(text)
                .ok()
                .and_then(|c| c.get_str("name"))
                .unwrap_or_else(|| stem.to_string());
            configs.entry(dname).or_default().push((o, file, text));
        }
    }
    let names: BTreeSet<String> = running.keys().chain(configs.keys()).cloned().collect();
    for d in names {
        let object = format!("Domain/{d}");
        let Some(dname) = name(&d) else {
            out.note(
                "Cluster",
                format!("domain `{d}` is not a valid object name: not imported (xenflux leaves it alone)"),
            );
            continue;
        };
        let runs = running.get(&d).cloned().unwrap_or_default();
        if runs.len() > 1 {
            out.note(
                &object,
                format!(
                    "runs on several nodes at once ({}): not imported",
                    runs.iter()
                        .map(|o| o.hostname.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        }
        let cfgs = configs.get(&d).cloned().unwrap_or_default();
        // The config of the node it runs on, else the first node's.
        let chosen = runs
            .first()
            .and_then(|r| cfgs.iter().find(|(o, _, _)| o.hostname == r.hostname))
            .or(cfgs.first());
        let Some((cfg_node, file, text)) = chosen else {
            out.note(
                &object,
                "runs with no /etc/xen/*.cfg on any node: not imported (its boot settings are unknown)",
            );
            continue;
        };
        for (o, f, t) in &cfgs {
            if t != text {
                out.note(
                    &object,
                    format!(
                        "/etc/xen/{f} on {} differs from /etc/xen/{file} on {}: the latter is imported",
                        o.hostname, cfg_node.hostname
                    ),
                );
            }
        }
        let cfg = match XlConfig::parse(text) {
            Ok(c) => c,
            Err(e) => {
                out.note(
                    &object,
                    format!(
                        "/etc/xen/{file} on {} does not parse ({e}): not imported",
                        cfg_node.hostname
                    ),
                );
                continue;
            }
        };
        let node = runs.first().copied().unwrap_or(cfg_node);
        if runs.is_empty() && cfgs.len() > 1 {
            out.note(
                &object,
                format!(
                    "runs nowhere and has a config on several nodes: {} is written as its preferred node",
                    node.hostname
                ),
            );
        }
        if file.trim_end_matches(".cfg") != d {
            out.note(
                &object,
                format!(
                    "its config is /etc/xen/{file}: xenflux writes /etc/xen/{d}.cfg and leaves the old file alone"
                ),
            );
        }
        match domain_spec(out, &object, &cfg, node, obs) {
            Some(mut spec) => {
                spec.state = if runs.is_empty() {
                    DomainState::Stopped
                } else {
                    DomainState::Running
                };
                spec.node = name(&node.hostname).expect("checked");
                out.domains.insert(dname, spec);
            }
            None => continue,
        }
    }
}

/// A domain's spec from its xl config, or None (with a note) when it cannot be said.
fn domain_spec(
    out: &mut Imported,
    object: &str,
    cfg: &XlConfig,
    node: &NodeObs,
    obs: &[NodeObs],
) -> Option<DomainSpec> {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for s in &cfg.settings {
        keys.insert(s.key.as_str());
    }
    for k in &keys {
        if !XL_KEYS.contains(k) {
            out.note(
                object,
                format!(
                    "xl cfg key `{k} = {}` is not modelled: the rewritten config drops it",
                    cfg.get(k).map(|v| render_value(&v)).unwrap_or_default()
                ),
            );
        }
    }
    // (key, what xenflux writes, xl's default when the key is absent: xl.cfg(5)).
    for (k, ours, default) in [
        ("on_poweroff", "destroy", "destroy"),
        ("on_reboot", "restart", "restart"),
        ("on_crash", "restart", "destroy"),
    ] {
        let v = cfg.get_str(k).unwrap_or_else(|| default.to_string());
        if v != ours {
            out.note(
                object,
                format!("xl cfg `{k} = \"{v}\"` (set or xl's default) is not modelled: xenflux writes `{ours}`"),
            );
        }
    }
    let kind = match (cfg.get_str("type"), cfg.get_str("builder")) {
        (Some(t), _) if t == "hvm" => GuestType::Hvm,
        (Some(t), _) if t == "pvh" => GuestType::Pvh,
        (None, Some(b)) if b == "hvm" => GuestType::Hvm,
        _ => GuestType::Pv,
    };
    let running = node
        .state
        .xen
        .known()
        .and_then(|x| x.domains.get(object.trim_start_matches("Domain/")));
    let cfg_mem = cfg.get_i64("memory").and_then(|m| u64::try_from(m).ok());
    let memory_mib = running
        .and_then(|r| r.memory_mib)
        .or(cfg_mem)
        .unwrap_or(128);
    let max_mem = running
        .and_then(|r| r.max_memory_mib)
        .or(cfg.get_i64("maxmem").and_then(|m| u64::try_from(m).ok()));
    let vcpus = running
        .and_then(|r| r.vcpus)
        .or(cfg.get_i64("vcpus").and_then(|v| u32::try_from(v).ok()))
        .unwrap_or(1);
    let max_vcpus = running
        .and_then(|r| r.max_vcpus)
        .or(cfg.get_i64("maxvcpus").and_then(|v| u32::try_from(v).ok()));
    if let (Some(r), Some(c)) = (running.and_then(|r| r.memory_mib), cfg_mem) {
        if r != c {
            out.note(
                object,
                format!("runs with {r} MiB, its config says {c} MiB: the running value is written"),
            );
        }
    }
    // Volumes by minor on this node.
    let by_minor: BTreeMap<u32, Name> = out
        .volumes
        .iter()
        .filter_map(|(n, v)| Some((v.minor?, n.clone())))
        .collect();
    let mut disks = Vec::new();
    for d in cfg
        .get("disk")
        .and_then(|v| {
            v.as_str_list()
                .map(|l| l.into_iter().map(String::from).collect::<Vec<_>>())
        })
        .unwrap_or_default()
    {
        let spec = match XlDisk::parse(&d) {
            Ok(s) => s,
            Err(e) => {
                out.note(
                    object,
                    format!("disk `{d}` does not parse ({e}): domain not imported"),
                );
                return None;
            }
        };
        let target = spec.target.as_deref().unwrap_or("");
        let volume = if let Some(m) = target
            .strip_prefix("/dev/drbd")
            .and_then(|m| m.parse::<u32>().ok())
        {
            by_minor.get(&m).cloned()
        } else if let Some(res) = target
            .strip_prefix("drbd:")
            .or_else(|| (spec.script.as_deref() == Some("block-drbd")).then_some(target))
        {
            name(res).filter(|n| out.volumes.contains_key(n))
        } else {
            None
        };
        let Some(volume) = volume else {
            out.note(
                object,
                format!("disk `{d}` is not on a DRBD volume xenflux imported: domain not imported (xenflux would detach or refuse it)"),
            );
            return None;
        };
        if !spec.other.is_empty()
            || spec.format.as_deref().is_some_and(|f| f != "raw")
            || spec.devtype.is_some()
        {
            out.note(
                object,
                format!("disk `{d}`: options beyond target, vdev and mode are not modelled"),
            );
        }
        disks.push(DiskSpec {
            volume,
            target: spec.vdev.clone(),
            mode: match spec.access {
                Some(DiskAccess::ReadOnly) => DiskMode::ReadOnly,
                _ => DiskMode::ReadWrite,
            },
        });
    }
    let mut nics = Vec::new();
    for v in cfg
        .get("vif")
        .and_then(|v| {
            v.as_str_list()
                .map(|l| l.into_iter().map(String::from).collect::<Vec<_>>())
        })
        .unwrap_or_default()
    {
        let spec = match VifSpec::parse(&v) {
            Ok(s) => s,
            Err(e) => {
                out.note(
                    object,
                    format!("vif `{v}` does not parse ({e}): domain not imported"),
                );
                return None;
            }
        };
        let Some(bridge) = spec
            .bridge
            .as_deref()
            .and_then(|b| b.parse::<IfName>().ok())
        else {
            out.note(
                object,
                format!("vif `{v}` names no bridge: domain not imported"),
            );
            return None;
        };
        let mac: Option<crate::model::Mac> = spec.mac.as_deref().and_then(|m| m.parse().ok());
        if let Some(m) = mac.filter(|m| !m.is_xen()) {
            // A new MAC would be a new NIC to the guest: not imported rather than changed.
            out.note(
                object,
                format!("vif `{v}`: MAC {m} is outside Xen's range 00:16:3e, which xenflux requires: domain not imported"),
            );
            return None;
        }
        if mac.is_none() {
            out.note(
                object,
                format!("vif `{v}` has no fixed MAC: the guest sees a new one unless one is pinned; the running one (if any) is kept by the allocator"),
            );
        }
        if spec.kind.is_some()
            || spec.model.is_some()
            || spec.vifname.is_some()
            || spec.script.is_some()
            || spec.ip.is_some()
            || !spec.other.is_empty()
        {
            out.note(
                object,
                format!("vif `{v}`: settings beyond mac and bridge are not modelled"),
            );
        }
        nics.push(NicSpec { bridge, mac });
    }
    let _ = obs;
    Some(DomainSpec {
        node: name(&node.hostname).expect("checked"),
        state: DomainState::Running,
        memory: Size(memory_mib * MIB),
        max_memory: max_mem.filter(|m| *m != memory_mib).map(|m| Size(m * MIB)),
        vcpus,
        max_vcpus: max_vcpus.filter(|m| *m != vcpus),
        priority: 0,
        restart_on_change: false,
        kind,
        bootloader: cfg.get_str("bootloader"),
        kernel: cfg.get_str("kernel"),
        ramdisk: cfg.get_str("ramdisk"),
        extra: cfg.get_str("extra"),
        root: cfg.get_str("root"),
        disks,
        nics,
    })
}

fn render_value(v: &crate::drivers::xlcfg::XlValue) -> String {
    let mut c = XlConfig::default();
    c.set("x", v.clone());
    c.to_string().trim().trim_start_matches("x = ").to_string()
}

/// Interfaces of domains (`vifD.N`, `vifD.N-emu`, `tapD.N`) are Xen's, never bridge uplinks.
fn is_guest_if(n: &str) -> bool {
    n.starts_with("vif") || n.starts_with("tap")
}

/// The one-word option `key` of `iface NAME` in an ifupdown file (`gateway`, `bond-primary`).
fn ifupdown_option<'t>(text: &'t str, iface: &str, key: &str) -> Option<&'t str> {
    let mut inside = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["iface", n, ..] => inside = *n == iface,
            ["auto" | "allow-hotplug" | "mapping" | "source" | "source-directory", ..] => {
                inside = false
            }
            [k, v] if inside && *k == key => return Some(v),
            _ => {}
        }
    }
    None
}

fn ifupdown_gateway(text: &str, iface: &str) -> Option<IpAddr> {
    ifupdown_option(text, iface, "gateway")?.parse().ok()
}

fn network(out: &mut Imported, obs: &[NodeObs]) {
    let all: BTreeSet<Name> = out.nodes.keys().cloned().collect();
    let mut bonds: BTreeMap<String, Vec<(Name, BondSpec)>> = BTreeMap::new();
    let mut bridges: BTreeMap<String, Vec<(Name, BridgeSpec)>> = BTreeMap::new();
    for o in obs {
        let n = name(&o.hostname).expect("checked");
        let net = o.state.net.known().expect("complete");
        let file = |path: &str| {
            o.state
                .files
                .get(path)
                .and_then(|p| p.known())
                .and_then(|t| t.clone())
        };
        for (ifname, l) in &net.links {
            let slaves = || -> Vec<IfName> {
                net.links
                    .iter()
                    .filter(|(p, pl)| pl.master.as_deref() == Some(ifname) && !is_guest_if(p))
                    .filter_map(|(p, _)| p.parse().ok())
                    .collect()
            };
            match l.kind.as_deref() {
                Some("bond") => {
                    let status = o.bonding.get(ifname);
                    let field = |k: &str| {
                        status.and_then(|s| {
                            s.fields
                                .iter()
                                .find(|(fk, _)| fk == k)
                                .map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string())
                        })
                    };
                    let Some(mode) = status.and_then(|s| bond_mode(&s.mode)) else {
                        out.note(
                            format!("Bond/{ifname}"),
                            format!("mode on {} unknown: not imported", o.hostname),
                        );
                        continue;
                    };
                    let lacp_rate = match field("LACP rate").as_deref() {
                        Some("fast") if mode == BondMode::Lacp => Some(LacpRate::Fast),
                        Some("slow") if mode == BondMode::Lacp => Some(LacpRate::Slow),
                        _ => None,
                    };
                    let xmit = match field("Transmit Hash Policy").as_deref() {
                        Some("layer2+3") => Some(XmitHashPolicy::Layer23),
                        Some("layer3+4") => Some(XmitHashPolicy::Layer34),
                        Some("encap2+3") => Some(XmitHashPolicy::Encap23),
                        Some("encap3+4") => Some(XmitHashPolicy::Encap34),
                        Some("layer2") => Some(XmitHashPolicy::Layer2),
                        _ => None,
                    };
                    let spec = BondSpec {
                        nodes: None,
                        mode,
                        slaves: slaves(),
                        miimon: status.and_then(|s| s.miimon_ms).unwrap_or(100),
                        lacp_rate,
                        xmit_hash_policy: xmit,
                        // The kernel's, else the one the interface file sets for the next boot.
                        primary: status
                            .and_then(|s| s.primary_slave.as_deref())
                            .and_then(|p| p.split_whitespace().next())
                            .map(str::to_string)
                            .or_else(|| {
                                [format!("{INTERFACES_D}/{ifname}"), NETWORK_FILE.to_string()]
                                    .iter()
                                    .find_map(|f| {
                                        ifupdown_option(&file(f)?, ifname, "bond-primary")
                                            .map(str::to_string)
                                    })
                            })
                            .and_then(|p| p.parse().ok()),
                    };
                    bonds
                        .entry(ifname.clone())
                        .or_default()
                        .push((n.clone(), spec));
                }
                Some("bridge") => {
                    let mut addrs = l.addresses.iter().filter_map(|a| a.parse::<Cidr>().ok());
                    let mut addresses = BTreeMap::new();
                    if let Some(a) = addrs.next() {
                        addresses.insert(n.clone(), a);
                    }
                    let rest: Vec<String> = addrs.map(|a| a.to_string()).collect();
                    if !rest.is_empty() {
                        out.note(
                            format!("Bridge/{ifname}"),
                            format!(
                                "further addresses on {} are not modelled: {}",
                                o.hostname,
                                rest.join(", ")
                            ),
                        );
                    }
                    let mut gateways = BTreeMap::new();
                    let gw = file(&format!("{INTERFACES_D}/{ifname}"))
                        .and_then(|t| ifupdown_gateway(&t, ifname))
                        .or_else(|| file(NETWORK_FILE).and_then(|t| ifupdown_gateway(&t, ifname)));
                    if let Some(gw) = gw {
                        gateways.insert(n.clone(), gw);
                    }
                    let spec = BridgeSpec {
                        nodes: None,
                        ports: slaves(),
                        stp: l.stp.unwrap_or(false),
                        forward_delay: l.forward_delay,
                        addresses,
                        gateways,
                    };
                    bridges
                        .entry(ifname.clone())
                        .or_default()
                        .push((n.clone(), spec));
                }
                _ => {
                    let global: Vec<&String> = l
                        .addresses
                        .iter()
                        .filter(|a| {
                            !a.starts_with("127.")
                                && !a.starts_with("::1")
                                && !a.starts_with("fe80:")
                        })
                        .collect();
                    if !global.is_empty() && l.master.is_none() && !is_guest_if(ifname) {
                        out.note(
                            format!("Node/{}", o.hostname),
                            format!(
                                "interface {ifname} has {}: addresses outside bridges are not modelled (xenflux leaves them alone)",
                                global.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }
    for (b, per_node) in bonds {
        let Some(bname) = name(&b) else {
            out.note(
                "Cluster",
                format!("bond `{b}` is not a valid object name: not imported"),
            );
            continue;
        };
        let first = per_node[0].1.clone();
        if per_node.iter().any(|(_, s)| s != &first) {
            out.note(
                format!("Bond/{b}"),
                "differs between nodes: the first node's settings are written",
            );
        }
        let on: BTreeSet<Name> = per_node.iter().map(|(n, _)| n.clone()).collect();
        out.bonds.insert(
            bname,
            BondSpec {
                nodes: (on != all).then(|| on.into_iter().collect()),
                ..first
            },
        );
    }
    for (b, per_node) in bridges {
        let Some(bname) = name(&b) else {
            out.note(
                "Cluster",
                format!("bridge `{b}` is not a valid object name: not imported"),
            );
            continue;
        };
        let mut merged = per_node[0].1.clone();
        for (_, s) in &per_node[1..] {
            if s.ports != merged.ports
                || s.stp != merged.stp
                || s.forward_delay != merged.forward_delay
            {
                out.note(
                    format!("Bridge/{b}"),
                    "ports or STP differ between nodes: the first node's are written",
                );
            }
            merged.addresses.extend(s.addresses.clone());
            merged.gateways.extend(s.gateways.clone());
        }
        let on: BTreeSet<Name> = per_node.iter().map(|(n, _)| n.clone()).collect();
        merged.nodes = (on != all).then(|| on.into_iter().collect());
        out.bridges.insert(bname, merged);
    }
}

fn bond_mode(m: &crate::drivers::net::BondMode) -> Option<BondMode> {
    use crate::drivers::net::BondMode as K;
    Some(match m {
        K::BalanceRr => BondMode::BalanceRr,
        K::ActiveBackup => BondMode::ActiveBackup,
        K::BalanceXor => BondMode::BalanceXor,
        K::Broadcast => BondMode::Broadcast,
        K::Ieee8023ad => BondMode::Lacp,
        K::BalanceTlb => BondMode::BalanceTlb,
        K::BalanceAlb => BondMode::BalanceAlb,
        K::Unknown(_) => return None,
    })
}

/// `KEY=VALUE` from `/etc/default/o2cb`.
fn o2cb_default(text: &str, key: &str) -> Option<u32> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.trim().trim_matches('"').parse().ok())
}

fn ocfs2(out: &mut Imported, obs: &[NodeObs]) -> Result<(), ImportError> {
    let mut clusters: BTreeMap<String, BTreeMap<String, (u32, String, u16)>> = BTreeMap::new();
    for o in obs {
        let s = o.state.ocfs2.known().expect("complete");
        for (c, nodes) in &s.clusters {
            clusters.entry(c.clone()).or_default().extend(nodes.clone());
        }
    }
    for (c, members) in clusters {
        let object = format!("Ocfs2Cluster/{c}");
        let Some(cname) = name(&c) else {
            out.note(
                "Cluster",
                format!("O2CB cluster `{c}` is not a valid object name: not imported"),
            );
            continue;
        };
        let mut nodes = Vec::new();
        let mut ports = BTreeSet::new();
        for (m, (number, ip, port)) in &members {
            let (Some(n), Ok(address)) = (name(m), ip.parse::<IpAddr>()) else {
                return Err(ImportError::Cluster(format!(
                    "O2CB cluster `{c}`: member `{m}` ({ip}) is not a valid node name or address"
                )));
            };
            if !out.nodes.contains_key(&n) {
                return Err(ImportError::Cluster(format!(
                    "O2CB cluster `{c}` has member `{m}`, which is not among the nodes imported: add --node for it"
                )));
            }
            nodes.push(Ocfs2Node {
                node: n,
                number: *number,
                address,
            });
            ports.insert(*port);
        }
        if ports.len() > 1 {
            out.note(
                &object,
                "members use different ports: the lowest is written",
            );
        }
        let mut heartbeat = Heartbeat::default();
        if let Some(text) = obs.iter().find_map(|o| {
            o.state
                .files
                .get(O2CB_DEFAULTS)
                .and_then(|p| p.known())
                .and_then(|t| t.clone())
        }) {
            if let Some(v) = o2cb_default(&text, "O2CB_HEARTBEAT_THRESHOLD") {
                heartbeat.dead_threshold = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_IDLE_TIMEOUT_MS") {
                heartbeat.idle_timeout_ms = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_KEEPALIVE_DELAY_MS") {
                heartbeat.keepalive_delay_ms = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_RECONNECT_DELAY_MS") {
                heartbeat.reconnect_delay_ms = v;
            }
        }
        // Filesystems: OCFS2 devices of this cluster that are DRBD volumes, and where mounted.
        let mut filesystems: BTreeMap<Name, Ocfs2Filesystem> = BTreeMap::new();
        for o in obs {
            let s = o.state.ocfs2.known().expect("complete");
            for (dev, d) in &s.devices {
                if d.cluster.as_deref() != Some(c.as_str()) || d.heartbeat_device {
                    continue;
                }
                let Some(minor) = dev
                    .strip_prefix("/dev/drbd")
                    .and_then(|m| m.parse::<u32>().ok())
                else {
                    continue;
                };
                let Some((vname, _)) = out.volumes.iter().find(|(_, v)| v.minor == Some(minor))
                else {
                    continue;
                };
                let Some(mountpoint) = s
                    .mounts
                    .iter()
                    .find(|(_, (md, t))| md == dev && t == "ocfs2")
                    .and_then(|(mp, _)| mp.parse().ok())
                else {
                    continue;
                };
                let Some(label) = d.label.clone() else {
                    out.note(&object, format!("{dev} has no label: not imported"));
                    continue;
                };
                filesystems.entry(vname.clone()).or_insert(Ocfs2Filesystem {
                    name: vname.clone(),
                    volume: vname.clone(),
                    label,
                    slots: (nodes.len() as u32).max(2),
                    mountpoint,
                    mount_options: None,
                });
            }
        }
        for f in filesystems.values() {
            out.note(
                &object,
                format!(
                    "filesystem {}: its slot count is not read; {} is written (used only by mkfs.ocfs2, which never runs on a filesystem that exists)",
                    f.name, f.slots
                ),
            );
        }
        out.ocfs2.insert(
            cname,
            Ocfs2ClusterSpec {
                port: ports
                    .into_iter()
                    .next()
                    .unwrap_or(crate::model::O2CB_DEFAULT_PORT),
                nodes,
                heartbeat,
                filesystems: filesystems.into_values().collect(),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_from_ifupdown() {
        let t = "auto lo\niface lo inet loopback\nauto xenbr0\niface xenbr0 inet static\n    address 10.0.0.2/24\n    gateway 10.0.0.1\n";
        assert_eq!(ifupdown_gateway(t, "xenbr0"), "10.0.0.1".parse().ok());
        assert_eq!(ifupdown_gateway(t, "lo"), None);
        let b = "auto bond0\niface bond0 inet manual\n    bond-slaves eth0 eth1\n    bond-primary eth0\n";
        assert_eq!(ifupdown_option(b, "bond0", "bond-primary"), Some("eth0"));
        assert_eq!(ifupdown_option(b, "bond1", "bond-primary"), None);
    }

    #[test]
    fn o2cb_defaults() {
        assert_eq!(
            o2cb_default("O2CB_HEARTBEAT_THRESHOLD=61\n", "O2CB_HEARTBEAT_THRESHOLD"),
            Some(61)
        );
        assert_eq!(o2cb_default("# x\n", "O2CB_HEARTBEAT_THRESHOLD"), None);
    }

    #[test]
    fn backing_paths() {
        assert_eq!(vg_lv("/dev/XEN/dns"), Some(("XEN", "dns")));
        assert_eq!(vg_lv("/dev/sdb1"), None);
        assert_eq!(vg_lv("/dev/mapper/a/b"), None);
    }
}
