//! The bot's probes, readiness and liveness, on top of the `health` crate's framework.
//!
//! Probes: each Lavalink node (REST round trip, socket and circuit state from the cluster, age
//! of its last sign of life and of its stats, and, when configured, whether it loads a probe
//! identifier), the cluster (nodes that take players), each Discord shard (connected, heartbeat
//! latency, last event), voice (share connected, ping, self-healing), interactions
//! (acknowledgement latency), the bot's permissions, the store (a committed write, its files still
//! on disk, the guilds quarantined) and the process (runtime scheduling lag, memory).
//! docs/runbooks/health-checks.md lists them all.

pub mod alerts;
pub mod bot_probes;
pub mod probes;
pub mod quarantine;

use std::sync::Arc;
use std::time::Duration;

use cluster::Cluster;
use health::{HealthRegistry, Probe, Status};
use serde::Serialize;
use tokio::task::JoinHandle;

/// Probe timings.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    /// Time between checks.
    pub interval: Duration,
    /// A check slower than this fails.
    pub timeout: Duration,
    /// Consecutive failures before a check reports `fail`.
    pub failure_threshold: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            failure_threshold: 2,
        }
    }
}

/// Everything readiness and the probes look at.
#[derive(Clone)]
pub struct HealthContext {
    /// The probes and their cached results.
    pub registry: HealthRegistry,
    /// The Lavalink cluster.
    pub cluster: Cluster,
    /// The store, when the process has one.
    pub store: Option<Arc<dyn store::Store>>,
    /// The Discord layer, when the process runs shards.
    pub discord: Option<discord::Discord>,
    /// What the bot-level probes need.
    pub options: HealthOptions,
}

/// What the bot-level probes need beyond the cluster and Discord.
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    /// The bot's recent interactions and voice incidents (when a bot runs here).
    pub activity: Option<bot::activity::Activity>,
    /// The channel alerts and admins use, whose permissions are checked.
    pub control_channel: Option<discord::ChannelId>,
    /// An identifier each node must load (`lavalink:playerReady`); unset skips that probe.
    pub probe_identifier: Option<String>,
    /// Resident memory above this many bytes warns.
    pub memory_warn_bytes: Option<u64>,
    /// The store's quarantine (`store:quarantinedGuilds` warns while it holds guilds).
    pub quarantine: Option<Arc<store::QuarantineGuard>>,
}

/// One part of readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessPart {
    /// What.
    pub name: &'static str,
    /// Whether it is ready.
    pub ready: bool,
    /// Why not, or what it saw.
    pub detail: String,
}

impl HealthContext {
    /// Readiness: every owned shard is connected, at least one Lavalink node takes players, and
    /// the store answers (by its last cached probe).
    pub fn readiness(&self) -> Vec<ReadinessPart> {
        let nodes = self.cluster.nodes();
        let eligible = nodes.iter().filter(|n| n.eligible).count();
        let mut parts = vec![ReadinessPart {
            name: "lavalink",
            ready: eligible > 0,
            detail: format!("{eligible} of {} nodes take players", nodes.len()),
        }];
        if let Some(discord) = &self.discord {
            let shards = discord.status();
            let connected = shards.iter().filter(|s| s.connected).count();
            parts.insert(
                0,
                ReadinessPart {
                    name: "discord",
                    ready: !shards.is_empty() && connected == shards.len(),
                    detail: format!("{connected} of {} shards connected", shards.len()),
                },
            );
        }
        if self.store.is_some() {
            let store = self
                .registry
                .results()
                .into_iter()
                .find(|r| r.spec.name == probes::STORE);
            let (ready, detail) = match store {
                Some(r) if r.checked_at.is_some() && r.status != Status::Fail => {
                    (true, "answers".to_owned())
                }
                Some(r) => (
                    false,
                    r.observation
                        .output
                        .unwrap_or_else(|| "no answer yet".to_owned()),
                ),
                None => (false, "not probed".to_owned()),
            };
            parts.push(ReadinessPart {
                name: "store",
                ready,
                detail,
            });
        }
        parts
    }

    /// Starts every probe and keeps the per-node probes in step with the node set.
    pub fn start(&self, settings: ProbeSettings) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(store) = &self.store {
            let probe: Arc<dyn Probe> =
                Arc::new(probes::StoreProbe::new(Arc::clone(store), settings));
            tasks.push(self.registry.spawn(probe));
        }
        if let Some(guard) = &self.options.quarantine {
            tasks.push(
                self.registry
                    .spawn(Arc::new(quarantine::QuarantineProbe::new(
                        Arc::clone(guard),
                        settings,
                    ))),
            );
        }
        tasks.push(
            self.registry
                .spawn(Arc::new(probes::RuntimeLagProbe::new(settings))),
        );
        tasks.push(self.registry.spawn(Arc::new(bot_probes::MemoryProbe::new(
            self.options.memory_warn_bytes,
            settings,
        ))));
        tasks.push(
            self.registry
                .spawn(Arc::new(bot_probes::VoiceConnectedProbe::new(
                    self.cluster.clone(),
                    settings,
                ))),
        );
        tasks.push(
            self.registry
                .spawn(Arc::new(bot_probes::VoicePingProbe::new(
                    self.cluster.clone(),
                    settings,
                ))),
        );
        if let Some(activity) = &self.options.activity {
            tasks.push(
                self.registry
                    .spawn(Arc::new(bot_probes::VoiceHealingProbe::new(
                        activity.clone(),
                        settings,
                    ))),
            );
            tasks.push(
                self.registry
                    .spawn(Arc::new(bot_probes::InteractionAckProbe::new(
                        activity.clone(),
                        settings,
                    ))),
            );
        }
        tasks.push(self.registry.spawn(Arc::new(probes::ClusterProbe::new(
            self.cluster.clone(),
            settings,
        ))));
        if let Some(discord) = &self.discord {
            tasks.push(
                self.registry
                    .spawn(Arc::new(bot_probes::PermissionsProbe::new(
                        discord.clone(),
                        self.cluster.clone(),
                        self.options.control_channel,
                        settings,
                    ))),
            );
            for shard in discord.status().iter().map(|s| s.shard) {
                for probe in probes::ShardProbe::all(discord, shard, settings) {
                    tasks.push(self.registry.spawn(Arc::new(probe)));
                }
            }
        }
        tasks.push(tokio::spawn(probes::follow_nodes(
            self.registry.clone(),
            self.cluster.clone(),
            settings,
            self.options.probe_identifier.clone(),
        )));
        tasks
    }
}

/// A stopwatch for what the probes measure: real latencies (a REST round trip, a store ping, the
/// event loop's lag), whatever clock the probes beat on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Started now, on the real clock.
    #[allow(clippy::disallowed_methods, reason = "a probe's latency is real time")]
    pub(crate) fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Real time since the start.
    #[allow(clippy::disallowed_methods, reason = "a probe's latency is real time")]
    pub(crate) fn elapsed(self) -> std::time::Duration {
        self.0.elapsed()
    }
}
