#!/usr/bin/env python3
"""Drive the Discord stand-in with discord.py 2.7.1, unchanged, the way a slash-command bot does.

This is the independent client proof for the project's Discord stand-in (`sim::discord`, also
`dimby sim discord`): a bot written against discord.py's public API (`AutoShardedClient` and an
`app_commands.CommandTree`) logs in, connects to the gateway, fills its cache from READY and
GUILD_CREATE, joins and leaves voice (op 4 only), registers guild slash commands and answers two
interactions: one with a message it reads back, edits and follows up, one deferred; then it
answers an autocomplete, posts a message with a button and answers its press by updating the
message, and edits and deletes a channel message of its own. Each
step is a named check that prints `PASS name` or `FAIL name: why`; the run ends with
`N passed, M failed` and exits 0 only when every check passed. Lines starting with `#` are
information.

Nothing of discord.py is patched. The one thing set by hand is configuration: `Route.BASE`, the
REST base URL every request is built from (discord.py's own `_set_api_version` sets it the same
way), points at the stand-in's `/api/v10`. The gateway URL is not given: `AutoShardedClient`
asks `GET /gateway/bot` for it and for the shard count, as discord.py does for every sharded bot.

The interactions come from outside: once the commands are registered the script prints
`# awaiting /echo`, and whoever runs it (crates/dimby/tests/fidelity.rs) has a scripted user
invoke `/echo text:...` in the stand-in; after the checks of that one, `# awaiting /later` asks
for `/later`, `# awaiting /find` for the user typing in /find's query (an autocomplete) and
`# awaiting /skip MESSAGE_ID` for the press of the button `skip` on that message. With
`--no-interaction` the script stops after the registration instead (for a hand
run against `dimby sim discord`, whose demo guild nobody types in).

Every wait is a bounded guard on an event that should come; nothing sleeps. The whole run is
bounded by --deadline.

Usage: discord_py_client.py --rest-base http://127.0.0.1:PORT/api/v10 --token T [--guild-id ID ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional
from urllib.parse import urlparse

import discord
from discord import app_commands

EXPECTED_DISCORD_PY = "2.7.1"
# The marker whoever runs the script waits for before invoking a command: `# awaiting /NAME`.
AWAITING = "# awaiting /"


class Fail(Exception):
    """A check failed; the message says why."""


def expect(condition: bool, why: str) -> None:
    if not condition:
        raise Fail(why)


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    async def check(self, name: str, body: Callable[[], Awaitable[None]], timeout: float = 10.0) -> bool:
        try:
            await asyncio.wait_for(body(), timeout)
        except Fail as fail:
            self._fail(name, str(fail))
            return False
        except asyncio.TimeoutError:
            self._fail(name, f"timed out after {timeout:.1f}s")
            return False
        except Exception as exc:  # noqa: BLE001 - any error is a failed check, with its type
            self._fail(name, f"{type(exc).__name__}: {exc}")
            return False
        self.passed += 1
        print(f"PASS {name}", flush=True)
        return True

    def _fail(self, name: str, why: str) -> None:
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)


class Events:
    """Collects what discord.py dispatches (by event name) so that checks can wait on it."""

    def __init__(self) -> None:
        self.seen: Dict[str, List[Any]] = {}
        self._cond = asyncio.Condition()

    async def add(self, name: str, value: Any) -> None:
        async with self._cond:
            self.seen.setdefault(name, []).append(value)
            self._cond.notify_all()

    async def wait(self, name: str, pred: Callable[[Any], bool], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        async with self._cond:
            while True:
                for value in self.seen.get(name, []):
                    if pred(value):
                        return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Fail(f"no {name} within {timeout:.1f}s")
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    raise Fail(f"no {name} within {timeout:.1f}s") from None


def build_client(events: Events, guild_id: Optional[int]) -> tuple[discord.AutoShardedClient, app_commands.CommandTree]:
    # The default intents: everything but the privileged ones (members, presences, message
    # content), which an application has to be granted first.
    # enable_debug_events: on_socket_raw_receive shows the gateway's non-dispatch payloads
    # (Hello, Heartbeat ACK), which the heartbeat check waits on.
    client = discord.AutoShardedClient(intents=discord.Intents.default(), enable_debug_events=True)
    tree = app_commands.CommandTree(client)

    @client.event
    async def on_connect() -> None:
        await events.add("connect", True)

    @client.event
    async def on_socket_raw_receive(message: str) -> None:
        await events.add("raw", message)

    @client.event
    async def on_shard_ready(shard_id: int) -> None:
        await events.add("shard_ready", shard_id)

    @client.event
    async def on_ready() -> None:
        await events.add("ready", True)

    @client.event
    async def on_guild_available(guild: discord.Guild) -> None:
        await events.add("guild_available", guild)

    @client.event
    async def on_message(message: discord.Message) -> None:
        await events.add("message", message)

    @client.event
    async def on_voice_state_update(member: discord.Member, before: discord.VoiceState, after: discord.VoiceState) -> None:
        # discord.py updates cached VoiceState objects in place: keep what they say now.
        await events.add("voice_state_update", {
            "member": member.id,
            "before": before.channel and before.channel.id,
            "after": after.channel and after.channel.id,
            "self_deaf": after.self_deaf,
            "self_mute": after.self_mute,
            "session_id": after.session_id,
        })

    @client.event
    async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
        await events.add("raw_message_edit", payload)

    @client.event
    async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
        await events.add("raw_message_delete", payload)

    # A guild command when a guild is named (registered at once, as a bot's dev guild), else global.
    scope = {"guild": discord.Object(id=guild_id)} if guild_id is not None else {}

    @tree.command(name="echo", description="Says the text back", **scope)
    @app_commands.describe(text="What to say")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        # The whole exchange happens inside the handler, as a bot's command would do it; the
        # checks then read what it recorded.
        record: Dict[str, Any] = {"interaction": interaction, "text": text}
        try:
            record["callback"] = await interaction.response.send_message(f"echo: {text}")
        except Exception as exc:  # noqa: BLE001 - recorded for the check to report
            record["callback_error"] = exc
        await events.add("echo", record)

    @tree.command(name="later", description="Thinks first, answers after", **scope)
    async def later(interaction: discord.Interaction) -> None:
        # The usual shape of a slow command: defer (type 5, ephemeral), then the first follow-up,
        # which Discord turns into the edit of the loading message.
        record: Dict[str, Any] = {"interaction": interaction}
        try:
            record["callback"] = await interaction.response.defer(ephemeral=True, thinking=True)
            record["followup"] = await interaction.followup.send("later: done", wait=True)
        except Exception as exc:  # noqa: BLE001 - recorded for the check to report
            record["error"] = exc
        await events.add("later", record)

    async def find_choices(interaction: discord.Interaction, current: str) -> List[app_commands.Choice[str]]:
        # What the user typed comes back as two suggestions; the record is for the check.
        await events.add("autocomplete", {"interaction": interaction, "current": current})
        return [app_commands.Choice(name=f"{current} (track {i})", value=f"{current}-{i}") for i in (1, 2)]

    @tree.command(name="find", description="Finds a track", **scope)
    @app_commands.describe(query="What to look for")
    @app_commands.autocomplete(query=find_choices)
    async def find(interaction: discord.Interaction, query: str) -> None:
        await interaction.response.send_message(f"found: {query}")

    return client, tree


def skip_view(events: Events) -> discord.ui.View:
    """A message's one button, `skip`: pressing it edits that message (UPDATE_MESSAGE, type 7)."""
    view = discord.ui.View(timeout=60)
    button: discord.ui.Button = discord.ui.Button(label="Skip", custom_id="skip", style=discord.ButtonStyle.primary)

    async def pressed(interaction: discord.Interaction) -> None:
        record: Dict[str, Any] = {"interaction": interaction}
        try:
            record["callback"] = await interaction.response.edit_message(content="Skipped", view=None)
        except Exception as exc:  # noqa: BLE001 - recorded for the check to report
            record["error"] = exc
        await events.add("pressed", record)

    button.callback = pressed
    view.add_item(button)
    return view


async def run(args: argparse.Namespace, r: Runner) -> None:
    # Configuration, not behaviour: the REST base every Route is built from.
    discord.http.Route.BASE = args.rest_base.rstrip("/")
    events = Events()
    client, tree = build_client(events, args.guild_id)
    state: Dict[str, Any] = {}

    async def discord_py_version() -> None:
        expect(discord.__version__ == EXPECTED_DISCORD_PY,
               f"discord.py {discord.__version__} is installed, the proof was checked with {EXPECTED_DISCORD_PY}")
    await r.check("discord_py_version", discord_py_version)

    async def login() -> None:
        # Client.login: GET /users/@me (the token check), then GET /oauth2/applications/@me
        # (AppInfo: the application id and flags).
        await client.login(args.token)
        expect(client.user is not None, "no ClientUser after login")
        expect(client.user.bot, f"the token's user is not a bot: {client.user!r}")
        if args.bot_user_id is not None:
            expect(client.user.id == args.bot_user_id, f"logged in as {client.user.id}, expected {args.bot_user_id}")
        app = await client.application_info()
        expect(client.application_id == app.id, f"application id {client.application_id} != AppInfo {app.id}")
        if args.application_id is not None:
            expect(app.id == args.application_id, f"application {app.id}, expected {args.application_id}")
        expect(app.owner is not None, "AppInfo without an owner")
        print(f"# logged in as {client.user} ({client.user.id}), application {app.name!r} ({app.id})", flush=True)
    if not await r.check("login", login):
        await client.close()
        return

    # connect(): GET /gateway/bot (shard count and URL), then the gateway. It runs for the rest of
    # the script; its end (or failure) is watched by the checks that wait on events.
    connection = asyncio.create_task(client.connect(reconnect=False))

    async def connected(waiting: Awaitable[Any], what: str) -> Any:
        """Awaits `waiting`, failing at once if the gateway connection ends meanwhile (discord.py
        ends `connect()` with the exception of a payload it could not parse)."""
        task = asyncio.ensure_future(waiting)
        done, _ = await asyncio.wait({task, connection}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            error = None if connection.cancelled() else connection.exception()
            raise Fail(f"the gateway connection ended while waiting for {what}: {error!r}")
        return task.result()

    async def gateway_ready() -> None:
        # READY parsed (on_connect), then every guild READY listed arrived as GUILD_CREATE
        # (on_shard_ready / on_ready come after the last one).
        await connected(events.wait("ready", lambda _: True, 15), "READY")
        expect(client.shard_count == 1, f"shard_count {client.shard_count} (GET /gateway/bot recommends 1)")
        expect(0 in client.shards, f"shards {list(client.shards)}")
        expect(await events.wait("shard_ready", lambda s: s == 0, 1) == 0, "no on_shard_ready(0)")
        expect(client.user is not None and client.user.bot, f"READY user {client.user!r}")
        if args.bot_user_id is not None:
            expect(client.user.id == args.bot_user_id, f"READY user {client.user.id}")
    if not await r.check("gateway_ready", gateway_ready, timeout=20):
        await client.close()
        return

    async def heartbeat_ack() -> None:
        # discord.py heartbeats right after Hello; the ACK (op 11) gives it a finite latency.
        await events.wait("raw", lambda m: json.loads(m).get("op") == 11, 5)
        expect(math.isfinite(client.latency) and 0 <= client.latency < 5, f"latency {client.latency}")
        print(f"# heartbeat latency {client.latency * 1000:.1f} ms", flush=True)
    await r.check("heartbeat_ack", heartbeat_ack)

    async def session_start_limits() -> None:
        limits = await client.fetch_session_start_limits()
        expect(limits.total >= 1 and 0 <= limits.remaining < limits.total,
               f"session start limits after one identify: {limits.remaining}/{limits.total}")
        expect(limits.max_concurrency >= 1, f"max_concurrency {limits.max_concurrency}")
        expect(limits.reset_after > 0, f"reset_after {limits.reset_after}")
    await r.check("session_start_limits", session_start_limits)

    async def guild_create() -> None:
        guilds = client.guilds
        expect(len(guilds) >= 1, "no guild in the cache after READY")
        if args.guild_id is None:
            guild = guilds[0]
        else:
            found = client.get_guild(args.guild_id)
            expect(found is not None, f"guild {args.guild_id} not in the cache: {[g.id for g in guilds]}")
            guild = found
        state["guild"] = guild
        expect(not guild.unavailable, "the guild is still unavailable")
        if args.guild_name is not None:
            expect(guild.name == args.guild_name, f"guild name {guild.name!r}")
        if args.member_count is not None:
            expect(guild.member_count == args.member_count, f"member_count {guild.member_count}")
        expect(guild.owner_id is not None, "no owner_id")
        expect(guild.default_role.id == guild.id, "@everyone's id is not the guild id")
        for name in args.text_channels:
            channel = discord.utils.get(guild.channels, name=name)
            expect(isinstance(channel, discord.TextChannel), f"text channel {name!r} is {channel!r}")
        for name in args.voice_channels:
            channel = discord.utils.get(guild.channels, name=name)
            expect(isinstance(channel, discord.VoiceChannel), f"voice channel {name!r} is {channel!r}")
        for name in args.roles:
            expect(discord.utils.get(guild.roles, name=name) is not None, f"no role {name!r}: {guild.roles}")
        me = guild.me
        expect(me is not None and me.id == client.user.id, f"guild.me is {me!r} (the bot's own member)")
        print(f"# guild {guild.name!r} ({guild.id}): {len(guild.channels)} channels, {len(guild.roles)} roles, "
              f"{len(guild.members)} cached members of {guild.member_count}", flush=True)
    await r.check("guild_create", guild_create)

    async def guild_permissions() -> None:
        # discord.py computes permissions itself from roles and overwrites in GUILD_CREATE.
        guild: discord.Guild = state["guild"]
        text = discord.utils.get(guild.text_channels, name=args.text_channels[0])
        perms = text.permissions_for(guild.me)
        expect(perms.view_channel and perms.send_messages, f"the bot's permissions in #{text.name}: {perms}")
        owner = guild.get_member(guild.owner_id)
        if owner is not None:
            expect(text.permissions_for(owner).administrator, "the owner lacks administrator")
    await r.check("guild_permissions", guild_permissions)

    async def voice_state_in_guild_create() -> None:
        # Without GUILD_PRESENCES, members hold the bot and users in voice; voice states in
        # GUILD_CREATE (without guild_id) attach to those members.
        expect(args.voice_user_id is not None, "no --voice-user-id given")
        guild: discord.Guild = state["guild"]
        member = guild.get_member(args.voice_user_id)
        expect(member is not None, f"the member in voice {args.voice_user_id} is not cached")
        expect(member.voice is not None and member.voice.channel is not None, f"{member} has no voice state")
        expect(member.voice.channel.name == args.voice_channels[0],
               f"{member} is in {member.voice.channel!r}, expected {args.voice_channels[0]!r}")
        expect(member in member.voice.channel.members, f"{member.voice.channel} does not list {member}")
    if args.voice_user_id is not None:
        await r.check("voice_state_in_guild_create", voice_state_in_guild_create)

    async def bot_voice_state() -> None:
        # Guild.change_voice_state sends op 4 (no voice connection: that would need PyNaCl and a
        # voice server); the gateway answers with the bot's VOICE_STATE_UPDATE, join then leave.
        guild: discord.Guild = state["guild"]
        music = discord.utils.get(guild.voice_channels, name=args.voice_channels[0])
        await guild.change_voice_state(channel=music, self_deaf=True)
        joined = await connected(events.wait(
            "voice_state_update", lambda e: e["member"] == client.user.id and e["after"] is not None, 5), "joining")
        expect(joined["after"] == music.id and joined["before"] is None, f"join: {joined}")
        expect(joined["self_deaf"] and not joined["self_mute"], f"join: {joined}")
        expect(joined["session_id"], f"join without a voice session_id: {joined}")
        expect(guild.me.voice is not None and guild.me.voice.channel == music, f"guild.me.voice {guild.me.voice}")
        await guild.change_voice_state(channel=None)
        left = await connected(events.wait(
            "voice_state_update", lambda e: e["member"] == client.user.id and e["after"] is None, 5), "leaving")
        expect(left["before"] == music.id, f"leave: {left}")
        expect(guild.me.voice is None, f"guild.me.voice after leaving {guild.me.voice}")
    await r.check("bot_voice_state", bot_voice_state)

    async def sync_commands() -> None:
        # CommandTree.sync: PUT /applications/{app}/guilds/{guild}/commands (bulk overwrite).
        guild: discord.Guild = state["guild"]
        target = discord.Object(id=guild.id) if args.guild_id is not None else None
        synced = {c.name: c for c in await tree.sync(guild=target)}
        expect(sorted(synced) == ["echo", "find", "later"], f"synced {list(synced.values())}")
        for command in synced.values():
            expect(command.id != 0 and command.application_id == client.application_id,
                   f"/{command.name}: id {command.id}, application {command.application_id}")
            if target is not None:
                expect(command.guild_id == guild.id, f"/{command.name}: guild_id {command.guild_id}")
            expect(command.type == discord.AppCommandType.chat_input, f"/{command.name}: type {command.type}")
        options = [(o.name, o.type, o.required) for o in synced["echo"].options]
        expect(options == [("text", discord.AppCommandOptionType.string, True)], f"/echo options {options}")
        expect(synced["later"].options == [], f"/later options {synced['later'].options}")
        find_options = [(o.name, o.type, o.required, o.autocomplete) for o in synced["find"].options]
        expect(find_options == [("query", discord.AppCommandOptionType.string, True, True)],
               f"/find options {find_options}")
        ids = {name: command.id for name, command in synced.items()}
        fetched = {c.name: c.id for c in await tree.fetch_commands(guild=target)}
        expect(fetched == ids, f"fetched {fetched}, synced {ids}")
        # A second sync keeps the ids (same names and types).
        again = {c.name: c.id for c in await tree.sync(guild=target)}
        expect(again == ids, f"the ids changed on a second sync: {again} (were {ids})")
        state["commands"] = ids
        print(f"# registered {ids}", flush=True)
    if not await r.check("sync_commands", sync_commands) or args.no_interaction:
        await client.close()
        return

    print(f"{AWAITING}echo", flush=True)

    async def interaction_create() -> None:
        record = await connected(events.wait("echo", lambda _: True, args.interaction_timeout), "/echo")
        state["echo"] = record
        interaction: discord.Interaction = record["interaction"]
        guild: discord.Guild = state["guild"]
        expect(interaction.type == discord.InteractionType.application_command, f"type {interaction.type}")
        expect(interaction.guild_id == guild.id and interaction.guild == guild, f"guild {interaction.guild_id}")
        expect(isinstance(interaction.channel, discord.TextChannel) and interaction.channel.name == args.text_channels[0],
               f"channel {interaction.channel!r}")
        expect(isinstance(interaction.user, discord.Member), f"user is {type(interaction.user).__name__}, not a Member")
        if args.invoker_id is not None:
            expect(interaction.user.id == args.invoker_id, f"invoked by {interaction.user.id}")
        expect(interaction.command is not None and interaction.command.name == "echo", f"command {interaction.command}")
        expect(interaction.data is not None and int(interaction.data["id"]) == state["commands"]["echo"],
               f"data.id {interaction.data and interaction.data.get('id')} != registered {state['commands']['echo']}")
        expect(record["text"] == args.echo_text, f"option text {record['text']!r}")
        expect(interaction.permissions.use_application_commands, f"member permissions {interaction.permissions}")
        expect(interaction.app_permissions.send_messages, f"app_permissions {interaction.app_permissions}")
        expect(str(interaction.locale) == "en-US", f"locale {interaction.locale}")
        expect(interaction.guild_locale is not None, "no guild_locale")
        expect(interaction.context.guild, f"context {interaction.context}")
        expect(interaction.is_guild_integration(), "authorizing_integration_owners lacks the guild")
    if not await r.check("interaction_create", interaction_create, timeout=args.interaction_timeout + 5):
        await client.close()
        return

    async def interaction_response() -> None:
        # InteractionResponse.send_message: POST /interactions/{id}/{token}/callback?with_response=1
        record = state["echo"]
        if "callback_error" in record:
            raise Fail(f"send_message raised {record['callback_error']!r}")
        interaction: discord.Interaction = record["interaction"]
        callback = record["callback"]
        expect(isinstance(callback, discord.InteractionCallbackResponse), f"send_message returned {callback!r}")
        expect(callback.id == interaction.id, f"callback for interaction {callback.id}")
        expect(callback.type == discord.InteractionResponseType.channel_message, f"callback type {callback.type}")
        expect(not callback.is_thinking() and not callback.is_ephemeral(), "a plain response came back thinking/ephemeral")
        expect(callback.message_id is not None, "no response_message_id")
        message = callback.resource
        expect(isinstance(message, discord.InteractionMessage), f"resource {message!r}")
        expect(message.id == callback.message_id, f"resource message {message.id} != {callback.message_id}")
        expect(message.content == f"echo: {args.echo_text}", f"content {message.content!r}")
        expect(message.author.id == client.user.id, f"author {message.author}")
        expect(interaction.response.is_done(), "the response is not marked done")
        state["message_id"] = callback.message_id
    await r.check("interaction_response", interaction_response)

    async def message_create_for_response() -> None:
        # A non-ephemeral response is a channel message: MESSAGE_CREATE reaches the bot.
        message: discord.Message = await events.wait("message", lambda m: m.id == state.get("message_id"), 5)
        expect(message.author.id == client.user.id, f"author {message.author}")
        expect(message.content == f"echo: {args.echo_text}", f"content {message.content!r}")
        expect(message.guild == state["guild"], f"guild {message.guild}")
        expect(message.type == discord.MessageType.chat_input_command, f"type {message.type}")
    await r.check("message_create_for_response", message_create_for_response)

    async def original_response() -> None:
        # GET /webhooks/{app}/{token}/messages/@original, then PATCH it.
        interaction: discord.Interaction = state["echo"]["interaction"]
        original = await interaction.original_response()
        expect(original.id == state["message_id"], f"@original is {original.id}")
        expect(original.content == f"echo: {args.echo_text}", f"@original content {original.content!r}")
        edited = await interaction.edit_original_response(content=f"echo (edited): {args.echo_text}")
        expect(edited.id == original.id and edited.content == f"echo (edited): {args.echo_text}",
               f"edit answered {edited.id} {edited.content!r}")
        expect(edited.edited_at is not None, "an edited message without edited_timestamp")
        update = await events.wait("raw_message_edit", lambda p: p.message_id == original.id, 5)
        expect(update.data.get("content") == f"echo (edited): {args.echo_text}", f"MESSAGE_UPDATE {update.data}")
    await r.check("original_response", original_response)

    async def followup() -> None:
        # Webhook.send through interaction.followup: POST /webhooks/{app}/{token}?wait=1
        interaction: discord.Interaction = state["echo"]["interaction"]
        sent = await interaction.followup.send(f"followup: {args.echo_text}", wait=True)
        expect(isinstance(sent, discord.WebhookMessage), f"followup.send returned {sent!r}")
        expect(sent.content == f"followup: {args.echo_text}", f"followup content {sent.content!r}")
        expect(sent.id != state["message_id"], "the follow-up has the original's id")
        expect(sent.webhook_id == client.application_id, f"webhook_id {sent.webhook_id}")
        got = await interaction.followup.fetch_message(sent.id)
        expect(got.id == sent.id and got.content == sent.content, f"fetched follow-up {got.id} {got.content!r}")
    await r.check("followup", followup)

    print(f"{AWAITING}later", flush=True)

    async def deferred_response() -> None:
        # defer(ephemeral=True): callback type 5 with the EPHEMERAL flag; the answer (with_response)
        # is a loading, ephemeral message.
        record = await connected(events.wait("later", lambda _: True, args.interaction_timeout), "/later")
        state["later"] = record
        if "error" in record:
            raise Fail(f"the /later handler raised {record['error']!r}")
        callback = record["callback"]
        expect(isinstance(callback, discord.InteractionCallbackResponse), f"defer returned {callback!r}")
        expect(callback.type == discord.InteractionResponseType.deferred_channel_message, f"type {callback.type}")
        expect(callback.is_thinking() and callback.is_ephemeral(),
               f"thinking {callback.is_thinking()}, ephemeral {callback.is_ephemeral()}")
        loading = callback.resource
        expect(isinstance(loading, discord.InteractionMessage), f"resource {loading!r}")
        expect(loading.flags.loading and loading.flags.ephemeral, f"loading message flags {loading.flags}")
        expect(loading.id == callback.message_id, f"resource {loading.id} != {callback.message_id}")
    if not await r.check("deferred_response", deferred_response, timeout=args.interaction_timeout + 5):
        await client.close()
        return

    async def first_followup_completes_deferred() -> None:
        # Right after a deferred response, Execute Webhook edits the loading message instead of
        # creating one ("for backwards compatibility", Create Followup Message).
        record = state["later"]
        interaction: discord.Interaction = record["interaction"]
        sent = record["followup"]
        expect(isinstance(sent, discord.WebhookMessage), f"followup.send returned {sent!r}")
        expect(sent.id == record["callback"].message_id, f"a new message {sent.id} instead of the loading one")
        expect(sent.content == "later: done", f"content {sent.content!r}")
        expect(sent.flags.ephemeral and not sent.flags.loading, f"flags {sent.flags}")
        original = await interaction.original_response()
        expect(original.id == sent.id and original.content == "later: done",
               f"@original {original.id} {original.content!r}")
    await r.check("first_followup_completes_deferred", first_followup_completes_deferred)

    print(f"{AWAITING}find", flush=True)

    async def autocomplete() -> None:
        # The user types in /find's query (declared with autocomplete): an
        # APPLICATION_COMMAND_AUTOCOMPLETE interaction, answered by CommandTree with the
        # callback's choices (type 8).
        record = await connected(events.wait("autocomplete", lambda _: True, args.interaction_timeout), "/find typing")
        interaction: discord.Interaction = record["interaction"]
        expect(interaction.type == discord.InteractionType.autocomplete, f"type {interaction.type}")
        expect(record["current"] == args.typed_text, f"current {record['current']!r}")
        expect(interaction.command is not None and interaction.command.name == "find", f"command {interaction.command}")
        expect(isinstance(interaction.user, discord.Member), f"user {interaction.user!r}")
        expect(interaction.guild_locale is not None and interaction.locale is not None, "locales missing")
        # CommandTree sends the choices (type 8) after this callback returns; what the stand-in
        # made of them is checked on the Rust side (the recorded choices, no refusal).
    await r.check("autocomplete", autocomplete, timeout=args.interaction_timeout + 5)

    async def button_message() -> None:
        # A channel message with a button (a discord.ui.View), then `# awaiting /skip`: the
        # scripted user presses it; the view's callback answers with edit_message (type 7).
        guild: discord.Guild = state["guild"]
        channel = discord.utils.get(guild.text_channels, name=args.text_channels[0])
        sent = await channel.send("Now playing", view=skip_view(events))
        expect(len(sent.components) == 1, f"components {sent.components}")
        state["button_message"] = sent
        print(f"{AWAITING}skip {sent.id}", flush=True)
        record = await connected(events.wait("pressed", lambda _: True, args.interaction_timeout), "the press")
        if "error" in record:
            raise Fail(f"edit_message raised {record['error']!r}")
        interaction: discord.Interaction = record["interaction"]
        expect(interaction.type == discord.InteractionType.component, f"type {interaction.type}")
        expect(interaction.data.get("custom_id") == "skip" and interaction.data.get("component_type") == 2,
               f"data {interaction.data}")
        expect(interaction.message is not None and interaction.message.id == sent.id,
               f"message {interaction.message and interaction.message.id}")
        callback = record["callback"]
        expect(isinstance(callback, discord.InteractionCallbackResponse), f"edit_message returned {callback!r}")
        expect(callback.type == discord.InteractionResponseType.message_update, f"callback type {callback.type}")
        expect(isinstance(callback.resource, discord.InteractionMessage) and callback.resource.id == sent.id
               and callback.resource.content == "Skipped", f"resource {callback.resource!r}")
        update = await events.wait("raw_message_edit", lambda p: p.message_id == sent.id, 5)
        expect(update.data.get("content") == "Skipped", f"MESSAGE_UPDATE {update.data}")
        fetched = await channel.fetch_message(sent.id)
        # The Message object's `components?` is "sent if the message contains components": a
        # message without any leaves the field out, and discord.py then sets no `components`
        # attribute at all (finding P6), hence getattr.
        components = getattr(fetched, "components", [])
        expect(fetched.content == "Skipped" and components == [] and fetched.edited_at is not None,
               f"fetched {fetched.content!r} {components} {fetched.edited_at}")
    await r.check("button_update_message", button_message, timeout=args.interaction_timeout + 10)

    async def channel_message_edit_delete() -> None:
        # Message.edit (PATCH /channels/{c}/messages/{m}), fetch_message (GET), delete (DELETE).
        guild: discord.Guild = state["guild"]
        channel = discord.utils.get(guild.text_channels, name=args.text_channels[0])
        sent = await channel.send("temporary")
        edited = await sent.edit(content="temporary (edited)")
        expect(edited.id == sent.id and edited.content == "temporary (edited)", f"edit {edited.content!r}")
        expect(edited.edited_at is not None, "no edited_timestamp")
        update = await events.wait("raw_message_edit", lambda p: p.message_id == sent.id, 5)
        expect(update.data.get("content") == "temporary (edited)", f"MESSAGE_UPDATE {update.data}")
        fetched = await channel.fetch_message(sent.id)
        expect(fetched.content == "temporary (edited)", f"fetched {fetched.content!r}")
        await sent.delete()
        deleted = await events.wait("raw_message_delete", lambda p: p.message_id == sent.id, 5)
        expect(deleted.channel_id == channel.id and deleted.guild_id == guild.id,
               f"MESSAGE_DELETE channel {deleted.channel_id} guild {deleted.guild_id}")
        try:
            await channel.fetch_message(sent.id)
        except discord.NotFound as missing:
            expect(missing.code == 10008, f"fetching the deleted message: code {missing.code}")
        else:
            raise Fail("the deleted message could still be fetched")
    await r.check("channel_message_edit_delete", channel_message_edit_delete)

    await client.close()
    try:
        await asyncio.wait_for(connection, 5)
    except Exception as exc:  # noqa: BLE001 - a close ends connect(); how it ends is informational
        print(f"# connect() ended with {exc!r}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest-base", required=True, help="the stand-in's REST base, e.g. http://127.0.0.1:PORT/api/v10")
    parser.add_argument("--token", required=True, help="the bot token the stand-in accepts")
    parser.add_argument("--guild-id", type=int, help="the guild to check and register /echo in (default: the first, global /echo)")
    parser.add_argument("--guild-name")
    parser.add_argument("--member-count", type=int)
    parser.add_argument("--text-channels", nargs="+", default=["general"])
    parser.add_argument("--voice-channels", nargs="+", default=["Music", "Lounge"])
    parser.add_argument("--roles", nargs="*", default=["Admin"])
    parser.add_argument("--bot-user-id", type=int)
    parser.add_argument("--application-id", type=int)
    parser.add_argument("--voice-user-id", type=int, help="a member who is in the first voice channel")
    parser.add_argument("--invoker-id", type=int, help="the member who will invoke /echo")
    parser.add_argument("--echo-text", default="hello from the stand-in")
    parser.add_argument("--typed-text", default="nev", help="what the user types in /find's query")
    parser.add_argument("--no-interaction", action="store_true", help="stop after registering /echo")
    parser.add_argument("--interaction-timeout", type=float, default=20.0)
    parser.add_argument("--deadline", type=float, default=55.0, help="seconds the whole run may take")
    parser.add_argument("--verbose", action="store_true", help="discord.py debug logging on stderr")
    args = parser.parse_args()
    url = urlparse(args.rest_base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only a loopback stand-in may be driven")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    started = time.monotonic()
    runner = Runner()

    async def bounded() -> None:
        await asyncio.wait_for(run(args, runner), args.deadline)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        runner._fail("deadline", f"the run exceeded {args.deadline:.0f}s")
    print(f"# discord_py_client took {time.monotonic() - started:.1f}s", flush=True)
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
