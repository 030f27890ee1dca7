//! Running the whole bot from a configuration: Discord, the store, the Lavalink cluster, health
//! probes and alerts, the admin server, config reload, and the bot itself. `dimby run` and
//! `dimby demo` both come through here.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use health::HealthRegistry;

use crate::config::Config;
use crate::handover::{Predecessor, Records};
use admin::checks::quarantine::StoreQuarantine;
use admin::checks::{HealthContext, HealthOptions, ProbeSettings, alerts};
use admin::metrics::ScrapeAuth;
use admin::{AdminServer, AdminState, AdminToken};
use bot::activity::Activity;
use bot::health_command::HealthAccess;
use bot::runtime::{Bot, BotSettings, Observers, command_metrics};
use bot::shell::Shell;
use discord::Standby;

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

/// How the process stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// The bot goes away: its Lavalink sessions end (the nodes destroy its players) and its
    /// gateway sessions close.
    #[default]
    Plain,
    /// A successor takes over: the Lavalink sessions are detached (audio plays on) and the shards
    /// close resumably; both are written to the store as handover records for the successor.
    Handover,
}

/// How long the start waits for the handed-over Lavalink sessions to be taken up (a node that
/// does not answer must not hold up the guilds on the others).
const HANDOVER_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Bounds of the stop's steps after the guilds have stopped: each step that overruns is logged
/// and left behind, so a stop always ends.
const STOP_STEP: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs the bot until `stop` completes, then stops in order: the bot (no new commands, held ones
/// finished, every guild's state written), the Lavalink sessions (closed or detached), the
/// background tasks, the shards (closed, or resumably for a handover), the admin server last.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    stop: impl Future<Output = StopMode>,
) -> anyhow::Result<()> {
    discord::install_crypto_provider();
    let metrics = options.metrics.clone().unwrap_or_else(command_metrics);
    crate::identity::adopt(&config, &metrics);
    if !config.metrics.enabled {
        // metrics.enabled = false: nothing is recorded and /metrics is not served.
        metrics.set_recording(false);
    }
    let mut settings = config.discord.settings().context("discord settings")?;
    settings.metrics = Some(metrics.clone());
    let standby = Standby::connect(settings)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to Discord's REST API: {}", e.startup_advice()))?;
    let bot_user = standby.bot_user();
    tracing::info!(bot = %bot_user, "Discord REST checked");

    let quarantine = open_store(&config.store).await?;
    let store: Arc<dyn store::Store> = quarantine.clone();

    // A predecessor that stopped for a handover left its sessions playing: take them over.
    let (predecessor, cluster, cluster_events) =
        start_cluster(&config, bot_user, &*store, &metrics).await?;
    let taking_over = !predecessor.lavalink.is_empty();
    let (discord, discord_events) = standby
        .start_resuming(&predecessor.shards, predecessor.cache)
        .context("starting the gateway shards")?;
    metrics.attach_shards(Arc::new(ShardsOf(discord.clone())));

    let registry = HealthRegistry::new(clock::SystemClock::shared());
    metrics.attach_health(registry.clone());
    let activity = Activity::new();
    let mut health = health_context(&config, &registry, &cluster, &store, &discord, &activity);
    health.options.quarantine = Some(quarantine);
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
    let admin = start_admin(&config, &cluster, health, on_admin, &metrics).await?;

    let reload = options
        .config_path
        .clone()
        .map(|path| start_reload(path, &cluster));

    let registered = discord
        .register_commands(&bot::commands::definitions())
        .await
        .context("registering the slash commands")?;
    tracing::info!(commands = registered.len(), "slash commands registered");

    let bot = start_bot(
        &config,
        options.bot,
        Parts {
            discord: &discord,
            cluster: &cluster,
            store: &store,
            metrics: &metrics,
            registry: &registry,
        },
        activity,
        taking_over,
    )
    .await?;
    let bot_store = store;
    tracing::info!(admin = %admin.addr(), "DimbyBot is running");
    let (mode, report) = run_bot(&bot, discord_events, cluster_events, stop).await;
    tracing::info!(?mode, guilds = report.guilds, "shutting down");

    stop_in_order(
        mode,
        Running {
            cluster,
            discord,
            store: bot_store,
            background: probes
                .into_iter()
                .chain(alerting.into_iter().flatten())
                .chain(reload)
                .collect(),
            admin,
            metrics_server,
        },
    )
    .await;
    Ok(())
}

/// Takes the handover records a predecessor left and starts the cluster on them (resuming its
/// Lavalink sessions); its events pass through the metrics when they are on.
async fn start_cluster(
    config: &Config,
    bot_user: discord::UserId,
    store: &dyn store::Store,
    metrics: &telemetry::Metrics,
) -> anyhow::Result<(
    Predecessor,
    cluster::Cluster,
    tokio::sync::mpsc::UnboundedReceiver<cluster::ClusterEvent>,
)> {
    let cluster_config = config.cluster(bot_user.get());
    let predecessor = Predecessor::take(store, now_unix_ms(), cluster_config.client.resume_timeout)
        .await
        .context("taking the handover records from the store")?;
    let (cluster, events) = cluster::Cluster::start_resuming(
        cluster_config,
        clock::SystemClock::shared(),
        &predecessor.lavalink,
    )
    .context("starting the Lavalink cluster")?;
    metrics.attach_cluster(cluster.clone());
    metrics.attach_allocator(Arc::new(Jemalloc));
    let events = if config.metrics.enabled {
        tap(events, metrics.clone())
    } else {
        events
    };
    Ok((predecessor, cluster, events))
}

/// What the bot is built on.
struct Parts<'a> {
    discord: &'a discord::Discord,
    cluster: &'a cluster::Cluster,
    store: &'a Arc<dyn store::Store>,
    metrics: &'a telemetry::Metrics,
    registry: &'a HealthRegistry,
}

/// The bot with every stored guild restored. When taking over from a predecessor, the restore
/// first waits (within [`HANDOVER_SETTLE`]) for its Lavalink sessions to be taken up: it must
/// know which players play on (adopted) and which start again.
async fn start_bot(
    config: &Config,
    settings: BotSettings,
    parts: Parts<'_>,
    activity: Activity,
    taking_over: bool,
) -> anyhow::Result<Bot> {
    let bot = Bot::observed(
        parts.discord.clone(),
        Shell::new(parts.cluster.clone(), Arc::clone(parts.store)),
        settings,
        Observers {
            metrics: parts.metrics.clone(),
            activity,
            health: Some(parts.registry.clone()),
            health_access: HealthAccess {
                users: config.health.admin_users.clone(),
                roles: config.health.admin_roles.clone(),
            },
        },
    );
    parts.metrics.attach_guilds(Arc::new(GuildsOf(bot.clone())));
    if taking_over
        && tokio::time::timeout(HANDOVER_SETTLE, parts.cluster.handover_settled())
            .await
            .is_err()
    {
        tracing::warn!(bound = ?HANDOVER_SETTLE, "not every handed-over Lavalink session was taken up in time; the guilds without a player start again from the store");
    }
    let (_, damaged) = bot
        .restore()
        .await
        .context("restoring guilds from the store")?;
    StoreQuarantine { damaged }.record(parts.metrics);
    Ok(bot)
}

/// Opens the store behind a quarantine guard: writes for guilds the restore finds damaged are
/// refused, so their rows stay for repair. An existing empty or unreadable file is an error that
/// says what to do.
async fn open_store(
    config: &crate::config::StoreConfig,
) -> anyhow::Result<Arc<store::QuarantineGuard>> {
    let store = store::SqliteStore::open(&store::SqliteConfig {
        allow_fresh_start: config.allow_fresh_start,
        ..store::SqliteConfig::new(&config.data_dir)
    })
    .await
    .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    Ok(Arc::new(store::QuarantineGuard::new(Arc::new(store))))
}

/// Runs the bot until `stop` says how to stop; the bot's part of the stop is done on return.
async fn run_bot(
    bot: &Bot,
    discord_events: discord::Events,
    cluster_events: tokio::sync::mpsc::UnboundedReceiver<cluster::ClusterEvent>,
    stop: impl Future<Output = StopMode>,
) -> (StopMode, bot::runtime::StopReport) {
    let (asked, mode) = tokio::sync::oneshot::channel();
    let stopped = async move {
        let _ = asked.send(stop.await);
    };
    let report = bot.run(discord_events, cluster_events, stopped).await;
    // The streams can end before any stop was asked for: then it is a plain one.
    (mode.await.unwrap_or_default(), report)
}

/// What is still running once the bot has stopped, in the order it stops.
struct Running {
    cluster: cluster::Cluster,
    discord: discord::Discord,
    store: Arc<dyn store::Store>,
    background: Vec<tokio::task::JoinHandle<()>>,
    admin: AdminServer,
    metrics_server: Option<AdminServer>,
}

/// The stop after the bot's part: the Lavalink sessions (ended, so the nodes destroy the
/// players, or detached for the successor), the background tasks (nothing may probe or reload
/// what is going away), the shards (closed, or resumably with the handover records written), the
/// admin server last.
async fn stop_in_order(mode: StopMode, running: Running) {
    let detached = step(
        "lavalink",
        running.cluster.shutdown(mode == StopMode::Handover),
    )
    .await;
    for task in running.background {
        task.abort();
    }
    match mode {
        StopMode::Plain => {
            step("gateway", running.discord.shutdown()).await;
        }
        StopMode::Handover => {
            let shards = step("gateway", running.discord.close_resumable())
                .await
                .unwrap_or_default();
            let records = Records::of(
                detached.unwrap_or_default(),
                shards,
                &running.discord.cache_snapshot(),
                now_unix_ms(),
            );
            step("handover records", records.save(&*running.store)).await;
        }
    }
    running.admin.stop();
    if let Some(server) = running.metrics_server {
        server.stop();
    }
    tracing::info!(?mode, "stopped");
}

/// Runs one step of the stop within [`STOP_STEP`]; an overrun is logged and the stop goes on.
async fn step<T>(name: &'static str, work: impl Future<Output = T>) -> Option<T> {
    let done = tokio::time::timeout(STOP_STEP, work).await.ok();
    if done.is_none() {
        tracing::warn!(step = name, bound = ?STOP_STEP, "stopping: a step overran its bound; going on without it");
    }
    done
}

fn now_unix_ms() -> u64 {
    clock::Clock::unix_ms(&clock::SystemClock)
}

/// Config reload: the file watched (and SIGHUP) for node-set changes.
fn start_reload(path: PathBuf, cluster: &cluster::Cluster) -> tokio::task::JoinHandle<()> {
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
            quarantine: None,
        },
    }
}

/// The admin server: health, the node API and (unless it has its own address) `/metrics`.
async fn start_admin(
    config: &Config,
    cluster: &cluster::Cluster,
    health: HealthContext,
    scrape: Option<axum::Router>,
    metrics: &telemetry::Metrics,
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
    AdminServer::observed(
        config.admin.listen,
        router,
        config.admin.limits(),
        metrics.clone(),
    )
    .await
    .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))
}

/// `profiling.enabled`: heap sampling from the start, so a heap profile covers the process's life.
#[cfg_attr(not(feature = "profiling"), allow(clippy::unused_async))]
async fn start_profiling() {
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
struct Jemalloc;

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
struct GuildsOf(Bot);

impl telemetry::GuildSource for GuildsOf {
    fn guilds(&self) -> telemetry::GuildCounts {
        self.0.guild_counts()
    }
}
