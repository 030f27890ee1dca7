//! The bot end to end against both stand-ins: scripted users in voice use slash commands; the
//! answers show in Discord and the playback on the Lavalink stand-in.

use std::time::Duration;

use bot::health_command::HealthAccess;
use bot::runtime::{BotSettings, Observers};
use lavalink::model::{Event, IncomingMessage};
use sim::discord::SlashCommand;

mod common;
use common::rig::{Rig, series, start, start_with};

#[tokio::test]
async fn play_pause_skip_and_the_refusals() {
    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");

    // Not in a voice channel: a clear, private refusal.
    let (text, ephemeral) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:length:600000"),
        )
        .await;
    assert!(ephemeral, "{text}");
    assert!(text.contains("Join a voice channel"), "{text}");

    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let mut sent = rig.node.subscribe();
    let (text, ephemeral) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:length:600000"),
        )
        .await;
    assert!(!ephemeral, "{text}");
    rig.lavalink_event(&mut sent, |e| matches!(e, Event::TrackStart(_)))
        .await;
    let player = rig.node_player().expect("a player on the node");
    assert_eq!(
        player.track.map(|t| t.info.identifier).as_deref(),
        Some("sim:length:600000")
    );
    assert!(player.state.connected, "the voice state reached Lavalink");

    // bob is not in the bot's channel: he cannot control it.
    let (text, ephemeral) = rig.command(rig.slash("bob", "pause")).await;
    assert!(ephemeral && text.contains("to control playback"), "{text}");

    let (text, _) = rig.command(rig.slash("alice", "pause")).await;
    assert!(!text.is_empty());
    assert!(
        rig.node_player().expect("player").paused,
        "paused on the node"
    );
    let (_, _) = rig.command(rig.slash("alice", "resume")).await;
    assert!(!rig.node_player().expect("player").paused);

    // Out of range: refused with what to do.
    let (text, ephemeral) = rig
        .command(rig.slash("alice", "volume").integer("level", 500))
        .await;
    assert!(ephemeral && text.contains("200"), "{text}");
    let (_, ephemeral) = rig
        .command(rig.slash("alice", "volume").integer("level", 80))
        .await;
    assert!(!ephemeral);
    assert_eq!(rig.node_player().expect("player").volume, 80);

    // A second track queues; skip plays it.
    let (text, _) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:length:120000"),
        )
        .await;
    assert!(!text.is_empty());
    let (queue, _) = rig.command(rig.slash("alice", "queue")).await;
    assert!(queue.contains("`1.`"), "{queue}");
    rig.command(rig.slash("alice", "skip")).await;
    assert_eq!(
        rig.node_player()
            .and_then(|p| p.track)
            .map(|t| t.info.identifier)
            .as_deref(),
        Some("sim:length:120000")
    );
    let (now, _) = rig.command(rig.slash("alice", "nowplaying")).await;
    assert!(now.contains("🔘"), "a position bar: {now}");

    // A load failure is explained.
    let (text, ephemeral) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:error:common"),
        )
        .await;
    assert!(ephemeral && text.contains("could not load"), "{text}");

    let (_, _) = rig.command(rig.slash("alice", "leave")).await;
    assert!(
        rig.node_player().is_none(),
        "the player is gone from the node"
    );
}

#[tokio::test]
async fn a_play_request_waits_for_a_node_and_then_plays() {
    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    rig.node.graceful_shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while rig.cluster.has_eligible_node() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the cluster notices the node is gone");

    let (text, ephemeral) = rig
        .command(
            rig.slash("alice", "play")
                .string("query", "sim:length:600000"),
        )
        .await;
    assert!(!ephemeral, "{text}");
    assert!(
        text.contains("unavailable") && text.contains("as soon as one is back"),
        "{text}"
    );
    // The request is in the store, so a restart now would not lose it.
    let stored = rig
        .store
        .load_guild(rig.guild.id.get())
        .await
        .expect("read")
        .expect("the guild is stored");
    assert_eq!(
        stored
            .waiting
            .iter()
            .map(|w| w.query.as_str())
            .collect::<Vec<_>>(),
        ["sim:length:600000"]
    );
    assert_eq!(
        stored.voice_channel_id,
        Some(rig.guild.voice_channel(0).get())
    );

    // The node comes back: the request plays without anyone asking again.
    let mut sent = rig.node.subscribe();
    rig.node.restart().await.expect("restart");
    rig.lavalink_event(&mut sent, |e| matches!(e, Event::TrackStart(_)))
        .await;
    assert_eq!(
        rig.node_player()
            .and_then(|p| p.track)
            .map(|t| t.info.identifier)
            .as_deref(),
        Some("sim:length:600000")
    );
    // Played: no longer waiting in the store (dropped right after the play went out).
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let state = rig
                .store
                .load_guild(rig.guild.id.get())
                .await
                .expect("read");
            if state.is_some_and(|s| s.waiting.is_empty() && s.current.is_some()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the played request left the store");
}

#[tokio::test]
async fn an_invalid_voice_session_is_rejoined() {
    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let mut sent = rig.node.subscribe();
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    rig.lavalink_event(&mut sent, |e| matches!(e, Event::TrackStart(_)))
        .await;
    let joins = rig.discord.voice_commands().len();

    // Discord invalidates the node's voice session (4006): the bot rejoins the same channel.
    rig.node
        .close_voice(
            lavalink::model::GuildId(rig.guild.id.get()),
            4006,
            "Session no longer valid.",
        )
        .expect("close the voice socket");
    let rejoin = tokio::time::timeout(
        Duration::from_secs(10),
        rig.discord.wait_for_voice_command(joins + 1),
    )
    .await
    .expect("a rejoin within the guard")
    .expect("op 4");
    assert_eq!(rejoin.channel_id, Some(rig.guild.voice_channel(0)));
    // And the node's player is connected again with the new voice session.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(message) = sent.recv().await
                && let IncomingMessage::PlayerUpdate(update) = &message.message
                && update.state.connected
            {
                return;
            }
        }
    })
    .await
    .expect("connected again");
}

/// The value of one series in the bot's metrics, if it has one.
#[tokio::test]
async fn commands_are_counted_by_outcome_with_their_latency() {
    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");
    let play = || {
        rig.slash("alice", "play")
            .string("query", "sim:length:600000")
    };

    // Refused: not in voice.
    let (_, ephemeral) = rig.command(play()).await;
    assert!(ephemeral);
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let (_, ephemeral) = rig.command(play()).await;
    assert!(!ephemeral);
    // Nothing found: a refusal too, and the load's result is counted.
    let (_, ephemeral) = rig
        .command(rig.slash("alice", "play").string("query", "sim:empty"))
        .await;
    assert!(ephemeral);

    // The bot records a command once its answer is through, just after the stand-in saw it.
    let m = &rig.metrics;
    let count = r#"dimby_command_duration_seconds_count{command="play"}"#;
    tokio::time::timeout(Duration::from_secs(10), async {
        while series(m, count) != Some(3.0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("three commands recorded");
    assert_eq!(
        series(
            m,
            r#"dimby_commands_total{command="play",outcome="refused"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        series(m, r#"dimby_commands_total{command="play",outcome="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(m, "dimby_interaction_ack_duration_seconds_count"),
        Some(3.0)
    );
    // Two of the three reached Lavalink (the refusal for not being in voice did not).
    assert_eq!(
        series(
            m,
            r#"dimby_command_lavalink_duration_seconds_count{command="play"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        series(
            m,
            r#"dimby_track_loads_total{result="track",source="search"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            m,
            r#"dimby_track_loads_total{result="empty",source="search"}"#
        ),
        Some(1.0)
    );
    assert_eq!(series(m, "dimby_tracks_enqueued_total"), Some(1.0));
    // The /play that started a track is timed to its TrackStart.
    tokio::time::timeout(Duration::from_secs(10), async {
        let count = r#"dimby_command_track_start_duration_seconds_count{command="play"}"#;
        while series(m, count) != Some(1.0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the play's TrackStart was timed");
}

#[tokio::test]
async fn health_is_for_admins_and_shows_each_subsystem() {
    let registry = health::HealthRegistry::new(clock::SystemClock::shared());
    let probe_registry = registry.clone();
    let rig = start_with(BotSettings::default(), move |_, guild| Observers {
        health: Some(registry),
        health_access: HealthAccess {
            users: vec![guild.member("bob").expect("bob").get()],
            roles: Vec::new(),
        },
        ..Observers::default()
    })
    .await;
    let settings = admin::checks::ProbeSettings::default();
    let voice = admin::checks::bot_probes::VoiceConnectedProbe::new(rig.cluster.clone(), settings);
    probe_registry.check(&voice).await;

    // alice has neither Manage Server nor a configured role: a private refusal.
    let (text, ephemeral) = rig.command(rig.slash("alice", "health")).await;
    assert!(ephemeral && text.contains("Manage Server"), "{text}");

    // The owner has Manage Server through the Admin role; bob is a configured admin user.
    for who in ["owner", "bob"] {
        let handle = rig
            .discord
            .invoke(&rig.slash(who, "health"))
            .expect("invoke");
        let message = tokio::time::timeout(Duration::from_secs(10), handle.original())
            .await
            .expect("an answer within the guard")
            .expect("answered");
        let ephemeral = message
            .flags
            .is_some_and(|f| f.contains(twilight_model::channel::message::MessageFlags::EPHEMERAL));
        assert!(ephemeral, "{who}: the report is private");
        assert!(
            message.content.contains("Overall: **pass**"),
            "{}",
            message.content
        );
        let voice = message
            .embeds
            .iter()
            .find(|e| e.title.as_deref().is_some_and(|t| t.ends_with("Voice")))
            .expect("a Voice embed");
        assert!(
            voice
                .fields
                .iter()
                .any(|f| f.name.contains("voice:connected")),
            "{:?}",
            voice.fields
        );
    }
}

/// Waits for a message in the guild's text channel that contains `text`.
async fn channel_says(rig: &Rig, text: &str) -> String {
    rig.discord
        .wait_for_message(rig.guild.text_channel(), |m| m.content.contains(text))
        .await
        .unwrap_or_else(|_| {
            let said: Vec<String> = rig
                .discord
                .channel_messages(rig.guild.text_channel())
                .into_iter()
                .map(|m| m.content)
                .collect();
            panic!("no message containing {text:?}; the channel has {said:#?}")
        })
        .content
}

#[tokio::test]
async fn a_track_exception_skips_with_a_message_and_a_stuck_track_restarts_once_then_skips() {
    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let mut sent = rig.node.subscribe();
    for query in [
        "sim:exception:300:common",
        "sim:stuck:300",
        "sim:length:600000",
    ] {
        let (text, ephemeral) = rig
            .command(rig.slash("alice", "play").string("query", query))
            .await;
        assert!(!ephemeral, "{text}");
    }

    // The exception: skipped, and the text channel says why.
    let skipped = channel_says(&rig, "Skipping **Sim: throws at 300 ms**").await;
    assert!(skipped.contains("Skipping"), "{skipped}");
    // The stuck track: restarted once at its position, then skipped when it sticks again.
    channel_says(&rig, "**Sim: stuck at 300 ms** got stuck; restarting it at").await;
    channel_says(&rig, "Skipping **Sim: stuck at 300 ms**").await;
    // And the queue goes on.
    rig.lavalink_event(&mut sent, |e| {
        matches!(e, Event::TrackStart(start) if start.track.info.identifier == "sim:length:600000")
    })
    .await;
}

#[tokio::test]
async fn an_empty_voice_channel_is_left_after_the_idle_time() {
    let settings = BotSettings {
        idle_leave: Duration::from_millis(300),
        ..BotSettings::default()
    };
    let rig = start_with(settings, |_, _| Observers::default()).await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let mut sent = rig.node.subscribe();
    rig.command(
        rig.slash("alice", "play")
            .string("query", "sim:length:600000"),
    )
    .await;
    rig.lavalink_event(&mut sent, |e| matches!(e, Event::TrackStart(_)))
        .await;
    assert!(rig.node_player().is_some());

    rig.discord
        .leave_voice(rig.guild.id, alice)
        .expect("alice leaves");
    channel_says(&rig, "Nobody is listening").await;
    // The bot left the channel and its player is gone from the node.
    rig.discord
        .wait_for_bot_voice(rig.guild.id, |state| {
            state.is_none_or(|s| s.channel_id.is_none())
        })
        .await
        .expect("the bot left voice");
    tokio::time::timeout(Duration::from_secs(10), async {
        while rig.node_player().is_some() {
            let _ = sent.recv().await;
        }
    })
    .await
    .expect("the player was destroyed on the node");
}

#[tokio::test]
async fn queue_commands_seek_and_the_remaining_refusals() {
    use twilight_model::channel::permission_overwrite::{
        PermissionOverwrite, PermissionOverwriteType,
    };
    use twilight_model::guild::Permissions;

    let rig = start().await;
    let (alice, bob) = (
        rig.guild.member("alice").expect("alice"),
        rig.guild.member("bob").expect("bob"),
    );
    // The bot lacks Connect and Speak in the second voice channel.
    rig.discord
        .set_channel_overwrite(
            rig.guild.voice_channel(1),
            PermissionOverwrite {
                allow: Permissions::empty(),
                deny: Permissions::CONNECT | Permissions::SPEAK,
                id: rig.guild.everyone_role.cast(),
                kind: PermissionOverwriteType::Role,
            },
        )
        .expect("overwrite");
    rig.discord
        .join_voice(rig.guild.id, bob, rig.guild.voice_channel(1))
        .expect("bob joins");
    let (text, ephemeral) = rig
        .command(
            rig.slash("bob", "play")
                .string("query", "sim:length:600000"),
        )
        .await;
    assert!(ephemeral && text.contains("Connect and Speak"), "{text}");

    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    // Nothing playing yet.
    for command in [
        rig.slash("alice", "pause"),
        rig.slash("alice", "skip"),
        rig.slash("alice", "seek").string("position", "1:00"),
    ] {
        let (text, ephemeral) = rig.command(command).await;
        assert!(ephemeral && text.contains("nothing is playing"), "{text}");
    }

    let mut sent = rig.node.subscribe();
    for query in [
        "sim:length:600000",
        "sim:track:b",
        "sim:track:c",
        "sim:track:d",
    ] {
        let (text, ephemeral) = rig
            .command(rig.slash("alice", "play").string("query", query))
            .await;
        assert!(!ephemeral, "{text}");
    }
    rig.lavalink_event(&mut sent, |e| matches!(e, Event::TrackStart(_)))
        .await;

    // Seek: visible on the node's player; a bad time says what a good one looks like.
    rig.command(rig.slash("alice", "seek").string("position", "1:30"))
        .await;
    let position = rig.node_player().expect("player").state.position;
    assert!((90_000..100_000).contains(&position), "at {position} ms");
    let (text, ephemeral) = rig
        .command(rig.slash("alice", "seek").string("position", "banana"))
        .await;
    assert!(ephemeral && text.contains("1:23"), "{text}");

    // Queue editing: remove c (2nd), move d (now 2nd) to the front, out-of-range refusals.
    let (text, _) = rig
        .command(rig.slash("alice", "remove").integer("position", 2))
        .await;
    assert!(text.contains("Removed **Sim: c**"), "{text}");
    rig.command(
        rig.slash("alice", "move")
            .integer("from", 2)
            .integer("to", 1),
    )
    .await;
    let (queue, _) = rig.command(rig.slash("alice", "queue")).await;
    let (d, b) = (
        queue.find("Sim: d").expect("d queued"),
        queue.find("Sim: b").expect("b queued"),
    );
    assert!(d < b && !queue.contains("Sim: c"), "{queue}");
    let (text, ephemeral) = rig
        .command(rig.slash("alice", "remove").integer("position", 5))
        .await;
    assert!(ephemeral && text.contains("out of range"), "{text}");

    let (text, ephemeral) = rig
        .command(rig.slash("alice", "loop").string("mode", "queue"))
        .await;
    assert!(!ephemeral && text.contains("Looping the queue"), "{text}");
    let (text, ephemeral) = rig.command(rig.slash("alice", "shuffle")).await;
    assert!(!ephemeral && text.contains("Shuffled 2 tracks"), "{text}");
    let (text, _) = rig.command(rig.slash("alice", "clear")).await;
    assert!(text.contains("Removed 2 tracks"), "{text}");
    let (queue, _) = rig.command(rig.slash("alice", "queue")).await;
    assert!(queue.contains("The queue is empty"), "{queue}");
    let (text, ephemeral) = rig.command(rig.slash("alice", "shuffle")).await;
    assert!(ephemeral && text.contains("nothing to shuffle"), "{text}");
    // The track plays on through all of it.
    assert!(rig.node_player().expect("player").track.is_some());
}

/// One input of an ordering burst: a command (with how the reference engine applies it) or a
/// voice event of another listener.
#[derive(Debug, Clone)]
enum BurstInput {
    Pause,
    Resume,
    Skip,
    Volume(i64),
    Loop(&'static str),
    Remove(i64),
    Move(i64, i64),
    Clear,
    Play(usize),
    BobJoins,
    BobLeaves,
}

fn burst_input(rng: &mut impl rand::Rng, tracks: usize) -> BurstInput {
    match rng.random_range(0..11) {
        0 => BurstInput::Pause,
        1 => BurstInput::Resume,
        2 => BurstInput::Skip,
        3 => BurstInput::Volume(rng.random_range(0..=200)),
        4 => BurstInput::Loop(["off", "track", "queue"][rng.random_range(0..3)]),
        5 => BurstInput::Remove(rng.random_range(1..=4)),
        6 => BurstInput::Move(rng.random_range(1..=4), rng.random_range(1..=4)),
        7 => BurstInput::Clear,
        8 => BurstInput::BobJoins,
        9 => BurstInput::BobLeaves,
        _ => BurstInput::Play(rng.random_range(0..tracks)),
    }
}

/// The engine the way the bot should have driven it: the same inputs, one by one, in the order
/// they were sent.
fn apply_reference(
    reference: &mut music::GuildPlayer,
    input: &BurstInput,
    tracks: &[lavalink::model::Track],
    alice: u64,
) {
    let now = 1;
    let _ = match input {
        BurstInput::Pause => reference.pause(now),
        BurstInput::Resume => reference.resume(now),
        BurstInput::Skip => reference.skip(None, now),
        BurstInput::Volume(level) => reference.set_volume(*level),
        BurstInput::Loop(mode) => Ok(reference.set_loop(mode.parse().expect("a loop mode"))),
        BurstInput::Remove(at) => reference.remove(usize::try_from(*at).expect("positive")),
        BurstInput::Move(from, to) => reference.move_entry(
            usize::try_from(*from).expect("positive"),
            usize::try_from(*to).expect("positive"),
        ),
        BurstInput::Clear => reference.clear(),
        BurstInput::Play(track) => reference.play(vec![tracks[*track].clone()], alice, now),
        BurstInput::BobJoins | BurstInput::BobLeaves => Ok(Vec::new()),
    };
}

/// What both sides are compared on: the queue and current track by title, paused, volume, loop.
fn comparable(
    queue: impl Iterator<Item = String>,
    current: Option<&str>,
    paused: bool,
    volume: u16,
    loop_mode: music::LoopMode,
) -> String {
    format!(
        "queue {:?}, current {current:?}, paused {paused}, volume {volume}, loop {}",
        queue.collect::<Vec<_>>(),
        loop_mode.as_str()
    )
}

/// Sends a burst input's voice event at once, or gives its slash command.
fn burst_command(
    rig: &Rig,
    input: &BurstInput,
    names: &[&str],
    bob_in: &mut bool,
) -> Option<SlashCommand> {
    let slash = |name: &str| rig.slash("alice", name);
    let (bob, channel) = (
        rig.guild.member("bob").expect("bob"),
        rig.guild.voice_channel(0),
    );
    match input {
        BurstInput::Pause => Some(slash("pause")),
        BurstInput::Resume => Some(slash("resume")),
        BurstInput::Skip => Some(slash("skip")),
        BurstInput::Volume(level) => Some(slash("volume").integer("level", *level)),
        BurstInput::Loop(mode) => Some(slash("loop").string("mode", *mode)),
        BurstInput::Remove(at) => Some(slash("remove").integer("position", *at)),
        BurstInput::Move(from, to) => Some(slash("move").integer("from", *from).integer("to", *to)),
        BurstInput::Clear => Some(slash("clear")),
        BurstInput::Play(track) => {
            Some(slash("play").string("query", format!("sim:track:{}", names[*track])))
        }
        BurstInput::BobJoins => {
            if !*bob_in {
                rig.discord
                    .join_voice(rig.guild.id, bob, channel)
                    .expect("bob joins");
                *bob_in = true;
            }
            None
        }
        BurstInput::BobLeaves => {
            if *bob_in {
                rig.discord
                    .leave_voice(rig.guild.id, bob)
                    .expect("bob leaves");
                *bob_in = false;
            }
            None
        }
    }
}

// Ordering: bursts of interleaved commands (including /play, whose track load is slow work that
// runs beside the guild's actor) and voice events, sent without waiting for answers while the
// Lavalink stand-in sends its events, end in the state the same inputs give when applied one by
// one in the order they were sent. Many seeds; the stored state is what is compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_of_commands_and_events_end_as_if_applied_one_by_one_in_arrival_order() {
    use rand::SeedableRng as _;

    let rig = start().await;
    let alice = rig.guild.member("alice").expect("alice");
    rig.discord
        .join_voice(rig.guild.id, alice, rig.guild.voice_channel(0))
        .expect("alice joins");
    let names = ["a", "b", "c", "d", "e", "f"];
    let mut tracks = Vec::new();
    for name in names {
        match rig
            .cluster
            .load_tracks(&format!("sim:track:{name}"))
            .await
            .expect("load")
        {
            lavalink::model::LoadResult::Track(track) => tracks.push(track),
            other => panic!("a track for {name}: {other:?}"),
        }
    }
    let mut reference = music::GuildPlayer::new();
    let mut bob_in = false;
    for seed in 0..24u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let inputs: Vec<BurstInput> = (0..14)
            .map(|_| burst_input(&mut rng, tracks.len()))
            .collect();
        let mut answers = Vec::new();
        for input in &inputs {
            let command = burst_command(&rig, input, &names, &mut bob_in);
            if let Some(command) = command {
                answers.push(rig.discord.invoke(&command).expect("invoke"));
            }
            apply_reference(&mut reference, input, &tracks, alice.get());
        }
        for answer in answers {
            tokio::time::timeout(Duration::from_secs(10), answer.original())
                .await
                .expect("an answer within the guard")
                .expect("answered");
        }
        let stored = rig
            .store
            .load_guild(rig.guild.id.get())
            .await
            .expect("load")
            .expect("the guild is stored");
        let got = comparable(
            stored.queue.iter().map(|e| e.title.clone()),
            stored.current.as_ref().map(|e| e.title.as_str()),
            stored.paused,
            stored.volume,
            stored.loop_mode,
        );
        let want = reference.snapshot();
        let want = comparable(
            want.queue.iter().map(|e| e.info.title.clone()),
            want.current.as_ref().map(|e| e.info.title.as_str()),
            want.paused,
            want.volume,
            want.loop_mode,
        );
        assert_eq!(got, want, "seed {seed}: {inputs:?}");
    }
    // Between inputs the guild's actor rests parked: no task, no channel.
    tokio::time::timeout(Duration::from_secs(10), async {
        while rig.bot.running_actors() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the actor parked");
}
