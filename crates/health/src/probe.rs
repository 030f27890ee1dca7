//! What a probe is and what it observes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A check's status, as the health+json draft names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy with concerns.
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The wire name, also a bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// How much a failing probe matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Its failure fails the whole report.
    Critical,
    /// Its failure only warns.
    Warning,
}

/// A probe's identity and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The check key, `component:measurement` (e.g. `lavalink:responseTime`).
    pub name: String,
    /// Which instance of the component (e.g. the node's name); several probes can share a name.
    pub component_id: Option<String>,
    /// `component`, `datastore`, `system`, ... (the draft's componentType).
    pub component_type: String,
    /// Time between checks.
    pub interval: Duration,
    /// A check that takes longer fails.
    pub timeout: Duration,
    /// Critical or warning.
    pub severity: Severity,
    /// Consecutive failures before the check reports `fail`.
    pub failure_threshold: u32,
}

impl ProbeSpec {
    /// A critical probe checked every `interval` with a `timeout`, failing after 1 failure.
    pub fn new(
        name: impl Into<String>,
        component_type: impl Into<String>,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            component_id: None,
            component_type: component_type.into(),
            interval,
            timeout,
            severity: Severity::Critical,
            failure_threshold: 1,
        }
    }

    /// The same probe for one instance of the component.
    #[must_use]
    pub fn component(mut self, id: impl Into<String>) -> Self {
        self.component_id = Some(id.into());
        self
    }

    /// The same probe with another severity.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The same probe failing only after `n` consecutive failures.
    #[must_use]
    pub fn threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n.max(1);
        self
    }

    /// The cache key: name and component.
    pub fn key(&self) -> String {
        match &self.component_id {
            Some(id) => format!("{}#{id}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Its raw status (before the failure threshold).
    pub status: Status,
    /// The measured value, if any (a number, a string, a boolean).
    pub observed_value: Option<serde_json::Value>,
    /// Its unit (`ms`, `percent`, `count`, ...).
    pub observed_unit: Option<String>,
    /// A short human explanation, mostly for warn and fail. Never a secret or a user id.
    pub output: Option<String>,
}

impl Observation {
    /// A passing check with a value and unit.
    pub fn pass(value: impl Into<serde_json::Value>, unit: &str) -> Self {
        Self {
            status: Status::Pass,
            observed_value: Some(value.into()),
            observed_unit: Some(unit.to_owned()),
            output: None,
        }
    }

    /// A check with a status and an explanation.
    pub fn with(status: Status, output: impl Into<String>) -> Self {
        Self {
            status,
            observed_value: None,
            observed_unit: None,
            output: Some(output.into()),
        }
    }

    /// The same observation with a value and unit.
    #[must_use]
    pub fn value(mut self, value: impl Into<serde_json::Value>, unit: &str) -> Self {
        self.observed_value = Some(value.into());
        self.observed_unit = Some(unit.to_owned());
        self
    }
}

/// One thing to check.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// Its identity and schedule.
    fn spec(&self) -> &ProbeSpec;

    /// Checks once. The registry bounds it by the spec's timeout.
    async fn check(&self) -> Observation;
}
