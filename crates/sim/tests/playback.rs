//! The playback model under a manual clock: connection, cadences, end reasons, catalogue
//! behaviours.

mod common;

use std::time::Duration;

use common::{GUILD, Rest, Socket, connect, kind, manual_node};
use lavalink::model::{Event, Severity, TrackEndReason};
use serde_json::json;
use sim::lavalink::{NodeConfig, SimNode};

const SECOND: Duration = Duration::from_secs(1);

async fn end_reason(socket: &mut Socket) -> (TrackEndReason, u64) {
    match socket.event().await {
        Event::TrackEnd(end) => (end.reason, end.track.info.position),
        other => panic!("expected TrackEnd, got {other:?}"),
    }
}

async fn start(socket: &mut Socket) -> String {
    match socket.event().await {
        Event::TrackStart(start) => start.track.info.identifier,
        other => panic!("expected TrackStart, got {other:?}"),
    }
}

#[tokio::test]
async fn connected_only_with_a_complete_voice_state_and_positions_move_only_then() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.play(&session, GUILD, "sim:length:60000").await;
    assert_eq!(start(&mut socket).await, "sim:length:60000");
    let first = socket.update().await;
    assert!(!first.state.connected);
    assert_eq!(first.state.ping, -1);
    assert_eq!(first.state.position, 0);

    clock.advance(5 * SECOND);
    let idle = socket.update().await;
    assert_eq!(
        idle.state.position, 0,
        "no voice connection, no frames pulled"
    );
    assert_eq!(
        idle.state.time - first.state.time,
        5000,
        "time follows the clock"
    );

    let connected = rest.connect_voice(&session, GUILD).await;
    assert_eq!(connected.body["state"]["connected"], true);
    assert_eq!(connected.body["voice"]["channelId"], "123456789012345678");
    let opened = socket.update().await;
    assert!(
        opened.state.connected,
        "the voice connection opening sends an update"
    );
    assert!(opened.state.ping >= 0);

    clock.advance(5 * SECOND);
    let moving = socket.update().await;
    assert_eq!(moving.state.position, 5000);
    assert!(moving.state.connected);
}

#[tokio::test]
async fn track_ends_finished_at_its_length_then_updates_stop() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    socket.update().await;
    rest.play(&session, GUILD, "sim:length:12000").await;
    start(&mut socket).await;
    assert_eq!(socket.update().await.state.position, 0);

    clock.advance(12 * SECOND);
    assert_eq!(socket.update().await.state.position, 5000);
    assert_eq!(socket.update().await.state.position, 10000);
    assert_eq!(
        end_reason(&mut socket).await,
        (TrackEndReason::Finished, 12000)
    );

    // Nothing but the next stats (at 60 s) follows: idle players send no updates.
    clock.advance(48 * SECOND);
    let next = socket.next().await;
    assert!(
        matches!(next, lavalink::model::IncomingMessage::Stats(_)),
        "{next:?}"
    );
    let player = node.player(&session, GUILD).expect("player");
    assert!(player.track.is_none());
}

#[tokio::test]
async fn replace_stop_no_replace_and_delete_emit_the_right_reasons() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:track:a").await;
    assert_eq!(start(&mut socket).await, "sim:track:a");

    rest.play(&session, GUILD, "sim:track:b").await;
    assert_eq!(end_reason(&mut socket).await.0, TrackEndReason::Replaced);
    assert_eq!(start(&mut socket).await, "sim:track:b");

    let stopped = rest
        .update(&session, GUILD, json!({ "track": { "encoded": null } }))
        .await;
    assert!(stopped.body["track"].is_null());
    assert_eq!(end_reason(&mut socket).await.0, TrackEndReason::Stopped);

    rest.play(&session, GUILD, "sim:track:c").await;
    assert_eq!(start(&mut socket).await, "sim:track:c");
    let d = rest.load_track("sim:track:d").await;
    let kept = rest
        .patch(
            &format!("/v4/sessions/{session}/players/{GUILD}?noReplace=true"),
            json!({ "track": { "encoded": d.encoded } }),
        )
        .await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["track"]["info"]["identifier"], "sim:track:c");

    let deleted = rest
        .delete(&format!("/v4/sessions/{session}/players/{GUILD}"))
        .await;
    assert_eq!(deleted.status, 204);
    match socket.event().await {
        Event::TrackEnd(end) => {
            assert_eq!(end.reason, TrackEndReason::Stopped);
            assert_eq!(
                end.track.info.identifier, "sim:track:c",
                "noReplace left c playing"
            );
        }
        other => panic!("expected TrackEnd, got {other:?}"),
    }
    assert!(node.player(&session, GUILD).is_none());
}

#[tokio::test]
async fn pause_seek_and_end_time() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:length:60000").await;
    clock.advance(3 * SECOND);
    let paused = rest
        .update(&session, GUILD, json!({ "paused": true }))
        .await;
    assert_eq!(paused.body["paused"], true);
    assert_eq!(paused.body["state"]["position"], 3000);
    clock.advance(4 * SECOND);
    assert_eq!(
        node.player(&session, GUILD).expect("player").state.position,
        3000
    );

    rest.update(
        &session,
        GUILD,
        json!({ "paused": false, "position": 30000 }),
    )
    .await;
    let sought = socket
        .until(|m| matches!(m, lavalink::model::IncomingMessage::PlayerUpdate(u) if u.state.position == 30000))
        .await;
    drop(sought);
    clock.advance(SECOND);
    assert_eq!(
        node.player(&session, GUILD).expect("player").state.position,
        31000
    );

    rest.update(&session, GUILD, json!({ "endTime": 33000 }))
        .await;
    clock.advance(2 * SECOND);
    assert_eq!(
        end_reason(&mut socket).await,
        (TrackEndReason::Finished, 33000)
    );
}

#[tokio::test]
async fn streams_never_end_and_cannot_seek() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:stream").await;
    clock.advance(Duration::from_secs(3 * 3600));
    rest.update(&session, GUILD, json!({ "position": 5 })).await;
    let player = node.player(&session, GUILD).expect("player");
    assert!(player.track.is_some());
    assert_eq!(player.state.position, 3 * 3600 * 1000);
}

#[tokio::test]
async fn exception_part_way_then_finished() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:exception:3000").await;
    start(&mut socket).await;
    clock.advance(3 * SECOND);
    match socket.event().await {
        Event::TrackException(exception) => {
            assert_eq!(exception.exception.severity, Severity::Suspicious);
            assert_eq!(exception.track.info.position, 3000);
        }
        other => panic!("expected TrackException, got {other:?}"),
    }
    assert_eq!(
        end_reason(&mut socket).await,
        (TrackEndReason::Finished, 3000)
    );
}

#[tokio::test]
async fn fail_on_start_is_load_failed_even_without_voice() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.play(&session, GUILD, "sim:fail:fault").await;
    let kinds = [kind(&socket.event().await), kind(&socket.event().await)];
    assert_eq!(kinds, ["start", "exception"]);
    assert_eq!(end_reason(&mut socket).await.0, TrackEndReason::LoadFailed);
}

#[tokio::test]
async fn stuck_part_way_reports_after_the_threshold_and_keeps_the_track() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:stuck:2000").await;
    start(&mut socket).await;
    clock.advance(2 * SECOND);
    node.settle().await;
    clock.advance(9 * SECOND);
    assert_eq!(
        node.player(&session, GUILD).expect("player").state.position,
        2000
    );
    clock.advance(SECOND);
    match socket.event().await {
        Event::TrackStuck(stuck) => {
            assert_eq!(stuck.threshold_ms, 10_000);
            assert_eq!(stuck.track.info.position, 2000);
        }
        other => panic!("expected TrackStuck, got {other:?}"),
    }
    let update = socket.update().await;
    assert_eq!(update.state.position, 2000);
    assert!(
        node.player(&session, GUILD)
            .expect("player")
            .track
            .is_some()
    );
}

#[tokio::test]
async fn stats_cadence_counts_the_whole_node_and_frame_stats_per_session() {
    let clock = clock::ManualClock::new();
    let config = NodeConfig::default()
        .with_clock(clock.shared())
        .with_intervals(SECOND, Duration::from_secs(10));
    let node = SimNode::start(config).await.expect("node");
    let rest = Rest::new(&node);
    let mut a = connect(&node).await;
    let mut b = connect(&node).await;
    rest.connect_voice(&a.session_id, GUILD).await;
    rest.play(&a.session_id, GUILD, "sim:length:600000").await;
    rest.play(&b.session_id, GUILD, "sim:length:600000").await;
    rest.update(&b.session_id, GUILD + 1, json!({ "volume": 50 }))
        .await;

    clock.advance(Duration::from_secs(10));
    let stats_a = a.stats().await;
    let stats_b = b.stats().await;
    for stats in [&stats_a, &stats_b] {
        assert_eq!(stats.players, 3);
        assert_eq!(stats.playing_players, 2);
        assert_eq!(stats.uptime, 10_000);
        assert_eq!(
            stats.frame_stats, None,
            "no whole previous minute of frame counts yet"
        );
    }

    // Both started at 0: the minute from 60 s on is the first whole one behind them at 120 s.
    clock.advance(Duration::from_secs(110));
    let (stats_a, stats_b) = loop {
        let (stats_a, stats_b) = (a.stats().await, b.stats().await);
        assert_eq!(stats_a.uptime, stats_b.uptime);
        if stats_a.uptime == 120_000 {
            break (stats_a, stats_b);
        }
        assert_eq!(stats_a.frame_stats, None, "at {}", stats_a.uptime);
        assert_eq!(stats_b.frame_stats, None, "at {}", stats_b.uptime);
    };
    let frames_a = stats_a.frame_stats.expect("a plays");
    assert_eq!(
        (frames_a.sent, frames_a.nulled, frames_a.deficit),
        (3000, 0, 0)
    );
    let frames_b = stats_b.frame_stats.expect("b plays, without voice");
    assert_eq!((frames_b.sent, frames_b.deficit), (0, 3000));

    // Updates every second (the configured interval) for a playing player.
    a.close().await;
    let mut c = connect(&node).await;
    rest.connect_voice(&c.session_id, GUILD).await;
    c.update().await;
    rest.play(&c.session_id, GUILD, "sim:length:600000").await;
    start(&mut c).await;
    let positions = [
        c.update().await.state.position,
        {
            clock.advance(SECOND);
            c.update().await.state.position
        },
        {
            clock.advance(SECOND);
            c.update().await.state.position
        },
    ];
    assert_eq!(positions, [0, 1000, 2000]);
}

#[tokio::test]
async fn frame_stats_wait_for_a_whole_previous_minute_and_start_over_after_a_gap() {
    let clock = clock::ManualClock::new();
    let config = NodeConfig::default()
        .with_clock(clock.shared())
        .with_intervals(Duration::from_secs(5), Duration::from_secs(30));
    let node = SimNode::start(config).await.expect("node");
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:length:3600000").await;
    // Playing since 0: the counts become usable at the start of minute 2.
    let mut frames = Vec::new();
    for _ in 0..4 {
        clock.advance(Duration::from_secs(30));
        let stats = socket.stats().await;
        frames.push((stats.uptime, stats.frame_stats.map(|f| f.sent)));
    }
    assert_eq!(
        frames,
        [
            (30_000, None),
            (60_000, None),
            (90_000, None),
            (120_000, Some(3000))
        ]
    );

    // A pause longer than 100 ms: playing since 121 s, usable from minute 4 on (240 s).
    rest.update(&session, GUILD, json!({ "paused": true }))
        .await;
    clock.advance(SECOND);
    rest.update(&session, GUILD, json!({ "paused": false }))
        .await;
    let mut frames = Vec::new();
    for step in [29, 30, 30, 30] {
        clock.advance(Duration::from_secs(step));
        let stats = socket.stats().await;
        frames.push((stats.uptime, stats.frame_stats.map(|f| f.sent)));
    }
    assert_eq!(
        frames,
        [
            (150_000, None),
            (180_000, None),
            (210_000, None),
            (240_000, Some(3000))
        ]
    );

    // Replacing the track leaves no gap: the counts stay usable.
    rest.play(&session, GUILD, "sim:length:3600000").await;
    clock.advance(Duration::from_secs(30));
    let stats = socket.stats().await;
    assert_eq!(stats.uptime, 270_000);
    assert_eq!(stats.frame_stats.map(|f| f.sent), Some(3000));

    // Stopped and started again later: null again.
    rest.update(&session, GUILD, json!({ "track": { "encoded": null } }))
        .await;
    clock.advance(SECOND);
    rest.play(&session, GUILD, "sim:length:3600000").await;
    clock.advance(Duration::from_secs(29));
    let stats = socket.stats().await;
    assert_eq!(stats.uptime, 300_000);
    assert_eq!(stats.frame_stats, None);
}
