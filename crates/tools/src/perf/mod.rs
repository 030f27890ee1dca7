//! `dimby perf`: the performance regression guard's tools. `compare` reads the figures of two
//! builds' benchmark runs (`bench/figures.rs`) and fails when one regressed past a threshold.
//! The release check (`scripts/perf-check`) runs both builds interleaved and compares medians;
//! the per-submission guard (`scripts/perf-guard`) counts instructions instead (docs/profiling.md).
//! `overhead` measures what variants of a build cost against a baseline
//! (`scripts/profiling-overhead`).

pub mod compare;
pub mod overhead;

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The perf commands.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Compare two runs' figures (files, arrays of runs, or directories of *.json: medians);
    /// exit 1 when CPU per unit of work, peak RSS, a p99 or instructions regressed past the
    /// threshold.
    Compare(CompareArgs),
    /// What variants cost against a baseline, from interleaved rounds of one benchmark: median
    /// CPU per 1,000 units of work, spreads, ratios and targets (scripts/profiling-overhead).
    /// Never fails on a target: a measurement.
    Overhead(OverheadArgs),
}

/// Options of `dimby perf overhead`.
#[derive(Debug, Args)]
pub struct OverheadArgs {
    /// The baseline's rounds: a directory of *.json runs (in round order by name), a figures file
    /// or a JSON array.
    pub base: PathBuf,
    /// Each variant's rounds, in the same forms.
    #[arg(required = true)]
    pub variants: Vec<PathBuf>,
    /// The largest acceptable CPU increase of each variant, in the variants' order (`1%`).
    #[arg(long = "target", value_parser = compare::parse_percent)]
    pub targets: Vec<f64>,
    /// Print the measurement as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `dimby perf compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a figures file, a JSON array of runs, or a directory of *.json runs.
    pub base: PathBuf,
    /// The candidate, in the same forms.
    pub new: PathBuf,
    /// The largest acceptable increase of a gated figure, in percent (`20%` or `20`).
    #[arg(long, default_value = "20%", value_parser = compare::parse_percent)]
    pub max_regression: f64,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs a perf command; `Ok(false)` means a regression (exit code 1).
pub fn run(command: &PerfCommand) -> anyhow::Result<bool> {
    match command {
        PerfCommand::Compare(args) => {
            let base = compare::load(&args.base)?;
            let new = compare::load(&args.new)?;
            let comparison = compare::compare(&base, &new, args.max_regression)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
            } else {
                print!("{}", comparison.table());
            }
            Ok(!comparison.regressed())
        }
        PerfCommand::Overhead(args) => {
            let overhead = overhead::measure_paths(&args.base, &args.variants, &args.targets)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&overhead)?);
            } else {
                print!("{}", overhead.table());
            }
            Ok(true)
        }
    }
}
