//! Properties over generated sequences of commands and events.

mod common;

use std::collections::HashMap;

use common::{StoreModel, USER, bare, exception, last_play, loop_mode, track};
use lavalink::model::{Filters, Track, TrackEndReason};
use music::{Effect, Entry, FilterChange, GuildPlayer, LoopMode, MAX_VOLUME, Snapshot};
use proptest::prelude::*;

/// One input to the engine (or to the test's clock).
#[derive(Debug, Clone)]
enum Op {
    Play(Vec<u32>),
    Pause,
    Resume,
    Skip(Option<usize>),
    Stop,
    Seek(u64),
    Volume(i64),
    Loop(u8),
    Shuffle(u64),
    Remove(usize),
    Move(usize, usize),
    Clear,
    Leave,
    Stay(bool),
    Autoplay(bool),
    /// `/filter`: a preset (n below the presets' count), an equalizer band, a timescale or a reset.
    Filter(u8),
    Start,
    End(TrackEndReason),
    /// An end for the current track without the play id (a node that lost `userData`).
    BareEnd(TrackEndReason),
    /// An end for a play that is no longer current.
    StaleEnd(usize),
    Exception,
    Stuck,
    Update(u64),
    MoveFailed,
    Wait(u64),
    /// The process restarts: restore from the stored state and resume.
    Restart,
}

fn filter_change(n: u8) -> FilterChange {
    let presets = music::PRESETS.len();
    match usize::from(n) % (presets + 3) {
        i if i < presets => FilterChange::Preset(&music::PRESETS[i]),
        i if i == presets => FilterChange::Band {
            band: n % music::EQUALIZER_BANDS,
            gain: f32::from(n % 5) / 10.0,
        },
        i if i == presets + 1 => FilterChange::Timescale {
            speed: Some(f64::from(n % 4) * 0.25 + 0.75),
            pitch: None,
            rate: None,
        },
        _ => FilterChange::Reset,
    }
}

fn reason() -> impl Strategy<Value = TrackEndReason> {
    prop_oneof![
        Just(TrackEndReason::Finished),
        Just(TrackEndReason::LoadFailed),
        Just(TrackEndReason::Stopped),
        Just(TrackEndReason::Replaced),
        Just(TrackEndReason::Cleanup),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(0u32..12, 0..4).prop_map(Op::Play),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        2 => prop::option::of(0usize..8).prop_map(Op::Skip),
        1 => Just(Op::Stop),
        1 => (0u64..250_000).prop_map(Op::Seek),
        1 => (-5i64..210).prop_map(Op::Volume),
        1 => any::<u8>().prop_map(Op::Loop),
        1 => any::<u64>().prop_map(Op::Shuffle),
        1 => (0usize..8).prop_map(Op::Remove),
        1 => (0usize..8, 0usize..8).prop_map(|(a, b)| Op::Move(a, b)),
        1 => Just(Op::Clear),
        1 => Just(Op::Leave),
        2 => any::<u8>().prop_map(Op::Filter),
        1 => any::<bool>().prop_map(Op::Stay),
        1 => any::<bool>().prop_map(Op::Autoplay),
        3 => Just(Op::Start),
        4 => reason().prop_map(Op::End),
        1 => reason().prop_map(Op::BareEnd),
        2 => (0usize..4).prop_map(Op::StaleEnd),
        1 => Just(Op::Exception),
        1 => Just(Op::Stuck),
        1 => (0u64..300_000).prop_map(Op::Update),
        1 => Just(Op::MoveFailed),
        2 => (0u64..100_000).prop_map(Op::Wait),
        1 => Just(Op::Restart),
    ]
}

/// The engine, the store as its `Persist` effects leave it, and what the node would echo.
struct Harness {
    player: GuildPlayer,
    store: StoreModel,
    now: u64,
    /// The node's track for the latest play.
    playing: Option<Track>,
    /// Tracks of earlier plays.
    old: Vec<Track>,
}

impl Harness {
    fn new() -> Self {
        Self {
            player: GuildPlayer::new(),
            store: StoreModel::default(),
            now: 1_000_000,
            playing: None,
            old: Vec::new(),
        }
    }

    fn take(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        self.store.apply_all(&effects);
        // Every play carries the filters, so a new player (a restart, a first play) has them.
        for effect in &effects {
            if let Effect::Play { filters, .. } = effect {
                assert_eq!(filters, self.player.filters(), "a play without the filters");
            }
        }
        if let Some(play) = last_play(&effects)
            && let Some(previous) = self.playing.replace(play)
        {
            self.old.push(previous);
        }
        effects
    }

    fn current_track(&self) -> Track {
        self.playing
            .clone()
            .unwrap_or_else(|| bare(&Entry::new(track(0), USER, 0)))
    }

    fn step(&mut self, op: &Op) -> Vec<Effect> {
        self.now += 1;
        let now = self.now;
        let p = &mut self.player;
        let effects = match op {
            Op::Play(ns) => p
                .play(ns.iter().map(|n| track(*n)).collect(), USER, now)
                .unwrap_or_default(),
            Op::Pause => p.pause(now).unwrap_or_default(),
            Op::Resume => p.resume(now).unwrap_or_default(),
            Op::Skip(to) => p.skip(*to, now).unwrap_or_default(),
            Op::Stop => p.stop(now).unwrap_or_default(),
            Op::Seek(ms) => p.seek(*ms, now).unwrap_or_default(),
            Op::Volume(v) => p.set_volume(*v).unwrap_or_default(),
            Op::Loop(n) => p.set_loop(loop_mode(*n)),
            Op::Shuffle(seed) => p.shuffle(*seed).unwrap_or_default(),
            Op::Remove(i) => p.remove(*i).unwrap_or_default(),
            Op::Move(a, b) => p.move_entry(*a, *b).unwrap_or_default(),
            Op::Clear => p.clear().unwrap_or_default(),
            Op::Leave => p.leave(),
            Op::Filter(n) => p.set_filters(filter_change(*n)).unwrap_or_default(),
            Op::Stay(on) => p.set_stay(*on),
            Op::Autoplay(on) => p.set_autoplay(*on),
            Op::Start => {
                let t = self.current_track();
                self.player.track_start(&t, now)
            }
            Op::End(reason) => {
                let t = self.current_track();
                self.player.track_end(&t, *reason, now)
            }
            Op::BareEnd(reason) => {
                let t = self.current_track();
                let mut t = t;
                t.user_data.clear();
                self.player.track_end(&t, *reason, now)
            }
            Op::StaleEnd(back) => match self.old.iter().rev().nth(*back).cloned() {
                Some(t) => self.player.track_end(&t, TrackEndReason::Finished, now),
                None => Vec::new(),
            },
            Op::Exception => {
                let t = self.current_track();
                self.player.track_exception(&t, &exception("boom"))
            }
            Op::Stuck => {
                let t = self.current_track();
                self.player.track_stuck(&t, now)
            }
            Op::Update(ms) => p.player_update(*ms, now),
            Op::MoveFailed => p.move_failed("no", now),
            Op::Wait(ms) => {
                self.now += ms;
                Vec::new()
            }
            Op::Restart => {
                self.player = GuildPlayer::restore(self.store.0.clone());
                self.player.resume_from_snapshot(now)
            }
        };
        self.take(effects)
    }
}

/// Invariants that hold after every input.
fn check_invariants(h: &Harness) -> Result<(), TestCaseError> {
    let p = &h.player;
    prop_assert_eq!(&h.store.0, &p.snapshot(), "the store follows the engine");
    prop_assert!(p.volume() <= MAX_VOLUME);
    if p.current().is_none() {
        prop_assert!(p.queue().is_empty(), "idle with a queue");
        prop_assert!(!p.is_paused(), "paused while idle");
    }
    if let Some(now) = p.now_playing(h.now)
        && let Some(length) = now.entry.length_ms()
    {
        prop_assert!(now.position_ms <= length);
    }
    let restored = GuildPlayer::restore(p.snapshot()).snapshot();
    prop_assert_eq!(restored, p.snapshot(), "restore gives back the snapshot");
    Ok(())
}

fn multiset(entries: &[Entry]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in entries {
        *counts.entry(e.encoded.clone()).or_default() += 1;
    }
    counts
}

fn queued(ns: &[u32]) -> GuildPlayer {
    let mut player = GuildPlayer::new();
    // The first becomes current; the rest is the queue.
    let mut all = vec![99];
    all.extend_from_slice(ns);
    let _ = player.play(all.into_iter().map(track).collect(), USER, 1);
    player
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No sequence of inputs panics, the store written through the effects always equals the
    /// engine's snapshot, and the invariants hold.
    #[test]
    fn any_sequence_keeps_the_store_in_step(ops in prop::collection::vec(op(), 0..80)) {
        let mut h = Harness::new();
        for op in &ops {
            let effects = h.step(op);
            // Player effects never come before a store write of the same input.
            let first_player = effects.iter().position(|e| !matches!(e, Effect::Persist(_)));
            let last_persist = effects.iter().rposition(|e| matches!(e, Effect::Persist(_)));
            if let (Some(player), Some(persist)) = (first_player, last_persist) {
                prop_assert!(persist < player, "order of {:?}: {:?}", op, effects);
            }
            check_invariants(&h)?;
        }
    }

    /// Shuffling keeps the queue's length and contents and the current entry, and is the same
    /// for the same seed.
    #[test]
    fn shuffle_keeps_the_contents(ns in prop::collection::vec(0u32..20, 2..30), seed: u64) {
        let mut player = queued(&ns);
        let before = player.queue().to_vec();
        player.shuffle(seed).expect("two or more");
        prop_assert_eq!(player.queue().len(), before.len());
        prop_assert_eq!(multiset(player.queue()), multiset(&before));
        prop_assert_eq!(player.current().map(|e| e.encoded.clone()), Some("enc-99".to_owned()));
        let mut again = queued(&ns);
        again.shuffle(seed).expect("two or more");
        prop_assert_eq!(again.queue(), player.queue());
    }

    /// Moving keeps the contents, puts the entry where asked and keeps the others' order.
    #[test]
    fn move_keeps_the_contents(ns in prop::collection::vec(0u32..20, 1..20), a: usize, b: usize) {
        let mut player = queued(&ns);
        let before = player.queue().to_vec();
        let (from, to) = (a % before.len() + 1, b % before.len() + 1);
        player.move_entry(from, to).expect("in range");
        prop_assert_eq!(multiset(player.queue()), multiset(&before));
        prop_assert_eq!(&player.queue()[to - 1], &before[from - 1]);
        let mut others = before.clone();
        others.remove(from - 1);
        let mut after = player.queue().to_vec();
        after.remove(to - 1);
        prop_assert_eq!(after, others);
    }

    /// With loop off, whatever the node reports (starts, finishes, exceptions followed by their
    /// end, stuck once, stale and duplicate ends, other reasons), every queued entry is played
    /// in order: only an end of the current play moves on, by exactly one entry, and an input
    /// about anything else never cuts a turn short.
    #[test]
    fn advancing_never_skips_with_loop_off(
        n in 1usize..12,
        script in prop::collection::vec(0u8..9, 0..200),
    ) {
        let mut h = Harness::new();
        let numbers: Vec<u32> = (0..u32::try_from(n).expect("small")).collect();
        h.step(&Op::Play(numbers.clone()));
        let expected: Vec<String> = numbers.iter().map(|n| format!("enc-{n}")).collect();
        let mut turn = 0;
        let mut stuck_this_turn = false;
        let mut steps = script.into_iter();
        while h.player.current().is_some() {
            let op = match steps.next() {
                Some(0) => Op::Start,
                Some(1) => Op::End(TrackEndReason::Replaced),
                Some(2) => Op::StaleEnd(0),
                Some(3) => Op::StaleEnd(1),
                Some(4) => Op::Exception,
                Some(5) if !stuck_this_turn => {
                    stuck_this_turn = true;
                    Op::Stuck
                }
                Some(6) => Op::End(TrackEndReason::LoadFailed),
                Some(7) => Op::Update(1_000),
                // Finishing; and once the script is over, finish every track.
                _ => Op::End(TrackEndReason::Finished),
            };
            let before = h.player.current().map(|e| e.encoded.clone());
            prop_assert_eq!(before.as_ref(), Some(&expected[turn]));
            h.step(&op);
            let after = h.player.current().map(|e| e.encoded.clone());
            if matches!(op, Op::End(TrackEndReason::Finished | TrackEndReason::LoadFailed)) {
                turn += 1;
                stuck_this_turn = false;
                prop_assert_eq!(after.as_ref(), expected.get(turn), "an end moves on by one");
            } else {
                prop_assert_eq!(after, before, "{:?} cut the turn short", op);
            }
            check_invariants(&h)?;
        }
        prop_assert_eq!(turn, expected.len());
    }

    /// Loop queue never loses an entry that plays fine: after any number of finishes the queue
    /// plus the current entry hold the same tracks.
    #[test]
    fn loop_queue_keeps_every_entry(n in 1usize..10, finishes in 0usize..40) {
        let mut h = Harness::new();
        let numbers: Vec<u32> = (0..u32::try_from(n).expect("small")).collect();
        h.step(&Op::Play(numbers));
        h.step(&Op::Loop(2));
        prop_assert_eq!(h.player.loop_mode(), LoopMode::Queue);
        let all = |p: &GuildPlayer| {
            let mut v = p.queue().to_vec();
            v.extend(p.current().cloned());
            multiset(&v)
        };
        let before = all(&h.player);
        for _ in 0..finishes {
            h.step(&Op::End(TrackEndReason::Finished));
            prop_assert_eq!(all(&h.player), before.clone());
        }
        check_invariants(&h)?;
    }

    /// Any time round-trips through `format_duration` and `parse_timestamp` to the second.
    #[test]
    fn timestamps_round_trip(ms in 0u64..1_000_000_000_000) {
        let text = music::format_duration(ms);
        prop_assert_eq!(music::parse_timestamp(&text), Ok(ms / 1000 * 1000));
    }

    /// `parse_timestamp` never panics.
    #[test]
    fn parse_timestamp_never_panics(s in "\\PC{0,20}") {
        let _ = music::parse_timestamp(&s);
    }

    /// The bar always has its cells and the knob once.
    #[test]
    fn position_bar_has_one_knob(position: u64, length in prop::option::of(any::<u64>())) {
        let bar = music::position_bar(position, length);
        if length.is_some() {
            prop_assert_eq!(bar.matches('🔘').count(), 1);
            prop_assert_eq!(bar.chars().take_while(|c| *c != ' ').count(), music::BAR_WIDTH);
        } else {
            prop_assert!(bar.starts_with("🔴 LIVE "));
        }
    }
}

#[test]
fn a_restored_snapshot_round_trips() {
    let snapshot = Snapshot {
        queue: vec![Entry::new(track(1), 5, 6)],
        current: Some(Entry::new(track(2), 7, 8)),
        position: music::PositionSnapshot::new(9, 10),
        paused: true,
        volume: 11,
        loop_mode: LoopMode::Track,
        filters: Filters::default(),
        stay: false,
        autoplay: false,
    };
    assert_eq!(GuildPlayer::restore(snapshot.clone()).snapshot(), snapshot);
}
