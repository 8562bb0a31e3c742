//! Parsers for `drbdsetup status --json` (DRBD 9) and the text of `drbdadm status` (DRBD 9, and
//! drbd-utils 9 on an 8.4 kernel), both into [`ResourceStatus`].
//!
//! The JSON mixes key styles (`peer-node-id`, `disk-state`, but `peer_devices`): every key is
//! looked up in both spellings. The text format indents by two spaces per level and leaves out
//! what is normal: no `connection:` when Connected, no `replication:` when Established (DRBD 9),
//! and no peer block at all for a StandAlone 8.4 resource. Pure text in, values out.

use serde_json::{Map, Value};

use super::{
    ConnectionState, ConnectionStatus, DeviceStatus, DiskState, PeerDeviceStatus, ReplState,
    ResourceStatus, Role,
};
use crate::drivers::ParseError;

const TOOL_JSON: &str = "drbdsetup status --json";
const TOOL_TEXT: &str = "drbdadm status";

/// Looks `key` up as written, then with hyphens and underscores swapped.
fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key)
        .or_else(|| obj.get(&key.replace('-', "_")))
        .or_else(|| obj.get(&key.replace('_', "-")))
}

fn get_str<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    get(obj, key).and_then(Value::as_str)
}

fn get_u32(obj: &Map<String, Value>, key: &str) -> Option<u32> {
    get(obj, key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn get_list<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
) -> Result<Vec<&'v Map<String, Value>>, String> {
    match get(obj, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| format!("an element of \"{key}\" is not an object"))
            })
            .collect(),
        Some(_) => Err(format!("\"{key}\" is not an array")),
    }
}

/// Parses `drbdsetup status --json`: a JSON array of resources.
pub fn parse_json(input: &str) -> Result<Vec<ResourceStatus>, ParseError> {
    let v: Value =
        serde_json::from_str(input).map_err(|e| ParseError::json(TOOL_JSON, input, &e))?;
    let items = v
        .as_array()
        .ok_or_else(|| ParseError::whole(TOOL_JSON, "top level is not an array"))?;
    let mut out: Vec<ResourceStatus> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in items {
        let name = r.get("name").and_then(Value::as_str).unwrap_or("?");
        let err = |m: String| {
            let line = input
                .lines()
                .position(|l| l.contains(&format!("\"{name}\"")))
                .map_or(0, |i| i + 1);
            ParseError::at(TOOL_JSON, input, line, format!("resource {name:?}: {m}"))
        };
        let rs = json_resource(r).map_err(err)?;
        if !seen.insert(rs.name.clone()) {
            return Err(err("listed twice".into()));
        }
        out.push(rs);
    }
    Ok(out)
}

fn json_resource(r: &Value) -> Result<ResourceStatus, String> {
    let r = r.as_object().ok_or("resource is not an object")?;
    let name = get_str(r, "name")
        .ok_or("resource without \"name\"")?
        .to_string();
    let role = Role::parse(get_str(r, "role").ok_or("resource without \"role\"")?);
    let suspended = get(r, "suspended").and_then(Value::as_bool);
    let mut devices = Vec::new();
    for d in get_list(r, "devices")? {
        devices.push(DeviceStatus {
            volume: get_u32(d, "volume").unwrap_or(0),
            minor: get_u32(d, "minor"),
            disk: DiskState::parse(
                get_str(d, "disk-state").ok_or("device without \"disk-state\"")?,
            ),
        });
    }
    let mut connections = Vec::new();
    for c in get_list(r, "connections")? {
        let mut peer_devices = Vec::new();
        for p in get_list(c, "peer-devices")? {
            peer_devices.push(PeerDeviceStatus {
                volume: get_u32(p, "volume").unwrap_or(0),
                // drbdsetup always prints both: a missing one is not "Off"/"DUnknown".
                replication: ReplState::parse(
                    get_str(p, "replication-state")
                        .ok_or("peer device without \"replication-state\"")?,
                ),
                peer_disk: DiskState::parse(
                    get_str(p, "peer-disk-state")
                        .ok_or("peer device without \"peer-disk-state\"")?,
                ),
                done_percent: get(p, "percent-in-sync").and_then(Value::as_f64),
            });
        }
        connections.push(ConnectionStatus {
            peer: get_str(c, "name").map(str::to_string),
            peer_node_id: get_u32(c, "peer-node-id"),
            state: ConnectionState::parse(
                get_str(c, "connection-state").ok_or("connection without \"connection-state\"")?,
            ),
            peer_role: Role::parse(
                get_str(c, "peer-role").ok_or("connection without \"peer-role\"")?,
            ),
            peer_devices,
        });
    }
    Ok(ResourceStatus {
        name,
        role,
        suspended,
        devices,
        connections,
    })
}

/// `key:value` words of a status line (after the leading name, if any).
fn pairs(words: &[&str]) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|w| {
            w.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{w:?} is not key:value"))
        })
        .collect()
}

fn lookup<'p>(pairs: &'p [(String, String)], key: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn volume_of(pairs: &[(String, String)]) -> Result<u32, String> {
    lookup(pairs, "volume").map_or(Ok(0), |v| {
        v.parse().map_err(|_| format!("bad volume {v:?}"))
    })
}

/// Parses the text of `drbdadm status` / `drbdsetup status`.
pub fn parse_text(input: &str) -> Result<Vec<ResourceStatus>, ParseError> {
    let mut out: Vec<ResourceStatus> = Vec::new();
    for (no, line) in input.lines().enumerate() {
        let no = no + 1;
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let words: Vec<&str> = line.split_whitespace().collect();
        text_line(&mut out, indent, &words).map_err(|m| ParseError::new(TOOL_TEXT, no, line, m))?;
    }
    Ok(out)
}

fn text_line(out: &mut Vec<ResourceStatus>, indent: usize, words: &[&str]) -> Result<(), String> {
    let Some((first, rest)) = words.split_first() else {
        return Ok(());
    };
    if indent == 0 {
        if first.contains(':') {
            return Err("resource line does not start with a name".into());
        }
        let kv = pairs(rest)?;
        out.push(ResourceStatus {
            name: first.to_string(),
            role: Role::parse(lookup(&kv, "role").ok_or("resource line without role:")?),
            suspended: lookup(&kv, "suspended").map(|s| s != "no"),
            devices: Vec::new(),
            connections: Vec::new(),
        });
        return Ok(());
    }
    let res = out.last_mut().ok_or("indented line before any resource")?;
    match indent {
        2 if first.contains(':') => {
            let kv = pairs(words)?;
            let Some(disk) = lookup(&kv, "disk") else {
                return Ok(());
            };
            res.devices.push(DeviceStatus {
                volume: volume_of(&kv)?,
                minor: lookup(&kv, "minor").and_then(|m| m.parse().ok()),
                disk: DiskState::parse(disk),
            });
        }
        2 => {
            let kv = pairs(rest)?;
            // Connected is the normal case and is not printed.
            let state = lookup(&kv, "connection")
                .map_or(ConnectionState::Connected, ConnectionState::parse);
            res.connections.push(ConnectionStatus {
                peer: Some(first.to_string()),
                peer_node_id: lookup(&kv, "peer-node-id").and_then(|n| n.parse().ok()),
                state,
                peer_role: lookup(&kv, "role").map_or(Role::Unknown, Role::parse),
                peer_devices: Vec::new(),
            });
        }
        4 => {
            let kv = pairs(words)?;
            // Before any peer, an indent-4 line is a resource detail (e.g. write-ordering:).
            let Some(conn) = res.connections.last_mut() else {
                return Ok(());
            };
            if lookup(&kv, "peer-disk").is_none() && lookup(&kv, "replication").is_none() {
                return Ok(());
            }
            let replication = match lookup(&kv, "replication") {
                Some(r) => ReplState::parse(r),
                None if conn.state == ConnectionState::Connected => ReplState::Established,
                None => ReplState::Off,
            };
            let done = match lookup(&kv, "done") {
                Some(d) => Some(d.parse::<f64>().map_err(|_| format!("bad done: {d:?}"))?),
                None => None,
            };
            conn.peer_devices.push(PeerDeviceStatus {
                volume: volume_of(&kv)?,
                replication,
                peer_disk: DiskState::parse(lookup(&kv, "peer-disk").unwrap_or("DUnknown")),
                done_percent: done,
            });
        }
        // Deeper lines carry statistics (--statistics); odd indents are not this format.
        n if n >= 6 && n % 2 == 0 => {}
        n => return Err(format!("unexpected indentation of {n} spaces")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_standalone_has_no_peer() {
        let s = parse_text("dns role:Primary\n  disk:UpToDate\n\novs role:Primary\n  disk:UpToDate\n  peer role:Primary\n    replication:Established peer-disk:UpToDate\n\n").unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].connections.is_empty());
        assert_eq!(
            s[1].connections[0].peer_devices[0].replication,
            ReplState::Established
        );
    }

    #[test]
    fn text_connecting_and_sync() {
        let s = parse_text("dns role:Secondary\n  disk:UpToDate\n  peer connection:Connecting\n")
            .unwrap();
        assert_eq!(s[0].connections[0].state, ConnectionState::Connecting);
        assert_eq!(s[0].connections[0].peer_role, Role::Unknown);
        let s = parse_text("dns role:Primary\n  disk:UpToDate\n  peer role:Secondary\n    replication:SyncSource peer-disk:Inconsistent done:32.08\n").unwrap();
        let p = &s[0].connections[0].peer_devices[0];
        assert_eq!(
            (p.replication.clone(), p.done_percent),
            (ReplState::SyncSource, Some(32.08))
        );
    }

    #[test]
    fn text_drbd9_multi_volume_verbose() {
        let s = parse_text("home role:Secondary suspended:no\n    write-ordering:flush\n  volume:0 minor:0 disk:UpToDate\n      size:5033792 read:0 written:0\n  peer connection:Connected role:Secondary congested:no\n    volume:0 replication:Established peer-disk:UpToDate\n        resync-suspended:no\n").unwrap();
        assert_eq!(s[0].suspended, Some(false));
        assert_eq!(s[0].devices[0].minor, Some(0));
        assert_eq!(s[0].connections[0].peer_devices.len(), 1);
        let s = parse_text("r0 role:Primary\n  volume:0 disk:UpToDate\n  volume:1 disk:UpToDate\n  nodeb role:Secondary\n    volume:0 peer-disk:UpToDate\n    volume:1 peer-disk:UpToDate\n").unwrap();
        assert_eq!(s[0].devices.len(), 2);
        assert_eq!(s[0].connections[0].peer_devices[1].volume, 1);
        assert_eq!(
            s[0].connections[0].peer_devices[1].replication,
            ReplState::Established
        );
    }

    #[test]
    fn text_errors() {
        let e = parse_text("  disk:UpToDate\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse_text("dns role:Primary\n   disk:UpToDate\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "unexpected indentation of 3 spaces")
        );
        let e = parse_text(
            "dns role:Primary\n  peer role:Secondary\n    replication:Established junk\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn json_accepts_both_key_styles() {
        let j = r#"[{"name":"r0","role":"Primary","devices":[{"volume":0,"minor":1,"disk_state":"UpToDate"}],
            "connections":[{"peer-node-id":1,"name":"b","connection-state":"Connected","peer-role":"Secondary",
            "peer-devices":[{"volume":0,"replication_state":"Established","peer-disk-state":"UpToDate","percent-in-sync":100.0}]}]}]"#;
        let s = parse_json(j).unwrap();
        assert_eq!(s[0].devices[0].disk, DiskState::UpToDate);
        assert_eq!(
            s[0].connections[0].peer_devices[0].replication,
            ReplState::Established
        );
        assert_eq!(
            s[0].connections[0].peer_devices[0].done_percent,
            Some(100.0)
        );
    }

    #[test]
    fn json_errors() {
        assert_eq!(parse_json("[{\"name\":\"r0\"}]").unwrap_err().line, 1);
        assert_eq!(parse_json("{}").unwrap_err().line, 0);
        let e = parse_json("[\n{\"name\": \"r0\",\n \"role\": \"Primary\",\n \"devices\": 3}\n]")
            .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(parse_json("[\n{,\n]").unwrap_err().line, 2);
    }
}
