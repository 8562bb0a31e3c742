//! Observation from real outputs: a lab node's batch (real Xen 4.17 dom0, DRBD 8.4.11, LVM,
//! OCFS2, bonding) read into a NodeState; failing tools become unknown, never empty.

use std::path::PathBuf;

use xenflux::drivers::drbd::{ConnectionState, DiskState, ReplState, Role};
use xenflux::drivers::net::PortState;
use xenflux::observe::{commands, interpret, observe_node, MetaDisk, Part, PartKind, Probe};
use xenflux::transport::{Cmd, Output, Transport, TransportError};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn ok(cmd: &Cmd, stdout: String) -> Output {
    Output {
        argv: cmd.argv.clone(),
        status: Some(0),
        stdout,
        stderr: String::new(),
    }
}

fn probe() -> Probe {
    Probe {
        host: "nodea".into(),
        bonds: vec!["bond0".into()],
        files: vec!["/etc/drbd.d/dns.res".into(), "/etc/xen/absent.cfg".into()],
        devices: vec!["/dev/drbd1".into()],
        minors: vec![0],
        cluster_view: true,
        ..Default::default()
    }
}

/// What nodea of the lab printed for each command of the batch.
fn lab_outputs(p: &Probe) -> Vec<Output> {
    commands(p)
        .iter()
        .map(|c| {
            let line = c.argv.join(" ");
            let text = match line.as_str() {
                l if l.starts_with("vgs") => fixture("vgs-2.03.16-lab.json"),
                l if l.starts_with("lvs") => fixture("lvs-2.03.16-lab.json"),
                "drbdadm dump-xml" => fixture("drbdadm-dump-xml-9.22-84mode-lab.xml"),
                "cat /proc/drbd" => fixture("proc-drbd-8.4.11-connected-primary.txt"),
                // Captured on nodeb; the options are the same on both nodes.
                "drbdsetup show" => fixture("drbdsetup-show-8.4.11-lab.txt"),
                "xl list" => fixture("xl-4.17-list.txt"),
                "xl list -l" => fixture("xl-4.17-list-long.json"),
                "xl info" => fixture("xl-4.17-info.txt"),
                "ip -j addr show" => fixture("ip-6.1.0-addr-host.json"),
                l if l.starts_with("ip ") => fixture("ip-6.1.0-link-bond-bridge-vif.json"),
                "o2cb cluster-status" => "Cluster 'ovscluster' is online\n".to_string(),
                // sshd's variable in a session through QEMU's user network.
                "printenv SSH_CONNECTION" => "10.0.2.2 40022 10.0.2.15 22\n".to_string(),
                "cat /sys/block/drbd0/size" => "131072\n".to_string(),
                l if l.starts_with("bridge ") => fixture("bridge-6.1.0-link.json"),
                "cat /proc/net/bonding/bond0" => fixture("proc-net-bonding-6.1-active-backup.txt"),
                "cat /etc/ocfs2/cluster.conf" => fixture("ocfs2-cluster-conf-1.8.7-lab.conf"),
                l if l.starts_with("mounted.ocfs2 -d") => fixture("mounted-ocfs2-1.8.7-d-lab.txt"),
                l if l.starts_with("mounted.ocfs2 -f") => fixture("mounted-ocfs2-1.8.7-f-lab.txt"),
                "cat /proc/mounts" => fixture("proc-mounts-6.1-lab.txt"),
                l if l.starts_with("ss ") => fixture("ss-6.1.0-htln-lab.txt"),
                "cat /etc/drbd.d/dns.res" => "resource dns {\n}\n".to_string(),
                "cat /etc/xen/absent.cfg" => {
                    return Output {
                        argv: c.argv.clone(),
                        status: Some(1),
                        stdout: String::new(),
                        stderr: "cat: /etc/xen/absent.cfg: No such file or directory\n".into(),
                    }
                }
                l if l.starts_with("blkid") => fixture("blkid-2.38.1-export-ocfs2.txt"),
                other => panic!("the test has no output for `{other}`"),
            };
            ok(c, text)
        })
        .collect()
}

#[test]
fn a_lab_node_is_read_completely() {
    let p = probe();
    let s = interpret(&p, &lab_outputs(&p));

    let lvm = s.lvm.known().expect("lvm known");
    let dns = &lvm.lvs["XEN/dns"];
    assert_eq!(dns.size, 64 << 20);
    assert!(dns.tags.contains("xenflux"));
    assert_eq!(lvm.lvs["XEN/meta"].size, 256 << 20);
    assert_eq!(lvm.vgs["XEN"].extent_size, 4 << 20);

    let drbd = s.drbd.known().expect("drbd known");
    assert_eq!(drbd.module_version.as_deref(), Some("8.4.11"));
    let r = &drbd.resources["dns"];
    let c = r.config.as_ref().unwrap();
    assert_eq!(
        (c.minor, c.port, c.disk.as_deref()),
        (Some(0), Some(7788), Some("/dev/XEN/dns"))
    );
    assert_eq!(
        c.meta,
        Some(MetaDisk::Indexed {
            path: "/dev/XEN/meta".into(),
            index: 0
        })
    );
    assert_eq!(c.hosts["nodeb"].as_deref(), Some("169.254.77.2:7788"));
    assert_eq!(c.file.as_deref(), Some("/etc/drbd.d/dns.res"));
    let k = r.kernel.as_ref().unwrap();
    assert_eq!(
        (k.role.clone(), k.disk.clone()),
        (Role::Primary, DiskState::UpToDate)
    );
    assert_eq!(k.peers[0].connection, ConnectionState::Connected);
    assert_eq!(k.peers[0].replication, ReplState::Established);
    assert_eq!(
        (k.peers[0].role.clone(), k.peers[0].disk.clone()),
        (Role::Secondary, DiskState::UpToDate)
    );
    // The kernel's own option, from `drbdsetup show`, beside the file's.
    assert_eq!(k.allow_two_primaries, Some(false));
    let ovs = drbd.resources["ovs"].config.as_ref().unwrap();
    assert!(ovs.allow_two_primaries);
    assert_eq!(
        drbd.resources["ovs"]
            .kernel
            .as_ref()
            .unwrap()
            .allow_two_primaries,
        Some(true)
    );
    assert_eq!(
        drbd.resources["ovs"].kernel.as_ref().unwrap().peers[0].role,
        Role::Primary
    );

    let xen = s.xen.known().expect("xen known");
    let dom = &xen.domains["dns"];
    assert_eq!(dom.disks[0].0, "/dev/drbd0");
    assert_eq!(dom.disks[0].1, "xvda");
    assert_eq!(dom.nics[0].0.as_deref(), Some("00:16:3e:00:00:01"));
    assert!(!xen.domains.contains_key("Domain-0"));
    assert!(xen.total_memory_mib.is_some());

    let net = s.net.known().expect("net known");
    assert_eq!(net.links["xenbr0"].stp, Some(true));
    assert_eq!(net.links["bond0"].master.as_deref(), Some("xenbr0"));
    assert_eq!(net.links["bond0"].port_state, Some(PortState::Forwarding));
    assert_eq!(net.bonds["bond0"].slaves.len(), 2);
    assert_eq!(net.management.as_deref(), Some("10.0.2.15"));

    let o = s.ocfs2.known().expect("ocfs2 known");
    assert_eq!(
        o.clusters["ovscluster"]["nodeb"],
        (1, "169.254.77.2".to_string(), 7777)
    );
    assert_eq!(
        o.devices["/dev/drbd1"].mounted_on.as_deref(),
        Some(&["nodea".to_string(), "nodeb".to_string()][..])
    );
    assert_eq!(o.mounts["/OVS"].1, "ocfs2");
    assert!(o.online.contains("ovscluster"));
    assert_eq!(drbd.device_sizes[&0], 64 << 20);
    assert_eq!(net.links["lo"].addresses[0], "127.0.0.1/8");

    let ports = s.listening.known().unwrap();
    assert!(ports.contains(&7777) && ports.contains(&22));
    assert!(
        !ports.contains(&7788),
        "DRBD 8.4 does not listen while connected"
    );

    assert_eq!(
        s.files["/etc/drbd.d/dns.res"],
        Part::Known(Some("resource dns {\n}\n".into()))
    );
    assert_eq!(s.files["/etc/xen/absent.cfg"], Part::Known(None));
    assert_eq!(
        s.filesystems["/dev/drbd1"],
        Part::Known(Some("ocfs2".into()))
    );

    // what the allocator keeps from it
    let observed = xenflux::observe::Observed {
        nodes: [("nodea".parse().unwrap(), s)].into(),
    };
    let existing = observed.existing();
    let usage = &existing.nodes[&"nodea".parse::<xenflux::model::Name>().unwrap()];
    assert_eq!(usage.resources["ovs"].minor, Some(1));
    assert_eq!(usage.resources["ovs"].meta_index, Some(1));
    assert_eq!(
        existing.macs[&("dns".parse().unwrap(), 0)].to_string(),
        "00:16:3e:00:00:01"
    );
}

#[test]
fn a_tool_that_is_missing_or_fails_is_unknown_never_empty() {
    let p = probe();
    let mut outs = lab_outputs(&p);
    for o in outs.iter_mut() {
        if o.argv[0] == "xl" {
            *o = Output {
                argv: o.argv.clone(),
                status: Some(127),
                stdout: String::new(),
                stderr: "xl: command not found".into(),
            };
        }
        if o.argv[0] == "lvs" {
            o.status = Some(5);
            o.stdout = String::new();
            o.stderr = "  Locking failed\n".into();
        }
        if o.argv.join(" ") == "cat /proc/drbd" {
            o.stdout = "garbage\n".into();
        }
    }
    let s = interpret(&p, &outs);
    match &s.xen {
        Part::Unknown(u) => {
            assert_eq!(u.reason, "not installed");
            assert_eq!(u.command, "xl list");
            assert_eq!(u.status, Some(127));
        }
        Part::Known(_) => panic!("xen must be unknown"),
    }
    assert!(!s.lvm.is_known(), "lvs failing makes LVM unknown");
    match &s.drbd {
        Part::Unknown(u) => assert!(u.reason.contains("line 1"), "{u:?}"),
        Part::Known(_) => panic!("unparsable /proc/drbd is unknown"),
    }
    assert!(s.net.is_known(), "other parts stay known");
}

/// The lab's outputs with `xl list` and `xl list -l` replaced.
fn with_xl(p: &Probe, table: &str, long: &str) -> Vec<Output> {
    let mut outs = lab_outputs(p);
    for o in outs.iter_mut() {
        match o.argv.join(" ").as_str() {
            "xl list" => o.stdout = fixture(table),
            "xl list -l" => o.stdout = fixture(long),
            _ => {}
        }
    }
    outs
}

#[test]
fn a_domain_xen_has_not_reaped_yet_is_stopping_not_running() {
    // Right after `xl shutdown -w` returned, real Xen 4.17 still lists the domain `--ps--`.
    let p = probe();
    let s = interpret(
        &p,
        &with_xl(
            &p,
            "xl-4.17-list-shutdown.txt",
            "xl-4.17-list-long-shutdown.json",
        ),
    );
    let xen = s.xen.known().expect("xen is known");
    assert!(xen.domains["dns"].stopping, "{:?}", xen.domains["dns"]);
    assert_eq!(xen.domains["dns"].domid, Some(4));

    let s = interpret(&p, &lab_outputs(&p));
    assert!(!s.xen.known().unwrap().domains["dns"].stopping);
}

#[test]
fn a_domain_listed_without_its_configuration_is_unknown_not_absent() {
    // `xl list -l` leaves out a domain whose configuration libxl cannot read at that moment.
    let p = probe();
    let s = interpret(
        &p,
        &with_xl(&p, "xl-4.17-list.txt", "xl-4.17-list-long-dom0-only.json"),
    );
    match &s.xen {
        Part::Unknown(u) => {
            assert_eq!(u.command, "xl list -l");
            assert!(u.reason.contains("domain dns (id 1)"), "{}", u.reason);
        }
        Part::Known(x) => panic!("a listed domain went missing: {x:?}"),
    }
}

#[test]
fn a_probe_for_some_parts_asks_only_their_commands() {
    let p = probe().only(&[PartKind::Xen, PartKind::Files].into_iter().collect());
    let asked: Vec<String> = commands(&p).iter().map(|c| c.argv.join(" ")).collect();
    assert_eq!(
        asked,
        [
            "xl list",
            "xl list -l",
            "xl info",
            "cat /etc/drbd.d/dns.res",
            "cat /etc/xen/absent.cfg"
        ]
    );
    let s = interpret(&p, &lab_outputs(&p));
    assert!(s.xen.known().unwrap().domains.contains_key("dns"));
    assert_eq!(s.files["/etc/xen/absent.cfg"], Part::Known(None));
    match &s.lvm {
        Part::Unknown(u) => assert_eq!(u.reason, "lvm was not asked about in this observation"),
        Part::Known(_) => panic!("LVM was not asked about"),
    }
    assert!(!s.drbd.is_known() && !s.net.is_known() && !s.ocfs2.is_known());
}

#[test]
fn a_node_without_drbd_module_or_config_has_no_resources() {
    let p = Probe {
        host: "n".into(),
        ..Default::default()
    };
    let outs: Vec<Output> = commands(&p)
        .iter()
        .map(|c| {
            let line = c.argv.join(" ");
            let (status, stdout, stderr) = match line.as_str() {
                "drbdadm dump-xml" => (
                    20,
                    "",
                    "Can not open '/etc/drbd.conf'.\n.modinfo: ERROR: Module drbd not found.\n",
                ),
                "cat /proc/drbd" => (1, "", "cat: /proc/drbd: No such file or directory\n"),
                _ => (127, "", "not here"),
            };
            Output {
                argv: c.argv.clone(),
                status: Some(status),
                stdout: stdout.into(),
                stderr: stderr.into(),
            }
        })
        .collect();
    let s = interpret(&p, &outs);
    let d = s.drbd.known().expect("known and empty");
    assert!(d.resources.is_empty());
    assert!(d.module_version.is_none());
}

struct Down;
impl Transport for Down {
    fn run_batch(&self, node: &str, _: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        Err(TransportError::Unreachable {
            node: node.into(),
            reason: "connection refused".into(),
        })
    }
}

#[test]
fn an_unreachable_node_is_unknown_everywhere() {
    let s = observe_node(&Down, "dom0", &probe());
    assert!(!s.lvm.is_known() && !s.drbd.is_known() && !s.xen.is_known());
    assert!(!s.net.is_known() && !s.ocfs2.is_known() && !s.listening.is_known());
    assert!(s.files.values().all(|f| !f.is_known()));
    match &s.lvm {
        Part::Unknown(u) => assert!(u.reason.contains("connection refused")),
        Part::Known(_) => unreachable!(),
    }
}

#[test]
fn the_batch_is_one_list_of_argv_commands() {
    let p = probe();
    let cmds = commands(&p);
    let lines: Vec<String> = cmds.iter().map(|c| c.display()).collect();
    assert!(lines.contains(&"drbdadm dump-xml".to_string()));
    assert!(lines.contains(&"cat /proc/net/bonding/bond0".to_string()));
    assert!(lines.contains(&"cat /etc/drbd.d/dns.res".to_string()));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("blkid -p -o export /dev/drbd1")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("drbdsetup status")),
        "8.4 reads /proc/drbd"
    );
    let p9 = Probe {
        drbd_version: xenflux::model::DrbdVersion::V9,
        ..probe()
    };
    assert!(commands(&p9)
        .iter()
        .any(|c| c.display() == "drbdsetup status --json"));
}

#[test]
fn a_partition_table_is_not_a_blank_device() {
    let p = Probe {
        host: "n".into(),
        devices: vec!["/dev/drbd0".into()],
        ..Default::default()
    };
    let outs: Vec<Output> = commands(&p)
        .iter()
        .map(|c| match c.argv[0].as_str() {
            "blkid" => ok(
                c,
                "DEVNAME=/dev/drbd0\nPTUUID=5e1c2a1b\nPTTYPE=dos\n".into(),
            ),
            _ => Output {
                argv: c.argv.clone(),
                status: Some(127),
                stdout: String::new(),
                stderr: String::new(),
            },
        })
        .collect();
    let s = interpret(&p, &outs);
    assert_eq!(
        s.filesystems["/dev/drbd0"],
        Part::Known(Some("partition table (dos)".into()))
    );
}

#[test]
fn a_heartbeat_device_is_mounted_nowhere_and_node_numbers_are_not_names() {
    let p = probe();
    let mut outs = lab_outputs(&p);
    for o in outs.iter_mut() {
        if o.argv.join(" ").starts_with("mounted.ocfs2 -f") {
            o.stdout = "Device               Stack  Cluster     F  Nodes\n\
                        /dev/mapper/XEN-ovs  o2cb   ovscluster     nodea, 3\n\
                        /dev/drbd1           o2cb   ovscluster     Heartbeat device\n"
                .into();
        }
    }
    let s = interpret(&p, &outs);
    let ocfs2 = s.ocfs2.known().expect("ocfs2 is known");
    let hb = &ocfs2.devices["/dev/drbd1"];
    assert_eq!(
        hb.mounted_on,
        Some(Vec::new()),
        "not a node named \"Heartbeat device\""
    );
    assert!(hb.heartbeat_device);
    // Node 3 has no name in the configuration: who has it mounted is not known by name.
    assert_eq!(ocfs2.devices["/dev/mapper/XEN-ovs"].mounted_on, None);
}

#[test]
fn a_domain_kept_after_a_crash_leaves_the_xen_part_known() {
    // `xl list` shows it as `(null)`; `xl list -l` either leaves it out or lists it without a
    // name. Before, either shape made the whole Xen part of the node unknown.
    let p = probe();
    for long in [
        "xl-4.17-list-long.json",
        "xl-4.17-list-long-crashed-nameless.json",
    ] {
        let s = interpret(&p, &with_xl(&p, "xl-4.17-list-crashed-kept.txt", long));
        let xen = s
            .xen
            .known()
            .unwrap_or_else(|| panic!("{long}: {:?}", s.xen));
        assert_eq!(
            xen.domains.keys().collect::<Vec<_>>(),
            ["dns"],
            "{long}: the nameless domain is no domain of the desired state"
        );
        let k = &xen.kept[&7];
        assert_eq!((k.memory_mib, k.state.as_str()), (512, "--p--d"), "{long}");
        assert_eq!(k.former_name, None);
        assert_eq!(
            xen.free_memory_mib,
            Some(808),
            "Xen's own count, already without it"
        );
    }
    // A named domain listed without its configuration is still unknown.
    let s = interpret(
        &p,
        &with_xl(
            &p,
            "xl-4.17-list-crashed-kept.txt",
            "xl-4.17-list-long-dom0-only.json",
        ),
    );
    assert!(s
        .xen
        .unknown()
        .is_some_and(|u| u.reason.contains("domain dns (id 1)")));
}

#[test]
fn a_device_size_beyond_u64_bytes_is_unknown_not_a_panic() {
    let p = probe();
    let mut outs = lab_outputs(&p);
    for o in outs.iter_mut() {
        if o.argv.join(" ") == "cat /sys/block/drbd0/size" {
            o.stdout = "18446744073709551615\n".into();
        }
    }
    let s = interpret(&p, &outs);
    let drbd = s.drbd.known().expect("drbd is known");
    assert_eq!(drbd.device_sizes.get(&0), None);
}

#[test]
fn a_rebooting_domain_leaves_xen_known_and_is_stopping() {
    // `xl list` prints the shutdown reason in the fifth state position: `--psr-` while a domain
    // reboots. That used to make the whole Xen part unreadable.
    let p = probe();
    let s = interpret(
        &p,
        &with_xl(
            &p,
            "xl-4.17-list-rebooting.txt",
            "xl-4.17-list-long-shutdown.json",
        ),
    );
    let xen = s.xen.known().expect("xen is known");
    assert!(xen.domains["dns"].stopping, "{:?}", xen.domains["dns"]);
}

#[test]
fn two_domains_of_one_name_make_xen_unknown() {
    let p = probe();
    let mut outs = lab_outputs(&p);
    for o in outs.iter_mut() {
        if o.argv.join(" ") == "xl list -l" {
            let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
            let mut arr = v.as_array().unwrap().clone();
            let mut copy = arr[1].clone();
            copy["domid"] = serde_json::json!(9);
            arr.push(copy);
            o.stdout = serde_json::to_string_pretty(&arr).unwrap();
        }
    }
    match &s_xen(&p, &outs) {
        Part::Unknown(u) => assert!(u.reason.contains("two domains named dns"), "{}", u.reason),
        Part::Known(x) => panic!("one of two domains named dns was dropped: {x:?}"),
    }
}

fn s_xen(p: &Probe, outs: &[Output]) -> Part<xenflux::observe::XenState> {
    interpret(p, outs).xen
}

#[test]
fn lvs_and_vgs_that_disagree_make_lvm_unknown() {
    // An LV whose VG `vgs` did not list (a VG skipped, or one appearing between the two
    // reports) is not evidence about what exists.
    let p = probe();
    let mut outs = lab_outputs(&p);
    for o in outs.iter_mut() {
        if o.argv[0] == "vgs" {
            o.stdout = r#"{"report":[{"vg":[]}]}"#.into();
        }
    }
    match &interpret(&p, &outs).lvm {
        Part::Unknown(u) => assert!(u.reason.contains("no volume group XEN"), "{}", u.reason),
        Part::Known(l) => panic!("LVs without their VG read as known: {l:?}"),
    }
}

/// Planning never asks `mounted.ocfs2 -f`, which waits on OCFS2's cluster locks for as long as
/// the cluster recovers a lost node: its OCFS2 part is known from the node's own reads, and who
/// has a device mounted is left unknown.
#[test]
fn planning_does_not_wait_on_the_cluster_wide_ocfs2_view() {
    let p = Probe {
        cluster_view: false,
        ..probe()
    };
    assert!(commands(&p)
        .iter()
        .all(|c| !c.argv.join(" ").starts_with("mounted.ocfs2 -f")));
    let s = interpret(&p, &lab_outputs(&p));
    let ocfs2 = s
        .ocfs2
        .known()
        .expect("ocfs2 known without mounted.ocfs2 -f");
    assert_eq!(ocfs2.devices["/dev/drbd1"].mounted_on, None);
    assert_eq!(ocfs2.mounts["/OVS"].0, "/dev/drbd1");

    // `xenflux observe` asks, bounded: a view that did not come in time says why.
    let full = probe();
    let ask = commands(&full)
        .into_iter()
        .find(|c| c.argv.join(" ").starts_with("mounted.ocfs2 -f"))
        .expect("observe asks for the cluster-wide view");
    assert_eq!(
        ask.within,
        Some(xenflux::drivers::ocfs2::CLUSTER_READ_WITHIN)
    );
    let mut outs = lab_outputs(&full);
    for o in outs.iter_mut() {
        if o.argv.join(" ").starts_with("mounted.ocfs2 -f") {
            o.status = Some(124);
            o.stdout.clear();
            o.stderr = "xenflux: stopped on the node after 15 s\n".into();
        }
    }
    let s = interpret(&full, &outs);
    let u = s
        .ocfs2
        .unknown()
        .expect("unknown when the asked view timed out");
    assert!(u.reason.contains("did not answer in time"), "{u}");
    assert!(u.reason.contains("recovers its journal"), "{u}");
}

/// A meta-data location is read in both on-disk formats: `dump-md v08` does not see DRBD 9
/// meta-data (real drbdmeta 9.22 says "No valid meta data found", exit 1), so an 8.4 cluster
/// would otherwise take a slot holding used v09 meta-data for blank and create-md over it.
#[test]
fn meta_data_of_the_other_format_is_found() {
    use xenflux::drivers::drbd::meta::{MetaFound, MetaLocation};
    let at = MetaLocation {
        minor: 0,
        device: "/dev/XEN/dns".into(),
        index: "internal".into(),
    };
    let p = Probe {
        host: "nodea".into(),
        meta: vec![at.clone()],
        ..Default::default()
    }
    .only(&[PartKind::MetaData].into());
    let cmds = commands(&p);
    let formats: Vec<&str> = cmds.iter().map(|c| c.argv[2].as_str()).collect();
    assert_eq!(formats, ["v08", "v09"], "{cmds:?}");
    let v09 = fixture("drbdmeta-9.22-dump-md-v09-in-use.txt");
    let outs: Vec<Output> = cmds
        .iter()
        .map(|c| match c.argv[2].as_str() {
            "v08" => Output {
                argv: c.argv.clone(),
                status: Some(1),
                stdout: String::new(),
                stderr: "No valid meta data found\n".into(),
            },
            _ => ok(c, v09.clone()),
        })
        .collect();
    let s = interpret(&p, &outs);
    assert_eq!(s.metadata[&at.key()], Part::Known(MetaFound::InUse));
    // Neither finds any: blank.
    let blank: Vec<Output> = cmds
        .iter()
        .map(|c| Output {
            argv: c.argv.clone(),
            status: Some(1),
            stdout: String::new(),
            stderr: "No valid meta data found\n".into(),
        })
        .collect();
    assert_eq!(
        interpret(&p, &blank).metadata[&at.key()],
        Part::Known(MetaFound::Nothing)
    );
}

/// A transport that counts the batches in flight: each one waits (10 s at most) until as
/// many as may run at once have arrived, so a sequential observation is seen as one at a
/// time, and a bound that is not kept as more than the bound.
struct Rendezvous {
    want: usize,
    state: std::sync::Mutex<(usize, usize, usize)>,
    arrived: std::sync::Condvar,
}

impl Transport for Rendezvous {
    fn run_batch(&self, node: &str, _batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        let mut s = self.state.lock().unwrap();
        s.0 += 1;
        s.1 = s.1.max(s.0);
        s.2 += 1;
        self.arrived.notify_all();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.1 < self.want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = self.arrived.wait_timeout(s, left).unwrap().0;
        }
        s.0 -= 1;
        Err(TransportError::Unreachable {
            node: node.into(),
            reason: "test".into(),
        })
    }
}

#[test]
fn a_large_cluster_is_observed_in_parallel_but_at_most_so_many_nodes_at_once() {
    let pairs = 25;
    let sources: Vec<xenflux::load::Source> =
        xenflux::generate::estate(xenflux::generate::Estate {
            pairs,
            volumes_per_pair: 1,
            domains: 0,
        })
        .into_iter()
        .map(|(path, text)| xenflux::load::Source { path, text })
        .collect();
    let v = xenflux::validate::validate(&sources, &Default::default()).expect("valid");
    let bound = xenflux::reconcile::OBSERVE_AT_ONCE;
    let t = Rendezvous {
        want: bound,
        state: Default::default(),
        arrived: Default::default(),
    };
    let o = xenflux::reconcile::observe_cluster(&v, &t);
    assert_eq!(o.nodes.len(), 2 * pairs as usize, "every node has a state");
    assert!(o
        .nodes
        .values()
        .all(|s| s.unknown_in(PartKind::Lvm).is_some()));
    let (_, most, calls) = *t.state.lock().unwrap();
    assert_eq!(calls, 2 * pairs as usize);
    assert_eq!(most, bound, "{bound} nodes at once, no more, no fewer");
}
