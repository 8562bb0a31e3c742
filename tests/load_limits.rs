//! What the loader refuses to read: anything but regular files, symlinks leaving the state
//! directory, files and states past the size, count and depth limits, and — from a Git commit —
//! symlinks, submodules and oversized blobs. Every refusal names the file and the reason.

#![allow(clippy::disallowed_methods)] // test fixtures, not state files

use std::os::unix::fs::symlink;
use std::path::Path;

use xenflux::load::{self, LoadError, MAX_DIR_DEPTH, MAX_FILE_BYTES};

const NODE: &str =
    "apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: a}\nspec: {address: 10.0.0.1, volumeGroup: vg}\n";

fn refused(r: Result<Vec<load::Source>, LoadError>) -> Vec<String> {
    match r {
        Err(LoadError::Refused { problems }) => problems,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(s) => panic!(
            "expected a refusal, loaded {:?}",
            s.iter().map(|s| &s.path).collect::<Vec<_>>()
        ),
    }
}

fn one_with(problems: &[String], file: &str, why: &str) {
    let hits: Vec<_> = problems
        .iter()
        .filter(|p| p.contains(file) && p.contains(why))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected `{file}` refused for `{why}`: {problems:#?}"
    );
}

#[test]
fn a_fifo_named_yaml_is_refused_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nodes.yaml"), NODE).unwrap();
    let fifo = dir.path().join("x.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Would block forever on the old code; a watchdog turns that into a failure.
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || tx.send(refused(load::from_dir(&d))).unwrap());
    let problems = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("loading a state with a FIFO hangs");
    one_with(&problems, "x.yaml", "not a regular file");
    assert_eq!(problems.len(), 1);
}

#[test]
fn symlinks_may_stay_inside_the_state_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/nodes.yaml"), NODE).unwrap();
    symlink("real/nodes.yaml", d.join("again.yaml")).unwrap();
    symlink("../real", d.join("real/loop")).unwrap(); // a loop: walked once
    symlink(".", d.join("self")).unwrap();
    let ok = load::from_dir(d).unwrap();
    let paths: Vec<&str> = ok.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(ok.iter().all(|s| s.text == NODE));

    symlink("/dev/zero", d.join("zero.yaml")).unwrap();
    symlink("/etc", d.join("etc")).unwrap();
    symlink("missing.yaml", d.join("dangling.yaml")).unwrap();
    let problems = refused(load::from_dir(d));
    one_with(&problems, "zero.yaml", "outside the state directory");
    one_with(&problems, "etc", "outside the state directory");
    one_with(&problems, "dangling.yaml", "does not resolve");
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn a_socket_named_yaml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("nodes.yaml"), NODE).unwrap();
    let dev = d.join("dev");
    std::fs::create_dir(&dev).unwrap();
    // A socket stands in for a device (creating a device node needs privileges).
    let sock = std::os::unix::net::UnixListener::bind(dev.join("s.yaml")).unwrap();
    let problems = refused(load::from_dir(d));
    one_with(&problems, "s.yaml", "not a regular file");
    drop(sock);
}

#[test]
fn large_files_and_deep_trees_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("nodes.yaml"), NODE).unwrap();
    let big = std::fs::File::create(d.join("big.yaml")).unwrap();
    big.set_len(MAX_FILE_BYTES + 1).unwrap();
    let mut deep = d.to_path_buf();
    for i in 0..=MAX_DIR_DEPTH {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("x.yaml"), NODE).unwrap();
    let problems = refused(load::from_dir(d));
    one_with(&problems, "big.yaml", "larger than the limit");
    one_with(&problems, &format!("d{MAX_DIR_DEPTH}"), "nested more than");
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

/// A repository whose only commit holds `entries` (name, mode, blob content or None for a
/// submodule pointing at a made-up commit).
fn repo_with(dir: &Path, entries: &[(&str, i32, Option<&[u8]>)]) {
    let repo = git2::Repository::init(dir).unwrap();
    let mut tb = repo.treebuilder(None).unwrap();
    for (name, mode, content) in entries {
        let oid = match content {
            Some(c) => repo.blob(c).unwrap(),
            None => git2::Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap(),
        };
        tb.insert(name, oid, *mode).unwrap();
    }
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "state", &tree, &[])
        .unwrap();
}

#[test]
fn a_commit_is_read_under_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'#'; MAX_FILE_BYTES as usize + 1];
    repo_with(
        dir.path(),
        &[
            ("nodes.yaml", 0o100644, Some(NODE.as_bytes())),
            ("zero.yaml", 0o120000, Some(b"/dev/zero")),
            ("big.yaml", 0o100644, Some(&big)),
            ("sub", 0o160000, None),
        ],
    );
    let problems = refused(load::from_repository(dir.path(), "HEAD", ""));
    one_with(&problems, "zero.yaml", "symlink");
    one_with(&problems, "big.yaml", "larger than the limit");
    one_with(&problems, ":sub", "submodule");
    assert_eq!(problems.len(), 3, "{problems:#?}");

    let clean = tempfile::tempdir().unwrap();
    repo_with(
        clean.path(),
        &[("nodes.yaml", 0o100644, Some(NODE.as_bytes()))],
    );
    let ok = load::from_repository(clean.path(), "HEAD", "").unwrap();
    assert_eq!(ok.len(), 1);
}
