#![allow(clippy::disallowed_methods)]
//! Node loss from the command line, on the simulated cluster: `plan --assume-dead`, `failover
//! --confirm-fenced` after a plug is pulled, `failover` with a fence agent (`xenflux sim power
//! NODE off`) that works, fails or hangs, what `failover` refuses, `status`, and a returning
//! node that resyncs before it gets anything. The simulator's invariants (never a domain on
//! two nodes, never two Primaries of a single-primary resource, never a start on a node whose
//! peer is neither connected nor off) are checked after each scenario.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::scratch::{Scratch, BIN};

/// A copy of the example desired state in a scratch directory, with its own state dir.
struct Cluster {
    s: Scratch,
}

impl std::ops::Deref for Cluster {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.s
    }
}

impl Cluster {
    /// The example cluster, applied until it converges; `fence` (YAML) is added to dom0.
    fn new(fence: Option<&str>) -> Cluster {
        Cluster::with(|_| fence.map(str::to_string))
    }

    /// The example cluster, with the fence `fence` makes for it (it may name the cluster's
    /// own fence agent, [`Cluster::agent`]).
    fn with(fence: impl Fn(&Cluster) -> Option<String>) -> Cluster {
        let c = Cluster { s: Scratch::new() };
        if let Some(f) = fence(&c) {
            let nodes = c.state().join("nodes.yaml");
            let text = std::fs::read_to_string(&nodes).unwrap();
            let with = text.replacen(
                "  memory: 16GiB\n---",
                &format!("  memory: 16GiB\n  fence: {f}\n---"),
                1,
            );
            assert_ne!(text, with);
            std::fs::write(&nodes, with).unwrap();
        }
        c.converge();
        c
    }

    /// The fence agent argv for `node` (`sim power NODE ACTION`), as YAML flow items.
    fn agent(&self, node: &str, action: &str) -> String {
        format!(
            "{BIN}, --state, {}, --state-dir, {}, sim, power, {node}, '{action}'",
            self.state().display(),
            self.state_dir().display()
        )
    }

    fn domains_on(&self, node: &str) -> Vec<String> {
        self.sim().node(node).unwrap().domains.into_keys().collect()
    }

    fn record(&self, node: &str) -> Option<serde_json::Value> {
        let p = self.state_dir().join("ha").join(format!("{node}.json"));
        std::fs::read_to_string(p)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    /// The simulator's invariants held for everything xenflux did: violations recorded by the
    /// simulator's own perturbations (`after \`sim isolate-node\``: an isolated dual-primary
    /// volume diverges, whatever xenflux does) are left out.
    fn no_violations(&self) {
        let v: Vec<String> = self
            .sim()
            .violations()
            .into_iter()
            .filter(|v| !v.starts_with("after `sim "))
            .collect();
        assert_eq!(v, Vec::<String>::new());
    }
}

/// The simulated cluster's state without its command log (observing adds to that).
fn sim_json(c: &Cluster) -> serde_json::Value {
    let text = std::fs::read_to_string(c.state_dir().join("sim.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("log");
    v
}

fn ha_dir_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("ha")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn plan_assume_dead_shows_the_fence_and_the_failover_plan_and_changes_nothing() {
    let c = Cluster::new(Some(
        "{command: [/usr/sbin/fence-dom0, --off], timeout: 30s}",
    ));
    let before = sim_json(&c);
    let (code, out, err) = c.run(&["plan", "--assume-dead", "dom0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(
            "If dom0 were lost now, `xenflux failover dom0` would run its fence (on this machine, within 30s): \
             /usr/sbin/fence-dom0 --off"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "  dom0m: 512 MiB in domains now + 2560 MiB started by the failover (dns 512, mail 2048) = 3072 MiB, \
             16384 MiB declared"
        ),
        "{out}"
    );
    let promote = out.find("[dom0m] promote dns to Primary").expect(&out);
    let start = out.find("[dom0m] start domain dns").expect(&out);
    assert!(promote < start, "{out}");
    assert!(out.contains("[dom0m] start domain mail"), "{out}");
    assert!(!out.contains("[dom0] "), "nothing on the dead node: {out}");
    assert_eq!(sim_json(&c), before, "the simulated cluster is unchanged");
    assert!(ha_dir_empty(&c.state_dir()), "no record is written");

    let (code, out, _) = c.run(&["plan", "--assume-dead", "dom0m", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["assumeDead"], "dom0m");
    assert!(v["fence"].is_null(), "dom0m declares no fence: {v}");
    let starts: Vec<String> = v["plan"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap().clone())
        .filter(|a| a["action"] == "xl-create" && a["node"] == "dom0")
        .map(|a| a["domain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts, ["vpn"], "{out}");
    let (code, _, err) = c.run(&["plan", "--assume-dead", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown node `nosuch`"), "{err}");
}

#[test]
fn a_crashed_node_without_fence_waits_for_a_person_then_fails_over() {
    let c = Cluster::new(None);
    assert_eq!(c.domains_on("dom0"), ["dns", "mail"]);
    c.ok(&["sim", "crash-node", "dom0"]);
    let (code, out, _) = c.run(&["status"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("unreachable, not fenced; may still run: dns, mail"),
        "{out}"
    );
    assert!(
        out.contains("next step: no fence is declared for dom0: power it off by hand, then `xenflux failover dom0 --confirm-fenced`"),
        "{out}"
    );
    assert!(
        out.contains("dns: unknown (dom0 could not be observed)"),
        "never \"not running\" where nobody could look: {out}"
    );

    // Nothing starts on a guess.
    let (code, out, err) = c.run(&["apply", "--yes"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(c.domains_on("dom0m"), ["vpn"]);
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("Domain/dns: it may still be running on dom0, which could not be observed and is not fenced"),
        "{out}"
    );
    assert!(
        out.contains("no fence is declared for dom0: power it off by hand, then `xenflux failover dom0 --confirm-fenced`"),
        "{out}"
    );
    // `failover` without confirmation needs a fence.
    let (code, _, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 1);
    assert!(err.contains("dom0 has no fence declared"), "{err}");
    assert!(c.record("dom0").is_none());

    let (code, out, err) = c.run(&["failover", "dom0", "--confirm-fenced", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dom0 is fenced (by operator)"), "{out}");
    assert!(out.contains("Domain dns failed over to dom0m."), "{out}");
    let r = c.record("dom0").expect("a fence record");
    assert_eq!(r["by"], "operator");
    assert_eq!(c.domains_on("dom0m"), ["dns", "mail", "vpn"]);
    c.no_violations();

    // Running it again applies nothing new and keeps the record.
    let (code, out, err) = c.run(&["failover", "dom0", "--confirm-fenced", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already recorded as fenced"), "{out}");
    assert!(out.contains("Applied 0 action(s)."), "{out}");

    let (code, out, _) = c.run(&["status"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("dom0: fenced by operator at "), "{out}");
    assert!(
        out.contains("dns: running on dom0m (failed over to dom0m; failback manual)"),
        "{out}"
    );
    assert!(!out.contains("not running"), "{out}");
    let (_, json, _) = c.run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dom0 = &v["nodes"][0];
    assert_eq!(dom0["name"], "dom0");
    assert_eq!(dom0["ha"]["state"], "fenced", "{json}");
    assert_eq!(dom0["ha"]["by"], "operator", "{json}");
    assert_eq!(
        dom0["ha"]["fenced_at"].as_str().map(str::len),
        Some(20),
        "{json}"
    );
    assert_eq!(v["domains"][0]["failed_over_to"], "dom0m", "{json}");

    // Back (the plug was pulled: nothing was written there since): out of scheduling until
    // resynced, never promoted, runs nothing; then its record goes and, with manual failback,
    // the domains stay where they are.
    c.ok(&["sim", "power", "dom0", "on"]);
    let mut cleared = false;
    let mut log = String::new();
    for _ in 0..6 {
        let (_, out, err) = c.run(&["apply", "--yes"]);
        log.push_str(&out);
        log.push_str(&err);
        c.no_violations();
        let dom0 = c.sim().node("dom0").unwrap();
        assert!(
            dom0.domains.is_empty(),
            "nothing starts on the returning node"
        );
        if c.record("dom0").is_none() {
            cleared = true;
            break;
        }
        assert!(
            dom0.drbd
                .iter()
                .all(|(name, r)| name == "ovs" || r.role != xenflux::drivers::drbd::Role::Primary),
            "a returning node is not promoted before it resynced: {:?}",
            dom0.drbd
        );
    }
    assert!(cleared, "resynced: the record is cleared: {log}");
    let (code, out, err) = c.run(&["apply", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(c.domains_on("dom0m"), ["dns", "mail", "vpn"]);
    let (code, out, err) = c.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dom0: observed"), "{out}");

    // failback: dns goes home by live migration; mail stays.
    let out = c.ok(&["failback", "dns"]);
    assert!(
        out.contains("Domain dns is no longer kept on dom0m"),
        "{out}"
    );
    let placements = |c: &Cluster| {
        std::fs::read_to_string(c.state_dir().join("ha/placements.json")).unwrap_or_default()
    };
    assert!(
        placements(&c).contains("\"released\""),
        "{}",
        placements(&c)
    );
    let (_, moved, _) = c.run(&["apply", "--yes"]);
    let (_, settled, _) = c.run(&["apply", "--yes"]);
    assert_eq!(c.domains_on("dom0"), ["dns"]);
    assert_eq!(c.domains_on("dom0m"), ["mail", "vpn"]);
    assert!(
        format!("{moved}{settled}")
            .contains("Domain dns is back from dom0m (failed over there from dom0"),
        "{moved}{settled}"
    );
    // Its placement is forgotten once it is back; mail's is kept.
    assert!(!placements(&c).contains("\"dns\""), "{}", placements(&c));
    assert!(placements(&c).contains("\"mail\""), "{}", placements(&c));
    c.no_violations();
    let (code, _, err) = c.run(&["failback", "dns"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no failover placement"), "{err}");
}

#[test]
fn a_fence_that_fails_starts_nothing_and_says_what_a_person_does() {
    let c = Cluster::new(Some(
        "{command: [/bin/sh, -c, 'echo ipmi: session timed out >&2; exit 1'], timeout: 5s}",
    ));
    c.ok(&["sim", "isolate-node", "dom0"]);
    let (code, out, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the fence of dom0 is NOT confirmed"), "{err}");
    assert!(err.contains("exited 1: ipmi: session timed out"), "{err}");
    assert!(
        err.contains("power dom0 off by hand, then `xenflux failover dom0 --confirm-fenced`"),
        "{err}"
    );
    assert!(c.record("dom0").is_none(), "no record");
    assert_eq!(c.domains_on("dom0m"), ["vpn"], "nothing started");
    assert_eq!(c.domains_on("dom0"), ["dns", "mail"], "it runs on");
    c.no_violations();
}

#[test]
fn a_fence_that_hangs_is_killed_and_the_status_command_decides() {
    // Isolated, still running: the hanging fence is killed, the status says "on" (exit 3).
    let c = Cluster::with(|c| {
        Some(format!(
            "{{command: [sleep, '30'], status: [{}], timeout: 1s}}",
            c.agent("dom0", "status")
        ))
    });
    c.ok(&["sim", "isolate-node", "dom0"]);
    let started = Instant::now();
    let (code, out, err) = c.run(&["failover", "dom0", "--yes"]);
    assert!(started.elapsed() < Duration::from_secs(20), "bounded");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("`sleep 30` did not finish within 1 s and was killed"),
        "{err}"
    );
    assert!(err.contains("exited 3"), "{err}");
    assert!(c.record("dom0").is_none());
    assert_eq!(c.domains_on("dom0m"), ["vpn"], "nothing started");

    // Crashed (off): the hanging fence is killed, the status says off: confirmed.
    c.ok(&["sim", "crash-node", "dom0"]);
    let (code, out, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dom0 is fenced (by fence)"), "{out}");
    assert!(out.contains("the status command says dom0 is off"), "{out}");
    assert_eq!(c.record("dom0").unwrap()["by"], "fence");
    assert_eq!(c.domains_on("dom0m"), ["dns", "mail", "vpn"]);
    c.no_violations();
}

#[test]
fn failover_fences_an_isolated_node_whose_return_finds_a_split_brain() {
    let c = Cluster::with(|c| Some(format!("[{}]", c.agent("dom0", "off"))));

    // Refused while dom0 answers.
    let (code, _, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 1);
    assert!(err.contains("dom0 answers"), "{err}");

    c.ok(&["sim", "isolate-node", "dom0"]);
    // Without a terminal to ask on and without --yes: nothing runs, not even the fence.
    let (code, out, err) = c.run(&["failover", "dom0"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("pass --yes"), "{err}");
    assert!(c.sim().node("dom0").unwrap().powered, "no fence ran");
    assert!(c.record("dom0").is_none());
    let (code, out, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dom0 is fenced (by fence)"), "{out}");
    assert!(
        !c.sim().node("dom0").unwrap().powered,
        "the fence powered it off"
    );
    assert_eq!(c.domains_on("dom0m"), ["dns", "mail", "vpn"]);
    c.no_violations();

    let (code, out, _) = c.run(&["status"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("dom0: fenced by fence at "), "{out}");
    assert!(
        out.contains("dns: running on dom0m (failed over to dom0m; failback manual)"),
        "{out}"
    );

    // Back: dom0 wrote while it was cut off, dom0m since the failover: the data diverged.
    // The split brain is blocked as always; dom0 stays fenced, is never promoted, runs nothing.
    c.ok(&["sim", "heal", "dom0"]);
    c.ok(&["sim", "power", "dom0", "on"]);
    for _ in 0..3 {
        c.run(&["apply", "--yes"]);
        c.no_violations();
        assert!(c.sim().node("dom0").unwrap().domains.is_empty());
    }
    let (code, out, _) = c.run(&["plan"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Volume/dns: StandAlone on dom0: split brain"),
        "{out}"
    );
    assert!(c.record("dom0").is_some(), "not resynced: still fenced");
    let (_, out, _) = c.run(&["status"]);
    assert!(
        out.contains("dom0: returning (fenced by fence at "),
        "{out}"
    );
    let dom0 = c.sim().node("dom0").unwrap();
    assert!(
        dom0.drbd
            .values()
            .all(|r| r.role != xenflux::drivers::drbd::Role::Primary),
        "never promoted: {:?}",
        dom0.drbd
    );
}

#[test]
fn failover_does_nothing_when_the_peer_cannot_be_reached_either() {
    let c = Cluster::new(Some("[/bin/true]"));
    c.ok(&["sim", "fail-node", "dom0"]);
    c.ok(&["sim", "fail-node", "dom0m"]);
    let (code, _, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "its peer dom0m cannot be reached either: this machine may be the one cut off"
        ),
        "{err}"
    );
    assert!(c.record("dom0").is_none());
    // Unreachable from here but still Connected to its peer: not lost.
    c.ok(&["sim", "fail-node", "dom0m", "--up"]);
    let (code, _, err) = c.run(&["failover", "dom0", "--yes"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("DRBD on dom0m is still Connected to dom0"),
        "{err}"
    );
    assert!(c.record("dom0").is_none());
}

#[test]
fn a_corrupt_fence_record_stops_plan_apply_and_status_naming_the_file() {
    let c = Cluster::new(None);
    let dir = c.state_dir().join("ha");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dom0.json"), "{\"node\": \"dom0\", \"by\": ").unwrap();
    for args in [
        &["plan"][..],
        &["apply", "--yes"],
        &["status"],
        &["failover", "dom0", "--yes"],
    ] {
        let (code, out, err) = c.run(args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!(
                "{}: corrupt fence record",
                dir.join("dom0.json").display()
            )),
            "{args:?}: {err}"
        );
    }
    assert_eq!(c.domains_on("dom0"), ["dns", "mail"], "nothing changed");
}

/// What happens to a node between two looks, and what an operator runs.
#[derive(Clone, Debug)]
enum Step {
    Crash(&'static str),
    Isolate(&'static str),
    Heal(&'static str),
    PowerOn(&'static str),
    Failover(&'static str),
    /// `failover --confirm-fenced`, run only when the node really is off (a person who checked).
    Confirm(&'static str),
    Apply,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let node = prop_oneof![Just("dom0"), Just("dom0m")];
    prop_oneof![
        node.clone().prop_map(Step::Crash),
        node.clone().prop_map(Step::Isolate),
        node.clone().prop_map(Step::Heal),
        node.clone().prop_map(Step::PowerOn),
        node.clone().prop_map(Step::Failover),
        node.prop_map(Step::Confirm),
        Just(Step::Apply),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("XENFLUX_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(6),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Node loss at random points, with both nodes fenced by the simulator's power control:
    /// whatever happens, the simulator's invariants hold for everything xenflux did, and a node
    /// with a fence record runs nothing and is Primary nowhere.
    #[test]
    fn node_loss_at_random_points_keeps_the_invariants(steps in proptest::collection::vec(step(), 1..7)) {
        let c = Cluster::with(|c| Some(format!("[{}]", c.agent("dom0", "off"))));
        let nodes = c.state().join("nodes.yaml");
        let text = std::fs::read_to_string(&nodes).unwrap();
        let last = text.rfind("memory: 16GiB").unwrap();
        let with = format!(
            "{}memory: 16GiB\n  fence: [{}]{}",
            &text[..last],
            c.agent("dom0m", "off"),
            &text[last + "memory: 16GiB".len()..]
        );
        std::fs::write(&nodes, with).unwrap();
        for s in &steps {
            match s {
                Step::Crash(n) => { c.ok(&["sim", "crash-node", n]); }
                Step::Isolate(n) => { c.ok(&["sim", "isolate-node", n]); }
                Step::Heal(n) => { c.ok(&["sim", "heal", n]); }
                Step::PowerOn(n) => { c.ok(&["sim", "power", n, "on"]); }
                Step::Failover(n) => { c.run(&["failover", n, "--yes"]); }
                Step::Confirm(n) => {
                    if !c.sim().node(n).unwrap().powered {
                        c.run(&["failover", n, "--confirm-fenced", "--yes"]);
                    }
                }
                Step::Apply => { c.run(&["apply", "--yes"]); }
            }
            c.no_violations();
            for n in ["dom0", "dom0m"] {
                if c.record(n).is_some() {
                    let v = c.sim().node(n).unwrap();
                    proptest::prop_assert!(v.domains.is_empty(), "{n} is fenced and runs {:?} after {steps:?}", v.domains.keys());
                    proptest::prop_assert!(
                        v.drbd.values().all(|r| r.role != xenflux::drivers::drbd::Role::Primary),
                        "{n} is fenced and Primary after {steps:?}"
                    );
                }
            }
        }
    }
}
