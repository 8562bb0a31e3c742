//! The README tour on the simulated cluster, through the real binary: plan (exit 2), apply, plan
//! again (exit 0), then one change at a time and what the plan says about it.

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Command, Output};

struct Tour {
    dir: tempfile::TempDir,
}

impl Tour {
    fn new() -> Tour {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("cluster-state");
        std::fs::create_dir_all(&state).unwrap();
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster-state");
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), state.join(e.file_name())).unwrap();
        }
        Tour { dir }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.dir.path().join("cluster-state").join(file);
        let t = std::fs::read_to_string(&p).unwrap();
        assert!(t.contains(from), "{file} lacks {from:?}");
        std::fs::write(&p, t.replacen(from, to, 1)).unwrap();
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// Plan: (exit code, stdout).
    fn plan(&self) -> (i32, String) {
        let o = self.run(&["plan"]);
        (
            o.status.code().unwrap_or(-1),
            text(&o.stdout) + &text(&o.stderr),
        )
    }
    fn apply(&self) {
        let o = self.run(&["apply", "--yes"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plan_apply_converge_then_each_change_plans_only_the_difference() {
    let t = Tour::new();
    let (code, out) = t.plan();
    assert_eq!(code, 2, "changes pending: {out}");
    assert!(
        out.contains("Plan: 75 action(s) in 11 stage(s) on 2 node(s)"),
        "{out}"
    );
    assert!(
        t.path(".xenflux/sim.json").is_file(),
        "the simulated cluster is created on first use"
    );

    // apply refuses without a terminal unless --yes
    let o = t.run(&["apply"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("pass --yes"));

    let o = t.run(&["apply", "--yes"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("[1/11] network: bonds and bridges"));
    assert!(out.contains("  ok   dom0: start domain dns"));
    assert!(out.contains("Applied 75 action(s)."));
    assert!(
        out.contains("Observed again: the cluster matches the desired state."),
        "{out}"
    );
    let journal = std::fs::read_to_string(t.path(".xenflux/journal.jsonl")).unwrap();
    assert!(journal.lines().count() > 75);
    assert!(journal.contains("\"command\":\"drbdadm primary --force dns\""));

    let (code, out) = t.plan();
    assert_eq!(code, 0, "converged: {out}");
    assert!(out.contains("No changes: the cluster matches the desired state."));

    let o = t.run(&["status"]);
    let st = text(&o.stdout);
    assert!(
        st.contains("dns: Primary UpToDate on dom0, Secondary UpToDate on dom0m, Connected"),
        "{st}"
    );
    assert!(
        st.contains("ovs: Primary UpToDate on dom0, Primary UpToDate on dom0m"),
        "{st}"
    );
    assert!(
        st.contains("none: the cluster matches the desired state"),
        "{st}"
    );

    // grow a volume
    t.edit("volumes.yaml", "size: 10GiB", "size: 12GiB");
    let (code, out) = t.plan();
    assert_eq!(code, 2);
    assert!(
        out.contains("[dom0] grow LV XEN/dns to 12GiB")
            && out.contains("[dom0m] grow LV XEN/dns to 12GiB"),
        "{out}"
    );
    assert!(
        out.contains("[dom0] grow DRBD device dns to its backing LVs"),
        "{out}"
    );
    assert!(out.contains("Plan: 3 action(s)"), "{out}");
    t.apply();
    assert_eq!(t.plan().0, 0);

    // move a running domain: live migration with two primaries for the move
    t.edit("domains.yaml", "node: dom0\n", "node: dom0m\n");
    let (_, out) = t.plan();
    for step in [
        "[dom0] allow two primaries on dns",
        "[dom0m] promote dns to Primary",
        "[dom0] live-migrate domain dns to dom0m",
        "      $ xl migrate dns 192.168.1.191",
        "[dom0] demote dns to Secondary",
        "[dom0m] back to a single primary on dns",
    ] {
        assert!(out.contains(step), "missing {step:?} in {out}");
    }
    t.apply();
    assert_eq!(t.plan().0, 0);

    // stop a domain: shutdown, then demote
    t.edit(
        "domains.yaml",
        "  name: vpn\nspec:\n",
        "  name: vpn\nspec:\n  state: stopped\n",
    );
    let (_, out) = t.plan();
    assert!(
        out.contains("[dom0m] shut domain vpn down")
            && out.contains("[dom0m] demote vpn to Secondary"),
        "{out}"
    );
    t.apply();
    assert_eq!(t.plan().0, 0);

    // add a volume and hot-attach it to a running domain
    let vols = t.path("cluster-state/volumes.yaml");
    let mut v = std::fs::read_to_string(&vols).unwrap();
    v.push_str("---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: data\nspec:\n  size: 4GiB\n  nodes: [dom0, dom0m]\n");
    std::fs::write(&vols, v).unwrap();
    t.edit(
        "domains.yaml",
        "    - {volume: mail, target: xvda}\n",
        "    - {volume: mail, target: xvda}\n    - {volume: data, target: xvdb}\n",
    );
    let (_, out) = t.plan();
    assert!(out.contains("[dom0] create LV XEN/data (4GiB)"), "{out}");
    assert!(
        out.contains("attach phy:/dev/drbd4,xvdb,w to domain mail"),
        "{out}"
    );
    t.apply();
    assert_eq!(t.plan().0, 0);

    // drain a node: its domains move to the peer; back when schedulable again
    t.edit(
        "nodes.yaml",
        "  memory: 16GiB\n",
        "  memory: 16GiB\n  schedulable: false\n",
    );
    let (_, out) = t.plan();
    assert!(
        out.contains("[dom0] live-migrate domain mail to dom0m"),
        "{out}"
    );
    t.apply();
    assert_eq!(t.plan().0, 0);
    t.edit("nodes.yaml", "  schedulable: false\n", "");
    let (_, out) = t.plan();
    assert!(
        out.contains("[dom0m] live-migrate domain mail to dom0"),
        "{out}"
    );
    t.apply();

    // delete a volume: blocked without prune, done with it
    t.edit("domains.yaml", "    - {volume: data, target: xvdb}\n", "");
    t.apply();
    let v = std::fs::read_to_string(&vols).unwrap();
    let cut = v
        .find("---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: data")
        .unwrap();
    std::fs::write(&vols, &v[..cut]).unwrap();
    let (code, out) = t.plan();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "orphan DRBD resource data on dom0 is not in the desired state; pruning needs --prune"
        ),
        "{out}"
    );
    assert!(out.contains("would: remove LV XEN/data"), "{out}");
    let o = t.run(&["plan", "--prune"]);
    let out = text(&o.stdout);
    assert!(
        out.contains("[dom0] take DRBD resource data down")
            && out.contains("[dom0] remove LV XEN/data"),
        "{out}"
    );
    let o = t.run(&["apply", "--yes", "--prune"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert_eq!(t.plan().0, 0);
}

/// `apply` ends with what its own observation afterwards found: a domain given a new disk and a
/// new node in one commit gets the disk first and moves on the next apply, and the first apply
/// says that work is left (as many actions as `plan` then shows); the second says in sync.
#[test]
fn apply_says_what_is_left_after_it() {
    let t = Tour::new();
    t.apply();
    let vol = "---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: vpnlog\nspec:\n  size: 1GiB\n  nodes: [dom0, dom0m]\n";
    let p = t.path("cluster-state/volumes.yaml");
    let text_now = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text_now + vol).unwrap();
    t.edit(
        "domains.yaml",
        "  node: dom0m\n  memory: 512MiB\n  vcpus: 1\n  bootloader: pygrub\n  disks:\n    - {volume: vpn, target: xvda}\n",
        "  node: dom0\n  memory: 512MiB\n  vcpus: 1\n  bootloader: pygrub\n  disks:\n    - {volume: vpn, target: xvda}\n    - {volume: vpnlog, target: xvdb}\n",
    );
    let o = t.run(&["apply", "--yes"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    let left: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("Observed again: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of what is left: {out}"));
    assert!(left > 0, "{out}");
    let (code, plan) = t.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains(&format!("Plan: {left} action(s)")),
        "apply said {left} left; plan:\n{plan}"
    );
    let o = t.run(&["apply", "--yes"]);
    let out = text(&o.stdout);
    assert!(
        out.contains("Observed again: the cluster matches the desired state."),
        "{out}"
    );
}

#[test]
fn formats_saved_plans_and_refusals() {
    let t = Tour::new();
    for (fmt, needle) in [
        ("markdown", "## xenflux plan for cluster `xg`"),
        ("json", "\"cluster\": \"xg\""),
        ("sh", "#!/bin/sh"),
    ] {
        let o = t.run(&["plan", "--format", fmt]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            text(&o.stdout).starts_with(needle) || text(&o.stdout).contains(needle),
            "{fmt}"
        );
    }
    // a saved plan runs exactly, and is refused once the cluster changed
    let o = t.run(&["plan", "-o", "plan.json"]);
    assert_eq!(o.status.code(), Some(2));
    let o = t.run(&["sim", "fail-next", "nothing-matches-this"]);
    assert_eq!(o.status.code(), Some(0));
    let o = t.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = t.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("the cluster changed since this plan was made"),
        "{}",
        text(&o.stderr)
    );

    // a second apply while one runs is refused (the lock is held by a live process: this test)
    let held = xenflux::exec::Lock::acquire(&t.path(".xenflux")).unwrap();
    let o = t.run(&["apply", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(&format!(
            "another apply (pid {}) holds the lock",
            std::process::id()
        )),
        "{}",
        text(&o.stderr)
    );
    drop(held);

    // an invalid state changes nothing
    t.edit("volumes.yaml", "size: 10GiB", "size: 10G");
    let o = t.run(&["apply", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("volumes.yaml:8:3: error: Volume/dns: spec.size"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_failed_node_and_split_brain_are_reported_not_acted_on() {
    let t = Tour::new();
    t.apply();
    let o = t.run(&["sim", "fail-node", "dom0m"]);
    assert_eq!(o.status.code(), Some(0));
    t.edit("volumes.yaml", "size: 10GiB", "size: 12GiB");
    let (_, out) = t.plan();
    assert!(out.contains("node/dom0m: could not be observed"), "{out}");
    assert!(
        !out.contains("[dom0] grow LV XEN/dns"),
        "no half-grown pairs: {out}"
    );
    t.run(&["sim", "fail-node", "dom0m", "--up"]);
    t.edit("volumes.yaml", "size: 12GiB", "size: 10GiB");
    assert_eq!(t.plan().0, 0);

    let o = t.run(&["sim", "split-brain", "dns"]);
    assert_eq!(o.status.code(), Some(0));
    t.edit(
        "domains.yaml",
        "  name: dns\nspec:\n",
        "  name: dns\nspec:\n  state: stopped\n",
    );
    let (code, out) = t.plan();
    assert_eq!(code, 2);
    assert!(
        out.contains("Volume/dns: StandAlone on dom0: split brain"),
        "{out}"
    );
    assert!(
        out.contains("Domain/dns: its volume dns is blocked"),
        "{out}"
    );
    assert!(!out.contains("shut domain dns down"), "{out}");
    let st = text(&t.run(&["status"]).stdout);
    assert!(st.contains("blocked: Volume/dns"), "{st}");
}

#[test]
fn the_simulated_vg_size_is_configurable_and_enforced() {
    let t = Tour::new();
    let o = t.run(&["sim", "reset", "--vg-size", "100GiB"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (code, out) = t.plan();
    assert_eq!(code, 2);
    assert!(
        out.contains("Volume/ovs: VG XEN on dom0 has"),
        "100 GiB does not hold every volume: {out}"
    );
    let o = t.run(&["sim", "show", "--node", "dom0"]);
    assert_eq!(o.status.code(), Some(0));
    let o = t.run(&["sim", "reset"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!t.path(".xenflux/sim.json").exists());
}
