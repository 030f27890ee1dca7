//! Guilds the restore set apart because their stored rows are damaged: one event (a log line per
//! guild and the `dimby_store_quarantined_guilds` gauge) and a warning-severity check,
//! `store:quarantinedGuilds`, which the alert webhook announces like any failing check.

use std::sync::Arc;

use health::{Observation, Probe, ProbeSpec, Severity, Status};

use super::ProbeSettings;

/// The check's name.
pub const STORE_QUARANTINE: &str = "store:quarantinedGuilds";

/// What the restore set apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreQuarantine {
    /// The damaged guilds, with what is damaged.
    pub damaged: Vec<store::Damaged>,
}

impl StoreQuarantine {
    /// Logs each quarantined guild (its id and what is damaged) and sets the gauge.
    pub fn record(&self, metrics: &telemetry::Metrics) {
        for guild in &self.damaged {
            tracing::error!(
                guild_id = guild.guild_id,
                problem = %guild.problem,
                "guild quarantined: its stored rows are damaged, so it was not restored; its rows \
                 are kept as they are for repair (docs/runbooks/store.md)"
            );
        }
        metrics.record_store_quarantined(self.damaged.len());
    }
}

/// Warns (severity warning: the other guilds are served) while guilds are quarantined; the
/// output says how many, never which (the log lines name them).
pub struct QuarantineProbe {
    spec: ProbeSpec,
    guard: Arc<store::QuarantineGuard>,
}

impl QuarantineProbe {
    /// A warning-severity probe of `guard`'s quarantine.
    pub fn new(guard: Arc<store::QuarantineGuard>, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(
                STORE_QUARANTINE,
                "datastore",
                settings.interval,
                settings.timeout,
            )
            .severity(Severity::Warning),
            guard,
        }
    }
}

#[async_trait::async_trait]
impl Probe for QuarantineProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        match self.guard.quarantined() {
            0 => Observation::pass(0, "guilds"),
            n => Observation::with(
                Status::Fail,
                format!(
                    "{n} guild(s) quarantined: their stored rows are damaged, they were not \
                     restored and their commands are not saved; the log names them \
                     (\"guild quarantined\"), docs/runbooks/store.md says how to repair or drop them"
                ),
            )
            .value(n, "guilds"),
        }
    }
}
