//! The figures of one benchmark run in a fixed shape, so two builds can be compared
//! (`dimby perf compare`). `dimby bench failover|health --figures FILE` writes them, and
//! [`Figures::of_commands`] turns a `dimby bench commands` report into them.
//!
//! The JSON (schema 1):
//!
//! ```json
//! {
//!   "schema": 1,
//!   "scenario": "failover",
//!   "build": "release",
//!   "work": { "players_moved": 358 },
//!   "cpu_seconds": 1.92,
//!   "peak_rss_bytes": 61865984,
//!   "latency_ms": {
//!     "recovery": { "count": 358, "p50": 246.0, "p99": 278.0, "max": 278.0 }
//!   },
//!   "instructions": 1234567890,
//!   "profiling": true,
//!   "cpu_sampling": {
//!     "hz": 99, "samples": 412,
//!     "profile_build_cpu_seconds": 1.9, "profile_build_wall_seconds": 1.7,
//!     "profile_build_peak_rss_bytes": 283115520
//!   }
//! }
//! ```
//!
//! - `scenario`: the `dimby bench` scenario; only runs of one scenario are compared.
//! - `build`: `release` or `debug` (informational).
//! - `work`: counts of the units of work the run did, by name; CPU is compared per unit of each.
//! - `cpu_seconds`: the process's user + system CPU time over the measured part of the run (the
//!   stand-ins run in the same process and are included).
//! - `peak_rss_bytes`: the process's peak resident set size (`VmHWM`) at the end of the run.
//! - `latency_ms`: percentiles by name, in milliseconds ([`Percentiles`]: `count`, `p50`, `p99`,
//!   `max`).
//! - `instructions` (optional): instructions retired by the run, where something outside measured
//!   them (`perf stat` in `scripts/perf-check`).
//! - `profiling` (optional; absent in figures from before it was recorded): whether the build had
//!   the `profiling` feature compiled in.
//! - `cpu_sampling` (optional): the CPU sampler that ran over the measured part
//!   (`dimby bench commands --cpu-sampling-hz`): its frequency, the samples it took, and what
//!   building its profile took afterwards (CPU, wall time, the process's peak RSS after it), which
//!   is *not* in `cpu_seconds` or `peak_rss_bytes`. `profiling` and `cpu_sampling.hz` make the
//!   run's variant ([`Figures::variant`]), which `scripts/profiling-overhead` compares.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use telemetry::process::ProcessSample;

use super::Percentiles;

/// The schema this build writes.
pub const SCHEMA: u32 = 1;

/// The figures of one run; see the module docs for the JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// The shape of this record ([`SCHEMA`]).
    pub schema: u32,
    /// The `dimby bench` scenario.
    pub scenario: String,
    /// `release` or `debug`.
    #[serde(default)]
    pub build: String,
    /// Units of work done, by name.
    pub work: BTreeMap<String, u64>,
    /// Process CPU seconds (user + system) of the measured part.
    pub cpu_seconds: f64,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: u64,
    /// Latency percentiles by name, milliseconds.
    #[serde(default)]
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// Instructions retired, when measured from outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    /// Whether the `profiling` feature was compiled in (`None`: not recorded, older figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiling: Option<bool>,
    /// The CPU sampler over the measured part, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_sampling: Option<CpuSampling>,
}

/// The CPU sampler that ran over a benchmark's measured part (the one `/debug/pprof/profile`
/// uses), and what building its profile took once the measured part was over.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuSampling {
    /// Samples a CPU-second.
    pub hz: u32,
    /// Samples taken.
    pub samples: u64,
    /// Process CPU seconds while the profile was built (symbolized and encoded as pprof), after
    /// the measured part: not in [`Figures::cpu_seconds`].
    pub profile_build_cpu_seconds: f64,
    /// Wall seconds the build took.
    pub profile_build_wall_seconds: f64,
    /// The process's peak RSS once the profile was built (symbolizing reads the binary's debug
    /// information): not in [`Figures::peak_rss_bytes`], which is read before.
    pub profile_build_peak_rss_bytes: u64,
}

impl Figures {
    /// Empty figures of `scenario` measured by `measured`.
    pub fn new(scenario: &str, measured: Measured) -> Self {
        Self {
            schema: SCHEMA,
            scenario: scenario.to_owned(),
            build: super::BUILD.to_owned(),
            work: BTreeMap::new(),
            cpu_seconds: measured.cpu_seconds,
            peak_rss_bytes: measured.peak_rss_bytes,
            latency_ms: BTreeMap::new(),
            instructions: None,
            profiling: Some(admin::profiling::BUILT_WITH_PROFILING),
            cpu_sampling: None,
        }
    }

    /// What ran, in words: whether the `profiling` feature was compiled in and whether the CPU
    /// sampler ran.
    pub fn variant(&self) -> String {
        match (self.profiling, self.cpu_sampling) {
            (_, Some(sampling)) => {
                format!("profiling compiled in, CPU sampling at {} Hz", sampling.hz)
            }
            (Some(true), None) => "profiling compiled in, inactive".to_owned(),
            (Some(false), None) => "without the profiling feature".to_owned(),
            (None, None) => "profiling feature not recorded".to_owned(),
        }
    }

    /// Adds a count of work.
    #[must_use]
    pub fn work(mut self, name: &str, count: u64) -> Self {
        self.work.insert(name.to_owned(), count);
        self
    }

    /// Adds latency percentiles.
    #[must_use]
    pub fn latency(mut self, name: &str, percentiles: Percentiles) -> Self {
        self.latency_ms.insert(name.to_owned(), percentiles);
        self
    }

    /// Writes the figures as pretty JSON.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the figures to {}", path.display()))
    }

    /// The figures of a `dimby bench failover` run.
    pub fn of_failover(report: &super::failover::Report, measured: Measured) -> Self {
        Self::new("failover", measured)
            .work(
                "players_moved",
                u64::try_from(report.recovery_ms.count).unwrap_or(0),
            )
            .latency("recovery", report.recovery_ms)
            .latency("position_error", report.position_error_ms)
    }

    /// The figures of a `dimby bench health` run.
    pub fn of_health(report: &super::health::Report, measured: Measured) -> Self {
        Self::new("health", measured)
            .work(
                "requests",
                u64::try_from(report.healthz_ms.count + report.readyz_ms.count).unwrap_or(0),
            )
            .latency("healthz", report.healthz_ms)
            .latency("readyz", report.readyz_ms)
    }

    /// The figures of a `dimby bench commands` run (it measures its own CPU, over the measured
    /// phase).
    pub fn of_commands(report: &super::commands::Report) -> Self {
        Self::new(
            "commands",
            Measured {
                cpu_seconds: report.cpu_seconds,
                peak_rss_bytes: report.peak_rss_bytes,
            },
        )
        .work("commands", u64::try_from(report.commands).unwrap_or(0))
        .latency("to_answer", report.measured.to_answer_ms)
        .latency("to_lavalink", report.measured.to_lavalink_ms)
        .sampled(report.cpu_sampling)
    }

    /// Records the CPU sampler that ran over the measured part, if one did.
    #[must_use]
    pub fn sampled(mut self, sampling: Option<CpuSampling>) -> Self {
        self.cpu_sampling = sampling;
        self
    }
}

/// CPU and peak memory over part of a run, read from `/proc/self`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size at the end, bytes.
    pub peak_rss_bytes: u64,
}

/// Starts measuring; [`Measuring::finish`] reads the figures.
#[derive(Debug, Clone, Copy)]
pub struct Measuring(Option<ProcessSample>);

impl Measuring {
    /// Reads the process's CPU time now.
    pub fn start() -> Self {
        Self(ProcessSample::now())
    }

    /// CPU since [`Measuring::start`] and the peak RSS so far (zeros where `/proc` is missing).
    pub fn finish(self) -> Measured {
        let now = ProcessSample::now();
        match (self.0, now) {
            (Some(before), Some(now)) => Measured {
                cpu_seconds: now.cpu.saturating_sub(before.cpu).as_secs_f64(),
                peak_rss_bytes: now.peak_resident_bytes,
            },
            _ => Measured::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_round_trip_through_json() {
        let figures = Figures::new(
            "failover",
            Measured {
                cpu_seconds: 1.5,
                peak_rss_bytes: 1 << 20,
            },
        )
        .work("players_moved", 300)
        .latency("recovery", Percentiles::of(vec![1.0, 2.0, 3.0]));
        let json = serde_json::to_string(&figures).expect("json");
        assert!(!json.contains("instructions"), "{json}");
        let back: Figures = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, figures);
        let minimal: Figures = serde_json::from_str(
            r#"{"schema":1,"scenario":"x","work":{},"cpu_seconds":1,"peak_rss_bytes":2}"#,
        )
        .expect("optional fields");
        assert!(minimal.latency_ms.is_empty());
        assert_eq!(minimal.profiling, None);
        assert_eq!(minimal.variant(), "profiling feature not recorded");
    }

    #[test]
    fn the_variant_says_what_ran() {
        let figures = Figures::new("commands", Measured::default());
        assert_eq!(
            figures.profiling,
            Some(admin::profiling::BUILT_WITH_PROFILING)
        );
        let expected = if admin::profiling::BUILT_WITH_PROFILING {
            "profiling compiled in, inactive"
        } else {
            "without the profiling feature"
        };
        assert_eq!(figures.variant(), expected);
        let sampled = figures.sampled(Some(CpuSampling {
            hz: 99,
            ..CpuSampling::default()
        }));
        assert_eq!(
            sampled.variant(),
            "profiling compiled in, CPU sampling at 99 Hz"
        );
        let json = serde_json::to_value(&sampled).expect("json");
        assert_eq!(json["cpu_sampling"]["hz"], 99);
        let back: Figures = serde_json::from_value(json).expect("parse");
        assert_eq!(back, sampled);
    }
}
