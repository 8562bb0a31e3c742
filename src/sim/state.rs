//! The simulated cluster's state: every node's volume group and LVs (with what their blocks
//! hold), files, DRBD kernel resources, running domains, network links, o2cb stack and mounts.
//! Plain data, serialisable, ordered maps only; the command modules change it, nothing here runs
//! a command or formats tool output.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::DrbdVersion;

/// The whole simulated cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct World {
    pub drbd_version: DrbdVersion,
    /// By name; saving writes back the text they were read from while none changed since.
    pub nodes: super::saved::Nodes,
    /// Source of every generated identifier (UUIDs, MACs, DRBD data generations): deterministic.
    pub counter: u64,
    pub log: Vec<LogEntry>,
    pub violations: Vec<String>,
    /// State invariants broken after the last command (a violation is recorded when it appears).
    pub broken: BTreeSet<String>,
    pub faults: Faults,
    /// Files on OCFS2 filesystems (domain images), by filesystem UUID: shared by every node
    /// that mounts it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shared: BTreeMap<String, super::images::SharedFs>,
    /// What each node's drbdadm last read (see [`super::drbdconf::Cache`]).
    #[serde(skip)]
    pub drbd_conf: super::drbdconf::Cache,
    /// The rules broken after the last command, by what they depend on (see
    /// [`super::invariants::recheck`]).
    #[serde(skip)]
    pub rules: super::invariants::Broken,
}

/// One command the simulator ran (or refused to run because of an injected fault).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub node: String,
    pub argv: Vec<String>,
    pub status: Option<i32>,
}

/// Injected faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Faults {
    /// Nodes the controller could not reach, in states saved before [`Presence`] existed: read
    /// once into each node's presence when loaded, never written.
    #[serde(default, skip_serializing)]
    pub down: BTreeSet<String>,
    pub fail_next: Vec<FailRule>,
    /// Commands left before the crash.
    pub crash_after: Option<u64>,
    pub crashed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailRule {
    pub pattern: String,
    pub remaining: usize,
}

/// A freshly installed Xen dom0 and everything added to it since.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    pub name: String,
    /// Position in the cluster, for deterministic MACs.
    pub index: u32,
    /// The replication address (on the node's first NIC).
    pub address: IpAddr,
    pub vg: Vg,
    pub files: Files,
    pub dirs: BTreeSet<String>,
    /// DRBD module parameter: minors 0..minor_count-1 exist.
    pub minor_count: u32,
    /// Resources configured in the kernel (`drbdadm up`), by name.
    pub drbd: BTreeMap<String, DrbdRes>,
    pub total_memory_mib: u64,
    pub dom0_memory_mib: u64,
    /// Running domains by name.
    pub domains: Stamped<BTreeMap<String, Domain>>,
    pub next_domid: u32,
    pub links: BTreeMap<String, Link>,
    pub next_ifindex: u32,
    pub o2cb: O2cb,
    /// Mounts beyond the base system ones, in mount order.
    pub mounts: Vec<Mount>,
    /// Powered or not, and which networks reach it.
    #[serde(default)]
    pub presence: Presence,
    /// The `xl remus` senders running here, by the domain they protect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remus: BTreeMap<String, Sender>,
    /// The receivers (`xl migrate-receive -r`) of the Remus shadows here, by the domain they
    /// receive: the pid their ssh session's shell recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receiving: BTreeMap<String, u32>,
}

/// A part of a node that something reads often and a few commands change (its files, its
/// domains), read through [`Deref`](std::ops::Deref) and changed only through
/// [`Stamped::edit`], which stamps it anew from one counter of the process: two looks that
/// find the same stamp found the same value. That lets drbdadm's parsed configuration be kept
/// while none of its files changed ([`super::drbdconf::Cache`]), and the invariants be checked
/// again only on the nodes whose domains changed ([`super::invariants::recheck`]). The stamp is
/// not part of the state: not saved, not compared; a value read back or built afresh gets a
/// stamp of its own.
#[derive(Clone)]
pub(crate) struct Stamped<T> {
    value: T,
    stamp: u64,
}

/// A node's regular files by path.
pub(crate) type Files = Stamped<BTreeMap<String, String>>;

/// The stamps: never one twice in a process.
static STAMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_stamp() -> u64 {
    STAMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<T> Stamped<T> {
    /// Changes whenever the value may have.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The value, to change it (which takes a new stamp, whether it changes or not).
    pub fn edit(&mut self) -> &mut T {
        self.stamp = next_stamp();
        &mut self.value
    }
}

impl<T: Default> Default for Stamped<T> {
    fn default() -> Self {
        Stamped::from(T::default())
    }
}

impl<T> From<T> for Stamped<T> {
    fn from(value: T) -> Self {
        Stamped {
            value,
            stamp: next_stamp(),
        }
    }
}

impl<T> std::ops::Deref for Stamped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'a, T> IntoIterator for &'a Stamped<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        (&self.value).into_iter()
    }
}

impl<T: PartialEq> PartialEq for Stamped<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Stamped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Stamped<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Stamped<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Stamped::from)
    }
}

/// A sending `xl remus`: where the domain's shadow is, and the pid file that names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sender {
    pub peer: String,
    /// Empty when it was started in the foreground.
    pub pidfile: String,
}

/// How a node stands in the world, apart from what runs on it: what `sim fail-node`,
/// `crash-node`, `isolate-node`, `heal` and `power` change. The three ways a node is lost are
/// combinations of these: the management network cut (`cut_from_controller`), the plug pulled
/// (`off`), cut from everyone while running (`cut_from_controller` and `cut_from_peers`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Presence {
    /// Powered off (the plug pulled, or fenced): nothing runs, nothing answers; what its disks
    /// hold is kept.
    pub off: bool,
    /// The controller cannot reach it (its management network is cut).
    pub cut_from_controller: bool,
    /// Its replication links to every peer are cut: DRBD cannot connect, `xl migrate` cannot
    /// reach it.
    pub cut_from_peers: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Vg {
    pub name: String,
    pub extent_size: u64,
    pub extents: u64,
    pub tags: BTreeSet<String>,
    pub lvs: BTreeMap<String, Lv>,
}

impl Vg {
    pub fn free_extents(&self) -> u64 {
        self.extents - self.lvs.values().map(|l| l.extents).sum::<u64>()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Lv {
    pub extents: u64,
    pub tags: BTreeSet<String>,
    /// What the start of the LV holds (a DRBD device's data is its backing LV's).
    pub content: Content,
    /// DRBD meta-data blocks on this LV, by slot (`0`, `1`, ... for indexed, `flexible`,
    /// `internal`).
    pub md: BTreeMap<String, MetaData>,
    /// Set on a copy-on-write snapshot (`lvcreate -s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snap>,
}

/// A snapshot LV: its origin and how full its copy-on-write space is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snap {
    pub origin: String,
    /// Hundredths of a percent of the copy-on-write space used; 10000 is full: invalid.
    pub used_hundredths: u32,
}

impl Snap {
    pub fn invalid(&self) -> bool {
        self.used_hundredths >= 10_000
    }
}

/// What a block device holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Content {
    pub fs: Option<FsSig>,
    /// Something was written (a filesystem, a guest's disk, a resync from a peer with data).
    pub data: bool,
}

/// A filesystem signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FsSig {
    /// `ocfs2`, `ext4`, `ext3`, `xfs`.
    pub kind: String,
    pub label: String,
    /// Dashed lower-case form, as blkid prints it.
    pub uuid: String,
    pub size: u64,
    pub slots: u32,
    pub cluster: Option<String>,
    pub stack: Option<String>,
}

/// A DRBD meta-data block: which resource wrote it and the data generation it vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaData {
    pub resource: String,
    /// The data is consistent (UpToDate when attached alone, fencing off).
    pub consistent: bool,
    /// Current data generation (DRBD's current UUID); 0 for fresh meta-data.
    pub gen: u64,
    /// Generation last shared with each peer (DRBD's bitmap UUID).
    pub peer_gens: BTreeMap<String, u64>,
    /// The on-disk format `create-md` wrote (`v09` for DRBD 9): `dump-md` in the other format
    /// finds "No valid meta data", as the real drbdmeta does.
    #[serde(default)]
    pub v9: bool,
}

/// Where a resource keeps its meta-data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MetaLoc {
    Internal,
    Indexed { path: String, index: u32 },
    Flexible { path: String },
}

impl MetaLoc {
    /// The device holding the meta-data (`disk` for internal meta-data).
    pub fn device<'a>(&'a self, disk: &'a str) -> &'a str {
        match self {
            MetaLoc::Internal => disk,
            MetaLoc::Indexed { path, .. } | MetaLoc::Flexible { path } => path,
        }
    }

    /// The key of the meta-data block in its LV's `md` map.
    pub fn slot(&self) -> String {
        match self {
            MetaLoc::Internal => "internal".into(),
            MetaLoc::Indexed { index, .. } => index.to_string(),
            MetaLoc::Flexible { .. } => "flexible".into(),
        }
    }

    /// drbdmeta's argument for it (`0`, `internal`, `flex-external`).
    pub fn drbdmeta_arg(&self) -> String {
        match self {
            MetaLoc::Internal => "internal".into(),
            MetaLoc::Indexed { index, .. } => index.to_string(),
            MetaLoc::Flexible { .. } => "flex-external".into(),
        }
    }
}

/// One peer of a resource as this node's configuration names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerConf {
    pub node: String,
    pub node_id: u32,
    pub ip: String,
    pub port: u16,
}

/// A resource as applied to the kernel by `up` / `adjust`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResConf {
    pub minor: u32,
    /// DRBD 9 node-id of this node (its position among the hosts when not configured).
    pub node_id: u32,
    pub disk: String,
    pub meta: MetaLoc,
    pub ip: String,
    pub port: u16,
    pub peers: Vec<PeerConf>,
    pub protocol: String,
    pub two_primaries: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    Primary,
    Secondary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Disk {
    /// A minor without a backing device (an `up` that failed before `attach`).
    Diskless,
    Inconsistent,
    UpToDate,
}

impl Disk {
    pub fn as_str(self) -> &'static str {
        match self {
            Disk::Diskless => "Diskless",
            Disk::Inconsistent => "Inconsistent",
            Disk::UpToDate => "UpToDate",
        }
    }
}

/// The connection to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Conn {
    StandAlone,
    WFConnection,
    Connected,
}

impl Conn {
    pub fn as_str(self) -> &'static str {
        match self {
            Conn::StandAlone => "StandAlone",
            Conn::WFConnection => "WFConnection",
            Conn::Connected => "Connected",
        }
    }
}

/// A DRBD resource configured in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DrbdRes {
    pub conf: ResConf,
    pub role: Role,
    pub disk: Disk,
    /// False after `disconnect` or a split brain: StandAlone.
    pub want_connect: bool,
    /// Per peer node.
    pub conns: BTreeMap<String, Conn>,
    /// The last handshake found a split brain.
    pub split_brain: bool,
    /// `connect --discard-my-data` waiting for the handshake.
    pub discard_my_data: bool,
    /// Net option `allow-two-primaries` as currently set in the kernel.
    pub two_primaries: bool,
    /// Device size in bytes.
    pub size: u64,
    /// A resync in progress over the connection to a peer (see [`Resync`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync: Option<Resync>,
}

/// A resync that takes simulated time: the one after a node comes back from a power loss or an
/// isolation (initial syncs and the resync after a split-brain resolution complete at once).
/// It ends when `left` more batches have run on either end; both ends keep the same count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Resync {
    pub peer: String,
    /// This end sends the data (SyncSource); else it receives it (SyncTarget, Inconsistent).
    pub source: bool,
    pub left: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DomDisk {
    pub target: String,
    pub vdev: String,
    pub rw: bool,
    pub script: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DomNic {
    pub mac: String,
    pub bridge: Option<String>,
    pub script: Option<String>,
}

/// A running Xen guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Domain {
    pub domid: u32,
    pub uuid: String,
    pub kind: String,
    /// Memory the domain holds, MiB.
    pub memory_mib: u64,
    /// The balloon target when the guest could not reach it (host out of memory); None when
    /// it holds its target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mib: Option<u64>,
    /// xl `maxmem` (static-max), MiB; None in states saved before it was kept: `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
    /// Online vCPUs.
    pub vcpus: u32,
    /// xl `maxvcpus`; None in states saved before it was kept: `vcpus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    pub kernel: Option<String>,
    pub ramdisk: Option<String>,
    pub cmdline: Option<String>,
    pub bootloader: Option<String>,
    pub disks: Vec<DomDisk>,
    pub nics: Vec<DomNic>,
    pub on_reboot: String,
    pub on_crash: String,
    /// Paused (`--p---`): a Remus shadow until it takes over.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

impl Domain {
    /// The balloon target, MiB (what `xl list -l` reports as `target_memkb`).
    pub fn target(&self) -> u64 {
        self.target_mib.unwrap_or(self.memory_mib)
    }
    /// xl `maxmem`, MiB.
    pub fn max_memory(&self) -> u64 {
        self.max_memory_mib.unwrap_or(self.memory_mib)
    }
    /// xl `maxvcpus`.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus.unwrap_or(self.vcpus)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum LinkKind {
    Loopback,
    /// A physical NIC (virtio in the lab).
    Ether,
    Bridge {
        stp: bool,
        forward_delay_cs: u32,
    },
    Bond {
        mode: String,
        miimon: u32,
        lacp_rate: Option<String>,
        xmit_hash_policy: Option<String>,
    },
    /// A Xen guest's backend interface (`vifD.N`).
    Vif,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Link {
    pub ifindex: u32,
    pub kind: LinkKind,
    pub up: bool,
    pub master: Option<String>,
    pub mac: String,
    /// The hardware address it was born with (bond slaves take the bond's).
    pub perm_mac: String,
    /// `ip addr add` addresses, as CIDR.
    pub addrs: Vec<String>,
}

/// The o2cb cluster stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct O2cb {
    /// configfs, the o2cb stack plugin and dlmfs are loaded (`/etc/init.d/o2cb start`).
    pub loaded: bool,
    /// The registered cluster.
    pub cluster: Option<String>,
    /// This node is a node of the registered cluster (its o2net listener and mounts work).
    pub local: Option<(String, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mount {
    pub device: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

/// What a block device path names on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dev {
    Lv(String),
    /// A configured DRBD minor, by resource.
    Drbd(String),
}

impl World {
    /// The next value of the deterministic counter.
    pub fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn node(&self, name: &str) -> &Node {
        &self.nodes[name]
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .get_mut(name)
            .expect("commands run only on nodes of the simulated cluster")
    }

    /// Two nodes can talk over their replication network: both on, neither cut from its peers.
    pub fn linked(&self, a: &str, b: &str) -> bool {
        let up = |n: &str| {
            self.nodes
                .get(n)
                .is_some_and(|x| !x.presence.off && !x.presence.cut_from_peers)
        };
        up(a) && up(b)
    }

    /// A node is powered off.
    pub fn is_off(&self, node: &str) -> bool {
        self.nodes.get(node).is_some_and(|n| n.presence.off)
    }

    /// Reads the faults of a state saved before [`Presence`] existed into the nodes.
    pub fn upgrade(&mut self) {
        for node in std::mem::take(&mut self.faults.down) {
            if let Some(n) = self.nodes.get_mut(&node) {
                n.presence.cut_from_controller = true;
            }
        }
    }
}

impl Node {
    /// Every address configured on the node (without prefix length).
    pub fn ips(&self) -> BTreeSet<String> {
        self.links
            .values()
            .flat_map(|l| l.addrs.iter())
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .collect()
    }

    /// The byte size of an LV.
    pub fn lv_size(&self, lv: &str) -> Option<u64> {
        self.vg.lvs.get(lv).map(|l| l.extents * self.vg.extent_size)
    }

    /// The LV a `/dev/VG/LV` or `/dev/mapper/VG-LV` path names, if it exists.
    pub fn lv_of_path(&self, path: &str) -> Option<String> {
        let name = self.lv_name(path)?;
        self.vg
            .lvs
            .contains_key(name.as_ref())
            .then(|| name.into_owned())
    }

    /// The LV name a `/dev/VG/LV` or `/dev/mapper/VG-LV` path of this node's VG spells,
    /// whether or not it exists.
    pub fn lv_name<'p>(&self, path: &'p str) -> Option<std::borrow::Cow<'p, str>> {
        let vg = &self.vg.name;
        let plain = path
            .strip_prefix("/dev/")
            .and_then(|p| p.strip_prefix(vg.as_str()))
            .and_then(|p| p.strip_prefix('/'));
        if let Some(rest) = plain {
            return Some(std::borrow::Cow::Borrowed(rest));
        }
        let mapper = path.strip_prefix("/dev/mapper/")?;
        let prefix = format!("{}-", vg.replace('-', "--"));
        Some(std::borrow::Cow::Owned(
            mapper.strip_prefix(&prefix)?.replace("--", "-"),
        ))
    }

    /// What a device path names here: an existing LV or a configured DRBD minor.
    pub fn resolve(&self, path: &str) -> Option<Dev> {
        if let Some(minor) = path.strip_prefix("/dev/drbd") {
            let minor: u32 = minor.parse().ok()?;
            return self
                .drbd
                .iter()
                .find(|(_, r)| r.conf.minor == minor)
                .map(|(n, _)| Dev::Drbd(n.clone()));
        }
        self.lv_of_path(path).map(Dev::Lv)
    }

    /// The backing LV of a configured resource, if it (still) exists.
    pub fn backing_lv(&self, res: &str) -> Option<String> {
        self.drbd
            .get(res)
            .and_then(|r| self.lv_of_path(&r.conf.disk))
    }

    /// The LV holding a device's data.
    pub fn data_lv(&self, dev: &Dev) -> Option<String> {
        match dev {
            Dev::Lv(l) => Some(l.clone()),
            Dev::Drbd(r) => self.backing_lv(r),
        }
    }

    /// What a device holds (blank when its LV is gone).
    pub fn content(&self, dev: &Dev) -> Content {
        self.data_lv(dev)
            .and_then(|l| self.vg.lvs.get(&l))
            .map(|l| l.content.clone())
            .unwrap_or_default()
    }

    /// A device is held open by a mount or a running domain on this node.
    pub fn dev_in_use(&self, path: &str) -> bool {
        self.mounts.iter().any(|m| m.device == path)
            || self
                .domains
                .values()
                .any(|d| d.disks.iter().any(|k| k.target == path))
    }

    /// `/dev/drbdN` of a configured resource.
    pub fn drbd_path(&self, res: &str) -> Option<String> {
        self.drbd
            .get(res)
            .map(|r| format!("/dev/drbd{}", r.conf.minor))
    }

    /// An LV is open: DRBD holds it (data or meta-data), or it is mounted or in a domain.
    pub fn lv_open(&self, lv: &str) -> bool {
        self.holders().hold(self, lv)
    }

    /// What holds this node's LVs open, gathered once (a report of every LV asks about each).
    pub fn holders(&self) -> Holders<'_> {
        // A minor whose attach failed holds neither its disk nor its meta-data.
        let drbd = self
            .drbd
            .values()
            .filter(|r| r.disk != Disk::Diskless)
            .flat_map(|r| {
                let md = r.conf.meta.device(&r.conf.disk);
                [r.conf.disk.as_str(), md]
            })
            .filter_map(|p| self.lv_of_path(p))
            .collect();
        let devices = self
            .mounts
            .iter()
            .map(|m| m.device.as_str())
            .chain(
                self.domains
                    .values()
                    .flat_map(|d| d.disks.iter().map(|k| k.target.as_str())),
            )
            .collect();
        Holders { drbd, devices }
    }
}

/// The LVs DRBD holds on a node and the device paths its mounts and domains use
/// ([`Node::holders`]).
pub struct Holders<'n> {
    drbd: BTreeSet<String>,
    devices: BTreeSet<&'n str>,
}

impl Holders<'_> {
    /// Whether LV `lv` of `node` is open: DRBD holds it (data or meta-data), or it is mounted
    /// or a domain's disk (by either of its names).
    pub fn hold(&self, node: &Node, lv: &str) -> bool {
        let vg = &node.vg.name;
        let path = format!("/dev/{vg}/{lv}");
        let mapper = format!(
            "/dev/mapper/{}-{}",
            vg.replace('-', "--"),
            lv.replace('-', "--")
        );
        self.drbd.contains(lv)
            || self.devices.contains(path.as_str())
            || self.devices.contains(mapper.as_str())
    }
}

impl Node {
    /// Memory in use by domains (Domain-0 included), MiB.
    pub fn used_memory_mib(&self) -> u64 {
        self.dom0_memory_mib + self.domains.values().map(|d| d.memory_mib).sum::<u64>()
    }

    pub fn free_memory_mib(&self) -> u64 {
        self.total_memory_mib.saturating_sub(self.used_memory_mib())
    }

    /// The parent directory of `path` exists.
    pub fn parent_exists(&self, path: &str) -> bool {
        let parent = match path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((p, _)) => p,
            None => return false,
        };
        self.dirs.contains(parent)
    }
}
