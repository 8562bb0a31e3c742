//! The desired-state rules: each test changes the example `cluster-state/` (or builds a small
//! state) and checks the exact diagnostic — file, line, field and message — or the allocation.

mod edits;

use std::collections::BTreeMap;

use edits::{changed, errors, example, ok, with_file};

use xenflux::alloc::{Existing, MetaAlloc, NodeUsage, Origin, ResourceUse};
use xenflux::diag::Diagnostic;
use xenflux::load::{self, Source};
use xenflux::model::units::{GIB, MIB};
use xenflux::model::{Mac, Name};
use xenflux::validate::validate;

/// The one error whose message contains `needle`.
fn find<'a>(errs: &'a [Diagnostic], needle: &str) -> &'a Diagnostic {
    let hits: Vec<&Diagnostic> = errs.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one error containing {needle:?}, got: {errs:#?}"
    );
    hits[0]
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

const PAIR: &str = "apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: a}\nspec: {address: 10.0.0.1, volumeGroup: vg}\n---\n\
apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: b}\nspec: {address: 10.0.0.2, volumeGroup: vg}\n";

fn volumes(n: usize, nodes: &str) -> String {
    (0..n)
        .map(|i| format!("---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {{name: v{i:03}}}\nspec: {{size: 1GiB, nodes: [{nodes}]}}\n"))
        .collect()
}

#[test]
fn the_example_is_valid_and_allocates_everything() {
    let v = ok(&example());
    assert_eq!(v.desired.volumes.len(), 4);
    assert_eq!(v.allocation.volumes.len(), 4);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let dns = &v.allocation.volumes[&name("dns")];
    assert_eq!((dns.minor.value, dns.port.value), (0, 7788));
    assert_eq!(
        v.allocation.meta_lv_size[&name("dom0")].bytes(),
        4 * 128 * MIB
    );
}

#[test]
fn unknown_fields_are_located() {
    let errs = errors(&changed(
        "volumes.yaml",
        "  size: 8GiB\n",
        "  size: 8GiB\n  colour: blue\n",
    ));
    let e = find(&errs, "unknown field `colour`");
    assert!(e.file.ends_with("volumes.yaml"));
    assert_eq!((e.line, e.column, e.field.as_str()), (17, 3, "spec.colour"));
    assert_eq!(e.object.as_deref(), Some("Volume/vpn"));
    assert_eq!(errs.len(), 1);
}

#[test]
fn bad_units_are_errors_with_a_hint() {
    let errs = errors(&changed("volumes.yaml", "size: 10GiB", "size: 10G"));
    let e = find(&errs, "invalid size `10G`");
    assert!(e.message.contains("did you mean GiB"));
    assert_eq!((e.line, e.field.as_str()), (8, "spec.size"));
    assert_eq!(errs.len(), 1, "no second 'missing field' error: {errs:#?}");
    let errs = errors(&changed("cluster.yaml", "syncRate: 40M", "syncRate: 40MB"));
    assert_eq!(find(&errs, "invalid rate").field, "spec.drbd.syncRate");
    let errs = errors(&changed("domains.yaml", "memory: 512MiB", "memory: 0.5GiB"));
    assert_eq!(find(&errs, "invalid size").field, "spec.memory");
}

#[test]
fn bad_names_are_errors() {
    let errs = errors(&changed("volumes.yaml", "name: dns", "name: DNS_1"));
    let e = find(&errs, "invalid name `DNS_1`");
    assert_eq!(e.field, "metadata.name");
    let errs = errors(&changed(
        "network.yaml",
        "slaves: [eth0, eth1]",
        "slaves: [eth0, \"eth 1\"]",
    ));
    assert_eq!(
        find(&errs, "invalid interface name").field,
        "spec.slaves[1]"
    );
}

#[test]
fn duplicate_names_per_kind_are_errors_but_other_kinds_may_share_a_name() {
    // Volume dns and Domain dns share a name: fine. A second Volume dns is not.
    let errs = errors(&changed("volumes.yaml", "name: vpn", "name: dns"));
    let e = find(&errs, "duplicate Volume `dns`");
    assert_eq!(e.line, 14);
    assert!(
        e.message.contains("volumes.yaml"),
        "names the first definition: {}",
        e.message
    );
}

#[test]
fn dangling_references_are_errors() {
    let errs = errors(&changed(
        "volumes.yaml",
        "nodes: [dom0, dom0m]\n---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: vpn",
        "nodes: [dom0, dom9]\n---\napiVersion: xenflux/v1\nkind: Volume\nmetadata:\n  name: vpn",
    ));
    assert_eq!(find(&errs, "unknown node `dom9`").field, "spec.nodes[1]");

    let errs = errors(&changed("domains.yaml", "volume: vpn", "volume: vnp"));
    let e = find(&errs, "unknown volume `vnp`");
    assert_eq!(
        (e.object.as_deref(), e.field.as_str()),
        (Some("Domain/vpn"), "spec.disks[0].volume")
    );

    let errs = errors(&changed(
        "network.yaml",
        "ports: [bond0]",
        "ports: [bond0, eth1]",
    ));
    let e = errs
        .iter()
        .find(|e| e.message.contains("`eth1` is a slave of bond `bond0`"))
        .expect("bond slave as port");
    assert_eq!(e.field, "spec.ports[1]");

    let errs = errors(&changed(
        "volumes.yaml",
        "dualPrimary: true",
        "dualPrimary: false",
    ));
    assert_eq!(
        find(&errs, "is not dual-primary").field,
        "spec.filesystems[0].volume"
    );

    let errs = errors(&changed(
        "domains.yaml",
        "bridge: xenbr0}\n---\napiVersion: xenflux/v1\nkind: Domain\nmetadata:\n  name: vpn",
        "bridge: xenbr9}\n---\napiVersion: xenflux/v1\nkind: Domain\nmetadata:\n  name: vpn",
    ));
    assert_eq!(
        find(&errs, "unknown bridge `xenbr9`").field,
        "spec.nics[0].bridge"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut sources = changed("volumes.yaml", "size: 10GiB", "size: 10G\n  colour: blue");
    let d = sources
        .iter_mut()
        .find(|s| s.path.ends_with("domains.yaml"))
        .unwrap();
    d.text = d
        .text
        .replace("vcpus: 2", "vcpus: 2\n  memroy: 1")
        .replace("volume: vpn", "volume: nope");
    let n = sources
        .iter_mut()
        .find(|s| s.path.ends_with("ocfs2.yaml"))
        .unwrap();
    n.text = n.text.replace("deadThreshold: 31", "deadThreshold: 3");
    let errs = errors(&sources);
    for needle in [
        "invalid size",
        "unknown field `colour`",
        "unknown field `memroy`",
        "unknown volume `nope`",
        "below the O2CB minimum of 7",
    ] {
        find(&errs, needle);
    }
    assert_eq!(errs.len(), 5, "{errs:#?}");
    // sorted by file, then line
    let keys: Vec<(String, usize)> = errs.iter().map(|e| (e.file.clone(), e.line)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn yaml_syntax_errors_are_located() {
    let errs = errors(&changed(
        "volumes.yaml",
        "nodes: [dom0, dom0m]",
        "nodes: [dom0, dom0m",
    ));
    let e = errs
        .iter()
        .find(|e| e.message.starts_with("YAML syntax"))
        .expect("syntax error");
    assert!(e.file.ends_with("volumes.yaml") && e.line > 0);
}

#[test]
fn minors_are_capped_by_max_minors_and_name_the_node() {
    let src = vec![Source {
        path: "s.yaml".into(),
        text: format!("{PAIR}{}", volumes(256, "a, b")),
    }];
    let errs = errors(&src);
    let e = find(&errs, "no free DRBD minor");
    assert!(
        e.message.contains(" on a:") || e.message.contains(" on b:"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("would have 256 DRBD devices"),
        "{}",
        e.message
    );
    assert!(e.message.contains("maxMinors 255"));
    // 255 fit exactly: minors 0-254
    let v = ok(&[Source {
        path: "s.yaml".into(),
        text: format!("{PAIR}{}", volumes(255, "a, b")),
    }]);
    assert_eq!(
        v.allocation.volumes.values().map(|a| a.minor.value).max(),
        Some(254)
    );
    // a smaller policy limit is honoured
    let cluster = "apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: c}\nspec: {drbd: {maxMinors: 3}}\n---\n";
    let errs = errors(&[Source {
        path: "s.yaml".into(),
        text: format!("{cluster}{PAIR}{}", volumes(4, "a, b")),
    }]);
    assert!(find(&errs, "no free DRBD minor")
        .message
        .contains("would have 4 DRBD devices"));
}

#[test]
fn minors_are_the_same_on_all_nodes_and_lowest_free_on_every_node() {
    let three = format!("{PAIR}---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: c}}\nspec: {{address: 10.0.0.3, volumeGroup: vg}}\n");
    let vols = "---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: x}\nspec: {size: 1GiB, nodes: [a, b], minor: 0}\n\
---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: y}\nspec: {size: 1GiB, nodes: [b, c]}\n\
---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: z}\nspec: {size: 1GiB, nodes: [a, c]}\n";
    let v = ok(&[Source {
        path: "s.yaml".into(),
        text: format!("{three}{vols}"),
    }]);
    let minor = |n: &str| v.allocation.volumes[&name(n)].minor;
    assert_eq!(minor("x").value, 0);
    assert_eq!(minor("x").origin, Origin::Pinned);
    assert_eq!(minor("y").value, 1, "0 is taken on b");
    assert_eq!(minor("z").value, 2, "0 is taken on a, 1 on c");
}

#[test]
fn conflicting_minor_pins_are_errors() {
    let mut src = changed(
        "volumes.yaml",
        "  size: 10GiB\n",
        "  size: 10GiB\n  minor: 5\n",
    );
    let f = src
        .iter_mut()
        .find(|s| s.path.ends_with("volumes.yaml"))
        .unwrap();
    f.text = f
        .text
        .replacen("  size: 8GiB\n", "  size: 8GiB\n  minor: 5\n", 1);
    let errs = errors(&src);
    let e = errs
        .iter()
        .find(|e| {
            e.message
                .contains("minor 5 on dom0 is already taken by volume `dns`")
        })
        .expect("conflict");
    assert_eq!(
        (e.object.as_deref(), e.field.as_str()),
        (Some("Volume/vpn"), "spec.minor")
    );
    let errs = errors(&changed(
        "volumes.yaml",
        "  size: 10GiB\n",
        "  size: 10GiB\n  minor: 255\n",
    ));
    find(&errs, "minor 255 is outside 0-254");
}

#[test]
fn ports_skip_the_ocfs2_port_and_exhaust_with_the_pool_named() {
    let pool = |first: u16, last: u16| {
        changed(
            "cluster.yaml",
            "ports: {first: 7788, last: 8787}",
            &format!("ports: {{first: {first}, last: {last}}}"),
        )
    };
    let v = ok(&pool(7776, 7790));
    let ports: Vec<u16> = ["dns", "mail", "ovs", "vpn"]
        .iter()
        .map(|n| v.allocation.volumes[&name(n)].port.value)
        .collect();
    assert_eq!(ports, vec![7776, 7778, 7779, 7780], "7777 is o2cb's");
    let errs = errors(&pool(7776, 7779));
    let e = find(&errs, "port pool 7776-7779 is exhausted");
    assert_eq!(e.object.as_deref(), Some("Volume/vpn"));
    let errs = errors(&changed(
        "volumes.yaml",
        "  size: 10GiB\n",
        "  size: 10GiB\n  port: 7777\n",
    ));
    find(&errs, "port 7777 is the OCFS2 o2cb port");
    // a pinned port is honoured and skipped by the others
    let v = ok(&changed(
        "volumes.yaml",
        "  size: 8GiB\n",
        "  size: 8GiB\n  port: 7788\n",
    ));
    assert_eq!(v.allocation.volumes[&name("vpn")].port.value, 7788);
    assert_eq!(v.allocation.volumes[&name("dns")].port.value, 7789);
}

#[test]
fn ports_already_listening_on_a_node_are_not_handed_out() {
    let mut existing = Existing::default();
    existing.nodes.insert(
        name("dom0m"),
        NodeUsage {
            listening: [7788, 22].into(),
            ..Default::default()
        },
    );
    let v = validate(&example(), &existing).unwrap();
    assert_eq!(v.allocation.volumes[&name("dns")].port.value, 7789);
}

#[test]
fn meta_slots_and_the_meta_lv_size() {
    let v = ok(&changed(
        "volumes.yaml",
        "  size: 8GiB\n",
        "  size: 8GiB\n  metaIndex: 6\n",
    ));
    let slot = |n: &str| match v.allocation.volumes[&name(n)].meta {
        MetaAlloc::Indexed { index, .. } => index,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (slot("dns"), slot("mail"), slot("ovs"), slot("vpn")),
        (0, 1, 2, 6)
    );
    assert_eq!(
        v.allocation.meta_lv_size[&name("dom0")].bytes(),
        7 * 128 * MIB,
        "(highest slot + 1) × 128 MiB"
    );
}

#[test]
fn indexed_meta_has_a_size_limit_and_flexible_is_sized_by_formula() {
    let errs = errors(&changed("volumes.yaml", "size: 60GiB", "size: 4TiB"));
    let e = find(&errs, "larger than one 128 MiB indexed meta-data slot");
    assert!(e.message.contains("meta: flexible"));
    assert_eq!(e.field, "spec.size");
    // 4 TiB − 1.125 GiB is the largest that fits
    ok(&changed("volumes.yaml", "size: 60GiB", "size: 4193152MiB"));
    errors(&changed("volumes.yaml", "size: 60GiB", "size: 4193156MiB"));
    let v = ok(&changed(
        "volumes.yaml",
        "size: 60GiB\n",
        "size: 8TiB\n  meta: flexible\n",
    ));
    assert_eq!(
        v.allocation.volumes[&name("mail")].meta,
        MetaAlloc::Flexible {
            size: xenflux::model::Size(260 * MIB)
        }
    );
    // flexible volumes take no slot
    assert_eq!(
        v.allocation.meta_lv_size[&name("dom0")].bytes(),
        3 * 128 * MIB
    );
}

#[test]
fn internal_meta_is_accepted_with_a_warning() {
    let v = ok(&changed(
        "volumes.yaml",
        "  size: 8GiB\n",
        "  size: 8GiB\n  meta: internal\n",
    ));
    assert_eq!(v.warnings.len(), 1);
    assert!(v.warnings[0].message.contains("internal meta-data"));
    assert_eq!(v.warnings[0].field, "spec.meta");
    assert_eq!(v.allocation.volumes[&name("vpn")].meta, MetaAlloc::Internal);
}

#[test]
fn sizes_must_be_whole_extents() {
    let errs = errors(&changed("volumes.yaml", "size: 10GiB", "size: 10241MiB"));
    find(&errs, "not a whole number of 4 MiB LVM extents");
}

#[test]
fn macs_are_xen_unique_and_allocated() {
    let v = ok(&example());
    let macs: Vec<Mac> = v
        .allocation
        .macs
        .values()
        .flatten()
        .map(|m| m.value)
        .collect();
    assert_eq!(macs.len(), 3);
    assert!(macs.iter().all(|m| m.is_xen()));
    let unique: std::collections::BTreeSet<_> = macs.iter().collect();
    assert_eq!(unique.len(), 3);
    assert_eq!(v.allocation.macs[&name("mail")][0].origin, Origin::Pinned);

    let errs = errors(&changed(
        "domains.yaml",
        "mac: \"00:16:3e:10:00:01\"",
        "mac: \"52:54:00:10:00:01\"",
    ));
    find(&errs, "outside Xen's range");
    let errs = errors(&changed(
        "domains.yaml",
        "- {bridge: xenbr0}\n",
        "- {bridge: xenbr0, mac: \"00:16:3e:10:00:01\"}\n",
    ));
    find(
        &errs,
        "MAC 00:16:3e:10:00:01 is already used by domain `dns` NIC 0",
    );
}

#[test]
fn bridges_with_two_uplinks_need_stp_and_interfaces_have_one_master() {
    let errs = errors(&changed(
        "network.yaml",
        "  ports: [bond0]\n  stp: true",
        "  ports: [bond0, eth2]\n  stp: false",
    ));
    let e = find(&errs, "must run STP");
    assert_eq!(e.field, "spec.stp");
    let two_bonds = "---\napiVersion: xenflux/v1\nkind: Bond\nmetadata: {name: bond1}\nspec: {mode: active-backup, slaves: [eth1, eth2]}\n";
    let errs = errors(&with_file(example(), "extra.yaml", two_bonds));
    assert!(
        errs.iter().any(|e| e
            .message
            .contains("`eth1` on dom0 is already enslaved to `bond0`")),
        "{errs:#?}"
    );
}

#[test]
fn bridge_names_and_gateways() {
    let errs = errors(&changed("network.yaml", "name: xenbr0", "name: bond0"));
    find(&errs, "is also a Bond");
    let errs = errors(&changed("network.yaml", "    dom0: 192.168.1.190/24\n", ""));
    assert_eq!(
        find(&errs, "needs an address of the bridge on dom0").field,
        "spec.gateways.dom0"
    );
    let errs = errors(&changed(
        "network.yaml",
        "dom0m: 192.168.1.1\n",
        "dom0m: \"fd00::1\"\n",
    ));
    find(&errs, "different IP families");
}

#[test]
fn ocfs2_rules() {
    let errs = errors(&changed("ocfs2.yaml", "number: 1", "number: 0"));
    find(&errs, "node number 0 is used twice");
    let errs = errors(&changed("ocfs2.yaml", "slots: 4", "slots: 1"));
    find(&errs, "1 slots for 2 nodes");
    for (from, to, needle) in [
        ("deadThreshold: 31", "deadThreshold: 6", "minimum of 7"),
        (
            "idleTimeoutMs: 30000",
            "idleTimeoutMs: 4999",
            "minimum of 5000 ms",
        ),
        (
            "keepaliveDelayMs: 2000",
            "keepaliveDelayMs: 999",
            "minimum of 1000 ms",
        ),
        (
            "reconnectDelayMs: 2000",
            "reconnectDelayMs: 1999",
            "minimum of 2000 ms",
        ),
    ] {
        let errs = errors(&changed("ocfs2.yaml", from, to));
        find(&errs, needle);
    }
    let errs = errors(&changed(
        "ocfs2.yaml",
        "name: ovscluster",
        "name: ovs-cluster",
    ));
    find(&errs, "only letters and digits");
}

#[test]
fn a_domain_disk_must_be_replicated_to_the_domain_node() {
    let three = "apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: dom1}\nspec: {address: 192.168.1.192, volumeGroup: XEN}\n";
    let src = with_file(
        changed("domains.yaml", "node: dom0m", "node: dom1"),
        "n.yaml",
        three,
    );
    let errs = errors(&src);
    let e = find(&errs, "is not replicated to the domain's node `dom1`");
    assert_eq!(e.field, "spec.disks[0].volume");
}

#[test]
fn memory_and_n_plus_one_are_warnings() {
    let v = ok(&changed("nodes.yaml", "memory: 16GiB", "memory: 2GiB"));
    let w: Vec<&str> = v.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("domains preferring dom0 need 2560MiB, more than its 2GiB")),
        "{w:?}"
    );
    let mut src = changed("nodes.yaml", "memory: 16GiB", "memory: 3GiB");
    let n = src
        .iter_mut()
        .find(|s| s.path.ends_with("nodes.yaml"))
        .unwrap();
    assert!(n.text.contains("memory: 16GiB"));
    n.text = n.text.replace("memory: 16GiB", "memory: 2560MiB");
    let v = ok(&src);
    let w: Vec<&str> = v.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("N+1: if dom0 fails, dom0m would host 3GiB")),
        "{w:?}"
    );
    assert!(
        !w.iter().any(|m| m.contains("N+1: if dom0m fails")),
        "{w:?}"
    );
}

#[test]
fn allocation_is_deterministic() {
    let a = ok(&example()).allocation;
    let mut reversed = example();
    reversed.reverse();
    let b = ok(&reversed).allocation;
    assert_eq!(a, b);
}

#[test]
fn allocation_is_sticky_and_never_moves_existing_values() {
    let mut existing = Existing::default();
    for node in ["dom0", "dom0m"] {
        let mut usage = NodeUsage::default();
        usage.resources.insert(
            "mail".into(),
            ResourceUse {
                minor: Some(9),
                port: Some(7800),
                meta_index: Some(4),
                ..Default::default()
            },
        );
        // an orphan the desired state no longer has keeps its numbers busy
        usage.resources.insert(
            "old".into(),
            ResourceUse {
                minor: Some(0),
                port: Some(7788),
                meta_index: Some(0),
                ..Default::default()
            },
        );
        existing.nodes.insert(name(node), usage);
    }
    existing
        .macs
        .insert((name("dns"), 0), "00:16:3e:aa:bb:cc".parse().unwrap());
    // a new volume whose name sorts first must not take anything from the existing ones
    let src = with_file(example(), "new.yaml",
        "apiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: aaa}\nspec: {size: 1GiB, nodes: [dom0, dom0m]}\n");
    let v = validate(&src, &existing).unwrap();
    let mail = &v.allocation.volumes[&name("mail")];
    assert_eq!(
        (mail.minor.value, mail.port.value, mail.minor.origin),
        (9, 7800, Origin::Kept)
    );
    assert!(matches!(
        mail.meta,
        MetaAlloc::Indexed {
            index: 4,
            origin: Origin::Kept
        }
    ));
    let aaa = &v.allocation.volumes[&name("aaa")];
    assert_eq!(
        (aaa.minor.value, aaa.port.value),
        (1, 7789),
        "0 and 7788 belong to the orphan"
    );
    assert_eq!(
        v.allocation.macs[&name("dns")][0].value.to_string(),
        "00:16:3e:aa:bb:cc"
    );
    assert_eq!(
        v.allocation.meta_lv_size[&name("dom0")].bytes(),
        6 * 128 * MIB,
        "slots 0 (orphan), 1-3, 4 (mail), 5"
    );

    // a pin that contradicts what the cluster runs is an error, not a move
    let src = changed(
        "volumes.yaml",
        "  syncRate: 60M\n",
        "  syncRate: 60M\n  minor: 3\n",
    );
    let errs = match validate(&src, &existing) {
        Err(e) => e,
        Ok(_) => panic!("pin contradicting the cluster must fail"),
    };
    assert!(errs.iter().any(|e| e
        .message
        .contains("already uses minor 9 on the cluster and the pin says 3")));

    // nodes that disagree are reported
    existing
        .nodes
        .get_mut(&name("dom0m"))
        .unwrap()
        .resources
        .get_mut("mail")
        .unwrap()
        .minor = Some(8);
    let errs = validate(&example(), &existing).unwrap_err();
    assert!(errs
        .iter()
        .any(|e| e.message.contains("nodes disagree") && e.message.contains("dom0: 9, dom0m: 8")));
}

#[test]
fn drbd_84_pairs_and_drbd_9_meshes() {
    let three = "apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: dom1}\nspec: {address: 192.168.1.192, volumeGroup: XEN}\n";
    let src = with_file(
        changed(
            "volumes.yaml",
            "nodes: [dom0, dom0m]\n",
            "nodes: [dom0, dom0m, dom1]\n",
        ),
        "n.yaml",
        three,
    );
    find(
        &errors(&src),
        "DRBD 8.4 replicates between exactly two nodes",
    );
    let mut src = src;
    let c = src
        .iter_mut()
        .find(|s| s.path.ends_with("cluster.yaml"))
        .unwrap();
    c.text = c.text.replace("version: \"8.4\"", "version: \"9\"");
    let v = ok(&src);
    assert_eq!(v.desired.volumes[&name("dns")].nodes.len(), 3);
    let m = &v.allocation.volumes[&name("dns")];
    assert_eq!(m.minor.value, 0);
    let ids: Vec<u32> = ["dom0", "dom0m", "dom1"]
        .iter()
        .map(|n| m.node_ids[&name(n)])
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
    // node-ids seen on the cluster are kept, whatever the order of `nodes`
    let mut existing = Existing::default();
    let mut usage = NodeUsage::default();
    usage.resources.insert(
        "dns".into(),
        ResourceUse {
            node_ids: [("dom0".to_string(), 2), ("dom1".to_string(), 0)].into(),
            ..Default::default()
        },
    );
    existing.nodes.insert(name("dom0"), usage);
    let v = validate(&src, &existing).unwrap();
    let m = &v.allocation.volumes[&name("dns")];
    let ids: Vec<u32> = ["dom0", "dom0m", "dom1"]
        .iter()
        .map(|n| m.node_ids[&name(n)])
        .collect();
    assert_eq!(ids, vec![2, 1, 0]);
    // two peers: the bitmap doubles, so the indexed limit halves
    assert!(xenflux::validate::rules::indexed_meta_capacity(2) < 2048 * GIB);
}

#[test]
fn an_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sources = load::from_dir(dir.path()).unwrap();
    let errs = errors(&sources);
    assert!(errs[0].message.contains("no YAML files"));
}

#[test]
fn documents_may_be_laid_out_freely() {
    // everything in one file, in any order
    let all: String = example()
        .iter()
        .rev()
        .map(|s| format!("---\n{}", s.text))
        .collect();
    let v = ok(&[Source {
        path: "all.yaml".into(),
        text: all,
    }]);
    let b = ok(&example());
    assert_eq!(v.allocation, b.allocation);
    let _: BTreeMap<_, _> = v.desired.volumes;
}

const NOTIFY_OK: &str = "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: ops}\nspec:\n  type: slack\n  addressFile: /etc/xenflux/slack-url\n  channel: '#ops'\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: mail}\nspec:\n  type: command\n  command: [/usr/local/bin/mail-event, ops@example.net]\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {name: on-call}\nspec:\n  provider: ops\n  events: [node-dead, fence, failover, split-brain]\n  severity: error\n  objects: [Node/*, Volume/dns]\n";

#[test]
fn providers_and_alerts_are_kinds_of_the_desired_state() {
    let v = ok(&with_file(example(), "notify.yaml", NOTIFY_OK));
    assert_eq!(v.desired.providers.len(), 2);
    let a = &v.desired.alerts[&name("on-call")];
    assert_eq!(a.provider, name("ops"));
    assert_eq!(a.events.len(), 4);
}

#[test]
fn bad_providers_and_alerts_are_each_located() {
    let text = "apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: web}\nspec:\n  type: generic\n  address: https://hooks.example.net/x\n  timeout: 1h\n  retries: 50\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: both}\nspec:\n  type: slack\n  address: http://127.0.0.1:1/x\n  addressFile: relative/path\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: cmd}\nspec:\n  type: command\n  address: http://127.0.0.1:1/\n  rateLimit: {events: 0, per: 1s}\n---\n\
apiVersion: xenflux/v1\nkind: Provider\nmetadata: {name: odd}\nspec:\n  type: pager\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {name: lost}\nspec:\n  provider: nobody\n  events: [node-dead]\n  objects: [Volume, Domain/*]\n---\n\
apiVersion: xenflux/v1\nkind: Alert\nmetadata: {name: tea}\nspec:\n  provider: web\n  events: [node-dead, coffee]\n";
    let errs = errors(&with_file(example(), "notify.yaml", text));
    let at = |needle: &str| {
        let d = find(&errs, needle);
        (d.file.as_str(), d.line, d.field.as_str())
    };
    assert_eq!(
        at("https:// is not supported"),
        ("notify.yaml", 6, "spec.address")
    );
    assert_eq!(at("must be 1s to 5m"), ("notify.yaml", 7, "spec.timeout"));
    assert_eq!(at("must be 0 to 10"), ("notify.yaml", 8, "spec.retries"));
    assert_eq!(
        at("give `address` or `addressFile`, not both"),
        ("notify.yaml", 15, "spec.address")
    );
    assert_eq!(
        at("must be an absolute path"),
        ("notify.yaml", 16, "spec.addressFile")
    );
    assert_eq!(at("needs `command`"), ("notify.yaml", 21, "spec.command"));
    assert_eq!(
        at("a `command` provider has no address"),
        ("notify.yaml", 23, "spec.address")
    );
    assert_eq!(
        at("must be 1 to 1000"),
        ("notify.yaml", 24, "spec.rateLimit.events")
    );
    assert_eq!(at("pager").2, "spec.type");
    assert_eq!(
        at("no Provider named `nobody`"),
        ("notify.yaml", 36, "spec.provider")
    );
    assert_eq!(at("coffee").2, "spec.events[1]");
    assert_eq!(
        at("is not `Kind/name` or `Kind/*`"),
        ("notify.yaml", 38, "spec.objects[0]")
    );
}
