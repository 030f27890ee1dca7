//! `dimby bench stop`: how the bot process stops with every guild playing. The guilds are put in
//! the store as a previous process left them (a track playing at 1 s, one more queued, the voice
//! and text channels); `dimby run` (this very binary, as a child process) restores them, rejoins
//! every voice channel and plays on from the saved positions on a Lavalink stand-in. Then the
//! process gets SIGTERM (a plain stop) or SIGUSR2 (the handover stop) and the figures say how long
//! it took to exit by itself and what it left: the positions and queues in the store, the players
//! on the node, the handover records.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lavalink::model::{GuildId as LavalinkGuild, LoadResult, Track};
use sim::discord::DiscordSim;
use sim::lavalink::{NodeConfig, SimNode};
use test_support::track_starts::TrackStarts;

use super::commands::{Listener, create_guilds, discord_config};

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Guilds playing when the stop comes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    pub guilds: u64,
    /// Stop for a handover (SIGUSR2: audio plays on, sessions left resumable) instead of a plain
    /// stop (SIGTERM).
    #[arg(long)]
    pub handover: bool,
    /// After the handover stop, start a successor (`dimby run` again) and measure how it takes
    /// over: the gateway resumed, the players adopted as they play, the commands sent meanwhile
    /// answered.
    /// `resumes`: it resumes the Lavalink session; `session-lost`: the session is gone before it
    /// starts (the resume timeout is 1 s and it waits for the node to drop the session), so it
    /// starts every player again from the store.
    #[arg(long, requires = "handover", value_enum)]
    pub successor: Option<SuccessorCase>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What the successor of a handover finds on the Lavalink node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuccessorCase {
    /// The detached session, to resume.
    Resumes,
    /// Nothing: the node dropped the session first.
    SessionLost,
}

/// What the stop did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// `"release"` or `"debug"`.
    pub build: String,
    /// `"plain"` (SIGTERM) or `"handover"` (SIGUSR2).
    pub mode: String,
    /// Guilds set up.
    pub guilds: u64,
    /// How long the restore took until every guild played on the node, ms.
    pub restored_after_ms: f64,
    /// From the signal to the process's exit, ms.
    pub exit_after_ms: f64,
    /// Whether it exited by itself within the guard (30 s); otherwise it was killed.
    pub exited_by_itself: bool,
    /// Its exit code (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// What the bot's stop line said (`None`: no such line in its log).
    pub bot: Option<BotStop>,
    /// Guilds whose stored position is within [`POSITION_TOLERANCE_MS`] of where the node had them
    /// at the signal (the bot extrapolates from the node's last update; the offsets are below).
    pub positions_at_stop: u64,
    /// Stored position minus the node's position at the signal, ms (negative: behind).
    pub position_offset_ms: super::Percentiles,
    /// Guilds whose stored queue still holds the queued track and whose current track is kept.
    pub queues_intact: u64,
    /// The bot's players on the node after the exit.
    pub players_left: u64,
    /// Of those, playing (a track, not paused, voice connected).
    pub players_playing: u64,
    /// The bot's sessions on the node after the exit that wait to be resumed.
    pub sessions_resumable: u64,
    /// Handover records in the store after the exit: Lavalink sessions.
    pub lavalink_records: u64,
    /// Handover records in the store after the exit: gateway sessions.
    pub gateway_records: u64,
    /// How the successor took over (`--successor`).
    pub successor: Option<Successor>,
}

/// How a successor took over from the process that stopped for a handover.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Successor {
    /// `/nowplaying` commands sent between the exit and the successor's start (one per guild, up
    /// to [`COMMANDS_IN_THE_GAP`]).
    pub commands_sent: u64,
    /// Of those, answered with the guild's current track.
    pub answered: u64,
    /// From the successor's spawn to its first answer, ms.
    pub first_answer_after_spawn_ms: f64,
    /// From the successor's spawn to its last answer, ms.
    pub last_answer_after_spawn_ms: f64,
    /// Gateway identifies by the successor (0: every shard resumed its session).
    pub identifies: u64,
    /// Whether the node still has one session, the predecessor's, now connected.
    pub lavalink_session_resumed: bool,
    /// Players the successor adopted (its log).
    pub players_adopted: u64,
    /// TrackStart events the node sent from the stop signal on (0: no player was restarted).
    pub track_starts: u64,
    /// The bot's players playing on the node once every command was answered and every guild
    /// played again.
    pub players_playing: u64,
    /// Guilds whose player is at or past where it stood at the signal (within
    /// [`POSITION_TOLERANCE_MS`]): none started from the beginning.
    pub positions_kept: u64,
    /// From the successor's spawn until every guild played on the node, ms.
    pub all_playing_after_spawn_ms: f64,
    /// Each player's position then minus where it would be had it played on without a break
    /// since the signal, ms (0: no gap).
    pub position_gap_ms: super::Percentiles,
    /// Whether the successor exited by itself after its SIGTERM.
    pub stopped_cleanly: bool,
}

/// The most commands sent in the gap between the two processes.
pub const COMMANDS_IN_THE_GAP: u64 = 50;

/// The fields of the bot's "the guilds are stopped" log line.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BotStop {
    /// Guild actors that ended.
    pub guilds: u64,
    /// Positions the stop wrote.
    pub positions_written: u64,
    /// Tasks left running when it gave up waiting (0: none).
    pub tasks_left: u64,
    /// Whether held work was abandoned at the grace.
    pub abandoned: bool,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

fn print_table(r: &Report) {
    println!(
        "dimby bench stop ({} build): {} guilds playing, {} stop",
        r.build, r.guilds, r.mode
    );
    println!(
        "  restore: every guild playing on the node after {:.0} ms",
        r.restored_after_ms
    );
    println!(
        "  exit: {:.0} ms after the signal, by itself: {}, exit code {:?}",
        r.exit_after_ms, r.exited_by_itself, r.exit_code
    );
    match &r.bot {
        Some(bot) => println!(
            "  the bot's stop: {} guilds, {} positions written, {} tasks left, abandoned: {}",
            bot.guilds, bot.positions_written, bot.tasks_left, bot.abandoned
        ),
        None => println!("  the bot's stop: no stop line in its log"),
    }
    println!(
        "  store: {} of {} positions within {POSITION_TOLERANCE_MS} ms of the node's at the signal, {} queues intact",
        r.positions_at_stop, r.guilds, r.queues_intact
    );
    println!(
        "  stored position - the node's at the signal: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        r.position_offset_ms.p50, r.position_offset_ms.p99, r.position_offset_ms.max
    );
    println!(
        "  node: {} players left ({} playing), {} sessions resumable; handover records: {} Lavalink, {} gateway",
        r.players_left,
        r.players_playing,
        r.sessions_resumable,
        r.lavalink_records,
        r.gateway_records
    );
    if let Some(s) = &r.successor {
        println!(
            "  successor: {} of {} commands sent in the gap answered, first {:.0} ms and last {:.0} ms after its spawn",
            s.answered,
            s.commands_sent,
            s.first_answer_after_spawn_ms,
            s.last_answer_after_spawn_ms
        );
        println!(
            "  successor: {} identifies, Lavalink session resumed: {}, {} players adopted, {} track starts since the signal",
            s.identifies, s.lavalink_session_resumed, s.players_adopted, s.track_starts
        );
        println!(
            "  successor: {} players playing ({:.0} ms after its spawn); position gap p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; stopped cleanly: {}",
            s.players_playing,
            s.all_playing_after_spawn_ms,
            s.position_gap_ms.p50,
            s.position_gap_ms.p99,
            s.position_gap_ms.max,
            s.stopped_cleanly
        );
    }
}

/// How long the bot may take to exit before it is killed (the figure is what counts).
const EXIT_GUARD: Duration = Duration::from_secs(30);
/// How long the restore may take.
const RESTORE_GUARD: Duration = Duration::from_secs(180);
/// How far a stored position may be from the node's at the signal and still count as written at
/// the stop (a tick's write, 5 s old, would not).
pub const POSITION_TOLERANCE_MS: u64 = 250;
/// Where the restored guilds start.
const SAVED_POSITION_MS: u64 = 1_000;
const TRACK: &str = "sim:length:3600000";
const QUEUED: &str = "sim:track:stop-next";

/// Sets up, stops, looks.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    discord::install_crypto_provider();
    // Discord's replay buffer, not the small one of the command benchmark: the successor resumes
    // and gets what was sent in between.
    let discord = DiscordSim::start(sim::discord::DiscordConfig {
        replay_buffer: sim::discord::DiscordConfig::default().replay_buffer,
        ..discord_config(args.guilds)
    })
    .await
    .context("starting the Discord stand-in")?;
    let listeners = create_guilds(&discord, args.guilds)?;
    // Lavalink's default player-update interval (5 s); the stop comes after one update for every
    // player, so the bot's positions rest on what the node reported, not on the restore's PATCH
    // (the node starts counting only once the voice connection is up).
    let node = SimNode::start(NodeConfig::default())
        .await
        .context("starting the Lavalink stand-in")?;
    let dir = super::fresh_data_dir("stop");
    let result = stop_once(args, &discord, &listeners, &node, &dir).await;
    node.shutdown().await;
    discord.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn stop_once(
    args: &Args,
    discord: &DiscordSim,
    listeners: &[Listener],
    node: &SimNode,
    dir: &Path,
) -> anyhow::Result<Report> {
    let data = dir.join("data");
    let titles = seed_store(&data, node, listeners).await?;
    let config = dir.join("dimby.toml");
    let session_lost = args.successor == Some(SuccessorCase::SessionLost);
    let extra = if session_lost {
        "[lavalink]\nsession_resume_timeout_s = 1\n"
    } else {
        ""
    };
    write_config(&config, discord, node, &data, extra)?;
    let log = dir.join("dimby.log");
    let guilds: Vec<LavalinkGuild> = listeners
        .iter()
        .map(|l| LavalinkGuild(l.guild.id.get()))
        .collect();
    let (mut bot, restored_after) = start_restored(&config, &log, node, &guilds).await?;
    // Every player reports once (a playerUpdate) before the stop.
    tokio::time::sleep(NodeConfig::default().player_update_interval + Duration::from_millis(500))
        .await;
    let at_signal = playing_positions(node, &guilds);

    let signalled = Instant::now();
    let track_starts = TrackStarts::count(&[node]);
    let (exited_by_itself, exit_code, exit_after) =
        signal_and_wait(&mut bot, args.handover).await?;
    let identifies_before = discord.identify_count();
    let gap_commands = if args.successor.is_some() {
        send_commands(discord, listeners)?
    } else {
        Vec::new()
    };

    let stored = read_store(&data, &at_signal, &titles).await?;
    let (players_left, players_playing, sessions_resumable) = node_after(node, &guilds);
    let (lavalink_records, gateway_records) = if args.successor.is_some() {
        // The successor takes them: what the predecessor said it wrote.
        handover_line(&log).unwrap_or_default()
    } else {
        take_records(&data).await?
    };
    let successor = if args.successor.is_some() {
        let session = node.sessions().first().map(|s| s.id.clone());
        if session_lost {
            wait_session_dropped(node).await?;
        }
        let expected = Expected {
            at_signal: &at_signal,
            signalled,
            session,
            title: &titles.0,
        };
        Some(
            take_over(
                dir,
                &config,
                discord,
                node,
                &guilds,
                gap_commands,
                identifies_before,
                track_starts,
                expected,
            )
            .await?,
        )
    } else {
        drop(track_starts);
        None
    };
    Ok(Report {
        build: super::BUILD.to_owned(),
        mode: match (args.handover, args.successor) {
            (false, _) => "plain",
            (true, None) => "handover",
            (true, Some(SuccessorCase::Resumes)) => "handover to a successor",
            (true, Some(SuccessorCase::SessionLost)) => {
                "handover to a successor, Lavalink session lost"
            }
        }
        .to_owned(),
        guilds: args.guilds,
        restored_after_ms: ms(restored_after),
        exit_after_ms: ms(exit_after),
        exited_by_itself,
        exit_code,
        bot: bot_stop_line(&log),
        positions_at_stop: stored.positions_at_stop,
        position_offset_ms: stored.offsets,
        queues_intact: stored.queues_intact,
        players_left,
        players_playing,
        sessions_resumable,
        lavalink_records,
        gateway_records,
        successor,
    })
}

/// Starts `dimby run` and waits until it has restored every guild to playing on the node;
/// returns the process and how long that took.
async fn start_restored(
    config: &Path,
    log: &Path,
    node: &SimNode,
    guilds: &[LavalinkGuild],
) -> anyhow::Result<(tokio::process::Child, Duration)> {
    let started = Instant::now();
    let mut bot = spawn_bot(config, log)?;
    let playing = tokio::time::timeout(RESTORE_GUARD, async {
        while playing_positions(node, guilds).len() < guilds.len() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if playing.is_err() {
        let _ = bot.start_kill();
        anyhow::bail!(
            "the bot did not restore every guild within {RESTORE_GUARD:?} (log: {})",
            log.display()
        );
    }
    Ok((bot, started.elapsed()))
}

/// What the stop left in the store.
struct Stored {
    positions_at_stop: u64,
    offsets: super::Percentiles,
    queues_intact: u64,
}

/// Reads the guilds the stop wrote: positions against the node's at the signal, queues intact.
async fn read_store(
    data: &Path,
    at_signal: &HashMap<LavalinkGuild, u64>,
    titles: &(String, String),
) -> anyhow::Result<Stored> {
    let store = store::SqliteStore::open(&store::SqliteConfig::new(data))
        .await
        .context("opening the store after the stop")?;
    let stored = store::Store::load_all_guilds(&store)
        .await
        .context("reading the guilds")?
        .guilds;
    let positions_at_stop = stored
        .iter()
        .filter(|g| {
            at_signal
                .get(&LavalinkGuild(g.guild_id))
                .is_some_and(|at| g.position.position_ms.abs_diff(*at) <= POSITION_TOLERANCE_MS)
        })
        .count();
    let offsets: Vec<f64> = stored
        .iter()
        .filter_map(|g| {
            let at = at_signal.get(&LavalinkGuild(g.guild_id))?;
            #[allow(clippy::cast_precision_loss)]
            Some(g.position.position_ms as f64 - *at as f64)
        })
        .collect();
    let queues_intact = stored
        .iter()
        .filter(|g| {
            g.current.as_ref().map(|c| c.title.as_str()) == Some(titles.0.as_str())
                && g.queue
                    .iter()
                    .map(|e| e.title.as_str())
                    .eq([titles.1.as_str()])
        })
        .count();
    Ok(Stored {
        positions_at_stop: count(positions_at_stop),
        offsets: super::Percentiles::of(offsets),
        queues_intact: count(queues_intact),
    })
}

/// Takes the handover records from the store: (Lavalink, gateway).
async fn take_records(data: &Path) -> anyhow::Result<(u64, u64)> {
    let store = store::SqliteStore::open(&store::SqliteConfig::new(data))
        .await
        .context("opening the store after the stop")?;
    let lavalink = store::Store::take_lavalink_sessions(&store, store::HandoverScope::whole(1))
        .await
        .context("reading the handover records")?
        .len();
    let gateway = store::Store::take_gateway_sessions(&store, store::HandoverScope::whole(1))
        .await
        .context("reading the handover records")?
        .len();
    Ok((count(lavalink), count(gateway)))
}

/// What the successor should find.
struct Expected<'a> {
    at_signal: &'a HashMap<LavalinkGuild, u64>,
    signalled: Instant,
    session: Option<String>,
    title: &'a str,
}

/// Starts the successor, waits for its answers to the commands sent in the gap, looks at the
/// node, and stops it.
#[allow(clippy::too_many_arguments)]
async fn take_over(
    dir: &Path,
    config: &Path,
    discord: &DiscordSim,
    node: &SimNode,
    guilds: &[LavalinkGuild],
    commands: Vec<sim::discord::InteractionHandle>,
    identifies_before: u32,
    track_starts: TrackStarts,
    expected: Expected<'_>,
) -> anyhow::Result<Successor> {
    let log = dir.join("successor.log");
    let spawned = Instant::now();
    let mut bot = spawn_bot(config, &log)?;
    let answers = futures_util::future::join_all(commands.iter().map(|handle| async move {
        let message = tokio::time::timeout(RESTORE_GUARD, handle.original()).await;
        let answered = spawned.elapsed();
        match message {
            Ok(Ok(message)) => Some((message.content, answered)),
            _ => None,
        }
    }))
    .await;
    let answered: Vec<Duration> = answers
        .iter()
        .flatten()
        .filter(|(content, _)| content.contains(expected.title))
        .map(|(_, at)| *at)
        .collect();
    let all_playing = tokio::time::timeout(RESTORE_GUARD, async {
        loop {
            if playing_positions(node, guilds).len() == guilds.len() {
                return spawned.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or(RESTORE_GUARD);
    let positions = playing_positions(node, guilds);
    let since_signal = expected.signalled.elapsed();
    let gaps: Vec<f64> = positions
        .iter()
        .filter_map(|(guild, now)| {
            let at = expected.at_signal.get(guild)?;
            #[allow(clippy::cast_precision_loss)]
            let continuous = *at as f64 + ms(since_signal);
            #[allow(clippy::cast_precision_loss)]
            Some(continuous - *now as f64)
        })
        .collect();
    let positions_kept = positions
        .iter()
        .filter(|(guild, now)| {
            expected
                .at_signal
                .get(guild)
                .is_some_and(|at| **now + POSITION_TOLERANCE_MS >= *at)
        })
        .count();
    let sessions = node.sessions();
    let lavalink_session_resumed = sessions.len() == 1
        && sessions[0].connected
        && Some(&sessions[0].id) == expected.session.as_ref();
    let identifies = discord.identify_count().saturating_sub(identifies_before);
    let (stopped_cleanly, _, _) = signal_and_wait(&mut bot, false).await?;
    let track_starts = track_starts.total();
    Ok(Successor {
        commands_sent: count(commands.len()),
        answered: count(answered.len()),
        first_answer_after_spawn_ms: answered.iter().min().map_or(0.0, |d| ms(*d)),
        last_answer_after_spawn_ms: answered.iter().max().map_or(0.0, |d| ms(*d)),
        identifies: u64::from(identifies),
        lavalink_session_resumed,
        players_adopted: adopted_line(&log).unwrap_or(0),
        track_starts,
        players_playing: count(positions.len()),
        all_playing_after_spawn_ms: ms(all_playing),
        positions_kept: count(positions_kept),
        position_gap_ms: super::Percentiles::of(gaps),
        stopped_cleanly,
    })
}

/// Waits until the node has dropped the detached session (its resume timeout passed).
async fn wait_session_dropped(node: &SimNode) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !node.sessions().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the node kept the detached session past its resume timeout")
}

/// `/nowplaying` in the first [`COMMANDS_IN_THE_GAP`] guilds, while no process is connected.
fn send_commands(
    discord: &DiscordSim,
    listeners: &[Listener],
) -> anyhow::Result<Vec<sim::discord::InteractionHandle>> {
    listeners
        .iter()
        .take(usize::try_from(COMMANDS_IN_THE_GAP).unwrap_or(usize::MAX))
        .map(|listener| {
            let command = sim::discord::SlashCommand::new(
                listener.guild.id,
                listener.guild.text_channel(),
                listener.user,
                "nowplaying",
            );
            discord.invoke(&command).context("invoking /nowplaying")
        })
        .collect()
}

/// Sends the stop signal and waits for the exit (killing the bot past [`EXIT_GUARD`]): whether
/// it exited by itself, its exit code, and how long after the signal.
async fn signal_and_wait(
    bot: &mut tokio::process::Child,
    handover: bool,
) -> anyhow::Result<(bool, Option<i32>, Duration)> {
    let signal = if handover { "-USR2" } else { "-TERM" };
    let pid = bot.id().context("the bot's pid")?;
    let signalled = Instant::now();
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("running kill")?;
    anyhow::ensure!(sent.success(), "kill {signal} {pid} failed");
    if let Ok(status) = tokio::time::timeout(EXIT_GUARD, bot.wait()).await {
        let code = status.context("waiting for the bot")?.code();
        return Ok((true, code, signalled.elapsed()));
    }
    let _ = bot.start_kill();
    let _ = bot.wait().await;
    Ok((false, None, signalled.elapsed()))
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The guilds' stored state as a previous process left it: the long track current at 1 s (so
/// the restore plays it on from there), one more queued, the channels. Returns the two titles.
pub(crate) async fn seed_store(
    data: &Path,
    node: &SimNode,
    listeners: &[Listener],
) -> anyhow::Result<(String, String)> {
    let store = store::SqliteStore::open(&store::SqliteConfig::new(data))
        .await
        .context("creating the store")?;
    let (current, queued) = (load(node, TRACK).await?, load(node, QUEUED).await?);
    let now = now_unix_ms();
    for listener in listeners {
        let guild = listener.guild.id.get();
        store::Store::set_current(
            &store,
            guild,
            Some(&entry(&current, listener.user.get(), now)),
            store::PositionSnapshot::new(SAVED_POSITION_MS, now),
        )
        .await
        .context("seeding a guild")?;
        store::Store::enqueue(
            &store,
            guild,
            &[entry(&queued, listener.user.get(), now)],
            None,
        )
        .await
        .context("seeding a guild")?;
        store::Store::set_channels(
            &store,
            guild,
            Some(listener.guild.voice_channel(0).get()),
            Some(listener.guild.text_channel().get()),
        )
        .await
        .context("seeding a guild")?;
    }
    Ok((current.info.title, queued.info.title))
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn entry(track: &Track, requester_id: u64, added_at_unix_ms: u64) -> store::QueueEntry {
    store::QueueEntry {
        track: track.encoded.clone(),
        requester_id,
        title: track.info.title.clone(),
        author: track.info.author.clone(),
        length_ms: track.info.known_length().unwrap_or(0),
        uri: track.info.uri.clone(),
        added_at_unix_ms,
    }
}

/// Loads `identifier` from the node stand-in, as the bot would.
async fn load(node: &SimNode, identifier: &str) -> anyhow::Result<Track> {
    let config = lavalink::NodeConfig::new(node.name(), &node.rest_url(), node.password(), 1)
        .context("a client for the stand-in")?;
    let rest = lavalink::client::Rest::new(config);
    match rest
        .load_tracks(identifier)
        .await
        .context("loading a track")?
    {
        LoadResult::Track(track) => Ok(track),
        other => anyhow::bail!("{identifier} loaded as {other:?}"),
    }
}

fn write_config(
    path: &Path,
    discord: &DiscordSim,
    node: &SimNode,
    data: &Path,
    extra: &str,
) -> anyhow::Result<()> {
    let config = test_support::run_config(discord, &[node], data, extra);
    std::fs::write(path, config).with_context(|| format!("writing {}", path.display()))
}

fn spawn_bot(config: &Path, log: &Path) -> anyhow::Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("this binary's path")?;
    let log = std::fs::File::create(log).context("the bot's log file")?;
    tokio::process::Command::new(exe)
        .args(["--log-format", "json", "run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting dimby run")
}

/// The position of every guild whose player plays on the node (a track, not paused, voice up).
pub(crate) fn playing_positions(
    node: &SimNode,
    guilds: &[LavalinkGuild],
) -> HashMap<LavalinkGuild, u64> {
    let mut positions = HashMap::new();
    for session in node.sessions().iter().filter(|s| s.connected) {
        for guild in guilds {
            if let Some(player) = node.player(&session.id, *guild)
                && player.track.is_some()
                && !player.paused
                && player.state.connected
            {
                positions.insert(*guild, player.state.position);
            }
        }
    }
    positions
}

/// The bot's players left on the node, how many play, and its sessions waiting for a resume.
fn node_after(node: &SimNode, guilds: &[LavalinkGuild]) -> (u64, u64, u64) {
    let (mut left, mut playing, mut resumable) = (0, 0, 0);
    for session in node.sessions() {
        resumable += u64::from(session.resuming && !session.connected);
        for guild in guilds {
            if let Some(player) = node.player(&session.id, *guild) {
                left += 1;
                playing +=
                    u64::from(player.track.is_some() && !player.paused && player.state.connected);
            }
        }
    }
    (left, playing, resumable)
}

/// The fields of the bot's stop line, from its JSON log.
fn bot_stop_line(log: &Path) -> Option<BotStop> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = value.get("fields")?;
        if fields.get("message")?.as_str()?
            != "stopping: the guilds are stopped and their state is written"
        {
            return None;
        }
        Some(BotStop {
            guilds: fields.get("guilds")?.as_u64()?,
            positions_written: fields.get("positions_written")?.as_u64()?,
            tasks_left: fields.get("tasks_left")?.as_u64()?,
            abandoned: fields.get("abandoned")?.as_bool()?,
        })
    })
}

/// The `fields` of every JSON log line whose message is `message`.
fn log_fields(log: &Path, message: &str) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = value.get_mut("fields")?.take();
            (fields.get("message")?.as_str()? == message).then_some(fields)
        })
        .collect()
}

/// The handover records the stopping process says it wrote: (Lavalink, gateway).
fn handover_line(log: &Path) -> Option<(u64, u64)> {
    let fields = log_fields(log, "handover records written for the successor");
    let last = fields.last()?;
    Some((
        last.get("lavalink")?.as_u64()?,
        last.get("gateway")?.as_u64()?,
    ))
}

/// The players a successor adopted, over every session it took up.
fn adopted_line(log: &Path) -> Option<u64> {
    let fields = log_fields(log, "took up a handed-over Lavalink session");
    if fields.is_empty() {
        return None;
    }
    Some(
        fields
            .iter()
            .filter_map(|f| f.get("players")?.as_u64())
            .sum(),
    )
}
