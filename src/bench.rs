//! `xenflux bench`: a generated estate of two-node pairs, timed through every step of a
//! reconcile against the simulated cluster — load, validate, observe, plan, apply — first on
//! fresh dom0s, then once more on the converged cluster. Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use crate::exec::Executor;
use crate::generate::{estate, Estate};
use crate::reconcile::{observe_cluster, plan_for, Snapshot};
use crate::sim::{SimCluster, SimOptions};

/// One timed step.
pub struct Step {
    pub name: String,
    pub took: Duration,
    pub detail: String,
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The steps so far, and who hears of each as it completes.
struct Steps<'a> {
    done: Vec<Step>,
    report: &'a mut dyn FnMut(&Step),
}

fn timed<T>(steps: &mut Steps, name: &str, f: impl FnOnce() -> (T, String)) -> T {
    let start = Instant::now();
    let (value, detail) = f();
    let step = Step {
        name: name.to_string(),
        took: start.elapsed(),
        detail,
    };
    (steps.report)(&step);
    steps.done.push(step);
    value
}

/// Runs the benchmark, telling `report` of each step as it completes; the steps in order, or
/// what failed.
pub fn run(
    e: Estate,
    dir: &std::path::Path,
    report: &mut dyn FnMut(&Step),
) -> Result<Vec<Step>, String> {
    let mut steps = Steps {
        done: Vec::new(),
        report,
    };
    for (name, text) in estate(e) {
        crate::fsutil::write_atomic(&dir.join(&name), text)
            .map_err(|err| format!("writing {name}: {err}"))?;
    }
    let sources = timed(&mut steps, "load", || {
        let s = crate::load::from_dir(dir);
        let n = s.as_ref().map_or(0, |s| s.len());
        (s, format!("{n} files"))
    })
    .map_err(|err| err.to_string())?;
    let first = timed(&mut steps, "validate + allocate", || {
        let v = crate::validate::validate(&sources, &Default::default());
        let detail = match &v {
            Ok(v) => format!(
                "{} volumes, {} domains",
                v.desired.volumes.len(),
                v.desired.domains.len()
            ),
            Err(d) => format!("{} problems", d.len()),
        };
        (v, detail)
    })
    .map_err(|d| {
        format!(
            "the generated estate is invalid: {}",
            d.first().map(|x| x.to_string()).unwrap_or_default()
        )
    })?;
    // Each pair holds up to 255 volumes of 4-32 GiB: give the VGs room for them.
    let opts = SimOptions {
        vg_size: 16 << 40,
        ..SimOptions::default()
    };
    let sim = SimCluster::fresh(&first.desired, &opts);
    for round in ["fresh", "converged"] {
        let observed = timed(&mut steps, &format!("observe ({round})"), || {
            (
                observe_cluster(&first, &sim),
                format!("{} nodes", first.desired.nodes.len()),
            )
        });
        let existing = observed.existing();
        let v = timed(
            &mut steps,
            &format!("validate with observed ({round})"),
            || {
                (
                    crate::validate::validate(&sources, &existing),
                    String::new(),
                )
            },
        )
        .map_err(|_| "invalid against the observation".to_string())?;
        let snap = Snapshot {
            validated: v,
            observed,
            ha: Default::default(),
        };
        let plan = timed(&mut steps, &format!("plan ({round})"), || {
            let p = plan_for(&snap, false);
            let detail = p.as_ref().map_or_else(
                |e| e.to_string(),
                |p| format!("{} actions", p.action_count()),
            );
            (p, detail)
        })
        .map_err(|e| e.to_string())?;
        if plan.is_empty() {
            continue;
        }
        // The executor alone, timed apart from the observation `reconcile::apply` makes after
        // it (the next round times that on its own).
        let v = &snap.validated;
        let observe = crate::reconcile::observer(v, &sim);
        let exec = Executor {
            transport: &sim,
            lvm_extra: Vec::new(),
            journal: None,
            observe: &observe,
            stop: None,
            guard: None,
            settle: None,
            deps: crate::exec::Deps::of(&v.desired, &plan.allocation),
        };
        timed(
            &mut steps,
            &format!("apply on the simulator ({round})"),
            || {
                let r = exec.run(&plan, &mut |_| {});
                let detail = match r.failed.first() {
                    None => format!("{} actions", r.ran.len()),
                    Some(f) => format!("failed: {f}"),
                };
                let r = match r.failed.first() {
                    None => Ok(r.ran.len()),
                    Some(f) => Err(f.to_string()),
                };
                (r, detail)
            },
        )?;
    }
    Ok(steps.done)
}
