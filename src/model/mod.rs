//! The desired state: kube-style documents (`apiVersion`, `kind`, `metadata`, `spec`) and the
//! validated whole they form. No I/O here; `load` reads files and `validate` builds a [`Desired`].

pub mod image;
pub mod names;
pub mod notify;
pub mod protection;
pub mod snapshot;
pub mod spec;
pub mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use image::ImagePath;
pub use names::{Cidr, IfName, LvName, LvmName, Mac, MountOptions, MountPath, Name};
pub use notify::{AlertSpec, EventKind, EventSeverity, ProviderSpec, ProviderType, RateLimit};
pub use protection::{CheckpointInterval, DiskReplication, ProtectionMode, ProtectionSpec};
pub use snapshot::{snapshot_lv, SnapshotAttach, SnapshotSpec};
pub use spec::*;
pub use units::{Duration, Rate, Size};

pub const API_VERSION: &str = "xenflux/v1";

/// The kinds of document in `cluster-state/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    Cluster,
    Node,
    Volume,
    Domain,
    Bond,
    Bridge,
    Ocfs2Cluster,
    Provider,
    Alert,
    Snapshot,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Cluster,
        Kind::Node,
        Kind::Volume,
        Kind::Domain,
        Kind::Bond,
        Kind::Bridge,
        Kind::Ocfs2Cluster,
        Kind::Provider,
        Kind::Alert,
        Kind::Snapshot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "Cluster",
            Kind::Node => "Node",
            Kind::Volume => "Volume",
            Kind::Domain => "Domain",
            Kind::Bond => "Bond",
            Kind::Bridge => "Bridge",
            Kind::Ocfs2Cluster => "Ocfs2Cluster",
            Kind::Provider => "Provider",
            Kind::Alert => "Alert",
            Kind::Snapshot => "Snapshot",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: Name,
    /// Free-form labels; xenflux does not interpret them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One document: the envelope around a kind's spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

/// The whole desired state after validation: every reference resolves, every rule holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Desired {
    /// Name of the Cluster document (`default` when there is none).
    pub cluster_name: String,
    pub cluster: ClusterSpec,
    pub nodes: BTreeMap<Name, NodeSpec>,
    pub volumes: BTreeMap<Name, VolumeSpec>,
    pub domains: BTreeMap<Name, DomainSpec>,
    pub bonds: BTreeMap<Name, BondSpec>,
    pub bridges: BTreeMap<Name, BridgeSpec>,
    pub ocfs2: BTreeMap<Name, Ocfs2ClusterSpec>,
    /// Where notifications go.
    pub providers: BTreeMap<Name, ProviderSpec>,
    /// Which events go to which provider.
    pub alerts: BTreeMap<Name, AlertSpec>,
    /// LVM snapshots of volumes, attached to (backup) domains.
    pub snapshots: BTreeMap<Name, SnapshotSpec>,
}

impl Desired {
    /// The volumes on each node (any node a volume names, known or not), each once and in
    /// name order: one pass, for work done node by node over a large estate.
    pub fn volumes_by_node(&self) -> BTreeMap<&Name, Vec<(&Name, &VolumeSpec)>> {
        let mut by_node: BTreeMap<&Name, Vec<(&Name, &VolumeSpec)>> = BTreeMap::new();
        for (name, v) in &self.volumes {
            for n in &v.nodes {
                let list = by_node.entry(n).or_default();
                // A volume that names a node twice (invalid) is still one volume there.
                if list.last().is_none_or(|(last, _)| *last != name) {
                    list.push((name, v));
                }
            }
        }
        by_node
    }

    /// Nodes a Bond or Bridge with `nodes` (None = all) is on.
    pub fn nodes_of(&self, nodes: &Option<Vec<Name>>) -> Vec<Name> {
        match nodes {
            Some(list) => list.clone(),
            None => self.nodes.keys().cloned().collect(),
        }
    }

    /// The effective resync rate of a volume: its own, else the cluster default.
    pub fn sync_rate<'a>(&'a self, v: &'a VolumeSpec) -> Option<&'a Rate> {
        v.sync_rate
            .as_ref()
            .or(self.cluster.drbd.sync_rate.as_ref())
    }

    pub fn protocol(&self, v: &VolumeSpec) -> Protocol {
        v.protocol.unwrap_or(self.cluster.drbd.protocol)
    }

    /// Volumes carried by an OCFS2 filesystem, with the cluster and filesystem.
    pub fn ocfs2_filesystems(&self) -> impl Iterator<Item = (&Name, &Ocfs2Filesystem)> {
        self.ocfs2
            .iter()
            .flat_map(|(c, spec)| spec.filesystems.iter().map(move |f| (c, f)))
    }

    /// The OCFS2 filesystem (and its cluster) an image file lies on.
    pub fn image_filesystem(&self, path: &ImagePath) -> Option<(&Name, &Ocfs2Filesystem)> {
        image::image_filesystem(&self.ocfs2, path)
    }

    /// The nodes that mount the filesystem an image file lies on (none when it lies on none).
    pub fn image_nodes(&self, path: &ImagePath) -> Vec<Name> {
        self.image_filesystem(path)
            .map(|(c, f)| image::filesystem_nodes(&self.ocfs2, &self.volumes, c, f))
            .unwrap_or_default()
    }

    pub fn domains_on(&self, node: &Name) -> BTreeSet<&Name> {
        self.domains
            .iter()
            .filter(|(_, d)| &d.node == node)
            .map(|(n, _)| n)
            .collect()
    }
}
