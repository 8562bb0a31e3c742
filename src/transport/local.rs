//! Runs batches on this machine. The only place in xenflux that spawns processes (clippy's
//! `disallowed-methods` keeps it that way).

use std::io::Write;
use std::process::{Command, Stdio};

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
        let argv: Vec<&String> = self.prefix.iter().chain(cmd.argv.iter()).collect();
        let not_run = |status: i32, why: String| Output {
            argv: cmd.argv.clone(),
            status: Some(status),
            stdout: String::new(),
            stderr: why,
        };
        let Some((program, args)) = argv.split_first() else {
            return not_run(127, "empty command".into());
        };
        #[allow(clippy::disallowed_methods)]
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return not_run(127, format!("{program}: command not found"));
            }
            Err(e) => return not_run(126, format!("{program}: {e}")),
        };
        if let (Some(input), Some(mut pipe)) = (&cmd.stdin, child.stdin.take()) {
            // A child that exits without reading its input is not our error; its status says it.
            let _ = pipe.write_all(input.as_bytes());
        }
        // wait_with_output reads stdout and stderr concurrently, so noisy tools never deadlock.
        match child.wait_with_output() {
            Ok(out) => Output {
                argv: cmd.argv.clone(),
                status: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Err(e) => not_run(126, format!("{program}: {e}")),
        }
    }
}

impl Transport for Local {
    fn run_batch(&self, _node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        Ok(batch.iter().map(|c| self.run_one(c)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
