//! Running the whole bot from a configuration: Discord, the store, the Lavalink cluster, health
//! probes and alerts, the admin server, config reload, and the bot itself. `dimby run` and
//! `dimby demo` both come through here.
//!
//! A process lives through phases (see `admin::deploy`): it may start in standby (REST, store and
//! nodes checked, nothing connected) and take over when a deploy asks; while serving it may be
//! asked to hand over, after which it stays warm in standby, ready to take over again (a
//! rollback). What lives as long as the process (the store, the admin server, the health
//! registry and alerts, the metrics) is set up once; each serving term (`term`) starts and stops
//! in order on its own.

mod parts;
mod term;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use health::HealthRegistry;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use admin::deploy::{
    DeployControl, DeployRequest, DeployState, HandoverReport, Phase, PhaseRouter,
};
use admin::{AdminServer, AdminState, AdminToken};
use bot::runtime::{BotSettings, command_metrics};
use parts::{metrics_endpoints, start_alerts, start_profiling};
use term::Term;

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
    /// Start in standby: serve only when a deploy asks (`POST /admin/deploy/takeover`).
    pub standby: bool,
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

/// Runs the bot until `stop` completes, then stops in order: the bot (no new commands, held ones
/// finished, every guild's state written), the Lavalink sessions (closed or detached), the
/// background tasks, the shards (closed, or resumably for a handover), the admin server last.
///
/// With [`ServeOptions::standby`] it starts in standby; a start that is not in standby fails
/// when the first term cannot start (a wrong token, an unreachable Discord), a takeover asked of
/// a standby process goes back to standby with the reason in its deploy state.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    stop: impl Future<Output = StopMode>,
) -> anyhow::Result<()> {
    discord::install_crypto_provider();
    let (process, mut requests) = Process::start(config, options).await?;
    let mut stop = std::pin::pin!(stop);
    let mut standby = process.started_in_standby;
    let outcome = loop {
        if standby {
            process.forget_term();
            process.enter(Phase::Standby);
            process.standby_routes();
            let asked = tokio::select! {
                _ = &mut stop => None,
                request = next_request(&mut requests, DeployRequest::Takeover) => request,
            };
            if asked.is_none() {
                break Ok(());
            }
        }
        process.enter(Phase::TakingOver);
        let term = match Term::start(&process).await {
            Ok(term) => term,
            Err(error) if standby => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the takeover failed; back in standby"
                );
                process.failed(&error);
                continue;
            }
            Err(error) => break Err(error),
        };
        process.took_over(term.report.clone());
        process.enter(Phase::Serving);
        tracing::info!(admin = %process.admin.addr(), "DimbyBot is running");
        let end = async {
            tokio::select! {
                mode = &mut stop => {
                    process.enter(Phase::Stopping);
                    mode
                }
                request = next_request(&mut requests, DeployRequest::Handover) => {
                    if request.is_none() {
                        StopMode::Plain
                    } else {
                        process.enter(Phase::HandingOver);
                        StopMode::Handover
                    }
                }
            }
        };
        let (mode, stopped) = term.run(&process, end).await;
        let (phase, since) = process.phase_since();
        // Asked by a deploy (not a signal): stay warm for a rollback.
        let warm = phase == Phase::HandingOver;
        if mode == StopMode::Handover {
            process.handed_over(HandoverReport {
                began_at_unix_ms: since,
                took_ms: now_unix_ms().saturating_sub(since),
                guilds: stopped.guilds,
                gateway_sessions: stopped.gateway_sessions,
                lavalink_sessions: stopped.lavalink_sessions,
            });
        }
        if !warm {
            break Ok(());
        }
        // Handed over at a deploy's request: stay warm for a rollback.
        standby = true;
    };
    process.enter(Phase::Stopping);
    process.admin.stop();
    if let Some(server) = process.metrics_server {
        server.stop();
    }
    outcome
}

/// The next request of `kind`; others are dropped (the endpoints only pass on the one the phase
/// takes). `None` once no request can come any more.
async fn next_request(
    requests: &mut mpsc::Receiver<DeployRequest>,
    kind: DeployRequest,
) -> Option<DeployRequest> {
    loop {
        match requests.recv().await {
            Some(request) if request == kind => return Some(request),
            Some(other) => tracing::warn!(?other, "a deploy request out of turn is dropped"),
            None => return None,
        }
    }
}

/// What lives as long as the process.
struct Process {
    config: Config,
    config_path: Option<PathBuf>,
    bot: BotSettings,
    started_in_standby: bool,
    /// The Discord layer's settings (with the metrics), for each term's REST check.
    settings: discord::Settings,
    metrics: telemetry::Metrics,
    store: Arc<dyn store::Store>,
    quarantine: Arc<store::QuarantineGuard>,
    registry: HealthRegistry,
    token: Option<Arc<AdminToken>>,
    /// The admin server's routes, swapped as the phase changes.
    routes: PhaseRouter,
    /// `/metrics` when it is served by the admin server.
    scrape: Option<axum::Router>,
    admin: AdminServer,
    metrics_server: Option<AdminServer>,
    state: watch::Sender<DeployState>,
    requests: mpsc::Sender<DeployRequest>,
    /// Alerts (process-long).
    _alerting: Vec<tokio::task::JoinHandle<()>>,
}

impl Process {
    /// Sets up what lives as long as the process: metrics, the store, the health registry and
    /// alerts, the admin server (not ready until a term serves).
    async fn start(
        config: Config,
        options: ServeOptions,
    ) -> anyhow::Result<(Self, mpsc::Receiver<DeployRequest>)> {
        let metrics = options.metrics.clone().unwrap_or_else(command_metrics);
        crate::identity::adopt(&config, &metrics);
        if !config.metrics.enabled {
            // metrics.enabled = false: nothing is recorded and /metrics is not served.
            metrics.set_recording(false);
        }
        let mut settings = config.discord.settings().context("discord settings")?;
        settings.metrics = Some(metrics.clone());
        let quarantine = open_store(&config.store).await?;
        let store: Arc<dyn store::Store> = quarantine.clone();
        // The application's processes take turns to identify through the store.
        settings.identify_slots = Some(Arc::new(crate::shared_identify::StoreSlots::new(
            Arc::clone(&store),
        )));
        let registry = HealthRegistry::new(clock::SystemClock::shared());
        metrics.attach_health(registry.clone());
        let alerting = config
            .health
            .alert_webhook
            .clone()
            .map(|hook| start_alerts(&registry, hook, &metrics, config.health.startup_grace))
            .unwrap_or_default();
        let token = config
            .admin
            .token
            .as_ref()
            .and_then(|t| AdminToken::new(t.expose()))
            .map(Arc::new);
        let identity = metrics.identity();
        let (state, _) = watch::channel(DeployState {
            phase: if options.standby {
                Phase::Standby
            } else {
                Phase::TakingOver
            },
            since_unix_ms: now_unix_ms(),
            version: identity.version.to_owned(),
            commit: identity.commit.to_owned(),
            colour: identity.colour.unwrap_or("none").to_owned(),
            last_takeover: None,
            last_handover: None,
            last_error: None,
        });
        let (requests, received) = mpsc::channel(1);
        let (scrape, metrics_server) = metrics_endpoints(&config.metrics, &metrics).await?;
        if config.profiling.enabled {
            start_profiling().await;
        }
        let routes = PhaseRouter::new(axum::Router::new());
        let admin = AdminServer::observed(
            config.admin.listen,
            routes.router(),
            config.admin.limits(),
            metrics.clone(),
        )
        .await
        .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))?;
        let process = Self {
            config,
            config_path: options.config_path,
            bot: options.bot,
            started_in_standby: options.standby,
            settings,
            metrics,
            store,
            quarantine,
            registry,
            token,
            routes,
            scrape,
            admin,
            metrics_server,
            state,
            requests,
            _alerting: alerting,
        };
        process.standby_routes();
        Ok((process, received))
    }

    /// The phase and since when (unix milliseconds).
    fn phase_since(&self) -> (Phase, u64) {
        let state = self.state.borrow();
        (state.phase, state.since_unix_ms)
    }

    /// Back in standby: the last term's nodes, shards, guilds and health results are no longer
    /// this process's to report.
    fn forget_term(&self) {
        self.metrics.detach_serving();
        self.registry.clear();
    }

    fn enter(&self, phase: Phase) {
        self.state.send_modify(|state| {
            if state.phase != phase {
                state.phase = phase;
                state.since_unix_ms = now_unix_ms();
            }
        });
        tracing::info!(phase = phase.as_str(), "deploy phase");
        self.metrics.record_deploy_phase(match phase {
            Phase::Standby => telemetry::DeployPhase::Standby,
            Phase::TakingOver => telemetry::DeployPhase::TakingOver,
            Phase::Serving => telemetry::DeployPhase::Serving,
            Phase::HandingOver => telemetry::DeployPhase::HandingOver,
            Phase::Stopping => telemetry::DeployPhase::Stopping,
        });
    }

    fn took_over(&self, report: admin::deploy::TakeoverReport) {
        self.state.send_modify(|state| {
            state.last_takeover = Some(report);
            state.last_error = None;
        });
    }

    fn handed_over(&self, report: HandoverReport) {
        self.state
            .send_modify(|state| state.last_handover = Some(report));
    }

    fn failed(&self, error: &anyhow::Error) {
        self.state
            .send_modify(|state| state.last_error = Some(format!("{error:#}")));
    }

    /// The deploy endpoints; with the gate in standby, with the signals while serving.
    fn control(
        &self,
        gate: bool,
        signals: Option<Arc<dyn admin::deploy::SignalSource>>,
    ) -> DeployControl {
        DeployControl {
            token: self.token.clone(),
            state: self.state.subscribe(),
            requests: self.requests.clone(),
            gate: gate.then(|| {
                Arc::new(crate::gate::ProcessGate {
                    discord: self.settings.clone(),
                    nodes: self.config.cluster(0).nodes,
                    store: Arc::clone(&self.store),
                    metrics: self.metrics.clone(),
                    probe: self.config.deploy.probe.clone(),
                    log_window: self.config.deploy.gate_log_window,
                    log_since: crate::logging::events(),
                }) as Arc<dyn admin::deploy::Gate>
            }),
            signals,
        }
    }

    /// What every phase serves beside its own routes: the deploy endpoints, `/metrics` (unless it
    /// has its own address), the profilers.
    fn common_routes(
        &self,
        gate: bool,
        signals: Option<Arc<dyn admin::deploy::SignalSource>>,
    ) -> axum::Router {
        let router = admin::deploy::router(self.control(gate, signals)).merge(
            admin::pprof::router(admin::pprof::PprofSettings {
                enabled: self.config.profiling.enabled,
                max_seconds: self.config.profiling.max_seconds,
                token: self.token.clone(),
            }),
        );
        match &self.scrape {
            Some(scrape) => router.merge(scrape.clone()),
            None => router,
        }
    }

    /// Standby and taking over: alive, not ready; the gate answers.
    fn standby_routes(&self) {
        self.routes.set(
            admin::deploy::idle_health(self.state.subscribe())
                .merge(self.common_routes(true, Some(Arc::new(IdleSignals)))),
        );
    }

    /// Serving: health from the probes, the node API, and the deploy signals.
    fn serve_routes(
        &self,
        cluster: &cluster::Cluster,
        health: admin::checks::HealthContext,
        activity: &bot::activity::Activity,
    ) {
        let signals = Arc::new(ServingSignals {
            health: health.clone(),
            cluster: cluster.clone(),
            activity: activity.clone(),
        });
        let router = admin::router(AdminState {
            cluster: cluster.clone(),
            token: self.token.clone(),
            health: Some(health),
            node_hosts: Arc::new(self.config.node_hosts()),
        });
        self.routes
            .set(router.merge(self.common_routes(false, Some(signals))));
    }
}

/// Signals while not serving: nothing is ready and nothing answers; the errors logged so far are
/// what a watch counts the next term's from.
struct IdleSignals;

impl admin::deploy::SignalSource for IdleSignals {
    fn signals(&self) -> admin::deploy::Signals {
        admin::deploy::Signals {
            errors_logged: crate::logging::counting().then(|| crate::logging::events().errors),
            ..admin::deploy::Signals::default()
        }
    }
}

/// A serving term's signals for a deploy's watch.
struct ServingSignals {
    health: admin::checks::HealthContext,
    cluster: cluster::Cluster,
    activity: bot::activity::Activity,
}

impl admin::deploy::SignalSource for ServingSignals {
    fn signals(&self) -> admin::deploy::Signals {
        let commands = self.activity.commands();
        let acks = self.activity.ack_p95(self.activity.now());
        let nodes = self.cluster.nodes();
        let enabled = nodes.iter().filter(|n| n.enabled);
        admin::deploy::Signals {
            ready: self.health.readiness().iter().all(|part| part.ready),
            commands_ok: commands.ok,
            commands_refused: commands.refused,
            commands_failed: commands.failed,
            ack_p95_ms: acks.map(|(p95, _)| u64::try_from(p95.as_millis()).unwrap_or(u64::MAX)),
            acks: acks.map_or(0, |(_, n)| u64::try_from(n).unwrap_or(u64::MAX)),
            errors_logged: crate::logging::counting().then(|| crate::logging::events().errors),
            lavalink_nodes_up: u64::try_from(enabled.clone().filter(|n| n.link == "up").count())
                .unwrap_or(u64::MAX),
            lavalink_nodes: u64::try_from(enabled.count()).unwrap_or(u64::MAX),
        }
    }
}

/// Opens the store behind a quarantine guard: writes for guilds the restore finds damaged are
/// refused, so their rows stay for repair. An existing empty or unreadable file is an error that
/// says what to do.
async fn open_store(
    config: &crate::config::StoreConfig,
) -> anyhow::Result<Arc<store::QuarantineGuard>> {
    let location = config.location();
    let store = config
        .open()
        .await
        .with_context(|| format!("opening the store at {location}"))?;
    tracing::info!(store = %location, "store opened");
    Ok(Arc::new(store::QuarantineGuard::new(store)))
}

pub(crate) fn now_unix_ms() -> u64 {
    clock::Clock::unix_ms(&clock::SystemClock)
}
