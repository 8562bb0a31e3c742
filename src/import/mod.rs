//! Adoption of a running, hand-built cluster (`xenflux import`): observe the named nodes
//! completely, then write the desired state that describes exactly what runs there, with every
//! allocation pinned (minor, port, meta-data slot, MAC) so the allocator keeps it, and what
//! xenflux cannot express listed in `IMPORT-NOTES.md` and as a comment at its document.
//!
//! This module reads (one batch of reads per node and step) and builds documents; it never
//! changes a node. A node that cannot be observed completely refuses the whole import.

mod build;
mod check;
mod read;
mod write;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::model::SshTarget;
use crate::observe::NodeState;
use crate::transport::Transport;

pub use build::{build, Imported};
pub use check::{first_plan, note_first_plan, FirstPlan, HARMLESS};
pub use read::read_node;
pub use write::{check_out_dir, render, sources, write_out, Written};

/// At most this many nodes in one import (the bound on the work one command does).
pub const MAX_NODES: usize = 64;
/// At most this many domain configs read per node.
pub const MAX_CONFIGS: usize = 4096;

/// Why an import refused. Nothing was written.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("node `{node}`: {part} could not be observed: {reason}")]
    Unobserved {
        node: String,
        part: String,
        reason: String,
    },
    #[error("node `{node}`: {what}")]
    Inexpressible { node: String, what: String },
    #[error("{0}")]
    Cluster(String),
    #[error("the imported state does not validate (a bug in import; nothing was written):\n{0}")]
    Invalid(String),
    #[error("{0}")]
    OutDir(String),
    /// Every node's refusal, so one run shows them all.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ImportError>),
}

/// A node as the operator named it on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeArg {
    /// What the transport is asked to reach (the sim's node name; ssh's destination).
    pub key: String,
    /// For ssh: host, user and port as given.
    pub ssh: Option<SshTarget>,
}

impl NodeArg {
    /// `user@host[:port]`, `host`, `[v6]:port` or an ssh Host alias.
    pub fn parse_ssh(s: &str) -> Result<NodeArg, String> {
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(format!("`{s}`: empty user before @")),
            None => (None, s),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("`{s}`: expected :PORT after ]")),
            };
            (h.to_string(), port)
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').expect("one colon");
            (h.to_string(), Some(p))
        } else {
            (rest.to_string(), None)
        };
        if host.is_empty() || host.starts_with('-') || host.chars().any(char::is_whitespace) {
            return Err(format!("`{s}`: not a host name"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{s}`: port `{p}` is not 1 to 65535"))?,
            ),
            None => None,
        };
        Ok(NodeArg {
            key: s.to_string(),
            ssh: Some(SshTarget { host, user, port }),
        })
    }
}

/// Everything read from one node.
#[derive(Clone, Debug)]
pub struct NodeObs {
    pub arg: NodeArg,
    /// The node's own host name: the Node's name.
    pub hostname: String,
    pub state: NodeState,
    /// `drbdadm dump-xml`, with the options the observation does not keep.
    pub drbd_xml: crate::drivers::drbd::dump_xml::DrbdConfig,
    /// `/etc/xen/*.cfg` by file name.
    pub xl_configs: BTreeMap<String, String>,
    /// `/proc/net/bonding/NAME` by bond.
    pub bonding: BTreeMap<String, crate::drivers::net::bonding::BondStatus>,
    /// Node slots of the OCFS2 filesystem on each backing device that holds one, or why they
    /// could not be read.
    pub ocfs2_slots: BTreeMap<String, Result<u32, String>>,
}

/// Something the state cannot say, for IMPORT-NOTES.md and a comment at its document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// `Kind/name` of the document it concerns (or `Cluster` for the whole).
    pub object: String,
    pub text: String,
}

/// Observes every node; refuses when any cannot be observed completely, naming each.
pub fn observe_all(t: &dyn Transport, nodes: &[NodeArg]) -> Result<Vec<NodeObs>, ImportError> {
    if nodes.is_empty() {
        return Err(ImportError::Cluster("give at least one --node".into()));
    }
    if nodes.len() > MAX_NODES {
        return Err(ImportError::Cluster(format!(
            "{} nodes given: at most {MAX_NODES} in one import",
            nodes.len()
        )));
    }
    // Every node at once (at most MAX_NODES threads): an import reads as long as its slowest node.
    let read: Vec<Result<NodeObs, ImportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| scope.spawn(move || read_node(t, n)))
            .collect();
        handles
            .into_iter()
            .zip(nodes)
            .map(|(h, n)| {
                h.join().unwrap_or_else(|_| {
                    Err(ImportError::Unobserved {
                        node: n.key.clone(),
                        part: "the node".into(),
                        reason: "reading it failed unexpectedly".into(),
                    })
                })
            })
            .collect()
    });
    let mut out: Vec<NodeObs> = Vec::new();
    let mut errors = Vec::new();
    for (n, obs) in nodes.iter().zip(read) {
        let obs = match obs {
            Ok(o) => o,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(prev) = out.iter().find(|o| o.hostname == obs.hostname) {
            errors.push(ImportError::Cluster(format!(
                "`{}` and `{}` are the same node (host name `{}`)",
                prev.arg.key, n.key, obs.hostname
            )));
            continue;
        }
        out.push(obs);
    }
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.remove(0)),
        _ => Err(ImportError::Several(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_destinations() {
        let a = NodeArg::parse_ssh("root@dom0.example.net:2222").unwrap();
        assert_eq!(
            a.ssh,
            Some(SshTarget {
                host: "dom0.example.net".into(),
                user: Some("root".into()),
                port: Some(2222)
            })
        );
        let a = NodeArg::parse_ssh("dom0").unwrap();
        assert_eq!(a.ssh.unwrap().port, None);
        let a = NodeArg::parse_ssh("[fe80::1]:22").unwrap();
        assert_eq!(a.ssh.unwrap().host, "fe80::1");
        let a = NodeArg::parse_ssh("fe80::1").unwrap();
        assert_eq!(a.ssh.unwrap().host, "fe80::1");
        for bad in [
            "-oProxyCommand=x",
            "root@",
            "@h",
            "h:0",
            "h:99999",
            "a b",
            "[::1",
        ] {
            assert!(NodeArg::parse_ssh(bad).is_err(), "{bad}");
        }
    }
}
