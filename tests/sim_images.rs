#![allow(clippy::disallowed_methods)]
//! Domains on raw image files on the shared OCFS2 filesystem, from the command line on the
//! simulated cluster: the image is created sparse where it is missing (and never where a file
//! is), the domain starts on it, grows with `size` (never shrinks), moves to the other node by
//! `xl migrate` alone (no DRBD role change), and fails over to the survivor after its node is
//! lost — the example cluster's `/OVS` holding the image.

mod common;

use common::scratch::Scratch;
const IMAGE: &str = "/OVS/running_pool/web/System.img";

fn domain(node: &str, size: &str) -> String {
    format!(
        "apiVersion: xenflux/v1\nkind: Domain\nmetadata: {{name: web}}\nspec:\n  node: {node}\n  memory: 512MiB\n  bootloader: pygrub\n  disks:\n    - {{file: {IMAGE}, size: {size}, target: xvda}}\n  nics:\n    - {{bridge: xenbr0}}\n"
    )
}

/// The example cluster (`/OVS` on dom0 and dom0m), converged, without the image domain.
fn cluster() -> Scratch {
    let c = Scratch::new();
    c.converge();
    c
}

/// What the simulator shows of one scratch cluster.
trait Seen {
    fn set_domain(&self, text: &str);
    fn runs_on(&self, domain: &str) -> Vec<String>;
    /// Every command the simulator ran since the log was last cleared, as `node: argv`.
    fn commands(&self) -> Vec<String>;
    fn clear_log(&self);
    fn no_violations(&self);
}

impl Seen for Scratch {
    fn set_domain(&self, text: &str) {
        std::fs::write(self.state().join("web.yaml"), text).unwrap();
    }

    fn runs_on(&self, domain: &str) -> Vec<String> {
        let sim = self.sim();
        sim.node_names()
            .into_iter()
            .filter(|n| sim.node(n).unwrap().domains.contains_key(domain))
            .collect()
    }

    fn commands(&self) -> Vec<String> {
        self.sim()
            .log()
            .into_iter()
            .map(|e| format!("{}: {}", e.node, e.argv.join(" ")))
            .collect()
    }

    fn clear_log(&self) {
        let sim = self.sim();
        sim.clear_log();
        sim.save(&self.state_dir().join("sim.json")).unwrap();
    }

    fn no_violations(&self) {
        assert_eq!(self.sim().violations(), Vec::<String>::new());
    }
}

#[test]
fn an_image_domain_is_created_started_grown_and_moved_without_drbd() {
    let c = cluster();
    c.set_domain(&domain("dom0", "64MiB"));
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("create image {IMAGE} (64MiB, sparse)")),
        "{out}"
    );
    assert!(out.contains("dd if=/dev/zero of=/OVS/running_pool/web/System.img bs=1M count=0 seek=64 conv=excl status=none"), "{out}");
    assert!(out.contains("start domain web"), "{out}");
    c.clear_log();
    c.ok(&["apply", "--yes"]);
    let (code, out, err) = c.run(&["plan"]);
    assert_eq!(code, 0, "apply then plan is empty: {out}{err}");
    // Shared storage: created on one node, seen by both.
    for n in ["dom0", "dom0m"] {
        let (size, data) = c.sim().image(n, IMAGE).expect("the image is on /OVS");
        assert_eq!(size, 64 << 20, "{n}");
        assert!(data, "the domain writes to it");
    }
    let created: Vec<String> = c
        .commands()
        .into_iter()
        .filter(|l| l.contains(" dd "))
        .collect();
    assert_eq!(created.len(), 1, "created on one node only: {created:?}");
    assert_eq!(c.runs_on("web"), ["dom0"]);
    let cfg = c.sim().node("dom0").unwrap().files["/etc/xen/web.cfg"].clone();
    assert!(
        cfg.contains("disk = [ 'format=raw, vdev=xvda, access=rw, target=/OVS/running_pool/web/System.img' ]"),
        "{cfg}"
    );

    // Grown: truncate on one node, the guest told to grow its partition, never restarted.
    c.set_domain(&domain("dom0", "128MiB"));
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("truncate --no-create --size '>134217728'")
            || out.contains("truncate --no-create --size >134217728"),
        "{out}"
    );
    assert!(out.contains("the guest must grow its partition"), "{out}");
    assert!(!out.contains("xl shutdown"), "{out}");
    c.ok(&["apply", "--yes"]);
    assert_eq!(c.sim().image("dom0m", IMAGE).unwrap().0, 128 << 20);
    assert_eq!(c.run(&["plan"]).0, 0);

    // Moved: only `xl migrate`, no DRBD role changes at all.
    c.set_domain(&domain("dom0m", "128MiB"));
    c.clear_log();
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2);
    assert!(out.contains("live-migrate domain web to dom0m"), "{out}");
    assert!(
        !out.contains("primar"),
        "no role change for an image: {out}"
    );
    c.ok(&["apply", "--yes"]);
    assert_eq!(c.runs_on("web"), ["dom0m"]);
    let changes: Vec<String> = c
        .commands()
        .into_iter()
        .filter(|l| l.contains("drbdadm") && !l.contains(" sh-") && !l.contains("dump-xml"))
        .collect();
    assert_eq!(changes, Vec::<String>::new(), "drbdadm was not run");
    assert_eq!(c.run(&["plan"]).0, 0);

    // Shrinking is refused with the reason; nothing is planned for the image.
    c.set_domain(&domain("dom0m", "64MiB"));
    let (code, out, _) = c.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(out.contains("xenflux never shrinks an image"), "{out}");
    assert!(!out.contains("truncate"), "{out}");
    c.no_violations();
}

#[test]
fn an_existing_image_is_used_never_recreated() {
    let c = cluster();
    let sim = c.sim();
    sim.put_image("dom0m", IMAGE, 64 << 20).unwrap();
    sim.save(&c.state_dir().join("sim.json")).unwrap();
    c.set_domain(&domain("dom0", "64MiB"));
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2);
    assert!(!out.contains("create image"), "{out}");
    assert!(!out.contains(" dd "), "{out}");
    c.ok(&["apply", "--yes"]);
    assert_eq!(c.run(&["plan"]).0, 0);
    assert_eq!(c.sim().image("dom0", IMAGE), Some((64 << 20, true)));
    assert_eq!(c.runs_on("web"), ["dom0"]);
    // Even a dd run by hand over it (an apply racing an operator) fails rather than truncate.
    let sim = c.sim();
    let o = sim
        .run(
            "dom0",
            &xenflux::transport::Cmd::new(xenflux::drivers::image::create_sparse(IMAGE, 1)),
        )
        .unwrap();
    assert_eq!(o.status, Some(1));
    assert_eq!(
        o.stderr,
        format!("dd: failed to open '{IMAGE}': File exists\n")
    );
    assert_eq!(sim.image("dom0", IMAGE), Some((64 << 20, true)));
}

#[test]
fn an_image_domain_fails_over_to_the_survivor() {
    let c = cluster();
    c.set_domain(&domain("dom0", "64MiB"));
    c.converge();
    assert_eq!(c.runs_on("web"), ["dom0"]);
    c.ok(&["sim", "crash-node", "dom0"]);
    let (code, out, err) = c.run(&["failover", "dom0", "--confirm-fenced", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Domain web failed over to dom0m."), "{out}");
    assert!(c.runs_on("web").contains(&"dom0m".to_string()));
    assert_eq!(c.sim().image("dom0m", IMAGE).map(|i| i.0), Some(64 << 20));
    assert_eq!(c.sim().violations(), Vec::<String>::new());
}

#[test]
fn the_simulator_answers_for_an_image_disk_as_xen_4_17_does() {
    let c = cluster();
    let sim = c.sim();
    let cfg = "name = \"t\"\ntype = \"pv\"\nmemory = 128\nvcpus = 1\nkernel = \"/var/lib/xenflux-lab/vmlinuz\"\ndisk = [ 'format=raw, vdev=xvda, access=rw, target=/OVS/running_pool/t/System.img' ]\n";
    let run = |argv: Vec<String>, stdin: Option<&str>| {
        let mut cmd = xenflux::transport::Cmd::new(argv);
        if let Some(s) = stdin {
            cmd = cmd.with_stdin(s);
        }
        sim.run("dom0", &cmd).unwrap()
    };
    assert!(run(
        xenflux::drivers::files::install_stdin("/etc/xen/t.cfg"),
        Some(cfg)
    )
    .success());
    let o = run(xenflux::drivers::xl::create("/etc/xen/t.cfg"), None);
    assert_eq!(o.status, Some(3));
    let domid = o
        .stderr
        .split("initiate_domain_create: Domain ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("a domid")
        .to_string();
    let want = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/xl-4.17-create-missing-image.txt"),
    )
    .unwrap();
    assert_eq!(
        o.stderr.replace(&format!("Domain {domid}:"), "Domain 2:"),
        want,
        "the lab's words"
    );

    // Once the image is there: `xl list -l` shows the disk as the lab's Xen does.
    let mib = |n| xenflux::drivers::image::create_sparse("/OVS/running_pool/t/System.img", n);
    assert!(run(
        xenflux::drivers::files::mkdir_p("/OVS/running_pool/t"),
        None
    )
    .success());
    assert!(run(mib(32), None).success());
    let o = run(xenflux::drivers::xl::create("/etc/xen/t.cfg"), None);
    assert!(o.success(), "{o:?}");
    let listed: serde_json::Value =
        serde_json::from_str(&run(xenflux::drivers::xl::list_long(), None).stdout).unwrap();
    let t = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["config"]["c_info"]["name"] == "t")
        .expect("t listed");
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/xl-4.17-list-long-image-disk.json"),
    )
    .unwrap();
    let real: serde_json::Value =
        serde_json::from_str(&format!("{{{}}}", fixture.trim().trim_end_matches(','))).unwrap();
    assert_eq!(t["config"]["disks"], real["disks"]);
}

#[test]
fn no_move_to_a_node_whose_ocfs2_mount_failed() {
    let c = cluster();
    c.set_domain(&domain("dom0", "64MiB"));
    c.converge();
    // /OVS gone on dom0m, and mounting it there fails once.
    let sim = c.sim();
    let o = sim
        .run(
            "dom0m",
            &xenflux::transport::Cmd::new(["umount", "/OVS"].map(String::from)),
        )
        .unwrap();
    assert!(o.success(), "{o:?}");
    sim.save(&c.state_dir().join("sim.json")).unwrap();
    c.ok(&["sim", "fail-next", "mount -t ocfs2", "--count", "1"]);
    c.set_domain(&domain("dom0m", "64MiB"));
    let (code, out, err) = c.run(&["apply", "--yes"]);
    assert_eq!(code, 1, "the mount failed: {out}{err}");
    assert_eq!(
        c.runs_on("web"),
        ["dom0"],
        "not moved where its image is not: {out}"
    );
    assert!(out.contains("live-migrate domain web to dom0m"), "{out}");
    // The next apply mounts /OVS and moves it.
    c.ok(&["apply", "--yes"]);
    assert_eq!(c.runs_on("web"), ["dom0m"]);
    assert_eq!(c.run(&["plan"]).0, 0);
    c.no_violations();
}
