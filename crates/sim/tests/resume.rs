//! Resuming: off by default, on with PATCH /v4/sessions, and the timeout.

mod common;

use std::time::Duration;

use common::{GUILD, Rest, connect, connect_resuming, manual_node};
use lavalink::model::{Event, IncomingMessage, Player, TrackEndReason};
use serde_json::json;

#[tokio::test]
async fn without_resuming_a_closed_socket_destroys_the_session_and_its_players() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:track:a").await;
    socket.close().await;
    assert!(node.sessions().is_empty());
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        404
    );
    let again = connect_resuming(&node, Some(&session)).await;
    assert!(!again.resumed);
    assert_ne!(again.session_id, session);
    assert_eq!(again.resumed_header.as_deref(), Some("false"));
}

#[tokio::test]
async fn resuming_keeps_players_playing_queues_events_and_replays_them() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    let info = rest
        .patch(
            &format!("/v4/sessions/{session}"),
            json!({ "resuming": true, "timeout": 60 }),
        )
        .await;
    assert_eq!(info.body, json!({ "resuming": true, "timeout": 60 }));
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:length:10000").await;
    socket.close().await;

    let detached = node.sessions();
    assert_eq!(detached.len(), 1);
    assert!(!detached[0].connected);
    // A detached session is invisible to REST, as in Lavalink.
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        404
    );

    clock.advance(Duration::from_secs(4));
    let playing = node.player(&session, GUILD).expect("player kept");
    assert_eq!(
        playing.state.position, 4000,
        "players keep playing while detached"
    );
    clock.advance(Duration::from_secs(8));
    node.settle().await;
    assert!(
        node.player(&session, GUILD)
            .expect("player")
            .track
            .is_none()
    );

    let mut resumed = connect_resuming(&node, Some(&session)).await;
    assert_eq!(resumed.resumed_header.as_deref(), Some("true"));
    assert!(resumed.resumed);
    assert_eq!(resumed.session_id, session);
    // The queue (events; player updates are not queued), then one update per player.
    match resumed.next().await {
        IncomingMessage::Event(Event::TrackEnd(end)) => {
            assert_eq!(end.reason, TrackEndReason::Finished);
            assert_eq!(end.track.info.position, 10_000);
        }
        other => panic!("expected the queued TrackEnd, got {other:?}"),
    }
    match resumed.next().await {
        IncomingMessage::PlayerUpdate(update) => assert_eq!(update.guild_id.0, GUILD),
        other => panic!("expected a playerUpdate, got {other:?}"),
    }
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn stats_queue_while_detached() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.patch(
        &format!("/v4/sessions/{session}"),
        json!({ "resuming": true, "timeout": 120 }),
    )
    .await;
    socket.close().await;
    clock.advance(Duration::from_secs(60));
    let mut resumed = connect_resuming(&node, Some(&session)).await;
    assert!(resumed.resumed);
    assert!(matches!(resumed.next().await, IncomingMessage::Stats(_)));
}

#[tokio::test]
async fn after_the_timeout_the_session_is_destroyed_and_a_resume_starts_fresh() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.patch(
        &format!("/v4/sessions/{session}"),
        json!({ "resuming": true, "timeout": 5 }),
    )
    .await;
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:track:a").await;
    socket.close().await;
    clock.advance(Duration::from_secs(4));
    node.settle().await;
    assert_eq!(node.sessions().len(), 1);
    clock.advance(Duration::from_secs(1));
    node.settle().await;
    assert!(
        node.sessions().is_empty(),
        "every player destroyed after the timeout"
    );
    let fresh = connect_resuming(&node, Some(&session)).await;
    assert!(!fresh.resumed);
    assert_eq!(fresh.resumed_header.as_deref(), Some("false"));
    assert_ne!(fresh.session_id, session);
}

#[tokio::test]
async fn after_dropped_connections_a_resume_finds_the_player_playing_and_the_queue() {
    const OTHER: u64 = GUILD + 1;
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.patch(
        &format!("/v4/sessions/{session}"),
        json!({ "resuming": true, "timeout": 60 }),
    )
    .await;
    rest.connect_voice(&session, GUILD).await;
    rest.connect_voice(&session, OTHER).await;
    rest.play(&session, GUILD, "sim:length:600000").await;
    rest.play(&session, OTHER, "sim:length:3000").await;
    clock.advance(Duration::from_secs(1));
    node.settle().await;

    node.drop_connections(None).expect("drop");
    assert_eq!(socket.ended().await, None, "no close frame");
    let detached = node.sessions();
    assert_eq!(detached.len(), 1);
    assert!(!detached[0].connected, "paused, not destroyed");
    clock.advance(Duration::from_secs(9));
    node.settle().await;
    assert_eq!(
        node.player(&session, GUILD).expect("player").state.position,
        10_000,
        "players keep playing while detached"
    );

    let mut resumed = connect_resuming(&node, Some(&session)).await;
    assert!(resumed.resumed);
    assert_eq!(resumed.resumed_header.as_deref(), Some("true"));
    assert_eq!(resumed.session_id, session);
    // The queue (OTHER's track ended while detached), then one update per player.
    match resumed.next().await {
        IncomingMessage::Event(Event::TrackEnd(end)) => {
            assert_eq!(end.guild_id.0, OTHER);
            assert_eq!(end.reason, TrackEndReason::Finished);
            assert_eq!(end.track.info.position, 3000);
        }
        other => panic!("expected the queued TrackEnd, got {other:?}"),
    }
    let first = resumed.update().await;
    assert_eq!(first.guild_id.0, GUILD);
    assert_eq!(first.state.position, 10_000);
    assert!(first.state.connected);
    assert_eq!(resumed.update().await.guild_id.0, OTHER);
    let player: Player = serde_json::from_value(
        rest.get(&format!("/v4/sessions/{session}/players/{GUILD}"))
            .await
            .body,
    )
    .expect("player");
    assert!(!player.paused);
    assert_eq!(player.state.position, 10_000);
    assert!(player.track.is_some(), "still playing");
}

#[tokio::test]
async fn a_voice_close_while_detached_is_queued_for_the_resume() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.patch(
        &format!("/v4/sessions/{session}"),
        json!({ "resuming": true }),
    )
    .await;
    rest.connect_voice(&session, GUILD).await;
    socket.close().await;

    node.close_voice(GUILD, 4014, "Disconnected.")
        .expect("close voice");
    let mut resumed = connect_resuming(&node, Some(&session)).await;
    assert!(resumed.resumed);
    match resumed.next().await {
        IncomingMessage::Event(Event::WebSocketClosed(closed)) => {
            assert_eq!((closed.guild_id.0, closed.code), (GUILD, 4014));
        }
        other => panic!("expected the queued WebSocketClosedEvent, got {other:?}"),
    }
    // Its playerUpdate was dropped while detached; the resume's update tells the state.
    assert!(!resumed.update().await.state.connected);
}
