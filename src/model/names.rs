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
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid interface name `{s}`: use 1 to 15 letters, digits, '-', '_' or '.'"
        ))
    }
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
