//! The DRBD configuration as drbdadm reads it on a node: `/etc/drbd.conf` and its includes
//! (`drbd.d/global_common.conf`, `drbd.d/*.res`), parsed in the syntax xenflux renders (8.4 `on`
//! sections, DRBD 9 `node-id`/`volume`/`connection-mesh`) and the lab's (resource-level
//! `device`/`disk`/`meta-disk` inherited by the hosts). Checked like drbdadm does: parse errors,
//! DRBD 8.4's required `meta-disk`, duplicate minors, addresses and meta-data slots, and the
//! local host's address (all exit 10, with drbd-utils 9.22's messages from real-tools/10-drbd.txt).
//! Also renders `drbdadm dump-xml` in its real layout.

mod check;
mod parse;
mod xml;

use crate::model::DrbdVersion;

use super::state::{MetaLoc, Node, PeerConf, ResConf};

use std::sync::Arc;
pub(crate) use xml::dump_xml;

/// A `net { }`, `disk { }`, ... section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

/// Volume 0 of a host: device, backing disk, meta-data, and where they were written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VolDef {
    pub device: Option<String>,
    pub minor: Option<u32>,
    pub disk: Option<String>,
    pub meta: Option<MetaLoc>,
    pub device_line: usize,
    pub meta_line: usize,
}

/// An `address [FAMILY] IP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddrDef {
    pub family: String,
    pub ip: String,
    pub port: u16,
    pub line: usize,
}

/// An `on HOST { }` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostDef {
    pub name: String,
    pub line: usize,
    /// DRBD 9 `node-id`.
    pub node_id: Option<u32>,
    pub vol: VolDef,
    pub address: Option<AddrDef>,
}

/// A `resource NAME { }` and the file and line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResDef {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub hosts: Vec<HostDef>,
    pub sections: Vec<Section>,
    pub mesh: Option<Vec<String>>,
}

impl ResDef {
    pub fn option(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| &s.options)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn host(&self, name: &str) -> Option<&HostDef> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// What `up` applies on `node`, or `None` when the resource has no complete section for it.
    pub fn res_conf(&self, node: &str) -> Option<ResConf> {
        let me = self.host(node)?;
        let addr = me.address.as_ref()?;
        let peer_names: Vec<&str> = match &self.mesh {
            Some(m) => m.iter().map(String::as_str).collect(),
            None => self.hosts.iter().map(|h| h.name.as_str()).collect(),
        };
        let id = |name: &str| {
            let h = self.host(name);
            h.and_then(|h| h.node_id).unwrap_or_else(|| {
                let pos = self.hosts.iter().position(|h| h.name == name).unwrap_or(0);
                u32::try_from(pos).unwrap_or(u32::MAX)
            })
        };
        let peers = peer_names
            .into_iter()
            .filter(|p| *p != node)
            .filter_map(|p| {
                let a = self.host(p)?.address.as_ref()?;
                Some(PeerConf {
                    node: p.to_string(),
                    node_id: id(p),
                    ip: a.ip.clone(),
                    port: a.port,
                })
            })
            .collect();
        Some(ResConf {
            minor: me.vol.minor?,
            node_id: id(node),
            disk: me.vol.disk.clone()?,
            meta: me.vol.meta.clone().unwrap_or(MetaLoc::Internal),
            ip: addr.ip.clone(),
            port: addr.port,
            peers,
            protocol: self.option("net", "protocol").unwrap_or("C").to_string(),
            two_primaries: self.option("net", "allow-two-primaries") == Some("yes"),
        })
    }
}

/// Everything drbdadm read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Config {
    pub common: Vec<Section>,
    pub resources: Vec<ResDef>,
}

impl Config {
    pub fn resource(&self, name: &str) -> Option<&ResDef> {
        self.resources.iter().find(|r| r.name == name)
    }
}

/// A configuration drbdadm refuses: its message (stderr) and exit status.
#[derive(Clone)]
pub(crate) struct ConfError {
    pub status: i32,
    pub stderr: String,
}

/// The files `/etc/drbd.conf` includes, in order.
fn included(node: &Node, conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (t, _) in parse::tokenize(conf)
        .windows(2)
        .filter(|w| w[0].0 == "include")
        .map(|w| w[1])
    {
        let path = if t.starts_with('/') {
            t.to_string()
        } else {
            format!("/etc/{t}")
        };
        match path.split_once('*') {
            Some((prefix, suffix)) => {
                // The files are in name order: those under the prefix are one range of them.
                out.extend(
                    node.files
                        .range::<str, _>((
                            std::ops::Bound::Included(prefix),
                            std::ops::Bound::Unbounded,
                        ))
                        .map(|(f, _)| f)
                        .take_while(|f| f.starts_with(prefix))
                        .filter(|f| f.ends_with(suffix) && !f[prefix.len()..].contains('/'))
                        .cloned(),
                );
            }
            None => out.push(path),
        }
    }
    out
}

/// What a configuration was read from: the node's files (by their stamp, which changes with
/// every write or removal of a file), the host's name and addresses (the checks depend on
/// them) and the DRBD version.
#[derive(PartialEq, Eq)]
struct Inputs {
    files: u64,
    host: String,
    ips: std::collections::BTreeSet<String>,
    version: DrbdVersion,
}

impl Inputs {
    fn of(node: &Node, version: DrbdVersion) -> Inputs {
        Inputs {
            files: node.files.stamp(),
            host: node.name.clone(),
            ips: node.ips(),
            version,
        }
    }
}

/// Reads and checks a node's whole DRBD configuration, as every drbdadm command does first.
fn read(node: &Node, version: DrbdVersion) -> Result<Config, ConfError> {
    let v84 = version == DrbdVersion::V84;
    let Some(main) = node.files.get("/etc/drbd.conf") else {
        return Err(ConfError {
            status: 20,
            stderr: "Can not open '/etc/drbd.conf'.\n.".into(),
        });
    };
    let mut cfg = Config::default();
    parse::file(&mut cfg, "/etc/drbd.conf", main, v84)?;
    for f in included(node, main) {
        let Some(text) = node.files.get(&f) else {
            continue; // drbdadm skips an include glob or file that matches nothing
        };
        parse::file(&mut cfg, &f, text, v84)?;
    }
    check::check(&cfg, node, v84).map(|()| cfg)
}

/// The last configuration each node's drbdadm read, with what it was read from. drbdadm reads
/// the whole configuration for every command, and an apply runs several commands per resource
/// on nodes of hundreds of resources: reading it again only when a file (or the host) changed
/// keeps that linear. Not part of the simulated state: it is never saved, compared or cloned.
#[derive(Default)]
pub(crate) struct Cache {
    nodes: std::collections::BTreeMap<String, (Inputs, Result<Arc<Config>, ConfError>)>,
}

impl Cache {
    /// The node's configuration, read and checked as every drbdadm command does first; from
    /// the cache when nothing it was read from has changed.
    pub(crate) fn load(
        &mut self,
        node: &Node,
        version: DrbdVersion,
    ) -> Result<Arc<Config>, ConfError> {
        let inputs = Inputs::of(node, version);
        if let Some((then, read)) = self.nodes.get(&node.name) {
            if *then == inputs {
                return read.clone();
            }
        }
        let read = read(node, version).map(Arc::new);
        self.nodes.insert(node.name.clone(), (inputs, read.clone()));
        read
    }
}

impl Clone for Cache {
    fn clone(&self) -> Self {
        Cache::default()
    }
}

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}
