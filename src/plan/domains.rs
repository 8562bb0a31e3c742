//! Domains and DRBD roles: where each domain should run, start/stop, live migration (two
//! primaries for the move, then one again), and the roles every volume must have for that —
//! Primary where its domain runs (everywhere for dual-primary), Secondary elsewhere. What
//! changes in a domain that stays where it runs (memory, vCPUs, disks) is in
//! [`super::running`].

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{DomainSpec, DomainState, Name};

use super::action::Action;
use super::capacity::{NoRoom, Rooms, When};
use super::running::{disks, resources, running};
use super::storage::resource;
use super::{Ctx, Phase};

/// Where a domain should run: its preferred node while schedulable, else the first schedulable
/// node that holds all its disks. None when there is no such node.
pub(super) fn target(ctx: &Ctx, dom: &DomainSpec) -> Option<Name> {
    let schedulable =
        |n: &Name| ctx.d.nodes.get(n).is_some_and(|s| s.schedulable) && !ctx.held_out(n);
    if schedulable(&dom.node) {
        return Some(dom.node.clone());
    }
    crate::render::xl::domain_nodes(ctx.d, dom)
        .into_iter()
        .find(|n| n != &dom.node && schedulable(n))
}

/// [`target`], except that a failed-over domain stays where it was started while failback is
/// manual (and that node can take it).
fn target_of(ctx: &Ctx, name: &Name, dom: &DomainSpec) -> Option<Name> {
    let placed = ctx.policy.placed.get(name).filter(|n| {
        ctx.d.nodes.get(*n).is_some_and(|s| s.schedulable)
            && !ctx.held_out(n)
            && crate::render::xl::domain_nodes(ctx.d, dom).contains(n)
    });
    placed.cloned().or_else(|| target(ctx, dom))
}

pub(super) fn domains(ctx: &mut Ctx) {
    let mut pass = Pass::observe(ctx);
    for (name, dom) in &in_order(ctx) {
        pass.domain(ctx, name, dom);
    }
    pass.roles(ctx);
    kept_after_crash(ctx);
    unknown_running(ctx, &pass.runs_on);
}

/// Domains to stop first (the memory they give back counts for everyone), then the running
/// ones by priority, higher first, ties by name: a node that cannot take everyone takes the
/// higher ones.
fn in_order(ctx: &Ctx) -> Vec<(Name, DomainSpec)> {
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
    domains
}

/// What the domain pass reads from the observation, and what it decides domain by domain.
struct Pass {
    /// Where each domain runs now (nodes whose Xen state is known), and which nodes might run
    /// it without our knowing.
    runs_on: BTreeMap<String, Vec<Name>>,
    /// The nodes each volume should be Primary on.
    want_primary: BTreeMap<Name, BTreeSet<Name>>,
    /// (volume, node) whose demotion is part of a migration.
    migrated_from: BTreeSet<(Name, Name)>,
    /// Which volume each DRBD device path is on each node.
    devices: BTreeMap<(Name, String), Name>,
    /// The volumes each running domain has open, by (domain, node).
    open_by: BTreeMap<(String, Name), Vec<Name>>,
    /// Volumes a running domain keeps open on a node: never demoted there, unless this plan
    /// stops the domain, moves it, or detaches the disk first.
    held: BTreeSet<(Name, Name)>,
    /// Which domains (and where) hold each volume open.
    holders: BTreeMap<Name, Vec<(String, Name)>>,
    /// The memory of each node, as the plan so far leaves it.
    rooms: Rooms,
}

/// One domain of the desired state, with what is observed of it.
struct Seen<'d> {
    object: String,
    name: &'d Name,
    dom: &'d DomainSpec,
    /// The nodes that could run it (they hold all its disks).
    possible: Vec<Name>,
    /// The volumes of its disks in the desired state.
    vols: Vec<Name>,
    /// The volumes it has open where it runs now.
    running_vols: Vec<Name>,
    /// Where it runs now.
    current: Option<Name>,
}

impl Pass {
    fn observe(ctx: &Ctx) -> Pass {
        let mut runs_on: BTreeMap<String, Vec<Name>> = BTreeMap::new();
        for (n, s) in &ctx.o.nodes {
            if let Some(x) = s.xen.known() {
                for dom in x.domains.keys() {
                    runs_on.entry(dom.clone()).or_default().push(n.clone());
                }
            }
        }
        let want_primary: BTreeMap<Name, BTreeSet<Name>> = ctx
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
        // Minors are unique per node, not per cluster: a device names a volume only on one node.
        let devices = devices(ctx);
        let volume_at =
            |node: &Name, dev: &str| devices.get(&(node.clone(), dev.to_string())).cloned();
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
        let held: BTreeSet<(Name, Name)> = open_by
            .iter()
            .flat_map(|((_, n), vols)| vols.iter().map(move |v| (v.clone(), n.clone())))
            .collect();
        let mut holders: BTreeMap<Name, Vec<(String, Name)>> = BTreeMap::new();
        for ((dom, n), vols) in &open_by {
            for v in vols {
                holders
                    .entry(v.clone())
                    .or_default()
                    .push((dom.clone(), n.clone()));
            }
        }
        Pass {
            runs_on,
            want_primary,
            migrated_from: BTreeSet::new(),
            devices,
            open_by,
            held,
            holders,
            rooms: Rooms::new(ctx),
        }
    }

    /// The volumes `dom` has open on `node` are no longer held there.
    fn release(&mut self, dom: &Name, node: &Name) {
        if let Some(vols) = self.open_by.get(&(dom.to_string(), node.clone())) {
            for v in vols {
                self.held.remove(&(v.clone(), node.clone()));
            }
        }
    }

    /// One domain: blocked with its volumes or where it runs twice; else stopped or run.
    fn domain(&mut self, ctx: &mut Ctx, name: &Name, dom: &DomainSpec) {
        let object = format!("Domain/{name}");
        let now = self.runs_on.get(name.as_str()).cloned().unwrap_or_default();
        let vols: Vec<Name> = dom.disks.iter().filter_map(|k| k.volume.clone()).collect();
        let running_vols: Vec<Name> = now
            .first()
            .and_then(|n| self.open_by.get(&(name.to_string(), n.clone())))
            .cloned()
            .unwrap_or_default();
        let possible = crate::render::xl::domain_nodes(ctx.d, dom);
        if now.is_empty() && dom.state == DomainState::Running {
            if let Some(reason) = super::failover::blind(ctx, &possible) {
                ctx.block(object, reason, Vec::new());
                return;
            }
        }
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
            return;
        }
        if now.len() > 1 {
            let list: Vec<&str> = now.iter().map(|n| n.as_str()).collect();
            ctx.block(
                object,
                format!("runs on {} at once: resolve by hand", list.join(" and ")),
                Vec::new(),
            );
            return;
        }
        let d = Seen {
            object,
            name,
            dom,
            possible,
            vols,
            running_vols,
            current: now.first().cloned(),
        };
        match dom.state {
            DomainState::Stopped => self.stop(ctx, &d),
            DomainState::Running => {
                let _ = self.run(ctx, &d);
            }
        }
    }

    /// A domain that should be stopped and runs where its node is known: shut down, and its
    /// memory given back.
    fn stop(&mut self, ctx: &mut Ctx, d: &Seen) {
        let name = d.name;
        if let Some(s) = d.current.clone() {
            if ctx.unknown.contains_key(&s) {
                return;
            }
            self.release(name, &s);
            let mem = running(ctx, &s, name).and_then(|d| d.memory_mib);
            self.rooms.give(name, &s, mem.unwrap_or(0), When::Migrate);
            ctx.add(
                Phase::StopDomains,
                Action::XlShutdown {
                    node: s,
                    domain: name.to_string(),
                },
            );
        }
    }

    /// A domain that should run: where, whether the memory is there, then start, change or
    /// move it. None when it is blocked.
    fn run(&mut self, ctx: &mut Ctx, d: &Seen) -> Option<()> {
        let t = self.place(ctx, d)?;
        self.reserve_memory(ctx, d, &t)?;
        self.act(ctx, d, t);
        Some(())
    }

    /// The node the domain runs on after this plan. None when it is blocked.
    fn place(&self, ctx: &mut Ctx, d: &Seen) -> Option<Name> {
        let (name, object, current) = (d.name, &d.object, &d.current);
        let blind: Vec<&Name> = d
            .possible
            .iter()
            .filter(|n| ctx.unknown.contains_key(*n) && !ctx.off(n))
            .collect();
        let Some(t) = target_of(ctx, name, d.dom) else {
            ctx.block(
                object.clone(),
                "no schedulable node holds all its disks".into(),
                Vec::new(),
            );
            return None;
        };
        if let Some(s) = current.as_ref().filter(|s| *s != &t) {
            if let Some(why) = super::snapshots::pins(ctx, s, name.as_str()) {
                ctx.block(
                    object.clone(),
                    format!("it stays on {s}: {why}"),
                    vec![format!("live-migrate domain {name} from {s} to {t}")],
                );
                return None;
            }
        }
        if current.as_ref() != Some(&t) {
            if let Some(n) = blind.first() {
                ctx.block(
                    object.clone(),
                    format!(
                        "it may be running on {n}, which could not be observed; it is not started or moved ({})",
                        super::failover::next_step(ctx.d, ctx.o, n)
                    ),
                    vec![format!("start domain {name} on {t}")],
                );
                return None;
            }
        }
        // A running domain whose disks change and that must move: the disks change where it
        // runs now; the move follows on the next reconcile, with its new disks.
        let disks_change = current.as_ref().is_some_and(|s| {
            let want: BTreeSet<&Name> = d.vols.iter().collect();
            let have: BTreeSet<&Name> = d.running_vols.iter().collect();
            s != &t && want != have
        });
        if let (Some(s), true) = (current, disks_change) {
            if !d.possible.contains(s) {
                ctx.block(
                    object.clone(),
                    format!(
                        "it runs on {s}, which does not hold its new disks, and it cannot move to {t} with its \
                         old ones: stop it (state: stopped), apply, then start it again"
                    ),
                    vec![format!("move domain {name} to {t} with new disks")],
                );
                return None;
            }
        }
        let t = match (current, disks_change) {
            (Some(s), true) => {
                ctx.warnings.push(format!(
                    "domain {name}: its disks change first, on {s}; the move to {t} follows on the next reconcile"
                ));
                s.clone()
            }
            _ => t,
        };
        // An image file: there (or created by this plan), and its filesystem mounted where the
        // domain starts or moves to — the "Primary and UpToDate" of a disk on OCFS2.
        if current.as_ref() != Some(&t) {
            let would = match current {
                Some(s) => format!("live-migrate domain {name} from {s} to {t}"),
                None => format!("start domain {name} on {t}"),
            };
            let unusable = d
                .dom
                .disks
                .iter()
                .filter_map(|k| k.file.as_ref())
                .find_map(|p| super::images::unusable_on(ctx, p, &t));
            if let Some(why) = unusable {
                ctx.block(object.clone(), why, vec![would]);
                return None;
            }
        }
        // A disk another domain has open is that domain's disk.
        let taken = d.vols.iter().find_map(|v| {
            self.holders
                .get(v)?
                .iter()
                .find(|(other, _)| other != name.as_str())
                .map(|(o, n)| (o, n, v))
        });
        if let Some((other, n, v)) = taken {
            ctx.block(
                object.clone(),
                format!(
                    "its volume {v} is in use by domain {other} on {n}; stop that domain first"
                ),
                vec![format!("start domain {name} on {t}")],
            );
            return None;
        }
        Some(t)
    }

    /// Memory: a start or a move only where it fits. None when it does not.
    fn reserve_memory(&mut self, ctx: &mut Ctx, d: &Seen, t: &Name) -> Option<()> {
        let (name, dom, object) = (d.name, d.dom, &d.object);
        let held_mib = d
            .current
            .as_ref()
            .and_then(|s| running(ctx, s, name))
            .and_then(|d| d.memory_mib)
            .unwrap_or(dom.memory_mib());
        match &d.current {
            None => {
                if let Err(NoRoom(why)) =
                    self.rooms
                        .check(name, t, dom.memory_mib(), false, When::Start)
                {
                    ctx.block(
                        object.clone(),
                        why,
                        vec![format!("start domain {name} on {t}")],
                    );
                    return None;
                }
                self.rooms.take(name, t, dom.memory_mib(), When::Start);
            }
            Some(s) if s != t => {
                if let Err(NoRoom(why)) = self.rooms.check(name, t, held_mib, false, When::Migrate)
                {
                    ctx.block(
                        object.clone(),
                        format!("it stays on {s}: {why}"),
                        vec![format!("live-migrate domain {name} from {s} to {t}")],
                    );
                    return None;
                }
                self.rooms.take(name, t, held_mib, When::Migrate);
                self.rooms.give(name, s, held_mib, When::Start);
            }
            Some(_) => {}
        }
        Some(())
    }

    /// Its volumes are wanted Primary on `t`; then start it there, change it where it runs,
    /// or move it.
    fn act(&mut self, ctx: &mut Ctx, d: &Seen, t: Name) {
        let (name, dom) = (d.name, d.dom);
        for v in &d.vols {
            self.want_primary
                .entry(v.clone())
                .or_default()
                .insert(t.clone());
        }
        match d.current.clone() {
            None => ctx.add(
                Phase::StartDomains,
                Action::XlCreate {
                    node: t,
                    domain: name.to_string(),
                },
            ),
            Some(s) if s == t => {
                let restarted = match running(ctx, &s, name) {
                    Some(now) => resources(ctx, &mut self.rooms, name, dom, &s, &now),
                    None => false,
                };
                if !restarted {
                    for (vol, detached) in disks(ctx, name, dom, &t, &self.devices) {
                        if detached {
                            self.held.remove(&(vol, s.clone()));
                        }
                    }
                }
            }
            Some(s) => {
                migrate(ctx, name, dom, &s, &t);
                self.release(name, &s);
                for v in &d.vols {
                    self.migrated_from.insert((v.clone(), s.clone()));
                }
            }
        }
    }

    /// Roles: promote where wanted, demote where not (after stops, before starts).
    fn roles(&self, ctx: &mut Ctx) {
        let ups: BTreeSet<(Name, String)> = ctx
            .steps
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Up { node, resource } => Some((node.clone(), resource.clone())),
                _ => None,
            })
            .collect();
        for (vol, want) in &self.want_primary {
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
                    // A fenced node back before it resynced: never promoted.
                    (true, false) if ctx.held_out(n) => {}
                    (true, false) => ctx.add(
                        Phase::Promote,
                        Action::Primary {
                            node: n.clone(),
                            resource: vol.to_string(),
                        },
                    ),
                    (false, true) if self.migrated_from.contains(&(vol.clone(), n.clone())) => {}
                    (false, true) if self.held.contains(&(vol.clone(), n.clone())) => {}
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
    }
}

/// Domains Xen keeps after a crash hold memory until an operator looks at them.
fn kept_after_crash(ctx: &mut Ctx) {
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
}

/// Domains running that the state does not know: left alone, reported.
fn unknown_running(ctx: &mut Ctx, runs_on: &BTreeMap<String, Vec<Name>>) {
    for (dom, nodes) in runs_on {
        if !ctx.d.domains.contains_key(dom.as_str()) {
            let list: Vec<&str> = nodes.iter().map(|n| n.as_str()).collect();
            ctx.warnings.push(format!(
                "domain {dom} runs on {} and is not in the desired state (left alone)",
                list.join(", ")
            ));
        }
    }
}

/// Live migration: allow two primaries, promote the target, `xl migrate`, demote the source,
/// back to one primary (dual-primary volumes skip the role dance).
fn migrate(ctx: &mut Ctx, name: &Name, dom: &DomainSpec, from: &Name, to: &Name) {
    let Some(address) = ctx.d.nodes.get(to).map(|n| n.address.to_string()) else {
        return;
    };
    // Image files on OCFS2 are reachable from both ends already: only DRBD disks need roles.
    for vol in dom.disks.iter().filter_map(|k| k.volume.as_ref()) {
        let Some(v) = ctx.d.volumes.get(vol) else {
            continue;
        };
        if v.dual_primary {
            continue;
        }
        let res = vol.to_string();
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
