//! The LavaLyrics plugin on the stand-in: its routes, answers and status codes when the node
//! has it, and nothing of it (unknown routes, no plugin in `/v4/info`) when it has not.

mod common;

use common::{GUILD, Rest, connect, encode, manual_node};
use lavalink::model::{ErrorResponse, Info};
use sim::lavalink::{
    LAVALYRICS_PLUGIN, LAVALYRICS_VERSION, LYRICS_PROVIDER, LYRICS_SOURCE, Lyrics, NodeConfig,
    SimNode,
};

async fn lyrics_node() -> (SimNode, clock::ManualClock) {
    let clock = clock::ManualClock::new();
    let node = SimNode::start(
        NodeConfig::default()
            .with_clock(clock.shared())
            .with_lyrics_plugin(),
    )
    .await
    .expect("start node");
    (node, clock)
}

fn error(answer: &common::Answer) -> ErrorResponse {
    serde_json::from_value(answer.body.clone())
        .unwrap_or_else(|e| panic!("not an error body ({e}): {}", answer.text))
}

fn lyrics(answer: &common::Answer) -> Lyrics {
    assert_eq!(answer.status, 200, "{}", answer.text);
    serde_json::from_value(answer.body.clone())
        .unwrap_or_else(|e| panic!("not lyrics ({e}): {}", answer.text))
}

async fn lyrics_of(rest: &Rest, identifier: &str) -> common::Answer {
    let track = rest.load_track(identifier).await;
    rest.get(&format!(
        "/v4/lyrics?track={}&skipTrackSource=false",
        encode(&track.encoded)
    ))
    .await
}

#[tokio::test]
async fn info_lists_the_plugin_only_when_the_node_has_it() {
    let (bare, _clock) = manual_node().await;
    let info: Info =
        serde_json::from_value(Rest::new(&bare).get("/v4/info").await.body).expect("info");
    assert!(info.plugins.is_empty());

    let (node, _clock) = lyrics_node().await;
    let answer = Rest::new(&node).get("/v4/info").await;
    assert_eq!(
        answer.body["plugins"],
        serde_json::json!([{ "name": "lavalyrics-plugin", "version": "1.0.0" }])
    );
    let info: Info = serde_json::from_value(answer.body).expect("info");
    assert_eq!(info.plugins.len(), 1);
    assert_eq!(info.plugins[0].name, LAVALYRICS_PLUGIN);
    assert_eq!(info.plugins[0].version, LAVALYRICS_VERSION);
}

#[tokio::test]
async fn without_the_plugin_the_lyrics_routes_are_unknown_paths() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    rest.connect_voice(session, GUILD).await;
    let track = rest.play(session, GUILD, "sim:lyrics:timed").await;
    for path in [
        format!("/v4/lyrics?track={}", encode(&track.encoded)),
        format!("/v4/sessions/{session}/players/{GUILD}/track/lyrics"),
    ] {
        let answer = rest.get(&path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        let body = error(&answer);
        let bare = path.split('?').next().unwrap_or_default();
        assert_eq!(body.message, format!("No static resource {}.", &bare[1..]));
        assert_eq!(body.path, bare);
        // The same answer as any other unknown path.
        let other = rest.get("/v4/nothing").await;
        assert_eq!(error(&other).error, body.error);
    }
}

#[tokio::test]
async fn lyrics_for_an_encoded_track_found_text_only_and_not_found() {
    let (node, _clock) = lyrics_node().await;
    let rest = Rest::new(&node);

    let answer = lyrics_of(&rest, "sim:lyrics:timed").await;
    let timed = lyrics(&answer);
    assert_eq!(timed.source_name, LYRICS_SOURCE);
    assert_eq!(timed.provider.as_deref(), Some(LYRICS_PROVIDER));
    let lines = timed.lines.expect("timed lines");
    assert!(lines.len() >= 16);
    assert!(lines.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    // Every field is written, nulls included, as kotlinx writes the plugin's `Lyrics`.
    let last = answer.body["lines"]
        .as_array()
        .and_then(|l| l.last())
        .expect("last line");
    assert!(last["duration"].is_null() && last.get("duration").is_some());
    assert!(answer.body["lines"][0]["duration"].is_u64());
    assert_eq!(answer.body["plugin"], serde_json::json!({}));
    assert_eq!(answer.body["lines"][0]["plugin"], serde_json::json!({}));

    let text = lyrics(&lyrics_of(&rest, "sim:lyrics:text").await);
    assert_eq!(text.lines, Some(Vec::new()));
    assert!(text.text.is_some_and(|t| !t.is_empty()));

    let not_found = lyrics_of(&rest, "sim:lyrics:none").await;
    assert_eq!(not_found.status, 204);
    assert!(
        not_found.text.is_empty(),
        "204 has no body: {}",
        not_found.text
    );

    let long = lyrics(&lyrics_of(&rest, "sim:lyrics:long:epic").await);
    assert!(long.text.as_deref().map_or(0, str::len) > 4000);

    // Deterministic, and the same whatever skipTrackSource says.
    let again = lyrics(&lyrics_of(&rest, "sim:lyrics:timed").await);
    assert_eq!(again.text, timed.text);
    let track = rest.load_track("sim:lyrics:timed").await;
    let skipped = rest
        .get(&format!(
            "/v4/lyrics?track={}&skipTrackSource=TRUE",
            encode(&track.encoded)
        ))
        .await;
    assert_eq!(lyrics(&skipped).text, timed.text);
}

#[tokio::test]
async fn tracks_of_every_source_can_have_lyrics() {
    let (node, _clock) = lyrics_node().await;
    let rest = Rest::new(&node);
    for identifier in [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://example.com/song.mp3",
        "ytsearch:lofi beats",
    ] {
        let answer = rest
            .get(&format!("/v4/loadtracks?identifier={}", encode(identifier)))
            .await;
        let encoded = answer.body["data"]["encoded"]
            .as_str()
            .or_else(|| answer.body["data"][0]["encoded"].as_str())
            .expect("a track")
            .to_owned();
        let lyrics = rest
            .get(&format!("/v4/lyrics?track={}", encode(&encoded)))
            .await;
        assert!(
            [200, 204].contains(&lyrics.status),
            "{identifier}: {}",
            lyrics.text
        );
    }
}

#[tokio::test]
async fn lyrics_route_errors_are_the_plugins() {
    let (node, _clock) = lyrics_node().await;
    let rest = Rest::new(&node);
    let missing = rest.get("/v4/lyrics").await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        error(&missing).message,
        "Required parameter 'track' is not present."
    );
    let malformed = rest.get("/v4/lyrics?track=bm90IGEgdHJhY2s").await;
    assert_eq!(malformed.status, 500, "{}", malformed.text);
    let track = rest.load_track("sim:lyrics:timed").await;
    let bad_flag = rest
        .get(&format!(
            "/v4/lyrics?track={}&skipTrackSource=maybe",
            encode(&track.encoded)
        ))
        .await;
    assert_eq!(bad_flag.status, 400, "{}", bad_flag.text);
    assert!(error(&bad_flag).message.contains("skipTrackSource"));
}

#[tokio::test]
async fn lyrics_of_the_playing_track() {
    let (node, _clock) = lyrics_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    let path = format!("/v4/sessions/{session}/players/{GUILD}/track/lyrics");

    let unknown = rest
        .get(&format!("/v4/sessions/nope/players/{GUILD}/track/lyrics"))
        .await;
    assert_eq!(
        (unknown.status, error(&unknown).message.as_str()),
        (404, "Session not found")
    );
    let no_player = rest.get(&path).await;
    assert_eq!(
        (no_player.status, error(&no_player).message.as_str()),
        (404, "Player not found")
    );
    let bad_guild = rest
        .get(&format!("/v4/sessions/{session}/players/abc/track/lyrics"))
        .await;
    assert_eq!(
        (bad_guild.status, error(&bad_guild).message.as_str()),
        (500, "For input string: \"abc\"")
    );
    rest.connect_voice(session, GUILD).await;
    let idle = rest.get(&path).await;
    assert_eq!(
        (idle.status, error(&idle).message.as_str()),
        (404, "No track playing")
    );

    let track = rest.play(session, GUILD, "sim:lyrics:long").await;
    let playing = lyrics(&rest.get(&format!("{path}?skipTrackSource=true")).await);
    let by_track = lyrics(
        &rest
            .get(&format!("/v4/lyrics?track={}", encode(&track.encoded)))
            .await,
    );
    assert_eq!(playing, by_track);

    rest.play(session, GUILD, "sim:lyrics:none").await;
    assert_eq!(rest.get(&path).await.status, 204);
}
