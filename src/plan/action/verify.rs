//! How an action's effect is verified on a fresh observation of its node, and which observed
//! part that reads (so the executor observes only what a stage changed).

use super::Action;
use crate::drivers::drbd::Role;
use crate::observe::{NodeState, PartKind, Unknown};

impl Action {
    /// The effect the action must have had, checked on a fresh observation of its node: the
    /// reason when it is not seen (a part that could not be observed is named, never taken for
    /// absence).
    pub fn verify(&self, s: &NodeState) -> Result<(), String> {
        let a = self;
        let lv = |vg: &str, lv: &str| s.lvm.known().and_then(|l| l.lvs.get(&format!("{vg}/{lv}")));
        let res = |r: &str| s.drbd.known().and_then(|d| d.resources.get(r));
        let role = |r: &str| {
            res(r)
                .and_then(|x| x.kernel.as_ref())
                .map(|k| k.role.clone())
        };
        let runs = |d: &str| {
            s.xen
                .known()
                .and_then(|x| x.domains.get(d))
                .is_some_and(|d| !d.stopping)
        };
        if let Some((what, u)) = a.unobserved(s) {
            return Err(format!("{what} could not be observed: {u}"));
        }
        match a {
            Action::WriteFile { path, content, .. } => {
                match s.files.get(path).and_then(|p| p.known()) {
                    Some(Some(c)) if c == content => Ok(()),
                    Some(_) => Err(format!("{path} does not hold what was written")),
                    None => Ok(()), // not part of this node's observation
                }
            }
            Action::CreateLv {
                vg, lv: name, size, ..
            }
            | Action::ExtendLv {
                vg, lv: name, size, ..
            } => match lv(vg, name) {
                Some(l) if l.size >= *size => Ok(()),
                Some(l) => Err(format!("LV {vg}/{name} is {} bytes, not {size}", l.size)),
                None => Err(format!("LV {vg}/{name} does not exist")),
            },
            Action::AdoptLv {
                vg,
                lv: name,
                initialised,
                ..
            } => match lv(vg, name) {
                Some(l)
                    if l.tags.contains(super::MANAGED_TAG)
                        && (!initialised || l.tags.contains(super::MD_TAG)) =>
                {
                    Ok(())
                }
                Some(_) => Err(format!("LV {vg}/{name} is not tagged as xenflux's")),
                None => Err(format!("LV {vg}/{name} does not exist")),
            },
            Action::RemoveLv { vg, lv: name, .. } => match lv(vg, name) {
                None => Ok(()),
                Some(_) => Err(format!("LV {vg}/{name} still exists")),
            },
            Action::Up { resource, .. } => match res(resource).and_then(|r| r.kernel.as_ref()) {
                Some(_) => Ok(()),
                None => Err(format!("DRBD resource {resource} is not up")),
            },
            Action::Down { resource, .. } => match res(resource).and_then(|r| r.kernel.as_ref()) {
                None => Ok(()),
                Some(_) => Err(format!("DRBD resource {resource} is still up")),
            },
            Action::InitialPrimary { resource, .. } | Action::Primary { resource, .. } => {
                match role(resource) {
                    Some(Role::Primary) => Ok(()),
                    other => Err(format!(
                        "{resource} is {}, not Primary",
                        other.map_or("down".into(), |r| r.to_string())
                    )),
                }
            }
            Action::Secondary { resource, .. } => match role(resource) {
                Some(Role::Primary) => Err(format!("{resource} is still Primary")),
                _ => Ok(()),
            },
            Action::XlCreate { domain, .. } | Action::RemusTakeover { domain, .. } => {
                if runs(domain) {
                    Ok(())
                } else {
                    Err(format!("domain {domain} is not running"))
                }
            }
            Action::XlShutdown { domain, .. } | Action::XlMigrate { domain, .. } => {
                if runs(domain) {
                    Err(format!("domain {domain} still runs here"))
                } else {
                    Ok(())
                }
            }
            Action::XlMemSet {
                domain, memory_mib, ..
            } => match s.xen.known().and_then(|x| x.domains.get(domain)) {
                Some(d) if d.memory_mib.is_some_and(|m| m != *memory_mib) => Err(format!(
                    "domain {domain} has a memory target of {} MiB, not {memory_mib}",
                    d.memory_mib.unwrap_or_default()
                )),
                Some(_) => Ok(()),
                None => Err(format!("domain {domain} does not run here")),
            },
            Action::XlVcpuSet { domain, vcpus, .. } => {
                match s.xen.known().and_then(|x| x.domains.get(domain)) {
                    Some(d) if d.vcpus.is_some_and(|v| v != *vcpus) => Err(format!(
                        "domain {domain} has {} vCPUs online, not {vcpus}",
                        d.vcpus.unwrap_or_default()
                    )),
                    Some(_) => Ok(()),
                    None => Err(format!("domain {domain} does not run here")),
                }
            }
            // Started in the background: its shadow shows on the peer (the next observation);
            // here the domain must still run, which a refused start leaves it doing.
            Action::RemusStart { domain, .. } => {
                if runs(domain) {
                    Ok(())
                } else {
                    Err(format!("domain {domain} no longer runs here"))
                }
            }
            Action::RemusStop { domain, .. } => {
                match s.xen.known().map(|x| x.incoming.contains_key(domain)) {
                    Some(true) => Err(format!(
                        "the shadow {} is still here",
                        crate::drivers::remus::shadow_name(domain)
                    )),
                    _ => Ok(()),
                }
            }
            Action::CreateBridge { bridge: dev, .. } | Action::CreateBond { bond: dev, .. } => {
                match s.net.known().map(|n| n.links.contains_key(dev)) {
                    Some(false) => Err(format!("{dev} does not exist")),
                    _ => Ok(()),
                }
            }
            Action::SetMaster { dev, master, .. } => {
                match s.net.known().and_then(|n| n.links.get(dev)) {
                    Some(l) if l.master.as_deref() != Some(master) => {
                        Err(format!("{dev} is not enslaved to {master}"))
                    }
                    _ => Ok(()),
                }
            }
            Action::CreateSnapshot {
                vg,
                lv: name,
                origin,
                ..
            } => match lv(vg, name).map(|l| &l.snapshot) {
                Some(Some(snap)) if &snap.origin == origin => Ok(()),
                Some(_) => Err(format!("LV {vg}/{name} is no snapshot of {vg}/{origin}")),
                None => Err(format!("LV {vg}/{name} does not exist")),
            },
            Action::RemoveSnapshot { vg, lv: name, .. } => match lv(vg, name) {
                None => Ok(()),
                Some(_) => Err(format!("LV {vg}/{name} still exists")),
            },
            Action::AttachSnapshot {
                domain,
                vg,
                lv,
                target,
                ..
            }
            | Action::DetachSnapshot {
                domain,
                vg,
                lv,
                target,
                ..
            } => {
                let path = format!("/dev/{vg}/{lv}");
                let attached = s
                    .xen
                    .known()
                    .and_then(|x| x.domains.get(domain))
                    .is_some_and(|d| d.disks.iter().any(|(p, v, _)| p == &path && v == target));
                match (matches!(a, Action::AttachSnapshot { .. }), attached) {
                    (true, true) | (false, false) => Ok(()),
                    (true, false) => {
                        Err(format!("domain {domain} does not have {path} as {target}"))
                    }
                    (false, true) => Err(format!("domain {domain} still has {path} as {target}")),
                }
            }
            Action::CreateImage { path, size, .. } | Action::GrowImage { path, size, .. } => {
                match s.images.get(path).and_then(|p| p.known()) {
                    Some(Some(st)) if st.size >= *size => Ok(()),
                    Some(Some(st)) => Err(format!("image {path} is {} bytes, not {size}", st.size)),
                    Some(None) => Err(format!("image {path} does not exist")),
                    None => Ok(()), // not part of this node's observation
                }
            }
            Action::Mount { mountpoint, .. } => match s.ocfs2.known() {
                Some(o) if !o.mounts.contains_key(mountpoint) => {
                    Err(format!("nothing is mounted on {mountpoint}"))
                }
                _ => Ok(()),
            },
            Action::RemoveFile { .. }
            | Action::CreateMd { .. }
            | Action::Adjust { .. }
            | Action::AllowTwoPrimaries { .. }
            | Action::Resize { .. }
            | Action::Mkfs { .. }
            | Action::GrowFs { .. }
            | Action::O2cbStart { .. }
            | Action::SetStp { .. }
            | Action::LinkUp { .. }
            | Action::AddAddress { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. } => Ok(()),
        }
    }

    /// The part of a node's observation [`Action::verify`] reads (None: it checks nothing).
    pub fn part(&self) -> Option<PartKind> {
        match self {
            Action::WriteFile { .. } => Some(PartKind::Files),
            Action::CreateLv { .. }
            | Action::ExtendLv { .. }
            | Action::RemoveLv { .. }
            | Action::AdoptLv { .. }
            | Action::CreateSnapshot { .. }
            | Action::RemoveSnapshot { .. } => Some(PartKind::Lvm),
            Action::Up { .. }
            | Action::Down { .. }
            | Action::InitialPrimary { .. }
            | Action::Primary { .. }
            | Action::Secondary { .. } => Some(PartKind::Drbd),
            Action::XlCreate { .. }
            | Action::XlShutdown { .. }
            | Action::XlMigrate { .. }
            | Action::XlMemSet { .. }
            | Action::XlVcpuSet { .. }
            | Action::AttachSnapshot { .. }
            | Action::DetachSnapshot { .. } => Some(PartKind::Xen),
            Action::RemusStart { .. } | Action::RemusStop { .. } | Action::RemusTakeover { .. } => {
                Some(PartKind::Xen)
            }
            Action::CreateBridge { .. } | Action::CreateBond { .. } | Action::SetMaster { .. } => {
                Some(PartKind::Net)
            }
            Action::Mount { .. } => Some(PartKind::Ocfs2),
            // Whether an image is known depends on the node's mounts: both parts are read.
            Action::CreateImage { .. } | Action::GrowImage { .. } => Some(PartKind::Images),
            Action::RemoveFile { .. }
            | Action::CreateMd { .. }
            | Action::Adjust { .. }
            | Action::AllowTwoPrimaries { .. }
            | Action::Resize { .. }
            | Action::Mkfs { .. }
            | Action::GrowFs { .. }
            | Action::O2cbStart { .. }
            | Action::SetStp { .. }
            | Action::LinkUp { .. }
            | Action::AddAddress { .. }
            | Action::BlockAttach { .. }
            | Action::BlockDetach { .. } => None,
        }
    }

    /// The part [`Action::verify`] reads, named, when the observation could not tell it.
    fn unobserved<'s>(&self, s: &'s NodeState) -> Option<(&'static str, &'s Unknown)> {
        let part = self.part()?;
        s.unknown_in(part).map(|u| (part.label(), u))
    }
}
