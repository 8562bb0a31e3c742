//! The one seam through which xenflux touches a node: run a batch of argv commands and get each
//! command's stdout, stderr and exit status back, kept apart. `Local` runs them here; the
//! simulator and SSH implement the same trait. A transport knows nothing about DRBD or LVM.

mod frames;
pub(crate) mod local;
mod ssh;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use local::{run_measured, Local, Measured};
pub use ssh::{control_dir, Ssh, SshError, SshOptions};

/// One command of a batch: an argv (never a shell string) and optional standard input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// How long the command may run before it is stopped (status 124, and a line on its
    /// stderr saying so), when that is shorter than its batch's bound: a read that can wait
    /// on a cluster lock ([`crate::drivers::ocfs2::CLUSTER_READ_WITHIN`]). Never saved.
    #[serde(skip)]
    pub within: Option<std::time::Duration>,
}

impl Cmd {
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Cmd {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            stdin: None,
            within: None,
        }
    }
    /// The same command, stopped after `within` (see [`Cmd::within`]).
    pub fn bounded(mut self, within: std::time::Duration) -> Cmd {
        self.within = Some(within);
        self
    }
    pub fn with_stdin(mut self, input: impl Into<String>) -> Cmd {
        self.stdin = Some(input.into());
        self
    }
    /// The argv as an operator would type it (each word quoted for a POSIX shell when needed).
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == 0 {
                    quote_command_word(w)
                } else {
                    shell_quote(w)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What one command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub argv: Vec<String>,
    /// Exit status; 127 when the program does not exist (as a shell reports it); None when it
    /// was killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    /// One line for error messages: the command, its exit status and the first stderr line.
    pub fn describe(&self) -> String {
        let status = self
            .status
            .map_or("killed by a signal".to_string(), |s| format!("exit {s}"));
        // The first line says what failed for most tools; xl puts the reason last.
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let err = match (lines.first(), lines.last()) {
            (Some(f), Some(l)) if f != l => format!("{f} … {l}"),
            (Some(f), _) => f.to_string(),
            (None, _) => String::new(),
        };
        format!(
            "`{}` failed ({status}): {err}",
            Cmd::new(self.argv.clone()).display()
        )
    }
}

#[derive(Debug, Error)]
pub enum TransportError {
    /// The node could not be reached at all: nothing in the batch ran.
    #[error("{node}: unreachable: {reason}")]
    Unreachable { node: String, reason: String },
    /// The batch started but its answer broke off: the first `completed` commands ran, the
    /// next one may or may not have, the rest did not.
    #[error("{node}: the batch was interrupted after {completed} of {total} command(s): {reason}")]
    Interrupted {
        node: String,
        completed: usize,
        total: usize,
        reason: String,
    },
}

impl TransportError {
    /// Worth retrying later (a node that did not answer may answer next time).
    pub fn is_transient(&self) -> bool {
        match self {
            TransportError::Unreachable { .. } => true,
            TransportError::Interrupted { .. } => true,
        }
    }
}

/// Runs command batches on nodes.
pub trait Transport: Send + Sync {
    /// Runs every command of `batch` on `node`, in order, each whatever the others' exit status,
    /// as one round trip; returns one [`Output`] per command.
    fn run_batch(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError>;

    /// [`Transport::run_batch`] for a batch that only reads (an observation): a transport may
    /// stop one that takes far longer than reads do and send it again.
    fn run_reads(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        self.run_batch(node, batch)
    }

    /// How many batches are worth having under way at once when many nodes are observed
    /// (never more than [`crate::reconcile::OBSERVE_AT_ONCE`]): as many as that for nodes
    /// answering over a network; a transport that answers from memory gains nothing from more
    /// callers than the machine has cores, and each one holds a node's outputs.
    fn batches_at_once(&self) -> usize {
        usize::MAX
    }
}

/// Quotes one word for a POSIX shell; words of only safe characters stay as they are. Glob
/// characters (`*`, `?`, `[`, `]`) are not safe: `/dev/XEN/meta[0]` would match a file
/// `/dev/XEN/meta0`.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if safe {
        word.to_string()
    } else {
        always_quote(word)
    }
}

/// Quotes a command's first word: as [`shell_quote`], and also when the shell would read it
/// as a variable assignment (`A=b`) or a reserved word (`if`, `time`, ...) instead of a
/// program name.
pub fn quote_command_word(word: &str) -> String {
    const RESERVED: [&str; 17] = [
        "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in",
        "select", "then", "time", "until", "while", "coproc",
    ];
    if word.contains('=') || RESERVED.contains(&word) {
        always_quote(word)
    } else {
        shell_quote(word)
    }
}

/// Single-quotes a word whatever it holds (a `'` becomes `'\''`).
pub fn always_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_neutralises_the_rest() {
        assert_eq!(shell_quote("/dev/XEN/meta[0]"), "'/dev/XEN/meta[0]'");
        assert_eq!(shell_quote("*"), "'*'");
        assert_eq!(shell_quote("--size=10"), "--size=10");
        assert_eq!(Cmd::new(["A=b", "c=d"]).display(), "'A=b' c=d");
        assert_eq!(Cmd::new(["time", "ls"]).display(), "'time' ls");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            Cmd::new(["drbdadm", "up", "dns"]).display(),
            "drbdadm up dns"
        );
    }
}
