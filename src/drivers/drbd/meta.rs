//! `drbdmeta MINOR v08 DEV INDEX dump-md`: reading what a meta-data location holds before
//! anything is written there. The argv is built from the location itself (not a resource name),
//! so it works before the resource's configuration file exists, and the answer is read into
//! [`MetaFound`]: nothing there, meta-data that was created and never used, or meta-data in use.
//!
//! Shapes (real-tools/11-drbdmeta.txt): a dump starts `# DRBD meta data dump` with
//! `version "v08";` and a `uuid { CURRENT; BITMAP; HISTORY; HISTORY; flags F; }` block (v09:
//! `current-uuid 0x…;`), then `la-size-sect N;`; a blank location gives `No valid meta data
//! found` (exit 1), an indexed slot beyond the end of its device `Device too small: expecting
//! meta data block at …` (exit 10), an attached minor `Device 'N' is configured!` (exit 20).

use super::super::{argv, Argv, ParseError};
use crate::model::DrbdVersion;

const TOOL: &str = "drbdmeta dump-md";

/// DRBD's generation UUID of meta-data that `create-md` just wrote (`UUID_JUST_CREATED`).
const JUST_CREATED: u64 = 4;

/// Where a resource's meta-data lives on one node, as drbdmeta names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct MetaLocation {
    pub minor: u32,
    /// The device holding the meta-data (the data LV itself for internal meta-data).
    pub device: String,
    /// `0`, `1`, … (indexed), `flex-external`, or `internal`.
    pub index: String,
}

impl MetaLocation {
    /// How observations and reports name the location: `/dev/XEN/meta[2]`, `/dev/XEN/ovs-md`,
    /// `/dev/XEN/dns[internal]`.
    pub fn key(&self) -> String {
        match self.index.as_str() {
            "flex-external" => self.device.clone(),
            i => format!("{}[{i}]", self.device),
        }
    }
}

/// The on-disk formats a meta-data location is read in before anything is written there:
/// `dump-md` in one format does not see meta-data of the other ("No valid meta data found"),
/// so a location is blank only when neither finds any — whatever DRBD the cluster runs now.
pub const FORMATS: [DrbdVersion; 2] = [DrbdVersion::V84, DrbdVersion::V9];

/// `drbdmeta MINOR v08|v09 DEV INDEX dump-md`: read-only.
pub fn dump_md(at: &MetaLocation, version: DrbdVersion) -> Argv {
    let format = match version {
        DrbdVersion::V84 => "v08",
        DrbdVersion::V9 => "v09",
    };
    argv([
        "drbdmeta".to_string(),
        at.minor.to_string(),
        format.to_string(),
        at.device.clone(),
        at.index.clone(),
        "dump-md".to_string(),
    ])
}

/// What a meta-data location holds.
/// Ordered from nothing to most in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetaFound {
    /// No valid meta-data (or, for an indexed slot, the slot lies beyond the device's end).
    Nothing,
    /// Meta-data `create-md` wrote and nothing used since: generation UUID "just created", no
    /// size ever agreed with a peer, no bit set. Writing it again loses nothing.
    Unused,
    /// Meta-data of a device that has been used: writing over it throws away its generation
    /// UUIDs and bitmap, and so which side holds the good data.
    InUse,
}

/// Reads a `dump-md` run. Anything that does not say clearly what is there is an error, which a
/// caller must read as "not known to be blank".
pub fn dump_md_result(stdout: &str, stderr: &str, exit: i32) -> Result<MetaFound, ParseError> {
    match exit {
        0 => parse_dump(stdout),
        _ if stderr.contains("No valid meta data found") => Ok(MetaFound::Nothing),
        10 if stderr.contains("Device too small: expecting meta data block") => {
            Ok(MetaFound::Nothing)
        }
        n => Err(ParseError::whole(
            TOOL,
            format!(
                "exit status {n}: {}",
                stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
            ),
        )),
    }
}

fn hex(word: &str) -> Option<u64> {
    let w = word.trim().trim_end_matches(';').trim();
    u64::from_str_radix(w.strip_prefix("0x").or(w.strip_prefix("0X"))?, 16).ok()
}

fn parse_dump(text: &str) -> Result<MetaFound, ParseError> {
    let mut version = None;
    let mut current = None;
    let mut la_size = None;
    let mut bits_set = None;
    let mut in_uuid = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(v) = line.strip_prefix("version ") {
            version = Some(v.trim_end_matches(';').trim_matches('"').to_string());
        } else if line.starts_with("uuid {") {
            in_uuid = true;
        } else if in_uuid {
            if current.is_none() {
                let first = line.split(';').next().unwrap_or("");
                current = Some(hex(first).ok_or_else(|| {
                    ParseError::new(TOOL, i + 1, raw, "expected the current generation UUID")
                })?);
            }
            if line.starts_with('}') {
                in_uuid = false;
            }
        } else if let Some(v) = line.strip_prefix("current-uuid ") {
            current =
                Some(hex(v).ok_or_else(|| ParseError::new(TOOL, i + 1, raw, "bad current-uuid"))?);
        } else if let Some(v) = line.strip_prefix("la-size-sect ") {
            la_size = v.trim_end_matches(';').trim().parse::<u64>().ok();
        } else if let Some(v) = line.strip_prefix("# bits-set ") {
            bits_set = v.trim_end_matches(';').trim().parse::<u64>().ok();
        }
    }
    if version.is_none() {
        return Err(ParseError::whole(TOOL, "exit 0 but no `version` line"));
    }
    let current = current.ok_or_else(|| ParseError::whole(TOOL, "no current generation UUID"))?;
    // The low bit of a generation UUID carries the "was primary" flag.
    let unused = current & !1 == JUST_CREATED && la_size == Some(0) && bits_set.unwrap_or(0) == 0;
    Ok(if unused {
        MetaFound::Unused
    } else {
        MetaFound::InUse
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: &str = "# DRBD meta data dump\n#\n\nversion \"v08\";\n\n# md_size_sect 262144\nuuid {\n    0x0000000000000004; 0x0000000000000000; 0x0000000000000000; 0x0000000000000000;\n    flags 0x00000000;\n}\n# al-extents 257;\nla-size-sect 0;\nbm-byte-per-bit 4096;\nbm {\n}\n# bits-set 0;\n";

    #[test]
    fn argv_names_the_location() {
        let at = MetaLocation {
            minor: 9,
            device: "/dev/XEN/meta".into(),
            index: "1".into(),
        };
        assert_eq!(
            dump_md(&at, DrbdVersion::V84).join(" "),
            "drbdmeta 9 v08 /dev/XEN/meta 1 dump-md"
        );
    }

    #[test]
    fn fresh_used_and_absent() {
        assert_eq!(dump_md_result(FRESH, "", 0), Ok(MetaFound::Unused));
        let used = FRESH
            .replace("0x0000000000000004;", "0x6F1B3A22C0D9E5F1;")
            .replace("la-size-sect 0;", "la-size-sect 131072;");
        assert_eq!(dump_md_result(&used, "", 0), Ok(MetaFound::InUse));
        // Size agreed once: used, even with the initial UUID.
        let sized = FRESH.replace("la-size-sect 0;", "la-size-sect 8;");
        assert_eq!(dump_md_result(&sized, "", 0), Ok(MetaFound::InUse));
        assert_eq!(
            dump_md_result("", "No valid meta data found\n", 1),
            Ok(MetaFound::Nothing)
        );
        assert_eq!(
            dump_md_result(
                "",
                "Device too small: expecting meta data block at\nbyte offset 268435456, but /dev/loop0 is only 268435456 bytes.\n",
                10
            ),
            Ok(MetaFound::Nothing)
        );
        assert!(dump_md_result("", "Device '9' is configured!\n", 20).is_err());
        assert!(dump_md_result("garbage", "", 0).is_err());
    }

    #[test]
    fn v09_current_uuid() {
        let v9 = "version \"v09\";\nmax-peers 1;\nnode-id -1;\ncurrent-uuid 0x0000000000000004;\nflags 0x00000080;\nla-size-sect 0;\n# bits-set 0;\n";
        assert_eq!(dump_md_result(v9, "", 0), Ok(MetaFound::Unused));
        let used = v9.replace("0x0000000000000004", "0xABCDEF0123456789");
        assert_eq!(dump_md_result(&used, "", 0), Ok(MetaFound::InUse));
    }

    #[test]
    fn real_capture_reads_as_unused() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real-tools/11-drbdmeta.txt"
        ));
        let Ok(text) = text else { return };
        // The first dump in the capture follows a create-md on a blank device.
        let start = text.find("# DRBD meta data dump").unwrap_or(0);
        let end = text[start..]
            .find("[exit status")
            .map_or(text.len(), |e| start + e);
        assert_eq!(
            dump_md_result(&text[start..end], "", 0),
            Ok(MetaFound::Unused)
        );
    }
}
