//! `status` and the first lines of every report, through the binary on the simulated cluster:
//! a node that could not be observed is unknown (with why), never "not running" or
//! "Connected"; "Drift: none" only when nothing drifts and nothing is blocked; `--format json`;
//! exit 0 in sync, 2 otherwise; every report names its target; a chained error names its cause
//! once.

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Command, Output};

struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("cluster-state");
        std::fs::create_dir_all(&state).unwrap();
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster-state");
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), state.join(e.file_name())).unwrap();
        }
        Cluster { dir }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
    /// (exit code, stdout), stderr shown on failure.
    fn out(&self, args: &[&str]) -> (i32, String) {
        let o = self.run(args);
        let code = o.status.code().unwrap_or(-1);
        assert_ne!(code, 1, "{args:?}: {}", text(&o.stderr));
        (code, text(&o.stdout))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SIM: &str = "target: simulated cluster (.xenflux/sim.json)";

#[test]
fn a_failed_node_is_unknown_with_its_reason_and_status_exits_2() {
    let c = Cluster::new();
    assert_eq!(c.out(&["apply", "--yes"]).0, 0);
    let (code, st) = c.out(&["status"]);
    assert_eq!(code, 0, "converged: {st}");
    assert!(
        st.contains("none: the cluster matches the desired state"),
        "{st}"
    );
    assert!(
        st.contains("dns: Primary UpToDate on dom0, Secondary UpToDate on dom0m, Connected"),
        "{st}"
    );

    assert_eq!(c.out(&["sim", "fail-node", "dom0"]).0, 0);
    let (code, st) = c.out(&["status"]);
    assert_eq!(code, 2, "blocked items remain: {st}");
    assert!(st.lines().next().unwrap().contains(SIM), "{st}");
    assert!(
        st.contains("  dom0: unknown (") && st.contains("unreachable: node is down (simulated)"),
        "{st}"
    );
    for l in st
        .lines()
        .filter(|l| l.contains("dom0") && !l.contains("dom0m"))
    {
        assert!(!l.contains("not running"), "{l}");
        assert!(!l.contains("Connected"), "{l}");
        assert!(!l.contains("down on dom0,"), "{l}");
    }
    // dns runs on dom0 (unobservable): unknown, not "not running"; the volume's link is not
    // claimed from one side alone
    assert!(
        st.contains("  dns: unknown (dom0 could not be observed) (should run on dom0)"),
        "{st}"
    );
    assert!(st.contains("  dns: unknown on dom0 (not observed), Secondary UpToDate on dom0m, connection unknown"), "{st}");
    assert!(
        st.contains("  vpn: running on dom0m (dom0 could not be observed)"),
        "{st}"
    );
    assert!(!st.contains("not running"), "{st}");
    assert!(!st.contains("Connected"), "{st}");
    assert!(!st.contains("none: the cluster matches"), "{st}");
    assert!(st.contains("blocked: node/dom0"), "{st}");

    let (code, js) = c.out(&["status", "--format", "json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["cluster"], "xg");
    assert_eq!(v["target"]["kind"], "simulated");
    assert_eq!(v["target"]["file"], ".xenflux/sim.json");
    assert_eq!(v["in_sync"], false);
    let dom0 = &v["nodes"][0];
    assert_eq!(dom0["name"], "dom0");
    for part in ["lvm", "drbd", "xen", "net", "ocfs2", "listening", "files"] {
        assert_eq!(dom0["parts"][part]["known"], false, "{part}");
        assert!(dom0["parts"][part]["reason"]
            .as_str()
            .unwrap()
            .contains("unreachable"));
        assert_eq!(v["nodes"][1]["parts"][part]["known"], true, "{part}");
    }
    let dns = v["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "dns")
        .unwrap();
    assert_eq!(dns["nodes"][0]["state"], "unknown");
    assert!(dns["nodes"][0].get("connection").is_none());
    assert_eq!(dns["nodes"][1]["state"], "up");
    assert_eq!(dns["nodes"][1]["role"], "Secondary");
    let d = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "dns")
        .unwrap();
    assert_eq!(d["desired"], "running");
    assert_eq!(d["running_on"], serde_json::json!([]));
    assert_eq!(d["unknown_on"], serde_json::json!(["dom0"]));
    assert!(v["drift"].is_array());
    assert_eq!(v["actions"], 0);
    assert!(v["blocked"].as_array().unwrap().len() >= 2);
    assert!(v["warnings"].is_array());

    // back up: in sync again, exit 0
    assert_eq!(c.out(&["sim", "fail-node", "dom0", "--up"]).0, 0);
    let (code, js) = c.out(&["status", "--format", "json"]);
    assert_eq!(code, 0, "{js}");
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["in_sync"], true);
}

#[test]
fn drift_none_is_never_printed_beside_blocked_items() {
    let c = Cluster::new();
    assert_eq!(c.out(&["apply", "--yes"]).0, 0);
    // a split brain: nothing the plan may do, only blocked items
    assert_eq!(c.out(&["sim", "split-brain", "mail"]).0, 0);
    let (code, st) = c.out(&["status"]);
    assert_eq!(code, 2, "{st}");
    assert!(st.contains("blocked: Volume/mail"), "{st}");
    assert!(!st.contains("none: the cluster matches"), "{st}");
}

#[test]
fn status_exits_2_while_changes_are_pending() {
    let c = Cluster::new();
    let (code, st) = c.out(&["status"]);
    assert_eq!(code, 2, "{st}");
    assert!(st.contains("action(s) would correct it"), "{st}");
    assert!(st.contains("dns: not running (should run on dom0)"), "{st}");
}

#[test]
fn every_plan_format_names_its_target_first() {
    let c = Cluster::new();
    let (_, t) = c.out(&["plan"]);
    assert_eq!(
        t.lines().next().unwrap(),
        format!("xenflux plan for cluster xg — {SIM}")
    );
    let (_, md) = c.out(&["plan", "--format", "markdown"]);
    assert_eq!(
        md.lines().next().unwrap(),
        format!("## xenflux plan for cluster `xg` — {SIM}")
    );
    let (_, sh) = c.out(&["plan", "--format", "sh"]);
    let lines: Vec<&str> = sh.lines().collect();
    assert_eq!(lines[0], "#!/bin/sh");
    assert!(lines[1].contains(SIM), "{sh}");
    assert!(
        lines[2].contains("PLANNED AGAINST THE SIMULATED CLUSTER, NOT REAL NODES"),
        "{sh}"
    );
    let (_, js) = c.out(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(
        v["target"],
        serde_json::json!({"kind": "simulated", "file": ".xenflux/sim.json"})
    );
    let (_, st) = c.out(&["status"]);
    assert!(st.lines().next().unwrap().ends_with(SIM), "{st}");

    // the script refuses to run unless told it may run a simulated plan
    let path = c.dir.path().join("plan.sh");
    std::fs::write(&path, &sh).unwrap();
    let o = Command::new("sh").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("planned against the simulated cluster"));

    // a plan saved with its target is applied as before
    assert_eq!(c.out(&["plan", "-o", "plan.json"]).0, 2);
    let o = c.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Applied"));
}

#[test]
fn ssh_targets_are_named_with_their_destinations() {
    let c = Cluster::new();
    let t = xenflux::target::TargetName::Ssh {
        nodes: vec![
            xenflux::target::SshNode {
                node: "dom0".into(),
                destination: "root@10.0.0.1".into(),
            },
            xenflux::target::SshNode {
                node: "dom0m".into(),
                destination: "dom0m.example.net:2222".into(),
            },
        ],
        config: Some("./ssh_config".into()),
    };
    assert_eq!(
        t.to_string(),
        "ssh nodes dom0 (root@10.0.0.1), dom0m (dom0m.example.net:2222) (ssh -F ./ssh_config)"
    );
    // the example's nodes, as the desired state reaches them (never contacted here)
    let sources = xenflux::load::from_dir(&c.dir.path().join("cluster-state")).unwrap();
    let v = xenflux::validate::validate(&sources, &Default::default()).unwrap();
    let name = xenflux::target::TargetName::of(
        xenflux::target::Target::Ssh,
        &v.desired,
        std::path::Path::new(".xenflux"),
        None,
    );
    let s = name.to_string();
    assert!(s.starts_with("ssh nodes dom0 ("), "{s}");
    assert!(s.contains(", dom0m ("), "{s}");
}

#[test]
fn a_chained_error_names_its_cause_once() {
    let c = Cluster::new();
    // a closed port on 127.0.0.1: bind one, note it, close it
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .current_dir(c.dir.path())
        .env("XENFLUX_TOKEN", "0123456789abcdef0123")
        .args([
            "reconcile",
            "--now",
            "--controller",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("Connection refused"), "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");

    // a state directory that cannot be created: the io error once
    let o = c.run(&["--state-dir", "/proc/xenflux-no", "plan"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("cannot create the state directory"), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
}
