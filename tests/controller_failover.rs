#![allow(clippy::disallowed_methods)]
//! `xenflux serve` with `ha.enabled` on the simulated cluster: the node watch probes every
//! node between passes; a node whose plug is pulled (`sim crash-node`) is declared dead after
//! `deadAfter`, fenced with its fence agent (`xenflux sim power NODE off`) and its domains
//! started on the survivor — by the controller, with nobody at the keyboard. Without a fence
//! nothing starts and `/status` says what a person must do. The simulator's invariants hold
//! throughout. All traffic is on 127.0.0.1.

mod common;

use std::path::Path;

use common::serve::{root, Repos, Serve};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

/// The example cluster with `ha` enabled (dead after 5 s), and `fence` on dom0 when given.
fn cluster(fence: bool) -> (Repos, String) {
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    let agent = format!(
        "[{BIN}, --state-dir, {}, sim, power, dom0, 'off']",
        r.state_dir.display()
    );
    with_agent(r, fence.then_some(agent))
}

/// The example cluster with `ha` enabled and `agent` (a YAML flow sequence) as dom0's fence.
fn with_agent(r: Repos, agent: Option<String>) -> (Repos, String) {
    let ha = r.push(
        "cluster.yaml",
        |t| t + "  ha: {enabled: true, deadAfter: 5s, failback: manual}\n",
        "ha",
    );
    let Some(agent) = agent else {
        return (r, ha);
    };
    let commit = r.push(
        "nodes.yaml",
        |t| {
            t.replacen(
                "  memory: 16GiB\n---",
                &format!("  memory: 16GiB\n  fence: {{command: {agent}, timeout: 30s}}\n---"),
                1,
            )
        },
        "fence",
    );
    (r, commit)
}

/// Starts the controller and waits until the cluster is converged.
fn converged(r: &Repos, commit: &str) -> Serve {
    let mut s = Serve::start(r, &[], &["--interval", "1h"]);
    let mut last = s.wait_pass(commit, &["applied", "in-sync", "drift"]);
    for _ in 0..4 {
        if last["result"] == "in-sync" {
            break;
        }
        let (code, out) =
            common::serve::xenflux(Path::new(BIN), &r.state_dir, &["reconcile", "--now"]);
        assert!(code == 0 || code == 2, "{out}");
        last = s.status()["last"].clone();
    }
    assert_eq!(last["result"], "in-sync", "{last}\n{}", s.log());
    assert!(r.sim().node("dom0").unwrap().domains.contains_key("dns"));
    s
}

fn crash(r: &Repos, node: &str) {
    let (code, out) =
        common::serve::xenflux(Path::new(BIN), &r.state_dir, &["sim", "crash-node", node]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_node_that_dies_is_fenced_and_its_domains_start_on_the_survivor() {
    let (r, commit) = cluster(true);
    let mut s = converged(&r, &commit);
    let url = s.url.clone();
    s.wait_for("the node watch to see both nodes healthy", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["nodes"]["dom0"]["standing"] == "healthy"
            && st["nodes"]["dom0m"]["standing"] == "healthy")
            .then_some(())
    });
    crash(&r, "dom0");
    let failover = s.wait_for("the controller to fail dom0 over", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        let f = st["nodes"]["dom0"]["failover"].as_str()?.to_string();
        Some(f)
    });
    assert!(
        failover.starts_with("failed_over: fenced by fence"),
        "{failover}\n{}",
        s.log()
    );
    let sim = r.sim();
    let survivor = sim.node("dom0m").unwrap();
    assert!(
        survivor.domains.contains_key("dns"),
        "{failover}\n{}",
        s.log()
    );
    assert_eq!(
        sim.powered("dom0"),
        Some(false),
        "the fence powered dom0 off"
    );
    assert_eq!(sim.violations(), Vec::<String>::new());
    assert!(r.state_dir.join("ha/dom0.json").is_file());
    assert_eq!(
        s.metric("xenflux_failovers_total{result=\"failed_over\"}"),
        1.0
    );
    assert_eq!(s.metric("xenflux_node_up{node=\"dom0\"}"), 0.0);
    assert_eq!(s.metric("xenflux_node_up{node=\"dom0m\"}"), 1.0);
    let took = s.metric("xenflux_failover_last_seconds");
    assert!(took > 0.0);
    eprintln!(
        "declared dead → domains started on the survivor: {took:.2} s (deadAfter 5 s before that)"
    );
    let log = s.log();
    assert!(log.contains("node declared dead"), "{log}");
    let st = s.terminate();
    assert!(st.success(), "{st}\n{}", s.log());
}

#[test]
fn without_a_fence_nothing_starts_and_the_status_names_the_next_step() {
    let (r, commit) = cluster(false);
    let mut s = converged(&r, &commit);
    let url = s.url.clone();
    s.wait_for("the node watch to see dom0 healthy", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["nodes"]["dom0"]["standing"] == "healthy").then_some(())
    });
    crash(&r, "dom0");
    let failover = s.wait_for("the controller to try dom0's failover", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        st["nodes"]["dom0"]["failover"].as_str().map(str::to_string)
    });
    assert!(failover.starts_with("refused:"), "{failover}");
    assert!(
        failover.contains("xenflux failover dom0 --confirm-fenced"),
        "{failover}"
    );
    let sim = r.sim();
    assert!(!sim.node("dom0m").unwrap().domains.contains_key("dns"));
    assert!(!r.state_dir.join("ha/dom0.json").exists());
    assert_eq!(sim.violations(), Vec::<String>::new());
    assert_eq!(
        s.metric("xenflux_failovers_total{result=\"failed_over\"}"),
        0.0
    );
    assert!(s.metric("xenflux_failovers_total{result=\"refused\"}") >= 1.0);
    let st = s.terminate();
    assert!(st.success(), "{st}\n{}", s.log());
}

/// The controller is killed (SIGKILL, no chance to clean up) right after it recorded the fence
/// and before it started anything: the controller started again finishes the failover from the
/// record, without fencing again. Then the node comes back, the domain is released
/// (`xenflux failback`, failback manual) and goes home, and the failback is counted.
#[test]
fn a_controller_killed_mid_failover_finishes_it_when_started_again() {
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    let sd = r.state_dir.display().to_string();
    // Powers dom0 off, then — in the background, so the fence itself is confirmed — kills the
    // controller (the fence agent's parent) as soon as the fence record is on disk. The
    // background takes the simulated cluster's lock before the agent exits and holds it until
    // the kill: the controller, which opens the cluster again right after writing the record,
    // waits on it, so it is killed after the record and before anything started, however fast
    // it is.
    let script = format!(
        "{BIN} --state-dir {sd} sim power dom0 off || exit 1; \
         echo fenced >>{sd}/fence-runs; c=$PPID; \
         ( flock {sd}/sim.json.lock sh -c \
           \"touch {sd}/held; while [ ! -e {sd}/ha/dom0.json ]; do sleep 0.02; done; kill -9 $c\" ) \
         >/dev/null 2>&1 </dev/null & \
         while [ ! -e {sd}/held ]; do sleep 0.01; done; exit 0"
    );
    let (r, commit) = with_agent(r, Some(format!("[/bin/sh, -c, '{script}']")));
    let mut s = converged(&r, &commit);
    let url = s.url.clone();
    s.wait_for("the node watch to see dom0 healthy", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["nodes"]["dom0"]["standing"] == "healthy").then_some(())
    });
    crash(&r, "dom0");
    let killed = s.wait_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed),
        Some(libc::SIGKILL),
        "{killed}\n{}",
        s.log()
    );
    assert!(r.state_dir.join("ha/dom0.json").is_file());
    assert!(
        !r.sim().node("dom0m").unwrap().domains.contains_key("dns"),
        "killed before anything started"
    );

    // Started again: the record says dom0 is off; its domains start on dom0m.
    let mut s = Serve::start(&r, &[], &["--interval", "1h"]);
    s.wait_for("dns started on dom0m", || {
        r.sim()
            .node("dom0m")
            .unwrap()
            .domains
            .contains_key("dns")
            .then_some(())
    });
    let sim = r.sim();
    assert_eq!(sim.violations(), Vec::<String>::new());
    assert_eq!(sim.powered("dom0"), Some(false));
    let runs = std::fs::read_to_string(r.state_dir.join("fence-runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "fenced once: {runs}");

    // Back, resynced, released by a person, home again: one failback.
    let (code, out) = common::serve::xenflux(
        Path::new(BIN),
        &r.state_dir,
        &["sim", "power", "dom0", "on"],
    );
    assert_eq!(code, 0, "{out}");
    s.wait_for("dom0's fence record cleared", || {
        let _ = common::serve::xenflux(Path::new(BIN), &r.state_dir, &["reconcile", "--now"]);
        (!r.state_dir.join("ha/dom0.json").exists()).then_some(())
    });
    s.wait_for("dns released", || {
        let (code, _) = common::serve::xenflux(Path::new(BIN), &r.state_dir, &["failback", "dns"]);
        (code == 0).then_some(())
    });
    s.wait_for("dns home on dom0, its placement forgotten", || {
        let _ = common::serve::xenflux(Path::new(BIN), &r.state_dir, &["reconcile", "--now"]);
        let home = r.sim().node("dom0").unwrap().domains.contains_key("dns");
        let placed = std::fs::read_to_string(r.state_dir.join("ha/placements.json"))
            .unwrap_or_default()
            .contains("\"dns\"");
        (home && !placed).then_some(())
    });
    assert_eq!(r.sim().violations(), Vec::<String>::new());
    assert_eq!(s.metric("xenflux_failbacks_total"), 1.0);
    let st = s.terminate();
    assert!(st.success(), "{st}\n{}", s.log());
}
