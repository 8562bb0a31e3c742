//! The disk spec (xl-disk-configuration(5)) and vif spec (xl-network-configuration(5)) strings
//! found in the `disk` and `vif` lists of an xl config, parsed and rendered.
//!
//! Disk: comma-separated positional parameters, `key=value` pairs and flags. Without a prefix the
//! positional order is target, format, vdev, access (`/dev/vg/x,raw,xvda,rw`). The deprecated
//! `phy:`/`file:`/... prefix on the target (what the lab and `xen-drbd-install` write:
//! `phy:/dev/drbd0,xvda,w`) drops the format slot: target, vdev[:devtype], access. A positional
//! value fills the first slot not yet given by name; `target=` swallows the rest of the string.
//! Render only values without commas (or, in the positional form, colons): the syntax has no
//! quoting for them. Pure string functions: nothing here reads or writes a config file.

use std::fmt;

use crate::drivers::ParseError;

const TOOL_DISK: &str = "xl disk spec";
const TOOL_VIF: &str = "xl vif spec";

/// Deprecated target prefixes that also set the format (and, for `phy`/`file`, the backend).
const PREFIXES: [&str; 9] = [
    "phy", "file", "raw", "tap", "tap2", "aio", "qcow", "qcow2", "vhd",
];
/// Bare keywords that are flags, not positional values.
const FLAGS: [&str; 6] = [
    "discard",
    "no-discard",
    "direct-io-safe",
    "colo",
    "trusted",
    "untrusted",
];

/// `access`: how the guest may use the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskAccess {
    /// `w` / `rw`.
    ReadWrite,
    /// `r` / `ro`.
    ReadOnly,
}

/// One disk spec string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    /// Deprecated prefix as written (`phy`, `file`, `tap:aio`...); `None` for the modern form.
    pub prefix: Option<String>,
    /// Block device or image path; `None` for an empty CD-ROM drive.
    pub target: Option<String>,
    /// `format` (raw, qcow2, ...) when given explicitly.
    pub format: Option<String>,
    /// Virtual device as the guest sees it (`xvda`, `hdc`, `51712`).
    pub vdev: String,
    pub access: Option<DiskAccess>,
    /// `devtype` (`cdrom`), also from the `cdrom` flag or a `vdev:cdrom` suffix.
    pub devtype: Option<String>,
    /// Hotplug `script` (`block-drbd`, `block-lab`).
    pub script: Option<String>,
    /// Other `key=value` pairs and flags (value `None`), in order.
    pub other: Vec<(String, Option<String>)>,
}

impl DiskSpec {
    /// `phy:TARGET,VDEV,w` or `...,r` — the form xenflux writes for a DRBD device.
    pub fn phy(target: &str, vdev: &str, access: DiskAccess) -> DiskSpec {
        DiskSpec {
            prefix: Some("phy".into()),
            target: Some(target.into()),
            format: None,
            vdev: vdev.into(),
            access: Some(access),
            devtype: None,
            script: None,
            other: Vec::new(),
        }
    }

    /// Parses one disk spec.
    pub fn parse(s: &str) -> Result<DiskSpec, ParseError> {
        let err = |m: String| ParseError::new(TOOL_DISK, 1, s, m);
        let mut d = DiskSpec {
            prefix: None,
            target: None,
            format: None,
            vdev: String::new(),
            access: None,
            devtype: None,
            script: None,
            other: Vec::new(),
        };
        // Slots: target, format, vdev, access — "given" once named or filled positionally.
        let mut given = [false; 4];
        let mut rest = s;
        while !rest.is_empty() {
            let (item, tail) = match rest.split_once(',') {
                Some((i, t)) => (i, t),
                None => (rest, ""),
            };
            let item = item.trim_start();
            if let Some(t) = item.strip_prefix("target=") {
                // Swallows the rest of the string, commas included.
                let whole = rest.trim_start().strip_prefix("target=").unwrap_or(t);
                set_once(&mut given[0], "target", &err)?;
                d.target = non_empty(whole);
                break;
            }
            rest = tail;
            if let Some((k, v)) = item.split_once('=') {
                let v = v.trim_end();
                match k {
                    "format" => {
                        set_once(&mut given[1], k, &err)?;
                        d.format = non_empty(v);
                    }
                    "vdev" => {
                        set_once(&mut given[2], k, &err)?;
                        d.vdev = v.to_string();
                    }
                    "access" => {
                        set_once(&mut given[3], k, &err)?;
                        d.access = access(v).map_err(&err)?;
                    }
                    "devtype" => d.devtype = non_empty(v),
                    "script" => d.script = non_empty(v),
                    _ => d.other.push((k.to_string(), Some(v.to_string()))),
                }
            } else if item == "cdrom" {
                d.devtype = Some("cdrom".into());
            } else if FLAGS.contains(&item.trim_end()) {
                d.other.push((item.trim_end().to_string(), None));
            } else {
                positional(&mut d, &mut given, item.trim_end()).map_err(&err)?;
            }
        }
        if d.vdev.is_empty() {
            return Err(err("no vdev (virtual device) given".into()));
        }
        Ok(d)
    }
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

fn set_once(
    slot: &mut bool,
    name: &str,
    err: &impl Fn(String) -> ParseError,
) -> Result<(), ParseError> {
    if std::mem::replace(slot, true) {
        return Err(err(format!("{name} given twice")));
    }
    Ok(())
}

fn access(v: &str) -> Result<Option<DiskAccess>, String> {
    match v {
        "" => Ok(None),
        "w" | "rw" => Ok(Some(DiskAccess::ReadWrite)),
        "r" | "ro" => Ok(Some(DiskAccess::ReadOnly)),
        other => Err(format!("unknown access {other:?} (r, ro, w or rw)")),
    }
}

/// Splits a deprecated `prefix:` (possibly two, `tap:aio:`) off a target.
fn split_prefix(t: &str) -> Option<(String, &str)> {
    let (p, rest) = t.split_once(':')?;
    if !PREFIXES.contains(&p) || rest.is_empty() {
        return None;
    }
    match rest.split_once(':') {
        Some((p2, rest2)) if PREFIXES.contains(&p2) && !rest2.is_empty() => {
            Some((format!("{p}:{p2}"), rest2))
        }
        _ => Some((p.to_string(), rest)),
    }
}

fn positional(d: &mut DiskSpec, given: &mut [bool; 4], v: &str) -> Result<(), String> {
    if !given[0] {
        given[0] = true;
        match split_prefix(v) {
            Some((p, t)) => {
                d.prefix = Some(p);
                d.target = non_empty(t);
            }
            None => d.target = non_empty(v),
        }
    } else if !given[1] && d.prefix.is_none() {
        // With a deprecated prefix there is no format slot: the prefix stands for it.
        given[1] = true;
        d.format = non_empty(v);
    } else if !given[2] {
        given[2] = true;
        match v.split_once(':') {
            Some((vdev, devtype)) if d.prefix.is_some() => {
                d.vdev = vdev.to_string();
                d.devtype = non_empty(devtype);
            }
            _ => d.vdev = v.to_string(),
        }
    } else if !given[3] {
        given[3] = true;
        d.access = access(v)?;
    } else {
        return Err(format!("too many positional parameters at {v:?}"));
    }
    Ok(())
}

impl fmt::Display for DiskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let rw = |short: bool| match self.access {
            Some(DiskAccess::ReadWrite) => Some(if short { "w" } else { "rw" }),
            Some(DiskAccess::ReadOnly) => Some(if short { "r" } else { "ro" }),
            None => None,
        };
        if let Some(p) = &self.prefix {
            parts.push(format!("{p}:{}", self.target.as_deref().unwrap_or("")));
            match &self.devtype {
                Some(t) => parts.push(format!("{}:{t}", self.vdev)),
                None => parts.push(self.vdev.clone()),
            }
            parts.extend(rw(true).map(str::to_string));
            parts.extend(self.format.as_ref().map(|v| format!("format={v}")));
        } else {
            parts.extend(self.format.as_ref().map(|v| format!("format={v}")));
            parts.push(format!("vdev={}", self.vdev));
            parts.extend(rw(false).map(|a| format!("access={a}")));
            parts.extend(self.devtype.as_ref().map(|v| format!("devtype={v}")));
        }
        parts.extend(self.script.as_ref().map(|v| format!("script={v}")));
        for (k, v) in &self.other {
            parts.push(match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            });
        }
        if self.prefix.is_none() {
            parts.extend(self.target.as_ref().map(|t| format!("target={t}")));
        }
        f.write_str(&parts.join(","))
    }
}

/// One vif spec: `mac=...,bridge=...,script=...,ip=...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VifSpec {
    pub mac: Option<String>,
    pub bridge: Option<String>,
    /// `type` (`vif`, `ioemu`).
    pub kind: Option<String>,
    pub model: Option<String>,
    pub vifname: Option<String>,
    pub script: Option<String>,
    /// `ip`: one or more space-separated addresses.
    pub ip: Option<String>,
    /// Other `key=value` pairs, in order.
    pub other: Vec<(String, String)>,
}

impl VifSpec {
    /// Parses one vif spec (`''` is valid: every setting at its default).
    pub fn parse(s: &str) -> Result<VifSpec, ParseError> {
        let mut v = VifSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, val) = item.split_once('=').ok_or_else(|| {
                ParseError::new(TOOL_VIF, 1, s, format!("{item:?} is not key=value"))
            })?;
            let (k, val) = (k.trim(), val.trim().to_string());
            let slot = match k {
                "mac" => &mut v.mac,
                "bridge" => &mut v.bridge,
                "type" => &mut v.kind,
                "model" => &mut v.model,
                "vifname" => &mut v.vifname,
                "script" => &mut v.script,
                "ip" => &mut v.ip,
                _ => {
                    v.other.push((k.to_string(), val));
                    continue;
                }
            };
            if slot.replace(val).is_some() {
                return Err(ParseError::new(TOOL_VIF, 1, s, format!("{k} given twice")));
            }
        }
        Ok(v)
    }
}

impl fmt::Display for VifSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = [
            ("mac", &self.mac),
            ("bridge", &self.bridge),
            ("type", &self.kind),
            ("model", &self.model),
            ("vifname", &self.vifname),
            ("script", &self.script),
            ("ip", &self.ip),
        ];
        let parts: Vec<String> = known
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .chain(self.other.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_disk_round_trips() {
        let s = "phy:/dev/drbd0,xvda,w,script=block-lab";
        let d = DiskSpec::parse(s).unwrap();
        assert_eq!(d.prefix.as_deref(), Some("phy"));
        assert_eq!(d.target.as_deref(), Some("/dev/drbd0"));
        assert_eq!(d.vdev, "xvda");
        assert_eq!(d.access, Some(DiskAccess::ReadWrite));
        assert_eq!(d.script.as_deref(), Some("block-lab"));
        assert_eq!(d.to_string(), s);
        assert_eq!(
            DiskSpec::phy("/dev/drbd1", "xvda", DiskAccess::ReadWrite).to_string(),
            "phy:/dev/drbd1,xvda,w"
        );
    }

    #[test]
    fn documented_equivalents() {
        let a = DiskSpec::parse("/dev/vg/guest-volume,raw,hda,rw").unwrap();
        let b = DiskSpec::parse("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume")
            .unwrap();
        assert_eq!(a, b);
        let c = DiskSpec::parse("/dev/vg/guest-volume,,hda").unwrap();
        assert_eq!(
            (c.format.clone(), c.vdev.as_str(), c.access),
            (None, "hda", None)
        );
        for s in [
            "/root/image.iso,,hdc,cdrom",
            "/root/image.iso,,hdc,,cdrom",
            "/root/image.iso,raw,hdc,devtype=cdrom",
        ] {
            let d = DiskSpec::parse(s).unwrap();
            assert_eq!(
                (d.vdev.as_str(), d.devtype.as_deref()),
                ("hdc", Some("cdrom")),
                "{s}"
            );
            assert_eq!(DiskSpec::parse(&d.to_string()).unwrap(), d, "{s}");
        }
        let d = DiskSpec::parse("raw:/root/image.iso,hdc:cdrom,ro").unwrap();
        assert_eq!(
            (d.prefix.as_deref(), d.devtype.as_deref(), d.access),
            (Some("raw"), Some("cdrom"), Some(DiskAccess::ReadOnly))
        );
        assert_eq!(d.to_string(), "raw:/root/image.iso,hdc:cdrom,r");
        let d = DiskSpec::parse("vdev=xvdb,access=w,target=/images/a,b.img").unwrap();
        assert_eq!(d.target.as_deref(), Some("/images/a,b.img"));
        assert_eq!(DiskSpec::parse(&d.to_string()).unwrap(), d);
        let d = DiskSpec::parse("phy:/dev/x,xvdb,w,format=raw").unwrap();
        assert_eq!(DiskSpec::parse(&d.to_string()).unwrap(), d);
        let d = DiskSpec::parse("tap:aio:/x.img,xvdc,w,discard").unwrap();
        assert_eq!(
            (d.prefix.as_deref(), d.other.clone()),
            (Some("tap:aio"), vec![("discard".to_string(), None)])
        );
        assert_eq!(DiskSpec::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn disk_errors() {
        assert!(DiskSpec::parse("/dev/x")
            .unwrap_err()
            .message
            .contains("vdev"));
        assert!(DiskSpec::parse("phy:/dev/x,xvda,w,extra")
            .unwrap_err()
            .message
            .contains("too many"));
        assert!(DiskSpec::parse("phy:/dev/x,xvda,rwx")
            .unwrap_err()
            .message
            .contains("access"));
        assert!(DiskSpec::parse("vdev=a,vdev=b")
            .unwrap_err()
            .message
            .contains("twice"));
    }

    #[test]
    fn vif_round_trips() {
        let s = "mac=00:16:3e:00:00:01,bridge=xenbr0";
        let v = VifSpec::parse(s).unwrap();
        assert_eq!(
            (v.mac.as_deref(), v.bridge.as_deref()),
            (Some("00:16:3e:00:00:01"), Some("xenbr0"))
        );
        assert_eq!(v.to_string(), s);
        let v =
            VifSpec::parse(" bridge=xenbr1, script=vif-bridge ,ip=10.0.0.1 10.0.0.2,rate=10Mb/s")
                .unwrap();
        assert_eq!(v.ip.as_deref(), Some("10.0.0.1 10.0.0.2"));
        assert_eq!(VifSpec::parse(&v.to_string()).unwrap(), v);
        assert_eq!(VifSpec::parse("").unwrap(), VifSpec::default());
        assert!(VifSpec::parse("bridge").is_err());
        assert!(VifSpec::parse("mac=a,mac=b").is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const TOKEN: &str = "[A-Za-z0-9/_.-]{1,12}";

        fn disk() -> impl Strategy<Value = DiskSpec> {
            let prefix = prop::option::of(prop_oneof![Just("phy"), Just("file"), Just("tap:aio")]);
            let other = prop_oneof![
                TOKEN.prop_map(|v| ("backendtype".to_string(), Some(v))),
                prop::sample::select(FLAGS.to_vec()).prop_map(|f| (f.to_string(), None)),
            ];
            (
                prefix,
                prop::option::of(TOKEN),
                prop::option::of(prop_oneof![Just("raw"), Just("qcow2")]),
                "xvd[a-z]",
                prop::option::of(prop_oneof![
                    Just(DiskAccess::ReadWrite),
                    Just(DiskAccess::ReadOnly)
                ]),
                prop::option::of(Just("cdrom")),
                prop::option::of(TOKEN),
                prop::collection::vec(other, 0..3),
            )
                .prop_map(
                    |(prefix, target, format, vdev, access, devtype, script, other)| DiskSpec {
                        // A prefix needs a target to stand on.
                        target: if prefix.is_some() {
                            Some(target.unwrap_or_else(|| "/dev/x".into()))
                        } else {
                            target
                        },
                        prefix: prefix.map(str::to_string),
                        format: format.map(str::to_string),
                        vdev,
                        access,
                        devtype: devtype.map(str::to_string),
                        script,
                        other,
                    },
                )
        }

        fn vif() -> impl Strategy<Value = VifSpec> {
            let o = || prop::option::of(TOKEN);
            (
                o(),
                o(),
                o(),
                o(),
                o(),
                o(),
                prop::option::of("[0-9.]{1,7}( [0-9.]{1,7})?"),
                prop::collection::vec(("rate|backend|mtu|devid|gatewaydev", TOKEN), 0..2),
            )
                .prop_map(|(mac, bridge, kind, model, vifname, script, ip, other)| {
                    VifSpec {
                        mac,
                        bridge,
                        kind,
                        model,
                        vifname,
                        script,
                        ip,
                        other: other.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    }
                })
        }

        proptest! {
            #[test]
            fn disk_render_then_parse_is_identity(d in disk()) {
                prop_assert_eq!(DiskSpec::parse(&d.to_string()), Ok(d));
            }

            #[test]
            fn vif_render_then_parse_is_identity(v in vif()) {
                prop_assert_eq!(VifSpec::parse(&v.to_string()), Ok(v));
            }
        }
    }
}
