//! Small helpers shared by the simulated tools: a command's result, deterministic identifiers,
//! LVM-style size display, and libxl's (yajl) JSON layout.

use serde_json::Value;

use super::state::World;

/// What one simulated command printed and its exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Out {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(stdout: impl Into<String>) -> Out {
        Out {
            status: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    pub fn fail(status: i32, stderr: impl Into<String>) -> Out {
        Out {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    pub fn new(status: i32, stdout: impl Into<String>, stderr: impl Into<String>) -> Out {
        Out {
            status,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }
}

/// A 64-bit mix of the counter (splitmix64), so identifiers look random but are reproducible.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UUID in the usual dashed lower-case form.
pub(crate) fn uuid(w: &mut World) -> String {
    let a = mix(w.next_id());
    let b = mix(w.next_id());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A MAC in Xen's OUI, as libxl picks one for a vif without `mac=`.
pub(crate) fn xen_mac(w: &mut World) -> String {
    let a = mix(w.next_id());
    format!(
        "00:16:3e:{:02x}:{:02x}:{:02x}",
        (a >> 16) & 0x7f,
        (a >> 8) & 0xff,
        a & 0xff
    )
}

/// LVM's `display_size`: two decimals in the largest binary unit that keeps the number at least
/// 1, with `<` when rounding made it look bigger (`<3.15 GiB`).
pub(crate) fn display_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    let Some(&(unit, factor)) = UNITS.iter().find(|(_, f)| bytes >= *f) else {
        return format!("{bytes} B");
    };
    let exact = bytes as f64 / factor as f64;
    let shown = (exact * 100.0).round() / 100.0;
    let lt = if shown > exact + 1e-12 { "<" } else { "" };
    format!("{lt}{shown:.2} {unit}")
}

/// libxl's JSON layout (yajl beautified): four-space indent, `"key": value`, and empty objects
/// and arrays opened and closed on lines of their own with an empty line between.
pub(crate) fn yajl_pretty(v: &Value) -> String {
    let mut out = String::new();
    write_yajl(&mut out, v, 0);
    out
}

fn write_yajl(out: &mut String, v: &Value, level: usize) {
    let pad = |out: &mut String, n: usize| {
        for _ in 0..n {
            out.push_str("    ");
        }
    };
    match v {
        Value::Object(map) => {
            out.push_str("{\n");
            if map.is_empty() {
                out.push('\n');
            }
            for (i, (k, val)) in map.iter().enumerate() {
                pad(out, level + 1);
                push_json_str(out, k);
                out.push_str(": ");
                write_yajl(out, val, level + 1);
                if i + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, level);
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            if items.is_empty() {
                out.push('\n');
            }
            for (i, val) in items.iter().enumerate() {
                pad(out, level + 1);
                write_yajl(out, val, level + 1);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, level);
            out.push(']');
        }
        Value::String(s) => push_json_str(out, s),
        Value::Number(n) => {
            use std::fmt::Write;
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it (`"`, `\\` and control characters).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&Value::String(s.to_string()).to_string());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_size_like_lvm() {
        assert_eq!(display_size(1 << 30), "1.00 GiB");
        assert_eq!(display_size(384 * (4 << 20)), "1.50 GiB");
        assert_eq!(display_size(806 * (4 << 20)), "<3.15 GiB");
        assert_eq!(display_size(256 << 20), "256.00 MiB");
    }

    #[test]
    fn yajl_layout() {
        let v: Value = serde_json::json!({"a": {}, "b": [0], "c": "True"});
        assert_eq!(
            yajl_pretty(&v),
            "{\n    \"a\": {\n\n    },\n    \"b\": [\n        0\n    ],\n    \"c\": \"True\"\n}"
        );
    }
}
