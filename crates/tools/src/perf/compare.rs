//! Comparing the figures of a baseline and a candidate: a row per figure with old, new and their
//! ratio. The gated figures (CPU per unit of work, peak RSS, each latency's p99, instructions)
//! fail the comparison when new/old exceeds 1 + the threshold; the rest are shown for reading.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::bench::Percentiles;
use crate::bench::figures::{CpuSampling, Figures};

/// `20%`, `20` → 0.20.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value / 100.0),
        _ => Err(format!(
            "{text:?} is not a percentage like 20% (a number, not negative)"
        )),
    }
}

/// Reads runs: one figures object, a JSON array of them, or a directory of `*.json` files (each
/// one or an array). Several runs are reduced to their medians.
pub fn load(path: &Path) -> anyhow::Result<Figures> {
    let runs = load_runs(path)?;
    median(&runs).with_context(|| format!("figures in {}", path.display()))
}

/// Reads runs as [`load`] does, without reducing them: a directory's files in name order.
pub fn load_runs(path: &Path) -> anyhow::Result<Vec<Figures>> {
    let mut runs = Vec::new();
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            runs.extend(read(&file)?);
        }
    } else {
        runs = read(path)?;
    }
    if runs.is_empty() {
        bail!("no runs in {}", path.display());
    }
    Ok(runs)
}

fn read(path: &Path) -> anyhow::Result<Vec<Figures>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let runs = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|one| vec![one])
    };
    runs.with_context(|| {
        format!(
            "{} is not benchmark figures (see crates/tools/src/bench/figures.rs)",
            path.display()
        )
    })
}

/// The median of the finite values (NaN when there are none).
pub fn median_of(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    median_of(values.map(|v| v as f64).collect()).round() as u64
}

/// The median of each figure over several runs of one scenario.
pub fn median(runs: &[Figures]) -> anyhow::Result<Figures> {
    let Some(first) = runs.first() else {
        bail!("no runs");
    };
    if let Some(other) = runs.iter().find(|r| r.scenario != first.scenario) {
        bail!(
            "runs of different scenarios ({} and {}) cannot be combined",
            first.scenario,
            other.scenario
        );
    }
    if let Some(other) = runs.iter().find(|r| r.variant() != first.variant()) {
        bail!(
            "runs of different variants ({} and {}) cannot be combined",
            first.variant(),
            other.variant()
        );
    }
    if runs.len() == 1 {
        return Ok(first.clone());
    }
    let mut result = first.clone();
    result.cpu_seconds = median_of(runs.iter().map(|r| r.cpu_seconds).collect());
    result.peak_rss_bytes = median_u64(runs.iter().map(|r| r.peak_rss_bytes));
    result.work = first
        .work
        .keys()
        .map(|name| {
            let count = median_u64(runs.iter().filter_map(|r| r.work.get(name).copied()));
            (name.clone(), count)
        })
        .collect();
    result.latency_ms = first
        .latency_ms
        .keys()
        .map(|name| {
            let all: Vec<&Percentiles> =
                runs.iter().filter_map(|r| r.latency_ms.get(name)).collect();
            let pick = |f: fn(&Percentiles) -> f64| median_of(all.iter().map(|p| f(p)).collect());
            let percentiles = Percentiles {
                count: usize::try_from(median_u64(
                    all.iter().map(|p| u64::try_from(p.count).unwrap_or(0)),
                ))
                .unwrap_or(0),
                p50: pick(|p| p.p50),
                p99: pick(|p| p.p99),
                max: pick(|p| p.max),
            };
            (name.clone(), percentiles)
        })
        .collect();
    let instructions: Vec<u64> = runs.iter().filter_map(|r| r.instructions).collect();
    result.instructions =
        (instructions.len() == runs.len()).then(|| median_u64(instructions.into_iter()));
    result.cpu_sampling = first.cpu_sampling.map(|s| {
        let all: Vec<_> = runs.iter().filter_map(|r| r.cpu_sampling).collect();
        let pick = |f: fn(&CpuSampling) -> f64| median_of(all.iter().map(f).collect());
        CpuSampling {
            hz: s.hz,
            samples: median_u64(all.iter().map(|a| a.samples)),
            profile_build_cpu_seconds: pick(|a| a.profile_build_cpu_seconds),
            profile_build_wall_seconds: pick(|a| a.profile_build_wall_seconds),
            profile_build_peak_rss_bytes: median_u64(
                all.iter().map(|a| a.profile_build_peak_rss_bytes),
            ),
        }
    });
    Ok(result)
}

/// One figure of the comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    /// What it is.
    pub figure: String,
    /// The baseline's value.
    pub base: f64,
    /// The candidate's value.
    pub new: f64,
    /// new / base (1 when both are zero, infinite when only the baseline is).
    pub ratio: f64,
    /// Whether this figure can fail the comparison.
    pub gated: bool,
    /// Whether it did.
    pub regressed: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The scenario compared.
    pub scenario: String,
    /// What ran on the baseline's side ([`Figures::variant`]).
    pub base_variant: String,
    /// What ran on the candidate's side.
    pub new_variant: String,
    /// The threshold (0.20 = 20 %).
    pub max_regression: f64,
    /// Every figure.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Whether any gated figure regressed past the threshold.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.regressed)
    }

    /// A plain-text table, with a verdict line.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
        if self.base_variant != self.new_variant {
            let _ = writeln!(
                out,
                "base: {}; new: {}",
                self.base_variant, self.new_variant
            );
        }
        let _ = writeln!(
            out,
            "{:<width$}  {:>14}  {:>14}  {:>7}",
            "figure", "base", "new", "ratio"
        );
        for row in &self.rows {
            let mark = if row.regressed {
                format!("  REGRESSED (> {:.2})", 1.0 + self.max_regression)
            } else if row.gated {
                String::new()
            } else {
                "  (not gated)".to_owned()
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>14}  {:>14}  {:>7.3}{mark}",
                row.figure,
                number(row.base),
                number(row.new),
                row.ratio
            );
        }
        let regressed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.regressed)
            .map(|r| r.figure.as_str())
            .collect();
        if regressed.is_empty() {
            let _ = writeln!(
                out,
                "{}: no gated figure regressed by more than {:.0}%",
                self.scenario,
                self.max_regression * 100.0
            );
        } else {
            let _ = writeln!(
                out,
                "{}: REGRESSION past {:.0}%: {}",
                self.scenario,
                self.max_regression * 100.0,
                regressed.join(", ")
            );
        }
        out
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        // Counts and bytes: whole numbers, in full.
        format!("{value:.0}")
    } else if value.abs() >= 1e6 || (value != 0.0 && value.abs() < 1e-2) {
        // Large and small ones (CPU seconds per unit of work) with their significant digits.
        format!("{value:.4e}")
    } else {
        format!("{value:.4}")
    }
}

fn ratio(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        if new == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        new / base
    }
}

/// Compares `new` with `base`; `max_regression` is a fraction (0.20 = 20 %).
pub fn compare(base: &Figures, new: &Figures, max_regression: f64) -> anyhow::Result<Comparison> {
    if base.scenario != new.scenario {
        bail!(
            "the baseline is a `{}` run and the candidate a `{}` run",
            base.scenario,
            new.scenario
        );
    }
    let mut rows = Vec::new();
    let mut push = |figure: String, b: f64, n: f64, gated: bool| {
        let ratio = ratio(b, n);
        let regressed = gated && !ratio.is_nan() && ratio > 1.0 + max_regression;
        rows.push(Row {
            figure,
            base: b,
            new: n,
            ratio,
            gated,
            regressed,
        });
    };
    push(
        "cpu_seconds".into(),
        base.cpu_seconds,
        new.cpu_seconds,
        false,
    );
    let work: BTreeMap<&String, (u64, u64)> = base
        .work
        .iter()
        .filter_map(|(name, b)| new.work.get(name).map(|n| (name, (*b, *n))))
        .collect();
    for (name, (b, n)) in work {
        if b == 0 || n == 0 {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let (b, n) = (base.cpu_seconds / b as f64, new.cpu_seconds / n as f64);
        push(format!("cpu_seconds per {name}"), b, n, true);
    }
    #[allow(clippy::cast_precision_loss)]
    push(
        "peak_rss_bytes".into(),
        base.peak_rss_bytes as f64,
        new.peak_rss_bytes as f64,
        true,
    );
    for (name, b) in &base.latency_ms {
        if let Some(n) = new.latency_ms.get(name) {
            push(format!("{name} p50 ms"), b.p50, n.p50, false);
            push(format!("{name} p99 ms"), b.p99, n.p99, true);
        }
    }
    if let (Some(b), Some(n)) = (base.instructions, new.instructions) {
        #[allow(clippy::cast_precision_loss)]
        push("instructions".into(), b as f64, n as f64, true);
    }
    Ok(Comparison {
        scenario: base.scenario.clone(),
        base_variant: base.variant(),
        new_variant: new.variant(),
        max_regression,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures::Measured;

    fn run(cpu: f64, rss: u64, p99: f64) -> Figures {
        Figures::new(
            "failover",
            Measured {
                cpu_seconds: cpu,
                peak_rss_bytes: rss,
            },
        )
        .work("players_moved", 300)
        .latency(
            "recovery",
            Percentiles {
                count: 300,
                p50: p99 / 2.0,
                p99,
                max: p99 * 1.1,
            },
        )
    }

    #[test]
    fn an_equal_pair_passes() {
        let base = run(2.0, 100 << 20, 250.0);
        let comparison = compare(&base, &base.clone(), 0.20).expect("same scenario");
        assert!(!comparison.regressed(), "{}", comparison.table());
        assert!(
            comparison
                .rows
                .iter()
                .all(|r| (r.ratio - 1.0).abs() < 1e-12)
        );
    }

    #[test]
    fn a_synthetic_30_percent_regression_is_flagged() {
        let base = run(2.0, 100 << 20, 250.0);
        for (new, figure) in [
            (run(2.6, 100 << 20, 250.0), "cpu_seconds per players_moved"),
            (run(2.0, 130 << 20, 250.0), "peak_rss_bytes"),
            (run(2.0, 100 << 20, 325.0), "recovery p99 ms"),
        ] {
            let comparison = compare(&base, &new, 0.20).expect("same scenario");
            assert!(comparison.regressed(), "{}", comparison.table());
            let flagged: Vec<&str> = comparison
                .rows
                .iter()
                .filter(|r| r.regressed)
                .map(|r| r.figure.as_str())
                .collect();
            assert_eq!(flagged, vec![figure]);
            assert!(comparison.table().contains("REGRESSED"));
        }
        // Within the threshold, and improvements, pass.
        assert!(
            !compare(&base, &run(2.3, 90 << 20, 200.0), 0.20)
                .expect("ok")
                .regressed()
        );
        // The same work with fewer units done counts as more CPU per unit.
        let mut fewer = run(2.0, 100 << 20, 250.0);
        fewer.work.insert("players_moved".into(), 200);
        assert!(compare(&base, &fewer, 0.20).expect("ok").regressed());
    }

    #[test]
    fn medians_of_runs_and_mismatched_scenarios() {
        let runs = [
            run(1.0, 100, 10.0),
            run(9.0, 300, 30.0),
            run(2.0, 200, 20.0),
        ];
        let median = median(&runs).expect("median");
        assert!((median.cpu_seconds - 2.0).abs() < 1e-12);
        assert_eq!(median.peak_rss_bytes, 200);
        assert!((median.latency_ms["recovery"].p99 - 20.0).abs() < 1e-12);
        let mut other = run(1.0, 1, 1.0);
        other.scenario = "health".into();
        assert!(compare(&runs[0], &other, 0.2).is_err());
        assert!(super::median(&[runs[0].clone(), other]).is_err());
        let mut unrecorded = run(1.0, 1, 1.0);
        unrecorded.profiling = None;
        let error = super::median(&[runs[0].clone(), unrecorded])
            .expect_err("two variants")
            .to_string();
        assert!(error.contains("variants"), "{error}");
    }

    #[test]
    fn thresholds_parse_as_percentages() {
        assert!((parse_percent("20%").expect("ok") - 0.20).abs() < 1e-12);
        assert!((parse_percent("5").expect("ok") - 0.05).abs() < 1e-12);
        assert!(parse_percent("-3%").is_err());
        assert!(parse_percent("lots").is_err());
    }

    #[test]
    fn files_arrays_and_directories_load() {
        let dir = tempfile::tempdir().expect("dir");
        for (i, cpu) in [1.0, 3.0, 2.0].iter().enumerate() {
            run(*cpu, 100, 10.0)
                .write(&dir.path().join(format!("run-{i}.json")))
                .expect("write");
        }
        let loaded = load(dir.path()).expect("directory");
        assert!((loaded.cpu_seconds - 2.0).abs() < 1e-12);
        let array = dir.path().join("all.array");
        let runs = [run(1.0, 100, 10.0), run(5.0, 100, 10.0)];
        std::fs::write(&array, serde_json::to_string(&runs).expect("json")).expect("write");
        assert!((load(&array).expect("array").cpu_seconds - 3.0).abs() < 1e-12);
        std::fs::write(&array, "{\"not\": \"figures\"}").expect("write");
        let error = load(&array).expect_err("not figures").to_string();
        assert!(error.contains("figures"), "{error}");
    }
}
