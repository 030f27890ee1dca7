//! `dimby bench <scenario>`: benchmarks that need more than one crate, run against in-process
//! stand-ins over loopback. Each prints its figures (JSON with `--json`); none asserts a target,
//! since these machines are shared and noisy: targets are compared by a reader, as ratios.

#![allow(clippy::disallowed_methods, reason = "benchmarks measure real time")]

pub mod commands;
pub mod deploy;
pub mod failover;
pub mod figures;
pub mod health;
pub mod metrics_overhead;
pub mod realserver;
pub mod sampling;
pub mod scale_out;
pub mod stop;
pub mod storage;
pub mod ux;

use clap::Subcommand;

/// The benchmark scenarios.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Players on a cluster of stand-in nodes; the busiest node crashes, hangs or is drained.
    Failover(failover::Args),
    /// Health endpoint latency under load, and node-failure-to-alert times.
    Health(health::Args),
    /// Slash command latency, memory per guild and CPU per command: the real bot, 1,000 guilds.
    Commands(commands::Args),
    /// What recording metrics costs (on/off rounds interleaved) and what a /metrics scrape costs.
    MetricsOverhead(metrics_overhead::Args),
    /// The cluster against real Lavalink-compatible servers on loopback (../shared/realserver):
    /// a node is killed, stopped or hung; audio gaps as the fake voice server heard them.
    RealFailover(realserver::Args),
    /// Blue-green deploys of the real bot with every guild playing and listeners at work: gate,
    /// time without a serving process, answer gap, audio lost, rollback time of a failing build.
    Deploy(deploy::Args),
    /// How `dimby run` stops with every guild playing (SIGTERM, or SIGUSR2 for a handover): how
    /// long it takes to exit and what it leaves in the store and on the node.
    Stop(stop::Args),
    /// What the store costs on SQLite and on PostgreSQL, in one run: restore, the position tick
    /// and command writes of several processes sharing one database, and identify reservations.
    Store(storage::Args),
    /// One application split over several `dimby run` processes sharing one store: start-up to
    /// every shard ready through the shared identify queue, memory and CPU per process, and how
    /// they grow from 1,000 to 10,000 guilds.
    ScaleOut(scale_out::Args),
    /// What Discord sees of the bot: autocomplete latency with many users typing into `/play`,
    /// and the now-playing panel's REST traffic (posts, edits, deletions, 429s) with every
    /// guild playing.
    Ux(ux::Args),
}

/// Runs a benchmark scenario to completion.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Failover(args) => failover::run(&args).await,
        BenchCommand::RealFailover(args) => realserver::run(&args).await,
        BenchCommand::Stop(args) => stop::run(&args).await,
        BenchCommand::Store(args) => storage::run(&args).await,
        BenchCommand::ScaleOut(args) => scale_out::run(&args).await,
        BenchCommand::Deploy(args) => deploy::run(&args).await,
        BenchCommand::Health(args) => health::run(&args).await,
        BenchCommand::Commands(args) => commands::run(&args).await,
        BenchCommand::MetricsOverhead(args) => metrics_overhead::run(&args).await,
        BenchCommand::Ux(args) => ux::run(&args).await,
    }
}

/// The build the figures come from: `"release"` or `"debug"` (debug figures are not comparable).
pub const BUILD: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// A fresh store directory for a benchmark's bot, unique to this process and moment.
pub fn fresh_data_dir(scenario: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "dimby-bench-{scenario}-{}-{nanos}",
        std::process::id()
    ))
}

/// Prints a scenario's report: pretty JSON with `--json`, else its table.
pub fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    table: fn(&R),
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        table(report);
    }
    Ok(())
}

/// Percentiles of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// How many values.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`.
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            // Nearest rank: ceil(q * n) - 1, within bounds.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let index = ((q * values.len() as f64).ceil() as usize).saturating_sub(1);
            values[index.min(values.len() - 1)]
        };
        Self {
            count: values.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert!((p.p50 - 50.0).abs() < f64::EPSILON);
        assert!((p.p99 - 99.0).abs() < f64::EPSILON);
        assert!((p.max - 100.0).abs() < f64::EPSILON);
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }
}
