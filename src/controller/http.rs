//! The controller's HTTP side (loopback by default): `GET /healthz`, `GET /status` (JSON),
//! `GET /metrics` (Prometheus text), `POST /hooks/git` (a Git server's push webhook, signed with
//! HMAC-SHA256 in GitHub's `X-Hub-Signature-256: sha256=HEX` or Gitea's `X-Gitea-Signature: HEX`
//! header, compared in constant time), `POST /reconcile` (`xenflux reconcile --now` and the
//! post-receive hook; `?wait=true` answers when the pass is done). Handlers only queue triggers
//! and read status: they never run a pass.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{KeyInit, Mac};
use serde::Deserialize;

use super::{Shared, Trigger};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Serves until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = router(shared);
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("HTTP server: {e}");
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/hooks/git", post(webhook))
        .route("/reconcile", post(reconcile))
        .with_state(shared)
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    Json(s.status()).into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
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

async fn reconcile(State(s): State<Arc<Shared>>, Query(q): Query<ReconcileQuery>) -> Response {
    let why = match q.reason.as_deref() {
        Some("push") => Trigger::Push,
        _ => Trigger::Manual,
    };
    let n = s.trigger(why);
    if !q.wait {
        return (StatusCode::ACCEPTED, Json(serde_json::json!({"queued": n}))).into_response();
    }
    match s.wait_covered(n, Duration::from_secs(3600)).await {
        Some(record) => Json(record).into_response(),
        None => (
            StatusCode::GATEWAY_TIMEOUT,
            "the reconcile did not finish within an hour\n",
        )
            .into_response(),
    }
}

async fn webhook(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
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
}
