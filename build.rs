//! Records the commit xenflux is built from, for `xenflux --version`: `git rev-parse --short
//! HEAD` when building from a Git checkout, `unknown` otherwise (a source tarball, no `git`).
//! It never fails the build. Cargo reruns it only when HEAD or the branch it points at moves,
//! so an ordinary edit-build-test cycle does not pay for it.

// The build script runs `git` itself: the transport layer the lint protects is not in play.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=XENFLUX_COMMIT={commit}");
    // HEAD lives in the (worktree's) git directory; the branch it names, loose or packed, in
    // the common directory.
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    // Relative to the package's directory when git prints it relative.
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|c| root.join(c))
        .unwrap_or_else(|| git_dir.clone());
    watch(&git_dir.join("HEAD"));
    watch(&common.join("packed-refs"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&common.join(branch));
    }
}

/// The trimmed output of a successful `git` command run in the package's directory.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(&dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    // Anything but a plain word (a hash, a path, a ref name) is not used.
    (out.status.success() && !text.is_empty() && !text.contains(char::is_control))
        .then(|| text.to_string())
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
