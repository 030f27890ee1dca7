//! Voice through twilight-gateway: op 4 answered with VOICE_STATE_UPDATE and
//! VOICE_SERVER_UPDATE, a moderator moving and disconnecting the bot, users joining voice, the
//! null-endpoint fault and the region prefix.

mod discord_support;

use discord_support::{shard, start, wait_event};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{Event, Intents, Shard};
use twilight_model::gateway::payload::incoming::VoiceServerUpdate;
use twilight_model::gateway::payload::outgoing::UpdateVoiceState;
use twilight_model::voice::VoiceState;

const INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

async fn connected(config: DiscordConfig) -> (DiscordSim, GuildInfo, Shard<InMemoryQueue>) {
    let sim = start(config).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "GUILD_CREATE", |event| {
        matches!(event, Event::GuildCreate(_)).then_some(())
    })
    .await;
    (sim, guild, shard)
}

async fn bot_voice_state(
    shard: &mut Shard<InMemoryQueue>,
    bot: twilight_model::id::Id<twilight_model::id::marker::UserMarker>,
) -> VoiceState {
    wait_event(shard, "the bot's VOICE_STATE_UPDATE", |event| match event {
        Event::VoiceStateUpdate(update) if update.user_id == bot => Some(update.0.clone()),
        _ => None,
    })
    .await
}

async fn voice_server(shard: &mut Shard<InMemoryQueue>) -> VoiceServerUpdate {
    wait_event(shard, "VOICE_SERVER_UPDATE", |event| match event {
        Event::VoiceServerUpdate(update) => Some(update.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn op4_join_gets_voice_state_and_server_then_moves_and_leaves() {
    let (sim, guild, mut shard) = connected(DiscordConfig::default()).await;
    let bot = sim.bot_user_id();
    let music = guild.voice_channel(0);
    shard.command(&UpdateVoiceState::new(guild.id, Some(music), true, false));

    let state = bot_voice_state(&mut shard, bot).await;
    assert_eq!(state.channel_id, Some(music));
    assert_eq!(state.guild_id, Some(guild.id));
    assert!(state.self_deaf);
    assert!(!state.session_id.is_empty());
    assert!(state.member.is_some());
    let server = voice_server(&mut shard).await;
    assert_eq!(server.guild_id, guild.id);
    assert_eq!(
        server.endpoint.as_deref(),
        Some("sim-voice-eu-1.discord.media:443")
    );
    assert!(!server.token.is_empty());

    let command = sim.wait_for_voice_command(0).await.expect("op 4 recorded");
    assert_eq!(command.guild_id, guild.id);
    assert_eq!(command.channel_id, Some(music));
    assert!(command.self_deaf);
    assert_eq!(
        sim.bot_voice_state(guild.id).expect("state").channel_id,
        Some(music)
    );

    // A moderator moves the bot: same voice session, new channel.
    let lounge = guild.voice_channel(1);
    sim.move_member(guild.id, bot, Some(lounge)).expect("move");
    let moved = bot_voice_state(&mut shard, bot).await;
    assert_eq!(moved.channel_id, Some(lounge));
    assert_eq!(moved.session_id, state.session_id);

    // The bot leaves by itself.
    shard.command(&UpdateVoiceState::new(guild.id, None, false, false));
    let left = bot_voice_state(&mut shard, bot).await;
    assert_eq!(left.channel_id, None);
    assert!(sim.bot_voice_state(guild.id).is_none());
    assert_eq!(sim.voice_commands().len(), 2);
}

#[tokio::test]
async fn moderator_disconnect_and_users_joining_are_seen() {
    let (sim, guild, mut shard) = connected(DiscordConfig::default()).await;
    let bot = sim.bot_user_id();
    shard.command(&UpdateVoiceState::new(
        guild.id,
        Some(guild.voice_channel(0)),
        false,
        true,
    ));
    bot_voice_state(&mut shard, bot).await;
    voice_server(&mut shard).await;

    let alice = guild.member("alice").expect("alice");
    sim.join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("join");
    let joined = wait_event(
        &mut shard,
        "alice's VOICE_STATE_UPDATE",
        |event| match event {
            Event::VoiceStateUpdate(update) if update.user_id == alice => Some(update.0.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(joined.channel_id, Some(guild.voice_channel(0)));

    sim.move_member(guild.id, bot, None)
        .expect("disconnect the bot");
    let kicked = bot_voice_state(&mut shard, bot).await;
    assert_eq!(kicked.channel_id, None);
}

#[tokio::test]
async fn null_endpoint_fault_sends_a_null_endpoint_first_and_region_is_configurable() {
    let (sim, guild, mut shard) =
        connected(DiscordConfig::default().with_voice_region("us-east")).await;
    sim.faults().set_voice_endpoint_null_first(true);
    shard.command(&UpdateVoiceState::new(
        guild.id,
        Some(guild.voice_channel(0)),
        false,
        true,
    ));
    let first = voice_server(&mut shard).await;
    assert_eq!(first.endpoint, None);
    let second = voice_server(&mut shard).await;
    assert_eq!(
        second.endpoint.as_deref(),
        Some("sim-voice-us-east-1.discord.media:443")
    );
}
