#![allow(clippy::disallowed_methods)]
//! Driving `xenflux serve` from tests: a bare repository operators push to with a clone to edit,
//! the controller as a child process (stopped by pid on drop), and plain HTTP/1.1 to its
//! loopback address.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use xenflux::sim::SimCluster;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "op")
        .env("GIT_AUTHOR_EMAIL", "op@example.invalid")
        .env("GIT_COMMITTER_NAME", "op")
        .env("GIT_COMMITTER_EMAIL", "op@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository operators push to, and a clone holding the example cluster-state.
pub struct Repos {
    _tmp: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
    pub state_dir: PathBuf,
    bin: PathBuf,
}

impl Repos {
    /// The repositories, with `cluster-state/` holding a copy of `from` (a directory of YAML
    /// files) when given; `bin` is the xenflux binary under test.
    pub fn new(bin: &Path, from: Option<&Path>) -> Repos {
        let tmp = tempfile::tempdir().unwrap();
        let bare = tmp.path().join("state.git");
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["init", "-q", "--bare", "-b", "main", "state.git"],
        );
        git(tmp.path(), &["init", "-q", "-b", "main", "work"]);
        std::fs::create_dir_all(work.join("cluster-state")).unwrap();
        for e in from.into_iter().flat_map(|d| std::fs::read_dir(d).unwrap()) {
            let p = e.unwrap().path();
            std::fs::copy(&p, work.join("cluster-state").join(p.file_name().unwrap())).unwrap();
        }
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let state_dir = tmp.path().join("xenflux-state");
        Repos {
            _tmp: tmp,
            bare,
            work,
            state_dir,
            bin: bin.to_path_buf(),
        }
    }

    /// Edits a file of the clone with `f`, commits and pushes; returns the commit id.
    pub fn push(&self, file: &str, f: impl FnOnce(String) -> String, msg: &str) -> String {
        let p = self.work.join("cluster-state").join(file);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        std::fs::write(&p, f(text)).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", msg]);
        git(&self.work, &["push", "-q", "origin", "HEAD:main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    pub fn sim(&self) -> SimCluster {
        SimCluster::load(&self.state_dir.join("sim.json")).expect("the simulated cluster")
    }
}

/// A running `xenflux serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Serve {
    child: Option<Child>,
    pub url: String,
    log: PathBuf,
    state_dir: PathBuf,
}

impl Serve {
    /// Starts `xenflux [GLOBAL...] serve --repo BARE --listen 127.0.0.1:0 [EXTRA...]`.
    pub fn start(r: &Repos, global: &[&str], extra: &[&str]) -> Serve {
        Serve::start_in(r, &r.state_dir, global, extra)
    }

    /// [`Serve::start`] with a state directory of its own (a second controller of the same
    /// repository).
    pub fn start_in(r: &Repos, state_dir: &Path, global: &[&str], extra: &[&str]) -> Serve {
        std::fs::create_dir_all(state_dir).unwrap();
        let log = state_dir.join("serve.log");
        let address = state_dir.join("controller").join("address");
        let _ = std::fs::remove_file(&address);
        let child = Command::new(&r.bin)
            .args(["--state-dir", state_dir.to_str().unwrap()])
            .args(global)
            .arg("serve")
            .args(["--repo", r.bare.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--debounce-ms", "50"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("xenflux serve starts");
        let mut s = Serve {
            child: Some(child),
            url: String::new(),
            log,
            state_dir: state_dir.to_path_buf(),
        };
        s.url = s.wait_for("the controller's address", || {
            std::fs::read_to_string(&address)
                .ok()
                .map(|t| t.trim().to_string())
        });
        s
    }

    /// The token the controller made (what local commands send).
    pub fn token(&self) -> String {
        std::fs::read_to_string(xenflux::controller::token_path(&self.state_dir))
            .expect("the controller's token")
            .trim()
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `f` until it gives a value; fails with the log after 60 s (a bound, not a goal).
    pub fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "xenflux serve exited ({st}) waiting for {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get(&self, path: &str) -> String {
        http(&self.url, "GET", path, &[], b"").1
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.get("/status")).expect("/status is JSON")
    }

    /// Waits for a finished pass of `commit` with `result`.
    pub fn wait_pass(&mut self, commit: &str, results: &[&str]) -> Value {
        let url = self.url.clone();
        self.wait_for(&format!("a pass of {commit} ending {results:?}"), || {
            let s: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
            let last = s.get("last")?;
            (last["commit"] == commit && results.iter().any(|r| last["result"] == *r))
                .then(|| last.clone())
        })
    }

    pub fn metric(&self, line_start: &str) -> f64 {
        let text = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {line_start} in:\n{text}"))
    }

    /// Waits (at most 60 s) for the controller to exit by itself, and returns how it ended.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("xenflux serve did not exit:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the controller dies without cleaning up (a machine that lost power).
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("xenflux serve did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(300));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One HTTP/1.1 request to 127.0.0.1; returns (status, body).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let hostport = base.trim_start_matches("http://");
    let mut c = TcpStream::connect(hostport).expect("the controller listens");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut s = rest;
        while let Some((size, more)) = s.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || more.len() < n {
                break;
            }
            out.push_str(&more[..n]);
            s = more[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_string()
    };
    (status, body)
}

pub fn xenflux(bin: &Path, state_dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .current_dir(root())
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .output()
        .expect("xenflux runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
