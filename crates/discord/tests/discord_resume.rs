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
