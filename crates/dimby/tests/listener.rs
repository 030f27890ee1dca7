//! What listeners ask for beyond play and queue, end to end: the bot as a process (`dimby run`)
//! against the Discord stand-in and two Lavalink stand-ins, scripted users typing the commands.
//!
//! Filters: `/filter` presets and custom settings reach the node as Lavalink's `filters` object,
//! show in `/nowplaying`, are counted by preset, and stay exactly as they were through a
//! `kill -9` and restart, a node crash (failover) and a drain.

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
                    .with_intervals(Duration::from_millis(100), Duration::from_secs(5))
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
                "[bot]\nposition_tick = \"200ms\"\n",
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
        let mut command = self.slash(user, "filter");
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
        let guild = self.lavalink_guild();
        tokio::time::timeout(GUARD, async {
            loop {
                for (n, node) in self.nodes.iter().enumerate() {
                    for session in node.sessions() {
                        if Some(session.id.as_str()) == not_in || !session.connected {
                            continue;
                        }
                        if let Some(player) = node.player(&session.id, guild)
                            && player.track.as_ref().map(|t| t.info.identifier.as_str())
                                == Some(TRACK)
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
                "{TRACK} never played at >= {min_position} ms; logs:\n{}",
                logs.join("\n----\n")
            )
        })
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

/// Waits until the bot's cluster takes players on `node` again (`eligible` in `/admin/nodes`).
async fn wait_eligible(admin: std::net::SocketAddr, node: &str) {
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
            if eligible == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("node {node} never eligible again"));
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
    wait_eligible(bot.admin, rig.nodes[node].name()).await;

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
