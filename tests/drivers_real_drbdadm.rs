//! The drbdadm argv the drivers build, fed to the real `drbdadm` in dry-run mode (`-d`), in 8.4
//! and 9 mode: every verb must be accepted and expand to the drbdsetup/drbdmeta commands we
//! expect. drbdadm needs no kernel module for `-d`; the local host's address is 127.0.0.1 so its
//! "IP not found on this host" check passes without a network namespace. Without drbdadm the
//! tests skip, except under CI=true, where they fail.
#![allow(clippy::disallowed_methods)] // tests may spawn the tool they check

use std::process::Command;

use xenflux::drivers::drbd;

const RES: &str = "resource r0 {
  protocol C;
  on nodeA {
    device    /dev/drbd1;
    disk      /dev/vg0/dns;
    address   127.0.0.1:7792;
    meta-disk /dev/vg0/meta[1];
  }
  on nodeB {
    device    /dev/drbd1;
    disk      /dev/vg0/dns;
    address   192.0.2.191:7792;
    meta-disk /dev/vg0/meta[1];
  }
}
";

fn have_drbdadm() -> bool {
    let found = Command::new("drbdadm").arg("--version").output().is_ok();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("drbdadm is not installed (apt-get install drbd-utils)");
    }
    found
}

/// Runs `argv` with `-d -c CONFIG` inserted after `drbdadm`; returns stdout.
fn dry_run(argv: &[String], config: &std::path::Path, v84: bool) -> String {
    assert_eq!(argv.first().map(String::as_str), Some("drbdadm"));
    let mut cmd = Command::new("drbdadm");
    cmd.arg("-d")
        .arg("-c")
        .arg(config)
        .args(&argv[1..])
        .env("__DRBD_NODE__", "nodeA");
    if v84 {
        cmd.env("DRBD_DRIVER_VERSION_OVERRIDE", "8.4.11");
    }
    let out = cmd.output().expect("run drbdadm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{argv:?} (8.4 mode: {v84}) failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn drbdadm_accepts_every_verb_we_build() {
    if !have_drbdadm() {
        eprintln!("skipped: no drbdadm");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("r0.res");
    std::fs::write(&config, RES).unwrap();
    for v84 in [true, false] {
        let setup = if v84 { "drbdsetup-84" } else { "drbdsetup" };
        let md = dry_run(&drbd::create_md("r0"), &config, v84);
        let fmt = if v84 { "v08" } else { "v09" };
        assert!(
            md.contains(&format!("drbdmeta 1 {fmt} /dev/vg0/meta 1 create-md")),
            "{md}"
        );
        assert!(
            md.contains("--force"),
            "create-md must reach drbdmeta with --force: {md}"
        );
        let up = dry_run(&drbd::up("r0"), &config, v84);
        assert!(
            up.contains(&format!("{setup} attach 1 /dev/vg0/dns /dev/vg0/meta 1")),
            "{up}"
        );
        let p = dry_run(&drbd::primary_force("r0"), &config, v84);
        assert!(
            p.contains(&format!("{setup} primary")) && p.contains("--force"),
            "{p}"
        );
        let n = dry_run(
            &drbd::net_options_allow_two_primaries("r0", true),
            &config,
            v84,
        );
        assert!(n.contains("--allow-two-primaries=yes"), "{n}");
        let n = dry_run(
            &drbd::net_options_allow_two_primaries("r0", false),
            &config,
            v84,
        );
        assert!(n.contains("--allow-two-primaries=no"), "{n}");
        let c = dry_run(&drbd::connect_discard_my_data("r0"), &config, v84);
        assert!(c.contains("--discard-my-data"), "{c}");
        let r = dry_run(&drbd::resize("r0"), &config, v84);
        assert!(r.contains(&format!("{setup} resize 1")), "{r}");
        for argv in [
            drbd::down("r0"),
            drbd::primary("r0"),
            drbd::secondary("r0"),
            drbd::adjust("r0"),
            drbd::connect("r0"),
            drbd::disconnect("r0"),
            drbd::status(Some("r0")),
        ] {
            let out = dry_run(&argv, &config, v84);
            assert!(out.contains(setup), "{argv:?}: {out}");
        }
    }
}

#[test]
fn dump_xml_of_our_config_parses() {
    if !have_drbdadm() {
        eprintln!("skipped: no drbdadm");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("r0.res");
    std::fs::write(&config, RES).unwrap();
    let argv = drbd::dump_xml(Some(config.to_str().unwrap()));
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .env("__DRBD_NODE__", "nodeA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = drbd::dump_xml::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let r = &c.resources[0];
    assert_eq!(
        r.host("nodeB").unwrap().address.as_ref().unwrap().port,
        7792
    );
    assert_eq!(
        r.host("nodeA").unwrap().volumes[0].meta_disk,
        Some(drbd::dump_xml::MetaDisk::Indexed {
            path: "/dev/vg0/meta".into(),
            index: 1
        })
    );
}
