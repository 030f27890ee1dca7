//! A successor process takes up the Lavalink sessions its predecessor detached: the players play
//! on where they were (nothing recreated, no gap), join its ledger, and its events for them
//! flow; a session the node no longer has is reported gone. Time is a manual clock.

mod common;

use std::time::Duration;

use cluster::{Cluster, ClusterEvent, HandoverOutcome};
use common::{GUARD, config_for, play, rig};
use lavalink::model::{Event, GuildId};

const PLAYERS: u64 = 5;

async fn taken_up(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
) -> (HandoverOutcome, usize) {
    tokio::time::timeout(GUARD, async {
        loop {
            match events.recv().await {
                Some(ClusterEvent::HandoverTaken {
                    outcome, players, ..
                }) => return (outcome, players),
                Some(_) => {}
                None => panic!("the successor's cluster stopped"),
            }
        }
    })
    .await
    .expect("the handover was taken up in time")
}

#[tokio::test]
async fn a_successor_adopts_the_detached_players_as_they_play() {
    let rig = rig(1).await;
    let placed = rig.start_players(PLAYERS, 600_000).await;
    // One more with a short track, to see its end reach the successor.
    let short = GuildId(PLAYERS + 1);
    let encoded = rig.track(30_000).await;
    rig.cluster
        .update(short, play(&encoded, short))
        .await
        .expect("play the short track");
    rig.wait_started([&short]).await;
    rig.clock.advance(Duration::from_secs(20));
    let guilds: Vec<GuildId> = placed.keys().copied().collect();
    rig.wait_observed(&guilds, 20_000).await;
    let session = rig.node("sim-1").sessions()[0].id.clone();

    let detached = rig.cluster.shutdown(true).await;
    assert_eq!(detached.len(), 1);
    assert_eq!(detached[0].session_id, session);
    // Between the two processes the node plays on by itself.
    rig.clock.advance(Duration::from_secs(5));
    rig.node("sim-1").settle().await;
    assert_eq!(rig.sim_position("sim-1", guilds[0]), Some(25_000));

    let (successor, mut events) =
        Cluster::start_resuming(config_for(&rig.nodes), rig.clock.shared(), &detached)
            .expect("the successor's cluster");
    let (outcome, players) = taken_up(&mut events).await;
    assert_eq!(outcome, HandoverOutcome::Adopted);
    assert_eq!(players, placed.len() + 1);
    tokio::time::timeout(GUARD, successor.handover_settled())
        .await
        .expect("settled");

    // The same session, the same players, never restarted: their position went on.
    let sessions = rig.node("sim-1").sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, session);
    assert!(sessions[0].connected);
    for guild in &guilds {
        let view = successor.player(*guild).expect("adopted");
        assert_eq!(view.record.node.as_deref(), Some("sim-1"));
        assert!(view.record.track.is_some());
        assert!(view.record.voice.is_some());
        assert!(view.record.is_playing(), "{view:?}");
        assert_eq!(view.position_ms, 25_000, "guild {guild}");
        assert_eq!(rig.sim_position("sim-1", *guild), Some(25_000));
    }

    // The node's events for an adopted player reach the successor.
    rig.clock.advance(Duration::from_secs(6));
    rig.node("sim-1").settle().await;
    tokio::time::timeout(GUARD, async {
        loop {
            if let Some(ClusterEvent::Player {
                guild,
                event: Event::TrackEnd(_),
                ..
            }) = events.recv().await
                && guild == short
            {
                return;
            }
        }
    })
    .await
    .expect("the short track's end reached the successor");
    // And the successor controls them on the same session.
    let update = lavalink::model::UpdatePlayer {
        paused: Some(true),
        ..lavalink::model::UpdatePlayer::default()
    };
    successor.update(guilds[0], update).await.expect("pause");
    let player = rig
        .node("sim-1")
        .player(&session, guilds[0])
        .expect("still there");
    assert!(player.paused);
    successor.shutdown(false).await;
}

#[tokio::test]
async fn a_session_the_node_no_longer_has_is_reported_gone() {
    let rig = rig(1).await;
    let placed = rig.start_players(2, 600_000).await;
    let detached = rig.cluster.shutdown(true).await;
    assert_eq!(detached.len(), 1);
    // Past the session's resume timeout the node destroys it with its players.
    rig.clock.advance(Duration::from_secs(61));
    rig.node("sim-1").settle().await;
    assert!(rig.node("sim-1").sessions().is_empty());

    let (successor, mut events) =
        Cluster::start_resuming(config_for(&rig.nodes), rig.clock.shared(), &detached)
            .expect("the successor's cluster");
    assert_eq!(
        taken_up(&mut events).await,
        (HandoverOutcome::SessionGone, 0)
    );
    tokio::time::timeout(GUARD, successor.handover_settled())
        .await
        .expect("settled");
    for guild in placed.keys() {
        assert!(successor.player(*guild).is_none());
    }
    successor.shutdown(false).await;
}
