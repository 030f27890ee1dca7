//! `dimby bench failover`: players on a cluster of stand-in nodes, one node fails (crash, hang) or
//! is drained, and every figure that says how well the players survived it.
//!
//! Real time, real sockets over loopback, default cluster settings. The true position of each
//! player is read from its stand-in just before the fault and carried forward to the instant the
//! audio stopped (the fault, for a crash or a hang) or the instant of the move (a drain).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cluster::{Cluster, ClusterConfig, ClusterEvent, DrainMode, MoveOutcome};
use futures_util::StreamExt as _;
use lavalink::model::{GuildId, UpdatePlayer, UpdatePlayerTrack, VoiceState};
use sim::lavalink::SimNode;
use test_support::node_spec;

use super::Percentiles;
use crate::standin::BehavesLike;

/// What happens to the victim node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The process dies: sockets reset, the port refuses connections.
    Crash,
    /// The process freezes: sockets stay open and silent, REST never answers.
    Hang,
    /// An operator drains it (hard: every player moves now, make-before-break).
    Drain,
}

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Players in all.
    #[arg(long, default_value_t = 1000)]
    pub players: u64,
    /// Stand-in nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=16))]
    pub nodes: u64,
    /// What happens to the busiest node.
    #[arg(long, value_enum, default_value_t = Fault::Crash)]
    pub fault: Fault,
    /// Which real server the stand-ins behave like (docs/sim.md, "Behaving like other servers"):
    /// `nodelink` serves player PATCHes one at a time (550 ms each) and needs time to start
    /// audio, as measured, so the figures are what such a server gives.
    #[arg(long, value_enum, default_value_t = BehavesLike::Lavalink)]
    pub behaves_like: BehavesLike,
    /// Give every player filters (the `/filter` presets in turn, one per player) and check that
    /// each moved player has exactly its filters on its new node.
    #[arg(long)]
    pub filters: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the run's figures (CPU, peak RSS, work, latency; `bench/figures.rs`) to this
    /// file, for `dimby perf compare`.
    #[arg(long, value_name = "FILE")]
    pub figures: Option<std::path::PathBuf>,
}

/// The figures.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The scenario.
    pub fault: Fault,
    /// The server the stand-ins behaved like.
    pub behaves_like: BehavesLike,
    /// Players in all.
    pub players: u64,
    /// Nodes in all.
    pub nodes: u64,
    /// Players on the victim node.
    pub affected: usize,
    /// From the fault to the cluster noticing it (ms).
    pub detection_ms: f64,
    /// From the fault to each affected player playing again (ms).
    pub recovery_ms: Percentiles,
    /// |position it resumed at - position the audio stopped at| (ms).
    pub position_error_ms: Percentiles,
    /// Moves that did not end with the player playing its track on another node.
    pub failed_moves: usize,
    /// With `--filters`: moved players whose new node has exactly their filters.
    pub filters_kept: Option<usize>,
    /// With `--filters`: moved players whose new node has other filters (or none).
    pub filters_wrong: Option<usize>,
    /// Affected players that play nowhere at the end.
    pub lost: usize,
}

const TRACK: &str = "sim:length:3600000";
const GUARD: Duration = Duration::from_secs(90);

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let measuring = super::figures::Measuring::start();
    let report = measure(args).await?;
    if let Some(path) = &args.figures {
        super::figures::Figures::of_failover(&report, measuring.finish()).write(path)?;
    }
    super::print_report(&report, args.json, print_table)
}

fn print_table(r: &Report) {
    println!(
        "failover bench: fault={:?} behaves-like={:?} players={} nodes={} affected={}",
        r.fault, r.behaves_like, r.players, r.nodes, r.affected
    );
    println!("  detection            {:>9.1} ms", r.detection_ms);
    for (name, p) in [
        ("playing again after", &r.recovery_ms),
        ("position error", &r.position_error_ms),
    ] {
        println!(
            "  {name:<20} p50 {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms   (n={})",
            p.p50, p.p99, p.max, p.count
        );
    }
    println!("  failed moves         {:>9}", r.failed_moves);
    println!("  players lost         {:>9}", r.lost);
    if let (Some(kept), Some(wrong)) = (r.filters_kept, r.filters_wrong) {
        println!("  filters kept         {kept:>9}   wrong {wrong}");
    }
}

/// Stand-ins and a cluster with every player placed and playing.
struct Setup {
    nodes: Vec<SimNode>,
    cluster: Cluster,
    events: tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
}

async fn set_up(args: &Args) -> anyhow::Result<Setup> {
    let count = usize::try_from(args.nodes)?;
    let config = sim::lavalink::NodeConfig::default().with_behaviour(args.behaves_like.behaviour());
    let nodes = sim::lavalink::start_nodes(count, config)
        .await
        .context("starting the stand-in nodes")?;
    let specs = nodes.iter().map(node_spec).collect();
    let (cluster, mut events) =
        Cluster::start(ClusterConfig::new(1, specs), clock::SystemClock::shared())
            .context("starting the cluster")?;
    let mut ready = 0;
    while ready < count {
        match tokio::time::timeout(GUARD, events.recv()).await {
            Ok(Some(ClusterEvent::NodeReady { .. })) => ready += 1,
            Ok(Some(_)) => {}
            _ => bail!("the nodes did not become ready"),
        }
    }
    let encoded = cluster.load_tracks(TRACK).await?.tracks()[0]
        .encoded
        .clone();
    futures_util::stream::iter(1..=args.players)
        .map(|id| {
            let cluster = cluster.clone();
            let encoded = encoded.clone();
            let filters = args.filters.then(|| filters_of(GuildId(id)));
            async move {
                let mut update = play(&encoded, GuildId(id));
                update.filters = filters;
                cluster.update(GuildId(id), update).await
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    // Let them play a little, so positions are not all zero.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Setup {
        nodes,
        cluster,
        events,
    })
}

/// What the collection of events found.
#[derive(Default)]
struct Observed {
    detection: Option<Duration>,
    recovery: Vec<f64>,
    errors: Vec<f64>,
    failed: usize,
}

/// Sets everything up, injects the fault and collects the figures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    let Setup {
        nodes,
        cluster,
        mut events,
    } = set_up(args).await?;
    let victim_view = cluster
        .nodes()
        .into_iter()
        .max_by_key(|v| v.players)
        .context("no node")?;
    let victim = nodes
        .iter()
        .find(|n| n.name() == victim_view.name)
        .context("victim stand-in")?;
    let session = victim
        .sessions()
        .first()
        .map(|s| s.id.clone())
        .context("victim session")?;
    let affected: Vec<GuildId> = cluster
        .guilds()
        .into_iter()
        .filter(|g| {
            cluster.player(*g).and_then(|p| p.record.node).as_deref() == Some(victim.name())
        })
        .collect();
    // True positions, each with the instant it was read.
    let truth: HashMap<GuildId, (u64, Instant)> = affected
        .iter()
        .filter_map(|g| {
            victim
                .player(&session, *g)
                .map(|p| (*g, (p.state.position, Instant::now())))
        })
        .collect();

    let fault_at = Instant::now();
    match args.fault {
        Fault::Crash => victim.crash(),
        Fault::Hang => victim.hang(),
        Fault::Drain => cluster.drain(victim.name(), DrainMode::Hard)?,
    }
    let seen = collect(
        &mut events,
        victim.name(),
        args.fault,
        fault_at,
        &truth,
        affected.len(),
    )
    .await;
    let lost = affected
        .iter()
        .filter(|g| {
            cluster
                .player(**g)
                .and_then(|p| p.record.node)
                .is_none_or(|n| n == victim.name())
        })
        .count();
    let (filters_kept, filters_wrong) = if args.filters {
        let (kept, wrong) = filters_after(&nodes, victim.name(), &affected);
        (Some(kept), Some(wrong))
    } else {
        (None, None)
    };
    if args.fault == Fault::Hang {
        victim.heal();
    }
    cluster.shutdown(false).await;
    for node in nodes {
        node.shutdown().await;
    }
    Ok(Report {
        fault: args.fault,
        behaves_like: args.behaves_like,
        players: args.players,
        nodes: args.nodes,
        affected: affected.len(),
        detection_ms: seen.detection.map_or(f64::NAN, ms),
        recovery_ms: Percentiles::of(seen.recovery),
        position_error_ms: Percentiles::of(seen.errors),
        failed_moves: seen.failed,
        filters_kept,
        filters_wrong,
        lost,
    })
}

/// Reads cluster events until every affected player moved (or the guard ran out).
async fn collect(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    victim: &str,
    fault: Fault,
    fault_at: Instant,
    truth: &HashMap<GuildId, (u64, Instant)>,
    affected: usize,
) -> Observed {
    let mut seen = Observed::default();
    let deadline = tokio::time::Instant::now() + GUARD;
    while seen.recovery.len() + seen.failed < affected {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await else {
            tracing::warn!("gave up waiting for moves");
            break;
        };
        let now = Instant::now();
        match event {
            ClusterEvent::NodeLost { node, .. } if node == victim => {
                seen.detection.get_or_insert(now - fault_at);
            }
            ClusterEvent::Circuit { node, to, .. } if node == victim && to.as_str() == "open" => {
                seen.detection.get_or_insert(now - fault_at);
            }
            ClusterEvent::MoveStarted { .. } => {
                seen.detection.get_or_insert(now - fault_at);
            }
            ClusterEvent::MoveFinished {
                guild,
                outcome,
                position_ms,
                ..
            } => {
                if outcome != MoveOutcome::Moved {
                    seen.failed += 1;
                    continue;
                }
                seen.recovery.push(ms(now - fault_at));
                if let Some((read, read_at)) = truth.get(&guild) {
                    // Audio stopped at the fault (crash, hang); a drained node plays on until
                    // the move.
                    let stopped_at = if fault == Fault::Drain { now } else { fault_at };
                    let elapsed = stopped_at.saturating_duration_since(*read_at);
                    let true_position = read + u64::try_from(elapsed.as_millis()).unwrap_or(0);
                    seen.errors.push(ms(Duration::from_millis(
                        position_ms.abs_diff(true_position),
                    )));
                }
            }
            _ => {}
        }
    }
    seen
}

/// The filters player `guild` is given with `--filters`: the presets in turn.
fn filters_of(guild: GuildId) -> lavalink::model::Filters {
    let presets = music::PRESETS;
    let index = usize::try_from(guild.0).unwrap_or(0) % presets.len();
    music::FilterChange::Preset(&presets[index]).apply(&lavalink::model::Filters::default())
}

/// How many of the moved players have exactly their filters on the node they are on now, and
/// how many have others.
fn filters_after(nodes: &[SimNode], victim: &str, affected: &[GuildId]) -> (usize, usize) {
    let (mut kept, mut wrong) = (0, 0);
    for guild in affected {
        let found = nodes
            .iter()
            .filter(|node| node.name() != victim)
            .flat_map(|node| {
                node.sessions()
                    .into_iter()
                    .filter_map(move |session| node.player(&session.id, *guild))
            })
            .find(|player| player.track.is_some());
        match found {
            Some(player) if player.filters == filters_of(*guild) => kept += 1,
            Some(_) => wrong += 1,
            None => {}
        }
    }
    (kept, wrong)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn play(encoded: &str, guild: GuildId) -> UpdatePlayer {
    UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded(encoded))),
        voice: Some(VoiceState {
            token: format!("bench-token-{guild}"),
            endpoint: "sim-voice-eu-1.discord.media:443".into(),
            session_id: format!("bench-voice-{guild}"),
            channel_id: Some(guild.to_string()),
        }),
        ..UpdatePlayer::default()
    }
}
