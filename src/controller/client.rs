//! Talking to a running controller from the command line and from Git hooks: a small HTTP/1.1
//! client over a loopback TCP connection (enough for `POST /reconcile`; the response head is
//! parsed by `httparse`, the body collected as bytes and read as UTF-8 only once whole), bounded
//! in size and time; and the `post-receive` hook `xenflux hook install` writes into a bare
//! repository.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest answer read from a controller (head and body).
pub const MAX_RESPONSE: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not an http://HOST:PORT address")]
    BadUrl { url: String },
    #[error("`{what}` cannot be sent in a request: it holds a space or a control character")]
    BadRequest { what: String },
    #[error("no controller answers at {url}: {source}")]
    Unreachable { url: String, source: std::io::Error },
    #[error("the controller at {url} did not answer within {seconds} s")]
    TimedOut { url: String, seconds: u64 },
    #[error("the controller at {url} answered something that is not HTTP/1.1: {detail}")]
    Malformed { url: String, detail: String },
    #[error("the controller at {url} answered more than {MAX_RESPONSE} bytes")]
    TooLarge { url: String },
    #[error("the controller at {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists and was not written by xenflux; pass --force to replace it")]
    ForeignHook { path: PathBuf },
    #[error("{path} is not a bare Git repository (no HEAD, refs/ and hooks/ directories)")]
    NotBare { path: PathBuf },
}

/// The token to send: `--token-file FILE`, else `XENFLUX_TOKEN`, else the one a controller
/// serving `state_dir` made (`STATE_DIR/controller/token`), else none.
pub fn token(state_dir: &Path, token_file: Option<&Path>) -> Result<Option<String>, ClientError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| t.trim().to_string())
            .map_err(|source| ClientError::Io {
                path: p.to_path_buf(),
                source,
            })
    };
    if let Some(f) = token_file {
        return read(f).map(Some);
    }
    if let Ok(t) = std::env::var("XENFLUX_TOKEN") {
        if !t.is_empty() {
            return Ok(Some(t));
        }
    }
    Ok(read(&super::token_path(state_dir)).ok())
}

/// Sends `METHOD path` to the controller at `base` (`http://127.0.0.1:9292`), with the bearer
/// `token` when given; returns the body of a 2xx answer. The whole exchange takes at most
/// `timeout`; the answer is at most [`MAX_RESPONSE`] bytes.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<String, ClientError> {
    let deadline = Instant::now() + timeout;
    let bad = || ClientError::BadUrl {
        url: base.to_string(),
    };
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    for (what, v) in [
        ("the address", hostport),
        ("the path", path),
        ("the method", method),
    ] {
        if !sendable(v) {
            return Err(ClientError::BadRequest {
                what: format!("{what} {v:?}"),
            });
        }
    }
    if token.is_some_and(|t| !sendable(t)) {
        return Err(ClientError::BadRequest {
            what: "the token".into(),
        });
    }
    let unreachable = |source| ClientError::Unreachable {
        url: base.to_string(),
        source,
    };
    let timed_out = || ClientError::TimedOut {
        url: base.to_string(),
        seconds: timeout.as_secs(),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(bad)?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(5)))
        .map_err(unreachable)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    conn.set_write_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))
        .map_err(unreachable)?;
    conn.write_all(req.as_bytes()).map_err(unreachable)?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, body) = loop {
        if let Some(answer) =
            parse_response(&raw, false).map_err(|detail| malformed(base, detail))?
        {
            break answer;
        }
        let left = remaining(deadline).ok_or_else(timed_out)?;
        conn.set_read_timeout(Some(left)).map_err(unreachable)?;
        let n = match conn.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) => return Err(unreachable(e)),
        };
        if n == 0 {
            break parse_response(&raw, true)
                .map_err(|detail| malformed(base, detail))?
                .ok_or_else(|| malformed(base, "the connection closed mid-answer".into()))?;
        }
        if raw.len() + n > MAX_RESPONSE {
            return Err(ClientError::TooLarge {
                url: base.to_string(),
            });
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    // Whole now: a character split between two chunks is joined again.
    let body = String::from_utf8_lossy(&body).into_owned();
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(ClientError::Refused {
            url: base.to_string(),
            status,
            body: body.trim().to_string(),
        })
    }
}

fn malformed(base: &str, detail: String) -> ClientError {
    ClientError::Malformed {
        url: base.to_string(),
        detail,
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// Visible ASCII only: nothing that could end a header line or the request line.
fn sendable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The status and body of a complete answer in `raw`; `None` while more is to come. At
/// `eof`, an answer without a length is whatever arrived.
fn parse_response(raw: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let rest = &raw[head_len..];
    if header("transfer-encoding").is_some_and(|t| t.ends_with("chunked")) {
        return Ok(dechunk(rest)?.map(|b| (status, b)));
    }
    if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("Content-Length {len:?} is not a number"))?;
        if len > MAX_RESPONSE {
            return Err(format!("Content-Length {len} is over {MAX_RESPONSE}"));
        }
        return Ok((rest.len() >= len).then(|| (status, rest[..len].to_vec())));
    }
    Ok(eof.then(|| (status, rest.to_vec())))
}

/// Joins a chunked body (RFC 9112 §7.1); `None` while the last chunk has not arrived.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(i) = find_crlf(b) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&b[..i]).map_err(|_| "a chunk size is not text")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let n =
            usize::from_str_radix(size, 16).map_err(|_| format!("{size:?} is not a chunk size"))?;
        b = &b[i + 2..];
        if n == 0 {
            // Trailer fields, up to an empty line.
            loop {
                let Some(j) = find_crlf(b) else {
                    return Ok(None);
                };
                if j == 0 {
                    return Ok(Some(out));
                }
                b = &b[j + 2..];
            }
        }
        if n > MAX_RESPONSE.saturating_sub(out.len()) {
            return Err(format!("a chunk of {n} bytes is over {MAX_RESPONSE}"));
        }
        if b.len() < n + 2 {
            return Ok(None);
        }
        if &b[n..n + 2] != b"\r\n" {
            return Err("a chunk does not end in CRLF".into());
        }
        out.extend_from_slice(&b[..n]);
        b = &b[n + 2..];
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// The first line that marks a hook as xenflux's.
pub const HOOK_MARK: &str = "# xenflux post-receive hook";

/// The `post-receive` hook: tells the controller at `url` about the push, never failing it. It
/// authenticates with the token of the controller serving `state_dir` (or the one in
/// `token_file`).
pub fn hook_script(
    xenflux: &Path,
    url: &str,
    state_dir: &Path,
    token_file: Option<&Path>,
) -> String {
    let q = |s: &str| crate::transport::shell_quote(s);
    let token = token_file
        .map(|f| format!(" --token-file {}", q(&f.display().to_string())))
        .unwrap_or_default();
    format!(
        "#!/bin/sh\n{HOOK_MARK}: tells the xenflux controller that commits arrived.\n\
         # A push must not fail because the controller is down: the timer catches up then.\n\
         cat >/dev/null\n\
         {} --state-dir {} reconcile --now --no-wait --reason push --controller {}{token} >/dev/null 2>&1 || true\n",
        q(&xenflux.display().to_string()),
        q(&state_dir.display().to_string()),
        q(url)
    )
}

/// Writes the hook into the bare repository `repo` (replacing only a hook xenflux wrote unless
/// `force`); returns its path.
pub fn install_hook(
    repo: &Path,
    xenflux: &Path,
    url: &str,
    state_dir: &Path,
    token_file: Option<&Path>,
    force: bool,
) -> Result<PathBuf, ClientError> {
    if !(repo.join("HEAD").is_file() && repo.join("refs").is_dir()) {
        return Err(ClientError::NotBare {
            path: repo.to_path_buf(),
        });
    }
    let hooks = repo.join("hooks");
    let path = hooks.join("post-receive");
    if let Ok(old) = std::fs::read_to_string(&path) {
        if !force && !old.contains(HOOK_MARK) {
            return Err(ClientError::ForeignHook { path });
        }
    }
    let io = |source| ClientError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&hooks).map_err(io)?;
    crate::fsutil::write_atomic_mode(
        &path,
        hook_script(xenflux, url, state_dir, token_file),
        0o755,
    )
    .map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_as_bytes() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(raw, false).unwrap(),
            Some((200, b"hello world".to_vec()))
        );
        // "é" is two bytes, one in each chunk.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\na\xc3\r\n2\r\n\xa9b\r\n0\r\n\r\n";
        let (_, body) = parse_response(raw, false).unwrap().unwrap();
        assert_eq!(String::from_utf8_lossy(&body), "aéb");
        // Incomplete until the last chunk.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        assert_eq!(parse_response(raw, false).unwrap(), None);
    }

    #[test]
    fn bad_framing_is_an_error_not_a_panic() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            assert!(
                parse_response(raw, true).is_err(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn requests_cannot_smuggle_headers() {
        let e = request(
            "http://127.0.0.1:9",
            "POST",
            "/reconcile HTTP/1.1\r\nX: y",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
        let e = request(
            "http://127.0.0.1:9",
            "POST",
            "/reconcile",
            Some("a\r\nb"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
    }

    #[test]
    fn hook_quotes_its_paths() {
        let s = hook_script(
            Path::new("/opt/x y/xenflux"),
            "http://127.0.0.1:9292",
            Path::new("/var/lib/xen flux"),
            None,
        );
        assert!(
            s.contains("'/opt/x y/xenflux' --state-dir '/var/lib/xen flux' reconcile --now"),
            "{s}"
        );
        assert!(s.starts_with("#!/bin/sh\n# xenflux post-receive hook"));
    }
}
