//! Rules for Bonds and Bridges: interface names, bond modes and their options, one master per
//! interface on each node, STP for bridges with several uplinks, and addresses and gateways on
//! the bridge's own nodes.

use std::collections::BTreeMap;

use crate::diag::Diagnostics;
use crate::model::names::ifname_problem;
use crate::model::{BondMode, BondSpec, BridgeSpec, Kind, Name};

use super::super::decode::{Decoded, Locator};

/// (node, interface) -> the master it is enslaved to, for "one master" checks.
type Masters = BTreeMap<(Name, String), String>;

/// Bonds, then Bridges: the bridges' ports are checked against the bonds' slaves.
pub(super) fn check_network(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    let mut master: Masters = BTreeMap::new();
    for (name, b) in &d.bonds {
        check_bond(d, loc, out, known, &mut master, name, b);
    }
    for (name, br) in &d.bridges {
        check_bridge(d, loc, out, known, &mut master, name, br);
    }
}

/// The nodes a bond or bridge is on: those it lists, else every node.
fn nodes_of(d: &Decoded, ns: &Option<Vec<Name>>) -> Vec<Name> {
    ns.clone()
        .unwrap_or_else(|| d.nodes.keys().cloned().collect())
}

/// A bond: its name, miimon, nodes, slaves, and the options its mode takes.
fn check_bond(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
    master: &mut Masters,
    name: &Name,
    b: &BondSpec,
) {
    let bn = name.as_str();
    if let Some(p) = ifname_problem(bn) {
        out.push(loc.error(Kind::Bond, bn, "metadata.name", p));
    }
    if b.miimon > 60_000 {
        out.push(loc.error(
            Kind::Bond,
            bn,
            "spec.miimon",
            format!("at most 60000 ms, found {}", b.miimon),
        ));
    }
    if let Some(ns) = &b.nodes {
        for (i, n) in ns.iter().enumerate() {
            if !known(Kind::Node, n.as_str()) {
                out.push(loc.error(
                    Kind::Bond,
                    bn,
                    &format!("spec.nodes[{i}]"),
                    format!("unknown node `{n}`"),
                ));
            }
        }
    }
    if b.slaves.is_empty() {
        out.push(loc.error(
            Kind::Bond,
            bn,
            "spec.slaves",
            "a bond needs at least one slave",
        ));
    }
    if let Some(p) = &b.primary {
        if b.mode != BondMode::ActiveBackup {
            out.push(loc.error(
                Kind::Bond,
                bn,
                "spec.primary",
                "`primary` applies to mode active-backup only",
            ));
        } else if !b.slaves.contains(p) {
            out.push(loc.error(
                Kind::Bond,
                bn,
                "spec.primary",
                format!("`{p}` is not one of the slaves"),
            ));
        }
    }
    if b.lacp_rate.is_some() && b.mode != BondMode::Lacp {
        out.push(loc.error(
            Kind::Bond,
            bn,
            "spec.lacpRate",
            "`lacpRate` applies to mode 802.3ad only",
        ));
    }
    if b.xmit_hash_policy.is_some()
        && !matches!(
            b.mode,
            BondMode::Lacp | BondMode::BalanceXor | BondMode::BalanceTlb | BondMode::BalanceAlb
        )
    {
        out.push(loc.error(
            Kind::Bond,
            bn,
            "spec.xmitHashPolicy",
            "`xmitHashPolicy` applies to modes 802.3ad, balance-xor, balance-tlb and balance-alb",
        ));
    }
    for (i, s) in b.slaves.iter().enumerate() {
        if d.bonds.keys().any(|n| n.as_str() == s.as_str())
            || d.bridges.keys().any(|n| n.as_str() == s.as_str())
        {
            out.push(loc.error(
                Kind::Bond,
                bn,
                &format!("spec.slaves[{i}]"),
                format!("`{s}` is a bond or bridge, not a NIC"),
            ));
            continue;
        }
        for node in nodes_of(d, &b.nodes) {
            if let Some(other) = master.insert((node.clone(), s.to_string()), bn.to_string()) {
                out.push(loc.error(Kind::Bond, bn, &format!("spec.slaves[{i}]"),
                    format!("`{s}` on {node} is already enslaved to `{other}`: an interface has one master")));
            }
        }
    }
}

/// A bridge: its name, gateways, nodes, STP, ports, and addresses on its own nodes.
fn check_bridge(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
    master: &mut Masters,
    name: &Name,
    br: &BridgeSpec,
) {
    let bn = name.as_str();
    if d.bonds.contains_key(name) {
        out.push(loc.error(
            Kind::Bridge,
            bn,
            "metadata.name",
            format!("`{bn}` is also a Bond: one interface name, one device"),
        ));
    }
    for (field, node, ip) in br
        .addresses
        .iter()
        .map(|(n, a)| ("addresses", n, a.addr))
        .chain(br.gateways.iter().map(|(n, g)| ("gateways", n, *g)))
    {
        if let Some(p) = super::unicast_problem(ip) {
            out.push(loc.error(
                Kind::Bridge,
                bn,
                &format!("spec.{field}.{node}"),
                format!("{ip} {p}"),
            ));
        }
    }
    for (node, gw) in &br.gateways {
        match br.addresses.get(node) {
            None => out.push(loc.error(
                Kind::Bridge,
                bn,
                &format!("spec.gateways.{node}"),
                format!("a gateway on {node} needs an address of the bridge on {node}"),
            )),
            Some(a) if a.addr.is_ipv4() != gw.is_ipv4() => out.push(loc.error(
                Kind::Bridge,
                bn,
                &format!("spec.gateways.{node}"),
                format!("gateway {gw} and address {a} are of different IP families"),
            )),
            Some(_) => {}
        }
    }
    if let Some(p) = ifname_problem(bn) {
        out.push(loc.error(Kind::Bridge, bn, "metadata.name", p));
    }
    let nodes = nodes_of(d, &br.nodes);
    if let Some(ns) = &br.nodes {
        for (i, n) in ns.iter().enumerate() {
            if !known(Kind::Node, n.as_str()) {
                out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    &format!("spec.nodes[{i}]"),
                    format!("unknown node `{n}`"),
                ));
            }
        }
    }
    if br.ports.len() >= 2 && !br.stp {
        out.push(loc.error(
            Kind::Bridge,
            bn,
            "spec.stp",
            format!(
            "bridge with {} uplinks ({}) must run STP (`stp: true`), or it makes a loop",
            br.ports.len(), br.ports.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")),
        ));
    }
    if let Some(fd) = br.forward_delay {
        if !(2..=30).contains(&fd) {
            out.push(loc.error(
                Kind::Bridge,
                bn,
                "spec.forwardDelay",
                format!("STP forward delay is 2 to 30 seconds, found {fd}"),
            ));
        }
    }
    bridge_ports(d, loc, out, master, bn, br, &nodes);
    for (field, keys) in [
        ("addresses", br.addresses.keys().collect::<Vec<_>>()),
        ("gateways", br.gateways.keys().collect()),
    ] {
        for n in keys {
            // A node whose document is broken is reported there, not again here.
            if !nodes.contains(n) && !d.is_broken(Kind::Node, n.as_str()) {
                out.push(loc.error(
                    Kind::Bridge,
                    bn,
                    &format!("spec.{field}.{n}"),
                    format!("`{n}` is not a node of this bridge"),
                ));
            }
        }
    }
}

/// A bridge's ports: no bridge, a bond only where the bridge is, and one master each.
fn bridge_ports(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    master: &mut Masters,
    bn: &str,
    br: &BridgeSpec,
    nodes: &[Name],
) {
    for (i, p) in br.ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        if d.bridges.keys().any(|n| n.as_str() == p.as_str()) {
            out.push(loc.error(
                Kind::Bridge,
                bn,
                &field,
                format!("`{p}` is a bridge; bridges do not nest"),
            ));
            continue;
        }
        if let Some((bond_name, bond)) = d.bonds.iter().find(|(n, _)| n.as_str() == p.as_str()) {
            let bond_nodes = nodes_of(d, &bond.nodes);
            for node in nodes {
                if !bond_nodes.contains(node) {
                    out.push(loc.error(
                        Kind::Bridge,
                        bn,
                        &field,
                        format!("bond `{bond_name}` does not exist on {node}"),
                    ));
                }
            }
        }
        for node in nodes {
            match master.insert((node.clone(), p.to_string()), bn.to_string()) {
                None => {}
                Some(other) if d.bonds.keys().any(|n| n.as_str() == other) => {
                    out.push(loc.error(Kind::Bridge, bn, &field,
                        format!("`{p}` is a slave of bond `{other}` on {node}; use the bond as the bridge port")));
                }
                Some(other) => {
                    out.push(loc.error(Kind::Bridge, bn, &field,
                        format!("`{p}` on {node} is already a port of `{other}`: an interface has one master")));
                }
            }
        }
    }
}
