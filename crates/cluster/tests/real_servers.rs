//! Chaos against stand-ins that behave like the real servers we measured (NodeLink 2.3.0: player
//! PATCHes served one at a time, load averages for `systemLoad`, no session resuming, a second
//! TrackStart after a seek), and against tracks whose length the server does not know. Each test
//! here failed before the cluster learnt to live with that server (issue: failover on a real
//! server). Playback runs on a manual clock; only the serial PATCH service takes real time, as it
//! does on the server.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cluster::{ClusterConfig, ClusterEvent, MoveOutcome};
use common::{GUARD, Rig, play, rig_like};
use lavalink::model::{Event, GuildId, TrackInfo};
use sim::lavalink::{NodeConfig, ServerBehaviour};

/// NodeLink's behaviour, with its PATCH service time set to `each`.
fn nodelink(each: Option<Duration>) -> impl FnOnce(&mut NodeConfig) {
    move |config| {
        let mut behaviour = ServerBehaviour::nodelink();
        behaviour.serial_player_patches = each;
        *config = config.clone().with_behaviour(behaviour);
    }
}

/// Places players `first..=last`, a few at a time (one per node), and returns guild -> node.
async fn place(rig: &Rig, first: u64, last: u64, at_once: usize) -> HashMap<GuildId, String> {
    let encoded = rig.track(3_600_000).await;
    let guilds: Vec<GuildId> = (first..=last).map(GuildId).collect();
    let mut placed = HashMap::new();
    for batch in guilds.chunks(at_once) {
        let mut tasks = tokio::task::JoinSet::new();
        for &guild in batch {
            let cluster = rig.cluster.clone();
            let update = play(&encoded, guild);
            tasks.spawn(async move { (guild, cluster.update(guild, update).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            let (guild, applied) = joined.expect("placement task");
            match applied {
                Ok(cluster::Applied::OnNode(node)) => {
                    placed.insert(guild, node);
                }
                other => panic!("guild {guild} not placed: {other:?}"),
            }
        }
    }
    placed
}

/// The live stand-ins (not `except`) whose session holds a player with a track for `guild`.
fn nodes_playing(rig: &Rig, guild: GuildId, except: &str) -> Vec<String> {
    rig.nodes
        .iter()
        .filter(|n| n.name() != except && n.is_up())
        .filter(|n| {
            n.sessions()
                .iter()
                .any(|s| n.player(&s.id, guild).is_some_and(|p| p.track.is_some()))
        })
        .map(|n| n.name().to_owned())
        .collect()
}

/// Waits until every guild plays on exactly one live node, the one the cluster says (a guild
/// on two nodes is a ghost: two nodes sending its audio).
async fn wait_no_ghosts(rig: &Rig, guilds: &[GuildId], lost: &str) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let wrong: Vec<(GuildId, Vec<String>)> = guilds
            .iter()
            .map(|g| (*g, nodes_playing(rig, *g, lost)))
            .filter(|(g, on)| {
                let recorded = rig.cluster.player(*g).and_then(|p| p.record.node);
                on.len() != 1 || recorded.as_deref() != Some(on[0].as_str())
            })
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "guilds not played by exactly one node: {wrong:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The guilds on `node` and the position each stand-in plays them at now, once the cluster's
/// ledger has read the messages that tell it so (a failure guard bounds the wait).
async fn truth(rig: &Rig, placed: &HashMap<GuildId, String>, node: &str) -> HashMap<GuildId, u64> {
    let truth: HashMap<GuildId, u64> = placed
        .iter()
        .filter(|(_, n)| n.as_str() == node)
        .map(|(g, _)| (*g, rig.sim_position(node, *g).expect("playing")))
        .collect();
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let behind: Vec<_> = truth
            .iter()
            .filter(|(g, p)| rig.cluster.player(**g).map(|v| v.position_ms) != Some(**p))
            .collect();
        if behind.is_empty() {
            return truth;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger never caught up: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn busiest(placed: &HashMap<GuildId, String>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for node in placed.values() {
        *counts.entry(node).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(name, count)| (*count, std::cmp::Reverse(*name)))
        .map(|(name, _)| name.to_owned())
        .expect("a node")
}

#[tokio::test]
async fn players_placed_at_once_spread_over_nodes_that_report_load_averages() {
    // Three nodes on one busy machine: NodeLink reports `os.loadavg()[0]`, 8.4 on 16 cores. Read
    // as Lavalink's 0..1 fraction, 1.05^840 makes the players placed invisible and every one
    // goes to the same node.
    let mut rig = rig_like(
        3,
        |config| {
            config.cores = 16;
            nodelink(None)(config);
        },
        |_| {},
    )
    .await;
    for node in &rig.nodes {
        node.overload(0.5, Duration::ZERO);
    }
    // The next probes read the loaded stats.
    rig.clock.advance(Duration::from_secs(5));
    let mut probed = HashSet::new();
    while probed.len() < 3 {
        let node = rig
            .wait_for(|e| match e {
                ClusterEvent::Probe { node, ok: true, .. } => Some(node.clone()),
                _ => None,
            })
            .await;
        probed.insert(node);
    }
    let loads: Vec<f64> = rig
        .cluster
        .nodes()
        .iter()
        .filter_map(|v| v.system_load)
        .collect();
    assert!(loads.iter().all(|l| *l > 8.0), "load averages: {loads:?}");

    let placed = place(&rig, 1, 30, 30).await;
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for node in placed.values() {
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    assert!(per_node.values().all(|n| *n == 10), "{per_node:?}");
}

#[tokio::test]
async fn a_burst_onto_nodes_that_serve_one_patch_at_a_time_spreads_and_leaves_no_ghost() {
    // 80 ms per PATCH and a 700 ms request timeout: fifteen moves queued at one node would have
    // the last ones time out there, be carried out anyway, and play on two nodes at once.
    let mut rig = rig_like(3, nodelink(Some(Duration::from_millis(80))), |config| {
        config.client.request_timeout = Duration::from_millis(700);
    })
    .await;
    let placed = place(&rig, 1, 45, 3).await;
    // To a playerUpdate of every player (they go out every 5 s from the moment the audio
    // started), so that the ledger's last word is the position now.
    let start_up = ServerBehaviour::nodelink().audio_start_delay;
    rig.clock.advance(Duration::from_secs(40) + start_up);
    let victim = busiest(&placed);
    let truth = truth(&rig, &placed, &victim).await;
    assert!(truth.len() >= 12, "{} players on {victim}", truth.len());

    // The node has no session resuming: its players move at once, no resume window (the clock
    // does not move).
    rig.node(&victim).crash();
    let moves = rig.moves(truth.len()).await;
    let mut targets: HashMap<String, usize> = HashMap::new();
    for event in &moves {
        let ClusterEvent::MoveFinished {
            guild,
            from,
            to,
            outcome,
            position_ms,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!(from.as_deref(), Some(victim.as_str()));
        assert_eq!(*outcome, MoveOutcome::Moved, "{event:?}");
        assert_eq!(*position_ms, truth[guild], "guild {guild}");
        *targets.entry(to.clone().expect("a target")).or_default() += 1;
    }
    // Spread over both other nodes from the start.
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(
        targets.values().all(|n| *n * 4 >= truth.len()),
        "{targets:?}"
    );
    let guilds: Vec<GuildId> = placed.keys().copied().collect();
    wait_no_ghosts(&rig, &guilds, &victim).await;
}

#[tokio::test]
async fn probes_that_time_out_behind_our_moves_do_not_open_the_target() {
    // A probe waits behind the moves queued at a node that serves one PATCH at a time (250 ms
    // each); it times out (300 ms), but the node is busy with our own moves, not dead: its
    // circuit stays closed and its players stay.
    let mut rig = rig_like(3, nodelink(Some(Duration::from_millis(250))), |_| {}).await;
    let placed = place(&rig, 1, 30, 3).await;
    rig.clock.advance(Duration::from_secs(10));
    let victim = busiest(&placed);
    let victims = placed.values().filter(|n| **n == victim).count();
    rig.node(&victim).crash();
    rig.wait_for(|e| matches!(e, ClusterEvent::MoveStarted { .. }).then_some(()))
        .await;
    // Probe every node now, while the moves are queued at the targets, and once more at the
    // retry interval after the first failure.
    rig.clock.advance(Duration::from_secs(5));
    let mut finished = 0;
    let mut failed_probe = false;
    let mut events = Vec::new();
    while finished < victims {
        let event = rig.wait_for(|e| Some(e.clone())).await;
        match &event {
            ClusterEvent::MoveFinished { .. } => finished += 1,
            ClusterEvent::Probe {
                node, ok: false, ..
            } if *node != victim && !failed_probe => {
                failed_probe = true;
                rig.clock.advance(Duration::from_secs(1));
            }
            _ => {}
        }
        events.push(event);
    }
    assert!(
        failed_probe,
        "a probe of a busy target timed out (the set-up works)"
    );
    for event in &events {
        match event {
            ClusterEvent::Circuit { node, to, .. } if *node != victim => {
                panic!("{node}'s circuit went {to:?} while it answered our moves");
            }
            ClusterEvent::MoveStarted { from, .. } => {
                assert_eq!(
                    from.as_deref(),
                    Some(victim.as_str()),
                    "a healthy node's player moved"
                );
            }
            _ => {}
        }
    }
    assert!(
        rig.cluster
            .nodes()
            .iter()
            .filter(|v| v.name != victim)
            .all(|v| v.eligible),
        "{:?}",
        rig.cluster.nodes()
    );
}

#[tokio::test]
async fn a_new_player_starts_once_and_a_moved_one_is_not_reported_as_started_twice() {
    // NodeLink sends any `position` or `filters` through its seek path, which starts the player
    // a second time. A new player at 0 must carry neither; a moved one must carry its position,
    // and its second TrackStart only repeats the first.
    let mut rig = rig_like(2, nodelink(None), |_| {}).await;
    let placed = place(&rig, 1, 1, 1).await;
    let first = placed[&GuildId(1)].clone();
    let mut sent = rig.node(&first).subscribe();
    rig.clock.advance(Duration::from_secs(3));
    rig.node(&first).settle().await;
    let mut starts = 0;
    while let Ok(message) = sent.try_recv() {
        if matches!(
            message.message,
            lavalink::model::IncomingMessage::Event(Event::TrackStart(_))
        ) {
            starts += 1;
        }
    }
    assert_eq!(starts, 1, "a new player starts once");

    rig.cluster
        .drain(&first, cluster::DrainMode::Hard)
        .expect("drain");
    let moved = rig.moves(1).await;
    let ClusterEvent::MoveFinished {
        to, position_ms, ..
    } = &moved[0]
    else {
        unreachable!()
    };
    let target = to.clone().expect("moved");
    assert!(*position_ms >= 2_700, "moved at {position_ms}");
    rig.clock.advance(Duration::from_secs(3));
    let mut confirmations = Vec::new();
    while confirmations.len() < 2 {
        let after_move = rig
            .wait_for(|e| match e {
                ClusterEvent::Player {
                    node,
                    event: Event::TrackStart(_),
                    after_move,
                    ..
                } if *node == target => Some(*after_move),
                _ => None,
            })
            .await;
        confirmations.push(after_move);
    }
    assert_eq!(
        confirmations,
        [true, true],
        "both TrackStarts of the move only confirm it"
    );
}

#[tokio::test]
async fn a_node_without_session_resuming_moves_its_players_at_once() {
    let mut rig = rig_like(2, nodelink(None), |config: &mut ClusterConfig| {
        // A resume window the test never lets pass.
        config.failover.resume_window = Duration::from_secs(60);
    })
    .await;
    // The node refused to configure resuming (404) right after it was ready.
    let deadline = tokio::time::Instant::now() + GUARD;
    while rig.cluster.nodes().iter().any(|v| v.resumable) {
        assert!(tokio::time::Instant::now() < deadline, "never told");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let placed = place(&rig, 1, 6, 2).await;
    let victim = busiest(&placed);
    let victims = placed.values().filter(|n| **n == victim).count();
    rig.node(&victim).crash();
    let moves = rig.moves(victims).await;
    assert!(
        moves.iter().all(|m| matches!(
            m,
            ClusterEvent::MoveFinished {
                outcome: MoveOutcome::Moved,
                ..
            }
        )),
        "{moves:?}"
    );
}

#[tokio::test]
async fn a_track_of_unknown_length_plays_and_moves_at_its_position() {
    // NodeLink gives local files `length: -1`. Such a track must place, play on, and move at
    // its position (not be capped at a length it does not have).
    let mut rig = rig_like(2, |_| {}, |_| {}).await;
    let info = TrackInfo {
        identifier: "/music/unknown-length.mp3".into(),
        is_seekable: false,
        author: "unknown".into(),
        length: -1,
        is_stream: false,
        position: 0,
        title: "a local file".into(),
        uri: Some("/music/unknown-length.mp3".into()),
        artwork_url: None,
        isrc: None,
        source_name: "local".into(),
    };
    let encoded = lavalink::codec::encode_track(&info).expect("encodes");
    let guild = GuildId(1);
    let node = match rig.cluster.update(guild, play(&encoded, guild)).await {
        Ok(cluster::Applied::OnNode(node)) => node,
        other => panic!("not placed: {other:?}"),
    };
    rig.clock.advance(Duration::from_secs(30));
    assert_eq!(rig.sim_position(&node, guild), Some(30_000));
    rig.node(&node).crash();
    rig.wait_for(|e| matches!(e, ClusterEvent::NodeLost { .. }).then_some(()))
        .await;
    rig.clock.advance(Duration::from_secs(3));
    let moved = rig.moves(1).await;
    let ClusterEvent::MoveFinished {
        outcome,
        position_ms,
        ..
    } = &moved[0]
    else {
        unreachable!()
    };
    assert_eq!(*outcome, MoveOutcome::Moved);
    assert_eq!(*position_ms, 30_000);
}
