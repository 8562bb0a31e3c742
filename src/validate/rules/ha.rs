//! Rules for node loss: the Cluster's `ha` timings and each Node's `fence` commands (bounded
//! argv vectors that xenflux runs on the controller's machine, never through a shell).

use crate::diag::Diagnostics;
use crate::model::{FenceSpec, HaSettings, Kind};

use super::super::decode::{Decoded, Locator};

/// `deadAfter` bounds: shorter reads a slow probe as death; longer leaves domains down.
pub const DEAD_AFTER_SECS: (u64, u64) = (5, 3600);
/// Fence `timeout` bounds.
pub const FENCE_TIMEOUT_SECS: (u64, u64) = (1, 600);
/// Words in a fence argv at most.
pub const MAX_ARGS: usize = 64;
/// Bytes in one word at most.
pub const MAX_ARG_BYTES: usize = 1024;

pub(super) fn check_ha(loc: &Locator, out: &mut Diagnostics, cname: &str, ha: &HaSettings) {
    let (lo, hi) = DEAD_AFTER_SECS;
    if !(lo..=hi).contains(&ha.dead_after.seconds) {
        out.push(loc.error(
            Kind::Cluster,
            cname,
            "spec.ha.deadAfter",
            format!(
                "must be 5s to 1h, found {} (shorter reads one slow probe as a dead node)",
                ha.dead_after
            ),
        ));
    }
}

/// Every Node's `fence`: bounded argv vectors and timeout. With `ha.enabled`, a node without
/// one is a warning: its loss waits for a person.
pub(super) fn check_fences(d: &Decoded, loc: &Locator, out: &mut Diagnostics) {
    let enabled = d.cluster.as_ref().is_some_and(|(_, c)| c.ha.enabled);
    for (name, n) in &d.nodes {
        let Some(f) = &n.fence else {
            if enabled {
                out.push(loc.warning(
                    Kind::Node,
                    name.as_str(),
                    "spec",
                    format!(
                        "ha.enabled, but no fence is declared: if {name} is lost, its domains wait for a person \
                         (`xenflux failover {name} --confirm-fenced`)"
                    ),
                ));
            }
            continue;
        };
        let mut err = |field: String, msg: String| {
            out.push(loc.error(Kind::Node, name.as_str(), &field, msg));
        };
        check_fence(f, &mut err);
    }
}

/// The problems of one fence spec, each with its field path under the Node.
pub fn check_fence(f: &FenceSpec, err: &mut dyn FnMut(String, String)) {
    let (lo, hi) = FENCE_TIMEOUT_SECS;
    if !(lo..=hi).contains(&f.timeout.seconds) {
        err(
            "spec.fence.timeout".into(),
            format!("must be 1s to 10m, found {}", f.timeout),
        );
    }
    check_argv("spec.fence.command", &f.command, err);
    if let Some(s) = &f.status {
        check_argv("spec.fence.status", s, err);
    }
}

/// An argv xenflux may run: 1 to 64 words of at most 1024 bytes, no NUL or control
/// characters, the program an absolute path or a plain name looked up on PATH.
pub fn check_argv(field: &str, argv: &[String], err: &mut dyn FnMut(String, String)) {
    if argv.is_empty() || argv.len() > MAX_ARGS {
        err(
            field.into(),
            format!(
                "must be 1 to {MAX_ARGS} words (an argv: program, then arguments), found {}",
                argv.len()
            ),
        );
        return;
    }
    for (i, word) in argv.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if word.len() > MAX_ARG_BYTES {
            err(
                at.clone(),
                format!("at most {MAX_ARG_BYTES} bytes, found {}", word.len()),
            );
        }
        if word.chars().any(|c| c.is_control()) {
            err(
                at.clone(),
                "must not hold NUL, newlines or other control characters".into(),
            );
        }
    }
    let program = &argv[0];
    let plain = !program.is_empty()
        && !program.contains('/')
        && !program.starts_with('-')
        && program
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    let absolute = program.starts_with('/') && !program.ends_with('/') && program.len() > 1;
    if !plain && !absolute {
        err(
            format!("{field}[0]"),
            format!("`{}` must be an absolute path or a plain program name (letters, digits, '.', '_', '+', '-'; looked up on PATH)", program.escape_debug()),
        );
    }
}
