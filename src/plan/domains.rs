//! Domains and DRBD roles: where each domain should run, start/stop, live migration (two
//! primaries for the move, then one again), hot-attach and detach of disks, and the roles every
//! volume must have for that — Primary where its domain runs (everywhere for dual-primary),
//! Secondary elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DomainSpec, DomainState, Name};
use crate::observe::XenDomain;

use super::action::Action;
use super::capacity::{NoRoom, Rooms, When};
use super::storage::resource;
use super::{Ctx, Phase};

/// Where a domain should run: its preferred node while schedulable, else the first schedulable
/// node that holds all its disks. None when there is no such node.
pub(super) fn target(ctx: &Ctx, dom: &DomainSpec) -> Option<Name> {
    let schedulable = |n: &Name| ctx.d.nodes.get(n).is_some_and(|s| s.schedulable);
    if schedulable(&dom.node) {
        return Some(dom.node.clone());
    }
    crate::render::xl::domain_nodes(ctx.d, dom)
        .into_iter()
        .find(|n| n != &dom.node && schedulable(n))
}

pub(super) fn domains(ctx: &mut Ctx) {
    // Where each domain runs now (nodes whose Xen state is known), and which nodes might run it
    // without our knowing.
    let mut runs_on: BTreeMap<String, Vec<Name>> = BTreeMap::new();
    for (n, s) in &ctx.o.nodes {
        if let Some(x) = s.xen.known() {
            for dom in x.domains.keys() {
                runs_on.entry(dom.clone()).or_default().push(n.clone());
            }
        }
    }
    let mut want_primary: BTreeMap<Name, BTreeSet<Name>> = ctx
        .d
        .volumes
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                if v.dual_primary {
                    v.nodes.iter().cloned().collect()
                } else {
                    BTreeSet::new()
                },
            )
        })
        .collect();
    // (volume, node) whose demotion is part of a migration.
    let mut migrated_from: BTreeSet<(Name, Name)> = BTreeSet::new();
    // Volumes a running domain keeps open on a node: never demoted there, unless this plan
    // stops the domain, moves it, or detaches the disk first.
    // Minors are unique per node, not per cluster: a device names a volume only on one node.
    let devices = devices(ctx);
    let volume_at = |node: &Name, dev: &str| devices.get(&(node.clone(), dev.to_string())).cloned();
    let mut open_by: BTreeMap<(String, Name), Vec<Name>> = BTreeMap::new();
    for (n, st) in &ctx.o.nodes {
        let Some(x) = st.xen.known() else { continue };
        for (dom, running) in &x.domains {
            let vols = running
                .disks
                .iter()
                .filter_map(|(dev, _, _)| volume_at(n, dev))
                .collect();
            open_by.insert((dom.clone(), n.clone()), vols);
        }
    }
    let mut held: BTreeSet<(Name, Name)> = open_by
        .iter()
        .flat_map(|((_, n), vols)| vols.iter().map(move |v| (v.clone(), n.clone())))
        .collect();
    let release = |held: &mut BTreeSet<(Name, Name)>, dom: &Name, node: &Name| {
        if let Some(vols) = open_by.get(&(dom.to_string(), node.clone())) {
            for v in vols {
                held.remove(&(v.clone(), node.clone()));
            }
        }
    };
    // Which domains (and where) hold each volume open.
    let mut holders: BTreeMap<Name, Vec<(String, Name)>> = BTreeMap::new();
    for ((dom, n), vols) in &open_by {
        for v in vols {
            holders
                .entry(v.clone())
                .or_default()
                .push((dom.clone(), n.clone()));
        }
    }
    // Domains to stop first (the memory they give back counts for everyone), then the running
    // ones by priority, higher first, ties by name: a node that cannot take everyone takes the
    // higher ones.
    let mut domains: Vec<(Name, DomainSpec)> = ctx
        .d
        .domains
        .iter()
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();
    domains.sort_by(|(an, a), (bn, b)| {
        (a.state == DomainState::Running)
            .cmp(&(b.state == DomainState::Running))
            .then(b.priority.cmp(&a.priority))
            .then(an.cmp(bn))
    });
    let mut rooms = Rooms::new(ctx);

    for (name, dom) in &domains {
        let object = format!("Domain/{name}");
        let now = runs_on.get(name.as_str()).cloned().unwrap_or_default();
        let possible = crate::render::xl::domain_nodes(ctx.d, dom);
        let vols: Vec<Name> = dom.disks.iter().map(|k| k.volume.clone()).collect();
        let running_vols: Vec<Name> = now
            .first()
            .and_then(|n| open_by.get(&(name.to_string(), n.clone())))
            .cloned()
            .unwrap_or_default();
        if let Some(v) = vols
            .iter()
            .chain(running_vols.iter())
            .find(|v| ctx.frozen.contains(*v))
        {
            ctx.block(
                object,
                format!("its volume {v} is blocked (see above)"),
                Vec::new(),
            );
            continue;
        }
        if now.len() > 1 {
            let list: Vec<&str> = now.iter().map(|n| n.as_str()).collect();
            ctx.block(
                object,
                format!("runs on {} at once: resolve by hand", list.join(" and ")),
                Vec::new(),
            );
            continue;
        }
        let blind: Vec<&Name> = possible
            .iter()
            .filter(|n| ctx.unknown.contains_key(*n))
            .collect();
        let current = now.first().cloned();
        match dom.state {
            DomainState::Stopped => {
                if let Some(s) = current {
                    if ctx.unknown.contains_key(&s) {
                        continue;
                    }
                    release(&mut held, name, &s);
                    let mem = running(ctx, &s, name).and_then(|d| d.memory_mib);
                    rooms.give(name, &s, mem.unwrap_or(0), When::Migrate);
                    ctx.add(
                        Phase::StopDomains,
                        Action::XlShutdown {
                            node: s,
                            domain: name.to_string(),
                        },
                    );
                }
            }
            DomainState::Running => {
                let Some(t) = target(ctx, dom) else {
                    ctx.block(
                        object,
                        "no schedulable node holds all its disks".into(),
                        Vec::new(),
                    );
                    continue;
                };
                if current.as_ref() != Some(&t) {
                    if let Some(n) = blind.first() {
                        ctx.block(
                            object,
                            format!("it may be running on {n}, which could not be observed; it is not started or moved"),
                            vec![format!("start domain {name} on {t}")],
                        );
                        continue;
                    }
                }
                // A running domain whose disks change and that must move: the disks change
                // where it runs now; the move follows on the next reconcile, with its new disks.
                let disks_change = current.as_ref().is_some_and(|s| {
                    let want: BTreeSet<&Name> = vols.iter().collect();
                    let have: BTreeSet<&Name> = running_vols.iter().collect();
                    s != &t && want != have
                });
                if let (Some(s), true) = (&current, disks_change) {
                    if !possible.contains(s) {
                        ctx.block(
                            object,
                            format!(
                                "it runs on {s}, which does not hold its new disks, and it cannot move to {t} with its \
                                 old ones: stop it (state: stopped), apply, then start it again"
                            ),
                            vec![format!("move domain {name} to {t} with new disks")],
                        );
                        continue;
                    }
                }
                let t = match (&current, disks_change) {
                    (Some(s), true) => {
                        ctx.warnings.push(format!(
                            "domain {name}: its disks change first, on {s}; the move to {t} follows on the next reconcile"
                        ));
                        s.clone()
                    }
                    _ => t,
                };
                // A disk another domain has open is that domain's disk.
                let taken = vols.iter().find_map(|v| {
                    holders
                        .get(v)?
                        .iter()
                        .find(|(other, _)| other != name.as_str())
                        .map(|(o, n)| (o, n, v))
                });
                if let Some((other, n, v)) = taken {
                    ctx.block(
                        object,
                        format!("its volume {v} is in use by domain {other} on {n}; stop that domain first"),
                        vec![format!("start domain {name} on {t}")],
                    );
                    continue;
                }
                // Memory: a start or a move only where it fits.
                let held_mib = current
                    .as_ref()
                    .and_then(|s| running(ctx, s, name))
                    .and_then(|d| d.memory_mib)
                    .unwrap_or(dom.memory_mib());
                match &current {
                    None => {
                        if let Err(NoRoom(why)) =
                            rooms.check(name, &t, dom.memory_mib(), false, When::Start)
                        {
                            ctx.block(object, why, vec![format!("start domain {name} on {t}")]);
                            continue;
                        }
                        rooms.take(name, &t, dom.memory_mib(), When::Start);
                    }
                    Some(s) if s != &t => {
                        if let Err(NoRoom(why)) =
                            rooms.check(name, &t, held_mib, false, When::Migrate)
                        {
                            ctx.block(
                                object,
                                format!("it stays on {s}: {why}"),
                                vec![format!("live-migrate domain {name} from {s} to {t}")],
                            );
                            continue;
                        }
                        rooms.take(name, &t, held_mib, When::Migrate);
                        rooms.give(name, s, held_mib, When::Start);
                    }
                    Some(_) => {}
                }
                for v in &vols {
                    want_primary.entry(v.clone()).or_default().insert(t.clone());
                }
                match current {
                    None => ctx.add(
                        Phase::StartDomains,
                        Action::XlCreate {
                            node: t,
                            domain: name.to_string(),
                        },
                    ),
                    Some(s) if s == t => {
                        let restarted = match running(ctx, &s, name) {
                            Some(now) => resources(ctx, &mut rooms, name, dom, &s, &now),
                            None => false,
                        };
                        if !restarted {
                            for (vol, detached) in disks(ctx, name, dom, &t, &devices) {
                                if detached {
                                    held.remove(&(vol, s.clone()));
                                }
                            }
                        }
                    }
                    Some(s) => {
                        migrate(ctx, name, dom, &s, &t);
                        release(&mut held, name, &s);
                        for v in &vols {
                            migrated_from.insert((v.clone(), s.clone()));
                        }
                    }
                }
            }
        }
    }

    let ups: BTreeSet<(Name, String)> = ctx
        .steps
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Up { node, resource } => Some((node.clone(), resource.clone())),
            _ => None,
        })
        .collect();
    // Roles: promote where wanted, demote where not (after stops, before starts).
    for (vol, want) in &want_primary {
        if ctx.frozen.contains(vol) {
            continue;
        }
        let Some(spec) = ctx.d.volumes.get(vol) else {
            continue;
        };
        let have = ctx
            .primary_after_storage
            .get(vol)
            .cloned()
            .unwrap_or_default();
        for n in &spec.nodes {
            if ctx.unknown.contains_key(n) {
                continue;
            }
            let up = ctx
                .known(n)
                .and_then(|s| resource(s, vol.as_str()))
                .is_some_and(|r| r.kernel.is_some())
                || ctx.new_volumes.contains(vol)
                || ups.contains(&(n.clone(), vol.to_string()));
            if !up {
                continue;
            }
            match (want.contains(n), have.contains(n)) {
                (true, false) => ctx.add(
                    Phase::Promote,
                    Action::Primary {
                        node: n.clone(),
                        resource: vol.to_string(),
                    },
                ),
                (false, true) if migrated_from.contains(&(vol.clone(), n.clone())) => {}
                (false, true) if held.contains(&(vol.clone(), n.clone())) => {}
                (false, true) => ctx.add(
                    Phase::Demote,
                    Action::Secondary {
                        node: n.clone(),
                        resource: vol.to_string(),
                    },
                ),
                (true, true) | (false, false) => {}
            }
        }
    }

    // Domains Xen keeps after a crash hold memory until an operator looks at them.
    for (n, st) in &ctx.o.nodes {
        let Some(x) = st.xen.known() else { continue };
        for (id, k) in &x.kept {
            ctx.warnings.push(format!(
                "node {n}: a crashed domain (id {id}, {} MiB{}) is kept by Xen; inspect it, then `xl destroy {id}`",
                k.memory_mib,
                k.former_name
                    .as_ref()
                    .map(|f| format!(", formerly {f}"))
                    .unwrap_or_default()
            ));
        }
    }
    // Domains running that the state does not know: left alone, reported.
    for (dom, nodes) in &runs_on {
        if !ctx.d.domains.contains_key(dom.as_str()) {
            let list: Vec<&str> = nodes.iter().map(|n| n.as_str()).collect();
            ctx.warnings.push(format!(
                "domain {dom} runs on {} and is not in the desired state (left alone)",
                list.join(", ")
            ));
        }
    }
}

/// The domain as Xen runs it on `node` (None when that is not known).
fn running(ctx: &Ctx, node: &Name, name: &Name) -> Option<XenDomain> {
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
fn resources(
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

/// Live migration: allow two primaries, promote the target, `xl migrate`, demote the source,
/// back to one primary (dual-primary volumes skip the role dance).
fn migrate(ctx: &mut Ctx, name: &Name, dom: &DomainSpec, from: &Name, to: &Name) {
    let Some(address) = ctx.d.nodes.get(to).map(|n| n.address.to_string()) else {
        return;
    };
    for disk in &dom.disks {
        let Some(v) = ctx.d.volumes.get(&disk.volume) else {
            continue;
        };
        if v.dual_primary {
            continue;
        }
        let res = disk.volume.to_string();
        for n in &v.nodes {
            ctx.add(
                Phase::TwoPrimariesOn,
                Action::AllowTwoPrimaries {
                    node: n.clone(),
                    resource: res.clone(),
                    allow: true,
                },
            );
        }
        ctx.add(
            Phase::MigratedDemote,
            Action::Secondary {
                node: from.clone(),
                resource: res.clone(),
            },
        );
        for n in &v.nodes {
            ctx.add(
                Phase::TwoPrimariesOff,
                Action::AllowTwoPrimaries {
                    node: n.clone(),
                    resource: res.clone(),
                    allow: false,
                },
            );
        }
    }
    ctx.add(
        Phase::Migrate,
        Action::XlMigrate {
            node: from.clone(),
            domain: name.to_string(),
            target: to.clone(),
            address,
        },
    );
}

/// Disks added to or removed from a running domain: hot-attach / detach. Returns the volumes
/// it touches, with true for those detached.
/// Which volume each DRBD device path is on each node (minors repeat across pairs).
fn devices(ctx: &Ctx) -> BTreeMap<(Name, String), Name> {
    let mut out = BTreeMap::new();
    for (vol, a) in &ctx.a.volumes {
        let Some(v) = ctx.d.volumes.get(vol) else {
            continue;
        };
        for n in &v.nodes {
            out.insert(
                (n.clone(), crate::render::drbd::device(a.minor.value)),
                vol.clone(),
            );
        }
    }
    out
}

fn disks(
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
    let have: BTreeSet<(String, String)> = running
        .disks
        .iter()
        .map(|(p, v, _)| (p.clone(), v.clone()))
        .collect();
    // A virtual device the domain runs with, given another volume by the desired state (a
    // volume renamed or swapped under it): the guest would lose the disk it is using and find
    // another in its place. Never done live.
    let swapped: Vec<String> = dom
        .disks
        .iter()
        .filter_map(|disk| {
            let a = ctx.a.volumes.get(&disk.volume)?;
            let dev = crate::render::drbd::device(a.minor.value);
            let (old, _) = have.iter().find(|(d, v)| *v == disk.target && *d != dev)?;
            Some(format!(
                "{} is {old} in the running domain, but volume {} ({dev}) in the desired state",
                disk.target, disk.volume
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
        let Some(a) = ctx.a.volumes.get(&disk.volume) else {
            continue;
        };
        let dev = crate::render::drbd::device(a.minor.value);
        want.insert((dev.clone(), disk.target.clone()));
        if !have.contains(&(dev.clone(), disk.target.clone())) {
            let spec = crate::render::xl::disk_spec(a.minor.value, &disk.target, disk.mode);
            ctx.add(
                Phase::AttachDisks,
                Action::BlockAttach {
                    node: node.clone(),
                    domain: name.to_string(),
                    spec,
                },
            );
            out.push((disk.volume.clone(), false));
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
