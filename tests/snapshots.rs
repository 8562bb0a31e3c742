//! Snapshots on the simulated cluster, through the real binary: a Snapshot of `dns` is made on
//! the node where `dns` is Primary and attached read-only to a backup domain there; the next
//! plan is empty; removed from the state it is detached and removed. A snapshot whose
//! copy-on-write space fills up is reported (plan, status) and re-made only with prune; a
//! snapshot stays on its node while the volume's domain moves, pins the domain it is attached
//! to, and blocks growing its origin; bad Snapshots are refused all at once.

#![allow(clippy::disallowed_methods)]

mod common;

use std::process::{Command, Output};

struct State {
    dir: tempfile::TempDir,
}

const BACKUP: &str = "apiVersion: xenflux/v1
kind: Domain
metadata:
  name: backup
spec:
  node: dom0
  memory: 256MiB
  kernel: /boot/vmlinuz-xen
  ramdisk: /boot/initrd-xen
";

const SNAPSHOT: &str = "---
apiVersion: xenflux/v1
kind: Snapshot
metadata:
  name: dns-nightly
spec:
  volume: dns
  size: 1GiB
  attach: {domain: backup, target: xvdb}
";

impl State {
    /// `cluster-state/` with a backup domain on dom0 (and the snapshot when `snapshot`).
    fn new(snapshot: bool) -> State {
        let dir = tempfile::tempdir().unwrap();
        common::copy_cluster_state(dir.path());
        let s = State { dir };
        s.backup(snapshot);
        s
    }
    fn backup(&self, snapshot: bool) {
        let text = if snapshot {
            format!("{BACKUP}{SNAPSHOT}")
        } else {
            BACKUP.to_string()
        };
        self.write("backup.yaml", &text);
    }
    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join("cluster-state").join(file), text).unwrap();
    }
    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.dir.path().join("cluster-state").join(file);
        let t = std::fs::read_to_string(&p).unwrap();
        assert!(t.contains(from), "{file} lacks {from:?}");
        std::fs::write(&p, t.replacen(from, to, 1)).unwrap();
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
    /// (exit status, stdout + stderr).
    fn out(&self, args: &[&str]) -> (i32, String) {
        let o = self.run(args);
        (
            o.status.code().unwrap_or(-1),
            text(&o.stdout) + &text(&o.stderr),
        )
    }
    fn apply(&self, extra: &[&str]) -> String {
        let mut args = vec!["apply", "--yes"];
        args.extend(extra);
        let (code, out) = self.out(&args);
        assert_eq!(code, 0, "{out}");
        out
    }
    fn plan_is_empty(&self) {
        let (code, out) = self.out(&["plan"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("No changes"), "{out}");
    }
    /// The snapshots of `status --format json`.
    fn snapshots(&self) -> Vec<serde_json::Value> {
        let o = self.run(&["status", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)));
        v["snapshots"].as_array().cloned().unwrap_or_default()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_snapshot_is_made_attached_then_detached_and_removed() {
    let s = State::new(true);
    let (code, plan) = s.out(&["plan"]);
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("$ lvcreate --yes -s -L 1073741824b -n dns-nightly.snap --addtag xenflux --addtag xenflux-snap XEN/dns"),
        "{plan}"
    );
    assert!(
        plan.contains("$ xl block-attach backup phy:/dev/XEN/dns-nightly.snap,xvdb,r"),
        "{plan}"
    );
    // Made after the domains start (dns Primary on dom0, backup running), attached last.
    let create = plan.find("snapshots: create").unwrap();
    assert!(plan.find("domains: start").unwrap() < create, "{plan}");
    assert!(create < plan.find("snapshots: attach read-only").unwrap());
    s.apply(&[]);
    s.plan_is_empty();
    let snaps = s.snapshots();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0]["state"], "valid");
    assert_eq!(snaps[0]["node"], "dom0");
    assert_eq!(snaps[0]["volume"], "dns");
    assert_eq!(snaps[0]["size"], 1u64 << 30);
    assert_eq!(snaps[0]["used_percent"], 0.0);
    assert_eq!(snaps[0]["attached"], serde_json::json!(["backup:xvdb"]));

    // More copy-on-write space: grown in place; less: never shrunk, a warning.
    s.edit("backup.yaml", "size: 1GiB", "size: 2GiB");
    let (_, plan) = s.out(&["plan"]);
    assert!(
        plan.contains("$ lvextend -L 2147483648b XEN/dns-nightly.snap"),
        "{plan}"
    );
    s.apply(&[]);
    s.plan_is_empty();
    assert_eq!(s.snapshots()[0]["size"], 2u64 << 30);
    s.edit("backup.yaml", "size: 2GiB", "size: 1GiB");
    let (code, plan) = s.out(&["plan"]);
    assert_eq!(code, 0, "{plan}");
    assert!(
        plan.contains("has 2GiB of copy-on-write space, more than the 1GiB desired"),
        "{plan}"
    );

    // Removed from the state: detached (by the devid xl block-list lists), then removed.
    s.backup(false);
    let (code, plan) = s.out(&["plan"]);
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("$ xl block-detach -f backup 51728"), "{plan}");
    assert!(
        plan.contains("$ lvremove -f XEN/dns-nightly.snap"),
        "{plan}"
    );
    assert!(
        plan.find("snapshots: detach").unwrap() < plan.find("snapshots: remove").unwrap(),
        "{plan}"
    );
    assert!(!plan.contains("blocked:"), "no prune needed: {plan}");
    s.apply(&[]);
    s.plan_is_empty();
    assert!(s.snapshots().is_empty());
}

#[test]
fn an_invalid_snapshot_is_reported_and_remade_only_with_prune() {
    let s = State::new(true);
    s.apply(&[]);
    let (code, out) = s.out(&[
        "sim",
        "fill-snapshot",
        "dom0",
        "dns-nightly.snap",
        "--percent",
        "40",
    ]);
    assert_eq!(code, 0, "{out}");
    s.plan_is_empty();
    assert_eq!(s.snapshots()[0]["used_percent"], 40.0);
    let (code, out) = s.out(&["sim", "fill-snapshot", "dom0", "dns-nightly.snap"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(full: invalid)"), "{out}");

    let (code, plan) = s.out(&["plan"]);
    assert!(
        plan.contains("Snapshot/dns-nightly: snapshot XEN/dns-nightly.snap on dom0 is invalid: its 1GiB of copy-on-write space filled up"),
        "{plan}"
    );
    assert!(
        plan.contains("It stays attached to backup as xvdb"),
        "{plan}"
    );
    assert!(plan.contains("No action can run"), "{code}: {plan}");
    let (code, status) = s.out(&["status"]);
    assert_ne!(code, 0, "{status}");
    assert!(
        status.contains("dns-nightly (of dns): INVALID on dom0"),
        "{status}"
    );
    assert_eq!(s.snapshots()[0]["state"], "invalid");

    // With prune: detached, removed, made again and attached, in that order.
    let out = s.apply(&["--prune"]);
    let order = [
        "detach snapshot /dev/XEN/dns-nightly.snap",
        "remove snapshot LV XEN/dns-nightly.snap",
        "snapshot LV XEN/dns as XEN/dns-nightly.snap",
        "attach snapshot /dev/XEN/dns-nightly.snap to domain backup",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|w| out.find(w).unwrap_or_else(|| panic!("{w}: {out}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{out}");
    s.plan_is_empty();
    assert_eq!(s.snapshots()[0]["state"], "valid");
    assert_eq!(s.snapshots()[0]["used_percent"], 0.0);
}

#[test]
fn a_snapshot_stays_on_its_node_pins_its_domain_and_holds_its_origin_size() {
    let s = State::new(true);
    s.apply(&[]);
    // dns moves to dom0m by live migration; its snapshot stays on dom0, attached.
    s.edit(
        "domains.yaml",
        "node: dom0\n  memory: 512MiB",
        "node: dom0m\n  memory: 512MiB",
    );
    let (code, plan) = s.out(&["plan"]);
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("live-migrate domain dns to dom0m"), "{plan}");
    assert!(!plan.contains("snapshot"), "{plan}");
    s.apply(&[]);
    s.plan_is_empty();
    let snaps = s.snapshots();
    assert_eq!(
        (snaps[0]["node"].as_str(), snaps[0]["attached"][0].as_str()),
        (Some("dom0"), Some("backup:xvdb")),
        "{snaps:?}"
    );

    // The domain it is attached to is not migrated away from it.
    s.edit("backup.yaml", "node: dom0", "node: dom0m");
    let (_, plan) = s.out(&["plan"]);
    assert!(
        plan.contains("Domain/backup: it stays on dom0: snapshot /dev/XEN/dns-nightly.snap is attached to it on dom0"),
        "{plan}"
    );
    assert!(!plan.contains("xl migrate backup"), "{plan}");
    s.edit("backup.yaml", "node: dom0m", "node: dom0");

    // Its origin is not grown while it exists (LVM refuses); the rest goes on.
    s.edit("volumes.yaml", "size: 10GiB", "size: 12GiB");
    let (_, plan) = s.out(&["plan"]);
    assert!(
        plan.contains("LV XEN/dns on dom0 has snapshot dns-nightly.snap: LVM grows the origin of a snapshot only while it is inactive"),
        "{plan}"
    );
    assert!(!plan.contains("lvextend"), "{plan}");
    assert!(!plan.contains("drbdadm resize"), "{plan}");
}

/// Removing the snapshot and moving the domain it was attached to in one commit converges in
/// one apply: the detach stage runs before the migration, so the snapshot no longer pins it.
#[test]
fn a_domain_moves_in_the_apply_that_detaches_its_snapshot() {
    let s = State::new(true);
    s.apply(&[]);
    s.backup(false);
    s.edit("backup.yaml", "node: dom0", "node: dom0m");
    let (code, plan) = s.out(&["plan"]);
    assert_eq!(code, 2, "{plan}");
    assert!(!plan.contains("Blocked"), "{plan}");
    let detach = plan.find("xl block-detach -f backup").expect(&plan);
    let migrate = plan.find("xl migrate backup").expect(&plan);
    assert!(detach < migrate, "{plan}");
    s.apply(&[]);
    s.plan_is_empty();
    assert!(s.snapshots().is_empty());
}

#[test]
fn snapshots_the_state_cannot_have_are_refused_all_at_once() {
    let s = State::new(false);
    s.write(
        "snapshots.yaml",
        "apiVersion: xenflux/v1
kind: Snapshot
metadata: {name: a}
spec: {volume: nope, size: 1GiB}
---
apiVersion: xenflux/v1
kind: Snapshot
metadata: {name: b}
spec: {volume: ovs, size: 3MiB, attach: {domain: ghost, target: xvdb}}
---
apiVersion: xenflux/v1
kind: Snapshot
metadata: {name: c}
spec: {volume: dns, size: 20GiB, attach: {domain: vpn, target: xvda}}
---
apiVersion: xenflux/v1
kind: Snapshot
metadata: {name: d}
spec: {volume: dns, size: 1GiB, attach: {domain: backup, target: hda}}
---
apiVersion: xenflux/v1
kind: Snapshot
metadata: {name: e}
spec: {volume: dns, size: 1GiB, mode: w}
",
    );
    let before = s.run(&["sim", "show"]);
    let (code, out) = s.out(&["validate"]);
    assert_eq!(code, 1, "{out}");
    for want in [
        "snapshots.yaml:4:",
        "Snapshot/a",
        "spec.volume: unknown volume `nope`",
        "Snapshot/b",
        "volume `ovs` is dual-primary",
        "spec.size: 3MiB is not a whole number of 4 MiB extents",
        "spec.attach.domain: unknown domain `ghost`",
        "Snapshot/c",
        "spec.size: 20GiB is more than volume `dns` (10GiB)",
        "`xvda` is a disk of domain `vpn` already",
        "Snapshot/d",
        "`hda` is not a Xen virtual device name",
        "Snapshot/e",
        "mode",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // Nothing was changed: plan refuses too, and the simulated cluster is as it was.
    let (code, _) = s.out(&["plan"]);
    assert_eq!(code, 1);
    assert_eq!(s.run(&["sim", "show"]).stdout, before.stdout);
}

#[test]
fn a_snapshot_is_not_made_while_a_node_that_may_hold_it_is_unknown() {
    let s = State::new(false);
    s.apply(&[]);
    s.backup(true);
    let (code, out) = s.out(&["sim", "fail-node", "dom0m"]);
    assert_eq!(code, 0, "{out}");
    let (_, plan) = s.out(&["plan"]);
    // Blocked (with its volume, which waits for dom0m too), never made on dom0 meanwhile.
    assert!(plan.contains("Snapshot/dns-nightly: "), "{plan}");
    assert!(!plan.contains("lvcreate"), "{plan}");
    let (code, out) = s.out(&["sim", "heal", "dom0m"]);
    assert_eq!(code, 0, "{out}");
    s.apply(&[]);
    s.plan_is_empty();
    assert_eq!(s.snapshots()[0]["node"], "dom0");
}
