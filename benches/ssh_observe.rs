//! Observation over real SSH, one node against sixteen: each node is a network namespace with
//! its own sshd on a veth link (`tests/common/sshnode.rs`, as `tests/real_ssh.rs` builds them),
//! and `xenflux status --target ssh` — a whole process, as an operator runs it — observes a
//! desired state of one of them, then of all sixteen at once. Prints the wall time of each (the
//! median of a few runs) and the ratio; asserts nothing about time.
//!
//! Run as root with `cargo bench --bench ssh_observe` (ssh, sshd and ip installed; without
//! them it says so and exits 0). `XENFLUX_BIN` runs another xenflux binary (a release build);
//! `XENFLUX_SSH_RUNS` sets the runs per figure (default 5). Traffic stays on the veth links of
//! the namespaces it makes (10.200.60.0/24 to 10.200.75.0/24), which it removes at the end.

#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::sshnode::{SshClient, SshNode, SshNodeOptions};

/// Nodes of the larger estate.
const NODES: u8 = 16;
/// The first node's subnet (`10.200.60.0/24`); each node has the next one.
const FIRST_SUBNET: u8 = 60;

fn main() {
    let Some(client) = SshClient::new() else {
        println!("skipping: observation over ssh needs root, ssh, sshd and ip");
        return;
    };
    let exe = std::env::var_os("XENFLUX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_xenflux")));
    let runs: usize = std::env::var("XENFLUX_SSH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .clamp(1, 100);
    let started = Instant::now();
    let nodes: Vec<SshNode> = (0..NODES)
        .map(|i| {
            SshNode::start(
                &client,
                &format!("n{i}"),
                FIRST_SUBNET + i,
                &SshNodeOptions::default(),
            )
        })
        .collect();
    println!(
        "{NODES} namespace nodes with their own sshd, started in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        exe.display()
    );
    let work = common::scratch();
    let one = estate(work.path(), "one", &nodes[..1]);
    let all = estate(work.path(), "all", &nodes);
    // Alternated, so that a machine busy with something else weighs on both alike.
    let (mut one_runs, mut all_runs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        one_runs.push(status(&exe, &one, &client.config, &nodes));
        all_runs.push(status(&exe, &all, &client.config, &nodes));
    }
    let sessions: Vec<usize> = nodes.iter().map(SshNode::sessions).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "`xenflux status --target ssh`, median of {runs} runs on this {cores}-core machine \
         (CPU: xenflux with its ssh clients; the nodes' sshd with the tools they ran):"
    );
    println!(
        "            {:>9} {:>12} {:>12}",
        "wall", "CPU xenflux", "CPU nodes"
    );
    let a = Run::median(&mut one_runs);
    let b = Run::median(&mut all_runs);
    for (name, r) in [("1 node", &a), (&format!("{NODES} nodes")[..], &b)] {
        println!(
            "  {name:<9} {:>7.3} s {:>10.3} s {:>10.3} s",
            r.wall.as_secs_f64(),
            r.client.as_secs_f64(),
            r.nodes.as_secs_f64()
        );
    }
    let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-9);
    println!(
        "  {NODES} / 1    {:>7.2} × {:>10.2} × {:>10.2} ×   (sessions per node: first {}, others {:?})",
        ratio(b.wall, a.wall),
        ratio(b.client, a.client),
        ratio(b.nodes, a.nodes),
        sessions[0],
        sessions[1..].iter().min().zip(sessions[1..].iter().max())
    );
}

/// One run: its wall time, the CPU time of xenflux and its ssh clients, and that of the
/// nodes' sshd and everything they ran.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    client: Duration,
    nodes: Duration,
}

impl Run {
    /// Each figure's median over the runs.
    fn median(runs: &mut [Run]) -> Run {
        Run {
            wall: median(&mut runs.iter().map(|r| r.wall).collect::<Vec<_>>()),
            client: median(&mut runs.iter().map(|r| r.client).collect::<Vec<_>>()),
            nodes: median(&mut runs.iter().map(|r| r.nodes).collect::<Vec<_>>()),
        }
    }
}

/// CPU time of this process's children that were waited for (xenflux and, through it, its
/// ssh clients).
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage of this process.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time of every node's sshd with all it has reaped (its sessions and the tools they
/// ran): `/proc/PID/stat` fields utime, stime, cutime and cstime, in ticks of 1/100 s.
fn nodes_cpu(nodes: &[SshNode]) -> Duration {
    let ticks: u64 = nodes
        .iter()
        .filter_map(|n| {
            let pid = std::fs::read_to_string(n.dir.path().join("sshd.pid")).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok()?;
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            Some(
                fields
                    .get(11..15)?
                    .iter()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>(),
            )
        })
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A desired state of `nodes` (each reached over ssh at its address), in `dir/name`.
fn estate(dir: &Path, name: &str, nodes: &[SshNode]) -> (PathBuf, PathBuf) {
    let state = dir.join(name).join("state");
    let mut text = String::new();
    for (i, n) in nodes.iter().enumerate() {
        text.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: n{i}}}\n\
             spec: {{address: {a}, ssh: {{host: {a}, user: root}}, volumeGroup: XEN}}\n",
            a = n.address
        ));
    }
    common::write(&state, "nodes.yaml", &text);
    (state, dir.join(name).join("sd"))
}

/// One whole `xenflux status --target ssh` on `(state, state_dir)`, measured.
fn status(
    exe: &Path,
    (state, state_dir): &(PathBuf, PathBuf),
    config: &Path,
    nodes: &[SshNode],
) -> Run {
    let mut cmd = Command::new(exe);
    cmd.arg("--state")
        .arg(state)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--ssh-config")
        .arg(config)
        .args(["status", "--target", "ssh", "--format", "json"]);
    let (started, client, on_nodes) = (Instant::now(), children_cpu(), nodes_cpu(nodes));
    let out = common::run(&mut cmd);
    let wall = started.elapsed();
    // The sessions have ended with the client; their sshd reaps them at once.
    std::thread::sleep(Duration::from_millis(200));
    let took = Run {
        wall,
        client: children_cpu().saturating_sub(client),
        nodes: nodes_cpu(nodes).saturating_sub(on_nodes),
    };
    // 0 in sync, 2 drift: both are an observation made; 1 is an error.
    assert!(
        matches!(out.code, Some(0 | 2)),
        "xenflux status failed:\n{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("status JSON");
    assert!(
        v.to_string().contains("\"lvm\"") || v.get("nodes").is_some(),
        "a status of the nodes: {v}"
    );
    took
}

fn median(walls: &mut [Duration]) -> Duration {
    walls.sort();
    walls[walls.len() / 2]
}
