//! Parser for `drbdsetup show`: the configuration the kernel runs with, as nested
//! `name { key value; }` blocks, one top-level resource block per resource that is up, only
//! options that differ from DRBD's defaults.
//!
//! DRBD 8.4 prints `resource dns {` with the name bare and the `net { }` block directly in the
//! resource (see `tests/fixtures/drbdsetup-show-8.4.11-lab.txt`); DRBD 9 prints
//! `resource "dns" {` with the name quoted and one `connection { … net { … } }` block per peer
//! (`tests/fixtures/drbdsetup-show-9-*.txt`). Both quote string values (`disk "/dev/XEN/dns";`,
//! `_name "peer";`, with `\"` and `\\` escaped) and append `# unit` comments; a `#` inside
//! quotes is not a comment.
//!
//! xenflux reads one thing from it: whether a resource runs with `allow-two-primaries` (on any
//! of its connections). The configuration file (`drbdadm dump-xml`) may say otherwise, because
//! `drbdadm net-options` changes only the kernel — a live migration interrupted half way
//! leaves a single-primary resource open to two Primaries. Pure text in, values out.

use std::borrow::Cow;

use crate::drivers::ParseError;

const TOOL: &str = "drbdsetup show";

/// Deepest block nesting accepted; real output nests four deep (resource, host, volume, disk).
const MAX_DEPTH: usize = 32;

/// One resource as the kernel runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    pub name: String,
    pub allow_two_primaries: bool,
}

/// A piece of `drbdsetup show` text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A bare or quoted word, unquoted and unescaped (borrowed from the text unless it had to
    /// be unescaped or joined).
    Word(Cow<'a, str>),
    Open,
    Close,
    Semicolon,
}

/// Splits the text into tokens, each with its 1-based line: `#` starts a comment outside
/// quotes, `"…"` is one word with `\"` and `\\` unescaped (joined to a bare word right before it).
fn tokens<'a>(input: &'a str) -> Result<Vec<(usize, Token<'a>)>, ParseError> {
    let mut out = Vec::new();
    let mut line = 1usize;
    // Where the bare word being read starts.
    let mut word: Option<usize> = None;
    let mut chars = input.char_indices().peekable();
    let flush = |word: &mut Option<usize>, end: usize, out: &mut Vec<(usize, Token<'a>)>, line| {
        if let Some(s) = word.take() {
            out.push((line, Token::Word(Cow::Borrowed(&input[s..end]))));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, i, &mut out, line);
                line += 1;
            }
            '#' => {
                flush(&mut word, i, &mut out, line);
                while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                    chars.next();
                }
            }
            '"' => {
                let start = line;
                let unclosed = || ParseError::at(TOOL, input, start, "unclosed quote");
                let mut owned: Option<String> = word.take().map(|s| input[s..i].to_string());
                // Start of the text not yet copied into `owned`.
                let mut seg = i + 1;
                let w = loop {
                    match chars.next() {
                        Some((j, '"')) => {
                            break match owned {
                                None => Cow::Borrowed(&input[seg..j]),
                                Some(mut o) => {
                                    o.push_str(&input[seg..j]);
                                    Cow::Owned(o)
                                }
                            }
                        }
                        Some((j, '\\')) => match chars.next() {
                            Some((_, '\n')) | None => return Err(unclosed()),
                            Some((k, e)) => {
                                let o = owned.get_or_insert_with(String::new);
                                o.push_str(&input[seg..j]);
                                o.push(e);
                                seg = k + e.len_utf8();
                            }
                        },
                        Some((_, '\n')) | None => return Err(unclosed()),
                        Some(_) => {}
                    }
                };
                // `""` is a word too (an empty string value).
                out.push((line, Token::Word(w)));
            }
            '{' | '}' | ';' => {
                flush(&mut word, i, &mut out, line);
                let t = match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    _ => Token::Semicolon,
                };
                out.push((line, t));
            }
            c if c.is_whitespace() || c.is_control() => flush(&mut word, i, &mut out, line),
            _ => {
                word.get_or_insert(i);
            }
        }
    }
    flush(&mut word, input.len(), &mut out, line);
    Ok(out)
}

/// Parses `drbdsetup show` (DRBD 8.4 and 9).
pub fn parse(input: &str) -> Result<Vec<Shown>, ParseError> {
    let mut out: Vec<Shown> = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut depth = 0usize;
    let mut words: Vec<Cow<str>> = Vec::new();
    for (no, tok) in tokens(input)? {
        let err = |m: &str| ParseError::at(TOOL, input, no, m);
        match tok {
            Token::Word(w) => words.push(w),
            Token::Close => {
                if !words.is_empty() {
                    return Err(err("expected `;` before `}`"));
                }
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| err("`}` closes no block"))?;
            }
            Token::Open => {
                let head = std::mem::take(&mut words);
                if depth == 0 {
                    match head.as_slice() {
                        [kw, name] if kw == "resource" => {
                            if !names.insert(name.to_string()) {
                                return Err(err("a resource shown twice"));
                            }
                            out.push(Shown {
                                name: name.to_string(),
                                allow_two_primaries: false,
                            })
                        }
                        _ => return Err(err("expected `resource NAME {` at the top level")),
                    }
                } else if head.is_empty() {
                    return Err(err("a block without a name"));
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(err("blocks nested too deep"));
                }
            }
            Token::Semicolon => {
                let statement = std::mem::take(&mut words);
                if depth == 0 {
                    return Err(err("an option outside a resource"));
                }
                if let [key, rest @ ..] = statement.as_slice() {
                    if key == "allow-two-primaries" {
                        // A bare flag (`allow-two-primaries;`, the older drbdsetup style) is on;
                        // a trailing `_is_default` changes nothing.
                        let yes = match rest.first().map(|w| w.as_ref()) {
                            None | Some("yes") => true,
                            Some("no") => false,
                            _ => return Err(err("expected yes or no")),
                        };
                        // DRBD 9 has one net block per connection: any that allows it counts.
                        if let Some(r) = out.last_mut() {
                            r.allow_two_primaries |= yes;
                        }
                    }
                }
            }
        }
    }
    if depth != 0 || !words.is_empty() {
        return Err(ParseError::whole(
            TOOL,
            "a block or statement is not closed",
        ));
    }
    Ok(out)
}

/// `drbdsetup show`.
pub fn argv() -> crate::drivers::Argv {
    crate::drivers::argv(["drbdsetup", "show"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_text_is_an_error_with_its_line() {
        let e = parse("resource dns {\n  net {\n    allow-two-primaries maybe;\n  }\n}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(parse("resource dns {\n").is_err());
        assert!(parse("}\n").is_err());
        assert!(parse("protocol C;\n").is_err());
        assert!(parse("volume 0 {\n}\n").is_err());
        assert_eq!(parse("").unwrap(), Vec::new());
        let e = parse("resource dns {\n}\nresource dns {\n}\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn a_bare_flag_is_on() {
        let shown = parse("resource dns {\n  net {\n    allow-two-primaries;\n  }\n}\n").unwrap();
        assert!(shown[0].allow_two_primaries);
        let shown =
            parse("resource dns {\n  net {\n    allow-two-primaries no _is_default;\n  }\n}\n")
                .unwrap();
        assert!(!shown[0].allow_two_primaries);
    }
}
