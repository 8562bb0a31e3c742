#![allow(clippy::disallowed_methods)]
//! The whole loop, as an operator runs it: `xenflux serve --target ssh` follows a bare
//! repository and reaches two nodes over real SSH. Each node is a network namespace of this
//! machine with its own sshd, its own LVM volume group on a loop device, real bridges with STP
//! and its own `/etc/drbd.d`, `/etc/xen`, ... (bind-mounted in a private mount namespace); the
//! simulator answers for what this kernel lacks (DRBD, Xen) through the tool shims on the
//! node's PATH (see `tests/common/hybrid.rs`).
//!
//! A push converges the nodes (checked with the real tools, not through xenflux); a second push
//! grows a volume and moves the running domain; a domain destroyed behind xenflux's back is
//! started again by `reconcile --now`; `/status` and `/metrics` tell. Traffic stays on the
//! namespaces' veth links (10.200.51/24, 10.200.52/24 with the root namespace; 10.77.0/24
//! between the nodes) and on 127.0.0.1 for the controller. Everything is stopped by its pid or
//! removed at the end.

mod common;

use std::path::Path;
use std::time::Instant;

use common::hybrid::HybridNode;
use common::hybrid_checks::{assert_drbd, assert_real, lv_size, running_on, state, two_nodes, MIB};
use common::serve::{Repos, Serve};
use common::sshnode::{SshClient, SshNode, SshNodeOptions};
use serde_json::Value;
use xenflux::sim::{SimCluster, SimOptions};

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

/// Passes until one finds nothing to do (some changes take two passes: a warning says so).
fn settle(s: &mut Serve, r: &Repos, commit: &str) -> Value {
    let mut last = s.wait_pass(commit, &["applied", "drift", "in-sync", "failed"]);
    for _ in 0..4 {
        if last["result"] == "in-sync" {
            return last;
        }
        let (code, out) =
            common::serve::xenflux(Path::new(BIN), &r.state_dir, &["reconcile", "--now"]);
        assert!(code != 1, "{out}\n{}", s.log());
        last = s.status()["last"].clone();
    }
    panic!("not in sync after several passes: {last}\n{}", s.log());
}

#[test]
fn serve_over_ssh_converges_two_nodes_and_follows_pushes() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let started = Instant::now();
    let dir = common::scratch();
    let sim_file = dir.path().join("sim.json");
    let bin = Path::new(BIN);
    let Some((a, b)) = two_nodes("xfe", &sim_file, bin) else {
        return;
    };
    let (vg_a, vg_b) = (a.vg.clone(), b.vg.clone());
    let sshd = |n: &HybridNode, subnet| {
        SshNode::start(
            &client,
            &n.name,
            subnet,
            &SshNodeOptions {
                sshd_config: vec![n.sshd_setenv()],
                mount_setup: Some(n.bind_script()),
                netns: Some(n.ns.name.clone()),
            },
        )
    };
    let ssh_a = sshd(&a, 51);
    let ssh_b = sshd(&b, 52);
    let hosts = (ssh_a.address.to_string(), ssh_b.address.to_string());
    let hosts = Some((hosts.0.as_str(), hosts.1.as_str()));

    let initial = state(&vg_a, &vg_b, "64MiB", "node-a", hosts);
    let v = common::validate_sources(&initial, "the end-to-end state");
    SimCluster::fresh(&v.desired, &SimOptions::default())
        .save(&sim_file)
        .expect("write the simulated cluster");

    let r = Repos::new(bin, None);
    let c1 = r.push("cluster.yaml", |_| initial[0].text.clone(), "two nodes");
    let config = client.config.display().to_string();
    let mut s = Serve::start(
        &r,
        &["--ssh-config", &config],
        &["--target", "ssh", "--retry-base", "1s"],
    );

    let first = settle(&mut s, &r, &c1);
    eprintln!("first push converged in {:?}: {first}", started.elapsed());
    for n in [&a, &b] {
        assert_real(n);
    }
    let sim = SimCluster::load(&sim_file).expect("the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-a"]);
    // Every command reached the nodes through sshd: each node's sshd ran sessions, over one
    // multiplexed connection (more only when the control master idled out).
    for n in [&ssh_a, &ssh_b] {
        assert!(n.sessions() > 10, "{} sessions", n.sessions());
        assert!(n.connections() < n.sessions(), "connections are reused");
    }

    // Grow a volume and move the domain.
    let grown = state(&vg_a, &vg_b, "96MiB", "node-b", hosts);
    let c2 = r.push(
        "cluster.yaml",
        |_| grown[0].text.clone(),
        "grow data, web to node-b",
    );
    settle(&mut s, &r, &c2);
    for n in [&a, &b] {
        assert_eq!(lv_size(n, "data"), 96 * MIB, "{}: data grew", n.name);
    }
    let sim = SimCluster::load(&sim_file).expect("the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-b"]);
    assert!(sim.invariants().is_empty(), "{:?}", sim.invariants());

    // Drift: the domain is destroyed behind xenflux's back; one reconcile starts it again.
    let destroyed = std::process::Command::new(bin)
        .args([
            "sim",
            "exec",
            "--sim",
            sim_file.to_str().unwrap(),
            "--node",
            "node-b",
            "--",
            "xl",
            "destroy",
            "web",
        ])
        .envs(b.env())
        .output()
        .expect("xenflux sim exec");
    assert!(destroyed.status.success(), "{destroyed:?}");
    assert!(running_on(&SimCluster::load(&sim_file).unwrap()).is_empty());
    let (code, out) = common::serve::xenflux(bin, &r.state_dir, &["reconcile", "--now"]);
    assert_eq!(code, 0, "{out}\n{}", s.log());
    assert!(out.contains("applied"), "{out}");
    assert_eq!(
        running_on(&SimCluster::load(&sim_file).unwrap()),
        ["node-b"]
    );

    // What the controller says about it.
    let st = s.status();
    assert_eq!(st["target"], "ssh");
    assert_eq!(st["lastCommit"], c2.as_str());
    assert_eq!(st["drift"], 0, "{st}");
    for object in [
        "Volume/data",
        "Volume/logs",
        "Domain/web",
        "Bridge/xenbr0",
        "Node/node-a",
    ] {
        assert_eq!(st["objects"][object]["state"], "in-sync", "{object}: {st}");
    }
    assert!(s.metric("xenflux_reconcile_total{result=\"applied\"}") >= 3.0);
    assert!(s.metric("xenflux_actions_applied_total") >= 20.0);
    assert_eq!(s.metric("xenflux_drift_objects"), 0.0);
    let st = s.terminate();
    assert!(st.success(), "{st}");
    eprintln!("end to end in {:?}", started.elapsed());
}
