//! The QEMU lab's lifecycle for the tests that run on it: whether it should run, booting a
//! fresh lab that is stopped when the test ends (passed or not), and plain `ssh -F` to its nodes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the lab test should run (`CI=true` or `XENFLUX_LAB=1`); says why not otherwise.
pub fn lab_enabled() -> bool {
    if std::env::var("XENFLUX_LAB").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true")
    {
        return true;
    }
    eprintln!(
        "skipping: the QEMU lab (root, ~12 minutes of emulation) runs under CI=true or with XENFLUX_LAB=1"
    );
    false
}

/// Boots a fresh lab for one test (refusing when one already runs) and returns its guard,
/// which stops the QEMUs by pid when dropped.
pub fn boot_lab() -> LabGuard {
    let dir = lab_dir();
    let status = xenflux_lab("status");
    assert_ne!(
        status.status.code(),
        Some(0),
        "a lab is already running in {}: this test boots its own (at most two guests at once); stop it with `xenflux lab down`",
        dir.display()
    );
    let guard = LabGuard;
    let up = xenflux_lab("up");
    assert!(
        up.status.success(),
        "xenflux lab up failed ({}):\nstdout:\n{}\nstderr:\n{}",
        up.status,
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    if let Ok(t) = std::fs::read_to_string(dir.join("run/timings")) {
        eprintln!("lab timings: {}", t.trim());
    }
    guard
}

pub fn lab_dir() -> PathBuf {
    std::env::var_os("XENFLUX_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/xenflux-lab")
        })
}

/// The xenflux binary the lab tests run: a hard link (a copy where linking fails) of the one
/// cargo built, made once per test process. A build started while a lab test runs replaces
/// `target/debug/xenflux` (removed, then linked anew); the link keeps this run's binary, so
/// the half-hour test never finds its binary gone. Removed again by [`LabGuard`].
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_xenflux"));
        let link = built.with_file_name(format!("xenflux-lab-{}", std::process::id()));
        let _ = std::fs::remove_file(&link);
        if std::fs::hard_link(built, &link).is_err() {
            std::fs::copy(built, &link).expect("copy the xenflux binary for the lab");
        }
        link.display().to_string()
    })
}

pub fn xenflux_lab(cmd: &str) -> std::process::Output {
    try_xenflux_lab(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// `xenflux lab CMD`, or why it could not be started: the error names the binary and whether
/// it and `/dev/null` (which every spawn opens for stdin) are there, so a lab script that took
/// either away is told apart from one that merely failed.
fn try_xenflux_lab(cmd: &str) -> Result<std::process::Output, String> {
    let bin = bin();
    Command::new(bin).args(["lab", cmd]).output().map_err(|e| {
        format!(
            "run {bin} lab {cmd}: {e} ({bin} exists: {}, /dev/null exists: {})",
            Path::new(bin).exists(),
            Path::new("/dev/null").exists()
        )
    })
}

/// Stops the lab when the test ends, passed or not. Never panics: a panic while the test is
/// already unwinding would abort the whole test binary and hide the first failure.
pub struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let down = try_xenflux_lab("down");
        let _ = std::fs::remove_file(bin());
        match down {
            Ok(out) => eprintln!("{}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => {
                // What `lab down` would do, by the pid files, so the next lab test can boot.
                eprintln!("stopping the lab: {e}; killing its QEMUs by pid file");
                for n in ["nodea", "nodeb"] {
                    let file = lab_dir().join(format!("run/{n}.pid"));
                    let pid = std::fs::read_to_string(&file).unwrap_or_default();
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        // SAFETY: kill(2) on a pid read from the lab's own pid file.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
    }
}

/// Runs a remote shell command on a lab node over the generated ssh config; returns stdout.
/// ssh's own failure (255: the connection dropped, e.g. keepalives unanswered while an emulated
/// node is starved of CPU) is tried twice more; the remote command's failure is not.
pub fn ssh(config: &Path, node: &str, remote: &str) -> String {
    let run = || {
        Command::new("ssh")
            .arg("-F")
            .arg(config)
            .args([node, remote])
            .output()
            .expect("run ssh")
    };
    let mut out = run();
    for _ in 0..2 {
        if out.status.code() != Some(255) {
            break;
        }
        eprintln!(
            "ssh {node} {remote:?}: ssh failed ({}), trying again: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_secs(5));
        out = run();
    }
    assert!(
        out.status.success(),
        "ssh {node} {remote:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn qemu_pids(dir: &Path) -> Vec<u32> {
    ["nodea", "nodeb"]
        .iter()
        .map(|n| {
            let file = dir.join(format!("run/{n}.pid"));
            std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{}: not a pid: {e}", file.display()))
        })
        .collect()
}
