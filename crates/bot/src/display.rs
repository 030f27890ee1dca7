//! How /queue and /nowplaying read.

use std::fmt::Write as _;

use music::{NowPlaying, PAGE_SIZE, QueuePage, format_duration};

/// Discord markdown without formatting surprises in titles.
pub(super) fn escape(text: &str) -> String {
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

/// A page of the history (newest first, [`PAGE_SIZE`] a page), or why there is none.
pub fn history(history: &[store::HistoryEntry], page: usize) -> Result<String, String> {
    if history.is_empty() {
        return Err("Nothing was played here yet: the history is empty.".to_owned());
    }
    let pages = history.len().div_ceil(PAGE_SIZE);
    if page == 0 || page > pages {
        return Err(format!(
            "Page {page} does not exist: the history has {pages} page{} (pick 1 to {pages}).",
            if pages == 1 { "" } else { "s" }
        ));
    }
    let mut text = String::from("**Recently played** (newest first)\n");
    for (n, played) in history
        .iter()
        .enumerate()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
    {
        let _ = writeln!(
            text,
            "`{}.` {} — {}",
            n + 1,
            escape(&played.entry.title),
            escape(&played.entry.author)
        );
    }
    let _ = write!(
        text,
        "Page {page}/{pages} · {} tracks · /previous plays the newest again",
        history.len()
    );
    Ok(text)
}

/// The caller's playlists.
pub fn playlists(lists: &[store::PlaylistSummary]) -> String {
    if lists.is_empty() {
        return "You have no saved playlists: /playlist save keeps the queue as one.".to_owned();
    }
    let mut text = format!(
        "**Your playlists** ({} of {})\n",
        lists.len(),
        store::MAX_PLAYLISTS_PER_USER
    );
    for list in lists {
        let _ = writeln!(
            text,
            "• **{}** — {} tracks",
            escape(&list.name),
            list.tracks
        );
    }
    text
}

/// A page of a playlist's tracks.
pub fn playlist(playlist: &store::Playlist, page: usize) -> Result<String, String> {
    let pages = playlist.entries.len().div_ceil(PAGE_SIZE).max(1);
    if page == 0 || page > pages {
        return Err(format!(
            "Page {page} does not exist: the playlist has {pages} page{} (pick 1 to {pages}).",
            if pages == 1 { "" } else { "s" }
        ));
    }
    let mut text = format!("**{}**\n", escape(&playlist.name));
    for (n, entry) in playlist
        .entries
        .iter()
        .enumerate()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
    {
        let _ = writeln!(
            text,
            "`{}.` {} — {}",
            n + 1,
            escape(&entry.title),
            escape(&entry.author)
        );
    }
    let _ = write!(
        text,
        "Page {page}/{pages} · {} tracks · /playlist load queues them",
        playlist.entries.len()
    );
    Ok(text)
}

/// How much of the lyrics one answer holds: Discord's 2,000 characters less the heading and the
/// credit line.
const LYRICS_PAGE_CHARS: usize = 1_700;

/// A page of lyrics: the heading, the page's lines (pages break between lines), the credit.
pub fn lyrics(
    title: &str,
    author: &str,
    lyrics: &lavalink::model::Lyrics,
    page: usize,
) -> Result<String, String> {
    let words = lyrics.words();
    let pages = lyric_pages(&words);
    if pages.is_empty() {
        return Err(format!("No lyrics found for {title} by {author}."));
    }
    let Some(text) = page.checked_sub(1).and_then(|i| pages.get(i)) else {
        return Err(format!(
            "Page {page} does not exist: the lyrics have {} page{} (pick 1 to {}).",
            pages.len(),
            if pages.len() == 1 { "" } else { "s" },
            pages.len()
        ));
    };
    let mut out = format!("**{}** — {}", escape(title), escape(author));
    if pages.len() > 1 {
        let _ = write!(out, " (page {page}/{})", pages.len());
    }
    out.push('\n');
    out.push_str(text);
    let provider = lyrics.provider.as_deref().unwrap_or(&lyrics.source_name);
    let _ = write!(out, "\n— lyrics from {}", escape(provider));
    if page < pages.len() {
        let _ = write!(out, " · /lyrics page: {} for more", page + 1);
    }
    Ok(out)
}

/// The words cut into pages of at most [`LYRICS_PAGE_CHARS`] characters, between lines (a line
/// longer than a page is cut where it must).
fn lyric_pages(words: &str) -> Vec<String> {
    let mut pages = Vec::new();
    let mut page = String::new();
    for line in words.lines() {
        let mut line = line.to_owned();
        while line.chars().count() > LYRICS_PAGE_CHARS {
            let cut: String = line.chars().take(LYRICS_PAGE_CHARS).collect();
            line = line.chars().skip(LYRICS_PAGE_CHARS).collect();
            if !page.is_empty() {
                pages.push(std::mem::take(&mut page));
            }
            pages.push(cut);
        }
        if page.chars().count() + line.chars().count() + 1 > LYRICS_PAGE_CHARS {
            pages.push(std::mem::take(&mut page));
        }
        if !page.is_empty() {
            page.push('\n');
        }
        page.push_str(&line);
    }
    if !page.trim().is_empty() {
        pages.push(page);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lyrics_of(text: &str) -> lavalink::model::Lyrics {
        lavalink::model::Lyrics {
            source_name: "test".into(),
            provider: Some("Provider".into()),
            text: Some(text.into()),
            lines: Vec::new(),
            plugin: serde_json::Value::Null,
        }
    }

    #[test]
    fn long_lyrics_are_paged_between_lines_and_every_line_is_kept() {
        let text: Vec<String> = (0..300).map(|n| format!("line number {n}")).collect();
        let text = text.join("\n");
        let lyrics = lyrics_of(&text);
        let first = super::lyrics("Song", "Singer", &lyrics, 1).expect("page 1");
        assert!(first.len() < 2_000, "{}", first.len());
        assert!(
            first.contains("(page 1/") && first.contains("/lyrics page: 2"),
            "{first}"
        );
        let pages = lyric_pages(&text);
        assert!(pages.len() > 1);
        assert_eq!(pages.join("\n"), text, "nothing lost or repeated");
        let last = super::lyrics("Song", "Singer", &lyrics, pages.len()).expect("last");
        assert!(!last.contains("for more"), "{last}");
        let error = super::lyrics("Song", "Singer", &lyrics, pages.len() + 1).expect_err("no page");
        assert!(error.contains("does not exist"), "{error}");
        let short = super::lyrics("Song", "Singer", &lyrics_of("la la"), 1).expect("one page");
        assert!(!short.contains("page"), "{short}");
        assert!(short.ends_with("— lyrics from Provider"), "{short}");
    }
}
