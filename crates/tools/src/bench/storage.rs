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
//! - **identify**: `reserve_identify` round trips (the shared identify queue).
//!
//! PostgreSQL is a throwaway server the benchmark starts (Debian's `postgresql`, as the tests
//! start it; `--postgres-url` to use another, whose database it then fills and empties), with
//! `fsync` off: its figures are the protocol's and the queries', not a disk's. SQLite runs in a
//! temporary directory with the bot's settings (WAL, `synchronous = NORMAL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use store::{PositionSnapshot, PositionWrite, QueueEntry, Store};

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
    let mut backends = Vec::new();
    if matches!(args.backend.as_str(), "sqlite" | "both") {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let open = || async {
            let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
                .await
                .context("opening the SQLite store")?;
            Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
        };
        backends.push(measure("sqlite", args, open).await?);
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
        backends.push(measure("postgres", args, open).await?);
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

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
async fn measure<F, Fut>(backend: &str, args: &Args, open: F) -> anyhow::Result<BackendReport>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Arc<dyn Store>>>,
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

    // Leave the database as it was (for --postgres-url): forget the benchmark's guilds.
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
