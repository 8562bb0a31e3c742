//! Apply's exit status, and saved plans. A saved plan (`plan -o FILE`, then `apply FILE`) runs only when it is, action for action, the
//! plan xenflux makes now: a hand-edited file is refused with the first difference named, and
//! nothing runs. Through the real binary, on the simulated cluster.

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// A copy of the example state in a fresh directory (its own simulated cluster).
fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cluster-state");
    std::fs::create_dir_all(&state).unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster-state");
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), state.join(e.file_name())).unwrap();
    }
    dir
}

fn saved(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "-o", "p.json"];
    args.extend(extra);
    let o = run(dir, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    serde_json::from_str(&std::fs::read_to_string(dir.join("p.json")).unwrap()).unwrap()
}

fn write(dir: &Path, v: &Value) {
    std::fs::write(dir.join("p.json"), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn sim(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".xenflux/sim.json")).unwrap()
}

/// Applying the edited file is refused (exit 1) with `needle` in the message, and the
/// simulated cluster is exactly as before.
fn refused(dir: &Path, extra: &[&str], needle: &str) {
    let before = sim(dir);
    let mut args = vec!["apply", "p.json", "--yes"];
    args.extend(extra);
    let o = run(dir, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(needle), "{}", text(&o));
    assert_eq!(sim(dir), before, "the refused plan changed the cluster");
}

#[test]
fn an_added_action_is_refused_and_nothing_runs() {
    let dir = example();
    let mut plan = saved(dir.path(), &[]);
    plan["stages"][0]["actions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"action": "write-file", "node": "dom0", "path": "/etc/shadow", "content": "root::0:0:99999:7:::\n"}));
    write(dir.path(), &plan);
    refused(
        dir.path(),
        &[],
        "not the plan xenflux makes now for this desired state and cluster",
    );
    assert!(!sim(dir.path()).contains("/etc/shadow"));
}

#[test]
fn an_unknown_field_is_refused() {
    let dir = example();
    let mut plan = saved(dir.path(), &[]);
    plan["stages"][0]["actions"][0]["sudo"] = json!(true);
    write(dir.path(), &plan);
    refused(
        dir.path(),
        &[],
        "unexpected or altered field at stages[0].actions[0].sudo",
    );
    let mut plan = saved(dir.path(), &[]);
    plan["comment"] = json!("hello");
    write(dir.path(), &plan);
    refused(dir.path(), &[], "unexpected or altered field at comment");
}

#[test]
fn a_destroyed_replica_is_refused_even_with_prune() {
    let dir = example();
    let o = run(dir.path(), &["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // A converged cluster: the saved plan is empty; forge a stage that destroys dns on dom0m.
    let mut plan = saved_or_empty(dir.path());
    plan["stages"] = json!([{"title": "prune", "actions": [
        {"action": "down", "node": "dom0m", "resource": "dns"},
        {"action": "remove-lv", "node": "dom0m", "vg": "XEN", "lv": "dns"}
    ]}]);
    write(dir.path(), &plan);
    refused(dir.path(), &[], "not the plan xenflux makes now");
    refused(dir.path(), &["--prune"], "not the plan xenflux makes now");
}

/// `plan -o` on a converged cluster exits 0 and still writes the (empty) plan.
fn saved_or_empty(dir: &Path) -> Value {
    let o = run(dir, &["plan", "-o", "p.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_str(&std::fs::read_to_string(dir.join("p.json")).unwrap()).unwrap()
}

#[test]
fn a_plan_made_with_prune_needs_prune_to_apply_and_an_untouched_one_runs() {
    let dir = example();
    let o = run(dir.path(), &["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // vpn's domain and volume leave the state: removing its LVs needs prune.
    let domains = dir.path().join("cluster-state/domains.yaml");
    let d = std::fs::read_to_string(&domains).unwrap();
    let docs: Vec<&str> = d
        .split("\n---")
        .filter(|doc| !doc.contains("name: vpn"))
        .collect();
    std::fs::write(&domains, docs.join("\n---")).unwrap();
    let volumes = dir.path().join("cluster-state/volumes.yaml");
    let v = std::fs::read_to_string(&volumes).unwrap();
    let docs: Vec<&str> = v
        .split("\n---")
        .filter(|doc| !doc.contains("name: vpn"))
        .collect();
    std::fs::write(&volumes, docs.join("\n---")).unwrap();

    saved(dir.path(), &["--prune"]);
    refused(
        dir.path(),
        &[],
        "the plan was made with --prune: pass --prune to apply it",
    );
    // The domain vpn still runs on dom0m, so its replica there stays: applied, but blocked
    // items remain, which is exit status 2.
    let o = run(dir.path(), &["apply", "p.json", "--yes", "--prune"]);
    assert!(text(&o).contains("Applied 3 action(s)"), "{}", text(&o));
    assert!(
        text(&o).contains("1 item(s) remain blocked"),
        "{}",
        text(&o)
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `apply --yes` with every node unreachable runs nothing: every item is blocked, and the exit
/// status says so (2), not success.
#[test]
fn apply_with_everything_blocked_does_not_exit_0() {
    let dir = example();
    for node in ["dom0", "dom0m"] {
        let o = run(dir.path(), &["sim", "fail-node", node]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = run(dir.path(), &["apply", "--yes"]);
    assert!(text(&o).contains("No action can run"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
