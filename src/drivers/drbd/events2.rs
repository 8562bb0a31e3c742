//! Parser for `drbdsetup events2` text: one event per line, `VERB OBJECT key:value...`, e.g.
//! `exists peer-device name:dns peer-node-id:0 conn-name:peer volume:0 replication:Established`.
//! `--now` prints the current state as `exists` lines and ends with `exists -`.
//!
//! On an 8.4 kernel drbd-utils 9 synthesises this from the 8.4 state: every line carries
//! `peer-node-id:0 conn-name:peer`, states use DRBD 9 names (8.4 `WFConnection` is
//! `connection:Connecting`), and when StandAlone the `conn-name` field is missing.
//! Pure text in, values out.

use super::{
    ConnectionState, ConnectionStatus, DeviceStatus, DiskState, PeerDeviceStatus, ReplState,
    ResourceStatus, Role,
};
use crate::drivers::{vocab_enum, ParseError};

const TOOL: &str = "drbdsetup events2";

vocab_enum! {
    /// What happened to the object.
    pub enum Verb fallback Unknown {
        Exists = "exists",
        Create = "create",
        Change = "change",
        Destroy = "destroy",
        Call = "call",
        Response = "response",
    }
}

vocab_enum! {
    /// What kind of object the event is about.
    pub enum Object fallback Unknown {
        Resource = "resource",
        Connection = "connection",
        Device = "device",
        PeerDevice = "peer-device",
        Path = "path",
        Helper = "helper",
        /// `exists -`: the end of the `--now` snapshot.
        EndOfSnapshot = "-",
    }
}

/// One events2 line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub verb: Verb,
    pub object: Object,
    /// The `key:value` fields, in order.
    pub fields: Vec<(String, String)>,
}

impl Event {
    /// The value of field `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every line. A line starting with whitespace continues the previous event (the DRBD
/// user's guide wraps long lines that way).
pub fn parse(input: &str) -> Result<Vec<(usize, Event)>, ParseError> {
    let mut out: Vec<(usize, Event)> = Vec::new();
    for (no, line) in input.lines().enumerate() {
        let no = no + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| ParseError::new(TOOL, no, line, m);
        let continuation = line.starts_with([' ', '\t']);
        let mut words = line.split_whitespace();
        if !continuation {
            let verb = Verb::parse(words.next().unwrap_or(""));
            let object = Object::parse(
                words
                    .next()
                    .ok_or_else(|| err("event without an object".into()))?,
            );
            if let Verb::Unknown(v) = &verb {
                return Err(err(format!("unknown event verb {v:?}")));
            }
            out.push((
                no,
                Event {
                    verb,
                    object,
                    fields: Vec::new(),
                },
            ));
        }
        let (_, ev) = out
            .last_mut()
            .ok_or_else(|| err("continuation line before any event".into()))?;
        for w in words {
            let (k, v) = w
                .split_once(':')
                .ok_or_else(|| err(format!("{w:?} is not key:value")))?;
            ev.fields.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

fn num(ev: &Event, key: &str) -> Result<Option<u32>, String> {
    ev.get(key)
        .map(|v| v.parse().map_err(|_| format!("{key}:{v} is not a number")))
        .transpose()
}

fn need<'e>(ev: &'e Event, key: &str) -> Result<&'e str, String> {
    ev.get(key).ok_or_else(|| format!("no {key}: field"))
}

/// Builds the state snapshot from `drbdsetup events2 --now`: the `exists` events up to
/// `exists -`. Other verbs are refused (this is for the snapshot, not the stream).
pub fn parse_now(input: &str) -> Result<Vec<ResourceStatus>, ParseError> {
    let mut out: Vec<ResourceStatus> = Vec::new();
    let mut ended = false;
    for (no, ev) in parse(input)? {
        let err = |m: String| ParseError::at(TOOL, input, no, m);
        if ended {
            return Err(err("event after the end of the snapshot (exists -)".into()));
        }
        if ev.verb != Verb::Exists {
            return Err(err(format!("{} event in a --now snapshot", ev.verb)));
        }
        apply(&mut out, &ev, &mut ended).map_err(err)?;
    }
    if !ended {
        return Err(ParseError::whole(
            TOOL,
            "snapshot does not end with \"exists -\" (cut short?)",
        ));
    }
    Ok(out)
}

fn apply(out: &mut Vec<ResourceStatus>, ev: &Event, ended: &mut bool) -> Result<(), String> {
    if ev.object == Object::EndOfSnapshot {
        *ended = true;
        return Ok(());
    }
    let name = need(ev, "name")?;
    if ev.object == Object::Resource {
        out.push(ResourceStatus {
            name: name.to_string(),
            role: Role::parse(need(ev, "role")?),
            suspended: ev.get("suspended").map(|s| s != "no"),
            devices: Vec::new(),
            connections: Vec::new(),
        });
        return Ok(());
    }
    let res = out
        .iter_mut()
        .rev()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("{} of resource {name:?} before the resource", ev.object))?;
    match &ev.object {
        Object::Connection => res.connections.push(ConnectionStatus {
            peer: ev.get("conn-name").map(str::to_string),
            peer_node_id: num(ev, "peer-node-id")?,
            state: ConnectionState::parse(need(ev, "connection")?),
            peer_role: ev.get("role").map_or(Role::Unknown, Role::parse),
            peer_devices: Vec::new(),
        }),
        Object::Device => res.devices.push(DeviceStatus {
            volume: num(ev, "volume")?.unwrap_or(0),
            minor: num(ev, "minor")?,
            disk: DiskState::parse(need(ev, "disk")?),
        }),
        Object::PeerDevice => {
            let id = num(ev, "peer-node-id")?;
            let conn = res
                .connections
                .iter_mut()
                .find(|c| c.peer_node_id == id)
                .ok_or_else(|| format!("peer-device of resource {name:?} before its connection"))?;
            let done = ev.get("done").and_then(|d| d.parse().ok());
            conn.peer_devices.push(PeerDeviceStatus {
                volume: num(ev, "volume")?.unwrap_or(0),
                replication: ReplState::parse(need(ev, "replication")?),
                peer_disk: DiskState::parse(need(ev, "peer-disk")?),
                done_percent: done,
            });
        }
        // Paths and helpers say nothing about state xenflux plans on.
        Object::Path | Object::Helper | Object::Unknown(_) => {}
        Object::Resource | Object::EndOfSnapshot => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDALONE: &str = "exists resource name:dns role:Primary suspended:no\nexists connection name:dns peer-node-id:0 connection:StandAlone role:Unknown\nexists device name:dns volume:0 minor:0 disk:UpToDate\nexists peer-device name:dns peer-node-id:0 volume:0 replication:Off peer-disk:DUnknown resync-suspended:no\nexists -\n";

    #[test]
    fn standalone_has_no_conn_name() {
        let s = parse_now(STANDALONE).unwrap();
        let c = &s[0].connections[0];
        assert_eq!(c.peer, None);
        assert_eq!(c.state, ConnectionState::StandAlone);
        assert_eq!(c.peer_role, Role::Unknown);
        assert_eq!(c.peer_devices[0].replication, ReplState::Off);
        assert_eq!(c.peer_devices[0].peer_disk, DiskState::DUnknown);
        assert_eq!(s[0].devices[0].minor, Some(0));
    }

    #[test]
    fn wrapped_lines_continue() {
        let t = "exists resource name:r0 role:Secondary suspended:no\nexists connection name:r0 peer-node-id:1 conn-name:remote-host connection:Connected role:Secondary\nexists device name:r0 volume:0 minor:7 disk:UpToDate\nexists peer-device name:r0 peer-node-id:1 conn-name:remote-host volume:0\n\treplication:Established peer-disk:UpToDate resync-suspended:no\nexists -\n";
        let s = parse_now(t).unwrap();
        assert_eq!(s[0].connections[0].peer.as_deref(), Some("remote-host"));
        assert_eq!(
            s[0].connections[0].peer_devices[0].replication,
            ReplState::Established
        );
    }

    #[test]
    fn errors() {
        let e = parse_now(&STANDALONE.replace("exists -\n", "")).unwrap_err();
        assert_eq!(e.line, 0);
        let e = parse_now("exists device name:x volume:0 minor:0 disk:UpToDate\nexists -\n")
            .unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("exists resource name:dns role\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("frobnicate resource name:dns\n").unwrap_err();
        assert!(e.message.contains("verb"));
        let e = parse_now("exists -\nchange resource name:dns role:Primary\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn stream_events_parse() {
        let ev = parse("change connection name:r0 peer-node-id:1 conn-name:remote-host connection:Connecting\n").unwrap();
        assert_eq!(ev[0].1.verb, Verb::Change);
        assert_eq!(ev[0].1.get("connection"), Some("Connecting"));
    }
}
