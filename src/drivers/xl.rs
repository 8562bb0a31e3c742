//! Xen `xl`: argv builders for the domain operations xenflux performs and parsers for `xl list -l`
//! (JSON), `xl list` (table), `xl info` (`key : value`) and `xl -N create` (one config as JSON).
//!
//! Real `xl list -l` (Xen 4.17, see `tests/fixtures/xl-4.17-*`): a JSON array of
//! `{"domid": N, "config": {c_info, b_info, disks, nics, ...}}`; Domain-0 has only `c_info` and
//! `b_info`; `c_info.domid` of a domU is 4294967295 (the real id is the outer `domid`); booleans
//! are strings (`"True"`); the guest-type union is `type.pv`/`type.hvm`; fields left at their
//! default are omitted; the output ends with an empty line. The `xl list` header uses tabs.
//! Older `xl` (Xen 4.0/4.1, Ganeti's `xen-xl-list-long-4.0.1.txt`) and `output_format="sxp"`
//! print S-expressions instead: refused, so Xen is unknown there rather than misread.
//!
//! `xl list` rows are `%-40s %5d %5lu %5d     %s  %8.1f` (`xl_list.c`) and were checked on Xen
//! 4.0.1, 4.4 (Ganeti's captures) and 4.17; the fifth state position is a shutdown reason
//! (see [`DomainState`]). `xl info` is read on 4.0.1, 4.4 and 4.17 (`xen_version`, or
//! `xen_major`/`xen_minor`/`xen_extra` before it existed).
//! The domain config file syntax lives in [`super::xlcfg`]. Nothing here runs `xl`.

use serde_json::{Map, Value};

use super::xlcfg::DiskSpec;
use super::{argv, Argv, ParseError};

const TOOL_LONG: &str = "xl list -l";
const TOOL_LIST: &str = "xl list";
const TOOL_INFO: &str = "xl info";

/// `xl create PATH`.
pub fn create(path: &str) -> Argv {
    argv(["xl", "create", path])
}

/// How long a domain gets to shut down cleanly (`xl shutdown -w` alone waits forever for a
/// domain that ignores the request).
pub const SHUTDOWN_TIMEOUT_SECS: u32 = 180;

/// `timeout 180 xl shutdown -w NAME`: clean shutdown, waiting until the domain has shut down,
/// for at most [`SHUTDOWN_TIMEOUT_SECS`] (then `timeout` exits 124 and the domain still runs).
pub fn shutdown_wait(name: &str) -> Argv {
    argv([
        "timeout".to_string(),
        SHUTDOWN_TIMEOUT_SECS.to_string(),
        "xl".into(),
        "shutdown".into(),
        "-w".into(),
        name.into(),
    ])
}

/// `xl destroy NAME`: pull the plug (destructive; callers gate it behind prune/force).
pub fn destroy(name: &str) -> Argv {
    argv(["xl", "destroy", name])
}

/// `xl migrate NAME HOST`: live migration over ssh to root@HOST.
pub fn migrate(name: &str, host: &str) -> Argv {
    argv(["xl", "migrate", name, host])
}

/// `xl block-attach NAME DISKSPEC`.
pub fn block_attach(name: &str, disk: &DiskSpec) -> Argv {
    argv([
        "xl".to_string(),
        "block-attach".into(),
        name.into(),
        disk.to_string(),
    ])
}

/// `xl block-attach NAME SPEC` with the disk spec as written (one that did not parse as a
/// [`DiskSpec`], shown to the operator as is).
pub fn block_attach_raw(name: &str, spec: &str) -> Argv {
    argv(["xl", "block-attach", name, spec])
}

/// `xl block-detach NAME VDEV`.
pub fn block_detach(name: &str, vdev: &str) -> Argv {
    argv(["xl", "block-detach", name, vdev])
}

/// `xl block-detach -f NAME DEVID`: detach without waiting for the guest to release the
/// device (a guest without a block frontend, or one still reading, never does: xl then fails
/// with `libxl_device_disk_safe_remove failed.`).
pub fn block_detach_force(name: &str, devid: u32) -> Argv {
    argv([
        "xl".to_string(),
        "block-detach".into(),
        "-f".into(),
        name.into(),
        devid.to_string(),
    ])
}

/// `xl block-list NAME`: the domain's virtual block devices, one row each (see
/// [`parse_block_list`]).
pub fn block_list(name: &str) -> Argv {
    argv(["xl", "block-list", name])
}

/// The devid of virtual device `xvdX[N]` as libxl numbers it (`libxl__device_disk_dev_number`),
/// which `xl block-list` prints in its `Vdev` column and `xl block-detach` takes: 202 × 256 +
/// disk × 16 + partition for xvda–xvdp with partitions up to 15, else 2^28 + disk × 256 +
/// partition. None for a name that is not `xvd` + letters (+ digits).
pub fn vbd_devid(vdev: &str) -> Option<u32> {
    let rest = vdev.strip_prefix("xvd")?;
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    // Bijective base 26: a..z, aa..zz, aaa..
    let mut disk: u32 = 0;
    for b in rest[..letters].bytes() {
        disk = disk * 26 + u32::from(b - b'a') + 1;
    }
    disk -= 1;
    let digits = &rest[letters..];
    let partition: u32 = if digits.is_empty() {
        0
    } else if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 3 {
        digits.parse().ok()?
    } else {
        return None;
    };
    if disk < 16 && partition < 16 {
        Some((202 << 8) | (disk << 4) | partition)
    } else if disk < (1 << 20) && partition < 256 {
        Some((1 << 28) | (disk << 8) | partition)
    } else {
        None
    }
}

/// One row of `xl block-list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    /// The `Vdev` column: the devid `xl block-detach` takes.
    pub devid: u32,
    /// The backend domain (0: dom0).
    pub backend: u32,
    /// xenbus state: 4 connected, 1 initialising (no frontend driver yet), 6 closed.
    pub state: u32,
    /// The backend's xenstore path.
    pub be_path: String,
}

/// Parses `xl block-list NAME`: a header `Vdev  BE  handle state evt-ch ring-ref BE-path`
/// then one row per device. A domain that does not exist prints the header alone (its error
/// goes to stderr, exit 0): no rows.
pub fn parse_block_list(input: &str) -> Result<Vec<BlockDevice>, ParseError> {
    const TOOL: &str = "xl block-list";
    let mut out = Vec::new();
    let mut lines = input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.split_whitespace().next() == Some("Vdev") => {}
        Some((i, _)) => return Err(ParseError::at(TOOL, input, i + 1, "no `Vdev` header")),
        None => return Ok(out),
    }
    for (i, line) in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let num = |k: usize| cols.get(k).and_then(|c| c.parse::<u32>().ok());
        match (num(0), num(1), num(3), cols.get(6)) {
            (Some(devid), Some(backend), Some(state), Some(be_path)) => out.push(BlockDevice {
                devid,
                backend,
                state,
                be_path: be_path.to_string(),
            }),
            _ => {
                return Err(ParseError::at(
                    TOOL,
                    input,
                    i + 1,
                    "expected Vdev BE handle state evt-ch ring-ref BE-path",
                ))
            }
        }
        if out.len() > 4096 {
            return Err(ParseError::at(TOOL, input, i + 1, "more than 4096 devices"));
        }
    }
    Ok(out)
}

/// `xl mem-set NAME MIBm`: the balloon target, in MiB with an explicit unit (xl's default unit
/// differs between commands and versions). Xen refuses a target above the domain's maxmem.
pub fn mem_set(name: &str, mib: u64) -> Argv {
    argv([
        "xl".to_string(),
        "mem-set".into(),
        name.into(),
        format!("{mib}m"),
    ])
}

/// `xl vcpu-set NAME N`: bring vCPUs 0..N online and the rest offline. Xen refuses more than the
/// domain's maxvcpus.
pub fn vcpu_set(name: &str, vcpus: u32) -> Argv {
    argv([
        "xl".to_string(),
        "vcpu-set".into(),
        name.into(),
        vcpus.to_string(),
    ])
}

/// `xl list -l`.
pub fn list_long() -> Argv {
    argv(["xl", "list", "-l"])
}

/// `xl list`.
pub fn list() -> Argv {
    argv(["xl", "list"])
}

/// `xl info`.
pub fn info() -> Argv {
    argv(["xl", "info"])
}

/// One element of `xl list -l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlDomain {
    /// The running domain's id (the outer `domid`, not `c_info.domid`).
    pub domid: Option<u32>,
    pub config: DomainConfig,
}

/// The parts of a libxl domain config xenflux compares with the desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainConfig {
    /// `c_info.name`; `None` when libxl has no name for the domain (one Xen keeps after a crash,
    /// which `xl list` shows as `(null)`).
    pub name: Option<String>,
    pub uuid: Option<String>,
    /// `c_info.type`: `pv`, `pvh` or `hvm`.
    pub guest_type: Option<String>,
    pub max_memkb: Option<u64>,
    pub target_memkb: Option<u64>,
    pub max_vcpus: Option<u32>,
    /// How many vCPUs are online: the entries of `b_info.avail_vcpus` (a bitmap printed as the
    /// list of set bits; libxl fills it from the running domain). None when it is absent.
    pub avail_vcpus: Option<u32>,
    pub kernel: Option<String>,
    pub ramdisk: Option<String>,
    pub cmdline: Option<String>,
    pub bootloader: Option<String>,
    pub disks: Vec<XlDisk>,
    pub nics: Vec<XlNic>,
    pub on_poweroff: Option<String>,
    pub on_reboot: Option<String>,
    pub on_crash: Option<String>,
}

impl DomainConfig {
    /// Current memory target in MiB (`target_memkb / 1024`).
    pub fn memory_mib(&self) -> Option<u64> {
        self.target_memkb.map(|k| k / 1024)
    }

    /// The static maximum in MiB (`max_memkb / 1024`: xl `maxmem`, which defaults to `memory`).
    pub fn max_memory_mib(&self) -> Option<u64> {
        self.max_memkb.map(|k| k / 1024)
    }

    /// Online vCPUs: `avail_vcpus` counted, else all of `max_vcpus` (libxl's default).
    pub fn online_vcpus(&self) -> Option<u32> {
        self.avail_vcpus.or(self.max_vcpus)
    }
}

/// A disk as libxl reports it (`phy:` has become `format: raw`, no backend field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlDisk {
    pub pdev_path: Option<String>,
    pub vdev: String,
    pub format: Option<String>,
    pub script: Option<String>,
    pub backend: Option<String>,
    /// `readwrite: 1`; omitted (false) for read-only disks.
    pub readwrite: bool,
    pub is_cdrom: bool,
}

/// A network interface as libxl reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlNic {
    pub devid: Option<u32>,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    /// Absent when the default `vif-bridge` is used.
    pub script: Option<String>,
    pub ip: Option<String>,
    pub nictype: Option<String>,
    pub model: Option<String>,
}

fn s(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_string)
}

fn u(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    obj.get(key).and_then(Value::as_u64)
}

/// libxl prints booleans as `"True"`/`"False"`, integers as 0/1; accept JSON booleans too.
fn b(obj: &Map<String, Value>, key: &str) -> bool {
    match obj.get(key) {
        Some(Value::Bool(v)) => *v,
        Some(Value::String(v)) => v.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n != 0),
        Some(_) | None => false,
    }
}

fn obj<'v>(v: &'v Map<String, Value>, key: &str) -> Option<&'v Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

fn domain_config(cfg: &Map<String, Value>) -> Result<DomainConfig, String> {
    let c_info = obj(cfg, "c_info").ok_or("config without c_info")?;
    let empty = Map::new();
    let b_info = obj(cfg, "b_info").unwrap_or(&empty);
    // Kernel, ramdisk, cmdline and bootloader sit in b_info (4.17) or in the type.pv union (older).
    let pv = obj(b_info, "type.pv").unwrap_or(&empty);
    let either = |k: &str| s(b_info, k).or_else(|| s(pv, k));
    let list = |k: &str| -> Result<Vec<&Map<String, Value>>, String> {
        match cfg.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_object()
                        .ok_or(format!("an element of {k} is not an object"))
                })
                .collect(),
            Some(_) => Err(format!("{k} is not an array")),
        }
    };
    let disks = list("disks")?
        .into_iter()
        .map(|d| {
            Ok(XlDisk {
                pdev_path: s(d, "pdev_path"),
                vdev: s(d, "vdev").ok_or("disk without vdev")?,
                format: s(d, "format"),
                script: s(d, "script"),
                backend: s(d, "backend"),
                readwrite: b(d, "readwrite"),
                is_cdrom: b(d, "is_cdrom"),
            })
        })
        .collect::<Result<_, String>>()?;
    let nics = list("nics")?
        .into_iter()
        .map(|n| XlNic {
            devid: u(n, "devid").and_then(|d| u32::try_from(d).ok()),
            mac: s(n, "mac"),
            bridge: s(n, "bridge"),
            script: s(n, "script"),
            ip: s(n, "ip"),
            nictype: s(n, "nictype"),
            model: s(n, "model"),
        })
        .collect();
    Ok(DomainConfig {
        name: s(c_info, "name").filter(|n| !n.is_empty() && n != NO_NAME),
        uuid: s(c_info, "uuid"),
        guest_type: s(c_info, "type"),
        max_memkb: u(b_info, "max_memkb"),
        target_memkb: u(b_info, "target_memkb"),
        max_vcpus: u(b_info, "max_vcpus").and_then(|v| u32::try_from(v).ok()),
        avail_vcpus: b_info
            .get("avail_vcpus")
            .and_then(Value::as_array)
            .and_then(|a| u32::try_from(a.len()).ok()),
        kernel: either("kernel"),
        ramdisk: either("ramdisk"),
        cmdline: either("cmdline"),
        bootloader: either("bootloader"),
        disks,
        nics,
        on_poweroff: s(cfg, "on_poweroff"),
        on_reboot: s(cfg, "on_reboot"),
        on_crash: s(cfg, "on_crash"),
    })
}

/// The 1-based line of the first occurrence of `needle`, or 0.
fn line_of(input: &str, needle: &str) -> usize {
    input
        .lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

/// Parses `xl list -l`.
pub fn parse_list_long(input: &str) -> Result<Vec<XlDomain>, ParseError> {
    let v: Value =
        serde_json::from_str(input).map_err(|e| ParseError::json(TOOL_LONG, input, &e))?;
    let items = v.as_array().ok_or_else(|| {
        ParseError::whole(
            TOOL_LONG,
            "top level is not an array (xl.conf output_format=sxp?)",
        )
    })?;
    let mut seen = std::collections::BTreeSet::new();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let err = |m: String| {
                let domid = item.get("domid").map(Value::to_string).unwrap_or_default();
                let line = if domid.is_empty() {
                    0
                } else {
                    line_of(input, &format!("\"domid\": {domid}"))
                };
                ParseError::at(TOOL_LONG, input, line, format!("domain #{i}: {m}"))
            };
            let o = item
                .as_object()
                .ok_or_else(|| err("not an object".into()))?;
            let domid = match o.get("domid") {
                None | Some(Value::Null) => None,
                Some(d) => Some(
                    d.as_u64()
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| err(format!("bad domid {d}")))?,
                ),
            };
            if let Some(d) = domid.filter(|d| !seen.insert(*d)) {
                return Err(err(format!("a second domain with domid {d}")));
            }
            let cfg = obj(o, "config").ok_or_else(|| err("no config object".into()))?;
            Ok(XlDomain {
                domid,
                config: domain_config(cfg).map_err(err)?,
            })
        })
        .collect()
}

/// Parses the JSON `xl -N create FILE` prints: one domain config, no `domid` wrapper.
pub fn parse_create_dry_run(input: &str) -> Result<DomainConfig, ParseError> {
    const TOOL: &str = "xl -N create";
    let v: Value = serde_json::from_str(input).map_err(|e| ParseError::json(TOOL, input, &e))?;
    let o = v
        .as_object()
        .ok_or_else(|| ParseError::whole(TOOL, "top level is not an object"))?;
    let config = domain_config(o).map_err(|m| ParseError::whole(TOOL, m))?;
    if config.name.is_none() {
        return Err(ParseError::whole(TOOL, "c_info without name"));
    }
    Ok(config)
}

/// How `xl list` names a domain libxl has no name for (one kept after a crash).
pub const NO_NAME: &str = "(null)";

/// The six state flags of `xl list`, in the order `r b p s` + shutdown reason + `d`.
///
/// The fifth position is not a flag but the shutdown reason's letter (`xl_list.c`
/// `shutdown_reason_letters`): `-` (none, or power-off), `r` reboot, `s` suspend, `c` crash,
/// `w` watchdog, `S` soft reset, and `?` for a reason code this `xl` does not know. So a domain
/// rebooting is listed `--psr-` and a suspended one `--pss-`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainState {
    pub running: bool,
    pub blocked: bool,
    pub paused: bool,
    pub shutdown: bool,
    /// The shutdown reason is a crash (`c`).
    pub crashed: bool,
    pub dying: bool,
    /// The shutdown reason's letter when it is not `-`: one of `rscwS?` (`c` also sets
    /// `crashed`).
    pub reason: Option<char>,
}

/// The letters `xl list` prints in the fifth state position, `-` aside.
const REASON_LETTERS: &str = "rscwS?";

impl std::fmt::Display for DomainState {
    /// The six positions as `xl list` prints them, e.g. `--p--d` or `--psr-`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flag = |on: bool, letter: char| if on { letter } else { '-' };
        let reason = match self.reason {
            Some(c) => c,
            None => flag(self.crashed, 'c'),
        };
        write!(
            f,
            "{}{}{}{}{}{}",
            flag(self.running, 'r'),
            flag(self.blocked, 'b'),
            flag(self.paused, 'p'),
            flag(self.shutdown, 's'),
            reason,
            flag(self.dying, 'd'),
        )
    }
}

impl DomainState {
    /// Parses `r-----`, `-b----`, `--psr-`, ...: each flag position is its letter or `-`, the
    /// fifth a shutdown reason letter or `-`.
    pub fn parse(s: &str) -> Option<DomainState> {
        let c: Vec<char> = s.chars().collect();
        let [r, b, p, sd, reason, d] = c[..] else {
            return None;
        };
        let flag = |got: char, letter: char| match got {
            '-' => Some(false),
            g if g == letter => Some(true),
            _ => None,
        };
        let reason = match reason {
            '-' => None,
            x if REASON_LETTERS.contains(x) => Some(x),
            _ => return None,
        };
        Some(DomainState {
            running: flag(r, 'r')?,
            blocked: flag(b, 'b')?,
            paused: flag(p, 'p')?,
            shutdown: flag(sd, 's')?,
            crashed: reason == Some('c'),
            dying: flag(d, 'd')?,
            reason,
        })
    }
}

/// One row of `xl list`.
#[derive(Clone, Debug, PartialEq)]
pub struct XlListEntry {
    pub name: String,
    pub domid: u32,
    pub mem_mib: u64,
    pub vcpus: u32,
    pub state: DomainState,
    pub time_secs: f64,
}

/// Parses `xl list`. Rows are read from the right (id, memory, vcpus, state, time), so a name
/// with spaces stays whole.
pub fn parse_list(input: &str) -> Result<Vec<XlListEntry>, ParseError> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (no, line) in input.lines().enumerate() {
        let no = no + 1;
        if line.trim().is_empty() || (out.is_empty() && line.starts_with("Name")) {
            continue;
        }
        let err = |m: &str| ParseError::new(TOOL_LIST, no, line, m);
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(split) = words.len().checked_sub(5).filter(|n| *n > 0) else {
            return Err(err("expected name, ID, Mem, VCPUs, State and Time(s)"));
        };
        let (name, cols) = words.split_at(split);
        let [id, mem, vcpus, state, time] = cols else {
            return Err(err("expected five columns after the name"));
        };
        let domid: u32 = id.parse().map_err(|_| err("ID is not a number"))?;
        if !seen.insert(domid) {
            return Err(err("a second row for the same domain ID"));
        }
        out.push(XlListEntry {
            name: name.join(" "),
            domid,
            mem_mib: mem.parse().map_err(|_| err("Mem is not a number"))?,
            vcpus: vcpus.parse().map_err(|_| err("VCPUs is not a number"))?,
            state: DomainState::parse(state)
                .ok_or_else(|| err("State is not six flags like r-----"))?,
            time_secs: time.parse().map_err(|_| err("Time(s) is not a number"))?,
        });
    }
    Ok(out)
}

/// `xl info`: every `key : value` line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlInfo {
    pub fields: Vec<(String, String)>,
}

impl XlInfo {
    /// The value of `key` (may be empty, as `xen_changeset` is).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A whole number (`free_memory : 808`); None when missing, blank or not a number that fits.
    fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// `host`: the node's hostname.
    pub fn host(&self) -> Option<&str> {
        self.get("host")
    }

    /// `xen_version`, e.g. `4.17.5`. Older Xen prints no `xen_version` line, only `xen_major`,
    /// `xen_minor` and `xen_extra` (`.5`, `-rc`, `.1-pre`, or blank): the version is then
    /// `MAJOR.MINOR` followed by the extra text. None when neither form is there.
    pub fn xen_version(&self) -> Option<String> {
        if let Some(v) = self.get("xen_version").filter(|v| !v.is_empty()) {
            return Some(v.to_string());
        }
        let major = self.num("xen_major")?;
        let minor = self.num("xen_minor")?;
        let extra = self.get("xen_extra").unwrap_or("");
        Some(format!("{major}.{minor}{extra}"))
    }

    /// `total_memory` in MiB.
    pub fn total_memory_mib(&self) -> Option<u64> {
        self.num("total_memory")
    }

    /// `free_memory` in MiB.
    pub fn free_memory_mib(&self) -> Option<u64> {
        self.num("free_memory")
    }

    /// `nr_cpus`.
    pub fn nr_cpus(&self) -> Option<u64> {
        self.num("nr_cpus")
    }
}

/// Parses `xl info`.
pub fn parse_info(input: &str) -> Result<XlInfo, ParseError> {
    let mut fields = Vec::new();
    for (no, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(TOOL_INFO, no + 1, line, "not key : value"))?;
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(ParseError::new(TOOL_INFO, no + 1, line, "bad key"));
        }
        fields.push((k.to_string(), v.trim().to_string()));
    }
    if fields.is_empty() {
        return Err(ParseError::whole(TOOL_INFO, "no output"));
    }
    Ok(XlInfo { fields })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::xlcfg::DiskAccess;

    #[test]
    fn builders() {
        assert_eq!(
            create("/etc/xen/dns.cfg").join(" "),
            "xl create /etc/xen/dns.cfg"
        );
        assert_eq!(
            shutdown_wait("dns").join(" "),
            "timeout 180 xl shutdown -w dns"
        );
        assert_eq!(destroy("dns").join(" "), "xl destroy dns");
        assert_eq!(
            migrate("dns", "169.254.77.2").join(" "),
            "xl migrate dns 169.254.77.2"
        );
        let d = DiskSpec::phy("/dev/drbd3", "xvdb", DiskAccess::ReadWrite);
        assert_eq!(
            block_attach("dns", &d),
            argv(["xl", "block-attach", "dns", "phy:/dev/drbd3,xvdb,w"])
        );
        assert_eq!(
            block_detach("dns", "xvdb").join(" "),
            "xl block-detach dns xvdb"
        );
        assert_eq!(list_long().join(" "), "xl list -l");
        assert_eq!(list().join(" "), "xl list");
        assert_eq!(info().join(" "), "xl info");
    }

    #[test]
    fn state_flags() {
        assert_eq!(
            DomainState::parse("r-----"),
            Some(DomainState {
                running: true,
                ..Default::default()
            })
        );
        assert_eq!(DomainState::parse("-b----").map(|s| s.blocked), Some(true));
        assert_eq!(DomainState::parse("--p---").map(|s| s.paused), Some(true));
        assert_eq!(DomainState::parse("b-----"), None);
        assert_eq!(DomainState::parse("r--"), None);
        assert_eq!(DomainState::parse("r------"), None);
        // the fifth position is the shutdown reason: reboot, suspend, crash, watchdog, ...
        for (text, reason) in [
            ("--psr-", 'r'),
            ("--pss-", 's'),
            ("--psw-", 'w'),
            ("--psS-", 'S'),
            ("--ps?-", '?'),
        ] {
            let st = DomainState::parse(text).unwrap();
            assert_eq!(
                (st.shutdown, st.crashed, st.reason),
                (true, false, Some(reason)),
                "{text}"
            );
            assert_eq!(st.to_string(), text);
        }
        let st = DomainState::parse("--psc-").unwrap();
        assert_eq!((st.crashed, st.reason), (true, Some('c')));
        assert_eq!(st.to_string(), "--psc-");
        assert_eq!(DomainState::parse("--psx-"), None);
    }

    #[test]
    fn list_errors() {
        let e =
            parse_list("Name ID Mem VCPUs\tState\tTime(s)\ndns 1 192 1 -x---- 9.5\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_list("dns 1 192\n").is_err());
        assert_eq!(
            parse_list("my dom 3 192 1 -b---- 9.5\n").unwrap()[0].name,
            "my dom"
        );
    }

    #[test]
    fn info_errors() {
        assert_eq!(parse_info("host : a\nnonsense\n").unwrap_err().line, 2);
        assert_eq!(parse_info("").unwrap_err().line, 0);
    }

    #[test]
    fn long_errors() {
        let e =
            parse_list_long("[\n  {\n    \"domid\": 3,\n    \"config\": {\"c_info\": 7}\n  }\n]\n")
                .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("c_info"), "{e}");
        assert!(parse_list_long("(domain (domid 0))").is_err());
    }
}
