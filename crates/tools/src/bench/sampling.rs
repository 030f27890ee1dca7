//! `--cpu-sampling-hz`: the CPU sampler of `/debug/pprof/profile` ([`admin::profiling::cpu`])
//! running over a benchmark's measured part, so the benchmark's CPU figures include what sampling
//! costs (`scripts/profiling-overhead`, docs/profiling.md "What profiling costs"). The profile is
//! built afterwards, as the endpoint builds it (symbolized, encoded as gzipped pprof), and
//! discarded; what the build took is recorded apart ([`CpuSampling`]).

use super::figures::CpuSampling;

/// The option, as messages name it.
pub const OPTION: &str = "--cpu-sampling-hz";

/// Refuses `--cpu-sampling-hz` in a build without the profiler, before anything starts.
pub fn check(hz: Option<u32>) -> anyhow::Result<()> {
    if hz.is_some() && !admin::profiling::BUILT_WITH_PROFILING {
        anyhow::bail!(
            "{OPTION} samples the CPU with the profiler of the `profiling` feature, and {}",
            admin::profiling::HOW_TO_BUILD
        );
    }
    Ok(())
}

/// The sampler, running or not; [`Sampler::finish`] stops it (dropping it stops it too).
#[derive(Debug)]
pub struct Sampler {
    #[cfg(feature = "profiling")]
    running: Option<(u32, admin::profiling::cpu::CpuProfiler)>,
}

impl Sampler {
    /// Starts sampling at `hz` samples a CPU-second; with `None`, nothing runs.
    pub fn start(hz: Option<u32>) -> anyhow::Result<Self> {
        check(hz)?;
        #[cfg(feature = "profiling")]
        {
            let running = match hz {
                Some(hz) => {
                    let frequency = i32::try_from(hz)?;
                    let profiler = admin::profiling::cpu::CpuProfiler::start(frequency)
                        .map_err(|e| anyhow::anyhow!("{OPTION}: {e}"))?;
                    Some((hz, profiler))
                }
                None => None,
            };
            Ok(Self { running })
        }
        #[cfg(not(feature = "profiling"))]
        Ok(Self {})
    }

    /// Stops sampling and builds the profile as `/debug/pprof/profile` does (on a blocking
    /// thread), then discards it; what the sampler did and what the build took.
    #[cfg_attr(not(feature = "profiling"), allow(clippy::unused_async))]
    pub async fn finish(self) -> anyhow::Result<Option<CpuSampling>> {
        #[cfg(feature = "profiling")]
        {
            use anyhow::Context as _;
            use telemetry::process::ProcessSample;

            let Some((hz, profiler)) = self.running else {
                return Ok(None);
            };
            tokio::task::spawn_blocking(move || {
                let before = ProcessSample::now().unwrap_or_default();
                let started = std::time::Instant::now();
                let profile = profiler.finish()?;
                let samples = profile.samples();
                std::hint::black_box(profile.pprof_gz()?);
                drop(profile);
                let wall = started.elapsed();
                let after = ProcessSample::now().unwrap_or_default();
                Ok(Some(CpuSampling {
                    hz,
                    samples,
                    profile_build_cpu_seconds: after.cpu.saturating_sub(before.cpu).as_secs_f64(),
                    profile_build_wall_seconds: wall.as_secs_f64(),
                    profile_build_peak_rss_bytes: after.peak_resident_bytes,
                }))
            })
            .await
            .context("the profile task failed")?
        }
        #[cfg(not(feature = "profiling"))]
        {
            let _ = self;
            Ok(None)
        }
    }
}
