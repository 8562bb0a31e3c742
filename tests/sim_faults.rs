//! Fault injection (an unreachable node, injected command failures, a split brain, a crash in
//! the middle of a batch), determinism, saving and loading, and a DRBD 9 cluster.

mod simlab;

use xenflux::drivers::drbd::{self as drbdcmd, ConnectionState, DiskState, Role};
use xenflux::drivers::{lvm, xl};
use xenflux::observe::Part;
use xenflux::sim::SimCluster;
use xenflux::transport::{Cmd, Transport, TransportError};

use simlab::{argv, name, Lab};

#[test]
fn the_simulator_is_a_shareable_transport() {
    fn shareable<T: Transport + Send + Sync + 'static>() {}
    shareable::<SimCluster>();
}

#[test]
fn a_node_that_is_down_is_unreachable_and_keeps_its_state() {
    let lab = Lab::new("cluster-state");
    lab.ok("dom0m", lvm::lvcreate("XEN", "keep", 1 << 30, &[], &[]));
    lab.sim.set_node_down("dom0m", true);
    let err = lab
        .sim
        .run_batch("dom0m", &[Cmd::new(lvm::vgs(None))])
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unreachable { ref node, .. } if node == "dom0m"),
        "{err}"
    );
    assert!(err.is_transient());
    let s = lab.observe("dom0m");
    assert!(
        matches!(s.lvm, Part::Unknown(_))
            && matches!(s.drbd, Part::Unknown(_))
            && matches!(s.xen, Part::Unknown(_))
    );
    assert!(lab.observe("dom0").lvm.is_known(), "the other node answers");
    lab.sim.set_node_down("dom0m", false);
    assert!(lab
        .observe("dom0m")
        .lvm
        .known()
        .expect("back")
        .lvs
        .contains_key("XEN/keep"));
    let err = lab.sim.run_batch("nosuch", &[]).unwrap_err();
    assert!(err.to_string().contains("no such node"), "{err}");
}

#[test]
fn injected_failures_hit_the_next_matching_commands_only() {
    let lab = Lab::new("cluster-state");
    lab.sim.fail_next("lvcreate", 1);
    lab.ok("dom0", lvm::vgs(None));
    let o = lab.fails("dom0", lvm::lvcreate("XEN", "a", 1 << 30, &[], &[]), 1);
    assert_eq!(o.stderr, "injected failure\n");
    assert!(
        !lab.view("dom0").lvs.contains_key("a"),
        "a failed command changes nothing"
    );
    lab.ok("dom0", lvm::lvcreate("XEN", "a", 1 << 30, &[], &[]));
    lab.sim.fail_next("drbdadm up", 2);
    let log = lab.sim.log();
    let last: Vec<(String, Option<i32>)> = log
        .iter()
        .rev()
        .take(3)
        .map(|e| (e.argv.join(" "), e.status))
        .collect();
    assert_eq!(
        last[1].1,
        Some(1),
        "the injected failure is logged: {last:?}"
    );
    assert_eq!(last[0].1, Some(0));
    lab.prepare();
    lab.ok("dom0", lvm::lvcreate("XEN", "dns", 10 << 30, &[], &[]));
    lab.ok("dom0", drbdcmd::create_md("dns"));
    lab.fails("dom0", drbdcmd::up("dns"), 1);
    lab.fails("dom0", drbdcmd::up("dns"), 1);
    lab.ok("dom0", drbdcmd::up("dns"));
}

#[test]
fn a_split_brain_leaves_both_sides_standalone_until_an_operator_resolves_it() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", argv(&["mkfs.ext4", "-q", "/dev/drbd0"]));
    lab.sim.split_brain("dns");
    let a = lab.ok("dom0", drbdcmd::cat_proc_drbd()).stdout;
    let b = lab.ok("dom0m", drbdcmd::cat_proc_drbd()).stdout;
    assert!(
        a.contains(" 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----"),
        "{a}"
    );
    assert!(
        b.contains(" 0: cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown   r-----"),
        "{b}"
    );
    for node in ["dom0", "dom0m"] {
        let s = lab.observe(node);
        let k = s.drbd.known().expect("drbd").resources["dns"]
            .kernel
            .clone()
            .expect("up");
        assert_eq!(k.peers[0].connection, ConnectionState::StandAlone);
        assert!(lab.view(node).drbd["dns"].split_brain);
    }
    // Connecting again finds the split brain again.
    lab.ok("dom0", drbdcmd::connect("dns"));
    lab.ok("dom0m", drbdcmd::connect("dns"));
    assert!(lab.view("dom0").drbd["dns"].split_brain, "still split");
    // The victim discards its data: the survivor's resyncs to it.
    let o = lab.fails("dom0", drbdcmd::connect_discard_my_data("dns"), 10);
    assert!(
        o.stderr
            .contains("(123) --discard-my-data not allowed when primary."),
        "{}",
        o.stderr
    );
    lab.ok("dom0m", drbdcmd::connect_discard_my_data("dns"));
    lab.ok("dom0", drbdcmd::connect("dns"));
    let v = lab.view("dom0m");
    assert_eq!(
        v.drbd["dns"].connection,
        xenflux::drivers::drbd::ConnState::Connected
    );
    assert_eq!(v.drbd["dns"].disk, DiskState::UpToDate);
    assert!(!v.drbd["dns"].split_brain);
    assert_eq!(
        v.lvs["dns"].fs.as_deref(),
        Some("ext4"),
        "the survivor's data"
    );
}

#[test]
fn a_crash_interrupts_a_batch_and_everything_after_until_recovery() {
    let lab = Lab::new("cluster-state");
    lab.sim.crash_after(2);
    let batch: Vec<Cmd> = ["a", "b", "c"]
        .iter()
        .map(|n| Cmd::new(lvm::lvcreate("XEN", n, 1 << 30, &[], &[])))
        .collect();
    assert!(lab.sim.run_batch("dom0", &batch).is_err());
    assert!(lab
        .sim
        .run_batch("dom0m", &[Cmd::new(lvm::vgs(None))])
        .is_err());
    lab.sim.recover();
    let lvs: Vec<String> = lab.view("dom0").lvs.into_keys().collect();
    assert_eq!(lvs, ["a", "b"], "the commands before the crash ran");
    lab.ok("dom0", lvm::lvcreate("XEN", "c", 1 << 30, &[], &[]));
}

/// A fixed command sequence over two nodes.
fn script(lab: &Lab) {
    lab.dns_primary_on_dom0();
    lab.volume("ovs");
    lab.ok("dom0", xl::create("/etc/xen/dns.cfg"));
    let ovs = format!("/dev/drbd{}", lab.minor("ovs"));
    lab.ok("dom0", drbdcmd::primary_force("ovs"));
    lab.ok("dom0", argv(&["mkfs.ocfs2", "-N", "4", "-L", "/OVS", &ovs]));
}

#[test]
fn the_same_commands_give_the_same_state_and_a_saved_cluster_loads_back() {
    let a = Lab::new("cluster-state");
    let b = Lab::new("cluster-state");
    script(&a);
    script(&b);
    assert_eq!(a.sim.to_json(), b.sim.to_json());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    a.sim.save(&path).expect("save");
    let loaded = SimCluster::load(&path).expect("load");
    assert_eq!(loaded.to_json(), a.sim.to_json());
    let cmd = Cmd::new(xl::list_long());
    assert_eq!(
        loaded.run("dom0", &cmd).expect("run"),
        a.sim.run("dom0", &cmd).expect("run")
    );
    assert_eq!(
        loaded.to_json(),
        a.sim.to_json(),
        "both logged the same command"
    );
    #[allow(clippy::disallowed_methods)]
    std::fs::write(&path, "{}").expect("write");
    assert!(SimCluster::load(&path)
        .unwrap_err()
        .to_string()
        .contains("not a simulated cluster"));
}

/// Every plan observes through the simulator and every command lands in its log: a saved
/// cluster keeps only the latest commands, so saving after each plan does not make the file
/// (and every later load and save) grow without end.
#[test]
fn a_saved_cluster_keeps_only_the_latest_commands_of_its_log() {
    let lab = Lab::new("cluster-state");
    let cmd = Cmd::new(xl::list_long());
    let batch = vec![cmd.clone(); 1000];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    let mut sizes = Vec::new();
    for _ in 0..3 {
        for _ in 0..(xenflux::sim::SAVED_LOG / 1000 + 1) {
            lab.sim.run_batch("dom0", &batch).expect("run");
        }
        lab.sim.save(&path).expect("save");
        sizes.push(std::fs::metadata(&path).expect("saved").len());
    }
    let loaded = SimCluster::load(&path).expect("load");
    let log = loaded.log();
    assert_eq!(log.len(), xenflux::sim::SAVED_LOG);
    assert_eq!(log.last().map(|e| e.argv.clone()), Some(cmd.argv));
    assert_eq!(sizes[1], sizes[2], "saving again does not grow the file");
}

/// Loading keeps each node's text: an observation (reads only) leaves the nodes as read, so
/// saving writes that text back; the first command that changes a node forgets it, and the
/// change is saved.
#[test]
fn reads_leave_the_loaded_nodes_as_read_and_a_change_is_saved() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    lab.sim.save(&path).expect("save");
    let loaded = SimCluster::load(&path).expect("load");
    assert!(!lab.sim.nodes_as_loaded(), "never loaded");
    assert!(loaded.nodes_as_loaded());
    let observed = xenflux::reconcile::observe_cluster(&lab.v, &loaded);
    assert_eq!(
        observed,
        xenflux::reconcile::observe_cluster(&lab.v, &lab.sim)
    );
    assert!(loaded.nodes_as_loaded(), "an observation only reads");
    loaded.save(&path).expect("save");
    let again = SimCluster::load(&path).expect("load");
    assert_eq!(again.to_json(), loaded.to_json(), "the text written back");

    // The file replaced since it was loaded: its nodes are not taken for the loaded ones.
    let other = Lab::new("cluster-state");
    other
        .sim
        .save(&path)
        .expect("save another cluster in its place");
    loaded.save(&path).expect("save");
    assert_eq!(
        SimCluster::load(&path).expect("load").to_json(),
        loaded.to_json(),
        "the loaded cluster's own nodes were written"
    );
    loaded.save(&path).expect("save again");

    let grow = lvm::lvcreate("XEN", "added", 1 << 30, &[], &[]);
    let out = again.run("dom0m", &Cmd::new(grow)).expect("run");
    assert_eq!(out.status, Some(0), "{}", out.stderr);
    assert!(!again.nodes_as_loaded(), "a change forgets the text");
    again.save(&path).expect("save");
    let changed = SimCluster::load(&path).expect("load");
    assert!(changed
        .node("dom0m")
        .expect("dom0m")
        .lvs
        .contains_key("added"));
    assert_eq!(changed.to_json(), again.to_json());
}

#[test]
fn a_drbd9_three_node_cluster_observes_through_drbdsetup_status_json() {
    let lab = Lab::new("examples/drbd9-three-node");
    lab.install_all();
    let nodes = ["xen1", "xen2", "xen3"];
    for node in nodes {
        let meta = lab.v.allocation.meta_lv_size[&name(node)].bytes();
        lab.ok(node, lvm::lvcreate("vg0", "meta", meta, &[], &[]));
    }
    lab.volume("db");
    let o = lab.ok("xen1", drbdcmd::dump_xml(None));
    assert!(
        o.stdout.contains("<connection>"),
        "DRBD 9 dump-xml lists the mesh: {}",
        o.stdout
    );
    lab.ok("xen1", drbdcmd::primary_force("db"));
    for node in nodes {
        let s = lab.observe(node);
        let d = s.drbd.known().expect("drbd known");
        let k = d.resources["db"].kernel.as_ref().expect("up");
        assert_eq!(k.disk, DiskState::UpToDate, "{node}");
        assert_eq!(
            k.role,
            if node == "xen1" {
                Role::Primary
            } else {
                Role::Secondary
            }
        );
        assert_eq!(
            k.peers.len(),
            2,
            "{node}: a connection to each of the other two"
        );
        assert!(k
            .peers
            .iter()
            .all(|p| p.connection == ConnectionState::Connected && p.disk == DiskState::UpToDate));
        let c = d.resources["db"].config.as_ref().expect("config");
        assert_eq!(c.node_ids.len(), 3, "node-ids from the .res");
    }
    let o = lab.fails("xen2", drbdcmd::primary("db"), 11);
    assert_eq!(o.stderr, "db: State change failed: (-1) Multiple primaries not allowed by config\nCommand 'drbdsetup primary db' terminated with exit code 11\n");
    assert_eq!(
        lab.ok("xen1", drbdcmd::cat_proc_drbd())
            .stdout
            .lines()
            .count(),
        3,
        "DRBD 9 lists no devices in /proc/drbd"
    );
}

/// drbdadm keeps what it last read of a node's configuration: a changed, broken or removed
/// file and a changed address are read again, never answered from what was read before.
#[test]
fn drbdadm_reads_the_configuration_again_after_any_change() {
    let lab = Lab::new("cluster-state");
    let dns = lab.files("dom0")["/etc/drbd.d/dns.res"].clone();
    let port = lab.port("dns");
    let dump = |lab: &Lab| lab.run("dom0", argv(&["drbdadm", "dump-xml"]));
    assert_eq!(dump(&lab).status, Some(0));
    lab.install("dom0", "/etc/drbd.d/dns.res", &dns);
    let first = dump(&lab);
    let at = |port: u16| format!("port=\"{port}\"");
    assert!(first.stdout.contains(&at(port)), "{}", first.stdout);
    assert_eq!(dump(&lab).stdout, first.stdout, "read twice, the same");

    let moved = dns.replace(&format!(":{port};"), ":7999;");
    assert_ne!(moved, dns);
    lab.install("dom0", "/etc/drbd.d/dns.res", &moved);
    let again = dump(&lab);
    assert!(again.stdout.contains(&at(7999)), "{}", again.stdout);
    assert!(!again.stdout.contains(&at(port)), "{}", again.stdout);

    lab.install("dom0", "/etc/drbd.d/zz.res", "resource zz {\n");
    assert_ne!(dump(&lab).status, Some(0), "a broken file is read");
    assert_eq!(
        lab.run("dom0", argv(&["rm", "-f", "/etc/drbd.d/zz.res"]))
            .status,
        Some(0)
    );
    assert_eq!(dump(&lab).status, Some(0), "and its removal too");

    // The host's own address is checked against its `on` section: taking it away is seen.
    let ip = lab.v.desired.nodes[&name("dom0")].address.to_string();
    let addrs = lab.run("dom0", argv(&["ip", "-j", "addr", "show"]));
    let dev = addrs
        .stdout
        .split("\"ifname\":\"")
        .skip(1)
        .find(|s| {
            let end = s.find("\"ifname\"").unwrap_or(s.len());
            s[..end].contains(&format!("\"local\":\"{ip}\""))
        })
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no link holds {ip}: {}", addrs.stdout))
        .to_string();
    let del = lab.run(
        "dom0",
        argv(&["ip", "addr", "del", &format!("{ip}/24"), "dev", &dev]),
    );
    assert_eq!(del.status, Some(0), "{del:?}");
    let gone = dump(&lab);
    assert_ne!(gone.status, Some(0), "{gone:?}");
}
