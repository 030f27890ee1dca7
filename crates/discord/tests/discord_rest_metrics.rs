//! Discord REST usage on /metrics: the production Discord layer against the stand-in (start-up
//! checks, an announcement, command registration, an interaction answered and followed up), with the
//! stand-in answering 429 and 404, and the `dimby_discord_rest_*` families read back from the
//! Prometheus text.

use std::time::Duration;

use discord::{ChannelId, Discord, Events, Reply};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use telemetry::{Format, Metrics};
use test_support::discord_layer::{connect, invocation, play_command, settings, sim_with};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// The Discord layer connected to a stand-in with one guild, reporting to a fresh registry.
async fn observed() -> (DiscordSim, GuildInfo, Metrics, Discord, Events) {
    let (sim, guild) = sim_with(DiscordConfig::default(), &GuildSpec::default()).await;
    let metrics = Metrics::new([]);
    let mut settings = settings(&sim);
    settings.metrics = Some(metrics.clone());
    let (discord, events) = connect(settings, &guild).await;
    (sim, guild, metrics, discord, events)
}

#[tokio::test]
async fn rest_calls_are_counted_by_route_and_status_with_429s_and_their_wait() {
    let (sim, guild, metrics, discord, _events) = observed().await;

    // Start-up: /users/@me, /applications/@me, /gateway/bot.
    let text = metrics.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"dimby_discord_rest_requests_total{route="session",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );

    // Two 429s, each waited out and retried by twilight, then the message goes through.
    let retry_after = Duration::from_millis(200);
    sim.faults().rate_limit_rest(2, retry_after, false);
    discord
        .send_message(guild.text_channel(), &Reply::text("after two 429s"))
        .await
        .expect("sent after the retries");
    // A channel that does not exist: Discord's 404 (Unknown Channel), not retried.
    let missing = ChannelId::new(4_242_424_242);
    assert!(
        discord
            .send_message(missing, &Reply::text("nobody reads this"))
            .await
            .is_err()
    );

    let text = metrics.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"dimby_discord_rest_requests_total{route="channel_messages",status="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"dimby_discord_rest_requests_total{route="channel_messages",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"dimby_discord_rest_rate_limited_total{route="channel_messages"}"#
        ),
        Some(2.0),
        "{text}"
    );
    // Twilight may not send before each `retry_after` is over, so the recorded wait of the call
    // that met the 429s is at least two of them (a lower bound the protocol guarantees).
    let waited = sample(
        &text,
        r#"dimby_discord_rest_rate_limit_wait_seconds_sum{route="channel_messages"}"#,
    )
    .expect("wait recorded");
    assert!(
        waited >= 2.0 * retry_after.as_secs_f64(),
        "recorded wait {waited} s, two 429s of {retry_after:?}"
    );

    assert!(
        !text.contains(sim.token()) && !text.contains("4242424242"),
        "no token and no channel id in any label"
    );
    discord.shutdown().await;
}

#[tokio::test]
async fn interaction_answers_and_command_registration_have_their_own_routes() {
    let (sim, guild, metrics, discord, mut events) = observed().await;

    // An interaction: registered, answered (the callback), then a follow-up (its webhook).
    discord
        .register_commands(&[play_command()])
        .await
        .expect("register");
    let alice = guild.member("alice").expect("alice");
    sim.invoke(&SlashCommand::new(
        guild.id,
        guild.text_channel(),
        alice,
        "play",
    ))
    .expect("invoke");
    let invocation = invocation(&mut events).await;
    invocation
        .responder
        .respond(&Reply::text("Queued"))
        .await
        .expect("answered");
    invocation
        .responder
        .followup(&Reply::text("and one more thing"))
        .await
        .expect("follow-up");
    let text = metrics.encode(Format::Prometheus);
    for (route, status) in [
        ("application_commands", "200"),
        ("interaction_callback", "204"),
        ("interaction_webhook", "200"),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    r#"dimby_discord_rest_requests_total{{route="{route}",status="{status}"}}"#
                )
            ),
            Some(1.0),
            "{route}: {text}"
        );
    }
    discord.shutdown().await;
}
