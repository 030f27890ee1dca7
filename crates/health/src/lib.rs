//! The probe framework behind DimbyBot's health endpoints and its CI gate.
//!
//! A [`Probe`] checks one thing (a node's REST round trip, the store, a shard) and says pass, warn
//! or fail with an observed value. [`HealthRegistry::spawn`] runs each probe on its own task at its
//! own interval with a timeout; results are cached, so endpoints only read the cache and never wait
//! on a remote. A probe's failure counts only after `failure_threshold` consecutive failures (before
//! that it reports `warn`); a probe of [`Severity::Warning`] can at most make the whole report
//! `warn`. [`HealthReport`] renders the cache as `application/health+json`
//! (draft-inadarei-api-health-check): checks keyed `component:measurement`.

mod probe;
mod registry;
mod report;

pub use probe::{Observation, Probe, ProbeSpec, Severity, Status};
pub use registry::{CheckResult, HealthRegistry};
pub use report::{CheckEntry, HealthReport, MEDIA_TYPE};
