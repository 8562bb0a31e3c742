//! Talking to a running controller from the command line and from Git hooks: a minimal HTTP/1.1
//! client over a loopback TCP connection (enough for `POST /reconcile`), and the `post-receive`
//! hook `xenflux hook install` writes into a bare repository.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not an http://HOST:PORT address")]
    BadUrl { url: String },
    #[error("no controller answers at {url}: {source}")]
    Unreachable { url: String, source: std::io::Error },
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

/// Sends `METHOD path` to the controller at `base` (`http://127.0.0.1:9292`); returns the body of
/// a 2xx answer.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<String, ClientError> {
    let bad = || ClientError::BadUrl {
        url: base.to_string(),
    };
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    let unreachable = |source| ClientError::Unreachable {
        url: base.to_string(),
        source,
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(bad)?;
    let mut conn =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(unreachable)?;
    conn.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).map_err(unreachable)?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).map_err(unreachable)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
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

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The first line that marks a hook as xenflux's.
pub const HOOK_MARK: &str = "# xenflux post-receive hook";

/// The `post-receive` hook: tells the controller at `url` about the push, never failing it.
pub fn hook_script(xenflux: &Path, url: &str) -> String {
    let q = |s: &str| crate::transport::shell_quote(s);
    format!(
        "#!/bin/sh\n{HOOK_MARK}: tells the xenflux controller that commits arrived.\n\
         # A push must not fail because the controller is down: the timer catches up then.\n\
         cat >/dev/null\n\
         {} reconcile --now --no-wait --reason push --controller {} >/dev/null 2>&1 || true\n",
        q(&xenflux.display().to_string()),
        q(url)
    )
}

/// Writes the hook into the bare repository `repo` (replacing only a hook xenflux wrote unless
/// `force`); returns its path.
pub fn install_hook(
    repo: &Path,
    xenflux: &Path,
    url: &str,
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
    crate::fsutil::write_atomic_mode(&path, hook_script(xenflux, url), 0o755).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn hook_quotes_its_paths() {
        let s = hook_script(Path::new("/opt/x y/xenflux"), "http://127.0.0.1:9292");
        assert!(s.contains("'/opt/x y/xenflux' reconcile --now"), "{s}");
        assert!(s.starts_with("#!/bin/sh\n# xenflux post-receive hook"));
    }
}
