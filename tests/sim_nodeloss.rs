#![allow(clippy::disallowed_methods)]
//! Node loss on the simulator, as real nodes behave (LAB.md, "Node loss in the lab"): the plug
//! pulled, a node cut from everyone while it runs on, power control as a fence agent uses it,
//! and the node's return (resync as SyncTarget, or a split brain when both sides wrote). The
//! invariants a failover must keep are recorded when broken.

mod simlab;

use xenflux::drivers::drbd::{self as drbdcmd, ConnState, ConnectionState, DiskState, Role};
use xenflux::drivers::xl;
use xenflux::sim::SimCluster;
use xenflux::transport::{Cmd, Transport, TransportError};

use simlab::{repo, Lab};

const CFG: &str = "/etc/xen/dns.cfg";

/// `dns` Primary on dom0 with its domain running there; dom0m Secondary, Connected.
fn dns_running_on_dom0() -> Lab {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", xl::create(CFG));
    assert!(
        lab.sim.violations().is_empty(),
        "{:?}",
        lab.sim.violations()
    );
    lab
}

/// The `/proc/drbd` line of minor 0 on `node`.
fn proc_line(lab: &Lab, node: &str) -> String {
    let out = lab.ok(node, drbdcmd::cat_proc_drbd()).stdout;
    out.lines()
        .find(|l| l.starts_with(" 0: "))
        .unwrap_or_else(|| panic!("no minor 0 in {out}"))
        .to_string()
}

fn drbdadm(lab: &Lab, node: &str, verb: &str) -> String {
    let argv = ["drbdadm", verb, "dns"].map(String::from).to_vec();
    lab.ok(node, argv).stdout
}

fn violated(lab: &Lab, what: &str) -> bool {
    lab.sim.violations().iter().any(|v| v.contains(what))
}

fn unreachable(lab: &Lab, node: &str) -> String {
    match lab.sim.run_batch(node, &[Cmd::new(["true"])]) {
        Err(e @ TransportError::Unreachable { .. }) => e.to_string(),
        other => panic!("{node} answered: {other:?}"),
    }
}

#[test]
fn a_crashed_node_is_off_and_its_peer_waits_for_it_keeping_its_role() {
    let lab = dns_running_on_dom0();
    assert!(lab.sim.crash_node("dom0m"));
    assert!(unreachable(&lab, "dom0m").contains("powered off"));
    // The Primary stays Primary, UpToDate; the peer is Unknown/DUnknown (real-lab's shape).
    assert_eq!(
        proc_line(&lab, "dom0"),
        " 0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----"
    );
    assert_eq!(lab.sim.violations(), Vec::<String>::new());

    let lab = dns_running_on_dom0();
    assert!(lab.sim.crash_node("dom0"));
    assert_eq!(lab.sim.powered("dom0"), Some(false));
    let v = lab.view("dom0");
    assert!(!v.powered && !v.reachable && !v.peers_reachable);
    assert!(v.domains.is_empty() && v.drbd.is_empty() && v.mounts.is_empty());
    assert!(
        v.lvs["dns"].has_data && v.lvs["meta"].meta.contains_key("0"),
        "its disks keep data and meta-data"
    );
    // The survivor, exactly as real DRBD 8.4 printed it when nodea's plug was pulled.
    assert_eq!(
        proc_line(&lab, "dom0m"),
        " 0: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----"
    );
    assert_eq!(drbdadm(&lab, "dom0m", "cstate"), "WFConnection\n");
    assert_eq!(drbdadm(&lab, "dom0m", "role"), "Secondary/Unknown\n");
    assert_eq!(drbdadm(&lab, "dom0m", "dstate"), "UpToDate/DUnknown\n");
    assert_eq!(
        lab.ok("dom0m", drbdcmd::status(Some("dns"))).stdout,
        "dns role:Secondary\n  disk:UpToDate\n  peer connection:Connecting\n\n"
    );
    let s = lab.observe("dom0m");
    let k = s.drbd.known().expect("drbd").resources["dns"]
        .kernel
        .clone()
        .expect("up");
    assert_eq!((k.role, k.disk), (Role::Secondary, DiskState::UpToDate));
    assert_eq!(k.peers[0].connection, ConnectionState::Connecting);
    assert_eq!(
        (&k.peers[0].role, &k.peers[0].disk),
        (&Role::Unknown, &DiskState::DUnknown)
    );
    assert!(lab.observe("dom0").drbd.known().is_none(), "dom0 is off");
    // Powering off what is off succeeds.
    assert!(lab.sim.power_off("dom0"));
    assert!(!lab.sim.power_off("nosuch"));
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
}

#[test]
fn a_management_network_failure_leaves_drbd_connected() {
    let lab = dns_running_on_dom0();
    lab.sim.set_node_down("dom0", true);
    assert!(unreachable(&lab, "dom0").contains("down"));
    let v = lab.view("dom0");
    assert!(v.powered && !v.reachable && v.peers_reachable);
    assert_eq!(
        proc_line(&lab, "dom0m"),
        " 0: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----"
    );
    assert!(lab.sim.heal_node("dom0"));
    assert!(lab.view("dom0").reachable);
}

#[test]
fn an_isolated_node_runs_on_and_a_promote_on_the_survivor_is_split_brain_in_the_making() {
    let lab = dns_running_on_dom0();
    assert!(lab.sim.isolate_node("dom0"));
    unreachable(&lab, "dom0");
    let v = lab.view("dom0");
    assert!(v.powered && !v.reachable && !v.peers_reachable);
    assert!(v.domains.contains_key("dns"), "its domain runs on");
    assert_eq!(v.drbd["dns"].connection, ConnState::WFConnection);
    assert_eq!(v.drbd["dns"].role, Role::Primary);
    assert_eq!(
        proc_line(&lab, "dom0m"),
        " 0: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----"
    );
    assert_eq!(lab.sim.violations(), Vec::<String>::new());

    // Real DRBD 8.4 lets a disconnected Secondary with UpToDate data be promoted.
    lab.ok("dom0m", drbdcmd::primary("dns"));
    assert!(
        violated(
            &lab,
            "two Primaries without allow-two-primaries: dns is Primary on dom0 and dom0m"
        ),
        "{:?}",
        lab.sim.violations()
    );
    // Nothing on dom0m knows the domain runs on dom0: xl starts it.
    lab.ok("dom0m", xl::create(CFG));
    assert!(
        violated(&lab, "unsafe start: `xl create` of dns on dom0m while dom0, its DRBD peer for dns, is neither connected nor powered off"),
        "{:?}",
        lab.sim.violations()
    );
    assert!(violated(&lab, "domain dns runs on dom0 and dom0m"));
}

#[test]
fn a_start_while_the_peer_is_merely_unreachable_is_recorded() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.sim.isolate_node("dom0m");
    lab.ok("dom0", xl::create(CFG));
    assert!(violated(
        &lab,
        "unsafe start: `xl create` of dns on dom0 while dom0m, its DRBD peer for dns, is neither connected nor powered off"
    ));
}

#[test]
fn fencing_an_isolated_node_makes_the_failover_safe() {
    let lab = dns_running_on_dom0();
    lab.sim.isolate_node("dom0");
    assert!(
        lab.sim.power_off("dom0"),
        "a fence works on an isolated node"
    );
    assert!(lab.view("dom0").domains.is_empty());
    lab.ok("dom0m", drbdcmd::primary("dns"));
    lab.ok("dom0m", xl::create(CFG));
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
    assert_eq!(
        proc_line(&lab, "dom0m"),
        " 0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----"
    );
    // Powered on, it is still cut off: the network fault was not the power.
    assert!(lab.sim.power_on("dom0"));
    let v = lab.view("dom0");
    assert!(v.powered && !v.reachable && v.domains.is_empty());
    assert_eq!(v.drbd["dns"].role, Role::Secondary);
    assert_eq!(v.drbd["dns"].connection, ConnState::WFConnection);
    // dom0 was Primary when it was cut off: DRBD started a new data generation there, so
    // it and the survivor both moved on. Meeting again is a split brain, as real DRBD's
    // default after-sb-1pri (disconnect) leaves it, to be resolved by a person.
    lab.sim.heal_node("dom0");
    for node in ["dom0", "dom0m"] {
        let v = lab.view(node);
        assert_eq!(v.drbd["dns"].connection, ConnState::StandAlone, "{node}");
        assert!(v.drbd["dns"].split_brain, "{node}");
    }
    assert_eq!(lab.view("dom0").drbd["dns"].role, Role::Secondary);
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
    // The fenced node discards its data: it resyncs from the survivor.
    lab.ok("dom0", drbdcmd::connect_discard_my_data("dns"));
    lab.ok("dom0m", drbdcmd::connect("dns"));
    let v = lab.view("dom0");
    assert_eq!(
        (&v.drbd["dns"].connection, &v.drbd["dns"].disk),
        (&ConnState::Connected, &DiskState::UpToDate)
    );
}

#[test]
fn a_crashed_primary_returns_as_sync_target_and_is_never_promoted() {
    let lab = dns_running_on_dom0();
    lab.sim.crash_node("dom0");
    // Failover by hand, as in the lab: promote the survivor and start the domain there.
    lab.ok("dom0m", drbdcmd::primary("dns"));
    lab.ok("dom0m", xl::create(CFG));
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
    assert_eq!(lab.sim.powered("dom0"), Some(false));

    assert!(lab.sim.power_on("dom0"));
    let v = lab.view("dom0");
    assert!(v.powered && v.reachable && v.peers_reachable);
    assert!(v.domains.is_empty(), "a boot starts no domain");
    assert_eq!(v.drbd["dns"].role, Role::Secondary);
    assert_eq!(v.drbd["dns"].connection, ConnState::SyncTarget);
    // What real DRBD 8.4 prints during a resync (real-lab/drbd-states.txt), and what the
    // drivers read from it.
    let out = lab.ok("dom0", drbdcmd::cat_proc_drbd()).stdout;
    assert!(
        out.contains(" 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n    ns:0 nr:0 dw:0 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:43690\n\t[=====>..............] sync'ed: 33.3% (43690/65536)K\n\tfinish: 0:00:10 speed: 4,096 (4,096) want: 4,096 K/sec\n"),
        "{out}"
    );
    let p = xenflux::drivers::drbd::proc_drbd::parse(&out).expect("parses");
    assert_eq!(p.devices[0].cs, ConnState::SyncTarget);
    // One batch ran on dom0; the next batch on either end is the last of the resync.
    let st = lab.ok("dom0m", drbdcmd::status(Some("dns"))).stdout;
    assert_eq!(
        st,
        "dns role:Primary\n  disk:UpToDate\n  peer role:Secondary\n    replication:SyncSource peer-disk:Inconsistent done:66.67\n\n"
    );
    // A promote of the returning node is refused while the survivor is Primary.
    lab.fails("dom0", drbdcmd::primary("dns"), 11);
    assert_eq!(
        proc_line(&lab, "dom0"),
        " 0: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----"
    );
    assert_eq!(drbdadm(&lab, "dom0", "dstate"), "UpToDate/UpToDate\n");
    let v = lab.view("dom0");
    assert_eq!(v.drbd["dns"].role, Role::Secondary);
    assert!(!v.drbd["dns"].split_brain);
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
}

#[test]
fn healing_an_isolation_after_both_were_primary_is_a_split_brain() {
    let lab = dns_running_on_dom0();
    lab.sim.isolate_node("dom0");
    lab.ok("dom0m", drbdcmd::primary("dns"));
    lab.sim.heal_node("dom0");
    for node in ["dom0", "dom0m"] {
        assert_eq!(
            proc_line(&lab, node),
            " 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----",
            "{node}"
        );
        assert!(lab.view(node).drbd["dns"].split_brain);
    }
}

#[test]
fn healing_an_isolation_without_a_failover_reconnects_cleanly() {
    let lab = dns_running_on_dom0();
    lab.sim.isolate_node("dom0");
    // The isolated Primary went on writing; the survivor stayed Secondary.
    lab.sim.heal_node("dom0");
    assert!(lab.view("dom0").reachable);
    assert_eq!(
        lab.view("dom0m").drbd["dns"].connection,
        ConnState::SyncTarget
    );
    lab.ok("dom0m", drbdcmd::cat_proc_drbd());
    lab.ok("dom0", drbdcmd::cat_proc_drbd());
    assert_eq!(
        proc_line(&lab, "dom0"),
        " 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----"
    );
    assert!(lab.view("dom0").domains.contains_key("dns"));
    assert_eq!(lab.sim.violations(), Vec::<String>::new());

    // The same with the Secondary cut off: nothing diverged on it, it catches up.
    lab.sim.isolate_node("dom0m");
    lab.sim.heal_node("dom0m");
    assert_eq!(
        lab.view("dom0m").drbd["dns"].connection,
        ConnState::SyncTarget
    );
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
}

#[test]
fn isolating_a_node_of_a_dual_primary_pair_diverges_its_data_and_says_so() {
    let lab = Lab::new("cluster-state");
    lab.prepare();
    lab.volume("ovs");
    lab.ok("dom0", drbdcmd::primary_force("ovs"));
    lab.ok("dom0m", drbdcmd::primary("ovs"));
    assert_eq!(lab.sim.violations(), Vec::<String>::new());
    // Both Primaries write on while apart: the fault itself breaks the rule, and says so.
    lab.sim.isolate_node("dom0m");
    assert!(
        violated(
            &lab,
            "after `sim isolate-node` on dom0m: Primary on both sides of a broken connection: ovs on dom0 and dom0m"
        ),
        "{:?}",
        lab.sim.violations()
    );
    // The fence ends it; the fenced node's return finds the data diverged on both sides.
    lab.sim.power_off("dom0m");
    assert_eq!(lab.sim.invariants(), Vec::<String>::new());
    lab.sim.heal_node("dom0m");
    lab.sim.power_on("dom0m");
    let v = lab.view("dom0m");
    assert_eq!(v.drbd["ovs"].role, Role::Secondary);
    assert_eq!(v.drbd["ovs"].connection, ConnState::StandAlone);
    assert!(v.drbd["ovs"].split_brain);
    assert_eq!(
        lab.view("dom0").drbd["ovs"].connection,
        ConnState::StandAlone
    );
}

#[test]
fn a_returning_node_crashing_again_mid_resync_stays_inconsistent() {
    let lab = dns_running_on_dom0();
    lab.sim.crash_node("dom0");
    lab.ok("dom0m", drbdcmd::primary("dns"));
    lab.sim.power_on("dom0");
    lab.sim.crash_node("dom0m");
    let v = lab.view("dom0");
    assert_eq!(
        (&v.drbd["dns"].connection, &v.drbd["dns"].disk),
        (&ConnState::WFConnection, &DiskState::Inconsistent)
    );
    lab.fails("dom0", drbdcmd::primary("dns"), 11);
    lab.sim.power_on("dom0m");
    assert_eq!(
        lab.view("dom0").drbd["dns"].connection,
        ConnState::SyncTarget,
        "it resyncs from the node that has the data"
    );
}

#[test]
fn a_saved_cluster_from_before_power_and_isolation_loads_with_its_unreachable_node() {
    let lab = Lab::new("cluster-state");
    let mut json: serde_json::Value = serde_json::from_str(&lab.sim.to_json()).expect("json");
    for n in json["nodes"].as_object_mut().expect("nodes").values_mut() {
        n.as_object_mut().expect("node").remove("presence");
    }
    json["faults"]["down"] = serde_json::json!(["dom0m"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    SimCluster::load(&path).unwrap_err();
    xenflux::fsutil::write_atomic(&path, json.to_string()).expect("write");
    let sim = SimCluster::load(&path).expect("an old state loads");
    assert!(sim.run("dom0m", &Cmd::new(["true"])).is_err());
    assert!(sim.run("dom0", &Cmd::new(["true"])).is_ok());
    let v = sim.node("dom0m").expect("dom0m");
    assert!(v.powered && !v.reachable && v.peers_reachable);
    assert!(
        !sim.to_json().contains("\"down\""),
        "read once, never written"
    );
}

/// `xenflux --state-dir DIR ARGS...` from the repository (its `cluster-state/`): exit status,
/// stdout and stderr.
fn xenflux(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .current_dir(repo())
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("xenflux runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_sim_cli_pulls_plugs_cuts_networks_and_answers_a_fence_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sim = |args: &[&str]| {
        let mut all = vec!["sim"];
        all.extend_from_slice(args);
        xenflux(d, &all)
    };
    let (code, out, _) = sim(&["power", "dom0", "status"]);
    assert_eq!((code, out.as_str()), (3, "dom0: power is on\n"));
    assert_eq!(sim(&["crash-node", "dom0"]).0, 0);
    let (code, out, _) = sim(&["power", "dom0", "status"]);
    assert_eq!((code, out.as_str()), (0, "dom0: power is off\n"));
    let (code, out, _) = sim(&["power", "dom0", "off"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "dom0: power is off\n"),
        "already off"
    );
    let (_, out, _) = sim(&["show", "--node", "dom0"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&v["powered"], &v["reachable"], &v["peers_reachable"]),
        (&false.into(), &false.into(), &false.into())
    );
    let (code, out, _) = sim(&["power", "dom0", "on"]);
    assert_eq!((code, out.as_str()), (0, "dom0: power is on\n"));

    assert_eq!(sim(&["isolate-node", "dom0m"]).0, 0);
    let (_, out, _) = sim(&["show", "--node", "dom0m"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&v["powered"], &v["reachable"], &v["peers_reachable"]),
        (&true.into(), &false.into(), &false.into())
    );
    // A fence on an isolated node; powered on again it is still cut off until healed.
    assert_eq!(sim(&["power", "dom0m", "off"]).0, 0);
    let (code, out, _) = sim(&["power", "dom0m", "on"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("still cut off: `xenflux sim heal dom0m`"),
        "{out}"
    );
    let (code, out, _) = sim(&["heal", "dom0m"]);
    assert_eq!((code, out.as_str()), (0, "dom0m: every network restored\n"));
    let (_, out, _) = sim(&["show"]);
    assert!(
        out.contains("\"presence\""),
        "the whole state shows each node's presence"
    );

    assert_eq!(sim(&["fail-node", "dom0"]).0, 0);
    let (_, out, _) = sim(&["show", "--node", "dom0"]);
    assert!(out.contains("\"reachable\": false"), "{out}");
    assert_eq!(sim(&["fail-node", "dom0", "--up"]).0, 0);
    let (_, out, _) = sim(&["show", "--node", "dom0"]);
    assert!(out.contains("\"reachable\": true"), "{out}");

    for args in [
        &["power", "nosuch", "status"][..],
        &["crash-node", "nosuch"],
        &["isolate-node", "nosuch"],
        &["heal", "nosuch"],
    ] {
        let (code, _, err) = sim(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("no node `nosuch`"), "{args:?}: {err}");
    }
}

#[test]
fn a_fence_run_by_the_holder_of_the_simulated_cluster_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(xenflux(dir.path(), &["sim", "show", "--node", "dom0"]).0, 0);
    let sim = dir.path().join("sim.json");
    let before = std::fs::read_to_string(&sim).expect("sim.json");
    let mut lock = xenflux::fsutil::FileLock::try_acquire(&xenflux::fsutil::lock_path(&sim))
        .expect("lock")
        .expect("free");
    lock.write_pid().expect("pid");
    let started = std::time::Instant::now();
    let (code, _, err) = xenflux(dir.path(), &["sim", "power", "dom0", "off"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "is held by pid {}, which runs this command",
            std::process::id()
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "no wait"
    );
    drop(lock);
    assert_eq!(std::fs::read_to_string(&sim).expect("sim.json"), before);
    assert_eq!(xenflux(dir.path(), &["sim", "power", "dom0", "off"]).0, 0);
}
