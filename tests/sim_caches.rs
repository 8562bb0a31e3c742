//! What the simulator keeps between commands — `drbdadm`'s parsed configuration, the
//! invariants found broken — follows every change: a stale copy would fail these.

mod simlab;

use xenflux::drivers::drbd as drbdcmd;

use simlab::{argv, Lab};

#[test]
fn drbdadm_reads_a_res_file_again_once_it_changed_or_went() {
    let lab = Lab::new("cluster-state");
    lab.install_all();
    let port = lab.port("dns");
    let moved = port + 1000;
    let dump = |lab: &Lab| lab.ok("dom0", drbdcmd::dump_xml(None)).stdout;
    let before = dump(&lab);
    let has = |xml: &str, port: u16| xml.contains(&format!("port=\"{port}\""));
    assert!(has(&before, port), "{before}");
    assert!(!has(&before, moved), "{before}");
    let (path, text) = lab
        .files("dom0")
        .into_iter()
        .find(|(p, t)| p.starts_with("/etc/drbd.d/") && t.contains("resource dns "))
        .expect("dns's resource file");
    lab.install(
        "dom0",
        &path,
        &text.replace(&format!(":{port}"), &format!(":{moved}")),
    );
    let after = dump(&lab);
    assert!(has(&after, moved), "{after}");
    assert!(!has(&after, port), "{after}");
    lab.ok("dom0", argv(&["rm", "-f", &path]));
    let gone = dump(&lab);
    assert!(!has(&gone, moved), "{gone}");
    lab.fails("dom0", drbdcmd::up("dns"), 1);
}

#[test]
fn a_broken_rule_mended_and_broken_again_is_recorded_again() {
    let lab = Lab::new("cluster-state");
    lab.dns_primary_on_dom0();
    lab.ok("dom0", drbdcmd::disconnect("dns"));
    let two = |lab: &Lab| {
        lab.sim
            .violations()
            .iter()
            .filter(|v| v.contains("two Primaries without allow-two-primaries: dns"))
            .count()
    };
    lab.ok("dom0m", drbdcmd::primary("dns"));
    assert_eq!(two(&lab), 1);
    lab.ok("dom0m", drbdcmd::secondary("dns"));
    assert!(
        lab.sim.invariants().is_empty(),
        "{:?}",
        lab.sim.invariants()
    );
    lab.ok("dom0m", drbdcmd::primary("dns"));
    assert_eq!(two(&lab), 2, "{:?}", lab.sim.violations());
}
