#![allow(clippy::disallowed_methods)]
//! DRBD configuration observed for real: the rendered configuration of cluster-state/ given to
//! the real `drbdadm dump-xml` (drbd-utils 9.22, no kernel module), its output read by the
//! drivers' parser and by `observe::interpret` as a node's batch would be, and compared with the
//! allocation: for every volume, minor, port, meta-data slot, backing disk and every host's
//! address. Then the loop closes: what was observed, fed back as `Existing`, keeps every number.
//!
//! drbdadm only accepts a configuration whose local `on` section has an address of this machine:
//! each node's view runs with `__DRBD_NODE__=NODE` in a network namespace whose `lo` carries the
//! node's address. The whole-cluster DRBD 9 view uses `__DRBD_NODE__=validator` (a name no `on`
//! section has) and needs no namespace.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{load_state, repo_root, require_tool, scratch, write, NetNs};
use xenflux::alloc::{MetaAlloc, Origin};
use xenflux::drivers::drbd::{self, dump_xml};
use xenflux::model::{DrbdVersion, Name};
use xenflux::observe::{
    commands, interpret, DrbdState, MetaDisk, NodeState, Observed, Part, Probe,
};
use xenflux::render;
use xenflux::transport::{Cmd, Local, Output, Transport};
use xenflux::validate::Validated;

const V84: &str = "8.4.11";

/// One node's observation batch run for real through `t`, except that `drbdadm dump-xml` reads
/// `conf` (`-c FILE`) instead of `/etc/drbd.conf`; every other command (`cat /proc/drbd`, `lvs`,
/// `ip`, ...) is the real one of this machine. Returns the dump-xml output and the state.
fn observe_with_config(t: &Local, probe: &Probe, conf: &Path) -> (Output, NodeState) {
    let conf = conf.display().to_string();
    let batch: Vec<Cmd> = commands(probe)
        .into_iter()
        .map(|c| {
            if c.argv == drbd::dump_xml(None) {
                Cmd::new(drbd::dump_xml(Some(&conf)))
            } else {
                c
            }
        })
        .collect();
    assert!(
        batch.iter().any(|c| c.argv == drbd::dump_xml(Some(&conf))),
        "the batch has a dump-xml slot: {:?}",
        commands(probe)
    );
    let outputs = t.run_batch("node", &batch).expect("Local always runs");
    let xml = outputs
        .iter()
        .find(|o| o.argv == drbd::dump_xml(Some(&conf)))
        .expect("dump-xml output")
        .clone();
    (xml, interpret(probe, &outputs))
}

fn drbd_part(s: &NodeState) -> &DrbdState {
    match &s.drbd {
        Part::Known(d) => d,
        Part::Unknown(u) => panic!("drbd unknown: {u:?}"),
    }
}

/// The dump-xml parser and observation's reading both give the allocation's numbers for every
/// volume, seen from `node`.
fn check(v: &Validated, node: &Name, xml: &str, state: &NodeState, conf: &Path) {
    let d = &v.desired;
    let parsed = dump_xml::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let names: Vec<&str> = parsed.resources.iter().map(|r| r.name.as_str()).collect();
    let want: Vec<&str> = d.volumes.keys().map(Name::as_str).collect();
    assert_eq!(names, want, "dump-xml lists every volume");

    let drbd = drbd_part(state);
    assert_eq!(drbd.module_version, None, "no DRBD module here");
    assert!(drbd.stray_minors.is_empty());
    assert_eq!(
        drbd.resources
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        want
    );
    for (name, vs) in &d.volumes {
        let va = &v.allocation.volumes[name];
        let (minor, port) = (va.minor.value, va.port.value);
        let rc = parsed
            .resources
            .iter()
            .find(|r| r.name == name.as_str())
            .expect("listed");
        assert_eq!(rc.hosts.len(), vs.nodes.len(), "{name}");
        for n in &vs.nodes {
            let ns = &d.nodes[n];
            let h = rc
                .host(n.as_str())
                .unwrap_or_else(|| panic!("{name}: no host {n}"));
            let a = h.address.as_ref().expect("an address");
            assert_eq!(
                (a.family.as_str(), a.ip.as_str(), a.port),
                ("ipv4", ns.address.to_string().as_str(), port),
                "{name} on {n}"
            );
            let vol = &h.volumes[0];
            assert_eq!(vol.minor, Some(minor), "{name} on {n}");
            assert_eq!(
                vol.disk.as_deref(),
                Some(format!("/dev/{}/{name}", ns.volume_group).as_str())
            );
            let meta = match va.meta {
                MetaAlloc::Indexed { index, .. } => dump_xml::MetaDisk::Indexed {
                    path: format!("/dev/{}/{}", ns.volume_group, ns.meta_volume),
                    index,
                },
                MetaAlloc::Flexible { .. } => dump_xml::MetaDisk::Flexible {
                    path: format!("/dev/{}/{name}-md", ns.volume_group),
                },
                MetaAlloc::Internal => dump_xml::MetaDisk::Internal,
            };
            assert_eq!(vol.meta_disk.as_ref(), Some(&meta), "{name} on {n}");
        }

        // Observation: this node's own view of the resource.
        let c = drbd.resources[name.as_str()]
            .config
            .as_ref()
            .expect("configured");
        assert!(drbd.resources[name.as_str()].kernel.is_none());
        let me = &d.nodes[node];
        assert_eq!(c.minor, Some(minor), "{name}");
        assert_eq!(c.port, Some(port), "{name}");
        assert_eq!(
            c.disk.as_deref(),
            Some(format!("/dev/{}/{name}", me.volume_group).as_str())
        );
        let meta = match va.meta {
            MetaAlloc::Indexed { index, .. } => MetaDisk::Indexed {
                path: format!("/dev/{}/{}", me.volume_group, me.meta_volume),
                index,
            },
            MetaAlloc::Flexible { .. } => MetaDisk::Flexible {
                path: format!("/dev/{}/{name}-md", me.volume_group),
            },
            MetaAlloc::Internal => MetaDisk::Internal,
        };
        assert_eq!(c.meta.as_ref(), Some(&meta), "{name}");
        let hosts: BTreeMap<String, Option<String>> = vs
            .nodes
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Some(format!("{}:{port}", d.nodes[n].address)),
                )
            })
            .collect();
        assert_eq!(c.hosts, hosts, "{name}");
        assert_eq!(c.allow_two_primaries, vs.dual_primary, "{name}");
        assert_eq!(c.file.as_deref(), Some(conf.display().to_string().as_str()));
    }
}

/// Feeds the observation back as what the cluster already uses: validation must keep every
/// minor, port and meta-data slot (origin `Kept` unless pinned).
fn check_kept(v: &Validated, observed: Observed) {
    let existing = observed.existing();
    let sources = xenflux::load::from_dir(&repo_root().join("cluster-state")).expect("load");
    let again = match xenflux::validate::validate(&sources, &existing) {
        Ok(a) => a,
        Err(diags) => panic!("{diags:#?}"),
    };
    for (name, va) in &v.allocation.volumes {
        let kept = &again.allocation.volumes[name];
        assert_eq!(kept.minor.value, va.minor.value, "{name}");
        assert_eq!(kept.port.value, va.port.value, "{name}");
        assert_eq!(kept.meta, fix_origin(va.meta, kept.meta), "{name}");
        if va.minor.origin != Origin::Pinned {
            assert_eq!(kept.minor.origin, Origin::Kept, "{name}: {kept:?}");
        }
        if va.port.origin != Origin::Pinned {
            assert_eq!(kept.port.origin, Origin::Kept, "{name}: {kept:?}");
        }
    }
}

/// `want` with the origin of `got` when both are the same slot (origins are compared apart).
fn fix_origin(want: MetaAlloc, got: MetaAlloc) -> MetaAlloc {
    match (want, got) {
        (MetaAlloc::Indexed { index, .. }, MetaAlloc::Indexed { index: i, origin })
            if i == index =>
        {
            assert_ne!(
                origin,
                Origin::New,
                "slot {index} was observed, so it is kept"
            );
            MetaAlloc::Indexed { index, origin }
        }
        _ => want,
    }
}

#[test]
fn each_node_observes_the_rendered_84_config_as_allocated() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = load_state(&repo_root().join("cluster-state"));
    assert_eq!(v.desired.cluster.drbd.version, DrbdVersion::V84);
    let dir = scratch();
    let conf = write(
        dir.path(),
        "drbd.conf",
        &render::drbd::cluster_config(&v.desired, &v.allocation),
    );
    let mut observed = Observed::default();
    for (node, spec) in &v.desired.nodes {
        let Some(ns) = NetNs::with_addresses(node.as_str(), &[spec.address]) else {
            return;
        };
        let t = Local {
            prefix: ["ip", "netns", "exec", ns.name.as_str()]
                .map(String::from)
                .to_vec(),
            env: vec![
                ("__DRBD_NODE__".into(), node.to_string()),
                ("DRBD_DRIVER_VERSION_OVERRIDE".into(), V84.into()),
            ],
        };
        let probe = Probe {
            host: node.to_string(),
            drbd_version: DrbdVersion::V84,
            ..Default::default()
        };
        let (xml, state) = observe_with_config(&t, &probe, &conf);
        assert!(xml.success(), "{}\n{}", xml.describe(), xml.stderr);
        assert!(
            xml.stderr
                .contains(&format!("PRETENDING that I am >>{node}<<")),
            "{}",
            xml.stderr
        );
        check(&v, node, &xml.stdout, &state, &conf);
        observed.nodes.insert(node.clone(), state);
    }
    check_kept(&v, observed);
}

#[test]
fn a_config_drbdadm_rejects_is_unknown_not_empty() {
    // Outside its namespace dom0's address is not local: drbdadm refuses the whole file, and
    // observation must say "unknown" with drbdadm's words, never "no resources".
    if !require_tool("drbdadm") {
        return;
    }
    let v = load_state(&repo_root().join("cluster-state"));
    let dir = scratch();
    let conf = write(
        dir.path(),
        "drbd.conf",
        &render::drbd::cluster_config(&v.desired, &v.allocation),
    );
    let Some(ns) = NetNs::with_addresses("noaddr", &[]) else {
        return;
    };
    let t = Local {
        prefix: ["ip", "netns", "exec", ns.name.as_str()]
            .map(String::from)
            .to_vec(),
        env: vec![
            ("__DRBD_NODE__".into(), "dom0".into()),
            ("DRBD_DRIVER_VERSION_OVERRIDE".into(), V84.into()),
        ],
    };
    let probe = Probe {
        host: "dom0".into(),
        ..Default::default()
    };
    let (xml, state) = observe_with_config(&t, &probe, &conf);
    assert_eq!(xml.status, Some(10), "{}", xml.stderr);
    match &state.drbd {
        Part::Unknown(u) => {
            assert_eq!(u.status, Some(10));
            assert!(
                u.stderr
                    .contains("IP 192.168.1.190 not found on this host."),
                "{u:?}"
            );
            assert!(u.command.contains("dump-xml"), "{u:?}");
        }
        Part::Known(k) => panic!("a refused config read as known: {k:?}"),
    }
}

#[test]
fn the_whole_drbd9_cluster_config_observes_as_allocated_with_node_ids() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = common::drbd9_state();
    let dir = scratch();
    let conf = write(
        dir.path(),
        "drbd.conf",
        &render::drbd::cluster_config(&v.desired, &v.allocation),
    );
    // No namespace: as "validator" drbdadm skips the address check for every resource.
    let t = Local {
        prefix: Vec::new(),
        env: vec![("__DRBD_NODE__".into(), "validator".into())],
    };
    for node in ["dom0", "dom1"] {
        let node: Name = node.parse().expect("name");
        let probe = Probe {
            host: node.to_string(),
            drbd_version: DrbdVersion::V9,
            // dump-xml leaves node-ids out; observation reads them from the file itself.
            files: vec![conf.display().to_string()],
            ..Default::default()
        };
        let (xml, state) = observe_with_config(&t, &probe, &conf);
        assert!(xml.success(), "{}\n{}", xml.describe(), xml.stderr);
        // Only on a node's own volumes is the view its own; dom0 is in every volume but data3's
        // first host is dom1, and dom1 is only in data3.
        if node.as_str() == "dom0" {
            check(&v, &node, &xml.stdout, &state, &conf);
        }
        let drbd = drbd_part(&state);
        for (name, va) in &v.allocation.volumes {
            let c = drbd.resources[name.as_str()]
                .config
                .as_ref()
                .expect("configured");
            let ids: BTreeMap<String, u32> = va
                .node_ids
                .iter()
                .map(|(n, id)| (n.to_string(), *id))
                .collect();
            assert_eq!(c.node_ids, ids, "{name} seen from {node}");
            assert_eq!(c.minor, Some(va.minor.value), "{name}");
            assert_eq!(c.port, Some(va.port.value), "{name}");
        }
        let data3 = drbd.resources["data3"].config.as_ref().expect("data3");
        assert_eq!(data3.hosts.len(), 3);
        assert_eq!(
            data3.meta,
            Some(MetaDisk::Flexible {
                path: if node.as_str() == "dom1" {
                    "/dev/VG1/data3-md".into()
                } else {
                    "/dev/XEN/data3-md".into()
                }
            })
        );
    }
}
