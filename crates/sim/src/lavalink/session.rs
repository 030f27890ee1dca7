//! Client sessions and the node's whole mutable state: which socket each session talks through,
//! what is queued while a resumable session is detached, stats, and the clock-driven
//! [`NodeState::advance_to`] that emits whatever fell due.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lavalink::model::{
    Cpu, Event, FrameStats, GuildId, IncomingMessage, Memory, Ready, Stats, WebSocketClosed,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{mpsc, oneshot};

use super::playback::{SimPlayer, Timing, millis};

/// A mebibyte.
const MIB: u64 = 1024 * 1024;

/// Frames a healthy player sends a minute (one per 20 ms).
const FRAMES_PER_MINUTE: i64 = 3000;

/// What a socket writer is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this message.
    Message(Box<IncomingMessage>),
    /// Send a close frame and stop.
    Close(u16, &'static str),
}

/// How the node cuts a socket out of band (ahead of anything still queued for it, and even
/// while hung).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// End the connection without a close frame.
    Reset,
    /// Send a close frame with this code, then end the connection.
    Close(u16),
}

/// The handles of one socket's writer task.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Messages and close requests, in order.
    pub tx: mpsc::UnboundedSender<Outbound>,
    /// The out-of-band cut.
    pub cut: oneshot::Sender<Cut>,
}

/// How a session currently reaches its client.
#[derive(Debug)]
enum Link {
    /// A socket is open.
    Open {
        conn: u64,
        tx: mpsc::UnboundedSender<Outbound>,
        cut: Option<oneshot::Sender<Cut>>,
    },
    /// The socket closed and resuming is on: messages queue until `deadline`.
    Detached {
        deadline: Instant,
        queue: Vec<IncomingMessage>,
    },
}

/// One client session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    pub user_id: u64,
    pub client_name: Option<String>,
    pub resuming: bool,
    pub timeout_secs: u64,
    pub players: BTreeMap<GuildId, SimPlayer>,
    link: Link,
    next_stats: Instant,
}

impl Session {
    /// Whether a socket is open.
    pub fn is_open(&self) -> bool {
        matches!(self.link, Link::Open { .. })
    }
}

/// Who opened a socket.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    pub user_id: u64,
    pub client_name: Option<String>,
    pub session_id: Option<String>,
}

/// Everything a running node knows. Guarded by one mutex; never held across an await.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub sessions: HashMap<String, Session>,
    pub timing: Timing,
    pub stats_interval: Duration,
    pub started: Instant,
    pub cores: u32,
    /// Messages handed to socket writers and not yet written (shared with the writers).
    in_flight: Arc<AtomicU64>,
    /// When the node hung, while it hangs: nothing falls due and playback stands still.
    frozen_since: Option<Instant>,
    /// When the node was last thawed: what fell due while it hung happens then.
    thawed_at: Instant,
}

impl NodeState {
    /// The state of a freshly started node.
    pub fn new(
        timing: Timing,
        stats_interval: Duration,
        cores: u32,
        now: Instant,
        in_flight: Arc<AtomicU64>,
    ) -> Self {
        Self {
            sessions: HashMap::new(),
            timing,
            stats_interval,
            started: now,
            cores,
            in_flight,
            frozen_since: None,
            thawed_at: now,
        }
    }

    /// The node hangs (a frozen process): from `now` on every player stands still, and nothing
    /// falls due (no playerUpdate, stats, track end, stuck event or resume timeout) until
    /// [`NodeState::thaw`].
    pub fn freeze(&mut self, now: Instant) {
        if self.frozen_since.is_some() {
            return;
        }
        self.frozen_since = Some(now);
        self.freeze_players(now);
        tracing::info!("node frozen: playback stands still");
    }

    /// The hang ends: players go on from where they stood, and whatever fell due while frozen
    /// (playerUpdates, stats, a resume timeout, the stuck report of a track that had already
    /// stalled) happens now, as a thawed process's overdue timers fire at once.
    pub fn thaw(&mut self, now: Instant) {
        let Some(since) = self.frozen_since.take() else {
            return;
        };
        self.thawed_at = now;
        for player in self
            .sessions
            .values_mut()
            .flat_map(|session| session.players.values_mut())
        {
            player.set_frozen(now, false);
        }
        tracing::info!(
            frozen_ms = millis(now.saturating_duration_since(since)),
            "node thawed: playback goes on"
        );
    }

    /// Freezes every player not frozen yet (also one a request that raced the hang created).
    fn freeze_players(&mut self, now: Instant) {
        for player in self
            .sessions
            .values_mut()
            .flat_map(|session| session.players.values_mut())
            .filter(|player| !player.is_frozen())
        {
            player.set_frozen(now, true);
        }
    }

    /// An open session (a detached one is invisible to REST, as in Lavalink).
    pub fn open_session(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions
            .get_mut(id)
            .filter(|session| session.is_open())
    }

    /// Whether `id` names a detached session that a new socket could resume.
    pub fn can_resume(&self, id: &str) -> bool {
        self.sessions
            .get(id)
            .is_some_and(|session| matches!(session.link, Link::Detached { .. }))
    }

    /// Attaches a new socket: resumes the named detached session, or creates a new one.
    /// Answers the session id and whether it resumed.
    pub fn attach(
        &mut self,
        hello: &Hello,
        conn: u64,
        writer: Writer,
        now: Instant,
    ) -> (String, bool) {
        let Writer { tx, cut } = writer;
        let link = Link::Open {
            conn,
            tx,
            cut: Some(cut),
        };
        if let Some(id) = hello.session_id.as_deref().filter(|id| self.can_resume(id)) {
            let id = id.to_owned();
            if let Some(session) = self.sessions.get_mut(&id) {
                let old = std::mem::replace(&mut session.link, link);
                let ready = IncomingMessage::Ready(Ready {
                    resumed: true,
                    session_id: id.clone(),
                });
                self.send(&id, ready);
                if let Link::Detached { queue, .. } = old {
                    for message in queue {
                        self.send(&id, message);
                    }
                }
                let timing = self.timing;
                let updates: Vec<_> = self.sessions[&id]
                    .players
                    .values()
                    .map(|player| player.update_message(now, &timing))
                    .collect();
                for update in updates {
                    self.send(&id, update);
                }
                return (id, true);
            }
        }
        let id = self.unique_id();
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                user_id: hello.user_id,
                client_name: hello.client_name.clone(),
                resuming: false,
                timeout_secs: 60,
                players: BTreeMap::new(),
                link,
                next_stats: now,
            },
        );
        let ready = IncomingMessage::Ready(Ready {
            resumed: false,
            session_id: id.clone(),
        });
        self.send(&id, ready);
        (id, false)
    }

    /// The socket `conn` of session `id` closed: detach the session if resuming is on, else
    /// destroy it with its players.
    pub fn detach(&mut self, id: &str, conn: u64, now: Instant) {
        let Some(session) = self.sessions.get(id) else {
            return;
        };
        if !matches!(session.link, Link::Open { conn: open, .. } if open == conn) {
            return;
        }
        self.unlink(id, now);
    }

    /// The network dropped every open socket: each is cut (with a close frame when `close_code`
    /// is given) and its session detached or destroyed exactly as on any closed socket, at once,
    /// so that whatever falls due from now on queues (or is gone). Answers how many were cut.
    pub fn drop_connections(&mut self, close_code: Option<u16>, now: Instant) -> usize {
        let open: Vec<String> = self
            .sessions
            .values()
            .filter(|session| session.is_open())
            .map(|session| session.id.clone())
            .collect();
        let how = close_code.map_or(Cut::Reset, Cut::Close);
        for id in &open {
            if let Some(Session {
                link: Link::Open { cut, .. },
                ..
            }) = self.sessions.get_mut(id)
            {
                // A writer that is already gone needs no cut.
                if let Some(cut) = cut.take() {
                    let _ = cut.send(how);
                }
            }
            tracing::info!(session = id, ?how, "connection dropped");
            self.unlink(id, now);
        }
        open.len()
    }

    /// Sessions whose player for `guild` has an open voice gateway (only `session` when given).
    pub fn voice_connected(&self, guild: GuildId, session: Option<&str>) -> Vec<String> {
        let mut ids: Vec<String> = self
            .sessions
            .values()
            .filter(|s| session.is_none_or(|wanted| wanted == s.id))
            .filter(|s| s.players.get(&guild).is_some_and(SimPlayer::is_connected))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Discord closed the voice gateway of session `id`'s player for the guild of `closed`: the
    /// event, then a playerUpdate (as Lavalink's `WsEventHandler.gatewayClosed`); both queue or
    /// drop as any message while the session is detached. Answers whether it was open.
    pub fn close_voice(&mut self, id: &str, closed: WebSocketClosed, now: Instant) -> bool {
        let timing = self.timing;
        let Some(player) = self
            .sessions
            .get_mut(id)
            .and_then(|session| session.players.get_mut(&closed.guild_id))
        else {
            return false;
        };
        if !player.close_voice() {
            return false;
        }
        let update = player.update_message(now, &timing);
        self.send(id, IncomingMessage::Event(Event::WebSocketClosed(closed)));
        self.send(id, update);
        true
    }

    /// A session's socket is gone: detach the session if resuming is on, else destroy it.
    fn unlink(&mut self, id: &str, now: Instant) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if session.resuming {
            let timeout = session.timeout_secs;
            session.link = Link::Detached {
                deadline: now + Duration::from_secs(timeout),
                queue: Vec::new(),
            };
            tracing::info!(
                session = id,
                timeout,
                "socket closed; session can be resumed"
            );
        } else {
            self.destroy_session(id, now);
            tracing::info!(session = id, "socket closed; session destroyed");
        }
    }

    /// Destroys a session and every player in it.
    pub fn destroy_session(&mut self, id: &str, now: Instant) {
        if let Some(mut session) = self.sessions.remove(id) {
            for player in session.players.values_mut() {
                // The TrackEnd(stopped) of a destroyed player goes to a socket that is gone.
                drop(player.stop(now));
            }
        }
    }

    /// Asks every open socket to close with `code`.
    pub fn close_all(&mut self, code: u16, reason: &'static str) {
        for session in self.sessions.values() {
            if let Link::Open { tx, .. } = &session.link {
                // A writer that is already gone needs no close frame.
                let _ = tx.send(Outbound::Close(code, reason));
            }
        }
    }

    /// Sends (or queues, or drops) a message for a session, as Lavalink's `SocketContext.send`:
    /// while detached, events and stats queue and playerUpdates are dropped.
    pub fn send(&mut self, id: &str, message: IncomingMessage) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        match &mut session.link {
            Link::Open { tx, .. } => {
                // Count first: the writer may write it before this thread runs on.
                self.in_flight.fetch_add(1, Ordering::AcqRel);
                if tx.send(Outbound::Message(Box::new(message))).is_err() {
                    self.in_flight.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Link::Detached { queue, .. } => {
                if !matches!(message, IncomingMessage::PlayerUpdate(_)) {
                    queue.push(message);
                }
            }
        }
    }

    /// Emits everything that fell due up to `now`, each at its own instant, in time order (what
    /// fell due during a hang at the instant of the thaw). Nothing while the node hangs.
    pub fn advance_to(&mut self, now: Instant, load: f64) {
        if self.frozen_since.is_some() {
            self.freeze_players(now);
            return;
        }
        loop {
            let Some((due, target)) = self.next_due() else {
                return;
            };
            if due > now {
                return;
            }
            let at = due.max(self.thawed_at);
            match target {
                Target::Stats(id) => {
                    let stats = self.stats(Some(&id), at, load);
                    let interval = self.stats_interval;
                    if let Some(session) = self.sessions.get_mut(&id) {
                        session.next_stats = at + interval;
                    }
                    self.send(&id, IncomingMessage::Stats(stats));
                }
                Target::ResumeTimeout(id) => {
                    tracing::info!(session = id, "resume timeout passed; session destroyed");
                    self.destroy_session(&id, at);
                }
                Target::Player(id, guild) => {
                    let timing = self.timing;
                    let fired = self
                        .sessions
                        .get_mut(&id)
                        .and_then(|session| session.players.get_mut(&guild))
                        .and_then(|player| player.fire_next(now, at, &timing));
                    for message in fired.map(|(_, messages)| messages).unwrap_or_default() {
                        self.send(&id, message);
                    }
                }
            }
        }
    }

    /// The earliest instant anything falls due (none while the node hangs).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.frozen_since.is_some() {
            return None;
        }
        self.next_due().map(|(at, _)| at)
    }

    fn next_due(&self) -> Option<(Instant, Target)> {
        let mut best: Option<(Instant, Target)> = None;
        let mut consider = |at: Instant, target: Target| {
            if best.as_ref().is_none_or(|(current, _)| at < *current) {
                best = Some((at, target));
            }
        };
        for session in self.sessions.values() {
            consider(session.next_stats, Target::Stats(session.id.clone()));
            if let Link::Detached { deadline, .. } = session.link {
                consider(deadline, Target::ResumeTimeout(session.id.clone()));
            }
            for (guild, player) in &session.players {
                if let Some(at) = player.next_deadline(&self.timing) {
                    consider(at, Target::Player(session.id.clone(), *guild));
                }
            }
        }
        best
    }

    /// Node statistics; `frameStats` only for a session (null for `GET /v4/stats`).
    pub fn stats(&self, session: Option<&str>, at: Instant, load: f64) -> Stats {
        let open = || self.sessions.values().filter(|session| session.is_open());
        let players = open().map(|s| s.players.len() as u64).sum::<u64>();
        let playing = open()
            .flat_map(|s| s.players.values())
            .filter(|p| p.is_playing())
            .count() as u64;
        let frame_stats = session
            .and_then(|id| self.sessions.get(id))
            .and_then(|session| frame_stats(session, load, at, self.started));
        let system_load = 0.05 + 0.95 * load;
        let allocated = 256 * MIB;
        let used = (64 + players * 2).min(240) * MIB;
        Stats {
            players,
            playing_players: playing,
            uptime: millis(at.saturating_duration_since(self.started)),
            memory: Memory {
                free: allocated - used,
                used,
                allocated,
                reservable: 1024 * MIB,
            },
            cpu: Cpu {
                cores: self.cores,
                system_load: if self.timing.behaviour.system_load_as_load_average {
                    // A load average: runnable processes, about cores times the busy fraction.
                    f64::from(self.cores) * system_load
                } else {
                    system_load
                },
                lavalink_load: 0.02 + 0.93 * load,
            },
            frame_stats,
        }
    }

    fn unique_id(&self) -> String {
        let mut rng = rand::rng();
        loop {
            let id: String = (&mut rng)
                .sample_iter(&Alphanumeric)
                .take(16)
                .map(|c| char::from(c).to_ascii_lowercase())
                .collect();
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Stats(String),
    ResumeTimeout(String),
    Player(String, GuildId),
}

/// Per-player averages over a session's playing players whose frame counts are usable (as
/// Lavalink's `StatsCollector`: null until one has played since before the previous whole
/// minute, see [`SimPlayer::frame_data_usable`]); a player without a voice connection pulls no
/// frames at all (all deficit), an overloaded node nulls and misses frames.
#[allow(clippy::cast_possible_truncation)]
fn frame_stats(session: &Session, load: f64, at: Instant, origin: Instant) -> Option<FrameStats> {
    let playing: Vec<&SimPlayer> = session
        .players
        .values()
        .filter(|p| p.is_playing() && p.frame_data_usable(at, origin))
        .collect();
    if playing.is_empty() {
        return None;
    }
    let count = i64::try_from(playing.len()).unwrap_or(i64::MAX);
    let nulled_each = (600.0 * load).round() as i64;
    let deficit_each = (900.0 * load).round() as i64;
    let (mut sent, mut nulled) = (0, 0);
    for player in &playing {
        if player.pulls_frames() {
            sent += FRAMES_PER_MINUTE - nulled_each - deficit_each;
            nulled += nulled_each;
        }
    }
    let deficit = count * FRAMES_PER_MINUTE - sent - nulled;
    Some(FrameStats {
        sent: sent / count,
        nulled: nulled / count,
        deficit: deficit / count,
    })
}
