//! The observed state: what a node really has, in the planner's terms, normalised from whatever
//! the tools printed (DRBD 8.4 and 9 alike). Every part is either known or explicitly unknown —
//! with the command, exit status and stderr that failed. Unknown is never "empty": a planner
//! that sees `Unknown` must not create or delete anything there.

mod probe;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::alloc::{Existing, NodeUsage, ResourceUse};
use crate::drivers::drbd::meta::MetaFound;
use crate::drivers::drbd::{ConnectionState, DiskState, ReplState, Role};
use crate::drivers::net::{BondMode, PortState};
use crate::model::{Mac, Name};

pub use probe::{commands, interpret, observe_node, Probe};

/// The parts of a node's observation, for a probe that asks about only some of them (the
/// executor's verification looks only at what a stage changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartKind {
    Lvm,
    Drbd,
    Xen,
    Net,
    Ocfs2,
    Listening,
    Files,
    Filesystems,
    MetaData,
    Images,
}

impl PartKind {
    /// How reports name the part.
    pub fn label(self) -> &'static str {
        match self {
            PartKind::Lvm => "LVM",
            PartKind::Drbd => "DRBD",
            PartKind::Xen => "Xen",
            PartKind::Net => "network",
            PartKind::Ocfs2 => "OCFS2",
            PartKind::Listening => "listening ports",
            PartKind::Files => "config files",
            PartKind::Filesystems => "filesystems",
            PartKind::MetaData => "DRBD meta-data",
            PartKind::Images => "disk images",
        }
    }
}

/// A part of a node's state: known, or unknown with the reason. Serialised as the value itself
/// when known, and as `{unknown: {command, status, stderr, reason}}` when not.
#[derive(Clone, Debug, PartialEq)]
pub enum Part<T> {
    Known(T),
    Unknown(Unknown),
}

impl<T: Serialize> Serialize for Part<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Part::Known(t) => t.serialize(s),
            Part::Unknown(u) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("unknown", u)?;
                m.end()
            }
        }
    }
}

impl<T> Part<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Part::Known(t) => Some(t),
            Part::Unknown(_) => None,
        }
    }
    pub fn is_known(&self) -> bool {
        matches!(self, Part::Known(_))
    }
    /// The known value changed by `f`; unknown stays unknown.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Known(t) => Part::Known(f(t)),
            Part::Unknown(u) => Part::Unknown(u),
        }
    }

    /// The known value completed by `f`, which may find it unknown after all.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Part<U>) -> Part<U> {
        match self {
            Part::Known(t) => f(t),
            Part::Unknown(u) => Part::Unknown(u),
        }
    }
}

/// Why a part is unknown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unknown {
    /// The command as an operator would type it (empty when the node was not reached).
    pub command: String,
    pub status: Option<i32>,
    pub stderr: String,
    pub reason: String,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.command.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "`{}` {}", self.command, self.reason)
        }
    }
}

impl<T> Part<T> {
    /// Why the part is unknown; None when it is known.
    pub fn unknown(&self) -> Option<&Unknown> {
        match self {
            Part::Known(_) => None,
            Part::Unknown(u) => Some(u),
        }
    }
}

/// Every node's observation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Observed {
    pub nodes: BTreeMap<Name, NodeState>,
}

/// One node, from one batch of commands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeState {
    pub lvm: Part<LvmState>,
    pub drbd: Part<DrbdState>,
    pub xen: Part<XenState>,
    pub net: Part<NetState>,
    pub ocfs2: Part<Ocfs2State>,
    /// TCP ports something listens on.
    pub listening: Part<BTreeSet<u16>>,
    /// Managed files: content, or None when the file does not exist.
    pub files: BTreeMap<String, Part<Option<String>>>,
    /// Filesystem type on block devices (`blkid -p`): None when the device is blank.
    pub filesystems: BTreeMap<String, Part<Option<String>>>,
    /// What meta-data locations hold (`drbdmeta … dump-md`), by [`crate::drivers::drbd::meta::MetaLocation::key`]; read
    /// only where xenflux may be about to run `create-md`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Part<MetaFound>>,
    /// Domain image files on OCFS2, by path: what `stat` says, None when missing. Unknown
    /// while the filesystem is not mounted on the node (its root would answer "missing").
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, Part<Option<crate::drivers::image::Stat>>>,
}

impl NodeState {
    /// The running domains that have block device `path` attached, with its virtual device
    /// (`(domain, vdev)`); none when Xen could not be observed.
    pub fn attached(&self, path: &str) -> Vec<(String, String)> {
        let Some(x) = self.xen.known() else {
            return Vec::new();
        };
        x.domains
            .iter()
            .flat_map(|(dom, d)| {
                d.disks
                    .iter()
                    .filter(|(p, _, _)| p == path)
                    .map(move |(_, v, _)| (dom.clone(), v.clone()))
            })
            .collect()
    }

    /// Why `part` is unknown; for files and filesystems, the first path that is.
    pub fn unknown_in(&self, part: PartKind) -> Option<&Unknown> {
        match part {
            PartKind::Lvm => self.lvm.unknown(),
            PartKind::Drbd => self.drbd.unknown(),
            PartKind::Xen => self.xen.unknown(),
            PartKind::Net => self.net.unknown(),
            PartKind::Ocfs2 => self.ocfs2.unknown(),
            PartKind::Listening => self.listening.unknown(),
            PartKind::Files => self.files.values().find_map(Part::unknown),
            PartKind::Filesystems => self.filesystems.values().find_map(Part::unknown),
            PartKind::MetaData => self.metadata.values().find_map(Part::unknown),
            PartKind::Images => self.images.values().find_map(Part::unknown),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LvmState {
    pub vgs: BTreeMap<String, VgState>,
    /// By `VG/LV`.
    pub lvs: BTreeMap<String, LvState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VgState {
    pub size: u64,
    pub free: u64,
    pub extent_size: u64,
    pub tags: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LvState {
    pub size: u64,
    pub tags: BTreeSet<String>,
    /// From lv_attr; None where the tool could not tell (no device-mapper).
    pub active: Option<bool>,
    pub open: Option<bool>,
    /// Set when the LV is a copy-on-write snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapState>,
}

/// What `lvs` tells of a snapshot LV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapState {
    /// The LV it is a snapshot of, in the same VG (`origin`; empty when LVM did not say).
    pub origin: String,
    /// Its copy-on-write space filled up (`lv_attr` `I`): the snapshot's data is gone.
    pub invalid: bool,
    /// How full its copy-on-write space is, in hundredths of a percent (`snap_percent`
    /// 12.50 → 1250); None where LVM prints none (inactive or invalid).
    pub used_hundredths: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DrbdState {
    /// The kernel module's version (`/proc/drbd`); None when the module is not loaded.
    pub module_version: Option<String>,
    /// Resources by name: configuration (`drbdadm dump-xml`) and kernel state.
    pub resources: BTreeMap<String, DrbdResource>,
    /// Kernel devices whose minor no configured resource claims.
    pub stray_minors: BTreeSet<u32>,
    /// Size in bytes of each configured DRBD device, by minor.
    pub device_sizes: BTreeMap<u32, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DrbdResource {
    pub config: Option<DrbdConfig>,
    pub kernel: Option<DrbdKernel>,
}

/// A resource as this node's configuration describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrbdConfig {
    /// The file that defines it.
    pub file: Option<String>,
    pub minor: Option<u32>,
    /// This node's backing disk.
    pub disk: Option<String>,
    pub meta: Option<MetaDisk>,
    /// Port of this node's address.
    pub port: Option<u16>,
    /// Every host of the resource with its address (`IP:PORT`).
    pub hosts: BTreeMap<String, Option<String>>,
    /// DRBD 9 node-ids by host.
    pub node_ids: BTreeMap<String, u32>,
    pub allow_two_primaries: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum MetaDisk {
    Internal,
    Indexed { path: String, index: u32 },
    Flexible { path: String },
}

/// A resource's kernel state (DRBD 9 vocabulary; 8.4's connection states are mapped).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrbdKernel {
    pub minor: Option<u32>,
    pub role: Role,
    pub disk: DiskState,
    pub peers: Vec<DrbdPeer>,
    /// Net option `allow-two-primaries` as the kernel runs it (`drbdsetup show`), which
    /// `drbdadm net-options` can change without the file; None when it could not be read.
    pub allow_two_primaries: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrbdPeer {
    /// The peer's host name (DRBD 9) — None on 8.4, which does not say.
    pub name: Option<String>,
    pub connection: ConnectionState,
    pub replication: ReplState,
    pub role: Role,
    pub disk: DiskState,
    /// Resync progress, percent done.
    pub sync_percent: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct XenState {
    /// Running domains (Domain-0 excluded) by name.
    pub domains: BTreeMap<String, XenDomain>,
    /// Domains Xen keeps after a crash, by id (see [`KeptDomain`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kept: BTreeMap<u32, KeptDomain>,
    /// Copies being received, by the name of the domain they copy: `xl migrate-receive` names
    /// its domain `NAME--incoming` until it takes over — the target of a live migration for a
    /// moment, the shadow of a Remus-protected domain for as long as it is protected.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub incoming: BTreeMap<String, XenDomain>,
    /// Protected domains whose sending `xl remus` runs here (the ones the probe asked about).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub senders: BTreeSet<String>,
    pub total_memory_mib: Option<u64>,
    /// Xen's own count (`xl info`), so the memory kept domains hold is already taken out.
    pub free_memory_mib: Option<u64>,
    pub version: Option<String>,
}

/// A domain Xen keeps after it crashed (`on_crash=preserve`, or one that never finished
/// dying), which `xl list` shows as `(null)`, often `--p--d` or `-----c`. It is no domain of
/// the desired state, so nothing starts, stops or migrates it, but it holds its memory until
/// an operator inspects it and runs `xl destroy ID`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeptDomain {
    pub memory_mib: u64,
    /// The `xl list` state flags, e.g. `--p--d`; empty when the table did not list it.
    pub state: String,
    /// The name its saved configuration still carries, if `xl list -l` has one.
    pub former_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct XenDomain {
    pub domid: Option<u32>,
    /// The balloon target (`b_info.target_memkb`), MiB: what `xl mem-set` last set.
    pub memory_mib: Option<u64>,
    /// The static maximum (`b_info.max_memkb`, xl `maxmem`), MiB: how far memory can go live.
    pub max_memory_mib: Option<u64>,
    /// Online vCPUs (`b_info.avail_vcpus`): what `xl vcpu-set` last set.
    pub vcpus: Option<u32>,
    /// `b_info.max_vcpus` (xl `maxvcpus`): how many vCPUs can be online without a restart.
    pub max_vcpus: Option<u32>,
    /// `(backend path, virtual device, writable)`.
    pub disks: Vec<(String, String, bool)>,
    /// `(mac, bridge)`.
    pub nics: Vec<(Option<String>, Option<String>)>,
    /// Shut down or dying (`xl list` flag `s` or `d`): still listed, and still holding its name
    /// and memory, until Xen reaps it — but no longer running.
    pub stopping: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetState {
    pub links: BTreeMap<String, LinkState>,
    /// `/proc/net/bonding/NAME` of the bonds xenflux was asked about.
    pub bonds: BTreeMap<String, BondState>,
    /// The node's address of the SSH connection xenflux observed it through (None when it
    /// came in otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management: Option<String>,
}

impl NetState {
    /// The interface holding the management connection's address, if any.
    pub fn management_link(&self) -> Option<&str> {
        let ip = self.management.as_deref()?;
        self.links
            .iter()
            .find(|(_, l)| l.addresses.iter().any(|a| a.split('/').next() == Some(ip)))
            .map(|(n, _)| n.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkState {
    /// `bridge`, `bond`, `veth`, ... (None for a physical NIC).
    pub kind: Option<String>,
    pub up: bool,
    pub master: Option<String>,
    pub mac: Option<String>,
    /// Bridges: STP on.
    pub stp: Option<bool>,
    /// Bridges: forward delay in seconds.
    pub forward_delay: Option<u32>,
    /// Bridge ports: STP port state.
    pub port_state: Option<PortState>,
    /// Bonds: mode.
    pub bond_mode: Option<BondMode>,
    /// `ADDRESS/PREFIX` of the interface.
    pub addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BondState {
    pub mode: BondMode,
    pub active_slave: Option<String>,
    pub mii_status: Option<String>,
    /// Slave name → MII status.
    pub slaves: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ocfs2State {
    /// `/etc/ocfs2/cluster.conf`: cluster name → its nodes (name → number, ip, port).
    pub clusters: BTreeMap<String, BTreeMap<String, (u32, String, u16)>>,
    /// OCFS2 filesystems by device (`mounted.ocfs2 -d/-f`).
    pub devices: BTreeMap<String, Ocfs2Device>,
    /// Mountpoint → (device, fstype), from `/proc/mounts`.
    pub mounts: BTreeMap<String, (String, String)>,
    /// O2CB clusters that are online (`o2cb cluster-status`).
    pub online: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ocfs2Device {
    pub label: Option<String>,
    pub cluster: Option<String>,
    /// None when `mounted.ocfs2 -d` printed none.
    pub uuid: Option<String>,
    /// Nodes that have it mounted, when asked (`xenflux observe` asks; planning does not) and the
    /// tool says and names them.
    pub mounted_on: Option<Vec<String>>,
    /// A global-heartbeat device (never mounted as a filesystem).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub heartbeat_device: bool,
}

fn xl_cfg_domain(path: &str) -> Option<&str> {
    path.strip_prefix("/etc/xen/")?.strip_suffix(".cfg")
}

/// Records the MACs of a domain's NICs (by NIC index); a domain whose name is not a valid object
/// name cannot be in the desired state, so its MACs are simply taken.
fn add_macs(out: &mut Existing, domain: &str, macs: impl Iterator<Item = Option<Mac>>) {
    let name: Option<Name> = domain.parse().ok();
    for (i, mac) in macs.enumerate() {
        let Some(mac) = mac else { continue };
        match &name {
            Some(n) => {
                out.macs.entry((n.clone(), i)).or_insert(mac);
            }
            None => {
                out.foreign_macs.insert(mac);
            }
        }
    }
}

impl Observed {
    /// What the allocator must treat as taken or keep (sticky allocation): every DRBD resource
    /// each node has configured, the ports it listens on, and the MACs of running domains.
    /// Parts that are unknown contribute nothing.
    pub fn existing(&self) -> Existing {
        let mut out = Existing::default();
        for (node, state) in &self.nodes {
            let mut usage = NodeUsage::default();
            if let Some(drbd) = state.drbd.known() {
                // Kernel devices no configuration claims still hold their minor.
                for m in &drbd.stray_minors {
                    usage.resources.insert(
                        format!("(minor {m})"),
                        ResourceUse {
                            minor: Some(*m),
                            ..Default::default()
                        },
                    );
                }
                for (name, r) in &drbd.resources {
                    let Some(c) = &r.config else { continue };
                    let meta_index = match &c.meta {
                        Some(MetaDisk::Indexed { index, .. }) => Some(*index),
                        _ => None,
                    };
                    usage.resources.insert(
                        name.clone(),
                        ResourceUse {
                            minor: c.minor,
                            port: c.port,
                            meta_index,
                            node_ids: c.node_ids.clone(),
                        },
                    );
                }
            }
            if let Some(ports) = state.listening.known() {
                usage.listening = ports.clone();
            }
            out.nodes.insert(node.clone(), usage);
            if let Some(xen) = state.xen.known() {
                for (dom, d) in &xen.domains {
                    let macs = d
                        .nics
                        .iter()
                        .map(|(mac, _)| mac.as_deref().and_then(|m| m.parse().ok()));
                    add_macs(&mut out, dom, macs);
                }
            }
            // Stopped domains keep the MACs their config files carry.
            for (path, file) in &state.files {
                let (Some(dom), Some(Some(text))) = (xl_cfg_domain(path), file.known()) else {
                    continue;
                };
                let Ok(cfg) = crate::drivers::xlcfg::XlConfig::parse(text) else {
                    continue;
                };
                let vifs = cfg.get("vif").and_then(|v| {
                    v.as_str_list()
                        .map(|l| l.into_iter().map(String::from).collect::<Vec<_>>())
                });
                let macs = vifs.unwrap_or_default().into_iter().map(|v| {
                    crate::drivers::xlcfg::VifSpec::parse(&v)
                        .ok()
                        .and_then(|s| s.mac)
                        .and_then(|m| m.parse().ok())
                });
                add_macs(&mut out, dom, macs);
            }
        }
        out
    }
}
