#![allow(clippy::disallowed_methods)]
//! The rendered DRBD configuration fed to the real drbdadm (drbd-utils 9.22, no kernel module
//! needed): the whole cluster's config must pass `sh-nop` (which checks duplicate minors, ports
//! and meta-data slots on every host), and each node's own files must dry-run `up` with the
//! allocated numbers, inside a network namespace that carries the node's replication address.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use common::{load_state, repo_root, require_tool, run, scratch, tool, write, NetNs, Output};
use xenflux::alloc::MetaAlloc;
use xenflux::model::{DrbdVersion, Name};
use xenflux::render::{self, drbd};
use xenflux::validate::Validated;

const V84: &str = "8.4.11";

/// `__DRBD_NODE__=validator drbdadm -c FILE sh-nop`, in 8.4 mode when asked.
fn sh_nop(file: &Path, version: DrbdVersion) -> Output {
    let mut cmd = Command::new(tool("drbdadm"));
    cmd.env("__DRBD_NODE__", "validator");
    if version == DrbdVersion::V84 {
        cmd.env("DRBD_DRIVER_VERSION_OVERRIDE", V84);
    }
    cmd.arg("-c").arg(file).arg("sh-nop");
    run(&mut cmd)
}

fn dump_xml(file: &Path, version: DrbdVersion) -> String {
    let mut cmd = Command::new(tool("drbdadm"));
    cmd.env("__DRBD_NODE__", "validator");
    if version == DrbdVersion::V84 {
        cmd.env("DRBD_DRIVER_VERSION_OVERRIDE", V84);
    }
    cmd.arg("-c").arg(file).arg("dump-xml");
    run(&mut cmd).expect_ok().stdout
}

/// The text between `<resource name="NAME"` and its `</resource>`.
fn xml_resource<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml
        .find(&format!("<resource name=\"{name}\""))
        .unwrap_or_else(|| panic!("resource {name} missing from dump-xml:\n{xml}"));
    let end = xml[start..].find("</resource>").expect("resource end") + start;
    &xml[start..end]
}

/// A node's rendered DRBD files written under `dir`, with a drbd.conf including them the way
/// Debian's `/etc/drbd.conf` includes `/etc/drbd.d/`.
fn write_node_drbd(dir: &Path, v: &Validated, node: &Name) -> std::path::PathBuf {
    let files = render::render_node(&v.desired, &v.allocation, node);
    let etc = dir.join(node.as_str());
    let mut count = 0;
    for (path, text) in &files {
        if let Some(rel) = path.strip_prefix("/etc/drbd.d/") {
            write(&etc, &format!("drbd.d/{rel}"), text);
            count += 1;
        }
    }
    assert!(
        count >= 2,
        "{node} received no DRBD files: {:?}",
        files.keys()
    );
    let d = etc.display();
    write(
        &etc,
        "drbd.conf",
        &format!("include \"{d}/drbd.d/global_common.conf\";\ninclude \"{d}/drbd.d/*.res\";\n"),
    )
}

/// For every node: a namespace with the node's address, and `drbdadm -d up` of each of its
/// resources, checked against the allocation. Returns the dry-run output per (node, resource).
fn dry_run_every_node(v: &Validated) -> BTreeMap<(Name, Name), String> {
    let dir = scratch();
    let version = v.desired.cluster.drbd.version;
    let mut out = BTreeMap::new();
    for (node, spec) in &v.desired.nodes {
        let volumes: Vec<&Name> = v
            .desired
            .volumes
            .iter()
            .filter(|(_, vs)| vs.nodes.contains(node))
            .map(|(n, _)| n)
            .collect();
        if volumes.is_empty() {
            continue;
        }
        let conf = write_node_drbd(dir.path(), v, node);
        let Some(ns) = NetNs::with_addresses(node.as_str(), &[spec.address]) else {
            return out;
        };
        let mut env = vec![("__DRBD_NODE__", node.as_str())];
        if version == DrbdVersion::V84 {
            env.push(("DRBD_DRIVER_VERSION_OVERRIDE", V84));
        }
        for res in volumes {
            let mut cmd = ns.command(&env, &tool("drbdadm"));
            cmd.arg("-c").arg(&conf).args(["-d", "up", res.as_str()]);
            let result = run(&mut cmd).expect_ok();
            check_up(v, node, res, &result.stdout);
            out.insert((node.clone(), res.clone()), result.stdout);
        }
    }
    out
}

fn addr(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("ipv4:{a}:{port}"),
        IpAddr::V6(a) => format!("ipv6:\\[{a}\\]:{port}"),
    }
}

/// The dry-run `up` of `res` on `node` must use the allocated minor, port and meta-data.
fn check_up(v: &Validated, node: &Name, res: &Name, stdout: &str) {
    let d = &v.desired;
    let va = &v.allocation.volumes[res];
    let vs = &d.volumes[res];
    let me = &d.nodes[node];
    let (minor, port) = (va.minor.value, va.port.value);
    let vg = &me.volume_group;
    let meta = match va.meta {
        MetaAlloc::Indexed { index, .. } => format!("/dev/{vg}/{} {index}", me.meta_volume),
        MetaAlloc::Flexible { .. } => format!("/dev/{vg}/{res}-md flexible"),
        MetaAlloc::Internal => format!("/dev/{vg}/{res} internal"),
    };
    let attach = format!("attach {minor} /dev/{vg}/{res} {meta}");
    let mut want = vec![format!("new-minor {res} {minor} 0"), attach];
    let peers = vs.nodes.iter().filter(|n| *n != node);
    match d.cluster.drbd.version {
        DrbdVersion::V84 => {
            let peer = peers.clone().next().expect("a peer");
            want.push(format!(
                "drbdsetup-84 connect {res} {} {}",
                addr(me.address, port),
                addr(d.nodes[peer].address, port)
            ));
        }
        DrbdVersion::V9 => {
            for (id, n) in vs.nodes.iter().enumerate().filter(|(_, n)| *n != node) {
                want.push(format!("new-peer {res} {id} --_name={n}"));
                want.push(format!(
                    "new-path {res} {id} {} {}",
                    addr(me.address, port),
                    addr(d.nodes[n].address, port)
                ));
            }
        }
    }
    if vs.dual_primary {
        want.push("--allow-two-primaries=yes".into());
    }
    if let Some(rate) = d.sync_rate(vs) {
        want.push(format!("--resync-rate={}", rate.as_drbd()));
        want.push("--c-plan-ahead=0".into());
    }
    for w in want {
        assert!(
            stdout.contains(&w),
            "dry-run up of {res} on {node} lacks `{w}`:\n{stdout}"
        );
    }
}

#[test]
fn cluster_state_config_passes_sh_nop_with_the_allocated_numbers() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = load_state(&repo_root().join("cluster-state"));
    assert_eq!(v.desired.cluster.drbd.version, DrbdVersion::V84);
    let dir = scratch();
    let file = write(
        dir.path(),
        "drbd.conf",
        &drbd::cluster_config(&v.desired, &v.allocation),
    );
    sh_nop(&file, DrbdVersion::V84).expect_ok();
    // drbdadm read what was meant: every resource, host, minor, port and meta-data slot.
    let xml = dump_xml(&file, DrbdVersion::V84);
    assert_eq!(
        xml.matches("<resource name=").count(),
        v.desired.volumes.len()
    );
    for (name, vs) in &v.desired.volumes {
        let r = xml_resource(&xml, name.as_str());
        let va = &v.allocation.volumes[name];
        let m = va.minor.value;
        assert!(
            r.contains(&format!("<device minor=\"{m}\">/dev/drbd{m}</device>")),
            "{r}"
        );
        for n in &vs.nodes {
            let ns = &v.desired.nodes[n];
            assert!(r.contains(&format!("<host name=\"{n}\">")), "{r}");
            assert!(
                r.contains(&format!(
                    "<address family=\"ipv4\" port=\"{}\">{}</address>",
                    va.port.value, ns.address
                )),
                "{r}"
            );
            if let MetaAlloc::Indexed { index, .. } = va.meta {
                assert!(
                    r.contains(&format!(
                        "<meta-disk index=\"{index}\">/dev/{}/{}</meta-disk>",
                        ns.volume_group, ns.meta_volume
                    )),
                    "{r}"
                );
            }
        }
        assert_eq!(
            r.contains("<option name=\"allow-two-primaries\" value=\"yes\"/>"),
            vs.dual_primary,
            "{r}"
        );
    }
    assert!(xml.contains("<option name=\"after-sb-0pri\" value=\"disconnect\"/>"));
}

#[test]
fn every_node_dry_runs_up_in_84_mode_with_its_own_files() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = load_state(&repo_root().join("cluster-state"));
    let runs = dry_run_every_node(&v);
    if runs.is_empty() {
        return; // namespaces unavailable outside CI: skipped with a note
    }
    let pairs: usize = v.desired.volumes.values().map(|vs| vs.nodes.len()).sum();
    assert_eq!(runs.len(), pairs, "one dry run per node of every volume");
    // The example of the brief, spelled out for the first volume.
    let dns: Name = "dns".parse().expect("name");
    let va = &v.allocation.volumes[&dns];
    let out = &runs[&("dom0".parse().expect("name"), dns.clone())];
    let MetaAlloc::Indexed { index, .. } = va.meta else {
        panic!("dns uses indexed meta-data in cluster-state/");
    };
    let m = va.minor.value;
    let p = va.port.value;
    assert!(
        out.contains(&format!(
            "drbdsetup-84 attach {m} /dev/XEN/dns /dev/XEN/meta {index}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("drbdmeta {m} v08 /dev/XEN/meta {index} apply-al")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "drbdsetup-84 connect dns ipv4:192.168.1.190:{p} ipv4:192.168.1.191:{p}"
        )),
        "{out}"
    );
    let back = &runs[&("dom0m".parse().expect("name"), dns)];
    assert!(
        back.contains(&format!(
            "connect dns ipv4:192.168.1.191:{p} ipv4:192.168.1.190:{p}"
        )),
        "{back}"
    );
}

#[test]
fn a_duplicated_minor_makes_drbdadm_fail() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = load_state(&repo_root().join("cluster-state"));
    let text = drbd::cluster_config(&v.desired, &v.allocation);
    let mut minors = v.allocation.volumes.values().map(|va| va.minor.value);
    let (first, second) = (
        minors.next().expect("a volume"),
        minors.next().expect("two"),
    );
    let tampered = text.replace(
        &format!("device /dev/drbd{second} minor {second};"),
        &format!("device /dev/drbd{first} minor {first};"),
    );
    assert_ne!(tampered, text, "the tampering must change the config");
    let dir = scratch();
    let good = write(dir.path(), "good.conf", &text);
    let bad = write(dir.path(), "bad.conf", &tampered);
    sh_nop(&good, DrbdVersion::V84).expect_ok();
    for version in [DrbdVersion::V84, DrbdVersion::V9] {
        let out = sh_nop(&bad, version);
        assert_eq!(out.code, Some(10), "{out}");
        assert!(
            out.stderr.contains("conflicting use of device-minor"),
            "{out}"
        );
    }
}

#[test]
fn drbd9_config_passes_sh_nop_and_dry_runs_with_node_ids() {
    if !require_tool("drbdadm") {
        return;
    }
    let v = common::drbd9_state();
    let dir = scratch();
    let file = write(
        dir.path(),
        "drbd.conf",
        &drbd::cluster_config(&v.desired, &v.allocation),
    );
    sh_nop(&file, DrbdVersion::V9).expect_ok();
    // The 8.4 parser refuses DRBD 9 syntax: the version switch matters.
    let old = sh_nop(&file, DrbdVersion::V84);
    assert_eq!(old.code, Some(10), "{old}");
    assert!(old.stderr.contains("node-id"), "{old}");

    let xml = dump_xml(&file, DrbdVersion::V9);
    let r = xml_resource(&xml, "data3");
    assert_eq!(
        r.matches("<connection>").count(),
        3,
        "a full mesh of 3: {r}"
    );
    assert!(r.contains("<disk>/dev/VG1/data3</disk>"), "{r}");
    assert!(
        r.contains("<meta-disk>/dev/VG1/data3-md</meta-disk>"),
        "{r}"
    );

    let runs = dry_run_every_node(&v);
    if runs.is_empty() {
        return;
    }
    let out = &runs[&(
        "dom1".parse().expect("name"),
        "data3".parse().expect("name"),
    )];
    assert!(
        out.contains("new-resource data3 0\n"),
        "dom1 is node-id 0: {out}"
    );
    assert!(out.contains("new-peer data3 1 --_name=dom0 "), "{out}");
    assert!(out.contains("new-peer data3 2 --_name=dom0m "), "{out}");
    let m = v.allocation.volumes[&"data3".parse::<Name>().expect("name")]
        .minor
        .value;
    assert!(
        out.contains(&format!(
            "drbdmeta {m} v09 /dev/VG1/data3-md flex-external apply-al"
        )),
        "{out}"
    );
}

#[test]
fn every_example_passes_sh_nop() {
    if !require_tool("drbdadm") {
        return;
    }
    let dirs = common::example_states();
    let dir = scratch();
    let mut checked = 0;
    for example in dirs {
        let v = load_state(&example);
        if v.desired.volumes.is_empty() {
            continue;
        }
        let version = v.desired.cluster.drbd.version;
        let text = drbd::cluster_config(&v.desired, &v.allocation);
        let name = example.file_name().expect("dir name").to_string_lossy();
        let file = write(dir.path(), &format!("{name}.conf"), &text);
        let out = sh_nop(&file, version);
        assert_eq!(out.code, Some(0), "example {}: {out}", example.display());
        checked += 1;
    }
    assert!(checked >= 2, "the pair-200 and DRBD 9 examples at least");
}
