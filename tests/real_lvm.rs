#![allow(clippy::disallowed_methods)]
//! LVM for real (lvm2 2.03.16, no device-mapper needed): a volume group on a loop device, changed
//! only through the drivers' argv run by `transport::Local`, and read back after every step by
//! `observe::observe_node` — the exact LVs with their sizes in bytes and tags, and the VG's
//! size, free space and extent size agreeing with them. LVM's own refusals (an LV that exists,
//! too little space) come back with LVM's words and change nothing.
//!
//! LVM is kept away from the host's configuration by `LVM_SYSTEM_DIR`, a scratch directory with
//! this `lvm.conf` (see `common::loopdev::lvm_conf`):
//! - `backup { backup = 0  archive = 0 }`: no `/etc/lvm/archive/*.vg` or `/etc/lvm/backup/*`;
//! - `devices { filter = [ "a|^/dev/loopN$|", "r|.*|" ] }`: LVM sees this test's loop device and
//!   nothing else (not the host's disks, not another test's loop devices), so "exactly these LVs"
//!   means the whole report. The loop device needs no udev: with `obtain_device_list_from_udev = 0`
//!   LVM scans `/dev` itself and opens `/dev/loopN` (the kernel made it), and with
//!   `use_devicesfile = 0` no `LVM_SYSTEM_DIR/devices/system.devices` has to list it (distributions
//!   that default to a devices file would otherwise hide it from every command but `pvcreate`).
//!
//! Without device-mapper `lvcreate`/`lvextend` need `--driverloaded n` (metadata only), passed in
//! the drivers' `extra` slot with `-an -Zn` — here only; production argv stays as it is.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{require_root, require_tool, run, scratch, tool, write, LoopDev};
use xenflux::drivers::lvm;
use xenflux::observe::{observe_node, LvState, Part, Probe, VgState};
use xenflux::transport::{Cmd, Local, Output, Transport};

const MIB: u64 = 1 << 20;

/// What this test passes where production passes nothing: no device-mapper on the test machine.
fn create_extra() -> Vec<String> {
    ["--driverloaded", "n", "-an", "-Zn"]
        .map(String::from)
        .to_vec()
}

fn extend_extra() -> Vec<String> {
    ["--driverloaded", "n"].map(String::from).to_vec()
}

/// Runs one argv through the transport.
fn exec(t: &Local, argv: Vec<String>) -> Output {
    t.run_batch("node", &[Cmd::new(argv)])
        .expect("Local never fails as a transport")
        .pop()
        .expect("one output per command")
}

fn ok(t: &Local, argv: Vec<String>) -> Output {
    let out = exec(t, argv);
    assert!(
        out.success(),
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.describe(),
        out.stdout,
        out.stderr
    );
    out
}

/// A volume group on a loop device, removed with its PV when dropped (before the loop device,
/// which is declared first and so dropped last).
struct Vg {
    t: Local,
    name: String,
    pv: String,
    _conf: tempfile::TempDir,
}

impl Vg {
    /// `tag` keeps the VG names of this process's tests apart.
    fn create(dev: &LoopDev, tag: &str) -> Vg {
        let conf = scratch();
        write(
            conf.path(),
            "lvm.conf",
            &common::loopdev::lvm_conf(&dev.path),
        );
        let t = Local {
            prefix: Vec::new(),
            env: vec![("LVM_SYSTEM_DIR".into(), conf.path().display().to_string())],
        };
        let name = format!("xft{}{tag}", std::process::id());
        let vg = Vg {
            t,
            name,
            pv: dev.path.clone(),
            _conf: conf,
        };
        ok(&vg.t, lvm::pvcreate(&vg.pv));
        ok(&vg.t, lvm::vgcreate(&vg.name, std::slice::from_ref(&vg.pv)));
        vg
    }
}

impl Drop for Vg {
    fn drop(&mut self) {
        // Best effort, whatever state a failed test left: vgremove -f takes the LVs with it.
        let _ = self.t.run_batch(
            "node",
            &[
                Cmd::new(["vgremove", "-f", self.name.as_str()]),
                Cmd::new(["pvremove", "-ff", "-y", self.pv.as_str()]),
            ],
        );
    }
}

fn tags(t: &[&str]) -> BTreeSet<String> {
    t.iter().map(|s| s.to_string()).collect()
}

/// Observes through the transport and checks the LVM part: known, exactly `want` (LV name →
/// size, tags), and a VG whose free space is its size less the LVs'. Returns the VG.
fn expect_lvs(vg: &Vg, want: &[(&str, u64, &[&str])]) -> VgState {
    let state = observe_node(&vg.t, "node", &Probe::default());
    let lvm = match &state.lvm {
        Part::Known(l) => l,
        Part::Unknown(u) => panic!("lvm unknown: {u:?}"),
    };
    let names: Vec<&String> = lvm.vgs.keys().collect();
    assert_eq!(names, [&vg.name], "the filter shows only this test's VG");
    let got: BTreeMap<String, (u64, BTreeSet<String>)> = lvm
        .lvs
        .iter()
        .map(|(k, l)| (k.clone(), (l.size, l.tags.clone())))
        .collect();
    let expected: BTreeMap<String, (u64, BTreeSet<String>)> = want
        .iter()
        .map(|(n, size, t)| (format!("{}/{n}", vg.name), (*size, tags(t))))
        .collect();
    assert_eq!(got, expected);
    for (k, l) in &lvm.lvs {
        // Made with -an: never active; unknown (None) where there is no device-mapper.
        let LvState { active, open, .. } = l;
        assert_ne!(*active, Some(true), "{k}");
        assert_ne!(*open, Some(true), "{k}");
    }
    let v = lvm.vgs[&vg.name].clone();
    assert_eq!(v.extent_size, 4 * MIB, "LVM's default extent");
    assert_eq!(v.size % v.extent_size, 0, "{v:?}");
    assert!(
        v.size <= 1 << 30 && v.size >= (1 << 30) - 2 * v.extent_size,
        "a 1 GiB PV less its metadata area: {v:?}"
    );
    let used: u64 = want.iter().map(|(_, s, _)| s).sum();
    assert_eq!(v.free, v.size - used, "free = size - LVs: {v:?}");
    assert!(v.tags.is_empty(), "{v:?}");
    v
}

fn lvm_tools() -> bool {
    [
        "pvcreate", "vgcreate", "lvcreate", "lvextend", "lvchange", "lvremove", "lvs", "vgs",
    ]
    .iter()
    .all(|t| require_tool(t))
}

#[test]
fn lvs_created_extended_tagged_and_removed_are_observed_exactly() {
    if !lvm_tools() {
        return;
    }
    let Some(dev) = LoopDev::new("lvm", 1 << 30) else {
        return;
    };
    let vg = Vg::create(&dev, "a");
    let (t, name) = (&vg.t, vg.name.as_str());
    let free0 = expect_lvs(&vg, &[]).free;

    ok(
        t,
        lvm::lvcreate(name, "dns", 64 * MIB, &["xenflux".into()], &create_extra()),
    );
    expect_lvs(&vg, &[("dns", 64 * MIB, &["xenflux"])]);

    ok(
        t,
        lvm::lvcreate(name, "meta", 256 * MIB, &[], &create_extra()),
    );
    expect_lvs(
        &vg,
        &[("dns", 64 * MIB, &["xenflux"]), ("meta", 256 * MIB, &[])],
    );

    ok(t, lvm::lvextend(name, "dns", 128 * MIB, &extend_extra()));
    expect_lvs(
        &vg,
        &[("dns", 128 * MIB, &["xenflux"]), ("meta", 256 * MIB, &[])],
    );

    ok(t, lvm::lvchange_addtag(name, "dns", "vm_dns"));
    expect_lvs(
        &vg,
        &[
            ("dns", 128 * MIB, &["vm_dns", "xenflux"]),
            ("meta", 256 * MIB, &[]),
        ],
    );

    ok(t, lvm::lvchange_deltag(name, "dns", "xenflux"));
    expect_lvs(
        &vg,
        &[("dns", 128 * MIB, &["vm_dns"]), ("meta", 256 * MIB, &[])],
    );

    // A size that is no whole sector: the driver rounds it to one, LVM to a whole extent.
    ok(
        t,
        lvm::lvcreate(name, "odd", 5 * MIB + 1, &[], &create_extra()),
    );
    expect_lvs(
        &vg,
        &[
            ("dns", 128 * MIB, &["vm_dns"]),
            ("meta", 256 * MIB, &[]),
            ("odd", 8 * MIB, &[]),
        ],
    );
    ok(t, lvm::lvremove(name, "odd"));

    ok(t, lvm::lvremove(name, "meta"));
    let v = expect_lvs(&vg, &[("dns", 128 * MIB, &["vm_dns"])]);
    assert_eq!(v.free, free0 - 128 * MIB);

    ok(t, lvm::lvremove(name, "dns"));
    assert_eq!(expect_lvs(&vg, &[]).free, free0);
}

#[test]
fn lvm_refusals_carry_lvms_message_and_change_nothing() {
    if !lvm_tools() {
        return;
    }
    let Some(dev) = LoopDev::new("lvmno", 1 << 30) else {
        return;
    };
    let vg = Vg::create(&dev, "b");
    let (t, name) = (&vg.t, vg.name.as_str());
    ok(
        t,
        lvm::lvcreate(name, "dns", 64 * MIB, &["xenflux".into()], &create_extra()),
    );
    let before = expect_lvs(&vg, &[("dns", 64 * MIB, &["xenflux"])]);

    let again = exec(
        t,
        lvm::lvcreate(name, "dns", 64 * MIB, &[], &create_extra()),
    );
    assert_eq!(again.status, Some(5), "{}", again.stderr);
    assert!(
        again.stderr.contains(&format!(
            "Logical Volume \"dns\" already exists in volume group \"{name}\""
        )),
        "{}",
        again.stderr
    );

    // 2 GiB on a 1 GiB PV.
    let free_extents = before.free / before.extent_size;
    let big = exec(t, lvm::lvcreate(name, "big", 2 << 30, &[], &create_extra()));
    assert_eq!(big.status, Some(5), "{}", big.stderr);
    assert!(
        big.stderr.contains(&format!(
            "Volume group \"{name}\" has insufficient free space ({free_extents} extents): 512 required."
        )),
        "{}",
        big.stderr
    );

    // Growing past the VG fails too; `lvextend` words it differently.
    let grow = exec(t, lvm::lvextend(name, "dns", 2 << 30, &extend_extra()));
    assert_eq!(grow.status, Some(5), "{}", grow.stderr);
    assert!(
        grow.stderr.contains(&format!(
            "Insufficient free space: 496 extents needed, but only {free_extents} available"
        )),
        "{}",
        grow.stderr
    );

    // The same size is no extension.
    let same = exec(t, lvm::lvextend(name, "dns", 64 * MIB, &extend_extra()));
    assert_eq!(same.status, Some(5), "{}", same.stderr);
    assert!(
        same.stderr
            .contains("New size (16 extents) matches existing size (16 extents)."),
        "{}",
        same.stderr
    );

    let bad_tag = exec(t, lvm::lvchange_addtag(name, "dns", "no spaces"));
    assert_eq!(bad_tag.status, Some(3), "{}", bad_tag.stderr);
    assert!(
        bad_tag
            .stderr
            .contains("Invalid argument for --addtag: no spaces"),
        "{}",
        bad_tag.stderr
    );

    let after = expect_lvs(&vg, &[("dns", 64 * MIB, &["xenflux"])]);
    assert_eq!(after, before, "failed commands changed nothing");
}

#[test]
fn an_lvs_of_a_missing_volume_group_is_not_found_not_an_error() {
    // What the planner relies on: "no such VG" is an answer, not an unknown.
    if !require_tool("lvs") || !require_root() {
        return;
    }
    let missing = format!("xftnone{}", std::process::id());
    let out = run(Command::new(tool("lvs")).args(&lvm::lvs(Some(&missing))[1..]));
    assert_eq!(out.code, Some(5), "{out}");
    match lvm::lvs_result(&out.stdout, &out.stderr, 5) {
        Ok(lvm::Lookup::NotFound(msg)) => {
            assert_eq!(msg, format!("Volume group \"{missing}\" not found"))
        }
        other => panic!("{other:?}\n{out}"),
    }
}
