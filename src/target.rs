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
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
    #[error("the simulated cluster: {0}")]
    Sim(#[from] SimError),
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("the simulated cluster: {0}")]
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
            std::fs::create_dir_all(state_dir).map_err(|source| TargetError::StateDir {
                path: state_dir.to_path_buf(),
                source,
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
