//! `xenflux bench`: a generated estate of two-node pairs, timed through every step of a
//! reconcile against the simulated cluster — load, validate, observe, plan, apply — first on
//! fresh dom0s, then once more on the converged cluster ([`run`]); and whole `xenflux plan`
//! processes, as an operator runs them, measured by the kernel ([`whole_plan`]). Prints
//! figures; asserts nothing.

use std::path::{Path, PathBuf};
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

/// Runs the benchmark on the estate written into `dir`, telling `report` of each step as it
/// completes; the steps in order and the simulated cluster as the last step left it, or what
/// failed.
pub fn run(
    e: Estate,
    dir: &Path,
    report: &mut dyn FnMut(&Step),
) -> Result<(Vec<Step>, SimCluster), String> {
    let mut steps = Steps {
        done: Vec::new(),
        report,
    };
    write_estate(e, dir)?;
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
    let sim = SimCluster::fresh(&first.desired, &sim_options());
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
            rendered: None,
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
    Ok((steps.done, sim))
}

/// Each pair holds up to 255 volumes of 4-32 GiB: the VGs have room for them.
fn sim_options() -> SimOptions {
    SimOptions {
        vg_size: 16 << 40,
        ..SimOptions::default()
    }
}

/// Writes the estate's YAML files into `dir`.
fn write_estate(e: Estate, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
    for (name, text) in estate(e) {
        crate::fsutil::write_atomic(&dir.join(&name), text)
            .map_err(|err| format!("writing {name}: {err}"))?;
    }
    Ok(())
}

/// Where a whole-process run finds its desired state and its simulated cluster.
pub struct Prepared {
    pub state: PathBuf,
    pub state_dir: PathBuf,
}

impl Prepared {
    /// `dir/state` and `dir/sd`.
    pub fn at(dir: &Path) -> Prepared {
        Prepared {
            state: dir.join("state"),
            state_dir: dir.join("sd"),
        }
    }

    /// `exe --state STATE --state-dir STATE_DIR ARGS...`.
    fn argv(&self, exe: &Path, args: &[&str]) -> Vec<String> {
        [
            exe.display().to_string(),
            "--state".into(),
            self.state.display().to_string(),
            "--state-dir".into(),
            self.state_dir.display().to_string(),
        ]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
    }
}

/// Writes the estate into `dir/state` and has `exe sim reset --vg-size 16TiB` (another
/// process, so that this one stays small) make fresh dom0s for it.
pub fn prepare(exe: &Path, e: Estate, dir: &Path) -> Result<Prepared, String> {
    let p = Prepared::at(dir);
    write_estate(e, &p.state)?;
    measured(
        &p.argv(exe, &["sim", "reset", "--vg-size", "16TiB"]),
        &[0],
        false,
    )?;
    Ok(p)
}

/// Runs the in-process steps ([`run`]) for estate `e` in `dir/state` and saves the simulated
/// cluster they leave in `dir/sd` (what `bench --steps-only --keep DIR` does).
pub fn steps_into(
    e: Estate,
    dir: &Path,
    report: &mut dyn FnMut(&Step),
) -> Result<Vec<Step>, String> {
    let p = Prepared::at(dir);
    let (steps, sim) = run(e, &p.state, report)?;
    std::fs::create_dir_all(&p.state_dir)
        .map_err(|err| format!("creating {}: {err}", p.state_dir.display()))?;
    sim.save(&p.state_dir.join("sim.json"))
        .map_err(|err| err.to_string())?;
    Ok(steps)
}

/// Runs `argv` measured; an exit status outside `ok` is an error with its stderr.
fn measured(argv: &[String], ok: &[i32], show: bool) -> Result<crate::transport::Measured, String> {
    let m = crate::transport::run_measured(argv, &[], show)
        .map_err(|err| format!("running {}: {err}", argv.join(" ")))?;
    match m.status {
        Some(code) if ok.contains(&code) => Ok(m),
        other => Err(format!(
            "`{}` exited with {other:?}: {}",
            argv.join(" "),
            m.stderr.trim()
        )),
    }
}

/// Runs `exe --state STATE --state-dir STATE_DIR plan` as its own process, its report
/// discarded, and measures it. Exit 0 (nothing to do) and 2 (changes planned) are results.
pub fn whole_plan(exe: &Path, p: &Prepared) -> Result<crate::transport::Measured, String> {
    measured(&p.argv(exe, &["plan"]), &[0, 2], false)
}

/// Runs `exe ARGS` as its own process with its output shown, and measures it.
pub fn whole(exe: &Path, args: &[String]) -> Result<crate::transport::Measured, String> {
    let argv: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(args.iter().cloned())
        .collect();
    measured(&argv, &[0], true)
}

/// `drbdadm -d -c FILE adjust all` on one node's view of a pair's rendered configuration (the
/// whole cluster's resources in one file, DRBD 8.4 syntax): what it takes drbd-utils to work
/// out the same changes for the same resources. None when drbdadm is not installed.
pub fn drbdadm_adjust(e: Estate, dir: &Path) -> Result<Option<crate::transport::Measured>, String> {
    write_estate(e, dir)?;
    let sources = crate::load::from_dir(dir).map_err(|err| err.to_string())?;
    let v = crate::validate::validate(&sources, &Default::default())
        .map_err(|d| format!("the generated estate is invalid ({} problems)", d.len()))?;
    let Some(node) = v.desired.nodes.keys().next() else {
        return Ok(None);
    };
    let config = dir.join("drbd.conf");
    crate::fsutil::write_atomic(
        &config,
        crate::render::drbd::cluster_config(&v.desired, &v.allocation),
    )
    .map_err(|err| format!("writing {}: {err}", config.display()))?;
    let argv: Vec<String> = [
        "drbdadm",
        "-d",
        "-c",
        &config.display().to_string(),
        "adjust",
        "all",
    ]
    .map(String::from)
    .to_vec();
    let env = [
        ("__DRBD_NODE__".to_string(), node.to_string()),
        (
            "DRBD_DRIVER_VERSION_OVERRIDE".to_string(),
            "8.4.11".to_string(),
        ),
    ];
    match crate::transport::run_measured(&argv, &env, false) {
        Ok(m) if m.status == Some(0) => Ok(Some(m)),
        Ok(m) => Err(format!(
            "`{}` exited with {:?}: {}",
            argv.join(" "),
            m.status,
            m.stderr.trim()
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("running drbdadm: {err}")),
    }
}
