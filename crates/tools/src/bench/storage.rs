//! `dimby bench store`: what the store costs the bot on SQLite and on PostgreSQL, measured in one
//! run so that the two compare as ratios. The guilds are split over `--processes` bot processes
//! as `[discord.split]` splits them, each process its own pool (as its own `dimby run` would
//! open), all writing the one database at once:
//!
//! - **restore**: every process loads its own shards' stored guilds at start (`load_guilds`, the
//!   database selecting them), all at once;
//! - **tick**: every process writes its playing guilds' positions in one batch
//!   (`save_positions`), all at once, `--ticks` times;
//! - **commands**: the writes a command makes (`enqueue`, `advance`, `set_volume`), one after
//!   another per process, all processes at once, for `--seconds`;
//! - **identify**: `reserve_identify` round trips (the shared identify queue);
//! - **listener data**: `--listener-guilds` of the guilds each get a full play history
//!   (`HISTORY_LEN` = 50 tracks) and a user with ten saved playlists of 20 tracks, written by their
//!   processes at once; the store's size before and after gives the bytes one such guild adds
//!   (SQLite: the pages in use after a checkpoint, and the file's growth; PostgreSQL: the tables'
//!   `pg_total_relation_size`, indexes and TOAST included).
//!
//! PostgreSQL is a throwaway server the benchmark starts (Debian's `postgresql`, as the tests
//! start it; `--postgres-url` to use another, whose database it then fills and empties), with
//! `fsync` off: its figures are the protocol's and the queries', not a disk's. SQLite runs in a
//! temporary directory with the bot's settings (WAL, `synchronous = NORMAL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use store::{HISTORY_LEN, PositionSnapshot, PositionWrite, QueueEntry, Store};

use super::Percentiles;

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Stored guilds, all playing.
    #[arg(long, default_value_t = 10_000)]
    pub guilds: u64,
    /// Bot processes sharing the store (each its own pool).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub processes: u64,
    /// Position ticks measured.
    #[arg(long, default_value_t = 10)]
    pub ticks: u32,
    /// Seconds of command writes.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Guilds (of `--guilds`) given a full play history and a user with ten playlists of 20
    /// tracks, to measure what that takes per guild (0: skip).
    #[arg(long, default_value_t = 1_000)]
    pub listener_guilds: u64,
    /// Which backends: `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    pub backend: String,
    /// A PostgreSQL database to use instead of a throwaway server (emptied of the benchmark's
    /// guilds afterwards). A secret: never printed.
    #[arg(long, env = "DIMBY_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One backend's figures.
#[derive(Debug, serde::Serialize)]
pub struct BackendReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Seeding every guild (one `set_current`, `enqueue`, `set_channels` each), guilds a second.
    pub seed_guilds_per_s: f64,
    /// Every process loading its own guilds at once: the slowest process, ms.
    pub restore_ms: f64,
    /// One tick of every process at once (each writing its share of the guilds): ms.
    pub tick_ms: Percentiles,
    /// Command writes per second, all processes together.
    pub command_writes_per_s: f64,
    /// One command write's latency, ms.
    pub command_write_ms: Percentiles,
    /// One identify reservation's latency, ms.
    pub identify_ms: Percentiles,
    /// What a full history and ten playlists take per guild (`None` with `--listener-guilds 0`).
    pub listener: Option<ListenerSize>,
}

/// The store's size with the listener data (play history, playlists) and without.
#[derive(Debug, serde::Serialize)]
pub struct ListenerSize {
    /// Guilds filled.
    pub guilds: u64,
    /// Seconds the processes took to fill them, all at once (`add_history` 50 times and
    /// `save_playlist` ten times per guild).
    pub fill_s: f64,
    /// The store before the fill, per stored guild (settings, current entry, a short queue), bytes.
    pub base_bytes_per_guild: f64,
    /// What one guild's full history and its user's ten playlists add, bytes: the growth of the
    /// data in use (SQLite: pages in use after a checkpoint; PostgreSQL: the tables' total size)
    /// over the guilds filled.
    pub bytes_per_guild: f64,
    /// SQLite only: the growth of the database file and its `-wal` after a checkpoint, per guild
    /// filled, bytes (pages freed earlier are reused first, so it can be below `bytes_per_guild`).
    pub file_growth_per_guild: Option<f64>,
}

/// A measurement of the store's size.
#[derive(Debug, Clone, Copy)]
pub struct SizeSample {
    /// The bytes its data takes.
    pub in_use: u64,
    /// SQLite: the bytes of the database file and its `-wal`, after a checkpoint.
    pub files: Option<u64>,
}

/// The figures.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `release` or `debug`.
    pub build: String,
    /// Stored guilds.
    pub guilds: u64,
    /// Processes sharing the store.
    pub processes: u64,
    /// Each backend measured.
    pub backends: Vec<BackendReport>,
}

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.processes >= 1, "--processes must be at least 1");
    anyhow::ensure!(
        args.guilds >= args.processes,
        "--guilds must be at least --processes"
    );
    anyhow::ensure!(
        args.listener_guilds <= args.guilds,
        "--listener-guilds must be at most --guilds"
    );
    let mut backends = Vec::new();
    if matches!(args.backend.as_str(), "sqlite" | "both") {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let open = || async {
            let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
                .await
                .context("opening the SQLite store")?;
            Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
        };
        let size = || async {
            let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
                .await
                .context("opening the SQLite store")?;
            let in_use = store.bytes_in_use().await.context("the pages in use")?;
            let files = file_bytes(store.path()).context("the file's size")?;
            store.close().await;
            Ok(SizeSample {
                in_use,
                files: Some(files),
            })
        };
        backends.push(measure("sqlite", args, open, size).await?);
    }
    if matches!(args.backend.as_str(), "postgres" | "both") {
        let server = match &args.postgres_url {
            Some(_) => None,
            None => Some(
                test_support::postgres::Server::start()
                    .map_err(anyhow::Error::msg)
                    .context("starting a throwaway PostgreSQL server")?
                    .context("PostgreSQL is not installed (apt-get install postgresql)")?,
            ),
        };
        let url = match (&args.postgres_url, &server) {
            (Some(url), _) => url.clone(),
            (None, Some(server)) => server
                .create_database("bench")
                .await
                .map_err(anyhow::Error::msg)?,
            (None, None) => anyhow::bail!("no PostgreSQL"),
        };
        let open = || async {
            let store = store::PgStore::connect(&store::PgConfig::new(url.clone()))
                .await
                .context("connecting to PostgreSQL")?;
            Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
        };
        let size = || async {
            let store = store::PgStore::connect(&store::PgConfig::new(url.clone()))
                .await
                .context("connecting to PostgreSQL")?;
            let in_use = store.bytes_in_use().await.context("the tables' size")?;
            store.close().await;
            Ok(SizeSample {
                in_use,
                files: None,
            })
        };
        backends.push(measure("postgres", args, open, size).await?);
    }
    anyhow::ensure!(
        !backends.is_empty(),
        "--backend must be sqlite, postgres or both"
    );
    let report = Report {
        build: super::BUILD.to_owned(),
        guilds: args.guilds,
        processes: args.processes,
        backends,
    };
    super::print_report(&report, args.json, print_table)
}

fn print_table(report: &Report) {
    println!(
        "store bench ({} build): {} guilds over {} processes, each its own pool",
        report.build, report.guilds, report.processes
    );
    for b in &report.backends {
        println!("  {}", b.backend);
        println!(
            "    seed                  {:>9.0} guilds/s",
            b.seed_guilds_per_s
        );
        println!(
            "    restore (all at once) {:>9.1} ms, the slowest process",
            b.restore_ms
        );
        println!(
            "    tick (all at once)    p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
            b.tick_ms.p50, b.tick_ms.p99, b.tick_ms.max
        );
        println!(
            "    command writes        {:>9.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            b.command_writes_per_s, b.command_write_ms.p50, b.command_write_ms.p99
        );
        println!(
            "    identify reservation  p50 {:>6.2} ms   p99 {:>6.2} ms",
            b.identify_ms.p50, b.identify_ms.p99
        );
        if let Some(l) = &b.listener {
            println!(
                "    history of {HISTORY_LEN} + ten playlists of 20 tracks: {:>7.0} bytes per guild \
                 ({} guilds filled in {:.1} s; a guild without them: {:.0} bytes)",
                l.bytes_per_guild, l.guilds, l.fill_s, l.base_bytes_per_guild
            );
            if let Some(growth) = l.file_growth_per_guild {
                println!(
                    "      the file's growth (+ -wal, checkpointed): {growth:>7.0} bytes per guild"
                );
            }
        }
    }
    if let [sqlite, postgres] = report.backends.as_slice() {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        println!(
            "  PostgreSQL / SQLite: restore {:.2}x, tick p50 {:.2}x, command writes/s {:.2}x",
            ratio(postgres.restore_ms, sqlite.restore_ms),
            ratio(postgres.tick_ms.p50, sqlite.tick_ms.p50),
            ratio(postgres.command_writes_per_s, sqlite.command_writes_per_s),
        );
    }
}

/// The guilds of process `index`: every `processes`-th guild, as a split of the shards spreads
/// them.
fn share(args: &Args, index: u64) -> Vec<u64> {
    (0..args.guilds)
        .filter(|n| n % args.processes == index)
        .map(guild_id)
        .collect()
}

/// Guild `n`'s id: a snowflake-like id above 2^40, on shard `n % processes` of `processes` shards
/// (its timestamp bits start at a multiple of every process count the benchmark takes, 1..=16).
fn guild_id(n: u64) -> u64 {
    const LCM_1_TO_16: u64 = 720_720;
    (2 * LCM_1_TO_16 + n) << 22
}

fn entry(n: u64) -> QueueEntry {
    QueueEntry {
        track: format!("QAAA{n:016x}"),
        requester_id: 4_000 + n,
        title: format!("Track {n}"),
        author: "Bench".to_owned(),
        length_ms: 600_000,
        uri: None,
        added_at_unix_ms: 1_700_000_000_000,
    }
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1_000.0
}

/// The bytes of the SQLite file at `path` and its `-wal` (none if there is no `-wal`).
fn file_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = match std::fs::metadata(wal) {
        Ok(meta) => meta.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
        Err(error) => return Err(error),
    };
    Ok(std::fs::metadata(path)?.len() + wal)
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
async fn measure<F, Fut, S, SFut>(
    backend: &str,
    args: &Args,
    open: F,
    size: S,
) -> anyhow::Result<BackendReport>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Arc<dyn Store>>>,
    S: Fn() -> SFut,
    SFut: std::future::Future<Output = anyhow::Result<SizeSample>>,
{
    let mut pools = Vec::new();
    for _ in 0..args.processes {
        pools.push(open().await?);
    }
    let seeding = Instant::now();
    seed(&pools, args).await?;
    let seed_guilds_per_s = args.guilds as f64 / seeding.elapsed().as_secs_f64();

    // Restore: every process loads its own shard's guilds at once (shard = process: guild n is
    // on shard n % processes, see `guild_id`).
    let restores = pools.iter().zip(0..).map(|(store, index)| async move {
        let scope = store::HandoverScope {
            first: index,
            last: index,
            total: u32::try_from(args.processes).unwrap_or(u32::MAX),
        };
        let began = Instant::now();
        let loaded = store.load_guilds(scope).await?;
        Ok::<_, store::Error>((began.elapsed(), loaded.guilds.len(), index))
    });
    let mut restore_ms = 0.0_f64;
    for restored in futures_util::future::join_all(restores).await {
        let (took, loaded, index) = restored.context("a restore")?;
        let own = share(args, u64::from(index)).len();
        anyhow::ensure!(
            loaded == own,
            "process {index}'s restore found {loaded} guilds, not its {own}"
        );
        restore_ms = restore_ms.max(ms(took));
    }

    // Ticks: every process writes its share's positions at once.
    let mut ticks = Vec::new();
    for tick in 0..args.ticks {
        let began = Instant::now();
        let writes = pools.iter().zip(0..).map(|(store, index)| {
            let batch: Vec<PositionWrite> = share(args, index)
                .into_iter()
                .map(|guild_id| PositionWrite {
                    guild_id,
                    position: PositionSnapshot::new(
                        u64::from(tick) * 5_000,
                        1_700_000_000_000 + u64::from(tick),
                    ),
                    paused: false,
                })
                .collect();
            async move { store.save_positions(&batch).await }
        });
        for written in futures_util::future::join_all(writes).await {
            written.context("a tick")?;
        }
        ticks.push(ms(began.elapsed()));
    }

    let (latencies, command_writes_per_s) = command_writes(&pools, args).await?;

    // Identify reservations, one process after another (the queue's own traffic is tiny).
    let mut identify = Vec::new();
    for n in 0..200_u32 {
        let at = Instant::now();
        pools[usize::try_from(n).unwrap_or(0) % pools.len()]
            .reserve_identify(n % 16, 1_700_000_000_000, 5_250)
            .await
            .context("an identify reservation")?;
        identify.push(ms(at.elapsed()));
    }

    let listener = if args.listener_guilds > 0 {
        Some(listener_size(&pools, args, size).await?)
    } else {
        None
    };

    // Leave the database as it was (for --postgres-url): forget the benchmark's guilds (their
    // histories go with them) and delete its users' playlists.
    for n in 0..args.listener_guilds {
        for p in 0..PLAYLISTS_PER_USER {
            pools[0]
                .delete_playlist(listener_user(n), &format!("Playlist {p}"))
                .await
                .context("cleaning up")?;
        }
    }
    for n in 0..args.guilds {
        pools[0]
            .forget_guild(guild_id(n))
            .await
            .context("cleaning up")?;
    }
    Ok(BackendReport {
        backend: backend.to_owned(),
        seed_guilds_per_s,
        restore_ms,
        tick_ms: Percentiles::of(ticks),
        command_writes_per_s,
        command_write_ms: Percentiles::of(latencies),
        identify_ms: Percentiles::of(identify),
        listener,
    })
}

/// Playlists saved per listener guild's user.
const PLAYLISTS_PER_USER: u64 = 10;

/// Tracks per saved playlist.
const TRACKS_PER_PLAYLIST: u64 = 20;

/// The user who saves listener guild `n`'s playlists (one per guild).
fn listener_user(n: u64) -> u64 {
    900_000_000_000 + n
}

/// A track as the listener data stores it, about the size of a real one: Lavalink's encoded
/// YouTube track (some 200 to 300 characters of base64; 240 here), a title, an author and a
/// watch URL.
fn listener_entry(n: u64) -> QueueEntry {
    let mut track = format!("QAAA{n:016x}");
    while track.len() < 240 {
        track.push_str("QW5vdGhlclRyYWNrRGF0YQ");
    }
    track.truncate(240);
    QueueEntry {
        track,
        requester_id: listener_user(n % 1_000),
        title: format!("Song number {n} (Official Music Video)"),
        author: format!("Artist {}", n % 997),
        length_ms: 215_000,
        uri: Some(format!("https://www.youtube.com/watch?v={n:011x}")),
        added_at_unix_ms: 1_700_000_000_000 + n,
    }
}

/// Fills the first `--listener-guilds` guilds, each by its own process, all at once: a full play
/// history and ten playlists of 20 tracks for the guild's user; the store's size before and after.
#[allow(
    clippy::cast_precision_loss,
    reason = "sizes and counts far below 2^52"
)]
async fn listener_size<S, SFut>(
    pools: &[Arc<dyn Store>],
    args: &Args,
    size: S,
) -> anyhow::Result<ListenerSize>
where
    S: Fn() -> SFut,
    SFut: std::future::Future<Output = anyhow::Result<SizeSample>>,
{
    let before = size().await?;
    let began = Instant::now();
    let writers = pools.iter().zip(0..).map(|(store, index)| async move {
        for n in (0..args.listener_guilds).filter(|n| n % args.processes == index) {
            let history = u64::try_from(HISTORY_LEN).unwrap_or(50);
            for k in 0..history {
                let entry = listener_entry(n * 1_000 + k);
                store
                    .add_history(guild_id(n), &entry, 1_700_000_000_000 + k)
                    .await?;
            }
            for p in 0..PLAYLISTS_PER_USER {
                let first = n * 1_000 + 100 + p * TRACKS_PER_PLAYLIST;
                let tracks: Vec<QueueEntry> = (first..first + TRACKS_PER_PLAYLIST)
                    .map(listener_entry)
                    .collect();
                store
                    .save_playlist(
                        listener_user(n),
                        &format!("Playlist {p}"),
                        &tracks,
                        1_700_000_000_000,
                    )
                    .await?;
            }
        }
        Ok::<_, store::Error>(())
    });
    for filled in futures_util::future::join_all(writers).await {
        filled.context("filling histories and playlists")?;
    }
    let fill_s = began.elapsed().as_secs_f64();
    let after = size().await?;
    let per_guild = |a: u64, b: u64| a.saturating_sub(b) as f64 / args.listener_guilds as f64;
    Ok(ListenerSize {
        guilds: args.listener_guilds,
        fill_s,
        base_bytes_per_guild: before.in_use as f64 / args.guilds as f64,
        bytes_per_guild: per_guild(after.in_use, before.in_use),
        file_growth_per_guild: after.files.zip(before.files).map(|(a, b)| per_guild(a, b)),
    })
}

/// Each process writes one command after another (the writes `/play`, a track's end and
/// `/volume` make), all at once for `--seconds`: every write's latency, and writes a second.
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
async fn command_writes(pools: &[Arc<dyn Store>], args: &Args) -> anyhow::Result<(Vec<f64>, f64)> {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let began = Instant::now();
    let commands = pools.iter().zip(0..).map(|(store, index)| {
        let guilds = share(args, index);
        async move {
            let mut latencies = Vec::new();
            let mut n = 0_u64;
            while Instant::now() < until {
                let guild = guilds[usize::try_from(n).unwrap_or(0) % guilds.len()];
                let at = Instant::now();
                match n % 3 {
                    0 => store.enqueue(guild, &[entry(n)], None).await.map(drop)?,
                    1 => store
                        .advance(guild, store::Finished::Requeue, 1_700_000_000_000)
                        .await
                        .map(drop)?,
                    _ => {
                        store
                            .set_volume(guild, 50 + u16::try_from(n % 100).unwrap_or(0))
                            .await?;
                    }
                }
                latencies.push(ms(at.elapsed()));
                n += 1;
            }
            Ok::<_, store::Error>(latencies)
        }
    });
    let mut latencies = Vec::new();
    for done in futures_util::future::join_all(commands).await {
        latencies.extend(done.context("command writes")?);
    }
    let per_second = latencies.len() as f64 / began.elapsed().as_secs_f64();
    Ok((latencies, per_second))
}

/// Every guild playing with one track queued, its channels set: written by its own process.
async fn seed(pools: &[Arc<dyn Store>], args: &Args) -> anyhow::Result<()> {
    let seeding = pools.iter().zip(0..).map(|(store, index)| {
        let guilds = share(args, index);
        async move {
            for (n, guild) in guilds.into_iter().enumerate() {
                let n = n as u64;
                store
                    .set_current(
                        guild,
                        Some(&entry(n)),
                        PositionSnapshot::new(0, 1_700_000_000_000),
                    )
                    .await?;
                store.enqueue(guild, &[entry(n + 1)], None).await?;
                store
                    .set_channels(guild, Some(guild + 1), Some(guild + 2))
                    .await?;
            }
            Ok::<_, store::Error>(())
        }
    });
    for seeded in futures_util::future::join_all(seeding).await {
        seeded.context("seeding the guilds")?;
    }
    Ok(())
}
