//! The snapshots part of `xenflux status`: every snapshot LV xenflux made, on the node it is
//! on, how full its copy-on-write space is, whether it is invalid (full: its data is gone) and
//! what it is attached to; and the Snapshots of the desired state not made yet.

use std::fmt::Write;

use serde::Serialize;

use crate::model::{snapshot_lv, Desired};
use crate::observe::Observed;
use crate::plan::action::own_snapshot;

/// One snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotStatus {
    pub name: String,
    /// `valid`, `invalid` (its copy-on-write space filled up), `absent` (desired, not made
    /// yet) or `orphan` (made by xenflux, no longer in the state: it is removed by the plan).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The volume (origin LV) it is a snapshot of.
    pub volume: String,
    /// Copy-on-write space, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Percent of the copy-on-write space used, when LVM says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_percent: Option<f64>,
    /// `DOMAIN:VDEV` it is attached to.
    pub attached: Vec<String>,
}

/// Every snapshot of the desired state and every snapshot LV xenflux made on an observed node.
pub fn snapshots(d: &Desired, observed: &Observed) -> Vec<SnapshotStatus> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (node, st) in &observed.nodes {
        let (Some(lvm), Some(spec)) = (st.lvm.known(), d.nodes.get(node)) else {
            continue;
        };
        let prefix = format!("{}/", spec.volume_group);
        for (key, l) in &lvm.lvs {
            let Some(snap) = &l.snapshot else { continue };
            let name = key
                .strip_prefix(&prefix)
                .and_then(|lv| lv.strip_suffix(crate::model::snapshot::SNAPSHOT_LV_SUFFIX));
            let Some(name) = name else { continue };
            if !own_snapshot(l) {
                continue;
            }
            let attached = st
                .attached(&format!("/dev/{key}"))
                .into_iter()
                .map(|(dom, v)| format!("{dom}:{v}"))
                .collect();
            let wanted = d.snapshots.keys().any(|n| n.as_str() == name);
            seen.insert(name.to_string());
            out.push(SnapshotStatus {
                name: name.to_string(),
                state: match (snap.invalid, wanted) {
                    (true, _) => "invalid",
                    (false, true) => "valid",
                    (false, false) => "orphan",
                },
                node: Some(node.to_string()),
                volume: snap.origin.clone(),
                size: Some(l.size),
                used_percent: snap.used_hundredths.map(|h| f64::from(h) / 100.0),
                attached,
            });
        }
    }
    for (name, s) in &d.snapshots {
        if !seen.contains(name.as_str()) {
            out.push(SnapshotStatus {
                name: name.to_string(),
                state: "absent",
                node: None,
                volume: s.volume.to_string(),
                size: None,
                used_percent: None,
                attached: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.node.cmp(&b.node)));
    out
}

/// The `Snapshots:` section of the text report (nothing when there are none).
pub fn text(s: &mut String, list: &[SnapshotStatus]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nSnapshots:");
    for sn in list {
        let lv = snapshot_lv(&sn.name);
        let on = sn
            .node
            .as_deref()
            .map_or(String::new(), |n| format!(" on {n}"));
        let used = sn.used_percent.map_or(String::new(), |p| {
            format!(", {p:.2}% of its copy-on-write space used")
        });
        let attached = match sn.attached.as_slice() {
            [] => ", not attached".to_string(),
            list => format!(", attached to {}", list.join(", ")),
        };
        let what = match sn.state {
            "invalid" => format!(
                "INVALID{on} (its copy-on-write space filled up: its data is gone){attached}"
            ),
            "absent" => "not made yet".to_string(),
            "orphan" => format!("{lv}{on}, no longer in the state (to be removed){attached}"),
            _ => format!("{lv}{on}{used}{attached}"),
        };
        let _ = writeln!(s, "  {} (of {}): {what}", sn.name, sn.volume);
    }
}
