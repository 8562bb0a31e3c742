#![allow(clippy::disallowed_methods)]
//! What operators watch xenflux with: the Prometheus alerting rules shipped in
//! `examples/prometheus/alerts.yaml` (checked by `promtool check rules`) and the Grafana
//! dashboard `examples/grafana/xenflux.json`; both may only query metrics xenflux exposes, so
//! neither can drift from the code. Also how a log filter that does not parse is refused.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use xenflux::controller::status::{Metrics, Status};

const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

fn example(path: &str) -> String {
    std::fs::read_to_string(common::serve::root().join(path)).unwrap()
}

/// The metric families `/metrics` declares (`# TYPE NAME ...`).
fn exposed() -> BTreeSet<String> {
    Metrics::default()
        .render(&Status::default())
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every `xenflux_...` name in a PromQL expression.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("xenflux_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Fails naming every metric in `exprs` that `/metrics` does not have (a summary's `_sum` and
/// `_count` belong to their family).
fn assert_exposed(what: &str, exprs: &[String]) {
    let have = exposed();
    let mut missing = Vec::new();
    let mut seen = 0;
    for e in exprs {
        for m in metrics_in(e) {
            seen += 1;
            let family = ["_sum", "_count", "_bucket"]
                .iter()
                .find_map(|s| m.strip_suffix(s).filter(|f| have.contains(*f)))
                .unwrap_or(&m);
            if !have.contains(family) {
                missing.push(m);
            }
        }
    }
    assert!(seen > 0, "{what} queries no xenflux metric");
    assert!(
        missing.is_empty(),
        "{what} queries metrics xenflux does not expose: {missing:?}\nexposed: {have:?}"
    );
}

fn exprs_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("expr" | "query", Value::String(s)) => out.push(s.clone()),
                    _ => exprs_of(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| exprs_of(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_queries_only_metrics_xenflux_exposes() {
    let d: Value = serde_json::from_str(&example("examples/grafana/xenflux.json")).unwrap();
    assert_eq!(d["uid"], "xenflux");
    let mut exprs = Vec::new();
    exprs_of(&d, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    assert_exposed("examples/grafana/xenflux.json", &exprs);
    // What the issue asks to see is on it.
    let all = exprs.join("\n");
    for m in [
        "xenflux_build_info",
        "xenflux_reconcile_last_success_timestamp_seconds",
        "xenflux_object_state",
        "xenflux_drbd_resources",
        "xenflux_domains",
        "xenflux_node_up",
    ] {
        assert!(all.contains(m), "the dashboard lacks {m}");
    }
}

#[test]
fn the_alert_rules_query_only_metrics_xenflux_exposes() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&example("examples/prometheus/alerts.yaml")).unwrap();
    let json: Value = serde_json::to_value(&rules).unwrap();
    let mut exprs = Vec::new();
    exprs_of(&json, &mut exprs);
    assert!(exprs.len() >= 6, "{exprs:?}");
    assert_exposed("examples/prometheus/alerts.yaml", &exprs);
}

#[test]
fn promtool_accepts_the_alert_rules() {
    if !common::require_tool("promtool") {
        return;
    }
    let out = Command::new(common::tool("promtool"))
        .args(["check", "rules"])
        .arg(common::serve::root().join("examples/prometheus/alerts.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_log_filter_that_does_not_parse_is_refused() {
    let out = Command::new(BIN)
        .current_dir(common::serve::root())
        .env("RUST_LOG", "xenflux=loud")
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RUST_LOG=\"xenflux=loud\" is not a log filter"),
        "{err}"
    );
}

#[test]
fn rust_log_and_log_format_json_apply_to_one_shot_commands() {
    let dir = common::scratch();
    let out = Command::new(BIN)
        .current_dir(common::serve::root())
        .env("RUST_LOG", "xenflux::exec=debug")
        .env_remove("XENFLUX_LOG")
        .args(["--log-format", "json", "--state-dir"])
        .arg(dir.path())
        .args(["apply", "--target", "sim", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{err}");
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string(), "{l}");
        // The directive names one module: nothing else logs.
        assert_eq!(v["target"], "xenflux::exec", "{l}");
    }
}
