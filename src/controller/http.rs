//! The controller's HTTP side (loopback by default): `GET /healthz`, `GET /status` (JSON),
//! `GET /metrics` (Prometheus text), `POST /hooks/git` (a Git server's push webhook, signed with
//! HMAC-SHA256 in GitHub's `X-Hub-Signature-256: sha256=HEX` or Gitea's `X-Gitea-Signature: HEX`
//! header, compared in constant time), `POST /reconcile` (`xenflux reconcile --now`, `resume` and
//! the post-receive hook; `?wait=true` answers when the pass is done), which needs the
//! controller's bearer token. Handlers only queue triggers and read status: they never run a
//! pass.
//!
//! The server survives any client: at most [`Limits::max_connections`] connections at once (one
//! more is closed at once, so a flood cannot take the descriptors `/healthz` needs), request
//! headers must arrive within [`Limits::header_read`] (also how long an idle keep-alive
//! connection stays), a request is answered within [`Limits::request`] (a `?wait=true`
//! reconcile within [`Limits::wait`]), and bodies are at most [`Limits::body_bytes`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{KeyInit, Mac};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{Shared, Trigger};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The bounds every client is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time for a request's headers to arrive, and for an idle connection to send the next.
    pub header_read: Duration,
    /// Time to answer a request (reading its body included).
    pub request: Duration,
    /// Time a `POST /reconcile?wait=true` waits for its pass.
    pub wait: Duration,
    /// Largest request body (webhook payloads).
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 256,
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            wait: Duration::from_secs(3600),
            body_bytes: 1024 * 1024,
        }
    }
}

/// How long a stop waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = router(shared, limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: pause instead of spinning.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    max = limits.max_connections,
                    "too many connections: closing new ones"
                );
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .max_buf_size(64 * 1024);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            // No connection outlives the longest answer it may wait for.
            let lifetime = tokio::time::sleep(limits.wait + limits.request + limits.header_read);
            tokio::pin!(lifetime);
            tokio::select! {
                _ = &mut conn => {}
                _ = &mut lifetime => {}
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
        });
    }
    // Let open connections finish their answer, for a bounded time.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

pub fn router(shared: Arc<Shared>, limits: Limits) -> Router {
    let bounded = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/hooks/git", post(webhook))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            within(limits.request, req, next)
        }));
    // A waiting reconcile is bounded by its own limit, checked in the handler.
    Router::new()
        .route("/reconcile", post(reconcile))
        .merge(bounded)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .with_state((shared, limits))
}

type AppState = (Arc<Shared>, Limits);

async fn within(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "the request took too long\n").into_response(),
    }
}

async fn status(State((s, _)): State<AppState>) -> Response {
    Json(s.status()).into_response()
}

async fn metrics(State((s, _)): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics_text(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct ReconcileQuery {
    #[serde(default)]
    wait: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// Whether the request carries the controller's token (`Authorization: Bearer TOKEN`),
/// compared in constant time.
fn authorized(s: &Shared, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) => constant_time_eq(t.as_bytes(), &s.token.0),
        None => false,
    }
}

/// Equal bytes, in a time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this needs the controller's token (Authorization: Bearer TOKEN; local commands read STATE_DIR/controller/token)\n",
    )
        .into_response()
}

async fn reconcile(
    State((s, limits)): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReconcileQuery>,
) -> Response {
    if !authorized(&s, &headers) {
        tracing::warn!("reconcile request without the controller's token refused");
        return unauthorized();
    }
    let why = match q.reason.as_deref() {
        Some("push") => Trigger::Push,
        _ => Trigger::Manual,
    };
    // With a lease, only the leader reconciles: say so rather than wait for nothing.
    if let Err(why) = s.acting() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this controller does not reconcile now: {why}\n"),
        )
            .into_response();
    }
    let n = s.trigger(why);
    if !q.wait {
        return (StatusCode::ACCEPTED, Json(serde_json::json!({"queued": n}))).into_response();
    }
    match s.wait_covered(n, limits.wait).await {
        Some(record) => Json(record).into_response(),
        None => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the reconcile did not finish within {} s\n",
                limits.wait.as_secs()
            ),
        )
            .into_response(),
    }
}

async fn webhook(State((s, _)): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &s.webhook_secret else {
        return (
            StatusCode::NOT_FOUND,
            "the webhook is off: start `xenflux serve` with --webhook-secret-file or XENFLUX_WEBHOOK_SECRET\n",
        )
            .into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let given = header("x-hub-signature-256")
        .and_then(|v| v.strip_prefix("sha256="))
        .or_else(|| header("x-gitea-signature"));
    let Some(given) = given else {
        tracing::warn!("webhook without a signature refused");
        return (StatusCode::UNAUTHORIZED, "missing signature\n").into_response();
    };
    if !signature_ok(&secret.0, &body, given) {
        tracing::warn!("webhook with a wrong signature refused");
        return (StatusCode::UNAUTHORIZED, "bad signature\n").into_response();
    }
    // Git servers send a ping when the hook is set up: answer it without reconciling.
    if header("x-github-event") == Some("ping") {
        return (StatusCode::OK, "pong\n").into_response();
    }
    let n = s.trigger(Trigger::Webhook);
    (StatusCode::ACCEPTED, Json(serde_json::json!({"queued": n}))).into_response()
}

/// Checks a hex HMAC-SHA256 of `body` under `secret`, in constant time.
pub fn signature_ok(secret: &[u8], body: &[u8], hex_sig: &str) -> bool {
    let Some(sig) = unhex(hex_sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The hex HMAC-SHA256 of `body` (what a Git server sends), for tests and tools.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_fails() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signature_ok(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!signature_ok(
            b"Jefe",
            b"what do ya want for nothing!",
            &sig
        ));
        assert!(!signature_ok(
            b"jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!signature_ok(
            b"Jefe",
            b"what do ya want for nothing?",
            &sig[..62]
        ));
        assert!(!signature_ok(b"Jefe", b"x", "zz"));
        assert!(!signature_ok(b"Jefe", b"x", ""));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
