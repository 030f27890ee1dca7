//! The bot as a process (`dimby run`), killed with SIGKILL and started again: the guild's queue,
//! current track and position come back from the store, the bot rejoins its voice channel and the
//! track plays on from (at least) the last saved position on the Lavalink stand-in.

use std::path::Path;
use std::time::Duration;

use lavalink::model::GuildId as LavalinkGuild;
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::SimNode;

const GUARD: Duration = Duration::from_secs(30);
const FIRST: &str = "sim:length:600000";
const SECOND: &str = "sim:track:restart-second";

fn write_config(path: &Path, discord: &DiscordSim, node: &SimNode, data_dir: &Path) {
    let config = test_support::run_config(
        discord,
        &[node],
        data_dir,
        "[bot]\nposition_tick = \"200ms\"\n",
    );
    std::fs::write(path, config).expect("write config");
}

fn spawn_bot(config: &Path, log: &Path) -> tokio::process::Child {
    let log = std::fs::File::create(log).expect("log file");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby run")
}

/// Waits until the node has, in a session other than `not_in`, a player of `guild` playing
/// `identifier` at `min_position` or later; returns that session and position.
async fn wait_playing(
    node: &SimNode,
    guild: LavalinkGuild,
    identifier: &str,
    min_position: u64,
    not_in: Option<&str>,
) -> (String, u64) {
    let mut sent = node.subscribe();
    tokio::time::timeout(GUARD, async {
        loop {
            for session in node.sessions() {
                if Some(session.id.as_str()) == not_in || !session.connected {
                    continue;
                }
                if let Some(player) = node.player(&session.id, guild)
                    && player.track.as_ref().map(|t| t.info.identifier.as_str()) == Some(identifier)
                    && !player.paused
                    && player.state.connected
                    && player.state.position >= min_position
                {
                    return (session.id.clone(), player.state.position);
                }
            }
            // Anything the node sends (playerUpdate, events) is a reason to look again.
            let _ = sent.recv().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{identifier} never played at >= {min_position} ms"))
}

async fn answer(discord: &DiscordSim, command: SlashCommand) -> String {
    let handle = discord.invoke(&command).expect("invoke");
    tokio::time::timeout(GUARD, handle.original())
        .await
        .expect("an answer within the guard")
        .expect("answered")
        .content
}

fn slash(guild: &GuildInfo, user: &str, name: &str) -> SlashCommand {
    SlashCommand::new(
        guild.id,
        guild.text_channel(),
        guild.member(user).expect("member"),
        name,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bot_restores_queue_and_position_and_plays_on() {
    let discord = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("discord stand-in");
    let guild = discord.create_guild(&GuildSpec::default()).expect("guild");
    let node = SimNode::start(
        sim::lavalink::NodeConfig::default()
            .with_intervals(Duration::from_millis(100), Duration::from_secs(5)),
    )
    .await
    .expect("lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    write_config(&config, &discord, &node, &dir.path().join("data"));
    let commands = bot::commands::definitions().len();
    let lavalink_guild = LavalinkGuild(guild.id.get());

    let mut bot = spawn_bot(&config, &dir.path().join("first.log"));
    discord
        .wait_for_global_commands(commands)
        .await
        .expect("the bot registered its commands");
    // The commands are registered over REST while the gateway session comes up: an interaction
    // needs the session (the stand-in delivers it to connected sessions only).
    discord
        .wait_for_sessions(|sessions| sessions.iter().any(|s| s.connected))
        .await
        .expect("the bot's gateway session");
    let alice = guild.member("alice").expect("alice");
    discord
        .join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("alice joins voice");
    answer(
        &discord,
        slash(&guild, "alice", "play").string("query", FIRST),
    )
    .await;
    answer(
        &discord,
        slash(&guild, "alice", "play").string("query", SECOND),
    )
    .await;
    let (first_session, _) = wait_playing(&node, lavalink_guild, FIRST, 0, None).await;

    // Let the track run and the bot write a position of at least 1.5 s.
    let store_dir = dir.path().join("data");
    let saved = tokio::time::timeout(GUARD, async {
        loop {
            let store = store::SqliteStore::open(&store::SqliteConfig::new(&store_dir))
                .await
                .expect("the store, read beside the bot");
            let state = store::Store::load_guild(&store, guild.id.get())
                .await
                .expect("read")
                .expect("the guild is stored");
            if state.position.position_ms >= 1500 {
                assert_eq!(state.queue.len(), 1, "the second track waits in the queue");
                return state.position.position_ms;
            }
            drop(store);
            let mut sent = node.subscribe();
            let _ = sent.recv().await;
        }
    })
    .await
    .expect("a position of 1.5 s was saved");

    // kill -9: no shutdown, no handover.
    bot.start_kill().expect("SIGKILL");
    bot.wait().await.expect("reaped");

    let mut bot = spawn_bot(&config, &dir.path().join("second.log"));
    let (_, position) =
        wait_playing(&node, lavalink_guild, FIRST, saved, Some(&first_session)).await;
    assert!(
        position >= saved,
        "resumed at {position} ms, saved {saved} ms"
    );

    let queue = answer(&discord, slash(&guild, "alice", "queue")).await;
    assert!(
        queue.contains("restart-second"),
        "the queue survived: {queue}"
    );
    bot.start_kill().expect("stop");
    let _ = bot.wait().await;
}

/// Waits (bounded) until the log file at `path` contains `needle`; returns the log.
async fn wait_log(path: &Path, needle: &str) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            if log.contains(needle) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the log never said {needle:?}"))
}

/// A guild's rows with a gap in its queue positions (0, 1, 7), as a damaged file would have.
async fn damage_a_guild(store_dir: &Path, guild: u64) {
    let store = store::SqliteStore::open(&store::SqliteConfig::new(store_dir))
        .await
        .expect("the store");
    let entry = store::QueueEntry {
        track: "not even a track".to_owned(),
        requester_id: 1,
        title: "Damaged".to_owned(),
        author: "Nobody".to_owned(),
        length_ms: 1_000,
        uri: None,
        added_at_unix_ms: 1,
    };
    store::Store::enqueue(&store, guild, &[entry.clone(), entry.clone(), entry], None)
        .await
        .expect("enqueue");
    sqlx::query("UPDATE queue_entries SET pos = 7 WHERE guild_id = ?1 AND pos = 2")
        .bind(guild.cast_signed())
        .execute(store.pool())
        .await
        .expect("damage");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_guild_is_quarantined_and_the_others_play_on() {
    const DAMAGED: u64 = 424_242_424_242;
    let discord = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("discord stand-in");
    let guild = discord.create_guild(&GuildSpec::default()).expect("guild");
    let node = SimNode::start(
        sim::lavalink::NodeConfig::default()
            .with_intervals(Duration::from_millis(100), Duration::from_secs(5)),
    )
    .await
    .expect("lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    let store_dir = dir.path().join("data");
    write_config(&config, &discord, &node, &store_dir);
    let lavalink_guild = LavalinkGuild(guild.id.get());

    let mut bot = spawn_bot(&config, &dir.path().join("first.log"));
    discord
        .wait_for_global_commands(bot::commands::definitions().len())
        .await
        .expect("the bot registered its commands");
    discord
        .wait_for_sessions(|sessions| sessions.iter().any(|s| s.connected))
        .await
        .expect("the bot's gateway session");
    let alice = guild.member("alice").expect("alice");
    discord
        .join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("alice joins voice");
    answer(
        &discord,
        slash(&guild, "alice", "play").string("query", FIRST),
    )
    .await;
    let (first_session, _) = wait_playing(&node, lavalink_guild, FIRST, 0, None).await;
    bot.start_kill().expect("SIGKILL");
    bot.wait().await.expect("reaped");

    damage_a_guild(&store_dir, DAMAGED).await;
    let log = dir.path().join("second.log");
    let mut bot = spawn_bot(&config, &log);
    // The bot does not exit: the healthy guild comes back and plays on...
    wait_playing(&node, lavalink_guild, FIRST, 0, Some(&first_session)).await;
    // ...and the damaged one is named in the log with what is damaged.
    let text = wait_log(&log, "guild quarantined").await;
    let line = text
        .lines()
        .find(|l| l.contains("guild quarantined"))
        .expect("the line");
    assert!(line.contains(&DAMAGED.to_string()), "{line}");
    assert!(line.contains("queue position 7"), "{line}");
    assert!(bot.try_wait().expect("status").is_none(), "still running");
    bot.start_kill().expect("stop");
    let _ = bot.wait().await;

    // Its rows were left as they were.
    let store = store::SqliteStore::open(&store::SqliteConfig::new(&store_dir))
        .await
        .expect("the store");
    let loaded = store::Store::load_all_guilds(&store).await.expect("load");
    assert_eq!(loaded.damaged.len(), 1);
    assert_eq!(loaded.damaged[0].guild_id, DAMAGED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_store_file_stops_the_start_with_advice() {
    let discord = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("discord stand-in");
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    let store_dir = dir.path().join("data");
    std::fs::create_dir_all(&store_dir).expect("data dir");
    let file = store_dir.join("dimby.sqlite3");
    std::fs::File::create(&file).expect("an empty store file");
    write_config(&config, &discord, &node, &store_dir);
    let log = dir.path().join("run.log");
    let mut bot = spawn_bot(&config, &log);
    let status = tokio::time::timeout(GUARD, bot.wait())
        .await
        .expect("the bot exits")
        .expect("status");
    assert!(!status.success(), "{status}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("is empty (0 bytes)"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("store.allow_fresh_start"), "{text}");
    assert_eq!(
        std::fs::metadata(&file).expect("file").len(),
        0,
        "left alone"
    );
}
