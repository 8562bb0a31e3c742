#![allow(clippy::disallowed_methods)] // one test runs the xenflux binary to check its argument parsing
//! Hostile or careless input in the desired state: each test writes the bad value into the
//! example `cluster-state/` (or a small state), validates, and checks that the error names file,
//! line and field — and that nothing panics or grows without bound.

mod edits;

use edits::{changed, errors, example, ok, with_file};
use xenflux::diag::Diagnostic;
use xenflux::load::Source;

/// The one error whose message contains `needle`; also checks file, line and field.
fn the<'a>(
    errs: &'a [Diagnostic],
    needle: &str,
    file: &str,
    line: usize,
    field: &str,
) -> &'a Diagnostic {
    let hits: Vec<&Diagnostic> = errs.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one error containing {needle:?}, got: {errs:#?}"
    );
    let e = hits[0];
    assert!(e.file.ends_with(file), "{e}");
    assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
    e
}

// --- YAML structure -------------------------------------------------------------------------

#[test]
fn deep_block_and_flow_nesting_is_an_error_not_a_stack_overflow() {
    for (name, text) in [
        ("block.yaml", "- ".repeat(5000)),
        ("flow.yaml", "[".repeat(20_000)),
        ("map.yaml", "{".repeat(20_000)),
    ] {
        let errs = errors(&with_file(example(), name, &text));
        assert!(
            errs.iter().any(|e| e.file == name
                && e.line == 1
                && (e.message.contains("nested more than 64")
                    || e.message.contains("recursion limit"))),
            "{name}: {errs:#?}"
        );
    }
}

#[test]
fn alias_expansion_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errs = errors(&with_file(example(), "bomb.yaml", &text));
    assert!(
        errs.iter()
            .any(|e| e.file == "bomb.yaml" && e.message.contains("aliases expanded")),
        "{errs:#?}"
    );
}

#[test]
fn control_characters_are_refused_in_every_string() {
    for (from, to, line, field) in [
        (
            "extra: console=hvc0",
            "extra: \"console=hvc0\\e[2K\"",
            41,
            "spec.extra",
        ),
        (
            "kernel: /boot/vmlinuz-xen",
            "kernel: \"/boot/vmlinuz-xen\\0\"",
            38,
            "spec.kernel",
        ),
        (
            "bootloader: pygrub",
            "bootloader: \"pygrub\\r\"",
            10,
            "spec.bootloader",
        ),
        (
            "bootloader: pygrub",
            "bootloader: \"py\\u202egrub\"",
            10,
            "spec.bootloader",
        ),
    ] {
        let errs = errors(&changed("domains.yaml", from, to));
        the(&errs, "U+", "domains.yaml", line, field);
    }
    let errs = errors(&changed("ocfs2.yaml", "label: /OVS", "label: \"/OVS\\t\""));
    the(
        &errs,
        "U+0009",
        "ocfs2.yaml",
        13,
        "spec.filesystems[0].label",
    );
}

#[test]
fn a_byte_order_mark_is_skipped_silently() {
    let mut sources = example();
    for s in &mut sources {
        s.text.insert(0, '\u{feff}');
    }
    let v = ok(&sources);
    assert!(v.warnings.is_empty());
}

// --- names that collide with LVs xenflux uses ------------------------------------------------

#[test]
fn volume_names_may_not_collide_with_xenflux_or_lvm_volumes() {
    let errs = errors(&changed("volumes.yaml", "name: dns", "name: meta"));
    the(
        &errs,
        "dom0's metaVolume",
        "volumes.yaml",
        6,
        "metadata.name",
    );
    the(
        &errs,
        "dom0m's metaVolume",
        "volumes.yaml",
        6,
        "metadata.name",
    );
    // a custom metaVolume counts the same
    let errs = errors(&changed(
        "nodes.yaml",
        "metaVolume: meta\n  memory: 16GiB\n---",
        "metaVolume: dns\n  memory: 16GiB\n---",
    ));
    the(
        &errs,
        "dom0's metaVolume",
        "volumes.yaml",
        6,
        "metadata.name",
    );
    let errs = errors(&changed("volumes.yaml", "name: dns", "name: data-md"));
    the(
        &errs,
        "flexible meta-data LVs",
        "volumes.yaml",
        6,
        "metadata.name",
    );
    for reserved in ["snapshot1", "pvmove0"] {
        let errs = errors(&changed(
            "volumes.yaml",
            "name: dns",
            &format!("name: {reserved}"),
        ));
        the(&errs, "LVM reserves", "volumes.yaml", 6, "metadata.name");
    }
}

#[test]
fn a_meta_volume_is_a_valid_lv_name_of_its_own() {
    for bad in ["snapshot", "pvmove", "m_tmeta", "x_rimage_0", "-meta"] {
        let errs = errors(&changed(
            "nodes.yaml",
            "metaVolume: meta",
            &format!("metaVolume: \"{bad}\""),
        ));
        assert!(
            errs.iter().any(|e| e.file.ends_with("nodes.yaml")
                && e.line == 10
                && e.field == "spec.metaVolume"),
            "{bad}: {errs:#?}"
        );
        // The one mistake is reported once, not again by every reference to the node.
        assert_eq!(errs.len(), 1, "{bad}: {errs:#?}");
    }
    let errs = errors(&changed(
        "nodes.yaml",
        "metaVolume: meta",
        "metaVolume: dns-md",
    ));
    the(
        &errs,
        "flexible meta-data LV name of volume `dns`",
        "nodes.yaml",
        10,
        "spec.metaVolume",
    );
}

// --- mountpoints ------------------------------------------------------------------------------

#[test]
fn mountpoints_stay_off_system_directories_and_are_normalised() {
    for bad in [
        "/etc",
        "/",
        "/proc",
        "/OVS/../etc",
        "/usr/local",
        "/var",
        "//OVS",
        "OVS",
        "/OVS/./x",
        "/run/ovs",
    ] {
        let errs = errors(&changed(
            "ocfs2.yaml",
            "mountpoint: /OVS",
            &format!("mountpoint: \"{bad}\""),
        ));
        the(
            &errs,
            "invalid mountpoint",
            "ocfs2.yaml",
            13,
            "spec.filesystems[0].mountpoint",
        );
    }
    let v = ok(&changed(
        "ocfs2.yaml",
        "mountpoint: /OVS",
        "mountpoint: /OVS/",
    ));
    let fs = &v.desired.ocfs2.values().next().unwrap().filesystems[0];
    assert_eq!(
        fs.mountpoint.as_str(),
        "/OVS",
        "the kernel reports /OVS: a trailing slash never converges"
    );
    ok(&changed(
        "ocfs2.yaml",
        "mountpoint: /OVS",
        "mountpoint: /var/lib/xen/images",
    ));
}

const SECOND_OCFS2_VOLUME: &str = "apiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: ovs2}\nspec: {size: 8GiB, nodes: [dom0, dom0m], dualPrimary: true, filesystem: ocfs2}\n";

#[test]
fn two_filesystems_never_share_or_nest_mountpoints_on_a_node() {
    for (second, needle) in [
        ("/OVS/", "is also filesystem `ovs`'s"),
        (
            "/OVS/images",
            "lies inside filesystem `ovs`'s mountpoint /OVS",
        ),
    ] {
        let sources = changed(
            "ocfs2.yaml",
            "mountpoint: /OVS}",
            &format!("mountpoint: /OVS}}\n    - {{name: ovs2, volume: ovs2, label: two, slots: 4, mountpoint: {second}}}"),
        );
        let errs = errors(&with_file(sources, "ovs2.yaml", SECOND_OCFS2_VOLUME));
        the(
            &errs,
            needle,
            "ocfs2.yaml",
            14,
            "spec.filesystems[1].mountpoint",
        );
        assert_eq!(errs.len(), 1, "one error for the pair: {errs:#?}");
    }
    let sources = changed(
        "ocfs2.yaml",
        "mountpoint: /OVS}",
        "mountpoint: /OVS}\n    - {name: ovs2, volume: ovs2, label: two, slots: 4, mountpoint: /OVS2}",
    );
    ok(&with_file(sources, "ovs2.yaml", SECOND_OCFS2_VOLUME));
}

// --- numbers, sizes, durations, rates ---------------------------------------------------------

#[test]
fn numbers_from_the_state_are_bounded_before_anything_is_sized_by_them() {
    let started = std::time::Instant::now();
    let errs = errors(&changed(
        "cluster.yaml",
        "maxMinors: 255",
        "maxMinors: 4294967295",
    ));
    the(
        &errs,
        "must be 1 to 255",
        "cluster.yaml",
        10,
        "spec.drbd.maxMinors",
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "the allocator sized something by maxMinors"
    );

    let cases: &[(&str, &str, &str, &str, usize, &str)] = &[
        (
            "volumes.yaml",
            "size: 10GiB",
            "size: 10GiB\n  metaIndex: 4294967295",
            "slot 4294967295 is outside 0-254",
            9,
            "spec.metaIndex",
        ),
        (
            "volumes.yaml",
            "size: 10GiB",
            "size: 10GiB\n  metaIndex: 255",
            "slot 255 is outside",
            9,
            "spec.metaIndex",
        ),
        (
            "volumes.yaml",
            "size: 10GiB",
            "size: 10GiB\n  minor: 1048576",
            "minor 1048576 is outside",
            9,
            "spec.minor",
        ),
        (
            "volumes.yaml",
            "size: 10GiB",
            "size: 10GiB\n  port: 0",
            "port 0",
            9,
            "spec.port",
        ),
        (
            "volumes.yaml",
            "size: 10GiB",
            "size: 2PiB\n  meta: flexible",
            "larger than the limit of 1PiB",
            8,
            "spec.size",
        ),
        (
            "domains.yaml",
            "memory: 512MiB",
            "memory: 17TiB",
            "more than the limit of 16TiB",
            8,
            "spec.memory",
        ),
        (
            "domains.yaml",
            "vcpus: 1",
            "vcpus: 4294967295",
            "must be 1 to 512",
            9,
            "spec.vcpus",
        ),
        (
            "nodes.yaml",
            "memory: 16GiB",
            "memory: 16PiB",
            "at most 16TiB",
            11,
            "spec.memory",
        ),
        (
            "ocfs2.yaml",
            "port: 7777",
            "port: 0",
            "must be 1 to 65535",
            7,
            "spec.port",
        ),
        (
            "ocfs2.yaml",
            "deadThreshold: 31",
            "deadThreshold: 4294967295",
            "above the limit of 300",
            11,
            "spec.heartbeat.deadThreshold",
        ),
        (
            "ocfs2.yaml",
            "reconnectDelayMs: 2000",
            "reconnectDelayMs: 4294967295",
            "above the limit",
            11,
            "spec.heartbeat.reconnectDelayMs",
        ),
        (
            "network.yaml",
            "miimon: 100",
            "miimon: 4294967295",
            "at most 60000",
            11,
            "spec.miimon",
        ),
        (
            "cluster.yaml",
            "interval: 5m",
            "interval: 18446744073709551615s",
            "at most 7 days",
            16,
            "spec.reconcile.interval",
        ),
        (
            "cluster.yaml",
            "interval: 5m",
            "interval: 5124095576030432h",
            "at most 7 days",
            16,
            "spec.reconcile.interval",
        ),
        (
            "cluster.yaml",
            "interval: 5m",
            "interval: 0s",
            "invalid duration",
            16,
            "spec.reconcile.interval",
        ),
        (
            "cluster.yaml",
            "syncRate: 40M",
            "syncRate: 18446744073709551615G",
            "largest rate",
            13,
            "spec.drbd.syncRate",
        ),
        (
            "volumes.yaml",
            "syncRate: 60M",
            "syncRate: 4097M",
            "largest rate",
            26,
            "spec.syncRate",
        ),
    ];
    for (file, from, to, needle, line, field) in cases {
        let errs = errors(&changed(file, from, to));
        the(&errs, needle, file, *line, field);
    }
    ok(&changed("cluster.yaml", "interval: 5m", "interval: 168h"));
    ok(&changed("cluster.yaml", "syncRate: 40M", "syncRate: 4G"));
}

#[test]
fn serve_refuses_an_interval_it_cannot_keep() {
    for bad in ["18446744073709551615s", "5124095576030432h", "8d", "0s"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .args(["serve", "--interval", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("invalid duration"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

// --- interface names --------------------------------------------------------------------------

#[test]
fn interface_names_are_never_iproute2_keywords() {
    for kw in [
        "up", "help", "mtu", "master", "dev", "name", "type", "all", "default", "he",
    ] {
        let errs = errors(&changed(
            "network.yaml",
            "name: bond0",
            &format!("name: {kw}"),
        ));
        the(
            &errs,
            "`ip link` reads it as",
            "network.yaml",
            6,
            "metadata.name",
        );
    }
    let errs = errors(&changed("network.yaml", "name: xenbr0", "name: down"));
    the(&errs, "keyword `down`", "network.yaml", 16, "metadata.name");
    let errs = errors(&changed(
        "network.yaml",
        "name: xenbr0",
        "name: xenbr01234567890",
    ));
    the(&errs, "1 to 15", "network.yaml", 16, "metadata.name");
    let errs = errors(&changed(
        "network.yaml",
        "slaves: [eth0, eth1]",
        "slaves: [eth0, mtu]",
    ));
    the(&errs, "keyword `mtu`", "network.yaml", 9, "spec.slaves[1]");
    let errs = errors(&changed(
        "network.yaml",
        "ports: [bond0]",
        "ports: [bond0, master]\n  stp: true",
    ));
    assert!(
        errs.iter()
            .any(|e| e.field == "spec.ports[1]" && e.message.contains("keyword `master`")),
        "{errs:#?}"
    );
    let errs = errors(&changed(
        "domains.yaml",
        "- {bridge: xenbr0}",
        "- {bridge: nomaster}",
    ));
    the(
        &errs,
        "keyword `nomaster`",
        "domains.yaml",
        14,
        "spec.nics[0].bridge",
    );
    // The loopback device is no slave or port: `ip link set lo down` would come first.
    let errs = errors(&changed(
        "network.yaml",
        "slaves: [eth0, eth1]",
        "slaves: [eth0, lo]",
    ));
    the(&errs, "loopback", "network.yaml", 9, "spec.slaves[1]");
    let errs = errors(&changed("network.yaml", "ports: [bond0]", "ports: [lo]"));
    the(&errs, "loopback", "network.yaml", 18, "spec.ports[0]");
    // a keyword only in combination is fine
    let mut s = changed("network.yaml", "name: bond0", "name: uplink0");
    s = s
        .into_iter()
        .map(|mut f| {
            f.text = f.text.replace("ports: [bond0]", "ports: [uplink0]");
            f
        })
        .collect();
    ok(&s);
}

// --- ssh targets, fence, mount options ---------------------------------------------------------

#[test]
fn ssh_targets_can_never_become_ssh_options() {
    let cases = [
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: \"-oProxyCommand=touch /tmp/x\", user: root}",
            "spec.ssh.host",
        ),
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: \"a..b\", user: root}",
            "spec.ssh.host",
        ),
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: \"\", user: root}",
            "spec.ssh.host",
        ),
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: 192.168.1.190, user: \"-oProxyCommand=x\"}",
            "spec.ssh.user",
        ),
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: 192.168.1.190, user: \"Root\"}",
            "spec.ssh.user",
        ),
        (
            "ssh: {host: 192.168.1.190, user: root}",
            "ssh: {host: 192.168.1.190, user: root, port: 0}",
            "spec.ssh.port",
        ),
    ];
    for (from, to, field) in cases {
        let errs = errors(&changed("nodes.yaml", from, to));
        assert!(
            errs.iter()
                .any(|e| e.file.ends_with("nodes.yaml") && e.line == 8 && e.field == field),
            "{to}: {errs:#?}"
        );
    }
    ok(&changed(
        "nodes.yaml",
        "host: 192.168.1.190",
        "host: dom0.example.net",
    ));
    ok(&changed(
        "nodes.yaml",
        "host: 192.168.1.190",
        "host: \"fe80::1\"",
    ));
    let errs = errors(&changed(
        "nodes.yaml",
        "address: 192.168.1.190",
        "address: dom0.example.net",
    ));
    assert!(
        errs.iter()
            .any(|e| e.field == "spec.address" && e.line == 7),
        "{errs:#?}"
    );
}

#[test]
fn the_shell_script_ends_ssh_options_before_the_destination() {
    let v = ok(&example());
    let mut desired = v.desired.clone();
    for n in desired.nodes.values_mut() {
        n.ssh.as_mut().unwrap().host = "-oProxyCommand=touch /tmp/x".into();
    }
    let plan = xenflux::plan::Plan {
        cluster: "xg".into(),
        target: None,
        observed: String::new(),
        allocation: v.allocation.clone(),
        stages: Vec::new(),
        files: Vec::new(),
        blocked: Vec::new(),
        warnings: Vec::new(),
    };
    let sh = xenflux::report::shell(&plan, &desired);
    assert!(sh.contains("ssh $opts -- \"$target\" \"$cmd\""), "{sh}");
}

#[test]
fn fence_is_an_argv_list_or_a_mapping_and_ha_has_defaults() {
    let with = |fence: &str| {
        changed(
            "nodes.yaml",
            "metaVolume: meta\n  memory: 16GiB\n---",
            &format!("metaVolume: meta\n  memory: 16GiB\n  fence: {fence}\n---"),
        )
    };
    ok(&with("[ipmitool, -H, dom0-ipmi, chassis, power, off]"));
    ok(&with(
        "{command: [/usr/bin/ipmitool, chassis, power, off], status: [fence-status, dom0], timeout: 1s}",
    ));
    let v = ok(&changed(
        "cluster.yaml",
        "mode: enforce",
        "mode: enforce\n  ha: {enabled: true, deadAfter: 1h, failback: auto}",
    ));
    let warned: Vec<String> = v.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("Node/dom0m") && w.contains("ha.enabled, but no fence is declared")),
        "{warned:#?}"
    );
}

#[test]
fn fence_and_ha_errors_name_file_line_and_field() {
    let fence = |fence: &str| {
        changed(
            "nodes.yaml",
            "metaVolume: meta\n  memory: 16GiB\n---",
            &format!("metaVolume: meta\n  memory: 16GiB\n  fence: {fence}\n---"),
        )
    };
    let cases: Vec<(Vec<Source>, &str, &str, usize, &str)> = vec![
        (
            fence("[]"),
            "must be 1 to 64 words",
            "nodes.yaml",
            12,
            "spec.fence.command",
        ),
        (
            fence("[bin/ipmitool, off]"),
            "must be an absolute path or a plain program name",
            "nodes.yaml",
            12,
            "spec.fence.command[0]",
        ),
        (
            fence("[-oProxyCommand=x]"),
            "must be an absolute path or a plain program name",
            "nodes.yaml",
            12,
            "spec.fence.command[0]",
        ),
        (
            fence("{command: [ipmitool], timeout: 11m}"),
            "must be 1s to 10m",
            "nodes.yaml",
            12,
            "spec.fence.timeout",
        ),
        (
            fence("{command: [ipmitool], status: [\"\"]}"),
            "must be an absolute path or a plain program name",
            "nodes.yaml",
            12,
            "spec.fence.status[0]",
        ),
        (
            fence("{command: [ipmitool], statuss: [x]}"),
            "unknown field `statuss`",
            "nodes.yaml",
            12,
            "spec.fence.statuss",
        ),
        (
            fence(&format!("[ipmitool, {}]", "x".repeat(1025))),
            "at most 1024 bytes",
            "nodes.yaml",
            12,
            "spec.fence.command[1]",
        ),
        (
            changed(
                "cluster.yaml",
                "mode: enforce",
                "mode: enforce\n  ha: {enabled: true, deadAfter: 2s}",
            ),
            "must be 5s to 1h",
            "cluster.yaml",
            18,
            "spec.ha.deadAfter",
        ),
        (
            changed(
                "cluster.yaml",
                "mode: enforce",
                "mode: enforce\n  ha: {failback: sometimes}",
            ),
            "unknown variant `sometimes`",
            "cluster.yaml",
            18,
            "spec.ha.failback",
        ),
    ];
    for (src, needle, file, line, field) in &cases {
        let errs = errors(src);
        the(&errs, needle, file, *line, field);
    }
    let many = fence(&format!("[{}]", vec!["x"; 65].join(", ")));
    the(
        &errors(&many),
        "must be 1 to 64 words",
        "nodes.yaml",
        12,
        "spec.fence.command",
    );
}

#[test]
fn mount_options_are_words_that_never_change_the_mount() {
    for bad in [
        "remount",
        "ro,bind",
        "rbind",
        "move",
        "-oremount",
        "a b",
        "x;reboot",
    ] {
        let errs = errors(&changed(
            "ocfs2.yaml",
            "mountpoint: /OVS}",
            &format!("mountpoint: /OVS, mountOptions: \"{bad}\"}}"),
        ));
        assert!(
            errs.iter()
                .any(|e| e.line == 13 && e.field == "spec.filesystems[0].mountOptions"),
            "{bad}: {errs:#?}"
        );
    }
}

#[test]
fn mount_options_reach_mount_and_converge() {
    use xenflux::reconcile::{approve, plan_for, snapshot, ApplyCtx, Intent};
    use xenflux::sim::{SimCluster, SimOptions};
    let src = changed(
        "ocfs2.yaml",
        "mountpoint: /OVS}",
        "mountpoint: /OVS/, mountOptions: \"noatime,_netdev\"}",
    );
    let v = ok(&src);
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    let mut saw_mount = false;
    for _ in 0..4 {
        let s = snapshot(&src, &sim).unwrap();
        let plan = plan_for(&s, false).unwrap();
        if plan.is_empty() {
            assert!(saw_mount, "the filesystem was never mounted");
            return;
        }
        let sh = xenflux::report::shell(&plan, &s.validated.desired);
        saw_mount |= sh.contains("mount -t ocfs2 -o noatime,_netdev /dev/drbd");
        let dir = tempfile::tempdir().unwrap();
        let lock = xenflux::exec::Lock::acquire(dir.path()).unwrap();
        let approved = approve(&lock, &s, false, Intent::Fresh).unwrap();
        let ctx = ApplyCtx {
            settle: None,
            journal: false,
            ..ApplyCtx::new(&src, &sim)
        };
        let applied = xenflux::reconcile::apply(approved, &ctx, &mut |_| {});
        assert!(applied.complete(), "{:?}", applied.failed);
    }
    panic!("mount options keep the plan from converging");
}

#[test]
fn addresses_peers_reach_are_one_hosts_unicast_address() {
    // DRBD peers connect to a node's replication address, o2cb to its node address, and a
    // bridge address or gateway is a host's: 0.0.0.0 made each node connect to itself.
    let cases = [
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: 0.0.0.0",
            7,
            "spec.address",
        ),
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: \"::\"",
            7,
            "spec.address",
        ),
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: 127.0.0.1",
            7,
            "spec.address",
        ),
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: \"::1\"",
            7,
            "spec.address",
        ),
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: 224.0.0.1",
            7,
            "spec.address",
        ),
        (
            "nodes.yaml",
            "address: 192.168.1.190",
            "address: 255.255.255.255",
            7,
            "spec.address",
        ),
        (
            "ocfs2.yaml",
            "address: 192.168.1.191}",
            "address: 0.0.0.0}",
            10,
            "spec.nodes[1].address",
        ),
        (
            "network.yaml",
            "dom0: 192.168.1.190/24",
            "dom0: 127.0.0.2/8",
            22,
            "spec.addresses.dom0",
        ),
        (
            "network.yaml",
            "dom0: 192.168.1.1\n",
            "dom0: 0.0.0.0\n",
            25,
            "spec.gateways.dom0",
        ),
    ];
    for (file, from, to, line, field) in cases {
        let errs = errors(&changed(file, from, to));
        assert!(
            errs.iter().any(|e| e.file.ends_with(file)
                && e.line == line
                && e.field == field
                && e.message.contains("address")),
            "{to}: {errs:#?}"
        );
    }
}
