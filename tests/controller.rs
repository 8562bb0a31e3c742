#![allow(clippy::disallowed_methods)]
//! `xenflux serve` as an operator runs it, against the embedded simulated cluster: a bare
//! repository is pushed to and the controller follows (ref watch, post-receive hook), the
//! webhook checks its signature, `reconcile --now`, `suspend`/`resume`, the timer corrects drift,
//! `/status` and `/metrics` say what happened, SIGTERM stops it cleanly, and a run a previous
//! controller left unfinished is reported. All traffic is on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::serve::{http, root, Repos, Serve};
use serde_json::Value;
use xenflux::controller::client;
use xenflux::sim::SimCluster;

fn repos() -> Repos {
    Repos::new(Path::new(BIN), Some(&root().join("cluster-state")))
}

fn xenflux(state_dir: &Path, args: &[&str]) -> (i32, String) {
    common::serve::xenflux(Path::new(BIN), state_dir, args)
}

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

const GIB: u64 = 1 << 30;

#[test]
fn a_push_converges_the_cluster_and_the_next_push_changes_it() {
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &[], &[]);
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
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let secret = r.state_dir.parent().unwrap().join("webhook.secret");
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    let mut s = Serve::start(
        &r,
        &[],
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
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &[], &["--interval", "1s", "--no-watch"]);
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

/// Resources down on both nodes (the nodes rebooted): one pass brings them up, and the pass
/// that promotes and starts follows after the retry base, not a whole interval later.
#[test]
fn a_pass_that_leaves_work_for_the_next_step_is_followed_at_once() {
    use xenflux::drivers::{drbd, xl};
    use xenflux::transport::Cmd;

    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(
        &r,
        &[],
        &["--interval", "1h", "--no-watch", "--retry-base", "1s"],
    );
    s.wait_pass(&c1, &["applied"]);
    // Behind xenflux's back, between passes: dns stopped, every resource down on both nodes.
    let path = r.state_dir.join("sim.json");
    let held = xenflux::target::lock_sim(&path).unwrap();
    let sim = SimCluster::load(&path).unwrap();
    let mut downs = vec![("dom0", xl::destroy("dns"))];
    for node in ["dom0", "dom0m"] {
        for d in sim.node(node).unwrap().domains.keys() {
            if d != "dns" {
                downs.push((node, xl::destroy(d)));
            }
        }
    }
    for node in ["dom0", "dom0m"] {
        downs.push((node, vec!["umount".into(), "/OVS".into()]));
        for res in sim.node(node).unwrap().drbd.keys() {
            downs.push((node, drbd::down(res)));
        }
    }
    for (node, argv) in downs {
        let out = sim.run(node, &Cmd::new(argv.clone())).unwrap();
        assert_eq!(out.status, Some(0), "{node}: {argv:?}: {}", out.stderr);
    }
    sim.save(&path).unwrap();
    drop(held);

    let _ = client::request(
        &s.url,
        "POST",
        "/reconcile",
        Some(&s.token()),
        Duration::from_secs(5),
    );
    let url = s.url.clone();
    s.wait_for("a retry pass that promotes and starts", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        let last = &st["last"];
        (last["result"] == "applied" && last["pass"].as_u64()? >= 3).then_some(())
    });
    assert!(s.metric("xenflux_triggers_total{reason=\"retry\"}") >= 1.0);
    assert_eq!(s.metric("xenflux_reconcile_total{result=\"failed\"}"), 0.0);
    assert!(r.sim().node("dom0").unwrap().domains.contains_key("dns"));
}

#[test]
fn failures_back_off_and_an_unfinished_run_is_reported() {
    let r = repos();
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
    let mut s = Serve::start(&r, &[], &["--retry-base", "1s"]);
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
    let _ = client::request(
        &s.url,
        "POST",
        "/reconcile",
        Some(&s.token()),
        Duration::from_secs(5),
    );
}

/// Two volumes fail in the same pass: both are recorded, and each keeps its own backoff. The one
/// that recovers loses its count; the other doubles its delay.
#[test]
fn every_failed_object_keeps_its_own_backoff() {
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    // dns's data LV fails once (on its first node), vpn's three times (both nodes, then one).
    for (pattern, count) in [("-n dns --addtag", "1"), ("-n vpn --addtag", "3")] {
        let (code, out) = xenflux(
            &r.state_dir,
            &[
                "--state",
                root().join("cluster-state").to_str().unwrap(),
                "sim",
                "fail-next",
                "--count",
                count,
                "--",
                pattern,
            ],
        );
        assert_eq!(code, 0, "{out}");
    }
    let mut s = Serve::start(&r, &[], &["--retry-base", "1s", "--no-watch"]);
    let first = s.wait_pass(&c1, &["failed"]);
    assert_eq!(
        first["failedObjects"],
        serde_json::json!(["Volume/dns", "Volume/vpn"]),
        "{first}"
    );
    assert_eq!(first["retryAfter"], 1, "{first}");
    // The retry: dns recovered and lost its backoff, vpn failed a second time.
    let url = s.url.clone();
    let second = s.wait_for("the first retry", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["last"]["pass"] == 2).then_some(st)
    });
    let last = &second["last"];
    assert_eq!(last["result"], "failed", "{second}");
    assert_eq!(
        last["failedObjects"],
        serde_json::json!(["Volume/vpn"]),
        "{second}"
    );
    assert_eq!(last["retryAfter"], 2, "{second}");
    assert_eq!(
        second["failures"],
        serde_json::json!({"Volume/vpn": 2}),
        "{second}"
    );
    assert_eq!(second["objects"]["Volume/vpn"]["failures"], 2, "{second}");
    assert!(
        second["objects"]["Volume/dns"].get("failures").is_none(),
        "{second}"
    );
    // Then vpn recovers too: no backoff is left.
    s.wait_for("the retries to converge", || {
        let st: Value = serde_json::from_str(&http(&url, "GET", "/status", &[], b"").1).ok()?;
        (st["last"]["result"] == "applied").then_some(())
    });
    let st = s.status();
    assert!(st.get("failures").is_none(), "{st}");
    assert!(
        !s.get("/metrics").contains("xenflux_object_failures{"),
        "no object is backed off any more"
    );
    let history = std::fs::read_to_string(r.state_dir.join("controller/history.jsonl")).unwrap();
    let passes: Vec<Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(passes[0]["failedObjects"], first["failedObjects"]);
    assert_eq!(passes[1]["failedObjects"], last["failedObjects"]);
    assert!(
        passes[2..].iter().all(|p| p.get("failedObjects").is_none()),
        "{history}"
    );
}

#[test]
fn a_stop_request_ends_the_run_after_the_running_stage() {
    use std::sync::atomic::AtomicBool;
    use xenflux::exec::Lock;
    use xenflux::reconcile::{self, approve, plan_for, snapshot, ApplyCtx, Decision, Intent};

    let sources = xenflux::load::from_dir(&root().join("cluster-state")).unwrap();
    let first = xenflux::validate::validate(&sources, &Default::default()).unwrap();
    let sim = SimCluster::fresh(&first.desired, &Default::default());
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::acquire(dir.path()).unwrap();
    let snap = snapshot(&sources, &sim).unwrap();
    let approved = approve(&lock, &snap, false, Intent::Fresh).unwrap();
    let plan = approved.plan().clone();
    assert!(plan.stages.len() > 2);
    // Asked to stop before it began: the first stage still runs whole, nothing after it.
    let stop = AtomicBool::new(true);
    let ctx = ApplyCtx {
        stop: Some(&stop),
        settle: None,
        ..ApplyCtx::new(&sources, &sim)
    };
    let mut stages = Vec::new();
    let applied = reconcile::apply(approved, &ctx, &mut |e| {
        if let xenflux::exec::Event::Stage { index, .. } = e {
            stages.push(index)
        }
    });
    assert_eq!(stages, vec![1]);
    assert_eq!(applied.interrupted, Some((1, plan.stages.len())));
    assert_eq!(applied.ran.len(), plan.stages[0].actions.len());
    assert!(applied.failed.is_empty() && !applied.complete());
    assert_eq!(applied.decision, Decision::Requeue);
    assert!(
        !reconcile::inflight_path(dir.path()).exists(),
        "the in-flight marker goes when the apply ends"
    );
    // What is left is an ordinary plan for the next pass.
    let again = plan_for(&snapshot(&sources, &sim).unwrap(), false).unwrap();
    assert_eq!(
        again.action_count(),
        plan.action_count() - plan.stages[0].actions.len()
    );
}

#[test]
fn a_second_controller_on_the_same_state_directory_is_refused() {
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &[], &["--interval", "1h", "--no-watch"]);
    s.wait_pass(&c1, &["applied"]);
    let address = r.state_dir.join("controller").join("address");
    let before = std::fs::read_to_string(&address).unwrap();
    let (code, text) = xenflux(
        &r.state_dir,
        &[
            "serve",
            "--repo",
            r.bare.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("another `xenflux serve` (pid")
            && text.contains("runs on the state directory"),
        "{text}"
    );
    // The first controller's address is untouched and it still answers there.
    assert_eq!(std::fs::read_to_string(&address).unwrap(), before);
    assert_eq!(s.get("/healthz"), "ok\n");
    s.terminate();
    assert!(
        !address.exists(),
        "a controller removes the address it wrote"
    );
}

/// A metric's value, 0 when it has no sample yet.
fn metric_or_zero(s: &Serve, line_start: &str) -> f64 {
    s.get("/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// GET `path` on a fresh connection, each step bounded by `limit`; `None` if refused, closed
/// or slow.
fn try_get(url: &str, path: &str, limit: Duration) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().ok()?;
    let mut c = std::net::TcpStream::connect_timeout(&addr, limit).ok()?;
    c.set_read_timeout(Some(limit)).ok()?;
    c.set_write_timeout(Some(limit)).ok()?;
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.starts_with("HTTP/1.1 200").then_some(text)
}

#[test]
fn state_changing_requests_need_the_token() {
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(&r, &[], &["--interval", "1h", "--no-watch"]);
    s.wait_pass(&c1, &["applied"]);
    let token = s.token();
    assert_eq!(token.len(), 64);
    let mode = std::fs::metadata(xenflux::controller::token_path(&r.state_dir))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let push = "xenflux_triggers_total{reason=\"push\"}";
    let manual = "xenflux_triggers_total{reason=\"manual\"}";
    let (pushes, manuals) = (metric_or_zero(&s, push), metric_or_zero(&s, manual));
    let passes = s.status()["last"]["pass"].as_u64().unwrap();
    let wrong = format!("Bearer {}", "0".repeat(64));
    for (path, headers) in [
        ("/reconcile", &[][..]),
        ("/reconcile?reason=push", &[][..]),
        ("/reconcile?reason=push&wait=true", &[][..]),
        (
            "/reconcile?reason=push",
            &[("Authorization", wrong.as_str())][..],
        ),
        ("/reconcile", &[("Authorization", token.as_str())][..]),
    ] {
        let (st, body) = http(&s.url, "POST", path, headers, b"");
        assert_eq!(st, 401, "{path} {headers:?}: {body}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(metric_or_zero(&s, push), pushes, "no push counted");
    assert_eq!(metric_or_zero(&s, manual), manuals, "nothing queued");
    assert_eq!(s.status()["last"]["pass"].as_u64().unwrap(), passes);
    assert!(!s.log().contains(&token), "the token is never logged");

    // With the token (what the hook and `reconcile --now` send) it is accepted.
    let bearer = format!("Bearer {token}");
    let (st, _) = http(
        &s.url,
        "POST",
        "/reconcile?reason=push",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(st, 202);
    assert_eq!(metric_or_zero(&s, push), pushes + 1.0);
    // A client without the token file is refused with a clear message.
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, out) = xenflux(
        elsewhere.path(),
        &["reconcile", "--now", "--controller", &s.url],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("answered 401") && out.contains("token"),
        "{out}"
    );
    // Read-only endpoints stay open.
    assert!(try_get(&s.url, "/healthz", Duration::from_secs(5)).is_some());
    assert!(try_get(&s.url, "/metrics", Duration::from_secs(5)).is_some());
    s.terminate();
    assert!(
        !xenflux::controller::token_path(&r.state_dir).exists(),
        "the token it made goes with the controller"
    );
}

#[test]
fn slow_and_piled_up_clients_do_not_stop_the_controller() {
    use std::io::{Read, Write};
    let r = repos();
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let mut s = Serve::start(
        &r,
        &[],
        &["--interval", "1h", "--no-watch", "--header-timeout", "1s"],
    );
    s.wait_pass(&c1, &["applied"]);
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();

    // Slowloris: half a header, then nothing. The controller hangs up after the timeout.
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("200 OK"),
        "half a request was answered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a half-sent request kept its connection {:?}",
        started.elapsed()
    );

    // More connections than the cap (256), each with half a header: /healthz still answers
    // (at once from a free slot, or once the stalled ones time out), and a new connection is
    // never left hanging.
    let piled: Vec<_> = (0..300)
        .filter_map(|_| {
            let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            let _ = c.write_all(b"GET / HTTP/1.1\r\n");
            Some(c)
        })
        .collect();
    assert!(
        piled.len() >= 256,
        "only {} connections opened",
        piled.len()
    );
    let started = Instant::now();
    let answered = loop {
        if let Some(t) = try_get(&s.url, "/healthz", Duration::from_secs(2)) {
            break Some(t);
        }
        if started.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answered.is_some_and(|t| t.ends_with("ok\n")),
        "/healthz did not answer with {} connections piled up:\n{}",
        piled.len(),
        s.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "/healthz took {:?}",
        started.elapsed()
    );
    drop(piled);
    // And the controller still does its work.
    let (code, out) = xenflux(&r.state_dir, &["reconcile", "--now"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.terminate().code(), Some(0));
}
