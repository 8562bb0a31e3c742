//! A simulated cluster: the embedded default target of `xenflux plan/apply` and of the planner's
//! property tests. It sits behind the same [`Transport`] as real nodes, interprets the argv the
//! drivers build (LVM, drbdadm, xl, ip/bridge, o2cb, mkfs, mount, file writes) and answers in the
//! real tools' exact output formats, refusing what a real node refuses with the real messages and
//! exit statuses (see each submodule for which messages come from captures and which had to be
//! composed). Time is simulated: a DRBD resync or an STP port transition completes at once.
//!
//! Deterministic: ordered maps, a counter instead of randomness, no clock. Every command is logged
//! and followed by an invariant check (two Primaries without allow-two-primaries, a domain on two
//! nodes, ...); destructive attempts (create-md, mkfs or lvremove over data) are recorded too.
//! The simulator never spawns a process and never touches the host.
//!
//! Nodes are lost as real ones are ([`power`]): the management network cut, the plug pulled
//! (and power control, what a fence agent does), or cut from everyone while running; each
//! node's power and reachability are part of the state, and a node's return resyncs it or
//! finds a split brain.

mod drbd;
mod drbdconf;
mod drbdout;
mod drbdstate;
mod files;
mod fresh;
mod fs;
mod images;
mod invariants;
mod lvm;
pub mod mirror;
mod net;
mod netout;
mod ocfs2;
mod power;
mod remus;
mod saved;
mod state;
mod util;
mod view;
mod xen;
mod xenout;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::model::units::{GIB, MIB, TIB};
use crate::model::Desired;
use crate::transport::{Cmd, Output, Transport, TransportError};

pub use state::LogEntry;
pub use view::{DomainView, DrbdView, LinkView, LvView, MountView, NodeView, PeerView};

use drbdstate::Pace;
use state::{FailRule, World};
use util::Out;

/// How fresh nodes are built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOptions {
    /// Size of each node's volume group, bytes (rounded down to whole extents).
    pub vg_size: u64,
    /// LVM extent size, bytes.
    pub extent_size: u64,
    /// Xen `total_memory`, MiB.
    pub total_memory_mib: u64,
    /// Memory Domain-0 holds, MiB.
    pub dom0_memory_mib: u64,
    /// Physical NICs, up and without a master.
    pub nics: Vec<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            vg_size: 2 * TIB,
            extent_size: 4 * MIB,
            total_memory_mib: 64 * GIB / MIB,
            dom0_memory_mib: 4 * GIB / MIB,
            nics: (0..4).map(|i| format!("eth{i}")).collect(),
        }
    }
}

/// Loading or saving a simulated cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a simulated cluster ({error}); nothing was changed: fix or remove it, or `xenflux sim reset` to start from fresh dom0s")]
    Json {
        path: String,
        error: serde_json::Error,
    },
}

/// The simulated cluster. Shared between threads behind a mutex; every command runs under it.
#[derive(Debug)]
pub struct SimCluster {
    world: Mutex<World>,
}

impl Clone for SimCluster {
    fn clone(&self) -> Self {
        SimCluster {
            world: Mutex::new(self.lock().clone()),
        }
    }
}

impl Serialize for SimCluster {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SimCluster {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        World::deserialize(d).map(|mut w| {
            w.upgrade();
            SimCluster {
                world: Mutex::new(w),
            }
        })
    }
}

/// The largest saved simulated cluster read back (a 64-node estate, converged, saves about 24 MiB).
pub const MAX_SAVED: u64 = 512 << 20;

/// How many of the latest commands a saved cluster keeps in its log.
pub const SAVED_LOG: usize = 10_000;

impl SimCluster {
    /// Every node of `desired` as a freshly installed Xen dom0: an empty volume group, the NICs
    /// up without masters, the DRBD module loaded without resources, Domain-0 only, sshd on 22,
    /// stock `/etc/drbd.conf` and `global_common.conf`, no OCFS2 configuration.
    pub fn fresh(desired: &Desired, opts: &SimOptions) -> SimCluster {
        SimCluster {
            world: Mutex::new(World::fresh(desired, opts)),
        }
    }

    /// Reads a cluster saved by [`SimCluster::save`] (a regular file of at most [`MAX_SAVED`]
    /// bytes).
    pub fn load(path: &Path) -> Result<SimCluster, SimError> {
        let before = saved::FileId::of(path);
        let text = crate::fsutil::read_small(path, MAX_SAVED)
            .and_then(|t| t.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
            .map_err(|error| SimError::Io {
                path: path.display().to_string(),
                error,
            })?;
        let after = saved::FileId::of(path);
        let sim: SimCluster = serde_json::from_str(&text).map_err(|error| SimError::Json {
            path: path.display().to_string(),
            error,
        })?;
        // The file read is the one whose nodes a save may take again (not one replaced while
        // it was read).
        let file = before.filter(|b| after.as_ref() == Some(b));
        sim.lock().nodes.read_from(&text, path, file);
        Ok(sim)
    }

    /// Writes the whole state as compact JSON, with the last [`SAVED_LOG`] commands of its log
    /// (the older ones are dropped here too): every command would make each load and save of
    /// the file slower than the last. Nodes no command changed since [`SimCluster::load`] are
    /// written as the text they were read from (taken again from that file if it is unchanged).
    pub fn save(&self, path: &Path) -> Result<(), SimError> {
        let io = |error| SimError::Io {
            path: path.display().to_string(),
            error,
        };
        let text = {
            let mut w = self.lock();
            let over = w.log.len().saturating_sub(SAVED_LOG);
            w.log.drain(..over);
            saved::to_saved_json(&w)
        };
        crate::fsutil::write_atomic(path, text).map_err(io)
    }

    /// Whether no command changed a node since the cluster was loaded (saving then writes the
    /// nodes back as they were read). False for a cluster that was not loaded.
    pub fn nodes_as_loaded(&self) -> bool {
        self.lock().nodes.as_read()
    }

    /// The whole state as (pretty) JSON: identical for identical command sequences (`sim show`).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&*self.lock()).expect("state serialises");
        s.push('\n');
        s
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic in another thread leaves the state as consistent as after any command.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The nodes, in name order.
    pub fn node_names(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    /// A read-only snapshot of one node.
    pub fn node(&self, name: &str) -> Option<NodeView> {
        let w = self.lock();
        w.nodes.get(name).map(|_| view::node_view(&w, name))
    }

    /// Every command run so far, in order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    /// Forgets the command log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Every invariant violation recorded so far (one entry each time one appears, plus every
    /// destructive attempt), in order.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// The invariants broken right now.
    pub fn invariants(&self) -> Vec<String> {
        invariants::check(&self.lock()).into_iter().collect()
    }

    /// Cuts the controller's network to a node (every batch fails with
    /// [`TransportError::Unreachable`]), or restores it. Nothing else changes: the node runs on
    /// and its DRBD peers stay connected to it. This is the management network failing.
    pub fn set_node_down(&self, node: &str, down: bool) {
        let mut w = self.lock();
        if w.nodes.contains_key(node) {
            power::cut_from_controller(&mut w, node, down);
        }
    }

    /// The plug pulled: the node is off, as after [`SimCluster::power_off`] (violations it
    /// causes name `sim crash-node`).
    pub fn crash_node(&self, node: &str) -> bool {
        self.fault(node, "crash-node", |w| {
            power::power_off(w, node);
        })
    }

    /// Powers a node off, as a fence agent does: its domains, DRBD devices, mounts and o2cb
    /// stack are gone, its disks keep what they hold; each peer's resources go `WFConnection`
    /// keeping their own role and disk state. Works whatever the node's networks; true when
    /// the node is off afterwards (false only for a node the cluster does not have).
    pub fn power_off(&self, node: &str) -> bool {
        self.fault(node, "power off", |w| {
            power::power_off(w, node);
        })
    }

    /// Boots a powered-off node: Domain-0 only, then the DRBD init script's `drbdadm up` of
    /// every resource its configuration gives it (Secondary, connecting: the handshake resyncs
    /// it from a peer that changed, or finds a split brain). Its networks stay as they were:
    /// a node cut off before it was powered off is still cut off. False for an unknown node.
    pub fn power_on(&self, node: &str) -> bool {
        self.fault(node, "power on", |w| {
            power::power_on(w, node);
        })
    }

    /// Whether a node is powered on; None for a node the cluster does not have.
    pub fn powered(&self, node: &str) -> Option<bool> {
        self.lock().nodes.get(node).map(|n| !n.presence.off)
    }

    /// Cuts a node from the controller and from its DRBD peers while it keeps running: its
    /// domains run on, and each of its resources goes `WFConnection` on both sides. False for
    /// an unknown node.
    pub fn isolate_node(&self, node: &str) -> bool {
        self.fault(node, "isolate-node", |w| power::isolate(w, node))
    }

    /// Restores every network of a node: the controller reaches it again (if it is on) and
    /// its resources reconnect to their peers, resyncing or finding a split brain. False for
    /// an unknown node.
    pub fn heal_node(&self, node: &str) -> bool {
        self.fault(node, "heal", |w| power::heal(w, node))
    }

    /// Changes the world around `node`, then lets DRBD settle everywhere and records the
    /// invariants it broke. False (and nothing changed) for an unknown node.
    fn fault(&self, node: &str, what: &str, change: impl FnOnce(&mut World)) -> bool {
        let mut w = self.lock();
        if !w.nodes.contains_key(node) {
            return false;
        }
        change(&mut w);
        after_command(&mut w, node, &format!("sim {what}"), None, Pace::Stepped);
        true
    }

    /// The next `n` commands whose argv joined by spaces contains `pattern` fail with exit
    /// status 1 and `injected failure` on stderr, without running.
    pub fn fail_next(&self, pattern: &str, n: usize) {
        self.lock().faults.fail_next.push(FailRule {
            pattern: pattern.to_string(),
            remaining: n,
        });
    }

    /// Forgets every injected failure not yet used.
    pub fn clear_faults(&self) {
        self.lock().faults.fail_next.clear();
    }

    /// A split brain on `resource`, as after both nodes wrote while disconnected and then met
    /// again: both StandAlone, data diverged.
    pub fn split_brain(&self, resource: &str) {
        let mut w = self.lock();
        drbdstate::inject_split_brain(&mut w, resource);
        after_command(
            &mut w,
            "(fault injection)",
            &format!("split brain on {resource}"),
            None,
            Pace::AtOnce,
        );
    }

    /// Writes to a snapshot's origin fill its copy-on-write space by `hundredths` of a
    /// percent (10000: all of it, and the snapshot is invalid, as LVM marks one that
    /// overflowed). The new fill, or why there is no such snapshot.
    pub fn fill_snapshot(&self, node: &str, lv: &str, hundredths: u32) -> Result<u32, String> {
        let mut w = self.lock();
        if !w.nodes.contains_key(node) {
            return Err(format!("no node `{node}` in the simulated cluster"));
        }
        let used = lvm::fill_snapshot(&mut w, node, lv, hundredths)?;
        after_command(
            &mut w,
            "(fault injection)",
            &format!("writes fill snapshot {lv} on {node}"),
            None,
            Pace::AtOnce,
        );
        Ok(used)
    }

    /// Puts a file of `size` bytes holding data at `path` on an OCFS2 filesystem `node` has
    /// mounted, as an operator copying an image there would (every node mounting it sees it).
    pub fn put_image(&self, node: &str, path: &str, size: u64) -> Result<(), String> {
        images::put(&mut self.lock(), node, path, size)
    }

    /// The image file at `path` as `node` sees it: its size and whether it holds data.
    pub fn image(&self, node: &str, path: &str) -> Option<(u64, bool)> {
        images::file(&self.lock(), node, path).map(|f| (f.size, f.data))
    }

    /// After `n` more commands every command (every batch) fails with
    /// [`TransportError::Unreachable`] until [`SimCluster::recover`]. A batch interrupted by the
    /// crash keeps the effects of its commands that ran.
    pub fn crash_after(&self, n: u64) {
        let mut w = self.lock();
        w.faults.crash_after = Some(n);
        w.faults.crashed = n == 0;
    }

    /// Ends a crash: commands run again.
    pub fn recover(&self) {
        let mut w = self.lock();
        w.faults.crash_after = None;
        w.faults.crashed = false;
    }

    /// Runs one command on one node (as a one-command batch).
    pub fn run(&self, node: &str, cmd: &Cmd) -> Result<Output, TransportError> {
        self.run_batch(node, std::slice::from_ref(cmd))
            .map(|mut v| v.remove(0))
    }
}

fn unreachable(node: &str, reason: &str) -> TransportError {
    TransportError::Unreachable {
        node: node.to_string(),
        reason: reason.to_string(),
    }
}

impl Transport for SimCluster {
    /// One caller per core: every batch runs under the one lock of the state, so more callers
    /// only wait, each holding the outputs of a node it has not read yet.
    fn batches_at_once(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn run_batch(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        let mut w = self.lock();
        if !w.nodes.contains_key(node) {
            return Err(unreachable(node, "no such node in the simulated cluster"));
        }
        let presence = &w.node(node).presence;
        if presence.off {
            return Err(unreachable(node, "node is powered off (simulated)"));
        }
        if presence.cut_from_controller {
            return Err(unreachable(node, "node is down (simulated)"));
        }
        let mut outputs = Vec::with_capacity(batch.len());
        for cmd in batch {
            if w.faults.crashed {
                return Err(unreachable(node, "the simulated cluster crashed"));
            }
            if let Some(left) = w.faults.crash_after.as_mut() {
                if *left == 0 {
                    w.faults.crashed = true;
                    return Err(unreachable(node, "the simulated cluster crashed"));
                }
                *left -= 1;
            }
            outputs.push(run_logged(&mut w, node, cmd));
        }
        // Simulated time passes with every batch: resyncs after a node's return move on.
        let ended = drbdstate::advance(&mut w, node);
        if !ended.is_empty() {
            after_command(&mut w, node, "(resync)", Some(&ended), Pace::AtOnce);
        }
        Ok(outputs)
    }
}

/// Runs one command, logs it, settles DRBD and checks the invariants.
fn run_logged(w: &mut World, node: &str, cmd: &Cmd) -> Output {
    let line = cmd.argv.join(" ");
    // What the rules read, before a command that can change DRBD (reads, the most frequent
    // commands, need none of it).
    let drbd = matches!(affects(&cmd.argv), Affects::Drbd);
    // The node's resources the command names: the only ones it can add or take away (`up`
    // and `down` act on the resource named), so with those it has afterwards they are every
    // one it had before (no copy of them all for each command).
    let before = if drbd {
        named(w, node, &cmd.argv)
    } else {
        BTreeSet::new()
    };
    #[cfg(debug_assertions)]
    let all_before = if drbd {
        resources(w, node)
    } else {
        BTreeSet::new()
    };
    let named_before = if drbd {
        named_state(w, node, &cmd.argv)
    } else {
        None
    };
    let injected = w
        .faults
        .fail_next
        .iter_mut()
        .find(|r| r.remaining > 0 && line.contains(&r.pattern));
    let out = match injected {
        Some(rule) => {
            rule.remaining -= 1;
            Out::fail(1, "injected failure\n")
        }
        None => execute(w, node, cmd),
    };
    w.faults.fail_next.retain(|r| r.remaining > 0);
    w.log.push(LogEntry {
        node: node.to_string(),
        argv: cmd.argv.clone(),
        status: Some(out.status),
    });
    // Only what a command can affect is settled and checked: a report changes nothing, an LV
    // or a file changes no DRBD connection or role; this keeps applying a plan linear in the
    // size of the cluster.
    match affects(&cmd.argv) {
        Affects::Nothing => {}
        Affects::Rules => {
            // Domains and mounts only: the rules of each resource stand as they were.
            let scope = if changes_no_drbd(&cmd.argv) {
                invariants::Scope::Domains
            } else {
                invariants::Scope::All
            };
            check_scoped(w, node, &Cmd::new(cmd.argv.clone()).display(), scope);
        }
        Affects::Drbd => {
            let mut named = before;
            named.extend(self::named(w, node, &cmd.argv));
            let all = cmd.argv.iter().any(|w| w == "all") || named.is_empty();
            let scope = if all {
                let mut mine = resources(w, node);
                mine.extend(named);
                mine
            } else {
                named
            };
            #[cfg(debug_assertions)]
            {
                let mut mine = all_before;
                mine.extend(resources(w, node));
                let named: BTreeSet<String> = mine
                    .iter()
                    .filter(|r| cmd.argv.iter().any(|w| w == *r))
                    .cloned()
                    .collect();
                let whole = all || named.is_empty();
                debug_assert_eq!(scope, if whole { mine } else { named });
            }
            drbdstate::settle(w, Some(&scope), Pace::AtOnce);
            // The rules read DRBD states, domains and mounts: a command on named resources
            // that left every one of them as it was, on every node, on a node with no local
            // mount, cannot have broken or mended one (checking the whole cluster after each
            // of an apply's commands made applying quadratic in the cluster's size).
            let unchanged =
                !all && named_before.is_some() && named_before == named_state(w, node, &cmd.argv);
            if !unchanged {
                let what = Cmd::new(cmd.argv.clone()).display();
                if all {
                    check_rules(w, node, &what);
                } else {
                    let names = &scope;
                    check_scoped(w, node, &what, invariants::Scope::Resources { node, names });
                }
            }
        }
    }
    Output {
        argv: cmd.argv.clone(),
        status: Some(out.status),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// What a command can change, as far as DRBD's state and the invariants go.
enum Affects {
    /// A report, an LV, a file, a filesystem: no DRBD state, no invariant.
    Nothing,
    /// Domains or mounts: the invariants, not DRBD.
    Rules,
    /// DRBD's resources (the ones it names, else all of the node's) and the invariants.
    Drbd,
}

fn affects(argv: &[String]) -> Affects {
    if reads_only(argv) {
        return Affects::Nothing;
    }
    match argv.first().map(String::as_str) {
        Some("drbdadm" | "drbdsetup" | "drbdmeta" | "ip" | "bridge") => Affects::Drbd,
        Some(
            "lvcreate" | "lvextend" | "lvchange" | "lvremove" | "install" | "mkdir" | "rm" | "dd"
            | "truncate" | "mkfs.ext4" | "mkfs.ext3" | "mkfs.xfs" | "resize2fs" | "tunefs.ocfs2",
        ) => Affects::Nothing,
        _ => Affects::Rules,
    }
}

/// Commands that only report. Anything not listed here counts as a change.
fn reads_only(argv: &[String]) -> bool {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["cat" | "ls" | "ss" | "stat" | "vgs" | "lvs" | "mounted.ocfs2" | "blkid" | "printenv", ..] => {
            true
        }
        ["drbdadm", rest @ ..] => {
            // The subcommand is the first word that is neither an option nor `-c`'s file.
            let mut words = rest.iter();
            let mut sub = None;
            while let Some(w) = words.next() {
                if *w == "-c" {
                    words.next();
                } else if !w.starts_with('-') {
                    sub = Some(*w);
                    break;
                }
            }
            matches!(
                sub,
                Some("dump-xml" | "status" | "cstate" | "dstate" | "role" | "sh-nop" | "dump")
            )
        }
        ["drbdsetup", sub, ..] => matches!(*sub, "status" | "events2" | "show"),
        ["drbdmeta", .., "dump-md"] => true,
        ["tunefs.ocfs2", "-Q", ..] => true,
        ["xl", sub, ..] => matches!(*sub, "list" | "info" | "block-list" | "network-list"),
        ["start-stop-daemon", "--status", ..] => true,
        ["ip" | "bridge", rest @ ..] => {
            rest.contains(&"show") && !rest.iter().any(|w| matches!(*w, "add" | "set" | "del"))
        }
        ["o2cb", sub, ..] => matches!(*sub, "cluster-status" | "list-cluster" | "list-clusters"),
        _ => false,
    }
}

/// Simulated time passes: DRBD peers connect and resync; then new invariant breaks are recorded.
/// `scope` as for [`drbdstate::settle`].
fn after_command(
    w: &mut World,
    node: &str,
    what: &str,
    scope: Option<&BTreeSet<String>>,
    pace: Pace,
) {
    drbdstate::settle(w, scope, pace);
    check_rules(w, node, what);
}

/// Commands that change domains or mounts (or nothing) and never a DRBD resource.
fn changes_no_drbd(argv: &[String]) -> bool {
    matches!(
        argv.first().map(String::as_str),
        Some(
            "xl" | "mount"
                | "umount"
                | "mkfs.ocfs2"
                | "o2cb"
                | "/etc/init.d/o2cb"
                | "sh"
                | "start-stop-daemon"
        )
    )
}

/// New invariant breaks are recorded (`what` on `node` broke them).
fn check_rules(w: &mut World, node: &str, what: &str) {
    check_scoped(w, node, what, invariants::Scope::All);
}

/// New invariant breaks are recorded, looking again only at what `scope` may have changed.
fn check_scoped(w: &mut World, node: &str, what: &str, scope: invariants::Scope) {
    let now = invariants::recheck(w, scope);
    for v in now.difference(&w.broken).cloned().collect::<Vec<_>>() {
        w.violations.push(format!("after `{what}` on {node}: {v}"));
    }
    w.broken = now;
}

/// The DRBD state, on every node, of each resource of `node` that `argv` names (None when
/// the node has a local filesystem mounted, whose content a DRBD command could change): what
/// the rules read of them. A resource the command creates is not named before it and named
/// after, so the two never compare equal.
fn named_state(w: &World, node: &str, argv: &[String]) -> Option<Vec<Option<state::DrbdRes>>> {
    let n = w.nodes.get(node)?;
    if n.mounts.iter().any(|m| m.fstype != "ocfs2") {
        return None;
    }
    Some(
        argv.iter()
            .filter(|word| n.drbd.contains_key(*word))
            .flat_map(|word| w.nodes.values().map(move |n| n.drbd.get(word).cloned()))
            .collect(),
    )
}

/// The DRBD resources of a node that `argv` names.
fn named(w: &World, node: &str, argv: &[String]) -> BTreeSet<String> {
    let n = w.node(node);
    argv.iter()
        .filter(|word| n.drbd.contains_key(*word))
        .cloned()
        .collect()
}

/// The DRBD resources a node has.
fn resources(w: &World, node: &str) -> BTreeSet<String> {
    w.nodes
        .get(node)
        .map(|n| n.drbd.keys().cloned().collect())
        .unwrap_or_default()
}

/// Interprets one argv on `node`.
fn execute(w: &mut World, node: &str, cmd: &Cmd) -> Out {
    let argv: Vec<&str> = cmd.argv.iter().map(String::as_str).collect();
    let stdin = cmd.stdin.as_deref();
    let Some((&prog, args)) = argv.split_first() else {
        return Out::fail(127, ": command not found\n");
    };
    match prog {
        // coreutils `timeout SECS PROG ARGS...`: nothing simulated takes long enough to hit it.
        "timeout" => match args {
            [secs, prog, rest @ ..] if secs.trim_end_matches('s').parse::<f64>().is_ok() => {
                let inner = Cmd {
                    argv: std::iter::once(prog)
                        .chain(rest)
                        .map(|a| a.to_string())
                        .collect(),
                    stdin: cmd.stdin.clone(),
                    within: None,
                };
                execute(w, node, &inner)
            }
            _ => Out::fail(
                125,
                "timeout: missing operand\nTry 'timeout --help' for more information.\n",
            ),
        },
        "cat" => files::cat(w, node, args),
        "ls" => files::ls(w, node, args),
        // A simulated node is not reached over SSH: nothing is set, as printenv reports it.
        "printenv" => Out::fail(1, ""),
        "install" => files::install(w, node, args, stdin),
        "mkdir" => files::mkdir(w, node, args),
        "stat" => images::stat(w, node, args),
        "dd" => images::dd(w, node, args),
        "truncate" => images::truncate(w, node, args),
        "rm" => files::rm(w, node, args),
        "ss" => files::ss(w, node, args),
        "vgs" | "lvs" => lvm::report(w, node, prog, &lvm::strip_common(args)),
        "lvcreate" => lvm::lvcreate(w, node, &lvm::strip_common(args)),
        "lvextend" => lvm::lvextend(w, node, &lvm::strip_common(args)),
        "lvchange" => lvm::lvchange(w, node, &lvm::strip_common(args)),
        "lvremove" => lvm::lvremove(w, node, &lvm::strip_common(args)),
        "drbdadm" => drbd::drbdadm(w, node, args),
        "drbdmeta" => drbd::drbdmeta(w, node, args),
        "drbdsetup" => drbd::drbdsetup(w, node, args),
        "xl" => xen::xl(w, node, args),
        "start-stop-daemon" => remus::start_stop_daemon(w, node, args),
        "sh" => remus::sh(w, node, args),
        "ip" => net::ip(w, node, args),
        "bridge" => net::bridge(w, node, args),
        "/etc/init.d/o2cb" => ocfs2::init_script(w, node, args),
        "o2cb" => ocfs2::o2cb(w, node, args),
        "mounted.ocfs2" => ocfs2::mounted(w, node, args),
        "mkfs.ocfs2" => ocfs2::mkfs(w, node, args, stdin),
        "tunefs.ocfs2" => ocfs2::tunefs(w, node, args),
        "mkfs.ext4" | "mkfs.ext3" | "mkfs.xfs" => fs::mkfs(w, node, prog, args),
        "resize2fs" => fs::resize2fs(w, node, args),
        "mount" => fs::mount(w, node, args),
        "umount" => fs::umount(w, node, args),
        "blkid" => fs::blkid(w, node, args),
        other => Out::fail(127, format!("{other}: command not found\n")),
    }
}
