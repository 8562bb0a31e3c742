//! Opening what commands run on for a desired state: the simulated cluster kept in the state
//! directory, the real nodes over SSH, or this machine. The CLI's `plan`, `apply`, `status` and
//! `observe` and the controller all open their target here, so each target is set up in one
//! place. This module decides nothing about the cluster and runs no command itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::fsutil::{lock_path, FileLock, LockError};
use crate::model::{Desired, SshTarget};
use crate::sim::{SimCluster, SimError, SimOptions};
use crate::transport::{control_dir, Local, Ssh, SshError, SshOptions, Transport};

/// Where commands run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The simulated cluster in STATE_DIR/sim.json (the default for plan and apply).
    Sim,
    /// This machine.
    Local,
    /// The real nodes, over the system OpenSSH client (`Node.spec.ssh`).
    Ssh,
}

#[derive(Debug, Error)]
pub enum TargetError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("cannot create the state directory {path}: {error}")]
    StateDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// How long a command waits for another holding the simulated cluster (an apply, a pass of the
/// controller) before giving up.
pub const SIM_LOCK_WAIT: Duration = Duration::from_secs(600);

/// An opened target: its transport, and [`TargetHandle::finish`] to call when done.
#[derive(Debug)]
pub enum TargetHandle {
    /// The simulated cluster, loaded under its lock (`sim.json.lock`), held until
    /// [`TargetHandle::finish`] saved it: every change is one load → change → save.
    Sim {
        sim: SimCluster,
        path: PathBuf,
        lock: FileLock,
    },
    Ssh(Ssh),
    Local(Local),
}

impl TargetHandle {
    /// What runs the commands.
    pub fn transport(&self) -> &dyn Transport {
        match self {
            TargetHandle::Sim { sim, .. } => sim,
            TargetHandle::Ssh(ssh) => ssh,
            TargetHandle::Local(local) => local,
        }
    }

    /// The simulated cluster, when that is the target (for commands that perturb it).
    pub fn sim(&self) -> Option<&SimCluster> {
        match self {
            TargetHandle::Sim { sim, .. } => Some(sim),
            TargetHandle::Ssh(_) | TargetHandle::Local(_) => None,
        }
    }

    /// Keeps what the commands did: saves the simulated cluster; closes the SSH control
    /// masters; nothing for this machine. Call it also after a failed apply (the simulator
    /// keeps what ran, as a real node does).
    pub fn finish(self) -> Result<(), TargetError> {
        match self {
            TargetHandle::Sim { sim, path, lock } => {
                sim.save(&path)?;
                drop(lock);
                Ok(())
            }
            TargetHandle::Ssh(ssh) => {
                ssh.close();
                Ok(())
            }
            TargetHandle::Local(_) => Ok(()),
        }
    }
}

/// What a report says it was made against: its first line names it, and `--format json`
/// carries it as `target` (`{"kind": "simulated", "file": ...}`, `{"kind": "ssh", "nodes":
/// [{"node", "destination"}], "config"}` or `{"kind": "local"}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TargetName {
    /// The simulated cluster kept in `file`: no real node was asked.
    Simulated { file: String },
    /// Real nodes over SSH, each with where ssh reaches it (`user@host:port`, as set).
    Ssh {
        nodes: Vec<SshNode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<String>,
    },
    /// This machine.
    Local,
}

/// A node reached over SSH, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshNode {
    pub node: String,
    /// `user@host:port`, each part only when set (the ssh config decides the rest).
    pub destination: String,
}

impl TargetName {
    /// The name of `target` opened for `desired` (as [`open_target`] would open it).
    pub fn of(
        target: Target,
        desired: &Desired,
        state_dir: &Path,
        ssh_config: Option<&Path>,
    ) -> TargetName {
        match target {
            Target::Sim => TargetName::Simulated {
                file: sim_path(state_dir).display().to_string(),
            },
            Target::Ssh => TargetName::Ssh {
                nodes: ssh_targets(desired)
                    .into_iter()
                    .map(|(node, t)| {
                        let mut destination = t.host;
                        if let Some(u) = t.user {
                            destination = format!("{u}@{destination}");
                        }
                        if let Some(p) = t.port {
                            destination = format!("{destination}:{p}");
                        }
                        SshNode { node, destination }
                    })
                    .collect(),
                config: ssh_config.map(|p| p.display().to_string()),
            },
            Target::Local => TargetName::Local,
        }
    }

    /// True for the simulated cluster: what was planned was not planned against real nodes.
    pub fn is_simulated(&self) -> bool {
        matches!(self, TargetName::Simulated { .. })
    }
}

impl std::fmt::Display for TargetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetName::Simulated { file } => write!(f, "simulated cluster ({file})"),
            TargetName::Ssh { nodes, config } => {
                let list: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("{} ({})", n.node, n.destination))
                    .collect();
                write!(f, "ssh nodes {}", list.join(", "))?;
                match config {
                    Some(c) => write!(f, " (ssh -F {c})"),
                    None => Ok(()),
                }
            }
            TargetName::Local => f.write_str("this machine"),
        }
    }
}

/// The simulated cluster's file in a state directory.
pub fn sim_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sim.json")
}

/// Takes the lock of the simulated cluster in `path` (`PATH.lock`), waiting (and saying so on
/// stderr) while another command or the controller has it, up to [`SIM_LOCK_WAIT`]. Every
/// command that changes the file holds it from loading to saving, so no change is lost.
pub fn lock_sim(path: &Path) -> Result<FileLock, LockError> {
    let mut lock = FileLock::acquire(&lock_path(path), SIM_LOCK_WAIT, |holder| {
        eprintln!(
            "waiting for {holder} to finish with the simulated cluster {} ...",
            path.display()
        )
    })?;
    // Only for the message another waiter shows.
    let _ = lock.write_pid();
    Ok(lock)
}

/// Where each node of `desired` is reached over SSH: its `spec.ssh`, or else root on port 22
/// of its replication address (as the shell report's `on` function does).
pub fn ssh_targets(desired: &Desired) -> BTreeMap<String, SshTarget> {
    desired
        .nodes
        .iter()
        .map(|(name, n)| {
            let t = n.ssh.clone().unwrap_or_else(|| SshTarget {
                host: n.address.to_string(),
                user: None,
                port: None,
            });
            (name.to_string(), t)
        })
        .collect()
}

/// Opens `target` for `desired`. Sim: `STATE_DIR/sim.json`, created from the Node documents
/// (and saved) on first use. Ssh: every node of `desired`, control sockets in
/// `STATE_DIR/ssh/` (0700; a short directory under /tmp when that path is too long for a
/// socket), `ssh_config` passed to ssh as `-F`. Local: this machine.
pub fn open_target(
    target: Target,
    desired: &Desired,
    state_dir: &Path,
    ssh_config: Option<&Path>,
) -> Result<TargetHandle, TargetError> {
    match target {
        Target::Sim => {
            let path = sim_path(state_dir);
            std::fs::create_dir_all(state_dir).map_err(|error| TargetError::StateDir {
                path: state_dir.to_path_buf(),
                error,
            })?;
            let lock = lock_sim(&path)?;
            if path.exists() {
                let sim = SimCluster::load(&path)?;
                return Ok(TargetHandle::Sim { sim, path, lock });
            }
            let sim = SimCluster::fresh(desired, &SimOptions::default());
            sim.save(&path)?;
            Ok(TargetHandle::Sim { sim, path, lock })
        }
        Target::Ssh => {
            let mut options = SshOptions::new(control_dir(&state_dir.join("ssh"))?);
            options.config = ssh_config.map(Path::to_path_buf);
            Ok(TargetHandle::Ssh(Ssh::new(ssh_targets(desired), options)))
        }
        Target::Local => Ok(TargetHandle::Local(Local::new())),
    }
}
