//! The DRBD configuration as drbdadm reads it on a node: `/etc/drbd.conf` and its includes
//! (`drbd.d/global_common.conf`, `drbd.d/*.res`), parsed in the syntax xenflux renders (8.4 `on`
//! sections, DRBD 9 `node-id`/`volume`/`connection-mesh`) and the lab's (resource-level
//! `device`/`disk`/`meta-disk` inherited by the hosts). Checked like drbdadm does: parse errors,
//! DRBD 8.4's required `meta-disk`, duplicate minors, addresses and meta-data slots, and the
//! local host's address (all exit 10, with drbd-utils 9.22's messages from real-tools/10-drbd.txt).
//! Also renders `drbdadm dump-xml` in its real layout.

use std::collections::BTreeMap;

use crate::model::DrbdVersion;

use super::state::{MetaLoc, Node, PeerConf, ResConf};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Stmt {
        words: Vec<String>,
        line: usize,
    },
    Block {
        words: Vec<String>,
        line: usize,
        items: Vec<Item>,
    },
}

/// A `net { }`, `disk { }`, ... section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VolDef {
    pub device: Option<String>,
    pub minor: Option<u32>,
    pub disk: Option<String>,
    pub meta: Option<MetaLoc>,
    pub device_line: usize,
    pub meta_line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddrDef {
    pub family: String,
    pub ip: String,
    pub port: u16,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostDef {
    pub name: String,
    pub line: usize,
    /// DRBD 9 `node-id`.
    pub node_id: Option<u32>,
    pub vol: VolDef,
    pub address: Option<AddrDef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResDef {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub hosts: Vec<HostDef>,
    pub sections: Vec<Section>,
    pub mesh: Option<Vec<String>>,
}

impl ResDef {
    pub fn option(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| &s.options)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn host(&self, name: &str) -> Option<&HostDef> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// What `up` applies on `node`, or `None` when the resource has no complete section for it.
    pub fn res_conf(&self, node: &str) -> Option<ResConf> {
        let me = self.host(node)?;
        let addr = me.address.as_ref()?;
        let peer_names: Vec<&str> = match &self.mesh {
            Some(m) => m.iter().map(String::as_str).collect(),
            None => self.hosts.iter().map(|h| h.name.as_str()).collect(),
        };
        let id = |name: &str| {
            let h = self.host(name);
            h.and_then(|h| h.node_id).unwrap_or_else(|| {
                let pos = self.hosts.iter().position(|h| h.name == name).unwrap_or(0);
                u32::try_from(pos).unwrap_or(u32::MAX)
            })
        };
        let peers = peer_names
            .into_iter()
            .filter(|p| *p != node)
            .filter_map(|p| {
                let a = self.host(p)?.address.as_ref()?;
                Some(PeerConf {
                    node: p.to_string(),
                    node_id: id(p),
                    ip: a.ip.clone(),
                    port: a.port,
                })
            })
            .collect();
        Some(ResConf {
            minor: me.vol.minor?,
            node_id: id(node),
            disk: me.vol.disk.clone()?,
            meta: me.vol.meta.clone().unwrap_or(MetaLoc::Internal),
            ip: addr.ip.clone(),
            port: addr.port,
            peers,
            protocol: self.option("net", "protocol").unwrap_or("C").to_string(),
            two_primaries: self.option("net", "allow-two-primaries") == Some("yes"),
        })
    }
}

/// Everything drbdadm read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Config {
    pub common: Vec<Section>,
    pub resources: Vec<ResDef>,
}

impl Config {
    pub fn resource(&self, name: &str) -> Option<&ResDef> {
        self.resources.iter().find(|r| r.name == name)
    }
}

/// A configuration drbdadm refuses: its message (stderr) and exit status.
pub(crate) struct ConfError {
    pub status: i32,
    pub stderr: String,
}

/// drbdadm's parse error; `got` is already quoted (`'on' (TK 260)`).
fn parse_error(file: &str, line: usize, expected: &str, got: &str) -> ConfError {
    ConfError {
        status: 10,
        stderr: format!("{file}:{line}: Parse error: {expected} expected,\n\tbut got {got}\n"),
    }
}

fn quoted(w: &str) -> String {
    format!("'{w}'")
}

fn tokenize(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let mut chars = line.chars().peekable();
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut Vec<(String, usize)>| {
            if !word.is_empty() {
                out.push((std::mem::take(word), no + 1));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '#' => break,
                '"' => {
                    flush(&mut word, &mut out);
                    let s: String = chars.by_ref().take_while(|c| *c != '"').collect();
                    out.push((s, no + 1));
                }
                '{' | '}' | ';' => {
                    flush(&mut word, &mut out);
                    out.push((c.to_string(), no + 1));
                }
                c if c.is_whitespace() => flush(&mut word, &mut out),
                c => word.push(c),
            }
        }
        flush(&mut word, &mut out);
    }
    out
}

fn parse_items(
    toks: &[(String, usize)],
    pos: &mut usize,
    file: &str,
    nested: bool,
) -> Result<Vec<Item>, ConfError> {
    let mut items = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    while let Some((t, l)) = toks.get(*pos) {
        *pos += 1;
        match t.as_str() {
            ";" => {
                if !words.is_empty() {
                    items.push(Item::Stmt {
                        words: std::mem::take(&mut words),
                        line,
                    });
                }
            }
            "{" => {
                let inner = parse_items(toks, pos, file, true)?;
                items.push(Item::Block {
                    words: std::mem::take(&mut words),
                    line: if line == 0 { *l } else { line },
                    items: inner,
                });
            }
            "}" => {
                if !nested {
                    return Err(parse_error(file, *l, "'resource' or 'common'", "'}'"));
                }
                if let Some(w) = words.first() {
                    return Err(parse_error(file, *l, "';'", &format!("'{w}' (TK 260)")));
                }
                return Ok(items);
            }
            w => {
                if words.is_empty() {
                    line = *l;
                }
                words.push(w.to_string());
            }
        }
    }
    if nested {
        let l = toks.last().map_or(0, |t| t.1);
        return Err(parse_error(file, l, "'}'", "end of file"));
    }
    if let Some(w) = words.first() {
        return Err(parse_error(file, line, "';'", &quoted(w)));
    }
    Ok(items)
}

fn section(name: &str, items: &[Item]) -> Section {
    let options = items
        .iter()
        .filter_map(|i| match i {
            Item::Stmt { words, .. } => {
                let (k, rest) = words.split_first()?;
                let v = if rest.is_empty() {
                    "yes".to_string()
                } else {
                    rest.join(" ")
                };
                Some((k.clone(), v))
            }
            Item::Block { .. } => None,
        })
        .collect();
    Section {
        name: name.to_string(),
        options,
    }
}

/// `meta-disk` value words: `internal`, `/dev/x[1]`, `/dev/x [1]`, `/dev/x`.
fn meta_of(words: &[String], flexible: bool) -> MetaLoc {
    let joined = words.join("");
    if joined == "internal" {
        return MetaLoc::Internal;
    }
    if let Some((path, idx)) = joined.split_once('[') {
        if let Ok(index) = idx.trim_end_matches(']').parse() {
            if !flexible {
                return MetaLoc::Indexed {
                    path: path.to_string(),
                    index,
                };
            }
        }
    }
    MetaLoc::Flexible { path: joined }
}

fn address_of(words: &[String], line: usize) -> Option<AddrDef> {
    let (family, spec) = match words {
        [f, s] => (f.clone(), s.clone()),
        [s] => ("ipv4".to_string(), s.clone()),
        _ => return None,
    };
    let (ip, port) = spec.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
    Some(AddrDef {
        family,
        ip,
        port: port.parse().ok()?,
        line,
    })
}

/// Applies a volume-level statement; false when the keyword is not one.
fn vol_stmt(vol: &mut VolDef, words: &[String], line: usize) -> bool {
    let Some((k, rest)) = words.split_first() else {
        return false;
    };
    match k.as_str() {
        "device" => {
            vol.device_line = line;
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                if w == "minor" {
                    vol.minor = it.next().and_then(|m| m.parse().ok());
                } else {
                    vol.device = Some(w.clone());
                    if vol.minor.is_none() {
                        vol.minor = w.strip_prefix("/dev/drbd").and_then(|m| m.parse().ok());
                    }
                }
            }
        }
        "disk" => vol.disk = rest.first().cloned(),
        "meta-disk" | "flexible-meta-disk" => {
            vol.meta_line = line;
            vol.meta = Some(meta_of(rest, k == "flexible-meta-disk"));
        }
        _ => return false,
    }
    true
}

fn host(
    name: &str,
    line: usize,
    items: &[Item],
    file: &str,
    v84: bool,
) -> Result<HostDef, ConfError> {
    let mut h = HostDef {
        name: name.to_string(),
        line,
        node_id: None,
        vol: VolDef::default(),
        address: None,
    };
    for item in items {
        match item {
            Item::Stmt { words, line } => {
                if words[0] == "address" {
                    h.address = address_of(&words[1..], *line);
                } else if words[0] == "node-id" && !v84 {
                    h.node_id = words.get(1).and_then(|n| n.parse().ok());
                } else if !vol_stmt(&mut h.vol, words, *line) {
                    return Err(parse_error(
                        file,
                        *line,
                        "'disk | device | address | meta-disk | flexible-meta-disk'",
                        &quoted(&words[0]),
                    ));
                }
            }
            Item::Block { words, items, .. } if words[0] == "volume" => {
                for i in items {
                    if let Item::Stmt { words, line } = i {
                        vol_stmt(&mut h.vol, words, *line);
                    }
                }
            }
            Item::Block { words, line, .. } => {
                return Err(parse_error(file, *line, "'volume'", &quoted(&words[0])))
            }
        }
    }
    Ok(h)
}

fn resource(
    name: &str,
    line: usize,
    items: &[Item],
    file: &str,
    v84: bool,
) -> Result<ResDef, ConfError> {
    let mut r = ResDef {
        name: name.to_string(),
        file: file.to_string(),
        line,
        hosts: Vec::new(),
        sections: Vec::new(),
        mesh: None,
    };
    let mut defaults = VolDef::default();
    let mut protocol = None;
    for item in items {
        match item {
            Item::Stmt { words, line } => {
                if words[0] == "protocol" {
                    protocol = words.get(1).cloned();
                } else if !vol_stmt(&mut defaults, words, *line) {
                    return Err(parse_error(file, *line, "'on'", &quoted(&words[0])));
                }
            }
            Item::Block { words, line, items } => match words[0].as_str() {
                "on" if words.len() == 2 => r.hosts.push(host(&words[1], *line, items, file, v84)?),
                "net" | "disk" | "startup" | "options" | "handlers" => {
                    r.sections.push(section(&words[0], items))
                }
                "connection-mesh" => {
                    r.mesh = items.iter().find_map(|i| match i {
                        Item::Stmt { words, .. } if words[0] == "hosts" => {
                            Some(words[1..].to_vec())
                        }
                        Item::Stmt { .. } | Item::Block { .. } => None,
                    })
                }
                "volume" => {
                    for i in items {
                        if let Item::Stmt { words, line } = i {
                            vol_stmt(&mut defaults, words, *line);
                        }
                    }
                }
                other => return Err(parse_error(file, *line, "'on'", &quoted(other))),
            },
        }
    }
    for h in &mut r.hosts {
        let v = &mut h.vol;
        if v.device.is_none() && v.minor.is_none() {
            v.device.clone_from(&defaults.device);
            v.minor = defaults.minor;
            v.device_line = defaults.device_line;
        }
        if v.disk.is_none() {
            v.disk.clone_from(&defaults.disk);
        }
        if v.meta.is_none() {
            v.meta.clone_from(&defaults.meta);
            v.meta_line = defaults.meta_line;
        }
    }
    if let Some(p) = protocol {
        match r.sections.iter_mut().find(|s| s.name == "net") {
            Some(net) => net.options.insert(0, ("protocol".into(), p)),
            None => r.sections.insert(
                0,
                Section {
                    name: "net".into(),
                    options: vec![("protocol".into(), p)],
                },
            ),
        }
    }
    Ok(r)
}

/// The files `/etc/drbd.conf` includes, in order.
fn included(node: &Node, conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (t, _) in tokenize(conf)
        .windows(2)
        .filter(|w| w[0].0 == "include")
        .map(|w| w[1].clone())
    {
        let path = if t.starts_with('/') {
            t
        } else {
            format!("/etc/{t}")
        };
        match path.split_once('*') {
            Some((prefix, suffix)) => {
                out.extend(
                    node.files
                        .keys()
                        .filter(|f| {
                            f.starts_with(prefix)
                                && f.ends_with(suffix)
                                && !f[prefix.len()..].contains('/')
                        })
                        .cloned(),
                );
            }
            None => out.push(path),
        }
    }
    out
}

/// Reads and checks a node's whole DRBD configuration, as every drbdadm command does first.
pub(crate) fn load(node: &Node, version: DrbdVersion) -> Result<Config, ConfError> {
    let v84 = version == DrbdVersion::V84;
    let Some(main) = node.files.get("/etc/drbd.conf") else {
        return Err(ConfError {
            status: 20,
            stderr: "Can not open '/etc/drbd.conf'.\n.".into(),
        });
    };
    let mut cfg = Config::default();
    let mut sources = vec![("/etc/drbd.conf".to_string(), main.clone())];
    for f in included(node, main) {
        let Some(text) = node.files.get(&f) else {
            continue; // drbdadm skips an include glob or file that matches nothing
        };
        sources.push((f, text.clone()));
    }
    for (file, text) in &sources {
        let toks = tokenize(text);
        let mut pos = 0;
        for item in parse_items(&toks, &mut pos, file, false)? {
            match item {
                Item::Block { words, line, items } => match words[0].as_str() {
                    "resource" if words.len() == 2 => cfg
                        .resources
                        .push(resource(&words[1], line, &items, file, v84)?),
                    "common" => {
                        for i in &items {
                            if let Item::Block { words, items, .. } = i {
                                let s = section(&words[0], items);
                                if !s.options.is_empty() {
                                    cfg.common.push(s);
                                }
                            }
                        }
                    }
                    "global" => {}
                    other => {
                        return Err(parse_error(
                            file,
                            line,
                            "'resource' or 'common'",
                            &quoted(other),
                        ))
                    }
                },
                Item::Stmt { words, line } if words[0] != "include" => {
                    return Err(parse_error(
                        file,
                        line,
                        "'resource' or 'common'",
                        &quoted(&words[0]),
                    ))
                }
                Item::Stmt { .. } => {}
            }
        }
    }
    check(&cfg, node, v84)?;
    Ok(cfg)
}

fn check(cfg: &Config, node: &Node, v84: bool) -> Result<(), ConfError> {
    let mut err = String::new();
    if v84 {
        for r in &cfg.resources {
            for h in r.hosts.iter().filter(|h| h.vol.meta.is_none()) {
                let at = format!(
                    "{}:{}: in resource {}, on {} {{ ... }}:",
                    r.file, h.line, r.name, h.name
                );
                err.push_str(&format!(
                    "{at} 'meta-disk' keyword missing.\n{at} 'meta-index' keyword missing.\n"
                ));
            }
        }
    }
    let mut minors: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut ips: BTreeMap<String, (String, usize, String)> = BTreeMap::new();
    let mut metas: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for r in &cfg.resources {
        // drbdadm reports the first conflict of a resource and goes on with the next.
        let before = err.len();
        for h in &r.hosts {
            if err.len() > before {
                break;
            }
            let line = |l: usize| if v84 { l } else { 0 };
            if let Some(m) = h.vol.minor {
                let key = format!("device-minor:{}:{m}", h.name);
                match minors.get(&key) {
                    Some((f, l)) => err.push_str(&format!(
                        "{}:{}: conflicting use of device-minor '{key}' ...\n{f}:{l}: device-minor '{key}' first used here.\n",
                        r.file, line(h.vol.device_line)
                    )),
                    None => {
                        minors.insert(key, (r.file.clone(), line(h.vol.device_line)));
                    }
                }
            }
            if let Some(a) = &h.address {
                let key = format!("{}:{}", a.ip, a.port);
                match ips.get(&key) {
                    Some((f, l, _)) if v84 => err.push_str(&format!(
                        "{}:{}: conflicting use of IP '{key}' ...\n{f}:{l}: IP '{key}' first used here.\n",
                        r.file, a.line
                    )),
                    Some((f, _, first)) => err.push_str(&format!(
                        "{}:0: in resource {}\n    {}:{key} is also used {f}:0 (resource {first})\n",
                        r.file, r.name, a.family
                    )),
                    None => {
                        ips.insert(key, (r.file.clone(), a.line, r.name.clone()));
                    }
                }
            }
            if let Some(MetaLoc::Indexed { path, index }) = &h.vol.meta {
                let key = format!("{}:{path}[{index}]", h.name);
                match metas.get(&key) {
                    Some((f, l)) => err.push_str(&format!(
                        "{}:{}: conflicting use of meta-disk '{key}' ...\n{f}:{l}: meta-disk '{key}' first used here.\n",
                        r.file, h.vol.meta_line
                    )),
                    None => {
                        metas.insert(key, (r.file.clone(), h.vol.meta_line));
                    }
                }
            }
        }
    }
    let ips_here = node.ips();
    for r in &cfg.resources {
        if let Some(a) = r.host(&node.name).and_then(|h| h.address.as_ref()) {
            if !ips_here.contains(&a.ip) {
                err.push_str(&format!(
                    "{}: in resource {}, on {}:\n\tIP {} not found on this host.\n",
                    r.file, r.name, node.name, a.ip
                ));
            }
        }
    }
    if err.is_empty() {
        Ok(())
    } else {
        Err(ConfError {
            status: 10,
            stderr: err,
        })
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_sections(out: &mut String, sections: &[Section], pad: &str) {
    for name in ["options", "net", "disk", "startup", "handlers"] {
        let opts: Vec<&(String, String)> = sections
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| &s.options)
            .collect();
        if opts.is_empty() {
            continue;
        }
        out.push_str(&format!("{pad}<section name=\"{name}\">\n"));
        for (k, v) in opts {
            out.push_str(&format!(
                "{pad}    <option name=\"{}\" value=\"{}\"/>\n",
                xml_escape(k),
                xml_escape(v)
            ));
        }
        out.push_str(&format!("{pad}</section>\n"));
    }
}

fn xml_address(a: &AddrDef) -> String {
    format!(
        "<address family=\"{}\" port=\"{}\">{}</address>",
        a.family, a.port, a.ip
    )
}

/// `drbdadm dump-xml` of the whole configuration.
pub(crate) fn dump_xml(cfg: &Config, version: DrbdVersion) -> String {
    let mut s = String::from("<config file=\"/etc/drbd.conf\">\n    <common>\n");
    xml_sections(&mut s, &cfg.common, "        ");
    s.push_str("    </common>\n");
    for r in &cfg.resources {
        s.push_str(&format!(
            "    <resource name=\"{}\" conf-file-line=\"{}:{}\">\n",
            xml_escape(&r.name),
            r.file,
            r.line
        ));
        for h in &r.hosts {
            s.push_str(&format!(
                "        <host name=\"{}\">\n",
                xml_escape(&h.name)
            ));
            s.push_str("            <volume vnr=\"0\">\n");
            let v = &h.vol;
            if let Some(m) = v.minor {
                s.push_str(&format!(
                    "                <device minor=\"{m}\">{}</device>\n",
                    v.device.as_deref().unwrap_or("")
                ));
            }
            if let Some(d) = &v.disk {
                s.push_str(&format!("                <disk>{d}</disk>\n"));
            }
            let meta = v.meta.clone().unwrap_or(MetaLoc::Internal);
            s.push_str(&match meta {
                MetaLoc::Internal => "                <meta-disk>internal</meta-disk>\n".into(),
                MetaLoc::Indexed { path, index } => {
                    format!("                <meta-disk index=\"{index}\">{path}</meta-disk>\n")
                }
                MetaLoc::Flexible { path } => {
                    format!("                <meta-disk>{path}</meta-disk>\n")
                }
            });
            s.push_str("            </volume>\n");
            if let Some(a) = &h.address {
                s.push_str(&format!("            {}\n", xml_address(a)));
            }
            s.push_str("        </host>\n");
        }
        if version == DrbdVersion::V9 {
            let names: Vec<&str> = match &r.mesh {
                Some(m) => m.iter().map(String::as_str).collect(),
                None => r.hosts.iter().map(|h| h.name.as_str()).collect(),
            };
            for (i, a) in names.iter().enumerate() {
                for b in &names[i + 1..] {
                    s.push_str("        <connection>\n");
                    for n in [a, b] {
                        let addr = r
                            .host(n)
                            .and_then(|h| h.address.as_ref())
                            .map(xml_address)
                            .unwrap_or_default();
                        s.push_str(&format!("            <host name=\"{n}\">{addr}</host>\n"));
                    }
                    s.push_str("        </connection>\n");
                }
            }
        }
        xml_sections(&mut s, &r.sections, "        ");
        s.push_str("    </resource>\n");
    }
    s.push_str("</config>\n");
    s
}
