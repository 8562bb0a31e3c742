//! Node loss on the real lab (after the other steps; `XENFLUX_LAB_HA=0` skips it): `xenflux serve
//! --target ssh` runs with `ha` enabled and each node's fence the lab's power control (`xenflux
//! lab fence NODE`); nodea's plug is pulled (`xenflux lab crash nodea`) while `dns` runs there,
//! and the controller alone fences it and starts `dns` on nodeb; nodea is booted again, resyncs
//! from nodeb and `dns` goes back by live migration (failback auto); without a fence, the same
//! crash starts nothing and the status names `--confirm-fenced`. Every outcome is read with the
//! real tools over plain ssh.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, NODES};
use crate::common::lab::bin;

/// The dead-after time the lab declares (examples/lab).
const DEAD_AFTER: Duration = Duration::from_secs(20);

/// Whether the node-loss steps run (they add about eight minutes of emulation):
/// `XENFLUX_LAB_HA=0` skips them on a developer's machine.
pub fn enabled() -> bool {
    std::env::var("XENFLUX_LAB_HA").as_deref() != Ok("0")
}

/// `xenflux serve` over the lab, on a Git repository holding the state copy.
struct Controller {
    child: Child,
    url: String,
    repo: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
}

impl Controller {
    fn start(run: &Run) -> Controller {
        let repo = run.state_dir.path().join("repo");
        let state = repo.join("cluster-state");
        std::fs::create_dir_all(&state).expect("repo dir");
        for e in std::fs::read_dir(run.state.path()).expect("state copy") {
            let p = e.expect("entry").path();
            let text = std::fs::read_to_string(&p).expect("read state file");
            // The fence runs the binary under test, not one on PATH.
            let text = text.replace("[xenflux, lab, ", &format!("[{}, lab, ", bin()));
            std::fs::write(state.join(p.file_name().expect("name")), text).expect("write");
        }
        git(&repo, &["init", "-q", "-b", "main"]);
        commit(&repo, "the lab with ha");
        let state_dir = run.state_dir.path().join("controller-state");
        std::fs::create_dir_all(&state_dir).expect("state dir");
        let log = state_dir.join("serve.log");
        let child = Command::new(bin())
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--ssh-config")
            .arg(&run.config)
            .args(["serve", "--target", "ssh", "--interval", "1h"])
            .args(["--listen", "127.0.0.1:0", "--log-level", "debug", "--repo"])
            .arg(&repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("xenflux serve");
        let address = state_dir.join("controller/address");
        let mut c = Controller {
            child,
            url: String::new(),
            repo,
            state_dir,
            log,
        };
        c.url = poll(
            &c,
            "the controller's address",
            Duration::from_secs(60),
            || {
                std::fs::read_to_string(&address)
                    .ok()
                    .map(|t| t.trim().to_string())
            },
        );
        c
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(150)..].join("\n")
    }

    /// `xenflux reconcile --now`: one pass, waited for.
    fn reconcile(&self) -> String {
        let out = Command::new(bin())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["reconcile", "--now"])
            .output()
            .expect("xenflux reconcile");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every second until it gives a value; fails with the controller's log after
/// `limit` (a bound, not a goal).
fn poll<T>(c: &Controller, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=lab", "-c", "user.email=lab@localhost"])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn commit(repo: &Path, msg: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", msg]);
}

/// GET on the controller (HTTP/1.1 on 127.0.0.1): the body, or empty.
fn get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn lab(cmd: &str, node: &str) {
    let out = Command::new(bin())
        .args(["lab", cmd, node])
        .output()
        .expect("xenflux lab");
    assert!(
        out.status.success(),
        "xenflux lab {cmd} {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The node-loss steps.
pub fn run(run: &mut Run) {
    let (dns, ovs) = (run.res("nodeb", "dns"), run.res("nodeb", "ovs"));
    let t = Instant::now();
    let step = "6 serve with ha; dns on nodea";
    let c = Controller::start(run);
    let url = c.url.clone();
    poll(&c, "a first pass in sync", Duration::from_secs(600), || {
        let st: serde_json::Value = serde_json::from_str(&get(&url, "/status")).ok()?;
        (st["last"]["result"] == "in-sync").then_some(())
    });
    poll(&c, "both nodes healthy", Duration::from_secs(120), || {
        let st: serde_json::Value = serde_json::from_str(&get(&url, "/status")).ok()?;
        NODES
            .iter()
            .all(|n| st["nodes"][n]["standing"] == "healthy")
            .then_some(())
    });
    run.assert_dns_runs_on(step, Some("nodea"));
    run.ssh("nodea", "echo xenflux-marker >/OVS/marker && sync");
    run.step(step, t);

    let t = Instant::now();
    let step = "7 nodea's plug pulled: fenced, dns on nodeb";
    lab("crash", "nodea");
    poll(
        &c,
        "dns running on nodeb, Primary there",
        DEAD_AFTER + Duration::from_secs(300),
        || {
            let runs = run.domains("nodeb") == vec!["dns".to_string()];
            let primary = run
                .proc_drbd_line("nodeb", dns.minor)
                .contains("ro:Primary/");
            (runs && primary).then_some(())
        },
    );
    // The HA contract: the failover completes within deadAfter + 60 s, under emulation.
    let failover = t.elapsed();
    eprintln!(
        "step {step}: plug pulled → dns running on nodeb (Primary): {:.1} s \
         (deadAfter {} s)\ncontroller log:\n{}",
        failover.as_secs_f64(),
        DEAD_AFTER.as_secs(),
        c.log()
    );
    assert!(
        failover <= DEAD_AFTER + Duration::from_secs(60),
        "step {step}: the failover took {:.1} s, more than deadAfter + 60 s",
        failover.as_secs_f64()
    );
    // The failover's own record comes once its apply has verified and observed again.
    let url = c.url.clone();
    let f = poll(
        &c,
        "the failover's outcome in /status",
        Duration::from_secs(300),
        || {
            let st: serde_json::Value = serde_json::from_str(&get(&url, "/status")).ok()?;
            st["nodes"]["nodea"]["failover"]
                .as_str()
                .map(str::to_string)
        },
    );
    assert!(
        f.starts_with("failed_over: fenced by fence"),
        "step {step}: {f}\n{}",
        c.log()
    );
    let marker = run.ssh("nodeb", "timeout 180 cat /OVS/marker");
    assert_eq!(marker.trim(), "xenflux-marker", "step {step}");
    run.step(step, t);

    let t = Instant::now();
    let step = "8 nodea back: resync, failback by live migration";
    lab("start", "nodea");
    poll(
        &c,
        "dns back on nodea, nothing left to do",
        Duration::from_secs(900),
        || {
            let out = c.reconcile();
            let home =
                run.domains("nodea") == vec!["dns".to_string()] && run.domains("nodeb").is_empty();
            (home && out.contains("in-sync")).then_some(())
        },
    );
    for node in NODES {
        for minor in [dns.minor, ovs.minor] {
            run.assert_in_sync(step, node, minor);
        }
    }
    let plan = Command::new(bin())
        .arg("--state")
        .arg(c.repo.join("cluster-state"))
        .arg("--ssh-config")
        .arg(&run.config)
        .arg("--state-dir")
        .arg(&c.state_dir)
        .args(["plan", "--target", "ssh"])
        .output()
        .expect("plan");
    assert_eq!(
        plan.status.code(),
        Some(0),
        "step {step}: {}",
        String::from_utf8_lossy(&plan.stdout)
    );
    run.step(step, t);

    let t = Instant::now();
    let step = "9 without a fence nothing starts";
    let file = c.repo.join("cluster-state/cluster.yaml");
    let text = std::fs::read_to_string(&file).expect("cluster.yaml");
    let fence_a = text
        .lines()
        .find(|l| l.contains("lab, fence, nodea]"))
        .expect("nodea's fence line")
        .to_string();
    std::fs::write(&file, text.replace(&format!("{fence_a}\n"), "")).expect("write");
    commit(&c.repo, "no fence on nodea");
    let out = c.reconcile();
    assert!(out.contains("in-sync"), "step {step}: {out}");
    lab("crash", "nodea");
    let url = c.url.clone();
    let f = poll(
        &c,
        "the controller to refuse nodea's failover",
        DEAD_AFTER + Duration::from_secs(120),
        || {
            let st: serde_json::Value = serde_json::from_str(&get(&url, "/status")).ok()?;
            // The last failover (step 7's) shows until this one has been refused.
            st["nodes"]["nodea"]["failover"]
                .as_str()
                .filter(|f| f.starts_with("refused:"))
                .map(str::to_string)
        },
    );
    assert!(f.contains("--confirm-fenced"), "step {step}: {f}");
    assert!(
        run.domains("nodeb").is_empty(),
        "step {step}: nothing starts on nodeb"
    );
    run.step(step, t);
}
