//! Snapshots on the simulator, command by command: `lvcreate -s`, the snapshot in `lvs` as the
//! lab's lvm2 2.03.16 prints it, `xl block-attach` / `block-list` / `block-detach` with the lab's
//! layout and messages, and the refusals a real node gives (captured in the lab: see
//! `tests/fixtures/README.md`).

#![allow(clippy::disallowed_methods)]

mod simlab;

use std::path::Path;

use xenflux::drivers::xlcfg::{DiskAccess, DiskSpec};
use xenflux::drivers::{lvm, xl};

use simlab::Lab;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `lvs` JSON row of one LV, as printed.
fn row<'t>(text: &'t str, lv: &str) -> &'t str {
    let key = format!("{{\"lv_name\":\"{lv}\",");
    text.lines()
        .find(|l| l.trim_start().starts_with(&key))
        .unwrap_or_else(|| panic!("no row for {lv}:\n{text}"))
        .trim_end_matches(',')
}

fn tags() -> Vec<String> {
    vec!["xenflux".into(), "xenflux-snap".into()]
}

#[test]
fn a_snapshot_answers_like_the_lab() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", xl::create("/etc/xen/dns.cfg"));
    let snap = lvm::lvcreate_snapshot("XEN", "dns", "dns.snap", 8 << 20, &tags());
    assert_eq!(
        snap.join(" "),
        "lvcreate --yes -s -L 8388608b -n dns.snap --addtag xenflux --addtag xenflux-snap XEN/dns"
    );
    let o = lab.ok("dom0", snap.clone());
    assert_eq!(o.stdout, "  Logical volume \"dns.snap\" created.\n");
    let o = lab.fails("dom0", snap, 5);
    assert_eq!(
        o.stderr,
        "  Logical Volume \"dns.snap\" already exists in volume group \"XEN\"\n"
    );

    // Attached read-only to a running domain: the row is the lab's, byte for byte.
    let disk = DiskSpec::phy("/dev/XEN/dns.snap", "xvdb", DiskAccess::ReadOnly);
    lab.ok("dom0", xl::block_attach("dns", &disk));
    let lvs = lab.ok("dom0", lvm::lvs(None)).stdout;
    let lab_lvs = fixture("lvs-2.03.16-lab-snapshot-attached.json");
    assert_eq!(row(&lvs, "dns.snap"), row(&lab_lvs, "dns.snap"));
    assert!(
        row(&lvs, "dns").contains("\"lv_attr\":\"owi-aos---\""),
        "{lvs}"
    );
    let parsed = lvm::parse_lvs(&lvs).unwrap();
    assert!(parsed.iter().any(|l| l.origin.as_deref() == Some("dns")));

    // xl block-list: the lab's header, the devid, the backend path.
    let list = lab.ok("dom0", xl::block_list("dns")).stdout;
    let lab_list = fixture("xl-4.17-block-list-two-snapshots.txt");
    assert_eq!(list.lines().next(), lab_list.lines().next());
    // The lab's row for xvdb, with this domain's id.
    let domid = lab.view("dom0").domains["dns"].domid;
    assert_eq!(
        list.lines().nth(2),
        lab_list
            .lines()
            .nth(1)
            .map(|l| l
                .replace("3      1", &format!("{domid:<6} 1"))
                .replace("vbd/3/", &format!("vbd/{domid}/")))
            .as_deref()
    );
    let devs = xl::parse_block_list(&list).unwrap();
    let ids: Vec<u32> = devs.iter().map(|d| d.devid).collect();
    assert_eq!(ids, [51712, 51728]);
    assert!(devs[1].be_path.ends_with("/51728"), "{list}");

    // Refused like the lab: the same device twice, lvremove of an attached snapshot, growing
    // the origin, a domain that does not run.
    let o = lab.fails("dom0", xl::block_attach("dns", &disk), 1);
    assert!(
        o.stderr.ends_with(":device already exists in xenstore\nlibxl: error: libxl_device.c:1486:device_addrm_aocomplete: unable to add device\nlibxl_device_disk_add failed.\n"),
        "{}",
        o.stderr
    );
    let o = lab.fails("dom0", lvm::lvremove("XEN", "dns.snap"), 5);
    assert_eq!(o.stderr, "  Logical volume XEN/dns.snap in use.\n");
    let o = lab.fails("dom0", lvm::lvextend("XEN", "dns", 20 << 30, &[]), 5);
    assert_eq!(
        o.stderr,
        "  Snapshot origin volumes can be resized only while inactive: try lvchange -an.\n"
    );
    let o = lab.fails("dom0", xl::block_attach("backup", &disk), 1);
    assert_eq!(o.stderr, "backup is an invalid domain identifier\n");
    let o = lab.ok("dom0", xl::block_list("backup"));
    assert_eq!(o.stdout, fixture("xl-4.17-block-list-not-running.txt"));
    assert_eq!(o.stderr, "backup is an invalid domain identifier\n");

    // Detached by its devid; then gone, and removable.
    lab.ok("dom0", xl::block_detach_force("dns", 51728));
    let o = lab.fails("dom0", xl::block_detach("dns", "51728"), 1);
    assert_eq!(o.stderr, "Error: Device 51728 not connected.\n");
    assert_eq!(
        xl::parse_block_list(&lab.ok("dom0", xl::block_list("dns")).stdout)
            .unwrap()
            .len(),
        1
    );
    let o = lab.ok("dom0", lvm::lvremove("XEN", "dns.snap"));
    assert_eq!(
        o.stdout,
        "  Logical volume \"dns.snap\" successfully removed.\n"
    );
    assert!(
        lab.sim.violations().is_empty(),
        "removing a snapshot is no data loss: {:?}",
        lab.sim.violations()
    );
}

#[test]
fn a_snapshot_that_fills_up_is_invalid_like_the_lab_says() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok(
        "dom0",
        lvm::lvcreate_snapshot("XEN", "dns", "dns.snap", 4 << 20, &tags()),
    );
    assert_eq!(lab.sim.fill_snapshot("dom0", "dns.snap", 5039), Ok(5039));
    let lvs = lab.ok("dom0", lvm::lvs(None)).stdout;
    assert_eq!(
        row(&lvs, "dns.snap"),
        row(
            &fixture("lvs-2.03.16-lab-snapshot-half-full.json"),
            "dns.snap"
        )
    );
    assert_eq!(lab.sim.fill_snapshot("dom0", "dns.snap", 9000), Ok(10_000));
    let lvs = lab.ok("dom0", lvm::lvs(None)).stdout;
    assert_eq!(
        row(&lvs, "dns.snap"),
        row(
            &fixture("lvs-2.03.16-lab-snapshot-invalid.json"),
            "dns.snap"
        )
    );
    assert!(
        lab.sim.fill_snapshot("dom0", "dns", 1).is_err(),
        "no snapshot"
    );
    // A snapshot needs its origin, and is no origin itself.
    let o = lab.fails(
        "dom0",
        lvm::lvcreate_snapshot("XEN", "nope", "x.snap", 4 << 20, &[]),
        5,
    );
    assert_eq!(o.stderr, "  Failed to find logical volume \"XEN/nope\"\n");
}

/// Pruning a volume removes its LV with `lvremove -f`, which takes the LV's snapshots with it:
/// one xenflux did not make keeps the orphan where it is.
#[test]
fn a_hand_made_snapshot_keeps_its_pruned_origin() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", xenflux::drivers::drbd::secondary("dns"));
    lab.ok(
        "dom0",
        lvm::lvcreate_snapshot("XEN", "dns", "by-hand", 4 << 20, &[]),
    );
    // The state without volume dns and its domain.
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-state");
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let kept: Vec<&str> = text
            .split("\n---\n")
            .filter(|d| !d.contains("\n  name: dns\n"))
            .collect();
        std::fs::write(
            dir.path().join(p.file_name().unwrap()),
            kept.join("\n---\n"),
        )
        .unwrap();
    }
    let observed = xenflux::observe::Observed {
        nodes: ["dom0", "dom0m"]
            .iter()
            .map(|n| (simlab::name(n), lab.observe(n)))
            .collect(),
    };
    let sources = xenflux::load::from_dir(dir.path()).unwrap();
    let v = xenflux::validate::validate(&sources, &observed.existing()).unwrap();
    assert!(!v.desired.volumes.contains_key("dns"));
    let policy = xenflux::plan::Policy {
        prune: true,
        ..Default::default()
    };
    let plan = xenflux::plan::plan(&v.desired, &v.allocation, &observed, &policy).unwrap();
    let held = plan
        .blocked
        .iter()
        .find(|b| b.object == "dom0/dns")
        .unwrap_or_else(|| panic!("{:#?}", plan.blocked));
    assert!(
        held.reason
            .contains("has snapshot by-hand that xenflux did not make"),
        "{}",
        held.reason
    );
    let touches_dns_on_dom0 = plan
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .any(|a| a.node().as_str() == "dom0" && a.describe().contains("XEN/dns"));
    assert!(!touches_dns_on_dom0, "{plan:#?}");
}
