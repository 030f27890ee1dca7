//! The bot process's stop, through `dimby bench stop` (the figures' own scenario, with fewer
//! guilds): every guild playing, restored from the store by `dimby run`; SIGTERM (a plain stop)
//! or SIGUSR2 (the handover stop). The process must exit by itself and leave every guild's queue
//! and position written and no task running; a plain stop ends its Lavalink session (the node
//! destroys the players), a handover leaves them playing with the records a successor needs.
//! A successor (`dimby run` again on the same store) takes over what a handover left: the
//! gateway sessions resumed (the commands sent in between answered), the players adopted as they
//! play; or, when the node dropped the session meanwhile, every guild played again from the store.
//! How long the stop takes is a benchmark figure (docs/benchmarks.md), not asserted here.

use tools::bench::stop::Report;

const GUILDS: u64 = 100;

fn stop(handover: bool) -> Report {
    stop_with(if handover { &["--handover"] } else { &[] })
}

fn stop_with(flags: &[&str]) -> Report {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dimby"));
    command.args(["bench", "stop", "--json", "--guilds", &GUILDS.to_string()]);
    command.args(flags);
    let output = command.output().expect("dimby bench stop");
    assert!(
        output.status.success(),
        "dimby bench stop failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report")
}

fn assert_stopped_cleanly(report: &Report) {
    assert!(report.exited_by_itself, "{report:#?}");
    assert_eq!(report.exit_code, Some(0), "{report:#?}");
    let bot = report.bot.as_ref().expect("the bot's stop line");
    assert_eq!(bot.guilds, GUILDS, "{report:#?}");
    assert_eq!(bot.positions_written, GUILDS, "{report:#?}");
    assert_eq!(bot.tasks_left, 0, "{report:#?}");
    assert!(!bot.abandoned, "{report:#?}");
    assert_eq!(report.queues_intact, GUILDS, "{report:#?}");
    // The positions are the ones at the stop: the offsets from the node's (which moved on for a
    // moment after the signal) stay well inside the 5 s between two position ticks.
    assert!(
        report.position_offset_ms.max.abs() < 2_500.0
            && report.position_offset_ms.p50.abs() < 2_500.0,
        "{report:#?}"
    );
}

#[test]
fn a_plain_stop_writes_every_guild_and_ends_its_lavalink_session() {
    let report = stop(false);
    assert_stopped_cleanly(&report);
    assert_eq!(
        report.players_left, 0,
        "the node destroyed the players: {report:#?}"
    );
    assert_eq!(report.sessions_resumable, 0, "{report:#?}");
    assert_eq!(
        report.lavalink_records + report.gateway_records,
        0,
        "{report:#?}"
    );
}

#[test]
fn a_handover_stop_leaves_the_audio_playing_and_the_records_for_a_successor() {
    let report = stop(true);
    assert_stopped_cleanly(&report);
    assert_eq!(report.players_playing, GUILDS, "{report:#?}");
    assert_eq!(report.sessions_resumable, 1, "{report:#?}");
    assert_eq!(report.lavalink_records, 1, "{report:#?}");
    assert!(report.gateway_records >= 1, "{report:#?}");
}

#[test]
fn a_successor_takes_over_the_sessions_and_the_players_without_a_gap() {
    let report = stop_with(&["--handover", "--successor", "resumes"]);
    assert_stopped_cleanly(&report);
    assert_eq!(report.lavalink_records, 1, "{report:#?}");
    assert!(report.gateway_records >= 1, "{report:#?}");
    let successor = report.successor.as_ref().expect("the successor's figures");
    assert!(successor.commands_sent > 0, "{report:#?}");
    assert_eq!(
        successor.answered, successor.commands_sent,
        "every command sent between the two processes is answered with the current track: {report:#?}"
    );
    assert_eq!(successor.identifies, 0, "every shard resumed: {report:#?}");
    assert!(successor.lavalink_session_resumed, "{report:#?}");
    assert_eq!(successor.players_adopted, GUILDS, "{report:#?}");
    assert_eq!(
        successor.track_starts, 0,
        "no player was started again: {report:#?}"
    );
    assert_eq!(successor.players_playing, GUILDS, "{report:#?}");
    assert_eq!(successor.positions_kept, GUILDS, "{report:#?}");
    // The node played on by itself: its positions are where an unbroken play would be (what is
    // left is when the two readings were taken, far below a restart's loss).
    assert!(successor.position_gap_ms.max.abs() < 250.0, "{report:#?}");
    assert!(successor.stopped_cleanly, "{report:#?}");
}

#[test]
fn a_successor_whose_lavalink_session_is_gone_plays_every_guild_again_from_the_store() {
    let report = stop_with(&["--handover", "--successor", "session-lost"]);
    assert_stopped_cleanly(&report);
    let successor = report.successor.as_ref().expect("the successor's figures");
    assert_eq!(successor.answered, successor.commands_sent, "{report:#?}");
    assert_eq!(successor.identifies, 0, "{report:#?}");
    assert!(!successor.lavalink_session_resumed, "{report:#?}");
    assert_eq!(successor.players_adopted, 0, "{report:#?}");
    // Every guild rejoined and played again, from where it stood at the stop.
    assert_eq!(successor.track_starts, GUILDS, "{report:#?}");
    assert_eq!(successor.players_playing, GUILDS, "{report:#?}");
    assert_eq!(successor.positions_kept, GUILDS, "{report:#?}");
    assert!(successor.stopped_cleanly, "{report:#?}");
}
