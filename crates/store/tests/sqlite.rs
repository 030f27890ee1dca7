//! The SQLite backend: the conformance suite, plus what only a file can show (reopening, two
//! processes on one file, migrations, pragmas, damaged rows, `kill -9`).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use store::conformance::{self, entries, entry};
use store::{
    Error, Filters, Finished, GatewaySession, HandoverScope, LavalinkSession, LoopMode,
    PositionSnapshot, SqliteConfig, SqliteStore, Store, Synchronous,
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

store::conformance_behaviours!(conformance_tests);

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

#[tokio::test]
async fn reopening_the_file_restores_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    write_everything(&store, 77).await;
    write_everything(&store, u64::MAX).await;
    let before = store.load_all_guilds().await.expect("load_all").guilds;
    assert_eq!(before.len(), 2);
    assert_eq!(numbers(&before[0].queue), [1, 2, 3, 4]);
    assert_eq!(before[0].current, Some(entry(0)));
    store.close().await;
    drop(store);

    let store = open(&dir).await;
    assert_eq!(
        store.load_all_guilds().await.expect("load_all").guilds,
        before
    );
    assert_eq!(before[0].panel, Some(PANEL));
    for guild in [77, u64::MAX] {
        assert_eq!(
            store.guild_settings(guild).await.expect("guild_settings"),
            some_settings()
        );
    }
    let gateway = store
        .take_gateway_sessions(HandoverScope::whole(1))
        .await
        .expect("take");
    assert_eq!(gateway.len(), 1);
    assert_eq!(
        (gateway[0].session_id.as_str(), gateway[0].sequence),
        ("abc", 99)
    );
    let lavalink = store
        .take_lavalink_sessions(HandoverScope::whole(1))
        .await
        .expect("take");
    assert_eq!(lavalink[0].session_id, "xyz");
}

fn new_deploy(
    started_at_ms: u64,
    from_colour: Option<store::Colour>,
    to_colour: store::Colour,
    version: &str,
) -> store::NewDeploy {
    store::NewDeploy {
        started_at_ms,
        from_colour,
        to_colour,
        version: version.to_owned(),
        commit: format!("{version}-commit"),
    }
}

fn build(colour: store::Colour, version: &str) -> store::ColourBuild {
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

#[tokio::test]
async fn the_deploy_ledger_survives_reopening_the_file() {
    use store::{Colour, DeployState, DeployStep, StepOutcome};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    // A new store has no deploys and no colours.
    assert!(store.deploys(10).await.expect("deploys").is_empty());
    assert_eq!(store.active_colour().await.expect("active"), None);
    assert_eq!(
        store.colour_build(Colour::Green).await.expect("green"),
        None
    );
    store
        .set_active_colour(&build(Colour::Blue, "1.0.0"))
        .await
        .expect("blue");
    let first = store
        .begin_deploy(&new_deploy(10, Some(Colour::Blue), Colour::Green, "1.1.0"))
        .await
        .expect("begin");
    store
        .record_deploy_step(
            first,
            &DeployStep {
                at_ms: 11,
                step: "start green".into(),
                outcome: StepOutcome::Ok,
                detail: "pid 1".into(),
            },
        )
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
    let history = store.deploys(10).await.expect("deploys");
    let details = (
        store.deploy(first).await.expect("deploy"),
        store.deploy(second).await.expect("deploy"),
    );
    store.close().await;
    drop(store);

    let store = open(&dir).await;
    assert_eq!(store.deploys(10).await.expect("deploys"), history);
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            store.deploy(first).await.expect("deploy"),
            store.deploy(second).await.expect("deploy")
        ),
        details
    );
    assert_eq!(details.0.expect("first").1.len(), 1);
    assert_eq!(
        store.active_colour().await.expect("active"),
        Some(build(Colour::Green, "1.1.0"))
    );
    assert_eq!(
        store.colour_build(Colour::Blue).await.expect("blue"),
        Some(build(Colour::Blue, "1.0.0"))
    );
    // The deploy left running still blocks the next one after the restart.
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
async fn a_damaged_deploy_row_is_an_error_naming_it() {
    let (_dir, store) = fresh().await;
    let id = store
        .begin_deploy(&store::NewDeploy {
            started_at_ms: 1,
            from_colour: None,
            to_colour: store::Colour::Blue,
            version: "1".into(),
            commit: "c".into(),
        })
        .await
        .expect("begin");
    let mut conn = store.pool().acquire().await.expect("connection");
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut *conn)
        .await
        .expect("pragma");
    sqlx::query("UPDATE deploys SET to_colour = 'purple'")
        .execute(&mut *conn)
        .await
        .expect("damage");
    drop(conn);
    for result in [
        store.deploys(5).await.map(drop),
        store.deploy(id).await.map(drop),
    ] {
        match result {
            Err(
                error @ Error::Corrupt {
                    table: "deploys", ..
                },
            ) => {
                assert!(error.to_string().contains("purple"), "{error}");
            }
            other => panic!("expected a corrupt-data error, got {other:?}"),
        }
    }
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

/// Two pools on one file (two processes), each in its own task, save a new playlist for a user
/// who has 24, round after round: one gets the 25th place, the other is refused, never a 26th.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_saving_a_users_last_playlist_at_once_never_make_26() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (open(&dir).await, open(&dir).await);
    let user = 42;
    for n in 0..store::MAX_PLAYLISTS_PER_USER - 1 {
        a.save_playlist(user, &format!("p{n}"), &entries(0..2), 1)
            .await
            .expect("save");
    }
    for round in 0..10u64 {
        let save = |store: SqliteStore, n: u64| {
            tokio::spawn(async move {
                store
                    .save_playlist(user, &format!("r{round}-{n}"), &entries(0..50), 2)
                    .await
            })
        };
        let (x, y) = (save(a.clone(), 0), save(b.clone(), 1));
        let (x, y) = (x.await.expect("task"), y.await.expect("task"));
        let lists = a.playlists(user).await.expect("playlists");
        assert_eq!(lists.len(), store::MAX_PLAYLISTS_PER_USER, "round {round}");
        let winner = match (x, y) {
            (Ok(_), Err(Error::TooManyPlaylists { max: 25 })) => format!("r{round}-0"),
            (Err(Error::TooManyPlaylists { max: 25 }), Ok(_)) => format!("r{round}-1"),
            other => panic!("round {round}: one save and one refusal, got {other:?}"),
        };
        assert!(b.delete_playlist(user, &winner).await.expect("delete"));
    }
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

/// The migrations of schema version `last` and before: what a binary of that version embeds.
fn migrations_up_to(last: i64) -> sqlx::migrate::Migrator {
    let all = sqlx::migrate!("./migrations");
    let mut migrator = sqlx::migrate::Migrator::with_migrations(
        all.iter().filter(|m| m.version <= last).cloned().collect(),
    );
    migrator.set_ignore_missing(true);
    migrator
}

/// A guild as a binary of schema version 6 stored it: settings, a queue of two, a current entry
/// and a waiting request (the same SQL on both backends).
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

/// The schema versions this binary embeds, oldest first.
fn all_versions() -> Vec<i64> {
    migrations_up_to(i64::MAX)
        .iter()
        .map(|m| m.version)
        .collect()
}

/// A store of schema version 6 with [`GUILD_OF_VERSION_6`] in it, in `dir`.
async fn store_of_version_6(dir: &TempDir) {
    store_of_version(dir, 6, &GUILD_OF_VERSION_6).await;
}

/// A store of schema `version` with `sql` run in it, in `dir`.
async fn store_of_version(dir: &TempDir, version: i64, sql: &[&'static str]) {
    let path = SqliteConfig::new(dir.path()).path();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("a new file");
    migrations_up_to(version)
        .run(&pool)
        .await
        .expect("an older version");
    for statement in sql {
        sqlx::query(*statement)
            .execute(&pool)
            .await
            .expect(statement);
    }
    pool.close().await;
}

#[tokio::test]
async fn a_store_of_version_6_migrates_to_7_keeping_its_guilds() {
    let dir = tempfile::tempdir().expect("temp dir");
    store_of_version_6(&dir).await;
    let store = open(&dir).await;
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
    assert_eq!(
        guild.queue[1].uri.as_deref(),
        Some("https://example.invalid/1")
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
    store.set_stay(5, true).await.expect("set_stay");
    store
        .add_history(5, &entry(1), 1)
        .await
        .expect("add_history");
    store
        .save_playlist(8, "Mine", &entries(0..2), 1)
        .await
        .expect("save_playlist");
    store.close().await;
}

#[tokio::test]
async fn a_binary_of_version_6_keeps_working_on_version_7() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    store.set_stay(5, true).await.expect("set_stay");
    store
        .add_history(5, &entry(1), 1)
        .await
        .expect("add_history");
    // Its migrations (ignoring the one it does not know) run, and what it writes works.
    migrations_up_to(6)
        .run(store.pool())
        .await
        .expect("an older binary's migrations");
    for sql in [
        // set_volume of a guild it never wrote (its upsert names the columns it knows).
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
    // Its forget_guild (one DELETE of the guild) takes the history along.
    sqlx::query("DELETE FROM guilds WHERE guild_id = 5")
        .execute(store.pool())
        .await
        .expect("forget_guild of version 6");
    assert!(store.history(5, 10).await.expect("history").is_empty());
}

/// What a binary of schema version 7 stored besides [`GUILD_OF_VERSION_6`]: 24/7 mode on and a
/// play history of one (the same SQL on both backends).
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
async fn a_store_of_version_7_migrates_to_8_keeping_its_guilds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sql: Vec<&'static str> = GUILD_OF_VERSION_6
        .into_iter()
        .chain(GUILD_OF_VERSION_7)
        .collect();
    store_of_version(&dir, 7, &sql).await;
    let store = open(&dir).await;
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
    store.close().await;
}

#[tokio::test]
async fn a_binary_of_version_7_keeps_working_on_version_8() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    store.set_panel(5, Some(PANEL)).await.expect("set_panel");
    store
        .set_guild_settings(5, &some_settings())
        .await
        .expect("set_guild_settings");
    // Its migrations (ignoring the one it does not know) run, and what it writes works.
    migrations_up_to(7)
        .run(store.pool())
        .await
        .expect("an older binary's migrations");
    for sql in [
        // set_volume of a guild it never wrote, and set_volume and set_stay of one with a panel
        // (its upserts name the columns it knows).
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
    // Its forget_guild (one DELETE of the guild) takes the panel along and keeps the settings.
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
    store.set_volume(4, 50).await.expect("another guild");
    let damages: [(&str, &str); 9] = [
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
        ("UPDATE guilds SET stay = 7 WHERE guild_id = 3", "stay is 7"),
        (
            "UPDATE guilds SET autoplay = -1 WHERE guild_id = 3",
            "autoplay is -1",
        ),
        (
            "UPDATE guilds SET panel_channel_id = 9 WHERE guild_id = 3",
            "panel_channel_id is set without",
        ),
        (
            "UPDATE guilds SET panel_message_id = 9 WHERE guild_id = 3",
            "panel_message_id is set without",
        ),
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
        // The whole load does not fail: the guild is set apart, saying what is damaged.
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
    // The other guilds still load, and the damaged one can be forgotten.
    store.forget_guild(3).await.expect("forget");
    let loaded = store.load_all_guilds().await.expect("load_all");
    assert!(loaded.damaged.is_empty());
    assert_eq!(loaded.guilds.len(), 1);
}

#[tokio::test]
async fn a_damaged_settings_row_is_an_error_naming_it() {
    let (_dir, store) = fresh().await;
    let damages: [(&'static str, &str); 7] = [
        (
            "UPDATE guild_settings SET vote_skip_percent = 0 WHERE guild_id = 3",
            "vote_skip_percent is 0",
        ),
        (
            "UPDATE guild_settings SET vote_skip_percent = 300 WHERE guild_id = 3",
            "vote_skip_percent is 300",
        ),
        (
            "UPDATE guild_settings SET default_volume = 999 WHERE guild_id = 3",
            "default_volume is 999",
        ),
        (
            "UPDATE guild_settings SET stay_by_default = 7 WHERE guild_id = 3",
            "stay_by_default is 7",
        ),
        (
            "UPDATE guild_settings SET autoplay_by_default = -1 WHERE guild_id = 3",
            "autoplay_by_default is -1",
        ),
        (
            "UPDATE guild_settings SET locale = '' WHERE guild_id = 3",
            "locale is empty",
        ),
        (
            "UPDATE guild_settings SET locale = 'en US' WHERE guild_id = 3",
            "locale holds a character",
        ),
    ];
    for (damage, named) in damages {
        store
            .set_guild_settings(3, &some_settings())
            .await
            .expect("set_guild_settings");
        store
            .set_guild_settings(4, &some_settings())
            .await
            .expect("another guild");
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
    // Setting them again repairs them.
    store
        .set_guild_settings(3, &some_settings())
        .await
        .expect("set_guild_settings");
    assert_eq!(
        store.guild_settings(3).await.expect("repaired"),
        some_settings()
    );
}

/// Makes a gap in a guild's queue positions (0, 1, 2 becomes 0, 1, 7), as a damaged file would.
async fn gap_in_queue(store: &SqliteStore, guild: u64) {
    sqlx::query("UPDATE queue_entries SET pos = 7 WHERE guild_id = ?1 AND pos = 2")
        .bind(guild.cast_signed())
        .execute(store.pool())
        .await
        .expect("damage the queue");
}

#[tokio::test]
async fn damaged_guilds_set_apart() {
    let (_dir, store) = fresh().await;
    conformance::damaged_guilds_set_apart(&store, async |guild| gap_in_queue(&store, guild).await)
        .await;
}

#[tokio::test]
async fn damaged_guilds_set_apart_on_a_busy_store() {
    let (_dir, store) = fresh().await;
    conformance::run_all(&store).await;
    conformance::damaged_guilds_set_apart(&store, async |guild| gap_in_queue(&store, guild).await)
        .await;
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn the_quarantine_guard_keeps_damaged_rows_untouched() {
    let (_dir, sqlite) = fresh().await;
    let guard = store::QuarantineGuard::new(Arc::new(sqlite.clone()));
    conformance::run_all(&guard).await;
    guard
        .enqueue(21, &entries(0..3), None)
        .await
        .expect("enqueue");
    guard
        .enqueue(22, &entries(0..3), None)
        .await
        .expect("enqueue");
    gap_in_queue(&sqlite, 21).await;
    let rows = |guild: u64| {
        let pool = sqlite.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT pos, track FROM queue_entries WHERE guild_id = ?1 ORDER BY pos",
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
                store::PositionWrite::new(21, PositionSnapshot::new(1, 99), false),
                store::PositionWrite::new(22, PositionSnapshot::new(1, 99), false),
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
    // Other guilds are served as usual.
    guard.remove(22, 0).await.expect("remove");
    // Repaired by hand, the guild is back at the next load.
    sqlx::query("UPDATE queue_entries SET pos = 2 WHERE guild_id = 21 AND pos = 7")
        .execute(sqlite.pool())
        .await
        .expect("repair");
    let loaded = guard.load_all_guilds().await.expect("load_all");
    assert!(loaded.damaged.is_empty());
    assert_eq!(guard.quarantined(), 0);
    guard.set_volume(21, 10).await.expect("served again");
}

fn config(dir: &TempDir) -> SqliteConfig {
    SqliteConfig::new(dir.path())
}

#[tokio::test]
async fn a_new_data_dir_starts_with_a_new_store_and_no_leftovers() {
    let parent = tempfile::tempdir().expect("temp dir");
    let data = parent.path().join("data");
    let store = SqliteStore::open(&SqliteConfig::new(&data))
        .await
        .expect("a brand-new data directory starts fresh");
    assert!(
        store
            .load_all_guilds()
            .await
            .expect("load")
            .guilds
            .is_empty()
    );
    store.close().await;
    let names: Vec<String> = std::fs::read_dir(&data)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["dimby.sqlite3"]);
}

#[tokio::test]
async fn an_empty_store_file_refuses_to_open_unless_a_fresh_start_is_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    write_everything(&store, 5).await;
    store.close().await;
    drop(store);
    let path = config(&dir).path();
    std::fs::File::create(&path).expect("truncate to 0 bytes");

    let error = SqliteStore::open(&config(&dir))
        .await
        .expect_err("an empty store file must not start as a new store");
    assert!(matches!(error, Error::EmptyStore { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("store.allow_fresh_start"), "{text}");
    assert_eq!(
        std::fs::metadata(&path).expect("still there").len(),
        0,
        "left as it is"
    );

    let store = SqliteStore::open(&SqliteConfig {
        allow_fresh_start: true,
        ..config(&dir)
    })
    .await
    .expect("a fresh start on purpose");
    assert!(
        store
            .load_all_guilds()
            .await
            .expect("load")
            .guilds
            .is_empty()
    );
    store.set_volume(5, 10).await.expect("writes");
}

#[tokio::test]
async fn an_unreadable_store_file_refuses_to_open_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = config(&dir).path();
    let garbage = b"this is not a SQLite database, but it is somebody's file\n".repeat(100);
    std::fs::write(&path, &garbage).expect("write");
    for allow_fresh_start in [false, true] {
        let error = SqliteStore::open(&SqliteConfig {
            allow_fresh_start,
            ..config(&dir)
        })
        .await
        .expect_err("an unreadable store must not start");
        assert!(matches!(error, Error::Unreadable { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("move it away"), "{text}");
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        garbage,
        "left as it is"
    );
}

#[tokio::test]
async fn check_passes_then_fails_once_the_wal_is_deleted() {
    let (dir, store) = fresh().await;
    write_everything(&store, 5).await;
    store.check().await.expect("a healthy store passes");
    let wal = dir.path().join("dimby.sqlite3-wal");
    std::fs::remove_file(&wal).expect("delete the WAL");
    // Writes still succeed (into the deleted file): only the check notices.
    store.set_volume(5, 11).await.expect("write");
    match store.check().await {
        Err(error @ Error::FilesGone { .. }) => {
            let text = error.to_string();
            assert!(text.contains("dimby.sqlite3-wal"), "{text}");
            assert!(text.contains("was deleted"), "{text}");
            assert!(text.contains("SIGTERM"), "{text}");
        }
        other => panic!("expected FilesGone, got {other:?}"),
    }
}

#[tokio::test]
async fn check_fails_once_the_database_file_is_replaced() {
    let (dir, store) = fresh().await;
    write_everything(&store, 5).await;
    let path = dir.path().join("dimby.sqlite3");
    std::fs::rename(&path, dir.path().join("moved.sqlite3")).expect("move away");
    std::fs::write(&path, b"another file").expect("put another in its place");
    match store.check().await {
        Err(error @ Error::FilesGone { .. }) => {
            assert!(error.to_string().contains("was replaced"), "{error}");
        }
        other => panic!("expected FilesGone, got {other:?}"),
    }
}

/// Undoes `chattr +i` on drop, so that the temporary directory can be removed.
struct Immutable(std::path::PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[tokio::test]
async fn check_fails_on_a_store_the_process_cannot_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir).await;
    write_everything(&store, 5).await;
    store.close().await;
    drop(store);
    let path = config(&dir).path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    // Root writes whatever the mode: make the file immutable instead.
    let _undo = if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        let made = Command::new("chattr").arg("+i").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!(
                "skipped: this process writes read-only files and chattr +i is not available"
            );
            return;
        }
        Some(Immutable(path.clone()))
    } else {
        None
    };
    let store = open(&dir).await;
    // It opens and reads (SQLite falls back to read-only)...
    store.ping().await.expect("reads work");
    assert_eq!(store.load_all_guilds().await.expect("load").guilds.len(), 1);
    // ...but it cannot write, and the check says so.
    match store.check().await {
        Err(error @ Error::Database { .. }) => {
            assert!(error.to_string().contains("readonly"), "{error}");
        }
        other => panic!("expected a failed write, got {other:?}"),
    }
    store.close().await;
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
    assert_eq!(
        store
            .take_gateway_sessions(HandoverScope::whole(1))
            .await
            .expect("take")
            .len(),
        1
    );
}
