//! `dimby bench commands`: the real bot (`app::serve`, as `dimby run` and `dimby demo` run it)
//! against the Discord stand-in with many guilds and a cluster of Lavalink stand-ins, with
//! scripted users sending slash commands open-loop at a fixed rate. Prints command latency,
//! memory per idle and per playing guild, and CPU per 1,000 commands.
//!
//! Latency comes from timestamps the stand-ins record on the same clock (`std::time::Instant`):
//! "received" is when the Discord stand-in wrote INTERACTION_CREATE to the bot's gateway
//! connection ([`sim::discord::InteractionRecord::dispatched_at`]), "Lavalink REST sent" is when
//! the bot's first Lavalink request for the command reached a node stand-in
//! ([`sim::lavalink::SimNode::requests`]), "answered" is when the interaction's answer reached the
//! Discord stand-in ([`sim::discord::InteractionRecord::answered_at`]).
//!
//! The stand-ins run on their own tokio runtime (threads named `dimby-standin`), the bot on the
//! process's runtime, so CPU time can be split by thread; memory cannot be split that way (one
//! heap), so the stand-ins' share of each memory step is estimated by repeating their part of it
//! without the bot, at the end of the run.
//!
//! The workload is reusable: [`Rig`] (stand-ins and bot), [`Script`] (scripted users) and
//! [`Rig::workload`] (one phase of commands at a rate, returning [`CommandStats`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sim::discord::{
    DiscordConfig, DiscordSim, GuildInfo, GuildSpec, InteractionHandle, MemberSpec, SlashCommand,
};
use sim::lavalink::SimNode;
use telemetry::process::ProcessSample;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::channel::message::MessageFlags;
use twilight_model::http::interaction::InteractionResponseType;
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

use super::Percentiles;
use app::config::{Config, Secret};
use app::{self, ServeOptions};
use bot::commands::CommandKind;

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Guilds, each with a text channel, a voice channel and a scripted member.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub guilds: u64,
    /// Commands a second in the measured phase (and the warm-up), sent open-loop.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rate: u32,
    /// Seconds of the measured phase (the idle window that follows is as long).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Lavalink stand-ins.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub nodes: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the run's figures (CPU, peak RSS, work, latency; `bench/figures.rs`) to this
    /// file, for `dimby perf compare`.
    #[arg(long, value_name = "FILE")]
    pub figures: Option<PathBuf>,
    /// Sample the CPU at this many Hz over the measured phase, with the profiler
    /// `/debug/pprof/profile` uses (its profile is built afterwards and discarded): what CPU
    /// profiling costs. Needs a build with the `profiling` feature.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub cpu_sampling_hz: Option<u32>,
    /// The store on PostgreSQL (`store.url`): a throwaway server the benchmark starts (Debian's
    /// `postgresql`, `fsync` off, as the tests start it), or the database of `--postgres-url`.
    /// SQLite in a temporary directory without it.
    #[arg(long)]
    pub postgres: bool,
    /// The PostgreSQL database for `--postgres` (a secret: never printed).
    #[arg(long, env = "DIMBY_BENCH_POSTGRES_URL", requires = "postgres")]
    pub postgres_url: Option<String>,
}

/// Guilds per gateway shard. A shard may send 120 gateway commands a minute (twilight keeps the
/// bot within that), so one shard needs 8 minutes to join 1,000 voice channels; with at most 100
/// guilds per shard the warm-up's voice joins go out at once.
pub const GUILDS_PER_SHARD: u64 = 100;

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    if let Some(path) = &args.figures {
        super::figures::Figures::of_commands(&report).write(path)?;
    }
    super::print_report(&report, args.json, print_table)
}

// ----- the report -----

/// The figures of a run.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `"commands"`.
    pub scenario: &'static str,
    /// The store's backend: `"sqlite"` or `"postgres"`.
    pub store: String,
    /// `"release"` or `"debug"`.
    pub build: &'static str,
    /// Guilds.
    pub guilds: u64,
    /// Target commands a second.
    pub rate: u32,
    /// Seconds of the measured phase.
    pub seconds: u64,
    /// Lavalink stand-ins.
    pub nodes: u64,
    /// Gateway shards the bot ran.
    pub shards: u32,
    /// Commands sent in the measured phase (the work count).
    pub commands: usize,
    /// Guilds playing after the warm-up (should be all of them).
    pub guilds_playing: usize,
    /// Process CPU seconds during the measured phase (bot and stand-ins).
    pub cpu_seconds: f64,
    /// Peak resident set size of the process at the end (bot and stand-ins), bytes.
    pub peak_rss_bytes: u64,
    /// Whether the `profiling` feature was compiled in.
    pub profiling: bool,
    /// The CPU sampler over the measured phase (`--cpu-sampling-hz`), when it ran.
    pub cpu_sampling: Option<super::figures::CpuSampling>,
    /// The measured phase.
    pub measured: CommandStats,
    /// The warm-up: one /play per guild (the bot joins voice and starts playing).
    pub warmup: CommandStats,
    /// Memory per guild.
    pub memory: Memory,
    /// CPU per command.
    pub cpu: Cpu,
}

/// What one phase of commands gave.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CommandStats {
    /// Commands sent.
    pub sent: usize,
    /// Commands answered (a real message, not a loading state) within the guard.
    pub answered: usize,
    /// Commands without an answer within the guard.
    pub unanswered: usize,
    /// Answers that were errors or refusals (ephemeral answers, "Something went wrong").
    pub error_replies: usize,
    /// The most frequent error texts, with counts.
    pub error_samples: Vec<(String, usize)>,
    /// Answers that went through a deferred response (the bot took over 2 s).
    pub deferred: usize,
    /// Answered commands that should have called Lavalink.
    pub lavalink_expected: usize,
    /// ... and for which that call was seen at a stand-in.
    pub lavalink_seen: usize,
    /// Requests the stand-ins' recordings dropped (a slow reader); should be 0.
    pub lavalink_requests_lost: u64,
    /// Interaction received → first Lavalink REST call reaching a stand-in, ms.
    pub to_lavalink_ms: Percentiles,
    /// Interaction received → answer reaching the Discord stand-in, ms.
    pub to_answer_ms: Percentiles,
    /// First Lavalink REST call → answer, ms (commands that call Lavalink): the second stage.
    pub lavalink_to_answer_ms: Percentiles,
    /// The same by command name.
    pub by_command: BTreeMap<String, PerCommand>,
    /// Schedule → actual send, ms (how far the open-loop sender fell behind).
    pub send_lag_ms: Percentiles,
    /// Commands a second actually sent (first to last send).
    pub achieved_rate: f64,
    /// Seconds from the start of the phase (20 ms before the first send) until every command
    /// was answered (or the guard ran out).
    pub wall_seconds: f64,
    /// Process CPU seconds over `wall_seconds` (bot and stand-ins).
    pub cpu_seconds: f64,
    /// The bot's CPU seconds over `wall_seconds` (every thread but the stand-ins' runtime).
    pub bot_cpu_seconds: f64,
}

/// One command's figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PerCommand {
    /// Sent.
    pub sent: usize,
    /// Error replies among them.
    pub error_replies: usize,
    /// Received → Lavalink, ms (commands that call Lavalink).
    pub to_lavalink_ms: Percentiles,
    /// Received → answered, ms.
    pub to_answer_ms: Percentiles,
}

/// Memory per guild, in two measures: the process's resident set size (what the brief of the
/// scenario asks; it also counts pages the allocator keeps after frees) and, where the allocator
/// is jemalloc (the `dimby` binary), the bytes the program holds (`stats.allocated`), which is
/// what a guild really costs. Both are for the whole process: bot and stand-ins, with the
/// stand-ins' share estimated separately.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set size.
    pub rss: MemorySteps,
    /// Bytes allocated and held (jemalloc's `stats.allocated`); `None` under another allocator
    /// (a test binary).
    pub heap: Option<MemorySteps>,
}

/// One measure of memory at three points, and what each guild adds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MemorySteps {
    /// The bot connected and ready, no guild yet.
    pub baseline_bytes: u64,
    /// Every guild known to the bot, all idle (users in voice, nothing played).
    pub idle_bytes: u64,
    /// Every guild playing.
    pub playing_bytes: u64,
    /// (idle − baseline) / guilds: bot and stand-ins.
    pub per_idle_guild_bytes: f64,
    /// (playing − idle) / guilds: what playing adds to an idle guild, bot and stand-ins.
    pub per_playing_guild_bytes: f64,
    /// The stand-ins' share of `per_idle_guild_bytes`, estimated by repeating their part without
    /// the bot (guilds and voice states in a fresh Discord stand-in).
    pub standin_per_idle_guild_bytes: f64,
    /// The stand-ins' share of `per_playing_guild_bytes`, estimated the same way (an answered
    /// /play interaction per guild in a fresh Discord stand-in, a playing player per guild on a
    /// fresh Lavalink stand-in).
    pub standin_per_playing_guild_bytes: f64,
    /// `per_idle_guild_bytes − standin_per_idle_guild_bytes`.
    pub bot_per_idle_guild_bytes: f64,
    /// `per_playing_guild_bytes − standin_per_playing_guild_bytes`.
    pub bot_per_playing_guild_bytes: f64,
}

impl MemorySteps {
    #[allow(clippy::cast_precision_loss)]
    fn new(points: [u64; 3], share: (f64, f64), guilds: u64) -> Self {
        let guilds = guilds.max(1) as f64;
        let step = |from: u64, to: u64| (to as f64 - from as f64) / guilds;
        let [baseline, idle, playing] = points;
        let per_idle = step(baseline, idle);
        let per_playing = step(idle, playing);
        Self {
            baseline_bytes: baseline,
            idle_bytes: idle,
            playing_bytes: playing,
            per_idle_guild_bytes: per_idle,
            per_playing_guild_bytes: per_playing,
            standin_per_idle_guild_bytes: share.0 / guilds,
            standin_per_playing_guild_bytes: share.1 / guilds,
            bot_per_idle_guild_bytes: per_idle - share.0 / guilds,
            bot_per_playing_guild_bytes: per_playing - share.1 / guilds,
        }
    }
}

/// A reading of both measures.
#[derive(Debug, Clone, Copy)]
struct MemoryReading {
    rss: u64,
    heap: Option<u64>,
}

impl MemoryReading {
    fn now() -> Self {
        // Under another allocator than jemalloc, jemalloc's own idle heap reads near zero.
        let heap = admin::profiling::allocator_stats()
            .ok()
            .map(|stats| stats.allocated_bytes)
            .filter(|bytes| *bytes > 1024 * 1024);
        Self { rss: rss(), heap }
    }

    /// `self − earlier`, bytes, for both measures.
    #[allow(clippy::cast_precision_loss)]
    fn since(&self, earlier: &Self) -> (f64, Option<f64>) {
        let heap = match (self.heap, earlier.heap) {
            (Some(now), Some(then)) => Some(now as f64 - then as f64),
            _ => None,
        };
        (self.rss as f64 - earlier.rss as f64, heap)
    }
}

/// CPU time of the measured phase and of an idle window (every guild playing, no commands).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cpu {
    /// Measured phase: wall seconds.
    pub measured_wall_seconds: f64,
    /// Measured phase: process CPU seconds (bot and stand-ins).
    pub measured_cpu_seconds: f64,
    /// Measured phase: the bot's CPU seconds (by thread: everything but `dimby-standin`).
    pub measured_bot_cpu_seconds: f64,
    /// Idle window: wall seconds.
    pub idle_wall_seconds: f64,
    /// Idle window: process CPU seconds.
    pub idle_cpu_seconds: f64,
    /// Idle window: the bot's CPU seconds.
    pub idle_bot_cpu_seconds: f64,
    /// Process CPU ms per 1,000 commands (bot and stand-ins, background included).
    pub per_1000_commands_ms: f64,
    /// ... minus the idle window's CPU for the same wall time: what the commands themselves cost.
    pub marginal_per_1000_commands_ms: f64,
    /// The bot's CPU ms per 1,000 commands (background included).
    pub bot_per_1000_commands_ms: f64,
    /// The bot's marginal CPU ms per 1,000 commands.
    pub bot_marginal_per_1000_commands_ms: f64,
}

fn print_table(r: &Report) {
    println!(
        "commands bench: {} guilds, {} commands/s for {} s, {} Lavalink stand-ins, {} shards, store on {} ({} build)",
        r.guilds, r.rate, r.seconds, r.nodes, r.shards, r.store, r.build
    );
    match (&r.cpu_sampling, r.profiling) {
        (Some(s), _) => println!(
            "  CPU sampled at {} Hz over the measured phase ({} samples); building the profile \
             afterwards took {:.2} s CPU in {:.2} s, peak RSS {:.1} MiB (neither in the figures below)",
            s.hz,
            s.samples,
            s.profile_build_cpu_seconds,
            s.profile_build_wall_seconds,
            mib(s.profile_build_peak_rss_bytes)
        ),
        (None, true) => println!("  profiling compiled in, inactive"),
        (None, false) => println!("  without the profiling feature"),
    }
    print_phase("measured", &r.measured);
    print_phase(
        "warm-up (one /play per guild: voice join, first track)",
        &r.warmup,
    );
    println!(
        "    guilds playing after the warm-up: {} of {}",
        r.guilds_playing, r.guilds
    );
    println!("  memory of the whole process (the bot and the stand-ins)");
    print_memory("RSS", &r.memory.rss);
    match &r.memory.heap {
        Some(heap) => print_memory("heap held (jemalloc stats.allocated)", heap),
        None => println!("    heap held: not available (the allocator is not jemalloc)"),
    }
    println!(
        "    peak RSS                        {:>9.1} MiB",
        mib(r.peak_rss_bytes)
    );
    let c = &r.cpu;
    println!("  CPU");
    println!(
        "    measured phase   {:>7.2} s CPU in {:>6.1} s (bot {:.2} s)   {:>7.1} ms per 1,000 commands (bot {:.1})",
        c.measured_cpu_seconds,
        c.measured_wall_seconds,
        c.measured_bot_cpu_seconds,
        c.per_1000_commands_ms,
        c.bot_per_1000_commands_ms
    );
    println!(
        "    idle window      {:>7.2} s CPU in {:>6.1} s (bot {:.2} s)   every guild playing, no commands",
        c.idle_cpu_seconds, c.idle_wall_seconds, c.idle_bot_cpu_seconds
    );
    println!(
        "    commands alone   {:>7.1} ms per 1,000 commands (bot {:.1}): measured minus idle for the same time",
        c.marginal_per_1000_commands_ms, c.bot_marginal_per_1000_commands_ms
    );
    println!(
        "  the bot's share is by thread (stand-ins run on their own runtime); the stand-ins' memory is \
         estimated by repeating their part without the bot"
    );
}

fn mib(bytes: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / (1024.0 * 1024.0)
}

fn print_memory(what: &str, m: &MemorySteps) {
    println!("    {what}");
    println!(
        "      bot ready, no guild         {:>9.1} MiB",
        mib(m.baseline_bytes)
    );
    println!(
        "      all guilds idle             {:>9.1} MiB   {:>7.1} KiB per idle guild (stand-ins ~{:.1}, bot ~{:.1})",
        mib(m.idle_bytes),
        m.per_idle_guild_bytes / 1024.0,
        m.standin_per_idle_guild_bytes / 1024.0,
        m.bot_per_idle_guild_bytes / 1024.0,
    );
    println!(
        "      all guilds playing          {:>9.1} MiB   {:>7.1} KiB more per playing guild (stand-ins ~{:.1}, bot ~{:.1})",
        mib(m.playing_bytes),
        m.per_playing_guild_bytes / 1024.0,
        m.standin_per_playing_guild_bytes / 1024.0,
        m.bot_per_playing_guild_bytes / 1024.0,
    );
}

fn print_phase(name: &str, s: &CommandStats) {
    println!(
        "  {name}: {} sent ({:.1}/s), {} answered, {} unanswered, {} error replies, {} deferred",
        s.sent, s.achieved_rate, s.answered, s.unanswered, s.error_replies, s.deferred
    );
    for (text, count) in &s.error_samples {
        println!("    error reply x{count}: {text}");
    }
    if s.lavalink_seen < s.lavalink_expected || s.lavalink_requests_lost > 0 {
        println!(
            "    Lavalink calls seen for {} of {} commands ({} recordings lost)",
            s.lavalink_seen, s.lavalink_expected, s.lavalink_requests_lost
        );
    }
    let line = |what: &str, p: &Percentiles| {
        println!(
            "    {what:<28} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   (n={})",
            p.p50, p.p99, p.max, p.count
        );
    };
    line("received -> Lavalink REST", &s.to_lavalink_ms);
    line("received -> answered", &s.to_answer_ms);
    line("Lavalink REST -> answered", &s.lavalink_to_answer_ms);
    if s.by_command.len() > 1 {
        for (command, p) in &s.by_command {
            println!(
                "      /{command:<11} n={:<5} to Lavalink p50 {:>7.3} p99 {:>7.3}   answered p50 {:>7.3} p99 {:>7.3} max {:>7.3} ms",
                p.sent,
                p.to_lavalink_ms.p50,
                p.to_lavalink_ms.p99,
                p.to_answer_ms.p50,
                p.to_answer_ms.p99,
                p.to_answer_ms.max
            );
        }
    }
}

// ----- the run -----

/// Sets everything up, runs the phases and collects the figures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    // Refused before anything starts.
    super::sampling::check(args.cpu_sampling_hz)?;
    let nodes = usize::try_from(args.nodes)?;
    // The throwaway server lives as long as the run.
    let (_server, store_url) = postgres_store(args).await?;
    let mut rig = Rig::start_stand_ins(args.guilds, nodes).await?;
    let outcome = phases(&mut rig, args, store_url).await;
    rig.shutdown().await;
    outcome
}

/// The PostgreSQL store of `--postgres`: the throwaway server (if one was started) and the
/// database's URL.
async fn postgres_store(
    args: &Args,
) -> anyhow::Result<(Option<test_support::postgres::Server>, Option<String>)> {
    postgres_database(
        args.postgres,
        args.postgres_url.as_deref(),
        "bench_commands",
    )
    .await
}

/// A benchmark's PostgreSQL database when `postgres` is asked for: the one of `url`, or database
/// `name` on a throwaway server (Debian's `postgresql`, `fsync` off, as the tests start it),
/// returned with the server, which lives as long as it is kept.
pub(crate) async fn postgres_database(
    postgres: bool,
    url: Option<&str>,
    name: &str,
) -> anyhow::Result<(Option<test_support::postgres::Server>, Option<String>)> {
    if !postgres {
        return Ok((None, None));
    }
    if let Some(url) = url {
        return Ok((None, Some(url.to_owned())));
    }
    let server = test_support::postgres::Server::start()
        .map_err(anyhow::Error::msg)
        .context("starting a throwaway PostgreSQL server")?
        .context("PostgreSQL is not installed (apt-get install postgresql)")?;
    let url = server
        .create_database(name)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((Some(server), Some(url)))
}

async fn phases(rig: &mut Rig, args: &Args, store_url: Option<String>) -> anyhow::Result<Report> {
    let data_dir = super::fresh_data_dir("commands");
    let mut config = rig.bot_config(data_dir)?;
    let store = if store_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    config.store.url = store_url.map(Secret::new);
    rig.start_bot(config, ServeOptions::default()).await?;
    settle().await;
    let baseline = MemoryReading::now();
    tracing::info!(guilds = args.guilds, "bench phase: creating the guilds");

    let mut script = rig.populate(args.guilds).await?;
    settle().await;
    let idle = MemoryReading::now();
    tracing::info!("bench phase: warm-up");

    let warmup = rig.warm_up(&mut script, f64::from(args.rate)).await?;
    let guilds_playing = rig.playing_players();
    settle().await;
    let playing = MemoryReading::now();

    // The idle window: every guild playing, nobody typing.
    tracing::info!("bench phase: idle window");
    let window = Duration::from_secs(args.seconds);
    let before = CpuSample::now();
    tokio::time::sleep(window).await;
    let idle_cpu = CpuSample::now().since(&before);

    let count = usize::try_from(u64::from(args.rate) * args.seconds)?;
    tracing::info!(count, "bench phase: measured");
    // With --cpu-sampling-hz the sampler runs over the whole measured phase, so its cost is in
    // the phase's CPU; building its profile comes after the phase's figures are read.
    let sampler = super::sampling::Sampler::start(args.cpu_sampling_hz)?;
    let measured = rig
        .workload(&mut script, f64::from(args.rate), count)
        .await?;
    let peak_rss_bytes = ProcessSample::now().map_or(0, |s| s.peak_resident_bytes);
    let cpu_sampling = sampler.finish().await?;

    // The stand-ins' share of the memory steps, now that the figures are taken.
    tracing::info!("bench phase: the stand-ins' share of memory");
    let answer = script
        .warmup_answer
        .clone()
        .unwrap_or_else(|| "Now playing a track.".to_owned());
    let share = rig
        .stand_in_share(args.guilds, &script, answer)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not estimate the stand-ins' share of memory");
            Share {
                idle: (f64::NAN, None),
                playing: (f64::NAN, None),
            }
        });

    let memory = Memory {
        rss: MemorySteps::new(
            [baseline.rss, idle.rss, playing.rss],
            (share.idle.0, share.playing.0),
            args.guilds,
        ),
        heap: match (baseline.heap, idle.heap, playing.heap) {
            (Some(b), Some(i), Some(p)) => Some(MemorySteps::new(
                [b, i, p],
                (
                    share.idle.1.unwrap_or(f64::NAN),
                    share.playing.1.unwrap_or(f64::NAN),
                ),
                args.guilds,
            )),
            _ => None,
        },
    };
    let cpu = cpu_figures(&measured, &idle_cpu);
    Ok(Report {
        scenario: "commands",
        store: store.to_owned(),
        build: super::BUILD,
        guilds: args.guilds,
        rate: args.rate,
        seconds: args.seconds,
        nodes: args.nodes,
        shards: rig.shards,
        commands: measured.sent,
        guilds_playing,
        cpu_seconds: measured.cpu_seconds,
        peak_rss_bytes,
        profiling: admin::profiling::BUILT_WITH_PROFILING,
        cpu_sampling,
        measured,
        warmup,
        memory,
        cpu,
    })
}

fn cpu_figures(measured: &CommandStats, idle: &CpuWindow) -> Cpu {
    #[allow(clippy::cast_precision_loss)]
    let thousands = (measured.sent.max(1) as f64) / 1000.0;
    let wall = measured.wall_seconds;
    let idle_wall = idle.wall.as_secs_f64().max(f64::EPSILON);
    let scale = wall / idle_wall;
    let total = measured.cpu_seconds;
    let bot = measured.bot_cpu_seconds;
    let idle_total = idle.process.as_secs_f64();
    let idle_bot = idle.bot_seconds();
    Cpu {
        measured_wall_seconds: wall,
        measured_cpu_seconds: total,
        measured_bot_cpu_seconds: bot,
        idle_wall_seconds: idle.wall.as_secs_f64(),
        idle_cpu_seconds: idle_total,
        idle_bot_cpu_seconds: idle_bot,
        per_1000_commands_ms: total * 1000.0 / thousands,
        marginal_per_1000_commands_ms: (total - idle_total * scale) * 1000.0 / thousands,
        bot_per_1000_commands_ms: bot * 1000.0 / thousands,
        bot_marginal_per_1000_commands_ms: (bot - idle_bot * scale) * 1000.0 / thousands,
    }
}

/// Lets transient work (answers, events, allocator caches) calm down before a memory reading.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

fn rss() -> u64 {
    ProcessSample::now().map_or(0, |s| s.resident_bytes)
}

// ----- CPU by thread -----

/// Process CPU time with the share of the stand-ins' threads.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    process: Duration,
    /// Clock ticks of live threads named `dimby-standin`.
    standin_ticks: u64,
    /// Clock ticks of every other live thread.
    other_ticks: u64,
}

/// CPU time over a window.
#[derive(Debug, Clone, Copy)]
struct CpuWindow {
    wall: Duration,
    process: Duration,
    standin_ticks: u64,
    other_ticks: u64,
}

impl CpuWindow {
    /// The bot's CPU seconds: the process's, times the share of ticks outside the stand-ins'
    /// threads (threads that ended during the window are not in the ratio).
    fn bot_seconds(&self) -> f64 {
        let all = self.standin_ticks + self.other_ticks;
        if all == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let share = self.other_ticks as f64 / all as f64;
        self.process.as_secs_f64() * share
    }
}

const STANDIN_THREAD: &str = "dimby-standin";

impl CpuSample {
    fn now() -> Self {
        let (standin_ticks, other_ticks) = thread_ticks();
        Self {
            at: Instant::now(),
            process: ProcessSample::now().map_or(Duration::ZERO, |s| s.cpu),
            standin_ticks,
            other_ticks,
        }
    }

    fn since(&self, earlier: &Self) -> CpuWindow {
        CpuWindow {
            wall: self.at.duration_since(earlier.at),
            process: self.process.saturating_sub(earlier.process),
            standin_ticks: self.standin_ticks.saturating_sub(earlier.standin_ticks),
            other_ticks: self.other_ticks.saturating_sub(earlier.other_ticks),
        }
    }
}

/// User plus system ticks of the live threads: (stand-ins, others).
fn thread_ticks() -> (u64, u64) {
    telemetry::process::thread_cpu_ticks().into_iter().fold(
        (0, 0),
        |(standins, others), (name, ticks)| {
            if name.starts_with(STANDIN_THREAD) {
                (standins + ticks, others)
            } else {
                (standins, others + ticks)
            }
        },
    )
}

// ----- the rig: stand-ins and the bot -----

/// A request the bot made to a Lavalink stand-in that a command can cause.
#[derive(Debug, Clone)]
enum LavalinkCall {
    /// `GET /v4/loadtracks` with this query string.
    Load { at: Instant, query: String },
    /// `PATCH` or `DELETE` of this guild's player.
    Player { at: Instant, guild: u64 },
}

/// The bot running in this process.
struct BotHandle {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    data_dir: PathBuf,
}

/// The stand-ins (on their own runtime) and the real bot wired to them.
pub struct Rig {
    runtime: Option<Runtime>,
    handle: Handle,
    /// The Discord stand-in.
    pub discord: Arc<DiscordSim>,
    /// The Lavalink stand-ins.
    pub nodes: Arc<Vec<SimNode>>,
    /// Gateway shards the bot runs.
    pub shards: u32,
    calls: Arc<Mutex<Vec<LavalinkCall>>>,
    lost: Arc<AtomicU64>,
    bot: Option<BotHandle>,
    seq: u64,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

/// The Discord stand-in's configuration for `guilds` guilds.
pub(crate) fn discord_config(guilds: u64) -> DiscordConfig {
    let shards = u32::try_from(guilds.div_ceil(GUILDS_PER_SHARD).max(1)).unwrap_or(u32::MAX);
    DiscordConfig {
        recommended_shards: shards,
        // Every shard identifies at once.
        max_concurrency: shards,
        // Resumes are not part of this benchmark: keep the stand-in's replay buffers small, so
        // they do not weigh on the memory figures.
        replay_buffer: 16,
        ..DiscordConfig::default()
    }
}

impl Rig {
    /// Starts the stand-ins on their own runtime (threads named `dimby-standin`): a Discord
    /// stand-in that recommends one shard per [`GUILDS_PER_SHARD`] guilds, and `nodes` Lavalink
    /// stand-ins whose requests are recorded.
    pub async fn start_stand_ins(guilds: u64, nodes: usize) -> anyhow::Result<Self> {
        discord::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(STANDIN_THREAD)
            .enable_all()
            .build()
            .context("building the stand-ins' runtime")?;
        let handle = runtime.handle().clone();
        let config = discord_config(guilds);
        let shards = config.recommended_shards;
        let (discord, nodes) = handle
            .spawn(async move {
                let discord = DiscordSim::start(config)
                    .await
                    .context("starting the Discord stand-in")?;
                let nodes = sim::lavalink::start_nodes(
                    nodes,
                    sim::lavalink::NodeConfig::default().with_name("lavalink"),
                )
                .await
                .context("starting the Lavalink stand-ins")?;
                anyhow::Ok((discord, nodes))
            })
            .await
            .context("the stand-ins' runtime")??;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(AtomicU64::new(0));
        for node in &nodes {
            let mut requests = node.requests();
            let calls = Arc::clone(&calls);
            let lost = Arc::clone(&lost);
            handle.spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match requests.recv().await {
                        Ok(request) => {
                            if let Some(call) = lavalink_call(&request) {
                                calls
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .push(call);
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            lost.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        Ok(Self {
            runtime: Some(runtime),
            handle,
            discord: Arc::new(discord),
            nodes: Arc::new(nodes),
            shards,
            calls,
            lost,
            bot: None,
            seq: 0,
        })
    }

    /// The bot's configuration, as `dimby demo` builds it: Discord and every node from the
    /// stand-ins, the admin server on an ephemeral port, the store in `data_dir`.
    pub fn bot_config(&self, data_dir: PathBuf) -> anyhow::Result<Config> {
        let mut config = Config::default();
        config.discord.token = Some(Secret::new(self.discord.token()));
        config.discord.gateway_url = Some(self.discord.gateway_url());
        config.discord.rest_proxy = Some(self.discord.rest_addr().to_string());
        config.admin.listen = "127.0.0.1:0".parse()?;
        config.admin.token = Some(Secret::new("bench"));
        config.store.data_dir = data_dir;
        config.lavalink.nodes = self.nodes.iter().map(test_support::node_spec).collect();
        config.validate()?;
        Ok(config)
    }

    /// Starts the bot (`app::serve` on this runtime) and waits until it is ready: commands
    /// registered, every shard's session up, a session on every node.
    pub async fn start_bot(&mut self, config: Config, options: ServeOptions) -> anyhow::Result<()> {
        let data_dir = config.store.data_dir.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::serve(config, options, async move {
            let _ = stopped.await;
            app::StopMode::Plain
        }));
        self.bot = Some(BotHandle {
            stop,
            task,
            data_dir,
        });
        let commands = bot::commands::definitions().len();
        let shards = usize::try_from(self.shards)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.bot.as_ref().is_some_and(|b| b.task.is_finished()) {
                let outcome = match self.bot.take() {
                    Some(bot) => bot.task.await,
                    None => bail!("the bot is gone"),
                };
                outcome.context("the bot panicked")??;
                bail!("the bot stopped before it was ready");
            }
            let registered = self.discord.global_commands().len() >= commands;
            let sessions = self.discord.sessions();
            let connected = sessions.len() >= shards && sessions.iter().all(|s| s.connected);
            let nodes = self
                .nodes
                .iter()
                .all(|n| n.sessions().iter().any(|s| s.connected));
            if registered && connected && nodes {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the bot was not ready within 60 s (commands {registered}, shards {connected}, nodes {nodes})"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates `guilds` guilds while the bot is connected (each arrives as GUILD_CREATE), puts
    /// each one's scripted member in its voice channel, and waits until every shard has
    /// processed that (a /queue answered in the last guild of each shard).
    pub async fn populate(&mut self, guilds: u64) -> anyhow::Result<Script> {
        let discord = Arc::clone(&self.discord);
        let listeners = self
            .handle
            .spawn(async move { create_guilds(&discord, guilds) })
            .await
            .context("the stand-ins' runtime")??;
        // One barrier per shard: the last guild of the shard answers /queue once the shard has
        // handled everything before it.
        let mut last_of_shard: HashMap<u64, &Listener> = HashMap::new();
        for listener in &listeners {
            let shard = (listener.guild.id.get() >> 22) % u64::from(self.shards.max(1));
            last_of_shard.insert(shard, listener);
        }
        let barriers: Vec<SlashCommand> = last_of_shard
            .values()
            .map(|l| SlashCommand::new(l.guild.id, l.guild.text_channel(), l.user, "queue"))
            .collect();
        let discord = Arc::clone(&self.discord);
        self.handle
            .spawn(async move {
                for command in barriers {
                    let handle = discord.invoke(&command)?;
                    handle
                        .wait_for_within("a barrier /queue", Duration::from_secs(60), |r| {
                            r.answered_at
                        })
                        .await?;
                }
                anyhow::Ok(())
            })
            .await
            .context("the stand-ins' runtime")??;
        Ok(Script {
            listeners,
            rng: Rng::default(),
            warmup_answer: None,
        })
    }

    /// The warm-up: one /play per guild at `rate`, then waits until every guild plays on a
    /// node (voice connected, not paused).
    pub async fn warm_up(
        &mut self,
        script: &mut Script,
        rate: f64,
    ) -> anyhow::Result<CommandStats> {
        let count = script.listeners.len();
        let stats = self.run_phase(script, rate, count, true).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let playing = self.playing_players();
            if playing >= count {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    playing,
                    guilds = count,
                    "not every guild plays after the warm-up"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(stats)
    }

    /// One phase of `count` commands at `rate` a second, open-loop (sent on a schedule, without
    /// waiting for answers), round-robin over the guilds so one guild never has two commands in
    /// flight at these rates, in a realistic mix that follows each guild's state (see
    /// [`Script`]). Returns once every command is answered (or a 15 s guard after the last).
    pub async fn workload(
        &mut self,
        script: &mut Script,
        rate: f64,
        count: usize,
    ) -> anyhow::Result<CommandStats> {
        self.run_phase(script, rate, count, false).await
    }

    /// Players that play (a track, voice connected, not paused) on any node.
    pub fn playing_players(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| {
                node.sessions()
                    .iter()
                    .map(|session| {
                        session
                            .players
                            .iter()
                            .filter(|guild| {
                                node.player(&session.id, **guild).is_some_and(|p| {
                                    p.track.is_some() && p.state.connected && !p.paused
                                })
                            })
                            .count()
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    async fn run_phase(
        &mut self,
        script: &mut Script,
        rate: f64,
        count: usize,
        warmup: bool,
    ) -> anyhow::Result<CommandStats> {
        let discord = Arc::clone(&self.discord);
        let mut owned = std::mem::take(script);
        let first_seq = self.seq;
        self.seq += u64::try_from(count)?;
        let before = CpuSample::now();
        let (owned, sent) = self
            .handle
            .spawn(async move {
                let sent =
                    send_schedule(&discord, &mut owned, rate, count, first_seq, warmup).await;
                (owned, sent)
            })
            .await
            .context("the stand-ins' runtime")?;
        *script = owned;
        let sent = sent?;
        self.await_answers(&sent).await;
        let cpu = CpuSample::now().since(&before);
        if warmup {
            script.warmup_answer = sent.iter().find_map(|s| {
                s.handle
                    .record()
                    .original_content()
                    .map(|m| m.content.clone())
            });
        }
        // Let the request recorders catch up with the last calls.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let calls = self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let lost = self.lost.swap(0, Ordering::Relaxed);
        let mut stats = analyse(&sent, &calls, lost);
        stats.cpu_seconds = cpu.process.as_secs_f64();
        stats.bot_cpu_seconds = cpu.bot_seconds();
        stats.wall_seconds = cpu.wall.as_secs_f64();
        Ok(stats)
    }

    /// Waits until every command has an answer, or 15 s after the last was sent.
    async fn await_answers(&self, sent: &[Sent]) {
        let deadline = sent.last().map_or_else(Instant::now, |s| s.at) + Duration::from_secs(15);
        let mut outstanding: Vec<&Sent> = sent.iter().collect();
        loop {
            outstanding.retain(|s| s.handle.record().answered_at.is_none());
            if outstanding.is_empty() || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Estimates the stand-ins' share of the memory steps by repeating their part without the
    /// bot, in fresh stand-ins (on the stand-ins' runtime): `guilds` guilds with their member in
    /// voice (the idle step), then per guild the bot in voice, an answered /play interaction and
    /// a playing player on one Lavalink stand-in (the playing step). Bytes in all.
    async fn stand_in_share(
        &self,
        guilds: u64,
        script: &Script,
        answer: String,
    ) -> anyhow::Result<Share> {
        let bot_user = self.discord.bot_user_id();
        let commands = bot::commands::definitions();
        let listeners = script.listeners.len();
        self.handle
            .spawn(
                async move { stand_in_share(guilds, bot_user, commands, answer, listeners).await },
            )
            .await
            .context("the stand-ins' runtime")?
    }

    /// Stops the bot, then the stand-ins and their runtime.
    pub async fn shutdown(mut self) {
        if let Some(bot) = self.bot.take() {
            let _ = bot.stop.send(());
            match tokio::time::timeout(Duration::from_secs(30), bot.task).await {
                Ok(Ok(Err(error))) => tracing::warn!(%error, "the bot stopped with an error"),
                Ok(Err(error)) => tracing::warn!(%error, "the bot panicked"),
                Err(_) => tracing::warn!("the bot did not stop within 30 s"),
                Ok(Ok(Ok(()))) => {}
            }
            let _ = std::fs::remove_dir_all(&bot.data_dir);
        }
        let nodes = std::mem::take(&mut self.nodes);
        let discord = Arc::clone(&self.discord);
        let _ = self
            .handle
            .spawn(async move {
                if let Ok(nodes) = Arc::try_unwrap(nodes) {
                    for node in nodes {
                        node.shutdown().await;
                    }
                }
                drop(discord);
            })
            .await;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the stand-ins' share estimate found, bytes in all.
struct Share {
    /// The idle step: RSS and heap.
    idle: (f64, Option<f64>),
    /// The playing step.
    playing: (f64, Option<f64>),
}

async fn stand_in_share(
    guilds: u64,
    bot_user: Id<UserMarker>,
    commands: Vec<twilight_model::application::command::Command>,
    answer: String,
    listeners: usize,
) -> anyhow::Result<Share> {
    // What does not grow with the guilds first: a Discord stand-in with the bot's commands, a
    // Lavalink stand-in with a session and a track to play.
    let discord = DiscordSim::start(discord_config(guilds)).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = discord.rest_base();
    let app = discord.application_id();
    http.put(format!("{base}/applications/{app}/commands"))
        .header("Authorization", format!("Bot {}", discord.token()))
        .json(&commands)
        .send()
        .await?
        .error_for_status()?;
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_name("scratch")).await?;
    let config = lavalink::client::NodeConfig::new(
        node.name(),
        &node.rest_url(),
        node.password(),
        bot_user.get(),
    )?;
    let (client, mut events) = lavalink::NodeClient::connect(config, clock::SystemClock::shared());
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.session_id().is_none() {
        if Instant::now() > deadline {
            bail!("the scratch Lavalink session did not come up");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let encoded = match client.rest().load_tracks("ytsearch:lofi beats").await? {
        lavalink::model::LoadResult::Search(tracks) if !tracks.is_empty() => {
            tracks[0].encoded.clone()
        }
        other => bail!("the scratch node found nothing to play: {other:?}"),
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The idle step: the guilds, each with its member in voice.
    let before = MemoryReading::now();
    let scratch = create_guilds(&discord, guilds)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = MemoryReading::now().since(&before);

    // The playing step: the bot in voice, one /play per guild answered as the bot answers it (a
    // type 4 callback with the warm-up's first answer), one playing player per guild.
    let before_playing = MemoryReading::now();
    for (i, listener) in scratch.iter().enumerate() {
        discord.move_member(
            listener.guild.id,
            bot_user,
            Some(listener.guild.voice_channel(0)),
        )?;
        let handle = discord.invoke(
            &SlashCommand::new(
                listener.guild.id,
                listener.guild.text_channel(),
                listener.user,
                CommandKind::Play.name(),
            )
            .string("query", format!("lofi beats k{i}z")),
        )?;
        http.post(format!(
            "{base}/interactions/{}/{}/callback",
            handle.interaction.id, handle.interaction.token
        ))
        .json(&serde_json::json!({"type": 4, "data": {"content": answer}}))
        .send()
        .await?
        .error_for_status()?;
    }
    for i in 1..=u64::try_from(listeners)? {
        let guild = lavalink::model::GuildId(i);
        client
            .update_player(
                guild,
                &lavalink::model::UpdatePlayer {
                    track: Some(Some(lavalink::model::UpdatePlayerTrack::encoded(&encoded))),
                    voice: Some(lavalink::model::VoiceState {
                        token: format!("bench-token-{i}"),
                        endpoint: "sim-voice-eu-1.discord.media:443".into(),
                        session_id: format!("bench-voice-{i}"),
                        channel_id: Some(i.to_string()),
                    }),
                    ..lavalink::model::UpdatePlayer::default()
                },
                false,
            )
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let playing = MemoryReading::now().since(&before_playing);
    client.close().await;
    drain.abort();
    node.shutdown().await;
    discord.shutdown().await;
    Ok(Share { idle, playing })
}

fn lavalink_call(request: &sim::lavalink::ReceivedRequest) -> Option<LavalinkCall> {
    let path = request.path.as_str();
    if request.method == "GET" && path == "/v4/loadtracks" {
        return Some(LavalinkCall::Load {
            at: request.at,
            query: request.query.clone().unwrap_or_default(),
        });
    }
    if matches!(request.method.as_str(), "PATCH" | "DELETE")
        && path.starts_with("/v4/sessions/")
        && let Some((_, guild)) = path.rsplit_once("/players/")
        && let Ok(guild) = guild.parse()
    {
        return Some(LavalinkCall::Player {
            at: request.at,
            guild,
        });
    }
    None
}

// ----- scripted users -----

/// One guild's scripted member and what they know of its player.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Their guild.
    pub guild: GuildInfo,
    /// Who they are.
    pub user: Id<UserMarker>,
    /// Tracks waiting in the queue (after the current one).
    pub queued: usize,
    /// Whether the player is paused.
    pub paused: bool,
}

/// The scripted members of every guild, in guild order, and the command mix's random source.
#[derive(Debug, Default)]
pub struct Script {
    /// One per guild.
    pub listeners: Vec<Listener>,
    rng: Rng,
    /// The first warm-up answer's text (for the stand-ins' share estimate).
    warmup_answer: Option<String>,
}

/// The command mix's random source, seeded: every run sends the same mix.
#[derive(Debug, Clone)]
struct Rng(StdRng);

impl Default for Rng {
    fn default() -> Self {
        Self(StdRng::seed_from_u64(0x5eed_cafe_f00d_d00d))
    }
}

impl Rng {
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n.max(1))
    }
}

/// The timestamp bits of the bench's guild ids (milliseconds after Discord's epoch, early 2015):
/// far from the stand-in's own fresh ids, which carry the time now.
const GUILD_ID_BASE_MS: u64 = 1_000_000_000;

/// Creates the guilds with their scripted member in voice. Guild `i` gets timestamp bits
/// `GUILD_ID_BASE_MS + i`, so guilds spread evenly over the shards (`(id >> 22) % shards`) as
/// Discord's random ids do on average; the stand-in's consecutive fresh ids would not (every
/// guild takes several ids, so some shards would get none).
pub(crate) fn create_guilds(discord: &DiscordSim, guilds: u64) -> anyhow::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for i in 1..=guilds {
        let name = format!("listener{i}");
        let spec = GuildSpec {
            id: Some(((GUILD_ID_BASE_MS + i) << 22) | (i & 0x3f_ffff)),
            voice_channels: vec!["Music".into()],
            members: vec![MemberSpec {
                name: name.clone(),
                roles: Vec::new(),
            }],
            ..GuildSpec::named(format!("Bench Guild {i}"))
        };
        let guild = discord.create_guild(&spec).context("creating a guild")?;
        let user = guild.member(&name).context("the scripted member")?;
        discord
            .join_voice(guild.id, user, guild.voice_channel(0))
            .context("joining voice")?;
        listeners.push(Listener {
            guild,
            user,
            queued: 0,
            paused: false,
        });
    }
    Ok(listeners)
}

/// What a command should make the bot call on Lavalink first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Nothing (/queue, /nowplaying).
    Nothing,
    /// `GET /v4/loadtracks` whose query carries `k{seq}z`.
    Load(u64),
    /// A PATCH of the guild's player.
    Player,
}

/// One command sent.
struct Sent {
    command: CommandKind,
    guild: u64,
    expect: Expect,
    handle: InteractionHandle,
    scheduled: Instant,
    at: Instant,
}

/// The next command of a listener, following the guild's state: skip only with something
/// queued, pause or resume by the paused flag, seeks within the first minute (tracks are 2 to
/// 6 minutes long).
fn next_command(
    listener: &mut Listener,
    rng: &mut Rng,
    seq: u64,
    warmup: bool,
) -> (CommandKind, SlashCommand, Expect) {
    let guild = &listener.guild;
    let new = |kind: CommandKind| {
        SlashCommand::new(guild.id, guild.text_channel(), listener.user, kind.name())
    };
    let play = |listener: &Listener| {
        (
            CommandKind::Play,
            SlashCommand::new(
                listener.guild.id,
                listener.guild.text_channel(),
                listener.user,
                CommandKind::Play.name(),
            )
            .string("query", format!("lofi beats k{seq}z")),
            Expect::Load(seq),
        )
    };
    if warmup {
        return play(listener);
    }
    // The mix, in percent: play 20, queue 12, nowplaying 13, skip 10, pause/resume 15,
    // volume 10, seek 12, filter 8 (a preset, in turn).
    let roll = rng.below(100);
    let chosen = match roll {
        45..55 if listener.queued > 0 => {
            (CommandKind::Skip, new(CommandKind::Skip), Expect::Player)
        }
        // A skip with nothing queued would stop the player: queue something instead.
        0..20 | 45..55 => play(listener),
        20..32 => (CommandKind::Queue, new(CommandKind::Queue), Expect::Nothing),
        32..45 => (
            CommandKind::NowPlaying,
            new(CommandKind::NowPlaying),
            Expect::Nothing,
        ),
        55..70 if listener.paused => (
            CommandKind::Resume,
            new(CommandKind::Resume),
            Expect::Player,
        ),
        55..70 => (CommandKind::Pause, new(CommandKind::Pause), Expect::Player),
        70..80 => {
            let level = 10 + i64::try_from(rng.below(141)).unwrap_or(0);
            (
                CommandKind::Volume,
                new(CommandKind::Volume).integer("level", level),
                Expect::Player,
            )
        }
        80..88 => {
            let presets = music::PRESET_NAMES;
            let preset = presets[usize::try_from(seq).unwrap_or(0) % presets.len()];
            let mut command = new(CommandKind::Filter);
            command.options = vec![CommandDataOption {
                name: "preset".to_owned(),
                value: CommandOptionValue::SubCommand(vec![CommandDataOption {
                    name: "name".to_owned(),
                    value: CommandOptionValue::String(preset.to_owned()),
                }]),
            }];
            (CommandKind::Filter, command, Expect::Player)
        }
        _ => {
            let second = 5 + rng.below(50);
            (
                CommandKind::Seek,
                new(CommandKind::Seek).string("position", format!("0:{second:02}")),
                Expect::Player,
            )
        }
    };
    match chosen.0 {
        CommandKind::Play => listener.queued += 1,
        CommandKind::Skip => listener.queued = listener.queued.saturating_sub(1),
        CommandKind::Pause => listener.paused = true,
        CommandKind::Resume => listener.paused = false,
        _ => {}
    }
    chosen
}

/// Sends `count` commands on a schedule of `rate` a second, round-robin over the listeners.
async fn send_schedule(
    discord: &DiscordSim,
    script: &mut Script,
    rate: f64,
    count: usize,
    first_seq: u64,
    warmup: bool,
) -> anyhow::Result<Vec<Sent>> {
    if script.listeners.is_empty() {
        bail!("no guilds");
    }
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(20);
    let mut sent = Vec::with_capacity(count);
    let guilds = script.listeners.len();
    for k in 0..count {
        let scheduled = start + period * u32::try_from(k)?;
        tokio::time::sleep_until(tokio::time::Instant::from_std(scheduled)).await;
        let seq = first_seq + u64::try_from(k)?;
        let listener = &mut script.listeners[k % guilds];
        let (command, slash, expect) = next_command(listener, &mut script.rng, seq, warmup);
        let guild = listener.guild.id.get();
        let handle = discord
            .invoke(&slash)
            .with_context(|| format!("invoking /{command}"))?;
        sent.push(Sent {
            command,
            guild,
            expect,
            handle,
            scheduled,
            at: Instant::now(),
        });
    }
    Ok(sent)
}

// ----- analysis -----

/// The first Lavalink call of each expectation: loads by their `k{seq}z` token, player calls by
/// guild in time order.
struct CallIndex {
    loads: HashMap<u64, Instant>,
    players: HashMap<u64, Vec<Instant>>,
}

impl CallIndex {
    fn new(calls: &[LavalinkCall]) -> Self {
        let mut loads: HashMap<u64, Instant> = HashMap::new();
        let mut players: HashMap<u64, Vec<Instant>> = HashMap::new();
        for call in calls {
            match call {
                LavalinkCall::Load { at, query } => {
                    if let Some(seq) = load_token(query) {
                        let first = loads.entry(seq).or_insert(*at);
                        *first = (*first).min(*at);
                    }
                }
                LavalinkCall::Player { at, guild } => players.entry(*guild).or_default().push(*at),
            }
        }
        for times in players.values_mut() {
            times.sort_unstable();
        }
        Self { loads, players }
    }

    /// The first call for `sent` at or after `from` (and, for player calls, not after `until`).
    fn first(&self, sent: &Sent, from: Instant, until: Instant) -> Option<Instant> {
        match sent.expect {
            Expect::Nothing => None,
            Expect::Load(seq) => self.loads.get(&seq).copied(),
            Expect::Player => {
                let times = self.players.get(&sent.guild)?;
                let i = times.partition_point(|t| *t < from);
                times.get(i).copied().filter(|t| *t <= until)
            }
        }
    }
}

/// The `seq` of a `...k{seq}z...` search in a loadtracks query string.
fn load_token(query: &str) -> Option<u64> {
    let end = query.rfind('z')?;
    let start = query[..end].rfind('k')?;
    query[start + 1..end].parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Figures of a phase from what the stand-ins recorded.
fn analyse(sent: &[Sent], calls: &[LavalinkCall], lost: u64) -> CommandStats {
    let index = CallIndex::new(calls);
    let mut stats = CommandStats {
        sent: sent.len(),
        lavalink_requests_lost: lost,
        ..CommandStats::default()
    };
    let mut to_lavalink = Vec::new();
    let mut to_answer = Vec::new();
    let mut after_lavalink = Vec::new();
    let mut lags = Vec::new();
    let mut per: BTreeMap<&'static str, (PerCommand, Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut errors: HashMap<String, usize> = HashMap::new();
    for s in sent {
        lags.push(ms(s.at.saturating_duration_since(s.scheduled)));
        let entry = per.entry(s.command.name()).or_default();
        entry.0.sent += 1;
        let record = s.handle.record();
        let (Some(received), Some(answered), Some(message)) = (
            record.dispatched_at,
            record.answered_at,
            record.original_content(),
        ) else {
            stats.unanswered += 1;
            continue;
        };
        stats.answered += 1;
        if record
            .callback
            .as_ref()
            .is_some_and(|c| c.kind == InteractionResponseType::DeferredChannelMessageWithSource)
        {
            stats.deferred += 1;
        }
        let answer_ms = ms(answered.saturating_duration_since(received));
        to_answer.push(answer_ms);
        entry.2.push(answer_ms);
        let ephemeral = message
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        if ephemeral || message.content.starts_with("Something went wrong") {
            stats.error_replies += 1;
            entry.0.error_replies += 1;
            let text: String = message.content.chars().take(120).collect();
            *errors.entry(format!("{}: {text}", s.command)).or_default() += 1;
            continue;
        }
        if s.expect == Expect::Nothing {
            continue;
        }
        stats.lavalink_expected += 1;
        if let Some(call) = index.first(s, received, answered) {
            stats.lavalink_seen += 1;
            let call_ms = ms(call.saturating_duration_since(received));
            to_lavalink.push(call_ms);
            entry.1.push(call_ms);
            after_lavalink.push(ms(answered.saturating_duration_since(call)));
        }
    }
    let mut samples: Vec<(String, usize)> = errors.into_iter().collect();
    samples.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    samples.truncate(5);
    stats.error_samples = samples;
    stats.to_lavalink_ms = Percentiles::of(to_lavalink);
    stats.to_answer_ms = Percentiles::of(to_answer);
    stats.lavalink_to_answer_ms = Percentiles::of(after_lavalink);
    stats.send_lag_ms = Percentiles::of(lags);
    stats.by_command = per
        .into_iter()
        .map(|(name, (mut figures, lavalink, answer))| {
            figures.to_lavalink_ms = Percentiles::of(lavalink);
            figures.to_answer_ms = Percentiles::of(answer);
            (name.to_owned(), figures)
        })
        .collect();
    if let (Some(first), Some(last)) = (sent.first(), sent.last()) {
        let span = last.at.saturating_duration_since(first.at).as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let intervals = (sent.len() - 1) as f64;
        stats.achieved_rate = if span > 0.0 { intervals / span } else { 0.0 };
    }
    stats
}
