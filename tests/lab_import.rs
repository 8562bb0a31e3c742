#![allow(clippy::disallowed_methods)]
//! Adoption on real nodes: on a fresh QEMU lab, a cluster is built by hand over plain ssh the
//! way an operator builds one — `lvcreate`, a hand-written DRBD 8.4 `.res` (minor 3, port 7790,
//! external meta-data in slot 1 of a meta LV called `drbdmeta`), `create-md`, `up`,
//! `primary --force`, `mkfs`, a marker file, a hand-made bridge and an xl config with its own
//! MAC, `xl create` — then `xenflux import --target ssh` writes its state, and:
//! - the first `plan` holds nothing disruptive (only config files rewritten, DRBD re-reading
//!   them and the hand-made LVs tagged) and blocks nothing;
//! - `apply` succeeds and the next `plan` is empty;
//! - the kernel runs the resource with exactly the settings it had (`drbdsetup show`), and
//!   `drbdadm -d adjust` over xenflux's file has nothing to do;
//! - the domain kept running under the same domid, the volume's data (a checksum of the whole
//!   device, and the marker read back) is unchanged, and `/proc/drbd` never left Connected
//!   (watched on the nodes every 0.2 s while xenflux ran, and the kernel log has no new state
//!   change for the resource).
//!
//! Runs under `CI=true` and with `XENFLUX_LAB=1`, like `tests/lab.rs` (one lab at a time: the
//! two are separate test binaries, which cargo runs one after the other).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::lab::{boot_lab, lab_dir, lab_enabled, ssh};

const NODES: [&str; 2] = ["nodea", "nodeb"];

/// The resource as an operator writes it for DRBD 8.4 (its own minor, port and meta slot).
const WEB_RES: &str = "\
resource web {
  net {
    protocol C;
  }
  on nodea {
    device /dev/drbd3;
    disk /dev/XEN/web;
    address 169.254.77.1:7790;
    meta-disk /dev/XEN/drbdmeta[1];
  }
  on nodeb {
    device /dev/drbd3;
    disk /dev/XEN/web;
    address 169.254.77.2:7790;
    meta-disk /dev/XEN/drbdmeta[1];
  }
}
";

/// The domain's xl config as an operator writes it: its own MAC, a key xenflux does not model.
const WEB_CFG: &str = "\
name = 'web'
memory = 128
vcpus = 1
kernel = '/var/lib/xenflux-lab/vmlinuz'
ramdisk = '/var/lib/xenflux-lab/domu-initrd.img'
extra = 'console=hvc0'
cpu_weight = 256
disk = [ 'phy:/dev/drbd3,xvda,w' ]
vif = [ 'mac=00:16:3e:4a:17:03,bridge=xenbr0' ]
";

const MARKER: &str = "adopted-not-touched";

/// Runs the built binary with the lab's ssh config; stopped (and the test failed) after ten
/// minutes rather than hanging.
fn xenflux(config: &Path, state_dir: &Path, args: &[&str]) -> common::Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", "600", common::lab::bin()])
        .arg("--ssh-config")
        .arg(config)
        .arg("--state-dir")
        .arg(state_dir)
        .args(args);
    common::run(&mut cmd)
}

/// The `/proc/drbd` line of minor 3 on `node`.
fn drbd3(config: &Path, node: &str) -> String {
    let text = ssh(config, node, "cat /proc/drbd");
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("3: "))
        .unwrap_or_else(|| panic!("{node}: /proc/drbd has no minor 3:\n{text}"))
        .to_string()
}

fn in_sync(line: &str) -> bool {
    line.contains("cs:Connected") && line.contains("ds:UpToDate/UpToDate")
}

/// Lines of the node's kernel log about the resource (8.4 writes `drbd web:` and
/// `block drbd3:`).
fn kernel_log(config: &Path, node: &str) -> Vec<String> {
    ssh(
        config,
        node,
        "dmesg | grep -E 'drbd web:|block drbd3:' || true",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn tags(config: &Path, node: &str, lv: &str) -> String {
    ssh(
        config,
        node,
        &format!("lvs --noheadings -o lv_tags XEN/{lv}"),
    )
    .trim()
    .to_string()
}

/// What must not change while xenflux adopts the cluster.
#[derive(Debug, PartialEq)]
struct Untouched {
    domid: String,
    checksum: String,
    replica: String,
    marker: String,
    running: [String; 2],
}

fn untouched(config: &Path) -> Untouched {
    Untouched {
        domid: ssh(config, "nodea", "xl domid web").trim().to_string(),
        checksum: ssh(config, "nodea", "md5sum </dev/drbd3")
            .trim()
            .to_string(),
        // External meta-data: the peer's backing LV holds exactly the data.
        replica: ssh(config, "nodeb", "md5sum </dev/XEN/web")
            .trim()
            .to_string(),
        marker: ssh(
            config,
            "nodea",
            "debugfs -R 'cat /marker' /dev/drbd3 2>/dev/null",
        )
        .trim()
        .to_string(),
        running: NODES.map(|n| ssh(config, n, "drbdsetup show web")),
    }
}

#[test]
fn lab_adopts_a_cluster_built_by_hand() {
    if !lab_enabled() {
        return;
    }
    let dir = lab_dir();
    let guard = boot_lab();
    let config = dir.join("ssh_config");
    let scratch = tempfile::tempdir().expect("temp dir");
    let state_dir = scratch.path().join("state-dir");
    let out = scratch.path().join("cluster-state");
    let out_s = out.to_str().expect("utf-8 path");
    let started = Instant::now();

    // 1: the cluster, built by hand.
    for node in NODES {
        ssh(
            &config,
            node,
            &format!(
                "set -e
                 lvcreate -q --yes -L 64m -n web XEN >/dev/null
                 lvcreate -q --yes -L 256m -n drbdmeta XEN >/dev/null
                 ip link add xenbr0 type bridge && ip link set xenbr0 up
                 cat >/etc/drbd.d/web.res <<'EOF'\n{WEB_RES}EOF
                 cat >/etc/xen/web.cfg <<'EOF'\n{WEB_CFG}EOF
                 yes yes | drbdadm create-md web
                 drbdadm up web"
            ),
        );
    }
    ssh(
        &config,
        "nodea",
        &format!(
            "set -e
             drbdadm primary --force web
             mkfs.ext4 -q -L web /dev/drbd3
             mkdir -p /mnt/web && mount /dev/drbd3 /mnt/web
             echo {MARKER} >/mnt/web/marker && umount /mnt/web"
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while !in_sync(&drbd3(&config, "nodea")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        in_sync(&drbd3(&config, "nodea")),
        "{}",
        drbd3(&config, "nodea")
    );
    ssh(&config, "nodea", "xl create -q /etc/xen/web.cfg");
    let before = untouched(&config);
    assert_eq!(before.marker, MARKER, "{before:?}");
    assert_eq!(
        before.checksum.split_whitespace().next(),
        before.replica.split_whitespace().next(),
        "the replica differs after the initial sync"
    );
    let log_before = NODES.map(|n| kernel_log(&config, n));
    eprintln!("built by hand in {:.1} s", started.elapsed().as_secs_f64());

    // /proc/drbd is watched on both nodes from now until the end, by the nodes themselves (a
    // line every 0.2 s into a file): finer than polling over ssh, and without loading the
    // emulated nodes with ssh handshakes while xenflux works.
    for node in NODES {
        ssh(
            &config,
            node,
            "rm -f /tmp/drbd3.watch /tmp/drbd3.stop; nohup sh -c 'while [ ! -e /tmp/drbd3.stop ]; do \
             grep \"^ *3: \" /proc/drbd >>/tmp/drbd3.watch; sleep 0.2; done' </dev/null >/dev/null 2>&1 &",
        );
    }

    // 2: import.
    let t = Instant::now();
    let import = xenflux(
        &config,
        &state_dir,
        &[
            "import", "--target", "ssh", "--node", "nodea", "--node", "nodeb", "--out", out_s,
        ],
    );
    assert_eq!(import.code, Some(0), "{import}");
    eprintln!(
        "import: {:.1} s\n{}",
        t.elapsed().as_secs_f64(),
        import.stderr
    );
    let volumes = std::fs::read_to_string(out.join("volumes.yaml")).expect("volumes.yaml");
    for pin in ["minor: 3", "port: 7790", "metaIndex: 1", "adopt: true"] {
        assert!(volumes.contains(pin), "{pin} in:\n{volumes}");
    }
    let nodes = std::fs::read_to_string(out.join("nodes.yaml")).expect("nodes.yaml");
    assert!(nodes.contains("metaVolume: drbdmeta"), "{nodes}");
    let domains = std::fs::read_to_string(out.join("domains.yaml")).expect("domains.yaml");
    assert!(domains.contains("00:16:3e:4a:17:03"), "{domains}");
    let notes = std::fs::read_to_string(out.join("IMPORT-NOTES.md")).expect("notes");
    assert!(notes.contains("`cpu_weight = 256`"), "{notes}");
    assert!(
        !notes.contains("## First plan"),
        "the first plan blocks or disrupts:\n{notes}"
    );

    // 3: the first plan: nothing disruptive, nothing blocked.
    let plan = xenflux(
        &config,
        &state_dir,
        &[
            "--state", out_s, "plan", "--target", "ssh", "--format", "json",
        ],
    );
    assert!(matches!(plan.code, Some(0 | 2)), "{plan}");
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let blocked = json["blocked"].as_array().cloned().unwrap_or_default();
    assert!(blocked.is_empty(), "blocked: {blocked:?}");
    let mut kinds = Vec::new();
    for stage in json["stages"].as_array().expect("stages") {
        for a in stage["actions"].as_array().expect("actions") {
            kinds.push(format!(
                "{} on {}",
                a["action"].as_str().unwrap_or("?"),
                a["node"]
            ));
        }
    }
    eprintln!("first plan: {kinds:?}");
    let harmless = ["write-file", "adjust", "adopt-lv"];
    assert!(
        kinds
            .iter()
            .all(|k| harmless.contains(&k.split(' ').next().unwrap_or(""))),
        "disruptive first plan: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("adopt-lv")).count(),
        2,
        "{kinds:?}"
    );

    // 4: apply, then nothing is left to do.
    let apply = xenflux(
        &config,
        &state_dir,
        &["--state", out_s, "apply", "--target", "ssh", "--yes"],
    );
    assert_eq!(apply.code, Some(0), "{apply}");
    eprintln!("apply:\n{}", apply.stdout);
    let again = xenflux(
        &config,
        &state_dir,
        &["--state", out_s, "plan", "--target", "ssh"],
    );
    assert_eq!(again.code, Some(0), "{again}");

    // 5: nothing moved.
    for node in NODES {
        let seen = ssh(
            &config,
            node,
            "touch /tmp/drbd3.stop; sleep 0.5; cat /tmp/drbd3.watch",
        );
        let lines: Vec<&str> = seen.lines().collect();
        assert!(lines.len() > 20, "{node}: the watch saw too little: {seen}");
        let left: Vec<&&str> = lines
            .iter()
            .filter(|l| !l.contains("cs:Connected"))
            .collect();
        assert!(
            left.is_empty(),
            "{node}: /proc/drbd left Connected ({} of {} looks): {left:?}",
            left.len(),
            lines.len()
        );
        eprintln!("{node}: /proc/drbd Connected in all {} looks", lines.len());
    }
    let after = untouched(&config);
    assert_eq!(
        before, after,
        "the domain, the data or the kernel's settings changed"
    );
    for (i, node) in NODES.into_iter().enumerate() {
        let log = kernel_log(&config, node);
        assert_eq!(
            log_before[i], log,
            "{node}: the kernel log has new lines for resource web"
        );
        let dry = ssh(&config, node, "drbdadm -d adjust web");
        assert!(
            dry.trim().is_empty(),
            "{node}: drbdadm -d adjust web over xenflux's file would run:\n{dry}"
        );
        let file = ssh(&config, node, "cat /etc/drbd.d/web.res");
        assert!(
            file.contains("xenflux"),
            "{node}: web.res is not xenflux's:\n{file}"
        );
        assert_eq!(tags(&config, node, "web"), "xenflux,xenflux-md", "{node}");
        assert!(in_sync(&drbd3(&config, node)), "{node}");
    }
    eprintln!("lab import: {:.1} s", started.elapsed().as_secs_f64());
    drop(guard);
}
