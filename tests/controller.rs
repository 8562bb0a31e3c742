#![allow(clippy::disallowed_methods)]
//! `xenflux serve` as an operator runs it, against the embedded simulated cluster: a bare
//! repository is pushed to and the controller follows (ref watch, post-receive hook), the
//! webhook checks its signature, `reconcile --now`, `suspend`/`resume`, the timer corrects drift,
//! `/status` and `/metrics` say what happened, SIGTERM stops it cleanly, and a run a previous
//! controller left unfinished is reported. All traffic is on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use xenflux::controller::client;
use xenflux::sim::SimCluster;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn git(dir: &Path, args: &[&str]) -> String {
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
struct Repos {
    _tmp: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    state_dir: PathBuf,
}

impl Repos {
    fn new() -> Repos {
        let tmp = tempfile::tempdir().unwrap();
        let bare = tmp.path().join("state.git");
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["init", "-q", "--bare", "-b", "main", "state.git"],
        );
        git(tmp.path(), &["init", "-q", "-b", "main", "work"]);
        std::fs::create_dir_all(work.join("cluster-state")).unwrap();
        for e in std::fs::read_dir(root().join("cluster-state")).unwrap() {
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
        }
    }

    /// Edits a file of the clone with `f`, commits and pushes; returns the commit id.
    fn push(&self, file: &str, f: impl FnOnce(String) -> String, msg: &str) -> String {
        let p = self.work.join("cluster-state").join(file);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        std::fs::write(&p, f(text)).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", msg]);
        git(&self.work, &["push", "-q", "origin", "HEAD:main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn sim(&self) -> SimCluster {
        SimCluster::load(&self.state_dir.join("sim.json")).expect("the simulated cluster")
    }
}

/// A running `xenflux serve`, stopped (SIGTERM, then SIGKILL) on drop.
struct Serve {
    child: Option<Child>,
    url: String,
    log: PathBuf,
}

impl Serve {
    fn start(r: &Repos, extra: &[&str]) -> Serve {
        std::fs::create_dir_all(&r.state_dir).unwrap();
        let log = r.state_dir.join("serve.log");
        let address = r.state_dir.join("controller").join("address");
        let _ = std::fs::remove_file(&address);
        let child = Command::new(BIN)
            .args(["--state-dir", r.state_dir.to_str().unwrap(), "serve"])
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
        };
        s.url = s.wait_for("the controller's address", || {
            std::fs::read_to_string(&address)
                .ok()
                .map(|t| t.trim().to_string())
        });
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `f` until it gives a value; fails with the log after 60 s (a bound, not a goal).
    fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
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

    fn get(&self, path: &str) -> String {
        http(&self.url, "GET", path, &[], b"").1
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.get("/status")).expect("/status is JSON")
    }

    /// Waits for a finished pass of `commit` with `result`.
    fn wait_pass(&mut self, commit: &str, results: &[&str]) -> Value {
        let url = self.url.clone();
        self.wait_for(&format!("a pass of {commit} ending {results:?}"), || {
            let s: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
            let last = s.get("last")?;
            (last["commit"] == commit && results.iter().any(|r| last["result"] == *r))
                .then(|| last.clone())
        })
    }

    fn metric(&self, line_start: &str) -> f64 {
        let text = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {line_start} in:\n{text}"))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
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
fn http(
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

fn xenflux(state_dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
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

const GIB: u64 = 1 << 30;

#[test]
fn a_push_converges_the_cluster_and_the_next_push_changes_it() {
    let r = Repos::new();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &[]);
    let first = s.wait_pass(&c1, &["applied"]);
    assert_eq!(first["drift"], 0, "{first}");
    let sim = r.sim();
    let dom0 = sim.node("dom0").unwrap();
    assert_eq!(dom0.lvs["dns"].size, 10 * GIB);
    assert!(dom0.domains.contains_key("dns"), "dns runs on dom0");
    assert_eq!(dom0.drbd["dns"].connection.to_string(), "Connected");

    // Grow a volume and move its domain; the ref watcher sees the push.
    let pushed = Instant::now();
    let c2 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 10GiB", "size: 12GiB", 1),
        "grow dns",
    );
    let c2 = {
        let _ = c2;
        r.push(
            "domains.yaml",
            |t| t.replacen("node: dom0\n", "node: dom0m\n", 1),
            "move dns to dom0m",
        )
    };
    let url = s.url.clone();
    let started = s.wait_for("the controller to see the push", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["lastCommit"] == c2.as_str()).then(Instant::now)
    });
    eprintln!(
        "push → commit fetched by the controller: {:?}",
        started - pushed
    );
    // Some changes take two passes (a warning says so): ask again until nothing is left.
    let mut last = s.wait_pass(&c2, &["applied", "drift", "in-sync"]);
    for _ in 0..3 {
        if last["result"] == "in-sync" {
            break;
        }
        let (code, out) = xenflux(&r.state_dir, &["reconcile", "--now"]);
        assert!(code == 0 || code == 2, "{out}");
        last = s.status()["last"].clone();
    }
    assert_eq!(last["result"], "in-sync", "{last}\n{}", s.log());
    let sim = r.sim();
    for node in ["dom0", "dom0m"] {
        assert_eq!(sim.node(node).unwrap().lvs["dns"].size, 12 * GIB, "{node}");
    }
    assert!(sim.node("dom0m").unwrap().domains.contains_key("dns"));
    assert!(!sim.node("dom0").unwrap().domains.contains_key("dns"));
    assert_eq!(sim.violations(), Vec::<String>::new());

    // A broken commit changes nothing and says where it is broken.
    let c3 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 12GiB", "size: lots", 1),
        "typo",
    );
    let bad = s.wait_pass(&c3, &["invalid"]);
    let err = bad["error"].as_str().unwrap();
    assert!(
        err.contains("cluster-state/volumes.yaml:8") && err.contains("size"),
        "{err}"
    );
    assert_eq!(r.sim().node("dom0").unwrap().lvs["dns"].size, 12 * GIB);
    assert!(s.metric("xenflux_reconcile_errors_total") >= 1.0);
    assert!(s.metric("xenflux_reconcile_total{result=\"applied\"}") >= 2.0);
    assert!(s.metric("xenflux_actions_applied_total") > 0.0);
    assert!(s.metric("xenflux_triggers_total{reason=\"push\"}") >= 2.0);
    let objects = &s.status()["objects"];
    assert_eq!(objects["Volume/dns"]["state"], "in-sync", "{objects}");

    let st = s.terminate();
    assert!(st.success(), "{st}\n{}", s.log());
    assert!(s.log().contains("xenflux controller stopped"));
    assert!(!r.state_dir.join("controller/address").exists());
    let history = std::fs::read_to_string(r.state_dir.join("controller/history.jsonl")).unwrap();
    assert!(history.lines().any(|l| l.contains(&c1)) && history.lines().any(|l| l.contains(&c3)));
}

#[test]
fn hook_webhook_manual_and_suspend() {
    let r = Repos::new();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let secret = r.state_dir.parent().unwrap().join("webhook.secret");
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    let mut s = Serve::start(
        &r,
        &[
            "--no-watch",
            "--webhook-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    s.wait_pass(&c1, &["applied"]);

    // The post-receive hook (the ref watch is off) tells the controller.
    let (code, out) = xenflux(
        &r.state_dir,
        &[
            "hook",
            "install",
            "--repo",
            r.bare.to_str().unwrap(),
            "--controller",
            &s.url,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let c2 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 10GiB", "size: 16GiB", 1),
        "grow dns",
    );
    s.wait_pass(&c2, &["applied"]);
    assert!(s.metric("xenflux_triggers_total{reason=\"push\"}") >= 1.0);
    assert_eq!(r.sim().node("dom0m").unwrap().lvs["dns"].size, 16 * GIB);
    // A hook someone else wrote is not replaced without --force.
    std::fs::write(r.bare.join("hooks/post-receive"), "#!/bin/sh\necho mine\n").unwrap();
    let (code, out) = xenflux(
        &r.state_dir,
        &["hook", "install", "--repo", r.bare.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not written by xenflux"), "{out}");
    let (code, out) = xenflux(
        &r.state_dir,
        &[
            "hook",
            "install",
            "--force",
            "--repo",
            r.bare.to_str().unwrap(),
            "--controller",
            &s.url,
        ],
    );
    assert_eq!(code, 0, "{out}");

    // The webhook: a wrong or missing signature is refused, a right one queues a pass.
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = xenflux::controller::http::sign(b"s3cr3t-value", body);
    let hooks_before = s.metric("xenflux_triggers_total{reason=\"webhook\"}");
    let (st, _) = http(&s.url, "POST", "/hooks/git", &[], body);
    assert_eq!(st, 401);
    let bad = xenflux::controller::http::sign(b"guess", body);
    let (st, _) = http(
        &s.url,
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", &format!("sha256={bad}"))],
        body,
    );
    assert_eq!(st, 401);
    let (st, _) = http(
        &s.url,
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", &format!("sha256={good}"))],
        b"{}",
    );
    assert_eq!(st, 401, "the signature covers the body");
    let (st, _) = http(
        &s.url,
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", &format!("sha256={good}"))],
        body,
    );
    assert_eq!(st, 202);
    let (st, _) = http(
        &s.url,
        "POST",
        "/hooks/git",
        &[("X-Gitea-Signature", &good)],
        body,
    );
    assert_eq!(st, 202);
    assert_eq!(
        s.metric("xenflux_triggers_total{reason=\"webhook\"}"),
        hooks_before + 2.0
    );
    assert!(!s.log().contains("s3cr3t"), "the secret is never logged");

    // reconcile --now waits for the pass and reports it.
    let (code, out) = xenflux(&r.state_dir, &["reconcile", "--now"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("in-sync"), "{out}");

    // Suspended: passes change nothing, /status and /metrics say so; resume ends it.
    let (code, out) = xenflux(&r.state_dir, &["suspend", "--reason", "disk swap on dom0"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.status()["suspended"]["reason"], "disk swap on dom0");
    assert_eq!(s.metric("xenflux_suspended"), 1.0);
    let c3 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 16GiB", "size: 20GiB", 1),
        "grow dns again",
    );
    s.wait_pass(&c3, &["suspended"]);
    assert_eq!(r.sim().node("dom0").unwrap().lvs["dns"].size, 16 * GIB);
    let (code, out) = xenflux(&r.state_dir, &["resume"]);
    assert_eq!(code, 0, "{out}");
    s.wait_pass(&c3, &["applied"]);
    assert_eq!(r.sim().node("dom0").unwrap().lvs["dns"].size, 20 * GIB);
    assert_eq!(s.metric("xenflux_suspended"), 0.0);
    assert_eq!(s.get("/healthz"), "ok\n");
}

#[test]
fn the_timer_corrects_drift() {
    let r = Repos::new();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &["--interval", "1s", "--no-watch"]);
    s.wait_pass(&c1, &["applied"]);
    // Behind xenflux's back: the cluster is lost and comes back blank.
    let (code, out) = xenflux(&r.state_dir, &["sim", "reset"]);
    assert_eq!(code, 0, "{out}");
    let url = s.url.clone();
    s.wait_for("a timer pass that rebuilds the cluster", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        let last = &st["last"];
        (last["result"] == "applied" && last["pass"].as_u64()? >= 2).then_some(())
    });
    assert!(s.metric("xenflux_triggers_total{reason=\"timer\"}") >= 1.0);
    assert!(r.sim().node("dom0").unwrap().domains.contains_key("dns"));
}

#[test]
fn failures_back_off_and_an_unfinished_run_is_reported() {
    let r = Repos::new();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    // A controller stopped hard in the middle of an apply left these behind.
    std::fs::create_dir_all(r.state_dir.join("controller")).unwrap();
    std::fs::write(
        r.state_dir.join("controller/inflight.json"),
        r#"{"commit":"0123abc","actions":75}"#,
    )
    .unwrap();
    std::fs::write(
        r.state_dir.join("journal.jsonl"),
        "{\"stage\":4,\"node\":\"dom0\",\"action\":\"drbdadm create-md dns\"}\n",
    )
    .unwrap();
    // The first lvcreate fails: the pass fails on that volume and is retried with a backoff.
    let (code, out) = xenflux(
        &r.state_dir,
        &[
            "--state",
            root().join("cluster-state").to_str().unwrap(),
            "sim",
            "fail-next",
            "lvcreate",
            "--count",
            "1",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let mut s = Serve::start(&r, &["--retry-base", "1s"]);
    let st = s.status();
    let interrupted = st["interrupted"].as_str().unwrap_or_default().to_string();
    assert!(
        interrupted.contains("0123abc") && interrupted.contains("create-md dns"),
        "{st}"
    );
    assert!(!r.state_dir.join("controller/inflight.json").exists());
    let failed = s.wait_pass(&c1, &["failed"]);
    assert_eq!(failed["retryAfter"], 1, "{failed}");
    let url = s.url.clone();
    s.wait_for("the retry to converge", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["last"]["result"] == "applied").then_some(())
    });
    assert!(s.metric("xenflux_triggers_total{reason=\"retry\"}") >= 1.0);
    assert!(s.metric("xenflux_reconcile_total{result=\"failed\"}") >= 1.0);
    // Success resets the backoff: no object carries failures any more.
    let objects = s.status()["objects"].clone();
    assert!(
        objects
            .as_object()
            .unwrap()
            .values()
            .all(|o| o.get("failures").is_none()),
        "{objects}"
    );
    let _ = client::request(&s.url, "POST", "/reconcile", Duration::from_secs(5));
}

#[test]
fn a_stop_request_ends_the_run_after_the_running_stage() {
    use std::sync::atomic::AtomicBool;
    use xenflux::exec::{ExecError, Executor};
    use xenflux::observe::observe_node;
    use xenflux::reconcile::{plan_for, probe, snapshot};

    let sources = xenflux::load::from_dir(&root().join("cluster-state")).unwrap();
    let first = xenflux::validate::validate(&sources, &Default::default()).unwrap();
    let sim = SimCluster::fresh(&first.desired, &Default::default());
    let snap = snapshot(&sources, &sim).unwrap();
    let plan = plan_for(&snap, false).unwrap();
    assert!(plan.stages.len() > 2);
    let v = &snap.validated;
    let observe = |n: &xenflux::model::Name| observe_node(&sim, n.as_str(), &probe(v, n));
    // Asked to stop before it began: the first stage still runs whole, nothing after it.
    let stop = AtomicBool::new(true);
    let exec = Executor {
        transport: &sim,
        lvm_extra: Vec::new(),
        journal: None,
        observe: &observe,
        stop: Some(&stop),
    };
    let mut stages = Vec::new();
    let err = exec
        .run(&plan, &mut |e| {
            if let xenflux::exec::Event::Stage { index, .. } = e {
                stages.push(index)
            }
        })
        .unwrap_err();
    assert_eq!(stages, vec![1]);
    match err {
        ExecError::Interrupted { stage, total, done } => {
            assert_eq!((stage, total), (1, plan.stages.len()));
            assert_eq!(done, plan.stages[0].actions.len());
        }
        other => panic!("{other}"),
    }
    // What is left is an ordinary plan for the next pass.
    let again = plan_for(&snapshot(&sources, &sim).unwrap(), false).unwrap();
    assert_eq!(
        again.action_count(),
        plan.action_count() - plan.stages[0].actions.len()
    );
}
