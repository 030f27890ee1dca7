//! Gateway v10 over WebSocket: Hello, Identify → READY and GUILD_CREATE, heartbeats, Resume with
//! replay, Invalid Session, Reconnect, close codes, the command rate limit, and the sessions that
//! outlive their connections.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use twilight_model::gateway::payload::incoming::Ready;
use twilight_model::gateway::payload::outgoing::request_guild_members::RequestGuildMembersInfo;
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::gateway::{Intents, ShardId};
use twilight_model::guild::UnavailableGuild;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, InteractionMarker};
use twilight_model::oauth::{ApplicationFlags, PartialApplication};

use super::compression::Compressor;
use super::config::API_VERSION;
use super::model;
use super::requests;
use super::state::{Core, DEFAULT_LARGE_THRESHOLD, Dispatch, Shared};
use super::voice;

/// Discord's limit on a payload a client sends.
const MAX_PAYLOAD: usize = 4096;

/// Gateway close codes (Discord's meanings).
pub mod close_code {
    /// Unknown error: reconnect and resume.
    pub const UNKNOWN_ERROR: u16 = 4000;
    /// An unknown opcode or an invalid payload for an opcode.
    pub const UNKNOWN_OPCODE: u16 = 4001;
    /// A payload that could not be decoded (not JSON, no `op`, too large, not UTF-8). A `d` that
    /// does not fit its opcode is 4001 ("an invalid payload for an opcode").
    pub const DECODE_ERROR: u16 = 4002;
    /// A payload other than Identify/Resume/Heartbeat before identifying.
    pub const NOT_AUTHENTICATED: u16 = 4003;
    /// The token in Identify or Resume is wrong.
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    /// A second Identify (or Resume) on an identified connection.
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    /// Resume with a sequence the session never reached.
    pub const INVALID_SEQ: u16 = 4007;
    /// Too many gateway commands.
    pub const RATE_LIMITED: u16 = 4008;
    /// The session timed out: reconnect and identify.
    pub const SESSION_TIMED_OUT: u16 = 4009;
    /// An invalid shard in Identify.
    pub const INVALID_SHARD: u16 = 4010;
    /// The session would handle too many guilds.
    pub const SHARDING_REQUIRED: u16 = 4011;
    /// An invalid gateway version.
    pub const INVALID_API_VERSION: u16 = 4012;
    /// Invalid intents.
    pub const INVALID_INTENTS: u16 = 4013;
    /// Privileged intents the application is not allowed.
    pub const DISALLOWED_INTENTS: u16 = 4014;

    /// Whether a session survives a close with this code (it can be resumed).
    pub fn keeps_session(code: u16) -> bool {
        !matches!(code, 1000 | 1001 | 4004 | 4007 | 4009..=4014)
    }

    /// Discord's description of a close code, sent as the close reason.
    pub fn reason(code: u16) -> &'static str {
        match code {
            4000 => "Unknown error.",
            4001 => "Unknown opcode.",
            4002 => "Decode error.",
            4003 => "Not authenticated.",
            4004 => "Authentication failed.",
            4005 => "Already authenticated.",
            4007 => "Invalid seq.",
            4008 => "Rate limited.",
            4009 => "Session timed out.",
            4010 => "Invalid shard.",
            4011 => "Sharding required.",
            4012 => "Invalid API version.",
            4013 => "Invalid intent(s).",
            4014 => "Disallowed intent(s).",
            _ => "",
        }
    }
}

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this payload.
    Text(String),
    /// Send this INTERACTION_CREATE payload and note when it was written (the interaction's
    /// `dispatched_at`).
    Interaction(String, Id<InteractionMarker>),
    /// Send a close frame with this code and end.
    Close(u16),
    /// End without a close frame.
    Drop,
}

/// A gateway session: survives its connection until invalidated or expired.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    pub shard: ShardId,
    pub intents: Intents,
    pub seq: u64,
    buffer: VecDeque<(u64, String)>,
    pub connection: Option<u64>,
    /// When the last connection went away (on the configured clock).
    pub disconnected_at: Option<Instant>,
    /// When this session last asked for every member of a guild (real time; op 8's limit).
    all_members: HashMap<Id<GuildMarker>, Instant>,
}

impl Session {
    fn covers(&self, guild: Option<Id<GuildMarker>>) -> bool {
        guild.is_none_or(|guild| shard_of(guild, self.shard.total()) == self.shard.number())
    }
}

/// The shard a guild belongs to.
pub(crate) fn shard_of(guild: Id<GuildMarker>, shards: u32) -> u32 {
    u32::try_from((guild.get() >> 22) % u64::from(shards.max(1))).unwrap_or(0)
}

#[derive(Debug)]
struct Connection {
    tx: mpsc::UnboundedSender<Outbound>,
    session: Option<String>,
    compression: &'static str,
    zombie: bool,
}

/// A live gateway connection, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The stand-in's number for the connection.
    pub id: u64,
    /// The session it carries, once identified or resumed.
    pub session_id: Option<String>,
    /// The transport compression it asked for (`none`, `zlib-stream`, `zstd-stream`).
    pub compression: &'static str,
    /// Whether it was made a zombie (no heartbeat ACKs, no events).
    pub zombie: bool,
}

/// A gateway session, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id READY gave.
    pub id: String,
    /// `[shard, total]` from Identify.
    pub shard: [u32; 2],
    /// The intents from Identify.
    pub intents: Intents,
    /// The last sequence number dispatched.
    pub seq: u64,
    /// Whether a connection carries it now.
    pub connected: bool,
}

/// Every session and live connection.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: HashMap<String, Session>,
    connections: HashMap<u64, Connection>,
    next_connection: u64,
}

impl Sessions {
    fn open(&mut self, compression: &'static str) -> (u64, mpsc::UnboundedReceiver<Outbound>) {
        self.next_connection += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        self.connections.insert(
            self.next_connection,
            Connection {
                tx,
                session: None,
                compression,
                zombie: false,
            },
        );
        (self.next_connection, rx)
    }

    /// A connection ended; its session stays resumable unless the way it ended says otherwise.
    fn closed(&mut self, connection: u64, keeps_session: bool, now: Instant) {
        let Some(gone) = self.connections.remove(&connection) else {
            return;
        };
        let Some(session_id) = gone.session else {
            return;
        };
        let Some(session) = self.by_id.get_mut(&session_id) else {
            return;
        };
        if session.connection != Some(connection) {
            return; // Resumed elsewhere already.
        }
        if keeps_session {
            session.connection = None;
            session.disconnected_at = Some(now);
        } else {
            self.by_id.remove(&session_id);
        }
    }

    fn send(&self, connection: u64, outbound: Outbound) {
        if let Some(conn) = self.connections.get(&connection) {
            // A closed receiver means the task is ending; the session notices on its own.
            let _ = conn.tx.send(outbound);
        }
    }

    /// Sends a dispatch to every session that should get it (live or waiting for a resume).
    pub(crate) fn dispatch(&mut self, dispatch: &Dispatch, replay_buffer: usize) {
        let targets: Vec<(String, bool)> = self
            .by_id
            .values()
            .filter(|session| session.covers(dispatch.guild))
            .filter(|session| {
                dispatch
                    .intent
                    .is_none_or(|i| session.intents.intersects(i))
            })
            .map(|session| {
                let content = session.intents.contains(Intents::MESSAGE_CONTENT);
                (session.id.clone(), content)
            })
            .collect();
        for (session, content) in targets {
            let data = match &dispatch.without_content {
                Some(redacted) if !content => redacted,
                _ => &dispatch.data,
            };
            self.dispatch_to(&session, dispatch.name, data, replay_buffer);
        }
    }

    /// Sends a dispatch to one session: next sequence number, replay buffer, live connection.
    pub(crate) fn dispatch_to(
        &mut self,
        session_id: &str,
        name: &str,
        data: &Value,
        replay_buffer: usize,
    ) {
        let Some(session) = self.by_id.get_mut(session_id) else {
            return;
        };
        session.seq += 1;
        let mut data = data.clone();
        model::documented(&mut data);
        let payload = json!({"op": 0, "t": name, "s": session.seq, "d": data}).to_string();
        session.buffer.push_back((session.seq, payload.clone()));
        while session.buffer.len() > replay_buffer.max(1) {
            session.buffer.pop_front();
        }
        if let Some(connection) = session.connection {
            let interaction = (name == "INTERACTION_CREATE")
                .then(|| data["id"].as_str()?.parse().ok().and_then(Id::new_checked))
                .flatten();
            let outbound = match interaction {
                Some(id) => Outbound::Interaction(payload, id),
                None => Outbound::Text(payload),
            };
            self.send(connection, outbound);
        }
    }

    /// Applies `outbound()` to every live connection (faults).
    pub(crate) fn each_connection(&mut self, mut outbound: impl FnMut() -> Outbound) -> usize {
        for conn in self.connections.values() {
            let _ = conn.tx.send(outbound());
        }
        self.connections.len()
    }

    /// Makes every live connection a zombie.
    pub(crate) fn zombify(&mut self) -> usize {
        for conn in self.connections.values_mut() {
            conn.zombie = true;
        }
        self.connections.len()
    }

    /// Invalidates every session (after an Invalid Session with `d: false`).
    pub(crate) fn invalidate_all(&mut self) {
        self.by_id.clear();
        for conn in self.connections.values_mut() {
            conn.session = None;
        }
    }

    fn is_zombie(&self, connection: u64) -> bool {
        self.connections
            .get(&connection)
            .is_some_and(|conn| conn.zombie)
    }

    pub(crate) fn connection_infos(&self) -> Vec<ConnectionInfo> {
        let mut infos: Vec<_> = self
            .connections
            .iter()
            .map(|(id, conn)| ConnectionInfo {
                id: *id,
                session_id: conn.session.clone(),
                compression: conn.compression,
                zombie: conn.zombie,
            })
            .collect();
        infos.sort_by_key(|info| info.id);
        infos
    }

    pub(crate) fn session_infos(&self) -> Vec<SessionInfo> {
        let mut infos: Vec<_> = self
            .by_id
            .values()
            .map(|session| SessionInfo {
                id: session.id.clone(),
                shard: [session.shard.number(), session.shard.total()],
                intents: session.intents,
                seq: session.seq,
                connected: session.connection.is_some(),
            })
            .collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// The session a connection carries.
    pub(crate) fn session_of(&self, connection: u64) -> Option<&Session> {
        let id = self.connections.get(&connection)?.session.as_ref()?;
        self.by_id.get(id)
    }
}

/// The query of the gateway URL.
#[derive(Debug, Deserialize)]
pub(crate) struct GatewayQuery {
    v: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

/// `GET /` with an upgrade: a gateway connection.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<GatewayQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| run(shared, query, socket))
}

/// How a connection ended.
enum Ended {
    /// The client sent a close frame with this code.
    ClientClosed(Option<u16>),
    /// The stand-in closed it with this code.
    ServerClosed(u16),
    /// Dropped without a close frame (fault, transport error, shutdown).
    Dropped,
}

struct Conn {
    shared: Arc<Shared>,
    id: u64,
    socket: WebSocket,
    compressor: Compressor,
    commands: VecDeque<Instant>,
}

async fn run(shared: Arc<Shared>, query: GatewayQuery, socket: WebSocket) {
    let compressor = Compressor::for_query(query.compress.as_deref());
    let (id, mut rx) = shared.with(|core| core.sessions.open(compressor.name()));
    tracing::debug!(
        connection = id,
        compression = compressor.name(),
        "gateway connection"
    );
    let mut kill = shared.kill.subscribe();
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        id,
        socket,
        compressor,
        commands: VecDeque::new(),
    };
    let ended = 'run: {
        if query.v.as_deref() != Some(&API_VERSION.to_string()) {
            break 'run conn.close(close_code::INVALID_API_VERSION).await;
        }
        if query
            .encoding
            .as_deref()
            .is_some_and(|encoding| encoding != "json")
        {
            // The stand-in speaks JSON only (Discord also offers ETF).
            break 'run conn.close(close_code::DECODE_ERROR).await;
        }
        let hello = json!({
            "t": null, "s": null, "op": 10,
            "d": {"heartbeat_interval": shared.config.heartbeat_interval.as_millis()},
        });
        if !conn.send(hello.to_string()).await {
            break 'run Ended::Dropped;
        }
        loop {
            tokio::select! {
                incoming = conn.socket.recv() => {
                    match incoming {
                        None | Some(Err(_)) => break 'run Ended::Dropped,
                        Some(Ok(WsMessage::Close(frame))) => {
                            break 'run conn.closed_by_client(frame).await;
                        }
                        Some(Ok(WsMessage::Text(text))) => {
                            if let Some(code) = conn.receive(text.as_str()) {
                                break 'run conn.close(code).await;
                            }
                        }
                        Some(Ok(WsMessage::Binary(bytes))) => {
                            let code = match std::str::from_utf8(&bytes) {
                                Ok(text) => conn.receive(text),
                                Err(_) => Some(close_code::DECODE_ERROR),
                            };
                            if let Some(code) = code {
                                break 'run conn.close(code).await;
                            }
                        }
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    }
                }
                outbound = rx.recv() => {
                    match outbound {
                        Some(Outbound::Text(text)) => {
                            if shared.read(|core| core.sessions.is_zombie(id)) {
                                continue;
                            }
                            if !conn.send(text).await {
                                break 'run Ended::Dropped;
                            }
                        }
                        Some(Outbound::Interaction(text, interaction)) => {
                            if shared.read(|core| core.sessions.is_zombie(id)) {
                                continue;
                            }
                            let Some(writing) = conn.send_stamped(text).await else {
                                break 'run Ended::Dropped;
                            };
                            shared.with(|core| core.interactions.dispatched(interaction, writing));
                        }
                        Some(Outbound::Close(code)) => break 'run conn.close(code).await,
                        Some(Outbound::Drop) | None => break 'run Ended::Dropped,
                    }
                }
                _ = kill.changed() => break 'run Ended::Dropped,
            }
        }
    };
    let keeps = match ended {
        Ended::ClientClosed(code) => code.is_none_or(close_code::keeps_session),
        Ended::ServerClosed(code) => close_code::keeps_session(code),
        Ended::Dropped => true,
    };
    let now = shared.config.clock.now();
    shared.with(|core| core.sessions.closed(id, keeps, now));
    tracing::debug!(
        connection = id,
        keeps_session = keeps,
        "gateway connection ended"
    );
}

impl Conn {
    /// The client closed: Discord answers the close frame with one of its own (the closing
    /// handshake, RFC 6455 5.5.1), which is how a client knows its close went through (twilight
    /// waits for it before it stops, and connects again without it). The WebSocket queued the
    /// answer when it read the frame; flushing sends it.
    async fn closed_by_client(&mut self, frame: Option<CloseFrame>) -> Ended {
        let _ = futures_util::SinkExt::flush(&mut self.socket).await;
        Ended::ClientClosed(frame.map(|frame| frame.code))
    }
}

impl Conn {
    /// Sends one payload (compressed if asked), after the delay fault if any.
    async fn send(&mut self, text: String) -> bool {
        self.send_stamped(text).await.is_some()
    }

    /// Sends one payload as [`Conn::send`] does; answers the instant the frame began to be
    /// written (after the delay fault and compression), or `None` if the connection failed.
    async fn send_stamped(&mut self, text: String) -> Option<Instant> {
        let delay = self.shared.read(|core| core.faults.gateway_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let message = if self.compressor.is_binary() {
            match self.compressor.compress(text.as_bytes()) {
                Ok(bytes) => WsMessage::Binary(bytes.into()),
                Err(error) => {
                    tracing::warn!(%error, "gateway compression failed");
                    return None;
                }
            }
        } else {
            WsMessage::Text(text.into())
        };
        let writing = Instant::now();
        self.socket.send(message).await.ok().map(|()| writing)
    }

    async fn close(&mut self, code: u16) -> Ended {
        let frame = CloseFrame {
            code,
            reason: close_code::reason(code).into(),
        };
        let _ = self.socket.send(WsMessage::Close(Some(frame))).await;
        Ended::ServerClosed(code)
    }

    fn push(&self, text: String) {
        self.shared
            .read(|core| core.sessions.send(self.id, Outbound::Text(text)));
    }

    /// Handles one client payload; `Some(code)` closes the connection with that code.
    fn receive(&mut self, text: &str) -> Option<u16> {
        if text.len() > MAX_PAYLOAD {
            return Some(close_code::DECODE_ERROR);
        }
        if let Some((limit, window)) = self.shared.config.gateway_rate_limit {
            let now = Instant::now();
            while self
                .commands
                .front()
                .is_some_and(|sent| now.duration_since(*sent) >= window)
            {
                self.commands.pop_front();
            }
            self.commands.push_back(now);
            if self.commands.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
                return Some(close_code::RATE_LIMITED);
            }
        }
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            return Some(close_code::DECODE_ERROR);
        };
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            return Some(close_code::DECODE_ERROR);
        };
        let data = payload.get("d").cloned().unwrap_or(Value::Null);
        let identified = self
            .shared
            .read(|core| core.sessions.session_of(self.id).is_some());
        match op {
            1 => {
                self.shared.read(|core| {
                    if !core.sessions.is_zombie(self.id) {
                        let ack = json!({"t": null, "s": null, "op": 11, "d": null});
                        core.sessions.send(self.id, Outbound::Text(ack.to_string()));
                    }
                });
                None
            }
            2 | 6 if identified => Some(close_code::ALREADY_AUTHENTICATED),
            2 => self.identify(data),
            6 => self.resume(&data),
            3 | 4 | 8 | 31 if !identified => Some(close_code::NOT_AUTHENTICATED),
            // Presence updates are accepted silently (the stand-in keeps no presences).
            3 => match serde_json::from_value::<requests::PresenceUpdate>(data) {
                Ok(presence) if presence.is_valid() => None,
                _ => Some(close_code::UNKNOWN_OPCODE),
            },
            8 => match serde_json::from_value::<RequestGuildMembersInfo>(data) {
                Ok(request) if request.query.is_some() || request.user_ids.is_some() => {
                    self.answer(|core, asker| {
                        requests::request_guild_members(core, asker, &request)
                    });
                    None
                }
                _ => Some(close_code::UNKNOWN_OPCODE),
            },
            31 => match serde_json::from_value::<requests::SoundboardRequest>(data) {
                Ok(request) => {
                    self.answer(|core, asker| {
                        requests::request_soundboard_sounds(core, asker, &request)
                    });
                    None
                }
                Err(_) => Some(close_code::UNKNOWN_OPCODE),
            },
            4 => match serde_json::from_value::<UpdateVoiceStateInfo>(data) {
                Ok(update) => {
                    voice::update_voice_state(&self.shared, self.id, &update);
                    None
                }
                Err(_) => Some(close_code::UNKNOWN_OPCODE),
            },
            _ => Some(close_code::UNKNOWN_OPCODE),
        }
    }

    /// Answers a command of this connection's session with dispatches for that session alone.
    fn answer(&self, ask: impl FnOnce(&Core, &mut requests::Asker<'_>) -> requests::Answers) {
        let buffer = self.shared.config.replay_buffer;
        let connection = self.id;
        self.shared.with(|core| {
            let Some(session_id) = core
                .sessions
                .connections
                .get(&connection)
                .and_then(|conn| conn.session.clone())
            else {
                return;
            };
            let Some(session) = core.sessions.by_id.get_mut(&session_id) else {
                return;
            };
            let (shard, intents) = (session.shard, session.intents);
            let mut all_members = std::mem::take(&mut session.all_members);
            let mut asker = requests::Asker {
                shard,
                intents,
                all_members: &mut all_members,
            };
            let answers = ask(core, &mut asker);
            if let Some(session) = core.sessions.by_id.get_mut(&session_id) {
                session.all_members = all_members;
            }
            for (name, data) in answers {
                core.sessions.dispatch_to(&session_id, name, &data, buffer);
            }
        });
    }

    fn token_ok(&self, token: &str) -> bool {
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        token == self.shared.config.token
    }

    fn identify(&mut self, data: Value) -> Option<u16> {
        #[derive(Deserialize)]
        struct Identify {
            token: String,
            intents: u64,
            #[serde(rename = "properties")]
            _properties: Value,
            shard: Option<[u32; 2]>,
            large_threshold: Option<u64>,
        }
        let Ok(identify) = serde_json::from_value::<Identify>(data) else {
            return Some(close_code::UNKNOWN_OPCODE);
        };
        if !self.token_ok(&identify.token) {
            return Some(close_code::AUTHENTICATION_FAILED);
        }
        let Some(intents) = Intents::from_bits(identify.intents) else {
            return Some(close_code::INVALID_INTENTS);
        };
        let privileged =
            Intents::GUILD_MEMBERS | Intents::GUILD_PRESENCES | Intents::MESSAGE_CONTENT;
        if !(intents & (privileged - self.shared.config.privileged_intents)).is_empty() {
            return Some(close_code::DISALLOWED_INTENTS);
        }
        // "Value between 50 and 250"; outside it, the nearest bound (the docs do not say).
        let large_threshold =
            identify
                .large_threshold
                .map_or(DEFAULT_LARGE_THRESHOLD, |threshold| {
                    usize::try_from(threshold.clamp(50, 250)).unwrap_or(DEFAULT_LARGE_THRESHOLD)
                });
        let [number, total] = identify.shard.unwrap_or([0, 1]);
        let Some(shard) = ShardId::new_checked(number, total) else {
            return Some(close_code::INVALID_SHARD);
        };
        let hub = Arc::clone(&self.shared);
        let config = &hub.config;
        let connection = self.id;
        hub.with(|core| {
            if let Some(refusal) = identify_refused(core, config, shard) {
                core.identify_refusals += 1;
                tracing::warn!(
                    shard = shard.number(),
                    total = shard.total(),
                    refusal,
                    "identify refused (Discord's identify limits): op 9"
                );
                core.sessions
                    .send(connection, Outbound::Text(invalid_session(false)));
                return;
            }
            core.identifies += 1;
            core.identify_buckets.insert(
                shard.number() % config.max_concurrency.max(1),
                std::time::Instant::now(),
            );
            let session_id = core.random_hex(32);
            core.sessions.by_id.insert(
                session_id.clone(),
                Session {
                    id: session_id.clone(),
                    shard,
                    intents,
                    seq: 0,
                    buffer: VecDeque::new(),
                    connection: Some(connection),
                    disconnected_at: None,
                    all_members: HashMap::new(),
                },
            );
            if let Some(conn) = core.sessions.connections.get_mut(&connection) {
                conn.session = Some(session_id.clone());
            }
            let ready = ready(core, &hub, &session_id, shard);
            core.sessions
                .dispatch_to(&session_id, "READY", &ready, config.replay_buffer);
            if intents.contains(Intents::GUILDS) {
                for guild in guild_creates(core, shard, intents, large_threshold) {
                    core.sessions.dispatch_to(
                        &session_id,
                        "GUILD_CREATE",
                        &guild,
                        config.replay_buffer,
                    );
                }
            }
        });
        None
    }

    fn resume(&mut self, data: &Value) -> Option<u16> {
        #[derive(Deserialize)]
        struct Resume {
            token: String,
            session_id: String,
            seq: Option<u64>,
        }
        let Ok(resume) = serde_json::from_value::<Resume>(data.clone()) else {
            return Some(close_code::UNKNOWN_OPCODE);
        };
        if !self.token_ok(&resume.token) {
            return Some(close_code::AUTHENTICATION_FAILED);
        }
        let seq = resume.seq.unwrap_or(0);
        let shared = Arc::clone(&self.shared);
        let now = shared.config.clock.now();
        let window = shared.config.resume_window;
        let connection = self.id;
        let outcome = shared.with(|core| {
            let sessions = &mut core.sessions;
            let Some(session) = sessions.by_id.get_mut(&resume.session_id) else {
                return Resumed::Invalid;
            };
            let expired = session.connection.is_none()
                && session
                    .disconnected_at
                    .is_some_and(|at| now.saturating_duration_since(at) > window);
            if expired {
                sessions.by_id.remove(&resume.session_id);
                return Resumed::Invalid;
            }
            if seq > session.seq {
                return Resumed::BadSeq;
            }
            let oldest = session.buffer.front().map_or(session.seq + 1, |(s, _)| *s);
            if seq + 1 < oldest {
                sessions.by_id.remove(&resume.session_id);
                return Resumed::Invalid;
            }
            let previous = session.connection.replace(connection);
            session.disconnected_at = None;
            let replay: Vec<String> = session
                .buffer
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, payload)| payload.clone())
                .collect();
            if let Some(previous) = previous.filter(|previous| *previous != connection) {
                // Discord ends the old connection of a session that resumes elsewhere.
                sessions.send(previous, Outbound::Drop);
                if let Some(old) = sessions.connections.get_mut(&previous) {
                    old.session = None;
                }
            }
            if let Some(conn) = sessions.connections.get_mut(&connection) {
                conn.session = Some(resume.session_id.clone());
            }
            for payload in replay {
                sessions.send(connection, Outbound::Text(payload));
            }
            sessions.dispatch_to(
                &resume.session_id,
                "RESUMED",
                &Value::Null,
                shared.config.replay_buffer,
            );
            Resumed::Ok
        });
        match outcome {
            Resumed::Ok => None,
            Resumed::BadSeq => Some(close_code::INVALID_SEQ),
            Resumed::Invalid => {
                self.push(invalid_session(false));
                None
            }
        }
    }
}

enum Resumed {
    Ok,
    BadSeq,
    Invalid,
}

/// The Invalid Session payload.
/// How close two identifies of one bucket may come in Discord's 5 s without being refused: the
/// transport's jitter (a client spacing them exactly 5 s apart can be seen a little closer).
const IDENTIFY_JITTER: std::time::Duration = std::time::Duration::from_millis(100);

/// Why Discord would refuse an identify now, if it would: a second one in the shard's
/// rate-limit bucket (`shard % max_concurrency`) within 5 s, or past the session start limit
/// (`session_start_total`). Discord answers both with Invalid Session (op 9, not resumable).
fn identify_refused(
    core: &Core,
    config: &super::DiscordConfig,
    shard: ShardId,
) -> Option<&'static str> {
    if core.identifies >= config.session_start_total {
        return Some("session start limit reached");
    }
    let bucket = shard.number() % config.max_concurrency.max(1);
    let last = core.identify_buckets.get(&bucket)?;
    (last.elapsed() + IDENTIFY_JITTER < IDENTIFY_SPACING)
        .then_some("a second identify in the bucket within 5 s")
}

/// Discord's spacing of identifies in one rate-limit bucket.
const IDENTIFY_SPACING: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn invalid_session(resumable: bool) -> String {
    json!({"t": null, "s": null, "op": 9, "d": resumable}).to_string()
}

/// The Reconnect payload.
pub(crate) fn reconnect() -> String {
    json!({"t": null, "s": null, "op": 7, "d": null}).to_string()
}

/// A heartbeat request from the gateway.
pub(crate) fn heartbeat_request() -> String {
    json!({"t": null, "s": null, "op": 1, "d": null}).to_string()
}

/// The URL clients connect to (and resume at).
pub(crate) fn gateway_url(shared: &Shared) -> String {
    format!("ws://{}", shared.addr)
}

fn ready(core: &Core, hub: &Shared, session_id: &str, shard: ShardId) -> Value {
    let guilds = core
        .guilds
        .keys()
        .filter(|guild| shard_of(**guild, shard.total()) == shard.number())
        .map(|id| UnavailableGuild {
            id: *id,
            unavailable: true,
        })
        .collect();
    let ready = Ready {
        application: PartialApplication {
            flags: ApplicationFlags::GATEWAY_MESSAGE_CONTENT_LIMITED,
            id: hub.config.application_id,
        },
        guilds,
        resume_gateway_url: gateway_url(hub),
        session_id: session_id.to_owned(),
        shard: Some(shard),
        user: model::current_user(&core.bot),
        version: u64::from(API_VERSION),
    };
    serde_json::to_value(ready).unwrap_or(Value::Null)
}

/// GUILD_CREATE payloads for every guild of a shard.
/// GUILD_CREATE payloads for every guild of a shard. A guild of more than `large_threshold`
/// members is `large`, and with GUILD_PRESENCES its `members` then hold only those "online, with
/// a role, with a nickname, or in a voice channel" (Gateway Events, "Request Guild Members"): the
/// stand-in keeps no presences, so nobody is online.
fn guild_creates(
    core: &Core,
    shard: ShardId,
    intents: Intents,
    large_threshold: usize,
) -> Vec<Value> {
    core.guilds
        .values()
        .filter(|guild| shard_of(guild.id, shard.total()) == shard.number())
        .map(|guild| {
            let large = guild.members.len() > large_threshold;
            // Without GUILD_PRESENCES, members hold only the bot and users in voice channels.
            let members = guild
                .members
                .values()
                .filter(|member| {
                    let listed = !large || !member.roles.is_empty() || member.nick.is_some();
                    intents.contains(Intents::GUILD_PRESENCES) && listed
                        || member.user.id == core.bot.id
                        || guild.voice_states.contains_key(&member.user.id)
                })
                .cloned()
                .collect();
            let mut value = model::guild_create_json(&guild.to_guild(true, members));
            value["large"] = json!(large);
            value
        })
        .collect()
}

/// The GUILD_CREATE payload for a guild the bot joins while connected.
pub(crate) fn guild_create_dispatch(core: &Core, guild: Id<GuildMarker>) -> Option<Dispatch> {
    let state = core.guilds.get(&guild)?;
    let members = state
        .members
        .values()
        .filter(|member| {
            member.user.id == core.bot.id || state.voice_states.contains_key(&member.user.id)
        })
        .cloned()
        .collect();
    Some(Dispatch {
        name: "GUILD_CREATE",
        data: model::guild_create_json(&state.to_guild(true, members)),
        guild: Some(guild),
        intent: Some(Intents::GUILDS),
        without_content: None,
    })
}

/// Sends a raw gateway payload to every live connection.
pub(crate) fn broadcast(shared: &Shared, payload: &str) -> usize {
    shared.with(|core| {
        core.sessions
            .each_connection(|| Outbound::Text(payload.to_owned()))
    })
}

/// Closes every live connection with a code.
pub(crate) fn close_all(shared: &Shared, code: u16) -> usize {
    shared.with(|core| core.sessions.each_connection(|| Outbound::Close(code)))
}

/// Drops every live connection without a close frame.
pub(crate) fn drop_all(shared: &Shared) -> usize {
    shared.with(|core| core.sessions.each_connection(|| Outbound::Drop))
}
