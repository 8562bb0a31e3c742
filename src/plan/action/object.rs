//! The object of the desired state each action works for: what a failure marks failed and what
//! `/status` reports against.

use super::Action;
use crate::alloc::Allocation;
use crate::model::Desired;

impl Action {
    /// The object of the desired state an action works for: `Volume/NAME`, `Domain/NAME`,
    /// `Bond/NAME`, `Bridge/NAME`, `Ocfs2Cluster/NAME`, `Snapshot/NAME` or `Node/NAME` (node-wide things such as the
    /// meta-data LV and OCFS2's cluster.conf).
    pub fn object(&self, d: &Desired, alloc: &Allocation) -> String {
        let a = self;
        let node = a.node();
        let volume = |name: &str| format!("Volume/{name}");
        let lv_object = |lv: &str| {
            if let Some(snap) = lv.strip_suffix(crate::model::snapshot::SNAPSHOT_LV_SUFFIX) {
                format!("Snapshot/{snap}")
            } else if d
                .nodes
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
            Action::AdoptLv { resource, .. } => volume(resource),
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
            Action::CreateImage { domain, .. }
            | Action::GrowImage { domain, .. }
            | Action::XlCreate { domain, .. }
            | Action::XlShutdown { domain, .. }
            | Action::XlMigrate { domain, .. }
            | Action::BlockAttach { domain, .. }
            | Action::BlockDetach { domain, .. }
            | Action::XlMemSet { domain, .. }
            | Action::XlVcpuSet { domain, .. }
            | Action::RemusStart { domain, .. }
            | Action::RemusStop { domain, .. }
            | Action::RemusTakeover { domain, .. } => format!("Domain/{domain}"),
            Action::CreateSnapshot { lv, .. }
            | Action::AttachSnapshot { lv, .. }
            | Action::DetachSnapshot { lv, .. }
            | Action::RemoveSnapshot { lv, .. } => format!(
                "Snapshot/{}",
                lv.strip_suffix(crate::model::snapshot::SNAPSHOT_LV_SUFFIX)
                    .unwrap_or(lv)
            ),
        }
    }
}
