//! The cluster's configuration: the nodes and how to choose, watch and leave them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One node as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A unique short name (logs, metrics, the admin API).
    pub name: String,
    /// Base URL of its REST API, e.g. `http://lavalink-1:2333`.
    pub url: String,
    /// Its password.
    #[serde(serialize_with = "redact")]
    pub password: String,
    /// Its region (matched against the voice endpoint through [`ClusterConfig::regions`]).
    #[serde(default)]
    pub region: Option<String>,
    /// Priority tier: lower numbers first; a higher number is used only when no node of a lower
    /// one is healthy.
    #[serde(default)]
    pub priority: u8,
    /// Relative capacity (penalties are divided by it); 1.0 is a normal node.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Disabled nodes are not connected at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_weight() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

fn redact<S: serde::Serializer>(_: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("***")
}

/// How a node is chosen for a new player.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionPolicy {
    /// The classic penalty: playing players, CPU, frame deficit and nulled frames, probe latency.
    #[default]
    Penalty,
    /// The fewest players (node-wide, plus those placed since the last stats).
    LeastPlayers,
    /// The lowest probe round trip.
    LeastLatency,
}

/// Voice endpoints that start with `prefix` belong to `region`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRule {
    /// Start of the voice endpoint host, e.g. `us-east` or `rotterdam`.
    pub prefix: String,
    /// The region name nodes are tagged with.
    pub region: String,
}

/// Active health probing of each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between probes of a healthy node.
    pub interval: Duration,
    /// Time between probes once one failed (confirming a failure fast).
    pub retry_interval: Duration,
    /// A probe that takes longer has failed.
    pub timeout: Duration,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            failure_threshold: 2,
        }
    }
}

/// The circuit breaker, slow start and flap damping of each node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// How long an open circuit stays open before a trial (half-open).
    pub open_for: Duration,
    /// A node that went down this many times within `flap_window` is flapping...
    pub flap_threshold: u32,
    /// ...within this window...
    pub flap_window: Duration,
    /// ...and then stays open this many times longer per flap over the threshold (capped).
    pub flap_multiplier: f64,
    /// The longest an open circuit waits.
    pub max_open_for: Duration,
    /// Over this long a recovered node's weight ramps from `slow_start_floor` to full.
    pub slow_start: Duration,
    /// The share of its weight a just-recovered node starts with.
    pub slow_start_floor: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            open_for: Duration::from_secs(10),
            flap_threshold: 3,
            flap_window: Duration::from_secs(5 * 60),
            flap_multiplier: 2.0,
            max_open_for: Duration::from_secs(5 * 60),
            slow_start: Duration::from_secs(60),
            slow_start_floor: 0.1,
        }
    }
}

/// How players are moved off a lost node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverConfig {
    /// After an abnormal close, how long to wait for the session to resume before moving.
    pub resume_window: Duration,
    /// Moves in flight at once, over all targets.
    pub max_concurrent_moves: usize,
    /// Moves in flight at once onto one target node.
    pub max_concurrent_per_target: usize,
    /// Targets tried for one player before it goes to the pending set.
    pub max_attempts: usize,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            resume_window: Duration::from_secs(3),
            max_concurrent_moves: 64,
            max_concurrent_per_target: 16,
            max_attempts: 3,
        }
    }
}

/// Everything the cluster needs.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The bot's Discord user id.
    pub user_id: u64,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// How to choose a node for a new player.
    pub selection: SelectionPolicy,
    /// Voice endpoint prefix to region.
    pub regions: Vec<RegionRule>,
    /// Active probes.
    pub probe: ProbeConfig,
    /// Circuit breakers.
    pub breaker: BreakerConfig,
    /// Failover.
    pub failover: FailoverConfig,
    /// Template for each node client (name, url and password are filled from the spec).
    pub client: ClientTemplate,
}

/// Node-client settings shared by every node.
#[derive(Debug, Clone)]
pub struct ClientTemplate {
    /// REST and handshake timeout.
    pub request_timeout: Duration,
    /// Resume timeout the node keeps a detached session for.
    pub resume_timeout: Duration,
    /// Reconnect backoff.
    pub reconnect: lavalink::client::ReconnectPolicy,
    /// Silence detection.
    pub silence: lavalink::client::SilencePolicy,
}

impl Default for ClientTemplate {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            resume_timeout: Duration::from_secs(60),
            reconnect: lavalink::client::ReconnectPolicy::default(),
            // A ping every 250 ms: a frozen node's last answer is at most that long before it
            // froze, so its players move to within ~250 ms of where their audio stopped (measured
            // on NodeLink: 0.8 s behind with pings every 2 s). Nineteen unanswered pings (4.9 s)
            // call it silent: a frozen node is noticed within 5 s, a busy one that answers
            // late is not. Four tiny frames a second per node.
            silence: lavalink::client::SilencePolicy {
                ping_interval: Some(Duration::from_millis(250)),
                missed_intervals: 19,
                ..lavalink::client::SilencePolicy::default()
            },
        }
    }
}

impl ClusterConfig {
    /// A configuration with defaults for everything but the nodes.
    pub fn new(user_id: u64, nodes: Vec<NodeSpec>) -> Self {
        Self {
            user_id,
            nodes,
            selection: SelectionPolicy::default(),
            regions: Vec::new(),
            probe: ProbeConfig::default(),
            breaker: BreakerConfig::default(),
            failover: FailoverConfig::default(),
            client: ClientTemplate::default(),
        }
    }
}

/// A node specification that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// Empty name or one with characters unfit for URLs and labels.
    #[error("node name {0:?} must be 1-64 characters of a-z, A-Z, 0-9, '-' or '_'")]
    InvalidName(String),
    /// Two nodes with one name.
    #[error("node name {0:?} is used twice")]
    DuplicateName(String),
    /// The URL or password is unusable.
    #[error("node {name:?}: {cause}")]
    Client {
        /// The node.
        name: String,
        /// What is wrong.
        cause: lavalink::client::ConfigError,
    },
    /// A weight that is not a positive finite number.
    #[error("node {name:?}: weight {weight} must be a positive number")]
    InvalidWeight {
        /// The node.
        name: String,
        /// The weight.
        weight: f64,
    },
    /// The node is not in the cluster.
    #[error("no node named {0:?}")]
    UnknownNode(String),
}

impl NodeSpec {
    /// Checks this spec on its own (not against the other nodes).
    pub fn validate(&self) -> Result<(), SpecError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(SpecError::InvalidName(self.name.clone()));
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return Err(SpecError::InvalidWeight {
                name: self.name.clone(),
                weight: self.weight,
            });
        }
        lavalink::NodeConfig::new(&self.name, &self.url, &self.password, 1)
            .map(drop)
            .map_err(|cause| SpecError::Client {
                name: self.name.clone(),
                cause,
            })
    }
}

/// Checks a whole node list: each spec, and unique names.
pub fn validate_nodes(nodes: &[NodeSpec]) -> Result<(), SpecError> {
    let mut seen = std::collections::HashSet::new();
    for node in nodes {
        node.validate()?;
        if !seen.insert(node.name.as_str()) {
            return Err(SpecError::DuplicateName(node.name.clone()));
        }
    }
    Ok(())
}
