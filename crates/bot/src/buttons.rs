//! The buttons the bot puts on its messages: what each press stands for (its `custom_id`
//! names a typed [`Command`], so a press goes through the same checks and refusals as the slash
//! command) and how the rows look.
//!
//! A `custom_id` is `<command>:<argument>[:<slot>]`: `queue:3:next` is page 3 of the queue,
//! from the "next" button (the slot keeps ids unique within a message, as Discord requires,
//! when two buttons lead to the same page). Ids stay valid across restarts and builds as long
//! as the command exists; an id this build does not know is answered as a button no longer in
//! use.

use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle};

use music::LoopMode;

use super::commands::Command;

/// The command a button's `custom_id` stands for; `None` for ids this build does not know.
pub fn parse(custom_id: &str) -> Option<Command> {
    let mut parts = custom_id.split(':');
    let (command, argument) = (parts.next()?, parts.next()?);
    match command {
        "queue" => {
            let page: usize = argument.parse().ok()?;
            (page >= 1).then_some(Command::Queue { page })
        }
        "panel" => panel(argument, parts.next()),
        _ => None,
    }
}

/// A button of the now-playing panel ([`panel`](super::panel)): `panel:pause`, `panel:loop:track`.
fn panel(action: &str, argument: Option<&str>) -> Option<Command> {
    Some(match action {
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "skip" => Command::Skip { to: None },
        "previous" => Command::Previous,
        "stop" => Command::Stop,
        "shuffle" => Command::Shuffle,
        "loop" => Command::Loop {
            mode: match argument? {
                "off" => LoopMode::Off,
                "track" => LoopMode::Track,
                "queue" => LoopMode::Queue,
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The row under a page of the queue: previous, this page again (the queue may have changed),
/// next. A button that leads nowhere is shown disabled.
pub fn queue_row(page: usize, total_pages: usize) -> Component {
    row(vec![
        button(
            format!("queue:{}:previous", page.saturating_sub(1).max(1)),
            "◀ Previous",
            page <= 1,
        ),
        button(format!("queue:{page}:refresh"), "Refresh", false),
        button(
            format!(
                "queue:{}:next",
                page.saturating_add(1).min(total_pages.max(1))
            ),
            "Next ▶",
            page >= total_pages,
        ),
    ])
}

fn row(components: Vec<Component>) -> Component {
    Component::ActionRow(ActionRow {
        components,
        id: None,
    })
}

fn button(custom_id: String, label: &str, disabled: bool) -> Component {
    Component::Button(Button {
        custom_id: Some(custom_id),
        disabled,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style: ButtonStyle::Secondary,
        url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(row: &Component) -> Vec<(String, bool)> {
        let Component::ActionRow(row) = row else {
            return Vec::new();
        };
        row.components
            .iter()
            .filter_map(|component| match component {
                Component::Button(button) => Some((button.custom_id.clone()?, button.disabled)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_queue_button_parses_back_to_its_page() {
        for (page, total) in [(1, 1), (1, 3), (2, 3), (3, 3)] {
            let buttons = ids(&queue_row(page, total));
            assert_eq!(buttons.len(), 3);
            for (id, _) in &buttons {
                let Some(Command::Queue { page: target }) = parse(id) else {
                    panic!("{id} does not parse");
                };
                assert!((1..=total).contains(&target), "{id} leads off the queue");
            }
            // Custom ids are unique within a message (Discord refuses duplicates).
            let mut unique: Vec<&String> = buttons.iter().map(|(id, _)| id).collect();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 3, "{buttons:?}");
            assert_eq!(
                buttons[0].1,
                page == 1,
                "previous disabled on the first page"
            );
            assert_eq!(
                buttons[2].1,
                page == total,
                "next disabled on the last page"
            );
        }
    }

    #[test]
    fn unknown_and_malformed_ids_are_not_commands() {
        for id in [
            "", "queue", "queue:", "queue:0", "queue:-1", "queue:x", "dance:1",
        ] {
            assert_eq!(parse(id), None, "{id}");
        }
    }
}
