//! Heap profiles: jemalloc samples one allocation per 2^`lg_prof_sample` bytes allocated on
//! average (512 KiB in the `dimby` binary) with its stack, and a dump lists the sampled
//! allocations that are still live, scaled up to estimates of the bytes each stack holds. Sampling
//! is set up at start but inactive; [`set_active`] switches it.
//!
//! A dump is cheap (jemalloc writes a small file); symbolizing it is not (it reads the binary's
//! debug information), so the two are separate: [`snapshot`] now, [`HeapSnapshot::pprof`] or
//! [`HeapSnapshot::flamegraph_svg`] later, on a blocking thread.

use std::io::BufReader;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::ProfilingError;

type Ctl = Arc<Mutex<jemalloc_pprof::JemallocProfCtl>>;

fn ctl() -> Result<&'static Ctl, ProfilingError> {
    jemalloc_pprof::PROF_CTL
        .as_ref()
        .ok_or(ProfilingError::HeapUnavailable)
}

/// Whether this process can sample its heap at all.
pub fn available() -> bool {
    jemalloc_pprof::PROF_CTL.is_some()
}

/// Whether sampling is on; `None` when the process cannot sample.
pub async fn active() -> Option<bool> {
    let ctl = jemalloc_pprof::PROF_CTL.as_ref()?;
    Some(ctl.lock().await.activated())
}

/// Switches sampling on or off. Switching it off also forgets the samples taken so far.
pub async fn set_active(active: bool) -> Result<(), ProfilingError> {
    let mut ctl = ctl()?.lock().await;
    if ctl.activated() == active {
        return Ok(());
    }
    let outcome = if active {
        ctl.activate()
    } else {
        ctl.deactivate()
    };
    outcome.map_err(|e| ProfilingError::Profiler(e.to_string()))?;
    tracing::info!(active, "heap sampling switched");
    Ok(())
}

/// The live sampled allocations at one moment, not yet symbolized.
pub struct HeapSnapshot {
    profile: pprof_util::StackProfile,
}

impl std::fmt::Debug for HeapSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeapSnapshot")
    }
}

/// Dumps the live sampled allocations now ([`ProfilingError::HeapInactive`] while sampling is
/// off).
pub async fn snapshot() -> Result<HeapSnapshot, ProfilingError> {
    let mut ctl = ctl()?.lock().await;
    if !ctl.activated() {
        return Err(ProfilingError::HeapInactive);
    }
    let file = ctl
        .dump()
        .map_err(|e| ProfilingError::Profiler(format!("{e:#}")))?;
    drop(ctl);
    let profile = tokio::task::spawn_blocking(move || {
        pprof_util::parse_jeheap(BufReader::new(file), mappings::MAPPINGS.as_deref())
    })
    .await
    .map_err(|e| ProfilingError::Profiler(format!("the dump task failed: {e}")))?
    .map_err(|e| ProfilingError::Decode(format!("{e:#}")))?;
    Ok(HeapSnapshot { profile })
}

impl HeapSnapshot {
    /// pprof's gzipped protobuf, bytes held by stack (`inuse_space`), functions symbolized.
    pub fn pprof(&self) -> Vec<u8> {
        let pprof = self
            .profile
            .to_pprof(("inuse_space", "bytes"), ("space", "bytes"), None);
        // As after a CPU profile: the symbolizer's cache of debug information goes.
        backtrace::clear_symbol_cache();
        pprof
    }

    /// A flamegraph (SVG) of the bytes held, by stack (names qualified as in
    /// [`super::stacks::Stacks`]).
    pub fn flamegraph_svg(&self) -> Result<Vec<u8>, ProfilingError> {
        super::stacks::Stacks::from_pprof(&self.pprof())?
            .flamegraph_svg("Heap: bytes held (live sampled allocations)")
    }
}

/// What a dump is turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapFormat {
    /// pprof's gzipped protobuf, functions symbolized.
    Pprof,
    /// A flamegraph (SVG) of the bytes held, by stack.
    Flamegraph,
}

/// Dumps the live sampled allocations and symbolizes them (on a blocking thread).
pub async fn dump(format: HeapFormat) -> Result<Vec<u8>, ProfilingError> {
    let snapshot = snapshot().await?;
    tokio::task::spawn_blocking(move || match format {
        HeapFormat::Pprof => Ok(snapshot.pprof()),
        HeapFormat::Flamegraph => snapshot.flamegraph_svg(),
    })
    .await
    .map_err(|e| ProfilingError::Profiler(format!("the dump task failed: {e}")))?
}
