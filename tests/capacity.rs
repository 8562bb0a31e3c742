//! Memory as a constraint and a running domain's resources, on the simulated cluster: a drain or
//! a start that does not fit is blocked with the numbers (and the higher priority gets the
//! room); a change of memory or vCPUs of a running domain is made live with `xl mem-set` /
//! `xl vcpu-set` and converges; a raise past what Xen allows live is "restart needed", or a
//! restart with `restartOnChange`.

use xenflux::exec::Lock;
use xenflux::load::Source;
use xenflux::plan::{Action, Plan};
use xenflux::reconcile::{self, approve, plan_for, snapshot, ApplyCtx, Intent, Snapshot};
use xenflux::sim::{SimCluster, SimOptions};
use xenflux::transport::Cmd;

/// Nodes a and b (with their `memory` lines), a bridge, and per domain `(name, spec fields)` a
/// volume of its own on both nodes.
fn state(a_spec: &str, b_spec: &str, domains: &[(&str, &str)]) -> Vec<Source> {
    let mut y =
        String::from("apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: cap}\nspec: {}\n");
    for (n, (addr, extra)) in [("a", (1, a_spec)), ("b", (2, b_spec))] {
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

fn sim_for(src: &[Source]) -> SimCluster {
    let v = xenflux::validate::validate(src, &Default::default()).unwrap();
    SimCluster::fresh(&v.desired, &SimOptions::default())
}

fn snap(src: &[Source], sim: &SimCluster) -> Snapshot {
    snapshot(src, sim).unwrap_or_else(|e| panic!("{e}"))
}

/// Applies `plan` — which must be the plan xenflux makes now from `s` — through the one apply
/// path (lock and journal in a scratch directory); the number of actions that ran.
fn apply(src: &[Source], s: &Snapshot, plan: &Plan, sim: &SimCluster) -> Result<usize, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lock = Lock::acquire(dir.path()).map_err(|e| e.to_string())?;
    let approved = approve(&lock, s, false, Intent::Fresh).map_err(|e| e.to_string())?;
    assert_eq!(
        approved.plan(),
        plan,
        "the plan applied is not the plan of now"
    );
    let ctx = ApplyCtx {
        settle: None,
        journal: false,
        ..ApplyCtx::new(src, sim)
    };
    let a = reconcile::apply(approved, &ctx, &mut |_| {});
    match a.failed.first() {
        None => Ok(a.ran.len()),
        Some(_) => Err(a
            .failed
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// The plan for `src` now, and its report.
fn next_plan(src: &[Source], sim: &SimCluster) -> (Plan, String) {
    let s = snap(src, sim);
    let plan = plan_for(&s, false).unwrap();
    let text = xenflux::report::text(&plan, &s.validated.desired);
    (plan, text)
}

/// Applies plans until one has no action (at most four rounds); returns the last plan.
fn converge(src: &[Source], sim: &SimCluster) -> (Plan, String) {
    for round in 1..=4 {
        let s = snap(src, sim);
        let plan = plan_for(&s, false).unwrap();
        let text = xenflux::report::text(&plan, &s.validated.desired);
        if plan.is_empty() {
            return (plan, text);
        }
        if let Err(e) = apply(src, &s, &plan, sim) {
            panic!("round {round}: {e}\n{text}");
        }
    }
    let (_, text) = next_plan(src, sim);
    panic!("no convergence:\n{text}");
}

fn actions(plan: &Plan) -> Vec<&Action> {
    plan.stages.iter().flat_map(|s| s.actions.iter()).collect()
}

fn blocked<'p>(plan: &'p Plan, object: &str, text: &str) -> &'p str {
    match plan.blocked.iter().find(|b| b.object == object) {
        Some(b) => &b.reason,
        None => panic!("{object} is not blocked:\n{text}"),
    }
}

fn runs_on(sim: &SimCluster, domain: &str) -> Vec<String> {
    sim.node_names()
        .into_iter()
        .filter(|n| sim.node(n).unwrap().domains.contains_key(domain))
        .collect()
}

fn memory_of(sim: &SimCluster, node: &str, domain: &str) -> (u64, u32) {
    let d = &sim.node(node).unwrap().domains[domain];
    (d.memory_mib, d.vcpus)
}

/// A drain into a node without room for everyone: the higher priority moves, the other stays
/// where it is, blocked with the numbers; the next plan does not try again and fail.
#[test]
fn a_drain_moves_only_what_fits_higher_priority_first() {
    let doms = [
        ("dns", "node: b, memory: 1GiB"),
        ("mail", "node: a, memory: 2GiB"),
        ("web", "node: a, memory: 2GiB, priority: 10"),
    ];
    let src = state("", ", memory: 4GiB", &doms);
    let sim = sim_for(&src);
    converge(&src, &sim);
    assert_eq!(runs_on(&sim, "mail"), ["a"]);

    let drained = state(", schedulable: false", ", memory: 4GiB", &doms);
    let (plan, text) = next_plan(&drained, &sim);
    let migrations: Vec<&str> = actions(&plan)
        .into_iter()
        .filter_map(|a| match a {
            Action::XlMigrate { domain, .. } => Some(domain.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(migrations, ["web"], "{text}");
    let reason = blocked(&plan, "Domain/mail", &text);
    assert!(
        reason
            .contains("domain mail needs 2048 MiB on b, which has 1024 MiB free after dns and web"),
        "{reason}"
    );
    let (after, text) = converge(&drained, &sim);
    assert_eq!(runs_on(&sim, "web"), ["b"]);
    assert_eq!(runs_on(&sim, "mail"), ["a"]);
    assert!(
        blocked(&after, "Domain/mail", &text).contains("needs 2048 MiB on b"),
        "{text}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// Without priorities the tie goes by name: of two domains that do not both fit, the first
/// starts and the second is blocked; a priority on the second turns that round.
#[test]
fn a_start_that_does_not_fit_is_blocked() {
    let src = state(
        ", memory: 2GiB",
        "",
        &[
            ("x", "node: a, memory: 1536MiB"),
            ("y", "node: a, memory: 1GiB"),
        ],
    );
    let sim = sim_for(&src);
    let (plan, text) = converge(&src, &sim);
    assert_eq!(runs_on(&sim, "x"), ["a"]);
    assert!(runs_on(&sim, "y").is_empty());
    assert_eq!(
        blocked(&plan, "Domain/y", &text),
        "domain y needs 1024 MiB on a, which has 512 MiB free after x"
    );
    assert!(!text.contains("No changes"), "{text}");

    let src = state(
        ", memory: 2GiB",
        "",
        &[
            ("x", "node: a, memory: 1536MiB"),
            ("y", "node: a, memory: 1GiB, priority: 1"),
        ],
    );
    let sim = sim_for(&src);
    let (plan, text) = converge(&src, &sim);
    assert_eq!(runs_on(&sim, "y"), ["a"]);
    assert!(runs_on(&sim, "x").is_empty());
    assert!(
        blocked(&plan, "Domain/x", &text)
            .starts_with("domain x needs 1536 MiB on a, which has 1024 MiB free after y"),
        "{text}"
    );
}

/// Memory stopped in the same plan counts: stopping one domain makes room for another.
#[test]
fn memory_given_back_by_a_stop_counts() {
    let before = state(
        ", memory: 2GiB",
        "",
        &[
            ("x", "node: a, memory: 1536MiB"),
            ("y", "node: a, memory: 1GiB, state: stopped"),
        ],
    );
    let sim = sim_for(&before);
    converge(&before, &sim);
    let swapped = state(
        ", memory: 2GiB",
        "",
        &[
            ("x", "node: a, memory: 1536MiB, state: stopped"),
            ("y", "node: a, memory: 1GiB"),
        ],
    );
    let (plan, text) = next_plan(&swapped, &sim);
    assert!(plan.blocked.is_empty(), "{text}");
    converge(&swapped, &sim);
    assert_eq!(runs_on(&sim, "y"), ["a"]);
}

/// A running domain's memory changes live, up to its maxMemory, and the next plan is empty.
#[test]
fn memory_of_a_running_domain_converges_with_mem_set() {
    let src = state(
        "",
        "",
        &[("mail", "node: a, memory: 2GiB, maxMemory: 4GiB")],
    );
    let sim = sim_for(&src);
    converge(&src, &sim);
    assert_eq!(memory_of(&sim, "a", "mail"), (2048, 1));

    let more = state(
        "",
        "",
        &[("mail", "node: a, memory: 3GiB, maxMemory: 4GiB")],
    );
    let (plan, text) = next_plan(&more, &sim);
    let acts = actions(&plan);
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Action::XlMemSet {
                memory_mib: 3072,
                ..
            }
        )),
        "{text}"
    );
    assert!(
        text.contains("xl mem-set mail 3072m"),
        "the report shows the command: {text}"
    );
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::XlShutdown { .. } | Action::XlCreate { .. })),
        "{text}"
    );
    let (after, text) = converge(&more, &sim);
    assert!(after.blocked.is_empty(), "{text}");
    assert_eq!(memory_of(&sim, "a", "mail"), (3072, 1));

    let less = state(
        "",
        "",
        &[("mail", "node: a, memory: 1GiB, maxMemory: 4GiB")],
    );
    converge(&less, &sim);
    assert_eq!(memory_of(&sim, "a", "mail"), (1024, 1));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// vCPUs likewise, up to maxVcpus.
#[test]
fn vcpus_of_a_running_domain_converge_with_vcpu_set() {
    let src = state("", "", &[("dns", "node: a, memory: 512MiB, maxVcpus: 4")]);
    let sim = sim_for(&src);
    converge(&src, &sim);
    assert_eq!(memory_of(&sim, "a", "dns"), (512, 1));

    let more = state(
        "",
        "",
        &[("dns", "node: a, memory: 512MiB, vcpus: 3, maxVcpus: 4")],
    );
    let (plan, text) = next_plan(&more, &sim);
    assert!(
        actions(&plan)
            .iter()
            .any(|a| matches!(a, Action::XlVcpuSet { vcpus: 3, .. })),
        "{text}"
    );
    converge(&more, &sim);
    assert_eq!(memory_of(&sim, "a", "dns"), (512, 3));
    converge(&src, &sim);
    assert_eq!(memory_of(&sim, "a", "dns"), (512, 1));
}

/// A raise past the maxmem the domain was started with is "restart needed" (and the plan does
/// not say "No changes"); with `restartOnChange: true` the plan restarts it with the new config.
#[test]
fn a_raise_past_maxmem_needs_a_restart() {
    let src = state("", "", &[("mail", "node: a, memory: 2GiB")]);
    let sim = sim_for(&src);
    converge(&src, &sim);

    let more = state("", "", &[("mail", "node: a, memory: 3GiB, vcpus: 2")]);
    let (plan, text) = next_plan(&more, &sim);
    assert!(
        actions(&plan)
            .iter()
            .all(|a| matches!(a, Action::WriteFile { .. })),
        "only the config is written (for the next start), nothing Xen would refuse:\n{text}"
    );
    let reason = blocked(&plan, "Domain/mail", &text);
    assert!(
        reason.starts_with("restart needed: memory 3072 MiB is above the maxmem of 2048 MiB")
            && reason.contains("2 vCPUs is more than the maxvcpus of 1")
            && reason.contains("restartOnChange"),
        "{reason}"
    );
    assert!(!text.contains("No changes"), "{text}");
    apply(&more, &snap(&more, &sim), &plan, &sim).unwrap();
    assert_eq!(memory_of(&sim, "a", "mail"), (2048, 1));

    let restart = state(
        "",
        "",
        &[(
            "mail",
            "node: a, memory: 3GiB, vcpus: 2, restartOnChange: true",
        )],
    );
    let (plan, text) = next_plan(&restart, &sim);
    let acts = actions(&plan);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::XlShutdown { domain, .. } if domain == "mail"))
            && acts
                .iter()
                .any(|a| matches!(a, Action::XlCreate { domain, .. } if domain == "mail")),
        "{text}"
    );
    let (after, text) = converge(&restart, &sim);
    assert!(after.blocked.is_empty(), "{text}");
    assert_eq!(memory_of(&sim, "a", "mail"), (3072, 2));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// The simulator refuses what Xen refuses, with Xen's words: a memory target above maxmem and
/// more vCPUs than maxvcpus; and it answers `xl list -l` with what it accepted.
#[test]
fn the_simulator_refuses_what_xen_refuses() {
    let src = state("", "", &[("mail", "node: a, memory: 2GiB, maxVcpus: 2")]);
    let sim = sim_for(&src);
    converge(&src, &sim);
    let run = |argv: Vec<String>| sim.run("a", &Cmd::new(argv)).unwrap();

    let o = run(xenflux::drivers::xl::mem_set("mail", 4096));
    assert_eq!(o.status, Some(1));
    assert!(
        o.stderr.contains(
            "libxl_set_memory_target: Domain 1:memory_dynamic_max must be less than or equal to memory_static_max"
        ) && o.stderr.contains("cannot set domid 1 dynamic max memory to : 4096m"),
        "{}",
        o.stderr
    );
    let o = run(xenflux::drivers::xl::vcpu_set("mail", 3));
    assert_eq!(o.status, Some(1));
    assert!(
        o.stderr
            .contains("libxl_set_vcpuonline: Domain 1:Requested 3 VCPUs, however maxcpus is 2!")
            && o.stderr
                .contains("libxl_set_vcpuonline failed domid=1 max_vcpus=3, rc: -3"),
        "{}",
        o.stderr
    );
    let o = run(xenflux::drivers::xl::vcpu_set("mail", 2));
    assert_eq!(o.status, Some(0), "{}", o.stderr);
    let o = run(xenflux::drivers::xl::mem_set("mail", 1024));
    assert_eq!(o.status, Some(0), "{}", o.stderr);
    let long = run(xenflux::drivers::xl::list_long());
    let doms = xenflux::drivers::xl::parse_list_long(&long.stdout).unwrap();
    let mail = doms
        .iter()
        .find(|d| d.config.name.as_deref() == Some("mail"))
        .unwrap();
    assert_eq!(mail.config.memory_mib(), Some(1024));
    assert_eq!(mail.config.max_memory_mib(), Some(2048));
    assert_eq!(mail.config.online_vcpus(), Some(2));
    assert_eq!(mail.config.max_vcpus, Some(2));
}

/// `priority` is bounded, and the maxima are never below what the domain runs with.
#[test]
fn priority_and_maxima_are_validated() {
    let src = state(
        "",
        "",
        &[
            ("p", "node: a, memory: 1GiB, priority: 1001"),
            ("m", "node: a, memory: 1GiB, maxMemory: 512MiB"),
            ("v", "node: a, memory: 1GiB, vcpus: 2, maxVcpus: 1"),
        ],
    );
    let errors = match xenflux::validate::validate(&src, &Default::default()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.iter().map(|d| format!("{d}\n")).collect::<String>(),
    };
    for want in [
        "spec.priority: must be 0 to 1000, found 1001",
        "spec.maxMemory: 512MiB is less than memory 1GiB",
        "spec.maxVcpus: 1 is less than vcpus 2",
    ] {
        assert!(errors.contains(want), "{want}: {errors}");
    }
    let ok = state("", "", &[("p", "node: a, memory: 1GiB, priority: 1000")]);
    assert!(xenflux::validate::validate(&ok, &Default::default()).is_ok());
}

/// What the real Xen 4.17 `xl list -l` gives for the resources (lab capture): maxmem 192 MiB
/// (`max_memkb`), target 192 MiB, one vCPU online of one (`avail_vcpus: [0]`); and the argv
/// xenflux runs to change them.
#[test]
fn resources_read_from_real_xl_list_long() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/xl-4.17-list-long.json"),
    )
    .unwrap();
    let doms = xenflux::drivers::xl::parse_list_long(&text).unwrap();
    let dns = &doms[1].config;
    assert_eq!(
        (
            dns.memory_mib(),
            dns.max_memory_mib(),
            dns.online_vcpus(),
            dns.max_vcpus
        ),
        (Some(192), Some(192), Some(1), Some(1))
    );
    assert_eq!(
        xenflux::drivers::xl::mem_set("dns", 256),
        ["xl", "mem-set", "dns", "256m"]
    );
    assert_eq!(
        xenflux::drivers::xl::vcpu_set("dns", 2),
        ["xl", "vcpu-set", "dns", "2"]
    );
}
