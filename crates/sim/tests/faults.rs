//! Fault injection: each mode's observable behaviour, from the library API and the control
//! endpoint.

#![allow(
    clippy::disallowed_methods,
    reason = "tests stamp and guard with real time where no clock is injected"
)]

mod common;

use std::time::{Duration, Instant};

use common::{GUARD, GUILD, Rest, connect, connect_resuming, manual_node};
use http::Method;
use lavalink::model::{ErrorResponse, Event, GuildId, Stats, TrackEndReason, WebSocketClosed};
use serde_json::json;
use sim::lavalink::{Fault, NodeConfig, SimError, SimNode, SimState};

/// Asserts the socket ends without a close frame.
async fn assert_dropped_without_close(socket: &mut common::Socket) {
    loop {
        match socket.frame().await {
            None | Some(Err(_)) => return,
            Some(Ok(frame)) => assert!(
                !frame.is_close(),
                "got a close frame: {:?}",
                frame.as_close()
            ),
        }
    }
}

/// Retries `GET /version` until the node answers (the node was told to come back on its own).
async fn wait_until_up(rest: &Rest) {
    tokio::time::timeout(GUARD, async {
        loop {
            let answer = rest.try_call(Method::GET, "/version", None).await;
            if answer.is_ok_and(|answer| answer.status == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("node did not come back");
}

#[tokio::test]
async fn crash_drops_sockets_without_close_refuses_connections_and_restart_forgets_sessions() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.patch(
        &format!("/v4/sessions/{session}"),
        json!({ "resuming": true }),
    )
    .await;
    rest.connect_voice(&session, GUILD).await;
    let addr = node.addr();

    node.crash();
    assert_dropped_without_close(&mut socket).await;
    // The pooled keep-alive connection died with the node too.
    let refused = rest.try_call(Method::GET, "/v4/info", None).await;
    assert!(refused.is_err(), "a crashed node answered: {refused:?}");
    assert!(!node.is_up());

    node.restart().await.expect("restart");
    assert_eq!(node.addr(), addr, "same port");
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        404
    );
    let fresh = connect_resuming(&node, Some(&session)).await;
    assert!(!fresh.resumed);
    assert_ne!(fresh.session_id, session);
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_with_1001_and_stops_listening() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    node.graceful_shutdown().await;
    let close = loop {
        let frame = socket
            .frame()
            .await
            .expect("ended without close")
            .expect("socket error");
        if let Some((code, _)) = frame.as_close() {
            break u16::from(code);
        }
    };
    assert_eq!(close, 1001);
    assert!(rest.try_call(Method::GET, "/version", None).await.is_err());
}

#[tokio::test]
async fn hang_holds_requests_silences_sockets_and_freezes_playback_until_healed() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    let position = |node: &SimNode| node.player(&session, GUILD).expect("player").state.position;
    rest.connect_voice(&session, GUILD).await;
    socket.update().await;
    rest.play(&session, GUILD, "sim:length:60000").await;
    socket.event().await;
    let first = socket.update().await;
    clock.advance(Duration::from_secs(2));
    assert_eq!(position(&node), 2000);

    node.hang();
    let held = tokio::spawn({
        let rest = rest.clone();
        async move { rest.get("/v4/info").await }
    });
    // Longer than the rest of the track, the stats interval and the stuck threshold.
    clock.advance(Duration::from_secs(90));
    let silent = tokio::time::timeout(Duration::from_millis(300), socket.stream.next_frame()).await;
    assert!(silent.is_err(), "a hung node sent {silent:?}");
    let timed_out = tokio::time::timeout(
        Duration::from_millis(300),
        rest.try_call(Method::GET, "/version", None),
    )
    .await;
    assert!(timed_out.is_err(), "a hung node answered");
    assert!(!held.is_finished());
    let frozen = node.player(&session, GUILD).expect("player");
    assert_eq!(
        frozen.state.position, 2000,
        "playback stands still while hung"
    );
    assert!(frozen.track.is_some(), "the track did not end");

    node.heal();
    assert_eq!(held.await.expect("held request").status, 200);
    // The playerUpdate that fell due while hung goes out at the thaw, at the frozen position.
    let late = socket.update().await;
    assert_eq!(late.state.position, 2000);
    assert_eq!(
        late.state.time - first.state.time,
        92_000,
        "sent at the thaw"
    );
    assert_eq!(
        position(&node),
        2000,
        "the position after the hang is the one at the moment of the hang"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(position(&node), 3000, "and it goes on from there");
    // The track ends after its remaining 58 s of playback, not earlier.
    clock.advance(Duration::from_secs(57));
    match socket.event().await {
        Event::TrackEnd(end) => {
            assert_eq!(end.reason, TrackEndReason::Finished);
            assert_eq!(end.track.info.position, 60_000);
        }
        other => panic!("expected TrackEnd, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hang_raises_no_stuck_event_and_a_stall_comes_after_the_thaw() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    socket.update().await;
    rest.play(&session, GUILD, "sim:stuck:1000").await;
    socket.event().await;
    let first = socket.update().await;

    node.hang();
    clock.advance(Duration::from_secs(60));
    node.heal();
    let thawed = node.player(&session, GUILD).expect("player");
    assert_eq!(thawed.state.position, 0, "no frame was pulled while hung");
    assert!(thawed.track.is_some());
    // One second of playback reaches the stall, the threshold later the stuck event: the first
    // event since TrackStart.
    clock.advance(Duration::from_secs(1));
    node.settle().await;
    clock.advance(Duration::from_secs(10));
    match socket.event().await {
        Event::TrackStuck(stuck) => assert_eq!(stuck.track.info.position, 1000),
        other => panic!("expected TrackStuck, got {other:?}"),
    }
    let update = socket.update().await;
    assert_eq!(update.state.time - first.state.time, 71_000);
}

/// `next_frame` for the hang test, where the helper's guard must not fire.
trait NextFrame {
    async fn next_frame(
        &mut self,
    ) -> Option<Result<tokio_websockets::Message, tokio_websockets::Error>>;
}

impl NextFrame
    for tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<tokio::net::TcpStream>>
{
    async fn next_frame(
        &mut self,
    ) -> Option<Result<tokio_websockets::Message, tokio_websockets::Error>> {
        futures_util::StreamExt::next(self).await
    }
}

#[tokio::test]
async fn slow_adds_latency_to_rest_and_socket_messages() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    node.slow(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(rest.get("/version").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let started = Instant::now();
    rest.update(&socket.session_id, GUILD, json!({ "filters": {} }))
        .await;
    socket.update().await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "REST and the message both delayed"
    );
    node.heal();
}

#[tokio::test]
async fn error_rate_is_seeded_and_answers_the_error_body() {
    async fn pattern() -> Vec<u16> {
        let (node, _clock) = manual_node().await;
        node.error_rate(0.5, 7);
        let rest = Rest::new(&node);
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let answer = rest.get("/v4/info").await;
            if answer.status == 500 {
                let body: ErrorResponse = serde_json::from_value(answer.body).expect("error body");
                assert_eq!(body.status, 500);
                assert_eq!(body.path, "/v4/info");
            }
            statuses.push(answer.status);
        }
        statuses
    }
    let first = pattern().await;
    let failures = first.iter().filter(|s| **s == 500).count();
    assert!((1..20).contains(&failures), "{first:?}");
    assert_eq!(first, pattern().await, "same seed, same failures");
}

#[tokio::test]
async fn overload_climbs_cpu_and_degrades_frames() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:length:600000").await;
    node.overload(0.9, Duration::from_secs(60));
    let load = |stats: Stats| stats.cpu.system_load;
    let at_start = load(serde_json::from_value(rest.get("/v4/stats").await.body).expect("stats"));
    clock.advance(Duration::from_secs(30));
    let halfway = load(serde_json::from_value(rest.get("/v4/stats").await.body).expect("stats"));
    clock.advance(Duration::from_secs(30));
    let stats = socket.stats().await;
    assert!(
        at_start < halfway && halfway < stats.cpu.system_load,
        "{at_start} {halfway} {}",
        stats.cpu.system_load
    );
    assert!(stats.cpu.system_load > 0.85);
    assert_eq!(
        stats.frame_stats, None,
        "no whole previous minute of playback yet"
    );
    clock.advance(Duration::from_secs(60));
    let stats = socket.stats().await;
    let frames = stats.frame_stats.expect("frames");
    assert!(frames.nulled > 0 && frames.deficit > 0, "{frames:?}");
    assert_eq!(frames.sent + frames.nulled + frames.deficit, 3000);
    node.heal();
    clock.advance(Duration::from_secs(60));
    let healed = socket.stats().await;
    assert_eq!(healed.frame_stats.map(|f| f.sent), Some(3000));
}

#[tokio::test]
async fn control_endpoint_needs_the_password_and_switches_faults() {
    let node = SimNode::start(NodeConfig::default().with_password("secret"))
        .await
        .expect("node");
    let rest = Rest::new(&node);
    assert_eq!(
        Rest::with_password(&node, None)
            .get("/sim/state")
            .await
            .status,
        401
    );
    assert_eq!(
        Rest::with_password(&node, Some("x"))
            .get("/sim/state")
            .await
            .status,
        403
    );
    let bad = rest
        .call(
            Method::POST,
            "/sim/fault",
            Some(json!({ "fault": "explode" })),
        )
        .await;
    assert_eq!(bad.status, 400);

    let mut socket = connect(&node).await;
    let state: SimState = serde_json::from_value(rest.get("/sim/state").await.body).expect("state");
    assert!(state.up);
    assert_eq!(state.sessions.len(), 1);

    let slow = rest
        .call(
            Method::POST,
            "/sim/fault",
            Some(json!({ "fault": "slow", "latencyMs": 40 })),
        )
        .await;
    assert_eq!(slow.status, 200);
    assert_eq!(slow.body["faults"]["latencyMs"], 40);
    let healed = rest
        .call(Method::POST, "/sim/fault", Some(json!({ "fault": "heal" })))
        .await;
    assert_eq!(healed.body["faults"]["latencyMs"], 0);

    // A crashed node cannot hear the control endpoint, so the crash carries its own restart.
    let crash = rest
        .call(
            Method::POST,
            "/sim/fault",
            Some(json!({ "fault": "crash", "restartAfterMs": 200 })),
        )
        .await;
    assert_eq!(crash.status, 202);
    assert_dropped_without_close(&mut socket).await;
    wait_until_up(&rest).await;
    let state: SimState = serde_json::from_value(rest.get("/sim/state").await.body).expect("state");
    assert!(state.sessions.is_empty(), "sessions forgotten");
}

#[tokio::test]
async fn restart_fault_comes_back_on_the_same_port() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let addr = node.addr();
    node.apply(Fault::Restart).await.expect("restart");
    assert_eq!(node.addr(), addr);
    assert!(node.is_up());
    assert_eq!(
        rest.get(&format!("/v4/sessions/{}/players", socket.session_id))
            .await
            .status,
        404
    );
    let stats: Stats = serde_json::from_value(rest.get("/v4/stats").await.body).expect("stats");
    assert_eq!(stats.uptime, 0, "a fresh process");
}

#[tokio::test]
async fn start_nodes_binds_distinct_ports() {
    let nodes = sim::lavalink::start_nodes(3, NodeConfig::default())
        .await
        .expect("nodes");
    let mut ports: Vec<u16> = nodes.iter().map(|n| n.addr().port()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    assert_eq!(nodes[2].name(), "sim-3");
    for node in nodes {
        node.shutdown().await;
    }
}

/// `POST /sim/fault` with a body.
async fn post_fault(rest: &Rest, body: serde_json::Value) -> common::Answer {
    rest.call(Method::POST, "/sim/fault", Some(body)).await
}

#[tokio::test]
async fn dropped_connections_without_resuming_destroy_the_players_while_the_node_listens() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    rest.play(&session, GUILD, "sim:length:60000").await;
    node.settle().await;

    node.drop_connections(None).expect("drop");
    assert_eq!(socket.ended().await, None, "dropped without a close frame");
    assert!(node.is_up());
    assert!(
        node.sessions().is_empty(),
        "the session went with its socket"
    );
    assert!(node.player(&session, GUILD).is_none(), "and its players");
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .status,
        404
    );
    let again = connect_resuming(&node, Some(&session)).await;
    assert!(!again.resumed, "nothing to resume");
    assert_ne!(again.session_id, session);
}

#[tokio::test]
async fn dropped_connections_can_send_a_close_code_first_and_refuse_unsendable_ones() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut first = connect(&node).await;
    let mut second = connect(&node).await;

    for code in [1005, 1006, 1015, 2000, 5000] {
        let refused = post_fault(
            &rest,
            json!({ "fault": "dropConnections", "closeCode": code }),
        )
        .await;
        assert_eq!(refused.status, 400, "{code}: {}", refused.text);
        assert!(
            refused.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(&code.to_string())),
            "{}",
            refused.text
        );
    }
    assert!(matches!(
        node.drop_connections(Some(1006)),
        Err(SimError::UnsendableCloseCode(1006))
    ));
    assert_eq!(
        node.sessions().iter().filter(|s| s.connected).count(),
        2,
        "a refused fault drops nothing"
    );

    let dropped = post_fault(
        &rest,
        json!({ "fault": "dropConnections", "closeCode": 4000 }),
    )
    .await;
    assert_eq!(dropped.status, 200, "{}", dropped.text);
    assert_eq!(
        dropped.body["sessions"],
        json!([]),
        "sessions gone when it answers"
    );
    assert_eq!(first.ended().await, Some(4000));
    assert_eq!(second.ended().await, Some(4000));

    let third = connect(&node).await;
    assert!(!third.resumed, "the node still listens");
    node.drop_connections(Some(1011)).expect("drop");
}

#[tokio::test]
async fn voice_closed_sends_the_event_and_reports_disconnected_until_a_voice_state() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    assert!(socket.update().await.state.connected);
    rest.play(&session, GUILD, "sim:length:60000").await;
    socket.event().await;
    socket.update().await;
    clock.advance(Duration::from_secs(2));

    node.close_voice(GUILD, 4006, "Session is no longer valid.")
        .expect("close voice");
    assert_eq!(
        socket.voice_closed().await,
        WebSocketClosed {
            guild_id: GuildId(GUILD),
            code: 4006,
            reason: "Session is no longer valid.".into(),
            by_remote: true,
        }
    );
    let update = socket.update().await;
    assert!(!update.state.connected);
    assert_eq!(update.state.position, 2000);
    assert_eq!(
        update.state.ping, 12,
        "Koe keeps the closed gateway's last ping"
    );
    assert!(
        matches!(
            node.close_voice(GUILD, 4006, ""),
            Err(SimError::NoVoiceConnection { .. })
        ),
        "already closed"
    );

    // Koe's frame poller goes on after a gateway close, and so does the position.
    clock.advance(Duration::from_secs(3));
    let update = socket.update().await;
    assert_eq!(update.state.position, 5000);
    assert!(!update.state.connected);
    let player = node.player(&session, GUILD).expect("player");
    assert!(!player.state.connected);
    assert!(player.voice.is_complete(), "the voice state is kept");

    // The same voice state again reconnects (Lavalink reconnects a closed gateway).
    let answer = rest.connect_voice(&session, GUILD).await;
    assert_eq!(answer.body["state"]["connected"], true, "{}", answer.text);
    let update = socket.update().await;
    assert!(update.state.connected);
    assert_eq!(update.state.position, 5000);
    // ... and only once it was closed: the same state again changes nothing.
    rest.connect_voice(&session, GUILD).await;
    rest.update(&session, GUILD, json!({ "filters": {} })).await;
    let marker = socket.update().await;
    assert!(
        marker.state.connected,
        "the filter update is the next message"
    );
}

#[tokio::test]
async fn voice_closed_with_a_code_koe_retries_is_silent_unless_its_retries_are_exhausted() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    socket.update().await;

    for code in [1006, 4009, 4015] {
        node.close_voice(GUILD, code, "").expect("close voice");
    }
    // A marker: the filter update must be the next message (no event before it).
    rest.update(&session, GUILD, json!({ "filters": {} })).await;
    assert!(socket.update().await.state.connected, "Koe reconnected");

    node.apply(Fault::VoiceClosed {
        guild_id: GuildId(GUILD),
        code: 4015,
        reason: String::new(),
        by_remote: true,
        session_id: None,
        retries_exhausted: true,
    })
    .await
    .expect("close voice");
    let closed = socket.voice_closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (4015, ""));
    assert!(!socket.update().await.state.connected);
}

#[tokio::test]
async fn voice_closed_from_the_control_endpoint_picks_sessions() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut one = connect(&node).await;
    let mut two = connect(&node).await;
    for socket in [&mut one, &mut two] {
        rest.connect_voice(&socket.session_id, GUILD).await;
        socket.update().await;
    }

    let answer = post_fault(
        &rest,
        json!({ "fault": "voiceClosed", "guildId": GUILD.to_string(), "code": 4014,
            "reason": "Disconnected.", "byRemote": true, "sessionId": two.session_id }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let closed = two.voice_closed().await;
    assert_eq!(closed.guild_id, GuildId(GUILD));
    assert_eq!(
        (closed.code, closed.reason.as_str(), closed.by_remote),
        (4014, "Disconnected.", true)
    );
    assert!(!two.update().await.state.connected);
    rest.update(&one.session_id, GUILD, json!({ "filters": {} }))
        .await;
    assert!(
        one.update().await.state.connected,
        "the other session kept its voice"
    );

    // Without a session: every player of the guild whose gateway is open (here only one's).
    let answer = post_fault(
        &rest,
        json!({ "fault": "voiceClosed", "guildId": GUILD.to_string(), "code": 4006, "byRemote": false }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let closed = one.voice_closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str(), closed.by_remote),
        (4006, "", false)
    );

    // Nothing left to close, and a guild without a player: 404.
    for guild in [GUILD, GUILD + 1] {
        let nothing = post_fault(
            &rest,
            json!({ "fault": "voiceClosed", "guildId": guild.to_string(), "code": 4006 }),
        )
        .await;
        assert_eq!(nothing.status, 404, "{}", nothing.text);
    }
}
