//! The bot in process against both stand-ins: one Discord stand-in with the default guild, one
//! Lavalink stand-in, a SQLite store in a temporary directory, and the bot's runtime on a task,
//! for tests that look inside (its metrics, its cluster, its store) while scripted users type.

use std::sync::Arc;
use std::time::Duration;

use bot::runtime::{Bot, BotSettings, Observers};
use bot::shell::Shell;
use cluster::{Cluster, ClusterConfig, ClusterEvent};
use lavalink::model::{Event, IncomingMessage};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::SimNode;
use test_support::discord_layer::{connect, settings, sim_with};

/// A running bot and its stand-ins.
pub struct Rig {
    pub bot: Bot,
    pub cluster: Cluster,
    pub discord: DiscordSim,
    pub guild: GuildInfo,
    pub node: SimNode,
    pub metrics: telemetry::Metrics,
    pub store: Arc<dyn store::Store>,
    _dir: tempfile::TempDir,
    _bot: tokio::task::JoinHandle<()>,
}

pub async fn start() -> Rig {
    start_with(BotSettings::default(), |_, _| Observers::default()).await
}

/// A rig whose bot has `settings` and reports to the observers `observers` makes from the
/// cluster and the guild.
pub async fn start_with(
    bot_settings: BotSettings,
    observers: impl FnOnce(&Cluster, &GuildInfo) -> Observers,
) -> Rig {
    start_in(&GuildSpec::default(), bot_settings, observers).await
}

/// As [`start_with`], in a guild made from `spec`.
pub async fn start_in(
    spec: &GuildSpec,
    bot_settings: BotSettings,
    observers: impl FnOnce(&Cluster, &GuildInfo) -> Observers,
) -> Rig {
    let (discord_sim, guild) = sim_with(DiscordConfig::default(), spec).await;
    let (discord, discord_events) = connect(settings(&discord_sim), &guild).await;
    // Lavalink's stuck threshold is a server setting (10 s by default); a short one keeps the
    // stuck-track test quick.
    let node_config = sim::lavalink::NodeConfig {
        track_stuck_threshold: Duration::from_millis(500),
        ..sim::lavalink::NodeConfig::default()
    };
    let node = SimNode::start(node_config)
        .await
        .expect("lavalink stand-in");
    let spec = test_support::node_spec(&node);
    let mut config = ClusterConfig::new(discord.bot_user().get(), vec![spec]);
    config.breaker.open_for = Duration::from_millis(300);
    config.probe.interval = Duration::from_millis(200);
    config.probe.retry_interval = Duration::from_millis(100);
    config.probe.timeout = Duration::from_millis(150);
    config.client.reconnect.max_delay = Duration::from_millis(100);
    let (cluster, mut cluster_events) =
        Cluster::start(config, clock::SystemClock::shared()).expect("cluster");
    loop {
        if let Some(ClusterEvent::NodeReady { .. }) = cluster_events.recv().await {
            break;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    let store: Arc<dyn store::Store> = Arc::new(store);
    discord
        .register_commands(&bot::commands::definitions())
        .await
        .expect("register");
    let bot = Bot::observed(
        discord,
        Shell::new(cluster.clone(), Arc::clone(&store)),
        bot_settings,
        observers(&cluster, &guild),
    );
    let metrics = bot.metrics().clone();
    let handle = bot.clone();
    let task = tokio::spawn(async move {
        bot.run(discord_events, cluster_events, std::future::pending())
            .await;
    });
    Rig {
        bot: handle,
        metrics,
        store,
        cluster,
        discord: discord_sim,
        guild,
        node,
        _dir: dir,
        _bot: task,
    }
}

impl Rig {
    /// Invokes a command as `user` and returns the text of the bot's answer and whether only the
    /// user sees it.
    pub async fn command(&self, command: SlashCommand) -> (String, bool) {
        let handle = self.discord.invoke(&command).expect("invoke");
        let message = tokio::time::timeout(Duration::from_secs(10), handle.original())
            .await
            .expect("an answer within the guard")
            .expect("answered");
        let ephemeral = message
            .flags
            .is_some_and(|f| f.contains(twilight_model::channel::message::MessageFlags::EPHEMERAL));
        (message.content, ephemeral)
    }

    pub fn slash(&self, user: &str, name: &str) -> SlashCommand {
        SlashCommand::new(
            self.guild.id,
            self.guild.text_channel(),
            self.guild.member(user).expect("member"),
            name,
        )
    }

    /// Waits until the Lavalink stand-in sends an event of the kind `pick` accepts.
    pub async fn lavalink_event(
        &self,
        sent: &mut tokio::sync::broadcast::Receiver<sim::lavalink::SentMessage>,
        mut pick: impl FnMut(&Event) -> bool,
    ) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(message) = sent.recv().await
                    && let IncomingMessage::Event(event) = &message.message
                    && pick(event)
                {
                    return;
                }
            }
        })
        .await
        .expect("the Lavalink event within the guard");
    }

    pub fn node_player(&self) -> Option<lavalink::model::Player> {
        let session = self.node.sessions().first()?.id.clone();
        self.node
            .player(&session, lavalink::model::GuildId(self.guild.id.get()))
    }
}

/// The value of one series (`name{labels}` exactly as exposed) in the bot's metrics.
pub fn series(metrics: &telemetry::Metrics, name: &str) -> Option<f64> {
    metrics
        .encode(telemetry::Format::Prometheus)
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
