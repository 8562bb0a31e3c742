//! Runs batches on remote nodes through the system OpenSSH client, one multiplexed connection
//! per node and one round trip per batch. The operator's `~/.ssh/config`, agent and
//! `known_hosts` apply; host keys are always checked and ssh never prompts (`BatchMode`).
//!
//! A batch travels as one POSIX `sh` script on ssh's standard input (`ssh … HOST sh -s`):
//! every argv word single-quoted, each program started by `exec` in a subshell, each command's
//! own input written to a file first (a quoted here-document whose delimiter carries a random
//! nonce, cut to the exact byte count with `head -c`) or `/dev/null`, so no command ever reads
//! the script. Each command's stdout, stderr and exit status go to files in a `mktemp -d`
//! directory (removed by a trap) and come back framed by byte lengths ([`super::frames`]).
//! When ssh itself fails (exit 255) before the script printed anything, nothing ran on the node
//! and the batch is sent once more, two seconds later.
//!
//! This module must not know what the commands mean (no DRBD, no LVM), and spawns nothing
//! itself: processes start in [`super::local`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use thiserror::Error;

use super::frames::{self, FrameError};
use super::local::{run_captured, run_within};
use super::{always_quote, Cmd, Output, Transport, TransportError};
use crate::model::SshTarget;

/// How ssh is run. [`SshOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// The ssh client (default `ssh` on PATH).
    pub program: PathBuf,
    /// An ssh config file given to ssh with `-F` instead of `~/.ssh/config`.
    pub config: Option<PathBuf>,
    /// Where the control sockets live (see [`control_dir`]).
    pub control_dir: PathBuf,
    /// ssh's `ConnectTimeout`.
    pub connect_timeout: Duration,
    /// ssh's `ControlPersist`: how long an idle master outlives its last session when
    /// [`Ssh::close`] never ran (a crash).
    pub persist: Duration,
    /// How long a batch may take before ssh is stopped and the batch reported interrupted: a
    /// node whose sshd answers but whose tools hang (a wedged xenstored) must not hold xenflux
    /// for ever.
    pub answer_within: Duration,
    /// The same for a batch that only reads (an observation), which is then sent once more.
    pub reads_within: Duration,
}

impl SshOptions {
    /// Defaults: `ssh` on PATH, the operator's own config, 10 s to connect, masters kept 60 s,
    /// a batch answered within [`ANSWER_WITHIN`].
    pub fn new(control_dir: PathBuf) -> SshOptions {
        SshOptions {
            program: PathBuf::from("ssh"),
            config: None,
            control_dir,
            connect_timeout: Duration::from_secs(10),
            persist: Duration::from_secs(60),
            answer_within: ANSWER_WITHIN,
            reads_within: READS_WITHIN,
        }
    }
}

/// Errors preparing SSH (not reaching a node: that is [`TransportError`]).
#[derive(Debug, Error)]
pub enum SshError {
    #[error("cannot create the ssh control directory {path}: {error}")]
    ControlDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the ssh control directory {path} is not a private directory of this user (owner uid {uid}, mode {mode:o}): refusing to put control sockets there")]
    ControlDirUnsafe { path: PathBuf, uid: u32, mode: u32 },
}

/// The longest a batch may take by default: beyond the slowest single action xenflux runs
/// (a live migration of a large domain, `mkfs.ocfs2` of a large device, a shutdown given 180 s).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(30 * 60);

/// The longest an observation batch may take by default: a node's whole observation takes
/// seconds (under emulation, about ten).
pub const READS_WITHIN: Duration = Duration::from_secs(120);

/// How much longer than its batch a command may run on the node (see [`script`]).
const ON_NODE_GRACE: Duration = Duration::from_secs(30);

/// How often a batch is sent again when ssh failed before anything ran on the node.
const RETRIES: u32 = 1;
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Nodes reached over SSH. `Send + Sync`: observation runs one thread per node.
#[derive(Debug)]
pub struct Ssh {
    targets: BTreeMap<String, SshTarget>,
    options: SshOptions,
    opened: Mutex<BTreeSet<String>>,
}

impl Ssh {
    /// The nodes `targets` names (node name → where ssh reaches it).
    pub fn new(targets: BTreeMap<String, SshTarget>, options: SshOptions) -> Ssh {
        Ssh {
            targets,
            options,
            opened: Mutex::new(BTreeSet::new()),
        }
    }

    /// The ssh argv up to (not including) the destination: options shared by batches and
    /// `-O exit`, so both name the same control socket.
    fn ssh_argv(&self, t: &SshTarget) -> Vec<String> {
        let o = &self.options;
        let mut argv = vec![o.program.to_string_lossy().into_owned()];
        if let Some(config) = &o.config {
            argv.push("-F".into());
            argv.push(config.to_string_lossy().into_owned());
        }
        let socket = format!("{}/%C", o.control_dir.to_string_lossy().replace('%', "%%"));
        for opt in [
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={}", o.connect_timeout.as_secs().max(1)),
            "ControlMaster=auto".into(),
            format!("ControlPath=\"{socket}\""),
            format!("ControlPersist={}", o.persist.as_secs().max(1)),
            // A peer that vanishes mid-batch is noticed instead of waited on forever.
            "ServerAliveInterval=10".into(),
            "ServerAliveCountMax=3".into(),
        ] {
            argv.push("-o".into());
            argv.push(opt);
        }
        // Only what the Node sets: the rest comes from the operator's ssh config.
        if let Some(port) = t.port {
            argv.extend(["-p".into(), port.to_string()]);
        }
        if let Some(user) = &t.user {
            argv.extend(["-l".into(), user.clone()]);
        }
        argv
    }

    /// Ends the control master of every node this transport opened (`ssh -O exit`).
    pub fn close(&self) {
        let opened = std::mem::take(&mut *self.opened.lock().unwrap_or_else(|p| p.into_inner()));
        for node in opened {
            let Some(t) = self.targets.get(&node) else {
                continue;
            };
            let mut argv = self.ssh_argv(t);
            argv.extend(["-O".into(), "exit".into(), "--".into(), t.host.clone()]);
            // A master that already went away (persist timeout, dead peer) is what we wanted.
            let _ = run_captured(&argv, &[], None);
        }
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

impl Transport for Ssh {
    fn run_batch(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        self.send(node, batch, self.options.answer_within)
            .map_err(|(e, _)| e)
    }

    fn run_reads(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        match self.send(node, batch, self.options.reads_within) {
            // Reads change nothing: one that hung (a stuck connection, a tool that blocked for
            // a moment) is asked again, once.
            Err((e, TimedOut(true))) => {
                tracing::warn!(node, error = %e, "observation timed out; sending it again");
                self.send(node, batch, self.options.reads_within)
                    .map_err(|(e, _)| e)
            }
            answer => answer.map_err(|(e, _)| e),
        }
    }
}

/// Whether a batch failed because it had no answer in time.
struct TimedOut(bool);

impl Ssh {
    /// Sends one batch, stopping ssh after `within`.
    fn send(
        &self,
        node: &str,
        batch: &[Cmd],
        within: Duration,
    ) -> Result<Vec<Output>, (TransportError, TimedOut)> {
        let unreachable = |reason: String| TransportError::Unreachable {
            node: node.to_string(),
            reason,
        };
        let Some(t) = self.targets.get(node) else {
            return Err((
                unreachable("no ssh target is known for this node".into()),
                TimedOut(false),
            ));
        };
        // Each command is bounded on the node too, a little beyond the batch: a tool that spins
        // (an `lvs` seen looping for minutes right after `xl create`) is ended there, not left
        // running once ssh has been stopped here.
        let (nonce, text) = script(batch, Some(within + ON_NODE_GRACE));
        let mut argv = self.ssh_argv(t);
        argv.extend(["--".into(), t.host.clone(), "sh".into(), "-s".into()]);
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_string());
        let mut attempt = 0;
        let sent = std::time::Instant::now();
        tracing::debug!(node, commands = batch.len(), first = %batch.first().map_or(String::new(), Cmd::display), "ssh batch sent");
        let answer = loop {
            let answer = run_within(&argv, &[], Some(text.as_bytes()), within).map_err(|e| {
                (
                    unreachable(format!(
                        "cannot run {}: {e}",
                        self.options.program.display()
                    )),
                    TimedOut(false),
                )
            })?;
            // ssh itself failed (exit 255) before the script printed anything: nothing ran on
            // the node, so one more try is safe — and rides out a transient refusal.
            let nothing_ran =
                !answer.timed_out && answer.status == Some(255) && answer.stdout.is_empty();
            if !nothing_ran || attempt >= RETRIES {
                break answer;
            }
            attempt += 1;
            std::thread::sleep(RETRY_AFTER);
        };
        let ssh_said = || {
            let status = answer
                .status
                .map_or("was killed by a signal".into(), |s| format!("exited {s}"));
            let stderr = String::from_utf8_lossy(&answer.stderr);
            // One line: ssh often explains itself on two or more.
            let said: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let user = t.user.as_ref().map_or(String::new(), |u| format!("{u}@"));
            let port = t.port.map_or(String::new(), |p| format!(":{p}"));
            format!("ssh {user}{}{port} {status}: {}", t.host, said.join(" / "))
        };
        tracing::debug!(
            node,
            status = ?answer.status,
            timed_out = answer.timed_out,
            seconds = sent.elapsed().as_secs_f64(),
            "ssh batch answered"
        );
        if answer.timed_out {
            let completed = match frames::parse(&answer.stdout, &nonce, batch.len()) {
                Ok(frames) => frames.len(),
                Err(FrameError::Broken { complete, .. }) => complete,
                Err(FrameError::NoHeader) => 0,
            };
            return Err((
                TransportError::Interrupted {
                    node: node.to_string(),
                    completed,
                    total: batch.len(),
                    reason: format!(
                        "no answer within {} s, ssh was stopped (what was running may still run on the node)",
                        within.as_secs()
                    ),
                },
                TimedOut(true),
            ));
        }
        match frames::parse(&answer.stdout, &nonce, batch.len()) {
            Ok(frames) => Ok(batch
                .iter()
                .zip(frames)
                .map(|(cmd, f)| Output {
                    argv: cmd.argv.clone(),
                    status: Some(f.status),
                    stdout: String::from_utf8_lossy(&f.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&f.stderr).into_owned(),
                })
                .collect()),
            Err(FrameError::NoHeader) => Err((unreachable(ssh_said()), TimedOut(false))),
            Err(FrameError::Broken { complete, why }) => Err((
                TransportError::Interrupted {
                    node: node.to_string(),
                    completed: complete,
                    total: batch.len(),
                    reason: format!("{why}; {}", ssh_said()),
                },
                TimedOut(false),
            )),
        }
    }
}

/// The batch as a POSIX sh script, with the nonce its frames and here-documents use. With
/// `bound`, each command runs under `timeout` (when the node has it) and is killed after that
/// long: exit status 124, and a line on its stderr saying so.
fn script(batch: &[Cmd], bound: Option<Duration>) -> (String, String) {
    let mut nonce = random_hex();
    let delimiter = |n: &str| format!("XENFLUX_IN_{n}");
    // The nonce is random; a content line equal to the delimiter is still checked for, so no
    // input can end its here-document early.
    while batch
        .iter()
        .filter_map(|c| c.stdin.as_deref())
        .any(|input| {
            let d = delimiter(&nonce);
            input.lines().any(|l| l == d)
        })
    {
        nonce = random_hex();
    }
    let delim = delimiter(&nonce);
    let mut s = String::new();
    s.push_str(concat!(
        "LC_ALL=C; export LC_ALL\n",
        "umask 077\n",
        "d=$(mktemp -d) || { echo 'xenflux: mktemp -d failed on the node' >&2; exit 96; }\n",
        "trap 'rm -rf \"$d\"' EXIT\n",
        // Signals with a trap still run the EXIT trap, so the directory goes on a hang-up.
        "trap 'exit 129' HUP\ntrap 'exit 130' INT\ntrap 'exit 141' PIPE\ntrap 'exit 143' TERM\n",
    ));
    s.push_str("t=; command -v timeout >/dev/null 2>&1 && t=timeout\n");
    let _ = writeln!(
        s,
        "printf '%s\\n' {}",
        always_quote(frames::header(&nonce).trim_end())
    );
    for (i, cmd) in batch.iter().enumerate() {
        let input = match &cmd.stdin {
            None => "/dev/null",
            Some(content) => {
                write_input(&mut s, content, &delim);
                "\"$d/i\""
            }
        };
        if cmd.argv.is_empty() {
            s.push_str("printf 'empty command\\n' >\"$d/e\"; : >\"$d/o\"; s=127\n");
        } else {
            let words: Vec<String> = cmd.argv.iter().map(|w| always_quote(w)).collect();
            // `exec` in a subshell runs a program from PATH as `Local` does: never a shell
            // builtin or keyword (`exit`, `trap`, `time`), never an assignment (`A=b`).
            // `timeout` only for a program that exists: a missing one is reported by the shell
            // (`not found`, 127) exactly as without it.
            let bound = match (bound, cmd.within) {
                (Some(b), Some(w)) => Some(b.min(w)),
                (b, w) => b.or(w),
            };
            match bound {
                Some(b) => {
                    let secs = b.as_secs().max(1);
                    let _ = writeln!(
                        s,
                        "c=; [ -n \"$t\" ] && command -v {} >/dev/null 2>&1 && c='timeout -k 10 {secs}'\n\
                         (exec $c {}) <{input} >\"$d/o\" 2>\"$d/e\"\n\
                         s=$?\n\
                         [ -n \"$c\" ] && [ \"$s\" -eq 124 ] && printf 'xenflux: stopped on the node after {secs} s\\n' >>\"$d/e\"",
                        words[0],
                        words.join(" ")
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "(exec {}) <{input} >\"$d/o\" 2>\"$d/e\"\ns=$?",
                        words.join(" ")
                    );
                }
            }
        }
        // `[ -s ]` is a builtin: an empty stream (most stderr) costs no wc or head process.
        let _ = writeln!(
            s,
            "o=0; e=0\n\
             [ -s \"$d/o\" ] && o=$(($(wc -c <\"$d/o\")))\n\
             [ -s \"$d/e\" ] && e=$(($(wc -c <\"$d/e\")))\n\
             printf '{i} %d %d %d\\n' \"$s\" \"$o\" \"$e\"\n\
             [ \"$o\" -gt 0 ] && head -c \"$o\" \"$d/o\"\n\
             [ \"$e\" -gt 0 ] && head -c \"$e\" \"$d/e\""
        );
    }
    let _ = writeln!(
        s,
        "printf '%s\\n' {}",
        always_quote(frames::trailer(&nonce).trim_end())
    );
    s.push_str("exit 0\n");
    (nonce, s)
}

/// Writes `content` to `$d/i`, byte-exact.
fn write_input(s: &mut String, content: &str, delim: &str) {
    if content.contains('\0') {
        // Shells drop NUL bytes from here-documents; printf's octal escapes carry them.
        let octal: String = content.bytes().map(|b| format!("\\{b:03o}")).collect();
        let _ = writeln!(s, "printf '{octal}' >\"$d/i\"");
        return;
    }
    let _ = writeln!(s, "head -c {} >\"$d/i\" <<'{delim}'", content.len());
    s.push_str(content);
    if !content.ends_with('\n') {
        s.push('\n');
    }
    let _ = writeln!(s, "{delim}");
}

/// 128 random bits as hex, from the kernel; a per-process hash of the time as a fallback.
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_kernel = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_kernel {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A private directory for control sockets: `preferred` (made absolute, created 0700) unless
/// its path is too long for a unix socket, then `/tmp/xenflux-ssh-UID-HASH`. ssh binds
/// `DIR/%C` (40 characters) plus a temporary suffix of 17, and a socket path holds at most 107
/// bytes.
pub fn control_dir(preferred: &Path) -> Result<PathBuf, SshError> {
    const MAX_DIR_LEN: usize = 107 - 1 - 40 - 17;
    let absolute = std::path::absolute(preferred).map_err(|error| SshError::ControlDir {
        path: preferred.to_path_buf(),
        error,
    })?;
    let dir = if absolute.as_os_str().len() <= MAX_DIR_LEN {
        absolute
    } else {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same state directory gets the same short directory.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        absolute.hash(&mut h);
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        PathBuf::from(format!("/tmp/xenflux-ssh-{uid}-{:016x}", h.finish()))
    };
    private_dir(&dir)?;
    Ok(dir)
}

/// Creates `dir` with mode 0700 (parents as needed) and checks that it is a directory owned by
/// this user that nobody else can enter.
fn private_dir(dir: &Path) -> Result<(), SshError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let io = |error| SshError::ControlDir {
        path: dir.to_path_buf(),
        error,
    };
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(SshError::ControlDirUnsafe {
            path: dir.to_path_buf(),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Local;

    #[test]
    fn port_and_user_come_from_the_ssh_config_unless_the_node_sets_them() {
        let ssh = Ssh::new(BTreeMap::new(), SshOptions::new(PathBuf::from("/run/x")));
        let bare = SshTarget {
            host: "nodea".into(),
            user: None,
            port: None,
        };
        let argv = ssh.ssh_argv(&bare);
        assert!(!argv.iter().any(|w| w == "-p" || w == "-l"), "{argv:?}");
        let set = SshTarget {
            user: Some("root".into()),
            port: Some(2222),
            ..bare
        };
        let argv = ssh.ssh_argv(&set).join(" ");
        assert!(argv.ends_with("-p 2222 -l root"), "{argv}");
    }

    /// The script run by a local `sh -s`, as ssh would have the remote shell run it.
    fn run_locally(batch: &[Cmd]) -> Vec<frames::Frame> {
        let (nonce, text) = script(batch, Some(Duration::from_secs(60)));
        let out = Local::new()
            .run_batch("here", &[Cmd::new(["sh", "-s"]).with_stdin(text)])
            .unwrap()
            .remove(0);
        frames::parse(out.stdout.as_bytes(), &nonce, batch.len()).unwrap()
    }

    #[test]
    fn the_script_keeps_streams_statuses_and_inputs_apart() {
        let input = "line\nXENFLUX_IN_x\n0 0 0 0\nno newline at the end";
        let f = run_locally(&[
            Cmd::new(["sh", "-c", "echo out; echo err >&2; exit 3"]),
            Cmd::new(["cat"]).with_stdin(input),
            Cmd::new(["cat"]),
            Cmd::new(["no-such-program-xenflux"]),
            Cmd::new(["printf", "%s|", "$(id)", "a b", "'", "*", "-n"]),
            Cmd::new(["cat"]).with_stdin("a\0b"),
            Cmd::new(Vec::<String>::new()),
            Cmd::new(["exit", "5"]),
            Cmd::new(["A=b", "true"]),
            Cmd::new(["printf", "still running"]),
        ]);
        assert_eq!(
            (f[0].status, &f[0].stdout[..], &f[0].stderr[..]),
            (3, &b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(f[1].stdout, input.as_bytes());
        assert_eq!(
            (f[2].status, f[2].stdout.len()),
            (0, 0),
            "no input: /dev/null, not the script"
        );
        assert_eq!(f[3].status, 127);
        assert_eq!(f[4].stdout, b"$(id)|a b|'|*|-n|");
        assert_eq!(f[5].stdout, b"a\0b");
        assert_eq!(f[6].status, 127);
        // Not the shell's builtin `exit`, not an assignment: programs that do not exist.
        assert_eq!((f[7].status, f[8].status), (127, 127));
        assert_eq!(f[9].stdout, b"still running");
    }

    #[test]
    fn a_short_preferred_directory_is_used_and_made_private() {
        let tmp = std::env::temp_dir().join(format!("xf-ctl-{}", std::process::id()));
        let dir = control_dir(&tmp.join("ssh")).unwrap();
        assert_eq!(dir, tmp.join("ssh"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let long = tmp.join("a-directory-name-long-enough-to-overflow-a-unix-socket-path");
        let short = control_dir(&long).unwrap();
        assert!(
            short.to_string_lossy().starts_with("/tmp/xenflux-ssh-"),
            "{}",
            short.display()
        );
        assert!(short.as_os_str().len() + 41 + 17 < 108);
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_dir_all(&short);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_batch_without_an_answer_in_time_is_interrupted_not_waited_on() {
        let tmp = tempfile::tempdir().unwrap();
        // An "ssh" that runs the script here, whatever its options say.
        let fake = tmp.path().join("ssh");
        std::fs::write(&fake, "#!/bin/sh\nexec sh -s\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut options = SshOptions::new(tmp.path().join("ctl"));
        options.program = fake;
        options.answer_within = Duration::from_millis(1500);
        let node = SshTarget {
            host: "nodea".into(),
            user: None,
            port: None,
        };
        let ssh = Ssh::new(BTreeMap::from([("nodea".to_string(), node)]), options);
        let err = ssh
            .run_batch(
                "nodea",
                &[Cmd::new(["echo", "one"]), Cmd::new(["sleep", "30"])],
            )
            .unwrap_err();
        match &err {
            TransportError::Interrupted {
                completed, total, ..
            } => assert_eq!((*completed, *total), (1, 2), "{err}"),
            other => panic!("expected an interrupted batch, got {other}"),
        }
        assert!(err.to_string().contains("no answer within 1 s"), "{err}");
        let ok = ssh
            .run_batch("nodea", &[Cmd::new(["echo", "two"])])
            .unwrap();
        assert_eq!(ok[0].stdout, "two\n");
    }

    #[test]
    fn a_command_past_its_bound_on_the_node_is_ended_there() {
        let batch = [Cmd::new(["sleep", "30"]), Cmd::new(["echo", "next"])];
        let (nonce, text) = script(&batch, Some(Duration::from_secs(1)));
        let started = std::time::Instant::now();
        let out = Local::new()
            .run_batch("here", &[Cmd::new(["sh", "-s"]).with_stdin(text)])
            .unwrap()
            .remove(0);
        let f = frames::parse(out.stdout.as_bytes(), &nonce, batch.len()).unwrap();
        assert_eq!(f[0].status, 124);
        assert!(
            String::from_utf8_lossy(&f[0].stderr).contains("stopped on the node after 1 s"),
            "{:?}",
            String::from_utf8_lossy(&f[0].stderr)
        );
        assert_eq!((f[1].status, f[1].stdout.as_slice()), (0, &b"next\n"[..]));
        assert!(started.elapsed() < Duration::from_secs(25));
    }

    #[test]
    fn a_command_with_its_own_shorter_bound_is_ended_at_that_bound() {
        for batch_bound in [None, Some(Duration::from_secs(600))] {
            let batch = [
                Cmd::new(["sleep", "30"]).bounded(Duration::from_secs(1)),
                Cmd::new(["sh", "-c", "sleep 2; echo slow"]),
            ];
            let (nonce, text) = script(&batch, batch_bound);
            let started = std::time::Instant::now();
            let out = Local::new()
                .run_batch("here", &[Cmd::new(["sh", "-s"]).with_stdin(text)])
                .unwrap()
                .remove(0);
            let f = frames::parse(out.stdout.as_bytes(), &nonce, batch.len()).unwrap();
            assert_eq!(f[0].status, 124, "{batch_bound:?}");
            assert!(
                String::from_utf8_lossy(&f[0].stderr).contains("stopped on the node after 1 s"),
                "{:?}",
                String::from_utf8_lossy(&f[0].stderr)
            );
            // The other command keeps the batch's bound (none, or 600 s): it is not cut at 1 s.
            assert_eq!((f[1].status, f[1].stdout.as_slice()), (0, &b"slow\n"[..]));
            assert!(started.elapsed() < Duration::from_secs(25));
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn reads_that_hang_once_are_sent_again_and_actions_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        // An "ssh" whose first connection of each kind hangs before running anything.
        let fake = tmp.path().join("ssh");
        let mark = tmp.path().join("hung-once");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\n[ -e '{m}' ] || {{ : >'{m}'; exec sleep 30; }}\nexec sh -s\n",
                m = mark.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut options = SshOptions::new(tmp.path().join("ctl"));
        options.program = fake;
        options.answer_within = Duration::from_millis(1500);
        options.reads_within = Duration::from_millis(1500);
        let node = SshTarget {
            host: "nodea".into(),
            user: None,
            port: None,
        };
        let ssh = Ssh::new(BTreeMap::from([("nodea".to_string(), node)]), options);
        let read = ssh
            .run_reads("nodea", &[Cmd::new(["echo", "read"])])
            .unwrap();
        assert_eq!(read[0].stdout, "read\n");
        std::fs::remove_file(&mark).unwrap();
        let err = ssh
            .run_batch("nodea", &[Cmd::new(["echo", "act"])])
            .unwrap_err();
        assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    }
}
