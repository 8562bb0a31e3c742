#![allow(clippy::disallowed_methods)]
//! What an installed xenflux relies on, short of installing it (tests/package.rs does that):
//! `--version` naming the commit, completions and man pages generated from the command line,
//! the settings file and environment variables with their precedence (flag, environment, file,
//! default), bad settings refused with file, line and field, the systemd unit, and the lab
//! scripts found beside the binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{require_tool, scratch, tool, write};

/// Every variable xenflux reads, so the developer's own environment cannot steer a test.
const XENFLUX_VARS: &[&str] = &[
    "XENFLUX_CONFIG",
    "XENFLUX_TARGET",
    "XENFLUX_SSH_CONFIG",
    "XENFLUX_STATE_DIR",
    "XENFLUX_REPO",
    "XENFLUX_BRANCH",
    "XENFLUX_INTERVAL",
    "XENFLUX_LISTEN",
    "XENFLUX_WEBHOOK_SECRET_FILE",
    "XENFLUX_WEBHOOK_SECRET",
    "XENFLUX_TOKEN_FILE",
    "XENFLUX_TOKEN",
    "XENFLUX_LAB_SCRIPTS",
    "XENFLUX_LAB_DIR",
    "XENFLUX_LOG",
];

fn xenflux(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    xenflux_at(Path::new(env!("CARGO_BIN_EXE_xenflux")), dir, args, env)
}

fn xenflux_at(exe: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir).args(args);
    for v in XENFLUX_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("xenflux runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = scratch();
    let out = xenflux(dir.path(), &["--version"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("xenflux {} (commit {head})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completion_prints_a_script_for_each_shell() {
    let dir = scratch();
    for (shell, mark) in [
        ("bash", "complete -F _xenflux"),
        ("zsh", "#compdef xenflux"),
        ("fish", "complete -c xenflux"),
    ] {
        let out = xenflux(dir.path(), &["completion", shell], &[]);
        assert!(out.status.success(), "{}", show(&out));
        let script = text(&out.stdout);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(script.contains("serve"), "{shell}: no subcommands");
    }
    let out = xenflux(dir.path(), &["completion", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn manpages_writes_a_page_per_command_naming_the_environment() {
    let dir = scratch();
    let out = xenflux(dir.path(), &["manpages", "man"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let man = dir.path().join("man");
    for page in [
        "xenflux.1",
        "xenflux-serve.1",
        "xenflux-plan.1",
        "xenflux-lab-up.1",
    ] {
        assert!(man.join(page).is_file(), "{page} missing");
    }
    assert!(!man.join("xenflux-manpages.1").exists(), "hidden command");
    let serve = std::fs::read_to_string(man.join("xenflux-serve.1")).unwrap();
    for var in [
        "XENFLUX_REPO",
        "XENFLUX_BRANCH",
        "XENFLUX_LISTEN",
        "XENFLUX_TARGET",
    ] {
        assert!(serve.contains(var), "{var} not in xenflux-serve.1");
    }
    let main = std::fs::read_to_string(man.join("xenflux.1")).unwrap();
    assert!(main.contains("XENFLUX_CONFIG") && main.contains("XENFLUX_STATE_DIR"));
}

/// `suspend` writes STATE_DIR/…: where its file lands shows which state directory won.
fn suspended_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut argv = vec!["suspend"];
    argv.extend_from_slice(args);
    let out = xenflux(dir, &argv, env);
    assert!(out.status.success(), "{}", show(&out));
    let mut found: Vec<String> = ["flag", "env", "file", ".xenflux"]
        .into_iter()
        .filter(|d| dir.join(d).is_dir())
        .map(String::from)
        .collect();
    found.sort();
    for d in &found {
        std::fs::remove_dir_all(dir.join(d)).unwrap();
    }
    found
}

#[test]
fn a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default() {
    let dir = scratch();
    let cfg = write(dir.path(), "config.yaml", "stateDir: file\n");
    let cfg = cfg.to_str().unwrap();
    assert_eq!(suspended_in(dir.path(), &[], &[]), [".xenflux"]);
    assert_eq!(suspended_in(dir.path(), &["--config", cfg], &[]), ["file"]);
    assert_eq!(
        suspended_in(dir.path(), &[], &[("XENFLUX_CONFIG", cfg)]),
        ["file"]
    );
    assert_eq!(
        suspended_in(
            dir.path(),
            &["--config", cfg],
            &[("XENFLUX_STATE_DIR", "env")]
        ),
        ["env"]
    );
    assert_eq!(
        suspended_in(
            dir.path(),
            &["--config", cfg, "--state-dir", "flag"],
            &[("XENFLUX_STATE_DIR", "env")]
        ),
        ["flag"]
    );
}

/// A desired state with one node whose ssh port on 127.0.0.1 is closed: the ssh target fails
/// at once, and says so.
fn unreachable_state(dir: &Path) {
    write(
        dir,
        "state/cluster.yaml",
        "apiVersion: xenflux/v1\nkind: Cluster\nmetadata: {name: t}\nspec: {}\n---\n\
         apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: n1}\nspec:\n  address: 192.0.2.10\n  \
         ssh: {host: 127.0.0.1, user: root, port: 1}\n  volumeGroup: XEN\n",
    );
}

#[test]
fn the_target_comes_from_flag_variable_or_file() {
    let dir = scratch();
    unreachable_state(dir.path());
    let cfg = write(dir.path(), "config.yaml", "target: ssh\n");
    let cfg = cfg.to_str().unwrap();
    let status = |args: &[&str], env: &[(&str, &str)]| {
        let mut argv = vec!["--state", "state", "status"];
        argv.extend_from_slice(args);
        xenflux(dir.path(), &argv, env)
    };
    // `status` names its target on its first line.
    let target_of = |out: Output| {
        let first = text(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(first.contains("target: "), "{}", show(&out));
        first
    };
    // The default: the simulated cluster.
    assert!(target_of(status(&[], &[])).contains("target: sim"));
    // The file says ssh: the node's closed port is what it reaches.
    let first = target_of(status(&["--config", cfg], &[]));
    assert!(
        first.contains("target: ssh nodes n1 (root@127.0.0.1:1)"),
        "{first}"
    );
    // The variable beats the file, the flag beats the variable.
    let first = target_of(status(&["--config", cfg], &[("XENFLUX_TARGET", "sim")]));
    assert!(first.contains("target: sim"), "{first}");
    let first = target_of(status(
        &["--config", cfg, "--target", "sim"],
        &[("XENFLUX_TARGET", "ssh")],
    ));
    assert!(first.contains("target: sim"), "{first}");
    let out = status(&[], &[("XENFLUX_TARGET", "local")]);
    assert!(
        text(&out.stderr).contains("use --target sim or --target ssh"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_bad_config_file_is_refused_naming_file_line_and_field_and_nothing_is_done() {
    let dir = scratch();
    let cfg = write(
        dir.path(),
        "config.yaml",
        "stateDir: sd\ntarget: nowhere\nserve:\n  branch: 'a..b'\n  listen: 9292\n  colour: blue\n",
    );
    let out = xenflux(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "suspend"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    let file = cfg.display().to_string();
    for want in [
        format!("{file}:2:1: error: target: unknown variant `nowhere`"),
        format!("{file}:4:3: error: serve.branch: `a..b` is not a valid Git branch name"),
        format!("{file}:5:3: error: serve.listen: invalid type"),
        format!("{file}:6:3: error: serve.colour: unknown field `colour`"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
    assert!(err.contains("nothing was done"), "{err}");
    assert!(!dir.path().join("sd").exists(), "suspend ran");
    assert!(!dir.path().join(".xenflux").exists(), "suspend ran");
}

#[test]
fn a_config_file_named_but_missing_is_an_error() {
    let dir = scratch();
    for (args, env) in [
        (vec!["--config", "nope.yaml", "suspend"], vec![]),
        (vec!["suspend"], vec![("XENFLUX_CONFIG", "nope.yaml")]),
    ] {
        let out = xenflux(dir.path(), &args, &env);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            text(&out.stderr).contains("the config file nope.yaml does not exist"),
            "{}",
            show(&out)
        );
    }
    assert!(!dir.path().join(".xenflux").exists());
}

#[test]
fn serve_without_a_repository_anywhere_says_where_to_give_it() {
    let dir = scratch();
    let out = xenflux(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--repo, XENFLUX_REPO or `serve.repo` in the config file"),
        "{}",
        show(&out)
    );
    // A branch git would read as something else is refused from the flag too.
    let out = xenflux(
        dir.path(),
        &["serve", "--repo", "r", "--branch", "a:b"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--branch: `a:b` is not a valid Git branch name"),
        "{}",
        show(&out)
    );
    assert!(!dir.path().join(".xenflux").exists());
}

#[test]
fn the_service_unit_passes_systemd_analyze_verify() {
    if !require_tool("systemd-analyze") {
        return;
    }
    let dir = scratch();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/xenflux.service"),
    )
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/xenflux serve"));
    // verify wants ExecStart's binary to exist: the one just built stands in.
    let unit = unit.replace("/usr/bin/xenflux", env!("CARGO_BIN_EXE_xenflux"));
    let path = write(dir.path(), "xenflux.service", &unit);
    // The man pages are not installed here (tests/package.rs checks them with the package).
    let out = Command::new(tool("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stderr).trim(), "", "verify warned");
}

/// The lab scripts are found in ../share/xenflux/lab beside the binary (where the package puts
/// them), before the source tree the binary was built from.
#[test]
fn the_lab_scripts_beside_the_binary_are_found_first() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("install-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let lab = root.join("share/xenflux/lab");
    std::fs::create_dir_all(lab.join("guest")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), lab.join(e.file_name())).unwrap();
        }
    }
    let exe = root.join("bin/xenflux");
    // A hard link (same file system as target/) keeps the test cheap; a copy otherwise.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_xenflux"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_xenflux"), &exe).unwrap();
    }
    let empty = scratch();
    let out = xenflux_at(
        &exe,
        empty.path(),
        &["lab", "status", "--dir", empty.path().to_str().unwrap()],
        &[("XENFLUX_LOG", "debug")],
    );
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(&format!("scripts={}", lab.display())),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stdout).contains("nodea: stopped"),
        "{}",
        show(&out)
    );
}

#[test]
fn lab_scripts_named_in_the_environment_must_be_there() {
    let dir = scratch();
    let out = xenflux(
        dir.path(),
        &["lab", "status"],
        &[("XENFLUX_LAB_SCRIPTS", dir.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("lab scripts were not found") && err.contains(&*dir.path().to_string_lossy()),
        "{err}"
    );
}
