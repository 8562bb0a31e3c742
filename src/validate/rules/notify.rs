//! Rules for Providers and Alerts: exactly one destination of the provider's type (an http://
//! URL or a file holding one, or an argv), bounded timings, retries and rate limits, an Alert's
//! provider present and its object patterns well formed. How many there may be is bounded too:
//! each provider is a task and a queue in the controller.

use crate::diag::Diagnostics;
use crate::model::{Kind, ProviderSpec};

use super::super::decode::{Decoded, Locator};
use super::ha::check_argv;

/// Providers in one desired state at most.
pub const MAX_PROVIDERS: usize = 32;
/// Alerts in one desired state at most.
pub const MAX_ALERTS: usize = 256;
/// Object patterns in one Alert at most.
const MAX_PATTERNS: usize = 256;
/// The longest webhook URL, `addressFile` path, channel or user name.
const MAX_ADDRESS: usize = 2048;
const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 256;
const TIMEOUT_SECS: (u64, u64) = (1, 300);
const PER_SECS: (u64, u64) = (1, 3600);
const MAX_RETRIES: u32 = 10;
const MAX_EVENTS_PER: u32 = 1000;

pub(super) fn check_notifications(
    d: &Decoded,
    loc: &Locator,
    out: &mut Diagnostics,
    known: &dyn Fn(Kind, &str) -> bool,
) {
    for (i, (name, p)) in d.providers.iter().enumerate() {
        let mut err = |field: String, message: String| {
            out.push(loc.error(Kind::Provider, name.as_str(), &field, message))
        };
        if i == MAX_PROVIDERS {
            err(
                "metadata.name".into(),
                format!("more than {MAX_PROVIDERS} Providers: each is a queue and a sender in the controller"),
            );
        }
        check_provider(p, &mut err);
    }
    for (i, (name, a)) in d.alerts.iter().enumerate() {
        let mut err = |field: &str, message: String| {
            out.push(loc.error(Kind::Alert, name.as_str(), field, message))
        };
        if i == MAX_ALERTS {
            err("metadata.name", format!("more than {MAX_ALERTS} Alerts"));
        }
        if !known(Kind::Provider, a.provider.as_str()) {
            err(
                "spec.provider",
                format!("no Provider named `{}`", a.provider),
            );
        }
        if a.objects.len() > MAX_PATTERNS {
            err(
                "spec.objects",
                format!("at most {MAX_PATTERNS} patterns, found {}", a.objects.len()),
            );
        }
        for (j, o) in a.objects.iter().enumerate() {
            if let Some(why) = pattern_problem(o) {
                err(&format!("spec.objects[{j}]"), why);
            }
        }
    }
}

/// Why `p` is not an object pattern (`Kind/name` or `Kind/*`), if it is not.
fn pattern_problem(p: &str) -> Option<String> {
    let kinds = || {
        Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((kind, name)) = p.split_once('/') else {
        return Some(format!(
            "`{}` is not `Kind/name` or `Kind/*`",
            p.escape_debug()
        ));
    };
    if Kind::parse(kind).is_none() {
        return Some(format!(
            "unknown kind `{}` (one of {})",
            kind.escape_debug(),
            kinds()
        ));
    }
    if name != "*" && name.parse::<crate::model::Name>().is_err() {
        return Some(format!(
            "`{}` is not a name (^[a-z0-9][a-z0-9-]{{0,62}}$) or `*`",
            name.escape_debug()
        ));
    }
    None
}

/// The problems of one Provider, each with its field path.
pub fn check_provider(p: &ProviderSpec, err: &mut dyn FnMut(String, String)) {
    let t = p.provider_type.as_str();
    if p.provider_type.is_webhook() {
        match (&p.address, &p.address_file) {
            (None, None) => err(
                "spec.addressFile".into(),
                format!("a `{t}` provider needs `addressFile` (a file holding the webhook URL) or `address`"),
            ),
            (Some(_), Some(_)) => err(
                "spec.address".into(),
                "give `address` or `addressFile`, not both".into(),
            ),
            _ => {}
        }
        if let Some(why) = p.address.as_deref().and_then(url_problem) {
            err("spec.address".into(), why);
        }
        if let Some(f) = &p.address_file {
            if !f.starts_with('/') || f.len() > MAX_PATH || f.chars().any(char::is_control) {
                err(
                    "spec.addressFile".into(),
                    format!("must be an absolute path of at most {MAX_PATH} bytes"),
                );
            }
        }
        if p.command.is_some() {
            err(
                "spec.command".into(),
                format!("only a `command` provider runs a command (this one is `{t}`)"),
            );
        }
    } else {
        match &p.command {
            Some(argv) => check_argv("spec.command", argv, err),
            None => err(
                "spec.command".into(),
                "a `command` provider needs `command` (an argv receiving the event as JSON on stdin)"
                    .into(),
            ),
        }
        for (field, set) in [
            ("spec.address", p.address.is_some()),
            ("spec.addressFile", p.address_file.is_some()),
        ] {
            if set {
                err(field.into(), "a `command` provider has no address".into());
            }
        }
    }
    let chat = matches!(
        p.provider_type,
        crate::model::ProviderType::Slack | crate::model::ProviderType::Mattermost
    );
    for (field, v) in [("spec.channel", &p.channel), ("spec.username", &p.username)] {
        let Some(v) = v else { continue };
        if !chat {
            err(
                field.into(),
                format!("only `slack` and `mattermost` providers take it (this one is `{t}`)"),
            );
        } else if v.is_empty() || v.len() > MAX_NAME || v.chars().any(char::is_control) {
            err(
                field.into(),
                format!("must be 1 to {MAX_NAME} bytes without control characters"),
            );
        }
    }
    let (lo, hi) = TIMEOUT_SECS;
    if !(lo..=hi).contains(&p.timeout.seconds) {
        err(
            "spec.timeout".into(),
            format!("must be 1s to 5m, found {}", p.timeout),
        );
    }
    if p.retries > MAX_RETRIES {
        err(
            "spec.retries".into(),
            format!("must be 0 to {MAX_RETRIES}, found {}", p.retries),
        );
    }
    if !(1..=MAX_EVENTS_PER).contains(&p.rate_limit.events) {
        err(
            "spec.rateLimit.events".into(),
            format!(
                "must be 1 to {MAX_EVENTS_PER}, found {}",
                p.rate_limit.events
            ),
        );
    }
    let (lo, hi) = PER_SECS;
    if !(lo..=hi).contains(&p.rate_limit.per.seconds) {
        err(
            "spec.rateLimit.per".into(),
            format!("must be 1s to 1h, found {}", p.rate_limit.per),
        );
    }
}

/// Why `url` is not a webhook address xenflux can post to, if it is not: `http://HOST[:PORT][/PATH]`,
/// visible ASCII, no user name or password in it.
pub fn url_problem(url: &str) -> Option<String> {
    if url.len() > MAX_ADDRESS || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(format!(
            "must be at most {MAX_ADDRESS} bytes of visible ASCII (no spaces)"
        ));
    }
    if url.starts_with("https://") {
        return Some("https:// is not supported: xenflux carries no TLS stack; post to an http:// relay on the controller's machine or its network (or use a `command` provider running curl)".into());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Some("must start with http://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Some("names no host (http://HOST[:PORT]/PATH)".into());
    }
    if authority.contains('@') {
        return Some("must not hold a user name or password".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_http_only_and_plain() {
        assert_eq!(url_problem("http://127.0.0.1:9000/hooks/x?t=1"), None);
        assert_eq!(url_problem("http://chat.example.net/hooks/abc"), None);
        for bad in [
            "https://hooks.slack.com/services/T/B/X",
            "ftp://x",
            "http://",
            "http:///path",
            "http://user:pw@host/",
            "http://host/a b",
            "http://host/\n",
        ] {
            assert!(url_problem(bad).is_some(), "{bad}");
        }
        assert!(url_problem("https://x").unwrap().contains("TLS"));
        assert!(url_problem(&format!("http://h/{}", "a".repeat(MAX_ADDRESS))).is_some());
    }

    #[test]
    fn object_patterns() {
        assert_eq!(pattern_problem("Volume/dns"), None);
        assert_eq!(pattern_problem("Node/*"), None);
        assert!(pattern_problem("Volume").is_some());
        assert!(pattern_problem("Volumes/dns").is_some());
        assert!(pattern_problem("Volume/DNS").is_some());
    }
}
