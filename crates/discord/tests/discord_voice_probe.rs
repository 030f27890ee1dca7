//! The deploy gate's voice probe on the Discord stand-in: a session of its own on the staging
//! guild's shard joins a voice channel (the voice state and server a node needs come back), then
//! leaves and closes; it identifies once and leaves no session behind to resume.

use std::time::Duration;

use sim::discord::{DiscordConfig, DiscordSim, GuildSpec};
use test_support::discord_layer::settings;

const BOUND: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_probe_joins_hands_back_the_voice_server_and_leaves() {
    discord::install_crypto_provider();
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("Discord stand-in");
    let guild = sim
        .create_guild(&GuildSpec::named("Staging"))
        .expect("guild");
    let standby = discord::Standby::connect(settings(&sim))
        .await
        .expect("REST checked");
    let channel = guild.voice_channel(0);
    let probe = standby
        .voice_probe(guild.id, channel, BOUND)
        .await
        .expect("joined");
    assert_eq!(probe.voice.channel_id, Some(channel.to_string()));
    assert!(!probe.voice.token.is_empty() && !probe.voice.endpoint.is_empty());
    let bot = sim.bot_user_id();
    let state = sim
        .voice_state(guild.id, bot)
        .expect("the bot's voice state");
    assert_eq!(state.channel_id, Some(channel));
    assert_eq!(state.session_id, probe.voice.session_id);
    probe.leave(BOUND).await;
    assert_eq!(
        sim.voice_state(guild.id, bot).and_then(|s| s.channel_id),
        None,
        "the probe left"
    );
    assert_eq!(sim.identify_count(), 1, "one session start");
    assert!(
        sim.sessions().iter().all(|s| !s.connected),
        "{:?}",
        sim.sessions()
    );
}

/// Beside a serving session that has just identified on the same shard, the probe's first
/// identify is refused (Discord's 5 s per bucket): it identifies again through its own queue 5 s
/// later and joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_probe_waits_out_the_identify_limit_beside_a_serving_session() {
    discord::install_crypto_provider();
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("Discord stand-in");
    let guild = sim
        .create_guild(&GuildSpec::named("Staging"))
        .expect("guild");
    let (_serving, _events) = test_support::discord_layer::connect(settings(&sim), &guild).await;
    assert_eq!(sim.identify_count(), 1);
    let standby = discord::Standby::connect(settings(&sim))
        .await
        .expect("REST checked");
    let probe = standby
        .voice_probe(guild.id, guild.voice_channel(0), BOUND)
        .await
        .expect("joined after one refusal");
    probe.leave(BOUND).await;
    assert_eq!((sim.identify_count(), sim.identify_refusals()), (2, 1));
}
