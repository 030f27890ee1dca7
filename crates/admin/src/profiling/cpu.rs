//! CPU profiles: pprof-rs samples every thread's stack on `SIGPROF`, a timer that counts the
//! process's CPU time, so idle threads cost nothing and never show. One profile at a time: the
//! timer and the signal handler are process-wide.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pprof::protos::Message as _;

use super::ProfilingError;

/// Set while a profile is being taken.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Frames in these libraries are not unwound: a sample landing in them (the unwinder's own
/// locks, the vDSO) could deadlock or crash the unwinder.
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

/// Releases [`BUSY`] when dropped.
struct Busy;

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::Release);
    }
}

/// Whether a CPU profile is being taken now.
pub fn busy() -> bool {
    BUSY.load(Ordering::Acquire)
}

/// A CPU profile being taken; [`CpuProfiler::finish`] ends it (dropping it ends it too).
pub struct CpuProfiler {
    // Dropped before `_busy`: the profiler stops, then the slot is free.
    guard: pprof::ProfilerGuard<'static>,
    _busy: Busy,
}

impl std::fmt::Debug for CpuProfiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CpuProfiler")
    }
}

impl CpuProfiler {
    /// Starts sampling at `frequency_hz`; [`ProfilingError::Busy`] while another profile runs.
    pub fn start(frequency_hz: i32) -> Result<Self, ProfilingError> {
        if BUSY
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(ProfilingError::Busy);
        }
        let busy = Busy;
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(frequency_hz)
            .blocklist(&BLOCKLIST)
            .build()
            .map_err(|e| match e {
                pprof::Error::Running => ProfilingError::Busy,
                e => ProfilingError::Profiler(e.to_string()),
            })?;
        Ok(Self { guard, _busy: busy })
    }

    /// Stops sampling and symbolizes the stacks (CPU work: call it off the async workers).
    pub fn finish(self) -> Result<CpuProfile, ProfilingError> {
        let report = self
            .guard
            .report()
            .frames_post_processor(strip_profiler_frames)
            .build()
            .map_err(|e| ProfilingError::Profiler(e.to_string()));
        // Symbolizing parsed the binary's debug information into a cache that would otherwise
        // stay for the life of the process (hundreds of MiB in a debug build).
        backtrace::clear_symbol_cache();
        Ok(CpuProfile { report: report? })
    }
}

/// Drops the profiler's own frames from the leaf end of a stack: the unwinder running in the
/// signal handler (pprof drops the handler and the signal trampoline, but not what it called);
/// and names inlined functions with their module ([`super::stacks::qualify`]).
fn strip_profiler_frames(frames: &mut pprof::Frames) {
    let own = |symbols: &Vec<pprof::Symbol>| {
        symbols.iter().any(|symbol| {
            let name = symbol.name();
            let name = name.trim_start_matches('<');
            name.starts_with("backtrace::")
                || name.starts_with("pprof::")
                || name.contains("perf_signal_handler")
        })
    };
    let skip = frames.frames.iter().take_while(|f| own(f)).count();
    frames.frames.drain(..skip);
    // Inlined functions of a release build are named without their path: put it back.
    for symbol in frames.frames.iter_mut().flatten() {
        if let Some(file) = &symbol.filename {
            let name = symbol.name();
            let qualified = super::stacks::qualify(&name, &file.to_string_lossy());
            if qualified != name {
                symbol.name = Some(qualified.into_bytes());
            }
        }
    }
}

/// Takes a profile of `duration` (blocks the calling thread: use a blocking task).
pub fn profile_for(duration: Duration, frequency_hz: i32) -> Result<CpuProfile, ProfilingError> {
    let profiler = CpuProfiler::start(frequency_hz)?;
    std::thread::sleep(duration);
    profiler.finish()
}

/// A finished CPU profile.
pub struct CpuProfile {
    report: pprof::Report,
}

impl std::fmt::Debug for CpuProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuProfile")
            .field("samples", &self.samples())
            .finish_non_exhaustive()
    }
}

impl CpuProfile {
    /// Samples taken (each is 1/frequency of a second of one thread's CPU time).
    pub fn samples(&self) -> u64 {
        self.report
            .data
            .values()
            .map(|count| u64::try_from(*count).unwrap_or(0))
            .sum()
    }

    /// The profile as pprof's gzipped protobuf (`go tool pprof`, Pyroscope, speedscope).
    pub fn pprof_gz(&self) -> Result<Vec<u8>, ProfilingError> {
        let profile = self
            .report
            .pprof()
            .map_err(|e| ProfilingError::Profiler(e.to_string()))?;
        let mut encoded = Vec::new();
        profile
            .encode(&mut encoded)
            .map_err(|e| ProfilingError::Profiler(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&encoded)?;
        Ok(gz.finish()?)
    }

    /// The profile as a flamegraph (SVG), one tower per thread name.
    pub fn flamegraph_svg(&self) -> Result<Vec<u8>, ProfilingError> {
        if self.report.data.is_empty() {
            return Ok(super::stacks::empty_svg(
                "CPU: no samples (the process was idle)",
            ));
        }
        let mut svg = Vec::new();
        let mut options = pprof::flamegraph::Options::default();
        "CPU".clone_into(&mut options.title);
        options.subtitle = Some(format!(
            "{} samples at {} Hz",
            self.samples(),
            self.report.timing.frequency
        ));
        self.report
            .flamegraph_with_options(&mut svg, &mut options)
            .map_err(|e| ProfilingError::Profiler(e.to_string()))?;
        Ok(svg)
    }
}
