//! The xl domain configuration syntax (`/etc/xen/NAME.cfg`, xl.cfg(5)): `key = value` settings
//! with strings (`"..."` or `'...'`, backslash escapes), numbers, lists `[ ... ]` that may span
//! lines and nest, `+=` to append, `#` comments and `;` or newline between settings — plus the
//! two string mini-languages inside it: the disk spec (xl-disk-configuration(5)) and the vif spec
//! (xl-network-configuration(5)), both ways.
//!
//! Parse and render are inverses on values: `XlConfig::parse(&c.to_string()) == Ok(c)`, and
//! likewise for [`DiskSpec`] and [`VifSpec`]; comments and layout are not kept. Rendering puts
//! scalar strings in double quotes and list items in single quotes, as the stock examples do.
//! No file is read or written here.

use std::fmt;

use super::ParseError;

mod spec;
pub use spec::{DiskAccess, DiskSpec, VifSpec};

const TOOL: &str = "xl.cfg";

/// A value on the right of `=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XlValue {
    Str(String),
    /// A number, as written (`512`, `0x10`, `1.5`).
    Num(String),
    List(Vec<XlValue>),
}

impl XlValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            XlValue::Str(s) => Some(s),
            XlValue::Num(_) | XlValue::List(_) => None,
        }
    }

    /// The number as an integer (decimal or `0x` hex), if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            XlValue::Num(n) => match n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => n.parse().ok(),
            },
            XlValue::Str(_) | XlValue::List(_) => None,
        }
    }

    /// The strings of a list of strings (`disk`, `vif`); `None` if this is not one.
    pub fn as_str_list(&self) -> Option<Vec<&str>> {
        match self {
            XlValue::List(items) => items.iter().map(XlValue::as_str).collect(),
            XlValue::Str(_) | XlValue::Num(_) => None,
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, in_list: bool) -> fmt::Result {
        match self {
            XlValue::Str(s) => write_quoted(f, s, if in_list { '\'' } else { '"' }),
            XlValue::Num(n) => f.write_str(n),
            XlValue::List(items) if items.is_empty() => f.write_str("[]"),
            XlValue::List(items) => {
                f.write_str("[ ")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.render(f, true)?;
                }
                f.write_str(" ]")
            }
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str, quote: char) -> fmt::Result {
    use fmt::Write;
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

/// `=` or `+=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlOp {
    Set,
    Append,
}

/// One `key = value` (or `key += value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlSetting {
    pub key: String,
    pub op: XlOp,
    pub value: XlValue,
}

/// A whole config file: its settings in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XlConfig {
    pub settings: Vec<XlSetting>,
}

impl XlConfig {
    /// The effective value of `key`: the last `=`, extended by any later `+=` (lists are
    /// concatenated, strings joined).
    pub fn get(&self, key: &str) -> Option<XlValue> {
        let mut acc: Option<XlValue> = None;
        for s in self.settings.iter().filter(|s| s.key == key) {
            acc = Some(match (s.op, acc) {
                (XlOp::Set, _) | (XlOp::Append, None) => s.value.clone(),
                (XlOp::Append, Some(XlValue::List(mut a))) => match &s.value {
                    XlValue::List(b) => {
                        a.extend(b.iter().cloned());
                        XlValue::List(a)
                    }
                    v => {
                        a.push(v.clone());
                        XlValue::List(a)
                    }
                },
                (XlOp::Append, Some(XlValue::Str(a))) => match &s.value {
                    XlValue::Str(b) => XlValue::Str(a + b),
                    v => v.clone(),
                },
                (XlOp::Append, Some(XlValue::Num(_))) => s.value.clone(),
            });
        }
        acc
    }

    /// The effective value of `key` as a string.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            XlValue::Str(s) => Some(s),
            XlValue::Num(_) | XlValue::List(_) => None,
        }
    }

    /// The effective value of `key` as an integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }

    /// Replaces every setting of `key` by one `key = value` where the first one was (or at the end).
    pub fn set(&mut self, key: &str, value: XlValue) {
        let setting = XlSetting {
            key: key.to_string(),
            op: XlOp::Set,
            value,
        };
        match self.settings.iter().position(|s| s.key == key) {
            Some(i) => {
                self.settings.retain(|s| s.key != key);
                self.settings.insert(i.min(self.settings.len()), setting);
            }
            None => self.settings.push(setting),
        }
    }

    /// Parses a config file.
    pub fn parse(input: &str) -> Result<XlConfig, ParseError> {
        let tokens = lex(input)?;
        Parser {
            tokens: &tokens,
            pos: 0,
            input,
        }
        .file()
    }
}

impl fmt::Display for XlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.settings {
            f.write_str(&s.key)?;
            f.write_str(match s.op {
                XlOp::Set => " = ",
                XlOp::Append => " += ",
            })?;
            s.value.render(f, false)?;
            f.write_str("\n")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Eq,
    PlusEq,
    Open,
    Close,
    Comma,
    End,
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = Vec::new();
    for (no, line) in input.lines().enumerate() {
        let no = no + 1;
        let err = |m: String| ParseError::new(TOOL, no, line, m);
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                ' ' | '\t' | '\r' => {}
                '#' => break,
                '=' => out.push((Tok::Eq, no)),
                '+' if chars.peek().map(|p| p.1) == Some('=') => {
                    chars.next();
                    out.push((Tok::PlusEq, no));
                }
                '[' => out.push((Tok::Open, no)),
                ']' => out.push((Tok::Close, no)),
                ',' => out.push((Tok::Comma, no)),
                ';' => out.push((Tok::End, no)),
                '"' | '\'' => out.push((Tok::Str(string(&mut chars, c).map_err(err)?), no)),
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let end = take_while(&mut chars, |c| {
                        c.is_ascii_alphanumeric() || c == '_' || c == '.'
                    });
                    out.push((
                        Tok::Ident(line[i..end.unwrap_or(line.len())].to_string()),
                        no,
                    ));
                }
                c if c.is_ascii_digit() => {
                    let end = take_while(&mut chars, |c| c.is_ascii_alphanumeric() || c == '.');
                    out.push((Tok::Num(line[i..end.unwrap_or(line.len())].to_string()), no));
                }
                c => return Err(err(format!("unexpected character {c:?}"))),
            }
        }
        out.push((Tok::End, no));
    }
    Ok(out)
}

/// Advances past characters matching `keep`; returns the byte index of the first other one.
fn take_while(
    chars: &mut std::iter::Peekable<std::str::CharIndices>,
    keep: impl Fn(char) -> bool,
) -> Option<usize> {
    while let Some(&(j, c)) = chars.peek() {
        if !keep(c) {
            return Some(j);
        }
        chars.next();
    }
    None
}

/// The rest of a quoted string whose opening `quote` was just read; handles xl's escapes.
fn string(
    chars: &mut std::iter::Peekable<std::str::CharIndices>,
    quote: char,
) -> Result<String, String> {
    let mut s = String::new();
    while let Some((_, c)) = chars.next() {
        if c == quote {
            return Ok(s);
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let (_, e) = chars.next().ok_or("backslash at the end of the line")?;
        match e {
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            'a' => s.push('\u{7}'),
            'b' => s.push('\u{8}'),
            'f' => s.push('\u{c}'),
            'v' => s.push('\u{b}'),
            'x' => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next_if(|c| c.1.is_ascii_hexdigit()).map(|c| c.1))
                    .collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| "\\x needs two hex digits")?;
                s.push(char::from_u32(v).ok_or("bad \\x escape")?);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.next_if(|c| c.1.is_digit(8)) {
                        Some((_, d)) => v = v * 8 + d.to_digit(8).unwrap_or(0),
                        None => break,
                    }
                }
                s.push(char::from_u32(v).ok_or("bad octal escape")?);
            }
            other => s.push(other),
        }
    }
    Err(format!("unterminated {quote}string{quote}"))
}

/// Deepest list nesting accepted (real configurations nest at most one level: a list of
/// strings); the parser recurses per level.
const MAX_DEPTH: usize = 32;

struct Parser<'t> {
    tokens: &'t [(Tok, usize)],
    pos: usize,
    input: &'t str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(0, |t| t.1)
    }

    fn err(&self, m: impl Into<String>) -> ParseError {
        ParseError::at(TOOL, self.input, self.line(), m)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::End) {
            self.pos += 1;
        }
    }

    fn file(mut self) -> Result<XlConfig, ParseError> {
        let mut cfg = XlConfig::default();
        loop {
            self.skip_newlines();
            let Some(tok) = self.next() else {
                return Ok(cfg);
            };
            let Tok::Ident(key) = tok else {
                self.pos -= 1;
                return Err(self.err("expected a setting name"));
            };
            let op = match self.next() {
                Some(Tok::Eq) => XlOp::Set,
                Some(Tok::PlusEq) => XlOp::Append,
                Some(
                    Tok::Ident(_)
                    | Tok::Str(_)
                    | Tok::Num(_)
                    | Tok::Open
                    | Tok::Close
                    | Tok::Comma
                    | Tok::End,
                )
                | None => {
                    self.pos -= 1;
                    return Err(self.err(format!("expected = after {key}")));
                }
            };
            let value = self.value(0)?;
            match self.next() {
                Some(Tok::End) | None => {}
                Some(
                    Tok::Ident(_)
                    | Tok::Str(_)
                    | Tok::Num(_)
                    | Tok::Eq
                    | Tok::PlusEq
                    | Tok::Open
                    | Tok::Close
                    | Tok::Comma,
                ) => {
                    self.pos -= 1;
                    return Err(self.err(format!("unexpected text after the value of {key}")));
                }
            }
            cfg.settings.push(XlSetting { key, op, value });
        }
    }

    fn value(&mut self, depth: usize) -> Result<XlValue, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("lists nested more than {MAX_DEPTH} deep")));
        }
        match self.next() {
            Some(Tok::Str(s)) => Ok(XlValue::Str(s)),
            Some(Tok::Num(n)) => Ok(XlValue::Num(n)),
            Some(Tok::Open) => {
                let open_line = self.tokens.get(self.pos - 1).map_or(0, |t| t.1);
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.peek() == Some(&Tok::Close) {
                        self.pos += 1;
                        return Ok(XlValue::List(items));
                    }
                    if self.peek().is_none() {
                        return Err(
                            self.err(format!("list opened on line {open_line} is not closed"))
                        );
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_newlines();
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::Close) => return Ok(XlValue::List(items)),
                        Some(
                            Tok::Ident(_)
                            | Tok::Str(_)
                            | Tok::Num(_)
                            | Tok::Eq
                            | Tok::PlusEq
                            | Tok::Open
                            | Tok::End,
                        ) => {
                            self.pos -= 1;
                            return Err(self.err("expected , or ] in a list"));
                        }
                        None => {
                            return Err(
                                self.err(format!("list opened on line {open_line} is not closed"))
                            )
                        }
                    }
                }
            }
            Some(Tok::Ident(_) | Tok::Eq | Tok::PlusEq | Tok::Close | Tok::Comma | Tok::End)
            | None => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.err("expected a value (a string, a number or a list)"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "name = \"dns\"\ntype = \"pv\"\nkernel = \"/lab/vmlinuz\"\nramdisk = \"/lab/domu-stay-initrd.img\"\nextra = \"console=hvc0 quiet\"\nmemory = 192\nvcpus = 1\ndisk = [ 'phy:/dev/drbd0,xvda,w,script=block-lab' ]\nvif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\non_poweroff = \"destroy\"\non_reboot = \"restart\"\non_crash = \"restart\"\n";

    #[test]
    fn lab_config_renders_byte_for_byte() {
        let c = XlConfig::parse(LAB).unwrap();
        assert_eq!(c.to_string(), LAB);
        assert_eq!(c.get_i64("memory"), Some(192));
        assert_eq!(c.get_str("name").as_deref(), Some("dns"));
    }

    #[test]
    fn multi_line_lists_comments_and_append() {
        let t = "# header\nname='x' ; memory = 0x100 # trailing\ndisk = [\n  'a,xvda,w',   # first\n  \"b\",\n]\ndisk += [ 'c' ]\ncpus = [ [1, 2], [] ]\n";
        let c = XlConfig::parse(t).unwrap();
        assert_eq!(c.get_i64("memory"), Some(256));
        assert_eq!(
            c.get("disk").unwrap().as_str_list(),
            Some(vec!["a,xvda,w", "b", "c"])
        );
        let again = XlConfig::parse(&c.to_string()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn escapes_round_trip() {
        let mut c = XlConfig::default();
        c.set("extra", XlValue::Str("a \"q\" 'b' \\ \n\t\u{1}".into()));
        c.set("disk", XlValue::List(vec![XlValue::Str("it's".into())]));
        assert_eq!(XlConfig::parse(&c.to_string()).unwrap(), c);
        assert_eq!(
            XlConfig::parse("s = \"\\x41\\101\"")
                .unwrap()
                .get_str("s")
                .as_deref(),
            Some("AA")
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("name = \"dns\"\nmemory = \n", 2),
            ("name = \"dns\nx = 1\n", 1),
            ("disk = [ 'a',\n 'b'\n", 2),
            ("a = 1\n= 2\n", 2),
            ("a = 1 2\n", 1),
            ("a = 1\nb = @\n", 2),
        ] {
            let e = XlConfig::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn set_replaces_in_place() {
        let mut c = XlConfig::parse("a = 1\nb = 2\na += 3\n").unwrap();
        c.set("a", XlValue::Num("4".into()));
        assert_eq!(c.to_string(), "a = 4\nb = 2\n");
    }

    fn value() -> impl proptest::strategy::Strategy<Value = XlValue> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<String>().prop_map(XlValue::Str),
            "[0-9]{1,6}|0x[0-9a-f]{1,4}".prop_map(XlValue::Num),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(XlValue::List)
        })
    }

    proptest::proptest! {
        #[test]
        fn render_then_parse_is_identity(
            settings in proptest::collection::vec(("[a-z_][a-z0-9_.]{0,10}", proptest::bool::ANY, value()), 0..6)
        ) {
            let cfg = XlConfig {
                settings: settings
                    .into_iter()
                    .map(|(key, append, value)| XlSetting {
                        key,
                        op: if append { XlOp::Append } else { XlOp::Set },
                        value,
                    })
                    .collect(),
            };
            proptest::prop_assert_eq!(XlConfig::parse(&cfg.to_string()), Ok(cfg));
        }
    }
}
