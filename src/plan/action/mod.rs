//! The closed set of things xenflux does to a node. Each action names its node, turns into the
//! exact argv commands (built by the drivers) and says in words what it does. Matches over
//! [`Action`] list every variant: adding one makes the compiler point at every place to decide.
//!
//! Everything a variant means lives in this module: its node, whether it is destructive and
//! its words (here), its commands and blank checks (`cmds`), how its effect is verified and
//! which observed part that reads (`verify`), and the object it works for (`object`).

mod cmds;
mod object;
mod verify;

pub use cmds::{signature_words, Check};

use serde::{Deserialize, Serialize};

use crate::drivers::drbd::meta::MetaLocation;
use crate::model::{DrbdVersion, FsKind, Name};

/// The tag on every LV xenflux creates: it never touches an LV without it.
pub const MANAGED_TAG: &str = "xenflux";
/// Added once DRBD meta-data was created for the LV: `create-md` is only ever run on a managed
/// LV without it (one this xenflux created and never initialised).
pub const MD_TAG: &str = "xenflux-md";
/// On a data LV created for a volume with a filesystem, until that filesystem is made: the only
/// existing LVs xenflux ever runs mkfs on (besides those created in the same plan). A volume that
/// held a domain's data never carries it.
pub const MKFS_TAG: &str = "xenflux-mkfs";
/// On every snapshot LV xenflux creates (beside `xenflux`): the only snapshots it ever detaches
/// or removes. A snapshot made by hand is never touched.
pub const SNAP_TAG: &str = "xenflux-snap";

/// Whether an observed LV is a snapshot xenflux made (tagged `xenflux` and `xenflux-snap`).
pub fn own_snapshot(l: &crate::observe::LvState) -> bool {
    l.snapshot.is_some() && l.tags.contains(MANAGED_TAG) && l.tags.contains(SNAP_TAG)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Write a config file (`install -D -m 0644 /dev/stdin PATH`).
    WriteFile {
        node: Name,
        path: String,
        content: String,
    },
    /// Remove a config file xenflux wrote.
    RemoveFile {
        node: Name,
        path: String,
    },
    CreateLv {
        node: Name,
        vg: String,
        lv: String,
        size: u64,
        /// Created for a filesystem xenflux will make on it (tagged `xenflux-mkfs`).
        #[serde(default)]
        for_mkfs: bool,
    },
    ExtendLv {
        node: Name,
        vg: String,
        lv: String,
        size: u64,
    },
    RemoveLv {
        node: Name,
        vg: String,
        lv: String,
    },
    /// Take over an LV made by hand that a running DRBD resource of the volume proves is the
    /// volume's (`adopt: true`): tag it `xenflux`, and `xenflux-md` when the meta-data on it is
    /// the resource's own (it is attached). Nothing is written to the LV.
    AdoptLv {
        node: Name,
        vg: String,
        lv: String,
        resource: String,
        /// The resource's meta-data is in use on it: tag `xenflux-md` too, so create-md is never
        /// planned for it.
        initialised: bool,
    },
    /// `drbdadm create-md` on an LV created by xenflux that has none yet, then mark it. Its
    /// [`Action::checks`] read the LV and the meta-data location first.
    CreateMd {
        node: Name,
        resource: String,
        vg: String,
        lv: String,
        /// Where the meta-data goes, as drbdmeta names it.
        meta: MetaLocation,
        version: DrbdVersion,
    },
    Up {
        node: Name,
        resource: String,
    },
    Adjust {
        node: Name,
        resource: String,
    },
    Down {
        node: Name,
        resource: String,
    },
    /// `drbdadm primary --force`: the one node that becomes the sync source of a new pair.
    InitialPrimary {
        node: Name,
        resource: String,
    },
    Primary {
        node: Name,
        resource: String,
    },
    Secondary {
        node: Name,
        resource: String,
    },
    AllowTwoPrimaries {
        node: Name,
        resource: String,
        allow: bool,
    },
    Resize {
        node: Name,
        resource: String,
    },
    /// Make a filesystem, then drop the `xenflux-mkfs` tag from the data LV (`VG/LV`).
    Mkfs {
        node: Name,
        device: String,
        fs: FsKind,
        label: Option<String>,
        slots: Option<u32>,
        cluster: Option<String>,
        lv: String,
    },
    GrowFs {
        node: Name,
        device: String,
        fs: FsKind,
    },
    O2cbStart {
        node: Name,
    },
    Mount {
        node: Name,
        device: String,
        mountpoint: String,
        /// `mount -o` options from the filesystem's `mountOptions`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<String>,
    },
    CreateBond {
        node: Name,
        bond: String,
        mode: String,
        miimon: u32,
        lacp_rate: Option<String>,
        xmit_hash_policy: Option<String>,
    },
    CreateBridge {
        node: Name,
        bridge: String,
        stp: bool,
        forward_delay: u32,
    },
    SetStp {
        node: Name,
        bridge: String,
        stp: bool,
    },
    /// Enslave an interface (it is taken down first, as bonding requires) and bring it up.
    SetMaster {
        node: Name,
        dev: String,
        master: String,
    },
    LinkUp {
        node: Name,
        dev: String,
    },
    AddAddress {
        node: Name,
        dev: String,
        cidr: String,
    },
    /// Create a domain's raw image file on a mounted OCFS2 filesystem, sparse: `mkdir -p` its
    /// directory, then `dd … conv=excl`, which fails rather than open a file that exists.
    CreateImage {
        node: Name,
        domain: String,
        path: String,
        size: u64,
    },
    /// Grow a domain's image file to `size` (`truncate --size >SIZE`: never shrinks, never
    /// creates). The guest sees it after a restart and grows its partition itself.
    GrowImage {
        node: Name,
        domain: String,
        path: String,
        size: u64,
    },
    XlCreate {
        node: Name,
        domain: String,
    },
    XlShutdown {
        node: Name,
        domain: String,
    },
    /// Live migration from `node` to `target` (reached at its replication address).
    XlMigrate {
        node: Name,
        domain: String,
        target: Name,
        address: String,
    },
    BlockAttach {
        node: Name,
        domain: String,
        spec: String,
    },
    BlockDetach {
        node: Name,
        domain: String,
        vdev: String,
    },
    /// Balloon a running domain to `memory_mib` (at most its maxmem): `xl mem-set`.
    XlMemSet {
        node: Name,
        domain: String,
        memory_mib: u64,
    },
    /// Bring a running domain's online vCPUs to `vcpus` (at most its maxvcpus): `xl vcpu-set`.
    XlVcpuSet {
        node: Name,
        domain: String,
        vcpus: u32,
    },
    /// A copy-on-write snapshot `VG/LV` of the volume's backing LV `VG/ORIGIN` with `size` bytes
    /// of copy-on-write space, tagged `xenflux` and `xenflux-snap` (`lvcreate -s`).
    CreateSnapshot {
        node: Name,
        vg: String,
        lv: String,
        origin: String,
        size: u64,
    },
    /// Hot-attach a snapshot read-only: `xl block-attach DOMAIN phy:/dev/VG/LV,TARGET,r`.
    AttachSnapshot {
        node: Name,
        domain: String,
        vg: String,
        lv: String,
        target: String,
    },
    /// Detach a snapshot from a running domain: `xl block-detach -f DOMAIN DEVID`, the devid
    /// `xl block-list` lists for its virtual device (xvdb = 51728). Forced: the snapshot is
    /// read-only, so a guest still reading it loses nothing but those reads, and one without a
    /// block frontend would otherwise keep it forever.
    DetachSnapshot {
        node: Name,
        domain: String,
        vg: String,
        lv: String,
        target: String,
        devid: u32,
    },
    /// Remove a snapshot xenflux made (`lvremove -f VG/LV`); its origin is untouched.
    RemoveSnapshot {
        node: Name,
        vg: String,
        lv: String,
    },
    /// Protect the domain running on `node` by a shadow on `peer` (reached at its replication
    /// address): `xl remus` started in the background, unless it already runs.
    RemusStart {
        node: Name,
        domain: String,
        peer: Name,
        address: String,
        interval_ms: u32,
        network_buffering: bool,
        disk_replication: bool,
    },
    /// Stop protecting a domain: destroy its shadow on `node`, the node holding the shadow
    /// (the domain's host then resumes it and its `xl remus` ends).
    RemusStop {
        node: Name,
        domain: String,
    },
    /// Failover of a protected domain whose host is fenced: its shadow on `node` takes over
    /// from its last checkpoint (the stream to its receiver is ended), instead of a cold start.
    RemusTakeover {
        node: Name,
        domain: String,
    },
}

impl Action {
    pub fn node(&self) -> &Name {
        match self {
            Action::WriteFile { node, .. }
            | Action::RemoveFile { node, .. }
            | Action::CreateLv { node, .. }
            | Action::ExtendLv { node, .. }
            | Action::RemoveLv { node, .. }
            | Action::AdoptLv { node, .. }
            | Action::CreateMd { node, .. }
            | Action::Up { node, .. }
            | Action::Adjust { node, .. }
            | Action::Down { node, .. }
            | Action::InitialPrimary { node, .. }
            | Action::Primary { node, .. }
            | Action::Secondary { node, .. }
            | Action::AllowTwoPrimaries { node, .. }
            | Action::Resize { node, .. }
            | Action::Mkfs { node, .. }
            | Action::GrowFs { node, .. }
            | Action::O2cbStart { node }
            | Action::Mount { node, .. }
            | Action::CreateBond { node, .. }
            | Action::CreateBridge { node, .. }
            | Action::SetStp { node, .. }
            | Action::SetMaster { node, .. }
            | Action::LinkUp { node, .. }
            | Action::AddAddress { node, .. }
            | Action::CreateImage { node, .. }
            | Action::GrowImage { node, .. }
            | Action::XlCreate { node, .. }
            | Action::XlShutdown { node, .. }
            | Action::XlMigrate { node, .. }
            | Action::BlockAttach { node, .. }
            | Action::BlockDetach { node, .. }
            | Action::XlMemSet { node, .. }
            | Action::XlVcpuSet { node, .. }
            | Action::CreateSnapshot { node, .. }
            | Action::AttachSnapshot { node, .. }
            | Action::DetachSnapshot { node, .. }
            | Action::RemoveSnapshot { node, .. } => node,
            Action::RemusStart { node, .. }
            | Action::RemusStop { node, .. }
            | Action::RemusTakeover { node, .. } => node,
        }
    }

    /// The action's tag, as `--format json` writes it (`write-file`, `create-lv`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::WriteFile { .. } => "write-file",
            Action::RemoveFile { .. } => "remove-file",
            Action::CreateLv { .. } => "create-lv",
            Action::ExtendLv { .. } => "extend-lv",
            Action::RemoveLv { .. } => "remove-lv",
            Action::AdoptLv { .. } => "adopt-lv",
            Action::CreateMd { .. } => "create-md",
            Action::Up { .. } => "up",
            Action::Adjust { .. } => "adjust",
            Action::Down { .. } => "down",
            Action::InitialPrimary { .. } => "initial-primary",
            Action::Primary { .. } => "primary",
            Action::Secondary { .. } => "secondary",
            Action::AllowTwoPrimaries { .. } => "allow-two-primaries",
            Action::Resize { .. } => "resize",
            Action::Mkfs { .. } => "mkfs",
            Action::GrowFs { .. } => "grow-fs",
            Action::O2cbStart { .. } => "o2cb-start",
            Action::Mount { .. } => "mount",
            Action::CreateBond { .. } => "create-bond",
            Action::CreateBridge { .. } => "create-bridge",
            Action::SetStp { .. } => "set-stp",
            Action::SetMaster { .. } => "set-master",
            Action::LinkUp { .. } => "link-up",
            Action::AddAddress { .. } => "add-address",
            Action::CreateImage { .. } => "create-image",
            Action::GrowImage { .. } => "grow-image",
            Action::XlCreate { .. } => "xl-create",
            Action::XlShutdown { .. } => "xl-shutdown",
            Action::XlMigrate { .. } => "xl-migrate",
            Action::BlockAttach { .. } => "block-attach",
            Action::BlockDetach { .. } => "block-detach",
            Action::XlMemSet { .. } => "xl-mem-set",
            Action::XlVcpuSet { .. } => "xl-vcpu-set",
            Action::CreateSnapshot { .. } => "create-snapshot",
            Action::AttachSnapshot { .. } => "attach-snapshot",
            Action::DetachSnapshot { .. } => "detach-snapshot",
            Action::RemoveSnapshot { .. } => "remove-snapshot",
            Action::RemusStart { .. } => "remus-start",
            Action::RemusStop { .. } => "remus-stop",
            Action::RemusTakeover { .. } => "remus-takeover",
        }
    }

    /// Destroys data or stops service: needs prune to be planned at all. A snapshot xenflux
    /// made is a copy whose document was removed ("removed means detached and removed"): its
    /// removal is not.
    pub fn destructive(&self) -> bool {
        match self {
            Action::RemoveLv { .. } | Action::Down { .. } | Action::RemoveFile { .. } => true,
            Action::CreateSnapshot { .. }
            | Action::AttachSnapshot { .. }
            | Action::DetachSnapshot { .. }
            | Action::RemoveSnapshot { .. } => false,
            Action::WriteFile { .. }
            | Action::CreateLv { .. }
            | Action::ExtendLv { .. }
            | Action::AdoptLv { .. }
            | Action::CreateMd { .. }
            | Action::Up { .. }
            | Action::Adjust { .. }
            | Action::InitialPrimary { .. }
            | Action::Primary { .. }
            | Action::Secondary { .. }
            | Action::AllowTwoPrimaries { .. }
            | Action::Resize { .. }
            | Action::Mkfs { .. }
            | Action::GrowFs { .. }
            | Action::O2cbStart { .. }
            | Action::Mount { .. }
            | Action::CreateBond { .. }
            | Action::CreateBridge { .. }
            | Action::SetStp { .. }
            | Action::SetMaster { .. }
            | Action::LinkUp { .. }
            | Action::AddAddress { .. }
            | Action::CreateImage { .. }
            | Action::GrowImage { .. }
            | Action::XlCreate { .. }
            | Action::XlShutdown { .. }
            | Action::XlMigrate { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. }
            | Action::XlMemSet { .. }
            | Action::XlVcpuSet { .. }
            | Action::RemusStart { .. }
            | Action::RemusStop { .. }
            | Action::RemusTakeover { .. } => false,
        }
    }

    /// One line an operator reads in the plan.
    pub fn describe(&self) -> String {
        match self {
            Action::WriteFile { path, .. } => format!("write {path}"),
            Action::RemoveFile { path, .. } => format!("remove {path}"),
            Action::CreateLv { vg, lv, size, .. } => {
                format!("create LV {vg}/{lv} ({})", crate::model::Size(*size))
            }
            Action::ExtendLv { vg, lv, size, .. } => {
                format!("grow LV {vg}/{lv} to {}", crate::model::Size(*size))
            }
            Action::RemoveLv { vg, lv, .. } => format!("remove LV {vg}/{lv}"),
            Action::AdoptLv {
                vg, lv, resource, ..
            } => format!("adopt LV {vg}/{lv}, on which DRBD resource {resource} runs (tag it)"),
            Action::CreateMd { resource, .. } => format!("create DRBD meta-data for {resource}"),
            Action::Up { resource, .. } => format!("bring DRBD resource {resource} up"),
            Action::Adjust { resource, .. } => {
                format!("apply the configuration file of {resource} to the kernel")
            }
            Action::Down { resource, .. } => format!("take DRBD resource {resource} down"),
            Action::InitialPrimary { resource, .. } => {
                format!("make this node the initial sync source of {resource} (primary --force)")
            }
            Action::Primary { resource, .. } => format!("promote {resource} to Primary"),
            Action::Secondary { resource, .. } => format!("demote {resource} to Secondary"),
            Action::AllowTwoPrimaries {
                resource,
                allow: true,
                ..
            } => {
                format!("allow two primaries on {resource}")
            }
            Action::AllowTwoPrimaries {
                resource,
                allow: false,
                ..
            } => {
                format!("back to a single primary on {resource}")
            }
            Action::Resize { resource, .. } => {
                format!("grow DRBD device {resource} to its backing LVs")
            }
            Action::Mkfs { device, fs, .. } => {
                format!("make an {} filesystem on {device}", fs.name())
            }
            Action::GrowFs { device, fs, .. } => {
                format!("grow the {} filesystem on {device}", fs.name())
            }
            Action::O2cbStart { .. } => "start the O2CB cluster stack".to_string(),
            Action::Mount {
                device, mountpoint, ..
            } => format!("mount {device} on {mountpoint}"),
            Action::CreateBond { bond, mode, .. } => format!("create bond {bond} ({mode})"),
            Action::CreateBridge { bridge, stp, .. } => {
                format!(
                    "create bridge {bridge} (STP {})",
                    if *stp { "on" } else { "off" }
                )
            }
            Action::SetStp { bridge, stp, .. } => {
                format!("turn STP {} on {bridge}", if *stp { "on" } else { "off" })
            }
            Action::SetMaster { dev, master, .. } => format!("enslave {dev} to {master}"),
            Action::LinkUp { dev, .. } => format!("bring {dev} up"),
            Action::AddAddress { dev, cidr, .. } => format!("add address {cidr} to {dev}"),
            Action::CreateImage { path, size, .. } => {
                format!(
                    "create image {path} ({}, sparse)",
                    crate::model::Size(*size)
                )
            }
            Action::GrowImage { path, size, .. } => {
                format!("grow image {path} to {}", crate::model::Size(*size))
            }
            Action::XlCreate { domain, .. } => format!("start domain {domain}"),
            Action::XlShutdown { domain, .. } => format!("shut domain {domain} down"),
            Action::XlMigrate { domain, target, .. } => {
                format!("live-migrate domain {domain} to {target}")
            }
            Action::BlockAttach { domain, spec, .. } => format!("attach {spec} to domain {domain}"),
            Action::BlockDetach { domain, vdev, .. } => {
                format!("detach {vdev} from domain {domain}")
            }
            Action::XlMemSet {
                domain, memory_mib, ..
            } => format!("set the memory of domain {domain} to {memory_mib} MiB"),
            Action::XlVcpuSet { domain, vcpus, .. } => {
                format!("set the online vCPUs of domain {domain} to {vcpus}")
            }
            Action::CreateSnapshot {
                vg,
                lv,
                origin,
                size,
                ..
            } => format!(
                "snapshot LV {vg}/{origin} as {vg}/{lv} ({} copy-on-write)",
                crate::model::Size(*size)
            ),
            Action::AttachSnapshot {
                domain,
                vg,
                lv,
                target,
                ..
            } => {
                format!("attach snapshot /dev/{vg}/{lv} to domain {domain} as {target}, read-only")
            }
            Action::DetachSnapshot {
                domain,
                vg,
                lv,
                target,
                devid,
                ..
            } => format!(
                "detach snapshot /dev/{vg}/{lv} ({target}, devid {devid}) from domain {domain}"
            ),
            Action::RemoveSnapshot { vg, lv, .. } => format!("remove snapshot LV {vg}/{lv}"),
            Action::RemusStart {
                domain,
                peer,
                interval_ms,
                ..
            } => format!(
                "protect domain {domain} with a shadow on {peer} (Remus, checkpoint every {interval_ms} ms)"
            ),
            Action::RemusStop { domain, .. } => format!(
                "stop protecting domain {domain}: destroy its shadow {}",
                crate::drivers::remus::shadow_name(domain)
            ),
            Action::RemusTakeover { domain, .. } => format!(
                "fail domain {domain} over to its shadow here (Remus: it resumes from its last checkpoint)"
            ),
        }
    }
}
