//! The gateway commands a client may send besides Identify, Resume, Heartbeat and Update Voice
//! State, answered as Discord documents them (Gateway Events, "Send Events"): Request Guild
//! Members (op 8) → GUILD_MEMBERS_CHUNK (or RATE_LIMITED), Request Soundboard Sounds (op 31) →
//! SOUNDBOARD_SOUNDS, Update Presence (op 3) accepted silently; malformed ones close with 4001 ("an invalid payload for an
//! opcode", Opcodes and Status Codes).

mod discord_support;

use discord_support::{RawClient, identify, start};
use serde_json::{Value, json};
use sim::discord::{DiscordConfig, DiscordSim, GuildInfo, GuildSpec};
use twilight_model::gateway::Intents;

/// GUILDS | GUILD_VOICE_STATES.
const UNPRIVILEGED: u64 = 1 | 1 << 7;
/// ... | GUILD_MEMBERS.
const WITH_MEMBERS: u64 = UNPRIVILEGED | 1 << 1;

async fn connected(intents: u64, spec: &GuildSpec) -> (DiscordSim, GuildInfo, RawClient) {
    let config = DiscordConfig::default().with_privileged_intents(Intents::GUILD_MEMBERS);
    let sim = start(config).await;
    let guild = sim.create_guild(spec).expect("guild");
    let mut client = RawClient::connect(&sim, None).await;
    assert_eq!(client.payload().await["op"], 10);
    client.send(&identify(sim.token(), intents)).await;
    client.dispatch("GUILD_CREATE").await;
    (sim, guild, client)
}

/// The next payload after `command`, proven to be its answer or nothing: a heartbeat follows the
/// command, so its ACK comes after whatever the command caused.
async fn answers(client: &mut RawClient, command: Value) -> Vec<Value> {
    client.send(&command).await;
    client.send(&json!({"op": 1, "d": null})).await;
    let mut answers = Vec::new();
    loop {
        let payload = client.payload().await;
        if payload["op"] == 11 {
            return answers;
        }
        answers.push(payload);
    }
}

fn member_ids(chunk: &Value) -> Vec<String> {
    chunk["d"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member["user"]["id"].as_str().expect("user id").to_owned())
        .collect()
}

#[tokio::test]
async fn request_guild_members_by_user_ids_answers_one_chunk_with_not_found_and_the_nonce() {
    let (_sim, guild, mut client) = connected(UNPRIVILEGED, &GuildSpec::default()).await;
    let alice = guild.member("alice").expect("alice").to_string();
    let request = json!({"op": 8, "d": {"guild_id": guild.id.to_string(),
        "user_ids": [alice, "42"], "nonce": "n-1"}});
    let chunks = answers(&mut client, request).await;
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    let chunk = &chunks[0];
    assert_eq!(chunk["t"], "GUILD_MEMBERS_CHUNK");
    assert_eq!(chunk["d"]["guild_id"], guild.id.to_string());
    assert_eq!(member_ids(chunk), vec![alice.clone()]);
    assert_eq!(chunk["d"]["members"][0]["roles"], json!([]));
    assert_eq!(chunk["d"]["not_found"], json!(["42"]));
    assert_eq!(
        (
            chunk["d"]["chunk_index"].clone(),
            chunk["d"]["chunk_count"].clone()
        ),
        (json!(0), json!(1))
    );
    assert_eq!(chunk["d"]["nonce"], "n-1");
    assert!(
        chunk["d"].get("presences").is_none(),
        "presences only when asked"
    );
}

#[tokio::test]
async fn a_query_matches_username_prefixes_up_to_the_limit_and_long_nonces_are_dropped() {
    let spec = GuildSpec::default().member("alina", &[]);
    let (_sim, guild, mut client) = connected(UNPRIVILEGED, &spec).await;
    let request = json!({"op": 8, "d": {"guild_id": guild.id.to_string(), "query": "AL",
        "limit": 1, "presences": true, "nonce": "x".repeat(33)}});
    let chunks = answers(&mut client, request).await;
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["d"]["members"].as_array().map(Vec::len), Some(1));
    assert!(
        chunks[0]["d"].get("nonce").is_none(),
        "a nonce over 32 bytes is ignored"
    );
    // presences: true without GUILD_PRESENCES is as if false.
    assert!(chunks[0]["d"].get("presences").is_none());
    let request =
        json!({"op": 8, "d": {"guild_id": guild.id.to_string(), "query": "al", "limit": 10}});
    let mut found = member_ids(&answers(&mut client, request).await[0]);
    found.sort();
    let mut expected = vec![
        guild.member("alice").expect("alice").to_string(),
        guild.member("alina").expect("alina").to_string(),
    ];
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn every_member_needs_the_guild_members_intent() {
    let (_sim, guild, mut client) = connected(UNPRIVILEGED, &GuildSpec::default()).await;
    let request =
        json!({"op": 8, "d": {"guild_id": guild.id.to_string(), "query": "", "limit": 0}});
    assert_eq!(answers(&mut client, request).await, Vec::<Value>::new());
}

#[tokio::test]
async fn every_member_comes_in_chunks_of_1000_and_a_second_request_within_30_s_is_rate_limited() {
    let mut spec = GuildSpec::default();
    for index in 0..1500 {
        spec = spec.member(format!("user{index}"), &[]);
    }
    let (_sim, guild, mut client) = connected(WITH_MEMBERS, &spec).await;
    let request = json!({"op": 8, "d": {"guild_id": guild.id.to_string(), "query": "", "limit": 0,
        "nonce": "all"}});
    let chunks = answers(&mut client, request.clone()).await;
    let sizes: Vec<_> = chunks
        .iter()
        .map(|chunk| chunk["d"]["members"].as_array().map_or(0, Vec::len))
        .collect();
    // 1500 users, alice, bob, the owner and the bot.
    assert_eq!(sizes, vec![1000, 504]);
    for (index, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk["d"]["chunk_index"], index);
        assert_eq!(chunk["d"]["chunk_count"], 2);
        assert_eq!(chunk["d"]["nonce"], "all");
    }
    let limited = answers(&mut client, request).await;
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["t"], "RATE_LIMITED");
    let data = &limited[0]["d"];
    assert_eq!(data["opcode"], 8);
    assert!(
        data["retry_after"]
            .as_f64()
            .is_some_and(|s| s > 0.0 && s <= 30.0),
        "{data}"
    );
    assert_eq!(
        data["meta"],
        json!({"guild_id": guild.id.to_string(), "nonce": "all"})
    );
    // Requests by id or query are not limited.
    let by_query =
        json!({"op": 8, "d": {"guild_id": guild.id.to_string(), "query": "bob", "limit": 5}});
    assert_eq!(
        answers(&mut client, by_query).await[0]["t"],
        "GUILD_MEMBERS_CHUNK"
    );
}

#[tokio::test]
async fn soundboard_sounds_are_answered_per_guild_and_presence_updates_silently() {
    let (_sim, guild, mut client) = connected(UNPRIVILEGED, &GuildSpec::default()).await;
    let request = json!({"op": 31, "d": {"guild_ids": [guild.id.to_string(), "42"]}});
    let sounds = answers(&mut client, request).await;
    assert_eq!(sounds.len(), 1, "an unknown guild gets nothing");
    assert_eq!(sounds[0]["t"], "SOUNDBOARD_SOUNDS");
    assert_eq!(
        sounds[0]["d"],
        json!({"soundboard_sounds": [], "guild_id": guild.id.to_string()})
    );
    let presence = json!({"op": 3, "d": {"since": null, "activities": [{"name": "music", "type": 2}],
        "status": "online", "afk": false}});
    assert_eq!(answers(&mut client, presence).await, Vec::<Value>::new());
}

#[tokio::test]
async fn malformed_commands_close_with_4001() {
    let sim = start(DiscordConfig::default()).await;
    let guild = sim.create_guild(&GuildSpec::default()).expect("guild");
    let g = guild.id.to_string();
    let cases = [
        json!({"op": 3, "d": {"since": null, "activities": [], "status": "asleep", "afk": false}}),
        json!({"op": 3, "d": {"status": "online"}}),
        json!({"op": 8, "d": {"guild_id": g}}),
        json!({"op": 8, "d": {"query": ""}}),
        json!({"op": 31, "d": {}}),
    ];
    for (index, payload) in cases.iter().enumerate() {
        let mut client = RawClient::connect(&sim, None).await;
        client.payload().await; // Hello
        if index == 0 {
            client.send(&identify(sim.token(), UNPRIVILEGED)).await;
            client.dispatch("GUILD_CREATE").await;
        } else {
            // The session of the first connection is resumed: no new identify (5 s apart).
            let session = sim.sessions()[0].id.clone();
            let seq = sim.sessions()[0].seq;
            client
                .send(&json!({"op": 6, "d": {"token": sim.token(), "session_id": session, "seq": seq}}))
                .await;
            client.dispatch("RESUMED").await;
        }
        client.send(payload).await;
        assert_eq!(client.close_code().await, Some(4001), "{payload}");
    }
}

/// `large` follows Identify's `large_threshold` (default 50, between 50 and 250); with
/// GUILD_PRESENCES a large guild's GUILD_CREATE lists only members online (nobody, here), with a
/// role, a nickname or in voice, plus the bot.
#[tokio::test]
async fn a_guild_is_large_past_the_identify_large_threshold() {
    let mut spec = GuildSpec::default();
    for index in 0..60 {
        spec = spec.member(format!("user{index}"), &[]);
    }
    let sim = start(DiscordConfig {
        max_concurrency: 4,
        ..DiscordConfig::default().with_privileged_intents(Intents::GUILD_PRESENCES)
    })
    .await;
    // (id >> 22) = 6: shard 0 of 1, 2 of 4, 1 of 5, three identify buckets.
    let guild = sim.create_guild(&spec.with_id(6 << 22)).expect("guild");
    let presences = UNPRIVILEGED | 1 << 8;
    let cases = [
        ([0, 1], None, UNPRIVILEGED, true, 1),
        ([2, 4], Some(250), UNPRIVILEGED, false, 1),
        ([1, 5], None, presences, true, 2),
    ];
    for (shard, threshold, intents, large, members) in cases {
        let mut client = RawClient::connect(&sim, None).await;
        client.payload().await; // Hello
        let mut payload = identify(sim.token(), intents);
        payload["d"]["shard"] = json!(shard);
        if let Some(threshold) = threshold {
            payload["d"]["large_threshold"] = json!(threshold);
        }
        client.send(&payload).await;
        let created = client.dispatch("GUILD_CREATE").await;
        assert_eq!(created["d"]["id"], guild.id.to_string());
        assert_eq!(created["d"]["large"], large, "threshold {threshold:?}");
        assert_eq!(created["d"]["member_count"], 64);
        // The bot (and, with presences, the owner, who has a role).
        assert_eq!(
            created["d"]["members"].as_array().map(Vec::len),
            Some(members)
        );
    }
}
