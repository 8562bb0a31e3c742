//! What xenflux remembers about node loss, in `STATE_DIR/ha/`: one fence record per fenced node
//! (`NODE.json`: the node is off, since when, and who said so) and the placements of failed-over
//! domains (`placements.json`: where each was started, kept there while failback is manual).
//! A record is written before any failover action runs, so a restarted controller knows the
//! node was fenced. Files are written atomically, read with a size bound and checked: a record
//! that does not read back is an error naming the file, never a guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Name;

/// A fence record or the placements file is never larger than this.
pub const MAX_BYTES: u64 = 64 * 1024;
/// Placements kept at most (one per domain of the cluster).
pub const MAX_PLACEMENTS: usize = 10_000;

/// Who confirmed the node is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// The Node's fence command (or its status command) exited 0.
    Fence,
    /// A person: `xenflux failover NODE --confirm-fenced`.
    Operator,
}

impl std::fmt::Display for By {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            By::Fence => "fence",
            By::Operator => "operator",
        })
    }
}

/// `STATE_DIR/ha/NODE.json`: the node is off and stays out of scheduling until it is back and
/// resynced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FenceRecord {
    pub node: Name,
    /// `2026-12-07T11:02:03Z`.
    pub fenced_at: String,
    pub by: By,
    /// The fence command as it ran (None when a person confirmed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How it was confirmed, in words.
    pub how: String,
}

/// Where a failed-over domain was started, and from which node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Placement {
    pub node: Name,
    pub from: Name,
    pub at: String,
    /// When `xenflux failback DOMAIN` let it go home (manual failback): the planner places it
    /// by its Domain document again, and the placement is forgotten once it is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

/// `STATE_DIR/ha/placements.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placements {
    pub domains: BTreeMap<Name, Placement>,
}

/// A file of `STATE_DIR/ha/` that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct RecordError {
    pub path: PathBuf,
    pub problem: String,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("ha")
}

pub fn record_path(state_dir: &Path, node: &Name) -> PathBuf {
    dir(state_dir).join(format!("{node}.json"))
}

pub fn placements_path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("placements.json")
}

/// Reads a file of at most [`MAX_BYTES`]; Ok(None) when it does not exist.
pub(super) fn read_bounded(path: &Path) -> Result<Option<String>, RecordError> {
    crate::fsutil::read_small(path, MAX_BYTES).map_err(|e| RecordError {
        path: path.to_path_buf(),
        problem: match e.kind() {
            std::io::ErrorKind::InvalidData => format!("{e}: not a record xenflux wrote"),
            _ => e.to_string(),
        },
    })
}

pub(super) fn write(path: &Path, text: String) -> Result<(), RecordError> {
    let err = |e: std::io::Error| RecordError {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err)?;
    }
    crate::fsutil::write_atomic(path, text + "\n").map_err(err)
}

/// Whether `s` reads as `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The fence record of `node`, if there is one. A record that does not parse, names another
/// node or holds an impossible time is an error: whether the node is off is not guessed.
pub fn read_record(state_dir: &Path, node: &Name) -> Result<Option<FenceRecord>, RecordError> {
    let path = record_path(state_dir, node);
    let Some(text) = read_bounded(&path)? else {
        return Ok(None);
    };
    let corrupt = |problem: String| {
        RecordError {
        path: path.clone(),
        problem: format!(
            "corrupt fence record ({problem}); find out whether {node} is off, then remove the file or run \
             `xenflux failover {node} --confirm-fenced`"
        ),
    }
    };
    let r: FenceRecord = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if &r.node != node {
        return Err(corrupt(format!("it names node `{}`", r.node)));
    }
    if !is_timestamp(&r.fenced_at) {
        return Err(corrupt(format!(
            "fencedAt `{}` is not a UTC time",
            r.fenced_at.escape_debug()
        )));
    }
    if r.how.len() > 4096 || r.command.as_ref().is_some_and(|c| c.len() > 70_000) {
        return Err(corrupt("a field is too long".into()));
    }
    Ok(Some(r))
}

pub fn write_record(state_dir: &Path, r: &FenceRecord) -> Result<(), RecordError> {
    let path = record_path(state_dir, &r.node);
    let text = serde_json::to_string_pretty(r).map_err(|e| RecordError {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    write(&path, text)
}

/// Removes the fence record of `node` (the node is back and resynced).
pub fn clear_record(state_dir: &Path, node: &Name) -> Result<(), RecordError> {
    remove(&record_path(state_dir, node))
}

/// Removes a file of `STATE_DIR/ha/`; one already gone is fine.
pub(super) fn remove(path: &Path) -> Result<(), RecordError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RecordError {
            path: path.to_path_buf(),
            problem: e.to_string(),
        }),
    }
}

pub fn read_placements(state_dir: &Path) -> Result<Placements, RecordError> {
    let path = placements_path(state_dir);
    let Some(text) = read_bounded(&path)? else {
        return Ok(Placements::default());
    };
    let corrupt = |problem: String| RecordError {
        path: path.clone(),
        problem: format!("corrupt placements file ({problem}); fix or remove it"),
    };
    let p: Placements = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if p.domains.len() > MAX_PLACEMENTS {
        return Err(corrupt(format!("more than {MAX_PLACEMENTS} domains")));
    }
    if let Some((d, x)) = p.domains.iter().find(|(_, x)| {
        !is_timestamp(&x.at) || x.released.as_deref().is_some_and(|r| !is_timestamp(r))
    }) {
        return Err(corrupt(format!(
            "domain {d}: `{}` is not a UTC time",
            x.at.escape_debug()
        )));
    }
    Ok(p)
}

pub fn write_placements(state_dir: &Path, p: &Placements) -> Result<(), RecordError> {
    let path = placements_path(state_dir);
    if p.domains.is_empty() {
        return remove(&path);
    }
    let text = serde_json::to_string_pretty(p).map_err(|e| RecordError {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    write(&path, text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)]
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn record() -> FenceRecord {
        FenceRecord {
            node: n("dom0"),
            fenced_at: "2026-12-07T11:02:03Z".into(),
            by: By::Fence,
            command: Some("ipmitool -H dom0-ipmi chassis power off".into()),
            how: "`ipmitool ...` exited 0 after 1.2 s".into(),
        }
    }

    #[test]
    fn a_record_round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_record(dir.path(), &n("dom0")).unwrap(), None);
        write_record(dir.path(), &record()).unwrap();
        assert_eq!(read_record(dir.path(), &n("dom0")).unwrap(), Some(record()));
        let text = std::fs::read_to_string(dir.path().join("ha/dom0.json")).unwrap();
        assert!(text.contains("\"by\": \"fence\""), "{text}");
        clear_record(dir.path(), &n("dom0")).unwrap();
        assert_eq!(read_record(dir.path(), &n("dom0")).unwrap(), None);
        clear_record(dir.path(), &n("dom0")).unwrap();
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ha")).unwrap();
        let path = dir.path().join("ha/dom0.json");
        let other = serde_json::to_string(&FenceRecord {
            node: n("dom0m"),
            ..record()
        })
        .unwrap();
        let late = serde_json::to_string(&FenceRecord {
            fenced_at: "yesterday".into(),
            ..record()
        })
        .unwrap();
        for (text, needle) in [
            ("{\"node\": \"dom0\", \"by\": \"fen", "EOF"),
            ("", "EOF"),
            (other.as_str(), "it names node `dom0m`"),
            (late.as_str(), "`yesterday` is not a UTC time"),
            ("{\"node\":\"dom0\",\"fencedAt\":\"2026-12-07T11:02:03Z\",\"by\":\"maybe\",\"how\":\"\"}", "unknown variant"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = read_record(dir.path(), &n("dom0")).unwrap_err().to_string();
            assert!(e.starts_with(&path.display().to_string()), "{e}");
            assert!(e.contains("corrupt fence record"), "{e}");
            assert!(e.contains(needle), "{needle}: {e}");
        }
        std::fs::write(&path, " ".repeat(MAX_BYTES as usize + 1)).unwrap();
        let e = read_record(dir.path(), &n("dom0")).unwrap_err().to_string();
        assert!(e.contains("larger than 65536 bytes"), "{e}");
    }

    #[test]
    fn placements_round_trip_and_an_empty_set_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_placements(dir.path()).unwrap(), Placements::default());
        let mut p = Placements::default();
        p.domains.insert(
            n("dns"),
            Placement {
                node: n("dom0m"),
                from: n("dom0"),
                at: "2026-12-07T11:02:03Z".into(),
                released: None,
            },
        );
        write_placements(dir.path(), &p).unwrap();
        assert_eq!(read_placements(dir.path()).unwrap(), p);
        p.domains.get_mut(&n("dns")).unwrap().released = Some("2026-12-07T12:00:00Z".into());
        write_placements(dir.path(), &p).unwrap();
        assert_eq!(read_placements(dir.path()).unwrap(), p);
        p.domains.get_mut(&n("dns")).unwrap().released = Some("soon\u{1b}[2K".into());
        write_placements(dir.path(), &p).unwrap();
        assert!(read_placements(dir.path())
            .unwrap_err()
            .to_string()
            .contains("is not a UTC time"));
        write_placements(dir.path(), &Placements::default()).unwrap();
        assert!(!placements_path(dir.path()).exists());
        std::fs::create_dir_all(dir.path().join("ha")).unwrap();
        std::fs::write(placements_path(dir.path()), "{\"domains\": 3}").unwrap();
        let e = read_placements(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("placements.json: corrupt placements file"),
            "{e}"
        );
    }
}
