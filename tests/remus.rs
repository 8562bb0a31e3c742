#![allow(clippy::disallowed_methods)]
//! Remus protection of a domain (`protection: {mode: remus}`) on the simulated lab cluster
//! (`examples/lab`, its fences pointed at the simulator's power control): protection starts
//! and is seen as the shadow `dns--incoming` on the peer; the protected node's plug is pulled
//! and the shadow takes over on the survivor by itself — xenflux fences the dead node, starts
//! no second copy, and reports the domain unprotected since then, waiting for the dead node;
//! the node comes back and resyncs, and protection is re-armed in the other direction; the
//! next plan is empty. Also: stopping protection destroys the shadow first (the domain keeps
//! running where it is), and what the simulator's `xl remus` refuses.

use std::path::{Path, PathBuf};
use std::process::Command;

use xenflux::sim::SimCluster;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

const PROTECTION: &str =
    "  protection: {mode: remus, interval: 200ms, networkBuffering: false, diskReplication: none}\n";

/// `examples/lab` into `to`.
fn copy_example(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/lab");
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// `examples/lab` with `dns` dual-primary and protected, failback `failback`, each node
    /// fenced by `xenflux sim power NODE off`; applied until the plan is empty.
    fn new(failback: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        copy_example(&dir.path().join("state"));
        let lab = Lab { dir };
        for node in ["nodea", "nodeb"] {
            let agent = |action: &str| {
                format!(
                    "[{BIN}, --state, {}, --state-dir, {}, sim, power, {node}, {action}]",
                    lab.state().display(),
                    lab.state_dir().display()
                )
            };
            lab.edit(
                "cluster.yaml",
                &format!(
                    "fence: {{command: [xenflux, lab, fence, {node}], status: [xenflux, lab, power-status, {node}], timeout: 60s}}"
                ),
                &format!(
                    "fence: {{command: {}, status: {}, timeout: 60s}}",
                    agent("off"),
                    agent("status")
                ),
            );
        }
        lab.edit(
            "cluster.yaml",
            "failback: auto",
            &format!("failback: {failback}"),
        );
        lab.edit(
            "volumes.yaml",
            "  size: 64MiB\n  nodes: [nodea, nodeb]\n",
            "  size: 64MiB\n  nodes: [nodea, nodeb]\n  dualPrimary: true\n",
        );
        lab.edit(
            "domains.yaml",
            "    - {bridge: xenbr0}\n",
            &format!("    - {{bridge: xenbr0}}\n{PROTECTION}"),
        );
        lab.converge("the protected lab");
        lab
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("x")
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.state().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{file}: {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .current_dir(self.dir.path())
            .arg("--state")
            .arg(self.state())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    }

    /// Applies until the plan is empty (a fresh pair needs its initial sync first).
    fn converge(&self, what: &str) {
        for _ in 0..6 {
            let (code, _, _) = self.run(&["plan"]);
            if code == 0 {
                return;
            }
            self.run(&["apply", "--yes"]);
        }
        let (_, out, err) = self.run(&["plan"]);
        panic!("{what}: not converged after 6 applies:\n{out}{err}");
    }

    fn sim(&self) -> SimCluster {
        SimCluster::load(&self.state_dir().join("sim.json")).unwrap()
    }

    fn sim_path(&self) -> PathBuf {
        self.state_dir().join("sim.json")
    }

    /// Runs one command on a simulated node (as a node's own shell would).
    fn exec(&self, node: &str, argv: &[&str]) -> (i32, String, String) {
        let sim = self.sim();
        let out = sim
            .run(node, &xenflux::transport::Cmd::new(argv.iter().copied()))
            .unwrap();
        sim.save(&self.sim_path()).unwrap();
        (out.status.unwrap_or(-1), out.stdout, out.stderr)
    }

    fn clear_log(&self) {
        let sim = self.sim();
        sim.clear_log();
        sim.save(&self.sim_path()).unwrap();
    }

    fn domains_on(&self, node: &str) -> Vec<String> {
        self.sim().node(node).unwrap().domains.into_keys().collect()
    }

    fn no_violations(&self) {
        let v: Vec<String> = self
            .sim()
            .violations()
            .into_iter()
            .filter(|v| !v.starts_with("after `sim "))
            .collect();
        assert_eq!(v, Vec::<String>::new());
    }
}

fn unprotected_record(dir: &Path) -> Option<serde_json::Value> {
    std::fs::read_to_string(dir.join("ha/unprotected.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
}

#[test]
fn protection_survives_a_crash_and_is_rearmed_in_the_other_direction() {
    let lab = Lab::new("manual");
    // Protected: the domain on nodea, its paused shadow on nodeb.
    assert_eq!(lab.domains_on("nodea"), ["dns"]);
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    let (_, list, _) = lab.exec("nodeb", &["xl", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("dns--incoming ") && l.contains("--p---")),
        "{list}"
    );
    assert_eq!(unprotected_record(&lab.state_dir()), None);
    let status = lab.ok(&["status"]);
    assert!(
        status.contains(
            "dns: running on nodea (should run on nodea; protected by a shadow on nodeb)"
        ),
        "{status}"
    );

    // The plug of nodea is pulled. As on the lab, nothing closes the stream to the shadow's
    // receiver: the shadow waits on nodeb, paused.
    lab.clear_log();
    lab.ok(&["sim", "crash-node", "nodea"]);
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    // Before nodea is fenced, nothing is started or taken over: dns may still run there.
    let (code, out, _) = lab.run(&["plan"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("it may still be running on nodea"), "{out}");
    assert!(!out.contains("fail domain dns over"), "{out}");
    // The failover fences nodea, then lets the shadow take over on nodeb: no second start.
    let (code, out, err) = lab.run(&["failover", "nodea", "--yes"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Applied 1 action(s)"), "{out}");
    assert!(
        out.contains(
            "fail domain dns over to its shadow here (Remus: it resumes from its last checkpoint)"
        ),
        "{out}"
    );
    assert!(err.contains("Domain/dns: dns: unprotected"), "{err}");
    assert_eq!(lab.sim().powered("nodea"), Some(false));
    let ran: Vec<String> = lab
        .sim()
        .log()
        .into_iter()
        .filter(|e| e.node == "nodeb")
        .map(|e| e.argv.join(" "))
        .filter(|l| l.starts_with("xl create") || l.starts_with("sh -c"))
        .collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(ran[0].ends_with("xenflux-remus-takeover dns"), "{ran:?}");
    assert_eq!(lab.domains_on("nodeb"), ["dns"]);
    let record = unprotected_record(&lab.state_dir()).expect("unprotected.json");
    let since = record["domains"]["dns"].as_str().unwrap().to_string();
    let hm = &since[11..16];
    let (_, out, _) = lab.run(&["plan"]);
    assert!(
        out.contains(&format!(
            "dns: unprotected since {hm} UTC on {}",
            &since[..10]
        )) && out.contains("waiting for nodea: it is fenced (off)"),
        "{out}"
    );
    let (_, status, _) = lab.run(&["status"]);
    assert!(
        status.contains(&format!(
            "dns: running on nodeb (failed over to nodeb; failback manual; unprotected since {hm} UTC"
        )),
        "{status}"
    );
    // Kept on nodeb (manual failback): its shadow takeover counts as the failover.
    let placements = std::fs::read_to_string(lab.state_dir().join("ha/placements.json")).unwrap();
    assert!(placements.contains("\"node\": \"nodeb\""), "{placements}");

    // nodea comes back, resyncs, and gets the shadow: protection from nodeb to nodea.
    lab.ok(&["sim", "power", "nodea", "on"]);
    lab.converge("after nodea came back");
    assert_eq!(lab.domains_on("nodeb"), ["dns"]);
    assert_eq!(lab.domains_on("nodea"), ["dns--incoming"]);
    assert_eq!(unprotected_record(&lab.state_dir()), None);
    assert!(!lab.state_dir().join("ha/nodea.json").exists());
    let (code, out, _) = lab.run(&["plan"]);
    assert_eq!(code, 0, "{out}");
    lab.no_violations();
}

#[test]
fn with_failback_auto_the_domain_goes_home_and_is_protected_from_there() {
    let lab = Lab::new("auto");
    lab.ok(&["sim", "crash-node", "nodea"]);
    lab.run(&["failover", "nodea", "--yes"]);
    assert_eq!(lab.domains_on("nodeb"), ["dns"]);
    lab.ok(&["sim", "power", "nodea", "on"]);
    lab.converge("after nodea came back");
    // Home by live migration (its shadow stopped first), then protected towards nodeb again.
    assert_eq!(lab.domains_on("nodea"), ["dns"]);
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    lab.no_violations();
}

#[test]
fn protection_removed_or_domain_stopped_destroys_the_shadow_first() {
    let lab = Lab::new("manual");
    lab.edit("domains.yaml", PROTECTION, "");
    let out = lab.ok(&["apply", "--yes"]);
    assert!(out.contains("stop protecting domain dns"), "{out}");
    assert_eq!(lab.domains_on("nodea"), ["dns"]);
    assert_eq!(lab.domains_on("nodeb"), Vec::<String>::new());
    lab.converge("unprotected");

    // Protected again, then stopped: the shadow goes before the domain, so it never takes over.
    lab.edit(
        "domains.yaml",
        "    - {bridge: xenbr0}\n",
        &format!("    - {{bridge: xenbr0}}\n{PROTECTION}"),
    );
    lab.converge("protected again");
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    lab.clear_log();
    lab.edit(
        "domains.yaml",
        "  node: nodea\n",
        "  node: nodea\n  state: stopped\n",
    );
    lab.ok(&["apply", "--yes"]);
    assert_eq!(lab.domains_on("nodea"), Vec::<String>::new());
    assert_eq!(lab.domains_on("nodeb"), Vec::<String>::new());
    let order: Vec<String> = lab
        .sim()
        .log()
        .into_iter()
        .map(|e| format!("{}: {}", e.node, e.argv.join(" ")))
        .filter(|l| l.contains(" xl ") && !l.contains("xl list") && !l.contains("xl info"))
        .collect();
    assert_eq!(
        order,
        [
            "nodeb: xl destroy dns--incoming",
            "nodea: timeout 180 xl shutdown -w dns"
        ],
        "{order:?}"
    );
    lab.no_violations();
}

#[test]
fn the_simulated_xl_remus_refuses_what_xen_refuses() {
    let lab = Lab::new("manual");
    let run = |node: &str, args: &[&str]| {
        let mut a = vec!["xl", "remus"];
        a.extend_from_slice(args);
        lab.exec(node, &a)
    };
    // Already protected: the peer cannot make a second shadow.
    let (code, _, err) = run("nodea", &["-n", "-d", "-F", "dns", "169.254.77.2"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Domain with name \"dns--incoming\" already exists"),
        "{err}"
    );
    assert!(
        err.contains("Remus: Backup failed? resuming domain at primary."),
        "{err}"
    );
    // Unsafe options without -F.
    lab.edit("domains.yaml", PROTECTION, "");
    lab.converge("unprotected");
    let (code, _, err) = run("nodea", &["-n", "-d", "dns", "169.254.77.2"]);
    assert_eq!(code, 1);
    assert!(err.contains("Unsafe mode must be enabled"), "{err}");
    // Network buffering and Remus's DRBD disk replication are not there.
    let (code, _, err) = run("nodea", &["-d", "-F", "dns", "169.254.77.2"]);
    assert_eq!(code, 1);
    assert!(err.contains("No support for network buffering"), "{err}");
    let (code, _, err) = run("nodea", &["-n", "-F", "dns", "169.254.77.2"]);
    assert_eq!(code, 1);
    assert!(err.contains("device not handled by checkpoint"), "{err}");
    // A domain that does not run, a peer that is down.
    let (code, _, err) = run("nodea", &["-n", "-d", "-F", "web", "169.254.77.2"]);
    assert_eq!(code, 1);
    assert!(err.contains("web is an invalid domain identifier"), "{err}");
    lab.ok(&["sim", "crash-node", "nodeb"]);
    let (code, _, err) = run("nodea", &["-n", "-d", "-F", "dns", "169.254.77.2"]);
    assert_eq!(code, 1);
    assert!(err.contains("No route to host"), "{err}");
    assert_eq!(lab.domains_on("nodea"), ["dns"]);
}

/// `xenflux validate` of `examples/lab` with `protection` (a YAML flow mapping) added to the
/// domain: its exit status and what it printed.
fn validate_with(protection: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let domains = dir.path().join("domains.yaml");
    let text = std::fs::read_to_string(&domains).unwrap();
    let with = text.replacen(
        "    - {bridge: xenbr0}\n",
        &format!("    - {{bridge: xenbr0}}\n  protection: {protection}\n"),
        1,
    );
    assert_ne!(text, with);
    std::fs::write(&domains, with).unwrap();
    let out = Command::new(BIN)
        .arg("--state")
        .arg(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code(), said)
}

#[test]
fn validation_refuses_what_remus_cannot_protect() {
    let (code, err) = validate_with("{mode: remus, interval: 5ms, diskReplication: drbd}");
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("domains.yaml"), "{err}");
    assert!(err.contains("invalid interval `5ms`"), "{err}");

    let (code, err) = validate_with("{mode: remus, diskReplication: drbd}");
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("spec.protection.diskReplication"), "{err}");
    assert!(err.contains("protocol D"), "{err}");

    // examples/lab's dns is single-primary: the shadow could not open its disk.
    let (code, err) = validate_with("{mode: remus, diskReplication: none}");
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("spec.disks[0].volume"), "{err}");
    assert!(err.contains("must be `dualPrimary: true`"), "{err}");

    let (code, err) = validate_with("{mode: remus}");
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("diskReplication"), "{err}");
}

#[test]
fn an_empty_shadow_left_by_a_refused_start_is_destroyed_and_protection_started_again() {
    let lab = Lab::new("manual");
    lab.edit("domains.yaml", PROTECTION, "");
    lab.converge("unprotected");
    // A start xl refuses (Remus's own DRBD disk replication) leaves an empty shadow on nodeb,
    // which `xl list -l` cannot describe: the observation still reads nodeb's Xen.
    let (code, _, err) = lab.exec("nodea", &["xl", "remus", "-n", "-F", "dns", "169.254.77.2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("block-drbd-probe /dev/drbd0"), "{err}");
    let (_, list, _) = lab.exec("nodeb", &["xl", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("dns--incoming ") && l.contains("    0     0     --p---")),
        "{list}"
    );
    lab.edit(
        "domains.yaml",
        "    - {bridge: xenbr0}\n",
        &format!("    - {{bridge: xenbr0}}\n{PROTECTION}"),
    );
    let (code, out, _) = lab.run(&["plan"]);
    assert_eq!(code, 2, "{out}");
    let stop = out.find("destroy its shadow dns--incoming").expect(&out);
    let start = out
        .find("protect domain dns with a shadow on nodeb")
        .expect(&out);
    assert!(stop < start, "{out}");
    lab.converge("protected again");
    let (_, list, _) = lab.exec("nodeb", &["xl", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("dns--incoming ") && l.contains("  128     0     --p---")),
        "{list}"
    );
    lab.no_violations();
}

#[test]
fn a_host_that_cannot_be_read_leaves_the_shadow_alone() {
    let lab = Lab::new("manual");
    // The controller cannot reach nodea, which runs on: nothing is concluded about dns.
    lab.ok(&["sim", "fail-node", "nodea"]);
    lab.clear_log();
    let (code, out, err) = lab.run(&["apply", "--yes"]);
    assert_ne!(code, 0, "{out}{err}");
    let destroyed: Vec<String> = lab
        .sim()
        .log()
        .into_iter()
        .map(|e| e.argv.join(" "))
        .filter(|l| l.contains("xl destroy") || l.contains("--start") || l.contains("sh -c"))
        .collect();
    assert_eq!(destroyed, Vec::<String>::new());
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    assert_eq!(lab.domains_on("nodea"), ["dns"]);
    lab.ok(&["sim", "fail-node", "nodea", "--up"]);
    lab.converge("nodea reachable again");
    assert_eq!(lab.domains_on("nodeb"), ["dns--incoming"]);
    lab.no_violations();
}
