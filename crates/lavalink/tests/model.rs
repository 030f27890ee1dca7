//! The wire model against example payloads in the shape of Lavalink v4's documentation, plus the
//! forward-compatibility rules: unknown fields are ignored, unknown ops/types/loadTypes are kept raw.

use lavalink::model::{
    Event, Filters, GuildId, IncomingMessage, LoadResult, MessageError, Player, Severity, Stats,
    TrackEndReason, UpdatePlayer, UpdatePlayerTrack, VoiceState,
};
use serde_json::{Value, json};

const TRACK: &str = r#"{
  "encoded": "QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==",
  "info": {
    "identifier": "dQw4w9WgXcQ",
    "isSeekable": true,
    "author": "RickAstleyVEVO",
    "length": 212000,
    "isStream": false,
    "position": 0,
    "title": "Rick Astley - Never Gonna Give You Up",
    "uri": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "artworkUrl": "https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg",
    "isrc": null,
    "sourceName": "youtube"
  },
  "pluginInfo": {},
  "userData": {}
}"#;

fn track() -> Value {
    serde_json::from_str(TRACK).expect("track sample")
}

#[test]
fn ready_stats_and_player_update_parse() {
    let ready = IncomingMessage::from_json(
        r#"{"op":"ready","resumed":false,"sessionId":"la3kfsdf5eafe848"}"#,
    )
    .expect("ready");
    let IncomingMessage::Ready(ready) = ready else {
        panic!("not ready: {ready:?}")
    };
    assert_eq!(ready.session_id, "la3kfsdf5eafe848");
    assert!(!ready.resumed);

    let stats = r#"{"op":"stats","players":1,"playingPlayers":1,"uptime":123456789,
        "memory":{"free":123456789,"used":123456789,"allocated":123456789,"reservable":123456789},
        "cpu":{"cores":4,"systemLoad":0.5,"lavalinkLoad":0.5},
        "frameStats":{"sent":6000,"nulled":10,"deficit":-3010}}"#;
    let IncomingMessage::Stats(stats) = IncomingMessage::from_json(stats).expect("stats") else {
        panic!("not stats")
    };
    assert_eq!(stats.playing_players, 1);
    assert_eq!(stats.frame_stats.map(|f| f.deficit), Some(-3010));

    let update = r#"{"op":"playerUpdate","guildId":"817327181659111454",
        "state":{"time":1500467109,"position":60000,"connected":true,"ping":50}}"#;
    let IncomingMessage::PlayerUpdate(update) = IncomingMessage::from_json(update).expect("update")
    else {
        panic!("not playerUpdate")
    };
    assert_eq!(update.guild_id, GuildId(817_327_181_659_111_454));
    assert_eq!(update.state.position, 60_000);
    assert_eq!(update.state.ping, 50);
}

#[test]
fn rest_stats_have_null_frame_stats() {
    let stats: Stats = serde_json::from_value(json!({
        "players": 0, "playingPlayers": 0, "uptime": 1,
        "memory": {"free": 1, "used": 2, "allocated": 3, "reservable": 4},
        "cpu": {"cores": 2, "systemLoad": 0.1, "lavalinkLoad": 0.05},
        "frameStats": null
    }))
    .expect("stats");
    assert_eq!(stats.frame_stats, None);
}

#[test]
fn every_event_type_parses() {
    let guild = "817327181659111454";
    let with = |kind: &str, extra: Value| {
        let mut body = json!({"op": "event", "type": kind, "guildId": guild, "track": track()});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        IncomingMessage::from_json(&body.to_string()).expect(kind)
    };
    let IncomingMessage::Event(Event::TrackStart(start)) = with("TrackStartEvent", json!({}))
    else {
        panic!("start")
    };
    assert_eq!(start.track.info.length, 212_000);

    for (wire, reason) in [
        ("finished", TrackEndReason::Finished),
        ("loadFailed", TrackEndReason::LoadFailed),
        ("stopped", TrackEndReason::Stopped),
        ("replaced", TrackEndReason::Replaced),
        ("cleanup", TrackEndReason::Cleanup),
        ("somethingNew", TrackEndReason::Unknown),
    ] {
        let IncomingMessage::Event(Event::TrackEnd(end)) =
            with("TrackEndEvent", json!({"reason": wire}))
        else {
            panic!("end")
        };
        assert_eq!(end.reason, reason);
        assert_eq!(
            end.reason.may_start_next(),
            matches!(wire, "finished" | "loadFailed"),
            "{wire}"
        );
    }

    let IncomingMessage::Event(Event::TrackException(exception)) = with(
        "TrackExceptionEvent",
        json!({"exception": {"message": "boom", "severity": "suspicious", "cause": "java.lang.Exception: boom"}}),
    ) else {
        panic!("exception")
    };
    assert_eq!(exception.exception.severity, Severity::Suspicious);

    let IncomingMessage::Event(Event::TrackStuck(stuck)) =
        with("TrackStuckEvent", json!({"thresholdMs": 10000}))
    else {
        panic!("stuck")
    };
    assert_eq!(stuck.threshold_ms, 10_000);

    let closed = json!({"op":"event","type":"WebSocketClosedEvent","guildId":guild,
        "code":4006,"reason":"Your session is no longer valid.","byRemote":true});
    let IncomingMessage::Event(Event::WebSocketClosed(closed)) =
        IncomingMessage::from_json(&closed.to_string()).expect("closed")
    else {
        panic!("closed")
    };
    assert_eq!(closed.code, 4006);
    assert!(closed.by_remote);
}

#[test]
fn unknown_op_and_event_type_are_kept_raw() {
    let raw = r#"{"op":"somethingNew","value":42}"#;
    let IncomingMessage::Unknown(value) = IncomingMessage::from_json(raw).expect("unknown op")
    else {
        panic!("not unknown")
    };
    assert_eq!(value["value"], 42);

    let raw = r#"{"op":"event","type":"SegmentSkipped","guildId":"1","segment":{}}"#;
    let IncomingMessage::Event(event) = IncomingMessage::from_json(raw).expect("unknown event")
    else {
        panic!("not an event")
    };
    assert!(matches!(event, Event::Unknown(_)));
    assert_eq!(event.guild_id(), Some(GuildId(1)));
}

#[test]
fn unknown_fields_are_ignored() {
    let raw = r#"{"op":"ready","resumed":true,"sessionId":"abc","newField":[1,2,3]}"#;
    assert!(matches!(
        IncomingMessage::from_json(raw),
        Ok(IncomingMessage::Ready(_))
    ));
}

#[test]
fn malformed_messages_are_typed_errors() {
    assert!(matches!(
        IncomingMessage::from_json("{not json"),
        Err(MessageError::Malformed(_))
    ));
    assert!(matches!(
        IncomingMessage::from_json(r#"{"no":"op"}"#),
        Err(MessageError::Malformed(_))
    ));
    let invalid = IncomingMessage::from_json(r#"{"op":"playerUpdate","guildId":"x","state":{}}"#);
    assert!(
        matches!(&invalid, Err(MessageError::Invalid { kind, .. }) if kind == "playerUpdate"),
        "{invalid:?}"
    );
}

#[test]
fn messages_round_trip_through_to_json() {
    let samples = [
        r#"{"op":"ready","resumed":false,"sessionId":"s1"}"#.to_owned(),
        r#"{"op":"playerUpdate","guildId":"5","state":{"time":1,"position":2,"connected":false,"ping":-1}}"#
            .to_owned(),
        json!({"op":"event","type":"TrackEndEvent","guildId":"5","track":track(),"reason":"finished"})
            .to_string(),
    ];
    for sample in samples {
        let parsed = IncomingMessage::from_json(&sample).expect("parse");
        let again = IncomingMessage::from_json(&parsed.to_json()).expect("reparse");
        assert_eq!(parsed, again);
    }
}

#[test]
fn every_load_type_parses() {
    let result: LoadResult =
        serde_json::from_value(json!({"loadType": "track", "data": track()})).expect("track");
    assert_eq!(result.tracks().len(), 1);

    let playlist = json!({"loadType": "playlist", "data": {
        "info": {"name": "Example YouTube Playlist", "selectedTrack": 3},
        "pluginInfo": {}, "tracks": [track(), track()]}});
    let result: LoadResult = serde_json::from_value(playlist).expect("playlist");
    let LoadResult::Playlist(playlist) = &result else {
        panic!("playlist")
    };
    assert_eq!(playlist.info.selected_track, 3);
    assert_eq!(result.tracks().len(), 2);

    let result: LoadResult =
        serde_json::from_value(json!({"loadType": "search", "data": [track()]})).expect("search");
    assert_eq!(result.load_type(), "search");

    let result: LoadResult =
        serde_json::from_value(json!({"loadType": "empty", "data": {}})).expect("empty");
    assert_eq!(result, LoadResult::Empty);

    let result: LoadResult = serde_json::from_value(json!({"loadType": "error", "data": {
        "message": "The uploader has not made this video available in your country.",
        "severity": "common", "cause": "com.sedmelluq.discord.lavaplayer.tools.FriendlyException"}}))
    .expect("error");
    let LoadResult::Error(exception) = result else {
        panic!("error")
    };
    assert_eq!(exception.severity, Severity::Common);

    let result: LoadResult =
        serde_json::from_value(json!({"loadType": "future", "data": 1})).expect("unknown");
    assert!(matches!(result, LoadResult::Unknown(_)));

    // And back: what we serialize is what a node would send.
    let back = serde_json::to_value(LoadResult::Empty).expect("serialize");
    assert_eq!(back, json!({"loadType": "empty", "data": {}}));
}

#[test]
fn player_parses_with_filters() {
    let player: Player = serde_json::from_value(json!({
        "guildId": "817327181659111454",
        "track": track(),
        "volume": 100,
        "paused": false,
        "state": {"time": 1_500_467_109, "position": 60000, "connected": true, "ping": 50},
        "voice": {"token": "...", "endpoint": "...", "sessionId": "...", "channelId": "123"},
        "filters": {"volume": 1.0, "equalizer": [{"band": 0, "gain": 0.2}],
            "timescale": {"speed": 1.2}, "lowPass": {"smoothing": 20.0},
            "pluginFilters": {"echo": {"delay": 1}}}
    }))
    .expect("player");
    assert!(player.voice.is_complete());
    assert_eq!(player.filters.equalizer.as_ref().map(Vec::len), Some(1));
    assert_eq!(player.filters.timescale.and_then(|t| t.speed), Some(1.2));
    assert!(player.filters.plugin_filters.contains_key("echo"));
}

#[test]
fn update_player_serializes_only_what_is_set_and_null_where_asked() {
    let update = UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded("abc"))),
        position: Some(1234),
        paused: Some(false),
        volume: Some(80),
        filters: Some(Filters::default()),
        voice: Some(VoiceState {
            token: "t".into(),
            endpoint: "e".into(),
            session_id: "s".into(),
            channel_id: Some("1".into()),
        }),
        ..UpdatePlayer::default()
    };
    let value = serde_json::to_value(&update).expect("serialize");
    assert_eq!(
        value,
        json!({"track": {"encoded": "abc"}, "position": 1234, "paused": false, "volume": 80,
            "filters": {}, "voice": {"token": "t", "endpoint": "e", "sessionId": "s", "channelId": "1"}})
    );

    let stop = UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::stop())),
        end_time: Some(None),
        ..UpdatePlayer::default()
    };
    let value = serde_json::to_value(&stop).expect("serialize");
    assert_eq!(value, json!({"track": {"encoded": null}, "endTime": null}));
    let back: UpdatePlayer = serde_json::from_value(value).expect("deserialize");
    assert_eq!(back, stop);

    let empty = serde_json::to_value(UpdatePlayer::default()).expect("serialize");
    assert_eq!(empty, json!({}));

    // `"track": null` (which a node refuses) is not the same as leaving `track` out.
    let null_track: UpdatePlayer =
        serde_json::from_value(json!({"track": null})).expect("deserialize");
    assert_eq!(null_track.track, Some(None));
    assert_eq!(
        serde_json::to_value(&null_track).expect("serialize"),
        json!({"track": null})
    );
    let absent: UpdatePlayer = serde_json::from_value(json!({"volume": 5})).expect("deserialize");
    assert_eq!(absent.track, None);
}

#[test]
fn voice_state_without_channel_is_incomplete() {
    let voice = VoiceState {
        token: "t".into(),
        endpoint: "e".into(),
        session_id: "s".into(),
        channel_id: None,
    };
    assert!(!voice.is_complete());
}

#[test]
fn a_track_of_unknown_length_loads() {
    // NodeLink 2.3.0 reports local files with `length: -1`; streams carry Long.MAX_VALUE.
    let mut local = track();
    local["info"]["length"] = json!(-1);
    local["info"]["isSeekable"] = json!(false);
    let result: LoadResult = serde_json::from_value(json!({"loadType": "track", "data": local}))
        .expect("a track of length -1 loads");
    let track = &result.tracks()[0];
    assert_eq!(track.info.length, -1);
    assert_eq!(track.info.known_length(), None, "unknown, not zero");

    let mut stream = self::track();
    stream["info"]["length"] = json!(i64::MAX);
    stream["info"]["isStream"] = json!(true);
    let stream: lavalink::model::Track = serde_json::from_value(stream).expect("a stream");
    assert_eq!(stream.info.known_length(), None);
    let normal: lavalink::model::Track = serde_json::from_value(self::track()).expect("a track");
    assert_eq!(normal.info.known_length(), Some(212_000));
}
