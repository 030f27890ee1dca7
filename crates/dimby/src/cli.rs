//! The command line: what each `dimby` subcommand takes and does.

use app::logging::LogFormat;
use clap::{Args, Parser, Subcommand};

/// The version and the commit the binary was built from (build.rs), as `dimby --version` prints
/// them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DIMBY_COMMIT"),
    ")"
);

/// DimbyBot: a Discord music bot on a cluster of Lavalink v4 nodes.
#[derive(Debug, Parser)]
#[command(name = "dimby", version = VERSION, about)]
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
    #[cfg(feature = "tools")]
    Demo(tools::demo::DemoArgs),
    /// Run the bot (production): the token from DIMBY_DISCORD_TOKEN or the config file.
    Run(RunArgs),
    /// Run a stand-in for a service that cannot be reached here.
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Sim(tools::standin::SimCommand),
    /// Run a benchmark against in-process stand-ins and print its figures.
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Bench(tools::bench::BenchCommand),
    /// Rehearse an operation end to end on standalone stand-ins: `dimby drill deploy`.
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Drill(tools::drill::DrillCommand),
    /// Manage the bot's Lavalink nodes through its admin API.
    #[command(subcommand)]
    Nodes(crate::nodes_cli::NodesCommand),
    /// Health checks for CI/CD gates.
    #[command(subcommand)]
    Health(HealthCommand),
    /// Blue-green deploys on one host: deploy a build, roll back, status, history
    /// (docs/runbooks/deploys.md).
    #[command(subcommand)]
    Deploy(crate::deploy_cli::DeployCommand),
    /// CPU and heap profiles: of a running bot, or of a benchmark workload (docs/profiling.md).
    #[command(subcommand)]
    Profile(crate::profile_cli::ProfileCommand),
    /// The performance regression guard's tools (docs/profiling.md).
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Perf(tools::perf::PerfCommand),
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
    /// Start in standby: Discord REST, the store and the nodes are checked, nothing is connected;
    /// the process serves when a deploy asks it to take over (`POST /admin/deploy/takeover`,
    /// see docs/runbooks/deploys.md).
    #[arg(long)]
    pub standby: bool,
    /// What SIGTERM does: `plain` (the default: sessions closed, players destroyed) or
    /// `handover` (as SIGUSR2: shards closed resumably and the Lavalink sessions left playing
    /// for a successor that takes them from the store, as a Kubernetes rolling update or a
    /// systemd restart wants; see docs/scaling.md).
    #[arg(long, env = "DIMBY_ON_SIGTERM", value_enum, default_value_t = OnSigterm::Plain)]
    pub on_sigterm: OnSigterm,
}

/// What SIGTERM does to `dimby run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnSigterm {
    /// A plain stop.
    Plain,
    /// A handover stop, as SIGUSR2.
    Handover,
}

/// What a SIGHUP does to a command.
#[derive(Debug, PartialEq, Eq)]
pub enum OnHangup {
    /// The default: the process ends (a command that is not the bot).
    Default,
    /// The bot: reload this config file, or, with none, log the signal and go on.
    Reload(Option<std::path::PathBuf>),
}

impl Command {
    /// The commands that are the bot (`run`, `demo`) reload their config file on SIGHUP; other
    /// commands keep SIGHUP's default.
    pub fn on_hangup(&self) -> OnHangup {
        match self {
            Self::Run(args) => OnHangup::Reload(args.config.clone()),
            #[cfg(feature = "tools")]
            Self::Demo(_) => OnHangup::Reload(None),
            _ => OnHangup::Default,
        }
    }

    /// The log filter when `RUST_LOG` is unset: benchmarks print figures, not chatter.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Nodes(_) | Self::Health(_) => "warn",
            #[cfg(feature = "tools")]
            Self::Bench(_) | Self::Perf(_) | Self::Drill(_) => "warn",
            // A profiled workload injects faults on purpose: their warnings would bury the
            // progress line.
            Self::Profile(_) => "error",
            Self::Run(_) | Self::Deploy(_) => "info",
            #[cfg(feature = "tools")]
            Self::Sim(_) | Self::Demo(_) => "info",
        }
    }
}

/// Runs a parsed command to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run_bot(args).await,
        #[cfg(feature = "tools")]
        Command::Demo(args) => {
            tools::demo::run(args, async {
                shutdown_signal().await;
            })
            .await
        }
        #[cfg(feature = "tools")]
        Command::Sim(command) => {
            tools::standin::run(command, async {
                shutdown_signal().await;
            })
            .await
        }
        #[cfg(feature = "tools")]
        Command::Bench(command) => tools::bench::run(command).await,
        #[cfg(feature = "tools")]
        Command::Drill(command) => tools::drill::run(command).await,
        Command::Nodes(command) => crate::nodes_cli::run(command).await,
        Command::Profile(command) => crate::profile_cli::run(command).await,
        #[cfg(feature = "tools")]
        Command::Perf(command) => {
            if !tools::perf::run(&command)? {
                // A regression: the table said which figure; the exit code says so to scripts.
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Deploy(command) => {
            let code = crate::deploy_cli::run(command).await?;
            if code != 0 {
                // The deploy's outcome is the exit code; the summary said why.
                std::process::exit(code);
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
    let config = app::config::Config::load(args.config.as_deref())?;
    if config.discord.token.is_none() {
        anyhow::bail!("discord.token is not set: put it in the config file or DIMBY_DISCORD_TOKEN");
    }
    let bot = config.bot_settings();
    app::serve(
        config,
        app::ServeOptions {
            config_path: args.config,
            bot,
            metrics: None,
            standby: args.standby,
        },
        stop_signal(args.on_sigterm),
    )
    .await
}

/// How `dimby run` is asked to stop: Ctrl-C or SIGTERM for a plain stop, SIGUSR2 for the deploy
/// handover's stop (sessions left resumable for a successor, see docs/runbooks/stopping.md).
async fn stop_signal(on_sigterm: OnSigterm) -> app::StopMode {
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
        terminated = shutdown_signal() => match (terminated, on_sigterm) {
            (Terminated::BySigterm, OnSigterm::Handover) => app::StopMode::Handover,
            _ => app::StopMode::Plain,
        },
        () = handover => app::StopMode::Handover,
    }
}

/// Which signal asked for the stop.
enum Terminated {
    ByCtrlC,
    BySigterm,
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> Terminated {
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
        () = ctrl_c => Terminated::ByCtrlC,
        () = terminate => Terminated::BySigterm,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;
    use crate::build_commit;

    #[test]
    fn version_names_the_version_and_the_commit() {
        let commit = env!("DIMBY_COMMIT");
        assert_eq!(
            Cli::command().render_version(),
            format!("dimby {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
        );
        assert!(
            commit == build_commit::UNKNOWN || build_commit::from_git(commit.as_bytes()).is_some(),
            "{commit:?}"
        );
    }
}
