//! Reading `cluster-state/`: the YAML files of a directory, or of a directory inside a Git commit
//! (read straight from the object database with git2, no checkout). Loading plans nothing and
//! checks nothing beyond "is this readable".

pub mod yaml;

use std::path::{Path, PathBuf};

use thiserror::Error;

/// One YAML file of the desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path shown in diagnostics: as given on the command line for a directory,
    /// `REV:path/in/repo` for a Git commit.
    pub path: String,
    pub text: String,
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid UTF-8")]
    NotUtf8 { path: String },
    #[error("{path}: no such directory")]
    NoDirectory { path: PathBuf },
    #[error("{path}: no Git repository here or above: {source}")]
    NoRepository { path: PathBuf, source: git2::Error },
    #[error("revision `{rev}` not found in {repo}: {source}")]
    NoRevision {
        rev: String,
        repo: PathBuf,
        source: git2::Error,
    },
    #[error("`{dir}` is not a directory in revision `{rev}`")]
    NotInRevision { dir: String, rev: String },
    #[error("{path} is outside the Git repository at {repo}")]
    OutsideRepository { path: PathBuf, repo: PathBuf },
    #[error("reading revision `{rev}`: {source}")]
    Git { rev: String, source: git2::Error },
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Every `*.yaml`/`*.yml` file under `dir`, recursively, in path order.
pub fn from_dir(dir: &Path) -> Result<Vec<Source>, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NoDirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).map_err(|source| LoadError::Io {
                path: p.clone(),
                source,
            })?;
            let path = p.display().to_string();
            let text =
                String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 { path: path.clone() })?;
            Ok(Source { path, text })
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let ft = entry.file_type().map_err(io)?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if is_yaml(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// The YAML files under `dir` as they are in commit `rev` of the repository that holds `dir`.
/// `dir` need not exist in the working tree.
pub fn from_git(dir: &Path, rev: &str) -> Result<Vec<Source>, LoadError> {
    let abs = std::path::absolute(dir).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let start = nearest_existing(&abs);
    let repo = git2::Repository::discover(&start).map_err(|source| LoadError::NoRepository {
        path: start.clone(),
        source,
    })?;
    let top = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .canonicalize()
        .map_err(|source| LoadError::Io {
            path: repo.path().to_path_buf(),
            source,
        })?;
    let canon_start = start.canonicalize().map_err(|source| LoadError::Io {
        path: start.clone(),
        source,
    })?;
    let rest = abs.strip_prefix(&start).unwrap_or(Path::new(""));
    let rel = canon_start
        .strip_prefix(&top)
        .map_err(|_| LoadError::OutsideRepository {
            path: abs.clone(),
            repo: top.clone(),
        })?
        .join(rest);
    let rel_str = rel.to_string_lossy().trim_end_matches('/').to_string();

    from_tree(&repo, &top, rev, &rel_str)
}

/// The YAML files under `dir` (a path inside the repository, `""` for the top) as they are in
/// commit `rev` of the repository at `repo` — bare or not. The controller reads its fetched copy
/// this way.
pub fn from_repository(repo: &Path, rev: &str, dir: &str) -> Result<Vec<Source>, LoadError> {
    let r = git2::Repository::open(repo).map_err(|source| LoadError::NoRepository {
        path: repo.to_path_buf(),
        source,
    })?;
    from_tree(&r, repo, rev, dir.trim_matches('/'))
}

fn from_tree(
    repo: &git2::Repository,
    top: &Path,
    rev: &str,
    rel_str: &str,
) -> Result<Vec<Source>, LoadError> {
    let rel = Path::new(rel_str);
    let git = |source| LoadError::Git {
        rev: rev.to_string(),
        source,
    };
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|source| LoadError::NoRevision {
            rev: rev.to_string(),
            repo: top.to_path_buf(),
            source,
        })?;
    let root = commit.tree().map_err(git)?;
    let tree = if rel_str.is_empty() {
        root
    } else {
        let entry = root.get_path(rel).map_err(|_| LoadError::NotInRevision {
            dir: rel_str.to_string(),
            rev: rev.to_string(),
        })?;
        entry
            .to_object(repo)
            .and_then(|o| o.peel_to_tree())
            .map_err(|_| LoadError::NotInRevision {
                dir: rel_str.to_string(),
                rev: rev.to_string(),
            })?
    };
    let short = commit
        .as_object()
        .short_id()
        .ok()
        .and_then(|b| b.as_str().ok().map(String::from));
    let label = short.unwrap_or_else(|| rev.to_string());
    let mut out = Vec::new();
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
        let name = entry.name().unwrap_or("");
        if entry.kind() != Some(git2::ObjectType::Blob) || !is_yaml(name) || name.starts_with('.') {
            return git2::TreeWalkResult::Ok;
        }
        let inner = format!("{parent}{name}");
        let path = if rel_str.is_empty() {
            inner
        } else {
            format!("{rel_str}/{inner}")
        };
        let path = format!("{label}:{path}");
        match entry.to_object(repo).and_then(|o| o.peel_to_blob()) {
            Ok(blob) => match String::from_utf8(blob.content().to_vec()) {
                Ok(text) => out.push(Source { path, text }),
                Err(_) => {
                    failure = Some(LoadError::NotUtf8 { path });
                    return git2::TreeWalkResult::Abort;
                }
            },
            Err(e) => {
                failure = Some(git(e));
                return git2::TreeWalkResult::Abort;
            }
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(git)
    .or_else(|e| if failure.is_some() { Ok(()) } else { Err(e) })?;
    if let Some(f) = failure {
        return Err(f);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn nearest_existing(p: &Path) -> PathBuf {
    let mut cur = p.to_path_buf();
    while !cur.exists() {
        match cur.parent() {
            Some(parent) => cur = parent.to_path_buf(),
            None => break,
        }
    }
    cur
}
