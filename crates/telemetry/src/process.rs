//! The process's own figures, read from Linux's `/proc/self`: CPU time, memory, file descriptors,
//! threads, start time. Used by the `/metrics` collector and by the benchmarks (CPU seconds and
//! peak RSS of a run). On other systems every figure is absent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One reading of the process's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time since start.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Peak resident set size since start, bytes.
    pub peak_resident_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_bytes: u64,
    /// OS threads.
    pub threads: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors, if there is one.
    pub max_fds: Option<u64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessSample {
    /// Reads the figures now; `None` where `/proc` is not available.
    pub fn now() -> Option<Self> {
        Self::of_dir(std::path::Path::new("/proc/self"))
    }

    /// Reads another process's figures now (a benchmark watching the bot processes it started);
    /// `None` where `/proc` is not available or the process is gone.
    pub fn of_process(pid: u32) -> Option<Self> {
        Self::of_dir(&std::path::Path::new("/proc").join(pid.to_string()))
    }

    fn of_dir(proc: &std::path::Path) -> Option<Self> {
        let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
        let status = std::fs::read_to_string(proc.join("status")).ok()?;
        let mut sample = parse_stat(&stat, rustix::param::clock_ticks_per_second())?;
        sample.peak_resident_bytes = status_kib(&status, "VmHWM:").unwrap_or(0) * 1024;
        sample.resident_bytes = status_kib(&status, "VmRSS:").unwrap_or(0) * 1024;
        sample.open_fds = std::fs::read_dir(proc.join("fd")).map_or(0, |dir| dir.count() as u64);
        // The limit is read for this process: another's is in its `limits` file, which no reader
        // of another process needs.
        sample.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        sample.start_time_seconds =
            boot_time_seconds().map_or(0.0, |boot| boot + sample.start_time_seconds);
        Some(sample)
    }
}

/// A `stat` line of `/proc` (a process's or a thread's): the command name (field 2) and the
/// fields after it, so that field n is at index n - 3. The name is in parentheses and may hold
/// spaces and parentheses itself: it ends at the last ')'.
fn stat_fields(stat: &str) -> Option<(&str, Vec<&str>)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?;
    Some((name, stat[close + 1..].split_whitespace().collect()))
}

/// User plus system CPU clock ticks of each live thread of this process, with its name (from
/// `/proc/self/task`; empty where `/proc` is not available). Threads that ended are not in it.
pub fn thread_cpu_ticks() -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (name, fields) = stat_fields(&stat)?;
            // Fields 14 and 15: utime and stime.
            let ticks = [14, 15]
                .iter()
                .filter_map(|n| fields.get(n - 3)?.parse::<u64>().ok())
                .sum();
            Some((name.to_owned(), ticks))
        })
        .collect()
}

/// Parses `/proc/self/stat`. `start_time_seconds` is left relative to boot (the caller adds the
/// boot time); memory fields come from `/proc/self/status` instead.
fn parse_stat(stat: &str, ticks_per_second: u64) -> Option<ProcessSample> {
    let (_, fields) = stat_fields(stat)?;
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let ticks = ticks_per_second.max(1);
    let cpu_ticks = field(14)? + field(15)?;
    #[allow(clippy::cast_precision_loss)]
    let start_time_seconds = field(22)? as f64 / ticks as f64;
    Some(ProcessSample {
        cpu: Duration::from_nanos(cpu_ticks.saturating_mul(1_000_000_000) / ticks),
        threads: field(20)?,
        virtual_bytes: field(23)?,
        start_time_seconds,
        ..ProcessSample::default()
    })
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// When the machine booted, from `/proc/stat`'s `btime` (falls back to now minus uptime).
fn boot_time_seconds() -> Option<f64> {
    if let Ok(stat) = std::fs::read_to_string("/proc/stat")
        && let Some(btime) = stat.lines().find_map(|l| l.strip_prefix("btime "))
        && let Ok(btime) = btime.trim().parse::<u64>()
    {
        #[allow(clippy::cast_precision_loss)]
        return Some(btime as f64);
    }
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    #[allow(
        clippy::disallowed_methods,
        reason = "the process's start time is a real wall-clock time"
    )]
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(now.as_secs_f64() - uptime)
}

#[cfg(test)]
mod tests {
    use super::{ProcessSample, parse_stat, status_kib};
    use std::time::Duration;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parens() {
        // Fields from proc(5): utime=250 stime=50 num_threads=7 starttime=1000 vsize=4096000.
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 4096000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let sample = parse_stat(stat, 100).expect("parses");
        assert_eq!(sample.cpu, Duration::from_secs(3));
        assert_eq!(sample.threads, 7);
        assert_eq!(sample.virtual_bytes, 4_096_000);
        assert!((sample.start_time_seconds - 10.0).abs() < 1e-9);
        assert_eq!(parse_stat("garbage", 100), None);
    }

    #[test]
    fn reads_kib_lines_of_status() {
        let status = "Name:\tdimby\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn the_running_process_reports_memory_threads_and_fds() {
        let sample = ProcessSample::now().expect("Linux /proc");
        assert!(sample.peak_resident_bytes >= sample.resident_bytes);
        assert!(sample.resident_bytes > 0 && sample.threads >= 1 && sample.open_fds >= 3);
        assert!(sample.start_time_seconds > 1_500_000_000.0);
    }

    #[test]
    fn every_live_thread_is_listed_with_its_name() {
        let (started, finish) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let worker = std::thread::Builder::new()
            .name("ticks (probe)".into())
            .spawn(move || {
                let _ = started.0.send(());
                let _ = finish.1.recv();
            })
            .expect("a thread");
        started.1.recv().expect("started");
        let threads = super::thread_cpu_ticks();
        let _ = finish.0.send(());
        worker.join().expect("joined");
        assert!(
            threads.iter().any(|(name, _)| name == "ticks (probe)"),
            "{threads:?}"
        );
    }
}
