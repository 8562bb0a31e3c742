//! OCFS2 and filesystems: argv builders for `mkfs.ocfs2`, `mounted.ocfs2`, `mount` and `blkid`,
//! and parsers for `mounted.ocfs2 -d` / `-f`, `/etc/ocfs2/cluster.conf`, `/proc/mounts` and
//! `blkid -o export`.
//!
//! `mounted.ocfs2` prints fixed-width columns sized to their content, and Cluster and F may be
//! blank, so rows are cut at the header's column positions, never split on whitespace. A
//! filesystem on DRBD with external meta-data is listed twice (the backing LV and `/dev/drbdN`).
//! `cluster.conf` is parsed in [`cluster_conf`]. Nothing here runs a command or reads a file.

use super::{argv, vocab_enum, Argv, ParseError};

pub mod cluster_conf;
pub use cluster_conf::{
    parse_cluster_conf, ClusterConf, ClusterStanza, HeartbeatStanza, NodeStanza,
};

const TOOL_MOUNTED: &str = "mounted.ocfs2";
const TOOL_MOUNTS: &str = "/proc/mounts";
const TOOL_BLKID: &str = "blkid";

vocab_enum! {
    /// Cluster stack in `mounted.ocfs2 -d`.
    pub enum Stack fallback Unknown {
        O2cb = "o2cb",
        Pcmk = "pcmk",
        Cman = "cman",
        /// Printed as `None`: a local (non-clustered) volume.
        Local = "None",
    }
}

/// `mkfs.ocfs2 -N SLOTS -L LABEL --cluster-stack=o2cb --cluster-name=NAME DEV`. Without `-F`
/// it refuses to overwrite an existing OCFS2 volume; callers still check `blkid` first.
pub fn mkfs_ocfs2(device: &str, slots: u32, label: &str, cluster: &str) -> Argv {
    argv([
        "mkfs.ocfs2".to_string(),
        "-N".into(),
        slots.to_string(),
        "-L".into(),
        label.into(),
        "--cluster-stack=o2cb".into(),
        format!("--cluster-name={cluster}"),
        device.into(),
    ])
}

/// `tunefs.ocfs2 -S DEV`: grows the OCFS2 volume on `DEV` to the device's size.
pub fn tunefs_grow(device: &str) -> Argv {
    argv(["tunefs.ocfs2", "-S", device])
}

/// `tunefs.ocfs2 -Q '%N\n' DEV`: the number of node slots of the OCFS2 volume on `DEV`, read
/// from its superblock (a query opens the device read-only and needs no cluster stack).
pub fn tunefs_query_slots(device: &str) -> Argv {
    argv(["tunefs.ocfs2", "-Q", "%N\\n", device])
}

/// The answer of [`tunefs_query_slots`]: one number, 1 to 255 (OCFS2's limit).
pub fn parse_slots(stdout: &str) -> Result<u32, ParseError> {
    let text = stdout.trim();
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=255).contains(n))
        .ok_or_else(|| {
            let first: String = text.lines().next().unwrap_or("").chars().take(80).collect();
            ParseError::new("tunefs.ocfs2 -Q", 1, &first, "not a slot count (1 to 255)")
        })
}

/// `/etc/init.d/o2cb start`: loads the O2CB cluster stack and brings the configured cluster
/// online.
pub fn o2cb_start() -> Argv {
    argv(["/etc/init.d/o2cb", "start"])
}

/// `o2cb cluster-status`: whether the O2CB cluster is online on this node.
pub fn o2cb_cluster_status() -> Argv {
    argv(["o2cb", "cluster-status"])
}

/// How long a read that may wait on OCFS2's cluster locks ([`mounted_full`]) is given before it
/// is stopped and the OCFS2 part reported unknown, so that no observation — a failover's least
/// of all — waits for the cluster's recovery of a lost node. It answers in about a second
/// otherwise, even under emulation.
pub const CLUSTER_READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// The path of the O2CB cluster configuration.
pub const CLUSTER_CONF: &str = "/etc/ocfs2/cluster.conf";

/// `cat /etc/ocfs2/cluster.conf`.
pub fn cat_cluster_conf() -> Argv {
    argv(["cat", CLUSTER_CONF])
}

/// `mounted.ocfs2 -d [DEV]` (all devices in /proc/partitions without one).
pub fn mounted_detect(device: Option<&str>) -> Argv {
    let mut a = argv(["mounted.ocfs2", "-d"]);
    a.extend(device.map(str::to_string));
    a
}

/// `mounted.ocfs2 -f [DEV]`. On a node where the filesystem is mounted it takes the
/// filesystem's cluster locks, so it waits while OCFS2 waits for a lost peer's death and
/// recovers it (measured in the QEMU lab: 84 s after a peer's plug was pulled, with the default
/// 31-beat heartbeat threshold and 30 s idle timeout) — see [`CLUSTER_READ_WITHIN`].
pub fn mounted_full(device: Option<&str>) -> Argv {
    let mut a = argv(["mounted.ocfs2", "-f"]);
    a.extend(device.map(str::to_string));
    a
}

/// `mount -t ocfs2 DEV MOUNTPOINT`.
pub fn mount_ocfs2(device: &str, mountpoint: &str) -> Argv {
    mount_ocfs2_with(device, mountpoint, None)
}

/// `mount -t ocfs2 [-o OPTIONS] DEV MOUNTPOINT`.
pub fn mount_ocfs2_with(device: &str, mountpoint: &str, options: Option<&str>) -> Argv {
    let mut a = argv(["mount", "-t", "ocfs2"]);
    if let Some(o) = options {
        a.extend(["-o".to_string(), o.to_string()]);
    }
    a.extend([device.to_string(), mountpoint.to_string()]);
    a
}

/// `umount MOUNTPOINT`.
pub fn umount(mountpoint: &str) -> Argv {
    argv(["umount", mountpoint])
}

/// `blkid -p -o export DEV`: `-p` probes the device itself rather than trusting the blkid
/// cache, since the answer decides whether a `mkfs` may run. Exit 2 means no signature found.
pub fn blkid_export(device: &str) -> Argv {
    argv(["blkid", "-p", "-o", "export", device])
}

/// `cat /proc/mounts`.
pub fn cat_proc_mounts() -> Argv {
    argv(["cat", "/proc/mounts"])
}

/// One row of `mounted.ocfs2 -d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ocfs2Volume {
    pub device: String,
    pub stack: Stack,
    /// Blank for a volume made without `--cluster-name`.
    pub cluster: Option<String>,
    /// The F column: `G` is global heartbeat.
    pub flags: String,
    /// 32 hex digits; `None` when the column is blank.
    pub uuid: Option<String>,
    /// `None` when the volume has no label (the row then ends after the UUID).
    pub label: Option<String>,
}

/// One entry of the Nodes column of `mounted.ocfs2 -f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountNode {
    /// A node named in the cluster configuration.
    Name(String),
    /// A slot held by node number N that the configuration does not name.
    Number(u32),
    /// `Unknown`: a node number beyond the cluster's node table.
    Unknown,
}

impl From<&str> for MountNode {
    fn from(s: &str) -> Self {
        MountNode::Name(s.to_string())
    }
}

/// Who has a volume mounted, per `mounted.ocfs2 -f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountedOn {
    /// `Not mounted`.
    NotMounted,
    /// `Heartbeat device`: a global-heartbeat region, never mounted as a filesystem.
    HeartbeatDevice,
    /// `nodea, nodeb` (node numbers where the configuration names no node).
    Nodes(Vec<MountNode>),
    /// The tool could not read the volume's slot map: it prints `Unknown: MESSAGE` to stderr
    /// (kept when stdout and stderr were captured together) and ends the row without a newline.
    Unreadable(Option<String>),
    /// Blank (a local volume in older versions): the tool does not say.
    Unknown,
}

/// One row of `mounted.ocfs2 -f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ocfs2Mounts {
    pub device: String,
    pub stack: Stack,
    pub cluster: Option<String>,
    pub flags: String,
    pub mounted_on: MountedOn,
}

/// Byte offsets of `names` in the header (which is ASCII); the last column runs to the end.
/// `mounted.ocfs2` pads with printf's `%-*s`, which counts bytes, so rows are cut at the same
/// byte offsets (moved forward to the next character boundary inside a multibyte character).
fn columns(header: &str, names: &[&str]) -> Option<Vec<usize>> {
    let mut words = Vec::new();
    let mut rest = header;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        let word_and_after = &rest[start..];
        let len = word_and_after
            .find(char::is_whitespace)
            .unwrap_or(word_and_after.len());
        let offset = header.len() - rest.len() + start;
        words.push((&word_and_after[..len], offset));
        rest = &word_and_after[len..];
        if words.len() > names.len() {
            return None;
        }
    }
    if words.len() != names.len() || words.iter().zip(names).any(|((w, _), n)| w != n) {
        return None;
    }
    Some(words.into_iter().map(|(_, p)| p).collect())
}

/// The nearest character boundary of `s` at or after byte `i` (at most `s.len()`).
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Column `i` of `row`, trimmed (NUL and other control characters count as blank).
fn cut<'r>(row: &'r str, starts: &[usize], i: usize) -> &'r str {
    let from = boundary(row, starts.get(i).copied().unwrap_or(row.len()));
    let to = boundary(row, starts.get(i + 1).copied().unwrap_or(row.len())).max(from);
    row[from..to].trim_matches(|c: char| c.is_whitespace() || c.is_control())
}

/// Most rows one line of `-f` may hold (each unreadable volume glues the next row onto its own).
const MAX_GLUED_ROWS: usize = 64;

/// One row of either listing.
struct Row<'i> {
    /// 1-based line number.
    no: usize,
    text: &'i str,
    cols: Vec<&'i str>,
    /// The tool ended the row before its last column (it could not read the volume).
    cut_short: bool,
}

/// The rows of either listing. A row of
/// `-f` for a volume the tool could not read ends without a newline, so the next row follows
/// on the same line from the Nodes column on: such a line gives two rows.
fn mounted_rows<'i>(input: &'i str, last: &[&str]) -> Result<Vec<Row<'i>>, ParseError> {
    let mut lines = input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (no, header) = lines
        .next()
        .ok_or_else(|| ParseError::whole(TOOL_MOUNTED, "no header line"))?;
    let mut names = vec!["Device", "Stack", "Cluster", "F"];
    names.extend_from_slice(last);
    let starts = columns(header, &names).ok_or_else(|| {
        ParseError::new(
            TOOL_MOUNTED,
            no + 1,
            header,
            format!("header is not {}", names.join(" ")),
        )
    })?;
    let last_col = names.len() - 1;
    let mut out = Vec::new();
    for (no, line) in lines {
        let mut row = line;
        // Each row glued on rescans the rest of the line: bound them to stay linear.
        for glued_rows in 0.. {
            if glued_rows > MAX_GLUED_ROWS {
                return Err(ParseError::new(
                    TOOL_MOUNTED,
                    no + 1,
                    line,
                    "too many rows on one line",
                ));
            }
            let cols: Vec<&str> = (0..names.len()).map(|i| cut(row, &starts, i)).collect();
            if cols
                .first()
                .is_none_or(|d| d.is_empty() || d.contains(char::is_whitespace))
            {
                return Err(ParseError::new(
                    TOOL_MOUNTED,
                    no + 1,
                    line,
                    "no device in the Device column",
                ));
            }
            // Node lists are `a, b`; two spaces in the last column of `-f` are the column gap of
            // a second row glued onto this one.
            let glued = last == ["Nodes"]
                && cols[last_col].contains("  ")
                && !cols[last_col].starts_with("Unknown:");
            if !glued {
                out.push(Row {
                    no: no + 1,
                    text: row,
                    cols,
                    cut_short: false,
                });
                break;
            }
            let at = boundary(row, starts[last_col]);
            let mut cols = cols;
            cols[last_col] = "";
            out.push(Row {
                no: no + 1,
                text: &row[..at],
                cols,
                cut_short: true,
            });
            row = &row[at..];
        }
    }
    Ok(out)
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Parses `mounted.ocfs2 -d`.
pub fn parse_mounted_detect(input: &str) -> Result<Vec<Ocfs2Volume>, ParseError> {
    mounted_rows(input, &["UUID", "Label"])?
        .into_iter()
        .map(
            |Row {
                 no,
                 text: line,
                 cols,
                 ..
             }| {
                let [device, stack, cluster, flags, uuid, label] = cols.as_slice() else {
                    return Err(ParseError::new(
                        TOOL_MOUNTED,
                        no,
                        line,
                        "wrong number of columns",
                    ));
                };
                if !uuid.is_empty()
                    && (uuid.len() != 32 || !uuid.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return Err(ParseError::new(
                        TOOL_MOUNTED,
                        no,
                        line,
                        format!("UUID {uuid:?} is not 32 hex digits"),
                    ));
                }
                Ok(Ocfs2Volume {
                    device: device.to_string(),
                    stack: Stack::parse(stack),
                    cluster: opt(cluster),
                    flags: flags.to_string(),
                    uuid: opt(uuid),
                    label: opt(label),
                })
            },
        )
        .collect()
}

/// Reads the Nodes column of `mounted.ocfs2 -f`.
fn mounted_on(nodes: &str) -> MountedOn {
    match nodes {
        "" => MountedOn::Unknown,
        "Not mounted" => MountedOn::NotMounted,
        "Heartbeat device" => MountedOn::HeartbeatDevice,
        n => {
            if let Some(msg) = n.strip_prefix("Unknown:") {
                return MountedOn::Unreadable(opt(msg.trim()));
            }
            let mut list = Vec::new();
            for entry in n.split(',').map(str::trim) {
                let node = match entry {
                    "Unknown" => MountNode::Unknown,
                    e if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                        match e.parse() {
                            Ok(n) => MountNode::Number(n),
                            Err(_) => return MountedOn::Unreadable(opt(n)),
                        }
                    }
                    // A node name is one word; anything else is not a node list.
                    e if !e.is_empty() && !e.contains(|c: char| c.is_whitespace()) => {
                        MountNode::Name(e.to_string())
                    }
                    _ => return MountedOn::Unreadable(opt(n)),
                };
                list.push(node);
            }
            MountedOn::Nodes(list)
        }
    }
}

/// Parses `mounted.ocfs2 -f`.
pub fn parse_mounted_full(input: &str) -> Result<Vec<Ocfs2Mounts>, ParseError> {
    mounted_rows(input, &["Nodes"])?
        .into_iter()
        .map(|r| {
            let (no, line) = (r.no, r.text);
            let [device, stack, cluster, flags, nodes] = r.cols.as_slice() else {
                return Err(ParseError::new(
                    TOOL_MOUNTED,
                    no,
                    line,
                    "wrong number of columns",
                ));
            };
            Ok(Ocfs2Mounts {
                device: device.to_string(),
                stack: Stack::parse(stack),
                cluster: opt(cluster),
                flags: flags.to_string(),
                mounted_on: if r.cut_short {
                    MountedOn::Unreadable(None)
                } else {
                    mounted_on(nodes)
                },
            })
        })
        .collect()
}

/// One line of `/proc/mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/mounts`.
pub fn parse_proc_mounts(input: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for (no, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [source, target, fstype, options, ..] = f.as_slice() else {
            return Err(ParseError::new(
                TOOL_MOUNTS,
                no + 1,
                line,
                "expected source, target, type and options",
            ));
        };
        out.push(Mount {
            source: unescape_octal(source),
            target: unescape_octal(target),
            fstype: fstype.to_string(),
            options: options.split(',').map(str::to_string).collect(),
        });
    }
    Ok(out)
}

/// One device from `blkid -o export`: its `KEY=value` lines, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkidEntry {
    pub fields: Vec<(String, String)>,
}

impl BlkidEntry {
    /// The value of `key` (`DEVNAME`, `LABEL`, `UUID`, `TYPE`, ...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `TYPE`: the filesystem or signature (`ocfs2`, `ext4`, `drbd`, `LVM2_member`).
    pub fn fs_type(&self) -> Option<&str> {
        self.get("TYPE")
    }
}

/// Parses `blkid -o export`: one block of `KEY=value` lines per device, blank lines between;
/// values are backslash-escaped the shell way (`LABEL=my\ lab`).
pub fn parse_blkid_export(input: &str) -> Result<Vec<BlkidEntry>, ParseError> {
    let mut out: Vec<BlkidEntry> = Vec::new();
    let mut current = BlkidEntry::default();
    for (no, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new(TOOL_BLKID, no + 1, line, "expected KEY=value"))?;
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ParseError::new(TOOL_BLKID, no + 1, line, "bad key"));
        }
        let mut value = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            value.push(if c == '\\' {
                chars.next().unwrap_or('\\')
            } else {
                c
            });
        }
        current.fields.push((k.to_string(), value));
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Interprets a `blkid -p -o export DEV` run: exit 0 → the signature found, exit 2 → `None`
/// (nothing on the device), anything else (8 = ambivalent probe) → an error, which a caller must
/// treat as "not known to be blank".
pub fn blkid_result(stdout: &str, exit: i32) -> Result<Option<BlkidEntry>, ParseError> {
    match exit {
        0 => parse_blkid_export(stdout)?
            .into_iter()
            .next()
            .map(Some)
            .ok_or_else(|| ParseError::whole(TOOL_BLKID, "exit 0 but no KEY=value output")),
        2 => Ok(None),
        n => Err(ParseError::whole(
            TOOL_BLKID,
            format!("exit status {n} (8 means several conflicting signatures)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_cluster_and_flag_columns() {
        let d = "Device      Stack  Cluster     F  UUID                              Label\n/dev/loop1  o2cb   ovscluster  G  4C53C13D6E35460597C7C1513FA5DB04  /OVS\n/dev/loop2  o2cb                  9214E992508D4FE5B9E489135E6907F8  vmstore\n";
        let v = parse_mounted_detect(d).unwrap();
        assert_eq!(
            (v[0].cluster.as_deref(), v[0].flags.as_str()),
            (Some("ovscluster"), "G")
        );
        assert_eq!(
            (
                v[1].cluster.as_deref(),
                v[1].flags.as_str(),
                v[1].label.as_deref()
            ),
            (None, "", Some("vmstore"))
        );
        let f = "Device     Stack  Cluster     F  Nodes\n/dev/sdc1  None\n/dev/sdd1  o2cb   webcluster  G  node1, node3, node10\n";
        let m = parse_mounted_full(f).unwrap();
        assert_eq!(
            (m[0].stack.clone(), m[0].mounted_on.clone()),
            (Stack::Local, MountedOn::Unknown)
        );
        assert_eq!(
            m[1].mounted_on,
            MountedOn::Nodes(vec!["node1".into(), "node3".into(), "node10".into()])
        );
    }

    #[test]
    fn mounted_errors() {
        assert_eq!(parse_mounted_detect("").unwrap_err().line, 0);
        assert_eq!(parse_mounted_detect("Device Stack\n").unwrap_err().line, 1);
        let e = parse_mounted_detect(
            "Device  Stack  Cluster  F  UUID  Label\n/dev/x  o2cb            nothex  L\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_mounted_full("Device  Stack  Cluster  F  Nodes\n        o2cb\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn mounts_unescape() {
        let m = parse_proc_mounts("/dev/sdb1 /mnt/my\\040disk ext4 rw,relatime 0 0\n").unwrap();
        assert_eq!(m[0].target, "/mnt/my disk");
        assert_eq!(parse_proc_mounts("a b\n").unwrap_err().line, 1);
        assert_eq!(unescape_octal("a\\\\b\\1"), "a\\\\b\\1");
    }

    #[test]
    fn blkid() {
        assert_eq!(blkid_result("", 2).unwrap(), None);
        assert!(blkid_result("", 8).is_err());
        assert!(blkid_result("", 0).is_err());
        let two =
            parse_blkid_export("DEVNAME=/dev/a\nTYPE=ext4\n\nDEVNAME=/dev/b\nTYPE=drbd\n").unwrap();
        assert_eq!(two[1].fs_type(), Some("drbd"));
        assert_eq!(parse_blkid_export("garbage\n").unwrap_err().line, 1);
    }

    #[test]
    fn builders() {
        assert_eq!(
            mkfs_ocfs2("/dev/drbd1", 4, "/OVS", "ovscluster").join(" "),
            "mkfs.ocfs2 -N 4 -L /OVS --cluster-stack=o2cb --cluster-name=ovscluster /dev/drbd1"
        );
        assert_eq!(mounted_detect(None).join(" "), "mounted.ocfs2 -d");
        assert_eq!(
            mounted_full(Some("/dev/drbd1")).join(" "),
            "mounted.ocfs2 -f /dev/drbd1"
        );
        assert_eq!(
            mount_ocfs2("/dev/drbd1", "/OVS").join(" "),
            "mount -t ocfs2 /dev/drbd1 /OVS"
        );
        assert_eq!(
            mount_ocfs2_with("/dev/drbd1", "/OVS", Some("noatime,_netdev")).join(" "),
            "mount -t ocfs2 -o noatime,_netdev /dev/drbd1 /OVS"
        );
        assert_eq!(umount("/OVS").join(" "), "umount /OVS");
        assert_eq!(
            blkid_export("/dev/drbd1").join(" "),
            "blkid -p -o export /dev/drbd1"
        );
        assert_eq!(cat_proc_mounts().join(" "), "cat /proc/mounts");
    }
}
