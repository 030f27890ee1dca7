//! The `application/health+json` document (draft-inadarei-api-health-check).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::probe::Status;
use crate::registry::CheckResult;

/// The media type of the report.
pub const MEDIA_TYPE: &str = "application/health+json";

/// One entry of `checks["component:measurement"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckEntry {
    /// Which instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    /// What kind of component.
    pub component_type: String,
    /// The measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<serde_json::Value>,
    /// Its unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_unit: Option<String>,
    /// pass, warn or fail.
    pub status: Status,
    /// When it was checked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// What is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The overall status.
    pub status: Status,
    /// The API version of this document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The service's release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// The service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// What the service is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The checks, keyed `component:measurement` (only for authenticated callers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<CheckEntry>>,
}

impl HealthReport {
    /// A report of `results` under the overall `status`; with `detailed` false only the status.
    pub fn new(status: Status, results: &[CheckResult], detailed: bool) -> Self {
        let mut checks: BTreeMap<String, Vec<CheckEntry>> = BTreeMap::new();
        if detailed {
            for result in results {
                checks
                    .entry(result.spec.name.clone())
                    .or_default()
                    .push(CheckEntry {
                        component_id: result.spec.component_id.clone(),
                        component_type: result.spec.component_type.clone(),
                        observed_value: result.observation.observed_value.clone(),
                        observed_unit: result.observation.observed_unit.clone(),
                        status: result.status,
                        time: result
                            .checked_at
                            .map(|t| humantime::format_rfc3339_millis(t).to_string()),
                        output: result.observation.output.clone(),
                    });
            }
        }
        Self {
            status,
            version: detailed.then(|| "1".to_owned()),
            release_id: detailed.then(|| env!("CARGO_PKG_VERSION").to_owned()),
            service_id: detailed.then(|| "dimby".to_owned()),
            description: detailed.then(|| "DimbyBot, a Discord music bot".to_owned()),
            checks,
        }
    }

    /// The HTTP status the draft prescribes: 2xx for pass and warn, 503 for fail.
    pub fn http_status(&self) -> u16 {
        if self.status == Status::Fail {
            503
        } else {
            200
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::probe::{Observation, ProbeSpec};

    #[test]
    fn renders_the_draft_shape_and_hides_details_from_anonymous_callers() {
        let result = CheckResult {
            spec: ProbeSpec::new(
                "lavalink:responseTime",
                "component",
                Duration::from_secs(5),
                Duration::from_secs(2),
            )
            .component("n1"),
            status: Status::Pass,
            observation: Observation::pass(12, "ms"),
            consecutive_failures: 0,
            checked_at: Some(SystemTime::UNIX_EPOCH),
            duration: Duration::from_millis(12),
        };
        let detailed = serde_json::to_value(HealthReport::new(
            Status::Pass,
            std::slice::from_ref(&result),
            true,
        ))
        .expect("json");
        assert_eq!(detailed["status"], "pass");
        let entry = &detailed["checks"]["lavalink:responseTime"][0];
        assert_eq!(entry["componentId"], "n1");
        assert_eq!(entry["componentType"], "component");
        assert_eq!(entry["observedValue"], 12);
        assert_eq!(entry["observedUnit"], "ms");
        assert_eq!(entry["time"], "1970-01-01T00:00:00.000Z");

        let anonymous =
            serde_json::to_value(HealthReport::new(Status::Fail, &[result], false)).expect("json");
        assert_eq!(anonymous, serde_json::json!({"status": "fail"}));
        assert_eq!(
            HealthReport::new(Status::Fail, &[], false).http_status(),
            503
        );
        assert_eq!(
            HealthReport::new(Status::Warn, &[], false).http_status(),
            200
        );
    }
}
