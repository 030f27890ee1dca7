//! The Discord layer against the stand-in: connecting and caching the guild, registering
//! commands, answering invocations (at once, late through the auto-defer guard, follow-ups,
//! channel messages) and permissions computed from roles and overwrites.

use std::time::Duration;

use discord::{Ack, DiscordError, OptionValue, Permissions, Reply, VOICE_PERMISSIONS};
use sim::discord::{DiscordConfig, GuildSpec, SlashCommand};
use test_support::discord_layer::{
    connect, invocation, play_command, settings, setup, sim_with, stop_command,
};
use twilight_model::channel::message::MessageFlags;
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::http::interaction::InteractionResponseType;

#[tokio::test]
async fn connects_and_caches_the_guild() {
    let (sim, guild, discord, _events) = setup().await;
    assert_eq!(discord.bot_user(), sim.bot_user_id());
    assert_eq!(discord.application(), sim.application_id());
    assert_eq!(discord.guild_name(guild.id).as_deref(), Some("Sim Guild"));
    assert!(discord.cache().channel(guild.voice_channel(0)).is_some());
    assert!(
        discord
            .bot_can_play_in(guild.voice_channel(0))
            .expect("permissions")
    );
    let status = discord.status();
    assert_eq!(status.len(), 1);
    assert!(status[0].connected);
    assert_eq!(status[0].identifies, 1);
    assert!(status[0].last_event.is_some());
    assert_eq!(sim.identify_count(), 1);
    // Debug output never shows the token.
    let settings = settings(&sim);
    assert!(!format!("{settings:?}").contains(sim.token()));
    discord.shutdown().await;
}

#[tokio::test]
async fn registers_commands_globally_or_in_the_dev_guild() {
    let (sim, guild, discord, _events) = setup().await;
    let registered = discord
        .register_commands(&[play_command(), stop_command()])
        .await
        .expect("global commands");
    assert_eq!(registered.len(), 2);
    let global = sim.global_commands();
    assert_eq!(global.len(), 2);
    assert!(
        global
            .iter()
            .any(|c| c.name == "play" && c.options.len() == 2)
    );
    assert!(sim.guild_commands(guild.id).is_empty());
    discord.shutdown().await;

    let mut dev = settings(&sim);
    dev.dev_guild = Some(guild.id);
    let (discord, _events) = connect(dev, &guild).await;
    discord
        .register_commands(&[play_command()])
        .await
        .expect("dev guild commands");
    let commands = sim.guild_commands(guild.id);
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].guild_id, Some(guild.id));
    assert_eq!(sim.global_commands().len(), 2, "global ones are untouched");
}

#[tokio::test]
async fn an_invocation_arrives_with_options_and_the_answer_shows() {
    let (sim, guild, discord, mut events) = setup().await;
    discord
        .register_commands(&[play_command()])
        .await
        .expect("register");
    let alice = guild.member("alice").expect("alice");
    let handle = sim
        .invoke(
            &SlashCommand::new(guild.id, guild.text_channel(), alice, "play")
                .string("query", "never gonna")
                .boolean("loud", true),
        )
        .expect("invoke");

    let invocation = invocation(&mut events).await;
    assert_eq!(invocation.id, handle.id());
    assert_eq!(invocation.name, "play");
    assert_eq!(invocation.guild, Some(guild.id));
    assert_eq!(invocation.channel, Some(guild.text_channel()));
    assert_eq!(invocation.user, alice);
    assert_eq!(invocation.string("query"), Some("never gonna"));
    assert_eq!(invocation.boolean("loud"), Some(true));
    assert_eq!(
        invocation.option("query"),
        Some(&OptionValue::String("never gonna".into()))
    );
    assert!(
        invocation
            .member_permissions
            .expect("member permissions")
            .contains(Permissions::SEND_MESSAGES)
    );
    assert!(
        invocation
            .app_permissions
            .expect("app permissions")
            .contains(Permissions::CONNECT)
    );

    let responder = &invocation.responder;
    responder
        .respond(&Reply::text("Queued: never gonna"))
        .await
        .expect("respond");
    assert_eq!(responder.ack().await, Ack::Responded);
    let response = handle.response().await.expect("callback");
    assert_eq!(
        response.kind,
        InteractionResponseType::ChannelMessageWithSource
    );
    assert_eq!(
        handle.original().await.expect("original").content,
        "Queued: never gonna"
    );
    assert!(matches!(
        responder.respond(&Reply::text("again")).await,
        Err(DiscordError::AlreadyAnswered)
    ));

    responder
        .edit_original(&Reply::text("Queued (edited)"))
        .await
        .expect("edit");
    assert_eq!(
        handle
            .original_after_edits(1)
            .await
            .expect("edited")
            .content,
        "Queued (edited)"
    );
    responder
        .followup(&Reply::text("only you see this").ephemeral())
        .await
        .expect("follow-up");
    let followup = handle.followup(0).await.expect("follow-up seen");
    assert_eq!(followup.content, "only you see this");
    assert!(
        followup
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL))
    );

    discord
        .send_message(guild.text_channel(), &Reply::text("Now playing"))
        .await
        .expect("channel message");
    let message = sim
        .wait_for_message(guild.text_channel(), |m| m.content == "Now playing")
        .await
        .expect("channel message seen");
    assert_eq!(message.author.id, sim.bot_user_id());
}

#[tokio::test]
async fn a_slow_core_is_deferred_and_its_answer_becomes_the_edit() {
    let (sim, guild) = sim_with(DiscordConfig::default(), &GuildSpec::default()).await;
    let mut settings = settings(&sim);
    settings.auto_defer = Duration::from_millis(100);
    let (discord, mut events) = connect(settings, &guild).await;
    discord
        .register_commands(&[play_command()])
        .await
        .expect("register");
    let alice = guild.member("alice").expect("alice");
    let handle = sim
        .invoke(
            &SlashCommand::new(guild.id, guild.text_channel(), alice, "play")
                .string("query", "slow"),
        )
        .expect("invoke");
    let invocation = invocation(&mut events).await;
    invocation.responder.set_auto_defer_ephemeral(true);

    // The core is slow: it answers only once the user already sees "thinking...".
    let deferred = handle.response().await.expect("the guard's defer");
    assert_eq!(
        deferred.kind,
        InteractionResponseType::DeferredChannelMessageWithSource
    );
    assert_eq!(
        invocation.responder.ack().await,
        Ack::Deferred {
            ephemeral: true,
            automatic: true,
            update: false
        }
    );
    invocation
        .responder
        .respond(&Reply::text("Found it"))
        .await
        .expect("late answer");
    let original = handle.original_after_edits(1).await.expect("edit");
    assert_eq!(original.content, "Found it");
    let record = handle.record();
    assert!(record.rejections.is_empty(), "{:?}", record.rejections);
    assert_eq!(invocation.responder.ack().await, Ack::Responded);
}

#[tokio::test]
async fn an_explicit_defer_then_answer_edits() {
    let (sim, guild, discord, mut events) = setup().await;
    discord
        .register_commands(&[stop_command()])
        .await
        .expect("register");
    let bob = guild.member("bob").expect("bob");
    let handle = sim
        .invoke(&SlashCommand::new(
            guild.id,
            guild.text_channel(),
            bob,
            "stop",
        ))
        .expect("invoke");
    let invocation = invocation(&mut events).await;
    assert!(invocation.options.is_empty());
    assert!(invocation.responder.defer(false).await.expect("defer"));
    assert!(!invocation.responder.defer(false).await.expect("no-op"));
    invocation
        .responder
        .respond(&Reply::text("Stopped"))
        .await
        .expect("answer");
    assert_eq!(
        handle.original_after_edits(1).await.expect("edit").content,
        "Stopped"
    );
}

#[tokio::test]
async fn bot_permissions_come_from_roles_and_overwrites() {
    let spec = GuildSpec::default()
        .role("DJ", Permissions::empty())
        .role("Boss", Permissions::ADMINISTRATOR)
        .bot_roles(&["DJ"]);
    let (sim, guild) = sim_with(DiscordConfig::default(), &spec).await;
    let everyone = guild.everyone_role.cast();
    let dj = guild.role("DJ").expect("DJ").cast();
    // Lounge: locked for @everyone, DJs may connect but not speak.
    sim.set_channel_overwrite(
        guild.voice_channel(1),
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::CONNECT | Permissions::SPEAK,
            id: everyone,
            kind: PermissionOverwriteType::Role,
        },
    )
    .expect("overwrite");
    sim.set_channel_overwrite(
        guild.voice_channel(1),
        PermissionOverwrite {
            allow: Permissions::CONNECT,
            deny: Permissions::empty(),
            id: dj,
            kind: PermissionOverwriteType::Role,
        },
    )
    .expect("overwrite");
    // general: hidden from @everyone.
    sim.set_channel_overwrite(
        guild.text_channel(),
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL,
            id: everyone,
            kind: PermissionOverwriteType::Role,
        },
    )
    .expect("overwrite");
    let (discord, _events) = connect(settings(&sim), &guild).await;

    let music = discord
        .bot_permissions(guild.voice_channel(0))
        .expect("music");
    assert!(music.contains(VOICE_PERMISSIONS), "{music:?}");
    assert!(
        discord
            .bot_can_play_in(guild.voice_channel(0))
            .expect("music")
    );

    let lounge = discord
        .bot_permissions(guild.voice_channel(1))
        .expect("lounge");
    assert!(lounge.contains(Permissions::CONNECT), "{lounge:?}");
    assert!(!lounge.contains(Permissions::SPEAK), "{lounge:?}");
    assert!(
        !discord
            .bot_can_play_in(guild.voice_channel(1))
            .expect("lounge")
    );

    let general = discord
        .bot_permissions(guild.text_channel())
        .expect("general");
    assert!(
        general.is_empty(),
        "no View Channel, nothing else: {general:?}"
    );

    // Members not in the cache (no GUILD_MEMBERS intent) are reported, not guessed.
    let alice = guild.member("alice").expect("alice");
    assert!(matches!(
        discord.member_permissions(alice, guild.voice_channel(0)),
        Err(DiscordError::NotCached(_))
    ));
}
