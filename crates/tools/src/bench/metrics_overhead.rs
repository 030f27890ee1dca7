//! `dimby bench metrics-overhead`: what recording metrics costs the bot, and what a scrape costs.
//!
//! One bot, the `commands` scenario's stand-ins and workload (1,000 guilds playing on three
//! nodes, commands at a fixed rate). Rounds alternate metrics recording on and off (A B A B ...,
//! switched at run time in the same process, so drift and noise fall on both alike) and the
//! bot's CPU per 1,000 commands is compared by the medians of each side. Then, with every guild
//! playing, `/metrics` is scraped over HTTP: latency, body size and series.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Percentiles;
use super::commands::{GUILDS_PER_SHARD, Rig};
use app::ServeOptions;

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Guilds, each with a scripted member who plays and sends commands.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub guilds: u64,
    /// Commands a second during each round.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rate: u32,
    /// Seconds per round.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// Rounds of each side (metrics on, metrics off), interleaved.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub rounds: u64,
    /// Lavalink stand-ins.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub nodes: u64,
    /// Scrapes of `/metrics` to time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub scrapes: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One round.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Round {
    /// Whether metrics were recorded.
    pub metrics: bool,
    /// Commands sent.
    pub commands: usize,
    /// Commands answered.
    pub answered: usize,
    /// The bot's CPU (its threads, not the stand-ins') per 1,000 commands, ms.
    pub bot_cpu_per_1000_ms: f64,
    /// Received → answered, p99, ms.
    pub answer_p99_ms: f64,
}

/// The figures.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `"metrics-overhead"`.
    pub scenario: &'static str,
    /// `"release"` or `"debug"`.
    pub build: &'static str,
    /// Guilds.
    pub guilds: u64,
    /// Commands a second.
    pub rate: u32,
    /// Every round, in the order run.
    pub rounds: Vec<Round>,
    /// Median bot CPU per 1,000 commands with metrics on, ms.
    pub on_median_ms: f64,
    /// The same with metrics off.
    pub off_median_ms: f64,
    /// on / off - 1, in percent (the cost of recording; noise can make it negative).
    pub overhead_percent: f64,
    /// `/metrics` scrape latency over HTTP, ms.
    pub scrape_ms: Percentiles,
    /// Body size of a scrape (Prometheus text), bytes.
    pub scrape_bytes: usize,
    /// Series (sample lines) in a scrape.
    pub scrape_series: usize,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

/// Sets up the stand-ins and the bot, runs the rounds and the scrapes.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    let nodes = usize::try_from(args.nodes)?;
    let mut rig = Rig::start_stand_ins(args.guilds, nodes).await?;
    let outcome = rounds(&mut rig, args).await;
    rig.shutdown().await;
    outcome
}

async fn rounds(rig: &mut Rig, args: &Args) -> anyhow::Result<Report> {
    let data_dir = super::fresh_data_dir("metrics");
    let mut config = rig.bot_config(data_dir)?;
    // A known port for the scrapes.
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("picking a port for the admin server")?;
    config.admin.listen = admin;
    let metrics = bot::runtime::command_metrics();
    rig.start_bot(
        config,
        ServeOptions {
            metrics: Some(metrics.clone()),
            ..ServeOptions::default()
        },
    )
    .await?;
    tracing::info!(guilds = args.guilds, "populating and warming up");
    let mut script = rig.populate(args.guilds).await?;
    rig.warm_up(&mut script, f64::from(args.rate)).await?;

    let count = usize::try_from(u64::from(args.rate) * args.seconds)?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds * 2 {
        let on = round % 2 == 0;
        metrics.set_recording(on);
        eprint!(
            "\rround {}/{} (metrics {})   ",
            round + 1,
            args.rounds * 2,
            if on { "on" } else { "off" }
        );
        let stats = rig
            .workload(&mut script, f64::from(args.rate), count)
            .await?;
        #[allow(clippy::cast_precision_loss)]
        let thousands = stats.sent.max(1) as f64 / 1000.0;
        rounds.push(Round {
            metrics: on,
            commands: stats.sent,
            answered: stats.answered,
            bot_cpu_per_1000_ms: stats.bot_cpu_seconds * 1000.0 / thousands,
            answer_p99_ms: stats.to_answer_ms.p99,
        });
    }
    eprintln!();
    metrics.set_recording(true);
    let median = |on: bool| {
        Percentiles::of(
            rounds
                .iter()
                .filter(|r| r.metrics == on)
                .map(|r| r.bot_cpu_per_1000_ms)
                .collect(),
        )
        .p50
    };
    let (on_median_ms, off_median_ms) = (median(true), median(false));

    let (scrape_ms, scrape_bytes, scrape_series) =
        scrape(&format!("http://{admin}/metrics"), args.scrapes).await?;
    Ok(Report {
        scenario: "metrics-overhead",
        build: super::BUILD,
        guilds: args.guilds,
        rate: args.rate,
        rounds,
        on_median_ms,
        off_median_ms,
        overhead_percent: (on_median_ms / off_median_ms.max(f64::EPSILON) - 1.0) * 100.0,
        scrape_ms,
        scrape_bytes,
        scrape_series,
    })
}

/// Scrapes `url` `times` times, one after the other.
async fn scrape(url: &str, times: u64) -> anyhow::Result<(Percentiles, usize, usize)> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut latencies = Vec::new();
    let mut body = String::new();
    for _ in 0..times {
        let started = Instant::now();
        let response = client
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .context("scraping /metrics")?
            .error_for_status()
            .context("scraping /metrics")?;
        body = response.text().await.context("reading /metrics")?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let series = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    Ok((Percentiles::of(latencies), body.len(), series))
}

fn print_table(r: &Report) {
    println!(
        "dimby bench metrics-overhead ({} build): {} guilds on {} shards, {} commands/s",
        r.build,
        r.guilds,
        r.guilds.div_ceil(GUILDS_PER_SHARD),
        r.rate
    );
    for (i, round) in r.rounds.iter().enumerate() {
        println!(
            "  round {:>2}  metrics {:<3}  {:>5} commands ({} answered)  bot CPU {:>8.1} ms per 1,000  answered p99 {:>7.2} ms",
            i + 1,
            if round.metrics { "on" } else { "off" },
            round.commands,
            round.answered,
            round.bot_cpu_per_1000_ms,
            round.answer_p99_ms
        );
    }
    println!(
        "  median bot CPU per 1,000 commands: on {:.1} ms, off {:.1} ms -> overhead {:+.2} % (target <= 1 %)",
        r.on_median_ms, r.off_median_ms, r.overhead_percent
    );
    println!(
        "  /metrics with {} guilds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} scrapes; {} bytes, {} series",
        r.guilds,
        r.scrape_ms.p50,
        r.scrape_ms.p99,
        r.scrape_ms.max,
        r.scrape_ms.count,
        r.scrape_bytes,
        r.scrape_series
    );
}
