//! Running the whole bot from a configuration: Discord, the store, the Lavalink cluster, health
//! probes and alerts, the admin server, config reload, and the bot itself. `dimby run` and
//! `dimby demo` both come through here.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use health::HealthRegistry;

use crate::admin::{self, AdminServer, AdminState, AdminToken};
use crate::bot::runtime::{Bot, BotSettings};
use crate::bot::shell::Shell;
use crate::config::Config;
use crate::discord::{self, Settings, Standby};
use crate::health::{HealthContext, ProbeSettings, alerts};

/// What `serve` needs beyond the configuration.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// The file the configuration came from, watched for node-set changes.
    pub config_path: Option<PathBuf>,
    /// Bot behaviour (idle leave, position ticks).
    pub bot: BotSettings,
}

/// Runs the bot until `stop` completes, then shuts down cleanly.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    discord::install_crypto_provider();
    let settings = Settings::from_config(&config.discord).context("discord settings")?;
    let standby = Standby::connect(settings)
        .await
        .context("connecting to Discord's REST API (is discord.token right?)")?;
    let bot_user = standby.bot_user();
    tracing::info!(bot = %bot_user, "Discord REST checked");

    let store = store::SqliteStore::open(&store::SqliteConfig::new(&config.store.data_dir))
        .await
        .with_context(|| format!("opening the store in {}", config.store.data_dir.display()))?;
    let store: Arc<dyn store::Store> = Arc::new(store);

    let (cluster, cluster_events) =
        cluster::Cluster::start(config.cluster(bot_user.get()), clock::SystemClock::shared())
            .context("starting the Lavalink cluster")?;

    let (discord, discord_events) = standby.start(&[]).context("starting the gateway shards")?;

    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let health = HealthContext {
        registry: registry.clone(),
        cluster: cluster.clone(),
        store: Some(Arc::clone(&store)),
        discord: Some(discord.clone()),
    };
    let probes = health.start(ProbeSettings {
        interval: config.health.check_interval,
        timeout: config
            .health
            .check_interval
            .min(std::time::Duration::from_secs(3)),
        failure_threshold: config.health.failure_threshold,
    });
    let alerting = config.health.alert_webhook.clone().map(|hook| {
        let (tasks, mut events) = alerts::start(&registry, hook, alerts::AlertSettings::default());
        // Delivery outcomes are logged by the notifier; drain them here.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        tasks
    });

    let admin = AdminServer::start(
        config.admin.listen,
        admin::router(AdminState {
            cluster: cluster.clone(),
            token: config
                .admin
                .token
                .as_ref()
                .and_then(|t| AdminToken::new(t.expose()))
                .map(Arc::new),
            health: Some(health),
        }),
    )
    .await
    .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))?;

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

    let bot = Bot::new(
        discord.clone(),
        Shell::new(cluster.clone(), store),
        options.bot,
    );
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
    Ok(())
}
