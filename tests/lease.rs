#![allow(clippy::disallowed_methods)]
//! Two controllers of one cluster on a real etcd (`etcd-server`, started by the test on
//! 127.0.0.1): with `serve --lease`, exactly one applies a push while the other only follows;
//! the leader killed with SIGKILL is replaced within the lease's TTL plus a second (printed);
//! with etcd stopped, neither acts and both say so.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::{http, root, Repos, Serve};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");
const TTL: Duration = Duration::from_secs(4);

/// A one-member etcd on free loopback ports, stopped on drop.
struct Etcd {
    child: Option<Child>,
    url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Etcd {
    fn start() -> Etcd {
        let dir = common::scratch();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(common::tool("etcd"))
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("etcd.log")).unwrap())
            .spawn()
            .expect("etcd starts");
        let e = Etcd {
            child: Some(child),
            url,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !healthy(client) {
            assert!(Instant::now() < deadline, "etcd did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether etcd answers `GET /health` with 200 (a member still starting may accept and reset
/// the connection: that is "not yet", not a failure).
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let req =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    c.write_all(req.as_bytes()).is_ok()
        && c.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `leadership` of the controller at `url` (Null while it does not answer).
fn role(url: &str) -> Value {
    serde_json::from_str::<Value>(&http(url, "GET", "/status", &[], b"").1)
        .map(|s| s["leadership"].clone())
        .unwrap_or(Value::Null)
}

/// Waits for the controller to take `want` as its role.
fn wait_role(s: &mut Serve, want: &str) -> Value {
    let url = s.url.clone();
    s.wait_for(&format!("the role {want}"), || {
        let r = role(&url);
        (r["role"] == want).then_some(r)
    })
}

fn start(r: &Repos, dir: &Path, etcd: &Etcd) -> Serve {
    let lease = format!("etcd={}", etcd.url);
    Serve::start_in(
        r,
        dir,
        &[],
        &["--lease", &lease, "--lease-ttl", "4s", "--interval", "1h"],
    )
}

#[test]
fn one_controller_of_two_acts_and_the_other_takes_over() {
    if !common::require_tool("etcd") {
        return;
    }
    let mut etcd = Etcd::start();
    let r = Repos::new(Path::new(BIN), Some(&root().join("cluster-state")));
    let c1 = r.push("cluster.yaml", |t| t, "initial state");
    let dirs = common::scratch();
    let (dir_a, dir_b) = (dirs.path().join("a"), dirs.path().join("b"));

    // a starts first and leads; b follows and names a.
    let mut a = start(&r, &dir_a, &etcd);
    wait_role(&mut a, "leader");
    let first = a.wait_pass(&c1, &["applied"]);
    assert!(first["applied"].as_u64() > Some(0), "{first}");
    let mut b = start(&r, &dir_b, &etcd);
    let followed = wait_role(&mut b, "follower");
    assert!(
        followed["leader"]
            .as_str()
            .is_some_and(|l| l.contains(&a.url.replace("http://", ""))),
        "b names a as the leader: {followed}"
    );

    // A push: a applies it, b does nothing (no pass at all) and says why in its log.
    let c2 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 10GiB", "size: 12GiB", 1),
        "grow dns",
    );
    let (code, out) = common::serve::xenflux(Path::new(BIN), &dir_b, &["reconcile", "--now"]);
    assert!(
        code != 0 && out.contains("does not reconcile now: following"),
        "b asked to reconcile: {out}"
    );
    let applied = a.wait_pass(&c2, &["applied", "drift"]);
    assert!(applied["applied"].as_u64() > Some(0), "{applied}");
    let sb = b.status();
    assert!(sb["last"].is_null(), "b ran a pass: {sb}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.log().contains("reconcile skipped: following") {
        assert!(
            Instant::now() < deadline,
            "b did not skip the push:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // b's own simulated cluster was never touched: it never applied anything.
    assert!(!dir_b.join("journal.jsonl").exists(), "b applied something");

    // a dies without a word: b takes over within the TTL plus a second, and reconciles.
    let killed = Instant::now();
    a.kill();
    wait_role(&mut b, "leader");
    let took = killed.elapsed();
    eprintln!(
        "leader killed → the other leads: {:.2} s (TTL {} s)",
        took.as_secs_f64(),
        TTL.as_secs()
    );
    assert!(
        took <= TTL + Duration::from_secs(1),
        "the takeover took {took:?}, more than the TTL + 1 s"
    );
    b.wait_pass(&c2, &["applied", "drift", "in-sync"]);
    assert!(
        dir_b.join("journal.jsonl").exists(),
        "b applied once it led"
    );

    // a comes back and follows b; then etcd stops: neither acts, and both say so.
    let mut a = start(&r, &dir_a, &etcd);
    wait_role(&mut a, "follower");
    etcd.stop();
    for s in [&mut a, &mut b] {
        wait_role(s, "unavailable");
    }
    let before = b.status()["last"].clone();
    let c3 = r.push(
        "volumes.yaml",
        |t| t.replacen("size: 12GiB", "size: 13GiB", 1),
        "grow dns again",
    );
    for dir in [&dir_a, &dir_b] {
        let (code, out) = common::serve::xenflux(Path::new(BIN), dir, &["reconcile", "--now"]);
        assert!(
            code != 0 && out.contains("does not reconcile now: no leader known"),
            "asked to reconcile without etcd: {out}"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(b.status()["last"], before, "b acted without a lease");
    assert!(
        a.status()["last"]["commit"] != c3.as_str(),
        "a acted without a lease"
    );
    assert!(b.log().contains("no leader known"), "{}", b.log());
}

/// The fencing token: a leader whose key was taken from it (deleted, then created by another
/// controller) is told so by etcd when it confirms before a stage, and stops acting.
#[test]
fn a_deposed_leader_is_told_so_before_its_next_stage() {
    use base64::Engine as _;
    use xenflux::controller::lease::{Leadership, LeaseOptions};
    if !common::require_tool("etcd") {
        return;
    }
    let etcd = Etcd::start();
    let candidate = |holder: &str| {
        Leadership::new(LeaseOptions {
            endpoint: etcd.url.clone(),
            key: "xenflux/test".into(),
            ttl: TTL,
            holder: holder.into(),
        })
    };
    let one = candidate("one");
    assert!(one.step(), "{:?}", one.role());
    let token = one.acting().expect("one leads");
    assert_eq!(one.confirm(token), Ok(()));
    let two = candidate("two");
    assert!(!two.step(), "two cannot lead while one does");
    // The key is deleted behind one's back, and two takes it.
    let key = base64::engine::general_purpose::STANDARD.encode("xenflux/test");
    let body = format!("{{\"key\":\"{key}\"}}");
    let (status, _) = http(
        &etcd.url,
        "POST",
        "/v3/kv/deleterange",
        &[],
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(two.step(), "{:?}", two.role());
    let e = one.confirm(token).expect_err("one is deposed");
    assert!(e.contains("deposed"), "{e}");
    assert!(one.acting().is_none());
    let t2 = two.acting().expect("two leads");
    assert_ne!(t2, token);
    assert_eq!(two.confirm(t2), Ok(()));
}
