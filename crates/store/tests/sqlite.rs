//! The SQLite backend: the conformance suite, plus what only a file can show (reopening, two
//! processes on one file, migrations, pragmas, damaged rows, `kill -9`).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use store::conformance::{self, entries, entry};
use store::{
    Error, Filters, Finished, GatewaySession, LavalinkSession, LoopMode, PositionSnapshot,
    SqliteConfig, SqliteStore, Store, Synchronous,
};
use tempfile::TempDir;

async fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&SqliteConfig::new(dir.path()))
        .await
        .expect("open store")
}

async fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    (dir, store)
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        /// Each behaviour of the conformance suite on a fresh store of its own.
        mod conformance_each {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = super::fresh().await;
                    store::conformance::$name(&store).await;
                }
            )*
        }
    };
}

conformance_tests!(
    ping,
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
    gateway_sessions,
    lavalink_sessions,
    concurrent_takes,
);

#[tokio::test]
async fn conformance_run_all_on_one_store_as_dyn() {
    let (_dir, store) = fresh().await;
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::run_all(store.as_ref()).await;
    // Twice: the suite does not depend on an empty store.
    conformance::run_all(store.as_ref()).await;
}

/// Writes one of everything, for the tests that check it comes back.
async fn write_everything(store: &dyn Store, guild: u64) {
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
        .save_lavalink_session(&LavalinkSession {
            node: "main".into(),
            session_id: "xyz".into(),
            saved_at_unix_ms: 6,
        })
        .await
        .expect("save_lavalink_session");
}

#[tokio::test]
async fn reopening_the_file_restores_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    write_everything(&store, 77).await;
    write_everything(&store, u64::MAX).await;
    let before = store.load_all_guilds().await.expect("load_all");
    assert_eq!(before.len(), 2);
    assert_eq!(numbers(&before[0].queue), [1, 2, 3, 4]);
    assert_eq!(before[0].current, Some(entry(0)));
    store.close().await;
    drop(store);

    let store = open(&dir).await;
    assert_eq!(store.load_all_guilds().await.expect("load_all"), before);
    let gateway = store.take_gateway_sessions().await.expect("take");
    assert_eq!(gateway.len(), 1);
    assert_eq!(
        (gateway[0].session_id.as_str(), gateway[0].sequence),
        ("abc", 99)
    );
    let lavalink = store.take_lavalink_sessions().await.expect("take");
    assert_eq!(lavalink[0].session_id, "xyz");
}

fn numbers(queue: &[store::QueueEntry]) -> Vec<u64> {
    queue.iter().map(|e| e.requester_id - 100_000).collect()
}

#[tokio::test]
async fn two_pools_on_one_file_see_each_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (open(&dir).await, open(&dir).await);
    write_everything(&a, 5).await;
    assert_eq!(
        b.load_guild(5).await.expect("load"),
        a.load_guild(5).await.expect("load")
    );
    // The successor takes what the predecessor left; the predecessor then finds nothing.
    assert_eq!(b.take_gateway_sessions().await.expect("take").len(), 1);
    assert!(a.take_gateway_sessions().await.expect("take").is_empty());
    assert_eq!(b.take_lavalink_sessions().await.expect("take").len(), 1);
    assert!(a.take_lavalink_sessions().await.expect("take").is_empty());
    b.forget_guild(5).await.expect("forget");
    assert_eq!(a.load_guild(5).await.expect("load"), None);
}

#[tokio::test]
async fn two_pools_writing_one_queue_at_once_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (open(&dir).await, open(&dir).await);
    let writer = |store: SqliteStore, base: u64| async move {
        for n in 0..40 {
            // Alternate the ends so that the two writers interleave shifts and appends.
            let at = (n % 2 == 0).then_some(0);
            store
                .enqueue(9, &[entry(base + n)], at)
                .await
                .expect("enqueue");
            store
                .save_position(9, PositionSnapshot::new(n, n), false)
                .await
                .expect("tick");
        }
    };
    tokio::join!(writer(a.clone(), 0), writer(b.clone(), 1_000));
    let mut queue = numbers(&a.load_guild(9).await.expect("load").expect("guild").queue);
    assert_eq!(queue.len(), 80);
    queue.sort_unstable();
    let expected: Vec<u64> = (0..40).chain(1_000..1_040).collect();
    assert_eq!(queue, expected);
}

#[tokio::test]
async fn two_processes_opening_a_new_file_at_once_both_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::new(dir.path().join("nested/data"));
        let (a, b) = tokio::join!(SqliteStore::open(&config), SqliteStore::open(&config));
        let (a, b) = (a.expect("open a"), b.expect("open b"));
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
    let dir = tempfile::tempdir().expect("temp dir");
    let migrator = sqlx::migrate!("./migrations");
    for _ in 0..3 {
        let store = open(&dir).await;
        // Running them again on an open store is a no-op too.
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
}

#[tokio::test]
async fn connections_use_wal_busy_timeout_foreign_keys_and_the_chosen_synchronous() {
    for (synchronous, level) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig {
            busy_timeout: Duration::from_millis(1_234),
            synchronous,
            ..SqliteConfig::new(dir.path())
        };
        let store = SqliteStore::open(&config).await.expect("open");
        assert_eq!(store.path(), dir.path().join("dimby.sqlite3"));
        let pool = store.pool();
        let pragma = |sql: &'static str| async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(pool)
                .await
                .expect(sql)
        };
        assert_eq!(pragma("PRAGMA journal_mode").await, "wal");
        let number = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .expect(sql)
        };
        assert_eq!(number("PRAGMA foreign_keys").await, 1);
        assert_eq!(number("PRAGMA busy_timeout").await, 1_234);
        assert_eq!(number("PRAGMA synchronous").await, level);
    }
}

#[tokio::test]
async fn a_damaged_row_is_an_error_naming_it_not_a_panic() {
    let (_dir, store) = fresh().await;
    let damages: [(&str, &str); 5] = [
        (
            "UPDATE guilds SET volume = 999 WHERE guild_id = 3",
            "volume",
        ),
        (
            "UPDATE guilds SET loop_mode = 'sideways' WHERE guild_id = 3",
            "loop",
        ),
        (
            "UPDATE guilds SET filters = '[1, 2]' WHERE guild_id = 3",
            "filters",
        ),
        ("UPDATE guilds SET paused = 7 WHERE guild_id = 3", "paused"),
        (
            "UPDATE queue_entries SET pos = 5 WHERE guild_id = 3 AND pos = 1",
            "position 5",
        ),
    ];
    for (damage, named) in damages {
        store.forget_guild(3).await.expect("forget");
        store
            .enqueue(3, &entries(0..2), None)
            .await
            .expect("enqueue");
        let mut conn = store.pool().acquire().await.expect("connection");
        sqlx::query("PRAGMA ignore_check_constraints = ON")
            .execute(&mut *conn)
            .await
            .expect("pragma");
        sqlx::query(damage).execute(&mut *conn).await.expect(damage);
        sqlx::query("PRAGMA ignore_check_constraints = OFF")
            .execute(&mut *conn)
            .await
            .expect("pragma");
        drop(conn);
        for result in [
            store.load_guild(3).await.map(drop),
            store.load_all_guilds().await.map(drop),
        ] {
            match result {
                Err(
                    error @ Error::Corrupt {
                        guild_id: Some(3), ..
                    },
                ) => {
                    assert!(error.to_string().contains(named), "{error} names {named}");
                }
                other => panic!("{damage}: expected a corrupt-data error, got {other:?}"),
            }
        }
    }
    // The other guilds still load, and the damaged one can be forgotten.
    store.forget_guild(3).await.expect("forget");
    store.load_all_guilds().await.expect("load_all");
}

#[tokio::test]
async fn an_unusable_data_dir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let error = SqliteStore::open(&SqliteConfig::new(file.join("data")))
        .await
        .expect_err("a file in the way");
    assert!(matches!(error, Error::CreateDataDir { .. }), "{error:?}");
    assert!(error.to_string().contains("not-a-dir"), "{error}");
}

const CRASH_DIR: &str = "STORE_TEST_CRASH_DIR";

/// The child half of `kill_9_loses_nothing_committed`: does nothing unless started by it.
#[tokio::test]
async fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let store = SqliteStore::open(&SqliteConfig::new(dir))
        .await
        .expect("open");
    write_everything(&store, 8).await;
    for tick in 0..50 {
        store
            .save_position(8, PositionSnapshot::new(tick, tick), false)
            .await
            .expect("tick");
    }
    // Die the hard way, with connections open and the WAL not checkpointed.
    let pid = std::process::id().to_string();
    let _ = Command::new("kill").args(["-9", &pid]).status();
    std::process::abort();
}

#[tokio::test]
async fn kill_9_loses_nothing_committed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR, dir.path())
        .status()
        .expect("run the child");
    assert!(!status.success(), "the child should have died: {status}");
    let store = open(&dir).await;
    let guild = store.load_guild(8).await.expect("load").expect("guild 8");
    assert_eq!(guild.position, PositionSnapshot::new(49, 49));
    assert_eq!(numbers(&guild.queue), [1, 2, 3, 4]);
    assert_eq!(guild.current, Some(entry(0)));
    assert_eq!(guild.volume, 150);
    assert_eq!(store.take_gateway_sessions().await.expect("take").len(), 1);
}
