//! Rules for disks that are image files (`disks[].file`), the Oracle VM way of keeping domains
//! on shared storage: `size` given (whole MiB, at least 1 MiB, at most the filesystem's
//! volume), the file on a filesystem of an Ocfs2Cluster mounted on every node the domain may
//! run on — its node and every node of its DRBD disks, the peers it fails over or migrates to
//! (Oracle VM's HA prerequisites: the same shared storage, the same OCFS2 cluster) — and never
//! one image written by two domains, nor an image where another one's directory would be.

use std::collections::BTreeMap;

use crate::diag::Diagnostics;
use crate::model::image::{filesystem_nodes, image_filesystem};
use crate::model::units::MIB;
use crate::model::{DiskMode, DiskSpec, DomainSpec, ImagePath, Kind, Name, Size};

use super::super::decode::{Decoded, Locator};
use super::MAX_VOLUME;

/// Image files by path: (domain, disk index, mode), in document order.
pub(super) type ImageUsers<'d> = BTreeMap<&'d ImagePath, Vec<(&'d Name, usize, DiskMode)>>;

/// The nodes a disk is reachable from: its volume's nodes, or the nodes that mount the OCFS2
/// filesystem holding its image. None when that is not known (an unknown volume, no
/// filesystem, or a disk that is neither).
pub(super) fn disk_nodes(d: &Decoded, disk: &DiskSpec) -> Option<Vec<Name>> {
    match (&disk.volume, &disk.file) {
        (Some(v), _) => d.volumes.get(v).map(|v| v.nodes.clone()),
        (None, Some(path)) => image_filesystem(&d.ocfs2, path)
            .map(|(c, f)| filesystem_nodes(&d.ocfs2, &d.volumes, c, f)),
        (None, None) => None,
    }
}

/// One image disk (`spec.disks[i]`, `file` set) of domain `dn`.
pub(super) fn check_file_disk(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    dn: &str,
    dom: &DomainSpec,
    i: usize,
    path: &ImagePath,
) {
    let field = format!("spec.disks[{i}]");
    let err = |out: &mut Diagnostics, f: &str, msg: String| {
        out.push(loc.error(Kind::Domain, dn, &format!("{field}.{f}"), msg));
    };
    let disk = &dom.disks[i];
    let on = image_filesystem(&d.ocfs2, path);
    let limit = on
        .and_then(|(_, f)| d.volumes.get(&f.volume))
        .map(|v| {
            (
                v.size.bytes().min(MAX_VOLUME),
                "the size of its filesystem's volume",
            )
        })
        .unwrap_or((MAX_VOLUME, "the limit"));
    match disk.size {
        None => err(
            out,
            "size",
            "`size` is required with `file`: the size of the image xenflux creates (e.g. 10GiB)"
                .into(),
        ),
        Some(s) if s.bytes() > limit.0 => err(
            out,
            "size",
            format!("{s} is more than {} ({})", limit.1, Size(limit.0)),
        ),
        Some(s) if s.bytes() < MIB || s.bytes() % MIB != 0 => err(
            out,
            "size",
            format!("{s} must be whole MiB and at least 1MiB"),
        ),
        Some(_) => {}
    }
    let Some((cluster, fs)) = on else {
        let mountpoints: Vec<String> = d
            .ocfs2
            .values()
            .flat_map(|c| c.filesystems.iter().map(|f| f.mountpoint.to_string()))
            .collect();
        let known = if mountpoints.is_empty() {
            "there is no Ocfs2Cluster filesystem".to_string()
        } else {
            format!(
                "OCFS2 filesystems are mounted on {}",
                mountpoints.join(", ")
            )
        };
        err(out, "file", format!(
            "{path} is on no filesystem of an Ocfs2Cluster ({known}): an image must be on shared storage every node that may run the domain mounts"));
        return;
    };
    let mounted = filesystem_nodes(&d.ocfs2, &d.volumes, cluster, fs);
    // Every node the domain may run on: its own, and the nodes of its DRBD disks (the peers
    // it fails over or migrates to).
    let mut need: Vec<(&Name, String)> = vec![(&dom.node, "its node".to_string())];
    for v in dom.disks.iter().filter_map(|k| k.volume.as_ref()) {
        for n in d.volumes.get(v).into_iter().flat_map(|s| &s.nodes) {
            need.push((n, format!("a node of its volume {v}")));
        }
    }
    let mut missing: Vec<String> = Vec::new();
    for (n, why) in need {
        if !mounted.contains(n) && !missing.iter().any(|m| m.starts_with(&format!("{n} "))) {
            missing.push(format!("{n} ({why})"));
        }
    }
    if !missing.is_empty() {
        err(out, "file", format!(
            "{path} is on OCFS2 filesystem `{}` ({}) of Ocfs2Cluster `{cluster}`, which is not mounted on {}: every node that may run the domain must mount it (mounted on: {})",
            fs.name, fs.mountpoint, missing.join(", "),
            if mounted.is_empty() { "none".to_string() } else { mounted.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ") }));
    }
}

/// An image written by two domains (or written by one and read by another), and an image
/// whose path runs through another image (one would have to be a directory).
pub(super) fn check_shared_images(loc: &Locator, out: &mut Diagnostics, users: ImageUsers) {
    for (path, uses) in &users {
        let writer = uses.iter().find(|(_, _, m)| *m == DiskMode::ReadWrite);
        if let Some((wdom, wi, _)) = writer {
            for (dom, i, _) in uses.iter().filter(|(d, i, _)| (d, i) != (wdom, wi)) {
                out.push(loc.error(Kind::Domain, dom.as_str(), &format!("spec.disks[{i}].file"), format!(
                    "image {path} is already a writable disk of domain `{wdom}` (spec.disks[{wi}]): two domains on one image corrupt it")));
            }
        }
    }
    // Each image's ancestors looked up among the images: linear in paths times depth.
    let by_path: BTreeMap<&str, &&ImagePath> = users.keys().map(|p| (p.as_str(), p)).collect();
    for (path, uses) in &users {
        let s = path.as_str();
        let above = s
            .match_indices('/')
            .skip(1)
            .find_map(|(at, _)| by_path.get(&s[..at]));
        if let (Some(a), Some((dom, i, _))) = (above, uses.first()) {
            out.push(loc.error(
                Kind::Domain,
                dom.as_str(),
                &format!("spec.disks[{i}].file"),
                format!("image {path} lies below image {a}, which would have to be a directory"),
            ));
        }
    }
}
