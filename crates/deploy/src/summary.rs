//! The Markdown summary every deploy ends with: what was deployed where, the gate's checks, the
//! cutover and the watch with their figures, the rollback if any, and every step. Written to a
//! file, appended to `$GITHUB_STEP_SUMMARY` in a workflow, and posted to the alert webhook.

use std::fmt::Write as _;

use crate::orchestrate::DeployReport;

/// The summary of `report`.
pub fn markdown(report: &DeployReport) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, report);
    out
}

fn write_summary(out: &mut String, r: &DeployReport) -> std::fmt::Result {
    let from = r.from.as_deref().unwrap_or("none");
    writeln!(
        out,
        "## Deploy {}: {} ({})\n",
        r.id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
        r.ending.as_str(),
        r.reason
    )?;
    writeln!(out, "| | |\n| --- | --- |")?;
    writeln!(out, "| build | {} (commit {}) |", r.version, r.commit)?;
    writeln!(out, "| colours | {from} -> {} |", r.to)?;
    writeln!(
        out,
        "| serving now | {} |",
        r.serving.as_deref().unwrap_or("none")
    )?;
    writeln!(out, "| took | {:.1} s |", ms_to_s(r.total_ms))?;
    if let Some(gate_ms) = r.gate_ms {
        writeln!(out, "| gate | {:.1} s |", ms_to_s(gate_ms))?;
    }
    if let Some(cutover) = &r.cutover {
        writeln!(
            out,
            "| cutover | {} ms without a serving process (handover {} ms, takeover {} ms) |",
            cutover.total_ms, cutover.handover_ms, cutover.takeover_ms
        )?;
    }
    if let Some(after) = r.rollback_after_failing_ms {
        writeln!(
            out,
            "| rollback | the old colour served again {after} ms after the first failing signal |"
        )?;
    }
    write_gate(out, r)?;
    write_watch(out, r)?;
    write_steps(out, r)
}

fn write_gate(out: &mut String, r: &DeployReport) -> std::fmt::Result {
    if let Some(gate) = &r.gate {
        writeln!(
            out,
            "\n### Gate: {}\n",
            if gate.passed { "passed" } else { "failed" }
        )?;
        writeln!(
            out,
            "| check | result | detail | ms |\n| --- | --- | --- | --- |"
        )?;
        for check in &gate.checks {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                check.name,
                if check.passed { "pass" } else { "FAIL" },
                cell(&check.detail),
                check.took_ms
            )?;
        }
    }
    Ok(())
}

fn write_watch(out: &mut String, r: &DeployReport) -> std::fmt::Result {
    if let Some(watch) = &r.watch {
        writeln!(
            out,
            "\n### Watch: {}\n",
            watch.failing.as_deref().unwrap_or("healthy")
        )?;
        writeln!(
            out,
            "| signal | before (old colour) | after (new colour) |\n| --- | --- | --- |"
        )?;
        let before = &watch.baseline;
        writeln!(
            out,
            "| commands failed | {} of {} | {} of {} |",
            before.commands_failed,
            before.commands_failed + before.commands_ok,
            watch.commands_failed,
            watch.commands_answered
        )?;
        writeln!(
            out,
            "| acknowledgement p95 | {} | {} |",
            opt_ms(before.ack_p95_ms),
            opt_ms(watch.ack_p95_ms)
        )?;
        writeln!(
            out,
            "| errors logged | - | {} during the watch |",
            watch.errors_logged
        )?;
        writeln!(
            out,
            "| Lavalink nodes up | {} of {} | - |",
            before.lavalink_nodes_up, before.lavalink_nodes
        )?;
        writeln!(
            out,
            "\nWatched {:.1} s, {} readings.",
            ms_to_s(watch.watched_ms),
            watch.readings
        )?;
    }
    Ok(())
}

fn write_steps(out: &mut String, r: &DeployReport) -> std::fmt::Result {
    writeln!(out, "\n### Steps\n")?;
    writeln!(
        out,
        "| at | step | outcome | detail |\n| --- | --- | --- | --- |"
    )?;
    for step in &r.steps {
        writeln!(
            out,
            "| {:.1} s | {} | {} | {} |",
            ms_to_s(step.at_ms),
            step.step,
            step.outcome,
            cell(&step.detail)
        )?;
    }
    Ok(())
}

/// Text fit for a table cell: one line, no pipes.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn opt_ms(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
}

#[allow(clippy::cast_precision_loss, reason = "milliseconds far below 2^52")]
fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
