//! What listeners ask for beyond play and queue, end to end: the bot as a process (`dimby run`)
//! against the Discord stand-in and two Lavalink stand-ins, scripted users typing the commands.
//!
//! Filters: `/filter` presets and custom settings reach the node as Lavalink's `filters` object,
//! show in `/nowplaying`, are counted by preset, and stay exactly as they were through a
//! `kill -9` and restart, a node crash (failover) and a drain.
//!
//! 24/7, autoplay, history: with `/247` the bot stays in its channel with nobody listening and
//! nothing to play, and comes back to it after a `kill -9`; `/autoplay` plays a track of the
//! radio mix of the YouTube track that ended the queue (never the same one); `/history` lists what
//! played, `/previous` plays it again with the current track next, `/replay` restarts it.
//!
//! Lyrics: `/lyrics` asks the node that has the LavaLyrics plugin, pages long lyrics, and says so
//! when none are found or no node has the plugin.

use std::path::Path;
use std::time::Duration;

use lavalink::model::{Filters, GuildId as LavalinkGuild, Player};
use music::FilterChange;
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::{NodeConfig, SimNode};
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};

mod common;
use common::{BotProcess, GUARD};

const TRACK: &str = "sim:length:600000";
/// A YouTube video (the stand-in's catalogue: its id decides title, author and length).
const VIDEO: &str = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";
const VIDEO_ID: &str = "dQw4w9WgXcQ";
const ADMIN_TOKEN: &str = "listener-test-admin-token";

struct Rig {
    discord: DiscordSim,
    nodes: Vec<SimNode>,
    guild: GuildInfo,
    config: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Self {
        let discord = DiscordSim::start(DiscordConfig::default())
            .await
            .expect("discord stand-in");
        let guild = discord.create_guild(&GuildSpec::default()).expect("guild");
        let mut nodes = Vec::new();
        for name in ["one", "two"] {
            let config = NodeConfig {
                name: name.to_owned(),
                ..NodeConfig::default()
                    .with_intervals(Duration::from_millis(100), Duration::from_secs(1))
            };
            // Node one has the LavaLyrics plugin, node two none: /lyrics must find the one.
            let config = if name == "one" {
                config.with_lyrics_plugin()
            } else {
                config
            };
            nodes.push(SimNode::start(config).await.expect("lavalink stand-in"));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("dimby.toml");
        let node_refs: Vec<&SimNode> = nodes.iter().collect();
        std::fs::write(
            &config,
            test_support::run_config(
                &discord,
                &node_refs,
                &dir.path().join("data"),
                "[bot]\nposition_tick = \"200ms\"\nidle_leave = \"1s\"\n",
            ),
        )
        .expect("config");
        Self {
            discord,
            nodes,
            guild,
            config,
            dir,
        }
    }

    async fn spawn(&self, log: &str) -> BotProcess {
        let bot = BotProcess::spawn(
            &self.config,
            &self.dir.path().join(log),
            &[("DIMBY_ADMIN_TOKEN", ADMIN_TOKEN.to_owned())],
        );
        bot.ready().await;
        bot
    }

    fn slash(&self, user: &str, name: &str) -> SlashCommand {
        SlashCommand::new(
            self.guild.id,
            self.guild.text_channel(),
            self.guild.member(user).expect("member"),
            name,
        )
    }

    /// `/filter <sub> <options>`, as Discord sends a sub-command: one option of type 1 holding
    /// the sub-command's options.
    fn filter(&self, user: &str, sub: &str, options: Vec<CommandDataOption>) -> SlashCommand {
        self.subcommand(user, "filter", sub, options)
    }

    /// `/<name> <sub> <options>`: a command with sub-commands.
    fn subcommand(
        &self,
        user: &str,
        name: &str,
        sub: &str,
        options: Vec<CommandDataOption>,
    ) -> SlashCommand {
        let mut command = self.slash(user, name);
        command.options = vec![CommandDataOption {
            name: sub.to_owned(),
            value: CommandOptionValue::SubCommand(options),
        }];
        command
    }

    /// The answer's text and whether only the user sees it.
    async fn answer(&self, command: &SlashCommand) -> (String, bool) {
        let handle = self.discord.invoke(command).expect("invoke");
        let message = tokio::time::timeout(GUARD, handle.original())
            .await
            .expect("an answer within the guard")
            .expect("answered");
        let ephemeral = message
            .flags
            .is_some_and(|f| f.contains(twilight_model::channel::message::MessageFlags::EPHEMERAL));
        (message.content, ephemeral)
    }

    fn lavalink_guild(&self) -> LavalinkGuild {
        LavalinkGuild(self.guild.id.get())
    }

    /// The node and player playing the guild's track, in a connected session other than
    /// `not_in`, once one plays at `min_position` or later.
    async fn playing(&self, min_position: u64, not_in: Option<&str>) -> (usize, String, Player) {
        self.playing_where(min_position, not_in, |id| id == TRACK)
            .await
    }

    /// As [`playing`](Self::playing), for a track whose identifier `wanted` accepts.
    async fn playing_where(
        &self,
        min_position: u64,
        not_in: Option<&str>,
        wanted: impl Fn(&str) -> bool,
    ) -> (usize, String, Player) {
        let guild = self.lavalink_guild();
        tokio::time::timeout(GUARD, async {
            loop {
                for (n, node) in self.nodes.iter().enumerate() {
                    for session in node.sessions() {
                        if Some(session.id.as_str()) == not_in || !session.connected {
                            continue;
                        }
                        if let Some(player) = node.player(&session.id, guild)
                            && player
                                .track
                                .as_ref()
                                .is_some_and(|t| wanted(&t.info.identifier))
                            && !player.paused
                            && player.state.connected
                            && player.state.position >= min_position
                        {
                            return (n, session.id.clone(), player);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let logs: Vec<String> = ["first.log", "second.log"]
                .iter()
                .map(|log| log_of(self.dir.path(), log))
                .collect();
            panic!(
                "the track never played at >= {min_position} ms; logs:\n{}",
                logs.join("\n----\n")
            )
        })
    }
}

impl Rig {
    /// The channel the bot's voice state is in, as the Discord stand-in has it.
    fn bot_channel(&self) -> Option<u64> {
        self.discord
            .voice_state(self.guild.id, self.discord.bot_user_id())
            .and_then(|state| state.channel_id)
            .map(twilight_model::id::Id::get)
    }

    /// Waits longer than the idle time (1 s): three of node one's stats messages (one a second).
    async fn longer_than_the_idle_time(&self) {
        let mut sent = self.nodes[0].subscribe();
        let mut stats = 0;
        while stats < 3 {
            if let Ok(message) = tokio::time::timeout(GUARD, sent.recv())
                .await
                .expect("stats")
                && matches!(message.message, lavalink::model::IncomingMessage::Stats(_))
            {
                stats += 1;
            }
        }
    }
}

fn string(name: &str, value: &str) -> CommandDataOption {
    CommandDataOption {
        name: name.to_owned(),
        value: CommandOptionValue::String(value.to_owned()),
    }
}

fn integer(name: &str, value: i64) -> CommandDataOption {
    CommandDataOption {
        name: name.to_owned(),
        value: CommandOptionValue::Integer(value),
    }
}

fn number(name: &str, value: f64) -> CommandDataOption {
    CommandDataOption {
        name: name.to_owned(),
        value: CommandOptionValue::Number(value),
    }
}

fn expected_filters(changes: &[FilterChange]) -> Filters {
    changes
        .iter()
        .fold(Filters::default(), |filters, change| change.apply(&filters))
}

/// Waits until the bot's cluster takes players on `node` (`want`: `eligible` in `/admin/nodes`)
/// or no longer does (`!want`).
async fn wait_eligible(admin: std::net::SocketAddr, node: &str, want: bool) {
    let client = reqwest::Client::new();
    tokio::time::timeout(GUARD, async {
        loop {
            let nodes: Option<serde_json::Value> = match client
                .get(format!("http://{admin}/admin/nodes"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
            {
                Ok(response) => response.json().await.ok(),
                Err(_) => None,
            };
            let eligible = nodes.as_ref().and_then(|nodes| {
                nodes
                    .as_array()?
                    .iter()
                    .find(|n| n["name"] == node)
                    .map(|n| n["eligible"] == true)
            });
            if eligible == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("node {node} never eligible: {want}"));
}

async fn drain(admin: std::net::SocketAddr, node: &str) {
    let response = reqwest::Client::new()
        .post(format!("http://{admin}/admin/nodes/{node}/drain"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "mode": "hard" }))
        .send()
        .await
        .expect("the admin API answers");
    assert!(response.status().is_success(), "{}", response.status());
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_reach_the_node_and_stay_through_a_kill_a_crash_and_a_drain() {
    let rig = Rig::start().await;
    let bot = rig.spawn("first.log").await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins voice");

    // Nothing plays yet: refused, privately, saying what to do.
    let (text, ephemeral) = rig
        .answer(&rig.filter("alice", "preset", vec![string("name", "nightcore")]))
        .await;
    assert!(ephemeral && text.contains("nothing is playing"), "{text}");

    rig.answer(&rig.slash("alice", "play").string("query", TRACK))
        .await;
    let (_, first_session, _) = rig.playing(0, None).await;

    let nightcore = FilterChange::Preset(music::preset("nightcore").expect("preset"));
    let band = FilterChange::Band {
        band: 14,
        gain: 0.5,
    };
    let (text, ephemeral) = rig
        .answer(&rig.filter("alice", "preset", vec![string("name", "nightcore")]))
        .await;
    assert!(!ephemeral && text.contains("nightcore"), "{text}");
    let (text, _) = rig
        .answer(&rig.filter(
            "alice",
            "equalizer",
            vec![integer("band", 14), number("gain", 0.5)],
        ))
        .await;
    assert!(text.contains("equalizer (14: +0.50)"), "{text}");
    let expected = expected_filters(&[nightcore, band]);
    let (_, _, player) = rig.playing(0, None).await;
    assert_eq!(player.filters, expected, "the node plays with the filters");

    filter_refusals(&rig).await;
    let (_, _, player) = rig.playing(0, None).await;
    assert_eq!(player.filters, expected, "a refusal changes nothing");

    let (now, _) = rig.answer(&rig.slash("alice", "nowplaying")).await;
    assert!(
        now.contains("filters: nightcore, equalizer (14: +0.50)"),
        "{now}"
    );
    // Counted by preset: the two changes made, none of the refused ones.
    assert_eq!(
        bot.metric(r#"dimby_filter_changes_total{preset="nightcore"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        bot.metric(r#"dimby_filter_changes_total{preset="equalizer"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        bot.metric(r#"dimby_filter_changes_total{preset="reset"}"#)
            .await,
        None
    );

    // kill -9 and start again: the player comes back with the same filters.
    let (_, _, before_kill) = rig.playing(1_000, None).await;
    bot.signal("-KILL");
    let _ = bot.exit().await;
    let bot = rig.spawn("second.log").await;
    let (node, session, player) = rig
        .playing(before_kill.state.position, Some(&first_session))
        .await;
    assert_eq!(player.filters, expected, "restored with its filters");

    // Its node crashes: the player moves to the other node with the same filters.
    let at_crash = player.state.position;
    rig.nodes[node].crash();
    let (moved_to, moved_session, moved) = rig.playing(at_crash, Some(&session)).await;
    assert_ne!(moved_to, node, "moved to the other node");
    assert_eq!(moved.filters, expected, "moved with its filters");
    rig.nodes[node]
        .restart()
        .await
        .expect("the node comes back");
    // The bot's cluster takes players there again once it reconnected and its circuit closed.
    test_support::until("the bot reconnected to the restarted node", || {
        rig.nodes[node].sessions().iter().any(|s| s.connected)
    })
    .await;
    wait_eligible(bot.admin, rig.nodes[node].name(), true).await;

    // A drain of its node moves it back, filters and all.
    let at_drain = moved.state.position;
    drain(bot.admin, rig.nodes[moved_to].name()).await;
    let (drained_to, _, drained) = rig.playing(at_drain, Some(&moved_session)).await;
    assert_ne!(drained_to, moved_to, "drained away");
    assert_eq!(drained.filters, expected, "drained with its filters");

    // Reset: no filters on the node, none shown.
    let (text, _) = rig.answer(&rig.filter("alice", "reset", vec![])).await;
    assert!(text.contains("Filters off"), "{text}");
    let (_, _, player) = rig.playing(0, None).await;
    assert_eq!(player.filters, Filters::default());
    let (now, _) = rig.answer(&rig.slash("alice", "nowplaying")).await;
    assert!(!now.contains("filters:"), "{now}");
    assert!(
        !log_of(rig.dir.path(), "second.log").contains("panicked"),
        "no panic"
    );
    bot.signal("-TERM");
    let _ = bot.exit().await;
}

/// `/filter` refusals, each private and saying what is wrong.
async fn filter_refusals(rig: &Rig) {
    let (text, ephemeral) = rig
        .answer(&rig.filter("alice", "preset", vec![string("name", "loud")]))
        .await;
    assert!(
        ephemeral && text.contains("must be one of") && text.contains("nightcore"),
        "{text}"
    );
    let (text, ephemeral) = rig.answer(&rig.filter("alice", "timescale", vec![])).await;
    assert!(ephemeral && text.contains("at least one of"), "{text}");
    let (text, ephemeral) = rig
        .answer(&rig.filter("alice", "timescale", vec![number("speed", 9.0)]))
        .await;
    assert!(ephemeral && text.contains("between 0.25 and 3"), "{text}");
    let (text, ephemeral) = rig.answer(&rig.filter("bob", "reset", vec![])).await;
    assert!(ephemeral && text.contains("to control playback"), "{text}");
    let (text, ephemeral) = rig.answer(&rig.slash("alice", "filter")).await;
    assert!(ephemeral && text.contains("choose one of"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stay_autoplay_history_previous_and_replay() {
    let rig = Rig::start().await;
    let bot = rig.spawn("first.log").await;
    let alice = rig.guild.member("alice").expect("alice");
    let voice = rig.guild.voice_channel(0);
    rig.discord
        .join_voice(rig.guild.id, alice, voice)
        .expect("alice joins voice");

    // Nothing played yet.
    let (text, ephemeral) = rig.answer(&rig.slash("alice", "previous")).await;
    assert!(ephemeral && text.contains("no previous track"), "{text}");
    let (text, _) = rig.answer(&rig.slash("alice", "history")).await;
    assert!(text.contains("history is empty"), "{text}");
    let (text, ephemeral) = rig.answer(&rig.slash("alice", "replay")).await;
    assert!(ephemeral && text.contains("nothing is playing"), "{text}");

    // Autoplay: the YouTube track ends the queue (skipped), a track of its radio mix plays.
    let (text, _) = rig.answer(&rig.slash("alice", "autoplay")).await;
    assert!(text.contains("Autoplay is on"), "{text}");
    rig.answer(&rig.slash("alice", "play").string("query", VIDEO))
        .await;
    rig.playing_where(0, None, |id| id == VIDEO_ID).await;
    rig.answer(&rig.slash("alice", "skip")).await;
    let (_, _, related) = rig
        .playing_where(0, None, |id| id != VIDEO_ID && id.len() == 11)
        .await;
    assert!(related.track.is_some());
    let said = channel_says(&rig, "Autoplay: now playing").await;
    assert!(!said.is_empty());

    // The history has the video; /previous plays it again, the autoplayed track next.
    let (text, _) = rig.answer(&rig.slash("alice", "history")).await;
    assert!(text.contains("`1.`"), "{text}");
    let (text, _) = rig.answer(&rig.slash("alice", "previous")).await;
    assert!(text.contains("previous track again"), "{text}");
    rig.playing_where(0, None, |id| id == VIDEO_ID).await;
    let (queue, _) = rig.answer(&rig.slash("alice", "queue")).await;
    assert!(
        queue.contains("`1.`"),
        "the autoplayed track is next: {queue}"
    );

    // /replay: back to the start.
    let (_, _, before) = rig.playing_where(1_500, None, |id| id == VIDEO_ID).await;
    let (text, _) = rig.answer(&rig.slash("alice", "replay")).await;
    assert!(text.contains("from the start"), "{text}");
    let (_, _, after) = rig.playing_where(0, None, |id| id == VIDEO_ID).await;
    assert!(
        after.state.position < before.state.position,
        "replayed: {} ms, was {} ms",
        after.state.position,
        before.state.position
    );

    let bot = stay_through_idle_and_a_kill(&rig, bot).await;
    bot.signal("-TERM");
    let _ = bot.exit().await;
}

/// The guild's text channel, once one of the bot's messages there contains `text`.
async fn channel_says(rig: &Rig, text: &str) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Some(message) = rig
                .discord
                .channel_messages(rig.guild.text_channel())
                .into_iter()
                .find(|m| m.content.contains(text))
            {
                return message.content;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the channel never said {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lyrics_come_from_the_node_with_the_plugin_in_pages() {
    let rig = Rig::start().await;
    let bot = rig.spawn("first.log").await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins voice");

    let (text, ephemeral) = rig.answer(&rig.slash("alice", "lyrics")).await;
    assert!(ephemeral && text.contains("Nothing is playing"), "{text}");

    // Long lyrics of the current track, in pages under Discord's 2,000 characters.
    rig.answer(
        &rig.slash("alice", "play")
            .string("query", "sim:lyrics:long"),
    )
    .await;
    rig.playing_where(0, None, |id| id == "sim:lyrics:long")
        .await;
    let (first, ephemeral) = rig.answer(&rig.slash("alice", "lyrics")).await;
    assert!(!ephemeral, "{first}");
    assert!(first.chars().count() <= 2_000, "{}", first.len());
    let pages: usize = first
        .split("(page 1/")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("paged: {first}"));
    assert!(pages > 1, "{first}");
    let (last, _) = rig
        .answer(
            &rig.slash("alice", "lyrics")
                .integer("page", i64::try_from(pages).expect("pages")),
        )
        .await;
    assert!(last.contains(&format!("(page {pages}/{pages})")), "{last}");
    assert_ne!(first, last);
    let (text, ephemeral) = rig
        .answer(&rig.slash("alice", "lyrics").integer("page", 999))
        .await;
    assert!(ephemeral && text.contains("does not exist"), "{text}");

    // By query; none found for a track without lyrics.
    let (text, _) = rig
        .answer(
            &rig.slash("alice", "lyrics")
                .string("query", "sim:lyrics:timed:song"),
        )
        .await;
    assert!(text.contains("lyrics from"), "{text}");
    let (text, ephemeral) = rig
        .answer(
            &rig.slash("alice", "lyrics")
                .string("query", "sim:lyrics:none"),
        )
        .await;
    assert!(ephemeral && text.contains("No lyrics found"), "{text}");

    // Only the node without the plugin left: a clear answer.
    rig.nodes[0].crash();
    wait_eligible(bot.admin, rig.nodes[0].name(), false).await;
    let (text, ephemeral) = rig
        .answer(
            &rig.slash("alice", "lyrics")
                .string("query", "sim:lyrics:timed:song"),
        )
        .await;
    assert!(ephemeral && text.contains("LavaLyrics plugin"), "{text}");
    bot.signal("-TERM");
    let _ = bot.exit().await;
}

/// 24/7: nobody listening and nothing playing, the bot stays, and comes back after kill -9; off,
/// it leaves the empty channel after the idle time. Returns the restarted process.
async fn stay_through_idle_and_a_kill(rig: &Rig, bot: BotProcess) -> BotProcess {
    let alice = rig.guild.member("alice").expect("alice");
    let voice = rig.guild.voice_channel(0);
    // 24/7: nobody listening and nothing playing, the bot stays, and comes back after kill -9.
    let (text, _) = rig.answer(&rig.slash("alice", "247")).await;
    assert!(text.contains("24/7 is on"), "{text}");
    rig.answer(&rig.slash("alice", "stop")).await;
    rig.discord
        .leave_voice(rig.guild.id, alice)
        .expect("alice leaves");
    rig.longer_than_the_idle_time().await;
    assert_eq!(rig.bot_channel(), Some(voice.get()), "24/7: still there");
    // kill -9 and start again: the new process joins the channel again (its voice connection
    // reaches a node: a player in one of its own sessions, connected, with nothing to play).
    let old_sessions: Vec<String> = rig
        .nodes
        .iter()
        .flat_map(SimNode::sessions)
        .map(|session| session.id)
        .collect();
    bot.signal("-KILL");
    let _ = bot.exit().await;
    let bot = rig.spawn("second.log").await;
    let guild = rig.lavalink_guild();
    let rejoined = tokio::time::timeout(GUARD, async {
        loop {
            let connected = rig.nodes.iter().any(|node| {
                node.sessions().iter().any(|session| {
                    !old_sessions.contains(&session.id)
                        && node
                            .player(&session.id, guild)
                            .is_some_and(|p| p.state.connected && p.track.is_none())
                })
            });
            if connected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        rejoined.is_ok(),
        "the restarted bot joined its 24/7 channel again; log:\n{}",
        log_of(rig.dir.path(), "second.log")
    );
    assert_eq!(rig.bot_channel(), Some(voice.get()));
    rig.longer_than_the_idle_time().await;
    assert_eq!(
        rig.bot_channel(),
        Some(voice.get()),
        "24/7 after the restart: still there with nobody listening"
    );
    // The history came back too.
    let (text, _) = rig.answer(&rig.slash("alice", "history")).await;
    assert!(text.contains("`1.`"), "the history after kill -9: {text}");

    // 24/7 off: the usual rule, the bot leaves the empty channel after the idle time.
    rig.discord
        .join_voice(rig.guild.id, alice, voice)
        .expect("alice joins voice");
    // Autoplay came back on (switching it now turns it off).
    let (text, _) = rig.answer(&rig.slash("alice", "autoplay")).await;
    assert!(
        text.contains("Autoplay is off"),
        "autoplay after kill -9: {text}"
    );
    let (text, _) = rig.answer(&rig.slash("alice", "247")).await;
    assert!(text.contains("24/7 is off"), "{text}");
    rig.discord
        .leave_voice(rig.guild.id, alice)
        .expect("alice leaves");
    if tokio::time::timeout(GUARD, async {
        while rig.bot_channel().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_err()
    {
        panic!(
            "24/7 off: the bot never left the empty channel; log:\n{}",
            log_of(rig.dir.path(), "second.log")
        );
    }
    bot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_playlists_per_user() {
    let rig = Rig::start().await;
    let bot = rig.spawn("first.log").await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins voice");
    let playlist = |user: &str, sub: &str, name: Option<&str>| {
        rig.subcommand(
            user,
            "playlist",
            sub,
            name.map(|n| vec![string("name", n)]).unwrap_or_default(),
        )
    };

    let (text, _) = rig.answer(&playlist("alice", "list", None)).await;
    assert!(text.contains("no saved playlists"), "{text}");
    let (text, ephemeral) = rig.answer(&playlist("alice", "save", Some("Chill"))).await;
    assert!(ephemeral && text.contains("nothing to save"), "{text}");

    rig.answer(&rig.slash("alice", "play").string("query", TRACK))
        .await;
    rig.answer(
        &rig.slash("alice", "play")
            .string("query", "sim:track:second"),
    )
    .await;
    let (text, _) = rig.answer(&playlist("alice", "save", Some("Chill"))).await;
    assert!(
        text.contains("Saved your playlist **Chill** (2 tracks)"),
        "{text}"
    );
    // Names match without regard to case: this replaces it, with the new spelling.
    let (text, _) = rig.answer(&playlist("alice", "save", Some("chill"))).await;
    assert!(text.contains("Replaced your playlist **chill**"), "{text}");
    let (text, _) = rig.answer(&playlist("alice", "list", None)).await;
    assert!(text.contains("**chill** — 2 tracks"), "{text}");
    let (text, _) = rig.answer(&playlist("alice", "show", Some("CHILL"))).await;
    assert!(text.contains("`2.`") && text.contains("second"), "{text}");
    let long = "x".repeat(101);
    let (text, ephemeral) = rig.answer(&playlist("alice", "save", Some(&long))).await;
    assert!(ephemeral && text.contains("100"), "{text}");

    // Another user has none of alice's.
    let (text, _) = rig.answer(&playlist("bob", "list", None)).await;
    assert!(text.contains("no saved playlists"), "{text}");
    let (text, ephemeral) = rig.answer(&playlist("bob", "show", Some("chill"))).await;
    assert!(ephemeral && text.contains("no playlist named"), "{text}");

    // Loading queues its tracks; one that no longer decodes is skipped with a note.
    rig.answer(&rig.slash("alice", "stop")).await;
    let store = store::SqliteStore::open(&store::SqliteConfig::new(rig.dir.path().join("data")))
        .await
        .expect("the store, beside the bot");
    let good = store::Store::playlist(&store, alice.get(), "chill")
        .await
        .expect("read")
        .expect("alice's playlist");
    let mut broken = good.entries.clone();
    broken[1].track = "not a track".to_owned();
    store::Store::save_playlist(&store, alice.get(), "broken", &broken, 1)
        .await
        .expect("saved beside the bot");
    let (text, _) = rig.answer(&playlist("alice", "load", Some("broken"))).await;
    assert!(
        text.contains("1 track of the playlist can no longer be played and was skipped"),
        "{text}"
    );
    rig.playing(0, None).await;
    let (text, _) = rig.answer(&playlist("alice", "load", Some("Chill"))).await;
    assert!(text.contains("Queued"), "{text}");
    let (queue, _) = rig.answer(&rig.slash("alice", "queue")).await;
    assert!(queue.contains("`2.`"), "both tracks queued: {queue}");

    let (text, _) = rig
        .answer(&playlist("alice", "delete", Some("chill")))
        .await;
    assert!(text.contains("Deleted your playlist"), "{text}");
    let (text, ephemeral) = rig
        .answer(&playlist("alice", "delete", Some("chill")))
        .await;
    assert!(ephemeral && text.contains("no playlist named"), "{text}");
    bot.signal("-TERM");
    let _ = bot.exit().await;
}

/// The panel's message in the text channel (the bot's message with buttons), once there is one.
async fn panel_message(rig: &Rig) -> twilight_model::channel::Message {
    rig.discord
        .wait_for_message_within(rig.guild.text_channel(), GUARD, |message| {
            !message.components.is_empty()
        })
        .await
        .expect("the now-playing panel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_now_playing_panel_survives_a_kill() {
    let rig = Rig::start().await;
    let bot = rig.spawn("first.log").await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins voice");
    rig.answer(&rig.slash("alice", "play").string("query", TRACK))
        .await;
    let (_, first_session, before_kill) = rig.playing(500, None).await;
    let panel = panel_message(&rig).await;

    // kill -9 and start again: playback comes back, and so does the same panel.
    bot.signal("-KILL");
    let _ = bot.exit().await;
    let bot = rig.spawn("second.log").await;
    rig.playing(before_kill.state.position, Some(&first_session))
        .await;
    let press =
        sim::discord::ButtonPress::new(rig.guild.text_channel(), panel.id, alice, "panel:pause");
    let handle = rig.discord.press_button(&press).expect("press");
    let updated = tokio::time::timeout(GUARD, handle.updated_message())
        .await
        .expect("answered within the guard")
        .expect("the panel updated");
    assert_eq!(updated.id, panel.id, "the stored panel answers");
    assert!(
        updated
            .components
            .iter()
            .any(|row| format!("{row:?}").contains("panel:resume")),
        "paused: the panel offers resume"
    );
    let panels = rig
        .discord
        .channel_messages(rig.guild.text_channel())
        .into_iter()
        .filter(|message| !message.components.is_empty())
        .count();
    assert_eq!(panels, 1, "no second panel after the restart");
    bot.signal("-TERM");
    let _ = bot.exit().await;
}
