//! Gateway resilience and handover against the stand-in: a dropped connection resumes and the
//! interaction sent meanwhile is replayed; a resumable close hands the session to a successor
//! that resumes it without identifying.

use discord::{DiscordEvent, Reply, ShardStatus, Standby};
use sim::discord::SlashCommand;
use test_support::discord_layer::{guard, invocation, next, play_command, settings, setup};

#[tokio::test]
async fn a_dropped_connection_resumes_and_loses_no_interaction() {
    let (sim, guild, discord, mut events) = setup().await;
    discord
        .register_commands(&[play_command()])
        .await
        .expect("register");
    let alice = guild.member("alice").expect("alice");

    assert_eq!(sim.faults().drop_connections(), 1);
    // Sent while the bot is disconnected (or reconnecting): the stand-in replays it on resume.
    let handle = sim
        .invoke(
            &SlashCommand::new(guild.id, guild.text_channel(), alice, "play")
                .string("query", "during the outage"),
        )
        .expect("invoke");

    let invocation = invocation(&mut events).await;
    assert_eq!(invocation.id, handle.id());
    assert_eq!(invocation.string("query"), Some("during the outage"));
    invocation
        .responder
        .respond(&Reply::text("still here"))
        .await
        .expect("answer");
    assert_eq!(
        handle.original().await.expect("original").content,
        "still here"
    );

    let resumed: ShardStatus = next(&mut events, "the resume", |event| match event {
        DiscordEvent::Gateway(status) if status.resumes > 0 && status.connected => {
            Some(status.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(resumed.identifies, 1, "resumed, not identified again");
    assert_eq!(resumed.disconnects, 1);
    assert_eq!(sim.identify_count(), 1);
}

#[tokio::test]
async fn a_resumable_close_hands_the_session_to_a_successor() {
    let (sim, guild, discord, mut events) = setup().await;
    discord
        .register_commands(&[play_command()])
        .await
        .expect("register");
    let handovers = guard("the resumable close", discord.close_resumable()).await;
    assert_eq!(handovers.len(), 1);
    let handover = &handovers[0];
    let session = handover.session.clone().expect("a session to hand over");
    assert!(handover.resume_url.is_some());
    // It survives the store (serde).
    let stored = serde_json::to_string(&handovers).expect("serialize");
    let restored: Vec<discord::ShardHandover> = serde_json::from_str(&stored).expect("deserialize");
    assert_eq!(restored, handovers);
    next(
        &mut events,
        "the old shard's disconnect",
        |event| match event {
            DiscordEvent::Gateway(status) if !status.connected => Some(()),
            _ => None,
        },
    )
    .await;
    // The session is kept for a resume, and the old process does not reconnect to it.
    let sessions = sim
        .wait_for_sessions(|sessions| sessions.len() == 1 && !sessions[0].connected)
        .await
        .expect("one resumable session without a connection");
    assert_eq!(sessions[0].id, session.id());

    // Meanwhile a user invokes a command: the successor gets it on resume.
    let alice = guild.member("alice").expect("alice");
    let handle = sim
        .invoke(
            &SlashCommand::new(guild.id, guild.text_channel(), alice, "play")
                .string("query", "handover"),
        )
        .expect("invoke");

    let standby = guard("standby", Standby::connect(settings(&sim)))
        .await
        .expect("standby checks REST");
    assert_eq!(
        sim.identify_count(),
        1,
        "standby does not touch the gateway"
    );
    let (successor, mut events) = standby.start(&restored).expect("start");
    let invocation = invocation(&mut events).await;
    assert_eq!(invocation.id, handle.id());
    invocation
        .responder
        .respond(&Reply::text("resumed"))
        .await
        .expect("answer");
    let status = next(&mut events, "the resume", |event| match event {
        DiscordEvent::Gateway(status) if status.connected => Some(status.clone()),
        _ => None,
    })
    .await;
    assert_eq!((status.resumes, status.identifies), (1, 0));
    assert_eq!(sim.identify_count(), 1);
    assert!(sim.sessions().iter().any(|s| s.id == session.id()));
    successor.shutdown().await;
}

/// A resumed session gets no GUILD_CREATE: without the predecessor's cache the successor would
/// not know the guild, who is in voice, or its own voice connection.
#[tokio::test]
async fn a_successor_replays_the_predecessors_cache_for_the_sessions_it_resumes() {
    let (sim, guild, discord, mut events) = setup().await;
    let music = guild.voice_channel(0);
    let alice = guild.member("alice").expect("alice");
    sim.join_voice(guild.id, alice, music).expect("alice joins");
    discord
        .join_voice(guild.id, music, true)
        .expect("the bot joins");
    // Both arrive, in either order.
    let (mut voice, mut alice_seen) = (None, false);
    while voice.is_none() || !alice_seen {
        match next(
            &mut events,
            "the bot's voice and alice's",
            |event| match event {
                DiscordEvent::VoiceReady { voice, .. } => Some(Some(voice.clone())),
                DiscordEvent::UserVoice { user, .. } if *user == alice => Some(None),
                _ => None,
            },
        )
        .await
        {
            Some(ready) => voice = Some(ready),
            None => alice_seen = true,
        }
    }
    let can_play = discord.bot_can_play_in(music).expect("permissions");

    let handovers = guard("the resumable close", discord.close_resumable()).await;
    let snapshot = discord.cache_snapshot();
    assert_eq!(snapshot.len(), 1);
    // It survives the store (serde).
    let stored = serde_json::to_string(&snapshot).expect("serialize");
    let snapshot: discord::CacheSnapshot = serde_json::from_str(&stored).expect("deserialize");

    let standby = Standby::connect(settings(&sim)).await.expect("standby");
    let (successor, mut events) = standby.start_resuming(&handovers, snapshot).expect("start");
    let name = next(&mut events, "the replayed guild", |event| match event {
        DiscordEvent::GuildAvailable { guild: id, name } if *id == guild.id => Some(name.clone()),
        _ => None,
    })
    .await;
    assert_eq!(Some(name), successor.guild_name(guild.id));
    assert_eq!(successor.bot_voice_channel(guild.id), Some(music));
    assert_eq!(successor.voice_state(guild.id), voice);
    assert_eq!(successor.user_voice_channel(guild.id, alice), Some(music));
    assert!(successor.voice_channel_listeners(music).contains(&alice));
    assert_eq!(successor.bot_can_play_in(music).ok(), Some(can_play));
    let status = next(&mut events, "the resume", |event| match event {
        DiscordEvent::Gateway(status) if status.connected => Some(status.clone()),
        _ => None,
    })
    .await;
    assert_eq!((status.resumes, status.identifies), (1, 0));
    // What happens after the resume still reaches the replayed cache.
    sim.leave_voice(guild.id, alice).expect("alice leaves");
    next(&mut events, "alice leaving", |event| match event {
        DiscordEvent::UserVoice { user, to: None, .. } if *user == alice => Some(()),
        _ => None,
    })
    .await;
    assert!(!successor.voice_channel_listeners(music).contains(&alice));
    successor.shutdown().await;
}
