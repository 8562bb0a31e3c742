//! The filesystem phases of a volume: grown on the Primary after DRBD grew, made only on a
//! device created now or still tagged for it and read blank.

use std::collections::BTreeSet;

use crate::model::{FsKind, Name};

use super::super::action::{Action, MKFS_TAG};
use super::super::{Ctx, Phase};
use super::{lv, Vol};

impl Vol<'_> {
    /// Then the filesystem, on the Primary: only one blkid has seen there, and one a domain
    /// uses only when it is OCFS2 (anything else is grown from inside the guest).
    pub(super) fn grow_filesystem(&self, ctx: &mut Ctx, on: Name, primary: &BTreeSet<Name>) {
        let Some(kind) = self.fs else {
            return;
        };
        let name = self.name;
        let device = crate::render::drbd::device(self.alloc.minor.value);
        let has_fs = self
            .states
            .get(&on)
            .and_then(|s| s.filesystems.get(&device))
            .and_then(|p| p.known())
            .is_some_and(|fs| fs.as_deref() == Some(kind.name()));
        if !primary.contains(&on) || !has_fs {
            return;
        }
        let used = ctx
            .d
            .domains
            .values()
            .any(|d| d.disks.iter().any(|k| k.volume.as_ref() == Some(name)));
        if used && kind != FsKind::Ocfs2 {
            ctx.warnings.push(format!(
                "volume {name}: the {} filesystem is in use by a domain; grow it from inside the guest",
                kind.name()
            ));
        } else {
            ctx.add(
                Phase::GrowFs,
                Action::GrowFs {
                    node: on,
                    device,
                    fs: kind,
                },
            );
        }
    }

    /// A filesystem only on a blank device: a new one, or one blkid reads as blank on a Primary.
    pub(super) fn filesystem(&self, ctx: &mut Ctx, source: &Name, primary: &BTreeSet<Name>) {
        let Some(kind) = self.fs else {
            return;
        };
        let blank_new = ctx.new_volumes.contains(self.name);
        let blank_on = match blank_new {
            true => Some(source.clone()),
            false => self.blank_for_mkfs(ctx, kind, primary),
        };
        if let Some(on) = blank_on {
            self.mkfs(ctx, on, kind);
        }
    }

    /// Besides a volume created now, only an LV still tagged for its filesystem (never used
    /// since xenflux created it) that blkid reads as blank on a Primary, with no domain holding
    /// it, gets one: that Primary. Anything else may hold a domain's data, signature or not; a
    /// blank one is reported.
    pub(super) fn blank_for_mkfs(
        &self,
        ctx: &mut Ctx,
        kind: FsKind,
        primary: &BTreeSet<Name>,
    ) -> Option<Name> {
        let (name, states) = (self.name, &self.states);
        let device = crate::render::drbd::device(self.alloc.minor.value);
        let in_use = states.values().any(|s| {
            s.xen.known().is_some_and(|x| {
                x.domains
                    .values()
                    .any(|d| d.disks.iter().any(|(p, _, _)| p == &device))
            })
        });
        let blank = |n: &Name| {
            states
                .get(n)
                .and_then(|s| s.filesystems.get(&device))
                .and_then(|p| p.known())
                .is_some_and(|fs| fs.is_none())
        };
        let tagged_blank = |n: &Name| {
            let vg = ctx.d.nodes[n].volume_group.to_string();
            states.get(n).is_some_and(|s| {
                lv(s, &vg, name.as_str()).is_some_and(|l| l.tags.contains(MKFS_TAG))
            }) && blank(n)
        };
        let blank_on = match in_use {
            true => None,
            false => primary.iter().find(|n| tagged_blank(n)).cloned(),
        };
        // Not warnings: a plan that leaves the filesystem missing or another one in its place
        // must not say the cluster matches the desired state.
        if blank_on.is_none() && primary.iter().any(blank) {
            ctx.block(
                self.object.clone(),
                format!(
                    "no {} filesystem on it, and xenflux makes filesystems only on volumes it created \
                     for one (it may hold a domain's data); make it by hand if the volume is really unused",
                    kind.name()
                ),
                Vec::new(),
            );
        }
        let other = primary.iter().find_map(|n| {
            let found = states
                .get(n)?
                .filesystems
                .get(&device)?
                .known()?
                .as_deref()?;
            (found != kind.name()).then(|| format!("blkid finds {found} on {device} on {n}"))
        });
        if let Some(other) = other {
            ctx.block(
                self.object.clone(),
                format!(
                    "{other}, the desired state says {}: xenflux never makes a filesystem over another; \
                     put `filesystem` back, or convert it by hand",
                    kind.name()
                ),
                Vec::new(),
            );
        }
        blank_on
    }

    /// `mkfs` on the node's device: OCFS2 with the label, slots and cluster of its filesystem.
    pub(super) fn mkfs(&self, ctx: &mut Ctx, on: Name, kind: FsKind) {
        let name = self.name;
        let device = crate::render::drbd::device(self.alloc.minor.value);
        let ocfs2 = ctx
            .d
            .ocfs2_filesystems()
            .find(|(_, f)| &f.volume == name)
            .map(|(c, f)| (c.clone(), f.clone()));
        let (label, slots, cluster) = match ocfs2 {
            Some((c, f)) => (Some(f.label), Some(f.slots), Some(c.to_string())),
            None => (None, None, None),
        };
        let lv = format!("{}/{name}", ctx.d.nodes[&on].volume_group);
        ctx.add(
            Phase::Mkfs,
            Action::Mkfs {
                node: on,
                device,
                fs: kind,
                label,
                slots,
                cluster,
                lv,
            },
        );
    }
}
