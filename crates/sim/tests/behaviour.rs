//! Behaving like other servers ([`ServerBehaviour`]): each switch on its own, the NodeLink
//! profile, and Lavalink 4.2's ways by default.

#![allow(
    clippy::disallowed_methods,
    reason = "tests stamp and guard with real time where no clock is injected"
)]

mod common;

use std::time::{Duration, Instant};

use common::{GUARD, GUILD, Rest, Socket, connect, connect_resuming, manual_node, voice_json};
use lavalink::model::{ErrorResponse, Event, IncomingMessage, Player, Stats};
use serde_json::json;
use sim::lavalink::{Fault, NodeConfig, SentMessage, ServerBehaviour, SimNode, SimState};
use tokio::sync::broadcast;

const MS: Duration = Duration::from_millis(1);

/// A node on a manual clock that behaves as told.
async fn node_like(behaviour: ServerBehaviour) -> (SimNode, clock::ManualClock) {
    let clock = clock::ManualClock::new();
    let config = NodeConfig::default()
        .with_clock(clock.shared())
        .with_behaviour(behaviour);
    let node = SimNode::start(config).await.expect("start node");
    (node, clock)
}

/// A node on the system clock (its PATCH service takes real time) that serves requests one at a
/// time, each player PATCH taking `each`, with a connected socket: (node, REST, socket, session).
async fn serial_node(each: Duration) -> (SimNode, Rest, Socket, String) {
    let config = NodeConfig::default()
        .with_behaviour(lavalink_with(|b| b.serial_player_patches = Some(each)));
    let node = SimNode::start(config).await.expect("node");
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    (node, rest, socket, session)
}

/// Lavalink 4.2 with one change.
fn lavalink_with(change: impl FnOnce(&mut ServerBehaviour)) -> ServerBehaviour {
    let mut behaviour = ServerBehaviour::lavalink();
    change(&mut behaviour);
    behaviour
}

/// Everything written to any socket since the last call: what fell due is emitted and written
/// first, so nothing is still on its way.
async fn written(
    node: &SimNode,
    sent: &mut broadcast::Receiver<SentMessage>,
) -> Vec<IncomingMessage> {
    node.settle().await;
    let mut messages = Vec::new();
    while let Ok(sent) = sent.try_recv() {
        messages.push(sent.message);
    }
    messages
}

/// The TrackStartEvents among messages: (identifier, position).
fn starts(messages: &[IncomingMessage]) -> Vec<(String, u64)> {
    messages
        .iter()
        .filter_map(|message| match message {
            IncomingMessage::Event(Event::TrackStart(start)) => Some((
                start.track.info.identifier.clone(),
                start.track.info.position,
            )),
            _ => None,
        })
        .collect()
}

fn position(node: &SimNode, session: &str) -> u64 {
    node.player(session, GUILD).expect("player").state.position
}

/// A session with a connected player, and the socket's messages from then on.
async fn connected(node: &SimNode) -> (Socket, broadcast::Receiver<SentMessage>) {
    let socket = connect(node).await;
    let rest = Rest::new(node);
    rest.connect_voice(&socket.session_id, GUILD).await;
    let mut sent = node.subscribe();
    written(node, &mut sent).await;
    (socket, sent)
}

#[tokio::test]
async fn lavalink_is_the_default_and_the_state_shows_the_behaviour() {
    assert_eq!(NodeConfig::default().behaviour, ServerBehaviour::lavalink());
    assert_eq!(ServerBehaviour::default(), ServerBehaviour::lavalink());
    assert_eq!(ServerBehaviour::lavalink().profile(), "lavalink");
    assert_eq!(ServerBehaviour::nodelink().profile(), "nodelink");
    assert_eq!(
        lavalink_with(|b| b.session_resuming = false).profile(),
        "custom"
    );

    let (node, _clock) = manual_node().await;
    let state = Rest::new(&node).get("/sim/state").await.body;
    assert_eq!(state["behavesLike"], "lavalink");
    assert_eq!(
        state["behaviour"],
        json!({
            "audioStartDelayMs": 0,
            "audioStartDelayAtPositionMs": 0,
            "trackStartWaitsForAudio": false,
            "serialPlayerPatchesMs": null,
            "systemLoadAsLoadAverage": false,
            "sessionResuming": true,
            "secondTrackStartAfterSeekMs": null,
            "closeSocketsOnShutdown": true,
        })
    );

    let (node, _clock) = node_like(ServerBehaviour::nodelink()).await;
    let state = Rest::new(&node).get("/sim/state").await.body;
    assert_eq!(
        state["behaviour"],
        json!({
            "audioStartDelayMs": 330,
            "audioStartDelayAtPositionMs": 1000,
            "trackStartWaitsForAudio": true,
            "serialPlayerPatchesMs": 550,
            "systemLoadAsLoadAverage": true,
            "sessionResuming": false,
            "secondTrackStartAfterSeekMs": 1000,
            "closeSocketsOnShutdown": false,
        })
    );
    let state: SimState = serde_json::from_value(state).expect("state");
    assert_eq!(state.behaves_like, "nodelink");
    assert_eq!(state.behaviour, ServerBehaviour::nodelink());
    assert_eq!(node.state(), state);
}

#[tokio::test]
async fn a_new_track_holds_its_start_position_until_its_audio_starts() {
    let (node, clock) = node_like(lavalink_with(|b| {
        b.audio_start_delay = Duration::from_millis(300);
        b.audio_start_delay_at_position = Duration::from_millis(1000);
    }))
    .await;
    let rest = Rest::new(&node);
    let (socket, mut sent) = connected(&node).await;
    let session = socket.session_id.clone();
    rest.play(&session, GUILD, "sim:length:60000").await;
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:60000".to_owned(), 0)],
        "TrackStart goes out with the PATCH, as on Lavalink"
    );

    clock.advance(299 * MS);
    assert_eq!(position(&node, &session), 0, "no frames pulled yet");
    let updates: Vec<u64> = written(&node, &mut sent)
        .await
        .iter()
        .filter_map(|message| match message {
            IncomingMessage::PlayerUpdate(update) => Some(update.state.position),
            _ => None,
        })
        .collect();
    assert!(updates.iter().all(|p| *p == 0), "{updates:?}");
    clock.advance(MS);
    assert_eq!(position(&node, &session), 0, "the audio starts now");
    clock.advance(500 * MS);
    assert_eq!(position(&node, &session), 500);
    clock.advance(5000 * MS);
    assert_eq!(position(&node, &session), 5500);
}

#[tokio::test]
async fn a_start_at_a_position_and_a_seek_wait_for_the_longer_start_up() {
    let (node, clock) = node_like(lavalink_with(|b| {
        b.audio_start_delay = Duration::from_millis(300);
        b.audio_start_delay_at_position = Duration::from_millis(1000);
    }))
    .await;
    let rest = Rest::new(&node);
    let (socket, _sent) = connected(&node).await;
    let session = socket.session_id.clone();
    let track = rest.load_track("sim:length:600000").await;
    let answer = rest
        .update(
            &session,
            GUILD,
            json!({ "track": { "encoded": track.encoded }, "position": 30000 }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    clock.advance(300 * MS);
    assert_eq!(
        position(&node, &session),
        30000,
        "a plain start-up is not enough"
    );
    clock.advance(699 * MS);
    assert_eq!(position(&node, &session), 30000);
    clock.advance(MS);
    assert_eq!(position(&node, &session), 30000, "the audio starts now");
    clock.advance(250 * MS);
    assert_eq!(position(&node, &session), 30250);

    // A seek of the playing track starts its audio again at the new position.
    rest.update(&session, GUILD, json!({ "position": 100_000 }))
        .await;
    clock.advance(999 * MS);
    assert_eq!(position(&node, &session), 100_000);
    clock.advance(MS);
    clock.advance(400 * MS);
    assert_eq!(position(&node, &session), 100_400);

    // A plain track start after all that: the short start-up.
    rest.play(&session, GUILD, "sim:length:60000").await;
    clock.advance(300 * MS);
    clock.advance(200 * MS);
    assert_eq!(position(&node, &session), 200);
}

#[tokio::test]
async fn track_start_can_wait_for_the_audio() {
    let (node, clock) = node_like(lavalink_with(|b| {
        b.audio_start_delay = Duration::from_millis(300);
        b.track_start_waits_for_audio = true;
    }))
    .await;
    let rest = Rest::new(&node);
    let (socket, mut sent) = connected(&node).await;
    let session = socket.session_id.clone();
    rest.play(&session, GUILD, "sim:length:60000").await;
    assert_eq!(starts(&written(&node, &mut sent).await), []);
    clock.advance(299 * MS);
    assert_eq!(starts(&written(&node, &mut sent).await), []);
    clock.advance(MS);
    let messages = written(&node, &mut sent).await;
    assert_eq!(starts(&messages), [("sim:length:60000".to_owned(), 0)]);
    assert!(
        matches!(
            messages.last(),
            Some(IncomingMessage::PlayerUpdate(update)) if update.state.position == 0
        ),
        "the update of the start follows its TrackStart: {messages:?}"
    );

    // Replaced before its audio started: TrackEnd for it, and no TrackStart ever.
    rest.play(&session, GUILD, "sim:track:b").await;
    clock.advance(100 * MS);
    rest.play(&session, GUILD, "sim:track:c").await;
    clock.advance(300 * MS);
    let messages = written(&node, &mut sent).await;
    assert_eq!(starts(&messages), [("sim:track:c".to_owned(), 0)]);
}

#[tokio::test]
async fn off_by_default_a_track_plays_and_starts_at_once_and_only_once() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let (socket, mut sent) = connected(&node).await;
    let session = socket.session_id.clone();
    let track = rest.load_track("sim:length:600000").await;
    rest.update(
        &session,
        GUILD,
        json!({ "track": { "encoded": track.encoded }, "position": 30000, "filters": {} }),
    )
    .await;
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:600000".to_owned(), 30000)]
    );
    clock.advance(MS);
    assert_eq!(position(&node, &session), 30001);
    rest.update(&session, GUILD, json!({ "position": 100_000 }))
        .await;
    clock.advance(MS);
    assert_eq!(position(&node, &session), 100_001);
    clock.advance(Duration::from_secs(10));
    assert_eq!(starts(&written(&node, &mut sent).await), []);
}

#[tokio::test]
async fn a_patch_through_the_seek_path_starts_the_track_a_second_time() {
    let (node, clock) = node_like(lavalink_with(|b| {
        b.second_track_start_after_seek = Some(Duration::from_secs(1));
    }))
    .await;
    let rest = Rest::new(&node);
    let (socket, mut sent) = connected(&node).await;
    let session = socket.session_id.clone();
    let track = rest.load_track("sim:length:600000").await;
    rest.update(
        &session,
        GUILD,
        json!({ "track": { "encoded": track.encoded }, "position": 0 }),
    )
    .await;
    let once = [("sim:length:600000".to_owned(), 0)];
    assert_eq!(starts(&written(&node, &mut sent).await), once);
    clock.advance(999 * MS);
    assert_eq!(starts(&written(&node, &mut sent).await), []);
    clock.advance(MS);
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:600000".to_owned(), 1000)],
        "the same track starts again"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(starts(&written(&node, &mut sent).await), [], "only twice");

    // Filters on the playing track take the same path.
    rest.update(&session, GUILD, json!({ "filters": {} })).await;
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:600000".to_owned(), 7000)]
    );

    // Neither position nor filters (nor endTime): one start, as on Lavalink.
    rest.update(&session, GUILD, json!({ "volume": 50, "paused": false }))
        .await;
    let other = rest.load_track("sim:length:300000").await;
    rest.update(
        &session,
        GUILD,
        json!({ "track": { "encoded": other.encoded }, "voice": voice_json() }),
    )
    .await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:300000".to_owned(), 0)]
    );

    // Without a track there is nothing to start again.
    rest.update(&session, GUILD, json!({ "track": { "encoded": null } }))
        .await;
    rest.update(&session, GUILD, json!({ "filters": {} })).await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(starts(&written(&node, &mut sent).await), []);
}

#[tokio::test]
async fn like_nodelink_a_move_with_a_position_starts_after_a_second_and_again_a_second_later() {
    // NodeLink's profile, without the real-time PATCH service that a manual clock does not need.
    let (node, clock) = node_like(ServerBehaviour {
        serial_player_patches: None,
        ..ServerBehaviour::nodelink()
    })
    .await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    let mut sent = node.subscribe();
    let track = rest.load_track("sim:length:600000").await;
    // A move: one PATCH with the voice state, the track and its position.
    let answer = rest
        .update(
            &session,
            GUILD,
            json!({
                "track": { "encoded": track.encoded },
                "position": 42000,
                "voice": voice_json(),
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(starts(&written(&node, &mut sent).await), []);
    clock.advance(999 * MS);
    assert_eq!(position(&node, &session), 42000);
    assert_eq!(starts(&written(&node, &mut sent).await), []);
    clock.advance(MS);
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:600000".to_owned(), 42000)]
    );
    clock.advance(500 * MS);
    assert_eq!(position(&node, &session), 42500);
    clock.advance(500 * MS);
    assert_eq!(
        starts(&written(&node, &mut sent).await),
        [("sim:length:600000".to_owned(), 43000)],
        "a second start, a second after the first"
    );
}

#[tokio::test]
async fn without_session_resuming_the_session_patch_is_404_and_sessions_end_with_their_socket() {
    let (node, _clock) = node_like(lavalink_with(|b| b.session_resuming = false)).await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = socket.session_id.clone();
    let answer = rest
        .patch(
            &format!("/v4/sessions/{session}"),
            json!({ "resuming": true, "timeout": 60 }),
        )
        .await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    let error: ErrorResponse = serde_json::from_value(answer.body).expect("error body");
    assert_eq!(error.status, 404);
    assert_eq!(error.error, "Not Found");
    assert_eq!(error.path, format!("/v4/sessions/{session}"));
    assert_eq!(
        error.message,
        format!("No static resource v4/sessions/{session}.")
    );
    // Whatever the session.
    let unknown = rest
        .patch("/v4/sessions/nosuchsession", json!({ "resuming": true }))
        .await;
    assert_eq!(unknown.status, 404);

    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:track:a").await;
    socket.close().await;
    assert!(
        node.sessions().is_empty(),
        "the session ended with its socket"
    );
    let again = connect_resuming(&node, Some(&session)).await;
    assert!(!again.resumed);
    assert_eq!(again.resumed_header.as_deref(), Some("false"));
    assert_ne!(again.session_id, session);
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        404
    );

    // By default the route exists.
    let (node, _clock) = manual_node().await;
    let socket = connect(&node).await;
    let answer = Rest::new(&node)
        .patch(
            &format!("/v4/sessions/{}", socket.session_id),
            json!({ "resuming": true }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn system_load_can_be_a_load_average() {
    fn load(stats: &Stats) -> f64 {
        stats.cpu.system_load
    }
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }
    let clock = clock::ManualClock::new();
    let config = NodeConfig {
        cores: 2,
        ..NodeConfig::default()
            .with_clock(clock.shared())
            .with_behaviour(lavalink_with(|b| b.system_load_as_load_average = true))
    };
    let node = SimNode::start(config).await.expect("node");
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let rest_stats: Stats =
        serde_json::from_value(rest.get("/v4/stats").await.body).expect("stats");
    assert!(close(load(&rest_stats), 2.0 * 0.05), "{rest_stats:?}");
    node.overload(1.0, Duration::ZERO);
    clock.advance(Duration::from_secs(60));
    let op = socket.stats().await;
    assert!(close(load(&op), 2.0), "two cores fully busy: {op:?}");
    let rest_stats: Stats =
        serde_json::from_value(rest.get("/v4/stats").await.body).expect("stats");
    assert!(close(load(&rest_stats), 2.0), "{rest_stats:?}");

    // By default a fraction of 0 to 1.
    let (node, clock) = manual_node().await;
    let mut socket = connect(&node).await;
    node.overload(1.0, Duration::ZERO);
    clock.advance(Duration::from_secs(60));
    assert!(close(load(&socket.stats().await), 1.0));
}

#[tokio::test]
async fn serial_player_patches_answer_one_after_another() {
    // Real time: the service itself takes real time, so the node runs on the system clock.
    const EACH: Duration = Duration::from_millis(150);
    let (_node, rest, _socket, session) = serial_node(EACH).await;
    let sent_at = Instant::now();
    let patches: Vec<_> = (0..4u64)
        .map(|i| {
            let rest = rest.clone();
            let session = session.clone();
            tokio::spawn(async move {
                let answer = rest
                    .update(&session, GUILD + i, json!({ "volume": 50 }))
                    .await;
                (Instant::now(), answer)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for patch in patches {
        answers.push(patch.await.expect("patch task"));
    }
    answers.sort_by_key(|(at, _)| *at);
    for (k, (at, answer)) in answers.iter().enumerate() {
        assert_eq!(answer.status, 200, "{}", answer.text);
        let turns = u32::try_from(k + 1).expect("few");
        assert!(
            at.duration_since(sent_at) >= EACH * turns,
            "answer {k} came {:?} after the burst",
            at.duration_since(sent_at)
        );
    }
    // Where each was applied, on the node's (system) clock: one turn apart at least.
    let mut applied: Vec<u64> = answers
        .iter()
        .map(|(_, answer)| {
            let player: Player = serde_json::from_value(answer.body.clone()).expect("player");
            player.state.time
        })
        .collect();
    applied.sort_unstable();
    for pair in applied.windows(2) {
        assert!(
            pair[1] - pair[0] >= 150,
            "applied {} ms apart: {applied:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test]
async fn a_serial_patch_is_carried_out_after_its_client_gave_up() {
    // A real server finishes a request whose client has gone: a PATCH that timed out at the
    // client still creates the player (the ghost a failover must clean up).
    let (node, _rest, _socket, session) = serial_node(Duration::from_millis(300)).await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("http client");
    let sent = impatient
        .patch(format!(
            "{}/v4/sessions/{session}/players/{GUILD}",
            node.rest_url()
        ))
        .header("Authorization", node.password())
        .json(&json!({ "volume": 70 }))
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the client gave up");
    assert!(node.player(&session, GUILD).is_none(), "not yet applied");
    let deadline = tokio::time::Instant::now() + GUARD;
    let player = loop {
        if let Some(player) = node.player(&session, GUILD) {
            break player;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the PATCH was dropped with its client"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(player.volume, 70);
}

#[tokio::test]
async fn other_requests_wait_for_the_patches_ahead_but_take_no_time() {
    // One event loop: a probe that arrives behind two PATCHes is answered after both; one that
    // arrives with nothing queued is answered at once (a turn far longer than the guard would
    // fail the test if it were held).
    const EACH: Duration = Duration::from_millis(150);
    let (node, rest, _socket, session) = serial_node(EACH).await;
    assert_eq!(rest.get("/v4/stats").await.status, 200, "nothing queued");
    let mut arrived = node.requests();
    let sent_at = Instant::now();
    let patches: Vec<_> = (0..2u64)
        .map(|i| {
            let rest = rest.clone();
            let session = session.clone();
            tokio::spawn(async move {
                rest.update(&session, GUILD + i, json!({ "volume": 50 }))
                    .await
            })
        })
        .collect();
    tokio::time::timeout(GUARD, async {
        let mut seen = 0;
        while seen < 2 {
            let request = arrived.recv().await.expect("requests");
            if request.method == "PATCH" {
                seen += 1;
            }
        }
    })
    .await
    .expect("the PATCHes reached the node");
    let version = rest.get("/version").await;
    let answered_after = sent_at.elapsed();
    assert_eq!(version.status, 200);
    assert!(
        answered_after >= EACH * 2,
        "the probe waited for both PATCHes: {answered_after:?}"
    );
    for patch in patches {
        assert_eq!(patch.await.expect("patch").status, 200);
    }
    // Both PATCHes were applied before the probe was answered.
    assert!(node.player(&session, GUILD).is_some());
    assert!(node.player(&session, GUILD + 1).is_some());
}

#[tokio::test]
async fn without_closing_sockets_on_shutdown_they_are_reset() {
    let (node, _clock) = node_like(lavalink_with(|b| b.close_sockets_on_shutdown = false)).await;
    let mut socket = connect(&node).await;
    node.graceful_shutdown().await;
    assert_eq!(socket.ended().await, None, "no close frame");
    assert!(!node.is_up());
    node.restart().await.expect("restart");
    let mut socket = connect(&node).await;
    node.apply(Fault::Shutdown {
        restart_after_ms: None,
    })
    .await
    .expect("shutdown");
    assert_eq!(socket.ended().await, None, "no close frame");

    // By default: 1001.
    let (node, _clock) = manual_node().await;
    let mut socket = connect(&node).await;
    node.graceful_shutdown().await;
    assert_eq!(socket.ended().await, Some(1001));
}
