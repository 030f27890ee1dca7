//! One term of serving, from the Discord REST check to the ordered stop: the shards and the
//! Lavalink sessions (resumed from a predecessor's handover records when there are any), the
//! health probes, config reload, the slash commands, and the bot with every guild restored.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use super::Process;
use super::parts::{GuildsOf, Jemalloc, ShardsOf, health_context, start_reload, tap};
use crate::handover::{Predecessor, Records};
use admin::checks::ProbeSettings;
use admin::checks::quarantine::StoreQuarantine;
use admin::deploy::TakeoverReport;
use bot::activity::Activity;
use bot::health_command::HealthAccess;
use bot::runtime::{Bot, Observers};
use bot::shell::Shell;
use discord::Standby;

use super::StopMode;

/// How long the start waits for the handed-over Lavalink sessions to be taken up (a node that
/// does not answer must not hold up the guilds on the others).
const HANDOVER_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Bounds of the stop's steps after the guilds have stopped: each step that overruns is logged
/// and left behind, so a stop always ends.
const STOP_STEP: std::time::Duration = std::time::Duration::from_secs(3);

/// A serving term: everything that runs while the process answers.
pub(super) struct Term {
    /// The shards this process runs: its handover records are theirs.
    scope: store::HandoverScope,
    bot: Bot,
    cluster: cluster::Cluster,
    discord: discord::Discord,
    discord_events: discord::Events,
    cluster_events: tokio::sync::mpsc::UnboundedReceiver<cluster::ClusterEvent>,
    /// Probes and config reload: stopped before the shards.
    background: Vec<JoinHandle<()>>,
    /// How the start went.
    pub(super) report: TakeoverReport,
}

/// What a term's stop did.
pub(super) struct Stopped {
    /// Guilds whose state the bot's stop wrote.
    pub(super) guilds: u64,
    /// Gateway sessions handed over (a handover stop).
    pub(super) gateway_sessions: usize,
    /// Lavalink sessions handed over (a handover stop).
    pub(super) lavalink_sessions: usize,
}

impl Term {
    /// Starts serving, taking over the sessions a predecessor handed over through the store if
    /// there are any. A start that fails after it resumed them hands them back the same way, so
    /// that the predecessor (or the next try) can take them again.
    pub(super) async fn start(process: &Process) -> anyhow::Result<Self> {
        let began = clock::Clock::now(&clock::SystemClock);
        let began_at_unix_ms = super::now_unix_ms();
        let standby = Standby::connect(process.settings.clone())
            .await
            .map_err(|e| {
                anyhow::anyhow!("connecting to Discord's REST API: {}", e.startup_advice())
            })?;
        let bot_user = standby.bot_user();
        tracing::info!(bot = %bot_user, "Discord REST checked");
        let scope = standby
            .shard_range()
            .map(|range| store::HandoverScope {
                first: range.first,
                last: range.last,
                total: range.total,
            })
            .context("the shards to run")?;

        // A predecessor that stopped for a handover left its sessions playing: take them over.
        let cluster_config = process.config.cluster(bot_user.get());
        let predecessor = Predecessor::take(
            &*process.store,
            scope,
            super::now_unix_ms(),
            cluster_config.client.resume_timeout,
        )
        .await
        .context("taking the handover records from the store")?;
        let (shards_resumed, lavalink_sessions) =
            (predecessor.shards.len(), predecessor.lavalink.len());
        let (cluster, cluster_events) = cluster::Cluster::start_resuming(
            cluster_config,
            clock::SystemClock::shared(),
            &predecessor.lavalink,
        )
        .context("starting the Lavalink cluster")?;
        let metrics = &process.metrics;
        metrics.attach_cluster(cluster.clone());
        metrics.attach_allocator(Arc::new(Jemalloc));
        let cluster_events = if process.config.metrics.enabled {
            tap(cluster_events, metrics.clone())
        } else {
            cluster_events
        };
        let (discord, discord_events) =
            match standby.start_resuming(&predecessor.shards, predecessor.cache) {
                Ok(started) => started,
                Err(error) => {
                    hand_back(process, scope, &cluster, None).await;
                    return Err(error).context("starting the gateway shards");
                }
            };
        metrics.attach_shards(Arc::new(ShardsOf(discord.clone())));

        let activity = Activity::new();
        let mut background = start_health(process, &cluster, &discord, &activity);
        background.extend(
            process
                .config_path
                .clone()
                .map(|path| start_reload(path, &cluster)),
        );

        let taking_over = lavalink_sessions > 0;
        let started = start_bot(process, &discord, &cluster, activity, scope, taking_over).await;
        let (bot, guilds, playing_on) = match started {
            Ok(bot) => bot,
            Err(error) => {
                for task in background {
                    task.abort();
                }
                hand_back(process, scope, &cluster, Some(&discord)).await;
                return Err(error);
            }
        };
        Ok(Self {
            scope,
            bot,
            cluster,
            discord,
            discord_events,
            cluster_events,
            background,
            report: TakeoverReport {
                began_at_unix_ms,
                took_ms: u64::try_from(
                    (clock::Clock::now(&clock::SystemClock) - began).as_millis(),
                )
                .unwrap_or(u64::MAX),
                shards_resumed,
                lavalink_sessions,
                guilds,
                playing_on,
            },
        })
    }

    /// Serves until `end` says how the term ends, then stops in order. A plain stop: the bot (no
    /// new commands, held ones finished, every guild's state written), the Lavalink sessions
    /// (closed: the nodes destroy the players), the background tasks, the shards. A handover: the
    /// shards first (closed resumably, so Discord keeps what comes next for the successor), the
    /// bot (what arrived before is finished), the Lavalink sessions (detached: audio plays on),
    /// the background tasks, the handover records.
    pub(super) async fn run(
        self,
        process: &Process,
        end: impl Future<Output = StopMode>,
    ) -> (StopMode, Stopped) {
        let (asked, mode) = tokio::sync::oneshot::channel();
        let discord = self.discord.clone();
        let stopped = async move {
            let mode = end.await;
            // A handover closes the shards first: from then on Discord keeps the events for the
            // successor, and what came before is the bot's to finish.
            let shards = match mode {
                StopMode::Handover => step("gateway", discord.close_resumable()).await,
                StopMode::Plain => None,
            };
            let _ = asked.send((mode, shards));
        };
        let report = self
            .bot
            .run(self.discord_events, self.cluster_events, stopped)
            .await;
        // The streams can end before any stop was asked for: then it is a plain one.
        let (mode, shards) = mode.await.unwrap_or_default();
        tracing::info!(?mode, guilds = report.guilds, "shutting down");
        let detached = step(
            "lavalink",
            self.cluster.shutdown(mode == StopMode::Handover),
        )
        .await;
        for task in self.background {
            task.abort();
        }
        let mut stopped = Stopped {
            guilds: u64::try_from(report.guilds).unwrap_or(u64::MAX),
            gateway_sessions: 0,
            lavalink_sessions: 0,
        };
        match mode {
            StopMode::Plain => {
                step("gateway", self.discord.shutdown()).await;
            }
            StopMode::Handover => {
                let records = Records::of(
                    self.scope,
                    detached.unwrap_or_default(),
                    shards.unwrap_or_default(),
                    &self.discord.cache_snapshot(),
                    super::now_unix_ms(),
                );
                stopped.gateway_sessions = records.gateway.len();
                stopped.lavalink_sessions = records.lavalink.len();
                step("handover records", records.save(&*process.store)).await;
            }
        }
        tracing::info!(?mode, "stopped");
        (mode, stopped)
    }
}

/// The health probes of a term, and the admin routes of serving (health answered from them).
fn start_health(
    process: &Process,
    cluster: &cluster::Cluster,
    discord: &discord::Discord,
    activity: &Activity,
) -> Vec<JoinHandle<()>> {
    let mut health = health_context(
        &process.config,
        &process.registry,
        cluster,
        &process.store,
        discord,
        activity,
    );
    health.options.quarantine = Some(Arc::clone(&process.quarantine));
    let probes = health.start(ProbeSettings {
        interval: process.config.health.check_interval,
        timeout: process
            .config
            .health
            .check_interval
            .min(std::time::Duration::from_secs(3)),
        failure_threshold: process.config.health.failure_threshold,
    });
    process.serve_routes(cluster, health, activity);
    probes
}

/// The slash commands registered and the bot with every stored guild of its shards (`scope`)
/// restored; returns it with how many guilds and how many of them play on. When taking over from a predecessor, the restore first waits (within
/// [`HANDOVER_SETTLE`]) for its Lavalink sessions to be taken up: it must know which players
/// play on (adopted) and which start again.
async fn start_bot(
    process: &Process,
    discord: &discord::Discord,
    cluster: &cluster::Cluster,
    activity: Activity,
    scope: store::HandoverScope,
    taking_over: bool,
) -> anyhow::Result<(Bot, usize, usize)> {
    let registered = discord
        .register_commands(&bot::commands::definitions())
        .await
        .context("registering the slash commands")?;
    tracing::info!(commands = registered.len(), "slash commands registered");
    let config = &process.config;
    let bot = Bot::observed(
        discord.clone(),
        Shell::new(cluster.clone(), Arc::clone(&process.store)),
        process.bot,
        Observers {
            metrics: process.metrics.clone(),
            activity,
            health: Some(process.registry.clone()),
            health_access: HealthAccess {
                users: config.health.admin_users.clone(),
                roles: config.health.admin_roles.clone(),
            },
        },
    );
    process
        .metrics
        .attach_guilds(Arc::new(GuildsOf(bot.clone())));
    if taking_over
        && tokio::time::timeout(HANDOVER_SETTLE, cluster.handover_settled())
            .await
            .is_err()
    {
        tracing::warn!(bound = ?HANDOVER_SETTLE, "not every handed-over Lavalink session was taken up in time; the guilds without a player start again from the store");
    }
    let restored = bot
        .restore(scope)
        .await
        .context("restoring guilds from the store")?;
    StoreQuarantine {
        damaged: restored.damaged,
    }
    .record(&process.metrics);
    Ok((bot, restored.guilds, restored.playing_on))
}

/// A start that failed part-way hands what it resumed back through the store: the Lavalink
/// sessions detached, the shards closed resumably, the records written.
async fn hand_back(
    process: &Process,
    scope: store::HandoverScope,
    cluster: &cluster::Cluster,
    discord: Option<&discord::Discord>,
) {
    let detached = step("lavalink", cluster.shutdown(true))
        .await
        .unwrap_or_default();
    let (shards, cache) = match discord {
        Some(discord) => (
            step("gateway", discord.close_resumable())
                .await
                .unwrap_or_default(),
            discord.cache_snapshot(),
        ),
        None => (Vec::new(), discord::CacheSnapshot::default()),
    };
    let records = Records::of(scope, detached, shards, &cache, super::now_unix_ms());
    step("handover records", records.save(&*process.store)).await;
    tracing::warn!("the start failed: what it had resumed is handed back through the store");
}

/// Runs one step of the stop within [`STOP_STEP`]; an overrun is logged and the stop goes on.
async fn step<T>(name: &'static str, work: impl Future<Output = T>) -> Option<T> {
    let done = tokio::time::timeout(STOP_STEP, work).await.ok();
    if done.is_none() {
        tracing::warn!(step = name, bound = ?STOP_STEP, "stopping: a step overran its bound; going on without it");
    }
    done
}
