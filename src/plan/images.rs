//! Domain image files on OCFS2 (`disks[].file`): created sparse where missing, grown where
//! smaller than `size`, on one node that has the filesystem mounted (the file is shared: every
//! other node sees it). Never shrunk, never created over something that is there, never used
//! when it is not a regular file on its filesystem (a symbolic link to elsewhere, a directory).
//! Records for the domain pass whether each image will be there once this plan ran.

use std::collections::BTreeMap;

use crate::drivers::image::Stat;
use crate::model::{ImagePath, Name, Size};
use crate::observe::Part;

use super::action::Action;
use super::{Ctx, Phase};

/// Whether an image can back a domain once the plan's image phase ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    Yes,
    /// Why not, in words that follow "its image PATH".
    No(String),
}

/// What the nodes that mount an image's filesystem say of it.
enum Seen {
    Present(Stat),
    Missing,
    Unknown(String),
}

/// The nodes with `mountpoint` observed mounted as OCFS2, in name order.
pub(super) fn mounted_on(ctx: &Ctx, nodes: &[Name], mountpoint: &str) -> Vec<Name> {
    nodes
        .iter()
        .filter(|n| {
            ctx.known(n)
                .and_then(|s| s.ocfs2.known())
                .and_then(|o| o.mounts.get(mountpoint))
                .is_some_and(|(_, fs)| fs == "ocfs2")
        })
        .cloned()
        .collect()
}

/// Whether `mountpoint` is mounted on `node` once this plan ran (mounted now, or mounted by it).
pub(super) fn mounted_after(ctx: &Ctx, node: &Name, mountpoint: &str) -> bool {
    !mounted_on(ctx, std::slice::from_ref(node), mountpoint).is_empty()
        || ctx.steps.iter().any(|(_, a)| {
            matches!(a, Action::Mount { node: n, mountpoint: m, .. } if n == node && m == mountpoint)
        })
}

fn seen(ctx: &Ctx, path: &ImagePath, nodes: &[Name]) -> Seen {
    let mut missing = false;
    let mut why = None;
    for n in nodes {
        let part = ctx.known(n).and_then(|s| s.images.get(path.as_str()));
        match part {
            Some(Part::Known(Some(st))) => return Seen::Present(st.clone()),
            Some(Part::Known(None)) => missing = true,
            Some(Part::Unknown(u)) => {
                why.get_or_insert_with(|| format!("could not be read on {n}: {}", u.reason));
            }
            None => {
                why.get_or_insert_with(|| format!("could not be read on {n}"));
            }
        }
    }
    if missing {
        Seen::Missing
    } else {
        Seen::Unknown(why.unwrap_or_else(|| "is on a filesystem no node mounts yet".into()))
    }
}

/// Plans each image of the desired state's domains (the first domain naming a path, in name
/// order, owns it) and records in `ctx.images` whether it will be there.
pub(super) fn images(ctx: &mut Ctx) {
    let disks: Vec<(Name, ImagePath, Option<Size>)> = ctx
        .d
        .domains
        .iter()
        .flat_map(|(n, d)| {
            d.disks
                .iter()
                .filter_map(move |k| k.file.clone().map(|f| (n.clone(), f, k.size)))
        })
        .collect();
    for (domain, path, size) in disks {
        if ctx.images.contains_key(path.as_str()) {
            continue;
        }
        let ready = image(ctx, &domain, &path, size.map(|s| s.bytes()).unwrap_or(0));
        ctx.images.insert(path.to_string(), ready);
    }
}

fn image(ctx: &mut Ctx, domain: &Name, path: &ImagePath, size: u64) -> Ready {
    let Some((_, fs)) = ctx.d.image_filesystem(path) else {
        return Ready::No("is on no OCFS2 filesystem".into());
    };
    let mountpoint = fs.mountpoint.to_string();
    let nodes = ctx.d.image_nodes(path);
    let on = mounted_on(ctx, &nodes, &mountpoint);
    let object = format!("Domain/{domain}");
    match seen(ctx, path, &on) {
        Seen::Present(st) if !st.is_regular() => {
            let why = format!(
                "is a {}, not a regular file: xenflux neither uses nor replaces it",
                st.kind
            );
            ctx.block(object, format!("image {path} {why}"), Vec::new());
            Ready::No(why)
        }
        Seen::Present(st) if st.mount != mountpoint => {
            let why = format!(
                "is on the filesystem mounted at {}, not on the OCFS2 filesystem at {mountpoint} \
                 (a symbolic link on its path?): xenflux does not use it",
                st.mount
            );
            ctx.block(object, format!("image {path} {why}"), Vec::new());
            Ready::No(why)
        }
        Seen::Present(st) if st.size < size => {
            ctx.add(
                Phase::Images,
                Action::GrowImage {
                    node: on[0].clone(),
                    domain: domain.to_string(),
                    path: path.to_string(),
                    size,
                },
            );
            ctx.warnings.push(format!(
                "domain {domain}: image {path} grows from {} to {}; the guest must grow its partition and \
                 filesystem itself, and a running domain sees the new size only after a restart",
                Size(st.size),
                Size(size)
            ));
            Ready::Yes
        }
        Seen::Present(st) if st.size > size => {
            ctx.block(
                object,
                format!(
                    "image {path} is {} but {} is desired; xenflux never shrinks an image (it would cut \
                     off the end of the guest's disk): put the size back",
                    Size(st.size),
                    Size(size)
                ),
                Vec::new(),
            );
            Ready::Yes
        }
        Seen::Present(_) => Ready::Yes,
        Seen::Missing => {
            ctx.add(
                Phase::Images,
                Action::CreateImage {
                    node: on[0].clone(),
                    domain: domain.to_string(),
                    path: path.to_string(),
                    size,
                },
            );
            Ready::Yes
        }
        Seen::Unknown(why) => Ready::No(why),
    }
}

/// Why image `path` cannot be given to a domain on `node` once the plan ran: not there, or its
/// filesystem not mounted on `node`. None when it can.
pub(super) fn unusable_on(ctx: &Ctx, path: &ImagePath, node: &Name) -> Option<String> {
    match ctx.images.get(path.as_str()) {
        Some(Ready::No(why)) => return Some(format!("image {path} {why}")),
        Some(Ready::Yes) => {}
        None => return Some(format!("image {path} was not planned")),
    }
    let (_, fs) = ctx.d.image_filesystem(path)?;
    (!mounted_after(ctx, node, fs.mountpoint.as_str())).then(|| {
        format!(
            "the OCFS2 filesystem {} holding image {path} is not mounted on {node}",
            fs.mountpoint
        )
    })
}

/// Whether each image (by path) will be there once the plan ran.
pub(crate) type Images = BTreeMap<String, Ready>;
