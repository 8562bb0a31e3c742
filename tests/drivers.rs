//! The drivers' parsers against real tool output (`tests/fixtures/`, copied verbatim from the
//! captures in the shared fixtures: lab nodes running Xen 4.17, DRBD 8.4.11, lvm2 2.03.16,
//! ocfs2-tools 1.8.7, iproute2 6.1), plus property tests that no parser panics on arbitrary or
//! mutated input. Fixtures whose first line starts with `# ` were written from documentation;
//! that line is stripped before parsing.

use std::path::Path;

use proptest::prelude::*;
use xenflux::drivers::drbd::dump_xml::{self, MetaDisk};
use xenflux::drivers::drbd::proc_drbd::{self, Pair};
use xenflux::drivers::drbd::{
    events2, status, ConnState, ConnectionState, DiskState, ReplState, Role,
};
use xenflux::drivers::lvm::{self, Lookup};
use xenflux::drivers::net::{self, BondMode, BondSlaveState, PortState, SlaveInfo};
use xenflux::drivers::ocfs2::{self, MountedOn, Stack};
use xenflux::drivers::ss::{self, ListenAddr};
use xenflux::drivers::xl;
use xenflux::drivers::xlcfg::{DiskAccess, DiskSpec, VifSpec, XlConfig};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // A fixture written from documentation says so in a leading "# " line.
    match text.strip_prefix("# ") {
        Some(rest) => rest
            .split_once('\n')
            .map_or(String::new(), |(_, body)| body.to_string()),
        None => text,
    }
}

// ---------------------------------------------------------------- LVM

#[test]
fn lvs_lab() {
    let lvs = lvm::parse_lvs(&fixture("lvs-2.03.16-lab.json")).unwrap();
    let names: Vec<_> = lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["dns", "meta", "ovs"]);
    assert!(lvs.iter().all(|l| l.vg == "XEN"));
    assert_eq!(lvs[0].size_bytes, 67_108_864);
    assert_eq!(lvs[1].size_bytes, 268_435_456); // two 128 MiB meta slots
    assert_eq!(lvs[0].tags, ["xenflux"]);
    assert!(lvs[1].tags.is_empty());
    assert_eq!(
        (lvs[2].attr.active(), lvs[2].attr.open()),
        (Some(true), Some(true))
    );
}

#[test]
fn vgs_lab() {
    let vgs = lvm::parse_vgs(&fixture("vgs-2.03.16-lab.json")).unwrap();
    assert_eq!(vgs.len(), 1);
    let vg = &vgs[0];
    assert_eq!(
        (
            vg.name.as_str(),
            vg.size_bytes,
            vg.free_bytes,
            vg.extent_size_bytes
        ),
        ("XEN", 1_069_547_520, 666_894_336, 4_194_304)
    );
    assert!(vg.tags.is_empty());
}

#[test]
fn lvs_without_device_mapper_and_with_suffix() {
    let lvs = lvm::parse_lvs(&fixture("lvs-2.03.16-nodm-suffix.json")).unwrap();
    let dns = lvs.iter().find(|l| l.name == "dns").unwrap();
    assert_eq!(dns.size_bytes, 4 << 30);
    assert_eq!(dns.tags, ["drbd_r0", "xen"]);
    assert_eq!((dns.attr.active(), dns.attr.open()), (None, None)); // "-wi-XX----"
    let vgs = lvm::parse_vgs(&fixture("vgs-2.03.16-nodm-suffix.json")).unwrap();
    assert_eq!(
        (vgs[0].name.as_str(), vgs[0].extent_size_bytes),
        ("vg0", 4 << 20)
    );
}

#[test]
fn lvs_not_found_is_not_an_error() {
    let skeleton = fixture("lvs-2.03.16-notfound.json");
    assert_eq!(lvm::parse_lvs(&skeleton).unwrap(), vec![]);
    let r = lvm::lvs_result(
        &skeleton,
        "  Failed to find logical volume \"vg0/nonexistent\"\n",
        5,
    )
    .unwrap();
    assert_eq!(
        r,
        Lookup::NotFound("Failed to find logical volume \"vg0/nonexistent\"".into())
    );
    let noise = "  /dev/mapper/control: open failed: No such device\n  Failure to communicate with kernel device-mapper driver.\n";
    let r = lvm::lvs_result(&fixture("lvs-2.03.16-nodm-suffix.json"), noise, 0).unwrap();
    assert!(matches!(r, Lookup::Found(v) if v.len() == 5));
}

// ---------------------------------------------------------------- /proc/drbd

#[test]
fn proc_drbd_connected() {
    let p = proc_drbd::parse(&fixture("proc-drbd-8.4.11-connected-primary.txt")).unwrap();
    assert_eq!(
        (p.version.as_str(), p.api.as_deref(), p.proto.as_deref()),
        ("8.4.11", Some("1"), Some("86-101"))
    );
    assert_eq!(p.build.as_deref(), Some("F73C670A7EC572DB9CF3E5B")); // trailing space dropped
    let [d0, d1] = p.devices.as_slice() else {
        panic!("two minors expected")
    };
    assert_eq!(
        (d0.minor, &d0.cs, d0.protocol, d0.flags.as_deref()),
        (0, &ConnState::Connected, Some('C'), Some("r-----"))
    );
    assert_eq!(
        d0.roles,
        Some(Pair {
            local: Role::Primary,
            peer: Role::Secondary
        })
    );
    assert_eq!(
        d0.disks,
        Some(Pair {
            local: DiskState::UpToDate,
            peer: DiskState::UpToDate
        })
    );
    assert_eq!(
        (d0.counter("ns"), d0.out_of_sync_kib()),
        (Some(65536), Some(0))
    );
    assert_eq!(
        d1.roles,
        Some(Pair {
            local: Role::Primary,
            peer: Role::Primary
        })
    ); // dual-primary ovs
    assert!(d0.sync.is_none());
}

#[test]
fn proc_drbd_sync_progress_with_thousands_commas() {
    let p = proc_drbd::parse(&fixture("proc-drbd-8.4.11-syncsource.txt")).unwrap();
    let d = &p.devices[0];
    assert_eq!(d.cs, ConnState::SyncSource);
    assert_eq!(
        d.disks,
        Some(Pair {
            local: DiskState::UpToDate,
            peer: DiskState::Inconsistent
        })
    );
    let s = d.sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.remaining_kib, s.total_kib),
        (29.5, 50704, 65536)
    );
    assert_eq!(
        (s.finish_secs, s.speed_kib_s, s.want_kib_s),
        (Some(13), Some(3708), None)
    );
    assert_eq!(p.devices[1].cs, ConnState::Connected);

    let t = proc_drbd::parse(&fixture("proc-drbd-8.4.11-synctarget.txt")).unwrap();
    let s = t.devices[0].sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.speed_kib_s, s.want_kib_s),
        (82.4, Some(4116), Some(4096))
    );

    let full = proc_drbd::parse(&fixture("proc-drbd-8.4.11-syncsource-100pct.txt")).unwrap();
    let s = full.devices[0].sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.remaining_kib, s.speed_kib_s),
        (100.0, 128, Some(0))
    );
}

#[test]
fn proc_drbd_standalone_has_no_protocol() {
    let p = proc_drbd::parse(&fixture("proc-drbd-8.4.11-standalone.txt")).unwrap();
    let d = &p.devices[0];
    assert_eq!(
        (&d.cs, d.protocol, d.flags.as_deref()),
        (&ConnState::StandAlone, None, Some("r-----"))
    );
    assert_eq!(
        d.roles,
        Some(Pair {
            local: Role::Primary,
            peer: Role::Unknown
        })
    );
    assert_eq!(
        d.disks.as_ref().map(|p| &p.peer),
        Some(&DiskState::DUnknown)
    );
    assert_eq!(
        d.cs.split(),
        Some((ConnectionState::StandAlone, ReplState::Off))
    );

    let w = proc_drbd::parse(&fixture("proc-drbd-8.4.11-wfconnection.txt")).unwrap();
    let d = &w.devices[0];
    assert_eq!((&d.cs, d.protocol), (&ConnState::WFConnection, Some('C')));
    assert_eq!(
        d.cs.split(),
        Some((ConnectionState::Connecting, ReplState::Off))
    );
}

#[test]
fn proc_drbd_before_first_primary_and_user_guide() {
    let p = proc_drbd::parse(&fixture("proc-drbd-8.4.11-inconsistent.txt")).unwrap();
    assert!(p.devices.iter().all(|d| d.disks
        == Some(Pair {
            local: DiskState::Inconsistent,
            peer: DiskState::Inconsistent
        })));
    assert_eq!(p.devices[0].out_of_sync_kib(), Some(65280));
    let g = proc_drbd::parse(&fixture("proc-drbd-8.4.0-userguide.txt")).unwrap();
    assert_eq!(
        (g.version.as_str(), g.build.as_deref()),
        ("8.4.0", Some("09b6d528b3b3de50462cd7831c0a3791abc665c3"))
    );
    assert_eq!(g.devices.len(), 3);
    assert_eq!(g.devices[1].flags.as_deref(), Some("r---"));
}

// ---------------------------------------------------------------- drbdadm status / events2 / JSON

#[test]
fn drbdadm_status_text() {
    let s = status::parse_text(&fixture("drbdadm-status-9.22-on-8.4.11-connected.txt")).unwrap();
    assert_eq!(
        s.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["dns", "ovs"]
    );
    assert_eq!(
        (s[0].role.clone(), s[0].devices[0].disk.clone()),
        (Role::Primary, DiskState::UpToDate)
    );
    let c = &s[0].connections[0];
    assert_eq!(
        (c.peer.as_deref(), &c.state, &c.peer_role),
        (Some("peer"), &ConnectionState::Connected, &Role::Secondary)
    );
    assert_eq!(c.peer_devices[0].replication, ReplState::Established);

    let s = status::parse_text(&fixture("drbdadm-status-9.22-on-8.4.11-standalone.txt")).unwrap();
    assert!(
        s[0].connections.is_empty(),
        "StandAlone prints no peer block"
    );
    assert_eq!(s[1].connections.len(), 1);

    let s = status::parse_text(&fixture("drbdadm-status-9.22-on-8.4.11-connecting.txt")).unwrap();
    assert_eq!(s[0].connections[0].state, ConnectionState::Connecting);
    assert!(s[0].connections[0].peer_devices.is_empty());

    let s = status::parse_text(&fixture("drbdadm-status-9.22-on-8.4.11-syncsource.txt")).unwrap();
    let p = &s[0].connections[0].peer_devices[0];
    assert_eq!(
        (&p.replication, &p.peer_disk, p.done_percent),
        (
            &ReplState::SyncSource,
            &DiskState::Inconsistent,
            Some(32.08)
        )
    );

    let v = status::parse_text(&fixture("drbdsetup-status-8.4-userguide-verbose.txt")).unwrap();
    assert_eq!(
        (v[0].suspended, v[0].devices[0].minor),
        (Some(false), Some(0))
    );
}

#[test]
fn events2_now() {
    let s = events2::parse_now(&fixture("drbdsetup-events2-9.22-on-8.4.11-connected.txt")).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[1].name.as_str(), s[1].devices[0].minor),
        ("ovs", Some(1))
    );
    assert_eq!(
        (
            s[0].connections[0].peer.as_deref(),
            s[0].connections[0].peer_node_id
        ),
        (Some("peer"), Some(0))
    );

    let s =
        events2::parse_now(&fixture("drbdsetup-events2-9.22-on-8.4.11-standalone.txt")).unwrap();
    let c = &s[0].connections[0];
    assert_eq!(
        (c.peer.as_deref(), &c.state),
        (None, &ConnectionState::StandAlone),
        "conn-name is missing when StandAlone"
    );
    assert_eq!(
        (&c.peer_devices[0].replication, &c.peer_devices[0].peer_disk),
        (&ReplState::Off, &DiskState::DUnknown)
    );

    let s =
        events2::parse_now(&fixture("drbdsetup-events2-9.22-on-8.4.11-connecting.txt")).unwrap();
    assert_eq!(
        (&s[0].connections[0].state, &s[0].connections[0].peer_role),
        (&ConnectionState::Connecting, &Role::Unknown)
    );

    let s =
        events2::parse_now(&fixture("drbdsetup-events2-9.22-on-8.4.11-synctarget.txt")).unwrap();
    assert_eq!(
        s[0].connections[0].peer_devices[0].replication,
        ReplState::SyncTarget
    );
    assert_eq!(s[0].devices[0].disk, DiskState::Inconsistent);

    let g = events2::parse_now(&fixture("drbdsetup-events2-8.4-userguide-statistics.txt")).unwrap();
    assert_eq!(
        g[0].devices.iter().map(|d| d.minor).collect::<Vec<_>>(),
        [Some(7), Some(8)]
    );
    assert_eq!(g[0].connections[0].peer_devices.len(), 2);
}

#[test]
fn events2_and_status_agree_on_the_same_node() {
    for (events, text) in [
        (
            "drbdsetup-events2-9.22-on-8.4.11-connected.txt",
            "drbdadm-status-9.22-on-8.4.11-connected.txt",
        ),
        (
            "drbdsetup-events2-9.22-on-8.4.11-connecting.txt",
            "drbdadm-status-9.22-on-8.4.11-connecting.txt",
        ),
    ] {
        let e = events2::parse_now(&fixture(events)).unwrap();
        let t = status::parse_text(&fixture(text)).unwrap();
        assert_eq!(e.len(), t.len());
        for (a, b) in e.iter().zip(&t) {
            assert_eq!(
                (&a.name, &a.role, &a.devices[0].disk),
                (&b.name, &b.role, &b.devices[0].disk)
            );
            assert_eq!(a.connections[0].state, b.connections[0].state);
        }
    }
}

#[test]
fn status_json_documented() {
    let s = status::parse_json(&fixture("drbdsetup-status-json-9.2-documented.json")).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].role.clone(), s[0].suspended, s[0].devices[0].minor),
        (Role::Primary, Some(false), Some(0))
    );
    let c = &s[0].connections[0];
    assert_eq!(
        (c.peer.as_deref(), c.peer_node_id, &c.peer_role),
        (Some("nodeb"), Some(1), &Role::Secondary)
    );
    assert_eq!(c.peer_devices[0].done_percent, Some(100.0));
    let p = &s[1].connections[0].peer_devices[0];
    assert_eq!(
        (&p.replication, p.done_percent),
        (&ReplState::SyncTarget, Some(42.19))
    );
    assert_eq!(
        s[1].device(0).map(|d| &d.disk),
        Some(&DiskState::Inconsistent)
    );
    assert_eq!(s[2].connections[0].state, ConnectionState::StandAlone);
}

// ---------------------------------------------------------------- dump-xml

#[test]
fn dump_xml_lab_84() {
    let c = dump_xml::parse(&fixture("drbdadm-dump-xml-9.22-84mode-lab.xml")).unwrap();
    assert_eq!(c.file.as_deref(), Some("/etc/drbd.conf"));
    assert!(c.common.is_empty());
    let [dns, ovs] = c.resources.as_slice() else {
        panic!("dns and ovs expected")
    };
    assert_eq!(dns.conf_file_line.as_deref(), Some("/etc/drbd.d/dns.res:1"));
    let a = dns.host("nodea").unwrap();
    let v = &a.volumes[0];
    assert_eq!(
        (v.vnr, v.minor, v.device.as_deref(), v.disk.as_deref()),
        (0, Some(0), Some("/dev/drbd0"), Some("/dev/XEN/dns"))
    );
    assert_eq!(
        v.meta_disk,
        Some(MetaDisk::Indexed {
            path: "/dev/XEN/meta".into(),
            index: 0
        })
    );
    let addr = a.address.as_ref().unwrap();
    assert_eq!(
        (addr.family.as_str(), addr.ip.as_str(), addr.port),
        ("ipv4", "169.254.77.1", 7788)
    );
    assert_eq!(
        dns.host("nodeb").unwrap().address.as_ref().unwrap().ip,
        "169.254.77.2"
    );
    assert!(dns.connections.is_empty(), "no <connection> in 8.4 mode");
    assert_eq!(
        (
            dns.option("net", "protocol"),
            dns.option("disk", "resync-rate")
        ),
        (Some("C"), Some("4M"))
    );
    assert_eq!(
        ovs.host("nodeb").unwrap().volumes[0].meta_disk,
        Some(MetaDisk::Indexed {
            path: "/dev/XEN/meta".into(),
            index: 1
        })
    );
    assert_eq!(ovs.option("net", "allow-two-primaries"), Some("yes"));
    assert_eq!(ovs.option("startup", "become-primary-on"), Some("both"));
    assert_eq!(
        ovs.host("nodea").unwrap().address.as_ref().unwrap().port,
        7789
    );
}

#[test]
fn dump_xml_drbd9_forms() {
    let c = dump_xml::parse(&fixture("drbdadm-dump-xml-9.22-9mode-mesh.xml")).unwrap();
    let r = &c.resources[0];
    assert_eq!(r.hosts.len(), 3);
    assert_eq!(r.connections.len(), 3, "connection-mesh of three hosts");
    assert_eq!(
        r.connections[2]
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["nodeB", "nodeC"]
    );
    let v = &r.host("nodeC").unwrap().volumes[0];
    assert_eq!(
        (v.minor, v.device.as_deref()),
        (Some(1), None),
        "device minor 1; gives an empty <device>"
    );
    assert_eq!(
        v.meta_disk,
        Some(MetaDisk::Flexible {
            path: "/dev/vg0/meta".into()
        })
    );

    let c = dump_xml::parse(&fixture("drbdadm-dump-xml-9.22-9mode-common.xml")).unwrap();
    assert_eq!(
        c.common.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["net", "disk"]
    );
    let minors: Vec<_> = c
        .resources
        .iter()
        .map(|r| r.hosts[0].volumes[0].minor)
        .collect();
    assert_eq!(minors, [Some(1), Some(2)]);
    let ports: Vec<_> = c
        .resources
        .iter()
        .map(|r| r.hosts[0].address.as_ref().map(|a| a.port))
        .collect();
    assert_eq!(ports, [Some(7792), Some(7793)]);

    let c = dump_xml::parse(&fixture("drbdadm-dump-xml-9.22-9mode-internal.xml")).unwrap();
    assert_eq!(
        c.resources[0].hosts[0].volumes[0].meta_disk,
        Some(MetaDisk::Internal)
    );
}

// ---------------------------------------------------------------- xl

#[test]
fn xl_list_long() {
    let doms = xl::parse_list_long(&fixture("xl-4.17-list-long.json")).unwrap();
    let [dom0, dns] = doms.as_slice() else {
        panic!("Domain-0 and dns expected")
    };
    assert_eq!(
        (dom0.domid, dom0.config.name.as_deref().unwrap_or("")),
        (Some(0), "Domain-0")
    );
    assert!(dom0.config.disks.is_empty() && dom0.config.nics.is_empty());
    assert_eq!(dom0.config.memory_mib(), Some(1023)); // target_memkb 1048575
    assert_eq!(
        dns.domid,
        Some(1),
        "the outer domid, not c_info.domid 4294967295"
    );
    let c = &dns.config;
    assert_eq!(
        (c.guest_type.as_deref(), c.max_vcpus, c.memory_mib()),
        (Some("pv"), Some(1), Some(192))
    );
    assert_eq!(
        c.uuid.as_deref(),
        Some("449b5617-23aa-4256-a42e-8a86c92be24e")
    );
    assert_eq!(
        (c.kernel.as_deref(), c.cmdline.as_deref()),
        (Some("/lab/vmlinuz"), Some("console=hvc0 quiet"))
    );
    let d = &c.disks[0];
    assert_eq!(
        (d.pdev_path.as_deref(), d.vdev.as_str(), d.format.as_deref()),
        (Some("/dev/drbd0"), "xvda", Some("raw"))
    );
    assert_eq!(
        (d.script.as_deref(), d.readwrite, d.backend.as_deref()),
        (Some("block-lab"), true, None)
    );
    let n = &c.nics[0];
    assert_eq!(
        (n.devid, n.mac.as_deref(), n.bridge.as_deref()),
        (Some(0), Some("00:16:3e:00:00:01"), Some("xenbr0"))
    );
    assert_eq!(
        (n.script.as_deref(), n.nictype.as_deref()),
        (None, Some("vif"))
    );
    assert_eq!(
        (c.on_reboot.as_deref(), c.on_poweroff.as_deref()),
        (Some("restart"), None)
    );

    let only = xl::parse_list_long(&fixture("xl-4.17-list-long-dom0-only.json")).unwrap();
    assert_eq!(only.len(), 1);
}

#[test]
fn xl_create_dry_run_matches_the_running_config() {
    let dry = xl::parse_create_dry_run(&fixture("xl-4.17-create-dry-run.json")).unwrap();
    let running = &xl::parse_list_long(&fixture("xl-4.17-list-long.json")).unwrap()[1].config;
    assert_eq!(
        (&dry.name, &dry.disks, &dry.nics[0].mac),
        (&running.name, &running.disks, &running.nics[0].mac)
    );
}

#[test]
fn xl_list_table_and_info() {
    let l = xl::parse_list(&fixture("xl-4.17-list.txt")).unwrap();
    assert_eq!(
        (l[0].name.as_str(), l[0].domid, l[0].mem_mib, l[0].vcpus),
        ("Domain-0", 0, 1024, 1)
    );
    assert!(l[0].state.running && !l[0].state.blocked);
    assert_eq!(
        (l[1].name.as_str(), l[1].domid, l[1].mem_mib, l[1].time_secs),
        ("dns", 1, 192, 9.5)
    );
    assert!(l[1].state.blocked);

    let i = xl::parse_info(&fixture("xl-4.17-info.txt")).unwrap();
    assert_eq!(
        (i.host(), i.xen_version().as_deref(), i.nr_cpus()),
        (Some("nodea"), Some("4.17.5"), Some(1))
    );
    assert_eq!(
        (i.total_memory_mib(), i.free_memory_mib()),
        (Some(2047), Some(808))
    );
    assert_eq!(i.get("xen_changeset"), Some(""));
    assert_eq!(i.get("hw_caps").map(|v| v.matches(':').count()), Some(7));
}

#[test]
fn xl_cfg_round_trips_and_agrees_with_xl() {
    let text = fixture("xl-4.17-dns.cfg");
    let cfg = XlConfig::parse(&text).unwrap();
    assert_eq!(
        cfg.to_string(),
        text,
        "the lab config renders back byte for byte"
    );
    let disks = cfg.get("disk").unwrap();
    let disk = DiskSpec::parse(disks.as_str_list().unwrap()[0]).unwrap();
    let vifs = cfg.get("vif").unwrap();
    let vif = VifSpec::parse(vifs.as_str_list().unwrap()[0]).unwrap();
    let running = &xl::parse_list_long(&fixture("xl-4.17-list-long.json")).unwrap()[1].config;
    assert_eq!(disk.target, running.disks[0].pdev_path);
    assert_eq!(
        (disk.vdev.as_str(), &disk.script),
        (running.disks[0].vdev.as_str(), &running.disks[0].script)
    );
    assert_eq!(disk.access, Some(DiskAccess::ReadWrite));
    assert_eq!(
        (vif.mac.as_ref(), vif.bridge.as_ref()),
        (
            running.nics[0].mac.as_ref(),
            running.nics[0].bridge.as_ref()
        )
    );
    assert_eq!(
        cfg.get_i64("memory").map(|m| m as u64),
        running.memory_mib()
    );

    let other = fixture("xl-cfg-xen-drbd-install-dns.cfg");
    let cfg = XlConfig::parse(&other).unwrap();
    assert_eq!(cfg.to_string(), other);
    let d = DiskSpec::parse(cfg.get("disk").unwrap().as_str_list().unwrap()[0]).unwrap();
    assert_eq!(
        d,
        DiskSpec::phy("/dev/drbd1", "xvda", DiskAccess::ReadWrite)
    );
}

// ---------------------------------------------------------------- net

#[test]
fn ip_link_bond_bridge_and_vif() {
    let links = net::parse_ip_link(&fixture("ip-6.1.0-link-bond-bridge-vif.json")).unwrap();
    let by = |n: &str| links.iter().find(|l| l.ifname == n).unwrap();
    let bond = by("bond0");
    let b = bond.bond.as_ref().unwrap();
    assert_eq!(
        (&b.mode, b.miimon, b.active_slave.as_deref()),
        (&BondMode::ActiveBackup, Some(100), Some("dummy0"))
    );
    assert_eq!(
        (b.xmit_hash_policy.as_deref(), b.lacp_rate.as_deref()),
        (Some("layer2"), Some("slow"))
    );
    assert_eq!(
        bond.master.as_deref(),
        Some("xenbr0"),
        "the bond is a bridge port"
    );
    assert!(matches!(
        &bond.slave,
        Some(SlaveInfo::Bridge {
            state: PortState::Forwarding,
            cost: Some(100),
            ..
        })
    ));
    assert!(matches!(
        &by("dummy0").slave,
        Some(SlaveInfo::Bond {
            state: BondSlaveState::Active,
            ..
        })
    ));
    assert!(matches!(
        &by("dummy1").slave,
        Some(SlaveInfo::Bond {
            state: BondSlaveState::Backup,
            ..
        })
    ));
    assert_eq!(by("dummy1").master.as_deref(), Some("bond0"));
    let br = by("xenbr0");
    let i = br.bridge.as_ref().unwrap();
    assert!(i.stp);
    assert_eq!(
        (
            i.forward_delay_cs,
            i.hello_time_cs,
            i.max_age_cs,
            i.priority
        ),
        (Some(1500), Some(200), Some(2000), Some(32768))
    );
    assert_eq!(
        i.bridge_id.unwrap().to_string(),
        "8000.0a662554b95c",
        "from 8000.a:66:25:54:b9:5c"
    );
    assert_eq!(i.root_id, i.bridge_id);
    assert!(br.is_up());
    let vif = by("vif1.0");
    assert_eq!(vif.kind, None, "linkinfo of a vif has no info_kind");
    assert!(matches!(
        &vif.slave,
        Some(SlaveInfo::Bridge {
            state: PortState::Disabled,
            ..
        })
    ));
    assert_eq!(vif.operstate.as_deref(), Some("DOWN"));
    assert_eq!(
        (by("lo").kind.clone(), by("eth0").slave.clone()),
        (None, None)
    );

    let b = net::parse_ip_link(&fixture("ip-6.1.0-link-bond-bridge.json")).unwrap();
    let br = b.iter().find(|l| l.ifname == "xenbr0").unwrap();
    assert_eq!(
        br.bridge.as_ref().unwrap().bridge_id.unwrap().to_string(),
        "8000.f2f0bf850563",
        "from 8000.f2:f0:bf:85:5:63"
    );
}

#[test]
fn bridge_link_ports() {
    let p = net::parse_bridge_link(&fixture("bridge-6.1.0-link.json")).unwrap();
    let states: Vec<_> = p
        .iter()
        .map(|p| (p.ifname.as_str(), p.state.clone(), p.master.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("bond0", PortState::Forwarding, Some("xenbr0")),
            ("vif1.0", PortState::Disabled, Some("xenbr0"))
        ]
    );
    assert_eq!(
        (p[0].ifindex, p[0].priority, p[0].cost),
        (3, Some(32), Some(100))
    );
}

#[test]
fn proc_net_bonding() {
    let b = net::parse_bonding(&fixture("proc-net-bonding-6.1-active-backup.txt")).unwrap();
    assert_eq!(b.driver_version, "v6.1.0-56-amd64");
    assert_eq!(
        (
            &b.mode,
            b.primary_slave.as_deref(),
            b.active_slave.as_deref()
        ),
        (&BondMode::ActiveBackup, None, Some("dummy0"))
    );
    assert_eq!(
        (b.mii_status.as_deref(), b.miimon_ms),
        (Some("up"), Some(100))
    );
    let names: Vec<_> = b.slaves.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dummy0", "dummy1"]);
    let s = &b.slaves[1];
    assert_eq!(
        (
            s.speed.as_deref(),
            s.duplex.as_deref(),
            s.link_failure_count
        ),
        (Some("Unknown"), Some("Unknown"), Some(0))
    );
    assert_eq!(s.perm_hwaddr.as_deref(), Some("e2:69:07:e6:46:22"));
}

// ---------------------------------------------------------------- OCFS2, mounts, blkid, ss

#[test]
fn mounted_ocfs2_lab_lists_the_filesystem_twice() {
    let d = ocfs2::parse_mounted_detect(&fixture("mounted-ocfs2-1.8.7-d-lab.txt")).unwrap();
    let devs: Vec<_> = d.iter().map(|v| v.device.as_str()).collect();
    assert_eq!(
        devs,
        ["/dev/mapper/XEN-ovs", "/dev/drbd1"],
        "backing LV and DRBD device"
    );
    assert!(d.iter().all(
        |v| v.uuid.as_deref() == Some("ABF1D053DFDF4EC88499A73753ACE4D5")
            && v.label.as_deref() == Some("OVS")
    ));
    assert_eq!(
        (&d[1].stack, d[1].cluster.as_deref(), d[1].flags.as_str()),
        (&Stack::O2cb, Some("ovscluster"), "")
    );
    let f = ocfs2::parse_mounted_full(&fixture("mounted-ocfs2-1.8.7-f-lab.txt")).unwrap();
    assert_eq!(
        f[1].mounted_on,
        MountedOn::Nodes(vec!["nodea".into(), "nodeb".into()])
    );
}

#[test]
fn mounted_ocfs2_blank_columns() {
    let d = ocfs2::parse_mounted_detect(&fixture("mounted-ocfs2-1.8.7-d-global-and-blank.txt"))
        .unwrap();
    assert_eq!(
        (
            d[0].cluster.as_deref(),
            d[0].flags.as_str(),
            d[0].label.as_deref()
        ),
        (Some("ovscluster"), "G", Some("/OVS"))
    );
    assert_eq!(
        (
            d[1].cluster.as_deref(),
            d[1].flags.as_str(),
            d[1].label.as_deref()
        ),
        (None, "", Some("vmstore"))
    );
    let f =
        ocfs2::parse_mounted_full(&fixture("mounted-ocfs2-1.8.7-f-global-and-blank.txt")).unwrap();
    assert!(f.iter().all(|m| m.mounted_on == MountedOn::NotMounted));
    assert_eq!(f[1].cluster, None);
    let l = ocfs2::parse_mounted_detect(&fixture("mounted-ocfs2-1.8.7-d-local.txt")).unwrap();
    assert_eq!(
        (&l[0].stack, l[0].cluster.as_deref(), l[0].label.as_deref()),
        (&Stack::Local, None, Some("localfs"))
    );
    assert!(
        ocfs2::parse_mounted_detect(&fixture("mounted-ocfs2-1.8.7-d-none.txt"))
            .unwrap()
            .is_empty()
    );
    let m = ocfs2::parse_mounted_full(&fixture("mounted-ocfs2-1.8.7-f-manpage.txt")).unwrap();
    assert_eq!(
        (&m[0].stack, &m[0].mounted_on),
        (&Stack::Local, &MountedOn::Unknown)
    );
    assert_eq!(m[3].mounted_on, MountedOn::NotMounted);
    assert_eq!(
        m[4].mounted_on,
        MountedOn::Nodes(vec!["node1".into(), "node3".into(), "node10".into()])
    );
}

#[test]
fn cluster_conf_variants() {
    let c = ocfs2::parse_cluster_conf(&fixture("ocfs2-cluster-conf-1.8.7-lab.conf")).unwrap();
    assert_eq!(
        (
            c.clusters[0].name.as_str(),
            c.clusters[0].node_count,
            c.clusters[0].heartbeat_mode.as_deref()
        ),
        ("ovscluster", Some(2), None)
    );
    let n: Vec<_> = c
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.number,
                n.ip_address.as_str(),
                n.ip_port,
                n.cluster.as_str(),
            )
        })
        .collect();
    assert_eq!(
        n,
        [
            ("nodea", 0, "169.254.77.1", 7777, "ovscluster"),
            ("nodeb", 1, "169.254.77.2", 7777, "ovscluster")
        ]
    );
    let w =
        ocfs2::parse_cluster_conf(&fixture("ocfs2-cluster-conf-1.8.7-o2cb-written.conf")).unwrap();
    assert_eq!(
        (w.clusters[0].heartbeat_mode.as_deref(), w.nodes.len()),
        (Some("local"), 3)
    );
    let h =
        ocfs2::parse_cluster_conf(&fixture("ocfs2-cluster-conf-1.8.7-hand-spaces.conf")).unwrap();
    assert_eq!(
        (
            h.clusters[0].name.as_str(),
            h.nodes[0].name.as_str(),
            h.nodes[0].cluster.as_str()
        ),
        ("ovs", "nodeA", "ovs")
    );
    let u = ocfs2::parse_cluster_conf("cluster:\n\tname = x\n\tfuture_key = 1\nfancy:\n\ta = b\n")
        .unwrap();
    assert_eq!(
        u.clusters[0].other,
        [("future_key".to_string(), "1".to_string())]
    );
    assert_eq!(u.unknown[0].0, "fancy");
}

#[test]
fn proc_mounts_blkid_and_ss() {
    let m = ocfs2::parse_proc_mounts(&fixture("proc-mounts-6.1-lab.txt")).unwrap();
    let ovs = m.iter().find(|m| m.target == "/OVS").unwrap();
    assert_eq!(
        (ovs.source.as_str(), ovs.fstype.as_str()),
        ("/dev/drbd1", "ocfs2")
    );
    assert!(
        ovs.options.iter().any(|o| o == "cluster_stack=o2cb")
            && ovs.options.iter().any(|o| o == "_netdev")
    );

    let b = ocfs2::blkid_result(&fixture("blkid-2.38.1-export-ocfs2.txt"), 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.fs_type(), b.get("LABEL"), b.get("DEVNAME")),
        (Some("ocfs2"), Some("/OVS"), Some("/dev/loop1"))
    );
    assert_eq!(b.get("UUID"), Some("4f0e8533-f877-4f05-9f45-96d7645669e7"));
    let e =
        ocfs2::parse_blkid_export(&fixture("blkid-2.38.1-p-export-ext4-label-space.txt")).unwrap();
    assert_eq!(
        (e[0].get("LABEL"), e[0].get("USAGE")),
        (Some("my lab"), Some("filesystem"))
    );

    let l = ss::parse(&fixture("ss-6.1.0-htln-lab.txt")).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(
        (l[0].addr.clone(), l[0].port),
        (ListenAddr::Ip("169.254.77.1".parse().unwrap()), 7777)
    );
    assert_eq!(
        (l[1].addr.clone(), l[1].port),
        (ListenAddr::Ip("0.0.0.0".parse().unwrap()), 22)
    );
    assert_eq!((l[2].addr.clone(), l[2].port), (ListenAddr::Any, 22));
    assert!(
        !l.iter().any(|l| l.port == 7788 || l.port == 7789),
        "connected DRBD 8.4 does not listen"
    );
}

// ---------------------------------------------------------------- no panics, ever

const FIXTURES: &[&str] = &[
    "proc-drbd-8.3.13-mixed.txt",
    "proc-drbd-8.3.11-nul-after-flags.txt",
    "lvs-2.03.16-lab.json",
    "vgs-2.03.16-lab.json",
    "lvs-2.03.16-nodm-suffix.json",
    "proc-drbd-8.4.11-syncsource.txt",
    "proc-drbd-8.4.11-standalone.txt",
    "drbdadm-status-9.22-on-8.4.11-syncsource.txt",
    "drbdsetup-events2-9.22-on-8.4.11-standalone.txt",
    "drbdsetup-events2-8.4-userguide-statistics.txt",
    "drbdsetup-status-json-9.2-documented.json",
    "drbdadm-dump-xml-9.22-84mode-lab.xml",
    "drbdadm-dump-xml-9.22-9mode-mesh.xml",
    "xl-4.17-list-long.json",
    "xl-4.17-list.txt",
    "xl-4.17-info.txt",
    "xl-4.4-info-no-xen-version.txt",
    "xl-4.17-dns.cfg",
    "ip-6.1.0-link-bond-bridge-vif.json",
    "bridge-6.1.0-link.json",
    "proc-net-bonding-6.1-active-backup.txt",
    "mounted-ocfs2-1.8.7-d-global-and-blank.txt",
    "mounted-ocfs2-1.8.7-f-lab.txt",
    "mounted-ocfs2-1.8.7-f-heartbeat-and-errors.txt",
    "mounted-ocfs2-1.8.7-d-unlabelled-multibyte.txt",
    "ocfs2-cluster-conf-1.8.7-lab.conf",
    "proc-mounts-6.1-lab.txt",
    "blkid-2.38.1-p-export-ext4-label-space.txt",
    "ss-6.1.0-htln-lab.txt",
    "drbdsetup-show-8.4.11-lab.txt",
    "drbdsetup-show-9-two-resources.txt",
    "xl-4.17-list-shutdown.txt",
    "xl-4.17-list-long-shutdown.json",
    "xl-4.17-list-crashed-kept.txt",
    "xl-4.17-list-long-crashed-nameless.json",
    "lvs-2.03.16-lab-snapshot-attached.json",
    "lvs-2.03.16-lab-snapshot-invalid.json",
    "xl-4.17-block-list-two-snapshots.txt",
];

/// Runs every parser on `input`; the results do not matter, only that none panics.
fn run_all_parsers(input: &str) {
    let _ = lvm::parse_lvs(input);
    let _ = lvm::parse_vgs(input);
    let _ = xl::parse_block_list(input);
    let _ = lvm::lvs_result(input, input, 5);
    let _ = proc_drbd::parse(input);
    let _ = status::parse_text(input);
    let _ = status::parse_json(input);
    let _ = events2::parse_now(input);
    let _ = dump_xml::parse(input);
    let _ = xenflux::drivers::drbd::show::parse(input);
    let _ = xl::parse_list_long(input);
    let _ = xl::parse_create_dry_run(input);
    let _ = xl::parse_list(input);
    let _ = xl::parse_info(input);
    if let Ok(c) = XlConfig::parse(input) {
        // Whatever parses must render to something that parses back to the same value.
        assert_eq!(
            XlConfig::parse(&c.to_string()).as_ref(),
            Ok(&c),
            "{input:?}"
        );
    }
    for line in input.lines().take(20) {
        if let Ok(d) = DiskSpec::parse(line) {
            assert_eq!(DiskSpec::parse(&d.to_string()).as_ref(), Ok(&d), "{line:?}");
        }
        if let Ok(v) = VifSpec::parse(line) {
            assert_eq!(VifSpec::parse(&v.to_string()).as_ref(), Ok(&v), "{line:?}");
        }
        let _ = net::BridgeId::parse(line);
    }
    let _ = net::parse_ip_link(input);
    let _ = net::parse_bridge_link(input);
    let _ = net::parse_bonding(input);
    let _ = ocfs2::parse_mounted_detect(input);
    let _ = ocfs2::parse_mounted_full(input);
    let _ = ocfs2::parse_cluster_conf(input);
    let _ = ocfs2::parse_proc_mounts(input);
    let _ = ocfs2::parse_blkid_export(input);
    let _ = ss::parse(input);
}

/// One edit of a fixture: delete, insert, replace, duplicate a line, or truncate, at a char
/// position (so the result stays valid UTF-8).
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
    DuplicateLine(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        "\\PC{0,6}",
        Just(",".to_string()),
        Just("\n".to_string()),
        Just(":".to_string()),
        Just("\"".to_string()),
        Just("]".to_string()),
        Just("<".to_string()),
        Just("\t".to_string()),
        Just("é".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), text.clone()).prop_map(|(p, s)| Edit::Insert(p, s)),
        (any::<usize>(), text).prop_map(|(p, s)| Edit::Replace(p, s)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Delete(p, n) => {
                let from = at(*p, chars.len());
                let to = (from + n).min(chars.len());
                chars.drain(from..to);
            }
            Edit::Insert(p, s) => {
                let i = at(*p, chars.len());
                chars.splice(i..i, s.chars());
            }
            Edit::Replace(p, s) => {
                let i = at(*p, chars.len());
                let to = (i + s.chars().count()).min(chars.len());
                chars.splice(i..to, s.chars());
            }
            Edit::DuplicateLine(p) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = p % lines.len();
                    let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    v.insert(i, lines[i].to_string());
                    chars = (v.join("\n") + "\n").chars().collect();
                }
            }
            Edit::Truncate(p) => chars.truncate(at(*p, chars.len())),
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,400}") {
        run_all_parsers(&s);
    }

    #[test]
    fn parsers_never_panic_on_line_noise(lines in prop::collection::vec("[ \\t]{0,6}[A-Za-z0-9:/=,.\\[\\]'\"#%*-]{0,30}( [A-Za-z0-9:/=,.-]{0,20}){0,6}", 0..12)) {
        run_all_parsers(&lines.join("\n"));
    }

    #[test]
    fn parsers_never_panic_on_mutated_fixtures(i in 0..FIXTURES.len(), edits in prop::collection::vec(edit(), 1..6)) {
        let base = fixture(FIXTURES[i]);
        run_all_parsers(&apply(&base, &edits));
    }
}

#[test]
fn every_fixture_parses_with_its_parser_and_survives_the_others() {
    for name in FIXTURES {
        run_all_parsers(&fixture(name));
    }
}

#[test]
fn ip_addr_json_lists_addresses_per_interface() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ip-6.1.0-addr-host.json"),
    )
    .unwrap();
    let addrs = xenflux::drivers::net::parse_ip_addr(&text).unwrap();
    let lo = addrs.iter().find(|(n, _)| n == "lo").unwrap();
    assert_eq!(lo.1, vec!["127.0.0.1/8".to_string(), "::1/128".to_string()]);
    assert!(xenflux::drivers::net::parse_ip_addr("[{\"addr_info\":[]}]").is_err());
    assert!(xenflux::drivers::net::parse_ip_addr("{").is_err());
}

#[test]
fn proc_drbd_minors_of_two_and_three_digits_are_not_indented() {
    // DRBD prints the minor with "%2d:", so from 10 on the line starts with the digits.
    let text = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n 9: cs:Connected ro:Secondary/Secondary ds:UpToDate/UpToDate C r-----\n    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n10: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----\n    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n254: cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown   r-----\n    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n";
    let pd = proc_drbd::parse(text).unwrap();
    let minors: Vec<u32> = pd.devices.iter().map(|d| d.minor).collect();
    assert_eq!(minors, vec![9, 10, 254]);
    assert_eq!(pd.devices[1].cs, ConnState::WFConnection);
    assert!(proc_drbd::parse("version: 8.4.11 (api:1/proto:86-101)\nbogus line\n").is_err());
}

#[test]
fn drbdsetup_show_tells_which_resources_the_kernel_lets_be_primary_twice() {
    use xenflux::drivers::drbd::show;
    let shown = show::parse(&fixture("drbdsetup-show-8.4.11-lab.txt")).unwrap();
    assert_eq!(
        shown,
        [
            show::Shown {
                name: "dns".into(),
                allow_two_primaries: false
            },
            show::Shown {
                name: "ovs".into(),
                allow_two_primaries: true
            },
        ]
    );
}

#[test]
fn drbdsetup_show_of_drbd9_quotes_names_and_values() {
    // DRBD 9 prints `resource "dns" {` and keeps the net options per connection; a quoted value
    // may hold `#`, `;`, braces and escaped quotes. Before, the quotes stayed in the name, no
    // resource matched, and the kernel's allow-two-primaries was silently unknown on DRBD 9.
    use xenflux::drivers::drbd::show;
    let shown = show::parse(&fixture("drbdsetup-show-9-two-resources.txt")).unwrap();
    assert_eq!(
        shown,
        [
            show::Shown {
                name: "dns".into(),
                allow_two_primaries: false
            },
            show::Shown {
                name: "ovs".into(),
                allow_two_primaries: true
            },
        ]
    );
    // 8.4 bare and 9 quoted names read the same; an escaped quote is part of the word.
    let one = |t: &str| show::parse(t).map(|v| v.into_iter().map(|s| s.name).collect::<Vec<_>>());
    assert_eq!(one("resource \"a\\\"b\" {\n}\n").unwrap(), ["a\"b"]);
    assert_eq!(
        one("resource r0 {\n net { allow-two-primaries \"yes\"; }\n}\n").unwrap(),
        ["r0"]
    );
    assert!(
        show::parse("resource \"dns {\n}\n").is_err(),
        "unclosed quote"
    );
    assert!(show::parse("resource \"dns\" {\n").is_err());
}

#[test]
fn mounted_ocfs2_full_heartbeat_numbers_and_unreadable_volumes() {
    // Before, "Heartbeat device" and an error message were read as node names.
    use xenflux::drivers::ocfs2::MountNode;
    let f = ocfs2::parse_mounted_full(&fixture("mounted-ocfs2-1.8.7-f-heartbeat-and-errors.txt"))
        .unwrap();
    let got: Vec<(&str, &MountedOn)> = f
        .iter()
        .map(|m| (m.device.as_str(), &m.mounted_on))
        .collect();
    assert_eq!(
        got,
        [
            ("/dev/mapper/XEN-hb1", &MountedOn::HeartbeatDevice),
            (
                "/dev/drbd1",
                &MountedOn::Nodes(vec![
                    MountNode::Name("dom0".into()),
                    MountNode::Number(3),
                    MountNode::Unknown
                ])
            ),
            ("/dev/drbd2", &MountedOn::Unreadable(None)),
            ("/dev/drbd3", &MountedOn::NotMounted),
            (
                "/dev/drbd4",
                &MountedOn::Unreadable(Some("Bad checksum in inode alloc".into()))
            ),
            (
                "/dev/drbd5",
                &MountedOn::Nodes(vec!["dom0".into(), "dom0m".into()])
            ),
        ]
    );
    assert!(f.iter().all(|m| m.cluster.as_deref() == Some("ovscluster")));
}

#[test]
fn mounted_ocfs2_detect_unlabelled_multibyte_and_blank_uuid() {
    let d = ocfs2::parse_mounted_detect(&fixture("mounted-ocfs2-1.8.7-d-unlabelled-multibyte.txt"))
        .unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(
        (d[0].uuid.as_deref(), d[0].label.as_deref()),
        (Some("4C53C13D6E35460597C7C1513FA5DB04"), None)
    );
    // printf pads by bytes: the columns after a multibyte device name are where the header says.
    assert_eq!(
        (
            d[1].device.as_str(),
            &d[1].stack,
            d[1].cluster.as_deref(),
            d[1].flags.as_str(),
            d[1].label.as_deref()
        ),
        (
            "/dev/disk/by-id/vé",
            &Stack::O2cb,
            Some("ovscluster"),
            "G",
            Some("vmstore")
        )
    );
    assert_eq!(
        (d[2].uuid.as_deref(), d[2].label.as_deref()),
        (None, Some("blank"))
    );
    // A cut inside a multibyte character never panics, wherever the header puts the columns.
    for pad in 0..6 {
        let header = format!("Device{}  Stack  Cluster  F  Nodes\n", " ".repeat(pad));
        for row in ["ééééééééééééééééééé", "/dev/€€€  o2cb  ", "€"] {
            let _ = ocfs2::parse_mounted_full(&format!("{header}{row}\n"));
            let _ = ocfs2::parse_mounted_detect(&format!(
                "Device{}  Stack  Cluster  F  UUID  Label\n{row}\n",
                " ".repeat(pad)
            ));
        }
    }
}

#[test]
fn proc_drbd_83_layout_with_verbose_details() {
    let pd = proc_drbd::parse(&fixture("proc-drbd-8.3.13-mixed.txt")).unwrap();
    assert_eq!(pd.version, "8.3.13");
    assert_eq!(
        (pd.api.as_deref(), pd.proto.as_deref()),
        (Some("88"), Some("86-96"))
    );
    assert_eq!(
        pd.build.as_deref(),
        Some("83ca112086600faacab2f157bc5a9324f7bd7f77")
    );
    let minors: Vec<u32> = pd.devices.iter().map(|d| d.minor).collect();
    assert_eq!(minors, [0, 1, 2, 4, 5, 6, 7]);
    let d1 = &pd.devices[1];
    assert_eq!(d1.flags.as_deref(), Some("r----"), "8.3 prints five flags");
    assert_eq!(
        d1.roles,
        Some(Pair {
            local: Role::Secondary,
            peer: Role::Primary
        })
    );
    assert_eq!(pd.devices[2].cs, ConnState::Unconfigured);
    let standalone = &pd.devices[4];
    assert_eq!(
        (standalone.cs.clone(), standalone.protocol),
        (ConnState::StandAlone, None)
    );
    assert_eq!(
        pd.devices[5].disks.as_ref().map(|d| d.local.clone()),
        Some(DiskState::Diskless)
    );
    // A bar counted in M with `finish:` on the same line, then proc_details lines.
    let s = pd.devices[6].sync.as_ref().unwrap();
    assert_eq!(s.percent, 11.6);
    assert_eq!((s.remaining_kib, s.total_kib), (9060 * 1024, 10236 * 1024));
    assert_eq!((s.finish_secs, s.speed_kib_s), (Some(303), Some(30_612)));
}

#[test]
fn proc_drbd_tolerates_a_nul_after_the_flags_and_trailing_blanks() {
    // Before, the NUL made the flags an "unexpected word" and the whole DRBD part unknown.
    let pd = proc_drbd::parse(&fixture("proc-drbd-8.3.11-nul-after-flags.txt")).unwrap();
    assert_eq!(pd.devices.len(), 2);
    assert_eq!(pd.devices[0].flags.as_deref(), Some("r---"));
    assert_eq!(pd.devices[0].counter("oos"), Some(0));
    assert_eq!(pd.devices[1].cs, ConnState::WFConnection);
    // The same junk anywhere on the 8.4 lab capture changes nothing.
    let clean = fixture("proc-drbd-8.4.11-connected-primary.txt");
    let junk = clean
        .replace(" r-----", " r-----\0\r")
        .replace('\n', " \u{1}\n");
    assert_eq!(
        proc_drbd::parse(&junk).unwrap(),
        proc_drbd::parse(&clean).unwrap()
    );
}

#[test]
fn xl_info_of_older_xen_derives_the_version_from_major_minor_extra() {
    // Xen before 4.5 prints no xen_version line; before, the version was silently unknown.
    let i = xl::parse_info(&fixture("xl-4.4-info-no-xen-version.txt")).unwrap();
    assert_eq!(i.get("xen_version"), None);
    assert_eq!(i.xen_version().as_deref(), Some("4.4.1"));
    assert_eq!(
        (i.total_memory_mib(), i.free_memory_mib()),
        (Some(16381), Some(7931))
    );
    let info = |t: &str| xl::parse_info(t).unwrap();
    assert_eq!(
        info("xen_major : 4\nxen_minor : 1\nxen_extra : -rc\n")
            .xen_version()
            .as_deref(),
        Some("4.1-rc")
    );
    assert_eq!(
        info("xen_major : 4\nxen_minor : 1\nxen_extra :\nxen_version :\n")
            .xen_version()
            .as_deref(),
        Some("4.1")
    );
    assert_eq!(info("xen_major : 4\n").xen_version(), None);
    // Memory that is missing, blank, negative or beyond u64 is unknown, not zero.
    let odd = info("total_memory : 99999999999999999999999\nfree_memory : -5\nnr_cpus :\n");
    assert_eq!(
        (odd.total_memory_mib(), odd.free_memory_mib(), odd.nr_cpus()),
        (None, None, None)
    );
}

#[test]
fn xl_lists_a_domain_kept_after_a_crash_without_a_name() {
    let rows = xl::parse_list(&fixture("xl-4.17-list-crashed-kept.txt")).unwrap();
    let kept = &rows[2];
    assert_eq!(
        (kept.name.as_str(), kept.domid, kept.mem_mib),
        (xl::NO_NAME, 7, 512)
    );
    assert_eq!(kept.state.to_string(), "--p--d");
    assert!(kept.state.paused && kept.state.dying);
    // Before, a c_info without a name failed the whole listing.
    let long = xl::parse_list_long(&fixture("xl-4.17-list-long-crashed-nameless.json")).unwrap();
    assert_eq!(long.len(), 3);
    assert_eq!(
        (long[2].domid, long[2].config.name.as_deref()),
        (Some(7), None)
    );
    assert_eq!(long[2].config.memory_mib(), Some(512));
    assert_eq!(long[1].config.name.as_deref(), Some("dns"));
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    // The XML library recurses per element: 20,000 levels overflowed the stack (an abort that
    // no caller can catch). Every parser of nested text must bound its depth.
    let depth = 100_000;
    let xml = "<config>".to_string() + &"<a>".repeat(depth) + &"</a>".repeat(depth) + "</config>";
    assert!(dump_xml::parse(&xml)
        .unwrap_err()
        .message
        .contains("nested"));
    let json = "[".repeat(depth) + &"]".repeat(depth);
    for parse in [
        |s: &str| status::parse_json(s).is_err(),
        |s: &str| xl::parse_list_long(s).is_err(),
        |s: &str| lvm::parse_lvs(s).is_err(),
        |s: &str| net::parse_ip_link(s).is_err(),
    ] {
        assert!(parse(&json));
    }
    let braces = "resource r {\n".to_string() + &"x {\n".repeat(depth) + &"}\n".repeat(depth + 1);
    assert!(xenflux::drivers::drbd::show::parse(&braces).is_err());
    let _ = XlConfig::parse(&("disk = ".to_string() + &"[".repeat(depth) + &"]".repeat(depth)));
}

#[test]
fn mounted_ocfs2_a_line_of_many_glued_rows_stays_linear() {
    let row = "/dev/drbd2  o2cb   ovscluster  G  ";
    let header = "Device      Stack  Cluster     F  Nodes\n";
    let few = format!("{header}{}Not mounted\n", row.repeat(3));
    assert_eq!(ocfs2::parse_mounted_full(&few).map(|r| r.len()), Ok(3));
    let many = format!("{header}{}Not mounted\n", row.repeat(20_000));
    let start = std::time::Instant::now();
    assert!(ocfs2::parse_mounted_full(&many).is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}

// ------------------------------------------- captures from other projects (Ganeti test/data)

/// One line per minor: `MINOR CS LOCAL/PEER-ROLE LOCAL/PEER-DISK PROTOCOL FLAGS`.
fn proc_drbd_summary(name: &str) -> Vec<String> {
    let p = proc_drbd::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    p.devices
        .iter()
        .map(|d| {
            let pair =
                |p: Option<(String, String)>| p.map_or("-".into(), |(a, b)| format!("{a}/{b}"));
            format!(
                "{} {} {} {} {} {}",
                d.minor,
                d.cs,
                pair(
                    d.roles
                        .as_ref()
                        .map(|r| (r.local.to_string(), r.peer.to_string()))
                ),
                pair(
                    d.disks
                        .as_ref()
                        .map(|r| (r.local.to_string(), r.peer.to_string()))
                ),
                d.protocol.map_or("-".into(), String::from),
                d.flags.as_deref().unwrap_or("-"),
            )
        })
        .collect()
}

#[test]
fn proc_drbd_ganeti_8_0_st_instead_of_ro_and_four_flags() {
    let p = proc_drbd::parse(&fixture("proc-drbd-8.0.12-ganeti.txt")).unwrap();
    assert_eq!(
        (p.version.as_str(), p.api.as_deref()),
        ("8.0.12", Some("86"))
    );
    assert_eq!(
        p.build.as_deref(),
        Some("5c9f89594553e32adb87d9638dce591782f947e3")
    );
    assert_eq!(
        proc_drbd_summary("proc-drbd-8.0.12-ganeti.txt"),
        [
            "0 Connected Primary/Secondary UpToDate/UpToDate C r---",
            "1 Connected Secondary/Primary UpToDate/UpToDate C r---",
            "2 Unconfigured - - - -",
            "4 WFConnection Primary/Unknown UpToDate/DUnknown C r---",
            "5 Connected Primary/Secondary UpToDate/Diskless C r---",
            "6 Connected Secondary/Primary Diskless/UpToDate C r---",
            "7 WFConnection Secondary/Unknown UpToDate/DUnknown C r---",
            "8 StandAlone Secondary/Unknown UpToDate/DUnknown - r---",
        ]
    );
    // the tab- and space-indented resync:/act_log: detail lines are not counters
    assert_eq!(p.devices[0].counter("ns"), Some(4375577));
    assert_eq!(p.devices[0].counter("used"), None);
    // a blank line between minors
    assert_eq!(
        proc_drbd_summary("proc-drbd-8.0.12-ganeti-emptyline.txt")
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["0", "1", "2", "5", "6"]
    );
    // without its version line the file is not trusted
    let e = proc_drbd::parse(&fixture("proc-drbd-8.0.12-ganeti-emptyversion.txt")).unwrap_err();
    assert!(e.message.contains("version"), "{e}");
}

#[test]
fn proc_drbd_ganeti_8_3_nul_flags_and_sync_bars() {
    assert_eq!(
        proc_drbd_summary("proc-drbd-8.3.1-ganeti.txt"),
        [
            "0 Connected Primary/Secondary UpToDate/UpToDate C r----",
            "1 Connected Secondary/Primary UpToDate/UpToDate C r---",
            "2 Unconfigured - - - -",
            "4 WFConnection Primary/Unknown UpToDate/DUnknown C r----",
            "5 Connected Primary/Secondary UpToDate/Diskless C r----",
            "6 Connected Secondary/Primary Diskless/UpToDate C r---",
            "7 WFConnection Secondary/Unknown UpToDate/DUnknown C r---",
            "8 StandAlone Secondary/Unknown UpToDate/DUnknown - r---",
        ]
    );
    // a bar counted in M, its finish: on the next line
    let p = proc_drbd::parse(&fixture("proc-drbd-8.3.1-ganeti-sync.txt")).unwrap();
    let d = p.devices.iter().find(|d| d.minor == 3).unwrap();
    assert_eq!(d.cs, ConnState::SyncTarget);
    let s = d.sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.remaining_kib, s.total_kib),
        (34.9, 346112 * 1024, 524288 * 1024)
    );
    assert_eq!((s.finish_secs, s.speed_kib_s), (Some(5), Some(59392)));
    // kernel 2.6.39: no newline between `)M` and `finish:`
    let p = proc_drbd::parse(&fixture("proc-drbd-8.3.1-ganeti-sync-krnl2.6.39.txt")).unwrap();
    let d = p.devices.iter().find(|d| d.minor == 3).unwrap();
    assert_eq!(
        (d.cs.clone(), d.protocol),
        (ConnState::SyncSource, Some('A'))
    );
    let s = d.sync.as_ref().unwrap();
    assert_eq!(
        (
            s.percent,
            s.remaining_kib,
            s.total_kib,
            s.finish_secs,
            s.speed_kib_s
        ),
        (2.4, 14996 * 1024, 15360 * 1024, Some(248), Some(61736))
    );
    assert_eq!(p.devices.len(), 5);
    // 8.3.11 with srcversion:, a trailing blank after oos: and want:
    let p = proc_drbd::parse(&fixture("proc-drbd-8.3.11-ganeti-sync-want.txt")).unwrap();
    assert_eq!(p.build.as_deref(), Some("2D876214BAAD53B31ADC1D6"));
    let s = p.devices[0].sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.remaining_kib, s.total_kib, s.want_kib_s),
        (44.4, 588416, 1048576, Some(61440))
    );
    assert_eq!(p.devices[0].out_of_sync_kib(), Some(588416));
    assert_eq!(p.devices.len(), 4);
}

#[test]
fn proc_drbd_ganeti_8_4_blank_lines_and_paused_sync_flags() {
    let all = [
        "0 Connected Primary/Secondary UpToDate/UpToDate C r-----",
        "1 Connected Secondary/Primary UpToDate/UpToDate C r-----",
        "2 Unconfigured - - - -",
        "4 WFConnection Primary/Unknown UpToDate/DUnknown C r-----",
        "6 Connected Secondary/Primary Diskless/UpToDate C r-----",
        "8 StandAlone Secondary/Unknown UpToDate/DUnknown - r-----",
    ];
    assert_eq!(proc_drbd_summary("proc-drbd-8.4.2-ganeti.txt"), all);
    // a blank line right after the version lines
    assert_eq!(
        proc_drbd_summary("proc-drbd-8.4.2-ganeti-emptyfirst.txt"),
        all[1..]
    );
    let p = proc_drbd::parse(&fixture("proc-drbd-8.4.2-ganeti-sync.txt")).unwrap();
    assert_eq!(
        proc_drbd_summary("proc-drbd-8.4.2-ganeti-sync.txt"),
        [
            "0 StandAlone Primary/Unknown UpToDate/DUnknown - r-----",
            "3 Unconfigured - - - -",
            "5 SyncSource Secondary/Secondary UpToDate/Inconsistent C r---n-",
        ]
    );
    let s = p.devices[2].sync.as_ref().unwrap();
    assert_eq!(
        (s.percent, s.remaining_kib, s.total_kib),
        (68.5, 335744, 1048576)
    );
}

#[test]
fn proc_drbd_refuses_what_it_cannot_trust() {
    let head = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B\n";
    let ok = " 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n";
    assert!(proc_drbd::parse(&format!("{head}{ok}")).is_ok());
    // the same minor twice: neither line can be believed
    let e = proc_drbd::parse(&format!("{head}{ok}{ok}")).unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("same minor"), "{e}");
    // minors beyond the kernel's 20 bits
    let big =
        format!("{head}1048576: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n");
    assert!(proc_drbd::parse(&big)
        .unwrap_err()
        .message
        .contains("minor"));
    let top =
        format!("{head}1048575: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n");
    assert_eq!(proc_drbd::parse(&top).unwrap().devices[0].minor, 1048575);
    // a configured minor without roles or disk states would read as "not in the kernel"
    for line in [
        " 0: cs:Connected\n",
        " 0: cs:WFConnection ds:UpToDate/DUnknown C r-----\n",
        " 0: cs:SomethingNew ro:Primary/Unknown\n",
    ] {
        let e = proc_drbd::parse(&format!("{head}{line}")).unwrap_err();
        assert_eq!(e.line, 3, "{line:?}: {e}");
    }
    // a percentage outside 0..100
    let bar = format!(
        "{head} 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n\t[>....] sync'ed:-3.0% (10/100)K\n"
    );
    assert_eq!(proc_drbd::parse(&bar).unwrap_err().line, 4);
    // counters that overflow u64 or are negative are not numbers
    let p = proc_drbd::parse(&format!(
        "{head} 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    ns:99999999999999999999999 nr:-5 oos:0\n"
    ))
    .unwrap();
    assert_eq!(
        (
            p.devices[0].counter("ns"),
            p.devices[0].counter("nr"),
            p.devices[0].out_of_sync_kib()
        ),
        (None, None, Some(0))
    );
    // CRLF line ends and NULs anywhere read like the clean file
    let dirty = format!("{head}{ok}")
        .replace('\n', "\r\n")
        .replace("cs:", "cs:\0");
    assert_eq!(
        proc_drbd::parse(&dirty).unwrap().devices,
        proc_drbd::parse(&format!("{head}{ok}")).unwrap().devices
    );
}

#[test]
fn xl_list_ganeti_long_names_big_ids_and_old_xen() {
    let rows = xl::parse_list(&fixture("xl-4.0.1-list-ganeti-four-instances.txt")).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.domid,
                r.mem_mib,
                r.vcpus,
                r.state.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Domain-0", 0, 1023, 1, "r-----".to_string()),
            ("server01.example.com", 1, 1024, 1, "-b----".to_string()),
            (
                "web3106215069.example.com",
                3,
                4096,
                1,
                "-b----".to_string()
            ),
            ("testinstance.example.com", 2, 2048, 2, "r-----".to_string()),
        ]
    );
    assert_eq!(rows[2].time_secs, 466690.9);
    let rows = xl::parse_list(&fixture("xl-4.0.1-list-ganeti-dom0-only.txt")).unwrap();
    assert_eq!(rows.len(), 1);
    // Xen 4.4: a nameless domain and a dying one, five-digit IDs, both crashed
    let rows = xl::parse_list(&fixture("xl-4.4-list-ganeti-crashed-instances.txt")).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.domid, r.state.crashed, r.state.shutdown))
        .collect();
    assert_eq!(
        got,
        [
            ("Domain-0", 0, false, false),
            ("server01.example.com", 1, false, false),
            ("(null)", 28441, true, true),
            ("alsodying.example.com", 28448, true, true),
        ]
    );
    let info = xl::parse_info(&fixture("xl-4.0.1-info-ganeti.txt")).unwrap();
    assert_eq!(info.xen_version().as_deref(), Some("4.0.1"));
    assert_eq!(
        (
            info.host(),
            info.total_memory_mib(),
            info.free_memory_mib(),
            info.nr_cpus()
        ),
        (Some("host.example.com"), Some(16378), Some(8004), Some(4))
    );
    // `virt_caps :` with nothing after it is an empty value, not an error
    assert_eq!(info.get("virt_caps"), Some(""));
}

#[test]
fn xl_list_reads_every_shutdown_reason_letter() {
    // xl_list.c prints the shutdown reason in the fifth position: "-rscwS", or "?".
    let rows = xl::parse_list(&fixture("xl-4.17-list-rebooting.txt")).unwrap();
    let dns = &rows[1];
    assert_eq!(dns.state.to_string(), "--psr-");
    assert!(dns.state.shutdown && !dns.state.crashed);
    assert_eq!(dns.state.reason, Some('r'));
}

#[test]
fn xl_listings_refuse_one_domain_id_twice() {
    let t = "Name                                        ID   Mem VCPUs\tState\tTime(s)\nDomain-0                                     0  1024     1     r-----     225.3\ndns                                          4   128     1     -b----       5.8\nweb                                          4   128     1     -b----       5.8\n";
    let e = xl::parse_list(t).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    let long = fixture("xl-4.17-list-long.json");
    let v: serde_json::Value = serde_json::from_str(&long).unwrap();
    let arr = v.as_array().unwrap();
    let twice =
        serde_json::to_string_pretty(&[arr[0].clone(), arr[1].clone(), arr[1].clone()]).unwrap();
    let e = xl::parse_list_long(&twice).unwrap_err();
    assert!(e.message.contains("second domain"), "{e}");
}

// ---------------------------------------------- bonding: every shape of bond_procfs.c

#[test]
fn proc_net_bonding_802_3ad_with_a_slave_down() {
    let b = net::parse_bonding(&fixture("proc-net-bonding-6.1-802.3ad-source.txt")).unwrap();
    assert_eq!(b.mode, BondMode::Ieee8023ad);
    assert_eq!(b.miimon_ms, Some(100));
    assert_eq!(b.active_slave, None);
    let slaves: Vec<_> = b
        .slaves
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.mii_status.as_deref(),
                s.link_failure_count,
            )
        })
        .collect();
    assert_eq!(
        slaves,
        [
            ("eth0", Some("up"), Some(0)),
            ("eth1", Some("down"), Some(3))
        ]
    );
    // the LACP PDU details (indented) do not leak into the slave's fields
    assert!(b.slaves[0].fields.iter().all(|(k, _)| k != "port state"));
    let get = |k: &str| {
        b.fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("LACP rate"), Some("fast"));
    assert_eq!(get("Transmit Hash Policy"), Some("layer3+4 (1)"));
}

#[test]
fn proc_net_bonding_fail_over_mac_and_primary_reselect_are_not_part_of_the_names() {
    let b = net::parse_bonding(&fixture(
        "proc-net-bonding-6.1-active-backup-fail-over-mac-source.txt",
    ))
    .unwrap();
    assert_eq!(b.mode, BondMode::ActiveBackup);
    assert_eq!(b.primary_slave.as_deref(), Some("eth1"));
    assert_eq!(b.active_slave.as_deref(), Some("eth1"));
    let get = |k: &str| {
        b.fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("NS IPv6 target/s (xx::xx form)"), Some("fe80::1"));
    assert_eq!(get("ARP IP target/s (n.n.n.n form)"), Some("192.168.1.1"));
    let b = net::parse_bonding(&fixture(
        "proc-net-bonding-6.1-balance-alb-no-slaves-source.txt",
    ))
    .unwrap();
    assert_eq!(b.mode, BondMode::BalanceAlb);
    assert!(b.slaves.is_empty());
    assert_eq!((b.active_slave, b.primary_slave), (None, None));
    // one slave listed twice
    let text = fixture("proc-net-bonding-6.1-active-backup.txt").replace("dummy1", "dummy0");
    let e = net::parse_bonding(&text).unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
}

// ------------------------------------------------------- duplicates in JSON reports

#[test]
fn json_reports_refuse_one_name_twice() {
    // lvs: two VGs of one name (a cloned disk) list the same VG/LV twice
    let lvs = r#"{"report":[{"lv":[
{"lv_name":"dns", "vg_name":"XEN", "lv_size":"67108864", "lv_attr":"-wi-ao----", "lv_tags":""},
{"lv_name":"dns", "vg_name":"XEN", "lv_size":"1048576", "lv_attr":"-wi-------", "lv_tags":""}
]}]}"#;
    let e = lvm::parse_lvs(lvs).unwrap_err();
    assert!(e.message.contains("XEN/dns"), "{e}");
    let vgs = r#"{"report":[{"vg":[
{"vg_name":"XEN", "vg_size":"1073741824", "vg_free":"0", "vg_extent_size":"4194304", "vg_tags":""},
{"vg_name":"XEN", "vg_size":"2147483648", "vg_free":"0", "vg_extent_size":"4194304", "vg_tags":""}
]}]}"#;
    assert!(lvm::parse_vgs(vgs).unwrap_err().message.contains("XEN"));
    // drbdsetup status --json
    let j = fixture("drbdsetup-status-json-9.2-documented.json");
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let first = v.as_array().unwrap()[0].clone();
    let twice = serde_json::to_string_pretty(&[first.clone(), first]).unwrap();
    assert!(status::parse_json(&twice)
        .unwrap_err()
        .message
        .contains("twice"));
    // ip -j link / addr
    let links = fixture("ip-6.1.0-link-bond-bridge.json");
    let v: serde_json::Value = serde_json::from_str(&links).unwrap();
    let first = v.as_array().unwrap()[0].clone();
    let twice = serde_json::to_string(&[first.clone(), first]).unwrap();
    assert!(net::parse_ip_link(&twice)
        .unwrap_err()
        .message
        .contains("twice"));
    let addrs = fixture("ip-6.1.0-addr-host.json");
    let v: serde_json::Value = serde_json::from_str(&addrs).unwrap();
    let first = v.as_array().unwrap()[0].clone();
    let twice = serde_json::to_string(&[first.clone(), first]).unwrap();
    assert!(net::parse_ip_addr(&twice)
        .unwrap_err()
        .message
        .contains("twice"));
}

#[test]
fn drbd_status_json_missing_peer_state_is_an_error_not_a_default() {
    let j = fixture("drbdsetup-status-json-9.2-documented.json");
    for key in ["replication-state", "peer-disk-state", "peer-role"] {
        let cut: String = j
            .lines()
            .filter(|l| !l.trim_start().starts_with(&format!("\"{key}\"")))
            .collect::<Vec<_>>()
            .join("\n");
        let e = status::parse_json(&cut).unwrap_err();
        assert!(e.message.contains(key), "{key}: {e}");
    }
}

#[test]
fn lv_attr_states_other_than_active_or_not_are_unknown() {
    let lv = |attr: &str| {
        let t = format!(
            r#"{{"report":[{{"lv":[{{"lv_name":"a","vg_name":"XEN","lv_size":"1","lv_attr":"{attr}","lv_tags":""}}]}}]}}"#
        );
        let l = &lvm::parse_lvs(&t).unwrap()[0];
        (l.attr.active(), l.attr.open())
    };
    assert_eq!(lv("-wi-ao----"), (Some(true), Some(true)));
    assert_eq!(lv("-wi-------"), (Some(false), Some(false)));
    assert_eq!(lv("-wi-XX----"), (None, None));
    // suspended, mapped without a table, with an inactive table, an invalid snapshot
    for attr in ["-wi-so----", "-wi-d-----", "-wi-i-----", "swi-I-s---"] {
        assert_eq!(lv(attr).0, None, "{attr}");
    }
}

#[test]
fn drbdmeta_dump_md_of_meta_data_just_created() {
    // real-tools/11-drbdmeta.txt: `drbdmeta 9 v08 /dev/loop0 internal dump-md` right after
    // `create-md` (its first line starts with "# ", so it is read without the helper).
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/drbdmeta-9.22-dump-md-v08-just-created.txt");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        xenflux::drivers::drbd::meta::dump_md_result(&text, "", 0),
        Ok(xenflux::drivers::drbd::meta::MetaFound::Unused)
    );
    // the same dump with CRLF line ends reads the same
    assert_eq!(
        xenflux::drivers::drbd::meta::dump_md_result(&text.replace('\n', "\r\n"), "", 0),
        Ok(xenflux::drivers::drbd::meta::MetaFound::Unused)
    );
}

#[test]
fn xl_list_long_in_sxp_is_refused_not_misread() {
    // Xen 4.0.1's `xl list -l` (Ganeti's capture) prints S-expressions, not JSON.
    let e = xl::parse_list_long(&fixture("xl-4.0.1-list-long-ganeti-sxp.txt")).unwrap_err();
    assert!(e.message.contains("JSON"), "{e}");
}

// ---------------------------------------------------------------- snapshots (lab captures)

#[test]
fn lvs_tells_snapshots_their_origin_and_fill() {
    let lvs = lvm::parse_lvs(&fixture("lvs-2.03.16-lab-snapshot-attached.json")).unwrap();
    let by = |n: &str| lvs.iter().find(|l| l.name == n).unwrap().clone();
    let (origin, snap) = (by("dns"), by("dns.snap"));
    // The origin (`owi-aos---`) is no snapshot; the snapshot (`swi-aos---`, attached: open).
    assert!(!origin.attr.snapshot() && origin.origin.is_none());
    assert_eq!(origin.attr.open(), Some(true));
    assert!(snap.attr.snapshot() && !snap.attr.invalid_snapshot());
    assert_eq!(snap.origin.as_deref(), Some("dns"));
    assert_eq!(snap.snap_percent, Some(0.0));
    assert_eq!(snap.attr.open(), Some(true));
    assert_eq!(snap.tags, ["xenflux", "xenflux-snap"]);
    assert_eq!(snap.size_bytes, 8 << 20);
    let half = lvm::parse_lvs(&fixture("lvs-2.03.16-lab-snapshot-half-full.json")).unwrap();
    let half = half.iter().find(|l| l.name == "dns.snap").unwrap();
    assert_eq!(half.snap_percent, Some(50.39));
    assert_eq!(half.attr.open(), Some(false));
    // Filled up: `swi-I-s---`, 100.00.
    let full = lvm::parse_lvs(&fixture("lvs-2.03.16-lab-snapshot-invalid.json")).unwrap();
    let full = full.iter().find(|l| l.name == "dns.snap").unwrap();
    assert!(full.attr.invalid_snapshot(), "{:?}", full.attr);
    assert_eq!(full.snap_percent, Some(100.0));
    assert_eq!(
        full.attr.active(),
        None,
        "an invalid snapshot is neither active nor not"
    );
    // A report without the columns (an older capture) has no snapshots.
    let old = lvm::parse_lvs(&fixture("lvs-2.03.16-lab.json")).unwrap();
    assert!(old
        .iter()
        .all(|l| l.origin.is_none() && l.snap_percent.is_none()));
    // A percentage LVM never prints is an error naming the row.
    let bad = fixture("lvs-2.03.16-lab-snapshot-half-full.json").replace("50.39", "150");
    let e = lvm::parse_lvs(&bad).unwrap_err();
    assert!(e.message.contains("snap_percent"), "{e}");
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn xl_block_list_gives_the_devids_block_detach_takes() {
    let two = xl::parse_block_list(&fixture("xl-4.17-block-list-two-snapshots.txt")).unwrap();
    let ids: Vec<u32> = two.iter().map(|b| b.devid).collect();
    assert_eq!(ids, [51728, 51744]);
    assert_eq!(two[0].be_path, "/local/domain/0/backend/vbd/3/51728");
    assert_eq!((two[0].backend, two[0].state), (0, 1));
    // The devids libxl gives xvdb and xvdc, derived from the names `xl list -l` reports.
    assert_eq!(xl::vbd_devid("xvdb"), Some(51728));
    assert_eq!(xl::vbd_devid("xvdc"), Some(51744));
    assert_eq!(xl::vbd_devid("xvda"), Some(51712), "dns's disk in the lab");
    assert_eq!(xl::vbd_devid("xvdq"), Some((1 << 28) | (16 << 8)));
    assert_eq!(xl::vbd_devid("xvdaa"), Some((1 << 28) | (26 << 8)));
    assert_eq!(xl::vbd_devid("xvdb1"), Some(51729));
    for bad in ["hda", "xvd", "xvd1", "xvdB", "xvdaaaa", "51728"] {
        assert_eq!(xl::vbd_devid(bad), None, "{bad}");
    }
    // A domain that does not run: the header alone (its error went to stderr, exit 0).
    let none = xl::parse_block_list(&fixture("xl-4.17-block-list-not-running.txt")).unwrap();
    assert!(none.is_empty());
    assert!(xl::parse_block_list("").unwrap().is_empty());
    assert!(xl::parse_block_list("51728 0 3\n").is_err());
    // `xl list -l` of the backup domain lists the attached snapshot as a disk.
    let doms = xl::parse_list_long(&fixture("xl-4.17-list-long-backup-attached.json")).unwrap();
    let disks = &doms[0].config.disks;
    assert_eq!(disks.len(), 1, "{disks:?}");
    assert_eq!(disks[0].pdev_path.as_deref(), Some("/dev/XEN/dns.snap"));
    assert_eq!(disks[0].vdev, "xvdb");
    assert!(!disks[0].readwrite, "attached read-only: no `readwrite`");
}
