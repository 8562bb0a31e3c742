//! The planner on hand-made observations: a fresh pair of dom0s, a node that could not be
//! observed, split brain. (The simulator tests run whole reconciles.)

use std::collections::BTreeMap;
use std::path::Path;

use xenflux::drivers::drbd::{ConnectionState, DiskState, ReplState, Role};
use xenflux::model::Name;
use xenflux::observe::{
    DrbdKernel, DrbdPeer, DrbdResource, DrbdState, LinkState, LvmState, NetState, NodeState,
    Observed, Ocfs2State, Part, Unknown, VgState, XenState,
};
use xenflux::plan::{plan, Action, Plan, Policy};
use xenflux::validate::{validate, Validated};

fn example() -> Validated {
    let sources =
        xenflux::load::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-state"))
            .unwrap();
    validate(&sources, &Default::default()).unwrap()
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

/// A freshly installed dom0: its VG, NICs, DRBD loaded and empty, Xen with Domain-0 only.
fn fresh(v: &Validated, node: &str) -> NodeState {
    let spec = &v.desired.nodes[&name(node)];
    let mut vgs = BTreeMap::new();
    vgs.insert(
        spec.volume_group.to_string(),
        VgState {
            size: 2 << 40,
            free: 2 << 40,
            extent_size: 4 << 20,
            tags: Default::default(),
        },
    );
    let links = ["lo", "eth0", "eth1"]
        .iter()
        .map(|n| {
            let l = LinkState {
                kind: None,
                up: true,
                master: None,
                mac: None,
                stp: None,
                forward_delay: None,
                port_state: None,
                bond_mode: None,
                addresses: vec![],
            };
            (n.to_string(), l)
        })
        .collect();
    let files = xenflux::render::render_node(&v.desired, &v.allocation, &name(node))
        .into_keys()
        .map(|p| (p, Part::Known(None)))
        .collect();
    NodeState {
        lvm: Part::Known(LvmState {
            vgs,
            lvs: BTreeMap::new(),
        }),
        drbd: Part::Known(DrbdState {
            module_version: Some("8.4.11".into()),
            ..Default::default()
        }),
        xen: Part::Known(XenState::default()),
        net: Part::Known(NetState {
            links,
            ..Default::default()
        }),
        ocfs2: Part::Known(Ocfs2State::default()),
        listening: Part::Known([22].into()),
        files,
        filesystems: BTreeMap::new(),
        metadata: BTreeMap::new(),
        images: BTreeMap::new(),
    }
}

fn observed(v: &Validated) -> Observed {
    Observed {
        nodes: ["dom0", "dom0m"]
            .iter()
            .map(|n| (name(n), fresh(v, n)))
            .collect(),
    }
}

/// What the plan holds back for `object` (the test fails if nothing is).
fn blocked_on<'a>(p: &'a Plan, object: &str) -> &'a xenflux::plan::Blocked {
    p.blocked
        .iter()
        .find(|b| b.object == object)
        .unwrap_or_else(|| panic!("{object} is not blocked: {:?}", p.blocked))
}

fn titles(p: &Plan) -> Vec<&str> {
    p.stages.iter().map(|s| s.title.as_str()).collect()
}

fn actions(p: &Plan) -> Vec<(String, String)> {
    p.stages
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| (a.node().to_string(), a.describe()))
        })
        .collect()
}

#[test]
fn a_fresh_pair_gets_everything_in_order() {
    let v = example();
    let p = plan(&v.desired, &v.allocation, &observed(&v), &Policy::default()).unwrap();
    assert_eq!(
        titles(&p),
        vec![
            "network: bonds and bridges",
            "LVM: logical volumes",
            "config files",
            "DRBD: meta-data",
            "DRBD: resources up",
            "DRBD: initial sync source",
            "filesystems: create",
            "OCFS2: cluster stack",
            "DRBD: promote",
            "OCFS2: mount",
            "domains: start",
        ]
    );
    let acts = actions(&p);
    let has = |node: &str, what: &str| acts.iter().any(|(n, a)| n == node && a == what);
    assert!(has("dom0", "create LV XEN/meta (512MiB)"));
    assert!(has("dom0m", "create LV XEN/dns (10GiB)"));
    assert!(has("dom0", "create DRBD meta-data for dns"));
    assert!(has(
        "dom0",
        "make this node the initial sync source of dns (primary --force)"
    ));
    assert!(
        has(
            "dom0m",
            "make this node the initial sync source of vpn (primary --force)"
        ),
        "vpn runs on dom0m"
    );
    assert!(has("dom0", "make an ocfs2 filesystem on /dev/drbd2"));
    assert!(
        has("dom0m", "promote ovs to Primary"),
        "dual-primary on both"
    );
    assert!(has("dom0", "mount /dev/drbd2 on /OVS") && has("dom0m", "mount /dev/drbd2 on /OVS"));
    assert!(
        has("dom0", "start domain dns")
            && has("dom0m", "start domain vpn")
            && has("dom0", "start domain mail")
    );
    assert!(
        has("dom0", "create bond bond0 (active-backup)") && has("dom0", "enslave bond0 to xenbr0")
    );
    assert!(
        !acts.iter().any(|(_, a)| a.contains("demote")),
        "nothing to demote: {acts:?}"
    );
    // one initial primary per volume, exactly
    let forced = acts
        .iter()
        .filter(|(_, a)| a.contains("primary --force"))
        .count();
    assert_eq!(forced, 4);
    // every rendered file is written, with a diff from nothing
    assert!(p.files.iter().all(|f| f.old.is_none() && f.new.is_some()));
    assert_eq!(p.files.len(), p.stages[2].actions.len());
    assert!(p.blocked.is_empty(), "{:?}", p.blocked);
}

#[test]
fn planning_is_deterministic() {
    let v = example();
    let o = observed(&v);
    let a = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let b = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    assert_eq!(a, b);
    assert_eq!(xenflux::report::json(&a), xenflux::report::json(&b));
}

#[test]
fn an_unobserved_node_gets_no_creates_and_its_domains_do_not_start() {
    let v = example();
    let mut o = observed(&v);
    let down = Unknown {
        command: String::new(),
        status: None,
        stderr: String::new(),
        reason: "unreachable".into(),
    };
    let n = o.nodes.get_mut(&name("dom0m")).unwrap();
    n.xen = Part::Unknown(down.clone());
    n.lvm = Part::Unknown(down);
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let acts = actions(&p);
    assert!(
        acts.iter().all(|(n, _)| n != "dom0m"),
        "nothing on dom0m: {acts:?}"
    );
    assert!(
        !acts.iter().any(|(_, a)| a.starts_with("create LV XEN/dns")),
        "no half pairs"
    );
    assert!(
        !acts.iter().any(|(_, a)| a.starts_with("start domain")),
        "domains may run on dom0m"
    );
    assert!(p
        .blocked
        .iter()
        .any(|b| b.object == "node/dom0m" && b.reason.contains("could not be observed")));
    assert!(p.blocked.iter().any(|b| b.object == "Volume/dns"));
    assert!(p
        .blocked
        .iter()
        .any(|b| b.object == "Domain/dns" || b.object == "Domain/vpn"));
}

fn kernel(role: Role, conn: ConnectionState, disk: DiskState, peer_disk: DiskState) -> DrbdKernel {
    DrbdKernel {
        minor: Some(0),
        role,
        disk,
        peers: vec![DrbdPeer {
            name: None,
            connection: conn,
            replication: ReplState::Off,
            role: Role::Unknown,
            disk: peer_disk,
            sync_percent: None,
        }],
        allow_two_primaries: None,
    }
}

#[test]
fn split_brain_stops_everything_on_the_volume_and_its_domain() {
    let v = example();
    let mut o = observed(&v);
    for (node, role) in [("dom0", Role::Primary), ("dom0m", Role::Secondary)] {
        let n = o.nodes.get_mut(&name(node)).unwrap();
        if let Part::Known(d) = &mut n.drbd {
            d.resources.insert(
                "dns".into(),
                DrbdResource {
                    config: None,
                    kernel: Some(kernel(
                        role,
                        ConnectionState::StandAlone,
                        DiskState::UpToDate,
                        DiskState::DUnknown,
                    )),
                },
            );
        }
    }
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let acts = actions(&p);
    assert!(
        !acts
            .iter()
            .any(|(_, a)| a.contains(" dns") || a.ends_with("dns")),
        "{acts:?}"
    );
    let b = blocked_on(&p, "Volume/dns");
    assert!(b.reason.contains("split brain"));
    assert!(b.reason.contains("--discard-my-data"));
    assert!(p.blocked.iter().any(|b| b.object == "Domain/dns"));
    // the other volumes go on
    assert!(acts.iter().any(|(_, a)| a == "create LV XEN/vpn (8GiB)"));
}

#[test]
fn an_lv_xenflux_did_not_create_is_never_touched() {
    let v = example();
    let mut o = observed(&v);
    if let Part::Known(l) = &mut o.nodes.get_mut(&name("dom0")).unwrap().lvm {
        l.lvs.insert(
            "XEN/dns".into(),
            xenflux::observe::LvState {
                size: 10 << 30,
                tags: Default::default(),
                active: Some(true),
                open: Some(false),
                snapshot: None,
            },
        );
    }
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let b = blocked_on(&p, "Volume/dns");
    assert!(b.reason.contains("not created by xenflux"));
    assert!(!actions(&p)
        .iter()
        .any(|(_, a)| a == "create DRBD meta-data for dns"));
}

#[test]
fn a_full_vg_blocks_the_volume_before_anything_runs() {
    let v = example();
    let mut o = observed(&v);
    if let Part::Known(l) = &mut o.nodes.get_mut(&name("dom0m")).unwrap().lvm {
        l.vgs.get_mut("XEN").unwrap().free = 1 << 30;
    }
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let b = blocked_on(&p, "Volume/dns");
    assert!(
        b.reason.contains("VG XEN on dom0m has 512MiB free once the LVs planned before it exist; this volume needs 10GiB"),
        "{}",
        b.reason
    );
}

#[test]
fn every_action_turns_into_driver_argv() {
    let v = example();
    let p = plan(&v.desired, &v.allocation, &observed(&v), &Policy::default()).unwrap();
    let all: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| s.actions.iter())
        .flat_map(|a| a.cmds(&[]))
        .map(|c| c.display())
        .collect();
    assert!(
        all.contains(&"drbdadm -- --force create-md dns".to_string()),
        "{all:?}"
    );
    assert!(all.contains(&"drbdadm primary --force dns".to_string()));
    assert!(all.contains(&"xl create /etc/xen/dns.cfg".to_string()));
    assert!(all.iter().any(
        |c| c.starts_with("lvcreate --yes -Wy -Zy -L 10737418240b -n dns --addtag xenflux XEN")
    ));
    assert!(all.contains(&"install -D -m 0644 /dev/stdin /etc/drbd.d/dns.res".to_string()));
    let write = p.stages[2]
        .actions
        .iter()
        .find(|a| matches!(a, Action::WriteFile { .. }))
        .unwrap();
    assert!(write.cmds(&[])[0]
        .stdin
        .as_deref()
        .unwrap()
        .starts_with("# Managed by xenflux"));
}

#[test]
fn reports_lay_out_the_same_plan() {
    let v = example();
    let o = observed(&v);
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let text = xenflux::report::text(&p, &v.desired);
    assert!(
        text.contains("Stage 1/11: network: bonds and bridges"),
        "{text}"
    );
    assert!(text.contains("      $ drbdadm -- --force create-md dns"));
    assert!(
        text.contains("+++ dom0:/etc/drbd.d/dns.res"),
        "unified diffs of new files"
    );
    assert!(
        text.contains("volume dns: minor 0 (new), port 7788 (new), meta XEN/meta[0] (new)"),
        "{text}"
    );
    assert!(text.contains("domain mail NIC 0: MAC 00:16:3e:10:00:01 (pinned)"));
    assert!(
        text.trim_end().ends_with("0 blocked; 0 warning(s)."),
        "{text}"
    );
    assert!(
        !text.contains("like these"),
        "a pair's plan is shown whole, not folded: {text}"
    );

    let md = xenflux::report::markdown(&p, &v.desired);
    assert!(md.starts_with("## xenflux plan for cluster `xg`"));
    assert!(md.contains("```diff"));

    let json: serde_json::Value = serde_json::from_str(&xenflux::report::json(&p)).unwrap();
    assert_eq!(json["cluster"], "xg");
    assert_eq!(json["stages"][0]["actions"][0]["action"], "create-bond");
    let back: xenflux::plan::Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, p, "a saved plan reads back identically");

    // the shell script is valid sh and carries every command, files as here-documents
    let sh = xenflux::report::shell(&p, &v.desired);
    assert!(sh.starts_with("#!/bin/sh\n"));
    assert!(
        sh.contains("    dom0) target=root@192.168.1.190; opts='' ;;"),
        "{sh}"
    );
    assert!(sh.contains("on dom0 'install -D -m 0644 /dev/stdin /etc/drbd.d/dns.res' <<'XENFLUX_EOF'\n# Managed by xenflux"));
    assert!(sh.contains("on dom0 'drbdadm primary --force dns'"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.sh");
    #[allow(clippy::disallowed_methods)]
    std::fs::write(&path, &sh).unwrap();
    #[allow(clippy::disallowed_methods)]
    let check = std::process::Command::new("sh")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let status = xenflux::report::status(&v.desired, &o, &p);
    assert!(
        status.contains("dns: down on dom0, down on dom0m"),
        "{status}"
    );
    assert!(status.contains("domain dns should run on dom0"), "{status}");
}

#[test]
fn vg_space_is_counted_across_volumes() {
    let v = example();
    let mut o = observed(&v);
    // room for the meta LV, dns and vpn (10 + 8 GiB), not for mail (60 GiB) or ovs (100 GiB)
    if let Part::Known(l) = &mut o.nodes.get_mut(&name("dom0")).unwrap().lvm {
        l.vgs.get_mut("XEN").unwrap().free = (512 << 20) + (30 << 30);
    }
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let blocked: Vec<&str> = p.blocked.iter().map(|b| b.object.as_str()).collect();
    assert!(
        blocked.contains(&"Volume/mail") && blocked.contains(&"Volume/ovs"),
        "{blocked:?}"
    );
    assert!(
        !blocked.contains(&"Volume/dns") && !blocked.contains(&"Volume/vpn"),
        "{blocked:?}"
    );
}

#[test]
fn the_interface_carrying_the_ssh_connection_is_not_enslaved_unless_allowed() {
    let v = example();
    let mut o = observed(&v);
    // xenflux reached dom0 over SSH to 10.0.0.5, an address of eth0 — a slave of bond0.
    if let Part::Known(net) = &mut o.nodes.get_mut(&name("dom0")).unwrap().net {
        net.links.get_mut("eth0").unwrap().addresses = vec!["10.0.0.5/24".into()];
        net.management = Some("10.0.0.5".into());
    }
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let b = blocked_on(&p, "dom0/eth0");
    assert!(
        b.reason.contains("SSH connection (10.0.0.5)"),
        "{}",
        b.reason
    );
    let acts = actions(&p);
    assert!(!acts.contains(&("dom0".into(), "enslave eth0 to bond0".into())));
    // The other slave and the peer node are not held back.
    assert!(acts.contains(&("dom0".into(), "enslave eth1 to bond0".into())));
    assert!(acts.contains(&("dom0m".into(), "enslave eth0 to bond0".into())));

    // With the explicit allow, the operator takes the risk.
    let mut allowed = v.desired.clone();
    allowed
        .nodes
        .get_mut(&name("dom0"))
        .unwrap()
        .allow_management_change = true;
    let p = plan(&allowed, &v.allocation, &o, &Policy::default()).unwrap();
    assert!(p.blocked.iter().all(|b| b.object != "dom0/eth0"));
    assert!(actions(&p).contains(&("dom0".into(), "enslave eth0 to bond0".into())));
}

#[test]
fn a_domain_xen_kept_after_a_crash_is_warned_about_and_left_alone() {
    let v = example();
    let mut o = observed(&v);
    let Part::Known(x) = &mut o.nodes.get_mut(&name("dom0")).unwrap().xen else {
        panic!("fresh Xen is known");
    };
    x.kept.insert(
        7,
        xenflux::observe::KeptDomain {
            memory_mib: 512,
            state: "--p--d".into(),
            former_name: None,
        },
    );
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let warning = "node dom0: a crashed domain (id 7, 512 MiB) is kept by Xen; inspect it, then `xl destroy 7`";
    assert!(p.warnings.iter().any(|w| w == warning), "{:?}", p.warnings);
    // Nothing acts on it: the plan is the one without it, apart from the warning.
    let without = plan(&v.desired, &v.allocation, &observed(&v), &Policy::default()).unwrap();
    assert_eq!(p.stages, without.stages);
    assert!(xenflux::report::status(&v.desired, &o, &p).contains(warning));
    assert!(xenflux::report::text(&p, &v.desired).contains(warning));
}

/// A volume that still exists on a node no longer among its nodes (its DRBD resource, or an
/// LV xenflux made in that node's VG) is blocked, naming every such node in name order; an LV
/// of the same name xenflux did not make, or in another VG, does not count.
#[test]
fn a_volume_left_on_a_node_no_longer_its_own_is_blocked_naming_those_nodes() {
    let mut y =
        String::from("apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: xg}\nspec: {}\n");
    for (i, n) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        y.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: {n}}}\nspec: {{address: 10.0.0.{}, volumeGroup: VG{n}}}\n",
            i + 1
        ));
    }
    y.push_str("---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: dns}\nspec: {size: 1GiB, nodes: [a, b]}\n");
    y.push_str("---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: web}\nspec: {size: 1GiB, nodes: [a, b]}\n");
    let sources = [xenflux::load::Source {
        path: "state.yaml".into(),
        text: y,
    }];
    let v = validate(&sources, &Default::default()).unwrap();
    let mut o = Observed {
        nodes: ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| (name(n), fresh(&v, n)))
            .collect(),
    };
    let lv = |tags: &[&str]| xenflux::observe::LvState {
        size: 1 << 30,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        active: Some(true),
        open: Some(false),
        snapshot: None,
    };
    let with = |s: &mut NodeState, key: &str, tags: &[&str]| {
        if let Part::Known(l) = &mut s.lvm {
            l.lvs.insert(key.to_string(), lv(tags));
        }
    };
    // e: the DRBD resource; d: a managed LV in its own VG; c: an LV xenflux did not make,
    // and a managed one of that name in another VG.
    if let Part::Known(d) = &mut o.nodes.get_mut(&name("e")).unwrap().drbd {
        d.resources.insert(
            "dns".into(),
            DrbdResource {
                config: None,
                kernel: None,
            },
        );
    }
    with(
        o.nodes.get_mut(&name("d")).unwrap(),
        "VGd/dns",
        &["xenflux"],
    );
    with(o.nodes.get_mut(&name("c")).unwrap(), "VGc/dns", &[]);
    with(
        o.nodes.get_mut(&name("c")).unwrap(),
        "VGa/web",
        &["xenflux"],
    );
    let p = plan(&v.desired, &v.allocation, &o, &Policy::default()).unwrap();
    let b = blocked_on(&p, "Volume/dns");
    assert!(
        b.reason
            .starts_with("it still exists on d, e, which is no longer among its nodes"),
        "{}",
        b.reason
    );
    assert!(
        !p.blocked.iter().any(|b| b.object == "Volume/web"),
        "{:?}",
        p.blocked
    );
}
