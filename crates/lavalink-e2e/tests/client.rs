//! The node client against the stand-in: every endpoint, every event, and each fault mode giving
//! the right loss classification.

use std::time::Duration;

use lavalink::client::{Endpoint, Loss, NodeEvent, Rest, RestError, StopReason};
use lavalink::model::{
    Event, GuildId, LoadResult, Severity, TrackEndReason, UpdatePlayer, UpdatePlayerTrack,
    UpdateSession, VoiceState,
};
use lavalink::{NodeClient, NodeConfig};
use lavalink_e2e::{client_config, pair, pair_with, start_node, wait_for, wait_ready};

const GUILD: GuildId = GuildId(817_327_181_659_111_454);

fn voice() -> VoiceState {
    VoiceState {
        token: "voice-token".into(),
        endpoint: "sim-voice-eu-1.discord.media:443".into(),
        session_id: "voice-session".into(),
        channel_id: Some("900000000000000001".into()),
    }
}

/// Loads `identifier` on the node and returns its first track's encoded form.
async fn encoded(rest: &Rest, identifier: &str) -> String {
    let result = rest.load_tracks(identifier).await.expect("load");
    result
        .tracks()
        .first()
        .unwrap_or_else(|| panic!("{identifier} loaded no track: {result:?}"))
        .encoded
        .clone()
}

fn play(encoded: String) -> UpdatePlayer {
    UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded(encoded))),
        voice: Some(voice()),
        ..UpdatePlayer::default()
    }
}

#[tokio::test]
async fn ready_then_resuming_is_enabled_with_the_configured_timeout() {
    let mut pair = pair_with(|config| config.resume_timeout = Some(Duration::from_secs(45))).await;
    let info = wait_for(&mut pair.events, |event| match event {
        NodeEvent::ResumeEnabled(info) => Some(*info),
        _ => None,
    })
    .await;
    assert!(info.resuming);
    assert_eq!(info.timeout, 45);
    let session = pair
        .node
        .sessions()
        .into_iter()
        .find(|s| s.id == pair.session_id)
        .expect("the node knows our session");
    assert!(session.resuming);
    assert!(pair.client.state().is_connected());
}

#[tokio::test]
async fn every_rest_endpoint_answers_and_is_timed() {
    let pair = pair().await;
    let rest = pair.client.rest();

    assert!(!rest.version().await.expect("version").is_empty());
    let info = rest.info().await.expect("info");
    assert_eq!(info.version.major, 4);
    let stats = rest.stats().await.expect("stats");
    assert_eq!(stats.frame_stats, None);

    let track = rest.load_tracks("sim:length:60000").await.expect("track");
    assert!(matches!(track, LoadResult::Track(_)), "{track:?}");
    let playlist = rest.load_tracks("sim:playlist:3").await.expect("playlist");
    assert!(
        matches!(&playlist, LoadResult::Playlist(p) if p.tracks.len() == 3),
        "{playlist:?}"
    );
    let search = rest
        .load_tracks("ytsearch:never gonna")
        .await
        .expect("search");
    assert!(
        matches!(&search, LoadResult::Search(t) if !t.is_empty()),
        "{search:?}"
    );
    let empty = rest.load_tracks("sim:empty").await.expect("empty");
    assert_eq!(empty, LoadResult::Empty);
    let error = rest.load_tracks("sim:error:fault").await.expect("error");
    assert!(
        matches!(&error, LoadResult::Error(e) if e.severity == Severity::Fault),
        "{error:?}"
    );

    let first = track.tracks()[0].clone();
    let decoded = rest.decode_track(&first.encoded).await.expect("decode");
    assert_eq!(decoded.info, first.info);
    let many: Vec<String> = playlist
        .tracks()
        .iter()
        .map(|t| t.encoded.clone())
        .collect();
    let decoded = rest.decode_tracks(&many).await.expect("decode many");
    assert_eq!(decoded.len(), 3);
    // The node and our own codec agree on every track it handed out.
    for track in playlist.tracks() {
        let ours = lavalink::codec::decode_track(&track.encoded).expect("our codec");
        assert_eq!(ours.info.title, track.info.title);
        assert_eq!(ours.info.length, track.info.length);
    }

    let info = rest
        .update_session(
            &pair.session_id,
            &UpdateSession {
                resuming: Some(true),
                timeout: Some(30),
            },
        )
        .await
        .expect("session");
    assert_eq!(info.timeout, 30);

    assert!(pair.client.players().await.expect("players").is_empty());
    let missing = pair.client.player(GUILD).await.expect_err("no player yet");
    assert!(missing.is_not_found(), "{missing:?}");

    let player = pair
        .client
        .update_player(GUILD, &play(first.encoded.clone()), false)
        .await
        .expect("create player");
    assert_eq!(player.guild_id, GUILD);
    assert_eq!(player.track.map(|t| t.encoded), Some(first.encoded));
    assert_eq!(pair.client.players().await.expect("players").len(), 1);
    assert_eq!(
        pair.client.player(GUILD).await.expect("player").guild_id,
        GUILD
    );

    pair.client.destroy_player(GUILD).await.expect("destroy");
    assert!(
        pair.client
            .player(GUILD)
            .await
            .expect_err("gone")
            .is_not_found()
    );

    let unknown = rest
        .players("no-such-session")
        .await
        .expect_err("unknown session");
    assert!(unknown.is_not_found(), "{unknown:?}");

    // A bare node has no LavaLyrics plugin: its lyrics route is an unknown path (404).
    let encoded = match &track {
        LoadResult::Track(track) => track.encoded.clone(),
        other => panic!("{other:?}"),
    };
    let no_plugin = rest.lyrics(&encoded).await.expect_err("no plugin");
    assert!(no_plugin.is_not_found(), "{no_plugin:?}");

    for endpoint in Endpoint::ALL {
        let latency = rest.latency(endpoint);
        assert!(
            latency.answered >= 1,
            "{endpoint:?} was never timed: {latency:?}"
        );
        assert!(latency.total >= latency.last);
    }
}

#[tokio::test]
async fn a_malformed_update_is_an_api_error_with_the_nodes_message() {
    let pair = pair().await;
    let mut bad_voice = play(encoded(pair.client.rest(), "sim:length:60000").await);
    if let Some(voice) = &mut bad_voice.voice {
        voice.channel_id = None;
    }
    let error = pair
        .client
        .update_player(GUILD, &bad_voice, false)
        .await
        .expect_err("a voice update without channelId is refused");
    let RestError::Api {
        status,
        message,
        body,
        ..
    } = &error
    else {
        panic!("not an API error: {error:?}")
    };
    assert_eq!(*status, 400);
    assert!(!message.is_empty());
    assert_eq!(body.as_ref().map(|b| b.status), Some(400));

    let broken = UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded("definitely-not-a-track"))),
        ..UpdatePlayer::default()
    };
    let error = pair
        .client
        .update_player(GUILD, &broken, false)
        .await
        .expect_err("an undecodable track is refused");
    assert!(error.status().is_some_and(|s| s >= 400), "{error:?}");
}

#[tokio::test]
async fn a_wrong_password_stops_the_client_instead_of_looping() {
    let clock = clock::ManualClock::new();
    let node = start_node(&clock.shared()).await;
    let mut config = client_config(&node);
    config.password = lavalink::client::Password::new("wrong");
    let rest = Rest::new(config.clone());
    let error = rest.version().await.expect_err("wrong password");
    assert!(
        matches!(error, RestError::Unauthorized { status: 403, .. }),
        "{error:?}"
    );

    let (_client, mut events) = NodeClient::connect(config, clock.shared());
    let loss = wait_for(&mut events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert_eq!(loss, Loss::AuthRefused { status: 401 });
    let stop = wait_for(&mut events, |event| match event {
        NodeEvent::Stopped(reason) => Some(reason.clone()),
        NodeEvent::Reconnecting { .. } => panic!("retried after an auth failure"),
        _ => None,
    })
    .await;
    assert_eq!(stop, StopReason::AuthRefused { status: 401 });
}

#[tokio::test]
async fn events_arrive_in_order_stamped_with_the_receive_instant() {
    let mut pair = pair().await;
    let track = encoded(pair.client.rest(), "sim:length:12000").await;
    pair.client
        .update_player(GUILD, &play(track), false)
        .await
        .expect("play");

    let started = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::TrackStart(start) => Some(start.guild_id),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(started, GUILD);

    pair.clock.advance(Duration::from_secs(5));
    let (update, stamped_at) = wait_for(&mut pair.events, |event| match event {
        NodeEvent::PlayerUpdate(received) if received.value.state.position > 0 => {
            Some((received.value, received.at))
        }
        NodeEvent::Event(_) => panic!("an event overtook the playerUpdate: {event:?}"),
        _ => None,
    })
    .await;
    assert_eq!(update.guild_id, GUILD);
    assert!(update.state.connected, "complete voice state: connected");
    assert!(update.state.ping >= 0);
    assert_eq!(update.state.position, 5000);
    // Stamped with the client's clock, which stood still at the instant of receipt.
    assert_eq!(stamped_at, lavalink_e2e_now(&pair.clock));

    pair.clock.advance(Duration::from_secs(8));
    let reason = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::TrackEnd(end) => Some(end.reason),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(reason, TrackEndReason::Finished);
}

fn lavalink_e2e_now(clock: &clock::ManualClock) -> std::time::Instant {
    use clock::Clock as _;
    clock.now()
}

#[tokio::test]
async fn exceptions_and_stuck_tracks_are_reported() {
    let mut pair = pair().await;
    let throws = encoded(pair.client.rest(), "sim:exception:1000:fault").await;
    pair.client
        .update_player(GUILD, &play(throws), false)
        .await
        .expect("play");
    pair.clock.advance(Duration::from_secs(2));
    let severity = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::TrackException(e) => Some(e.exception.severity),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(severity, Severity::Fault);
    let reason = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::TrackEnd(end) => Some(end.reason),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert!(reason.may_start_next(), "{reason:?}");

    let stuck = encoded(pair.client.rest(), "sim:stuck:1000").await;
    pair.client
        .update_player(GUILD, &play(stuck), false)
        .await
        .expect("play");
    pair.clock.advance(Duration::from_secs(30));
    let threshold = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::TrackStuck(s) => Some(s.threshold_ms),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert!(threshold > 0);
}

#[tokio::test]
async fn a_graceful_shutdown_is_classified_graceful() {
    let mut pair = pair().await;
    pair.node.graceful_shutdown().await;
    let loss = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(&loss, Loss::GracefulClose { code: 1001, .. }),
        "{loss:?}"
    );
    assert!(loss.is_graceful());
}

#[tokio::test]
async fn a_crash_is_a_reset_then_reconnects_into_a_new_session_after_restart() {
    let mut pair = pair().await;
    let old_session = pair.session_id.clone();
    pair.node.crash();
    let loss = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(loss, Loss::Reset { .. } | Loss::AbnormalClose { .. }),
        "a crash is not graceful: {loss:?}"
    );
    assert!(!loss.is_graceful());

    // While it is down, attempts are refused at the handshake and retried with backoff on the
    // client's clock (which this test steps).
    let delay = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Reconnecting { delay, .. } => Some(*delay),
        _ => None,
    })
    .await;
    assert!(
        delay <= Duration::from_millis(200),
        "full jitter stays under the ceiling: {delay:?}"
    );
    pair.clock.advance(delay);
    let refused = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert_eq!(refused.kind(), "connection_refused", "{refused:?}");

    pair.node.restart().await.expect("restart");
    let (session, resumed) = reconnect_until_ready(&mut pair).await;
    assert!(!resumed, "a restarted node has forgotten every session");
    assert_ne!(session, old_session);
}

/// Steps the clock past every reconnect delay until the client is ready again.
async fn reconnect_until_ready(pair: &mut lavalink_e2e::Pair) -> (String, bool) {
    loop {
        let step = wait_for(&mut pair.events, |event| match event {
            NodeEvent::Reconnecting { delay, .. } => Some(Err(*delay)),
            NodeEvent::Ready {
                session_id,
                resumed,
            } => Some(Ok((session_id.clone(), *resumed))),
            _ => None,
        })
        .await;
        match step {
            Ok(ready) => return ready,
            Err(delay) => pair.clock.advance(delay),
        }
    }
}

#[tokio::test]
async fn a_hung_node_with_playing_players_is_detected_as_silence() {
    let mut pair = pair().await;
    let track = encoded(pair.client.rest(), "sim:length:600000").await;
    pair.client
        .update_player(GUILD, &play(track), false)
        .await
        .expect("play");
    wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => matches!(received.value, Event::TrackStart(_)).then_some(()),
        _ => None,
    })
    .await;
    pair.node.hang();
    // Two missed playerUpdate intervals plus half of one: 12.5 s with the defaults.
    pair.clock.advance(Duration::from_millis(12_500));
    let loss = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    let Loss::Silence {
        quiet_for,
        expected_reporting,
    } = loss
    else {
        panic!("not silence: {loss:?}")
    };
    assert_eq!(expected_reporting, 1);
    assert!(quiet_for >= Duration::from_secs(10), "{quiet_for:?}");
    pair.node.heal();
}

#[tokio::test]
async fn a_hung_idle_node_is_detected_through_unanswered_pings() {
    let mut pair = pair_with(|config| {
        config.silence.ping_interval = Some(Duration::from_secs(5));
    })
    .await;
    wait_for(&mut pair.events, |event| {
        matches!(event, NodeEvent::ResumeEnabled(_)).then_some(())
    })
    .await;
    pair.node.hang();
    for _ in 0..3 {
        pair.clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
    }
    let loss = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(
            loss,
            Loss::Silence {
                expected_reporting: 0,
                ..
            }
        ),
        "{loss:?}"
    );
    pair.node.heal();
}

#[tokio::test]
async fn a_hung_node_times_out_rest_calls() {
    let pair = pair_with(|config| config.request_timeout = Duration::from_millis(300)).await;
    pair.node.hang();
    let error = pair.client.rest().version().await.expect_err("hung");
    assert!(
        matches!(
            error,
            RestError::Timeout {
                endpoint: Endpoint::Version,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(pair.client.rest().latency(Endpoint::Version).failed >= 1);
    pair.node.heal();
}

#[tokio::test]
async fn a_slow_node_answers_late_and_the_latency_shows_it() {
    let pair = pair().await;
    pair.node.slow(Duration::from_millis(150));
    pair.client
        .rest()
        .version()
        .await
        .expect("slow but answers");
    let latency = pair.client.rest().latency(Endpoint::Version);
    assert!(latency.last >= Duration::from_millis(150), "{latency:?}");
    pair.node.heal();
}

#[tokio::test]
async fn a_failing_node_gives_typed_server_errors() {
    let pair = pair().await;
    pair.node.error_rate(1.0, 7);
    let error = pair
        .client
        .rest()
        .stats()
        .await
        .expect_err("every call fails");
    assert!(
        matches!(
            &error,
            RestError::Api {
                status: 500,
                body: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    pair.node.heal();
    pair.client.rest().stats().await.expect("healed");
}

#[tokio::test]
async fn close_ends_the_session_and_its_players() {
    let mut pair = pair().await;
    let track = encoded(pair.client.rest(), "sim:length:600000").await;
    pair.client
        .update_player(GUILD, &play(track), false)
        .await
        .expect("play");
    pair.client.close().await;
    let reason = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Stopped(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, StopReason::Closed);
    pair.node.settle().await;
    let error = pair
        .client
        .rest()
        .player(&pair.session_id, GUILD)
        .await
        .expect_err("the session is gone");
    assert!(error.is_not_found(), "{error:?}");
}

#[tokio::test]
async fn detach_leaves_the_session_for_a_successor_that_resumes_it() {
    let mut pair = pair().await;
    wait_for(&mut pair.events, |event| {
        matches!(event, NodeEvent::ResumeEnabled(_)).then_some(())
    })
    .await;
    let track = encoded(pair.client.rest(), "sim:length:600000").await;
    pair.client
        .update_player(GUILD, &play(track), false)
        .await
        .expect("play");
    let handed_over = pair.client.detach().await.expect("a session to hand over");
    let reason = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Stopped(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        StopReason::Detached {
            session_id: Some(handed_over.clone())
        }
    );

    // A successor process resumes the session it did not create.
    let mut config: NodeConfig = client_config(&pair.node);
    config.resume_session = Some(handed_over.clone());
    let (successor, mut events) = NodeClient::connect(config, pair.clock.shared());
    let (session, resumed) = wait_ready(&mut events).await;
    assert!(resumed);
    assert_eq!(session, handed_over);
    let player = successor.player(GUILD).await.expect("the player survived");
    assert!(player.track.is_some());
}

#[tokio::test]
async fn a_voice_close_arrives_as_a_websocket_closed_event() {
    let mut pair = pair().await;
    let track = encoded(pair.client.rest(), "sim:length:600000").await;
    pair.client
        .update_player(GUILD, &play(track), false)
        .await
        .expect("play");
    // 4014 (disconnected) is not one Discord's voice client retries by itself.
    pair.node
        .close_voice(GUILD, 4014, "Disconnected.")
        .expect("close the voice socket");
    let closed = wait_for(&mut pair.events, |event| match event {
        NodeEvent::Event(received) => match &received.value {
            Event::WebSocketClosed(closed) => Some(closed.clone()),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(closed.guild_id, GUILD);
    assert_eq!(closed.code, 4014);
    assert!(closed.by_remote);
    let connected = wait_for(&mut pair.events, |event| match event {
        NodeEvent::PlayerUpdate(update) => Some(update.value.state.connected),
        _ => None,
    })
    .await;
    assert!(!connected, "the player reports its voice connection down");
}

#[tokio::test]
async fn an_overloaded_node_shows_in_its_stats() {
    let pair = pair().await;
    let before = pair.client.rest().stats().await.expect("stats");
    pair.node.overload(0.95, Duration::from_secs(10));
    pair.clock.advance(Duration::from_secs(10));
    let after = pair.client.rest().stats().await.expect("stats");
    assert!(
        after.cpu.system_load > before.cpu.system_load + 0.5,
        "load {} -> {}",
        before.cpu.system_load,
        after.cpu.system_load
    );
    assert!(pair.client.state().is_connected(), "overload is not a loss");
}
