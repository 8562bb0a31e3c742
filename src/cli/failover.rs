//! The node-loss commands: `plan --assume-dead NODE` (what a failover would do now, N+1 as a
//! plan), `failover NODE [--confirm-fenced]` and `failback DOMAIN`. They print what
//! [`crate::ha`] returns and map it to exit codes: 0 done, 2 done with items still blocked,
//! 1 refused, not confirmed or failed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::exec::Lock;
use crate::ha::{self, By, Confirm, Outcome, Request};
use crate::model::Name;
use crate::plan::Plan;
use crate::reconcile::plan_for;
use crate::target::open_target;

use super::cluster::{print_applied, print_progress, snapshot_of, On, PlanFormat};
use super::read_state;

fn node_name(node: &str, d: &crate::model::Desired) -> Result<Name> {
    match node.parse::<Name>() {
        Ok(n) if d.nodes.contains_key(&n) => Ok(n),
        _ => {
            let known: Vec<&str> = d.nodes.keys().map(|k| k.as_str()).collect();
            bail!("unknown node `{node}` (nodes: {})", known.join(", "))
        }
    }
}

/// `plan --assume-dead NODE`: the fence that would run and the plan with NODE dead and fenced.
pub fn cmd_plan_assume_dead(
    state: &Path,
    rev: Option<&str>,
    on: &On,
    node: &str,
    format: PlanFormat,
) -> Result<ExitCode> {
    let sources = read_state(state, rev)?;
    let (handle, snap) = match snapshot_of(&sources, on)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    handle.finish()?;
    let d = snap.validated.desired.clone();
    let node = node_name(node, &d)?;
    let fence = match d.nodes[&node].fence.as_ref() {
        Some(f) => format!(
            "If {node} were lost now, `xenflux failover {node}` would run its fence (on this machine, within {}): {}\n{}",
            f.timeout,
            ha::fence::shown(&f.command),
            match &f.status {
                Some(s) => format!("  and, if that fails, ask with: {}\n", ha::fence::shown(s)),
                None => String::new(),
            }
        ),
        None => format!(
            "If {node} were lost now: it has no fence declared; a person powers it off, then runs \
             `xenflux failover {node} --confirm-fenced`\n"
        ),
    };
    let dead = ha::assume_dead(snap, &node, By::Operator);
    let plan = Plan {
        target: Some(on.name(&d)),
        ..plan_for(&dead, false)?
    };
    let capacity = ha::capacity(&d, &dead.observed, &plan, &node);
    let text = match format {
        PlanFormat::Json => {
            let fence_json = d.nodes[&node].fence.as_ref().map(|f| {
                serde_json::json!({
                    "command": f.command,
                    "status": f.status,
                    "timeout": f.timeout.to_string(),
                })
            });
            let body = serde_json::json!({
                "assumeDead": node,
                "fence": fence_json,
                "capacity": capacity,
                "plan": serde_json::from_str::<serde_json::Value>(&crate::report::json(&plan))?,
            });
            serde_json::to_string_pretty(&body)? + "\n"
        }
        PlanFormat::Text => format!(
            "{fence}Memory after the failover (MiB):\n{}\n{}",
            lines(&capacity),
            crate::report::text(&plan, &d)
        ),
        PlanFormat::Markdown => format!(
            "{fence}Memory after the failover (MiB):\n{}\n{}",
            lines(&capacity),
            crate::report::markdown(&plan, &d)
        ),
        PlanFormat::Sh => crate::report::shell(&plan, &d),
    };
    print!("{text}");
    Ok(
        if plan
            .blocked
            .iter()
            .any(|b| b.object != format!("node/{node}"))
        {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn lines(l: &[String]) -> String {
    l.iter().map(|x| format!("  {x}\n")).collect()
}

/// Asks on the terminal; true to go on.
fn ask(what: &str, plan: &Plan, d: &crate::model::Desired) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("failover fences and starts domains: without a terminal to confirm on, pass --yes");
    }
    print!("{}", crate::report::text(plan, d));
    print!("{what}? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `failover NODE [--confirm-fenced] [--yes]`.
pub fn cmd_failover(
    state: &Path,
    rev: Option<&str>,
    on: &On,
    node: &str,
    confirm_fenced: bool,
    yes: bool,
) -> Result<ExitCode> {
    let lock = Lock::acquire(on.state_dir)?;
    let sources = read_state(state, rev)?;
    let first = match crate::validate::validate(&sources, &Default::default()) {
        Ok(v) => v,
        Err(diags) => {
            return super::cluster::print_invalid(crate::reconcile::ReconcileError::Invalid(diags))
        }
    };
    let d = first.desired;
    let node = node_name(node, &d)?;
    let mut asked: Option<anyhow::Error> = None;
    let mut ask_fn = |what: &str, plan: &Plan| -> bool {
        if yes {
            println!("{what}.");
            return true;
        }
        match ask(what, plan, &d) {
            Ok(a) => a,
            Err(e) => {
                asked = Some(e);
                false
            }
        }
    };
    let desired = d.clone();
    let mut open = || open_target(on.target, &desired, on.state_dir, on.ssh_config);
    let outcome = ha::failover(
        &lock,
        Request {
            guard: None,
            node: &node,
            confirm: if confirm_fenced {
                Confirm::Operator
            } else {
                Confirm::Fence
            },
            sources: &sources,
            open: &mut open,
            settle: Some(crate::exec::SETTLE),
            journal: true,
            ask: &mut ask_fn,
            progress: &mut print_progress,
        },
    );
    if let Some(e) = asked {
        return Err(e);
    }
    match outcome? {
        Outcome::Refused { why } => {
            eprintln!("xenflux: failover of {node} refused: {why}");
            Ok(ExitCode::from(1))
        }
        Outcome::NotConfirmed { why, what_to_do } => {
            eprintln!("xenflux: the fence of {node} is NOT confirmed: {why}");
            eprintln!("Nothing was started. What to do: {what_to_do}");
            Ok(ExitCode::from(1))
        }
        Outcome::Declined => {
            println!("Nothing was changed.");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::FailedOver(f) => {
            let r = &f.record;
            if f.already {
                println!(
                    "{node} was already recorded as fenced (by {} at {}).",
                    r.by, r.fenced_at
                );
            } else {
                println!("{node} is fenced (by {}): {}", r.by, r.how);
                println!(
                    "Recorded in {}.",
                    ha::record::record_path(lock.state_dir(), &node).display()
                );
            }
            print_applied(&f.applied);
            for (dom, to) in &f.placed {
                println!("Domain {dom} failed over to {to}.");
            }
            if !f.applied.complete() {
                return Ok(ExitCode::from(1));
            }
            let left: Vec<_> = f
                .applied
                .plan
                .blocked
                .iter()
                .filter(|b| b.object != format!("node/{node}"))
                .collect();
            if left.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("xenflux: {} item(s) remain blocked:", left.len());
            for b in left {
                eprintln!("  {}: {}", b.object, b.reason);
            }
            Ok(ExitCode::from(2))
        }
    }
}

/// `failback DOMAIN`.
pub fn cmd_failback(state_dir: &Path, domain: &str) -> Result<ExitCode> {
    let Ok(name) = domain.parse::<Name>() else {
        bail!("`{domain}` is not a domain name");
    };
    let _lock = Lock::acquire(state_dir)?;
    match ha::failback(state_dir, &name) {
        Ok(p) => {
            println!(
                "Domain {name} is no longer kept on {} (failed over from {} at {}): the next apply moves it to \
                 its preferred node once that node is healthy.",
                p.node, p.from, p.at
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("xenflux: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
