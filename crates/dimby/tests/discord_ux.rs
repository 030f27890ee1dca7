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
    counted("timed out", 1.0, || answers(&rig, "play", "timed_out")).await;
    // The slow search ran on and filled the cache: typing the words again finds its tracks
    // (while it runs, typing them again waits for the same search instead of starting one).
    let filled = tokio::time::timeout(GUARD, async {
        loop {
            let again =
                suggestions(&rig, &typing(&rig, "alice", "play", "query", "slow words")).await;
            if again.len() > 1 {
                return again;
            }
        }
    })
    .await
    .expect("the search fills the cache");
    assert!(
        filled.iter().all(|(name, _)| name.contains("slow words")),
        "{filled:?}"
    );
    assert_eq!(
        loads(&mut requests, "slow"),
        1,
        "one search for the words, however often typed"
    );
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

/// The guild's panel: the bot's message in the text channel that has buttons.
fn panels(rig: &Rig) -> Vec<Message> {
    rig.discord
        .channel_messages(rig.guild.text_channel())
        .into_iter()
        .filter(|message| !message.components.is_empty())
        .collect()
}

fn embed_title(message: &Message) -> String {
    message
        .embeds
        .first()
        .and_then(|embed| embed.title.clone())
        .unwrap_or_default()
}

fn field(message: &Message, name: &str) -> String {
    message
        .embeds
        .first()
        .and_then(|embed| embed.fields.iter().find(|field| field.name == name))
        .map(|field| field.value.clone())
        .unwrap_or_default()
}

async fn playing_title(rig: &Rig, not: Option<&str>) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Some(track) = rig.node_player().and_then(|player| player.track)
                && Some(track.info.title.as_str()) != not
            {
                return track.info.title;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a track plays on the node")
}

#[tokio::test]
async fn the_now_playing_panel_follows_the_track_and_its_buttons_run_the_commands() {
    let rig = start_with(BotSettings::default(), |_, _| {
        bot::runtime::Observers::default()
    })
    .await;
    let alice = rig.guild.member("alice").expect("alice");
    let channel = rig.guild.text_channel();
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    let first = playing_title(&rig, None).await;
    // Playback started: one panel, in the channel /play was typed in, showing the track.
    let panel = rig
        .discord
        .wait_for_message(channel, |message| embed_title(message) == first)
        .await
        .expect("the panel is posted");
    let (_, buttons) = page_of(&panel);
    assert!(
        buttons.iter().any(|(id, _)| id == "panel:pause"),
        "{buttons:?}"
    );
    assert_eq!(field(&panel, "Up next"), "Nothing queued");
    let stored = rig
        .store
        .load_guild(rig.guild.id.get())
        .await
        .expect("store")
        .and_then(|state| state.panel)
        .expect("the panel's message is stored");
    assert_eq!(stored.message_id, panel.id.get());

    // A track queued: the panel is edited in place to show what comes next.
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:240000"),
    )
    .await;
    rig.discord
        .wait_for_message_change(channel, |change| match change {
            sim::discord::MessageChange::Edited(message) => {
                message.id == panel.id && field(message, "Up next") != "Nothing queued"
            }
            sim::discord::MessageChange::Deleted { .. } => false,
        })
        .await
        .expect("the panel shows the queued track");

    // Pause from the panel: the node pauses, the panel answers with resume.
    let paused = press(&rig, "alice", &panel, "panel:pause").await;
    assert_eq!(paused.id, panel.id);
    let (_, buttons) = page_of(&paused);
    assert!(
        buttons.iter().any(|(id, _)| id == "panel:resume"),
        "{buttons:?}"
    );
    assert!(
        rig.node_player().expect("player").paused,
        "paused on the node"
    );

    // bob is not in the bot's channel: refused, privately; the panel stays as it is.
    let refused = rig
        .discord
        .press_button(&ButtonPress::new(
            channel,
            panel.id,
            rig.guild.member("bob").expect("bob"),
            "panel:resume",
        ))
        .expect("press");
    let refusal = tokio::time::timeout(GUARD, refused.original())
        .await
        .expect("answered in time")
        .expect("answered");
    assert!(
        refusal.content.contains("to control playback"),
        "{}",
        refusal.content
    );
    assert!(rig.node_player().expect("player").paused);

    // Loop and skip from the panel; skip brings the next track into the same panel.
    let looped = press(&rig, "alice", &paused, "panel:loop:track").await;
    assert_eq!(field(&looped, "Loop"), "track");
    let skipped = press(&rig, "alice", &looped, "panel:skip").await;
    let second = playing_title(&rig, Some(&first)).await;
    assert_eq!(embed_title(&skipped), second);
    assert_eq!(panels(&rig).len(), 1, "one panel, never piled up");

    // /stop: the panel goes, and is forgotten.
    rig.command(rig.slash("alice", "stop")).await;
    rig.discord
        .wait_for_message_change(channel, |change| {
            matches!(change, sim::discord::MessageChange::Deleted { id, .. } if *id == panel.id)
        })
        .await
        .expect("the panel is deleted");
    let stored = rig
        .store
        .load_guild(rig.guild.id.get())
        .await
        .expect("store")
        .and_then(|state| state.panel);
    assert_eq!(stored, None);
    assert!(panels(&rig).is_empty());
}

fn settings(rig: &Rig, user: &str, sub: &str, options: SlashOptions) -> SlashCommand {
    rig.slash(user, "settings").subcommand(sub, options)
}

#[tokio::test]
async fn settings_a_dj_role_and_skipping_by_vote() {
    use twilight_model::application::interaction::application_command::CommandOptionValue;
    let spec = sim::discord::GuildSpec::default()
        .role("DJ", twilight_model::guild::Permissions::empty())
        .member("carol", &["DJ"])
        .member("dave", &[]);
    let rig = common::rig::start_in(&spec, BotSettings::default(), |_, _| {
        bot::runtime::Observers::default()
    })
    .await;
    let dj = rig.guild.role("DJ").expect("the DJ role");
    for name in ["alice", "bob", "carol", "dave"] {
        rig.discord
            .join_voice(
                rig.guild.id,
                rig.guild.member(name).expect("member"),
                rig.guild.voice_channel(0),
            )
            .expect("joins");
    }

    // Only Manage Server changes the settings; anyone may read them.
    let (text, ephemeral) = rig
        .command(settings(
            &rig,
            "alice",
            "vote-skip",
            SlashOptions::default().integer("percent", 10),
        ))
        .await;
    assert!(ephemeral && text.contains("Manage Server"), "{text}");
    let (text, _) = rig
        .command(settings(
            &rig,
            "owner",
            "dj-role",
            SlashOptions::default().option("role", CommandOptionValue::Role(dj)),
        ))
        .await;
    assert!(text.contains(&format!("<@&{dj}>")), "{text}");
    let (text, _) = rig
        .command(settings(&rig, "bob", "show", SlashOptions::default()))
        .await;
    assert!(text.contains("Vote skip: 50%"), "{text}");

    // alice's track plays, bob's waits.
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    let first = playing_title(&rig, None).await;
    rig.command(
        rig.slash("bob", "play")
            .string("query", "sim:length:300000"),
    )
    .await;

    // The volume is for DJs and the current track's requester.
    let (text, ephemeral) = rig
        .command(rig.slash("bob", "volume").integer("level", 50))
        .await;
    assert!(ephemeral && text.contains("Only DJs"), "{text}");
    rig.command(rig.slash("alice", "volume").integer("level", 50))
        .await;
    assert_eq!(rig.node_player().expect("player").volume, 50);
    rig.command(rig.slash("carol", "volume").integer("level", 60))
        .await;
    assert_eq!(rig.node_player().expect("player").volume, 60);

    // bob is neither: his skip is a vote. Four listeners at 50 %: two votes.
    let (text, ephemeral) = rig.command(rig.slash("bob", "skip")).await;
    assert!(!ephemeral && text.contains("1 of 2 votes"), "{text}");
    let (text, ephemeral) = rig.command(rig.slash("bob", "skip")).await;
    assert!(ephemeral && text.contains("already"), "{text}");
    assert_eq!(
        playing_title(&rig, None).await,
        first,
        "one vote skips nothing"
    );
    let (text, _) = rig.command(rig.slash("dave", "skip")).await;
    assert!(text.contains("Skipped by vote (2 votes)"), "{text}");
    playing_title(&rig, Some(&first)).await;

    fresh_sessions_start_with_the_settings(&rig, dj.get()).await;
}

/// Starting values for a fresh session: set, kept through `/leave`, applied to the next one.
async fn fresh_sessions_start_with_the_settings(rig: &Rig, dj: u64) {
    rig.command(settings(
        rig,
        "owner",
        "volume",
        SlashOptions::default().integer("level", 40),
    ))
    .await;
    rig.command(settings(
        rig,
        "owner",
        "defaults",
        SlashOptions::default().boolean("stay", true),
    ))
    .await;
    rig.command(rig.slash("carol", "leave")).await;
    let kept = rig
        .store
        .guild_settings(rig.guild.id.get())
        .await
        .expect("settings");
    assert_eq!(kept.dj_role_id, Some(dj));
    assert_eq!(kept.default_volume, 40);
    assert!(kept.stay_by_default);
    rig.command(
        rig.slash("dave", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    playing_title(rig, None).await;
    assert_eq!(rig.node_player().expect("player").volume, 40);
    let state = rig
        .store
        .load_guild(rig.guild.id.get())
        .await
        .expect("store")
        .expect("the guild");
    assert!(state.stay, "24/7 on by default in the fresh session");
}
