//! YAML text to JSON-like values, remembering where every field was written. Decoding into the
//! typed specs happens on the values; the positions let every error name a line and column.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(m: &Marker) -> Pos {
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// Where each field of one document was written, by dotted path (`spec.disks[0].volume`).
#[derive(Clone, Debug, Default)]
pub struct Spans {
    by_path: BTreeMap<String, Pos>,
    pub start: Pos,
}

impl Spans {
    /// The position of `path`, or of its nearest written ancestor (a missing field is reported
    /// where its parent is).
    pub fn locate(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.by_path.get(p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.start,
            }
        }
    }
}

/// One YAML document of a file.
#[derive(Clone, Debug)]
pub struct YamlDoc {
    pub value: Value,
    pub spans: Spans,
}

/// A problem found while reading the YAML: a syntax error (the file's later documents are lost
/// with it) or input refused by the limits below. `field` is the dotted path when known.
#[derive(Clone, Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub field: String,
    pub message: String,
}

/// Deepest nesting of mappings and sequences accepted. Real documents nest five or six levels;
/// the cap keeps every later recursive step (decoding, cloning, dropping) far from the stack limit.
pub const MAX_DEPTH: usize = 64;
/// Longest string scalar accepted, in bytes.
pub const MAX_SCALAR_BYTES: usize = 4096;
/// Most items in one sequence or mapping.
pub const MAX_ITEMS: usize = 1024;
/// Most values one file may build, aliases expanded (a few lines of aliases could otherwise
/// expand into billions of nodes).
const MAX_VALUES: usize = 1_000_000;
/// Most string bytes one file may build, aliases expanded.
const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;
/// Problems reported per file at most; beyond them the rest is noise.
const MAX_ERRORS: usize = 50;

/// Parses every document of `text`. Documents before a syntax error are kept. A leading UTF-8
/// byte order mark is skipped, as YAML allows.
pub fn parse(text: &str) -> (Vec<YamlDoc>, Vec<SyntaxError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Driven event by event (the parser's own `load` recurses once per nesting level).
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                if !b.on(ev, mark) {
                    break;
                }
            }
            Err(e) => {
                b.errors.push(SyntaxError {
                    pos: Pos::of(e.marker()),
                    field: String::new(),
                    message: format!("YAML syntax: {}", e.info()),
                });
                break;
            }
        }
    }
    (b.docs, b.errors)
}

/// Why a string scalar is refused: control characters (C0 including TAB and LF, DEL, C1) and
/// Unicode bidirectional overrides can rewrite what a terminal shows, and reach files and argv.
pub fn scalar_problem(s: &str) -> Option<String> {
    if s.len() > MAX_SCALAR_BYTES {
        return Some(format!(
            "string of {} bytes is longer than the limit of {MAX_SCALAR_BYTES}",
            s.len()
        ));
    }
    let bad = s.chars().find(|c| {
        c.is_control() || matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })?;
    Some(format!(
        "control or bidirectional-override character U+{:04X} is refused in strings",
        u32::from(bad)
    ))
}

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<(String, Pos)>,
        path: String,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<YamlDoc>,
    stack: Vec<Frame>,
    spans: Spans,
    anchors: BTreeMap<usize, Value>,
    root: Option<Value>,
    errors: Vec<SyntaxError>,
    /// Values built so far, aliases expanded.
    values: usize,
    /// String bytes built so far, aliases expanded.
    string_bytes: usize,
}

/// Values and string bytes in `v`.
fn weight(v: &Value) -> (usize, usize) {
    match v {
        Value::Array(a) => a
            .iter()
            .map(weight)
            .fold((1, 0), |(n, b), (x, y)| (n + x, b + y)),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                let (x, y) = weight(v);
                (x, y + k.len())
            })
            .fold((1, 0), |(n, b), (x, y)| (n + x, b + y)),
        Value::String(s) => (1, s.len()),
        _ => (1, 0),
    }
}

impl Builder {
    fn error(&mut self, pos: Pos, field: String, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(SyntaxError {
                pos,
                field,
                message: message.into(),
            });
        }
    }

    /// The path of the node about to be added, and where it is reported.
    fn child_path(&self, pos: Pos) -> Option<(String, Pos)> {
        match self.stack.last() {
            None => Some((String::new(), pos)),
            Some(Frame::Seq { items, path, .. }) => Some((format!("{path}[{}]", items.len()), pos)),
            Some(Frame::Map {
                key: Some((k, kpos)),
                path,
                ..
            }) => {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                Some((p, *kpos))
            }
            Some(Frame::Map { key: None, .. }) => None,
        }
    }

    /// The path of the innermost collection, for problems with a key or an item count.
    fn parent_path(&self) -> String {
        match self.stack.last() {
            Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) => path.clone(),
            None => String::new(),
        }
    }

    fn add(&mut self, value: Value, anchor: usize, pos: Pos) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let full = match self.stack.last() {
            Some(Frame::Seq { items, .. }) => items.len() >= MAX_ITEMS,
            Some(Frame::Map {
                map, key: Some(_), ..
            }) => map.len() >= MAX_ITEMS,
            _ => false,
        };
        if full {
            let path = self.parent_path();
            if !self
                .errors
                .iter()
                .any(|e| e.field == path && e.message.contains("items"))
            {
                self.error(pos, path, format!("more than {MAX_ITEMS} items; refused"));
            }
            if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                key.take();
            }
            return;
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some((k, kpos)) => {
                    let duplicate = map.contains_key(&k);
                    map.insert(k.clone(), value);
                    if duplicate {
                        let path = self.parent_path();
                        self.error(kpos, path, format!("duplicate key `{k}`"));
                    }
                }
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        other => other.to_string(),
                    };
                    *key = Some((k, pos));
                }
            },
        }
    }

    fn record(&mut self, pos: Pos) -> String {
        match self.child_path(pos) {
            Some((path, at)) => {
                self.spans.by_path.entry(path.clone()).or_insert(at);
                path
            }
            None => String::new(),
        }
    }

    /// Counts `(values, bytes)` more toward the file's limits; false once they are passed.
    fn grow(&mut self, (values, bytes): (usize, usize), pos: Pos) -> bool {
        self.values = self.values.saturating_add(values);
        self.string_bytes = self.string_bytes.saturating_add(bytes);
        if self.values <= MAX_VALUES && self.string_bytes <= MAX_STRING_BYTES {
            return true;
        }
        let path = self.parent_path();
        self.error(
            pos,
            path,
            format!(
                "too large: more than {MAX_VALUES} values or {} MiB of strings (aliases expanded); refused",
                MAX_STRING_BYTES >> 20
            ),
        );
        false
    }

    /// Takes one event; false when the rest of the file is refused.
    fn on(&mut self, ev: Event, mark: Marker) -> bool {
        let pos = Pos::of(&mark);
        match ev {
            Event::DocumentStart => {
                self.spans = Spans {
                    by_path: BTreeMap::new(),
                    start: pos,
                };
                self.root = None;
                self.stack.clear();
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                let spans = std::mem::take(&mut self.spans);
                self.docs.push(YamlDoc { value, spans });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if let Some(problem) = scalar_problem(&text) {
                    let field = if is_key {
                        self.parent_path()
                    } else {
                        self.child_path(pos).map(|(p, _)| p).unwrap_or_default()
                    };
                    self.error(pos, field, problem);
                }
                if !self.grow((1, text.len()), pos) {
                    return false;
                }
                let value = scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                if !is_key {
                    self.record(pos);
                }
                self.add(value, anchor, pos);
            }
            Event::Alias(id) => {
                self.record(pos);
                let value = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                if !self.grow(weight(&value), pos) {
                    return false;
                }
                self.add(value, 0, pos);
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    let path = self.parent_path();
                    self.error(
                        pos,
                        path,
                        format!("nested more than {MAX_DEPTH} levels deep; refused"),
                    );
                    return false;
                }
                if !self.grow((1, 0), pos) {
                    return false;
                }
                let path = self.record(pos);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        map: Map::new(),
                        key: None,
                        path,
                        anchor,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        path,
                        anchor,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return true,
                };
                self.add(value, anchor, pos);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        true
    }
}

/// YAML 1.2 core schema resolution of a scalar.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&str>) -> Value {
    if style != TScalarStyle::Plain || tag == Some("str") {
        return Value::String(text.to_string());
    }
    match Yaml::from_str(text) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => match r.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text.to_string()),
        },
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let text = "kind: Volume\nmetadata: {name: dns}\nspec:\n  size: 10GiB\n  nodes:\n    - dom0\n    - dom0m\n  port: 7792\n";
        let (docs, err) = parse(text);
        assert!(err.is_empty());
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d.value["spec"]["port"], 7792);
        assert_eq!(d.value["metadata"]["name"], "dns");
        assert_eq!(d.spans.locate("spec.size"), Pos { line: 4, column: 3 });
        assert_eq!(d.spans.locate("spec.nodes[1]"), Pos { line: 7, column: 7 });
        assert_eq!(
            d.spans.locate("metadata.name"),
            Pos {
                line: 2,
                column: 12
            }
        );
        // a field that is not written is reported at its parent
        assert_eq!(d.spans.locate("spec.minor"), Pos { line: 3, column: 1 });
    }

    #[test]
    fn several_documents_and_quoting() {
        let text = "a: '8.4'\nb: 8.4\nc: yes\nd: true\n---\na: 1\n";
        let (docs, _) = parse(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["a"], "8.4");
        assert_eq!(docs[0].value["b"], 8.4);
        assert_eq!(docs[0].value["c"], "yes", "YAML 1.2: yes is a string");
        assert_eq!(docs[0].value["d"], true);
        assert_eq!(docs[1].spans.locate("a"), Pos { line: 6, column: 1 });
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_located() {
        let (_, err) = parse("a: [1, 2\nb: 3\n");
        assert!(!err.is_empty());
        let (_, err) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].pos.line, 3);
        assert!(err[0].message.contains("duplicate key"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let (_, err) = parse(&text);
        assert!(err[0].message.contains("aliases expanded"), "{err:?}");
        // strings count too: a 4 KiB string repeated by aliases
        let mut text = format!("a0: &a0 \"{}\"\n", "x".repeat(4000));
        for i in 1..16 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let (_, err) = parse(&text);
        assert!(err[0].message.contains("aliases expanded"), "{err:?}");
    }

    #[test]
    fn anchors_and_aliases() {
        let (docs, err) = parse("n: &pair [dom0, dom0m]\nm: *pair\n");
        assert!(err.is_empty());
        assert_eq!(docs[0].value["m"][1], "dom0m");
    }

    #[test]
    fn deep_nesting_is_refused_before_anything_recurses() {
        for text in [
            "- ".repeat(5000),
            "[".repeat(100_000),
            "{".repeat(100_000),
            format!("a: {}", "{b: ".repeat(5000)),
        ] {
            let (_, err) = parse(&text);
            // The scanner stops flow collections at its own limit; either way the file is refused.
            assert!(
                err.iter().any(|e| e.message.contains("nested more than 64")
                    || e.message.contains("recursion limit")),
                "{err:?}"
            );
        }
        let ok = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).1.is_empty());
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_refused_in_every_scalar() {
        for bad in [
            "\\0", "\\r", "\\e", "\\t", "\\n", "\\x7f", "\\x85", "\\u202e", "\\u2066",
        ] {
            let (_, err) = parse(&format!("spec:\n  label: \"a{bad}b\"\n"));
            assert_eq!(err.len(), 1, "{bad}: {err:?}");
            assert_eq!(err[0].field, "spec.label");
            assert_eq!(err[0].pos.line, 2);
            let (_, err) = parse(&format!("spec:\n  \"k{bad}\": 1\n"));
            assert_eq!(err.len(), 1, "{bad} in a key: {err:?}");
        }
        let (_, err) = parse(&format!("a: {}\n", "x".repeat(MAX_SCALAR_BYTES + 1)));
        assert!(err[0].message.contains("longer than"), "{err:?}");
        assert!(parse("a: \"caf\u{e9} \u{2192} ok\"\n").1.is_empty());
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let (docs, err) = parse("\u{feff}# comment\na: 1\n");
        assert!(err.is_empty(), "{err:?}");
        assert_eq!(docs[0].value["a"], 1);
        assert_eq!(docs[0].spans.locate("a"), Pos { line: 2, column: 1 });
    }

    #[test]
    fn long_collections_are_refused() {
        let text = format!("a: [{}]\n", vec!["x"; MAX_ITEMS + 5].join(", "));
        let (_, err) = parse(&text);
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].field, "a");
    }
}
