//! drbdadm's configuration syntax: tokens (words, `{`, `}`, `;`, quoted strings, `#`
//! comments), nested items, and the resource, host and volume statements xenflux and the lab
//! write, with drbdadm's `Parse error` messages.

use super::super::state::MetaLoc;
use super::{AddrDef, ConfError, Config, HostDef, ResDef, Section, VolDef};

/// One statement (`words;`) or block (`words { items }`), with the line it starts on.
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

pub(super) fn tokenize<'t>(text: &'t str) -> Vec<(&'t str, usize)> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let no = no + 1;
        // Where the word being read started; special characters are ASCII, so every index
        // below is a character boundary.
        let mut word: Option<usize> = None;
        let flush = |word: &mut Option<usize>, end: usize, out: &mut Vec<(&'t str, usize)>| {
            if let Some(start) = word.take() {
                out.push((&line[start..end], no));
            }
        };
        let mut i = 0;
        while let Some(c) = line[i..].chars().next() {
            match c {
                '#' => {
                    flush(&mut word, i, &mut out);
                    i = line.len();
                    break;
                }
                '"' => {
                    flush(&mut word, i, &mut out);
                    let from = i + 1;
                    // Up to the closing quote, or to the end of the line without one.
                    let to = line[from..].find('"').map_or(line.len(), |j| from + j);
                    out.push((&line[from..to], no));
                    i = (to + 1).min(line.len());
                    continue;
                }
                '{' | '}' | ';' => {
                    flush(&mut word, i, &mut out);
                    out.push((&line[i..i + 1], no));
                }
                c if c.is_whitespace() => flush(&mut word, i, &mut out),
                _ => {
                    word.get_or_insert(i);
                }
            }
            i += c.len_utf8();
        }
        flush(&mut word, i, &mut out);
    }
    out
}

fn parse_items(
    toks: &[(&str, usize)],
    pos: &mut usize,
    file: &str,
    nested: bool,
) -> Result<Vec<Item>, ConfError> {
    let mut items = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    while let Some((t, l)) = toks.get(*pos) {
        *pos += 1;
        match *t {
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

/// Parses one file into `cfg`.
pub(super) fn file(cfg: &mut Config, file: &str, text: &str, v84: bool) -> Result<(), ConfError> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn tokens_are_words_braces_semicolons_and_quoted_strings_with_their_lines() {
        let text = "resource r0 {  # a comment { ;\n\tdisk \"/dev/a b\";x\"q\"y\n on\u{a0}h{ \"unclosed\n\"\";é}";
        assert_eq!(
            tokenize(text),
            [
                ("resource", 1),
                ("r0", 1),
                ("{", 1),
                ("disk", 2),
                ("/dev/a b", 2),
                (";", 2),
                ("x", 2),
                ("q", 2),
                ("y", 2),
                ("on", 3),
                ("h", 3),
                ("{", 3),
                ("unclosed", 3),
                ("", 4),
                (";", 4),
                ("é", 4),
                ("}", 4),
            ]
        );
    }
}
