//! The gateway protocol seen from a raw WebSocket client: transport compression other than the
//! zstd twilight uses (zlib-stream, none), the payload framing, and the close codes.

mod discord_support;

use discord_support::{RawClient, identify, start};
use serde_json::json;
use sim::discord::{DiscordConfig, DiscordSim, GuildSpec};

async fn sim_with_guild() -> DiscordSim {
    let sim = start(DiscordConfig::default()).await;
    sim.create_guild(&GuildSpec::default()).expect("guild");
    sim
}

async fn identified(
    sim: &DiscordSim,
    compression: Option<&'static str>,
) -> (RawClient, serde_json::Value) {
    let mut client = RawClient::connect(sim, compression).await;
    let hello = client.payload().await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 41_250);
    client.send(&identify(sim.token(), 1 | 1 << 7)).await;
    let ready = client.dispatch("READY").await;
    (client, ready)
}

#[tokio::test]
async fn zlib_stream_is_one_context_flushed_per_message() {
    let sim = sim_with_guild().await;
    let (mut client, ready) = identified(&sim, Some("zlib-stream")).await;
    assert_eq!(ready["s"], 1);
    assert_eq!(ready["d"]["v"], 10);
    let guild = client.dispatch("GUILD_CREATE").await;
    assert_eq!(guild["s"], 2);
    assert_eq!(
        guild["d"]["channels"].as_array().expect("channels").len(),
        3
    );
    client.send(&json!({"op": 1, "d": 2})).await;
    assert_eq!(client.payload().await["op"], 11);
    assert_eq!(sim.connections()[0].compression, "zlib-stream");
}

#[tokio::test]
async fn zstd_stream_and_plain_text_work_too() {
    // Two rate-limit buckets, so that the second client may identify at once (Discord allows
    // one identify per 5 s per bucket).
    let sim = start(DiscordConfig {
        max_concurrency: 2,
        ..DiscordConfig::default()
    })
    .await;
    sim.create_guild(&GuildSpec::default()).expect("guild");
    let (mut zstd, _) = identified(&sim, Some("zstd-stream")).await;
    zstd.dispatch("GUILD_CREATE").await;
    let mut text = RawClient::connect(&sim, None).await;
    assert_eq!(text.payload().await["op"], 10);
    let mut second = identify(sim.token(), 1 | 1 << 7);
    second["d"]["shard"] = json!([1, 2]);
    text.send(&second).await;
    assert_eq!(text.dispatch("READY").await["d"]["shard"], json!([1, 2]));
    text.send(&json!({"op": 1, "d": null})).await;
    // The ACK, after the guild's GUILD_CREATE if the guild is on shard 1.
    let mut payload = text.payload().await;
    if payload["op"] == 0 {
        assert_eq!(payload["t"], "GUILD_CREATE");
        payload = text.payload().await;
    }
    assert_eq!(payload["op"], 11);
}

#[tokio::test]
async fn resume_replays_from_the_given_sequence_then_resumed() {
    let sim = sim_with_guild().await;
    let (mut client, ready) = identified(&sim, None).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    client.dispatch("GUILD_CREATE").await;
    drop(client); // no close frame: the session stays resumable

    let mut again = RawClient::connect(&sim, None).await;
    again.payload().await; // Hello
    again
        .send(&json!({"op": 6, "d": {"token": sim.token(), "session_id": session_id, "seq": 1}}))
        .await;
    let replayed = again.payload().await;
    assert_eq!(replayed["t"], "GUILD_CREATE");
    assert_eq!(replayed["s"], 2);
    let resumed = again.payload().await;
    assert_eq!(resumed["t"], "RESUMED");
    assert_eq!(resumed["s"], 3);
}

#[tokio::test]
async fn resume_of_unknown_session_gets_invalid_session_false() {
    let sim = sim_with_guild().await;
    let mut client = RawClient::connect(&sim, None).await;
    client.payload().await;
    client
        .send(&json!({"op": 6, "d": {"token": sim.token(), "session_id": "nope", "seq": 3}}))
        .await;
    let invalid = client.payload().await;
    assert_eq!(invalid["op"], 9);
    assert_eq!(invalid["d"], false);
}

async fn close_code_after(
    sim: &DiscordSim,
    query: Option<&str>,
    payloads: &[serde_json::Value],
) -> Option<u16> {
    let mut client = match query {
        Some(query) => RawClient::connect_query(sim, query, None).await,
        None => RawClient::connect(sim, None).await,
    };
    for payload in payloads {
        client.send(payload).await;
    }
    client.close_code().await
}

#[tokio::test]
async fn close_codes_have_discords_meanings() {
    let sim = sim_with_guild().await;
    let token = sim.token().to_owned();
    let cases: Vec<(u16, Option<&str>, Vec<serde_json::Value>)> = vec![
        (4001, None, vec![json!({"op": 99, "d": null})]),
        (4002, None, vec![json!({"d": "no op"})]),
        // "an invalid payload for an opcode" is 4001 (Opcodes and Status Codes).
        (4001, None, vec![json!({"op": 2, "d": {"token": token}})]),
        (4002, None, vec![json!({"op": "2", "d": null})]),
        (
            4003,
            None,
            vec![
                json!({"op": 4, "d": {"guild_id": "1", "channel_id": null, "self_mute": false, "self_deaf": false}}),
            ],
        ),
        (4004, None, vec![identify("wrong", 1)]),
        (4005, None, vec![identify(&token, 1), identify(&token, 1)]),
        (
            4010,
            None,
            vec![{
                let mut payload = identify(&token, 1);
                payload["d"]["shard"] = json!([2, 2]);
                payload
            }],
        ),
        (4013, None, vec![identify(&token, 1 << 40)]),
        (4014, None, vec![identify(&token, 1 << 1)]),
        (4012, Some("v=9&encoding=json"), vec![]),
    ];
    for (expected, query, payloads) in cases {
        let code = close_code_after(&sim, query, &payloads).await;
        assert_eq!(code, Some(expected), "payloads {payloads:?}");
    }
}

#[tokio::test]
async fn resume_with_a_sequence_never_sent_is_4007() {
    let sim = sim_with_guild().await;
    let (mut client, ready) = identified(&sim, None).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    client.dispatch("GUILD_CREATE").await;
    drop(client);
    let code = close_code_after(
        &sim,
        None,
        &[json!({"op": 6, "d": {"token": sim.token(), "session_id": session_id, "seq": 99}})],
    )
    .await;
    assert_eq!(code, Some(4007));
}

#[tokio::test]
async fn too_many_commands_close_with_4008() {
    let config = DiscordConfig {
        gateway_rate_limit: Some((5, std::time::Duration::from_secs(60))),
        ..DiscordConfig::default()
    };
    let sim = start(config).await;
    let heartbeats: Vec<_> = (0..6).map(|_| json!({"op": 1, "d": null})).collect();
    assert_eq!(close_code_after(&sim, None, &heartbeats).await, Some(4008));
}

/// Discord's identify limits: one identify per 5 s in each `max_concurrency` bucket
/// (`shard % max_concurrency`), answered past it with Invalid Session (op 9, not resumable) and
/// counted as a refusal; shards of different buckets identify at once.
#[tokio::test]
async fn a_second_identify_in_a_bucket_within_five_seconds_is_refused_with_op_9() {
    let sim = start(DiscordConfig {
        recommended_shards: 4,
        max_concurrency: 2,
        ..DiscordConfig::default()
    })
    .await;
    let sharded = |shard: u32| {
        let mut payload = identify(sim.token(), 1);
        payload["d"]["shard"] = json!([shard, 4]);
        payload
    };
    // Shards 0 and 1: buckets 0 and 1, both accepted.
    for shard in [0, 1] {
        let mut client = RawClient::connect(&sim, None).await;
        client.payload().await; // Hello
        client.send(&sharded(shard)).await;
        client.dispatch("READY").await;
    }
    assert_eq!((sim.identify_count(), sim.identify_refusals()), (2, 0));
    // Shard 2 is bucket 0 again, within 5 s of shard 0: refused.
    let mut client = RawClient::connect(&sim, None).await;
    client.payload().await; // Hello
    client.send(&sharded(2)).await;
    let refused = client.payload().await;
    assert_eq!(
        (refused["op"].clone(), refused["d"].clone()),
        (json!(9), json!(false))
    );
    assert_eq!((sim.identify_count(), sim.identify_refusals()), (2, 1));
}

/// Past `session_start_limit.total`, an identify is refused (op 9) and `GET /gateway/bot` says no
/// session start remains.
#[tokio::test]
async fn identifies_past_the_session_start_limit_are_refused() {
    let sim = start(DiscordConfig {
        recommended_shards: 2,
        max_concurrency: 2,
        session_start_total: 1,
        ..DiscordConfig::default()
    })
    .await;
    for (shard, accepted) in [(0, true), (1, false)] {
        let mut payload = identify(sim.token(), 1);
        payload["d"]["shard"] = json!([shard, 2]);
        let mut client = RawClient::connect(&sim, None).await;
        client.payload().await; // Hello
        client.send(&payload).await;
        if accepted {
            client.dispatch("READY").await;
        } else {
            assert_eq!(client.payload().await["op"], 9);
        }
    }
    assert_eq!((sim.identify_count(), sim.identify_refusals()), (1, 1));
    let gateway: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/gateway/bot", sim.rest_base()))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("GET /gateway/bot")
        .json()
        .await
        .expect("JSON");
    assert_eq!(gateway["session_start_limit"]["remaining"], 0);
}
