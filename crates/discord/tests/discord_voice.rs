//! Voice through the Discord layer against the stand-in: op 4 joins answered with a complete
//! Lavalink voice state, a null endpoint first, moves and kicks by a moderator, leaving, and
//! other users' voice changes.

use discord::{BotVoiceEvent, DiscordEvent, Events};
use lavalink::model::VoiceState;
use sim::discord::GuildInfo;
use test_support::discord_layer::{next, setup};

const ENDPOINT: &str = "sim-voice-eu-1.discord.media:443";

async fn bot_voice(events: &mut Events, what: &str) -> BotVoiceEvent {
    next(events, what, |event| match event {
        DiscordEvent::BotVoice(change) => Some(change.clone()),
        _ => None,
    })
    .await
}

async fn voice_ready(events: &mut Events, guild: &GuildInfo) -> VoiceState {
    next(events, "a complete voice state", |event| match event {
        DiscordEvent::VoiceReady { guild: id, voice } if *id == guild.id => Some(voice.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn joining_gives_a_complete_voice_state_then_moves_kicks_and_leaves() {
    let (sim, guild, discord, mut events) = setup().await;
    let music = guild.voice_channel(0);
    let lounge = guild.voice_channel(1);
    discord.join_voice(guild.id, music, true).expect("join");

    assert_eq!(
        bot_voice(&mut events, "joined").await,
        BotVoiceEvent::Joined {
            guild: guild.id,
            channel: music
        }
    );
    let voice = voice_ready(&mut events, &guild).await;
    assert!(voice.is_complete());
    assert_eq!(voice.endpoint, ENDPOINT);
    assert_eq!(voice.channel_id, Some(music.to_string()));
    let in_sim = sim.bot_voice_state(guild.id).expect("the stand-in has it");
    assert_eq!(voice.session_id, in_sim.session_id);
    assert_eq!(discord.voice_state(guild.id), Some(voice.clone()));
    assert_eq!(discord.bot_voice_channel(guild.id), Some(music));
    let command = sim.wait_for_voice_command(0).await.expect("op 4");
    assert!(command.self_deaf);

    // A moderator moves the bot: a move, and the same connection in the new channel.
    sim.move_member(guild.id, sim.bot_user_id(), Some(lounge))
        .expect("move");
    assert_eq!(
        bot_voice(&mut events, "moved").await,
        BotVoiceEvent::Moved {
            guild: guild.id,
            from: music,
            to: lounge
        }
    );
    let moved = voice_ready(&mut events, &guild).await;
    assert_eq!(moved.channel_id, Some(lounge.to_string()));
    assert_eq!(moved.session_id, voice.session_id);
    assert_eq!(moved.token, voice.token);

    // A moderator disconnects it: not a leave.
    sim.move_member(guild.id, sim.bot_user_id(), None)
        .expect("kick");
    assert_eq!(
        bot_voice(&mut events, "kicked").await,
        BotVoiceEvent::Disconnected {
            guild: guild.id,
            channel: Some(lounge)
        }
    );
    assert_eq!(discord.voice_state(guild.id), None);

    // Join again, then leave by itself.
    discord.join_voice(guild.id, music, true).expect("join");
    voice_ready(&mut events, &guild).await;
    discord.leave_voice(guild.id).expect("leave");
    assert_eq!(
        bot_voice(&mut events, "left").await,
        BotVoiceEvent::Left {
            guild: guild.id,
            channel: Some(music)
        }
    );
    assert!(sim.bot_voice_state(guild.id).is_none());
    assert_eq!(discord.bot_voice_channel(guild.id), None);
}

#[tokio::test]
async fn a_null_endpoint_waits_for_the_next_voice_server() {
    let (sim, guild, discord, mut events) = setup().await;
    sim.faults().set_voice_endpoint_null_first(true);
    discord
        .join_voice(guild.id, guild.voice_channel(0), true)
        .expect("join");
    let mut ready = Vec::new();
    next(&mut events, "joined", |event| match event {
        DiscordEvent::VoiceReady { voice, .. } => {
            ready.push(voice.clone());
            None
        }
        DiscordEvent::BotVoice(BotVoiceEvent::Joined { .. }) => Some(()),
        _ => None,
    })
    .await;
    let voice = voice_ready(&mut events, &guild).await;
    assert_eq!(voice.endpoint, ENDPOINT);
    // A marker after it: nothing else (no voice state from the null endpoint) came in between.
    let alice = guild.member("alice").expect("alice");
    sim.join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("alice joins");
    next(&mut events, "alice joining", |event| match event {
        DiscordEvent::VoiceReady { voice, .. } => {
            ready.push(voice.clone());
            None
        }
        DiscordEvent::UserVoice { user, .. } if *user == alice => Some(()),
        _ => None,
    })
    .await;
    assert!(
        ready.is_empty(),
        "only the second server update counts: {ready:?}"
    );
}

#[tokio::test]
async fn other_users_voice_changes_are_reported() {
    let (sim, guild, discord, mut events) = setup().await;
    let alice = guild.member("alice").expect("alice");
    let music = guild.voice_channel(0);
    let lounge = guild.voice_channel(1);
    let mut expect = async |from, to| {
        let seen = next(&mut events, "alice's voice change", |event| match event {
            DiscordEvent::UserVoice { user, from, to, .. } if *user == alice => Some((*from, *to)),
            _ => None,
        })
        .await;
        assert_eq!(seen, (from, to));
    };

    sim.join_voice(guild.id, alice, music).expect("join");
    expect(None, Some(music)).await;
    assert_eq!(discord.user_voice_channel(guild.id, alice), Some(music));
    assert_eq!(discord.voice_channel_listeners(music), vec![alice]);

    sim.join_voice(guild.id, alice, lounge).expect("switch");
    expect(Some(music), Some(lounge)).await;
    assert!(discord.voice_channel_listeners(music).is_empty());

    sim.leave_voice(guild.id, alice).expect("leave");
    expect(Some(lounge), None).await;
    assert_eq!(discord.user_voice_channel(guild.id, alice), None);
}
