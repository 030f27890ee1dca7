//! A running stand-in node: its shared state, its life (start, crash, shutdown, restart on the
//! same port), the ticker that emits what the clock makes due, and the in-process test API.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lavalink::model::{GuildId, IncomingMessage, Player, WebSocketClosed};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use super::config::{NodeConfig, SimError};
use super::control::{SessionSnapshot, SimState};
use super::faults::{Fault, FaultState, KOE_RETRIED_CODES, sendable_close_code};
use super::playback::{Timing, millis};
use super::server;
use super::session::NodeState;

/// The state every handler sees.
pub(crate) type AppState = Arc<Shared>;

/// A message the node wrote to a client socket.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The session it went to.
    pub session_id: String,
    /// The message.
    pub message: IncomingMessage,
}

/// An HTTP request as it reached the node: a recording for latency measurements (what the node
/// does with the request is unchanged). Every request counts, REST, socket handshake and control
/// endpoint alike, whatever faults, authorization or routing later make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// When its head had been read, before any fault, authorization or routing: real time
    /// (`Instant::now()`, not the node's clock), so it compares with other stand-ins' recordings
    /// and with the caller's own instants.
    pub at: Instant,
    /// The method (`GET`, `PATCH`, ...).
    pub method: String,
    /// The path (`/v4/sessions/{id}/players/{guild}`, ...).
    pub path: String,
    /// The raw query string, if any (`identifier=ytsearch%3A...`).
    pub query: Option<String>,
}

/// Everything the node's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: NodeConfig,
    pub addr: SocketAddr,
    state: Mutex<NodeState>,
    faults: Mutex<FaultState>,
    hang: watch::Sender<bool>,
    life: Mutex<Life>,
    /// The accept loop of the last incarnation, aborted but perhaps not yet dropped.
    stopping: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the ticker when deadlines may have moved.
    wake: Notify,
    /// Signalled whenever a socket writer finished with a message.
    flushed: Notify,
    pub in_flight: Arc<AtomicU64>,
    events: broadcast::Sender<SentMessage>,
    /// Requests as they arrive (see [`ReceivedRequest`]); built only while someone listens.
    pub requests: broadcast::Sender<ReceivedRequest>,
    sent: AtomicU64,
    next_conn: AtomicU64,
    /// Open client sockets, for a graceful shutdown to wait on.
    pub sockets: watch::Sender<usize>,
    /// The turn of a player PATCH, on a server that serves them one at a time (FIFO).
    pub rest_turns: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Life {
    up: bool,
    kill: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl Life {
    /// Flips the kill switch and aborts the accept loop; answers the aborted task, which still
    /// holds the listening socket until it has been dropped.
    fn kill(&mut self) -> Option<JoinHandle<()>> {
        self.up = false;
        self.kill.send_replace(true);
        let accept = self.accept.take();
        if let Some(accept) = &accept {
            accept.abort();
        }
        accept
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_life(&self) -> MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault settings.
    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state at the clock's now, after emitting what fell due and again after
    /// `f` (so what `f` made due at once goes out at once), then wakes the ticker.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut NodeState, Instant) -> R) -> R {
        let now = self.config.clock.now();
        let load = self.faults().overload_level(now);
        let mut state = self.lock_state();
        state.advance_to(now, load);
        let result = f(&mut state, now);
        state.advance_to(now, load);
        drop(state);
        self.wake.notify_one();
        result
    }

    /// Unix milliseconds now, on the node's clock.
    pub fn wall_now_ms(&self) -> u64 {
        let now = self.config.clock.now();
        self.lock_state().timing.wall_ms(now)
    }

    /// The overload level now.
    pub fn overload_level(&self) -> f64 {
        self.faults().overload_level(self.config.clock.now())
    }

    /// Waits while the node is hung.
    pub async fn wait_unhung(&self) {
        let mut hang = self.hang.subscribe();
        // The sender lives as long as `self`.
        let _ = hang.wait_for(|hung| !*hung).await;
    }

    /// A receiver of the hang flag.
    pub fn hang_flag(&self) -> watch::Receiver<bool> {
        self.hang.subscribe()
    }

    /// A fresh connection number.
    pub fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The kill switch of the current incarnation.
    pub fn kill_switch(&self) -> watch::Receiver<bool> {
        self.lock_life().kill.subscribe()
    }

    /// A socket writer wrote a message.
    pub fn written(&self, session_id: &str, message: IncomingMessage) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        // Nobody listening is fine.
        let _ = self.events.send(SentMessage {
            session_id: session_id.to_owned(),
            message,
        });
        self.done_with(1);
    }

    /// A socket writer is done with `count` messages (written or dropped).
    pub fn done_with(&self, count: u64) {
        // Saturating: a message counted by a node that crashed may be dropped after the reset.
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(count))
            });
        self.flushed.notify_waiters();
    }

    fn fresh_state(&self) -> NodeState {
        let now = self.config.clock.now();
        #[allow(
            clippy::disallowed_methods,
            reason = "the node's wall clock starts at the real one (Lavalink's `time` fields are wall-clock)"
        )]
        let wall_origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        let timing = Timing {
            clock_origin: now,
            wall_origin_ms,
            update_interval: self.config.player_update_interval,
            stuck_threshold: self.config.track_stuck_threshold,
            ping: self.config.voice_ping_ms,
            behaviour: self.config.behaviour,
        };
        NodeState::new(
            timing,
            self.config.stats_interval,
            self.config.cores,
            now,
            Arc::clone(&self.in_flight),
        )
    }

    /// Starts serving on `listener` with a fresh state.
    fn serve(self: &Arc<Self>, listener: TcpListener) {
        *self.lock_state() = self.fresh_state();
        let (kill, _) = watch::channel(false);
        let accept = tokio::spawn(server::accept_loop(
            listener,
            Arc::clone(self),
            kill.subscribe(),
        ));
        let mut life = self.lock_life();
        life.up = true;
        life.kill = kill;
        life.accept = Some(accept);
        drop(life);
        self.wake.notify_one();
        tracing::info!(node = self.config.name, addr = %self.addr, "lavalink stand-in listening");
    }

    /// Abrupt death: drops every connection without a close frame, stops listening, forgets
    /// every session.
    pub fn crash(&self) {
        let accept = self.lock_life().kill();
        *self.lock_stopping() = accept;
        *self.lock_state() = self.fresh_state();
        tracing::info!(node = self.config.name, "crashed");
    }

    fn lock_stopping(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every session socket with 1001, waits (briefly) for them to go, then stops; on a
    /// server that does not close its sockets on shutdown, they are reset instead (no close
    /// frame), as its exiting process leaves them.
    pub async fn graceful_shutdown(&self) {
        if !self.lock_life().up {
            return;
        }
        if !self.config.behaviour.close_sockets_on_shutdown {
            self.crash_quietly();
            tracing::info!(
                node = self.config.name,
                "shut down without closing sockets (they were reset)"
            );
            return;
        }
        self.lock_state().close_all(1001, "Shutting down");
        let mut sockets = self.sockets.subscribe();
        let all_closed = async {
            let _ = sockets.wait_for(|open| *open == 0).await;
        };
        if tokio::time::timeout(Duration::from_secs(2), all_closed)
            .await
            .is_err()
        {
            tracing::warn!(node = self.config.name, "sockets did not close in time");
        }
        self.crash_quietly();
        tracing::info!(node = self.config.name, "shut down gracefully");
    }

    fn crash_quietly(&self) {
        let accept = self.lock_life().kill();
        *self.lock_stopping() = accept;
        *self.lock_state() = self.fresh_state();
    }

    /// Comes back on the same port with every session forgotten and every fault healed.
    pub async fn restart(self: &Arc<Self>) -> Result<(), SimError> {
        self.graceful_shutdown().await;
        self.heal();
        let stopping = self.lock_stopping().take();
        if let Some(accept) = stopping {
            // Aborted: this returns once the task, and with it the listener, is dropped.
            let _ = accept.await;
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|cause| SimError::Bind {
                addr: self.addr,
                cause,
            })?;
        self.serve(listener);
        tracing::info!(node = self.config.name, "restarted");
        Ok(())
    }

    /// Restarts after `delay` of real time, in the background.
    pub fn restart_later(self: &Arc<Self>, delay: Duration) {
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(error) = shared.restart().await {
                tracing::error!(node = shared.config.name, %error, "restart failed");
            }
        });
    }

    /// Freezes the node: playback stands still at this instant and nothing falls due; requests
    /// and handshakes are held and sockets go silent.
    pub fn hang(&self) {
        self.with_state(NodeState::freeze);
        self.hang.send_replace(true);
    }

    /// Clears hang, latency, error rate and overload. A hung node thaws: playback goes on from
    /// where it stood, what fell due meanwhile happens now, and held answers and messages flow.
    pub fn heal(&self) {
        self.faults().heal();
        self.with_state(NodeState::thaw);
        self.hang.send_replace(false);
    }

    /// Applies a fault.
    pub async fn apply(self: &Arc<Self>, fault: Fault) -> Result<(), SimError> {
        tracing::info!(node = self.config.name, ?fault, "fault");
        let now = self.config.clock.now();
        match fault {
            Fault::Crash { restart_after_ms } => {
                self.crash();
                if let Some(ms) = restart_after_ms {
                    self.restart_later(Duration::from_millis(ms));
                }
            }
            Fault::Shutdown { restart_after_ms } => {
                self.graceful_shutdown().await;
                if let Some(ms) = restart_after_ms {
                    self.restart_later(Duration::from_millis(ms));
                }
            }
            Fault::Hang => self.hang(),
            Fault::Slow { latency_ms } => self.faults().latency = Duration::from_millis(latency_ms),
            Fault::ErrorRate { rate, seed } => {
                let seed = seed.unwrap_or(self.config.seed);
                self.faults().set_error_rate(rate, seed);
            }
            Fault::Overload { load, ramp_ms } => {
                let ramp = Duration::from_millis(ramp_ms.unwrap_or(0));
                self.faults().set_overload(load, ramp, now);
            }
            Fault::Restart => self.restart().await?,
            Fault::Heal => self.heal(),
            Fault::DropConnections { close_code } => self.drop_connections(close_code)?,
            Fault::VoiceClosed {
                guild_id,
                code,
                reason,
                by_remote,
                session_id,
                retries_exhausted,
            } => {
                let closed = WebSocketClosed {
                    guild_id,
                    code,
                    reason,
                    by_remote,
                };
                self.close_voice(&closed, session_id, retries_exhausted)?;
            }
        }
        Ok(())
    }

    /// Cuts every open session socket (after a close frame with `close_code`, if given); the
    /// node keeps listening and the sessions follow the rules of any closed socket.
    pub fn drop_connections(&self, close_code: Option<u16>) -> Result<(), SimError> {
        if let Some(code) = close_code.filter(|code| !sendable_close_code(*code)) {
            return Err(SimError::UnsendableCloseCode(code));
        }
        let dropped = self.with_state(|state, now| state.drop_connections(close_code, now));
        tracing::info!(
            node = self.config.name,
            dropped,
            ?close_code,
            "session connections dropped"
        );
        Ok(())
    }

    /// Discord closes the voice gateway of the guild's player in `session` (or in every session
    /// with one open). A code Koe retries (unless its retries are exhausted) comes back by
    /// itself: nothing changes and the client hears nothing.
    pub fn close_voice(
        &self,
        closed: &WebSocketClosed,
        session: Option<String>,
        retries_exhausted: bool,
    ) -> Result<(), SimError> {
        let guild = closed.guild_id;
        let koe_retries = KOE_RETRIED_CODES.contains(&closed.code) && !retries_exhausted;
        self.with_state(|state, now| {
            let ids = state.voice_connected(guild, session.as_deref());
            if ids.is_empty() {
                return Err(SimError::NoVoiceConnection { guild, session });
            }
            if koe_retries {
                tracing::info!(
                    %guild,
                    code = closed.code,
                    "voice gateway closed with a code Koe retries: reconnected by itself"
                );
                return Ok(());
            }
            for id in ids {
                tracing::info!(session = id, %guild, code = closed.code, "voice gateway closed");
                state.close_voice(&id, closed.clone(), now);
            }
            Ok(())
        })
    }

    /// Whether the node listens.
    pub fn is_up(&self) -> bool {
        self.lock_life().up
    }

    /// What `/sim/state` shows.
    pub fn snapshot(&self) -> SimState {
        let now = self.config.clock.now();
        let hung = *self.hang.borrow();
        let faults = self.faults().summary(hung, now);
        let sessions = self.with_state(|state, _| {
            let mut sessions: Vec<SessionSnapshot> = state
                .sessions
                .values()
                .map(|session| SessionSnapshot {
                    id: session.id.clone(),
                    user_id: session.user_id,
                    client_name: session.client_name.clone(),
                    connected: session.is_open(),
                    resuming: session.resuming,
                    timeout: session.timeout_secs,
                    players: session.players.keys().copied().collect(),
                })
                .collect();
            sessions.sort_by(|a, b| a.id.cmp(&b.id));
            sessions
        });
        SimState {
            name: self.config.name.clone(),
            behaves_like: self.config.behaviour.profile().to_owned(),
            behaviour: self.config.behaviour,
            up: self.is_up(),
            addr: self.addr.to_string(),
            faults,
            sessions,
            messages_sent: self.sent.load(Ordering::Relaxed),
        }
    }

    /// Emits what is due and waits until socket writers wrote everything handed to them.
    async fn settle(&self) {
        self.with_state(|_, _| ());
        loop {
            let flushed = self.flushed.notified();
            tokio::pin!(flushed);
            flushed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            flushed.await;
        }
    }
}

pub(crate) use crate::net::flipped;

/// The ticker: sleeps on the node's clock until the next deadline (or until woken because
/// deadlines moved) and emits what fell due.
async fn ticker(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let next = {
            let now = shared.config.clock.now();
            let load = shared.faults().overload_level(now);
            let mut state = shared.lock_state();
            state.advance_to(now, load);
            state.next_deadline()
        };
        let sleep = match next {
            Some(deadline) => shared.config.clock.sleep_until(deadline),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            () = sleep => {}
            () = shared.wake.notified() => {}
            () = flipped(&mut stop) => return,
        }
    }
}

/// A stand-in Lavalink v4 node serving on loopback.
#[derive(Debug)]
pub struct SimNode {
    shared: Arc<Shared>,
    stop_ticker: watch::Sender<bool>,
    ticker: JoinHandle<()>,
}

impl SimNode {
    /// Binds `config.listen` (127.0.0.1:0 by default) and starts serving.
    pub async fn start(config: NodeConfig) -> Result<Self, SimError> {
        if config.player_update_interval.is_zero() {
            return Err(SimError::ZeroInterval("player_update_interval"));
        }
        if config.stats_interval.is_zero() {
            return Err(SimError::ZeroInterval("stats_interval"));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|cause| SimError::Bind {
                addr: config.listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| SimError::Bind {
            addr: config.listen,
            cause,
        })?;
        let in_flight = Arc::new(AtomicU64::new(0));
        let now = config.clock.now();
        let placeholder = Timing {
            clock_origin: now,
            wall_origin_ms: 0,
            update_interval: config.player_update_interval,
            stuck_threshold: config.track_stuck_threshold,
            ping: config.voice_ping_ms,
            behaviour: config.behaviour,
        };
        let state = NodeState::new(
            placeholder,
            config.stats_interval,
            config.cores,
            now,
            Arc::clone(&in_flight),
        );
        let (kill, _) = watch::channel(false);
        let seed = config.seed;
        let shared = Arc::new(Shared {
            config,
            addr,
            state: Mutex::new(state),
            faults: Mutex::new(FaultState::new(seed)),
            hang: watch::channel(false).0,
            life: Mutex::new(Life {
                up: false,
                kill,
                accept: None,
            }),
            stopping: Mutex::new(None),
            wake: Notify::new(),
            flushed: Notify::new(),
            in_flight,
            events: broadcast::channel(4096).0,
            requests: broadcast::channel(4096).0,
            sent: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
            sockets: watch::channel(0).0,
            rest_turns: tokio::sync::Mutex::new(()),
        });
        shared.serve(listener);
        let (stop_ticker, stop) = watch::channel(false);
        let ticker = tokio::spawn(ticker(Arc::clone(&shared), stop));
        Ok(Self {
            shared,
            stop_ticker,
            ticker,
        })
    }

    /// The address it listens on (the same across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://host:port`, the base of every REST path.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// `ws://host:port/v4/websocket`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v4/websocket", self.shared.addr)
    }

    /// The password clients must send.
    pub fn password(&self) -> &str {
        &self.shared.config.password
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Whether it currently listens (false after a crash or shutdown until a restart).
    pub fn is_up(&self) -> bool {
        self.shared.is_up()
    }

    /// Applies a fault, exactly as `POST /sim/fault` does.
    pub async fn apply(&self, fault: Fault) -> Result<(), SimError> {
        self.shared.apply(fault).await
    }

    /// Crashes: every socket dropped without a close frame, connections refused, sessions lost.
    pub fn crash(&self) {
        self.shared.crash();
    }

    /// Closes every session socket with 1001 and stops listening (sessions lost); resets them
    /// instead when [`ServerBehaviour::close_sockets_on_shutdown`](super::ServerBehaviour::close_sockets_on_shutdown) is off.
    pub async fn graceful_shutdown(&self) {
        self.shared.graceful_shutdown().await;
    }

    /// Comes back on the same port with every session forgotten and faults healed.
    pub async fn restart(&self) -> Result<(), SimError> {
        self.shared.restart().await
    }

    /// Freezes, as a hung process: requests and handshakes are held, sockets go silent, and
    /// playback stands still (positions stop where they are, tracks do not end, no stuck events)
    /// until [`SimNode::heal`].
    pub fn hang(&self) {
        self.shared.hang();
    }

    /// Delays every REST answer and socket message by `latency` (real time).
    pub fn slow(&self, latency: Duration) {
        self.shared.faults().latency = latency;
    }

    /// Makes a share of REST requests answer 500, drawn from a generator seeded with `seed`.
    pub fn error_rate(&self, rate: f64, seed: u64) {
        self.shared.faults().set_error_rate(rate, seed);
    }

    /// Climbs the CPU load to `load` over `ramp` of the node's clock, degrading frame stats.
    pub fn overload(&self, load: f64, ramp: Duration) {
        let now = self.shared.config.clock.now();
        self.shared.faults().set_overload(load, ramp, now);
    }

    /// Clears hang, latency, error rate and overload. After a hang, playback goes on from where
    /// it stood, and what fell due meanwhile (playerUpdates, stats, resume timeouts) happens now.
    pub fn heal(&self) {
        self.shared.heal();
    }

    /// A network blip: every open session socket is dropped, with a close frame carrying
    /// `close_code` when given (1000-1003, 1007-1014 or 3000-4999), else with none, as a reset.
    /// The node keeps listening; with resuming on, a session is paused (players keep playing,
    /// events and stats queue) and can be resumed with its id within its timeout, without it the
    /// session and its players are destroyed. The sessions are detached when this returns.
    pub fn drop_connections(&self, close_code: Option<u16>) -> Result<(), SimError> {
        self.shared.drop_connections(close_code)
    }

    /// Discord closes the voice socket of every player of `guild` (by remote), as the fault
    /// `voiceClosed` does: `WebSocketClosedEvent` and a `playerUpdate` with `connected: false`
    /// (queued while a session is detached), until the client sends a voice state again. A code
    /// Koe retries on its own changes nothing; [`Fault::VoiceClosed`] with `retriesExhausted`
    /// (through [`SimNode::apply`]) forces the event, and can pick one session.
    pub fn close_voice(
        &self,
        guild: impl Into<GuildId>,
        code: u16,
        reason: impl Into<String>,
    ) -> Result<(), SimError> {
        let closed = WebSocketClosed {
            guild_id: guild.into(),
            code,
            reason: reason.into(),
            by_remote: true,
        };
        self.shared.close_voice(&closed, None, false)
    }

    /// A player as `GET .../players/{guild}` would show it (also for a detached session).
    pub fn player(&self, session_id: &str, guild: impl Into<GuildId>) -> Option<Player> {
        let guild = guild.into();
        self.shared.with_state(|state, now| {
            let timing = state.timing;
            state
                .sessions
                .get(session_id)
                .and_then(|session| session.players.get(&guild))
                .map(|player| player.to_model(now, &timing))
        })
    }

    /// Every session the node knows, open or detached.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.shared.snapshot().sessions
    }

    /// Everything `/sim/state` shows.
    pub fn state(&self) -> SimState {
        self.shared.snapshot()
    }

    /// Every message written to any client socket from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SentMessage> {
        self.shared.events.subscribe()
    }

    /// Every HTTP request reaching the node from now on, stamped on arrival (real time), before
    /// faults, authorization and routing: for measuring how long a client took to call. The
    /// channel keeps the last 4096; a receiver that falls further behind gets `Lagged`.
    pub fn requests(&self) -> broadcast::Receiver<ReceivedRequest> {
        self.shared.requests.subscribe()
    }

    /// How many messages have been written to client sockets so far.
    pub fn messages_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Emits everything due at the clock's now and waits until the socket writers wrote it
    /// (never returns while the node hangs, since hung writers write nothing).
    pub async fn settle(&self) {
        self.shared.settle().await;
    }

    /// Stops the node for good: a graceful shutdown (as [`SimNode::graceful_shutdown`]), then the
    /// ticker ends.
    pub async fn shutdown(self) {
        self.shared.graceful_shutdown().await;
        // Dropping stops the ticker.
    }
}

impl Drop for SimNode {
    fn drop(&mut self) {
        self.stop_ticker.send_replace(true);
        self.ticker.abort();
        if self.shared.is_up() {
            self.shared.crash();
        }
    }
}

/// Starts `n` nodes named `{config.name}-1` to `{config.name}-n`, each on its own port.
pub async fn start_nodes(n: usize, config: NodeConfig) -> Result<Vec<SimNode>, SimError> {
    let mut nodes = Vec::with_capacity(n);
    for index in 1..=n {
        let name = format!("{}-{index}", config.name);
        nodes.push(SimNode::start(config.clone().with_name(name)).await?);
    }
    Ok(nodes)
}

/// Runs one node on the system clock until Ctrl-C (or SIGTERM), then shuts it down as its
/// server does (gracefully, closing sockets with 1001, unless
/// [`ServerBehaviour::close_sockets_on_shutdown`](super::ServerBehaviour::close_sockets_on_shutdown) is off).
/// This is what `dimby sim lavalink --listen ... --password ... [--name ...]` calls.
pub async fn run_standalone(config: NodeConfig) -> Result<(), SimError> {
    let node = SimNode::start(config).await?;
    tracing::info!(
        node = node.name(),
        rest = node.rest_url(),
        websocket = node.ws_url(),
        "lavalink stand-in ready"
    );
    let result = wait_for_signal().await;
    node.shutdown().await;
    result
}

async fn wait_for_signal() -> Result<(), SimError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(SimError::Signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(SimError::Signal)
    }
}
