//! Parser for `drbdsetup show` (DRBD 8.4; DRBD 9 prints the same block syntax): the
//! configuration the kernel runs with, as nested `name { key value; }` blocks, one top-level
//! `resource NAME { … }` per resource that is up, only options that differ from DRBD's defaults
//! (see `tests/fixtures/drbdsetup-show-8.4.11-lab.txt`).
//!
//! xenflux reads one thing from it: whether a resource runs with `allow-two-primaries`. The
//! configuration file (`drbdadm dump-xml`) may say otherwise, because `drbdadm net-options`
//! changes only the kernel — a live migration interrupted half way leaves a single-primary
//! resource open to two Primaries. Pure text in, values out.

use crate::drivers::ParseError;

const TOOL: &str = "drbdsetup show";

/// One resource as the kernel runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    pub name: String,
    pub allow_two_primaries: bool,
}

/// Parses `drbdsetup show`.
pub fn parse(input: &str) -> Result<Vec<Shown>, ParseError> {
    let mut out: Vec<Shown> = Vec::new();
    let mut depth = 0usize;
    for (no, raw) in input.lines().enumerate() {
        let no = no + 1;
        // `resync-rate 4096k; # bytes/second`: the comment is the tool's, not a value.
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| ParseError::new(TOOL, no, raw, "`}` closes no block"))?;
            continue;
        }
        if let Some(head) = line.strip_suffix('{') {
            let words: Vec<&str> = head.split_whitespace().collect();
            if depth == 0 {
                match words.as_slice() {
                    ["resource", name] => out.push(Shown {
                        name: (*name).to_string(),
                        allow_two_primaries: false,
                    }),
                    _ => {
                        return Err(ParseError::new(
                            TOOL,
                            no,
                            raw,
                            "expected `resource NAME {` at the top level",
                        ))
                    }
                }
            }
            depth += 1;
            continue;
        }
        let Some(statement) = line.strip_suffix(';') else {
            return Err(ParseError::new(
                TOOL,
                no,
                raw,
                "expected `key value;`, `name {` or `}`",
            ));
        };
        if depth == 0 {
            return Err(ParseError::new(
                TOOL,
                no,
                raw,
                "an option outside a resource",
            ));
        }
        let mut words = statement.split_whitespace();
        if words.next() == Some("allow-two-primaries") {
            let yes = match words.next() {
                Some("yes") => true,
                Some("no") => false,
                _ => return Err(ParseError::new(TOOL, no, raw, "expected yes or no")),
            };
            if let Some(r) = out.last_mut() {
                r.allow_two_primaries = yes;
            }
        }
    }
    if depth != 0 {
        return Err(ParseError::whole(TOOL, "a block is not closed"));
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
    }
}
