//! The DRBD phases of a volume: meta-data on LVs xenflux created, the resource up (or its
//! file applied), the forced sync source of a brand-new pair, and the device grown to its LVs.

use std::collections::{BTreeMap, BTreeSet};

use crate::drivers::drbd::{ConnectionState, DiskState, Role};
use crate::model::{MetaKind, Name};
use crate::observe::NodeState;

use super::super::action::{Action, MD_TAG};
use super::super::{Ctx, Phase};
use super::{lv, resource, Vol};

impl Vol<'_> {
    /// Meta-data on LVs this xenflux created and never initialised; then up (or adjust).
    /// Returns the nodes where create-md is planned now.
    pub(super) fn metadata_and_up(
        &self,
        ctx: &mut Ctx,
        created: &BTreeSet<Name>,
    ) -> BTreeSet<Name> {
        let mut md_now: BTreeSet<Name> = BTreeSet::new();
        for (n, s) in &self.states {
            if self.metadata(ctx, n, s, created) {
                md_now.insert(n.clone());
            }
            self.up(ctx, n, s);
        }
        md_now
    }

    /// `create-md` on the node's data LV when it was created now or carries no meta-data tag,
    /// and the resource is not up there. Returns whether it is planned.
    pub(super) fn metadata(
        &self,
        ctx: &mut Ctx,
        n: &Name,
        s: &NodeState,
        created: &BTreeSet<Name>,
    ) -> bool {
        let name = self.name;
        let res = name.to_string();
        let vg = ctx.d.nodes[n].volume_group.to_string();
        let needs_md = created.contains(n)
            || lv(s, &vg, name.as_str()).is_some_and(|l| !l.tags.contains(MD_TAG));
        let up = resource(s, &res).and_then(|r| r.kernel.as_ref()).is_some();
        if !needs_md || up {
            return false;
        }
        let spec = &ctx.d.nodes[n];
        let meta = crate::render::drbd::meta_location(name, spec, &self.alloc);
        ctx.add(
            Phase::MetaData,
            Action::CreateMd {
                node: n.clone(),
                resource: res.clone(),
                vg,
                lv: res,
                meta,
                version: ctx.d.cluster.drbd.version,
            },
        );
        true
    }

    /// The resource brought up on the node, or its configuration file applied to the kernel
    /// (`adjust`) when the file changes or the kernel kept options the file no longer has.
    pub(super) fn up(&self, ctx: &mut Ctx, n: &Name, s: &NodeState) {
        let (name, v) = (self.name, self.v);
        let res = name.to_string();
        let ending_dual = |s: &NodeState| {
            !v.dual_primary
                && resource(s, name.as_str())
                    .and_then(|r| r.config.as_ref())
                    .is_some_and(|c| c.allow_two_primaries)
        };
        let kernel = resource(s, &res).and_then(|r| r.kernel.as_ref());
        let path = crate::render::drbd::res_path(name);
        let file_changes = ctx
            .files
            .nodes
            .get(n)
            .and_then(|f| f.get(&path))
            .is_some_and(|want| {
                s.files
                    .get(&path)
                    .and_then(|p| p.known())
                    .is_none_or(|have| have.as_ref() != Some(want))
            });
        let node = n.clone();
        match kernel {
            None => ctx.add(
                Phase::Up,
                Action::Up {
                    node,
                    resource: res,
                },
            ),
            // Ending dual-primary waits until moves and demotions left one Primary.
            Some(_) if file_changes && ending_dual(s) => ctx.add(
                Phase::AdjustLate,
                Action::Adjust {
                    node,
                    resource: res,
                },
            ),
            Some(_) if file_changes => ctx.add(
                Phase::Adjust,
                Action::Adjust {
                    node,
                    resource: res,
                },
            ),
            // The kernel still allows two Primaries though the file does not (a migration
            // that stopped half way, a hand-run `net-options`): `adjust` brings back the
            // file's options, once moves and demotions have left one Primary.
            Some(k) if !v.dual_primary && k.allow_two_primaries == Some(true) => ctx.add(
                Phase::AdjustLate,
                Action::Adjust {
                    node,
                    resource: res,
                },
            ),
            Some(_) => {}
        }
    }

    /// A brand-new pair has no good data anywhere: one node is forced to be the sync source.
    /// Returns the nodes that will be Primary.
    pub(super) fn initial_primary(
        &self,
        ctx: &mut Ctx,
        all_new: bool,
        source: &Name,
    ) -> BTreeSet<Name> {
        let (name, states) = (self.name, &self.states);
        let res = name.to_string();
        let all_inconsistent = states.values().all(|s| {
            resource(s, &res)
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.disk == DiskState::Inconsistent
                        && k.peers.iter().all(|p| {
                            p.connection == ConnectionState::Connected
                                && p.disk == DiskState::Inconsistent
                        })
                })
        });
        let mut primary: BTreeSet<Name> = states
            .iter()
            .filter(|(_, s)| {
                resource(s, &res)
                    .and_then(|r| r.kernel.as_ref())
                    .is_some_and(|k| k.role == Role::Primary)
            })
            .map(|(n, _)| n.clone())
            .collect();
        if all_new || all_inconsistent {
            ctx.add(
                Phase::InitialPrimary,
                Action::InitialPrimary {
                    node: source.clone(),
                    resource: res.clone(),
                },
            );
            primary.insert(source.clone());
            ctx.new_volumes.insert(name.clone());
        } else if !seeded(states, &res) {
            // No node reports UpToDate data: the resource is down everywhere (a first apply that
            // stopped between the nodes' create-md or before `up`, or nodes that rebooted), or up
            // without a peer to tell. DRBD refuses to promote without UpToDate data, so nothing is
            // promoted or started until the next reconcile sees it up and Connected — and then
            // promotes, or picks the initial sync source when every side is Inconsistent.
            // The volume is frozen, but its later phases still run, as they always have.
            let _ = self.freeze(
                ctx,
                "no node reports UpToDate data yet: nothing is promoted or started until the resource is up and Connected on every node (the next reconcile)".into(),
                Vec::new(),
            );
        }
        primary
    }

    /// Grow: the DRBD device follows its LVs once every node is Connected and UpToDate.
    pub(super) fn grow(
        &self,
        ctx: &mut Ctx,
        grown: bool,
        all_new: bool,
        primary: &mut BTreeSet<Name>,
    ) {
        let (name, v, states, alloc) = (self.name, self.v, &self.states, &self.alloc);
        let res = name.to_string();
        let external = v.meta != MetaKind::Internal;
        let device_small = states.values().any(|s| {
            s.drbd
                .known()
                .and_then(|d| d.device_sizes.get(&alloc.minor.value))
                .is_some_and(|sz| external && *sz < v.size.bytes())
        });
        if !((grown || device_small) && !all_new) {
            return;
        }
        let healthy = states.values().all(|s| {
            resource(s, &res)
                .and_then(|r| r.kernel.as_ref())
                .is_some_and(|k| {
                    k.disk == DiskState::UpToDate
                        && k.peers.iter().all(|p| {
                            p.connection == ConnectionState::Connected
                                && p.disk == DiskState::UpToDate
                        })
                })
        });
        let on = primary
            .iter()
            .next()
            .cloned()
            .unwrap_or_else(|| v.nodes[0].clone());
        if !healthy {
            ctx.warnings.push(format!(
                "volume {name}: the DRBD device grows once both nodes are Connected and UpToDate (not yet)"
            ));
            return;
        }
        // DRBD resizes only with a Primary ("Need one Primary node to resize"): promote one
        // for it; the role pass demotes it again when nothing needs it there.
        if primary.is_empty() {
            ctx.add(
                Phase::Resize,
                Action::Primary {
                    node: on.clone(),
                    resource: res.clone(),
                },
            );
            primary.insert(on.clone());
        }
        ctx.add(
            Phase::Resize,
            Action::Resize {
                node: on.clone(),
                resource: res.clone(),
            },
        );
        self.grow_filesystem(ctx, on, primary);
    }
}

/// Some node of the resource has UpToDate data, by its own or its peer's account.
fn seeded(states: &BTreeMap<Name, &NodeState>, res: &str) -> bool {
    states.values().any(|s| {
        resource(s, res)
            .and_then(|r| r.kernel.as_ref())
            .is_some_and(|k| {
                k.disk == DiskState::UpToDate
                    || k.peers.iter().any(|p| p.disk == DiskState::UpToDate)
            })
    })
}
