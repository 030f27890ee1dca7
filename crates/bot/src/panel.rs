//! The now-playing panel: one message per guild, in the channel where playback started, that
//! shows the current track (title, author, length, the position when it was drawn, who asked
//! for it), the loop mode, the volume, the filters and what comes next, with buttons for the
//! commands listeners reach for. Each button stands for a typed command
//! ([`buttons`](super::buttons)), so a press is checked and refused exactly as the slash command.
//!
//! The guild's actor owns the panel: it is posted when playback starts, edited in place when the
//! track changes or a command changes what it shows, answered in place when one of its buttons
//! is pressed, and deleted when playback ends, so panels never pile up. Its message id is
//! stored with the guild, so it survives a restart.

use std::fmt::Write as _;

use music::{Entry, GuildPlayer, LoopMode, format_duration};
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle};
use twilight_model::channel::message::{Component, Embed, EmojiReactionType};
use twilight_util::builder::embed::{
    EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder, ImageSource,
};

use discord::Reply;

use super::display::escape;

/// The panel's colour: playing and paused.
const PLAYING: u32 = 0x001D_B954;
const PAUSED: u32 = 0x008C_8C8C;

/// The loop mode a press of the loop button sets: off, then the track, then the queue.
pub fn next_loop(mode: LoopMode) -> LoopMode {
    match mode {
        LoopMode::Off => LoopMode::Track,
        LoopMode::Track => LoopMode::Queue,
        LoopMode::Queue => LoopMode::Off,
    }
}

/// The loop mode in words (as `/loop` takes it).
pub fn loop_word(mode: LoopMode) -> &'static str {
    match mode {
        LoopMode::Off => "off",
        LoopMode::Track => "track",
        LoopMode::Queue => "queue",
    }
}

/// The panel for what `player` plays at `now_ms`; `None` when nothing is current.
pub fn render(player: &GuildPlayer, now_ms: u64) -> Option<Reply> {
    let np = player.now_playing(now_ms)?;
    let bar = player.position_bar(now_ms);
    let embed = embed(&np, bar.as_deref(), player.queue());
    Some(
        Reply::default()
            .embed(embed)
            .row(controls(np.paused))
            .row(modes(np.loop_mode)),
    )
}

fn embed(np: &music::NowPlaying<'_>, bar: Option<&str>, queue: &[Entry]) -> Embed {
    let info = &np.entry.info;
    let length = if info.is_stream {
        "live".to_owned()
    } else {
        info.known_length()
            .map_or_else(|| "?".to_owned(), format_duration)
    };
    let mut description = format!("by **{}**\n", escape(&info.author));
    if let Some(bar) = bar {
        description.push_str(bar);
        description.push('\n');
    }
    let _ = write!(
        description,
        "`{} / {length}` · requested by <@{}>",
        format_duration(np.position_ms),
        np.entry.requester_id
    );
    let up_next = queue.first().map_or_else(
        || "Nothing queued".to_owned(),
        |next| {
            format!(
                "{} — {}",
                escape(&next.info.title),
                escape(&next.info.author)
            )
        },
    );
    let queued_ms: u64 = queue
        .iter()
        .filter_map(Entry::length_ms)
        .fold(0, u64::saturating_add);
    let mut builder = EmbedBuilder::new()
        .title(discord::autocomplete::truncate(&info.title, 256))
        .description(description)
        .color(if np.paused { PAUSED } else { PLAYING })
        .field(EmbedFieldBuilder::new("Loop", loop_word(np.loop_mode)).inline())
        .field(EmbedFieldBuilder::new("Volume", format!("{}%", np.volume)).inline())
        .field(
            EmbedFieldBuilder::new(
                "Filters",
                if np.filters.is_empty() {
                    "none".to_owned()
                } else {
                    np.filters.join(", ")
                },
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new(
            "Up next",
            discord::autocomplete::truncate(&up_next, 1_024),
        ))
        .footer(EmbedFooterBuilder::new(format!(
            "{} · {} in the queue ({})",
            if np.paused {
                "⏸ Paused"
            } else {
                "▶ Playing"
            },
            queue.len(),
            format_duration(queued_ms)
        )));
    if let Some(uri) = info
        .uri
        .as_deref()
        .filter(|uri| uri.starts_with("https://"))
    {
        builder = builder.url(uri);
    }
    if let Some(artwork) = info
        .artwork_url
        .as_deref()
        .and_then(|url| ImageSource::url(url).ok())
    {
        builder = builder.thumbnail(artwork);
    }
    builder.build()
}

/// Previous, pause or resume, skip, stop.
fn controls(paused: bool) -> Component {
    row(vec![
        button("panel:previous", "⏮", "Previous", ButtonStyle::Secondary),
        if paused {
            button("panel:resume", "▶", "Resume", ButtonStyle::Primary)
        } else {
            button("panel:pause", "⏸", "Pause", ButtonStyle::Primary)
        },
        button("panel:skip", "⏭", "Skip", ButtonStyle::Secondary),
        button("panel:stop", "⏹", "Stop", ButtonStyle::Danger),
    ])
}

/// Loop (to the next mode) and shuffle.
fn modes(mode: LoopMode) -> Component {
    let next = next_loop(mode);
    row(vec![
        button(
            &format!("panel:loop:{}", loop_word(next)),
            "🔁",
            &format!("Loop: {}", loop_word(mode)),
            ButtonStyle::Secondary,
        ),
        button("panel:shuffle", "🔀", "Shuffle", ButtonStyle::Secondary),
    ])
}

fn row(components: Vec<Component>) -> Component {
    Component::ActionRow(ActionRow {
        components,
        id: None,
    })
}

fn button(custom_id: &str, emoji: &str, label: &str, style: ButtonStyle) -> Component {
    Component::Button(Button {
        custom_id: Some(custom_id.to_owned()),
        disabled: false,
        emoji: Some(EmojiReactionType::Unicode {
            name: emoji.to_owned(),
        }),
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style,
        url: None,
    })
}

/// What a press on a panel that is no longer the guild's panel shows: the message loses its
/// buttons and says so.
pub fn retired() -> Reply {
    Reply::text("This panel is no longer current: the bot's panel is the newest one.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_button_cycles_through_every_mode() {
        let mut mode = LoopMode::Off;
        let mut seen = Vec::new();
        for _ in 0..3 {
            mode = next_loop(mode);
            seen.push(loop_word(mode));
        }
        assert_eq!(seen, ["track", "queue", "off"]);
    }

    #[test]
    fn every_panel_button_stands_for_a_command() {
        for paused in [false, true] {
            for mode in [LoopMode::Off, LoopMode::Track, LoopMode::Queue] {
                for row in [controls(paused), modes(mode)] {
                    let Component::ActionRow(row) = row else {
                        panic!("not a row");
                    };
                    assert!(row.components.len() <= 5, "Discord's five a row");
                    for component in row.components {
                        let Component::Button(button) = component else {
                            panic!("not a button");
                        };
                        let id = button.custom_id.unwrap_or_default();
                        assert!(super::super::buttons::parse(&id).is_some(), "{id}");
                    }
                }
            }
        }
    }
}
