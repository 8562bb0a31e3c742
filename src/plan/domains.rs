//! Domains and DRBD roles: where each domain should run, start/stop, live migration (two
//! primaries for the move, then one again), hot-attach and detach of disks, and the roles every
//! volume must have for that — Primary where its domain runs (everywhere for dual-primary),
//! Secondary elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DomainSpec, DomainState, Name};

use super::action::Action;
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
    // Volumes held open on a node by a domain that stays there.
    let mut held: BTreeSet<(Name, Name)> = BTreeSet::new();
    let domains: Vec<(Name, DomainSpec)> = ctx
        .d
        .domains
        .iter()
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();

    for (name, dom) in &domains {
        let object = format!("Domain/{name}");
        let now = runs_on.get(name.as_str()).cloned().unwrap_or_default();
        let possible = crate::render::xl::domain_nodes(ctx.d, dom);
        let vols: Vec<Name> = dom.disks.iter().map(|k| k.volume.clone()).collect();
        if let Some(v) = vols.iter().find(|v| ctx.frozen.contains(*v)) {
            ctx.block(
                object,
                format!("its volume {v} is blocked (see above)"),
                Vec::new(),
            );
            for n in &now {
                for v in &vols {
                    held.insert((v.clone(), n.clone()));
                }
            }
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
                    if let Some(s) = &current {
                        for v in &vols {
                            held.insert((v.clone(), s.clone()));
                        }
                    }
                    continue;
                };
                if current.is_none() || current.as_ref() != Some(&t) {
                    if let Some(n) = blind.first() {
                        ctx.block(
                            object,
                            format!("it may be running on {n}, which could not be observed; it is not started or moved"),
                            vec![format!("start domain {name} on {t}")],
                        );
                        if let Some(s) = &current {
                            for v in &vols {
                                held.insert((v.clone(), s.clone()));
                            }
                        }
                        continue;
                    }
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
                        for v in &vols {
                            held.insert((v.clone(), s.clone()));
                        }
                        disks(ctx, name, dom, &t);
                    }
                    Some(s) => {
                        migrate(ctx, name, dom, &s, &t);
                        for v in &vols {
                            migrated_from.insert((v.clone(), s.clone()));
                        }
                    }
                }
            }
        }
    }

    // Domains the state does not know keep the devices they have open.
    let by_device: BTreeMap<String, Name> =
        ctx.a.volumes.iter().map(|(n, a)| (format!("/dev/drbd{}", a.minor.value), n.clone())).collect();
    for (n, st) in &ctx.o.nodes {
        let Some(x) = st.xen.known() else { continue };
        for (dom, running) in &x.domains {
            if ctx.d.domains.keys().any(|k| k.as_str() == dom) {
                continue;
            }
            for (dev, _, _) in &running.disks {
                if let Some(v) = by_device.get(dev) {
                    held.insert((v.clone(), n.clone()));
                }
            }
        }
    }

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
                || planned_up(ctx, vol, n);
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

    // Domains running that the state does not know: left alone, reported.
    for (dom, nodes) in &runs_on {
        if !ctx.d.domains.keys().any(|n| n.as_str() == dom) {
            let list: Vec<&str> = nodes.iter().map(|n| n.as_str()).collect();
            ctx.warnings.push(format!(
                "domain {dom} runs on {} and is not in the desired state (left alone)",
                list.join(", ")
            ));
        }
    }
}

fn planned_up(ctx: &Ctx, vol: &Name, node: &Name) -> bool {
    ctx.steps.iter().any(|(_, a)| matches!(a, Action::Up { node: n, resource } if n == node && resource == vol.as_str()))
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

/// Disks added to or removed from a running domain: hot-attach / detach.
fn disks(ctx: &mut Ctx, name: &Name, dom: &DomainSpec, node: &Name) {
    let Some(running) = ctx
        .known(node)
        .and_then(|s| s.xen.known())
        .and_then(|x| x.domains.get(name.as_str()))
    else {
        return;
    };
    let have: BTreeSet<(String, String)> = running
        .disks
        .iter()
        .map(|(p, v, _)| (p.clone(), v.clone()))
        .collect();
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for disk in &dom.disks {
        let Some(a) = ctx.a.volumes.get(&disk.volume) else {
            continue;
        };
        let dev = format!("/dev/drbd{}", a.minor.value);
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
        }
    }
}
