//! The closed set of things xenflux does to a node. Each action names its node, turns into the
//! exact argv commands (built by the drivers) and says in words what it does. Matches over
//! [`Action`] list every variant: adding one makes the compiler point at every place to decide.

use serde::{Deserialize, Serialize};

use crate::alloc::Allocation;
use crate::drivers::drbd::meta::{MetaFound, MetaLocation};
use crate::drivers::{drbd, lvm, net, ocfs2, xl, xlcfg};
use crate::model::{Desired, DrbdVersion, Filesystem, Name};
use crate::transport::{Cmd, Output};

/// The tag on every LV xenflux creates: it never touches an LV without it.
pub const MANAGED_TAG: &str = "xenflux";
/// Added once DRBD meta-data was created for the LV: `create-md` is only ever run on a managed
/// LV without it (one this xenflux created and never initialised).
pub const MD_TAG: &str = "xenflux-md";
/// On a data LV created for a volume with a filesystem, until that filesystem is made: the only
/// existing LVs xenflux ever runs mkfs on (besides those created in the same plan). A volume that
/// held a domain's data never carries it.
pub const MKFS_TAG: &str = "xenflux-mkfs";

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
        fs: Filesystem,
        label: Option<String>,
        slots: Option<u32>,
        cluster: Option<String>,
        lv: String,
    },
    GrowFs {
        node: Name,
        device: String,
        fs: Filesystem,
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
}

impl Action {
    pub fn node(&self) -> &Name {
        match self {
            Action::WriteFile { node, .. }
            | Action::RemoveFile { node, .. }
            | Action::CreateLv { node, .. }
            | Action::ExtendLv { node, .. }
            | Action::RemoveLv { node, .. }
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
            | Action::XlCreate { node, .. }
            | Action::XlShutdown { node, .. }
            | Action::XlMigrate { node, .. }
            | Action::BlockAttach { node, .. }
            | Action::BlockDetach { node, .. }
            | Action::XlMemSet { node, .. }
            | Action::XlVcpuSet { node, .. } => node,
        }
    }

    /// The object of the desired state an action works for: `Volume/NAME`, `Domain/NAME`,
    /// `Bond/NAME`, `Bridge/NAME`, `Ocfs2Cluster/NAME` or `Node/NAME` (node-wide things such as the
    /// meta-data LV and OCFS2's cluster.conf).
    pub fn object(&self, d: &Desired, alloc: &Allocation) -> String {
        let a = self;
        let node = a.node();
        let volume = |name: &str| format!("Volume/{name}");
        let lv_object = |lv: &str| {
            if d.nodes
                .get(node)
                .is_some_and(|n| n.meta_volume.as_str() == lv)
            {
                format!("Node/{node}")
            } else {
                volume(lv)
            }
        };
        let device_object = |dev: &str| {
            alloc
                .volumes
                .iter()
                .find(|(_, va)| crate::render::drbd::device(va.minor.value) == dev)
                .map(|(v, _)| volume(v.as_str()))
                .unwrap_or_else(|| format!("Node/{node}"))
        };
        let file_object = |path: &str| {
            let base = path.rsplit('/').next().unwrap_or(path);
            if let Some(res) = base.strip_suffix(".res") {
                volume(res)
            } else if let Some(dom) = base.strip_suffix(".cfg") {
                format!("Domain/{dom}")
            } else if path.starts_with("/etc/ocfs2/") || path.contains("o2cb") {
                match d.ocfs2.keys().next() {
                    Some(c) => format!("Ocfs2Cluster/{c}"),
                    None => format!("Node/{node}"),
                }
            } else {
                format!("Node/{node}")
            }
        };
        let net_object = |dev: &str| {
            if d.bonds.keys().any(|b| b.as_str() == dev) {
                format!("Bond/{dev}")
            } else if d.bridges.keys().any(|b| b.as_str() == dev) {
                format!("Bridge/{dev}")
            } else {
                format!("Node/{node}")
            }
        };
        match a {
            Action::WriteFile { path, .. } | Action::RemoveFile { path, .. } => file_object(path),
            Action::CreateLv { lv, .. }
            | Action::ExtendLv { lv, .. }
            | Action::RemoveLv { lv, .. } => lv_object(lv),
            Action::CreateMd { resource, .. }
            | Action::Up { resource, .. }
            | Action::Adjust { resource, .. }
            | Action::Down { resource, .. }
            | Action::InitialPrimary { resource, .. }
            | Action::Primary { resource, .. }
            | Action::Secondary { resource, .. }
            | Action::AllowTwoPrimaries { resource, .. }
            | Action::Resize { resource, .. } => volume(resource),
            Action::Mkfs { lv, .. } => volume(lv.rsplit('/').next().unwrap_or(lv)),
            Action::GrowFs { device, .. } | Action::Mount { device, .. } => device_object(device),
            Action::O2cbStart { .. } => match d.ocfs2.keys().next() {
                Some(c) => format!("Ocfs2Cluster/{c}"),
                None => format!("Node/{node}"),
            },
            Action::CreateBond { bond, .. } => format!("Bond/{bond}"),
            Action::CreateBridge { bridge, .. } | Action::SetStp { bridge, .. } => {
                format!("Bridge/{bridge}")
            }
            Action::SetMaster { master, .. } => net_object(master),
            Action::LinkUp { dev, .. } | Action::AddAddress { dev, .. } => net_object(dev),
            Action::XlCreate { domain, .. }
            | Action::XlShutdown { domain, .. }
            | Action::XlMigrate { domain, .. }
            | Action::BlockAttach { domain, .. }
            | Action::BlockDetach { domain, .. }
            | Action::XlMemSet { domain, .. }
            | Action::XlVcpuSet { domain, .. } => format!("Domain/{domain}"),
        }
    }

    /// Destroys data or stops service: needs prune to be planned at all.
    pub fn destructive(&self) -> bool {
        match self {
            Action::RemoveLv { .. } | Action::Down { .. } | Action::RemoveFile { .. } => true,
            Action::WriteFile { .. }
            | Action::CreateLv { .. }
            | Action::ExtendLv { .. }
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
            | Action::XlCreate { .. }
            | Action::XlShutdown { .. }
            | Action::XlMigrate { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. }
            | Action::XlMemSet { .. }
            | Action::XlVcpuSet { .. } => false,
        }
    }

    /// The commands, in order, as the drivers build them. `lvm_extra` goes into LV creation and
    /// extension (empty in production; test environments without device-mapper need it).
    pub fn cmds(&self, lvm_extra: &[String]) -> Vec<Cmd> {
        match self {
            Action::WriteFile { path, content, .. } => {
                vec![
                    Cmd::new(["install", "-D", "-m", "0644", "/dev/stdin", path.as_str()])
                        .with_stdin(content.clone()),
                ]
            }
            Action::RemoveFile { path, .. } => vec![Cmd::new(["rm", "-f", path.as_str()])],
            Action::CreateLv {
                vg,
                lv,
                size,
                for_mkfs,
                ..
            } => {
                let mut tags = vec![MANAGED_TAG.to_string()];
                if *for_mkfs {
                    tags.push(MKFS_TAG.to_string());
                }
                vec![Cmd::new(lvm::lvcreate(vg, lv, *size, &tags, lvm_extra))]
            }
            Action::ExtendLv { vg, lv, size, .. } => {
                vec![Cmd::new(lvm::lvextend(vg, lv, *size, lvm_extra))]
            }
            Action::RemoveLv { vg, lv, .. } => vec![Cmd::new(lvm::lvremove(vg, lv))],
            Action::CreateMd {
                resource, vg, lv, ..
            } => vec![
                Cmd::new(drbd::create_md(resource)),
                Cmd::new(lvm::lvchange_addtag(vg, lv, MD_TAG)),
            ],
            Action::Up { resource, .. } => vec![Cmd::new(drbd::up(resource))],
            Action::Adjust { resource, .. } => vec![Cmd::new(drbd::adjust(resource))],
            Action::Down { resource, .. } => vec![Cmd::new(drbd::down(resource))],
            Action::InitialPrimary { resource, .. } => {
                vec![Cmd::new(drbd::primary_force(resource))]
            }
            Action::Primary { resource, .. } => vec![Cmd::new(drbd::primary(resource))],
            Action::Secondary { resource, .. } => vec![Cmd::new(drbd::secondary(resource))],
            Action::AllowTwoPrimaries {
                resource, allow, ..
            } => {
                vec![Cmd::new(drbd::net_options_allow_two_primaries(
                    resource, *allow,
                ))]
            }
            Action::Resize { resource, .. } => vec![Cmd::new(drbd::resize(resource))],
            Action::Mkfs {
                device,
                fs,
                label,
                slots,
                cluster,
                lv,
                ..
            } => {
                let mut cmds = vec![mkfs(device, *fs, label, *slots, cluster)];
                if let Some((vg, name)) = lv.split_once('/') {
                    cmds.push(Cmd::new(lvm::lvchange_deltag(vg, name, MKFS_TAG)));
                }
                cmds
            }
            Action::GrowFs { device, fs, .. } => vec![grow_fs(device, *fs)],
            Action::O2cbStart { .. } => vec![Cmd::new(["/etc/init.d/o2cb", "start"])],
            Action::Mount {
                device,
                mountpoint,
                options,
                ..
            } => vec![
                Cmd::new(["mkdir", "-p", mountpoint.as_str()]),
                Cmd::new(ocfs2::mount_ocfs2_with(
                    device,
                    mountpoint,
                    options.as_deref(),
                )),
            ],
            Action::CreateBond {
                bond,
                mode,
                miimon,
                lacp_rate,
                xmit_hash_policy,
                ..
            } => {
                let opts = net::BondOptions {
                    mode: net::BondMode::parse(mode),
                    miimon: *miimon,
                    lacp_rate: lacp_rate.clone(),
                    xmit_hash_policy: xmit_hash_policy.clone(),
                };
                vec![
                    Cmd::new(net::bond_add(bond, &opts)),
                    Cmd::new(net::link_set_up(bond)),
                ]
            }
            Action::CreateBridge {
                bridge,
                stp,
                forward_delay,
                ..
            } => vec![
                Cmd::new(net::bridge_add(bridge, *stp, forward_delay * 100)),
                Cmd::new(net::link_set_up(bridge)),
            ],
            Action::SetStp { bridge, stp, .. } => vec![Cmd::new(net::bridge_set_stp(bridge, *stp))],
            Action::SetMaster { dev, master, .. } => vec![
                Cmd::new(net::link_set_down(dev)),
                Cmd::new(net::link_set_master(dev, master)),
                Cmd::new(net::link_set_up(dev)),
            ],
            Action::LinkUp { dev, .. } => vec![Cmd::new(net::link_set_up(dev))],
            Action::AddAddress { dev, cidr, .. } => vec![Cmd::new(net::addr_add(cidr, dev))],
            Action::XlCreate { domain, .. } => {
                vec![Cmd::new(xl::create(&format!("/etc/xen/{domain}.cfg")))]
            }
            Action::XlShutdown { domain, .. } => vec![Cmd::new(xl::shutdown_wait(domain))],
            Action::XlMigrate {
                domain, address, ..
            } => vec![Cmd::new(xl::migrate(domain, address))],
            Action::BlockAttach { domain, spec, .. } => match xlcfg::DiskSpec::parse(spec) {
                Ok(d) => vec![Cmd::new(xl::block_attach(domain, &d))],
                // The planner builds the spec; an unparsable one is a bug, shown as is.
                Err(_) => vec![Cmd::new([
                    "xl",
                    "block-attach",
                    domain.as_str(),
                    spec.as_str(),
                ])],
            },
            Action::BlockDetach { domain, vdev, .. } => {
                vec![Cmd::new(xl::block_detach(domain, vdev))]
            }
            Action::XlMemSet {
                domain, memory_mib, ..
            } => vec![Cmd::new(xl::mem_set(domain, *memory_mib))],
            Action::XlVcpuSet { domain, vcpus, .. } => {
                vec![Cmd::new(xl::vcpu_set(domain, *vcpus))]
            }
        }
    }

    /// What must be read, right before the commands, to prove the action writes over nothing:
    /// `create-md` and `mkfs` run only where these find no data. They are read again at the
    /// moment of running however the plan was made, since a tag or an old observation is a claim,
    /// never evidence that a device is blank.
    pub fn checks(&self) -> Vec<Check> {
        match self {
            Action::CreateMd {
                vg,
                lv,
                meta,
                version,
                ..
            } => vec![
                Check::NoSignature {
                    device: format!("/dev/{vg}/{lv}"),
                    own_internal_meta: meta.index == "internal",
                },
                Check::NoMetaDataInUse {
                    at: meta.clone(),
                    version: *version,
                },
            ],
            Action::Mkfs { device, .. } => vec![Check::NoSignature {
                device: device.clone(),
                own_internal_meta: false,
            }],
            Action::WriteFile { .. }
            | Action::RemoveFile { .. }
            | Action::CreateLv { .. }
            | Action::ExtendLv { .. }
            | Action::RemoveLv { .. }
            | Action::Up { .. }
            | Action::Adjust { .. }
            | Action::Down { .. }
            | Action::InitialPrimary { .. }
            | Action::Primary { .. }
            | Action::Secondary { .. }
            | Action::AllowTwoPrimaries { .. }
            | Action::Resize { .. }
            | Action::GrowFs { .. }
            | Action::O2cbStart { .. }
            | Action::Mount { .. }
            | Action::CreateBond { .. }
            | Action::CreateBridge { .. }
            | Action::SetStp { .. }
            | Action::SetMaster { .. }
            | Action::LinkUp { .. }
            | Action::AddAddress { .. }
            | Action::XlCreate { .. }
            | Action::XlShutdown { .. }
            | Action::XlMigrate { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. }
            | Action::XlMemSet { .. }
            | Action::XlVcpuSet { .. } => Vec::new(),
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
                format!("make an {} filesystem on {device}", fs_name(*fs))
            }
            Action::GrowFs { device, fs, .. } => {
                format!("grow the {} filesystem on {device}", fs_name(*fs))
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
        }
    }
}

/// A read that must find a device blank before an action writes to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `blkid -p` finds no signature (filesystem, partition table, RAID or LVM member) on the
    /// device. With `own_internal_meta`, a DRBD signature is left to the meta-data check: it is
    /// where the resource's own internal meta-data lives.
    NoSignature {
        device: String,
        own_internal_meta: bool,
    },
    /// `drbdmeta … dump-md` finds no meta-data at the location, or only meta-data that
    /// `create-md` wrote and nothing used since.
    NoMetaDataInUse {
        at: MetaLocation,
        version: DrbdVersion,
    },
}

impl Check {
    pub fn cmd(&self) -> Cmd {
        match self {
            Check::NoSignature { device, .. } => Cmd::new(ocfs2::blkid_export(device)),
            Check::NoMetaDataInUse { at, version } => Cmd::new(drbd::meta::dump_md(at, *version)),
        }
    }

    /// What the check must find, in words.
    pub fn describe(&self) -> String {
        match self {
            Check::NoSignature { device, .. } => format!("no signature on {device}"),
            Check::NoMetaDataInUse { at, .. } => {
                format!("no DRBD meta-data in use at {}", at.key())
            }
        }
    }

    /// Whether the command's output proves the device blank; the reason when it does not.
    pub fn judge(&self, o: &Output) -> Result<(), String> {
        let status = o.status.unwrap_or(-1);
        match self {
            Check::NoSignature {
                device,
                own_internal_meta,
            } => match ocfs2::blkid_result(&o.stdout, status) {
                Ok(None) => Ok(()),
                Ok(Some(e)) if *own_internal_meta && e.fs_type() == Some("drbd") => Ok(()),
                Ok(Some(e)) => Err(format!(
                    "{device} holds {} (blkid -p)",
                    signature_words(e.fs_type(), e.get("PTTYPE"))
                )),
                Err(_) => Err(format!(
                    "{device} could not be proven blank: {}",
                    o.describe()
                )),
            },
            Check::NoMetaDataInUse { at, .. } => {
                match drbd::meta::dump_md_result(&o.stdout, &o.stderr, status) {
                    Ok(MetaFound::Nothing | MetaFound::Unused) => Ok(()),
                    Ok(MetaFound::InUse) => Err(format!(
                        "{} holds DRBD meta-data that has been in use (drbdmeta dump-md)",
                        at.key()
                    )),
                    Err(_) => Err(format!(
                        "{} could not be proven free of DRBD meta-data: {}",
                        at.key(),
                        o.describe()
                    )),
                }
            }
        }
    }
}

/// A blkid finding in words: `an ext4 filesystem`, `a partition table (dos)`.
pub fn signature_words(fs_type: Option<&str>, pttype: Option<&str>) -> String {
    match (fs_type, pttype) {
        (Some("drbd"), _) => "DRBD internal meta-data".to_string(),
        (Some("LVM2_member"), _) => "an LVM physical volume".to_string(),
        (Some(t), _) if t.starts_with(['a', 'e', 'i', 'o', 'u', 'x']) => {
            format!("an {t} signature")
        }
        (Some(t), _) => format!("a {t} signature"),
        (None, Some(p)) => format!("a partition table ({p})"),
        (None, None) => "an unrecognised signature".to_string(),
    }
}

pub fn fs_name(fs: Filesystem) -> &'static str {
    match fs {
        Filesystem::None => "none",
        Filesystem::Ext3 => "ext3",
        Filesystem::Ext4 => "ext4",
        Filesystem::Xfs => "xfs",
        Filesystem::Ocfs2 => "ocfs2",
    }
}

fn mkfs(
    device: &str,
    fs: Filesystem,
    label: &Option<String>,
    slots: Option<u32>,
    cluster: &Option<String>,
) -> Cmd {
    match fs {
        Filesystem::Ocfs2 => Cmd::new(ocfs2::mkfs_ocfs2(
            device,
            slots.unwrap_or(2),
            label.as_deref().unwrap_or(""),
            cluster.as_deref().unwrap_or(""),
        )),
        Filesystem::Ext3 | Filesystem::Ext4 | Filesystem::Xfs | Filesystem::None => Cmd::new([
            format!("mkfs.{}", fs_name(fs)),
            "-q".to_string(),
            device.to_string(),
        ]),
    }
}

fn grow_fs(device: &str, fs: Filesystem) -> Cmd {
    match fs {
        Filesystem::Ocfs2 => Cmd::new(["tunefs.ocfs2", "-S", device]),
        Filesystem::Ext3 | Filesystem::Ext4 => Cmd::new(["resize2fs", device]),
        Filesystem::Xfs | Filesystem::None => Cmd::new(["xfs_growfs", device]),
    }
}
