//! The `Snapshot` kind: an LVM snapshot of a volume's backing LV, taken on the node where the
//! volume is Primary and hot-attached read-only to a (backup) domain running on that node.
//! Present in the state means "exists and attached"; removed means "detached and removed".

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::Name;
use super::units::Size;

/// The suffix of a snapshot's LV: `NAME.snap`. A `.` never appears in an object name, so a
/// snapshot LV can never be taken for a volume's LV (or its `-md`), nor a volume for a snapshot.
pub const SNAPSHOT_LV_SUFFIX: &str = ".snap";

/// A point-in-time, copy-on-write LVM snapshot of a volume's backing LV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SnapshotSpec {
    /// The Volume whose backing LV is snapshotted (single-primary; on the node where it is
    /// Primary).
    pub volume: Name,
    /// Copy-on-write space (`lvcreate -s -L`): what the origin may change while the snapshot
    /// exists. Whole 4 MiB extents, at least 4 MiB. When it fills up, the snapshot becomes
    /// invalid (its data is gone) and is reported.
    pub size: Size,
    /// The domain it is hot-attached to, read-only; it must run on the snapshot's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<SnapshotAttach>,
}

/// Where a snapshot is attached: always read-only (`xl block-attach DOMAIN
/// phy:/dev/VG/NAME.snap,TARGET,r`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotAttach {
    /// A Domain of the desired state (e.g. a backup server's).
    pub domain: Name,
    /// Virtual device in that domain: xvdb, xvdc, ... (not one of its own disks).
    pub target: String,
}

/// The LV name of the snapshot called `name`.
pub fn snapshot_lv(name: &str) -> String {
    format!("{name}{SNAPSHOT_LV_SUFFIX}")
}
