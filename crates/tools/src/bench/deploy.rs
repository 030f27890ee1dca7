//! `dimby bench deploy`: blue-green deploys of the real bot (`dimby run`, this very binary, as two
//! child processes in their slots) on in-process stand-ins, every guild playing and scripted
//! listeners sending `/nowplaying` at a steady rate throughout. A series of good deploys goes
//! back and forth between the colours through the orchestrator (`deploy::deploy`: start in
//! standby, gate, cutover, watch), then one build that fails every command after its gate is
//! rolled back by the watch. The figures: the gate's duration, the time no process serves, the
//! longest silence between two answers around each cutover, the commands left unanswered, the
//! audio lost at the node (players restarted, position lost), and the time from the first failing
//! signal to the old colour serving again.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lavalink::model::GuildId as LavalinkGuild;
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, SlashCommand};
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

use super::commands::Listener;
use super::stop::playing_positions;

type UserId = Id<UserMarker>;
use sim::lavalink::{NodeConfig, SimNode};
use test_support::deploy_slots::Slots;
use test_support::track_starts::TrackStarts;

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Guilds playing.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub guilds: u64,
    /// Good deploys, alternating colours (a failing one follows).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub deploys: u64,
    /// Commands per second from the scripted listeners.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub rate: u32,
    /// How long each deploy watches the new colour, seconds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub watch: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What the deploys did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// `"release"` or `"debug"`.
    pub build: String,
    /// Guilds playing.
    pub guilds: u64,
    /// Good deploys run.
    pub deploys: u64,
    /// Of those, promoted (the rest are listed in `endings`).
    pub promoted: u64,
    /// How every deploy ended, in order (the failing one last).
    pub endings: Vec<String>,
    /// The gate's duration, ms.
    pub gate_ms: super::Percentiles,
    /// From the old colour's handover request to the new one serving, ms.
    pub no_process_ms: super::Percentiles,
    /// The longest time between two answers to the listeners around each cutover, ms: from the
    /// old process's last answer to the new one's first.
    pub answer_gap_ms: super::Percentiles,
    /// Commands the listeners sent while the deploys ran.
    pub commands_sent: u64,
    /// Of those, never answered.
    pub commands_unanswered: u64,
    /// Players the node started again (0: none was restarted).
    pub track_starts: u64,
    /// Audio lost per guild over all the deploys: the time that passed minus how far its
    /// position went, ms.
    pub audio_lost_ms: super::Percentiles,
    /// The failing build: how it ended.
    pub failing_ending: String,
    /// The failing build: the signal that failed it.
    pub failing_signal: Option<String>,
    /// The failing build: from its first failing signal to the old colour serving again, ms.
    pub rollback_after_failing_ms: Option<u64>,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

fn print_table(r: &Report) {
    println!(
        "dimby bench deploy ({} build): {} guilds playing, {} good deploys and a failing one",
        r.build, r.guilds, r.deploys
    );
    println!("  endings: {}", r.endings.join(", "));
    let line = |name: &str, p: &super::Percentiles| {
        println!(
            "  {name}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            p.p50, p.p99, p.max
        );
    };
    line("gate", &r.gate_ms);
    line("no process serving", &r.no_process_ms);
    line("answer gap at the cutover", &r.answer_gap_ms);
    println!(
        "  commands: {} sent, {} unanswered",
        r.commands_sent, r.commands_unanswered
    );
    println!("  audio: {} players restarted", r.track_starts);
    line("audio lost per guild", &r.audio_lost_ms);
    println!(
        "  failing build: {} ({}); the old colour served again {} after the first failing signal",
        r.failing_ending,
        r.failing_signal.as_deref().unwrap_or("no failing signal"),
        r.rollback_after_failing_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
    );
}

const ADMIN_TOKEN: &str = "bench-deploy-admin-token";
/// How long a command may wait for its answer before it counts as unanswered (Discord's
/// interaction token lives 15 minutes; a user gives up far sooner).
const ANSWER_GUARD: Duration = Duration::from_secs(30);

/// Sets up, deploys, looks.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    discord::install_crypto_provider();
    // A shard per few hundred guilds (a shard joins at most 120 voice channels a minute), and
    // Discord's replay buffer: the resumed sessions get what was sent during a cutover.
    let discord = Arc::new(
        DiscordSim::start(DiscordConfig {
            replay_buffer: DiscordConfig::default().replay_buffer,
            ..super::commands::discord_config(args.guilds)
        })
        .await
        .context("starting the Discord stand-in")?,
    );
    let node = SimNode::start(NodeConfig::default())
        .await
        .context("starting the Lavalink stand-in")?;
    let dir = super::fresh_data_dir("deploy");
    std::fs::create_dir_all(&dir).context("the benchmark's directory")?;
    let result = deploy_series(args, &discord, &node, &dir).await;
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn deploy_series(
    args: &Args,
    discord: &Arc<DiscordSim>,
    node: &SimNode,
    dir: &Path,
) -> anyhow::Result<Report> {
    // Every guild as a previous process left it in the store: the first deploy's takeover
    // restores them (rejoining voice as fast as Discord lets a shard).
    let listeners = super::commands::create_guilds(discord, args.guilds)?;
    let data = dir.join("data");
    super::stop::seed_store(&data, node, &listeners).await?;
    let exe = std::env::current_exe().context("this binary's path")?;
    let base = test_support::run_config(discord, &[node], &data, "");
    let slots = Slots::new(dir, &exe, ADMIN_TOKEN);
    slots.configure("blue", &base);
    slots.configure("green", &base);
    let mut plan = plan(&slots, args, &exe);
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.join("data")))
        .await
        .context("the store")?;

    // The first deploy brings blue up; every guild plays on it.
    let starts = TrackStarts::count(&[node]);
    let first = deploy::deploy(&plan, &store)
        .await
        .context("the first deploy")?;
    anyhow::ensure!(
        first.ending == deploy::Ending::Promoted,
        "the first deploy was not promoted: {}",
        first.reason
    );
    let lavalink_guilds: Vec<LavalinkGuild> = listeners
        .iter()
        .map(|l| LavalinkGuild(l.guild.id.get()))
        .collect();
    wait_all_started(node, &lavalink_guilds, &starts).await?;
    // Each reading's instant is taken just before it, so that both carry the same skew.
    let before = Instant::now();
    let positions_before = playing_positions(node, &lavalink_guilds);
    let scripted = Listeners::start(discord, &listeners, args.rate);
    let mut reports = Vec::new();
    let mut windows = Vec::new();
    for n in 0..args.deploys {
        plan.version = format!("bench-{n}");
        let began = Instant::now();
        let report = deploy::deploy(&plan, &store).await.context("a deploy")?;
        windows.push((began, Instant::now()));
        reports.push(report);
    }
    // A build that fails every command once it serves.
    let failing_colour = deploy::serving_colour(&plan)
        .await?
        .map_or(store::Colour::Green, store::Colour::other);
    slots.configure(
        failing_colour.as_str(),
        &format!("{base}\n[deploy]\nrehearsal_fault = \"commands\"\n"),
    );
    "bench-failing".clone_into(&mut plan.version);
    let failing = deploy::deploy(&plan, &store)
        .await
        .context("the failing deploy")?;
    let answers = scripted.stop().await;
    let track_starts = starts.total();
    let after = Instant::now();
    let positions_after = playing_positions(node, &lavalink_guilds);
    let elapsed_ms = ms(after.duration_since(before));
    #[allow(clippy::cast_precision_loss)]
    let audio_lost: Vec<f64> = positions_after
        .iter()
        .filter_map(|(guild, now)| {
            let then = positions_before.get(guild)?;
            Some(elapsed_ms - now.saturating_sub(*then) as f64)
        })
        .collect();
    drop(slots);

    let gaps = windows
        .iter()
        .map(|(from, to)| answer_gap(&answers, *from, *to))
        .collect();
    let promoted = reports
        .iter()
        .filter(|r| r.ending == deploy::Ending::Promoted)
        .count();
    Ok(Report {
        build: super::BUILD.to_owned(),
        guilds: args.guilds,
        deploys: args.deploys,
        promoted: u64::try_from(promoted).unwrap_or(u64::MAX),
        endings: reports
            .iter()
            .chain(std::iter::once(&failing))
            .map(|r| r.ending.as_str().to_owned())
            .collect(),
        gate_ms: percentiles(reports.iter().filter_map(|r| r.gate_ms)),
        no_process_ms: percentiles(
            reports
                .iter()
                .filter_map(|r| r.cutover.as_ref().map(|c| c.total_ms)),
        ),
        answer_gap_ms: super::Percentiles::of(gaps),
        commands_sent: u64::try_from(answers.len()).unwrap_or(u64::MAX),
        commands_unanswered: u64::try_from(answers.iter().filter(|a| a.1.is_none()).count())
            .unwrap_or(u64::MAX),
        track_starts,
        audio_lost_ms: super::Percentiles::of(audio_lost),
        failing_ending: failing.ending.as_str().to_owned(),
        failing_signal: failing.watch.as_ref().and_then(|w| w.failing.clone()),
        rollback_after_failing_ms: failing.rollback_after_failing_ms,
    })
}

fn plan(slots: &Slots, args: &Args, exe: &Path) -> deploy::Plan {
    let slot = |colour: store::Colour| {
        let name = colour.as_str();
        deploy::Slot {
            colour,
            client: deploy::ColourClient::new(slots.admin_url(name), ADMIN_TOKEN),
            start: vec!["sh".into(), slots.script("start", name)],
            stop: vec!["sh".into(), slots.script("stop", name)],
            prepare: Vec::new(),
            binary: "dimby".into(),
            config: format!("{name}.toml"),
        }
    };
    deploy::Plan {
        version: "bench-first".into(),
        commit: test_support::binary_commit(exe),
        blue: slot(store::Colour::Blue),
        green: slot(store::Colour::Green),
        gate_bound: Duration::from_secs(60),
        step_bound: Duration::from_secs(60),
        watch: deploy::WatchRules {
            duration: Duration::from_secs(args.watch),
            ..deploy::WatchRules::default()
        },
    }
}

/// The longest time between two answers that arrived between `from` and `to`.
fn answer_gap(answers: &[(Instant, Option<Instant>)], from: Instant, to: Instant) -> f64 {
    let mut arrived: Vec<Instant> = answers
        .iter()
        .filter_map(|(_, answered)| *answered)
        .filter(|at| *at >= from && *at <= to)
        .collect();
    arrived.sort_unstable();
    arrived
        .windows(2)
        .map(|pair| ms(pair[1].duration_since(pair[0])))
        .fold(0.0, f64::max)
}

fn percentiles(values: impl Iterator<Item = u64>) -> super::Percentiles {
    #[allow(clippy::cast_precision_loss)]
    super::Percentiles::of(values.map(|v| v as f64).collect())
}

/// Scripted listeners: `/nowplaying` round the guilds at `rate` per second; each command's send
/// instant and its answer's arrival (`None`: none within [`ANSWER_GUARD`]).
struct Listeners {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<(Instant, Option<Instant>)>>,
}

impl Listeners {
    fn start(discord: &Arc<DiscordSim>, listeners: &[Listener], rate: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let discord = Arc::clone(discord);
        let guilds: Vec<(GuildInfo, UserId)> = listeners
            .iter()
            .map(|l| (l.guild.clone(), l.user))
            .collect();
        let task = tokio::spawn(async move {
            let results = Arc::new(Mutex::new(Vec::new()));
            let mut waiting = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut next = 0usize;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => break,
                }
                let (guild, user) = &guilds[next % guilds.len()];
                next += 1;
                let command =
                    SlashCommand::new(guild.id, guild.text_channel(), *user, "nowplaying");
                let sent = Instant::now();
                let Ok(handle) = discord.invoke(&command) else {
                    continue;
                };
                let results = Arc::clone(&results);
                waiting.push(tokio::spawn(async move {
                    let answered = tokio::time::timeout(ANSWER_GUARD, handle.original())
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .map(|_| Instant::now());
                    results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((sent, answered));
                }));
            }
            for task in waiting {
                let _ = task.await;
            }
            std::mem::take(&mut *results.lock().unwrap_or_else(PoisonError::into_inner))
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<(Instant, Option<Instant>)> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Waits until every guild plays and its TrackStart came, then counts TrackStarts from zero.
async fn wait_all_started(
    node: &SimNode,
    guilds: &[LavalinkGuild],
    starts: &TrackStarts,
) -> anyhow::Result<()> {
    wait_all_playing(node, guilds).await?;
    starts
        .settle(guilds, Duration::from_secs(180))
        .await
        .map_err(|missing| anyhow::anyhow!("no TrackStart from {} guilds", missing.len()))
}

async fn wait_all_playing(node: &SimNode, guilds: &[LavalinkGuild]) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(180), async {
        while playing_positions(node, guilds).len() < guilds.len() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("not every guild played")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
