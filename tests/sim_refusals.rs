//! The simulator refuses what a real node refuses, with the real tools' messages and exit
//! statuses, and records every invariant violation and destructive attempt.

mod simlab;

use xenflux::drivers::drbd as drbdcmd;
use xenflux::drivers::net::{self as netcmd, BondMode, BondOptions};
use xenflux::drivers::xlcfg::{DiskAccess, DiskSpec};
use xenflux::drivers::{lvm, ocfs2, xl};

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
    lab.ok("dom0", drbdcmd::down("dns"));
    lab.ok("dom0", drbdcmd::create_md("dns"));
    let o = lab.fails("dom0", drbdcmd::up("dns"), 10);
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
fn xen_refusals() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let cfg = "/etc/xen/dns.cfg";
    // Secondary here: blkback cannot open the device.
    let o = lab.fails("dom0m", xl::create(cfg), 3);
    assert!(o.stderr.starts_with("Parsing config from /etc/xen/dns.cfg\nlibxl: error: libxl_device.c:1265:device_backend_callback: Domain 1:unable to add device with path /local/domain/0/backend/vbd/1/51712\n"), "{}", o.stderr);
    assert!(
        o.stderr.contains("unable to add disk devices"),
        "{}",
        o.stderr
    );
    assert!(violated(
        &lab,
        "domain start on a device that is not Primary: dom0m"
    ));
    assert!(lab.view("dom0m").domains.is_empty());

    lab.ok("dom0", xl::create(cfg));
    // The same domain again, here or anywhere else: refused (and recorded when elsewhere).
    let o = lab.fails("dom0", xl::create(cfg), 3);
    assert!(
        o.stderr
            .contains("Domain with name \"dns\" already exists."),
        "{}",
        o.stderr
    );
    lab.ok(
        "dom0",
        drbdcmd::net_options_allow_two_primaries("dns", true),
    );
    lab.ok(
        "dom0m",
        drbdcmd::net_options_allow_two_primaries("dns", true),
    );
    lab.ok("dom0m", drbdcmd::primary("dns"));
    let o = lab.fails("dom0m", xl::create(cfg), 3);
    assert!(
        o.stderr
            .contains("Domain with name \"dns\" already exists."),
        "{}",
        o.stderr
    );
    assert!(violated(
        &lab,
        "domain started twice: `xl create` of dns on dom0m while it runs on dom0"
    ));
    assert!(
        lab.sim.invariants().is_empty(),
        "{:?}",
        lab.sim.invariants()
    );

    let o = lab.fails("dom0", xl::create("/etc/xen/nope.cfg"), 1);
    assert_eq!(o.stderr, "Parsing config from /etc/xen/nope.cfg\nFailed to read config file: /etc/xen/nope.cfg: No such file or directory\n");
    let o = lab.fails("dom0", xl::shutdown_wait("nope"), 1);
    assert_eq!(o.stderr, "nope is an invalid domain identifier (rc=-6)\n");

    // Not enough memory; a missing bridge.
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    let big = lab.files("dom0")["/etc/xen/dns.cfg"].replace("memory = 512", "memory = 70000");
    lab.install(
        "dom0",
        "/etc/xen/big.cfg",
        &big.replace("name = \"dns\"", "name = \"big\""),
    );
    let o = lab.fails("dom0", xl::create("/etc/xen/big.cfg"), 3);
    assert!(
        o.stderr
            .contains("xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory"),
        "{}",
        o.stderr
    );
    lab.ok("dom0", netcmd::link_del("xenbr0"));
    let o = lab.fails("dom0", xl::create(cfg), 3);
    assert!(
        o.stderr
            .contains("script: Could not find bridge device xenbr0"),
        "{}",
        o.stderr
    );
    assert!(lab.view("dom0").domains.is_empty());

    // Hot-plug: a Secondary device cannot be attached; an absent vdev cannot be detached.
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.volume("vpn");
    lab.ok("dom0", xl::create(cfg));
    let vpn = format!("/dev/drbd{}", lab.minor("vpn"));
    let spec = DiskSpec::phy(&vpn, "xvdb", DiskAccess::ReadWrite);
    let o = lab.fails("dom0", xl::block_attach("dns", &spec), 1);
    assert!(
        o.stderr.ends_with("libxl_device_disk_add failed.\n"),
        "{}",
        o.stderr
    );
    lab.ok("dom0", drbdcmd::primary_force("vpn"));
    lab.ok("dom0", xl::block_attach("dns", &spec));
    assert_eq!(lab.view("dom0").domains["dns"].disks.len(), 2);
    let o = lab.fails("dom0", drbdcmd::secondary("vpn"), 11);
    assert!(o.stderr.contains("(-12) Device is held open by someone"));
    lab.ok("dom0", xl::block_detach("dns", "xvdb"));
    let o = lab.fails("dom0", xl::block_detach("dns", "xvdb"), 1);
    assert_eq!(o.stderr, "Error: Device xvdb not connected.\n");
    lab.ok("dom0", drbdcmd::secondary("vpn"));
}

#[test]
fn live_migration_needs_the_target_primary_and_moves_the_domain() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", xl::create("/etc/xen/dns.cfg"));
    let target = lab.v.desired.nodes[&simlab::name("dom0m")]
        .address
        .to_string();
    let o = lab.fails("dom0", xl::migrate("dns", &target), 1);
    assert!(
        o.stderr
            .starts_with("migration target: Ready to receive domain.\n"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .ends_with("Migration failed, resuming at sender.\n"),
        "{}",
        o.stderr
    );
    assert!(lab.view("dom0").domains.contains_key("dns"));
    assert!(lab.view("dom0m").domains.is_empty());

    // The migration window: allow two primaries on both, promote the target, migrate, demote.
    for node in ["dom0", "dom0m"] {
        lab.ok(node, drbdcmd::net_options_allow_two_primaries("dns", true));
    }
    lab.ok("dom0m", drbdcmd::primary("dns"));
    let o = lab.ok("dom0", xl::migrate("dns", &target));
    assert!(
        o.stderr.ends_with("Migration successful.\n"),
        "{}",
        o.stderr
    );
    assert!(o
        .stderr
        .contains("xc: info: Saving domain 1, type x86 PV\n"));
    assert!(lab.view("dom0").domains.is_empty());
    // A new domid on the target (the failed attempt used 1 there, as libxl does).
    assert_eq!(lab.view("dom0m").domains["dns"].domid, 2);
    let s = lab.observe("dom0m");
    assert!(s.xen.known().expect("xen").domains.contains_key("dns"));
    lab.ok("dom0", drbdcmd::secondary("dns"));
    for node in ["dom0", "dom0m"] {
        lab.ok(node, drbdcmd::net_options_allow_two_primaries("dns", false));
    }
    let o = lab.fails("dom0m", drbdcmd::secondary("dns"), 11);
    assert!(o.stderr.contains("(-12) Device is held open by someone"));
    assert!(
        lab.sim.invariants().is_empty(),
        "{:?}",
        lab.sim.invariants()
    );
}

#[test]
fn network_refusals() {
    let lab = Lab::new("cluster-state");
    lab.bridge("dom0");
    let o = lab.fails("dom0", netcmd::bridge_add("xenbr0", true, 400), 2);
    assert_eq!(o.stderr, "RTNETLINK answers: File exists\n");
    let o = lab.fails("dom0", netcmd::bridge_add("xenbr1", true, 100), 2);
    assert_eq!(
        o.stderr,
        "RTNETLINK answers: Numerical result out of range\n"
    );
    let lacp = BondOptions {
        mode: BondMode::ActiveBackup,
        miimon: 100,
        lacp_rate: Some("fast".into()),
        xmit_hash_policy: None,
    };
    let o = lab.fails("dom0", netcmd::bond_add("bond0", &lacp), 2);
    assert_eq!(o.stderr, "Error: option lacp_rate: mode dependency failed, not supported in mode active-backup(1).\n");
    let ab = BondOptions {
        lacp_rate: None,
        ..lacp
    };
    lab.ok("dom0", netcmd::bond_add("bond0", &ab));
    let o = lab.fails("dom0", netcmd::link_set_master("eth0", "bond0"), 2);
    assert_eq!(o.stderr, "Error: Device can not be enslaved while up.\n");
    let o = lab.fails("dom0", netcmd::link_set_master("eth9", "bond0"), 1);
    assert_eq!(o.stderr, "Cannot find device \"eth9\"\n");
    let o = lab.fails("dom0", netcmd::link_set_master("eth0", "bond9"), 255);
    assert!(o
        .stderr
        .starts_with("Error: argument \"bond9\" is wrong: Device does not exist\n"));
    lab.ok("dom0", netcmd::link_set_down("eth0"));
    lab.ok("dom0", netcmd::link_set_master("eth0", "bond0"));
    // A second master: the kernel moves it, the simulator records it.
    lab.ok("dom0", netcmd::link_set_master("eth0", "xenbr0"));
    assert!(violated(
        &lab,
        "interface moved between masters: dom0: eth0 taken from bond0"
    ));
    assert_eq!(
        lab.view("dom0").links["eth0"].master.as_deref(),
        Some("xenbr0")
    );
    let o = lab.fails("dom0", netcmd::link_del("eth1"), 2);
    assert_eq!(o.stderr, "RTNETLINK answers: Operation not supported\n");
    lab.ok("dom0", netcmd::addr_add("10.1.1.1/24", "xenbr0"));
    let o = lab.fails("dom0", netcmd::addr_add("10.1.1.1/24", "xenbr0"), 2);
    assert_eq!(o.stderr, "RTNETLINK answers: File exists\n");
}

#[test]
fn ocfs2_refusals() {
    let lab = Lab::new("cluster-state");
    lab.prepare();
    lab.volume("ovs");
    let dev = format!("/dev/drbd{}", lab.minor("ovs"));
    let o = lab.fails("dom0", argv(&["o2cb", "cluster-status"]), 1);
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str()),
        (
            "offline\n",
            "o2cb: Unable to access cluster service while initializing the cluster\n"
        )
    );
    let o = lab.fails("dom0", ocfs2::mkfs_ocfs2(&dev, 4, "/OVS", "ovscluster"), 1);
    assert_eq!(
        o.stderr,
        format!("mkfs.ocfs2 1.8.7\nmkfs.ocfs2: Wrong medium type while opening device \"{dev}\"\n")
    );
    lab.ok("dom0", drbdcmd::primary_force("ovs"));
    lab.ok("dom0", ocfs2::mkfs_ocfs2(&dev, 4, "/OVS", "ovscluster"));
    lab.ok("dom0", argv(&["mkdir", "-p", "/OVS"]));
    let o = lab.fails("dom0", ocfs2::mount_ocfs2(&dev, "/OVS"), 1);
    assert_eq!(
        o.stderr,
        "mount.ocfs2: Unable to access cluster service while trying initialize cluster\n"
    );
    let o = lab.fails("dom0", ocfs2::mount_ocfs2(&dev, "/nope"), 32);
    assert_eq!(o.stderr, "mount: /nope: mount point does not exist.\n");
    lab.ok("dom0", argv(&["/etc/init.d/o2cb", "start"]));
    // An existing OCFS2 volume: without -F mkfs asks, and with no answer on stdin aborts.
    let o = lab.fails("dom0", ocfs2::mkfs_ocfs2(&dev, 4, "/OVS", "ovscluster"), 1);
    assert!(
        o.stdout.ends_with(
            "Overwriting existing ocfs2 partition.\nProceed (y/N): Aborting operation.\n"
        ),
        "{}",
        o.stdout
    );
    assert!(!violated(&lab, "mkfs over data"));
    lab.ok("dom0", ocfs2::mount_ocfs2(&dev, "/OVS"));
    let o = lab.fails("dom0", ocfs2::mkfs_ocfs2(&dev, 4, "/OVS", "ovscluster"), 1);
    assert!(
        o.stderr.ends_with(&format!(
            "{dev} is mounted; will not make a ocfs2 volume here!\n"
        )),
        "{}",
        o.stderr
    );
    // A local filesystem over data is made (mke2fs asks only on a terminal): recorded.
    lab.ok("dom0", ocfs2::umount("/OVS"));
    lab.ok("dom0", argv(&["mkfs.ext4", "-q", &dev]));
    assert!(violated(
        &lab,
        &format!("mkfs over data: dom0: mkfs.ext4 on {dev}")
    ));
}

#[test]
fn files_and_unknown_commands() {
    let lab = Lab::new("cluster-state");
    let o = lab.fails("dom0", argv(&["cat", "/etc/nope"]), 1);
    assert_eq!(o.stderr, "cat: /etc/nope: No such file or directory\n");
    let o = lab.fails(
        "dom0",
        argv(&["install", "-m", "0644", "/dev/stdin", "/etc/new/x"]),
        1,
    );
    assert_eq!(
        o.stderr,
        "install: cannot create regular file '/etc/new/x': No such file or directory\n"
    );
    lab.install("dom0", "/etc/new/x", "hello\n");
    assert_eq!(
        lab.ok("dom0", argv(&["cat", "/etc/new/x"])).stdout,
        "hello\n"
    );
    lab.ok("dom0", argv(&["rm", "-f", "/etc/new/x"]));
    lab.ok("dom0", argv(&["rm", "-f", "/etc/new/x"]));
    let o = lab.fails("dom0", argv(&["rm", "/etc/new/x"]), 1);
    assert_eq!(
        o.stderr,
        "rm: cannot remove '/etc/new/x': No such file or directory\n"
    );
    let o = lab.fails("dom0", argv(&["frobnicate", "--now"]), 127);
    assert_eq!(o.stderr, "frobnicate: command not found\n");
}
