//! Parser for `/proc/net/bonding/bondN`: the bond's mode and MII settings, then one
//! `Slave Interface:` block per slave (`Speed: Unknown` for dummy slaves). Real capture: kernel
//! 6.1, active-backup over two dummies (`tests/fixtures/proc-net-bonding-*`); the other shapes
//! follow the kernel's `bond_procfs.c`: an active-backup bond with `fail_over_mac` set prints
//! `Bonding Mode: fault-tolerance (active-backup) (fail_over_mac active)`, a primary slave is
//! followed by ` (primary_reselect always)`, 802.3ad adds an `802.3ad info` block, a
//! tab-indented `Active Aggregator Info` and per-slave LACP PDU details, and the IPv6 ARP
//! target line's key holds `::`. A slave listed twice is refused. Pure text in.

use super::BondMode;
use crate::drivers::ParseError;

const TOOL_BONDING: &str = "/proc/net/bonding";

/// `/proc/net/bonding/bondN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondStatus {
    /// `Ethernet Channel Bonding Driver: v6.1.0-56-amd64` → `v6.1.0-56-amd64`.
    pub driver_version: String,
    pub mode: BondMode,
    /// `Primary Slave:`; `None` when it says `None`.
    pub primary_slave: Option<String>,
    pub active_slave: Option<String>,
    pub mii_status: Option<String>,
    pub miimon_ms: Option<u32>,
    /// Every top-level `key: value` line of the bond, in order.
    pub fields: Vec<(String, String)>,
    pub slaves: Vec<BondSlave>,
}

/// One `Slave Interface:` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondSlave {
    pub name: String,
    pub mii_status: Option<String>,
    /// `Speed:` as printed (`1000 Mbps`, `Unknown`).
    pub speed: Option<String>,
    pub duplex: Option<String>,
    pub link_failure_count: Option<u32>,
    pub perm_hwaddr: Option<String>,
    /// Every top-level `key: value` line of the slave, in order.
    pub fields: Vec<(String, String)>,
}

fn lookup<'f>(fields: &'f [(String, String)], key: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses `/proc/net/bonding/bondN`. Indented detail blocks (802.3ad aggregator and LACP PDU
/// details) and header lines without a colon ("802.3ad info") are skipped.
pub fn parse_bonding(input: &str) -> Result<BondStatus, ParseError> {
    let mut lines = input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (no, first) = lines
        .next()
        .ok_or_else(|| ParseError::whole(TOOL_BONDING, "empty"))?;
    let driver_version = first
        .strip_prefix("Ethernet Channel Bonding Driver:")
        .ok_or_else(|| ParseError::new(TOOL_BONDING, no + 1, first, "not a bonding status file"))?
        .trim()
        .to_string();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut slaves: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (no, line) in lines {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        // "key: value", "key:" (an empty list), and keys that hold colons themselves
        // ("NS IPv6 target/s (xx::xx form): ...").
        let Some((k, v)) = line
            .split_once(": ")
            .or_else(|| line.trim_end().strip_suffix(':').map(|k| (k, "")))
            .or_else(|| line.split_once(':'))
        else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k == "Slave Interface" {
            if v.is_empty() {
                return Err(ParseError::new(
                    TOOL_BONDING,
                    no + 1,
                    line,
                    "slave without a name",
                ));
            }
            if !names.insert(v.clone()) {
                return Err(ParseError::new(
                    TOOL_BONDING,
                    no + 1,
                    line,
                    "a slave listed twice",
                ));
            }
            slaves.push((v, Vec::new()));
        } else if let Some((_, f)) = slaves.last_mut() {
            f.push((k, v));
        } else {
            fields.push((k, v));
        }
    }
    let mode = lookup(&fields, "Bonding Mode")
        .ok_or_else(|| ParseError::whole(TOOL_BONDING, "no \"Bonding Mode:\" line"))?;
    let some = |v: Option<&str>| v.filter(|v| *v != "None").map(str::to_string);
    // "fault-tolerance (active-backup) (fail_over_mac active)": the option is not the mode.
    let mode = mode.split_once(" (fail_over_mac ").map_or(mode, |(m, _)| m);
    // "eth0 (primary_reselect always)": the slave's name is the first word.
    let primary = lookup(&fields, "Primary Slave")
        .map(|p| p.split_once(" (primary_reselect ").map_or(p, |(n, _)| n));
    Ok(BondStatus {
        driver_version,
        mode: BondMode::from_proc(mode),
        primary_slave: some(primary),
        active_slave: some(lookup(&fields, "Currently Active Slave")),
        mii_status: lookup(&fields, "MII Status").map(str::to_string),
        miimon_ms: lookup(&fields, "MII Polling Interval (ms)").and_then(|v| v.parse().ok()),
        slaves: slaves
            .into_iter()
            .map(|(name, f)| BondSlave {
                name,
                mii_status: lookup(&f, "MII Status").map(str::to_string),
                speed: lookup(&f, "Speed").map(str::to_string),
                duplex: lookup(&f, "Duplex").map(str::to_string),
                link_failure_count: lookup(&f, "Link Failure Count").and_then(|v| v.parse().ok()),
                perm_hwaddr: lookup(&f, "Permanent HW addr").map(str::to_string),
                fields: f,
            })
            .collect(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bonding_errors() {
        assert_eq!(parse_bonding("").unwrap_err().line, 0);
        assert_eq!(parse_bonding("\nhello\n").unwrap_err().line, 2);
        assert_eq!(
            parse_bonding("Ethernet Channel Bonding Driver: v6\n")
                .unwrap_err()
                .line,
            0
        );
        let e = parse_bonding(
            "Ethernet Channel Bonding Driver: v6\nBonding Mode: x\nSlave Interface:\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
    }
}
