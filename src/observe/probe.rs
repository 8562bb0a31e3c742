//! One observation batch per node: which commands to send ([`commands`]) and how to read their
//! outputs into a [`NodeState`] ([`interpret`]). A command that is missing or fails makes its
//! part unknown, with the command, exit status and stderr; only answers a real tool gives for
//! "nothing there" (no such file, blank device) count as known-empty.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::drivers::drbd::meta::{MetaFound, MetaLocation};
use crate::drivers::drbd::{
    self, dump_xml, proc_drbd, status, ConnectionState, DiskState, ReplState, Role,
};
use crate::drivers::{files, image, lvm, net, ocfs2, remus, ss, xl};
use crate::model::{Desired, DrbdVersion, Name, VolumeSpec};
use crate::transport::{Cmd, Output, Transport};

use super::{
    BondState, DrbdConfig, DrbdKernel, DrbdPeer, DrbdResource, DrbdState, KeptDomain, LinkState,
    LvState, LvmState, MetaDisk, NetState, NodeState, Ocfs2Device, Ocfs2State, Part, PartKind,
    SnapState, Unknown, VgState, XenDomain, XenState,
};

/// What to ask one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// The node's name as DRBD and OCFS2 configurations name it (its hostname).
    pub host: String,
    pub drbd_version: DrbdVersion,
    /// Bonds whose `/proc/net/bonding/NAME` to read.
    pub bonds: Vec<String>,
    /// Files whose content to read (managed files, for diffs).
    pub files: Vec<String>,
    /// Block devices whose filesystem signature to read (`blkid -p`).
    pub devices: Vec<String>,
    /// DRBD minors whose device size to read (`/sys/block/drbdN/size`, readable in any role).
    pub minors: Vec<u32>,
    /// Meta-data locations to read (`drbdmeta … dump-md`) before anything may be written there.
    pub meta: Vec<MetaLocation>,
    /// Only these parts (None: all). The others come back unknown, with "not asked".
    pub only: Option<BTreeSet<PartKind>>,
    /// Domain image files on OCFS2 to `stat`, each with the mountpoint of its filesystem.
    pub images: Vec<(String, String)>,
    /// Also ask OCFS2 which nodes have each device mounted (`mounted.ocfs2 -f`, shown by
    /// `xenflux observe`). Planning does not: every node's own mounts come from its
    /// `/proc/mounts`, and the cluster-wide view waits on the filesystem's cluster locks —
    /// about a minute and a half after a peer is lost ([`ocfs2::mounted_full`]), which a
    /// failover must not spend.
    pub cluster_view: bool,
    /// Protected domains that may run here: whether each one's `xl remus` runs here is read
    /// with the Xen part (`start-stop-daemon --status`).
    pub remus: Vec<String>,
}

impl Probe {
    /// What a node of the desired state is asked: its bonds, every file xenflux would write
    /// there, and the DRBD devices of its volumes that carry a filesystem.
    pub fn for_node(
        desired: &Desired,
        files: impl IntoIterator<Item = String>,
        minors: &BTreeMap<Name, u32>,
        node: &Name,
    ) -> Probe {
        let volumes = desired
            .volumes
            .iter()
            .filter(|(_, v)| v.nodes.contains(node));
        Probe::of_volumes(desired, files, minors, node, volumes)
    }

    /// [`Probe::for_node`] for every node of the desired state, `files` holding each node's
    /// rendered files; the volumes are sorted by node once rather than scanned per node.
    pub fn for_nodes(
        desired: &Desired,
        files: &BTreeMap<Name, crate::render::Files>,
        minors: &BTreeMap<Name, u32>,
    ) -> BTreeMap<Name, Probe> {
        let by_node = desired.volumes_by_node();
        desired
            .nodes
            .keys()
            .map(|node| {
                let node_files = files
                    .get(node)
                    .into_iter()
                    .flatten()
                    .map(|(p, _)| p.clone());
                let volumes = by_node.get(node).into_iter().flatten().copied();
                let probe = Probe::of_volumes(desired, node_files, minors, node, volumes);
                (node.clone(), probe)
            })
            .collect()
    }

    /// The probe of `node` holding `volumes` (in name order).
    fn of_volumes<'v>(
        desired: &Desired,
        files: impl IntoIterator<Item = String>,
        minors: &BTreeMap<Name, u32>,
        node: &Name,
        volumes: impl Iterator<Item = (&'v Name, &'v VolumeSpec)> + Clone,
    ) -> Probe {
        let bonds = desired
            .bonds
            .iter()
            .filter(|(_, b)| match &b.nodes {
                Some(ns) => ns.contains(node),
                None => desired.nodes.contains_key(node),
            })
            .map(|(n, _)| n.to_string())
            .collect();
        let devices = volumes
            .clone()
            .filter(|(_, v)| v.filesystem != crate::model::Filesystem::None)
            .filter_map(|(n, _)| minors.get(n).map(|m| crate::render::drbd::device(*m)))
            .collect();
        let sizes = volumes
            .filter_map(|(n, _)| minors.get(n).copied())
            .collect();
        let remus = desired
            .domains
            .iter()
            .filter(|(_, d)| {
                d.protection.is_some() && crate::render::xl::domain_nodes(desired, d).contains(node)
            })
            .map(|(n, _)| n.to_string())
            .collect();
        Probe {
            host: node.to_string(),
            drbd_version: desired.cluster.drbd.version,
            bonds,
            files: files.into_iter().collect(),
            devices,
            minors: sizes,
            images: images_of(desired, node),
            meta: Vec::new(),
            only: None,
            cluster_view: false,
            remus,
        }
    }

    /// The same probe asking only about `parts`.
    pub fn only(mut self, parts: &BTreeSet<PartKind>) -> Probe {
        self.only = Some(parts.clone());
        self
    }

    fn asks(&self, part: PartKind) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&part))
    }
}

/// The image files of the desired state's domains that `node` mounts the filesystem of: path
/// and mountpoint, each once, in path order.
fn images_of(desired: &Desired, node: &Name) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = desired
        .domains
        .values()
        .flat_map(|d| d.disks.iter().filter_map(|k| k.file.as_ref()))
        .filter_map(|path| {
            let (_, fs) = desired.image_filesystem(path)?;
            desired
                .image_nodes(path)
                .contains(node)
                .then(|| (path.to_string(), fs.mountpoint.to_string()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How long a `stat` of an image may take: on a node whose OCFS2 peer just died, it waits for
/// the filesystem's recovery (about a minute and a half in the lab) and then counts as
/// unknown rather than holding up the whole observation.
pub const IMAGE_READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The slots of a batch, in order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Vgs,
    Lvs,
    DumpXml,
    ProcDrbd,
    DrbdShow,
    DrbdStatusJson,
    XlTable,
    XlList,
    XlInfo,
    IpLink,
    IpAddr,
    BridgeLink,
    SshConnection,
    Bonding(String),
    ClusterConf,
    MountedDetect,
    MountedFull,
    ProcMounts,
    O2cbStatus,
    Listening,
    File(String),
    Blkid(String),
    DrbdSize(u32),
    DumpMd(MetaLocation, DrbdVersion),
    RemusStatus(String),
    Image(String),
}

fn slots(p: &Probe) -> Vec<(Slot, Cmd)> {
    let mut v = Vec::new();
    if p.asks(PartKind::Lvm) {
        v.push((Slot::Vgs, Cmd::new(lvm::vgs(None))));
        v.push((Slot::Lvs, Cmd::new(lvm::lvs(None))));
    }
    if p.asks(PartKind::Drbd) {
        v.push((Slot::DumpXml, Cmd::new(drbd::dump_xml(None))));
        v.push((Slot::ProcDrbd, Cmd::new(drbd::cat_proc_drbd())));
        v.push((Slot::DrbdShow, Cmd::new(drbd::show::argv())));
        if p.drbd_version == DrbdVersion::V9 {
            v.push((
                Slot::DrbdStatusJson,
                Cmd::new(drbd::drbdsetup_status_json()),
            ));
        }
    }
    if p.asks(PartKind::Xen) {
        // The table first: a domain created between the two commands is still seen whole, one
        // destroyed between them shows as listed without a configuration (see `read_xen`).
        v.push((Slot::XlTable, Cmd::new(xl::list())));
        v.push((Slot::XlList, Cmd::new(xl::list_long())));
        v.push((Slot::XlInfo, Cmd::new(xl::info())));
        for d in &p.remus {
            v.push((Slot::RemusStatus(d.clone()), Cmd::new(remus::status(d))));
        }
    }
    if p.asks(PartKind::Net) {
        v.push((Slot::IpLink, Cmd::new(net::ip_link_show())));
        v.push((Slot::IpAddr, Cmd::new(net::ip_addr_show())));
        v.push((Slot::BridgeLink, Cmd::new(net::bridge_link_show())));
        v.push((Slot::SshConnection, Cmd::new(net::ssh_connection())));
        for b in &p.bonds {
            v.push((Slot::Bonding(b.clone()), Cmd::new(net::cat_bonding(b))));
        }
    }
    if p.asks(PartKind::Ocfs2) {
        v.push((Slot::ClusterConf, Cmd::new(ocfs2::cat_cluster_conf())));
        v.push((Slot::MountedDetect, Cmd::new(ocfs2::mounted_detect(None))));
        if p.cluster_view {
            v.push((
                Slot::MountedFull,
                Cmd::new(ocfs2::mounted_full(None)).bounded(ocfs2::CLUSTER_READ_WITHIN),
            ));
        }
        v.push((Slot::ProcMounts, Cmd::new(ocfs2::cat_proc_mounts())));
        v.push((Slot::O2cbStatus, Cmd::new(ocfs2::o2cb_cluster_status())));
    }
    if p.asks(PartKind::Listening) {
        v.push((Slot::Listening, Cmd::new(ss::ss_listening_tcp())));
    }
    if p.asks(PartKind::Files) {
        for f in &p.files {
            v.push((Slot::File(f.clone()), Cmd::new(files::cat(f))));
        }
    }
    if p.asks(PartKind::Filesystems) {
        for d in &p.devices {
            v.push((Slot::Blkid(d.clone()), Cmd::new(ocfs2::blkid_export(d))));
        }
    }
    if p.asks(PartKind::Drbd) {
        for m in &p.minors {
            v.push((Slot::DrbdSize(*m), Cmd::new(drbd::cat_sysfs_size(*m))));
        }
    }
    if p.asks(PartKind::Images) {
        // An image is known only where its filesystem is seen mounted (the verification of an
        // image action asks for images alone).
        if !p.asks(PartKind::Ocfs2) && !p.images.is_empty() {
            v.push((Slot::ProcMounts, Cmd::new(ocfs2::cat_proc_mounts())));
        }
        for (path, _) in &p.images {
            v.push((
                Slot::Image(path.clone()),
                Cmd::new(image::stat(path)).bounded(IMAGE_READ_WITHIN),
            ));
        }
    }
    if p.asks(PartKind::MetaData) {
        for at in &p.meta {
            for format in drbd::meta::FORMATS {
                v.push((
                    Slot::DumpMd(at.clone(), format),
                    Cmd::new(drbd::meta::dump_md(at, format)),
                ));
            }
        }
    }
    v
}

/// The commands of one node's observation batch, in order.
pub fn commands(p: &Probe) -> Vec<Cmd> {
    slots(p).into_iter().map(|(_, c)| c).collect()
}

/// Observes one node: one batch over the transport. A node that cannot be reached has every
/// part unknown.
pub fn observe_node(t: &dyn Transport, node: &str, p: &Probe) -> NodeState {
    let cmds = commands(p);
    match t.run_reads(node, &cmds) {
        Ok(outputs) => interpret(p, &outputs),
        Err(e) => {
            let u = Unknown {
                command: String::new(),
                status: None,
                stderr: String::new(),
                reason: e.to_string(),
            };
            all_unknown(p, &u)
        }
    }
}

fn all_unknown(p: &Probe, u: &Unknown) -> NodeState {
    NodeState {
        lvm: Part::Unknown(u.clone()),
        drbd: Part::Unknown(u.clone()),
        xen: Part::Unknown(u.clone()),
        net: Part::Unknown(u.clone()),
        ocfs2: Part::Unknown(u.clone()),
        listening: Part::Unknown(u.clone()),
        files: p
            .files
            .iter()
            .map(|f| (f.clone(), Part::Unknown(u.clone())))
            .collect(),
        filesystems: p
            .devices
            .iter()
            .map(|d| (d.clone(), Part::Unknown(u.clone())))
            .collect(),
        metadata: p
            .meta
            .iter()
            .map(|m| (m.key(), Part::Unknown(u.clone())))
            .collect(),
        images: p
            .images
            .iter()
            .map(|(i, _)| (i.clone(), Part::Unknown(u.clone())))
            .collect(),
    }
}

fn unknown(o: &Output, reason: impl Into<String>) -> Unknown {
    Unknown {
        command: Cmd::new(o.argv.clone()).display(),
        status: o.status,
        stderr: o.stderr.trim_end().to_string(),
        reason: reason.into(),
    }
}

fn failed(o: &Output) -> Unknown {
    let reason = match o.status {
        Some(127) => "not installed".to_string(),
        // The bound a transport puts on a command ([`Cmd::within`], the batch's own).
        Some(124) if o.stderr.contains("xenflux: stopped") => {
            "did not answer in time and was stopped".to_string()
        }
        Some(s) => format!("exit status {s}"),
        None => "killed by a signal".to_string(),
    };
    unknown(o, reason)
}

/// `cat` of a file that does not exist.
fn no_such_file(o: &Output) -> bool {
    o.status == Some(1) && o.stderr.contains("No such file or directory")
}

/// Reads a batch's outputs (one per command of [`commands`], same order).
pub fn interpret(p: &Probe, outputs: &[Output]) -> NodeState {
    let mut index = BTreeMap::new();
    for (i, (slot, _)) in slots(p).into_iter().enumerate() {
        index.entry(slot).or_insert(i);
    }
    let b = Batch {
        p,
        slots: index,
        outputs,
    };
    let files = b.files();
    let mut drbd = match (b.get(&Slot::DumpXml), b.get(&Slot::ProcDrbd)) {
        (Some(x), Some(pd)) => read_drbd(x, pd, b.get(&Slot::DrbdStatusJson), p)
            .map(|d| with_runtime_options(d, b.get(&Slot::DrbdShow))),
        _ => Part::Unknown(b.missing("drbd")),
    };
    if let Part::Known(d) = &mut drbd {
        b.device_sizes(d);
        with_node_ids(d, &files);
    }
    NodeState {
        lvm: match (b.get(&Slot::Vgs), b.get(&Slot::Lvs)) {
            (Some(v), Some(l)) => read_lvm(v, l),
            _ => Part::Unknown(b.missing("lvm")),
        },
        drbd,
        xen: match (
            b.get(&Slot::XlTable),
            b.get(&Slot::XlList),
            b.get(&Slot::XlInfo),
        ) {
            (Some(t), Some(l), Some(i)) => read_xen(t, l, i).and_then(|x| b.senders(x)),
            _ => Part::Unknown(b.missing("xl")),
        },
        net: b.net(),
        ocfs2: b.ocfs2(),
        listening: b.listening(),
        files,
        filesystems: b.filesystems(),
        metadata: b.metadata(),
        images: b.images(),
    }
}

/// A batch's outputs, found by the slot of the command that printed them.
struct Batch<'a> {
    p: &'a Probe,
    /// Each slot's position in the batch (the first, should one repeat): a node's hundreds of
    /// files are looked up by name, not by a scan of the batch each.
    slots: BTreeMap<Slot, usize>,
    outputs: &'a [Output],
}

impl Batch<'_> {
    fn get(&self, want: &Slot) -> Option<&Output> {
        self.slots.get(want).and_then(|i| self.outputs.get(*i))
    }

    /// The protected domains whose `xl remus` runs here, into the Xen part; unknown when a
    /// status could not be read.
    fn senders(&self, mut x: XenState) -> Part<XenState> {
        for d in &self.p.remus {
            let Some(o) = self.get(&Slot::RemusStatus(d.clone())) else {
                return Part::Unknown(self.missing("xl remus status"));
            };
            match remus::parse_status(o.status) {
                Some(true) => {
                    x.senders.insert(d.clone());
                }
                Some(false) => {}
                None => {
                    return Part::Unknown(unknown(
                        o,
                        "start-stop-daemon could not tell whether xl remus runs",
                    ))
                }
            }
        }
        Part::Known(x)
    }

    /// No output for a part: not asked about, or the batch ended before it.
    fn missing(&self, what: &str) -> Unknown {
        Unknown {
            command: String::new(),
            status: None,
            stderr: String::new(),
            reason: if self.p.only.is_some() {
                format!("{what} was not asked about in this observation")
            } else {
                format!("no output for {what}")
            },
        }
    }

    /// Links, addresses, bridge ports and bonds, with the management connection.
    fn net(&self) -> Part<NetState> {
        let bonds: Vec<(String, Option<&Output>)> = self
            .p
            .bonds
            .iter()
            .map(|b| (b.clone(), self.get(&Slot::Bonding(b.clone()))))
            .collect();
        match (
            self.get(&Slot::IpLink),
            self.get(&Slot::IpAddr),
            self.get(&Slot::BridgeLink),
        ) {
            (Some(i), Some(a), Some(b)) => read_net(i, a, b, &bonds).map(|mut n| {
                n.management = self
                    .get(&Slot::SshConnection)
                    .filter(|o| o.success())
                    .and_then(|o| net::parse_ssh_connection(&o.stdout));
                n
            }),
            _ => Part::Unknown(self.missing("ip")),
        }
    }

    fn ocfs2(&self) -> Part<Ocfs2State> {
        let full = self.get(&Slot::MountedFull);
        if self.p.cluster_view && full.is_none() {
            return Part::Unknown(self.missing("mounted.ocfs2 -f"));
        }
        match (
            self.get(&Slot::ClusterConf),
            self.get(&Slot::MountedDetect),
            self.get(&Slot::ProcMounts),
            self.get(&Slot::O2cbStatus),
        ) {
            (Some(c), Some(d), Some(m), Some(st)) => read_ocfs2(c, d, full, m, st),
            _ => Part::Unknown(self.missing("ocfs2")),
        }
    }

    /// The TCP ports something listens on.
    fn listening(&self) -> Part<BTreeSet<u16>> {
        match self.get(&Slot::Listening) {
            Some(o) if o.success() => match ss::parse(&o.stdout) {
                Ok(ls) => Part::Known(ls.iter().map(|l| l.port).collect()),
                Err(e) => Part::Unknown(unknown(o, e.to_string())),
            },
            Some(o) => Part::Unknown(failed(o)),
            None => Part::Unknown(self.missing("ss")),
        }
    }

    /// Each file asked about: its text, or None where it does not exist.
    fn files(&self) -> BTreeMap<String, Part<Option<String>>> {
        self.p
            .files
            .iter()
            .map(|f| {
                let part = match self.get(&Slot::File(f.clone())) {
                    Some(o) if o.success() => Part::Known(Some(o.stdout.clone())),
                    Some(o) if no_such_file(o) => Part::Known(None),
                    Some(o) => Part::Unknown(failed(o)),
                    None => Part::Unknown(self.missing(f)),
                };
                (f.clone(), part)
            })
            .collect()
    }

    /// Each image asked about: what `stat` says, None when it does not exist — known only
    /// where its filesystem is seen mounted (an unmounted mountpoint's "missing" would be the
    /// root filesystem's answer).
    fn images(&self) -> BTreeMap<String, Part<Option<image::Stat>>> {
        let mounts = self
            .get(&Slot::ProcMounts)
            .filter(|o| o.success())
            .and_then(|o| ocfs2::parse_proc_mounts(&o.stdout).ok());
        self.p
            .images
            .iter()
            .map(|(path, mountpoint)| {
                let mounted = mounts.as_ref().map(|ms| {
                    ms.iter()
                        .any(|m| m.target == *mountpoint && m.fstype == "ocfs2")
                });
                let part = match (mounted, self.get(&Slot::Image(path.clone()))) {
                    (_, None) => Part::Unknown(self.missing(path)),
                    (None, Some(o)) => Part::Unknown(unknown(o, "the node's mounts are unknown")),
                    (Some(false), Some(o)) => Part::Unknown(unknown(
                        o,
                        format!("its OCFS2 filesystem is not mounted on {mountpoint}"),
                    )),
                    (Some(true), Some(o)) if o.success() => match image::parse_stat(&o.stdout) {
                        Ok(st) => Part::Known(Some(st)),
                        Err(e) => Part::Unknown(unknown(o, e.to_string())),
                    },
                    (Some(true), Some(o)) if image::no_such_file(o.status, &o.stderr) => {
                        Part::Known(None)
                    }
                    (Some(true), Some(o)) => Part::Unknown(failed(o)),
                };
                (path.clone(), part)
            })
            .collect()
    }

    /// What blkid finds on each device asked about: None when it is blank.
    fn filesystems(&self) -> BTreeMap<String, Part<Option<String>>> {
        self.p
            .devices
            .iter()
            .map(|d| {
                let part = match self.get(&Slot::Blkid(d.clone())) {
                    Some(o) => match o.status.map(|s| ocfs2::blkid_result(&o.stdout, s)) {
                        // A partition table without a filesystem is not blank either.
                        Some(Ok(entry)) => Part::Known(entry.and_then(|e| {
                            e.fs_type().map(str::to_string).or_else(|| {
                                e.get("PTTYPE").map(|t| format!("partition table ({t})"))
                            })
                        })),
                        Some(Err(e)) => Part::Unknown(unknown(o, e.to_string())),
                        None => Part::Unknown(failed(o)),
                    },
                    None => Part::Unknown(self.missing(d)),
                };
                (d.clone(), part)
            })
            .collect()
    }

    /// What drbdmeta finds at each meta-data location asked about.
    fn metadata(&self) -> BTreeMap<String, Part<MetaFound>> {
        self.p
            .meta
            .iter()
            .map(|at| {
                // Read in every format: the most used meta-data either finds, unknown when
                // either cannot say.
                let mut part = Part::Known(MetaFound::Nothing);
                for format in drbd::meta::FORMATS {
                    let this = match self.get(&Slot::DumpMd(at.clone(), format)) {
                        Some(o) => match o
                            .status
                            .map(|s| drbd::meta::dump_md_result(&o.stdout, &o.stderr, s))
                        {
                            Some(Ok(found)) => Part::Known(found),
                            Some(Err(e)) => Part::Unknown(unknown(o, e.to_string())),
                            None => Part::Unknown(failed(o)),
                        },
                        None => Part::Unknown(self.missing(&at.key())),
                    };
                    part = match (part, this) {
                        (Part::Unknown(u), _) | (_, Part::Unknown(u)) => Part::Unknown(u),
                        (Part::Known(a), Part::Known(b)) => Part::Known(a.max(b)),
                    };
                }
                (at.key(), part)
            })
            .collect()
    }

    /// The size of each DRBD device asked about (`blockdev --getsz`).
    fn device_sizes(&self, d: &mut DrbdState) {
        for m in &self.p.minors {
            let Some(o) = self.get(&Slot::DrbdSize(*m)) else {
                continue;
            };
            // No such device: the minor is not configured in the kernel.
            let sectors = o
                .success()
                .then(|| o.stdout.trim().parse::<u64>().ok())
                .flatten();
            // A size beyond u64 bytes is no real device: unknown.
            if let Some(bytes) = sectors.and_then(|s| s.checked_mul(512)) {
                d.device_sizes.insert(*m, bytes);
            }
        }
    }
}

/// The DRBD 9 node-ids each resource's configuration file gives its hosts.
fn with_node_ids(d: &mut DrbdState, files: &BTreeMap<String, Part<Option<String>>>) {
    for (name, r) in d.resources.iter_mut() {
        let Some(c) = r.config.as_mut() else { continue };
        let text = c.file.as_ref().and_then(|f| files_text(files, f));
        if let Some(t) = text {
            c.node_ids = node_ids_in_res(t, name);
        }
    }
}

fn files_text<'f>(
    files: &'f BTreeMap<String, Part<Option<String>>>,
    path: &str,
) -> Option<&'f str> {
    files.get(path)?.known()?.as_deref()
}

fn read_lvm(vgs: &Output, lvs: &Output) -> Part<LvmState> {
    let Some(vstatus) = vgs.status else {
        return Part::Unknown(failed(vgs));
    };
    let Some(lstatus) = lvs.status else {
        return Part::Unknown(failed(lvs));
    };
    if vstatus == 127 {
        return Part::Unknown(failed(vgs));
    }
    let vg_list = match lvm::vgs_result(&vgs.stdout, &vgs.stderr, vstatus) {
        Ok(lvm::Lookup::Found(v)) => v,
        Ok(lvm::Lookup::NotFound(_)) => Vec::new(),
        Err(e) => return Part::Unknown(unknown(vgs, e.to_string())),
    };
    let lv_list = match lvm::lvs_result(&lvs.stdout, &lvs.stderr, lstatus) {
        Ok(lvm::Lookup::Found(v)) => v,
        Ok(lvm::Lookup::NotFound(_)) => Vec::new(),
        Err(e) => return Part::Unknown(unknown(lvs, e.to_string())),
    };
    let vg_names: BTreeSet<&str> = vg_list.iter().map(|v| v.name.as_str()).collect();
    if let Some(l) = lv_list.iter().find(|l| !vg_names.contains(l.vg.as_str())) {
        // The two reports disagree (a VG appeared or vanished between them, or one was skipped):
        // neither can be trusted for what exists.
        return Part::Unknown(unknown(
            lvs,
            format!(
                "`lvs` lists {}/{} but `vgs` has no volume group {}",
                l.vg, l.name, l.vg
            ),
        ));
    }
    let vgs = vg_list
        .into_iter()
        .map(|v| {
            let state = VgState {
                size: v.size_bytes,
                free: v.free_bytes,
                extent_size: v.extent_size_bytes,
                tags: v.tags.into_iter().collect(),
            };
            (v.name, state)
        })
        .collect();
    let lvs = lv_list
        .into_iter()
        .map(|l| {
            let state = LvState {
                size: l.size_bytes,
                active: l.attr.active(),
                open: l.attr.open(),
                tags: l.tags.into_iter().collect(),
                snapshot: l.attr.snapshot().then(|| SnapState {
                    origin: l.origin.clone().unwrap_or_default(),
                    invalid: l.attr.invalid_snapshot(),
                    used_hundredths: l.snap_percent.map(|p| (p * 100.0).round() as u32),
                }),
            };
            (format!("{}/{}", l.vg, l.name), state)
        })
        .collect();
    Part::Known(LvmState { vgs, lvs })
}

/// The kernel's `allow-two-primaries` of every resource that is up, from `drbdsetup show`. A
/// failing or unreadable `show` leaves it unknown (None) without hiding the rest of DRBD.
fn with_runtime_options(mut state: DrbdState, show: Option<&Output>) -> DrbdState {
    let shown = show
        .filter(|o| o.success())
        .and_then(|o| drbd::show::parse(&o.stdout).ok())
        .unwrap_or_default();
    for r in shown {
        if let Some(k) = state
            .resources
            .get_mut(&r.name)
            .and_then(|x| x.kernel.as_mut())
        {
            k.allow_two_primaries = Some(r.allow_two_primaries);
        }
    }
    state
}

fn read_drbd(xml: &Output, proc: &Output, json: Option<&Output>, p: &Probe) -> Part<DrbdState> {
    let mut state = match configured(xml, &p.host) {
        Ok(s) => s,
        Err(u) => return Part::Unknown(u),
    };
    if no_such_file(proc) {
        // no module loaded: nothing runs in the kernel
        return Part::Known(state);
    }
    if !proc.success() {
        return Part::Unknown(failed(proc));
    }
    let pd = match proc_drbd::parse(&proc.stdout) {
        Ok(pd) => pd,
        Err(e) => return Part::Unknown(unknown(proc, e.to_string())),
    };
    state.module_version = Some(pd.version.clone());
    match p.drbd_version {
        DrbdVersion::V84 => kernel_84(&mut state, pd),
        DrbdVersion::V9 => {
            if let Some(json) = json {
                if let Err(u) = kernel_9(&mut state, json) {
                    return Part::Unknown(u);
                }
            }
        }
    }
    Part::Known(state)
}

/// The resources configured on the node (`drbdadm dump-xml`), none yet in the kernel.
fn configured(xml: &Output, host: &str) -> Result<DrbdState, Unknown> {
    // Without /etc/drbd.conf drbdadm says `Can not open '/etc/drbd.conf'.` (exit 20): no resources.
    let configs = if xml.success() {
        match dump_xml::parse(&xml.stdout) {
            Ok(c) => c.resources,
            Err(e) => return Err(unknown(xml, e.to_string())),
        }
    } else if xml.status == Some(20) && xml.stderr.contains("Can not open") {
        Vec::new()
    } else {
        return Err(failed(xml));
    };
    let mut state = DrbdState::default();
    for rc in configs {
        let config = config_of(&rc, host);
        state.resources.insert(
            rc.name.clone(),
            DrbdResource {
                config: Some(config),
                kernel: None,
            },
        );
    }
    Ok(state)
}

/// DRBD 8.4: the kernel's devices from `/proc/drbd`, matched to resources by minor; a device
/// no configured resource has is a stray minor.
fn kernel_84(state: &mut DrbdState, pd: proc_drbd::ProcDrbd) {
    let by_minor: BTreeMap<u32, String> = state
        .resources
        .iter()
        .filter_map(|(n, r)| {
            r.config
                .as_ref()
                .and_then(|c| c.minor)
                .map(|m| (m, n.clone()))
        })
        .collect();
    for dev in pd.devices {
        let Some(roles) = dev.roles.clone() else {
            continue;
        }; // Unconfigured
        let disks = dev.disks.clone();
        let (connection, replication) = dev.cs.split().unwrap_or((
            ConnectionState::Unknown(dev.cs.as_str().into()),
            ReplState::Off,
        ));
        let standalone = connection == ConnectionState::StandAlone;
        let kernel = DrbdKernel {
            minor: Some(dev.minor),
            role: roles.local,
            disk: disks
                .as_ref()
                .map_or(DiskState::Unknown("".into()), |d| d.local.clone()),
            peers: vec![DrbdPeer {
                name: None,
                connection,
                replication,
                role: if standalone {
                    Role::Unknown
                } else {
                    roles.peer
                },
                disk: disks.map_or(DiskState::DUnknown, |d| d.peer),
                sync_percent: dev.sync.as_ref().map(|s| s.percent),
            }],
            allow_two_primaries: None,
        };
        match by_minor.get(&dev.minor) {
            Some(name) => {
                if let Some(r) = state.resources.get_mut(name) {
                    r.kernel = Some(kernel);
                }
            }
            None => {
                state.stray_minors.insert(dev.minor);
            }
        }
    }
}

/// DRBD 9: the kernel's resources from `drbdsetup status --json`.
fn kernel_9(state: &mut DrbdState, json: &Output) -> Result<(), Unknown> {
    if !json.success() {
        return Err(failed(json));
    }
    let list = match status::parse_json(&json.stdout) {
        Ok(l) => l,
        Err(e) => return Err(unknown(json, e.to_string())),
    };
    for rs in list {
        let dev = rs.devices.first();
        let kernel = DrbdKernel {
            minor: dev.and_then(|d| d.minor),
            role: rs.role.clone(),
            disk: dev.map_or(DiskState::Diskless, |d| d.disk.clone()),
            peers: rs
                .connections
                .iter()
                .map(|c| {
                    let pd = c.peer_devices.first();
                    DrbdPeer {
                        name: c.peer.clone(),
                        connection: c.state.clone(),
                        replication: pd.map_or(ReplState::Off, |d| d.replication.clone()),
                        role: c.peer_role.clone(),
                        disk: pd.map_or(DiskState::DUnknown, |d| d.peer_disk.clone()),
                        sync_percent: pd.and_then(|d| d.done_percent),
                    }
                })
                .collect(),
            allow_two_primaries: None,
        };
        state.resources.entry(rs.name.clone()).or_default().kernel = Some(kernel);
    }
    Ok(())
}

fn config_of(rc: &dump_xml::ResourceConfig, host: &str) -> DrbdConfig {
    // This node's own `on` section; the first one when the name is not there (a configuration
    // written for another hostname).
    let first = rc.host(host).or(rc.hosts.first());
    let vol = first.and_then(|h| h.volumes.first());
    let meta = vol.and_then(|v| v.meta_disk.as_ref()).map(|m| match m {
        dump_xml::MetaDisk::Internal => MetaDisk::Internal,
        dump_xml::MetaDisk::Indexed { path, index } => MetaDisk::Indexed {
            path: path.clone(),
            index: *index,
        },
        dump_xml::MetaDisk::Flexible { path } => MetaDisk::Flexible { path: path.clone() },
    });
    let hosts = rc
        .hosts
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                h.address.as_ref().map(|a| format!("{}:{}", a.ip, a.port)),
            )
        })
        .collect();
    DrbdConfig {
        file: rc
            .conf_file_line
            .as_ref()
            .map(|f| f.rsplit_once(':').map_or(f.clone(), |(p, _)| p.to_string())),
        minor: vol.and_then(|v| v.minor),
        disk: vol.and_then(|v| v.disk.clone()),
        meta,
        port: first.and_then(|h| h.address.as_ref()).map(|a| a.port),
        hosts,
        node_ids: BTreeMap::new(),
        allow_two_primaries: rc
            .option("net", "allow-two-primaries")
            .is_some_and(|v| v == "yes"),
    }
}

/// `xl list -l` silently leaves out a domain whose configuration libxl cannot read at that
/// moment (one being built or torn down), so the table is read too: a domain it lists that the
/// long listing lacks makes the whole part unknown rather than absent, and its state flags tell
/// a domain that has shut down (still listed until it is reaped) from one that runs.
fn read_xen(table: &Output, list: &Output, info: &Output) -> Part<XenState> {
    for o in [table, list, info] {
        if !o.success() {
            return Part::Unknown(failed(o));
        }
    }
    let rows = match xl::parse_list(&table.stdout) {
        Ok(r) => r,
        Err(e) => return Part::Unknown(unknown(table, e.to_string())),
    };
    let doms = match xl::parse_list_long(&list.stdout) {
        Ok(d) => d,
        Err(e) => return Part::Unknown(unknown(list, e.to_string())),
    };
    // Both listings by domid (each parser refuses a domid listed twice), so that joining them
    // stays linear in the number of domains.
    let row_of: BTreeMap<u32, &xl::XlListEntry> = rows.iter().map(|r| (r.domid, r)).collect();
    let long_of: BTreeMap<u32, &xl::XlDomain> = doms
        .iter()
        .filter_map(|d| d.domid.map(|id| (id, d)))
        .collect();
    // A domain kept after a crash: `(null)` in the table, no name in the long listing.
    let nameless_row = |domid: Option<u32>| {
        domid
            .and_then(|id| row_of.get(&id))
            .filter(|r| r.name == xl::NO_NAME)
    };
    let mut kept = BTreeMap::new();
    for r in rows.iter().filter(|r| r.name == xl::NO_NAME) {
        let long = long_of.get(&r.domid);
        kept.insert(
            r.domid,
            KeptDomain {
                memory_mib: r.mem_mib,
                state: r.state.to_string(),
                former_name: long.and_then(|d| d.config.name.clone()),
            },
        );
    }
    for d in doms.iter().filter(|d| d.config.name.is_none()) {
        let Some(domid) = d.domid else { continue };
        kept.entry(domid).or_insert_with(|| KeptDomain {
            memory_mib: d.config.memory_mib().unwrap_or(0),
            state: String::new(),
            former_name: None,
        });
    }
    // A Remus shadow (`NAME--incoming`) has no configuration libxl can give until it takes
    // over (real Xen 4.17: "Fail to get domain configuration"): the table says what it holds.
    let mut incoming: BTreeMap<String, XenDomain> = rows
        .iter()
        .filter(|r| !long_of.contains_key(&r.domid))
        .filter_map(|r| {
            let of = remus::shadow_of(&r.name)?;
            Some((
                of.to_string(),
                XenDomain {
                    domid: Some(r.domid),
                    memory_mib: Some(r.mem_mib),
                    max_memory_mib: None,
                    vcpus: Some(r.vcpus),
                    max_vcpus: None,
                    disks: Vec::new(),
                    nics: Vec::new(),
                    stopping: r.state.dying,
                },
            ))
        })
        .collect();
    if let Some(r) = rows
        .iter()
        .filter(|r| r.domid != 0 && r.name != xl::NO_NAME)
        .filter(|r| remus::shadow_of(&r.name).is_none())
        .find(|r| !long_of.contains_key(&r.domid))
    {
        return Part::Unknown(unknown(
            list,
            format!(
                "`xl list` shows domain {} (id {}) but `xl list -l` has no configuration for it \
                 (it is being created or destroyed)",
                r.name, r.domid
            ),
        ));
    }
    let mut names = BTreeSet::new();
    if let Some(n) = doms
        .iter()
        .filter_map(|d| d.config.name.as_deref())
        .find(|n| !names.insert(*n))
    {
        return Part::Unknown(unknown(
            list,
            format!("`xl list -l` lists two domains named {n}: which one runs is not known"),
        ));
    }
    let info_parsed = match xl::parse_info(&info.stdout) {
        Ok(i) => i,
        Err(e) => return Part::Unknown(unknown(info, e.to_string())),
    };
    let (received, doms): (Vec<_>, Vec<_>) = doms.into_iter().partition(|d| {
        d.config
            .name
            .as_deref()
            .is_some_and(|n| remus::shadow_of(n).is_some())
    });
    incoming.extend(
        xen_domains(received, &row_of)
            .filter_map(|(n, d)| Some((remus::shadow_of(&n)?.to_string(), d))),
    );
    let domains = xen_domains(
        doms.into_iter()
            .filter(|d| d.domid != Some(0) && nameless_row(d.domid).is_none()),
        &row_of,
    )
    .collect();
    Part::Known(XenState {
        domains,
        kept,
        incoming,
        senders: BTreeSet::new(),
        total_memory_mib: info_parsed.total_memory_mib(),
        free_memory_mib: info_parsed.free_memory_mib(),
        version: info_parsed.xen_version(),
    })
}

/// The named domains of `xl list -l` (Domain-0 aside) as observed, with the table's state
/// flags.
fn xen_domains<'a>(
    doms: impl IntoIterator<Item = xl::XlDomain> + 'a,
    row_of: &'a BTreeMap<u32, &xl::XlListEntry>,
) -> impl Iterator<Item = (String, XenDomain)> + 'a {
    doms.into_iter().filter_map(|d| {
        let c = d.config;
        let name = c.name.clone().filter(|n| n != "Domain-0")?;
        let disks = c
            .disks
            .iter()
            .map(|k| {
                (
                    k.pdev_path.clone().unwrap_or_default(),
                    k.vdev.clone(),
                    k.readwrite,
                )
            })
            .collect();
        let nics = c
            .nics
            .iter()
            .map(|n| (n.mac.clone(), n.bridge.clone()))
            .collect();
        let memory_mib = c.memory_mib();
        // Suspended (`---ss-`) is not stopping: Remus suspends a protected domain for each
        // checkpoint (real Xen 4.17 under emulation lists it so most of the time), as a save
        // or a migration does before it goes.
        let stopping = d
            .domid
            .and_then(|id| row_of.get(&id))
            .is_some_and(|r| (r.state.shutdown && r.state.reason != Some('s')) || r.state.dying);
        Some((
            name,
            XenDomain {
                domid: d.domid,
                memory_mib,
                max_memory_mib: c.max_memory_mib(),
                vcpus: c.online_vcpus(),
                max_vcpus: c.max_vcpus,
                disks,
                nics,
                stopping,
            },
        ))
    })
}

fn read_net(
    ip: &Output,
    addr: &Output,
    bridge: &Output,
    bonds: &[(String, Option<&Output>)],
) -> Part<NetState> {
    if !ip.success() {
        return Part::Unknown(failed(ip));
    }
    if !addr.success() {
        return Part::Unknown(failed(addr));
    }
    let addresses: BTreeMap<String, Vec<String>> = match net::parse_ip_addr(&addr.stdout) {
        Ok(a) => a.into_iter().collect(),
        Err(e) => return Part::Unknown(unknown(addr, e.to_string())),
    };
    let links = match net::parse_ip_link(&ip.stdout) {
        Ok(l) => l,
        Err(e) => return Part::Unknown(unknown(ip, e.to_string())),
    };
    let ports: BTreeMap<String, net::PortState> = if bridge.success() {
        match net::parse_bridge_link(&bridge.stdout) {
            Ok(ps) => ps.into_iter().map(|p| (p.ifname, p.state)).collect(),
            Err(e) => return Part::Unknown(unknown(bridge, e.to_string())),
        }
    } else {
        return Part::Unknown(failed(bridge));
    };
    let mut state = NetState::default();
    for l in links {
        let port_state = match &l.slave {
            Some(net::SlaveInfo::Bridge { state, .. }) => Some(state.clone()),
            _ => ports.get(&l.ifname).cloned(),
        };
        let link = LinkState {
            up: l.is_up(),
            kind: l.kind.clone(),
            master: l.master.clone(),
            mac: l.address.clone(),
            stp: l.bridge.as_ref().map(|b| b.stp),
            forward_delay: l
                .bridge
                .as_ref()
                .and_then(|b| b.forward_delay_cs)
                .map(|cs| cs / 100),
            port_state,
            bond_mode: l.bond.as_ref().map(|b| b.mode.clone()),
            addresses: addresses.get(&l.ifname).cloned().unwrap_or_default(),
        };
        state.links.insert(l.ifname, link);
    }
    for (name, out) in bonds {
        let Some(o) = out else { continue };
        if no_such_file(o) {
            continue; // the bond does not exist (yet)
        }
        if !o.success() {
            return Part::Unknown(failed(o));
        }
        match net::parse_bonding(&o.stdout) {
            Ok(b) => {
                let slaves = b
                    .slaves
                    .iter()
                    .map(|s| (s.name.clone(), s.mii_status.clone()))
                    .collect();
                state.bonds.insert(
                    name.clone(),
                    BondState {
                        mode: b.mode,
                        active_slave: b.active_slave,
                        mii_status: b.mii_status,
                        slaves,
                    },
                );
            }
            Err(e) => return Part::Unknown(unknown(o, e.to_string())),
        }
    }
    Part::Known(state)
}

/// The OCFS2 part; `full` (`mounted.ocfs2 -f`) only when the cluster-wide view was asked for
/// ([`Probe::cluster_view`]): without it, who has a device mounted is not known (`None`).
fn read_ocfs2(
    conf: &Output,
    detect: &Output,
    full: Option<&Output>,
    mounts: &Output,
    status: &Output,
) -> Part<Ocfs2State> {
    let mut state = Ocfs2State::default();
    // `Cluster 'NAME' is online` (exit 0) per online cluster; o2cb exits non-zero when the
    // stack is not up, which means nothing is online.
    match status.status {
        Some(127) | None => return Part::Unknown(failed(status)),
        Some(_) => {
            for line in status.stdout.lines() {
                let name = line
                    .strip_prefix("Cluster '")
                    .and_then(|r| r.strip_suffix("' is online"));
                if let Some(n) = name {
                    state.online.insert(n.to_string());
                }
            }
        }
    }
    if conf.success() {
        match ocfs2::parse_cluster_conf(&conf.stdout) {
            Ok(c) => {
                for cl in &c.clusters {
                    state.clusters.entry(cl.name.clone()).or_default();
                }
                for n in c.nodes {
                    state
                        .clusters
                        .entry(n.cluster.clone())
                        .or_default()
                        .insert(n.name.clone(), (n.number, n.ip_address.clone(), n.ip_port));
                }
            }
            Err(e) => return Part::Unknown(unknown(conf, e.to_string())),
        }
    } else if !no_such_file(conf) {
        return Part::Unknown(failed(conf));
    }
    if !detect.success() {
        return Part::Unknown(failed(detect));
    }
    let devices = match ocfs2::parse_mounted_detect(&detect.stdout) {
        Ok(d) => d,
        Err(e) => return Part::Unknown(unknown(detect, e.to_string())),
    };
    let fulls = match full {
        None => Vec::new(),
        Some(f) if !f.success() => {
            let mut u = failed(f);
            if f.status == Some(124) {
                u.reason.push_str(
                    " (it waits on the filesystem's cluster locks, which OCFS2 holds while it \
                     waits for a lost node's death and recovers its journal)",
                );
            }
            return Part::Unknown(u);
        }
        Some(f) => match ocfs2::parse_mounted_full(&f.stdout) {
            Ok(parsed) => parsed,
            Err(e) => return Part::Unknown(unknown(f, e.to_string())),
        },
    };
    for d in devices {
        let mounted_on = fulls
            .iter()
            .find(|f| f.device == d.device)
            .and_then(|f| mounted_names(&f.mounted_on));
        let heartbeat_device = fulls
            .iter()
            .any(|f| f.device == d.device && f.mounted_on == ocfs2::MountedOn::HeartbeatDevice);
        state.devices.insert(
            d.device.clone(),
            Ocfs2Device {
                label: d.label,
                cluster: d.cluster,
                uuid: d.uuid,
                mounted_on,
                heartbeat_device,
            },
        );
    }
    if !mounts.success() {
        return Part::Unknown(failed(mounts));
    }
    match ocfs2::parse_proc_mounts(&mounts.stdout) {
        Ok(ms) => {
            for m in ms {
                state.mounts.insert(m.target, (m.source, m.fstype));
            }
        }
        Err(e) => return Part::Unknown(unknown(mounts, e.to_string())),
    }
    Part::Known(state)
}

/// The names of the nodes that have a volume mounted; `None` when the tool does not say or
/// names a node only by its number (the name is then not known).
fn mounted_names(on: &ocfs2::MountedOn) -> Option<Vec<String>> {
    match on {
        ocfs2::MountedOn::NotMounted | ocfs2::MountedOn::HeartbeatDevice => Some(Vec::new()),
        ocfs2::MountedOn::Nodes(nodes) => nodes
            .iter()
            .map(|n| match n {
                ocfs2::MountNode::Name(name) => Some(name.clone()),
                ocfs2::MountNode::Number(_) | ocfs2::MountNode::Unknown => None,
            })
            .collect(),
        ocfs2::MountedOn::Unreadable(_) | ocfs2::MountedOn::Unknown => None,
    }
}

/// DRBD 9 node-ids of resource `resource` as its configuration file gives them (`dump-xml`
/// leaves them out): the `node-id N;` inside each `on HOST { ... }` of `resource NAME { ... }`.
/// A file may define several resources (a hand-written `/etc/drbd.conf`, or the whole cluster's
/// config), so only the named one counts; words are read as drbdadm reads them, across lines,
/// with `#` comments and quoted words.
pub(crate) fn node_ids_in_res(text: &str, resource: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    // Without the word, or a quote that could spell it, there is none (DRBD 8.4 files).
    if !text.contains("node-id") && !text.contains('"') {
        return out;
    }
    // The headers of the enclosing blocks (`resource dns`, `on dom0`), innermost last.
    let mut blocks: Vec<Vec<Cow<str>>> = Vec::new();
    let mut words: Vec<Cow<str>> = Vec::new();
    for tok in conf_tokens(text) {
        match tok.as_ref() {
            "{" => blocks.push(std::mem::take(&mut words)),
            "}" => {
                blocks.pop();
                words.clear();
            }
            ";" => {
                let stmt = std::mem::take(&mut words);
                let [res, on] = blocks.as_slice() else {
                    continue;
                };
                let in_resource = res.first().is_some_and(|w| w == "resource")
                    && res.get(1).is_some_and(|w| w == resource);
                let host = match on.as_slice() {
                    [kw, host] if kw == "on" => host,
                    _ => continue,
                };
                if let ([kw, id], true) = (stmt.as_slice(), in_resource) {
                    if kw == "node-id" {
                        if let Ok(id) = id.parse() {
                            out.insert(host.to_string(), id);
                        }
                    }
                }
            }
            _ => words.push(tok),
        }
    }
    out
}

/// drbd.conf words: `{`, `}` and `;` on their own, `#` comments dropped, `"quoted words"`
/// unquoted (a quoted part joins the word it touches). Borrowed from `text` unless unquoted.
fn conf_tokens<'t>(text: &'t str) -> Vec<Cow<'t, str>> {
    let mut out = Vec::new();
    // Where the word being read starts, and whether it holds a quote.
    let mut word: Option<(usize, bool)> = None;
    let mut chars = text.char_indices();
    let flush = |word: &mut Option<(usize, bool)>, end: usize, out: &mut Vec<Cow<'t, str>>| {
        let Some((start, quoted)) = word.take() else {
            return;
        };
        let w = &text[start..end];
        let w = if quoted {
            Cow::Owned(w.replace('"', ""))
        } else {
            Cow::Borrowed(w)
        };
        if !w.is_empty() {
            out.push(w);
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                flush(&mut word, i, &mut out);
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                // The quoted part runs to the next quote (or the end of the text).
                word.get_or_insert((i, true)).1 = true;
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                }
            }
            '{' | '}' | ';' => {
                flush(&mut word, i, &mut out);
                out.push(Cow::Borrowed(&text[i..i + 1]));
            }
            c if c.is_whitespace() => flush(&mut word, i, &mut out),
            _ => {
                word.get_or_insert((i, false));
            }
        }
    }
    flush(&mut word, text.len(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_words_join_their_quoted_parts() {
        let words = conf_tokens("a\"b c\"d {x;} # c \"q\"\n\"\" e \"{;}\" \"open");
        assert_eq!(words, ["ab cd", "{", "x", ";", "}", "e", "{;}", "open"]);
        assert_eq!(
            node_ids_in_res("resource r { on a { node\"-\"id 3; } }", "r"),
            BTreeMap::from([("a".to_string(), 3)])
        );
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn out(stdout: String) -> Output {
        Output {
            argv: Vec::new(),
            status: Some(0),
            stdout,
            stderr: String::new(),
        }
    }

    #[test]
    fn remus_shadows_and_suspended_hosts_are_read_from_the_labs_xl() {
        let info = out(fixture("xl-4.17-info.txt"));
        let dom0_only = out(fixture("xl-4.17-list-long-dom0-only.json"));
        // The shadow: in the table, left out of `xl list -l`.
        let x = read_xen(
            &out(fixture("real-lab-remus/xl-4.17.5-list-shadow.txt")),
            &out(fixture("real-lab-remus/xl-4.17.5-list-long-shadow.json")),
            &info,
        );
        let x = x.known().expect("a shadow does not make Xen unknown");
        assert!(x.domains.is_empty());
        let shadow = &x.incoming["dns"];
        assert_eq!((shadow.domid, shadow.memory_mib), (Some(4), Some(128)));
        // What a refused start leaves: an empty shadow.
        let x = read_xen(
            &out(fixture(
                "real-lab-remus/xl-4.17.5-list-peer-after-failed-remus.txt",
            )),
            &dom0_only,
            &info,
        );
        assert_eq!(x.known().unwrap().incoming["dns"].memory_mib, Some(0));
        // The protected domain, suspended for a checkpoint (`---ss-`), runs.
        let long = fixture("xl-4.17-list-long.json");
        let table = fixture("real-lab-remus/xl-4.17.5-list-protected-host.txt");
        let domid = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("dns "))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_string)
        };
        // Give the table's dns the long listing's domid, so the two join.
        let long_id = long
            .lines()
            .filter(|l| l.contains("\"domid\""))
            .nth(1)
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().trim_end_matches(',').to_string())
            .unwrap();
        let table = table.replacen(
            &format!(" {}   128", domid(&table).unwrap()),
            &format!(" {long_id}   128"),
            1,
        );
        let x = read_xen(&out(table), &out(long), &info);
        let x = x.known().unwrap();
        let dns = x.domains.values().next().expect("the domain is listed");
        assert!(!dns.stopping, "suspended for a checkpoint is not stopping");
    }

    #[test]
    fn node_ids_are_those_of_the_named_resource_only() {
        let text = "\
# two resources in one file, as the whole cluster's config or a hand-written drbd.conf has
resource dns {
  net { protocol C; }
  on dom0 {
    node-id 1;
    volume 0 { device minor 1; disk /dev/XEN/dns; meta-disk internal; }
    address 192.168.1.190:7788;
  }
  on dom0m { node-id 2; address 192.168.1.191:7788; }
}
resource \"data3\" {
  on dom1 { node-id 0; } # node-id 9; is a comment
  on dom0 {
    node-id 1;
  }
  on dom0m {
    node-id
      2;
  }
}
";
        let ids = |r| node_ids_in_res(text, r).into_iter().collect::<Vec<_>>();
        assert_eq!(ids("dns"), [("dom0".into(), 1), ("dom0m".into(), 2)]);
        assert_eq!(
            ids("data3"),
            [("dom0".into(), 1), ("dom0m".into(), 2), ("dom1".into(), 0)]
        );
        assert!(ids("absent").is_empty());
        // 8.4 syntax has no node-ids.
        let old = "resource dns {\n  on dom0 {\n    device /dev/drbd1 minor 1;\n  }\n}\n";
        assert!(node_ids_in_res(old, "dns").is_empty());
    }
}
