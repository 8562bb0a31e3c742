#![allow(clippy::disallowed_methods)]
//! `xenflux import` on the simulated cluster: the example state applied and imported back (a
//! round trip whose first plan changes nothing disruptive and whose documents match the
//! original), a cluster built by hand with the tools (odd port, non-zero meta slot, a meta LV
//! of another name, untagged LVs, an xl key xenflux does not model), and the refusals: a node
//! that cannot be observed, an output directory that is not empty.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use xenflux::drivers::{drbd, lvm, net, xl};
use xenflux::sim::{SimCluster, SimOptions};
use xenflux::transport::Cmd;
use xenflux::validate::Validated;

use common::sshnode::{SshClient, SshNode, SshNodeOptions};
use common::Output;

fn xenflux(state_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xenflux"));
    cmd.arg("--state-dir").arg(state_dir).args(args);
    common::run(&mut cmd)
}

/// `xenflux import --node N… --out OUT` on the simulated cluster of `sd`.
fn import(sd: &Path, out: &Path, nodes: &[&str]) -> Output {
    let mut args = vec!["import"];
    for n in nodes {
        args.extend(["--node", n]);
    }
    args.extend(["--out", out.to_str().expect("utf-8 path")]);
    xenflux(sd, &args)
}

fn example() -> String {
    common::repo_root()
        .join("cluster-state")
        .display()
        .to_string()
}

/// Applies `state` to the simulated cluster of `sd` until its plan is empty.
fn converge(sd: &Path, state: &str) {
    for _ in 0..4 {
        let _ = xenflux(sd, &["--state", state, "apply", "--yes"]);
        if xenflux(sd, &["--state", state, "plan"]).code == Some(0) {
            return;
        }
    }
    panic!(
        "{state} does not converge:\n{}",
        xenflux(sd, &["--state", state, "plan"])
    );
}

/// Action kinds a first plan of an imported state may hold: rewriting a config file in
/// xenflux's format, DRBD re-reading it, and tagging a hand-made LV as xenflux's. Anything else
/// creates, destroys, restarts, re-initialises or re-wires something.
const HARMLESS: &[&str] = &["write-file", "adjust", "adopt-lv"];

/// The action kinds of `plan --format json` for `state` (nothing may be blocked).
fn plan_actions(sd: &Path, state: &str) -> Vec<String> {
    let (kinds, blocked) = plan_json(sd, state);
    assert!(blocked.is_empty(), "blocked: {blocked:?}");
    kinds
}

/// The action kinds and the blocked reasons of `plan --format json` for `state`.
fn plan_json(sd: &Path, state: &str) -> (Vec<String>, Vec<String>) {
    let out = xenflux(sd, &["--state", state, "plan", "--format", "json"]);
    assert!(matches!(out.code, Some(0 | 2)), "{out}");
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    let mut kinds = Vec::new();
    for stage in plan["stages"].as_array().expect("stages") {
        for a in stage["actions"].as_array().expect("actions") {
            kinds.push(format!(
                "{} on {}",
                a["action"].as_str().expect("kind"),
                a["node"].as_str().unwrap_or("?")
            ));
        }
    }
    let blocked = plan["blocked"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|x| format!("{}: {}", x["object"], x["reason"]))
                .collect()
        })
        .unwrap_or_default();
    (kinds, blocked)
}

fn assert_harmless(kinds: &[String]) {
    let bad: Vec<&String> = kinds
        .iter()
        .filter(|k| !HARMLESS.contains(&k.split(' ').next().unwrap_or("")))
        .collect();
    assert!(
        bad.is_empty(),
        "disruptive first plan: {bad:?} (all: {kinds:?})"
    );
}

fn validated(dir: &str) -> Validated {
    let sources = xenflux::load::from_dir(Path::new(dir)).expect("load");
    xenflux::validate::validate(&sources, &Default::default())
        .unwrap_or_else(|d| panic!("{dir} does not validate: {d:#?}"))
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

#[test]
fn the_example_cluster_round_trips_through_import() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    converge(&sd, &example());
    let out = dir.path().join("out");
    let o = xenflux(
        &sd,
        &[
            "import",
            "--target",
            "sim",
            "--node",
            "dom0",
            "--node",
            "dom0m",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .expect_ok();
    assert!(o.stdout.contains("4 volume(s), 3 domain(s)"), "{o}");
    // import planned it itself before writing.
    assert!(
        o.stdout.contains(
            "first plan: nothing but config files in xenflux's format (0 object(s) blocked"
        ),
        "{o}"
    );
    let out_s = out.to_str().unwrap();
    xenflux(&sd, &["--state", out_s, "validate"]).expect_ok();

    // The first plan is not disruptive; applying it leaves nothing to do.
    assert_harmless(&plan_actions(&sd, out_s));
    xenflux(&sd, &["--state", out_s, "apply", "--yes"]).expect_ok();
    let again = xenflux(&sd, &["--state", out_s, "plan"]);
    assert_eq!(again.code, Some(0), "{again}");

    // Same objects, same allocations as the original.
    let orig = validated(&example());
    let imp = validated(out_s);
    let (od, id) = (&orig.desired, &imp.desired);
    assert_eq!(
        od.volumes.keys().collect::<Vec<_>>(),
        id.volumes.keys().collect::<Vec<_>>()
    );
    // The original's allocation is what the cluster got: compare with the imported pins.
    let sim_alloc = &orig.allocation;
    for (name, v) in &id.volumes {
        let o = &od.volumes[name];
        let a = &sim_alloc.volumes[name];
        assert_eq!(v.minor, Some(a.minor.value), "{name} minor");
        assert_eq!(v.port, Some(a.port.value), "{name} port");
        match a.meta {
            xenflux::alloc::MetaAlloc::Indexed { index, .. } => {
                assert_eq!(v.meta_index, Some(index), "{name} meta slot")
            }
            _ => panic!("{name}: the example uses indexed meta-data"),
        }
        assert_eq!(v.size, o.size, "{name} size");
        assert_eq!(v.nodes, o.nodes, "{name} nodes");
        assert_eq!(v.dual_primary, o.dual_primary, "{name} dual-primary");
        assert_eq!(v.filesystem, o.filesystem, "{name} filesystem");
        assert_eq!(id.sync_rate(v), od.sync_rate(o), "{name} sync rate");
        assert_eq!(id.protocol(v), od.protocol(o), "{name} protocol");
    }
    assert_eq!(
        od.domains.keys().collect::<Vec<_>>(),
        id.domains.keys().collect::<Vec<_>>()
    );
    for (name, d) in &id.domains {
        let o = &od.domains[name];
        assert_eq!(d.node, o.node, "{name} node");
        assert_eq!(d.state, o.state, "{name} state");
        assert_eq!(d.memory, o.memory, "{name} memory");
        assert_eq!(d.vcpus, o.vcpus, "{name} vcpus");
        assert_eq!(
            (&d.bootloader, &d.kernel, &d.ramdisk, &d.root, &d.extra),
            (&o.bootloader, &o.kernel, &o.ramdisk, &o.root, &o.extra),
            "{name} boot"
        );
        assert_eq!(d.disks, o.disks, "{name} disks");
        let macs: Vec<_> = orig.allocation.macs[name].iter().map(|m| m.value).collect();
        let got: Vec<_> = d.nics.iter().map(|n| n.mac.expect("pinned MAC")).collect();
        assert_eq!(got, macs, "{name} MACs");
        let bridges: Vec<_> = d.nics.iter().map(|n| &n.bridge).collect();
        let want: Vec<_> = o.nics.iter().map(|n| &n.bridge).collect();
        assert_eq!(bridges, want, "{name} bridges");
    }
    for (name, n) in &id.nodes {
        let o = &od.nodes[name];
        assert_eq!(
            (n.address, &n.volume_group, &n.meta_volume),
            (o.address, &o.volume_group, &o.meta_volume),
            "node {name}"
        );
    }
    assert_eq!(od.nodes.len(), id.nodes.len());
    // Memory for domains, as Xen counts it: what is free plus what the domains there hold.
    for (name, n) in &id.nodes {
        let held: u64 = id
            .domains
            .values()
            .filter(|d| &d.node == name && d.state == xenflux::model::DomainState::Running)
            .map(|d| d.memory.bytes())
            .sum();
        let m = n
            .memory
            .unwrap_or_else(|| panic!("node {name}: no memory imported"));
        assert!(
            m.bytes() > held,
            "node {name}: {m} for domains holding {held} B"
        );
    }
    assert_eq!(id.bonds, od.bonds);
    assert_eq!(id.bridges, od.bridges);
    let (oc, ic) = (&od.ocfs2, &id.ocfs2);
    assert_eq!(oc.keys().collect::<Vec<_>>(), ic.keys().collect::<Vec<_>>());
    for (c, spec) in ic {
        let o = &oc[c];
        assert_eq!(
            (&spec.nodes, spec.port, &spec.heartbeat),
            (&o.nodes, o.port, &o.heartbeat)
        );
        let fs: Vec<_> = spec
            .filesystems
            .iter()
            .map(|f| (&f.name, &f.volume, &f.label, &f.mountpoint, f.slots))
            .collect();
        let ofs: Vec<_> = o
            .filesystems
            .iter()
            .map(|f| (&f.name, &f.volume, &f.label, &f.mountpoint, f.slots))
            .collect();
        assert_eq!(fs, ofs);
    }
    // The slot counts were read from the filesystems (tunefs.ocfs2 -Q), not guessed.
    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).expect("notes");
    assert!(!notes.contains("slot count"), "{notes}");
}

#[test]
fn a_node_that_cannot_be_observed_refuses_and_writes_nothing() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    converge(&sd, &example());
    xenflux(&sd, &["--state", &example(), "sim", "fail-node", "dom0m"]).expect_ok();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = import(&sd, &out, &["dom0", "dom0m"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("node `dom0m`"), "{o}");
    assert!(is_empty_dir(&out), "something was written");

    // One part unknown is enough: the refusal names the node, the part and the command.
    xenflux(
        &sd,
        &["--state", &example(), "sim", "fail-node", "dom0m", "--up"],
    )
    .expect_ok();
    xenflux(&sd, &["--state", &example(), "sim", "fail-next", "lvs"]).expect_ok();
    let o = import(&sd, &out, &["dom0", "dom0m"]);
    assert_eq!(o.code, Some(1), "{o}");
    // The nodes are read at once: the one failure lands on whichever asked first.
    assert!(
        ["dom0", "dom0m"].iter().any(|n| o
            .stderr
            .contains(&format!("node `{n}`: LVM could not be observed"))),
        "{o}"
    );
    assert!(o.stderr.contains("`lvs "), "{o}");
    assert!(is_empty_dir(&out), "something was written");

    // A volume replicated to a node not named cannot be written: refused.
    let o = xenflux(
        &sd,
        &["import", "--node", "dom0", "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("not among the nodes imported"), "{o}");
    assert!(is_empty_dir(&out), "something was written");

    // Every node's refusal is shown at once; a node named twice is one of them.
    xenflux(&sd, &["--state", &example(), "sim", "fail-node", "dom0m"]).expect_ok();
    let o = xenflux(
        &sd,
        &[
            "import",
            "--node",
            "dom0",
            "--node",
            "dom0m",
            "--node",
            "nosuch",
            "--node",
            "dom0",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(1), "{o}");
    for want in [
        "node `dom0m`",
        "node `nosuch`",
        "`dom0` and `dom0` are the same node",
    ] {
        assert!(o.stderr.contains(want), "{want}: {o}");
    }
    assert!(is_empty_dir(&out), "something was written");
    xenflux(
        &sd,
        &["--state", &example(), "sim", "fail-node", "dom0m", "--up"],
    )
    .expect_ok();

    // A node the simulated cluster does not have is refused the same way.
    let o = xenflux(
        &sd,
        &["import", "--node", "nosuch", "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("node `nosuch`"), "{o}");
    assert!(is_empty_dir(&out));
}

#[test]
fn an_output_directory_that_is_not_empty_is_refused() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    converge(&sd, &example());
    let out = dir.path().join("out");
    common::write(&out, "mine.yaml", "keep me\n");
    let o = import(&sd, &out, &["dom0", "dom0m"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("is not empty"), "{o}");
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["mine.yaml"]);
    assert_eq!(
        std::fs::read_to_string(out.join("mine.yaml")).unwrap(),
        "keep me\n"
    );
    // A file in place of the directory, too.
    let file = dir.path().join("file");
    common::write(dir.path(), "file", "x");
    let o = xenflux(
        &sd,
        &["import", "--node", "dom0", "--out", file.to_str().unwrap()],
    );
    assert_eq!(o.code, Some(1), "{o}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

fn run(sim: &SimCluster, node: &str, argv: Vec<String>) {
    let o = sim.run(node, &Cmd::new(argv.clone())).expect("reachable");
    assert!(o.success(), "{argv:?} on {node}: {o:?}");
}

fn install(sim: &SimCluster, node: &str, path: &str, text: &str) {
    let o = sim
        .run(
            node,
            &Cmd::new(xenflux::drivers::files::install_stdin(path)).with_stdin(text),
        )
        .expect("reachable");
    assert!(o.success(), "install {path}: {o:?}");
}

const WEB_RES: &str = "\
resource web {
  net {
    protocol C;
  }
  on dom0 {
    device /dev/drbd7 minor 7;
    disk /dev/XEN/web;
    address 192.168.1.190:7915;
    meta-disk /dev/XEN/md[5];
  }
  on dom0m {
    device /dev/drbd7 minor 7;
    disk /dev/XEN/web;
    address 192.168.1.191:7915;
    meta-disk /dev/XEN/md[5];
  }
}
";

const WEB_CFG: &str = "\
name = 'web'
memory = 1024
vcpus = 2
bootloader = 'pygrub'
cpu_weight = 512
disk = [ 'phy:/dev/drbd7,xvda,w' ]
vif = [ 'mac=00:16:3e:5a:00:07,bridge=xenbr0' ]
";

const LEGACY_CFG: &str = "\
name = 'legacy'
memory = 256
bootloader = 'pygrub'
disk = [ 'phy:/dev/XEN/legacy,xvda,w' ]
vif = [ 'mac=00:16:3e:5a:00:08,bridge=xenbr0' ]
";

const ODD_CFG: &str = "\
name = 'odd'
memory = 128
kernel = '/boot/vmlinuz'
vif = [ 'mac=52:54:00:12:34:56,bridge=xenbr0' ]
";

const SPARE_CFG: &str = "\
name = 'spare'
memory = 256
kernel = '/boot/vmlinuz'
vif = [ 'mac=00:16:3e:5a:00:09,bridge=xenbr0' ]
";

/// Two dom0s set up by hand with the tools, as an operator did before xenflux: no tags, a meta
/// LV called `md`, slot 5, port 7915, minor 7, a domain config with a key xenflux does not
/// model.
fn hand_built(sd: &Path) {
    hand_built_with(sd, WEB_RES, "web");
}

/// [`hand_built`] with another resource file whose backing LV is `lv`.
fn hand_built_with(sd: &Path, res: &str, lv: &str) {
    let v = validated(&example());
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    for node in ["dom0", "dom0m"] {
        run(&sim, node, lvm::lvcreate("XEN", lv, 4 << 30, &[], &[]));
        run(&sim, node, lvm::lvcreate("XEN", "md", 1 << 30, &[], &[]));
        run(&sim, node, net::bridge_add("xenbr0", true, 400));
        run(&sim, node, net::link_set_up("xenbr0"));
        install(&sim, node, "/etc/drbd.d/web.res", res);
        run(&sim, node, drbd::create_md("web"));
        run(&sim, node, drbd::up("web"));
        install(&sim, node, "/etc/xen/web.cfg", WEB_CFG);
    }
    run(&sim, "dom0", drbd::primary_force("web"));
    run(&sim, "dom0", xl::create("/etc/xen/web.cfg"));
    // A domain on a plain LV, as many were before DRBD: xenflux cannot say it.
    run(
        &sim,
        "dom0m",
        lvm::lvcreate("XEN", "legacy", 1 << 30, &[], &[]),
    );
    install(&sim, "dom0m", "/etc/xen/legacy.cfg", LEGACY_CFG);
    run(&sim, "dom0m", xl::create("/etc/xen/legacy.cfg"));
    // Stopped domains: one with a MAC outside Xen's range, one whose file has another name.
    install(&sim, "dom0", "/etc/xen/odd.cfg", ODD_CFG);
    install(&sim, "dom0m", "/etc/xen/old-spare.cfg", SPARE_CFG);
    std::fs::create_dir_all(sd).unwrap();
    sim.save(&sd.join("sim.json")).expect("save");
}

#[test]
fn a_hand_built_cluster_is_imported_with_its_allocations_and_notes() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    hand_built(&sd);
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    import(&sd, &out, &["dom0", "dom0m"]).expect_ok();
    xenflux(&sd, &["--state", out_s, "validate"]).expect_ok();
    let imp = validated(out_s);
    let d = &imp.desired;
    let web = &d.volumes["web"];
    assert_eq!(
        (web.minor, web.port, web.meta_index, web.size.bytes()),
        (Some(7), Some(7915), Some(5), 4 << 30)
    );
    let dom0 = &d.nodes["dom0"];
    assert_eq!(dom0.meta_volume.as_str(), "md");
    assert_eq!(dom0.address.to_string(), "192.168.1.190");
    let dom = &d.domains["web"];
    assert_eq!(dom.node.as_str(), "dom0");
    assert_eq!(dom.nics[0].mac.unwrap().to_string(), "00:16:3e:5a:00:07");
    assert_eq!(dom.memory.bytes(), 1 << 30);

    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).unwrap();
    assert!(notes.contains("## Domain/web"), "{notes}");
    // The first plan neither blocks nor runs anything to note.
    assert!(!notes.contains("## First plan"), "{notes}");
    assert!(notes.contains("`cpu_weight = 512`"), "{notes}");
    assert!(
        notes.contains("disk `phy:/dev/XEN/legacy,xvda,w` is not on a DRBD volume"),
        "{notes}"
    );
    assert!(!d.domains.contains_key("legacy"));
    assert!(
        notes.contains("MAC 52:54:00:12:34:56 is outside Xen's range"),
        "{notes}"
    );
    assert!(!d.domains.contains_key("odd"));
    let spare = &d.domains["spare"];
    assert_eq!(
        (spare.node.as_str(), spare.state),
        ("dom0m", xenflux::model::DomainState::Stopped)
    );
    assert!(
        notes.contains("its config is /etc/xen/old-spare.cfg"),
        "{notes}"
    );
    let domains = std::fs::read_to_string(out.join("domains.yaml")).unwrap();
    assert!(
        domains.contains("# import: xl cfg key `cpu_weight = 512` is not modelled"),
        "{domains}"
    );

    // The LVs were made by hand: the volume says `adopt`, and the first plan tags them — on
    // both nodes, where resource web runs attached to them — and does nothing else to them.
    assert!(web.adopt);
    assert!(
        notes.contains("LV XEN/web on dom0m has no `xenflux` tag"),
        "{notes}"
    );
    let kinds = plan_actions(&sd, out_s);
    assert_harmless(&kinds);
    for node in ["dom0", "dom0m"] {
        assert!(kinds.contains(&format!("adopt-lv on {node}")), "{kinds:?}");
    }
    xenflux(&sd, &["--state", out_s, "apply", "--yes"]).expect_ok();
    let again = xenflux(&sd, &["--state", out_s, "plan"]);
    assert_eq!(again.code, Some(0), "{again}");
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    for node in ["dom0", "dom0m"] {
        let o = sim
            .run(node, &Cmd::new(lvm::lvs(Some("XEN/web"))))
            .expect("lvs");
        let tags = match lvm::lvs_result(&o.stdout, &o.stderr, o.status.unwrap_or(-1)) {
            Ok(lvm::Lookup::Found(l)) if l.len() == 1 => l[0].tags.clone(),
            other => panic!("lvs XEN/web on {node}: {other:?}"),
        };
        assert_eq!(tags, ["xenflux", "xenflux-md"], "{node}: {o:?}");
    }
    // Nothing was re-created: the same LVs, the domain still on dom0.
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    let running: BTreeSet<String> = sim
        .node("dom0")
        .map(|v| v.domains.keys().cloned().collect())
        .unwrap_or_default();
    assert!(running.contains("web"), "{running:?}");
    // The domain xenflux could not import runs on, untouched.
    let legacy: BTreeSet<String> = sim
        .node("dom0m")
        .map(|v| v.domains.keys().cloned().collect())
        .unwrap_or_default();
    assert!(legacy.contains("legacy"), "{legacy:?}");
}

#[test]
fn a_layout_xenflux_cannot_say_is_refused_naming_node_and_resource() {
    // The backing LV is not named after its resource: xenflux would look for /dev/XEN/web.
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    hand_built_with(
        &sd,
        &WEB_RES.replace("/dev/XEN/web;", "/dev/XEN/web-data;"),
        "web-data",
    );
    let out = dir.path().join("out");
    let o = import(&sd, &out, &["dom0", "dom0m"]);
    assert_eq!(o.code, Some(1), "{o}");
    // Every refusal at once: both ends say it.
    for node in ["dom0", "dom0m"] {
        let want = format!("node `{node}`: DRBD resource `web` has disk /dev/XEN/web-data");
        assert!(o.stderr.contains(&want), "{o}");
    }
    assert!(!out.exists(), "something was written");
}

#[test]
fn the_simulator_lists_directories_and_names_its_hosts_as_a_real_node_does() {
    let v = validated(&example());
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    install(&sim, "dom0", "/etc/xen/a.cfg", "name = 'a'\n");
    install(&sim, "dom0", "/etc/xen/auto/a.cfg", "name = 'a'\n");
    let ls = |node: &str, dir: &str| {
        sim.run(node, &Cmd::new(xenflux::drivers::files::ls(dir)))
            .expect("reachable")
    };
    let o = ls("dom0", "/etc/xen");
    assert_eq!((o.status, o.stdout.as_str()), (Some(0), "a.cfg\nauto\n"));
    let o = ls("dom0m", "/etc/xen");
    assert_eq!((o.status, o.stdout.as_str()), (Some(0), ""), "{o:?}");
    let o = ls("dom0m", "/etc/nosuch");
    assert_eq!(o.status, Some(2), "{o:?}");
    assert_eq!(
        o.stderr,
        "ls: cannot access '/etc/nosuch': No such file or directory\n"
    );
    let o = sim
        .run("dom0m", &Cmd::new(xenflux::drivers::files::hostname()))
        .expect("reachable");
    assert_eq!(o.stdout, "dom0m\n");
}

/// Over real SSH (a namespace with its own sshd, 10.200.47/24): the destination is parsed as
/// the operator typed it, the node is read through the ssh transport, and a node that is no
/// Xen dom0 (no `xl` here) is refused with the node, the part and the command, nothing written.
#[test]
fn over_ssh_a_node_that_cannot_be_observed_completely_is_refused() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "import", 47, &SshNodeOptions::default());
    let dir = common::scratch();
    let out = dir.path().join("out");
    let dest = format!("root@{}:22", node.address);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xenflux"));
    cmd.arg("--state-dir")
        .arg(dir.path().join("sd"))
        .arg("--ssh-config")
        .arg(&client.config)
        .args(["import", "--target", "ssh", "--node", &dest, "--out"])
        .arg(&out);
    let o = common::run(&mut cmd);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains(&format!("node `{dest}`")), "{o}");
    assert!(o.stderr.contains("could not be observed"), "{o}");
    assert!(!out.exists(), "something was written");
    assert!(
        node.sessions() > 0,
        "the node was asked:\n{}",
        node.log_text()
    );
}

/// `--target local` reads this machine, which is no Xen dom0 (no `xl` without a hypervisor):
/// refused, naming the part, nothing written.
#[test]
fn this_machine_without_xen_is_refused() {
    let dir = common::scratch();
    let out = dir.path().join("out");
    let o = xenflux(
        &dir.path().join("sd"),
        &[
            "import",
            "--target",
            "local",
            "--node",
            "here",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    if o.code == Some(0) {
        // A real dom0 with every tool: then the import must have written a valid state.
        xenflux(dir.path(), &["--state", out.to_str().unwrap(), "validate"]).expect_ok();
        return;
    }
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("node `here`: "), "{o}");
    assert!(o.stderr.contains("could not be observed"), "{o}");
    assert!(!out.exists(), "something was written");
    // One node only: this machine is one node.
    let o = xenflux(
        &dir.path().join("sd"),
        &[
            "import",
            "--target",
            "local",
            "--node",
            "a",
            "--node",
            "b",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("exactly one --node"), "{o}");
}

/// Backing LVs of different sizes on the two ends: the larger is written, so the first plan
/// would grow the smaller one — import says so before anything is applied (a warning, and
/// "First plan" in IMPORT-NOTES.md), rather than leaving it to be found in the plan.
#[test]
fn a_first_plan_that_would_do_more_than_rewrite_files_is_announced() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    hand_built(&sd);
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    run(&sim, "dom0m", lvm::lvextend("XEN", "web", 5 << 30, &[]));
    // Handed over already, so nothing blocks the volume.
    for node in ["dom0", "dom0m"] {
        run(&sim, node, lvm::lvchange_addtag("XEN", "web", "xenflux"));
    }
    sim.save(&sd.join("sim.json")).expect("save");
    let out = dir.path().join("out");
    let o = import(&sd, &out, &["dom0", "dom0m"]).expect_ok();
    assert!(
        o.stderr.contains("warning: the first plan would run"),
        "{o}"
    );
    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).unwrap();
    assert!(notes.contains("backing LVs differ in size"), "{notes}");
    assert!(notes.contains("- would run "), "{notes}");
}

/// Imports the hand-built cluster of `sd` into `out`, returning its volumes.yaml.
fn import_hand_built(sd: &Path, out: &Path) -> String {
    let o = import(sd, out, &["dom0", "dom0m"]);
    assert_eq!(o.code, Some(0), "{o}");
    std::fs::read_to_string(out.join("volumes.yaml")).unwrap()
}

/// `adopt` takes a hand-made LV only where the running resource proves it is the volume's:
/// not without `adopt`, not where the resource is down; and a
/// resource defined in a file of the operator's own naming is never defined twice.
#[test]
fn adoption_takes_only_what_the_running_resource_proves() {
    let blocked_with = |sd: &Path, out: &Path, want: &str| {
        let (kinds, blocked) = plan_json(sd, out.to_str().unwrap());
        assert!(
            !kinds.iter().any(|k| k.starts_with("adopt-lv")),
            "{kinds:?}"
        );
        assert!(
            blocked
                .iter()
                .any(|b| b.contains("Volume/web") && b.contains(want)),
            "want `{want}` in {blocked:?}"
        );
    };
    let dir = common::scratch();

    // Down on one node: nothing is taken on either.
    let sd = dir.path().join("down");
    hand_built(&sd);
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    run(&sim, "dom0m", drbd::down("web"));
    sim.save(&sd.join("sim.json")).expect("save");
    let out = dir.path().join("down-out");
    import_hand_built(&sd, &out);
    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).unwrap();
    assert!(notes.contains("- blocks Volume/web: "), "{notes}");
    blocked_with(
        &sd,
        &out,
        "`adopt: true` does not take it: DRBD resource web is not up on dom0m",
    );
    // Brought up again, it is adopted.
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    run(&sim, "dom0m", drbd::up("web"));
    sim.save(&sd.join("sim.json")).expect("save");
    let kinds = plan_actions(&sd, out.to_str().unwrap());
    assert!(
        kinds.contains(&"adopt-lv on dom0m".to_string()),
        "{kinds:?}"
    );

    // Without `adopt`, the LV is not taken, and the reason says how to hand it over.
    let sd = dir.path().join("plain");
    hand_built(&sd);
    let out = dir.path().join("plain-out");
    let volumes = import_hand_built(&sd, &out);
    assert!(volumes.contains("adopt: true"), "{volumes}");
    xenflux::fsutil::write_atomic(
        &out.join("volumes.yaml"),
        volumes.replace("adopt: true", "").as_bytes(),
    )
    .unwrap();
    blocked_with(&sd, &out, "say `adopt: true` in the volume");

    // Defined in a file of another name: xenflux's own file would define it twice.
    let sd = dir.path().join("r0");
    hand_built(&sd);
    let sim = SimCluster::load(&sd.join("sim.json")).expect("sim");
    for node in ["dom0", "dom0m"] {
        install(&sim, node, "/etc/drbd.d/r0.res", WEB_RES);
        run(
            &sim,
            node,
            xenflux::drivers::files::remove("/etc/drbd.d/web.res"),
        );
    }
    sim.save(&sd.join("sim.json")).expect("save");
    let out = dir.path().join("r0-out");
    import_hand_built(&sd, &out);
    blocked_with(
        &sd,
        &out,
        "is defined in /etc/drbd.d/r0.res, and xenflux writes it to /etc/drbd.d/web.res",
    );
}

/// DRBD 9 (a three-node mesh and a pair, node-ids): applied, imported back with its three
/// nodes, planned to nothing disruptive, applied to an empty plan, with the same allocations.
#[test]
fn a_drbd9_three_node_cluster_round_trips_through_import() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    let state = common::repo_root()
        .join("examples/drbd9-three-node")
        .display()
        .to_string();
    converge(&sd, &state);
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    xenflux(
        &sd,
        &[
            "import", "--node", "xen1", "--node", "xen2", "--node", "xen3", "--out", out_s,
        ],
    )
    .expect_ok();
    let cluster = std::fs::read_to_string(out.join("cluster.yaml")).unwrap();
    assert!(
        cluster.contains("version: '9'") || cluster.contains("version: \"9\""),
        "{cluster}"
    );
    assert_harmless(&plan_actions(&sd, out_s));
    xenflux(&sd, &["--state", out_s, "apply", "--yes"]).expect_ok();
    let again = xenflux(&sd, &["--state", out_s, "plan"]);
    assert_eq!(again.code, Some(0), "{again}");
    let (orig, imp) = (validated(&state), validated(out_s));
    for (name, a) in &orig.allocation.volumes {
        let v = &imp.desired.volumes[name];
        assert_eq!(
            (v.minor, v.port, &v.nodes),
            (
                Some(a.minor.value),
                Some(a.port.value),
                &orig.desired.volumes[name].nodes
            ),
            "{name}"
        );
        assert_eq!(
            imp.allocation.volumes[name].node_ids, a.node_ids,
            "{name} node-ids"
        );
    }
    assert_eq!(
        imp.desired.domains.keys().collect::<Vec<_>>(),
        orig.desired.domains.keys().collect::<Vec<_>>()
    );
}

/// A resync rate under DRBD's dynamic controller is said to change in the kernel on the first
/// adjust (xenflux writes a fixed rate), never silently.
#[test]
fn a_rate_under_the_dynamic_resync_controller_is_noted() {
    let dir = common::scratch();
    let sd = dir.path().join("sd");
    hand_built_with(
        &sd,
        &WEB_RES.replace(
            "    protocol C;\n  }\n",
            "    protocol C;\n  }\n  disk {\n    resync-rate 20M;\n  }\n",
        ),
        "web",
    );
    let out = dir.path().join("out");
    import_hand_built(&sd, &out);
    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).unwrap();
    assert!(
        notes.contains(
            "with the dynamic resync controller on (c-plan-ahead unset, DRBD's default 20)"
        ),
        "{notes}"
    );
    // The only resource's rate becomes the cluster's default.
    let cluster = std::fs::read_to_string(out.join("cluster.yaml")).unwrap();
    assert!(cluster.contains("syncRate: 20M"), "{cluster}");
}

/// Flexible and internal meta-data (no meta slot to pin) come back as such, and plan to
/// nothing disruptive.
#[test]
fn flexible_and_internal_meta_data_round_trip_through_import() {
    let dir = common::scratch();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    for e in std::fs::read_dir(example()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, state.join(p.file_name().unwrap())).unwrap();
    }
    let volumes = state.join("volumes.yaml");
    let mut text = std::fs::read_to_string(&volumes).unwrap();
    for (name, meta) in [("flex", "flexible"), ("intl", "internal")] {
        text.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: {name}\nspec:\n  size: 1GiB\n  nodes: [dom0, dom0m]\n  meta: {meta}\n"
        ));
    }
    xenflux::fsutil::write_atomic(&volumes, text.as_bytes()).unwrap();
    let sd = dir.path().join("sd");
    let state_s = state.to_str().unwrap();
    converge(&sd, state_s);
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    import(&sd, &out, &["dom0", "dom0m"]).expect_ok();
    let imp = validated(out_s);
    let kind = |n: &str| {
        (
            imp.desired.volumes[n].meta,
            imp.desired.volumes[n].meta_index,
        )
    };
    assert_eq!(kind("flex"), (xenflux::model::MetaKind::Flexible, None));
    assert_eq!(kind("intl"), (xenflux::model::MetaKind::Internal, None));
    assert_harmless(&plan_actions(&sd, out_s));
    xenflux(&sd, &["--state", out_s, "apply", "--yes"]).expect_ok();
    let again = xenflux(&sd, &["--state", out_s, "plan"]);
    assert_eq!(again.code, Some(0), "{again}");
}
