//! A running domain that stays where it runs: its memory and vCPUs follow the desired state
//! live, or it restarts when Xen cannot change them live; its disks are hot-attached and
//! detached. Where domains run, and moves between nodes, are [`super::domains`]'s.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DomainSpec, Name};
use crate::observe::XenDomain;

use super::action::Action;
use super::capacity::{NoRoom, Rooms, When};
use super::{Ctx, Phase};

/// The domain as Xen runs it on `node` (None when that is not known).
pub(super) fn running(ctx: &Ctx, node: &Name, name: &Name) -> Option<XenDomain> {
    ctx.known(node)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.domains.get(name.as_str()))
        .cloned()
}

/// A running domain that stays where it is: its memory and vCPUs follow the desired state live
/// (`xl mem-set`, `xl vcpu-set`) as far as Xen allows, up to the maxmem and maxvcpus it was
/// started with. Beyond them, or for a higher maximum, it needs a restart (a lower maximum
/// waits for the next start): planned (shutdown, then
/// create with the new config) when the domain asks for it with `restartOnChange`, reported as
/// "restart needed" otherwise. Returns true when it is restarted.
pub(super) fn resources(
    ctx: &mut Ctx,
    rooms: &mut Rooms,
    name: &Name,
    dom: &DomainSpec,
    node: &Name,
    now: &XenDomain,
) -> bool {
    if now.stopping {
        return false;
    }
    let object = format!("Domain/{name}");
    let (mem, max_mem) = (dom.memory_mib(), dom.max_memory_mib());
    let (vcpus, max_vcpus) = (dom.vcpus, dom.max_vcpus());
    let mut restart = Vec::new();
    if let Some(xm) = now.max_memory_mib {
        if mem > xm {
            restart.push(format!(
                "memory {mem} MiB is above the maxmem of {xm} MiB it was started with"
            ));
        } else if max_mem > xm {
            restart.push(format!("maxmem rises from {xm} to {max_mem} MiB"));
        }
    }
    if let Some(xv) = now.max_vcpus {
        if vcpus > xv {
            restart.push(format!(
                "{vcpus} vCPUs is more than the maxvcpus of {xv} it was started with"
            ));
        } else if max_vcpus > xv {
            restart.push(format!("maxvcpus rises from {xv} to {max_vcpus}"));
        }
    }
    let held = now.memory_mib;
    if !restart.is_empty() {
        let why = restart.join("; ");
        if dom.restart_on_change {
            let held = held.unwrap_or(0);
            rooms.give(name, node, held, When::Migrate);
            if let Err(NoRoom(room)) = rooms.check(name, node, mem, false, When::Start) {
                rooms.take(name, node, held, When::Migrate);
                ctx.block(
                    object,
                    format!("restart needed ({why}), but {room}"),
                    vec![format!("restart domain {name} on {node}")],
                );
                return false;
            }
            rooms.take(name, node, mem, When::Start);
            ctx.warnings.push(format!(
                "domain {name} restarts on {node} (restartOnChange): {why}"
            ));
            ctx.add(
                Phase::StopDomains,
                Action::XlShutdown {
                    node: node.clone(),
                    domain: name.to_string(),
                },
            );
            ctx.add(
                Phase::StartDomains,
                Action::XlCreate {
                    node: node.clone(),
                    domain: name.to_string(),
                },
            );
            return true;
        }
        ctx.block(
            object.clone(),
            format!(
                "restart needed: {why}. Xen cannot make that change to a running domain, so it \
                 keeps running as it is: restart it by hand, or set `restartOnChange: true` to let \
                 xenflux do it"
            ),
            vec![format!(
                "restart domain {name} on {node} (xl shutdown, then xl create)"
            )],
        );
    }
    let live_mem = now.max_memory_mib.is_none_or(|xm| mem <= xm);
    if let (Some(h), true) = (held, live_mem) {
        if mem < h {
            rooms.give(name, node, h - mem, When::Migrate);
            ctx.add(Phase::ShrinkDomains, mem_set(node, name, mem));
        } else if mem > h {
            match rooms.check(name, node, mem - h, true, When::Start) {
                Err(NoRoom(why)) => ctx.block(
                    object,
                    why,
                    vec![format!("set the memory of domain {name} to {mem} MiB")],
                ),
                Ok(()) => {
                    rooms.take(name, node, mem - h, When::Start);
                    ctx.add(Phase::GrowDomains, mem_set(node, name, mem));
                }
            }
        }
    }
    if let Some(online) = now.vcpus {
        if online != vcpus && now.max_vcpus.is_none_or(|xv| vcpus <= xv) {
            let phase = if vcpus < online {
                Phase::ShrinkDomains
            } else {
                Phase::GrowDomains
            };
            ctx.add(
                phase,
                Action::XlVcpuSet {
                    node: node.clone(),
                    domain: name.to_string(),
                    vcpus,
                },
            );
        }
    }
    false
}

fn mem_set(node: &Name, name: &Name, memory_mib: u64) -> Action {
    Action::XlMemSet {
        node: node.clone(),
        domain: name.to_string(),
        memory_mib,
    }
}

/// Disks added to or removed from a running domain: hot-attach / detach. Returns the volumes
/// it touches, with true for those detached.
pub(super) fn disks(
    ctx: &mut Ctx,
    name: &Name,
    dom: &DomainSpec,
    node: &Name,
    devices: &BTreeMap<(Name, String), Name>,
) -> Vec<(Name, bool)> {
    let mut out = Vec::new();
    let Some(running) = ctx
        .known(node)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.domains.get(name.as_str()))
    else {
        return out;
    };
    // Snapshots xenflux attached are the snapshot planner's, not the domain's own disks.
    let have: BTreeSet<(String, String)> = running
        .disks
        .iter()
        .filter(|(p, _, _)| !super::snapshots::is_snapshot_disk(ctx, node, p))
        .map(|(p, v, _)| (p.clone(), v.clone()))
        .collect();
    // A virtual device the domain runs with, given another disk by the desired state (a
    // volume or image renamed or swapped under it), or a device it runs with given another
    // virtual device: the guest would lose the disk it is using. Never done live.
    let what = |disk: &crate::model::DiskSpec, dev: &str| match &disk.volume {
        Some(v) => format!("volume {v} ({dev})"),
        None => format!("image {dev}"),
    };
    let swapped: Vec<String> = dom
        .disks
        .iter()
        .filter_map(|disk| {
            let (dev, _) = crate::render::xl::disk_of(ctx.a, disk)?;
            if let Some((old, _)) = have.iter().find(|(d, v)| *v == disk.target && *d != dev) {
                return Some(format!(
                    "{} is {old} in the running domain, but {} in the desired state",
                    disk.target,
                    what(disk, &dev)
                ));
            }
            // The same device moved to another virtual device: detaching it from under the
            // guest takes away a disk it is using, whatever name it comes back under.
            let (_, at) = have.iter().find(|(d, v)| *d == dev && *v != disk.target)?;
            Some(format!(
                "{} is {at} in the running domain, but {} in the desired state",
                what(disk, &dev),
                disk.target
            ))
        })
        .collect();
    if !swapped.is_empty() {
        ctx.block(
            format!("Domain/{name}"),
            format!(
                "it runs on {node} and {}: a disk a running domain uses is never replaced live. \
                 To swap it, set `state: stopped`, apply, then `state: running` with the new disk",
                swapped.join("; ")
            ),
            Vec::new(),
        );
        return out;
    }
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for disk in &dom.disks {
        let Some((dev, spec)) = crate::render::xl::disk_of(ctx.a, disk) else {
            continue;
        };
        want.insert((dev.clone(), disk.target.clone()));
        if !have.contains(&(dev.clone(), disk.target.clone())) {
            // An image is attached only once it is there, on a filesystem mounted here.
            if let Some(why) = disk
                .file
                .as_ref()
                .and_then(|p| super::images::unusable_on(ctx, p, node))
            {
                ctx.block(
                    format!("Domain/{name}"),
                    format!("its new disk {}: {why}", disk.target),
                    vec![format!("attach {spec} to domain {name}")],
                );
                continue;
            }
            ctx.add(
                Phase::AttachDisks,
                Action::BlockAttach {
                    node: node.clone(),
                    domain: name.to_string(),
                    spec,
                },
            );
            if let Some(v) = &disk.volume {
                out.push((v.clone(), false));
            }
        }
    }
    for (dev, vdev) in &have {
        if !want.contains(&(dev.clone(), vdev.clone())) {
            ctx.add(
                Phase::DetachDisks,
                Action::BlockDetach {
                    node: node.clone(),
                    domain: name.to_string(),
                    vdev: vdev.clone(),
                },
            );
            let vol = devices.get(&(node.clone(), dev.clone())).cloned();
            if let Some(v) = vol {
                out.push((v, true));
            }
        }
    }
    out
}
