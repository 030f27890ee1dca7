//! The client for one Lavalink v4 node: REST calls ([`Rest`]) plus the event socket, which resumes
//! its session after a blip, reconnects with backoff, detects a silent (hung) node, and reports
//! everything through one ordered channel of [`NodeEvent`]s.

mod config;
mod events;
mod rest;
mod socket;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clock::SharedClock;
use tokio::sync::{mpsc, watch};

pub use config::{ConfigError, NodeConfig, Password, ReconnectPolicy, SilencePolicy, redact_url};
pub use events::{Loss, NodeEvent, Received, StopReason};
pub use rest::{Endpoint, LATENCY_BUCKETS_MICROS, LatencySnapshot, Rest, RestError};

use crate::model::{GuildId, Player, Stats, UpdatePlayer};

/// The socket's state, for health checks and the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening a connection (attempt 0 is the first).
    Connecting {
        /// Failed attempts in a row before this one.
        attempt: usize,
    },
    /// `ready` arrived.
    Connected {
        /// The session id.
        session_id: String,
        /// Whether it resumed an earlier session.
        resumed: bool,
        /// When `ready` arrived.
        since: Instant,
    },
    /// The socket was lost; a reconnect is pending.
    Disconnected {
        /// Why.
        loss: Loss,
    },
    /// The client stopped for good.
    Stopped(StopReason),
}

impl ConnectionState {
    /// Whether REST calls that need a session can be made.
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }
}

#[derive(Debug, Clone, Copy)]
enum Control {
    Close,
    Detach,
}

/// State shared by the socket task and the handle.
struct Shared {
    rest: Rest,
    clock: SharedClock,
    session: Mutex<Option<String>>,
    state: watch::Sender<ConnectionState>,
    last_stats: Mutex<Option<Received<Stats>>>,
    /// When anything (a message, a pong) last arrived on the socket.
    last_traffic: Mutex<Option<Instant>>,
    /// Guilds whose players should be sending playerUpdates (playing and not paused).
    reporting: Mutex<HashSet<GuildId>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn session_id(&self) -> Option<String> {
        lock(&self.session).clone()
    }

    fn set_state(&self, state: ConnectionState) {
        self.state.send_replace(state);
    }

    fn on_ready(&self, session_id: &str, resumed: bool) {
        *lock(&self.session) = Some(session_id.to_owned());
        if !resumed {
            // A new session has no players: nobody is expected to report.
            lock(&self.reporting).clear();
        }
        self.set_state(ConnectionState::Connected {
            session_id: session_id.to_owned(),
            resumed,
            since: self.clock.now(),
        });
    }

    fn on_stats(&self, stats: Received<Stats>) {
        *lock(&self.last_stats) = Some(stats);
    }

    fn mark_reporting(&self, guild: GuildId, reporting: bool) {
        let mut set = lock(&self.reporting);
        if reporting {
            set.insert(guild);
        } else {
            set.remove(&guild);
        }
    }

    fn reporting_count(&self) -> usize {
        lock(&self.reporting).len()
    }

    /// How long the socket may stay quiet. With pings on, a healthy node answers every ping, so a
    /// few ping intervals of silence mean a hang; without them, a few player-update intervals
    /// while players should be reporting, a few stats intervals otherwise.
    fn quiet_limit(&self) -> Duration {
        let silence = self.rest.config().silence;
        let interval = match silence.ping_interval {
            Some(ping) => ping,
            None if self.reporting_count() > 0 => silence.player_update_interval,
            None => silence.stats_interval,
        };
        interval * silence.missed_intervals + interval / 2
    }

    fn on_traffic(&self, at: Instant) {
        *lock(&self.last_traffic) = Some(at);
    }

    fn log_loss(&self, loss: &Loss) {
        let node = &self.rest.config().name;
        match loss {
            Loss::AuthRefused { status } => tracing::error!(
                node = %node, status,
                "lavalink node refused the password; not reconnecting (check the node's password)"
            ),
            Loss::GracefulClose { code, reason } => {
                tracing::info!(node = %node, code, %reason, "lavalink node closed the socket");
            }
            other => {
                tracing::warn!(node = %node, kind = other.kind(), ?other, "lavalink socket lost");
            }
        }
    }
}

/// A connected Lavalink node: REST through [`NodeClient::rest`] or the session-scoped helpers, and
/// events through the receiver returned by [`NodeClient::connect`].
#[derive(Clone)]
pub struct NodeClient {
    shared: Arc<Shared>,
    control: mpsc::Sender<Control>,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient")
            .field("node", &self.shared.rest.config().name)
            .field("state", &*self.shared.state.borrow())
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// Starts the socket task (it connects in the background) and returns the handle and the
    /// event receiver. Must be called inside a tokio runtime.
    pub fn connect(config: NodeConfig, clock: SharedClock) -> (Self, mpsc::Receiver<NodeEvent>) {
        let (events_tx, events_rx) = mpsc::channel(config.event_buffer);
        let (control_tx, control_rx) = mpsc::channel(4);
        let session = config.resume_session.clone();
        let (state, _) = watch::channel(ConnectionState::Connecting { attempt: 0 });
        let shared = Arc::new(Shared {
            rest: Rest::new(config),
            clock,
            session: Mutex::new(session),
            state,
            last_stats: Mutex::new(None),
            last_traffic: Mutex::new(None),
            reporting: Mutex::new(HashSet::new()),
        });
        tokio::spawn(socket::run(Arc::clone(&shared), events_tx, control_rx));
        (
            Self {
                shared,
                control: control_tx,
            },
            events_rx,
        )
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.rest.config().name
    }

    /// The REST API, for calls that need no session or an explicit one.
    pub fn rest(&self) -> &Rest {
        &self.shared.rest
    }

    /// The current (or last) session id.
    pub fn session_id(&self) -> Option<String> {
        self.shared.session_id()
    }

    /// The socket's state now.
    pub fn state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// When anything (a message, a pong) last arrived on the socket: the node's last sign of life.
    pub fn last_traffic(&self) -> Option<Instant> {
        *lock(&self.shared.last_traffic)
    }

    /// The last stats message with the instant it arrived.
    pub fn last_stats(&self) -> Option<Received<Stats>> {
        *lock(&self.shared.last_stats)
    }

    fn ready_session(&self, endpoint: Endpoint) -> Result<String, RestError> {
        match &*self.shared.state.borrow() {
            ConnectionState::Connected { session_id, .. } => Ok(session_id.clone()),
            _ => Err(RestError::NoSession { endpoint }),
        }
    }

    /// Updates (or creates) the player of `guild` in the current session.
    pub async fn update_player(
        &self,
        guild: GuildId,
        update: &UpdatePlayer,
        no_replace: bool,
    ) -> Result<Player, RestError> {
        let session = self.ready_session(Endpoint::UpdatePlayer)?;
        let player = self
            .shared
            .rest
            .update_player(&session, guild, update, no_replace)
            .await?;
        let stopped = update
            .track
            .as_ref()
            .is_some_and(|t| matches!(t, Some(t) if t.encoded == Some(None)))
            || matches!(update.encoded_track, Some(None));
        if player.paused || player.track.is_none() || stopped {
            self.shared.mark_reporting(guild, false);
        }
        Ok(player)
    }

    /// The player of `guild` in the current session.
    pub async fn player(&self, guild: GuildId) -> Result<Player, RestError> {
        let session = self.ready_session(Endpoint::Player)?;
        self.shared.rest.player(&session, guild).await
    }

    /// Every player of the current session.
    pub async fn players(&self) -> Result<Vec<Player>, RestError> {
        let session = self.ready_session(Endpoint::Players)?;
        self.shared.rest.players(&session).await
    }

    /// Destroys the player of `guild` in the current session.
    pub async fn destroy_player(&self, guild: GuildId) -> Result<(), RestError> {
        let session = self.ready_session(Endpoint::DestroyPlayer)?;
        self.shared.mark_reporting(guild, false);
        self.shared.rest.destroy_player(&session, guild).await
    }

    /// Ends the session: resuming is turned off, then the socket closes, so the node destroys this
    /// session's players. Returns once the client has stopped (bound it with a timeout: turning
    /// resuming off is one REST call within the request timeout).
    pub async fn close(&self) {
        // If the task is gone it has stopped already.
        let _ = self.control.send(Control::Close).await;
        self.stopped().await;
    }

    /// Detaches without destroying anything: the socket closes while resuming stays on, so the
    /// players keep playing until a client resumes the session (see [`NodeConfig::resume_session`])
    /// or the resume timeout passes. Returns the session id once the client has stopped.
    pub async fn detach(&self) -> Option<String> {
        let session = self.session_id();
        let _ = self.control.send(Control::Detach).await;
        self.stopped().await;
        session
    }

    /// Waits until the socket task has stopped.
    async fn stopped(&self) {
        let mut state = self.shared.state.subscribe();
        // An error means the task (and with it the state's sender) is gone: stopped too.
        let _ = state
            .wait_for(|state| matches!(state, ConnectionState::Stopped(_)))
            .await;
    }
}
