//! The stand-in audited object by object against Discord's documentation: every payload it sends
//! is captured as it goes over the wire (a raw gateway client, raw HTTP) and checked against the
//! documented field list of its object (docs/sim-discord.md, "Audit against Discord's
//! documentation"). A field the docs list without `?` must be present (as `null` when its type is
//! nullable); optional fields are not required.

mod discord_support;

use std::collections::BTreeMap;

use discord_support::{RawClient, identify, start};
use serde_json::{Value, json};
use sim::discord::{ButtonPress, DiscordConfig, DiscordSim, GuildInfo, GuildSpec, SlashCommand};

/// GUILDS | GUILD_VOICE_STATES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING.
const INTENTS: u64 = 1 | 1 << 7 | 1 << 9 | 1 << 11;

/// Every captured payload by name.
type Captured = BTreeMap<&'static str, Value>;

struct Rest {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Rest {
    fn new(sim: &DiscordSim) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: sim.rest_base(),
            token: sim.token().to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.status(method.clone(), path, body).await;
        assert!(
            status.is_success(),
            "{method} {path}: {status} {value} (body {body:?})"
        );
        value
    }

    async fn status(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Bot {}", self.token));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the stand-in answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }
}

async fn identified(sim: &DiscordSim) -> RawClient {
    let mut client = RawClient::connect(sim, None).await;
    assert_eq!(client.payload().await["op"], 10);
    client.send(&identify(sim.token(), INTENTS)).await;
    client
}

/// Drives every object the stand-in sends once and captures it.
#[allow(clippy::too_many_lines)] // One scenario, in order.
async fn capture() -> Captured {
    let sim = start(DiscordConfig::default()).await;
    let guild: GuildInfo = sim.create_guild(&GuildSpec::default()).expect("guild");
    let alice = guild.member("alice").expect("alice");
    sim.join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("alice joins");
    let mut captured = Captured::new();
    let mut gateway = identified(&sim).await;
    captured.insert("READY", gateway.dispatch("READY").await["d"].clone());
    captured.insert(
        "GUILD_CREATE",
        gateway.dispatch("GUILD_CREATE").await["d"].clone(),
    );
    let rest = Rest::new(&sim);
    let app = sim.application_id();
    let (g, c) = (guild.id, guild.text_channel());
    captured.insert("GET /users/@me", rest.get("/users/@me").await);
    captured.insert("GET /applications/@me", rest.get("/applications/@me").await);
    captured.insert("GET /gateway/bot", rest.get("/gateway/bot").await);
    captured.insert(
        "GET /channels/{id}",
        rest.get(&format!("/channels/{c}")).await,
    );
    captured.insert("GET /guilds/{id}", rest.get(&format!("/guilds/{g}")).await);
    captured.insert(
        "GET /guilds/{id}/members/{user}",
        rest.get(&format!("/guilds/{g}/members/{alice}")).await,
    );
    let commands = rest
        .call(
            reqwest::Method::PUT,
            &format!("/applications/{app}/guilds/{g}/commands"),
            Some(&json!([{
                "name": "play", "description": "Plays a track",
                "options": [{"type": 3, "name": "query", "description": "What", "required": true,
                             "autocomplete": true}],
            }])),
        )
        .await;
    captured.insert("PUT commands", commands[0].clone());

    // Voice: the bot joins.
    gateway
        .send(&json!({"op": 4, "d": {"guild_id": g.to_string(),
            "channel_id": guild.voice_channel(0).to_string(), "self_mute": false, "self_deaf": true}}))
        .await;
    captured.insert(
        "VOICE_STATE_UPDATE",
        gateway.dispatch("VOICE_STATE_UPDATE").await["d"].clone(),
    );
    captured.insert(
        "VOICE_SERVER_UPDATE",
        gateway.dispatch("VOICE_SERVER_UPDATE").await["d"].clone(),
    );

    // Messages: the bot posts one with a button, edits it, a user presses the button.
    let posted = rest
        .call(
            reqwest::Method::POST,
            &format!("/channels/{c}/messages"),
            Some(
                &json!({"content": "now playing", "components": [{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Skip", "custom_id": "skip"}]}]}),
            ),
        )
        .await;
    let message_id = posted["id"].as_str().expect("message id").to_owned();
    captured.insert("POST /channels/{id}/messages", posted);
    captured.insert(
        "MESSAGE_CREATE",
        gateway.dispatch("MESSAGE_CREATE").await["d"].clone(),
    );
    let edited = rest
        .call(
            reqwest::Method::PATCH,
            &format!("/channels/{c}/messages/{message_id}"),
            Some(&json!({"content": "now playing (edited)"})),
        )
        .await;
    captured.insert("PATCH /channels/{id}/messages/{id}", edited);
    captured.insert(
        "MESSAGE_UPDATE",
        gateway.dispatch("MESSAGE_UPDATE").await["d"].clone(),
    );

    let command = sim
        .invoke(&SlashCommand::new(g, c, alice, "play").string("query", "never gonna"))
        .expect("invoke");
    let _ = command.id();
    captured.insert(
        "INTERACTION_CREATE (command)",
        gateway.dispatch("INTERACTION_CREATE").await["d"].clone(),
    );
    let typing = sim
        .autocomplete(&SlashCommand::new(g, c, alice, "play").typing("query", "nev"))
        .expect("autocomplete");
    let _ = typing.id();
    captured.insert(
        "INTERACTION_CREATE (autocomplete)",
        gateway.dispatch("INTERACTION_CREATE").await["d"].clone(),
    );
    let message = message_id.parse::<u64>().expect("snowflake");
    let press = sim
        .press_button(&ButtonPress::new(
            c,
            twilight_model::id::Id::new(message),
            alice,
            "skip",
        ))
        .expect("press");
    let _ = press.id();
    captured.insert(
        "INTERACTION_CREATE (component)",
        gateway.dispatch("INTERACTION_CREATE").await["d"].clone(),
    );
    captured.insert(
        "GET /channels/{id}/messages",
        rest.get(&format!("/channels/{c}/messages")).await,
    );
    captured.insert(
        "GET /guilds/{id}/roles",
        rest.get(&format!("/guilds/{g}/roles")).await,
    );
    captured.insert(
        "GET /guilds/{id}/channels",
        rest.get(&format!("/guilds/{g}/channels")).await,
    );
    captured.insert(
        "GET /users/{id}",
        rest.get(&format!("/users/{alice}")).await,
    );
    gateway
        .send(&json!({"op": 8, "d": {"guild_id": g.to_string(), "user_ids": [alice.to_string()]}}))
        .await;
    captured.insert(
        "GUILD_MEMBERS_CHUNK",
        gateway.dispatch("GUILD_MEMBERS_CHUNK").await["d"].clone(),
    );
    rest.call(
        reqwest::Method::POST,
        &format!("/channels/{c}/typing"),
        None,
    )
    .await;
    captured.insert(
        "TYPING_START",
        gateway.dispatch("TYPING_START").await["d"].clone(),
    );
    let renamed = rest
        .call(
            reqwest::Method::PATCH,
            "/users/@me",
            Some(&json!({"username": "Dimby"})),
        )
        .await;
    captured.insert("PATCH /users/@me", renamed);
    captured.insert(
        "USER_UPDATE",
        gateway.dispatch("USER_UPDATE").await["d"].clone(),
    );
    rest.call(
        reqwest::Method::DELETE,
        &format!("/channels/{c}/messages/{message_id}"),
        None,
    )
    .await;
    captured.insert(
        "MESSAGE_DELETE",
        gateway.dispatch("MESSAGE_DELETE").await["d"].clone(),
    );
    captured
}

/// A documented field: its name, and whether its type is nullable (then `null` is a value).
type Field = (&'static str, bool);

const USER: &[Field] = &[
    ("id", false),
    ("username", false),
    ("discriminator", false),
    ("global_name", true),
    ("avatar", true),
];

const GUILD: &[Field] = &[
    ("id", false),
    ("name", false),
    ("icon", true),
    ("splash", true),
    ("discovery_splash", true),
    ("owner_id", false),
    ("afk_channel_id", true),
    ("afk_timeout", false),
    ("verification_level", false),
    ("default_message_notifications", false),
    ("explicit_content_filter", false),
    ("roles", false),
    ("emojis", false),
    ("features", false),
    ("mfa_level", false),
    ("application_id", true),
    ("system_channel_id", true),
    ("system_channel_flags", false),
    ("rules_channel_id", true),
    ("vanity_url_code", true),
    ("description", true),
    ("banner", true),
    ("premium_tier", false),
    ("preferred_locale", false),
    ("public_updates_channel_id", true),
    ("nsfw_level", false),
    ("premium_progress_bar_enabled", false),
    ("safety_alerts_channel_id", true),
    ("incidents_data", true),
];

/// GUILD_CREATE's extra fields (Gateway Events, "Guild Create"); `unavailable?` is optional.
const GUILD_CREATE_EXTRA: &[Field] = &[
    ("joined_at", false),
    ("large", false),
    ("member_count", false),
    ("voice_states", false),
    ("members", false),
    ("channels", false),
    ("threads", false),
    ("presences", false),
    ("stage_instances", false),
    ("guild_scheduled_events", false),
    ("soundboard_sounds", false),
];

const ROLE: &[Field] = &[
    ("id", false),
    ("name", false),
    ("color", false),
    ("colors", false),
    ("hoist", false),
    ("position", false),
    ("permissions", false),
    ("managed", false),
    ("mentionable", false),
    ("flags", false),
];

const CHANNEL: &[Field] = &[("id", false), ("type", false)];

const MEMBER: &[Field] = &[
    ("roles", false),
    ("joined_at", true),
    ("deaf", false),
    ("mute", false),
    ("flags", false),
];

const VOICE_STATE: &[Field] = &[
    ("channel_id", true),
    ("user_id", false),
    ("session_id", false),
    ("deaf", false),
    ("mute", false),
    ("self_deaf", false),
    ("self_mute", false),
    ("self_video", false),
    ("suppress", false),
    ("request_to_speak_timestamp", true),
];

const MESSAGE: &[Field] = &[
    ("id", false),
    ("channel_id", false),
    ("author", false),
    ("content", false),
    ("timestamp", false),
    ("edited_timestamp", true),
    ("tts", false),
    ("mention_everyone", false),
    ("mentions", false),
    ("mention_roles", false),
    ("attachments", false),
    ("embeds", false),
    ("pinned", false),
    ("type", false),
];

/// The Interaction object's fields that are not optional, plus those a guild interaction of
/// these types always has.
const INTERACTION: &[Field] = &[
    ("id", false),
    ("application_id", false),
    ("type", false),
    ("data", false),
    ("guild", false),
    ("guild_id", false),
    ("channel", false),
    ("member", false),
    ("token", false),
    ("version", false),
    ("app_permissions", false),
    ("locale", false),
    ("guild_locale", false),
    ("entitlements", false),
    ("authorizing_integration_owners", false),
    ("context", false),
    ("attachment_size_limit", false),
];

const COMMAND: &[Field] = &[
    ("id", false),
    ("type", false),
    ("application_id", false),
    ("guild_id", false),
    ("name", false),
    ("description", false),
    ("default_member_permissions", true),
    ("version", false),
];

const APPLICATION: &[Field] = &[
    ("id", false),
    ("name", false),
    ("icon", true),
    ("description", false),
    ("bot_public", false),
    ("bot_require_code_grant", false),
    ("verify_key", false),
    ("team", true),
];

/// Optional fields the docs do not declare nullable, which must therefore never be `null`.
const NEVER_NULL: &[&str] = &["call", "guild_id", "member", "nonce", "webhook_id", "data"];

/// Checks `value` (named `what`) against a documented field list; collects the gaps.
fn check(gaps: &mut Vec<String>, what: &str, value: &Value, fields: &[Field]) {
    let Some(object) = value.as_object() else {
        gaps.push(format!("{what}: not an object: {value}"));
        return;
    };
    for (field, nullable) in fields {
        match object.get(*field) {
            None => gaps.push(format!("{what}: `{field}` missing")),
            Some(Value::Null) if !nullable => {
                gaps.push(format!("{what}: `{field}` is null (not nullable)"));
            }
            Some(_) => {}
        }
    }
    for field in NEVER_NULL {
        if object.get(*field).is_some_and(Value::is_null) {
            gaps.push(format!(
                "{what}: `{field}` is null (optional, not nullable)"
            ));
        }
    }
}

/// Checks every element of an array field.
fn check_each(gaps: &mut Vec<String>, what: &str, value: &Value, fields: &[Field]) {
    match value.as_array() {
        Some(items) => {
            for (index, item) in items.iter().enumerate() {
                check(gaps, &format!("{what}[{index}]"), item, fields);
            }
        }
        None => gaps.push(format!("{what}: not an array")),
    }
}

/// A member with its user (GUILD_CREATE, REST, voice states, interactions).
fn check_member(gaps: &mut Vec<String>, what: &str, member: &Value) {
    check(gaps, what, member, MEMBER);
    check(gaps, &format!("{what}.user"), &member["user"], USER);
}

fn check_message(gaps: &mut Vec<String>, what: &str, message: &Value) {
    check(gaps, what, message, MESSAGE);
    check(gaps, &format!("{what}.author"), &message["author"], USER);
}

/// Snowflakes are strings, permissions are strings, discriminators are strings (Reference,
/// "Snowflakes"; Permissions; User Object).
fn check_types(gaps: &mut Vec<String>, what: &str, value: &Value) {
    match value {
        Value::Object(object) => {
            for (key, field) in object {
                let snowflake = key == "id" || key.ends_with("_id");
                let stringly = snowflake && !key.ends_with("session_id")
                    || key == "permissions"
                    || key == "app_permissions"
                    || key == "discriminator";
                if stringly && !(field.is_string() || field.is_null()) {
                    gaps.push(format!("{what}: `{key}` is {field}, not a string"));
                }
                check_types(gaps, &format!("{what}.{key}"), field);
            }
        }
        Value::Array(items) => {
            for item in items {
                check_types(gaps, what, item);
            }
        }
        _ => {}
    }
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One table of objects.
async fn every_sent_object_has_its_documented_fields() {
    let captured = Box::pin(capture()).await;
    let mut gaps = Vec::new();
    let get = |name: &str| captured.get(name).cloned().unwrap_or(Value::Null);

    let ready = get("READY");
    for field in [
        "v",
        "user",
        "guilds",
        "session_id",
        "resume_gateway_url",
        "application",
    ] {
        check(&mut gaps, "READY", &ready, &[(field, false)]);
    }
    check(&mut gaps, "READY.user", &ready["user"], USER);
    check(
        &mut gaps,
        "READY.application",
        &ready["application"],
        &[("id", false), ("flags", false)],
    );
    check_each(
        &mut gaps,
        "READY.guilds",
        &ready["guilds"],
        &[("id", false), ("unavailable", false)],
    );

    let guild = get("GUILD_CREATE");
    check(&mut gaps, "GUILD_CREATE", &guild, GUILD);
    check(&mut gaps, "GUILD_CREATE", &guild, GUILD_CREATE_EXTRA);
    check_each(&mut gaps, "GUILD_CREATE.roles", &guild["roles"], ROLE);
    check_each(
        &mut gaps,
        "GUILD_CREATE.channels",
        &guild["channels"],
        CHANNEL,
    );
    check_each(
        &mut gaps,
        "GUILD_CREATE.voice_states",
        &guild["voice_states"],
        VOICE_STATE,
    );
    for (index, member) in guild["members"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_member(&mut gaps, &format!("GUILD_CREATE.members[{index}]"), member);
    }

    let rest_guild = get("GET /guilds/{id}");
    check(&mut gaps, "GET /guilds/{id}", &rest_guild, GUILD);
    for extra in [
        "channels",
        "members",
        "voice_states",
        "presences",
        "threads",
        "large",
    ] {
        if rest_guild.get(extra).is_some() {
            gaps.push(format!(
                "GET /guilds/{{id}}: GUILD_CREATE's `{extra}` in a REST guild"
            ));
        }
    }
    check_each(
        &mut gaps,
        "GET /guilds/{id}.roles",
        &rest_guild["roles"],
        ROLE,
    );
    check(
        &mut gaps,
        "GET /channels/{id}",
        &get("GET /channels/{id}"),
        CHANNEL,
    );
    check_member(
        &mut gaps,
        "GET /guilds/{id}/members/{user}",
        &get("GET /guilds/{id}/members/{user}"),
    );
    check(&mut gaps, "GET /users/@me", &get("GET /users/@me"), USER);
    let application = get("GET /applications/@me");
    check(
        &mut gaps,
        "GET /applications/@me",
        &application,
        APPLICATION,
    );
    check(
        &mut gaps,
        "GET /applications/@me.bot",
        &application["bot"],
        USER,
    );
    check(
        &mut gaps,
        "GET /applications/@me.owner",
        &application["owner"],
        USER,
    );
    let gateway = get("GET /gateway/bot");
    check(
        &mut gaps,
        "GET /gateway/bot",
        &gateway,
        &[
            ("url", false),
            ("shards", false),
            ("session_start_limit", false),
        ],
    );
    check(
        &mut gaps,
        "GET /gateway/bot.session_start_limit",
        &gateway["session_start_limit"],
        &[
            ("total", false),
            ("remaining", false),
            ("reset_after", false),
            ("max_concurrency", false),
        ],
    );
    check(&mut gaps, "command", &get("PUT commands"), COMMAND);

    let voice = get("VOICE_STATE_UPDATE");
    check(&mut gaps, "VOICE_STATE_UPDATE", &voice, VOICE_STATE);
    check(
        &mut gaps,
        "VOICE_STATE_UPDATE",
        &voice,
        &[("guild_id", false), ("member", false)],
    );
    check_member(&mut gaps, "VOICE_STATE_UPDATE.member", &voice["member"]);
    check(
        &mut gaps,
        "VOICE_SERVER_UPDATE",
        &get("VOICE_SERVER_UPDATE"),
        &[("token", false), ("guild_id", false), ("endpoint", true)],
    );

    for name in [
        "POST /channels/{id}/messages",
        "PATCH /channels/{id}/messages/{id}",
    ] {
        check_message(&mut gaps, name, &get(name));
    }
    for name in ["MESSAGE_CREATE", "MESSAGE_UPDATE"] {
        let message = get(name);
        check_message(&mut gaps, name, &message);
        // A guild message's MESSAGE_CREATE / UPDATE carries guild_id and the author's member.
        check(
            &mut gaps,
            name,
            &message,
            &[("guild_id", false), ("member", false)],
        );
    }
    check(
        &mut gaps,
        "MESSAGE_DELETE",
        &get("MESSAGE_DELETE"),
        &[("id", false), ("channel_id", false), ("guild_id", false)],
    );

    for kind in ["command", "autocomplete", "component"] {
        let name = format!("INTERACTION_CREATE ({kind})");
        let interaction = get(&name);
        check(&mut gaps, &name, &interaction, INTERACTION);
        check_member(&mut gaps, &format!("{name}.member"), &interaction["member"]);
        check(
            &mut gaps,
            &format!("{name}.member"),
            &interaction["member"],
            &[("permissions", false)],
        );
        let data = &interaction["data"];
        if kind == "component" {
            check(&mut gaps, &name, &interaction, &[("message", false)]);
            check_message(
                &mut gaps,
                &format!("{name}.message"),
                &interaction["message"],
            );
            check(
                &mut gaps,
                &format!("{name}.data"),
                data,
                &[("custom_id", false), ("component_type", false)],
            );
        } else {
            check(
                &mut gaps,
                &format!("{name}.data"),
                data,
                &[("id", false), ("name", false), ("type", false)],
            );
        }
    }

    check_each(
        &mut gaps,
        "GET /channels/{id}/messages",
        &get("GET /channels/{id}/messages"),
        MESSAGE,
    );
    check_each(
        &mut gaps,
        "GET /guilds/{id}/roles",
        &get("GET /guilds/{id}/roles"),
        ROLE,
    );
    check_each(
        &mut gaps,
        "GET /guilds/{id}/channels",
        &get("GET /guilds/{id}/channels"),
        CHANNEL,
    );
    for name in ["GET /users/{id}", "PATCH /users/@me", "USER_UPDATE"] {
        check(&mut gaps, name, &get(name), USER);
    }
    let chunk = get("GUILD_MEMBERS_CHUNK");
    check(
        &mut gaps,
        "GUILD_MEMBERS_CHUNK",
        &chunk,
        &[
            ("guild_id", false),
            ("members", false),
            ("chunk_index", false),
            ("chunk_count", false),
        ],
    );
    for (index, member) in chunk["members"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_member(
            &mut gaps,
            &format!("GUILD_MEMBERS_CHUNK.members[{index}]"),
            member,
        );
    }
    // Typing Start: channel_id, guild_id?, user_id, timestamp (unix seconds), member?.
    let typing = get("TYPING_START");
    check(
        &mut gaps,
        "TYPING_START",
        &typing,
        &[
            ("channel_id", false),
            ("guild_id", false),
            ("user_id", false),
            ("timestamp", false),
            ("member", false),
        ],
    );
    check_member(&mut gaps, "TYPING_START.member", &typing["member"]);

    for (name, value) in &captured {
        check_types(&mut gaps, name, value);
    }
    assert!(
        gaps.is_empty(),
        "gaps against Discord's docs:\n{}",
        gaps.join("\n")
    );
}
