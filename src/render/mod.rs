//! Config files a node receives, rendered from the validated desired state and its allocation:
//! DRBD `.res` files and `global_common.conf`, xl domain configs, the OCFS2 `cluster.conf` and
//! `/etc/default/o2cb`, and ifupdown `interfaces.d` stanzas for bonds and bridges.
//!
//! Rendering decides nothing: every number (minor, port, meta slot, MAC) comes from the
//! [`Allocation`], every choice from the [`Desired`] state. It does no I/O and the output is
//! byte-identical for the same input. An object that cannot be rendered completely (a volume
//! missing from the allocation, a reference to an unknown node) is left out rather than rendered
//! half: validation has already reported it.

pub mod drbd;
pub mod net;
pub mod ocfs2;
pub mod xl;

use std::collections::BTreeMap;

use crate::alloc::Allocation;
use crate::model::{Desired, Name};

/// First line of every rendered file. Every format rendered here (drbd.conf, xl.cfg,
/// cluster.conf, shell, ifupdown) takes `#` comments.
pub const MANAGED_HEADER: &str = "# Managed by xenflux: local changes are overwritten.\n";

/// Files per node.
pub type Files = BTreeMap<String, String>;

/// Every config file of every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Per node of the desired state (a node with nothing to receive has an empty map): absolute
    /// file path → exact file content.
    pub nodes: BTreeMap<Name, Files>,
}

/// Renders the files of every node of the desired state: the DRBD resources (most of a large
/// estate's text) on a thread of their own beside the rest; the result does not depend on
/// which finishes first.
pub fn render(desired: &Desired, alloc: &Allocation) -> Rendered {
    let empty = || -> BTreeMap<Name, Files> {
        desired
            .nodes
            .keys()
            .map(|n| (n.clone(), Files::new()))
            .collect()
    };
    let (mut nodes, rest) = std::thread::scope(|scope| {
        let drbd = scope.spawn(|| {
            let mut nodes = empty();
            drbd::add_files(desired, alloc, &mut nodes);
            nodes
        });
        let mut rest = empty();
        xl::add_files(desired, alloc, &mut rest);
        ocfs2::add_files(desired, &mut rest);
        net::add_files(desired, &mut rest);
        let drbd = drbd.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (drbd, rest)
    });
    // Added after the DRBD files, as rendering them in turn would.
    for (node, files) in rest {
        if let Some(all) = nodes.get_mut(&node) {
            all.extend(files);
        }
    }
    Rendered { nodes }
}

/// The files one node receives; empty for a node the desired state does not know. Only that
/// node's files are rendered: asking each node in turn costs what [`render`] costs once.
pub fn render_node(desired: &Desired, alloc: &Allocation, node: &Name) -> Files {
    if !desired.nodes.contains_key(node) {
        return Files::new();
    }
    let mut nodes = BTreeMap::from([(node.clone(), Files::new())]);
    drbd::add_files(desired, alloc, &mut nodes);
    xl::add_files(desired, alloc, &mut nodes);
    ocfs2::add_files(desired, &mut nodes);
    net::add_files(desired, &mut nodes);
    nodes.remove(node).unwrap_or_default()
}

/// Adds a file to a node the desired state knows; files for unknown nodes are dropped.
fn put(nodes: &mut BTreeMap<Name, Files>, node: &Name, path: String, content: String) {
    if let Some(files) = nodes.get_mut(node) {
        files.insert(path, content);
    }
}

/// Whether any of `targets` is a node being rendered (the text is worth making).
fn wanted<'n>(nodes: &BTreeMap<Name, Files>, mut targets: impl Iterator<Item = &'n Name>) -> bool {
    targets.any(|n| nodes.contains_key(n))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A small desired state for the renderers' unit tests.

    use crate::load::Source;
    use crate::validate::{validate, Validated};

    /// Validates one YAML text (several documents) with nothing observed.
    pub fn state(yaml: &str) -> Validated {
        let sources = [Source {
            path: "test.yaml".into(),
            text: yaml.into(),
        }];
        match validate(&sources, &Default::default()) {
            Ok(v) => v,
            Err(diags) => panic!("test state does not validate: {diags:#?}"),
        }
    }

    /// Two nodes, one volume, one domain, a bond and a bridge, one OCFS2 cluster.
    pub const PAIR: &str = r#"
apiVersion: xenflux/v1
kind: Cluster
metadata: {name: xg}
spec:
  drbd: {syncRate: 40M}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: a}
spec: {address: 10.0.0.1, volumeGroup: XEN}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: b}
spec: {address: 10.0.0.2, volumeGroup: VG2, metaVolume: md}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: dns}
spec: {size: 1GiB, nodes: [a, b]}
---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: ovs}
spec: {size: 1GiB, nodes: [a, b], dualPrimary: true, filesystem: ocfs2, meta: flexible}
---
apiVersion: xenflux/v1
kind: Domain
metadata: {name: dns}
spec:
  node: a
  memory: 512MiB
  bootloader: pygrub
  disks: [{volume: dns, target: xvda}]
  nics: [{bridge: xenbr0, mac: "00:16:3e:00:00:01"}]
---
apiVersion: xenflux/v1
kind: Bond
metadata: {name: bond0}
spec: {mode: active-backup, slaves: [eth0, eth1], primary: eth0}
---
apiVersion: xenflux/v1
kind: Bridge
metadata: {name: xenbr0}
spec:
  ports: [bond0]
  stp: true
  forwardDelay: 4
  addresses: {a: 10.0.0.1/24}
  gateways: {a: 10.0.0.254}
---
apiVersion: xenflux/v1
kind: Ocfs2Cluster
metadata: {name: ovscluster}
spec:
  nodes: [{node: b, number: 1, address: 10.0.0.2}, {node: a, number: 0, address: 10.0.0.1}]
  filesystems: [{name: ovs, volume: ovs, label: OVS, slots: 2, mountpoint: /OVS}]
"#;
}

#[cfg(test)]
mod tests {
    use super::testutil::{state, PAIR};
    use super::*;

    #[test]
    fn every_file_starts_with_the_managed_header() {
        let v = state(PAIR);
        let r = render(&v.desired, &v.allocation);
        let mut count = 0;
        for files in r.nodes.values() {
            for (path, text) in files {
                assert!(path.starts_with('/'), "{path} is not absolute");
                assert!(text.starts_with(MANAGED_HEADER), "{path}: {text}");
                assert!(text.ends_with('\n'), "{path} does not end in a newline");
                count += 1;
            }
        }
        // a: dns.res, ovs.res, global_common, dns.cfg, cluster.conf, o2cb, bond0, xenbr0.
        assert_eq!(
            r.nodes[&name("a")].len(),
            8,
            "{:#?}",
            r.nodes[&name("a")].keys()
        );
        assert_eq!(count, 16);
    }

    #[test]
    fn rendering_is_deterministic() {
        let v = state(PAIR);
        let first = render(&v.desired, &v.allocation);
        for _ in 0..3 {
            let again = state(PAIR);
            assert_eq!(render(&again.desired, &again.allocation), first);
        }
    }

    #[test]
    fn render_node_matches_render_and_is_empty_for_strangers() {
        let v = state(PAIR);
        let all = render(&v.desired, &v.allocation);
        assert_eq!(
            render_node(&v.desired, &v.allocation, &name("b")),
            all.nodes[&name("b")]
        );
        assert!(render_node(&v.desired, &v.allocation, &name("zz")).is_empty());
    }

    #[test]
    fn a_volume_without_allocation_is_skipped() {
        let v = state(PAIR);
        let mut alloc = v.allocation.clone();
        alloc.volumes.remove(&name("dns"));
        let files = render_node(&v.desired, &alloc, &name("a"));
        assert!(!files.contains_key("/etc/drbd.d/dns.res"));
        assert!(files.contains_key("/etc/drbd.d/ovs.res"));
        // The domain on it cannot name its disk, so its config is left out too.
        assert!(!files.contains_key("/etc/xen/dns.cfg"));
    }

    proptest::proptest! {
        /// Whatever numbers the allocator hands out, and whichever volumes or MACs it could not
        /// serve, rendering does not panic, stays deterministic and uses exactly those numbers.
        #[test]
        fn any_allocation_renders(
            minor in 0u32..255,
            port in 1u16..,
            index in 0u32..4096,
            drop_dns in proptest::bool::ANY,
            drop_macs in proptest::bool::ANY,
        ) {
            let v = state(PAIR);
            let mut alloc = v.allocation.clone();
            let dns = name("dns");
            if let Some(va) = alloc.volumes.get_mut(&dns) {
                va.minor.value = minor;
                va.port.value = port;
                va.meta = crate::alloc::MetaAlloc::Indexed { index, origin: crate::alloc::Origin::New };
            }
            if drop_dns {
                alloc.volumes.remove(&dns);
            }
            if drop_macs {
                alloc.macs.clear();
            }
            let r = render(&v.desired, &alloc);
            proptest::prop_assert_eq!(&r, &render(&v.desired, &alloc));
            let a = &r.nodes[&name("a")];
            match a.get("/etc/drbd.d/dns.res") {
                Some(text) => {
                    proptest::prop_assert!(!drop_dns);
                    let device = format!("device /dev/drbd{minor} minor {minor};");
                    let address = format!("address 10.0.0.1:{port};");
                    let meta = format!("meta-disk /dev/XEN/meta[{index}];");
                    proptest::prop_assert!(text.contains(&device));
                    proptest::prop_assert!(text.contains(&address));
                    proptest::prop_assert!(text.contains(&meta));
                }
                None => proptest::prop_assert!(drop_dns),
            }
            // The NIC's MAC is pinned in the spec, so the config survives losing the MACs.
            proptest::prop_assert_eq!(a.contains_key("/etc/xen/dns.cfg"), !drop_dns);
        }
    }

    pub(super) fn name(s: &str) -> Name {
        s.parse().expect("test name")
    }
}
