//! Autocomplete, buttons and channel messages against the stand-in, seen on the wire: a raw
//! gateway client for the payloads (also parsed with twilight-model, as the bot would) and plain
//! HTTP for the bot's REST calls, so that invalid answers can be sent too.

mod discord_support;

use std::time::Duration;

use discord_support::{RawClient, guard, identify, start};
use serde_json::{Value, json};
use sim::discord::{
    ButtonPress, DiscordConfig, DiscordSim, GuildInfo, GuildSpec, MessageChange, SimError,
    SlashCommand, SlashOptions,
};
use twilight_model::application::command::{CommandOptionChoice, CommandOptionChoiceValue};
use twilight_model::application::interaction::application_command::CommandOptionValue;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

/// GUILDS | GUILD_MESSAGES.
const INTENTS: u64 = 1 | (1 << 9);

struct Bot {
    sim: DiscordSim,
    guild: GuildInfo,
    http: reqwest::Client,
    gateway: RawClient,
}

fn commands() -> Value {
    json!([
        {"type": 1, "name": "play", "description": "Play", "options": [
            {"type": 3, "name": "query", "description": "What", "required": true, "autocomplete": true},
        ]},
        {"type": 1, "name": "volume", "description": "Volume", "options": [
            {"type": 4, "name": "level", "description": "How loud", "autocomplete": true},
        ]},
        {"type": 1, "name": "echo", "description": "Echo", "options": [
            {"type": 3, "name": "text", "description": "What"},
        ]},
        {"type": 1, "name": "playlist", "description": "Playlists", "options": [
            {"type": 1, "name": "load", "description": "Load one", "options": [
                {"type": 3, "name": "name", "description": "Which", "required": true, "autocomplete": true},
                {"type": 5, "name": "shuffle", "description": "Shuffle"},
            ]},
        ]},
    ])
}

impl Bot {
    async fn start(config: DiscordConfig) -> Self {
        let sim = start(config).await;
        let guild = sim
            .create_guild(&GuildSpec::default().preferred_locale("fr"))
            .expect("guild");
        let mut gateway = RawClient::connect(&sim, None).await;
        assert_eq!(gateway.payload().await["op"], 10);
        gateway.send(&identify(sim.token(), INTENTS)).await;
        gateway.dispatch("GUILD_CREATE").await;
        let bot = Self {
            sim,
            guild,
            http: reqwest::Client::new(),
            gateway,
        };
        let path = format!(
            "/applications/{}/guilds/{}/commands",
            bot.sim.application_id(),
            bot.guild.id
        );
        let (status, body) = bot.rest("PUT", &path, Some(commands())).await;
        assert_eq!(status, 200, "{body}");
        bot
    }

    fn channel(&self) -> Id<ChannelMarker> {
        self.guild.text_channel()
    }

    fn member(&self, name: &str) -> twilight_model::id::Id<twilight_model::id::marker::UserMarker> {
        self.guild.member(name).expect("member")
    }

    fn command(&self, name: &str) -> SlashCommand {
        SlashCommand::new(self.guild.id, self.channel(), self.member("alice"), name)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = guard("a REST answer", request.send())
            .await
            .expect("the stand-in answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A bot-authenticated REST call.
    async fn rest(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.rest_base()))
            .header("Authorization", format!("Bot {}", self.sim.token()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// An interaction callback (`?with_response=true`).
    async fn callback(&self, interaction: &Value, body: Value) -> (u16, Value) {
        let url = format!(
            "{}/interactions/{}/{}/callback?with_response=true",
            self.sim.rest_base(),
            interaction["id"].as_str().expect("id"),
            interaction["token"].as_str().expect("token"),
        );
        self.send(self.http.post(url).json(&body)).await
    }

    /// A webhook call on an interaction's token.
    async fn webhook(
        &self,
        method: &str,
        interaction: &Value,
        tail: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!(
            "{}/webhooks/{}/{}{tail}",
            self.sim.rest_base(),
            self.sim.application_id(),
            interaction["token"].as_str().expect("token"),
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// The next INTERACTION_CREATE's data, also parsed by twilight-model.
    async fn interaction(&mut self) -> (Value, Interaction) {
        let data = self.gateway.dispatch("INTERACTION_CREATE").await["d"].clone();
        let parsed = serde_json::from_value(data.clone()).expect("twilight parses it");
        (data, parsed)
    }

    /// The bot posts a message with buttons: `skip`, a disabled `stop`, a link.
    async fn message_with_buttons(&mut self, content: &str) -> (Id<MessageMarker>, Value) {
        let body = json!({"content": content, "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Skip", "custom_id": "skip"},
            {"type": 2, "style": 4, "label": "Stop", "custom_id": "stop", "disabled": true},
            {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com"},
        ]}]});
        let path = format!("/channels/{}/messages", self.channel());
        let (status, message) = self.rest("POST", &path, Some(body)).await;
        assert_eq!(status, 200, "{message}");
        let id = message["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("snowflake");
        let created = self.gateway.dispatch("MESSAGE_CREATE").await;
        assert_eq!(created["d"]["id"], message["id"]);
        (Id::new(id), message)
    }
}

fn choice(name: &str, value: CommandOptionChoiceValue) -> CommandOptionChoice {
    CommandOptionChoice {
        name: name.into(),
        name_localizations: None,
        value,
    }
}

fn refused(result: Result<sim::discord::InteractionHandle, SimError>) -> String {
    match result {
        Err(SimError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn autocomplete_carries_the_focused_option_and_takes_choices() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let typing = bot
        .command("play")
        .typing("query", "never gon")
        .locale("de");
    let handle = bot.sim.autocomplete(&typing).expect("autocomplete");
    let (data, parsed) = bot.interaction().await;
    assert_eq!(data["type"], 4);
    assert_eq!(data["version"], 1);
    assert_eq!(data["locale"], "de");
    assert_eq!(data["guild_locale"], "fr");
    assert!(data["app_permissions"].is_string(), "{data}");
    assert_eq!(
        data["member"]["user"]["id"],
        bot.member("alice").to_string()
    );
    assert_eq!(data["data"]["name"], "play");
    assert_eq!(
        data["data"]["options"],
        json!([{"focused": true, "name": "query", "type": 3, "value": "never gon"}])
    );
    assert_eq!(parsed.kind, InteractionType::ApplicationCommandAutocomplete);

    let (status, answer) = bot
        .callback(
            &data,
            json!({"type": 8, "data": {"choices": [
                {"name": "Never Gonna Give You Up", "value": "dQw4w9WgXcQ"},
                {"name": "Never Gonna Stop", "value": "abc"},
            ]}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["interaction"]["type"], 4);
    assert!(answer.get("resource").is_none(), "{answer}");
    let choices = guard("the choices", handle.choices())
        .await
        .expect("choices");
    assert_eq!(
        choices,
        vec![
            choice(
                "Never Gonna Give You Up",
                CommandOptionChoiceValue::String("dQw4w9WgXcQ".into())
            ),
            choice(
                "Never Gonna Stop",
                CommandOptionChoiceValue::String("abc".into())
            ),
        ]
    );
    let record = handle.record();
    assert!(
        record.original.is_none(),
        "an autocomplete makes no message"
    );
    assert!(bot.sim.channel_messages(bot.channel()).is_empty());
    let (status, again) = bot
        .callback(&data, json!({"type": 8, "data": {"choices": []}}))
        .await;
    assert_eq!((status, again["code"].as_u64()), (400, Some(40060)));
}

#[tokio::test]
async fn autocomplete_reaches_options_in_subcommands_and_keeps_the_declared_type() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let typing = bot.command("playlist").subcommand(
        "load",
        SlashOptions::new()
            .boolean("shuffle", true)
            .typing("name", "ro"),
    );
    bot.sim.autocomplete(&typing).expect("autocomplete");
    let (data, parsed) = bot.interaction().await;
    assert_eq!(
        data["data"]["options"],
        json!([{"name": "load", "type": 1, "options": [
            {"name": "shuffle", "type": 5, "value": true},
            {"focused": true, "name": "name", "type": 3, "value": "ro"},
        ]}])
    );
    let Some(InteractionData::ApplicationCommand(command)) = parsed.data else {
        panic!("command data");
    };
    assert!(matches!(
        &command.options[0].value,
        CommandOptionValue::SubCommand(inner) if inner.len() == 2
    ));

    // An integer option: the partial value is still a string, the type the declared one.
    let volume = bot.command("volume").typing("level", "4");
    let handle = bot.sim.autocomplete(&volume).expect("autocomplete");
    let (data, _) = bot.interaction().await;
    assert_eq!(
        data["data"]["options"],
        json!([{"focused": true, "name": "level", "type": 4, "value": "4"}])
    );
    let (status, body) = bot
        .callback(
            &data,
            json!({"type": 8, "data": {"choices": [{"name": "forty", "value": "40"}]}}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(50035)),
        "{body}"
    );
    assert_eq!(
        body["errors"]["data"]["choices"]["0"]["value"]["_errors"][0]["code"],
        "NUMBER_TYPE_COERCE"
    );
    let (status, _) = bot
        .callback(
            &data,
            json!({"type": 8, "data": {"choices": [{"name": "forty", "value": 40}]}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        handle.choices().await.expect("choices"),
        vec![choice("forty", CommandOptionChoiceValue::Integer(40))]
    );
    assert_eq!(handle.record().rejections, vec![50035]);
}

#[tokio::test]
async fn autocomplete_needs_exactly_one_focused_option_declared_with_autocomplete() {
    let bot = Bot::start(DiscordConfig::default()).await;
    let sim = &bot.sim;
    let none = refused(sim.autocomplete(&bot.command("play").string("query", "x")));
    assert!(none.contains("exactly one focused option"), "{none}");
    let two = bot
        .command("play")
        .typing("query", "a")
        .typing("query", "b");
    assert!(refused(sim.autocomplete(&two)).contains("has 2"));
    let plain = refused(sim.autocomplete(&bot.command("echo").typing("text", "hi")));
    assert!(
        plain.contains("`text`") && plain.contains("autocomplete"),
        "{plain}"
    );
    let unknown = refused(sim.autocomplete(&bot.command("play").typing("nope", "x")));
    assert!(unknown.contains("no option `nope`"), "{unknown}");
    let letters = refused(sim.autocomplete(&bot.command("volume").typing("level", "loud")));
    assert!(letters.contains("client-side validation"), "{letters}");
    let invoked = refused(sim.invoke(&bot.command("play").typing("query", "x")));
    assert!(invoked.contains("focused"), "{invoked}");
    assert!(matches!(
        sim.autocomplete(&bot.command("skip").typing("x", "y")),
        Err(SimError::UnknownCommand(_))
    ));
}

#[tokio::test]
async fn autocomplete_answers_are_checked_as_documented() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let handle = bot
        .sim
        .autocomplete(&bot.command("play").typing("query", "x"))
        .expect("autocomplete");
    let (data, _) = bot.interaction().await;
    let many: Vec<Value> = (0..26)
        .map(|i| json!({"name": format!("n{i}"), "value": format!("v{i}")}))
        .collect();
    let cases = [
        (
            json!({"type": 8, "data": {"choices": many}}),
            "/data/choices/_errors/0/code",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            json!({"type": 8, "data": {"choices": [{"name": "", "value": "v"}]}}),
            "/data/choices/0/name/_errors/0/code",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"type": 8, "data": {"choices": [{"name": "n", "value": "v".repeat(101)}]}}),
            "/data/choices/0/value/_errors/0/code",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            json!({"type": 8, "data": {"choices": [{"name": "n", "value": 5}]}}),
            "/data/choices/0/value/_errors/0/code",
            "STRING_TYPE_CONVERT",
        ),
        (
            json!({"type": 8, "data": {}}),
            "/data/choices/_errors/0/code",
            "BASE_TYPE_REQUIRED",
        ),
        (
            json!({"type": 4, "data": {"content": "no"}}),
            "/type/_errors/0/code",
            "INTERACTION_RESPONSE_TYPE_INVALID",
        ),
    ];
    for (body, pointer, code) in cases {
        let (status, answer) = bot.callback(&data, body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_u64()),
            (400, Some(50035)),
            "{body}: {answer}"
        );
        assert_eq!(
            answer["errors"].pointer(pointer),
            Some(&json!(code)),
            "{answer}"
        );
    }
    let exactly: Vec<Value> = (0..25)
        .map(|i| json!({"name": "n".repeat(100), "value": format!("{i:0>100}")}))
        .collect();
    let (status, _) = bot
        .callback(&data, json!({"type": 8, "data": {"choices": exactly}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(handle.choices().await.expect("choices").len(), 25);
    assert_eq!(handle.record().rejections, vec![50035; 6]);
}

#[tokio::test]
async fn a_button_press_carries_the_message_and_update_message_edits_it() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let (id, posted) = bot.message_with_buttons("Now playing").await;
    let alice = bot.member("alice");
    let press = ButtonPress::new(bot.channel(), id, alice, "skip").locale("de");
    let handle = bot.sim.press_button(&press).expect("press");
    let (data, parsed) = bot.interaction().await;
    assert_eq!(data["type"], 3);
    assert_eq!(
        data["data"],
        json!({"custom_id": "skip", "component_type": 2})
    );
    assert_eq!(data["message"]["id"], posted["id"]);
    assert_eq!(data["message"]["components"], posted["components"]);
    assert_eq!(data["locale"], "de");
    assert_eq!(data["guild_locale"], "fr");
    assert_eq!(data["channel"]["id"], bot.channel().to_string());
    assert_eq!(data["member"]["user"]["id"], alice.to_string());
    assert!(data["app_permissions"].is_string() && data["token"].is_string());
    assert_eq!(parsed.kind, InteractionType::MessageComponent);
    assert_eq!(parsed.message.map(|m| m.id), Some(id));

    let update = json!({"type": 7, "data": {"content": "Skipped", "components": []}});
    let (status, answer) = bot.callback(&data, update).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["resource"]["type"], 7);
    assert_eq!(answer["resource"]["message"]["content"], "Skipped");
    assert_eq!(answer["interaction"]["response_message_id"], posted["id"]);
    let updated = guard("the update", handle.updated_message())
        .await
        .expect("updated");
    assert_eq!((updated.id, updated.content.as_str()), (id, "Skipped"));
    assert!(updated.components.is_empty() && updated.edited_timestamp.is_some());
    assert_eq!(bot.sim.message(bot.channel(), id), Some(updated.clone()));
    let dispatched = bot.gateway.dispatch("MESSAGE_UPDATE").await;
    assert_eq!(dispatched["d"]["content"], "Skipped");
    assert_eq!(dispatched["d"]["tts"], false);
    assert_eq!(dispatched["d"]["guild_id"], bot.guild.id.to_string());
    assert_eq!(handle.record().original.map(|m| m.id), Some(id));

    // After a type 7, @original is the message the button was on.
    let (status, edited) = bot
        .webhook(
            "PATCH",
            &data,
            "/messages/@original",
            Some(json!({"content": "Skipped!"})),
        )
        .await;
    assert_eq!((status, edited["id"].clone()), (200, posted["id"].clone()));
    assert_eq!(
        bot.sim.message(bot.channel(), id).map(|m| m.content),
        Some("Skipped!".into())
    );
    assert_eq!(bot.sim.message_edits(bot.channel()), 2);
    assert_eq!(
        handle.record().updated_message.map(|m| m.content),
        Some("Skipped!".into())
    );
}

#[tokio::test]
async fn presses_that_cannot_happen_are_refused_naming_what_is_missing() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let (id, _) = bot.message_with_buttons("Now playing").await;
    let alice = bot.member("alice");
    let press = |custom_id: &str| ButtonPress::new(bot.channel(), id, alice, custom_id);
    let disabled = refused(bot.sim.press_button(&press("stop")));
    assert!(
        disabled.contains("\"stop\"") && disabled.contains("disabled"),
        "{disabled}"
    );
    let missing = refused(bot.sim.press_button(&press("pause")));
    assert!(
        missing.contains("\"pause\"") && missing.contains("\"skip\""),
        "{missing}"
    );
    let unknown = ButtonPress::new(bot.channel(), Id::new(1), alice, "skip");
    assert!(matches!(
        bot.sim.press_button(&unknown),
        Err(SimError::UnknownMessage(_, _))
    ));
    let stranger = bot.sim.create_user("stranger");
    let outsider = ButtonPress::new(bot.channel(), id, stranger, "skip");
    assert!(matches!(
        bot.sim.press_button(&outsider),
        Err(SimError::UnknownUser(_))
    ));
}

#[tokio::test]
async fn deferred_update_then_original_edits_and_deletes_the_buttons_message() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let (id, _) = bot.message_with_buttons("Now playing").await;
    let press = ButtonPress::new(bot.channel(), id, bot.member("bob"), "skip");
    let handle = bot.sim.press_button(&press).expect("press");
    let (data, _) = bot.interaction().await;
    let (status, answer) = bot.callback(&data, json!({"type": 6})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("resource").is_none(), "{answer}");
    assert_eq!(
        bot.sim.message_edits(bot.channel()),
        0,
        "type 6 only acknowledges"
    );
    assert!(handle.record().updated_message.is_none());
    let (status, original) = bot.webhook("GET", &data, "/messages/@original", None).await;
    assert_eq!(
        (status, original["content"].clone()),
        (200, json!("Now playing"))
    );
    let (status, _) = bot
        .webhook(
            "PATCH",
            &data,
            "/messages/@original",
            Some(json!({"content": "Paused", "components": null})),
        )
        .await;
    assert_eq!(status, 200);
    let updated = handle.updated_message().await.expect("updated");
    assert_eq!(
        (updated.content.as_str(), updated.components.len()),
        ("Paused", 0)
    );
    let (status, _) = bot
        .webhook("DELETE", &data, "/messages/@original", None)
        .await;
    assert_eq!(status, 204);
    let deleted = bot.gateway.dispatch("MESSAGE_DELETE").await;
    assert_eq!(
        deleted["d"],
        json!({"id": id.to_string(), "channel_id": bot.channel().to_string(), "guild_id": bot.guild.id.to_string()})
    );
    assert_eq!(bot.sim.message(bot.channel(), id), None);
    let change = bot
        .sim
        .wait_for_message_change(bot.channel(), |c| {
            matches!(c, MessageChange::Deleted { .. })
        })
        .await
        .expect("deletion");
    assert_eq!(change.message_id(), id);
}

#[tokio::test]
async fn buttons_on_ephemeral_responses_are_pressed_by_their_viewer_only() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let echo = bot
        .sim
        .invoke(&bot.command("echo").string("text", "hi"))
        .expect("invoke");
    let (data, _) = bot.interaction().await;
    let answer = json!({"type": 4, "data": {"content": "hi", "flags": 64, "components": [
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "Again", "custom_id": "again", "id": 7}]},
    ]}});
    let (status, _) = bot.callback(&data, answer).await;
    assert_eq!(status, 200);
    let ephemeral = echo.original().await.expect("original");
    let channel = bot.channel();
    let press = |user| ButtonPress::new(channel, ephemeral.id, user, "again");
    assert!(matches!(
        bot.sim.press_button(&press(bot.member("bob"))),
        Err(SimError::UnknownMessage(_, _))
    ));
    let handle = bot
        .sim
        .press_button(&press(bot.member("alice")))
        .expect("press");
    let (data, _) = bot.interaction().await;
    assert_eq!(
        data["data"],
        json!({"custom_id": "again", "component_type": 2, "id": 7})
    );
    assert_eq!(data["message"]["flags"], 64);
    let (status, _) = bot
        .callback(&data, json!({"type": 7, "data": {"content": "hi again"}}))
        .await;
    assert_eq!(status, 200);
    let updated = handle.updated_message().await.expect("updated");
    assert_eq!(updated.content, "hi again");
    assert_eq!(
        echo.record().original.map(|m| m.content),
        Some("hi again".into())
    );
    assert_eq!(
        bot.sim
            .message(bot.channel(), ephemeral.id)
            .map(|m| m.content),
        Some("hi again".into())
    );
    assert!(bot.sim.channel_messages(bot.channel()).is_empty());
    assert!(
        bot.sim.message_changes(bot.channel()).is_empty(),
        "no MESSAGE_UPDATE for an ephemeral message"
    );

    // A type 4 answer to a press is a new message, and @original is that one.
    let again = bot
        .sim
        .press_button(&press(bot.member("alice")))
        .expect("press");
    let (data, _) = bot.interaction().await;
    let (status, body) = bot
        .callback(&data, json!({"type": 4, "data": {"content": "queued"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let created = again.original().await.expect("original");
    assert_ne!(created.id, ephemeral.id);
    assert!(again.record().updated_message.is_none());
    assert_eq!(bot.sim.channel_messages(bot.channel()), vec![created]);
}

#[tokio::test]
async fn the_bot_reads_edits_and_deletes_its_channel_messages() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let (id, posted) = bot.message_with_buttons("hello").await;
    let path = format!("/channels/{}/messages/{id}", bot.channel());
    let (status, got) = bot.rest("GET", &path, None).await;
    assert_eq!((status, &got), (200, &posted));
    let (status, edited) = bot
        .rest("PATCH", &path, Some(json!({"content": "hello again"})))
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["content"], "hello again");
    assert!(edited["edited_timestamp"].is_string());
    assert_eq!(
        edited["components"], posted["components"],
        "absent fields stay"
    );
    let update = bot.gateway.dispatch("MESSAGE_UPDATE").await;
    assert_eq!(update["d"]["content"], "hello again");
    let (status, emptied) = bot
        .rest(
            "PATCH",
            &path,
            Some(json!({"content": null, "components": null})),
        )
        .await;
    assert_eq!(
        (status, emptied["code"].as_u64()),
        (400, Some(50006)),
        "{emptied}"
    );
    let (status, _) = bot.rest("DELETE", &path, None).await;
    assert_eq!(status, 204);
    let deleted = bot.gateway.dispatch("MESSAGE_DELETE").await;
    assert_eq!(deleted["d"]["id"], id.to_string());
    for method in ["GET", "PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| json!({"content": "x"}));
        let (status, error) = bot.rest(method, &path, body).await;
        assert_eq!(
            (status, error["code"].as_u64()),
            (404, Some(10008)),
            "{method}"
        );
    }
    let changes = bot.sim.message_changes(bot.channel());
    assert_eq!(changes.len(), 2);
    assert!(matches!(&changes[0], MessageChange::Edited(m) if m.content == "hello again"));
    assert_eq!(
        changes[1],
        MessageChange::Deleted {
            channel_id: bot.channel(),
            id
        }
    );
    let (status, error) = bot
        .rest(
            "GET",
            &format!(
                "/channels/{}/messages/{id}",
                bot.guild.voice_channel(0).get() + 999
            ),
            None,
        )
        .await;
    assert_eq!((status, error["code"].as_u64()), (404, Some(10003)));
}

#[tokio::test]
async fn other_users_messages_need_manage_messages_and_hide_their_content() {
    let mut bot = Bot::start(DiscordConfig::default()).await;
    let alice = bot.member("alice");
    let message = bot
        .sim
        .send_user_message(bot.channel(), alice, "hi bot")
        .expect("message");
    let created = bot.gateway.dispatch("MESSAGE_CREATE").await;
    assert_eq!(created["d"]["author"]["id"], alice.to_string());
    assert_eq!(created["d"]["content"], "", "no MESSAGE_CONTENT intent");
    let path = format!("/channels/{}/messages/{}", bot.channel(), message.id);
    let (status, got) = bot.rest("GET", &path, None).await;
    assert_eq!((status, got["content"].clone()), (200, json!("hi bot")));
    let (status, error) = bot
        .rest("PATCH", &path, Some(json!({"content": "mine now"})))
        .await;
    assert_eq!((status, error["code"].as_u64()), (403, Some(50005)));
    assert_eq!(
        error["message"],
        "Cannot edit a message authored by another user"
    );
    let (status, error) = bot.rest("PATCH", &path, Some(json!({"flags": 4}))).await;
    assert_eq!((status, error["code"].as_u64()), (403, Some(50013)));
    let (status, error) = bot.rest("DELETE", &path, None).await;
    assert_eq!((status, error["code"].as_u64()), (403, Some(50013)));

    let everyone = bot.guild.everyone_role;
    let permissions = sim_default_everyone() | Permissions::MANAGE_MESSAGES;
    bot.sim
        .set_role_permissions(bot.guild.id, everyone, permissions)
        .expect("role");
    let (status, flagged) = bot.rest("PATCH", &path, Some(json!({"flags": 4}))).await;
    assert_eq!(
        (status, flagged["flags"].clone()),
        (200, json!(4)),
        "{flagged}"
    );
    assert_eq!(flagged["content"], "hi bot");
    let (status, _) = bot.rest("DELETE", &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(bot.sim.message(bot.channel(), message.id), None);
}

/// `@everyone`'s permissions in a new guild (the parts a text channel needs here).
fn sim_default_everyone() -> Permissions {
    Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES | Permissions::READ_MESSAGE_HISTORY
}

#[tokio::test]
async fn message_routes_are_rate_limited_per_route_and_channel() {
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
    let http = reqwest::Client::new();
    let get = |channel: Id<ChannelMarker>| {
        http.get(format!(
            "{}/channels/{channel}/messages/1234567890123456789",
            sim.rest_base()
        ))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
    };
    let [general, music] = [guild.text_channels[0], guild.text_channels[1]];
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get(general).await.expect("answer").status().as_u16());
    }
    assert_eq!(statuses, vec![404, 404, 429]);
    assert_eq!(get(music).await.expect("answer").status().as_u16(), 404);
    let patch = http
        .patch(format!(
            "{}/channels/{general}/messages/1234567890123456789",
            sim.rest_base()
        ))
        .header("Authorization", format!("Bot {}", sim.token()))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(patch.status().as_u16(), 404, "PATCH is a bucket of its own");
    assert!(patch.headers().contains_key("x-ratelimit-bucket"));
}
