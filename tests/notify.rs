#![allow(clippy::disallowed_methods)]
//! Notifications from a real `xenflux serve` on the simulated cluster to a real HTTP receiver
//! on 127.0.0.1 (and to a command): an invalid commit, a split brain and what it blocks, a node
//! that dies (declared dead, fenced, failed over); a receiver that is down does not hold a
//! pass up and its failures are logged and counted; a rate limit folds a burst into a summary.
//! Also the controller's JSON log lines.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::serve::{root, Repos, Serve};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

/// An HTTP receiver on 127.0.0.1: every POST is kept as (path, JSON body) and answered 200.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut r = BufReader::new(&c);
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    keep.lock().unwrap().push((path, v));
                    let _ = (&c).write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                });
            }
        });
        Receiver { url, got }
    }

    /// Waits until nothing more has arrived for a second (a pass's events are delivered one
    /// after the other); returns how many bodies `path` got.
    fn settled(&self, path: &str) -> usize {
        let mut n = self.on(path).len();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = self.on(path).len();
            if now == n {
                return n;
            }
            n = now;
        }
    }

    fn on(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Waits (at most 60 s) for a body on `path` that `f` accepts.
    fn wait(&self, s: &Serve, path: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = self.on(path).into_iter().find(|v| f(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on {path}; got {:?}\n{}",
                self.got.lock().unwrap(),
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn kind_is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["kind"] == kind
}

fn xenflux(r: &Repos, args: &[&str]) -> (i32, String) {
    common::serve::xenflux(Path::new(BIN), &r.state_dir, args)
}

/// Reconciles until a pass ends in sync (a few passes converge the example cluster).
fn converge(s: &mut Serve, r: &Repos, commit: &str) {
    let mut last = s.wait_pass(commit, &["applied", "in-sync", "drift"]);
    for _ in 0..4 {
        if last["result"] == "in-sync" {
            return;
        }
        let (code, out) = xenflux(r, &["reconcile", "--now"]);
        assert!(code == 0 || code == 2, "{out}");
        last = s.status()["last"].clone();
    }
    assert_eq!(last["result"], "in-sync", "{last}\n{}", s.log());
}

#[test]
fn events_reach_webhooks_and_commands() {
    let rx = Receiver::start();
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    let url_file = r.state_dir.parent().unwrap().join("slack-url");
    std::fs::write(&url_file, format!("{}/slack/T0/B0/secret\n", rx.url)).unwrap();
    let out = r.state_dir.parent().unwrap().join("events.jsonl");
    let script = r.state_dir.parent().unwrap().join("mail-event");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >> {}\necho >> {}\n",
            out.display(),
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let notify = format!(
        "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: hook}}\nspec: {{type: generic, address: '{}/generic'}}\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: chat}}\nspec: {{type: mattermost, addressFile: {}, channel: ops, username: xenflux}}\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: mail}}\nspec: {{type: command, command: [{}]}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: everything}}\nspec: {{provider: hook}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: errors}}\nspec: {{provider: chat, severity: error}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: mail-invalid}}\nspec: {{provider: mail, events: [invalid-commit]}}\n",
        rx.url,
        url_file.display(),
        script.display()
    );
    let commit = r.push("notify.yaml", |_| notify, "notifications");
    let mut s = Serve::start(&r, &["--log-format", "json"], &["--interval", "1h"]);
    converge(&mut s, &r, &commit);

    // An invalid commit: every provider hears of it once, nothing changes.
    let bad = r.push(
        "volumes.yaml",
        |t| t.replacen("size: ", "size: lots-", 1),
        "typo",
    );
    s.wait_pass(&bad, &["invalid"]);
    let e = rx.wait(&s, "/generic", "invalid-commit", kind_is("invalid-commit"));
    assert_eq!(e["severity"], "error");
    assert_eq!(e["commit"], bad.as_str());
    assert!(
        e["message"].as_str().unwrap().contains("volumes.yaml"),
        "{e}"
    );
    let chat = rx.wait(&s, "/slack/T0/B0/secret", "a chat message", |v| {
        v["text"]
            .as_str()
            .is_some_and(|t| t.contains("invalid-commit"))
    });
    assert_eq!(chat["channel"], "ops");
    assert_eq!(chat["username"], "xenflux");
    s.wait_for("the command's event", || {
        let text = std::fs::read_to_string(&out).ok()?;
        let v: Value = serde_json::from_str(text.lines().next()?).ok()?;
        (v["kind"] == "invalid-commit").then_some(())
    });
    // The same invalid commit again is not news.
    let (code, o) = xenflux(&r, &["reconcile", "--now"]);
    assert_eq!(code, 1, "{o}");
    let fixed = r.push(
        "volumes.yaml",
        |t| t.replacen("size: lots-", "size: ", 1),
        "fix",
    );
    converge(&mut s, &r, &fixed);
    assert_eq!(
        rx.on("/generic")
            .iter()
            .filter(|v| v["kind"] == "invalid-commit")
            .count(),
        1
    );

    // A split brain: the resource, and what it blocks.
    let (code, o) = xenflux(&r, &["sim", "split-brain", "dns"]);
    assert_eq!(code, 0, "{o}");
    let (code, o) = xenflux(&r, &["reconcile", "--now"]);
    assert_eq!(code, 2, "{o}");
    let sb = rx.wait(&s, "/generic", "split-brain", kind_is("split-brain"));
    assert_eq!(sb["object"], "Volume/dns");
    let blocked = rx.wait(&s, "/generic", "blocked", kind_is("blocked"));
    assert!(
        blocked["object"].as_str().unwrap().ends_with("/dns"),
        "{blocked}"
    );
    rx.wait(&s, "/slack/T0/B0/secret", "split brain in chat", |v| {
        v["text"]
            .as_str()
            .is_some_and(|t| t.contains("split-brain"))
    });
    // Still blocked at the next pass: not sent again.
    let before = rx.settled("/generic");
    let (code, _) = xenflux(&r, &["reconcile", "--now"]);
    assert_eq!(code, 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.on("/generic").len(), before, "{:?}", rx.on("/generic"));

    // Only invalid commits go to the command.
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        lines.lines().filter(|l| !l.is_empty()).count(),
        1,
        "{lines}"
    );

    let text = s.get("/metrics");
    assert!(
        text.contains("xenflux_notifications_sent_total{provider=\"hook\",result=\"sent\"}"),
        "{text}"
    );
    assert!(s.metric("xenflux_drbd_split_brain") >= 1.0, "{text}");
    // The URL in the file is a secret: never logged.
    let log = s.log();
    assert!(!log.contains("secret"), "{log}");
    // --log-format json: one JSON object per line.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(
        log.contains("\"message\":\"xenflux controller started\""),
        "{log}"
    );
}

#[test]
fn a_dead_node_is_heard_of_declared_fenced_and_failed_over() {
    let rx = Receiver::start();
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    r.push(
        "cluster.yaml",
        |t| t + "  ha: {enabled: true, deadAfter: 5s, failback: manual}\n",
        "ha",
    );
    let agent = format!(
        "[{BIN}, --state-dir, {}, sim, power, dom0, 'off']",
        r.state_dir.display()
    );
    r.push(
        "nodes.yaml",
        |t| {
            t.replacen(
                "  memory: 16GiB\n---",
                &format!("  memory: 16GiB\n  fence: {{command: {agent}, timeout: 30s}}\n---"),
                1,
            )
        },
        "fence",
    );
    let notify = format!(
        "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: hook}}\nspec: {{type: generic, address: '{}/ha'}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: node-loss}}\nspec: {{provider: hook, events: [node-dead, fence, failover], objects: ['Node/*']}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: home}}\nspec: {{provider: hook, events: [failback]}}\n",
        rx.url
    );
    let commit = r.push("notify.yaml", |_| notify, "notifications");
    let mut s = Serve::start(&r, &[], &["--interval", "1h"]);
    converge(&mut s, &r, &commit);
    let url = s.url.clone();
    s.wait_for("the node watch to see both nodes healthy", || {
        let st: Value =
            serde_json::from_str(&common::serve::http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["nodes"]["dom0"]["standing"] == "healthy").then_some(())
    });
    let (code, o) = xenflux(&r, &["sim", "crash-node", "dom0"]);
    assert_eq!(code, 0, "{o}");
    let dead = rx.wait(&s, "/ha", "node-dead", kind_is("node-dead"));
    assert_eq!(dead["object"], "Node/dom0");
    let fence = rx.wait(&s, "/ha", "fence", kind_is("fence"));
    assert_eq!(fence["severity"], "info", "{fence}");
    let failover = rx.wait(&s, "/ha", "failover", kind_is("failover"));
    assert_eq!(failover["severity"], "info", "{failover}");
    assert!(
        failover["message"]
            .as_str()
            .unwrap()
            .contains("dns on dom0m"),
        "{failover}"
    );
    // Only the node-loss kinds, in the order they happened.
    let kinds: Vec<String> = rx
        .on("/ha")
        .iter()
        .map(|v| v["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&kinds[..3], ["node-dead", "fence", "failover"], "{kinds:?}");

    // Back, resynced, released by a person, home again: a failback.
    let (code, o) = xenflux(&r, &["sim", "power", "dom0", "on"]);
    assert_eq!(code, 0, "{o}");
    s.wait_for("dom0's fence record cleared", || {
        let _ = xenflux(&r, &["reconcile", "--now"]);
        (!r.state_dir.join("ha/dom0.json").exists()).then_some(())
    });
    s.wait_for("dns released", || {
        (xenflux(&r, &["failback", "dns"]).0 == 0).then_some(())
    });
    s.wait_for("dns home on dom0", || {
        let _ = xenflux(&r, &["reconcile", "--now"]);
        r.sim()
            .node("dom0")
            .unwrap()
            .domains
            .contains_key("dns")
            .then_some(())
    });
    let back = rx.wait(&s, "/ha", "failback", kind_is("failback"));
    assert_eq!(back["object"], "Domain/dns", "{back}");
    assert_eq!(back["severity"], "info", "{back}");
}

#[test]
fn a_receiver_that_is_down_holds_no_pass_up_and_a_burst_is_folded() {
    let rx = Receiver::start();
    // A port nothing listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    r.push(
        "cluster.yaml",
        |t| t.replace("mode: enforce", "mode: detect"),
        "detect",
    );
    let notify = format!(
        "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: down}}\nspec: {{type: generic, address: 'http://{closed}/x', retries: 1, timeout: 1s}}\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: slow}}\nspec: {{type: generic, address: '{}/burst', rateLimit: {{events: 1, per: 2s}}}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: down}}\nspec: {{provider: down, events: [drift]}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: burst}}\nspec: {{provider: slow, events: [drift]}}\n",
        rx.url
    );
    let commit = r.push("notify.yaml", |_| notify, "notifications");
    let mut s = Serve::start(&r, &[], &["--interval", "1h"]);
    let started = Instant::now();
    let last = s.wait_pass(&commit, &["drift"]);
    assert_eq!(last["result"], "drift", "{last}");
    // The pass did not wait for the retries of the provider that is down.
    assert!(last["seconds"].as_f64().unwrap() < 5.0, "{last}");
    // Every object of the example drifts on the empty simulated cluster: one event goes out at
    // once, the rest after the period in one summary.
    let first = rx.wait(&s, "/burst", "the first drift", kind_is("drift"));
    assert!(first["count"].is_null(), "{first}");
    let summary = rx.wait(&s, "/burst", "a summary", |v| v["count"].is_u64());
    let n = summary["count"].as_u64().unwrap();
    assert!(n >= 5, "{summary}");
    assert!(summary["events"].as_array().unwrap().len() as u64 <= n);
    assert!(started.elapsed() >= Duration::from_secs(2));
    let url = s.url.clone();
    s.wait_for("the failures to be counted", || {
        let text = common::serve::http(&url, "GET", "/metrics", &[], b"").1;
        text.contains("xenflux_notifications_sent_total{provider=\"down\",result=\"failed\"}")
            .then_some(())
    });
    assert_eq!(
        s.metric("xenflux_notifications_sent_total{provider=\"slow\",result=\"coalesced\"}"),
        n as f64
    );
    let log = s.log();
    assert!(log.contains("notification not delivered"), "{log}");
    assert!(
        !log.contains(&closed.to_string()),
        "the address is not logged:\n{log}"
    );
    // The controller still answers and reconciles.
    let (code, o) = xenflux(&r, &["reconcile", "--now"]);
    assert_eq!(code, 2, "{o}");
}

#[test]
fn a_failed_pass_is_heard_of_once() {
    let rx = Receiver::start();
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    let notify = format!(
        "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {{name: hook}}\nspec: {{type: generic, address: '{}/failed'}}\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {{name: failures}}\nspec: {{provider: hook, events: [pass-failed], severity: error}}\n",
        rx.url
    );
    let commit = r.push("notify.yaml", |_| notify, "notifications");
    let state = root().join("cluster-state");
    let (code, o) = xenflux(
        &r,
        &[
            "--state",
            state.to_str().unwrap(),
            "sim",
            "fail-next",
            "lvcreate",
            "--count",
            "1",
        ],
    );
    assert_eq!(code, 0, "{o}");
    let mut s = Serve::start(&r, &[], &["--retry-base", "1s", "--interval", "1h"]);
    s.wait_pass(&commit, &["failed"]);
    let e = rx.wait(&s, "/failed", "pass-failed", kind_is("pass-failed"));
    assert_eq!(e["severity"], "error");
    // The object the failed action was for (the first lvcreate makes a node's meta LV; the
    // nodes of a stage run in parallel, so either node's).
    let object = e["object"].as_str().unwrap();
    assert!(object == "Node/dom0" || object == "Node/dom0m", "{e}");
    assert!(e["message"].as_str().unwrap().contains("lvcreate"), "{e}");
    // The retry converges: nothing more to hear of.
    converge(&mut s, &r, &commit);
    assert_eq!(rx.settled("/failed"), 1, "{:?}", rx.on("/failed"));
}
