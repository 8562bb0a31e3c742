//! Step 6 (before the node-loss steps): a domain on a raw image file on the shared OCFS2
//! filesystem `/OVS`, the Oracle VM way, with a snapshot of `dns` attached to it. A small PV
//! domain `img` (128 MiB like `dns`: with 64 MiB Xen refuses the lab's kernel, "segment kernel
//! too large"; the lab's kernel and initramfs) whose only disk is
//! `/OVS/running_pool/img/System.img`, and a Snapshot of `dns` attached to it read-only, are
//! added to the state copy and applied: xenflux creates the image sparse on one node (both see
//! it), starts the domain, which Xen backs with a loop device, snapshots `dns` on nodea and
//! attaches the snapshot (`snapshot.rs` checks it with the real tools). Then, in one commit,
//! the Snapshot leaves the state and `img`'s `node` changes: the snapshot is detached and
//! removed, and `img` live-migrated to nodeb by `xl migrate` alone — `/proc/drbd` shows every
//! DRBD role as it was before. Then `img` is stopped by its `state` (`xl shutdown`). Each
//! apply is followed by a plan that must be empty. The step then takes the domain away again
//! by hand (its config and image removed) so the node-loss steps see the cluster as before it:
//! a `stat` on `/OVS` waits for OCFS2's recovery after a node is lost, which the failover
//! timing there is not about.

use std::time::Instant;

use super::snapshot::{assert_attached, assert_removed, SNAPSHOT};
use super::{Run, NODES};

const IMAGE: &str = "/OVS/running_pool/img/System.img";

fn domain(node: &str) -> String {
    format!(
        "apiVersion: xenflux/v1\nkind: Domain\nmetadata:\n  name: img\nspec:\n  node: {node}\n  memory: 128MiB\n  vcpus: 1\n  type: pv\n  kernel: /var/lib/xenflux-lab/vmlinuz\n  ramdisk: /var/lib/xenflux-lab/domu-initrd.img\n  extra: console=hvc0\n  disks:\n    - {{file: {IMAGE}, size: 32MiB, target: xvda}}\n"
    )
}

/// The `ro:` and `ds:` fields of every minor in `/proc/drbd`, per node.
fn roles(run: &Run) -> Vec<String> {
    NODES
        .iter()
        .flat_map(|n| {
            run.ssh(n, "cat /proc/drbd")
                .lines()
                .filter(|l| l.contains(" cs:"))
                .map(|l| {
                    let keep: Vec<&str> = l
                        .split_whitespace()
                        .filter(|w| w.ends_with(':') || w.starts_with("ro:"))
                        .collect();
                    format!("{n} {}", keep.join(" "))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Where `img` runs (`xl list`), with its domid.
fn runs(run: &Run) -> Vec<(String, String)> {
    NODES
        .iter()
        .filter(|n| run.domains(n).iter().any(|d| d == "img"))
        .map(|n| (n.to_string(), run.ssh(n, "xl domid img").trim().to_string()))
        .collect()
}

pub(super) fn run(run: &mut Run) {
    let t = Instant::now();
    let step = "6a an image domain on /OVS, a snapshot of dns attached to it";
    let file = run.state.path().join("img.yaml");
    std::fs::write(&file, format!("{}{SNAPSHOT}", domain("nodea"))).expect("write img.yaml");
    let before = roles(run);
    run.apply_then_plan_is_empty(step);
    let on_a = runs(run);
    assert_eq!(on_a.len(), 1, "step {step}: img runs once: {on_a:?}");
    assert_eq!(on_a[0].0, "nodea", "step {step}: {on_a:?}");
    for node in NODES {
        // Shared: created once, seen from both nodes, on the OCFS2 filesystem, sparse.
        let st = run.ssh(node, &format!("stat -c '%s %F %m %b' {IMAGE}"));
        assert!(
            st.starts_with("33554432 regular file /OVS "),
            "step {step}: {node}: stat {IMAGE}: {st}"
        );
    }
    let loops = run.ssh("nodea", "losetup -a");
    assert!(
        loops.contains(IMAGE),
        "step {step}: nodea: the image is on a loop device: {loops}"
    );
    assert_eq!(roles(run), before, "step {step}: no DRBD role changed");
    assert_attached(run, step, "img");
    run.step(step, t);

    let t = Instant::now();
    let step = "6b the snapshot removed and the image domain live-migrated to nodeb in one apply";
    std::fs::write(&file, domain("nodeb")).expect("write img.yaml");
    run.apply_then_plan_is_empty(step);
    let on_b = runs(run);
    assert_eq!(on_b.len(), 1, "step {step}: img runs once: {on_b:?}");
    assert_eq!(on_b[0].0, "nodeb", "step {step}: {on_b:?}");
    assert_eq!(roles(run), before, "step {step}: no DRBD role changed");
    let loops = run.ssh("nodea", "losetup -a");
    assert!(
        !loops.contains(IMAGE),
        "step {step}: nodea let go of the image's loop device: {loops}"
    );
    assert_removed(run, step);
    run.step(step, t);

    let t = Instant::now();
    let step = "6c img stopped by its state";
    std::fs::write(
        &file,
        domain("nodeb").replace("  node: nodeb\n", "  node: nodeb\n  state: stopped\n"),
    )
    .expect("write img.yaml");
    run.apply_in_sync(step);
    assert!(runs(run).is_empty(), "step {step}: img runs nowhere");
    run.assert_dns_runs_on(step, Some("nodea"));
    run.step(step, t);

    // Back to the state before the step, by hand.
    let t = Instant::now();
    std::fs::remove_file(&file).expect("remove img.yaml");
    for node in NODES {
        run.ssh(node, "rm -f /etc/xen/img.cfg");
    }
    run.ssh("nodea", "rm -rf /OVS/running_pool");
    run.step("6d img taken away by hand", t);
}
