#![allow(clippy::disallowed_methods)]
//! Two hybrid nodes (see `tests/common/hybrid.rs`) converged by the library's planner and
//! executor through `transport::Local` with a per-node prefix: real LVM on loop devices, real
//! bridges with STP on veth ports, real configuration files, while DRBD and Xen are answered by
//! the simulator through the tool shims. Checked with the real tools, not through xenflux: the
//! LVs and their tags, the bridge and its ports, the files in each node's directories; and in the
//! simulator's file: DRBD Connected/UpToDate, the domain on its node. Then a volume grows and the
//! domain moves to the other node.

mod common;

use std::path::Path;
use std::time::Instant;

use common::hybrid::PerNode;
use common::hybrid_checks::{assert_drbd, assert_real, lv_size, running_on, state, two_nodes, MIB};
use xenflux::exec::{Event, Lock};
use xenflux::load::Source;
use xenflux::reconcile::{self, approve, plan_for, snapshot, ApplyCtx, Intent};
use xenflux::sim::{SimCluster, SimOptions};

/// Plans and applies until the plan is empty (a domain whose disks and node both change moves
/// on the next pass), so the last pass is a re-plan that found nothing to do; returns the number
/// of passes that applied something.
fn converge(sources: &[Source], t: &PerNode) -> usize {
    for pass in 0..4 {
        let snap = snapshot(sources, t).unwrap_or_else(|e| panic!("snapshot: {e}"));
        let plan = plan_for(&snap, false).unwrap_or_else(|e| panic!("plan: {e}"));
        assert!(
            plan.blocked.is_empty(),
            "{}",
            xenflux::report::text(&plan, &snap.validated.desired)
        );
        if plan.is_empty() {
            return pass;
        }
        let dir = common::scratch();
        let lock = Lock::acquire(dir.path()).expect("the apply lock");
        let approved = approve(&lock, &snap, false, Intent::Fresh).expect("approve");
        let ctx = ApplyCtx {
            journal: false,
            ..ApplyCtx::new(sources, t)
        };
        let mut log = Vec::new();
        let mut progress = |e: Event| {
            if let Event::Action { node, action, ok } = e {
                log.push(format!("{} {node}: {}", ok, action.describe()));
            }
        };
        let applied = reconcile::apply(approved, &ctx, &mut progress);
        if let Some(e) = applied.failed.first() {
            panic!("apply failed: {e}\n{}", log.join("\n"));
        }
    }
    panic!("not converged after 4 passes");
}

#[test]
fn two_hybrid_nodes_converge_grow_and_migrate() {
    let started = Instant::now();
    let dir = common::scratch();
    let sim_file = dir.path().join("sim.json");
    let bin = Path::new(env!("CARGO_BIN_EXE_xenflux"));
    let Some((a, b)) = two_nodes("xfh", &sim_file, bin) else {
        return;
    };
    let (vg_a, vg_b) = (a.vg.clone(), b.vg.clone());

    let sources = state(&vg_a, &vg_b, "64MiB", "node-a", None);
    let v = common::validate_sources(&sources, "the hybrid state");
    SimCluster::fresh(&v.desired, &SimOptions::default())
        .save(&sim_file)
        .expect("write the simulated cluster");
    let t = PerNode::new(&[&a, &b]);

    // converge() ends with a re-plan that is empty.
    let passes = converge(&sources, &t);
    assert!(passes >= 1, "the fresh nodes needed changes");
    for n in [&a, &b] {
        assert_real(n);
    }
    let sim = SimCluster::load(&sim_file).expect("load the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-a"]);
    assert!(sim.invariants().is_empty(), "{:?}", sim.invariants());
    eprintln!(
        "converged in {passes} pass(es), {:?}, {} simulated commands",
        started.elapsed(),
        sim.log().len()
    );

    let before = (lv_size(&a, "data"), lv_size(&b, "data"));
    let grown = state(&vg_a, &vg_b, "96MiB", "node-b", None);
    assert!(
        converge(&grown, &t) >= 1,
        "growing and moving needed changes"
    );
    for n in [&a, &b] {
        assert_eq!(lv_size(n, "data"), 96 * MIB, "{}: data grew", n.name);
    }
    assert_eq!(before, (64 * MIB, 64 * MIB));
    let sim = SimCluster::load(&sim_file).expect("load the simulated cluster");
    assert_drbd(&sim);
    assert_eq!(running_on(&sim), ["node-b"]);
    for node in ["node-a", "node-b"] {
        let size = sim.node(node).expect("node").drbd["data"].size;
        assert_eq!(size, 96 * MIB, "{node}: DRBD device resized");
    }
    assert!(sim.invariants().is_empty(), "{:?}", sim.invariants());
    eprintln!("grown and moved in {:?} in all", started.elapsed());
}
