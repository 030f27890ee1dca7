//! Shared helpers of the Discord layer tests: the production `discord` pointed at the
//! Discord stand-in over loopback, and awaiting events with a guard timeout.

use std::future::Future;
use std::time::Duration;

use discord::{Command, Discord, DiscordEvent, Events, Settings};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec};
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{BooleanBuilder, CommandBuilder, StringBuilder};

/// The guard on every wait: long enough never to fire on a healthy run.
pub const GUARD: Duration = Duration::from_secs(10);

/// Runs `future` under the guard.
pub async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Settings pointing at the stand-in.
pub fn settings(sim: &DiscordSim) -> Settings {
    let mut settings = Settings::new(sim.token());
    settings.gateway_url = Some(sim.gateway_url());
    settings.rest_proxy = Some(sim.rest_addr().to_string());
    settings
}

/// A running stand-in with one guild (built from `spec`).
pub async fn sim_with(config: DiscordConfig, spec: &GuildSpec) -> (DiscordSim, GuildInfo) {
    discord::install_crypto_provider();
    let sim = DiscordSim::start(config).await.expect("stand-in starts");
    let guild = sim.create_guild(spec).expect("guild");
    (sim, guild)
}

/// The bot connected with `settings`, once the guild is in its cache.
pub async fn connect(settings: Settings, guild: &GuildInfo) -> (Discord, Events) {
    let (discord, mut events) = guard("start", Discord::start(settings))
        .await
        .expect("the Discord layer starts");
    next(&mut events, "the guild", |event| match event {
        DiscordEvent::GuildAvailable { guild: id, .. } if *id == guild.id => Some(()),
        _ => None,
    })
    .await;
    (discord, events)
}

/// The default guild and the bot connected to it.
pub async fn setup() -> (DiscordSim, GuildInfo, Discord, Events) {
    let (sim, guild) = sim_with(DiscordConfig::default(), &GuildSpec::default()).await;
    let (discord, events) = connect(settings(&sim), &guild).await;
    (sim, guild, discord, events)
}

/// Receives events until `pick` returns something.
pub async fn next<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(&DiscordEvent) -> Option<T>,
) -> T {
    guard(what, async {
        loop {
            let event = events
                .recv()
                .await
                .unwrap_or_else(|| panic!("the event stream ended waiting for {what}"));
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
}

/// Receives events until `pick` takes one (by value).
pub async fn take<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(DiscordEvent) -> Result<T, DiscordEvent>,
) -> T {
    guard(what, async {
        loop {
            let event = events
                .recv()
                .await
                .unwrap_or_else(|| panic!("the event stream ended waiting for {what}"));
            if let Ok(found) = pick(event) {
                return found;
            }
        }
    })
    .await
}

/// The next slash command invocation.
pub async fn invocation(events: &mut Events) -> Box<discord::CommandInvocation> {
    take(events, "a command invocation", |event| match event {
        DiscordEvent::Command(invocation) => Ok(invocation),
        other => Err(other),
    })
    .await
}

/// `/play query:<string> [loud:<bool>]` built with twilight-util's builders, as the core does.
pub fn play_command() -> Command {
    CommandBuilder::new("play", "Play a track", CommandType::ChatInput)
        .option(StringBuilder::new("query", "What to play").required(true))
        .option(BooleanBuilder::new("loud", "Louder"))
        .build()
}

/// `/stop`.
pub fn stop_command() -> Command {
    CommandBuilder::new("stop", "Stop playing", CommandType::ChatInput).build()
}
