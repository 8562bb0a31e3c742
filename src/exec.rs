//! Executing a plan: stage by stage, the actions of a stage in parallel across nodes (in order on
//! one node), one command at a time so a failure stops its action before the next command runs.
//! Every command goes to the journal; after each stage the touched nodes are observed again and
//! each action's effect is checked. Executing never re-plans: a failure stops the run and says
//! what completed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::drivers::drbd::Role;
use crate::model::Name;
use crate::observe::NodeState;
use crate::plan::{Action, Plan};
use crate::transport::{Cmd, Output, Transport};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("another apply holds the lock {path} (pid {pid}); wait for it, or remove the file if no apply runs")]
    Locked { path: PathBuf, pid: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stage {stage} failed on {node}: {action}: {detail}; {done} action(s) completed before it (see the journal)")]
    Failed {
        stage: usize,
        node: Name,
        action: String,
        detail: String,
        done: usize,
        /// The action that failed.
        failed: Box<Action>,
    },
    #[error("stage {stage}: after `{action}` on {node}, {detail}; {done} action(s) completed (see the journal)")]
    NotVerified {
        stage: usize,
        node: Name,
        action: String,
        detail: String,
        done: usize,
        /// The action whose effect was not seen.
        failed: Box<Action>,
    },
    /// A stop was asked for: the run ended after a complete stage.
    #[error("stopped after stage {stage} of {total} as asked; {done} action(s) completed, the rest is left to the next reconcile")]
    Interrupted {
        stage: usize,
        total: usize,
        done: usize,
    },
}

impl ExecError {
    /// Worth retrying on the next reconcile (a node that did not answer, a check that may pass
    /// once things settle) rather than needing an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            ExecError::Locked { .. }
            | ExecError::NotVerified { .. }
            | ExecError::Interrupted { .. } => true,
            ExecError::Failed { detail, .. } => detail.contains("unreachable"),
            ExecError::Io { .. } => false,
        }
    }
}

/// One apply at a time per state directory: the lock file holds the pid and goes away on drop.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(state_dir: &Path) -> Result<Lock, ExecError> {
        std::fs::create_dir_all(state_dir).map_err(|source| ExecError::Io {
            path: state_dir.into(),
            source,
        })?;
        let path = state_dir.join("apply.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    let alive = !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists();
                    if alive {
                        return Err(ExecError::Locked { path, pid });
                    }
                    // The apply that held it is gone (crashed): the journal says what it did.
                    let _ = std::fs::remove_file(&path);
                }
                Err(source) => return Err(ExecError::Io { path, source }),
            }
        }
        Err(ExecError::Locked {
            path,
            pid: "?".into(),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One journal line: a command and what it did.
#[derive(Clone, Debug, Serialize)]
pub struct Entry<'a> {
    pub stage: usize,
    pub node: &'a str,
    pub action: String,
    pub command: String,
    pub status: Option<i32>,
    pub stderr: String,
}

/// What each action of one node's share of a stage did.
type NodeOutcome<'p> = Vec<(&'p Action, Result<(), String>)>;

/// What happened, for progress lines.
pub enum Event<'a> {
    Stage {
        index: usize,
        total: usize,
        title: &'a str,
    },
    Action {
        node: &'a Name,
        action: &'a Action,
        ok: bool,
    },
}

pub struct Executor<'a> {
    pub transport: &'a dyn Transport,
    /// Extra LVM words for this environment (see `Action::cmds`); empty in production.
    pub lvm_extra: Vec<String>,
    /// Appended JSON lines; None keeps no journal.
    pub journal: Option<PathBuf>,
    /// Observes a node again after a stage, to verify the actions.
    pub observe: &'a (dyn Fn(&Name) -> NodeState + Sync),
    /// Set from outside to stop after the stage that is running (graceful shutdown).
    pub stop: Option<&'a AtomicBool>,
}

impl Executor<'_> {
    /// Runs every stage of the plan; returns the number of actions completed.
    pub fn run(&self, plan: &Plan, progress: &mut dyn FnMut(Event)) -> Result<usize, ExecError> {
        let mut done = 0;
        let total = plan.stages.len();
        for (i, stage) in plan.stages.iter().enumerate() {
            if i > 0 && self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Err(ExecError::Interrupted {
                    stage: i,
                    total,
                    done,
                });
            }
            progress(Event::Stage {
                index: i + 1,
                total,
                title: &stage.title,
            });
            let mut per_node: BTreeMap<&Name, Vec<&Action>> = BTreeMap::new();
            for a in &stage.actions {
                per_node.entry(a.node()).or_default().push(a);
            }
            let results: Vec<(&Name, NodeOutcome)> = std::thread::scope(|scope| {
                let handles: Vec<_> = per_node
                    .iter()
                    .map(|(node, actions)| {
                        let node = *node;
                        let actions = actions.clone();
                        scope.spawn(move || (node, self.run_node(i + 1, node, &actions)))
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            let mut failure = None;
            for (node, outcomes) in &results {
                for (action, r) in outcomes {
                    progress(Event::Action {
                        node,
                        action,
                        ok: r.is_ok(),
                    });
                    match r {
                        Ok(()) => done += 1,
                        Err(detail) if failure.is_none() => {
                            failure = Some(((*node).clone(), *action, detail.clone()));
                        }
                        Err(_) => {}
                    }
                }
            }
            if let Some((node, action, detail)) = failure {
                return Err(ExecError::Failed {
                    stage: i + 1,
                    node,
                    action: action.describe(),
                    detail,
                    done,
                    failed: Box::new(action.clone()),
                });
            }
            // Verify: observe the touched nodes again and check each action's effect.
            for (node, actions) in &per_node {
                let state = (self.observe)(node);
                for a in actions {
                    if let Err(detail) = verify(a, &state) {
                        return Err(ExecError::NotVerified {
                            stage: i + 1,
                            node: (*node).clone(),
                            action: a.describe(),
                            detail,
                            done,
                            failed: Box::new((*a).clone()),
                        });
                    }
                }
            }
        }
        Ok(done)
    }

    fn run_node<'p>(&self, stage: usize, node: &Name, actions: &[&'p Action]) -> NodeOutcome<'p> {
        let mut out = Vec::new();
        for a in actions {
            let r = self.run_action(stage, node, a);
            let failed = r.is_err();
            out.push((*a, r));
            if failed {
                break;
            }
        }
        out
    }

    fn run_action(&self, stage: usize, node: &Name, a: &Action) -> Result<(), String> {
        for cmd in a.cmds(&self.lvm_extra) {
            let outs = self
                .transport
                .run_batch(node.as_str(), std::slice::from_ref(&cmd));
            let out = match outs {
                Ok(mut v) if !v.is_empty() => v.remove(0),
                Ok(_) => return Err("the transport returned no output".into()),
                Err(e) => {
                    self.log(stage, node, a, &cmd, None, &e.to_string());
                    return Err(e.to_string());
                }
            };
            self.log(stage, node, a, &cmd, out.status, &out.stderr);
            if !out.success() {
                return Err(describe(&out));
            }
        }
        Ok(())
    }

    fn log(
        &self,
        stage: usize,
        node: &Name,
        a: &Action,
        cmd: &Cmd,
        status: Option<i32>,
        stderr: &str,
    ) {
        let Some(path) = &self.journal else { return };
        let e = Entry {
            stage,
            node: node.as_str(),
            action: a.describe(),
            command: cmd.display(),
            status,
            stderr: stderr.trim_end().to_string(),
        };
        if let Ok(line) = serde_json::to_string(&e) {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

fn describe(o: &Output) -> String {
    o.describe()
}

/// The effect an action must have had, checked on a fresh observation of its node.
pub fn verify(a: &Action, s: &NodeState) -> Result<(), String> {
    let lv = |vg: &str, lv: &str| s.lvm.known().and_then(|l| l.lvs.get(&format!("{vg}/{lv}")));
    let res = |r: &str| s.drbd.known().and_then(|d| d.resources.get(r));
    let role = |r: &str| {
        res(r)
            .and_then(|x| x.kernel.as_ref())
            .map(|k| k.role.clone())
    };
    let runs = |d: &str| s.xen.known().is_some_and(|x| x.domains.contains_key(d));
    match a {
        Action::WriteFile { path, content, .. } => {
            match s.files.get(path).and_then(|p| p.known()) {
                Some(Some(c)) if c == content => Ok(()),
                Some(_) => Err(format!("{path} does not hold what was written")),
                None => Ok(()), // not part of this node's observation
            }
        }
        Action::CreateLv {
            vg, lv: name, size, ..
        }
        | Action::ExtendLv {
            vg, lv: name, size, ..
        } => match lv(vg, name) {
            Some(l) if l.size >= *size => Ok(()),
            Some(l) => Err(format!("LV {vg}/{name} is {} bytes, not {size}", l.size)),
            None => Err(format!("LV {vg}/{name} does not exist")),
        },
        Action::RemoveLv { vg, lv: name, .. } => match lv(vg, name) {
            None => Ok(()),
            Some(_) => Err(format!("LV {vg}/{name} still exists")),
        },
        Action::Up { resource, .. } => match res(resource).and_then(|r| r.kernel.as_ref()) {
            Some(_) => Ok(()),
            None => Err(format!("DRBD resource {resource} is not up")),
        },
        Action::Down { resource, .. } => match res(resource).and_then(|r| r.kernel.as_ref()) {
            None => Ok(()),
            Some(_) => Err(format!("DRBD resource {resource} is still up")),
        },
        Action::InitialPrimary { resource, .. } | Action::Primary { resource, .. } => {
            match role(resource) {
                Some(Role::Primary) => Ok(()),
                other => Err(format!(
                    "{resource} is {}, not Primary",
                    other.map_or("down".into(), |r| r.to_string())
                )),
            }
        }
        Action::Secondary { resource, .. } => match role(resource) {
            Some(Role::Primary) => Err(format!("{resource} is still Primary")),
            _ => Ok(()),
        },
        Action::XlCreate { domain, .. } => {
            if runs(domain) {
                Ok(())
            } else {
                Err(format!("domain {domain} is not running"))
            }
        }
        Action::XlShutdown { domain, .. } | Action::XlMigrate { domain, .. } => {
            if runs(domain) {
                Err(format!("domain {domain} still runs here"))
            } else {
                Ok(())
            }
        }
        Action::CreateBridge { bridge: dev, .. } | Action::CreateBond { bond: dev, .. } => {
            match s.net.known().map(|n| n.links.contains_key(dev)) {
                Some(false) => Err(format!("{dev} does not exist")),
                _ => Ok(()),
            }
        }
        Action::SetMaster { dev, master, .. } => match s.net.known().and_then(|n| n.links.get(dev))
        {
            Some(l) if l.master.as_deref() != Some(master) => {
                Err(format!("{dev} is not enslaved to {master}"))
            }
            _ => Ok(()),
        },
        Action::Mount { mountpoint, .. } => match s.ocfs2.known() {
            Some(o) if !o.mounts.contains_key(mountpoint) => {
                Err(format!("nothing is mounted on {mountpoint}"))
            }
            _ => Ok(()),
        },
        Action::RemoveFile { .. }
        | Action::CreateMd { .. }
        | Action::Adjust { .. }
        | Action::AllowTwoPrimaries { .. }
        | Action::Resize { .. }
        | Action::Mkfs { .. }
        | Action::GrowFs { .. }
        | Action::O2cbStart { .. }
        | Action::SetStp { .. }
        | Action::LinkUp { .. }
        | Action::AddAddress { .. }
        | Action::BlockAttach { .. }
        | Action::BlockDetach { .. } => Ok(()),
    }
}
