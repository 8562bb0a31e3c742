//! DRBD configuration: `/etc/drbd.d/NAME.res` for each volume on each of its nodes (the same text
//! on all of them), `/etc/drbd.d/global_common.conf`, and one drbd.conf-style text of the whole
//! cluster for checking with `drbdadm` (see [`cluster_config`]).
//!
//! DRBD 8.4 syntax by default (`on NODE { device; disk; address; meta-disk; }`), accepted by the
//! 8.4 parser of drbd-utils 9.22 (`drbdadm-84`); DRBD 9 syntax (`node-id`, a `volume 0` per host,
//! `connection-mesh`) when the Cluster sets `drbd.version: "9"`. Each host's backing LV and meta
//! LV are in that host's own volume group. Numbers come from the [`Allocation`]; nothing is
//! decided here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::alloc::{Allocation, MetaAlloc, VolumeAlloc};
use crate::model::{Desired, DrbdVersion, Name, NodeSpec, Protocol, VolumeSpec};

use super::{put, Files, MANAGED_HEADER};

/// Where drbd-utils reads the `global` and `common` sections from.
pub const GLOBAL_COMMON_PATH: &str = "/etc/drbd.d/global_common.conf";

/// The block device of a DRBD minor, the same on every node of the volume.
pub fn device(minor: u32) -> String {
    format!("/dev/drbd{minor}")
}

/// Path of a volume's resource file.
pub fn res_path(volume: &Name) -> String {
    format!("/etc/drbd.d/{volume}.res")
}

/// `/etc/drbd.d/global_common.conf`: no usage reporting, and DRBD's own split-brain defaults
/// (disconnect in every case) written out, so that an automatic discard policy is only ever there
/// because an operator wrote it.
pub fn global_common() -> String {
    let mut s = String::from(MANAGED_HEADER);
    s.push_str(GLOBAL_COMMON_BODY);
    s
}

const GLOBAL_COMMON_BODY: &str = "\
global {
  usage-count no;
}
common {
  net {
    after-sb-0pri disconnect;
    after-sb-1pri disconnect;
    after-sb-2pri disconnect;
  }
}
";

/// The whole cluster's DRBD configuration as one drbd.conf-style text: the `global` and `common`
/// sections of [`global_common`], then every renderable resource in name order. This is what a
/// node's `/etc/drbd.conf` amounts to after its includes, for all nodes at once; check it with
/// `__DRBD_NODE__=validator drbdadm -c FILE sh-nop` (duplicate minors, ports and meta-data
/// slots on any host are errors).
pub fn cluster_config(desired: &Desired, alloc: &Allocation) -> String {
    let mut s = global_common();
    for (name, spec) in &desired.volumes {
        if let Some(text) = resource_body(desired, alloc, name, spec) {
            s.push_str(&text);
        }
    }
    s
}

/// A volume's `.res` file, or `None` when the volume has no allocation or names a node the
/// desired state does not know.
pub fn resource(desired: &Desired, alloc: &Allocation, volume: &Name) -> Option<String> {
    let spec = desired.volumes.get(volume)?;
    let body = resource_body(desired, alloc, volume, spec)?;
    Some(format!("{MANAGED_HEADER}{body}"))
}

/// Adds the `.res` files and `global_common.conf` to the nodes that hold a DRBD resource.
pub(super) fn add_files(desired: &Desired, alloc: &Allocation, nodes: &mut BTreeMap<Name, Files>) {
    let mut holders: BTreeSet<Name> = BTreeSet::new();
    for (name, spec) in &desired.volumes {
        if !super::wanted(nodes, spec.nodes.iter()) {
            continue;
        }
        let Some(text) = resource(desired, alloc, name) else {
            continue;
        };
        for node in &spec.nodes {
            put(nodes, node, res_path(name), text.clone());
            holders.insert(node.clone());
        }
    }
    if holders.is_empty() {
        return;
    }
    let common = global_common();
    for node in &holders {
        put(nodes, node, GLOBAL_COMMON_PATH.into(), common.clone());
    }
}

/// One host of a resource: its name and spec, and its DRBD 9 node-id (allocated, sticky).
struct Host<'a> {
    name: &'a Name,
    spec: &'a NodeSpec,
    node_id: u32,
}

fn resource_body(
    desired: &Desired,
    alloc: &Allocation,
    name: &Name,
    spec: &VolumeSpec,
) -> Option<String> {
    let va = alloc.volumes.get(name)?;
    let hosts: Vec<Host> = spec
        .nodes
        .iter()
        .map(|n| {
            let node_id = *va.node_ids.get(n)?;
            desired.nodes.get(n).map(|s| Host {
                name: n,
                spec: s,
                node_id,
            })
        })
        .collect::<Option<_>>()?;
    let version = desired.cluster.drbd.version;
    let mut s = format!("resource {name} {{\n");
    s.push_str("  net {\n");
    s.push_str(&format!(
        "    protocol {};\n",
        protocol(desired.protocol(spec))
    ));
    if spec.dual_primary {
        s.push_str("    allow-two-primaries yes;\n");
    }
    s.push_str("  }\n");
    if let Some(rate) = desired.sync_rate(spec) {
        // With the dynamic resync controller on (DRBD's default c-plan-ahead is 20), resync-rate
        // is only the starting rate; 0 turns the controller off so the rate is the rate.
        s.push_str("  disk {\n    c-plan-ahead 0;\n");
        s.push_str(&format!("    resync-rate {};\n  }}\n", rate.as_drbd()));
    }
    if spec.dual_primary {
        s.push_str("  startup {\n    become-primary-on both;\n  }\n");
    }
    for h in &hosts {
        let device = format!("/dev/drbd{0} minor {0}", va.minor.value);
        let disk = format!("/dev/{}/{name}", h.spec.volume_group);
        let meta = meta_disk(name, h.spec, va);
        let address = address(h.spec.address, va.port.value);
        s.push_str(&format!("  on {} {{\n", h.name));
        match version {
            DrbdVersion::V84 => {
                s.push_str(&format!("    device {device};\n"));
                s.push_str(&format!("    disk {disk};\n"));
                s.push_str(&format!("    address {address};\n"));
                s.push_str(&format!("    meta-disk {meta};\n"));
            }
            DrbdVersion::V9 => {
                s.push_str(&format!("    node-id {};\n", h.node_id));
                s.push_str("    volume 0 {\n");
                s.push_str(&format!("      device {device};\n"));
                s.push_str(&format!("      disk {disk};\n"));
                s.push_str(&format!("      meta-disk {meta};\n"));
                s.push_str("    }\n");
                s.push_str(&format!("    address {address};\n"));
            }
        }
        s.push_str("  }\n");
    }
    if version == DrbdVersion::V9 {
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        s.push_str(&format!(
            "  connection-mesh {{\n    hosts {};\n  }}\n",
            names.join(" ")
        ));
    }
    s.push_str("}\n");
    Some(s)
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::A => "A",
        Protocol::B => "B",
        Protocol::C => "C",
    }
}

/// The `meta-disk` value on one host. An external device without an index is flexible-size
/// meta-data to drbdadm (`drbdmeta ... flex-external`, `attach ... flexible`).
pub fn meta_disk(volume: &Name, node: &NodeSpec, va: &VolumeAlloc) -> String {
    let vg = &node.volume_group;
    match va.meta {
        MetaAlloc::Indexed { index, .. } => format!("/dev/{vg}/{}[{index}]", node.meta_volume),
        MetaAlloc::Flexible { .. } => format!("/dev/{vg}/{volume}-md"),
        MetaAlloc::Internal => "internal".into(),
    }
}

/// Where one host keeps the volume's meta-data, as drbdmeta names it (the argument of
/// `drbdmeta MINOR v08 DEV INDEX …`).
pub fn meta_location(
    volume: &Name,
    node: &NodeSpec,
    va: &VolumeAlloc,
) -> crate::drivers::drbd::meta::MetaLocation {
    let vg = &node.volume_group;
    let (device, index) = match va.meta {
        MetaAlloc::Indexed { index, .. } => {
            (format!("/dev/{vg}/{}", node.meta_volume), index.to_string())
        }
        MetaAlloc::Flexible { .. } => (format!("/dev/{vg}/{volume}-md"), "flex-external".into()),
        MetaAlloc::Internal => (format!("/dev/{vg}/{volume}"), "internal".into()),
    };
    crate::drivers::drbd::meta::MetaLocation {
        minor: va.minor.value,
        device,
        index,
    }
}

/// An `address` value: `IP:PORT` for IPv4, `ipv6 [IP]:PORT` for IPv6 (drbd.conf(5)).
pub fn address(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("ipv6 [{v6}]:{port}"),
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
    fn resource_84_exact_text() {
        let v = state(PAIR);
        let text = resource(&v.desired, &v.allocation, &name("dns")).expect("rendered");
        assert_eq!(
            text,
            "# Managed by xenflux: local changes are overwritten.
resource dns {
  net {
    protocol C;
  }
  disk {
    c-plan-ahead 0;
    resync-rate 40M;
  }
  on a {
    device /dev/drbd0 minor 0;
    disk /dev/XEN/dns;
    address 10.0.0.1:7788;
    meta-disk /dev/XEN/meta[0];
  }
  on b {
    device /dev/drbd0 minor 0;
    disk /dev/VG2/dns;
    address 10.0.0.2:7788;
    meta-disk /dev/VG2/md[0];
  }
}
"
        );
    }

    #[test]
    fn dual_primary_flexible_meta() {
        let v = state(PAIR);
        let text = resource(&v.desired, &v.allocation, &name("ovs")).expect("rendered");
        assert!(text.contains("    protocol C;\n    allow-two-primaries yes;\n  }\n"));
        assert!(text.contains("  startup {\n    become-primary-on both;\n  }\n"));
        assert!(text.contains("    meta-disk /dev/XEN/ovs-md;\n"), "{text}");
        assert!(text.contains("    meta-disk /dev/VG2/ovs-md;\n"), "{text}");
        assert!(text.contains("device /dev/drbd1 minor 1;"));
        assert!(text.contains("address 10.0.0.1:7789;"));
    }

    #[test]
    fn internal_meta_and_no_rate() {
        let yaml = PAIR.replace("drbd: {syncRate: 40M}", "drbd: {}").replace(
            "spec: {size: 1GiB, nodes: [a, b]}",
            "spec: {size: 1GiB, nodes: [a, b], meta: internal, protocol: A}",
        );
        let v = state(&yaml);
        let text = resource(&v.desired, &v.allocation, &name("dns")).expect("rendered");
        assert!(text.contains("    meta-disk internal;\n"), "{text}");
        assert!(text.contains("    protocol A;\n"), "{text}");
        assert!(!text.contains("disk {"), "no rate, no disk section: {text}");
    }

    #[test]
    fn ipv6_address_form() {
        assert_eq!(
            address("fd00::2".parse().expect("ip"), 7788),
            "ipv6 [fd00::2]:7788"
        );
        assert_eq!(
            address("192.168.1.190".parse().expect("ip"), 7792),
            "192.168.1.190:7792"
        );
        let yaml = PAIR.replace(
            "address: 10.0.0.2, volumeGroup",
            "address: fd00::2, volumeGroup",
        );
        let v = state(&yaml);
        let text = resource(&v.desired, &v.allocation, &name("dns")).expect("rendered");
        assert!(
            text.contains("    address ipv6 [fd00::2]:7788;\n"),
            "{text}"
        );
    }

    const NINE: &str = r#"
apiVersion: xenflux/v1
kind: Cluster
metadata: {name: xg}
spec:
  drbd: {version: "9"}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: c}
spec: {address: 10.0.0.3, volumeGroup: VG3}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: a}
spec: {address: 10.0.0.1, volumeGroup: XEN}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: b}
spec: {address: 10.0.0.2, volumeGroup: VG2}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: data}
spec: {size: 1GiB, nodes: [c, a, b]}
"#;

    #[test]
    fn drbd9_node_ids_follow_the_volume_list_and_mesh_names_every_host() {
        let v = state(NINE);
        let text = resource(&v.desired, &v.allocation, &name("data")).expect("rendered");
        assert_eq!(
            text,
            "# Managed by xenflux: local changes are overwritten.
resource data {
  net {
    protocol C;
  }
  on c {
    node-id 0;
    volume 0 {
      device /dev/drbd0 minor 0;
      disk /dev/VG3/data;
      meta-disk /dev/VG3/meta[0];
    }
    address 10.0.0.3:7788;
  }
  on a {
    node-id 1;
    volume 0 {
      device /dev/drbd0 minor 0;
      disk /dev/XEN/data;
      meta-disk /dev/XEN/meta[0];
    }
    address 10.0.0.1:7788;
  }
  on b {
    node-id 2;
    volume 0 {
      device /dev/drbd0 minor 0;
      disk /dev/VG2/data;
      meta-disk /dev/VG2/meta[0];
    }
    address 10.0.0.2:7788;
  }
  connection-mesh {
    hosts c a b;
  }
}
"
        );
    }

    #[test]
    fn files_go_to_the_volume_nodes_only_with_identical_text() {
        let v = state(NINE.replace("nodes: [c, a, b]", "nodes: [a, b]").as_str());
        let r = crate::render::render(&v.desired, &v.allocation);
        let a = &r.nodes[&name("a")];
        let b = &r.nodes[&name("b")];
        assert_eq!(a["/etc/drbd.d/data.res"], b["/etc/drbd.d/data.res"]);
        assert_eq!(a[GLOBAL_COMMON_PATH], global_common());
        assert!(r.nodes[&name("c")].is_empty(), "c holds no volume");
    }

    #[test]
    fn cluster_config_holds_common_and_every_resource_once() {
        let v = state(PAIR);
        let text = cluster_config(&v.desired, &v.allocation);
        assert!(text.starts_with(&global_common()));
        assert_eq!(text.matches("resource dns {").count(), 1);
        assert_eq!(text.matches("resource ovs {").count(), 1);
        assert_eq!(text.matches(MANAGED_HEADER).count(), 1);
        assert!(text.contains("after-sb-2pri disconnect;"));
    }

    #[test]
    fn unknown_node_leaves_the_resource_out() {
        let v = state(PAIR);
        let mut desired = v.desired.clone();
        desired.nodes.remove(&name("b"));
        assert_eq!(resource(&desired, &v.allocation, &name("dns")), None);
        assert!(!cluster_config(&desired, &v.allocation).contains("resource dns"));
    }
}
