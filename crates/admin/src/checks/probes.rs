//! The concrete probes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cluster::Cluster;
use health::{HealthRegistry, Observation, Probe, ProbeSpec, Severity, Status};
use tokio::task::JoinHandle;

use super::ProbeSettings;

/// Check names (`component:measurement`).
pub const NODE_RESPONSE: &str = "lavalink:responseTime";
/// A node's socket and circuit.
pub const NODE_STATE: &str = "lavalink:state";
/// Age of a node's last sign of life.
pub const NODE_SEEN: &str = "lavalink:lastSeen";
/// The store's check: a write, and its files still on disk.
pub const STORE: &str = "store:responseTime";
/// Runtime scheduling lag.
pub const RUNTIME_LAG: &str = "process:eventLoopLag";

/// Whether any node takes players: none is a failure of the whole service.
pub const CLUSTER: &str = "lavalink:eligibleNodes";

/// How many nodes take new players.
pub struct ClusterProbe {
    spec: ProbeSpec,
    cluster: Cluster,
}

impl ClusterProbe {
    /// A critical probe of the cluster.
    pub fn new(cluster: Cluster, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(CLUSTER, "component", settings.interval, settings.timeout),
            cluster,
        }
    }
}

#[async_trait::async_trait]
impl Probe for ClusterProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let nodes = self.cluster.nodes();
        let eligible = nodes.iter().filter(|n| n.eligible).count();
        let pending = self.cluster.pending();
        if eligible == 0 {
            Observation::with(
                Status::Fail,
                format!("no Lavalink node takes players; {pending} players wait"),
            )
            .value(0, "nodes")
        } else if eligible < nodes.len() || pending > 0 {
            Observation::with(
                Status::Warn,
                format!(
                    "{eligible} of {} nodes take players; {pending} players wait",
                    nodes.len()
                ),
            )
            .value(eligible, "nodes")
        } else {
            Observation::pass(eligible, "nodes")
        }
    }
}

/// A node's REST round trip (`GET /version`).
pub struct NodeResponseProbe {
    spec: ProbeSpec,
    cluster: Cluster,
    node: String,
}

#[async_trait::async_trait]
impl Probe for NodeResponseProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(client) = self.cluster.client(&self.node) else {
            return Observation::with(Status::Fail, "node is disabled or gone");
        };
        let started = super::Stopwatch::start();
        match client.rest().version().await {
            Ok(_) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let round = (ms * 10.0).round() / 10.0;
                if ms > 1000.0 {
                    Observation::with(Status::Warn, "slow REST answers").value(round, "ms")
                } else {
                    Observation::pass(round, "ms")
                }
            }
            Err(error) => {
                Observation::with(Status::Fail, format!("REST call failed: {}", error.kind()))
            }
        }
    }
}

/// A node's socket and circuit, and the age of its last sign of life, as the cluster sees them.
pub struct NodeStateProbe {
    spec: ProbeSpec,
    cluster: Cluster,
    node: String,
    /// Older than this, the last sign of life warns.
    stale_after: Duration,
    seen: bool,
}

#[async_trait::async_trait]
impl Probe for NodeStateProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(view) = self
            .cluster
            .nodes()
            .into_iter()
            .find(|v| v.name == self.node)
        else {
            return Observation::with(Status::Fail, "node is gone");
        };
        if self.seen {
            return match view.last_seen_ms {
                Some(ms) if Duration::from_millis(ms) <= self.stale_after => {
                    Observation::pass(ms, "ms")
                }
                Some(ms) => {
                    Observation::with(Status::Warn, "no sign of life recently").value(ms, "ms")
                }
                None => Observation::with(Status::Fail, "never heard from"),
            };
        }
        let value = format!("{}/{}", view.link, view.circuit);
        match (view.link, view.circuit) {
            ("up", "closed") if view.draining.is_some() => {
                Observation::with(Status::Warn, "draining").value(value, "state")
            }
            ("up", "closed") => Observation::pass(value, "state"),
            ("resuming" | "connecting", _) | (_, "half_open") => {
                Observation::with(Status::Warn, "recovering").value(value, "state")
            }
            _ if !view.enabled => Observation::with(Status::Warn, "disabled").value(value, "state"),
            _ => Observation::with(Status::Fail, "down: players moved to other nodes")
                .value(value, "state"),
        }
    }
}

/// The store's check ([`store::Store::check`]): it answers, takes a write, and the files it writes
/// are still the ones on disk.
pub struct StoreProbe {
    spec: ProbeSpec,
    store: Arc<dyn store::Store>,
}

impl StoreProbe {
    /// A critical probe of `store`.
    pub fn new(store: Arc<dyn store::Store>, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(STORE, "datastore", settings.interval, settings.timeout)
                .threshold(settings.failure_threshold),
            store,
        }
    }
}

#[async_trait::async_trait]
impl Probe for StoreProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let started = super::Stopwatch::start();
        match self.store.check().await {
            Ok(()) => Observation::pass(
                (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
                "ms",
            ),
            Err(error @ store::Error::FilesGone { .. }) => {
                Observation::with(Status::Fail, error.to_string())
            }
            Err(error) => Observation::with(
                Status::Fail,
                format!(
                    "the store cannot be written: {error}. Check the data directory's disk, and \
                     that the store files belong to the bot's user and are writable \
                     (docs/runbooks/store.md)"
                ),
            ),
        }
    }
}

/// How late the runtime runs a task that asked to wake: a busy or blocked runtime shows here first.
pub struct RuntimeLagProbe {
    spec: ProbeSpec,
}

impl RuntimeLagProbe {
    /// A warning-severity probe.
    pub fn new(settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(RUNTIME_LAG, "system", settings.interval, settings.timeout)
                .severity(Severity::Warning)
                .threshold(settings.failure_threshold),
        }
    }
}

#[async_trait::async_trait]
impl Probe for RuntimeLagProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        const NAP: Duration = Duration::from_millis(10);
        let started = super::Stopwatch::start();
        tokio::time::sleep(NAP).await;
        let lag = started.elapsed().saturating_sub(NAP);
        let ms = (lag.as_secs_f64() * 10_000.0).round() / 10.0;
        if lag > Duration::from_millis(500) {
            Observation::with(Status::Fail, "the runtime is blocked").value(ms, "ms")
        } else if lag > Duration::from_millis(100) {
            Observation::with(Status::Warn, "the runtime is busy").value(ms, "ms")
        } else {
            Observation::pass(ms, "ms")
        }
    }
}

/// A shard's gateway connection.
pub const SHARD_CONNECTED: &str = "discord:connected";
/// A shard's heartbeat round trip.
pub const SHARD_LATENCY: &str = "discord:latency";
/// Age of a shard's last gateway event.
pub const SHARD_LAST_EVENT: &str = "discord:lastEvent";

/// What a shard probe measures.
#[derive(Debug, Clone, Copy)]
enum ShardCheck {
    Connected,
    Latency,
    LastEvent,
}

/// One Discord shard, as the Discord layer reports it.
pub struct ShardProbe {
    spec: ProbeSpec,
    discord: discord::Discord,
    shard: u32,
    check: ShardCheck,
}

impl ShardProbe {
    /// The three probes of `shard`: connected (critical), heartbeat latency and last-event age
    /// (warnings).
    pub fn all(discord: &discord::Discord, shard: u32, settings: ProbeSettings) -> Vec<Self> {
        let spec = |name: &str, severity| {
            ProbeSpec::new(name, "component", settings.interval, settings.timeout)
                .component(format!("shard-{shard}"))
                .severity(severity)
                .threshold(settings.failure_threshold)
        };
        [
            (SHARD_CONNECTED, Severity::Critical, ShardCheck::Connected),
            (SHARD_LATENCY, Severity::Warning, ShardCheck::Latency),
            (SHARD_LAST_EVENT, Severity::Warning, ShardCheck::LastEvent),
        ]
        .into_iter()
        .map(|(name, severity, check)| Self {
            spec: spec(name, severity),
            discord: discord.clone(),
            shard,
            check,
        })
        .collect()
    }
}

#[async_trait::async_trait]
impl Probe for ShardProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(status) = self
            .discord
            .status()
            .into_iter()
            .find(|s| s.shard == self.shard)
        else {
            return Observation::with(Status::Fail, "this process does not run the shard");
        };
        match self.check {
            ShardCheck::Connected if status.connected => Observation::pass(true, "boolean"),
            ShardCheck::Connected if status.running => {
                Observation::with(Status::Fail, "reconnecting to the gateway")
                    .value(false, "boolean")
            }
            ShardCheck::Connected => Observation::with(
                Status::Fail,
                "stopped: the gateway closed the session for good (check the token and intents)",
            )
            .value(false, "boolean"),
            ShardCheck::Latency => match status.latency {
                Some(latency) => {
                    let ms = latency.as_secs_f64() * 1000.0;
                    if latency > Duration::from_secs(1) {
                        Observation::with(Status::Warn, "slow heartbeats").value(ms, "ms")
                    } else {
                        Observation::pass(ms, "ms")
                    }
                }
                None => Observation::with(Status::Warn, "no heartbeat acknowledged yet"),
            },
            ShardCheck::LastEvent => match status.last_event {
                Some(at) => {
                    let age = discord::age_of(at);
                    let ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                    // Heartbeat ACKs count as events: silence past a few intervals is a zombie.
                    if age > Duration::from_secs(150) {
                        Observation::with(Status::Warn, "no gateway traffic recently")
                            .value(ms, "ms")
                    } else {
                        Observation::pass(ms, "ms")
                    }
                }
                None => Observation::with(Status::Warn, "no event yet"),
            },
        }
    }
}

/// Keeps one set of node probes per node: new nodes get probes, removed ones lose theirs.
pub async fn follow_nodes(
    registry: HealthRegistry,
    cluster: Cluster,
    settings: ProbeSettings,
    probe_identifier: Option<String>,
) {
    use super::bot_probes::{NODE_PLAYER_READY, NODE_STATS_AGE, NodeReadyProbe, NodeStatsAgeProbe};
    // A node sends stats once a minute; two missed ones warn.
    const STATS_STALE_AFTER: Duration = Duration::from_secs(150);
    let mut running: HashMap<String, Vec<JoinHandle<()>>> = HashMap::new();
    loop {
        let names: Vec<String> = cluster.nodes().into_iter().map(|v| v.name).collect();
        for name in &names {
            if running.contains_key(name) {
                continue;
            }
            let spec = |check: &str| {
                ProbeSpec::new(check, "component", settings.interval, settings.timeout)
                    .component(name.clone())
                    .threshold(settings.failure_threshold)
                    // One node down is handled by failover; the report warns rather than fails.
                    .severity(Severity::Warning)
            };
            let mut probes: Vec<Arc<dyn Probe>> = vec![
                Arc::new(NodeResponseProbe {
                    spec: spec(NODE_RESPONSE),
                    cluster: cluster.clone(),
                    node: name.clone(),
                }),
                Arc::new(NodeStateProbe {
                    spec: spec(NODE_STATE),
                    cluster: cluster.clone(),
                    node: name.clone(),
                    stale_after: settings.interval * 3,
                    seen: false,
                }),
                Arc::new(NodeStateProbe {
                    spec: spec(NODE_SEEN),
                    cluster: cluster.clone(),
                    node: name.clone(),
                    stale_after: settings.interval * 3,
                    seen: true,
                }),
                Arc::new(NodeStatsAgeProbe::new(
                    spec(NODE_STATS_AGE),
                    cluster.clone(),
                    name.clone(),
                    STATS_STALE_AFTER,
                )),
            ];
            if let Some(identifier) = &probe_identifier {
                probes.push(Arc::new(NodeReadyProbe::new(
                    spec(NODE_PLAYER_READY),
                    cluster.clone(),
                    name.clone(),
                    identifier.clone(),
                )));
            }
            let tasks = probes.into_iter().map(|p| registry.spawn(p)).collect();
            running.insert(name.clone(), tasks);
        }
        running.retain(|name, tasks| {
            let keep = names.contains(name);
            if !keep {
                tasks.iter().for_each(JoinHandle::abort);
                for check in [
                    NODE_RESPONSE,
                    NODE_STATE,
                    NODE_SEEN,
                    NODE_STATS_AGE,
                    NODE_PLAYER_READY,
                ] {
                    registry.forget(&format!("{check}#{name}"));
                }
            }
            keep
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
