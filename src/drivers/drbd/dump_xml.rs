//! Parser for `drbdadm dump-xml`: the normalised configuration, the best input for reading what
//! resources a node's `/etc/drbd.d` defines (minors, ports, meta-disk slots).
//!
//! Shape (drbd-utils 9.22, 8.4 and 9 modes): `<config file>` → `<common>` and
//! `<resource name conf-file-line>` → `<host name>` → `<volume vnr>` → `<device minor>`,
//! `<disk>`, `<meta-disk index="N">path</meta-disk>` (or `internal`, or a path without index for
//! flexible external meta-data), and `<address family port>IP</address>`; `<connection>` (9 mode
//! only) and `<section name><option name value/>`. A DRBD 9 `device minor N;` gives an empty
//! `<device minor="N"></device>`. Pure text in, values out: the plain XML drbdadm prints is read
//! by a tokenizer borrowing from the text ([`fast`]), anything else by roxmltree.

use std::borrow::Cow;

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

/// An element of the dump, read either by the tokenizer below or from roxmltree's tree.
struct Elem<'a> {
    name: Cow<'a, str>,
    /// Its attributes: a range of [`Tree::attrs`].
    attrs: std::ops::Range<usize>,
    /// The text before its first child (roxmltree's `Node::text`).
    text: Option<Cow<'a, str>>,
    first: Option<usize>,
    next: Option<usize>,
    /// Byte offset of its `<`, for the line an error names.
    at: usize,
}

/// The elements of a document, the root first.
struct Tree<'a> {
    input: &'a str,
    elems: Vec<Elem<'a>>,
    attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Tree<'a> {
    fn err(&self, e: usize, message: impl Into<String>) -> ParseError {
        let at = self.elems[e].at.min(self.input.len());
        let line = 1 + self.input.as_bytes()[..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        ParseError::at(TOOL, self.input, line, message)
    }

    fn name(&self, e: usize) -> &str {
        &self.elems[e].name
    }

    fn attribute(&self, e: usize, name: &str) -> Option<&str> {
        self.attrs[self.elems[e].attrs.clone()]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    fn attr(&self, e: usize, name: &str) -> Result<&str, ParseError> {
        self.attribute(e, name)
            .ok_or_else(|| self.err(e, format!("<{}> without {name}=", self.name(e))))
    }

    fn num<T: std::str::FromStr>(&self, e: usize, name: &str) -> Result<T, ParseError> {
        let v = self.attr(e, name)?;
        v.parse()
            .map_err(|_| self.err(e, format!("{name}={v:?} is not a number")))
    }

    /// The child elements of `e` tagged `tag`, in order.
    fn elements<'t>(&'t self, e: usize, tag: &'static str) -> impl Iterator<Item = usize> + 't {
        std::iter::successors(self.elems[e].first, |c| self.elems[*c].next)
            .filter(move |c| self.elems[*c].name == tag)
    }

    /// The element's text, trimmed; None when blank.
    fn text(&self, e: usize) -> Option<String> {
        self.elems[e]
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    /// The elements of a document roxmltree read (any XML it accepts).
    fn of_document(input: &'a str, doc: &Document) -> Tree<'a> {
        let mut t = Tree {
            input,
            elems: Vec::new(),
            attrs: Vec::new(),
        };
        t.add(doc.root_element());
        t
    }

    /// Adds `node` and its descendant elements (nested at most [`MAX_DEPTH`] deep); its index.
    fn add(&mut self, node: Node) -> usize {
        let start = self.attrs.len();
        // A namespaced attribute is not the plain name roxmltree's `attribute` looks up.
        self.attrs.extend(
            node.attributes()
                .filter(|a| a.namespace().is_none())
                .map(|a| {
                    (
                        Cow::Owned(a.name().to_string()),
                        Cow::Owned(a.value().to_string()),
                    )
                }),
        );
        let me = self.elems.len();
        self.elems.push(Elem {
            name: Cow::Owned(node.tag_name().name().to_string()),
            attrs: start..self.attrs.len(),
            text: node.text().map(|s| Cow::Owned(s.to_string())),
            first: None,
            next: None,
            at: node.range().start,
        });
        let mut last: Option<usize> = None;
        for c in node.children().filter(|c| c.is_element()) {
            let i = self.add(c);
            match last {
                None => self.elems[me].first = Some(i),
                Some(l) => self.elems[l].next = Some(i),
            }
            last = Some(i);
        }
        me
    }
}

/// The tokenizer for the plain XML `drbdadm dump-xml` prints; anything else is left to
/// roxmltree.
mod fast;

/// Parses the stdout of `drbdadm dump-xml`.
pub fn parse(input: &str) -> Result<DrbdConfig, ParseError> {
    match fast::read(input) {
        Some(t) => config(&t),
        None => parse_any(input),
    }
}

/// [`parse`] through roxmltree: any XML, and its errors.
fn parse_any(input: &str) -> Result<DrbdConfig, ParseError> {
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
    config(&Tree::of_document(input, &doc))
}

fn config(t: &Tree) -> Result<DrbdConfig, ParseError> {
    let root = 0;
    if t.name(root) != "config" {
        return Err(t.err(
            root,
            format!("root element is <{}>, not <config>", t.name(root)),
        ));
    }
    let common = match t.elements(root, "common").next() {
        Some(c) => sections(t, c)?,
        None => Vec::new(),
    };
    let mut names = std::collections::BTreeSet::new();
    let resources = t
        .elements(root, "resource")
        .map(|r| {
            let rc = resource(t, r)?;
            if !names.insert(rc.name.clone()) {
                // drbdadm refuses two resources of one name; two here cannot both be true.
                return Err(t.err(r, format!("resource {} is listed twice", rc.name)));
            }
            Ok(rc)
        })
        .collect::<Result<_, _>>()?;
    Ok(DrbdConfig {
        file: t.attribute(root, "file").map(str::to_string),
        common,
        resources,
    })
}

fn sections(t: &Tree, node: usize) -> Result<Vec<Section>, ParseError> {
    t.elements(node, "section")
        .map(|s| {
            let options = t
                .elements(s, "option")
                .map(|o| {
                    Ok((
                        t.attr(o, "name")?.to_string(),
                        t.attribute(o, "value").unwrap_or("").to_string(),
                    ))
                })
                .collect::<Result<_, ParseError>>()?;
            Ok(Section {
                name: t.attr(s, "name")?.to_string(),
                options,
            })
        })
        .collect()
}

fn resource(t: &Tree, r: usize) -> Result<ResourceConfig, ParseError> {
    let hosts = t
        .elements(r, "host")
        .map(|h| {
            let volumes = t
                .elements(h, "volume")
                .map(|v| volume(t, v))
                .collect::<Result<_, _>>()?;
            Ok(HostConfig {
                name: t.attr(h, "name")?.to_string(),
                volumes,
                address: address(t, h)?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    let connections = t
        .elements(r, "connection")
        .map(|c| {
            t.elements(c, "host")
                .map(|h| {
                    Ok(ConnectionHost {
                        name: t.attr(h, "name")?.to_string(),
                        address: address(t, h)?,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(ResourceConfig {
        name: t.attr(r, "name")?.to_string(),
        conf_file_line: t.attribute(r, "conf-file-line").map(str::to_string),
        hosts,
        connections,
        sections: sections(t, r)?,
    })
}

fn address(t: &Tree, host: usize) -> Result<Option<Address>, ParseError> {
    let Some(a) = t.elements(host, "address").next() else {
        return Ok(None);
    };
    let ip = t
        .text(a)
        .ok_or_else(|| t.err(a, "<address> without an IP"))?;
    Ok(Some(Address {
        family: t.attribute(a, "family").unwrap_or("ipv4").to_string(),
        ip,
        port: t.num(a, "port")?,
    }))
}

fn volume(t: &Tree, v: usize) -> Result<VolumeConfig, ParseError> {
    let device = t.elements(v, "device").next();
    let minor = match device {
        Some(d) if t.attribute(d, "minor").is_some() => Some(t.num(d, "minor")?),
        Some(_) | None => None,
    };
    let meta_disk = match t.elements(v, "meta-disk").next() {
        None => None,
        Some(m) => {
            let path = t
                .text(m)
                .ok_or_else(|| t.err(m, "<meta-disk> without a device"))?;
            Some(match (path.as_str(), t.attribute(m, "index")) {
                ("internal", _) => MetaDisk::Internal,
                (_, Some(_)) => MetaDisk::Indexed {
                    path,
                    index: t.num(m, "index")?,
                },
                (_, None) => MetaDisk::Flexible { path },
            })
        }
    };
    Ok(VolumeConfig {
        vnr: t.num(v, "vnr")?,
        minor,
        device: device.and_then(|d| t.text(d)),
        disk: t.elements(v, "disk").next().and_then(|d| t.text(d)),
        meta_disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer reads a document as roxmltree does, or leaves it to roxmltree.
    fn same_as_roxmltree(x: &str) -> bool {
        let fast = fast::read(x).map(|t| config(&t));
        if let Some(f) = &fast {
            assert_eq!(f, &parse_any(x), "{x}");
        }
        fast.is_some()
    }

    #[test]
    fn the_tokenizer_reads_as_roxmltree_does() {
        for f in [
            "drbdadm-dump-xml-9.22-84mode-lab.xml",
            "drbdadm-dump-xml-9.22-9mode-common.xml",
            "drbdadm-dump-xml-9.22-9mode-internal.xml",
            "drbdadm-dump-xml-9.22-9mode-mesh.xml",
        ] {
            let path = format!("{}/tests/fixtures/{f}", env!("CARGO_MANIFEST_DIR"));
            let x = std::fs::read_to_string(&path).unwrap();
            assert!(same_as_roxmltree(&x), "{f} is read by the tokenizer");
        }
        let r = |body: &str| {
            format!(
                "<config file=\"/x\"><resource name=\"r&amp;0\"><host name=\"a\"><volume vnr=\"0\">{body}</volume><address port=\"7\">1.2.3.4</address></host><section name='net'><option name=\"a&#x41;&#66;\" value=\"&lt;&gt;&quot;&apos;\"/></section></resource></config>\n"
            )
        };
        // Read by the tokenizer, with the same values.
        for body in [
            "<device minor=\"1\" >/dev/drbd1</device><disk>/dev/a&amp;b</disk>",
            "<meta-disk index = \"2\">/dev/XEN/meta</meta-disk>",
            "<meta-disk>  internal\n </meta-disk><disk/>",
            "<device minor=\"x\"/>",
            "text > here<disk>d</disk>more",
        ] {
            assert!(same_as_roxmltree(&r(body)), "{body}");
        }
        // Left to roxmltree (its reading or its error).
        for x in [
            "<?xml version=\"1.0\"?>\n<config/>",
            "<config><!-- c --></config>",
            "<config><![CDATA[x]]></config>",
            "<config>\r\n</config>",
            "<config><a></b></config>",
            "<config a=\"1\" a=\"2\"/>",
            "<config a=\"1\"b=\"2\"/>",
            "<config>&nbsp;</config>",
            "<config>&#0;</config>",
            "<config/><config/>",
            "<config>",
            "",
            "<x:config xmlns:x=\"u\"/>",
            "<config xmlns=\"u\"/>",
            "<config a=\"1\n2\"/>",
            "<config>]]></config>",
            "<config>\u{1}</config>",
        ] {
            assert!(!same_as_roxmltree(x), "{x:?}");
        }
        assert_eq!(
            parse("<config>\n<resource>\n</config>").unwrap_err().line,
            3
        );
        let deep = format!("{}{}", "<config>".repeat(300), "</config>".repeat(300));
        assert!(!same_as_roxmltree(&deep));
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
    }

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
