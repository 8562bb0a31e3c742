#![allow(clippy::disallowed_methods)]
//! The command line as a user runs it: exit codes, what is printed, and `--rev` reading the state
//! straight out of a Git commit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xenflux(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("xenflux runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn validate_the_example_from_the_repository_root() {
    let out = xenflux(&root(), &["validate"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("cluster-state: valid — cluster xg, DRBD 8.4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("objects: 2 Node, 4 Volume, 3 Domain, 1 Bond, 1 Bridge, 1 Ocfs2Cluster"),
        "{stdout}"
    );
    assert!(
        stdout.contains("allocated: 4 minor(s), 4 port(s), 4 meta-data slot(s), 2 MAC(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("meta LV needed: dom0 XEN/meta 512MiB"),
        "{stdout}"
    );
}

#[test]
fn validate_reports_every_error_with_its_place_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    copy_dir(&root().join("cluster-state"), &state);
    let vol = state.join("volumes.yaml");
    let t = std::fs::read_to_string(&vol)
        .unwrap()
        .replace("size: 10GiB", "size: 10G\n  colour: blue");
    std::fs::write(&vol, t).unwrap();
    let before = std::fs::read_to_string(&vol).unwrap();
    let out = xenflux(dir.path(), &["--state", "state", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("state/volumes.yaml:8:3: error: Volume/dns: spec.size: invalid size `10G`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "state/volumes.yaml:9:3: error: Volume/dns: spec.colour: unknown field `colour`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 error(s), 0 warning(s): nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&vol).unwrap(),
        before,
        "validation changes nothing"
    );
    // JSON for machines carries the same diagnostics
    let out = xenflux(
        dir.path(),
        &["--state", "state", "validate", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["line"], 8);
    assert_eq!(v["diagnostics"][1]["field"], "spec.colour");
}

#[test]
fn a_missing_state_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = xenflux(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cluster-state: no such directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_verbose_lists_allocations() {
    let out = xenflux(&root(), &["validate", "-v"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("  dns                      0   7788  slot 0            dom0,dom0m"),
        "{stdout}"
    );
    assert!(
        stdout.contains("00:16:3e:10:00:01*"),
        "pinned MAC marked: {stdout}"
    );
}

#[test]
fn rev_reads_the_state_from_a_git_commit_without_a_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let state = dir.path().join("cluster-state");
    copy_dir(&root().join("cluster-state"), &state);
    let commit = |msg: &str| {
        let mut index = repo.index().unwrap();
        index
            .add_all(["cluster-state"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
        let parents: Vec<git2::Commit> = repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &refs)
            .unwrap()
    };
    commit("good state");
    // break the file in a second commit, and break the working tree differently
    let vol = state.join("volumes.yaml");
    let good = std::fs::read_to_string(&vol).unwrap();
    std::fs::write(&vol, good.replace("size: 10GiB", "size: 10G")).unwrap();
    commit("bad size");
    std::fs::remove_dir_all(&state).unwrap();

    let out = xenflux(dir.path(), &["validate", "--rev", "HEAD~1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("cluster-state at HEAD~1: valid"),
        "{}",
        text(&out.stdout)
    );

    let out = xenflux(dir.path(), &["validate", "--rev", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(":cluster-state/volumes.yaml:8:3: error: Volume/dns: spec.size"),
        "{stderr}"
    );

    let out = xenflux(dir.path(), &["validate", "--rev", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("revision `nope` not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn committed_schemas_are_what_the_types_produce() {
    let committed = root().join("schemas");
    for (name, text) in xenflux::schema::all() {
        let on_disk = std::fs::read_to_string(committed.join(&name)).unwrap_or_else(|_| {
            panic!("schemas/{name} is missing: run `cargo run -- schema --out schemas`")
        });
        assert!(
            on_disk == text,
            "schemas/{name} is stale: run `cargo run -- schema --out schemas` and commit"
        );
    }
    let files = std::fs::read_dir(&committed).unwrap().count();
    assert_eq!(
        files,
        xenflux::schema::all().len(),
        "schemas/ holds files the types do not produce"
    );
}

/// The desired-state reference is generated from the same schemas and committed beside the
/// other docs: it names every kind and every field of every kind's spec.
#[test]
fn committed_reference_is_what_the_schemas_produce() {
    let text = xenflux::schema::reference();
    let on_disk = std::fs::read_to_string(root().join("docs/reference.md")).unwrap_or_default();
    assert!(
        on_disk == text,
        "docs/reference.md is stale: run `cargo run -- schema --reference docs/reference.md` and commit"
    );
    for kind in xenflux::model::Kind::ALL {
        assert!(text.contains(&format!("\n## {kind}\n")), "{kind} missing");
    }
    for field in [
        "`metaIndex`",
        "`adopt`",
        "`deadAfter`",
        "`addressFile`",
        "`filesystems`",
    ] {
        assert!(text.contains(field), "{field} missing from the reference");
    }
}

#[test]
fn schema_command_writes_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let out = xenflux(dir.path(), &["schema", "--out", "s"]);
    assert_eq!(out.status.code(), Some(0));
    for kind in [
        "cluster",
        "node",
        "volume",
        "domain",
        "bond",
        "bridge",
        "ocfs2cluster",
        "any",
    ] {
        let text =
            std::fs::read_to_string(dir.path().join("s").join(format!("{kind}.json"))).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
}

#[test]
fn every_example_validates_and_the_generated_one_is_current() {
    let states = common::example_states();
    assert!(states.len() >= 2, "{states:?}");
    for path in states {
        let out = xenflux(&root(), &["--state", path.to_str().unwrap(), "validate"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = xenflux(
        dir.path(),
        &[
            "generate",
            "--pairs",
            "1",
            "--volumes",
            "200",
            "--domains",
            "100",
            "--out",
            "g",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    for entry in std::fs::read_dir(dir.path().join("g")).unwrap() {
        let entry = entry.unwrap();
        let committed =
            std::fs::read_to_string(root().join("examples/pair-200").join(entry.file_name()))
                .unwrap();
        assert_eq!(
            std::fs::read_to_string(entry.path()).unwrap(),
            committed,
            "examples/pair-200 is stale"
        );
    }
}

#[test]
fn generate_refuses_impossible_estates() {
    let dir = tempfile::tempdir().unwrap();
    let out = xenflux(dir.path(), &["generate", "--volumes", "256", "--out", "g"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at most 255"));
}

#[test]
fn bench_checks_the_estate_before_it_counts_or_generates_anything() {
    // `bench` shares `generate`'s bounds: a huge --pairs used to overflow while printing the
    // estate's size (a panic), and an unbounded one generated millions of volumes.
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["--pairs", "4294967295", "--volumes", "255"],
        ["--pairs", "100000", "--volumes", "1"],
        ["--pairs", "0", "--volumes", "1"],
        ["--pairs", "1", "--volumes", "4294967295"],
    ] {
        let mut all = vec!["--state-dir", "sd", "bench"];
        all.extend(args);
        let out = xenflux(dir.path(), &all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--pairs") || stderr.contains("--volumes"),
            "{stderr}"
        );
    }
    let out = xenflux(
        dir.path(),
        &["bench", "--pairs", "1", "--volumes", "2", "--domains", "3"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--domains (3) exceeds"));
}

#[test]
fn render_prints_every_file_of_a_node_with_the_allocations_in_them() {
    let out = xenflux(&root(), &["render", "--node", "dom0m"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for path in [
        "==> dom0m:/etc/drbd.d/dns.res <==",
        "==> dom0m:/etc/drbd.d/global_common.conf <==",
        "==> dom0m:/etc/xen/vpn.cfg <==",
        "==> dom0m:/etc/ocfs2/cluster.conf <==",
        "==> dom0m:/etc/default/o2cb <==",
        "==> dom0m:/etc/network/interfaces.d/bond0 <==",
        "==> dom0m:/etc/network/interfaces.d/xenbr0 <==",
    ] {
        assert!(stdout.contains(path), "missing {path} in:\n{stdout}");
    }
    assert!(!stdout.contains("==> dom0:"), "--node filters");
    assert!(
        stdout.contains("    address 192.168.1.191:7791;\n    meta-disk /dev/XEN/meta[3];"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disk = [ 'phy:/dev/drbd3,xvda,w' ]"),
        "{stdout}"
    );
    assert!(stdout.contains("address 192.168.1.191/24"), "{stdout}");
    let out = xenflux(&root(), &["render", "--node", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown node `nope` (nodes: dom0, dom0m)"));
}

#[test]
fn render_out_writes_a_tree_per_node_and_is_byte_identical_across_runs_and_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let out = xenflux(&root(), &["render", "--out", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let res = std::fs::read_to_string(a.join("dom0/etc/drbd.d/ovs.res")).unwrap();
    assert!(res.contains("allow-two-primaries yes;"));
    assert!(a.join("dom0m/etc/xen/vpn.cfg").is_file());

    // the same documents in one file, in reverse order
    let state = dir.path().join("one");
    std::fs::create_dir_all(&state).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(root().join("cluster-state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.reverse();
    let all: String = files
        .iter()
        .map(|p| format!("---\n{}", std::fs::read_to_string(p).unwrap()))
        .collect();
    std::fs::write(state.join("all.yaml"), all).unwrap();
    let b = dir.path().join("b");
    let out = xenflux(
        dir.path(),
        &["--state", "one", "render", "--out", b.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = xenflux(&root(), &["render"]).stdout;
    let again = xenflux(dir.path(), &["--state", "one", "render"]).stdout;
    assert_eq!(first, again, "byte-identical render");
    assert!(first.len() > 2000);
}

#[test]
fn render_refuses_an_invalid_state_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    copy_dir(&root().join("cluster-state"), &state);
    let vol = state.join("volumes.yaml");
    std::fs::write(
        &vol,
        std::fs::read_to_string(&vol)
            .unwrap()
            .replace("size: 10GiB", "size: ten"),
    )
    .unwrap();
    let out = xenflux(dir.path(), &["--state", "state", "render", "--out", "tree"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("tree").exists());
}

#[test]
fn a_closed_pipe_ends_quietly_without_a_panic() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_xenflux"))
        .current_dir(root())
        // well over a pipe's 64 KiB buffer, so the writer meets the closed pipe
        .args(["--state", "examples/pair-200", "render"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_refuses_out_of_range_numbers_before_it_starts() {
    // A debounce of years made every pass (and a stop request) wait for ever.
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["--debounce-ms", "999999999999999"],
        ["--debounce-ms", "10001"],
        ["--max-connections", "0"],
        ["--max-connections", "4097"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xenflux"))
            .current_dir(dir.path())
            .args([
                "--state-dir",
                "sd",
                "serve",
                "--repo",
                "/nonexistent",
                "--no-watch",
            ])
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains(args[0]), "{}", text(&out.stderr));
    }
}
