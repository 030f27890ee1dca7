//! Profiling the bot: CPU profiles (pprof-rs: `SIGPROF` sampling, stacks symbolized when the
//! profile is taken), heap profiles (jemalloc's own sampling profiler, read through
//! jemalloc_pprof), the allocator's statistics, and reading pprof files back into stacks for
//! flamegraphs and summaries.
//!
//! The profilers are compiled in only with the `profiling` cargo feature; without it every capture
//! answers [`ProfilingError::NotBuilt`]. The allocator statistics ([`allocator_stats`]) need no
//! feature. Heap sampling exists only in the `dimby` binary, whose allocator is jemalloc with
//! profiling set up but inactive (main.rs); a process using another allocator (a test binary) has
//! no heap profile to give ([`ProfilingError::HeapUnavailable`]).

#[cfg(feature = "profiling")]
pub mod cpu;
#[cfg(feature = "profiling")]
pub mod heap;
#[cfg(feature = "profiling")]
pub mod stacks;

/// Whether this build has the profilers.
pub const BUILT_WITH_PROFILING: bool = cfg!(feature = "profiling");

/// What to do about a build without the profilers.
pub const HOW_TO_BUILD: &str = "this dimby was built without the `profiling` feature: build it \
     with `cargo build --release -p dimby --features profiling`";

/// Samples a second of a CPU profile: 99 Hz, off the beat of anything that runs at round rates.
pub const CPU_FREQUENCY_HZ: i32 = 99;

/// Why a profile could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum ProfilingError {
    /// The build has no profilers.
    #[error("{HOW_TO_BUILD}")]
    NotBuilt,
    /// A CPU profile is being taken already (the sampling timer is process-wide).
    #[error("a CPU profile is already being taken: one at a time")]
    Busy,
    /// This process's allocator cannot sample its heap.
    #[error(
        "heap profiling is not available in this process: its allocator is not jemalloc with \
         `prof:true` (the `dimby` binary built with `--features profiling` has it, unless \
         _RJEM_MALLOC_CONF turned it off)"
    )]
    HeapUnavailable,
    /// Heap sampling is switched off.
    #[error(
        "heap sampling is off: switch it on with profiling.enabled = true or \
         POST /debug/pprof/heap/activate, then let the bot run for a while"
    )]
    HeapInactive,
    /// The profiler or the allocator reported an error.
    #[error("profiler: {0}")]
    Profiler(String),
    /// A profile could not be decoded.
    #[error("malformed profile: {0}")]
    Decode(String),
    /// Reading or writing a profile.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The allocator's statistics (jemalloc's `stats.*`, refreshed when read), bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllocatorStats {
    /// Bytes the application holds (`stats.allocated`).
    pub allocated_bytes: u64,
    /// Bytes in pages the allocator has handed out (`stats.active`, ≥ allocated).
    pub active_bytes: u64,
    /// The allocator's own metadata (`stats.metadata`).
    pub metadata_bytes: u64,
    /// Bytes in physically resident pages the allocator maps (`stats.resident`).
    pub resident_bytes: u64,
    /// Bytes in chunks mapped by the allocator (`stats.mapped`).
    pub mapped_bytes: u64,
    /// Bytes kept mapped but returned to the OS (`stats.retained`).
    pub retained_bytes: u64,
    /// Whether heap profiling is compiled in and set up (`opt.prof`).
    pub heap_profiling: bool,
    /// The average bytes between heap samples (2^`opt.lg_prof_sample`), when profiling is set up.
    pub heap_sample_interval_bytes: Option<u64>,
}

/// Reads the allocator's statistics. In a process whose global allocator is not jemalloc (a test
/// binary) they describe jemalloc's idle heap, near zero.
pub fn allocator_stats() -> Result<AllocatorStats, ProfilingError> {
    use tikv_jemalloc_ctl::{epoch, stats};
    let failed = |e: tikv_jemalloc_ctl::Error| ProfilingError::Profiler(e.to_string());
    // The statistics are a snapshot taken at the last epoch: advance it first.
    epoch::advance().map_err(failed)?;
    let read = |r: Result<usize, tikv_jemalloc_ctl::Error>| {
        r.map(|v| u64::try_from(v).unwrap_or(u64::MAX))
            .map_err(failed)
    };
    let (heap_profiling, heap_sample_interval_bytes) = heap_profiling_set_up();
    Ok(AllocatorStats {
        allocated_bytes: read(stats::allocated::read())?,
        active_bytes: read(stats::active::read())?,
        metadata_bytes: read(stats::metadata::read())?,
        resident_bytes: read(stats::resident::read())?,
        mapped_bytes: read(stats::mapped::read())?,
        retained_bytes: read(stats::retained::read())?,
        heap_profiling,
        heap_sample_interval_bytes,
    })
}

/// `opt.prof` and 2^`opt.lg_prof_sample`.
#[cfg(feature = "profiling")]
fn heap_profiling_set_up() -> (bool, Option<u64>) {
    use tikv_jemalloc_ctl::profiling;
    if !profiling::prof::read().unwrap_or(false) {
        return (false, None);
    }
    let interval = profiling::lg_prof_sample::read()
        .ok()
        .and_then(|lg| u32::try_from(lg).ok())
        .and_then(|lg| 1u64.checked_shl(lg));
    (true, interval)
}

/// Without the feature jemalloc is built without heap profiling.
#[cfg(not(feature = "profiling"))]
fn heap_profiling_set_up() -> (bool, Option<u64>) {
    (false, None)
}

/// `2026-11-24T10-31-05Z`, the time now: sortable, and a valid file name everywhere.
#[allow(
    clippy::disallowed_methods,
    reason = "a file's name says when it was written, in real time"
)]
pub fn file_stamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-")
}

/// Writes `bytes` to `dir/name`, creating `dir`; returns the path.
pub fn write_file(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> Result<std::path::PathBuf, ProfilingError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}
