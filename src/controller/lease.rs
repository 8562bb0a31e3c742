//! Leadership among the controllers of one cluster (`serve --lease etcd=http://HOST:PORT`): a
//! key on etcd, created under a lease with a TTL, names the one controller that observes,
//! fences and applies; the others only answer `/status`. The key's create revision is the
//! leader's fencing token: before every stage an apply confirms on etcd that the key still
//! holds that revision under its lease, so a leader deposed mid-apply (paused, partitioned,
//! its lease expired) stops before its next stage. A leader that cannot renew its lease stops
//! acting at once and is no leader when its TTL has passed, whatever etcd decides meanwhile.
//!
//! etcd is spoken to through its v3 JSON gateway (`/v3/lease/grant`, `/v3/kv/txn`, …), the
//! same API as its gRPC one, over the controller's small HTTP/1.1 client: each call bounded
//! in time and size, and blocking (call it off the async runtime).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use super::client;

/// The key the controllers compete for, unless `--lease-key` names another.
pub const DEFAULT_KEY: &str = "xenflux/leader";

/// The lease's TTL, unless `--lease-ttl` says otherwise: a dead leader is replaced within it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// Bounds of `--lease-ttl`: etcd's minimum is about 5 s for a cluster (2 s here, for one
/// member); more than 5 minutes leaves a cluster unreconciled too long after a leader dies.
pub const TTL_RANGE: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(300));

/// How long one call to etcd may take.
const CALL_WITHIN: Duration = Duration::from_secs(3);

/// Where and how to compete.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// `http://HOST:PORT` of an etcd member.
    pub endpoint: String,
    pub key: String,
    pub ttl: Duration,
    /// What the key holds while this controller leads (`host:pid http://ADDRESS`), shown to
    /// the others.
    pub holder: String,
}

impl LeaseOptions {
    /// Parses `etcd=http://HOST:PORT`.
    pub fn parse_endpoint(spec: &str) -> Result<String, String> {
        let url = spec
            .strip_prefix("etcd=")
            .ok_or_else(|| format!("`{spec}`: a lease is given as etcd=http://HOST:PORT"))?;
        let hostport = url.strip_prefix("http://").ok_or_else(|| {
            format!("`{url}`: only http:// endpoints are supported (etcd's client URL)")
        })?;
        let hostport = hostport.trim_end_matches('/');
        let ok = !hostport.is_empty()
            && hostport.len() <= 255
            && hostport
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
            && hostport.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        if !ok {
            return Err(format!("`{url}`: not http://HOST:PORT"));
        }
        Ok(format!("http://{hostport}"))
    }
}

/// What this controller is, as `/status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// Not decided yet (the first call to etcd has not answered).
    Starting,
    /// Holds the key: observes, fences and applies.
    Leader { revision: i64, lease: String },
    /// Another controller leads; this one only answers `/status`.
    Follower { leader: Option<String> },
    /// etcd cannot be reached or answered nonsense: nobody is known to lead, so this
    /// controller does nothing.
    Unavailable { reason: String },
}

/// The leader's fencing token: the key's create revision under its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub revision: i64,
    pub lease: i64,
}

/// The state of this controller's candidacy.
pub struct Leadership {
    opts: LeaseOptions,
    inner: Mutex<Inner>,
}

struct Inner {
    role: Role,
    token: Option<Token>,
    /// The end of the TTL counted from the last renewal etcd confirmed: no leader after it.
    valid_until: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
#[error("etcd at {endpoint}: {detail}")]
pub struct LeaseError {
    endpoint: String,
    detail: String,
}

impl Leadership {
    pub fn new(opts: LeaseOptions) -> Leadership {
        Leadership {
            opts,
            inner: Mutex::new(Inner {
                role: Role::Starting,
                token: None,
                valid_until: None,
            }),
        }
    }

    pub fn options(&self) -> &LeaseOptions {
        &self.opts
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn role(&self) -> Role {
        self.inner().role.clone()
    }

    /// The token while this controller leads and its lease has not run out.
    pub fn acting(&self) -> Option<Token> {
        let i = self.inner();
        match (i.token, i.valid_until) {
            (Some(t), Some(until)) if Instant::now() < until => Some(t),
            _ => None,
        }
    }

    /// Confirms on etcd that `token` still leads (the key exists with that create revision and
    /// lease) and its TTL has not run out here: checked before every stage of an apply.
    pub fn confirm(&self, token: Token) -> Result<(), String> {
        if self.acting() != Some(token) {
            return Err("this controller's lease ran out or was lost".into());
        }
        let v = self
            .call("/v3/kv/range", json!({ "key": B64.encode(&self.opts.key) }))
            .map_err(|e| format!("leadership could not be confirmed: {e}"))?;
        let kv = v["kvs"].get(0);
        let revision = kv.and_then(|kv| int(&kv["create_revision"]));
        let lease = kv.and_then(|kv| int(&kv["lease"]));
        if revision == Some(token.revision) && lease == Some(token.lease) {
            Ok(())
        } else {
            self.lose("deposed: another controller holds the lease now");
            Err(format!(
                "deposed: the key {} no longer holds revision {} (it holds {})",
                self.opts.key,
                token.revision,
                revision.map_or("nothing".to_string(), |r| format!("revision {r}"))
            ))
        }
    }

    fn lose(&self, reason: &str) {
        let mut i = self.inner();
        if i.token.is_some() {
            tracing::warn!(key = %self.opts.key, "{reason}: acting stops");
        }
        i.token = None;
        i.valid_until = None;
    }

    /// One round of the candidacy: a leader renews its lease; anyone else tries to take the key.
    /// Returns whether this controller leads afterwards. Blocking.
    pub fn step(&self) -> bool {
        let leading = self.inner().token;
        let result = match leading {
            Some(t) => self.renew(t),
            None => self.campaign(),
        };
        match result {
            Ok(role) => {
                let mut i = self.inner();
                if i.role != role {
                    tracing::info!(role = ?role, "leadership");
                }
                i.role = role;
                i.token.is_some()
            }
            Err(e) => {
                // Unreachable: nobody can be known to lead, so this one stops acting now
                // rather than at the end of its TTL.
                self.lose(&format!("{e}"));
                let mut i = self.inner();
                let role = Role::Unavailable {
                    reason: e.to_string(),
                };
                if i.role != role {
                    tracing::warn!(
                        "leadership unknown: {e}; this controller does nothing until etcd answers"
                    );
                }
                i.role = role;
                false
            }
        }
    }

    fn renew(&self, t: Token) -> Result<Role, LeaseError> {
        let sent = Instant::now();
        let v = self.call("/v3/lease/keepalive", json!({ "ID": t.lease.to_string() }))?;
        let ttl = int(&v["result"]["TTL"]).unwrap_or(0);
        if ttl <= 0 {
            self.lose("the lease expired on etcd");
            return Ok(Role::Follower { leader: None });
        }
        let mut i = self.inner();
        // Counted from when the renewal was sent: etcd may have started the TTL any time after.
        i.valid_until = Some(sent + Duration::from_secs(ttl as u64).min(self.opts.ttl));
        Ok(Role::Leader {
            revision: t.revision,
            lease: format!("{:x}", t.lease),
        })
    }

    fn campaign(&self) -> Result<Role, LeaseError> {
        let key = B64.encode(&self.opts.key);
        // Held by another: nothing to try (one cheap read a round).
        let seen = self.call("/v3/kv/range", json!({ "key": key }))?;
        if let Some(kv) = seen["kvs"].get(0) {
            return Ok(Role::Follower {
                leader: holder(&kv["value"]),
            });
        }
        let sent = Instant::now();
        let ttl = self.opts.ttl.as_secs().max(1);
        let grant = self.call("/v3/lease/grant", json!({ "TTL": ttl.to_string() }))?;
        let lease = int(&grant["ID"]).ok_or_else(|| self.err(format!("grant answered {grant}")))?;
        let txn = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{"key": key, "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
                "success": [{"request_put": {"key": key, "value": B64.encode(&self.opts.holder), "lease": lease.to_string()}}],
                "failure": [{"request_range": {"key": key}}],
            }),
        )?;
        if txn["succeeded"].as_bool() == Some(true) {
            let revision = int(&txn["header"]["revision"])
                .ok_or_else(|| self.err(format!("txn answered {txn}")))?;
            let mut i = self.inner();
            i.token = Some(Token { revision, lease });
            i.valid_until = Some(sent + self.opts.ttl);
            tracing::info!(key = %self.opts.key, revision, "this controller leads");
            return Ok(Role::Leader {
                revision,
                lease: format!("{lease:x}"),
            });
        }
        // Someone else leads: give the unused lease back (it would expire anyway).
        let _ = self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }));
        Ok(Role::Follower {
            leader: holder(&txn["responses"][0]["response_range"]["kvs"][0]["value"]),
        })
    }

    /// Gives the key up (a controller that stops cleanly), so another takes over at once.
    pub fn resign(&self) {
        let token = self.inner().token;
        if let Some(t) = token {
            let _ = self.call("/v3/lease/revoke", json!({ "ID": t.lease.to_string() }));
            self.lose("resigned");
        }
    }

    fn err(&self, detail: String) -> LeaseError {
        LeaseError {
            endpoint: self.opts.endpoint.clone(),
            detail,
        }
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, LeaseError> {
        let text = client::request_with(
            &self.opts.endpoint,
            "POST",
            path,
            None,
            Some(("application/json", body.to_string().into_bytes())),
            CALL_WITHIN,
        )
        .map_err(|e| self.err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| self.err(format!("{path} answered non-JSON: {e}")))
    }
}

/// What a leader wrote into the key (`host:pid address`), shown to the others; bounded.
fn holder(v: &Value) -> Option<String> {
    v.as_str()
        .and_then(|v| B64.decode(v).ok())
        .map(|v| String::from_utf8_lossy(&v).chars().take(200).collect())
}

/// etcd's JSON gateway writes 64-bit integers as strings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            LeaseOptions::parse_endpoint("etcd=http://127.0.0.1:2379/"),
            Ok("http://127.0.0.1:2379".into())
        );
        for bad in [
            "http://127.0.0.1:2379",
            "etcd=https://h:2379",
            "etcd=http://h",
            "etcd=http://:2379",
            "etcd=http://h:0",
            "etcd=http://h:99999",
            "etcd=http://h:1/x",
            "etcd=http://h h:1",
        ] {
            assert!(LeaseOptions::parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_as_etcd_writes_them() {
        assert_eq!(
            int(&json!("7587862119370545422")),
            Some(7587862119370545422)
        );
        assert_eq!(int(&json!(12)), Some(12));
        assert_eq!(int(&json!("x")), None);
        assert_eq!(int(&Value::Null), None);
    }

    #[test]
    fn an_unreachable_etcd_makes_no_leader() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let l = Leadership::new(LeaseOptions {
            endpoint: format!("http://127.0.0.1:{port}"),
            key: DEFAULT_KEY.into(),
            ttl: DEFAULT_TTL,
            holder: "test".into(),
        });
        assert!(!l.step());
        assert!(l.acting().is_none());
        assert!(
            matches!(l.role(), Role::Unavailable { .. }),
            "{:?}",
            l.role()
        );
    }
}
