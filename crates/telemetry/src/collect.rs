//! Scrape-time families: read from the state's owners on each scrape (the cluster's node views
//! and clients, the shards, the health registry, the bot's guilds, `/proc/self`, the log's
//! counts, the tokio runtime), so they are never stale and cost nothing between scrapes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lavalink::client::{Endpoint, LATENCY_BUCKETS_MICROS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::Sources;
use crate::process::ProcessSample;

/// One shard as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardSample {
    /// The shard id.
    pub shard: u32,
    /// Identified or resumed and receiving events.
    pub connected: bool,
    /// Average heartbeat latency, once known.
    pub latency: Option<Duration>,
    /// Age of the last gateway event, once one arrived.
    pub last_event_age: Option<Duration>,
    /// New sessions so far.
    pub identifies: u64,
    /// Resumed sessions so far.
    pub resumes: u64,
    /// Connections lost or closed so far.
    pub disconnects: u64,
}

/// Whatever owns the gateway shards.
pub trait ShardSource: Send + Sync {
    /// The shards now.
    fn shards(&self) -> Vec<ShardSample>;
}

/// Guilds by activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuildCounts {
    /// Guilds with a player or a queue.
    pub active: u64,
    /// Guilds whose player is playing.
    pub playing: u64,
}

/// Whatever owns the guilds' players.
pub trait GuildSource: Send + Sync {
    /// The counts now.
    fn guilds(&self) -> GuildCounts;
}

/// The allocator's figures, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocatorSample {
    /// Held by the application.
    pub allocated: u64,
    /// In pages handed out (at least `allocated`).
    pub active: u64,
    /// In resident pages the allocator maps.
    pub resident: u64,
    /// Mapped.
    pub mapped: u64,
    /// Kept mapped but returned to the OS.
    pub retained: u64,
    /// The allocator's own metadata.
    pub metadata: u64,
}

/// Whatever knows the allocator (jemalloc in the binary).
pub trait AllocatorSource: Send + Sync {
    /// The figures now, if the allocator reports them.
    fn allocator(&self) -> Option<AllocatorSample>;
}

/// Log events by level, counted since the process started (every event that passed the log's
/// filter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounts {
    /// `ERROR` events.
    pub errors: u64,
    /// `WARN` events.
    pub warnings: u64,
    /// `INFO` events.
    pub info: u64,
    /// `DEBUG` events.
    pub debug: u64,
    /// `TRACE` events.
    pub trace: u64,
}

impl LogCounts {
    /// The events logged since `earlier` (a snapshot taken before this one). A count that went
    /// down (`earlier` is not from before, or from another process) reads as 0.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            errors: self.errors.saturating_sub(earlier.errors),
            warnings: self.warnings.saturating_sub(earlier.warnings),
            info: self.info.saturating_sub(earlier.info),
            debug: self.debug.saturating_sub(earlier.debug),
            trace: self.trace.saturating_sub(earlier.trace),
        }
    }

    /// The counts with their `level` label values, most severe first.
    pub fn by_level(&self) -> [(&'static str, u64); 5] {
        [
            ("error", self.errors),
            ("warn", self.warnings),
            ("info", self.info),
            ("debug", self.debug),
            ("trace", self.trace),
        ]
    }
}

/// Whatever counts the process's log events (the application's log layer).
pub trait LogSource: Send + Sync {
    /// The counts now, or `None` when this process does not count its events (its log was set up
    /// without the counting layer): no samples then, rather than zeros that look like a clean log.
    fn log_events(&self) -> Option<LogCounts>;
}

pub(crate) fn register(
    registry: &mut Registry,
    sources: &Arc<Sources>,
    runtime: Option<tokio::runtime::Handle>,
) {
    registry.register_collector(Box::new(ScrapeTime {
        sources: Arc::clone(sources),
        runtime,
    }));
}

#[derive(Debug)]
struct ScrapeTime {
    sources: Arc<Sources>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Collector for ScrapeTime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let identity = *crate::read(&self.sources.identity);
        gauge(
            &mut encoder,
            "dimby_build_info",
            "Always 1; the running version, the commit it was built from and its deploy colour.",
            [(
                [
                    ("version", identity.version),
                    ("commit", identity.commit),
                    ("colour", identity.colour_label()),
                ],
                1.0,
            )],
        )?;
        self.encode_guilds(&mut encoder)?;
        self.encode_nodes(&mut encoder)?;
        self.encode_health(&mut encoder)?;
        self.encode_shards(&mut encoder)?;
        encode_process(&mut encoder)?;
        self.encode_allocator(&mut encoder)?;
        self.encode_log(&mut encoder)?;
        self.encode_runtime(&mut encoder)
    }
}

type Labels = Vec<(&'static str, String)>;

impl ScrapeTime {
    #[allow(clippy::cast_precision_loss)]
    fn encode_guilds(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let counts = crate::read(&self.sources.guilds)
            .as_ref()
            .map(|source| source.guilds());
        let sample = |value: Option<u64>| value.map(|v| v as f64);
        gauge_one(
            encoder,
            "dimby_guilds_active",
            "Guilds with a player or a queue.",
            sample(counts.map(|c| c.active)),
        )?;
        gauge_one(
            encoder,
            "dimby_guilds_playing",
            "Guilds whose player is playing now.",
            sample(counts.map(|c| c.playing)),
        )
    }

    #[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
    fn encode_nodes(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let cluster = crate::read(&self.sources.cluster).clone();
        let views = cluster
            .as_ref()
            .map(cluster::Cluster::nodes)
            .unwrap_or_default();
        let node = |name: &str| -> Labels { vec![("node", name.to_owned())] };
        let node_kind = |name: &str, kind: &'static str| -> Labels {
            vec![("node", name.to_owned()), ("kind", kind.to_owned())]
        };
        let flag = |on: bool| if on { 1.0 } else { 0.0 };

        gauge(
            encoder,
            "dimby_lavalink_node_up",
            "1 when the node's socket is ready.",
            views.iter().map(|v| (node(&v.name), flag(v.link == "up"))),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_enabled",
            "1 when the node is enabled (an operator disabled or drained it otherwise).",
            views
                .iter()
                .map(|v| (node(&v.name), flag(v.enabled && v.draining.is_none()))),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_eligible",
            "1 when the node takes new players.",
            views.iter().map(|v| (node(&v.name), flag(v.eligible))),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_circuit_state",
            "1 for the circuit's current state, 0 for the others.",
            views.iter().flat_map(|v| {
                ["closed", "open", "half_open"].into_iter().map(|state| {
                    (
                        vec![("node", v.name.clone()), ("state", state.to_owned())],
                        flag(v.circuit == state),
                    )
                })
            }),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_players",
            "Players this bot has on the node.",
            views.iter().map(|v| (node(&v.name), v.players as f64)),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_move_window",
            "Moves onto the node allowed in flight at once now (adapts to how fast it answers).",
            views.iter().map(|v| (node(&v.name), v.move_window as f64)),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_last_seen_seconds",
            "Age of the node's last sign of life.",
            views
                .iter()
                .filter_map(|v| v.last_seen_ms.map(|ms| (node(&v.name), ms as f64 / 1000.0))),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_probe_duration_seconds",
            "Round trip of the cluster's last active probe of the node.",
            views
                .iter()
                .filter_map(|v| v.rtt_ms.map(|ms| (node(&v.name), ms / 1000.0))),
        )?;

        let clients: Vec<(String, lavalink::NodeClient)> = views
            .iter()
            .filter_map(|v| {
                let client = cluster.as_ref()?.client(&v.name)?;
                Some((v.name.clone(), client))
            })
            .collect();
        let stats: Vec<(&str, lavalink::model::Stats)> = clients
            .iter()
            .filter_map(|(name, client)| Some((name.as_str(), client.last_stats()?.value)))
            .collect();
        gauge(
            encoder,
            "dimby_lavalink_node_stats_players",
            "Players on the node (all clients), from its last stats.",
            stats.iter().map(|(name, s)| (node(name), s.players as f64)),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_stats_playing_players",
            "Playing players on the node, from its last stats.",
            stats
                .iter()
                .map(|(name, s)| (node(name), s.playing_players as f64)),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_cpu_load",
            "CPU load from the node's last stats, 0..1 of all cores.",
            stats.iter().flat_map(|(name, s)| {
                [
                    (node_kind(name, "system"), s.cpu.system_load),
                    (node_kind(name, "lavalink"), s.cpu.lavalink_load),
                ]
            }),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_memory_bytes",
            "Memory from the node's last stats.",
            stats.iter().flat_map(|(name, s)| {
                [
                    (node_kind(name, "used"), s.memory.used as f64),
                    (node_kind(name, "free"), s.memory.free as f64),
                    (node_kind(name, "allocated"), s.memory.allocated as f64),
                    (node_kind(name, "reservable"), s.memory.reservable as f64),
                ]
            }),
        )?;
        gauge(
            encoder,
            "dimby_lavalink_node_frames",
            "Average frames per minute from the node's last stats.",
            stats.iter().flat_map(|(name, s)| {
                s.frame_stats.into_iter().flat_map(|f| {
                    [
                        (node_kind(name, "sent"), f.sent as f64),
                        (node_kind(name, "nulled"), f.nulled as f64),
                        (node_kind(name, "deficit"), f.deficit as f64),
                    ]
                })
            }),
        )?;

        // REST latency histograms, kept lock-free by each client.
        let mut metric = encoder.encode_descriptor(
            "dimby_lavalink_rest_request_duration_seconds",
            "Lavalink REST round trips by endpoint.",
            None,
            MetricType::Histogram,
        )?;
        for (name, client) in &clients {
            for endpoint in Endpoint::ALL {
                let latency = client.rest().latency(endpoint);
                if latency.answered == 0 {
                    continue;
                }
                let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_MICROS
                    .iter()
                    .map(|&micros| micros as f64 / 1e6)
                    .chain([f64::INFINITY])
                    .zip(latency.buckets)
                    .collect();
                let labels: Labels = vec![
                    ("node", name.clone()),
                    ("endpoint", endpoint.as_str().to_owned()),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        latency.total.as_secs_f64(),
                        latency.answered,
                        &buckets,
                        None,
                    )?;
            }
        }
        counter(
            encoder,
            "dimby_lavalink_rest_failures",
            "Lavalink REST calls that got no answer (timeout, connection).",
            clients.iter().flat_map(|(name, client)| {
                Endpoint::ALL.into_iter().filter_map(|endpoint| {
                    let failed = client.rest().latency(endpoint).failed;
                    (failed > 0).then(|| {
                        (
                            vec![
                                ("node", name.clone()),
                                ("endpoint", endpoint.as_str().to_owned()),
                            ],
                            failed,
                        )
                    })
                })
            }),
        )
    }

    fn encode_health(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let registry = crate::read(&self.sources.health).clone();
        let results = registry
            .as_ref()
            .map(health::HealthRegistry::results)
            .unwrap_or_default();
        let level = |status: health::Status| match status {
            health::Status::Pass => 0.0,
            health::Status::Warn => 1.0,
            health::Status::Fail => 2.0,
        };
        gauge_one(
            encoder,
            "dimby_health_status",
            "The overall health status: 0 pass, 1 warn, 2 fail.",
            registry.as_ref().map(|r| level(r.status())),
        )?;
        let labels = |r: &health::CheckResult| -> Labels {
            vec![
                ("check", r.spec.name.clone()),
                (
                    "component_id",
                    r.spec.component_id.clone().unwrap_or_default(),
                ),
            ]
        };
        gauge(
            encoder,
            "dimby_health_check_status",
            "Each check's status after its failure threshold: 0 pass, 1 warn, 2 fail.",
            results.iter().map(|r| (labels(r), level(r.status))),
        )?;
        gauge(
            encoder,
            "dimby_health_check_duration_seconds",
            "How long the check's last run took.",
            results
                .iter()
                .map(|r| (labels(r), r.duration.as_secs_f64())),
        )
    }

    #[allow(clippy::cast_precision_loss)]
    fn encode_shards(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let shards = crate::read(&self.sources.shards)
            .as_ref()
            .map(|source| source.shards())
            .unwrap_or_default();
        let shard = |s: &ShardSample| -> Labels { vec![("shard", s.shard.to_string())] };
        gauge(
            encoder,
            "dimby_gateway_shard_connected",
            "1 when the shard is identified or resumed and receiving events.",
            shards
                .iter()
                .map(|s| (shard(s), if s.connected { 1.0 } else { 0.0 })),
        )?;
        gauge(
            encoder,
            "dimby_gateway_shard_latency_seconds",
            "Average heartbeat round trip of the shard's connection.",
            shards
                .iter()
                .filter_map(|s| Some((shard(s), s.latency?.as_secs_f64()))),
        )?;
        gauge(
            encoder,
            "dimby_gateway_shard_last_event_seconds",
            "Age of the shard's last gateway event.",
            shards
                .iter()
                .filter_map(|s| Some((shard(s), s.last_event_age?.as_secs_f64()))),
        )?;
        counter(
            encoder,
            "dimby_gateway_identifies",
            "New gateway sessions (READY).",
            shards.iter().map(|s| (shard(s), s.identifies)),
        )?;
        counter(
            encoder,
            "dimby_gateway_resumes",
            "Resumed gateway sessions (RESUMED).",
            shards.iter().map(|s| (shard(s), s.resumes)),
        )?;
        counter(
            encoder,
            "dimby_gateway_disconnects",
            "Gateway connections lost or closed.",
            shards.iter().map(|s| (shard(s), s.disconnects)),
        )
    }

    #[allow(clippy::cast_precision_loss)]
    fn encode_allocator(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let sample = crate::read(&self.sources.allocator)
            .as_ref()
            .and_then(|source| source.allocator());
        gauge(
            encoder,
            "dimby_allocator_bytes",
            "The memory allocator's figures by kind (allocated, active, resident, mapped, retained, metadata).",
            sample.into_iter().flat_map(|a| {
                [
                    ("allocated", a.allocated),
                    ("active", a.active),
                    ("resident", a.resident),
                    ("mapped", a.mapped),
                    ("retained", a.retained),
                    ("metadata", a.metadata),
                ]
                .map(|(kind, bytes)| (vec![("kind", kind.to_owned())], bytes as f64))
            }),
        )
    }

    fn encode_log(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let counts = crate::read(&self.sources.log)
            .as_ref()
            .and_then(|source| source.log_events());
        counter(
            encoder,
            "dimby_log_events",
            "Log events by level since the process started (those that passed the log's filter).",
            counts.iter().flat_map(|c| {
                c.by_level()
                    .map(|(level, count)| (vec![("level", level.to_owned())], count))
            }),
        )
    }

    #[allow(clippy::cast_precision_loss)]
    fn encode_runtime(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let metrics = self.runtime.as_ref().map(tokio::runtime::Handle::metrics);
        let value = |f: &dyn Fn(&tokio::runtime::RuntimeMetrics) -> f64| metrics.as_ref().map(f);
        gauge_one(
            encoder,
            "tokio_runtime_workers",
            "Worker threads of the tokio runtime.",
            value(&|m| m.num_workers() as f64),
        )?;
        gauge_one(
            encoder,
            "tokio_runtime_alive_tasks",
            "Tasks alive on the tokio runtime.",
            value(&|m| m.num_alive_tasks() as f64),
        )?;
        gauge_one(
            encoder,
            "tokio_runtime_global_queue_depth",
            "Tasks waiting in the tokio runtime's global queue.",
            value(&|m| m.global_queue_depth() as f64),
        )?;
        let busy = metrics.as_ref().map(|m| {
            (0..m.num_workers())
                .map(|worker| m.worker_total_busy_duration(worker).as_secs_f64())
                .sum::<f64>()
        });
        counter_one(
            encoder,
            "tokio_runtime_worker_busy_seconds",
            "Time the tokio workers spent busy, summed over workers.",
            busy,
        )
    }
}

#[allow(clippy::cast_precision_loss)]
fn encode_process(encoder: &mut DescriptorEncoder) -> fmt::Result {
    let sample = ProcessSample::now();
    let value = |f: fn(&ProcessSample) -> f64| sample.as_ref().map(f);
    counter_one(
        encoder,
        "process_cpu_seconds",
        "User and system CPU time of the process, seconds.",
        value(|s| s.cpu.as_secs_f64()),
    )?;
    gauge_one(
        encoder,
        "process_resident_memory_bytes",
        "Resident set size, bytes.",
        value(|s| s.resident_bytes as f64),
    )?;
    gauge_one(
        encoder,
        "process_resident_memory_max_bytes",
        "Peak resident set size since start, bytes.",
        value(|s| s.peak_resident_bytes as f64),
    )?;
    gauge_one(
        encoder,
        "process_virtual_memory_bytes",
        "Virtual memory size, bytes.",
        value(|s| s.virtual_bytes as f64),
    )?;
    gauge_one(
        encoder,
        "process_open_fds",
        "Open file descriptors.",
        value(|s| s.open_fds as f64),
    )?;
    gauge_one(
        encoder,
        "process_max_fds",
        "The open file descriptor limit.",
        sample
            .as_ref()
            .and_then(|s| s.max_fds)
            .map(|max| max as f64),
    )?;
    gauge_one(
        encoder,
        "process_threads",
        "OS threads of the process.",
        value(|s| s.threads as f64),
    )?;
    gauge_one(
        encoder,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, seconds.",
        value(|s| s.start_time_seconds),
    )
}

/// A gauge family whose samples are known now.
fn gauge<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// A counter family whose totals are kept elsewhere (named without `_total`; the encoder adds it).
fn counter<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut metric: MetricEncoder<'_> =
        encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, V, f64>(&value, None)?;
    }
    Ok(())
}

/// A gauge without labels, if its value is known.
fn gauge_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<f64>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    if let Some(value) = value {
        metric.encode_gauge(&value)?;
    }
    Ok(())
}

/// A counter without labels kept elsewhere, if its value is known.
fn counter_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<f64>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    if let Some(value) = value {
        metric.encode_counter::<NoLabelSet, f64, f64>(&value, None)?;
    }
    Ok(())
}
