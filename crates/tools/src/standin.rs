//! `dimby sim`: the stand-ins for services that cannot be reached here (a Lavalink node, Discord),
//! run on their own for scripts and other clients (docs/sim.md, docs/sim-discord.md).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

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
    /// The password of the control endpoint (`/sim/...`, docs/sim-discord.md), sent as the whole
    /// `Authorization` header; the token when not given.
    #[arg(long, env = "DIMBY_SIM_CONTROL_PASSWORD", hide_env_values = true)]
    pub control_password: Option<String>,
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
    /// Load the LavaLyrics plugin: `/v4/info` lists it and its lyrics routes answer (docs/sim.md,
    /// "Lyrics"); without it those routes are unknown paths, as on a bare Lavalink.
    #[arg(long)]
    pub lyrics_plugin: bool,
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

/// Runs a stand-in until `stop` completes.
pub async fn run(command: SimCommand, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    match command {
        SimCommand::Lavalink(args) => lavalink(args, stop).await,
        SimCommand::Discord(args) => discord(args, stop).await,
    }
}

async fn lavalink(args: SimLavalinkArgs, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut config =
        sim::lavalink::NodeConfig::standalone(args.listen, args.password, Some(args.name));
    config.player_update_interval = Duration::from_millis(args.player_update_interval_ms);
    config.stats_interval = Duration::from_millis(args.stats_interval_ms);
    config.behaviour = args.behaves_like.behaviour();
    if args.lyrics_plugin {
        config = config.with_lyrics_plugin();
    }
    let node = sim::lavalink::SimNode::start(config)
        .await
        .with_context(|| format!("starting the Lavalink stand-in on {}", args.listen))?;
    // The first line on stdout is the contract for scripts that start us on port 0.
    println!("listening on http://{}", node.addr());
    tracing::info!(addr = %node.addr(), "Lavalink stand-in running; Ctrl-C stops it");
    stop.await;
    tracing::info!("stopping the Lavalink stand-in");
    node.shutdown().await;
    Ok(())
}

async fn discord(args: SimDiscordArgs, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut config = sim::discord::DiscordConfig::standalone(args.listen, args.token);
    if let Some(password) = args.control_password {
        config = config.with_control_password(password);
    }
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
    stop.await;
    tracing::info!("stopping the Discord stand-in");
    sim.shutdown().await;
    Ok(())
}
