//! The [`Store`] trait's semantics as a test suite that every backend runs.
//!
//! Each function checks one behaviour against any store and panics (like a failed `assert!`) when
//! the store does not behave. Each uses guild ids of its own (1001 to 1058, 1100 to 2299, and some
//! above 2^63) and user ids of its own for playlists (9001 to 9006, 0, 2^63 and `u64::MAX`) and
//! forgets them (deletes their playlists, puts their guild settings back to the defaults) before
//! it starts, so they can run one after another on one store
//! ([`run_all`], even twice), on a store with other data in it, or each on a fresh one (one
//! `#[tokio::test]` per function). The handover functions take whatever sessions are stored before
//! they start, so they expect no other process to be handing over through the same database
//! meanwhile. The deploy ledger functions first end any deploy left running (as `failed`) and add
//! deploys of their own (the ledger keeps every deploy), so they expect no other process to deploy
//! through the same database meanwhile.
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let store = open_a_fresh_store().await;
//!     store::conformance::run_all(&store).await;
//! }
//! ```

use crate::{
    Colour, ColourBuild, DeployState, DeployStep, DiscordCache, Error, Filters, Finished,
    GatewaySession, GuildSettings, GuildState, HISTORY_LEN, HandoverScope, HistoryEntry,
    LavalinkSession, LoopMode, MAX_BUILD_FIELD, MAX_DEFAULT_VOLUME, MAX_DEPLOY_NAME,
    MAX_DEPLOY_TEXT, MAX_LOCALE_CHARS, MAX_PLAYLIST_NAME_CHARS, MAX_PLAYLIST_TRACKS,
    MAX_PLAYLISTS_PER_USER, MAX_STEPS_PER_DEPLOY, MAX_VOLUME, NewDeploy, PanelMessage, Playlist,
    PlaylistNameProblem, PlaylistSummary, PositionSnapshot, PositionWrite, QueueEntry,
    SavedPlaylist, StepOutcome, Store, VOTE_SKIP_PERCENT,
};

/// A guild id above 2^63, to check that ids round-trip whatever their top bit.
pub const BIG_ID: u64 = u64::MAX - 6;

/// Every behaviour, one after another, on one store (all but [`damaged_guilds_set_apart`], which
/// needs the backend to damage a guild's rows: call it too).
pub async fn run_all(store: &dyn Store) {
    macro_rules! each {
        ($($behaviour:ident),*) => {
            $( $behaviour(store).await; )*
        };
    }
    crate::conformance_behaviours!(each);
}

/// Calls `$callback!` with the name of every behaviour of the suite, in order (the list
/// [`run_all`] runs): a backend's test file expands it into one `#[tokio::test]` each, so that a
/// behaviour added here runs on every backend.
///
/// ```ignore
/// macro_rules! conformance_tests {
///     ($($name:ident),*) => { $( #[tokio::test] async fn $name() { /* ... */ } )* };
/// }
/// store::conformance_behaviours!(conformance_tests);
/// ```
#[macro_export]
macro_rules! conformance_behaviours {
    ($callback:ident) => {
        $callback! {
            ping,
            check,
            unknown_guild,
            defaults,
            entries_round_trip,
            enqueue_appends_and_inserts,
            enqueue_out_of_range,
            remove,
            remove_out_of_range,
            move_entry,
            move_out_of_range,
            clear_queue,
            replace_queue,
            set_current,
            advance_drop,
            advance_requeue,
            advance_empty_and_unknown,
            save_position,
            save_positions,
            save_positions_large,
            settings,
            volume_out_of_range,
            big_ids,
            forget_guild,
            waiting_requests,
            load_all_guilds,
            load_guilds_by_shard,
            gateway_sessions,
            lavalink_sessions,
            discord_cache,
            concurrent_takes,
            scoped_handover,
            identify_slots,
            concurrent_identify_slots,
            deploy_round_trip,
            one_deploy_at_a_time,
            deploy_finish_rules,
            deploy_unknown_id,
            deploy_history,
            deploy_bounds,
            colour_builds,
            stay_and_autoplay,
            history_round_trip,
            history_cap,
            history_remove_and_forget,
            history_big_ids,
            playlists_round_trip,
            playlist_refusals,
            playlists_per_user,
            playlist_of_500_tracks,
            concurrent_playlist_saves,
            panel_round_trip,
            panel_forgotten_with_the_guild,
            guild_settings_default,
            guild_settings_round_trip,
            guild_settings_bounds,
            guild_settings_survive_forget_guild
        }
    };
}

/// A queue entry whose fields are all derived from `n`, so that entries are told apart.
pub fn entry(n: u64) -> QueueEntry {
    QueueEntry {
        track: format!("QAAAjQIAJFJpY2sgQXN0bGV5IC0gTmV2ZXIg{n}=="),
        requester_id: 100_000 + n,
        title: format!("Track {n} – “quoted” ☃"),
        author: format!("Author {n}"),
        length_ms: 180_000 + n,
        uri: n
            .is_multiple_of(2)
            .then(|| format!("https://example.invalid/{n}")),
        added_at_unix_ms: 1_700_000_000_000 + n,
    }
}

/// Entries `range` as a vector.
pub fn entries(range: std::ops::Range<u64>) -> Vec<QueueEntry> {
    range.map(entry).collect()
}

/// Starts a behaviour from nothing stored for its guilds, whatever ran on the store before.
async fn forget(store: &dyn Store, guilds: &[u64]) {
    for guild in guilds {
        store.forget_guild(*guild).await.expect("forget_guild");
    }
}

async fn state(store: &dyn Store, guild: u64) -> GuildState {
    store
        .load_guild(guild)
        .await
        .expect("load_guild")
        .unwrap_or_else(|| panic!("guild {guild} has no state"))
}

async fn queue(store: &dyn Store, guild: u64) -> Vec<QueueEntry> {
    state(store, guild).await.queue
}

/// Entry numbers of a queue (see [`entry`]), for readable assertions.
fn numbers(queue: &[QueueEntry]) -> Vec<u64> {
    queue.iter().map(|e| e.requester_id - 100_000).collect()
}

async fn numbered_queue(store: &dyn Store, guild: u64) -> Vec<u64> {
    numbers(&queue(store, guild).await)
}

/// `ping` answers.
pub async fn ping(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// `check` passes on a healthy store, again and again, and changes no guild.
pub async fn check(store: &dyn Store) {
    let before = store.load_all_guilds().await.expect("load_all");
    for _ in 0..3 {
        store.check().await.expect("check");
    }
    assert_eq!(store.load_all_guilds().await.expect("load_all"), before);
}

/// A guild whose rows are damaged does not fail `load_all_guilds`: it is left out of `guilds`,
/// listed once in `damaged` (with what is wrong), and its rows are left as they were; every other
/// guild loads. `damage_queue(guild)` is the backend's way of damaging the stored queue of a guild
/// that has three entries (e.g. a gap in its positions). Uses guilds 1038 to 1040.
pub async fn damaged_guilds_set_apart(store: &dyn Store, damage_queue: impl AsyncFn(u64)) {
    let (before, broken, after) = (1_038, 1_039, 1_040);
    forget(store, &[before, broken, after]).await;
    for (n, g) in (0u64..).zip([before, broken, after]) {
        store
            .enqueue(g, &entries(n * 10..n * 10 + 3), None)
            .await
            .expect("enqueue");
    }
    damage_queue(broken).await;

    let loaded = store
        .load_all_guilds()
        .await
        .expect("load_all with a damaged guild");
    let ids: Vec<u64> = loaded.guilds.iter().map(|g| g.guild_id).collect();
    assert!(!ids.contains(&broken), "the damaged guild is not restored");
    for g in [before, after] {
        let good = loaded
            .guilds
            .iter()
            .find(|s| s.guild_id == g)
            .expect("every other guild loads");
        assert_eq!(good.queue.len(), 3);
    }
    let listed: Vec<&crate::Damaged> = loaded
        .damaged
        .iter()
        .filter(|d| d.guild_id == broken)
        .collect();
    assert_eq!(listed.len(), 1, "the damaged guild is listed once");
    assert!(!listed[0].problem.is_empty(), "and says what is wrong");
    assert!(
        loaded.damaged.iter().all(|d| !ids.contains(&d.guild_id)),
        "a guild is either loaded or damaged"
    );
    // Left as it was: still damaged on the next load, and `load_guild` still says so.
    assert_eq!(
        store
            .load_all_guilds()
            .await
            .expect("load_all again")
            .damaged,
        loaded.damaged
    );
    assert!(matches!(
        store.load_guild(broken).await,
        Err(Error::Corrupt {
            guild_id: Some(g),
            ..
        }) if g == broken
    ));
    // Forgetting it clears the way.
    assert!(store.forget_guild(broken).await.expect("forget"));
    let loaded = store
        .load_all_guilds()
        .await
        .expect("load_all after forget");
    assert!(loaded.damaged.iter().all(|d| d.guild_id != broken));
}

/// A guild never written has no state, and operations that only take away do not create it.
pub async fn unknown_guild(store: &dyn Store) {
    let guild = 1_001;
    forget(store, &[guild]).await;
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    assert!(matches!(
        store.remove(guild, 0).await,
        Err(Error::IndexOutOfRange { len: 0, .. })
    ));
    assert!(matches!(
        store.move_entry(guild, 0, 0).await,
        Err(Error::IndexOutOfRange { len: 0, .. })
    ));
    assert_eq!(store.clear_queue(guild).await.expect("clear"), 0);
    assert!(
        !store
            .save_position(guild, PositionSnapshot::new(5, 6), true)
            .await
            .expect("save_position")
    );
    assert!(!store.forget_guild(guild).await.expect("forget"));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    assert!(all.iter().all(|g| g.guild_id != guild));
}

/// The first write creates the guild with every other setting at its default.
pub async fn defaults(store: &dyn Store) {
    let guild = 1_002;
    forget(store, &[guild]).await;
    store
        .set_loop(guild, LoopMode::Queue)
        .await
        .expect("set_loop");
    let expected = GuildState {
        loop_mode: LoopMode::Queue,
        ..GuildState::new(guild)
    };
    assert_eq!(state(store, guild).await, expected);
}

/// Every field of an entry comes back as written (unicode, `None` and `Some` uri, big numbers).
pub async fn entries_round_trip(store: &dyn Store) {
    let guild = 1_003;
    forget(store, &[guild]).await;
    let mut odd = entry(7);
    odd.requester_id = u64::MAX;
    odd.length_ms = u64::MAX;
    odd.added_at_unix_ms = u64::MAX - 1;
    odd.title = String::new();
    odd.uri = Some(String::new());
    let written = vec![entry(1), entry(2), odd.clone()];
    store.enqueue(guild, &written, None).await.expect("enqueue");
    assert_eq!(queue(store, guild).await, written);
    store
        .set_current(guild, Some(&odd), PositionSnapshot::default())
        .await
        .expect("set_current");
    assert_eq!(state(store, guild).await.current, Some(odd));
}

/// `enqueue` appends with `None`, inserts before the index otherwise (the end included) and
/// returns the index of the first entry.
pub async fn enqueue_appends_and_inserts(store: &dyn Store) {
    let guild = 1_004;
    forget(store, &[guild]).await;
    assert_eq!(
        store
            .enqueue(guild, &entries(0..3), None)
            .await
            .expect("append"),
        0
    );
    assert_eq!(
        store
            .enqueue(guild, &entries(3..5), None)
            .await
            .expect("append"),
        3
    );
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 2, 3, 4]);
    assert_eq!(
        store
            .enqueue(guild, &entries(10..12), Some(0))
            .await
            .expect("front"),
        0
    );
    assert_eq!(numbered_queue(store, guild).await, [10, 11, 0, 1, 2, 3, 4]);
    assert_eq!(
        store
            .enqueue(guild, &entries(20..21), Some(3))
            .await
            .expect("middle"),
        3
    );
    assert_eq!(
        numbered_queue(store, guild).await,
        [10, 11, 0, 20, 1, 2, 3, 4]
    );
    assert_eq!(
        store
            .enqueue(guild, &entries(30..31), Some(8))
            .await
            .expect("end"),
        8
    );
    assert_eq!(
        numbered_queue(store, guild).await,
        [10, 11, 0, 20, 1, 2, 3, 4, 30]
    );
    assert_eq!(
        store.enqueue(guild, &[], Some(2)).await.expect("nothing"),
        2
    );
    assert_eq!(store.enqueue(guild, &[], None).await.expect("nothing"), 9);
    assert_eq!(
        numbered_queue(store, guild).await,
        [10, 11, 0, 20, 1, 2, 3, 4, 30]
    );
    // A long playlist in front of a long queue.
    store
        .enqueue(guild, &entries(100..400), Some(1))
        .await
        .expect("playlist");
    let queue = numbered_queue(store, guild).await;
    assert_eq!(queue.len(), 309);
    assert_eq!(queue[..3], [10, 100, 101]);
    assert_eq!(queue[300..], [399, 11, 0, 20, 1, 2, 3, 4, 30]);
}

/// `enqueue` past the end is an error that changes nothing (and creates no guild).
pub async fn enqueue_out_of_range(store: &dyn Store) {
    let guild = 1_005;
    forget(store, &[guild]).await;
    assert!(matches!(
        store.enqueue(guild, &entries(0..1), Some(1)).await,
        Err(Error::IndexOutOfRange {
            index: 1,
            len: 0,
            ..
        })
    ));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    store
        .enqueue(guild, &entries(0..2), None)
        .await
        .expect("enqueue");
    assert!(matches!(
        store.enqueue(guild, &entries(5..6), Some(3)).await,
        Err(Error::IndexOutOfRange {
            index: 3,
            len: 2,
            ..
        })
    ));
    assert_eq!(numbered_queue(store, guild).await, [0, 1]);
}

/// `remove` returns the entry and closes the gap.
pub async fn remove(store: &dyn Store) {
    let guild = 1_006;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..5), None)
        .await
        .expect("enqueue");
    assert_eq!(store.remove(guild, 2).await.expect("remove"), entry(2));
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 3, 4]);
    assert_eq!(store.remove(guild, 0).await.expect("remove head"), entry(0));
    assert_eq!(store.remove(guild, 2).await.expect("remove tail"), entry(4));
    assert_eq!(numbered_queue(store, guild).await, [1, 3]);
    store
        .enqueue(guild, &entries(9..10), Some(1))
        .await
        .expect("enqueue");
    assert_eq!(numbered_queue(store, guild).await, [1, 9, 3]);
}

/// `remove` out of range is an error that changes nothing.
pub async fn remove_out_of_range(store: &dyn Store) {
    let guild = 1_007;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..3), None)
        .await
        .expect("enqueue");
    for index in [3, 4, usize::MAX] {
        match store.remove(guild, index).await {
            Err(Error::IndexOutOfRange {
                guild_id,
                index: i,
                len: 3,
            }) => assert_eq!((guild_id, i), (guild, index)),
            other => panic!("remove({index}) of 3 gave {other:?}"),
        }
    }
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 2]);
}

/// `move_entry` takes the entry out and puts it back so that it ends up at `to`.
pub async fn move_entry(store: &dyn Store) {
    let guild = 1_008;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..5), None)
        .await
        .expect("enqueue");
    store.move_entry(guild, 0, 4).await.expect("move to back");
    assert_eq!(numbered_queue(store, guild).await, [1, 2, 3, 4, 0]);
    store.move_entry(guild, 4, 0).await.expect("move to front");
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 2, 3, 4]);
    store.move_entry(guild, 1, 3).await.expect("move forward");
    assert_eq!(numbered_queue(store, guild).await, [0, 2, 3, 1, 4]);
    store.move_entry(guild, 3, 2).await.expect("move back");
    assert_eq!(numbered_queue(store, guild).await, [0, 2, 1, 3, 4]);
    store.move_entry(guild, 2, 2).await.expect("move nowhere");
    assert_eq!(numbered_queue(store, guild).await, [0, 2, 1, 3, 4]);
    assert_eq!(queue(store, guild).await[2], entry(1));
}

/// `move_entry` with either index out of range is an error that changes nothing.
pub async fn move_out_of_range(store: &dyn Store) {
    let guild = 1_009;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..3), None)
        .await
        .expect("enqueue");
    for (from, to) in [(3, 0), (0, 3), (5, 5), (usize::MAX, 1)] {
        assert!(
            matches!(
                store.move_entry(guild, from, to).await,
                Err(Error::IndexOutOfRange { len: 3, .. })
            ),
            "move_entry({from}, {to}) of 3"
        );
    }
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 2]);
}

/// `clear_queue` empties the queue, returns the count and leaves the current entry alone.
pub async fn clear_queue(store: &dyn Store) {
    let guild = 1_010;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..4), None)
        .await
        .expect("enqueue");
    store
        .set_current(guild, Some(&entry(9)), PositionSnapshot::new(1, 2))
        .await
        .expect("set_current");
    assert_eq!(store.clear_queue(guild).await.expect("clear"), 4);
    let after = state(store, guild).await;
    assert!(after.queue.is_empty());
    assert_eq!(after.current, Some(entry(9)));
    assert_eq!(store.clear_queue(guild).await.expect("clear again"), 0);
}

/// `replace_queue` swaps the whole queue (a shuffle), creating the guild if needed.
pub async fn replace_queue(store: &dyn Store) {
    let guild = 1_011;
    forget(store, &[guild]).await;
    store
        .replace_queue(guild, &entries(0..3))
        .await
        .expect("replace");
    assert_eq!(numbered_queue(store, guild).await, [0, 1, 2]);
    let shuffled = [entry(2), entry(0), entry(1)];
    store
        .replace_queue(guild, &shuffled)
        .await
        .expect("shuffle");
    assert_eq!(queue(store, guild).await, shuffled);
    store.replace_queue(guild, &[]).await.expect("empty");
    assert!(queue(store, guild).await.is_empty());
    store
        .enqueue(guild, &entries(5..6), None)
        .await
        .expect("enqueue");
    assert_eq!(numbered_queue(store, guild).await, [5]);
}

/// `set_current` sets or clears the current entry and the position, and leaves the queue alone.
pub async fn set_current(store: &dyn Store) {
    let guild = 1_012;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..2), None)
        .await
        .expect("enqueue");
    store
        .set_current(guild, Some(&entry(7)), PositionSnapshot::new(42_000, 1_000))
        .await
        .expect("set_current");
    let s = state(store, guild).await;
    assert_eq!(s.current, Some(entry(7)));
    assert_eq!(s.position, PositionSnapshot::new(42_000, 1_000));
    assert_eq!(numbers(&s.queue), [0, 1]);
    store
        .set_current(guild, Some(&entry(8)), PositionSnapshot::start(2_000))
        .await
        .expect("replace current");
    assert_eq!(state(store, guild).await.current, Some(entry(8)));
    store
        .set_current(guild, None, PositionSnapshot::start(3_000))
        .await
        .expect("clear current");
    let s = state(store, guild).await;
    assert_eq!(s.current, None);
    assert_eq!(s.position, PositionSnapshot::start(3_000));
    assert_eq!(numbers(&s.queue), [0, 1]);
}

/// `advance(Drop)` pops the head into current, drops the old current, resets the position and
/// keeps paused.
pub async fn advance_drop(store: &dyn Store) {
    let guild = 1_013;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..3), None)
        .await
        .expect("enqueue");
    store
        .save_position(guild, PositionSnapshot::new(9, 9), true)
        .await
        .expect("pause");
    let next = store
        .advance(guild, Finished::Drop, 5_000)
        .await
        .expect("advance");
    assert_eq!(next, Some(entry(0)));
    let s = state(store, guild).await;
    assert_eq!(s.current, Some(entry(0)));
    assert_eq!(numbers(&s.queue), [1, 2]);
    assert_eq!(s.position, PositionSnapshot::start(5_000));
    assert!(s.paused, "advance keeps paused as it was");
    assert_eq!(
        store
            .advance(guild, Finished::Drop, 6_000)
            .await
            .expect("advance"),
        Some(entry(1))
    );
    assert_eq!(
        store
            .advance(guild, Finished::Drop, 7_000)
            .await
            .expect("advance"),
        Some(entry(2))
    );
    assert_eq!(
        store
            .advance(guild, Finished::Drop, 8_000)
            .await
            .expect("advance"),
        None
    );
    let s = state(store, guild).await;
    assert_eq!((s.current, s.queue.len()), (None, 0));
    assert_eq!(s.position, PositionSnapshot::start(8_000));
}

/// `advance(Requeue)` puts the old current at the back before popping the head, so the queue
/// cycles, and a queue of one plays its track again.
pub async fn advance_requeue(store: &dyn Store) {
    let guild = 1_014;
    forget(store, &[guild]).await;
    store
        .enqueue(guild, &entries(0..3), None)
        .await
        .expect("enqueue");
    // No current yet: nothing to requeue.
    assert_eq!(
        store
            .advance(guild, Finished::Requeue, 1)
            .await
            .expect("advance"),
        Some(entry(0))
    );
    assert_eq!(numbered_queue(store, guild).await, [1, 2]);
    assert_eq!(
        store
            .advance(guild, Finished::Requeue, 2)
            .await
            .expect("advance"),
        Some(entry(1))
    );
    assert_eq!(numbered_queue(store, guild).await, [2, 0]);
    let single = 1_015;
    forget(store, &[single]).await;
    store
        .set_current(single, Some(&entry(5)), PositionSnapshot::new(100, 1))
        .await
        .expect("set_current");
    for at in 2..5 {
        assert_eq!(
            store
                .advance(single, Finished::Requeue, at)
                .await
                .expect("advance"),
            Some(entry(5))
        );
        let s = state(store, single).await;
        assert_eq!((s.current, s.queue.len()), (Some(entry(5)), 0));
        assert_eq!(s.position, PositionSnapshot::start(at));
    }
}

/// `advance` on an empty queue clears current; on an unknown guild it does nothing.
pub async fn advance_empty_and_unknown(store: &dyn Store) {
    let guild = 1_016;
    forget(store, &[guild]).await;
    store
        .set_current(guild, Some(&entry(1)), PositionSnapshot::new(10, 10))
        .await
        .expect("set_current");
    assert_eq!(
        store
            .advance(guild, Finished::Drop, 20)
            .await
            .expect("advance"),
        None
    );
    assert_eq!(state(store, guild).await.current, None);
    let unknown = 1_017;
    forget(store, &[unknown]).await;
    assert_eq!(
        store
            .advance(unknown, Finished::Requeue, 1)
            .await
            .expect("advance"),
        None
    );
    assert_eq!(store.load_guild(unknown).await.expect("load"), None);
}

/// `save_position` updates position and paused of a known guild and reports whether it knew it.
pub async fn save_position(store: &dyn Store) {
    let guild = 1_018;
    forget(store, &[guild]).await;
    store.set_volume(guild, 50).await.expect("create");
    assert!(
        store
            .save_position(
                guild,
                PositionSnapshot::new(61_000, 1_700_000_000_123),
                true
            )
            .await
            .expect("save")
    );
    let s = state(store, guild).await;
    assert_eq!(s.position, PositionSnapshot::new(61_000, 1_700_000_000_123));
    assert!(s.paused);
    assert_eq!(s.volume, 50);
    assert!(
        store
            .save_position(
                guild,
                PositionSnapshot::new(62_000, 1_700_000_001_123),
                false
            )
            .await
            .expect("save")
    );
    let s = state(store, guild).await;
    assert!(!s.paused);
    assert_eq!(s.position.position_ms, 62_000);
}

/// `save_positions` writes what one `save_position` per guild would; it skips unknown guilds
/// (creating none), never puts an older snapshot over a stored one that is as new or newer, keeps a
/// guild's newest write when the batch has two, counts the guilds it wrote, and does nothing when
/// empty.
pub async fn save_positions(store: &dyn Store) {
    let (batched, single, newer, twice, unknown) = (1_034, 1_035, 1_036, 1_037, 1_100);
    forget(store, &[batched, single, newer, twice, unknown]).await;
    for guild in [batched, single, newer, twice] {
        store
            .set_current(guild, Some(&entry(1)), PositionSnapshot::new(1_000, 10_000))
            .await
            .expect("set_current");
        store.set_volume(guild, 70).await.expect("set_volume");
    }
    let before = state(store, batched).await;
    assert_eq!(store.save_positions(&[]).await.expect("empty batch"), 0);
    assert_eq!(
        state(store, batched).await,
        before,
        "an empty batch changed something"
    );

    // A command wrote `newer` after the batch's snapshots were taken.
    store
        .save_position(newer, PositionSnapshot::new(5_000, 30_000), true)
        .await
        .expect("save_position");
    let position = PositionSnapshot::new(61_000, 1_700_000_000_123);
    assert!(
        store
            .save_position(single, position, true)
            .await
            .expect("save_position")
    );
    let written = store
        .save_positions(&[
            PositionWrite::new(batched, position, true),
            PositionWrite::new(unknown, PositionSnapshot::new(1, 20_000), false),
            PositionWrite::new(newer, PositionSnapshot::new(2_000, 25_000), false),
            PositionWrite::new(twice, PositionSnapshot::new(7_000, 40_000), true),
            PositionWrite::new(twice, PositionSnapshot::new(6_000, 39_000), false),
        ])
        .await
        .expect("save_positions");
    assert_eq!(written, 2, "batched and twice written, the others not");
    let by_batch = state(store, batched).await;
    let by_single = state(store, single).await;
    assert_eq!(
        by_batch,
        GuildState {
            guild_id: batched,
            ..by_single
        },
        "as a single write"
    );
    assert_eq!((by_batch.position, by_batch.paused), (position, true));
    assert_eq!(
        (by_batch.volume, by_batch.current),
        (70, Some(entry(1))),
        "the rest kept"
    );
    let kept = state(store, newer).await;
    assert_eq!(
        (kept.position, kept.paused),
        (PositionSnapshot::new(5_000, 30_000), true)
    );
    let newest = state(store, twice).await;
    assert_eq!(
        (newest.position, newest.paused),
        (PositionSnapshot::new(7_000, 40_000), true)
    );
    assert_eq!(store.load_guild(unknown).await.expect("load"), None);

    // A snapshot of the same time as the stored one is not newer: left alone too.
    let same_time = PositionWrite::new(newer, PositionSnapshot::new(9_000, 30_000), false);
    assert_eq!(store.save_positions(&[same_time]).await.expect("save"), 0);
    assert_eq!(state(store, newer).await.position.position_ms, 5_000);
}

/// `save_positions` of more rows than a backend writes per transaction (SQLite: 500) writes every
/// known guild wherever it is in the batch, and creates none of the unknown ones.
pub async fn save_positions_large(store: &dyn Store) {
    let known = [1_034, 1_035, 1_036, 1_037];
    let unknown: Vec<u64> = (1_100..2_300).collect();
    forget(store, &known).await;
    forget(store, &unknown).await;
    for guild in known {
        store.set_volume(guild, 70).await.expect("set_volume");
    }
    let snapshot = |n: u64| PositionSnapshot::new(100 + n, 1_800_000_000_000 + n);
    let mut writes: Vec<PositionWrite> = unknown
        .iter()
        .map(|&guild| PositionWrite::new(guild, PositionSnapshot::new(3, 50_000), true))
        .collect();
    for (n, (guild, index)) in (0u64..).zip(known.into_iter().zip([0, 499, 500, 1_199])) {
        writes[index] = PositionWrite::new(guild, snapshot(n), n % 2 == 0);
    }
    assert_eq!(
        store.save_positions(&writes).await.expect("large batch"),
        known.len()
    );
    for (n, guild) in (0u64..).zip(known) {
        let stored = state(store, guild).await;
        assert_eq!(
            (stored.position, stored.paused),
            (snapshot(n), n % 2 == 0),
            "guild {guild}"
        );
    }
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    assert!(
        all.iter().all(|g| !(1_100..2_300).contains(&g.guild_id)),
        "save_positions created a guild"
    );
}

/// Volume, filters, loop mode and channels are each set on their own and read back.
pub async fn settings(store: &dyn Store) {
    let guild = 1_019;
    forget(store, &[guild]).await;
    for volume in [0, 1, 100, MAX_VOLUME] {
        store.set_volume(guild, volume).await.expect("set_volume");
        assert_eq!(state(store, guild).await.volume, volume);
    }
    let filters: Filters = serde_json::from_value(serde_json::json!({
        "volume": 0.8,
        "equalizer": [{"band": 0, "gain": 0.25}, {"band": 14, "gain": -0.25}],
        "timescale": {"speed": 1.25, "pitch": 1.0, "rate": 1.0},
        "pluginFilters": {"lavasrc": {"echo": {"delay": 0.5}}}
    }))
    .expect("filters JSON");
    store
        .set_filters(guild, &filters)
        .await
        .expect("set_filters");
    assert_eq!(state(store, guild).await.filters, filters);
    for mode in [LoopMode::Track, LoopMode::Queue, LoopMode::Off] {
        store.set_loop(guild, mode).await.expect("set_loop");
        assert_eq!(state(store, guild).await.loop_mode, mode);
    }
    store
        .set_channels(guild, Some(5), Some(6))
        .await
        .expect("set_channels");
    let s = state(store, guild).await;
    assert_eq!((s.voice_channel_id, s.text_channel_id), (Some(5), Some(6)));
    store
        .set_channels(guild, None, Some(7))
        .await
        .expect("set_channels");
    let s = state(store, guild).await;
    assert_eq!((s.voice_channel_id, s.text_channel_id), (None, Some(7)));
    // Each setting left the others alone.
    assert_eq!((s.volume, s.loop_mode), (MAX_VOLUME, LoopMode::Off));
    assert_eq!(s.filters, filters);
    store
        .set_filters(guild, &Filters::default())
        .await
        .expect("clear filters");
    assert_eq!(state(store, guild).await.filters, Filters::default());
}

/// A volume above the maximum is an error that changes nothing.
pub async fn volume_out_of_range(store: &dyn Store) {
    let guild = 1_020;
    forget(store, &[guild]).await;
    assert!(matches!(
        store.set_volume(guild, MAX_VOLUME + 1).await,
        Err(Error::VolumeOutOfRange { volume: 201 })
    ));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    store.set_volume(guild, 80).await.expect("set_volume");
    assert!(store.set_volume(guild, u16::MAX).await.is_err());
    assert_eq!(state(store, guild).await.volume, 80);
}

/// Ids at and above 2^63 round-trip, and do not collide with the ids of the same low bits.
pub async fn big_ids(store: &dyn Store) {
    forget(store, &[BIG_ID, 1 << 63, u64::MAX, 0]).await;
    for guild in [BIG_ID, 1 << 63, u64::MAX] {
        store
            .set_channels(guild, Some(u64::MAX), Some(1 << 63))
            .await
            .expect("set_channels");
        store
            .enqueue(guild, &entries(0..2), None)
            .await
            .expect("enqueue");
        let s = state(store, guild).await;
        assert_eq!(s.guild_id, guild);
        assert_eq!(
            (s.voice_channel_id, s.text_channel_id),
            (Some(u64::MAX), Some(1 << 63))
        );
        assert_eq!(numbers(&s.queue), [0, 1]);
    }
    // The batch position write finds them too (and does not create 0).
    let writes: Vec<PositionWrite> = (1u64..)
        .zip([BIG_ID, 1 << 63, u64::MAX, 0])
        .map(|(n, g)| PositionWrite::new(g, PositionSnapshot::new(n, 1 << 62), true))
        .collect();
    assert_eq!(
        store.save_positions(&writes).await.expect("save_positions"),
        3
    );
    for (n, guild) in (1u64..).zip([BIG_ID, 1 << 63, u64::MAX]) {
        let s = state(store, guild).await;
        assert_eq!(
            (s.position, s.paused),
            (PositionSnapshot::new(n, 1 << 62), true)
        );
    }
    // (1 << 63) and 0 differ only in the top bit; u64::MAX is -1 as an i64.
    assert_eq!(store.load_guild(0).await.expect("load"), None);
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    for guild in [BIG_ID, 1 << 63, u64::MAX] {
        assert_eq!(all.iter().filter(|g| g.guild_id == guild).count(), 1);
    }
    store.forget_guild(u64::MAX).await.expect("forget");
    assert!(store.load_guild(BIG_ID).await.expect("load").is_some());
}

/// `forget_guild` deletes the guild's settings, queue and current entry, and nothing else.
pub async fn forget_guild(store: &dyn Store) {
    let (guild, other) = (1_021, 1_022);
    forget(store, &[guild, other]).await;
    for g in [guild, other] {
        store
            .enqueue(g, &entries(0..3), None)
            .await
            .expect("enqueue");
        store
            .set_current(g, Some(&entry(9)), PositionSnapshot::new(1, 1))
            .await
            .expect("set_current");
        store.set_volume(g, 30).await.expect("set_volume");
    }
    assert!(store.forget_guild(guild).await.expect("forget"));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    assert!(!store.forget_guild(guild).await.expect("forget again"));
    // Nothing left behind: a new write starts from the defaults.
    store
        .set_loop(guild, LoopMode::Track)
        .await
        .expect("set_loop");
    assert_eq!(
        state(store, guild).await,
        GuildState {
            loop_mode: LoopMode::Track,
            ..GuildState::new(guild)
        }
    );
    let o = state(store, other).await;
    assert_eq!(
        (o.queue.len(), o.current.is_some(), o.volume),
        (3, true, 30)
    );
}

/// Waiting `/play` requests are kept in arrival order, come back with the guild, are removed one
/// by one, refuse an empty query, and go with `forget_guild`.
pub async fn waiting_requests(store: &dyn Store) {
    let (guild, other) = (1_025, 1_026);
    forget(store, &[guild, other]).await;
    let first = store
        .add_waiting(guild, "never gonna", 7, 1_000)
        .await
        .expect("add");
    let second = store
        .add_waiting(guild, "https://example.invalid/2", 8, 2_000)
        .await
        .expect("add");
    store
        .add_waiting(other, "elsewhere", 9, 3_000)
        .await
        .expect("add");
    assert!(second.id > first.id, "ids grow with arrival");
    assert_eq!(
        (
            first.query.as_str(),
            first.requester_id,
            first.requested_at_unix_ms
        ),
        ("never gonna", 7, 1_000)
    );
    // A guild that had nothing else stored now has state, with default settings.
    let s = state(store, guild).await;
    assert_eq!(s.waiting, vec![first.clone(), second.clone()]);
    assert_eq!(s.volume, GuildState::new(guild).volume);
    assert!(matches!(
        store.add_waiting(guild, "  ", 7, 4_000).await,
        Err(crate::Error::EmptyQuery { guild_id }) if guild_id == guild
    ));
    assert_eq!(
        state(store, guild).await.waiting.len(),
        2,
        "nothing changed"
    );

    assert!(store.remove_waiting(guild, first.id).await.expect("remove"));
    assert!(!store.remove_waiting(guild, first.id).await.expect("again"));
    assert!(
        !store
            .remove_waiting(other, second.id)
            .await
            .expect("wrong guild"),
        "a request is removed only from its own guild"
    );
    let all = store.load_all_guilds().await.expect("load all").guilds;
    let waiting_of = |g: u64| {
        all.iter()
            .find(|s| s.guild_id == g)
            .map(|s| s.waiting.clone())
            .unwrap_or_default()
    };
    assert_eq!(waiting_of(guild), vec![second]);
    assert_eq!(waiting_of(other).len(), 1);
    assert!(store.forget_guild(guild).await.expect("forget"));
    assert!(store.load_guild(guild).await.expect("load").is_none());
}

/// `load_all_guilds` returns every guild, ordered by id, each as `load_guild` sees it.
pub async fn load_all_guilds(store: &dyn Store) {
    let guilds = [1_030, 1_031, 1_032];
    forget(store, &[1_030, 1_031, 1_032, 1_033]).await;
    for (n, g) in (0u64..).zip(guilds) {
        store
            .enqueue(g, &entries(n..n + 2), None)
            .await
            .expect("enqueue");
        store
            .set_current(g, Some(&entry(50 + n)), PositionSnapshot::new(n, n))
            .await
            .expect("set_current");
    }
    store.set_volume(1_033, 10).await.expect("settings only");
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    let ids: Vec<u64> = all.iter().map(|g| g.guild_id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "ordered by guild id, each once");
    for g in guilds.into_iter().chain([1_033]) {
        let loaded = all
            .iter()
            .find(|s| s.guild_id == g)
            .expect("guild in load_all");
        assert_eq!(*loaded, state(store, g).await);
    }
    for s in &all {
        assert_eq!(
            Some(s),
            store.load_guild(s.guild_id).await.expect("load").as_ref()
        );
    }
}

/// `load_guilds` returns the guilds on the scope's shards (`(id >> 22) % total`), whole, and
/// no other: ids at and above 2^63 (stored as negative) included.
pub async fn load_guilds_by_shard(store: &dyn Store) {
    // Shard k of 4 for k in 0..4, at small ids and at ids with the top bit set.
    let ids: Vec<u64> = (0..4u64)
        .flat_map(|k| {
            [
                ((1_040 + k) << 22) | 7,
                (1 << 63) | ((8 + k) << 22) | 3,
                (1 << 63) | (((1 << 40) + 12 + k) << 22) | 5,
            ]
        })
        .collect();
    forget(store, &ids).await;
    for (n, g) in (0u64..).zip(&ids) {
        store
            .enqueue(*g, &entries(n..n + 2), None)
            .await
            .expect("enqueue");
        store
            .set_current(*g, Some(&entry(70 + n)), PositionSnapshot::new(n, n))
            .await
            .expect("set_current");
        store
            .add_waiting(*g, &format!("query {n}"), 7, 1_700_000_000_000)
            .await
            .expect("add_waiting");
    }
    let scope = HandoverScope {
        first: 1,
        last: 2,
        total: 4,
    };
    let on_shard = |g: u64| (g >> 22) % 4;
    let loaded = store.load_guilds(scope).await.expect("load_guilds");
    let got: Vec<u64> = loaded
        .guilds
        .iter()
        .map(|s| s.guild_id)
        .filter(|g| ids.contains(g))
        .collect();
    let mut want: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|g| (1..=2).contains(&on_shard(*g)))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "the guilds of shards 1-2 of 4, ordered by id");
    assert_eq!(want.len(), 6);
    for s in &loaded.guilds {
        assert!(
            scope.contains(u32::try_from(on_shard(s.guild_id)).expect("shard")),
            "guild {} is on shard {}",
            s.guild_id,
            on_shard(s.guild_id)
        );
        assert_eq!(*s, state(store, s.guild_id).await, "loaded whole");
    }
    let all = store
        .load_guilds(HandoverScope::whole(4))
        .await
        .expect("all");
    assert_eq!(
        all.guilds
            .iter()
            .filter(|s| ids.contains(&s.guild_id))
            .count(),
        ids.len()
    );
    forget(store, &ids).await;
}

fn gateway(shard_id: u32, sequence: u64) -> GatewaySession {
    GatewaySession {
        shard_id,
        shard_total: 4,
        session_id: format!("session-{shard_id}-{sequence}"),
        sequence,
        resume_url: format!("wss://gateway-resume.invalid/{shard_id}"),
        saved_at_unix_ms: 1_700_000_000_000_u64.wrapping_add(sequence),
    }
}

fn lavalink(node: &str, n: u64) -> LavalinkSession {
    LavalinkSession {
        node: node.to_owned(),
        session_id: format!("{node}-session-{n}"),
        saved_at_unix_ms: 1_700_000_000_000 + n,
    }
}

/// The handover scope of a process that runs every shard of an application of 8.
const ALL: HandoverScope = HandoverScope::whole(8);

/// Gateway sessions: saving replaces per shard; taking returns them all, ordered by shard, once.
pub async fn gateway_sessions(store: &dyn Store) {
    store
        .take_gateway_sessions(ALL)
        .await
        .expect("take leftovers");
    assert!(
        store
            .take_gateway_sessions(ALL)
            .await
            .expect("take")
            .is_empty()
    );
    for session in [
        gateway(2, 10),
        gateway(0, 11),
        gateway(3, u64::MAX),
        gateway(0, 12),
    ] {
        store.save_gateway_session(&session).await.expect("save");
    }
    let taken = store.take_gateway_sessions(ALL).await.expect("take");
    assert_eq!(
        taken,
        [gateway(0, 12), gateway(2, 10), gateway(3, u64::MAX)]
    );
    assert!(
        store
            .take_gateway_sessions(ALL)
            .await
            .expect("take again")
            .is_empty()
    );
    let last = GatewaySession {
        shard_id: u32::MAX,
        shard_total: u32::MAX,
        ..gateway(0, 0)
    };
    store.save_gateway_session(&last).await.expect("save");
    assert_eq!(
        store.take_gateway_sessions(ALL).await.expect("take"),
        [last]
    );
}

/// Lavalink sessions: saving replaces per node; taking returns them all, ordered by node, once.
pub async fn lavalink_sessions(store: &dyn Store) {
    store
        .take_lavalink_sessions(ALL)
        .await
        .expect("take leftovers");
    assert!(
        store
            .take_lavalink_sessions(ALL)
            .await
            .expect("take")
            .is_empty()
    );
    for session in [
        lavalink("node-b", 1),
        lavalink("node-a", 2),
        lavalink("node-b", 3),
    ] {
        store
            .save_lavalink_session(ALL, &session)
            .await
            .expect("save");
    }
    let taken = store.take_lavalink_sessions(ALL).await.expect("take");
    assert_eq!(taken, [lavalink("node-a", 2), lavalink("node-b", 3)]);
    assert!(
        store
            .take_lavalink_sessions(ALL)
            .await
            .expect("take again")
            .is_empty()
    );
}

/// The Discord cache record: saving replaces it; taking returns it once; an oversized one is
/// refused and leaves the saved one as it was.
pub async fn discord_cache(store: &dyn Store) {
    store.take_discord_cache(ALL).await.expect("take leftovers");
    assert_eq!(store.take_discord_cache(ALL).await.expect("take"), None);
    let first = DiscordCache {
        snapshot: r#"{"guilds":[],"voice":[]}"#.to_owned(),
        saved_at_unix_ms: 1,
    };
    let second = DiscordCache {
        snapshot: "ünïcode ✓".repeat(1_000),
        saved_at_unix_ms: u64::MAX >> 1,
    };
    store.save_discord_cache(ALL, &first).await.expect("save");
    store
        .save_discord_cache(ALL, &second)
        .await
        .expect("replace");
    let oversized = DiscordCache {
        snapshot: "x".repeat(crate::MAX_DISCORD_CACHE_BYTES + 1),
        saved_at_unix_ms: 3,
    };
    assert!(matches!(
        store.save_discord_cache(ALL, &oversized).await,
        Err(Error::DiscordCacheTooLarge { .. })
    ));
    assert_eq!(
        store.take_discord_cache(ALL).await.expect("take"),
        Some(second)
    );
    assert_eq!(
        store.take_discord_cache(ALL).await.expect("take again"),
        None
    );
}

/// Takes racing each other hand every session to exactly one taker.
pub async fn concurrent_takes(store: &dyn Store) {
    store
        .take_gateway_sessions(ALL)
        .await
        .expect("take leftovers");
    store
        .take_lavalink_sessions(ALL)
        .await
        .expect("take leftovers");
    for round in 0..5u64 {
        for shard in 0..8 {
            store
                .save_gateway_session(&gateway(shard, round))
                .await
                .expect("save");
        }
        for node in ["a", "b", "c"] {
            store
                .save_lavalink_session(ALL, &lavalink(node, round))
                .await
                .expect("save");
        }
        let (g1, g2, l1, l2) = tokio::join!(
            store.take_gateway_sessions(ALL),
            store.take_gateway_sessions(ALL),
            store.take_lavalink_sessions(ALL),
            store.take_lavalink_sessions(ALL),
        );
        let (g1, g2) = (g1.expect("take"), g2.expect("take"));
        let (l1, l2) = (l1.expect("take"), l2.expect("take"));
        let mut shards: Vec<u32> = g1.iter().chain(&g2).map(|s| s.shard_id).collect();
        shards.sort_unstable();
        assert_eq!(shards, (0..8).collect::<Vec<_>>(), "each shard taken once");
        let mut nodes: Vec<&str> = l1.iter().chain(&l2).map(|s| s.node.as_str()).collect();
        nodes.sort_unstable();
        assert_eq!(nodes, ["a", "b", "c"], "each node taken once");
    }
}

/// Processes sharing the store each take only their own scope's records: the gateway sessions of
/// their shards, the Lavalink sessions and the Discord cache they saved; a process of every shard
/// keeps its records apart from theirs.
pub async fn scoped_handover(store: &dyn Store) {
    let first = HandoverScope {
        first: 0,
        last: 1,
        total: 4,
    };
    let second = HandoverScope {
        first: 2,
        last: 3,
        total: 4,
    };
    assert!(!first.is_whole() && HandoverScope::whole(4).is_whole());
    assert_eq!(first.label(), "0-1/4");
    for scope in [ALL, first, second] {
        store
            .take_gateway_sessions(scope)
            .await
            .expect("take leftovers");
        store
            .take_lavalink_sessions(scope)
            .await
            .expect("take leftovers");
        store
            .take_discord_cache(scope)
            .await
            .expect("take leftovers");
    }
    for shard in 0..4 {
        let session = GatewaySession {
            shard_total: 4,
            ..gateway(shard, u64::from(shard))
        };
        store.save_gateway_session(&session).await.expect("save");
    }
    for (scope, n) in [(first, 1), (second, 2), (ALL, 3)] {
        for node in ["node-a", "node-b"] {
            store
                .save_lavalink_session(scope, &lavalink(node, n))
                .await
                .expect("save");
        }
        let cache = DiscordCache {
            snapshot: format!("cache of {scope}"),
            saved_at_unix_ms: n,
        };
        store.save_discord_cache(scope, &cache).await.expect("save");
    }

    let shards = |taken: Vec<GatewaySession>| taken.iter().map(|s| s.shard_id).collect::<Vec<_>>();
    assert_eq!(
        shards(store.take_gateway_sessions(second).await.expect("take")),
        [2, 3]
    );
    assert_eq!(
        shards(store.take_gateway_sessions(first).await.expect("take")),
        [0, 1]
    );
    for (scope, n) in [(second, 2), (ALL, 3), (first, 1)] {
        assert_eq!(
            store.take_lavalink_sessions(scope).await.expect("take"),
            [lavalink("node-a", n), lavalink("node-b", n)],
            "{scope}"
        );
        assert_eq!(
            store.take_discord_cache(scope).await.expect("take"),
            Some(DiscordCache {
                snapshot: format!("cache of {scope}"),
                saved_at_unix_ms: n,
            }),
            "{scope}"
        );
        assert!(
            store
                .take_lavalink_sessions(scope)
                .await
                .expect("take")
                .is_empty()
        );
        assert_eq!(store.take_discord_cache(scope).await.expect("take"), None);
    }
}

/// The bucket's next free instant as the store has it, without reserving anything (a reservation
/// spaced 0 moves nothing): the identify tests start after it, whatever ran before them.
async fn identify_base(store: &dyn Store, bucket: u32) -> u64 {
    store
        .reserve_identify(bucket, 0, 0)
        .await
        .expect("read the bucket")
        + 1_000_000
}

/// Identify slots: each bucket's reservations are spaced, buckets are independent, and a bucket
/// idle for longer than the spacing lets the next identify go at once.
pub async fn identify_slots(store: &dyn Store) {
    const SPACING: u64 = 5_000;
    let base = identify_base(store, 0)
        .await
        .max(identify_base(store, 1).await);
    let reserve = |bucket, now| store.reserve_identify(bucket, now, SPACING);
    assert_eq!(
        reserve(0, base).await.expect("first"),
        base,
        "a first identify goes at once"
    );
    assert_eq!(reserve(0, base).await.expect("second"), base + SPACING);
    assert_eq!(
        reserve(0, base + 1_000).await.expect("third"),
        base + 2 * SPACING,
        "queued behind the second"
    );
    assert_eq!(
        reserve(1, base).await.expect("other bucket"),
        base,
        "buckets are independent"
    );
    let later = base + 10 * SPACING;
    assert_eq!(
        reserve(0, later).await.expect("idle"),
        later,
        "an idle bucket lets one go at once"
    );
    assert_eq!(reserve(0, later).await.expect("after it"), later + SPACING);
}

/// Reservations racing each other (as processes identifying at once) each get their own slot.
pub async fn concurrent_identify_slots(store: &dyn Store) {
    const SPACING: u64 = 5_000;
    let base = identify_base(store, 7).await;
    let reserve = || store.reserve_identify(7, base, SPACING);
    let (a, b, c, d) = tokio::join!(reserve(), reserve(), reserve(), reserve());
    let mut slots = [a, b, c, d].map(|slot| slot.expect("reserve"));
    slots.sort_unstable();
    let spaced = [0, 1, 2, 3].map(|k| base + k * SPACING);
    assert_eq!(slots, spaced, "one slot each, spaced");
}

/// Ends the deploy left running by whatever ran on the store before (as `failed`), if any: the
/// deploy functions begin deploys of their own, one at a time.
async fn settle_deploys(store: &dyn Store) {
    let newest = store.deploys(1).await.expect("deploys");
    if let Some(running) = newest.first().filter(|d| !d.state.is_final()) {
        store
            .finish_deploy(
                running.id,
                DeployState::Failed,
                Some("left running"),
                running.started_at_ms,
            )
            .await
            .expect("finish the leftover deploy");
    }
}

fn new_deploy(n: u64) -> NewDeploy {
    NewDeploy {
        started_at_ms: 1_700_000_000_000 + n,
        from_colour: (!n.is_multiple_of(3)).then_some(if n.is_multiple_of(2) {
            Colour::Blue
        } else {
            Colour::Green
        }),
        to_colour: if n.is_multiple_of(2) {
            Colour::Green
        } else {
            Colour::Blue
        },
        version: format!("1.{n}.0"),
        commit: format!("{n:040x}"),
    }
}

fn step(at_ms: u64, name: &str, outcome: StepOutcome, detail: &str) -> DeployStep {
    DeployStep {
        at_ms,
        step: name.to_owned(),
        outcome,
        detail: detail.to_owned(),
    }
}

/// A deploy goes begin → steps and states → finish and reads back as written: every field of the
/// record, the steps in the order recorded (not by time), the final state, reason and end time.
pub async fn deploy_round_trip(store: &dyn Store) {
    settle_deploys(store).await;
    let new = new_deploy(4);
    let id = store.begin_deploy(&new).await.expect("begin");
    let (record, steps) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(record.id, id);
    assert_eq!(
        (record.started_at_ms, record.from_colour, record.to_colour),
        (new.started_at_ms, new.from_colour, new.to_colour)
    );
    assert_eq!(
        (record.version.as_str(), record.commit.as_str()),
        (new.version.as_str(), new.commit.as_str())
    );
    assert_eq!(record.state, DeployState::Started);
    assert_eq!(record.state_changed_at_ms, new.started_at_ms);
    assert_eq!((record.reason, record.finished_at_ms), (None, None));
    assert!(steps.is_empty());

    let recorded = [
        step(20, "start green", StepOutcome::Ok, "pid 4242"),
        step(
            10,
            "gate: health",
            StepOutcome::Failed,
            "“503” ☃\nsecond line",
        ),
        step(u64::MAX, "gate: health", StepOutcome::Info, ""),
    ];
    store
        .record_deploy_step(id, &recorded[0])
        .await
        .expect("step");
    store
        .set_deploy_state(id, DeployState::Gating, 15)
        .await
        .expect("state");
    for s in &recorded[1..] {
        store.record_deploy_step(id, s).await.expect("step");
    }
    store
        .set_deploy_state(id, DeployState::CutOver, 30)
        .await
        .expect("state");
    let (record, steps) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(
        (record.state, record.state_changed_at_ms),
        (DeployState::CutOver, 30)
    );
    assert_eq!(record.finished_at_ms, None);
    assert_eq!(steps, recorded, "steps in the order recorded");
    assert_eq!(
        store.deploys(1).await.expect("deploys"),
        std::slice::from_ref(&record)
    );

    store
        .finish_deploy(
            id,
            DeployState::RolledBack,
            Some("errors after the cut-over"),
            40,
        )
        .await
        .expect("finish");
    let (finished, steps) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(steps, recorded);
    assert_eq!(
        finished,
        crate::DeployRecord {
            state: DeployState::RolledBack,
            state_changed_at_ms: 40,
            reason: Some("errors after the cut-over".to_owned()),
            finished_at_ms: Some(40),
            ..record
        }
    );
    // A finish without a reason has none.
    let id = store.begin_deploy(&new_deploy(5)).await.expect("begin");
    store
        .finish_deploy(id, DeployState::Promoted, None, 50)
        .await
        .expect("finish");
    let (record, _) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(
        (record.state, record.reason, record.finished_at_ms),
        (DeployState::Promoted, None, Some(50))
    );
}

/// While a deploy is running (in any state that is not final) another `begin_deploy` is refused,
/// naming it, and writes nothing; once it is finished (in any final state) the next one begins,
/// with a higher id.
pub async fn one_deploy_at_a_time(store: &dyn Store) {
    settle_deploys(store).await;
    let mut last = None;
    for (running_state, final_state) in [
        (DeployState::Started, DeployState::Promoted),
        (DeployState::Gating, DeployState::Rejected),
        (DeployState::CutOver, DeployState::RolledBack),
        (DeployState::Watching, DeployState::Failed),
    ] {
        let id = store.begin_deploy(&new_deploy(6)).await.expect("begin");
        assert!(last.is_none_or(|last| id > last), "ids increase");
        last = Some(id);
        if running_state != DeployState::Started {
            store
                .set_deploy_state(id, running_state, 1)
                .await
                .expect("state");
        }
        match store.begin_deploy(&new_deploy(7)).await {
            Err(error @ Error::DeployRunning { running, state }) => {
                assert_eq!((running, state), (id, running_state));
                assert!(error.to_string().contains(&id.to_string()), "{error}");
            }
            other => panic!("a second deploy began while {id} runs: {other:?}"),
        }
        let newest = store.deploys(2).await.expect("deploys");
        assert_eq!(newest[0].id, id, "the refused deploy wrote nothing");
        assert!(newest.get(1).is_none_or(|d| d.state.is_final()));
        store
            .finish_deploy(id, final_state, None, 2)
            .await
            .expect("finish");
    }
    let id = store
        .begin_deploy(&new_deploy(8))
        .await
        .expect("begin after finish");
    store
        .finish_deploy(id, DeployState::Promoted, None, 3)
        .await
        .expect("finish");
}

/// A deploy finishes once, in a final state: finishing it again, in any state, is refused and
/// changes nothing, as are steps and state changes after it; `finish_deploy` with a state that is
/// not final and `set_deploy_state` with a final one are refused and leave the deploy running.
pub async fn deploy_finish_rules(store: &dyn Store) {
    settle_deploys(store).await;
    let id = store.begin_deploy(&new_deploy(9)).await.expect("begin");
    match store
        .finish_deploy(id, DeployState::Watching, None, 5)
        .await
    {
        Err(Error::WrongDeployState { id: at, state, .. }) => {
            assert_eq!((at, state), (id, DeployState::Watching));
        }
        other => panic!("finished in a state that is not final: {other:?}"),
    }
    match store.set_deploy_state(id, DeployState::Promoted, 5).await {
        Err(Error::WrongDeployState { state, .. }) => assert_eq!(state, DeployState::Promoted),
        other => panic!("set a final state without finishing: {other:?}"),
    }
    let (record, _) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(
        (record.state, record.finished_at_ms),
        (DeployState::Started, None)
    );

    store
        .finish_deploy(id, DeployState::Rejected, Some("gate failed"), 6)
        .await
        .expect("finish");
    let (before, steps_before) = store.deploy(id).await.expect("deploy").expect("known");
    for state in [
        DeployState::Rejected,
        DeployState::Promoted,
        DeployState::Failed,
    ] {
        match store.finish_deploy(id, state, Some("again"), 7).await {
            Err(Error::DeployFinished { id: at, state }) => {
                assert_eq!((at, state), (id, DeployState::Rejected));
            }
            other => panic!("finished twice: {other:?}"),
        }
    }
    assert!(matches!(
        store
            .record_deploy_step(id, &step(8, "late", StepOutcome::Info, ""))
            .await,
        Err(Error::DeployFinished { .. })
    ));
    assert!(matches!(
        store.set_deploy_state(id, DeployState::Gating, 8).await,
        Err(Error::DeployFinished { .. })
    ));
    assert_eq!(
        store.deploy(id).await.expect("deploy"),
        Some((before, steps_before)),
        "the finished deploy is unchanged"
    );
}

/// Steps, state changes and finishes for an id the ledger does not have are refused, and
/// `deploy` of it is `None`.
pub async fn deploy_unknown_id(store: &dyn Store) {
    settle_deploys(store).await;
    let newest = store.deploys(1).await.expect("deploys");
    let unknown = newest.first().map_or(1, |d| d.id + 1_000);
    for id in [unknown, u64::MAX, 0] {
        assert_eq!(store.deploy(id).await.expect("deploy"), None);
        for refused in [
            store
                .record_deploy_step(id, &step(1, "start", StepOutcome::Ok, ""))
                .await,
            store.set_deploy_state(id, DeployState::Gating, 1).await,
            store.finish_deploy(id, DeployState::Failed, None, 1).await,
        ] {
            match refused {
                Err(Error::UnknownDeploy { id: at }) => assert_eq!(at, id),
                other => panic!("a write to unknown deploy {id}: {other:?}"),
            }
        }
        assert_eq!(
            store.deploy(id).await.expect("deploy"),
            None,
            "nothing created"
        );
    }
}

/// `deploys(limit)` is the newest `limit` deploys, newest first, each as `deploy` has it.
pub async fn deploy_history(store: &dyn Store) {
    settle_deploys(store).await;
    let mut ids = Vec::new();
    for n in 10..14 {
        // Start times out of order: newest means the latest begun, whatever the caller's clock.
        let new = NewDeploy {
            started_at_ms: 1_000 - n,
            ..new_deploy(n)
        };
        let id = store.begin_deploy(&new).await.expect("begin");
        store
            .finish_deploy(id, DeployState::Promoted, None, 2_000)
            .await
            .expect("finish");
        ids.push(id);
    }
    ids.reverse();
    let listed: Vec<u64> = store
        .deploys(3)
        .await
        .expect("deploys")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ids[..3], "the newest 3, newest first");
    assert!(store.deploys(0).await.expect("deploys").is_empty());
    let all = store.deploys(usize::MAX).await.expect("all");
    assert!(all.len() >= 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    for record in &all[..4] {
        let (one, _) = store
            .deploy(record.id)
            .await
            .expect("deploy")
            .expect("known");
        assert_eq!(&one, record);
    }
    assert_eq!(all[3].version, "1.10.0");
}

/// Names and build fields that are empty or too long are refused and write nothing; a detail or
/// reason that is too long is cut to `MAX_DEPLOY_TEXT` bytes, starting as written and ending in a
/// marker; a deploy takes `MAX_STEPS_PER_DEPLOY` steps and refuses the next.
pub async fn deploy_bounds(store: &dyn Store) {
    settle_deploys(store).await;
    let newest_before = store.deploys(1).await.expect("deploys");
    for bad in [
        NewDeploy {
            version: String::new(),
            ..new_deploy(15)
        },
        NewDeploy {
            commit: "c".repeat(MAX_DEPLOY_NAME + 1),
            ..new_deploy(15)
        },
    ] {
        assert!(
            matches!(
                store.begin_deploy(&bad).await,
                Err(Error::DeployField {
                    max: MAX_DEPLOY_NAME,
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(store.deploys(1).await.expect("deploys"), newest_before);

    let id = store.begin_deploy(&new_deploy(16)).await.expect("begin");
    let longest_name = "n".repeat(MAX_DEPLOY_NAME);
    store
        .record_deploy_step(id, &step(1, &longest_name, StepOutcome::Ok, ""))
        .await
        .expect("a name of the most bytes");
    for name in [String::new(), "n".repeat(MAX_DEPLOY_NAME + 1)] {
        match store
            .record_deploy_step(id, &step(1, &name, StepOutcome::Ok, ""))
            .await
        {
            Err(Error::DeployField { field, len, .. }) => {
                assert_eq!((field, len), ("step", name.len()));
            }
            other => panic!("a step name of {} bytes: {other:?}", name.len()),
        }
    }
    let exact = "d".repeat(MAX_DEPLOY_TEXT);
    let long = "é".repeat(MAX_DEPLOY_TEXT);
    store
        .record_deploy_step(id, &step(2, "exact", StepOutcome::Info, &exact))
        .await
        .expect("step");
    store
        .record_deploy_step(id, &step(3, "long", StepOutcome::Info, &long))
        .await
        .expect("a long detail is cut, not refused");
    let (_, steps) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(steps.len(), 3, "the refused steps wrote nothing");
    assert_eq!(steps[0].step, longest_name);
    assert_eq!(
        steps[1].detail, exact,
        "a detail of the most bytes is kept whole"
    );
    let cut = &steps[2].detail;
    assert!(
        cut.len() <= MAX_DEPLOY_TEXT && cut.len() > MAX_DEPLOY_TEXT / 2,
        "{}",
        cut.len()
    );
    assert!(cut.starts_with("éé"), "kept from the start");
    assert!(cut.contains("truncated"), "says it was cut: {cut}");

    for n in 3..MAX_STEPS_PER_DEPLOY {
        store
            .record_deploy_step(id, &step(n as u64, "tick", StepOutcome::Info, ""))
            .await
            .expect("up to the most steps");
    }
    match store
        .record_deploy_step(id, &step(0, "one too many", StepOutcome::Info, ""))
        .await
    {
        Err(Error::TooManySteps { id: at, max }) => {
            assert_eq!((at, max), (id, MAX_STEPS_PER_DEPLOY));
        }
        other => panic!("a step past the most: {other:?}"),
    }
    let (_, steps) = store.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(steps.len(), MAX_STEPS_PER_DEPLOY);
    // A full deploy still changes state and finishes.
    store
        .set_deploy_state(id, DeployState::Watching, 9)
        .await
        .expect("state");
    store
        .finish_deploy(id, DeployState::Failed, Some(&long), 10)
        .await
        .expect("finish");
    let (record, _) = store.deploy(id).await.expect("deploy").expect("known");
    let reason = record.reason.expect("a reason");
    assert!(
        reason.len() <= MAX_DEPLOY_TEXT && reason.starts_with("éé") && reason.contains("truncated")
    );
}

fn build(colour: Colour, n: u64) -> ColourBuild {
    ColourBuild {
        colour,
        version: format!("2.{n}.0"),
        commit: format!("{n:040x}"),
        binary: format!("/opt/dimby/releases/2.{n}.0/dimby"),
        config: format!("/etc/dimby/{colour}.toml"),
        admin_url: format!("http://127.0.0.1:{}/", 9_000 + n),
        recorded_at_ms: 1_700_000_000_000 + n,
    }
}

/// `set_active_colour` makes its colour the active one and keeps its build as that colour's last;
/// the other colour's last build stays as it was; a later build of a colour replaces its earlier
/// one; a bad field is refused and changes nothing.
pub async fn colour_builds(store: &dyn Store) {
    store
        .set_active_colour(&build(Colour::Blue, 1))
        .await
        .expect("blue");
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Blue, 1))
    );
    assert_eq!(
        store.colour_build(Colour::Blue).await.expect("blue"),
        Some(build(Colour::Blue, 1))
    );
    store
        .set_active_colour(&build(Colour::Green, 2))
        .await
        .expect("green");
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Green, 2))
    );
    assert_eq!(
        store.colour_build(Colour::Blue).await.expect("blue"),
        Some(build(Colour::Blue, 1)),
        "the old colour's last build is kept, for a rollback"
    );
    assert_eq!(
        store.colour_build(Colour::Green).await.expect("green"),
        Some(build(Colour::Green, 2))
    );
    store
        .set_active_colour(&build(Colour::Blue, 3))
        .await
        .expect("blue again");
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Blue, 3))
    );
    assert_eq!(
        store.colour_build(Colour::Blue).await.expect("blue"),
        Some(build(Colour::Blue, 3)),
        "replaced"
    );
    assert_eq!(
        store.colour_build(Colour::Green).await.expect("green"),
        Some(build(Colour::Green, 2))
    );
    for bad in [
        ColourBuild {
            binary: String::new(),
            ..build(Colour::Green, 4)
        },
        ColourBuild {
            admin_url: "u".repeat(MAX_BUILD_FIELD + 1),
            ..build(Colour::Green, 4)
        },
    ] {
        assert!(
            matches!(
                store.set_active_colour(&bad).await,
                Err(Error::DeployField {
                    max: MAX_BUILD_FIELD,
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Blue, 3))
    );
    assert_eq!(
        store.colour_build(Colour::Green).await.expect("green"),
        Some(build(Colour::Green, 2))
    );
}

// --- listener features: 24/7, autoplay, play history, playlists ----------------------------------

/// 24/7 mode and autoplay default to off, are each set on their own (creating the guild with
/// every other setting at its default), leave the other settings alone, and load with the guild.
pub async fn stay_and_autoplay(store: &dyn Store) {
    let (guild, other) = (1_041, 1_042);
    forget(store, &[guild, other]).await;
    let fresh = GuildState::new(guild);
    assert!(!fresh.stay && !fresh.autoplay, "both off by default");
    store.set_stay(guild, true).await.expect("set_stay");
    assert_eq!(
        state(store, guild).await,
        GuildState {
            stay: true,
            ..GuildState::new(guild)
        },
        "the first write creates the guild with the defaults"
    );
    store.set_autoplay(guild, true).await.expect("set_autoplay");
    store.set_volume(guild, 70).await.expect("set_volume");
    store
        .set_loop(guild, LoopMode::Queue)
        .await
        .expect("set_loop");
    let s = state(store, guild).await;
    assert_eq!((s.stay, s.autoplay), (true, true));
    assert_eq!((s.volume, s.loop_mode), (70, LoopMode::Queue));
    store.set_stay(guild, false).await.expect("set_stay");
    let s = state(store, guild).await;
    assert_eq!((s.stay, s.autoplay, s.volume), (false, true, 70));
    store
        .set_autoplay(guild, false)
        .await
        .expect("set_autoplay");
    store.set_stay(guild, true).await.expect("set_stay");
    store.set_autoplay(other, true).await.expect("set_autoplay");
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    let of = |g: u64| {
        all.iter()
            .find(|s| s.guild_id == g)
            .map(|s| (s.stay, s.autoplay))
    };
    assert_eq!(of(guild), Some((true, false)));
    assert_eq!(of(other), Some((false, true)));
    // Settings go with forget_guild, as the others do.
    assert!(store.forget_guild(guild).await.expect("forget"));
    store.set_volume(guild, 10).await.expect("set_volume");
    let s = state(store, guild).await;
    assert_eq!((s.stay, s.autoplay), (false, false));
}

/// Play history: newest first, every field round-trips, ids grow, `limit` is honoured (and capped
/// at [`HISTORY_LEN`]), each guild has its own, and it is not part of the guild's state (adding to
/// it creates the guild with the defaults, nothing more).
pub async fn history_round_trip(store: &dyn Store) {
    let (guild, other) = (1_043, 1_044);
    forget(store, &[guild, other]).await;
    assert!(store.history(guild, 10).await.expect("history").is_empty());
    let mut odd = entry(7);
    odd.requester_id = u64::MAX;
    odd.length_ms = u64::MAX;
    odd.uri = None;
    let written = [entry(1), entry(2), odd];
    let mut added = Vec::new();
    for (n, e) in (0u64..).zip(&written) {
        let h = store
            .add_history(guild, e, 1_700_000_000_000 + n)
            .await
            .expect("add_history");
        assert_eq!((&h.entry, h.played_at_unix_ms), (e, 1_700_000_000_000 + n));
        added.push(h);
    }
    store
        .add_history(other, &entry(9), u64::MAX)
        .await
        .expect("add_history");
    assert!(added.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    let newest_first: Vec<HistoryEntry> = added.iter().rev().cloned().collect();
    assert_eq!(
        store.history(guild, 10).await.expect("history"),
        newest_first
    );
    assert_eq!(
        store.history(guild, 2).await.expect("history"),
        newest_first[..2]
    );
    assert!(store.history(guild, 0).await.expect("history").is_empty());
    assert_eq!(
        store.history(guild, usize::MAX).await.expect("history"),
        newest_first
    );
    let theirs = store.history(other, 10).await.expect("history");
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (theirs[0].entry.clone(), theirs[0].played_at_unix_ms),
        (entry(9), u64::MAX)
    );
    assert_eq!(
        state(store, guild).await,
        GuildState::new(guild),
        "the history is not in the guild's state"
    );
}

/// The history keeps the newest [`HISTORY_LEN`]: after 60 adds, the last 50, newest first; a
/// smaller history after a removal fills up to 50 again and no further.
pub async fn history_cap(store: &dyn Store) {
    let guild = 1_045;
    forget(store, &[guild]).await;
    for n in 0..60u64 {
        store
            .add_history(guild, &entry(n), 1_000 + n)
            .await
            .expect("add_history");
    }
    let kept = store.history(guild, 100).await.expect("history");
    let kept_numbers: Vec<u64> = kept
        .iter()
        .map(|h| h.entry.requester_id - 100_000)
        .collect();
    assert_eq!(kept_numbers, (10..60).rev().collect::<Vec<_>>());
    assert_eq!(kept.len(), HISTORY_LEN);
    assert!(kept.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert!(
        store
            .remove_history(guild, kept[10].id)
            .await
            .expect("remove")
    );
    assert_eq!(store.history(guild, 100).await.expect("history").len(), 49);
    store
        .add_history(guild, &entry(60), 2_000)
        .await
        .expect("add_history");
    assert_eq!(store.history(guild, 100).await.expect("history").len(), 50);
    store
        .add_history(guild, &entry(61), 2_001)
        .await
        .expect("add_history");
    let kept = store.history(guild, 100).await.expect("history");
    assert_eq!(kept.len(), 50);
    assert_eq!(
        kept.last().map(|h| h.entry.requester_id - 100_000),
        Some(11),
        "the oldest went"
    );
}

/// `remove_history` drops one entry of its own guild only, says whether it was there, and ids are
/// never reused within a guild (not after a removal, not after `forget_guild`).
pub async fn history_remove_and_forget(store: &dyn Store) {
    let (guild, other) = (1_046, 1_047);
    forget(store, &[guild, other]).await;
    let first = store
        .add_history(guild, &entry(1), 1)
        .await
        .expect("add_history");
    let second = store
        .add_history(guild, &entry(2), 2)
        .await
        .expect("add_history");
    store
        .add_history(other, &entry(3), 3)
        .await
        .expect("add_history");
    assert!(
        !store
            .remove_history(other, second.id)
            .await
            .expect("wrong guild"),
        "an entry is removed only from its own guild"
    );
    assert!(
        store
            .remove_history(guild, second.id)
            .await
            .expect("remove")
    );
    assert!(!store.remove_history(guild, second.id).await.expect("again"));
    let third = store
        .add_history(guild, &entry(4), 4)
        .await
        .expect("add_history");
    assert!(third.id > second.id, "a removed id is not reused");
    assert_eq!(
        store.history(guild, 10).await.expect("history"),
        vec![third.clone(), first]
    );
    assert!(store.forget_guild(guild).await.expect("forget"));
    assert!(store.history(guild, 10).await.expect("history").is_empty());
    assert_eq!(store.history(other, 10).await.expect("history").len(), 1);
    let after = store
        .add_history(guild, &entry(5), 5)
        .await
        .expect("add_history");
    assert!(after.id > third.id, "ids are not reused after forget_guild");
    assert_eq!(
        store.history(guild, 10).await.expect("history"),
        vec![after]
    );
}

/// Histories of guild ids at and above 2^63 (and 0, which differs from 2^63 in the top bit only)
/// stay apart.
pub async fn history_big_ids(store: &dyn Store) {
    let guilds = [BIG_ID, 1 << 63, u64::MAX, 0];
    forget(store, &guilds).await;
    for (n, guild) in (0u64..).zip(&guilds[..3]) {
        for k in 0..3 {
            store
                .add_history(*guild, &entry(n * 10 + k), k)
                .await
                .expect("add_history");
        }
    }
    for (n, guild) in (0u64..).zip(&guilds[..3]) {
        let kept: Vec<u64> = store
            .history(*guild, 10)
            .await
            .expect("history")
            .iter()
            .map(|h| h.entry.requester_id - 100_000)
            .collect();
        assert_eq!(kept, [n * 10 + 2, n * 10 + 1, n * 10]);
    }
    assert!(store.history(0, 10).await.expect("history").is_empty());
    assert!(store.forget_guild(u64::MAX).await.expect("forget"));
    assert!(
        store
            .history(u64::MAX, 10)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(store.history(BIG_ID, 10).await.expect("history").len(), 3);
}

/// Starts a playlist behaviour from no playlists for `users`.
async fn forget_playlists(store: &dyn Store, users: &[u64]) {
    for user in users {
        for list in store.playlists(*user).await.expect("playlists") {
            assert!(
                store
                    .delete_playlist(*user, &list.name)
                    .await
                    .expect("delete_playlist")
            );
        }
    }
}

/// The names of a user's playlists, in the order listed.
async fn playlist_names(store: &dyn Store, user: u64) -> Vec<String> {
    store
        .playlists(user)
        .await
        .expect("playlists")
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// Saving, replacing (names match without regard to case, and the new spelling is kept), looking
/// up, listing (by name without regard to case) and deleting a user's playlists.
pub async fn playlists_round_trip(store: &dyn Store) {
    let user = 9_001;
    forget_playlists(store, &[user]).await;
    assert!(store.playlists(user).await.expect("playlists").is_empty());
    assert_eq!(store.playlist(user, "chill").await.expect("playlist"), None);
    let saved = store
        .save_playlist(user, "Chill", &entries(0..3), 1_000)
        .await
        .expect("save");
    assert_eq!(
        saved,
        SavedPlaylist {
            replaced: false,
            tracks: 3
        }
    );
    let expected = Playlist {
        user_id: user,
        name: "Chill".to_owned(),
        entries: entries(0..3),
        updated_at_unix_ms: 1_000,
    };
    for asked in ["Chill", "chill", "  CHILL  "] {
        assert_eq!(
            store.playlist(user, asked).await.expect("playlist"),
            Some(expected.clone()),
            "{asked}"
        );
    }
    let saved = store
        .save_playlist(user, "  cHiLL ", &entries(10..12), 2_000)
        .await
        .expect("replace");
    assert_eq!(
        saved,
        SavedPlaylist {
            replaced: true,
            tracks: 2
        }
    );
    assert_eq!(
        store.playlist(user, "chill").await.expect("playlist"),
        Some(Playlist {
            user_id: user,
            name: "cHiLL".to_owned(),
            entries: entries(10..12),
            updated_at_unix_ms: 2_000,
        }),
        "the tracks replaced, the new spelling kept"
    );
    for (n, name) in (0u64..).zip(["gamma", "Beta", "Äpfel", "alpha", "Zed"]) {
        store
            .save_playlist(user, name, &entries(0..n + 1), 3_000 + n)
            .await
            .expect("save");
    }
    // By the lower-case name, code point by code point (the same on every backend).
    assert_eq!(
        playlist_names(store, user).await,
        ["alpha", "Beta", "cHiLL", "gamma", "Zed", "Äpfel"]
    );
    let listed = store.playlists(user).await.expect("playlists");
    assert_eq!(
        listed[1],
        PlaylistSummary {
            name: "Beta".to_owned(),
            tracks: 2,
            updated_at_unix_ms: 3_001,
        }
    );
    assert!(store.delete_playlist(user, " BETA").await.expect("delete"));
    assert!(!store.delete_playlist(user, "beta").await.expect("again"));
    assert_eq!(store.playlist(user, "Beta").await.expect("playlist"), None);
    assert_eq!(
        playlist_names(store, user).await,
        ["alpha", "cHiLL", "gamma", "Zed", "Äpfel"]
    );
    assert!(!store.delete_playlist(user, "").await.expect("no name"));
    assert_eq!(store.playlist(user, "").await.expect("no name"), None);
}

/// Every refusal of `save_playlist` (a bad name, no tracks, too many tracks, one playlist too many)
/// is its error, says its limit, and writes nothing; at the limits themselves it saves.
pub async fn playlist_refusals(store: &dyn Store) {
    let user = 9_002;
    forget_playlists(store, &[user]).await;
    store
        .save_playlist(user, "keep", &entries(0..2), 1)
        .await
        .expect("save");
    let long = "é".repeat(MAX_PLAYLIST_NAME_CHARS + 1);
    let too_many = entries(0..u64::try_from(MAX_PLAYLIST_TRACKS).unwrap_or(0) + 1);
    let refusals: [(&str, &[QueueEntry], &str); 6] = [
        ("   ", &entries(0..1), "is empty"),
        (&long, &entries(0..1), "101 characters"),
        ("two\nlines", &entries(0..1), "control character"),
        ("tab\there", &entries(0..1), "control character"),
        ("new", &[], "at least one track"),
        ("keep", &too_many, "at most 500 tracks"),
    ];
    for (name, tracks, says) in refusals {
        let error = store
            .save_playlist(user, name, tracks, 2)
            .await
            .expect_err("refused");
        assert!(
            matches!(
                error,
                Error::PlaylistName { .. } | Error::PlaylistEmpty | Error::PlaylistTooLong { .. }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(says), "{text} says {says}");
        assert!(!text.contains("QAAA"), "{text} shows no track");
    }
    assert!(matches!(
        store.save_playlist(user, "", &entries(0..1), 2).await,
        Err(Error::PlaylistName {
            reason: PlaylistNameProblem::Empty
        })
    ));
    assert!(matches!(
        store.save_playlist(user, &long, &entries(0..1), 2).await,
        Err(Error::PlaylistName {
            reason: PlaylistNameProblem::TooLong { chars: 101 }
        })
    ));
    assert!(matches!(
        store.save_playlist(user, "keep", &too_many, 2).await,
        Err(Error::PlaylistTooLong {
            tracks: 501,
            max: 500
        })
    ));
    assert_eq!(
        playlist_names(store, user).await,
        ["keep"],
        "nothing written"
    );
    let kept = store.playlist(user, "keep").await.expect("playlist");
    assert_eq!(
        kept.map(|p| (p.entries, p.updated_at_unix_ms)),
        Some((entries(0..2), 1))
    );

    at_the_limits(store, user).await;
}

/// `save_playlist` at its limits: a name of exactly [`MAX_PLAYLIST_NAME_CHARS`] characters saves,
/// the user's [`MAX_PLAYLISTS_PER_USER`]-th playlist saves and the next new one is refused with
/// nothing written, while saving over an existing name still replaces it.
async fn at_the_limits(store: &dyn Store, user: u64) {
    // At the limits: 100 characters (2 bytes each), surrounded by spaces that are dropped.
    let longest = "é".repeat(MAX_PLAYLIST_NAME_CHARS);
    store
        .save_playlist(user, &format!("  {longest}  "), &entries(0..1), 3)
        .await
        .expect("100 characters");
    assert!(
        store
            .playlist(user, &longest)
            .await
            .expect("playlist")
            .is_some()
    );
    // Up to MAX_PLAYLISTS_PER_USER, then a new name is refused while an existing one replaces.
    for n in 2..MAX_PLAYLISTS_PER_USER {
        store
            .save_playlist(user, &format!("list {n:02}"), &entries(0..1), 4)
            .await
            .expect("save");
    }
    let full = playlist_names(store, user).await;
    assert_eq!(full.len(), MAX_PLAYLISTS_PER_USER);
    let error = store
        .save_playlist(user, "one more", &entries(0..1), 5)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, Error::TooManyPlaylists { max: 25 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("25"), "{error}");
    assert_eq!(playlist_names(store, user).await, full, "nothing written");
    let saved = store
        .save_playlist(user, "KEEP", &entries(5..8), 6)
        .await
        .expect("replacing is not a new playlist");
    assert_eq!(
        saved,
        SavedPlaylist {
            replaced: true,
            tracks: 3
        }
    );
}

/// Playlists belong to their user: the same name for two users is two playlists, and saving,
/// deleting and the limit of one user leave the other's alone (user ids above 2^63 included).
pub async fn playlists_per_user(store: &dyn Store) {
    let (a, b, big) = (9_003, 9_004, u64::MAX);
    forget_playlists(store, &[a, b, big, 1 << 63, 0]).await;
    for (n, user) in (0u64..).zip([a, b, big]) {
        store
            .save_playlist(user, "Mix", &entries(n * 10..n * 10 + 2), n)
            .await
            .expect("save");
    }
    for (n, user) in (0u64..).zip([a, b, big]) {
        let list = store
            .playlist(user, "mix")
            .await
            .expect("playlist")
            .expect("there");
        assert_eq!(
            (list.user_id, list.entries),
            (user, entries(n * 10..n * 10 + 2))
        );
    }
    assert!(
        store
            .playlists(1 << 63)
            .await
            .expect("playlists")
            .is_empty()
    );
    assert!(store.playlists(0).await.expect("playlists").is_empty());
    assert!(store.delete_playlist(a, "MIX").await.expect("delete"));
    assert!(store.playlist(b, "Mix").await.expect("playlist").is_some());
    for n in 0..MAX_PLAYLISTS_PER_USER {
        store
            .save_playlist(a, &format!("a{n}"), &entries(0..1), 1)
            .await
            .expect("save");
    }
    store
        .save_playlist(b, "b's second", &entries(0..1), 1)
        .await
        .expect("another user's limit is not b's");
    assert_eq!(playlist_names(store, b).await, ["b's second", "Mix"]);
}

/// A playlist of [`MAX_PLAYLIST_TRACKS`] tracks comes back whole, in order, every field as saved.
pub async fn playlist_of_500_tracks(store: &dyn Store) {
    let user = 9_005;
    forget_playlists(store, &[user]).await;
    let mut tracks = entries(0..u64::try_from(MAX_PLAYLIST_TRACKS).unwrap_or(0));
    tracks[250].requester_id = u64::MAX;
    tracks[250].added_at_unix_ms = u64::MAX;
    tracks[251].title = String::new();
    let saved = store
        .save_playlist(user, "Everything", &tracks, 1)
        .await
        .expect("save");
    assert_eq!(
        saved,
        SavedPlaylist {
            replaced: false,
            tracks: 500
        }
    );
    let list = store
        .playlist(user, "everything")
        .await
        .expect("playlist")
        .expect("there");
    assert_eq!(list.entries, tracks);
    assert_eq!(
        store.playlists(user).await.expect("playlists")[0].tracks,
        500
    );
}

/// Two saves racing for a user's last place get one each way: one saved, one
/// [`Error::TooManyPlaylists`], never a 26th playlist; two saves of one new name make one playlist.
pub async fn concurrent_playlist_saves(store: &dyn Store) {
    let user = 9_006;
    forget_playlists(store, &[user]).await;
    for n in 0..MAX_PLAYLISTS_PER_USER - 1 {
        store
            .save_playlist(user, &format!("p{n}"), &entries(0..2), 1)
            .await
            .expect("save");
    }
    let (early, late) = (entries(0..3), entries(3..6));
    for round in 0..5 {
        let (x, y) = (format!("x{round}"), format!("y{round}"));
        let (first, second) = tokio::join!(
            store.save_playlist(user, &x, &early, 2),
            store.save_playlist(user, &y, &late, 2),
        );
        let names = playlist_names(store, user).await;
        assert_eq!(
            names.len(),
            MAX_PLAYLISTS_PER_USER,
            "round {round}: {names:?}"
        );
        let winner = match (first, second) {
            (Ok(_), Err(Error::TooManyPlaylists { .. })) => x,
            (Err(Error::TooManyPlaylists { .. }), Ok(_)) => y,
            other => panic!("round {round}: one save and one refusal, got {other:?}"),
        };
        assert!(names.contains(&winner));
        assert!(store.delete_playlist(user, &winner).await.expect("delete"));
    }
    let (first, second) = tokio::join!(
        store.save_playlist(user, "Same", &early, 3),
        store.save_playlist(user, "same", &late, 3),
    );
    let mut replaced = [
        first.expect("save").replaced,
        second.expect("save").replaced,
    ];
    replaced.sort_unstable();
    assert_eq!(
        replaced,
        [false, true],
        "one created it, the other replaced it"
    );
    assert_eq!(
        playlist_names(store, user).await.len(),
        MAX_PLAYLISTS_PER_USER
    );
}

// --- the now-playing panel and guild settings ----------------------------------------------------

/// The panel's message defaults to none, is set (creating the guild with every other setting at
/// its default, even to clear it, as `set_channels`), replaced and cleared on its own, leaving the
/// other settings alone, loads with the guild in `load_guild`, `load_all_guilds` and `load_guilds`,
/// and is kept per guild (ids above 2^63 included).
pub async fn panel_round_trip(store: &dyn Store) {
    let (guild, other, unknown) = (1_048, 1_049, 1_050);
    forget(store, &[guild, other, unknown]).await;
    assert_eq!(GuildState::new(guild).panel, None, "none by default");
    let first = PanelMessage {
        channel_id: 11,
        message_id: 12,
    };
    store
        .set_panel(guild, Some(first))
        .await
        .expect("set_panel");
    assert_eq!(
        state(store, guild).await,
        GuildState {
            panel: Some(first),
            ..GuildState::new(guild)
        },
        "the first write creates the guild with the defaults"
    );
    store.set_volume(guild, 70).await.expect("set_volume");
    store.set_stay(guild, true).await.expect("set_stay");
    store
        .set_channels(guild, Some(5), Some(6))
        .await
        .expect("set_channels");
    assert_eq!(state(store, guild).await.panel, Some(first), "kept");
    let second = PanelMessage {
        channel_id: 21,
        message_id: 22,
    };
    store.set_panel(guild, Some(second)).await.expect("replace");
    let s = state(store, guild).await;
    assert_eq!(s.panel, Some(second));
    assert_eq!(
        (s.volume, s.stay, s.voice_channel_id, s.text_channel_id),
        (70, true, Some(5), Some(6)),
        "the other settings are left alone"
    );
    let big = PanelMessage {
        channel_id: u64::MAX,
        message_id: 1 << 63,
    };
    store.set_panel(other, Some(big)).await.expect("set_panel");
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    let of =
        |guilds: &[GuildState], g: u64| guilds.iter().find(|s| s.guild_id == g).map(|s| s.panel);
    assert_eq!(of(&all, guild), Some(Some(second)));
    assert_eq!(of(&all, other), Some(Some(big)));
    // Both are on shard 0 of 4 ((id >> 22) % 4).
    let scope = HandoverScope {
        first: 0,
        last: 0,
        total: 4,
    };
    let on_shard = store.load_guilds(scope).await.expect("load_guilds").guilds;
    assert_eq!(of(&on_shard, guild), Some(Some(second)));
    assert_eq!(of(&on_shard, other), Some(Some(big)));
    store.set_panel(guild, None).await.expect("clear");
    let s = state(store, guild).await;
    assert_eq!((s.panel, s.volume), (None, 70), "cleared, the guild kept");
    assert_eq!(state(store, other).await.panel, Some(big), "per guild");
    store.set_panel(unknown, None).await.expect("clear unknown");
    assert_eq!(
        state(store, unknown).await,
        GuildState::new(unknown),
        "clearing an unknown guild's panel creates it, as set_channels does"
    );
    // 2^63 and 0 differ in the top bit only.
    forget(store, &[1 << 63, 0]).await;
    store
        .set_panel(1 << 63, Some(first))
        .await
        .expect("set_panel");
    assert_eq!(store.load_guild(0).await.expect("load"), None);
    assert_eq!(state(store, 1 << 63).await.panel, Some(first));
    store.forget_guild(1 << 63).await.expect("forget");
}

/// `forget_guild` forgets the panel with the rest of the guild: a later write starts from none.
pub async fn panel_forgotten_with_the_guild(store: &dyn Store) {
    let guild = 1_051;
    forget(store, &[guild]).await;
    let panel = PanelMessage {
        channel_id: 31,
        message_id: 32,
    };
    store
        .set_panel(guild, Some(panel))
        .await
        .expect("set_panel");
    store
        .enqueue(guild, &entries(0..2), None)
        .await
        .expect("enqueue");
    assert!(store.forget_guild(guild).await.expect("forget"));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    store.set_volume(guild, 40).await.expect("set_volume");
    assert_eq!(
        state(store, guild).await,
        GuildState {
            volume: 40,
            ..GuildState::new(guild)
        },
        "no panel after forget_guild"
    );
}

/// Puts a guild's settings back to the defaults (a behaviour's start: `forget_guild` keeps them).
async fn reset_settings(store: &dyn Store, guilds: &[u64]) {
    for guild in guilds {
        store
            .set_guild_settings(*guild, &GuildSettings::default())
            .await
            .expect("set_guild_settings");
    }
}

/// Settings every field of which differs from the defaults, at the edges of the bounds.
fn unusual_settings() -> GuildSettings {
    GuildSettings {
        dj_role_id: Some(u64::MAX),
        vote_skip_percent: *VOTE_SKIP_PERCENT.start(),
        default_volume: 0,
        announce_channel_id: Some(1 << 63),
        stay_by_default: true,
        autoplay_by_default: true,
        locale: Some("pt-BR".to_owned()),
    }
}

/// A guild that never stored settings has the defaults (no DJ role, 50 %, volume 100, no announce
/// channel, 24/7 and autoplay off, no locale), whether it has state or not.
pub async fn guild_settings_default(store: &dyn Store) {
    // No behaviour ever stores settings for this guild.
    let guild = 1_052;
    forget(store, &[guild]).await;
    let expected = GuildSettings {
        dj_role_id: None,
        vote_skip_percent: 50,
        default_volume: 100,
        announce_channel_id: None,
        stay_by_default: false,
        autoplay_by_default: false,
        locale: None,
    };
    assert_eq!(GuildSettings::default(), expected);
    assert_eq!(
        store.guild_settings(guild).await.expect("guild_settings"),
        expected
    );
    store.set_volume(guild, 30).await.expect("set_volume");
    store.set_stay(guild, true).await.expect("set_stay");
    assert_eq!(
        store.guild_settings(guild).await.expect("guild_settings"),
        expected,
        "the guild's state is not its settings"
    );
}

/// Settings round-trip whole (every field, ids above 2^63, `None`s that clear), replace the ones
/// before, are kept per guild, create no guild state, and leave the guild's state alone (and it
/// them).
pub async fn guild_settings_round_trip(store: &dyn Store) {
    let (guild, other) = (1_053, 1_054);
    forget(store, &[guild, other]).await;
    reset_settings(store, &[guild, other, 1 << 63]).await;
    let unusual = unusual_settings();
    store
        .set_guild_settings(guild, &unusual)
        .await
        .expect("set_guild_settings");
    assert_eq!(
        store.guild_settings(guild).await.expect("guild_settings"),
        unusual
    );
    assert_eq!(
        store.load_guild(guild).await.expect("load"),
        None,
        "settings are not guild state"
    );
    let replaced = GuildSettings {
        dj_role_id: None,
        vote_skip_percent: *VOTE_SKIP_PERCENT.end(),
        default_volume: MAX_DEFAULT_VOLUME,
        announce_channel_id: None,
        stay_by_default: false,
        autoplay_by_default: true,
        locale: Some("x".repeat(MAX_LOCALE_CHARS)),
    };
    store
        .set_guild_settings(guild, &replaced)
        .await
        .expect("replace");
    assert_eq!(
        store.guild_settings(guild).await.expect("guild_settings"),
        replaced,
        "replaced whole: None clears"
    );
    let theirs = GuildSettings {
        dj_role_id: Some(7),
        locale: Some("en-US".to_owned()),
        ..GuildSettings::default()
    };
    store
        .set_guild_settings(other, &theirs)
        .await
        .expect("set_guild_settings");
    store
        .set_guild_settings(1 << 63, &unusual)
        .await
        .expect("a big guild id");
    assert_eq!(store.guild_settings(other).await.expect("other"), theirs);
    assert_eq!(store.guild_settings(guild).await.expect("kept"), replaced);
    assert_eq!(store.guild_settings(1 << 63).await.expect("big"), unusual);
    assert_eq!(
        store.guild_settings(0).await.expect("0"),
        GuildSettings::default(),
        "0 and 2^63 differ in the top bit only"
    );
    // The guild's state and its settings do not touch each other.
    store.set_volume(guild, 20).await.expect("set_volume");
    store
        .set_autoplay(guild, false)
        .await
        .expect("set_autoplay");
    assert_eq!(store.guild_settings(guild).await.expect("kept"), replaced);
    store
        .set_guild_settings(guild, &unusual)
        .await
        .expect("set_guild_settings");
    let s = state(store, guild).await;
    assert_eq!((s.volume, s.stay, s.autoplay), (20, false, false));
    reset_settings(store, &[1 << 63]).await;
}

/// Out-of-bounds settings are refused, naming the setting and its bounds, and nothing is written
/// (not the other fields either); the bounds themselves are accepted.
pub async fn guild_settings_bounds(store: &dyn Store) {
    // `never` only ever gets refused writes: it has no settings, and no state.
    let (guild, never) = (1_055, 1_056);
    forget(store, &[guild, never]).await;
    let good = unusual_settings();
    store
        .set_guild_settings(guild, &good)
        .await
        .expect("set_guild_settings");
    let with = |change: fn(&mut GuildSettings)| {
        let mut settings = GuildSettings {
            dj_role_id: Some(99),
            announce_channel_id: Some(98),
            ..GuildSettings::default()
        };
        change(&mut settings);
        settings
    };
    let refusals: [(GuildSettings, &str, &str); 9] = [
        (
            with(|s| s.vote_skip_percent = 0),
            "vote_skip_percent",
            "1 to 100",
        ),
        (
            with(|s| s.vote_skip_percent = 101),
            "vote_skip_percent",
            "1 to 100",
        ),
        (
            with(|s| s.vote_skip_percent = u8::MAX),
            "vote_skip_percent",
            "1 to 100",
        ),
        (
            with(|s| s.default_volume = MAX_DEFAULT_VOLUME + 1),
            "default_volume",
            "0 to 200",
        ),
        (
            with(|s| s.default_volume = u16::MAX),
            "default_volume",
            "0 to 200",
        ),
        (
            with(|s| s.locale = Some(String::new())),
            "locale",
            "1 to 16",
        ),
        (
            with(|s| s.locale = Some("a".repeat(MAX_LOCALE_CHARS + 1))),
            "locale",
            "1 to 16",
        ),
        (
            with(|s| s.locale = Some("en US".to_owned())),
            "locale",
            "1 to 16",
        ),
        (
            with(|s| s.locale = Some("日本語".to_owned())),
            "locale",
            "1 to 16",
        ),
    ];
    for (settings, named, bounds) in refusals {
        for g in [guild, never] {
            match store.set_guild_settings(g, &settings).await {
                Err(error @ Error::GuildSetting { key, .. }) => {
                    assert_eq!(key, named, "{settings:?}");
                    let message = error.to_string();
                    assert!(
                        message.contains(named)
                            && message.contains(bounds)
                            && message.contains("nothing was written"),
                        "{message}"
                    );
                }
                other => panic!("{settings:?}: expected a GuildSetting refusal, got {other:?}"),
            }
        }
        assert_eq!(
            store.guild_settings(guild).await.expect("guild_settings"),
            good,
            "nothing written: {settings:?}"
        );
        assert_eq!(
            store.guild_settings(never).await.expect("guild_settings"),
            GuildSettings::default()
        );
    }
    assert_eq!(store.load_guild(never).await.expect("load"), None);
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
}

/// `forget_guild` (`/leave`) keeps the guild's settings: they come back after it, it reports
/// nothing to forget for a guild with settings only, and a guild that comes back starts from the
/// default state (the store does not apply the settings' defaults: the bot does).
pub async fn guild_settings_survive_forget_guild(store: &dyn Store) {
    let (guild, other) = (1_057, 1_058);
    forget(store, &[guild, other]).await;
    let settings = unusual_settings();
    store
        .set_guild_settings(guild, &settings)
        .await
        .expect("set_guild_settings");
    store
        .enqueue(guild, &entries(0..3), None)
        .await
        .expect("enqueue");
    store
        .set_panel(
            guild,
            Some(PanelMessage {
                channel_id: 1,
                message_id: 2,
            }),
        )
        .await
        .expect("set_panel");
    store
        .add_history(guild, &entry(1), 1)
        .await
        .expect("add_history");
    assert!(store.forget_guild(guild).await.expect("forget"));
    assert_eq!(store.load_guild(guild).await.expect("load"), None);
    assert!(store.history(guild, 10).await.expect("history").is_empty());
    assert_eq!(
        store.guild_settings(guild).await.expect("guild_settings"),
        settings,
        "the settings survive /leave"
    );
    assert!(
        !store.forget_guild(guild).await.expect("forget again"),
        "settings alone are nothing to forget"
    );
    assert_eq!(store.guild_settings(guild).await.expect("kept"), settings);
    store
        .set_loop(guild, LoopMode::Track)
        .await
        .expect("set_loop");
    assert_eq!(
        state(store, guild).await,
        GuildState {
            loop_mode: LoopMode::Track,
            ..GuildState::new(guild)
        }
    );
    // A guild with settings only is not one of the guilds to restore.
    reset_settings(store, &[other]).await;
    let all = store.load_all_guilds().await.expect("load_all").guilds;
    assert!(all.iter().all(|s| s.guild_id != other));
}
