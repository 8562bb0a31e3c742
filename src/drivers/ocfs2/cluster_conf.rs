//! Parser for `/etc/ocfs2/cluster.conf` (ocfs2.cluster.conf(5)): `cluster:`, `node:` and
//! `heartbeat:` stanzas of indented `key = value` lines. o2cb writes TAB indentation and a blank
//! line between stanzas, but also reads space indentation, no blank lines and unknown keys; so
//! does this parser, keeping unknown keys and stanzas. Reading the file is the caller's job.

use crate::drivers::ParseError;

const TOOL_CONF: &str = "cluster.conf";

/// A `cluster:` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStanza {
    pub name: String,
    pub heartbeat_mode: Option<String>,
    pub node_count: Option<u32>,
    /// Keys this parser does not interpret, in order.
    pub other: Vec<(String, String)>,
}

/// A `node:` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStanza {
    pub name: String,
    pub cluster: String,
    pub number: u32,
    pub ip_address: String,
    pub ip_port: u16,
    pub other: Vec<(String, String)>,
}

/// A `heartbeat:` stanza (global heartbeat region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatStanza {
    pub region: String,
    pub cluster: String,
    pub other: Vec<(String, String)>,
}

/// `/etc/ocfs2/cluster.conf`, stanzas in file order by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterConf {
    pub clusters: Vec<ClusterStanza>,
    pub nodes: Vec<NodeStanza>,
    pub heartbeats: Vec<HeartbeatStanza>,
    /// Stanzas of another kind: (kind, key/values).
    pub unknown: Vec<(String, Vec<(String, String)>)>,
}

/// (line number, key, value).
type Entry = (usize, String, String);

struct Stanza {
    line: usize,
    kind: String,
    entries: Vec<Entry>,
}

impl Stanza {
    fn take(&mut self, key: &str) -> Option<(usize, String)> {
        let i = self.entries.iter().position(|(_, k, _)| k == key)?;
        let (no, _, v) = self.entries.remove(i);
        Some((no, v))
    }

    fn need(&mut self, key: &str, input: &str) -> Result<(usize, String), ParseError> {
        let (line, kind) = (self.line, self.kind.clone());
        self.take(key).ok_or_else(|| {
            ParseError::at(
                TOOL_CONF,
                input,
                line,
                format!("{kind}: stanza without {key}"),
            )
        })
    }

    fn rest(self) -> Vec<(String, String)> {
        self.entries.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

fn number<T: std::str::FromStr>(
    input: &str,
    (line, v): (usize, String),
    key: &str,
) -> Result<T, ParseError> {
    v.parse().map_err(|_| {
        ParseError::at(
            TOOL_CONF,
            input,
            line,
            format!("{key} {v:?} is not a valid number"),
        )
    })
}

/// Parses `/etc/ocfs2/cluster.conf`.
pub fn parse_cluster_conf(input: &str) -> Result<ClusterConf, ParseError> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    for (no, line) in input.lines().enumerate() {
        let no = no + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let kind = t
                .strip_suffix(':')
                .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
            let kind = kind.ok_or_else(|| {
                ParseError::new(
                    TOOL_CONF,
                    no,
                    line,
                    "expected a stanza header like \"node:\"",
                )
            })?;
            stanzas.push(Stanza {
                line: no,
                kind: kind.to_string(),
                entries: Vec::new(),
            });
            continue;
        }
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| ParseError::new(TOOL_CONF, no, line, "expected key = value"))?;
        let stanza = stanzas
            .last_mut()
            .ok_or_else(|| ParseError::new(TOOL_CONF, no, line, "key = value before any stanza"))?;
        stanza
            .entries
            .push((no, k.trim().to_string(), v.trim().to_string()));
    }
    let mut conf = ClusterConf::default();
    for mut s in stanzas {
        match s.kind.as_str() {
            "cluster" => conf.clusters.push(ClusterStanza {
                name: s.need("name", input)?.1,
                heartbeat_mode: s.take("heartbeat_mode").map(|(_, v)| v),
                node_count: s
                    .take("node_count")
                    .map(|e| number(input, e, "node_count"))
                    .transpose()?,
                other: s.rest(),
            }),
            "node" => conf.nodes.push(NodeStanza {
                name: s.need("name", input)?.1,
                cluster: s.need("cluster", input)?.1,
                number: number(input, s.need("number", input)?, "number")?,
                ip_address: s.need("ip_address", input)?.1,
                ip_port: s
                    .take("ip_port")
                    .map(|e| number(input, e, "ip_port"))
                    .transpose()?
                    .unwrap_or(7777),
                other: s.rest(),
            }),
            "heartbeat" => conf.heartbeats.push(HeartbeatStanza {
                region: s.need("region", input)?.1,
                cluster: s.need("cluster", input)?.1,
                other: s.rest(),
            }),
            _ => conf.unknown.push((s.kind.clone(), s.rest())),
        }
    }
    Ok(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_conf_errors() {
        assert_eq!(
            parse_cluster_conf("node:\n\tname = a\n").unwrap_err().line,
            1
        );
        assert_eq!(parse_cluster_conf("\tname = a\n").unwrap_err().line, 1);
        assert_eq!(
            parse_cluster_conf("cluster:\n\tname\n").unwrap_err().line,
            2
        );
        let e = parse_cluster_conf(
            "node:\n name = a\n cluster = c\n number = x\n ip_address = 1.2.3.4\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(parse_cluster_conf("cluster\n").unwrap_err().line, 1);
    }
}
