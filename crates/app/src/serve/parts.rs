//! What `serve` wires the parts with: the metrics' sources, the cluster events' tap, the health
//! context, alerts, config reload, `/metrics` and the profilers' start.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use health::HealthRegistry;

use crate::config::Config;
use admin::AdminServer;
use admin::checks::{HealthContext, HealthOptions, alerts};
use admin::metrics::ScrapeAuth;
use bot::activity::Activity;
use bot::runtime::Bot;

/// Config reload: the file watched (and SIGHUP) for node-set changes.
pub(super) fn start_reload(
    path: PathBuf,
    cluster: &cluster::Cluster,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while outcomes.recv().await.is_some() {} });
    crate::reload::watch(
        path,
        cluster.clone(),
        crate::reload::WatchSettings::default(),
        tx,
    )
}

/// What the probes look at.
pub(super) fn health_context(
    config: &Config,
    registry: &HealthRegistry,
    cluster: &cluster::Cluster,
    store: &Arc<dyn store::Store>,
    discord: &discord::Discord,
    activity: &Activity,
) -> HealthContext {
    HealthContext {
        registry: registry.clone(),
        cluster: cluster.clone(),
        store: Some(Arc::clone(store)),
        discord: Some(discord.clone()),
        options: HealthOptions {
            activity: Some(activity.clone()),
            control_channel: config
                .health
                .control_channel
                .and_then(discord::ChannelId::new_checked),
            probe_identifier: config.health.probe_identifier.clone(),
            memory_warn_bytes: config.health.memory_warn_mb.map(|mb| mb * 1024 * 1024),
            quarantine: None,
        },
    }
}

/// `profiling.enabled`: heap sampling from the start, so a heap profile covers the process's life.
#[cfg_attr(not(feature = "profiling"), allow(clippy::unused_async))]
pub(super) async fn start_profiling() {
    #[cfg(feature = "profiling")]
    match admin::profiling::heap::set_active(true).await {
        Ok(()) => tracing::info!("profiling enabled: /debug/pprof/* served, heap sampling on"),
        Err(error) => tracing::warn!(%error, "profiling enabled, but heap sampling is not"),
    }
    #[cfg(not(feature = "profiling"))]
    tracing::warn!(
        "profiling.enabled is set, but {}; /debug/pprof/* answers 501",
        admin::profiling::HOW_TO_BUILD
    );
}

/// The webhook notifier; its delivery outcomes are logged by it and counted here.
pub(super) fn start_alerts(
    registry: &HealthRegistry,
    hook: crate::config::Secret,
    metrics: &telemetry::Metrics,
    startup_grace: std::time::Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    let settings = alerts::AlertSettings {
        startup_grace,
        ..alerts::AlertSettings::default()
    };
    let (tasks, mut events) = alerts::start(registry, hook, settings);
    let metrics = metrics.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            event.record(&metrics);
        }
    });
    tasks
}

/// `/metrics`: a router to merge into the admin server's, or a server of its own
/// (`metrics.listen`), or neither (`metrics.enabled = false`).
pub(super) async fn metrics_endpoints(
    config: &crate::config::MetricsConfig,
    metrics: &telemetry::Metrics,
) -> anyhow::Result<(Option<axum::Router>, Option<AdminServer>)> {
    if !config.enabled {
        return Ok((None, None));
    }
    let auth = ScrapeAuth::new(
        config
            .basic_auth
            .as_ref()
            .map(crate::config::Secret::expose),
        config
            .bearer_token
            .as_ref()
            .map(crate::config::Secret::expose),
    );
    let scrape = admin::metrics::router(metrics.clone(), auth);
    match config.listen {
        Some(listen) => {
            let server = AdminServer::start(listen, scrape)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {listen}"))?;
            Ok((None, Some(server)))
        }
        None => Ok((Some(scrape), None)),
    }
}

/// Passes every cluster event to the metrics on its way to the bot.
pub(super) fn tap(
    mut events: tokio::sync::mpsc::UnboundedReceiver<cluster::ClusterEvent>,
    metrics: telemetry::Metrics,
) -> tokio::sync::mpsc::UnboundedReceiver<cluster::ClusterEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            metrics.observe_cluster(&event);
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

/// The shards as the metrics read them.
pub(super) struct ShardsOf(pub(super) discord::Discord);

impl telemetry::ShardSource for ShardsOf {
    fn shards(&self) -> Vec<telemetry::ShardSample> {
        self.0
            .status()
            .into_iter()
            .map(|s| telemetry::ShardSample {
                shard: s.shard,
                connected: s.connected,
                latency: s.latency,
                last_event_age: s.last_event.map(discord::age_of),
                identifies: u64::from(s.identifies),
                resumes: u64::from(s.resumes),
                disconnects: u64::from(s.disconnects),
            })
            .collect()
    }
}

/// The allocator's figures as the metrics read them (jemalloc's statistics, which need no
/// profiling feature).
pub(super) struct Jemalloc;

impl telemetry::AllocatorSource for Jemalloc {
    fn allocator(&self) -> Option<telemetry::AllocatorSample> {
        let stats = admin::profiling::allocator_stats().ok()?;
        Some(telemetry::AllocatorSample {
            allocated: stats.allocated_bytes,
            active: stats.active_bytes,
            resident: stats.resident_bytes,
            mapped: stats.mapped_bytes,
            retained: stats.retained_bytes,
            metadata: stats.metadata_bytes,
        })
    }
}

/// The bot's guilds as the metrics read them.
pub(super) struct GuildsOf(pub(super) Bot);

impl telemetry::GuildSource for GuildsOf {
    fn guilds(&self) -> telemetry::GuildCounts {
        self.0.guild_counts()
    }
}
