//! What the DRBD kernel module shows of the state [`drbdstate`](super::drbdstate) keeps:
//! `/proc/drbd` (8.4, real layout from real-lab/drbd-states.txt, with the progress lines of a
//! resync), `drbdsetup show` (8.4), `drbdsetup status --json` (DRBD 9, the documented shape in
//! tests/fixtures) and `drbdadm status` text. Reads only.

use serde_json::json;

use crate::model::DrbdVersion;

use super::drbdstate::{
    conn_to_first_peer, cstate84, peer_state, progress, resync_with, sync_state,
};
use super::state::{Conn, Disk, DrbdRes, MetaLoc, Resync, Role, World};
use super::util::Out;

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Primary => "Primary",
        Role::Secondary => "Secondary",
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
