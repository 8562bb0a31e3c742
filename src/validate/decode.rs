//! The schema layer: YAML documents to typed specs. Every document is decoded on its own, and
//! within a document decoding goes on past the first problem (the offending field is set aside
//! and decoding retried), so one run reports as much as it can.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::load::yaml::{self, Spans};
use crate::load::Source;
use crate::model::{
    AlertSpec, BondSpec, BridgeSpec, ClusterSpec, Document, DomainSpec, Kind, Name, NodeSpec,
    Ocfs2ClusterSpec, ProviderSpec, SnapshotSpec, VolumeSpec, API_VERSION,
};

/// Where each document was written, so later checks can point at a field.
#[derive(Clone, Debug, Default)]
pub struct Locator {
    objects: BTreeMap<(Kind, String), (String, Spans)>,
}

impl Locator {
    pub fn diag(
        &self,
        severity: Severity,
        kind: Kind,
        name: &str,
        field: &str,
        message: String,
    ) -> Diagnostic {
        let (file, pos) = match self.objects.get(&(kind, name.to_string())) {
            Some((file, spans)) => (file.clone(), spans.locate(field)),
            None => (String::from("<unknown>"), Default::default()),
        };
        Diagnostic {
            file,
            line: pos.line,
            column: pos.column,
            severity,
            object: Some(format!("{kind}/{name}")),
            field: field.to_string(),
            message,
        }
    }
    pub fn error(
        &self,
        kind: Kind,
        name: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.diag(Severity::Error, kind, name, field, message.into())
    }
    pub fn warning(
        &self,
        kind: Kind,
        name: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.diag(Severity::Warning, kind, name, field, message.into())
    }
    pub fn file_of(&self, kind: Kind, name: &str) -> Option<&str> {
        self.objects
            .get(&(kind, name.to_string()))
            .map(|(f, _)| f.as_str())
    }
}

/// Typed documents of every kind, by name, plus the names of documents that exist but failed to
/// decode (references to them are not reported as dangling: the real error is already out).
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    pub cluster: Option<(String, ClusterSpec)>,
    pub nodes: BTreeMap<Name, NodeSpec>,
    pub volumes: BTreeMap<Name, VolumeSpec>,
    pub domains: BTreeMap<Name, DomainSpec>,
    pub bonds: BTreeMap<Name, BondSpec>,
    pub bridges: BTreeMap<Name, BridgeSpec>,
    pub ocfs2: BTreeMap<Name, Ocfs2ClusterSpec>,
    pub providers: BTreeMap<Name, ProviderSpec>,
    pub alerts: BTreeMap<Name, AlertSpec>,
    pub snapshots: BTreeMap<Name, SnapshotSpec>,
    pub broken: BTreeMap<Kind, BTreeSet<String>>,
}

impl Decoded {
    pub fn is_broken(&self, kind: Kind, name: &str) -> bool {
        self.broken.get(&kind).is_some_and(|v| v.contains(name))
    }
}

pub fn decode(sources: &[Source]) -> (Decoded, Locator, Diagnostics) {
    let mut out = Decoded::default();
    let mut loc = Locator::default();
    let mut diags = Diagnostics::default();
    if sources.is_empty() {
        diags.push(plain_error(
            "<state>",
            "no YAML files found (expected *.yaml or *.yml)",
        ));
    }
    // Files are parsed a few at a time in parallel (parsing is most of decoding a large
    // estate) and decoded in their order, so the result is the same as one by one.
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    for chunk in sources.chunks(at_once) {
        let parsed: Vec<_> = std::thread::scope(|scope| {
            let parsing: Vec<_> = chunk
                .iter()
                .map(|src| scope.spawn(move || yaml::parse(&src.text)))
                .collect();
            parsing.into_iter().map(|p| p.join()).collect()
        });
        for (src, p) in chunk.iter().zip(parsed) {
            match p {
                Ok((docs, problems)) => {
                    decode_source(src, docs, problems, &mut out, &mut loc, &mut diags)
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    }
    (out, loc, diags)
}

fn decode_source(
    src: &Source,
    docs: Vec<yaml::YamlDoc>,
    problems: Vec<yaml::SyntaxError>,
    out: &mut Decoded,
    loc: &mut Locator,
    diags: &mut Diagnostics,
) {
    for e in problems {
        diags.push(Diagnostic {
            file: src.path.clone(),
            line: e.pos.line,
            column: e.pos.column,
            severity: Severity::Error,
            object: None,
            field: e.field,
            message: e.message,
        });
    }
    for doc in docs {
        decode_doc(src, doc, out, loc, diags);
    }
}

fn plain_error(file: &str, message: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: 0,
        column: 0,
        severity: Severity::Error,
        object: None,
        field: String::new(),
        message: message.to_string(),
    }
}

fn decode_doc(
    src: &Source,
    doc: yaml::YamlDoc,
    out: &mut Decoded,
    loc: &mut Locator,
    diags: &mut Diagnostics,
) {
    let at = |field: &str, message: String| {
        let pos = doc.spans.locate(field);
        Diagnostic {
            file: src.path.clone(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            object: None,
            field: field.to_string(),
            message,
        }
    };
    let obj = match &doc.value {
        Value::Null => return,
        Value::Object(o) => o,
        _ => {
            diags.push(at(
                "",
                "a document must be a mapping with apiVersion, kind, metadata and spec".into(),
            ));
            return;
        }
    };
    let Some((kind, name)) = identify(obj, &at, diags) else {
        return;
    };
    let object = format!("{kind}/{name}");
    if let Some(first) = loc.file_of(kind, &name) {
        let first = first.to_string();
        let mut d = at(
            "metadata.name",
            format!("duplicate {kind} `{name}` (first defined in {first})"),
        );
        d.object = Some(object);
        diags.push(d);
        return;
    }
    loc.objects
        .insert((kind, name.clone()), (src.path.clone(), doc.spans.clone()));

    let mut errors = Vec::new();
    let ok = store(kind, &name, &doc, out, &mut errors);
    if ok.is_none() || !errors.is_empty() {
        out.broken.entry(kind).or_default().insert(name);
    }
    for (field, message) in errors {
        if field == "apiVersion" || field == "kind" {
            continue; // reported above with a better message
        }
        let mut d = at(&field, message);
        d.object = Some(object.clone());
        diags.push(d);
    }
}

/// The document's apiVersion (reported when it is not ours), kind and name; None when it has
/// no known kind or no name.
fn identify(
    obj: &serde_json::Map<String, Value>,
    at: &dyn Fn(&str, String) -> Diagnostic,
    diags: &mut Diagnostics,
) -> Option<(Kind, String)> {
    match obj.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(other) => diags.push(at(
            "apiVersion",
            format!("must be `{API_VERSION}`, found {other}"),
        )),
        None => diags.push(at(
            "apiVersion",
            format!("missing field `apiVersion` (must be `{API_VERSION}`)"),
        )),
    }
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => match Kind::parse(k) {
            Some(kind) => kind,
            None => {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                diags.push(at(
                    "kind",
                    format!("unknown kind `{k}`, expected one of {}", all.join(", ")),
                ));
                return None;
            }
        },
        _ => {
            diags.push(at("kind", "missing field `kind`".into()));
            return None;
        }
    };
    let Some(raw_name) = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
    else {
        diags.push(at(
            "metadata.name",
            format!("{kind} document without `metadata.name`"),
        ));
        return None;
    };
    Some((kind, raw_name.to_string()))
}

/// The document decoded as its kind's type and kept in `out`; None when it did not decode.
/// Every error found goes to `errors` as (field, message).
fn store(
    kind: Kind,
    name: &str,
    doc: &yaml::YamlDoc,
    out: &mut Decoded,
    errors: &mut Vec<(String, String)>,
) -> Option<()> {
    match kind {
        Kind::Cluster => typed::<ClusterSpec>(doc, errors).map(|d| {
            if let Some((first, _)) = &out.cluster {
                errors.push((
                    "metadata.name".to_string(),
                    format!("a second Cluster document (`{first}` is already the cluster); there is one per state"),
                ));
            } else {
                out.cluster = Some((name.to_string(), d.spec));
            }
        }),
        Kind::Node => typed::<NodeSpec>(doc, errors).map(|d| {
            out.nodes.insert(d.metadata.name, d.spec);
        }),
        Kind::Volume => typed::<VolumeSpec>(doc, errors).map(|d| {
            out.volumes.insert(d.metadata.name, d.spec);
        }),
        Kind::Domain => typed::<DomainSpec>(doc, errors).map(|d| {
            out.domains.insert(d.metadata.name, d.spec);
        }),
        Kind::Bond => typed::<BondSpec>(doc, errors).map(|d| {
            out.bonds.insert(d.metadata.name, d.spec);
        }),
        Kind::Bridge => typed::<BridgeSpec>(doc, errors).map(|d| {
            out.bridges.insert(d.metadata.name, d.spec);
        }),
        Kind::Ocfs2Cluster => typed::<Ocfs2ClusterSpec>(doc, errors).map(|d| {
            out.ocfs2.insert(d.metadata.name, d.spec);
        }),
        Kind::Provider => typed::<ProviderSpec>(doc, errors).map(|d| {
            out.providers.insert(d.metadata.name, d.spec);
        }),
        Kind::Alert => typed::<AlertSpec>(doc, errors).map(|d| {
            out.alerts.insert(d.metadata.name, d.spec);
        }),
        Kind::Snapshot => typed::<SnapshotSpec>(doc, errors).map(|d| {
            out.snapshots.insert(d.metadata.name, d.spec);
        }),
    }
}

/// Decodes a whole document as `Document<S>`, collecting every error it can: after each error
/// the offending field is removed and decoding is tried again. Returns the document only when
/// there was no error at all.
fn typed<S: DeserializeOwned>(
    doc: &yaml::YamlDoc,
    errors: &mut Vec<(String, String)>,
) -> Option<Document<S>> {
    decode_all(&doc.value, errors)
}

/// `value` decoded as `T`, going on past the first problem: each offending field is reported
/// as (dotted path as written, message) and set aside, and decoding retried. Some only when
/// nothing was wrong.
pub fn decode_all<T: DeserializeOwned>(
    value: &Value,
    errors: &mut Vec<(String, String)>,
) -> Option<T> {
    let before = errors.len();
    decode_lenient(value, errors).filter(|_| errors.len() == before)
}

/// Like [`decode_all`], but what is left once every offending field is set aside is returned
/// too (None only when a required field is missing or nothing decodes), so later checks can
/// report their problems in the same run.
pub fn decode_lenient<T: DeserializeOwned>(
    value: &Value,
    errors: &mut Vec<(String, String)>,
) -> Option<T> {
    let mut value = value.clone();
    let before = errors.len();
    // Array items removed so far, by array path (in original indices), so later error paths in
    // the same array still name the item as written.
    let mut removed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(d) => return Some(d),
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let message = e.inner().to_string();
                let missing = message.starts_with("missing field");
                let segs = parse_path(&path);
                let original = original_path(&segs, &removed);
                let at = render_path(&original);
                // A required field set aside after its own error is not missing a second time.
                let already = missing
                    && message.split('`').nth(1).is_some_and(|field| {
                        let full = if at.is_empty() {
                            field.to_string()
                        } else {
                            format!("{at}.{field}")
                        };
                        errors[before..].iter().any(|(p, _)| *p == full)
                    });
                if !already {
                    errors.push((at, message));
                }
                if missing || !remove(&mut value, &segs) {
                    return None;
                }
                if let Some((Seg::Index(i), parent)) = original.split_last() {
                    let list = removed.entry(render_path(parent)).or_default();
                    list.push(*i);
                    list.sort_unstable();
                }
            }
        }
    }
    None
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                segs.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                let Ok(idx) = stripped[..end].parse::<usize>() else {
                    break;
                };
                segs.push(Seg::Index(idx));
                rest = &stripped[end + 1..];
            }
        } else if !rest.is_empty() {
            segs.push(Seg::Key(rest.to_string()));
        }
    }
    segs
}

fn render_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Maps indices of the current (trimmed) value back to the document as written.
fn original_path(segs: &[Seg], removed: &BTreeMap<String, Vec<usize>>) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for s in segs {
        match s {
            Seg::Key(k) => out.push(Seg::Key(k.clone())),
            Seg::Index(i) => {
                let mut orig = *i;
                if let Some(gone) = removed.get(&render_path(&out)) {
                    for g in gone {
                        if *g <= orig {
                            orig += 1;
                        }
                    }
                }
                out.push(Seg::Index(orig));
            }
        }
    }
    out
}

/// Removes the node at a path; false when there is none.
fn remove(value: &mut Value, segs: &[Seg]) -> bool {
    let Some((last, segs)) = segs.split_last() else {
        return false;
    };
    let mut cur = value;
    for s in segs {
        cur = match (s, cur) {
            (Seg::Key(k), Value::Object(o)) => match o.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(o)) => o.shift_remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}
