//! The log `init` sets up counts this process's events (a test binary of its own: it installs the
//! global subscriber).

use app::logging::{self, LogCounts, LogFormat};
use tracing::Level;

#[test]
fn init_counts_the_process_log_events_and_the_metrics_read_them() {
    assert!(!logging::counting(), "nothing counts before init");
    logging::init(LogFormat::Json, "info");
    assert!(logging::counting());

    // RUST_LOG, when set, wins over "info": expect what its filter lets through.
    let expected = [
        tracing::enabled!(target: "log_counts", Level::ERROR),
        tracing::enabled!(target: "log_counts", Level::WARN),
        tracing::enabled!(target: "log_counts", Level::DEBUG),
    ]
    .map(u64::from);
    let before = logging::events();
    tracing::error!(target: "log_counts", "an error this test logs on purpose");
    tracing::warn!(target: "log_counts", "a warning this test logs on purpose");
    tracing::debug!(target: "log_counts", "a detail");
    assert_eq!(
        logging::events().since(&before),
        LogCounts {
            errors: expected[0],
            warnings: expected[1],
            debug: expected[2],
            ..LogCounts::default()
        }
    );

    // A second init keeps the subscriber and the counting.
    logging::init(LogFormat::Text, "info");
    assert!(logging::counting());

    let metrics = telemetry::Metrics::new([]);
    logging::counts::attach(&metrics);
    let errors_now = logging::events().errors;
    let text = metrics.encode(telemetry::Format::Prometheus);
    let exposed = text.lines().find_map(|line| {
        line.strip_prefix(r#"dimby_log_events_total{level="error"} "#)?
            .parse::<u64>()
            .ok()
    });
    assert_eq!(exposed, Some(errors_now), "{text}");
}
