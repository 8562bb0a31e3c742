//! The snapshot checks of the lab test, made in the image-disk steps (`filedisk.rs`): a Snapshot
//! of `dns` attached read-only to the image domain `img` on nodea (where `dns` is Primary) —
//! the real tools must show the snapshot LV (origin `dns`, tagged) and the device in
//! `xl block-list img`, read-only in xenstore — and, when the Snapshot leaves the state in the
//! commit that moves `img` to nodeb, detached and removed before the migration.

use super::Run;

/// The snapshot, as an operator would write it: attached to the image domain.
pub(super) const SNAPSHOT: &str = "---
apiVersion: xenflux/v1
kind: Snapshot
metadata:
  name: dns-backup
spec:
  volume: dns
  size: 16MiB
  attach: {domain: img, target: xvdb}
";

/// `xvdb` as `xl block-list` and `xl block-detach` number it.
const XVDB: &str = "51728";

/// The snapshot LV on nodea (none on nodeb), attached read-only to `domain` as xvdb.
pub(super) fn assert_attached(run: &Run, step: &str, domain: &str) {
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
    let list = run.ssh("nodea", &format!("xl block-list {domain}"));
    let row = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(XVDB))
        .unwrap_or_else(|| panic!("step {step}: xl block-list {domain} lacks {XVDB}:\n{list}"));
    let be_path = row.split_whitespace().last().unwrap_or_default();
    let read = |key: &str| {
        run.ssh("nodea", &format!("xenstore-read {be_path}/{key}"))
            .trim()
            .to_string()
    };
    // The lab's guest runs no block frontend: the backend waits for it (state 2), read-only.
    let (mode, params, state) = (read("mode"), read("params"), read("state"));
    eprintln!(
        "step {step}: xl block-list {domain}:\n{list}backend {be_path}: mode {mode}, params {params}, state {state}\n{}",
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
}

/// The snapshot LV is gone from nodea.
pub(super) fn assert_removed(run: &Run, step: &str) {
    assert!(
        !run.ssh("nodea", "lvs --noheadings -o lv_name XEN")
            .contains("dns-backup"),
        "step {step}: the snapshot LV is gone"
    );
}
