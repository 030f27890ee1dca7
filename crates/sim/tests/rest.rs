//! The REST surface: auth, every endpoint's happy path and error codes, the catalogue.

mod common;

use common::{GUILD, Rest, connect, encode, handshake, manual_node, voice_json};
use http::Method;
use lavalink::model::{
    ErrorResponse, Info, LoadResult, Player, SessionInfo, Severity, Stats, Track,
};
use serde_json::json;

fn error(answer: &common::Answer) -> ErrorResponse {
    serde_json::from_value(answer.body.clone())
        .unwrap_or_else(|e| panic!("not an error body ({e}): {}", answer.text))
}

#[tokio::test]
async fn rest_auth_missing_is_401_wrong_is_403_and_every_answer_has_the_api_version() {
    let (node, _clock) = manual_node().await;
    let missing = Rest::with_password(&node, None).get("/v4/info").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["lavalink-api-version"], "4");
    let wrong = Rest::with_password(&node, Some("nope"))
        .get("/v4/info")
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.headers["lavalink-api-version"], "4");
    let right = Rest::new(&node).get("/v4/info").await;
    assert_eq!(right.status, 200);
    assert_eq!(right.headers["lavalink-api-version"], "4");
    let not_found = Rest::new(&node).get("/v4/nothing").await;
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.headers["lavalink-api-version"], "4");
    assert_eq!(error(&not_found).path, "/v4/nothing");
}

#[tokio::test]
async fn socket_handshake_wrong_or_missing_password_is_401_and_missing_user_id_400() {
    let (node, _clock) = manual_node().await;
    for (password, user, status) in [
        (None, Some("42"), "401"),
        (Some("nope"), Some("42"), "401"),
        (Some(node.password()), None, "400"),
        (Some(node.password()), Some("0"), "400"),
    ] {
        let error = handshake(&node, password, user, None)
            .await
            .err()
            .unwrap_or_else(|| panic!("{password:?}/{user:?} was accepted"));
        assert!(
            format!("{error:?}").contains(status),
            "{error:?} for {password:?}/{user:?}"
        );
    }
    let (_stream, response) = handshake(&node, Some(node.password()), Some("42"), None)
        .await
        .expect("handshake");
    assert_eq!(response.headers()["session-resumed"], "false");
    assert_eq!(response.headers()["lavalink-api-version"], "4");
}

#[tokio::test]
async fn version_info_and_stats() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let version = rest.get("/version").await;
    assert_eq!(version.status, 200);
    assert_eq!(version.text, sim::lavalink::LAVALINK_VERSION);
    assert!(
        version.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let info: Info = serde_json::from_value(rest.get("/v4/info").await.body).expect("info");
    assert_eq!(info.version.major, 4);
    assert_eq!(info.version.semver, "4.2.2");
    assert_eq!(info.lavaplayer, "2.2.6", "what Lavalink 4.2.2 ships");
    assert!(info.filters.contains(&"equalizer".to_owned()));
    let stats = rest.get("/v4/stats").await;
    assert!(stats.body["frameStats"].is_null(), "{}", stats.text);
    let stats: Stats = serde_json::from_value(stats.body).expect("stats");
    assert_eq!(stats.players, 0);
    assert!(stats.frame_stats.is_none());
}

#[tokio::test]
async fn loadtracks_catalogue() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let load = |identifier: &str| {
        let rest = rest.clone();
        let path = format!("/v4/loadtracks?identifier={}", encode(identifier));
        async move {
            let answer = rest.get(&path).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            serde_json::from_value::<LoadResult>(answer.body).expect("load result")
        }
    };
    let LoadResult::Track(track) = load("sim:length:90000").await else {
        panic!("length")
    };
    assert_eq!(track.info.length, 90_000);
    assert_eq!(track.info.source_name, "sim");
    let LoadResult::Track(stream) = load("sim:stream").await else {
        panic!("stream")
    };
    assert!(stream.info.is_stream && !stream.info.is_seekable);
    let LoadResult::Playlist(playlist) = load("sim:playlist:4:mix").await else {
        panic!("playlist")
    };
    assert_eq!(playlist.tracks.len(), 4);
    assert_eq!(playlist.info.selected_track, -1);
    let LoadResult::Search(first) = load("ytsearch:never gonna give").await else {
        panic!("search")
    };
    let LoadResult::Search(again) = load("ytsearch:never gonna give").await else {
        panic!("search")
    };
    assert_eq!(first.len(), 5);
    assert_eq!(first, again, "searches are deterministic");
    assert_eq!(first[0].info.source_name, "youtube");
    let LoadResult::Search(sc) = load("scsearch:lofi").await else {
        panic!("scsearch")
    };
    assert_eq!(sc[0].info.source_name, "soundcloud");
    assert_eq!(load("ytsearch:nomatch").await, LoadResult::Empty);
    assert_eq!(load("sim:empty").await, LoadResult::Empty);
    assert_eq!(load("just words").await, LoadResult::Empty);
    let LoadResult::Track(http) = load("https://example.com/song.mp3").await else {
        panic!("http")
    };
    assert_eq!(http.info.source_name, "http");
    assert!(matches!(
        load("https://example.com/watch?v=a&list=PL9").await,
        LoadResult::Playlist(_)
    ));
    for (severity, expected) in [
        ("common", Severity::Common),
        ("suspicious", Severity::Suspicious),
        ("fault", Severity::Fault),
    ] {
        let LoadResult::Error(exception) = load(&format!("sim:error:{severity}")).await else {
            panic!("error {severity}")
        };
        assert_eq!(exception.severity, expected);
    }
    let missing = rest.get("/v4/loadtracks").await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn decodetrack_and_decodetracks() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let track = rest.load_track("sim:track:decode-me").await;
    let one = rest
        .get(&format!(
            "/v4/decodetrack?encodedTrack={}",
            encode(&track.encoded)
        ))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    let decoded: Track = serde_json::from_value(one.body).expect("track");
    assert_eq!(decoded.info, track.info);
    assert_eq!(decoded.encoded, track.encoded);

    let many = rest
        .call(
            Method::POST,
            "/v4/decodetracks",
            Some(json!([track.encoded, track.encoded])),
        )
        .await;
    assert_eq!(many.status, 200, "{}", many.text);
    let tracks: Vec<Track> = serde_json::from_value(many.body).expect("tracks");
    assert_eq!(tracks.len(), 2);

    let malformed = rest
        .get("/v4/decodetrack?encodedTrack=bm90IGEgdHJhY2s%3D")
        .await;
    assert_eq!(malformed.status, 500, "{}", malformed.text);
    assert_eq!(error(&malformed).status, 500);
    assert_eq!(rest.get("/v4/decodetrack").await.status, 400);
    let empty = rest
        .call(Method::POST, "/v4/decodetracks", Some(json!([])))
        .await;
    assert_eq!(empty.status, 400);
    assert_eq!(error(&empty).message, "No tracks to decode provided");
}

#[tokio::test]
async fn sessions_and_players_404_until_they_exist() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let unknown = rest
        .patch("/v4/sessions/nope", json!({ "resuming": true }))
        .await;
    assert_eq!(unknown.status, 404);
    let body = error(&unknown);
    assert_eq!(body.message, "Session not found");
    assert_eq!(body.error, "Not Found");
    assert_eq!(body.path, "/v4/sessions/nope");
    assert_eq!(rest.get("/v4/sessions/nope/players").await.status, 404);

    let socket = connect(&node).await;
    let session = &socket.session_id;
    let info = rest
        .patch(
            &format!("/v4/sessions/{session}"),
            json!({ "resuming": true, "timeout": 30 }),
        )
        .await;
    assert_eq!(info.status, 200);
    let info: SessionInfo = serde_json::from_value(info.body).expect("session");
    assert_eq!(
        info,
        SessionInfo {
            resuming: true,
            timeout: 30
        }
    );

    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .body,
        json!([])
    );
    let missing = rest
        .get(&format!("/v4/sessions/{session}/players/{GUILD}"))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(error(&missing).message, "Player not found");
    // GET never creates one.
    assert_eq!(
        rest.get(&format!("/v4/sessions/{session}/players"))
            .await
            .body,
        json!([])
    );

    let created = rest.update(session, GUILD, json!({ "volume": 1001 })).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let player: Player = serde_json::from_value(created.body).expect("player");
    assert_eq!(player.volume, 1000, "volume is clamped, not refused");
    assert!(!player.state.connected);
    assert_eq!(player.state.ping, -1);
    let quiet = rest.update(session, GUILD, json!({ "volume": -5 })).await;
    assert_eq!(quiet.body["volume"], 0);
    let listed = rest.get(&format!("/v4/sessions/{session}/players")).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    let deleted = rest
        .delete(&format!("/v4/sessions/{session}/players/{GUILD}"))
        .await;
    assert_eq!(deleted.status, 204);
    let bad_guild = rest
        .get(&format!("/v4/sessions/{session}/players/abc"))
        .await;
    assert_eq!(bad_guild.status, 400);
}

#[tokio::test]
async fn malformed_and_invalid_patches_are_400_with_a_message() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    let cases = [
        // A body that does not read (Spring's HttpMessageNotReadableException): the reason
        // phrase, as Lavalink's sendError(400) without a message gives it.
        (json!({ "volume": "loud" }), "Bad Request"),
        // `track` is not nullable in Lavalink's PlayerUpdate (only `track.encoded` is).
        (json!({ "track": null }), "Bad Request"),
        (
            json!({ "track": null, "voice": voice_json(), "volume": 50 }),
            "Bad Request",
        ),
        (
            json!({ "voice": { "token": "t", "endpoint": "e", "sessionId": "s" } }),
            "token, endpoint, sessionId and channelId must be provided in voice state",
        ),
        (
            json!({ "track": { "identifier": "sim:track:a" }, "encodedTrack": "x" }),
            "Cannot specify both track and encodedTrack/identifier",
        ),
        (
            json!({ "track": { "identifier": "sim:track:a", "encoded": "x" } }),
            "Cannot specify both encodedTrack and identifier",
        ),
        (json!({ "endTime": 0 }), "End time must be greater than 0"),
        (
            json!({ "filters": { "equalizer": [{ "band": 15, "gain": 0.1 }] } }),
            "Equalizer band must be between 0 and 14, got 15",
        ),
        (
            json!({ "filters": { "equalizer": [{ "band": 3, "gain": 1.5 }] } }),
            "Equalizer gain must be between -0.25 and 1.0, got 1.5 for band 3",
        ),
        (
            json!({ "filters": { "timescale": { "speed": -1.0 } } }),
            "Timescale speed must be at least 0.0",
        ),
        (
            json!({ "track": { "identifier": "sim:empty" } }),
            "No matches found for identifier",
        ),
        (
            json!({ "track": { "identifier": "sim:playlist:2" } }),
            "Cannot play a playlist or search result",
        ),
    ];
    for (body, message) in cases {
        let answer = rest.update(session, GUILD, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert_eq!(error(&answer).message, message, "{body}");
    }
    let malformed_track = rest
        .update(session, GUILD, json!({ "track": { "encoded": "AAAA!!" } }))
        .await;
    assert_eq!(malformed_track.status, 500, "{}", malformed_track.text);
    assert_eq!(error(&malformed_track).status, 500);
    let ok = rest
        .update(
            session,
            GUILD,
            json!({ "filters": { "equalizer": [{ "band": 14, "gain": -0.25 }], "timescale": { "speed": 1.2 } }, "voice": voice_json() }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["filters"]["equalizer"][0]["band"], 14);
}

#[tokio::test]
async fn play_by_identifier_and_encoded_from_another_source() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    let by_identifier = rest
        .update(
            session,
            GUILD,
            json!({ "track": { "identifier": "sim:length:1000", "userData": { "requester": 7 } } }),
        )
        .await;
    assert_eq!(by_identifier.status, 200, "{}", by_identifier.text);
    assert_eq!(
        by_identifier.body["track"]["info"]["identifier"],
        "sim:length:1000"
    );
    assert_eq!(by_identifier.body["track"]["userData"]["requester"], 7);

    // A track a client encoded itself, from a source the stand-in has no catalogue for.
    let info = lavalink::model::TrackInfo {
        identifier: "dQw4w9WgXcQ".into(),
        is_seekable: true,
        author: "Rick Astley".into(),
        length: 212_000,
        is_stream: false,
        position: 0,
        title: "Never Gonna Give You Up".into(),
        uri: Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ".into()),
        artwork_url: None,
        isrc: None,
        source_name: "youtube".into(),
    };
    let encoded = lavalink::codec::encode_track(&info).expect("encode");
    let other = rest
        .update(
            session,
            GUILD + 1,
            json!({ "track": { "encoded": encoded } }),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(
        other.body["track"]["info"]["title"],
        "Never Gonna Give You Up"
    );
}

#[tokio::test]
async fn a_null_track_is_refused_while_reading_the_body_before_anything_applies() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    let body = json!({ "track": null, "voice": voice_json(), "volume": 50 });
    // Before the session is looked up, as Spring reads the body first.
    let unknown = rest.update("nosuchsession", GUILD, body.clone()).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    let refused = rest.update(session, GUILD, body).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let refused: ErrorResponse = serde_json::from_value(refused.body).expect("error body");
    assert_eq!(refused.message, "Bad Request");
    assert_eq!(
        refused.path,
        format!("/v4/sessions/{session}/players/{GUILD}")
    );
    let player = rest
        .get(&format!("/v4/sessions/{session}/players/{GUILD}"))
        .await;
    assert_eq!(player.status, 404, "no player was created: {}", player.text);
    // An absent track is no track request at all.
    let volume = rest.update(session, GUILD, json!({ "volume": 50 })).await;
    assert_eq!(volume.status, 200, "{}", volume.text);
    assert!(volume.body["track"].is_null());
}

#[tokio::test]
async fn trace_param_adds_a_stack_trace_to_error_bodies() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let path = "/v4/sessions/xtaug914v9k5032f/players";
    let plain = rest.get(path).await;
    assert_eq!(plain.status, 404);
    assert!(plain.body.get("trace").is_none(), "{}", plain.text);
    for query in [
        "trace=true",
        "trace=TRUE",
        "trace",
        "trace=1",
        "x=1&trace=yes",
    ] {
        let answer = rest.get(&format!("{path}?{query}")).await;
        assert_eq!(answer.status, 404, "{query}");
        let body = error(&answer);
        let trace = body.trace.unwrap_or_default();
        assert!(
            trace.contains("Session not found"),
            "{query}: {}",
            answer.text
        );
        assert_eq!(body.message, "Session not found");
        assert_eq!(body.path, path, "the path without the query");
    }
    for query in ["trace=false", "trace=False", "tracer=true"] {
        let answer = rest.get(&format!("{path}?{query}")).await;
        assert!(
            answer.body.get("trace").is_none(),
            "{query}: {}",
            answer.text
        );
    }
    // Any error answer, any route.
    let missing = rest.get("/v4/loadtracks?trace=true").await;
    assert_eq!(missing.status, 400);
    assert!(error(&missing).trace.is_some(), "{}", missing.text);
    let bad = rest
        .update("nosuchsession", GUILD, json!({ "track": null }))
        .await;
    assert!(error(&bad).trace.is_none());
    let bad = rest
        .patch(
            &format!("/v4/sessions/nosuchsession/players/{GUILD}?trace=true&noReplace=true"),
            json!({ "track": null }),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(error(&bad).trace.is_some(), "{}", bad.text);
}

#[tokio::test]
async fn http_tracks_carry_lavaplayers_probe_info_through_load_decode_and_play() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let socket = connect(&node).await;
    let session = &socket.session_id;
    for (url, probe) in [
        ("https://example.com/music/song.mp3", "mp3"),
        ("https://example.com/music/song.flac?dl=1", "flac"),
        ("http://example.com/radio", "mp3"),
    ] {
        let track = rest.load_track(url).await;
        assert_eq!(track.info.source_name, "http");
        let decoded = lavalink::codec::decode_track(&track.encoded).expect("decode");
        // HttpAudioSourceManager.encodeTrack: the probe info as writeUTF before the position.
        let mut expected = u16::try_from(probe.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        expected.extend_from_slice(probe.as_bytes());
        assert_eq!(decoded.source_data, expected, "{url}");
        assert_eq!(decoded.info, track.info);

        let one = rest
            .get(&format!(
                "/v4/decodetrack?encodedTrack={}",
                encode(&track.encoded)
            ))
            .await;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.body["encoded"], track.encoded.as_str());
        assert_eq!(one.body["info"]["identifier"], url);
    }

    // Played (by encoded track and by identifier), re-encoded with its position: the probe info
    // stays.
    let track = rest.load_track("https://example.com/a.ogg").await;
    let played = rest
        .update(
            session,
            GUILD,
            json!({ "track": { "encoded": track.encoded }, "position": 1500 }),
        )
        .await;
    assert_eq!(played.status, 200, "{}", played.text);
    let encoded = played.body["track"]["encoded"].as_str().expect("encoded");
    let decoded = lavalink::codec::decode_track(encoded).expect("decode");
    assert_eq!(decoded.source_data, b"\0\x03ogg");
    assert_eq!(decoded.info.position, 1500);
    let by_identifier = rest
        .update(
            session,
            GUILD + 1,
            json!({ "track": { "identifier": "https://example.com/b.wav" } }),
        )
        .await;
    assert_eq!(by_identifier.status, 200, "{}", by_identifier.text);
    let encoded = by_identifier.body["track"]["encoded"]
        .as_str()
        .expect("encoded");
    let decoded = lavalink::codec::decode_track(encoded).expect("decode");
    assert_eq!(decoded.source_data, b"\0\x03wav");
}

#[tokio::test]
async fn a_youtube_radio_mix_loads_as_a_playlist_with_its_seed_selected() {
    let (node, _clock) = manual_node().await;
    let rest = Rest::new(&node);
    let seed = rest
        .load_track("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        .await;
    assert_eq!(seed.info.source_name, "youtube");
    let answer = rest
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            encode("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ")
        ))
        .await;
    let LoadResult::Playlist(mix) = serde_json::from_value(answer.body).expect("load result")
    else {
        panic!("not a playlist: {}", answer.text)
    };
    assert_eq!(mix.info.name, format!("Mix - {}", seed.info.title));
    assert_eq!(mix.info.selected_track, 0);
    assert_eq!(mix.tracks.len(), sim::lavalink::MIX_TRACKS);
    assert_eq!(mix.tracks[0].info.identifier, "dQw4w9WgXcQ");
    let ids: std::collections::HashSet<_> = mix.tracks.iter().map(|t| &t.info.identifier).collect();
    assert_eq!(ids.len(), mix.tracks.len());
    let LoadResult::Search(by_artist) =
        rest_load(&rest, &format!("ytsearch:{}", seed.info.author)).await
    else {
        panic!("not a search")
    };
    assert!(by_artist.iter().all(|t| t.info.author == seed.info.author));
}

async fn rest_load(rest: &Rest, identifier: &str) -> LoadResult {
    let answer = rest
        .get(&format!("/v4/loadtracks?identifier={}", encode(identifier)))
        .await;
    serde_json::from_value(answer.body).expect("load result")
}
