//! Client sessions and the node's whole mutable state: which socket each session talks through,
//! what is queued while a resumable session is detached, stats, and the clock-driven
//! [`NodeState::advance_to`] that emits whatever fell due.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lavalink::model::{Cpu, FrameStats, GuildId, IncomingMessage, Memory, Ready, Stats};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::mpsc;

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

/// How a session currently reaches its client.
#[derive(Debug)]
enum Link {
    /// A socket is open.
    Open {
        conn: u64,
        tx: mpsc::UnboundedSender<Outbound>,
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
        tx: mpsc::UnboundedSender<Outbound>,
        now: Instant,
    ) -> (String, bool) {
        if let Some(id) = hello.session_id.as_deref().filter(|id| self.can_resume(id)) {
            let id = id.to_owned();
            if let Some(session) = self.sessions.get_mut(&id) {
                let old = std::mem::replace(&mut session.link, Link::Open { conn, tx });
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
                link: Link::Open { conn, tx },
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
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if !matches!(session.link, Link::Open { conn: open, .. } if open == conn) {
            return;
        }
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

    /// Emits everything that fell due up to `now`, each at its own instant, in time order.
    pub fn advance_to(&mut self, now: Instant, load: f64) {
        loop {
            let Some((at, target)) = self.next_due() else {
                return;
            };
            if at > now {
                return;
            }
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
                        .and_then(|player| player.fire_next(now, &timing));
                    for message in fired.map(|(_, messages)| messages).unwrap_or_default() {
                        self.send(&id, message);
                    }
                }
            }
        }
    }

    /// The earliest instant anything falls due.
    pub fn next_deadline(&self) -> Option<Instant> {
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
            .and_then(|session| frame_stats(session, load));
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
                system_load: 0.05 + 0.95 * load,
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

/// Per-player averages over a session's playing players; a player without a voice connection
/// pulls no frames at all (all deficit), an overloaded node nulls and misses frames.
#[allow(clippy::cast_possible_truncation)]
fn frame_stats(session: &Session, load: f64) -> Option<FrameStats> {
    let playing: Vec<&SimPlayer> = session
        .players
        .values()
        .filter(|p| p.is_playing())
        .collect();
    if playing.is_empty() {
        return None;
    }
    let count = i64::try_from(playing.len()).unwrap_or(i64::MAX);
    let nulled_each = (600.0 * load).round() as i64;
    let deficit_each = (900.0 * load).round() as i64;
    let (mut sent, mut nulled) = (0, 0);
    for player in &playing {
        if player.is_connected() {
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
