//! When the controller runs the next pass: the timer (the interval, with jitter), and retries
//! after failures, with a backoff kept per object. Timing only: what a pass does is
//! [`super::pass`].

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::pass;
use super::status::Result as PassResult;
use super::{Options, Signals, Trigger};

/// When the next timer and retry fire, and the backoff of every object that failed.
pub(super) struct Schedule {
    /// `--interval`: overrides the Cluster document's.
    fixed_interval: Option<Duration>,
    /// `--retry-base`: an object's first retry delay.
    retry_base: Duration,
    interval: Duration,
    next_timer: Instant,
    retry_at: Option<Instant>,
    backoff: BTreeMap<String, Backoff>,
}

/// One object's backoff: its consecutive failed passes, and when it is due to be tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff {
    failures: u32,
    /// None once a pass after the failure tried it again (every pass tries every object).
    due: Option<Instant>,
}

impl Schedule {
    pub(super) fn new(opts: &Options) -> Schedule {
        Schedule::starting(opts.interval, opts.retry_base, Instant::now())
    }

    pub(super) fn starting(
        fixed_interval: Option<Duration>,
        retry_base: Duration,
        now: Instant,
    ) -> Schedule {
        let interval = fixed_interval.unwrap_or(Duration::from_secs(300));
        Schedule {
            fixed_interval,
            retry_base,
            interval,
            next_timer: now + jitter(interval),
            retry_at: None,
            backoff: BTreeMap::new(),
        }
    }

    /// The next trigger: queued, the timer, a retry; None on a signal or a closed queue.
    pub(super) async fn next(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Trigger>,
        signals: &mut Signals,
    ) -> Option<Trigger> {
        tokio::select! {
            t = rx.recv() => t,
            _ = tokio::time::sleep_until(self.next_timer) => {
                self.next_timer = Instant::now() + jitter(self.interval);
                Some(Trigger::Timer)
            }
            _ = sleep_until_opt(self.retry_at) => { self.retry_at = None; Some(Trigger::Retry) }
            _ = signals.recv() => None,
        }
    }

    /// After a pass that ended at `now`: the interval it asks for, then each object's backoff
    /// (see [`Schedule::back_off`]), and the next retry at the earliest object due (its delay
    /// returned), or soon when the pass made progress with work left.
    pub(super) fn after(&mut self, outcome: &pass::Outcome, now: Instant) -> Option<Duration> {
        if let Some(i) = outcome.interval {
            self.interval = self.fixed_interval.unwrap_or(i);
        }
        self.back_off(outcome, now);
        let due = self.backoff.values().filter_map(|b| b.due).min();
        // Progress with work left: the next step runs after the retry base, not a whole
        // interval later.
        let soon = outcome.more.then(|| now + self.retry_base);
        if let Some(at) = due.into_iter().chain(soon).min() {
            self.retry_at = Some(at);
        }
        due.map(|at| at.saturating_duration_since(now))
    }

    /// Each object that failed in the pass counts one more consecutive failure and is due after
    /// the retry base doubled per failure, up to the interval. A pass without failure (an
    /// invalid desired state aside) clears every backoff; a failed pass that saw the objects
    /// clears those that are gone or were done without failure, and keeps those skipped because
    /// of another's failure. A due time that passed was served by this pass.
    fn back_off(&mut self, outcome: &pass::Outcome, now: Instant) {
        if outcome.failed_objects.is_empty() {
            if outcome.result != PassResult::Invalid {
                self.backoff.clear();
            }
            return;
        }
        if !outcome.objects.is_empty() {
            self.backoff.retain(|o, _| {
                outcome.failed_objects.contains(o)
                    || (outcome.objects.contains_key(o) && outcome.skipped_objects.contains(o))
            });
        }
        for b in self.backoff.values_mut() {
            b.due = b.due.filter(|at| *at > now);
        }
        for o in &outcome.failed_objects {
            let b = self.backoff.entry(o.clone()).or_insert(Backoff {
                failures: 0,
                due: None,
            });
            b.failures += 1;
            b.due = Some(now + backoff(self.retry_base, b.failures, self.interval));
        }
    }

    /// Consecutive failed passes per object with a backoff.
    pub(super) fn failures(&self) -> BTreeMap<String, u32> {
        self.backoff
            .iter()
            .map(|(o, b)| (o.clone(), b.failures))
            .collect()
    }
}

/// The n-th consecutive failure waits base × 2^(n−1), at most `cap`.
pub fn backoff(base: Duration, n: u32, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap.max(base))
}

/// The interval ± 10 %, so controllers of several clusters do not fire together.
fn jitter(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // xorshift of the clock's nanoseconds and the pid: spread enough for a timer.
    let mut x = u64::from(nanos) ^ (u64::from(std::process::id()) << 32) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let spread = interval / 5;
    let offset = spread.mul_f64((x % 10_000) as f64 / 10_000.0);
    interval - interval / 10 + offset
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(5), 1, s(300)), s(5));
        assert_eq!(backoff(s(5), 2, s(300)), s(10));
        assert_eq!(backoff(s(5), 4, s(300)), s(40));
        assert_eq!(backoff(s(5), 10, s(300)), s(300));
        assert_eq!(backoff(s(5), 40, s(300)), s(300));
    }

    /// A pass's outcome: `failed` objects failed, `skipped` were skipped for them, and the
    /// cluster's objects are `seen` (empty when the pass failed before observing).
    fn outcome(failed: &[&str], skipped: &[&str], seen: &[&str]) -> pass::Outcome {
        let set = |v: &[&str]| v.iter().map(|o| o.to_string()).collect();
        pass::Outcome {
            commit: None,
            cluster: None,
            mode: None,
            interval: None,
            result: if failed.is_empty() {
                PassResult::Applied
            } else {
                PassResult::Failed
            },
            applied: 0,
            error: None,
            failed_objects: set(failed),
            skipped_objects: set(skipped),
            failed_back: Vec::new(),
            census: None,
            more: false,
            desired: None,
            objects: seen
                .iter()
                .map(|o| {
                    let st = status::ObjectState {
                        state: status::Standing::InSync,
                        pending: Vec::new(),
                        detail: None,
                        failures: 0,
                    };
                    (o.to_string(), st)
                })
                .collect(),
            seconds: 0.0,
        }
    }

    fn counts(s: &Schedule) -> Vec<(String, u32)> {
        s.failures().into_iter().collect()
    }

    #[test]
    fn each_failed_object_backs_off_on_its_own_count() {
        let sec = Duration::from_secs;
        let t0 = Instant::now();
        let mut s = Schedule::starting(Some(sec(300)), sec(5), t0);
        let all = ["Volume/a", "Volume/b", "Domain/c"];
        // a fails twice alone, then a and b fail in the same pass.
        assert_eq!(
            s.after(&outcome(&["Volume/a"], &[], &all), t0),
            Some(sec(5))
        );
        let t1 = t0 + sec(5);
        assert_eq!(
            s.after(&outcome(&["Volume/a"], &[], &all), t1),
            Some(sec(10))
        );
        let t2 = t1 + sec(10);
        let both = outcome(&["Volume/a", "Volume/b"], &[], &all);
        // b (first failure) is due first; a (third) after 20 s.
        assert_eq!(s.after(&both, t2), Some(sec(5)));
        assert_eq!(s.retry_at, Some(t2 + sec(5)));
        assert_eq!(s.backoff["Volume/a"].due, Some(t2 + sec(20)));
        assert_eq!(s.backoff["Volume/b"].due, Some(t2 + sec(5)));
        assert_eq!(
            counts(&s),
            [("Volume/a".to_string(), 3), ("Volume/b".to_string(), 1)]
        );
        // b recovers, a fails again: only b's backoff is cleared.
        let t3 = t2 + sec(5);
        assert_eq!(
            s.after(&outcome(&["Volume/a"], &[], &all), t3),
            Some(sec(40))
        );
        assert_eq!(counts(&s), [("Volume/a".to_string(), 4)]);
        // a fails again while b fails anew: b starts from the base again.
        let t4 = t3 + sec(40);
        let again = outcome(&["Volume/a", "Volume/b"], &[], &all);
        assert_eq!(s.after(&again, t4), Some(sec(5)));
        assert_eq!(s.backoff["Volume/a"].due, Some(t4 + sec(80)));
        assert_eq!(
            counts(&s),
            [("Volume/a".to_string(), 5), ("Volume/b".to_string(), 1)]
        );
        // A pass without failure clears them all; nothing more is scheduled for them.
        assert_eq!(s.after(&outcome(&[], &[], &all), t4 + sec(5)), None);
        assert!(counts(&s).is_empty());
    }

    #[test]
    fn backoffs_are_kept_for_skipped_objects_and_cleared_for_gone_ones() {
        let sec = Duration::from_secs;
        let t0 = Instant::now();
        let mut s = Schedule::starting(Some(sec(60)), sec(5), t0);
        let all = ["Volume/a", "Volume/b", "Domain/c"];
        s.after(&outcome(&["Volume/a", "Domain/c"], &[], &all), t0);
        s.after(&outcome(&["Volume/a", "Domain/c"], &[], &all), t0 + sec(5));
        // Fetching fails: nothing was seen, so every backoff stays; the repository gets its
        // own, due first.
        let t2 = t0 + sec(15);
        assert_eq!(
            s.after(&outcome(&["Repository"], &[], &[]), t2),
            Some(sec(5))
        );
        assert_eq!(
            counts(&s),
            [
                ("Domain/c".to_string(), 2),
                ("Repository".to_string(), 1),
                ("Volume/a".to_string(), 2)
            ]
        );
        // b fails and c is skipped because of it; a succeeds, the repository answered.
        let t3 = t2 + sec(5);
        assert_eq!(
            s.after(&outcome(&["Volume/b"], &["Domain/c"], &all), t3),
            Some(sec(5))
        );
        assert_eq!(
            counts(&s),
            [("Domain/c".to_string(), 2), ("Volume/b".to_string(), 1)]
        );
        // c is no longer in the desired state: its backoff goes with it.
        let t4 = t3 + sec(5);
        let gone = outcome(&["Volume/b"], &["Domain/c"], &["Volume/a", "Volume/b"]);
        assert_eq!(s.after(&gone, t4), Some(sec(10)));
        assert_eq!(counts(&s), [("Volume/b".to_string(), 2)]);
        // The backoff stops at the interval.
        let mut t = t4;
        for _ in 0..8 {
            t += sec(60);
            s.after(&outcome(&["Volume/b"], &[], &all), t);
        }
        assert_eq!(s.retry_at, Some(t + sec(60)));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(300));
            assert!(
                j >= Duration::from_secs(270) && j <= Duration::from_secs(330),
                "{j:?}"
            );
        }
    }
}
