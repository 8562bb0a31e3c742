//! The notification kinds of `cluster-state/`, in Flux's model: a `Provider` says where
//! notifications go (a generic JSON webhook, a Slack- or Mattermost-compatible webhook, or a
//! command reading the event as JSON on stdin), an `Alert` which events go to which provider.
//! Webhook URLs are secrets: `addressFile` names a file on the controller's machine holding it,
//! so the URL stays out of Git.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::Name;
use super::units::Duration;

/// Where notifications go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSpec {
    /// `generic` (the event as JSON, POSTed), `slack` or `mattermost` (`{"text": ...}`,
    /// POSTed to an incoming webhook), or `command` (an argv receiving the event as JSON on
    /// stdin, e.g. a script around `sendmail`).
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// The webhook URL (http:// only). Prefer `addressFile`: a URL with a token in it is a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// An absolute path on the controller's machine to a file holding the webhook URL (read
    /// when the controller takes the Provider up; at most 4 KiB, a regular file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_file: Option<String>,
    /// With `type: command`: the argv to run (never through a shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// With `slack` / `mattermost`: the channel to post in (the webhook's own by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// With `slack` / `mattermost`: the name to post as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// How long one delivery (an HTTP exchange, or the command) may take (1s to 5m).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Further attempts after a failed delivery, with a doubling backoff from 1 s (0 to 10).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// At most this many notifications per period; what comes beyond is folded into one
    /// summary at the end of the period.
    #[serde(default)]
    pub rate_limit: RateLimit,
}

fn default_timeout() -> Duration {
    Duration { seconds: 10 }
}

fn default_retries() -> u32 {
    3
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    Generic,
    Slack,
    Mattermost,
    Command,
}

impl ProviderType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::Generic => "generic",
            ProviderType::Slack => "slack",
            ProviderType::Mattermost => "mattermost",
            ProviderType::Command => "command",
        }
    }
    /// Whether it posts to a URL (else it runs a command).
    pub fn is_webhook(self) -> bool {
        match self {
            ProviderType::Generic | ProviderType::Slack | ProviderType::Mattermost => true,
            ProviderType::Command => false,
        }
    }
}

/// A per-provider rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Notifications per period (1 to 1000).
    pub events: u32,
    /// The period (1s to 1h).
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            events: 20,
            per: Duration { seconds: 60 },
        }
    }
}

/// Which events go to which provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider (by name) notified.
    pub provider: Name,
    /// The kinds of event sent; all when empty or absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// The least severity sent: `info` (everything) or `error`.
    #[serde(default)]
    pub severity: EventSeverity,
    /// The objects whose events are sent, as `Kind/name` or `Kind/*`; all when empty or absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
}

/// What happened.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The desired state at a new commit is invalid: nothing was changed.
    InvalidCommit,
    /// Detect mode: an object differs from its desired state (nothing was changed).
    Drift,
    /// A reconcile pass failed (fetching, observing, planning or applying).
    PassFailed,
    /// The planner will not act on an object until something is resolved.
    Blocked,
    /// A DRBD resource is StandAlone (split brain or a manual disconnect).
    SplitBrain,
    /// The node watch declared a node dead.
    NodeDead,
    /// A dead node's fence ran (confirmed or not).
    Fence,
    /// A dead node's domains were started on its peer (or that was refused or failed).
    Failover,
    /// A failed-over domain is back on its preferred node.
    Failback,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::InvalidCommit => "invalid-commit",
            EventKind::Drift => "drift",
            EventKind::PassFailed => "pass-failed",
            EventKind::Blocked => "blocked",
            EventKind::SplitBrain => "split-brain",
            EventKind::NodeDead => "node-dead",
            EventKind::Fence => "fence",
            EventKind::Failover => "failover",
            EventKind::Failback => "failback",
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    #[default]
    Info,
    Error,
}

impl EventSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSeverity::Info => "info",
            EventSeverity::Error => "error",
        }
    }
}

/// Whether `object` (`Kind/name`) is one of `patterns` (`Kind/name` or `Kind/*`); every object
/// is when there are none.
pub fn object_matches(patterns: &[String], object: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix("/*") {
            Some(kind) => object.split_once('/').is_some_and(|(k, _)| k == kind),
            None => p == object,
        })
}
