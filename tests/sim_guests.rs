//! Guests, network, OCFS2 and files on the simulator: refused like on a real node, with the real
//! tools' messages and exit statuses; attempts that break an invariant are recorded.

mod simlab;

use xenflux::drivers::drbd as drbdcmd;
use xenflux::drivers::net::{self as netcmd, BondMode, BondOptions};
use xenflux::drivers::xlcfg::{DiskAccess, DiskSpec};
use xenflux::drivers::{ocfs2, xl};

use simlab::{argv, Lab};

fn violated(lab: &Lab, what: &str) -> bool {
    lab.sim.violations().iter().any(|v| v.contains(what))
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

#[test]
fn shutdown_destroy_and_growing_ocfs2() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", xl::create("/etc/xen/dns.cfg"));
    let o = lab.ok("dom0", xl::shutdown_wait("dns"));
    assert_eq!(o.stderr, "Shutting down domain 1\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 0\n");
    assert!(lab.view("dom0").domains.is_empty());
    assert!(
        !lab.view("dom0").links.contains_key("vif1.0"),
        "its vif went with it"
    );
    lab.ok("dom0", xl::create("/etc/xen/dns.cfg"));
    assert_eq!(
        lab.view("dom0").domains["dns"].domid,
        2,
        "domids are not reused"
    );
    lab.ok("dom0", xl::destroy("dns"));
    lab.ok("dom0", drbdcmd::secondary("dns"));

    // tunefs.ocfs2 -S grows OCFS2 to its (resized) device, with the cluster online.
    lab.volume("ovs");
    let dev = format!("/dev/drbd{}", lab.minor("ovs"));
    lab.ok("dom0", drbdcmd::primary_force("ovs"));
    lab.ok("dom0", ocfs2::mkfs_ocfs2(&dev, 4, "/OVS", "ovscluster"));
    let o = lab.fails("dom0", argv(&["tunefs.ocfs2", "-S", &dev]), 3);
    assert_eq!(
        o.stderr,
        format!("tunefs.ocfs2: Unable to access cluster service while opening device \"{dev}\"\n")
    );
    lab.ok("dom0", argv(&["/etc/init.d/o2cb", "start"]));
    for node in ["dom0", "dom0m"] {
        lab.ok(
            node,
            xenflux::drivers::lvm::lvextend("XEN", "ovs", 120 << 30, &[]),
        );
    }
    lab.ok("dom0", drbdcmd::resize("ovs"));
    assert_eq!(lab.view("dom0").drbd["ovs"].size, 120 << 30);
    lab.ok("dom0", argv(&["tunefs.ocfs2", "-S", &dev]));
    let o = lab.ok("dom0", argv(&["mounted.ocfs2", "-d", &dev]));
    assert!(o.stdout.contains("/OVS"), "{}", o.stdout);
    // Re-running the init script once online changes nothing.
    let o = lab.ok("dom0", argv(&["/etc/init.d/o2cb", "start"]));
    assert_eq!(o.stdout, "checking debugfs...\nSetting cluster stack \"o2cb\": OK\nCluster ovscluster already online\n");
}
