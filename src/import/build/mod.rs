//! From what the nodes have to the documents that describe it: one spec per object, every
//! allocation pinned, and a [`Note`] for whatever the specs cannot say. Pure: no I/O.

use std::collections::BTreeMap;

use crate::drivers::drbd::dump_xml::Section;
use crate::model::{ClusterSpec, Desired, DrbdVersion, Name, PortRange, Rate};

use super::{ImportError, NodeObs, Note};

mod domains;
mod network;
mod storage;

use domains::domains;
use network::{network, ocfs2};
use storage::{nodes, volumes};

/// The imported state — the documents, as the desired state holds them — and the notes.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub state: Desired,
    pub notes: Vec<Note>,
}

impl Imported {
    fn note(&mut self, object: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note {
            object: object.into(),
            text: text.into(),
        });
    }
}

fn name(s: &str) -> Option<Name> {
    s.parse().ok()
}

fn inexpressible(node: &str, what: String) -> ImportError {
    ImportError::Inexpressible {
        node: node.to_string(),
        what,
    }
}

/// `/dev/VG/LV` → (VG, LV).
fn vg_lv(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    (!lv.contains('/')).then_some((vg, lv))
}

fn section_option<'a>(sections: &'a [Section], section: &str, key: &str) -> Option<&'a str> {
    sections
        .iter()
        .filter(|s| s.name == section)
        .flat_map(|s| &s.options)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Resource options xenflux writes itself, by section.
const MODELLED_RESOURCE_OPTIONS: &[(&str, &str)] = &[
    ("net", "protocol"),
    ("net", "allow-two-primaries"),
    ("disk", "resync-rate"),
    ("disk", "c-plan-ahead"),
    ("startup", "become-primary-on"),
];

/// One refusal as itself, several as [`ImportError::Several`].
fn several(mut errors: Vec<ImportError>) -> ImportError {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        ImportError::Several(errors)
    }
}

/// Builds the state from every node's observation; every refusal at once.
pub fn build(obs: &[NodeObs], cluster_name: &str) -> Result<Imported, ImportError> {
    let mut out = Imported::default();
    out.state.cluster_name = cluster_name.to_string();
    let hosts: BTreeMap<&str, &NodeObs> = obs.iter().map(|o| (o.hostname.as_str(), o)).collect();
    let mut errors = Vec::new();
    if name(cluster_name).is_none() {
        errors.push(ImportError::Cluster(format!(
            "cluster name `{cluster_name}` is not a valid object name (lower-case letters, digits, `-`)"
        )));
    }
    for o in obs {
        if name(&o.hostname).is_none() {
            errors.push(inexpressible(
                &o.arg.key,
                format!(
                    "host name `{}` is not a valid object name (lower-case letters, digits, `-`)",
                    o.hostname
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(several(errors));
    }
    volumes(&mut out, obs, &hosts, &mut errors);
    nodes(&mut out, obs, &mut errors);
    if let Err(e) = ocfs2(&mut out, obs) {
        errors.push(e);
    }
    if !errors.is_empty() {
        return Err(several(errors));
    }
    cluster(&mut out, obs);
    domains(&mut out, obs);
    network(&mut out, obs);
    out.notes.sort();
    out.notes.dedup();
    Ok(out)
}

fn cluster(out: &mut Imported, obs: &[NodeObs]) {
    let mut spec = ClusterSpec::default();
    let v9 = obs.iter().any(|o| {
        o.state
            .drbd
            .known()
            .and_then(|d| d.module_version.as_deref())
            .is_some_and(|v| v.starts_with('9'))
    });
    spec.drbd.version = if v9 {
        DrbdVersion::V9
    } else {
        DrbdVersion::V84
    };
    let ports: Vec<u16> = out.state.volumes.values().filter_map(|v| v.port).collect();
    let default = PortRange::default();
    spec.drbd.ports = PortRange {
        first: ports
            .iter()
            .copied()
            .min()
            .map_or(default.first, |p| p.min(default.first)),
        last: ports
            .iter()
            .copied()
            .max()
            .map_or(default.last, |p| p.max(default.last)),
    };
    // The most common resync rate becomes the default when every volume has one.
    let mut rates: BTreeMap<String, usize> = BTreeMap::new();
    for v in out.state.volumes.values() {
        if let Some(r) = &v.sync_rate {
            *rates.entry(r.to_string()).or_default() += 1;
        }
    }
    let all_rated = out.state.volumes.values().all(|v| v.sync_rate.is_some());
    if all_rated {
        if let Some((common, _)) = rates
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(*r)))
        {
            let common: Rate = common.parse().expect("rendered from a Rate");
            for v in out.state.volumes.values_mut() {
                if v.sync_rate.as_ref() == Some(&common) {
                    v.sync_rate = None;
                }
            }
            spec.drbd.sync_rate = Some(common);
        }
    }
    for v in out.state.volumes.values_mut() {
        if v.protocol == Some(spec.drbd.protocol) {
            v.protocol = None;
        }
    }
    // Common-section options xenflux does not write.
    for o in obs {
        for sec in &o.drbd_xml.common {
            for (k, v) in &sec.options {
                let ours = sec.name == "net" && k.starts_with("after-sb-") && v == "disconnect"
                    || sec.name == "global" && k == "usage-count";
                if !ours {
                    out.note(
                        "Cluster",
                        format!(
                            "DRBD common option `{} {{ {k} {v}; }}` on {} is not modelled: xenflux's global_common.conf drops it",
                            sec.name, o.hostname
                        ),
                    );
                }
            }
        }
    }
    out.state.cluster = spec;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_paths() {
        assert_eq!(vg_lv("/dev/XEN/dns"), Some(("XEN", "dns")));
        assert_eq!(vg_lv("/dev/sdb1"), None);
        assert_eq!(vg_lv("/dev/mapper/a/b"), None);
    }
}
