//! `xenflux status`: what each node, volume and domain looks like and the drift from the
//! desired state, as one [`Status`] value that the text report and `--format json` both lay
//! out. Built from the observation and the plan that would correct it; it computes no plan.
//!
//! Unknown is not absent: a node part that could not be observed is reported `unknown` with
//! the reason, never as "not running", "down" or a connection state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::ha::{Facts, Health};
use crate::model::{Desired, DomainState, Name};
use crate::observe::{NodeState, Observed, Unknown};
use crate::plan::{Blocked, Plan};
use crate::target::TargetName;

/// The whole status (the JSON of `status --format json`).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    /// What was observed: absent only when the caller did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetName>,
    /// True when nothing drifts and nothing is blocked (exit status 0).
    pub in_sync: bool,
    pub nodes: Vec<NodeStatus>,
    pub volumes: Vec<VolumeStatus>,
    pub domains: Vec<DomainStatus>,
    /// Snapshots (`Snapshot` kind), desired or made by xenflux.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<super::snapshots::SnapshotStatus>,
    /// The drift in words.
    pub drift: Vec<String>,
    /// Actions the plan would run to correct it.
    pub actions: usize,
    pub blocked: Vec<Blocked>,
    pub warnings: Vec<String>,
}

/// One node: each part of its observation known or unknown (with why).
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub schedulable: bool,
    /// Node loss: healthy, unreachable, fenced or returning (DESIGN.md §8).
    pub ha: NodeHa,
    /// `lvm`, `drbd`, `xen`, `net`, `ocfs2`, `listening`, `files`.
    pub parts: BTreeMap<&'static str, PartStatus>,
}

/// A node's HA state.
#[derive(Clone, Debug, Serialize)]
pub struct NodeHa {
    /// `healthy`, `unreachable` (not observed, not fenced), `fenced` (off, recorded) or
    /// `returning` (fenced and answering again: out of scheduling until resynced).
    pub state: &'static str,
    /// Who confirmed it off (`fence` or `operator`), for fenced and returning nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced_at: Option<String>,
    /// Unreachable: the domains that may still run there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub may_run: Vec<String>,
    /// Unreachable: what a person does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// A part of a node's observation.
#[derive(Clone, Debug, Serialize)]
pub struct PartStatus {
    pub known: bool,
    /// Why it is unknown: the command, its exit status and stderr, or why the node was not
    /// reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A volume on each of its nodes.
#[derive(Clone, Debug, Serialize)]
pub struct VolumeStatus {
    pub name: String,
    pub nodes: Vec<VolumeOnNode>,
}

/// A volume on one node, as that node reports it.
#[derive(Clone, Debug, Serialize)]
pub struct VolumeOnNode {
    pub node: String,
    /// `up`, `down` (the node's DRBD was read and the resource is not up) or `unknown`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    /// The connection to its (first) peer, as this node sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_percent: Option<f64>,
    /// Why `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A domain: where it runs, where it should, and where nobody could look.
#[derive(Clone, Debug, Serialize)]
pub struct DomainStatus {
    pub name: String,
    /// `running` or `stopped`.
    pub desired: &'static str,
    /// The node it should run on.
    pub node: String,
    /// Nodes whose Xen was read and that run it.
    pub running_on: Vec<String>,
    /// Nodes whose Xen could not be read: it may run there.
    pub unknown_on: Vec<String>,
    /// Where it was failed over to and is kept while failback is manual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_over_to: Option<String>,
    /// With `protection`: the nodes whose Xen was read that hold its shadow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_on: Option<Vec<String>>,
    /// With `protection`: since when it has run without its shadow (`STATE_DIR/ha`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprotected_since: Option<String>,
}

/// The parts status reports, with their JSON names.
fn parts(st: &NodeState) -> BTreeMap<&'static str, PartStatus> {
    let part = |u: Option<&Unknown>| PartStatus {
        known: u.is_none(),
        reason: u.map(ToString::to_string),
    };
    [
        ("lvm", part(st.lvm.unknown())),
        ("drbd", part(st.drbd.unknown())),
        ("xen", part(st.xen.unknown())),
        ("net", part(st.net.unknown())),
        ("ocfs2", part(st.ocfs2.unknown())),
        ("listening", part(st.listening.unknown())),
        (
            "files",
            part(st.files.values().find_map(crate::observe::Part::unknown)),
        ),
    ]
    .into_iter()
    .collect()
}

/// The HA state of a node from its observation and the fence records.
fn node_ha(d: &Desired, observed: &Observed, ha: &Facts, name: &Name) -> NodeHa {
    let mut out = NodeHa {
        state: "healthy",
        by: None,
        fenced_at: None,
        may_run: Vec::new(),
        next_step: None,
    };
    let mut recorded = |state, r: &crate::ha::FenceRecord| {
        out.state = state;
        out.by = Some(r.by.to_string());
        out.fenced_at = Some(r.fenced_at.clone());
    };
    match crate::ha::health(ha, observed, name) {
        Health::Fenced(r) => recorded("fenced", r),
        Health::Returning(r) => recorded("returning", r),
        Health::Unreachable => {
            out.state = "unreachable";
            out.may_run = crate::plan::may_run_on(d, observed, name)
                .iter()
                .map(ToString::to_string)
                .collect();
            out.next_step = Some(crate::plan::next_step(d, observed, name));
        }
        Health::Healthy => {}
    }
    out
}

impl Status {
    /// The status of `observed` against `d`, with the drift the plan would correct.
    pub fn new(d: &Desired, observed: &Observed, plan: &Plan) -> Status {
        Status::with_ha(d, observed, plan, &Facts::default())
    }

    /// [`Status::new`] with what `STATE_DIR/ha/` records: fenced nodes (off: nothing runs
    /// there) and failed-over domains.
    pub fn with_ha(d: &Desired, observed: &Observed, plan: &Plan, ha: &Facts) -> Status {
        let manual = d.cluster.ha.failback == crate::model::Failback::Manual;
        let nodes: Vec<NodeStatus> = observed
            .nodes
            .iter()
            .map(|(name, st)| NodeStatus {
                name: name.to_string(),
                schedulable: d.nodes.get(name).is_none_or(|n| n.schedulable),
                ha: node_ha(d, observed, ha, name),
                parts: parts(st),
            })
            .collect();
        let volumes = d
            .volumes
            .iter()
            .map(|(vol, spec)| VolumeStatus {
                name: vol.to_string(),
                nodes: spec
                    .nodes
                    .iter()
                    .map(|n| volume_on(observed, vol, n))
                    .collect(),
            })
            .collect();
        let domains = d
            .domains
            .iter()
            .map(|(dom, spec)| {
                let mut running_on = Vec::new();
                let mut unknown_on = Vec::new();
                let mut shadow_on = Vec::new();
                for (n, st) in &observed.nodes {
                    if st
                        .xen
                        .known()
                        .is_some_and(|x| x.incoming.contains_key(dom.as_str()))
                    {
                        shadow_on.push(n.to_string());
                    }
                    match st.xen.known() {
                        Some(x) if x.domains.contains_key(dom.as_str()) => {
                            running_on.push(n.to_string())
                        }
                        Some(_) => {}
                        // A fenced node that does not answer is off: it runs nothing.
                        None if ha.fenced.contains_key(n) => {}
                        None => unknown_on.push(n.to_string()),
                    }
                }
                let failed_over_to = ha
                    .placements
                    .domains
                    .get(dom)
                    .filter(|p| manual && p.released.is_none())
                    .map(|p| p.node.to_string());
                let no_shadow = shadow_on.is_empty();
                DomainStatus {
                    name: dom.to_string(),
                    desired: match spec.state {
                        DomainState::Running => "running",
                        DomainState::Stopped => "stopped",
                    },
                    node: spec.node.to_string(),
                    running_on,
                    unknown_on,
                    failed_over_to,
                    shadow_on: spec.protection.as_ref().map(|_| shadow_on),
                    // The record is kept under the apply lock; what is seen now wins.
                    unprotected_since: spec
                        .protection
                        .as_ref()
                        .filter(|_| no_shadow)
                        .and_then(|_| ha.unprotected.domains.get(dom).cloned()),
                }
            })
            .collect::<Vec<_>>();
        let drift = drift_lines(d, &domains, observed, plan);
        Status {
            cluster: plan.cluster.clone(),
            target: plan.target.clone(),
            in_sync: drift.is_empty() && plan.is_empty() && plan.blocked.is_empty(),
            nodes,
            volumes,
            domains,
            snapshots: super::snapshots::snapshots(d, observed),
            drift,
            actions: plan.action_count(),
            blocked: plan.blocked.clone(),
            warnings: plan.warnings.clone(),
        }
    }

    /// The terminal report; its first line names the cluster and the target.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let target = self
            .target
            .as_ref()
            .map_or(String::new(), |t| format!(" — target: {t}"));
        let _ = writeln!(
            s,
            "cluster {}: {} node(s), {} volume(s), {} domain(s){target}\n",
            self.cluster,
            self.nodes.len(),
            self.volumes.len(),
            self.domains.len()
        );
        let _ = writeln!(s, "Nodes:");
        for n in &self.nodes {
            let sched = if n.schedulable {
                String::new()
            } else {
                ", unschedulable (draining)".to_string()
            };
            let at = format!(
                "by {} at {}",
                n.ha.by.as_deref().unwrap_or("?"),
                n.ha.fenced_at.as_deref().unwrap_or("?")
            );
            match n.ha.state {
                "fenced" => {
                    let _ = writeln!(s, "  {}: fenced {at} (powered off){sched}", n.name);
                    continue;
                }
                "returning" => {
                    let _ = writeln!(
                        s,
                        "  {}: returning (fenced {at}; out of scheduling until its DRBD resources are Connected and \
                         UpToDate on both sides){sched}",
                        n.name
                    );
                    continue;
                }
                _ => {}
            }
            let sched = match (n.ha.state, &n.ha.next_step) {
                ("unreachable", Some(next)) => {
                    let doms = match n.ha.may_run.as_slice() {
                        [] => String::new(),
                        list => format!("; may still run: {}", list.join(", ")),
                    };
                    format!("{sched}\n    unreachable, not fenced{doms}\n    next step: {next}")
                }
                _ => sched,
            };
            // Parts that failed for the same reason are named together.
            let mut why: Vec<(String, Vec<&str>)> = Vec::new();
            for (part, p) in &n.parts {
                if let Some(r) = &p.reason {
                    match why.iter_mut().find(|(x, _)| x == r) {
                        Some((_, names)) => names.push(part),
                        None => why.push((r.clone(), vec![part])),
                    }
                }
            }
            if why.is_empty() {
                let _ = writeln!(s, "  {}: observed{sched}", n.name);
            } else {
                let reasons: Vec<String> = why
                    .iter()
                    .map(|(r, names)| format!("{}: {r}", names.join(", ")))
                    .collect();
                let _ = writeln!(s, "  {}: unknown ({}){sched}", n.name, reasons.join("; "));
            }
        }
        let _ = writeln!(s, "\nVolumes:");
        for v in &self.volumes {
            let each: Vec<String> = v
                .nodes
                .iter()
                .map(|o| match (o.state, &o.role, &o.disk) {
                    ("up", Some(role), Some(disk)) => format!("{role} {disk} on {}", o.node),
                    ("down", _, _) => format!("down on {}", o.node),
                    _ => format!("unknown on {} (not observed)", o.node),
                })
                .collect();
            // The link is named only when every side was read: a state one side reports about
            // a node nobody could observe is not said of it.
            let link = match v.nodes.iter().all(|o| o.state != "unknown") {
                true => v
                    .nodes
                    .iter()
                    .find_map(|o| {
                        o.connection
                            .as_ref()
                            .map(|c| match (&o.replication, o.sync_percent) {
                                (Some(r), Some(pc)) => format!(", {c} {r} {pc:.1}%"),
                                _ => format!(", {c}"),
                            })
                    })
                    .unwrap_or_default(),
                false => ", connection unknown".to_string(),
            };
            let _ = writeln!(s, "  {}: {}{link}", v.name, each.join(", "));
        }
        let _ = writeln!(s, "\nDomains:");
        for dom in &self.domains {
            let want = match (dom.desired, &dom.failed_over_to) {
                ("running", Some(to)) => format!("failed over to {to}; failback manual"),
                ("running", None) => format!("should run on {}", dom.node),
                _ => "should be stopped".to_string(),
            };
            let unknown = dom.unknown_on.join(" and ");
            let now = match (dom.running_on.is_empty(), dom.unknown_on.is_empty()) {
                (true, true) => "not running".to_string(),
                (true, false) => format!("unknown ({unknown} could not be observed)"),
                (false, true) => format!("running on {}", dom.running_on.join(" and ")),
                (false, false) => format!(
                    "running on {} ({unknown} could not be observed)",
                    dom.running_on.join(" and ")
                ),
            };
            let guard = match (&dom.shadow_on, &dom.unprotected_since) {
                (Some(_), Some(at)) => format!(
                    "; unprotected since {}",
                    crate::ha::unprotected::since_words(at)
                ),
                (Some(on), None) if !on.is_empty() => {
                    format!("; protected by a shadow on {}", on.join(" and "))
                }
                _ => String::new(),
            };
            let _ = writeln!(s, "  {}: {now} ({want}{guard})", dom.name);
        }
        super::snapshots::text(&mut s, &self.snapshots);
        let _ = writeln!(s, "\nDrift:");
        if self.in_sync {
            let _ = writeln!(s, "  none: the cluster matches the desired state");
        }
        for l in &self.drift {
            let _ = writeln!(s, "  {l}");
        }
        if self.actions > 0 {
            let _ = writeln!(
                s,
                "  {} action(s) would correct it (xenflux plan shows them)",
                self.actions
            );
        }
        for b in &self.blocked {
            let _ = writeln!(s, "  blocked: {}: {}", b.object, b.reason);
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(s, "\nWarnings:");
            for w in &self.warnings {
                let _ = writeln!(s, "  {w}");
            }
        }
        s
    }
}

fn volume_on(observed: &Observed, vol: &Name, node: &Name) -> VolumeOnNode {
    let mut v = VolumeOnNode {
        node: node.to_string(),
        state: "unknown",
        role: None,
        disk: None,
        connection: None,
        replication: None,
        sync_percent: None,
        reason: None,
    };
    let Some(st) = observed.nodes.get(node) else {
        v.reason = Some("not observed".into());
        return v;
    };
    let drbd = match &st.drbd {
        crate::observe::Part::Known(drbd) => drbd,
        crate::observe::Part::Unknown(u) => {
            v.reason = Some(u.to_string());
            return v;
        }
    };
    match drbd
        .resources
        .get(vol.as_str())
        .and_then(|r| r.kernel.as_ref())
    {
        None => v.state = "down",
        Some(k) => {
            v.state = "up";
            v.role = Some(k.role.to_string());
            v.disk = Some(k.disk.to_string());
            if let Some(p) = k.peers.first() {
                v.connection = Some(p.connection.to_string());
                v.replication = Some(p.replication.to_string());
                v.sync_percent = p.sync_percent;
            }
        }
    }
    v
}

/// Drift in words: domains not where they should be, volumes whose roles are off, files that
/// differ. Nothing is said of what could not be observed (that is blocked, and said there).
fn drift_lines(
    d: &Desired,
    domains: &[DomainStatus],
    observed: &Observed,
    plan: &Plan,
) -> Vec<String> {
    let mut out = Vec::new();
    for (dom, (name, spec)) in domains.iter().zip(&d.domains) {
        let on = &dom.running_on;
        match spec.state {
            DomainState::Running if on.is_empty() && dom.unknown_on.is_empty() => {
                let roles: Vec<String> = spec
                    .disks
                    .iter()
                    .filter_map(|k| k.volume.as_ref())
                    .map(|vol| {
                        let states: Vec<String> = d
                            .volumes
                            .get(vol)
                            .map(|v| v.nodes.clone())
                            .unwrap_or_default()
                            .iter()
                            .map(|n| {
                                let o = volume_on(observed, vol, n);
                                o.role.unwrap_or_else(|| o.state.to_string())
                            })
                            .collect();
                        let uniq: BTreeSet<&String> = states.iter().collect();
                        if uniq.len() == 1 {
                            format!("{vol}: {} on both nodes", states[0])
                        } else {
                            format!("{vol}: {}", states.join("/"))
                        }
                    })
                    .collect();
                // A domain on image files only has no DRBD roles to tell.
                let roles: Vec<String> = roles.into_iter().chain([String::new()]).collect();
                out.push(format!(
                    "{}domain {name} should run on {}",
                    roles.join(", "),
                    spec.node
                ));
            }
            DomainState::Running
                if dom
                    .failed_over_to
                    .as_ref()
                    .is_some_and(|to| on.contains(to)) => {}
            DomainState::Running if !on.is_empty() && !on.contains(&dom.node) => {
                out.push(format!(
                    "domain {name} runs on {} but should run on {}",
                    on[0], spec.node
                ));
            }
            DomainState::Stopped if !on.is_empty() => {
                out.push(format!(
                    "domain {name} runs on {} but should be stopped",
                    on[0]
                ));
            }
            DomainState::Running | DomainState::Stopped => {}
        }
    }
    for f in &plan.files {
        out.push(format!(
            "{}:{} {}",
            f.node,
            f.path,
            if f.old.is_some() {
                "differs"
            } else {
                "is missing"
            }
        ));
    }
    out
}
