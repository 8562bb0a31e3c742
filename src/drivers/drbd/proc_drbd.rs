//! Parser for `/proc/drbd` as DRBD 8.0, 8.3 and 8.4 print it (fixtures `proc-drbd-8.0*`,
//! `proc-drbd-8.3*` and `proc-drbd-8.4*`, among them Ganeti's captures of 8.0.12, 8.3.1, 8.3.11
//! and 8.4.2): a `version:` line, then `GIT-hash: … build by …` (8.3, 8.4 from git) or
//! `srcversion:` (8.4 packaged builds, with a trailing space), then per minor
//! ` N: cs:.. ro:a/b ds:a/b C r-----` (`%2d:`, so minors from 10 on are not indented; 8.3 prints
//! five flags, 8.4 six), an indented counters line, and during a resync a progress bar and a
//! `finish:` line. A StandAlone device has a blank protocol letter; an unconfigured minor is just
//! ` N: cs:Unconfigured`; a gap between minors prints a blank line.
//!
//! Kernel quirks it tolerates: a NUL byte in the flags (older kernels print an unset congestion
//! reason as `\0`) and other control characters, trailing blanks, a bar counted in `M` whose
//! `finish:` follows on the same line (no newline after `)M` in some 8.3/8.4 kernels), and the
//! tab-indented detail lines `proc_details` adds (`sector pos:`, `resync:`/`act_log:` cache
//! statistics, `rs_left` dumps), which are skipped. DRBD 9 lists no devices here (only the
//! version lines): use `drbdsetup status --json` there. DRBD 8.0 says `st:` where later
//! versions say `ro:` and prints four flags; both are read. DRBD 0.7's `ld:` layout is not.
//!
//! What it refuses (an error, so the caller makes DRBD unknown rather than guess): a file with
//! no `version:` line, two lines for one minor, a minor above 2^20-1, a configured minor without
//! `ro:`/`ds:` (it would read as "not in the kernel"), a progress percentage outside 0–100.
//! Counters that do not fit a `u64` are kept as text and read as absent by [`ProcDrbdDevice::counter`].
//! Pure text in, values out; no file is read here.

use std::borrow::Cow;

use super::{ConnState, DiskState, Role};
use crate::drivers::ParseError;

const TOOL: &str = "/proc/drbd";

/// The highest minor a DRBD device can have (the kernel's 20 minor bits).
pub const MAX_MINOR: u32 = (1 << 20) - 1;

/// Everything in `/proc/drbd`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcDrbd {
    /// Module version, e.g. `8.4.11`.
    pub version: String,
    /// `api:1` → `1`.
    pub api: Option<String>,
    /// `proto:86-101` → `86-101`.
    pub proto: Option<String>,
    /// `srcversion:` (8.4.x packaged builds) or the `GIT-hash:` line's hash.
    pub build: Option<String>,
    pub devices: Vec<ProcDrbdDevice>,
}

/// A (local, peer) pair, as in `ro:Primary/Secondary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair<T> {
    pub local: T,
    pub peer: T,
}

/// One minor.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcDrbdDevice {
    pub minor: u32,
    pub cs: ConnState,
    /// `ro:` (or `st:` in old versions); `None` for an unconfigured minor.
    pub roles: Option<Pair<Role>>,
    /// `ds:`; `None` for an unconfigured minor.
    pub disks: Option<Pair<DiskState>>,
    /// Replication protocol `A`/`B`/`C`; absent when StandAlone.
    pub protocol: Option<char>,
    /// The I/O state flags, e.g. `r-----`.
    pub flags: Option<String>,
    /// The counters line (`ns:65536 nr:0 ... wo:f oos:0`), trimmed; every word is
    /// `key:value`.
    pub counters: String,
    /// Resync or online-verify progress, while one runs.
    pub sync: Option<SyncProgress>,
}

impl ProcDrbdDevice {
    /// A numeric counter by name (`ns`, `nr`, `dw`, `dr`, `oos`, ...).
    pub fn counter(&self, key: &str) -> Option<u64> {
        self.counters
            .split_whitespace()
            .filter_map(|w| w.split_once(':'))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// KiB known to differ from the peer (`oos:`).
    pub fn out_of_sync_kib(&self) -> Option<u64> {
        self.counter("oos")
    }
}

/// What the progress bar measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressKind {
    /// `sync'ed:`
    Resync,
    /// `verified:`
    Verify,
}

/// The two progress lines under a syncing minor.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncProgress {
    pub kind: ProgressKind,
    /// `sync'ed: 29.5%`.
    pub percent: f64,
    /// `(50704/65536)K`: KiB still to go.
    pub remaining_kib: u64,
    /// `(50704/65536)K`: KiB in total.
    pub total_kib: u64,
    /// `finish: 0:00:13`, in seconds.
    pub finish_secs: Option<u64>,
    /// `speed: 3,708 (...) K/sec`: the current rate, KiB/s.
    pub speed_kib_s: Option<u64>,
    /// `want: 4,096`: the target rate on the SyncTarget side, KiB/s.
    pub want_kib_s: Option<u64>,
}

/// Parses the whole of `/proc/drbd`.
pub fn parse(input: &str) -> Result<ProcDrbd, ParseError> {
    let mut out = ProcDrbd {
        version: String::new(),
        api: None,
        proto: None,
        build: None,
        devices: Vec::new(),
    };
    let mut seen_version = false;
    let mut minors = std::collections::BTreeSet::new();
    for (no, raw) in input.lines().enumerate() {
        let no = no + 1;
        let err = |m: &str| ParseError::new(TOOL, no, raw, m);
        let cleaned = clean(raw);
        let line = cleaned.as_ref();
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("version:") {
            parse_version(rest, &mut out);
            seen_version = true;
        } else if let Some(rest) = line.strip_prefix("srcversion:") {
            out.build = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("GIT-hash:") {
            out.build = rest.split_whitespace().next().map(str::to_string);
        } else if line.starts_with("Transports") {
            // DRBD 9: "Transports (api:NN): tcp (9.x.y)"; nothing xenflux needs.
        } else if line.starts_with('\t') {
            // Only detail lines are tab-indented (device lines are `%2d:`, space-padded).
            let dev = out
                .devices
                .last_mut()
                .ok_or_else(|| err("indented line before any device"))?;
            parse_detail(line, dev).map_err(|m| err(&m))?;
        } else if is_device_line(line) {
            // The kernel prints `%2d:`: " 0:" up to " 9:", then "10:", "254:" with no indent.
            let dev = parse_device(line).map_err(|m| err(&m))?;
            if !minors.insert(dev.minor) {
                // Two readings of one minor: neither can be trusted.
                return Err(err("a second line for the same minor"));
            }
            out.devices.push(dev);
        } else if !line.starts_with([' ', '\t']) {
            return Err(err("unexpected line (not a version, build or device line)"));
        } else {
            let dev = out
                .devices
                .last_mut()
                .ok_or_else(|| err("indented line before any device"))?;
            parse_detail(line, dev).map_err(|m| err(&m))?;
        }
    }
    if !seen_version {
        return Err(ParseError::whole(TOOL, "no \"version:\" line"));
    }
    Ok(out)
}

/// The line without NUL and other control characters (tabs kept, as the indentation of detail
/// lines) and without trailing blanks.
fn clean(line: &str) -> Cow<'_, str> {
    if !line.chars().any(|c| c != '\t' && c.is_control()) {
        return Cow::Borrowed(line.trim_end());
    }
    Cow::Owned(
        line.chars()
            .filter(|c| *c == '\t' || !c.is_control())
            .collect::<String>()
            .trim_end()
            .to_string(),
    )
}

fn parse_version(rest: &str, out: &mut ProcDrbd) {
    let mut words = rest.split_whitespace();
    out.version = words.next().unwrap_or("").to_string();
    // "(api:1/proto:86-101)"
    let inner = rest
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(i, _)| i)
        .unwrap_or("");
    for part in inner.split('/') {
        match part.split_once(':') {
            Some(("api", v)) => out.api = Some(v.to_string()),
            Some(("proto", v)) => out.proto = Some(v.to_string()),
            _ => {}
        }
    }
}

fn is_device_line(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|w| w.strip_suffix(':'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn pair<'v>(v: &'v str, what: &str) -> Result<(&'v str, &'v str), String> {
    v.split_once('/')
        .ok_or_else(|| format!("{what} {v:?} is not of the form local/peer"))
}

fn parse_device(line: &str) -> Result<ProcDrbdDevice, String> {
    let mut words = line.split_whitespace();
    let minor = words
        .next()
        .and_then(|w| w.strip_suffix(':'))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|m| *m <= MAX_MINOR)
        .ok_or("bad minor number (DRBD minors are 0 to 2^20-1)")?;
    let mut dev = ProcDrbdDevice {
        minor,
        cs: ConnState::Unknown(String::new()),
        roles: None,
        disks: None,
        protocol: None,
        flags: None,
        counters: String::new(),
        sync: None,
    };
    let mut seen_cs = false;
    for w in words {
        match w.split_once(':') {
            Some(("cs", v)) => {
                dev.cs = ConnState::parse(v);
                seen_cs = true;
            }
            Some(("ro" | "st", v)) => {
                let (a, b) = pair(v, "ro:")?;
                dev.roles = Some(Pair {
                    local: Role::parse(a),
                    peer: Role::parse(b),
                });
            }
            Some(("ds", v)) => {
                let (a, b) = pair(v, "ds:")?;
                dev.disks = Some(Pair {
                    local: DiskState::parse(a),
                    peer: DiskState::parse(b),
                });
            }
            Some((k, _)) => return Err(format!("unknown field {k:?} on a device line")),
            None => {
                let mut chars = w.chars();
                match (chars.next(), chars.next()) {
                    (Some(c @ ('A' | 'B' | 'C')), None) => dev.protocol = Some(c),
                    _ if w.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
                        dev.flags = Some(w.to_string())
                    }
                    _ => return Err(format!("unexpected word {w:?} on a device line")),
                }
            }
        }
    }
    if !seen_cs {
        return Err("device line without cs:".into());
    }
    // Only an unconfigured minor is printed without roles and disk states; a configured one
    // missing them would otherwise read as "not in the kernel".
    if dev.cs != ConnState::Unconfigured && (dev.roles.is_none() || dev.disks.is_none()) {
        return Err("device line without ro: and ds: (only cs:Unconfigured has none)".into());
    }
    Ok(dev)
}

fn parse_detail(line: &str, dev: &mut ProcDrbdDevice) -> Result<(), String> {
    let t = line.trim();
    if t.starts_with('[') || t.contains("sync'ed:") || t.contains("verified:") {
        dev.sync = Some(parse_bar(t)?);
    } else if let Some(rest) = t.strip_prefix("finish:") {
        let sync = dev
            .sync
            .as_mut()
            .ok_or("finish: line without a progress bar")?;
        parse_finish(rest, sync)?;
    } else if t.starts_with("ns:") {
        if let Some(w) = t.split_whitespace().find(|w| !w.contains(':')) {
            return Err(format!("counter {w:?} is not key:value"));
        }
        if !dev.counters.is_empty() {
            dev.counters.push(' ');
        }
        dev.counters.push_str(t);
    } else if line.starts_with('\t')
        || t.split_whitespace()
            .next()
            .is_some_and(|w| w.ends_with(':'))
    {
        // `proc_details` output: "resync: used:0/61 ...", "act_log: used:0/1237 ...",
        // " 12% sector pos: 1024/2097152", the rs_left dump. Nothing xenflux plans on.
    } else {
        return Err("unexpected indented line".into());
    }
    Ok(())
}

/// `[====>...............] sync'ed: 29.5% (50704/65536)K` (no space after the colon at 100%).
fn parse_bar(t: &str) -> Result<SyncProgress, String> {
    let (kind, rest) = if let Some((_, r)) = t.split_once("sync'ed:") {
        (ProgressKind::Resync, r)
    } else if let Some((_, r)) = t.split_once("verified:") {
        (ProgressKind::Verify, r)
    } else {
        return Err("progress bar without sync'ed: or verified:".into());
    };
    let (pct, rest) = rest
        .split_once('%')
        .ok_or("progress without a percentage")?;
    let percent = pct
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|p: &f64| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("bad percentage {pct:?}"))?;
    let inner = rest
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .ok_or("progress without (left/total)")?;
    let (left, total) = inner
        .0
        .split_once('/')
        .ok_or("progress without left/total")?;
    // Some kernels print no newline after `)M`: the finish: part follows on the same line.
    let (unit_text, finish) = match inner.1.split_once("finish:") {
        Some((u, f)) => (u, Some(f)),
        None => (inner.1, None),
    };
    let unit: u64 = match unit_text.trim().chars().next() {
        Some('K') | None => 1,
        Some('M') => 1024,
        Some('G') => 1024 * 1024,
        Some(c) => return Err(format!("unknown unit {c:?}")),
    };
    let num = |s: &str| {
        s.trim()
            .replace(',', "")
            .parse::<u64>()
            .map_err(|_| format!("bad number {s:?}"))
    };
    let mut sync = SyncProgress {
        kind,
        percent,
        remaining_kib: num(left)?.saturating_mul(unit),
        total_kib: num(total)?.saturating_mul(unit),
        finish_secs: None,
        speed_kib_s: None,
        want_kib_s: None,
    };
    if let Some(f) = finish {
        parse_finish(f, &mut sync)?;
    }
    Ok(sync)
}

/// `finish: 0:00:13 speed: 3,708 (3,708) [want: 4,096] K/sec` — note the thousands commas.
fn parse_finish(rest: &str, sync: &mut SyncProgress) -> Result<(), String> {
    let mut words = rest.split_whitespace();
    let hms = words.next().ok_or("finish: without a time")?;
    let mut secs: u64 = 0;
    for part in hms.split(':') {
        let n: u64 = part
            .parse()
            .map_err(|_| format!("bad finish time {hms:?}"))?;
        secs = secs.saturating_mul(60).saturating_add(n);
    }
    sync.finish_secs = Some(secs);
    let num = |w: Option<&str>| w.and_then(|w| w.replace(',', "").parse::<u64>().ok());
    while let Some(w) = words.next() {
        match w {
            "speed:" => sync.speed_kib_s = num(words.next()),
            "want:" => sync.want_kib_s = num(words.next()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC: &str = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n    ns:0 nr:49436 dw:49436 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:16100\n\t[===============>....] sync'ed: 82.4% (16100/65536)K\n\tfinish: 0:00:03 speed: 4,116 (4,116) want: 4,096 K/sec\n 2: cs:Unconfigured\n";

    #[test]
    fn sync_target_with_want() {
        let p = parse(SYNC).unwrap();
        assert_eq!(p.version, "8.4.11");
        assert_eq!(p.api.as_deref(), Some("1"));
        assert_eq!(p.proto.as_deref(), Some("86-101"));
        assert_eq!(p.build.as_deref(), Some("F73C670A7EC572DB9CF3E5B"));
        let d = &p.devices[0];
        assert_eq!(d.cs, ConnState::SyncTarget);
        assert_eq!(d.out_of_sync_kib(), Some(16100));
        assert_eq!(d.counter("nr"), Some(49436));
        let s = d.sync.as_ref().unwrap();
        assert_eq!(s.percent, 82.4);
        assert_eq!((s.remaining_kib, s.total_kib), (16100, 65536));
        assert_eq!(s.finish_secs, Some(3));
        assert_eq!(s.speed_kib_s, Some(4116));
        assert_eq!(s.want_kib_s, Some(4096));
        let u = &p.devices[1];
        assert_eq!(
            (u.minor, &u.cs, &u.roles, &u.disks),
            (2, &ConnState::Unconfigured, &None, &None)
        );
    }

    #[test]
    fn full_percent_has_no_space() {
        let s = parse_bar("[===================>] sync'ed:100.0% (128/128)K").unwrap();
        assert_eq!((s.percent, s.remaining_kib), (100.0, 128));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("version: 8.4.11 (api:1/proto:86-101)\n 0: cs:Connected ro:Primary ds:UpToDate/UpToDate C r-----\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("local/peer"), "{e}");
        let e = parse("garbage\n").unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (1, "garbage"));
        assert_eq!(parse("").unwrap_err().line, 0);
    }
}
