//! The commands that talk to a cluster: `plan`, `apply`, `status` and `sim`. The default
//! target is the simulated cluster kept in `STATE_DIR/sim.json`, created from the Node
//! documents on first use; `--target ssh` reaches the real nodes. Targets are opened by
//! [`crate::target::open_target`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Subcommand, ValueEnum};

use crate::exec::{Event, Lock};
use crate::plan::Plan;
use crate::reconcile::{
    self, approve, plan_for, Applied, ApplyCtx, Intent, ReconcileError, Snapshot,
};
use crate::sim::{SimCluster, SimOptions};
use crate::target::{open_target, sim_path, Target, TargetHandle, TargetName};

use super::read_state;

/// Plan report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
    Sh,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Print the simulated cluster's state (one node with --node).
    Show {
        #[arg(long)]
        node: Option<String>,
    },
    /// Cut the controller's network to a node: it runs on and its DRBD peers stay connected
    /// to it. With --up, restore every network of the node (as `sim heal`).
    FailNode {
        node: String,
        #[arg(long)]
        up: bool,
    },
    /// Pull a node's plug: it is off and unreachable, its domains, DRBD devices and mounts are
    /// gone (its disks keep their data), its peers' resources go WFConnection.
    CrashNode { node: String },
    /// Cut a node from the controller and from its DRBD peers while it keeps running: its
    /// domains run on, its resources go WFConnection on both sides.
    IsolateNode { node: String },
    /// Restore every network of a node (after fail-node or isolate-node): its resources
    /// reconnect, resyncing or finding a split brain. A node that is off stays off.
    Heal { node: String },
    /// Power control, as a fence agent: `off` (exit 0 once the node is off, also when it
    /// was off already), `on` (boot: no domains, DRBD resources up as Secondary, connecting),
    /// `status` (exit 0 when off, 3 when on).
    Power { node: String, action: PowerAction },
    /// Make the next N commands whose argv contains PATTERN fail.
    FailNext {
        pattern: String,
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Make a DRBD resource diverge into split brain (StandAlone on both nodes).
    SplitBrain { resource: String },
    /// Writes to a snapshot's origin fill its copy-on-write space by PERCENT (default 100:
    /// full, and LVM marks the snapshot invalid).
    FillSnapshot {
        node: String,
        /// The snapshot LV (`NAME.snap`).
        lv: String,
        #[arg(long, default_value_t = 100.0)]
        percent: f64,
    },
    /// Throw the simulated cluster away: the next command starts from fresh dom0s (with
    /// --vg-size, they are created now, each with a volume group of that size; default 2TiB).
    Reset {
        #[arg(long, value_name = "SIZE")]
        vg_size: Option<crate::model::Size>,
    },
    /// Run one command on a node of the simulated cluster in FILE, after mirroring this
    /// machine's real LVM volume group, links and configuration files into that node (what the
    /// tool shims of hybrid test nodes call); prints its output and exits with its status.
    Exec {
        /// The simulated cluster (as `sim show` or `sim reset --vg-size` create it); locked
        /// with flock on FILE.lock for the whole call.
        #[arg(long, value_name = "FILE")]
        sim: PathBuf,
        /// The simulated node to run as.
        #[arg(long)]
        node: String,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "ARGV")]
        argv: Vec<String>,
    },
}

/// `sim power` actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PowerAction {
    Off,
    On,
    Status,
}

/// What a command runs on: the target and what opening it needs.
#[derive(Clone, Copy, Debug)]
pub struct On<'a> {
    pub target: Target,
    pub state_dir: &'a Path,
    pub ssh_config: Option<&'a Path>,
}

impl On<'_> {
    /// Opens the target for a desired state.
    pub fn open(&self, desired: &crate::model::Desired) -> Result<TargetHandle> {
        Ok(open_target(
            self.target,
            desired,
            self.state_dir,
            self.ssh_config,
        )?)
    }

    /// How reports name the target opened for a desired state.
    pub fn name(&self, desired: &crate::model::Desired) -> TargetName {
        TargetName::of(self.target, desired, self.state_dir, self.ssh_config)
    }
}

pub(super) fn print_invalid(e: ReconcileError) -> Result<ExitCode> {
    match e {
        ReconcileError::Invalid(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s): nothing was changed", diags.len());
            Ok(ExitCode::from(1))
        }
        other => Err(other.into()),
    }
}

/// Validates, opens the target and observes it.
fn target_snapshot(
    state: &Path,
    rev: Option<&str>,
    on: &On,
) -> Result<Result<(TargetHandle, Snapshot), ExitCode>> {
    let sources = read_state(state, rev)?;
    snapshot_of(&sources, on)
}

/// Validates `sources`, opens the target and observes it.
pub(super) fn snapshot_of(
    sources: &[crate::load::Source],
    on: &On,
) -> Result<Result<(TargetHandle, Snapshot), ExitCode>> {
    let first = match crate::validate::validate(sources, &Default::default()) {
        Ok(v) => v,
        Err(diags) => return Ok(Err(print_invalid(ReconcileError::Invalid(diags))?)),
    };
    let handle = on.open(&first.desired)?;
    match reconcile::snapshot_of(first, handle.transport())
        .and_then(|s| reconcile::with_ha(s, on.state_dir))
    {
        Ok(s) => {
            for w in &s.validated.warnings {
                eprintln!("{w}");
            }
            Ok(Ok((handle, s)))
        }
        Err(e) => Ok(Err(print_invalid(e)?)),
    }
}

pub fn cmd_plan(
    state: &Path,
    rev: Option<&str>,
    on: &On,
    format: PlanFormat,
    out: Option<&Path>,
    prune: bool,
) -> Result<ExitCode> {
    let (handle, snap) = match target_snapshot(state, rev, on)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    handle.finish()?;
    let d = &snap.validated.desired;
    let plan = Plan {
        target: Some(on.name(d)),
        ..plan_for(&snap, prune)?
    };
    let text = match format {
        PlanFormat::Text => crate::report::text(&plan, d),
        PlanFormat::Markdown => crate::report::markdown(&plan, d),
        PlanFormat::Json => crate::report::json(&plan),
        PlanFormat::Sh => crate::report::shell(&plan, d),
    };
    print!("{text}");
    if let Some(path) = out {
        crate::fsutil::write_atomic(path, crate::report::json(&plan))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("plan saved to {}", path.display());
    }
    // Blocked items are drift too: 0 only with nothing to do and nothing blocked.
    let code = if plan.is_empty() && plan.blocked.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    };
    // The process ends with this command: the system takes a large estate's memory back at
    // once, faster than freeing it piece by piece (a tenth of a 64-node plan's time).
    std::mem::forget((snap, plan, text));
    Ok(code)
}

pub fn cmd_apply(
    state: &Path,
    rev: Option<&str>,
    on: &On,
    saved: Option<&Path>,
    yes: bool,
    prune: bool,
) -> Result<ExitCode> {
    // Held across observing, planning and applying: what is applied is what was planned.
    let lock = Lock::acquire(on.state_dir)?;
    let sources = read_state(state, rev)?;
    let (handle, snap) = match snapshot_of(&sources, on)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let saved_plan = saved.map(crate::plan::saved::read).transpose()?;
    let saved_name = saved.map(|p| p.display().to_string());
    let intent = match (&saved_name, &saved_plan) {
        (Some(path), Some(plan)) => Intent::Saved { path, plan },
        _ => Intent::Fresh,
    };
    let approved = approve(&lock, &snap, prune, intent)?;
    for (dom, p) in approved.failed_back() {
        println!(
            "Domain {dom} is back from {} (failed over there from {} at {}): failback done.",
            p.node, p.from, p.at
        );
    }
    let d = &snap.validated.desired;
    let plan = &Plan {
        target: Some(on.name(d)),
        ..approved.plan().clone()
    };
    if plan.is_empty() {
        // The simulator moves on while it is observed (a resync progresses): kept.
        handle.finish()?;
        print!("{}", crate::report::text(plan, d));
        return Ok(blocked_code(plan));
    }
    if !yes && !confirm(plan, d)? {
        println!("Nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = ApplyCtx::new(&sources, handle.transport());
    let applied = reconcile::apply(approved, &ctx, &mut print_progress);
    handle.finish()?;
    print_applied(&applied);
    Ok(apply_code(&applied))
}

/// Shows the plan and asks on the terminal; true to go on.
fn confirm(plan: &Plan, d: &crate::model::Desired) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("apply changes the cluster: without a terminal to confirm on, pass --yes");
    }
    print!("{}", crate::report::text(plan, d));
    print!("Apply these {} action(s)? [y/N] ", plan.action_count());
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// What an apply did: what ran, what failed, what was skipped because of it, what was rolled
/// back.
pub(super) fn print_applied(a: &Applied) {
    println!("Applied {} action(s).", a.ran.len());
    // What the observation after the apply found: what a `plan` run now would say.
    if let Ok(after) = &a.after {
        let p = &after.plan;
        if p.is_empty() && p.blocked.is_empty() {
            println!("Observed again: the cluster matches the desired state.");
        } else {
            println!(
                "Observed again: {} action(s) still to do, {} item(s) blocked (`xenflux plan` shows them).",
                p.action_count(),
                p.blocked.len()
            );
        }
    }
    for r in &a.rolled_back {
        let kept = r
            .kept_on
            .as_ref()
            .map_or(String::new(), |n| format!(" (it runs on {n})"));
        println!(
            "Rolled back the failed migration of {}{kept}: {} step(s).",
            r.domain,
            r.ran.len()
        );
        for x in &r.ran {
            println!("  {}: {}", x.node(), x.describe());
        }
        if let Some(p) = &r.problem {
            eprintln!("xenflux: rollback of {}: {p}", r.domain);
        }
    }
    if !a.failed.is_empty() {
        eprintln!("xenflux: {} action(s) failed:", a.failed.len());
        for f in &a.failed {
            eprintln!("  {} — {f}", f.object);
        }
    }
    if !a.skipped.is_empty() {
        eprintln!(
            "xenflux: {} action(s) skipped because of a failure:",
            a.skipped.len()
        );
        for s in &a.skipped {
            eprintln!(
                "  {}: {}: {} (because {} failed)",
                s.action.node(),
                s.object,
                s.action.describe(),
                s.because
            );
        }
    }
    if let Some((done, total)) = a.interrupted {
        eprintln!("xenflux: stopped after stage {done} of {total} as asked");
    }
    if let Err(e) = &a.after {
        eprintln!("xenflux: observing after the apply: {e}");
    }
}

/// 0 when everything planned ran and was verified and nothing is blocked; 1 when an action
/// failed (or was skipped because of one); 2 when items remain blocked.
fn apply_code(a: &Applied) -> ExitCode {
    if !a.complete() {
        return ExitCode::from(1);
    }
    blocked_code(&a.plan)
}

pub(super) fn print_progress(e: Event) {
    match e {
        Event::Stage {
            index,
            total,
            title,
        } => println!("[{index}/{total}] {title}"),
        Event::Action { node, action, ok } => {
            println!(
                "  {} {node}: {}",
                if ok { "ok  " } else { "FAIL" },
                action.describe()
            )
        }
        Event::Skipped {
            node,
            action,
            because,
        } => println!("  skip {node}: {} ({because} failed)", action.describe()),
        Event::Waiting {
            node,
            action,
            detail,
            wait,
        } => println!(
            "  wait {node}: {}: {detail}; looking again in {:.1} s",
            action.describe(),
            wait.as_secs_f64()
        ),
    }
}

/// Exit status of an apply that ran everything it could: 0, or 2 when items stay blocked (the
/// cluster is not as desired, and will not become so without a person or a later pass).
fn blocked_code(plan: &Plan) -> ExitCode {
    if plan.blocked.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "xenflux: {} item(s) remain blocked (see the report); exit status 2",
        plan.blocked.len()
    );
    ExitCode::from(2)
}

/// `status`: exit 0 when the cluster is as desired, 2 when drift or blocked items remain.
pub fn cmd_status(
    state: &Path,
    rev: Option<&str>,
    on: &On,
    format: super::Format,
) -> Result<ExitCode> {
    let (handle, snap) = match target_snapshot(state, rev, on)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    handle.finish()?;
    let d = &snap.validated.desired;
    let plan = Plan {
        target: Some(on.name(d)),
        ..plan_for(&snap, false)?
    };
    let status = crate::report::Status::with_ha(d, &snap.observed, &plan, &snap.ha);
    match format {
        super::Format::Text => print!("{}", status.text()),
        super::Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
    }
    Ok(if status.in_sync {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The volume group size `sim reset --vg-size` accepts: one 4 MiB extent to 1 PiB.
const SIM_VG_MIN: u64 = 4 << 20;
const SIM_VG_MAX: u64 = 1 << 50;

pub fn cmd_sim(
    state: &Path,
    rev: Option<&str>,
    state_dir: &Path,
    cmd: SimCommand,
) -> Result<ExitCode> {
    if let SimCommand::Exec { sim, node, argv } = &cmd {
        return super::simexec::cmd_sim_exec(sim, node, argv);
    }
    refuse_if_an_ancestor_holds(&sim_path(state_dir))?;
    if let SimCommand::Reset { vg_size } = &cmd {
        // Everything is checked before the old cluster goes: a refused reset changes nothing.
        let fresh = match vg_size {
            None => None,
            Some(size) => {
                if !(SIM_VG_MIN..=SIM_VG_MAX).contains(&size.bytes()) {
                    bail!(
                        "--vg-size {size}: a simulated volume group holds 4MiB (one extent) to 1PiB"
                    );
                }
                let sources = read_state(state, rev)?;
                match crate::validate::validate(&sources, &Default::default()) {
                    Ok(v) => Some((v, *size)),
                    Err(diags) => return print_invalid(ReconcileError::Invalid(diags)),
                }
            }
        };
        let path = sim_path(state_dir);
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let _lock = crate::target::lock_sim(&path)?;
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        let Some((v, size)) = fresh else {
            println!("simulated cluster reset: the next command starts from fresh dom0s");
            return Ok(ExitCode::SUCCESS);
        };
        let sim = SimCluster::fresh(
            &v.desired,
            &SimOptions {
                vg_size: size.bytes(),
                ..SimOptions::default()
            },
        );
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        sim.save(&path)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        println!("simulated cluster reset: fresh dom0s with {size} volume groups");
        return Ok(ExitCode::SUCCESS);
    }
    let sources = read_state(state, rev)?;
    let v = match crate::validate::validate(&sources, &Default::default()) {
        Ok(v) => v,
        Err(diags) => return print_invalid(ReconcileError::Invalid(diags)),
    };
    let handle = open_target(Target::Sim, &v.desired, state_dir, None)?;
    let Some(sim) = handle.sim() else {
        bail!("the simulated cluster did not open");
    };
    match cmd {
        SimCommand::Show { node } => match node {
            Some(n) => match sim.node(&n) {
                Some(view) => println!("{}", serde_json::to_string_pretty(&view)?),
                None => bail!("the simulated cluster has no node `{n}`"),
            },
            None => println!("{}", sim.to_json()),
        },
        SimCommand::FailNode { node, up } => {
            let powered = known_node(sim, &node)?;
            if up {
                sim.heal_node(&node);
                println!("{node}: every network restored{}", off_note(&node, powered));
            } else {
                sim.set_node_down(&node, true);
                println!("{node} is unreachable from the controller (it runs on; its DRBD peers still reach it)");
            }
        }
        SimCommand::CrashNode { node } => {
            known_node(sim, &node)?;
            sim.crash_node(&node);
            println!(
                "{node} crashed: powered off, its domains and DRBD devices gone, its disks kept"
            );
        }
        SimCommand::IsolateNode { node } => {
            let powered = known_node(sim, &node)?;
            sim.isolate_node(&node);
            println!(
                "{node} is cut from the controller and its DRBD peers{}",
                if powered {
                    " (it runs on)"
                } else {
                    " (it is off)"
                }
            );
        }
        SimCommand::Heal { node } => {
            let powered = known_node(sim, &node)?;
            sim.heal_node(&node);
            println!("{node}: every network restored{}", off_note(&node, powered));
        }
        SimCommand::Power { node, action } => {
            let powered = known_node(sim, &node)?;
            match action {
                PowerAction::Off => {
                    sim.power_off(&node);
                    println!("{node}: power is off");
                }
                PowerAction::On => {
                    sim.power_on(&node);
                    let still_cut = sim.node(&node).is_some_and(|v| !v.reachable);
                    println!(
                        "{node}: power is on{}",
                        if still_cut {
                            format!(" (still cut off: `xenflux sim heal {node}`)")
                        } else {
                            String::new()
                        }
                    );
                }
                PowerAction::Status => {
                    println!("{node}: power is {}", if powered { "on" } else { "off" });
                    handle.finish()?;
                    return Ok(if powered {
                        ExitCode::from(3)
                    } else {
                        ExitCode::SUCCESS
                    });
                }
            }
        }
        SimCommand::FailNext { pattern, count } => {
            if count == 0 {
                bail!("--count must be at least 1: nothing was changed");
            }
            sim.fail_next(&pattern, count);
            println!("the next {count} command(s) matching `{pattern}` will fail");
        }
        SimCommand::SplitBrain { resource } => {
            let up_on = sim
                .node_names()
                .into_iter()
                .filter(|n| sim.node(n).is_some_and(|v| v.drbd.contains_key(&resource)))
                .count();
            if up_on == 0 {
                bail!("no node of the simulated cluster has the DRBD resource `{resource}` up: nothing was changed");
            }
            sim.split_brain(&resource);
            println!("{resource} is in split brain: StandAlone on its nodes, data diverged");
        }
        SimCommand::FillSnapshot { node, lv, percent } => {
            if !(0.0..=100.0).contains(&percent) {
                bail!("--percent must be 0 to 100: nothing was changed");
            }
            let used = sim
                .fill_snapshot(&node, &lv, (percent * 100.0).round() as u32)
                .map_err(|e| anyhow!("{e}: nothing was changed"))?;
            println!(
                "snapshot {lv} on {node}: {}.{:02}% of its copy-on-write space used{}",
                used / 100,
                used % 100,
                if used >= 10_000 {
                    " (full: invalid)"
                } else {
                    ""
                }
            );
        }
        SimCommand::Reset { .. } | SimCommand::Exec { .. } => {}
    }
    handle.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Whether a node of the simulated cluster is powered on; an error naming it when the cluster
/// has no such node.
fn known_node(sim: &SimCluster, node: &str) -> Result<bool> {
    sim.powered(node)
        .ok_or_else(|| anyhow!("the simulated cluster has no node `{node}`"))
}

fn off_note(node: &str, powered: bool) -> String {
    if powered {
        String::new()
    } else {
        format!(" (it is still off: `xenflux sim power {node} on` boots it)")
    }
}

/// A `sim` command run by a process that holds the simulated cluster open (a fence agent the
/// controller runs while it observes through the simulator) would wait for it until the lock
/// times out, and its change would be overwritten when the holder saves: refused at once, with
/// what the holder has to do. Nothing is changed.
fn refuse_if_an_ancestor_holds(path: &Path) -> Result<()> {
    let lock = crate::fsutil::lock_path(path);
    if !lock.exists() || crate::fsutil::FileLock::try_acquire(&lock)?.is_some() {
        return Ok(());
    }
    let holder = crate::fsutil::holder(&lock);
    let Some(pid) = holder
        .strip_prefix("pid ")
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return Ok(());
    };
    if ancestors().contains(&pid) {
        bail!(
            "the simulated cluster {} is held by pid {pid}, which runs this command: it must save and release the simulated cluster before running `xenflux sim` (a fence command), or this would wait for it forever; nothing was changed",
            path.display()
        );
    }
    Ok(())
}

/// This process's parent, its parent, ... up to (not including) init, as /proc tells.
fn ancestors() -> Vec<u32> {
    let mut out = Vec::new();
    let mut pid = std::os::unix::process::parent_id();
    while pid > 1 && out.len() < 64 {
        out.push(pid);
        // `PID (COMM) STATE PPID ...`: COMM may hold spaces and parentheses.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        pid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
    }
    out
}
