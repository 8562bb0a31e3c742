//! DRBD between nodes, in simulated time: after every command, resources whose both ends are up,
//! can reach each other, want a connection and are configured to each other connect; the
//! handshake compares data generations (DRBD's UUIDs) and either resyncs from the UpToDate
//! side, finds nothing to do, or finds a split brain (both sides wrote while apart) and drops to
//! StandAlone on both, as DRBD 8.4 does with its default after-split-brain policies. A resync
//! completes at once, except after a node's return from a power loss or an isolation: then the
//! ends show SyncSource/SyncTarget (with /proc/drbd's progress lines) until
//! [`RESYNC_BATCHES`] more batches have run on either end ([`advance`]). Also renders what the kernel
//! shows: `/proc/drbd` (8.4, real layout from real-lab/drbd-states.txt) and `drbdsetup status
//! --json` (DRBD 9, the documented shape in tests/fixtures).

use serde_json::json;

use crate::model::DrbdVersion;

use super::state::{Conn, Disk, DrbdRes, MetaData, MetaLoc, Resync, Role, World};
use super::util::Out;

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

/// /proc/drbd's two progress lines of a resync (drbd_proc.c's `drbd_syncer_progress`; the
/// speed is the lab's resync-rate, 4M).
fn progress_lines(r: &DrbdRes, s: &Resync) -> String {
    let (left, total, done) = progress(r, s);
    let permille = (done * 10.0) as usize;
    let x = (permille / 50).min(20);
    let bar = format!("{}>{}", "=".repeat(x.saturating_sub(1)), ".".repeat(20 - x));
    let secs = left / 4096;
    let want = if s.source { "" } else { " want: 4,096" };
    format!(
        "\t[{bar}] sync'ed: {done:.1}% ({left}/{total})K\n\tfinish: {}:{:02}:{:02} speed: 4,096 (4,096){want} K/sec\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Primary => "Primary",
        Role::Secondary => "Secondary",
    }
}

/// The first (for 8.4: only) peer's connection state.
pub(crate) fn conn_to_first_peer(r: &DrbdRes) -> Conn {
    r.conf
        .peers
        .first()
        .and_then(|p| r.conns.get(&p.node).copied())
        .unwrap_or(Conn::StandAlone)
}

/// `/proc/drbd`: the 8.4 module's version lines and one entry per configured minor; DRBD 9 lists
/// only its version lines.
pub(crate) fn proc_drbd(w: &World, node: &str) -> String {
    if w.drbd_version == DrbdVersion::V9 {
        return "version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: e163b05a76254c0f51f999970e861d72bb16409a build by @buildsystem, 2024-03-04 08:45:49\nTransports (api:20): tcp (9.2.8)\n".into();
    }
    let n = w.node(node);
    let mut s = String::from(
        "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n",
    );
    let mut minors: Vec<(&String, &DrbdRes)> = n.drbd.iter().collect();
    minors.sort_by_key(|(_, r)| r.conf.minor);
    for (name, r) in minors {
        let cs = conn_to_first_peer(r);
        let peer = r.conf.peers.first().map(|p| p.node.as_str()).unwrap_or("");
        let (prole, pdisk) = peer_state(w, node, name, peer)
            .map_or(("Unknown", "DUnknown"), |(ro, d)| {
                (role_str(ro), d.as_str())
            });
        let proto = match cs {
            Conn::StandAlone => " ".to_string(),
            Conn::WFConnection | Conn::Connected => r.conf.protocol.clone(),
        };
        let syncing = resync_with(r, peer);
        let oos = match syncing {
            Some(x) => progress(r, x).0,
            None if r.disk == Disk::Inconsistent || pdisk == "Inconsistent" => r.size / 1024,
            None => 0,
        };
        s.push_str(&format!(
            "{:>2}: cs:{} ro:{}/{prole} ds:{}/{pdisk} {proto} r-----\n    ns:0 nr:0 dw:0 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:{oos}\n",
            r.conf.minor,
            cstate84(r),
            role_str(r.role),
            r.disk.as_str()
        ));
        if let Some(x) = syncing {
            s.push_str(&progress_lines(r, x));
        }
    }
    s
}

/// `drbdsetup show` of an 8.4 module, as `tests/fixtures/drbdsetup-show-8.4.11-lab.txt` lays
/// it out: every resource that is up, with the options that differ from DRBD's defaults. The
/// simulator keeps no disk options (`resync-rate`, …), so its `disk { }` blocks are left out; a
/// flexible external meta-disk is printed as its path alone (not captured).
pub(crate) fn show84(w: &World, node: &str) -> String {
    let n = w.node(node);
    let mut by_minor: Vec<(&String, &DrbdRes)> = n.drbd.iter().collect();
    by_minor.sort_by_key(|(_, r)| r.conf.minor);
    let blocks: Vec<String> = by_minor
        .iter()
        .map(|(name, r)| {
            let c = &r.conf;
            let mut net = String::new();
            if c.protocol != "C" {
                net.push_str(&format!("        protocol\t\t{};\n", c.protocol));
            }
            if r.two_primaries {
                net.push_str("        allow-two-primaries\tyes;\n");
            }
            let remote = c
                .peers
                .first()
                .map(|p| {
                    format!(
                        "    _remote_host {{\n        address\t\t\tipv4 {}:{};\n    }}\n",
                        p.ip, p.port
                    )
                })
                .unwrap_or_default();
            let meta = match &c.meta {
                MetaLoc::Internal => "internal".to_string(),
                MetaLoc::Indexed { path, index } => format!("\"{path}\" [ {index} ]"),
                MetaLoc::Flexible { path } => format!("\"{path}\""),
            };
            format!(
                "resource {name} {{\n    options {{\n    }}\n    net {{\n{net}    }}\n{remote}    _this_host {{\n        address\t\t\tipv4 {}:{};\n        volume 0 {{\n            device\t\t\tminor {};\n            disk\t\t\t\"{}\";\n            meta-disk\t\t\t{meta};\n        }}\n    }}\n}}\n",
                c.ip, c.port, c.minor, c.disk
            )
        })
        .collect();
    blocks.join("\n")
}

/// `drbdsetup status --json` (DRBD 9).
pub(crate) fn status_json(w: &World, node: &str) -> String {
    let n = w.node(node);
    let items: Vec<String> = n
        .drbd
        .iter()
        .map(|(name, r)| {
            let in_sync = r.disk == Disk::UpToDate;
            let conns: Vec<serde_json::Value> = r
                .conf
                .peers
                .iter()
                .map(|p| {
                    let c = r.conns.get(&p.node).copied().unwrap_or(Conn::StandAlone);
                    let ps = peer_state(w, node, name, &p.node);
                    let syncing = resync_with(r, &p.node);
                    let replication = match (syncing, ps) {
                        (Some(x), _) => sync_state(x),
                        (None, Some(_)) => "Established",
                        (None, None) => "Off",
                    };
                    let (oos, percent) = match syncing {
                        Some(x) => {
                            let (left, _, done) = progress(r, x);
                            (left, done)
                        }
                        None if in_sync => (0, 100.0),
                        None => (r.size / 1024, 0.0),
                    };
                    let state = match c {
                        Conn::StandAlone => "StandAlone",
                        Conn::WFConnection => "Connecting",
                        Conn::Connected => "Connected",
                    };
                    json!({
                        "peer-node-id": p.node_id,
                        "name": p.node,
                        "connection-state": state,
                        "congested": false,
                        "peer-role": ps.map_or("Unknown", |(ro, _)| role_str(ro)),
                        "ap-in-flight": 0,
                        "rs-in-flight": 0,
                        "peer_devices": [{
                            "volume": 0,
                            "replication-state": replication,
                            "peer-disk-state": ps.map_or("DUnknown", |(_, d)| d.as_str()),
                            "peer-client": false,
                            "resync-suspended": "no",
                            "received": 0,
                            "sent": 0,
                            "out-of-sync": oos,
                            "pending": 0,
                            "unacked": 0,
                            "has-sync-details": syncing.is_some(),
                            "has-online-verify-details": false,
                            "percent-in-sync": percent
                        }]
                    })
                })
                .collect();
            let v = json!({
                "name": name,
                "node-id": r.conf.node_id,
                "role": role_str(r.role),
                "suspended": false,
                "force-io-failures": false,
                "write-ordering": "flush",
                "devices": [{
                    "volume": 0,
                    "minor": r.conf.minor,
                    "disk-state": r.disk.as_str(),
                    "client": false,
                    "quorum": true,
                    "size": r.size / 1024,
                    "read": 0,
                    "written": 0,
                    "al-writes": 0,
                    "bm-writes": 0,
                    "upper-pending": 0,
                    "lower-pending": 0
                }],
                "connections": conns
            });
            serde_json::to_string_pretty(&v).unwrap_or_default()
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// `drbdadm status [RES]`: drbd-utils 9's text, also on an 8.4 kernel (real-lab/drbd.txt), where
/// the peer is called `peer`, `replication:` is shown, and a StandAlone resource has no peer block.
pub(crate) fn status_text(w: &World, node: &str, only: Option<&str>) -> Out {
    let n = w.node(node);
    if let Some(r) = only.filter(|r| !n.drbd.contains_key(*r)) {
        return Out::fail(10, format!("{r}: No such resource\n"));
    }
    let v84 = w.drbd_version == DrbdVersion::V84;
    let mut s = String::new();
    for (name, r) in n
        .drbd
        .iter()
        .filter(|(k, _)| only.is_none_or(|o| o == k.as_str()))
    {
        s.push_str(&format!(
            "{name} role:{}\n  disk:{}\n",
            role_str(r.role),
            r.disk.as_str()
        ));
        for p in &r.conf.peers {
            let label = if v84 { "peer" } else { p.node.as_str() };
            match (
                r.conns.get(&p.node).copied().unwrap_or(Conn::StandAlone),
                peer_state(w, node, name, &p.node),
                resync_with(r, &p.node),
            ) {
                (Conn::Connected, Some((ro, d)), Some(x)) => s.push_str(&format!(
                    "  {label} role:{}\n    replication:{} peer-disk:{} done:{:.2}\n",
                    role_str(ro),
                    sync_state(x),
                    d.as_str(),
                    progress(r, x).2
                )),
                (Conn::Connected, Some((ro, d)), None) if v84 => s.push_str(&format!(
                    "  {label} role:{}\n    replication:Established peer-disk:{}\n",
                    role_str(ro),
                    d.as_str()
                )),
                (Conn::Connected, Some((ro, d)), None) => s.push_str(&format!(
                    "  {label} role:{}\n    peer-disk:{}\n",
                    role_str(ro),
                    d.as_str()
                )),
                (Conn::WFConnection | Conn::Connected, _, _) => {
                    s.push_str(&format!("  {label} connection:Connecting\n"))
                }
                (Conn::StandAlone, _, _) if v84 => {}
                (Conn::StandAlone, _, _) => {
                    s.push_str(&format!("  {label} connection:StandAlone\n"))
                }
            }
        }
        s.push('\n');
    }
    Out::ok(s)
}
