#![allow(clippy::disallowed_methods)]
//! The desired state two hybrid nodes are converged to, and the checks of the result made with
//! the real tools (LVs, tags, bridges, files) and in the simulator's file (DRBD, domains). Shared
//! by the library-level converge test and the end-to-end `xenflux serve` test over SSH.

use std::process::Command;

use xenflux::load::Source;
use xenflux::sim::SimCluster;

use std::path::Path;

use super::hybrid::{link_nodes, HybridNode, NodeSpec};
use super::{run, tool};

pub const MIB: u64 = 1 << 20;

/// How the nodes are reached over SSH (`Node.spec.ssh.host` of node-a and node-b), if at all.
pub type SshHosts<'a> = Option<(&'a str, &'a str)>;

/// Two nodes, two volumes, a bridge with STP and a running domain on `domain_node`.
pub fn state(
    vg_a: &str,
    vg_b: &str,
    data_size: &str,
    domain_node: &str,
    ssh: SshHosts,
) -> Vec<Source> {
    let ssh_of = |i: usize| match ssh {
        Some(hosts) => format!(
            ", ssh: {{host: {}}}",
            if i == 0 { hosts.0 } else { hosts.1 }
        ),
        None => String::new(),
    };
    let (ssh_a, ssh_b) = (ssh_of(0), ssh_of(1));
    let text = format!(
        "apiVersion: xenflux/v1
kind: Cluster
metadata: {{name: hybrid}}
spec: {{drbd: {{version: \"8.4\"}}}}
---
apiVersion: xenflux/v1
kind: Node
metadata: {{name: node-a}}
spec: {{address: 10.77.0.1, volumeGroup: {vg_a}, metaVolume: meta{ssh_a}}}
---
apiVersion: xenflux/v1
kind: Node
metadata: {{name: node-b}}
spec: {{address: 10.77.0.2, volumeGroup: {vg_b}, metaVolume: meta{ssh_b}}}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {{name: data}}
spec: {{size: {data_size}, nodes: [node-a, node-b], filesystem: none}}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {{name: logs}}
spec: {{size: 32MiB, nodes: [node-a, node-b], filesystem: none}}
---
apiVersion: xenflux/v1
kind: Bridge
metadata: {{name: xenbr0}}
spec: {{ports: [peth0, peth1], stp: true, forwardDelay: 4}}
---
apiVersion: xenflux/v1
kind: Domain
metadata: {{name: web}}
spec:
  node: {domain_node}
  state: running
  memory: 256MiB
  kernel: /boot/vmlinuz-guest
  disks: [{{volume: data, target: xvda}}, {{volume: logs, target: xvdb}}]
  nics: [{{bridge: xenbr0}}]
"
    );
    vec![Source {
        path: "hybrid.yaml".into(),
        text,
    }]
}

pub fn ip_link(ns: &str) -> serde_json::Value {
    let out =
        run(Command::new(tool("ip")).args(["-n", ns, "-d", "-j", "link", "show"])).expect_ok();
    serde_json::from_str(&out.stdout).expect("ip -j output")
}

pub fn link<'a>(links: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    links
        .as_array()
        .and_then(|a| a.iter().find(|l| l["ifname"] == name))
        .unwrap_or_else(|| panic!("{name} not in {links}"))
}

pub fn lv_size(n: &HybridNode, name: &str) -> u64 {
    n.real_lvs()
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{}: no LV {name}", n.name))
        .size_bytes
}

/// The real-world checks after a converge.
pub fn assert_real(n: &HybridNode) {
    let lvs = n.real_lvs();
    let names: Vec<&str> = lvs.iter().map(|l| l.name.as_str()).collect();
    for want in ["data", "logs", "meta"] {
        let lv = lvs
            .iter()
            .find(|l| l.name == want)
            .unwrap_or_else(|| panic!("{}: no LV {want} in {names:?}", n.name));
        assert!(
            lv.tags.iter().any(|t| t == "xenflux"),
            "{}: {want} tags {:?}",
            n.name,
            lv.tags
        );
    }
    assert!(lv_size(n, "meta") >= 2 * 128 * MIB, "two meta-data slots");

    let links = ip_link(&n.ns.name);
    let br = link(&links, "xenbr0");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge", "{br}");
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 1, "{br}");
    for port in ["peth0", "peth1"] {
        assert_eq!(link(&links, port)["master"], "xenbr0", "{}: {port}", n.name);
    }

    let drbd = n.host_dir("/etc/drbd.d");
    for f in ["data.res", "logs.res", "global_common.conf"] {
        let text = std::fs::read_to_string(drbd.join(f))
            .unwrap_or_else(|e| panic!("{}: {f}: {e}", n.name));
        assert!(text.starts_with("# Managed by xenflux"), "{f}: {text}");
    }
    let cfg = n.host_dir("/etc/xen").join("web.cfg");
    assert!(cfg.is_file(), "{}: {} missing", n.name, cfg.display());
}

/// DRBD in the simulator: both resources Connected and UpToDate on both nodes.
pub fn assert_drbd(sim: &SimCluster) {
    for node in ["node-a", "node-b"] {
        let v = sim.node(node).expect("node in the simulator");
        for res in ["data", "logs"] {
            let r = v
                .drbd
                .get(res)
                .unwrap_or_else(|| panic!("{node}: {res} not up"));
            assert_eq!(format!("{:?}", r.connection), "Connected", "{node} {res}");
            assert_eq!(format!("{:?}", r.disk), "UpToDate", "{node} {res}");
        }
    }
}

pub fn running_on(sim: &SimCluster) -> Vec<String> {
    ["node-a", "node-b"]
        .into_iter()
        .filter(|n| sim.node(n).is_some_and(|v| v.domains.contains_key("web")))
        .map(String::from)
        .collect()
}

/// Two hybrid nodes `node-a` and `node-b` (volume groups `{prefix}a{pid}`, `{prefix}b{pid}` on
/// 1 GiB loop devices, NICs `peth0` and `peth1`) joined by a veth link carrying 10.77.0.1 and
/// 10.77.0.2, their shims using `sim_file`. `None` when this machine cannot build them.
pub fn two_nodes(prefix: &str, sim_file: &Path, bin: &Path) -> Option<(HybridNode, HybridNode)> {
    let tag = std::process::id();
    let (vg_a, vg_b) = (format!("{prefix}a{tag}"), format!("{prefix}b{tag}"));
    let spec = |name, vg| NodeSpec {
        name,
        vg,
        disk_bytes: 1024 * MIB,
        nics: &["peth0", "peth1"],
        sim_file,
        xenflux_bin: bin,
    };
    let a = HybridNode::new(&spec("node-a", &vg_a))?;
    let b = HybridNode::new(&spec("node-b", &vg_b))?;
    link_nodes(&a, "10.77.0.1/24", &b, "10.77.0.2/24", "eth0");
    Some((a, b))
}
