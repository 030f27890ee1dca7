//! What recording costs per event, and what encoding a scrape costs: the numbers behind
//! `dimby bench metrics-overhead` (which measures the whole bot, but through a noisy machine).
//!
//! `cargo bench -p telemetry --bench record`

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use cluster::ClusterEvent;
use criterion::{Criterion, criterion_group, criterion_main};
use lavalink::model::{GuildId, IncomingMessage};
use telemetry::{CommandOutcome, Format, Metrics, QuerySource};

const COMMANDS: [&str; 16] = [
    "play",
    "pause",
    "resume",
    "skip",
    "stop",
    "queue",
    "nowplaying",
    "seek",
    "volume",
    "loop",
    "shuffle",
    "remove",
    "move",
    "clear",
    "leave",
    "health",
];

fn track_start() -> ClusterEvent {
    let json = r#"{"op":"event","type":"TrackStartEvent","guildId":"1","track":{"encoded":"QAAA","info":{"identifier":"x","isSeekable":true,"author":"a","length":1000,"isStream":false,"position":0,"title":"t","uri":null,"artworkUrl":null,"isrc":null,"sourceName":"sim"},"pluginInfo":{},"userData":{}}}"#;
    let Ok(IncomingMessage::Event(event)) = IncomingMessage::from_json(json) else {
        panic!("the bench event parses");
    };
    ClusterEvent::Player {
        guild: GuildId(1),
        node: "lavalink-1".to_owned(),
        event,
        after_move: false,
    }
}

fn record(c: &mut Criterion) {
    let metrics = Metrics::new(COMMANDS);
    // What the bot records for one /play: the command, its ack, its Lavalink call, the load, the
    // queue length and the enqueued count.
    c.bench_function("one /play's recordings", |b| {
        b.iter(|| {
            metrics.record_ack(black_box(Duration::from_micros(300)));
            metrics.record_command_reached_lavalink("play", Duration::from_micros(200));
            metrics.record_load(Some("search"), QuerySource::Search);
            metrics.record_enqueued(1);
            metrics.record_queue_length(3);
            metrics.record_command(
                black_box("play"),
                CommandOutcome::Ok,
                Duration::from_micros(600),
            );
        });
    });
    let event = track_start();
    c.bench_function("observe a TrackStart", |b| {
        b.iter(|| metrics.observe_cluster(black_box(&event)));
    });
    let off = Metrics::new(COMMANDS);
    off.set_recording(false);
    c.bench_function("one /play's recordings, recording off", |b| {
        b.iter(|| {
            off.record_command(
                black_box("play"),
                CommandOutcome::Ok,
                Duration::from_micros(600),
            );
        });
    });
    for command in COMMANDS {
        metrics.record_command(command, CommandOutcome::Ok, Duration::from_millis(1));
    }
    c.bench_function("encode a scrape (Prometheus text)", |b| {
        b.iter(|| black_box(metrics.encode(Format::Prometheus)));
    });
}

criterion_group!(benches, record);
criterion_main!(benches);
