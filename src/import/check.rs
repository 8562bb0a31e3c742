//! The promise of an import, checked before anything is written: the first plan of the state
//! against the same cluster. It may rewrite config files in xenflux's format and have DRBD
//! re-read them; anything else it would run (create, destroy, restart, re-initialise, re-wire)
//! is listed in IMPORT-NOTES.md and printed, so nobody applies it unread.

use crate::load::Source;
use crate::reconcile::{plan_for, snapshot};
use crate::transport::Transport;

use super::build::Imported;
use super::Note;

/// Action kinds a first plan may hold (the `action` names of `plan --format json`).
pub const HARMLESS: &[&str] = &["write-file", "adjust", "adopt-lv"];

/// Where IMPORT-NOTES.md lists the first plan's findings.
pub const FIRST_PLAN: &str = "First plan";

/// What the first plan would do beyond [`HARMLESS`], and what it blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstPlan {
    /// `node: description` of each action that is not harmless.
    pub disruptive: Vec<String>,
    /// `object: reason` of each blocked object.
    pub blocked: Vec<String>,
}

/// Plans `sources` against the nodes behind `t` (named as the state names them).
pub fn first_plan(sources: &[Source], t: &dyn Transport) -> Result<FirstPlan, String> {
    let snap = snapshot(sources, t).map_err(|e| e.to_string())?;
    let plan = plan_for(&snap, false).map_err(|e| e.to_string())?;
    let mut out = FirstPlan::default();
    for stage in &plan.stages {
        for a in &stage.actions {
            if !HARMLESS.contains(&a.kind()) {
                out.disruptive
                    .push(format!("{}: {}", a.node(), a.describe()));
            }
        }
    }
    out.blocked = plan
        .blocked
        .iter()
        .map(|b| format!("{}: {}", b.object, b.reason))
        .collect();
    Ok(out)
}

/// Adds the first plan's findings to the notes.
pub fn note_first_plan(i: &mut Imported, fp: &FirstPlan) {
    for d in &fp.disruptive {
        i.notes.push(Note {
            object: FIRST_PLAN.into(),
            text: format!("would run {d} — a difference the import could not express; read `xenflux plan` before applying"),
        });
    }
    for b in &fp.blocked {
        i.notes.push(Note {
            object: FIRST_PLAN.into(),
            text: format!("blocks {b}"),
        });
    }
    i.notes.sort();
    i.notes.dedup();
}
