//! Shards against the stand-in: the recommended count from `GET /gateway/bot`, a range per
//! process (two processes splitting two shards), and the `[discord]` config section as the
//! production path reads it.

use app::config::Config;
use discord::{DiscordError, ShardRange};
use figment::Figment;
use figment::providers::{Format, Toml};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec};
use test_support::discord_layer::{guard, next, settings};

/// A stand-in recommending two shards, identifying both at once, with one guild on each.
async fn two_shards() -> (DiscordSim, GuildInfo, GuildInfo) {
    discord::install_crypto_provider();
    let mut config = DiscordConfig::default().with_recommended_shards(2);
    config.max_concurrency = 2;
    let sim = DiscordSim::start(config).await.expect("stand-in starts");
    // (id >> 22) % 2 picks the shard.
    let zero = sim
        .create_guild(&GuildSpec::named("zero").with_id(1_000_000 << 22))
        .expect("guild on shard 0");
    let one = sim
        .create_guild(&GuildSpec::named("one").with_id(1_000_001 << 22))
        .expect("guild on shard 1");
    (sim, zero, one)
}

async fn guild_seen(events: &mut discord::Events, guild: &GuildInfo) {
    next(events, "the guild", |event| match event {
        discord::DiscordEvent::GuildAvailable { guild: id, .. } if *id == guild.id => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test]
async fn the_config_section_drives_the_production_path_with_the_recommended_shards() {
    let (sim, zero, one) = two_shards().await;
    let toml = format!(
        "[discord]\ntoken = {:?}\ngateway_url = {:?}\nrest_proxy = {:?}\nauto_defer_ms = 1500\n",
        sim.token(),
        sim.gateway_url(),
        sim.rest_addr().to_string(),
    );
    let config = Config::from_figment(&Figment::from(Toml::string(&toml))).expect("valid config");
    let settings = config.discord.settings().expect("settings");
    assert_eq!(settings.auto_defer.as_millis(), 1500);
    assert!(!format!("{settings:?}").contains(sim.token()));

    let (discord, mut events) = guard("start", discord::Discord::start(settings))
        .await
        .expect("starts");
    let mut seen = Vec::new();
    next(&mut events, "both guilds", |event| {
        if let discord::DiscordEvent::GuildAvailable { guild, .. } = event {
            seen.push(*guild);
        }
        (seen.contains(&zero.id) && seen.contains(&one.id)).then_some(())
    })
    .await;
    let status = discord.status();
    assert_eq!(status.len(), 2);
    assert!(status.iter().all(|s| s.total == 2));
    assert_eq!(discord.shard_of(zero.id), 0);
    assert_eq!(discord.shard_of(one.id), 1);
    assert_eq!(sim.identify_count(), 2);
    discord.shutdown().await;

    let missing = Config::from_figment(&Figment::from(Toml::string("[discord]\n"))).expect("ok");
    assert!(matches!(
        missing.discord.settings(),
        Err(DiscordError::MissingToken)
    ));
}

#[tokio::test]
async fn two_processes_split_the_shards() {
    let (sim, zero, one) = two_shards().await;
    let mut first = settings(&sim);
    first.shards = Some(ShardRange {
        first: 0,
        last: 0,
        total: 2,
    });
    let mut second = settings(&sim);
    second.shards = Some(ShardRange {
        first: 1,
        last: 1,
        total: 2,
    });
    let (a, mut a_events) = guard("start a", discord::Discord::start(first))
        .await
        .expect("a starts");
    let (b, mut b_events) = guard("start b", discord::Discord::start(second))
        .await
        .expect("b starts");
    guild_seen(&mut a_events, &zero).await;
    guild_seen(&mut b_events, &one).await;
    assert!(a.guild_name(one.id).is_none(), "shard 1's guild is not A's");
    assert!(
        b.guild_name(zero.id).is_none(),
        "shard 0's guild is not B's"
    );
    assert_eq!(a.status()[0].shard, 0);
    assert_eq!(b.status()[0].shard, 1);

    // Voice goes through the shard that owns the guild.
    assert!(matches!(
        a.join_voice(one.id, one.voice_channel(0), true),
        Err(DiscordError::NotOurShard { shard: 1, .. })
    ));
    b.join_voice(one.id, one.voice_channel(0), true)
        .expect("b owns shard 1");
    let command = sim.wait_for_voice_command(0).await.expect("op 4");
    assert_eq!(command.guild_id, one.id);

    let mut bad = settings(&sim);
    bad.shards = Some(ShardRange {
        first: 1,
        last: 2,
        total: 2,
    });
    assert!(matches!(
        discord::Discord::start(bad).await,
        Err(DiscordError::Invalid {
            key: "discord.shards",
            ..
        })
    ));
}

#[tokio::test]
async fn a_fatal_close_stops_the_shard_and_says_so() {
    discord::install_crypto_provider();
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("stand-in starts");
    let mut settings = settings(&sim);
    // GUILD_MEMBERS is privileged and not enabled for this application: 4014.
    settings.intents |= discord::Intents::GUILD_MEMBERS;
    let (discord, mut events) = guard("start", discord::Discord::start(settings))
        .await
        .expect("REST works");
    let status = next(&mut events, "the shard stopping", |event| match event {
        discord::DiscordEvent::Gateway(status) if !status.running => Some(status.clone()),
        _ => None,
    })
    .await;
    assert!(!status.connected);
    assert_eq!(discord.status()[0], status);
}
