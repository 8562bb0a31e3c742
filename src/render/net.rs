//! Network configuration in ifupdown's `/etc/network/interfaces.d/` style, one file per
//! interface, on the nodes the bond or bridge is on: bonds with ifenslave's `bond-*` options,
//! bridges with bridge-utils-interfaces(5)'s `bridge_*` options and the node's address and
//! gateway. Debian's `/etc/network/interfaces` sources the directory.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::{BondSpec, BridgeSpec, Desired, LacpRate, Name};

use super::{put, Files, MANAGED_HEADER};

/// Path of an interface's file.
pub fn interface_path(interface: &Name) -> String {
    format!("/etc/network/interfaces.d/{interface}")
}

/// A bond: `auto`, `iface NAME inet manual` and its ifenslave options.
pub fn bond(name: &Name, spec: &BondSpec) -> String {
    let mut s = String::from(MANAGED_HEADER);
    s.push_str(&format!("auto {name}\niface {name} inet manual\n"));
    let slaves: Vec<&str> = spec.slaves.iter().map(|s| s.as_str()).collect();
    let slaves = if slaves.is_empty() {
        "none".to_string()
    } else {
        slaves.join(" ")
    };
    s.push_str(&format!("    bond-slaves {slaves}\n"));
    s.push_str(&format!("    bond-mode {}\n", spec.mode.as_kernel()));
    s.push_str(&format!("    bond-miimon {}\n", spec.miimon));
    if let Some(p) = &spec.primary {
        s.push_str(&format!("    bond-primary {p}\n"));
    }
    if let Some(rate) = spec.lacp_rate {
        let rate = match rate {
            LacpRate::Slow => "slow",
            LacpRate::Fast => "fast",
        };
        s.push_str(&format!("    bond-lacp-rate {rate}\n"));
    }
    if let Some(h) = spec.xmit_hash_policy {
        s.push_str(&format!("    bond-xmit-hash-policy {}\n", h.as_kernel()));
    }
    s
}

/// A bridge on one node: `inet static` (or `inet6 static`) with the node's address and, when it
/// has one of the same family, its gateway; `inet manual` when the node has no address on it.
pub fn bridge(name: &Name, spec: &BridgeSpec, node: &Name) -> String {
    let mut s = String::from(MANAGED_HEADER);
    s.push_str(&format!("auto {name}\n"));
    match spec.addresses.get(node) {
        Some(cidr) => {
            let family = match cidr.addr {
                IpAddr::V4(_) => "inet",
                IpAddr::V6(_) => "inet6",
            };
            s.push_str(&format!("iface {name} {family} static\n"));
            s.push_str(&format!("    address {cidr}\n"));
            if let Some(gw) = spec.gateways.get(node) {
                if gw.is_ipv4() == cidr.addr.is_ipv4() {
                    s.push_str(&format!("    gateway {gw}\n"));
                }
            }
        }
        None => s.push_str(&format!("iface {name} inet manual\n")),
    }
    let ports: Vec<&str> = spec.ports.iter().map(|p| p.as_str()).collect();
    let ports = if ports.is_empty() {
        "none".to_string()
    } else {
        ports.join(" ")
    };
    s.push_str(&format!("    bridge_ports {ports}\n"));
    s.push_str(&format!(
        "    bridge_stp {}\n",
        if spec.stp { "on" } else { "off" }
    ));
    if let Some(fd) = spec.forward_delay {
        s.push_str(&format!("    bridge_fd {fd}\n"));
    }
    s
}

/// Adds each bond's and bridge's file to the nodes it is on.
pub(super) fn add_files(desired: &Desired, nodes: &mut BTreeMap<Name, Files>) {
    for (name, spec) in &desired.bonds {
        let text = bond(name, spec);
        for node in desired.nodes_of(&spec.nodes) {
            put(nodes, &node, interface_path(name), text.clone());
        }
    }
    for (name, spec) in &desired.bridges {
        for node in desired.nodes_of(&spec.nodes) {
            put(
                nodes,
                &node,
                interface_path(name),
                bridge(name, spec, &node),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::{state, PAIR};

    fn name(s: &str) -> Name {
        s.parse().expect("test name")
    }

    #[test]
    fn bond_exact_text() {
        let v = state(PAIR);
        assert_eq!(
            bond(&name("bond0"), &v.desired.bonds[&name("bond0")]),
            "# Managed by xenflux: local changes are overwritten.
auto bond0
iface bond0 inet manual
    bond-slaves eth0 eth1
    bond-mode active-backup
    bond-miimon 100
    bond-primary eth0
"
        );
    }

    #[test]
    fn lacp_bond_options() {
        let yaml = PAIR.replace(
            "{mode: active-backup, slaves: [eth0, eth1], primary: eth0}",
            "{mode: 802.3ad, slaves: [eth0, eth1], lacpRate: fast, xmitHashPolicy: layer3+4, miimon: 50}",
        );
        let v = state(&yaml);
        let text = bond(&name("bond0"), &v.desired.bonds[&name("bond0")]);
        assert!(text.ends_with(
            "    bond-mode 802.3ad\n    bond-miimon 50\n    bond-lacp-rate fast\n    bond-xmit-hash-policy layer3+4\n"
        ), "{text}");
        assert!(!text.contains("bond-primary"));
    }

    #[test]
    fn bridge_with_and_without_an_address() {
        let v = state(PAIR);
        let spec = &v.desired.bridges[&name("xenbr0")];
        assert_eq!(
            bridge(&name("xenbr0"), spec, &name("a")),
            "# Managed by xenflux: local changes are overwritten.
auto xenbr0
iface xenbr0 inet static
    address 10.0.0.1/24
    gateway 10.0.0.254
    bridge_ports bond0
    bridge_stp on
    bridge_fd 4
"
        );
        assert_eq!(
            bridge(&name("xenbr0"), spec, &name("b")),
            "# Managed by xenflux: local changes are overwritten.
auto xenbr0
iface xenbr0 inet manual
    bridge_ports bond0
    bridge_stp on
    bridge_fd 4
"
        );
    }

    #[test]
    fn ipv6_bridge_without_ports_or_stp() {
        let yaml = PAIR.replace(
            "  ports: [bond0]\n  stp: true\n  forwardDelay: 4\n  addresses: {a: 10.0.0.1/24}\n  gateways: {a: 10.0.0.254}",
            "  addresses: {a: \"fd00::1/64\"}\n  gateways: {a: \"fd00::fffe\"}",
        );
        let v = state(&yaml);
        let text = bridge(
            &name("xenbr0"),
            &v.desired.bridges[&name("xenbr0")],
            &name("a"),
        );
        assert!(
            text.contains(
                "iface xenbr0 inet6 static\n    address fd00::1/64\n    gateway fd00::fffe\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("    bridge_ports none\n    bridge_stp off\n"),
            "{text}"
        );
    }

    #[test]
    fn files_only_on_the_listed_nodes() {
        let yaml = PAIR
            .replace(
                "{mode: active-backup, slaves: [eth0, eth1], primary: eth0}",
                "{nodes: [b], mode: active-backup, slaves: [eth0, eth1]}",
            )
            .replace("  ports: [bond0]\n", "  nodes: [b]\n  ports: [bond0]\n")
            .replace(
                "  addresses: {a: 10.0.0.1/24}\n  gateways: {a: 10.0.0.254}",
                "  addresses: {b: 10.0.0.2/24}",
            )
            .replace(
                "  nics: [{bridge: xenbr0, mac: \"00:16:3e:00:00:01\"}]",
                "  nics: []",
            );
        let v = state(&yaml);
        let r = crate::render::render(&v.desired, &v.allocation);
        assert!(!r.nodes[&name("a")].contains_key("/etc/network/interfaces.d/bond0"));
        assert!(r.nodes[&name("b")].contains_key("/etc/network/interfaces.d/bond0"));
        assert!(!r.nodes[&name("a")].contains_key("/etc/network/interfaces.d/xenbr0"));
        assert!(r.nodes[&name("b")].contains_key("/etc/network/interfaces.d/xenbr0"));
    }
}
