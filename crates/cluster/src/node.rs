//! Each node's two tasks: the pump, which applies its client's events to the cluster in order, and
//! the prober, which checks `/version` and `/v4/stats` on a fixed beat and drives the breaker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lavalink::client::{Loss, NodeEvent, Received, StopReason};
use lavalink::model::{Event, PlayerUpdate, Stats};
use tokio::sync::mpsc;

use crate::breaker::CircuitState;
use crate::cluster::{Inner, Link, Node};
use crate::events::{ClusterEvent, HandoverOutcome, MoveCause};
use crate::failover;
use crate::ledger::same_play;

/// Applies one node's events in the order its client reported them.
pub(crate) async fn pump(
    inner: Arc<Inner>,
    name: String,
    generation: u64,
    mut events: mpsc::Receiver<NodeEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            NodeEvent::Ready {
                session_id,
                resumed,
            } => {
                // A predecessor's session: its players join the ledger before any of the node's
                // events is applied (events of guilds the ledger does not know are dropped).
                if let Some(client) = on_ready(&inner, &name, generation, &session_id, resumed) {
                    adopt(&inner, &name, generation, &session_id, &client).await;
                }
            }
            NodeEvent::Stats(stats) => on_stats(&inner, &name, generation, stats),
            NodeEvent::PlayerUpdate(update) => on_player_update(&inner, &name, generation, update),
            NodeEvent::Event(event) => on_player_event(&inner, &name, generation, event),
            NodeEvent::Lost(loss) => on_lost(&inner, &name, generation, &loss),
            NodeEvent::Stopped(reason) => on_stopped(&inner, &name, generation, &reason),
            NodeEvent::ResumeConfigFailed(error) => {
                // A server without session resuming (NodeLink answers 404): nothing would resume
                // after a lost socket, so waiting for it would only lengthen the silence.
                let unsupported = error.is_not_found();
                with_node(&inner, &name, generation, |node| {
                    node.resumable = !unsupported;
                });
                if unsupported {
                    tracing::warn!(node = %name, %error, "this node does not offer session resuming: a lost socket moves its players at once");
                } else {
                    tracing::warn!(node = %name, %error, "resuming is off for this node's session: a blip will move its players");
                }
            }
            NodeEvent::ResumeEnabled(_) => {
                with_node(&inner, &name, generation, |node| node.resumable = true);
            }
            NodeEvent::BadMessage(error) => {
                tracing::warn!(node = %name, %error, "node sent a message we could not read");
            }
            NodeEvent::Reconnecting { .. } | NodeEvent::Unknown(_) => {}
        }
    }
}

/// Runs `f` on the node if it is still the same generation (not removed and re-added).
fn with_node<R>(
    inner: &Inner,
    name: &str,
    generation: u64,
    f: impl FnOnce(&mut Node) -> R,
) -> Option<R> {
    let mut state = inner.lock();
    state
        .nodes
        .get_mut(name)
        .filter(|n| n.generation == generation)
        .map(f)
}

/// The node is ready. Returns its client when the session is one handed over by a predecessor
/// and resumed: its players are to be adopted.
fn on_ready(
    inner: &Arc<Inner>,
    name: &str,
    generation: u64,
    session: &str,
    resumed: bool,
) -> Option<lavalink::client::NodeClient> {
    let now = inner.now();
    let (stranded, was_resuming, handed_over) = {
        let mut state = inner.lock();
        let node = state
            .nodes
            .get_mut(name)
            .filter(|n| n.generation == generation)?;
        let was_resuming = matches!(node.link, Link::Resuming { .. });
        let handed_over = node
            .handover
            .take()
            .map(|handed| (handed == session && resumed, node.client.clone()));
        node.link = Link::Up {
            session: session.to_owned(),
        };
        node.last_alive = Some(now);
        node.alive_until = None;
        node.loss_epoch += 1;
        if !resumed {
            // A new session: whatever we left on an old one is gone with it.
            node.orphans.retain(|(s, _)| *s == session);
        }
        let stranded: Vec<_> = if resumed {
            Vec::new()
        } else {
            state
                .players
                .values()
                .filter(|p| p.node.as_deref() == Some(name))
                .map(|p| p.guild)
                .collect()
        };
        (stranded, was_resuming, handed_over)
    };
    tracing::info!(
        node = name,
        resumed,
        was_resuming,
        stranded = stranded.len(),
        "node ready"
    );
    let adopt_with = match handed_over {
        Some((true, client)) => client,
        Some((false, _)) => {
            tracing::warn!(
                node = name,
                "the handed-over session did not resume: its players are gone and start again from the store"
            );
            inner.emit(ClusterEvent::HandoverTaken {
                node: name.to_owned(),
                outcome: HandoverOutcome::SessionGone,
                players: 0,
            });
            inner.settle_handover();
            None
        }
        None => None,
    };
    inner.emit(ClusterEvent::NodeReady {
        node: name.to_owned(),
        resumed,
    });
    if !stranded.is_empty() {
        // The node forgot our session (a restart): its players must be recreated elsewhere.
        with_node(inner, name, generation, |n| n.alive_until = Some(now));
        failover::move_all(inner, name, &stranded, MoveCause::SessionLost);
    }
    failover::clean_orphans(inner, name);
    failover::place_pending(inner);
    adopt_with
}

/// Takes a predecessor's players on a resumed session into the ledger as they are (track,
/// position, pause, volume, filters, voice): they play on, and the node's events for them are
/// applied from now on. A guild the ledger already has is left as it is.
async fn adopt(
    inner: &Arc<Inner>,
    name: &str,
    generation: u64,
    session: &str,
    client: &lavalink::client::NodeClient,
) {
    let listed = client.rest().players(session).await;
    let now = inner.now();
    let (outcome, players) = match listed {
        Ok(players) => {
            let mut state = inner.lock();
            let current = state
                .nodes
                .get(name)
                .is_some_and(|n| n.generation == generation);
            let mut adopted = 0;
            for player in players.iter().filter(|_| current) {
                if state.players.contains_key(&player.guild_id) {
                    continue;
                }
                state.players.insert(
                    player.guild_id,
                    crate::ledger::PlayerRecord::adopted(player, name, now),
                );
                adopted += 1;
            }
            (HandoverOutcome::Adopted, adopted)
        }
        Err(error) => {
            tracing::warn!(node = name, %error, "could not list the handed-over session's players: they start again from the store");
            (HandoverOutcome::ListFailed, 0)
        }
    };
    tracing::info!(
        node = name,
        players,
        outcome = outcome.as_str(),
        "took up a handed-over Lavalink session"
    );
    inner.emit(ClusterEvent::HandoverTaken {
        node: name.to_owned(),
        outcome,
        players,
    });
    inner.settle_handover();
}

fn on_stats(inner: &Inner, name: &str, generation: u64, stats: Received<Stats>) {
    with_node(inner, name, generation, |node| {
        node.load_is_average |= crate::selection::is_load_average(&stats.value.cpu);
        node.stats = Some(stats.value);
        node.placed_since_stats = 0;
        node.last_alive = Some(stats.at);
    });
}

fn on_player_update(inner: &Inner, name: &str, generation: u64, update: Received<PlayerUpdate>) {
    let mut state = inner.lock();
    let Some(node) = state
        .nodes
        .get_mut(name)
        .filter(|n| n.generation == generation)
    else {
        return;
    };
    node.last_alive = Some(update.at);
    if let Some(record) = state.players.get_mut(&update.value.guild_id)
        && record.node.as_deref() == Some(name)
    {
        record.observe(&update.value.state, update.at);
    }
}

fn on_player_event(inner: &Arc<Inner>, name: &str, generation: u64, event: Received<Event>) {
    let Some(guild) = event.value.guild_id() else {
        return;
    };
    let (after_move, soft_drain_idle) = {
        let mut state = inner.lock();
        let Some(node) = state
            .nodes
            .get_mut(name)
            .filter(|n| n.generation == generation)
        else {
            return;
        };
        node.last_alive = Some(event.at);
        let soft_draining = node
            .drain
            .as_ref()
            .is_some_and(|d| d.mode == crate::events::DrainMode::Soft);
        let Some(record) = state.players.get_mut(&guild) else {
            return;
        };
        if record.node.as_deref() != Some(name) {
            // From a node this player has left (a move, a drain): not the bot's business.
            tracing::debug!(node = name, guild = %guild, "event from a former node dropped");
            return;
        }
        let mut idle = false;
        // Some servers start a player twice (NodeLink, for a PATCH carrying a position or
        // filters): a TrackStart of the play already started only repeats it.
        let mut repeated = false;
        match &event.value {
            Event::TrackStart(start) => {
                repeated = record.started
                    && record
                        .track
                        .as_ref()
                        .is_some_and(|current| same_play(current, &start.track));
                record.start(event.at);
                record.track = Some(start.track.clone());
            }
            Event::TrackEnd(end)
                if end.reason.may_start_next() || end.reason.as_str() == "stopped" =>
            {
                record.started = false;
                record.track = None;
                record.position.position_ms = 0;
                record.position.at = event.at;
                idle = soft_draining;
            }
            Event::WebSocketClosed(_) => {
                record.connected = false;
            }
            _ => {}
        }
        let after_move = matches!(event.value, Event::TrackStart(_))
            && (state.after_move.remove(&guild) || repeated);
        if repeated {
            tracing::debug!(node = name, guild = %guild, "a repeated TrackStart of the same play");
        }
        (after_move, idle)
    };
    inner.emit(ClusterEvent::Player {
        guild,
        node: name.to_owned(),
        event: event.value,
        after_move,
    });
    if soft_drain_idle {
        failover::spawn_idle_drain_move(inner, guild, name.to_owned());
    }
}

fn on_lost(inner: &Arc<Inner>, name: &str, generation: u64, loss: &Loss) {
    let now = inner.now();
    inner.emit(ClusterEvent::NodeLost {
        node: name.to_owned(),
        loss: loss.kind().to_owned(),
    });
    let resumable = with_node(inner, name, generation, |node| node.resumable).unwrap_or(true);
    let cause = match loss {
        Loss::GracefulClose { .. } => Some(MoveCause::GracefulClose),
        Loss::Silence { .. } => Some(MoveCause::Silence),
        Loss::AuthRefused { .. } => Some(MoveCause::AuthRefused),
        // Might be a blip: wait for a resume first, if the node can resume at all.
        Loss::AbnormalClose { .. } | Loss::Reset { .. } | Loss::FrameTooLarge { .. } => {
            (!resumable).then_some(MoveCause::ConnectionLost)
        }
        // The node's process is gone (nothing listens): if we were waiting for its session to
        // resume, stop waiting, there is nothing left to resume.
        Loss::ConnectionRefused { .. } => {
            give_up_resume(inner, name, generation);
            return;
        }
        // Already lost: another failed reconnect attempt changes nothing.
        Loss::HandshakeRefused { .. } => return,
    };
    let window = inner.config.failover.resume_window;
    let Some((transition, epoch)) = with_node(inner, name, generation, |node| {
        node.loss_epoch += 1;
        // Audio stopped when the node did: at its last sign of life for a hang, now otherwise.
        node.alive_until = Some(match loss {
            Loss::Silence { .. } => node.last_sign_of_life().unwrap_or(now),
            _ => now,
        });
        let transition = if cause.is_some() {
            node.link = Link::Down;
            node.breaker.trip(now)
        } else {
            node.link = Link::Resuming {
                until: now + window,
            };
            None
        };
        (transition, node.loss_epoch)
    }) else {
        return;
    };
    inner.emit_transition(name, transition);
    if let Some(cause) = cause {
        failover::move_node(inner, name, cause);
    } else {
        let inner = Arc::clone(inner);
        let name = name.to_owned();
        tokio::spawn(async move {
            inner.clock.sleep(window).await;
            let expired = with_node(&inner, &name, generation, |node| {
                if node.loss_epoch == epoch && matches!(node.link, Link::Resuming { .. }) {
                    node.link = Link::Down;
                    Some(node.breaker.trip(inner.clock.now()))
                } else {
                    None
                }
            })
            .flatten();
            if let Some(transition) = expired {
                tracing::warn!(node = %name, "session did not resume in time; moving players");
                inner.emit_transition(&name, transition);
                failover::move_node(&inner, &name, MoveCause::ConnectionLost);
            }
        });
    }
}

/// Ends a resume window early and moves the node's players.
fn give_up_resume(inner: &Arc<Inner>, name: &str, generation: u64) {
    let now = inner.now();
    let transition = with_node(inner, name, generation, |node| {
        if matches!(node.link, Link::Resuming { .. }) {
            node.link = Link::Down;
            node.loss_epoch += 1;
            Some(node.breaker.trip(now))
        } else {
            None
        }
    })
    .flatten();
    if let Some(transition) = transition {
        tracing::warn!(
            node = name,
            "node refuses connections; its session is gone, moving players"
        );
        inner.emit_transition(name, transition);
        failover::move_node(inner, name, MoveCause::ConnectionLost);
    }
}

fn on_stopped(inner: &Arc<Inner>, name: &str, generation: u64, reason: &StopReason) {
    let now = inner.now();
    let transition = with_node(inner, name, generation, |node| {
        if node.handover.take().is_some() {
            // It gave up before it was ready: there is nothing to adopt.
            inner.settle_handover();
        }
        node.link = Link::Down;
        node.alive_until.get_or_insert(now);
        node.breaker.trip(now)
    })
    .flatten();
    inner.emit_transition(name, transition);
    if !matches!(reason, StopReason::Closed | StopReason::Detached { .. }) {
        failover::move_node(inner, name, MoveCause::ConnectionLost);
    }
}

/// Probes the node on a fixed beat (faster after a failure) and drives its breaker.
pub(crate) async fn probe_loop(inner: Arc<Inner>, name: String, generation: u64) {
    let probe = inner.config.probe;
    loop {
        let Some((client, wait)) = with_node(&inner, &name, generation, |node| {
            let retrying = node.breaker.consecutive_failures() > 0
                || node.breaker.state() != CircuitState::Closed;
            (
                node.client.clone(),
                if retrying {
                    probe.retry_interval
                } else {
                    probe.interval
                },
            )
        }) else {
            return;
        };
        let Some(client) = client else { return };
        inner.clock.sleep(wait).await;
        let transition =
            with_node(&inner, &name, generation, |n| n.breaker.poll(inner.now())).flatten();
        inner.emit_transition(&name, transition);

        #[allow(
            clippy::disallowed_methods,
            reason = "a probe's round trip is real latency"
        )]
        let started = Instant::now();
        let sent_at = inner.now();
        let result = tokio::time::timeout(probe.timeout, async {
            client.rest().version().await?;
            client.rest().stats().await
        })
        .await;
        #[allow(
            clippy::disallowed_methods,
            reason = "a probe's round trip is real latency"
        )]
        let rtt = started.elapsed();
        let now = inner.now();
        let ok = matches!(result, Ok(Ok(_)));
        let Some((transition, opened, closed)) = with_node(&inner, &name, generation, |node| {
            let transition = if let Ok(Ok(stats)) = &result {
                node.rtt = Some(rtt);
                node.last_alive = Some(now);
                node.load_is_average |= crate::selection::is_load_average(&stats.cpu);
                // Keep the socket's frame stats: the REST stats never carry them.
                let frames = node.stats.and_then(|s| s.frame_stats);
                node.stats = Some(Stats {
                    frame_stats: frames,
                    ..*stats
                });
                node.placed_since_stats = 0;
                node.breaker.record_success(now)
            } else if result.is_err()
                && (node.last_sign_of_life().is_some_and(|t| t >= sent_at)
                    || node.window.view().in_flight > 0)
            {
                // The probe timed out, but the node answered something else meanwhile (our own
                // moves, a message on its socket), or is still working on moves we sent it
                // (their own answers or timeouts will tell): it is busy, not dead. Slow counts
                // against it in selection; silence, errors, or timeouts once none of our moves
                // is waiting on it open its circuit (a hung node's moves time out first).
                tracing::debug!(node = %name, "probe timed out while the node answered other requests: counted as slow");
                node.rtt = Some(rtt);
                None
            } else {
                node.breaker.record_failure(now)
            };
            let opened = transition.is_some_and(|t| matches!(t.to, CircuitState::Open { .. }));
            let closed = transition.is_some_and(|t| t.to == CircuitState::Closed);
            if opened {
                // A hang: audio stopped at the node's last sign of life.
                node.alive_until
                    .get_or_insert(node.last_sign_of_life().unwrap_or(now));
            }
            if node.breaker.is_closed() && matches!(node.link, Link::Up { .. }) {
                node.alive_until = None;
            }
            (transition, opened, closed)
        }) else {
            return;
        };
        inner.emit(ClusterEvent::Probe {
            node: name.clone(),
            ok,
            rtt: if ok { rtt } else { rtt.max(Duration::ZERO) },
        });
        if !ok {
            tracing::debug!(node = %name, ?result, "probe failed");
        }
        inner.emit_transition(&name, transition);
        if opened {
            tracing::warn!(node = %name, "probes failed; moving players off the node");
            failover::move_node(&inner, &name, MoveCause::ProbeFailed);
        }
        if closed {
            failover::clean_orphans(&inner, &name);
            failover::place_pending(&inner);
        }
        if ok && with_node(&inner, &name, generation, |n| !n.orphans.is_empty()).unwrap_or(false) {
            failover::clean_orphans(&inner, &name);
        }
    }
}
