//! Where the desired state comes from for the controller: the operator's repository, fetched into
//! a bare copy under the state directory with the system `git` (so the operator's SSH set-up and
//! credential helpers apply, and xenflux needs no TLS or SSH library), then read straight from the
//! commit tree with git2. Nothing here plans or validates.

use std::path::{Path, PathBuf};

use crate::load::{self, LoadError, Source};
use crate::transport::{Cmd, Local, Transport};

/// The repository the controller follows.
#[derive(Clone, Debug)]
pub struct Repo {
    /// A path (bare or not) or any URL `git fetch` understands.
    pub url: String,
    pub branch: String,
    /// The directory inside the repository holding the desired state.
    pub path: String,
    /// The bare copy the controller fetches into.
    pub mirror: PathBuf,
}

/// A commit and the desired-state files in it.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub commit: String,
    pub sources: Vec<Source>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("fetching {branch} from {url} failed: {detail}")]
    Fetch {
        url: String,
        branch: String,
        detail: String,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the fetched copy {mirror} has no branch `{branch}`: {error}")]
    NoBranch {
        mirror: PathBuf,
        branch: String,
        error: git2::Error,
    },
}

impl Repo {
    /// Fetches the branch into the bare copy (created on first use) and reads the desired state
    /// of its newest commit.
    pub fn fetch(&self) -> Result<Fetched, SourceError> {
        let fail = |detail: String| SourceError::Fetch {
            url: self.url.clone(),
            branch: self.branch.clone(),
            detail,
        };
        let mirror = self.mirror.display().to_string();
        let mut batch = Vec::new();
        if !self.mirror.join("HEAD").exists() {
            batch.push(Cmd::new([
                "git",
                "init",
                "--quiet",
                "--bare",
                mirror.as_str(),
            ]));
        }
        // A local path is fetched by its absolute name: the controller may run elsewhere.
        let url = match Path::new(&self.url).canonicalize() {
            Ok(p) if Path::new(&self.url).exists() => p.display().to_string(),
            _ => self.url.clone(),
        };
        let refspec = format!("+refs/heads/{b}:refs/heads/{b}", b = self.branch);
        batch.push(Cmd::new([
            "git",
            "--git-dir",
            mirror.as_str(),
            "fetch",
            "--quiet",
            "--no-tags",
            "--",
            url.as_str(),
            refspec.as_str(),
        ]));
        let git = Local {
            prefix: Vec::new(),
            env: vec![("GIT_TERMINAL_PROMPT".into(), "0".into())],
        };
        let outs = git
            .run_batch("localhost", &batch)
            .map_err(|e| fail(e.to_string()))?;
        if let Some(bad) = outs.iter().find(|o| !o.success()) {
            return Err(fail(bad.describe()));
        }
        let repo =
            git2::Repository::open_bare(&self.mirror).map_err(|error| SourceError::NoBranch {
                mirror: self.mirror.clone(),
                branch: self.branch.clone(),
                error,
            })?;
        let reference = format!("refs/heads/{}", self.branch);
        let commit = repo
            .revparse_single(&reference)
            .and_then(|o| o.peel_to_commit())
            .map_err(|error| SourceError::NoBranch {
                mirror: self.mirror.clone(),
                branch: self.branch.clone(),
                error,
            })?
            .id()
            .to_string();
        let sources = load::from_repository(&self.mirror, &commit, &self.path)?;
        Ok(Fetched { commit, sources })
    }

    /// The directory to watch for ref changes when the repository is on this machine: its git
    /// directory (the repository itself when bare). None for URLs.
    pub fn local_git_dir(&self) -> Option<PathBuf> {
        let p = Path::new(&self.url);
        if p.join("HEAD").is_file() && p.join("refs").is_dir() {
            Some(p.to_path_buf())
        } else if p.join(".git/HEAD").is_file() {
            Some(p.join(".git"))
        } else {
            None
        }
    }
}
