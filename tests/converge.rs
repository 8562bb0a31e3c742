//! The promises of the reconcile loop, on the simulated cluster: plan → apply → plan is empty
//! (convergence), planning twice gives the same plan (determinism), a crash at any action
//! boundary is recovered by the next reconcile, and the simulator's invariants (never two
//! Primaries without allow-two-primaries, never a domain on two nodes, never a domain on a
//! non-UpToDate Primary, never create-md/mkfs/lvremove over data) hold throughout.

use proptest::prelude::*;
use xenflux::exec::Lock;
use xenflux::load::Source;
use xenflux::plan::Plan;
use xenflux::reconcile::{self, approve, plan_for, snapshot, Applied, ApplyCtx, Intent, Snapshot};
use xenflux::sim::{SimCluster, SimOptions};

/// A small desired state: `pairs` two-node pairs with volumes and domains.
#[derive(Clone, Debug)]
struct Shape {
    pairs: usize,
    /// Per volume: (pair, size in GiB, dual-primary, ext4).
    volumes: Vec<(usize, u64, bool, bool)>,
    /// Per domain: (volume index, on the second node, running).
    domains: Vec<(usize, bool, bool)>,
}

fn yaml(s: &Shape) -> String {
    let mut y =
        String::from("apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: prop}\nspec: {}\n");
    for p in 0..s.pairs {
        for side in 0..2 {
            y.push_str(&format!(
                "---\napiVersion: xenflux/v1\nkind: Node\nmetadata: {{name: n{p}{side}}}\nspec: {{address: 10.1.{p}.{}, volumeGroup: vg}}\n",
                side + 1
            ));
        }
    }
    y.push_str("---\napiVersion: xenflux/v1\nkind: Bridge\nmetadata: {name: xenbr0}\nspec: {ports: [eth0]}\n");
    let mut used = std::collections::BTreeSet::new();
    for (i, (pair, size, dual, ext4)) in s.volumes.iter().enumerate() {
        let fs = if *ext4 && !*dual { "ext4" } else { "none" };
        y.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Volume\nmetadata: {{name: v{i}}}\nspec: {{size: {size}GiB, nodes: [n{pair}0, n{pair}1], dualPrimary: {dual}, filesystem: {fs}}}\n"
        ));
    }
    for (i, (vol, second, running)) in s.domains.iter().enumerate() {
        let vol = vol % s.volumes.len();
        if !used.insert(vol) {
            continue; // a volume is the writable disk of one domain at most
        }
        let pair = s.volumes[vol].0;
        let node = format!("n{pair}{}", u8::from(*second));
        let state = if *running { "running" } else { "stopped" };
        y.push_str(&format!(
            "---\napiVersion: xenflux/v1\nkind: Domain\nmetadata: {{name: d{i}}}\nspec: {{node: {node}, state: {state}, memory: 256MiB, bootloader: pygrub, disks: [{{volume: v{vol}, target: xvda}}], nics: [{{bridge: xenbr0}}]}}\n"
        ));
    }
    y
}

fn shape() -> impl Strategy<Value = Shape> {
    (1usize..3).prop_flat_map(|pairs| {
        let vols = prop::collection::vec((0..pairs, 1u64..4, any::<bool>(), any::<bool>()), 1..4);
        let doms = prop::collection::vec((0usize..4, any::<bool>(), any::<bool>()), 0..4);
        (Just(pairs), vols, doms).prop_map(|(pairs, volumes, domains)| Shape {
            pairs,
            volumes,
            domains,
        })
    })
}

fn sources(s: &Shape) -> Vec<Source> {
    vec![Source {
        path: "state.yaml".into(),
        text: yaml(s),
    }]
}

fn snap(src: &[Source], sim: &SimCluster) -> Snapshot {
    match snapshot(src, sim) {
        Ok(s) => s,
        Err(e) => panic!("{e}: {}", yaml_err(src)),
    }
}

fn yaml_err(src: &[Source]) -> String {
    src.iter().map(|s| s.text.clone()).collect()
}

fn apply(src: &[Source], snap: &Snapshot, sim: &SimCluster) -> Result<usize, String> {
    apply_after(src, snap, sim, || {})
}

/// Applies the plan made from `snap` through the one apply path (lock and journal in a scratch
/// directory), running `between` after the plan was approved and before it runs; the number of
/// actions that ran, or the failures.
fn apply_after(
    src: &[Source],
    snap: &Snapshot,
    sim: &SimCluster,
    between: impl FnOnce(),
) -> Result<usize, String> {
    let a = applied_after(src, snap, sim, between);
    match a.failed.first() {
        None => Ok(a.ran.len()),
        Some(_) => Err(a
            .failed
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn applied_after(
    src: &[Source],
    snap: &Snapshot,
    sim: &SimCluster,
    between: impl FnOnce(),
) -> Applied {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::acquire(dir.path()).unwrap();
    let approved = approve(&lock, snap, false, Intent::Fresh).unwrap();
    between();
    let ctx = ApplyCtx {
        settle: None,
        journal: false,
        ..ApplyCtx::new(src, sim)
    };
    reconcile::apply(approved, &ctx, &mut |_| {})
}

/// Reconciles until the plan is empty (at most a few rounds); returns the rounds it took.
fn converge(src: &[Source], sim: &SimCluster) -> usize {
    for round in 1..=4 {
        let s = snap(src, sim);
        let plan = plan_for(&s, false).unwrap();
        if plan.is_empty() {
            return round - 1;
        }
        if let Err(e) = apply(src, &s, sim) {
            panic!(
                "round {round}: {e}\nplan:\n{}",
                xenflux::report::text(&plan, &s.validated.desired)
            );
        }
    }
    let s = snap(src, sim);
    let plan = plan_for(&s, false).unwrap();
    panic!(
        "no convergence after 4 rounds; still:\n{}",
        xenflux::report::text(&plan, &s.validated.desired)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("XENFLUX_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24), ..ProptestConfig::default() })]

    #[test]
    fn one_apply_converges_and_plans_are_deterministic(s in shape()) {
        let src = sources(&s);
        let v = xenflux::validate::validate(&src, &Default::default()).unwrap();
        let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
        let first = snap(&src, &sim);
        let a = plan_for(&first, false).unwrap();
        let b = plan_for(&snap(&src, &sim), false).unwrap();
        prop_assert_eq!(&a, &b);
        apply(&src, &first, &sim).unwrap();
        let after = plan_for(&snap(&src, &sim), false).unwrap();
        prop_assert!(after.is_empty(), "not converged:\n{}", xenflux::report::text(&after, &first.validated.desired));
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }

    #[test]
    fn from_another_state_it_converges_too(a in shape(), b in shape()) {
        // b is applied over a cluster built for a (same node names when the pair count agrees)
        let src_a = sources(&a);
        let src_b = sources(&Shape { pairs: a.pairs, volumes: b.volumes.iter().map(|v| (v.0 % a.pairs, v.1 + 3, v.2, v.3)).collect(), domains: b.domains.clone() });
        let v = xenflux::validate::validate(&src_a, &Default::default()).unwrap();
        let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
        converge(&src_a, &sim);
        // One round normally; a domain whose disks and node both change takes one more (disks
        // first, then the move), and one more again when its new disk is first freed by stopping
        // another domain that held it.
        let rounds = converge(&src_b, &sim);
        prop_assert!(rounds <= 3, "took {rounds} rounds");
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }

    #[test]
    fn a_crash_at_any_action_boundary_is_recovered(s in shape(), at in 0u64..60) {
        let src = sources(&s);
        let v = xenflux::validate::validate(&src, &Default::default()).unwrap();
        let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
        let first = snap(&src, &sim);
        let plan = plan_for(&first, false).unwrap();
        sim.crash_after(at);
        let _ = apply(&src, &first, &sim);
        let _ = plan;
        sim.recover();
        converge(&src, &sim);
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}

/// One pair with a single-primary volume under a running domain, converged on a fresh
/// simulator: the sources, the simulator, and a way to run a command behind xenflux's back.
fn converged_pair() -> (Vec<Source>, SimCluster) {
    let src = sources(&Shape {
        pairs: 1,
        volumes: vec![(0, 1, false, false)],
        domains: vec![(0, false, true)],
    });
    let v = xenflux::validate::validate(&src, &Default::default()).unwrap();
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    converge(&src, &sim);
    (src, sim)
}

/// Runs `argv` on `node` as an operator would by hand; it must succeed.
fn by_hand(sim: &SimCluster, node: &str, argv: Vec<String>) -> String {
    let out = sim
        .run(node, &xenflux::transport::Cmd::new(argv.clone()))
        .unwrap();
    assert_eq!(out.status, Some(0), "{node}: {argv:?}: {}", out.stderr);
    out.stdout
}

/// The next plan as `NODE ACTION` lines, with the whole report for a failure message.
fn next_plan(src: &[Source], sim: &SimCluster) -> (Vec<String>, Plan, String) {
    let s = snap(src, sim);
    let plan = plan_for(&s, false).unwrap();
    let text = xenflux::report::text(&plan, &s.validated.desired);
    let acts = plan
        .stages
        .iter()
        .flat_map(|st| &st.actions)
        .map(|a| format!("{} {}", a.node(), a.describe()))
        .collect();
    (acts, plan, text)
}

/// A resource left open to two Primaries behind xenflux's back (`drbdadm net-options`, as an
/// interrupted live migration leaves it) is drift: the kernel's option is read with
/// `drbdsetup show` and `drbdadm adjust` brings back the file's.
#[test]
fn a_kernel_left_allowing_two_primaries_is_adjusted_back() {
    use xenflux::drivers::drbd::{net_options_allow_two_primaries, show};

    let (src, sim) = converged_pair();
    let allows = |node: &str| {
        show::parse(&by_hand(&sim, node, show::argv())).unwrap()[0].allow_two_primaries
    };
    for node in ["n00", "n01"] {
        by_hand(&sim, node, net_options_allow_two_primaries("v0", true));
        assert!(allows(node));
    }

    let (acts, _, text) = next_plan(&src, &sim);
    assert_eq!(
        acts,
        [
            "n00 apply the configuration file of v0 to the kernel",
            "n01 apply the configuration file of v0 to the kernel"
        ],
        "{text}"
    );
    assert_eq!(converge(&src, &sim), 1);
    for node in ["n00", "n01"] {
        assert!(!allows(node), "{node}");
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// A resource down on every node (nodes rebooted, or a first apply stopped before `up`) gives
/// no node's word that its data is UpToDate: the resource is brought up, and promoting and
/// starting wait for the next reconcile, which sees it Connected.
#[test]
fn a_resource_down_everywhere_is_brought_up_before_anything_is_promoted() {
    use xenflux::drivers::{drbd, xl};

    let (src, sim) = converged_pair();
    by_hand(&sim, "n00", xl::destroy("d0"));
    for node in ["n00", "n01"] {
        by_hand(&sim, node, drbd::down("v0"));
    }

    let (acts, plan, text) = next_plan(&src, &sim);
    assert_eq!(
        acts,
        [
            "n00 bring DRBD resource v0 up",
            "n01 bring DRBD resource v0 up"
        ],
        "{text}"
    );
    assert!(
        plan.blocked
            .iter()
            .any(|b| b.object == "Volume/v0" && b.reason.contains("no node reports UpToDate")),
        "{text}"
    );
    assert_eq!(converge(&src, &sim), 2, "up, then promote and start");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// A fresh pair (not applied yet) with one volume `v0` and no domain.
fn fresh_pair() -> (Vec<Source>, SimCluster) {
    let src = sources(&Shape {
        pairs: 1,
        volumes: vec![(0, 1, false, false)],
        domains: vec![],
    });
    let v = xenflux::validate::validate(&src, &Default::default()).unwrap();
    let sim = SimCluster::fresh(&v.desired, &SimOptions::default());
    (src, sim)
}

/// Why `object` is blocked in `plan` (`text` is the report, for the failure message).
fn blocked_reason<'p>(plan: &'p Plan, object: &str, text: &str) -> &'p str {
    match plan.blocked.iter().find(|b| b.object == object) {
        Some(b) => &b.reason,
        None => panic!("{object} is not blocked:\n{text}"),
    }
}

fn plans_create_md(plan: &Plan) -> bool {
    plan.stages
        .iter()
        .flat_map(|s| &s.actions)
        .any(|a| matches!(a, xenflux::plan::Action::CreateMd { .. }))
}

/// Following the adoption hint over data: an operator's own LV holding a filesystem, tagged as
/// the hint says, is never initialised — the plan reads it (blkid, drbdmeta) and blocks with
/// what it found, on both nodes, and nothing is written.
#[test]
fn an_adopted_lv_holding_data_is_never_initialised() {
    use xenflux::drivers::lvm;

    let (src, sim) = fresh_pair();
    for node in ["n00", "n01"] {
        by_hand(&sim, node, lvm::lvcreate("vg", "v0", 1 << 30, &[], &[]));
        by_hand(
            &sim,
            node,
            vec!["mkfs.ext4".into(), "-q".into(), "/dev/vg/v0".into()],
        );
    }
    let (_, plan, text) = next_plan(&src, &sim);
    let reason = blocked_reason(&plan, "Volume/v0", &text);
    assert!(reason.contains("no `xenflux` tag"), "{text}");
    assert!(reason.contains("it holds an ext4 signature"), "{text}");

    for node in ["n00", "n01"] {
        by_hand(&sim, node, lvm::lvchange_addtag("vg", "v0", "xenflux"));
    }
    let (_, plan, text) = next_plan(&src, &sim);
    assert!(!plans_create_md(&plan), "{text}");
    let reason = blocked_reason(&plan, "Volume/v0", &text);
    assert!(
        reason.contains("holds an ext4 signature") && reason.contains("proven blank"),
        "{text}"
    );
    let s = snap(&src, &sim);
    apply(&src, &s, &sim).unwrap();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let log = sim.log();
    assert!(
        !log.iter().any(|e| e.argv.iter().any(|w| w == "create-md")),
        "create-md ran"
    );
}

/// A resource built by hand (or one whose tag was lost) has meta-data in use where xenflux's
/// would go: create-md is never planned over it, and the hint (mark it initialised) is safe —
/// following it brings the resource up with its data.
#[test]
fn meta_data_in_use_blocks_create_md_and_the_hint_keeps_it() {
    use xenflux::drivers::{drbd, lvm};

    let (src, sim) = converged_pair();
    sim.clear_log();
    for node in ["n00", "n01"] {
        if node == "n00" {
            by_hand(&sim, node, xenflux::drivers::xl::destroy("d0"));
        }
        by_hand(&sim, node, drbd::down("v0"));
        by_hand(&sim, node, lvm::lvchange_deltag("vg", "v0", "xenflux-md"));
    }
    let (_, plan, text) = next_plan(&src, &sim);
    assert!(!plans_create_md(&plan), "{text}");
    let reason = blocked_reason(&plan, "Volume/v0", &text);
    assert!(
        reason.contains("holds DRBD meta-data that has been in use")
            && reason.contains("lvchange --addtag xenflux-md vg/v0"),
        "{text}"
    );
    for node in ["n00", "n01"] {
        by_hand(&sim, node, lvm::lvchange_addtag("vg", "v0", "xenflux-md"));
    }
    converge(&src, &sim);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(
        !sim.log()
            .iter()
            .any(|e| e.argv.iter().any(|w| w == "create-md") && e.argv.contains(&"v0".into())),
        "create-md ran over v0's meta-data"
    );
}

/// The plan was made while the LV was blank; someone wrote a filesystem on it before apply.
/// The reads run again right before create-md: the action is refused and nothing is written.
#[test]
fn create_md_reads_the_device_again_when_it_runs() {
    let (src, sim) = fresh_pair();
    // The LVs and files, as the plan makes them; create-md fails, so nothing of it ran.
    sim.fail_next("create-md", 2);
    assert!(apply(&src, &snap(&src, &sim), &sim).is_err());
    let s = snap(&src, &sim);
    assert!(plans_create_md(&plan_for(&s, false).unwrap()));
    let err = apply_after(&src, &s, &sim, || {
        by_hand(
            &sim,
            "n01",
            vec!["mkfs.ext4".into(), "-q".into(), "/dev/vg/v0".into()],
        );
    })
    .unwrap_err();
    assert!(
        err.contains("refused, nothing was written")
            && err.contains("/dev/vg/v0 holds an ext4 signature"),
        "{err}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// An apply that stopped after create-md but before the LV was tagged left meta-data that
/// nothing used: it counts as blank, and the next reconcile converges.
#[test]
fn meta_data_from_an_interrupted_create_md_counts_as_blank() {
    let (src, sim) = fresh_pair();
    // The LVs and files, as the plan makes them (its create-md fails); then create-md on one
    // node by hand, with no tag.
    sim.fail_next("create-md", 2);
    assert!(apply(&src, &snap(&src, &sim), &sim).is_err());
    by_hand(&sim, "n00", xenflux::drivers::drbd::create_md("v0"));

    let (_, plan, text) = next_plan(&src, &sim);
    assert!(plans_create_md(&plan), "{text}");
    converge(&src, &sim);
    let tagged_md = |node: &str| {
        sim.node(node).unwrap().lvs["v0"]
            .tags
            .contains("xenflux-md")
    };
    assert!(tagged_md("n00") && tagged_md("n01"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// A filesystem asked for on an existing volume that holds something else (here a domain's
/// disk) is never made, and the plan does not pass that off as "no changes".
#[test]
fn a_filesystem_xenflux_will_not_make_is_blocked_not_in_sync() {
    let (src, sim) = converged_pair();
    let with_fs: Vec<Source> = src
        .iter()
        .map(|s| Source {
            path: s.path.clone(),
            text: s.text.replace("filesystem: none}", "filesystem: ext4}"),
        })
        .collect();
    assert_ne!(with_fs, src);
    let (acts, plan, text) = next_plan(&with_fs, &sim);
    assert!(
        !acts
            .iter()
            .any(|a| a.contains("mkfs") || a.contains("filesystem")),
        "{text}"
    );
    assert!(
        plan.blocked.iter().any(|b| b.object == "Volume/v0"
            && (b.reason.contains("never makes a filesystem over another")
                || b.reason.contains("no ext4 filesystem on it"))),
        "{text}"
    );
}

/// A smaller size for an existing volume is never done (it would cut off the end of the data),
/// and the plan does not pass that off as "no changes": the volume is blocked.
#[test]
fn a_shrunk_volume_is_blocked_not_in_sync() {
    let (src, sim) = converged_pair();
    let shrunk: Vec<Source> = src
        .iter()
        .map(|s| Source {
            path: s.path.clone(),
            text: s.text.replace("{size: 1GiB,", "{size: 512MiB,"),
        })
        .collect();
    assert_ne!(shrunk, src);
    let (acts, plan, text) = next_plan(&shrunk, &sim);
    assert!(acts.is_empty(), "{text}");
    assert!(
        plan.blocked.iter().any(|b| b.object == "Volume/v0"
            && b.reason.contains("is 1GiB but 512MiB is desired")
            && b.reason.contains("never shrinks")),
        "{text}"
    );
}

/// A push that moves an existing resource's meta-data (another `meta` kind, another
/// `metaVolume`) never rewrites its `.res` file and adjusts it: DRBD would detach the disk and
/// attach it with no meta-data at the new place. The volume is blocked and names both places.
#[test]
fn an_existing_resources_meta_data_is_never_moved() {
    let (src, sim) = converged_pair();
    let edit = |from: &str, to: &str| -> Vec<Source> {
        let out: Vec<Source> = src
            .iter()
            .map(|s| Source {
                path: s.path.clone(),
                text: s.text.replace(from, to),
            })
            .collect();
        assert_ne!(out, src, "{from}");
        out
    };
    for (edited, want) in [
        (
            edit("filesystem: none}", "filesystem: none, meta: flexible}"),
            "/dev/vg/v0-md",
        ),
        (
            edit("filesystem: none}", "filesystem: none, meta: internal}"),
            "makes it internal",
        ),
        (
            edit("volumeGroup: vg}", "volumeGroup: vg, metaVolume: md2}"),
            "/dev/vg/md2[0]",
        ),
    ] {
        let (acts, plan, text) = next_plan(&edited, &sim);
        assert!(
            !acts
                .iter()
                .any(|a| a.contains("v0.res") || a.contains("configuration file of v0")),
            "{text}"
        );
        assert!(
            plan.blocked.iter().any(|b| b.object == "Volume/v0"
                && b.reason.contains("is /dev/vg/meta[0]")
                && b.reason.contains(want)
                && b.reason.contains("never moves")),
            "{text}"
        );
    }
}

/// The sibling of a swap: a push that moves a running domain's disk to another virtual device
/// (`xvda` → `xvdb`, same volume) never detaches it from under the guest to attach it again.
#[test]
fn a_running_domains_disk_is_never_moved_to_another_target_live() {
    let (src, sim) = converged_pair();
    let moved: Vec<Source> = src
        .iter()
        .map(|s| Source {
            path: s.path.clone(),
            text: s.text.replace("target: xvda}", "target: xvdb}"),
        })
        .collect();
    assert_ne!(moved, src);
    let (acts, plan, text) = next_plan(&moved, &sim);
    assert!(
        !acts
            .iter()
            .any(|a| a.contains("detach") || a.contains("attach")),
        "{text}"
    );
    assert!(
        plan.blocked.iter().any(|b| b.object == "Domain/d0"
            && b.reason.contains("never replaced live")
            && b.reason.contains("/dev/drbd0) is xvda")),
        "{text}"
    );
}

/// A push that renames the volume under a running domain's `xvda` (so the same target now
/// names a new, blank volume) never detaches the disk the guest uses and attaches another live:
/// the domain is blocked with the reason and the way to do it.
#[test]
fn a_running_domains_disk_is_never_swapped_live() {
    let (src, sim) = converged_pair();
    let renamed: Vec<Source> = src
        .iter()
        .map(|s| Source {
            path: s.path.clone(),
            text: s
                .text
                .replace("metadata: {name: v0}", "metadata: {name: v9}")
                .replace("{volume: v0,", "{volume: v9,"),
        })
        .collect();
    assert_ne!(renamed, src);
    let (acts, plan, text) = next_plan(&renamed, &sim);
    assert!(
        !acts
            .iter()
            .any(|a| a.contains("detach") || a.contains("attach")),
        "{text}"
    );
    assert!(
        plan.blocked.iter().any(|b| b.object == "Domain/d0"
            && b.reason.contains("never replaced live")
            && b.reason.contains("xvda is /dev/drbd0")),
        "{text}"
    );
    let s = snap(&renamed, &sim);
    apply(&src, &s, &sim).unwrap();
    let d0 = sim.node("n00").unwrap().domains["d0"].clone();
    assert!(format!("{d0:?}").contains("/dev/drbd0"), "{d0:?}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
