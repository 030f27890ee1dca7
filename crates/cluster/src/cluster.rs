//! The cluster handle: nodes in, players out. The bot talks to this and never to a node directly.
//!
//! State lives in one mutex that is never held across an await. Each node has two tasks: a pump
//! that applies its client's events in order, and a prober. Moves run as tasks bounded by a global
//! semaphore and one per target node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use clock::SharedClock;
use lavalink::client::RestError;
use lavalink::model::{
    GuildId, LoadResult, Stats, Track, UpdatePlayer, UpdatePlayerTrack, VoiceState,
};
use lavalink::{NodeClient, NodeConfig};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use crate::breaker::{Breaker, CircuitState, Transition};
use crate::config::{ClusterConfig, NodeSpec, SpecError, validate_nodes};
use crate::events::{ClusterEvent, DrainMode};
use crate::ledger::{PlayerRecord, Recreate};
use crate::selection::{self, Candidate, Choice};
use crate::window::{MoveWindow, Reservation, WindowConfig};

/// Moves in flight onto a node before its answers have shown how many it takes at once.
const INITIAL_MOVE_WINDOW: usize = 4;

/// A request the cluster could not carry out.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No node is healthy enough to take the request.
    #[error("audio nodes are unavailable")]
    NoNodeAvailable,
    /// The node refused or failed the request.
    #[error("node {node}: {cause}")]
    Node {
        /// The node.
        node: String,
        /// What went wrong.
        cause: RestError,
    },
    /// A node specification is wrong, or names an unknown node.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// What [`Cluster::lyrics`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum LyricsAnswer {
    /// The lyrics, from a node with the LavaLyrics plugin.
    Found(Box<lavalink::model::Lyrics>),
    /// The nodes with the plugin found none for the track.
    NotFound,
    /// No healthy node has the plugin (`/v4/info` lists none).
    NoPlugin,
}

/// What became of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A node has it.
    OnNode(String),
    /// No node has the player right now (no voice connection yet, or no healthy node): the state
    /// is kept and sent when a node takes the player.
    Kept,
}

/// The socket side of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Not connected yet.
    Connecting,
    /// Ready, with this session.
    Up {
        /// The session id.
        session: String,
    },
    /// Lost abnormally; waiting for the session to resume until the instant.
    Resuming {
        /// When to give up and move players.
        until: Instant,
    },
    /// Down.
    Down,
}

impl Link {
    /// A bounded label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Up { .. } => "up",
            Self::Resuming { .. } => "resuming",
            Self::Down => "down",
        }
    }
}

/// One player's voice connection, as its node last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConnection {
    /// The guild.
    pub guild: GuildId,
    /// The node playing it (`None` while pending).
    pub node: Option<String>,
    /// Whether it has a track and is not paused.
    pub playing: bool,
    /// Whether the node's voice connection is up.
    pub connected: bool,
    /// The node's voice gateway round trip, when connected.
    pub ping_ms: Option<u64>,
}

/// A node as operators see it (no password).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// REST URL (any `user:password@` part redacted).
    pub url: String,
    /// Region.
    pub region: Option<String>,
    /// Priority tier.
    pub priority: u8,
    /// Configured weight.
    pub weight: f64,
    /// Effective weight now (slow start).
    pub effective_weight: f64,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Socket state.
    pub link: &'static str,
    /// Circuit state.
    pub circuit: &'static str,
    /// Whether it takes new players.
    pub eligible: bool,
    /// Drain in progress (or finished: the node stays drained until enabled).
    pub draining: Option<DrainMode>,
    /// How the drain is going.
    pub drain: Option<DrainProgress>,
    /// Players this cluster has on it.
    pub players: usize,
    /// Last probe round trip in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Node-wide players from its last stats.
    pub node_players: Option<u64>,
    /// Node-wide playing players from its last stats.
    pub node_playing_players: Option<u64>,
    /// System CPU load from its last stats.
    pub system_load: Option<f64>,
    /// Consecutive failed probes.
    pub probe_failures: u32,
    /// Whether its session can resume (false on a server without resuming: a lost socket moves
    /// its players at once).
    pub resumable: bool,
    /// Moves onto it allowed in flight at once now (its adaptive window).
    pub move_window: usize,
    /// Age of its last sign of life in milliseconds.
    pub last_seen_ms: Option<u64>,
}

/// A drain as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DrainProgress {
    /// Players moved off so far.
    pub moved: usize,
    /// Players no node could take (they stay).
    pub failed: usize,
    /// Players still on the node.
    pub remaining: usize,
    /// Whether the drain finished (the node stays drained until enabled).
    pub completed: bool,
    /// Since the drain started.
    pub elapsed_ms: u64,
}

/// A player as the bot sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerView {
    /// The ledger record.
    pub record: PlayerRecord,
    /// The position now, extrapolated.
    pub position_ms: u64,
}

#[derive(Clone, Copy)]
pub(crate) struct Drain {
    pub mode: DrainMode,
    /// The report went out; the node stays drained until enabled.
    pub completed: bool,
    pub started: Instant,
    pub moved: usize,
    pub failed: usize,
    pub remove_when_done: bool,
}

pub(crate) struct Node {
    pub spec: NodeSpec,
    /// `None` for a disabled node, which is never connected.
    pub client: Option<NodeClient>,
    pub generation: u64,
    pub breaker: Breaker,
    pub link: Link,
    /// Bumped on every loss, so a resume-window timer knows whether its loss is still current.
    pub loss_epoch: u64,
    /// The last message or probe answer from the node.
    pub last_alive: Option<Instant>,
    /// While the node is lost: audio stopped no later than this.
    pub alive_until: Option<Instant>,
    pub stats: Option<Stats>,
    pub placed_since_stats: u64,
    pub rtt: Option<Duration>,
    pub drain: Option<Drain>,
    /// Moves onto this node: how many at once, adapting to how fast it answers them.
    pub window: Arc<MoveWindow>,
    /// Whether its `cpu.systemLoad` has shown itself to be a load average (above one), so that
    /// later low values are read the same way.
    pub load_is_average: bool,
    /// Whether its session can resume. A server that refuses to configure resuming (NodeLink
    /// answers 404) loses its players with its socket: they move at once, no resume window.
    pub resumable: bool,
    /// Players we left behind on this node (session, guild), to delete once it answers.
    pub orphans: Vec<(String, GuildId)>,
    /// Moves off this node that are still deleting their player here.
    pub leaving: usize,
    /// A session handed over by a predecessor, resumed on the first connection; its players
    /// are adopted once it is ready. Taken then (or when the node gives up).
    pub handover: Option<String>,
    pub tasks: Vec<AbortHandle>,
}

impl Node {
    pub fn eligible(&self) -> bool {
        self.spec.enabled
            && matches!(self.link, Link::Up { .. })
            && self.breaker.is_closed()
            && self.drain.is_none()
    }

    /// Whether requests for players already here can go to it.
    pub fn usable(&self) -> bool {
        self.spec.enabled
            && matches!(self.link, Link::Up { .. })
            && !matches!(self.breaker.state(), CircuitState::Open { .. })
    }

    /// The latest of the node's last message, last good probe and last pong.
    pub fn last_sign_of_life(&self) -> Option<Instant> {
        let traffic = self.client.as_ref().and_then(NodeClient::last_traffic);
        match (self.last_alive, traffic) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn session(&self) -> Option<&str> {
        match &self.link {
            Link::Up { session } => Some(session),
            _ => None,
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub nodes: BTreeMap<String, Node>,
    pub players: HashMap<GuildId, PlayerRecord>,
    /// Guilds whose next TrackStart only confirms a move.
    pub after_move: HashSet<GuildId>,
    /// Bumped on every change the bot makes to a player, so a move can tell it raced one.
    pub versions: HashMap<GuildId, u64>,
    /// Guilds with a move under way.
    pub in_flight: HashSet<GuildId>,
    /// Nodes that join once the node of the same name has drained away (an address change).
    pub replacements: HashMap<String, NodeSpec>,
    pub next_generation: u64,
}

impl State {
    pub fn players_on(&self, node: &str) -> usize {
        self.players
            .values()
            .filter(|p| p.node.as_deref() == Some(node))
            .count()
    }

    pub fn pending(&self) -> usize {
        self.players
            .values()
            .filter(|p| p.node.is_none() && p.voice.as_ref().is_some_and(VoiceState::is_complete))
            .count()
    }

    fn bump(&mut self, guild: GuildId) {
        *self.versions.entry(guild).or_default() += 1;
    }

    pub fn version(&self, guild: GuildId) -> u64 {
        self.versions.get(&guild).copied().unwrap_or(0)
    }

    /// Chooses an eligible node, never one in `exclude`.
    pub fn choose(
        &self,
        config: &ClusterConfig,
        region: Option<&str>,
        exclude: &HashSet<String>,
        now: Instant,
    ) -> Option<Choice> {
        let candidates: Vec<Candidate<'_>> = self
            .nodes
            .values()
            .filter(|n| n.eligible() && !exclude.contains(&n.spec.name))
            .map(|n| {
                let window = n.window.view();
                Candidate {
                    name: &n.spec.name,
                    region: n.spec.region.as_deref(),
                    priority: n.spec.priority,
                    weight: n.spec.weight * n.breaker.weight_factor(now),
                    stats: n.stats.as_ref(),
                    load_is_average: n.load_is_average,
                    // Moves headed there count as players placed from the moment they are
                    // picked, so a burst spreads over every eligible node.
                    placed_since_stats: n.placed_since_stats
                        + u64::try_from(window.queued).unwrap_or(u64::MAX),
                    rtt: n.rtt,
                    move_wait: window.expected_wait,
                }
            })
            .collect();
        selection::choose(&candidates, config.selection, region)
    }
}

pub(crate) struct Inner {
    pub config: ClusterConfig,
    pub clock: SharedClock,
    pub state: Mutex<State>,
    pub events: mpsc::UnboundedSender<ClusterEvent>,
    pub moves: Arc<Semaphore>,
    /// Handed-over sessions not yet taken up (adopted, gone, or given up).
    pub handovers_pending: tokio::sync::watch::Sender<usize>,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn emit(&self, event: ClusterEvent) {
        // Nobody listening (the bot is shutting down) is not an error.
        let _ = self.events.send(event);
    }

    pub fn emit_transition(&self, node: &str, transition: Option<Transition>) {
        if let Some(Transition { from, to }) = transition {
            tracing::info!(node, from = %from, to = %to, "node circuit changed");
            self.emit(ClusterEvent::Circuit {
                node: node.to_owned(),
                from,
                to,
            });
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// One handed-over session less to wait for.
    pub fn settle_handover(&self) {
        self.handovers_pending
            .send_modify(|pending| *pending = pending.saturating_sub(1));
    }

    fn region_of(&self, record: &PlayerRecord) -> Option<String> {
        record
            .voice
            .as_ref()
            .and_then(|v| selection::region_of(&v.endpoint, &self.config.regions))
            .map(str::to_owned)
    }
}

/// Many Lavalink nodes as one. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// Validates the configuration, connects to every enabled node and returns the handle and
    /// the event stream. Must be called inside a tokio runtime.
    pub fn start(
        config: ClusterConfig,
        clock: SharedClock,
    ) -> Result<(Self, mpsc::UnboundedReceiver<ClusterEvent>), ClusterError> {
        Self::start_resuming(config, clock, &[])
    }

    /// [`Cluster::start`], resuming the sessions a predecessor process left with
    /// [`Cluster::shutdown`] (`detach`): each node whose name has one resumes it on its first
    /// connection, and once it is ready its players join the ledger as they are, playing on.
    /// [`Cluster::handover_settled`] says when every one is taken up.
    pub fn start_resuming(
        config: ClusterConfig,
        clock: SharedClock,
        handed_over: &[DetachedSession],
    ) -> Result<(Self, mpsc::UnboundedReceiver<ClusterEvent>), ClusterError> {
        validate_nodes(&config.nodes)?;
        let (events, receiver) = mpsc::unbounded_channel();
        let moves = Arc::new(Semaphore::new(config.failover.max_concurrent_moves.max(1)));
        let specs = config.nodes.clone();
        let cluster = Self {
            inner: Arc::new(Inner {
                config,
                clock,
                state: Mutex::new(State::default()),
                events,
                moves,
                handovers_pending: tokio::sync::watch::channel(0).0,
            }),
        };
        for spec in specs {
            let session = handed_over
                .iter()
                .find(|h| h.node == spec.name && spec.enabled)
                .map(|h| h.session_id.clone());
            if session.is_some() {
                cluster.inner.handovers_pending.send_modify(|n| *n += 1);
            }
            insert_node_resuming(&cluster.inner, spec, session)?;
        }
        Ok((cluster, receiver))
    }

    /// Waits until every session handed to [`Cluster::start_resuming`] is taken up: its players
    /// adopted, or found gone. A node that never connects keeps this waiting: bound it.
    pub async fn handover_settled(&self) {
        let mut pending = self.inner.handovers_pending.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Adds a node at run time; it takes new players as soon as it is ready.
    pub fn add_node(&self, spec: NodeSpec) -> Result<(), ClusterError> {
        spec.validate()?;
        if self.inner.lock().nodes.contains_key(&spec.name) {
            return Err(SpecError::DuplicateName(spec.name).into());
        }
        insert_node(&self.inner, spec)?;
        self.inner.emit(ClusterEvent::NodesChanged);
        Ok(())
    }

    /// Drains a node: no new players; existing ones move (hard: now; soft: at their next track
    /// boundary, idle ones now), make-before-break.
    pub fn drain(&self, name: &str, mode: DrainMode) -> Result<(), ClusterError> {
        self.start_drain(name, mode, false)
    }

    /// Removes a node: its players move off first (make-before-break), then its session ends.
    pub fn remove_node(&self, name: &str) -> Result<(), ClusterError> {
        self.start_drain(name, DrainMode::Hard, true)
    }

    fn start_drain(&self, name: &str, mode: DrainMode, remove: bool) -> Result<(), ClusterError> {
        let now = self.inner.now();
        let guilds = {
            let mut state = self.inner.lock();
            let node = state
                .nodes
                .get_mut(name)
                .ok_or_else(|| SpecError::UnknownNode(name.to_owned()))?;
            match &mut node.drain {
                Some(drain) => {
                    drain.mode = if mode == DrainMode::Hard {
                        mode
                    } else {
                        drain.mode
                    };
                    drain.completed = false;
                    drain.remove_when_done |= remove;
                }
                None => {
                    node.drain = Some(Drain {
                        mode,
                        completed: false,
                        started: now,
                        moved: 0,
                        failed: 0,
                        remove_when_done: remove,
                    });
                }
            }
            let mode = node.drain.as_ref().map_or(mode, |d| d.mode);
            state
                .players
                .values()
                .filter(|p| p.node.as_deref() == Some(name))
                .filter(|p| mode == DrainMode::Hard || p.track.is_none())
                .map(|p| p.guild)
                .collect::<Vec<_>>()
        };
        tracing::info!(
            node = name,
            ?mode,
            remove,
            players = guilds.len(),
            "drain started"
        );
        self.inner.emit(ClusterEvent::NodesChanged);
        for guild in guilds {
            crate::failover::spawn_drain_move(&self.inner, guild, name.to_owned());
        }
        crate::failover::check_drain_done(&self.inner, name);
        Ok(())
    }

    /// Ends a drain (or enables a disabled node): the node takes new players again. Players are
    /// not moved back.
    pub fn enable(&self, name: &str) -> Result<(), ClusterError> {
        let reconnect = {
            let mut state = self.inner.lock();
            let node = state
                .nodes
                .get_mut(name)
                .ok_or_else(|| SpecError::UnknownNode(name.to_owned()))?;
            node.drain = None;
            let was_disabled = !node.spec.enabled;
            node.spec.enabled = true;
            was_disabled.then(|| node.spec.clone())
        };
        if let Some(spec) = reconnect {
            // A disabled node never connected: replace it with a connected one.
            let old = self.inner.lock().nodes.remove(name);
            if let Some(old) = old {
                old.tasks.iter().for_each(AbortHandle::abort);
            }
            insert_node(&self.inner, spec)?;
        }
        self.inner.emit(ClusterEvent::NodesChanged);
        crate::failover::place_pending(&self.inner);
        Ok(())
    }

    /// Replaces the node set with `specs` (a configuration reload). Validates everything first:
    /// an invalid set changes nothing. New names are added, missing ones removed (drained first),
    /// changed addresses or passwords replace the node, other changes apply in place.
    pub fn reconcile(&self, specs: &[NodeSpec]) -> Result<(), ClusterError> {
        validate_nodes(specs)?;
        let current: BTreeMap<String, NodeSpec> = self
            .inner
            .lock()
            .nodes
            .iter()
            .map(|(name, node)| (name.clone(), node.spec.clone()))
            .collect();
        for spec in specs {
            match current.get(&spec.name) {
                None => self.add_node(spec.clone())?,
                Some(old) if old.url != spec.url || old.password != spec.password => {
                    self.remove_node(&spec.name)?;
                    // The old node leaves once drained; the new one needs its own name slot,
                    // so it joins when the old one is gone.
                    crate::failover::replace_after_drain(&self.inner, spec.clone());
                }
                Some(old) if old != spec => {
                    let mut state = self.inner.lock();
                    if let Some(node) = state.nodes.get_mut(&spec.name) {
                        node.spec.region.clone_from(&spec.region);
                        node.spec.priority = spec.priority;
                        node.spec.weight = spec.weight;
                    }
                    drop(state);
                    if spec.enabled && !old.enabled {
                        self.enable(&spec.name)?;
                    } else if !spec.enabled && old.enabled {
                        self.drain(&spec.name, DrainMode::Hard)?;
                    }
                }
                Some(_) => {}
            }
        }
        for name in current.keys() {
            if !specs.iter().any(|s| &s.name == name) {
                self.remove_node(name)?;
            }
        }
        self.inner.emit(ClusterEvent::NodesChanged);
        Ok(())
    }

    /// Every node.
    pub fn nodes(&self) -> Vec<NodeView> {
        let now = self.inner.now();
        let state = self.inner.lock();
        state
            .nodes
            .values()
            .map(|n| NodeView {
                name: n.spec.name.clone(),
                url: lavalink::redact_url(&n.spec.url),
                region: n.spec.region.clone(),
                priority: n.spec.priority,
                weight: n.spec.weight,
                effective_weight: n.spec.weight * n.breaker.weight_factor(now),
                enabled: n.spec.enabled,
                link: n.link.as_str(),
                circuit: n.breaker.state().as_str(),
                eligible: n.eligible(),
                draining: n.drain.as_ref().map(|d| d.mode),
                drain: n.drain.as_ref().map(|d| DrainProgress {
                    moved: d.moved,
                    failed: d.failed,
                    remaining: state.players_on(&n.spec.name),
                    completed: d.completed,
                    elapsed_ms: u64::try_from(now.saturating_duration_since(d.started).as_millis())
                        .unwrap_or(u64::MAX),
                }),
                players: state.players_on(&n.spec.name),
                rtt_ms: n.rtt.map(|r| r.as_secs_f64() * 1000.0),
                node_players: n.stats.map(|s| s.players),
                node_playing_players: n.stats.map(|s| s.playing_players),
                system_load: n.stats.map(|s| s.cpu.system_load),
                probe_failures: n.breaker.consecutive_failures(),
                resumable: n.resumable,
                move_window: n.window.view().limit,
                last_seen_ms: n.last_sign_of_life().map(|t| {
                    u64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u64::MAX)
                }),
            })
            .collect()
    }

    /// The player of `guild`, with its position now.
    pub fn player(&self, guild: GuildId) -> Option<PlayerView> {
        let now = self.inner.now();
        let state = self.inner.lock();
        let record = state.players.get(&guild)?;
        let alive_until = record
            .node
            .as_ref()
            .and_then(|n| state.nodes.get(n))
            .and_then(|n| n.alive_until);
        Some(PlayerView {
            position_ms: record.position_at(now, alive_until),
            record: record.clone(),
        })
    }

    /// The voice connection of every player that has been given one.
    pub fn voice_connections(&self) -> Vec<VoiceConnection> {
        self.inner
            .lock()
            .players
            .values()
            .filter(|record| record.voice.is_some())
            .map(|record| VoiceConnection {
                guild: record.guild,
                node: record.node.clone(),
                playing: record.track.is_some() && !record.paused,
                connected: record.connected,
                ping_ms: record.ping_ms,
            })
            .collect()
    }

    /// Guilds with a player record.
    pub fn guilds(&self) -> Vec<GuildId> {
        self.inner.lock().players.keys().copied().collect()
    }

    /// Players waiting for a node.
    pub fn pending(&self) -> usize {
        self.inner.lock().pending()
    }

    /// The clock the cluster runs on (its events and stats are stamped with it).
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// Whether any node takes new players.
    pub fn has_eligible_node(&self) -> bool {
        self.inner.lock().nodes.values().any(Node::eligible)
    }

    /// The client of a node, for probes and diagnostics.
    pub fn client(&self, name: &str) -> Option<NodeClient> {
        self.inner
            .lock()
            .nodes
            .get(name)
            .and_then(|n| n.client.clone())
    }

    /// Loads tracks on the best eligible node, falling back to the next on failure.
    pub async fn load_tracks(&self, identifier: &str) -> Result<LoadResult, ClusterError> {
        let mut tried = HashSet::new();
        let mut last_error = None;
        for _ in 0..2 {
            let now = self.inner.now();
            let choice = self
                .inner
                .lock()
                .choose(&self.inner.config, None, &tried, now);
            let Some(choice) = choice else { break };
            let Some(client) = self.client(&choice.node) else {
                break;
            };
            match client.rest().load_tracks(identifier).await {
                Ok(result) => return Ok(result),
                Err(error) => {
                    tracing::warn!(node = %choice.node, %error, "load failed; trying another node");
                    last_error = Some(ClusterError::Node {
                        node: choice.node.clone(),
                        cause: error,
                    });
                    tried.insert(choice.node);
                }
            }
        }
        Err(last_error.unwrap_or(ClusterError::NoNodeAvailable))
    }

    /// The lyrics of an encoded track, from the first healthy node (in selection order) whose
    /// `/v4/info` lists the LavaLyrics plugin; the next such node when one fails.
    pub async fn lyrics(&self, encoded: &str) -> Result<LyricsAnswer, ClusterError> {
        let mut tried = HashSet::new();
        let mut last_error = None;
        let nodes = self.inner.lock().nodes.len();
        for _ in 0..nodes {
            let now = self.inner.now();
            let choice = self
                .inner
                .lock()
                .choose(&self.inner.config, None, &tried, now);
            let Some(choice) = choice else { break };
            tried.insert(choice.node.clone());
            let Some(client) = self.client(&choice.node) else {
                continue;
            };
            let failed = |cause| ClusterError::Node {
                node: choice.node.clone(),
                cause,
            };
            match client.rest().info().await {
                Ok(info) if !info.has_lyrics() => continue,
                Ok(_) => {}
                Err(error) => {
                    last_error = Some(failed(error));
                    continue;
                }
            }
            match client.rest().lyrics(encoded).await {
                Ok(Some(lyrics)) => return Ok(LyricsAnswer::Found(Box::new(lyrics))),
                Ok(None) => return Ok(LyricsAnswer::NotFound),
                Err(error) => {
                    tracing::warn!(node = %choice.node, %error, "lyrics failed; trying another node");
                    last_error = Some(failed(error));
                }
            }
        }
        match last_error {
            Some(error) => Err(error),
            None if tried.is_empty() => Err(ClusterError::NoNodeAvailable),
            None => Ok(LyricsAnswer::NoPlugin),
        }
    }

    /// Applies an update to the guild's player, creating it on a chosen node when it has none
    /// and the voice state is complete. The ledger keeps everything, so a player that has no node
    /// right now (no voice yet, no healthy node) keeps its state for when it gets one.
    pub async fn update(
        &self,
        guild: GuildId,
        update: UpdatePlayer,
    ) -> Result<Applied, ClusterError> {
        let now = self.inner.now();
        let decoded = decoded_track(&update);
        let Some(send) = self.plan(guild, &update, decoded.as_ref(), now) else {
            let mut state = self.inner.lock();
            if let Some(record) = state.players.get_mut(&guild) {
                record.apply(&update, decoded, now);
            }
            return Ok(Applied::Kept);
        };
        self.send(guild, &update, decoded, send).await
    }

    /// Decides where an update goes: its player's node, a newly chosen one (a new player, or a
    /// soft-drained one at a track boundary), or nowhere for now (`None`: keep it in the ledger).
    fn plan(
        &self,
        guild: GuildId,
        update: &UpdatePlayer,
        decoded: Option<&Track>,
        now: Instant,
    ) -> Option<Send> {
        let mut state = self.inner.lock();
        state.bump(guild);
        let record = state
            .players
            .entry(guild)
            .or_insert_with(|| PlayerRecord::new(guild, now))
            .clone();
        let current = record.node.as_ref().and_then(|n| state.nodes.get(n));
        let boundary = update
            .track
            .as_ref()
            .and_then(Option::as_ref)
            .is_some_and(|t| matches!(t.encoded, Some(Some(_))) || t.identifier.is_some());
        let soft_drained = current.is_some_and(|n| {
            n.drain.as_ref().is_some_and(|d| d.mode == DrainMode::Soft) && boundary
        });
        if let Some(node) = current
            && !soft_drained
        {
            // Its node is failing: the move that is coming carries this update along.
            let client = node.client.clone().filter(|_| node.usable())?;
            return Some(Send {
                node: node.spec.name.clone(),
                body: update.clone(),
                client,
                new: None,
                leave: None,
            });
        }
        let mut merged = record.clone();
        merged.apply(update, decoded.cloned(), now);
        if !merged.voice.as_ref().is_some_and(VoiceState::is_complete) {
            return None;
        }
        let leave = record.node.clone();
        let exclude: HashSet<String> = leave.iter().cloned().collect();
        let region = self.inner.region_of(&merged);
        let choice = state.choose(&self.inner.config, region.as_deref(), &exclude, now)?;
        let client = state.nodes.get(&choice.node)?.client.clone()?;
        self.inner.emit(ClusterEvent::Selected {
            guild,
            node: choice.node.clone(),
            score: choice.score,
            region_matched: choice.region_matched,
        });
        tracing::info!(guild = %guild, node = %choice.node, score = choice.score, "player assigned");
        // Claim the player for the node before the PATCH: its first playerUpdate and TrackStart
        // may arrive before the answer does.
        if let Some(record) = state.players.get_mut(&guild) {
            record.node = Some(choice.node.clone());
        }
        // Reserved now, not when the PATCH is sent, so that players placed at the same moment (a
        // restart restoring every guild) spread over the nodes. A player this cluster left on
        // that node earlier is overwritten field by field.
        let node = state.nodes.get_mut(&choice.node)?;
        let reservation = node.window.reserve();
        let mode = if node.orphans.iter().any(|(_, g)| *g == guild) {
            node.orphans.retain(|(_, g)| *g != guild);
            Recreate::Overwrite
        } else {
            Recreate::Fresh
        };
        Some(Send {
            node: choice.node,
            body: merged.recreate(merged.position_at(now, None), mode),
            client,
            new: Some(reservation),
            leave,
        })
    }

    async fn send(
        &self,
        guild: GuildId,
        update: &UpdatePlayer,
        decoded: Option<Track>,
        send: Send,
    ) -> Result<Applied, ClusterError> {
        let Send {
            node,
            body,
            client,
            new,
            leave,
        } = send;
        let permit = match new {
            Some(reservation) => {
                let permit = reservation.ready().await;
                if let Some(target) = self.inner.lock().nodes.get_mut(&node) {
                    target.placed_since_stats += 1;
                }
                Some(permit)
            }
            None => None,
        };
        let new = permit.is_some();
        let patched_at = crate::window::Sent::now();
        let result = client.update_player(guild, &body, false).await;
        if let Some(permit) = permit {
            permit.finish(crate::window::outcome_of(
                &result,
                patched_at.answered_after(),
            ));
        }
        let player = match result {
            Ok(player) => player,
            Err(cause) => {
                if new {
                    let mut state = self.inner.lock();
                    if let Some(record) = state.players.get_mut(&guild)
                        && record.node.as_deref() == Some(node.as_str())
                    {
                        record.node.clone_from(&leave);
                    }
                    if let Some(target) = state.nodes.get_mut(&node) {
                        target.placed_since_stats = target.placed_since_stats.saturating_sub(1);
                    }
                    drop(state);
                    if cause.may_have_been_applied() {
                        // The node may create the player after all: delete it there.
                        crate::failover::undo_on(&self.inner, &node, guild);
                    }
                }
                return Err(ClusterError::Node { node, cause });
            }
        };
        let after = self.inner.now();
        {
            let mut state = self.inner.lock();
            if let Some(record) = state.players.get_mut(&guild) {
                record.apply(update, player.track.clone().or(decoded), after);
                record.node = Some(node.clone());
                record.connected |= player.state.connected;
                if player.track.is_none() {
                    record.track = None;
                }
            }
            if let Some(drain) = leave
                .as_ref()
                .and_then(|old| state.nodes.get_mut(old))
                .and_then(|n| n.drain.as_mut())
            {
                drain.moved += 1;
            }
        }
        if let Some(old) = leave {
            // A soft-drained player changed tracks: it now plays on `node`; end it on `old`.
            crate::failover::leave_behind(&self.inner, &old, guild, true).await;
            crate::failover::emit_drain_progress(&self.inner, &old);
            crate::failover::check_drain_done(&self.inner, &old);
        }
        Ok(Applied::OnNode(node))
    }

    /// Destroys the guild's player and forgets it.
    pub async fn destroy(&self, guild: GuildId) -> Result<(), ClusterError> {
        let (record, client) = {
            let mut state = self.inner.lock();
            state.bump(guild);
            let record = state.players.remove(&guild);
            let client = record
                .as_ref()
                .and_then(|r| r.node.as_ref())
                .and_then(|n| state.nodes.get(n))
                .filter(|n| n.usable())
                .and_then(|n| Some((n.spec.name.clone(), n.client.clone()?)));
            (record, client)
        };
        if let Some((node, client)) = client {
            match client.destroy_player(guild).await {
                Ok(()) => {}
                Err(error) if error.is_not_found() => {}
                Err(cause) => return Err(ClusterError::Node { node, cause }),
            }
            crate::failover::check_drain_done(&self.inner, &node);
        }
        drop(record);
        Ok(())
    }

    /// Stops every node client, all at once, and returns when they have stopped. Sessions are
    /// detached (resumable, their players play on) when `detach`, and then returned so that a
    /// successor can resume them; otherwise they are closed (resuming off, then the socket
    /// closes), which makes the nodes destroy their players.
    pub async fn shutdown(&self, detach: bool) -> Vec<DetachedSession> {
        let nodes: Vec<(String, Option<NodeClient>, Vec<AbortHandle>)> = self
            .inner
            .lock()
            .nodes
            .iter()
            .map(|(name, n)| (name.clone(), n.client.clone(), n.tasks.clone()))
            .collect();
        let stops = nodes.into_iter().map(|(node, client, tasks)| async move {
            tasks.iter().for_each(AbortHandle::abort);
            let client = client?;
            if detach {
                let session_id = client.detach().await?;
                Some(DetachedSession { node, session_id })
            } else {
                client.close().await;
                None
            }
        });
        futures_util::future::join_all(stops)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// A node's session left resumable by [`Cluster::shutdown`] for a successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSession {
    /// The node's name.
    pub node: String,
    /// The session id on that node.
    pub session_id: String,
}

pub(crate) fn insert_node(inner: &Arc<Inner>, spec: NodeSpec) -> Result<(), ClusterError> {
    insert_node_resuming(inner, spec, None)
}

/// Inserts a node whose client resumes `handover` (a predecessor's session) on its first
/// connection.
fn insert_node_resuming(
    inner: &Arc<Inner>,
    spec: NodeSpec,
    handover: Option<String>,
) -> Result<(), ClusterError> {
    let template = &inner.config.client;
    let mut config = NodeConfig::new(&spec.name, &spec.url, &spec.password, inner.config.user_id)
        .map_err(|cause| SpecError::Client {
        name: spec.name.clone(),
        cause,
    })?;
    config.request_timeout = template.request_timeout;
    config.resume_timeout = Some(template.resume_timeout);
    config.reconnect = template.reconnect;
    config.silence = template.silence;
    config.resume_session.clone_from(&handover);
    let mut state = inner.lock();
    if state.nodes.contains_key(&spec.name) {
        return Err(SpecError::DuplicateName(spec.name).into());
    }
    state.next_generation += 1;
    let generation = state.next_generation;
    let name = spec.name.clone();
    let enabled = spec.enabled;
    let (client, events) = if enabled {
        let (client, events) = NodeClient::connect(config, inner.clock.clone());
        (Some(client), Some(events))
    } else {
        (None, None)
    };
    let window = MoveWindow::new(WindowConfig {
        initial: INITIAL_MOVE_WINDOW,
        max: inner.config.failover.max_concurrent_per_target.max(1),
    });
    let mut node = Node {
        spec,
        client,
        generation,
        breaker: Breaker::new(inner.config.breaker, inner.config.probe.failure_threshold),
        link: if enabled {
            Link::Connecting
        } else {
            Link::Down
        },
        loss_epoch: 0,
        last_alive: None,
        alive_until: None,
        stats: None,
        placed_since_stats: 0,
        rtt: None,
        drain: None,
        window,
        load_is_average: false,
        resumable: true,
        orphans: Vec::new(),
        leaving: 0,
        handover,
        tasks: Vec::new(),
    };
    if let Some(events) = events {
        let pump = tokio::spawn(crate::node::pump(
            Arc::clone(inner),
            name.clone(),
            generation,
            events,
        ));
        let probe = tokio::spawn(crate::node::probe_loop(
            Arc::clone(inner),
            name.clone(),
            generation,
        ));
        node.tasks = vec![pump.abort_handle(), probe.abort_handle()];
    }
    tracing::info!(node = %name, enabled, "node added");
    state.nodes.insert(name, node);
    Ok(())
}

/// Where an update goes.
struct Send {
    node: String,
    body: UpdatePlayer,
    client: NodeClient,
    /// A new player on `node` (counts towards its load until the next stats): its place in the
    /// node's window, as a move's (a burst of new players, such as a restart restoring every
    /// guild, must not queue up at a node that answers one at a time).
    new: Option<Reservation>,
    /// The node it leaves (a soft drain at a track boundary).
    leave: Option<String>,
}

/// The track of an update, decoded locally (the codec needs no node), for the ledger.
fn decoded_track(update: &UpdatePlayer) -> Option<Track> {
    let encoded = match &update.track {
        Some(Some(UpdatePlayerTrack {
            encoded: Some(Some(encoded)),
            ..
        })) => encoded,
        _ => update.encoded_track.as_ref()?.as_ref()?,
    };
    let decoded = lavalink::codec::decode_track(encoded).ok()?;
    Some(Track {
        encoded: encoded.clone(),
        info: decoded.info,
        plugin_info: serde_json::Map::new(),
        user_data: update
            .track
            .as_ref()
            .and_then(Option::as_ref)
            .and_then(|t| t.user_data.clone())
            .unwrap_or_default(),
    })
}
