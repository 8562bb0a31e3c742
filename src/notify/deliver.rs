//! Delivering one notification: an HTTP/1.1 POST of JSON to a webhook (hyper's client, one
//! connection per delivery, the whole exchange bounded in time), or a command run with the
//! event as JSON on stdin, in a process group of its own that is killed at the time limit.
//! Only http:// is spoken: xenflux carries no TLS stack.

use std::path::Path;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::model::{ProviderSpec, ProviderType};
use crate::validate::rules::notify::url_problem;

use super::Event;

/// Where a provider's notifications go, resolved when it is taken up.
#[derive(Clone)]
pub enum Target {
    /// `HOST:PORT` and the request target (`/path?query`).
    Http {
        hostport: String,
        path: String,
    },
    Command(Vec<String>),
}

impl Target {
    /// The target of `spec`: its address, the URL in its `addressFile` (a regular file of at
    /// most `max` bytes), or its command. The error never shows the URL (it may hold a token).
    pub fn of(spec: &ProviderSpec, max: u64) -> Result<Target, String> {
        if !spec.provider_type.is_webhook() {
            return match &spec.command {
                Some(argv) if !argv.is_empty() => Ok(Target::Command(argv.clone())),
                _ => Err("no command".into()),
            };
        }
        let url = match (&spec.address, &spec.address_file) {
            (Some(a), _) => a.clone(),
            (None, Some(f)) => read_address(Path::new(f), max)?,
            (None, None) => return Err("no address".into()),
        };
        if let Some(why) = url_problem(&url) {
            return Err(format!("the webhook address {why}"));
        }
        Ok(http_target(&url))
    }

    /// Sends `event` once, within `timeout`.
    pub async fn send(
        &self,
        spec: &ProviderSpec,
        event: &Event,
        timeout: Duration,
    ) -> Result<(), String> {
        match self {
            Target::Http { hostport, path } => {
                let body = payload(spec.provider_type, spec, event);
                post(hostport, path, body, timeout).await
            }
            Target::Command(argv) => {
                let input = serde_json::to_vec(event).map_err(|e| e.to_string())?;
                run_command(argv.clone(), input, timeout).await
            }
        }
    }
}

/// The URL in `path`, its line break dropped.
fn read_address(path: &Path, max: u64) -> Result<String, String> {
    match crate::fsutil::read_small(path, max) {
        Ok(Some(t)) => Ok(t.trim().to_string()),
        Ok(None) => Err(format!("{}: no such file", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `http://HOST[:PORT][/PATH]` (checked by [`url_problem`]) as `HOST:PORT` and `/PATH`.
fn http_target(url: &str) -> Target {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let path = path.split('#').next().unwrap_or("");
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let hostport = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Target::Http { hostport, path }
}

/// The body a provider type receives.
pub fn payload(t: ProviderType, spec: &ProviderSpec, event: &Event) -> Vec<u8> {
    let v = match t {
        ProviderType::Generic | ProviderType::Command => {
            serde_json::to_value(event).unwrap_or_default()
        }
        ProviderType::Slack | ProviderType::Mattermost => {
            let mut v = json!({ "text": event.line() });
            if let Some(c) = &spec.channel {
                v["channel"] = json!(c);
            }
            if let Some(u) = &spec.username {
                v["username"] = json!(u);
            }
            v
        }
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// POSTs `body` as JSON; Ok on a 2xx answer.
async fn post(hostport: &str, path: &str, body: Vec<u8>, timeout: Duration) -> Result<(), String> {
    let exchange = async {
        let addr = tokio::net::lookup_host(hostport)
            .await
            .map_err(|e| format!("resolving the webhook's host: {e}"))?
            .next()
            .ok_or("the webhook's host has no address")?;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to the webhook: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("talking to the webhook: {e}"))?;
        // The connection ends with the exchange, or at the time limit whatever the server does.
        tokio::spawn(tokio::time::timeout(timeout, conn));
        let host = hostport.strip_suffix(":80").unwrap_or(hostport);
        let req = Request::post(path)
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("xenflux/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("sending to the webhook: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {status}"))
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the webhook did not answer within {} s",
            timeout.as_secs()
        )),
    }
}

/// Runs `argv` with `input` on stdin, killed (with its children) at `timeout`; Ok on exit 0.
async fn run_command(argv: Vec<String>, input: Vec<u8>, timeout: Duration) -> Result<(), String> {
    let shown = crate::ha::fence::shown(&argv);
    let job = tokio::task::spawn_blocking(move || {
        crate::transport::local::run_within_group_input(&argv, &input, timeout)
    });
    let out = job
        .await
        .map_err(|_| format!("`{shown}`: the runner panicked"))?
        .map_err(|e| format!("`{shown}` could not be run: {e}"))?;
    if out.timed_out {
        return Err(format!(
            "`{shown}` did not finish within {} s and was killed",
            timeout.as_secs()
        ));
    }
    match out.status {
        Some(0) => Ok(()),
        status => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first: String = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect();
            let code = status.map_or("was killed by a signal".into(), |c| format!("exited {c}"));
            Err(format!("`{shown}` {code}: {first}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> (String, String) {
        match http_target(url) {
            Target::Http { hostport, path } => (hostport, path),
            Target::Command(_) => unreachable!(),
        }
    }

    #[test]
    fn urls_split_into_address_and_request_target() {
        assert_eq!(
            http("http://127.0.0.1:9000/hooks/a?t=1#x"),
            ("127.0.0.1:9000".into(), "/hooks/a?t=1".into())
        );
        assert_eq!(
            http("http://chat.example.net"),
            ("chat.example.net:80".into(), "/".into())
        );
        assert_eq!(http("http://h?x=1"), ("h:80".into(), "/?x=1".into()));
        assert_eq!(http("http://[::1]:81/p"), ("[::1]:81".into(), "/p".into()));
        assert_eq!(http("http://[::1]/p"), ("[::1]:80".into(), "/p".into()));
    }

    /// Why `spec` has no target (Target has no Debug: it holds the secret URL).
    fn refused(spec: &ProviderSpec) -> String {
        match Target::of(spec, 4096) {
            Ok(_) => panic!("taken up"),
            Err(e) => e,
        }
    }

    fn webhook(file: &Path) -> ProviderSpec {
        serde_json::from_value(json!({"type": "generic", "addressFile": file})).unwrap()
    }

    #[test]
    fn an_address_file_is_small_regular_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("url");
        crate::fsutil::write_atomic(&ok, "http://127.0.0.1:9/hook/TOKEN\n").unwrap();
        match Target::of(&webhook(&ok), 4096).unwrap() {
            Target::Http { hostport, path } => {
                assert_eq!(
                    (hostport.as_str(), path.as_str()),
                    ("127.0.0.1:9", "/hook/TOKEN")
                )
            }
            Target::Command(_) => panic!("a webhook"),
        }
        // A directory (or a FIFO, a device) is refused rather than read.
        let e = refused(&webhook(dir.path()));
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
        let big = dir.path().join("big");
        crate::fsutil::write_atomic(&big, format!("http://h/{}", "a".repeat(5000))).unwrap();
        refused(&webhook(&big));
        let tls = dir.path().join("tls");
        crate::fsutil::write_atomic(&tls, "https://hooks.example.net/TOKEN").unwrap();
        let e = refused(&webhook(&tls));
        assert!(e.contains("https://") && !e.contains("TOKEN"), "{e}");
        let e = refused(&webhook(&dir.path().join("none")));
        assert!(e.contains("no such file"), "{e}");
    }
}
