//! Fault injection: each mode's observable behaviour, from the library API and the control
//! endpoint.

mod common;

use std::time::{Duration, Instant};

use common::{GUARD, GUILD, Rest, connect, connect_resuming, manual_node};
use http::Method;
use lavalink::model::{ErrorResponse, Stats};
use serde_json::json;
use sim::lavalink::{Fault, NodeConfig, SimNode, SimState};

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
async fn hang_holds_requests_and_silences_sockets_until_healed() {
    let (node, clock) = manual_node().await;
    let rest = Rest::new(&node);
    let mut socket = connect(&node).await;
    let session = socket.session_id.clone();
    rest.connect_voice(&session, GUILD).await;
    socket.update().await;
    rest.play(&session, GUILD, "sim:length:60000").await;
    socket.event().await;
    socket.update().await;

    node.hang();
    let held = tokio::spawn({
        let rest = rest.clone();
        async move { rest.get("/v4/info").await }
    });
    clock.advance(Duration::from_secs(5));
    let silent = tokio::time::timeout(Duration::from_millis(300), socket.stream.next_frame()).await;
    assert!(silent.is_err(), "a hung node sent {silent:?}");
    let timed_out = tokio::time::timeout(
        Duration::from_millis(300),
        rest.try_call(Method::GET, "/version", None),
    )
    .await;
    assert!(timed_out.is_err(), "a hung node answered");
    assert!(!held.is_finished());

    node.heal();
    assert_eq!(held.await.expect("held request").status, 200);
    let late = socket.update().await;
    assert_eq!(
        late.state.position, 5000,
        "held messages flow after the thaw"
    );
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
