//! `xenflux completion SHELL` and the hidden `xenflux manpages DIR`: shell completions and man
//! pages generated from the command line's own definition (clap_complete, clap_mangen), so they
//! never drift from it. The Debian package ships what these print.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Cli;

/// Prints the completion script of `shell`.
pub fn cmd_completion(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "xenflux", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes `xenflux.1` and a `xenflux-COMMAND.1` for every visible command into `out`.
pub fn cmd_manpages(out: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clap_mangen::generate_to(Cli::command(), out)
        .with_context(|| format!("writing the man pages into {}", out.display()))?;
    println!("wrote the man pages into {}", out.display());
    Ok(ExitCode::SUCCESS)
}
