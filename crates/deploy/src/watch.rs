//! The post-cutover watch: the new colour's signals read every second for a while, compared with
//! the old colour's last ones; the first signal that fails says the deploy must roll back.

use std::time::{Duration, Instant};

use admin::deploy::Signals;
use serde::{Deserialize, Serialize};

use crate::client::ColourClient;

/// How the watch judges the new colour.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchRules {
    /// How long it watches.
    pub duration: Duration,
    /// How often it reads the signals.
    pub interval: Duration,
    /// How long the new colour may take to become ready.
    pub ready_within: Duration,
    /// Consecutive bad readings of readiness or Lavalink connectivity that fail the colour.
    pub bad_readings: u32,
    /// Error-level log events of the new colour that fail it (more than this many).
    pub max_errors: u64,
    /// Answered commands before the failure share and the latency count.
    pub min_commands: u64,
    /// The share of failed commands allowed above the old colour's.
    pub max_failed_share: f64,
    /// The acknowledgement p95 allowed: the old colour's times this factor...
    pub ack_factor: f64,
    /// ... or plus this margin, whichever is larger (without a figure of the old colour's: this
    /// margin alone).
    pub ack_margin: Duration,
}

impl Default for WatchRules {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(120),
            interval: Duration::from_secs(1),
            ready_within: Duration::from_secs(30),
            bad_readings: 3,
            max_errors: 0,
            min_commands: 20,
            max_failed_share: 0.05,
            ack_factor: 2.0,
            ack_margin: Duration::from_millis(500),
        }
    }
}

/// How the watch ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchOutcome {
    /// The failing signal, in words (`None`: the new colour stayed healthy).
    pub failing: Option<String>,
    /// How long it watched, ms.
    pub watched_ms: u64,
    /// Readings taken.
    pub readings: u64,
    /// The new colour's figures over the watch.
    pub commands_answered: u64,
    /// Of those, failed.
    pub commands_failed: u64,
    /// Its last acknowledgement p95, ms.
    pub ack_p95_ms: Option<u64>,
    /// Errors it logged during the watch.
    pub errors_logged: u64,
    /// The old colour's figures it was compared with.
    pub baseline: Signals,
    /// When the failing signal was first seen (for the time to roll back); not serialized.
    #[serde(skip)]
    pub failing_since: Option<Instant>,
}

/// Watches `colour` (which just took over) against `baseline` (the old colour's signals before
/// it handed over); `start` is the colour's own reading before it took over (its errors logged
/// are counted from there; without it, from the first reading).
pub async fn watch(
    colour: &ColourClient,
    start: Option<Signals>,
    baseline: &Signals,
    rules: &WatchRules,
) -> WatchOutcome {
    let began = Instant::now();
    let mut outcome = WatchOutcome {
        failing: None,
        watched_ms: 0,
        readings: 0,
        commands_answered: 0,
        commands_failed: 0,
        ack_p95_ms: None,
        errors_logged: 0,
        baseline: baseline.clone(),
        failing_since: None,
    };
    let mut first: Option<Signals> = start;
    let (mut not_ready, mut no_nodes, mut unreadable) = (0u32, 0u32, 0u32);
    // The first moment a bad streak began (the rollback's clock starts at the first bad sign).
    let mut streak_began: Option<Instant> = None;
    while began.elapsed() < rules.duration {
        let now = Instant::now();
        let reading = colour.signals().await;
        outcome.readings += 1;
        let failing = match reading {
            Err(error) => {
                unreadable += 1;
                streak_began.get_or_insert(now);
                (unreadable >= rules.bad_readings)
                    .then(|| format!("its signals cannot be read: {error}"))
            }
            Ok(signals) => {
                unreadable = 0;
                let base = first.get_or_insert_with(|| signals.clone()).clone();
                let judged = judge(
                    &signals,
                    &base,
                    baseline,
                    rules,
                    began.elapsed(),
                    (&mut not_ready, &mut no_nodes),
                );
                record(&mut outcome, &signals, &base);
                if not_ready == 0 && no_nodes == 0 && judged.is_none() {
                    streak_began = None;
                } else {
                    streak_began.get_or_insert(now);
                }
                judged
            }
        };
        if let Some(signal) = failing {
            outcome.failing = Some(signal);
            outcome.failing_since = streak_began.or(Some(now));
            break;
        }
        tokio::time::sleep(rules.interval).await;
    }
    outcome.watched_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    outcome
}

fn record(outcome: &mut WatchOutcome, now: &Signals, first: &Signals) {
    let failed = now.commands_failed.saturating_sub(first.commands_failed);
    let ok = now.commands_ok.saturating_sub(first.commands_ok);
    outcome.commands_answered = ok + failed;
    outcome.commands_failed = failed;
    outcome.ack_p95_ms = now.ack_p95_ms;
    outcome.errors_logged = errors_since(now, first);
}

fn errors_since(now: &Signals, first: &Signals) -> u64 {
    now.errors_logged
        .unwrap_or(0)
        .saturating_sub(first.errors_logged.unwrap_or(0))
}

/// One reading against the rules: the failing signal, if one fails now.
fn judge(
    now: &Signals,
    first: &Signals,
    baseline: &Signals,
    rules: &WatchRules,
    elapsed: Duration,
    (not_ready, no_nodes): (&mut u32, &mut u32),
) -> Option<String> {
    if now.ready || elapsed < rules.ready_within {
        *not_ready = 0;
    } else {
        *not_ready += 1;
        if *not_ready >= rules.bad_readings {
            return Some(format!(
                "not ready {not_ready} readings in a row, {elapsed:?} after the takeover"
            ));
        }
    }
    if now.lavalink_nodes > 0 && now.lavalink_nodes_up == 0 {
        *no_nodes += 1;
        if *no_nodes >= rules.bad_readings {
            return Some(format!(
                "no Lavalink node connected ({} configured) {} readings in a row",
                now.lavalink_nodes, no_nodes
            ));
        }
    } else {
        *no_nodes = 0;
    }
    let errors = errors_since(now, first);
    if errors > rules.max_errors {
        return Some(format!(
            "{errors} errors logged since the takeover (allowed: {})",
            rules.max_errors
        ));
    }
    let failed = now.commands_failed.saturating_sub(first.commands_failed);
    let answered = failed + now.commands_ok.saturating_sub(first.commands_ok);
    if answered >= rules.min_commands {
        let share = ratio(failed, answered);
        let old = ratio(
            baseline.commands_failed,
            baseline.commands_failed + baseline.commands_ok,
        );
        if share > old + rules.max_failed_share {
            return Some(format!(
                "{failed} of {answered} commands failed ({:.1} %; the old colour: {:.1} %)",
                share * 100.0,
                old * 100.0
            ));
        }
    }
    if let Some(p95) = now.ack_p95_ms
        && now.acks >= rules.min_commands
    {
        let margin = u64::try_from(rules.ack_margin.as_millis()).unwrap_or(u64::MAX);
        let allowed = match baseline.ack_p95_ms {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "milliseconds far below 2^52, a positive factor"
            )]
            Some(old) => ((old as f64 * rules.ack_factor) as u64).max(old + margin),
            None => margin,
        };
        if p95 > allowed {
            return Some(format!(
                "interactions acknowledged in {p95} ms at p95 (allowed: {allowed} ms)"
            ));
        }
    }
    None
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(ok: u64, failed: u64, errors: u64) -> Signals {
        Signals {
            ready: true,
            commands_ok: ok,
            commands_failed: failed,
            errors_logged: Some(errors),
            lavalink_nodes: 2,
            lavalink_nodes_up: 2,
            ..Signals::default()
        }
    }

    fn judged(
        now: &Signals,
        first: &Signals,
        baseline: &Signals,
        elapsed: Duration,
    ) -> Option<String> {
        let (mut a, mut b) = (0, 0);
        judge(
            now,
            first,
            baseline,
            &WatchRules::default(),
            elapsed,
            (&mut a, &mut b),
        )
    }

    #[test]
    fn a_healthy_colour_passes() {
        let base = signals(100, 1, 0);
        assert_eq!(
            judged(&signals(50, 1, 3), &signals(0, 0, 3), &base, Duration::ZERO),
            None
        );
    }

    #[test]
    fn errors_logged_since_the_takeover_fail_it() {
        let failing = judged(
            &signals(5, 0, 4),
            &signals(0, 0, 3),
            &signals(0, 0, 0),
            Duration::ZERO,
        );
        assert!(failing.is_some_and(|f| f.contains("1 errors logged")));
    }

    #[test]
    fn failed_commands_count_against_the_old_colours_share_once_there_are_enough() {
        let old = signals(95, 5, 0);
        let first = signals(0, 0, 0);
        // 5 of 10 failed: too few to judge.
        assert_eq!(
            judged(&signals(5, 5, 0), &first, &old, Duration::ZERO),
            None
        );
        // 2 of 20 (10 %) against the old 5 %: within the 5 points allowed.
        assert_eq!(
            judged(&signals(18, 2, 0), &first, &old, Duration::ZERO),
            None
        );
        // 4 of 20 (20 %): fails.
        assert!(judged(&signals(16, 4, 0), &first, &old, Duration::ZERO).is_some());
    }

    #[test]
    fn readiness_counts_only_after_its_grace_and_in_a_row() {
        let rules = WatchRules::default();
        let mut not_ready = signals(0, 0, 0);
        not_ready.ready = false;
        let first = signals(0, 0, 0);
        let (mut a, mut b) = (0, 0);
        for _ in 0..5 {
            assert_eq!(
                judge(
                    &not_ready,
                    &first,
                    &first,
                    &rules,
                    Duration::from_secs(1),
                    (&mut a, &mut b)
                ),
                None
            );
        }
        let late = rules.ready_within + Duration::from_secs(1);
        assert_eq!(
            judge(&not_ready, &first, &first, &rules, late, (&mut a, &mut b)),
            None
        );
        assert_eq!(
            judge(&not_ready, &first, &first, &rules, late, (&mut a, &mut b)),
            None
        );
        assert!(judge(&not_ready, &first, &first, &rules, late, (&mut a, &mut b)).is_some());
    }

    #[test]
    fn slow_acknowledgements_fail_against_the_old_colours() {
        let mut old = signals(100, 0, 0);
        old.ack_p95_ms = Some(100);
        let mut now = signals(30, 0, 0);
        now.acks = 30;
        now.ack_p95_ms = Some(550);
        assert_eq!(judged(&now, &signals(0, 0, 0), &old, Duration::ZERO), None);
        now.ack_p95_ms = Some(700);
        assert!(judged(&now, &signals(0, 0, 0), &old, Duration::ZERO).is_some());
    }
}
