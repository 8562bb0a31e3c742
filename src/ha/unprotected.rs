//! Since when each protected domain (a Domain with `protection`) has been running without its
//! shadow: `STATE_DIR/ha/unprotected.json`, kept under the apply lock before each plan
//! ([`update`]), so that plan and status say "dns: unprotected since 12:04 UTC, waiting for
//! dom0" — the planner itself reads no clock. A domain is unprotected from the first
//! observation that finds it running with no shadow on any node until one that finds its shadow
//! again; one stopped or no longer protected is forgotten. Written atomically, read with a size
//! bound and checked like the other records of `STATE_DIR/ha/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{Desired, DomainState, Name};
use crate::observe::Observed;

use super::record::{self, RecordError};

/// `STATE_DIR/ha/unprotected.json`: domain → since (`2026-12-07T12:04:00Z`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unprotected {
    pub domains: BTreeMap<Name, String>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    record::dir(state_dir).join("unprotected.json")
}

pub fn read(state_dir: &Path) -> Result<Unprotected, RecordError> {
    let path = path(state_dir);
    let Some(text) = record::read_bounded(&path)? else {
        return Ok(Unprotected::default());
    };
    let corrupt = |problem: String| RecordError {
        path: path.clone(),
        problem: format!("corrupt record of unprotected domains ({problem}); fix or remove it"),
    };
    let u: Unprotected = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if u.domains.len() > record::MAX_PLACEMENTS {
        return Err(corrupt(format!(
            "more than {} domains",
            record::MAX_PLACEMENTS
        )));
    }
    if let Some((d, at)) = u.domains.iter().find(|(_, at)| !record::is_timestamp(at)) {
        return Err(corrupt(format!(
            "domain {d}: `{}` is not a UTC time",
            at.escape_debug()
        )));
    }
    Ok(u)
}

fn write(state_dir: &Path, u: &Unprotected) -> Result<(), RecordError> {
    let path = path(state_dir);
    if u.domains.is_empty() {
        return record::remove(&path);
    }
    let text = serde_json::to_string_pretty(u).map_err(|e| RecordError {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    record::write(&path, text)
}

/// What one observation says of a protected domain: `Some(true)` it runs with its shadow (or
/// with its `xl remus` running), `Some(false)` it runs and no node shows either, None it does not run where seen or a
/// node that could hold it was not read and is not fenced (nothing is concluded). A fenced
/// node is off: it holds nothing.
pub fn protected(
    d: &Desired,
    o: &Observed,
    fenced: &BTreeSet<Name>,
    domain: &Name,
) -> Option<bool> {
    let spec = d.domains.get(domain)?;
    spec.protection.as_ref()?;
    if spec.state != DomainState::Running {
        return None;
    }
    let nodes = crate::render::xl::domain_nodes(d, spec);
    let mut runs = false;
    let mut shadow = false;
    for n in &nodes {
        let Some(x) = o.nodes.get(n).and_then(|s| s.xen.known()) else {
            if fenced.contains(n) {
                continue;
            }
            return None;
        };
        runs |= x.domains.get(domain.as_str()).is_some_and(|r| !r.stopping);
        // Its sender running counts too: right after a start the shadow may not be made yet.
        shadow |= x.incoming.contains_key(domain.as_str()) || x.senders.contains(domain.as_str());
    }
    runs.then_some(shadow)
}

/// Brings the record up to date with an observation (under the apply lock: before planning,
/// and after applying):
/// a domain seen running without its shadow is recorded from `now` unless it already is; one
/// seen protected, stopped or no longer protected is forgotten; one not seen clearly keeps its
/// record. Returns the record as it now stands.
pub fn update(
    state_dir: &Path,
    d: &Desired,
    o: &Observed,
    fenced: &BTreeSet<Name>,
    now: &str,
) -> Result<Unprotected, RecordError> {
    let old = read(state_dir)?;
    let mut new = Unprotected::default();
    for name in d.domains.keys() {
        let since = old.domains.get(name);
        let keep = match (protected(d, o, fenced, name), since) {
            (Some(false), Some(s)) => Some(s.clone()),
            (Some(false), None) => Some(now.to_string()),
            (None, Some(s)) if is_protected_running(d, name) => Some(s.clone()),
            (Some(true), _) | (None, _) => None,
        };
        if let Some(s) = keep {
            new.domains.insert(name.clone(), s);
        }
    }
    if new != old {
        write(state_dir, &new)?;
    }
    Ok(new)
}

fn is_protected_running(d: &Desired, name: &Name) -> bool {
    d.domains
        .get(name)
        .is_some_and(|s| s.protection.is_some() && s.state == DomainState::Running)
}

/// `2026-12-07T12:04:31Z` as `12:04 UTC on 2026-12-07`, for an operator.
pub fn since_words(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(day), Some(hm)) => format!("{hm} UTC on {day}"),
        _ => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)]
    use super::*;

    #[test]
    fn the_record_round_trips_and_a_corrupt_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Unprotected::default());
        let mut u = Unprotected::default();
        u.domains
            .insert("dns".parse().unwrap(), "2026-12-07T12:04:31Z".into());
        write(dir.path(), &u).unwrap();
        assert_eq!(read(dir.path()).unwrap(), u);
        std::fs::write(path(dir.path()), "{\"domains\": {\"dns\": \"noon\"}}").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unprotected.json: corrupt record"), "{e}");
        assert!(e.contains("`noon` is not a UTC time"), "{e}");
        write(dir.path(), &Unprotected::default()).unwrap();
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn since_is_said_in_hours_and_minutes() {
        assert_eq!(
            since_words("2026-12-07T12:04:31Z"),
            "12:04 UTC on 2026-12-07"
        );
    }
}
