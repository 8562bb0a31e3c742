//! Memory as a constraint on placement: what each node has free for domains while the plan
//! stops, moves, starts and resizes them. Free memory is the smaller of Xen's own count
//! (`xl info` free_memory) and the Node's declared `memory` less what the domains that are or
//! will be there hold. Domains stopped or shrunk by the plan give theirs back before anything
//! moves; domains migrated away give theirs back only to starts and raises, since migrations in
//! and out of a node run in parallel.

use std::collections::BTreeMap;

use crate::model::Name;

use super::Ctx;

/// From which of the plan's phases on memory is needed, or given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum When {
    /// The migrate phase (after stops and shrinks, while other migrations run).
    Migrate,
    /// The start phase (after every stop and migration): starts and raises.
    Start,
}

#[derive(Debug, Default)]
struct Room {
    /// `xl info` free_memory less what the plan puts here so far, MiB.
    xen_free: Option<i64>,
    /// The Node's declared `memory`, MiB.
    declared: Option<i64>,
    /// MiB held by the domains that are or will be here.
    used: i64,
    /// MiB given back by migrations away: there for starts and raises only.
    late: i64,
    /// Who holds memory here, for the message.
    residents: BTreeMap<String, i64>,
}

/// Every node's room, kept up to date while domains are placed.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    nodes: BTreeMap<Name, Room>,
}

/// Why a domain does not fit: the numbers, in a sentence.
pub(super) struct NoRoom(pub String);

fn mib(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Rooms {
    /// The rooms as observed: domains running (and those Xen keeps after a crash) hold their
    /// memory.
    pub fn new(ctx: &Ctx) -> Rooms {
        let mut nodes = BTreeMap::new();
        for (name, spec) in &ctx.d.nodes {
            let mut room = Room {
                declared: spec.memory.map(|m| mib(m.bytes() / (1 << 20))),
                ..Room::default()
            };
            if let Some(x) = ctx.o.nodes.get(name).and_then(|s| s.xen.known()) {
                room.xen_free = x.free_memory_mib.map(mib);
                for (dom, d) in &x.domains {
                    room.residents
                        .insert(dom.clone(), mib(d.memory_mib.unwrap_or(0)));
                }
                for (id, k) in &x.kept {
                    room.residents
                        .insert(format!("a crashed domain (id {id})"), mib(k.memory_mib));
                }
            }
            room.used = room.residents.values().sum();
            nodes.insert(name.clone(), room);
        }
        Rooms { nodes }
    }

    /// MiB free on `node` for what happens at `when`; None when nothing bounds it.
    fn free(&self, node: &Name, when: When) -> Option<i64> {
        let r = self.nodes.get(node)?;
        let xen = r.xen_free.map(|f| match when {
            When::Migrate => f,
            When::Start => f + r.late,
        });
        let declared = r.declared.map(|d| d - r.used);
        match (xen, declared) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `domain` needs `need` MiB (`more` than it holds, for a raise) on `node` at `when`: Ok,
    /// or the reason it does not fit.
    pub fn check(
        &self,
        domain: &Name,
        node: &Name,
        need: u64,
        more: bool,
        when: When,
    ) -> Result<(), NoRoom> {
        let need = mib(need);
        let Some(free) = self.free(node, when) else {
            return Ok(());
        };
        if need <= free {
            return Ok(());
        }
        let others: Vec<&str> = self.nodes[node]
            .residents
            .keys()
            .map(String::as_str)
            .filter(|d| *d != domain.as_str())
            .collect();
        let after = match others.as_slice() {
            [] => String::new(),
            [one] => format!(" after {one}"),
            [init @ .., last] => format!(" after {} and {last}", init.join(", ")),
        };
        let r = &self.nodes[node];
        let bound = match (r.declared, r.xen_free) {
            (Some(d), Some(x)) if d - r.used < x + r.late => {
                format!(" (its declared memory is {d} MiB)")
            }
            (Some(d), None) => format!(" (its declared memory is {d} MiB)"),
            _ => String::new(),
        };
        Err(NoRoom(format!(
            "domain {domain} needs {need} MiB{} on {node}, which has {} MiB free{after}{bound}",
            if more { " more" } else { "" },
            free.max(0)
        )))
    }

    /// `domain` now holds `mem` MiB on `node` (started, migrated in, or raised by the
    /// difference). Memory given back by migrations away is used first by starts.
    pub fn take(&mut self, domain: &Name, node: &Name, mem: u64, when: When) {
        let Some(r) = self.nodes.get_mut(node) else {
            return;
        };
        let mem = mib(mem);
        let from_late = match when {
            When::Start => mem.min(r.late),
            When::Migrate => 0,
        };
        r.late -= from_late;
        if let Some(f) = r.xen_free.as_mut() {
            *f -= mem - from_late;
        }
        r.used += mem;
        *r.residents.entry(domain.to_string()).or_default() += mem;
    }

    /// `domain` gives `mem` MiB back on `node`, free from `when` on: `Migrate` for a domain
    /// stopped or shrunk (before anything moves), `Start` for one migrated away.
    pub fn give(&mut self, domain: &Name, node: &Name, mem: u64, when: When) {
        let Some(r) = self.nodes.get_mut(node) else {
            return;
        };
        let mem = mib(mem);
        match when {
            When::Migrate => {
                if let Some(f) = r.xen_free.as_mut() {
                    *f += mem;
                }
            }
            When::Start => r.late += mem,
        }
        r.used -= mem;
        if let Some(held) = r.residents.get_mut(domain.as_str()) {
            *held -= mem;
            if *held <= 0 {
                r.residents.remove(domain.as_str());
            }
        }
    }
}
