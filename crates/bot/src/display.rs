//! How /queue and /nowplaying read.

use std::fmt::Write as _;

use music::{NowPlaying, QueuePage, format_duration};

/// Discord markdown without formatting surprises in titles.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of the queue.
pub fn queue(page: &QueuePage<'_>, now_playing: Option<&NowPlaying<'_>>) -> String {
    let mut text = String::new();
    if let Some(np) = now_playing {
        let _ = writeln!(text, "**Now:** {}", escape(&np.entry.info.title));
    }
    if page.lines.is_empty() {
        text.push_str("The queue is empty.");
        return text;
    }
    for line in &page.lines {
        let info = &line.entry.info;
        let length = if info.is_stream {
            "live".to_owned()
        } else {
            info.known_length()
                .map_or_else(|| "?".to_owned(), format_duration)
        };
        let _ = writeln!(
            text,
            "`{}.` {} — {} ({length})",
            line.position,
            escape(&info.title),
            escape(&info.author)
        );
    }
    let streams = if page.streams > 0 {
        format!(" + {} live", page.streams)
    } else {
        String::new()
    };
    let _ = write!(
        text,
        "Page {}/{} · {} tracks · {}{streams}",
        page.page,
        page.total_pages,
        page.total_tracks,
        format_duration(page.total_duration_ms)
    );
    text
}

/// The current track with its position bar.
pub fn now_playing(np: &NowPlaying<'_>, bar: Option<String>) -> String {
    let state = if np.paused {
        "⏸ Paused"
    } else {
        "▶ Playing"
    };
    let mut text = format!(
        "{state}: **{}** — {}\n",
        escape(&np.entry.info.title),
        escape(&np.entry.info.author)
    );
    if let Some(bar) = bar {
        text.push_str(&bar);
    }
    let _ = write!(text, "\nvolume {} · loop {:?}", np.volume, np.loop_mode);
    if !np.filters.is_empty() {
        let _ = write!(text, " · filters: {}", np.filters.join(", "));
    }
    text
}
