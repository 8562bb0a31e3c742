//! Bonds and Bridges from the kernel and the interface files; the O2CB cluster from
//! `cluster.conf`, `/etc/default/o2cb`, labels and mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::{
    BondMode, BondSpec, BridgeSpec, Cidr, Heartbeat, IfName, LacpRate, Name, Ocfs2ClusterSpec,
    Ocfs2Filesystem, Ocfs2Node, XmitHashPolicy,
};

use super::{name, Imported};
use crate::import::read::{INTERFACES_D, NETWORK_FILE, O2CB_DEFAULTS};
use crate::import::{ImportError, NodeObs};

/// Interfaces of domains (`vifD.N`, `vifD.N-emu`, `tapD.N`) are Xen's, never bridge uplinks.
fn is_guest_if(n: &str) -> bool {
    n.starts_with("vif") || n.starts_with("tap")
}

/// The one-word option `key` of `iface NAME` in an ifupdown file (`gateway`, `bond-primary`).
fn ifupdown_option<'t>(text: &'t str, iface: &str, key: &str) -> Option<&'t str> {
    let mut inside = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["iface", n, ..] => inside = *n == iface,
            ["auto" | "allow-hotplug" | "mapping" | "source" | "source-directory", ..] => {
                inside = false
            }
            [k, v] if inside && *k == key => return Some(v),
            _ => {}
        }
    }
    None
}

fn ifupdown_gateway(text: &str, iface: &str) -> Option<IpAddr> {
    ifupdown_option(text, iface, "gateway")?.parse().ok()
}

pub(super) fn network(out: &mut Imported, obs: &[NodeObs]) {
    let all: BTreeSet<Name> = out.state.nodes.keys().cloned().collect();
    let mut bonds: BTreeMap<String, Vec<(Name, BondSpec)>> = BTreeMap::new();
    let mut bridges: BTreeMap<String, Vec<(Name, BridgeSpec)>> = BTreeMap::new();
    for o in obs {
        let n = name(&o.hostname).expect("checked");
        let net = o.state.net.known().expect("complete");
        let file = |path: &str| {
            o.state
                .files
                .get(path)
                .and_then(|p| p.known())
                .and_then(|t| t.clone())
        };
        for (ifname, l) in &net.links {
            let slaves = || -> Vec<IfName> {
                net.links
                    .iter()
                    .filter(|(p, pl)| pl.master.as_deref() == Some(ifname) && !is_guest_if(p))
                    .filter_map(|(p, _)| p.parse().ok())
                    .collect()
            };
            match l.kind.as_deref() {
                Some("bond") => {
                    let status = o.bonding.get(ifname);
                    let field = |k: &str| {
                        status.and_then(|s| {
                            s.fields
                                .iter()
                                .find(|(fk, _)| fk == k)
                                .map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string())
                        })
                    };
                    let Some(mode) = status.and_then(|s| bond_mode(&s.mode)) else {
                        out.note(
                            format!("Bond/{ifname}"),
                            format!("mode on {} unknown: not imported", o.hostname),
                        );
                        continue;
                    };
                    let lacp_rate = match field("LACP rate").as_deref() {
                        Some("fast") if mode == BondMode::Lacp => Some(LacpRate::Fast),
                        Some("slow") if mode == BondMode::Lacp => Some(LacpRate::Slow),
                        _ => None,
                    };
                    let xmit = match field("Transmit Hash Policy").as_deref() {
                        Some("layer2+3") => Some(XmitHashPolicy::Layer23),
                        Some("layer3+4") => Some(XmitHashPolicy::Layer34),
                        Some("encap2+3") => Some(XmitHashPolicy::Encap23),
                        Some("encap3+4") => Some(XmitHashPolicy::Encap34),
                        Some("layer2") => Some(XmitHashPolicy::Layer2),
                        _ => None,
                    };
                    let spec = BondSpec {
                        nodes: None,
                        mode,
                        slaves: slaves(),
                        miimon: status.and_then(|s| s.miimon_ms).unwrap_or(100),
                        lacp_rate,
                        xmit_hash_policy: xmit,
                        // The kernel's, else the one the interface file sets for the next boot.
                        primary: status
                            .and_then(|s| s.primary_slave.as_deref())
                            .and_then(|p| p.split_whitespace().next())
                            .map(str::to_string)
                            .or_else(|| {
                                [format!("{INTERFACES_D}/{ifname}"), NETWORK_FILE.to_string()]
                                    .iter()
                                    .find_map(|f| {
                                        ifupdown_option(&file(f)?, ifname, "bond-primary")
                                            .map(str::to_string)
                                    })
                            })
                            .and_then(|p| p.parse().ok()),
                    };
                    bonds
                        .entry(ifname.clone())
                        .or_default()
                        .push((n.clone(), spec));
                }
                Some("bridge") => {
                    let mut addrs = l.addresses.iter().filter_map(|a| a.parse::<Cidr>().ok());
                    let mut addresses = BTreeMap::new();
                    if let Some(a) = addrs.next() {
                        addresses.insert(n.clone(), a);
                    }
                    let rest: Vec<String> = addrs.map(|a| a.to_string()).collect();
                    if !rest.is_empty() {
                        out.note(
                            format!("Bridge/{ifname}"),
                            format!(
                                "further addresses on {} are not modelled: {}",
                                o.hostname,
                                rest.join(", ")
                            ),
                        );
                    }
                    let mut gateways = BTreeMap::new();
                    let gw = file(&format!("{INTERFACES_D}/{ifname}"))
                        .and_then(|t| ifupdown_gateway(&t, ifname))
                        .or_else(|| file(NETWORK_FILE).and_then(|t| ifupdown_gateway(&t, ifname)));
                    if let Some(gw) = gw {
                        gateways.insert(n.clone(), gw);
                    }
                    let spec = BridgeSpec {
                        nodes: None,
                        ports: slaves(),
                        stp: l.stp.unwrap_or(false),
                        forward_delay: l.forward_delay,
                        addresses,
                        gateways,
                    };
                    bridges
                        .entry(ifname.clone())
                        .or_default()
                        .push((n.clone(), spec));
                }
                _ => {
                    let global: Vec<&String> = l
                        .addresses
                        .iter()
                        .filter(|a| {
                            !a.starts_with("127.")
                                && !a.starts_with("::1")
                                && !a.starts_with("fe80:")
                        })
                        .collect();
                    if !global.is_empty() && l.master.is_none() && !is_guest_if(ifname) {
                        out.note(
                            format!("Node/{}", o.hostname),
                            format!(
                                "interface {ifname} has {}: addresses outside bridges are not modelled (xenflux leaves them alone)",
                                global.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }
    for (b, per_node) in bonds {
        let Some(bname) = name(&b) else {
            out.note(
                "Cluster",
                format!("bond `{b}` is not a valid object name: not imported"),
            );
            continue;
        };
        let first = per_node[0].1.clone();
        if per_node.iter().any(|(_, s)| s != &first) {
            out.note(
                format!("Bond/{b}"),
                "differs between nodes: the first node's settings are written",
            );
        }
        let on: BTreeSet<Name> = per_node.iter().map(|(n, _)| n.clone()).collect();
        out.state.bonds.insert(
            bname,
            BondSpec {
                nodes: (on != all).then(|| on.into_iter().collect()),
                ..first
            },
        );
    }
    for (b, per_node) in bridges {
        let Some(bname) = name(&b) else {
            out.note(
                "Cluster",
                format!("bridge `{b}` is not a valid object name: not imported"),
            );
            continue;
        };
        let mut merged = per_node[0].1.clone();
        for (_, s) in &per_node[1..] {
            if s.ports != merged.ports
                || s.stp != merged.stp
                || s.forward_delay != merged.forward_delay
            {
                out.note(
                    format!("Bridge/{b}"),
                    "ports or STP differ between nodes: the first node's are written",
                );
            }
            merged.addresses.extend(s.addresses.clone());
            merged.gateways.extend(s.gateways.clone());
        }
        let on: BTreeSet<Name> = per_node.iter().map(|(n, _)| n.clone()).collect();
        merged.nodes = (on != all).then(|| on.into_iter().collect());
        out.state.bridges.insert(bname, merged);
    }
}

fn bond_mode(m: &crate::drivers::net::BondMode) -> Option<BondMode> {
    use crate::drivers::net::BondMode as K;
    Some(match m {
        K::BalanceRr => BondMode::BalanceRr,
        K::ActiveBackup => BondMode::ActiveBackup,
        K::BalanceXor => BondMode::BalanceXor,
        K::Broadcast => BondMode::Broadcast,
        K::Ieee8023ad => BondMode::Lacp,
        K::BalanceTlb => BondMode::BalanceTlb,
        K::BalanceAlb => BondMode::BalanceAlb,
        K::Unknown(_) => return None,
    })
}

/// `KEY=VALUE` from `/etc/default/o2cb`.
fn o2cb_default(text: &str, key: &str) -> Option<u32> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.trim().trim_matches('"').parse().ok())
}

pub(super) fn ocfs2(out: &mut Imported, obs: &[NodeObs]) -> Result<(), ImportError> {
    let mut clusters: BTreeMap<String, BTreeMap<String, (u32, String, u16)>> = BTreeMap::new();
    for o in obs {
        let s = o.state.ocfs2.known().expect("complete");
        for (c, nodes) in &s.clusters {
            clusters.entry(c.clone()).or_default().extend(nodes.clone());
        }
    }
    for (c, members) in clusters {
        let object = format!("Ocfs2Cluster/{c}");
        let Some(cname) = name(&c) else {
            out.note(
                "Cluster",
                format!("O2CB cluster `{c}` is not a valid object name: not imported"),
            );
            continue;
        };
        let mut nodes = Vec::new();
        let mut ports = BTreeSet::new();
        for (m, (number, ip, port)) in &members {
            let (Some(n), Ok(address)) = (name(m), ip.parse::<IpAddr>()) else {
                return Err(ImportError::Cluster(format!(
                    "O2CB cluster `{c}`: member `{m}` ({ip}) is not a valid node name or address"
                )));
            };
            if !out.state.nodes.contains_key(&n) {
                return Err(ImportError::Cluster(format!(
                    "O2CB cluster `{c}` has member `{m}`, which is not among the nodes imported: add --node for it"
                )));
            }
            nodes.push(Ocfs2Node {
                node: n,
                number: *number,
                address,
            });
            ports.insert(*port);
        }
        if ports.len() > 1 {
            out.note(
                &object,
                "members use different ports: the lowest is written",
            );
        }
        let mut heartbeat = Heartbeat::default();
        if let Some(text) = obs.iter().find_map(|o| {
            o.state
                .files
                .get(O2CB_DEFAULTS)
                .and_then(|p| p.known())
                .and_then(|t| t.clone())
        }) {
            if let Some(v) = o2cb_default(&text, "O2CB_HEARTBEAT_THRESHOLD") {
                heartbeat.dead_threshold = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_IDLE_TIMEOUT_MS") {
                heartbeat.idle_timeout_ms = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_KEEPALIVE_DELAY_MS") {
                heartbeat.keepalive_delay_ms = v;
            }
            if let Some(v) = o2cb_default(&text, "O2CB_RECONNECT_DELAY_MS") {
                heartbeat.reconnect_delay_ms = v;
            }
        }
        // Filesystems: OCFS2 devices of this cluster that are DRBD volumes, and where mounted.
        let mut filesystems: BTreeMap<Name, Ocfs2Filesystem> = BTreeMap::new();
        for o in obs {
            let s = o.state.ocfs2.known().expect("complete");
            for (dev, d) in &s.devices {
                if d.cluster.as_deref() != Some(c.as_str()) || d.heartbeat_device {
                    continue;
                }
                let Some(minor) = dev
                    .strip_prefix("/dev/drbd")
                    .and_then(|m| m.parse::<u32>().ok())
                else {
                    continue;
                };
                let Some((vname, _)) = out
                    .state
                    .volumes
                    .iter()
                    .find(|(_, v)| v.minor == Some(minor))
                else {
                    continue;
                };
                let Some(mountpoint) = s
                    .mounts
                    .iter()
                    .find(|(_, (md, t))| md == dev && t == "ocfs2")
                    .and_then(|(mp, _)| mp.parse().ok())
                else {
                    continue;
                };
                let Some(label) = d.label.clone() else {
                    out.note(&object, format!("{dev} has no label: not imported"));
                    continue;
                };
                if filesystems.contains_key(vname) {
                    continue;
                }
                let vname = vname.clone();
                let slots = match fs_slots(obs, out, &vname) {
                    Ok(n) => n,
                    Err(why) => {
                        let n = (nodes.len() as u32).max(2);
                        out.note(
                            &object,
                            format!(
                                "filesystem {vname}: its slot count could not be read ({why}); {n} is written \
                                 (used only by mkfs.ocfs2, which never runs on a filesystem that exists)"
                            ),
                        );
                        n
                    }
                };
                filesystems.insert(
                    vname.clone(),
                    Ocfs2Filesystem {
                        name: vname.clone(),
                        volume: vname,
                        label,
                        slots,
                        mountpoint,
                        mount_options: None,
                    },
                );
            }
        }
        out.state.ocfs2.insert(
            cname,
            Ocfs2ClusterSpec {
                port: ports
                    .into_iter()
                    .next()
                    .unwrap_or(crate::model::O2CB_DEFAULT_PORT),
                nodes,
                heartbeat,
                filesystems: filesystems.into_values().collect(),
            },
        );
    }
    Ok(())
}

/// The node slots of the OCFS2 filesystem on volume `vname`, as the first node that read its
/// backing LV says; every node's reason when none could.
fn fs_slots(obs: &[NodeObs], out: &Imported, vname: &Name) -> Result<u32, String> {
    let mut why = Vec::new();
    for o in obs {
        let Some(spec) = name(&o.hostname).and_then(|n| out.state.nodes.get(&n)) else {
            continue;
        };
        let device = format!("/dev/{}/{vname}", spec.volume_group);
        match o.ocfs2_slots.get(&device) {
            Some(Ok(n)) => return Ok(*n),
            Some(Err(e)) => why.push(format!("{}: {e}", o.hostname)),
            None => why.push(format!("{}: {device} was not read as OCFS2", o.hostname)),
        }
    }
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn gateway_from_ifupdown() {
        let t = "auto lo\niface lo inet loopback\nauto xenbr0\niface xenbr0 inet static\n    address 10.0.0.2/24\n    gateway 10.0.0.1\n";
        assert_eq!(ifupdown_gateway(t, "xenbr0"), "10.0.0.1".parse().ok());
        assert_eq!(ifupdown_gateway(t, "lo"), None);
        let b = "auto bond0\niface bond0 inet manual\n    bond-slaves eth0 eth1\n    bond-primary eth0\n";
        assert_eq!(ifupdown_option(b, "bond0", "bond-primary"), Some("eth0"));
        assert_eq!(ifupdown_option(b, "bond1", "bond-primary"), None);
    }

    #[test]
    fn o2cb_defaults() {
        assert_eq!(
            o2cb_default("O2CB_HEARTBEAT_THRESHOLD=61\n", "O2CB_HEARTBEAT_THRESHOLD"),
            Some(61)
        );
        assert_eq!(o2cb_default("# x\n", "O2CB_HEARTBEAT_THRESHOLD"), None);
    }
}
