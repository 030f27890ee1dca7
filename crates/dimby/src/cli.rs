//! The command line: what each `dimby` subcommand takes and does.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogFormat;

/// DimbyBot: a Discord music bot on a cluster of Lavalink v4 nodes.
#[derive(Debug, Parser)]
#[command(name = "dimby", version, about)]
pub struct Cli {
    /// How log lines look on stderr (`RUST_LOG` sets the filter).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "DIMBY_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The embedded default: Discord and Lavalink stand-ins, the real bot, scripted listeners.
    Demo(crate::demo::DemoArgs),
    /// Run the bot (production): the token from DIMBY_DISCORD_TOKEN or the config file.
    Run(RunArgs),
    /// Run a stand-in for a service that cannot be reached here.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Run a benchmark against in-process stand-ins and print its figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Manage the bot's Lavalink nodes through its admin API.
    #[command(subcommand)]
    Nodes(crate::nodes_cli::NodesCommand),
    /// Health checks for CI/CD gates.
    #[command(subcommand)]
    Health(HealthCommand),
    /// CPU and heap profiles: of a running bot, or of a benchmark workload (docs/profiling.md).
    #[command(subcommand)]
    Profile(crate::profile_cli::ProfileCommand),
    /// The performance regression guard's tools (docs/profiling.md).
    #[command(subcommand)]
    Perf(crate::perf::PerfCommand),
}

/// The health commands.
#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Check a running bot (or, with --direct, its config and nodes). Exit codes: 0 pass, 1 warn,
    /// 2 fail, 3 unknown (unreachable, no health report, or --token refused by the bot: a gate
    /// never passes on a wrong token).
    Check(crate::health_cli::CheckArgs),
}

/// Options of `dimby run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (TOML); environment variables DIMBY_* override it.
    #[arg(long, env = "DIMBY_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

/// The benchmark scenarios.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Players on a cluster of stand-in nodes; the busiest node crashes, hangs or is drained.
    Failover(crate::bench::failover::Args),
    /// Health endpoint latency under load, and node-failure-to-alert times.
    Health(crate::bench::health::Args),
    /// Slash command latency, memory per guild and CPU per command: the real bot, 1,000 guilds.
    Commands(crate::bench::commands::Args),
    /// What recording metrics costs (on/off rounds interleaved) and what a /metrics scrape costs.
    MetricsOverhead(crate::bench::metrics_overhead::Args),
    /// The cluster against real Lavalink-compatible servers on loopback (../shared/realserver):
    /// a node is killed, stopped or hung; audio gaps as the fake voice server heard them.
    RealFailover(crate::bench::realserver::Args),
    /// How `dimby run` stops with every guild playing (SIGTERM, or SIGUSR2 for a handover): how
    /// long it takes to exit and what it leaves in the store and on the node.
    Stop(crate::bench::stop::Args),
}

impl Command {
    /// For the commands that are the bot (`run`, `demo`): `Some` with the config file a SIGHUP
    /// reloads (if any); other commands keep SIGHUP's default.
    pub fn hangup_config(&self) -> Option<Option<std::path::PathBuf>> {
        match self {
            Self::Run(args) => Some(args.config.clone()),
            Self::Demo(_) => Some(None),
            _ => None,
        }
    }

    /// The log filter when `RUST_LOG` is unset: benchmarks print figures, not chatter.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Bench(_) | Self::Nodes(_) | Self::Health(_) | Self::Perf(_) => "warn",
            // A profiled workload injects faults on purpose: their warnings would bury the
            // progress line.
            Self::Profile(_) => "error",
            Self::Sim(_) | Self::Run(_) | Self::Demo(_) => "info",
        }
    }
}

/// The stand-ins.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A Lavalink v4 node: REST API, event socket, synthetic catalogue, fault control (docs/sim.md).
    Lavalink(SimLavalinkArgs),
    /// Discord's gateway v10 and REST API with a demo guild (docs/sim-discord.md).
    Discord(SimDiscordArgs),
}

/// Options of `dimby sim discord`.
#[derive(Debug, Args)]
pub struct SimDiscordArgs {
    /// Address to listen on, gateway and REST on one port (port 0 picks a free one; the chosen
    /// URL is printed on stdout).
    #[arg(long)]
    pub listen: SocketAddr,
    /// The bot token the stand-in accepts (default: `sim::discord::DEFAULT_TOKEN`).
    #[arg(long)]
    pub token: Option<String>,
}

/// Options of `dimby sim lavalink`.
#[derive(Debug, Args)]
pub struct SimLavalinkArgs {
    /// Address to listen on (port 0 picks a free one; the chosen URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:2333")]
    pub listen: SocketAddr,
    /// The password clients must send.
    #[arg(
        long,
        env = "DIMBY_SIM_PASSWORD",
        default_value = "youshallnotpass",
        hide_env_values = true
    )]
    pub password: String,
    /// A name for logs and the control endpoint.
    #[arg(long, default_value = "sim")]
    pub name: String,
    /// How often playing players send `playerUpdate`, in milliseconds (Lavalink's default is 5000).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub player_update_interval_ms: u64,
    /// How often each session gets `stats`, in milliseconds (a real node sends them every 60000).
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub stats_interval_ms: u64,
    /// Which server it behaves like where Lavalink-compatible servers differ (docs/sim.md,
    /// "Behaving like other servers").
    #[arg(long, value_enum, default_value_t = BehavesLike::Lavalink)]
    pub behaves_like: BehavesLike,
}

/// The servers `dimby sim lavalink --behaves-like` (and `dimby bench failover`) know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BehavesLike {
    /// Lavalink 4.2.
    Lavalink,
    /// NodeLink 2.3.0, as measured.
    Nodelink,
}

impl BehavesLike {
    /// The stand-in's behaviour for this server.
    pub fn behaviour(self) -> sim::lavalink::ServerBehaviour {
        match self {
            Self::Lavalink => sim::lavalink::ServerBehaviour::lavalink(),
            Self::Nodelink => sim::lavalink::ServerBehaviour::nodelink(),
        }
    }
}

/// Runs a parsed command to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run_bot(args).await,
        Command::Demo(args) => {
            let stop = async {
                shutdown_signal().await;
            };
            crate::demo::run(args, stop).await
        }
        Command::Sim(SimCommand::Lavalink(args)) => sim_lavalink(args).await,
        Command::Sim(SimCommand::Discord(args)) => sim_discord(args).await,
        Command::Bench(BenchCommand::Failover(args)) => crate::bench::failover::run(&args).await,
        Command::Bench(BenchCommand::RealFailover(args)) => {
            crate::bench::realserver::run(&args).await
        }
        Command::Bench(BenchCommand::Stop(args)) => crate::bench::stop::run(&args).await,
        Command::Bench(BenchCommand::Health(args)) => crate::bench::health::run(&args).await,
        Command::Bench(BenchCommand::Commands(args)) => crate::bench::commands::run(&args).await,
        Command::Bench(BenchCommand::MetricsOverhead(args)) => {
            crate::bench::metrics_overhead::run(&args).await
        }
        Command::Nodes(command) => crate::nodes_cli::run(command).await,
        Command::Profile(command) => crate::profile_cli::run(command).await,
        Command::Perf(command) => {
            if !crate::perf::run(&command)? {
                // A regression: the table said which figure; the exit code says so to scripts.
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Health(HealthCommand::Check(args)) => {
            let verdict = crate::health_cli::run(&args).await;
            // The verdict is the exit code; nothing else to report.
            std::process::exit(i32::from(verdict.code()));
        }
    }
}

async fn run_bot(args: RunArgs) -> anyhow::Result<()> {
    let config = crate::config::Config::load(args.config.as_deref())?;
    if config.discord.token.is_none() {
        anyhow::bail!("discord.token is not set: put it in the config file or DIMBY_DISCORD_TOKEN");
    }
    let bot = config.bot.settings();
    crate::app::serve(
        config,
        crate::app::ServeOptions {
            config_path: args.config,
            bot,
            metrics: None,
        },
        stop_signal(),
    )
    .await
}

/// How `dimby run` is asked to stop: Ctrl-C or SIGTERM for a plain stop, SIGUSR2 for the deploy
/// handover's stop (sessions left resumable for a successor, see docs/runbooks/stopping.md).
async fn stop_signal() -> crate::app::StopMode {
    #[cfg(unix)]
    let handover = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGUSR2: no handover stop");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let handover = std::future::pending::<()>();
    tokio::select! {
        () = shutdown_signal() => crate::app::StopMode::Plain,
        () = handover => crate::app::StopMode::Handover,
    }
}

async fn sim_lavalink(args: SimLavalinkArgs) -> anyhow::Result<()> {
    let mut config =
        sim::lavalink::NodeConfig::standalone(args.listen, args.password, Some(args.name));
    config.player_update_interval = Duration::from_millis(args.player_update_interval_ms);
    config.stats_interval = Duration::from_millis(args.stats_interval_ms);
    config.behaviour = args.behaves_like.behaviour();
    let node = sim::lavalink::SimNode::start(config)
        .await
        .with_context(|| format!("starting the Lavalink stand-in on {}", args.listen))?;
    // The first line on stdout is the contract for scripts that start us on port 0.
    println!("listening on http://{}", node.addr());
    tracing::info!(addr = %node.addr(), "Lavalink stand-in running; Ctrl-C stops it");
    shutdown_signal().await;
    tracing::info!("stopping the Lavalink stand-in");
    node.shutdown().await;
    Ok(())
}

async fn sim_discord(args: SimDiscordArgs) -> anyhow::Result<()> {
    let config = sim::discord::DiscordConfig::standalone(args.listen, args.token);
    let sim = sim::discord::DiscordSim::start(config)
        .await
        .with_context(|| format!("starting the Discord stand-in on {}", args.listen))?;
    // The first line on stdout is the contract for scripts that start us on port 0.
    println!("listening on http://{}", sim.rest_addr());
    // As `sim::discord::run_standalone` does: a stand-in's token is no secret.
    tracing::info!(
        gateway = %sim.gateway_url(),
        rest = %sim.rest_base(),
        token = %sim.token(),
        "Discord stand-in running; Ctrl-C stops it",
    );
    shutdown_signal().await;
    tracing::info!("stopping the Discord stand-in");
    sim.shutdown().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
