//! DRBD between nodes, in simulated time: after every command, resources whose both ends are up,
//! can reach each other, want a connection and are configured to each other connect; the
//! handshake compares data generations (DRBD's UUIDs) and either resyncs from the UpToDate
//! side, finds nothing to do, or finds a split brain (both sides wrote while apart) and drops to
//! StandAlone on both, as DRBD 8.4 does with its default after-split-brain policies. A resync
//! completes at once, except after a node's return from a power loss or an isolation: then the
//! ends show SyncSource/SyncTarget (with /proc/drbd's progress lines) until
//! [`RESYNC_BATCHES`] more batches have run on either end ([`advance`]). What the kernel shows
//! of it is rendered by [`drbdout`](super::drbdout).

use super::state::{Conn, Disk, DrbdRes, MetaData, Resync, Role, World};

/// The meta-data block a configured resource uses on `node`.
pub(crate) fn md<'w>(w: &'w World, node: &str, res: &str) -> Option<&'w MetaData> {
    let n = w.node(node);
    let r = n.drbd.get(res)?;
    let lv = n.lv_of_path(r.conf.meta.device(&r.conf.disk))?;
    n.vg.lvs.get(&lv)?.md.get(&r.conf.meta.slot())
}

pub(crate) fn md_mut<'w>(w: &'w mut World, node: &str, res: &str) -> Option<&'w mut MetaData> {
    let n = w.nodes.get_mut(node)?;
    let r = n.drbd.get(res)?;
    let slot = r.conf.meta.slot();
    let lv = n.lv_of_path(r.conf.meta.device(&r.conf.disk))?;
    n.vg.lvs.get_mut(&lv)?.md.get_mut(&slot)
}

/// A Primary that is not connected to a peer it shares its data generation with starts a new
/// one (DRBD's "new current UUID"): what it writes from now on is its own.
pub(crate) fn new_generation(w: &mut World, node: &str, res: &str) {
    let id = w.next_id();
    if let Some(m) = md_mut(w, node, res) {
        m.gen = id;
    }
}

/// The connection state `node`'s end of `res` should be in towards `peer`.
fn wanted(w: &World, node: &str, res: &str, peer: &str) -> Conn {
    let r = &w.node(node).drbd[res];
    if !r.want_connect {
        return Conn::StandAlone;
    }
    let Some(p) = w.nodes.get(peer).and_then(|n| n.drbd.get(res)) else {
        return Conn::WFConnection;
    };
    if !w.linked(node, peer) {
        return Conn::WFConnection;
    }
    let to_peer = r.conf.peers.iter().find(|c| c.node == peer);
    let to_me = p.conf.peers.iter().find(|c| c.node == node);
    let matches = to_peer.is_some_and(|c| c.ip == p.conf.ip && c.port == p.conf.port)
        && to_me.is_some_and(|c| c.ip == r.conf.ip && c.port == r.conf.port);
    // Another listener (sshd, o2net) on the same port keeps DRBD from binding: it never connects.
    let blocked = |n: &str, ip: &str, port: u16| {
        port == 22
            || w.node(n)
                .o2cb
                .local
                .as_ref()
                .is_some_and(|(a, p)| *p == port && a == ip)
    };
    let compatible =
        r.two_primaries == p.two_primaries || !(r.role == Role::Primary && p.role == Role::Primary);
    if p.want_connect
        && matches
        && compatible
        && !blocked(node, &r.conf.ip, r.conf.port)
        && !blocked(peer, &p.conf.ip, p.conf.port)
    {
        Conn::Connected
    } else {
        Conn::WFConnection
    }
}

/// Batches (on either end) a resync after a node's return takes.
pub(crate) const RESYNC_BATCHES: u32 = 2;

/// The KiB a returning node's resync copies at most (only what changed while apart; the lab's
/// resource size).
const RESYNC_KIB: u64 = 65536;

/// How a resync the handshake starts proceeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Done at once (after commands).
    AtOnce,
    /// Over [`RESYNC_BATCHES`] batches (after a node's return).
    Stepped,
}

/// Lets simulated time pass until every DRBD connection is where it settles.
///
/// `scope`: the resources a command touched (those its node had before or has after it), on
/// every node that has them; `None` settles the whole cluster (after a fault injection).
pub(crate) fn settle(
    w: &mut World,
    scope: Option<&std::collections::BTreeSet<String>>,
    pace: Pace,
) {
    for _ in 0..4 {
        let mut changed = false;
        let pairs_of = |n: &String, r: &String, res: &super::state::DrbdRes| {
            res.conf
                .peers
                .iter()
                .map(|p| (n.clone(), r.clone(), p.node.clone()))
                .collect::<Vec<_>>()
        };
        let pairs: Vec<(String, String, String)> = match scope {
            None => w
                .nodes
                .iter()
                .flat_map(|(n, node)| {
                    node.drbd
                        .iter()
                        .flat_map(move |(r, res)| pairs_of(n, r, res))
                })
                .collect(),
            Some(s) => s
                .iter()
                .flat_map(|r| {
                    w.nodes
                        .iter()
                        .filter_map(move |(n, node)| {
                            node.drbd.get(r).map(|res| pairs_of(n, r, res))
                        })
                        .flatten()
                })
                .collect(),
        };
        for (node, res, peer) in pairs {
            let Some(r) = w.nodes[&node].drbd.get(&res) else {
                continue;
            };
            let cur = r.conns.get(&peer).copied().unwrap_or(Conn::StandAlone);
            let target = wanted(w, &node, &res, &peer);
            if cur == Conn::Connected && target == Conn::Connected {
                changed |= resync(w, &node, &peer, &res);
                continue;
            }
            if cur == target {
                continue;
            }
            changed = true;
            match (cur, target) {
                (_, Conn::Connected) => handshake(w, &node, &peer, &res, pace),
                (Conn::Connected, other) => {
                    lose_peer(w, &node, &res, &peer);
                    set_conn(w, &node, &res, &peer, other);
                }
                (_, other) => set_conn(w, &node, &res, &peer, other),
            }
        }
        if !changed {
            break;
        }
    }
}

fn set_conn(w: &mut World, node: &str, res: &str, peer: &str, c: Conn) {
    if let Some(r) = w.node_mut(node).drbd.get_mut(res) {
        r.conns.insert(peer.to_string(), c);
        // A resync stops with its connection; the target stays Inconsistent.
        if c != Conn::Connected && r.resync.as_ref().is_some_and(|s| s.peer == peer) {
            r.resync = None;
        }
    }
}

/// `node` lost its connection to `peer`: a Primary starts a new data generation.
fn lose_peer(w: &mut World, node: &str, res: &str, peer: &str) {
    let r = &w.node(node).drbd[res];
    if r.role != Role::Primary || r.disk != Disk::UpToDate {
        return;
    }
    let shared = md(w, node, res).is_some_and(|m| m.peer_gens.get(peer) == Some(&m.gen));
    if shared {
        new_generation(w, node, res);
    }
}

/// Who resyncs from whom when `a` and `b` meet.
enum Outcome {
    InSync,
    From { source: String, target: String },
    SplitBrain,
}

fn outcome(w: &World, a: &str, b: &str, res: &str) -> Outcome {
    let ra = &w.node(a).drbd[res];
    let rb = &w.node(b).drbd[res];
    let (ga, pa) = md(w, a, res).map_or((0, 0), |m| {
        (m.gen, m.peer_gens.get(b).copied().unwrap_or(0))
    });
    let (gb, pb) = md(w, b, res).map_or((0, 0), |m| {
        (m.gen, m.peer_gens.get(a).copied().unwrap_or(0))
    });
    let from = |s: &str, t: &str| Outcome::From {
        source: s.to_string(),
        target: t.to_string(),
    };
    match (ra.disk, rb.disk) {
        (Disk::UpToDate, Disk::UpToDate) => {
            if ga == gb {
                Outcome::InSync
            } else if pa == gb {
                from(a, b)
            } else if pb == ga {
                from(b, a)
            } else if rb.discard_my_data && !ra.discard_my_data {
                from(a, b)
            } else if ra.discard_my_data && !rb.discard_my_data {
                from(b, a)
            } else {
                Outcome::SplitBrain
            }
        }
        (Disk::UpToDate, Disk::Inconsistent) => from(a, b),
        (Disk::Inconsistent, Disk::UpToDate) => from(b, a),
        // A diskless end reads through its peer; nothing to resync.
        (Disk::Diskless, _) | (_, Disk::Diskless) | (Disk::Inconsistent, Disk::Inconsistent) => {
            Outcome::InSync
        }
    }
}

/// While connected: an UpToDate side resyncs an Inconsistent one (after `primary --force`).
fn resync(w: &mut World, a: &str, b: &str, res: &str) -> bool {
    let running = |n: &str| w.node(n).drbd.get(res).is_some_and(|r| r.resync.is_some());
    if running(a) || running(b) {
        return false;
    }
    let da = w.node(a).drbd[res].disk;
    let db = w.node(b).drbd.get(res).map(|r| r.disk);
    let (source, target) = match (da, db) {
        (Disk::UpToDate, Some(Disk::Inconsistent)) => (a, b),
        (Disk::Inconsistent, Some(Disk::UpToDate)) => (b, a),
        (Disk::UpToDate | Disk::Inconsistent | Disk::Diskless, None)
        | (Disk::Diskless, Some(_))
        | (_, Some(Disk::Diskless))
        | (Disk::UpToDate, Some(Disk::UpToDate))
        | (Disk::Inconsistent, Some(Disk::Inconsistent)) => return false,
    };
    copy(w, source, target, res);
    connect_both(w, a, b, res);
    true
}

/// The target takes the source's data and generation: a full resync, done at once.
fn copy(w: &mut World, source: &str, target: &str, res: &str) {
    let content = {
        let n = w.node(source);
        n.backing_lv(res)
            .and_then(|l| n.vg.lvs.get(&l))
            .map(|l| l.content.clone())
            .unwrap_or_default()
    };
    let gen = md(w, source, res).map_or(0, |m| m.gen);
    let t = w.node_mut(target);
    if let Some(lv) = t.backing_lv(res) {
        if let Some(l) = t.vg.lvs.get_mut(&lv) {
            l.content = content;
        }
    }
    if let Some(r) = t.drbd.get_mut(res) {
        r.disk = Disk::UpToDate;
    }
    if let Some(m) = md_mut(w, target, res) {
        m.consistent = true;
        m.gen = gen;
    }
}

fn handshake(w: &mut World, a: &str, b: &str, res: &str, pace: Pace) {
    match outcome(w, a, b, res) {
        Outcome::SplitBrain => {
            for (me, other) in [(a, b), (b, a)] {
                if let Some(r) = w.node_mut(me).drbd.get_mut(res) {
                    r.want_connect = false;
                    r.split_brain = true;
                    r.discard_my_data = false;
                    r.conns.insert(other.to_string(), Conn::StandAlone);
                }
            }
        }
        Outcome::InSync => connect_both(w, a, b, res),
        Outcome::From { source, target } if pace == Pace::Stepped => {
            connect_both(w, a, b, res);
            if let Some(r) = w.node_mut(&target).drbd.get_mut(res) {
                r.disk = Disk::Inconsistent;
            }
            if let Some(m) = md_mut(w, &target, res) {
                m.consistent = false;
            }
            for (me, other, source) in [(&source, &target, true), (&target, &source, false)] {
                if let Some(r) = w.node_mut(me).drbd.get_mut(res) {
                    r.resync = Some(Resync {
                        peer: other.clone(),
                        source,
                        left: RESYNC_BATCHES,
                    });
                }
            }
        }
        Outcome::From { source, target } => {
            copy(w, &source, &target, res);
            connect_both(w, a, b, res);
        }
    }
}

/// A batch ran on `node`: every resync of its resources moves one step on; those that end
/// leave the target UpToDate with the source's data. Returns the resources whose resync ended.
pub(crate) fn advance(w: &mut World, node: &str) -> std::collections::BTreeSet<String> {
    let mut ended = std::collections::BTreeSet::new();
    let Some(n) = w.nodes.get(node) else {
        return ended;
    };
    let running: Vec<(String, Resync)> = n
        .drbd
        .iter()
        .filter_map(|(res, r)| {
            resync_with(r, r.resync.as_ref()?.peer.as_str()).map(|s| (res.clone(), s.clone()))
        })
        .collect();
    for (res, s) in running {
        let left = s.left.saturating_sub(1);
        for end in [node, s.peer.as_str()] {
            if let Some(x) = w
                .node_mut(end)
                .drbd
                .get_mut(&res)
                .and_then(|r| r.resync.as_mut())
            {
                x.left = left;
            }
        }
        if left > 0 {
            continue;
        }
        let (source, target) = if s.source {
            (node.to_string(), s.peer.clone())
        } else {
            (s.peer.clone(), node.to_string())
        };
        for end in [&source, &target] {
            if let Some(r) = w.node_mut(end).drbd.get_mut(&res) {
                r.resync = None;
            }
        }
        copy(w, &source, &target, &res);
        connect_both(w, &source, &target, &res);
        ended.insert(res);
    }
    ended
}

/// The resync running over the connection to `peer`, if any.
pub(crate) fn resync_with<'r>(r: &'r DrbdRes, peer: &str) -> Option<&'r Resync> {
    r.resync
        .as_ref()
        .filter(|s| s.peer == peer && r.conns.get(peer) == Some(&Conn::Connected))
}

/// A resync's progress: KiB left, KiB in all, percent done.
pub(crate) fn progress(r: &DrbdRes, s: &Resync) -> (u64, u64, f64) {
    let total = (r.size / 1024).clamp(4, RESYNC_KIB);
    let left = total * u64::from(s.left) / u64::from(RESYNC_BATCHES + 1);
    let done = 100.0 * (total - left) as f64 / total as f64;
    (left, total, done)
}

/// DRBD 8.4's replication states over a connection: `SyncSource`/`SyncTarget` during a resync.
pub(crate) fn sync_state(s: &Resync) -> &'static str {
    if s.source {
        "SyncSource"
    } else {
        "SyncTarget"
    }
}

/// `drbdadm cstate` on 8.4 (and `cs:` in /proc/drbd): the connection state towards the first
/// peer, with the resync states.
pub(crate) fn cstate84(r: &DrbdRes) -> &'static str {
    let peer = r.conf.peers.first().map_or("", |p| p.node.as_str());
    match resync_with(r, peer) {
        Some(s) => sync_state(s),
        None => conn_to_first_peer(r).as_str(),
    }
}

fn connect_both(w: &mut World, a: &str, b: &str, res: &str) {
    let size = w.node(a).drbd[res].size.min(w.node(b).drbd[res].size);
    let (ga, gb) = (md(w, a, res).map(|m| m.gen), md(w, b, res).map(|m| m.gen));
    for (me, other) in [(a, b), (b, a)] {
        if let Some(r) = w.node_mut(me).drbd.get_mut(res) {
            r.conns.insert(other.to_string(), Conn::Connected);
            r.discard_my_data = false;
            r.split_brain = false;
            r.size = size;
        }
    }
    if ga == gb {
        if let Some(g) = ga {
            for (me, other) in [(a, b), (b, a)] {
                if let Some(m) = md_mut(w, me, res) {
                    m.peer_gens.insert(other.to_string(), g);
                }
            }
        }
    }
}

/// Fault injection: both ends wrote while apart, then met: StandAlone on both, data diverged.
pub(crate) fn inject_split_brain(w: &mut World, res: &str) {
    let nodes: Vec<String> = w
        .nodes
        .iter()
        .filter(|(_, n)| n.drbd.contains_key(res))
        .map(|(n, _)| n.clone())
        .collect();
    for n in &nodes {
        new_generation(w, n, res);
        let node = w.node_mut(n);
        if let Some(lv) = node.backing_lv(res) {
            if let Some(l) = node.vg.lvs.get_mut(&lv) {
                l.content.data = true;
            }
        }
        if let Some(r) = node.drbd.get_mut(res) {
            r.want_connect = false;
            r.split_brain = true;
            r.disk = Disk::UpToDate;
            for c in r.conns.values_mut() {
                *c = Conn::StandAlone;
            }
        }
        if let Some(m) = md_mut(w, n, res) {
            m.consistent = true;
        }
    }
}

/// The peer's role and disk as this end sees them over the connection to `peer`.
pub(crate) fn peer_state(w: &World, node: &str, res: &str, peer: &str) -> Option<(Role, Disk)> {
    let r = &w.node(node).drbd[res];
    if r.conns.get(peer) != Some(&Conn::Connected) {
        return None;
    }
    let p = w.nodes.get(peer)?.drbd.get(res)?;
    Some((p.role, p.disk))
}

/// The first (for 8.4: only) peer's connection state.
pub(crate) fn conn_to_first_peer(r: &DrbdRes) -> Conn {
    r.conf
        .peers
        .first()
        .and_then(|p| r.conns.get(&p.node).copied())
        .unwrap_or(Conn::StandAlone)
}
