//! The steps of `lab_converges_grows_moves_and_repairs` on a booted lab: `examples/lab` applied
//! with the built binary over `--target ssh`, then a grown volume, a live migration, a stop, a
//! start on the other node, and drift made behind xenflux's back (domain destroyed, its volume
//! demoted and left allowing two Primaries, the OCFS2 filesystem unmounted on the peer), a
//! snapshot of a volume attached to a backup domain and removed again, each followed by a
//! re-plan that must be empty; then Remus protection started and removed (`remus`).
//! Every outcome is checked with the real tools over plain `ssh -F`, never through xenflux.
//! It owns no lab lifecycle (the caller boots and stops the nodes) and never edits
//! `examples/lab`: changed states are written into a temporary copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod filedisk;
mod ha;
mod remus;
mod snapshot;

const NODES: [&str; 2] = ["nodea", "nodeb"];
const MIB: u64 = 1024 * 1024;

/// The lab's ssh config, xenflux's own state directory and the desired state being applied.
struct Run {
    config: PathBuf,
    state_dir: tempfile::TempDir,
    state: tempfile::TempDir,
    timings: Vec<(String, Duration)>,
}

impl Drop for Run {
    fn drop(&mut self) {
        eprintln!("lab converge timings:");
        for (step, took) in &self.timings {
            eprintln!("  {step}: {:.1} s", took.as_secs_f64());
        }
    }
}

/// What the real tools say about one DRBD resource on one node.
struct Res {
    minor: u32,
    slot: u32,
}

impl Run {
    fn step(&mut self, name: &str, started: Instant) {
        let took = started.elapsed();
        eprintln!("lab step {name}: {:.1} s", took.as_secs_f64());
        self.timings.push((name.to_string(), took));
    }

    /// Rewrites one file of the desired-state copy: `from` must occur exactly once.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.state.path().join(file);
        let text = std::fs::read_to_string(&path).expect("read the state copy");
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file} holds {from:?} exactly once"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write the state copy");
    }

    /// Runs the built binary on the lab; one that has not finished after 10 minutes (a step
    /// takes at most 5 here) is stopped by its pid and the step fails saying so, rather than
    /// the test hanging.
    fn xenflux(&self, step: &str, args: &[&str]) -> Output {
        let out_path = self.state_dir.path().join("test-stdout");
        let err_path = self.state_dir.path().join("test-stderr");
        let mut child = Command::new(crate::common::lab::bin())
            .arg("--state")
            .arg(self.state.path())
            .arg("--ssh-config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args(args)
            // Each ssh batch and verification look, with times, in the step's stderr.
            .env("XENFLUX_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("run xenflux");
        let deadline = Instant::now() + Duration::from_secs(600);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for xenflux") {
                break status;
            }
            if Instant::now() > deadline {
                // What xenflux and its ssh clients were doing, before they are stopped.
                let local = Command::new("ps")
                    .args(["-eo", "pid,ppid,etimes,stat,args", "--forest"])
                    .output()
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .lines()
                            .filter(|l| l.contains("xenflux") || l.contains("ssh"))
                            .map(|l| format!("{l}\n"))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "step {step}: xenflux {args:?} did not finish in 600 s and was stopped (pid {}):\nlocal processes:\n{local}\nstdout:\n{}\nstderr:\n{}\n{}",
                    child.id(),
                    std::fs::read_to_string(&out_path).unwrap_or_default(),
                    std::fs::read_to_string(&err_path).unwrap_or_default(),
                    self.diagnose()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// `apply --target ssh --yes` must succeed, then `plan --target ssh` must find nothing to do.
    /// `apply --target ssh`, which must succeed and report that its own observation after the
    /// apply found the cluster as desired — what a `plan` run then says (the steps that also
    /// run one, [`Run::apply_then_plan_is_empty`], hold the two to each other).
    fn apply_in_sync(&self, step: &str) {
        let apply = self.xenflux(step, &["apply", "--target", "ssh", "--yes"]);
        let said = String::from_utf8_lossy(&apply.stdout);
        assert!(
            apply.status.success()
                && said.contains("Observed again: the cluster matches the desired state."),
            "step {step}: xenflux apply --target ssh --yes ({}) did not leave the cluster as desired:\nstdout:\n{said}\nstderr:\n{}\n{}",
            apply.status,
            String::from_utf8_lossy(&apply.stderr),
            self.diagnose()
        );
        // What ran, with any `wait` lines: the test log then shows where the time went.
        eprintln!("step {step}: apply:\n{said}");
    }

    /// [`Run::apply_in_sync`], then a `plan --target ssh` of its own that must be empty.
    fn apply_then_plan_is_empty(&self, step: &str) {
        self.apply_in_sync(step);
        let plan = self.xenflux(step, &["plan", "--target", "ssh"]);
        assert_eq!(
            plan.status.code(),
            Some(0),
            "step {step}: plan --target ssh after apply is not empty:\nstdout:\n{}\nstderr:\n{}\n{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr),
            self.diagnose()
        );
    }

    /// What the nodes and the journal say, for a failure message: never fails itself.
    fn diagnose(&self) -> String {
        let mut text = String::from("journal (last 10 lines):\n");
        let journal = std::fs::read_to_string(self.state_dir.path().join("journal.jsonl"))
            .unwrap_or_default();
        let lines: Vec<&str> = journal.lines().collect();
        for l in &lines[lines.len().saturating_sub(10)..] {
            text.push_str(l);
            text.push('\n');
        }
        for node in NODES {
            for remote in [
                "xl list",
                "ps -eo pid,ppid,etimes,stat,args | grep -v ' \\[' | tail -n 40",
                "tail -n 30 /var/log/xen/xl-dns.log",
                "cat /proc/drbd",
                "tail -n 20 /var/log/sshd.log",
            ] {
                let out = Command::new("ssh")
                    .arg("-F")
                    .arg(&self.config)
                    .args([node, remote])
                    .output();
                let shown = match out {
                    Ok(o) => format!(
                        "({}) {}{}",
                        o.status,
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                    Err(e) => e.to_string(),
                };
                text.push_str(&format!("--- {node}: {remote}\n{shown}\n"));
            }
        }
        text
    }

    fn ssh(&self, node: &str, remote: &str) -> String {
        crate::common::lab::ssh(&self.config, node, remote)
    }

    /// Minor and meta-data slot of a resource, read from the file xenflux wrote on the node.
    fn res(&self, node: &str, name: &str) -> Res {
        let text = self.ssh(node, &format!("cat /etc/drbd.d/{name}.res"));
        let number_after = |key: &str, end: char| -> u32 {
            let at = text
                .find(key)
                .unwrap_or_else(|| panic!("{node}: {name}.res has no {key:?}:\n{text}"));
            let rest = &text[at + key.len()..];
            rest[..rest.find(end).unwrap_or(rest.len())]
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{node}: {name}.res: {key:?} not a number: {e}"))
        };
        Res {
            minor: number_after(" minor ", ';'),
            slot: number_after("meta[", ']'),
        }
    }

    /// The `/proc/drbd` line of a minor (` 0: cs:Connected ro:… ds:…`).
    fn proc_drbd_line(&self, node: &str, minor: u32) -> String {
        let text = self.ssh(node, "cat /proc/drbd");
        let head = format!("{minor}: ");
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("{node}: /proc/drbd has no minor {minor}:\n{text}"))
            .to_string()
    }

    /// `/proc/drbd` shows the minor Primary on `primary` only, the other node Secondary.
    fn assert_primary_on(&self, step: &str, primary: &str, minor: u32) {
        for node in NODES {
            let role = self.proc_drbd_line(node, minor);
            let want = if node == primary {
                "ro:Primary/Secondary"
            } else {
                "ro:Secondary/Primary"
            };
            assert!(role.contains(want), "step {step}: {node}: {role}");
        }
    }

    /// Waits (up to 5 minutes: a resync is DRBD's background work, not xenflux's) until the
    /// minor is Connected and UpToDate on both sides as seen from `node`, then asserts it.
    fn assert_in_sync(&self, step: &str, node: &str, minor: u32) {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut line = self.proc_drbd_line(node, minor);
        while !(line.contains("cs:Connected") && line.contains("ds:UpToDate/UpToDate"))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_secs(2));
            line = self.proc_drbd_line(node, minor);
        }
        assert!(
            line.contains("cs:Connected") && line.contains("ds:UpToDate/UpToDate"),
            "step {step}: {node}: /proc/drbd minor {minor}: {line}"
        );
    }

    /// Names of the running domains other than Domain-0, from `xl list`. A domain that has
    /// shut down but is not reaped yet (state `--ps--`, `-----d`) does not run.
    fn domains(&self, node: &str) -> Vec<String> {
        let text = self.ssh(node, "xl list");
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let state = w.len().checked_sub(2).map(|i| w[i])?;
                (!state.contains(['s', 'd'])).then(|| w[0].to_string())
            })
            .filter(|n| n != "Domain-0")
            .collect()
    }

    fn assert_dns_runs_on(&self, step: &str, on: Option<&str>) {
        for node in NODES {
            let running = self.domains(node);
            let expected: Vec<String> = if on == Some(node) {
                vec!["dns".to_string()]
            } else {
                Vec::new()
            };
            assert_eq!(
                running, expected,
                "step {step}: xl list on {node} (dns should run on {on:?})"
            );
        }
    }

    /// LV name → (size in bytes, tags), from `lvs` in VG XEN.
    fn lvs(&self, node: &str) -> Vec<(String, u64, Vec<String>)> {
        let text = self.ssh(
            node,
            "lvs --noheadings --units b --nosuffix --separator / -o lv_name,lv_size,lv_tags XEN",
        );
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut f = l.trim().split('/');
                let name = f.next().unwrap_or_default().to_string();
                let size = f
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{node}: lvs line {l:?}"));
                let tags = f
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                (name, size, tags)
            })
            .collect()
    }

    fn lv_size(&self, node: &str, lv: &str) -> u64 {
        let lvs = self.lvs(node);
        lvs.iter()
            .find(|(n, _, _)| n == lv)
            .map(|(_, size, _)| *size)
            .unwrap_or_else(|| panic!("{node}: no LV {lv} in {lvs:?}"))
    }

    /// The ovs device is mounted at /OVS on both nodes and `mounted.ocfs2 -f` lists both.
    fn assert_ocfs2_on_both(&self, step: &str, ovs_minor: u32) {
        let dev = format!("/dev/drbd{ovs_minor}");
        for node in NODES {
            let text = self.ssh(node, "mounted.ocfs2 -f");
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(dev.as_str()))
                .unwrap_or_else(|| {
                    panic!("step {step}: {node}: mounted.ocfs2 -f lacks {dev}:\n{text}")
                });
            assert!(
                line.contains("nodea") && line.contains("nodeb"),
                "step {step}: {node}: mounted.ocfs2 -f: {line}"
            );
            let mounts = self.ssh(node, "cat /proc/mounts");
            assert!(
                mounts.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 2 && f[0] == dev && f[1] == "/OVS" && f[2] == "ocfs2"
                }),
                "step {step}: {node}: {dev} is not mounted at /OVS:\n{mounts}"
            );
        }
    }
}

/// Copies `examples/lab` (its YAML files) into a fresh directory.
fn copy_example() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab");
    let dst = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&src).expect("read examples/lab") {
        let path = entry.expect("dir entry").path();
        if path.is_file() {
            std::fs::copy(&path, dst.path().join(path.file_name().expect("file name")))
                .expect("copy the example");
        }
    }
    dst
}

/// Runs every step on the booted lab reached through `config`.
pub fn run(config: &Path) {
    let mut run = Run {
        config: config.to_path_buf(),
        state_dir: tempfile::tempdir().expect("temp dir"),
        state: copy_example(),
        timings: Vec::new(),
    };

    // 1: converge examples/lab from blank nodes.
    let t = Instant::now();
    run.apply_then_plan_is_empty("1 apply examples/lab");
    run.step("1 apply examples/lab + plan", t);

    // 2: the real tools agree.
    let t = Instant::now();
    let step = "2 check with the real tools";
    let (dns, ovs) = (run.res("nodea", "dns"), run.res("nodea", "ovs"));
    for node in NODES {
        let (d, o) = (run.res(node, "dns"), run.res(node, "ovs"));
        assert_eq!(
            (d.minor, d.slot, o.minor, o.slot),
            (dns.minor, dns.slot, ovs.minor, ovs.slot),
            "{node}"
        );
        for minor in [dns.minor, ovs.minor] {
            run.assert_in_sync(step, node, minor);
        }
        let lvs = run.lvs(node);
        for lv in ["dns", "ovs"] {
            assert!(
                lvs.iter()
                    .any(|(n, _, tags)| n == lv && tags.iter().any(|t| t == "xenflux")),
                "step {step}: {node}: LV {lv} with tag xenflux in {lvs:?}"
            );
        }
        let meta_needed = u64::from(dns.slot.max(ovs.slot) + 1) * 128 * MIB;
        let meta = run.lv_size(node, "meta");
        assert!(
            meta >= meta_needed,
            "step {step}: {node}: meta LV {meta} B < {meta_needed} B"
        );
    }
    run.assert_ocfs2_on_both(step, ovs.minor);
    run.assert_dns_runs_on(step, Some("nodea"));
    run.step(step, t);

    // 3: grow dns from 64 MiB to 128 MiB.
    let t = Instant::now();
    let step = "3 grow dns";
    run.edit("volumes.yaml", "size: 64MiB", "size: 128MiB");
    run.apply_in_sync(step);
    for node in NODES {
        let lv = run.lv_size(node, "dns");
        assert!(lv >= 128 * MIB, "step {step}: {node}: LV dns is {lv} B");
        let sectors: u64 = run
            .ssh(node, &format!("cat /sys/block/drbd{}/size", dns.minor))
            .trim()
            .parse()
            .expect("sectors");
        assert!(
            sectors * 512 >= 128 * MIB,
            "step {step}: {node}: drbd{} is {} B",
            dns.minor,
            sectors * 512
        );
        run.assert_in_sync(step, node, dns.minor);
    }
    run.step(step, t);

    // 4: live-migrate to nodeb, stop, start.
    let t = Instant::now();
    let step = "4a a move whose migration fails";
    // The dom0s' own ssh, which `xl migrate` uses, pointed at a closed port: the migration
    // fails for real after xenflux made nodeb Primary for it.
    run.ssh(
        "nodea",
        "printf 'Host 169.254.77.2\n  Port 1\n' >/root/.ssh/config",
    );
    run.edit("domains.yaml", "node: nodea", "node: nodeb");
    let apply = run.xenflux(step, &["apply", "--target", "ssh", "--yes"]);
    let said = String::from_utf8_lossy(&apply.stdout);
    assert_eq!(
        apply.status.code(),
        Some(1),
        "step {step}: apply must fail:\nstdout:\n{said}\nstderr:\n{}\n{}",
        String::from_utf8_lossy(&apply.stderr),
        run.diagnose()
    );
    eprintln!("step {step}: apply:\n{said}");
    run.assert_dns_runs_on(step, Some("nodea"));
    run.assert_primary_on(step, "nodea", dns.minor);
    for node in NODES {
        let shown = run.ssh(node, "drbdsetup show dns");
        assert!(
            !shown.contains("allow-two-primaries"),
            "step {step}: {node}: dns still allows two Primaries after the rollback:\n{shown}\n{said}"
        );
    }
    run.ssh("nodea", "rm /root/.ssh/config");
    run.step(step, t);

    let t = Instant::now();
    let step = "4b the next apply completes the move to nodeb";
    run.apply_in_sync(step);
    run.assert_dns_runs_on(step, Some("nodeb"));
    run.step(step, t);

    // 5: drift behind xenflux's back (dns destroyed on nodeb, /OVS unmounted there, two
    // Primaries allowed), repaired by one apply that also starts dns where it is declared
    // again, nodea: a cold start on the other node, from a Secondary/Secondary pair. (A
    // domain stopped by its state is the snapshot step's backup; the failover is another
    // cold start.)
    let t = Instant::now();
    let step = "5 repair drift, dns declared back on nodea";
    // The backend lets go of the device a moment after `xl destroy` returns.
    run.ssh(
        "nodeb",
        "xl destroy dns && for i in $(seq 30); do drbdadm secondary dns 2>/dev/null && exit 0; sleep 1; done; drbdadm secondary dns",
    );
    run.ssh("nodeb", "umount /OVS");
    // What a live migration stopped half way leaves: the kernel allows two Primaries.
    for node in NODES {
        run.ssh(node, "drbdadm net-options --allow-two-primaries=yes dns");
        assert!(
            run.ssh(node, "drbdsetup show dns")
                .contains("allow-two-primaries"),
            "5 drift made: {node}"
        );
    }
    run.assert_dns_runs_on("5 drift made", None);
    let role = run.proc_drbd_line("nodea", dns.minor);
    assert!(
        role.contains("ro:Secondary/Secondary"),
        "5 drift made: {role}"
    );
    run.edit("domains.yaml", "node: nodeb", "node: nodea");
    run.apply_then_plan_is_empty(step);
    run.assert_dns_runs_on(step, Some("nodea"));
    run.assert_primary_on(step, "nodea", dns.minor);
    for node in NODES {
        let shown = run.ssh(node, "drbdsetup show dns");
        assert!(
            !shown.contains("allow-two-primaries"),
            "step {step}: {node}: dns still allows two Primaries:\n{shown}"
        );
    }
    run.assert_ocfs2_on_both(step, ovs.minor);
    for node in NODES {
        for minor in [dns.minor, ovs.minor] {
            run.assert_in_sync(step, node, minor);
        }
    }
    run.step(step, t);

    remus::run(&mut run);
    // 6: a domain on an image file on /OVS with a snapshot of dns attached, moved without DRBD
    // once the snapshot is removed, then stopped.
    filedisk::run(&mut run);

    if ha::enabled() {
        ha::run(&mut run);
    } else {
        eprintln!("skipping the node-loss steps (XENFLUX_LAB_HA=0)");
    }
}
