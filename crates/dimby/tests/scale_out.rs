//! Many processes, one application: four `dimby run` processes, each running two of eight shards
//! (`[discord.split]`), share one store against one Discord stand-in that enforces Discord's
//! identify limits (`max_concurrency` 4: the processes of shards 0-1 and 4-5 share buckets) and
//! three Lavalink nodes. The story runs twice: on SQLite (one file, one host) and on PostgreSQL
//! (`store.url`, a throwaway server as the store's tests start it).
//!
//! - Together they identify within the limits (the shared identify queue): no identify refused.
//! - Every guild is played by exactly one process, the one owning its shard.
//! - A process killed with SIGKILL and started again restores its own guilds and no other's;
//!   the other processes' players are not touched.
//! - Two processes stopped for a handover at once (SIGTERM with `DIMBY_ON_SIGTERM=handover`, as a
//!   rolling update stops a pod) and their replacements started: each replacement resumes its
//!   own shards and its own Lavalink sessions (no identify, no player started again).
//! - A rolling restart of the four, one by one, with interactions sent while each is down: the
//!   other processes answer theirs, the successor answers those of its guilds (when it is back
//!   within Discord's deadline), no player started again, no shard identifying.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lavalink::model::GuildId as LavalinkGuild;
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::{NodeConfig, SimNode};
use test_support::track_starts::TrackStarts;

mod common;
use common::{BotProcess, GUARD};

const SHARDS: u32 = 8;
const PROCESSES: u32 = 4;
const GUILDS_PER_SHARD: u64 = 2;
const TRACK: &str = "sim:length:600000";
/// A successor ready within this of a stop answers what was sent meanwhile: Discord's deadline
/// for acknowledging an interaction is 3 s from its creation, and a resumed shard's backlog is
/// answered within milliseconds of the resume.
const DEADLINE_MARGIN: Duration = Duration::from_millis(2_500);

struct Setup {
    discord: Arc<DiscordSim>,
    nodes: Vec<SimNode>,
    guilds: Vec<GuildInfo>,
    config: PathBuf,
    dir: tempfile::TempDir,
    starts: TrackStarts,
    /// The PostgreSQL store's URL; SQLite in the temporary directory when `None`.
    store_url: Option<String>,
}

impl Setup {
    async fn new(store_url: Option<String>) -> Self {
        discord::install_crypto_provider();
        let discord = Arc::new(
            DiscordSim::start(DiscordConfig {
                max_concurrency: 4,
                ..DiscordConfig::default().with_recommended_shards(SHARDS)
            })
            .await
            .expect("Discord stand-in"),
        );
        let mut nodes = Vec::new();
        for name in ["one", "two", "three"] {
            let config = NodeConfig {
                name: name.to_owned(),
                ..NodeConfig::default()
            };
            nodes.push(SimNode::start(config).await.expect("Lavalink stand-in"));
        }
        let guilds = (0..SHARDS)
            .flat_map(|shard| (0..GUILDS_PER_SHARD).map(move |k| (shard, k)))
            .map(|(shard, k)| {
                // A snowflake's timestamp bits decide its shard: (id >> 22) % shards.
                let id = ((1_000_000 + k * u64::from(SHARDS) + u64::from(shard)) << 22) + 1;
                let guild = discord
                    .create_guild(&GuildSpec::named(format!("Shard {shard} #{k}")).with_id(id))
                    .expect("guild");
                let alice = guild.member("alice").expect("alice");
                discord
                    .join_voice(guild.id, alice, guild.voice_channel(0))
                    .expect("alice joins voice");
                guild
            })
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let node_refs: Vec<&SimNode> = nodes.iter().collect();
        let config = dir.path().join("dimby.toml");
        std::fs::write(
            &config,
            test_support::run_config(
                &discord,
                &node_refs,
                &dir.path().join("data"),
                "[bot]\nposition_tick = \"200ms\"\n",
            ),
        )
        .expect("config");
        let starts = TrackStarts::count(&nodes.iter().collect::<Vec<_>>());
        Self {
            discord,
            nodes,
            guilds,
            config,
            dir,
            starts,
            store_url,
        }
    }

    fn spawn(&self, index: u32, log: &str) -> BotProcess {
        let mut envs = vec![
            // As the Kubernetes manifests set it: SIGTERM is the handover stop.
            ("DIMBY_ON_SIGTERM", "handover".to_owned()),
            ("DIMBY_DISCORD__SPLIT__TOTAL", SHARDS.to_string()),
            ("DIMBY_DISCORD__SPLIT__PROCESSES", PROCESSES.to_string()),
            ("DIMBY_DISCORD__SPLIT__INDEX", index.to_string()),
        ];
        if let Some(url) = &self.store_url {
            envs.push(("DIMBY_STORE__URL", url.clone()));
        }
        BotProcess::spawn(&self.config, &self.dir.path().join(log), &envs)
    }

    /// The guilds on the shards process `index` runs.
    fn guilds_of(&self, index: u32) -> Vec<LavalinkGuild> {
        let per = SHARDS / PROCESSES;
        self.guilds
            .iter()
            .filter(|g| {
                let shard = u32::try_from((g.id.get() >> 22) % u64::from(SHARDS)).unwrap_or(0);
                shard / per == index
            })
            .map(|g| LavalinkGuild(g.id.get()))
            .collect()
    }

    /// Every guild's players in connected sessions, across the nodes: (session id, playing).
    fn players(&self) -> HashMap<LavalinkGuild, Vec<(String, bool)>> {
        let mut players: HashMap<LavalinkGuild, Vec<(String, bool)>> = HashMap::new();
        for node in &self.nodes {
            for session in node.sessions().iter().filter(|s| s.connected) {
                for guild in &self.guilds {
                    let guild = LavalinkGuild(guild.id.get());
                    if let Some(player) = node.player(&session.id, guild) {
                        let playing =
                            player.track.is_some() && !player.paused && player.state.connected;
                        players
                            .entry(guild)
                            .or_default()
                            .push((session.id.clone(), playing));
                    }
                }
            }
        }
        players
    }

    /// The positions of `guilds`' players in connected sessions.
    fn positions(&self, guilds: &[LavalinkGuild]) -> HashMap<LavalinkGuild, u64> {
        let mut positions = HashMap::new();
        for node in &self.nodes {
            for session in node.sessions().iter().filter(|s| s.connected) {
                for guild in guilds {
                    if let Some(player) = node.player(&session.id, *guild) {
                        positions.insert(*guild, player.state.position);
                    }
                }
            }
        }
        positions
    }

    /// Waits until every guild has exactly one player in a connected session, playing; returns
    /// each guild's session.
    async fn every_guild_played_once(&self) -> HashMap<LavalinkGuild, String> {
        tokio::time::timeout(GUARD, async {
            loop {
                let players = self.players();
                let once: HashMap<LavalinkGuild, String> = players
                    .iter()
                    .filter_map(|(guild, found)| match found.as_slice() {
                        [(session, true)] => Some((*guild, session.clone())),
                        _ => None,
                    })
                    .collect();
                if once.len() == self.guilds.len() {
                    return once;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("every guild playing once: {:?}", self.players()))
    }

    async fn connected_shards(&self) -> Vec<u32> {
        let mut shards = Vec::new();
        tokio::time::timeout(GUARD, async {
            loop {
                shards = self
                    .discord
                    .sessions()
                    .iter()
                    .filter(|s| s.connected)
                    .map(|s| s.shard[0])
                    .collect();
                shards.sort_unstable();
                if shards.len() >= usize::try_from(SHARDS).unwrap_or(usize::MAX) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("every shard connected: {shards:?}"));
        shards
    }
}

fn nowplaying(guild: &GuildInfo) -> SlashCommand {
    SlashCommand::new(
        guild.id,
        guild.text_channel(),
        guild.member("alice").expect("alice"),
        "nowplaying",
    )
}

fn play(guild: &GuildInfo) -> SlashCommand {
    SlashCommand::new(
        guild.id,
        guild.text_channel(),
        guild.member("alice").expect("alice"),
        "play",
    )
    .string("query", TRACK)
}

async fn settle(starts: &TrackStarts, guilds: &[LavalinkGuild]) {
    starts
        .settle(guilds, GUARD)
        .await
        .unwrap_or_else(|missing| panic!("no TrackStart from {missing:?}"));
}

fn all_lavalink(guilds: &[GuildInfo]) -> Vec<LavalinkGuild> {
    guilds.iter().map(|g| LavalinkGuild(g.id.get())).collect()
}

/// A log line without its terminal colour codes (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().take_while(|c| *c != 'm').for_each(drop);
        } else {
            plain.push(c);
        }
    }
    plain
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_sqlite_share_one_application_each_guild_on_exactly_one() {
    four_processes(Setup::new(None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_postgres_share_one_application_each_guild_on_exactly_one() {
    let Some(url) = test_support::postgres::database().await else {
        return;
    };
    four_processes(Setup::new(Some(url)).await).await;
}

#[allow(
    clippy::too_many_lines,
    reason = "one story of four processes on the same stand-ins, read top-down"
)]
async fn four_processes(setup: Setup) {
    let mut processes: Vec<Option<BotProcess>> = (0..PROCESSES)
        .map(|index| Some(setup.spawn(index, &format!("process-{index}.log"))))
        .collect();
    for process in processes.iter().flatten() {
        process.ready().await;
    }

    // Together within Discord's identify limits: every shard once, none refused.
    assert_eq!(
        setup.connected_shards().await,
        (0..SHARDS).collect::<Vec<_>>()
    );
    assert_eq!(
        setup.discord.identify_refusals(),
        0,
        "the processes share the identify queue"
    );
    assert_eq!(setup.discord.identify_count(), SHARDS);

    // Every guild is played by exactly one process: the owner of its shard.
    for guild in &setup.guilds {
        let handle = setup.discord.invoke(&play(guild)).expect("invoke");
        let answered = tokio::time::timeout(GUARD, handle.original())
            .await
            .expect("an answer within the guard");
        assert!(answered.is_ok(), "/play in {} answered", guild.id);
    }
    let sessions = setup.every_guild_played_once().await;
    settle(&setup.starts, &all_lavalink(&setup.guilds)).await;
    for (index, process) in processes.iter().flatten().enumerate() {
        let index = u32::try_from(index).expect("index");
        let own = setup.guilds_of(index);
        assert_eq!(
            process.metric("dimby_guilds_playing").await,
            Some(f64::from(u32::try_from(own.len()).expect("a few guilds"))),
            "process {index} plays its own guilds"
        );
        // Its guilds share its sessions, which no other process's guild uses.
        let own_sessions: Vec<&String> = own.iter().map(|g| &sessions[g]).collect();
        for (guild, session) in &sessions {
            assert_eq!(
                own.contains(guild),
                own_sessions.contains(&session),
                "guild {guild:?} in session {session}"
            );
        }
    }

    // SIGKILL the process of shards 2-3 and start it again: it restores its own guilds only, at
    // their positions (written every 200 ms).
    let at_kill = setup.positions(&setup.guilds_of(1));
    let killed = processes[1].take().expect("process 1");
    killed.signal("-KILL");
    let _ = killed.exit().await;
    let others: Vec<LavalinkGuild> = [0, 2, 3].iter().flat_map(|i| setup.guilds_of(*i)).collect();
    let restarted = setup.spawn(1, "process-1-restarted.log");
    restarted.ready().await;
    let after_kill = setup.every_guild_played_once().await;
    for (guild, position) in setup.positions(&setup.guilds_of(1)) {
        let before = at_kill.get(&guild).copied().unwrap_or(0);
        assert!(
            position + 500 >= before,
            "guild {guild:?} restored at {position} ms, it was at {before} ms when killed"
        );
    }
    // Its players show on the node before its own count of playing guilds catches up.
    let own = f64::from(u32::try_from(setup.guilds_of(1).len()).expect("a few guilds"));
    assert_eq!(
        restarted.metric_settled("dimby_guilds_playing", own).await,
        Some(own),
        "the restarted process restored its own guilds"
    );
    for guild in &others {
        assert_eq!(
            after_kill[guild], sessions[guild],
            "another process's guild was not touched"
        );
    }
    assert_eq!(
        setup.starts.of(&others),
        0,
        "no other process's player started again"
    );
    // The store gave it its own shards' guilds only (`load_guilds` selects them).
    let restarted_log = log_of(setup.dir.path(), "process-1-restarted.log");
    let restore_line = restarted_log
        .lines()
        .find(|line| line.contains("restored guilds from the store"))
        .map(without_colours)
        .expect("the restore's log line");
    assert!(
        restore_line.contains(&format!("guilds={}", setup.guilds_of(1).len()))
            && restore_line.contains("shards 2-3 of 8"),
        "the restart loaded its own guilds from the store: {restore_line}"
    );
    processes[1] = Some(restarted);
    settle(&setup.starts, &setup.guilds_of(1)).await;

    // Two processes hand over at once (a rolling update stops a pod with SIGTERM) and their
    // replacements resume: each takes its own records.
    let identifies = setup.discord.identify_count();
    let before = setup.every_guild_played_once().await;
    for index in [2, 3] {
        processes[index]
            .as_ref()
            .expect("a process")
            .signal("-TERM");
    }
    for index in [2, 3] {
        let stopped = processes[index].take().expect("a process");
        assert_eq!(stopped.exit().await, Some(0), "process {index} handed over");
    }
    for index in [2_u32, 3] {
        let replacement = setup.spawn(index, &format!("process-{index}-replacement.log"));
        replacement.ready().await;
        processes[usize::try_from(index).expect("index")] = Some(replacement);
    }
    let after = setup.every_guild_played_once().await;
    assert_eq!(after, before, "every player kept its session");
    assert_eq!(
        setup.starts.of(&all_lavalink(&setup.guilds)),
        0,
        "no player started again"
    );
    assert_eq!(
        setup.discord.identify_count(),
        identifies,
        "the replacements resumed their shards"
    );
    assert_eq!(
        setup.connected_shards().await,
        (0..SHARDS).collect::<Vec<_>>()
    );
    assert_eq!(setup.discord.identify_refusals(), 0);
    for index in [2, 3] {
        let log = log_of(
            setup.dir.path(),
            &format!("process-{index}-replacement.log"),
        );
        let first = index * 2;
        assert!(
            log.contains(&format!("shards {first}-{} of {SHARDS}", first + 1)),
            "process {index}'s replacement took over its own scope"
        );
    }

    // A rolling restart of the four, one by one, each handing over to its successor, with
    // listeners asking /nowplaying round the guilds throughout: nothing unanswered, no player
    // started again, no shard identifying.
    let identifies = setup.discord.identify_count();
    for index in 0..PROCESSES {
        let slot = usize::try_from(index).expect("index");
        let old = processes[slot].take().expect("a process");
        old.signal("-TERM");
        assert_eq!(old.exit().await, Some(0), "process {index} handed over");
        // Sent while no process runs these guilds' shards (Discord keeps them for the resume),
        // and to a guild of every other process (which must not notice).
        let sent_at = tokio::time::Instant::now();
        let ask = |guilds: Vec<LavalinkGuild>| -> Vec<_> {
            guilds
                .iter()
                .filter_map(|g| setup.guilds.iter().find(|info| info.id.get() == g.0))
                .map(|guild| setup.discord.invoke(&nowplaying(guild)).expect("invoke"))
                .collect()
        };
        let in_the_gap = ask(setup.guilds_of(index));
        let elsewhere = ask((0..PROCESSES)
            .filter(|other| *other != index)
            .filter_map(|other| setup.guilds_of(other).first().copied())
            .collect());
        let successor = setup.spawn(index, &format!("process-{index}-rolled.log"));
        successor.ready().await;
        let gap = sent_at.elapsed();
        for handle in elsewhere {
            let answer = tokio::time::timeout(GUARD, handle.original()).await;
            assert!(
                answer.is_ok_and(|a| a.is_ok()),
                "another process answers while process {index} hands over"
            );
        }
        // Discord fails an interaction not acknowledged within 3 s of its creation: those sent
        // in the gap are answered when the successor is back well within that.
        if gap < DEADLINE_MARGIN {
            for handle in in_the_gap {
                let answer = tokio::time::timeout(GUARD, handle.original()).await;
                assert!(
                    answer.is_ok_and(|a| a.is_ok()),
                    "an interaction sent while process {index} was handing over is answered \
                     (its successor was ready {gap:?} after it)"
                );
            }
        } else {
            eprintln!(
                "process {index}'s successor was ready {gap:?} after the stop, past Discord's \
                 deadline for the interactions sent meanwhile: they are not checked"
            );
        }
        processes[slot] = Some(successor);
    }
    assert_eq!(
        setup.every_guild_played_once().await,
        after,
        "every player kept its session"
    );
    assert_eq!(
        setup.starts.of(&all_lavalink(&setup.guilds)),
        0,
        "no player started again"
    );
    assert_eq!(
        setup.discord.identify_count(),
        identifies,
        "every shard resumed"
    );
    assert_eq!(setup.discord.identify_refusals(), 0);
}
