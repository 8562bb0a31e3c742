//! `xenflux lab up|down|status|start|crash|fence|power-status`: finds the QEMU lab's scripts
//! (installed beside the binary, or `tests/lab/` of the source tree) and runs one of them
//! through `transport::Local`. Everything the lab does lives in those
//! scripts; this module only locates them, passes the lab directory on and relays the outcome.
//! It must not build, boot or stop anything itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use thiserror::Error;

use crate::transport::{Cmd, Local, Transport};

/// Options shared by every `lab` subcommand.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Where the lab keeps its build, running nodes and ssh config (default:
    /// $XENFLUX_LAB_DIR, else ~/.cache/xenflux-lab).
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The lab scripts (default: $XENFLUX_LAB_SCRIPTS, else ../share/xenflux/lab beside the
    /// binary (/usr/share/xenflux/lab when installed from the package), else tests/lab of the
    /// source tree xenflux was built from, else ./tests/lab).
    #[arg(long, global = true, value_name = "DIR", env = "XENFLUX_LAB_SCRIPTS")]
    pub scripts: Option<PathBuf>,
    #[command(subcommand)]
    pub command: LabCommand,
}

/// What to do with the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum LabCommand {
    /// Build (first use, or when the recipe changed; needs root), boot both nodes, wait for ssh
    /// and write DIR/ssh_config.
    Up,
    /// Stop both nodes (by the pids their QEMUs wrote).
    Down,
    /// Say whether the lab is built and which nodes run (exit 0 both run, 3 otherwise).
    Status,
    /// Boot one node again on the data disk it has (DRBD meta-data and LVs kept, root fresh)
    /// and wait for ssh; refused when it already runs.
    Start {
        /// The node to boot.
        node: LabNode,
    },
    /// Pull one node's plug: its QEMU killed with SIGKILL, no shutdown (exit 0 once it is off,
    /// also when it already was).
    Crash {
        /// The node to crash.
        node: LabNode,
    },
    /// Power one node off like a PDU (SIGKILL); exit 0 only when it is confirmed off
    /// afterwards (already off counts), 1 otherwise.
    Fence {
        /// The node to fence.
        node: LabNode,
    },
    /// Whether one node is powered: exit 0 when it is off, 3 when it is on.
    PowerStatus {
        /// The node to look at.
        node: LabNode,
    },
}

/// One of the lab's two nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabNode {
    Nodea,
    Nodeb,
}

impl LabNode {
    /// The node's name, as the scripts and the ssh config spell it.
    fn name(self) -> &'static str {
        match self {
            LabNode::Nodea => "nodea",
            LabNode::Nodeb => "nodeb",
        }
    }
}

impl LabCommand {
    fn script(self) -> &'static str {
        match self {
            LabCommand::Up => "up.sh",
            LabCommand::Down => "down.sh",
            LabCommand::Status => "status.sh",
            LabCommand::Start { .. } => "start.sh",
            LabCommand::Crash { .. } => "crash.sh",
            LabCommand::Fence { .. } => "fence.sh",
            LabCommand::PowerStatus { .. } => "power-status.sh",
        }
    }

    /// The script's arguments.
    fn args(self) -> Vec<String> {
        match self {
            LabCommand::Up | LabCommand::Down | LabCommand::Status => Vec::new(),
            LabCommand::Start { node }
            | LabCommand::Crash { node }
            | LabCommand::Fence { node }
            | LabCommand::PowerStatus { node } => vec![node.name().to_string()],
        }
    }
}

/// Why a lab command could not run.
#[derive(Debug, Error)]
pub enum LabError {
    /// No directory holding the lab scripts was found.
    #[error("the lab scripts were not found (looked in {}); pass --scripts DIR", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    ScriptsNotFound { looked: Vec<PathBuf> },
    /// The transport could not run the script at all.
    #[error("could not run {script}: {reason}")]
    NotRun { script: PathBuf, reason: String },
}

/// Where the scripts are: the directory given (`--scripts` or `XENFLUX_LAB_SCRIPTS`), else the
/// first candidate holding `up.sh` of: `share/xenflux/lab` next to the binary's `bin/` (so an
/// installed xenflux uses the scripts of its own package, even on the machine it was built on),
/// the source tree it was built from (`cargo run` in a checkout), `./tests/lab`.
pub fn find_scripts(explicit: Option<&Path>) -> Result<PathBuf, LabError> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(dir) => vec![dir.to_path_buf()],
        None => installed_scripts()
            .into_iter()
            .chain([
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab"),
                PathBuf::from("tests/lab"),
            ])
            .collect(),
    };
    let found = candidates
        .iter()
        .find(|dir| dir.join("up.sh").is_file())
        .cloned()
        .ok_or(LabError::ScriptsNotFound { looked: candidates })?;
    tracing::debug!(scripts = %found.display(), "lab scripts");
    Ok(found)
}

/// `PREFIX/share/xenflux/lab` for a binary at `PREFIX/bin/xenflux`.
fn installed_scripts() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let prefix = exe.parent()?.parent()?;
    Some(prefix.join("share/xenflux/lab"))
}

/// Runs the subcommand's script and relays its output and exit status.
pub fn cmd_lab(args: &LabArgs) -> Result<ExitCode, LabError> {
    let dir = find_scripts(args.scripts.as_deref())?;
    let script = dir.join(args.command.script());
    let mut local = Local::new();
    if let Some(lab_dir) = &args.dir {
        local
            .env
            .push(("XENFLUX_LAB_DIR".into(), lab_dir.display().to_string()));
    }
    let argv = ["bash".to_string(), script.display().to_string()]
        .into_iter()
        .chain(args.command.args());
    let cmd = Cmd::new(argv);
    let out = local
        .run_batch("localhost", &[cmd])
        .map_err(|e| LabError::NotRun {
            script: script.clone(),
            reason: e.to_string(),
        })?
        .pop()
        .ok_or_else(|| LabError::NotRun {
            script: script.clone(),
            reason: "the transport returned no output".into(),
        })?;
    // The scripts log progress on stderr and the result on stdout; both are the user's to read.
    eprint!("{}", out.stderr);
    print!("{}", out.stdout);
    Ok(match out.status {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
