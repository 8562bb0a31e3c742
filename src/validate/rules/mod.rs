//! Semantic checks over the decoded documents: references resolve, and the DRBD, LVM, Xen,
//! network and OCFS2 rules of DESIGN.md §4 hold, and the HA settings of §8. Allocation-related rules (minor, port and slot
//! exhaustion, pin conflicts) live in `alloc`. Every check reports; none stops the others. One
//! module per family of rules: `nodes` (and the Cluster), `ha` (node loss and fencing), `volumes`, `domains`, `network`,
//! `ocfs2`.

use crate::diag::Diagnostics;
use crate::model::units::{MIB, PIB, TIB};
use crate::model::{Kind, Size};

use super::decode::{Decoded, Locator};

mod domains;
mod ha;
mod images;
mod network;
mod nodes;
pub mod notify;
mod ocfs2;
mod protection;
mod snapshots;
mod volumes;

pub use domains::MAX_PRIORITY;

/// LVM's default extent: LV sizes must be whole extents or LVM rounds them (and the plan would
/// never converge on the written size).
pub const EXTENT: u64 = 4 * MIB;
/// One indexed meta-data slot.
pub const META_SLOT: u64 = 128 * MIB;
/// The largest volume accepted.
pub const MAX_VOLUME: u64 = PIB;
/// The most memory a node or a domain is given (Xen's host limit is 16 TiB).
pub const MAX_MEMORY: u64 = 16 * TIB;
/// DRBD's own limit on minors (2^20), whatever `maxMinors` says.
pub const DRBD_MINOR_LIMIT: u32 = 1 << 20;
/// Suffix of a flexible meta-data LV (`NAME-md`): xenflux creates and prunes LVs with it.
pub const FLEXIBLE_META_SUFFIX: &str = "-md";

/// Why `host` cannot be an ssh destination: an IP literal or a DNS host name, at most 253
/// bytes, never starting with '-' (ssh would read it as an option).
pub fn ssh_host_problem(host: &str) -> Option<&'static str> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if host.is_empty() || host.len() > 253 {
        return Some("must be 1 to 253 bytes");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host
        .strip_suffix('.')
        .unwrap_or(host)
        .split('.')
        .all(label_ok)
    {
        None
    } else {
        Some("must be an IPv4 or IPv6 address or a DNS host name (letters, digits, '-' and '.', no label starting or ending with '-')")
    }
}

/// Whether `user` is a POSIX user name (`^[a-z_][a-z0-9_-]{0,31}$`).
/// Why `ip` cannot be a host's own address that peers reach (a replication, o2cb, bridge
/// address or a gateway): unspecified, loopback, multicast or broadcast. None when it can.
pub fn unicast_problem(ip: std::net::IpAddr) -> Option<&'static str> {
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() {
        Some("is the unspecified address (any host), not one a peer can reach")
    } else if ip.is_loopback() {
        Some("is a loopback address: every node would reach itself")
    } else if ip.is_multicast() || broadcast {
        Some("is a multicast or broadcast address, not one host's")
    } else {
        None
    }
}

pub fn ssh_user_ok(user: &str) -> bool {
    let mut b = user.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && user.len() <= 32
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// Sectors of a slot taken by the superblock and activity log.
const MD_FIXED_SECTORS: u64 = 72;

/// The largest volume an indexed (128 MiB) meta-data slot can serve with `peers` peers:
/// ⌊(262144 − 72) / (8 × peers)⌋ bitmap sectors, each covering 2^18 data sectors (128 MiB).
pub fn indexed_meta_capacity(peers: u64) -> u64 {
    let bitmap_sectors = (META_SLOT / 512 - MD_FIXED_SECTORS) / (8 * peers.max(1));
    bitmap_sectors * 128 * MIB
}

/// Flexible external meta-data size for a volume: Ms = ⌈Cs / 2^18⌉ × 8 × N + 72 sectors,
/// rounded up to whole extents.
pub fn flexible_meta_size(data: Size, peers: u64) -> Size {
    let cs = data.bytes().div_ceil(512);
    let sectors = cs.div_ceil(1 << 18) * 8 * peers.max(1) + MD_FIXED_SECTORS;
    Size((sectors * 512).div_ceil(EXTENT) * EXTENT)
}

/// Every rule over the decoded documents, family by family; each reports into `out` and none
/// stops the others.
pub fn check(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    let cluster = d
        .cluster
        .as_ref()
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let cname = d
        .cluster
        .as_ref()
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    let known = |kind: Kind, name: &str| known(d, kind, name);
    nodes::check_cluster(loc, out, &cname, &cluster.drbd);
    nodes::check_nodes(d, loc, out);
    ha::check_ha(loc, out, &cname, &cluster.ha);
    ha::check_fences(d, loc, out);
    volumes::check_volumes(d, loc, out, &cluster.drbd, &known);
    domains::check_domains(d, loc, out, &known);
    domains::check_capacity(d, loc, out);
    protection::check_protection(d, loc, out);
    network::check_network(d, loc, out, &known);
    ocfs2::check_ocfs2(d, loc, out, &known);
    notify::check_notifications(d, loc, out, &known);
    snapshots::check_snapshots(d, loc, out, &known);
}

/// Whether a document of `kind` named `name` exists, decoded or broken (a broken one is
/// reported where it is, not again by every reference to it).
fn known(d: &Decoded, kind: Kind, name: &str) -> bool {
    let present = match kind {
        Kind::Node => d.nodes.contains_key(name),
        Kind::Volume => d.volumes.contains_key(name),
        Kind::Bridge => d.bridges.contains_key(name),
        Kind::Bond => d.bonds.contains_key(name),
        Kind::Domain => d.domains.contains_key(name),
        Kind::Ocfs2Cluster => d.ocfs2.contains_key(name),
        Kind::Cluster => d.cluster.is_some(),
        Kind::Provider => d.providers.keys().any(|n| n == name),
        Kind::Alert => d.alerts.keys().any(|n| n == name),
        Kind::Snapshot => d.snapshots.keys().any(|n| n == name),
    };
    present || d.is_broken(kind, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units::{GIB, TIB};

    #[test]
    fn indexed_slot_capacity_is_4tib_minus_1_125gib() {
        assert_eq!(indexed_meta_capacity(1), 4 * TIB - 1152 * MIB);
        assert_eq!(indexed_meta_capacity(1), 4 * TIB - (GIB + GIB / 8));
        assert!(indexed_meta_capacity(2) < 2 * TIB);
    }

    #[test]
    fn flexible_meta_follows_the_drbd_formula() {
        // 256 MiB of data: 2^19 sectors → 2 bitmap chunks → 16 + 72 = 88 sectors (real drbdmeta: 88),
        // rounded up to one 4 MiB extent.
        assert_eq!(flexible_meta_size(Size(256 * MIB), 1), Size(4 * MIB));
        // 8 TiB with one peer: ⌈2^34 / 2^18⌉ × 8 + 72 = 524360 sectors = 256.04 MiB → 260 MiB.
        assert_eq!(flexible_meta_size(Size(8 * TIB), 1), Size(260 * MIB));
        // two peers double the bitmap
        assert_eq!(flexible_meta_size(Size(8 * TIB), 2), Size(516 * MIB));
    }
}
