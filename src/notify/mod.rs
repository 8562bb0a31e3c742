//! Notifications: events the controller meets (an invalid commit, drift in detect mode, a failed
//! pass, a blocked object, a split brain, a node declared dead, a fence, a failover, a failback)
//! routed by the desired state's Alerts to its Providers. Never in the way of a pass: `emit`
//! only pushes onto a bounded queue per provider (the oldest is dropped, and counted, when it
//! is full); a task per provider sends, at most `rateLimit.events` per `rateLimit.per` (what
//! comes beyond is folded into one summary with a count), each delivery bounded in time and
//! retried with a backoff a bounded number of times. Failures are logged and counted, never
//! raised. Delivery itself (HTTP, command) is [`deliver`].

pub mod deliver;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::model::notify::object_matches;
use crate::model::{AlertSpec, Desired, EventKind, EventSeverity, Name, ProviderSpec};

/// Events waiting per provider at most; beyond, the oldest is dropped.
pub const QUEUE: usize = 256;
/// Events listed in a summary at most (the count says how many there were).
const SUMMARY_LIST: usize = 20;
/// The longest event message sent (a pass's error can be long).
const MAX_MESSAGE: usize = 4000;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The largest `addressFile`.
const MAX_ADDRESS_FILE: u64 = 4096;

/// One thing that happened, as providers receive it (the JSON of `generic` and `command`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub severity: EventSeverity,
    /// `Kind/name` of the object concerned (`Repository` for the state's source).
    pub object: String,
    pub message: String,
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// In a summary: how many events it stands for, and the first of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl Event {
    pub fn new(
        kind: EventKind,
        severity: EventSeverity,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        let mut message: String = message.into();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …");
        }
        Event {
            kind,
            severity,
            object: object.into(),
            message,
            cluster: String::new(),
            commit: None,
            time: crate::clock::now(),
            count: None,
            events: Vec::new(),
        }
    }

    /// One line for a person (the text of a chat message).
    pub fn line(&self) -> String {
        let cluster = if self.cluster.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.cluster)
        };
        match self.count {
            Some(n) => format!(
                "xenflux{cluster}: {n} events within the rate limit's period, folded into one:\n{}",
                self.events
                    .iter()
                    .map(|e| format!(
                        "• {} {} {}: {}",
                        e.severity.as_str(),
                        e.kind.as_str(),
                        e.object,
                        e.message
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            None => format!(
                "xenflux{cluster}: {} {} {}: {}",
                self.severity.as_str(),
                self.kind.as_str(),
                self.object,
                self.message
            ),
        }
    }

    /// A summary standing for `events` (at least two).
    fn summary(events: Vec<Event>) -> Event {
        let severity = events.iter().map(|e| e.severity).max().unwrap_or_default();
        let first = &events[0];
        let mut s = Event::new(
            first.kind,
            severity,
            first.object.clone(),
            format!("{} events folded into one", events.len()),
        );
        s.cluster = first.cluster.clone();
        s.commit = first.commit.clone();
        s.count = Some(events.len());
        s.events = events.into_iter().take(SUMMARY_LIST).collect();
        s
    }
}

/// Counters `/metrics` shows.
#[derive(Default)]
struct Counters {
    /// By (provider, result: `sent`, `failed`, `coalesced`).
    results: Mutex<BTreeMap<(String, &'static str), u64>>,
    dropped: AtomicU64,
}

/// Events waiting for one provider.
#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<Event>>,
    wake: Notify,
}

/// A provider taken up: its spec as written, its queue and its sender task.
struct Running {
    spec: ProviderSpec,
    queue: Arc<Queue>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Routes {
    alerts: BTreeMap<Name, AlertSpec>,
    providers: BTreeMap<Name, Running>,
    cluster: String,
    commit: Option<String>,
}

/// The controller's notifier: routes events to providers' queues. Cheap to call from anywhere;
/// [`Notifier::configure`] must run inside the tokio runtime (it starts the senders).
#[derive(Clone, Default)]
pub struct Notifier {
    routes: Arc<Mutex<Routes>>,
    counters: Arc<Counters>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Notifier {
    /// Takes up the Providers and Alerts of `d` (a provider whose spec did not change keeps its
    /// queue and sender), with the commit it was read at.
    pub fn configure(&self, d: &Desired, commit: Option<&str>) {
        let mut r = lock(&self.routes);
        r.alerts = d.alerts.clone();
        r.cluster = d.cluster_name.clone();
        r.commit = commit.map(str::to_string);
        r.providers
            .retain(|name, run| d.providers.get(name) == Some(&run.spec));
        for (name, spec) in &d.providers {
            if r.providers.contains_key(name) {
                continue;
            }
            let target = match deliver::Target::of(spec, MAX_ADDRESS_FILE) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(provider = %name, "notifications to this provider are off: {e}");
                    continue;
                }
            };
            let queue = Arc::new(Queue::default());
            let task = tokio::spawn(send_loop(
                name.to_string(),
                spec.clone(),
                target,
                queue.clone(),
                self.counters.clone(),
            ));
            tracing::info!(provider = %name, kind = spec.provider_type.as_str(), "notification provider ready");
            r.providers.insert(
                name.clone(),
                Running {
                    spec: spec.clone(),
                    queue,
                    task,
                },
            );
        }
    }

    /// Queues `event` for every provider an Alert sends it to (once per provider).
    pub fn emit(&self, mut event: Event) {
        let r = lock(&self.routes);
        if event.cluster.is_empty() {
            event.cluster = r.cluster.clone();
        }
        if event.commit.is_none() {
            event.commit = r.commit.clone();
        }
        tracing::debug!(kind = event.kind.as_str(), object = %event.object, "event: {}", event.message);
        let mut to: Vec<&Name> = r
            .alerts
            .values()
            .filter(|a| wants(a, &event))
            .map(|a| &a.provider)
            .collect();
        to.sort();
        to.dedup();
        for p in to {
            let Some(run) = r.providers.get(p) else {
                continue;
            };
            let mut items = lock(&run.queue.items);
            if items.len() >= QUEUE {
                items.pop_front();
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(provider = %p, dropped = n, "notification queue full: dropping the oldest");
                }
            }
            items.push_back(event.clone());
            drop(items);
            run.queue.wake.notify_one();
        }
    }

    /// Notifications by (provider, result).
    pub fn results(&self) -> BTreeMap<(String, &'static str), u64> {
        lock(&self.counters.results).clone()
    }

    /// Notifications dropped from full queues.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

/// Whether `alert` sends `event`: its kind, at least its severity, one of its objects.
pub fn wants(alert: &AlertSpec, event: &Event) -> bool {
    (alert.events.is_empty() || alert.events.contains(&event.kind))
        && event.severity >= alert.severity
        && object_matches(&alert.objects, &event.object)
}

/// One provider's sender: rate-limited, each delivery retried, until aborted.
async fn send_loop(
    name: String,
    spec: ProviderSpec,
    target: deliver::Target,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
) {
    let per = Duration::from_secs(spec.rate_limit.per.seconds.max(1));
    let limit = spec.rate_limit.events.max(1) as usize;
    let mut window = Instant::now();
    let mut sent_in_window = 0usize;
    loop {
        if lock(&queue.items).is_empty() {
            queue.wake.notified().await;
            continue;
        }
        let now = Instant::now();
        if now >= window + per {
            window = now;
            sent_in_window = 0;
        }
        let event = if sent_in_window < limit {
            lock(&queue.items).pop_front()
        } else {
            // The period's share is spent: wait for its end, then fold what waits into one.
            tokio::time::sleep_until(window + per).await;
            window = Instant::now();
            sent_in_window = 0;
            let waiting: Vec<Event> = lock(&queue.items).drain(..).collect();
            match waiting.len() {
                0 => None,
                1 => waiting.into_iter().next(),
                n => {
                    count(&counters, &name, "coalesced", n as u64);
                    tracing::info!(provider = %name, events = n, "rate limit: {n} notifications folded into one");
                    Some(Event::summary(waiting))
                }
            }
        };
        let Some(event) = event else { continue };
        sent_in_window += 1;
        let ok = deliver_with_retries(&name, &spec, &target, &event).await;
        count(&counters, &name, if ok { "sent" } else { "failed" }, 1);
    }
}

fn count(counters: &Counters, provider: &str, result: &'static str, n: u64) {
    *lock(&counters.results)
        .entry((provider.to_string(), result))
        .or_default() += n;
}

/// Delivers `event`, trying again after 1 s, 2 s, 4 s, ... (at most [`MAX_BACKOFF`]) up to
/// `retries` times; logs every failure (never the address: it may hold a token).
async fn deliver_with_retries(
    name: &str,
    spec: &ProviderSpec,
    target: &deliver::Target,
    event: &Event,
) -> bool {
    let timeout = Duration::from_secs(spec.timeout.seconds.max(1));
    let attempts = spec.retries.saturating_add(1);
    let mut backoff = Duration::from_secs(1);
    for attempt in 1..=attempts {
        match target.send(spec, event, timeout).await {
            Ok(()) => {
                tracing::debug!(
                    provider = name,
                    kind = event.kind.as_str(),
                    "notification sent"
                );
                return true;
            }
            Err(e) => {
                tracing::warn!(
                    provider = name,
                    kind = event.kind.as_str(),
                    attempt,
                    attempts,
                    "notification not delivered: {e}"
                );
            }
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    tracing::error!(
        provider = name,
        kind = event.kind.as_str(),
        object = %event.object,
        "notification dropped after {attempts} attempt(s)"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(events: Vec<EventKind>, severity: EventSeverity, objects: &[&str]) -> AlertSpec {
        AlertSpec {
            provider: "p".parse().unwrap(),
            events,
            severity,
            objects: objects.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn alerts_filter_by_kind_severity_and_object() {
        let dead = Event::new(
            EventKind::NodeDead,
            EventSeverity::Error,
            "Node/dom0m",
            "silent",
        );
        let drift = Event::new(
            EventKind::Drift,
            EventSeverity::Info,
            "Volume/dns",
            "pending",
        );
        let all = alert(vec![], EventSeverity::Info, &[]);
        assert!(wants(&all, &dead) && wants(&all, &drift));
        let errors = alert(vec![], EventSeverity::Error, &[]);
        assert!(wants(&errors, &dead) && !wants(&errors, &drift));
        let nodes = alert(vec![EventKind::NodeDead], EventSeverity::Info, &["Node/*"]);
        assert!(wants(&nodes, &dead) && !wants(&nodes, &drift));
        let one = alert(vec![], EventSeverity::Info, &["Volume/dns"]);
        assert!(!wants(&one, &dead) && wants(&one, &drift));
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_and_counts_them() {
        let mut d = Desired::default();
        let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "type": "generic",
            "address": "http://127.0.0.1:9/x",
        }))
        .unwrap();
        d.providers.insert("p".parse().unwrap(), spec);
        d.alerts.insert(
            "a".parse().unwrap(),
            alert(vec![], EventSeverity::Info, &[]),
        );
        let n = Notifier::default();
        n.configure(&d, None);
        // No await in between: the sender has not taken anything yet.
        for i in 0..QUEUE + 44 {
            n.emit(Event::new(
                EventKind::Drift,
                EventSeverity::Info,
                format!("Volume/v{i}"),
                "x",
            ));
        }
        assert_eq!(n.dropped(), 44);
        let r = lock(&n.routes);
        let q = lock(&r.providers[&"p".parse::<Name>().unwrap()].queue.items);
        assert_eq!(q.len(), QUEUE);
        assert_eq!(
            q.front().unwrap().object,
            "Volume/v44",
            "the oldest went first"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character() {
        let e = Event::new(
            EventKind::PassFailed,
            EventSeverity::Error,
            "Repository",
            "é".repeat(5000),
        );
        assert!(e.message.len() <= MAX_MESSAGE + 4);
        assert!(e.message.ends_with(" …"));
    }

    #[test]
    fn a_summary_counts_and_lists_a_bounded_few() {
        let events: Vec<Event> = (0..50)
            .map(|i| {
                Event::new(
                    EventKind::Blocked,
                    EventSeverity::Error,
                    format!("Volume/v{i}"),
                    "x",
                )
            })
            .collect();
        let s = Event::summary(events);
        assert_eq!(s.count, Some(50));
        assert_eq!(s.events.len(), SUMMARY_LIST);
        assert!(s.line().starts_with("xenflux: 50 events"), "{}", s.line());
    }
}
