#![allow(clippy::disallowed_methods)]
//! The SSH transport against real sshd: each test's node is a network namespace with its own
//! sshd (tests/common/sshnode.rs), reached through the system ssh client with a config file
//! the test wrote (its own key and known_hosts, strict host-key checking). Needs root, ssh,
//! sshd and ip: skipped without them, failed in CI.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::sshnode::{SshClient, SshNode, SshNodeOptions};
use xenflux::model::SshTarget;
use xenflux::observe::{observe_node, Probe};
use xenflux::transport::{Cmd, Ssh, SshOptions, Transport, TransportError};

/// An Ssh transport reaching `node` as `n1` (root, port `port`), control sockets in `ctl`.
fn ssh_to(client: &SshClient, node: &SshNode, port: u16, ctl: &Path) -> Ssh {
    std::fs::create_dir_all(ctl).expect("control dir");
    let mut targets = BTreeMap::new();
    targets.insert(
        "n1".to_string(),
        SshTarget {
            host: node.address.to_string(),
            user: Some("root".into()),
            port: Some(port),
        },
    );
    let mut options = SshOptions::new(ctl.to_path_buf());
    options.config = Some(client.config.clone());
    options.connect_timeout = Duration::from_secs(5);
    Ssh::new(targets, options)
}

fn sockets(ctl: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(ctl)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_batch_is_one_round_trip_with_streams_statuses_and_inputs_apart() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "batch", 41, &SshNodeOptions::default());
    let ctl = client.dir.path().join("ctl");
    let ssh = ssh_to(&client, &node, 22, &ctl);

    let tricky = "0 0 5 5\nXENFLUX-END x\nXENFLUX_IN_\nXENFLUX-FRAMES y\nno newline at the end";
    let big: String = (0..40_000).map(|i| format!("{i}\n")).collect();
    let batch = [
        Cmd::new(["sh", "-c", "echo out; echo err >&2; exit 3"]),
        Cmd::new(["cat"]).with_stdin(tricky),
        Cmd::new(["cat"]).with_stdin("with\0a NUL"),
        Cmd::new(["cat"]).with_stdin(""),
        Cmd::new(["cat"]),
        Cmd::new(["no-such-program-xenflux"]),
        Cmd::new(["wc", "-c"]).with_stdin(big.clone()),
        Cmd::new(["seq", "1", "100000"]),
        Cmd::new(["printf", "%s", "last, no newline"]),
    ];
    let (sessions, connections) = (node.sessions(), node.connections());
    let out = ssh.run_batch("n1", &batch).expect("the batch runs");
    assert_eq!(out.len(), batch.len());
    assert_eq!(
        (
            out[0].status,
            out[0].stdout.as_str(),
            out[0].stderr.as_str()
        ),
        (Some(3), "out\n", "err\n")
    );
    assert_eq!((out[1].status, out[1].stdout.as_str()), (Some(0), tricky));
    assert_eq!(out[2].stdout, "with\0a NUL");
    assert_eq!(out[3].stdout, "");
    assert_eq!(
        (out[4].status, out[4].stdout.as_str()),
        (Some(0), ""),
        "a command without input reads /dev/null, never the script"
    );
    assert_eq!(out[5].status, Some(127), "{:?}", out[5]);
    assert!(out[5].stderr.contains("not found"), "{:?}", out[5]);
    assert_eq!(out[6].stdout.trim(), big.len().to_string());
    let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert!(out[7].stdout == expected, "seq output differs");
    assert_eq!(out[8].stdout, "last, no newline");
    assert_eq!(out[1].argv, batch[1].argv);
    assert_eq!(
        (node.sessions() - sessions, node.connections() - connections),
        (1, 1),
        "one batch, one session on one new connection:\n{}",
        node.log_text()
    );

    // Warm: the control master carries the next batch, no new connection.
    let out = ssh
        .run_batch("n1", &[Cmd::new(["true"]), Cmd::new(["false"])])
        .unwrap();
    assert_eq!((out[0].status, out[1].status), (Some(0), Some(1)));
    assert_eq!(
        (node.sessions() - sessions, node.connections() - connections),
        (2, 1),
        "{}",
        node.log_text()
    );
    assert_eq!(sockets(&ctl).len(), 1, "one control socket for the node");
    ssh.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sockets(&ctl).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sockets(&ctl).is_empty(),
        "close ends the master: {:?}",
        sockets(&ctl)
    );

    // One observation, cold (new master) then warm, for the record.
    let probe = Probe {
        host: "n1".into(),
        ..Default::default()
    };
    let ssh = ssh_to(&client, &node, 22, &ctl);
    let t = Instant::now();
    let cold = observe_node(&ssh, "n1", &probe);
    let cold_time = t.elapsed();
    let t = Instant::now();
    let warm = observe_node(&ssh, "n1", &probe);
    let warm_time = t.elapsed();
    assert!(cold.net.is_known() && warm.net.is_known(), "{cold:?}");
    let t = Instant::now();
    let _ = observe_node(&xenflux::transport::Local::new(), "here", &probe);
    let local_time = t.elapsed();
    println!(
        "observation of one node over ssh: cold master {:.1} ms, warm master {:.1} ms \
         (the same probe run locally: {:.1} ms)",
        cold_time.as_secs_f64() * 1000.0,
        warm_time.as_secs_f64() * 1000.0,
        local_time.as_secs_f64() * 1000.0
    );
}

#[test]
fn hostile_looking_words_are_passed_not_interpreted() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "words", 42, &SshNodeOptions::default());
    let ssh = ssh_to(&client, &node, 22, &client.dir.path().join("ctl"));
    let dir = common::scratch();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("meta0"), "").unwrap();
    let marker = format!("{d}/marker");
    let words: Vec<String> = [
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!(";touch {marker}"),
        format!("|touch {marker}"),
        format!("&& touch {marker}"),
        format!(">{d}/redirected"),
        format!("{d}/meta[0]"),
        format!("{d}/*"),
        "meta[0]".into(),
        "'".into(),
        "\"".into(),
        "it's \"quoted\"".into(),
        "*".into(),
        "a\nnew line".into(),
        "-n".into(),
        "--".into(),
        String::new(),
        "$HOME ${IFS} ~ #not a comment \\".into(),
    ]
    .into();
    let mut argv = vec!["printf".to_string(), "%s\\n".into()];
    argv.extend(words.iter().cloned());
    let out = ssh
        .run_batch(
            "n1",
            &[
                Cmd::new(argv),
                Cmd::new(["A=b", "true"]),
                Cmd::new(["ls", "-d", &format!("{d}/meta[0]")]),
            ],
        )
        .unwrap();
    let expected: String = words.iter().map(|w| format!("{w}\n")).collect();
    assert_eq!(out[0].status, Some(0), "{:?}", out[0]);
    assert_eq!(out[0].stdout, expected);
    assert!(!Path::new(&marker).exists(), "a word was run as a command");
    assert!(
        !dir.path().join("redirected").exists(),
        "a word was a redirection"
    );
    assert_eq!(
        out[1].status,
        Some(127),
        "`A=b` is a program name, not an assignment: {:?}",
        out[1]
    );
    assert_ne!(
        out[2].status,
        Some(0),
        "meta[0] must not glob to meta0: {:?}",
        out[2]
    );
}

#[test]
fn a_batch_cut_short_is_an_error_not_a_success() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "cut", 45, &SshNodeOptions::default());
    let ssh = ssh_to(&client, &node, 22, &client.dir.path().join("ctl"));
    // The second command kills the batch's own shell (its parent, or its grandparent when the
    // node bounds commands with `timeout`): the answer stops after one frame.
    let err = ssh
        .run_batch(
            "n1",
            &[
                Cmd::new(["echo", "before"]),
                Cmd::new([
                    "sh",
                    "-c",
                    "p=$PPID; [ \"$(cat /proc/$p/comm)\" = timeout ] && p=$(cut -d' ' -f4 /proc/$p/stat); kill -KILL $p",
                ]),
                Cmd::new(["echo", "after"]),
            ],
        )
        .expect_err("a batch that did not finish is not a result");
    match &err {
        TransportError::Interrupted {
            node,
            completed,
            total,
            ..
        } => assert_eq!((node.as_str(), *completed, *total), ("n1", 1, 3), "{err}"),
        other => panic!("expected Interrupted, got {other}"),
    }
    assert!(err.is_transient());
    // The connection still serves the next batch.
    let out = ssh.run_batch("n1", &[Cmd::new(["echo", "again"])]).unwrap();
    assert_eq!(out[0].stdout, "again\n");
}

#[test]
fn unreachable_nodes_and_wrong_host_keys_are_refused() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "keys", 43, &SshNodeOptions::default());

    // Nothing listens on port 2: ssh fails to connect.
    let ssh = ssh_to(&client, &node, 2, &client.dir.path().join("ctl-refused"));
    match ssh.run_batch("n1", &[Cmd::new(["true"])]) {
        Err(TransportError::Unreachable { node, reason }) => {
            assert_eq!(node, "n1");
            assert!(reason.contains("refused"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    match ssh.run_batch("elsewhere", &[Cmd::new(["true"])]) {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.contains("no ssh target"), "{reason}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    // A client that does not know the host key, then one that expects another key.
    let Some(stranger) = SshClient::new() else {
        return;
    };
    let sessions = node.sessions();
    let ssh = ssh_to(&stranger, &node, 22, &stranger.dir.path().join("ctl"));
    match ssh.run_batch("n1", &[Cmd::new(["true"])]) {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.contains("Host key verification failed"), "{reason}")
        }
        other => panic!("an unknown host key must be refused, got {other:?}"),
    }
    stranger.trust(node.address, &client.public_key);
    match ssh.run_batch("n1", &[Cmd::new(["true"])]) {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.contains("Host key verification failed"), "{reason}");
            assert!(
                reason.contains("HOST IDENTIFICATION HAS CHANGED"),
                "{reason}"
            );
        }
        other => panic!("a changed host key must be refused, got {other:?}"),
    }
    assert_eq!(node.sessions(), sessions, "nothing ran on the node");
}

#[test]
fn xenflux_observe_over_ssh_reads_the_node() {
    let Some(client) = SshClient::new() else {
        return;
    };
    let node = SshNode::start(&client, "cli", 44, &SshNodeOptions::default());
    let work = common::scratch();
    let state = work.path().join("state");
    common::write(
        &state,
        "nodes.yaml",
        &format!(
            "apiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: n1}}\n\
             spec: {{address: {a}, ssh: {{host: {a}}}, volumeGroup: XEN}}\n",
            a = node.address
        ),
    );
    let state_dir = work.path().join("sd");
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .arg("--state")
            .arg(&state)
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--ssh-config")
            .arg(&client.config)
            .args([
                "observe", "--target", "ssh", "--node", "n1", "--format", "json",
            ]),
    )
    .expect_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let addresses = &v["net"]["links"]["eth0"]["addresses"];
    assert!(
        addresses
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == &format!("{}/24", node.address))),
        "the namespace's own eth0 is observed: {}",
        v["net"]
    );
    assert!(
        v["listening"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == 22)),
        "the node's sshd listens on 22: {}",
        v["listening"]
    );
    assert!(v["lvm"]["vgs"].is_object(), "LVM is read: {}", v["lvm"]);
    assert_eq!(
        v["net"]["management"],
        node.address.to_string(),
        "the address xenflux came in on is known (never to be enslaved)"
    );
    assert_eq!(node.connections(), 1, "one connection: {}", node.log_text());
    assert_eq!(node.sessions(), 1, "one batch: {}", node.log_text());
    let ctl = state_dir.join("ssh");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&ctl).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(sockets(&ctl).is_empty(), "the master was closed on exit");
}

#[test]
fn a_node_can_have_its_own_environment_and_mounts() {
    let Some(client) = SshClient::new() else {
        return;
    };
    if !common::require_tool("unshare") {
        return;
    }
    let dir = common::scratch();
    let private = dir.path().join("private");
    let view = dir.path().join("view");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::create_dir_all(&view).unwrap();
    std::fs::write(private.join("hostname"), "node-own\n").unwrap();
    let opts = SshNodeOptions {
        sshd_config: vec!["SetEnv XENFLUX_TEST_NODE=n1".into()],
        mount_setup: Some(format!(
            "mount --bind {} {}",
            xenflux::transport::always_quote(&private.display().to_string()),
            xenflux::transport::always_quote(&view.display().to_string())
        )),
        ..Default::default()
    };
    let node = SshNode::start(&client, "mnt", 46, &opts);
    let ssh = ssh_to(&client, &node, 22, &client.dir.path().join("ctl"));
    let out = ssh
        .run_batch(
            "n1",
            &[
                Cmd::new(["printenv", "XENFLUX_TEST_NODE"]),
                Cmd::new([
                    "cat".to_string(),
                    view.join("hostname").display().to_string(),
                ]),
            ],
        )
        .unwrap();
    assert_eq!(out[0].stdout, "n1\n", "{:?}", out[0]);
    assert_eq!(out[1].stdout, "node-own\n", "{:?}", out[1]);
    assert!(
        !view.join("hostname").exists(),
        "the bind mount stays inside the node's mount namespace"
    );
}
