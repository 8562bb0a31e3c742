#![allow(clippy::disallowed_methods)]
//! Two hybrid nodes (see `tests/common/hybrid.rs`) converged by the library's planner and
//! executor through `transport::Local` with a per-node prefix: real LVM on loop devices, real
//! bridges with STP on veth ports, real configuration files, while DRBD and Xen are answered by
//! the simulator through the tool shims. Checked with the real tools, not through xenflux: the
//! LVs and their tags, the bridge and its ports, the files in each node's directories; and in the
//! simulator's file: DRBD Connected/UpToDate, the domain on its node. Then a volume grows and the
//! domain moves to the other node.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::hybrid::{link_nodes, HybridNode, NodeSpec, PerNode};
use common::{run, tool};
use xenflux::exec::{Event, Executor};
use xenflux::load::Source;
use xenflux::model::Name;
use xenflux::observe::observe_node;
use xenflux::reconcile::{plan_for, probe, snapshot};
use xenflux::sim::{SimCluster, SimOptions};

const MIB: u64 = 1 << 20;

fn state(vg_a: &str, vg_b: &str, data_size: &str, domain_node: &str) -> Vec<Source> {
    let text = format!(
        "apiVersion: xenflux/v1
kind: Cluster
metadata: {{name: hybrid}}
spec: {{drbd: {{version: \"8.4\"}}}}
---
apiVersion: xenflux/v1
kind: Node
metadata: {{name: node-a}}
spec: {{address: 10.77.0.1, volumeGroup: {vg_a}, metaVolume: meta}}
---
apiVersion: xenflux/v1
kind: Node
metadata: {{name: node-b}}
spec: {{address: 10.77.0.2, volumeGroup: {vg_b}, metaVolume: meta}}
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

/// Plans and applies until the plan is empty (a domain whose disks and node both change moves
/// on the next pass), so the last pass is a re-plan that found nothing to do; returns the number
/// of passes that applied something.
fn converge(sources: &[Source], t: &PerNode) -> usize {
    for pass in 0..4 {
        let snap = snapshot(sources, t).unwrap_or_else(|e| panic!("snapshot: {e}"));
        let plan = plan_for(&snap, false).unwrap_or_else(|e| panic!("plan: {e}"));
        assert!(
            plan.blocked.is_empty(),
            "{}",
            xenflux::report::text(&plan, &snap.validated.desired)
        );
        if plan.is_empty() {
            return pass;
        }
        let v = &snap.validated;
        let observe = |node: &Name| observe_node(t, node.as_str(), &probe(v, node));
        let exec = Executor {
            transport: t,
            lvm_extra: Vec::new(),
            journal: None,
            observe: &observe,
            stop: None,
        };
        let mut log = Vec::new();
        let mut progress = |e: Event| {
            if let Event::Action { node, action, ok } = e {
                log.push(format!("{} {node}: {}", ok, action.describe()));
            }
        };
        if let Err(e) = exec.run(&plan, &mut progress) {
            panic!("apply failed: {e}\n{}", log.join("\n"));
        }
    }
    panic!("not converged after 4 passes");
}

fn ip_link(ns: &str) -> serde_json::Value {
    let out =
        run(Command::new(tool("ip")).args(["-n", ns, "-d", "-j", "link", "show"])).expect_ok();
    serde_json::from_str(&out.stdout).expect("ip -j output")
}

fn link<'a>(links: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    links
        .as_array()
        .and_then(|a| a.iter().find(|l| l["ifname"] == name))
        .unwrap_or_else(|| panic!("{name} not in {links}"))
}

fn lv_size(n: &HybridNode, name: &str) -> u64 {
    n.real_lvs()
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{}: no LV {name}", n.name))
        .size_bytes
}

/// The real-world checks after a converge.
fn assert_real(n: &HybridNode) {
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
fn assert_drbd(sim: &SimCluster) {
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

fn running_on(sim: &SimCluster) -> Vec<String> {
    ["node-a", "node-b"]
        .into_iter()
        .filter(|n| sim.node(n).is_some_and(|v| v.domains.contains_key("web")))
        .map(String::from)
        .collect()
}

#[test]
fn two_hybrid_nodes_converge_grow_and_migrate() {
    let started = Instant::now();
    let tag = std::process::id();
    let (vg_a, vg_b) = (format!("xfha{tag}"), format!("xfhb{tag}"));
    let dir = common::scratch();
    let sim_file = dir.path().join("sim.json");
    let bin = Path::new(env!("CARGO_BIN_EXE_xenflux"));
    let spec = |name, vg| NodeSpec {
        name,
        vg,
        disk_bytes: 1024 * MIB,
        nics: &["peth0", "peth1"],
        sim_file: &sim_file,
        xenflux_bin: bin,
    };
    let Some(a) = HybridNode::new(&spec("node-a", &vg_a)) else {
        return;
    };
    let Some(b) = HybridNode::new(&spec("node-b", &vg_b)) else {
        return;
    };
    link_nodes(&a, "10.77.0.1/24", &b, "10.77.0.2/24", "eth0");

    let sources = state(&vg_a, &vg_b, "64MiB", "node-a");
    let v = common::validate_sources(&sources, "the hybrid state");
    SimCluster::fresh(&v.desired, &SimOptions::default())
        .save(&sim_file)
        .expect("write the simulated cluster");
    let t = PerNode::new(&[&a, &b]);

    // converge() ends with a re-plan that is empty.
    let passes = converge(&sources, &t);
    assert!(passes >= 1, "the fresh nodes needed changes");
    for n in [&a, &b] {
        assert_real(n);
    }
    let sim = SimCluster::load(&sim_file).expect("load the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-a"]);
    assert!(sim.invariants().is_empty(), "{:?}", sim.invariants());
    eprintln!(
        "converged in {passes} pass(es), {:?}, {} simulated commands",
        started.elapsed(),
        sim.log().len()
    );

    let before = (lv_size(&a, "data"), lv_size(&b, "data"));
    let grown = state(&vg_a, &vg_b, "96MiB", "node-b");
    assert!(
        converge(&grown, &t) >= 1,
        "growing and moving needed changes"
    );
    for n in [&a, &b] {
        assert_eq!(lv_size(n, "data"), 96 * MIB, "{}: data grew", n.name);
    }
    assert_eq!(before, (64 * MIB, 64 * MIB));
    let sim = SimCluster::load(&sim_file).expect("load the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-b"]);
    for node in ["node-a", "node-b"] {
        let size = sim.node(node).expect("node").drbd["data"].size;
        assert_eq!(size, 96 * MIB, "{node}: DRBD device resized");
    }
    assert!(sim.invariants().is_empty(), "{:?}", sim.invariants());
    eprintln!("grown and moved in {:?} in all", started.elapsed());
}
