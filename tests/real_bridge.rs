#![allow(clippy::disallowed_methods)]
//! Bridges for real, inside a network namespace of this test (no traffic leaves it): built with
//! the drivers' `ip` argv run by `transport::Local` through `ip netns exec NS`, and read back by
//! `observe::observe_node` through the same prefix. The kernel's STP really runs: a port of the
//! STP bridge goes listening → learning → forwarding, one forward delay (4 s here) per step,
//! while a port of the bridge without STP forwards at once.

mod common;

use std::time::{Duration, Instant};

use common::{require_tool, NetNs};
use xenflux::drivers::net::{self, PortState};
use xenflux::observe::{observe_node, LinkState, NetState, Part, Probe};
use xenflux::transport::{Cmd, Local, Output, Transport};

/// Longest wait for the STP port to forward (2 × 4 s forward delay, with room for a slow VM).
const STP_WAIT: Duration = Duration::from_secs(40);
const POLL: Duration = Duration::from_millis(200);

fn ok(t: &Local, argv: Vec<String>) -> Output {
    let out = t
        .run_batch("node", &[Cmd::new(argv)])
        .expect("Local never fails as a transport")
        .pop()
        .expect("one output per command");
    assert!(
        out.success(),
        "{}\n--- stderr ---\n{}",
        out.describe(),
        out.stderr
    );
    out
}

fn observe(t: &Local) -> NetState {
    match observe_node(t, "node", &Probe::default()).net {
        Part::Known(n) => n,
        Part::Unknown(u) => panic!("net unknown: {u:?}"),
    }
}

fn link<'a>(n: &'a NetState, name: &str) -> &'a LinkState {
    n.links
        .get(name)
        .unwrap_or_else(|| panic!("{name} not observed: {:?}", n.links.keys()))
}

/// `ip link add A type veth peer name B` — scaffolding standing in for a NIC or a domain's vif;
/// xenflux itself never makes veths, so no driver builds this argv.
fn veth(a: &str, b: &str) -> Vec<String> {
    ["ip", "link", "add", a, "type", "veth", "peer", "name", b]
        .map(String::from)
        .to_vec()
}

#[test]
fn bridges_stp_port_states_and_ports_are_observed() {
    if !require_tool("ip") || !require_tool("bridge") {
        return;
    }
    let Some(ns) = NetNs::with_addresses("br", &[]) else {
        return;
    };
    let t = Local {
        prefix: ["ip", "netns", "exec", ns.name.as_str()]
            .map(String::from)
            .to_vec(),
        env: Vec::new(),
    };

    ok(&t, net::bridge_add("xenbr0", true, 400));
    ok(&t, net::bridge_add("xenbr1", false, 1500));
    ok(&t, veth("peth0", "nic0"));
    ok(&t, veth("vif1.0", "dom1eth0"));
    ok(&t, veth("peth1", "nic1"));
    ok(&t, net::link_set_master("peth0", "xenbr0"));
    ok(&t, net::link_set_master("vif1.0", "xenbr0"));
    ok(&t, net::link_set_master("peth1", "xenbr1"));
    ok(&t, net::addr_add("192.168.1.190/24", "xenbr0"));

    // Before any link is up: nothing forwards, whatever STP says.
    let n = observe(&t);
    for p in ["peth0", "vif1.0", "peth1"] {
        assert_eq!(link(&n, p).port_state, Some(PortState::Disabled), "{p}");
    }
    for l in [
        "nic0", "dom1eth0", "nic1", "peth0", "vif1.0", "peth1", "xenbr0", "xenbr1",
    ] {
        ok(&t, net::link_set_up(l));
    }
    let up = Instant::now();

    // Poll until a port of the STP bridge forwards; the other bridge's port forwards at once.
    let mut seen: Vec<PortState> = Vec::new();
    let mut plain_forwarding: Option<Duration> = None;
    let n = loop {
        let n = observe(&t);
        let elapsed = up.elapsed();
        let stp_port = link(&n, "peth0").port_state.clone().expect("a port state");
        if seen.last() != Some(&stp_port) {
            seen.push(stp_port.clone());
        }
        if plain_forwarding.is_none() && link(&n, "peth1").port_state == Some(PortState::Forwarding)
        {
            plain_forwarding = Some(elapsed);
        }
        if stp_port == PortState::Forwarding {
            break n;
        }
        assert!(
            elapsed < STP_WAIT,
            "peth0 not forwarding after {elapsed:?}; states seen: {seen:?}"
        );
        std::thread::sleep(POLL);
    };
    let stp_time = up.elapsed();
    assert_eq!(
        seen.first(),
        Some(&PortState::Listening),
        "STP starts listening: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| matches!(
            (&w[0], &w[1]),
            (PortState::Listening, PortState::Learning)
                | (PortState::Learning, PortState::Forwarding)
                | (PortState::Listening, PortState::Forwarding)
        )),
        "listening → learning → forwarding: {seen:?}"
    );
    // Two forward delays of 4 s (listening, then learning): never much sooner.
    assert!(
        stp_time >= Duration::from_secs(6),
        "forwarding after {stp_time:?}: the 4 s forward delay was not applied"
    );
    let plain = plain_forwarding.expect("peth1 forwarding while peth0 waited");
    eprintln!("peth0 (STP): {seen:?}, forwarding after {stp_time:?}; peth1: after {plain:?}");
    assert!(
        plain < Duration::from_secs(3),
        "without STP a port forwards at once, not after {plain:?}"
    );

    let br0 = link(&n, "xenbr0");
    assert_eq!(br0.kind.as_deref(), Some("bridge"));
    assert!(br0.up);
    assert_eq!((br0.stp, br0.forward_delay), (Some(true), Some(4)));
    assert_eq!(
        (br0.master.as_deref(), br0.port_state.as_ref()),
        (None, None)
    );
    let br1 = link(&n, "xenbr1");
    assert_eq!(br1.kind.as_deref(), Some("bridge"));
    assert_eq!((br1.stp, br1.forward_delay), (Some(false), Some(15)));
    for (port, bridge) in [
        ("peth0", "xenbr0"),
        ("vif1.0", "xenbr0"),
        ("peth1", "xenbr1"),
    ] {
        let l = link(&n, port);
        assert_eq!(l.master.as_deref(), Some(bridge), "{port}");
        assert_eq!(l.kind.as_deref(), Some("veth"), "{port}");
        assert!(l.up, "{port}");
        assert_eq!((l.stp, l.forward_delay), (None, None), "{port}");
        assert!(l.mac.as_ref().is_some_and(|m| m.len() == 17), "{l:?}");
    }
    for peer in ["nic0", "dom1eth0", "nic1"] {
        let l = link(&n, peer);
        assert_eq!((l.master.as_deref(), l.port_state.as_ref()), (None, None));
    }
    assert_eq!(link(&n, "vif1.0").port_state, Some(PortState::Forwarding));
    assert_eq!(link(&n, "peth1").port_state, Some(PortState::Forwarding));

    // The address went onto the bridge (observe does not read addresses: ip does).
    let addrs = ok(
        &t,
        ["ip", "-j", "addr", "show", "dev", "xenbr0"]
            .map(String::from)
            .to_vec(),
    );
    assert!(
        addrs
            .stdout
            .contains("\"local\":\"192.168.1.190\",\"prefixlen\":24"),
        "{}",
        addrs.stdout
    );

    // STP off.
    ok(&t, net::bridge_set_stp("xenbr0", false));
    let n = observe(&t);
    let br0 = link(&n, "xenbr0");
    assert_eq!((br0.stp, br0.forward_delay), (Some(false), Some(4)));
    assert_eq!(link(&n, "peth0").master.as_deref(), Some("xenbr0"));

    // A port detached: no master, no port state; the bridge keeps its other port.
    ok(&t, net::link_set_nomaster("peth0"));
    let n = observe(&t);
    let p = link(&n, "peth0");
    assert_eq!((p.master.as_deref(), p.port_state.as_ref()), (None, None));
    assert_eq!(link(&n, "vif1.0").master.as_deref(), Some("xenbr0"));

    // And a bridge deleted is gone, its port freed.
    ok(&t, net::link_del("xenbr1"));
    let n = observe(&t);
    assert!(!n.links.contains_key("xenbr1"), "{:?}", n.links.keys());
    assert_eq!(link(&n, "peth1").master, None);
    let bridges: Vec<&String> = n
        .links
        .iter()
        .filter(|(_, l)| l.kind.as_deref() == Some("bridge"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(bridges, ["xenbr0"]);
}
