#![allow(clippy::disallowed_methods)]
//! The rendered OCFS2 files fed to the real tools: `o2cb --config-file` must read our
//! `cluster.conf` back as the same cluster and nodes, a file o2cb builds itself from
//! `add-cluster`/`add-node` must hold the same stanzas (indeed the same bytes), and `sh` must read
//! the same settings out of `/etc/default/o2cb` as the init script would.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{load_state, repo_root, require_tool, run, scratch, tool, write};
use xenflux::model::Name;
use xenflux::render::{self, ocfs2, MANAGED_HEADER};
use xenflux::validate::Validated;

/// One stanza: its kind (`cluster`, `node`) and its `key = value` pairs, sorted.
type Stanza = (String, Vec<(String, String)>);

/// Parses cluster.conf syntax (also what `o2cb list-cluster` prints): a line `kind:` opens a
/// stanza, indented `key = value` lines fill it, blank lines and `#` comments are ignored.
fn stanzas(text: &str) -> BTreeSet<Stanza> {
    let mut out = BTreeSet::new();
    let mut current: Option<Stanza> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let kind = t
                .strip_suffix(':')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            if let Some(mut s) = current.take() {
                s.1.sort();
                out.insert(s);
            }
            current = Some((kind.to_string(), Vec::new()));
        } else {
            let (k, v) = t
                .split_once(" = ")
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let s = current
                .as_mut()
                .unwrap_or_else(|| panic!("{line:?} outside a stanza"));
            s.1.push((k.to_string(), v.to_string()));
        }
    }
    if let Some(mut s) = current {
        s.1.sort();
        out.insert(s);
    }
    out
}

fn pairs(kv: &[(&str, String)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    v.sort();
    v
}

/// What cluster-state/'s OCFS2 cluster must look like, from the desired state alone.
fn expected(v: &Validated, cluster: &Name) -> BTreeSet<Stanza> {
    let spec = &v.desired.ocfs2[cluster];
    let mut out = BTreeSet::new();
    out.insert((
        "cluster".to_string(),
        pairs(&[
            ("name", cluster.to_string()),
            ("heartbeat_mode", "local".into()),
            ("node_count", spec.nodes.len().to_string()),
        ]),
    ));
    for n in &spec.nodes {
        out.insert((
            "node".to_string(),
            pairs(&[
                ("cluster", cluster.to_string()),
                ("name", n.node.to_string()),
                ("number", n.number.to_string()),
                ("ip_address", n.address.to_string()),
                ("ip_port", spec.port.to_string()),
            ]),
        ));
    }
    out
}

fn o2cb(file: &Path, args: &[&str]) -> common::Output {
    let mut cmd = Command::new(tool("o2cb"));
    cmd.arg(format!("--config-file={}", file.display()))
        .args(args);
    run(&mut cmd)
}

fn cluster_state() -> (Validated, Name) {
    let v = load_state(&repo_root().join("cluster-state"));
    let name = v
        .desired
        .ocfs2
        .keys()
        .next()
        .expect("an Ocfs2Cluster")
        .clone();
    (v, name)
}

#[test]
fn o2cb_reads_back_the_rendered_cluster_conf() {
    if !require_tool("o2cb") {
        return;
    }
    let (v, cluster) = cluster_state();
    let dir = scratch();
    let r = render::render(&v.desired, &v.allocation);
    for n in &v.desired.ocfs2[&cluster].nodes {
        let conf = &r.nodes[&n.node][ocfs2::CLUSTER_CONF_PATH];
        assert_eq!(stanzas(conf), expected(&v, &cluster), "our own file");
        let file = write(dir.path(), &format!("{}.conf", n.node), conf);
        let listed = o2cb(&file, &["list-cluster", cluster.as_str()]).expect_ok();
        assert_eq!(
            stanzas(&listed.stdout),
            expected(&v, &cluster),
            "o2cb list-cluster on {}:\n{}",
            n.node,
            listed.stdout
        );
        let clusters = o2cb(&file, &["list-clusters"]).expect_ok();
        assert_eq!(clusters.stdout.trim(), cluster.as_str());
    }
}

#[test]
fn o2cb_builds_the_same_file_from_scratch() {
    if !require_tool("o2cb") {
        return;
    }
    let (v, cluster) = cluster_state();
    let spec = &v.desired.ocfs2[&cluster];
    let dir = scratch();
    let built = dir.path().join("built.conf");
    o2cb(&built, &["add-cluster", cluster.as_str()]).expect_ok();
    let mut nodes: Vec<_> = spec.nodes.iter().collect();
    nodes.sort_by_key(|n| n.number);
    for n in nodes {
        let (ip, port, number) = (
            n.address.to_string(),
            spec.port.to_string(),
            n.number.to_string(),
        );
        o2cb(
            &built,
            &[
                "add-node",
                cluster.as_str(),
                n.node.as_str(),
                "--ip",
                &ip,
                "--port",
                &port,
                "--number",
                &number,
            ],
        )
        .expect_ok();
    }
    let theirs = std::fs::read_to_string(&built).expect("o2cb wrote the file");
    let ours = ocfs2::cluster_conf(&cluster, spec);
    assert_eq!(stanzas(&theirs), stanzas(&ours));
    // Byte for byte, once our header line is set aside.
    assert_eq!(ours.strip_prefix(MANAGED_HEADER), Some(theirs.as_str()));
}

#[test]
fn sh_reads_the_o2cb_defaults_as_the_init_script_does() {
    if !require_tool("sh") {
        return;
    }
    let (v, cluster) = cluster_state();
    let spec = &v.desired.ocfs2[&cluster];
    let dir = scratch();
    let file = write(dir.path(), "o2cb", &ocfs2::o2cb_defaults(&cluster, spec));
    let script = format!(
        ". '{}' && echo \"$O2CB_ENABLED $O2CB_STACK $O2CB_BOOTCLUSTER $O2CB_HEARTBEAT_THRESHOLD \
         $O2CB_IDLE_TIMEOUT_MS $O2CB_KEEPALIVE_DELAY_MS $O2CB_RECONNECT_DELAY_MS\"",
        file.display()
    );
    let out = run(Command::new(tool("sh")).args(["-c", &script])).expect_ok();
    let hb = &spec.heartbeat;
    assert_eq!(
        out.stdout,
        format!(
            "true o2cb {cluster} {} {} {} {}\n",
            hb.dead_threshold, hb.idle_timeout_ms, hb.keepalive_delay_ms, hb.reconnect_delay_ms
        )
    );
}

#[test]
fn the_stanza_parser_sees_differences() {
    // The comparisons above are only as good as this parser.
    let a = "cluster:\n\tname = x\n\nnode:\n\tname = a\n\tnumber = 0\n";
    let b = "node:\n\tnumber = 0\n\tname = a\ncluster:\n  name = x\n";
    let c = "cluster:\n\tname = x\n\nnode:\n\tname = a\n\tnumber = 1\n";
    assert_eq!(stanzas(a), stanzas(b));
    assert_ne!(stanzas(a), stanzas(c));
    assert_eq!(stanzas(a).len(), 2);
}
