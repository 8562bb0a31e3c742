//! Mirroring a real node into the simulator's view of it, for hybrid test nodes: a machine whose
//! LVM, network links and configuration files are real while DRBD, Xen and bonding are simulated
//! (`xenflux sim exec`). Before a simulated command runs, the parts of the node that live in the
//! real world replace the simulator's record of them, so the simulated tools check against what
//! the node really has: the volume group and its LVs (sizes, tags), the configuration files the
//! simulated tools read, and the links with their addresses (`drbdadm up` refuses an address
//! that is not on the host; `xl create` needs the bridge).
//!
//! What only the simulator knows is kept: what each still-existing LV holds (DRBD meta-data, a
//! filesystem, a guest's data), the DRBD kernel state, running domains and their `vifD.N` links,
//! mounts. This module receives plain data ([`RealNode`]); it never reads the host or spawns a
//! process — the command line does the real reads.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{Link, LinkKind, Lv, Node};
use super::SimCluster;

/// Single files the simulated tools read, mirrored when they exist on the real node and removed
/// from the simulator's view when they do not.
pub const MIRRORED_FILES: [&str; 3] = [
    "/etc/drbd.conf",
    "/etc/ocfs2/cluster.conf",
    "/etc/default/o2cb",
];

/// Directories whose files the simulated tools read, with the file name suffix that counts
/// (empty: every regular file directly in the directory).
pub const MIRRORED_DIRS: [(&str, &str); 2] = [("/etc/drbd.d", ""), ("/etc/xen", ".cfg")];

/// True when `path` is one of the files mirrored from the real node.
pub fn is_mirrored(path: &str) -> bool {
    MIRRORED_FILES.contains(&path)
        || MIRRORED_DIRS.iter().any(|(dir, suffix)| {
            path.strip_prefix(dir)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| {
                    !name.is_empty() && !name.contains('/') && name.ends_with(suffix)
                })
        })
}

/// The real node's volume group, as `vgs` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealVg {
    pub name: String,
    pub size_bytes: u64,
    pub extent_size_bytes: u64,
    pub tags: Vec<String>,
}

/// One real LV of that volume group, as `lvs` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealLv {
    pub name: String,
    pub size_bytes: u64,
    pub tags: Vec<String>,
}

/// What kind of link a real interface is, in the simulator's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealLinkKind {
    Loopback,
    /// A NIC, or anything standing in for one (a veth end).
    Ether,
    Bridge {
        stp: bool,
        forward_delay_cs: u32,
    },
}

/// One real network link with its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealLink {
    pub name: String,
    pub ifindex: u32,
    pub kind: RealLinkKind,
    pub up: bool,
    pub master: Option<String>,
    pub mac: String,
    /// `ADDRESS/PREFIX`.
    pub addrs: Vec<String>,
}

/// Everything read from the real node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealNode {
    pub vg: Option<RealVg>,
    pub lvs: Vec<RealLv>,
    /// Path → content of every mirrored file that exists (see [`is_mirrored`]).
    pub files: BTreeMap<String, String>,
    pub links: Vec<RealLink>,
}

/// Mirroring refused: the real node does not fit the simulated one.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("the simulated cluster has no node `{0}`")]
    NoNode(String),
    #[error("node {node}: the real volume group `{real}` is not the simulated node's `{sim}`")]
    VgName {
        node: String,
        sim: String,
        real: String,
    },
    #[error("node {node}: volume group `{vg}` not found on the real node")]
    NoVg { node: String, vg: String },
    #[error("node {node}: {what} is not a mirrored file")]
    NotMirrored { node: String, what: String },
}

impl SimCluster {
    /// The volume group name of a simulated node.
    pub fn volume_group(&self, node: &str) -> Option<String> {
        self.lock().nodes.get(node).map(|n| n.vg.name.clone())
    }

    /// Replaces the simulator's view of `node`'s volume group, mirrored files and links with
    /// what the real node has (see the module header for what is kept).
    pub fn mirror(&self, node: &str, real: &RealNode) -> Result<(), MirrorError> {
        let mut w = self.lock();
        let n = w
            .nodes
            .get_mut(node)
            .ok_or_else(|| MirrorError::NoNode(node.to_string()))?;
        if let Some(path) = real.files.keys().find(|p| !is_mirrored(p)) {
            return Err(MirrorError::NotMirrored {
                node: node.to_string(),
                what: path.clone(),
            });
        }
        let Some(vg) = &real.vg else {
            return Err(MirrorError::NoVg {
                node: node.to_string(),
                vg: n.vg.name.clone(),
            });
        };
        if vg.name != n.vg.name {
            return Err(MirrorError::VgName {
                node: node.to_string(),
                sim: n.vg.name.clone(),
                real: vg.name.clone(),
            });
        }
        mirror_lvm(n, vg, &real.lvs);
        let files = n.files.edit();
        files.retain(|p, _| !is_mirrored(p));
        files.extend(real.files.iter().map(|(p, t)| (p.clone(), t.clone())));
        mirror_links(n, &real.links);
        Ok(())
    }
}

fn mirror_lvm(n: &mut Node, vg: &RealVg, lvs: &[RealLv]) {
    let extent = vg.extent_size_bytes.max(1);
    n.vg.extent_size = extent;
    n.vg.extents = vg.size_bytes / extent;
    n.vg.tags = vg.tags.iter().cloned().collect();
    let mut old = std::mem::take(&mut n.vg.lvs);
    for lv in lvs {
        let kept = old.remove(&lv.name).unwrap_or_default();
        n.vg.lvs.insert(
            lv.name.clone(),
            Lv {
                extents: lv.size_bytes.div_ceil(extent),
                tags: lv.tags.iter().cloned().collect::<BTreeSet<_>>(),
                ..kept
            },
        );
    }
}

fn mirror_links(n: &mut Node, links: &[RealLink]) {
    // Domains are simulated, and so are their vifs: those stay, everything else is real.
    n.links.retain(|_, l| l.kind == LinkKind::Vif);
    for l in links {
        let kind = match l.kind {
            RealLinkKind::Loopback => LinkKind::Loopback,
            RealLinkKind::Ether => LinkKind::Ether,
            RealLinkKind::Bridge {
                stp,
                forward_delay_cs,
            } => LinkKind::Bridge {
                stp,
                forward_delay_cs,
            },
        };
        n.links.insert(
            l.name.clone(),
            Link {
                ifindex: l.ifindex,
                kind,
                up: l.up,
                master: l.master.clone(),
                mac: l.mac.clone(),
                perm_mac: l.mac.clone(),
                addrs: l.addrs.clone(),
            },
        );
    }
    let highest = n.links.values().map(|l| l.ifindex).max().unwrap_or(0);
    n.next_ifindex = n.next_ifindex.max(highest + 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_the_simulated_tools_read_are_mirrored() {
        assert!(is_mirrored("/etc/drbd.conf"));
        assert!(is_mirrored("/etc/drbd.d/dns.res"));
        assert!(is_mirrored("/etc/drbd.d/global_common.conf"));
        assert!(is_mirrored("/etc/xen/dns.cfg"));
        assert!(!is_mirrored("/etc/xen/xl.conf"));
        assert!(!is_mirrored("/etc/xen/scripts/block"));
        assert!(!is_mirrored("/etc/drbd.d"));
        assert!(!is_mirrored("/etc/network/interfaces.d/xenbr0"));
    }
}
