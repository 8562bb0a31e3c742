#![allow(clippy::disallowed_methods)]
//! The QEMU lab end to end: `xenflux lab up` builds (when needed) and boots two Xen 4.17 dom0s
//! with DRBD 8.4; a plain `ssh -F <generated config>` proves they are real (Xen, the DRBD
//! module, LVM on the data disk, the private link); then `examples/lab` is driven through
//! `xenflux apply --target ssh` and each outcome checked with the real tools
//! (`tests/lab_converge/` holds those steps); `xenflux lab down` stops the nodes and their QEMU
//! processes are gone.
//!
//! Runs under `CI=true` — where a lab that cannot be built or booted fails the test — and with
//! `XENFLUX_LAB=1`; skipped otherwise, saying so. It needs root, about 3 GB of disk and, on first
//! use, a download and a two-minute build; two emulated CPUs take both cores for ~12 minutes.

use std::path::Path;
use std::process::Command;

mod common;
mod lab_converge;

use common::lab::{boot_lab, lab_dir, lab_enabled, qemu_pids, ssh};

/// The booted nodes are what they claim: Xen 4.17 dom0s with the DRBD 8.4.11 module, LVM
/// without udev on the data disk, and a private link between them.
fn assert_real_nodes(config: &Path) {
    for node in ["nodea", "nodeb"] {
        let info = ssh(config, node, "xl info");
        assert!(
            info.lines()
                .any(|l| l.starts_with("host") && l.ends_with(node)),
            "xl info on {node} names the node:\n{info}"
        );
        assert!(
            info.lines()
                .any(|l| l.starts_with("xen_minor") && l.trim_end().ends_with(": 17")),
            "{node} runs Xen 4.17:\n{info}"
        );
        let drbd = ssh(config, node, "cat /proc/drbd");
        assert!(
            drbd.starts_with("version: 8.4.11 "),
            "{node} has the DRBD 8.4.11 module loaded:\n{drbd}"
        );
        let lvm = ssh(config, node, "lvm version");
        assert!(lvm.contains("LVM version:"), "{node}: {lvm}");
        // The node made VG XEN on its blank data disk at boot; an LV on it proves LVM works
        // without udev (lvmlocal.conf).
        let pvs = ssh(config, node, "pvs --noheadings -o pv_name,vg_name");
        assert_eq!(
            pvs.split_whitespace().collect::<Vec<_>>(),
            ["/dev/vdb", "XEN"],
            "{node}"
        );
        let lvs = ssh(
            config,
            node,
            "lvcreate -q --yes -L 8m -n probe XEN >/dev/null && lvs --noheadings -o lv_name,lv_size --units m --nosuffix XEN && lvremove -q --yes XEN/probe >/dev/null",
        );
        assert_eq!(
            lvs.split_whitespace().collect::<Vec<_>>(),
            ["probe", "8.00"],
            "{node}"
        );
        let vgs = ssh(config, node, "vgs --noheadings -o vg_name,pv_count XEN");
        assert_eq!(
            vgs.split_whitespace().collect::<Vec<_>>(),
            ["XEN", "1"],
            "{node}"
        );
    }
    let ping = ssh(config, "nodea", "ping -c 3 -W 5 169.254.77.2");
    assert!(
        ping.contains("3 received"),
        "nodea reaches nodeb over the private link:\n{ping}"
    );
    let ping = ssh(config, "nodeb", "ping -c 1 -W 5 169.254.77.1");
    assert!(ping.contains("1 received"), "{ping}");
}

/// A fresh lab: real nodes, then `examples/lab` applied over ssh, grown, live-migrated,
/// stopped, started on the other node and repaired after drift — every outcome checked with the
/// real tools over plain `ssh -F` — then stopped by pid.
#[test]
fn lab_converges_grows_moves_and_repairs() {
    if !lab_enabled() {
        return;
    }
    let dir = lab_dir();
    let guard = boot_lab();
    let pids = qemu_pids(&dir);
    let config = dir.join("ssh_config");
    assert_real_nodes(&config);
    lab_converge::run(&config);
    drop(guard);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "QEMU pid {pid} is still alive after lab down"
        );
    }
}

/// `lab status` over an empty lab directory: the scripts are found, nothing is built or
/// running, and the exit status says so (3).
#[test]
fn lab_status_of_an_empty_directory_says_nothing_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .args(["lab", "status", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run xenflux lab status");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("build: none"), "{stdout}");
    assert!(stdout.contains("nodea: stopped"), "{stdout}");
    assert!(stdout.contains("nodeb: stopped"), "{stdout}");
}

/// A scripts directory without the lab's scripts is an error that names where it looked.
#[test]
fn lab_without_its_scripts_fails_and_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .args(["lab", "down", "--scripts"])
        .arg(dir.path())
        .output()
        .expect("run xenflux lab down");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lab scripts were not found")
            && stderr.contains(&*dir.path().to_string_lossy()),
        "{stderr}"
    );
}

/// Runs `xenflux lab ARGS --dir DIR` (nothing else of the environment points at a lab).
fn xenflux_lab_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .arg("lab")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env_remove("XENFLUX_LAB_DIR")
        .output()
        .expect("run xenflux lab")
}

/// The power commands take one of the two nodes by name; anything else is refused by the
/// argument parser (exit 2) before a script runs.
#[test]
fn lab_power_commands_refuse_an_unknown_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    for cmd in ["crash", "fence", "start", "power-status"] {
        let out = xenflux_lab_in(dir.path(), &[cmd, "nodec"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "lab {cmd} nodec: {stderr}");
        assert!(
            stderr.contains("invalid value 'nodec'") && stderr.contains("nodea, nodeb"),
            "lab {cmd} nodec: {stderr}"
        );
        let out = xenflux_lab_in(dir.path(), &[cmd]);
        assert_eq!(out.status.code(), Some(2), "lab {cmd} without a node");
    }
}

/// In a lab directory where nothing runs, every node is confirmed off: `fence` succeeds
/// (a fence must treat "already off" as success), `crash` has nothing to do, and
/// `power-status` exits 0 ("off").
#[test]
fn lab_fence_crash_and_power_status_of_a_node_that_is_off_succeed() {
    let dir = tempfile::tempdir().expect("temp dir");
    for node in ["nodea", "nodeb"] {
        let out = xenflux_lab_in(dir.path(), &["fence", node]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "fence {node}: {stdout}");
        assert!(
            stdout.contains(&format!("{node} is off (already): fenced")),
            "{stdout}"
        );
        let out = xenflux_lab_in(dir.path(), &["crash", node]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "crash {node}: {stdout}");
        assert!(stdout.contains("already off"), "{stdout}");
        let out = xenflux_lab_in(dir.path(), &["power-status", node]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "power-status {node}: {stdout}");
        assert_eq!(stdout.trim(), format!("{node}: off"));
    }
    // Nothing was made in the lab directory: the power commands only look and kill.
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("read dir").count(),
        0,
        "{}",
        dir.path().display()
    );
}

/// `start` needs a built lab (it never builds: that is `up`'s job) and says so.
#[test]
fn lab_start_without_a_build_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = xenflux_lab_in(dir.path(), &["start", "nodeb"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the lab is not built") && stderr.contains("'lab up' builds it"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("run").exists(),
        "start without a build made nothing"
    );
}

/// The recipe hash covers only what shapes the build: the scripts that run and power nodes
/// can change without forcing a rebuild, while build.sh, lib.sh, packages.txt and the guest
/// files are all part of it.
#[test]
fn lab_recipe_hash_covers_the_build_and_not_the_run_time_scripts() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    let copy = tempfile::tempdir().expect("temp dir");
    let hash = |dir: &Path| -> String {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source {}/lib.sh && recipe_hash", dir.display()))
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let cp = Command::new("cp")
        .arg("-r")
        .arg(scripts.join("."))
        .arg(copy.path())
        .status()
        .expect("run cp");
    assert!(cp.success());
    let original = hash(copy.path());
    assert_eq!(original.len(), 16, "{original}");
    let append = |file: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(copy.path().join(file))
            .unwrap_or_else(|e| panic!("open {file}: {e}"));
        writeln!(f, "# changed").expect("append");
    };
    for run_time in [
        "up.sh",
        "down.sh",
        "status.sh",
        "start.sh",
        "crash.sh",
        "fence.sh",
        "power-status.sh",
        "node.sh",
    ] {
        append(run_time);
        assert_eq!(
            hash(copy.path()),
            original,
            "{run_time} is not in the recipe"
        );
    }
    for build in ["build.sh", "lib.sh", "packages.txt", "guest/init"] {
        let before = hash(copy.path());
        append(build);
        assert_ne!(hash(copy.path()), before, "{build} is in the recipe");
    }
}
