//! The `spec` of every kind in `cluster-state/`, exactly as an operator writes it. Unknown fields
//! are rejected; units and names are checked by their types while the YAML is decoded. These types
//! are also the source of the JSON Schemas in `schemas/`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::image::ImagePath;
use super::names::{Cidr, IfName, LvName, LvmName, Mac, MountOptions, MountPath, Name};
use super::units::{Duration, Rate, Size, StrOrNum};

/// Cluster-wide settings: DRBD defaults, the prune switch, reconcile behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub drbd: DrbdSettings,
    /// Allow destructive actions (lvremove, wipe-md, ...). Off by default; `--prune` also allows them.
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// Node loss: whether xenflux fails over, when a node counts as dead, and failback.
    #[serde(default, skip_serializing_if = "HaSettings::is_default")]
    pub ha: HaSettings,
}

/// Node loss (DESIGN.md §8): a dead node is fenced (its `fence` command powers it off) before
/// its domains are started on their peers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HaSettings {
    /// Fail over automatically (the controller fences a dead node and starts its domains on
    /// the peers). Off by default: `xenflux failover NODE` by hand works either way.
    #[serde(default)]
    pub enabled: bool,
    /// How long a node must be unresponsive (its peer answering, its peer's DRBD disconnected
    /// from it) before it counts as dead: 5s to 1h, default 30s.
    #[serde(default = "default_dead_after")]
    pub dead_after: Duration,
    /// When a failed node is back and resynced: `auto` moves its domains back by live
    /// migration; `manual` (default) keeps them where they were failed over to until
    /// `xenflux failback DOMAIN`.
    #[serde(default)]
    pub failback: Failback,
}

impl Default for HaSettings {
    fn default() -> Self {
        HaSettings {
            enabled: false,
            dead_after: default_dead_after(),
            failback: Failback::default(),
        }
    }
}

impl HaSettings {
    fn is_default(&self) -> bool {
        self == &HaSettings::default()
    }
}

fn default_dead_after() -> Duration {
    Duration { seconds: 30 }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Failback {
    /// Domains go back to their preferred node once it is back and resynced.
    Auto,
    /// Domains stay where they were failed over to until `xenflux failback DOMAIN`.
    #[default]
    Manual,
}

/// How to power a node off from the controller's machine (IPMI, a PDU, a hypervisor API):
/// argv vectors, never run through a shell. Written as a mapping, or as a plain argv list
/// (the `command` alone).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceSpec {
    /// Powers the node off; exit status 0 means "it is off".
    pub command: Vec<String>,
    /// Asks whether the node is off: exit status 0 means off, anything else on or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
    /// How long each of the two may run before it is killed.
    pub timeout: Duration,
}

fn default_fence_timeout() -> Duration {
    Duration { seconds: 60 }
}

/// The mapping form of [`FenceSpec`], for decoding and the schema.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "FenceCommands")]
struct FenceMap {
    /// Powers the node off (argv, run on the controller's machine); exit status 0 means "it
    /// is off".
    command: Vec<String>,
    /// Asks whether the node is off (argv): exit status 0 means off, anything else on or
    /// unknown. Run when `command` fails or times out (a chassis already off may refuse
    /// "power off").
    #[serde(default)]
    status: Option<Vec<String>>,
    /// How long each of the two may run before it is killed: 1s to 10m, default 60s.
    #[serde(default = "default_fence_timeout")]
    timeout: Duration,
}

impl JsonSchema for FenceSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FenceSpec".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let map = g.subschema_for::<FenceMap>();
        schemars::json_schema!({
            "description": "How to power the node off: an argv list (the command alone), or a mapping with command, status and timeout.",
            "anyOf": [
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
                map
            ]
        })
    }
}

impl<'de> Deserialize<'de> for FenceSpec {
    /// A mapping (`{command, status, timeout}`) or a plain argv list (the command alone).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FenceSpec, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = FenceSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fence argv list, or a mapping with command, status and timeout")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<FenceSpec, A::Error> {
                let command =
                    Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(FenceSpec {
                    command,
                    status: None,
                    timeout: default_fence_timeout(),
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<FenceSpec, A::Error> {
                let m = FenceMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FenceSpec {
                    command: m.command,
                    status: m.status,
                    timeout: m.timeout,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrbdSettings {
    /// DRBD configuration syntax to render: "8.4" (default) or "9".
    #[serde(default)]
    pub version: DrbdVersion,
    /// DRBD devices per node at most (the module's minor_count, 1 to 255); minors are 0..maxMinors-1.
    #[serde(default = "default_max_minors")]
    pub max_minors: u32,
    /// Pool of TCP ports for DRBD resources.
    #[serde(default)]
    pub ports: PortRange,
    #[serde(default)]
    pub protocol: Protocol,
    /// Default resync rate (DRBD notation, e.g. 40M) for volumes that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_rate: Option<Rate>,
}

impl Default for DrbdSettings {
    fn default() -> Self {
        DrbdSettings {
            version: DrbdVersion::default(),
            max_minors: default_max_minors(),
            ports: PortRange::default(),
            protocol: Protocol::default(),
            sync_rate: None,
        }
    }
}

fn default_max_minors() -> u32 {
    255
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum DrbdVersion {
    #[default]
    #[serde(rename = "8.4")]
    V84,
    #[serde(rename = "9")]
    V9,
}

impl fmt::Display for DrbdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrbdVersion::V84 => "8.4",
            DrbdVersion::V9 => "9",
        })
    }
}

impl Serialize for DrbdVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DrbdVersion {
    /// Accepts `"8.4"`, `8.4`, `"9"` and `9`: YAML reads an unquoted 8.4 as a number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DrbdVersion, D::Error> {
        match StrOrNum::deserialize(d)?.0.as_str() {
            "8.4" => Ok(DrbdVersion::V84),
            "9" | "9.0" => Ok(DrbdVersion::V9),
            other => Err(de::Error::custom(format!(
                "unsupported DRBD version `{other}`: expected \"8.4\" or \"9\""
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            first: 7788,
            last: 8787,
        }
    }
}

/// DRBD replication protocol: A (asynchronous), B (memory synchronous), C (synchronous).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    A,
    B,
    #[default]
    C,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReconcileSettings {
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default)]
    pub mode: ReconcileMode,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            interval: default_interval(),
            mode: ReconcileMode::default(),
        }
    }
}

fn default_interval() -> Duration {
    Duration { seconds: 300 }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReconcileMode {
    /// Correct drift.
    #[default]
    Enforce,
    /// Only report drift.
    Detect,
}

/// A Xen dom0 of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    /// Replication address: DRBD and live migration use it.
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshTarget>,
    /// The LVM volume group holding the volumes' backing LVs.
    pub volume_group: LvmName,
    /// LV in the volume group that holds the indexed 128 MiB DRBD meta-data slots.
    #[serde(default = "default_meta_volume")]
    pub meta_volume: LvName,
    /// Memory available for domains, for placement and N+1 checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Size>,
    /// false drains the node: its domains move to their peer.
    #[serde(default = "yes")]
    pub schedulable: bool,
    /// How to power the node off when it is lost, so its domains can start on their peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<FenceSpec>,
    /// Let xenflux enslave the interface that carries its own SSH connection to this node (into
    /// a bond or bridge). Off by default: doing so cuts the connection mid-change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_management_change: bool,
}

fn default_meta_volume() -> LvName {
    "meta".parse().expect("constant is a valid LVM name")
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SshTarget {
    pub host: String,
    /// Login user; unset, the ssh config decides (else the local user: run xenflux as root or
    /// set `User root` for the nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// TCP port; unset, the ssh config decides (else 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A replicated block device: an LV on each node with DRBD on top.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSpec {
    pub size: Size,
    /// The nodes holding a replica: two for DRBD 8.4; two or more for DRBD 9.
    pub nodes: Vec<Name>,
    #[serde(default)]
    pub meta: MetaKind,
    /// Primary on all nodes at once (needed for OCFS2; live migration enables it temporarily).
    #[serde(default)]
    pub dual_primary: bool,
    #[serde(default)]
    pub filesystem: Filesystem,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Pin the DRBD minor (/dev/drbdN); allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<u32>,
    /// Pin the TCP port; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Pin the indexed meta-data slot; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_index: Option<u32>,
    /// The volume's LVs were made by hand and its DRBD resource already runs on them: xenflux
    /// takes them over (`lvchange --addtag xenflux`) on a node only where the running resource
    /// proves they are this volume's — its minor, backing disk and meta-data location are the
    /// ones desired. Written by `xenflux import`; without it, an LV xenflux did not make blocks
    /// its volume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetaKind {
    /// A 128 MiB slot in the node's meta LV (`meta-disk /dev/VG/meta[i]`).
    #[default]
    Indexed,
    /// A meta LV of its own, sized for the volume (`meta-disk /dev/VG/NAME-md`).
    Flexible,
    /// At the end of the data LV; growing the LV moves it.
    Internal,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    #[default]
    None,
    Ext3,
    Ext4,
    Xfs,
    Ocfs2,
}

impl Filesystem {
    /// The filesystem to make and grow; None for `none`.
    pub fn kind(self) -> Option<FsKind> {
        match self {
            Filesystem::None => None,
            Filesystem::Ext3 => Some(FsKind::Ext3),
            Filesystem::Ext4 => Some(FsKind::Ext4),
            Filesystem::Xfs => Some(FsKind::Xfs),
            Filesystem::Ocfs2 => Some(FsKind::Ocfs2),
        }
    }
}

/// A filesystem that is there to make or grow: [`Filesystem`] without `none`, so nothing built
/// from it can name a filesystem that does not exist. Same serde names (`ext4` …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext3,
    Ext4,
    Xfs,
    Ocfs2,
}

impl FsKind {
    /// The tools' name for it (`mkfs.NAME`, blkid's TYPE).
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Ocfs2 => "ocfs2",
        }
    }
}

impl From<FsKind> for Filesystem {
    fn from(k: FsKind) -> Self {
        match k {
            FsKind::Ext3 => Filesystem::Ext3,
            FsKind::Ext4 => Filesystem::Ext4,
            FsKind::Xfs => Filesystem::Xfs,
            FsKind::Ocfs2 => Filesystem::Ocfs2,
        }
    }
}

impl TryFrom<Filesystem> for FsKind {
    /// `none` has no kind.
    type Error = Filesystem;
    fn try_from(f: Filesystem) -> Result<Self, Self::Error> {
        f.kind().ok_or(f)
    }
}

/// A Xen guest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DomainSpec {
    /// Preferred node.
    pub node: Name,
    #[serde(default)]
    pub state: DomainState,
    /// Memory the domain runs with (xl `memory`): changed live with `xl mem-set` up to
    /// `maxMemory`.
    pub memory: Size,
    /// xl `maxmem`: how far `memory` may be raised without a restart (default: `memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<Size>,
    /// Online vCPUs (xl `vcpus`): changed live with `xl vcpu-set` up to `maxVcpus`.
    #[serde(default = "one")]
    pub vcpus: u32,
    /// xl `maxvcpus`: how far `vcpus` may be raised without a restart (default: `vcpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// Who gets a node that cannot take every domain: higher first (0–1000, default 0; ties by
    /// name).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u32,
    /// A change Xen cannot make to the running domain (a raise past `maxMemory`/`maxVcpus`, a
    /// new maximum) restarts it (`xl shutdown`, `xl create`); otherwise it is reported as
    /// "restart needed" and left running.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart_on_change: bool,
    #[serde(default, rename = "type")]
    pub kind: GuestType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootloader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    #[serde(default)]
    pub nics: Vec<NicSpec>,
    /// Continuous protection by a shadow copy on the peer node (Remus): see
    /// `docs/remus.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<super::protection::ProtectionSpec>,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl DomainSpec {
    /// Memory in MiB (validated: whole MiB).
    pub fn memory_mib(&self) -> u64 {
        self.memory.bytes() / (1 << 20)
    }
    /// xl `maxmem` in MiB: `maxMemory`, else `memory`.
    pub fn max_memory_mib(&self) -> u64 {
        self.max_memory.unwrap_or(self.memory).bytes() / (1 << 20)
    }
    /// xl `maxvcpus`: `maxVcpus`, else `vcpus`.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus.unwrap_or(self.vcpus)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    #[default]
    Running,
    Stopped,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    #[default]
    Pv,
    Pvh,
    Hvm,
}

/// One disk of a domain: a replicated DRBD `volume`, or a raw image `file` (with its `size`) on
/// a filesystem of an Ocfs2Cluster mounted on every node the domain may run on — exactly one
/// of the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// The Volume whose DRBD device is the disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Name>,
    /// A raw image file on an OCFS2 filesystem (e.g. /OVS/running_pool/NAME/System.img):
    /// created sparse when missing (never over an existing file), grown when `size` grows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ImagePath>,
    /// The image's size, with `file` only: whole MiB, at most the filesystem's volume; only
    /// ever grown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
    /// Virtual device in the guest: xvda, xvdb, ... (hda, sda for HVM).
    pub target: String,
    #[serde(default)]
    pub mode: DiskMode,
}

impl DiskSpec {
    /// A disk on a DRBD volume.
    pub fn on_volume(volume: Name, target: String, mode: DiskMode) -> DiskSpec {
        DiskSpec {
            volume: Some(volume),
            file: None,
            size: None,
            target,
            mode,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DiskMode {
    #[serde(rename = "r")]
    ReadOnly,
    #[default]
    #[serde(rename = "w")]
    ReadWrite,
}

impl DiskMode {
    pub fn as_xl(self) -> &'static str {
        match self {
            DiskMode::ReadOnly => "r",
            DiskMode::ReadWrite => "w",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    pub bridge: IfName,
    /// Pinned MAC in 00:16:3e:xx:xx:xx; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
}

/// A Linux bond on one or more nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BondSpec {
    /// Nodes that have the bond; every node when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<Name>>,
    pub mode: BondMode,
    pub slaves: Vec<IfName>,
    #[serde(default = "default_miimon")]
    pub miimon: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<LacpRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
    /// Preferred slave for active-backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<IfName>,
}

fn default_miimon() -> u32 {
    100
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BondMode {
    #[serde(rename = "balance-rr")]
    BalanceRr,
    #[serde(rename = "active-backup")]
    ActiveBackup,
    #[serde(rename = "balance-xor")]
    BalanceXor,
    #[serde(rename = "broadcast")]
    Broadcast,
    #[serde(rename = "802.3ad")]
    Lacp,
    #[serde(rename = "balance-tlb")]
    BalanceTlb,
    #[serde(rename = "balance-alb")]
    BalanceAlb,
}

impl BondMode {
    pub fn as_kernel(self) -> &'static str {
        match self {
            BondMode::BalanceRr => "balance-rr",
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Broadcast => "broadcast",
            BondMode::Lacp => "802.3ad",
            BondMode::BalanceTlb => "balance-tlb",
            BondMode::BalanceAlb => "balance-alb",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LacpRate {
    Slow,
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum XmitHashPolicy {
    #[serde(rename = "layer2")]
    Layer2,
    #[serde(rename = "layer2+3")]
    Layer23,
    #[serde(rename = "layer3+4")]
    Layer34,
    #[serde(rename = "encap2+3")]
    Encap23,
    #[serde(rename = "encap3+4")]
    Encap34,
}

impl XmitHashPolicy {
    pub fn as_kernel(self) -> &'static str {
        match self {
            XmitHashPolicy::Layer2 => "layer2",
            XmitHashPolicy::Layer23 => "layer2+3",
            XmitHashPolicy::Layer34 => "layer3+4",
            XmitHashPolicy::Encap23 => "encap2+3",
            XmitHashPolicy::Encap34 => "encap3+4",
        }
    }
}

/// A Linux bridge (xenbrN) on one or more nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BridgeSpec {
    /// Nodes that have the bridge; every node when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<Name>>,
    /// Uplinks: physical NICs or bonds.
    #[serde(default)]
    pub ports: Vec<IfName>,
    /// Spanning tree; required with two or more uplinks.
    #[serde(default)]
    pub stp: bool,
    /// STP forward delay in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_delay: Option<u32>,
    /// Address of the bridge per node.
    #[serde(default)]
    pub addresses: BTreeMap<Name, Cidr>,
    /// Default gateway per node, if the bridge carries it.
    #[serde(default)]
    pub gateways: BTreeMap<Name, IpAddr>,
}

/// An OCFS2 (o2cb) cluster and the filesystems it mounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ocfs2ClusterSpec {
    #[serde(default = "default_o2cb_port")]
    pub port: u16,
    pub nodes: Vec<Ocfs2Node>,
    #[serde(default)]
    pub heartbeat: Heartbeat,
    #[serde(default)]
    pub filesystems: Vec<Ocfs2Filesystem>,
}

pub const O2CB_DEFAULT_PORT: u16 = 7777;

fn default_o2cb_port() -> u16 {
    O2CB_DEFAULT_PORT
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ocfs2Node {
    pub node: Name,
    pub number: u32,
    pub address: IpAddr,
}

/// O2CB timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Heartbeat {
    /// Disk heartbeat iterations before a node is considered dead (at least 7).
    #[serde(default = "default_dead_threshold")]
    pub dead_threshold: u32,
    /// Network idle timeout in ms (at least 5000).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u32,
    /// Network keepalive delay in ms (at least 1000).
    #[serde(default = "default_keepalive")]
    pub keepalive_delay_ms: u32,
    /// Network reconnect delay in ms (at least 2000).
    #[serde(default = "default_reconnect")]
    pub reconnect_delay_ms: u32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            dead_threshold: default_dead_threshold(),
            idle_timeout_ms: default_idle_timeout(),
            keepalive_delay_ms: default_keepalive(),
            reconnect_delay_ms: default_reconnect(),
        }
    }
}

fn default_dead_threshold() -> u32 {
    31
}
fn default_idle_timeout() -> u32 {
    30000
}
fn default_keepalive() -> u32 {
    2000
}
fn default_reconnect() -> u32 {
    2000
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ocfs2Filesystem {
    pub name: Name,
    /// A dual-primary Volume with `filesystem: ocfs2`.
    pub volume: Name,
    /// Filesystem label (mkfs.ocfs2 -L), at most 63 characters.
    pub label: String,
    /// Node slots (mkfs.ocfs2 -N): at least the number of nodes that mount it.
    pub slots: u32,
    pub mountpoint: MountPath,
    /// Options for `mount -o`, e.g. `noatime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<MountOptions>,
}
