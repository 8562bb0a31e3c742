//! Watching a repository on this machine for pushes without a hook: any change of a ref under
//! `refs/` or of `packed-refs` in its git directory queues a `push` trigger (the loop's debounce
//! folds the burst of events one push makes into one pass).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};

use super::{ControllerError, Shared, Trigger};

/// Starts watching `git_dir`; the watch ends when the returned watcher is dropped.
pub fn refs(
    git_dir: &Path,
    shared: Arc<Shared>,
) -> Result<notify::RecommendedWatcher, ControllerError> {
    let root = git_dir
        .canonicalize()
        .unwrap_or_else(|_| git_dir.to_path_buf());
    let base = root.clone();
    let fail = |e: notify::Error| ControllerError::Watch {
        path: git_dir.to_path_buf(),
        detail: e.to_string(),
    };
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if ev.kind.is_access() {
            return;
        }
        if ev.paths.iter().any(|p| is_ref_change(&base, p)) {
            shared.trigger(Trigger::Push);
        }
    })
    .map_err(fail)?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(fail)?;
    tracing::info!(dir = %root.display(), "watching the repository's refs");
    Ok(watcher)
}

/// A ref file (not its `.lock`) or `packed-refs`.
fn is_ref_change(git_dir: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(git_dir) else {
        return false;
    };
    let rel: PathBuf = rel.to_path_buf();
    if rel.extension().is_some_and(|e| e == "lock") {
        return false;
    }
    rel == Path::new("packed-refs") || rel.starts_with("refs/heads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_branch_refs_count() {
        let g = Path::new("/r.git");
        assert!(is_ref_change(g, Path::new("/r.git/refs/heads/main")));
        assert!(is_ref_change(g, Path::new("/r.git/packed-refs")));
        assert!(!is_ref_change(g, Path::new("/r.git/refs/heads/main.lock")));
        assert!(!is_ref_change(g, Path::new("/r.git/objects/ab/cdef")));
        assert!(!is_ref_change(g, Path::new("/elsewhere/refs/heads/main")));
    }
}
