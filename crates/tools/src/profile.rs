//! `dimby profile run`: the one-command local workflow. A benchmark workload runs against
//! in-process stand-ins while this process profiles itself, leaving a CPU flamegraph, a heap
//! profile and `summary.md` (docs/profiling.md).

#![allow(clippy::disallowed_methods, reason = "a profiling run lasts real time")]

use std::path::{Path, PathBuf};

#[cfg(not(feature = "profiling"))]
use anyhow::bail;
use clap::{Args, ValueEnum};

/// The workloads `dimby profile run` can profile (the `dimby bench` scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Players on three stand-in nodes, the busiest crashing or drained, repeated until the time
    /// is up.
    Failover,
    /// `/healthz` and `/readyz` under load, then a node crash and a hang until their alerts.
    Health,
    /// The real bot answering slash commands from scripted users in 200 guilds.
    Commands,
}

impl Scenario {
    /// Its name, as `dimby bench` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Health => "health",
            Self::Commands => "commands",
        }
    }
}

/// Options of `dimby profile run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workload.
    #[arg(long, value_enum, default_value_t = Scenario::Failover)]
    pub scenario: Scenario,
    /// Seconds of workload (about; a scenario finishes the round it is in).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// The directory to write into (a subdirectory per run).
    #[arg(long, default_value = "profiles")]
    pub out: PathBuf,
}

/// Profiles the workload `args` name: not in a build without the `profiling` feature.
#[cfg(not(feature = "profiling"))]
#[allow(clippy::unused_async)]
pub async fn run(_args: &RunArgs) -> anyhow::Result<()> {
    bail!("{}", admin::profiling::HOW_TO_BUILD)
}

/// Profiles the workload `args` name in this process.
#[cfg(feature = "profiling")]
pub async fn run(args: &RunArgs) -> anyhow::Result<()> {
    local::run(args).await
}

/// Where the files of a run go: a directory per run.
pub fn run_dir(out: &Path, scenario: Scenario) -> PathBuf {
    out.join(format!(
        "{}-{}",
        scenario.name(),
        admin::profiling::file_stamp()
    ))
}

#[cfg(feature = "profiling")]
mod local {
    use std::fmt::Write as _;
    use std::io::IsTerminal as _;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use telemetry::process::ProcessSample;

    use super::{RunArgs, Scenario, run_dir};
    use crate::bench;
    use admin::profiling::cpu::CpuProfiler;
    use admin::profiling::heap;
    use admin::profiling::stacks::{Stacks, is_workspace_frame};
    use admin::profiling::{CPU_FREQUENCY_HZ, ProfilingError, write_file};

    /// What the workload did.
    #[derive(Debug, Default)]
    struct Work {
        rounds: u64,
        /// (name, count) of the units of work.
        counts: Vec<(&'static str, u64)>,
    }

    pub(super) async fn run(args: &RunArgs) -> anyhow::Result<()> {
        let dir = run_dir(&args.out, args.scenario);
        let heap_on = match heap::set_active(true).await {
            Ok(()) => true,
            Err(error) => {
                eprintln!("no heap profile: {error}");
                false
            }
        };
        let before = ProcessSample::now().unwrap_or_default();
        let started = Instant::now();
        let profiler = CpuProfiler::start(CPU_FREQUENCY_HZ)?;
        eprintln!(
            "profiling `{}` for about {} s (CPU at {CPU_FREQUENCY_HZ} Hz{}) into {}",
            args.scenario.name(),
            args.seconds,
            if heap_on { ", heap sampled" } else { "" },
            dir.display()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel();
        // The heap is read while the workload runs (three quarters in): once a round ends,
        // everything it allocated is freed.
        let heap_at = heap_on.then(|| Duration::from_secs(args.seconds) * 3 / 4);
        let progress = tokio::spawn(progress(
            args.scenario,
            args.seconds,
            before,
            heap_at,
            stopped,
        ));
        let work = workload(args).await;
        let _ = stop.send(());
        let snapshot = progress.await.unwrap_or(None);
        let work = work?;
        let wall = started.elapsed();
        let after = ProcessSample::now().unwrap_or_default();
        eprintln!(
            "workload done in {:.1} s; symbolizing ...",
            wall.as_secs_f64()
        );

        let cpu = tokio::task::spawn_blocking(move || profiler.finish())
            .await
            .context("the profile task failed")??;
        let cpu_pprof = cpu.pprof_gz()?;
        let mut files = vec![
            write_file(&dir, "cpu.pb.gz", &cpu_pprof)?,
            write_file(&dir, "cpu.svg", &cpu.flamegraph_svg()?)?,
        ];
        let cpu_stacks = Stacks::from_pprof(&cpu_pprof)?;
        let heap_stacks = match snapshot {
            Some(Ok(snapshot)) => {
                let (pprof, svg) = tokio::task::spawn_blocking(move || {
                    let pprof = snapshot.pprof();
                    snapshot.flamegraph_svg().map(|svg| (pprof, svg))
                })
                .await
                .context("the heap task failed")??;
                files.push(write_file(&dir, "heap.pb.gz", &pprof)?);
                files.push(write_file(&dir, "heap.svg", &svg)?);
                Some(Stacks::from_pprof(&pprof)?)
            }
            Some(Err(error)) => {
                eprintln!("no heap profile: {error}");
                None
            }
            None => None,
        };
        let summary = summary(
            args,
            &work,
            wall,
            &before,
            &after,
            &cpu_stacks,
            heap_stacks.as_ref(),
        );
        files.push(write_file(&dir, "summary.md", summary.as_bytes())?);

        println!(
            "profile of `{}` written to {}",
            args.scenario.name(),
            dir.display()
        );
        for file in &files {
            println!("  {}", file.display());
        }
        println!(
            "CPU {:.2} s over {:.1} s, peak RSS {}",
            (after.cpu.saturating_sub(before.cpu)).as_secs_f64(),
            wall.as_secs_f64(),
            mib(after.peak_resident_bytes)
        );
        println!("top functions by self time:");
        let total = cpu_stacks.total().max(1);
        for (name, value) in cpu_stacks.top_self(5) {
            println!("  {:>5.1}%  {}", percent(value, total), short(&name));
        }
        println!("top workspace functions (innermost of ours on each stack):");
        for (name, value) in cpu_stacks.top_workspace_frames(5) {
            println!("  {:>5.1}%  {}", percent(value, total), short(&name));
        }
        Ok(())
    }

    async fn workload(args: &RunArgs) -> anyhow::Result<Work> {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let mut work = Work::default();
        match args.scenario {
            Scenario::Failover => {
                let mut moved = 0;
                // Crash and hard drain in turn (a hang is mostly waiting for silence).
                let faults = [bench::failover::Fault::Crash, bench::failover::Fault::Drain];
                loop {
                    let fault = faults[usize::try_from(work.rounds % 2).unwrap_or(0)];
                    let report = bench::failover::measure(&bench::failover::Args {
                        players: 500,
                        nodes: 3,
                        fault,
                        behaves_like: crate::standin::BehavesLike::Lavalink,
                        filters: false,
                        json: false,
                        figures: None,
                    })
                    .await?;
                    moved += u64::try_from(report.recovery_ms.count).unwrap_or(0);
                    work.rounds += 1;
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                work.counts.push(("players moved", moved));
            }
            Scenario::Health => {
                let report = bench::health::measure(&bench::health::Args {
                    rate: 1000,
                    seconds: (args.seconds / 2).max(1),
                    json: false,
                    figures: None,
                })
                .await?;
                work.rounds = 1;
                work.counts.push((
                    "health requests",
                    u64::try_from(report.healthz_ms.count + report.readyz_ms.count).unwrap_or(0),
                ));
            }
            Scenario::Commands => {
                let report = bench::commands::measure(&bench::commands::Args {
                    guilds: 200,
                    rate: 100,
                    seconds: (args.seconds / 2).max(1),
                    nodes: 3,
                    json: false,
                    figures: None,
                    cpu_sampling_hz: None,
                    postgres: false,
                    postgres_url: None,
                })
                .await?;
                work.rounds = 1;
                work.counts
                    .push(("commands", u64::try_from(report.commands).unwrap_or(0)));
            }
        }
        Ok(work)
    }

    /// A progress line on stderr every second (every 5 s when stderr is not a terminal); the heap
    /// snapshot at `heap_at`.
    async fn progress(
        scenario: Scenario,
        seconds: u64,
        before: ProcessSample,
        heap_at: Option<Duration>,
        mut stopped: tokio::sync::oneshot::Receiver<()>,
    ) -> Option<Result<heap::HeapSnapshot, ProfilingError>> {
        let terminal = std::io::stderr().is_terminal();
        let every = Duration::from_secs(if terminal { 1 } else { 5 });
        let started = Instant::now();
        let mut snapshot = None;
        let mut next_line = started + every;
        loop {
            let wake = match (heap_at, &snapshot) {
                (Some(at), None) => next_line.min(started + at),
                _ => next_line,
            };
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            if let (Some(at), None) = (heap_at, &snapshot)
                && started.elapsed() >= at
            {
                snapshot = Some(heap::snapshot().await);
            }
            if Instant::now() < next_line {
                continue;
            }
            next_line += every;
            let now = ProcessSample::now().unwrap_or_default();
            let line = format!(
                "  {}: {:>3}/{seconds} s  CPU {:>6.1} s  RSS {}",
                scenario.name(),
                started.elapsed().as_secs(),
                now.cpu.saturating_sub(before.cpu).as_secs_f64(),
                mib(now.resident_bytes)
            );
            if terminal {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
        if terminal {
            eprintln!();
        }
        snapshot
    }

    #[allow(clippy::cast_precision_loss)]
    fn percent(value: i64, total: i64) -> f64 {
        value as f64 * 100.0 / total as f64
    }

    #[allow(clippy::cast_precision_loss)]
    fn mib(bytes: u64) -> String {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }

    /// A symbol without its generic arguments' noise, at most 140 characters.
    fn short(name: &str) -> String {
        let name = name.replace('|', "\\|");
        if name.chars().count() > 140 {
            let cut: String = name.chars().take(139).collect();
            format!("{cut}…")
        } else {
            name
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn summary(
        args: &RunArgs,
        work: &Work,
        wall: Duration,
        before: &ProcessSample,
        after: &ProcessSample,
        cpu: &Stacks,
        heap: Option<&Stacks>,
    ) -> String {
        let cpu_seconds = after.cpu.saturating_sub(before.cpu).as_secs_f64();
        let mut md = String::new();
        let _ = writeln!(md, "# Profile of `dimby bench {}`\n", args.scenario.name());
        let _ = writeln!(md, "| figure | value |\n| --- | --- |");
        let _ = writeln!(md, "| wall time | {:.1} s |", wall.as_secs_f64());
        let _ = writeln!(md, "| rounds of the workload | {} |", work.rounds);
        for (name, count) in &work.counts {
            let _ = writeln!(md, "| {name} | {count} |");
        }
        let _ = writeln!(
            md,
            "| CPU seconds (process, user + system) | {cpu_seconds:.2} |"
        );
        if let Some((name, count)) = work.counts.first()
            && *count > 0
        {
            #[allow(clippy::cast_precision_loss)]
            let per = cpu_seconds * 1000.0 / *count as f64;
            let _ = writeln!(
                md,
                "| CPU ms per {} | {per:.3} |",
                name.trim_end_matches('s')
            );
        }
        let _ = writeln!(
            md,
            "| peak RSS (the profilers' own memory included) | {} |",
            mib(after.peak_resident_bytes)
        );
        let _ = writeln!(
            md,
            "| CPU samples | {} at {CPU_FREQUENCY_HZ} Hz |",
            cpu.total() / (1_000_000_000 / i64::from(CPU_FREQUENCY_HZ)).max(1)
        );
        let _ = writeln!(
            md,
            "\nFiles: `cpu.svg` (open in a browser: click to zoom, Ctrl-F to search), `cpu.pb.gz` \
             and `heap.pb.gz` (`go tool pprof -http=: FILE`, Pyroscope, speedscope), `heap.svg`.\n"
        );
        let total = cpu.total().max(1);
        table(
            &mut md,
            "Top functions by self time",
            "share of CPU samples where the function itself was running",
            &cpu.top_self(15),
            total,
        );
        table(
            &mut md,
            "Top workspace functions by inclusive time",
            "share of CPU samples with the function anywhere on the stack",
            &cpu.top_inclusive(15, is_workspace_frame),
            total,
        );
        match heap {
            Some(heap) => {
                let (heap, own) = heap.without(|f| {
                    [
                        "admin::profiling::",
                        "pprof::",
                        "backtrace::",
                        "pprof_util::",
                    ]
                    .iter()
                    .any(|profiler| f.starts_with(profiler))
                });
                let total = heap.total().max(1);
                let _ = writeln!(
                    md,
                    "Heap held three quarters into the run (sampled, scaled to estimates): {}, \
                     besides {} held by the profilers themselves (left out below).\n",
                    mib(u64::try_from(heap.total()).unwrap_or(0)),
                    mib(u64::try_from(own).unwrap_or(0)),
                );
                table(
                    &mut md,
                    "Top allocation sites",
                    "bytes held, by the first frame past the allocator and the standard library",
                    &heap.top_sites(15),
                    total,
                );
                table(
                    &mut md,
                    "Top allocating workspace functions",
                    "bytes held, by the innermost frame of this workspace's crates",
                    &heap.top_workspace_frames(15),
                    total,
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "No heap profile: this process cannot sample its heap (see stderr).\n"
                );
            }
        }
        md
    }

    fn table(md: &mut String, title: &str, what: &str, rows: &[(String, i64)], total: i64) {
        let _ = writeln!(
            md,
            "## {title}\n\n{what}.\n\n| share | function |\n| ---: | --- |"
        );
        for (name, value) in rows {
            let _ = writeln!(md, "| {:.1}% | `{}` |", percent(*value, total), short(name));
        }
        md.push('\n');
    }
}
