//! Reports of a large generated plan stay readable: the text report shows the first few of each
//! long run of one kind of action, file or allocation and counts the rest; the markdown report
//! fits a pull-request comment (65,536 characters) and says what it cut; JSON keeps everything.

use xenflux::generate::{estate, Estate};
use xenflux::load::Source;
use xenflux::plan::Plan;
use xenflux::reconcile::{plan_for, snapshot};
use xenflux::sim::{SimCluster, SimOptions};

/// The plan of a fresh generated estate, and its desired state.
fn big_plan(pairs: u32, volumes: u32, domains: u32) -> (Plan, xenflux::model::Desired) {
    let sources: Vec<Source> = estate(Estate {
        pairs,
        volumes_per_pair: volumes,
        domains,
    })
    .into_iter()
    .map(|(path, text)| Source { path, text })
    .collect();
    let v = xenflux::validate::validate(&sources, &Default::default()).expect("valid estate");
    let sim = SimCluster::fresh(
        &v.desired,
        &SimOptions {
            vg_size: 16 << 40,
            ..SimOptions::default()
        },
    );
    let s = snapshot(&sources, &sim).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan_for(&s, false).expect("plan");
    (plan, s.validated.desired)
}

#[test]
fn the_text_report_of_a_big_plan_shows_a_few_of_each_kind_and_counts_the_rest() {
    let (plan, d) = big_plan(2, 60, 40);
    let text = xenflux::report::text(&plan, &d);
    // 240 files on 4 nodes: one count per kind of change and directory.
    let writes = plan
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| a.kind() == "write-file")
        .count();
    assert!(writes > 100, "{writes}");
    let shown = text.lines().filter(|l| l.contains("] write /etc/")).count();
    assert_eq!(shown, 3, "{text}");
    assert!(
        text.contains(&format!(
            "  … {} more write-file actions like these, on 4 nodes ({writes} in all; --format json or sh lists every one)",
            writes - 3
        )),
        "{text}"
    );
    for stage in &plan.stages {
        let mut kinds = std::collections::BTreeMap::new();
        for a in &stage.actions {
            *kinds.entry(a.kind()).or_insert(0usize) += 1;
        }
        for (kind, n) in kinds {
            let line = format!("more {kind} actions like these");
            assert_eq!(text.contains(&line), n > 50, "{kind} ×{n}\n{text}");
        }
    }
    assert!(
        text.contains("more new /etc/drbd.d/ files like these"),
        "{text}"
    );
    assert!(
        text.contains("more volume allocations like these"),
        "{text}"
    );
    assert_eq!(
        text.matches("+++ ").count(),
        3 + 3 + 4 + 4,
        "3 new .res, 3 new .cfg, and all 4 changed global_common.conf and 4 new bridge files: {text}"
    );
    // The summary still counts every action, and JSON keeps every one.
    assert!(
        text.contains(&format!("Plan: {} action(s)", plan.action_count())),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&xenflux::report::json(&plan)).expect("json");
    let in_json: usize = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["actions"].as_array().unwrap().len())
        .sum();
    assert_eq!(in_json, plan.action_count());
    for a in plan.stages.iter().flat_map(|s| &s.actions) {
        let v = serde_json::to_value(a).unwrap();
        assert_eq!(v["action"], a.kind(), "kind() is the JSON tag");
    }
}

#[test]
fn the_markdown_report_of_a_huge_plan_fits_a_pull_request_comment_and_says_what_it_cut() {
    let (mut plan, d) = big_plan(4, 120, 200);
    // Warnings and blocked items are never folded: thousands of them (an estate whose nodes
    // all warn) are what still overflows a comment once the actions are folded.
    let warnings = 5000;
    plan.warnings = (0..warnings)
        .map(|i| format!("node xen{i:05}: something an operator should read about this node"))
        .collect();
    let md = xenflux::report::markdown(&plan, &d);
    assert!(
        md.chars().count() <= 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(md.len() <= 65_536, "{} bytes", md.len());
    assert!(
        md.starts_with("## xenflux plan for cluster `estate`"),
        "{md}"
    );
    assert!(
        md.contains(&format!("**Plan: {} action(s)", plan.action_count())),
        "the summary is never cut"
    );
    assert!(md.contains("*Cut to fit a pull-request comment (65536 characters): "));
    assert!(md.contains("left out; `xenflux plan --format json` has everything.*"));
    assert_eq!(md.matches("```").count() % 2, 0, "code fences are closed");
    assert!(md.contains("### Warnings"), "warnings come before actions");
    assert!(md.contains(&format!(" of {warnings} warnings")), "{md}");
    assert!(md.contains("- node xen00000: something"), "{md}");

    // Folded, the same plan without the warnings fits whole.
    plan.warnings.clear();
    let md = xenflux::report::markdown(&plan, &d);
    assert!(!md.contains("Cut to fit"), "{md}");
    assert!(md.contains("### Stage 1: "), "{md}");
    assert!(md.contains("more create-lv actions like these"), "{md}");
}

#[test]
fn small_reports_are_not_folded_or_cut() {
    let (plan, d) = big_plan(1, 4, 2);
    let text = xenflux::report::text(&plan, &d);
    assert!(!text.contains("like these"), "{text}");
    let md = xenflux::report::markdown(&plan, &d);
    assert!(!md.contains("Cut to fit"), "{md}");
    assert!(!md.contains("like these"), "{md}");
}
