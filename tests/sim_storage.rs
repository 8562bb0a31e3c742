//! Storage on the simulator: LVM and DRBD refuse what a real node refuses, with the real tools'
//! messages and exit statuses, and every invariant violation and destructive attempt is recorded.

mod simlab;

use xenflux::drivers::drbd::{self as drbdcmd, ConnState, DiskState};
use xenflux::drivers::{lvm, ocfs2};

use simlab::{argv, Lab};

fn violated(lab: &Lab, what: &str) -> bool {
    lab.sim.violations().iter().any(|v| v.contains(what))
}

#[test]
fn lvm_refusals() {
    let lab = Lab::new("cluster-state");
    let o = lab.fails("dom0", lvm::lvcreate("XEN", "big", 3 << 40, &[], &[]), 5);
    assert_eq!(
        o.stderr,
        "  Volume group \"XEN\" has insufficient free space (524288 extents): 786432 required.\n"
    );
    let o = lab.ok(
        "dom0",
        lvm::lvcreate("XEN", "dns", (2 << 30) + (1 << 20), &[], &[]),
    );
    assert_eq!(
        o.stdout,
        "  Rounding up size to full physical extent 2.00 GiB\n  Logical volume \"dns\" created.\n"
    );
    assert_eq!(
        lab.view("dom0").lvs["dns"].size,
        (2 << 30) + (4 << 20),
        "rounded up to the 4 MiB extent"
    );
    let o = lab.fails("dom0", lvm::lvcreate("XEN", "dns", 1 << 30, &[], &[]), 5);
    assert_eq!(
        o.stderr,
        "  Logical Volume \"dns\" already exists in volume group \"XEN\"\n"
    );
    let o = lab.fails("dom0", lvm::lvcreate("VG9", "x", 1 << 30, &[], &[]), 5);
    assert_eq!(
        o.stderr,
        "  Volume group \"VG9\" not found\n  Cannot process volume group VG9\n"
    );

    let o = lab.fails(
        "dom0",
        lvm::lvextend("XEN", "dns", (2 << 30) + (4 << 20), &[]),
        5,
    );
    assert_eq!(
        o.stderr,
        "  New size (513 extents) matches existing size (513 extents).\n"
    );
    let o = lab.fails("dom0", lvm::lvextend("XEN", "dns", 1 << 30, &[]), 5);
    assert_eq!(
        o.stderr,
        "  New size given (256 extents) not larger than existing size (513 extents)\n"
    );
    let o = lab.fails("dom0", lvm::lvextend("XEN", "dns", 3 << 40, &[]), 5);
    assert_eq!(
        o.stderr,
        "  Insufficient free space: 785919 extents needed, but only 523775 available\n"
    );
    let o = lab.ok("dom0", lvm::lvextend("XEN", "dns", 4 << 30, &[]));
    assert_eq!(o.stdout, "  Size of logical volume XEN/dns changed from 2.00 GiB (513 extents) to 4.00 GiB (1024 extents).\n  Logical volume XEN/dns successfully resized.\n");
    let o = lab.fails("dom0", lvm::lvextend("XEN", "nope", 4 << 30, &[]), 5);
    assert_eq!(o.stderr, "  Failed to find logical volume \"XEN/nope\"\n");

    let o = lab.fails("dom0", lvm::lvchange_addtag("XEN", "dns", "bad tag!"), 3);
    assert!(
        o.stderr.contains("Invalid argument for --addtag: bad tag!"),
        "{}",
        o.stderr
    );
    lab.ok("dom0", lvm::lvchange_addtag("XEN", "dns", "xenflux"));
    assert!(lab.view("dom0").lvs["dns"].tags.contains("xenflux"));
    lab.ok("dom0", lvm::lvchange_deltag("XEN", "dns", "xenflux"));
    assert!(lab.view("dom0").lvs["dns"].tags.is_empty());

    let o = lab.fails("dom0", lvm::lvs(Some("XEN/nope")), 5);
    assert_eq!(o.stderr, "  Failed to find logical volume \"XEN/nope\"\n");
    assert!(
        o.stdout.contains("\"lv\": [\n              ]"),
        "the empty skeleton: {}",
        o.stdout
    );

    // An LV DRBD holds is in use; once down, removing it (it held data) is recorded.
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let o = lab.fails("dom0", lvm::lvremove("XEN", "dns"), 5);
    assert_eq!(o.stderr, "  Logical volume XEN/dns in use.\n");
    lab.ok("dom0", argv(&["mkfs.ext4", "-q", "/dev/drbd0"]));
    assert_eq!(
        lab.view("dom0m").lvs["dns"].fs.as_deref(),
        Some("ext4"),
        "replicated"
    );
    lab.ok("dom0m", drbdcmd::down("dns"));
    let o = lab.ok("dom0m", lvm::lvremove("XEN", "dns"));
    assert_eq!(o.stdout, "  Logical volume \"dns\" successfully removed.\n");
    assert!(
        violated(&lab, "lvremove over data: dom0m: XEN/dns"),
        "{:?}",
        lab.sim.violations()
    );
}

#[test]
fn create_md_refusals_and_attempts_over_data() {
    let lab = Lab::new("cluster-state");
    lab.install_all();
    let o = lab.fails("dom0", drbdcmd::create_md("dns"), 20);
    assert_eq!(o.stderr, "open(/dev/XEN/meta) failed: No such file or directory\nCommand 'drbdmeta 0 v08 /dev/XEN/meta 0 create-md' terminated with exit code 20\n");
    // A meta LV too small for the slot: drbdmeta's own check (real-tools/11-drbdmeta.txt).
    lab.ok("dom0", lvm::lvcreate("XEN", "meta", 128 << 20, &[], &[]));
    let ovs = lab.minor("ovs");
    let o = lab.fails("dom0", drbdcmd::create_md("ovs"), 10);
    let slot = u64::from(lab.v.allocation.volumes[&simlab::name("ovs")].minor.value);
    assert_eq!(
        o.stderr,
        format!("Device too small: expecting meta data block at\nbyte offset {}, but /dev/XEN/meta is only 134217728 bytes.\nCommand 'drbdmeta {ovs} v08 /dev/XEN/meta {slot} create-md' terminated with exit code 10\n", slot * (128 << 20))
    );

    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let o = lab.fails("dom0", drbdcmd::create_md("dns"), 20);
    assert!(
        o.stderr.starts_with("Device '0' is configured!\n"),
        "{}",
        o.stderr
    );
    // Data written, then the resource taken down and its meta-data re-created: drbdmeta --force
    // does it, the simulator records it.
    lab.ok("dom0", argv(&["mkfs.ext4", "-q", "/dev/drbd0"]));
    lab.ok("dom0", drbdcmd::secondary("dns"));
    lab.ok("dom0", drbdcmd::down("dns"));
    let o = lab.ok("dom0", drbdcmd::create_md("dns"));
    assert!(o
        .stdout
        .contains("New drbd meta data block successfully created."));
    assert!(
        violated(&lab, "create-md over data: dom0: /dev/XEN/dns"),
        "{:?}",
        lab.sim.violations()
    );
}

#[test]
fn create_md_over_another_resources_meta_data_is_refused() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let res = lab.files("dom0")["/etc/drbd.d/vpn.res"].clone();
    let slot = lab.v.allocation.volumes[&simlab::name("vpn")].minor.value;
    // drbdadm itself refuses two resources on one slot.
    lab.install(
        "dom0",
        "/etc/drbd.d/vpn.res",
        &res.replace(&format!("meta[{slot}]"), "meta[0]"),
    );
    let o = lab.fails("dom0", drbdcmd::create_md("vpn"), 10);
    assert!(
        o.stderr
            .contains("conflicting use of meta-disk 'dom0:/dev/XEN/meta[0]'"),
        "{}",
        o.stderr
    );
    // With dns gone from the configuration its meta-data is still in slot 0: refused, recorded.
    lab.install("dom0", "/etc/drbd.d/vpn.res", &res);
    lab.ok("dom0", drbdcmd::secondary("dns"));
    lab.ok("dom0", drbdcmd::down("dns"));
    lab.ok("dom0", argv(&["rm", "-f", "/etc/drbd.d/dns.res"]));
    lab.install(
        "dom0",
        "/etc/drbd.d/vpn.res",
        &res.replace(&format!("meta[{slot}]"), "meta[0]"),
    );
    let o = lab.fails("dom0", drbdcmd::create_md("vpn"), 10);
    assert!(
        o.stderr.contains("holds valid meta-data of resource 'dns'"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.ends_with(&format!("Command 'drbdmeta {slot} v08 /dev/XEN/meta 0 create-md' terminated with exit code 10\n")), "{}", o.stderr);
    assert!(violated(
        &lab,
        "create-md over meta-data: dom0: /dev/XEN/meta [0] holds meta-data of resource dns"
    ));
    assert_eq!(lab.view("dom0").lvs["meta"].meta["0"], "dns", "untouched");
}

#[test]
fn drbd_up_refusals() {
    let lab = Lab::new("cluster-state");
    let o = lab.fails("dom0", drbdcmd::up("dns"), 1);
    assert_eq!(
        o.stderr,
        "'dns' not defined in your config (for this host).\n"
    );
    lab.prepare();
    // drbdadm up: new-resource, new-minor, drbdmeta apply-al, attach, connect.
    let o = lab.fails("dom0", drbdcmd::up("dns"), 255);
    assert_eq!(o.stderr, "No valid meta data found\nCommand 'drbdmeta 0 v08 /dev/XEN/meta 0 apply-al' terminated with exit code 255\n");
    // The minor stays, unattached: drbdmeta may write to it; adjust attaches it.
    lab.ok("dom0", drbdcmd::create_md("dns"));
    let o = lab.fails("dom0", drbdcmd::adjust("dns"), 10);
    assert_eq!(o.stderr, "0: Failure: (104) Can not open backing device.\nCommand 'drbdsetup-84 attach 0 /dev/XEN/dns /dev/XEN/meta 0' terminated with exit code 10\n");
    // The failed up left an unattached minor, as drbdadm does: up again is refused, down clears it.
    let o = lab.fails("dom0", drbdcmd::up("dns"), 10);
    assert!(
        o.stderr
            .starts_with("dns: Failure: (161) Minor or volume exists already (delete it first)\n"),
        "{}",
        o.stderr
    );
    assert_eq!(
        lab.view("dom0").drbd["dns"].disk,
        xenflux::drivers::drbd::DiskState::Diskless
    );
    lab.ok("dom0", drbdcmd::down("dns"));

    // A minor beyond minor_count (255).
    let res = lab.files("dom0")["/etc/drbd.d/dns.res"]
        .replace("/dev/drbd0 minor 0", "/dev/drbd300 minor 300");
    lab.install("dom0", "/etc/drbd.d/dns.res", &res);
    lab.ok("dom0", drbdcmd::create_md("dns"));
    let o = lab.fails("dom0", drbdcmd::up("dns"), 10);
    assert_eq!(o.stderr, "dns: Failure: (162) Invalid configuration request\nadditional info from kernel:\nrequested minor out of range\nCommand 'drbdsetup-84 new-minor dns 300 0' terminated with exit code 10\n");

    // A port another resource already binds on this node.
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let port = lab.port("dns");
    let vpn = lab.files("dom0")["/etc/drbd.d/vpn.res"]
        .replace(&format!(":{}", lab.port("vpn")), &format!(":{port}"));
    let o = lab.run_stdin(
        "dom0",
        argv(&[
            "install",
            "-D",
            "-m",
            "0644",
            "/dev/stdin",
            "/etc/drbd.d/vpn.res",
        ]),
        &vpn,
    );
    assert!(o.success());
    let o = lab.fails("dom0", drbdcmd::up("vpn"), 10);
    assert!(
        o.stderr
            .contains(&format!("conflicting use of IP '192.168.1.190:{port}'")),
        "drbdadm refuses the config: {}",
        o.stderr
    );

    // A config syntax error makes every drbdadm command fail.
    lab.install(
        "dom0",
        "/etc/drbd.d/bad.res",
        "resource bad {\n  on dom0 { device /dev/drbd9 minor 9\n}\n",
    );
    let o = lab.fails("dom0", drbdcmd::dump_xml(None), 10);
    assert!(o.stderr.contains("/etc/drbd.d/bad.res:"), "{}", o.stderr);
    assert!(o.stderr.contains("Parse error"), "{}", o.stderr);
    lab.ok("dom0", argv(&["rm", "-f", "/etc/drbd.d/bad.res"]));
    lab.install(
        "dom0",
        "/etc/drbd.d/vpn.res",
        &lab.files("dom0")["/etc/drbd.d/vpn.res"],
    );
    // An address this node does not have.
    let dns = lab.files("dom0")["/etc/drbd.d/dns.res"].replace("192.168.1.190", "10.9.9.9");
    lab.install("dom0", "/etc/drbd.d/dns.res", &dns);
    let o = lab.fails("dom0", drbdcmd::adjust("dns"), 10);
    assert_eq!(
        o.stderr,
        "/etc/drbd.d/dns.res: in resource dns, on dom0:\n\tIP 10.9.9.9 not found on this host.\n"
    );
}

#[test]
fn two_primaries_are_refused_without_allow_two_primaries_and_accepted_with_it() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let o = lab.fails("dom0m", drbdcmd::primary("dns"), 11);
    assert_eq!(o.stderr, "0: State change failed: (-1) Multiple primaries not allowed by config\nCommand 'drbdsetup-84 primary 0' terminated with exit code 11\n");
    // Allowed on one side only: the peer refuses.
    lab.ok(
        "dom0m",
        drbdcmd::net_options_allow_two_primaries("dns", true),
    );
    let o = lab.fails("dom0m", drbdcmd::primary("dns"), 11);
    assert!(
        o.stderr
            .starts_with("0: State change failed: (-10) State change was refused by peer node\n"),
        "{}",
        o.stderr
    );
    lab.ok(
        "dom0",
        drbdcmd::net_options_allow_two_primaries("dns", true),
    );
    lab.ok("dom0m", drbdcmd::primary("dns"));
    let v = lab.view("dom0m");
    assert_eq!(v.drbd["dns"].role, xenflux::drivers::drbd::Role::Primary);
    assert_eq!(
        v.drbd["dns"].peers[0].role,
        xenflux::drivers::drbd::Role::Primary
    );
    assert!(
        lab.sim.invariants().is_empty(),
        "allowed: {:?}",
        lab.sim.invariants()
    );
    // Clearing it while both are Primary is refused.
    let o = lab.fails(
        "dom0",
        drbdcmd::net_options_allow_two_primaries("dns", false),
        10,
    );
    assert!(o.stderr.starts_with("dns: Failure: (164) Can not clear allow_two_primaries as long as\nthere a primaries on both sides\n"), "{}", o.stderr);

    // Both Inconsistent: nobody has UpToDate data.
    let lab = Lab::new("cluster-state");
    lab.prepare();
    lab.volume("dns");
    let o = lab.fails("dom0", drbdcmd::primary("dns"), 11);
    assert_eq!(o.stderr, "0: State change failed: (-2) Need access to UpToDate data\nCommand 'drbdsetup-84 primary 0' terminated with exit code 11\n");
}

#[test]
fn two_primaries_apart_are_recorded() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", drbdcmd::disconnect("dns"));
    lab.ok("dom0m", drbdcmd::primary("dns"));
    let now = lab.sim.invariants();
    assert!(
        now.iter().any(|v| v.starts_with(
            "two Primaries without allow-two-primaries: dns is Primary on dom0 and dom0m"
        )),
        "{now:?}"
    );
    assert!(
        now.iter().any(|v| v.contains("broken connection")),
        "{now:?}"
    );
    assert!(violated(&lab, "two Primaries without allow-two-primaries"));
    // Reconnecting: both wrote while apart, a split brain; both drop to StandAlone.
    lab.ok("dom0", drbdcmd::connect("dns"));
    let a = lab.ok("dom0", drbdcmd::cat_proc_drbd()).stdout;
    let b = lab.ok("dom0m", drbdcmd::cat_proc_drbd()).stdout;
    assert!(
        a.contains(" 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----"),
        "{a}"
    );
    assert!(
        b.contains(" 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----"),
        "{b}"
    );
    assert!(lab.view("dom0").drbd["dns"].split_brain);
}

#[test]
fn a_device_in_use_stays_primary_and_resize_needs_a_primary() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", argv(&["mkdir", "-p", "/mnt/dns"]));
    lab.ok("dom0", argv(&["mkfs.ext4", "-q", "/dev/drbd0"]));
    lab.ok(
        "dom0",
        argv(&["mount", "-t", "ext4", "/dev/drbd0", "/mnt/dns"]),
    );
    let o = lab.fails("dom0", drbdcmd::secondary("dns"), 11);
    assert_eq!(o.stderr, "0: State change failed: (-12) Device is held open by someone\nCommand 'drbdsetup-84 secondary 0' terminated with exit code 11\n");
    let o = lab.fails("dom0", drbdcmd::down("dns"), 11);
    assert_eq!(o.stderr, "dns: State change failed: (-12) Device is held open by someone\nadditional info from kernel:\nfailed to demote\nCommand 'drbdsetup-84 down dns' terminated with exit code 11\n");
    let o = lab.fails("dom0", ocfs2::umount("/mnt/nope"), 32);
    assert_eq!(o.stderr, "umount: /mnt/nope: no mount point specified.\n");
    lab.ok("dom0", ocfs2::umount("/mnt/dns"));
    let o = lab.fails("dom0", ocfs2::umount("/mnt/dns"), 32);
    assert_eq!(o.stderr, "umount: /mnt/dns: not mounted.\n");

    // Grow: lvextend on both, then resize: both Secondary is refused, with a Primary it grows to
    // the smaller backing device, then resize2fs grows the filesystem.
    lab.ok("dom0", drbdcmd::secondary("dns"));
    lab.ok("dom0", lvm::lvextend("XEN", "dns", 12 << 30, &[]));
    lab.ok("dom0m", lvm::lvextend("XEN", "dns", 11 << 30, &[]));
    let o = lab.fails("dom0", drbdcmd::resize("dns"), 10);
    assert_eq!(o.stderr, "0: Failure: (131) Need one Primary node to resize.\nCommand 'drbdsetup-84 resize 0' terminated with exit code 10\n");
    lab.ok("dom0", drbdcmd::primary("dns"));
    assert_eq!(lab.view("dom0").drbd["dns"].size, 10 << 30);
    lab.ok("dom0", drbdcmd::resize("dns"));
    assert_eq!(lab.view("dom0").drbd["dns"].size, 11 << 30);
    assert_eq!(lab.view("dom0m").drbd["dns"].size, 11 << 30);
    let o = lab.ok("dom0", argv(&["resize2fs", "/dev/drbd0"]));
    assert_eq!(
        o.stdout,
        format!(
            "The filesystem on /dev/drbd0 is now {} (4k) blocks long.\n\n",
            (11u64 << 30) / 4096
        )
    );
    let o = lab.ok("dom0", argv(&["resize2fs", "/dev/drbd0"]));
    assert!(o.stdout.contains("Nothing to do!"), "{}", o.stdout);
}

#[test]
fn adjust_applies_the_res_file_to_the_running_resource() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    // Not up: adjust brings it up, and it resyncs nothing (same data generation).
    lab.ok("dom0m", drbdcmd::down("dns"));
    assert_eq!(
        lab.view("dom0").drbd["dns"].connection,
        ConnState::WFConnection
    );
    lab.ok("dom0m", drbdcmd::adjust("dns"));
    assert_eq!(
        lab.view("dom0m").drbd["dns"].connection,
        ConnState::Connected
    );
    assert_eq!(lab.view("dom0m").drbd["dns"].disk, DiskState::UpToDate);
    // Disconnected: adjust connects it again.
    lab.ok("dom0", drbdcmd::disconnect("dns"));
    assert_eq!(
        lab.view("dom0").drbd["dns"].connection,
        ConnState::StandAlone
    );
    lab.ok("dom0", drbdcmd::adjust("dns"));
    assert_eq!(
        lab.view("dom0").drbd["dns"].connection,
        ConnState::Connected
    );
    // A net option written into the file is applied live.
    let res = lab.files("dom0")["/etc/drbd.d/dns.res"].replace(
        "    protocol C;\n",
        "    protocol C;\n    allow-two-primaries yes;\n",
    );
    for node in ["dom0", "dom0m"] {
        lab.install(node, "/etc/drbd.d/dns.res", &res);
        lab.ok(node, drbdcmd::adjust("dns"));
        assert!(lab.view(node).drbd["dns"].allow_two_primaries);
    }
    lab.ok("dom0m", drbdcmd::primary("dns"));
    assert!(
        lab.sim.invariants().is_empty(),
        "{:?}",
        lab.sim.invariants()
    );
    assert!(
        lab.sim.violations().is_empty(),
        "{:?}",
        lab.sim.violations()
    );
}

#[test]
fn mkfs_xfs_refuses_an_existing_filesystem_and_lvm_ignores_driverloaded() {
    let lab = Lab::new("cluster-state");
    lab.ok(
        "dom0",
        lvm::lvcreate(
            "XEN",
            "scratch",
            1 << 30,
            &[],
            &argv(&["--driverloaded", "n", "-an", "-Zn"]),
        ),
    );
    lab.ok(
        "dom0",
        argv(&[
            "lvs",
            "--driverloaded",
            "n",
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "lv_name",
            "XEN",
        ]),
    );
    lab.ok("dom0", argv(&["mkfs.ext3", "-q", "/dev/XEN/scratch"]));
    let o = lab.fails("dom0", argv(&["mkfs.xfs", "-q", "/dev/XEN/scratch"]), 1);
    assert_eq!(o.stderr, "mkfs.xfs: /dev/XEN/scratch appears to contain an existing filesystem (ext3).\nmkfs.xfs: Use the -f option to force overwrite.\n");
    lab.ok("dom0", argv(&["mkfs.xfs", "-q", "-f", "/dev/XEN/scratch"]));
    assert!(violated(
        &lab,
        "mkfs over data: dom0: mkfs.xfs on /dev/XEN/scratch"
    ));
    let o = lab.ok(
        "dom0",
        argv(&["blkid", "-p", "-o", "export", "/dev/XEN/scratch"]),
    );
    assert!(
        o.stdout.contains("TYPE=xfs\nUSAGE=filesystem\n"),
        "{}",
        o.stdout
    );
    let o = lab.fails("dom0", argv(&["mkfs.ext4", "-q", "/dev/XEN/nope"]), 1);
    assert_eq!(o.stderr, "mke2fs 1.47.0 (5-Feb-2023)\nThe file /dev/XEN/nope does not exist and no size was specified.\n");
}
