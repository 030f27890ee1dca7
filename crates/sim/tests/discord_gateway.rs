//! The gateway stand-in driven by twilight-gateway 0.18 (the bot's production path, zstd-stream):
//! identify → READY → GUILD_CREATE, heartbeats, resume with replay after a dropped connection,
//! Reconnect, Invalid Session, zombie connections, and a bad token closing with 4004.

mod discord_support;

use std::time::Duration;

use discord_support::{shard, shard_with_token, start, wait_event};
use sim::discord::{DiscordConfig, GuildSpec};
use twilight_gateway::{Event, Intents, ShardState};
use twilight_model::gateway::payload::incoming::GuildCreate;

const INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

fn fast() -> DiscordConfig {
    DiscordConfig::default().with_heartbeat_interval(Duration::from_millis(150))
}

#[tokio::test]
async fn identify_gets_ready_then_guild_create_with_channels_roles_members() {
    let sim = start(DiscordConfig::default()).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let mut shard = shard(&sim, INTENTS);

    let ready = wait_event(&mut shard, "READY", |event| match event {
        Event::Ready(ready) => Some(ready.clone()),
        _ => None,
    })
    .await;
    assert_eq!(ready.version, 10);
    assert_eq!(ready.resume_gateway_url, sim.gateway_url());
    assert_eq!(ready.user.id, sim.bot_user_id());
    assert_eq!(ready.application.id, sim.application_id());
    assert_eq!(ready.guilds.len(), 1);
    assert!(ready.guilds[0].unavailable);
    assert_eq!(ready.guilds[0].id, guild.id);

    let created = wait_event(&mut shard, "GUILD_CREATE", |event| match event {
        Event::GuildCreate(created) => Some(created.clone()),
        _ => None,
    })
    .await;
    let GuildCreate::Available(created) = *created else {
        panic!("an available guild");
    };
    assert_eq!(created.id, guild.id);
    assert_eq!(created.channels.len(), 3, "one text and two voice channels");
    assert_eq!(created.roles.len(), 2, "@everyone and Admin");
    let admin = created
        .roles
        .iter()
        .find(|role| Some(role.id) == guild.role("Admin"))
        .expect("admin role");
    assert!(
        admin
            .permissions
            .contains(twilight_model::guild::Permissions::MANAGE_GUILD)
    );
    // Without GUILD_PRESENCES only the bot (and users in voice) are in `members`.
    assert_eq!(created.members.len(), 1);
    assert_eq!(created.members[0].user.id, sim.bot_user_id());
    assert_eq!(created.member_count, Some(4));

    let connections = sim.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].compression, "zstd-stream");
    assert_eq!(sim.identify_count(), 1);
}

#[tokio::test]
async fn heartbeats_are_acknowledged_and_requested() {
    let sim = start(fast()).await;
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "READY", |event| {
        matches!(event, Event::Ready(_)).then_some(())
    })
    .await;
    wait_event(&mut shard, "a heartbeat ACK", |event| {
        matches!(event, Event::GatewayHeartbeatAck).then_some(())
    })
    .await;
    assert!(!shard.latency().recent().is_empty(), "latency recorded");

    assert_eq!(sim.faults().request_heartbeat(), 1);
    wait_event(&mut shard, "the requested heartbeat", |event| {
        matches!(event, Event::GatewayHeartbeat).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dropped_connection_resumes_and_replays_missed_events() {
    let sim = start(DiscordConfig::default()).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "GUILD_CREATE", |event| {
        matches!(event, Event::GuildCreate(_)).then_some(())
    })
    .await;
    let session = shard.session().expect("session").clone();

    // The connection dies without a close frame; an event happens before the bot is back.
    assert_eq!(sim.faults().drop_connections(), 1);
    let alice = guild.member("alice").expect("alice");
    sim.join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("join");

    let mut replayed = false;
    wait_event(&mut shard, "RESUMED", |event| match event {
        Event::VoiceStateUpdate(update) if update.user_id == alice => {
            replayed = true;
            None
        }
        Event::Resumed => Some(()),
        _ => None,
    })
    .await;
    assert!(
        replayed,
        "the missed VOICE_STATE_UPDATE came before RESUMED"
    );
    assert_eq!(shard.state(), ShardState::Active);
    assert_eq!(shard.session().expect("session").id(), session.id());
    assert_eq!(sim.identify_count(), 1, "resumed, not re-identified");
}

#[tokio::test]
async fn reconnect_makes_twilight_resume() {
    let sim = start(DiscordConfig::default()).await;
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "READY", |event| {
        matches!(event, Event::Ready(_)).then_some(())
    })
    .await;
    assert_eq!(sim.faults().send_reconnect(), 1);
    wait_event(&mut shard, "op 7", |event| {
        matches!(event, Event::GatewayReconnect).then_some(())
    })
    .await;
    wait_event(&mut shard, "RESUMED", |event| {
        matches!(event, Event::Resumed).then_some(())
    })
    .await;
    assert_eq!(sim.identify_count(), 1);
    let sessions = sim.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].connected);
}

#[tokio::test]
async fn close_with_resumable_code_resumes_and_session_timeout_reidentifies() {
    let sim = start(DiscordConfig::default()).await;
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "READY", |event| {
        matches!(event, Event::Ready(_)).then_some(())
    })
    .await;
    sim.faults().close_connections(4000);
    wait_event(&mut shard, "RESUMED after 4000", |event| {
        matches!(event, Event::Resumed).then_some(())
    })
    .await;
    assert_eq!(sim.identify_count(), 1);

    // 4009 ends the session: twilight's resume gets Invalid Session, then it identifies.
    sim.faults().close_connections(4009);
    wait_event(&mut shard, "a new READY after 4009", |event| {
        matches!(event, Event::Ready(_)).then_some(())
    })
    .await;
    assert_eq!(sim.identify_count(), 2);
}

#[tokio::test]
async fn invalid_session_not_resumable_makes_twilight_identify_again() {
    let sim = start(DiscordConfig::default()).await;
    let mut shard = shard(&sim, INTENTS);
    let first = wait_event(&mut shard, "READY", |event| match event {
        Event::Ready(ready) => Some(ready.session_id.clone()),
        _ => None,
    })
    .await;
    sim.faults().send_invalid_session(false);
    wait_event(&mut shard, "op 9", |event| {
        matches!(event, Event::GatewayInvalidateSession(false)).then_some(())
    })
    .await;
    let second = wait_event(&mut shard, "a new READY", |event| match event {
        Event::Ready(ready) => Some(ready.session_id.clone()),
        _ => None,
    })
    .await;
    assert_ne!(first, second);
    assert_eq!(sim.identify_count(), 2);
}

#[tokio::test]
async fn zombie_connection_is_noticed_and_resumed() {
    let sim = start(fast()).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "a heartbeat ACK", |event| {
        matches!(event, Event::GatewayHeartbeatAck).then_some(())
    })
    .await;
    assert_eq!(sim.faults().zombie_connections(), 1);
    // An event while the connection is a zombie is held back and replayed on resume.
    let bob = guild.member("bob").expect("bob");
    sim.join_voice(guild.id, bob, guild.voice_channel(1))
        .expect("join");
    let mut replayed = false;
    wait_event(
        &mut shard,
        "RESUMED after the zombie",
        |event| match event {
            Event::VoiceStateUpdate(update) if update.user_id == bob => {
                replayed = true;
                None
            }
            Event::Resumed => Some(()),
            _ => None,
        },
    )
    .await;
    assert!(replayed);
    assert_eq!(sim.identify_count(), 1);
}

#[tokio::test]
async fn wrong_token_closes_with_4004_and_twilight_stops() {
    let sim = start(DiscordConfig::default()).await;
    let mut shard = shard_with_token(&sim, "not-the-token", INTENTS);
    let code = wait_event(&mut shard, "the close frame", |event| match event {
        Event::GatewayClose(frame) => Some(frame.as_ref().map(|frame| frame.code)),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(4004));
    assert_eq!(shard.state(), ShardState::FatallyClosed);
    assert_eq!(sim.identify_count(), 0);
}

#[tokio::test]
async fn guild_created_while_connected_arrives_as_guild_create() {
    let sim = start(DiscordConfig::default()).await;
    let mut shard = shard(&sim, INTENTS);
    wait_event(&mut shard, "READY", |event| {
        matches!(event, Event::Ready(ready) if ready.guilds.is_empty()).then_some(())
    })
    .await;
    let guild = sim.create_guild(&GuildSpec::named("Later")).expect("guild");
    let id = wait_event(&mut shard, "GUILD_CREATE", |event| match event {
        Event::GuildCreate(created) => Some(created.id()),
        _ => None,
    })
    .await;
    assert_eq!(id, guild.id);
}
