//! What the controller knows about itself and the cluster, as `/status` shows it and `/metrics`
//! counts it: the last commit seen, the outcome of each pass (also appended to a history file per
//! commit), the state of every object of the desired state, the suspension. Pure data and its
//! renderings; nothing here runs a pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Desired;
use crate::observe::Observed;
use crate::plan::Plan;

/// How a pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
    /// Nothing to do: the cluster is as desired.
    InSync,
    /// Actions ran and the cluster is now as desired.
    Applied,
    /// Differences remain: detect mode, blocked items, or drift left after applying.
    Drift,
    /// Suspended: nothing was observed or changed.
    Suspended,
    /// The desired state at this commit is invalid: nothing was changed.
    Invalid,
    /// Fetching, observing, planning or applying failed.
    Failed,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::InSync => "in-sync",
            Result::Applied => "applied",
            Result::Drift => "drift",
            Result::Suspended => "suspended",
            Result::Invalid => "invalid",
            Result::Failed => "failed",
        }
    }
    pub const ALL: [Result; 6] = [
        Result::InSync,
        Result::Applied,
        Result::Drift,
        Result::Suspended,
        Result::Invalid,
        Result::Failed,
    ];
}

/// Where one object of the desired state stands, as `/status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// As desired: the plan has nothing for it.
    InSync,
    /// The plan has actions for it (pending).
    Drift,
    /// The planner will not act on it until something is resolved (the detail says what).
    Blocked,
    /// An action for it failed in the last apply (the detail says which).
    Failing,
}

impl Standing {
    /// The word `/status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::InSync => "in-sync",
            Standing::Drift => "drift",
            Standing::Blocked => "blocked",
            Standing::Failing => "failing",
        }
    }
}

/// The state of one object of the desired state (`Kind/name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectState {
    pub state: Standing,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Consecutive failed passes for this object (reset when it succeeds).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One pass, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassRecord {
    pub pass: u64,
    pub started: String,
    pub seconds: f64,
    pub commit: Option<String>,
    pub result: Result,
    /// Actions completed in this pass.
    pub applied: usize,
    /// Objects still differing from the desired state at the end of the pass.
    pub drift: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every object the pass failed for (`Kind/name`, or `Repository` / `Cluster/NAME` when
    /// fetching or reaching the cluster failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_objects: Vec<String>,
    /// Seconds until the controller tries again because of a failure: the earliest object's
    /// backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// A suspension, as written by `xenflux suspend`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub since: String,
    #[serde(default)]
    pub reason: String,
}

/// Everything `/status` returns.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub repository: String,
    pub branch: String,
    pub path: String,
    pub target: String,
    pub mode: Option<String>,
    pub cluster: Option<String>,
    /// The newest commit fetched.
    pub last_commit: Option<String>,
    pub reconciling: bool,
    pub suspended: Option<Suspension>,
    pub last: Option<PassRecord>,
    /// The last pass that ended without failure.
    pub last_success: Option<PassRecord>,
    pub objects: BTreeMap<String, ObjectState>,
    /// Every object with a backoff running, and its consecutive failed passes (objects of the
    /// desired state also show theirs under `objects`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u32>,
    pub drift: usize,
    /// A run a previous controller did not finish (found at start-up).
    pub interrupted: Option<String>,
    /// Each node as the node watch sees it (with `ha.enabled`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, super::nodewatch::NodeWatch>,
    /// This controller's role among the controllers of the cluster (`serve --lease`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leadership: Option<super::lease::Role>,
}

/// What the last observation of a pass counted, for `/metrics` and the notifications.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Census {
    /// Nodes whose DRBD and Xen parts were observed (the others did not answer, or not fully).
    pub answered: BTreeMap<String, bool>,
    /// DRBD resources by (node, connection to the peer, local disk state).
    pub drbd: BTreeMap<(String, String, String), u64>,
    /// Domains by (node, state): `running`, `stopping`, `kept` (crashed, kept by Xen), or
    /// `shadow` (a copy being received: a Remus shadow, or a live migration's target).
    pub domains: BTreeMap<(String, String), u64>,
    /// (resource, node) where the resource is StandAlone: a split brain or a manual
    /// disconnect, which the planner blocks until an operator decides.
    pub standalone: BTreeSet<(String, String)>,
}

/// The longest label value taken from what a node printed (a tool's unknown state word).
const MAX_OBSERVED_LABEL: usize = 64;

/// `s` cut to [`MAX_OBSERVED_LABEL`] characters.
fn bounded(s: &str) -> String {
    s.chars().take(MAX_OBSERVED_LABEL).collect()
}

impl Census {
    /// Counts what `observed` shows.
    pub fn of(observed: &Observed) -> Census {
        let mut c = Census::default();
        for (node, st) in &observed.nodes {
            let node = node.to_string();
            c.answered
                .insert(node.clone(), st.drbd.is_known() && st.xen.is_known());
            if let Some(drbd) = st.drbd.known() {
                for (res, r) in &drbd.resources {
                    let Some(k) = &r.kernel else { continue };
                    // As the planner sees it: a peer connection StandAlone blocks the volume.
                    let standalone = k
                        .peers
                        .iter()
                        .any(|p| p.connection == crate::drivers::drbd::ConnectionState::StandAlone);
                    if standalone {
                        c.standalone.insert((bounded(res), node.clone()));
                    }
                    // The connection to the first peer (`none` without one).
                    let conn = k.peers.first().map_or("none", |p| p.connection.as_str());
                    *c.drbd
                        .entry((node.clone(), bounded(conn), bounded(k.disk.as_str())))
                        .or_default() += 1;
                }
            }
            if let Some(xen) = st.xen.known() {
                for d in xen.domains.values() {
                    let state = if d.stopping { "stopping" } else { "running" };
                    *c.domains
                        .entry((node.clone(), state.to_string()))
                        .or_default() += 1;
                }
                if !xen.kept.is_empty() {
                    *c.domains.entry((node.clone(), "kept".into())).or_default() +=
                        xen.kept.len() as u64;
                }
                if !xen.incoming.is_empty() {
                    *c.domains
                        .entry((node.clone(), "shadow".into()))
                        .or_default() += xen.incoming.len() as u64;
                }
            }
        }
        c
    }
}

/// The version and the commit xenflux was built from (`XENFLUX_COMMIT` at build time).
pub fn build_commit() -> &'static str {
    option_env!("XENFLUX_COMMIT").unwrap_or("unknown")
}

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub passes: BTreeMap<Result, u64>,
    pub errors: u64,
    pub seconds_sum: f64,
    pub last_seconds: f64,
    pub last_end_unix: u64,
    /// When the last pass that did not fail ended (Unix time; 0: none yet).
    pub last_success_unix: u64,
    pub actions_applied: u64,
    pub triggers: BTreeMap<&'static str, u64>,
    /// Automatic failovers, by result (`failed_over`, `refused`, `not_confirmed`, `error`).
    pub failovers: BTreeMap<&'static str, u64>,
    /// Seconds from a node declared dead to its domains started elsewhere, last failover.
    pub failover_last_seconds: f64,
    /// Failed-over domains found back on another node (failback done).
    pub failbacks: u64,
    /// What the last observation counted.
    pub census: Census,
    /// Notifications by (provider, result: `sent`, `failed`, `coalesced`).
    pub notifications: BTreeMap<(String, &'static str), u64>,
    /// Notifications dropped because a provider's queue was full.
    pub notifications_dropped: u64,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self, status: &Status) -> String {
        let mut s = String::new();
        family(
            &mut s,
            "xenflux_build_info",
            "gauge",
            "The xenflux version and the commit it was built from.",
            &[(
                format!(
                    "{{version=\"{}\",commit=\"{}\"}}",
                    label(env!("CARGO_PKG_VERSION")),
                    label(build_commit())
                ),
                "1".into(),
            )],
        );
        let results: Vec<(String, String)> = Result::ALL
            .iter()
            .map(|r| {
                let n = self.passes.get(r).copied().unwrap_or(0);
                (format!("{{result=\"{}\"}}", r.as_str()), n.to_string())
            })
            .collect();
        family(
            &mut s,
            "xenflux_reconcile_total",
            "counter",
            "Reconcile passes, by result.",
            &results,
        );
        let one = |v: String| vec![(String::new(), v)];
        family(
            &mut s,
            "xenflux_reconcile_errors_total",
            "counter",
            "Reconcile passes that failed or met an invalid desired state.",
            &one(self.errors.to_string()),
        );
        let count: u64 = self.passes.values().sum();
        family(
            &mut s,
            "xenflux_reconcile_duration_seconds",
            "summary",
            "Time spent in reconcile passes.",
            &[
                ("_sum".to_string(), format!("{:.3}", self.seconds_sum)),
                ("_count".to_string(), count.to_string()),
            ],
        );
        family(
            &mut s,
            "xenflux_reconcile_last_duration_seconds",
            "gauge",
            "Duration of the last reconcile pass.",
            &one(format!("{:.3}", self.last_seconds)),
        );
        family(
            &mut s,
            "xenflux_reconcile_last_end_timestamp_seconds",
            "gauge",
            "When the last reconcile pass ended (Unix time).",
            &one(self.last_end_unix.to_string()),
        );
        family(
            &mut s,
            "xenflux_reconcile_last_success_timestamp_seconds",
            "gauge",
            "When the last reconcile pass that did not fail ended (Unix time; 0: none yet).",
            &one(self.last_success_unix.to_string()),
        );
        family(
            &mut s,
            "xenflux_actions_applied_total",
            "counter",
            "Actions completed on the cluster.",
            &one(self.actions_applied.to_string()),
        );
        family(
            &mut s,
            "xenflux_drift_objects",
            "gauge",
            "Objects differing from the desired state after the last pass.",
            &one(status.drift.to_string()),
        );
        let failing: Vec<(String, String)> = status
            .failures
            .iter()
            .map(|(o, n)| (format!("{{object=\"{}\"}}", label(o)), n.to_string()))
            .collect();
        family(
            &mut s,
            "xenflux_object_failures",
            "gauge",
            "Consecutive failed passes of each object the controller backs off for.",
            &failing,
        );
        self.render_objects(&mut s, status);
        self.render_cluster(&mut s, status);
        let failovers: Vec<(String, String)> = ["failed_over", "refused", "not_confirmed", "error"]
            .iter()
            .map(|r| {
                let n = self.failovers.get(r).copied().unwrap_or(0);
                (format!("{{result=\"{r}\"}}"), n.to_string())
            })
            .collect();
        family(
            &mut s,
            "xenflux_failovers_total",
            "counter",
            "Automatic failovers of nodes declared dead, by result.",
            &failovers,
        );
        family(
            &mut s,
            "xenflux_failover_last_seconds",
            "gauge",
            "Seconds from a node declared dead to its domains started elsewhere, last failover.",
            &one(format!("{:.3}", self.failover_last_seconds)),
        );
        family(
            &mut s,
            "xenflux_failbacks_total",
            "counter",
            "Failed-over domains found back on another node than the one they were failed over to.",
            &one(self.failbacks.to_string()),
        );
        family(
            &mut s,
            "xenflux_suspended",
            "gauge",
            "1 while reconciling is suspended.",
            &one(u8::from(status.suspended.is_some()).to_string()),
        );
        let triggers: Vec<(String, String)> = [
            "startup",
            "push",
            "timer",
            "webhook",
            "manual",
            "retry",
            "node-lost",
            "node-back",
        ]
        .iter()
        .map(|reason| {
            let n = self.triggers.get(reason).copied().unwrap_or(0);
            (format!("{{reason=\"{reason}\"}}"), n.to_string())
        })
        .collect();
        family(
            &mut s,
            "xenflux_triggers_total",
            "counter",
            "Triggers received, by reason.",
            &triggers,
        );
        self.render_notifications(&mut s);
        s
    }

    /// Each object of the desired state: one sample per state, 1 for the one it is in.
    fn render_objects(&self, s: &mut String, status: &Status) {
        const STATES: [Standing; 4] = [
            Standing::InSync,
            Standing::Drift,
            Standing::Blocked,
            Standing::Failing,
        ];
        let samples: Vec<(String, String)> = status
            .objects
            .iter()
            .flat_map(|(o, st)| {
                let (kind, name) = o.split_once('/').unwrap_or((o.as_str(), ""));
                STATES.iter().map(move |state| {
                    (
                        format!(
                            "{{kind=\"{}\",name=\"{}\",state=\"{}\"}}",
                            label(kind),
                            label(name),
                            state.as_str()
                        ),
                        u8::from(st.state == *state).to_string(),
                    )
                })
            })
            .collect();
        family(
            s,
            "xenflux_object_state",
            "gauge",
            "Where each object of the desired state stands after the last pass (1 for its state).",
            &samples,
        );
    }

    /// Nodes, DRBD resources and domains as the last observation (and the node watch) saw them.
    fn render_cluster(&self, s: &mut String, status: &Status) {
        let c = &self.census;
        // The node watch's probes when it runs (ha.enabled), else the last pass's observation.
        let mut up: BTreeMap<&str, bool> =
            c.answered.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        for (n, w) in &status.nodes {
            up.insert(n.as_str(), w.standing == "healthy");
        }
        let up: Vec<(String, String)> = up
            .iter()
            .map(|(n, a)| {
                (
                    format!("{{node=\"{}\"}}", label(n)),
                    u8::from(*a).to_string(),
                )
            })
            .collect();
        family(
            s,
            "xenflux_node_up",
            "gauge",
            "1 while the node answers: the controller's probes with ha.enabled, else the last pass's observation.",
            &up,
        );
        let drbd: Vec<(String, String)> = c
            .drbd
            .iter()
            .map(|((node, conn, disk), n)| {
                (
                    format!(
                        "{{node=\"{}\",connection=\"{}\",disk=\"{}\"}}",
                        label(node),
                        label(conn),
                        label(disk)
                    ),
                    n.to_string(),
                )
            })
            .collect();
        family(
            s,
            "xenflux_drbd_resources",
            "gauge",
            "DRBD resources up on each node, by connection to the peer and local disk state (last observation).",
            &drbd,
        );
        family(
            s,
            "xenflux_drbd_split_brain",
            "gauge",
            "DRBD resources StandAlone on a node (split brain or a manual disconnect; blocked until an operator decides).",
            &[(String::new(), c.standalone.len().to_string())],
        );
        let domains: Vec<(String, String)> = c
            .domains
            .iter()
            .map(|((node, state), n)| {
                (
                    format!("{{node=\"{}\",state=\"{}\"}}", label(node), label(state)),
                    n.to_string(),
                )
            })
            .collect();
        family(
            s,
            "xenflux_domains",
            "gauge",
            "Xen domains on each node, by state (running, stopping, kept, shadow: a Remus shadow or a migration's target), last observation.",
            &domains,
        );
    }

    fn render_notifications(&self, s: &mut String) {
        let sent: Vec<(String, String)> = self
            .notifications
            .iter()
            .map(|((p, r), n)| {
                (
                    format!("{{provider=\"{}\",result=\"{r}\"}}", label(p)),
                    n.to_string(),
                )
            })
            .collect();
        family(
            s,
            "xenflux_notifications_sent_total",
            "counter",
            "Notifications handed to each provider, by result (sent, failed after its retries, coalesced into a summary).",
            &sent,
        );
        family(
            s,
            "xenflux_notifications_dropped_total",
            "counter",
            "Notifications dropped, oldest first, because a provider's queue was full.",
            &[(String::new(), self.notifications_dropped.to_string())],
        );
    }
}

/// A Prometheus label value with its backslashes, quotes and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its HELP and TYPE lines, then a sample per (name suffix or labels, value).
fn family(s: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(s, "{name}{suffix} {value}");
    }
}

/// Every object of the desired state, in sync unless the plan has work or blocks for it.
pub fn objects(d: &Desired, plan: &Plan) -> BTreeMap<String, ObjectState> {
    let in_sync = || ObjectState {
        state: Standing::InSync,
        pending: Vec::new(),
        detail: None,
        failures: 0,
    };
    let mut out: BTreeMap<String, ObjectState> = BTreeMap::new();
    let names = d
        .nodes
        .keys()
        .map(|n| format!("Node/{n}"))
        .chain(d.volumes.keys().map(|n| format!("Volume/{n}")))
        .chain(d.domains.keys().map(|n| format!("Domain/{n}")))
        .chain(d.bonds.keys().map(|n| format!("Bond/{n}")))
        .chain(d.bridges.keys().map(|n| format!("Bridge/{n}")))
        .chain(d.ocfs2.keys().map(|n| format!("Ocfs2Cluster/{n}")))
        .chain(d.snapshots.keys().map(|n| format!("Snapshot/{n}")));
    for n in names {
        out.insert(n, in_sync());
    }
    for a in plan.stages.iter().flat_map(|s| &s.actions) {
        let o = out
            .entry(a.object(d, &plan.allocation))
            .or_insert_with(in_sync);
        o.state = Standing::Drift;
        o.pending.push(format!("{}: {}", a.node(), a.describe()));
    }
    for b in &plan.blocked {
        let o = out.entry(b.object.clone()).or_insert_with(in_sync);
        o.state = Standing::Blocked;
        o.detail = Some(b.reason.clone());
    }
    out
}

/// The history file: one JSON line per pass.
pub fn history_path(dir: &Path) -> PathBuf {
    dir.join("history.jsonl")
}

/// Appends a pass to the history (best effort: a full disk must not stop reconciling).
pub fn append_history(dir: &Path, rec: &PassRecord) {
    use std::io::Write;
    if let Ok(line) = serde_json::to_string(rec) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(history_path(dir))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The suspension file in the state directory.
pub fn suspension_path(state_dir: &Path) -> PathBuf {
    state_dir.join("suspended")
}

/// The suspension in force, if any.
pub fn read_suspension(state_dir: &Path) -> Option<Suspension> {
    let text = crate::fsutil::read_small(&suspension_path(state_dir), 64 << 10)
        .ok()
        .flatten()?;
    Some(serde_json::from_str(&text).unwrap_or(Suspension {
        since: String::new(),
        reason: text.trim().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standings_serialize_to_the_words_status_shows() {
        for st in [
            Standing::InSync,
            Standing::Drift,
            Standing::Blocked,
            Standing::Failing,
        ] {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<Standing>(&json).unwrap(), st);
        }
    }

    /// Every sample line is `name{labels} value` with each label value closed on its line.
    fn assert_exposition(text: &str) {
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let (head, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name_end = head.find('{').unwrap_or(head.len());
            assert!(
                head[..name_end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            if name_end < head.len() {
                assert!(head.ends_with('}'), "{line}");
                // Quotes inside values are escaped: unescaped ones pair up.
                let unescaped = head
                    .replace("\\\\", "")
                    .replace("\\\"", "")
                    .matches('"')
                    .count();
                assert_eq!(unescaped % 2, 0, "{line}");
            }
        }
    }

    #[test]
    fn hostile_observed_words_do_not_break_the_exposition() {
        let mut m = Metrics::default();
        let evil = "Up\"ToDate\\\n} 1\nxenflux_fake 9";
        m.census
            .drbd
            .insert(("dom0".into(), evil.into(), bounded(&evil.repeat(40))), 2);
        m.census.domains.insert(("dom0".into(), evil.into()), 1);
        m.census.answered.insert("dom0".into(), true);
        m.notifications.insert((evil.into(), "sent"), 3);
        let mut status = Status::default();
        status.objects.insert(
            format!("Volume/{evil}"),
            ObjectState {
                state: Standing::Blocked,
                pending: vec![],
                detail: None,
                failures: 0,
            },
        );
        let text = m.render(&status);
        assert_exposition(&text);
        assert!(
            !text.lines().any(|l| l.starts_with("xenflux_fake")),
            "{text}"
        );
        assert!(text.contains("xenflux_build_info{version=\""), "{text}");
        assert!(
            text.contains("xenflux_object_state{kind=\"Volume\""),
            "{text}"
        );
        assert!(text.contains(",state=\"blocked\"} 1"), "{text}");
        assert!(text.contains("xenflux_node_up{node=\"dom0\"} 1"), "{text}");
        assert!(bounded(&evil.repeat(40)).chars().count() <= MAX_OBSERVED_LABEL);
    }
}

#[cfg(test)]
mod shadow_tests {
    use super::*;
    use crate::observe::{Part, XenDomain, XenState};

    #[test]
    fn remus_shadows_are_counted_apart_from_running_domains() {
        let mut state = crate::observe::interpret(&Default::default(), &[]);
        let dom = XenDomain {
            domid: Some(4),
            memory_mib: Some(128),
            max_memory_mib: None,
            vcpus: Some(0),
            max_vcpus: None,
            disks: Vec::new(),
            nics: Vec::new(),
            stopping: false,
        };
        state.xen = Part::Known(XenState {
            incoming: [("dns".to_string(), dom)].into(),
            ..Default::default()
        });
        let mut o = Observed::default();
        o.nodes.insert("nodeb".parse().unwrap(), state);
        let c = Census::of(&o);
        assert_eq!(c.domains.get(&("nodeb".into(), "shadow".into())), Some(&1));
        assert_eq!(c.domains.get(&("nodeb".into(), "running".into())), None);
    }
}
