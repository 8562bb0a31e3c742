//! The commands an action runs, as the drivers build them, and the reads that must find a device
//! blank before `create-md` or `mkfs` writes to it.

use super::{Action, MANAGED_TAG, MD_TAG, MKFS_TAG, SNAP_TAG};
use crate::drivers::drbd::meta::{MetaFound, MetaLocation};
use crate::drivers::fs::LocalFs;
use crate::drivers::{drbd, files, fs, image, lvm, net, ocfs2, remus, xl, xlcfg};
use crate::model::units::MIB;
use crate::model::{DrbdVersion, FsKind};
use crate::transport::{Cmd, Output};

impl Action {
    /// The commands, in order, as the drivers build them. `lvm_extra` goes into LV creation and
    /// extension (empty in production; test environments without device-mapper need it).
    pub fn cmds(&self, lvm_extra: &[String]) -> Vec<Cmd> {
        match self {
            Action::WriteFile { path, content, .. } => {
                vec![Cmd::new(files::install_stdin(path)).with_stdin(content.clone())]
            }
            Action::RemoveFile { path, .. } => vec![Cmd::new(files::remove(path))],
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
            Action::AdoptLv {
                vg,
                lv,
                initialised,
                ..
            } => {
                let mut cmds = vec![Cmd::new(lvm::lvchange_addtag(vg, lv, MANAGED_TAG))];
                if *initialised {
                    cmds.push(Cmd::new(lvm::lvchange_addtag(vg, lv, MD_TAG)));
                }
                cmds
            }
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
            Action::O2cbStart { .. } => vec![Cmd::new(ocfs2::o2cb_start())],
            Action::Mount {
                device,
                mountpoint,
                options,
                ..
            } => vec![
                Cmd::new(files::mkdir_p(mountpoint)),
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
            Action::CreateImage { path, size, .. } => {
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
                vec![
                    Cmd::new(files::mkdir_p(if dir.is_empty() { "/" } else { dir })),
                    Cmd::new(image::create_sparse(path, size.div_ceil(MIB))),
                ]
            }
            Action::GrowImage { path, size, .. } => vec![Cmd::new(image::grow(path, *size))],
            Action::XlCreate { domain, .. } => {
                vec![Cmd::new(xl::create(&crate::render::xl::cfg_path(domain)))]
            }
            Action::XlShutdown { domain, .. } => vec![Cmd::new(xl::shutdown_wait(domain))],
            Action::XlMigrate {
                domain, address, ..
            } => vec![Cmd::new(xl::migrate(domain, address))],
            Action::BlockAttach { domain, spec, .. } => match xlcfg::DiskSpec::parse(spec) {
                Ok(d) => vec![Cmd::new(xl::block_attach(domain, &d))],
                // The planner builds the spec; an unparsable one is a bug, shown as is.
                Err(_) => vec![Cmd::new(xl::block_attach_raw(domain, spec))],
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
            Action::CreateSnapshot {
                vg,
                lv,
                origin,
                size,
                ..
            } => {
                let tags = [MANAGED_TAG.to_string(), SNAP_TAG.to_string()];
                vec![Cmd::new(lvm::lvcreate_snapshot(
                    vg, origin, lv, *size, &tags,
                ))]
            }
            Action::AttachSnapshot {
                domain,
                vg,
                lv,
                target,
                ..
            } => vec![Cmd::new(xl::block_attach(
                domain,
                &xlcfg::DiskSpec::phy(
                    &format!("/dev/{vg}/{lv}"),
                    target,
                    xlcfg::DiskAccess::ReadOnly,
                ),
            ))],
            Action::DetachSnapshot { domain, devid, .. } => {
                vec![Cmd::new(xl::block_detach_force(domain, *devid))]
            }
            Action::RemoveSnapshot { vg, lv, .. } => vec![Cmd::new(lvm::lvremove(vg, lv))],
            Action::RemusStart {
                domain,
                address,
                interval_ms,
                network_buffering,
                disk_replication,
                ..
            } => {
                let o = remus::RemusOptions {
                    interval_ms: *interval_ms,
                    network_buffering: *network_buffering,
                    disk_replication: *disk_replication,
                };
                vec![Cmd::new(remus::start(domain, address, &o))]
            }
            Action::RemusStop { domain, .. } => vec![Cmd::new(remus::stop(domain))],
            Action::RemusTakeover { domain, .. } => vec![Cmd::new(remus::takeover(domain))],
        }
    }

    /// What must be read, right before the commands, to prove the action writes over nothing:
    /// `create-md` and `mkfs` run only where these find no data. They are read again at the
    /// moment of running however the plan was made, since a tag or an old observation is a claim,
    /// never evidence that a device is blank.
    pub fn checks(&self) -> Vec<Check> {
        match self {
            // The meta-data location in every on-disk format: one does not see the other's.
            Action::CreateMd { vg, lv, meta, .. } => std::iter::once(Check::NoSignature {
                device: format!("/dev/{vg}/{lv}"),
                own_internal_meta: meta.index == "internal",
            })
            .chain(
                drbd::meta::FORMATS
                    .into_iter()
                    .map(|version| Check::NoMetaDataInUse {
                        at: meta.clone(),
                        version,
                    }),
            )
            .collect(),
            Action::Mkfs { device, .. } => vec![Check::NoSignature {
                device: device.clone(),
                own_internal_meta: false,
            }],
            Action::WriteFile { .. }
            | Action::RemoveFile { .. }
            | Action::CreateLv { .. }
            | Action::ExtendLv { .. }
            | Action::RemoveLv { .. }
            | Action::AdoptLv { .. }
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
            | Action::CreateImage { .. }
            | Action::GrowImage { .. }
            | Action::XlCreate { .. }
            | Action::XlShutdown { .. }
            | Action::XlMigrate { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. }
            | Action::XlMemSet { .. }
            | Action::XlVcpuSet { .. }
            | Action::CreateSnapshot { .. }
            | Action::AttachSnapshot { .. }
            | Action::DetachSnapshot { .. }
            | Action::RemoveSnapshot { .. } => Vec::new(),
            Action::RemusStart { .. } | Action::RemusStop { .. } | Action::RemusTakeover { .. } => {
                Vec::new()
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

/// `mkfs` for the filesystem kind: OCFS2 with its slots, label and cluster; ext3/ext4/XFS plain.
fn mkfs(
    device: &str,
    kind: FsKind,
    label: &Option<String>,
    slots: Option<u32>,
    cluster: &Option<String>,
) -> Cmd {
    match local(kind) {
        Some(fs) => Cmd::new(fs::mkfs(fs, device)),
        None => Cmd::new(ocfs2::mkfs_ocfs2(
            device,
            slots.unwrap_or(2),
            label.as_deref().unwrap_or(""),
            cluster.as_deref().unwrap_or(""),
        )),
    }
}

/// The command growing a filesystem of the kind to its device's size.
fn grow_fs(device: &str, kind: FsKind) -> Cmd {
    match local(kind) {
        Some(fs) => Cmd::new(fs::grow(fs, device)),
        None => Cmd::new(ocfs2::tunefs_grow(device)),
    }
}

/// The local filesystem the `fs` driver makes and grows; None for OCFS2 (its own driver).
fn local(kind: FsKind) -> Option<LocalFs> {
    match kind {
        FsKind::Ext3 => Some(LocalFs::Ext3),
        FsKind::Ext4 => Some(LocalFs::Ext4),
        FsKind::Xfs => Some(LocalFs::Xfs),
        FsKind::Ocfs2 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Filesystem;

    fn argvs(a: &Action) -> Vec<Vec<String>> {
        a.cmds(&[]).into_iter().map(|c| c.argv).collect()
    }

    #[test]
    fn filesystems_are_made_and_grown_by_their_own_tools() {
        let mkfs = |fs| Action::Mkfs {
            node: "nodea".parse().unwrap(),
            device: "/dev/drbd1".into(),
            fs,
            label: None,
            slots: None,
            cluster: None,
            lv: "vg0/dns".into(),
        };
        let grow = |fs| Action::GrowFs {
            node: "nodea".parse().unwrap(),
            device: "/dev/drbd1".into(),
            fs,
        };
        assert_eq!(
            argvs(&mkfs(FsKind::Ext4))[0],
            ["mkfs.ext4", "-q", "/dev/drbd1"]
        );
        assert_eq!(
            argvs(&mkfs(FsKind::Xfs))[0],
            ["mkfs.xfs", "-q", "/dev/drbd1"]
        );
        assert_eq!(argvs(&mkfs(FsKind::Ocfs2))[0][0], "mkfs.ocfs2");
        assert_eq!(argvs(&grow(FsKind::Ext3)), [["resize2fs", "/dev/drbd1"]]);
        assert_eq!(argvs(&grow(FsKind::Xfs)), [["xfs_growfs", "/dev/drbd1"]]);
        assert_eq!(
            argvs(&grow(FsKind::Ocfs2)),
            [["tunefs.ocfs2", "-S", "/dev/drbd1"]]
        );
    }

    /// Saved plans spell the filesystem as the desired state does; `none` is not an action's.
    #[test]
    fn filesystem_actions_keep_their_saved_shape() {
        let grow: Action = serde_json::from_str(
            r#"{"action":"grow-fs","node":"nodea","device":"/dev/drbd1","fs":"xfs"}"#,
        )
        .unwrap();
        assert_eq!(
            grow,
            Action::GrowFs {
                node: "nodea".parse().unwrap(),
                device: "/dev/drbd1".into(),
                fs: FsKind::Xfs,
            }
        );
        let mkfs = Action::Mkfs {
            node: "nodea".parse().unwrap(),
            device: "/dev/drbd1".into(),
            fs: FsKind::Ocfs2,
            label: Some("/OVS".into()),
            slots: Some(4),
            cluster: Some("ovscluster".into()),
            lv: "vg0/ovs".into(),
        };
        let json = serde_json::to_value(&mkfs).unwrap();
        assert_eq!(json["action"], "mkfs");
        assert_eq!(json["fs"], "ocfs2");
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), mkfs);
        for none in [
            r#"{"action":"grow-fs","node":"nodea","device":"/dev/drbd1","fs":"none"}"#,
            r#"{"action":"mkfs","node":"nodea","device":"/dev/drbd1","fs":"none","label":null,"slots":null,"cluster":null,"lv":"vg0/dns"}"#,
        ] {
            assert!(serde_json::from_str::<Action>(none).is_err(), "{none}");
        }
    }

    #[test]
    fn filesystem_kinds_keep_the_model_names() {
        for f in [
            Filesystem::Ext3,
            Filesystem::Ext4,
            Filesystem::Xfs,
            Filesystem::Ocfs2,
        ] {
            let k = FsKind::try_from(f).unwrap();
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                serde_json::to_string(&f).unwrap()
            );
            assert_eq!(Filesystem::from(k), f);
        }
        assert_eq!(FsKind::try_from(Filesystem::None), Err(Filesystem::None));
    }
}
