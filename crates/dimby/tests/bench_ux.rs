//! `dimby bench ux`, tiny: 3 typists for 2 s, then 4 guilds playing 2 to 3 s tracks for a 4 s
//! window. Structure only (every suggestion answered, the bot's outcomes add up, panels posted
//! and edited, the proxy and the stand-in agree on the edits); no timed assertion, since these
//! machines are shared and noisy.

use tools::bench::ux::{Args, Part, measure};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_answers_every_suggestion_and_counts_the_panels_calls() {
    let args = Args {
        typists: 3,
        seconds: 2,
        search_latency_ms: 0,
        guilds: 4,
        panel_seconds: 4,
        track_min_seconds: 2,
        track_max_seconds: 3,
        rate: 50,
        nodes: 1,
        part: Part::Both,
        json: true,
    };
    let report = measure(&args).await.expect("the benchmark runs");

    let a = report.autocomplete.expect("the autocomplete part ran");
    assert!(a.sent > 10, "keystrokes were typed: {a:?}");
    assert_eq!(a.answered, a.sent, "every suggestion answered: {a:?}");
    assert_eq!(a.refused + a.unanswered + a.late, 0, "{a:?}");
    assert_eq!(a.latency_ms.count, a.sent);
    assert!(a.latency_ms.p50 > 0.0, "latencies were measured: {a:?}");
    let counted: u64 = a.outcomes.values().sum();
    assert_eq!(
        usize::try_from(counted).expect("a count"),
        a.sent,
        "the bot counted every answer once: {:?}",
        a.outcomes
    );
    assert!(a.outcomes["searched"] > 0, "{:?}", a.outcomes);
    assert!(
        a.keystrokes_per_second > 5.0 && a.keystrokes_per_second < 12.0,
        "{a:?}"
    );

    let p = report.panel.expect("the panel part ran");
    assert_eq!(p.plays_answered, p.plays, "every /play answered: {p:?}");
    assert_eq!(p.setup.panel_posts, 4, "one panel per guild: {:?}", p.setup);
    assert!(p.measured.edits > 0, "track changes edit the panel: {p:?}");
    assert_eq!(p.playing, (4, 4), "every guild plays throughout: {p:?}");
    assert_eq!(
        p.edits_cross_check.0, p.edits_cross_check.1,
        "the stand-in applied every edit the proxy saw succeed"
    );
    assert!(p.measured.busiest_channel_edits_5s >= 1);
    assert!(p.measured.peak_channel_messages_per_second >= 1);

    let json = serde_json::to_value(&report_json(&args).await).expect("serializes");
    assert!(json["autocomplete"].is_null());
    assert!(json["panel"]["measured"]["per_minute"]["edits"].is_number());
}

/// A panel-only run: the other part is left out of the report.
async fn report_json(args: &Args) -> tools::bench::ux::Report {
    let args = Args {
        part: Part::Panel,
        guilds: 2,
        panel_seconds: 1,
        ..args.clone()
    };
    measure(&args).await.expect("the benchmark runs")
}
