#![allow(clippy::disallowed_methods)]
//! The Debian package as an operator gets it: built with `cargo deb` from the binary this test
//! run built (packaging/build-deb.sh), installed with `dpkg -i`, then `xenflux --version` names
//! the commit, `man xenflux` renders, the completions are in place, `systemd-analyze verify`
//! accepts the unit, and the lab scripts are found where the package put them. The package is
//! purged afterwards, also when a check fails.
//!
//! It installs into /usr, so it runs only as root, under CI=true or with XENFLUX_PACKAGE_TEST=1,
//! and never over a xenflux installed by other means.

mod common;

use std::path::Path;
use std::process::Command;

use common::{in_ci, require_tool, run, scratch, skip_or_fail, tool};

/// Purges the package when dropped, so a failed check does not leave it installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let out = run(Command::new(tool("dpkg")).args(["--purge", "xenflux"]));
        if out.code != Some(0) {
            eprintln!("purging the xenflux package failed: {out}");
        }
    }
}

fn wanted() -> bool {
    if in_ci() || std::env::var("XENFLUX_PACKAGE_TEST").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping: the package test installs into /usr; it runs under CI=true or with XENFLUX_PACKAGE_TEST=1"
    );
    false
}

#[test]
fn the_debian_package_installs_runs_and_purges() {
    if !wanted() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 && !skip_or_fail("the package test needs root (dpkg -i)") {
        return;
    }
    for t in ["dpkg", "dpkg-deb", "systemd-analyze", "man", "cargo-deb"] {
        if !require_tool(t) {
            return;
        }
    }
    let status = run(Command::new(tool("dpkg-query")).args(["-W", "xenflux"]));
    assert!(
        status.code != Some(0) && !Path::new("/usr/bin/xenflux").exists(),
        "xenflux is already installed on this machine: not replacing it ({status})"
    );

    // The package, from the binary `cargo test` built (target/debug: no second build).
    let out_dir = scratch();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new("bash")
        .arg(root.join("packaging/build-deb.sh"))
        .args(["dev"])
        .arg(out_dir.path())
        .env("CARGO_DEB_ARGS", "--fast")
        .current_dir(root))
    .expect_ok();
    let deb = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("build-deb.sh wrote a .deb");

    let _installed = Installed;
    run(Command::new(tool("dpkg")).arg("-i").arg(&deb)).expect_ok();

    // --version names the commit the binary was built from.
    let version = run(Command::new("/usr/bin/xenflux").arg("--version")).expect_ok();
    let expected = run(Command::new(env!("CARGO_BIN_EXE_xenflux")).arg("--version")).expect_ok();
    assert_eq!(version.stdout, expected.stdout);
    assert!(version.stdout.contains("(commit "), "{version}");
    if in_git_checkout(root) {
        assert!(!version.stdout.contains("unknown"), "{version}");
    }

    // The man pages render, one per command.
    for page in ["xenflux", "xenflux-serve"] {
        let man = run(Command::new(tool("man"))
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"))
        .expect_ok();
        assert!(man.stdout.contains("SYNOPSIS"), "{man}");
    }

    // The completions are where bash, zsh and fish look.
    for (file, mark) in [
        ("/usr/share/bash-completion/completions/xenflux", "_xenflux"),
        ("/usr/share/zsh/vendor-completions/_xenflux", "#compdef"),
        (
            "/usr/share/fish/vendor_completions.d/xenflux.fish",
            "complete -c xenflux",
        ),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(mark), "{file}");
    }

    // The unit, with its man pages now installed, passes systemd's own check.
    let verify = run(Command::new(tool("systemd-analyze"))
        .args(["verify", "/lib/systemd/system/xenflux.service"]))
    .expect_ok();
    assert_eq!(verify.stderr.trim(), "", "{verify}");

    // The lab scripts are the package's, not the checkout's (found from any directory).
    let lab_dir = scratch();
    let lab = run(Command::new("/usr/bin/xenflux")
        .args(["lab", "status", "--dir"])
        .arg(lab_dir.path())
        .env_remove("XENFLUX_LAB_SCRIPTS")
        .env("XENFLUX_LOG", "debug")
        .current_dir(lab_dir.path()));
    assert_eq!(lab.code, Some(3), "{lab}");
    assert!(
        lab.stderr.contains("scripts=/usr/share/xenflux/lab"),
        "{lab}"
    );
    assert!(lab.stdout.contains("nodea: stopped"), "{lab}");

    // The settings file shipped holds no settings (all comments): it changes nothing.
    let settings = std::fs::read_to_string("/etc/xenflux/config.yaml").unwrap();
    assert!(settings
        .lines()
        .all(|l| l.trim().is_empty() || l.starts_with('#')));

    drop(_installed);
    assert!(!Path::new("/usr/bin/xenflux").exists(), "left installed");
    assert!(
        !Path::new("/etc/xenflux/config.yaml").exists(),
        "conffile left after purge"
    );
}

/// True when `dir` is in a Git checkout and git is installed.
fn in_git_checkout(dir: &Path) -> bool {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}
