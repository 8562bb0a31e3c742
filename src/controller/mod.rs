//! The controller behind `xenflux serve`: triggers (a git push seen by the hook or the ref
//! watcher, the timer, the webhook, a manual request) feed one queue; one pass runs at a time,
//! after a short debounce that folds a burst of triggers into one pass. Why a pass runs is logged
//! and counted but never handed to the pass: reconciling is level-triggered. A failed pass is
//! retried with a backoff kept per object (each one an action failed for): the next pass comes
//! when the earliest object is due, and an object that succeeds or disappears loses its backoff. SIGTERM/SIGINT finish the running stage and stop; a second signal stops at once and
//! leaves the in-flight marker and the journal for the next start to report.
//!
//! The controller owns timing and bookkeeping only: the pass itself is [`pass::Pass`], the HTTP
//! side is [`http`], the ref watcher [`watch`].

pub mod client;
mod events;
mod failover;
pub mod http;
pub mod lease;
pub mod nodewatch;
pub mod pass;
mod schedule;

pub use self::schedule::backoff;
pub mod source;
pub mod status;
pub mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::time::Instant;

use self::pass::{Connector, Pass};
use self::schedule::Schedule;
use self::source::Repo;
use self::status::{Metrics, PassRecord, Result as PassResult, Status};

/// Why a pass was asked for (logged and counted, never passed to the pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Push,
    Timer,
    Webhook,
    Manual,
    Retry,
    /// The node watch declared a node dead: fail it over, then reconcile.
    NodeLost,
    /// A node the watch saw silent answers again: reconcile (a returning node is configured
    /// again and resyncs; failback follows once it has).
    NodeBack,
    /// This controller took the lease: it leads now.
    Elected,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Push => "push",
            Trigger::Timer => "timer",
            Trigger::Webhook => "webhook",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
            Trigger::NodeLost => "node-lost",
            Trigger::NodeBack => "node-back",
            Trigger::Elected => "elected",
        }
    }
}

/// A secret that never shows in logs or debug output.
#[derive(Clone)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How `serve` runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub repo: Repo,
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    /// Overrides the Cluster document's `reconcile.interval`.
    pub interval: Option<Duration>,
    /// Triggers arriving within this time of the first are folded into one pass.
    pub debounce: Duration,
    /// First retry delay after a failure; doubles per consecutive failure of the same object,
    /// up to the interval.
    pub retry_base: Duration,
    pub webhook_secret: Option<Secret>,
    /// The bearer token `POST /reconcile` needs; without one, the controller makes one and
    /// writes it to `STATE_DIR/controller/token` (mode 0600) for the commands and hooks of this
    /// machine.
    pub token: Option<Secret>,
    /// The HTTP server's bounds.
    pub http: http::Limits,
    /// Watch a local repository's refs (works without a hook).
    pub watch: bool,
    /// Compete for leadership on etcd with the other controllers of the cluster; without it,
    /// this controller acts alone.
    pub lease: Option<lease::LeaseOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("another `xenflux serve` ({holder}) runs on the state directory {state_dir}: stop it first, or use another --state-dir")]
    AlreadyServing { state_dir: PathBuf, holder: String },
    #[error(transparent)]
    Lock(#[from] crate::fsutil::LockError),
    #[error("watching {path}: {detail}")]
    Watch { path: PathBuf, detail: String },
}

/// State shared between the loop and the HTTP handlers.
pub struct Shared {
    status: Mutex<Status>,
    metrics: Mutex<Metrics>,
    tx: mpsc::UnboundedSender<Trigger>,
    /// Triggers accepted so far (each gets the next number).
    requested: AtomicU64,
    /// The highest trigger number a finished pass covered.
    completed: tokio_watch::Sender<u64>,
    webhook_secret: Option<Secret>,
    token: Secret,
    state_dir: PathBuf,
    /// The desired state of the last pass that read one (the node watch probes its nodes).
    desired: Mutex<Option<Arc<crate::model::Desired>>>,
    /// Nodes the watch declared dead, waiting for the loop to fail them over (with when).
    lost: Mutex<BTreeMap<crate::model::Name, std::time::Instant>>,
    /// Every node as the watch sees it.
    nodes: Mutex<BTreeMap<String, nodewatch::NodeWatch>>,
    /// Held by a probe while it has the cluster open and by a failover for its whole run: a
    /// fence agent acting on the cluster (`xenflux sim power NODE off`) never meets a probe.
    cluster_gate: Mutex<()>,
    /// This controller's candidacy, with `--lease`.
    leadership: Option<Arc<lease::Leadership>>,
    /// Where events go (the desired state's Providers and Alerts).
    notifier: crate::notify::Notifier,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Queues a pass; returns the trigger's number (see [`Shared::wait_covered`]).
    pub fn trigger(&self, why: Trigger) -> u64 {
        let n = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        *lock(&self.metrics)
            .triggers
            .entry(why.as_str())
            .or_default() += 1;
        tracing::info!(reason = why.as_str(), "reconcile requested");
        let _ = self.tx.send(why);
        n
    }

    /// Waits until a pass that started after trigger `n` has finished; returns its record.
    pub async fn wait_covered(&self, n: u64, limit: Duration) -> Option<PassRecord> {
        let mut rx = self.completed.subscribe();
        let done = tokio::time::timeout(limit, rx.wait_for(|c| *c >= n)).await;
        match done {
            Ok(Ok(_)) => lock(&self.status).last.clone(),
            _ => None,
        }
    }

    /// The status, with the suspension read afresh (`xenflux suspend` writes a file).
    pub fn status(&self) -> Status {
        let mut s = lock(&self.status).clone();
        s.suspended = status::read_suspension(&self.state_dir);
        s.nodes = lock(&self.nodes).clone();
        s.leadership = self.leadership.as_ref().map(|l| l.role());
        s
    }

    /// Whether this controller may act now, and the token its applies confirm: always without
    /// a lease; with one, only while it leads.
    pub(crate) fn acting(&self) -> Result<Option<lease::Token>, String> {
        match &self.leadership {
            None => Ok(None),
            Some(l) => l.acting().map(Some).ok_or_else(|| match l.role() {
                lease::Role::Follower { leader } => format!(
                    "following: {} leads",
                    leader.as_deref().unwrap_or("another controller")
                ),
                lease::Role::Unavailable { reason } => format!("no leader known: {reason}"),
                lease::Role::Starting | lease::Role::Leader { .. } => {
                    "not the leader (yet)".to_string()
                }
            }),
        }
    }

    pub fn metrics_text(&self) -> String {
        let s = self.status();
        let mut m = lock(&self.metrics).clone();
        m.notifications = self.notifier.results();
        m.notifications_dropped = self.notifier.dropped();
        m.render(&s)
    }
}

/// Runs the controller until SIGTERM/SIGINT.
pub async fn serve(opts: Options, connector: Arc<dyn Connector>) -> Result<(), ControllerError> {
    let control_dir = opts.state_dir.join("controller");
    std::fs::create_dir_all(&control_dir).map_err(|error| ControllerError::Io {
        path: control_dir.clone(),
        error,
    })?;
    let held = hold_serve_lock(&opts)?;
    let token_file = token_path(&opts.state_dir);
    let (token, made_token) = controller_token(&opts, &token_file)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|error| ControllerError::Listen {
            addr: opts.listen,
            error,
        })?;
    let bound = listener.local_addr().unwrap_or(opts.listen);
    // Commands on this machine find the controller here (`--listen 127.0.0.1:0` picks a port).
    let address_file = address_path(&opts.state_dir);
    let address = format!("http://{bound}\n");
    crate::fsutil::write_atomic(&address_file, &address).map_err(|error| ControllerError::Io {
        path: address_file.clone(),
        error,
    })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = shared_state(&opts, connector.as_ref(), tx, token, bound);

    let (stop_http, stop_http_rx) = tokio_watch::channel(false);
    let server = tokio::spawn(http::serve(
        listener,
        shared.clone(),
        opts.http,
        stop_http_rx,
    ));
    tracing::info!(listen = %bound, repo = %opts.repo.url, branch = %opts.repo.branch, target = %connector.name(), "xenflux controller started");

    let _watcher = match (opts.watch, opts.repo.local_git_dir()) {
        (true, Some(dir)) => Some(watch::refs(&dir, shared.clone())?),
        _ => None,
    };

    let node_watch = tokio::spawn(nodewatch::run(shared.clone(), connector.clone()));
    let campaign = shared
        .leadership
        .clone()
        .map(|l| tokio::spawn(campaign(l, shared.clone())));

    run_loop(&opts, &connector, &shared, rx, &control_dir).await;

    node_watch.abort();
    if let Some(c) = campaign {
        c.abort();
    }
    if let Some(l) = shared.leadership.clone() {
        // Given back, so that another controller takes over now rather than after the TTL.
        let _ = tokio::task::spawn_blocking(move || l.resign()).await;
    }

    let _ = stop_http.send(true);
    let _ = server.await;
    // Only what this controller wrote (the serve lock guarantees no other wrote since).
    if crate::fsutil::read_small(&address_file, 4096)
        .ok()
        .flatten()
        .as_deref()
        == Some(address.as_str())
    {
        let _ = std::fs::remove_file(&address_file);
    }
    if let Some(t) = made_token {
        if std::fs::read(&token_file).ok().as_deref() == Some(t.0.as_slice()) {
            let _ = std::fs::remove_file(&token_file);
        }
    }
    drop(held);
    tracing::info!("xenflux controller stopped");
    Ok(())
}

/// One controller per state directory: a second would run passes beside the first and take
/// over (then remove) its address file.
fn hold_serve_lock(opts: &Options) -> Result<crate::fsutil::FileLock, ControllerError> {
    let serve_lock = serve_lock_path(&opts.state_dir);
    let mut held = match crate::fsutil::FileLock::try_acquire(&serve_lock) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(ControllerError::AlreadyServing {
                state_dir: opts.state_dir.clone(),
                holder: crate::fsutil::holder(&serve_lock),
            })
        }
        Err(e) => {
            return Err(ControllerError::Lock(e));
        }
    };
    let _ = held.write_pid();
    Ok(held)
}

/// The token clients must send: the one given, else a new one written to `token_file` (and
/// returned a second time, so that the controller removes it when it stops).
fn controller_token(
    opts: &Options,
    token_file: &std::path::Path,
) -> Result<(Secret, Option<Secret>), ControllerError> {
    Ok(match &opts.token {
        Some(t) => (t.clone(), None),
        None => {
            let t = new_token().map_err(|error| ControllerError::Io {
                path: PathBuf::from("/dev/urandom"),
                error,
            })?;
            crate::fsutil::write_atomic_mode(token_file, &t.0, 0o600).map_err(|error| {
                ControllerError::Io {
                    path: token_file.to_path_buf(),
                    error,
                }
            })?;
            (t.clone(), Some(t))
        }
    })
}

/// The state the loop and the HTTP handlers share, with a run the last controller left
/// unfinished reported.
fn shared_state(
    opts: &Options,
    connector: &dyn Connector,
    tx: mpsc::UnboundedSender<Trigger>,
    token: Secret,
    bound: SocketAddr,
) -> Arc<Shared> {
    let (completed, _) = tokio_watch::channel(0u64);
    let interrupted = read_interrupted(&opts.state_dir);
    if let Some(i) = &interrupted {
        tracing::warn!("{i}");
    }
    Arc::new(Shared {
        status: Mutex::new(Status {
            repository: opts.repo.url.clone(),
            branch: opts.repo.branch.clone(),
            path: opts.repo.path.clone(),
            target: connector.name(),
            interrupted,
            ..Status::default()
        }),
        metrics: Mutex::new(Metrics::default()),
        tx,
        requested: AtomicU64::new(0),
        completed,
        webhook_secret: opts.webhook_secret.clone(),
        token,
        state_dir: opts.state_dir.clone(),
        desired: Mutex::new(None),
        lost: Mutex::new(BTreeMap::new()),
        nodes: Mutex::new(BTreeMap::new()),
        cluster_gate: Mutex::new(()),
        // The others show where the leader answers.
        leadership: opts.lease.clone().map(|mut l| {
            l.holder = format!("{} http://{bound}", l.holder);
            Arc::new(lease::Leadership::new(l))
        }),
        notifier: crate::notify::Notifier::default(),
    })
}

/// Trigger, debounce, one pass, then its record, metrics and status; until a signal.
async fn run_loop(
    opts: &Options,
    connector: &Arc<dyn Connector>,
    shared: &Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Trigger>,
    control_dir: &std::path::Path,
) {
    let mut signals = Signals::new();
    shared.trigger(Trigger::Startup);
    let mut schedule = Schedule::new(opts);
    let stop = Arc::new(AtomicBool::new(false));
    let mut pass_no = 0u64;
    let mut notified = events::Memory::default();

    loop {
        let Some(why) = schedule.next(&mut rx, &mut signals).await else {
            break;
        };
        if matches!(why, Trigger::Timer | Trigger::Retry) {
            *lock(&shared.metrics)
                .triggers
                .entry(why.as_str())
                .or_default() += 1;
            tracing::info!(reason = why.as_str(), "reconcile requested");
        }
        // Debounce: a burst of pushes and hook calls becomes one pass.
        tokio::time::sleep(opts.debounce).await;
        while rx.try_recv().is_ok() {}
        let covers = shared.requested.load(Ordering::SeqCst);
        // With a lease, only the leader fences, fails over and applies; the others wait.
        let token = match shared.acting() {
            Ok(t) => t,
            Err(why) => {
                tracing::info!(reason = why.as_str(), "reconcile skipped: {why}");
                *lock(&shared.metrics)
                    .triggers
                    .entry("skipped-not-leader")
                    .or_default() += 1;
                shared.completed.send_replace(covers);
                continue;
            }
        };
        if why == Trigger::NodeLost {
            let lost = std::mem::take(&mut *lock(&shared.lost));
            for (node, declared) in lost {
                let lease = shared.leadership.clone().zip(token);
                failover::run(opts, connector, shared, node, declared, lease).await;
            }
        }
        pass_no += 1;
        lock(&shared.status).reconciling = true;
        let started = crate::clock::now();
        let guard = shared.leadership.clone().zip(token);
        let (outcome, stopping) = run_pass(opts, connector, &stop, guard, &mut signals).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("the reconcile pass panicked: {e}");
                break;
            }
        };
        if let Some(d) = &outcome.desired {
            *lock(&shared.desired) = Some(d.clone());
        }
        let retry_after = schedule.after(&outcome, Instant::now());
        let record = pass_record(pass_no, started, &outcome, retry_after);
        log_outcome(&record);
        notified.after_pass(&shared.notifier, &outcome, &record);
        status::append_history(control_dir, &record);
        {
            let mut m = lock(&shared.metrics);
            count_pass(&mut m, &record);
            m.failbacks += outcome.failed_back.len() as u64;
            if let Some(c) = &outcome.census {
                m.census = c.clone();
            }
        }
        record_status(
            &mut lock(&shared.status),
            outcome,
            record,
            schedule.failures(),
        );
        shared.completed.send_replace(covers);
        if stopping {
            break;
        }
    }
}

/// The candidacy: a leader renews every third of the TTL; the others look for a free key every
/// eighth of it (a read), so that one takes over soon after a dead leader's lease ran out.
/// Becoming the leader asks for a pass at once.
async fn campaign(l: Arc<lease::Leadership>, shared: Arc<Shared>) {
    let ttl = l.options().ttl;
    loop {
        let was = l.acting().is_some();
        let round = l.clone();
        let leads = tokio::task::spawn_blocking(move || round.step())
            .await
            .unwrap_or(false);
        if leads && !was {
            shared.trigger(Trigger::Elected);
        }
        tokio::time::sleep(if leads { ttl / 3 } else { ttl / 8 }).await;
    }
}

/// A finished pass as recorded in the history and the status.
fn pass_record(
    pass: u64,
    started: String,
    outcome: &pass::Outcome,
    retry_after: Option<Duration>,
) -> PassRecord {
    PassRecord {
        pass,
        started,
        seconds: outcome.seconds,
        commit: outcome.commit.clone(),
        result: outcome.result,
        applied: outcome.applied,
        drift: outcome
            .objects
            .values()
            .filter(|o| o.state != status::Standing::InSync)
            .count(),
        error: outcome.error.clone(),
        failed_objects: outcome.failed_objects.iter().cloned().collect(),
        retry_after: retry_after.map(|d| d.as_secs()),
    }
}

/// One pass on a blocking thread. A first signal asks it to stop after the running stage (the
/// bool returned); a second exits at once.
async fn run_pass(
    opts: &Options,
    connector: &Arc<dyn Connector>,
    stop: &Arc<AtomicBool>,
    lease: Option<(Arc<lease::Leadership>, lease::Token)>,
    signals: &mut Signals,
) -> (Result<pass::Outcome, tokio::task::JoinError>, bool) {
    let job = {
        let repo = opts.repo.clone();
        let state_dir = opts.state_dir.clone();
        let connector = connector.clone();
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let confirm = lease.map(|(l, token)| move || l.confirm(token));
            Pass {
                repo: &repo,
                state_dir: &state_dir,
                connector: connector.as_ref(),
                stop: &stop,
                guard: confirm.as_ref().map(|c| c as &crate::reconcile::Guard),
            }
            .run()
        })
    };
    tokio::pin!(job);
    let mut stopping = false;
    let outcome = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = signals.recv() => {
                if stopping {
                    tracing::error!("second signal: stopping now; the next start reports the unfinished run");
                    std::process::exit(130);
                }
                tracing::warn!("stopping after the running stage (signal again to stop at once)");
                stopping = true;
                stop.store(true, Ordering::SeqCst);
            }
        }
    };
    (outcome, stopping)
}

/// A finished pass in the metrics.
fn count_pass(m: &mut Metrics, record: &PassRecord) {
    *m.passes.entry(record.result).or_default() += 1;
    if matches!(record.result, PassResult::Failed | PassResult::Invalid) {
        m.errors += 1;
    }
    m.seconds_sum += record.seconds;
    m.last_seconds = record.seconds;
    m.last_end_unix = crate::clock::unix_now();
    if !matches!(record.result, PassResult::Failed | PassResult::Invalid) {
        m.last_success_unix = m.last_end_unix;
    }
    m.actions_applied += record.applied as u64;
}

/// A finished pass in the status: its commit, cluster, mode, objects (with their failure
/// counts) and record.
fn record_status(
    s: &mut Status,
    outcome: pass::Outcome,
    record: PassRecord,
    failures: BTreeMap<String, u32>,
) {
    s.reconciling = false;
    if outcome.commit.is_some() {
        s.last_commit = outcome.commit.clone();
    }
    if let Some(c) = &outcome.cluster {
        s.cluster = Some(c.clone());
    }
    if let Some(m) = outcome.mode {
        s.mode = Some(format!("{m:?}").to_lowercase());
    }
    if record.result != PassResult::Suspended {
        let mut objects = outcome.objects;
        for (o, n) in &failures {
            if let Some(st) = objects.get_mut(o) {
                st.failures = *n;
            }
        }
        if !objects.is_empty() || record.result == PassResult::Failed {
            s.drift = record.drift;
            s.objects = objects;
        }
    }
    s.failures = failures;
    if !matches!(record.result, PassResult::Failed | PassResult::Invalid) {
        s.last_success = Some(record.clone());
    }
    s.last = Some(record);
}

/// The lock a running controller holds for its whole life (one controller per state directory).
pub fn serve_lock_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("controller").join("serve.lock")
}

/// Where a controller started without a token writes the one it made (mode 0600).
pub fn token_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("controller").join("token")
}

/// 32 random bytes from the kernel, as 64 hex digits.
fn new_token() -> std::io::Result<Secret> {
    use std::io::Read;
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(Secret(
        raw.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    ))
}

/// Where a running controller writes the URL it answers on.
pub fn address_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("controller").join("address")
}

fn log_outcome(r: &PassRecord) {
    let commit = r.commit.as_deref().map_or("-", |c| &c[..c.len().min(12)]);
    match &r.error {
        Some(e) => tracing::warn!(
            pass = r.pass,
            commit,
            result = r.result.as_str(),
            applied = r.applied,
            failed = r.failed_objects.join(", "),
            retry_after = r.retry_after,
            "{e}"
        ),
        None => tracing::info!(
            pass = r.pass,
            commit,
            result = r.result.as_str(),
            applied = r.applied,
            drift = r.drift,
            seconds = format!("{:.2}", r.seconds),
            "reconcile finished"
        ),
    }
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }
    async fn recv(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.int) => {}
        }
    }
}

/// A run a previous controller left unfinished: its marker and the journal's last lines.
fn read_interrupted(state_dir: &std::path::Path) -> Option<String> {
    let marker = pass::inflight_path(state_dir);
    let note = match crate::fsutil::read_small(&marker, 64 << 10) {
        Ok(Some(n)) => n,
        Ok(None) => return None,
        Err(e) => format!("{}: {e}", marker.display()),
    };
    let journal = journal_tail(&state_dir.join("journal.jsonl"));
    let last = journal.lines().last().unwrap_or("(no journal entry)");
    let _ = std::fs::remove_file(&marker);
    Some(format!(
        "the previous controller stopped during an apply ({note}); last journal entry: {last}; this start reconciles from what the cluster looks like now"
    ))
}

/// The end of the journal (it only ever grows): its last 64 KiB, from the first whole line.
fn journal_tail(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 64 << 10;
    let Ok(mut f) = crate::fsutil::open_regular(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(TAIL);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.take(TAIL).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    match (start, text.find('\n')) {
        (0, _) | (_, None) => text.into_owned(),
        (_, Some(i)) => text[i + 1..].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = format!("{{\"command\": \"{}\"}}\n", "x".repeat(100));
        let mut text = line.repeat(2000);
        text.push_str("{\"command\": \"last\"}\n");
        crate::fsutil::write_atomic(&path, text.as_bytes()).unwrap();
        let tail = journal_tail(&path);
        assert!(tail.len() <= 64 << 10);
        assert!(tail.starts_with('{'), "{}", &tail[..40]);
        assert_eq!(tail.lines().last(), Some("{\"command\": \"last\"}"));
        assert_eq!(journal_tail(&dir.path().join("none")), "");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
