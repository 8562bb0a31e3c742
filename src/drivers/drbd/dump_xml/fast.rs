//! A tokenizer for the XML `drbdadm dump-xml` prints, borrowing from the input: elements,
//! attributes, text and the five predefined and numeric character references. Anything else
//! (comments, declarations, CDATA, namespaces, `\r`, a malformed document) gives None, and the
//! caller lets roxmltree read the document: so every document reads as roxmltree reads it, and
//! every error is roxmltree's.

use std::borrow::Cow;

use super::{Elem, Tree, MAX_DEPTH};

/// Attributes of one element the tokenizer reads; an element with more is left to roxmltree.
const MAX_ATTRS: usize = 16;

fn name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Characters XML does not allow (controls, U+FFFE, U+FFFF) and `\r` (which XML would
/// normalise).
fn plain(input: &str) -> bool {
    let b = input.as_bytes();
    let control = b.iter().any(|&c| c < 0x20 && c != b'\t' && c != b'\n');
    let noncharacter = b.contains(&0xEF) && input.contains(['\u{FFFE}', '\u{FFFF}']);
    !control && !noncharacter
}

/// `s` with its character references replaced; None for any other `&`.
fn unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.as_bytes().contains(&b'&') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (name, after) = rest[i + 1..].split_once(';')?;
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let n = match name.strip_prefix("#x") {
                    Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        u32::from_str_radix(h, 16).ok()?
                    }
                    Some(_) => return None,
                    None => {
                        let d = name.strip_prefix('#')?;
                        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        d.parse().ok()?
                    }
                };
                // Only characters a document may hold literally (and `\r` never).
                let c = char::from_u32(n)?;
                if (n < 0x20 && n != 0x9 && n != 0xA) || n == 0xFFFE || n == 0xFFFF {
                    return None;
                }
                c
            }
        };
        out.push(c);
        rest = after;
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// The name starting at `i`, and where it ends.
fn name(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i).copied().is_some_and(name_start) {
        return None;
    }
    let mut j = i + 1;
    while b.get(j).copied().is_some_and(name_byte) {
        j += 1;
    }
    Some(j)
}

/// The elements of `input`, or None when it holds anything beyond the plain subset.
pub(super) fn read(input: &str) -> Option<Tree<'_>> {
    if !plain(input) {
        return None;
    }
    let b = input.as_bytes();
    // About one element per line of the dump, and an attribute for most.
    let mut t = Tree {
        input,
        elems: Vec::with_capacity(input.len() / 48),
        attrs: Vec::with_capacity(input.len() / 48),
    };
    // Open elements: index and last child so far.
    let mut open: Vec<(usize, Option<usize>)> = Vec::new();
    let mut i = 0;
    while b.get(i).copied().is_some_and(space) {
        i += 1;
    }
    let mut done = false;
    loop {
        // Text up to the next tag.
        let from = i;
        i = input[i..].find('<').map_or(b.len(), |n| i + n);
        let text = &input[from..i];
        match open.last() {
            None if !text.bytes().all(space) => return None,
            None => {}
            Some(&(e, last)) => {
                if text.as_bytes().contains(&b']') && text.contains("]]") {
                    return None;
                }
                let text = unescape(text)?;
                if last.is_none() && t.elems[e].text.is_none() && !text.is_empty() {
                    t.elems[e].text = Some(text);
                }
            }
        }
        if i >= b.len() {
            break;
        }
        if done {
            return None;
        }
        let at = i;
        i += 1;
        if b.get(i) == Some(&b'/') {
            let end = name(b, i + 1)?;
            let (e, _) = open.pop()?;
            if t.elems[e].name != input[i + 1..end] {
                return None;
            }
            i = end;
            while b.get(i).copied().is_some_and(space) {
                i += 1;
            }
            if b.get(i) != Some(&b'>') {
                return None;
            }
            i += 1;
            done = open.is_empty();
            continue;
        }
        let end = name(b, i)?;
        let tag = &input[i..end];
        i = end;
        let start = t.attrs.len();
        let empty = loop {
            let spaced = b.get(i).copied().is_some_and(space);
            while b.get(i).copied().is_some_and(space) {
                i += 1;
            }
            match b.get(i) {
                Some(b'>') => {
                    i += 1;
                    break false;
                }
                Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break true;
                }
                _ if !spaced => return None,
                _ => {}
            }
            let n_end = name(b, i)?;
            let key = &input[i..n_end];
            // (drbdadm writes at most three attributes to an element; the duplicate check
            // stays short.)
            if key.starts_with("xmlns")
                || t.attrs.len() - start >= MAX_ATTRS
                || t.attrs[start..].iter().any(|(k, _)| k == key)
            {
                return None;
            }
            i = n_end;
            while b.get(i).copied().is_some_and(space) {
                i += 1;
            }
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            while b.get(i).copied().is_some_and(space) {
                i += 1;
            }
            let quote = *b.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
            i += 1;
            let v_start = i;
            while i < b.len() && b[i] != quote {
                if matches!(b[i], b'<' | b'\t' | b'\n') {
                    return None;
                }
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            let value = unescape(&input[v_start..i])?;
            i += 1;
            t.attrs.push((Cow::Borrowed(key), value));
        };
        let me = t.elems.len();
        t.elems.push(Elem {
            name: Cow::Borrowed(tag),
            attrs: start..t.attrs.len(),
            text: None,
            first: None,
            next: None,
            at,
        });
        match open.last_mut() {
            None if me != 0 => return None,
            None => {}
            Some((parent, last)) => {
                match *last {
                    None => t.elems[*parent].first = Some(me),
                    Some(l) => t.elems[l].next = Some(me),
                }
                *last = Some(me);
            }
        }
        if empty {
            done = open.is_empty();
        } else {
            open.push((me, None));
            if open.len() > MAX_DEPTH {
                return None;
            }
        }
    }
    (done && open.is_empty()).then_some(t)
}
