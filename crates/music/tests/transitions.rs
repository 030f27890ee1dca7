//! Every transition of the engine, each asserting the exact effects.

mod common;

use common::{
    LENGTH, StoreModel, USER, bare, echoed, entries, entry, exception, last_play, stream, track,
    tracks,
};
use lavalink::model::{
    Event, Filters, GuildId, Severity, TrackEnd, TrackEndReason, TrackException, TrackStart,
    TrackStuck, WebSocketClosed,
};
use music::{
    Effect, FilterChange, Finished, GuildPlayer, LoopMode, Notice, PositionSnapshot, Refusal,
    SkipCause, Snapshot, StoreOp,
};

const T0: u64 = 1_000;

/// A player that was idle and got `play(tracks(ns))` at `T0`; returns the current play's track.
fn playing(ns: impl IntoIterator<Item = u32>) -> (GuildPlayer, lavalink::model::Track) {
    let mut player = GuildPlayer::new();
    let effects = player.play(tracks(ns), USER, T0).expect("play");
    let current = last_play(&effects).expect("a play");
    (player, current)
}

fn play(n: u32, position_ms: u64, paused: bool, play_id: u64) -> Effect {
    Effect::Play {
        entry: entry(n, T0),
        position_ms,
        paused,
        volume: 100,
        filters: Filters::default(),
        play_id,
    }
}

fn advance(finished: Finished, at: u64) -> Effect {
    Effect::Persist(StoreOp::Advance {
        finished,
        at_unix_ms: at,
    })
}

/// The history write for entry `n` (added at `T0`) as it stops being current at `at`.
fn history(n: u32, at: u64) -> Effect {
    Effect::Persist(StoreOp::AddHistory {
        entry: entry(n, T0),
        played_at_unix_ms: at,
    })
}

fn save(position_ms: u64, at: u64, paused: bool) -> Effect {
    Effect::Persist(StoreOp::SavePosition {
        position: PositionSnapshot::new(position_ms, at),
        paused,
    })
}

fn notify(notice: Notice) -> Effect {
    Effect::Notify(notice)
}

fn queue_titles(player: &GuildPlayer) -> Vec<String> {
    player
        .queue()
        .iter()
        .map(|e| e.info.title.clone())
        .collect()
}

fn current_title(player: &GuildPlayer) -> Option<String> {
    player.current().map(|e| e.info.title.clone())
}

// ----- play -----

#[test]
fn play_when_idle_enqueues_and_starts_the_first() {
    let mut player = GuildPlayer::new();
    let effects = player.play(tracks([1, 2]), USER, T0).expect("play");
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::Enqueue {
                entries: entries([1, 2], T0),
                at: None,
            }),
            advance(Finished::Drop, T0),
            play(1, 0, false, T0),
            notify(Notice::Queued {
                first: entry(1, T0),
                count: 2,
                position: None,
            }),
        ]
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 1"));
    assert_eq!(queue_titles(&player), ["Track 2"]);
    assert_eq!(player.position(), PositionSnapshot::new(0, T0));
}

#[test]
fn play_when_busy_only_enqueues_and_says_where() {
    let (mut player, _) = playing([1, 2]);
    let effects = player.play(tracks([3, 4]), 7, 2_000).expect("play");
    let added = vec![
        music::Entry::new(track(3), 7, 2_000),
        music::Entry::new(track(4), 7, 2_000),
    ];
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::Enqueue {
                entries: added.clone(),
                at: None,
            }),
            notify(Notice::Queued {
                first: added[0].clone(),
                count: 2,
                position: Some(2),
            }),
        ]
    );
    assert_eq!(queue_titles(&player), ["Track 2", "Track 3", "Track 4"]);
    assert_eq!(player.queue()[1].requester_id, 7);
}

#[test]
fn play_nothing_is_refused() {
    let mut player = GuildPlayer::new();
    assert_eq!(player.play(Vec::new(), USER, T0), Err(Refusal::NoTracks));
    assert_eq!(player, GuildPlayer::new());
}

#[test]
fn play_carries_the_volume_and_paused_flag() {
    let mut player = GuildPlayer::new();
    player.set_volume(150).expect("volume");
    let effects = player.play(tracks([1]), USER, T0).expect("play");
    assert!(effects.contains(&Effect::Play {
        entry: entry(1, T0),
        position_ms: 0,
        paused: false,
        volume: 150,
        filters: Filters::default(),
        play_id: T0,
    }));
}

// ----- pause / resume -----

#[test]
fn pause_freezes_the_position_and_resume_continues_from_it() {
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.pause(T0 + 5_000).expect("pause"),
        [
            save(5_000, T0 + 5_000, true),
            Effect::Pause(true),
            notify(Notice::Paused {
                entry: entry(1, T0),
                position_ms: 5_000,
            }),
        ]
    );
    assert!(player.is_paused());
    assert_eq!(player.position_at(T0 + 60_000), 5_000);
    assert_eq!(
        player.resume(T0 + 60_000).expect("resume"),
        [
            save(5_000, T0 + 60_000, false),
            Effect::Pause(false),
            notify(Notice::Resumed {
                entry: entry(1, T0),
                position_ms: 5_000,
            }),
        ]
    );
    assert_eq!(player.position_at(T0 + 61_000), 6_000);
}

#[test]
fn pause_and_resume_refusals() {
    let mut idle = GuildPlayer::new();
    assert_eq!(idle.pause(T0), Err(Refusal::NothingPlaying));
    assert_eq!(idle.resume(T0), Err(Refusal::NothingPlaying));
    let (mut player, _) = playing([1]);
    assert_eq!(player.resume(T0), Err(Refusal::NotPaused));
    player.pause(T0).expect("pause");
    assert_eq!(player.pause(T0), Err(Refusal::AlreadyPaused));
}

#[test]
fn position_is_extrapolated_and_capped_at_the_length() {
    let (player, _) = playing([1]);
    assert_eq!(
        player.position_at(T0 - 10),
        0,
        "a clock behind is not negative"
    );
    assert_eq!(player.position_at(T0 + 1_234), 1_234);
    assert_eq!(player.position_at(T0 + 10 * LENGTH), LENGTH);
    assert_eq!(GuildPlayer::new().position_at(T0), 0);
}

// ----- skip -----

#[test]
fn skip_plays_the_next_and_drops_the_skipped() {
    let (mut player, _) = playing([1, 2, 3]);
    assert_eq!(
        player.skip(None, 2_000).expect("skip"),
        [
            history(1, 2_000),
            advance(Finished::Drop, 2_000),
            play(2, 0, false, 2_000),
            notify(Notice::Skipped {
                skipped: entry(1, T0),
                also_skipped: 0,
                next: Some(entry(2, T0)),
            }),
        ]
    );
    assert_eq!(queue_titles(&player), ["Track 3"]);
}

#[test]
fn skip_the_last_stops_the_player() {
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.skip(None, 2_000).expect("skip"),
        [
            history(1, 2_000),
            advance(Finished::Drop, 2_000),
            Effect::Stop,
            notify(Notice::Skipped {
                skipped: entry(1, T0),
                also_skipped: 0,
                next: None,
            }),
        ]
    );
    assert_eq!(player.current(), None);
    assert_eq!(player.skip(None, 2_000), Err(Refusal::NothingPlaying));
}

#[test]
fn skip_with_loop_queue_requeues_and_with_loop_track_drops() {
    let (mut player, _) = playing([1, 2]);
    player.set_loop(LoopMode::Queue);
    let effects = player.skip(None, 2_000).expect("skip");
    assert_eq!(effects[0], history(1, 2_000));
    assert_eq!(effects[1], advance(Finished::Requeue, 2_000));
    assert_eq!(effects[2], play(2, 0, false, 2_000));
    assert_eq!(queue_titles(&player), ["Track 1"]);

    let (mut player, _) = playing([1, 2]);
    player.set_loop(LoopMode::Track);
    let effects = player.skip(None, 2_000).expect("skip");
    assert_eq!(effects[0], history(1, 2_000));
    assert_eq!(effects[1], advance(Finished::Drop, 2_000));
    assert_eq!(effects[2], play(2, 0, false, 2_000));
    assert!(player.queue().is_empty());
    assert_eq!(player.loop_mode(), LoopMode::Track);
}

#[test]
fn skip_a_lone_track_with_loop_queue_plays_it_again() {
    let (mut player, _) = playing([1]);
    player.set_loop(LoopMode::Queue);
    let effects = player.skip(None, 2_000).expect("skip");
    assert_eq!(
        effects,
        [
            history(1, 2_000),
            advance(Finished::Requeue, 2_000),
            play(1, 0, false, 2_000),
            notify(Notice::Skipped {
                skipped: entry(1, T0),
                also_skipped: 0,
                next: Some(entry(1, T0)),
            }),
        ]
    );
}

#[test]
fn skip_to_a_position_drops_what_is_before_it() {
    let (mut player, _) = playing([1, 2, 3, 4, 5]);
    assert_eq!(
        player.skip(Some(3), 2_000).expect("skip"),
        [
            history(1, 2_000),
            Effect::Persist(StoreOp::ReplaceQueue(entries([5], T0))),
            Effect::Persist(StoreOp::SetCurrent {
                entry: Some(entry(4, T0)),
                position: PositionSnapshot::new(0, 2_000),
            }),
            play(4, 0, false, 2_000),
            notify(Notice::Skipped {
                skipped: entry(1, T0),
                also_skipped: 2,
                next: Some(entry(4, T0)),
            }),
        ]
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 4"));
}

#[test]
fn skip_to_a_position_with_loop_queue_keeps_the_loop_order() {
    let (mut player, _) = playing([1, 2, 3, 4, 5]);
    player.set_loop(LoopMode::Queue);
    let effects = player.skip(Some(3), 2_000).expect("skip");
    assert_eq!(effects[0], history(1, 2_000));
    assert_eq!(
        effects[1],
        Effect::Persist(StoreOp::ReplaceQueue(entries([5, 1, 2, 3], T0)))
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 4"));
    assert_eq!(
        queue_titles(&player),
        ["Track 5", "Track 1", "Track 2", "Track 3"]
    );
}

#[test]
fn skip_to_one_is_a_plain_skip() {
    let (mut a, _) = playing([1, 2, 3]);
    let (mut b, _) = playing([1, 2, 3]);
    assert_eq!(a.skip(Some(1), 2_000), b.skip(None, 2_000));
    assert_eq!(a, b);
}

#[test]
fn skip_to_a_position_out_of_range_is_refused() {
    let (mut player, _) = playing([1, 2, 3]);
    let before = player.clone();
    assert_eq!(
        player.skip(Some(3), 2_000),
        Err(Refusal::PositionOutOfRange {
            position: 3,
            len: 2
        })
    );
    assert_eq!(
        player.skip(Some(0), 2_000),
        Err(Refusal::PositionOutOfRange {
            position: 0,
            len: 2
        })
    );
    assert_eq!(player, before);
}

#[test]
fn skip_while_paused_stays_paused_until_the_queue_ends() {
    let (mut player, _) = playing([1, 2]);
    player.pause(T0).expect("pause");
    let effects = player.skip(None, 2_000).expect("skip");
    assert_eq!(effects[2], play(2, 0, true, 2_000));
    assert!(player.is_paused());
    assert_eq!(
        player.skip(None, 3_000).expect("skip"),
        [
            advance(Finished::Drop, 3_000),
            save(0, 3_000, false),
            Effect::Stop,
            notify(Notice::Skipped {
                skipped: entry(2, T0),
                also_skipped: 0,
                next: None,
            }),
        ]
    );
    assert!(!player.is_paused());
}

// ----- stop -----

#[test]
fn stop_clears_the_queue_and_the_current_entry_but_keeps_settings() {
    let (mut player, _) = playing([1, 2, 3]);
    player.set_volume(50).expect("volume");
    player.set_loop(LoopMode::Queue);
    assert_eq!(
        player.stop(2_000).expect("stop"),
        [
            history(1, 2_000),
            Effect::Persist(StoreOp::ClearQueue),
            Effect::Persist(StoreOp::SetCurrent {
                entry: None,
                position: PositionSnapshot::new(0, 2_000),
            }),
            Effect::Stop,
            notify(Notice::Stopped { cleared: 2 }),
        ]
    );
    assert_eq!(player.current(), None);
    assert!(player.queue().is_empty());
    assert_eq!(player.volume(), 50);
    assert_eq!(player.loop_mode(), LoopMode::Queue);
    assert_eq!(player.stop(2_000), Err(Refusal::NothingPlaying));
}

#[test]
fn stop_while_paused_unpauses_and_skips_an_empty_clear() {
    let (mut player, _) = playing([1]);
    player.pause(T0).expect("pause");
    assert_eq!(
        player.stop(2_000).expect("stop"),
        [
            history(1, 2_000),
            Effect::Persist(StoreOp::SetCurrent {
                entry: None,
                position: PositionSnapshot::new(0, 2_000),
            }),
            save(0, 2_000, false),
            Effect::Stop,
            notify(Notice::Stopped { cleared: 0 }),
        ]
    );
    assert!(!player.is_paused());
}

// ----- seek -----

#[test]
fn seek_moves_the_position() {
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.seek(83_000, 2_000).expect("seek"),
        [
            save(83_000, 2_000, false),
            Effect::Seek(83_000),
            notify(Notice::Seeked {
                entry: entry(1, T0),
                position_ms: 83_000,
            }),
        ]
    );
    assert_eq!(player.position_at(3_000), 84_000);
    assert!(
        player.seek(LENGTH, 2_000).is_ok(),
        "the very end is allowed"
    );
}

#[test]
fn seek_while_paused_stays_paused() {
    let (mut player, _) = playing([1]);
    player.pause(T0).expect("pause");
    assert_eq!(
        player.seek(10_000, 2_000).expect("seek")[0],
        save(10_000, 2_000, true)
    );
    assert_eq!(player.position_at(9_000), 10_000);
}

#[test]
fn seek_refusals() {
    assert_eq!(GuildPlayer::new().seek(0, T0), Err(Refusal::NothingPlaying));
    let (mut player, _) = playing([1]);
    let refusal = player.seek(LENGTH + 1, 2_000).expect_err("beyond");
    assert_eq!(
        refusal,
        Refusal::SeekBeyondEnd {
            position_ms: LENGTH + 1,
            length_ms: LENGTH
        }
    );
    assert_eq!(
        refusal.to_string(),
        "3:20 is beyond the end of the track: pick a time up to 3:20"
    );

    let mut live = GuildPlayer::new();
    live.play(vec![stream(9)], USER, T0).expect("play");
    assert_eq!(
        live.seek(1_000, 2_000),
        Err(Refusal::NotSeekable {
            title: "Track 9".to_owned()
        })
    );
    let mut fixed = GuildPlayer::new();
    let mut t = track(8);
    t.info.is_seekable = false;
    fixed.play(vec![t], USER, T0).expect("play");
    assert!(matches!(
        fixed.seek(1_000, 2_000),
        Err(Refusal::NotSeekable { .. })
    ));
}

// ----- volume, loop -----

#[test]
fn volume_is_set_on_the_player_only_while_something_plays() {
    let mut idle = GuildPlayer::new();
    assert_eq!(
        idle.set_volume(0).expect("volume"),
        [
            Effect::Persist(StoreOp::SetVolume(0)),
            notify(Notice::VolumeSet(0)),
        ]
    );
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.set_volume(200).expect("volume"),
        [
            Effect::Persist(StoreOp::SetVolume(200)),
            Effect::SetVolume(200),
            notify(Notice::VolumeSet(200)),
        ]
    );
    assert_eq!(player.volume(), 200);
}

#[test]
fn volume_out_of_range_is_refused() {
    let mut player = GuildPlayer::new();
    for bad in [-1, 201, i64::MAX, i64::MIN] {
        let refusal = player.set_volume(bad).expect_err("refused");
        assert_eq!(refusal, Refusal::VolumeOutOfRange { requested: bad });
        assert!(
            refusal
                .to_string()
                .starts_with("volume must be between 0 and 200")
        );
    }
    assert_eq!(player.volume(), 100);
}

#[test]
fn set_loop_persists_and_tells() {
    let mut player = GuildPlayer::new();
    assert_eq!(
        player.set_loop(LoopMode::Track),
        [
            Effect::Persist(StoreOp::SetLoop(LoopMode::Track)),
            notify(Notice::LoopSet(LoopMode::Track)),
        ]
    );
    assert_eq!(player.loop_mode(), LoopMode::Track);
}

// ----- queue editing -----

#[test]
fn shuffle_is_exact_for_a_seed() {
    let (mut player, _) = playing(1..=6);
    let effects = player.shuffle(42).expect("shuffle");
    let order = player.queue().to_vec();
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::ReplaceQueue(order.clone())),
            notify(Notice::Shuffled { count: 5 }),
        ]
    );
    let (mut again, _) = playing(1..=6);
    again.shuffle(42).expect("shuffle");
    assert_eq!(again.queue(), order.as_slice());
    let mut titles = queue_titles(&player);
    assert_ne!(
        titles,
        ["Track 2", "Track 3", "Track 4", "Track 5", "Track 6"]
    );
    titles.sort();
    assert_eq!(
        titles,
        ["Track 2", "Track 3", "Track 4", "Track 5", "Track 6"]
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 1"));
}

#[test]
fn shuffle_needs_two_queued_tracks() {
    let (mut player, _) = playing([1, 2]);
    let refusal = player.shuffle(1).expect_err("refused");
    assert_eq!(refusal, Refusal::NotEnoughToShuffle { len: 1 });
    assert_eq!(
        refusal.to_string(),
        "there is nothing to shuffle: the queue has 1 track, it needs at least 2"
    );
}

#[test]
fn remove_takes_a_one_based_position() {
    let (mut player, _) = playing([1, 2, 3, 4]);
    assert_eq!(
        player.remove(2).expect("remove"),
        [
            Effect::Persist(StoreOp::Remove { index: 1 }),
            notify(Notice::Removed {
                entry: entry(3, T0),
                position: 2,
            }),
        ]
    );
    assert_eq!(queue_titles(&player), ["Track 2", "Track 4"]);
}

#[test]
fn remove_out_of_range_says_how_long_the_queue_is() {
    let (mut player, _) = playing([1, 2, 3, 4]);
    let refusal = player.remove(7).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::PositionOutOfRange {
            position: 7,
            len: 3
        }
    );
    assert_eq!(
        refusal.to_string(),
        "position 7 is out of range: the queue has 3 tracks (pick 1 to 3)"
    );
    assert!(player.remove(0).is_err());
    let (mut lone, _) = playing([1]);
    assert_eq!(
        lone.remove(1).expect_err("refused").to_string(),
        "position 1 is out of range: the queue is empty"
    );
}

#[test]
fn move_entry_places_it_at_the_new_position() {
    let (mut player, _) = playing([1, 2, 3, 4, 5]);
    assert_eq!(
        player.move_entry(4, 1).expect("move"),
        [
            Effect::Persist(StoreOp::Move { from: 3, to: 0 }),
            notify(Notice::Moved {
                entry: entry(5, T0),
                from: 4,
                to: 1,
            }),
        ]
    );
    assert_eq!(
        queue_titles(&player),
        ["Track 5", "Track 2", "Track 3", "Track 4"]
    );
    player.move_entry(1, 4).expect("move");
    assert_eq!(
        queue_titles(&player),
        ["Track 2", "Track 3", "Track 4", "Track 5"]
    );
    assert_eq!(
        player.move_entry(1, 5),
        Err(Refusal::PositionOutOfRange {
            position: 5,
            len: 4
        })
    );
    assert_eq!(
        player.move_entry(9, 1),
        Err(Refusal::PositionOutOfRange {
            position: 9,
            len: 4
        })
    );
}

#[test]
fn clear_empties_the_queue_and_keeps_the_current_entry() {
    let (mut player, _) = playing([1, 2, 3]);
    assert_eq!(
        player.clear().expect("clear"),
        [
            Effect::Persist(StoreOp::ClearQueue),
            notify(Notice::Cleared { count: 2 }),
        ]
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 1"));
    assert_eq!(player.clear(), Err(Refusal::QueueEmpty));
}

#[test]
fn leave_forgets_everything() {
    let (mut player, _) = playing([1, 2]);
    player.set_volume(10).expect("volume");
    player.set_loop(LoopMode::Queue);
    player.pause(T0).expect("pause");
    assert_eq!(
        player.leave(),
        [
            Effect::Persist(StoreOp::ForgetGuild),
            Effect::Disconnect,
            notify(Notice::Left),
        ]
    );
    assert_eq!(player.snapshot(), Snapshot::default());
    assert_eq!(GuildPlayer::new().leave().len(), 3, "never refused");
    // Play ids keep counting, so events about the old play stay stale.
    let effects = player.play(tracks([3]), USER, T0).expect("play");
    assert!(matches!(effects[2], Effect::Play { play_id: 1_001, .. }));
}

// ----- TrackStart -----

#[test]
fn track_start_confirms_and_announces_once() {
    let (mut player, current) = playing([1, 2]);
    // The answer to /play already said "Now playing": the start only confirms it. (A track that
    // starts later, when the queue moves on, is announced: `finished_with_loop_off_plays_the_next`.)
    assert_eq!(player.track_start(&current, 1_500), [save(0, 1_500, false)]);
    assert_eq!(player.track_start(&current, 1_600), [], "a repeated start");
    let stale = echoed(&entry(2, T0), 99);
    assert_eq!(player.track_start(&stale, 1_600), []);
    assert_eq!(player.position(), PositionSnapshot::new(0, 1_500));
}

// ----- TrackEnd -----

#[test]
fn finished_with_loop_off_plays_the_next() {
    let (mut player, current) = playing([1, 2]);
    assert_eq!(
        player.track_end(&current, TrackEndReason::Finished, 9_000),
        [
            history(1, 9_000),
            advance(Finished::Drop, 9_000),
            play(2, 0, false, 9_000)
        ]
    );
    let next = echoed(&entry(2, T0), 9_000);
    assert_eq!(
        player.track_start(&next, 9_100),
        [
            save(0, 9_100, false),
            notify(Notice::NowPlaying {
                entry: entry(2, T0),
            }),
        ]
    );
    assert_eq!(
        player.track_end(&next, TrackEndReason::Finished, 20_000),
        [
            history(2, 20_000),
            advance(Finished::Drop, 20_000),
            notify(Notice::QueueFinished),
        ]
    );
    assert_eq!(player.current(), None);
}

#[test]
fn finished_with_loop_track_plays_it_again_without_announcing() {
    let (mut player, current) = playing([1, 2]);
    player.track_start(&current, T0);
    player.set_loop(LoopMode::Track);
    assert_eq!(
        player.track_end(&current, TrackEndReason::Finished, 9_000),
        [save(0, 9_000, false), play(1, 0, false, 9_000)]
    );
    let again = echoed(&entry(1, T0), 9_000);
    assert_eq!(player.track_start(&again, 9_100), [save(0, 9_100, false)]);
    assert_eq!(queue_titles(&player), ["Track 2"]);
}

#[test]
fn finished_with_loop_queue_puts_it_at_the_back() {
    let (mut player, current) = playing([1, 2]);
    player.set_loop(LoopMode::Queue);
    assert_eq!(
        player.track_end(&current, TrackEndReason::Finished, 9_000),
        [
            history(1, 9_000),
            advance(Finished::Requeue, 9_000),
            play(2, 0, false, 9_000)
        ]
    );
    assert_eq!(queue_titles(&player), ["Track 1"]);
}

#[test]
fn stopped_replaced_cleanup_and_unknown_do_not_advance() {
    for reason in [
        TrackEndReason::Stopped,
        TrackEndReason::Replaced,
        TrackEndReason::Cleanup,
        TrackEndReason::Unknown,
    ] {
        let (mut player, current) = playing([1, 2]);
        let before = player.clone();
        assert_eq!(player.track_end(&current, reason, 9_000), [], "{reason:?}");
        assert_eq!(player, before);
    }
}

#[test]
fn an_end_that_crossed_a_skip_does_not_skip_again() {
    let (mut player, first) = playing([1, 2, 3]);
    player.skip(None, 5_000).expect("skip");
    // Track 1 finished on the node just before the skip reached it.
    assert_eq!(
        player.track_end(&first, TrackEndReason::Finished, 5_001),
        []
    );
    assert_eq!(
        player.track_end(&first, TrackEndReason::Replaced, 5_002),
        []
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 2"));
    assert_eq!(queue_titles(&player), ["Track 3"]);
}

#[test]
fn an_old_play_of_the_same_entry_is_stale() {
    let (mut player, first_play) = playing([1]);
    player.set_loop(LoopMode::Track);
    player.track_end(&first_play, TrackEndReason::Finished, 9_000);
    // The same track again: only its new play id tells the second play from the first.
    assert_eq!(
        player.track_end(&first_play, TrackEndReason::Finished, 9_001),
        []
    );
}

#[test]
fn events_without_a_play_id_are_matched_by_the_encoded_track() {
    let (mut player, _) = playing([1, 2]);
    assert_eq!(
        player.track_end(&bare(&entry(2, T0)), TrackEndReason::Finished, 9_000),
        [],
        "not the current track"
    );
    assert_eq!(
        player.track_end(&bare(&entry(1, T0)), TrackEndReason::Finished, 9_000),
        [
            history(1, 9_000),
            advance(Finished::Drop, 9_000),
            play(2, 0, false, 9_000)
        ]
    );
}

#[test]
fn events_while_idle_are_ignored() {
    let mut player = GuildPlayer::new();
    let t = bare(&entry(1, T0));
    assert_eq!(player.track_start(&t, T0), []);
    assert_eq!(player.track_end(&t, TrackEndReason::Finished, T0), []);
    assert_eq!(player.track_exception(&t, &exception("x")), []);
    assert_eq!(player.track_stuck(&t, T0), []);
    assert_eq!(player.player_update(5, T0), []);
    assert_eq!(player.move_failed("x", T0), []);
    assert_eq!(player, GuildPlayer::new());
}

// ----- failures -----

#[test]
fn an_exception_tells_once_and_the_end_after_it_skips_one_track() {
    let (mut player, current) = playing([1, 2, 3]);
    let skipping = notify(Notice::Skipping {
        entry: entry(1, T0),
        cause: SkipCause::Exception {
            message: "This video is unavailable".to_owned(),
            severity: Severity::Common,
        },
    });
    assert_eq!(
        player.track_exception(&current, &exception("This video is unavailable")),
        std::slice::from_ref(&skipping)
    );
    assert_eq!(
        skipping.to_string_notice(),
        "Skipping **Track 1**: it failed to play (This video is unavailable)"
    );
    assert_eq!(
        player.track_exception(&current, &exception("again")),
        [],
        "told once"
    );
    assert_eq!(
        player.track_end(&current, TrackEndReason::LoadFailed, 9_000),
        [advance(Finished::Drop, 9_000), play(2, 0, false, 9_000)]
    );
    // A duplicate end of the failed play changes nothing.
    assert_eq!(
        player.track_end(&current, TrackEndReason::LoadFailed, 9_001),
        []
    );
    assert_eq!(current_title(&player).as_deref(), Some("Track 2"));
    assert_eq!(queue_titles(&player), ["Track 3"]);
}

#[test]
fn a_failed_track_leaves_any_loop() {
    for mode in [LoopMode::Track, LoopMode::Queue] {
        let (mut player, current) = playing([1, 2]);
        player.set_loop(mode);
        player.track_exception(&current, &exception("boom"));
        assert_eq!(
            player.track_end(&current, TrackEndReason::Finished, 9_000),
            [advance(Finished::Drop, 9_000), play(2, 0, false, 9_000)],
            "{mode:?}"
        );
        assert!(player.queue().is_empty(), "{mode:?}");
    }
}

#[test]
fn load_failed_without_an_exception_tells_and_skips() {
    let (mut player, current) = playing([1]);
    player.set_loop(LoopMode::Queue);
    assert_eq!(
        player.track_end(&current, TrackEndReason::LoadFailed, 9_000),
        [
            advance(Finished::Drop, 9_000),
            notify(Notice::Skipping {
                entry: entry(1, T0),
                cause: SkipCause::LoadFailed,
            }),
            notify(Notice::QueueFinished),
        ]
    );
}

#[test]
fn an_exception_message_falls_back_to_its_cause() {
    let (mut player, current) = playing([1]);
    let mut e = exception("");
    e.message = None;
    let effects = player.track_exception(&current, &e);
    assert_eq!(
        effects,
        [notify(Notice::Skipping {
            entry: entry(1, T0),
            cause: SkipCause::Exception {
                message: "com.sedmelluq.FriendlyException".to_owned(),
                severity: Severity::Common,
            },
        })]
    );
}

#[test]
fn stuck_once_restarts_at_the_last_reported_position_and_twice_skips() {
    let (mut player, current) = playing([1, 2]);
    player.track_start(&current, T0);
    player.player_update(30_000, 31_000);
    assert_eq!(
        player.track_stuck(&current, 45_000),
        [
            save(30_000, 45_000, false),
            play(1, 30_000, false, 45_000),
            notify(Notice::StuckRestarting {
                entry: entry(1, T0),
                position_ms: 30_000,
            }),
        ]
    );
    let restarted = echoed(&entry(1, T0), 45_000);
    assert_eq!(
        player.track_start(&restarted, 45_100),
        [save(30_000, 45_100, false)],
        "no second announcement"
    );
    assert_eq!(
        player.track_stuck(&current, 45_200),
        [],
        "the old play is stale"
    );
    assert_eq!(
        player.track_stuck(&restarted, 60_000),
        [
            advance(Finished::Drop, 60_000),
            play(2, 0, false, 60_000),
            notify(Notice::Skipping {
                entry: entry(1, T0),
                cause: SkipCause::StuckTwice,
            }),
        ]
    );
}

#[test]
fn stuck_twice_on_the_last_track_stops_the_player() {
    let (mut player, current) = playing([1]);
    player.track_stuck(&current, 2_000);
    let restarted = echoed(&entry(1, T0), 2_000);
    assert_eq!(
        player.track_stuck(&restarted, 3_000),
        [
            advance(Finished::Drop, 3_000),
            Effect::Stop,
            notify(Notice::Skipping {
                entry: entry(1, T0),
                cause: SkipCause::StuckTwice,
            }),
            notify(Notice::QueueFinished),
        ]
    );
}

#[test]
fn stuck_restarts_are_counted_per_turn() {
    let (mut player, current) = playing([1]);
    player.set_loop(LoopMode::Track);
    player.track_stuck(&current, 2_000);
    let restarted = echoed(&entry(1, T0), 2_000);
    player.track_end(&restarted, TrackEndReason::Finished, 9_000);
    let next_turn = echoed(&entry(1, T0), 9_000);
    let effects = player.track_stuck(&next_turn, 10_000);
    assert!(
        matches!(
            effects[1],
            Effect::Play {
                play_id: 10_000,
                ..
            }
        ),
        "a new turn restarts again: {effects:?}"
    );
}

#[test]
fn a_failed_move_skips_to_the_next() {
    let (mut player, _) = playing([1, 2]);
    assert_eq!(
        player.move_failed("track could not be loaded", 5_000),
        [
            advance(Finished::Drop, 5_000),
            play(2, 0, false, 5_000),
            notify(Notice::Skipping {
                entry: entry(1, T0),
                cause: SkipCause::MoveFailed {
                    error: "track could not be loaded".to_owned()
                },
            }),
        ]
    );
    assert_eq!(
        player.move_failed("again", 6_000),
        [
            advance(Finished::Drop, 6_000),
            notify(Notice::Skipping {
                entry: entry(2, T0),
                cause: SkipCause::MoveFailed {
                    error: "again".to_owned()
                },
            }),
            notify(Notice::QueueFinished),
        ]
    );
}

#[test]
fn player_updates_move_the_position() {
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.player_update(12_345, 20_000),
        [save(12_345, 20_000, false)]
    );
    assert_eq!(player.position_at(21_000), 13_345);
    assert_eq!(
        player.player_update(LENGTH + 5, 30_000),
        [save(LENGTH, 30_000, false)]
    );
}

#[test]
fn on_event_dispatches_and_ignores_voice_closes() {
    let (mut player, current) = playing([1, 2]);
    let guild_id = GuildId(1);
    let closed = Event::WebSocketClosed(WebSocketClosed {
        guild_id,
        code: 4014,
        reason: "disconnected".to_owned(),
        by_remote: true,
    });
    assert_eq!(player.on_event(&closed, 2_000), []);
    assert_eq!(
        player.on_event(&Event::Unknown(serde_json::Value::Null), 2_000),
        []
    );
    let start = Event::TrackStart(TrackStart {
        guild_id,
        track: current.clone(),
    });
    assert_eq!(
        player.on_event(&start, 2_000).len(),
        1,
        "confirmed, not re-announced"
    );
    let exception_event = Event::TrackException(TrackException {
        guild_id,
        track: current.clone(),
        exception: exception("x"),
    });
    assert_eq!(player.on_event(&exception_event, 2_000).len(), 1);
    let stuck = Event::TrackStuck(TrackStuck {
        guild_id,
        track: current.clone(),
        threshold_ms: 10_000,
    });
    assert_eq!(player.on_event(&stuck, 2_000).len(), 3);
    let restarted = echoed(&entry(1, T0), 2_000);
    let end = Event::TrackEnd(TrackEnd {
        guild_id,
        track: restarted,
        reason: TrackEndReason::LoadFailed,
    });
    assert_eq!(
        player.on_event(&end, 3_000),
        [advance(Finished::Drop, 3_000), play(2, 0, false, 3_000)]
    );
}

// ----- restore -----

fn stored(current: Option<u32>, queue: &[u32], paused: bool) -> Snapshot {
    Snapshot {
        queue: entries(queue.iter().copied(), T0),
        current: current.map(|n| entry(n, T0)),
        position: PositionSnapshot::new(42_000, 50_000),
        paused,
        volume: 80,
        loop_mode: LoopMode::Queue,
        filters: Filters::default(),
        stay: false,
        autoplay: false,
    }
}

#[test]
fn restore_and_resume_play_from_the_saved_position() {
    let snapshot = stored(Some(1), &[2], false);
    let mut player = GuildPlayer::restore(snapshot.clone());
    assert_eq!(player.snapshot(), snapshot);
    assert_eq!(
        player.resume_from_snapshot(90_000),
        [
            save(42_000, 90_000, false),
            Effect::Play {
                entry: entry(1, T0),
                position_ms: 42_000,
                paused: false,
                volume: 80,
                filters: Filters::default(),
                play_id: 90_000,
            },
        ]
    );
    // The resumed play is confirmed without a second "Now playing".
    let resumed = echoed(&entry(1, T0), 90_000);
    assert_eq!(
        player.track_start(&resumed, 90_100),
        [save(42_000, 90_100, false)]
    );
}

#[test]
fn restore_paused_resumes_paused() {
    let mut player = GuildPlayer::restore(stored(Some(1), &[], true));
    let effects = player.resume_from_snapshot(90_000);
    assert_eq!(effects[0], save(42_000, 90_000, true));
    assert!(matches!(effects[1], Effect::Play { paused: true, .. }));
    assert_eq!(player.position_at(999_999), 42_000);
}

#[test]
fn restore_with_only_a_queue_starts_its_head() {
    let mut player = GuildPlayer::restore(stored(None, &[2, 3], true));
    assert!(!player.is_paused(), "nothing current is never paused");
    assert_eq!(
        player.resume_from_snapshot(90_000),
        [
            advance(Finished::Drop, 90_000),
            Effect::Play {
                entry: entry(2, T0),
                position_ms: 0,
                paused: false,
                volume: 80,
                filters: Filters::default(),
                play_id: 90_000,
            },
        ]
    );
}

#[test]
fn restore_of_nothing_resumes_nothing_and_caps_the_volume() {
    let mut player = GuildPlayer::restore(Snapshot {
        volume: 1_000,
        ..Snapshot::default()
    });
    assert_eq!(player.resume_from_snapshot(90_000), []);
    assert_eq!(player.volume(), 200);
}

#[test]
fn a_player_the_node_kept_carries_on_after_restore() {
    // The previous process played it with its own play id; the node echoes that.
    let mut player = GuildPlayer::restore(stored(Some(1), &[2], false));
    assert_eq!(
        player.position_at(51_000),
        43_000,
        "extrapolated while it plays"
    );
    let theirs = echoed(&entry(1, T0), 77);
    assert_eq!(
        player.track_end(&theirs, TrackEndReason::Finished, 60_000),
        [
            history(1, 60_000),
            advance(Finished::Requeue, 60_000),
            Effect::Play {
                entry: entry(2, T0),
                position_ms: 0,
                paused: false,
                volume: 80,
                filters: Filters::default(),
                play_id: 60_000,
            }
        ]
    );
}

#[test]
fn store_ops_rebuild_the_snapshot() {
    let mut model = StoreModel::default();
    let mut player = GuildPlayer::new();
    let mut run = |effects: Vec<Effect>| model.apply_all(&effects);
    run(player.play(tracks(1..=5), USER, T0).expect("play"));
    run(player.skip(Some(2), 2_000).expect("skip"));
    run(player.pause(3_000).expect("pause"));
    run(player.shuffle(9).expect("shuffle"));
    run(player.move_entry(1, 2).expect("move"));
    run(player.remove(1).expect("remove"));
    run(player.set_volume(33).expect("volume"));
    run(player.set_loop(LoopMode::Queue));
    run(player.skip(None, 4_000).expect("skip"));
    assert_eq!(model.0, player.snapshot());
}

// ----- queries -----

#[test]
fn now_playing_reports_position_and_settings() {
    let (mut player, _) = playing([1]);
    player.set_volume(70).expect("volume");
    let now = player.now_playing(T0 + 83_000).expect("playing");
    assert_eq!(now.entry, &entry(1, T0));
    assert_eq!(now.position_ms, 83_000);
    assert!(!now.paused);
    assert_eq!(now.volume, 70);
    assert_eq!(now.loop_mode, LoopMode::Off);
    assert_eq!(GuildPlayer::new().now_playing(T0), None);
    assert_eq!(
        player.position_bar(T0 + 83_000).as_deref(),
        Some("▬▬▬▬🔘▬▬▬▬▬ 1:23 / 3:20")
    );
    assert_eq!(GuildPlayer::new().position_bar(T0), None);
}

#[test]
fn queue_pages_are_ten_long() {
    let (mut player, _) = playing(0..=25);
    player.play(vec![stream(99)], USER, T0).expect("play");
    let first = player.queue_page(1).expect("page 1");
    assert_eq!(first.total_pages, 3);
    assert_eq!(first.total_tracks, 26);
    assert_eq!(first.lines.len(), 10);
    assert_eq!(first.lines[0].position, 1);
    assert_eq!(first.lines[0].entry.info.title, "Track 1");
    assert_eq!(first.total_duration_ms, 25 * LENGTH);
    assert_eq!(first.streams, 1);
    let last = player.queue_page(3).expect("page 3");
    assert_eq!(last.lines.len(), 6);
    assert_eq!(last.lines[5].position, 26);
    assert_eq!(last.lines[5].entry.info.title, "Track 99");
    let refusal = player.queue_page(4).expect_err("no page 4");
    assert_eq!(
        refusal.to_string(),
        "page 4 does not exist: the queue has 3 pages (pick 1 to 3)"
    );
    assert!(player.queue_page(0).is_err());
}

#[test]
fn an_empty_queue_has_one_empty_page() {
    let player = GuildPlayer::new();
    let page = player.queue_page(1).expect("page 1");
    assert_eq!(page.total_pages, 1);
    assert!(page.lines.is_empty());
    assert_eq!(page.total_duration_ms, 0);
    assert_eq!(
        GuildPlayer::new()
            .queue_page(2)
            .expect_err("no page 2")
            .to_string(),
        "page 2 does not exist: the queue has 1 page (pick 1 to 1)"
    );
}

// ----- texts -----

trait NoticeText {
    fn to_string_notice(&self) -> String;
}

impl NoticeText for Effect {
    fn to_string_notice(&self) -> String {
        match self {
            Effect::Notify(notice) => notice.to_string(),
            other => panic!("not a notice: {other:?}"),
        }
    }
}

#[test]
fn notices_read_well() {
    let e = entry(1, T0);
    let cases = [
        (
            Notice::NowPlaying { entry: e.clone() },
            "Now playing **Track 1**",
        ),
        (
            Notice::Queued {
                first: e.clone(),
                count: 1,
                position: Some(3),
            },
            "Queued **Track 1** at position 3",
        ),
        (
            Notice::Queued {
                first: e.clone(),
                count: 4,
                position: Some(3),
            },
            "Queued 4 tracks at positions 3 to 6",
        ),
        (
            Notice::Queued {
                first: e.clone(),
                count: 3,
                position: None,
            },
            "Now playing **Track 1**, and 2 tracks queued",
        ),
        (
            Notice::Skipped {
                skipped: e.clone(),
                also_skipped: 1,
                next: None,
            },
            "Skipped **Track 1** and 1 track after it; the queue is finished",
        ),
        (
            Notice::Skipping {
                entry: e.clone(),
                cause: SkipCause::StuckTwice,
            },
            "Skipping **Track 1**: it got stuck again after a restart",
        ),
        (
            Notice::Skipping {
                entry: e.clone(),
                cause: SkipCause::LoadFailed,
            },
            "Skipping **Track 1**: it failed to play (it could not be loaded)",
        ),
        (
            Notice::StuckRestarting {
                entry: e.clone(),
                position_ms: 83_000,
            },
            "**Track 1** got stuck; restarting it at 1:23",
        ),
        (
            Notice::QueueFinished,
            "Queue finished: use /play to add more",
        ),
        (Notice::Stopped { cleared: 0 }, "Stopped"),
        (
            Notice::Stopped { cleared: 2 },
            "Stopped and removed 2 tracks from the queue",
        ),
        (Notice::VolumeSet(150), "Volume set to 150%"),
        (Notice::LoopSet(LoopMode::Queue), "Looping the queue"),
    ];
    for (notice, text) in cases {
        assert_eq!(notice.to_string(), text);
    }
    let mut odd = track(1);
    odd.info.title = "*bold* _x_".to_owned();
    assert_eq!(
        Notice::NowPlaying {
            entry: music::Entry::new(odd, USER, T0)
        }
        .to_string(),
        r"Now playing **\*bold\* \_x\_**"
    );
}

#[test]
fn refusals_say_what_to_do() {
    assert_eq!(
        Refusal::NothingPlaying.to_string(),
        "nothing is playing: use /play to start something"
    );
    assert_eq!(
        Refusal::VolumeOutOfRange { requested: 300 }.to_string(),
        "volume must be between 0 and 200 (got 300)"
    );
    assert_eq!(
        Refusal::PositionOutOfRange {
            position: 7,
            len: 1
        }
        .to_string(),
        "position 7 is out of range: the queue has 1 track (pick 1 to 1)"
    );
}

#[test]
fn loop_modes_parse_and_print() {
    for mode in [LoopMode::Off, LoopMode::Track, LoopMode::Queue] {
        assert_eq!(mode.to_string().parse::<LoopMode>(), Ok(mode));
    }
    assert_eq!(
        "all".parse::<LoopMode>().expect_err("unknown").to_string(),
        "unknown loop mode \"all\": use off, track or queue"
    );
}

#[test]
fn entries_decode_from_the_encoded_track_alone() {
    let info = common::info(5);
    let encoded = lavalink::codec::encode_track(&info).expect("encode");
    let decoded = music::Entry::decode(encoded.clone(), USER, T0).expect("decode");
    assert_eq!(decoded.encoded, encoded);
    assert_eq!(decoded.info.title, "Track 5");
    assert_eq!(decoded.info.known_length(), Some(LENGTH));
    assert!(decoded.is_seekable());
    assert!(music::Entry::decode("not base64!", USER, T0).is_err());
}

// ----- filters -----

#[test]
fn filters_go_to_the_store_and_the_player_and_every_later_play_carries_them() {
    let (mut player, _) = playing([1, 2]);
    let nightcore = music::preset("nightcore").expect("nightcore");
    let effects = player
        .set_filters(FilterChange::Preset(nightcore))
        .expect("playing");
    let expected = FilterChange::Preset(nightcore).apply(&Filters::default());
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::SetFilters(expected.clone())),
            Effect::SetFilters(expected.clone()),
            Effect::Notify(Notice::FiltersSet {
                active: vec!["nightcore".to_owned()]
            }),
        ]
    );
    assert_eq!(
        player.now_playing(T0).map(|now| now.filters),
        Some(vec!["nightcore".to_owned()])
    );
    // The next track plays with them; a restore keeps them and plays with them.
    let next = player.skip(None, T0 + 10).expect("skip");
    assert!(
        next.iter()
            .any(|e| matches!(e, Effect::Play { filters, .. } if *filters == expected)),
        "{next:?}"
    );
    let mut restored = GuildPlayer::restore(player.snapshot());
    assert_eq!(restored.filters(), &expected);
    let resumed = restored.resume_from_snapshot(T0 + 20);
    assert!(
        resumed
            .iter()
            .any(|e| matches!(e, Effect::Play { filters, .. } if *filters == expected)),
        "{resumed:?}"
    );
}

#[test]
fn a_filter_with_nothing_playing_is_refused_but_a_reset_is_not() {
    let mut player = GuildPlayer::new();
    let bass = music::preset("bassboost-high").expect("preset");
    assert_eq!(
        player.set_filters(FilterChange::Preset(bass)),
        Err(Refusal::NothingPlaying)
    );
    assert_eq!(
        player.set_filters(FilterChange::Reset),
        Ok(vec![
            Effect::Persist(StoreOp::SetFilters(Filters::default())),
            Effect::Notify(Notice::FiltersSet { active: Vec::new() }),
        ])
    );
    assert_eq!(
        Notice::FiltersSet { active: Vec::new() }.to_string(),
        "Filters off: the track plays as recorded"
    );
}

// ----- 24/7, autoplay, history, previous, replay -----

#[test]
fn stay_and_autoplay_are_stored_settings() {
    let mut player = GuildPlayer::new();
    assert_eq!(
        player.set_stay(true),
        [
            Effect::Persist(StoreOp::SetStay(true)),
            notify(Notice::StaySet(true))
        ]
    );
    assert_eq!(
        player.set_autoplay(true),
        [
            Effect::Persist(StoreOp::SetAutoplay(true)),
            notify(Notice::AutoplaySet(true))
        ]
    );
    let restored = GuildPlayer::restore(player.snapshot());
    assert!(restored.stays() && restored.autoplays());
    assert!(Notice::StaySet(true).to_string().starts_with("24/7 is on"));
}

#[test]
fn with_autoplay_the_end_of_the_queue_asks_for_a_related_track() {
    let (mut player, current) = playing([1]);
    player.set_autoplay(true);
    let effects = player.track_end(&current, TrackEndReason::Finished, 9_000);
    assert_eq!(
        effects,
        [
            history(1, 9_000),
            advance(Finished::Drop, 9_000),
            Effect::Autoplay { seed: entry(1, T0) },
        ],
        "no 'queue finished': autoplay looks for more"
    );
    // What it found plays, as a /play would.
    let found = entry(7, T0);
    let effects = player.autoplay_found(found.clone(), 9_500);
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::Enqueue {
                entries: vec![found.clone()],
                at: None
            }),
            advance(Finished::Drop, 9_500),
            play(7, 0, false, 9_500),
            notify(Notice::AutoplayQueued { entry: found }),
        ]
    );
    // A find that arrives after a /play (or with autoplay off) does nothing.
    assert_eq!(player.autoplay_found(entry(8, T0), 9_600), []);
}

#[test]
fn a_failed_track_is_not_history_and_does_not_seed_autoplay() {
    let (mut player, current) = playing([1]);
    player.set_autoplay(true);
    let effects = player.track_end(&current, TrackEndReason::LoadFailed, 9_000);
    assert!(
        !effects.iter().any(|e| matches!(
            e,
            Effect::Autoplay { .. } | Effect::Persist(StoreOp::AddHistory { .. })
        )),
        "{effects:?}"
    );
}

#[test]
fn previous_plays_the_last_played_and_puts_the_current_back_in_front() {
    let (mut player, _) = playing([1, 2]);
    let effects = player.previous(entry(9, T0), 77, 5_000);
    assert_eq!(
        effects,
        [
            Effect::Persist(StoreOp::RemoveHistory { id: 77 }),
            Effect::Persist(StoreOp::Enqueue {
                entries: vec![entry(1, T0)],
                at: Some(0)
            }),
            Effect::Persist(StoreOp::SetCurrent {
                entry: Some(entry(9, T0)),
                position: PositionSnapshot::new(0, 5_000)
            }),
            play(9, 0, false, 5_000),
            notify(Notice::PlayingPrevious {
                entry: entry(9, T0)
            }),
        ]
    );
    assert_eq!(queue_titles(&player), ["Track 1", "Track 2"]);
    // Idle: it just plays.
    let mut idle = GuildPlayer::new();
    let effects = idle.previous(entry(9, T0), 78, 6_000);
    assert!(effects.contains(&play(9, 0, false, 6_000)), "{effects:?}");
    assert!(idle.queue().is_empty());
}

#[test]
fn replay_restarts_the_current_track() {
    let (mut player, _) = playing([1]);
    assert_eq!(
        player.replay(4_000),
        Ok(vec![
            save(0, 4_000, false),
            Effect::Seek(0),
            notify(Notice::Replaying {
                entry: entry(1, T0)
            }),
        ])
    );
    assert_eq!(
        GuildPlayer::new().replay(4_000),
        Err(Refusal::NothingPlaying)
    );
}
