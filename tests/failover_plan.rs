//! The planner with a lost node, on observations of the simulated cluster made to look as real
//! DRBD 8.4 did when a node's plug was pulled (LAB.md): the survivor Secondary/WFConnection,
//! UpToDate/DUnknown. Fenced: its domains start on their peer after a promote, by priority
//! within the peer's memory. Not fenced: nothing is promoted or started, and the reason says
//! what a person does.

use std::collections::BTreeMap;

use xenflux::drivers::drbd::{ConnectionState, DiskState, ReplState, Role};
use xenflux::ha::{By, Facts, FenceRecord, Placement};
use xenflux::load::Source;
use xenflux::model::Name;
use xenflux::observe::Part;
use xenflux::plan::{Action, Plan};
use xenflux::reconcile::{self, approve, plan_for, snapshot, ApplyCtx, Intent, Snapshot};
use xenflux::sim::{SimCluster, SimOptions};

/// Nodes a and b (b with 4 GiB for domains), a bridge, and per domain a volume on both nodes.
fn state(cluster: &str, domains: &[(&str, &str)]) -> Vec<Source> {
    let mut y = format!(
        "apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {{name: ha}}\nspec: {{{cluster}}}\n"
    );
    for (n, addr, extra) in [("a", 1, ""), ("b", 2, ", memory: 4GiB")] {
        y.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: {n}}}\nspec: {{address: 10.9.0.{addr}, volumeGroup: vg{extra}}}\n"
        ));
    }
    y.push_str("---\napiVersion: xenflux/v1\nkind: Bridge\nmetadata: {name: xenbr0}\nspec: {ports: [eth0]}\n");
    for (name, spec) in domains {
        y.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {{name: {name}}}\nspec: {{size: 1GiB, nodes: [a, b]}}\n\
             ---\napiVersion: xenflux/v1\nkind: Domain\nmetadata: {{name: {name}}}\nspec: {{bootloader: pygrub, disks: [{{volume: {name}, target: xvda}}], nics: [{{bridge: xenbr0}}], {spec}}}\n"
        ));
    }
    vec![Source {
        path: "state.yaml".into(),
        text: y,
    }]
}

const DOMAINS: [(&str, &str); 4] = [
    ("dns", "node: b, memory: 1GiB"),
    ("mail", "node: a, memory: 2GiB"),
    ("tiny", "node: a, memory: 512MiB, priority: 5"),
    ("web", "node: a, memory: 2GiB, priority: 10"),
];

fn n(s: &str) -> Name {
    s.parse().unwrap()
}

fn converged(src: &[Source]) -> SimCluster {
    let v = xenflux::validate::validate(src, &Default::default()).unwrap();
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    for round in 1..=4 {
        let s = snapshot(src, &sim).unwrap();
        let plan = plan_for(&s, false).unwrap();
        if plan.is_empty() {
            return sim;
        }
        let dir = tempfile::tempdir().unwrap();
        let lock = xenflux::exec::Lock::acquire(dir.path()).unwrap();
        let approved = approve(&lock, &s, false, Intent::Fresh).unwrap();
        let ctx = ApplyCtx {
            settle: None,
            journal: false,
            ..ApplyCtx::new(src, &sim)
        };
        let a = reconcile::apply(approved, &ctx, &mut |_| {});
        assert!(a.failed.is_empty(), "round {round}: {:?}", a.failed);
    }
    panic!("no convergence");
}

/// Node a's plug pulled: a unreachable; on b every resource lost its peer (WFConnection,
/// peer Unknown/DUnknown), as DRBD 8.4 reports it within seconds.
fn a_lost(src: &[Source], sim: &SimCluster) -> Snapshot {
    sim.set_node_down("a", true);
    let mut s = snapshot(src, sim).unwrap();
    let b = s.observed.nodes.get_mut(&n("b")).unwrap();
    let Part::Known(drbd) = &mut b.drbd else {
        panic!("b's DRBD is observed")
    };
    for r in drbd.resources.values_mut() {
        let k = r.kernel.as_mut().expect("up on b");
        assert_eq!(k.disk, DiskState::UpToDate);
        for p in &mut k.peers {
            p.connection = ConnectionState::parse("WFConnection");
            p.replication = ReplState::Off;
            p.role = Role::parse("Unknown");
            p.disk = DiskState::DUnknown;
        }
    }
    s
}

fn fenced(s: Snapshot, by: By) -> Snapshot {
    let record = FenceRecord {
        node: n("a"),
        fenced_at: "2026-12-07T11:00:00Z".into(),
        by,
        command: None,
        how: "test".into(),
    };
    Snapshot {
        ha: Facts {
            fenced: BTreeMap::from([(n("a"), record)]),
            ..Facts::default()
        },
        ..s
    }
}

fn actions(plan: &Plan) -> Vec<(String, &Action)> {
    plan.stages
        .iter()
        .flat_map(|s| s.actions.iter().map(move |a| (s.title.clone(), a)))
        .collect()
}

fn blocked<'p>(plan: &'p Plan, object: &str) -> &'p str {
    match plan.blocked.iter().find(|b| b.object == object) {
        Some(b) => &b.reason,
        None => panic!("{object} is not blocked: {:#?}", plan.blocked),
    }
}

#[test]
fn a_fenced_nodes_domains_start_on_the_peer_after_a_promote_by_priority_within_memory() {
    let src = state("", &DOMAINS);
    let sim = converged(&src);
    let s = fenced(a_lost(&src, &sim), By::Fence);
    let plan = plan_for(&s, false).unwrap();
    let acts = actions(&plan);
    let promotes: Vec<&str> = acts
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Primary { node, resource } if node == "b" => Some(resource.as_str()),
            _ => None,
        })
        .collect();
    let starts: Vec<&str> = acts
        .iter()
        .filter_map(|(_, a)| match a {
            Action::XlCreate { node, domain } if node == "b" => Some(domain.as_str()),
            _ => None,
        })
        .collect();
    // b has 4 GiB, dns holds 1: web (priority 10, 2 GiB) and tiny (5, 512 MiB) fit; mail does not.
    assert_eq!(starts, ["web", "tiny"], "{plan:#?}");
    assert_eq!(promotes, ["tiny", "web"], "{plan:#?}");
    let first_start = acts
        .iter()
        .position(|(_, a)| matches!(a, Action::XlCreate { .. }))
        .unwrap();
    let last_promote = acts
        .iter()
        .rposition(|(_, a)| matches!(a, Action::Primary { .. }))
        .unwrap();
    assert!(
        last_promote < first_start,
        "promote before start: {plan:#?}"
    );
    assert!(
        acts.iter().all(|(_, a)| a.node() == "b"),
        "nothing planned on the fenced node: {plan:#?}"
    );
    let mail = blocked(&plan, "Domain/mail");
    assert!(
        mail.contains("domain mail needs 2048 MiB on b, which has 512 MiB free"),
        "{mail}"
    );
    assert!(blocked(&plan, "node/a").contains("fenced (powered off)"));
    // The volume of mail, which does not start, is not promoted either.
    assert!(!promotes.contains(&"mail"));
}

#[test]
fn an_unreachable_node_that_is_not_fenced_gets_nothing_promoted_or_started() {
    let src = state("", &DOMAINS);
    let sim = converged(&src);
    let s = a_lost(&src, &sim);
    let plan = plan_for(&s, false).unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    for dom in ["mail", "tiny", "web"] {
        let why = blocked(&plan, &format!("Domain/{dom}"));
        assert!(why.contains("it may still be running on a"), "{why}");
        assert!(
            why.contains("`xenflux failover a --confirm-fenced`"),
            "{why}"
        );
        assert!(why.contains("no fence is declared for a"), "{why}");
    }
    let node = blocked(&plan, "node/a");
    assert!(
        node.contains("domains that may still run there (mail, tiny, web)"),
        "{node}"
    );
}

#[test]
fn with_a_fence_declared_the_reason_names_failover() {
    let mut src = state("", &DOMAINS);
    src[0].text = src[0].text.replace(
        "spec: {address: 10.9.0.1, volumeGroup: vg}",
        "spec: {address: 10.9.0.1, volumeGroup: vg, fence: [/usr/bin/true]}",
    );
    let sim = converged(&src);
    let plan = plan_for(&a_lost(&src, &sim), false).unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    let why = blocked(&plan, "Domain/web");
    assert!(
        why.contains("`xenflux failover a` runs its fence command"),
        "{why}"
    );
    assert!(why.contains("--confirm-fenced"), "{why}");
}

#[test]
fn a_survivor_still_connected_to_the_fenced_node_is_not_promoted() {
    let src = state("", &DOMAINS);
    let sim = converged(&src);
    sim.set_node_down("a", true);
    // Unreachable, but DRBD on b still sees a: whatever the record says, a is not off.
    let s = fenced(snapshot(&src, &sim).unwrap(), By::Operator);
    let plan = plan_for(&s, false).unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    let why = blocked(&plan, "Volume/web");
    assert!(why.contains("still Connected"), "{why}");
}

#[test]
fn a_fenced_node_that_answers_again_is_out_of_scheduling_until_resynced() {
    let src = state("", &DOMAINS);
    let sim = converged(&src);
    // a answers (as after a reboot that kept everything): its record still holds.
    let s = fenced(snapshot(&src, &sim).unwrap(), By::Fence);
    let plan = plan_for(&s, false).unwrap();
    assert!(
        actions(&plan).iter().all(|(_, a)| a.node() != "a"
            || !matches!(a, Action::Primary { .. } | Action::XlCreate { .. })),
        "{plan:#?}"
    );
    // Everything is Connected and UpToDate here: it has resynced, the record goes at the next
    // apply.
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("node a was fenced and has resynced")),
        "{:?}",
        plan.warnings
    );
    assert_eq!(s.ha.resynced(&s.validated.desired, &s.observed), [n("a")]);
}

#[test]
fn a_placement_keeps_a_failed_over_domain_with_manual_failback_only() {
    let src = state("", &DOMAINS[..2]);
    let sim = converged(&src);
    let placed = |s: Snapshot| {
        let mut ha = Facts::default();
        ha.placements.domains.insert(
            n("mail"),
            Placement {
                node: n("b"),
                from: n("a"),
                at: "2026-12-07T11:00:00Z".into(),
                released: None,
            },
        );
        Snapshot { ha, ..s }
    };
    let plan = plan_for(&placed(snapshot(&src, &sim).unwrap()), false).unwrap();
    let moves: Vec<&Action> = actions(&plan)
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| matches!(a, Action::XlMigrate { .. }))
        .collect();
    assert!(
        matches!(moves.as_slice(), [Action::XlMigrate { node, domain, target, .. }] if node == "a" && domain == "mail" && target == "b"),
        "manual failback: mail goes where it was placed: {plan:#?}"
    );
    let auto = state("ha: {failback: auto}", &DOMAINS[..2]);
    let plan = plan_for(&placed(snapshot(&auto, &sim).unwrap()), false).unwrap();
    assert!(
        plan.is_empty(),
        "auto failback ignores placements: {plan:#?}"
    );
}
