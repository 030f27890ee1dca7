//! Chaos against stand-in nodes: crashes, graceful shutdowns, hangs, slowness, total outages,
//! drains and nodes that join at run time. Time is a manual clock, so positions are exact.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cluster::{Applied, ClusterEvent, DrainMode, MoveCause, MoveOutcome};
use common::{node_spec, play, rig, rig_with};
use lavalink::model::GuildId;

/// Checks that every moved player plays on a node other than `lost`, at the position it had.
fn check_moves(
    moves: &[ClusterEvent],
    lost: &str,
    truth: &HashMap<GuildId, u64>,
    cause: MoveCause,
    tolerance_ms: u64,
) {
    let mut seen = HashSet::new();
    for event in moves {
        let ClusterEvent::MoveFinished {
            guild,
            from,
            to,
            cause: moved_for,
            outcome,
            position_ms,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!(from.as_deref(), Some(lost));
        assert_eq!(*moved_for, cause);
        assert_eq!(*outcome, MoveOutcome::Moved, "{event:?}");
        let to = to.as_deref().expect("a target");
        assert_ne!(to, lost);
        let expected = truth[guild];
        assert!(
            position_ms.abs_diff(expected) <= tolerance_ms,
            "guild {guild}: moved at {position_ms} ms, was at {expected} ms"
        );
        assert!(seen.insert(*guild), "guild {guild} moved twice");
    }
}

#[tokio::test]
async fn a_crashed_node_loses_no_player_and_no_position() {
    let mut rig = rig_with(3, |config| {
        config.failover.resume_window = Duration::from_secs(3);
    })
    .await;
    let placed = rig.start_players(300, 600_000).await;
    // Playerupdates go out every 5 s; let the ledger read the one at 40 s, then move on to a
    // moment between updates, which the cluster must extrapolate.
    rig.clock.advance(Duration::from_secs(40));
    let all: Vec<GuildId> = placed.keys().copied().collect();
    rig.wait_observed(&all, 40_000).await;
    rig.clock.advance(Duration::from_millis(2_500));
    let victim = "sim-2";
    let victims: Vec<GuildId> = placed
        .iter()
        .filter(|(_, n)| n.as_str() == victim)
        .map(|(g, _)| *g)
        .collect();
    assert!(
        victims.len() > 50,
        "selection spread the players: {}",
        victims.len()
    );
    let truth: HashMap<GuildId, u64> = victims
        .iter()
        .map(|g| (*g, rig.sim_position(victim, *g).expect("playing")))
        .collect();
    assert!(truth.values().all(|p| *p == 42_500), "{truth:?}");

    rig.node(victim).crash();
    rig.wait_for(|e| {
        matches!(e, ClusterEvent::NodeLost { node, .. } if node == victim).then_some(())
    })
    .await;
    // An abnormal loss first waits for a resume; the crashed node never answers.
    rig.clock.advance(Duration::from_secs(3));
    let moves = rig.moves(victims.len()).await;
    check_moves(&moves, victim, &truth, MoveCause::ConnectionLost, 0);

    for guild in &victims {
        let view = rig.cluster.player(*guild).expect("kept");
        let node = view.record.node.expect("placed");
        assert_ne!(node, victim);
        assert_eq!(
            rig.sim_position(&node, *guild),
            Some(42_500),
            "playing on {node}"
        );
    }
    assert_eq!(rig.cluster.pending(), 0);
    assert_eq!(rig.cluster.guilds().len(), 300);
}

#[tokio::test]
async fn a_graceful_shutdown_moves_players_at_once() {
    let mut rig = rig(2).await;
    let placed = rig.start_players(20, 600_000).await;
    rig.clock.advance(Duration::from_secs(7));
    let victim = placed[&GuildId(1)].clone();
    let victims: Vec<GuildId> = placed
        .iter()
        .filter(|(_, n)| **n == victim)
        .map(|(g, _)| *g)
        .collect();
    let truth: HashMap<GuildId, u64> = victims.iter().map(|g| (*g, 7_000)).collect();
    rig.node(&victim).graceful_shutdown().await;
    // No clock step needed: a graceful close does not wait for a resume.
    let moves = rig.moves(victims.len()).await;
    check_moves(&moves, &victim, &truth, MoveCause::GracefulClose, 0);
}

#[tokio::test]
async fn a_hung_node_is_detected_and_its_players_resume_where_audio_stopped() {
    let mut rig = rig(2).await;
    let placed = rig.start_players(10, 600_000).await;
    let victim = placed[&GuildId(1)].clone();
    let victims = placed.values().filter(|n| **n == victim).count();
    // Two ping intervals of normal life: each ping answered at the instant it was sent.
    for _ in 0..2 {
        rig.clock.advance(Duration::from_secs(2));
        rig.wait_seen_now(&victim).await;
    }
    assert_eq!(rig.sim_position(&victim, GuildId(1)), Some(4_000));
    rig.node(&victim).hang();

    // Step time a second at a time until the node's circuit opens (a socket that stays silent
    // through pings, or probes that time out, whichever comes first).
    let mut detected_after = Duration::ZERO;
    loop {
        let step = Duration::from_secs(1);
        rig.clock.advance(step);
        detected_after += step;
        let opened = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match rig.events.recv().await {
                    Some(ClusterEvent::Circuit { node, to, .. })
                        if node == victim && to.as_str() == "open" =>
                    {
                        return;
                    }
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        if opened.is_ok() {
            break;
        }
        assert!(
            detected_after <= Duration::from_secs(12),
            "hang not detected within 12 s"
        );
    }
    // Within probe interval x threshold + timeout, the bound the defaults promise.
    assert!(
        detected_after <= Duration::from_secs(5 * 2 + 2),
        "{detected_after:?}"
    );
    let moves = rig.moves(victims).await;
    for event in &moves {
        let ClusterEvent::MoveFinished {
            position_ms,
            cause,
            to,
            ..
        } = event
        else {
            unreachable!()
        };
        assert!(
            matches!(cause, MoveCause::Silence | MoveCause::ProbeFailed),
            "{cause:?}"
        );
        assert!(to.as_deref().is_some_and(|t| t != victim));
        // Audio stopped when the node froze, at 4 s, which was its last sign of life: the player
        // resumes exactly there, not where a running estimate would have taken it.
        assert_eq!(*position_ms, 4_000);
    }
    rig.node(&victim).heal();
}

#[tokio::test]
async fn a_slow_node_is_penalised_not_declared_dead() {
    let mut rig = rig_with(2, |config| {
        config.probe.timeout = Duration::from_secs(2);
    })
    .await;
    rig.node("sim-1").slow(Duration::from_millis(250));
    // Let one probe round measure both.
    rig.clock.advance(Duration::from_secs(5));
    let mut measured = HashSet::new();
    while measured.len() < 2 {
        let (node, ok) = rig
            .wait_for(|e| match e {
                ClusterEvent::Probe { node, ok, .. } => Some((node.clone(), *ok)),
                _ => None,
            })
            .await;
        assert!(ok, "{node} failed its probe");
        measured.insert(node);
    }
    let views = rig.cluster.nodes();
    assert!(views.iter().all(|v| v.eligible), "{views:?}");
    let placed = rig.start_players(6, 600_000).await;
    assert!(
        placed.values().all(|n| n == "sim-2"),
        "new players avoid the slow node: {placed:?}"
    );
    rig.node("sim-1").heal();
}

#[tokio::test]
async fn with_every_node_down_players_wait_and_resume_when_one_returns() {
    let mut rig = rig(2).await;
    let placed = rig.start_players(6, 600_000).await;
    rig.clock.advance(Duration::from_secs(3));
    for node in &rig.nodes {
        node.graceful_shutdown().await;
    }
    let moves = rig.moves(placed.len()).await;
    assert!(moves.iter().all(|m| matches!(
        m,
        ClusterEvent::MoveFinished {
            outcome: MoveOutcome::Pending,
            ..
        }
    )));
    assert_eq!(rig.cluster.pending(), 6);
    assert!(!rig.cluster.has_eligible_node());

    // A command while everything is down is kept, not lost.
    let paused = lavalink::model::UpdatePlayer {
        volume: Some(55),
        ..lavalink::model::UpdatePlayer::default()
    };
    assert_eq!(
        rig.cluster.update(GuildId(1), paused).await.expect("kept"),
        Applied::Kept
    );

    // One node comes back: its circuit half-opens after the open time, a probe closes it, and the
    // pending players are placed on it at the positions they had.
    rig.node("sim-1").restart().await.expect("restart");
    loop {
        rig.clock.advance(Duration::from_secs(1));
        let placed_back = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                if let Some(ClusterEvent::MoveFinished {
                    cause: MoveCause::Pending,
                    outcome: MoveOutcome::Moved,
                    ..
                }) = rig.events.recv().await
                {
                    return;
                }
            }
        })
        .await;
        if placed_back.is_ok() {
            break;
        }
    }
    // Every other pending player is placed too (a claim is not yet a placement: wait for the
    // moves to finish).
    for _ in 1..placed.len() {
        rig.wait_for(|e| {
            matches!(
                e,
                ClusterEvent::MoveFinished {
                    cause: MoveCause::Pending,
                    outcome: MoveOutcome::Moved,
                    ..
                }
            )
            .then_some(())
        })
        .await;
    }
    assert_eq!(rig.cluster.pending(), 0, "players still pending");
    let view = rig.cluster.player(GuildId(1)).expect("kept");
    assert_eq!(view.record.node.as_deref(), Some("sim-1"));
    assert_eq!(
        view.record.volume, 55,
        "the command given while down was applied"
    );
    assert_eq!(rig.sim_position("sim-1", GuildId(1)), Some(3_000));
}

#[tokio::test]
async fn a_hard_drain_moves_everyone_now_and_reports() {
    let mut rig = rig(2).await;
    let placed = rig.start_players(8, 600_000).await;
    rig.clock.advance(Duration::from_secs(2));
    let drained = "sim-1";
    let on_it = placed.values().filter(|n| *n == drained).count();
    rig.cluster.drain(drained, DrainMode::Hard).expect("drain");
    let report = rig
        .wait_for(|e| match e {
            ClusterEvent::DrainComplete(report) => Some(report.clone()),
            _ => None,
        })
        .await;
    assert_eq!(report.moved, on_it);
    assert_eq!(report.failed, 0);
    for guild in placed.keys() {
        let node = rig
            .cluster
            .player(*guild)
            .and_then(|p| p.record.node)
            .expect("placed");
        assert_eq!(node, "sim-2");
        assert_eq!(rig.sim_position("sim-2", *guild), Some(2_000));
        assert_eq!(
            rig.sim_position(drained, *guild),
            None,
            "deleted on the source"
        );
    }
    // No new players go to a drained node... until it is enabled again.
    let views = rig.cluster.nodes();
    let progress = views
        .iter()
        .find(|v| v.name == drained)
        .and_then(|v| v.drain)
        .expect("drain progress shown");
    assert!(progress.completed);
    assert_eq!((progress.moved, progress.remaining), (on_it, 0));
    assert!(!views.iter().any(|v| v.name == drained && v.eligible));
    rig.cluster.enable(drained).expect("enable");
    assert!(
        rig.cluster
            .nodes()
            .iter()
            .any(|v| v.name == drained && v.eligible)
    );
}

#[tokio::test]
async fn a_soft_drain_moves_each_player_at_its_next_track() {
    let rig = rig(2).await;
    let placed = rig.start_players(4, 600_000).await;
    let drained = placed[&GuildId(1)].clone();
    rig.cluster.drain(&drained, DrainMode::Soft).expect("drain");
    // Playing players stay put...
    assert_eq!(
        rig.cluster.player(GuildId(1)).and_then(|p| p.record.node),
        Some(drained.clone())
    );
    // ...until their next track starts, which goes to another node.
    let next = rig.track(120_000).await;
    let applied = rig
        .cluster
        .update(GuildId(1), play(&next, GuildId(1)))
        .await
        .expect("next track");
    let Applied::OnNode(node) = applied else {
        panic!("not placed")
    };
    assert_ne!(node, drained);
    assert_eq!(
        rig.sim_position(&drained, GuildId(1)),
        None,
        "gone from the drained node"
    );
}

#[tokio::test]
async fn a_node_added_at_run_time_takes_new_players() {
    let mut rig = rig(1).await;
    let extra = sim::lavalink::SimNode::start(
        sim::lavalink::NodeConfig::default()
            .with_clock(rig.clock.shared())
            .with_name("late"),
    )
    .await
    .expect("stand-in");
    let busy = rig.start_players(5, 600_000).await;
    assert!(busy.values().all(|n| n == "sim-1"));
    rig.cluster.add_node(node_spec(&extra)).expect("add");
    rig.wait_for(|e| {
        matches!(e, ClusterEvent::NodeReady { node, .. } if node == "late").then_some(())
    })
    .await;
    let encoded = rig.track(60_000).await;
    let applied = rig
        .cluster
        .update(GuildId(99), play(&encoded, GuildId(99)))
        .await
        .expect("placed");
    assert_eq!(applied, Applied::OnNode("late".into()));

    // Bad input changes nothing.
    assert!(
        rig.cluster.add_node(node_spec(&extra)).is_err(),
        "duplicate"
    );
    assert!(
        rig.cluster.drain("nope", DrainMode::Hard).is_err(),
        "unknown"
    );
    let mut bad = node_spec(&extra);
    bad.name = "bad url".into();
    assert!(rig.cluster.add_node(bad).is_err());
    assert_eq!(rig.cluster.nodes().len(), 2);
    rig.nodes.push(extra);
}

#[tokio::test]
async fn a_network_blip_that_resumes_moves_nothing() {
    let mut rig = rig(2).await;
    let placed = rig.start_players(10, 600_000).await;
    let blipped = placed[&GuildId(1)].clone();
    let on_it: Vec<GuildId> = placed
        .iter()
        .filter(|(_, n)| **n == blipped)
        .map(|(g, _)| *g)
        .collect();
    rig.node(&blipped)
        .drop_connections(None)
        .expect("drop the sockets");
    let loss = rig
        .wait_for(|e| match e {
            ClusterEvent::NodeLost { node, loss } if *node == blipped => Some(loss.clone()),
            _ => None,
        })
        .await;
    assert_eq!(loss, "reset");
    // Step the clock through the reconnect backoff (well inside the resume window) until the
    // session is back; nothing may move on the way.
    let resumed = loop {
        rig.clock.advance(Duration::from_millis(50));
        let step = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                match rig.events.recv().await {
                    Some(ClusterEvent::NodeReady { node, resumed }) if node == blipped => {
                        return Some(resumed);
                    }
                    Some(ClusterEvent::MoveStarted { guild, .. }) => {
                        panic!("player {guild} moved during a blip")
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await;
        if let Ok(Some(resumed)) = step {
            break resumed;
        }
    };
    assert!(resumed, "the session resumed");
    // Past the resume window nothing moves either: the window's timer, had it not been defused by
    // the resume, would start the moves at once; give it a moment to show itself.
    rig.clock.advance(Duration::from_secs(4));
    let moved = tokio::time::timeout(Duration::from_millis(200), async {
        loop {
            match rig.events.recv().await {
                Some(ClusterEvent::MoveStarted { guild, .. }) => return guild,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(moved.is_err(), "moved after a resumed blip: {moved:?}");
    for guild in &on_it {
        assert_eq!(
            rig.cluster.player(*guild).and_then(|p| p.record.node),
            Some(blipped.clone())
        );
    }
}

/// Steps the clock a second at a time until `node`'s circuit closes; returns how long it took.
async fn seconds_until_closed(rig: &mut common::Rig, node: &str) -> u64 {
    for second in 1..=600 {
        rig.clock.advance(Duration::from_secs(1));
        // While the circuit is not closed the node is probed every second (a probe already
        // sleeping out the healthy 5 s beat may skip the first steps); a transition is emitted
        // right after the probe's result.
        let probed = tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                match rig.events.recv().await {
                    Some(ClusterEvent::Probe { node: n, .. }) if n == node => return,
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        if probed.is_err() {
            continue;
        }
        while let Ok(event) = rig.events.try_recv() {
            if let ClusterEvent::Circuit { node: n, to, .. } = event
                && n == node
                && to.as_str() == "closed"
            {
                return second;
            }
        }
    }
    panic!("{node} never recovered");
}

#[tokio::test]
async fn a_flapping_node_is_kept_out_longer_each_time() {
    let mut rig = rig(2).await;
    let flapper = "sim-1";
    let mut out_for = Vec::new();
    for _ in 0..4 {
        rig.node(flapper).graceful_shutdown().await;
        rig.wait_for(|e| {
            matches!(e, ClusterEvent::Circuit { node, to, .. } if node == flapper && to.as_str() == "open")
                .then_some(())
        })
        .await;
        rig.node(flapper).restart().await.expect("restart");
        out_for.push(seconds_until_closed(&mut rig, flapper).await);
    }
    // Open for 10 s, then the half-open probe closes it; from the third trip within five minutes
    // the open time doubles each time.
    assert!(out_for[0] <= 11 && out_for[1] <= 11, "{out_for:?}");
    assert!((20..=21).contains(&out_for[2]), "{out_for:?}");
    assert!((40..=41).contains(&out_for[3]), "{out_for:?}");
}

#[tokio::test]
async fn moved_players_spread_over_the_remaining_nodes() {
    let mut rig = rig(3).await;
    let placed = rig.start_players(90, 600_000).await;
    let victim = placed[&GuildId(1)].clone();
    let victims = placed.values().filter(|n| **n == victim).count();
    rig.node(&victim).graceful_shutdown().await;
    let moves = rig.moves(victims).await;
    let mut per_target: HashMap<String, usize> = HashMap::new();
    for event in &moves {
        if let ClusterEvent::MoveFinished { to: Some(to), .. } = event {
            *per_target.entry(to.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        per_target.len(),
        2,
        "both remaining nodes took players: {per_target:?}"
    );
    let (least, most) = (
        per_target.values().min().copied().unwrap_or(0),
        per_target.values().max().copied().unwrap_or(0),
    );
    assert!(most - least <= 2, "evenly spread: {per_target:?}");
}
