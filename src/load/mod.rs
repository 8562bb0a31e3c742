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
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: no such directory")]
    NoDirectory { path: PathBuf },
    #[error("{path}: no Git repository here or above: {error}")]
    NoRepository { path: PathBuf, error: git2::Error },
    #[error("revision `{rev}` not found in {repo}: {error}")]
    NoRevision {
        rev: String,
        repo: PathBuf,
        error: git2::Error,
    },
    #[error("`{dir}` is not a directory in revision `{rev}`")]
    NotInRevision { dir: String, rev: String },
    #[error("{path} is outside the Git repository at {repo}")]
    OutsideRepository { path: PathBuf, repo: PathBuf },
    #[error("reading revision `{rev}`: {error}")]
    Git { rev: String, error: git2::Error },
    #[error("state refused:\n  {}", problems.join("\n  "))]
    Refused { problems: Vec<String> },
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Largest YAML file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Most YAML bytes read in all.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// Most YAML files read.
pub const MAX_FILES: usize = 10_000;
/// Deepest directory below the state directory that is searched.
pub const MAX_DIR_DEPTH: usize = 32;
/// Most directory entries looked at (YAML or not).
const MAX_ENTRIES: usize = 100_000;

/// What the walk found: files to read, and everything refused on the way (all reported at once).
#[derive(Default)]
struct Found {
    /// (path shown, path to open), in the order found.
    files: Vec<(PathBuf, PathBuf)>,
    total: u64,
    entries: usize,
    problems: Vec<String>,
    /// Directories already searched (canonical), so a symlink loop is walked once.
    seen_dirs: std::collections::BTreeSet<PathBuf>,
}

impl Found {
    fn refuse(&mut self, path: &Path, why: impl std::fmt::Display) {
        self.problems.push(format!("{}: {why}", path.display()));
    }

    /// Counts one YAML file of `size` bytes against the limits; false when it is refused.
    fn admit(&mut self, path: &Path, size: u64) -> bool {
        if size > MAX_FILE_BYTES {
            self.refuse(
                path,
                format!(
                    "{size} bytes, larger than the limit of {} MiB per file",
                    MAX_FILE_BYTES >> 20
                ),
            );
            return false;
        }
        if self.files.len() >= MAX_FILES {
            self.refuse(path, format!("more than {MAX_FILES} YAML files"));
            return false;
        }
        self.total += size;
        if self.total > MAX_TOTAL_BYTES {
            self.refuse(
                path,
                format!(
                    "the YAML files pass the limit of {} MiB in all",
                    MAX_TOTAL_BYTES >> 20
                ),
            );
            return false;
        }
        true
    }
}

/// Every `*.yaml`/`*.yml` file under `dir`, recursively, in path order. Only regular files are
/// read (a FIFO or device named `*.yaml` is refused, never opened), within the size, count and
/// depth limits above; a symlink may point anywhere inside `dir`, never outside it.
pub fn from_dir(dir: &Path) -> Result<Vec<Source>, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NoDirectory {
            path: dir.to_path_buf(),
        });
    }
    let root = dir.canonicalize().map_err(|error| LoadError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut found = Found::default();
    found.seen_dirs.insert(root.clone());
    walk(dir, &root, 0, &mut found);
    found.files.sort();
    let mut out = Vec::new();
    for (shown, real) in std::mem::take(&mut found.files) {
        match read_regular(&real) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => out.push(Source {
                    path: shown.display().to_string(),
                    text,
                }),
                Err(_) => found.refuse(&shown, "not valid UTF-8"),
            },
            Err(e) => found.refuse(&shown, e),
        }
    }
    if !found.problems.is_empty() {
        return Err(LoadError::Refused {
            problems: found.problems,
        });
    }
    Ok(out)
}

/// Reads a file that must be regular and at most [`MAX_FILE_BYTES`]. Opened non-blocking, so a
/// FIFO swapped in after the walk cannot hang the read; the type is checked on the open file.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file; refused".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than the limit of {} MiB per file",
            MAX_FILE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

fn walk(dir: &Path, root: &Path, depth: usize, found: &mut Found) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return found.refuse(dir, e),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return found.refuse(dir, e),
        };
        found.entries += 1;
        if found.entries > MAX_ENTRIES {
            return found.refuse(
                dir,
                format!("more than {MAX_ENTRIES} entries under the state directory"),
            );
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let mut meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                found.refuse(&path, e);
                continue;
            }
        };
        let mut real = path.clone();
        if meta.file_type().is_symlink() {
            // Resolved in full, so a chain of links or a loop is judged by where it ends.
            let target = match path.canonicalize() {
                Ok(t) => t,
                Err(e) if is_yaml(&name) => {
                    found.refuse(&path, format!("symlink that does not resolve ({e})"));
                    continue;
                }
                Err(_) => continue,
            };
            if !target.starts_with(root) {
                found.refuse(
                    &path,
                    format!(
                        "symlink to {}, outside the state directory; refused",
                        target.display()
                    ),
                );
                continue;
            }
            meta = match std::fs::metadata(&target) {
                Ok(m) => m,
                Err(e) => {
                    found.refuse(&path, e);
                    continue;
                }
            };
            real = target;
        }
        if meta.is_dir() {
            let canon = match real.canonicalize() {
                Ok(c) => c,
                Err(e) => {
                    found.refuse(&path, e);
                    continue;
                }
            };
            if !found.seen_dirs.insert(canon) {
                continue; // reached again through a symlink: already searched
            }
            if depth + 1 > MAX_DIR_DEPTH {
                found.refuse(
                    &path,
                    format!("directories nested more than {MAX_DIR_DEPTH} deep; not searched"),
                );
                continue;
            }
            walk(&path, root, depth + 1, found);
        } else if is_yaml(&name) {
            if !meta.is_file() {
                found.refuse(
                    &path,
                    "not a regular file (a FIFO, socket or device); refused",
                );
                continue;
            }
            if found.admit(&path, meta.len()) {
                found.files.push((path, real));
            }
        }
    }
}

/// The YAML files under `dir` as they are in commit `rev` of the repository that holds `dir`.
/// `dir` need not exist in the working tree.
pub fn from_git(dir: &Path, rev: &str) -> Result<Vec<Source>, LoadError> {
    let abs = std::path::absolute(dir).map_err(|error| LoadError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let start = nearest_existing(&abs);
    let repo = git2::Repository::discover(&start).map_err(|error| LoadError::NoRepository {
        path: start.clone(),
        error,
    })?;
    let top = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .canonicalize()
        .map_err(|error| LoadError::Io {
            path: repo.path().to_path_buf(),
            error,
        })?;
    let canon_start = start.canonicalize().map_err(|error| LoadError::Io {
        path: start.clone(),
        error,
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
    let r = git2::Repository::open(repo).map_err(|error| LoadError::NoRepository {
        path: repo.to_path_buf(),
        error,
    })?;
    from_tree(&r, repo, rev, dir.trim_matches('/'))
}

fn from_tree(
    repo: &git2::Repository,
    top: &Path,
    rev: &str,
    rel_str: &str,
) -> Result<Vec<Source>, LoadError> {
    let git = |error| LoadError::Git {
        rev: rev.to_string(),
        error,
    };
    let (tree, label) = state_tree(repo, top, rev, rel_str)?;
    let mut walk = TreeWalk {
        repo,
        odb: repo.odb().map_err(git)?,
        rev,
        rel_str,
        label,
        found: Found::default(),
        out: Vec::new(),
        failure: None,
    };
    tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
        walk.visit(parent, entry)
    })
    .map_err(git)
    .or_else(|e| {
        if walk.failure.is_some() || !walk.found.problems.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    if let Some(f) = walk.failure {
        return Err(f);
    }
    if !walk.found.problems.is_empty() {
        return Err(LoadError::Refused {
            problems: walk.found.problems,
        });
    }
    let mut out = walk.out;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The tree of the state directory `rel_str` at `rev`, and the label its files are shown with
/// (the commit's short id).
fn state_tree<'r>(
    repo: &'r git2::Repository,
    top: &Path,
    rev: &str,
    rel_str: &str,
) -> Result<(git2::Tree<'r>, String), LoadError> {
    let rel = Path::new(rel_str);
    let git = |error| LoadError::Git {
        rev: rev.to_string(),
        error,
    };
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|error| LoadError::NoRevision {
            rev: rev.to_string(),
            repo: top.to_path_buf(),
            error,
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
    Ok((tree, short.unwrap_or_else(|| rev.to_string())))
}

/// A walk over the state directory's tree in a commit: the YAML files read, what was refused,
/// and a Git error that ended it.
struct TreeWalk<'a> {
    repo: &'a git2::Repository,
    odb: git2::Odb<'a>,
    rev: &'a str,
    rel_str: &'a str,
    label: String,
    found: Found,
    out: Vec<Source>,
    failure: Option<LoadError>,
}

impl TreeWalk<'_> {
    /// One entry: a directory is entered (not too deep), a submodule or symlink refused, and a
    /// YAML blob read when its size is admitted.
    fn visit(&mut self, parent: &str, entry: &git2::TreeEntry) -> git2::TreeWalkResult {
        let name = entry.name().unwrap_or("");
        if name.starts_with('.') {
            return git2::TreeWalkResult::Skip;
        }
        let inner = format!("{parent}{name}");
        let path = if self.rel_str.is_empty() {
            inner
        } else {
            format!("{}/{inner}", self.rel_str)
        };
        let shown = PathBuf::from(format!("{}:{path}", self.label));
        let found = &mut self.found;
        found.entries += 1;
        if found.entries > MAX_ENTRIES {
            found.refuse(
                &shown,
                format!("more than {MAX_ENTRIES} entries under the state directory"),
            );
            return git2::TreeWalkResult::Abort;
        }
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let depth = parent.matches('/').count() + 1;
                if depth > MAX_DIR_DEPTH {
                    found.refuse(
                        &shown,
                        format!("directories nested more than {MAX_DIR_DEPTH} deep; not searched"),
                    );
                    return git2::TreeWalkResult::Skip;
                }
                return git2::TreeWalkResult::Ok;
            }
            Some(git2::ObjectType::Commit) => {
                found.refuse(&shown, "a submodule; the state must be plain files");
                return git2::TreeWalkResult::Ok;
            }
            _ => {}
        }
        if entry.filemode() == 0o120000 {
            found.refuse(&shown, "a symlink; symlinks are not followed in a commit");
            return git2::TreeWalkResult::Ok;
        }
        if entry.kind() != Some(git2::ObjectType::Blob) || !is_yaml(name) {
            return git2::TreeWalkResult::Ok;
        }
        self.read_blob(entry, &shown)
    }

    /// A YAML file: its size from the object header, before the blob is read into memory.
    fn read_blob(&mut self, entry: &git2::TreeEntry, shown: &Path) -> git2::TreeWalkResult {
        let size = match self.odb.read_header(entry.id()) {
            Ok((size, _)) => size as u64,
            Err(e) => return self.fail(e),
        };
        if !self.found.admit(shown, size) {
            return git2::TreeWalkResult::Ok;
        }
        match entry.to_object(self.repo).and_then(|o| o.peel_to_blob()) {
            Ok(blob) => match String::from_utf8(blob.content().to_vec()) {
                Ok(text) => self.out.push(Source {
                    path: shown.display().to_string(),
                    text,
                }),
                Err(_) => self.found.refuse(shown, "not valid UTF-8"),
            },
            Err(e) => return self.fail(e),
        }
        git2::TreeWalkResult::Ok
    }

    fn fail(&mut self, error: git2::Error) -> git2::TreeWalkResult {
        self.failure = Some(LoadError::Git {
            rev: self.rev.to_string(),
            error,
        });
        git2::TreeWalkResult::Abort
    }
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
