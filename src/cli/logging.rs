//! Where log lines go and what they look like: stderr, as text or one JSON object per line
//! (`--log-format`), filtered by `RUST_LOG` directives (tracing-subscriber's `EnvFilter`:
//! `info`, `xenflux=debug,hyper=warn`, ...) on top of a default level, coloured only on a
//! terminal and never when `NO_COLOR` is set (no-color.org).

use std::io::IsTerminal;

use anyhow::{anyhow, Result};
use clap::ValueEnum;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the subscriber. `default` is the level when `RUST_LOG` names none; a `RUST_LOG`
/// that does not parse is an error (a filter silently ignored would hide the lines asked for).
pub fn init(default: LevelFilter, format: LogFormat) -> Result<()> {
    let filter = filter(default, std::env::var("RUST_LOG").ok().as_deref())?;
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests calling main twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .try_init(),
    };
    Ok(())
}

/// `RUST_LOG`'s directives (when set and not empty) over `default`: a `RUST_LOG` naming only
/// targets (`xenflux::controller=debug`) keeps the default level for everything else; one with
/// a level of its own (`debug`, `warn,hyper=error`) replaces it.
fn filter(default: LevelFilter, rust_log: Option<&str>) -> Result<EnvFilter> {
    let builder = EnvFilter::builder().with_default_directive(default.into());
    let Some(v) = rust_log.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(builder.parse_lossy(""));
    };
    let own_level = v
        .split(',')
        .any(|d| !d.trim().is_empty() && !d.contains('=') && !d.contains('['));
    let directives = if own_level {
        v.to_string()
    } else {
        format!("{default},{v}")
    };
    builder.parse(&directives).map_err(|e| {
        anyhow!("RUST_LOG={v:?} is not a log filter ({e}); e.g. RUST_LOG=info or RUST_LOG=xenflux=debug,hyper=warn")
    })
}

/// Colour on a terminal unless `NO_COLOR` is set to anything but the empty string.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_directives_refine_the_default() {
        let f = filter(LevelFilter::INFO, Some("xenflux=debug,hyper=warn")).unwrap();
        let shown = f.to_string();
        assert!(shown.contains("xenflux=debug"), "{shown}");
        assert!(shown.contains("hyper=warn"), "{shown}");
        assert!(shown.contains("info"), "{shown}");
        assert_eq!(filter(LevelFilter::WARN, None).unwrap().to_string(), "warn");
        let own = filter(LevelFilter::INFO, Some("debug"))
            .unwrap()
            .to_string();
        assert_eq!(own, "debug");
        assert_eq!(
            filter(LevelFilter::WARN, Some("  ")).unwrap().to_string(),
            "warn"
        );
    }

    #[test]
    fn a_bad_rust_log_is_an_error_naming_it() {
        let e = filter(LevelFilter::INFO, Some("xenflux=loud")).unwrap_err();
        assert!(e.to_string().contains("RUST_LOG=\"xenflux=loud\""), "{e}");
    }

    #[test]
    fn no_color_turns_colour_off() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
