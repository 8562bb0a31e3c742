//! Rules for the Cluster document and the Nodes: DRBD's minor and port pools, replication
//! addresses, ssh destinations, memory, and meta-data LV names.

use std::collections::BTreeMap;

use crate::diag::Diagnostics;
use crate::model::{DrbdSettings, Kind, Name, Size};

use super::super::decode::{Decoded, Locator};
use super::{ssh_host_problem, ssh_user_ok, FLEXIBLE_META_SUFFIX, MAX_MEMORY};

/// The Cluster: DRBD's minor limit and port pool.
pub(super) fn check_cluster(
    loc: &Locator,
    out: &mut Diagnostics,
    cname: &str,
    drbd: &DrbdSettings,
) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    if !(1..=255).contains(&drbd.max_minors) {
        err(
            out,
            Kind::Cluster,
            cname,
            "spec.drbd.maxMinors",
            format!(
                "must be 1 to 255 (the DRBD module's minor_count limit), found {}",
                drbd.max_minors
            ),
        );
    }
    if drbd.ports.first == 0 || drbd.ports.first > drbd.ports.last {
        err(
            out,
            Kind::Cluster,
            cname,
            "spec.drbd.ports",
            format!(
                "port pool {}-{} is empty or starts at 0",
                drbd.ports.first, drbd.ports.last
            ),
        );
    }
}

/// Nodes: at least one, distinct replication addresses, ssh destination, memory, and a
/// metaVolume that is no volume's flexible meta-data LV.
pub(super) fn check_nodes(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    let err = |out: &mut Diagnostics, kind: Kind, name: &str, field: &str, msg: String| {
        out.push(loc.error(kind, name, field, msg));
    };
    if d.nodes.is_empty() && !d.broken.contains_key(&Kind::Node) {
        if let Some((n, _)) = &d.cluster {
            out.push(loc.warning(Kind::Cluster, n, "", "no Node documents: nothing to manage"));
        }
    }
    let mut addresses: BTreeMap<std::net::IpAddr, &Name> = BTreeMap::new();
    for (name, n) in &d.nodes {
        if let Some(p) = super::unicast_problem(n.address) {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.address",
                format!("{} {p}", n.address),
            );
        }
        if let Some(first) = addresses.insert(n.address, name) {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.address",
                format!(
                    "address {} is also node `{first}`'s replication address",
                    n.address
                ),
            );
        }
        if let Some(ssh) = &n.ssh {
            if let Some(p) = ssh_host_problem(&ssh.host) {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.ssh.host",
                    format!("`{}` {p}", ssh.host),
                );
            }
            if ssh.user.as_deref().is_some_and(|u| !ssh_user_ok(u)) {
                err(out, Kind::Node, name.as_str(), "spec.ssh.user",
                    "must be a POSIX user name: a lowercase letter or '_', then up to 31 lowercase letters, digits, '_' or '-'".into());
            }
            if ssh.port == Some(0) {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.ssh.port",
                    "must be 1 to 65535".into(),
                );
            }
        }
        if n.memory.is_some_and(|m| m.bytes() > MAX_MEMORY) {
            err(
                out,
                Kind::Node,
                name.as_str(),
                "spec.memory",
                format!("at most {} (Xen's host limit)", Size(MAX_MEMORY)),
            );
        }
        let meta = n.meta_volume.as_str();
        if let Some(base) = meta.strip_suffix(FLEXIBLE_META_SUFFIX) {
            if d.volumes
                .get(base)
                .is_some_and(|spec| spec.nodes.contains(name))
            {
                err(
                    out,
                    Kind::Node,
                    name.as_str(),
                    "spec.metaVolume",
                    format!(
                    "`{meta}` is the flexible meta-data LV name of volume `{base}` on this node"),
                );
            }
        }
    }
}
