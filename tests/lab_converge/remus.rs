//! Remus protection on the real lab (steps 5r and 5s: after the drift repair, before node
//! loss): `dns` made dual-primary and `protection: {mode: remus, networkBuffering: false,
//! diskReplication: none}` — the only options the lab's Xen 4.17.5 runs
//! (`tests/fixtures/real-lab-remus/`) — applied over ssh: `xl remus` runs on nodea (its pid
//! file alive), the shadow `dns--incoming` is on nodeb, paused, and the next plan has nothing
//! to do (xenflux sees it protected). Then protection is removed and `dns` single-primary
//! again: the shadow is destroyed first and `dns` runs on, on nodea only (no plan after that:
//! the node-loss steps start with a controller pass that must find the cluster in sync).
//! Measured by hand on the lab: the apply that protects 59 s, the plan after it 51 s; the two
//! steps take about two and a half minutes. The crash, the takeover and the re-arming took
//! about eleven minutes of emulation by hand (the first copy of the domain's 128 MiB alone
//! about 100 s): they are proven on the simulator (`tests/remus.rs`).

use std::time::{Duration, Instant};

use super::Run;

const PROTECTION: &str =
    "  protection: {mode: remus, interval: 2s, networkBuffering: false, diskReplication: none}\n";

pub fn run(run: &mut Run) {
    let t = Instant::now();
    let step = "5r remus protection starts and is observed";
    run.edit(
        "volumes.yaml",
        "  size: 128MiB\n  nodes: [nodea, nodeb]\n",
        "  size: 128MiB\n  nodes: [nodea, nodeb]\n  dualPrimary: true\n",
    );
    run.edit(
        "domains.yaml",
        "    - {bridge: xenbr0}\n",
        &format!("    - {{bridge: xenbr0}}\n{PROTECTION}"),
    );
    let apply = run.xenflux(step, &["apply", "--target", "ssh", "--yes"]);
    let applied = String::from_utf8_lossy(&apply.stdout).into_owned();
    assert!(
        apply.status.success() && applied.contains("protect domain dns with a shadow on nodeb"),
        "step {step}: apply ({}):\n{applied}\n{}\n{}",
        apply.status,
        String::from_utf8_lossy(&apply.stderr),
        run.diagnose()
    );
    // The shadow is made at once (and filled for about two minutes under emulation).
    let deadline = Instant::now() + Duration::from_secs(60);
    let shadow = loop {
        let list = run.ssh("nodeb", "xl list");
        if list.lines().any(|l| l.starts_with("dns--incoming ")) || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(
        shadow
            .lines()
            .any(|l| l.starts_with("dns--incoming ") && l.contains("--p---")),
        "step {step}: nodeb has no paused shadow:\n{shadow}\n{}",
        run.diagnose()
    );
    let sender = run.ssh(
        "nodea",
        "start-stop-daemon --status --pidfile /run/xenflux-remus-dns.pid && echo running; ps ax -o args | grep '^/usr/lib/xen-4.17/bin/xl remus' || true",
    );
    assert!(
        sender.contains("running")
            && sender.contains("xl remus -i 2000 -n -d -F -s  dns ssh 169.254.77.2"),
        "step {step}: nodea: {sender}"
    );
    for node in ["nodea", "nodeb"] {
        let role = run.proc_drbd_line(node, run.res(node, "dns").minor);
        assert!(
            role.contains("ro:Primary/Primary"),
            "step {step}: {node}: {role}"
        );
    }
    let plan = run.xenflux(step, &["plan", "--target", "ssh"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "step {step}: plan after protection started:\n{}\n{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
    run.step(step, t);

    let t = Instant::now();
    let step = "5s remus protection removed";
    run.edit("domains.yaml", PROTECTION, "");
    // dns's lines only: ovs is dual-primary too.
    run.edit(
        "volumes.yaml",
        "  size: 128MiB\n  nodes: [nodea, nodeb]\n  dualPrimary: true\n",
        "  size: 128MiB\n  nodes: [nodea, nodeb]\n",
    );
    // No plan after it (a minute of emulation): the controller's first pass in the node-loss
    // steps must find the cluster in sync, which it would not with anything left over.
    let apply = run.xenflux(step, &["apply", "--target", "ssh", "--yes"]);
    let applied = String::from_utf8_lossy(&apply.stdout).into_owned();
    assert!(
        apply.status.success() && applied.contains("stop protecting domain dns"),
        "step {step}: apply ({}):\n{applied}\n{}\n{}",
        apply.status,
        String::from_utf8_lossy(&apply.stderr),
        run.diagnose()
    );
    run.assert_dns_runs_on(step, Some("nodea"));
    let left = run.ssh("nodeb", "xl list");
    assert!(
        !left.contains("dns--incoming"),
        "step {step}: nodeb:\n{left}"
    );
    let minor = run.res("nodea", "dns").minor;
    run.assert_primary_on(step, "nodea", minor);
    run.step(step, t);
}
