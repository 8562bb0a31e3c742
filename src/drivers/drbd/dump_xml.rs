//! Parser for `drbdadm dump-xml`: the normalised configuration, the best input for reading what
//! resources a node's `/etc/drbd.d` defines (minors, ports, meta-disk slots).
//!
//! Shape (drbd-utils 9.22, 8.4 and 9 modes): `<config file>` → `<common>` and
//! `<resource name conf-file-line>` → `<host name>` → `<volume vnr>` → `<device minor>`,
//! `<disk>`, `<meta-disk index="N">path</meta-disk>` (or `internal`, or a path without index for
//! flexible external meta-data), and `<address family port>IP</address>`; `<connection>` (9 mode
//! only) and `<section name><option name value/>`. A DRBD 9 `device minor N;` gives an empty
//! `<device minor="N"></device>`. Pure text in, values out (XML via roxmltree).

use roxmltree::{Document, Node};

use crate::drivers::ParseError;

const TOOL: &str = "drbdadm dump-xml";

/// The whole dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrbdConfig {
    /// `<config file="...">`.
    pub file: Option<String>,
    /// Sections of the `common { }` block.
    pub common: Vec<Section>,
    pub resources: Vec<ResourceConfig>,
}

/// One `resource`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceConfig {
    pub name: String,
    /// `conf-file-line`, e.g. `/etc/drbd.d/dns.res:1`.
    pub conf_file_line: Option<String>,
    pub hosts: Vec<HostConfig>,
    /// DRBD 9 mode: each `<connection>` is the list of its hosts with their addresses.
    pub connections: Vec<Vec<ConnectionHost>>,
    /// `net`, `disk`, `startup`, ... sections of the resource.
    pub sections: Vec<Section>,
}

/// One `on HOST { }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    pub name: String,
    pub volumes: Vec<VolumeConfig>,
    pub address: Option<Address>,
}

/// One volume of a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeConfig {
    pub vnr: u32,
    pub minor: Option<u32>,
    /// `/dev/drbdN`; `None` when the config gave only the minor.
    pub device: Option<String>,
    /// Backing device; `None` if not given, `Some("none")` for a diskless node.
    pub disk: Option<String>,
    pub meta_disk: Option<MetaDisk>,
}

/// Where the meta-data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaDisk {
    /// At the end of the backing device.
    Internal,
    /// 8.4 indexed external: a fixed 128 MiB slot `index` of `path` (`meta-disk /dev/VG/meta[i]`).
    Indexed { path: String, index: u32 },
    /// Flexible external: the whole of `path`.
    Flexible { path: String },
}

/// An `address family IP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// `ipv4`, `ipv6`, ...
    pub family: String,
    pub ip: String,
    pub port: u16,
}

/// A host inside a `<connection>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionHost {
    pub name: String,
    pub address: Option<Address>,
}

/// A `<section name>` of options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

impl ResourceConfig {
    /// The host section named `name`.
    pub fn host(&self, name: &str) -> Option<&HostConfig> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The value of option `option` in section `section` (e.g. `net`, `allow-two-primaries`).
    pub fn option(&self, section: &str, option: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| s.options.iter())
            .find(|(k, _)| k == option)
            .map(|(_, v)| v.as_str())
    }
}

struct Ctx<'a> {
    doc: &'a Document<'a>,
    input: &'a str,
}

impl Ctx<'_> {
    fn err(&self, node: Node, message: impl Into<String>) -> ParseError {
        let line = self.doc.text_pos_at(node.range().start).row as usize;
        ParseError::at(TOOL, self.input, line, message)
    }

    fn attr<'n>(&self, node: Node<'n, '_>, name: &str) -> Result<&'n str, ParseError> {
        node.attribute(name).ok_or_else(|| {
            self.err(
                node,
                format!("<{}> without {name}=", node.tag_name().name()),
            )
        })
    }

    fn num<T: std::str::FromStr>(&self, node: Node, name: &str) -> Result<T, ParseError> {
        let v = self.attr(node, name)?;
        v.parse()
            .map_err(|_| self.err(node, format!("{name}={v:?} is not a number")))
    }
}

fn elements<'a, 'i>(node: Node<'a, 'i>, tag: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.has_tag_name(tag))
}

fn text(node: Node) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Deepest element nesting accepted; `drbdadm dump-xml` nests six deep. The XML library
/// recurses per level, so a deeper document would overflow the stack instead of failing.
const MAX_DEPTH: usize = 256;

/// How deep elements nest, counted from the tags alone (comments, declarations and processing
/// instructions skipped), stopping as soon as `limit` is passed.
fn nesting_exceeds(input: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut rest = input;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix("!--") {
            rest = r.split_once("-->").map_or("", |(_, after)| after);
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
        } else if !(tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/')) {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
        rest = &rest[end..];
    }
    false
}

/// Parses the stdout of `drbdadm dump-xml`.
pub fn parse(input: &str) -> Result<DrbdConfig, ParseError> {
    if nesting_exceeds(input, MAX_DEPTH) {
        return Err(ParseError::whole(
            TOOL,
            format!("elements nested more than {MAX_DEPTH} deep"),
        ));
    }
    let doc = Document::parse(input).map_err(|e| {
        ParseError::at(
            TOOL,
            input,
            e.pos().row as usize,
            format!("invalid XML: {e}"),
        )
    })?;
    let cx = Ctx { doc: &doc, input };
    let root = doc.root_element();
    if !root.has_tag_name("config") {
        return Err(cx.err(
            root,
            format!("root element is <{}>, not <config>", root.tag_name().name()),
        ));
    }
    let common = match elements(root, "common").next() {
        Some(c) => sections(&cx, c)?,
        None => Vec::new(),
    };
    let mut names = std::collections::BTreeSet::new();
    let resources = elements(root, "resource")
        .map(|r| {
            let rc = resource(&cx, r)?;
            if !names.insert(rc.name.clone()) {
                // drbdadm refuses two resources of one name; two here cannot both be true.
                return Err(cx.err(r, format!("resource {} is listed twice", rc.name)));
            }
            Ok(rc)
        })
        .collect::<Result<_, _>>()?;
    Ok(DrbdConfig {
        file: root.attribute("file").map(str::to_string),
        common,
        resources,
    })
}

fn sections(cx: &Ctx, node: Node) -> Result<Vec<Section>, ParseError> {
    elements(node, "section")
        .map(|s| {
            let options = elements(s, "option")
                .map(|o| {
                    Ok((
                        cx.attr(o, "name")?.to_string(),
                        o.attribute("value").unwrap_or("").to_string(),
                    ))
                })
                .collect::<Result<_, ParseError>>()?;
            Ok(Section {
                name: cx.attr(s, "name")?.to_string(),
                options,
            })
        })
        .collect()
}

fn resource(cx: &Ctx, r: Node) -> Result<ResourceConfig, ParseError> {
    let hosts = elements(r, "host")
        .map(|h| {
            let volumes = elements(h, "volume")
                .map(|v| volume(cx, v))
                .collect::<Result<_, _>>()?;
            Ok(HostConfig {
                name: cx.attr(h, "name")?.to_string(),
                volumes,
                address: address(cx, h)?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    let connections = elements(r, "connection")
        .map(|c| {
            elements(c, "host")
                .map(|h| {
                    Ok(ConnectionHost {
                        name: cx.attr(h, "name")?.to_string(),
                        address: address(cx, h)?,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(ResourceConfig {
        name: cx.attr(r, "name")?.to_string(),
        conf_file_line: r.attribute("conf-file-line").map(str::to_string),
        hosts,
        connections,
        sections: sections(cx, r)?,
    })
}

fn address(cx: &Ctx, host: Node) -> Result<Option<Address>, ParseError> {
    let Some(a) = elements(host, "address").next() else {
        return Ok(None);
    };
    let ip = text(a).ok_or_else(|| cx.err(a, "<address> without an IP"))?;
    Ok(Some(Address {
        family: a.attribute("family").unwrap_or("ipv4").to_string(),
        ip,
        port: cx.num(a, "port")?,
    }))
}

fn volume(cx: &Ctx, v: Node) -> Result<VolumeConfig, ParseError> {
    let device = elements(v, "device").next();
    let minor = match device {
        Some(d) if d.attribute("minor").is_some() => Some(cx.num(d, "minor")?),
        Some(_) | None => None,
    };
    let meta_disk = match elements(v, "meta-disk").next() {
        None => None,
        Some(m) => {
            let path = text(m).ok_or_else(|| cx.err(m, "<meta-disk> without a device"))?;
            Some(match (path.as_str(), m.attribute("index")) {
                ("internal", _) => MetaDisk::Internal,
                (_, Some(_)) => MetaDisk::Indexed {
                    path,
                    index: cx.num(m, "index")?,
                },
                (_, None) => MetaDisk::Flexible { path },
            })
        }
    };
    Ok(VolumeConfig {
        vnr: cx.num(v, "vnr")?,
        minor,
        device: device.and_then(text),
        disk: elements(v, "disk").next().and_then(text),
        meta_disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_disk_forms() {
        let x = r#"<config file="/x"><resource name="r0"><host name="a"><volume vnr="0">
            <device minor="1"></device><disk>/dev/vg0/dns</disk><meta-disk>/dev/vg0/meta</meta-disk>
            </volume><address family="ipv4" port="7792">192.168.1.190</address></host>
            <host name="b"><volume vnr="0"><device minor="1">/dev/drbd1</device><disk>/dev/vg0/dns</disk>
            <meta-disk>internal</meta-disk></volume></host></resource></config>"#;
        let c = parse(x).unwrap();
        let r = &c.resources[0];
        let a = &r.host("a").unwrap().volumes[0];
        assert_eq!((a.minor, a.device.as_deref()), (Some(1), None));
        assert_eq!(
            a.meta_disk,
            Some(MetaDisk::Flexible {
                path: "/dev/vg0/meta".into()
            })
        );
        assert_eq!(
            r.host("b").unwrap().volumes[0].meta_disk,
            Some(MetaDisk::Internal)
        );
        assert_eq!(r.host("b").unwrap().address, None);
    }

    #[test]
    fn errors_name_the_element_line() {
        let e = parse("<config>\n<resource name=\"r0\">\n<host name=\"a\"><volume vnr=\"x\"/></host>\n</resource></config>").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("vnr"));
        let e = parse("<config>\n<resource>\n</config>").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse("<nope/>").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("<config><resource name=\"r\"><host name=\"a\"><address port=\"99999\">1.2.3.4</address></host></resource></config>").unwrap_err();
        assert!(e.message.contains("port"));
    }
}
