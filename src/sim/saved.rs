//! How the simulated cluster is kept on disk: one compact JSON file (`sim.json`), whose nodes
//! are read in parallel and, while no command has changed any of them since, written back as
//! the text they were read from — taken again from the file they were read from, when that
//! file is still the one read (same device, inode, size and modification time), so the text is
//! not held in memory meanwhile. A plan or a status only reads the nodes, and a 64-node
//! estate's nodes are tens of megabytes of JSON: serialising all of them again after every
//! observation cost more than the observation's own parsing of some tools.
//!
//! Where the text was is kept in [`Nodes`] beside the nodes read from it and forgotten on any
//! mutable access to them ([`DerefMut`]), so a change can never be saved as the old text.
//! Nothing here runs a command or interprets one.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::state::{Faults, LogEntry, Node, World};
use crate::model::DrbdVersion;

/// Each node's JSON text, by name, borrowed from the text being read.
type Texts<'t> = BTreeMap<String, &'t RawValue>;

/// The nodes of the simulated cluster by name (read through [`Deref`] as a `BTreeMap`), and,
/// while none was changed since they were loaded, where their text is.
#[derive(Clone, Default)]
pub(crate) struct Nodes {
    map: BTreeMap<String, Node>,
    read: Option<Arc<Read>>,
}

/// Where the nodes' text was read from: its span in the text being parsed (its address, until
/// [`Nodes::read_from`] knows the file), then in the file, and what the file was.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    Parsed {
        addr: usize,
        len: usize,
    },
    File {
        path: PathBuf,
        file: FileId,
        start: usize,
        end: usize,
    },
}

/// What tells a file apart from one written in its place since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

impl Nodes {
    /// Whether the nodes are still as they were read from a file (saving writes their text
    /// back).
    pub fn as_read(&self) -> bool {
        matches!(self.read.as_deref(), Some(Read::File { .. }))
    }

    /// The nodes were parsed from `text`, which is the content of `path` (`file` before and
    /// after reading it): their text's span in it is kept. Anything else forgets it.
    pub fn read_from(&mut self, text: &str, path: &Path, file: Option<FileId>) {
        let read = match (self.read.as_deref(), file) {
            (Some(Read::Parsed { addr, len }), Some(file)) => {
                let start = addr.wrapping_sub(text.as_ptr() as usize);
                let end = start.saturating_add(*len);
                (end <= text.len() && text.get(start..end).is_some()).then(|| Read::File {
                    path: path.to_path_buf(),
                    file,
                    start,
                    end,
                })
            }
            _ => None,
        };
        self.read = read.map(Arc::new);
    }

    /// The nodes' text as read, when they are as read and the file they came from is still
    /// the one read.
    fn text_as_read(&self) -> Option<String> {
        let Read::File {
            path,
            file,
            start,
            end,
        } = self.read.as_deref()?
        else {
            return None;
        };
        if FileId::of(path).as_ref() != Some(file) {
            return None;
        }
        let text = crate::fsutil::read_small(path, super::MAX_SAVED).ok()??;
        if FileId::of(path).as_ref() != Some(file) {
            return None;
        }
        text.get(*start..*end).map(str::to_string)
    }
}

impl Deref for Nodes {
    type Target = BTreeMap<String, Node>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl DerefMut for Nodes {
    /// Any access that may change a node forgets the text the nodes were read from.
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.read = None;
        &mut self.map
    }
}

impl FromIterator<(String, Node)> for Nodes {
    fn from_iter<I: IntoIterator<Item = (String, Node)>>(iter: I) -> Self {
        Nodes {
            map: iter.into_iter().collect(),
            read: None,
        }
    }
}

impl<'a> IntoIterator for &'a Nodes {
    type Item = (&'a String, &'a Node);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl<'a> IntoIterator for &'a mut Nodes {
    type Item = (&'a String, &'a mut Node);
    type IntoIter = std::collections::btree_map::IterMut<'a, String, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

/// Equal when the nodes are: the kept text is a copy, not state.
impl PartialEq for Nodes {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map.fmt(f)
    }
}

/// Always the nodes themselves (`sim show`, comparisons); [`to_saved_json`] writes the text.
impl Serialize for Nodes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

/// Reads where the nodes' text is first, then each node from its text, on every core (each
/// node's text is independent of the others'; the map they go into is ordered, so the result
/// does not depend on which finished first). Only from JSON text held in memory.
impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all: &'de RawValue = Deserialize::deserialize(d)?;
        let texts: Texts<'de> =
            serde_json::from_str(all.get()).map_err(serde::de::Error::custom)?;
        let map = parse_nodes(&texts).map_err(serde::de::Error::custom)?;
        // Text written otherwise (pretty, by an older xenflux or by hand) is not reused: the
        // first save writes it compact, as every later one does.
        let compact = !all.get().contains('\n');
        Ok(Nodes {
            map,
            read: compact.then(|| {
                Arc::new(Read::Parsed {
                    addr: all.get().as_ptr() as usize,
                    len: all.get().len(),
                })
            }),
        })
    }
}

/// Every node from its text, spread over the available cores; the first error (in node
/// order) names its node.
fn parse_nodes(texts: &Texts) -> Result<BTreeMap<String, Node>, String> {
    let all: Vec<(&String, &RawValue)> = texts.iter().map(|(k, v)| (k, *v)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(all.len().max(1));
    let chunk = all.len().div_ceil(workers).max(1);
    let parse = |part: &[(&String, &RawValue)]| -> Vec<(String, Result<Node, String>)> {
        part.iter()
            .map(|(name, text)| {
                let node = serde_json::from_str::<Node>(text.get())
                    .map_err(|e| format!("nodes.{name}: {e}"));
                ((*name).clone(), node)
            })
            .collect()
    };
    let parts: Vec<Vec<(String, Result<Node, String>)>> = if workers == 1 {
        vec![parse(&all)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = all
                .chunks(chunk)
                .map(|part| scope.spawn(move || parse(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let mut map = BTreeMap::new();
    for (name, node) in parts.into_iter().flatten() {
        map.insert(name, node?);
    }
    Ok(map)
}

/// The state as saved: compact JSON, the nodes written as the text they were read from while
/// no command has changed them since (and their file is still the one read). Loads back to the
/// same state as [`World`]'s own serialisation; the same fields in the same order.
pub(crate) fn to_saved_json(w: &World) -> String {
    #[derive(Serialize)]
    struct Saved<'a, N: Serialize> {
        drbd_version: &'a DrbdVersion,
        nodes: N,
        counter: u64,
        log: &'a [LogEntry],
        violations: &'a [String],
        broken: &'a BTreeSet<String>,
        faults: &'a Faults,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        shared: &'a BTreeMap<String, super::images::SharedFs>,
    }
    // Every field named: one added to World without being saved here does not compile.
    let World {
        drbd_version,
        nodes,
        counter,
        log,
        violations,
        broken,
        faults,
        shared,
        drbd_conf: _,
        rules: _,
    } = w;
    fn json<N: Serialize>(s: Saved<'_, N>) -> String {
        serde_json::to_string(&s).expect("state serialises")
    }
    macro_rules! saved {
        ($nodes:expr) => {
            Saved {
                drbd_version,
                nodes: $nodes,
                counter: *counter,
                log,
                violations,
                broken,
                faults,
                shared,
            }
        };
    }
    let spliced = nodes.text_as_read().and_then(|text| {
        // The nodes' text goes where a placeholder stood: right after the version, the one
        // field before them.
        let placeholder = json(saved!(0));
        let head = format!(
            "{{\"drbd_version\":{},\"nodes\":",
            serde_json::to_string(drbd_version).expect("version serialises")
        );
        let tail = placeholder.strip_prefix(&head)?.strip_prefix('0')?;
        Some([head.as_str(), &text, tail].concat())
    });
    let mut s = spliced.unwrap_or_else(|| json(saved!(&nodes.map)));
    s.push('\n');
    s
}
