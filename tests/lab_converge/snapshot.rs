//! The snapshot step of the lab test, after step 5: a snapshot of `dns` for a backup domain. A second small PV domain,
//! `backup`, is added on nodea (where `dns` is Primary) with a Snapshot of `dns` attached to it
//! read-only; the real tools must show the snapshot LV (origin `dns`, tagged) and the device in
//! `xl block-list backup`, read-only in xenstore. Then the Snapshot is removed from
//! the state and `backup` stopped in the same change: detached, removed, stopped. At the end
//! `backup` leaves the state again, so the node-loss steps run on what they always ran on.

use std::time::Instant;

use super::Run;

/// The backup domain and the snapshot, as an operator would write them.
const BACKUP: &str = "apiVersion: xenflux/v1
kind: Domain
metadata:
  name: backup
spec:
  node: nodea
  memory: 96MiB
  type: pv
  kernel: /var/lib/xenflux-lab/vmlinuz
  ramdisk: /var/lib/xenflux-lab/domu-initrd.img
  extra: console=hvc0
";

const SNAPSHOT: &str = "---
apiVersion: xenflux/v1
kind: Snapshot
metadata:
  name: dns-backup
spec:
  volume: dns
  size: 16MiB
  attach: {domain: backup, target: xvdb}
";

/// `xvdb` as `xl block-list` and `xl block-detach` number it.
const XVDB: &str = "51728";

pub(super) fn run(run: &mut Run) {
    let t = Instant::now();
    let step = "snapshot a: dns snapshotted for a backup domain";
    let file = run.state.path().join("backup.yaml");
    std::fs::write(&file, format!("{BACKUP}{SNAPSHOT}")).expect("write backup.yaml");
    run.apply_then_plan_is_empty(step);
    let lvs = run.ssh(
        "nodea",
        "lvs --noheadings --separator / -o lv_name,origin,lv_attr,lv_tags XEN/dns-backup.snap",
    );
    let f: Vec<&str> = lvs.trim().split('/').collect();
    assert!(
        f.len() == 4
            && f[1] == "dns"
            && f[2].starts_with('s')
            && f[3].split(',').any(|t| t == "xenflux-snap"),
        "step {step}: nodea: lvs {lvs:?}: a snapshot of dns tagged xenflux-snap"
    );
    assert!(
        !run.ssh("nodeb", "lvs --noheadings -o lv_name XEN")
            .contains("dns-backup"),
        "step {step}: nodeb has no snapshot (dns is Primary on nodea)"
    );
    let list = run.ssh("nodea", "xl block-list backup");
    let row = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(XVDB))
        .unwrap_or_else(|| panic!("step {step}: xl block-list backup lacks {XVDB}:\n{list}"));
    let be_path = row.split_whitespace().last().unwrap_or_default();
    let read = |key: &str| {
        run.ssh("nodea", &format!("xenstore-read {be_path}/{key}"))
            .trim()
            .to_string()
    };
    // The lab's guest runs no block frontend: the backend waits for it (state 2), read-only.
    let (mode, params, state) = (read("mode"), read("params"), read("state"));
    eprintln!(
        "step {step}: xl block-list backup:\n{list}backend {be_path}: mode {mode}, params {params}, state {state}\n{}",
        run.ssh(
            "nodea",
            "lvs --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size,lv_attr,lv_tags,origin,snap_percent XEN"
        )
    );
    assert_eq!(
        (mode.as_str(), params.as_str()),
        ("r", "/dev/XEN/dns-backup.snap"),
        "step {step}: the backend of {XVDB} in xenstore"
    );
    run.step(step, t);

    let t = Instant::now();
    let step = "snapshot b: removed, backup stopped";
    std::fs::write(
        &file,
        BACKUP.replace("  node: nodea\n", "  node: nodea\n  state: stopped\n"),
    )
    .expect("write backup.yaml");
    run.apply_then_plan_is_empty(step);
    assert!(
        !run.ssh("nodea", "lvs --noheadings -o lv_name XEN")
            .contains("dns-backup"),
        "step {step}: the snapshot LV is gone"
    );
    assert!(
        !run.domains("nodea").iter().any(|d| d == "backup"),
        "step {step}: backup is stopped"
    );
    run.assert_dns_runs_on(step, Some("nodea"));
    // backup leaves the state (and its config file the node): what follows is as before.
    std::fs::remove_file(&file).expect("remove backup.yaml");
    run.ssh("nodea", "rm -f /etc/xen/backup.cfg");
    let plan = run.xenflux(step, &["plan", "--target", "ssh"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "step {step}: plan without backup:\n{}{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
    run.step(step, t);
}
