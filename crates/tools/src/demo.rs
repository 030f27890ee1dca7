//! `dimby demo`: the embedded default. In one process: the Discord stand-in with a dozen guilds,
//! three Lavalink stand-ins, the real bot wired to them over loopback, and scripted listeners who
//! play, skip and queue over time. The admin server (health, node management) listens as usual.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use sim::discord::{DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use tokio::task::JoinHandle;

use app::config::{Config, Secret};
use bot::commands::CommandKind;

/// Options of `dimby demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where the admin server listens (health, /admin/nodes).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub admin_listen: SocketAddr,
    /// Guilds with listeners.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub guilds: u64,
    /// Lavalink stand-ins.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub nodes: u64,
    /// Seconds between scripted listener actions.
    #[arg(long, default_value_t = 8)]
    pub every: u64,
    /// Where the demo keeps its store (a fresh temporary directory when unset).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A webhook for health alerts (a Discord webhook, or any URL taking `{"content": ...}`).
    #[arg(long, env = "HEALTH_ALERT_WEBHOOK", hide_env_values = true)]
    pub alert_webhook: Option<String>,
}

/// The admin token the demo's admin API uses.
pub const DEMO_ADMIN_TOKEN: &str = "demo";

/// Runs the demo until `stop` completes.
pub async fn run(
    args: DemoArgs,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    discord::install_crypto_provider();
    let discord = Arc::new(
        DiscordSim::start(sim::discord::DiscordConfig::default())
            .await
            .context("starting the Discord stand-in")?,
    );
    let mut guilds = Vec::new();
    for i in 1..=args.guilds {
        let mut spec = GuildSpec::named(format!("Demo Guild {i}"));
        spec.members = ["ana", "ben", "cai"]
            .into_iter()
            .map(|name| sim::discord::MemberSpec {
                name: format!("{name}{i}"),
                roles: Vec::new(),
            })
            .collect();
        guilds.push(
            discord
                .create_guild(&spec)
                .context("creating a demo guild")?,
        );
    }
    let count = usize::try_from(args.nodes)?;
    let nodes = sim::lavalink::start_nodes(
        count,
        // With the LavaLyrics plugin, so that /lyrics answers in the demo.
        sim::lavalink::NodeConfig::default()
            .with_name("lavalink")
            .with_lyrics_plugin(),
    )
    .await
    .context("starting the Lavalink stand-ins")?;

    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("dimby-demo-{}", std::process::id())));
    let mut config = Config::default();
    config.discord.token = Some(Secret::new(discord.token()));
    config.discord.gateway_url = Some(discord.gateway_url());
    config.discord.rest_proxy = Some(discord.rest_addr().to_string());
    config.admin.listen = args.admin_listen;
    config.admin.token = Some(Secret::new(DEMO_ADMIN_TOKEN));
    // /debug/pprof/* (answers 501 in a build without the `profiling` feature).
    config.profiling.enabled = true;
    config.store.data_dir.clone_from(&data_dir);
    config.health.alert_webhook = args.alert_webhook.clone().map(Secret::new);
    config.lavalink.nodes = nodes.iter().map(test_support::node_spec).collect();
    config.validate()?;

    print_banner(&args, &nodes);

    let listeners = tokio::spawn(listen(Arc::clone(&discord), guilds, args.every));
    let stop = async move {
        stop.await;
        app::StopMode::Plain
    };
    let outcome = app::serve(config, app::ServeOptions::default(), stop).await;
    listeners.abort();
    for node in nodes {
        node.shutdown().await;
    }
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    outcome
}

/// What the demo runs and how to poke at it.
fn print_banner(args: &DemoArgs, nodes: &[sim::lavalink::SimNode]) {
    println!("DimbyBot demo");
    println!(
        "  admin server   http://{} (token: {DEMO_ADMIN_TOKEN})",
        args.admin_listen
    );
    println!(
        "  health         curl http://{}/readyz?verbose",
        args.admin_listen
    );
    println!(
        "  nodes          dimby nodes list --url http://{} --token {DEMO_ADMIN_TOKEN}",
        args.admin_listen
    );
    println!("  metrics        curl http://{}/metrics", args.admin_listen);
    println!(
        "  alerts         {}",
        if args.alert_webhook.is_some() {
            "to the webhook given (--alert-webhook)"
        } else {
            "off (--alert-webhook URL or HEALTH_ALERT_WEBHOOK to see them)"
        }
    );
    println!(
        "  profile        dimby profile cpu --url http://{} --token {DEMO_ADMIN_TOKEN} --seconds 10{}",
        args.admin_listen,
        if admin::profiling::BUILT_WITH_PROFILING {
            ""
        } else {
            "  (needs a build with --features profiling)"
        }
    );
    for node in nodes {
        println!("  {:<14} {}", node.name(), node.rest_url());
    }
    if let Some(node) = nodes.first() {
        println!(
            "  crash a node   curl -X POST -H 'Authorization: {}' -H 'content-type: application/json' \
             -d '{{\"fault\":\"crash\",\"restartAfterMs\":15000}}' {}/sim/fault",
            node.password(),
            node.rest_url()
        );
    }
    println!("  Ctrl-C stops it.");
}

/// The scripted listeners: in every guild someone joins voice and plays something; then, over
/// time, people queue more, skip, and look at the queue.
async fn listen(discord: Arc<DiscordSim>, guilds: Vec<GuildInfo>, every: u64) {
    // The bot is ready for listeners once its commands exist and its gateway session is up.
    if discord
        .wait_for_global_commands(bot::commands::definitions().len())
        .await
        .is_err()
        || discord
            .wait_for_sessions(|sessions| !sessions.is_empty())
            .await
            .is_err()
    {
        tracing::warn!("the bot never came up; the listeners stay quiet");
        return;
    }
    // Give the session its guilds before the first command arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut actions: Vec<JoinHandle<()>> = Vec::new();
    for (i, guild) in guilds.iter().enumerate() {
        let Some((name, user)) = guild.members.first().cloned() else {
            continue;
        };
        if let Err(error) = discord.join_voice(guild.id, user, guild.voice_channel(0)) {
            tracing::warn!(%error, "a listener could not join voice");
            continue;
        }
        let query = format!("ytsearch:demo song {i}");
        actions.push(tokio::spawn(say(
            Arc::clone(&discord),
            guild.clone(),
            name,
            SlashCommand::new(
                guild.id,
                guild.text_channel(),
                user,
                CommandKind::Play.name(),
            )
            .string("query", query),
        )));
    }
    let mut round = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(every.max(1))).await;
        round += 1;
        let guild = &guilds[usize::try_from(round).unwrap_or(0) % guilds.len()];
        let Some((name, user)) = guild.members.first().cloned() else {
            continue;
        };
        let command = match round % 4 {
            0 => SlashCommand::new(
                guild.id,
                guild.text_channel(),
                user,
                CommandKind::Skip.name(),
            ),
            1 => SlashCommand::new(guild.id, guild.text_channel(), user, "queue"),
            2 => SlashCommand::new(guild.id, guild.text_channel(), user, "nowplaying"),
            _ => SlashCommand::new(
                guild.id,
                guild.text_channel(),
                user,
                CommandKind::Play.name(),
            )
            .string("query", format!("ytsearch:request {round}")),
        };
        actions.retain(|a| !a.is_finished());
        actions.push(tokio::spawn(say(
            Arc::clone(&discord),
            guild.clone(),
            name,
            command,
        )));
    }
}

/// One listener command and the bot's answer, logged.
async fn say(discord: Arc<DiscordSim>, guild: GuildInfo, user: String, command: SlashCommand) {
    let name = command.name.clone();
    let handle = match discord.invoke(&command) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "a listener could not use /{name}");
            return;
        }
    };
    match handle.original().await {
        Ok(message) => {
            let answer = message
                .content
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            tracing::info!(guild = %guild.id, %user, command = %format!("/{name}"), %answer, "listener");
        }
        Err(error) => tracing::warn!(%error, command = %name, "no answer"),
    }
}
