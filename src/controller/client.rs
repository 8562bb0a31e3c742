//! Talking to a running controller from the command line and from Git hooks: one HTTP/1.1
//! exchange over a loopback TCP connection, framed by hyper's client (enough for
//! `POST /reconcile`), bounded in size and time, the body read as UTF-8 only once whole; and the
//! `post-receive` hook `xenflux hook install` writes into a bare repository.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes};
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// The largest body read from a controller.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// The largest response head (status line and header fields) read from a controller.
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not an http://HOST:PORT address")]
    BadUrl { url: String },
    #[error("{what} cannot be sent in a request: {why}")]
    BadRequest { what: String, why: String },
    #[error("nothing answers at {url}: {error}")]
    Unreachable { url: String, error: std::io::Error },
    #[error("{url} did not answer within {seconds} s")]
    TimedOut { url: String, seconds: u64 },
    #[error("{url} answered something that is not HTTP/1.1: {detail}")]
    Malformed { url: String, detail: String },
    #[error("{url} answered more than {MAX_HEAD} bytes of head or {MAX_RESPONSE} bytes of body")]
    TooLarge { url: String },
    #[error("{url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("starting the runtime to talk to {url}: {error}")]
    Runtime { url: String, error: std::io::Error },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
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
        crate::fsutil::read_small(p, 64 << 10)
            .and_then(|t| t.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
            .map(|t| t.trim().to_string())
            .map_err(|error| ClientError::Io {
                path: p.to_path_buf(),
                error,
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
/// `timeout`; the answer's head is at most [`MAX_HEAD`] bytes, its body at most
/// [`MAX_RESPONSE`].
///
/// Blocking: it runs the exchange on a runtime of its own, so it must not be called from
/// inside an async task.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<String, ClientError> {
    request_with(base, method, path, token, None, timeout)
}

/// [`request`] with a body: `(content type, bytes)`.
pub fn request_with(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
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
                why: NOT_SENDABLE.into(),
            });
        }
    }
    if token.is_some_and(|t| !sendable(t)) {
        return Err(ClientError::BadRequest {
            what: "the token".into(),
            why: NOT_SENDABLE.into(),
        });
    }
    let (content_type, bytes) = body.unwrap_or(("", Vec::new()));
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, hostport)
        .header(CONTENT_LENGTH, bytes.len().to_string())
        .header(CONNECTION, "close");
    if !content_type.is_empty() {
        req = req.header(CONTENT_TYPE, content_type);
    }
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    // Visible ASCII can still be outside what a method or a request target may hold.
    let req = req
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| ClientError::BadRequest {
            what: format!("the request line {method} {path}"),
            why: e.to_string(),
        })?;
    let addr = hostport
        .to_socket_addrs()
        .map_err(|error| ClientError::Unreachable {
            url: base.to_string(),
            error,
        })?
        .next()
        .ok_or_else(bad)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|error| ClientError::Runtime {
            url: base.to_string(),
            error,
        })?;
    let connect_within = timeout.min(Duration::from_secs(5));
    let answer = rt.block_on(async {
        tokio::time::timeout_at(deadline.into(), exchange(base, addr, req, connect_within)).await
    });
    let (status, body) = answer.map_err(|_| ClientError::TimedOut {
        url: base.to_string(),
        seconds: timeout.as_secs(),
    })??;
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

/// Connects to `addr`, sends `req` and reads the status and the whole body, stopping at
/// [`MAX_RESPONSE`] bytes. The caller bounds it in time.
async fn exchange(
    base: &str,
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
    connect_within: Duration,
) -> Result<(u16, Vec<u8>), ClientError> {
    let unreachable = |error| ClientError::Unreachable {
        url: base.to_string(),
        error,
    };
    let too_large = || ClientError::TooLarge {
        url: base.to_string(),
    };
    let stream = tokio::time::timeout(connect_within, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(io::ErrorKind::TimedOut.into()))?
        .map_err(unreachable)?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_header_size(MAX_HEAD)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(base, e))?;
    // The connection does the reading and writing; its errors also reach the response or the
    // body, so its own result says nothing more.
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| failed(base, e))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    if body.size_hint().lower() > MAX_RESPONSE as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| failed(base, e))?.into_data() else {
            continue; // trailer fields
        };
        if data.len() > MAX_RESPONSE - bytes.len() {
            return Err(too_large());
        }
        bytes.extend_from_slice(&data);
    }
    Ok((status, bytes))
}

/// What a failure of hyper's means here: an answer too large, one that is not HTTP/1.1 (a bad
/// head, bad body framing, a connection closed mid-answer), or a socket that failed.
fn failed(base: &str, e: hyper::Error) -> ClientError {
    let url = base.to_string();
    let mut detail = e.to_string();
    let mut io_kind = None;
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        detail.push_str(&format!(": {c}"));
        if let Some(io) = c.downcast_ref::<io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        cause = c.source();
    }
    if e.is_parse_too_large() {
        return ClientError::TooLarge { url };
    }
    let bad_framing = matches!(
        io_kind,
        Some(
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
        )
    );
    if e.is_parse() || e.is_incomplete_message() || bad_framing {
        return ClientError::Malformed { url, detail };
    }
    ClientError::Unreachable {
        url,
        error: io::Error::new(io_kind.unwrap_or(io::ErrorKind::Other), detail),
    }
}

const NOT_SENDABLE: &str = "it holds a space or a control character";

/// Visible ASCII only: nothing that could end a header line or the request line.
fn sendable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
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
    if let Ok(Some(old)) = crate::fsutil::read_small(&path, 1 << 20) {
        if !force && !old.contains(HOOK_MARK) {
            return Err(ClientError::ForeignHook { path });
        }
    }
    let io = |error| ClientError::Io {
        path: path.clone(),
        error,
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
        // Visible, but not a method name.
        let e = request(
            "http://127.0.0.1:9",
            "PO(ST",
            "/reconcile",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ClientError::BadRequest { what, .. } if what.contains("PO(ST")),
            "{e}"
        );
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
