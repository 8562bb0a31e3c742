//! The byte-length framing a remote batch script prints its commands' results in, and its
//! parser. Owns only the format: it must not know how the bytes travelled or what ran.
//!
//! ```text
//! XENFLUX-FRAMES NONCE\n
//! INDEX STATUS STDOUT_LEN STDERR_LEN\n<stdout bytes><stderr bytes>     (one per command)
//! XENFLUX-END NONCE\n
//! ```
//!
//! Lengths are decimal byte counts, so any content (a line that looks like a frame header, no
//! trailing newline, bytes that are not UTF-8) round-trips exactly. Whatever precedes the
//! header line (a login banner printed by a shell start-up file) is skipped.

use thiserror::Error;

/// One command's result as the remote shell reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why an answer is not a complete set of frames.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header line never came: the batch script did not start.
    #[error("the answer has no frame header")]
    NoHeader,
    /// The header came, then the answer stopped or went wrong after `complete` whole frames.
    #[error("the answer broke off after {complete} complete frame(s): {why}")]
    Broken { complete: usize, why: String },
}

pub fn header(nonce: &str) -> String {
    format!("XENFLUX-FRAMES {nonce}\n")
}

pub fn trailer(nonce: &str) -> String {
    format!("XENFLUX-END {nonce}\n")
}

/// Encodes frames exactly as the batch script prints them (the parser's inverse; used by tests
/// and as the format's executable definition).
#[cfg(test)]
pub fn encode(nonce: &str, frames: &[Frame]) -> Vec<u8> {
    let mut out = header(nonce).into_bytes();
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(
            format!("{i} {} {} {}\n", f.status, f.stdout.len(), f.stderr.len()).as_bytes(),
        );
        out.extend_from_slice(&f.stdout);
        out.extend_from_slice(&f.stderr);
    }
    out.extend_from_slice(trailer(nonce).as_bytes());
    out
}

/// Parses an answer that must hold exactly `expected` frames for `nonce`.
pub fn parse(answer: &[u8], nonce: &str, expected: usize) -> Result<Vec<Frame>, FrameError> {
    let head = header(nonce);
    let start = find_line(answer, head.as_bytes()).ok_or(FrameError::NoHeader)?;
    let mut rest = &answer[start + head.len()..];
    let mut frames = Vec::with_capacity(expected);
    let broken = |frames: &Vec<Frame>, why: String| FrameError::Broken {
        complete: frames.len(),
        why,
    };
    while frames.len() < expected {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(broken(&frames, "a frame header is cut short".into()));
        };
        let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let fields: Vec<&str> = line.split(' ').collect();
        let numbers: Option<Vec<usize>> = match fields.as_slice() {
            [i, _, o, e] => [i, o, e].iter().map(|f| f.parse().ok()).collect(),
            _ => None,
        };
        let status: Option<i32> = fields.get(1).and_then(|s| s.parse().ok());
        let (Some(n), Some(status)) = (numbers, status) else {
            return Err(broken(&frames, format!("bad frame header `{line}`")));
        };
        let (index, out_len, err_len) = (n[0], n[1], n[2]);
        if index != frames.len() {
            return Err(broken(
                &frames,
                format!("frame {index} came where frame {} was due", frames.len()),
            ));
        }
        let body = &rest[nl + 1..];
        let Some(total) = out_len.checked_add(err_len).filter(|t| *t <= body.len()) else {
            return Err(broken(
                &frames,
                format!(
                    "frame {index} announces {out_len}+{err_len} bytes, {} arrived",
                    body.len()
                ),
            ));
        };
        frames.push(Frame {
            status,
            stdout: body[..out_len].to_vec(),
            stderr: body[out_len..total].to_vec(),
        });
        rest = &body[total..];
    }
    if !rest.starts_with(trailer(nonce).as_bytes()) {
        return Err(broken(
            &frames,
            "the end marker is missing after the last frame".into(),
        ));
    }
    Ok(frames)
}

/// Where `line` starts in `hay` at the beginning of a line.
fn find_line(hay: &[u8], line: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(line.len())?)
        .find(|&i| (i == 0 || hay[i - 1] == b'\n') && hay[i..].starts_with(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONCE: &str = "0123abcd";

    fn frame(status: i32, out: &[u8], err: &[u8]) -> Frame {
        Frame {
            status,
            stdout: out.to_vec(),
            stderr: err.to_vec(),
        }
    }

    #[test]
    fn content_that_looks_like_frames_is_just_content() {
        let tricky = format!("0 0 1 1\nXENFLUX-END {NONCE}\n{}", header(NONCE));
        let frames = vec![
            frame(0, tricky.as_bytes(), b""),
            frame(127, b"", b"sh: 1: nope: not found\n"),
            frame(3, b"no newline", b"\xff\xfe"),
        ];
        let answer = [b"banner from .bashrc\n".as_slice(), &encode(NONCE, &frames)].concat();
        assert_eq!(parse(&answer, NONCE, 3), Ok(frames));
    }

    #[test]
    fn missing_header_and_short_answers_are_errors() {
        assert_eq!(parse(b"", NONCE, 0), Err(FrameError::NoHeader));
        // A header for another batch does not count.
        assert_eq!(
            parse(header("other").as_bytes(), NONCE, 0),
            Err(FrameError::NoHeader)
        );
        let full = encode(NONCE, &[frame(0, b"abc", b"de"), frame(1, b"", b"")]);
        assert!(parse(&full, NONCE, 2).is_ok());
        assert!(matches!(
            parse(&full, NONCE, 3),
            Err(FrameError::Broken { complete: 2, .. })
        ));
        // Fewer frames expected than sent: the end marker is not where it must be.
        assert!(matches!(
            parse(&full, NONCE, 1),
            Err(FrameError::Broken { complete: 1, .. })
        ));
        assert!(matches!(
            parse(b"XENFLUX-FRAMES 0123abcd\n0 zero 1 1\nab", NONCE, 1),
            Err(FrameError::Broken { complete: 0, .. })
        ));
        assert!(matches!(
            parse(b"XENFLUX-FRAMES 0123abcd\n1 0 0 0\n", NONCE, 1),
            Err(FrameError::Broken { complete: 0, .. })
        ));
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        (
            0i32..=255,
            proptest::collection::vec(any::<u8>(), 0..200),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(status, stdout, stderr)| Frame {
                status,
                stdout,
                stderr,
            })
    }

    proptest! {
        #[test]
        fn arbitrary_outputs_round_trip(frames in proptest::collection::vec(arb_frame(), 0..8)) {
            let answer = encode(NONCE, &frames);
            prop_assert_eq!(parse(&answer, NONCE, frames.len()), Ok(frames));
        }

        #[test]
        fn every_truncation_is_an_error(
            frames in proptest::collection::vec(arb_frame(), 1..5),
            cut in any::<prop::sample::Index>(),
        ) {
            let answer = encode(NONCE, &frames);
            let len = cut.index(answer.len());
            prop_assert!(parse(&answer[..len], NONCE, frames.len()).is_err());
        }
    }
}
