//! Interactions and REST against the stand-in with twilight-http 0.18 (and twilight-gateway for
//! INTERACTION_CREATE): command registration, callback, follow-up, deferred responses, 40060 on
//! a second acknowledgement, 10062 past the 3 s deadline on a manual clock, channel messages
//! with permission checks, auth and rate limits.

#![allow(
    clippy::disallowed_methods,
    reason = "tests stamp and guard with real time where no clock is injected"
)]

mod discord_support;

use std::time::{Duration, Instant};

use clock::ManualClock;
use discord_support::{http, shard, start, wait_event};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use twilight_gateway::{Event, Intents};
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_model::application::command::Command;
use twilight_model::application::interaction::InteractionData;
use twilight_model::channel::message::MessageFlags;
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

fn play_command() -> Command {
    serde_json::from_value(serde_json::json!({
        "type": 1,
        "name": "play",
        "description": "Play a track",
        "default_member_permissions": null,
        "version": "1",
        "options": [{"type": 3, "name": "query", "description": "What to play", "required": true}],
    }))
    .expect("command")
}

fn message(content: &str) -> InteractionResponse {
    InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some(content.to_owned()),
            ..InteractionResponseData::default()
        }),
    }
}

fn discord_code(error: &twilight_http::Error) -> (u16, u64) {
    match error.kind() {
        ErrorType::Response {
            status,
            error: ApiError::General(general),
            ..
        } => (status.get(), general.code),
        other => panic!("expected a Discord error body, got {other:?}"),
    }
}

async fn setup(config: DiscordConfig) -> (DiscordSim, twilight_http::Client, GuildInfo) {
    let sim = start(config).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let client = http(&sim);
    client
        .interaction(sim.application_id())
        .set_global_commands(&[play_command()])
        .await
        .expect("register commands");
    (sim, client, guild)
}

fn play(guild: &GuildInfo) -> SlashCommand {
    let alice = guild.member("alice").expect("alice");
    SlashCommand::new(guild.id, guild.text_channel(), alice, "play").string("query", "never gonna")
}

#[tokio::test]
async fn commands_are_registered_listed_and_keep_their_ids() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let registered = sim.global_commands();
    assert_eq!(registered.len(), 1);
    let id = registered[0].id.expect("id");
    assert_eq!(registered[0].application_id, Some(sim.application_id()));

    let listed = client
        .interaction(sim.application_id())
        .global_commands()
        .await
        .expect("list")
        .models()
        .await
        .expect("commands");
    assert_eq!(listed, registered);

    // Overwriting with the same name keeps the id.
    let again = client
        .interaction(sim.application_id())
        .set_global_commands(&[play_command()])
        .await
        .expect("overwrite")
        .models()
        .await
        .expect("commands");
    assert_eq!(again[0].id, Some(id));

    let guild_commands = client
        .interaction(sim.application_id())
        .set_guild_commands(guild.id, &[play_command()])
        .await
        .expect("guild commands")
        .models()
        .await
        .expect("commands");
    assert_eq!(guild_commands[0].guild_id, Some(guild.id));
    assert_eq!(sim.guild_commands(guild.id).len(), 1);
}

#[tokio::test]
async fn interaction_over_the_gateway_then_callback_and_followup() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let mut shard = shard(&sim, Intents::GUILDS);
    wait_event(&mut shard, "GUILD_CREATE", |event| {
        matches!(event, Event::GuildCreate(_)).then_some(())
    })
    .await;

    let handle = sim.invoke(&play(&guild)).expect("invoke");
    let interaction = wait_event(&mut shard, "INTERACTION_CREATE", |event| match event {
        Event::InteractionCreate(created) => Some(created.0.clone()),
        _ => None,
    })
    .await;
    assert_eq!(interaction.id, handle.id());
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        panic!("command data");
    };
    assert_eq!(data.name, "play");
    assert_eq!(data.options[0].name, "query");
    let member = interaction.member.as_ref().expect("member");
    assert!(
        member
            .permissions
            .expect("permissions")
            .contains(Permissions::SEND_MESSAGES)
    );
    assert!(
        interaction
            .app_permissions
            .expect("app permissions")
            .contains(Permissions::CONNECT)
    );

    let interactions = client.interaction(sim.application_id());
    interactions
        .create_response(interaction.id, &interaction.token, &message("Queued"))
        .await
        .expect("callback");
    let response = handle.response().await.expect("response");
    assert_eq!(
        response.kind,
        InteractionResponseType::ChannelMessageWithSource
    );
    assert_eq!(handle.original().await.expect("original").content, "Queued");

    let followup = interactions
        .create_followup(&interaction.token)
        .content("Now playing")
        .await
        .expect("follow-up")
        .model()
        .await
        .expect("message");
    assert_eq!(followup.content, "Now playing");
    assert_eq!(handle.followup(0).await.expect("follow-up").id, followup.id);

    let original = interactions
        .response(&interaction.token)
        .await
        .expect("get original")
        .model()
        .await
        .expect("message");
    assert_eq!(original.content, "Queued");
    // Both are channel messages (neither is ephemeral).
    assert_eq!(sim.channel_messages(guild.text_channel()).len(), 2);
}

#[tokio::test]
async fn second_acknowledgement_is_40060() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let handle = sim.invoke(&play(&guild)).expect("invoke");
    let interactions = client.interaction(sim.application_id());
    let token = &handle.interaction.token;
    interactions
        .create_response(handle.id(), token, &message("first"))
        .await
        .expect("first ack");
    let error = interactions
        .create_response(handle.id(), token, &message("second"))
        .await
        .expect_err("second ack");
    assert_eq!(discord_code(&error), (400, 40060));
    assert_eq!(handle.record().rejections, vec![40060]);
}

#[tokio::test]
async fn response_after_three_seconds_is_10062_and_token_is_dead() {
    let clock = ManualClock::new();
    let (sim, client, guild) = setup(DiscordConfig::default().with_clock(clock.shared())).await;
    let handle = sim.invoke(&play(&guild)).expect("invoke");
    clock.advance(Duration::from_millis(3_001));
    let interactions = client.interaction(sim.application_id());
    let token = &handle.interaction.token;
    let error = interactions
        .create_response(handle.id(), token, &message("late"))
        .await
        .expect_err("late ack");
    assert_eq!(discord_code(&error), (404, 10062));
    let error = interactions
        .create_followup(token)
        .content("late follow-up")
        .await
        .expect_err("dead token");
    assert_eq!(discord_code(&error).0, 401);

    // Within the deadline it works; the token then lives 15 minutes on the same clock.
    let handle = sim.invoke(&play(&guild)).expect("invoke");
    clock.advance(Duration::from_millis(2_900));
    let token = &handle.interaction.token;
    interactions
        .create_response(handle.id(), token, &message("in time"))
        .await
        .expect("in time");
    clock.advance(Duration::from_secs(14 * 60));
    interactions
        .create_followup(token)
        .content("still valid")
        .await
        .expect("follow-up within 15 min");
    clock.advance(Duration::from_secs(2 * 60));
    let error = interactions
        .create_followup(token)
        .content("expired")
        .await
        .expect_err("expired token");
    assert_eq!(discord_code(&error), (401, 50027));
}

#[tokio::test]
async fn deferred_response_is_completed_by_editing_the_original() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let handle = sim.invoke(&play(&guild)).expect("invoke");
    let interactions = client.interaction(sim.application_id());
    let token = &handle.interaction.token;
    let defer = InteractionResponse {
        kind: InteractionResponseType::DeferredChannelMessageWithSource,
        data: Some(InteractionResponseData {
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    };
    interactions
        .create_response(handle.id(), token, &defer)
        .await
        .expect("defer");
    let loading = handle
        .wait_for("the loading message", |record| record.original.clone())
        .await
        .expect("loading");
    assert!(
        loading
            .flags
            .expect("flags")
            .contains(MessageFlags::LOADING)
    );

    let edited = interactions
        .update_response(token)
        .content(Some("Found it"))
        .await
        .expect("edit original")
        .model()
        .await
        .expect("message");
    assert_eq!(edited.content, "Found it");
    let original = handle.original().await.expect("original");
    assert_eq!(original.content, "Found it");
    assert!(
        original
            .flags
            .expect("flags")
            .contains(MessageFlags::EPHEMERAL)
    );
    assert!(
        sim.channel_messages(guild.text_channel()).is_empty(),
        "ephemeral"
    );

    interactions
        .delete_response(token)
        .await
        .expect("delete original");
    assert!(handle.record().original_deleted);
}

#[tokio::test]
async fn component_only_callback_types_are_rejected_for_commands() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let handle = sim.invoke(&play(&guild)).expect("invoke");
    let update = InteractionResponse {
        kind: InteractionResponseType::DeferredUpdateMessage,
        data: None,
    };
    let error = client
        .interaction(sim.application_id())
        .create_response(handle.id(), &handle.interaction.token, &update)
        .await
        .expect_err("type 6 on a command");
    assert_eq!(discord_code(&error), (400, 50035));
    assert!(!handle.record().acknowledged());
}

#[tokio::test]
async fn channel_messages_check_view_and_send_permissions() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let channel = guild.text_channel();
    let sent = client
        .create_message(channel)
        .content("hello")
        .await
        .expect("send")
        .model()
        .await
        .expect("message");
    assert_eq!(sent.author.id, sim.bot_user_id());
    let seen = sim
        .wait_for_message(channel, |message| message.content == "hello")
        .await
        .expect("stored");
    assert_eq!(seen.id, sent.id);

    let deny = |permissions| PermissionOverwrite {
        allow: Permissions::empty(),
        deny: permissions,
        id: sim.bot_user_id().cast(),
        kind: PermissionOverwriteType::Member,
    };
    sim.set_channel_overwrite(channel, deny(Permissions::SEND_MESSAGES))
        .expect("overwrite");
    let error = client
        .create_message(channel)
        .content("denied")
        .await
        .expect_err("no Send Messages");
    assert_eq!(discord_code(&error), (403, 50013));

    sim.set_channel_overwrite(channel, deny(Permissions::VIEW_CHANNEL))
        .expect("overwrite");
    let error = client
        .create_message(channel)
        .content("denied")
        .await
        .expect_err("no View Channel");
    assert_eq!(discord_code(&error), (403, 50001));
}

#[tokio::test]
async fn rest_reads_gateway_user_application_guild_channel_member() {
    let (sim, client, guild) = setup(DiscordConfig::default()).await;
    let gateway = client
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("info");
    assert_eq!(gateway.url, sim.gateway_url());
    assert_eq!(gateway.shards, 1);
    assert_eq!(gateway.session_start_limit.max_concurrency, 1);

    let me = client
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("user");
    assert_eq!(me.id, sim.bot_user_id());
    let app = client
        .current_user_application()
        .await
        .expect("application")
        .model()
        .await
        .expect("application");
    assert_eq!(app.id, sim.application_id());

    let fetched = client
        .guild(guild.id)
        .await
        .expect("guild")
        .model()
        .await
        .expect("guild");
    assert_eq!(fetched.id, guild.id);
    let channel = client
        .channel(guild.voice_channel(0))
        .await
        .expect("channel")
        .model()
        .await
        .expect("channel");
    assert_eq!(channel.name.as_deref(), Some("Music"));
    let alice = guild.member("alice").expect("alice");
    let member = client
        .guild_member(guild.id, alice)
        .await
        .expect("member")
        .model()
        .await
        .expect("member");
    assert_eq!(member.user.id, alice);
    let error = client
        .guild_member(guild.id, twilight_model::id::Id::new(42))
        .await
        .expect_err("unknown member");
    assert_eq!(discord_code(&error), (404, 10007));
}

#[tokio::test]
async fn wrong_token_is_401_with_discord_body() {
    let sim = start(DiscordConfig::default()).await;
    let response = reqwest::Client::new()
        .get(format!("{}/users/@me", sim.rest_base()))
        .header("Authorization", "Bot wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-ratelimit-bucket"));
    let body: serde_json::Value = response.json().await.expect("body");
    assert_eq!(
        body,
        serde_json::json!({"code": 0, "message": "401: Unauthorized"})
    );
}

#[tokio::test]
async fn rate_limit_fault_is_retried_by_twilight_after_retry_after() {
    let (sim, client, _guild) = setup(DiscordConfig::default()).await;
    // Raw: the 429 carries Discord's body and headers.
    sim.faults()
        .rate_limit_rest(1, Duration::from_millis(300), false);
    let raw = reqwest::Client::new()
        .get(format!("{}/users/@me", sim.rest_base()))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 429);
    assert_eq!(raw.headers()["x-ratelimit-scope"], "user");
    assert_eq!(raw.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(raw.headers()["retry-after"], "1");
    let body: serde_json::Value = raw.json().await.expect("body");
    assert_eq!(body["retry_after"], 0.3);
    assert_eq!(body["global"], false);

    // twilight waits for the bucket to reset and retries by itself.
    sim.faults()
        .rate_limit_rest(1, Duration::from_millis(300), false);
    let started = Instant::now();
    let me = client
        .current_user()
        .await
        .expect("retried")
        .model()
        .await
        .expect("user");
    assert_eq!(me.id, sim.bot_user_id());
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limits_count_each_channel_and_each_interaction_on_its_own() {
    let config = DiscordConfig {
        rest_bucket: (2, Duration::from_secs(60)),
        ..DiscordConfig::default()
    };
    let sim = start(config).await;
    let spec = GuildSpec {
        text_channels: vec!["general".into(), "music".into()],
        ..GuildSpec::default()
    };
    let guild = sim.create_guild(&spec).expect("guild");
    let raw = reqwest::Client::new();
    let post = |channel: twilight_model::id::Id<twilight_model::id::marker::ChannelMarker>| {
        raw.post(format!("{}/channels/{channel}/messages", sim.rest_base()))
            .header("Authorization", format!("Bot {}", sim.token()))
            .json(&serde_json::json!({"content": "hi"}))
            .send()
    };
    let [general, music] = [guild.text_channels[0], guild.text_channels[1]];
    for _ in 0..2 {
        assert_eq!(post(general).await.expect("request").status(), 200);
    }
    assert_eq!(post(general).await.expect("request").status(), 429);
    // Another channel is another resource: its own count.
    assert_eq!(post(music).await.expect("request").status(), 200);

    // Every interaction's callback is counted on its own too (webhook id + token).
    let client = http(&sim);
    client
        .interaction(sim.application_id())
        .set_global_commands(&[play_command()])
        .await
        .expect("register");
    for _ in 0..3 {
        let handle = sim.invoke(&play(&guild)).expect("invoke");
        let response = raw
            .post(format!(
                "{}/interactions/{}/{}/callback",
                sim.rest_base(),
                handle.interaction.id,
                handle.interaction.token
            ))
            .json(&message("ok"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 204);
    }
}
