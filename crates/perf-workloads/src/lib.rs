//! Fixed, single-threaded workloads for the CI performance guard (`scripts/perf-guard`), which
//! runs each under valgrind's callgrind and compares the instructions executed with the baseline
//! in `perf/baseline.json`.
//!
//! Instruction counts are only worth comparing when they do not move between runs of the same
//! code: every workload here has fixed inputs, one thread, no clock, no IO and no randomness (the
//! music engine takes the time and the shuffle seed as arguments). Each returns a checksum of what
//! it computed, so the optimizer cannot drop the work, and so a run can be checked for doing the
//! same thing twice.

use std::hint::black_box;

use lavalink::codec::{decode_track, encode_track};
use lavalink::model::{IncomingMessage, Track, TrackEndReason};
use music::{Effect, GuildPlayer, LoopMode, play_user_data};

/// A workload: its name, what it does, its default iterations, and the code.
pub struct Workload {
    /// The name `perf-workload <name>` and the baseline use.
    pub name: &'static str,
    /// What it exercises.
    pub what: &'static str,
    /// Iterations by default (sized for a few seconds under callgrind).
    pub iterations: u64,
    /// Runs `iterations` rounds and returns a checksum.
    pub run: fn(u64) -> u64,
}

/// Every workload.
pub const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "socket-decode",
        what: "IncomingMessage::from_json of a node's messages: ready, playerUpdate, stats, \
               TrackStart, TrackEnd",
        iterations: 2_000,
        run: socket_decode,
    },
    Workload {
        name: "track-codec",
        what: "lavaplayer's track codec: decode_track then encode_track of a v3 YouTube track",
        iterations: 5_000,
        run: track_codec,
    },
    Workload {
        name: "music-commands",
        what: "the command path's core: a guild's engine through play, events, pause, resume, \
               seek, volume, loop, shuffle, queue pages, skip and stop",
        iterations: 300,
        run: music_commands,
    },
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// A version 3 track as a Lavalink v4 node returns it (the codec bench's).
pub const TRACK: &str = "QAAA2QMAPFJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAgKE9mZmljaWFsIE11c2ljIFZpZGVvKQALUmljayBBc3RsZXkAAAAAAANACAALZFF3NHc5V2dYY1EAAQAraHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g/dj1kUXc0dzlXZ1hjUQEANGh0dHBzOi8vaS55dGltZy5jb20vdmkvZFF3NHc5V2dYY1EvbWF4cmVzZGVmYXVsdC5qcGcAAAd5b3V0dWJlAAAAAAAAAAA=";

const READY: &str = r#"{"op":"ready","resumed":false,"sessionId":"la3kfsdf5eafe848"}"#;
const PLAYER_UPDATE: &str = r#"{"op":"playerUpdate","guildId":"817327181659111454","state":{"time":1700000000000,"position":60000,"connected":true,"ping":12}}"#;
const STATS: &str = r#"{"op":"stats","players":12,"playingPlayers":9,"uptime":123456789,"memory":{"free":123456789,"used":234567890,"allocated":345678901,"reservable":4294967296},"cpu":{"cores":4,"systemLoad":0.2314,"lavalinkLoad":0.0521},"frameStats":{"sent":2996,"nulled":4,"deficit":0}}"#;

fn track_event(kind: &str, extra: &str) -> String {
    format!(
        r#"{{"op":"event","type":"{kind}","guildId":"817327181659111454","track":{{"encoded":"{TRACK}","info":{{"identifier":"dQw4w9WgXcQ","isSeekable":true,"author":"Rick Astley","length":213000,"isStream":false,"position":0,"title":"Rick Astley - Never Gonna Give You Up (Official Music Video)","uri":"https://www.youtube.com/watch?v=dQw4w9WgXcQ","artworkUrl":"https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg","isrc":null,"sourceName":"youtube"}},"pluginInfo":{{}},"userData":{{"dimbyPlayId":42}}}}{extra}}}"#
    )
}

/// Parses each message `iterations` times; the checksum counts the kinds seen.
pub fn socket_decode(iterations: u64) -> u64 {
    let messages = [
        READY.to_owned(),
        PLAYER_UPDATE.to_owned(),
        STATS.to_owned(),
        track_event("TrackStartEvent", ""),
        track_event("TrackEndEvent", r#","reason":"finished""#),
    ];
    let mut checksum = 0u64;
    for _ in 0..iterations {
        for text in &messages {
            let message = IncomingMessage::from_json(black_box(text));
            checksum = checksum.wrapping_mul(31).wrapping_add(match message {
                Ok(IncomingMessage::Unknown(_)) => 7,
                Ok(_) => 1,
                Err(_) => 13,
            });
        }
    }
    checksum
}

/// Decodes and re-encodes the track `iterations` times; the checksum sums the lengths.
pub fn track_codec(iterations: u64) -> u64 {
    let mut checksum = 0u64;
    for _ in 0..iterations {
        let Ok(decoded) = decode_track(black_box(TRACK)) else {
            return 0;
        };
        let Ok(encoded) = encode_track(black_box(&decoded.info)) else {
            return 0;
        };
        checksum = checksum
            .wrapping_add(decoded.info.length.unsigned_abs())
            .wrapping_add(encoded.len() as u64);
    }
    checksum
}

/// The track a node reports for `effect`'s play, with its play id echoed.
fn played(track: &Track, effects: &[Effect]) -> Option<Track> {
    effects.iter().rev().find_map(|effect| match effect {
        Effect::Play { play_id, .. } => Some(Track {
            user_data: play_user_data(*play_id),
            ..track.clone()
        }),
        _ => None,
    })
}

/// A guild's engine through a fixed script, `iterations` times with a fresh engine each; the
/// checksum counts the effects.
pub fn music_commands(iterations: u64) -> u64 {
    let Ok(decoded) = decode_track(TRACK) else {
        return 0;
    };
    let track = Track {
        encoded: TRACK.to_owned(),
        info: decoded.info,
        plugin_info: serde_json::Map::new(),
        user_data: serde_json::Map::new(),
    };
    let mut checksum = 0u64;
    let count = |checksum: &mut u64, effects: &[Effect]| {
        *checksum = checksum.wrapping_mul(31).wrapping_add(effects.len() as u64);
    };
    for round in 0..iterations {
        let mut now = 1_700_000_000_000 + round * 1_000;
        let mut player = GuildPlayer::new();
        let Ok(effects) = player.play(vec![track.clone(); 8], 42, now) else {
            return 0;
        };
        count(&mut checksum, &effects);
        let mut current = played(&track, &effects);
        for step in 0u64..6 {
            let Some(playing) = current.clone() else {
                break;
            };
            now += 500;
            count(&mut checksum, &player.track_start(&playing, now));
            now += 5_000;
            count(&mut checksum, &player.player_update(5_000, now));
            count(&mut checksum, &player.pause(now).unwrap_or_default());
            count(&mut checksum, &player.resume(now).unwrap_or_default());
            count(&mut checksum, &player.seek(60_000, now).unwrap_or_default());
            count(
                &mut checksum,
                &player
                    .set_volume(i64::try_from(50 + step).unwrap_or(50))
                    .unwrap_or_default(),
            );
            if let Ok(page) = player.queue_page(1) {
                checksum = checksum.wrapping_add(page.lines.len() as u64);
            }
            checksum =
                checksum.wrapping_add(player.position_bar(now).map_or(0, |b| b.len() as u64));
            now += 10_000;
            let effects = if step % 2 == 0 {
                player.track_end(&playing, TrackEndReason::Finished, now)
            } else {
                player.skip(None, now).unwrap_or_default()
            };
            count(&mut checksum, &effects);
            current = played(&track, &effects);
        }
        count(&mut checksum, &player.set_loop(LoopMode::Queue));
        count(&mut checksum, &player.shuffle(round).unwrap_or_default());
        count(
            &mut checksum,
            &player
                .play(vec![track.clone(); 4], 7, now)
                .unwrap_or_default(),
        );
        count(&mut checksum, &player.move_entry(1, 2).unwrap_or_default());
        count(&mut checksum, &player.remove(1).unwrap_or_default());
        count(&mut checksum, &player.stop(now).unwrap_or_default());
        count(&mut checksum, &player.leave());
    }
    checksum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs_and_repeats_itself_exactly() {
        for workload in &WORKLOADS {
            let once = (workload.run)(3);
            assert_ne!(once, 0, "{}", workload.name);
            assert_eq!(
                (workload.run)(3),
                once,
                "{} is deterministic",
                workload.name
            );
            assert!(find(workload.name).is_some());
        }
        // The socket messages all parse as known messages.
        let mut expected = 0u64;
        for _ in 0..5 {
            expected = expected.wrapping_mul(31).wrapping_add(1);
        }
        assert_eq!(socket_decode(1), expected);
    }
}
