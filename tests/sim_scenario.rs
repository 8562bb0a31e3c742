//! The simulator read by the real parsers: a fresh cluster observes as freshly installed dom0s,
//! and an operator's hand-typed sequence (driver-built argv) takes volumes, a domain, OCFS2, a
//! bond and a bridge from nothing to running, with observation after each step showing it.

mod simlab;

use xenflux::drivers::drbd::{self as drbdcmd, ConnectionState, DiskState, ReplState, Role};
use xenflux::drivers::net::{self as netcmd, BondMode, BondOptions, PortState};
use xenflux::drivers::{lvm, ocfs2, xl};
use xenflux::observe::{MetaDisk, NodeState};
use xenflux::render;

use simlab::{argv, name, Lab};

const TAG: &str = "xenflux";

#[test]
fn a_fresh_node_observes_as_a_freshly_installed_dom0() {
    let lab = Lab::new("cluster-state");
    assert_eq!(lab.sim.node_names(), vec!["dom0", "dom0m"]);
    for node in ["dom0", "dom0m"] {
        let s = lab.observe(node);
        let lvm = s.lvm.known().expect("lvm known");
        let vg = &lvm.vgs["XEN"];
        assert_eq!(vg.size, 2 << 40);
        assert_eq!(vg.free, 2 << 40);
        assert_eq!(vg.extent_size, 4 << 20);
        assert!(lvm.lvs.is_empty(), "no LVs: {:?}", lvm.lvs);

        let drbd = s.drbd.known().expect("drbd known");
        assert_eq!(drbd.module_version.as_deref(), Some("8.4.11"));
        assert!(drbd.resources.is_empty());
        assert!(drbd.stray_minors.is_empty());

        let xen = s.xen.known().expect("xen known");
        assert!(xen.domains.is_empty(), "Domain-0 only");
        // The Node declares 16GiB for domains; Domain-0 holds 4GiB beside it.
        assert_eq!(xen.total_memory_mib, Some(16384 + 4096));
        assert_eq!(xen.free_memory_mib, Some(16384));
        assert_eq!(xen.version.as_deref(), Some("4.17.5"));

        let net = s.net.known().expect("net known");
        let names: Vec<&String> = net.links.keys().collect();
        assert_eq!(names, ["eth0", "eth1", "eth2", "eth3", "lo"]);
        for i in 0..4 {
            let l = &net.links[&format!("eth{i}")];
            assert!(l.up && l.master.is_none() && l.kind.is_none(), "{l:?}");
        }
        assert!(net.bonds.is_empty(), "bond0 does not exist yet");

        let ocfs2 = s.ocfs2.known().expect("ocfs2 known");
        assert!(ocfs2.clusters.is_empty() && ocfs2.devices.is_empty());
        assert!(ocfs2.mounts.contains_key("/"));

        assert_eq!(
            s.listening
                .known()
                .expect("ss known")
                .iter()
                .collect::<Vec<_>>(),
            [&22]
        );
        // Managed files are absent but for the packages' stock ones; devices are known blank.
        assert!(!s.files.is_empty());
        for (path, f) in &s.files {
            let text = f.known().expect("cat answered");
            match path.as_str() {
                "/etc/drbd.d/global_common.conf" => {
                    assert!(text.as_deref().is_some_and(|t| t.contains("usage-count")))
                }
                "/etc/default/o2cb" => {
                    assert!(text
                        .as_deref()
                        .is_some_and(|t| t.contains("O2CB_ENABLED=false")))
                }
                _ => assert_eq!(text, &None, "{path}"),
            }
        }
        for (dev, f) in &s.filesystems {
            assert_eq!(
                f.known(),
                Some(&None),
                "{dev}: no such device yet, blkid exit 2"
            );
        }
    }
}

fn role_disk(s: &NodeState, res: &str) -> (Role, DiskState, ConnectionState, Role, DiskState) {
    let d = s.drbd.known().expect("drbd known");
    let k = d.resources[res]
        .kernel
        .as_ref()
        .expect("configured in the kernel");
    let p = &k.peers[0];
    (
        k.role.clone(),
        k.disk.clone(),
        p.connection.clone(),
        p.role.clone(),
        p.disk.clone(),
    )
}

/// Network: bond0 (active-backup over eth0, eth1) as the only port of xenbr0 (STP on).
fn network(lab: &Lab, node: &str, cidr: &str) {
    let opts = BondOptions {
        mode: BondMode::ActiveBackup,
        miimon: 100,
        lacp_rate: None,
        xmit_hash_policy: None,
    };
    lab.ok(node, netcmd::bond_add("bond0", &opts));
    for slave in ["eth0", "eth1"] {
        lab.ok(node, netcmd::link_set_down(slave));
        lab.ok(node, netcmd::link_set_master(slave, "bond0"));
    }
    lab.ok(node, netcmd::link_set_up("bond0"));
    lab.ok(node, netcmd::bridge_add("xenbr0", true, 400));
    lab.ok(node, netcmd::link_set_master("bond0", "xenbr0"));
    lab.ok(node, netcmd::link_set_up("xenbr0"));
    lab.ok(node, netcmd::addr_add(cidr, "xenbr0"));
}

#[test]
fn an_operator_brings_volumes_a_domain_ocfs2_a_bond_and_a_bridge_up() {
    let lab = Lab::new("cluster-state");
    let nodes = ["dom0", "dom0m"];

    // --- network
    network(&lab, "dom0", "192.168.1.190/24");
    network(&lab, "dom0m", "192.168.1.191/24");
    for node in nodes {
        let s = lab.observe(node);
        let net = s.net.known().expect("net known");
        let bond = &net.links["bond0"];
        assert_eq!(bond.kind.as_deref(), Some("bond"));
        assert_eq!(bond.bond_mode, Some(BondMode::ActiveBackup));
        assert_eq!(bond.master.as_deref(), Some("xenbr0"));
        assert_eq!(
            bond.port_state,
            Some(PortState::Forwarding),
            "STP ports forward at once"
        );
        assert_eq!(net.links["eth0"].master.as_deref(), Some("bond0"));
        assert_eq!(net.links["eth1"].master.as_deref(), Some("bond0"));
        assert!(net.links["eth0"].up, "bonding opens its slaves");
        let br = &net.links["xenbr0"];
        assert_eq!((br.stp, br.forward_delay), (Some(true), Some(4)));
        assert!(br.up);
        let b = &net.bonds["bond0"];
        assert_eq!(b.mode, BondMode::ActiveBackup);
        assert_eq!(b.active_slave.as_deref(), Some("eth0"));
        assert_eq!(b.slaves.keys().collect::<Vec<_>>(), ["eth0", "eth1"]);
    }

    // --- config files
    lab.install_all();
    for node in nodes {
        let s = lab.observe(node);
        for (path, f) in &s.files {
            assert_eq!(
                f.known().and_then(|t| t.as_deref()),
                Some(lab.files(node)[path].as_str()),
                "{path}"
            );
        }
        let d = s.drbd.known().expect("drbd known after the .res files");
        let c = d.resources["dns"].config.as_ref().expect("dns configured");
        assert_eq!(c.minor, Some(lab.minor("dns")));
        assert_eq!(c.port, Some(lab.port("dns")));
        assert_eq!(c.disk.as_deref(), Some("/dev/XEN/dns"));
        assert!(matches!(c.meta, Some(MetaDisk::Indexed { .. })));
        assert!(
            d.resources["ovs"]
                .config
                .as_ref()
                .expect("ovs")
                .allow_two_primaries
        );
        assert!(d.resources["dns"].kernel.is_none(), "not up yet");
        let o = s.ocfs2.known().expect("ocfs2");
        assert_eq!(o.clusters["ovscluster"].len(), 2);
    }

    // --- LVs: the meta LV and the data LVs of dns and ovs
    for node in nodes {
        let meta = lab.v.allocation.meta_lv_size[&name(node)].bytes();
        lab.ok(
            node,
            lvm::lvcreate("XEN", "meta", meta, &[TAG.to_string()], &[]),
        );
        for vol in ["dns", "ovs"] {
            let size = lab.v.desired.volumes[&name(vol)].size.bytes();
            lab.ok(
                node,
                lvm::lvcreate("XEN", vol, size, &[TAG.to_string()], &[]),
            );
        }
        let s = lab.observe(node);
        let lvm = s.lvm.known().expect("lvm");
        assert_eq!(lvm.lvs["XEN/dns"].size, 10 << 30);
        assert_eq!(lvm.lvs["XEN/ovs"].size, 100 << 30);
        assert_eq!(lvm.lvs["XEN/meta"].size, meta);
        assert!(lvm.lvs["XEN/dns"].tags.contains(TAG));
        assert_eq!(lvm.lvs["XEN/dns"].open, Some(false));
        assert_eq!(lvm.vgs["XEN"].free, (2 << 40) - (110 << 30) - meta);
    }

    // --- DRBD dns: create-md and up on both: Connected, Inconsistent on both
    for node in nodes {
        let o = lab.ok(node, drbdcmd::create_md("dns"));
        assert!(o
            .stdout
            .contains("New drbd meta data block successfully created."));
        lab.ok(node, drbdcmd::up("dns"));
    }
    for node in nodes {
        let s = lab.observe(node);
        assert_eq!(
            role_disk(&s, "dns"),
            (
                Role::Secondary,
                DiskState::Inconsistent,
                ConnectionState::Connected,
                Role::Secondary,
                DiskState::Inconsistent
            )
        );
        assert_eq!(
            s.lvm.known().expect("lvm").lvs["XEN/dns"].open,
            Some(true),
            "DRBD holds it"
        );
        assert!(
            !s.listening.known().expect("ss").contains(&lab.port("dns")),
            "8.4 does not listen while connected"
        );
    }
    // --- the initial sync: primary --force on dom0
    lab.ok("dom0", drbdcmd::primary_force("dns"));
    let s = lab.observe("dom0");
    assert_eq!(
        role_disk(&s, "dns"),
        (
            Role::Primary,
            DiskState::UpToDate,
            ConnectionState::Connected,
            Role::Secondary,
            DiskState::UpToDate
        )
    );
    let k = s.drbd.known().expect("drbd").resources["dns"]
        .kernel
        .clone()
        .expect("kernel");
    assert_eq!(k.minor, Some(lab.minor("dns")));
    assert_eq!(k.peers[0].replication, ReplState::Established);
    let s = lab.observe("dom0m");
    assert_eq!(
        role_disk(&s, "dns"),
        (
            Role::Secondary,
            DiskState::UpToDate,
            ConnectionState::Connected,
            Role::Primary,
            DiskState::UpToDate
        )
    );

    // --- ovs: dual-primary
    for node in nodes {
        lab.ok(node, drbdcmd::create_md("ovs"));
        lab.ok(node, drbdcmd::up("ovs"));
    }
    lab.ok("dom0", drbdcmd::primary_force("ovs"));
    lab.ok("dom0m", drbdcmd::primary("ovs"));
    for node in nodes {
        assert_eq!(
            role_disk(&lab.observe(node), "ovs"),
            (
                Role::Primary,
                DiskState::UpToDate,
                ConnectionState::Connected,
                Role::Primary,
                DiskState::UpToDate
            )
        );
    }

    // --- OCFS2 on ovs, mounted on both
    let ovs_dev = format!("/dev/drbd{}", lab.minor("ovs"));
    for node in nodes {
        let o = lab.ok(node, argv(&["/etc/init.d/o2cb", "start"]));
        assert!(
            o.stdout
                .contains("Registering O2CB cluster \"ovscluster\": OK"),
            "{}",
            o.stdout
        );
        let o = lab.ok(node, argv(&["o2cb", "cluster-status"]));
        assert_eq!(o.stdout, "Cluster 'ovscluster' is online\n");
        assert!(
            lab.observe(node)
                .listening
                .known()
                .expect("ss")
                .contains(&7777),
            "o2net listens"
        );
    }
    let fs = &lab.v.desired.ocfs2[&name("ovscluster")].filesystems[0];
    lab.ok(
        "dom0",
        ocfs2::mkfs_ocfs2(&ovs_dev, fs.slots, &fs.label, "ovscluster"),
    );
    for node in nodes {
        let s = lab.observe(node);
        assert_eq!(
            s.filesystems[&ovs_dev].known(),
            Some(&Some("ocfs2".to_string())),
            "replicated to {node}"
        );
        lab.ok(node, argv(&["mkdir", "-p", &fs.mountpoint]));
        lab.ok(node, ocfs2::mount_ocfs2(&ovs_dev, &fs.mountpoint));
    }
    for node in nodes {
        let s = lab.observe_cluster_view(node);
        let o = s.ocfs2.known().expect("ocfs2");
        assert_eq!(o.mounts["/OVS"], (ovs_dev.clone(), "ocfs2".to_string()));
        let d = &o.devices[&ovs_dev];
        assert_eq!(d.label.as_deref(), Some("/OVS"));
        assert_eq!(d.cluster.as_deref(), Some("ovscluster"));
        assert_eq!(
            d.mounted_on.as_deref(),
            Some(&["dom0".to_string(), "dom0m".to_string()][..])
        );
        assert!(
            o.devices.contains_key("/dev/mapper/XEN-ovs"),
            "listed on the backing LV too"
        );
    }

    // --- the domain dns on dom0
    let o = lab.ok("dom0", xl::create(&render::xl::cfg_path(&name("dns"))));
    assert_eq!(o.stderr, "Parsing config from /etc/xen/dns.cfg\n");
    let s = lab.observe("dom0");
    let xen = s.xen.known().expect("xen");
    let d = &xen.domains["dns"];
    assert_eq!(d.domid, Some(1));
    assert_eq!(d.memory_mib, Some(512));
    assert_eq!(
        d.disks,
        [(
            format!("/dev/drbd{}", lab.minor("dns")),
            "xvda".to_string(),
            true
        )]
    );
    let mac = lab.v.allocation.macs[&name("dns")][0].value.to_string();
    assert_eq!(d.nics, [(Some(mac), Some("xenbr0".to_string()))]);
    assert_eq!(xen.free_memory_mib, Some(16384 - 512));
    let net = s.net.known().expect("net");
    assert_eq!(net.links["vif1.0"].master.as_deref(), Some("xenbr0"));
    assert!(lab
        .observe("dom0m")
        .xen
        .known()
        .expect("xen")
        .domains
        .is_empty());

    // Nothing broke an invariant, nothing destructive was attempted.
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
    // Every command was logged with its status.
    let log = lab.sim.log();
    assert!(log.iter().all(|e| e.status.is_some()));
    assert!(log
        .iter()
        .any(|e| e.node == "dom0" && e.argv.join(" ") == "drbdadm primary --force dns"));
}
