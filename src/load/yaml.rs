//! YAML text to JSON-like values, remembering where every field was written. Decoding into the
//! typed specs happens on the values; the positions let every error name a line and column.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
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

/// A YAML syntax error (the file's later documents are lost with it).
#[derive(Clone, Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses every document of `text`. Documents before a syntax error are kept.
pub fn parse(text: &str) -> (Vec<YamlDoc>, Option<SyntaxError>) {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let err = match parser.load(&mut b, true) {
        Ok(()) => b.error.take(),
        Err(e) => Some(SyntaxError {
            pos: Pos::of(e.marker()),
            message: e.info().to_string(),
        }),
    };
    (b.docs, err)
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
    error: Option<SyntaxError>,
}

impl Builder {
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

    fn add(&mut self, value: Value, anchor: usize, pos: Pos) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some((k, kpos)) => {
                    if map.contains_key(&k) && self.error.is_none() {
                        self.error = Some(SyntaxError {
                            pos: kpos,
                            message: format!("duplicate key `{k}`"),
                        });
                    }
                    map.insert(k, value);
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
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::of(&mark);
        match ev {
            Event::DocumentStart => {
                self.spans = Spans {
                    by_path: BTreeMap::new(),
                    start: pos,
                };
                self.root = None;
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                let spans = std::mem::take(&mut self.spans);
                self.docs.push(YamlDoc { value, spans });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                let value = scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                if !is_key {
                    self.record(pos);
                }
                self.add(value, anchor, pos);
            }
            Event::Alias(id) => {
                self.record(pos);
                let value = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                self.add(value, 0, pos);
            }
            Event::MappingStart(anchor, _) => {
                let path = self.record(pos);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    path,
                    anchor,
                });
            }
            Event::SequenceStart(anchor, _) => {
                let path = self.record(pos);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return,
                };
                self.add(value, anchor, pos);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
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
        assert!(err.is_none());
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
        assert!(err.is_some());
        let (_, err) = parse("a: 1\nb: 2\na: 3\n");
        let err = err.unwrap();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key"));
    }

    #[test]
    fn anchors_and_aliases() {
        let (docs, err) = parse("n: &pair [dom0, dom0m]\nm: *pair\n");
        assert!(err.is_none());
        assert_eq!(docs[0].value["m"][1], "dom0m");
    }
}
