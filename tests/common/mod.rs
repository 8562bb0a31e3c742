#![allow(clippy::disallowed_methods)]
//! Helpers for the tests that feed rendered files to the real admin tools: finding a tool (a
//! missing tool skips the test on a developer's machine and fails it in CI), scratch
//! directories, running a command with its output captured, network namespaces that are removed
//! even when a test fails, and loading a desired state directory.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod hybrid;
pub mod hybrid_checks;
pub mod lab;
pub mod loopdev;
pub mod scratch;
pub mod serve;
pub mod sshnode;
#[allow(unused_imports)] // not every test file makes loop devices
pub use loopdev::LoopDev;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use xenflux::alloc::Existing;
use xenflux::validate::{self, Validated};

/// True when running under CI (`CI` set to anything but empty, `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips (returns false, with a note on stderr) outside CI; fails the test in CI, where every
/// tool must be installed.
pub fn skip_or_fail(reason: &str) -> bool {
    if in_ci() {
        panic!("{reason}: this test must run in CI (CI is set); install the missing piece");
    }
    eprintln!("skipping: {reason}");
    false
}

/// Where an executable is: on PATH, else in the sbin directories (where drbdadm and o2cb live,
/// and which a non-root PATH lacks).
pub fn tool_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True when `name` is installed. Otherwise: under CI the test fails with a clear message;
/// elsewhere "skipping: NAME not installed" goes to stderr and the answer is false.
pub fn require_tool(name: &str) -> bool {
    tool_path(name).is_some() || skip_or_fail(&format!("{name} not installed"))
}

/// The path of a tool that [`require_tool`] has found.
pub fn tool(name: &str) -> PathBuf {
    tool_path(name).unwrap_or_else(|| panic!("{name} not installed"))
}

/// A scratch directory, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xenflux-test-")
        .tempdir()
        .expect("create a scratch directory")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create directory");
    }
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub argv: String,
}

impl Output {
    /// Panics with everything the command printed unless it exited 0.
    pub fn expect_ok(self) -> Output {
        assert_eq!(self.code, Some(0), "{self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.argv, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion with stdin closed, capturing stdout and stderr.
pub fn run(cmd: &mut Command) -> Output {
    let argv = format!("{cmd:?}");
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {argv}: {e}"));
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        argv,
    }
}

/// A network namespace of this test process, deleted when dropped (also when the test panics).
pub struct NetNs {
    pub name: String,
}

static NETNS_COUNT: AtomicUsize = AtomicUsize::new(0);

impl NetNs {
    /// Creates a namespace whose `lo` is up and carries `addrs` (as /32 or /128), so tools that
    /// check "is this address local" accept them. `None` when namespaces cannot be made here
    /// (not root): the caller skips, or fails in CI.
    pub fn with_addresses(tag: &str, addrs: &[IpAddr]) -> Option<NetNs> {
        if !require_tool("ip") {
            return None;
        }
        let ip = tool("ip");
        let name = format!(
            "xf-{}-{}-{tag}",
            std::process::id(),
            NETNS_COUNT.fetch_add(1, Ordering::SeqCst)
        );
        let add = run(Command::new(&ip).args(["netns", "add", &name]));
        if add.code != Some(0) {
            skip_or_fail(&format!(
                "cannot create a network namespace (root needed): {add}"
            ));
            return None;
        }
        let ns = NetNs { name };
        run(Command::new(&ip).args(["-n", &ns.name, "link", "set", "lo", "up"])).expect_ok();
        for a in addrs {
            let cidr = match a {
                IpAddr::V4(_) => format!("{a}/32"),
                IpAddr::V6(_) => format!("{a}/128"),
            };
            let mut cmd = Command::new(&ip);
            cmd.args(["-n", &ns.name, "addr", "add", &cidr, "dev", "lo"]);
            if a.is_ipv6() {
                cmd.arg("nodad");
            }
            run(&mut cmd).expect_ok();
        }
        Some(ns)
    }

    /// `ip netns exec NS env K=V... PROGRAM`, ready for arguments.
    pub fn command(&self, env: &[(&str, &str)], program: &Path) -> Command {
        let mut cmd = Command::new(tool("ip"));
        cmd.args(["netns", "exec", &self.name, "env"]);
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Some(ip) = tool_path("ip") {
            let _ = Command::new(ip)
                .args(["netns", "del", &self.name])
                .stdin(std::process::Stdio::null())
                .output();
        }
    }
}

/// The repository root (where `cluster-state/` and `examples/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directories of `examples/` holding a desired state (sorted): all but the monitoring
/// configuration (`prometheus/`, `grafana/`), which tests/observability.rs checks.
pub fn example_states() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("prometheus") && !p.ends_with("grafana"))
        .collect();
    dirs.sort();
    dirs
}

/// A copy of the repository's `cluster-state/` (its files) in `dir/cluster-state`, where
/// `xenflux` run in `dir` finds it by default.
pub fn copy_cluster_state(dir: &Path) {
    let state = dir.join("cluster-state");
    std::fs::create_dir_all(&state).expect("create cluster-state");
    for e in std::fs::read_dir(repo_root().join("cluster-state")).expect("read cluster-state") {
        let e = e.expect("dir entry");
        std::fs::copy(e.path(), state.join(e.file_name())).expect("copy cluster-state");
    }
}

/// Loads and validates a desired-state directory with nothing observed; panics with every
/// diagnostic when it does not validate.
pub fn load_state(dir: &Path) -> Validated {
    let sources =
        xenflux::load::from_dir(dir).unwrap_or_else(|e| panic!("load {}: {e}", dir.display()));
    validate_sources(&sources, &dir.display().to_string())
}

/// Validates sources with nothing observed; panics with every diagnostic on failure.
pub fn validate_sources(sources: &[xenflux::load::Source], what: &str) -> Validated {
    match validate::validate(sources, &Existing::default()) {
        Ok(v) => v,
        Err(diags) => panic!("{what} does not validate: {diags:#?}"),
    }
}

/// True when this process runs as root (real uid 0, from `/proc/self/status`). Otherwise: under
/// CI the test fails; elsewhere it is skipped with a note.
pub fn require_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        == Some("0");
    root || skip_or_fail("not running as root")
}

/// cluster-state/ switched to DRBD 9, with a third node (its own volume group) and a volume
/// replicated to all three.
pub fn drbd9_state() -> Validated {
    let dir = repo_root().join("cluster-state");
    let mut sources = xenflux::load::from_dir(&dir).expect("load cluster-state");
    let mut switched = false;
    for s in &mut sources {
        if s.text.contains("version: \"8.4\"") {
            s.text = s.text.replace("version: \"8.4\"", "version: \"9\"");
            switched = true;
        }
    }
    assert!(switched, "cluster-state/ names DRBD 8.4 explicitly");
    sources.push(xenflux::load::Source {
        path: "third.yaml".into(),
        text: "apiVersion: xenflux/v1
kind: Node
metadata: {name: dom1}
spec: {address: 192.168.1.192, volumeGroup: VG1}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: data3}
spec: {size: 1GiB, nodes: [dom1, dom0, dom0m], meta: flexible}
"
        .into(),
    });
    validate_sources(&sources, "cluster-state/ in DRBD 9")
}
