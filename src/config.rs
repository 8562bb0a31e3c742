//! The settings file (`/etc/xenflux/config.yaml`, or `--config FILE`): machine-wide defaults for
//! what the command line otherwise takes as flags (default target, ssh config, state directory,
//! and the controller's repository, branch, interval, listen address and secrets' files).
//!
//! Read with the desired state's YAML reader, so every problem names the file, line and field,
//! all of them at once; unknown fields are errors and every value is bounded. This module only
//! reads and checks the file: which value wins (flag, environment, file, built-in default) is
//! the command line's business.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::diag::{Diagnostic, Severity};
use crate::load::yaml;
use crate::model::units::Duration;
use crate::target::Target;

/// Where the settings are read from when `--config` (or `XENFLUX_CONFIG`) does not say; a
/// missing file there means "no settings".
pub const DEFAULT_PATH: &str = "/etc/xenflux/config.yaml";

/// Largest settings file read, in bytes.
pub const MAX_BYTES: u64 = 64 << 10;

/// Longest path or repository address accepted, in bytes (PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

/// The settings of one machine. Every field is optional: what is absent falls back to the
/// built-in default.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Target of plan, apply, status, failover, import and serve: `sim` or `ssh`.
    #[serde(default)]
    pub target: Option<Target>,
    /// The ssh config file used with the ssh target (`ssh -F`).
    #[serde(default)]
    pub ssh_config: Option<PathBuf>,
    /// Where xenflux keeps its own state.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// The controller (`xenflux serve`).
    #[serde(default)]
    pub serve: ServeSettings,
}

/// The controller's settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServeSettings {
    /// The cluster-state repository: a path or any URL `git fetch` takes.
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    /// Full reconcile this often.
    #[serde(default)]
    pub interval: Option<Duration>,
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// File holding the webhook's HMAC secret.
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// File holding the bearer token of POST /reconcile (the controller's and its clients').
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// Why the settings could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file named explicitly is not there.
    #[error("the config file {} does not exist", path.display())]
    Missing { path: PathBuf },
    /// The file exists and could not be read.
    #[error("reading the config file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// Every problem found in the file.
    #[error("{}\n{} error(s) in the config file {}: nothing was done", diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"), diags.len(), path.display())]
    Invalid {
        path: PathBuf,
        diags: Vec<Diagnostic>,
    },
}

/// The settings of `explicit` (which must exist), or of [`DEFAULT_PATH`] if that exists, else
/// none.
pub fn load(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_PATH));
    let text = crate::fsutil::read_small(path, MAX_BYTES).map_err(|e| ConfigError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    match (text, explicit) {
        (Some(text), _) => parse(path, &text),
        (None, Some(_)) => Err(ConfigError::Missing {
            path: path.to_path_buf(),
        }),
        (None, None) => Ok(Settings::default()),
    }
}

/// The settings written in `text` (read from `path`, which errors name). An empty file, or one
/// of comments only, holds no settings.
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let file = path.display().to_string();
    let (docs, syntax) = yaml::parse(text);
    let mut diags: Vec<Diagnostic> = syntax
        .into_iter()
        .map(|e| error(&file, e.pos, &e.field, e.message))
        .collect();
    if docs.len() > 1 {
        diags.push(error(
            &file,
            docs[1].spans.start,
            "",
            "a config file holds one YAML document".into(),
        ));
    }
    let settings = match docs.first() {
        Some(doc) if !doc.value.is_null() => decode(&file, doc, &mut diags),
        _ => Some(Settings::default()),
    };
    match settings {
        Some(s) if diags.is_empty() => Ok(s),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            diags,
        }),
    }
}

fn decode(file: &str, doc: &yaml::YamlDoc, diags: &mut Vec<Diagnostic>) -> Option<Settings> {
    if !matches!(doc.value, Value::Object(_)) {
        diags.push(error(
            file,
            doc.spans.start,
            "",
            "the config file must be a mapping of settings (target, sshConfig, stateDir, serve)"
                .into(),
        ));
        return None;
    }
    let mut errors = Vec::new();
    let settings = crate::validate::decode::decode_lenient::<Settings>(&doc.value, &mut errors);
    if let Some(s) = &settings {
        errors.extend(check(s));
    }
    for (field, message) in errors {
        diags.push(error(file, doc.spans.locate(&field), &field, message));
    }
    settings
}

/// What the types cannot say: every (field, problem).
fn check(s: &Settings) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if s.target == Some(Target::Local) {
        out.push((
            "target".into(),
            "`local` cannot be the default target: plan, apply, status and serve drive a whole cluster (use sim or ssh)".into(),
        ));
    }
    let paths = [
        ("sshConfig", &s.ssh_config),
        ("stateDir", &s.state_dir),
        ("serve.webhookSecretFile", &s.serve.webhook_secret_file),
        ("serve.tokenFile", &s.serve.token_file),
    ];
    for (field, path) in paths {
        if let Some(p) = path {
            if let Err(e) = check_path(p) {
                out.push((field.into(), e));
            }
        }
    }
    if let Some(repo) = &s.serve.repo {
        if repo.is_empty() {
            out.push(("serve.repo".into(), "must not be empty".into()));
        }
    }
    if let Some(branch) = &s.serve.branch {
        if let Err(e) = check_branch(branch) {
            out.push(("serve.branch".into(), e));
        }
    }
    out
}

/// A path setting: not empty, at most [`MAX_PATH_BYTES`].
fn check_path(p: &Path) -> Result<(), String> {
    let len = p.as_os_str().len();
    if len == 0 {
        return Err("must not be empty".into());
    }
    if len > MAX_PATH_BYTES {
        return Err(format!(
            "path of {len} bytes is longer than the limit of {MAX_PATH_BYTES}"
        ));
    }
    Ok(())
}

/// A branch name git accepts as `refs/heads/NAME` (no spaces, `..`, `:`, `~`, `^`, ...), so
/// it cannot change the meaning of the refspec the controller fetches with.
pub fn check_branch(branch: &str) -> Result<(), String> {
    if !branch.starts_with('-')
        && branch.len() <= 255
        && git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
    {
        Ok(())
    } else {
        Err(format!("`{branch}` is not a valid Git branch name"))
    }
}

fn error(file: &str, pos: yaml::Pos, field: &str, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        severity: Severity::Error,
        object: None,
        field: field.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(Path::new("/etc/xenflux/config.yaml"), text) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(ConfigError::Invalid { diags, .. }) => {
                diags.iter().map(|d| d.to_string()).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn every_setting_is_read() {
        let s = parse(
            Path::new("c.yaml"),
            "target: ssh\nsshConfig: /etc/xenflux/ssh_config\nstateDir: /var/lib/xenflux\n\
             serve:\n  repo: /srv/git/cluster-state.git\n  branch: production\n  interval: 10m\n  \
             listen: 0.0.0.0:9292\n  webhookSecretFile: /etc/xenflux/webhook\n  tokenFile: /etc/xenflux/token\n",
        )
        .unwrap();
        assert_eq!(s.target, Some(Target::Ssh));
        assert_eq!(s.state_dir.as_deref(), Some(Path::new("/var/lib/xenflux")));
        assert_eq!(s.serve.branch.as_deref(), Some("production"));
        assert_eq!(s.serve.interval.map(|d| d.seconds), Some(600));
        assert_eq!(s.serve.listen, Some("0.0.0.0:9292".parse().unwrap()));
    }

    #[test]
    fn empty_and_comment_only_files_hold_no_settings() {
        for text in ["", "# stateDir: /var/lib/xenflux\n", "---\n"] {
            assert_eq!(
                parse(Path::new("c.yaml"), text).unwrap(),
                Settings::default()
            );
        }
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_field() {
        let e = errors(
            "target: local\nstateDirectory: /x\nserve:\n  listen: nowhere\n  branch: 'a b'\n  interval: 0s\n",
        );
        let f = "/etc/xenflux/config.yaml";
        assert_eq!(e.len(), 5, "{e:#?}");
        for want in [
            format!("{f}:1:1: error: target: `local` cannot be the default target"),
            format!("{f}:2:1: error: stateDirectory: unknown field `stateDirectory`"),
            format!("{f}:4:3: error: serve.listen: invalid socket address"),
            format!("{f}:5:3: error: serve.branch: `a b` is not a valid Git branch name"),
            format!("{f}:6:3: error: serve.interval:"),
        ] {
            assert!(e.iter().any(|l| l.starts_with(&want)), "{want}\n{e:#?}");
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(errors("[1, 2]\n")[0].contains("must be a mapping"));
        assert!(errors("a: 1\n---\nb: 2\n")
            .iter()
            .any(|e| e.contains("one YAML document")));
        assert!(errors("serve: 3\n")[0].contains("serve"));
        assert!(errors("stateDir: ''\n")[0].contains("stateDir: must not be empty"));
        assert!(errors("target: [ssh]\n")[0].contains("target"));
    }

    #[test]
    fn branches_git_would_misread_are_refused() {
        for bad in ["", "a b", "a..b", "a:b", "-x", "a~1", "x^", "a/", "@{u}"] {
            assert!(check_branch(bad).is_err(), "{bad:?}");
        }
        for good in ["main", "production", "release/2026-12", "ops_x.y"] {
            assert!(check_branch(good).is_ok(), "{good:?}");
        }
    }
}
