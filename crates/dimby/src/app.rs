//! Running the whole bot from a configuration: Discord, the store, the Lavalink cluster, health
//! probes and alerts, the admin server, config reload, and the bot itself. `dimby run` and
//! `dimby demo` both come through here.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use health::HealthRegistry;

use crate::admin::metrics::ScrapeAuth;
use crate::admin::{self, AdminServer, AdminState, AdminToken};
use crate::bot::health_command::HealthAccess;
use crate::bot::runtime::{Bot, BotSettings, Observers, command_metrics};
use crate::bot::shell::Shell;
use crate::config::Config;
use crate::discord::{self, Settings, Standby};
use crate::health::activity::Activity;
use crate::health::{HealthContext, HealthOptions, ProbeSettings, alerts};

/// What `serve` needs beyond the configuration.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// The file the configuration came from, watched for node-set changes.
    pub config_path: Option<PathBuf>,
    /// Bot behaviour (idle leave, position ticks).
    pub bot: BotSettings,
    /// The metrics to record into (a benchmark keeps a handle to switch recording); `None`
    /// makes a fresh registry.
    pub metrics: Option<telemetry::Metrics>,
}

/// Runs the bot until `stop` completes, then shuts down cleanly.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    discord::install_crypto_provider();
    let metrics = options.metrics.clone().unwrap_or_else(command_metrics);
    if !config.metrics.enabled {
        // metrics.enabled = false: nothing is recorded and /metrics is not served.
        metrics.set_recording(false);
    }
    let mut settings = Settings::from_config(&config.discord).context("discord settings")?;
    settings.metrics = Some(metrics.clone());
    let standby = Standby::connect(settings)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to Discord's REST API: {}", e.startup_advice()))?;
    let bot_user = standby.bot_user();
    tracing::info!(bot = %bot_user, "Discord REST checked");

    let store = store::SqliteStore::open(&store::SqliteConfig::new(&config.store.data_dir))
        .await
        .with_context(|| format!("opening the store in {}", config.store.data_dir.display()))?;
    let store: Arc<dyn store::Store> = Arc::new(store);

    let (cluster, cluster_events) =
        cluster::Cluster::start(config.cluster(bot_user.get()), clock::SystemClock::shared())
            .context("starting the Lavalink cluster")?;
    metrics.attach_cluster(cluster.clone());
    metrics.attach_allocator(Arc::new(Jemalloc));
    let cluster_events = if config.metrics.enabled {
        tap(cluster_events, metrics.clone())
    } else {
        cluster_events
    };

    let (discord, discord_events) = standby.start(&[]).context("starting the gateway shards")?;
    metrics.attach_shards(Arc::new(ShardsOf(discord.clone())));

    let registry = HealthRegistry::new(clock::SystemClock::shared());
    metrics.attach_health(registry.clone());
    let activity = Activity::new();
    let health = health_context(&config, &registry, &cluster, &store, &discord, &activity);
    let probes = health.start(ProbeSettings {
        interval: config.health.check_interval,
        timeout: config
            .health
            .check_interval
            .min(std::time::Duration::from_secs(3)),
        failure_threshold: config.health.failure_threshold,
    });
    let alerting = config
        .health
        .alert_webhook
        .clone()
        .map(|hook| start_alerts(&registry, hook, &metrics, config.health.startup_grace));

    let (on_admin, metrics_server) = metrics_endpoints(&config.metrics, &metrics).await?;
    let admin = start_admin(&config, &cluster, health, on_admin).await?;

    let reload = options.config_path.clone().map(|path| {
        let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move { while outcomes.recv().await.is_some() {} });
        crate::reload::watch(
            path,
            cluster.clone(),
            crate::reload::WatchSettings::default(),
            tx,
        )
    });

    let registered = discord
        .register_commands(&crate::bot::commands::definitions())
        .await
        .context("registering the slash commands")?;
    tracing::info!(commands = registered.len(), "slash commands registered");

    let bot = Bot::observed(
        discord.clone(),
        Shell::new(cluster.clone(), store),
        options.bot,
        Observers {
            metrics: metrics.clone(),
            activity,
            health: Some(registry.clone()),
            health_access: HealthAccess {
                users: config.health.admin_users.clone(),
                roles: config.health.admin_roles.clone(),
            },
        },
    );
    metrics.attach_guilds(Arc::new(GuildsOf(bot.clone())));
    bot.restore()
        .await
        .context("restoring guilds from the store")?;
    tracing::info!(admin = %admin.addr(), "DimbyBot is running");
    bot.run(discord_events, cluster_events, stop).await;

    tracing::info!("shutting down");
    if let Some(reload) = reload {
        reload.abort();
    }
    for task in probes.into_iter().chain(alerting.into_iter().flatten()) {
        task.abort();
    }
    discord.shutdown().await;
    cluster.shutdown(false).await;
    admin.stop();
    if let Some(server) = metrics_server {
        server.stop();
    }
    Ok(())
}

/// What the probes look at.
fn health_context(
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
        },
    }
}

/// The admin server: health, the node API and (unless it has its own address) `/metrics`.
async fn start_admin(
    config: &Config,
    cluster: &cluster::Cluster,
    health: HealthContext,
    scrape: Option<axum::Router>,
) -> anyhow::Result<AdminServer> {
    let router = admin::router(AdminState {
        cluster: cluster.clone(),
        token: config
            .admin
            .token
            .as_ref()
            .and_then(|t| AdminToken::new(t.expose()))
            .map(Arc::new),
        health: Some(health),
        node_hosts: Arc::new(config.node_hosts()),
    });
    let router = match scrape {
        Some(scrape) => router.merge(scrape),
        None => router,
    };
    let router = router.merge(admin::pprof::router(admin::pprof::PprofSettings {
        enabled: config.profiling.enabled,
        max_seconds: config.profiling.max_seconds,
        token: config
            .admin
            .token
            .as_ref()
            .and_then(|t| AdminToken::new(t.expose()))
            .map(Arc::new),
    }));
    if config.profiling.enabled {
        start_profiling().await;
    }
    AdminServer::start_with(config.admin.listen, router, config.admin.limits())
        .await
        .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))
}

/// `profiling.enabled`: heap sampling from the start, so a heap profile covers the process's life.
#[cfg_attr(not(feature = "profiling"), allow(clippy::unused_async))]
async fn start_profiling() {
    #[cfg(feature = "profiling")]
    match crate::profiling::heap::set_active(true).await {
        Ok(()) => tracing::info!("profiling enabled: /debug/pprof/* served, heap sampling on"),
        Err(error) => tracing::warn!(%error, "profiling enabled, but heap sampling is not"),
    }
    #[cfg(not(feature = "profiling"))]
    tracing::warn!(
        "profiling.enabled is set, but {}; /debug/pprof/* answers 501",
        crate::profiling::HOW_TO_BUILD
    );
}

/// The webhook notifier; its delivery outcomes are logged by it and counted here.
fn start_alerts(
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
async fn metrics_endpoints(
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
fn tap(
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
struct ShardsOf(discord::Discord);

impl telemetry::ShardSource for ShardsOf {
    fn shards(&self) -> Vec<telemetry::ShardSample> {
        self.0
            .status()
            .into_iter()
            .map(|s| telemetry::ShardSample {
                shard: s.shard,
                connected: s.connected,
                latency: s.latency,
                last_event_age: s.last_event.map(|at| at.elapsed()),
                identifies: u64::from(s.identifies),
                resumes: u64::from(s.resumes),
                disconnects: u64::from(s.disconnects),
            })
            .collect()
    }
}

/// The allocator's figures as the metrics read them (jemalloc's statistics, which need no
/// profiling feature).
struct Jemalloc;

impl telemetry::AllocatorSource for Jemalloc {
    fn allocator(&self) -> Option<telemetry::AllocatorSample> {
        let stats = crate::profiling::allocator_stats().ok()?;
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
struct GuildsOf(Bot);

impl telemetry::GuildSource for GuildsOf {
    fn guilds(&self) -> telemetry::GuildCounts {
        self.0.guild_counts()
    }
}
