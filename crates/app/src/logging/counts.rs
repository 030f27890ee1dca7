//! Log events counted by level as they are logged, so the process can say whether it logged
//! errors over a window without anyone scanning its output: the deploy gate and the post-cutover
//! watch read `dimby_log_events_total{level}` (or, in process, diff two [`events`] snapshots).
//!
//! [`CountEvents`] is a layer of the log's subscriber, behind its filter: an event `RUST_LOG` (or
//! the default filter) leaves out is neither written nor counted. It costs one relaxed atomic add
//! per event. The counts are the process's (the subscriber is one per process, set up before any
//! configuration or metrics exist), so the metrics read them at scrape time ([`attach`]) and see
//! everything logged since the start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

pub use telemetry::LogCounts;

/// Events by level: one counter each, most severe first.
#[derive(Debug)]
pub struct LogCounters {
    by_level: [AtomicU64; 5],
}

impl Default for LogCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl LogCounters {
    /// Nothing counted.
    pub const fn new() -> Self {
        Self {
            by_level: [const { AtomicU64::new(0) }; 5],
        }
    }

    /// Counts one event of `level`.
    #[inline]
    pub fn record(&self, level: Level) {
        let index = match level {
            Level::ERROR => 0,
            Level::WARN => 1,
            Level::INFO => 2,
            Level::DEBUG => 3,
            _ => 4,
        };
        self.by_level[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> LogCounts {
        let [errors, warnings, info, debug, trace] =
            self.by_level.each_ref().map(|n| n.load(Ordering::Relaxed));
        LogCounts {
            errors,
            warnings,
            info,
            debug,
            trace,
        }
    }
}

/// The process's counts: what [`init`](super::init)'s subscriber counts into.
static PROCESS: LogCounters = LogCounters::new();

/// Whether the global subscriber counts into [`PROCESS`].
static COUNTING: AtomicBool = AtomicBool::new(false);

/// The process's counters.
pub fn process() -> &'static LogCounters {
    &PROCESS
}

/// The log events this process counted so far, by level. Diff two snapshots
/// ([`LogCounts::since`]) for the events of a window. All zero while [`counting`] is false.
pub fn events() -> LogCounts {
    PROCESS.snapshot()
}

/// Whether this process's log counts its events: false when [`init`](super::init) did not set
/// up the log (a subscriber was there before it, as in tests).
pub fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

pub(super) fn set_counting(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// A subscriber layer counting each event it sees by level. Put it on top of the subscriber
/// (`.with(..)`): it sees only the events the subscriber's filter let through.
#[derive(Debug, Clone, Copy)]
pub struct CountEvents {
    counters: &'static LogCounters,
}

impl CountEvents {
    /// Counts into `counters`.
    pub fn new(counters: &'static LogCounters) -> Self {
        Self { counters }
    }

    /// Counts into the process's counters ([`events`]).
    pub fn process() -> Self {
        Self::new(&PROCESS)
    }
}

impl<S: Subscriber> Layer<S> for CountEvents {
    #[inline]
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        self.counters.record(*event.metadata().level());
    }
}

/// The process's counts as the metrics read them.
struct ProcessLog;

impl telemetry::LogSource for ProcessLog {
    fn log_events(&self) -> Option<LogCounts> {
        counting().then(events)
    }
}

/// Lets `metrics` read the process's counts at scrape time (`dimby_log_events_total`): all of
/// them, events logged before this call included; no samples while the log does not count.
pub fn attach(metrics: &telemetry::Metrics) {
    metrics.attach_log(Arc::new(ProcessLog));
}

#[cfg(test)]
mod tests {
    use telemetry::{Format, Metrics};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::{CountEvents, LogCounters, LogCounts};

    fn leaked() -> &'static LogCounters {
        Box::leak(Box::new(LogCounters::new()))
    }

    /// A subscriber writing nowhere, filtered by `filter`, counting into `counters`.
    fn counted(
        filter: &str,
        counters: &'static LogCounters,
    ) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(filter))
            .with_writer(std::io::sink)
            .finish()
            .with(CountEvents::new(counters))
    }

    #[test]
    fn the_layer_counts_errors_and_warnings_by_level() {
        let counters = leaked();
        tracing::subscriber::with_default(counted("trace", counters), || {
            tracing::error!("one error");
            tracing::warn!(node = "a", "a warning");
            tracing::warn!("another");
            tracing::info!("news");
            tracing::debug!("detail");
            tracing::trace!("more detail");
            tracing::trace!("and more");
        });
        assert_eq!(
            counters.snapshot(),
            LogCounts {
                errors: 1,
                warnings: 2,
                info: 1,
                debug: 1,
                trace: 2,
            }
        );
    }

    #[test]
    fn events_the_filter_leaves_out_are_not_counted() {
        let counters = leaked();
        tracing::subscriber::with_default(counted("info,noisy=error", counters), || {
            tracing::debug!("below the default level");
            tracing::warn!(target: "noisy", "below noisy's level");
            tracing::info!(target: "noisy", "below noisy's level");
            tracing::error!(target: "noisy", "at noisy's level");
            tracing::warn!("at the default level");
        });
        assert_eq!(
            counters.snapshot(),
            LogCounts {
                errors: 1,
                warnings: 1,
                ..LogCounts::default()
            }
        );
        // Nothing is counted without the layer's subscriber.
        tracing::error!("no subscriber here");
        assert_eq!(counters.snapshot().errors, 1);
    }

    #[test]
    fn the_process_counts_are_read_by_events_and_the_metrics() {
        let before = super::events();
        let metrics = Metrics::new([]);
        super::attach(&metrics);
        tracing::subscriber::with_default(counted("info", super::process()), || {
            tracing::error!("counted for the process");
            tracing::warn!("counted too");
        });
        let after = super::events();
        assert_eq!(
            after.since(&before),
            LogCounts {
                errors: 1,
                warnings: 1,
                ..LogCounts::default()
            }
        );

        // Unit tests set up no log of their own, so the process does not count: no samples.
        assert!(!super::counting());
        let text = metrics.encode(Format::Prometheus);
        assert!(!text.contains("dimby_log_events_total{"), "{text}");

        // Counting, the metrics say the process totals: the events logged before too.
        super::set_counting(true);
        let text = metrics.encode(Format::Prometheus);
        super::set_counting(false);
        let errors = text.lines().find_map(|line| {
            line.strip_prefix(r#"dimby_log_events_total{level="error"} "#)?
                .parse::<u64>()
                .ok()
        });
        assert!(
            errors.is_some_and(|errors| errors >= after.errors && errors >= 1),
            "{text}"
        );
    }
}
