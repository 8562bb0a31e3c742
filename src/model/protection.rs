//! A Domain's `protection`: a running shadow copy of the domain on its peer, checkpointed many
//! times a second (Xen's Remus, `xl remus`), so that it survives its host's failure without a
//! restart. The shape as an operator writes it; the rules are in `validate`, the commands in
//! `drivers::remus`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// `protection` of a Domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProtectionSpec {
    /// `remus`: a shadow on the peer, resumed by Xen itself when the host dies.
    pub mode: ProtectionMode,
    /// How often the domain is checkpointed to its shadow (`xl remus -i`): 20ms to 10s,
    /// default 200ms (xl's own default).
    #[serde(default = "default_interval")]
    pub interval: CheckpointInterval,
    /// Hold the domain's network output until the checkpoint that produced it reached the
    /// shadow (Remus's default, needs the `ifb` module and libxl built with libnl3 on the
    /// host). `false` runs `xl remus -n -F`: what the domain sent since the last checkpoint
    /// may be seen twice or lost after a failover.
    #[serde(default = "yes")]
    pub network_buffering: bool,
    /// How the shadow's disks follow the domain's: `drbd` is Remus's DRBD disk replication,
    /// which needs DRBD's protocol D (a Remus patch to DRBD that stock DRBD 8.4 and 9 do not
    /// have; refused); `none` runs `xl remus -d -F`: the disks stay replicated by DRBD
    /// (protocol C, both nodes Primary: the volumes must be `dualPrimary`), not in step with
    /// the checkpoints, so after a failover the shadow resumes with memory up to `interval`
    /// older than its disks.
    pub disk_replication: DiskReplication,
}

fn yes() -> bool {
    true
}

fn default_interval() -> CheckpointInterval {
    CheckpointInterval { ms: 200 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtectionMode {
    /// Xen's Remus (`xl remus`).
    Remus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiskReplication {
    /// Remus's own DRBD disk replication (`block-drbd-probe`, protocol D).
    Drbd,
    /// No disk replication by Remus (`xl remus -d -F`); DRBD protocol C keeps the disks.
    None,
}

/// A checkpoint interval in milliseconds, written `200ms`, `1s` or `1500ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointInterval {
    pub ms: u32,
}

/// Shortest interval accepted: below it a domain spends more time suspended than running.
pub const MIN_INTERVAL_MS: u32 = 20;
/// Longest interval accepted: longer is no continuous protection.
pub const MAX_INTERVAL_MS: u32 = 10_000;

impl FromStr for CheckpointInterval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid interval `{s}`: use ms or s, e.g. 200ms or 1s, from {MIN_INTERVAL_MS}ms to {}s",
                MAX_INTERVAL_MS / 1000
            )
        };
        let t = s.trim();
        let (digits, factor) = match t.strip_suffix("ms") {
            Some(d) => (d, 1),
            None => (t.strip_suffix('s').ok_or_else(bad)?, 1000),
        };
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let ms = digits.parse::<u32>().map_err(|_| bad())? * factor;
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
            return Err(bad());
        }
        Ok(CheckpointInterval { ms })
    }
}

impl fmt::Display for CheckpointInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.ms)
    }
}

impl Serialize for CheckpointInterval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CheckpointInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        v.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for CheckpointInterval {
    fn schema_name() -> Cow<'static, str> {
        "CheckpointInterval".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A checkpoint interval in ms or s, e.g. 200ms or 1s (20ms to 10s).",
            "type": "string",
            "pattern": "^[0-9]+(ms|s)$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_read_in_ms_or_s_and_bounded() {
        assert_eq!("200ms".parse(), Ok(CheckpointInterval { ms: 200 }));
        assert_eq!("1s".parse(), Ok(CheckpointInterval { ms: 1000 }));
        assert_eq!("10s".parse(), Ok(CheckpointInterval { ms: 10_000 }));
        for bad in [
            "",
            "ms",
            "s",
            "19ms",
            "11s",
            "0s",
            "200",
            "2m",
            "1.5s",
            "-5ms",
            "99999999999ms",
        ] {
            assert!(
                bad.parse::<CheckpointInterval>().is_err(),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(CheckpointInterval { ms: 1000 }.to_string(), "1000ms");
    }
}
