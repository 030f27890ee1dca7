//! Blue-green cutover between two `dimby run` processes sharing one store, driven through their
//! deploy endpoints as `dimby deploy` drives them: blue serves, green waits in standby and passes
//! the gate; the cutover hands every session to green and a rollback hands them back to the warm
//! blue. Across both, no player on the Lavalink stand-in is restarted, no shard identifies, and
//! every command sent meanwhile is answered. A candidate with a wrong token or a wrong Lavalink
//! password fails the gate and never touches the serving colour.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use admin::deploy::Phase;
use deploy::ColourClient;
use lavalink::model::GuildId as LavalinkGuild;
use sim::discord::{DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::SimNode;

const GUARD: Duration = Duration::from_secs(60);
const GUILDS: usize = 6;
const ADMIN_TOKEN: &str = "deploy-test-admin-token";
const TRACK: &str = "sim:length:600000";
/// The title the stand-in gives [`TRACK`].
const TITLE: &str = "Sim: 600000 ms";

/// One colour: a `dimby run` child process and a client of its deploy endpoints.
struct Colour {
    child: tokio::process::Child,
    client: ColourClient,
}

fn spawn(config: &Path, log: &Path, colour: &str, standby: bool, env: &[(&str, &str)]) -> Colour {
    let admin = test_support::free_port();
    let log = std::fs::File::create(log).expect("log file");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"));
    command.args(["run", "--config"]).arg(config);
    if standby {
        command.arg("--standby");
    }
    let child = command
        .env("RUST_LOG", "info")
        .env("DIMBY_DEPLOY__COLOUR", colour)
        .env("DIMBY_ADMIN__LISTEN", admin.to_string())
        .env("DIMBY_ADMIN_TOKEN", ADMIN_TOKEN)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby run");
    Colour {
        child,
        client: ColourClient::new(format!("http://{admin}"), ADMIN_TOKEN),
    }
}

impl Colour {
    /// SIGTERM, and the exit code.
    async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().expect("pid");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("exit status")
            .code()
    }
}

fn guilds(discord: &DiscordSim) -> Vec<GuildInfo> {
    (0..GUILDS)
        .map(|i| {
            let guild = discord
                .create_guild(&GuildSpec::named(format!("Deploy {i}")))
                .expect("guild");
            let alice = guild.member("alice").expect("alice");
            discord
                .join_voice(guild.id, alice, guild.voice_channel(0))
                .expect("alice joins voice");
            guild
        })
        .collect()
}

fn command(guild: &GuildInfo, name: &str) -> SlashCommand {
    SlashCommand::new(
        guild.id,
        guild.text_channel(),
        guild.member("alice").expect("alice"),
        name,
    )
}

async fn answer(discord: &DiscordSim, command: &SlashCommand) -> String {
    let handle = discord.invoke(command).expect("invoke");
    tokio::time::timeout(GUARD, handle.original())
        .await
        .expect("an answer within the guard")
        .expect("answered")
        .content
}

/// Every guild's player playing on the node, in the one session it has.
async fn all_playing(node: &SimNode, guilds: &[GuildInfo]) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            let sessions = node.sessions();
            if let [session] = sessions.as_slice() {
                let playing = guilds
                    .iter()
                    .filter(|g| {
                        node.player(&session.id, LavalinkGuild(g.id.get()))
                            .is_some_and(|p| p.track.is_some() && !p.paused && p.state.connected)
                    })
                    .count();
                if playing == guilds.len() && session.connected {
                    return session.id.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every guild playing in one session")
}

/// Counts the TrackStart events the node sends from now on.
fn count_track_starts(node: &SimNode) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&count);
    let mut sent = node.subscribe();
    tokio::spawn(async move {
        loop {
            match sent.recv().await {
                Ok(message) => {
                    if matches!(
                        message.message,
                        lavalink::model::IncomingMessage::Event(
                            lavalink::model::Event::TrackStart(_)
                        )
                    ) {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    count
}

/// Scripted listeners: `/nowplaying` round the guilds every 50 ms until stopped; returns how many
/// were sent and how many were answered with the current track.
fn listeners(
    discord: &Arc<DiscordSim>,
    guilds: &[GuildInfo],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    let discord = Arc::clone(discord);
    let guilds = guilds.to_vec();
    tokio::spawn(async move {
        let mut handles = Vec::new();
        let mut next = 0;
        while !stop.load(Ordering::SeqCst) {
            let guild = &guilds[next % guilds.len()];
            next += 1;
            handles.push(
                discord
                    .invoke(&command(guild, "nowplaying"))
                    .expect("invoke"),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sent = handles.len();
        let mut answered = 0;
        for handle in handles {
            if let Ok(Ok(message)) = tokio::time::timeout(GUARD, handle.original()).await
                && message.content.contains(TITLE)
            {
                answered += 1;
            }
        }
        (sent, answered)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_and_a_rollback_keep_every_player_playing_and_answer_everything_sent_meanwhile() {
    discord::install_crypto_provider();
    let discord = Arc::new(
        DiscordSim::start(sim::discord::DiscordConfig::default())
            .await
            .expect("Discord stand-in"),
    );
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let guilds = guilds(&discord);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    std::fs::write(
        &config,
        test_support::run_config(&discord, &[&node], &dir.path().join("data"), ""),
    )
    .expect("config");

    let blue = spawn(&config, &dir.path().join("blue.log"), "blue", false, &[]);
    let serving = blue
        .client
        .wait_phase(Phase::Serving, GUARD)
        .await
        .expect("blue serves");
    assert_eq!(serving.colour, "blue");
    for guild in &guilds {
        let text = answer(&discord, &command(guild, "play").string("query", TRACK)).await;
        assert!(!text.is_empty());
    }
    let session = all_playing(&node, &guilds).await;

    let green = spawn(&config, &dir.path().join("green.log"), "green", true, &[]);
    let standby = green
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("green waits in standby");
    assert_eq!(standby.colour, "green");
    assert!(
        !green.client.ready().await.expect("readyz"),
        "standby is not ready"
    );
    let gate = green.client.gate().await.expect("the gate runs");
    assert!(gate.passed, "{gate:#?}");
    let names: Vec<&str> = gate.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["discord_rest", "commands", "lavalink:sim", "store"],
        "{gate:#?}"
    );

    let identifies = discord.identify_count();
    let starts = count_track_starts(&node);
    let stop = Arc::new(AtomicBool::new(false));
    let sending = listeners(&discord, &guilds, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let forth = deploy::cutover(&blue.client, &green.client, GUARD)
        .await
        .expect("the cutover to green");
    let taken = forth.to.last_takeover.as_ref().expect("green's takeover");
    assert_eq!(taken.playing_on, GUILDS, "{forth:#?}");
    assert_eq!(taken.guilds, GUILDS, "{forth:#?}");
    assert_eq!((taken.shards_resumed, taken.lavalink_sessions), (1, 1));
    assert_eq!(forth.from.phase, Phase::Standby, "blue stays warm");
    assert_eq!(all_playing(&node, &guilds).await, session);

    let back = deploy::cutover(&green.client, &blue.client, GUARD)
        .await
        .expect("the rollback to blue");
    assert_eq!(
        back.to.last_takeover.as_ref().map(|t| t.playing_on),
        Some(GUILDS)
    );
    assert_eq!(all_playing(&node, &guilds).await, session);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let (sent, answered) = sending.await.expect("the listeners");

    assert!(sent > 0);
    assert_eq!(
        answered, sent,
        "every command sent across both cutovers is answered"
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        0,
        "no player was started again"
    );
    assert_eq!(discord.identify_count(), identifies, "every shard resumed");
    // Blue controls the players again: a skip goes to the node.
    let skipped = answer(&discord, &command(&guilds[0], "skip")).await;
    assert!(!skipped.is_empty());

    assert_eq!(green.stop().await, Some(0));
    assert_eq!(blue.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_with_a_wrong_token_or_lavalink_password_fails_the_gate() {
    discord::install_crypto_provider();
    let discord = DiscordSim::start(sim::discord::DiscordConfig::default())
        .await
        .expect("Discord stand-in");
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("dimby.toml");
    let good = test_support::run_config(&discord, &[&node], &data, "");
    std::fs::write(&config, &good).expect("config");
    let blue = spawn(&config, &dir.path().join("blue.log"), "blue", false, &[]);
    blue.client
        .wait_phase(Phase::Serving, GUARD)
        .await
        .expect("blue serves");

    let wrong_token = spawn(
        &config,
        &dir.path().join("green-token.log"),
        "green",
        true,
        &[("DIMBY_DISCORD_TOKEN", "not-the-token")],
    );
    wrong_token
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("standby");
    let gate = wrong_token.client.gate().await.expect("the gate runs");
    assert!(!gate.passed, "{gate:#?}");
    let discord_check = &gate.checks[0];
    assert_eq!(discord_check.name, "discord_rest");
    assert!(!discord_check.passed);
    assert!(
        !discord_check.detail.contains("not-the-token"),
        "no secret in the report: {gate:#?}"
    );
    assert_eq!(wrong_token.stop().await, Some(0));

    let wrong_password = dir.path().join("wrong-password.toml");
    std::fs::write(
        &wrong_password,
        good.replace(
            &format!("password = \"{}\"", node.password()),
            "password = \"not-the-password\"",
        ),
    )
    .expect("config");
    let green = spawn(
        &wrong_password,
        &dir.path().join("green-password.log"),
        "green",
        true,
        &[],
    );
    green
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("standby");
    let gate = green.client.gate().await.expect("the gate runs");
    assert!(!gate.passed, "{gate:#?}");
    let failed: Vec<&str> = gate
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["lavalink:sim"], "{gate:#?}");
    assert!(
        gate.checks
            .iter()
            .all(|c| !c.detail.contains("not-the-password"))
    );

    // The serving colour never noticed.
    let state = blue.client.state().await.expect("blue's state");
    assert_eq!(state.phase, Phase::Serving);
    assert!(state.last_handover.is_none());
    assert_eq!(green.stop().await, Some(0));
    assert_eq!(blue.stop().await, Some(0));
}
