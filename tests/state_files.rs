#![allow(clippy::disallowed_methods)]
//! The files xenflux keeps in its state directory survive whoever else runs: a killed apply
//! never leaves a torn `sim.json`, a corrupt one is refused and kept, applies racing for the lock
//! never run together, and a `sim` perturbation during an apply waits for it instead of being
//! overwritten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenflux::fsutil::{lock_path, FileLock};
use xenflux::sim::SimCluster;
use xenflux::transport::Cmd;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command(state_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(root())
        .arg("--state-dir")
        .arg(state_dir)
        .args(args);
    c
}

fn run(state_dir: &Path, args: &[&str]) -> (i32, String) {
    let out: Output = command(state_dir, args).output().expect("xenflux runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_killed_apply_never_leaves_a_torn_sim_json() {
    for i in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = command(dir.path(), &["apply", "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(15 * i));
        let _ = child.kill();
        let _ = child.wait();
        let sim = dir.path().join("sim.json");
        if sim.exists() {
            let text = std::fs::read_to_string(&sim).unwrap();
            assert!(!text.is_empty(), "try {i}: sim.json left empty");
            SimCluster::load(&sim).unwrap_or_else(|e| panic!("try {i}: {e}"));
        }
    }
}

#[test]
fn a_corrupt_sim_json_is_refused_and_kept() {
    for content in ["", "{\"nodes\": {", "null"] {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("sim.json");
        std::fs::write(&sim, content).unwrap();
        for args in [
            &["plan"][..],
            &["apply", "--yes"],
            &["sim", "fail-node", "dom0"],
        ] {
            let (code, text) = run(dir.path(), args);
            assert_ne!(code, 0, "{args:?} on {content:?}: {text}");
            assert!(
                text.contains("not a simulated cluster") && text.contains("nothing was changed"),
                "{args:?}: {text}"
            );
            assert!(!text.contains("panicked"), "{text}");
            assert_eq!(std::fs::read_to_string(&sim).unwrap(), content);
        }
    }
}

/// Separate open file descriptions are separate lockers to flock, even in one process: the
/// threads race as separate processes would.
#[test]
fn applies_racing_for_the_lock_never_hold_it_together() {
    let dir = tempfile::tempdir().unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let wins = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let holders = holders.clone();
            let wins = wins.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    if let Ok(lock) = xenflux::exec::Lock::acquire(&dir) {
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert_eq!(now, 1, "two holders of the apply lock at once");
                        wins.fetch_add(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        holders.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(wins.load(Ordering::SeqCst) > 0);
    assert!(dir.path().join("apply.lock").exists(), "never removed");
}

#[test]
fn simultaneous_applies_apply_once() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..6)
            .map(|_| {
                command(dir.path(), &["apply", "--yes"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut applied = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if text.lines().any(|l| {
                l.strip_prefix("Applied ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n > 0)
            }) {
                applied += 1;
            } else {
                assert!(
                    text.contains("another apply (pid") || out.status.success(),
                    "round {round}: {text}"
                );
            }
        }
        assert_eq!(applied, 1, "round {round}: the plan ran {applied} times");
    }
}

#[test]
fn a_sim_change_during_an_apply_waits_for_it_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run(dir.path(), &["sim", "show", "--node", "dom0"]);
    assert_eq!(code, 0, "{text}");
    let sim = dir.path().join("sim.json");
    // Whoever holds the simulated cluster (here: this test, as an apply would).
    let held = FileLock::try_acquire(&lock_path(&sim)).unwrap().unwrap();
    let mut waiter = command(dir.path(), &["sim", "fail-node", "dom0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "fail-node went ahead while the simulated cluster was held"
    );
    // The holder saves its own state, then lets go: the waiter loads that and changes it.
    let s = SimCluster::load(&sim).unwrap();
    s.fail_next("nothing-runs-this", 1);
    s.save(&sim).unwrap();
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    while waiter.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "fail-node never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for pid"));
    let s = SimCluster::load(&sim).unwrap();
    assert!(s.run("dom0", &Cmd::new(["true"])).is_err(), "dom0 is down");
    assert!(
        s.to_json().contains("nothing-runs-this"),
        "the holder's save is kept"
    );

    // An apply and a fail-node started together: the node ends down whichever went first.
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run(dir.path(), &["sim", "show", "--node", "dom0"]);
    assert_eq!(code, 0, "{text}");
    let apply = command(dir.path(), &["apply", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (code, text) = run(dir.path(), &["sim", "fail-node", "dom0m"]);
    assert_eq!(code, 0, "{text}");
    apply.wait_with_output().unwrap();
    let s = SimCluster::load(&dir.path().join("sim.json")).unwrap();
    assert!(
        s.run("dom0m", &Cmd::new(["true"])).is_err(),
        "dom0m is down"
    );
}

#[test]
fn sim_perturbations_of_what_does_not_exist_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run(dir.path(), &["sim", "show", "--node", "dom0"]);
    assert_eq!(code, 0, "{text}");
    let sim = dir.path().join("sim.json");
    let before = std::fs::read_to_string(&sim).unwrap();
    for (args, says) in [
        (&["sim", "split-brain", "nosuch"][..], "`nosuch`"),
        (&["sim", "fail-node", "nosuch"], "no node `nosuch`"),
        (&["sim", "show", "--node", "nosuch"], "no node `nosuch`"),
        (&["sim", "fail-next", "drbdadm", "--count", "0"], "--count"),
    ] {
        let (code, text) = run(dir.path(), args);
        assert_ne!(code, 0, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
        assert_eq!(std::fs::read_to_string(&sim).unwrap(), before, "{args:?}");
    }
}

/// Runs a command that must end on its own within `within` (killed and failed otherwise).
fn run_within(state_dir: &Path, args: &[&str], within: Duration) -> (i32, String) {
    let mut child = command(state_dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xenflux runs");
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("xenflux {args:?} still waiting after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn mkfifo(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "{}",
        p.display()
    );
}

/// A FIFO put where xenflux keeps one of its files (by a careless operator, or anyone who can
/// write the state directory) is refused at once, naming the file: nothing waits on it.
#[test]
fn a_fifo_in_place_of_a_state_file_is_refused_not_waited_on() {
    for (file, args) in [
        ("sim.json", &["plan"][..]),
        ("ha/dom0.json", &["plan"]),
        ("ha/placements.json", &["status"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        if file != "sim.json" {
            let (code, text) = run(dir.path(), &["sim", "show", "--node", "dom0"]);
            assert_eq!(code, 0, "{text}");
        }
        mkfifo(&dir.path().join(file));
        let (code, text) = run_within(dir.path(), args, Duration::from_secs(20));
        assert_ne!(code, 0, "{file}: {args:?}: {text}");
        assert!(
            text.contains(file) && text.contains("not a regular file"),
            "{file}: {args:?}: {text}"
        );
        assert!(!text.contains("panicked"), "{text}");
    }
    // The controller's token, read by local commands: unreadable is no token (the controller
    // then refuses the request), never a wait.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("controller/token"));
    let (code, text) = run_within(dir.path(), &["reconcile", "--now"], Duration::from_secs(20));
    assert_ne!(code, 0, "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// `sim reset --vg-size` with a size no volume group has, or over an invalid desired state, is
/// refused before the old simulated cluster goes: nothing changes.
#[test]
fn a_refused_sim_reset_keeps_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run(dir.path(), &["sim", "show", "--node", "dom0"]);
    assert_eq!(code, 0, "{text}");
    let sim = dir.path().join("sim.json");
    let before = std::fs::read_to_string(&sim).unwrap();
    for size in ["0", "1MiB", "2PiB"] {
        let (code, text) = run(dir.path(), &["sim", "reset", "--vg-size", size]);
        assert_ne!(code, 0, "{size}: {text}");
        assert!(text.contains("--vg-size"), "{size}: {text}");
        assert_eq!(std::fs::read_to_string(&sim).unwrap(), before, "{size}");
    }
    let bad = tempfile::tempdir().unwrap();
    let (code, text) = run(
        dir.path(),
        &[
            "--state",
            bad.path().join("missing").to_str().unwrap(),
            "sim",
            "reset",
            "--vg-size",
            "1TiB",
        ],
    );
    assert_ne!(code, 0, "{text}");
    assert_eq!(std::fs::read_to_string(&sim).unwrap(), before);
}
