#![allow(clippy::disallowed_methods)]
//! Mirroring a real node into the simulator (`sim::mirror`, behind `xenflux sim exec`): real LVs
//! replace the simulated ones while what the simulator knows they hold is kept, the files the
//! simulated tools read come from the real node, and so do the addresses that `drbdadm up`
//! checks — the simulator still refuses what a real node would. Then the shim script's routing,
//! with stand-ins for xenflux and the real tools (no root needed).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use xenflux::load::Source;
use xenflux::sim::mirror::{RealLink, RealLinkKind, RealLv, RealNode, RealVg};
use xenflux::sim::{SimCluster, SimOptions};
use xenflux::transport::{Cmd, Output};

const MIB: u64 = 1 << 20;

const STATE: &str = "apiVersion: xenflux/v1
kind: Node
metadata: {name: n1}
spec: {address: 10.1.0.1, volumeGroup: vg1}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: n2}
spec: {address: 10.1.0.2, volumeGroup: vg2}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: data}
spec: {size: 64MiB, nodes: [n1, n2], filesystem: none}
";

fn lv(name: &str, size: u64, tags: &[&str]) -> RealLv {
    RealLv {
        name: name.into(),
        size_bytes: size,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// A real node as `sim exec` would read it: its VG with `lvs`, `addr` on eth0, and the files
/// xenflux rendered for it.
fn real(vg: &str, lvs: Vec<RealLv>, addr: &str, files: BTreeMap<String, String>) -> RealNode {
    RealNode {
        vg: Some(RealVg {
            name: vg.into(),
            size_bytes: 1024 * MIB,
            extent_size_bytes: 4 * MIB,
            tags: Vec::new(),
        }),
        lvs,
        files,
        links: vec![
            RealLink {
                name: "lo".into(),
                ifindex: 1,
                kind: RealLinkKind::Loopback,
                up: true,
                master: None,
                mac: "00:00:00:00:00:00".into(),
                addrs: vec!["127.0.0.1/8".into()],
            },
            RealLink {
                name: "eth0".into(),
                ifindex: 7,
                kind: RealLinkKind::Ether,
                up: true,
                master: None,
                mac: "aa:bb:cc:00:00:01".into(),
                addrs: vec![addr.into()],
            },
        ],
    }
}

fn run(sim: &SimCluster, node: &str, argv: &[&str]) -> Output {
    sim.run(node, &Cmd::new(argv.iter().copied()))
        .expect("the node is up")
}

#[test]
fn the_real_node_replaces_lvs_files_and_addresses_and_refusals_stay() {
    let sources = vec![Source {
        path: "state.yaml".into(),
        text: STATE.into(),
    }];
    let v = common::validate_sources(&sources, "the mirror state");
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    let files = |node: &str| -> BTreeMap<String, String> {
        let name = v.desired.nodes.keys().find(|n| n.as_str() == node).unwrap();
        xenflux::render::render_node(&v.desired, &v.allocation, name)
            .into_iter()
            .filter(|(p, _)| xenflux::sim::mirror::is_mirrored(p))
            .chain([(
                "/etc/drbd.conf".to_string(),
                "include \"drbd.d/*.res\";\n".to_string(),
            )])
            .collect()
    };
    let lvs = || {
        vec![
            lv("meta", 128 * MIB, &["xenflux"]),
            lv("data", 64 * MIB, &["xenflux"]),
        ]
    };

    // Before mirroring, the simulated node has no configuration for the resource.
    assert_ne!(
        run(&sim, "n1", &["drbdadm", "create-md", "data"]).status,
        Some(0)
    );
    sim.mirror("n1", &real("vg1", lvs(), "10.1.0.1/24", files("n1")))
        .unwrap();
    let view = sim.node("n1").unwrap();
    assert_eq!(view.vg_size, 1024 * MIB);
    assert_eq!(view.lvs["data"].size, 64 * MIB);
    assert!(view.lvs["data"].tags.contains("xenflux"));
    assert!(view.files.contains_key("/etc/drbd.d/data.res"));
    assert_eq!(view.links["eth0"].kind, "ether");
    assert_eq!(
        run(&sim, "n1", &["drbdadm", "create-md", "data"]).status,
        Some(0)
    );
    assert_eq!(run(&sim, "n1", &["drbdadm", "up", "data"]).status, Some(0));

    // Mirrored again (a real lvextend happened): the meta-data the simulator wrote is kept.
    sim.mirror(
        "n1",
        &real(
            "vg1",
            vec![
                lv("meta", 128 * MIB, &["xenflux", "xenflux-md"]),
                lv("data", 96 * MIB, &[]),
            ],
            "10.1.0.1/24",
            files("n1"),
        ),
    )
    .unwrap();
    let view = sim.node("n1").unwrap();
    assert_eq!(view.lvs["data"].size, 96 * MIB);
    assert_eq!(
        view.lvs["meta"].meta.get("0").map(String::as_str),
        Some("data")
    );
    assert!(view.lvs["meta"].tags.contains("xenflux-md"));

    // n2 without its replication address for real: drbdadm refuses, as on a real host.
    sim.mirror("n2", &real("vg2", lvs(), "10.9.9.9/24", files("n2")))
        .unwrap();
    let o = run(&sim, "n2", &["drbdadm", "up", "data"]);
    assert_eq!(o.status, Some(10), "{o:?}");
    assert!(
        o.stderr.contains("IP 10.1.0.2 not found on this host"),
        "{o:?}"
    );

    // A file gone for real is gone from the simulator; an LV gone for real too.
    sim.mirror(
        "n2",
        &real(
            "vg2",
            vec![lv("meta", 128 * MIB, &[])],
            "10.1.0.2/24",
            BTreeMap::new(),
        ),
    )
    .unwrap();
    let view = sim.node("n2").unwrap();
    assert!(!view.files.contains_key("/etc/drbd.d/data.res"));
    assert!(!view.lvs.contains_key("data"));
    let o = run(&sim, "n2", &["drbdadm", "up", "data"]);
    assert_ne!(o.status, Some(0), "no configuration, no resource: {o:?}");

    // A real VG that is not the simulated node's is refused, and nothing is mirrored.
    let e = sim
        .mirror("n2", &real("other", lvs(), "10.1.0.2/24", files("n2")))
        .unwrap_err();
    assert!(e.to_string().contains("`other`"), "{e}");
    assert!(!sim.node("n2").unwrap().lvs.contains_key("data"));
}

/// Runs the shim as `name` with stand-ins: `xenflux` and the "real" tools print their argv.
fn shim(dir: &Path, name: &str, args: &[&str]) -> String {
    let shims = dir.join("shims");
    let real = dir.join("real");
    let out = Command::new(shims.join(name))
        .args(args)
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", shims.display(), real.display()),
        )
        .env("XENFLUX_BIN", real.join("xenflux"))
        .env("XENFLUX_SIM", "/tmp/sim.json")
        .env("XENFLUX_SIM_NODE", "n1")
        .output()
        .expect("run the shim");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_shim_routes_simulated_tools_and_adds_lvm_words() {
    let dir = common::scratch();
    let shims = dir.path().join("shims");
    let real = dir.path().join("real");
    std::fs::create_dir_all(&shims).unwrap();
    std::fs::create_dir_all(&real).unwrap();
    let names = [
        "drbdadm", "xl", "cat", "blkid", "mount", "lvcreate", "lvextend", "ip",
    ];
    for n in names {
        std::os::unix::fs::symlink(common::hybrid::shim_script(), shims.join(n)).unwrap();
        let stand_in = common::write(&real, n, &format!("#!/bin/sh\necho real {n} \"$@\"\n"));
        make_executable(&stand_in);
    }
    let x = common::write(&real, "xenflux", "#!/bin/sh\necho xenflux \"$@\"\n");
    make_executable(&x);

    let sim = "xenflux sim exec --sim /tmp/sim.json --node n1 --";
    let d = dir.path();
    assert_eq!(
        shim(d, "drbdadm", &["up", "data"]),
        format!("{sim} drbdadm up data")
    );
    assert_eq!(shim(d, "xl", &["list", "-l"]), format!("{sim} xl list -l"));
    assert_eq!(
        shim(d, "cat", &["/proc/drbd"]),
        format!("{sim} cat /proc/drbd")
    );
    assert_eq!(
        shim(d, "cat", &["/sys/block/drbd3/size"]),
        format!("{sim} cat /sys/block/drbd3/size")
    );
    assert_eq!(shim(d, "cat", &["/etc/hostname"]), "real cat /etc/hostname");
    assert_eq!(
        shim(d, "blkid", &["-p", "/dev/drbd1"]),
        format!("{sim} blkid -p /dev/drbd1")
    );
    assert_eq!(
        shim(d, "blkid", &["-p", "/dev/loop0"]),
        "real blkid -p /dev/loop0"
    );
    assert_eq!(
        shim(d, "mount", &["-t", "ocfs2", "/dev/drbd4", "/OVS"]),
        format!("{sim} mount -t ocfs2 /dev/drbd4 /OVS")
    );
    assert_eq!(
        shim(d, "ip", &["-j", "link", "show"]),
        "real ip -j link show"
    );
    assert_eq!(
        shim(
            d,
            "lvcreate",
            &["--yes", "-Wy", "-Zy", "-L", "8b", "-n", "x", "vg"]
        ),
        "real lvcreate --driverloaded n -an -Zn --yes -Wy -L 8b -n x vg"
    );
    assert_eq!(
        shim(d, "lvextend", &["-L", "8b", "vg/x"]),
        "real lvextend --driverloaded n -L 8b vg/x"
    );
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
