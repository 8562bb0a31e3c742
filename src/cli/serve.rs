//! The controller's commands: `serve`, `hook install`, `suspend`, `resume`, `reconcile --now`.
//! Argument handling and printing only; the controller lives in `crate::controller`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};

use crate::config::ServeSettings;
use crate::controller::lease::LeaseOptions;
use crate::controller::pass::{Connection, Connector};
use crate::controller::status::{self, PassRecord, Result as PassResult, Suspension};
use crate::controller::{client, source::Repo, Options, Secret};
use crate::model::{Desired, SshTarget};
use crate::target::{open_target, ssh_targets, Target, TargetError, TargetHandle};
use crate::transport::{control_dir, Ssh, SshOptions, Transport};

/// Where a running controller listens, for the commands that talk to it.
const DEFAULT_CONTROLLER: &str = "http://127.0.0.1:9292";

/// The longest `--debounce-ms`: every pass waits that long before it starts.
const MAX_DEBOUNCE_MS: u64 = 10_000;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The cluster-state repository: a path (bare or not) or any URL `git fetch` takes
    /// (required here, in XENFLUX_REPO or as the config file's `serve.repo`).
    #[arg(long, value_name = "PATH_OR_URL", env = "XENFLUX_REPO")]
    repo: Option<String>,
    /// The branch to follow [default: the config file's `serve.branch`, else main].
    #[arg(long, env = "XENFLUX_BRANCH")]
    branch: Option<String>,
    /// The directory inside the repository holding the desired state.
    #[arg(long, default_value = "cluster-state", value_name = "DIR")]
    path: String,
    /// Full reconcile this often (± 10 %) [default: the config file's `serve.interval`, else
    /// the Cluster document's reconcile.interval].
    #[arg(long, value_name = "DURATION", env = "XENFLUX_INTERVAL")]
    interval: Option<crate::model::units::Duration>,
    /// Address for /status, /metrics, /healthz, /hooks/git and /reconcile [default: the config
    /// file's `serve.listen`, else 127.0.0.1:9292].
    #[arg(long, env = "XENFLUX_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where the cluster is [default: the config file's `target`, else sim].
    #[arg(long, value_enum, env = "XENFLUX_TARGET")]
    pub target: Option<Target>,
    /// File holding the webhook's HMAC secret (or set the secret itself in
    /// XENFLUX_WEBHOOK_SECRET; else the config file's `serve.webhookSecretFile`); without one
    /// the webhook is off.
    #[arg(long, value_name = "FILE", env = "XENFLUX_WEBHOOK_SECRET_FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// File holding the bearer token POST /reconcile needs (or set XENFLUX_TOKEN); without one
    /// the controller makes a random token and writes it to STATE_DIR/controller/token (0600),
    /// where `reconcile --now`, `resume` and the post-receive hook of this machine read it.
    /// The config file's `serve.tokenFile` is used when neither is set.
    #[arg(long, value_name = "FILE", env = "XENFLUX_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Close a connection whose request headers have not all arrived in this time (also how
    /// long an idle connection stays open).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    header_timeout: crate::model::units::Duration,
    /// Connections served at once (1 to 4096); more are closed at once.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections: usize,
    /// Do not watch a local repository's refs (rely on the hook, webhook and timer).
    #[arg(long)]
    no_watch: bool,
    /// Fold triggers arriving within this many milliseconds into one pass (0 to 10000).
    #[arg(long, default_value_t = 200, value_name = "MS")]
    debounce_ms: u64,
    /// First retry after a failure; doubles per consecutive failure, up to the interval.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    retry_base: crate::model::units::Duration,
    /// Act only while holding a lease on etcd (`etcd=http://HOST:PORT`): of the controllers of
    /// one cluster, exactly one observes, fences and applies; the others answer `/status` only.
    #[arg(long, value_name = "etcd=URL")]
    lease: Option<String>,
    /// The etcd key the controllers of one cluster compete for.
    #[arg(long, default_value = crate::controller::lease::DEFAULT_KEY, value_name = "KEY")]
    lease_key: String,
    /// The lease's TTL: a leader that died is replaced within it (2s to 5m).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    lease_ttl: crate::model::units::Duration,
    /// Log level: error, warn, info, debug or trace (RUST_LOG directives refine it, e.g.
    /// RUST_LOG=xenflux=debug,hyper=warn).
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write a post-receive hook into a bare repository that tells the controller about pushes.
    Install {
        /// The bare repository operators push to.
        #[arg(long, value_name = "BARE_REPO")]
        repo: PathBuf,
        #[arg(long, default_value = DEFAULT_CONTROLLER, value_name = "URL")]
        controller: String,
        /// The token file the hook sends (default: XENFLUX_TOKEN if set when it runs, else the
        /// token the controller serving --state-dir made).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Replace a post-receive hook xenflux did not write.
        #[arg(long)]
        force: bool,
    },
}

pub fn cmd_serve(
    args: ServeArgs,
    settings: &ServeSettings,
    target: Target,
    state_dir: &Path,
    ssh_config: Option<&Path>,
    log_format: super::logging::LogFormat,
) -> Result<ExitCode> {
    super::logging::init(args.log_level.into(), log_format)?;
    let connector = serve_connector(target, state_dir, ssh_config)?;
    let opts = serve_options(args, settings, state_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(crate::controller::serve(opts, connector))?;
    Ok(ExitCode::SUCCESS)
}

/// How the controller reaches the cluster: the simulator or ssh, never this machine alone.
fn serve_connector(
    target: Target,
    state_dir: &Path,
    ssh_config: Option<&Path>,
) -> Result<Arc<dyn Connector>> {
    Ok(match target {
        Target::Sim => Arc::new(SimConnector {
            state_dir: state_dir.to_path_buf(),
        }),
        Target::Ssh => Arc::new(SshConnector {
            state_dir: state_dir.to_path_buf(),
            control_dir: state_dir.join("controller").join("ssh"),
            config: ssh_config.map(Path::to_path_buf),
            open: Mutex::new(None),
        }),
        Target::Local => bail!("serve drives a whole cluster: use --target sim or ssh"),
    })
}

/// The controller's options, from checked arguments (each else the settings file's, else the
/// default) and secrets; the state directory made.
fn serve_options(args: ServeArgs, settings: &ServeSettings, state_dir: &Path) -> Result<Options> {
    let lease = lease_options(&args)?;
    let Some(repo) = args.repo.or_else(|| settings.repo.clone()) else {
        bail!("serve needs the cluster-state repository: --repo, XENFLUX_REPO or `serve.repo` in the config file");
    };
    if repo.is_empty() {
        bail!("--repo must not be empty");
    }
    let branch = args
        .branch
        .or_else(|| settings.branch.clone())
        .unwrap_or_else(|| "main".to_string());
    crate::config::check_branch(&branch).map_err(|e| anyhow!("--branch: {e}"))?;
    let listen = args
        .listen
        .or(settings.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9292)));
    let interval = args.interval.or(settings.interval);
    let webhook_secret_file = super::secret_file(
        args.webhook_secret_file,
        "XENFLUX_WEBHOOK_SECRET",
        settings.webhook_secret_file.as_ref(),
    );
    let token_file = super::secret_file(
        args.token_file,
        "XENFLUX_TOKEN",
        settings.token_file.as_ref(),
    );
    let secret = read_secret(webhook_secret_file.as_deref(), "XENFLUX_WEBHOOK_SECRET")?;
    if secret.as_ref().is_some_and(|s| s.is_empty()) {
        bail!("the webhook secret is empty");
    }
    let token = read_secret(token_file.as_deref(), "XENFLUX_TOKEN")?;
    if let Some(t) = &token {
        if t.len() < 16 || !t.iter().all(u8::is_ascii_graphic) {
            bail!("the controller's token must be at least 16 visible ASCII characters (no spaces): clients send it in a header");
        }
    }
    if !(1..=4096).contains(&args.max_connections) {
        bail!("--max-connections must be 1 to 4096");
    }
    if args.header_timeout.seconds == 0 || args.header_timeout.seconds > 3600 {
        bail!("--header-timeout must be 1s to 1h");
    }
    // Every pass waits the debounce first, deaf to signals: a long one wedges the controller.
    if args.debounce_ms > MAX_DEBOUNCE_MS {
        bail!("--debounce-ms must be 0 to {MAX_DEBOUNCE_MS}");
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    Ok(Options {
        repo: Repo {
            url: repo,
            branch,
            path: args.path,
            mirror: state_dir.join("controller").join("repo.git"),
        },
        state_dir: state_dir.to_path_buf(),
        listen,
        interval: interval.map(|d| Duration::from_secs(d.seconds)),
        debounce: Duration::from_millis(args.debounce_ms),
        retry_base: Duration::from_secs(args.retry_base.seconds),
        webhook_secret: secret.map(Secret),
        token: token.map(Secret),
        http: crate::controller::http::Limits {
            max_connections: args.max_connections,
            header_read: Duration::from_secs(args.header_timeout.seconds),
            ..Default::default()
        },
        watch: !args.no_watch,
        lease,
    })
}

/// `--lease etcd=URL` with its key and TTL, checked.
fn lease_options(args: &ServeArgs) -> Result<Option<LeaseOptions>> {
    let Some(spec) = &args.lease else {
        return Ok(None);
    };
    let endpoint = LeaseOptions::parse_endpoint(spec).map_err(|e| anyhow!("--lease {e}"))?;
    let key = &args.lease_key;
    if key.is_empty() || key.len() > 256 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("--lease-key {key:?}: 1 to 256 visible ASCII characters");
    }
    let ttl = Duration::from_secs(args.lease_ttl.seconds);
    let (min, max) = crate::controller::lease::TTL_RANGE;
    if ttl < min || ttl > max {
        bail!(
            "--lease-ttl {}s: from {} s to {} s",
            ttl.as_secs(),
            min.as_secs(),
            max.as_secs()
        );
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().chars().take(64).collect::<String>())
        .unwrap_or_else(|_| "unknown".into());
    Ok(Some(LeaseOptions {
        endpoint,
        key: key.clone(),
        ttl,
        holder: format!("{host}:{}", std::process::id()),
    }))
}

/// A secret from `file` (its last line break dropped), else from the environment variable `env`.
fn read_secret(file: Option<&Path>, env: &str) -> Result<Option<Vec<u8>>> {
    match (file, std::env::var(env)) {
        (Some(f), _) => {
            let text = crate::fsutil::read_small(f, 64 << 10)
                .and_then(|t| t.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
                .with_context(|| format!("reading {}", f.display()))?;
            Ok(Some(
                text.trim_end_matches(['\n', '\r']).as_bytes().to_vec(),
            ))
        }
        (None, Ok(v)) if !v.is_empty() => Ok(Some(v.into_bytes())),
        _ => Ok(None),
    }
}

/// The controller to talk to: the one given, else the one serving `state_dir`, else the default.
pub fn controller_url(given: Option<String>, state_dir: &Path) -> String {
    given
        .or_else(|| {
            crate::fsutil::read_small(&crate::controller::address_path(state_dir), 4096)
                .ok()
                .flatten()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| DEFAULT_CONTROLLER.to_string())
}

pub fn cmd_hook(cmd: HookCommand, state_dir: &Path) -> Result<ExitCode> {
    match cmd {
        HookCommand::Install {
            repo,
            controller,
            token_file,
            force,
        } => {
            let exe = std::env::current_exe().context("finding the xenflux executable")?;
            // The hook runs in the repository: it needs paths that do not depend on where.
            let cwd = std::env::current_dir().context("finding the current directory")?;
            let token_file = token_file.map(|f| cwd.join(f));
            let path = client::install_hook(
                &repo,
                &exe,
                &controller,
                &cwd.join(state_dir),
                token_file.as_deref(),
                force,
            )?;
            println!(
                "installed {}: pushes now tell the controller at {controller}",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn cmd_suspend(state_dir: &Path, reason: Option<String>) -> Result<ExitCode> {
    let s = Suspension {
        since: crate::clock::now(),
        reason: reason.unwrap_or_default(),
    };
    let path = status::suspension_path(state_dir);
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    crate::fsutil::write_atomic(&path, serde_json::to_string(&s)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("reconciling suspended (until `xenflux resume`): passes fetch and report, and change nothing");
    Ok(ExitCode::SUCCESS)
}

pub fn cmd_resume(state_dir: &Path, controller: &str, token: Option<&str>) -> Result<ExitCode> {
    let path = status::suspension_path(state_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => println!("reconciling resumed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("reconciling was not suspended")
        }
        Err(e) => return Err(anyhow!("removing {}: {e}", path.display())),
    }
    // A running controller reconciles at once; none running is fine too.
    match client::request(
        controller,
        "POST",
        "/reconcile",
        token,
        Duration::from_secs(5),
    ) {
        Ok(_) => println!("asked the controller at {controller} to reconcile now"),
        Err(e @ client::ClientError::Refused { .. }) => eprintln!("xenflux: {e}"),
        Err(_) => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cmd_reconcile(
    controller: &str,
    wait: bool,
    reason: Option<&str>,
    token: Option<&str>,
) -> Result<ExitCode> {
    let mut path = format!("/reconcile?wait={wait}");
    if let Some(r) = reason {
        if r != "push" {
            bail!("--reason takes only `push` (what the post-receive hook says)");
        }
        path.push_str(&format!("&reason={r}"));
    }
    // The controller answers a waiting request within its hour; a little more for the network.
    let limit = if wait { 3660 } else { 30 };
    let body = client::request(controller, "POST", &path, token, Duration::from_secs(limit))?;
    if !wait {
        println!("reconcile queued at {controller}");
        return Ok(ExitCode::SUCCESS);
    }
    let record: PassRecord = serde_json::from_str(&body)
        .with_context(|| format!("the controller answered something unexpected: {body}"))?;
    let commit = record.commit.as_deref().unwrap_or("-");
    println!(
        "pass {}: {} at {} ({} action(s), {} object(s) drifting, {:.2}s)",
        record.pass,
        record.result.as_str(),
        &commit[..commit.len().min(12)],
        record.applied,
        record.drift,
        record.seconds
    );
    if let Some(e) = &record.error {
        println!("{e}");
    }
    Ok(match record.result {
        PassResult::InSync | PassResult::Applied | PassResult::Suspended => ExitCode::SUCCESS,
        PassResult::Drift => ExitCode::from(2),
        PassResult::Invalid | PassResult::Failed => ExitCode::from(1),
    })
}

/// The simulated cluster of the state directory, loaded afresh for each pass (so `xenflux sim`
/// perturbations show up as drift) and saved after it.
struct SimConnector {
    state_dir: PathBuf,
}

struct SimConnection(TargetHandle);

impl Connector for SimConnector {
    fn name(&self) -> String {
        "sim".into()
    }
    fn connect(&self, desired: &Desired) -> Result<Box<dyn Connection>, String> {
        open_target(Target::Sim, desired, &self.state_dir, None)
            .map(|h| Box::new(SimConnection(h)) as Box<dyn Connection>)
            .map_err(|e| e.to_string())
    }
    fn open_target(&self, desired: &Desired) -> Result<TargetHandle, TargetError> {
        open_target(Target::Sim, desired, &self.state_dir, None)
    }
    fn settle(&self) -> Option<crate::exec::Settle> {
        None
    }
}

impl Connection for SimConnection {
    fn transport(&self) -> &dyn Transport {
        self.0.transport()
    }
    fn finish(self: Box<Self>) -> Result<(), String> {
        self.0.finish().map_err(|e| e.to_string())
    }
}

/// Real nodes over SSH. The transport (and so each node's multiplexed connection) is kept from
/// pass to pass while the nodes' SSH targets stay the same; its control sockets live apart from
/// the CLI's, so a `plan` run beside the controller does not close them.
struct SshConnector {
    state_dir: PathBuf,
    control_dir: PathBuf,
    config: Option<PathBuf>,
    open: Mutex<Option<OpenSsh>>,
}

/// The transport in use and the targets it was made for.
type OpenSsh = (BTreeMap<String, SshTarget>, Arc<Ssh>);

struct SshConnection(Arc<Ssh>);

impl Connector for SshConnector {
    fn name(&self) -> String {
        "ssh".into()
    }
    fn connect(&self, desired: &Desired) -> Result<Box<dyn Connection>, String> {
        let targets = ssh_targets(desired);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, ssh)) = open.as_ref() {
            if *t == targets {
                return Ok(Box::new(SshConnection(ssh.clone())));
            }
        }
        let dir = control_dir(&self.control_dir).map_err(|e| e.to_string())?;
        let mut options = SshOptions::new(dir);
        options.config = self.config.clone();
        let ssh = Arc::new(Ssh::new(targets.clone(), options));
        *open = Some((targets, ssh.clone()));
        Ok(Box::new(SshConnection(ssh)))
    }
    fn open_target(&self, desired: &Desired) -> Result<TargetHandle, TargetError> {
        open_target(
            Target::Ssh,
            desired,
            &self.state_dir,
            self.config.as_deref(),
        )
    }
}

impl Connection for SshConnection {
    fn transport(&self) -> &dyn Transport {
        self.0.as_ref()
    }
    fn finish(self: Box<Self>) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(argv: &[&str]) -> ServeArgs {
        Serve::try_parse_from(std::iter::once("serve").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    fn settings(dir: &Path) -> ServeSettings {
        let token = dir.join("token");
        crate::fsutil::write_atomic(&token, "from-the-settings-file-0123\n").unwrap();
        ServeSettings {
            repo: Some("/srv/git/a.git".into()),
            branch: Some("production".into()),
            interval: Some("10m".parse().unwrap()),
            listen: Some("0.0.0.0:9000".parse().unwrap()),
            webhook_secret_file: None,
            token_file: Some(token),
        }
    }

    #[test]
    fn the_settings_file_fills_what_the_flags_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let o = serve_options(args(&[]), &settings(dir.path()), dir.path()).unwrap();
        assert_eq!(o.repo.url, "/srv/git/a.git");
        assert_eq!(o.repo.branch, "production");
        assert_eq!(o.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(o.interval, Some(Duration::from_secs(600)));
        // The token itself in the environment wins over the file's path to one.
        if std::env::var_os("XENFLUX_TOKEN").is_none() {
            assert_eq!(
                o.token.map(|t| t.0),
                Some(b"from-the-settings-file-0123".to_vec())
            );
        }
    }

    #[test]
    fn flags_win_over_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let o = serve_options(
            args(&[
                "--repo",
                "/srv/git/b.git",
                "--branch",
                "test",
                "--listen",
                "127.0.0.1:9393",
                "--interval",
                "1m",
            ]),
            &settings(dir.path()),
            dir.path(),
        )
        .unwrap();
        assert_eq!(o.repo.url, "/srv/git/b.git");
        assert_eq!(o.repo.branch, "test");
        assert_eq!(o.listen, "127.0.0.1:9393".parse::<SocketAddr>().unwrap());
        assert_eq!(o.interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn without_either_the_defaults_hold() {
        let dir = tempfile::tempdir().unwrap();
        let o = serve_options(
            args(&["--repo", "r"]),
            &ServeSettings::default(),
            dir.path(),
        )
        .unwrap();
        assert_eq!(o.repo.branch, "main");
        assert_eq!(o.listen, "127.0.0.1:9292".parse::<SocketAddr>().unwrap());
        assert_eq!(o.interval, None);
        let e = serve_options(args(&[]), &ServeSettings::default(), dir.path()).unwrap_err();
        assert!(e.to_string().contains("XENFLUX_REPO"), "{e}");
    }
}
