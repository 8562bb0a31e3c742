#![allow(clippy::disallowed_methods)]
//! OCFS2 observed for real (ocfs2-tools 1.8.7, no cluster stack running): a loop device
//! formatted through `drivers::ocfs2::mkfs_ocfs2` with cluster-state/'s filesystem settings, and a
//! blank one, read back by `observe::observe_node` — label, cluster, "Not mounted", the `blkid`
//! signature, and "blank" for the blank device. And the rendered `/etc/ocfs2/cluster.conf` read
//! back by observation as the same cluster and nodes: bind-mounted over `/etc/ocfs2` in a private
//! mount namespace (`unshare --mount`), so the host's `/etc/ocfs2` is never written.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{load_state, repo_root, require_tool, scratch, skip_or_fail, write, LoopDev};
use xenflux::drivers::ocfs2;
use xenflux::model::Name;
use xenflux::observe::{observe_node, NodeState, Ocfs2State, Part, Probe};
use xenflux::render::{self, ocfs2::CLUSTER_CONF_PATH};
use xenflux::transport::{Cmd, Local, Output, Transport};
use xenflux::validate::Validated;

fn exec(t: &Local, argv: Vec<String>) -> Output {
    t.run_batch("node", &[Cmd::new(argv)])
        .expect("Local never fails as a transport")
        .pop()
        .expect("one output per command")
}

fn ocfs2_part(s: &NodeState) -> &Ocfs2State {
    match &s.ocfs2 {
        Part::Known(o) => o,
        Part::Unknown(u) => panic!("ocfs2 unknown: {u:?}"),
    }
}

fn cluster_state() -> (Validated, Name) {
    let v = load_state(&repo_root().join("cluster-state"));
    let name = v
        .desired
        .ocfs2
        .keys()
        .next()
        .expect("cluster-state/ has an Ocfs2Cluster")
        .clone();
    (v, name)
}

#[test]
fn a_formatted_and_a_blank_loop_device_are_observed() {
    if !["mkfs.ocfs2", "mounted.ocfs2", "blkid"]
        .iter()
        .all(|t| require_tool(t))
    {
        return;
    }
    let (v, cluster) = cluster_state();
    let fs = &v.desired.ocfs2[&cluster].filesystems[0];
    assert_eq!((fs.label.as_str(), fs.slots), ("/OVS", 4));
    let Some(dev) = LoopDev::new("ocfs2", 512 << 20) else {
        return;
    };
    let Some(blank) = LoopDev::new("blank", 16 << 20) else {
        return;
    };
    let t = Local::new();
    let probe = Probe {
        devices: vec![dev.path.clone(), blank.path.clone()],
        cluster_view: true,
        ..Default::default()
    };

    // Blank, both: nothing to report, and known to be nothing.
    let before = observe_node(&t, "node", &probe);
    assert!(!ocfs2_part(&before).devices.contains_key(&dev.path));
    for d in [&dev.path, &blank.path] {
        assert_eq!(before.filesystems[d], Part::Known(None), "{d}");
    }

    let argv = ocfs2::mkfs_ocfs2(&dev.path, fs.slots, &fs.label, cluster.as_str());
    assert_eq!(
        argv[1..argv.len() - 1].join(" "),
        "-N 4 -L /OVS --cluster-stack=o2cb --cluster-name=ovscluster"
    );
    let made = exec(&t, argv.clone());
    assert!(made.success(), "{}\n{}", made.describe(), made.stdout);

    let state = observe_node(&t, "node", &probe);
    let o = ocfs2_part(&state);
    let d = o
        .devices
        .get(&dev.path)
        .unwrap_or_else(|| panic!("{} not in {:?}", dev.path, o.devices));
    assert_eq!(d.label.as_deref(), Some("/OVS"));
    assert_eq!(d.cluster.as_deref(), Some("ovscluster"));
    assert_eq!(d.mounted_on, Some(Vec::new()), "Not mounted");
    assert!(
        d.uuid
            .as_ref()
            .is_some_and(|u| u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit())),
        "{d:?}"
    );
    assert!(!o.devices.contains_key(&blank.path), "{:?}", o.devices);
    assert!(
        !o.mounts.values().any(|(src, _)| src == &dev.path),
        "{:?}",
        o.mounts
    );
    assert_eq!(
        state.filesystems[&dev.path],
        Part::Known(Some("ocfs2".into()))
    );
    assert_eq!(state.filesystems[&blank.path], Part::Known(None));

    // mounted.ocfs2 and blkid name the same filesystem (one in capitals without dashes).
    let blkid = exec(&t, ocfs2::blkid_export(&dev.path));
    let entry = ocfs2::blkid_result(&blkid.stdout, blkid.status.unwrap_or(-1))
        .expect("blkid output parses")
        .expect("a signature");
    assert_eq!(entry.get("LABEL"), Some("/OVS"));
    assert_eq!(
        entry.get("UUID").map(|u| u.replace('-', "").to_uppercase()),
        d.uuid.clone()
    );

    // The slot count, as import reads it: from the superblock, without a cluster stack.
    let q = exec(&t, ocfs2::tunefs_query_slots(&dev.path));
    assert!(q.success(), "{}", q.describe());
    assert_eq!(ocfs2::parse_slots(&q.stdout), Ok(4), "{:?}", q.stdout);
    let q = exec(&t, ocfs2::tunefs_query_slots(&blank.path));
    assert!(
        !q.success(),
        "a blank device has no slot count: {:?}",
        q.stdout
    );

    // Formatting again without -F is refused (no cluster stack here), and changes nothing.
    let again = exec(&t, argv);
    assert_eq!(again.status, Some(1), "{}", again.stdout);
    assert!(
        again
            .stderr
            .contains("Unable to access cluster service while initializing the cluster"),
        "{}",
        again.stderr
    );
    let after = observe_node(&t, "node", &probe);
    assert_eq!(ocfs2_part(&after).devices[&dev.path], *d);
}

/// A transport whose every command sees `dir` as `/etc/ocfs2` (a bind mount in a private mount
/// namespace of its own).
fn with_etc_ocfs2(dir: &Path) -> Local {
    Local {
        prefix: vec![
            "unshare".into(),
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            r#"mount --bind "$0" /etc/ocfs2 && exec "$@""#.into(),
            dir.display().to_string(),
        ],
        env: Vec::new(),
    }
}

fn expected_nodes() -> BTreeMap<String, (u32, String, u16)> {
    BTreeMap::from([
        ("dom0".to_string(), (0, "192.168.1.190".to_string(), 7777)),
        ("dom0m".to_string(), (1, "192.168.1.191".to_string(), 7777)),
    ])
}

#[test]
fn the_rendered_cluster_conf_parses_back_to_the_cluster() {
    let (v, cluster) = cluster_state();
    let r = render::render(&v.desired, &v.allocation);
    for node in ["dom0", "dom0m"] {
        let node: Name = node.parse().expect("name");
        let text = &r.nodes[&node][CLUSTER_CONF_PATH];
        let c = ocfs2::parse_cluster_conf(text).expect("our cluster.conf parses");
        assert_eq!(c.clusters.len(), 1, "{c:?}");
        assert_eq!(c.clusters[0].name, cluster.as_str());
        assert_eq!(c.clusters[0].node_count, Some(2));
        assert_eq!(c.clusters[0].heartbeat_mode.as_deref(), Some("local"));
        let nodes: BTreeMap<String, (u32, String, u16)> = c
            .nodes
            .iter()
            .inspect(|n| assert_eq!(n.cluster, "ovscluster"))
            .map(|n| (n.name.clone(), (n.number, n.ip_address.clone(), n.ip_port)))
            .collect();
        assert_eq!(nodes, expected_nodes());
        assert!(c.heartbeats.is_empty() && c.unknown.is_empty(), "{c:?}");
    }
}

#[test]
fn observation_reads_the_rendered_cluster_conf_from_etc_ocfs2() {
    if !require_tool("unshare") || !require_tool("mounted.ocfs2") {
        return;
    }
    if !Path::new("/etc/ocfs2").is_dir() {
        skip_or_fail("/etc/ocfs2 is missing (ocfs2-tools ships it)");
        return;
    }
    let (v, _) = cluster_state();
    let r = render::render(&v.desired, &v.allocation);
    let dir = scratch();
    let text = &r.nodes[&"dom0".parse::<Name>().expect("name")][CLUSTER_CONF_PATH];
    write(dir.path(), "cluster.conf", text);
    let t = with_etc_ocfs2(dir.path());
    let probe = Probe {
        files: vec![CLUSTER_CONF_PATH.into()],
        ..Default::default()
    };
    let state = observe_node(&t, "dom0", &probe);
    if let Some(Part::Unknown(u)) = state.files.get(CLUSTER_CONF_PATH) {
        if u.stderr.contains("unshare") || u.stderr.contains("mount") {
            skip_or_fail(&format!("no private mount namespace here: {}", u.stderr));
            return;
        }
    }
    assert_eq!(
        state.files[CLUSTER_CONF_PATH],
        Part::Known(Some(text.clone())),
        "the batch saw the rendered file"
    );
    let o = ocfs2_part(&state);
    assert_eq!(
        o.clusters,
        BTreeMap::from([("ovscluster".to_string(), expected_nodes())])
    );

    // The host's /etc/ocfs2 was left alone.
    let host = std::fs::read_to_string(CLUSTER_CONF_PATH).ok();
    assert_ne!(host.as_deref(), Some(text.as_str()));
}
