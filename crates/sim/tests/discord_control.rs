//! The Discord stand-in's control endpoint (`/sim/...`) driven like a script in another process
//! would: plain reqwest for HTTP and a raw WebSocket gateway client, never the bot's code.

mod discord_support;

use discord_support::{RawClient, guard, identify, start};
use serde_json::{Value, json};
use sim::discord::{DiscordConfig, DiscordSim};

const PASSWORD: &str = "drill-password";
/// GUILDS | GUILD_VOICE_STATES.
const INTENTS: u64 = 1 | (1 << 7);

/// A plain HTTP client for the control endpoint.
struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    fn new(sim: &DiscordSim) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{}", sim.rest_addr()),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = guard("a control answer", request.send())
            .await
            .expect("the control endpoint answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", PASSWORD);
        self.send(request).await
    }

    async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", PASSWORD)
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        self.send(request).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, &body.to_string()).await
    }
}

async fn sim() -> (DiscordSim, Control) {
    let sim = start(DiscordConfig::default().with_control_password(PASSWORD)).await;
    let control = Control::new(&sim);
    (sim, control)
}

/// A raw gateway client past READY.
async fn bot(sim: &DiscordSim) -> RawClient {
    let mut client = RawClient::connect(sim, None).await;
    assert_eq!(client.payload().await["op"], 10, "Hello first");
    client.send(&identify(sim.token(), INTENTS)).await;
    client.dispatch("READY").await;
    client
}

/// Creates the default guild over HTTP and returns the answer.
async fn create_guild(control: &Control) -> Value {
    let (status, guild) = control.post("/sim/guilds", &json!({})).await;
    assert_eq!(status, 201, "{guild}");
    guild
}

#[tokio::test]
async fn control_needs_the_password() {
    let (sim, control) = sim().await;
    let url = format!("{}/sim/state", control.base);
    let missing = control.http.get(&url).send().await.expect("answer");
    assert_eq!(missing.status().as_u16(), 401);
    let body: Value = missing.json().await.expect("JSON error");
    assert!(body["error"].is_string(), "{body}");
    let bot_token = control
        .http
        .get(&url)
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("answer");
    assert_eq!(bot_token.status().as_u16(), 403);
    // A refused fault does nothing.
    let refused = control
        .http
        .post(format!("{}/sim/fault", control.base))
        .header("Authorization", "wrong")
        .body(r#"{"kind":"restDelay","ms":5000}"#)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 403);
    let (status, state) = control.get("/sim/state").await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["faults"]["restDelayMs"], 0);

    // By default the control password is the bot token (standalone: the token given).
    assert_eq!(DiscordConfig::default().control_password, sim.token());
    let standalone = DiscordConfig::standalone(sim.rest_addr(), Some("tok".into()));
    assert_eq!(standalone.control_password, "tok");
    assert_eq!(
        DiscordConfig::default()
            .with_token("other")
            .control_password,
        "other"
    );
}

#[tokio::test]
async fn guild_created_over_http_reaches_the_gateway() {
    let (sim, control) = sim().await;
    let mut client = bot(&sim).await;
    let body =
        json!({"name": "Drill", "textChannels": 2, "voiceChannels": 1, "members": ["carol"]});
    let (status, created) = control.post("/sim/guilds", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("guild id").to_owned();
    assert_eq!(created["textChannels"].as_array().map(Vec::len), Some(2));
    assert_eq!(created["voiceChannels"].as_array().map(Vec::len), Some(1));
    let carol = created["members"]["carol"].as_str().expect("carol's id");

    let guild_create = client.dispatch("GUILD_CREATE").await;
    assert_eq!(guild_create["d"]["id"], id.as_str());
    assert_eq!(guild_create["d"]["name"], "Drill");
    let names: Vec<&str> = guild_create["d"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .filter_map(|channel| channel["name"].as_str())
        .collect();
    assert_eq!(names, ["general", "text-2", "Music"]);

    let (status, state) = control.get("/sim/state").await;
    assert_eq!(status, 200);
    assert_eq!(state["identifyCount"], 1);
    assert_eq!(state["sessions"][0]["connected"], true);
    assert_eq!(state["sessions"][0]["intents"], INTENTS);
    assert_eq!(state["connections"].as_array().map(Vec::len), Some(1));
    let guild = state["guilds"]
        .as_array()
        .expect("guilds")
        .iter()
        .find(|guild| guild["id"] == id.as_str())
        .expect("the new guild in the state");
    assert!(
        guild["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|member| member["id"] == carol && member["name"] == "carol"),
        "{guild}"
    );
}

#[tokio::test]
async fn interaction_over_http_is_answered_through_rest() {
    let (sim, control) = sim().await;
    let rest = sim.rest_base();
    let command = json!([{
        "type": 1, "name": "play", "description": "Play a track",
        "options": [
            {"type": 3, "name": "query", "description": "What", "required": true},
            {"type": 4, "name": "volume", "description": "How loud"},
            {"type": 5, "name": "loop", "description": "Again"},
        ],
    }]);
    let registered = control
        .http
        .put(format!(
            "{rest}/applications/{}/commands",
            sim.application_id()
        ))
        .header("Authorization", format!("Bot {}", sim.token()))
        .json(&command)
        .send()
        .await
        .expect("answer");
    assert_eq!(registered.status().as_u16(), 200);
    let mut client = bot(&sim).await;
    let guild = create_guild(&control).await;
    client.dispatch("GUILD_CREATE").await;

    let invoke = json!({
        "guild": guild["id"], "channel": guild["textChannels"][0], "user": guild["members"]["alice"],
        "command": "play", "options": {"query": "never gonna", "volume": 50, "loop": true},
    });
    let (status, invoked) = control.post("/sim/interactions", &invoke).await;
    assert_eq!(status, 201, "{invoked}");
    let id = invoked["id"].as_str().expect("interaction id").to_owned();
    let path = format!("/sim/interactions/{id}");
    let (status, pending) = control.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(pending["acknowledged"], false);

    let created = client.dispatch("INTERACTION_CREATE").await;
    let data = &created["d"];
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["member"]["user"]["id"], guild["members"]["alice"]);
    assert_eq!(data["data"]["name"], "play");
    let options = data["data"]["options"].as_array().expect("options");
    let option = |name: &str| {
        options
            .iter()
            .find(|option| option["name"] == name)
            .unwrap_or_else(|| panic!("option {name} in {options:?}"))
            .clone()
    };
    assert_eq!(option("query")["value"], "never gonna");
    assert_eq!(option("query")["type"], 3);
    assert_eq!(option("volume")["value"], 50);
    assert_eq!(option("volume")["type"], 4);
    assert_eq!(option("loop")["value"], true);
    assert_eq!(option("loop")["type"], 5);

    let token = data["token"].as_str().expect("token");
    let answered = control
        .http
        .post(format!("{rest}/interactions/{id}/{token}/callback"))
        .json(&json!({"type": 4, "data": {"content": "Playing never gonna"}}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answered.status().as_u16(), 204);

    let (status, record) = control.get(&path).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["acknowledged"], true);
    assert_eq!(record["responseType"], 4);
    assert_eq!(record["deferred"], false);
    assert_eq!(record["content"], "Playing never gonna");
    assert!(record["answeredMs"].is_u64(), "{record}");
    assert_eq!(record["followups"], json!([]));

    let (status, unknown) = control.get("/sim/interactions/123456789012345678").await;
    assert_eq!(status, 404, "{unknown}");
    let (status, garbage) = control.get("/sim/interactions/abc").await;
    assert_eq!(status, 400);
    assert!(garbage["error"].as_str().is_some_and(|e| e.contains("abc")));
    let unregistered = json!({
        "guild": guild["id"], "channel": guild["textChannels"][0], "user": guild["members"]["alice"],
        "command": "skip",
    });
    let (status, error) = control.post("/sim/interactions", &unregistered).await;
    assert_eq!(status, 404);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("skip")));
}

#[tokio::test]
async fn voice_over_http_produces_voice_state_update() {
    let (sim, control) = sim().await;
    let mut client = bot(&sim).await;
    let guild = create_guild(&control).await;
    client.dispatch("GUILD_CREATE").await;
    let alice = &guild["members"]["alice"];
    let music = &guild["voiceChannels"][0];

    let join = json!({"guild": guild["id"], "user": alice, "channel": music});
    let (status, joined) = control.post("/sim/voice", &join).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["changed"], true);
    let update = client.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(update["d"]["user_id"], *alice);
    assert_eq!(update["d"]["channel_id"], *music);
    let (_, state) = control.get("/sim/state").await;
    let voice = &state["guilds"][0]["voice"];
    assert_eq!(*voice, json!([{"userId": alice, "channelId": music}]));

    let leave = json!({"guild": guild["id"], "user": alice, "channel": null});
    let (status, left) = control.post("/sim/voice", &leave).await;
    assert_eq!(status, 200, "{left}");
    let update = client.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(update["d"]["user_id"], *alice);
    assert_eq!(update["d"]["channel_id"], Value::Null);

    let text = json!({"guild": guild["id"], "user": alice, "channel": guild["textChannels"][0]});
    let (status, error) = control.post("/sim/voice", &text).await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("voice")));
}

#[tokio::test]
async fn close_fault_over_http_closes_the_socket_with_its_code() {
    let (sim, control) = sim().await;
    let mut client = bot(&sim).await;
    let (status, answer) = control
        .post(
            "/sim/fault",
            &json!({"kind": "closeConnections", "code": 4000}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["connections"], 1);
    assert_eq!(client.close_code().await, Some(4000));

    let (status, error) = control
        .post(
            "/sim/fault",
            &json!({"kind": "closeConnections", "code": 1005}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("1005")));
}

#[tokio::test]
async fn control_is_not_limited_by_the_faults_it_switches() {
    let (sim, control) = sim().await;
    let fault = json!({"kind": "rateLimitRest", "count": 100, "retryAfterMs": 1000});
    let (status, answer) = control.post("/sim/fault", &fault).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["faults"]["restRateLimited"], 100);
    let limited = control
        .http
        .get(format!("{}/users/@me", sim.rest_base()))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("answer");
    assert_eq!(limited.status().as_u16(), 429);
    for _ in 0..3 {
        assert_eq!(control.get("/sim/state").await.0, 200);
    }
    let (status, healed) = control.post("/sim/fault", &json!({"kind": "heal"})).await;
    assert_eq!(status, 200);
    assert_eq!(healed["faults"]["restRateLimited"], 0);
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let (_sim, control) = sim().await;
    let cases: [(&str, &str, &str); 7] = [
        ("/sim/fault", "not json", "invalid body"),
        ("/sim/fault", r#"{"kind":"explode"}"#, "explode"),
        ("/sim/fault", r#"{"kind":"closeConnections"}"#, "code"),
        ("/sim/guilds", r#"{"textChannels":"two"}"#, "invalid type"),
        ("/sim/guilds", r#"{"voiceChanels":1}"#, "voiceChanels"),
        ("/sim/voice", r#"{"guild":"1","user":"2"}"#, "channel"),
        (
            "/sim/interactions",
            r#"{"guild":"1","channel":"2","user":"3","command":"play","options":{"volume":0.5}}"#,
            "volume",
        ),
    ];
    for (path, body, named) in cases {
        let (status, error) = control.post_raw(path, body).await;
        assert_eq!(status, 400, "{path} {body}: {error}");
        let message = error["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "{path} {body}: {message:?} should name {named:?}"
        );
    }
}

/// A stand-in with `/playlist load name` (autocomplete) registered, a raw bot past its guild's
/// GUILD_CREATE, the guild, and the bot's Authorization header.
async fn components_setup() -> (DiscordSim, Control, RawClient, Value, String) {
    let (sim, control) = sim().await;
    let rest = sim.rest_base();
    let bot_auth = format!("Bot {}", sim.token());
    let command = json!([{
        "type": 1, "name": "playlist", "description": "Playlists",
        "options": [{"type": 1, "name": "load", "description": "Load", "options": [
            {"type": 3, "name": "name", "description": "Which", "autocomplete": true},
        ]}],
    }]);
    let registered = control
        .http
        .put(format!(
            "{rest}/applications/{}/commands",
            sim.application_id()
        ))
        .header("Authorization", &bot_auth)
        .json(&command)
        .send()
        .await
        .expect("answer");
    assert_eq!(registered.status().as_u16(), 200);
    let mut client = bot(&sim).await;
    let guild = create_guild(&control).await;
    client.dispatch("GUILD_CREATE").await;
    (sim, control, client, guild, bot_auth)
}

fn callback_url(rest: &str, data: &Value) -> String {
    format!(
        "{rest}/interactions/{}/{}/callback",
        data["id"].as_str().expect("id"),
        data["token"].as_str().expect("token")
    )
}

#[tokio::test]
async fn autocomplete_over_http() {
    let (sim, control, mut client, guild, _) = components_setup().await;
    let rest = sim.rest_base();
    let (channel, alice) = (
        guild["textChannels"][0].clone(),
        guild["members"]["alice"].clone(),
    );
    let typing = json!({
        "type": "autocomplete", "guild": guild["id"], "channel": channel, "user": alice,
        "command": "playlist", "subcommand": "load", "options": {"name": "ro"}, "focused": "name",
    });
    let (status, invoked) = control.post("/sim/interactions", &typing).await;
    assert_eq!(status, 201, "{invoked}");
    let created = client.dispatch("INTERACTION_CREATE").await["d"].clone();
    assert_eq!(created["type"], 4);
    assert_eq!(
        created["data"]["options"],
        json!([{"name": "load", "type": 1, "options": [
            {"focused": true, "name": "name", "type": 3, "value": "ro"},
        ]}])
    );
    let answered = control
        .http
        .post(callback_url(&rest, &created))
        .json(
            &json!({"type": 8, "data": {"choices": [{"name": "Road trip", "value": "road trip"}]}}),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(answered.status().as_u16(), 204);
    let id = invoked["id"].as_str().expect("id");
    let (_, record) = control.get(&format!("/sim/interactions/{id}")).await;
    assert_eq!(record["responseType"], 8);
    assert_eq!(
        record["choices"],
        json!([{"name": "Road trip", "value": "road trip"}])
    );
    assert_eq!(record["content"], Value::Null);

    let mut unfocused = typing.clone();
    unfocused["focused"] = Value::Null;
    let (status, error) = control.post("/sim/interactions", &unfocused).await;
    assert_eq!(status, 400, "{error}");
    let mut command = typing.clone();
    command["type"] = json!("command");
    let (status, error) = control.post("/sim/interactions", &command).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("focused"))
    );
}

#[tokio::test]
async fn button_press_over_http() {
    let (sim, control, mut client, guild, bot_auth) = components_setup().await;
    let rest = sim.rest_base();
    let (channel, alice) = (
        guild["textChannels"][0].clone(),
        guild["members"]["alice"].clone(),
    );
    // A message with a button, pressed from outside.
    let posted: Value = control
        .http
        .post(format!(
            "{rest}/channels/{}/messages",
            channel.as_str().expect("id")
        ))
        .header("Authorization", &bot_auth)
        .json(
            &json!({"content": "Now playing", "components": [{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Skip", "custom_id": "skip"},
                {"type": 2, "style": 2, "label": "Off", "custom_id": "off", "disabled": true},
            ]}]}),
        )
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("message");
    let press =
        json!({"channel": channel, "message": posted["id"], "user": alice, "customId": "skip"});
    let (status, pressed) = control.post("/sim/components", &press).await;
    assert_eq!(status, 201, "{pressed}");
    let created = client.dispatch("INTERACTION_CREATE").await["d"].clone();
    assert_eq!(created["type"], 3);
    assert_eq!(created["message"]["id"], posted["id"]);
    let answered = control
        .http
        .post(callback_url(&rest, &created))
        .json(&json!({"type": 7, "data": {"content": "Skipped"}}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answered.status().as_u16(), 204);
    let id = pressed["id"].as_str().expect("id");
    let (_, record) = control.get(&format!("/sim/interactions/{id}")).await;
    assert_eq!(record["responseType"], 7);
    assert_eq!(record["updatedMessage"]["id"], posted["id"]);
    assert_eq!(record["updatedMessage"]["content"], "Skipped");
    assert_eq!(record["choices"], Value::Null);

    let refusals = [
        (
            json!({"channel": channel, "message": posted["id"], "user": alice, "customId": "off"}),
            400,
            "disabled",
        ),
        (
            json!({"channel": channel, "message": "1234567890123456789", "user": alice, "customId": "skip"}),
            404,
            "unknown message",
        ),
    ];
    for (body, code, says) in refusals {
        let (status, error) = control.post("/sim/components", &body).await;
        assert_eq!(status, code, "{error}");
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(says)),
            "{error}"
        );
    }
}
