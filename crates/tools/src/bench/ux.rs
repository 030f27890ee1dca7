//! `dimby bench ux`: what the Discord side of the bot costs and how fast it answers, with the
//! real bot on the stand-ins (the `commands` scenario's [`Rig`] and [`Script`]). Two parts, each
//! with its own stand-ins and bot:
//!
//! - **Suggestions while typing**: `--typists` scripted users, each in their own guild, type
//!   song names into `/play query` one keystroke at a time (8 to 10 a second, an autocomplete
//!   interaction per keystroke from the second character, a pause between names; a few names
//!   share words, so typists meet in the bot's search cache). Latency is from the stand-in
//!   writing INTERACTION_CREATE (`dispatched_at`) to the callback reaching it (`callback_at`);
//!   answers refused by the stand-in (its 3 s deadline) are counted from `rejections`, and where
//!   each answer's suggestions came from is read from the bot's
//!   `dimby_autocomplete_answers_total{command="play",outcome}`.
//! - **The now-playing panel**: `--guilds` guilds, each with a listener in voice playing a queue
//!   of short tracks (two `sim:length:<ms>` tracks and `/loop mode:queue`, lengths spread over
//!   `--track-min-seconds` to `--track-max-seconds`) so the panel changes several times a
//!   guild in the window. The bot's
//!   REST calls go through a recording proxy in front of the Discord stand-in (`rest_proxy`), so
//!   every `channel_messages` call (panel posts, edits, deletions) is seen with its time and the
//!   stand-in's answer (429s included); the bot's own count of 429s is read from
//!   `dimby_discord_rest_rate_limited_total{route="channel_messages"}`. The stand-in keeps its
//!   per route + channel bucket (`DiscordConfig::rest_bucket`); Discord's global limit (50
//!   requests a second per bot, documented) is not enforced by it, so the peak rate of requests
//!   that count against it is reported beside 50.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sim::discord::{DiscordSim, InteractionHandle, MessageChange, SlashCommand};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use super::commands::{Rig, Script};
use app::ServeOptions;
use telemetry::{Format, Metrics};

/// Which parts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Suggestions while typing.
    Autocomplete,
    /// The now-playing panel.
    Panel,
    /// Both, one after the other.
    Both,
}

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users typing into `/play query` at once, each in their own guild.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=2_000))]
    pub typists: u64,
    /// Seconds of typing.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Latency added to every answer of the Lavalink stand-ins while users type (a real search
    /// takes hundreds of milliseconds; the stand-in answers at once). 0 adds none.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub search_latency_ms: u64,
    /// Playing guilds for the panel, each with its text channel and a listener in voice.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub guilds: u64,
    /// Seconds of the panel's measured window.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub panel_seconds: u64,
    /// The shortest track of the panel part, seconds (`sim:length:<ms>`).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub track_min_seconds: u64,
    /// The longest track of the panel part, seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub track_max_seconds: u64,
    /// Commands a second while the panel part sets the guilds up (`/play` twice and `/loop`
    /// per guild). Each costs a panel post or edit, and the bot's REST client keeps to
    /// Discord's global 50 requests a second, so more only queues them.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rate: u32,
    /// Lavalink stand-ins.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub nodes: u64,
    /// Which parts run.
    #[arg(long, value_enum, default_value_t = Part::Both)]
    pub part: Part,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Discord's deadline for the first answer to an interaction.
const DEADLINE: Duration = Duration::from_secs(3);
/// The goal for suggestions: p99 under this, ms.
const GOAL_P99_MS: f64 = 300.0;
/// Discord's documented global limit: requests a second per bot.
const GLOBAL_LIMIT: usize = 50;
/// A typical song's length, for the panel's per-minute figure at real track lengths: 3:30.
const TYPICAL_TRACK_SECONDS: f64 = 210.0;
/// The song names typists type: some share words ("never gonna", "lofi"), as real users do.
const PHRASES: [&str; 6] = [
    "never gonna give you up",
    "bohemian rhapsody",
    "lofi hip hop radio",
    "never gonna let you down",
    "blinding lights",
    "lofi beats to study to",
];

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

/// Runs the parts asked for and collects their figures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    if args.track_min_seconds > args.track_max_seconds {
        bail!("--track-min-seconds is over --track-max-seconds");
    }
    let nodes = usize::try_from(args.nodes)?;
    let autocomplete = if args.part == Part::Panel {
        None
    } else {
        let mut rig = Rig::start_stand_ins(args.typists, nodes).await?;
        let outcome = typing(&mut rig, args).await;
        rig.shutdown().await;
        Some(outcome?)
    };
    let panel = if args.part == Part::Autocomplete {
        None
    } else {
        let mut rig = Rig::start_stand_ins(args.guilds, nodes).await?;
        let outcome = match Proxy::start(rig.discord.rest_addr()).await {
            Ok(proxy) => {
                let outcome = panels(&mut rig, &proxy, args).await;
                proxy.task.abort();
                outcome
            }
            Err(error) => Err(error),
        };
        rig.shutdown().await;
        Some(outcome?)
    };
    Ok(Report {
        scenario: "ux",
        build: super::BUILD,
        autocomplete,
        panel,
    })
}

// ----- the report -----

/// The figures of a run.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `"ux"`.
    pub scenario: &'static str,
    /// `"release"` or `"debug"`.
    pub build: &'static str,
    /// Suggestions while typing, when that part ran.
    pub autocomplete: Option<Autocomplete>,
    /// The now-playing panel, when that part ran.
    pub panel: Option<Panel>,
}

/// Percentiles with the 90th, nearest rank, in the sample's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Spread {
    /// How many values.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// Nearest-rank percentiles of `values`.
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
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
            p90: rank(0.90),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// Suggestions while typing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Autocomplete {
    /// Typists, each in their own guild.
    pub typists: u64,
    /// Seconds of typing.
    pub seconds: u64,
    /// Latency added to the Lavalink stand-ins' answers.
    pub search_latency_ms: u64,
    /// Autocomplete interactions sent (one per keystroke from the second character).
    pub sent: usize,
    /// Keystrokes a second while a name is typed, achieved (first to last request of each
    /// name, averaged over the names; the pauses between names left out).
    pub keystrokes_per_second: f64,
    /// Names typed to the end.
    pub names_typed: usize,
    /// Answers the stand-in accepted (a callback within its 3 s).
    pub answered: usize,
    /// Answers the stand-in refused (too late: 10062; or another code).
    pub refused: usize,
    /// The refusals' Discord error codes, with counts.
    pub refusal_codes: BTreeMap<u64, usize>,
    /// Interactions without an answer nor a refusal 5 s after the last keystroke.
    pub unanswered: usize,
    /// Accepted answers that came after 3 s (the stand-in should have refused them).
    pub late: usize,
    /// Answers with no choice at all.
    pub empty: usize,
    /// Received (`dispatched_at`) to answered (`callback_at`), ms.
    pub latency_ms: Spread,
    /// Where the answers' suggestions came from, as the bot counted them over the part
    /// (`dimby_autocomplete_answers_total{command="play",outcome}`).
    pub outcomes: BTreeMap<String, u64>,
    /// The goal: p99 under this many ms.
    pub goal_p99_ms: f64,
}

/// The now-playing panel.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Panel {
    /// Guilds, each playing.
    pub guilds: u64,
    /// Lavalink stand-ins.
    pub nodes: u64,
    /// Gateway shards.
    pub shards: u32,
    /// Track lengths: shortest, mean and longest, seconds.
    pub track_seconds: (f64, f64, f64),
    /// Tracks queued per guild (the queue loops: `/loop mode:queue`).
    pub tracks_per_guild: usize,
    /// Commands sent to set the guilds up (`/play` per track, then `/loop`).
    pub plays: usize,
    /// ... answered.
    pub plays_answered: usize,
    /// ... answered with an error or a refusal (ephemeral, "Something went wrong").
    pub plays_refused: usize,
    /// Seconds from the first set-up command to the last answer.
    pub setup_seconds: f64,
    /// Players playing when the window opened and when it closed.
    pub playing: (usize, usize),
    /// Track changes the lengths make in the window (each guild: window / its length).
    pub expected_track_changes: f64,
    /// The queueing phase (every guild's first `/play` posts its panel, later ones edit it).
    pub setup: RestWindow,
    /// The measured window: every guild playing, nobody typing.
    pub measured: RestWindow,
    /// Panel edits the stand-in applied over the whole run (MESSAGE_UPDATE of a message with
    /// the panel's buttons in its change log), and successful PATCHes of channel messages the
    /// proxy saw: the two should agree.
    pub edits_cross_check: (usize, usize),
    /// Estimated panel REST calls a minute for these guilds at a typical track length (3:30):
    /// the measured calls per track change times the track changes such lengths make.
    pub per_minute_at_typical_tracks: f64,
    /// Discord's documented global limit, requests a second.
    pub global_limit: usize,
}

/// REST traffic of one window, as the proxy saw it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestWindow {
    /// Seconds.
    pub seconds: f64,
    /// Panel posts (`POST /channels/{id}/messages` with panel buttons), answered 2xx.
    pub panel_posts: usize,
    /// Other messages posted (announcements).
    pub other_posts: usize,
    /// Edits (`PATCH /channels/{id}/messages/{id}`), answered 2xx.
    pub edits: usize,
    /// Deletions (`DELETE /channels/{id}/messages/{id}`), answered 2xx.
    pub deletions: usize,
    /// Every `channel_messages` request, 429s and errors included: what the panel costs.
    pub channel_messages_requests: usize,
    /// 429 answers of the stand-in to `channel_messages` requests.
    pub standin_429s: usize,
    /// 429 answers of the stand-in on any route.
    pub standin_429s_all_routes: usize,
    /// Other non-2xx answers to `channel_messages` requests.
    pub channel_messages_errors: usize,
    /// The bot's count of 429s on `channel_messages`
    /// (`dimby_discord_rest_rate_limited_total{route="channel_messages"}`).
    pub bot_rate_limited: u64,
    /// The bot's count of 429s on every route.
    pub bot_rate_limited_all_routes: u64,
    /// Per minute: panel posts, edits, deletions, `channel_messages` requests.
    pub per_minute: PerMinute,
    /// The most edits one channel got in any 5 s.
    pub busiest_channel_edits_5s: usize,
    /// The most `channel_messages` requests in any 1 s.
    pub peak_channel_messages_per_second: usize,
    /// The most requests in any 1 s that count against Discord's global limit (every route but
    /// the interaction callback and interaction webhooks, which Discord exempts).
    pub peak_global_per_second: usize,
    /// The most requests in any 1 s, every route.
    pub peak_all_per_second: usize,
    /// Interaction callbacks and webhook calls (answers to commands).
    pub interaction_requests: usize,
}

/// Counts a minute.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PerMinute {
    /// Panel posts.
    pub panel_posts: f64,
    /// Edits.
    pub edits: f64,
    /// Deletions.
    pub deletions: f64,
    /// `channel_messages` requests.
    pub requests: f64,
}

fn print_table(r: &Report) {
    println!("ux bench ({} build)", r.build);
    if let Some(a) = &r.autocomplete {
        print_autocomplete(a);
    }
    if let Some(p) = &r.panel {
        print_panel(p);
    }
}

fn print_autocomplete(a: &Autocomplete) {
    println!(
        "  suggestions while typing: {} typists (each in their own guild) for {} s, {:.1} keystrokes/s each, search latency added {} ms",
        a.typists, a.seconds, a.keystrokes_per_second, a.search_latency_ms
    );
    println!(
        "    {} autocompletes sent, {} answered, {} refused by the stand-in {:?}, {} unanswered, {} over 3 s, {} with no choice; {} names typed",
        a.sent,
        a.answered,
        a.refused,
        a.refusal_codes,
        a.unanswered,
        a.late,
        a.empty,
        a.names_typed
    );
    let l = &a.latency_ms;
    println!(
        "    received -> answered   p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   (n={}; goal p99 < {} ms)",
        l.p50, l.p90, l.p99, l.max, l.count, a.goal_p99_ms
    );
    let total: u64 = a.outcomes.values().sum();
    for (outcome, n) in &a.outcomes {
        #[allow(clippy::cast_precision_loss)]
        let share = *n as f64 * 100.0 / total.max(1) as f64;
        println!("      {outcome:<10} {n:>7}  {share:>5.1} %");
    }
}

fn print_panel(p: &Panel) {
    println!(
        "  now-playing panel: {} guilds playing on {} nodes, {} shards; tracks of {:.0} to {:.0} s (mean {:.1} s)",
        p.guilds, p.nodes, p.shards, p.track_seconds.0, p.track_seconds.2, p.track_seconds.1
    );
    println!(
        "    set-up: {} commands (/play x{}, /loop queue), {} answered ({} refused) in {:.1} s; playing at the window's start {} and end {}; {:.0} track changes expected in the window",
        p.plays,
        p.tracks_per_guild,
        p.plays_answered,
        p.plays_refused,
        p.setup_seconds,
        p.playing.0,
        p.playing.1,
        p.expected_track_changes
    );
    print_window("queueing (setup)", &p.setup);
    print_window("measured window", &p.measured);
    println!(
        "    edits: stand-in applied {}, proxy saw {} succeed (whole run)",
        p.edits_cross_check.0, p.edits_cross_check.1
    );
    println!(
        "    at 3:30 tracks instead: ~{:.0} channel_messages requests a minute for these guilds ({:.2}/s)",
        p.per_minute_at_typical_tracks,
        p.per_minute_at_typical_tracks / 60.0
    );
}

fn print_window(name: &str, w: &RestWindow) {
    let m = &w.per_minute;
    println!(
        "    {name} ({:.1} s): {} panel posts, {} other posts, {} edits, {} deletions = {} channel_messages requests ({} errors)",
        w.seconds,
        w.panel_posts,
        w.other_posts,
        w.edits,
        w.deletions,
        w.channel_messages_requests,
        w.channel_messages_errors
    );
    println!(
        "      per minute: {:.0} posts, {:.0} edits, {:.0} deletions, {:.0} requests",
        m.panel_posts, m.edits, m.deletions, m.requests
    );
    println!(
        "      429s: stand-in {} on channel_messages ({} all routes), bot counted {} ({} all routes)",
        w.standin_429s,
        w.standin_429s_all_routes,
        w.bot_rate_limited,
        w.bot_rate_limited_all_routes
    );
    println!(
        "      busiest channel: {} edits in 5 s; peak 1 s: {} channel_messages, {} against the global limit of {GLOBAL_LIMIT}/s, {} all routes ({} interaction calls)",
        w.busiest_channel_edits_5s,
        w.peak_channel_messages_per_second,
        w.peak_global_per_second,
        w.peak_all_per_second,
        w.interaction_requests
    );
}

// ----- the bot's counters -----

/// The value of every sample of counter `name` whose labels include `labels`, summed.
fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    samples(text, name)
        .filter(|(sample_labels, _)| {
            labels
                .iter()
                .all(|(k, v)| sample_labels.get(*k).is_some_and(|value| value == v))
        })
        .map(|(_, value)| value)
        .sum()
}

/// The samples of counter `name`: their labels and value.
fn samples<'a>(
    text: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (HashMap<String, String>, u64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once('}')?,
            None => ("", rest),
        };
        let value: f64 = value.split_whitespace().next()?.parse().ok()?;
        let labels = labels
            .split(',')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            })
            .collect();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let value = value.max(0.0) as u64;
        Some((labels, value))
    })
}

const SUGGESTIONS: &str = "dimby_autocomplete_answers_total";
const RATE_LIMITED: &str = "dimby_discord_rest_rate_limited_total";

fn encode(metrics: &Metrics) -> String {
    metrics.encode(Format::Prometheus)
}

// ----- suggestions while typing -----

/// One autocomplete sent.
struct Typed {
    typist: usize,
    /// Which name of the typist's this keystroke belongs to.
    name: usize,
    handle: InteractionHandle,
    sent_at: Instant,
}

/// Who types where.
#[derive(Debug, Clone, Copy)]
struct Typist {
    index: usize,
    guild: Id<GuildMarker>,
    channel: Id<ChannelMarker>,
    user: Id<UserMarker>,
}

async fn typing(rig: &mut Rig, args: &Args) -> anyhow::Result<Autocomplete> {
    let config = rig.bot_config(super::fresh_data_dir("ux-typing"))?;
    let metrics = bot::runtime::command_metrics();
    rig.start_bot(
        config,
        ServeOptions {
            metrics: Some(metrics.clone()),
            ..ServeOptions::default()
        },
    )
    .await?;
    let script: Script = rig.populate(args.typists).await?;
    if args.search_latency_ms > 0 {
        for node in rig.nodes.iter() {
            node.slow(Duration::from_millis(args.search_latency_ms));
        }
    }
    tracing::info!(typists = args.typists, "bench phase: typing");
    let before = encode(&metrics);
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for (index, listener) in script.listeners.iter().enumerate() {
        let typist = Typist {
            index,
            guild: listener.guild.id,
            channel: listener.guild.text_channel(),
            user: listener.user,
        };
        tasks.push(tokio::spawn(type_names(
            Arc::clone(&rig.discord),
            typist,
            until,
        )));
    }
    let mut typed = Vec::new();
    let mut names_typed = 0;
    for task in tasks {
        let (sent, names) = task.await.context("a typist")??;
        typed.extend(sent);
        names_typed += names;
    }
    await_callbacks(&typed).await;
    // The bot counts an answer once it is sent: let the last ones be counted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = encode(&metrics);
    let mut report = analyse_typing(&typed, args.typists);
    report.seconds = args.seconds;
    report.search_latency_ms = args.search_latency_ms;
    report.names_typed = names_typed;
    for outcome in [
        "searched",
        "cached",
        "limited",
        "timed_out",
        "failed",
        "listed",
        "unsent",
    ] {
        let labels = [("command", "play"), ("outcome", outcome)];
        let n = counter(&after, SUGGESTIONS, &labels).saturating_sub(counter(
            &before,
            SUGGESTIONS,
            &labels,
        ));
        if n > 0 || !matches!(outcome, "listed" | "unsent") {
            report.outcomes.insert(outcome.to_owned(), n);
        }
    }
    Ok(report)
}

/// One typist until `until`: song names one after the other, a keystroke every 100 to 125 ms
/// (8 to 10 a second), an autocomplete per keystroke from the second character, 1 to 2 s
/// between names (picking a suggestion, sending). Returns what was sent and the names finished.
async fn type_names(
    discord: Arc<DiscordSim>,
    typist: Typist,
    until: Instant,
) -> anyhow::Result<(Vec<Typed>, usize)> {
    let mut rng = StdRng::seed_from_u64(0x7e57_0000 ^ u64::try_from(typist.index)?);
    let mut sent = Vec::new();
    let mut names = 0;
    // Typists do not start in step.
    let mut next = Instant::now() + Duration::from_millis(rng.random_range(0..1000));
    let mut phrase = typist.index % PHRASES.len();
    loop {
        let name: Vec<char> = PHRASES[phrase].chars().collect();
        for typed in 1..=name.len() {
            next += Duration::from_millis(rng.random_range(100..=125));
            if next > until {
                return Ok((sent, names));
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
            if typed < 2 {
                continue;
            }
            let text: String = name[..typed].iter().collect();
            let command = SlashCommand::new(typist.guild, typist.channel, typist.user, "play")
                .typing("query", text);
            let handle = discord
                .autocomplete(&command)
                .context("an autocomplete of /play")?;
            sent.push(Typed {
                typist: typist.index,
                name: names,
                handle,
                sent_at: Instant::now(),
            });
        }
        names += 1;
        next += Duration::from_millis(rng.random_range(1000..=2000));
        phrase = (phrase + 1) % PHRASES.len();
    }
}

/// Waits until every autocomplete has an answer or a refusal, or 5 s after the last.
async fn await_callbacks(typed: &[Typed]) {
    let deadline = typed
        .iter()
        .map(|t| t.sent_at)
        .max()
        .unwrap_or_else(Instant::now)
        + Duration::from_secs(5);
    let mut outstanding: Vec<&Typed> = typed.iter().collect();
    loop {
        outstanding.retain(|t| {
            let record = t.handle.record();
            record.callback_at.is_none() && record.rejections.is_empty()
        });
        if outstanding.is_empty() || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn analyse_typing(typed: &[Typed], typists: u64) -> Autocomplete {
    let mut report = Autocomplete {
        typists,
        sent: typed.len(),
        goal_p99_ms: GOAL_P99_MS,
        ..Autocomplete::default()
    };
    let mut latencies = Vec::new();
    let mut spans: BTreeMap<(usize, usize), (Instant, Instant, usize)> = BTreeMap::new();
    for t in typed {
        let span = spans
            .entry((t.typist, t.name))
            .or_insert((t.sent_at, t.sent_at, 0));
        span.0 = span.0.min(t.sent_at);
        span.1 = span.1.max(t.sent_at);
        span.2 += 1;
        let record = t.handle.record();
        for code in &record.rejections {
            *report.refusal_codes.entry(*code).or_default() += 1;
        }
        if !record.rejections.is_empty() && record.callback_at.is_none() {
            report.refused += 1;
            continue;
        }
        let (Some(dispatched), Some(answered)) = (record.dispatched_at, record.callback_at) else {
            report.unanswered += 1;
            continue;
        };
        report.answered += 1;
        let latency = answered.saturating_duration_since(dispatched);
        if latency > DEADLINE {
            report.late += 1;
        }
        if record.choices().is_none_or(|choices| choices.is_empty()) {
            report.empty += 1;
        }
        latencies.push(ms(latency));
    }
    report.latency_ms = Spread::of(latencies);
    // Keystrokes a second while typing a name: its requests over their span (the pauses
    // between names left out), averaged over the names.
    let rates: Vec<f64> = spans
        .values()
        .filter(|(first, last, n)| *n > 1 && last > first)
        .map(|(first, last, n)| {
            #[allow(clippy::cast_precision_loss)]
            let intervals = (*n - 1) as f64;
            intervals / last.saturating_duration_since(*first).as_secs_f64()
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let mean = rates.iter().sum::<f64>() / (rates.len().max(1) as f64);
    report.keystrokes_per_second = mean;
    report
}

// ----- the recording proxy -----

/// One request the bot made to the Discord stand-in's REST API.
#[derive(Debug, Clone)]
struct RestCall {
    at: Instant,
    method: axum::http::Method,
    /// The path without `/api/v10`.
    path: String,
    status: u16,
    /// A POST whose body carries panel buttons.
    panel: bool,
}

impl RestCall {
    /// The channel of a `channel_messages` call.
    fn channel_messages(&self) -> Option<&str> {
        let rest = self.path.strip_prefix("/channels/")?;
        let (channel, rest) = rest.split_once('/')?;
        rest.starts_with("messages").then_some(channel)
    }

    /// Interaction callbacks and interaction webhooks: exempt from the global limit.
    fn interaction(&self) -> bool {
        self.path.starts_with("/interactions/") || self.path.starts_with("/webhooks/")
    }
}

struct ProxyState {
    target: SocketAddr,
    client: reqwest::Client,
    calls: Mutex<Vec<RestCall>>,
}

/// A recording HTTP proxy in front of the stand-in's REST API (the bot's `rest_proxy`).
struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the recording proxy")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            target,
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(256)
                .build()?,
            calls: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "the recording proxy stopped");
            }
        });
        Ok(Self { addr, state, task })
    }

    fn calls(&self) -> Vec<RestCall> {
        self.state
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Forwards one request to the stand-in and records it with the stand-in's status.
async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = state
        .client
        .request(
            parts.method.clone(),
            format!("http://{}{path_and_query}", state.target),
        )
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let (status, headers, bytes) = match outgoing.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(bytes) => (status, headers, bytes),
                Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let path = parts.uri.path();
    let call = RestCall {
        at,
        method: parts.method.clone(),
        path: path.strip_prefix("/api/v10").unwrap_or(path).to_owned(),
        status: status.as_u16(),
        panel: parts.method == axum::http::Method::POST && body.windows(6).any(|w| w == b"panel:"),
    };
    state
        .calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(call);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != header::TRANSFER_ENCODING
            && name != header::CONNECTION
            && name != header::CONTENT_LENGTH
        {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

// ----- the now-playing panel -----

/// Tracks queued per guild: two (a change of track is then always a change of entry), the
/// queue looping, so every guild plays however long the set-up and the window take.
const TRACKS_PER_GUILD: usize = 2;

/// Each guild's track length, ms: spread evenly (seeded) from the shortest to the longest, so
/// guilds do not change tracks in step.
fn track_lengths(args: &Args) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(0x9a7e_1000);
    let (min, max) = (args.track_min_seconds * 1000, args.track_max_seconds * 1000);
    (0..args.guilds)
        .map(|_| rng.random_range(min..=max))
        .collect()
}

async fn panels(rig: &mut Rig, proxy: &Proxy, args: &Args) -> anyhow::Result<Panel> {
    let mut config = rig.bot_config(super::fresh_data_dir("ux-panel"))?;
    config.discord.rest_proxy = Some(proxy.addr.to_string());
    let metrics = bot::runtime::command_metrics();
    rig.start_bot(
        config,
        ServeOptions {
            metrics: Some(metrics.clone()),
            ..ServeOptions::default()
        },
    )
    .await?;
    tracing::info!(guilds = args.guilds, "bench phase: creating the guilds");
    let script = rig.populate(args.guilds).await?;
    let lengths = track_lengths(args);
    tracing::info!("bench phase: queueing the tracks");
    let setup_metrics = encode(&metrics);
    let setup_start = Instant::now();
    let plays = queue_tracks(&rig.discord, &script, &lengths, args.rate).await?;
    let (plays_answered, plays_refused) = await_plays(&plays).await;
    let setup_seconds = Instant::now()
        .saturating_duration_since(setup_start)
        .as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let playing_start = rig.playing_players();
    let window_metrics = encode(&metrics);
    tracing::info!(seconds = args.panel_seconds, "bench phase: measured window");
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.panel_seconds)).await;
    let end = Instant::now();
    let end_metrics = encode(&metrics);
    let playing_end = rig.playing_players();
    let calls = proxy.calls();
    let setup = rest_window(
        &calls,
        setup_start,
        start,
        [&setup_metrics, &window_metrics],
    );
    let measured = rest_window(&calls, start, end, [&window_metrics, &end_metrics]);
    let window = end.saturating_duration_since(start).as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let seconds: Vec<f64> = lengths.iter().map(|ms| *ms as f64 / 1000.0).collect();
    let expected: f64 = seconds.iter().map(|s| window / s).sum();
    #[allow(clippy::cast_precision_loss)]
    let mean = seconds.iter().sum::<f64>() / seconds.len().max(1) as f64;
    let min = seconds.iter().copied().fold(f64::INFINITY, f64::min);
    let max = seconds.iter().copied().fold(0.0, f64::max);
    let standin_edits = panel_edits(&rig.discord, &script);
    let proxy_edits = calls
        .iter()
        .filter(|c| c.method == axum::http::Method::PATCH && c.channel_messages().is_some())
        .filter(|c| (200..300).contains(&c.status))
        .count();
    #[allow(clippy::cast_precision_loss)]
    let typical_changes_per_minute = args.guilds as f64 * 60.0 / TYPICAL_TRACK_SECONDS;
    #[allow(clippy::cast_precision_loss)]
    let per_change = measured.channel_messages_requests as f64 / expected.max(1.0);
    Ok(Panel {
        guilds: args.guilds,
        nodes: args.nodes,
        shards: rig.shards,
        track_seconds: (min, mean, max),
        tracks_per_guild: TRACKS_PER_GUILD,
        plays: plays.len(),
        plays_answered,
        plays_refused,
        setup_seconds,
        playing: (playing_start, playing_end),
        expected_track_changes: expected,
        setup,
        measured,
        edits_cross_check: (standin_edits, proxy_edits),
        per_minute_at_typical_tracks: per_change * typical_changes_per_minute,
        global_limit: GLOBAL_LIMIT,
    })
}

/// Edits of panel messages (with the panel's buttons) the stand-in applied in the guilds' text
/// channels (MESSAGE_UPDATE); answers to commands, edited through their webhook, are left out.
fn panel_edits(discord: &DiscordSim, script: &Script) -> usize {
    script
        .listeners
        .iter()
        .flat_map(|l| discord.message_changes(l.guild.text_channel()))
        .filter(|change| match change {
            MessageChange::Edited(message) => {
                serde_json::to_string(message).is_ok_and(|json| json.contains("\"panel:"))
            }
            MessageChange::Deleted { .. } => false,
        })
        .count()
}

/// Sets the guilds up, `rate` commands a second, one guild after the other: its `/play`s (each
/// track a millisecond longer than the one before, so no two entries are the same track), then
/// `/loop mode:queue`, which so comes long before its first track ends (a track that ends
/// before the loop is set would be dropped, and the guild would loop its last track alone,
/// which changes nothing on the panel). Guilds so start playing spread over the set-up.
async fn queue_tracks(
    discord: &DiscordSim,
    script: &Script,
    lengths: &[u64],
    rate: u32,
) -> anyhow::Result<Vec<InteractionHandle>> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::new();
    let mut k: u32 = 0;
    for (listener, length) in script.listeners.iter().zip(lengths) {
        for round in 0..=TRACKS_PER_GUILD {
            let at = start + period * k;
            k += 1;
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let guild = &listener.guild;
            let new =
                |name: &str| SlashCommand::new(guild.id, guild.text_channel(), listener.user, name);
            let command = if round < TRACKS_PER_GUILD {
                let query = format!("sim:length:{}", length + u64::try_from(round)?);
                new("play").string("query", query)
            } else {
                new("loop").string("mode", "queue")
            };
            handles.push(discord.invoke(&command).context("invoking a command")?);
        }
    }
    Ok(handles)
}

/// Waits until every set-up command is answered (a guard of 30 s plus a second per 40
/// commands); how many were answered, and how many of those with an error or a refusal.
async fn await_plays(plays: &[InteractionHandle]) -> (usize, usize) {
    let guard = 30 + u64::try_from(plays.len() / 40).unwrap_or(u64::MAX / 2);
    let deadline = Instant::now() + Duration::from_secs(guard);
    loop {
        let answered = plays
            .iter()
            .filter(|h| h.record().answered_at.is_some())
            .count();
        if answered == plays.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records: Vec<_> = plays.iter().map(InteractionHandle::record).collect();
    let answered = records.iter().filter(|r| r.answered_at.is_some()).count();
    let refused = records
        .iter()
        .filter_map(|r| r.original_content())
        .filter(|m| {
            m.flags.is_some_and(|f| {
                f.contains(twilight_model::channel::message::MessageFlags::EPHEMERAL)
            }) || m.content.starts_with("Something went wrong")
        })
        .count();
    (answered, refused)
}

/// The most of `times` (sorted) within any `width`.
fn busiest(times: &[Instant], width: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, at) in times.iter().enumerate() {
        while at.saturating_duration_since(times[first]) >= width {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// The REST traffic of `[from, to)`; `counters`: the bot's metrics at both ends.
fn rest_window(calls: &[RestCall], from: Instant, to: Instant, counters: [&str; 2]) -> RestWindow {
    use axum::http::Method;
    let seconds = to.saturating_duration_since(from).as_secs_f64();
    let mut w = RestWindow {
        seconds,
        ..RestWindow::default()
    };
    let mut edits_by_channel: HashMap<&str, Vec<Instant>> = HashMap::new();
    let (mut messages, mut global, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for call in calls.iter().filter(|c| c.at >= from && c.at < to) {
        all.push(call.at);
        if call.status == 429 {
            w.standin_429s_all_routes += 1;
        }
        if call.interaction() {
            w.interaction_requests += 1;
        } else {
            global.push(call.at);
        }
        let Some(channel) = call.channel_messages() else {
            continue;
        };
        messages.push(call.at);
        w.channel_messages_requests += 1;
        if call.status == 429 {
            w.standin_429s += 1;
            continue;
        }
        if !(200..300).contains(&call.status) {
            w.channel_messages_errors += 1;
            continue;
        }
        match call.method {
            Method::POST if call.panel => w.panel_posts += 1,
            Method::POST => w.other_posts += 1,
            Method::PATCH => {
                w.edits += 1;
                edits_by_channel.entry(channel).or_default().push(call.at);
            }
            Method::DELETE => w.deletions += 1,
            _ => {}
        }
    }
    w.busiest_channel_edits_5s = edits_by_channel
        .values()
        .map(|times| busiest(times, Duration::from_secs(5)))
        .max()
        .unwrap_or(0);
    for times in [&mut messages, &mut global, &mut all] {
        times.sort_unstable();
    }
    w.peak_channel_messages_per_second = busiest(&messages, Duration::from_secs(1));
    w.peak_global_per_second = busiest(&global, Duration::from_secs(1));
    w.peak_all_per_second = busiest(&all, Duration::from_secs(1));
    let labels = [("route", "channel_messages")];
    w.bot_rate_limited = counter(counters[1], RATE_LIMITED, &labels).saturating_sub(counter(
        counters[0],
        RATE_LIMITED,
        &labels,
    ));
    w.bot_rate_limited_all_routes = counter(counters[1], RATE_LIMITED, &[])
        .saturating_sub(counter(counters[0], RATE_LIMITED, &[]));
    let scale = 60.0 / seconds.max(f64::EPSILON);
    #[allow(clippy::cast_precision_loss)]
    let per = |n: usize| n as f64 * scale;
    w.per_minute = PerMinute {
        panel_posts: per(w.panel_posts),
        edits: per(w.edits),
        deletions: per(w.deletions),
        requests: per(w.channel_messages_requests),
    };
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_name_and_labels() {
        let text = "# HELP x\n\
            dimby_autocomplete_answers_total{command=\"play\",outcome=\"cached\"} 7\n\
            dimby_autocomplete_answers_total{command=\"filter\",outcome=\"listed\"} 3\n\
            dimby_discord_rest_rate_limited_total{route=\"channel_messages\"} 2\n\
            dimby_discord_rest_rate_limited_total{route=\"session\"} 1\n";
        let play_cached = [("command", "play"), ("outcome", "cached")];
        assert_eq!(counter(text, SUGGESTIONS, &play_cached), 7);
        assert_eq!(counter(text, SUGGESTIONS, &[("command", "play")]), 7);
        assert_eq!(counter(text, RATE_LIMITED, &[]), 3);
        assert_eq!(
            counter(text, RATE_LIMITED, &[("route", "channel_messages")]),
            2
        );
    }

    #[test]
    fn the_busiest_window_counts_what_falls_within_it() {
        let t = Instant::now();
        let times: Vec<Instant> = [0, 100, 900, 1000, 1500, 3000]
            .iter()
            .map(|ms| t + Duration::from_millis(*ms))
            .collect();
        assert_eq!(busiest(&times, Duration::from_secs(1)), 3);
        assert_eq!(busiest(&times, Duration::from_secs(5)), 6);
        assert_eq!(busiest(&[], Duration::from_secs(1)), 0);
    }

    #[test]
    fn spread_has_the_90th_percentile() {
        let s = Spread::of((1..=100).map(f64::from).collect());
        assert!((s.p90 - 90.0).abs() < f64::EPSILON);
        assert!((s.p99 - 99.0).abs() < f64::EPSILON);
    }
}
