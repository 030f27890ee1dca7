#!/usr/bin/env python3
"""Drive a Lavalink v4 node with Lavalink.py 5.11.1, unchanged, the way a discord.py bot would.

This is the independent client proof for the project's Lavalink stand-in (`dimby sim lavalink`):
every step below is something a real bot does through Lavalink.py's public API, and each step is a
named check that prints `PASS name` or `FAIL name: why`. The run ends with `N passed, M failed`
and exits 0 only when every check passed.

Nothing of Lavalink.py is patched. The only things this script feeds it by hand are the raw Discord
gateway payloads (VOICE_STATE_UPDATE / VOICE_SERVER_UPDATE), exactly as discord.py hands them to
`Client.voice_update_handler` in a bot, because there is no Discord here.

Every wait is bounded by a timeout that only guards against failure: the script waits on the
events it expects and moves on as soon as they arrive. The whole run is bounded by --deadline.

Usage: lavalink_py_client.py --url http://127.0.0.1:PORT --password PW
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional
from urllib.parse import urlparse

import lavalink
from lavalink import (
    AudioTrack,
    EndReason,
    IncomingWebSocketMessage,
    LoadType,
    NodeReadyEvent,
    PlayerUpdateEvent,
    QueueEndEvent,
    Severity,
    TrackEndEvent,
    TrackStartEvent,
)

EXPECTED_LAVALINK_PY = "5.11.1"

# Snowflakes of a made-up bot, guild and voice channel (only their shape matters).
BOT_USER_ID = 170939974227541168
GUILD_ID = 817327181659111454
CHANNEL_ID = 817327181659111460
DISCORD_VOICE_SESSION = "3f8c2b9a1d5e4f60a7b8c9d0e1f2a3b4"
VOICE_TOKEN = "a1b2c3d4e5f60718"
VOICE_ENDPOINT = "c-ams05-a1b2.discord.media:443"

HTTP_URL = "https://cdn.example.com/music/song.mp3"


class Fail(Exception):
    """A check failed; the message says why."""


def expect(condition: bool, why: str) -> None:
    if not condition:
        raise Fail(why)


class EventLog:
    """Collects every Lavalink.py event (a generic hook) so checks can wait on them."""

    def __init__(self) -> None:
        self.events: List[tuple[float, Any]] = []
        self._cond = asyncio.Condition()

    async def hook(self, event: Any) -> None:
        async with self._cond:
            self.events.append((time.monotonic(), event))
            self._cond.notify_all()

    def mark(self) -> int:
        return len(self.events)

    async def wait(self, pred: Callable[[Any], bool], timeout: float, what: str, since: int = 0) -> Any:
        """Returns the first event at or after index `since` that satisfies `pred`."""
        return (await self.wait_with_time(pred, timeout, what, since))[1]

    async def wait_with_time(self, pred: Callable[[Any], bool], timeout: float, what: str,
                             since: int = 0) -> tuple[float, Any]:
        deadline = time.monotonic() + timeout
        idx = since
        async with self._cond:
            while True:
                while idx < len(self.events):
                    stamp, event = self.events[idx]
                    idx += 1
                    if pred(event):
                        return stamp, event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Fail(f"no {what} within {timeout:.1f}s")
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    raise Fail(f"no {what} within {timeout:.1f}s") from None


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

    def skip_as_failed(self, name: str, why: str) -> None:
        self._fail(name, why)


def raw_voice_state_update(channel_id: Optional[int]) -> Dict[str, Any]:
    """A VOICE_STATE_UPDATE dispatch for our own bot user, as the gateway sends it."""
    return {
        "op": 0,
        "s": 42,
        "t": "VOICE_STATE_UPDATE",
        "d": {
            "guild_id": str(GUILD_ID),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(BOT_USER_ID),
            "member": {"user": {"id": str(BOT_USER_ID), "username": "dimby", "bot": True},
                       "roles": [], "deaf": False, "mute": False, "joined_at": "2024-01-01T00:00:00+00:00"},
            "session_id": DISCORD_VOICE_SESSION,
            "deaf": False,
            "mute": False,
            "self_deaf": True,
            "self_mute": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        },
    }


def raw_voice_server_update() -> Dict[str, Any]:
    """A VOICE_SERVER_UPDATE dispatch, as the gateway sends it after the voice state."""
    return {
        "op": 0,
        "s": 43,
        "t": "VOICE_SERVER_UPDATE",
        "d": {"token": VOICE_TOKEN, "guild_id": str(GUILD_ID), "endpoint": VOICE_ENDPOINT},
    }


def is_raw(op: str, guild: Optional[int] = None) -> Callable[[Any], bool]:
    def pred(ev: Any) -> bool:
        if not isinstance(ev, IncomingWebSocketMessage) or not isinstance(ev.data, dict):
            return False
        if ev.data.get("op") != op:
            return False
        return guild is None or ev.data.get("guildId") == str(guild)
    return pred


def track_summary(t: AudioTrack) -> Dict[str, Any]:
    return {
        "identifier": t.identifier, "title": t.title, "author": t.author, "duration": t.duration,
        "uri": t.uri, "stream": t.stream, "is_seekable": t.is_seekable, "source_name": t.source_name,
    }


async def run(args: argparse.Namespace, r: Runner) -> None:
    url = urlparse(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 2333
    state: Dict[str, Any] = {}

    client = lavalink.Client(BOT_USER_ID)
    log = EventLog()
    client.add_event_hook(log.hook)  # no event type: every event, including raw socket messages
    node = client.add_node(host, port, args.password, region="eu", name="sim")

    async def library_version() -> None:
        expect(lavalink.__version__ == EXPECTED_LAVALINK_PY,
               f"Lavalink.py {lavalink.__version__} installed, the proof is pinned to {EXPECTED_LAVALINK_PY}")
    await r.check("lavalink_py_version", library_version)

    async def node_ready() -> None:
        ready = await log.wait(lambda e: isinstance(e, NodeReadyEvent), 10, "NodeReadyEvent")
        expect(bool(ready.session_id), "ready carried no sessionId")
        expect(ready.resumed is False, f"a fresh connection reported resumed={ready.resumed}")
        expect(node.available, "node not available after ready")
        expect(node.session_id == ready.session_id, "node.session_id differs from the ready op")
        state["session_id"] = ready.session_id
    if not await r.check("node_ready", node_ready):
        await client.close()
        return

    async def stats_at_connect() -> None:
        # websocket.md "Stats OP"; the server schedules the first one at connect (StatsCollector, delay 0).
        await log.wait(is_raw("stats"), 5, "stats op")
        await log.wait(lambda e: not node.stats.is_fake, 1, "parsed stats")
        st = node.stats
        expect(st.players >= 0 and st.playing_players >= 0 and st.uptime > 0,
               f"odd stats: players={st.players} playing={st.playing_players} uptime={st.uptime}")
    await r.check("stats_at_connect", stats_at_connect)

    async def rest_version_info() -> None:
        version = await node.get_version()
        expect(isinstance(version, str) and version.split(".")[0] == "4", f"/version said {version!r}")
        info = await node.get_info()
        expect(info["version"]["major"] == 4, f"/v4/info version {info.get('version')!r}")
        expect(info["version"]["semver"] == version.strip(), "/version and /v4/info disagree")
    await r.check("rest_version_and_info", rest_version_info)

    async def load_search() -> None:
        result = await client.get_tracks("ytsearch:never gonna give you up")
        expect(result.load_type == LoadType.SEARCH, f"loadType {result.load_type}")
        expect(len(result.tracks) > 0, "search returned no tracks")
        for t in result.tracks:
            expect(isinstance(t.track, str) and t.track, "track without encoded data")
            expect(isinstance(t.duration, int) and t.duration > 0, f"bad length {t.duration!r}")
            expect(t.title and t.identifier and t.source_name, f"incomplete track info {track_summary(t)}")
        state["search_track"] = result.tracks[0]
    await r.check("load_search", load_search)

    async def load_http() -> None:
        result = await client.get_tracks(HTTP_URL)
        expect(result.load_type == LoadType.TRACK, f"loadType {result.load_type}")
        expect(len(result.tracks) == 1, f"{len(result.tracks)} tracks")
        t = result.tracks[0]
        expect(t.uri == HTTP_URL, f"uri {t.uri!r}")
        # lavaplayer's HTTP source names itself "http" and uses the URL as the identifier.
        expect(t.source_name == "http", f"sourceName {t.source_name!r}")
        expect(t.identifier == HTTP_URL, f"identifier {t.identifier!r}")
        state["http_track"] = t
    await r.check("load_http_url", load_http)

    async def load_error() -> None:
        result = await client.get_tracks("sim:error:common")
        expect(result.load_type == LoadType.ERROR, f"loadType {result.load_type}")
        expect(result.error is not None, "no error object")
        expect(result.error.severity == Severity.COMMON, f"severity {result.error.severity}")
        expect(bool(result.error.message), "error without message")
        expect(result.tracks == [], "an error result carried tracks")
    await r.check("load_error", load_error)

    async def decode_rest() -> None:
        expect("search_track" in state, "needs load_search")
        original: AudioTrack = state["search_track"]
        decoded = await client.decode_track(original.track)
        expect(track_summary(decoded) == track_summary(original),
               f"decodetrack {track_summary(decoded)} != loaded {track_summary(original)}")
        many = await client.decode_tracks([original.track] + ([state["http_track"].track] if "http_track" in state else []))
        expect(track_summary(many[0]) == track_summary(original), "decodetracks[0] differs")
    await r.check("decode_track_rest", decode_rest)

    async def decode_local() -> None:
        # Lavalink.py's own reader of lavaplayer's binary track format: the stand-in's `encoded`
        # must be the real thing, not an opaque token.
        expect("search_track" in state, "needs load_search")
        for key in ("search_track", "http_track"):
            if key not in state:
                continue
            original: AudioTrack = state[key]
            try:
                local = lavalink.decode_track(original.track)
            except Exception as exc:  # noqa: BLE001
                raise Fail(f"{key} ({original.source_name}): Lavalink.py cannot decode its `encoded`: "
                           f"{type(exc).__name__}: {exc}") from None
            expect(track_summary(local) == track_summary(original),
                   f"{key}: local decode {track_summary(local)} != server info {track_summary(original)}")
    await r.check("decode_track_local_codec", decode_local)

    player = client.player_manager.create(GUILD_ID)

    async def voice_update() -> None:
        # discord.py hands these raw dispatches to Lavalink.py (VoiceProtocol / on_socket_raw_receive).
        await client.voice_update_handler(raw_voice_state_update(CHANNEL_ID))
        await client.voice_update_handler(raw_voice_server_update())
        raw = await node.get_player(GUILD_ID)
        voice = raw.get("voice", {})
        expect(voice.get("token") == VOICE_TOKEN, f"voice.token {voice.get('token')!r}")
        expect(voice.get("endpoint") == VOICE_ENDPOINT, f"voice.endpoint {voice.get('endpoint')!r}")
        expect(voice.get("sessionId") == DISCORD_VOICE_SESSION, f"voice.sessionId {voice.get('sessionId')!r}")
        expect(voice.get("channelId") in (None, str(CHANNEL_ID)), f"voice.channelId {voice.get('channelId')!r}")
        expect(player.channel_id == CHANNEL_ID, "player.channel_id not set from the voice state")
    await r.check("voice_update", voice_update)

    async def play() -> None:
        expect("search_track" in state, "needs load_search")
        track: AudioTrack = state["search_track"]
        mark = log.mark()
        player.add(track=track, requester=BOT_USER_ID)
        await player.play()
        started = await log.wait(lambda e: isinstance(e, TrackStartEvent) and e.player is player, 5,
                                 "TrackStartEvent", mark)
        expect(started.track.identifier == track.identifier, f"started {started.track.identifier!r}")
        expect(player.is_playing and player.current is not None, "player does not consider itself playing")
        raw = await node.get_player(GUILD_ID)
        # Compare by identity, not by `encoded`: Lavalink re-encodes the playing track with its
        # current position (util.kt toPlayer -> encodeTrack), so the string changes as it plays.
        expect(raw["track"] is not None and raw["track"]["info"]["identifier"] == track.identifier,
               f"server plays {raw['track'] and raw['track']['info']['identifier']!r}")
        expect(raw["paused"] is False, "server player paused")
        state["playing"] = True
    await r.check("play_track_start", play)

    async def player_updates() -> None:
        expect(state.get("playing"), "needs play_track_start")
        mark = log.mark()
        first = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player, 3,
                               "first playerUpdate", mark)
        mark = log.mark()
        second = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player, 3,
                                "second playerUpdate", mark)
        expect(second.position > first.position, f"position did not advance: {first.position} -> {second.position}")
        wall = second.timestamp - first.timestamp
        moved = second.position - first.position
        expect(wall > 0 and abs(moved - wall) <= 400,
               f"position moved {moved} ms in {wall} ms of node time")
        expect(isinstance(second.connected, bool) and isinstance(second.ping, int), "state.connected/ping types")
    await r.check("player_update_advances", player_updates)

    async def pause() -> None:
        expect(state.get("playing"), "needs play_track_start")
        await player.set_pause(True)
        raw = await node.get_player(GUILD_ID)
        expect(raw["paused"] is True, "server player not paused")
        # While paused, lavaplayer's position stands still; Lavalink keeps sending updates (the
        # update task only stops at track end, LavalinkPlayer.onTrackEnd).
        mark = log.mark()
        a = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player, 3, "playerUpdate while paused", mark)
        mark = log.mark()
        b = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player, 3, "second playerUpdate while paused", mark)
        expect(b.timestamp > a.timestamp, "updates carry no advancing time")
        expect(abs(b.position - a.position) <= 25, f"position moved while paused: {a.position} -> {b.position}")
    await r.check("pause", pause)

    async def unpause() -> None:
        expect(state.get("playing"), "needs play_track_start")
        await player.set_pause(False)
        raw = await node.get_player(GUILD_ID)
        expect(raw["paused"] is False, "server player still paused")
    await r.check("unpause", unpause)

    async def seek() -> None:
        expect(state.get("playing"), "needs play_track_start")
        target = 60_000
        mark = log.mark()
        await player.seek(target)
        upd = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player
                             and e.position >= target, 3, f"playerUpdate at >= {target} ms", mark)
        expect(upd.position < target + 1500, f"update after seek at {upd.position}")
        raw = await node.get_player(GUILD_ID)
        pos = raw["state"]["position"]
        expect(target <= pos < target + 2000, f"server position {pos} after seeking to {target}")
        expect(target <= player.position < target + 2500, f"Lavalink.py position estimate {player.position}")
    await r.check("seek", seek)

    async def volume() -> None:
        expect(state.get("playing"), "needs play_track_start")
        await player.set_volume(250)
        raw = await node.get_player(GUILD_ID)
        expect(raw["volume"] == 250, f"server volume {raw['volume']}")
    await r.check("volume", volume)

    async def track_end() -> None:
        result = await client.get_tracks("sim:length:3000")
        expect(result.load_type == LoadType.TRACK, f"sim:length:3000 loadType {result.load_type}")
        short = result.tracks[0]
        expect(short.duration == 3000, f"length {short.duration}")
        previous = player.current
        mark = log.mark()
        await player.play(short)
        if previous is not None:
            replaced = await log.wait(lambda e: isinstance(e, TrackEndEvent) and e.player is player, 3,
                                      "TrackEndEvent for the replaced track", mark)
            expect(replaced.reason == EndReason.REPLACED, f"replaced track ended with {replaced.reason}")
        t_start, _ = await log.wait_with_time(
            lambda e: isinstance(e, TrackStartEvent) and e.player is player and e.track.identifier == short.identifier,
            3, "TrackStartEvent for sim:length:3000", mark)
        t_end, ended = await log.wait_with_time(
            lambda e: isinstance(e, TrackEndEvent) and e.player is player and e.reason != EndReason.REPLACED,
            8, "TrackEndEvent for sim:length:3000", mark)
        expect(ended.reason == EndReason.FINISHED, f"reason {ended.reason}")
        expect(ended.track is not None and ended.track.identifier == short.identifier, "ended track is not the short one")
        took = t_end - t_start
        expect(2.5 <= took <= 5.0, f"a 3000 ms track ended after {took:.2f}s")
        # DefaultPlayer starts the next queued track on `finished`; the queue is empty, so it stops
        # (PATCH track.encoded = null) and raises QueueEndEvent.
        await log.wait(lambda e: isinstance(e, QueueEndEvent) and e.player is player, 3, "QueueEndEvent", mark)
        raw = await node.get_player(GUILD_ID)
        expect(raw["track"] is None, f"server still has a track after the queue ended: {raw['track']}")
    await r.check("track_end_finished", track_end, timeout=15)

    async def enable_resuming() -> None:
        # Lavalink.py never enables resuming itself (nothing in it calls update_session); a bot
        # that wants it calls Node.update_session once the node is ready.
        answer = await node.update_session(resuming=True, timeout=30)
        expect(answer == {"resuming": True, "timeout": 30}, f"session PATCH answered {answer!r}")
    await r.check("enable_resuming", enable_resuming)

    async def play_long() -> None:
        result = await client.get_tracks("sim:length:600000")
        expect(result.load_type == LoadType.TRACK, f"loadType {result.load_type}")
        mark = log.mark()
        await player.play(result.tracks[0])
        await log.wait(lambda e: isinstance(e, TrackStartEvent) and e.player is player, 3, "TrackStartEvent", mark)
        upd = await log.wait(lambda e: isinstance(e, PlayerUpdateEvent) and e.player is player and e.position > 0,
                             3, "playerUpdate while playing", mark)
        state["long_track"] = result.tracks[0]
        state["position_before_resume"] = upd.position
    await r.check("play_before_resume", play_long)

    # Disconnect and resume. Lavalink.py resumes a session only when a connection task starts
    # with a known session id: `add_node(session_id=...)` (documented as "the ID of the session to
    # resume"), which is how a restarted bot resumes. Its automatic reconnect builds its headers
    # before the first ready, so it never sends Session-Id; and `Node.connect(force=True)` races
    # its own old connection task (seen here: the old task reconnects without Session-Id and
    # closes the new socket), so this proof takes the documented path: the bot goes away and a
    # new Lavalink.py client resumes with the saved id.
    client2 = lavalink.Client(BOT_USER_ID)
    log2 = EventLog()
    client2.add_event_hook(log2.hook)
    node2 = client2.add_node(host, port, args.password, region="eu", name="sim-resumed",
                             session_id=state["session_id"], connect=False)

    async def disconnect() -> None:
        expect("long_track" in state, "needs play_before_resume")
        before = await node.get_player(GUILD_ID)
        state["before_disconnect"] = (time.monotonic(), before["state"]["position"])
        await client.close()  # Node.destroy: closes the socket (1000) and stops reconnecting
        # With resuming on, the node keeps the session but takes it out of service until a
        # resume: Lavalink answers REST for it with 404 "Session not found" meanwhile
        # (SocketServer.afterConnectionClosed removes it from `sessions`). Waiting for that is
        # also how we know the node has seen the close before we reconnect.
        deadline = time.monotonic() + 3
        while True:
            try:
                await node2.get_players()
            except lavalink.RequestError as err:
                expect(err.status == 404, f"REST on the paused session answered {err.status}")
                expect(err.message == "Session not found", f"message {err.message!r}")
                break
            expect(time.monotonic() < deadline, "the node still serves the session 3s after its socket closed")
            await asyncio.sleep(0.05)
    disconnected = await r.check("disconnect_pauses_session", disconnect)

    async def resume_ready() -> None:
        expect(disconnected, "needs disconnect_pauses_session")
        await node2.connect()
        ready = await log2.wait(lambda e: isinstance(e, NodeReadyEvent), 5, "NodeReadyEvent")
        expect(ready.resumed is True, "ready.resumed is false: the session was not resumed")
        expect(ready.session_id == state["session_id"], f"session id changed {state['session_id']} -> {ready.session_id}")
        state["resumed"] = True
    await r.check("resume_ready", resume_ready)

    async def resume_player_update() -> None:
        expect(state.get("resumed"), "needs resume_ready")
        # SocketContext.resume: after ready(resumed) the node sends one playerUpdate per player,
        # which only a node that kept the player can send (client2 has no player object yet, so
        # this is read from the raw socket messages).
        upd = await log2.wait(is_raw("playerUpdate", GUILD_ID), 3, "playerUpdate after resume")
        t0, p0 = state["before_disconnect"]
        pos = upd.data["state"]["position"]
        gone_ms = (time.monotonic() - t0) * 1000
        expect(pos >= p0 + 0.5 * gone_ms, f"the track did not keep playing: {p0} ms before, {pos} ms "
                                          f"after {gone_ms:.0f} ms away")
        expect(pos <= p0 + gone_ms + 1000, f"position {pos} ran ahead of wall time (was {p0}, {gone_ms:.0f} ms away)")
    await r.check("resume_player_update", resume_player_update)

    async def resume_player_kept() -> None:
        expect(state.get("resumed"), "needs resume_ready")
        raw = await node2.get_player(GUILD_ID)
        expect(raw["track"] is not None and raw["track"]["info"]["identifier"] == state["long_track"].identifier,
               f"player's track after resume: {raw.get('track')}")
        expect(raw["voice"].get("sessionId") == DISCORD_VOICE_SESSION, f"voice lost: {raw['voice']}")
        expect(raw["voice"].get("token") == VOICE_TOKEN, f"voice lost: {raw['voice']}")
        expect(raw["paused"] is False, "player paused after resume")
        expect(raw["state"]["position"] > state["before_disconnect"][1], "position did not advance")
        players = await node2.get_players()
        expect([p["guildId"] for p in players] == [str(GUILD_ID)], f"players {players!r}")
    await r.check("resume_player_kept", resume_player_kept)

    async def resume_control() -> None:
        # "You will then be able to resume your session, allowing you to control the players
        # again" (api/index.md, Resuming): the resumed client drives the kept player.
        expect(state.get("resumed"), "needs resume_ready")
        p2 = client2.player_manager.create(GUILD_ID)
        await p2.set_pause(True)
        raw = await node2.get_player(GUILD_ID)
        expect(raw["paused"] is True, "pause through the resumed session did not reach the player")
        mark = log2.mark()
        await p2.destroy()
        ended = await log2.wait(is_raw("event", GUILD_ID), 3, "event after destroying the player", mark)
        expect(ended.data.get("type") == "TrackEndEvent" and ended.data.get("reason") == "stopped",
               f"destroying a player with a track sent {ended.data.get('type')}/{ended.data.get('reason')}")
        expect(await node2.get_players() == [], "player still listed after destroy")
    await r.check("resume_control", resume_control)

    for c in (client, client2):  # closing twice is harmless; a failed step may have skipped one
        await c.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the node's base URL, e.g. http://127.0.0.1:2333")
    parser.add_argument("--password", required=True)
    parser.add_argument("--deadline", type=float, default=55.0, help="seconds the whole run may take")
    parser.add_argument("--verbose", action="store_true", help="Lavalink.py debug logging on stderr")
    args = parser.parse_args()
    host = urlparse(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only loopback nodes may be driven")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    started = time.monotonic()

    runner = Runner()

    async def bounded() -> None:
        await asyncio.wait_for(run(args, runner), args.deadline)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        runner.skip_as_failed("deadline", f"the run exceeded {args.deadline:.0f}s")
    print(f"# lavalink_py_client took {time.monotonic() - started:.1f}s", flush=True)
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
