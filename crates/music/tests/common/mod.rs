//! Helpers shared by the test files: tracks, echoed event tracks, and a store model.

#![allow(dead_code, missing_docs)]

use lavalink::model::{Exception, Severity, Track, TrackInfo};
use music::{Effect, Entry, Finished, LoopMode, PositionSnapshot, Snapshot, StoreOp};

/// Every test track is this long.
pub const LENGTH: u64 = 200_000;

/// The requester used by most tests.
pub const USER: u64 = 42;

pub fn info(n: u32) -> TrackInfo {
    TrackInfo {
        identifier: format!("id-{n}"),
        is_seekable: true,
        author: "Author".to_owned(),
        length: i64::try_from(LENGTH).expect("a test length"),
        is_stream: false,
        position: 0,
        title: format!("Track {n}"),
        uri: Some(format!("https://example.com/{n}")),
        artwork_url: None,
        isrc: None,
        source_name: "http".to_owned(),
    }
}

/// A loaded track, numbered so that tracks are told apart.
pub fn track(n: u32) -> Track {
    Track {
        encoded: format!("enc-{n}"),
        info: info(n),
        plugin_info: serde_json::Map::new(),
        user_data: serde_json::Map::new(),
    }
}

/// A live stream.
pub fn stream(n: u32) -> Track {
    let mut t = track(n);
    t.info.is_stream = true;
    t.info.is_seekable = false;
    t.info.length = i64::MAX;
    t
}

pub fn tracks(ns: impl IntoIterator<Item = u32>) -> Vec<Track> {
    ns.into_iter().map(track).collect()
}

/// The entry `play(track(n), USER, at)` makes.
pub fn entry(n: u32, at: u64) -> Entry {
    Entry::new(track(n), USER, at)
}

pub fn entries(ns: impl IntoIterator<Item = u32>, at: u64) -> Vec<Entry> {
    ns.into_iter().map(|n| entry(n, at)).collect()
}

/// The track a node echoes in events about the play with `play_id` of `entry`.
pub fn echoed(entry: &Entry, play_id: u64) -> Track {
    Track {
        encoded: entry.encoded.clone(),
        info: entry.info.clone(),
        plugin_info: serde_json::Map::new(),
        user_data: music::play_user_data(play_id),
    }
}

/// The track as a node that was not given the play id (or lost it) reports it.
pub fn bare(entry: &Entry) -> Track {
    Track {
        encoded: entry.encoded.clone(),
        info: entry.info.clone(),
        plugin_info: serde_json::Map::new(),
        user_data: serde_json::Map::new(),
    }
}

/// The last `Play` in `effects`, as the node's track for events (with the echoed play id).
pub fn last_play(effects: &[Effect]) -> Option<Track> {
    effects.iter().rev().find_map(|e| match e {
        Effect::Play { entry, play_id, .. } => Some(echoed(entry, *play_id)),
        _ => None,
    })
}

pub fn exception(message: &str) -> Exception {
    Exception {
        message: Some(message.to_owned()),
        severity: Severity::Common,
        cause: "com.sedmelluq.FriendlyException".to_owned(),
        cause_stack_trace: None,
    }
}

/// What the store holds, changed only by `StoreOp`s, with the store's documented semantics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreModel(pub Snapshot);

impl StoreModel {
    /// Applies every `Persist` in `effects`, in order.
    pub fn apply_all(&mut self, effects: &[Effect]) {
        for effect in effects {
            if let Effect::Persist(op) = effect {
                self.apply(op);
            }
        }
    }

    pub fn apply(&mut self, op: &StoreOp) {
        let s = &mut self.0;
        match op {
            StoreOp::Enqueue { entries, at } => {
                let at = at.unwrap_or(s.queue.len());
                assert!(at <= s.queue.len(), "enqueue at {at} out of range");
                for (i, e) in entries.iter().enumerate() {
                    s.queue.insert(at + i, e.clone());
                }
            }
            StoreOp::Remove { index } => {
                assert!(*index < s.queue.len(), "remove {index} out of range");
                s.queue.remove(*index);
            }
            StoreOp::Move { from, to } => {
                assert!(
                    *from < s.queue.len() && *to < s.queue.len(),
                    "move out of range"
                );
                let e = s.queue.remove(*from);
                s.queue.insert(*to, e);
            }
            StoreOp::ClearQueue => s.queue.clear(),
            StoreOp::SetFilters(filters) => s.filters.clone_from(filters),
            StoreOp::SetStay(stay) => s.stay = *stay,
            StoreOp::SetAutoplay(autoplay) => s.autoplay = *autoplay,
            // The history is not part of the snapshot (the store keeps it; the engine does not).
            StoreOp::AddHistory { .. } | StoreOp::RemoveHistory { .. } => {}
            StoreOp::ReplaceQueue(entries) => s.queue.clone_from(entries),
            StoreOp::SetCurrent { entry, position } => {
                s.current.clone_from(entry);
                s.position = *position;
            }
            StoreOp::Advance {
                finished,
                at_unix_ms,
            } => {
                if let Some(old) = s.current.take()
                    && *finished == Finished::Requeue
                {
                    s.queue.push(old);
                }
                s.current = if s.queue.is_empty() {
                    None
                } else {
                    Some(s.queue.remove(0))
                };
                s.position = PositionSnapshot::new(0, *at_unix_ms);
            }
            StoreOp::SavePosition { position, paused } => {
                s.position = *position;
                s.paused = *paused;
            }
            StoreOp::SetVolume(v) => {
                assert!(*v <= music::MAX_VOLUME);
                s.volume = *v;
            }
            StoreOp::SetLoop(mode) => s.loop_mode = *mode,
            StoreOp::ForgetGuild => *s = Snapshot::default(),
        }
    }
}

/// Shorthand for a loop mode by number (for generated tests).
pub fn loop_mode(n: u8) -> LoopMode {
    match n % 3 {
        0 => LoopMode::Off,
        1 => LoopMode::Track,
        _ => LoopMode::Queue,
    }
}
