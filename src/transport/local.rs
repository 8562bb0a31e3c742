//! Runs batches on this machine. The only place in xenflux that spawns processes (clippy's
//! `disallowed-methods` keeps it that way).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use super::{Cmd, Output, Transport, TransportError};

/// This machine, optionally through a prefix argv (e.g. `ip netns exec NS` in tests) and with
/// extra environment variables.
#[derive(Clone, Debug, Default)]
pub struct Local {
    pub prefix: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Local {
    pub fn new() -> Local {
        Local::default()
    }

    fn run_one(&self, cmd: &Cmd) -> Output {
        let argv: Vec<String> = self.prefix.iter().chain(cmd.argv.iter()).cloned().collect();
        let not_run = |status: i32, why: String| Output {
            argv: cmd.argv.clone(),
            status: Some(status),
            stdout: String::new(),
            stderr: why,
        };
        let Some(program) = argv.first() else {
            return not_run(127, "empty command".into());
        };
        let stdin = cmd.stdin.as_deref().map(str::as_bytes);
        let ran = match cmd.within {
            Some(w) => run_within(&argv, &self.env, stdin, w),
            None => run_captured(&argv, &self.env, stdin),
        };
        match ran {
            Ok(out) if out.timed_out => Output {
                argv: cmd.argv.clone(),
                status: Some(124),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: format!(
                    "{}xenflux: stopped after {} s\n",
                    String::from_utf8_lossy(&out.stderr),
                    cmd.within.map_or(0, |w| w.as_secs().max(1))
                ),
            },
            Ok(out) => Output {
                argv: cmd.argv.clone(),
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                not_run(127, format!("{program}: command not found"))
            }
            Err(e) => not_run(126, format!("{program}: {e}")),
        }
    }
}

/// What a process spawned by [`run_captured`] left: raw bytes, exit status (None: killed by a
/// signal).
#[derive(Debug)]
pub(crate) struct Captured {
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Killed because it had not finished within the time [`run_within`] gave it.
    pub timed_out: bool,
}

/// Runs `argv` (non-empty) to completion with extra environment variables, feeding `stdin`
/// (`/dev/null` when None) while reading stdout and stderr, and returns what it printed.
pub(crate) fn run_captured(
    argv: &[String],
    env: &[(String, String)],
    stdin: Option<&[u8]>,
) -> std::io::Result<Captured> {
    run_bounded(argv, env, stdin, MAX_OUTPUT, None, false)
}

/// [`run_captured`] for a process that must have finished within `within`: one still running
/// then is killed, and what it printed so far comes back with `timed_out` set.
pub(crate) fn run_within(
    argv: &[String],
    env: &[(String, String)],
    stdin: Option<&[u8]>,
    within: Duration,
) -> std::io::Result<Captured> {
    run_bounded(argv, env, stdin, MAX_OUTPUT, Some(within), false)
}

/// [`run_within`] for a command that may start children of its own (a fence agent that is a
/// script): it runs in a process group of its own, and at the deadline the whole group is
/// killed, so no grandchild holding its output open can outlive the time limit.
pub(crate) fn run_within_group(argv: &[String], within: Duration) -> std::io::Result<Captured> {
    run_bounded(argv, &[], None, MAX_OUTPUT, Some(within), true)
}

/// [`run_within_group`] with `stdin` fed to the command (a notification command reading the
/// event).
pub(crate) fn run_within_group_input(
    argv: &[String],
    stdin: &[u8],
    within: Duration,
) -> std::io::Result<Captured> {
    run_bounded(argv, &[], Some(stdin), MAX_OUTPUT, Some(within), true)
}

/// [`run_captured`] with `max` bytes allowed on each of stdout and stderr, and optionally a
/// time limit.
fn run_bounded(
    argv: &[String],
    env: &[(String, String)],
    stdin: Option<&[u8]>,
    max: u64,
    within: Option<Duration>,
    own_group: bool,
) -> std::io::Result<Captured> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    #[allow(clippy::disallowed_methods)]
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if own_group {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    let mut child = command.spawn()?;
    let group = own_group.then(|| child.id());
    let pipe = child.stdin.take();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other(
            "the child's output pipes are missing",
        ));
    };
    // Input is written from its own thread while stdout and stderr are read from theirs, so a
    // child that answers before it has read everything (ssh relaying a remote script) and noisy
    // tools never deadlock. Each stream is read up to MAX_OUTPUT: a node (or a tool) that prints
    // without end is stopped rather than allowed to fill this machine's memory.
    let child = std::sync::Mutex::new(child);
    let timed_out = AtomicBool::new(false);
    let (out, err) = std::thread::scope(|scope| {
        // The watchdog: woken when both readers are done, or kills the child at the deadline
        // (its pipes then close and the readers finish).
        let (done, finished) = std::sync::mpsc::channel::<()>();
        if let Some(within) = within {
            let (child, timed_out) = (&child, &timed_out);
            scope.spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(within) {
                    timed_out.store(true, Ordering::SeqCst);
                    if let Some(pgid) = group.and_then(|g| libc::pid_t::try_from(g).ok()) {
                        // SAFETY: kill(2) with a negative pid signals that process group, which
                        // this child leads; it touches no memory.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                }
            });
        }
        if let (Some(input), Some(mut pipe)) = (stdin, pipe) {
            scope.spawn(move || {
                // xenflux keeps SIGPIPE's default action (a closed stdout ends it quietly), so a
                // write into a child that already exited would kill xenflux: blocked in this
                // thread, SIGPIPE turns into an EPIPE error here and dies with the thread.
                block_sigpipe();
                // A child that exits without reading its input is not our error; its status
                // says what happened.
                let _ = pipe.write_all(input);
            });
        }
        let read = |mut from: Box<dyn std::io::Read + Send>| {
            let child = &child;
            scope.spawn(move || -> std::io::Result<Vec<u8>> {
                let mut buf = Vec::new();
                Read::take(&mut from, max + 1).read_to_end(&mut buf)?;
                if buf.len() as u64 > max {
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                    return Err(std::io::Error::other(format!(
                        "`{}` printed more than {max} bytes; stopped",
                        argv.join(" ")
                    )));
                }
                Ok(buf)
            })
        };
        let out = read(Box::new(stdout));
        let err = read(Box::new(stderr));
        let both = (out.join(), err.join());
        drop(done);
        both
    });
    let joined = |r: std::thread::Result<std::io::Result<Vec<u8>>>| {
        r.unwrap_or_else(|_| Err(std::io::Error::other("an output reader panicked")))
    };
    let (out, err) = (joined(out), joined(err));
    let mut child = child
        .into_inner()
        .map_err(|_| std::io::Error::other("the child's lock was poisoned"))?;
    let status = child.wait()?;
    Ok(Captured {
        status: status.code(),
        stdout: out?,
        stderr: err?,
        timed_out: timed_out.load(Ordering::SeqCst),
    })
}

/// The most one command may print on stdout, and on stderr (the observation of a 64-node
/// estate's largest node prints a few MiB).
pub(crate) const MAX_OUTPUT: u64 = 256 << 20;

impl Transport for Local {
    fn run_batch(&self, _node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        Ok(batch.iter().map(|c| self.run_one(c)).collect())
    }
}

/// Blocks SIGPIPE for the calling thread only.
fn block_sigpipe() {
    // SAFETY: sigemptyset/sigaddset fill a local set; pthread_sigmask changes only this
    // thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_own_bound_is_stopped_with_124() {
        let out = Local::new()
            .run_batch(
                "here",
                &[
                    Cmd::new(["sleep", "30"]).bounded(Duration::from_millis(300)),
                    Cmd::new(["echo", "next"]),
                ],
            )
            .unwrap();
        assert_eq!(out[0].status, Some(124));
        assert!(
            out[0].stderr.contains("xenflux: stopped after 1 s"),
            "{:?}",
            out[0]
        );
        assert_eq!((out[1].status, out[1].stdout.as_str()), (Some(0), "next\n"));
    }

    #[test]
    fn a_command_that_prints_without_end_is_stopped() {
        let argv: Vec<String> = ["sh", "-c", "yes; echo never"].map(String::from).to_vec();
        let err = run_bounded(&argv, &[], None, 1 << 16, None, false).unwrap_err();
        assert!(
            err.to_string().contains("printed more than 65536 bytes"),
            "{err}"
        );
        let echo = ["echo", "hi"].map(String::from).to_vec();
        let ok = run_bounded(&echo, &[], None, 1 << 16, None, false).unwrap();
        assert_eq!(ok.stdout, b"hi\n");
    }

    #[test]
    fn a_command_past_its_time_is_killed_and_says_so() {
        let argv: Vec<String> = ["sh", "-c", "echo started; exec sleep 30"]
            .map(String::from)
            .to_vec();
        let started = std::time::Instant::now();
        let out = run_within(&argv, &[], None, Duration::from_millis(300)).unwrap();
        assert!(out.timed_out);
        assert_eq!(out.status, None, "killed by a signal");
        assert_eq!(
            out.stdout, b"started\n",
            "what it printed so far comes back"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        let quick = ["echo", "hi"].map(String::from).to_vec();
        let ok = run_within(&quick, &[], None, Duration::from_secs(30)).unwrap();
        assert!(!ok.timed_out);
        assert_eq!(ok.status, Some(0));
    }

    #[test]
    fn outputs_are_kept_apart_per_command() {
        let out = Local::new()
            .run_batch(
                "here",
                &[
                    Cmd::new(["sh", "-c", "echo out; echo err >&2; exit 3"]),
                    Cmd::new(["cat"]).with_stdin("fed"),
                    Cmd::new(["no-such-program-xenflux"]),
                ],
            )
            .unwrap();
        assert_eq!(
            (
                out[0].status,
                out[0].stdout.as_str(),
                out[0].stderr.as_str()
            ),
            (Some(3), "out\n", "err\n")
        );
        assert_eq!(out[1].stdout, "fed");
        assert_eq!(out[2].status, Some(127));
        assert!(out[2].describe().contains("command not found"));
    }
}

/// What a finished command cost, as the kernel accounted it ([`run_measured`]).
#[derive(Clone, Debug)]
pub struct Measured {
    /// Exit status; None when a signal ended it.
    pub status: Option<i32>,
    pub wall: Duration,
    /// User plus system time.
    pub cpu: Duration,
    /// Peak resident memory (`ru_maxrss`), in KiB.
    pub max_rss_kib: u64,
    /// The first [`MEASURED_STDERR`] bytes of its stderr.
    pub stderr: String,
}

/// How much of a measured command's stderr is kept.
pub const MEASURED_STDERR: u64 = 64 << 10;

/// Runs `argv` on this machine with `env` added, its stdout discarded (or passed on to ours
/// with `show`), and measures it: wall time, CPU time and peak memory of that one child
/// (wait4(2)), for benchmarks of whole commands. Linux counts into a child's peak memory what
/// this process held when it started the child: measure from a small process.
pub fn run_measured(
    argv: &[String],
    env: &[(String, String)],
    show: bool,
) -> std::io::Result<Measured> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    let start = std::time::Instant::now();
    #[allow(clippy::disallowed_methods)]
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(if show {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()?;
    let Some(stderr) = child.stderr.take() else {
        return Err(std::io::Error::other("the child's stderr pipe is missing"));
    };
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    // stderr is read (the rest drained) while the child runs, so a noisy one never blocks.
    let reader = std::thread::spawn(move || {
        let mut stderr = stderr;
        let mut kept = Vec::new();
        let _ = Read::take(&mut stderr, MEASURED_STDERR).read_to_end(&mut kept);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4(2) on our own child, writing into the two locals above.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = start.elapsed();
    let stderr = reader.join().unwrap_or_default();
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(Measured {
        status: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}
