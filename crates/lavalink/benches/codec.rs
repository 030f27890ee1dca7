//! The per-message costs on the client's hot paths: lavaplayer's track codec (a typical version 3
//! YouTube track) and parsing the socket messages a node sends most (playerUpdate, stats,
//! TrackStartEvent).
//!
//! `cargo bench -p lavalink --bench codec`

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lavalink::codec::{decode_track, encode_track};
use lavalink::model::IncomingMessage;

/// A version 3 track as a Lavalink v4 node returns it (Lavalink4NET's captured search answer).
const TRACK: &str = "QAAA2QMAPFJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAgKE9mZmljaWFsIE11c2ljIFZpZGVvKQALUmljayBBc3RsZXkAAAAAAANACAALZFF3NHc5V2dYY1EAAQAraHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g/dj1kUXc0dzlXZ1hjUQEANGh0dHBzOi8vaS55dGltZy5jb20vdmkvZFF3NHc5V2dYY1EvbWF4cmVzZGVmYXVsdC5qcGcAAAd5b3V0dWJlAAAAAAAAAAA=";

const PLAYER_UPDATE: &str = r#"{"op":"playerUpdate","guildId":"817327181659111454","state":{"time":1700000000000,"position":60000,"connected":true,"ping":12}}"#;

const STATS: &str = r#"{"op":"stats","players":12,"playingPlayers":9,"uptime":123456789,"memory":{"free":123456789,"used":234567890,"allocated":345678901,"reservable":4294967296},"cpu":{"cores":4,"systemLoad":0.2314,"lavalinkLoad":0.0521},"frameStats":{"sent":2996,"nulled":4,"deficit":0}}"#;

fn track_start() -> String {
    format!(
        r#"{{"op":"event","type":"TrackStartEvent","guildId":"817327181659111454","track":{{"encoded":"{TRACK}","info":{{"identifier":"dQw4w9WgXcQ","isSeekable":true,"author":"Rick Astley","length":213000,"isStream":false,"position":0,"title":"Rick Astley - Never Gonna Give You Up (Official Music Video)","uri":"https://www.youtube.com/watch?v=dQw4w9WgXcQ","artworkUrl":"https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg","isrc":null,"sourceName":"youtube"}},"pluginInfo":{{}},"userData":{{}}}}}}"#
    )
}

fn codec(c: &mut Criterion) {
    let info = decode_track(TRACK).expect("the bench track decodes").info;
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(TRACK.len() as u64));
    group.bench_function("decode_track_v3", |b| {
        b.iter(|| decode_track(black_box(TRACK)));
    });
    group.bench_function("encode_track_v3", |b| {
        b.iter(|| encode_track(black_box(&info)));
    });
    group.finish();
}

fn socket(c: &mut Criterion) {
    let track_start = track_start();
    let mut group = c.benchmark_group("socket_from_json");
    for (name, text) in [
        ("player_update", PLAYER_UPDATE),
        ("stats", STATS),
        ("track_start_event", track_start.as_str()),
    ] {
        let parsed = IncomingMessage::from_json(text).expect("the bench message parses");
        assert!(!matches!(parsed, IncomingMessage::Unknown(_)), "{name}");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| IncomingMessage::from_json(black_box(text)));
        });
    }
    group.finish();
}

criterion_group!(benches, codec, socket);
criterion_main!(benches);
