//! `dimby bench real-failover`: the cluster, with production defaults, against real
//! Lavalink-compatible servers that someone else wrote, run on loopback by
//! `../shared/realserver/start` (NodeLink nodes and a fake Discord voice server that counts the
//! audio packets each node sends). One node is killed, stopped or hung, and the figures come from
//! both ends: what the cluster did (detection, moves, the positions it sent) and what a listener
//! heard (the silence at the voice server, guilds played by two nodes at once).
//!
//! Nothing here is simulated: the nodes decode a real file, stream real Opus over UDP, and answer
//! (or fail to answer) as they do. The voice server's status file is read with the definitions of
//! `../shared/realserver/voice_gaps.py` ([`voice`]), so that the same run read by that script
//! gives the same gaps.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use cluster::{Cluster, ClusterConfig, ClusterEvent, MoveOutcome, NodeSpec};
use lavalink::model::{GuildId, UpdatePlayer, UpdatePlayerTrack, VoiceState};

use super::Percentiles;

pub mod voice;

/// The signal the victim node gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a stop (NodeLink exits without closing its sockets).
    Term,
    /// SIGSTOP: a hang (sockets stay open and silent); SIGCONT after the run.
    Stop,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Term => "term",
            Self::Stop => "stop",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Kill => "-KILL",
            Self::Term => "-TERM",
            Self::Stop => "-STOP",
        }
    }
}

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The nodes' REST base URLs, comma-separated (`http://127.0.0.1:23331,...`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// The nodes' password.
    #[arg(
        long,
        env = "NL_PASSWORD",
        default_value = "youshallnotpass",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub password: String,
    /// The run directory given to `realserver/start`: `node.PORT.pid` and `voice_status.json`.
    #[arg(long)]
    pub rundir: PathBuf,
    /// What each player plays (a track of at least `fault-after + settle`).
    #[arg(long, default_value = "local:/tmp/nl-audio/sine.mp3")]
    pub identifier: String,
    /// The fake voice server the nodes stream to.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub voice_endpoint: String,
    /// Players in all (one guild each).
    #[arg(long, default_value_t = 30)]
    pub players: u64,
    /// What happens to the busiest node.
    #[arg(long, value_enum, default_value_t = Signal::Kill)]
    pub fault: Signal,
    /// Play this long before the fault.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub fault_after: Duration,
    /// Watch this long after the fault.
    #[arg(long, default_value = "40s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// For a hang: after the watch, let the node go on (SIGCONT) and watch this much longer, to
    /// see that it does not play the moved guilds a second time.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub thaw_watch: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The figures of one run.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The fault.
    pub fault: Signal,
    /// Players in all.
    pub players: u64,
    /// Nodes in all.
    pub nodes: usize,
    /// The victim node's name.
    pub victim: String,
    /// The fault, as unix seconds (for `voice_gaps.py --fault-t`).
    pub fault_unix_s: f64,
    /// The 1-minute load average of the machine at the fault.
    pub load_at_fault: Option<f64>,
    /// Players the cluster had on the victim.
    pub affected_in_cluster: usize,
    /// From the fault to the cluster's first sign of noticing it (ms).
    pub detection_ms: Option<f64>,
    /// From the fault to each move's answer (ms).
    pub moved_after_ms: Percentiles,
    /// Move attempts per moved player (1 is a first-time success).
    pub attempts: Percentiles,
    /// Moves that did not end with the player on another node.
    pub failed_moves: usize,
    /// Players moved off a node that did not fail (a healthy node taken for a dead one).
    pub healthy_players_moved: usize,
    /// |position sent - position the old node's audio stopped at| (ms), the latter from the
    /// audio packets the voice server counted for that node's session (20 ms each).
    pub position_error_ms: Percentiles,
    /// Position sent minus where the audio stopped (ms): negative is audio heard twice, positive
    /// audio skipped.
    pub position_offset_ms: Percentiles,
    /// What the voice server heard (the definitions of `voice_gaps.py`).
    pub voice: voice::Analysis,
    /// Guilds whose player plays on more than one node at the end, asked of the nodes.
    pub ghosts_at_nodes: usize,
    /// Players playing (a track, not paused) on the live nodes at the end.
    pub playing_at_nodes: usize,
    /// For a hang: guilds the thawed node played again (audio at the voice server after it went
    /// on) and players left on it, after the thaw watch.
    pub after_thaw: Option<AfterThaw>,
}

/// What a hung node did once it went on.
#[derive(Debug, serde::Serialize)]
pub struct AfterThaw {
    /// Guilds with audio from two sessions at once in the thaw watch's last 2 s.
    pub overlap_guilds: usize,
    /// Players left on the thawed node.
    pub players_left: usize,
}

/// A node under test.
struct RealNode {
    spec: NodeSpec,
    port: u16,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let report = measure(args).await?;
    super::print_report(&report, args.json, print_table)
}

fn print_table(r: &Report) {
    println!(
        "real-server failover: fault={:?} players={} nodes={} victim={} load={}",
        r.fault,
        r.players,
        r.nodes,
        r.victim,
        r.load_at_fault
            .map_or_else(|| "?".into(), |l| format!("{l:.2}"))
    );
    println!(
        "  affected (cluster)   {:>9}   (voice server: {}, resumed {})",
        r.affected_in_cluster, r.voice.affected, r.voice.resumed
    );
    println!(
        "  detection            {:>9} ms",
        r.detection_ms
            .map_or_else(|| "-".into(), |d| format!("{d:.0}"))
    );
    for (name, p) in [
        ("audio gap", &r.voice.gap_ms),
        ("moved after", &r.moved_after_ms),
        ("position error", &r.position_error_ms),
        ("position offset", &r.position_offset_ms),
        ("attempts", &r.attempts),
    ] {
        println!(
            "  {name:<20} p50 {:>8.1}   p99 {:>8.1}   max {:>8.1}   (n={})",
            p.p50, p.p99, p.max, p.count
        );
    }
    println!("  failed moves         {:>9}", r.failed_moves);
    println!("  healthy moved        {:>9}", r.healthy_players_moved);
    println!(
        "  ghosts               {:>9} at the voice server, {} at the nodes",
        r.voice.overlap_guilds, r.ghosts_at_nodes
    );
    println!(
        "  playing at the end   {:>9} at the nodes, {} with audio at the voice server",
        r.playing_at_nodes, r.voice.audio_at_end
    );
    if let Some(thaw) = &r.after_thaw {
        println!(
            "  after the thaw       {:>9} guilds played twice, {} players left on the node",
            thaw.overlap_guilds, thaw.players_left
        );
    }
}

/// The bot's Discord user id: NodeLink wants 18 or 19 digits.
const USER_ID: u64 = 1_100_000_000_000_000_001;
/// The first guild id (18 digits).
const FIRST_GUILD: u64 = 900_000_000_000_000_001;
/// How long to wait for the nodes to be ready and a track to load.
const START_GUARD: Duration = Duration::from_secs(60);

fn nodes_of(args: &Args) -> anyhow::Result<Vec<RealNode>> {
    args.nodes
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let parsed = url::Url::parse(url).with_context(|| format!("node URL {url:?}"))?;
            let port = parsed
                .port_or_known_default()
                .with_context(|| format!("node URL {url:?} has no port"))?;
            Ok(RealNode {
                spec: NodeSpec {
                    name: format!("node-{}", i + 1),
                    url: url.clone(),
                    password: args.password.clone(),
                    region: None,
                    priority: 0,
                    weight: 1.0,
                    enabled: true,
                },
                port,
            })
        })
        .collect()
}

fn play(args: &Args, encoded: &str, guild: GuildId) -> UpdatePlayer {
    UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded(encoded))),
        voice: Some(VoiceState {
            token: format!("bench-token-{guild}"),
            endpoint: args.voice_endpoint.clone(),
            session_id: format!("bench-session-{guild}"),
            channel_id: Some(format!("{}", guild.0 + 1)),
        }),
        ..UpdatePlayer::default()
    }
}

/// The cluster over the nodes, every player started.
struct Started {
    cluster: Cluster,
    events: tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    guilds: Vec<GuildId>,
}

async fn start(args: &Args, nodes: &[RealNode]) -> anyhow::Result<Started> {
    let config = ClusterConfig::new(USER_ID, nodes.iter().map(|n| n.spec.clone()).collect());
    let (cluster, mut events) =
        Cluster::start(config, clock::SystemClock::shared()).context("starting the cluster")?;
    let mut ready = HashSet::new();
    while ready.len() < nodes.len() {
        match tokio::time::timeout(START_GUARD, events.recv()).await {
            Ok(Some(ClusterEvent::NodeReady { node, .. })) => {
                ready.insert(node);
            }
            Ok(Some(_)) => {}
            _ => bail!("the nodes did not all become ready within {START_GUARD:?}"),
        }
    }
    let loaded = cluster
        .load_tracks(&args.identifier)
        .await
        .with_context(|| format!("loading {:?}", args.identifier))?;
    let Some(track) = loaded.tracks().first() else {
        bail!("{:?} loaded no track", args.identifier);
    };
    let encoded = track.encoded.clone();
    let guilds: Vec<GuildId> = (0..args.players)
        .map(|i| GuildId(FIRST_GUILD + i))
        .collect();
    for guild in &guilds {
        cluster
            .update(*guild, play(args, &encoded, *guild))
            .await
            .with_context(|| format!("starting the player of guild {guild}"))?;
    }
    Ok(Started {
        cluster,
        events,
        guilds,
    })
}

/// Sets the players up, injects the fault and collects the figures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    let nodes = nodes_of(args)?;
    if nodes.len() < 2 {
        bail!("--nodes needs at least two nodes: one fails, the others take its players");
    }
    let Started {
        cluster,
        mut events,
        guilds,
    } = start(args, &nodes).await?;
    // Play until the fault, keeping up with the cluster's events.
    let until_fault = tokio::time::Instant::now() + args.fault_after;
    while let Ok(Some(_)) = tokio::time::timeout_at(until_fault, events.recv()).await {}

    let victim_view = cluster
        .nodes()
        .into_iter()
        .max_by_key(|v| v.players)
        .context("no node")?;
    let victim = nodes
        .iter()
        .find(|n| n.spec.name == victim_view.name)
        .context("the victim node")?;
    let affected: HashSet<GuildId> = guilds
        .iter()
        .copied()
        .filter(|g| {
            cluster.player(*g).and_then(|p| p.record.node).as_deref()
                == Some(victim.spec.name.as_str())
        })
        .collect();
    let pid_file = args.rundir.join(format!("node.{}.pid", victim.port));
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?
        .trim()
        .to_owned();
    let load_at_fault = load_average();
    let fault_at = Instant::now();
    let fault_unix_s = unix_seconds(SystemTime::now());
    signal(args.fault.flag(), &pid)?;

    let seen = collect(
        &mut events,
        &victim.spec.name,
        &affected,
        fault_at,
        args.settle,
    )
    .await;
    let status = snapshot_voice(args)?;
    let analysis = voice::analyse(&status, fault_unix_s);
    let offsets = position_offsets(&status, &seen, fault_unix_s);
    let position_error_ms = Percentiles::of(offsets.iter().map(|o| o.abs()).collect());
    let position_offset_ms = Percentiles::of(offsets);
    let (ghosts_at_nodes, playing_at_nodes) =
        players_at_nodes(&cluster, &nodes, &victim.spec.name).await;
    let after_thaw = if args.fault == Signal::Stop {
        Some(thaw(args, &cluster, &mut events, &victim.spec.name, &pid).await?)
    } else {
        None
    };
    cluster.shutdown(false).await;
    Ok(Report {
        fault: args.fault,
        players: args.players,
        nodes: nodes.len(),
        victim: victim.spec.name.clone(),
        fault_unix_s,
        load_at_fault,
        affected_in_cluster: affected.len(),
        detection_ms: seen.detection.map(ms),
        moved_after_ms: Percentiles::of(seen.moved_after),
        attempts: Percentiles::of(seen.attempts),
        failed_moves: seen.failed,
        healthy_players_moved: seen.healthy_moved,
        position_error_ms,
        position_offset_ms,
        voice: analysis,
        ghosts_at_nodes,
        playing_at_nodes,
        after_thaw,
    })
}

/// The voice server's status as it is now, kept beside it as measured (a thawed node writes
/// more) for `voice_gaps.py`.
fn snapshot_voice(args: &Args) -> anyhow::Result<voice::Status> {
    let status_path = args.rundir.join("voice_status.json");
    let snapshot = args
        .rundir
        .join(format!("voice_status.dimby-{}.json", args.fault.name()));
    std::fs::copy(&status_path, &snapshot).with_context(|| {
        format!(
            "copying {} to {}",
            status_path.display(),
            snapshot.display()
        )
    })?;
    voice::Status::read(&snapshot)
}

/// Per moved guild: the position its move was sent at minus where its old node's audio stopped.
fn position_offsets(status: &voice::Status, seen: &Seen, fault_unix_s: f64) -> Vec<f64> {
    seen.positions
        .iter()
        .filter_map(|(guild, sent)| {
            let stopped =
                voice::audio_position_at_fault(status, &guild.0.to_string(), fault_unix_s)?;
            let offset = i64::try_from(*sent).ok()? - i64::try_from(stopped).ok()?;
            Some(f64::from(i32::try_from(offset).unwrap_or(i32::MAX)))
        })
        .collect()
}

/// A hung node goes on (SIGCONT): does it play any moved guild again?
async fn thaw(
    args: &Args,
    cluster: &Cluster,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    victim: &str,
    pid: &str,
) -> anyhow::Result<AfterThaw> {
    signal("-CONT", pid)?;
    let until = tokio::time::Instant::now() + args.thaw_watch;
    while let Ok(Some(_)) = tokio::time::timeout_at(until, events.recv()).await {}
    let status = voice::Status::read(&args.rundir.join("voice_status.json"))?;
    let players_left = node_players(cluster, victim, true)
        .await
        .map_or(0, |p| p.len());
    Ok(AfterThaw {
        overlap_guilds: voice::overlap_at_end(&status),
        players_left,
    })
}

/// What the cluster's events said after the fault.
#[derive(Default)]
struct Seen {
    detection: Option<Duration>,
    moved_after: Vec<f64>,
    attempts: Vec<f64>,
    failed: usize,
    healthy_moved: usize,
    /// The position each moved player was sent at.
    positions: HashMap<GuildId, u64>,
}

async fn collect(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    victim: &str,
    affected: &HashSet<GuildId>,
    fault_at: Instant,
    settle: Duration,
) -> Seen {
    let mut seen = Seen::default();
    let until = tokio::time::Instant::now() + settle;
    while let Ok(Some(event)) = tokio::time::timeout_at(until, events.recv()).await {
        let after = fault_at.elapsed();
        match event {
            ClusterEvent::NodeLost { node, .. } if node == victim => {
                seen.detection.get_or_insert(after);
            }
            ClusterEvent::Circuit { node, to, .. } if node == victim && to.as_str() == "open" => {
                seen.detection.get_or_insert(after);
            }
            ClusterEvent::MoveStarted {
                from: Some(from), ..
            } => {
                if from == victim {
                    seen.detection.get_or_insert(after);
                } else {
                    seen.healthy_moved += 1;
                }
            }
            ClusterEvent::MoveFinished {
                guild,
                outcome,
                position_ms,
                attempts,
                ..
            } if affected.contains(&guild) => {
                if outcome == MoveOutcome::Moved {
                    seen.moved_after.push(ms(after));
                    seen.attempts
                        .push(f64::from(u32::try_from(attempts).unwrap_or(u32::MAX)));
                    seen.positions.insert(guild, position_ms);
                } else {
                    seen.failed += 1;
                }
            }
            _ => {}
        }
    }
    seen
}

/// The players a node's session holds, asked of the node (`None` when it does not answer).
async fn node_players(cluster: &Cluster, node: &str, playing_only: bool) -> Option<Vec<GuildId>> {
    let client = cluster.client(node)?;
    let session = client.session_id()?;
    let players = tokio::time::timeout(Duration::from_secs(5), client.rest().players(&session))
        .await
        .ok()?
        .ok()?;
    Some(
        players
            .into_iter()
            .filter(|p| !playing_only || (p.track.is_some() && !p.paused))
            .map(|p| p.guild_id)
            .collect(),
    )
}

/// Guilds playing on more than one live node, and players playing on the live nodes.
async fn players_at_nodes(cluster: &Cluster, nodes: &[RealNode], victim: &str) -> (usize, usize) {
    let mut on: HashMap<GuildId, usize> = HashMap::new();
    for node in nodes.iter().filter(|n| n.spec.name != victim) {
        for guild in node_players(cluster, &node.spec.name, true)
            .await
            .unwrap_or_default()
        {
            *on.entry(guild).or_default() += 1;
        }
    }
    (on.values().filter(|n| **n > 1).count(), on.values().sum())
}

fn signal(flag: &str, pid: &str) -> anyhow::Result<()> {
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        bail!("not a process id: {pid:?}");
    }
    let status = std::process::Command::new("kill")
        .arg(flag)
        .arg(pid)
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill {flag} {pid} failed ({status})");
    }
    Ok(())
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
