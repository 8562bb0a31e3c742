//! The fence runner: runs a Node's `fence.command` on this machine, bounded by its timeout,
//! and, when that fails or hangs, its `fence.status` (a chassis that is already off may refuse
//! "power off"). The answer is [`Fenced::Confirmed`] only on an exit status 0 of one of them;
//! everything else — a failure, a timeout, a program that is missing — is
//! [`Fenced::NotConfirmed`] with the reason and what a person can do. Never a guess.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::FenceSpec;
use crate::transport::local::{run_within_group, Captured};

/// Lines of a command's stderr kept in a reason.
const STDERR_LINES: usize = 3;
/// Characters of a command's stderr kept in a reason.
const STDERR_CHARS: usize = 400;

/// What fencing a node came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fenced {
    /// The node is off: the fence command exited 0, or it failed and the status command
    /// exited 0 ("already off").
    Confirmed { how: String },
    /// The node may still run: nothing may start elsewhere until a person powers it off.
    NotConfirmed { why: String, what_to_do: String },
}

impl Fenced {
    pub fn confirmed(&self) -> bool {
        matches!(self, Fenced::Confirmed { .. })
    }
}

/// What a person does when a fence is not confirmed.
pub fn by_hand(node: &str) -> String {
    format!("power {node} off by hand, then `xenflux failover {node} --confirm-fenced`")
}

/// Runs the fence of `node`: `command`, then on failure or timeout `status`, each bounded by
/// `timeout`.
pub fn fence(node: &str, f: &FenceSpec) -> Fenced {
    let within = Duration::from_secs(f.timeout.seconds);
    let command = match run(&f.command, within) {
        Ok(how) => return Fenced::Confirmed { how },
        Err(why) => why,
    };
    let Some(status) = &f.status else {
        return Fenced::NotConfirmed {
            why: format!("the fence command {command}; no status command is declared to ask whether {node} is off"),
            what_to_do: by_hand(node),
        };
    };
    match run(status, within) {
        Ok(how) => Fenced::Confirmed {
            how: format!(
                "the fence command {command}, but the status command says {node} is off ({how})"
            ),
        },
        Err(status_why) => Fenced::NotConfirmed {
            why: format!(
                "the fence command {command}; the status command {status_why} (not \"off\")"
            ),
            what_to_do: by_hand(node),
        },
    }
}

/// Runs one argv: Ok (how it answered) on exit 0, else why not.
fn run(argv: &[String], within: Duration) -> Result<String, String> {
    let shown = shown(argv);
    let started = Instant::now();
    let out = match run_within_group(argv, within) {
        Ok(c) => c,
        Err(e) => return Err(format!("`{shown}` could not be run: {e}")),
    };
    let took = started.elapsed().as_secs_f64();
    match out {
        Captured {
            timed_out: true, ..
        } => Err(format!(
            "`{shown}` did not finish within {} s and was killed",
            within.as_secs()
        )),
        Captured {
            status: Some(0), ..
        } => Ok(format!("`{shown}` exited 0 after {took:.1} s")),
        Captured { status, stderr, .. } => {
            let code = match status {
                Some(c) => format!("exited {c}"),
                None => "was killed by a signal".into(),
            };
            let err = first_lines(&String::from_utf8_lossy(&stderr));
            Err(if err.is_empty() {
                format!("`{shown}` {code}")
            } else {
                format!("`{shown}` {code}: {err}")
            })
        }
    }
}

/// An argv as a person reads it (words with spaces quoted).
pub fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first few non-empty lines of stderr, joined, bounded, control characters dropped.
fn first_lines(s: &str) -> String {
    let lines: Vec<&str> = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(STDERR_LINES)
        .collect();
    lines
        .join(" / ")
        .chars()
        .filter(|c| !c.is_control())
        .take(STDERR_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Duration as Secs;

    fn spec(command: &[&str], status: Option<&[&str]>, timeout: u64) -> FenceSpec {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        FenceSpec {
            command: v(command),
            status: status.map(v),
            timeout: Secs { seconds: timeout },
        }
    }

    #[test]
    fn exit_0_is_confirmed() {
        let f = fence("dom0", &spec(&["true"], None, 5));
        assert!(
            matches!(&f, Fenced::Confirmed { how } if how.contains("`true` exited 0")),
            "{f:?}"
        );
    }

    #[test]
    fn a_failing_command_whose_status_says_off_is_confirmed() {
        let f = fence(
            "dom0",
            &spec(
                &["sh", "-c", "echo 'chassis is off' >&2; exit 1"],
                Some(&["true"]),
                5,
            ),
        );
        let Fenced::Confirmed { how } = &f else {
            panic!("{f:?}")
        };
        assert!(how.contains("exited 1: chassis is off"), "{how}");
        assert!(how.contains("the status command says dom0 is off"), "{how}");
    }

    #[test]
    fn a_failing_command_without_status_is_not_confirmed_with_the_hint() {
        let f = fence(
            "dom0",
            &spec(
                &[
                    "sh",
                    "-c",
                    "echo 'Error: Unable to establish IPMI v2 session' >&2; exit 1",
                ],
                None,
                5,
            ),
        );
        let Fenced::NotConfirmed { why, what_to_do } = &f else {
            panic!("{f:?}")
        };
        assert!(
            why.contains("exited 1: Error: Unable to establish IPMI v2 session"),
            "{why}"
        );
        assert_eq!(
            what_to_do,
            "power dom0 off by hand, then `xenflux failover dom0 --confirm-fenced`"
        );
        assert!(!f.confirmed());
    }

    #[test]
    fn a_failing_status_is_not_confirmed() {
        let f = fence("dom0", &spec(&["false"], Some(&["sh", "-c", "exit 3"]), 5));
        let Fenced::NotConfirmed { why, .. } = &f else {
            panic!("{f:?}")
        };
        assert!(why.contains("`false` exited 1"), "{why}");
        assert!(
            why.contains("status command `sh -c 'exit 3'` exited 3"),
            "{why}"
        );
    }

    #[test]
    fn a_missing_program_is_not_confirmed() {
        let f = fence("dom0", &spec(&["/nonexistent/fence-agent"], None, 5));
        assert!(
            matches!(&f, Fenced::NotConfirmed { why, .. } if why.contains("could not be run")),
            "{f:?}"
        );
    }

    #[test]
    fn a_hanging_command_is_killed_at_the_timeout() {
        let started = Instant::now();
        let f = fence("dom0", &spec(&["sleep", "30"], None, 1));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(took >= Duration::from_millis(900), "took {took:?}");
        let Fenced::NotConfirmed { why, .. } = &f else {
            panic!("{f:?}")
        };
        assert!(
            why.contains("`sleep 30` did not finish within 1 s and was killed"),
            "{why}"
        );
    }

    #[test]
    fn a_hanging_script_is_killed_with_its_children() {
        // The shell's child `sleep` holds the output pipes: killing the shell alone would leave
        // the reader waiting for 30 s.
        let started = Instant::now();
        let f = fence(
            "dom0",
            &spec(&["sh", "-c", "sleep 30; echo done"], Some(&["true"]), 1),
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "took {took:?}");
        assert!(
            matches!(&f, Fenced::Confirmed { how } if how.contains("did not finish within 1 s")),
            "{f:?}"
        );
    }
}
