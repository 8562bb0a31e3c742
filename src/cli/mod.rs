//! Command-line front end: parses arguments, calls the library, prints, and maps outcomes to exit
//! codes. Holds no logic of its own.
//!
//! Exit codes: 0 success (for `plan` and `status`: no changes); 1 error (invalid state,
//! unreadable input, failed command); 2 `plan` or `status` found changes pending or blocked.
//!
//! Errors are printed once with `{:#}`: every error type of the crate writes its cause into its
//! own message and has no `source()` (a wrapper that adds nothing is `transparent`), so a
//! chain never repeats a cause; `anyhow` context adds the outer layers.

mod cluster;
mod docs;
mod failover;
mod import;
mod lab;
mod logging;
mod serve;
mod simexec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::alloc::{Existing, MetaAlloc, Origin};
use crate::load::{self, Source};
use crate::model::Kind;
use crate::validate::{self, Validated};

/// The version `--version` prints: the package's and the commit it was built from (`unknown`
/// when not built from a Git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("XENFLUX_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "xenflux",
    version = VERSION,
    about = "Keeps a Xen + DRBD + LVM + OCFS2 cluster in line with a desired state kept in Git"
)]
pub struct Cli {
    /// Directory holding the desired state (YAML).
    #[arg(
        long,
        global = true,
        default_value = "cluster-state",
        value_name = "DIR"
    )]
    pub state: PathBuf,
    /// Read the state from this Git revision of the repository holding --state, not the working tree.
    #[arg(long, global = true, value_name = "REV")]
    pub rev: Option<String>,
    /// Where xenflux keeps its own state: the simulated cluster, the journal, the apply lock
    /// [default: the config file's `stateDir`, else .xenflux].
    #[arg(long, global = true, value_name = "DIR", env = "XENFLUX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// With --target ssh: an ssh config file used instead of ~/.ssh/config (ssh -F)
    /// [default: the config file's `sshConfig`].
    #[arg(long, global = true, value_name = "FILE", env = "XENFLUX_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// Settings file (YAML): defaults for the target, --ssh-config, --state-dir and serve's
    /// options. A flag wins over its environment variable, which wins over the file
    /// [default: /etc/xenflux/config.yaml, if it exists].
    #[arg(long, global = true, value_name = "FILE", env = "XENFLUX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log lines on stderr as text or as one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    pub log_format: logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired state; print every problem with file:line:column and field.
    Validate {
        /// Also list each volume's minor, port and meta-data slot and each NIC's MAC.
        #[arg(short, long)]
        verbose: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Dry run: print every action in order, with its commands, the file diffs, what is
    /// blocked and why. Exit status 0 no changes, 2 changes pending, 1 error.
    Plan {
        /// Where the cluster is [default: the config file's `target`, else sim].
        #[arg(long, value_enum, env = "XENFLUX_TARGET")]
        target: Option<Target>,
        #[arg(long, value_enum, default_value_t = cluster::PlanFormat::Text)]
        format: cluster::PlanFormat,
        /// Also save the plan (JSON) for `xenflux apply FILE`.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Allow destructive actions (removing what the state no longer has).
        #[arg(long)]
        prune: bool,
        /// What if NODE died now: the fence that would run and the failover plan (N+1, with
        /// capacity). Runs no fence and changes nothing.
        #[arg(long, value_name = "NODE")]
        assume_dead: Option<String>,
    },
    /// Fail over a lost node: check that it is lost (it does not answer, its peers do and their
    /// DRBD lost it), run its fence, record it, and start its domains on their peers. With
    /// --confirm-fenced, a person has powered it off: no fence runs.
    Failover {
        node: String,
        /// NODE is powered off (a person checked): record that and fail over.
        #[arg(long)]
        confirm_fenced: bool,
        /// Where the cluster is [default: the config file's `target`, else sim].
        #[arg(long, value_enum, env = "XENFLUX_TARGET")]
        target: Option<Target>,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Let a failed-over domain return to its preferred node (with `failback: manual`): its
    /// failover placement is forgotten; the next apply moves it by live migration.
    Failback { domain: String },
    /// Run the plan: stages in order, in parallel across nodes, verified after each stage.
    Apply {
        /// A plan saved with `plan -o FILE`: run exactly it (refused if the cluster changed).
        plan: Option<PathBuf>,
        /// Where the cluster is [default: the config file's `target`, else sim].
        #[arg(long, value_enum, env = "XENFLUX_TARGET")]
        target: Option<Target>,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        prune: bool,
    },
    /// Observed state and drift, in an operator's words (or JSON). Exit status 0 in sync, 2
    /// drift or blocked items remain, 1 error.
    Status {
        /// Where the cluster is [default: the config file's `target`, else sim].
        #[arg(long, value_enum, env = "XENFLUX_TARGET")]
        target: Option<Target>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Inspect and perturb the simulated cluster (for demos and tests).
    Sim {
        #[command(subcommand)]
        command: cluster::SimCommand,
    },
    /// Print the exact config files each node would get (or write them as a tree per node).
    Render {
        /// Only this node.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Write DIR/NODE/etc/... instead of printing.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Print what a node really has: LVM, DRBD, Xen, links/bonds/bridges, OCFS2, listening ports.
    Observe {
        #[arg(long, value_enum, default_value_t = Target::Local)]
        target: Target,
        /// The node's name (default: this machine's hostname). With a valid --state that knows
        /// the node, its managed files and bonds are read too.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        #[arg(long, value_enum, default_value_t = DataFormat::Yaml)]
        format: DataFormat,
    },
    /// Time a reconcile of a generated estate on the simulated cluster (fresh, then converged),
    /// then whole `xenflux plan` processes on it and on an estate twice its size, and print the
    /// figures.
    Bench {
        /// Pairs of the estate (the 2× estate has twice as many; at most 1250).
        #[arg(long, default_value_t = 32)]
        pairs: u32,
        /// Volumes per pair.
        #[arg(long, default_value_t = 255)]
        volumes: u32,
        /// Domains of the estate (the 2× estate has twice as many).
        #[arg(long, default_value_t = 4000)]
        domains: u32,
        /// Only the whole-process figures (no in-process steps, no apply, no converged plan).
        #[arg(long)]
        whole_only: bool,
        /// Run only the in-process steps, keeping the estate and the simulated cluster they
        /// leave in DIR/state and DIR/sd (the bench runs itself so for its figures).
        #[arg(long, hide = true, value_name = "DIR")]
        steps_only: Option<PathBuf>,
    },
    /// Run the controller: follow a Git branch, reconcile on push, webhook, timer or request;
    /// serve /status, /metrics and /healthz.
    Serve(serve::ServeArgs),
    /// Git hooks that tell a running controller about pushes.
    Hook {
        #[command(subcommand)]
        command: serve::HookCommand,
    },
    /// Stop reconciling (passes still fetch and report, nothing changes) until `resume`.
    Suspend {
        /// Why, for /status.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reconcile again after `suspend`, at once if a controller runs.
    Resume {
        /// The running controller (default: the one of --state-dir, else http://127.0.0.1:9292).
        #[arg(long, value_name = "URL")]
        controller: Option<String>,
        /// The controller's token (default: the token itself in XENFLUX_TOKEN, else the config
        /// file's `serve.tokenFile`, else STATE_DIR/controller/token).
        #[arg(long, value_name = "FILE", env = "XENFLUX_TOKEN_FILE")]
        token_file: Option<PathBuf>,
    },
    /// Ask the running controller for a pass now and print its outcome (exit 0 in sync or
    /// applied, 2 drift remains, 1 failed).
    Reconcile {
        /// Required: reconcile now (there is nothing else to ask for yet).
        #[arg(long, required = true)]
        now: bool,
        /// Return once the pass is queued.
        #[arg(long)]
        no_wait: bool,
        /// Recorded as the trigger (the post-receive hook says `push`).
        #[arg(long, hide = true)]
        reason: Option<String>,
        /// The running controller (default: the one of --state-dir, else http://127.0.0.1:9292).
        #[arg(long, value_name = "URL")]
        controller: Option<String>,
        /// The controller's token (default: the token itself in XENFLUX_TOKEN, else the config
        /// file's `serve.tokenFile`, else STATE_DIR/controller/token).
        #[arg(long, value_name = "FILE", env = "XENFLUX_TOKEN_FILE")]
        token_file: Option<PathBuf>,
    },
    /// Adopt a running cluster: observe the nodes completely and write the desired state that
    /// describes them (every minor, port, meta-data slot and MAC pinned) into a new directory,
    /// with IMPORT-NOTES.md for what it cannot say. Changes nothing on the nodes.
    Import(import::ImportArgs),
    /// Write the JSON Schema of every kind.
    Schema {
        /// Directory to write into (created if missing).
        #[arg(long, default_value = "schemas", value_name = "DIR")]
        out: PathBuf,
        /// Also write the desired-state reference (markdown, generated from the schemas) here.
        #[arg(long, value_name = "FILE")]
        reference: Option<PathBuf>,
    },
    /// The QEMU lab: two real Xen 4.17 + DRBD 8.4 nodes on this machine (up, down, status; start, crash, fence, power-status of one node).
    Lab(lab::LabArgs),
    /// Print the completion script of SHELL (bash, zsh, fish, elvish, powershell) for xenflux.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (xenflux.1 and one per command) into DIR.
    #[command(hide = true)]
    Manpages {
        #[arg(value_name = "DIR")]
        out: PathBuf,
    },
    /// Write a synthetic desired state of two-node pairs (for examples and benchmarks).
    Generate {
        #[arg(long, default_value_t = 1)]
        pairs: u32,
        /// Volumes per pair (at most 255).
        #[arg(long, default_value_t = 200)]
        volumes: u32,
        /// Domains over the whole estate (each uses one volume).
        #[arg(long, default_value_t = 100)]
        domains: u32,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub use crate::target::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    Yaml,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xenflux: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `XENFLUX_LOG=debug` (or error, warn, info, trace) logs what a one-shot command does to
/// stderr: each ssh batch sent and answered, each verification look; `RUST_LOG` directives do
/// too, and refine it. Neither set: a one-shot command logs nothing. `serve` has --log-level.
fn log_from_env(format: logging::LogFormat) -> Result<()> {
    let level = std::env::var("XENFLUX_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok());
    let rust_log = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    match (level, rust_log) {
        (None, false) => Ok(()),
        (Some(l), _) => logging::init(l.into(), format),
        (None, true) => logging::init(tracing_subscriber::filter::LevelFilter::OFF, format),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if !matches!(cli.command, Command::Serve(_)) {
        log_from_env(cli.log_format)?;
    }
    // Each value: the flag, else its environment variable (both through clap), else the
    // settings file, else the built-in default.
    let settings = crate::config::load(cli.config.as_deref())?;
    let state_dir = cli
        .state_dir
        .or_else(|| settings.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(".xenflux"));
    let ssh_config = cli.ssh_config.or_else(|| settings.ssh_config.clone());
    let ssh_config = ssh_config.as_deref();
    let default_target = |t: Option<Target>| t.or(settings.target).unwrap_or(Target::Sim);
    let client_token_file =
        |t: Option<PathBuf>| secret_file(t, "XENFLUX_TOKEN", settings.serve.token_file.as_ref());
    match cli.command {
        Command::Validate { verbose, format } => {
            cmd_validate(&cli.state, cli.rev.as_deref(), verbose, format)
        }
        Command::Render { node, out } => cmd_render(
            &cli.state,
            cli.rev.as_deref(),
            node.as_deref(),
            out.as_deref(),
        ),
        Command::Observe {
            target,
            node,
            format,
        } => cmd_observe(
            &cli.state,
            cli.rev.as_deref(),
            &cluster::On {
                target,
                state_dir: &state_dir,
                ssh_config,
            },
            node,
            format,
        ),
        Command::Plan {
            target,
            format,
            assume_dead: Some(node),
            ..
        } => failover::cmd_plan_assume_dead(
            &cli.state,
            cli.rev.as_deref(),
            &cluster_target(default_target(target), &state_dir, ssh_config)?,
            &node,
            format,
        ),
        Command::Plan {
            target,
            format,
            output,
            prune,
            assume_dead: None,
        } => cluster::cmd_plan(
            &cli.state,
            cli.rev.as_deref(),
            &cluster_target(default_target(target), &state_dir, ssh_config)?,
            format,
            output.as_deref(),
            prune,
        ),
        Command::Apply {
            plan,
            target,
            yes,
            prune,
        } => cluster::cmd_apply(
            &cli.state,
            cli.rev.as_deref(),
            &cluster_target(default_target(target), &state_dir, ssh_config)?,
            plan.as_deref(),
            yes,
            prune,
        ),
        Command::Failover {
            node,
            confirm_fenced,
            target,
            yes,
        } => failover::cmd_failover(
            &cli.state,
            cli.rev.as_deref(),
            &cluster_target(default_target(target), &state_dir, ssh_config)?,
            &node,
            confirm_fenced,
            yes,
        ),
        Command::Failback { domain } => failover::cmd_failback(&state_dir, &domain),
        Command::Status { target, format } => cluster::cmd_status(
            &cli.state,
            cli.rev.as_deref(),
            &cluster_target(default_target(target), &state_dir, ssh_config)?,
            format,
        ),
        Command::Sim { command } => {
            cluster::cmd_sim(&cli.state, cli.rev.as_deref(), &state_dir, command)
        }
        Command::Bench {
            pairs,
            volumes,
            domains,
            whole_only,
            steps_only,
        } => cmd_bench(pairs, volumes, domains, whole_only, steps_only.as_deref()),
        Command::Serve(args) => {
            let target = default_target(args.target);
            serve::cmd_serve(
                args,
                &settings.serve,
                target,
                &state_dir,
                ssh_config,
                cli.log_format,
            )
        }
        Command::Hook { command } => serve::cmd_hook(command, &state_dir),
        Command::Suspend { reason } => serve::cmd_suspend(&state_dir, reason),
        Command::Resume {
            controller,
            token_file,
        } => serve::cmd_resume(
            &state_dir,
            &serve::controller_url(controller, &state_dir),
            client_token(&state_dir, client_token_file(token_file).as_deref())?.as_deref(),
        ),
        Command::Reconcile {
            now: _,
            no_wait,
            reason,
            controller,
            token_file,
        } => serve::cmd_reconcile(
            &serve::controller_url(controller, &state_dir),
            !no_wait,
            reason.as_deref(),
            client_token(&state_dir, client_token_file(token_file).as_deref())?.as_deref(),
        ),
        Command::Import(args) => {
            import::cmd_import(&args, default_target(args.target), &state_dir, ssh_config)
        }
        Command::Schema { out, reference } => cmd_schema(&out, reference.as_deref()),
        Command::Completion { shell } => docs::cmd_completion(shell),
        Command::Manpages { out } => docs::cmd_manpages(&out),
        Command::Lab(args) => Ok(lab::cmd_lab(&args)?),
        Command::Generate {
            pairs,
            volumes,
            domains,
            out,
        } => cmd_generate(pairs, volumes, domains, &out),
    }
}

/// A secret's file: the one given (flag or its environment variable), else, unless the secret
/// itself is in the environment variable `value_env` (which wins over the settings file), the
/// settings file's.
pub(crate) fn secret_file(
    given: Option<PathBuf>,
    value_env: &str,
    from_settings: Option<&PathBuf>,
) -> Option<PathBuf> {
    given.or_else(|| {
        let in_env = std::env::var_os(value_env).is_some_and(|v| !v.is_empty());
        (!in_env).then(|| from_settings.cloned()).flatten()
    })
}

/// The target of a command that drives a whole cluster (plan, apply, status): not `local`.
fn cluster_target<'a>(
    target: Target,
    state_dir: &'a Path,
    ssh_config: Option<&'a Path>,
) -> Result<cluster::On<'a>> {
    match target {
        Target::Sim | Target::Ssh => Ok(cluster::On {
            target,
            state_dir,
            ssh_config,
        }),
        Target::Local => {
            bail!("plan, apply and status drive a whole cluster: use --target sim or --target ssh")
        }
    }
}

/// Reads the desired state from the directory or the Git revision.
pub fn read_state(state: &Path, rev: Option<&str>) -> Result<Vec<Source>> {
    Ok(match rev {
        Some(rev) => load::from_git(state, rev)?,
        None => load::from_dir(state)?,
    })
}

/// Reads and validates; on failure prints every diagnostic and returns None.
fn load_valid(
    state: &Path,
    rev: Option<&str>,
    existing: &Existing,
) -> Result<(Vec<Source>, Option<Validated>)> {
    let sources = read_state(state, rev)?;
    match validate::validate(&sources, existing) {
        Ok(v) => {
            for w in &v.warnings {
                eprintln!("{w}");
            }
            Ok((sources, Some(v)))
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            let errors = diags
                .iter()
                .filter(|d| d.severity == crate::diag::Severity::Error)
                .count();
            let warnings = diags.len() - errors;
            eprintln!("{errors} error(s), {warnings} warning(s): nothing was changed");
            Ok((sources, None))
        }
    }
}

fn cmd_validate(
    state: &Path,
    rev: Option<&str>,
    verbose: bool,
    format: Format,
) -> Result<ExitCode> {
    if format == Format::Json {
        let sources = read_state(state, rev)?;
        let result = validate::validate(&sources, &Existing::default());
        let body = match &result {
            Ok(v) => serde_json::json!({
                "valid": true,
                "cluster": v.desired.cluster_name,
                "warnings": v.warnings,
                "allocation": v.allocation,
            }),
            Err(diags) => serde_json::json!({"valid": false, "diagnostics": diags}),
        };
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(if result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let (sources, valid) = load_valid(state, rev, &Existing::default())?;
    let Some(v) = valid else {
        return Ok(ExitCode::from(1));
    };
    print!("{}", summary(state, rev, &sources, &v, verbose));
    Ok(ExitCode::SUCCESS)
}

/// The short report of a valid state: counts per kind and the allocations made.
pub fn summary(
    state: &Path,
    rev: Option<&str>,
    sources: &[Source],
    v: &Validated,
    verbose: bool,
) -> String {
    let d = &v.desired;
    let mut out = String::new();
    let at = match rev {
        Some(r) => format!("{} at {r}", state.display()),
        None => state.display().to_string(),
    };
    out.push_str(&format!(
        "{at}: valid — cluster {}, DRBD {}, {} file(s)\n",
        d.cluster_name,
        d.cluster.drbd.version,
        sources.len()
    ));
    let counts: BTreeMap<Kind, usize> = [
        (Kind::Node, d.nodes.len()),
        (Kind::Volume, d.volumes.len()),
        (Kind::Domain, d.domains.len()),
        (Kind::Bond, d.bonds.len()),
        (Kind::Bridge, d.bridges.len()),
        (Kind::Ocfs2Cluster, d.ocfs2.len()),
    ]
    .into_iter()
    // The notification kinds only when there are some (a state without them reads as before).
    .chain(
        [
            (Kind::Provider, d.providers.len()),
            (Kind::Alert, d.alerts.len()),
            (Kind::Snapshot, d.snapshots.len()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0),
    )
    .collect();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    out.push_str(&format!("  objects: {}\n", parts.join(", ")));
    let (minors, ports, slots, macs) = v.allocation.new_counts();
    out.push_str(&format!(
        "  allocated: {minors} minor(s), {ports} port(s), {slots} meta-data slot(s), {macs} MAC(s)\n"
    ));
    if !v.allocation.meta_lv_size.is_empty() {
        let sizes: Vec<String> = v
            .allocation
            .meta_lv_size
            .iter()
            .map(|(n, s)| {
                format!(
                    "{n} {}/{} {s}",
                    d.nodes[n].volume_group, d.nodes[n].meta_volume
                )
            })
            .collect();
        out.push_str(&format!("  meta LV needed: {}\n", sizes.join(", ")));
    }
    out.push_str(&format!("  warnings: {}\n", v.warnings.len()));
    if verbose {
        out.push_str("\n  VOLUME               MINOR  PORT  META              NODES\n");
        for (name, a) in &v.allocation.volumes {
            let meta = match a.meta {
                MetaAlloc::Indexed { index, origin } => format!("slot {index}{}", mark(origin)),
                MetaAlloc::Flexible { size } => format!("flexible {size}"),
                MetaAlloc::Internal => "internal".to_string(),
            };
            let nodes: Vec<&str> = d.volumes[name].nodes.iter().map(|n| n.as_str()).collect();
            out.push_str(&format!(
                "  {:<20} {:>5}{} {:>5}{} {:<17} {}\n",
                name.as_str(),
                a.minor.value,
                mark(a.minor.origin),
                a.port.value,
                mark(a.port.origin),
                meta,
                nodes.join(",")
            ));
        }
        out.push_str("\n  DOMAIN               NIC  MAC\n");
        for (dom, macs) in &v.allocation.macs {
            for (i, m) in macs.iter().enumerate() {
                out.push_str(&format!(
                    "  {:<20} {i:>3}  {}{}\n",
                    dom.as_str(),
                    m.value,
                    mark(m.origin)
                ));
            }
        }
        out.push_str("\n  (* pinned in the desired state, + kept from the cluster)\n");
    }
    out
}

fn mark(o: Origin) -> &'static str {
    match o {
        Origin::Pinned => "*",
        Origin::Kept => "+",
        Origin::New => " ",
    }
}

fn cmd_render(
    state: &Path,
    rev: Option<&str>,
    node: Option<&str>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let (_, valid) = load_valid(state, rev, &Existing::default())?;
    let Some(v) = valid else {
        return Ok(ExitCode::from(1));
    };
    let rendered = crate::render::render(&v.desired, &v.allocation);
    if let Some(n) = node {
        if !rendered.nodes.keys().any(|k| k.as_str() == n) {
            let known: Vec<&str> = rendered.nodes.keys().map(|k| k.as_str()).collect();
            bail!("unknown node `{n}` (nodes: {})", known.join(", "));
        }
    }
    let selected = rendered
        .nodes
        .iter()
        .filter(|(k, _)| node.is_none_or(|n| k.as_str() == n));
    let mut count = 0;
    for (name, files) in selected {
        for (path, content) in files {
            count += 1;
            match out {
                Some(dir) => {
                    let target = dir.join(name.as_str()).join(path.trim_start_matches('/'));
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("creating {}", parent.display()))?;
                    }
                    crate::fsutil::write_atomic(&target, content)
                        .with_context(|| format!("writing {}", target.display()))?;
                }
                None => print!("==> {name}:{path} <==\n{content}\n"),
            }
        }
    }
    if let Some(dir) = out {
        println!("wrote {count} file(s) under {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_observe(
    state: &Path,
    rev: Option<&str>,
    on: &cluster::On,
    node: Option<String>,
    format: DataFormat,
) -> Result<ExitCode> {
    let host = match node {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .context("reading this machine's hostname (give --node)")?,
    };
    // The desired state, when there is a valid one that knows this node, says what else to read.
    let known = read_state(state, rev)
        .ok()
        .and_then(|sources| validate::validate(&sources, &Existing::default()).ok())
        .and_then(|v| {
            let name: crate::model::Name = host.parse().ok()?;
            v.desired.nodes.contains_key(&name).then_some((v, name))
        });
    let probe = match &known {
        Some((v, name)) => crate::observe::Probe {
            cluster_view: true,
            ..crate::reconcile::probe(v, name)
        },
        None => crate::observe::Probe {
            host: host.clone(),
            cluster_view: true,
            ..Default::default()
        },
    };
    let handle = match (&known, on.target) {
        (Some((v, _)), _) => on.open(&v.desired)?,
        (None, Target::Local) => crate::target::TargetHandle::Local(crate::transport::Local::new()),
        (None, Target::Sim | Target::Ssh) => {
            bail!("--target sim and --target ssh need a valid --state that has node `{host}`")
        }
    };
    let observed = crate::observe::observe_node(handle.transport(), &host, &probe);
    handle.finish()?;
    let text = match format {
        DataFormat::Json => serde_json::to_string_pretty(&observed)? + "\n",
        DataFormat::Yaml => serde_yaml::to_string(&observed)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn cmd_bench(
    pairs: u32,
    volumes: u32,
    domains: u32,
    whole_only: bool,
    steps_only: Option<&Path>,
) -> Result<ExitCode> {
    let e = crate::generate::Estate {
        pairs,
        volumes_per_pair: volumes,
        domains,
    };
    e.check().map_err(|e| anyhow::anyhow!(e))?;
    if let Some(dir) = steps_only {
        return bench_steps(e, dir);
    }
    let double = crate::generate::Estate {
        pairs: pairs.saturating_mul(2),
        volumes_per_pair: volumes,
        domains: domains.saturating_mul(2),
    };
    double.check().map_err(|err| {
        anyhow::anyhow!("the 2× estate: {err} (give at most half as many --pairs)")
    })?;
    let dir = tempfile_dir()?;
    let result = bench_in(e, double, whole_only, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The reconcile steps in this process, printed as they complete.
fn bench_steps(e: crate::generate::Estate, dir: &Path) -> Result<ExitCode> {
    println!("reconcile steps in one process (1×):");
    crate::bench::steps_into(e, dir, &mut |s| {
        println!(
            "  {:<40} {:>10.1} ms  {}",
            s.name,
            s.took.as_secs_f64() * 1000.0,
            s.detail
        );
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(kib) = crate::bench::peak_rss_kib() {
        println!(
            "  {:<40} {:>10.1} MiB",
            "peak memory (VmHWM)",
            kib as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every heavy step runs in a process of its own: Linux counts what a process held when it
/// started a child into that child's peak memory, so this one stays small.
fn bench_in(
    e: crate::generate::Estate,
    double: crate::generate::Estate,
    whole_only: bool,
    dir: &Path,
) -> Result<ExitCode> {
    let describe = |e: &crate::generate::Estate| {
        format!(
            "{} pairs ({} nodes), {} volumes, {} domains",
            e.pairs,
            e.nodes(),
            e.volumes(),
            e.domains
        )
    };
    println!("estate (1×): {}", describe(&e));
    println!("estate (2×): {}", describe(&double));
    let exe = std::env::current_exe().context("finding this program")?;
    let fail = |e: String| anyhow::anyhow!(e);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let steps = dir.join("steps");
    if !whole_only {
        let args: Vec<String> = [
            "bench",
            "--pairs",
            &e.pairs.to_string(),
            "--volumes",
            &e.volumes_per_pair.to_string(),
            "--domains",
            &e.domains.to_string(),
            "--steps-only",
            &steps.display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        crate::bench::whole(&exe, &args).map_err(fail)?;
    }
    println!("whole `xenflux plan` processes ({}):", exe.display());
    println!(
        "  {:<40} {:>9} {:>9} {:>12}",
        "", "wall", "CPU", "peak memory"
    );
    let row = |name: &str, m: &crate::transport::Measured| {
        println!(
            "  {:<40} {:>7.3} s {:>7.3} s {:>8.1} MiB",
            name,
            secs(m.wall),
            secs(m.cpu),
            mib(m.max_rss_kib)
        );
    };
    let one = crate::bench::prepare(&exe, e, &dir.join("1x")).map_err(fail)?;
    let m1 = crate::bench::whole_plan(&exe, &one).map_err(fail)?;
    row(
        &format!("plan, fresh cluster, 1× ({} nodes)", e.nodes()),
        &m1,
    );
    let two = crate::bench::prepare(&exe, double, &dir.join("2x")).map_err(fail)?;
    let m2 = crate::bench::whole_plan(&exe, &two).map_err(fail)?;
    row(
        &format!("plan, fresh cluster, 2× ({} nodes)", double.nodes()),
        &m2,
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!(
        "  {:<40} {:>7.2} × {:>7.2} × {:>8.2} ×",
        "2× / 1×",
        ratio(secs(m2.wall), secs(m1.wall)),
        ratio(secs(m2.cpu), secs(m1.cpu)),
        ratio(mib(m2.max_rss_kib), mib(m1.max_rss_kib))
    );
    if !whole_only {
        let converged = crate::bench::Prepared::at(&steps);
        let m = crate::bench::whole_plan(&exe, &converged).map_err(fail)?;
        row("plan, converged cluster, 1×", &m);
    }
    if let Some(kib) = crate::bench::peak_rss_kib() {
        println!(
            "  (a child's peak memory includes the {:.1} MiB this process held)",
            mib(kib)
        );
    }
    let pair = crate::generate::Estate {
        pairs: 1,
        volumes_per_pair: crate::generate::MAX_VOLUMES_PER_PAIR,
        domains: crate::generate::MAX_VOLUMES_PER_PAIR / 2,
    };
    let one_pair = crate::bench::prepare(&exe, pair, &dir.join("pair")).map_err(fail)?;
    let plan = crate::bench::whole_plan(&exe, &one_pair).map_err(fail)?;
    match crate::bench::drbdadm_adjust(pair, &dir.join("drbdadm")).map_err(fail)? {
        Some(adjust) => println!(
            "one pair, {} volumes: `xenflux plan` {:.3} s; `drbdadm -d adjust all` on the same rendered resources {:.3} s ({:.1}× as long)",
            pair.volumes(),
            secs(plan.wall),
            secs(adjust.wall),
            ratio(secs(adjust.wall), secs(plan.wall))
        ),
        None => println!(
            "one pair, {} volumes: `xenflux plan` {:.3} s (drbdadm is not installed: no comparison)",
            pair.volumes(),
            secs(plan.wall)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("xenflux-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The token to send a controller (see [`crate::controller::client::token`]).
fn client_token(state_dir: &Path, file: Option<&Path>) -> Result<Option<String>> {
    Ok(crate::controller::client::token(state_dir, file)?)
}

fn cmd_schema(out: &Path, reference: Option<&Path>) -> Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, text) in crate::schema::all() {
        let path = out.join(&name);
        crate::fsutil::write_atomic(&path, text)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = reference {
        crate::fsutil::write_atomic(path, crate::schema::reference())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_generate(pairs: u32, volumes: u32, domains: u32, out: &Path) -> Result<ExitCode> {
    let e = crate::generate::Estate {
        pairs,
        volumes_per_pair: volumes,
        domains,
    };
    e.check().map_err(|e| anyhow::anyhow!(e))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = crate::generate::estate(e);
    for (name, text) in &files {
        let path = out.join(name);
        crate::fsutil::write_atomic(&path, text)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("wrote {} file(s) to {}", files.len(), out.display());
    Ok(ExitCode::SUCCESS)
}
