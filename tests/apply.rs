//! The one apply path on the simulated cluster: a failure stays with its object (what depends on
//! it is skipped, everything else runs on through the later stages), a failed live migration is
//! rolled back in the same apply, and the decision says what comes next.

use proptest::prelude::*;
use xenflux::drivers::drbd::Role;
use xenflux::exec::{Deps, Lock};
use xenflux::load::Source;
use xenflux::reconcile::{self, approve, plan_for, snapshot, Applied, ApplyCtx, Decision, Intent};
use xenflux::sim::{SimCluster, SimOptions};

/// One pair `n0`/`n1`; `a` runs on `a_node` from volume `va`; `b` (volume `vb`) only when
/// `with_b`, running on n1.
fn state(a_node: &str, with_b: bool) -> Vec<Source> {
    let mut y = String::from(
        "apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: t}\nspec: {}\n\
---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {name: n0}\nspec: {address: 10.1.0.1, volumeGroup: vg}\n\
---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {name: n1}\nspec: {address: 10.1.0.2, volumeGroup: vg}\n\
---\napiVersion: xenflux/v1\nkind: Bridge\nmetadata: {name: xenbr0}\nspec: {ports: [eth0]}\n\
---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: va}\nspec: {size: 1GiB, nodes: [n0, n1]}\n\
---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: vb}\nspec: {size: 1GiB, nodes: [n0, n1]}\n",
    );
    y.push_str(&format!(
        "---\napiVersion: xenflux/v1\nkind: Domain\nmetadata: {{name: a}}\nspec: {{node: {a_node}, memory: 256MiB, bootloader: pygrub, disks: [{{volume: va, target: xvda}}], nics: [{{bridge: xenbr0}}]}}\n"
    ));
    if with_b {
        y.push_str("---\napiVersion: xenflux/v1\nkind: Domain\nmetadata: {name: b}\nspec: {node: n1, memory: 256MiB, bootloader: pygrub, disks: [{volume: vb, target: xvda}], nics: [{bridge: xenbr0}]}\n");
    }
    vec![Source {
        path: "state.yaml".into(),
        text: y,
    }]
}

fn apply(src: &[Source], sim: &SimCluster) -> Applied {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::acquire(dir.path()).unwrap();
    let snap = snapshot(src, sim).unwrap();
    let approved = approve(&lock, &snap, false, Intent::Fresh).unwrap();
    let ctx = ApplyCtx {
        settle: None,
        journal: false,
        ..ApplyCtx::new(src, sim)
    };
    reconcile::apply(approved, &ctx, &mut |_| {})
}

fn left(src: &[Source], sim: &SimCluster) -> usize {
    plan_for(&snapshot(src, sim).unwrap(), false)
        .unwrap()
        .action_count()
}

fn converge(src: &[Source], sim: &SimCluster) {
    for _ in 0..4 {
        if left(src, sim) == 0 {
            return;
        }
        let a = apply(src, sim);
        assert!(a.failed.is_empty(), "{:?}", a.failed);
    }
    assert_eq!(left(src, sim), 0, "no convergence");
}

fn runs_on(sim: &SimCluster, domain: &str) -> Vec<String> {
    sim.node_names()
        .into_iter()
        .filter(|n| sim.node(n).unwrap().domains.contains_key(domain))
        .collect()
}

/// Domain `a` moves n0 → n1 and `b` is new: a's migration fails, b's `xl create` (a later
/// stage) still runs; a's volume is put back to one Primary where a runs, allow-two-primaries
/// off; the next apply completes the move.
fn migration_fails_once() -> (SimCluster, Applied, Vec<Source>) {
    let sim = SimCluster::fresh(
        &xenflux::validate::validate(&state("n0", false), &Default::default())
            .unwrap()
            .desired,
        &SimOptions::default(),
    );
    converge(&state("n0", false), &sim);
    assert_eq!(runs_on(&sim, "a"), ["n0"]);
    let src = state("n1", true);
    sim.fail_next("xl migrate", 1);
    let applied = apply(&src, &sim);
    (sim, applied, src)
}

#[test]
fn a_failing_migration_does_not_stop_another_domains_start() {
    let (sim, applied, _) = migration_fails_once();
    assert_eq!(applied.failed.len(), 1, "{:?}", applied.failed);
    assert_eq!(applied.failed[0].object, "Domain/a");
    assert_eq!(runs_on(&sim, "b"), ["n1"], "b's xl create ran");
    assert!(applied
        .ran
        .iter()
        .any(|x| matches!(x, xenflux::plan::Action::XlCreate { domain, .. } if domain == "b")));
    // What depended on a's move was skipped, with the reason.
    assert!(
        applied
            .skipped
            .iter()
            .all(|s| s.object == "Volume/va" || s.object == "Domain/a"),
        "{:?}",
        applied.skipped
    );
    assert!(applied
        .skipped
        .iter()
        .any(|s| s.because == "Domain/a" || s.because == "Volume/va"));
    assert!(!applied.complete());
    assert!(
        matches!(&applied.decision, Decision::Retry { objects } if objects.get("Domain/a") == Some(&false))
    );
}

#[test]
fn a_failed_migration_leaves_one_primary_and_the_next_apply_moves_the_domain() {
    let (sim, applied, src) = migration_fails_once();
    assert_eq!(runs_on(&sim, "a"), ["n0"]);
    let rb = &applied.rolled_back;
    assert_eq!(rb.len(), 1, "{rb:?}");
    assert_eq!(rb[0].kept_on.as_ref().map(|n| n.as_str()), Some("n0"));
    assert!(rb[0].problem.is_none(), "{rb:?}");
    for n in ["n0", "n1"] {
        let r = &sim.node(n).unwrap().drbd["va"];
        assert!(!r.allow_two_primaries, "{n} still allows two primaries");
        let want = if n == "n0" {
            Role::Primary
        } else {
            Role::Secondary
        };
        assert_eq!(r.role, want, "{n}");
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // Fault gone: the next apply completes the move.
    let again = apply(&src, &sim);
    assert!(again.complete(), "{:?}", again.failed);
    assert_eq!(again.decision, Decision::Done);
    assert_eq!(runs_on(&sim, "a"), ["n1"]);
    assert_eq!(left(&src, &sim), 0);
}

const PATTERNS: &[&str] = &[
    "lvcreate",
    "install",
    "create-md",
    "drbdadm up",
    "primary",
    "secondary",
    "net-options",
    "xl create",
    "xl migrate",
    "ip link",
    "mkfs",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("XENFLUX_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16), ..ProptestConfig::default() })]

    /// Failures injected at random: the invariants hold, whatever did not depend on a failure
    /// converged in the same apply, and once the faults are gone the cluster converges.
    #[test]
    fn injected_failures_stay_with_their_objects(
        faults in prop::collection::vec((0..PATTERNS.len(), 1usize..3), 1..3),
        a_moves in any::<bool>(),
    ) {
        let sim = SimCluster::fresh(
            &xenflux::validate::validate(&state("n0", false), &Default::default()).unwrap().desired,
            &SimOptions::default(),
        );
        if a_moves {
            converge(&state("n0", false), &sim);
        }
        let src = state("n1", true);
        for (p, n) in &faults {
            sim.fail_next(PATTERNS[*p], *n);
        }
        let applied = apply(&src, &sim);
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        // Every object that failed is retried, each transient only when all its failures are.
        let mut failed = std::collections::BTreeMap::new();
        for f in &applied.failed {
            *failed.entry(f.object.clone()).or_insert(true) &= f.failure.is_transient();
        }
        prop_assert_eq!(applied.failed.is_empty(), applied.decision != Decision::Retry {
            objects: failed,
        });
        // Every action skipped, and every action still left, belongs to an object that failed
        // or to one that uses such an object.
        let snap = snapshot(&src, &sim).unwrap();
        let after = plan_for(&snap, false).unwrap();
        let deps = Deps::of(&snap.validated.desired, &after.allocation);
        let touched: std::collections::BTreeSet<String> = applied
            .failed
            .iter()
            .flat_map(|f| deps.fails_with(&f.action))
            .collect();
        for s in &applied.skipped {
            prop_assert!(deps.blocked_by(&s.action, &touched).is_some(), "{:?}", s);
        }
        for a in after.stages.iter().flat_map(|s| &s.actions) {
            prop_assert!(
                deps.blocked_by(a, &touched).is_some(),
                "{} ({}) is left although nothing it depends on failed; failed: {:?}",
                a.describe(),
                deps.object(a),
                applied.failed.iter().map(|f| f.to_string()).collect::<Vec<_>>()
            );
        }
        // Independently of how xenflux reckons dependencies: a's side (va, a) and b's side
        // (vb, b) share only the nodes and the bridge. When every failure is on one side, the
        // other side converged in this very apply.
        let side = |o: &str| match o {
            "Volume/va" | "Domain/a" => Some('a'),
            "Volume/vb" | "Domain/b" => Some('b'),
            _ => None,
        };
        let failed_sides: Vec<Option<char>> = applied.failed.iter().map(|f| side(&f.object)).collect();
        for (this, domain) in [('a', "a"), ('b', "b")] {
            if failed_sides.iter().all(|s| s.is_some_and(|s| s != this)) {
                prop_assert_eq!(runs_on(&sim, domain), ["n1"], "{} did not converge; failed: {:?}", domain, applied.failed.iter().map(|f| f.to_string()).collect::<Vec<_>>());
                for a in after.stages.iter().flat_map(|s| &s.actions) {
                    prop_assert!(side(&deps.object(a)) != Some(this), "{} is left", a.describe());
                }
            }
        }
        sim.clear_faults();
        converge(&src, &sim);
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}
