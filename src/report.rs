//! Plan reports: text for a terminal, markdown for a pull-request comment, JSON for machines
//! (the [`Plan`] as serialised), and a commented shell script an operator can read and run by
//! hand; and `status` ([`Status`]). Reports compute nothing; they only lay the plan out.

use std::collections::BTreeSet;
use std::fmt::Write;

use similar::TextDiff;

use crate::alloc::{MetaAlloc, Origin};
use crate::model::Desired;
use crate::plan::{Action, Check, FileChange, Plan};
use crate::target::TargetName;

mod fold;
pub mod snapshots;
mod status;
use crate::transport::Cmd;
pub use status::{DomainStatus, NodeStatus, PartStatus, Status, VolumeOnNode, VolumeStatus};

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Pinned => "pinned",
        Origin::Kept => "kept",
        Origin::New => "new",
    }
}

/// Each allocation line with what it allocates (`volume`, `MAC`), for folding.
fn allocation_lines(plan: &Plan, d: &Desired) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, a) in &plan.allocation.volumes {
        let meta = match a.meta {
            MetaAlloc::Indexed { index, origin: o } => {
                let (vg, meta) = d
                    .volumes
                    .get(name)
                    .and_then(|v| v.nodes.first())
                    .and_then(|n| d.nodes.get(n))
                    .map(|n| (n.volume_group.to_string(), n.meta_volume.to_string()))
                    .unwrap_or_default();
                format!("meta {vg}/{meta}[{index}] ({})", origin(o))
            }
            MetaAlloc::Flexible { size } => format!("meta {name}-md ({size}, flexible)"),
            MetaAlloc::Internal => "meta internal".to_string(),
        };
        out.push((
            "volume",
            format!(
                "volume {name}: minor {} ({}), port {} ({}), {meta}",
                a.minor.value,
                origin(a.minor.origin),
                a.port.value,
                origin(a.port.origin)
            ),
        ));
    }
    for (dom, macs) in &plan.allocation.macs {
        for (i, m) in macs.iter().enumerate() {
            out.push((
                "MAC",
                format!(
                    "domain {dom} NIC {i}: MAC {} ({})",
                    m.value,
                    origin(m.origin)
                ),
            ));
        }
    }
    out
}

fn diff(f: &FileChange) -> String {
    let old = f.old.clone().unwrap_or_default();
    let new = f.new.clone().unwrap_or_default();
    let a = if f.old.is_some() {
        format!("{}:{}", f.node, f.path)
    } else {
        "/dev/null".to_string()
    };
    let b = if f.new.is_some() {
        format!("{}:{}", f.node, f.path)
    } else {
        "/dev/null".to_string()
    };
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

fn summary(plan: &Plan) -> String {
    let nodes: BTreeSet<&str> = plan
        .stages
        .iter()
        .flat_map(|s| s.actions.iter().map(|a| a.node().as_str()))
        .collect();
    if plan.is_empty() && plan.blocked.is_empty() {
        return "No changes: the cluster matches the desired state.".to_string();
    }
    if plan.is_empty() {
        return format!(
            "No action can run: {} item(s) blocked (see above).",
            plan.blocked.len()
        );
    }
    format!(
        "Plan: {} action(s) in {} stage(s) on {} node(s); {} file(s) to write; {} blocked; {} warning(s).",
        plan.action_count(),
        plan.stages.len(),
        nodes.len(),
        plan.files.len(),
        plan.blocked.len(),
        plan.warnings.len()
    )
}

/// ` — target: …` for a first line, when the plan records what it was made against.
fn target_suffix(target: Option<&TargetName>) -> String {
    target.map_or(String::new(), |t| format!(" — target: {t}"))
}

/// Where the folded-away items are, for the lines that count them.
const ALL_ACTIONS: &str = "--format json or sh lists every one";
const ALL_FILES: &str = "--format json has every content";
const ALL_ALLOCATIONS: &str = "--format json lists every one";

/// The allocation lines to show, and the lines counting the folded ones.
fn folded_allocations(plan: &Plan, d: &Desired) -> (Vec<String>, Vec<String>) {
    let lines = allocation_lines(plan, d);
    let (shown, groups) = fold::fold(&lines, |(k, _)| *k, |_| "");
    (
        shown.into_iter().map(|(_, l)| l.clone()).collect(),
        groups
            .iter()
            .map(|g| g.line("allocations", ALL_ALLOCATIONS))
            .collect(),
    )
}

/// A stage's actions to show, and the lines counting the folded ones.
fn folded_actions(actions: &[Action]) -> (Vec<&Action>, Vec<String>) {
    let (shown, groups) = fold::fold(actions, Action::kind, |a| a.node().as_str());
    let lines = groups
        .iter()
        .map(|g| g.line("actions", ALL_ACTIONS))
        .collect();
    (shown, lines)
}

/// The file changes to show as diffs, and the lines counting the folded ones (grouped by
/// new, changed or removed, and directory).
fn folded_files(files: &[FileChange]) -> (Vec<&FileChange>, Vec<String>) {
    let key = |f: &FileChange| {
        let change = match (&f.old, &f.new) {
            (None, _) => "new",
            (Some(_), Some(_)) => "changed",
            (Some(_), None) => "removed",
        };
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{change} {dir}/")
    };
    let (shown, groups) = fold::fold(files, key, |f| f.node.as_str());
    let lines = groups.iter().map(|g| g.line("files", ALL_FILES)).collect();
    (shown, lines)
}

/// The terminal report. Long runs of one kind of action, file or allocation show their first
/// few and a count ([`fold`]).
pub fn text(plan: &Plan, d: &Desired) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "xenflux plan for cluster {}{}\n",
        plan.cluster,
        target_suffix(plan.target.as_ref())
    );
    let _ = writeln!(s, "Allocations:");
    let (lines, folds) = folded_allocations(plan, d);
    for l in lines.iter().chain(&folds) {
        let _ = writeln!(s, "  {l}");
    }
    let total = plan.stages.len();
    for (i, stage) in plan.stages.iter().enumerate() {
        let _ = writeln!(s, "\nStage {}/{total}: {}", i + 1, stage.title);
        let (shown, folds) = folded_actions(&stage.actions);
        for a in shown {
            let _ = writeln!(s, "  [{}] {}", a.node(), a.describe());
            for c in a.checks() {
                let _ = writeln!(s, "      check: {} ($ {})", c.describe(), c.cmd().display());
            }
            for c in a.cmds(&[]) {
                let _ = writeln!(s, "      $ {}", c.display());
            }
        }
        for l in folds {
            let _ = writeln!(s, "  {l}");
        }
    }
    if !plan.files.is_empty() {
        let _ = writeln!(s, "\nFiles:");
        let (shown, folds) = folded_files(&plan.files);
        for f in shown {
            s.push_str(&diff(f));
        }
        for l in folds {
            let _ = writeln!(s, "  {l}");
        }
    }
    if !plan.blocked.is_empty() {
        let _ = writeln!(s, "\nBlocked:");
        for b in &plan.blocked {
            let _ = writeln!(s, "  {}: {}", b.object, b.reason);
            for w in &b.would {
                let _ = writeln!(s, "      would: {w}");
            }
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(s, "\nWarnings:");
        for w in &plan.warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    let _ = writeln!(s, "\n{}", summary(plan));
    s
}

/// A pull-request comment: folded as [`text`], and cut to [`fold::COMMENT_LIMIT`] characters
/// with a note of what was left out (blocked items and warnings first, then actions, diffs
/// and allocations).
pub fn markdown(plan: &Plan, d: &Desired) -> String {
    markdown_within(plan, d, fold::COMMENT_LIMIT)
}

fn markdown_within(plan: &Plan, d: &Desired, limit: usize) -> String {
    let mut b = fold::Budget::default();
    b.text(format!(
        "## xenflux plan for cluster `{}`{}\n\n**{}**\n\n",
        plan.cluster,
        target_suffix(plan.target.as_ref()),
        summary(plan)
    ));
    let (lines, folds) = folded_allocations(plan, d);
    b.part(
        4,
        "allocation lines",
        "<details><summary>Allocations</summary>\n\n".into(),
        lines
            .iter()
            .chain(&folds)
            .map(|l| format!("- {l}\n"))
            .collect(),
        "\n</details>\n\n".into(),
    );
    for (i, stage) in plan.stages.iter().enumerate() {
        let (shown, folds) = folded_actions(&stage.actions);
        let mut items: Vec<String> = shown
            .into_iter()
            .map(|a| {
                let cmds: Vec<String> = a
                    .cmds(&[])
                    .iter()
                    .map(|c| format!("`{}`", c.display()))
                    .collect();
                format!(
                    "- **{}** {} — {}\n",
                    a.node(),
                    a.describe(),
                    cmds.join(", ")
                )
            })
            .collect();
        items.extend(folds.iter().map(|l| format!("- {l}\n")));
        b.part(
            2,
            "action lines",
            format!("### Stage {}: {}\n\n", i + 1, stage.title),
            items,
            "\n".into(),
        );
    }
    if !plan.files.is_empty() {
        let (shown, folds) = folded_files(&plan.files);
        let tail: String = folds.iter().map(|l| format!("- {l}\n")).collect();
        let tail = if tail.is_empty() {
            "```\n\n".to_string()
        } else {
            format!("```\n\n{tail}\n")
        };
        b.part(
            3,
            "file diffs",
            "### Files\n\n```diff\n".into(),
            shown.into_iter().map(diff).collect(),
            tail,
        );
    }
    if !plan.blocked.is_empty() {
        b.part(
            1,
            "blocked items",
            "### Blocked\n\n".into(),
            plan.blocked
                .iter()
                .map(|x| format!("- `{}`: {}\n", x.object, x.reason))
                .collect(),
            "\n".into(),
        );
    }
    if !plan.warnings.is_empty() {
        b.part(
            1,
            "warnings",
            "### Warnings\n\n".into(),
            plan.warnings.iter().map(|w| format!("- {w}\n")).collect(),
            String::new(),
        );
    }
    b.finish(limit, "`xenflux plan --format json` has everything")
}

/// The plan as JSON (stable: the serialised [`Plan`]).
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default() + "\n"
}

/// A POSIX shell script with the same commands in the same order. `on NODE 'CMD'` runs CMD on
/// this machine when its hostname is NODE, else over ssh with the node's `ssh` settings.
pub fn shell(plan: &Plan, d: &Desired) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# xenflux plan for cluster {}{} — read it before you run it.",
        plan.cluster,
        target_suffix(plan.target.as_ref())
    );
    let simulated = plan.target.as_ref().is_some_and(TargetName::is_simulated);
    if simulated {
        let _ = writeln!(
            s,
            "# PLANNED AGAINST THE SIMULATED CLUSTER, NOT REAL NODES: these are the commands for\n\
             # nodes that look like the simulator's. Make the plan with --target ssh before running\n\
             # it on real nodes (XENFLUX_RUN_SIMULATED_PLAN=yes runs it anyway)."
        );
    }
    let _ = writeln!(s, "# {}", summary(plan));
    let _ = writeln!(s, "set -eu\n");
    if simulated {
        let _ = writeln!(
            s,
            "if [ \"${{XENFLUX_RUN_SIMULATED_PLAN:-}}\" != yes ]; then\n  \
             echo 'refusing: this script was planned against the simulated cluster, not real nodes (XENFLUX_RUN_SIMULATED_PLAN=yes runs it anyway)' >&2\n  \
             exit 1\nfi\n"
        );
    }
    let _ = writeln!(s, "on() {{");
    let _ = writeln!(s, "  node=$1; cmd=$2");
    let _ = writeln!(s, "  case $node in");
    for (name, n) in &d.nodes {
        let (user, host, port) = match &n.ssh {
            Some(ssh) => (ssh.user.clone(), ssh.host.clone(), ssh.port),
            None => (None, n.address.to_string(), None),
        };
        let target = match user {
            Some(u) => format!("{u}@{host}"),
            None => host,
        };
        let target = crate::transport::shell_quote(&target);
        let port = port.map_or(String::new(), |p| format!("-p {p}"));
        let _ = writeln!(s, "    {name}) target={target}; opts='{port}' ;;");
    }
    let _ = writeln!(s, "    *) echo \"unknown node $node\" >&2; exit 1 ;;");
    let _ = writeln!(s, "  esac");
    let _ = writeln!(s, "  echo \"[$node] $cmd\" >&2");
    let _ = writeln!(s, "  if [ \"$(hostname)\" = \"$node\" ]; then sh -c \"$cmd\"; else ssh $opts -- \"$target\" \"$cmd\"; fi");
    let _ = writeln!(s, "}}");
    for (i, stage) in plan.stages.iter().enumerate() {
        let _ = writeln!(s, "\n# Stage {}: {}", i + 1, stage.title);
        for a in &stage.actions {
            let _ = writeln!(s, "# {}: {}", a.node(), a.describe());
            for c in a.checks() {
                check_line(&mut s, a.node().as_str(), &c);
            }
            for c in a.cmds(&[]) {
                line(&mut s, a.node().as_str(), &c);
            }
        }
    }
    for b in &plan.blocked {
        let _ = writeln!(s, "\n# BLOCKED {}: {}", b.object, b.reason);
        for w in &b.would {
            let _ = writeln!(s, "#   would: {w}");
        }
    }
    s
}

/// A check as the script runs it: the read, then a stop unless it found the device blank
/// (blkid's exit 2 means "nothing found"; drbdmeta says "No valid meta data found", or that an
/// indexed slot lies beyond its device's end).
fn check_line(s: &mut String, node: &str, c: &Check) {
    let quoted = crate::transport::shell_quote(&c.cmd().display());
    let what = crate::transport::shell_quote(&c.describe());
    let _ = writeln!(s, "rc=0; out=$(on {node} {quoted} 2>&1) || rc=$?");
    let accept = match c {
        Check::NoSignature { .. } => "[ \"$rc\" -eq 2 ]",
        Check::NoMetaDataInUse { .. } => {
            "case $out in *'No valid meta data found'*|*'Device too small'*) true ;; *) false ;; esac"
        }
    };
    let _ = writeln!(
        s,
        "{accept} || {{ echo \"refusing: expected \"{what}\": $out\" >&2; exit 1; }}"
    );
}

fn line(s: &mut String, node: &str, c: &Cmd) {
    let quoted = crate::transport::shell_quote(&c.display());
    match &c.stdin {
        None => {
            let _ = writeln!(s, "on {node} {quoted}");
        }
        Some(input) => {
            let mut marker = "XENFLUX_EOF".to_string();
            while input.lines().any(|l| l == marker) {
                marker.push('_');
            }
            let _ = writeln!(s, "on {node} {quoted} <<'{marker}'");
            s.push_str(input);
            if !input.ends_with('\n') {
                s.push('\n');
            }
            let _ = writeln!(s, "{marker}");
        }
    }
}

/// `xenflux status` for a terminal: what each node, volume and domain looks like, and the
/// drift from the desired state in an operator's words (see [`Status`]).
pub fn status(d: &Desired, observed: &crate::observe::Observed, plan: &Plan) -> String {
    Status::new(d, observed, plan).text()
}
