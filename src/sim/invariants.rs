//! The rules a cluster must never break, checked after every simulated command: at most one
//! Primary per resource unless every Primary allows two, no Primaries on both sides of a broken
//! connection, no Primary on a node still resyncing as SyncTarget after its return, no domain on
//! two nodes, every running domain's DRBD disks Primary and UpToDate
//! where it runs, no local filesystem mounted on two nodes at once. A node cut off from the
//! others but still running counts with everything it runs; a powered-off node runs nothing.
//! Each rule broken is one sentence naming the nodes and objects.
//!
//! One rule is about an act rather than a state, checked when a domain starts
//! ([`unsafe_start`]): never start a domain on a node whose DRBD peer for one of its disks is
//! neither connected nor powered off (that peer may run the domain, or write the disk, itself).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::state::{Conn, Dev, Disk, DomDisk, DrbdRes, Node, Role, World};

/// What a check looks at again after a command: only the rules that command could have
/// broken or mended (checking the whole cluster after each of an apply's commands made
/// applying quadratic in the cluster's size). Whatever the scope, the domains of every node
/// whose domains changed since the last check (their stamp tells) are looked at again.
pub(crate) enum Scope<'a> {
    /// Everything (after a fault injection, a command on every resource of a node, a first
    /// check).
    All,
    /// A command on domains or mounts (`xl`, `mount`, the o2cb stack, Remus): no DRBD state
    /// changed, so the rules of each resource stand as they were.
    Domains,
    /// A DRBD command that settled these resources (on every node that has them): their own
    /// rules, and the domains of the nodes that have them or had them (`node`, which may have
    /// just taken one down).
    Resources {
        node: &'a str,
        names: &'a BTreeSet<String>,
    },
}

/// What each broken rule depends on: a check recomputes the keys of its [`Scope`] and keeps
/// the others.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// The roles, connections and resyncs of one resource on every node.
    Resource(String),
    /// The DRBD disks of the domains running on one node.
    Disks(String),
    /// Which nodes run one domain.
    Runs(String),
    /// The local filesystems mounted on every node.
    Mounts,
}

/// The rules broken now, by what they depend on, and the stamp of each node's domains when
/// they were looked at. Not part of the simulated state: never saved, compared or cloned (a
/// clone or a loaded cluster starts with a whole check).
#[derive(Default)]
pub(crate) struct Broken {
    /// None until a whole check has run.
    by_key: Option<BTreeMap<Key, BTreeSet<String>>>,
    domains_seen: BTreeMap<String, u64>,
}

impl Clone for Broken {
    fn clone(&self) -> Self {
        Broken::default()
    }
}

impl PartialEq for Broken {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Broken")
    }
}

/// Every rule broken right now, looking again only at what `scope` says may have changed since
/// the last check; the same set as [`check`] gives (debug builds compare the two after every
/// check, so a test that runs commands fails if a scope misses something).
pub(crate) fn recheck(w: &mut World, scope: Scope) -> BTreeSet<String> {
    let mut seen = std::mem::take(&mut w.rules.domains_seen);
    let mut by_key = match w.rules.by_key.take() {
        Some(k) if !matches!(scope, Scope::All) => k,
        _ => {
            let all = by_key(w);
            w.rules.by_key = Some(all);
            w.rules.domains_seen = domain_stamps(w);
            return flatten(w);
        }
    };
    let mut now: Vec<(Key, BTreeSet<String>)> = Vec::new();
    // Nodes whose domains changed, and those whose DRBD resources did.
    let mut disks_of: BTreeSet<&str> = w
        .nodes
        .iter()
        .filter(|(name, n)| seen.get(*name) != Some(&n.domains.stamp()))
        .map(|(name, _)| name.as_str())
        .collect();
    if let Scope::Resources { node, names } = scope {
        for res in names {
            let on: Vec<(&str, &DrbdRes)> = w
                .nodes
                .iter()
                .filter_map(|(n, st)| st.drbd.get(res).map(|r| (n.as_str(), r)))
                .collect();
            let mut out = BTreeSet::new();
            resource(res, &on, &mut out);
            now.push((Key::Resource(res.clone()), out));
            disks_of.extend(on.iter().map(|(n, _)| *n));
        }
        disks_of.insert(node);
    }
    // A domain that left a node can only mend its rule, unless that rule is broken now: the
    // domains of the nodes that changed, and those whose rule is broken, are looked at again.
    let mut domains: BTreeSet<&str> = by_key
        .keys()
        .filter_map(|k| match k {
            Key::Runs(d) => w.nodes.values().find_map(|n| n.domains.get_key_value(d)),
            _ => None,
        })
        .map(|(d, _)| d.as_str())
        .collect();
    let stale_runs: Vec<Key> = by_key
        .keys()
        .filter(|k| matches!(k, Key::Runs(_)))
        .cloned()
        .collect();
    for k in stale_runs {
        by_key.remove(&k);
    }
    for name in &disks_of {
        let Some(n) = w.nodes.get(*name) else {
            continue;
        };
        match seen.get_mut(*name) {
            Some(stamp) => *stamp = n.domains.stamp(),
            None => {
                seen.insert(name.to_string(), n.domains.stamp());
            }
        }
        let mut out = BTreeSet::new();
        disks(name, n, &mut out);
        now.push((Key::Disks(name.to_string()), out));
        domains.extend(n.domains.keys().map(String::as_str));
    }
    for dom in domains {
        let mut out = BTreeSet::new();
        runs_of(w, dom, &mut out);
        now.push((Key::Runs(dom.to_string()), out));
    }
    let mut out = BTreeSet::new();
    mounts(w, &mut out);
    now.push((Key::Mounts, out));
    for (key, found) in now {
        if found.is_empty() {
            by_key.remove(&key);
        } else {
            by_key.insert(key, found);
        }
    }
    w.rules.by_key = Some(by_key);
    w.rules.domains_seen = seen;
    let now = flatten(w);
    debug_assert_eq!(now, check(w), "a scoped check of the invariants went stale");
    now
}

fn domain_stamps(w: &World) -> BTreeMap<String, u64> {
    w.nodes
        .iter()
        .map(|(name, n)| (name.clone(), n.domains.stamp()))
        .collect()
}

fn flatten(w: &World) -> BTreeSet<String> {
    w.rules
        .by_key
        .iter()
        .flat_map(|k| k.values())
        .flatten()
        .cloned()
        .collect()
}

/// Every rule broken right now, looking at the whole cluster.
pub(crate) fn check(w: &World) -> BTreeSet<String> {
    by_key(w).into_values().flatten().collect()
}

fn by_key(w: &World) -> BTreeMap<Key, BTreeSet<String>> {
    let mut keyed = BTreeMap::new();
    let mut keep = |key: Key, found: BTreeSet<String>| {
        if !found.is_empty() {
            keyed.insert(key, found);
        }
    };
    // Hash maps for speed; each list keeps the nodes' name order, so nothing depends on
    // hashing.
    let mut on: HashMap<&str, Vec<(&str, &DrbdRes)>> = HashMap::new();
    for (node, n) in &w.nodes {
        for (res, r) in &n.drbd {
            on.entry(res).or_default().push((node, r));
        }
    }
    for (res, on) in on {
        let mut out = BTreeSet::new();
        resource(res, &on, &mut out);
        keep(Key::Resource(res.to_string()), out);
    }
    for (node, n) in &w.nodes {
        let mut out = BTreeSet::new();
        disks(node, n, &mut out);
        keep(Key::Disks(node.clone()), out);
    }
    let mut runs: HashMap<&str, Vec<&str>> = HashMap::new();
    for (node, n) in &w.nodes {
        for dom in n.domains.keys() {
            runs.entry(dom).or_default().push(node);
        }
    }
    for (dom, nodes) in runs {
        if nodes.len() > 1 {
            let v = format!("domain {dom} runs on {}", nodes.join(" and "));
            keep(Key::Runs(dom.to_string()), BTreeSet::from([v]));
        }
    }
    let mut out = BTreeSet::new();
    mounts(w, &mut out);
    keep(Key::Mounts, out);
    keyed
}

/// No domain on two nodes: the rule for `dom`.
fn runs_of(w: &World, dom: &str, out: &mut BTreeSet<String>) {
    let nodes: Vec<&str> = w
        .nodes
        .iter()
        .filter(|(_, n)| n.domains.contains_key(dom))
        .map(|(name, _)| name.as_str())
        .collect();
    if nodes.len() > 1 {
        out.insert(format!("domain {dom} runs on {}", nodes.join(" and ")));
    }
}

/// The rules of one resource, given every node that has it (in name order): at most one
/// Primary unless every Primary allows two, no Primaries on both sides of a broken connection,
/// no Primary still resyncing as SyncTarget.
fn resource(res: &str, on: &[(&str, &DrbdRes)], out: &mut BTreeSet<String>) {
    let primaries: Vec<&(&str, &DrbdRes)> =
        on.iter().filter(|(_, r)| r.role == Role::Primary).collect();
    if primaries.len() >= 2 {
        if !primaries.iter().all(|(_, r)| r.two_primaries) {
            let names: Vec<&str> = primaries.iter().map(|(n, _)| *n).collect();
            out.insert(format!(
                "two Primaries without allow-two-primaries: {res} is Primary on {}",
                names.join(" and ")
            ));
        }
        for (i, (a, ra)) in primaries.iter().enumerate() {
            for (b, _) in &primaries[i + 1..] {
                if ra.conns.get(*b) != Some(&Conn::Connected) {
                    out.insert(format!(
                        "Primary on both sides of a broken connection: {res} on {a} and {b} (their data diverges)"
                    ));
                }
            }
        }
    }
    for (node, r) in on {
        if let Some(s) = r.resync.as_ref().filter(|s| !s.source) {
            if r.role == Role::Primary {
                out.insert(format!(
                    "promoted before resynced: {res} is Primary on {node} while it resyncs from {}",
                    s.peer
                ));
            }
        }
    }
}

/// Every running domain's DRBD disks are Primary and UpToDate on its node.
fn disks(node: &str, n: &Node, out: &mut BTreeSet<String>) {
    if n.domains.is_empty() {
        return;
    }
    // Node::resolve of a DRBD device, without a search of every resource per disk: the
    // first resource (in name order) with that minor.
    let mut by_minor: HashMap<u32, &DrbdRes> = HashMap::with_capacity(n.drbd.len());
    for r in n.drbd.values() {
        by_minor.entry(r.conf.minor).or_insert(r);
    }
    for (dom, d) in &n.domains {
        for k in &d.disks {
            let drbd = match k.target.strip_prefix("/dev/drbd") {
                Some(minor) => minor
                    .parse::<u32>()
                    .ok()
                    .and_then(|m| by_minor.get(&m).copied()),
                None => None,
            };
            if let Some(r) = drbd {
                if r.role != Role::Primary || r.disk != Disk::UpToDate {
                    out.insert(format!(
                        "domain {dom} on {node} uses {} which is not Primary and UpToDate there",
                        k.target
                    ));
                }
            }
        }
    }
}

/// No local filesystem mounted on two nodes at once.
fn mounts(w: &World, out: &mut BTreeSet<String>) {
    let mut local_mounts: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (node, n) in &w.nodes {
        for m in n.mounts.iter().filter(|m| m.fstype != "ocfs2") {
            if let Some(fs) = n.resolve(&m.device).and_then(|d| n.content(&d).fs) {
                local_mounts.entry(fs.uuid).or_default().push(node);
            }
        }
    }
    for (uuid, nodes) in local_mounts {
        if nodes.len() > 1 {
            out.insert(format!(
                "local filesystem {uuid} mounted on {} at once",
                nodes.join(" and ")
            ));
        }
    }
}

/// Why starting domain `dom` with `disks` on `node` breaks the HA contract: one sentence per
/// DRBD peer of one of its disks that is neither connected to `node` nor powered off.
pub(crate) fn unsafe_start(w: &World, node: &str, dom: &str, disks: &[DomDisk]) -> Vec<String> {
    let n = w.node(node);
    let mut out = Vec::new();
    for k in disks {
        let Some(Dev::Drbd(res)) = n.resolve(&k.target) else {
            continue;
        };
        let r = &n.drbd[&res];
        for p in &r.conf.peers {
            if r.conns.get(&p.node) != Some(&Conn::Connected) && !w.is_off(&p.node) {
                out.push(format!(
                    "unsafe start: `xl create` of {dom} on {node} while {}, its DRBD peer for {res}, is neither connected nor powered off",
                    p.node
                ));
            }
        }
    }
    out
}
