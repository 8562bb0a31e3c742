//! The simulator's answers byte for byte against the real lab's captures: a simulated copy of the
//! lab (two dom0s, DRBD 8.4 `dns` Primary/Secondary and `ovs` dual-primary with OCFS2 mounted on
//! both, the PV domain `dns`) built with the lab's own config files and commands, then asked what
//! the lab was asked (tests/fixtures/*, real-lab/*.txt). Only what is random on a real system
//! (UUIDs, I/O counters) is normalised.

mod simlab;

use std::path::PathBuf;

use xenflux::load::Source;
use xenflux::sim::{SimCluster, SimOptions};
use xenflux::transport::{Cmd, Output};
use xenflux::validate::validate;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const LAB_STATE: &str = r#"
apiVersion: xenflux/v1
kind: Node
metadata: {name: nodea}
spec: {address: 169.254.77.1, volumeGroup: XEN}
---
apiVersion: xenflux/v1
kind: Node
metadata: {name: nodeb}
spec: {address: 169.254.77.2, volumeGroup: XEN}
"#;

const DNS_RES: &str = "resource dns {
  device    /dev/drbd0;
  disk      /dev/XEN/dns;
  meta-disk /dev/XEN/meta[0];
  net  { protocol C; }
  disk { c-plan-ahead 0; resync-rate 4M; }
  on nodea { address 169.254.77.1:7788; }
  on nodeb { address 169.254.77.2:7788; }
}
";

const OVS_RES: &str = "resource ovs {
  device    /dev/drbd1;
  disk      /dev/XEN/ovs;
  meta-disk /dev/XEN/meta[1];
  startup { become-primary-on both; }
  net  { protocol C; allow-two-primaries yes; after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect; }
  disk { c-plan-ahead 0; resync-rate 400M; }
  on nodea { address 169.254.77.1:7789; }
  on nodeb { address 169.254.77.2:7789; }
}
";

const DNS_CFG: &str = r#"name = "dns"
type = "pv"
kernel = "/lab/vmlinuz"
ramdisk = "/lab/domu-stay-initrd.img"
extra = "console=hvc0 quiet"
memory = 192
vcpus = 1
disk = [ 'phy:/dev/drbd0,xvda,w,script=block-lab' ]
vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "restart"
"#;

const O2CB_DEFAULTS: &str = "O2CB_ENABLED=true\nO2CB_STACK=o2cb\nO2CB_BOOTCLUSTER=ovscluster\n";

struct Run<'a>(&'a SimCluster);

impl Run<'_> {
    fn cmd(&self, node: &str, line: &str, stdin: Option<&str>) -> Output {
        let mut cmd = Cmd::new(line.split(' '));
        if let Some(s) = stdin {
            cmd = cmd.with_stdin(s);
        }
        let o = self.0.run(node, &cmd).expect("reachable");
        assert!(o.success(), "{node}: {}", o.describe());
        o
    }
    fn ok(&self, node: &str, line: &str) -> Output {
        self.cmd(node, line, None)
    }
}

/// The lab, rebuilt in the simulator the way it was built for real.
fn lab() -> SimCluster {
    let sources = [Source {
        path: "lab.yaml".into(),
        text: LAB_STATE.into(),
    }];
    let v = validate(&sources, &Default::default()).expect("lab state validates");
    let opts = SimOptions {
        vg_size: 1_069_547_520,
        total_memory_mib: 2047,
        dom0_memory_mib: 1024,
        ..SimOptions::default()
    };
    let sim = SimCluster::fresh(&v.desired, &opts);
    let r = Run(&sim);
    let conf = fixture("ocfs2-cluster-conf-1.8.7-lab.conf");
    for n in ["nodea", "nodeb"] {
        for (path, text) in [
            ("/etc/drbd.d/dns.res", DNS_RES),
            ("/etc/drbd.d/ovs.res", OVS_RES),
            ("/etc/ocfs2/cluster.conf", conf.as_str()),
            ("/etc/default/o2cb", O2CB_DEFAULTS),
            ("/etc/xen/dns.cfg", DNS_CFG),
        ] {
            r.cmd(
                n,
                &format!("install -D -m 0644 /dev/stdin {path}"),
                Some(text),
            );
        }
        r.ok(n, "lvcreate -L 64M -n dns --addtag xenflux XEN");
        r.ok(n, "lvcreate -L 256M -n meta XEN");
        r.ok(n, "lvcreate -L 64M -n ovs --addtag xenflux XEN");
        for res in ["dns", "ovs"] {
            r.ok(n, &format!("drbdadm -- --force create-md {res}"));
            r.ok(n, &format!("drbdadm up {res}"));
        }
        r.ok(n, "ip link add xenbr0 type bridge stp_state 1");
        r.ok(n, "ip link set xenbr0 up");
    }
    r.ok("nodea", "drbdadm primary --force dns");
    r.ok("nodea", "drbdadm primary --force ovs");
    r.ok("nodeb", "drbdadm primary ovs");
    for n in ["nodea", "nodeb"] {
        r.ok(n, "/etc/init.d/o2cb start");
    }
    r.ok("nodea", "mkfs.ocfs2 -N 2 -L OVS -J size=4M /dev/drbd1");
    for n in ["nodea", "nodeb"] {
        r.ok(n, "mkdir -p /OVS");
        r.ok(n, "mount -t ocfs2 -o _netdev /dev/drbd1 /OVS");
    }
    r.ok("nodea", "xl create /etc/xen/dns.cfg");
    sim
}

/// `drbdsetup show` without the after-sb policies and the `disk { }` option blocks, which the
/// simulator does not keep.
fn modelled_options(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim();
        if t == "disk {" {
            skipping = true;
        } else if skipping {
            skipping = t != "}";
        } else if !t.starts_with("after-sb-") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Replaces every value of `key` in `key: "value"` with the fixture's.
fn with_uuid(text: &str, uuid: &str) -> String {
    text.lines()
        .map(|l| match l.find("\"uuid\": \"") {
            Some(i) => format!("{}\"uuid\": \"{uuid}\",", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// Zeroes the I/O counters of `/proc/drbd` (they count real I/O).
fn counters(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("ns:") {
                let oos = l.rsplit(' ').next().unwrap_or("");
                format!("    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f {oos}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lvm_reports_match_the_lab() {
    let sim = lab();
    let r = Run(&sim);
    let lvs = r.ok("nodea", "lvs --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size,lv_attr,lv_tags,lv_active");
    assert_eq!(lvs.stdout, fixture("lvs-2.03.16-lab.json"));
    let vgs = r.ok(
        "nodea",
        "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size",
    );
    assert_eq!(vgs.stdout, fixture("vgs-2.03.16-lab.json"));
}

#[test]
fn drbd_outputs_match_the_lab() {
    let sim = lab();
    let r = Run(&sim);
    assert_eq!(
        r.ok("nodea", "drbdadm dump-xml").stdout,
        fixture("drbdadm-dump-xml-9.22-84mode-lab.xml")
    );
    assert_eq!(
        r.ok("nodeb", "drbdadm dump-xml").stdout,
        fixture("drbdadm-dump-xml-9.22-84mode-lab.xml")
    );
    let proc = r.ok("nodea", "cat /proc/drbd").stdout;
    assert_eq!(
        counters(&proc),
        counters(&fixture("proc-drbd-8.4.11-connected-primary.txt"))
    );
    assert!(proc.ends_with('\n'));
    for (verb, a, b) in [
        ("role", "Primary/Secondary\n", "Secondary/Primary\n"),
        ("cstate", "Connected\n", "Connected\n"),
        ("dstate", "UpToDate/UpToDate\n", "UpToDate/UpToDate\n"),
    ] {
        assert_eq!(r.ok("nodea", &format!("drbdadm {verb} dns")).stdout, a);
        assert_eq!(r.ok("nodeb", &format!("drbdadm {verb} dns")).stdout, b);
    }
    assert_eq!(
        r.ok("nodea", "drbdadm status").stdout,
        fixture("drbdadm-status-9.22-on-8.4.11-connected.txt")
    );
    // `drbdsetup show` (captured on nodeb), less the options the simulator keeps no record of.
    assert_eq!(
        modelled_options(&r.ok("nodeb", "drbdsetup show").stdout),
        modelled_options(&fixture("drbdsetup-show-8.4.11-lab.txt"))
    );
    assert!(r
        .ok("nodeb", "drbdsetup show")
        .stdout
        .contains("\n        allow-two-primaries\tyes;\n"));
    // After `drbdadm disconnect dns` on nodea: StandAlone there (no protocol letter), WFConnection
    // on nodeb, as in real-lab/drbd-states.txt.
    r.ok("nodea", "drbdadm disconnect dns");
    assert_eq!(
        r.ok("nodea", "drbdadm status").stdout,
        fixture("drbdadm-status-9.22-on-8.4.11-standalone.txt")
    );
    let b = r.ok("nodeb", "drbdadm status").stdout;
    let want = fixture("drbdadm-status-9.22-on-8.4.11-connecting.txt");
    assert_eq!(
        b.split("\n\n").next(),
        want.split("\n\n").next(),
        "dns on nodeb: {b}"
    );
    let a = r.ok("nodea", "cat /proc/drbd").stdout;
    assert!(
        a.contains(" 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----\n"),
        "{a}"
    );
    let b = r.ok("nodeb", "cat /proc/drbd").stdout;
    assert!(
        b.contains(" 0: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----\n"),
        "{b}"
    );
    assert_eq!(
        counters(&b).lines().nth(3),
        counters(&fixture("proc-drbd-8.4.11-wfconnection.txt"))
            .lines()
            .nth(3)
    );
    let ss = r.ok("nodeb", "ss -Htln").stdout;
    assert!(
        ss.contains("169.254.77.2:7788 "),
        "8.4 listens while it waits: {ss}"
    );
}

#[test]
fn xen_outputs_match_the_lab() {
    let sim = lab();
    let r = Run(&sim);
    let long = r.ok("nodea", "xl list -l").stdout;
    let real = fixture("xl-4.17-list-long.json");
    assert_eq!(
        with_uuid(&long, "449b5617-23aa-4256-a42e-8a86c92be24e"),
        real
    );
    assert_eq!(
        r.ok("nodeb", "xl list -l").stdout,
        fixture("xl-4.17-list-long-dom0-only.json")
    );
    let list = r.ok("nodea", "xl list").stdout;
    let mut lines = list.lines();
    assert_eq!(
        lines.next(),
        Some("Name                                        ID   Mem VCPUs\tState\tTime(s)")
    );
    assert_eq!(
        lines.next(),
        Some("Domain-0                                     0  1024     1     r-----       0.0")
    );
    assert_eq!(
        lines.next(),
        Some("dns                                          1   192     1     -b----       0.0")
    );
    let info = r.ok("nodea", "xl info").stdout;
    assert!(
        info.contains("total_memory           : 2047\nfree_memory            : 831\n"),
        "{info}"
    );
}

#[test]
fn ocfs2_and_misc_outputs_match_the_lab() {
    let sim = lab();
    let r = Run(&sim);
    let d = r.ok("nodea", "mounted.ocfs2 -d").stdout;
    let uuid = d
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .expect("a uuid")
        .to_string();
    assert_eq!(
        d.replace(&uuid, "ABF1D053DFDF4EC88499A73753ACE4D5"),
        fixture("mounted-ocfs2-1.8.7-d-lab.txt")
    );
    assert_eq!(
        r.ok("nodeb", "mounted.ocfs2 -f").stdout,
        fixture("mounted-ocfs2-1.8.7-f-lab.txt")
    );
    assert_eq!(
        r.ok("nodea", "o2cb cluster-status").stdout,
        "Cluster 'ovscluster' is online\n"
    );
    assert_eq!(
        r.ok("nodea", "ss -Htln").stdout,
        fixture("ss-6.1.0-htln-lab.txt")
    );
    assert_eq!(
        r.ok("nodea", "cat /proc/mounts").stdout,
        fixture("proc-mounts-6.1-lab.txt")
    );
    assert_eq!(
        r.ok("nodea", "cat /etc/ocfs2/cluster.conf").stdout,
        fixture("ocfs2-cluster-conf-1.8.7-lab.conf")
    );
    let blkid = r.ok("nodea", "blkid -o export /dev/drbd1").stdout;
    let want = fixture("blkid-2.38.1-export-ocfs2.txt")
        .replace("/dev/loop1", "/dev/drbd1")
        .replace("/OVS", "OVS");
    let got_uuid = blkid
        .lines()
        .find_map(|l| l.strip_prefix("UUID="))
        .expect("uuid")
        .to_string();
    assert_eq!(
        blkid.replace(&got_uuid, "4f0e8533-f877-4f05-9f45-96d7645669e7"),
        want
    );
}

#[test]
fn a_fresh_mounted_ocfs2_scan_and_a_missing_bond_answer_like_the_real_tools() {
    let sim = lab();
    let r = Run(&sim);
    let none = r.ok("nodea", "mounted.ocfs2 -d /dev/XEN/dns").stdout;
    assert_eq!(none, fixture("mounted-ocfs2-1.8.7-d-none.txt"));
    let o = sim
        .run("nodea", &Cmd::new(["cat", "/proc/net/bonding/bond0"]))
        .expect("reachable");
    assert_eq!(o.status, Some(1));
    assert_eq!(
        o.stderr,
        "cat: /proc/net/bonding/bond0: No such file or directory\n"
    );
}
