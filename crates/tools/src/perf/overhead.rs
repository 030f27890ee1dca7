//! `dimby perf overhead`: what variants of a build cost against a baseline, from rounds of one
//! benchmark run interleaved in one go (`scripts/profiling-overhead`: without the `profiling`
//! feature, compiled in but inactive, and with CPU sampling). Per side: the median CPU per 1,000
//! units of work over the rounds and its spread (min .. max); per variant: the ratio of its median
//! to the baseline's, the range of the per-round ratios (round i against round i of the baseline,
//! which ran next to it) and whether the median ratio is within the variant's target. A
//! measurement, not a gate: nothing here fails on a target.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::bail;

use super::compare::{load_runs, median_of};
use crate::bench::figures::{CpuSampling, Figures};

/// One side's runs, reduced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Side {
    /// What ran ([`Figures::variant`]).
    pub variant: String,
    /// CPU ms per 1,000 units of work, per round, in round order.
    pub cpu_ms_per_1000: Vec<f64>,
    /// Their median.
    pub median: f64,
    /// The smallest round.
    pub min: f64,
    /// The largest round.
    pub max: f64,
    /// Instructions per 1,000 units of work, per round, when every round counted them.
    pub instructions_per_1000: Option<Vec<f64>>,
    /// The CPU sampler's figures (medians), when it ran.
    pub cpu_sampling: Option<CpuSampling>,
}

/// A variant against the baseline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Against {
    /// The variant's side.
    pub side: Side,
    /// Median / the baseline's median.
    pub ratio: f64,
    /// The smallest and largest per-round ratio (round i / the baseline's round i).
    pub round_ratios: (f64, f64),
    /// The largest acceptable increase (0.01 = 1 %), when one was given.
    pub target: Option<f64>,
    /// Whether `ratio` is within `1 + target`.
    pub within_target: Option<bool>,
    /// The ratio of median instructions per unit, when both sides counted them.
    pub instructions_ratio: Option<f64>,
}

/// The whole measurement.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Overhead {
    /// The benchmark scenario.
    pub scenario: String,
    /// The unit of work CPU is counted per.
    pub unit: String,
    /// Rounds of the baseline.
    pub rounds: usize,
    /// The baseline.
    pub base: Side,
    /// Each variant.
    pub variants: Vec<Against>,
}

/// Reads the baseline's and each variant's runs (files, arrays or directories, as `dimby perf
/// compare` takes them) and measures; `targets` go with the variants in order.
pub fn measure_paths(
    base: &std::path::Path,
    variants: &[PathBuf],
    targets: &[f64],
) -> anyhow::Result<Overhead> {
    let base = load_runs(base)?;
    let variants = variants
        .iter()
        .map(|path| load_runs(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    measure(&base, &variants, targets)
}

/// Measures `variants` (each its rounds, in round order) against `base`.
pub fn measure(
    base: &[Figures],
    variants: &[Vec<Figures>],
    targets: &[f64],
) -> anyhow::Result<Overhead> {
    if targets.len() > variants.len() {
        bail!(
            "{} targets for {} variants: one target per variant, in order",
            targets.len(),
            variants.len()
        );
    }
    let Some(first) = base.first() else {
        bail!("the baseline has no runs");
    };
    let Some(unit) = first.work.keys().next().cloned() else {
        bail!("the baseline's runs count no work");
    };
    let base_side = side(base, &unit)?;
    let mut against = Vec::new();
    for (i, runs) in variants.iter().enumerate() {
        if let Some(other) = runs.iter().find(|r| r.scenario != first.scenario) {
            bail!(
                "the baseline ran `{}` and a variant `{}`: compare one scenario",
                first.scenario,
                other.scenario
            );
        }
        let side = side(runs, &unit)?;
        let ratio = side.median / base_side.median;
        let per_round: Vec<f64> = side
            .cpu_ms_per_1000
            .iter()
            .zip(&base_side.cpu_ms_per_1000)
            .map(|(v, b)| v / b)
            .collect();
        let target = targets.get(i).copied();
        let instructions_ratio = match (
            &side.instructions_per_1000,
            &base_side.instructions_per_1000,
        ) {
            (Some(v), Some(b)) => Some(median_of(v.clone()) / median_of(b.clone())),
            _ => None,
        };
        against.push(Against {
            ratio,
            round_ratios: (min(&per_round), max(&per_round)),
            target,
            within_target: target.map(|t| ratio <= 1.0 + t),
            instructions_ratio,
            side,
        });
    }
    Ok(Overhead {
        scenario: first.scenario.clone(),
        unit,
        rounds: base.len(),
        base: base_side,
        variants: against,
    })
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn side(runs: &[Figures], unit: &str) -> anyhow::Result<Side> {
    let Some(first) = runs.first() else {
        bail!("a side has no runs");
    };
    if let Some(other) = runs.iter().find(|r| r.variant() != first.variant()) {
        bail!(
            "one side holds runs of two variants ({} and {})",
            first.variant(),
            other.variant()
        );
    }
    let mut cpu = Vec::new();
    let mut instructions = Vec::new();
    for run in runs {
        let work = run.work.get(unit).copied().unwrap_or(0);
        if work == 0 {
            bail!("a `{}` run did no {unit}", first.variant());
        }
        #[allow(clippy::cast_precision_loss)]
        let thousands = work as f64 / 1000.0;
        cpu.push(run.cpu_seconds * 1000.0 / thousands);
        #[allow(clippy::cast_precision_loss)]
        if let Some(count) = run.instructions {
            instructions.push(count as f64 / thousands);
        }
    }
    let cpu_sampling = crate::perf::compare::median(runs)?.cpu_sampling;
    Ok(Side {
        variant: first.variant(),
        median: median_of(cpu.clone()),
        min: min(&cpu),
        max: max(&cpu),
        cpu_ms_per_1000: cpu,
        instructions_per_1000: (instructions.len() == runs.len()).then_some(instructions),
        cpu_sampling,
    })
}

/// `1.0123` → `+1.23 %`.
fn percent(ratio: f64) -> String {
    format!("{:+.2} %", (ratio - 1.0) * 100.0)
}

impl Overhead {
    /// The table, the verdicts and the sampler's one-off cost, as plain text.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .variants
            .iter()
            .map(|a| a.side.variant.len())
            .chain([self.base.variant.len() + " (baseline)".len()])
            .max()
            .unwrap_or(10);
        let _ = writeln!(
            out,
            "`{}`, {} interleaved rounds: process CPU of the measured part per 1,000 {} (medians)",
            self.scenario, self.rounds, self.unit
        );
        let _ = writeln!(
            out,
            "{:<width$}  {:>11}  {:>21}  {:>7}  {:>11}  {:>21}  {:>6}",
            "variant",
            "median",
            "min .. max",
            "spread",
            "vs baseline",
            "per-round vs baseline",
            "target"
        );
        let spread = |s: &Side| (s.max - s.min) / s.median * 100.0;
        let _ = writeln!(
            out,
            "{:<width$}  {:>8.1} ms  {:>21}  {:>6.1}%",
            format!("{} (baseline)", self.base.variant),
            self.base.median,
            format!("{:.1} .. {:.1} ms", self.base.min, self.base.max),
            spread(&self.base),
        );
        for a in &self.variants {
            let _ = writeln!(
                out,
                "{:<width$}  {:>8.1} ms  {:>21}  {:>6.1}%  {:>11}  {:>21}  {:>6}",
                a.side.variant,
                a.side.median,
                format!("{:.1} .. {:.1} ms", a.side.min, a.side.max),
                spread(&a.side),
                percent(a.ratio),
                format!(
                    "{} .. {}",
                    percent(a.round_ratios.0),
                    percent(a.round_ratios.1)
                ),
                a.target
                    .map_or_else(|| "-".to_owned(), |t| format!("< {:.0}%", t * 100.0)),
            );
        }
        if self.variants.iter().any(|a| a.instructions_ratio.is_some()) {
            let _ = writeln!(out, "instructions per 1,000 {} (medians):", self.unit);
            for a in &self.variants {
                if let Some(ratio) = a.instructions_ratio {
                    let _ = writeln!(out, "  {}: {}", a.side.variant, percent(ratio));
                }
            }
        }
        self.verdicts(&mut out);
        out
    }

    /// Whether each median ratio is within its target, with the noise beside it, and what the
    /// sampler's profile cost to build.
    fn verdicts(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "verdicts (the median ratios; a measurement, not a gate):"
        );
        for a in &self.variants {
            let Some(target) = a.target else {
                let _ = writeln!(
                    out,
                    "  {}: {} (no target)",
                    a.side.variant,
                    percent(a.ratio)
                );
                continue;
            };
            let verdict = if a.ratio <= 1.0 + target {
                "WITHIN the target"
            } else {
                "ABOVE the target"
            };
            let (low, high) = a.round_ratios;
            let noise = if low <= 1.0 + target && high > 1.0 + target {
                format!(
                    " (but the per-round ratios, {} .. {}, lie on both sides of the target: \
                     the noise here is larger than the difference to be resolved)",
                    percent(low),
                    percent(high)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {}: {} against < {:.0} %: {verdict}{noise}",
                a.side.variant,
                percent(a.ratio),
                target * 100.0
            );
        }
        for a in &self.variants {
            if let Some(s) = a.side.cpu_sampling {
                let _ = writeln!(
                    out,
                    "  {}: {} samples a run; building each profile afterwards took {:.2} s CPU in \
                     {:.2} s, peak RSS {:.0} MiB (medians; once per profile, not in the ratio)",
                    a.side.variant,
                    s.samples,
                    s.profile_build_cpu_seconds,
                    s.profile_build_wall_seconds,
                    mib(s.profile_build_peak_rss_bytes)
                );
            }
        }
    }
}

fn mib(bytes: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures::Measured;

    fn run(cpu: f64, profiling: bool, hz: Option<u32>) -> Figures {
        let mut figures = Figures::new(
            "commands",
            Measured {
                cpu_seconds: cpu,
                peak_rss_bytes: 1,
            },
        )
        .work("commands", 2000)
        .sampled(hz.map(|hz| CpuSampling {
            hz,
            samples: 100,
            ..CpuSampling::default()
        }));
        figures.profiling = Some(profiling);
        figures
    }

    fn rounds(cpu: &[f64], profiling: bool, hz: Option<u32>) -> Vec<Figures> {
        cpu.iter().map(|c| run(*c, profiling, hz)).collect()
    }

    #[test]
    fn ratios_of_medians_spreads_and_verdicts() {
        let base = rounds(&[2.0, 2.2, 1.8, 2.0, 2.1], false, None);
        let inactive = rounds(&[2.0, 2.2, 1.8, 2.0, 2.1], true, None);
        let sampling = rounds(&[2.1, 2.3, 1.9, 2.1, 2.2], true, Some(99));
        let overhead = measure(&base, &[inactive, sampling], &[0.01, 0.03]).expect("measures");
        assert_eq!(overhead.unit, "commands");
        assert_eq!(overhead.rounds, 5);
        // 2.0 CPU s for 2,000 commands: 1,000 ms per 1,000.
        assert!((overhead.base.median - 1000.0).abs() < 1e-9);
        assert!((overhead.base.min - 900.0).abs() < 1e-9);
        assert!((overhead.base.max - 1100.0).abs() < 1e-9);
        let [inactive, sampling] = &overhead.variants[..] else {
            panic!("two variants");
        };
        assert!((inactive.ratio - 1.0).abs() < 1e-12);
        assert_eq!(inactive.within_target, Some(true));
        assert!((sampling.ratio - 1.05).abs() < 1e-12);
        assert_eq!(sampling.within_target, Some(false));
        assert_eq!(
            sampling.side.variant,
            "profiling compiled in, CPU sampling at 99 Hz"
        );
        let table = overhead.table();
        assert!(
            table.contains("without the profiling feature (baseline)"),
            "{table}"
        );
        assert!(
            table.contains("+5.00 % against < 3 %: ABOVE the target"),
            "{table}"
        );
        assert!(
            table.contains("+0.00 % against < 1 %: WITHIN the target"),
            "{table}"
        );
        assert!(table.contains("100 samples a run"), "{table}");
    }

    #[test]
    fn mixed_variants_or_too_many_targets_are_refused() {
        let base = rounds(&[2.0, 2.0], false, None);
        let mut mixed = rounds(&[2.0], true, None);
        mixed.push(run(2.0, true, Some(99)));
        let error = measure(&base, &[mixed], &[])
            .expect_err("mixed")
            .to_string();
        assert!(error.contains("two variants"), "{error}");
        let inactive = rounds(&[2.0, 2.0], true, None);
        assert!(measure(&base, &[inactive], &[0.01, 0.03]).is_err());
    }
}
