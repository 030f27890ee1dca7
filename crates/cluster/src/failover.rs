//! Moving players: off a lost node (failover), off a draining node (make-before-break), and out of
//! the pending set when a node returns. Each move is one complete PATCH on the target (track,
//! position, paused, volume, filters, end time, voice), never a dependency on the node left behind.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lavalink::client::RestError;
use lavalink::model::GuildId;

use crate::cluster::{Drain, Inner, Link};
use crate::events::{ClusterEvent, DrainReport, MoveCause, MoveOutcome};
use crate::ledger::{Observed, Recreate};
use crate::window::{Outcome, Reservation};

/// How long a soft-drained player that just went idle waits for the bot's next track before it is
/// moved idle.
const IDLE_DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Moves every player of `node` away.
pub(crate) fn move_node(inner: &Arc<Inner>, node: &str, cause: MoveCause) {
    let guilds: Vec<GuildId> = inner
        .lock()
        .players
        .values()
        .filter(|p| p.node.as_deref() == Some(node))
        .map(|p| p.guild)
        .collect();
    move_all(inner, node, &guilds, cause);
}

/// Moves these players of `node` away, each as its own task (bounded by the move permits).
pub(crate) fn move_all(inner: &Arc<Inner>, node: &str, guilds: &[GuildId], cause: MoveCause) {
    if guilds.is_empty() {
        return;
    }
    tracing::warn!(
        node,
        players = guilds.len(),
        cause = cause.as_str(),
        "moving players off the node"
    );
    let started = inner.now();
    for &guild in guilds {
        tokio::spawn(move_player(
            Arc::clone(inner),
            guild,
            Some(node.to_owned()),
            cause,
            started,
        ));
    }
}

/// A make-before-break move off a draining node.
pub(crate) fn spawn_drain_move(inner: &Arc<Inner>, guild: GuildId, from: String) {
    let started = inner.now();
    tokio::spawn(move_player(
        Arc::clone(inner),
        guild,
        Some(from),
        MoveCause::Drain,
        started,
    ));
}

/// A soft-drained player went idle: unless the bot starts its next track (which moves it) within
/// the grace, move it idle.
pub(crate) fn spawn_idle_drain_move(inner: &Arc<Inner>, guild: GuildId, from: String) {
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        inner.clock.sleep(IDLE_DRAIN_GRACE).await;
        let still_idle = inner
            .lock()
            .players
            .get(&guild)
            .is_some_and(|p| p.node.as_deref() == Some(from.as_str()) && p.track.is_none());
        if still_idle {
            spawn_drain_move(&inner, guild, from);
        }
    });
}

/// Places every pending player that has a complete voice state, if a node can take it.
pub(crate) fn place_pending(inner: &Arc<Inner>) {
    let guilds: Vec<GuildId> = {
        let state = inner.lock();
        if !state.nodes.values().any(crate::cluster::Node::eligible) {
            return;
        }
        state
            .players
            .values()
            .filter(|p| {
                p.node.is_none()
                    && p.voice
                        .as_ref()
                        .is_some_and(lavalink::model::VoiceState::is_complete)
            })
            .filter(|p| !state.in_flight.contains(&p.guild))
            .map(|p| p.guild)
            .collect()
    };
    if guilds.is_empty() {
        return;
    }
    tracing::info!(players = guilds.len(), "placing pending players");
    let started = inner.now();
    for guild in guilds {
        tokio::spawn(move_player(
            Arc::clone(inner),
            guild,
            None,
            MoveCause::Pending,
            started,
        ));
    }
}

/// Removes the guild from the in-flight set when the move ends, however it ends.
struct InFlight {
    inner: Arc<Inner>,
    guild: GuildId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.inner.lock().in_flight.remove(&self.guild);
    }
}

struct Target {
    name: String,
    client: lavalink::NodeClient,
    version: u64,
}

/// Moves one player from `from` (or out of the pending set) to the best other node, trying up to
/// `max_attempts` targets; with none left it waits in the pending set (a drain leaves it where it
/// is instead).
pub(crate) async fn move_player(
    inner: Arc<Inner>,
    guild: GuildId,
    from: Option<String>,
    cause: MoveCause,
    started: Instant,
) {
    if !inner.lock().in_flight.insert(guild) {
        return; // another move of this player is under way
    }
    let _in_flight = InFlight {
        inner: Arc::clone(&inner),
        guild,
    };
    let make_before_break = cause == MoveCause::Drain;
    inner.emit(ClusterEvent::MoveStarted {
        guild,
        from: from.clone(),
        cause,
    });
    let mut tried: HashSet<String> = from.iter().cloned().collect();
    let mut attempts = 0;
    let mut api_failures = 0;
    let mut strip_track = None::<String>;
    let max_attempts = inner.config.failover.max_attempts.max(1);
    while attempts < max_attempts {
        let Ok(_global) = Arc::clone(&inner.moves).acquire_owned().await else {
            return; // closed: shutting down
        };
        let Some((target, reservation)) = pick_target(&inner, guild, from.as_deref(), &tried)
        else {
            if still_here(&inner, guild, from.as_deref()) {
                break;
            }
            return;
        };
        let permit = reservation.ready().await;
        attempts += 1;
        // The position is computed at the last moment before the one PATCH.
        let Some((update, position, rewind)) = build_update(
            &inner,
            guild,
            from.as_deref(),
            make_before_break,
            strip_track.is_some(),
            &target.name,
        ) else {
            return;
        };
        // Claim the player for the target before the PATCH: the target's first playerUpdate and
        // TrackStart may arrive before its answer does.
        claim(&inner, guild, &target.name, position, strip_track.is_some());
        let sent = crate::window::Sent::now();
        let result = target.client.update_player(guild, &update, false).await;
        let outcome = crate::window::outcome_of(&result, sent.answered_after());
        permit.finish(outcome);
        if matches!(outcome, Outcome::Answered(_)) {
            // An answer is a sign of life: a node busy with our moves is not a dead node.
            let now = inner.now();
            if let Some(node) = inner.lock().nodes.get_mut(&target.name) {
                node.last_alive = Some(now);
            }
        }
        match result {
            Ok(player) => {
                let moved = Moved {
                    target: &target,
                    position,
                    rewind,
                    connected: player.state.connected,
                    attempts,
                    track_error: strip_track,
                };
                finish_move(&inner, guild, from.as_ref(), cause, started, moved).await;
                return;
            }
            Err(error) => {
                unclaim(&inner, guild, &target.name, from.as_deref());
                let undone = error.may_have_been_applied();
                tracing::warn!(guild = %guild, to = %target.name, %error, undone, "move attempt failed");
                inner.emit(ClusterEvent::MoveAttemptFailed {
                    guild,
                    to: target.name.clone(),
                    cause,
                    error: error.kind(),
                    undone,
                });
                if undone {
                    // Without an answer the node may still carry the PATCH out (a server that
                    // serves them one at a time does, after our timeout): undo it there, or the
                    // guild would play on two nodes at once.
                    undo_on(&inner, &target.name, guild);
                }
                match &error {
                    RestError::Api {
                        status, message, ..
                    } if !matches!(status, 401 | 403 | 404) => {
                        api_failures += 1;
                        if (400..500).contains(status) || api_failures >= 2 {
                            // The track itself cannot be loaded: recreate the player without it
                            // (the bot skips to the next track) rather than lose it.
                            strip_track = Some(message.clone());
                        } else {
                            tried.insert(target.name);
                        }
                    }
                    _ => {
                        tried.insert(target.name);
                    }
                }
            }
        }
    }
    give_up(&inner, guild, from.as_ref(), cause, started, attempts);
}

/// What a successful attempt did.
struct Moved<'a> {
    target: &'a Target,
    position: u64,
    /// How far behind the estimated live position `position` is.
    rewind: Duration,
    connected: bool,
    attempts: usize,
    /// Set when the track could not be loaded there and the player was recreated without it.
    track_error: Option<String>,
}

/// Books a successful move: counts, resends a raced update, reports, and ends the player on the
/// node it left.
async fn finish_move(
    inner: &Arc<Inner>,
    guild: GuildId,
    from: Option<&String>,
    cause: MoveCause,
    started: Instant,
    moved: Moved<'_>,
) {
    let Moved {
        target,
        position,
        rewind,
        connected,
        attempts,
        track_error,
    } = moved;
    let done = inner.now();
    let raced = {
        let mut state = inner.lock();
        if let Some(record) = state.players.get_mut(&guild) {
            record.connected |= connected;
        }
        if let Some(node) = from.and_then(|f| state.nodes.get_mut(f)) {
            // Counted together, so a drain never looks finished while a move it started is
            // still leaving.
            node.leaving += 1;
            if cause == MoveCause::Drain
                && let Some(drain) = node.drain.as_mut()
            {
                drain.moved += 1;
            }
        }
        state.version(guild) != target.version
    };
    if raced {
        resend(inner, guild, target).await;
    }
    tracing::info!(
        guild = %guild, from = ?from, to = %target.name, cause = cause.as_str(),
        position_ms = position, attempts, "player moved"
    );
    inner.emit(ClusterEvent::MoveFinished {
        guild,
        from: from.cloned(),
        to: Some(target.name.clone()),
        cause,
        outcome: track_error.map_or(MoveOutcome::Moved, |error| MoveOutcome::TrackFailed {
            error,
        }),
        duration: done.saturating_duration_since(started),
        position_ms: position,
        rewind,
        attempts,
    });
    if let Some(from) = from {
        leave_behind(inner, from, guild, true).await;
        if let Some(node) = inner.lock().nodes.get_mut(from) {
            node.leaving = node.leaving.saturating_sub(1);
        }
        if cause == MoveCause::Drain {
            emit_drain_progress(inner, from);
        }
        check_drain_done(inner, from);
    }
    emit_pending(inner);
}

/// No node could take the player: it waits in the pending set at the position it stopped at (a
/// drained player stays where it is instead, still playing).
fn give_up(
    inner: &Arc<Inner>,
    guild: GuildId,
    from: Option<&String>,
    cause: MoveCause,
    started: Instant,
    attempts: usize,
) {
    let now = inner.now();
    if cause == MoveCause::Drain {
        tracing::warn!(guild = %guild, from = ?from, "no node can take a drained player; it stays");
        if let Some(from) = from {
            count_drain_move(inner, from, false);
        }
        return;
    }
    let position_ms = {
        let mut state = inner.lock();
        let alive_until = from
            .and_then(|f| state.nodes.get(f))
            .and_then(|n| n.alive_until);
        match state.players.get_mut(&guild) {
            Some(record) if record.node.as_ref() == from => {
                let position = record.position_at(now, alive_until);
                record.position = Observed {
                    position_ms: position,
                    at: now,
                };
                record.node = None;
                record.connected = false;
                position
            }
            Some(record) => record.position.position_ms,
            None => 0,
        }
    };
    tracing::warn!(guild = %guild, from = ?from, attempts, "no node can take the player; it waits");
    inner.emit(ClusterEvent::MoveFinished {
        guild,
        from: from.cloned(),
        to: None,
        cause,
        outcome: MoveOutcome::Pending,
        duration: now.saturating_duration_since(started),
        position_ms,
        rewind: Duration::ZERO,
        attempts,
    });
    emit_pending(inner);
    if let Some(from) = from {
        check_drain_done(inner, from);
    }
}

/// Points the player at `target` with the position it is being started at.
fn claim(inner: &Inner, guild: GuildId, target: &str, position_ms: u64, strip_track: bool) {
    let now = inner.now();
    let mut state = inner.lock();
    let Some(record) = state.players.get_mut(&guild) else {
        return;
    };
    record.node = Some(target.to_owned());
    record.position = Observed {
        position_ms,
        at: now,
    };
    record.connected = false;
    record.started = false;
    record.reset_rate();
    if strip_track {
        record.track = None;
    }
    let playing = record.track.is_some();
    if playing {
        state.after_move.insert(guild);
    }
    // Counted now, not when the PATCH answers, so concurrent moves spread over the targets.
    if let Some(node) = state.nodes.get_mut(target) {
        node.placed_since_stats += 1;
    }
}

/// Undoes [`claim`] after a failed attempt.
fn unclaim(inner: &Inner, guild: GuildId, target: &str, from: Option<&str>) {
    let mut state = inner.lock();
    if let Some(record) = state.players.get_mut(&guild)
        && record.node.as_deref() == Some(target)
    {
        record.node = from.map(str::to_owned);
    }
    state.after_move.remove(&guild);
    if let Some(node) = state.nodes.get_mut(target) {
        node.placed_since_stats = node.placed_since_stats.saturating_sub(1);
    }
}

/// Deletes the guild's player on `node` after an attempt whose outcome is unknown, unless the
/// guild plays there by then; if the node does not answer the delete either, it is remembered as
/// an orphan and deleted when the node answers again.
pub(crate) fn undo_on(inner: &Arc<Inner>, node: &str, guild: GuildId) {
    let inner = Arc::clone(inner);
    let node = node.to_owned();
    tokio::spawn(async move {
        let returned = inner
            .lock()
            .players
            .get(&guild)
            .is_some_and(|p| p.node.as_deref() == Some(node.as_str()));
        if !returned {
            leave_behind(&inner, &node, guild, true).await;
        }
    });
}

fn still_here(inner: &Inner, guild: GuildId, from: Option<&str>) -> bool {
    inner
        .lock()
        .players
        .get(&guild)
        .is_some_and(|p| p.node.as_deref() == from)
}

fn pick_target(
    inner: &Inner,
    guild: GuildId,
    from: Option<&str>,
    tried: &HashSet<String>,
) -> Option<(Target, Reservation)> {
    let now = inner.now();
    let state = inner.lock();
    let record = state.players.get(&guild)?;
    if record.node.as_deref() != from {
        return None; // destroyed or moved by someone else
    }
    let region = record
        .voice
        .as_ref()
        .and_then(|v| crate::selection::region_of(&v.endpoint, &inner.config.regions));
    let choice = state.choose(&inner.config, region, tried, now)?;
    let node = state.nodes.get(&choice.node)?;
    let target = Target {
        name: choice.node.clone(),
        client: node.client.clone()?,
        version: state.version(guild),
    };
    // Reserved while the state is locked, so the next pick already counts this move.
    Some((target, node.window.reserve()))
}

fn build_update(
    inner: &Inner,
    guild: GuildId,
    from: Option<&str>,
    make_before_break: bool,
    strip_track: bool,
    target: &str,
) -> Option<(lavalink::model::UpdatePlayer, u64, Duration)> {
    let now = inner.now();
    let mut state = inner.lock();
    // A player this cluster left on the target (not deleted yet) is overwritten field by field;
    // it is no orphan any more once the guild plays there again.
    let mode = match state.nodes.get_mut(target) {
        Some(node) if node.orphans.iter().any(|(_, g)| *g == guild) => {
            node.orphans.retain(|(_, g)| *g != guild);
            Recreate::Overwrite
        }
        _ => Recreate::Fresh,
    };
    let record = state.players.get(&guild)?;
    // A lost node stopped playing at its last sign of life; a draining one is still playing.
    let alive_until = if make_before_break {
        None
    } else {
        from.and_then(|f| state.nodes.get(f))
            .and_then(|n| n.alive_until)
    };
    let position = record.position_at(now, alive_until);
    let rewind = Duration::from_millis(record.position_at(now, None).saturating_sub(position));
    let mut update = record.recreate(position, mode);
    if strip_track {
        update.track = None;
        update.position = None;
        update.end_time = None;
    }
    Some((update, position, rewind))
}

/// The bot changed the player while the move was in flight: send the whole state again.
async fn resend(inner: &Inner, guild: GuildId, target: &Target) {
    let now = inner.now();
    let update = {
        let state = inner.lock();
        let Some(record) = state.players.get(&guild) else {
            return;
        };
        record.recreate(record.position_at(now, None), Recreate::Overwrite)
    };
    if let Err(error) = target.client.update_player(guild, &update, false).await {
        tracing::warn!(guild = %guild, node = %target.name, %error, "could not resend a raced update");
    }
}

/// Ends the guild's player on a node it has left: now when the node answers, else later (it is
/// remembered as an orphan and deleted when the node is back, so it never plays twice).
pub(crate) async fn leave_behind(inner: &Inner, node: &str, guild: GuildId, now: bool) {
    let (client, session, usable) = {
        let state = inner.lock();
        let Some(n) = state.nodes.get(node) else {
            return;
        };
        let session = n
            .session()
            .map(str::to_owned)
            .or_else(|| n.client.as_ref().and_then(lavalink::NodeClient::session_id));
        (n.client.clone(), session, n.usable())
    };
    let (Some(client), Some(session)) = (client, session) else {
        return;
    };
    if now && usable {
        let timeout = inner.config.probe.timeout;
        match tokio::time::timeout(timeout, client.rest().destroy_player(&session, guild)).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) if error.is_not_found() => return,
            _ => {}
        }
    }
    let mut state = inner.lock();
    if let Some(n) = state.nodes.get_mut(node) {
        n.orphans.push((session, guild));
    }
}

/// Deletes the players we left behind on a node that answers again.
pub(crate) fn clean_orphans(inner: &Arc<Inner>, node: &str) {
    let (client, orphans) = {
        let mut state = inner.lock();
        let Some(n) = state.nodes.get_mut(node) else {
            return;
        };
        if n.orphans.is_empty() || !matches!(n.link, Link::Up { .. }) {
            return;
        }
        (n.client.clone(), std::mem::take(&mut n.orphans))
    };
    let Some(client) = client else { return };
    let inner = Arc::clone(inner);
    let node = node.to_owned();
    tokio::spawn(async move {
        let mut left = Vec::new();
        for (session, guild) in orphans {
            // A guild that came back to this node must not be deleted.
            let returned = inner
                .lock()
                .players
                .get(&guild)
                .is_some_and(|p| p.node.as_deref() == Some(node.as_str()));
            if returned {
                continue;
            }
            match client.rest().destroy_player(&session, guild).await {
                Ok(()) => {
                    tracing::info!(node = %node, guild = %guild, "deleted a player left behind");
                }
                Err(error) if error.is_not_found() => {}
                Err(_) => left.push((session, guild)),
            }
        }
        if !left.is_empty()
            && let Some(n) = inner.lock().nodes.get_mut(&node)
        {
            n.orphans.extend(left);
        }
    });
}

/// Counts one drained player (a move at a track boundary, or one that found no target).
pub(crate) fn count_drain_move(inner: &Arc<Inner>, node: &str, moved: bool) {
    {
        let mut state = inner.lock();
        if let Some(drain) = state.nodes.get_mut(node).and_then(|n| n.drain.as_mut()) {
            if moved {
                drain.moved += 1;
            } else {
                drain.failed += 1;
            }
        }
    }
    emit_drain_progress(inner, node);
    check_drain_done(inner, node);
}

pub(crate) fn emit_drain_progress(inner: &Inner, node: &str) {
    let progress = {
        let state = inner.lock();
        let remaining = state.players_on(node);
        state
            .nodes
            .get(node)
            .and_then(|n| n.drain.as_ref())
            .map(|drain| (drain.moved, remaining))
    };
    if let Some((moved, remaining)) = progress {
        inner.emit(ClusterEvent::DrainProgress {
            node: node.to_owned(),
            moved,
            remaining,
        });
    }
}

/// Finishes a drain once the node has no players: the report, and removal when asked.
pub(crate) fn check_drain_done(inner: &Arc<Inner>, node: &str) {
    let now = inner.now();
    let (report, removed, replacement) = {
        let mut state = inner.lock();
        if state.players_on(node) > 0 {
            return;
        }
        let Some(n) = state.nodes.get_mut(node) else {
            return;
        };
        if n.leaving > 0 {
            return; // a move off it is still deleting its player there
        }
        let Some(drain) = n.drain.as_mut().filter(|d| !d.completed) else {
            return;
        };
        // The node stays drained (no new players) until an operator enables it again.
        drain.completed = true;
        let drain = Drain { ..*drain };
        let report = DrainReport {
            node: node.to_owned(),
            mode: drain.mode,
            moved: drain.moved,
            failed: drain.failed,
            duration_ms: u64::try_from(now.saturating_duration_since(drain.started).as_millis())
                .unwrap_or(u64::MAX),
        };
        let removed = if drain.remove_when_done {
            state.nodes.remove(node)
        } else {
            None
        };
        let replacement = if removed.is_some() {
            state.replacements.remove(node)
        } else {
            None
        };
        (report, removed, replacement)
    };
    tracing::info!(
        node,
        moved = report.moved,
        failed = report.failed,
        "drain complete"
    );
    inner.emit(ClusterEvent::DrainComplete(report));
    if let Some(node) = removed {
        node.tasks.iter().for_each(tokio::task::AbortHandle::abort);
        if let Some(client) = node.client {
            tokio::spawn(async move { client.close().await });
        }
        inner.emit(ClusterEvent::NodesChanged);
    }
    if let Some(spec) = replacement
        && let Err(error) = crate::cluster::insert_node(inner, spec)
    {
        tracing::error!(%error, "could not add the replacement node");
    }
}

/// Adds `spec` once the node of the same name has drained away.
pub(crate) fn replace_after_drain(inner: &Arc<Inner>, spec: crate::config::NodeSpec) {
    let name = spec.name.clone();
    inner.lock().replacements.insert(name.clone(), spec);
    check_drain_done(inner, &name);
}

fn emit_pending(inner: &Inner) {
    let pending = inner.lock().pending();
    inner.emit(ClusterEvent::PendingChanged { pending });
}
