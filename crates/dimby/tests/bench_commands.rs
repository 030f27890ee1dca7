//! `dimby bench commands`, tiny: the real bot against the stand-ins with 20 guilds at 50
//! commands a second for 2 s. Structure only (every command answered, counts that add up,
//! latencies that were measured); no timed assertion, since these machines are shared and noisy.
//! (The percentiles' arithmetic has its own unit test in `bench/mod.rs`.)

use tools::bench::Percentiles;
use tools::bench::commands::{Args, CommandStats, measure};

/// A latency that was measured: both ends stamped, so it is above zero.
fn measured(what: &str, p: &Percentiles) {
    if p.count > 0 {
        assert!(p.p50 > 0.0, "{what}: latencies were measured: {p:?}");
    }
}

fn complete(phase: &str, s: &CommandStats, sent: usize) {
    assert_eq!(s.sent, sent, "{phase}: sent");
    assert_eq!(s.answered, sent, "{phase}: every command answered: {s:?}");
    assert_eq!(s.unanswered, 0, "{phase}: unanswered");
    assert_eq!(
        s.error_replies, 0,
        "{phase}: error replies: {:?}",
        s.error_samples
    );
    assert_eq!(s.lavalink_requests_lost, 0, "{phase}: recordings lost");
    assert_eq!(
        s.lavalink_seen, s.lavalink_expected,
        "{phase}: a Lavalink call for every command that makes one"
    );
    assert_eq!(
        s.to_answer_ms.count, sent,
        "{phase}: an answer latency each"
    );
    assert_eq!(s.to_lavalink_ms.count, s.lavalink_seen, "{phase}");
    measured(phase, &s.to_answer_ms);
    measured(phase, &s.to_lavalink_ms);
    let by_command: usize = s.by_command.values().map(|c| c.sent).sum();
    assert_eq!(by_command, sent, "{phase}: commands by name add up");
    for (name, c) in &s.by_command {
        measured(name, &c.to_answer_ms);
        measured(name, &c.to_lavalink_ms);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_answers_every_command_and_reports_ordered_figures() {
    let args = Args {
        guilds: 20,
        rate: 50,
        seconds: 2,
        nodes: 2,
        json: true,
        figures: None,
        cpu_sampling_hz: None,
        postgres: false,
        postgres_url: None,
    };
    let report = measure(&args).await.expect("the benchmark runs");
    assert_eq!(report.store, "sqlite");

    assert_eq!(report.commands, 100);
    assert_eq!(report.shards, 1);
    assert_eq!(
        report.guilds_playing, 20,
        "every guild plays after the warm-up"
    );
    complete("measured", &report.measured, 100);
    complete("warm-up", &report.warmup, 20);
    // Every warm-up /play loads its search on a node.
    assert_eq!(report.warmup.lavalink_expected, 20);
    assert_eq!(
        report.warmup.by_command.keys().collect::<Vec<_>>(),
        ["play"]
    );
    // The measured mix calls Lavalink for most commands, not for /queue and /nowplaying.
    assert!(report.measured.lavalink_expected > 0);
    assert!(report.measured.by_command.len() > 3, "a mix of commands");

    let m = &report.memory.rss;
    assert!(m.baseline_bytes > 0 && m.idle_bytes > 0 && m.playing_bytes > 0);
    assert!(report.peak_rss_bytes >= m.baseline_bytes);
    assert!(report.cpu_seconds >= 0.0);
    assert!(report.cpu.measured_bot_cpu_seconds <= report.cpu.measured_cpu_seconds + 1e-9);

    // The JSON a later `dimby perf compare` reads.
    let json = serde_json::to_value(&report).expect("serializes");
    for key in [
        "commands",
        "cpu_seconds",
        "peak_rss_bytes",
        "measured",
        "memory",
        "cpu",
    ] {
        assert!(json.get(key).is_some(), "{key} in the JSON");
    }
    assert!(json["measured"]["to_answer_ms"]["p99"].is_number());
}

/// The same tiny run with the store on PostgreSQL (`--postgres`: a throwaway server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_on_postgres_answers_every_command() {
    if std::env::var("DIMBY_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipped: DIMBY_SKIP_POSTGRES=1");
        return;
    }
    let args = Args {
        guilds: 10,
        rate: 20,
        seconds: 2,
        nodes: 1,
        json: true,
        figures: None,
        cpu_sampling_hz: None,
        postgres: true,
        postgres_url: None,
    };
    let report = measure(&args).await.expect("the benchmark runs");
    assert_eq!(report.store, "postgres");
    assert_eq!(
        report.guilds_playing, 10,
        "every guild plays after the warm-up"
    );
    complete("measured", &report.measured, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_overhead_alternates_rounds_and_scrapes_what_the_bot_recorded() {
    let args = tools::bench::metrics_overhead::Args {
        guilds: 10,
        rate: 20,
        seconds: 1,
        rounds: 2,
        nodes: 2,
        scrapes: 3,
        json: true,
    };
    let report = tools::bench::metrics_overhead::measure(&args)
        .await
        .expect("the benchmark runs");
    let sides: Vec<bool> = report.rounds.iter().map(|r| r.metrics).collect();
    assert_eq!(sides, [true, false, true, false], "A B A B");
    for round in &report.rounds {
        assert_eq!(round.answered, round.commands, "{round:?}");
        assert!(round.bot_cpu_per_1000_ms > 0.0, "{round:?}");
    }
    assert_eq!(report.scrape_ms.count, 3);
    measured("scrape", &report.scrape_ms);
    assert!(
        report.scrape_series > 100 && report.scrape_bytes > 10_000,
        "{report:?}"
    );
}

/// `--cpu-sampling-hz` needs the CPU profiler: a build without it refuses the option at once,
/// naming the option and the feature.
#[cfg(not(feature = "profiling"))]
#[test]
fn cpu_sampling_is_refused_without_the_profiling_feature() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args([
            "bench",
            "commands",
            "--guilds",
            "1",
            "--seconds",
            "1",
            "--cpu-sampling-hz",
            "99",
        ])
        .output()
        .expect("dimby bench commands");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stderr}");
    assert!(stderr.contains("--cpu-sampling-hz"), "{stderr}");
    assert!(stderr.contains("--features profiling"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "no benchmark ran: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}
