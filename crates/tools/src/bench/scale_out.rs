//! `dimby bench scale-out`: one application split over several `dimby run` processes
//! (`[discord.split]`, as the Kubernetes StatefulSet runs it), sharing one store, against the
//! Discord stand-in (which enforces Discord's identify limits) and a cluster of Lavalink
//! stand-ins. For each guild count (by default 1,000 and then 10,000) it prints:
//!
//! - **start-up**: from starting the processes to every shard ready (the shared identify queue
//!   spacing the identifies of each `max_concurrency` bucket 5 s apart, as Discord requires) and
//!   to every process answering `/readyz`, beside the floor Discord's limit sets;
//! - **per process**: its shards and guilds, resident memory once ready and once its share of the
//!   guilds plays, its CPU time to start, to start its players, and its CPU share over a window
//!   with every player playing (the position tick, the node's events);
//! - **growth**: how memory, CPU and start-up grow from the first guild count to the last.
//!
//! The processes are separate (the benchmark's own binary, `dimby run`), so their CPU and memory
//! are read from `/proc/<pid>` and the stand-ins, which run in the benchmark's process, are not in
//! them. The playing guilds start with `/play` from a scripted member, sent at `--play-rate`; a
//! shard may send 120 gateway commands a minute, so the voice joins of many guilds on one shard
//! take a while, as they would on Discord.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sim::discord::{DiscordConfig, DiscordSim, InteractionHandle, SlashCommand};
use sim::lavalink::{NodeConfig, SimNode};
use telemetry::process::ProcessSample;

use super::commands::{Listener, create_guilds};

/// Discord's identify spacing per `max_concurrency` bucket.
const IDENTIFY_INTERVAL: Duration = Duration::from_secs(5);
/// How long a process may take to exit after SIGTERM.
const EXIT_GUARD: Duration = Duration::from_secs(30);
/// A track longer than the run.
const TRACK: &str = "sim:length:3600000";

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Guild counts, one run each, in order (comma-separated); growth compares the first and the
    /// last.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_u64, 10_000])]
    pub guilds: Vec<u64>,
    /// Bot processes (`discord.split.processes`).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub processes: u32,
    /// Gateway shards of the application; by default Discord's recommendation (one per 1,000
    /// guilds), at least one per process.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: Option<u32>,
    /// The application's `session_start_limit.max_concurrency` (1 below 150,000 guilds).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub max_concurrency: u32,
    /// The share of the guilds that play, in percent.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub playing_percent: u64,
    /// `/play` commands a second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub play_rate: u32,
    /// Seconds of the window with every player playing, for the CPU share.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub idle_seconds: u64,
    /// Lavalink stand-ins.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub nodes: u64,
    /// The store on PostgreSQL: a throwaway server the benchmark starts (Debian's `postgresql`),
    /// or the database of `--postgres-url`. SQLite in a temporary directory without it.
    #[arg(long)]
    pub postgres: bool,
    /// The PostgreSQL database for `--postgres` (a secret: never printed).
    #[arg(long, env = "DIMBY_BENCH_POSTGRES_URL", requires = "postgres")]
    pub postgres_url: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

// ----- the report -----

/// The figures of every run.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `"scale-out"`.
    pub scenario: &'static str,
    /// `"release"` or `"debug"`.
    pub build: &'static str,
    /// `"sqlite"` or `"postgres"`.
    pub store: &'static str,
    /// Bot processes.
    pub processes: u32,
    /// `max_concurrency`.
    pub max_concurrency: u32,
    /// Lavalink stand-ins.
    pub nodes: u64,
    /// One per guild count.
    pub runs: Vec<Run>,
    /// The last run against the first, when there are two or more.
    pub growth: Option<Growth>,
}

/// One guild count's figures.
#[derive(Debug, serde::Serialize)]
pub struct Run {
    /// Guilds of the application.
    pub guilds: u64,
    /// Gateway shards.
    pub shards: u32,
    /// Start-up.
    pub startup: Startup,
    /// Starting the playing guilds.
    pub play: Play,
    /// Each process.
    pub processes: Vec<ProcessFigures>,
}

/// From starting the processes to every shard ready.
#[derive(Debug, serde::Serialize)]
pub struct Startup {
    /// Discord's floor: `ceil(shards / max_concurrency) - 1` identify intervals of 5 s, ms.
    pub identify_floor_ms: f64,
    /// Every shard's session ready at the Discord stand-in, ms.
    pub all_shards_ready_ms: f64,
    /// Every process answering `/readyz` with 200, ms.
    pub all_processes_ready_ms: f64,
    /// Identifies the stand-in accepted.
    pub identifies: u32,
    /// Identifies it refused for breaking Discord's limits (0 when the queue works).
    pub identify_refusals: u32,
}

/// Starting the playing guilds with `/play`.
#[derive(Debug, serde::Serialize)]
pub struct Play {
    /// Guilds sent `/play`.
    pub guilds: u64,
    /// From the first `/play` to every one of them playing on a node, ms.
    pub all_playing_ms: f64,
    /// `/play` interactions answered.
    pub answered: u64,
}

/// One process's figures.
#[derive(Debug, serde::Serialize)]
pub struct ProcessFigures {
    /// Its index in the split.
    pub index: u32,
    /// Its shards, `first-last`.
    pub shards: String,
    /// The guilds on its shards.
    pub guilds: u64,
    /// Of those, the playing ones.
    pub playing: u64,
    /// Resident memory once ready, MiB.
    pub rss_ready_mib: f64,
    /// Resident memory with its players playing, MiB.
    pub rss_playing_mib: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// CPU time from its start to ready, ms.
    pub cpu_startup_ms: f64,
    /// CPU time while its players started, ms.
    pub cpu_play_ms: f64,
    /// CPU share over the playing window, percent of one core.
    pub cpu_playing_percent: f64,
}

/// The last run against the first.
#[derive(Debug, serde::Serialize)]
pub struct Growth {
    /// Guilds, first and last.
    pub guilds: [u64; 2],
    /// Guild ratio.
    pub guild_ratio: f64,
    /// Mean resident memory per process once ready: ratio.
    pub rss_ready_ratio: f64,
    /// Mean resident memory per process with players: ratio.
    pub rss_playing_ratio: f64,
    /// CPU time to start, all processes: ratio.
    pub cpu_startup_ratio: f64,
    /// CPU share while playing, all processes: ratio.
    pub cpu_playing_ratio: f64,
    /// Time to every shard ready: ratio.
    pub startup_ratio: f64,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

fn print_table(r: &Report) {
    println!(
        "scale-out ({} build, store {}): {} processes, max_concurrency {}, {} Lavalink stand-ins",
        r.build, r.store, r.processes, r.max_concurrency, r.nodes
    );
    for run in &r.runs {
        let s = &run.startup;
        println!();
        println!("{} guilds, {} shards", run.guilds, run.shards);
        println!(
            "  start-up: every shard ready {:.0} ms (Discord's floor {:.0} ms), every process ready {:.0} ms; identifies {}, refused {}",
            s.all_shards_ready_ms,
            s.identify_floor_ms,
            s.all_processes_ready_ms,
            s.identifies,
            s.identify_refusals
        );
        println!(
            "  play: {} guilds playing {:.0} ms after the first /play, {} answered",
            run.play.guilds, run.play.all_playing_ms, run.play.answered
        );
        println!(
            "  {:>7} {:>7} {:>7} {:>8} {:>12} {:>14} {:>10} {:>12} {:>10} {:>12}",
            "process",
            "shards",
            "guilds",
            "playing",
            "RSS ready",
            "RSS playing",
            "peak RSS",
            "CPU start",
            "CPU play",
            "CPU playing"
        );
        for p in &run.processes {
            println!(
                "  {:>7} {:>7} {:>7} {:>8} {:>8.1} MiB {:>10.1} MiB {:>6.1} MiB {:>9.0} ms {:>7.0} ms {:>10.2} %",
                p.index,
                p.shards,
                p.guilds,
                p.playing,
                p.rss_ready_mib,
                p.rss_playing_mib,
                p.peak_rss_mib,
                p.cpu_startup_ms,
                p.cpu_play_ms,
                p.cpu_playing_percent
            );
        }
    }
    if let Some(g) = &r.growth {
        println!();
        println!(
            "growth {} -> {} guilds (x{:.1}): RSS ready x{:.2}, RSS playing x{:.2}, CPU to start x{:.2}, CPU playing x{:.2}, start-up x{:.2}",
            g.guilds[0],
            g.guilds[1],
            g.guild_ratio,
            g.rss_ready_ratio,
            g.rss_playing_ratio,
            g.cpu_startup_ratio,
            g.cpu_playing_ratio,
            g.startup_ratio
        );
    }
}

// ----- the measurement -----

/// Every run, one guild count after another.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(!args.guilds.is_empty(), "--guilds needs at least one count");
    for &guilds in &args.guilds {
        anyhow::ensure!(
            (1..=50_000).contains(&guilds),
            "--guilds takes counts from 1 to 50,000, not {guilds}"
        );
    }
    discord::install_crypto_provider();
    let mut runs = Vec::new();
    for (n, &guilds) in args.guilds.iter().enumerate() {
        // The throwaway server lives as long as its run: each run starts on an empty store.
        let (_server, store_url) = super::commands::postgres_database(
            args.postgres,
            args.postgres_url.as_deref(),
            &format!("bench_scale_out_{n}"),
        )
        .await?;
        runs.push(
            run_once(args, guilds, store_url)
                .await
                .with_context(|| format!("the run with {guilds} guilds"))?,
        );
    }
    let growth = match (runs.first(), runs.last()) {
        (Some(first), Some(last)) if runs.len() > 1 => Some(growth(first, last)),
        _ => None,
    };
    Ok(Report {
        scenario: "scale-out",
        build: super::BUILD,
        store: if args.postgres { "postgres" } else { "sqlite" },
        processes: args.processes,
        max_concurrency: args.max_concurrency,
        nodes: args.nodes,
        runs,
        growth,
    })
}

#[allow(
    clippy::cast_precision_loss,
    reason = "counts and sizes far below 2^52"
)]
fn growth(first: &Run, last: &Run) -> Growth {
    let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
    let mean = |run: &Run, f: fn(&ProcessFigures) -> f64| {
        run.processes.iter().map(f).sum::<f64>() / run.processes.len().max(1) as f64
    };
    let sum = |run: &Run, f: fn(&ProcessFigures) -> f64| run.processes.iter().map(f).sum::<f64>();
    Growth {
        guilds: [first.guilds, last.guilds],
        guild_ratio: ratio(first.guilds as f64, last.guilds as f64),
        rss_ready_ratio: ratio(
            mean(first, |p| p.rss_ready_mib),
            mean(last, |p| p.rss_ready_mib),
        ),
        rss_playing_ratio: ratio(
            mean(first, |p| p.rss_playing_mib),
            mean(last, |p| p.rss_playing_mib),
        ),
        cpu_startup_ratio: ratio(
            sum(first, |p| p.cpu_startup_ms),
            sum(last, |p| p.cpu_startup_ms),
        ),
        cpu_playing_ratio: ratio(
            sum(first, |p| p.cpu_playing_percent),
            sum(last, |p| p.cpu_playing_percent),
        ),
        startup_ratio: ratio(
            first.startup.all_shards_ready_ms,
            last.startup.all_shards_ready_ms,
        ),
    }
}

/// The stand-ins of one run.
struct StandIns {
    discord: Arc<DiscordSim>,
    nodes: Vec<SimNode>,
    listeners: Vec<Listener>,
    shards: u32,
}

impl StandIns {
    async fn start(args: &Args, guilds: u64) -> anyhow::Result<Self> {
        let recommended = u32::try_from(guilds.div_ceil(1_000)).unwrap_or(u32::MAX);
        let shards = args
            .shards
            .unwrap_or_else(|| recommended.max(args.processes));
        anyhow::ensure!(
            shards >= args.processes,
            "--shards {shards} is fewer than --processes {}",
            args.processes
        );
        let discord = Arc::new(
            DiscordSim::start(DiscordConfig {
                max_concurrency: args.max_concurrency,
                ..DiscordConfig::default().with_recommended_shards(shards)
            })
            .await
            .context("starting the Discord stand-in")?,
        );
        let mut nodes = Vec::new();
        for n in 0..args.nodes {
            let config = NodeConfig {
                name: format!("node-{n}"),
                ..NodeConfig::default()
            };
            nodes.push(
                SimNode::start(config)
                    .await
                    .context("starting a Lavalink stand-in")?,
            );
        }
        let listeners = create_guilds(&discord, guilds)?;
        Ok(Self {
            discord,
            nodes,
            listeners,
            shards,
        })
    }

    /// Guilds whose player has a track, is not paused and has its voice up, on any node.
    fn playing(&self, guilds: &[lavalink::model::GuildId]) -> usize {
        let mut playing = 0;
        for node in &self.nodes {
            for session in node.sessions().iter().filter(|s| s.connected) {
                playing += guilds
                    .iter()
                    .filter(|g| {
                        node.player(&session.id, **g)
                            .is_some_and(|p| p.track.is_some() && !p.paused && p.state.connected)
                    })
                    .count();
            }
        }
        playing
    }

    fn connected_shards(&self) -> usize {
        self.discord
            .sessions()
            .iter()
            .filter(|s| s.connected)
            .count()
    }

    async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
        if let Ok(discord) = Arc::try_unwrap(self.discord) {
            discord.shutdown().await;
        }
    }
}

/// One `dimby run` process of the split.
struct BotProcess {
    index: u32,
    child: tokio::process::Child,
    pid: u32,
    admin: std::net::SocketAddr,
    log: PathBuf,
}

impl BotProcess {
    fn spawn(
        args: &Args,
        index: u32,
        shards: u32,
        config: &Path,
        dir: &Path,
        store_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("this binary's path")?;
        let admin = test_support::free_port();
        let log = dir.join(format!("process-{index}.log"));
        let log_file = std::fs::File::create(&log).context("a process's log file")?;
        let mut command = tokio::process::Command::new(exe);
        if let Some(url) = store_url {
            command.env("DIMBY_STORE__URL", url);
        }
        let child = command
            .args(["--log-format", "json", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("DIMBY_ADMIN__LISTEN", admin.to_string())
            .env("DIMBY_DISCORD__SPLIT__TOTAL", shards.to_string())
            .env(
                "DIMBY_DISCORD__SPLIT__PROCESSES",
                args.processes.to_string(),
            )
            .env("DIMBY_DISCORD__SPLIT__INDEX", index.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting dimby run")?;
        let pid = child.id().context("the process's pid")?;
        Ok(Self {
            index,
            child,
            pid,
            admin,
            log,
        })
    }

    async fn is_ready(&self, client: &reqwest::Client) -> bool {
        client
            .get(format!("http://{}/readyz", self.admin))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    fn sample(&self) -> anyhow::Result<ProcessSample> {
        ProcessSample::of_process(self.pid)
            .with_context(|| format!("reading /proc/{} (process {})", self.pid, self.index))
    }

    /// SIGTERM (a plain stop), then its exit; killed if it does not exit in time.
    async fn stop(mut self) -> anyhow::Result<()> {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(sent.success(), "kill -TERM {} failed", self.pid);
        if tokio::time::timeout(EXIT_GUARD, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
            bail!(
                "process {} did not exit within {EXIT_GUARD:?} of SIGTERM (log: {})",
                self.index,
                self.log.display()
            );
        }
        Ok(())
    }
}

/// The shards process `index` runs, as `[discord.split]` splits them.
fn shard_range(index: u32, processes: u32, total: u32) -> (u32, u32) {
    let range = app::config::ShardSplit {
        total,
        processes,
        index,
    }
    .range();
    (range.first, range.last)
}

fn shard_of(guild: u64, total: u32) -> u32 {
    u32::try_from((guild >> 22) % u64::from(total.max(1))).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[allow(clippy::cast_precision_loss, reason = "memory sizes far below 2^52")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// One guild count: start the processes, wait for every shard, start the playing guilds, watch
/// them play, stop.
async fn run_once(args: &Args, guilds: u64, store_url: Option<String>) -> anyhow::Result<Run> {
    let stand_ins = StandIns::start(args, guilds).await?;
    let dir = super::fresh_data_dir("scale-out");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let outcome = measure_processes(args, &stand_ins, &dir, store_url.as_deref()).await;
    stand_ins.shutdown().await;
    match outcome {
        Ok(run) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(run)
        }
        Err(error) => Err(error.context(format!("the processes' logs are in {}", dir.display()))),
    }
}

async fn measure_processes(
    args: &Args,
    stand_ins: &StandIns,
    dir: &Path,
    store_url: Option<&str>,
) -> anyhow::Result<Run> {
    let shards = stand_ins.shards;
    let node_refs: Vec<&SimNode> = stand_ins.nodes.iter().collect();
    let config = dir.join("dimby.toml");
    std::fs::write(
        &config,
        test_support::run_config(&stand_ins.discord, &node_refs, &dir.join("data"), ""),
    )
    .context("writing the config")?;

    let began = Instant::now();
    let mut processes = Vec::new();
    for index in 0..args.processes {
        processes.push(BotProcess::spawn(
            args, index, shards, &config, dir, store_url,
        )?);
    }
    let startup = wait_started(args, stand_ins, &mut processes, began).await?;
    let ready: Vec<ProcessSample> = processes
        .iter()
        .map(BotProcess::sample)
        .collect::<anyhow::Result<_>>()?;

    // Guild n is on shard n % shards (see `create_guilds`): every k-th block of `shards`
    // consecutive guilds plays, one guild on each shard, so that the playing guilds spread
    // evenly over the shards.
    let every = 100 / args.playing_percent.max(1);
    let block = u64::from(shards);
    let playing: Vec<&Listener> = if args.playing_percent == 0 {
        Vec::new()
    } else {
        stand_ins
            .listeners
            .iter()
            .zip(0_u64..)
            .filter(|(_, n)| (n / block) % every == 0)
            .map(|(l, _)| l)
            .take(
                usize::try_from(count(stand_ins.listeners.len()) * args.playing_percent / 100)
                    .unwrap_or(usize::MAX),
            )
            .collect()
    };
    let play = start_playing(args, stand_ins, &playing).await?;
    let played: Vec<ProcessSample> = processes
        .iter()
        .map(BotProcess::sample)
        .collect::<anyhow::Result<_>>()?;

    // The window with every player playing.
    let window = Duration::from_secs(args.idle_seconds);
    tokio::time::sleep(window).await;
    let after: Vec<ProcessSample> = processes
        .iter()
        .map(BotProcess::sample)
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        stand_ins.playing(&lavalink_guilds(&playing)) == playing.len(),
        "a player stopped during the window"
    );

    let mut figures = Vec::new();
    for (((process, ready), played), after) in processes.iter().zip(&ready).zip(&played).zip(&after)
    {
        let (first, last) = shard_range(process.index, args.processes, shards);
        let own = |l: &Listener| (first..=last).contains(&shard_of(l.guild.id.get(), shards));
        figures.push(ProcessFigures {
            index: process.index,
            shards: format!("{first}-{last}"),
            guilds: count(stand_ins.listeners.iter().filter(|l| own(l)).count()),
            playing: count(playing.iter().filter(|l| own(l)).count()),
            rss_ready_mib: mib(ready.resident_bytes),
            rss_playing_mib: mib(after.resident_bytes),
            peak_rss_mib: mib(after.peak_resident_bytes),
            cpu_startup_ms: ms(ready.cpu),
            cpu_play_ms: ms(played.cpu.saturating_sub(ready.cpu)),
            cpu_playing_percent: after.cpu.saturating_sub(played.cpu).as_secs_f64()
                / window.as_secs_f64()
                * 100.0,
        });
    }
    for process in processes {
        process.stop().await?;
    }
    Ok(Run {
        guilds: count(stand_ins.listeners.len()),
        shards,
        startup,
        play,
        processes: figures,
    })
}

fn lavalink_guilds(listeners: &[&Listener]) -> Vec<lavalink::model::GuildId> {
    listeners
        .iter()
        .map(|l| lavalink::model::GuildId(l.guild.id.get()))
        .collect()
}

/// Waits for every shard at the stand-in and every process's `/readyz`.
async fn wait_started(
    args: &Args,
    stand_ins: &StandIns,
    processes: &mut [BotProcess],
    began: Instant,
) -> anyhow::Result<Startup> {
    let buckets = stand_ins.shards.div_ceil(args.max_concurrency.max(1));
    let floor = IDENTIFY_INTERVAL * buckets.saturating_sub(1);
    let deadline = began + floor * 2 + Duration::from_secs(120);
    let client = reqwest::Client::new();
    let shards = usize::try_from(stand_ins.shards).unwrap_or(usize::MAX);
    let (mut shards_ready, mut processes_ready) = (None, None);
    while shards_ready.is_none() || processes_ready.is_none() {
        for process in processes.iter_mut() {
            if let Some(status) = process.child.try_wait().context("a process's status")? {
                bail!(
                    "process {} exited during start-up ({status}; log: {})",
                    process.index,
                    process.log.display()
                );
            }
        }
        if shards_ready.is_none() && stand_ins.connected_shards() >= shards {
            shards_ready = Some(began.elapsed());
        }
        if processes_ready.is_none() {
            let mut all = true;
            for process in processes.iter() {
                all &= process.is_ready(&client).await;
            }
            if all {
                processes_ready = Some(began.elapsed());
            }
        }
        if Instant::now() > deadline {
            bail!(
                "not started within {:?}: {} of {shards} shards connected, every process ready: {}",
                deadline - began,
                stand_ins.connected_shards(),
                processes_ready.is_some()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Startup {
        identify_floor_ms: ms(floor),
        all_shards_ready_ms: shards_ready.map_or(0.0, ms),
        all_processes_ready_ms: processes_ready.map_or(0.0, ms),
        identifies: stand_ins.discord.identify_count(),
        identify_refusals: stand_ins.discord.identify_refusals(),
    })
}

/// Sends `/play` to every playing guild at `--play-rate` and waits for all of them to play.
async fn start_playing(
    args: &Args,
    stand_ins: &StandIns,
    playing: &[&Listener],
) -> anyhow::Result<Play> {
    let guilds = lavalink_guilds(playing);
    let interval = Duration::from_secs(1) / args.play_rate.max(1);
    let began = Instant::now();
    let mut handles: Vec<InteractionHandle> = Vec::new();
    for (n, listener) in (0_u32..).zip(playing) {
        let at = began + interval * n;
        tokio::time::sleep_until(at.into()).await;
        let command = SlashCommand::new(
            listener.guild.id,
            listener.guild.text_channel(),
            listener.user,
            "play",
        )
        .string("query", TRACK);
        handles.push(
            stand_ins
                .discord
                .invoke(&command)
                .context("sending /play")?,
        );
    }
    // A shard sends at most 120 gateway commands a minute: its voice joins take a minute per
    // 120 guilds.
    let per_shard = count(playing.len()).div_ceil(u64::from(stand_ins.shards.max(1)));
    let bound = Duration::from_secs(60 + per_shard.div_ceil(100) * 60);
    let deadline = began + bound;
    loop {
        if stand_ins.playing(&guilds) >= guilds.len() {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {} guilds playing {bound:?} after the first /play",
                stand_ins.playing(&guilds),
                guilds.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_playing = began.elapsed();
    let mut answered = 0;
    for handle in &handles {
        let answer = handle
            .wait_for_within("an answer", Duration::from_secs(5), |r| r.answered_at)
            .await;
        answered += u64::from(answer.is_ok());
    }
    Ok(Play {
        guilds: count(playing.len()),
        all_playing_ms: ms(all_playing),
        answered,
    })
}
