//! The bot's Discord interface beyond answers to slash commands, end to end against the
//! stand-ins: suggestions while a user types (autocomplete) and the queue's pages turned with
//! buttons.
//!
//! Suggestions: `/play` suggests what a search on the cluster finds (the track's URL as the
//! value, which `/play` then loads exactly), reuses a recent search instead of asking again,
//! leaves a URL as it is, and answers with the text as typed when the search is too slow;
//! `/filter preset` suggests the preset names, `/playlist` the typist's own playlists.
//!
//! Queue pages: `/queue` carries previous / refresh / next buttons; a press updates the message
//! in place through the same command; a stale page (the queue shrank or emptied since) updates
//! to what there is now instead of failing.

use std::time::Duration;

use bot::runtime::BotSettings;
use sim::discord::{ButtonPress, SlashCommand, SlashOptions};
use twilight_model::application::command::CommandOptionChoiceValue;
use twilight_model::channel::Message;
use twilight_model::channel::message::Component;

mod common;
use common::rig::{Rig, start_with};

/// A failure guard for each wait, never a delay.
const GUARD: Duration = Duration::from_secs(10);

fn series(rig: &Rig, name: &str) -> f64 {
    common::rig::series(&rig.metrics, name).unwrap_or(0.0)
}

fn answers(rig: &Rig, command: &str, outcome: &str) -> f64 {
    series(
        rig,
        &format!("dimby_autocomplete_answers_total{{command=\"{command}\",outcome=\"{outcome}\"}}"),
    )
}

/// Waits until `read` gives `expected` (the bot counts an answer once Discord took it, a moment
/// after the test sees it); fails naming what it waited for after the guard.
async fn counted(what: &str, expected: f64, read: impl Fn() -> f64) {
    let waited = tokio::time::timeout(GUARD, async {
        while (read() - expected).abs() > f64::EPSILON {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: {} instead of {expected}", read());
}

/// The choices the bot suggests for `command`, as (name, value) pairs.
async fn suggestions(rig: &Rig, command: &SlashCommand) -> Vec<(String, String)> {
    let handle = rig.discord.autocomplete(command).expect("autocomplete");
    let choices = tokio::time::timeout(GUARD, handle.choices())
        .await
        .expect("suggestions within the guard")
        .expect("suggestions");
    assert!(
        handle.record().rejections.is_empty(),
        "Discord refused the answer: {:?}",
        handle.record().rejections
    );
    choices
        .into_iter()
        .map(|choice| {
            let value = match choice.value {
                CommandOptionChoiceValue::String(value) => value,
                other => panic!("a string option got {other:?}"),
            };
            (choice.name, value)
        })
        .collect()
}

fn typing(rig: &Rig, user: &str, name: &str, option: &str, text: &str) -> SlashCommand {
    rig.slash(user, name).typing(option, text)
}

fn typing_in(rig: &Rig, user: &str, name: &str, sub: &str, text: &str) -> SlashCommand {
    rig.slash(user, name)
        .subcommand(sub, SlashOptions::default().typing("name", text))
}

fn playlist(rig: &Rig, user: &str, sub: &str, name: &str) -> SlashCommand {
    rig.slash(user, "playlist")
        .subcommand(sub, SlashOptions::default().string("name", name))
}

/// How many `/v4/loadtracks` requests the node got whose query contains `needle`.
fn loads(
    requests: &mut tokio::sync::broadcast::Receiver<sim::lavalink::ReceivedRequest>,
    needle: &str,
) -> usize {
    let mut count = 0;
    while let Ok(request) = requests.try_recv() {
        if request.path == "/v4/loadtracks"
            && request
                .query
                .as_deref()
                .is_some_and(|query| query.contains(needle))
        {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn suggestions_while_typing_come_from_searches_presets_and_own_playlists() {
    let settings = BotSettings {
        autocomplete_timeout: Duration::from_millis(300),
        ..BotSettings::default()
    };
    let rig = start_with(settings, |_, _| bot::runtime::Observers::default()).await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let mut requests = rig.node.requests();

    // A search: tracks with title, author and length, their URLs as values.
    let found = suggestions(&rig, &typing(&rig, "alice", "play", "query", "never gonna")).await;
    // The stand-in's searches find five tracks; the bot suggests up to ten.
    assert_eq!(found.len(), 5, "{found:?}");
    for (name, value) in &found {
        assert!(
            name.contains("never gonna") && name.contains(" — "),
            "{name}"
        );
        assert!(name.ends_with(')'), "the length shows: {name}");
        assert!(
            value.starts_with("https://www.youtube.com/watch?v="),
            "{value}"
        );
    }
    assert_eq!(loads(&mut requests, "never"), 1);

    // The same words again, spelled otherwise: the cache answers, the node is not asked.
    let again = suggestions(
        &rig,
        &typing(&rig, "alice", "play", "query", "Never  Gonna"),
    )
    .await;
    assert_eq!(again, found);
    assert_eq!(loads(&mut requests, "never"), 0);
    counted("searched", 1.0, || answers(&rig, "play", "searched")).await;
    counted("cached", 1.0, || answers(&rig, "play", "cached")).await;

    // Picking a suggestion plays exactly that track.
    let (picked_name, picked) = found[3].clone();
    let (text, ephemeral) = rig
        .command(rig.slash("alice", "play").string("query", picked.clone()))
        .await;
    assert!(!ephemeral, "{text}");
    let playing = tokio::time::timeout(GUARD, async {
        loop {
            if let Some(track) = rig.node_player().and_then(|player| player.track) {
                return track;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the picked track plays");
    assert_eq!(
        playing.info.uri.as_deref(),
        Some(picked.as_str()),
        "{picked_name}"
    );

    // A URL is suggested as it is and not searched.
    let url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";
    let as_is = suggestions(&rig, &typing(&rig, "alice", "play", "query", url)).await;
    assert_eq!(as_is, [(url.to_owned(), url.to_owned())]);
    assert_eq!(loads(&mut requests, "dQw4w9WgXcQ"), 0);

    // Presets: the names containing what is typed, in the table's order.
    let presets = suggestions(&rig, &typing_in(&rig, "alice", "filter", "preset", "bass")).await;
    let names: Vec<&str> = presets.iter().map(|(_, value)| value.as_str()).collect();
    assert_eq!(
        names,
        ["bassboost-low", "bassboost-medium", "bassboost-high"]
    );

    // Playlists: the typist's own, matching what is typed.
    for name in ["Road trip", "Rock classics", "Jazz"] {
        let (text, _) = rig.command(playlist(&rig, "alice", "save", name)).await;
        assert!(text.contains(name), "{text}");
    }
    let mine = suggestions(&rig, &typing_in(&rig, "alice", "playlist", "load", "ro")).await;
    let names: Vec<&str> = mine.iter().map(|(_, value)| value.as_str()).collect();
    assert_eq!(names, ["Road trip", "Rock classics"]);
    let theirs = suggestions(&rig, &typing_in(&rig, "bob", "playlist", "load", "ro")).await;
    assert!(theirs.is_empty(), "bob sees alice's playlists: {theirs:?}");

    // A search slower than the bot waits for: the text as typed, in time for Discord.
    rig.node.slow(Duration::from_secs(2));
    let slow = suggestions(&rig, &typing(&rig, "alice", "play", "query", "slow words")).await;
    assert_eq!(slow, [("slow words".to_owned(), "slow words".to_owned())]);
    rig.node.heal();
    counted("timed out or failed", 1.0, || {
        answers(&rig, "play", "timed_out") + answers(&rig, "play", "failed")
    })
    .await;
}

/// The text of a message and the custom ids of its buttons with whether each is disabled.
fn page_of(message: &Message) -> (String, Vec<(String, bool)>) {
    let buttons = message
        .components
        .iter()
        .flat_map(|row| match row {
            Component::ActionRow(row) => row.components.clone(),
            _ => Vec::new(),
        })
        .filter_map(|component| match component {
            Component::Button(button) => Some((button.custom_id?, button.disabled)),
            _ => None,
        })
        .collect();
    (message.content.clone(), buttons)
}

fn button(buttons: &[(String, bool)], slot: &str) -> String {
    let found = buttons.iter().find(|(id, _)| id.ends_with(slot));
    let Some((id, _)) = found else {
        panic!("no {slot} button in {buttons:?}");
    };
    id.clone()
}

async fn press(rig: &Rig, user: &str, message: &Message, custom_id: &str) -> Message {
    let press = ButtonPress::new(
        message.channel_id,
        message.id,
        rig.guild.member(user).expect("member"),
        custom_id,
    );
    let handle = rig.discord.press_button(&press).expect("press");
    tokio::time::timeout(GUARD, handle.updated_message())
        .await
        .expect("the update within the guard")
        .expect("the message updated")
}

async fn queue_message(rig: &Rig, page: Option<i64>) -> Message {
    let mut command = rig.slash("alice", "queue");
    if let Some(page) = page {
        command = command.integer("page", page);
    }
    let handle = rig.discord.invoke(&command).expect("invoke");
    tokio::time::timeout(GUARD, handle.original())
        .await
        .expect("an answer within the guard")
        .expect("answered")
}

#[tokio::test]
async fn queue_pages_turn_with_buttons_and_stale_pages_answer_cleanly() {
    let rig = start_with(BotSettings::default(), |_, _| {
        bot::runtime::Observers::default()
    })
    .await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    // One track plays, 25 wait: three pages of ten.
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    let (text, _) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:playlist:25"),
        )
        .await;
    assert!(text.contains("25"), "{text}");

    let first = queue_message(&rig, None).await;
    let (text, buttons) = page_of(&first);
    assert!(text.contains("Page 1/3") && text.contains("`1.`"), "{text}");
    assert_eq!(buttons.len(), 3, "{buttons:?}");
    assert!(
        buttons[0].1 && !buttons[2].1,
        "previous off, next on: {buttons:?}"
    );

    // Next, next: the same message turns to pages 2 and 3.
    let second = press(&rig, "alice", &first, &button(&buttons, "next")).await;
    assert_eq!(second.id, first.id, "the message is updated, not a new one");
    let (text, buttons) = page_of(&second);
    assert!(
        text.contains("Page 2/3") && text.contains("`11.`"),
        "{text}"
    );
    assert!(!buttons[0].1 && !buttons[2].1, "{buttons:?}");
    // Anyone may turn the pages (bob is not even in voice).
    let third = press(&rig, "bob", &second, &button(&buttons, "next")).await;
    let (text, buttons) = page_of(&third);
    assert!(
        text.contains("Page 3/3") && text.contains("`25.`"),
        "{text}"
    );
    assert!(buttons[2].1, "next off on the last page: {buttons:?}");

    // The queue shrinks to one page: page 3's refresh shows the last page there is.
    let (text, _) = rig.command(rig.slash("alice", "clear")).await;
    assert!(!text.is_empty());
    rig.command(rig.slash("alice", "play").string("query", "sim:playlist:4"))
        .await;
    let refreshed = press(&rig, "alice", &third, &button(&buttons, "refresh")).await;
    let (text, buttons) = page_of(&refreshed);
    assert!(text.contains("Page 1/1") && text.contains("`4.`"), "{text}");
    assert!(buttons[0].1 && buttons[2].1, "nowhere to go: {buttons:?}");

    // Emptied: the page says so and its buttons go.
    rig.command(rig.slash("alice", "clear")).await;
    let emptied = press(&rig, "alice", &refreshed, &button(&buttons, "refresh")).await;
    let (text, buttons) = page_of(&emptied);
    assert!(text.contains("The queue is empty."), "{text}");
    assert!(buttons.is_empty(), "{buttons:?}");

    // The slash command still refuses a page that does not exist, only its caller sees it.
    let handle = rig
        .discord
        .invoke(&rig.slash("alice", "queue").integer("page", 9))
        .expect("invoke");
    let refusal = tokio::time::timeout(GUARD, handle.original())
        .await
        .expect("answered in time")
        .expect("answered");
    assert!(
        refusal.flags.is_some_and(
            |flags| flags.contains(twilight_model::channel::message::MessageFlags::EPHEMERAL)
        ),
        "{}",
        refusal.content
    );
    // Every press went through the queue command and was counted as one.
    counted("queue commands", 5.0, || {
        series(
            &rig,
            "dimby_commands_total{command=\"queue\",outcome=\"ok\"}",
        )
    })
    .await;
}
