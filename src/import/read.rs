//! Reading one node for an import: its host name, the names in `/etc/xen`, the DRBD
//! configuration with its options; then the ordinary observation asked for every bond, domain
//! config, network and O2CB file and backing device it has. Any part unknown refuses.

use std::collections::{BTreeMap, BTreeSet};

use crate::drivers::drbd::{self, dump_xml};
use crate::drivers::net::bonding;
use crate::drivers::{files, net, ocfs2};
use crate::model::DrbdVersion;
use crate::observe::{self, NodeState, Part, PartKind, Probe};
use crate::transport::{Cmd, Output, Transport};

use super::{ImportError, NodeArg, NodeObs, MAX_CONFIGS};

/// The files read besides the domain configs: where gateways and O2CB timing are written.
pub const NETWORK_FILE: &str = "/etc/network/interfaces";
pub const INTERFACES_D: &str = "/etc/network/interfaces.d";
pub const O2CB_DEFAULTS: &str = "/etc/default/o2cb";

fn refuse(node: &str, part: &str, o: &Output, why: &str) -> ImportError {
    let stderr = o.stderr.trim();
    ImportError::Unobserved {
        node: node.to_string(),
        part: part.to_string(),
        reason: format!(
            "`{}` exited {}{}{}",
            Cmd::new(o.argv.clone()).display(),
            o.status
                .map_or("on a signal".to_string(), |s| s.to_string()),
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            },
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        ),
    }
}

fn missing(o: &Output) -> bool {
    !o.success() && o.stderr.contains("No such file or directory")
}

/// Reads one node completely, or says which part of it could not be read.
pub fn read_node(t: &dyn Transport, arg: &NodeArg) -> Result<NodeObs, ImportError> {
    let node = arg.key.as_str();
    let first = [
        Cmd::new(files::hostname()),
        Cmd::new(files::ls("/etc/xen")),
        Cmd::new(drbd::dump_xml(None)),
        Cmd::new(drbd::cat_proc_drbd()),
        Cmd::new(net::ip_link_show()),
    ];
    let out = t
        .run_reads(node, &first)
        .map_err(|e| ImportError::Unobserved {
            node: node.to_string(),
            part: "the node".into(),
            reason: e.to_string(),
        })?;
    let [host, ls, xml, proc, links] = out.as_slice() else {
        return Err(ImportError::Unobserved {
            node: node.to_string(),
            part: "the node".into(),
            reason: format!("{} answers to 5 commands", out.len()),
        });
    };
    if !host.success() {
        return Err(refuse(node, "host name", host, ""));
    }
    let hostname = host.stdout.trim().to_string();
    if hostname.is_empty() || hostname.len() > 253 {
        return Err(refuse(node, "host name", host, "empty or too long"));
    }
    let configs: Vec<String> = if ls.success() {
        ls.stdout
            .lines()
            .filter(|l| l.ends_with(".cfg") && !l.contains('/'))
            .map(str::to_string)
            .collect()
    } else if missing(ls) {
        Vec::new()
    } else {
        return Err(refuse(node, "Xen domain configs", ls, ""));
    };
    if configs.len() > MAX_CONFIGS {
        return Err(ImportError::Inexpressible {
            node: node.to_string(),
            what: format!(
                "{} domain configs in /etc/xen: at most {MAX_CONFIGS}",
                configs.len()
            ),
        });
    }
    let drbd_xml = if xml.success() {
        dump_xml::parse(&xml.stdout).map_err(|e| refuse(node, "DRBD", xml, &e.to_string()))?
    } else if xml.status == Some(20) && xml.stderr.contains("Can not open") {
        dump_xml::DrbdConfig {
            file: None,
            common: Vec::new(),
            resources: Vec::new(),
        }
    } else {
        return Err(refuse(node, "DRBD", xml, ""));
    };
    let version = if proc.success() && proc.stdout.contains("version: 9") {
        DrbdVersion::V9
    } else {
        DrbdVersion::V84
    };
    if !links.success() {
        return Err(refuse(node, "network", links, ""));
    }
    let parsed = net::parse_ip_link(&links.stdout)
        .map_err(|e| refuse(node, "network", links, &e.to_string()))?;
    let of_kind = |k: &str| -> Vec<String> {
        parsed
            .iter()
            .filter(|l| l.kind.as_deref() == Some(k))
            .map(|l| l.ifname.clone())
            .collect()
    };
    let bonds = of_kind("bond");
    let bridges = of_kind("bridge");

    // Backing devices (for their filesystem) and DRBD minors, from this node's resources.
    let mut devices = BTreeSet::new();
    let mut minors = BTreeSet::new();
    for r in &drbd_xml.resources {
        for h in r.hosts.iter().filter(|h| h.name == hostname) {
            for v in &h.volumes {
                if let Some(d) = &v.disk {
                    devices.insert(d.clone());
                }
                if let Some(m) = v.minor {
                    minors.insert(m);
                }
            }
        }
    }
    let mut file_list: Vec<String> = configs.iter().map(|c| format!("/etc/xen/{c}")).collect();
    file_list.push(NETWORK_FILE.to_string());
    for b in bonds.iter().chain(&bridges) {
        file_list.push(format!("{INTERFACES_D}/{b}"));
    }
    file_list.push(O2CB_DEFAULTS.to_string());
    let probe = Probe {
        host: hostname.clone(),
        drbd_version: version,
        bonds: bonds.clone(),
        files: file_list,
        devices: devices.into_iter().collect(),
        minors: minors.into_iter().collect(),
        images: Vec::new(),
        meta: Vec::new(),
        only: None,
        cluster_view: false,
        remus: Vec::new(),
    };
    let state = observe::observe_node(t, node, &probe);
    complete(node, &state)?;
    // The bonds' primary slave, LACP rate and hash policy, which the observation does not keep.
    let mut bonding_out = BTreeMap::new();
    if !bonds.is_empty() {
        let cmds: Vec<Cmd> = bonds
            .iter()
            .map(|b| Cmd::new(net::cat_bonding(b)))
            .collect();
        let outs = t
            .run_reads(node, &cmds)
            .map_err(|e| ImportError::Unobserved {
                node: node.to_string(),
                part: "bonds".into(),
                reason: e.to_string(),
            })?;
        for (b, o) in bonds.iter().zip(&outs) {
            if !o.success() {
                return Err(refuse(node, "bonds", o, ""));
            }
            let s = bonding::parse_bonding(&o.stdout)
                .map_err(|e| refuse(node, "bonds", o, &e.to_string()))?;
            bonding_out.insert(b.clone(), s);
        }
    }
    let ocfs2_slots = ocfs2_slots(t, node, &state);
    let xl_configs = configs
        .iter()
        .filter_map(|c| {
            let path = format!("/etc/xen/{c}");
            let text = state.files.get(&path)?.known()?.clone()?;
            Some((c.clone(), text))
        })
        .collect();
    Ok(NodeObs {
        arg: arg.clone(),
        hostname,
        state,
        drbd_xml,
        xl_configs,
        bonding: bonding_out,
        ocfs2_slots,
    })
}

/// The node slots of every OCFS2 filesystem on a backing device (`tunefs.ocfs2 -Q`, bounded
/// like the other reads of OCFS2), or why they could not be read: only `mkfs.ocfs2` uses the
/// count, so an unread one is noted, never refused.
fn ocfs2_slots(
    t: &dyn Transport,
    node: &str,
    state: &NodeState,
) -> BTreeMap<String, Result<u32, String>> {
    let devices: Vec<String> = state
        .filesystems
        .iter()
        .filter(|(_, p)| matches!(p.known(), Some(Some(k)) if k == "ocfs2"))
        .map(|(d, _)| d.clone())
        .collect();
    if devices.is_empty() {
        return BTreeMap::new();
    }
    let cmds: Vec<Cmd> = devices
        .iter()
        .map(|d| Cmd::new(ocfs2::tunefs_query_slots(d)).bounded(ocfs2::CLUSTER_READ_WITHIN))
        .collect();
    let outs = t.run_reads(node, &cmds);
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let slots = match &outs {
                Err(e) => Err(e.to_string()),
                Ok(outs) => match outs.get(i) {
                    Some(o) if o.success() => {
                        ocfs2::parse_slots(&o.stdout).map_err(|e| e.to_string())
                    }
                    Some(o) => Err(format!(
                        "`{}` exited {}: {}",
                        Cmd::new(o.argv.clone()).display(),
                        o.status.map_or("on a signal".into(), |s| s.to_string()),
                        o.stderr.trim()
                    )),
                    None => Err("no answer".into()),
                },
            };
            (d.clone(), slots)
        })
        .collect()
}

/// Refuses a node any part of which is unknown.
fn complete(node: &str, s: &NodeState) -> Result<(), ImportError> {
    for part in [
        PartKind::Lvm,
        PartKind::Drbd,
        PartKind::Xen,
        PartKind::Net,
        PartKind::Ocfs2,
        PartKind::Listening,
        PartKind::Files,
        PartKind::Filesystems,
    ] {
        if let Some(u) = s.unknown_in(part) {
            return Err(ImportError::Unobserved {
                node: node.to_string(),
                part: part.label().to_string(),
                reason: u.to_string(),
            });
        }
    }
    if let Part::Known(d) = &s.drbd {
        if let Some(m) = d.stray_minors.iter().next() {
            return Err(ImportError::Inexpressible {
                node: node.to_string(),
                what: format!(
                    "DRBD device /dev/drbd{m} runs with no resource configured for it: \
                     configure or remove it first"
                ),
            });
        }
    }
    Ok(())
}
