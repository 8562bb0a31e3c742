//! Read-only snapshots of one simulated node, for tests and the CLI, in the drivers' vocabulary
//! (`Role`, `DiskState`, `ConnState`). Taking one changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::drivers::drbd::{ConnState, DiskState, Role as DrbdRole};

use super::drbdstate;
use super::state::{Conn, Disk, LinkKind, Role, World};

/// One node as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub name: String,
    /// Powered on (false after `sim crash-node` or `sim power N off`).
    pub powered: bool,
    /// The controller reaches it: powered and its management network not cut.
    pub reachable: bool,
    /// Its replication links to its peers are up: powered and not isolated.
    pub peers_reachable: bool,
    pub address: String,
    pub volume_group: String,
    pub vg_size: u64,
    pub vg_free: u64,
    pub lvs: BTreeMap<String, LvView>,
    pub drbd: BTreeMap<String, DrbdView>,
    pub domains: BTreeMap<String, DomainView>,
    pub free_memory_mib: u64,
    pub links: BTreeMap<String, LinkView>,
    pub files: BTreeMap<String, String>,
    pub mounts: Vec<MountView>,
    /// The registered o2cb cluster.
    pub o2cb_cluster: Option<String>,
}

/// A logical volume and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LvView {
    pub size: u64,
    pub tags: BTreeSet<String>,
    pub open: bool,
    /// Written to (a filesystem, a guest, a resync from a peer with data).
    pub has_data: bool,
    /// Filesystem type, if any.
    pub fs: Option<String>,
    pub fs_label: Option<String>,
    /// DRBD meta-data blocks: slot → resource.
    pub meta: BTreeMap<String, String>,
}

/// A DRBD resource configured in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrbdView {
    pub minor: u32,
    pub port: u16,
    pub role: DrbdRole,
    pub disk: DiskState,
    /// 8.4 connection state towards the (first) peer.
    pub connection: ConnState,
    pub peers: Vec<PeerView>,
    /// Device size, bytes.
    pub size: u64,
    pub allow_two_primaries: bool,
    pub split_brain: bool,
}

/// A resource's connection to one peer, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerView {
    pub node: String,
    pub connection: ConnState,
    pub role: DrbdRole,
    pub disk: DiskState,
}

/// A running domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainView {
    pub domid: u32,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// `(device, vdev)`.
    pub disks: Vec<(String, String)>,
    pub macs: Vec<String>,
}

/// A network link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkView {
    /// `loopback`, `ether`, `bridge`, `bond`, `vif`.
    pub kind: String,
    pub up: bool,
    pub master: Option<String>,
    pub mac: String,
    pub addrs: Vec<String>,
}

/// A mount beyond the base system's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountView {
    pub device: String,
    pub target: String,
    pub fstype: String,
}

fn role(r: Role) -> DrbdRole {
    match r {
        Role::Primary => DrbdRole::Primary,
        Role::Secondary => DrbdRole::Secondary,
    }
}

fn disk(d: Disk) -> DiskState {
    match d {
        Disk::Diskless => DiskState::Diskless,
        Disk::Inconsistent => DiskState::Inconsistent,
        Disk::UpToDate => DiskState::UpToDate,
    }
}

fn conn(c: Conn) -> ConnState {
    match c {
        Conn::StandAlone => ConnState::StandAlone,
        Conn::WFConnection => ConnState::WFConnection,
        Conn::Connected => ConnState::Connected,
    }
}

pub(crate) fn node_view(w: &World, name: &str) -> NodeView {
    let n = w.node(name);
    let es = n.vg.extent_size;
    let holders = n.holders();
    let lvs =
        n.vg.lvs
            .iter()
            .map(|(k, l)| {
                let v = LvView {
                    size: l.extents * es,
                    tags: l.tags.clone(),
                    open: holders.hold(n, k),
                    has_data: l.content.data,
                    fs: l.content.fs.as_ref().map(|f| f.kind.clone()),
                    fs_label: l.content.fs.as_ref().map(|f| f.label.clone()),
                    meta: l
                        .md
                        .iter()
                        .map(|(s, m)| (s.clone(), m.resource.clone()))
                        .collect(),
                };
                (k.clone(), v)
            })
            .collect();
    let drbd = n
        .drbd
        .iter()
        .map(|(res, r)| {
            let peers = r
                .conf
                .peers
                .iter()
                .map(|p| {
                    let c = r.conns.get(&p.node).copied().unwrap_or(Conn::StandAlone);
                    let ps = drbdstate::peer_state(w, name, res, &p.node);
                    PeerView {
                        node: p.node.clone(),
                        connection: match drbdstate::resync_with(r, &p.node) {
                            Some(s) => ConnState::parse(drbdstate::sync_state(s)),
                            None => conn(c),
                        },
                        role: ps.map_or(DrbdRole::Unknown, |(ro, _)| role(ro)),
                        disk: ps.map_or(DiskState::DUnknown, |(_, d)| disk(d)),
                    }
                })
                .collect();
            let v = DrbdView {
                minor: r.conf.minor,
                port: r.conf.port,
                role: role(r.role),
                disk: disk(r.disk),
                connection: ConnState::parse(drbdstate::cstate84(r)),
                peers,
                size: r.size,
                allow_two_primaries: r.two_primaries,
                split_brain: r.split_brain,
            };
            (res.clone(), v)
        })
        .collect();
    let domains = n
        .domains
        .iter()
        .map(|(k, d)| {
            let v = DomainView {
                domid: d.domid,
                memory_mib: d.memory_mib,
                vcpus: d.vcpus,
                disks: d
                    .disks
                    .iter()
                    .map(|x| (x.target.clone(), x.vdev.clone()))
                    .collect(),
                macs: d.nics.iter().map(|x| x.mac.clone()).collect(),
            };
            (k.clone(), v)
        })
        .collect();
    let links = n
        .links
        .iter()
        .map(|(k, l)| {
            let kind = match l.kind {
                LinkKind::Loopback => "loopback",
                LinkKind::Ether => "ether",
                LinkKind::Bridge { .. } => "bridge",
                LinkKind::Bond { .. } => "bond",
                LinkKind::Vif => "vif",
            };
            let v = LinkView {
                kind: kind.to_string(),
                up: l.up,
                master: l.master.clone(),
                mac: l.mac.clone(),
                addrs: l.addrs.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    let p = &n.presence;
    NodeView {
        name: n.name.clone(),
        powered: !p.off,
        reachable: !p.off && !p.cut_from_controller,
        peers_reachable: !p.off && !p.cut_from_peers,
        address: n.address.to_string(),
        volume_group: n.vg.name.clone(),
        vg_size: n.vg.extents * es,
        vg_free: n.vg.free_extents() * es,
        lvs,
        drbd,
        domains,
        free_memory_mib: n.free_memory_mib(),
        links,
        files: (*n.files).clone(),
        mounts: n
            .mounts
            .iter()
            .map(|m| MountView {
                device: m.device.clone(),
                target: m.target.clone(),
                fstype: m.fstype.clone(),
            })
            .collect(),
        o2cb_cluster: n.o2cb.cluster.clone(),
    }
}
