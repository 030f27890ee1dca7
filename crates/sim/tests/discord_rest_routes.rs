//! The REST routes a music bot commonly calls, through twilight-http (the bot's library) and raw
//! HTTP for the error answers: modify current user, get user, guild roles, channels and members,
//! channel message lists, the typing indicator, and single application commands.

mod discord_support;

use discord_support::{RawClient, http, identify, start};
use serde_json::{Value, json};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec};
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::gateway::Intents;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::MessageMarker;

async fn sim_with_guild() -> (DiscordSim, GuildInfo) {
    let sim = start(DiscordConfig::default()).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    (sim, guild)
}

/// A raw request with the bot's token: status, Discord error code (or 0) and body.
async fn raw(sim: &DiscordSim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.rest_base()))
        .header("Authorization", format!("Bot {}", sim.token()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answer");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test]
async fn roles_channels_and_users_read_back_as_twilight_models() {
    let (sim, guild) = sim_with_guild().await;
    let http = http(&sim);
    let roles = http
        .roles(guild.id)
        .await
        .expect("roles")
        .models()
        .await
        .expect("models");
    let names: Vec<_> = roles.iter().map(|role| role.name.as_str()).collect();
    assert_eq!(names, ["@everyone", "Admin"]);
    let channels = http
        .guild_channels(guild.id)
        .await
        .expect("channels")
        .models()
        .await
        .expect("models");
    assert_eq!(channels.len(), 3);
    // GET /guilds/{id} without GUILD_CREATE's fields still parses, and counts come when asked.
    let fetched = http
        .guild(guild.id)
        .with_counts(true)
        .await
        .expect("guild")
        .model()
        .await
        .expect("model");
    assert_eq!(fetched.approximate_member_count, Some(4));
    assert!(fetched.channels.is_empty() && fetched.members.is_empty());
    let alice = guild.member("alice").expect("alice");
    let user = http
        .user(alice)
        .await
        .expect("user")
        .model()
        .await
        .expect("model");
    assert_eq!(user.name, "alice");
    assert_eq!(raw(&sim, "GET", "/users/42", None).await.1["code"], 10013);
    assert_eq!(
        raw(&sim, "GET", "/guilds/42/roles", None).await.1["code"],
        10004
    );
    assert_eq!(
        raw(&sim, "GET", "/guilds/42/channels", None).await.1["code"],
        10004
    );
}

#[tokio::test]
async fn modifying_the_current_user_renames_the_bot_and_fires_user_update() {
    let (sim, _guild) = sim_with_guild().await;
    let mut gateway = RawClient::connect(&sim, None).await;
    gateway.payload().await; // Hello
    gateway.send(&identify(sim.token(), 1)).await;
    gateway.dispatch("GUILD_CREATE").await;
    let http = http(&sim);
    let user = http
        .update_current_user()
        .username("Dimby")
        .await
        .expect("PATCH /users/@me")
        .model()
        .await
        .expect("model");
    assert_eq!(user.name, "Dimby");
    let update = gateway.dispatch("USER_UPDATE").await;
    assert_eq!(update["d"]["username"], "Dimby");
    assert_eq!(
        raw(&sim, "GET", "/users/@me", None).await.1["username"],
        "Dimby"
    );
    let (status, error) = raw(&sim, "PATCH", "/users/@me", Some(json!({"username": "x"}))).await;
    assert_eq!((status, error["code"].clone()), (400, json!(50035)));
    assert!(error["errors"]["username"]["_errors"].is_array(), "{error}");
}

#[tokio::test]
async fn guild_members_need_the_privileged_intent_and_page_by_user_id() {
    let (sim, guild) = sim_with_guild().await;
    let (status, error) = raw(&sim, "GET", &format!("/guilds/{}/members", guild.id), None).await;
    assert_eq!((status, error["code"].clone()), (403, json!(50001)));

    let sim = start(DiscordConfig::default().with_privileged_intents(Intents::GUILD_MEMBERS)).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let http = http(&sim);
    let all = http
        .guild_members(guild.id)
        .limit(1000)
        .await
        .expect("members")
        .models()
        .await
        .expect("models");
    assert_eq!(all.len(), 4, "owner, alice, bob and the bot");
    assert!(all.windows(2).all(|pair| pair[0].user.id < pair[1].user.id));
    let after = http
        .guild_members(guild.id)
        .after(all[1].user.id)
        .limit(10)
        .await
        .expect("members")
        .models()
        .await
        .expect("models");
    assert_eq!(after.len(), 2);
    // Default limit 1.
    let (_, one) = raw(&sim, "GET", &format!("/guilds/{}/members", guild.id), None).await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    let (status, error) = raw(
        &sim,
        "GET",
        &format!("/guilds/{}/members?limit=1001", guild.id),
        None,
    )
    .await;
    assert_eq!((status, error["code"].clone()), (400, json!(50035)));
}

#[tokio::test]
async fn message_lists_are_newest_first_and_page_with_before_after_and_around() {
    let (sim, guild) = sim_with_guild().await;
    let channel = guild.text_channel();
    let alice = guild.member("alice").expect("alice");
    let ids: Vec<Id<MessageMarker>> = (0..5)
        .map(|i| {
            sim.send_user_message(channel, alice, &format!("m{i}"))
                .expect("message")
                .id
        })
        .collect();
    let http = http(&sim);
    let list = |messages: Vec<twilight_model::channel::Message>| {
        messages.into_iter().map(|m| m.content).collect::<Vec<_>>()
    };
    let all = http
        .channel_messages(channel)
        .await
        .expect("list")
        .models()
        .await
        .expect("models");
    assert_eq!(list(all), ["m4", "m3", "m2", "m1", "m0"]);
    let limited = http.channel_messages(channel).limit(2).await.expect("list");
    assert_eq!(list(limited.models().await.expect("models")), ["m4", "m3"]);
    let before = http
        .channel_messages(channel)
        .before(ids[3])
        .limit(2)
        .await
        .expect("list");
    assert_eq!(list(before.models().await.expect("models")), ["m2", "m1"]);
    let after = http
        .channel_messages(channel)
        .after(ids[1])
        .limit(2)
        .await
        .expect("list");
    assert_eq!(list(after.models().await.expect("models")), ["m3", "m2"]);
    let around = http
        .channel_messages(channel)
        .around(ids[2])
        .limit(3)
        .await
        .expect("list");
    assert_eq!(
        list(around.models().await.expect("models")),
        ["m3", "m2", "m1"]
    );
    let path = format!("/channels/{channel}/messages?limit=101");
    assert_eq!(raw(&sim, "GET", &path, None).await.1["code"], 50035);
    assert_eq!(
        raw(&sim, "GET", "/channels/42/messages", None).await.1["code"],
        10003
    );

    // Without Read Message History: no messages; without View Channel: 50001.
    let everyone = guild.everyone_role.cast();
    let deny = |permissions| PermissionOverwrite {
        allow: Permissions::empty(),
        deny: permissions,
        id: everyone,
        kind: PermissionOverwriteType::Role,
    };
    sim.set_channel_overwrite(channel, deny(Permissions::READ_MESSAGE_HISTORY))
        .expect("overwrite");
    let path = format!("/channels/{channel}/messages");
    assert_eq!(raw(&sim, "GET", &path, None).await, (200, json!([])));
    sim.set_channel_overwrite(channel, deny(Permissions::VIEW_CHANNEL))
        .expect("overwrite");
    assert_eq!(raw(&sim, "GET", &path, None).await.1["code"], 50001);
    // A voice channel's text chat: also Connect.
    let voice = guild.voice_channel(0);
    let path = format!("/channels/{voice}/messages");
    assert_eq!(raw(&sim, "GET", &path, None).await, (200, json!([])));
    sim.set_channel_overwrite(voice, deny(Permissions::CONNECT))
        .expect("overwrite");
    assert_eq!(raw(&sim, "GET", &path, None).await.1["code"], 50001);
}

#[tokio::test]
async fn typing_answers_204_and_fires_typing_start_for_the_typing_intent() {
    let (sim, guild) = sim_with_guild().await;
    let channel = guild.text_channel();
    let mut gateway = RawClient::connect(&sim, None).await;
    gateway.payload().await; // Hello
    gateway.send(&identify(sim.token(), 1 | 1 << 11)).await;
    gateway.dispatch("GUILD_CREATE").await;
    http(&sim)
        .create_typing_trigger(channel)
        .await
        .expect("typing");
    let typing = gateway.dispatch("TYPING_START").await["d"].clone();
    assert_eq!(typing["channel_id"], channel.to_string());
    assert_eq!(typing["guild_id"], guild.id.to_string());
    assert_eq!(typing["user_id"], sim.bot_user_id().to_string());
    assert!(typing["timestamp"].is_u64());
    assert_eq!(
        typing["member"]["user"]["id"],
        sim.bot_user_id().to_string()
    );
    let path = format!("/channels/{channel}/typing");
    assert_eq!(raw(&sim, "POST", &path, None).await.0, 204);
    sim.set_channel_overwrite(
        channel,
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::SEND_MESSAGES,
            id: guild.everyone_role.cast(),
            kind: PermissionOverwriteType::Role,
        },
    )
    .expect("overwrite");
    assert_eq!(raw(&sim, "POST", &path, None).await.1["code"], 50013);
    assert_eq!(
        raw(&sim, "POST", "/channels/42/typing", None).await.1["code"],
        10003
    );
}

#[tokio::test]
async fn single_commands_can_be_read_edited_and_deleted() {
    let (sim, guild) = sim_with_guild().await;
    let app = sim.application_id();
    let base = format!("/applications/{app}/guilds/{}/commands", guild.id);
    let (_, created) = raw(
        &sim,
        "PUT",
        &base,
        Some(json!([{"name": "play", "description": "Plays"}, {"name": "skip", "description": "Skips"}])),
    )
    .await;
    let play = created[0]["id"]
        .as_str()
        .expect("id")
        .parse::<u64>()
        .expect("snowflake");
    let play = Id::new(play);
    let client = http(&sim);
    let interaction = client.interaction(app);
    let read = interaction
        .guild_command(guild.id, play)
        .await
        .expect("GET")
        .model()
        .await
        .expect("model");
    assert_eq!(read.name, "play");
    let edited = interaction
        .update_guild_command(guild.id, play)
        .description("Plays a track")
        .await
        .expect("PATCH")
        .model()
        .await
        .expect("model");
    assert_eq!(
        (edited.id, edited.description.as_str()),
        (Some(play), "Plays a track")
    );
    assert_ne!(edited.version, read.version, "an edit bumps the version");
    assert_eq!(sim.guild_commands(guild.id)[0].description, "Plays a track");
    let (status, error) = raw(
        &sim,
        "PATCH",
        &format!("{base}/{play}"),
        Some(json!({"name": "skip"})),
    )
    .await;
    assert_eq!(
        (status, error["code"].clone()),
        (400, json!(50035)),
        "duplicate name"
    );
    interaction
        .delete_guild_command(guild.id, play)
        .await
        .expect("DELETE");
    assert_eq!(sim.guild_commands(guild.id).len(), 1);
    let (status, error) = raw(&sim, "GET", &format!("{base}/{play}"), None).await;
    assert_eq!((status, error["code"].clone()), (404, json!(10063)));
    assert_eq!(
        raw(&sim, "DELETE", &format!("{base}/{play}"), None).await.1["code"],
        10063
    );

    // Global commands the same way.
    let global = format!("/applications/{app}/commands");
    let (_, made) = raw(
        &sim,
        "POST",
        &global,
        Some(json!({"name": "ping", "description": "Pong"})),
    )
    .await;
    let id = made["id"].as_str().expect("id").to_owned();
    assert_eq!(
        raw(&sim, "GET", &format!("{global}/{id}"), None).await.1["name"],
        "ping"
    );
    let (_, renamed) = raw(
        &sim,
        "PATCH",
        &format!("{global}/{id}"),
        Some(json!({"name": "pong"})),
    )
    .await;
    assert_eq!(
        (renamed["id"].as_str(), renamed["name"].as_str()),
        (Some(id.as_str()), Some("pong"))
    );
    assert_eq!(
        raw(&sim, "DELETE", &format!("{global}/{id}"), None).await.0,
        204
    );
    assert!(sim.global_commands().is_empty());
}
