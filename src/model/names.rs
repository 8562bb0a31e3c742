//! Validated names and addresses. Every name here ends up in a device path, a file name or an
//! argv word, so each type accepts only what the tools it reaches accept.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

macro_rules! string_newtype {
    ($ty:ident, $schema_name:literal, $check:path, $schema:tt) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<$ty, String> {
                $check(s).map(|()| $ty(s.to_string()))
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// An object name (`metadata.name`, and every reference to one): `^[a-z0-9][a-z0-9-]{0,62}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

fn check_name(s: &str) -> Result<(), String> {
    let first_ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = first_ok
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name `{s}`: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit"
        ))
    }
}

string_newtype!(Name, "Name", check_name, {
    "description": "A name: 1 to 63 lowercase letters, digits and '-', starting with a letter or digit.",
    "type": "string",
    "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"
});

/// A network interface name as the kernel accepts it: 1 to 15 characters, no '/', ':' or space.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

fn check_ifname(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(format!(
            "invalid interface name `{s}`: use 1 to 15 letters, digits, '-', '_' or '.'"
        ));
    }
    // The loopback device: enslaving it starts with `ip link set lo down`, which cuts every
    // local service of the node, and a bond or bridge of that name cannot be made.
    if s == "lo" {
        return Err(
            "invalid interface name `lo`: the loopback device is never enslaved, bonded or bridged"
                .into(),
        );
    }
    match iproute2_keyword(s) {
        Some(k) if k == s => Err(format!(
            "invalid interface name `{s}`: `ip link` reads it as its keyword `{k}`"
        )),
        Some(k) => Err(format!(
            "invalid interface name `{s}`: `ip link` reads it as an abbreviation of its keyword `{k}`"
        )),
        None => Ok(()),
    }
}

/// Words `ip link add NAME ...` / `ip link set NAME ...` take as keywords (iproute2's
/// `iplink_parse`, which compares these exactly) ...
const IPLINK_KEYWORDS: &[&str] = &[
    "up",
    "down",
    "name",
    "index",
    "mtu",
    "xdp",
    "xdpgeneric",
    "xdpdrv",
    "xdpoffload",
    "netns",
    "multicast",
    "allmulticast",
    "promisc",
    "trailers",
    "arp",
    "carrier",
    "vf",
    "vrf",
    "group",
    "mode",
    "state",
    "numtxqueues",
    "numrxqueues",
    "protodown",
    "protodown_reason",
    "gso_max_size",
    "gso_max_segs",
    "gso_ipv4_max_size",
    "gro_max_size",
    "gro_ipv4_max_size",
    "tso_max_size",
    "tso_max_segs",
    "parentdev",
    "netns-immutable",
    "dev",
    "qlen",
    "brd",
    "txqlen",
    "all",
    "default",
];
/// ... and these, which it also accepts abbreviated (`matches()`: any non-empty prefix).
const IPLINK_PREFIX_KEYWORDS: &[&str] = &[
    "link",
    "link-netns",
    "link-netnsid",
    "address",
    "broadcast",
    "txqueuelen",
    "master",
    "nomaster",
    "dynamic",
    "type",
    "alias",
    "addrgenmode",
    "help",
];

/// The iproute2 keyword an interface name would be parsed as, if any.
pub fn iproute2_keyword(s: &str) -> Option<&'static str> {
    IPLINK_KEYWORDS
        .iter()
        .find(|k| **k == s)
        .or_else(|| {
            IPLINK_PREFIX_KEYWORDS
                .iter()
                .find(|k| !s.is_empty() && k.starts_with(s))
        })
        .copied()
}

/// Why an object name cannot also be a network interface name (Bridge and Bond names are
/// both): longer than IFNAMSIZ − 1, or an iproute2 keyword.
pub fn ifname_problem(s: &str) -> Option<String> {
    check_ifname(s).err()
}

string_newtype!(IfName, "InterfaceName", check_ifname, {
    "description": "A network interface name: 1 to 15 letters, digits, '-', '_' or '.'.",
    "type": "string",
    "pattern": "^[A-Za-z0-9_.-]{1,15}$"
});

/// An LVM volume group or logical volume name: letters, digits, `+_.-`, not starting with '-'.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LvmName(String);

fn check_lvm_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 127
        && !s.starts_with('-')
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid LVM name `{s}`: use letters, digits, '+', '_', '.' and '-', not starting with '-'"
        ))
    }
}

string_newtype!(LvmName, "LvmName", check_lvm_name, {
    "description": "An LVM volume group or logical volume name.",
    "type": "string",
    "pattern": "^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"
});

/// A logical volume name: an [`LvmName`] that LVM also accepts for an LV (see
/// [`lv_name_problem`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LvName(String);

/// Substrings LVM reserves for its internal sub-LVs (lvm(8), "VALID NAMES").
const LV_RESERVED_PARTS: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig", "_mimage", "_mlog",
    "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_vpool", "_wcorig",
];

/// Why LVM would refuse `s` as an LV name, beyond the character set: the prefixes `snapshot`
/// and `pvmove` and the internal sub-LV parts are LVM's own.
pub fn lv_name_problem(s: &str) -> Option<String> {
    if let Some(p) = ["snapshot", "pvmove"].iter().find(|p| s.starts_with(*p)) {
        return Some(format!("LVM reserves LV names starting with `{p}`"));
    }
    LV_RESERVED_PARTS
        .iter()
        .find(|p| s.contains(*p))
        .map(|p| format!("LVM reserves `{p}` in LV names for its internal volumes"))
}

fn check_lv_name(s: &str) -> Result<(), String> {
    check_lvm_name(s)?;
    match lv_name_problem(s) {
        Some(p) => Err(format!("invalid LV name `{s}`: {p}")),
        None => Ok(()),
    }
}

string_newtype!(LvName, "LvName", check_lv_name, {
    "description": "An LVM logical volume name: letters, digits, '+', '_', '.' and '-', not starting with '-', 'snapshot' or 'pvmove', without LVM's internal parts such as _tmeta or _rimage.",
    "type": "string",
    "pattern": "^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"
});

/// Directories a filesystem is never mounted on or below: mounting there hides what the system
/// runs on.
const SYSTEM_TREES: &[&str] = &[
    "/proc", "/sys", "/dev", "/run", "/etc", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib32",
    "/lib64", "/libx32",
];
/// Top-level directories never mounted over themselves (below them is fine).
const SYSTEM_TOPS: &[&str] = &[
    "/var", "/home", "/root", "/tmp", "/srv", "/opt", "/mnt", "/media",
];

/// A directory a filesystem is mounted on, in the form the kernel reports it in `/proc/mounts`:
/// absolute, no trailing slash (one written is dropped), no `.`/`..` or empty components, no
/// whitespace, backslash or control characters, and not a system directory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountPath(String);

impl MountPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when `self` lies strictly below `other`.
    pub fn is_below(&self, other: &MountPath) -> bool {
        other.0 == "/"
            || self
                .0
                .strip_prefix(&other.0)
                .is_some_and(|r| r.starts_with('/'))
    }
}

impl FromStr for MountPath {
    type Err = String;
    fn from_str(s: &str) -> Result<MountPath, String> {
        let bad = |why: &str| Err(format!("invalid mountpoint `{}`: {why}", s.escape_debug()));
        if !s.starts_with('/') {
            return bad("must be an absolute path");
        }
        if s.len() > 4095 {
            return bad("longer than PATH_MAX");
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return bad("whitespace, backslashes and control characters are refused (the kernel escapes them in /proc/mounts)");
        }
        let body = s.strip_suffix('/').filter(|b| !b.is_empty()).unwrap_or(s);
        let mut parts = Vec::new();
        for part in body.split('/').skip(1) {
            match part {
                "" if body != "/" => return bad("empty path component (`//`)"),
                "." | ".." => return bad("`.` and `..` components are refused"),
                p => parts.push(p),
            }
        }
        let path = format!("/{}", parts.join("/"));
        if path == "/" {
            return bad("the root directory is never mounted over");
        }
        if let Some(t) = SYSTEM_TREES
            .iter()
            .find(|t| path == **t || path.starts_with(&format!("{t}/")))
        {
            return bad(&format!("{t} and everything below it belong to the system"));
        }
        if SYSTEM_TOPS.contains(&path.as_str()) {
            return bad(
                "a system top-level directory is never mounted over (a directory below it is fine)",
            );
        }
        Ok(MountPath(path))
    }
}

impl std::ops::Deref for MountPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MountPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MountPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MountPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MountPath, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for MountPath {
    fn schema_name() -> Cow<'static, str> {
        "MountPath".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An absolute directory to mount on, outside the system directories (/, /etc, /usr, /proc, ...).",
            "type": "string",
            "pattern": "^(/[^/\\s\\\\]+)+/?$"
        })
    }
}

/// Mount options (`mount -o`): comma-separated words of `[a-z0-9_.=:+-]`, none of the options
/// that change what a mount does (`remount`, `bind`, `rbind`, `move`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountOptions(String);

const REFUSED_MOUNT_OPTIONS: &[&str] = &["remount", "bind", "rbind", "move"];

fn check_mount_options(s: &str) -> Result<(), String> {
    let word = |o: &str| {
        !o.is_empty()
            && !o.starts_with('-')
            && o.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'.' | b'=' | b':' | b'+' | b'-')
            })
    };
    if s.len() > 1024 || !s.split(',').all(word) {
        return Err(format!(
            "invalid mount options `{}`: use comma-separated words of a-z, 0-9 and `_.=:+-`, none starting with '-'",
            s.escape_debug()
        ));
    }
    if let Some(o) = s
        .split(',')
        .find(|o| REFUSED_MOUNT_OPTIONS.contains(&o.split('=').next().unwrap_or(o)))
    {
        return Err(format!(
            "mount option `{o}` is refused: it changes what the mount does, not how"
        ));
    }
    Ok(())
}

string_newtype!(MountOptions, "MountOptions", check_mount_options, {
    "description": "Mount options passed with mount -o, e.g. noatime,_netdev.",
    "type": "string",
    "pattern": "^[a-z0-9_.=:+][a-z0-9_.=:+-]*(,[a-z0-9_.=:+][a-z0-9_.=:+-]*)*$"
});

/// A MAC address, stored lowercase with colons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

/// Xen's organisationally unique identifier: every domain MAC starts with it.
pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];

impl Mac {
    pub fn is_xen(&self) -> bool {
        self.0[..3] == XEN_OUI
    }
    /// The 24 bits after the OUI, as a number (the allocator counts in these).
    pub fn suffix(&self) -> u32 {
        u32::from_be_bytes([0, self.0[3], self.0[4], self.0[5]])
    }
    pub fn xen(suffix: u32) -> Mac {
        let b = suffix.to_be_bytes();
        Mac([XEN_OUI[0], XEN_OUI[1], XEN_OUI[2], b[1], b[2], b[3]])
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        let bad = || format!("invalid MAC address `{s}`: use six hex pairs separated by ':'");
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Mac {
    fn schema_name() -> Cow<'static, str> {
        "Mac".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A MAC address; domain MACs are in Xen's range 00:16:3e:xx:xx:xx.",
            "type": "string",
            "pattern": "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
        })
    }
}

/// An interface address with its prefix length, e.g. `192.168.1.190/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid address `{s}`: use ADDRESS/PREFIX, e.g. 192.168.1.190/24");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An interface address with prefix length, e.g. 192.168.1.190/24.",
            "type": "string",
            "pattern": "^[0-9A-Fa-f:.]+/[0-9]{1,3}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_object_name_rule() {
        assert!("dns".parse::<Name>().is_ok());
        assert!("0day-vm".parse::<Name>().is_ok());
        for bad in ["", "-dns", "DNS", "dns_1", "dns.x", &"a".repeat(64)] {
            assert!(bad.parse::<Name>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn interface_and_lvm_names() {
        assert!("xenbr0".parse::<IfName>().is_ok());
        assert!("a-very-long-name0".parse::<IfName>().is_err());
        assert!("eth0:1".parse::<IfName>().is_err());
        assert!("XEN".parse::<LvmName>().is_ok());
        assert!("-x".parse::<LvmName>().is_err());
        assert!("a/b".parse::<LvmName>().is_err());
    }

    #[test]
    fn iproute2_keywords_are_not_interface_names() {
        for bad in [
            "up", "help", "mtu", "master", "dev", "name", "type", "all", "default", "he", "ty",
            "a", "link", "nomas",
        ] {
            assert!(bad.parse::<IfName>().is_err(), "{bad}");
        }
        for ok in [
            "xenbr0", "bond0", "eth0", "peth0", "upstream", "uplink0", "devs",
        ] {
            assert!(ok.parse::<IfName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn lv_names_follow_lvm_restrictions() {
        assert!("meta".parse::<LvName>().is_ok());
        for bad in [
            "snapshot",
            "snapshot1",
            "pvmove0",
            "x_tmeta",
            "a_rimage_0",
            ".",
            "..",
            "-x",
        ] {
            assert!(bad.parse::<LvName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mountpoints_are_normalised_and_kept_off_system_directories() {
        assert_eq!("/OVS/".parse::<MountPath>().unwrap().as_str(), "/OVS");
        assert_eq!(
            "/var/lib/xen/images".parse::<MountPath>().unwrap().as_str(),
            "/var/lib/xen/images"
        );
        assert_eq!(
            "/mnt/ovs".parse::<MountPath>().unwrap().as_str(),
            "/mnt/ovs"
        );
        for bad in [
            "/",
            "//",
            "/etc",
            "/etc/",
            "/etc/x",
            "/proc",
            "/OVS/../etc",
            "/OVS/./x",
            "/a//b",
            "OVS",
            "",
            "/usr/local",
            "/var",
            "/home/",
            "/tmp",
            "/a b",
            "/a\\b",
            "/lib64",
            "/run/x",
        ] {
            assert!(bad.parse::<MountPath>().is_err(), "{bad:?}");
        }
        let a: MountPath = "/srv/a".parse().unwrap();
        let b: MountPath = "/srv/a/b".parse().unwrap();
        let c: MountPath = "/srv/ab".parse().unwrap();
        assert!(b.is_below(&a) && !c.is_below(&a) && !a.is_below(&a));
    }

    #[test]
    fn mount_options_are_words_and_never_change_the_mount() {
        assert!("noatime,_netdev,commit=30".parse::<MountOptions>().is_ok());
        for bad in [
            "remount", "ro,bind", "rbind", "move", "-o", "a b", "a,,b", "", "x;y", "NOATIME",
        ] {
            assert!(bad.parse::<MountOptions>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn macs_parse_and_print_lowercase() {
        let m: Mac = "00:16:3E:10:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "00:16:3e:10:00:01");
        assert!(m.is_xen());
        assert_eq!(Mac::xen(m.suffix()), m);
        assert!("00:16:3e:10:00".parse::<Mac>().is_err());
        assert!("00:16:3e:10:00:zz".parse::<Mac>().is_err());
    }

    #[test]
    fn cidr() {
        let c: Cidr = "192.168.1.190/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.1.190/24");
        assert!("192.168.1.190".parse::<Cidr>().is_err());
        assert!("192.168.1.190/33".parse::<Cidr>().is_err());
    }
}
