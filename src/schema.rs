//! JSON Schemas of the desired-state kinds, generated from the Rust types so they cannot drift
//! (a test compares them with the committed `schemas/`). Editors with yaml-language-server use
//! them through a `# yaml-language-server: $schema=...` line.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema};
use serde_json::{json, Value};

use crate::model::{
    AlertSpec, BondSpec, BridgeSpec, ClusterSpec, Document, DomainSpec, Kind, NodeSpec,
    Ocfs2ClusterSpec, ProviderSpec, VolumeSpec, API_VERSION,
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
