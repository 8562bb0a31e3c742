//! Units that appear in the desired state: sizes in bytes with binary suffixes, DRBD rates,
//! durations. Each parses from the operator's spelling and prints back the same way; none does I/O.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;
pub const PIB: u64 = 1024 * TIB;

const SIZE_UNITS: [(&str, u64); 5] = [
    ("PiB", PIB),
    ("TiB", TIB),
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
];

/// A size in bytes. Written as `10GiB`, `512MiB`, `4KiB` or a plain integer of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

impl Size {
    pub fn bytes(self) -> u64 {
        self.0
    }
    pub fn mib(n: u64) -> Size {
        Size(n * MIB)
    }
    pub fn gib(n: u64) -> Size {
        Size(n * GIB)
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty size".into());
        }
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Size(n));
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let unit = unit.trim();
        let Some(&(_, factor)) = SIZE_UNITS.iter().find(|(u, _)| *u == unit) else {
            let hint = match unit.to_ascii_uppercase().trim_end_matches('B') {
                "K" | "KI" => " (did you mean KiB?)",
                "M" | "MI" => " (did you mean MiB?)",
                "G" | "GI" => " (did you mean GiB?)",
                "T" | "TI" => " (did you mean TiB?)",
                _ => "",
            };
            return Err(format!(
                "invalid size `{s}`: use a whole number with a binary unit (KiB, MiB, GiB, TiB, PiB) or plain bytes{hint}"
            ));
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size `{s}`: the number must be a whole number"))?;
        n.checked_mul(factor)
            .map(Size)
            .ok_or_else(|| format!("invalid size `{s}`: too large"))
    }
}

impl fmt::Display for Size {
    /// The largest binary unit that divides the size exactly, else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "0");
        }
        for (unit, factor) in SIZE_UNITS {
            if self.0 % factor == 0 {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 10GiB, 512MiB or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Size, E> {
                Err(E::custom(format!("invalid size `{v}`: use a whole number with a binary unit (KiB, MiB, GiB, TiB)")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size: a whole number with a binary unit (KiB, MiB, GiB, TiB, PiB), or plain bytes.",
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]+(KiB|MiB|GiB|TiB|PiB)?$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// A DRBD rate in DRBD's own spelling: a number with an optional `K`, `M` or `G` suffix
/// (bytes per second in units of KiB, MiB, GiB), e.g. `5M` for a resync rate of 5 MiB/s.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    pub kib_per_sec: u64,
    text: String,
}

impl Rate {
    pub fn as_drbd(&self) -> &str {
        &self.text
    }
}

/// DRBD 8.4's largest resync rate (`DRBD_RESYNC_RATE_MAX`, in KiB/s: 4 GiB/s).
pub const MAX_RATE_KIB: u64 = 4 << 20;

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let (num, factor) = match t.chars().last() {
            Some('K' | 'k') => (&t[..t.len() - 1], 1),
            Some('M' | 'm') => (&t[..t.len() - 1], 1024),
            Some('G' | 'g') => (&t[..t.len() - 1], 1024 * 1024),
            _ => (t, 1),
        };
        let n: u64 = num.parse().map_err(|_| {
            format!("invalid rate `{s}`: use DRBD's notation, a whole number with an optional K, M or G suffix (e.g. 5M)")
        })?;
        if n == 0 {
            return Err(format!("invalid rate `{s}`: must be greater than zero"));
        }
        let kib_per_sec = n
            .checked_mul(factor)
            .filter(|k| *k <= MAX_RATE_KIB)
            .ok_or_else(|| {
                format!("invalid rate `{s}`: DRBD's largest rate is {MAX_RATE_KIB}K (4G)")
            })?;
        let text = match factor {
            1 if t.ends_with(['K', 'k']) || num == t => format!("{n}K"),
            1024 => format!("{n}M"),
            _ => format!("{n}G"),
        };
        Ok(Rate { kib_per_sec, text })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let v = StrOrNum::deserialize(d)?;
        v.0.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A DRBD rate: a whole number with an optional K, M or G suffix (KiB/s, MiB/s, GiB/s), e.g. 5M.",
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]+[KkMmGg]?$"},
                {"type": "integer", "minimum": 1}
            ]
        })
    }
}

/// A duration written as `30s`, `5m`, `1h` (or a combination such as `1h30m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub seconds: u64,
}

/// Shortest duration accepted.
pub const MIN_DURATION_SECS: u64 = 1;
/// Longest duration accepted: a week. Longer intervals are a typo, and far-off deadlines
/// overflow timers.
pub const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Duration, String> {
        let bad = || format!("invalid duration `{s}`: use s, m or h units, e.g. 30s, 5m, 1h30m");
        let too_long = || format!("invalid duration `{s}`: at most 7 days (168h)");
        let mut total = 0u64;
        let mut num = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let factor = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return Err(bad()),
            };
            if num.is_empty() {
                return Err(bad());
            }
            let n: u64 = num.parse().map_err(|_| too_long())?;
            total = n
                .checked_mul(factor)
                .and_then(|x| total.checked_add(x))
                .filter(|t| *t <= MAX_DURATION_SECS)
                .ok_or_else(too_long)?;
            num.clear();
        }
        if !num.is_empty() || total < MIN_DURATION_SECS {
            return Err(bad());
        }
        Ok(Duration { seconds: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (
            self.seconds / 3600,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = String::deserialize(d)?;
        v.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration with s, m or h units, e.g. 30s, 5m, 1h30m.",
            "type": "string",
            "pattern": "^([0-9]+[smh])+$"
        })
    }
}

/// Accepts a YAML string or number and keeps its text (for values like `5M` or `5000`).
pub(crate) struct StrOrNum(pub String);

impl<'de> Deserialize<'de> for StrOrNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StrOrNum, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrOrNum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOrNum, E> {
                Ok(StrOrNum(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOrNum, E> {
                Ok(StrOrNum(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StrOrNum, E> {
                Ok(StrOrNum(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrNum, E> {
                Ok(StrOrNum(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_binary_units_and_bytes() {
        assert_eq!("10GiB".parse::<Size>().unwrap(), Size(10 * GIB));
        assert_eq!("512MiB".parse::<Size>().unwrap(), Size(512 * MIB));
        assert_eq!("4096".parse::<Size>().unwrap(), Size(4096));
        assert_eq!(Size(10 * GIB).to_string(), "10GiB");
        assert_eq!(Size(1536 * MIB).to_string(), "1536MiB");
        assert_eq!(Size(4095).to_string(), "4095");
    }

    #[test]
    fn sizes_reject_decimal_and_unknown_units() {
        let e = "10G".parse::<Size>().unwrap_err();
        assert!(e.contains("did you mean GiB"), "{e}");
        assert!("10GB".parse::<Size>().unwrap_err().contains("GiB"));
        assert!("1.5GiB".parse::<Size>().is_err());
        assert!("GiB".parse::<Size>().is_err());
        assert!("99999999999PiB"
            .parse::<Size>()
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn rates_use_drbd_notation() {
        let r: Rate = "5M".parse().unwrap();
        assert_eq!((r.kib_per_sec, r.as_drbd()), (5120, "5M"));
        assert_eq!("40960".parse::<Rate>().unwrap().as_drbd(), "40960K");
        assert!("5MB".parse::<Rate>().is_err());
        assert!("0M".parse::<Rate>().is_err());
    }

    #[test]
    fn durations_round_trip() {
        let d: Duration = "1h30m".parse().unwrap();
        assert_eq!(d.seconds, 5400);
        assert_eq!(d.to_string(), "1h30m");
        assert!("5".parse::<Duration>().is_err());
        assert!("5x".parse::<Duration>().is_err());
        assert!("m".parse::<Duration>().is_err());
    }

    #[test]
    fn durations_are_checked_and_bounded() {
        assert_eq!(
            "168h".parse::<Duration>().unwrap().seconds,
            MAX_DURATION_SECS
        );
        for bad in [
            "18446744073709551615s",
            "5124095576030432h",
            "168h1s",
            "99999999999999999999999s",
            "0s",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_are_checked_and_bounded() {
        assert_eq!("4G".parse::<Rate>().unwrap().kib_per_sec, MAX_RATE_KIB);
        for bad in [
            "18446744073709551615G",
            "4097M",
            "4194305",
            "18014398509481984M",
        ] {
            let e = bad.parse::<Rate>().unwrap_err();
            assert!(e.contains("largest rate"), "{bad}: {e}");
        }
    }
}
