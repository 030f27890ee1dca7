//! The PostgreSQL backend: the conformance suite, plus what only a shared server can show (two
//! stores writing one database at once, reconnecting, concurrent migrations, locks and their
//! timeout, a read-only server, damaged rows, connection errors that keep the password out).
//!
//! The tests start a throwaway server (see `postgres_server`) and give each test a database of its
//! own. Without PostgreSQL installed they fail saying how to install it, unless
//! `DIMBY_SKIP_POSTGRES=1`.

#![allow(
    clippy::disallowed_methods,
    reason = "the tests bound real waits: a server starting, a lock timeout, a connect timeout"
)]

use test_support::postgres as postgres_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use store::conformance::{self, entries, entry};
use store::{
    Colour, DeployState, DeployStep, Error, Filters, Finished, GatewaySession, HandoverScope,
    LavalinkSession, LoopMode, NewDeploy, PgConfig, PgStore, PositionSnapshot, PositionWrite,
    StepOutcome, Store,
};

/// A store on a new database of the test server, or `None` if the tests are skipped.
async fn fresh() -> Option<(String, PgStore)> {
    let url = postgres_server::database().await?;
    let store = PgStore::connect(&PgConfig::new(url.clone()))
        .await
        .expect("connect");
    Some((url, store))
}

/// A fresh store and its URL, or returns from the test (skipped).
macro_rules! fresh_or_skip {
    () => {
        match fresh().await {
            Some(fresh) => fresh,
            None => return,
        }
    };
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        /// Each behaviour of the conformance suite on a fresh database of its own.
        mod conformance_each {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((_url, store)) = super::fresh().await else { return };
                    store::conformance::$name(&store).await;
                }
            )*
        }
    };
}

store::conformance_behaviours!(conformance_tests);

#[tokio::test]
async fn conformance_run_all_on_one_store_as_dyn() {
    let (_url, store) = fresh_or_skip!();
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::run_all(store.as_ref()).await;
    // Twice: the suite does not depend on an empty store.
    conformance::run_all(store.as_ref()).await;
}

/// Runs `sql` on the store's database outside the store (to damage or inspect it).
async fn execute(store: &PgStore, sql: &'static str, guild: Option<u64>) {
    let query = sqlx::query(sql);
    let query = match guild {
        Some(guild) => query.bind(guild.cast_signed()),
        None => query,
    };
    query.execute(store.pool()).await.expect(sql);
}

/// Makes a gap in a guild's queue positions (0, 1, 2 becomes 0, 1, 7), as a damaged database would.
async fn gap_in_queue(store: &PgStore, guild: u64) {
    execute(
        store,
        "UPDATE queue_entries SET pos = 7 WHERE guild_id = $1 AND pos = 2",
        Some(guild),
    )
    .await;
}

#[tokio::test]
async fn damaged_guilds_set_apart() {
    let (_url, store) = fresh_or_skip!();
    conformance::damaged_guilds_set_apart(&store, async |guild| gap_in_queue(&store, guild).await)
        .await;
}

#[tokio::test]
async fn damaged_guilds_set_apart_on_a_busy_store() {
    let (_url, store) = fresh_or_skip!();
    conformance::run_all(&store).await;
    conformance::damaged_guilds_set_apart(&store, async |guild| gap_in_queue(&store, guild).await)
        .await;
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn a_damaged_row_is_an_error_naming_it_not_a_panic() {
    let (_url, store) = fresh_or_skip!();
    // What PostgreSQL's constraints keep out, a hand edit could still put in once they are gone.
    execute(
        &store,
        "ALTER TABLE guilds DROP CONSTRAINT guilds_volume_check, \
         DROP CONSTRAINT guilds_loop_mode_check, DROP CONSTRAINT guilds_panel_check",
        None,
    )
    .await;
    store.set_volume(4, 50).await.expect("another guild");
    let damages: [(&'static str, &str); 7] = [
        (
            "UPDATE guilds SET volume = 999 WHERE guild_id = $1",
            "volume 999",
        ),
        (
            "UPDATE guilds SET volume = -1 WHERE guild_id = $1",
            "volume -1",
        ),
        (
            "UPDATE guilds SET loop_mode = 'sideways' WHERE guild_id = $1",
            "loop",
        ),
        (
            "UPDATE guilds SET filters = '[1, 2]' WHERE guild_id = $1",
            "filters",
        ),
        (
            "UPDATE guilds SET panel_channel_id = 9 WHERE guild_id = $1",
            "panel_channel_id is set without",
        ),
        (
            "UPDATE guilds SET panel_message_id = 9 WHERE guild_id = $1",
            "panel_message_id is set without",
        ),
        (
            "UPDATE queue_entries SET pos = 5 WHERE guild_id = $1 AND pos = 1",
            "position 5",
        ),
    ];
    for (damage, named) in damages {
        store.forget_guild(3).await.expect("forget");
        store
            .enqueue(3, &entries(0..2), None)
            .await
            .expect("enqueue");
        execute(&store, damage, Some(3)).await;
        match store.load_guild(3).await {
            Err(
                error @ Error::Corrupt {
                    guild_id: Some(3), ..
                },
            ) => {
                assert!(error.to_string().contains(named), "{error} names {named}");
            }
            other => panic!("{damage}: expected a corrupt-data error, got {other:?}"),
        }
        let loaded = store.load_all_guilds().await.expect("load_all");
        assert!(loaded.guilds.iter().all(|g| g.guild_id != 3), "{damage}");
        assert_eq!(loaded.damaged.len(), 1, "{damage}: {:?}", loaded.damaged);
        assert_eq!(loaded.damaged[0].guild_id, 3);
        assert!(
            loaded.damaged[0].problem.contains(named),
            "{} names {named}",
            loaded.damaged[0].problem
        );
    }
    store.forget_guild(3).await.expect("forget");
    let loaded = store.load_all_guilds().await.expect("load_all");
    assert!(loaded.damaged.is_empty());
    assert_eq!(loaded.guilds.len(), 1);
}

#[tokio::test]
async fn a_damaged_deploy_row_is_an_error_naming_it() {
    let (_url, store) = fresh_or_skip!();
    let id = store
        .begin_deploy(&new_deploy(1, None, Colour::Blue, "1"))
        .await
        .expect("begin");
    execute(
        &store,
        "ALTER TABLE deploys DROP CONSTRAINT deploys_to_colour_check",
        None,
    )
    .await;
    execute(&store, "UPDATE deploys SET to_colour = 'purple'", None).await;
    for result in [
        store.deploys(5).await.map(drop),
        store.deploy(id).await.map(drop),
    ] {
        match result {
            Err(
                error @ Error::Corrupt {
                    table: "deploys", ..
                },
            ) => assert!(error.to_string().contains("purple"), "{error}"),
            other => panic!("expected a corrupt-data error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_quarantine_guard_keeps_damaged_rows_untouched() {
    let (_url, pg) = fresh_or_skip!();
    let guard = store::QuarantineGuard::new(Arc::new(pg.clone()));
    conformance::run_all(&guard).await;
    guard
        .enqueue(21, &entries(0..3), None)
        .await
        .expect("enqueue");
    guard
        .enqueue(22, &entries(0..3), None)
        .await
        .expect("enqueue");
    gap_in_queue(&pg, 21).await;
    let rows = |guild: u64| {
        let pool = pg.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT pos, track FROM queue_entries WHERE guild_id = $1 ORDER BY pos",
            )
            .bind(guild.cast_signed())
            .fetch_all(&pool)
            .await
            .expect("rows")
        }
    };
    let damaged_rows = rows(21).await;
    let loaded = guard.load_all_guilds().await.expect("load_all");
    assert_eq!(loaded.damaged.len(), 1);
    assert_eq!(guard.quarantined(), 1);
    for refused in [
        guard.enqueue(21, &entries(5..6), None).await.map(drop),
        guard.remove(21, 0).await.map(drop),
        guard.clear_queue(21).await.map(drop),
        guard.advance(21, Finished::Drop, 9).await.map(drop),
        guard.set_volume(21, 10).await,
        guard
            .set_panel(
                21,
                Some(store::PanelMessage {
                    channel_id: 1,
                    message_id: 2,
                }),
            )
            .await,
        guard.forget_guild(21).await.map(drop),
    ] {
        assert!(
            matches!(refused, Err(Error::Quarantined { guild_id: 21 })),
            "{refused:?}"
        );
    }
    assert_eq!(
        guard
            .save_positions(&[
                PositionWrite::new(21, PositionSnapshot::new(1, 99), false),
                PositionWrite::new(22, PositionSnapshot::new(1, 99), false),
            ])
            .await
            .expect("tick"),
        1,
        "the tick leaves the quarantined guild out"
    );
    assert_eq!(
        rows(21).await,
        damaged_rows,
        "the damaged rows are untouched"
    );
    // Its settings are rows of their own, which the damage does not touch: they pass.
    let settings = store::GuildSettings {
        vote_skip_percent: 60,
        ..store::GuildSettings::default()
    };
    guard
        .set_guild_settings(21, &settings)
        .await
        .expect("settings of a quarantined guild");
    assert_eq!(
        guard.guild_settings(21).await.expect("guild_settings"),
        settings
    );
    guard.remove(22, 0).await.expect("other guilds are served");
    execute(
        &pg,
        "UPDATE queue_entries SET pos = 2 WHERE guild_id = $1 AND pos = 7",
        Some(21),
    )
    .await;
    let loaded = guard.load_all_guilds().await.expect("load_all");
    assert!(loaded.damaged.is_empty());
    guard.set_volume(21, 10).await.expect("served again");
}

/// Writes one of everything, for the tests that check it comes back.
async fn write_everything(store: &dyn Store, guild: u64) {
    store
        .set_panel(guild, Some(PANEL))
        .await
        .expect("set_panel");
    store
        .set_guild_settings(guild, &some_settings())
        .await
        .expect("set_guild_settings");
    store
        .enqueue(guild, &entries(0..5), None)
        .await
        .expect("enqueue");
    store
        .advance(guild, Finished::Drop, 1_000)
        .await
        .expect("advance");
    store
        .save_position(
            guild,
            PositionSnapshot::new(12_345, 1_700_000_000_000),
            true,
        )
        .await
        .expect("save_position");
    store.set_volume(guild, 150).await.expect("set_volume");
    let filters: Filters =
        serde_json::from_str(r#"{"karaoke":{"level":1.0},"rotation":{"rotationHz":0.2}}"#)
            .expect("filters");
    store
        .set_filters(guild, &filters)
        .await
        .expect("set_filters");
    store
        .set_loop(guild, LoopMode::Queue)
        .await
        .expect("set_loop");
    store
        .set_channels(guild, Some(u64::MAX - 1), Some(42))
        .await
        .expect("set_channels");
    store
        .add_waiting(guild, "never gonna", 7, 8)
        .await
        .expect("add_waiting");
    store
        .save_gateway_session(&GatewaySession {
            shard_id: 1,
            shard_total: 2,
            session_id: "abc".into(),
            sequence: 99,
            resume_url: "wss://resume.invalid".into(),
            saved_at_unix_ms: 5,
        })
        .await
        .expect("save_gateway_session");
    store
        .save_lavalink_session(
            HandoverScope::whole(1),
            &LavalinkSession {
                node: "main".into(),
                session_id: "xyz".into(),
                saved_at_unix_ms: 6,
            },
        )
        .await
        .expect("save_lavalink_session");
}

fn new_deploy(
    started_at_ms: u64,
    from_colour: Option<Colour>,
    to_colour: Colour,
    version: &str,
) -> NewDeploy {
    NewDeploy {
        started_at_ms,
        from_colour,
        to_colour,
        version: version.to_owned(),
        commit: format!("{version}-commit"),
    }
}

fn build(colour: Colour, version: &str) -> store::ColourBuild {
    store::ColourBuild {
        colour,
        version: version.to_owned(),
        commit: format!("{version}-commit"),
        binary: format!("/opt/dimby/{version}/dimby"),
        config: format!("/etc/dimby/{colour}.toml"),
        admin_url: format!("http://127.0.0.1:9{}/", version.len()),
        recorded_at_ms: 7,
    }
}

fn step(n: u64, name: &str) -> DeployStep {
    DeployStep {
        at_ms: n,
        step: name.to_owned(),
        outcome: StepOutcome::Info,
        detail: format!("detail {n}"),
    }
}

fn numbers(queue: &[store::QueueEntry]) -> Vec<u64> {
    queue.iter().map(|e| e.requester_id - 100_000).collect()
}

#[tokio::test]
async fn reconnecting_restores_everything_and_the_ledger() {
    let (url, store) = fresh_or_skip!();
    write_everything(&store, 77).await;
    write_everything(&store, u64::MAX).await;
    store
        .set_active_colour(&build(Colour::Blue, "1.0.0"))
        .await
        .expect("blue");
    let first = store
        .begin_deploy(&new_deploy(10, Some(Colour::Blue), Colour::Green, "1.1.0"))
        .await
        .expect("begin");
    store
        .record_deploy_step(first, &step(11, "start green"))
        .await
        .expect("step");
    store
        .finish_deploy(first, DeployState::Promoted, Some("healthy"), 12)
        .await
        .expect("finish");
    store
        .set_active_colour(&build(Colour::Green, "1.1.0"))
        .await
        .expect("green");
    // The second is left running when the process goes away.
    let second = store
        .begin_deploy(&new_deploy(20, Some(Colour::Green), Colour::Blue, "1.2.0"))
        .await
        .expect("begin");
    store
        .set_deploy_state(second, DeployState::Watching, 21)
        .await
        .expect("state");
    let guilds = store.load_all_guilds().await.expect("load_all").guilds;
    assert_eq!(guilds.len(), 2);
    assert_eq!(numbers(&guilds[0].queue), [1, 2, 3, 4]);
    assert_eq!(guilds[0].current, Some(entry(0)));
    assert_eq!(guilds[0].waiting.len(), 1);
    let history = store.deploys(10).await.expect("deploys");
    let details = (
        store.deploy(first).await.expect("deploy"),
        store.deploy(second).await.expect("deploy"),
    );
    store.close().await;
    drop(store);

    let store = PgStore::connect(&PgConfig::new(url))
        .await
        .expect("connect again");
    assert_eq!(
        store.load_all_guilds().await.expect("load_all").guilds,
        guilds
    );
    let settings = store.guild_settings(u64::MAX).await.expect("settings");
    assert_eq!((guilds[0].panel, settings), (Some(PANEL), some_settings()));
    let gateway = store
        .take_gateway_sessions(HandoverScope::whole(1))
        .await
        .expect("take");
    assert_eq!(
        (
            gateway.len(),
            gateway[0].session_id.as_str(),
            gateway[0].sequence
        ),
        (1, "abc", 99)
    );
    assert_eq!(
        store
            .take_lavalink_sessions(HandoverScope::whole(1))
            .await
            .expect("take")[0]
            .session_id,
        "xyz"
    );
    assert_eq!(store.deploys(10).await.expect("deploys"), history);
    assert_eq!(
        (
            store.deploy(first).await.expect("deploy"),
            store.deploy(second).await.expect("deploy")
        ),
        details
    );
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Green, "1.1.0"))
    );
    assert_eq!(
        store.colour_build(Colour::Blue).await.expect("blue"),
        Some(build(Colour::Blue, "1.0.0"))
    );
    match store
        .begin_deploy(&new_deploy(30, Some(Colour::Green), Colour::Blue, "1.3.0"))
        .await
    {
        Err(Error::DeployRunning { running, state }) => {
            assert_eq!((running, state), (second, DeployState::Watching));
        }
        other => panic!("expected the running deploy to block: {other:?}"),
    }
}

#[tokio::test]
async fn two_stores_on_one_database_see_each_other() {
    let (url, a) = fresh_or_skip!();
    let b = PgStore::connect(&PgConfig::new(url))
        .await
        .expect("connect");
    write_everything(&a, 5).await;
    assert_eq!(
        b.load_guild(5).await.expect("load"),
        a.load_guild(5).await.expect("load")
    );
    // The successor takes what the predecessor left; the predecessor then finds nothing.
    assert_eq!(
        b.take_gateway_sessions(HandoverScope::whole(1))
            .await
            .expect("take")
            .len(),
        1
    );
    assert!(
        a.take_gateway_sessions(HandoverScope::whole(1))
            .await
            .expect("take")
            .is_empty()
    );
    assert_eq!(
        b.take_lavalink_sessions(HandoverScope::whole(1))
            .await
            .expect("take")
            .len(),
        1
    );
    assert!(
        a.take_lavalink_sessions(HandoverScope::whole(1))
            .await
            .expect("take")
            .is_empty()
    );
    b.forget_guild(5).await.expect("forget");
    assert_eq!(a.load_guild(5).await.expect("load"), None);
}

/// Runs `work(store, n)` for both stores at once on the runtime's threads and returns both
/// results (store `a` with `n = 0`, store `b` with `n = 1`).
async fn both<T, F>(a: &PgStore, b: &PgStore, work: impl Fn(PgStore, u64) -> F) -> (T, T)
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (x, y) = (
        tokio::spawn(work(a.clone(), 0)),
        tokio::spawn(work(b.clone(), 1)),
    );
    (x.await.expect("task a"), y.await.expect("task b"))
}

/// Two stores on one new database (two pools, as two processes have), or returns (skipped).
macro_rules! two_stores_or_skip {
    () => {{
        let (url, a) = fresh_or_skip!();
        let b = PgStore::connect(&PgConfig::new(url))
            .await
            .expect("connect");
        (a, b)
    }};
}

/// Both stores (two processes), each in its own task, save a new playlist for a user who has 24,
/// round after round: one gets the 25th place, the other is refused, never a 26th. And both add
/// to one guild's full history at once: it stays at 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_saving_a_users_last_playlist_at_once_never_make_26() {
    let (a, b) = two_stores_or_skip!();
    let user = 42;
    for n in 0..store::MAX_PLAYLISTS_PER_USER - 1 {
        a.save_playlist(user, &format!("p{n}"), &entries(0..2), 1)
            .await
            .expect("save");
    }
    for round in 0..10u64 {
        let (x, y) = both(&a, &b, |store, n| async move {
            store
                .save_playlist(user, &format!("r{round}-{n}"), &entries(0..50), 2)
                .await
        })
        .await;
        let lists = a.playlists(user).await.expect("playlists");
        assert_eq!(lists.len(), store::MAX_PLAYLISTS_PER_USER, "round {round}");
        let winner = match (x, y) {
            (Ok(_), Err(Error::TooManyPlaylists { max: 25 })) => format!("r{round}-0"),
            (Err(Error::TooManyPlaylists { max: 25 }), Ok(_)) => format!("r{round}-1"),
            other => panic!("round {round}: one save and one refusal, got {other:?}"),
        };
        assert!(b.delete_playlist(user, &winner).await.expect("delete"));
    }
    let guild = 7;
    let (x, y) = both(&a, &b, |store, n| async move {
        for k in 0..40 {
            store
                .add_history(guild, &entry(n * 100 + k), k)
                .await
                .expect("add_history");
        }
    })
    .await;
    let ((), ()) = (x, y);
    let kept = a.history(guild, 100).await.expect("history");
    assert_eq!(kept.len(), store::HISTORY_LEN);
    assert!(kept.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}

/// Both stores enqueue into one queue at once, alternating its ends, with position ticks and
/// waiting requests in between: every entry and request is kept, the positions without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_enqueueing_into_one_queue_at_once_lose_nothing() {
    let (a, b) = two_stores_or_skip!();
    let guild = 9;
    both(&a, &b, |store, n| async move {
        for i in 0..40 {
            let at = (i % 2 == 0).then_some(0);
            store
                .enqueue(guild, &[entry(n * 1_000 + i)], at)
                .await
                .expect("enqueue");
            store
                .save_position(guild, PositionSnapshot::new(i, i), false)
                .await
                .expect("tick");
            store
                .add_waiting(guild, &format!("query {n} {i}"), n, i)
                .await
                .expect("add_waiting");
        }
    })
    .await;
    let state = a.load_guild(guild).await.expect("load").expect("guild");
    let mut queue = numbers(&state.queue);
    assert_eq!(queue.len(), 80, "no entry lost, no gap");
    queue.sort_unstable();
    let expected: Vec<u64> = (0..40).chain(1_000..1_040).collect();
    assert_eq!(queue, expected);
    assert_eq!(state.waiting.len(), 80, "no waiting request lost");
    assert!(
        state.waiting.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase"
    );
}

/// Both stores advance through one queue at once (and move entries in it): each entry
/// becomes current exactly once, and the queue ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_advancing_one_queue_at_once_play_each_entry_once() {
    let (a, b) = two_stores_or_skip!();
    let guild = 10;
    a.enqueue(guild, &entries(0..80), None)
        .await
        .expect("enqueue");
    let (played_a, played_b) = both(&a, &b, |store, n| async move {
        let mut played = Vec::new();
        for i in 0..40 {
            // A move in between, which renumbers the same rows (out of range near the end).
            let _ = store.move_entry(guild, 0, 1).await;
            let current = store
                .advance(guild, Finished::Drop, 10_000 + 100 * n + i)
                .await
                .expect("advance");
            played.push(current.expect("80 entries for 80 advances").requester_id - 100_000);
        }
        played
    })
    .await;
    let mut played: Vec<u64> = played_a.into_iter().chain(played_b).collect();
    played.sort_unstable();
    assert_eq!(
        played,
        (0..80).collect::<Vec<_>>(),
        "every entry played once"
    );
    let state = a.load_guild(guild).await.expect("load").expect("guild");
    assert!(state.queue.is_empty());
}

/// Both stores record steps of one deploy, finish it and begin the next at once: every step is
/// kept in order, a deploy finishes once and only one of two begins succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_the_deploy_ledger_at_once_lose_nothing() {
    let (a, b) = two_stores_or_skip!();
    let id = a
        .begin_deploy(&new_deploy(1, None, Colour::Green, "2.0.0"))
        .await
        .expect("begin");
    both(&a, &b, |store, n| async move {
        for i in 0..50 {
            store
                .record_deploy_step(id, &step(i, &format!("store {n}")))
                .await
                .expect("step");
        }
    })
    .await;
    let (_, steps) = a.deploy(id).await.expect("deploy").expect("known");
    assert_eq!(steps.len(), 100, "no step lost");
    for n in 0..2 {
        let mine: Vec<u64> = steps
            .iter()
            .filter(|s| s.step == format!("store {n}"))
            .map(|s| s.at_ms)
            .collect();
        assert_eq!(
            mine,
            (0..50).collect::<Vec<_>>(),
            "store {n}'s steps in order"
        );
    }
    let (x, y) = both(&a, &b, |store, n| async move {
        store
            .finish_deploy(id, DeployState::Promoted, Some(&format!("by {n}")), 99)
            .await
    })
    .await;
    assert!(
        matches!(
            (&x, &y),
            (Ok(()), Err(Error::DeployFinished { .. }))
                | (Err(Error::DeployFinished { .. }), Ok(()))
        ),
        "finished once: {x:?} {y:?}"
    );
    for round in 0..5 {
        let (x, y) = both(&a, &b, move |store, n| async move {
            store
                .begin_deploy(&new_deploy(
                    100 + round,
                    None,
                    Colour::Blue,
                    &format!("3.{round}.{n}"),
                ))
                .await
        })
        .await;
        let begun = match (&x, &y) {
            (Ok(id), Err(Error::DeployRunning { running, .. }))
            | (Err(Error::DeployRunning { running, .. }), Ok(id)) => {
                assert_eq!(running, id);
                *id
            }
            other => panic!("round {round}: one begins, the other is told: {other:?}"),
        };
        a.finish_deploy(begun, DeployState::Failed, None, 200)
            .await
            .expect("finish");
    }
    assert_eq!(a.deploys(100).await.expect("deploys").len(), 6);
}

/// Both stores tick the positions of the same 1,200 guilds at once, listed in opposite orders: no
/// deadlock, and the newer snapshot wins everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_ticking_the_same_guilds_at_once_do_not_deadlock() {
    let (a, b) = two_stores_or_skip!();
    let guilds: Vec<u64> = (20_000..21_200).collect();
    for g in &guilds {
        a.set_volume(*g, 1).await.expect("create");
    }
    // Many other guilds, so that the planner looks the ticked ones up by key, in the order of the
    // batch, rather than scanning the table in its own order.
    execute(
        &a,
        "INSERT INTO guilds (guild_id) SELECT generate_series(100000, 199999)",
        None,
    )
    .await;
    execute(&a, "ANALYZE guilds", None).await;
    let guilds = Arc::new(guilds);
    for round in 0..3 {
        let (x, y) = both(&a, &b, |store, n| {
            let guilds = Arc::clone(&guilds);
            async move {
                let at = 1_000 * round + 500 + n;
                let mut writes: Vec<PositionWrite> = guilds
                    .iter()
                    .map(|g| PositionWrite::new(*g, PositionSnapshot::new(n, at), false))
                    .collect();
                if n == 1 {
                    writes.reverse();
                }
                store.save_positions(&writes).await
            }
        })
        .await;
        let written = x.expect("tick a") + y.expect("tick b");
        assert!((1_200..=2_400).contains(&written), "{written}");
        let newest: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM guilds WHERE guild_id BETWEEN 20000 AND 21199 \
             AND position_ms = 1 AND position_at_unix_ms = $1",
        )
        .bind(i64::try_from(1_000 * round + 501).expect("small"))
        .fetch_one(a.pool())
        .await
        .expect("count");
        assert_eq!(
            newest, 1_200,
            "round {round}: the newer snapshot wins everywhere"
        );
    }
}

#[tokio::test]
async fn two_stores_connecting_to_a_new_database_at_once_both_succeed() {
    for _ in 0..3 {
        let Some(url) = postgres_server::database().await else {
            return;
        };
        let config = PgConfig::new(url);
        let (a, b) = tokio::join!(PgStore::connect(&config), PgStore::connect(&config));
        let (a, b) = (a.expect("connect a"), b.expect("connect b"));
        a.set_volume(1, 1).await.expect("write a");
        assert_eq!(
            b.load_guild(1)
                .await
                .expect("read b")
                .expect("guild")
                .volume,
            1
        );
    }
}

#[tokio::test]
async fn migrations_run_idempotently() {
    let (url, store) = fresh_or_skip!();
    store.close().await;
    let migrator = sqlx::migrate!("./migrations/postgres");
    for _ in 0..3 {
        let store = PgStore::connect(&PgConfig::new(url.clone()))
            .await
            .expect("connect");
        migrator.run(store.pool()).await.expect("migrate again");
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(store.pool())
                .await
                .expect("migrations table");
        let expected: Vec<(i64, bool)> = migrator.iter().map(|m| (m.version, true)).collect();
        assert_eq!(applied, expected);
        store.close().await;
    }
    // The PostgreSQL schema has the SQLite schema's versions, one for one.
    let sqlite: Vec<i64> = sqlx::migrate!("./migrations")
        .iter()
        .map(|m| m.version)
        .collect();
    let postgres: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    assert_eq!(postgres, sqlite);
}

/// The migrations of schema version `last` and before: what a binary of that version embeds.
fn migrations_up_to(last: i64) -> sqlx::migrate::Migrator {
    let all = sqlx::migrate!("./migrations/postgres");
    let mut migrator = sqlx::migrate::Migrator::with_migrations(
        all.iter().filter(|m| m.version <= last).cloned().collect(),
    );
    migrator.set_ignore_missing(true);
    migrator
}

/// The schema versions this binary embeds, oldest first.
fn all_versions() -> Vec<i64> {
    migrations_up_to(i64::MAX)
        .iter()
        .map(|m| m.version)
        .collect()
}

/// A guild as a binary of schema version 6 stored it (as in `tests/sqlite.rs`).
const GUILD_OF_VERSION_6: [&str; 4] = [
    "INSERT INTO guilds (guild_id, volume, loop_mode, voice_channel_id) \
     VALUES (5, 150, 'queue', 77)",
    "INSERT INTO queue_entries (guild_id, pos, track, requester_id, title, author, length_ms, \
     uri, added_at_unix_ms) VALUES (5, 0, 'QAAA0', 1, 'Zero', 'A', 1000, NULL, 10), \
     (5, 1, 'QAAA1', 2, 'One', 'B', 2000, 'https://example.invalid/1', 11)",
    "INSERT INTO current_entries (guild_id, track, requester_id, title, author, length_ms, uri, \
     added_at_unix_ms) VALUES (5, 'QAAAc', 3, 'Now', 'C', 3000, NULL, 12)",
    "INSERT INTO waiting_requests (guild_id, query, requester_id, requested_at_unix_ms) \
     VALUES (5, 'later', 4, 13)",
];

#[tokio::test]
async fn a_database_of_version_6_migrates_to_7_keeping_its_guilds() {
    let Some(url) = postgres_server::database().await else {
        return;
    };
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    migrations_up_to(6).run(&mut conn).await.expect("version 6");
    for sql in GUILD_OF_VERSION_6 {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    conn.close().await.expect("close");
    let store = PgStore::connect(&PgConfig::new(url))
        .await
        .expect("connect");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY 1")
        .fetch_all(store.pool())
        .await
        .expect("migrations table");
    assert_eq!(versions, all_versions(), "through 7 to the newest");
    let guild = store.load_guild(5).await.expect("load").expect("kept");
    assert_eq!(
        guild
            .queue
            .iter()
            .map(|e| e.title.as_str())
            .collect::<Vec<_>>(),
        ["Zero", "One"]
    );
    assert_eq!(guild.current.map(|e| e.track), Some("QAAAc".to_owned()));
    assert_eq!((guild.volume, guild.loop_mode), (150, LoopMode::Queue));
    assert_eq!((guild.voice_channel_id, guild.waiting.len()), (Some(77), 1));
    assert_eq!(
        (guild.stay, guild.autoplay),
        (false, false),
        "the new settings are off"
    );
    assert!(store.history(5, 10).await.expect("history").is_empty());
    store
        .add_history(5, &entry(1), 1)
        .await
        .expect("add_history");
    store
        .save_playlist(8, "Mine", &entries(0..2), 1)
        .await
        .expect("save_playlist");
}

#[tokio::test]
async fn a_binary_of_version_6_keeps_working_on_version_7() {
    let (_url, store) = fresh_or_skip!();
    store.set_stay(5, true).await.expect("set_stay");
    store
        .add_history(5, &entry(1), 1)
        .await
        .expect("add_history");
    migrations_up_to(6)
        .run(store.pool())
        .await
        .expect("an older binary's migrations");
    for sql in [
        "INSERT INTO guilds (guild_id, volume) VALUES (6, 20) \
         ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
        "INSERT INTO guilds (guild_id, volume) VALUES (5, 30) \
         ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
    ] {
        sqlx::query(sql).execute(store.pool()).await.expect(sql);
    }
    let new = store.load_guild(6).await.expect("load").expect("written");
    assert_eq!((new.volume, new.stay, new.autoplay), (20, false, false));
    let kept = store.load_guild(5).await.expect("load").expect("written");
    assert_eq!(
        (kept.volume, kept.stay),
        (30, true),
        "its writes keep the new settings"
    );
    sqlx::query("DELETE FROM guilds WHERE guild_id = 5")
        .execute(store.pool())
        .await
        .expect("forget_guild of version 6");
    assert!(store.history(5, 10).await.expect("history").is_empty());
}

/// What a binary of schema version 7 stored besides [`GUILD_OF_VERSION_6`] (as in
/// `tests/sqlite.rs`).
const GUILD_OF_VERSION_7: [&str; 2] = [
    "UPDATE guilds SET stay = TRUE WHERE guild_id = 5",
    "INSERT INTO play_history (guild_id, track, requester_id, title, author, length_ms, uri, \
     added_at_unix_ms, played_at_unix_ms) VALUES (5, 'QAAAh', 6, 'Then', 'D', 4000, NULL, 14, 15)",
];

/// Settings with every field set, for the migration tests.
fn some_settings() -> store::GuildSettings {
    store::GuildSettings {
        dj_role_id: Some(u64::MAX),
        vote_skip_percent: 75,
        default_volume: 80,
        announce_channel_id: Some(33),
        stay_by_default: true,
        autoplay_by_default: false,
        locale: Some("de".to_owned()),
    }
}

const PANEL: store::PanelMessage = store::PanelMessage {
    channel_id: 44,
    message_id: u64::MAX - 1,
};

#[tokio::test]
async fn a_database_of_version_7_migrates_to_8_keeping_its_guilds() {
    let Some(url) = postgres_server::database().await else {
        return;
    };
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    migrations_up_to(7).run(&mut conn).await.expect("version 7");
    for sql in GUILD_OF_VERSION_6.into_iter().chain(GUILD_OF_VERSION_7) {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    conn.close().await.expect("close");
    let store = PgStore::connect(&PgConfig::new(url))
        .await
        .expect("connect");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY 1")
        .fetch_all(store.pool())
        .await
        .expect("migrations table");
    assert_eq!(versions, all_versions());
    assert_eq!(versions.last(), Some(&8));
    let guild = store.load_guild(5).await.expect("load").expect("kept");
    assert_eq!(
        guild
            .queue
            .iter()
            .map(|e| e.title.as_str())
            .collect::<Vec<_>>(),
        ["Zero", "One"]
    );
    assert_eq!(guild.current.map(|e| e.track), Some("QAAAc".to_owned()));
    assert_eq!((guild.volume, guild.loop_mode), (150, LoopMode::Queue));
    assert_eq!((guild.voice_channel_id, guild.waiting.len()), (Some(77), 1));
    assert_eq!((guild.stay, guild.autoplay), (true, false));
    assert_eq!(guild.panel, None, "no panel yet");
    let history = store.history(5, 10).await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| h.entry.title.as_str())
            .collect::<Vec<_>>(),
        ["Then"]
    );
    assert_eq!(
        store.guild_settings(5).await.expect("guild_settings"),
        store::GuildSettings::default()
    );
    store.set_panel(5, Some(PANEL)).await.expect("set_panel");
    store
        .set_guild_settings(5, &some_settings())
        .await
        .expect("set_guild_settings");
    assert_eq!(
        store
            .load_guild(5)
            .await
            .expect("load")
            .expect("kept")
            .panel,
        Some(PANEL)
    );
    let stamped: i64 =
        sqlx::query_scalar("SELECT updated_at_unix_ms FROM guild_settings WHERE guild_id = 5")
            .fetch_one(store.pool())
            .await
            .expect("updated_at_unix_ms");
    assert!(
        stamped > 1_700_000_000_000,
        "stamped by the clock: {stamped}"
    );
    assert!(store.forget_guild(5).await.expect("forget"));
    assert_eq!(
        store.guild_settings(5).await.expect("guild_settings"),
        some_settings()
    );
}

#[tokio::test]
async fn a_binary_of_version_7_keeps_working_on_version_8() {
    let (_url, store) = fresh_or_skip!();
    store.set_panel(5, Some(PANEL)).await.expect("set_panel");
    store
        .set_guild_settings(5, &some_settings())
        .await
        .expect("set_guild_settings");
    migrations_up_to(7)
        .run(store.pool())
        .await
        .expect("an older binary's migrations");
    for sql in [
        "INSERT INTO guilds (guild_id, volume) VALUES (6, 20) \
         ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
        "INSERT INTO guilds (guild_id, volume) VALUES (5, 30) \
         ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
        "INSERT INTO guilds (guild_id, stay) VALUES (5, TRUE) \
         ON CONFLICT (guild_id) DO UPDATE SET stay = excluded.stay",
    ] {
        sqlx::query(sql).execute(store.pool()).await.expect(sql);
    }
    let new = store.load_guild(6).await.expect("load").expect("written");
    assert_eq!((new.volume, new.panel), (20, None));
    let kept = store.load_guild(5).await.expect("load").expect("written");
    assert_eq!(
        (kept.volume, kept.stay, kept.panel),
        (30, true, Some(PANEL)),
        "its writes keep the panel"
    );
    // Its forget_guild (one DELETE of the guild, under the guild's lock) takes the panel along
    // and keeps the settings.
    sqlx::query("DELETE FROM guilds WHERE guild_id = 5")
        .execute(store.pool())
        .await
        .expect("forget_guild of version 7");
    assert_eq!(store.load_guild(5).await.expect("load"), None);
    assert_eq!(
        store.guild_settings(5).await.expect("guild_settings"),
        some_settings()
    );
    store.set_volume(5, 10).await.expect("set_volume");
    assert_eq!(
        store
            .load_guild(5)
            .await
            .expect("load")
            .expect("written")
            .panel,
        None
    );
}

#[tokio::test]
async fn a_damaged_settings_row_is_an_error_naming_it() {
    let (_url, store) = fresh_or_skip!();
    // What the constraints keep out, a hand edit could still put in once they are gone.
    execute(
        &store,
        "ALTER TABLE guild_settings DROP CONSTRAINT guild_settings_vote_skip_percent_check, \
         DROP CONSTRAINT guild_settings_default_volume_check, \
         DROP CONSTRAINT guild_settings_locale_check",
        None,
    )
    .await;
    let damages: [(&'static str, &str); 6] = [
        (
            "UPDATE guild_settings SET vote_skip_percent = 0 WHERE guild_id = $1",
            "vote_skip_percent is 0",
        ),
        (
            "UPDATE guild_settings SET vote_skip_percent = 300 WHERE guild_id = $1",
            "vote_skip_percent is 300",
        ),
        (
            "UPDATE guild_settings SET default_volume = 999 WHERE guild_id = $1",
            "default_volume is 999",
        ),
        (
            "UPDATE guild_settings SET default_volume = -1 WHERE guild_id = $1",
            "default_volume is -1",
        ),
        (
            "UPDATE guild_settings SET locale = '' WHERE guild_id = $1",
            "locale is empty",
        ),
        (
            "UPDATE guild_settings SET locale = 'en US' WHERE guild_id = $1",
            "locale holds a character",
        ),
    ];
    for (damage, named) in damages {
        for guild in [3, 4] {
            store
                .set_guild_settings(guild, &some_settings())
                .await
                .expect("set_guild_settings");
        }
        execute(&store, damage, Some(3)).await;
        match store.guild_settings(3).await {
            Err(
                error @ Error::Corrupt {
                    table: "guild_settings",
                    guild_id: Some(3),
                    ..
                },
            ) => {
                assert!(error.to_string().contains(named), "{error} names {named}");
            }
            other => panic!("{damage}: expected a corrupt-data error, got {other:?}"),
        }
        assert_eq!(
            store.guild_settings(4).await.expect("the other guild"),
            some_settings()
        );
    }
    store
        .set_guild_settings(3, &some_settings())
        .await
        .expect("set_guild_settings");
    assert_eq!(
        store.guild_settings(3).await.expect("repaired"),
        some_settings()
    );
}

#[tokio::test]
async fn a_write_waits_for_the_guilds_lock_and_gives_up_after_the_lock_timeout() {
    let (url, store) = fresh_or_skip!();
    let impatient = PgStore::connect(&PgConfig {
        lock_timeout: Duration::from_millis(300),
        ..PgConfig::new(url.clone())
    })
    .await
    .expect("connect");
    // Another process holds guild 77's lock (class 0x44420001, the guild id folded to 32 bits:
    // docs/store.md), as an enqueue in flight would.
    let mut other = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1, 77)")
        .bind(0x4442_0001_i32)
        .execute(&mut other)
        .await
        .expect("lock");
    let started = Instant::now();
    match impatient.enqueue(77, &entries(0..1), None).await {
        Err(error @ Error::Database { .. }) => {
            assert!(error.to_string().contains("lock timeout"), "{error}");
        }
        other => panic!("expected the lock timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A single-statement write takes no guild lock.
    impatient.set_volume(77, 9).await.expect("set_volume");
    // The default store waits instead, and goes on once the lock is let go.
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.enqueue(77, &entries(0..1), None).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the enqueue waits for the lock");
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("commit");
    assert_eq!(waiting.await.expect("task").expect("enqueue"), 0);
}

#[tokio::test]
async fn check_fails_once_the_server_turns_read_only() {
    let Some(url) = postgres_server::database().await else {
        return;
    };
    let store = PgStore::connect(&PgConfig {
        max_connections: 1,
        ..PgConfig::new(url.clone())
    })
    .await
    .expect("connect");
    write_everything(&store, 5).await;
    store.check().await.expect("a writable database passes");
    // As after a failover onto a standby: the sessions drop, and new ones are read-only.
    let database = url.rsplit('/').next().expect("database name").to_owned();
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} SET default_transaction_read_only = on"
    )))
    .execute(&mut admin)
    .await
    .expect("make it read-only");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await
    .expect("drop the store's session");
    // The pool finds its connection dead and opens another: reads work, the check does not.
    store.ping().await.expect("reads work");
    assert_eq!(store.load_all_guilds().await.expect("load").guilds.len(), 1);
    match store.check().await {
        Err(error @ Error::Database { .. }) => {
            assert!(error.to_string().contains("read-only"), "{error}");
        }
        other => panic!("expected a failed write, got {other:?}"),
    }
    // A store that connects to it now does not start: the migrations cannot even check their
    // table (CREATE TABLE IF NOT EXISTS is refused in a read-only transaction).
    match PgStore::connect(&PgConfig::new(url)).await {
        Err(error @ Error::Migrate { .. }) => {
            assert!(error.to_string().contains("read-only"), "{error}");
        }
        other => panic!("expected a failed migration, got {other:?}"),
    }
}

/// TLS, against a server that takes TLS connections only: `sslmode=require` encrypts,
/// `verify-full` checks the server's certificate against `sslrootcert` (and refuses one it cannot
/// verify), and a plain connection is refused; no error shows the password.
#[tokio::test]
async fn tls_connections_are_encrypted_and_verified() {
    let Some(server) = postgres_server::tls_server() else {
        return;
    };
    let url = server
        .create_database(&format!("tls_{}", std::process::id()))
        .await
        .expect("a database over TLS");
    let root = server.tls_root().expect("the server's CA").display();
    let connect = |parameters: String| {
        let url = format!("{url}?{parameters}");
        async move { PgStore::connect(&PgConfig::new(url)).await }
    };
    let required = connect("sslmode=require".to_owned())
        .await
        .expect("sslmode=require connects");
    required.ping().await.expect("and answers");
    let verified = connect(format!("sslmode=verify-full&sslrootcert={root}"))
        .await
        .expect("verify-full with the server's CA connects");
    verified.check().await.expect("and takes a write");
    for (parameters, why) in [
        ("sslmode=disable".to_owned(), "a plain connection"),
        (
            "sslmode=verify-full".to_owned(),
            "a certificate no known CA signed",
        ),
    ] {
        let error = connect(parameters)
            .await
            .expect_err(&format!("{why} is refused"));
        assert!(matches!(error, Error::Open { .. }), "{why}: {error:?}");
        assert!(
            !format!("{error} {error:?}").contains(server.password()),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn connection_errors_and_debug_output_never_show_the_password() {
    let Some(server) = postgres_server::server() else {
        return;
    };
    let (url, store) = fresh_or_skip!();
    let password = server.password();
    assert!(url.contains(password));
    let config = PgConfig::new(url.clone());
    for shown in [
        format!("{config:?}"),
        format!("{store:?}"),
        store.location().to_owned(),
    ] {
        assert!(!shown.contains(password), "{shown}");
        assert!(shown.contains(&server.port().to_string()), "{shown}");
    }
    // A wrong password: refused by the server, and neither password shows.
    let wrong = "wr0ng-Passw0rd";
    let error = PgStore::connect(&PgConfig::new(url.replace(password, wrong)))
        .await
        .expect_err("a wrong password");
    assert!(matches!(error, Error::Open { .. }), "{error:?}");
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(shown.contains("password authentication failed"), "{shown}");
        assert!(
            !shown.contains(wrong) && !shown.contains(password),
            "{shown}"
        );
    }
    // A server that accepts the connection and never answers: the connect timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = PgStore::connect(&PgConfig {
        connect_timeout: Duration::from_millis(500),
        ..PgConfig::new(format!("postgres://dimby:{password}@127.0.0.1:{port}/x"))
    })
    .await
    .expect_err("nobody answers");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, Error::Open { .. }), "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains(password),
        "{error:?}"
    );
    held.abort();
}

/// The child half of the next test: does nothing unless started by it.
const NO_POSTGRES_CHILD: &str = "STORE_TEST_NO_POSTGRES_CHILD";

#[tokio::test]
async fn without_postgres_child() {
    if std::env::var_os(NO_POSTGRES_CHILD).is_none() {
        return;
    }
    let _ = fresh().await;
}

#[test]
fn without_postgres_the_tests_fail_saying_how_to_install_it_unless_skipped() {
    let run = |skip: bool| {
        let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                "--exact",
                "without_postgres_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(NO_POSTGRES_CHILD, "1")
            .env("DIMBY_POSTGRES_BIN", "/nonexistent/postgresql/bin")
            .env_remove("DIMBY_SKIP_POSTGRES");
        if skip {
            command.env("DIMBY_SKIP_POSTGRES", "1");
        }
        command.output().expect("run the child")
    };
    let failed = run(false);
    let text = String::from_utf8_lossy(&failed.stdout) + String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{text}");
    assert!(text.contains("apt-get install postgresql"), "{text}");
    assert!(text.contains("DIMBY_SKIP_POSTGRES=1"), "{text}");
    let skipped = run(true);
    let text = String::from_utf8_lossy(&skipped.stdout) + String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{text}");
    assert!(text.contains("skipped"), "{text}");
}
