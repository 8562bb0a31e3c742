//! JSON Schemas of the desired-state kinds, generated from the Rust types so they cannot drift
//! (a test compares them with the committed `schemas/`). Editors with yaml-language-server use
//! them through a `# yaml-language-server: $schema=...` line.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema};
use serde_json::{json, Value};

use crate::model::{
    AlertSpec, BondSpec, BridgeSpec, ClusterSpec, Document, DomainSpec, Kind, NodeSpec,
    Ocfs2ClusterSpec, ProviderSpec, SnapshotSpec, VolumeSpec, API_VERSION,
};

/// File name of a kind's schema: `volume.json`, `ocfs2cluster.json`, ...
pub fn file_name(kind: Kind) -> String {
    format!("{}.json", kind.as_str().to_ascii_lowercase())
}

/// Every schema file by name: one per kind, plus `any.json` for files that mix kinds.
pub fn all() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        let schema = match kind {
            Kind::Cluster => for_kind::<ClusterSpec>(kind),
            Kind::Node => for_kind::<NodeSpec>(kind),
            Kind::Volume => for_kind::<VolumeSpec>(kind),
            Kind::Domain => for_kind::<DomainSpec>(kind),
            Kind::Bond => for_kind::<BondSpec>(kind),
            Kind::Bridge => for_kind::<BridgeSpec>(kind),
            Kind::Ocfs2Cluster => for_kind::<Ocfs2ClusterSpec>(kind),
            Kind::Provider => for_kind::<ProviderSpec>(kind),
            Kind::Alert => for_kind::<AlertSpec>(kind),
            Kind::Snapshot => for_kind::<SnapshotSpec>(kind),
        };
        out.insert(file_name(kind), pretty(&schema));
    }
    let any = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "xenflux document (any kind)",
        "description": "One document of cluster-state/: the kind field selects the schema.",
        "anyOf": Kind::ALL.iter().map(|k| json!({"$ref": file_name(*k)})).collect::<Vec<_>>(),
    });
    out.insert("any.json".into(), pretty(&any));
    out
}

fn for_kind<S: JsonSchema>(kind: Kind) -> Value {
    let schema: Schema = schemars::schema_for!(Document<S>);
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("title".into(), json!(format!("xenflux {kind}")));
        obj.insert(
            "description".into(),
            json!(format!(
                "A {kind} document of cluster-state/ (apiVersion {API_VERSION})."
            )),
        );
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("apiVersion".into(), json!({"const": API_VERSION}));
            props.insert("kind".into(), json!({"const": kind.as_str()}));
        }
    }
    v
}

/// The desired-state reference (`docs/reference.md`), generated from the same schemas: one
/// table of fields per kind (type, whether required, default, description), then one per
/// object type a kind's fields use. A test compares it with the committed file.
pub fn reference() -> String {
    let mut out = String::from(
        "# Desired-state reference\n\n\
         Generated from the JSON Schemas in `schemas/` (`xenflux schema --reference docs/reference.md`;\n\
         a test fails when this file and the types differ). Every document has `apiVersion: xenflux/v1`,\n\
         `kind`, `metadata: {name}` and the `spec` below; unknown fields are refused. The rules that\n\
         tie fields together are in [desired-state.md](desired-state.md).\n",
    );
    for kind in Kind::ALL {
        let v: Value = match serde_json::from_str(&all()[&file_name(kind)]) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let defs = v["$defs"].as_object().cloned().unwrap_or_default();
        let Some(spec) = v["properties"]["spec"]["$ref"].as_str().and_then(def_name) else {
            continue;
        };
        out.push_str(&format!("\n## {kind}\n\n"));
        let mut seen = vec![spec.to_string()];
        let mut queue = vec![spec.to_string()];
        let mut first = true;
        while let Some(name) = queue.pop() {
            let Some(def) = defs.get(&name) else { continue };
            let Some(props) = def["properties"].as_object() else {
                continue;
            };
            if !first {
                out.push_str(&format!("\n### {kind}: `{name}`\n\n"));
            }
            first = false;
            if let Some(d) = def["description"].as_str() {
                out.push_str(&format!("{}\n\n", one_line(d)));
            }
            out.push_str(
                "| field | type | required | default | description |\n|---|---|---|---|---|\n",
            );
            let required: Vec<&str> = def["required"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            for (field, p) in props {
                let ty = type_of(p, &defs);
                for r in refs(p) {
                    let is_object = defs.get(&r).is_some_and(|d| d["properties"].is_object());
                    if is_object && !seen.contains(&r) {
                        seen.push(r.clone());
                        queue.insert(0, r);
                    }
                }
                let default = p.get("default").map_or(String::new(), |d| format!("`{d}`"));
                let description = p["description"]
                    .as_str()
                    .or_else(|| {
                        refs(p)
                            .first()
                            .and_then(|r| defs.get(r))
                            .and_then(|d| d["description"].as_str())
                    })
                    .map(one_line)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| `{field}` | {ty} | {} | {default} | {description} |\n",
                    if required.contains(&field.as_str()) {
                        "yes"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    out
}

fn def_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/$defs/")
}

/// The definitions a property refers to, directly or through arrays, maps and nullable unions.
fn refs(p: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = p["$ref"].as_str().and_then(def_name) {
        out.push(r.to_string());
    }
    for key in ["items", "additionalProperties"] {
        if p[key].is_object() {
            out.extend(refs(&p[key]));
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for alt in p[key].as_array().into_iter().flatten() {
            out.extend(refs(alt));
        }
    }
    out
}

/// A property's type in words: `string`, `integer`, `list of Name`, one of the enum's values…
fn type_of(p: &Value, defs: &serde_json::Map<String, Value>) -> String {
    if let Some(r) = p["$ref"].as_str().and_then(def_name) {
        return match defs.get(r) {
            Some(d) if d["enum"].is_array() => enum_words(&d["enum"]),
            Some(d) if consts(d).is_some() => consts(d).unwrap_or_default(),
            Some(d) if d["anyOf"].is_array() || d["oneOf"].is_array() => {
                format!("{} (`{r}`)", type_of(d, defs))
            }
            Some(d) if d["properties"].is_object() => format!("`{r}` (below)"),
            Some(d) if d["type"].is_string() => {
                format!("{} (`{r}`)", d["type"].as_str().unwrap_or(""))
            }
            _ => format!("`{r}`"),
        };
    }
    if p["enum"].is_array() {
        return enum_words(&p["enum"]);
    }
    if let Some(c) = p.get("const") {
        return format!("`{c}`");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = p[key].as_array() {
            let words: Vec<String> = alts
                .iter()
                .filter(|a| a["type"] != "null")
                .map(|a| type_of(a, defs))
                .collect();
            return words.join(" or ");
        }
    }
    match &p["type"] {
        Value::String(t) if t == "array" => format!("list of {}", type_of(&p["items"], defs)),
        Value::String(t) if t == "object" && p["additionalProperties"].is_object() => {
            format!("map of {}", type_of(&p["additionalProperties"], defs))
        }
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str())
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

/// A `oneOf` of constants (an enum whose variants carry doc comments), as its values.
fn consts(d: &Value) -> Option<String> {
    let alts = d["oneOf"].as_array()?;
    let values: Option<Vec<Value>> = alts.iter().map(|a| a.get("const").cloned()).collect();
    values.map(|v| enum_words(&Value::Array(v)))
}

fn enum_words(e: &Value) -> String {
    e.as_array()
        .into_iter()
        .flatten()
        .map(|v| format!("`{}`", v.as_str().map_or(v.to_string(), str::to_string)))
        .collect::<Vec<_>>()
        .join(" \\| ")
}

/// A description on one table line: line breaks joined, `|` escaped.
fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_pins_its_kind_and_rejects_unknown_fields() {
        let all = all();
        let vol: Value = serde_json::from_str(&all["volume.json"]).unwrap();
        assert_eq!(vol["properties"]["kind"]["const"], "Volume");
        assert_eq!(vol["properties"]["apiVersion"]["const"], API_VERSION);
        assert_eq!(vol["additionalProperties"], false);
        let spec = &vol["$defs"]["VolumeSpec"];
        assert_eq!(spec["additionalProperties"], false);
        assert!(spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "size"));
        assert!(spec["properties"]["dualPrimary"].is_object());
        assert_eq!(all.len(), Kind::ALL.len() + 1);
    }
}
