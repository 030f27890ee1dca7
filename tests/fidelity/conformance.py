#!/usr/bin/env python3
"""Conformance checks for a Lavalink v4 node, written from Lavalink's own documentation and server.

Each check is one documented (or, where the docs are silent, source-evident) behaviour of a real
Lavalink v4 node, named, with the place it comes from in a comment:

  rest.md / websocket.md / index.md  the official docs, lavalink-devs/Lavalink docs/api/*.md
  server: File.kt                    the real server, LavalinkServer/src/main/java/lavalink/server/
  protocol: file.kt                  its wire model, protocol/src/commonMain/kotlin/.../protocol/v4/
  lavaplayer: DefaultAudioPlayer     the audio library under the server
  NOTES                              ../shared/PROTOCOL-NOTES.md (gathered from the above)

It prints `PASS name` or `FAIL name: why` per check, then `N passed, M failed`, and exits 0 only if
every check passed. Every wait is a bounded guard on an expected event, never a hope; the few
fixed pauses are the scenario itself (a socket kept away from a node for a while).

Usage: conformance.py --url http://127.0.0.1:PORT --password PW

Catalogue identifiers are options because a real node resolves different ones; the defaults are
the stand-in's synthetic catalogue (`sim:length:<ms>`, `sim:error:<severity>`, `sim:playlist:<n>`,
`sim:empty`, `ytsearch:...`, http URLs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import http
import json
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional
from urllib.parse import urlparse

import aiohttp
from multidict import CIMultiDict

USER_ID = "170939974227541168"
CLIENT_NAME = "dimby-conformance/1.0"
VOICE = {
    "token": "a1b2c3d4e5f60718",
    "endpoint": "c-ams05-a1b2.discord.media:443",
    "sessionId": "3f8c2b9a1d5e4f60a7b8c9d0e1f2a3b4",
    "channelId": "817327181659111460",
}
BUILTIN_FILTERS = ["volume", "equalizer", "karaoke", "timescale", "tremolo", "vibrato", "distortion",
                   "rotation", "channelMix", "lowPass"]


class Fail(Exception):
    """A check failed; the message says why."""


def expect(condition: bool, why: str) -> None:
    if not condition:
        raise Fail(why)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


# --------------------------------------------------------------------------------------------
# Transport helpers


@dataclass
class Resp:
    status: int
    headers: Any
    text: str
    path: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            raise Fail(f"{self.path}: answer is not JSON: {self.text[:200]!r}") from None


class Node:
    def __init__(self, base: str, password: str, session: aiohttp.ClientSession):
        self.base = base.rstrip("/")
        self.password = password
        self.http = session
        u = urlparse(self.base)
        self.ws_base = f"ws://{u.hostname}:{u.port}"

    async def rest(self, method: str, path: str, *, auth: Optional[str] = "ok", body: Any = None,
                   params: Optional[Dict[str, str]] = None) -> Resp:
        headers = {}
        if auth == "ok":
            headers["Authorization"] = self.password
        elif auth is not None:
            headers["Authorization"] = auth
        kwargs: Dict[str, Any] = {"headers": headers, "params": params or {}}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        async with self.http.request(method, self.base + path, **kwargs) as res:
            return Resp(res.status, res.headers, await res.text(), path)

    async def ok(self, method: str, path: str, body: Any = None, params: Optional[Dict[str, str]] = None,
                 status: int = 200) -> Any:
        r = await self.rest(method, path, body=body, params=params)
        expect(r.status == status, f"{method} {path} answered {r.status} (wanted {status}): {r.text[:300]}")
        return r.json() if status == 200 else None

    async def load(self, identifier: str) -> Dict[str, Any]:
        return await self.ok("GET", "/v4/loadtracks", params={"identifier": identifier})

    async def load_track(self, identifier: str) -> Dict[str, Any]:
        res = await self.load(identifier)
        expect(res.get("loadType") == "track", f"{identifier}: loadType {res.get('loadType')}")
        return res["data"]


class Socket:
    """A Lavalink event socket: collects every message so checks can wait on them."""

    def __init__(self, node: Node, *, password: Optional[str] = "ok", user_id: Optional[str] = USER_ID,
                 session_id: Optional[str] = None):
        self.node = node
        self.headers: Dict[str, str] = {"Client-Name": CLIENT_NAME}
        if password == "ok":
            self.headers["Authorization"] = node.password
        elif password is not None:
            self.headers["Authorization"] = password
        if user_id is not None:
            self.headers["User-Id"] = user_id
        if session_id is not None:
            self.headers["Session-Id"] = session_id
        self.messages: List[tuple[float, Dict[str, Any]]] = []
        self.handshake_headers: CIMultiDict[str] = CIMultiDict()
        self._cond = asyncio.Condition()
        self._http: Optional[aiohttp.ClientSession] = None
        self._ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self._reader: Optional[asyncio.Task] = None
        self.closed = asyncio.Event()

    async def open(self) -> "Socket":
        trace = aiohttp.TraceConfig()

        async def on_end(_session: Any, _ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
            self.handshake_headers = CIMultiDict(params.response.headers)

        trace.on_request_end.append(on_end)
        self._http = aiohttp.ClientSession(trace_configs=[trace])
        try:
            self._ws = await self._http.ws_connect(self.node.ws_base + "/v4/websocket", headers=self.headers,
                                                   autoping=True)
        except BaseException:
            await self._http.close()
            raise
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    async with self._cond:
                        self.messages.append((time.monotonic(), data))
                        self._cond.notify_all()
        finally:
            self.closed.set()
            async with self._cond:
                self._cond.notify_all()

    def mark(self) -> int:
        return len(self.messages)

    async def wait(self, pred: Callable[[Dict[str, Any]], bool], timeout: float, what: str,
                   since: int = 0) -> Dict[str, Any]:
        return (await self.wait_at(pred, timeout, what, since))[1]

    async def wait_at(self, pred: Callable[[Dict[str, Any]], bool], timeout: float, what: str,
                      since: int = 0) -> tuple[float, Dict[str, Any]]:
        _, stamp, m = await self.wait_index(pred, timeout, what, since)
        return stamp, m

    async def wait_index(self, pred: Callable[[Dict[str, Any]], bool], timeout: float, what: str,
                         since: int = 0) -> tuple[int, float, Dict[str, Any]]:
        """Returns (index, arrival time, message) of the first match at or after `since`."""
        deadline = time.monotonic() + timeout
        idx = since
        async with self._cond:
            while True:
                while idx < len(self.messages):
                    stamp, m = self.messages[idx]
                    idx += 1
                    if pred(m):
                        return idx - 1, stamp, m
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        raise Fail(f"no {what} within {timeout:.1f}s" + (" (socket closed)" if self.closed.is_set() else ""))

    def since(self, idx: int) -> List[Dict[str, Any]]:
        return [m for _, m in self.messages[idx:]]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 3)
            except asyncio.TimeoutError:
                self._reader.cancel()
        if self._http is not None:
            await self._http.close()


def event(kind: str, guild: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda m: m.get("op") == "event" and m.get("type") == kind and m.get("guildId") == guild


def update(guild: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda m: m.get("op") == "playerUpdate" and m.get("guildId") == guild


# --------------------------------------------------------------------------------------------
# Shape checks (rest.md "Common Types", websocket.md objects)


def check_track(t: Any, where: str) -> None:
    # rest.md "Track": encoded, info, pluginInfo, userData (the server always writes the last two,
    # protocol: player.kt Track has @EncodeDefault on both).
    expect(isinstance(t, dict), f"{where}: track is {type(t).__name__}")
    for key in ("encoded", "info", "pluginInfo", "userData"):
        expect(key in t, f"{where}: track lacks {key}")
    expect(isinstance(t["encoded"], str) and t["encoded"], f"{where}: encoded {t['encoded']!r}")
    try:
        raw = base64.b64decode(t["encoded"], validate=True)
    except binascii.Error:
        raise Fail(f"{where}: encoded is not base64") from None
    # lavaplayer's message container: a big-endian int (flags << 30 | size) then the body.
    expect(len(raw) >= 4 and (struct.unpack(">I", raw[:4])[0] & 0x3FFFFFFF) == len(raw) - 4,
           f"{where}: encoded is not a lavaplayer message (size header)")
    expect(isinstance(t["pluginInfo"], dict) and isinstance(t["userData"], dict), f"{where}: pluginInfo/userData not objects")
    info = t["info"]
    # rest.md "Track Info"
    types = {
        "identifier": str, "isSeekable": bool, "author": str, "length": int, "isStream": bool,
        "position": int, "title": str, "sourceName": str,
    }
    for key, typ in types.items():
        expect(key in info, f"{where}: info lacks {key}")
        ok = isinstance(info[key], typ) and (typ is bool or not isinstance(info[key], bool))
        expect(ok, f"{where}: info.{key} = {info[key]!r} is not {typ.__name__}")
    for key in ("uri", "artworkUrl", "isrc"):
        expect(key in info, f"{where}: info lacks {key} (nullable, but present)")
        expect(info[key] is None or isinstance(info[key], str), f"{where}: info.{key} = {info[key]!r}")


def check_player(p: Any, guild: str, where: str) -> None:
    # rest.md "Player", "Voice State"; websocket.md "Player State"
    expect(isinstance(p, dict), f"{where}: player is {type(p).__name__}")
    for key in ("guildId", "track", "volume", "paused", "state", "voice", "filters"):
        expect(key in p, f"{where}: player lacks {key}")
    expect(p["guildId"] == guild, f"{where}: guildId {p['guildId']!r}")
    if p["track"] is not None:
        check_track(p["track"], where + ".track")
    expect(is_int(p["volume"]), f"{where}: volume {p['volume']!r}")
    expect(isinstance(p["paused"], bool), f"{where}: paused {p['paused']!r}")
    check_state(p["state"], where + ".state")
    v = p["voice"]
    for key in ("token", "endpoint", "sessionId"):
        expect(isinstance(v.get(key), str), f"{where}: voice.{key} = {v.get(key)!r}")
    expect(v.get("channelId") is None or isinstance(v.get("channelId"), str), f"{where}: voice.channelId {v.get('channelId')!r}")
    expect(isinstance(p["filters"], dict), f"{where}: filters {p['filters']!r}")


def check_state(s: Any, where: str) -> None:
    # websocket.md "Player State": time, position, connected, ping (-1 if not connected)
    expect(isinstance(s, dict), f"{where}: state is {type(s).__name__}")
    expect(is_int(s.get("time")) and abs(s["time"] - time.time() * 1000) < 60_000, f"{where}: time {s.get('time')!r}")
    expect(is_int(s.get("position")) and s["position"] >= 0, f"{where}: position {s.get('position')!r}")
    expect(isinstance(s.get("connected"), bool), f"{where}: connected {s.get('connected')!r}")
    expect(is_int(s.get("ping")), f"{where}: ping {s.get('ping')!r}")
    if s["connected"] is False:
        expect(s["ping"] == -1, f"{where}: ping {s['ping']} while not connected (docs: -1)")


def check_stats(s: Any, where: str, socket_op: bool) -> None:
    # websocket.md "Stats Object"; rest.md "Get Lavalink stats"
    expect(isinstance(s, dict), f"{where}: stats is {type(s).__name__}")
    for key in ("players", "playingPlayers", "uptime"):
        expect(is_int(s.get(key)) and s[key] >= 0, f"{where}: {key} {s.get(key)!r}")
    expect(s["playingPlayers"] <= s["players"], f"{where}: playingPlayers > players")
    mem = s.get("memory")
    expect(isinstance(mem, dict), f"{where}: memory {mem!r}")
    for key in ("free", "used", "allocated", "reservable"):
        expect(is_int(mem.get(key)) and mem[key] >= 0, f"{where}: memory.{key} {mem.get(key)!r}")
    cpu = s.get("cpu")
    expect(isinstance(cpu, dict) and is_int(cpu.get("cores")) and cpu["cores"] > 0, f"{where}: cpu {cpu!r}")
    for key in ("systemLoad", "lavalinkLoad"):
        expect(is_num(cpu.get(key)) and 0 <= cpu[key] <= 1, f"{where}: cpu.{key} {cpu.get(key)!r}")
    if socket_op:
        # protocol: messages.kt StatsEvent.frameStats has no default, so the op always carries it:
        # null "if the node has no players" (websocket.md), else {sent, nulled, deficit}.
        expect("frameStats" in s, f"{where}: the stats op lacks frameStats (null when there is none)")
        fs = s["frameStats"]
        if fs is not None:
            for key in ("sent", "nulled", "deficit"):
                expect(is_int(fs.get(key)), f"{where}: frameStats.{key} {fs.get(key)!r}")
    else:
        # rest.md: "frameStats is always missing for this endpoint"; websocket.md: "null ... when
        # retrieved via /v4/stats". Either satisfies the docs.
        expect(s.get("frameStats") is None, f"{where}: /v4/stats carries frameStats {s.get('frameStats')!r}")


def check_error(r: Resp, status: int, message: Optional[str] = None) -> Dict[str, Any]:
    # rest.md "Error Responses": {timestamp, status, error, trace?, message, path}
    expect(r.status == status, f"{r.path} answered {r.status}, wanted {status}: {r.text[:200]}")
    body = r.json()
    expect(isinstance(body, dict), f"error body is {type(body).__name__}")
    for key in ("timestamp", "status", "error", "message", "path"):
        expect(key in body, f"error body lacks {key}: {body}")
    expect(is_int(body["timestamp"]) and abs(body["timestamp"] - time.time() * 1000) < 60_000,
           f"timestamp {body['timestamp']!r} is not now in epoch ms")
    expect(body["status"] == status, f"body status {body['status']} != {status}")
    expect(body["error"] == http.HTTPStatus(status).phrase, f"error {body['error']!r} (wanted {http.HTTPStatus(status).phrase!r})")
    expect(isinstance(body["message"], str) and body["message"], f"message {body['message']!r}")
    expect(body["path"] == r.path, f"path {body['path']!r} (request path {r.path!r})")
    expect("trace" not in body, "trace sent without trace=true")
    if message is not None:
        expect(body["message"] == message, f"message {body['message']!r} (wanted {message!r})")
    return body


# --------------------------------------------------------------------------------------------


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    async def check(self, name: str, body: Callable[[], Awaitable[None]], timeout: float = 10.0) -> bool:
        try:
            await asyncio.wait_for(body(), timeout)
        except Fail as fail:
            return self.fail(name, str(fail))
        except asyncio.TimeoutError:
            return self.fail(name, f"timed out after {timeout:.1f}s")
        except Exception as exc:  # noqa: BLE001 - any error fails the check, with its type
            return self.fail(name, f"{type(exc).__name__}: {exc}")
        self.passed += 1
        print(f"PASS {name}", flush=True)
        return True

    def fail(self, name: str, why: str) -> bool:
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)
        return False


async def run(args: argparse.Namespace, r: Runner) -> None:
    async with aiohttp.ClientSession() as session:
        node = Node(args.url, args.password, session)
        await rest_checks(node, r, args)
        await socket_checks(node, r, args)


async def rest_checks(node: Node, r: Runner, args: argparse.Namespace) -> None:
    # ---- Authorization (rest.md intro: "Most routes require the Authorization header";
    # server: RequestAuthorizationFilter -- missing 401, wrong 403, for every route but /error and
    # the metrics endpoint; NOTES "REST ... missing gives 401, a wrong password 403")
    async def auth_missing() -> None:
        for path in ("/v4/info", "/v4/stats", "/v4/loadtracks?identifier=x", "/v4/sessions/x/players"):
            res = await node.rest("GET", path, auth=None)
            expect(res.status == 401, f"{path} without Authorization answered {res.status}")
    await r.check("rest_auth_missing_401", auth_missing)

    async def auth_wrong() -> None:
        for path in ("/v4/info", "/v4/stats", "/v4/loadtracks?identifier=x"):
            res = await node.rest("GET", path, auth=node.password + "-wrong")
            expect(res.status == 403, f"{path} with a wrong password answered {res.status}")
    await r.check("rest_auth_wrong_403", auth_wrong)

    async def auth_version() -> None:
        # /version is unprefixed but not exempt (server: RequestAuthorizationFilter).
        res = await node.rest("GET", "/version", auth=None)
        expect(res.status == 401, f"/version without Authorization answered {res.status}")
    await r.check("rest_auth_version_route", auth_version)

    # ---- Lavalink-Api-Version header (server: ResponseHeaderFilter adds `Lavalink-Api-Version: 4`
    # to every response; NOTES "successful answers carry a Lavalink-Api-Version header")
    async def api_version_header() -> None:
        for path in ("/version", "/v4/info", "/v4/stats", "/v4/loadtracks?identifier=ytsearch:x"):
            res = await node.rest("GET", path)
            expect(res.status == 200, f"{path} answered {res.status}")
            expect(res.headers.get("Lavalink-Api-Version") == "4",
                   f"{path}: Lavalink-Api-Version {res.headers.get('Lavalink-Api-Version')!r}")
    await r.check("api_version_header", api_version_header)

    async def api_version_header_on_errors() -> None:
        # The filter runs before routing and authorization, so errors carry it too.
        res = await node.rest("GET", "/v4/sessions/nosuchsession/players/1")
        expect(res.headers.get("Lavalink-Api-Version") == "4", f"404 answer: {res.headers.get('Lavalink-Api-Version')!r}")
    await r.check("api_version_header_on_errors", api_version_header_on_errors)

    # ---- /version (rest.md "Get Lavalink version": plain text, e.g. `4.0.0`)
    version_text: Dict[str, str] = {}

    async def version() -> None:
        res = await node.rest("GET", "/version")
        expect(res.status == 200, f"answered {res.status}")
        expect(res.headers.get("Content-Type", "").startswith("text/plain"), f"Content-Type {res.headers.get('Content-Type')!r}")
        parts = res.text.split("-")[0].split("+")[0].split(".")
        expect(len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] == "4", f"version {res.text!r}")
        version_text["v"] = res.text
    await r.check("version_text", version)

    # ---- /v4/info (rest.md "Get Lavalink info")
    async def info() -> None:
        i = await node.ok("GET", "/v4/info")
        v = i.get("version")
        expect(isinstance(v, dict), f"version {v!r}")
        expect(isinstance(v.get("semver"), str), "version.semver")
        for key in ("major", "minor", "patch"):
            expect(is_int(v.get(key)), f"version.{key} {v.get(key)!r}")
        for key in ("preRelease", "build"):
            expect(key in v and (v[key] is None or isinstance(v[key], str)), f"version.{key} {v.get(key)!r}")
        expect(v["major"] == 4, f"major {v['major']}")
        expect(v["semver"].startswith(f"{v['major']}.{v['minor']}.{v['patch']}"), f"semver {v['semver']!r} vs numbers")
        if "v" in version_text:
            expect(v["semver"] == version_text["v"], f"/version {version_text['v']!r} != info semver {v['semver']!r}")
        expect(is_int(i.get("buildTime")), f"buildTime {i.get('buildTime')!r}")
        g = i.get("git")
        expect(isinstance(g, dict) and isinstance(g.get("branch"), str) and isinstance(g.get("commit"), str)
               and is_int(g.get("commitTime")), f"git {g!r}")
        expect(isinstance(i.get("jvm"), str) and isinstance(i.get("lavaplayer"), str), "jvm/lavaplayer")
        expect(isinstance(i.get("sourceManagers"), list) and all(isinstance(s, str) for s in i["sourceManagers"]),
               f"sourceManagers {i.get('sourceManagers')!r}")
        expect(isinstance(i.get("filters"), list) and all(isinstance(s, str) for s in i["filters"]),
               f"filters {i.get('filters')!r}")
        # server: InfoRestHandler lists the ten built-in filters unless disabled in the config.
        missing = [f for f in BUILTIN_FILTERS if f not in i["filters"]]
        expect(not missing, f"built-in filters missing from info.filters: {missing}")
        expect(isinstance(i.get("plugins"), list), f"plugins {i.get('plugins')!r}")
        for p in i["plugins"]:
            expect(isinstance(p.get("name"), str) and isinstance(p.get("version"), str), f"plugin {p!r}")
    await r.check("info_shape", info)

    # ---- /v4/stats (rest.md "Get Lavalink stats"; websocket.md "Stats Object")
    async def stats() -> None:
        check_stats(await node.ok("GET", "/v4/stats"), "/v4/stats", socket_op=False)
    await r.check("stats_shape", stats)

    # ---- Track loading (rest.md "Track Loading", "Load Result Data")
    loaded: Dict[str, Any] = {}

    async def load_track() -> None:
        for ident, length in ((args.track_identifier, None), (args.http_url, None)):
            res = await node.load(ident)
            expect(set(res) == {"loadType", "data"}, f"{ident}: result keys {sorted(res)}")
            expect(res["loadType"] == "track", f"{ident}: loadType {res['loadType']}")
            check_track(res["data"], f"{ident}")
            expect(res["data"]["info"]["position"] == 0, f"{ident}: a loaded track at position {res['data']['info']['position']}")
            loaded.setdefault("track", res["data"])
        http_track = (await node.load(args.http_url))["data"]
        expect(http_track["info"]["uri"] == args.http_url, f"http track uri {http_track['info']['uri']!r}")
        loaded["http"] = http_track
        length = int(args.track_identifier.rsplit(":", 1)[1]) if args.track_identifier.startswith("sim:length:") else None
        if length is not None:
            expect(loaded["track"]["info"]["length"] == length, f"length {loaded['track']['info']['length']} for {args.track_identifier}")
    await r.check("loadtracks_track", load_track)

    async def load_search() -> None:
        res = await node.load(args.search_identifier)
        expect(res["loadType"] == "search", f"loadType {res['loadType']}")
        expect(isinstance(res["data"], list) and res["data"], f"data {str(res['data'])[:100]}")
        for n, t in enumerate(res["data"]):
            check_track(t, f"search[{n}]")
        loaded["search"] = res["data"]
    await r.check("loadtracks_search", load_search)

    async def load_playlist() -> None:
        res = await node.load(args.playlist_identifier)
        expect(res["loadType"] == "playlist", f"loadType {res['loadType']}")
        d = res["data"]
        expect(isinstance(d, dict) and set(d) >= {"info", "pluginInfo", "tracks"}, f"data keys {sorted(d) if isinstance(d, dict) else d}")
        expect(isinstance(d["info"].get("name"), str), f"info.name {d['info'].get('name')!r}")
        expect(is_int(d["info"].get("selectedTrack")), f"info.selectedTrack {d['info'].get('selectedTrack')!r}")
        expect(-1 <= d["info"]["selectedTrack"] < len(d["tracks"]), f"selectedTrack {d['info']['selectedTrack']} of {len(d['tracks'])}")
        expect(isinstance(d["pluginInfo"], dict), "pluginInfo")
        expect(d["tracks"], "no tracks")
        for n, t in enumerate(d["tracks"]):
            check_track(t, f"playlist[{n}]")
    await r.check("loadtracks_playlist", load_playlist)

    async def load_empty() -> None:
        # "empty: There has been no matches for your identifier". An identifier that no source
        # claims (not a URL, no search prefix) is also empty on a real node (lavaplayer: null item,
        # server: AudioLoaderRestHandler -> LoadResult.NoMatches).
        for ident in (args.empty_identifier, "no-source-claims-this-identifier"):
            res = await node.load(ident)
            expect(res["loadType"] == "empty", f"{ident}: loadType {res['loadType']}")
            expect(res["data"] == {}, f"{ident}: data {res['data']!r} (docs: empty object)")
    await r.check("loadtracks_empty", load_empty)

    async def load_error() -> None:
        # Error Result Data = websocket.md "Exception Object": message?, severity, cause, causeStackTrace
        for severity in ("common", "suspicious", "fault"):
            ident = args.error_identifier_prefix + severity
            res = await node.load(ident)
            expect(res["loadType"] == "error", f"{ident}: loadType {res['loadType']}")
            d = res["data"]
            expect(d.get("severity") == severity, f"{ident}: severity {d.get('severity')!r}")
            expect("message" in d and (d["message"] is None or isinstance(d["message"], str)), f"{ident}: message {d.get('message')!r}")
            expect(isinstance(d.get("cause"), str), f"{ident}: cause {d.get('cause')!r}")
            expect(isinstance(d.get("causeStackTrace"), str), f"{ident}: causeStackTrace {d.get('causeStackTrace')!r}")
    await r.check("loadtracks_error", load_error)

    async def load_missing_identifier() -> None:
        # server: AudioLoaderRestHandler `@RequestParam identifier` is required -> Spring 400.
        res = await node.rest("GET", "/v4/loadtracks")
        check_error(res, 400)
    await r.check("loadtracks_missing_identifier_400", load_missing_identifier)

    # ---- Track decoding (rest.md "Track Decoding")
    async def decode_one() -> None:
        expect("track" in loaded and "search" in loaded, "needs loadtracks_track and loadtracks_search")
        for t in (loaded["track"], loaded["http"], loaded["search"][0]):
            d = await node.ok("GET", "/v4/decodetrack", params={"encodedTrack": t["encoded"]})
            check_track(d, "decodetrack")
            expect(d["encoded"] == t["encoded"], "decodetrack changed encoded")
            expect(d["info"] == t["info"], f"decoded info {d['info']} != loaded {t['info']}")
    await r.check("decodetrack", decode_one)

    async def decode_many() -> None:
        expect("track" in loaded and "search" in loaded, "needs loadtracks_track and loadtracks_search")
        tracks = [loaded["search"][0], loaded["track"], loaded["http"]]
        d = await node.ok("POST", "/v4/decodetracks", body=[t["encoded"] for t in tracks])
        expect(isinstance(d, list) and len(d) == len(tracks), f"answer {str(d)[:200]}")
        for got, want in zip(d, tracks):
            check_track(got, "decodetracks")
            expect(got["encoded"] == want["encoded"] and got["info"] == want["info"], f"{got['info']} != {want['info']}")
    await r.check("decodetracks", decode_many)

    async def decode_invalid() -> None:
        # NOTES: "A malformed encoded track fails to decode with a 500 error body" (server:
        # util.kt decodeTrack throws, nothing maps it to 4xx).
        res = await node.rest("GET", "/v4/decodetrack", params={"encodedTrack": "bm90IGEgdHJhY2s="})
        check_error(res, 500)
    await r.check("decodetrack_invalid_500", decode_invalid)

    async def decode_empty_list() -> None:
        # server: AudioLoaderRestHandler.decodeTracks -> 400 "No tracks to decode provided"
        check_error(await node.rest("POST", "/v4/decodetracks", body=[]), 400, "No tracks to decode provided")
    await r.check("decodetracks_empty_400", decode_empty_list)

    # ---- Unknown session (rest.md "Error Responses" example: 404 "Session not found")
    async def unknown_session() -> None:
        for method, path, body in (("GET", "/v4/sessions/xtaug914v9k5032f/players", None),
                                   ("GET", "/v4/sessions/xtaug914v9k5032f/players/817327181659111454", None),
                                   ("PATCH", "/v4/sessions/xtaug914v9k5032f/players/817327181659111454", {"volume": 50}),
                                   ("PATCH", "/v4/sessions/xtaug914v9k5032f", {"resuming": True})):
            check_error(await node.rest(method, path, body=body), 404, "Session not found")
    await r.check("unknown_session_404", unknown_session)

    async def error_trace() -> None:
        # rest.md: "Include the trace=true query param to also receive the full stack trace."
        res = await node.rest("GET", "/v4/sessions/xtaug914v9k5032f/players", params={"trace": "true"})
        expect(res.status == 404, f"answered {res.status}")
        body = res.json()
        expect(isinstance(body.get("trace"), str) and body["trace"], f"no trace with trace=true: {body}")
    await r.check("error_trace_param", error_trace)

    node_tracks.update(loaded)


node_tracks: Dict[str, Any] = {}


async def socket_checks(node: Node, r: Runner, args: argparse.Namespace) -> None:
    # ---- Handshake (websocket.md "Opening a connection"; server: HandshakeInterceptorImpl)
    async def ws_wrong_password() -> None:
        for password in (node.password + "-wrong", None):
            try:
                s = await Socket(node, password=password).open()
            except aiohttp.WSServerHandshakeError as err:
                expect(err.status == 401, f"{'missing' if password is None else 'wrong'} password: {err.status}")
                continue
            await s.close()
            raise Fail(f"{'missing' if password is None else 'wrong'} password was accepted")
    await r.check("ws_auth_401", ws_wrong_password)

    async def ws_missing_user() -> None:
        try:
            s = await Socket(node, user_id=None).open()
        except aiohttp.WSServerHandshakeError as err:
            expect(err.status == 400, f"answered {err.status}")
            return
        await s.close()
        raise Fail("a handshake without User-Id was accepted")
    await r.check("ws_missing_user_id_400", ws_missing_user)

    main = Socket(node)
    try:
        await main.open()
    except Exception as exc:  # noqa: BLE001
        r.fail("ws_open", f"{type(exc).__name__}: {exc}")
        return
    try:
        await main_socket_checks(node, main, r, args)
    finally:
        await main.close()
    await resume_checks(node, r, args)


async def main_socket_checks(node: Node, main: Socket, r: Runner, args: argparse.Namespace) -> None:
    sid_box: Dict[str, str] = {}

    async def ready_first() -> None:
        # websocket.md "Ready OP": first message, {op: ready, resumed, sessionId}
        first = await main.wait(lambda m: True, 3, "first message")
        expect(first.get("op") == "ready", f"first message is {first.get('op')!r}")
        expect(first.get("resumed") is False, f"resumed {first.get('resumed')!r} on a fresh session")
        expect(isinstance(first.get("sessionId"), str) and first["sessionId"], f"sessionId {first.get('sessionId')!r}")
        sid_box["sid"] = first["sessionId"]
    if not await r.check("ws_ready_first", ready_first):
        return
    sid = sid_box["sid"]
    base = f"/v4/sessions/{sid}"

    async def resumed_header() -> None:
        # index.md "Resuming": the handshake answer carries Session-Resumed, "either true or false".
        expect(main.handshake_headers.get("Session-Resumed") == "false",
               f"Session-Resumed {main.handshake_headers.get('Session-Resumed')!r} on a fresh session")
    await r.check("ws_session_resumed_header_false", resumed_header)

    async def stats_at_connect() -> None:
        # websocket.md "Stats OP"; server: SocketContext schedules stats at delay 0, every minute.
        # (The node under test sends them every --stats-interval-ms; the first must not wait for it.)
        ready_at = main.messages[0][0]
        at, s = await main.wait_at(lambda m: m.get("op") == "stats", 1.5, "stats op after ready")
        expect(at - ready_at < 1.0, f"first stats {at - ready_at:.2f}s after ready")
        check_stats(s, "stats op", socket_op=True)
        expect(s["frameStats"] is None, f"frameStats {s['frameStats']!r} with no players (docs: null)")
    await r.check("ws_stats_at_connect", stats_at_connect)

    async def distinct_sessions() -> None:
        other = await Socket(node).open()
        try:
            m = await other.wait(lambda m: m.get("op") == "ready", 3, "ready")
            expect(m["sessionId"] != sid, "two connections share a session id")
        finally:
            await other.close()
    await r.check("ws_session_ids_unique", distinct_sessions)

    # ---- Sessions (rest.md "Update Session")
    async def session_patch() -> None:
        a = await node.ok("PATCH", base, body={"timeout": 45})
        expect(a == {"resuming": False, "timeout": 45}, f"PATCH timeout answered {a}")
        a = await node.ok("PATCH", base, body={"resuming": True})
        expect(a == {"resuming": True, "timeout": 45}, f"PATCH resuming answered {a}")
        a = await node.ok("PATCH", base, body={})
        expect(a == {"resuming": True, "timeout": 45}, f"empty PATCH answered {a}")
        a = await node.ok("PATCH", base, body={"resuming": False, "timeout": 60})
        expect(a == {"resuming": False, "timeout": 60}, f"PATCH back answered {a}")
    await r.check("session_patch", session_patch)

    # ---- Players (rest.md "Get Players", "Get Player", "Update Player", "Destroy Player")
    tracks = node_tracks
    if "track" not in tracks or "search" not in tracks:
        r.fail("players", "track loading failed; the player checks need tracks")
        return

    async def long_track(ms: int = 600_000) -> Dict[str, Any]:
        return await node.load_track(f"{args.length_prefix}{ms}")

    async def players_empty() -> None:
        expect(await node.ok("GET", base + "/players") == [], "a new session has players")
    await r.check("players_empty_list", players_empty)

    async def get_unknown_player() -> None:
        # NOTES: "GET of a player that does not exist is 404; it never creates one."
        # server: util.kt existingPlayer -> 404 "Player not found"
        check_error(await node.rest("GET", base + "/players/111111111111111111"), 404)
        expect(await node.ok("GET", base + "/players") == [], "GET created a player")
    await r.check("player_get_unknown_404", get_unknown_player)

    g_create = "200000000000000001"
    created: Dict[str, Any] = {}

    async def patch_creates() -> None:
        # "Updates or creates the player for this guild if it doesn't already exist."
        t = await long_track()
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"track": {"encoded": t["encoded"]}, "voice": VOICE})
        check_player(p, g_create, "PATCH answer")
        expect(p["track"] is not None and p["track"]["info"]["identifier"] == t["info"]["identifier"], "PATCH answer plays another track")
        expect(p["volume"] == 100, f"default volume {p['volume']} (lavaplayer default 100)")
        expect(p["paused"] is False, "paused by default")
        expect({k: p["voice"].get(k) for k in ("token", "endpoint", "sessionId")} ==
               {k: VOICE[k] for k in ("token", "endpoint", "sessionId")}, f"voice {p['voice']}")
        expect(p["voice"].get("channelId") in (None, VOICE["channelId"]), f"voice.channelId {p['voice'].get('channelId')!r}")
        expect(p["filters"] == {}, f"filters {p['filters']} with none set")
        g = await node.ok("GET", f"{base}/players/{g_create}")
        check_player(g, g_create, "GET")
        all_players = await node.ok("GET", base + "/players")
        expect([x["guildId"] for x in all_players] == [g_create], f"players {[x.get('guildId') for x in all_players]}")
        await main.wait(event("TrackStartEvent", g_create), 3, "TrackStartEvent", mark)
        created["track"] = t
    await r.check("player_patch_creates", patch_creates)

    async def volume_clamp() -> None:
        # rest.md: volume 0..1000; NOTES: not range-checked by the server, lavaplayer clamps it
        # (DefaultAudioPlayer.setVolume: min(1000, max(0, v))).
        expect("track" in created, "needs player_patch_creates")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"volume": 1001})
        expect(p["volume"] == 1000, f"volume 1001 -> {p['volume']}")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"volume": -5})
        expect(p["volume"] == 0, f"volume -5 -> {p['volume']}")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"volume": 100})
        expect(p["volume"] == 100, f"volume 100 -> {p['volume']}")
    await r.check("volume_clamped", volume_clamp)

    async def voice_needs_channel() -> None:
        # rest.md Voice State footnote: "channelId is not nullable when updating the player";
        # server: PlayerRestHandler -> 400 "token, endpoint, sessionId and channelId must be provided".
        # NOTES: "Since 4.2 a voice update without channelId is rejected with 400."
        expect("track" in created, "needs player_patch_creates")
        partial = {k: v for k, v in VOICE.items() if k != "channelId"}
        partial["token"] = "another-token"
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body={"voice": partial}), 400)
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body={"voice": {**partial, "channelId": None}}), 400)
        p = await node.ok("GET", f"{base}/players/{g_create}")
        expect(p["voice"]["token"] == VOICE["token"], "a rejected voice update changed the player")
        # The check happens before the player is looked up: no player is created either.
        check_error(await node.rest("PATCH", f"{base}/players/200000000000000099", body={"voice": partial}), 400)
        res = await node.rest("GET", f"{base}/players/200000000000000099")
        expect(res.status == 404, "a rejected voice update created a player")
    await r.check("voice_without_channel_400", voice_needs_channel)

    async def end_time_positive() -> None:
        # rest.md Update Player: endTime "must be > 0"; server: 400 "End time must be greater than 0"
        expect("track" in created, "needs player_patch_creates")
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body={"endTime": 0}), 400)
    await r.check("end_time_zero_400", end_time_positive)

    async def track_and_legacy() -> None:
        # rest.md: encodedTrack/identifier are deprecated and exclusive with track; server: 400
        # "Cannot specify both track and encodedTrack/identifier", and encoded+identifier -> 400.
        expect("track" in created, "needs player_patch_creates")
        t = created["track"]
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}",
                                    body={"track": {"encoded": t["encoded"]}, "encodedTrack": t["encoded"]}), 400)
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}",
                                    body={"track": {"encoded": t["encoded"], "identifier": "x"}}), 400)
    await r.check("track_exclusive_fields_400", track_and_legacy)

    async def seek() -> None:
        # rest.md Update Player `position`; server: seeks and sends a playerUpdate.
        expect("track" in created, "needs player_patch_creates")
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"position": 30_000})
        expect(30_000 <= p["state"]["position"] < 30_500, f"answer position {p['state']['position']}")
        u = await main.wait(lambda m: update(g_create)(m) and m["state"]["position"] >= 30_000, 2, "playerUpdate after seek", mark)
        expect(u["state"]["position"] < 31_500, f"update position {u['state']['position']}")
    await r.check("seek", seek)

    async def player_updates() -> None:
        # websocket.md "Player Update OP": {op, guildId, state}, every interval while playing.
        expect("track" in created, "needs player_patch_creates")
        mark = main.mark()
        i, _, a = await main.wait_index(update(g_create), 3, "playerUpdate", mark)
        check_state(a["state"], "playerUpdate.state")
        b = await main.wait(update(g_create), 3, "second playerUpdate", i + 1)
        moved = b["state"]["position"] - a["state"]["position"]
        wall = b["state"]["time"] - a["state"]["time"]
        expect(wall > 0 and moved > 0, f"no progress: {a['state']} -> {b['state']}")
        expect(abs(moved - wall) <= 300, f"position moved {moved} ms in {wall} ms")
    await r.check("player_update_advances", player_updates)

    async def pause_flag() -> None:
        expect("track" in created, "needs player_patch_creates")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"paused": True})
        expect(p["paused"] is True, "not paused")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"paused": False})
        expect(p["paused"] is False, "still paused")
    await r.check("pause_flag", pause_flag)

    # ---- Events (websocket.md "TrackStartEvent", "TrackEndEvent", "Track End Reason")
    g_ev = "200000000000000002"

    async def start_event() -> None:
        t = tracks["search"][0]
        mark = main.mark()
        await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"encoded": t["encoded"]}, "voice": VOICE})
        e = await main.wait(event("TrackStartEvent", g_ev), 3, "TrackStartEvent", mark)
        check_track(e["track"], "TrackStartEvent.track")
        expect(e["track"]["encoded"] == t["encoded"], "TrackStartEvent carries another track")
    await r.check("event_track_start", start_event)

    async def replaced() -> None:
        # lavaplayer DefaultAudioPlayer.startTrack: TrackEndEvent(previous, REPLACED), then TrackStartEvent.
        old, new = tracks["search"][0], tracks["track"]
        mark = main.mark()
        await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"encoded": new["encoded"]}})
        end = await main.wait(event("TrackEndEvent", g_ev), 3, "TrackEndEvent", mark)
        start = await main.wait(event("TrackStartEvent", g_ev), 3, "TrackStartEvent", mark)
        expect(end["reason"] == "replaced", f"reason {end['reason']!r}")
        expect(end["track"]["info"]["identifier"] == old["info"]["identifier"], "TrackEndEvent for another track")
        msgs = main.since(mark)
        expect(msgs.index(end) < msgs.index(start), "TrackStartEvent came before the TrackEndEvent of the replaced track")
        expect(start["track"]["encoded"] == new["encoded"], "TrackStartEvent for another track")
    await r.check("event_track_end_replaced", replaced)

    async def no_replace() -> None:
        # rest.md Update Player query noReplace: "Whether to replace the current track with the new
        # track"; server: with a track playing, the play request is skipped and 200 answered.
        other = tracks["http"]
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"encoded": other["encoded"]}},
                          params={"noReplace": "true"})
        expect(p["track"]["info"]["identifier"] == tracks["track"]["info"]["identifier"], "noReplace=true replaced the track")
        # The next playerUpdate of this player is the barrier: no track event may precede it.
        await main.wait(update(g_ev), 2, "playerUpdate", mark)
        evs = [m for m in main.since(mark) if m.get("op") == "event" and m.get("guildId") == g_ev]
        expect(not evs, f"noReplace=true caused events {[e['type'] for e in evs]}")
        # On a player without a track, noReplace=true plays.
        g_idle = "200000000000000003"
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_idle}", body={"track": {"encoded": other["encoded"]}},
                          params={"noReplace": "true"})
        expect(p["track"] is not None, "noReplace=true did not play on an idle player")
        await main.wait(event("TrackStartEvent", g_idle), 3, "TrackStartEvent on the idle player", mark)
        await node.ok("DELETE", f"{base}/players/{g_idle}", status=204)
    await r.check("no_replace", no_replace)

    async def stop_null() -> None:
        # rest.md Update Player Track: encoded "null stops the current track"; lavaplayer
        # stopTrack -> TrackEndEvent(STOPPED).
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"encoded": None}})
        expect(p["track"] is None, "track still set after encoded=null")
        end = await main.wait(event("TrackEndEvent", g_ev), 3, "TrackEndEvent", mark)
        expect(end["reason"] == "stopped", f"reason {end['reason']!r}")
    await r.check("event_track_end_stopped_null", stop_null)

    async def identifier_play() -> None:
        # rest.md Update Player Track `identifier`: resolved as a single track; "An HTTP 400 error is
        # returned when resolving a playlist, search result, or no tracks."
        ident = f"{args.length_prefix}120000"
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"identifier": ident}})
        expect(p["track"] is not None and p["track"]["info"]["identifier"] == ident, f"played {p['track'] and p['track']['info']['identifier']}")
        await main.wait(event("TrackStartEvent", g_ev), 3, "TrackStartEvent", mark)
        for bad in (args.search_identifier, args.playlist_identifier, args.empty_identifier):
            check_error(await node.rest("PATCH", f"{base}/players/{g_ev}", body={"track": {"identifier": bad}}), 400)
        # server: a load failure (FriendlyException) is a 400 with the exception's message.
        check_error(await node.rest("PATCH", f"{base}/players/{g_ev}",
                                    body={"track": {"identifier": args.error_identifier_prefix + "common"}}), 400)
        g = await node.ok("GET", f"{base}/players/{g_ev}")
        expect(g["track"]["info"]["identifier"] == ident, "a rejected identifier changed the track")
    await r.check("identifier_play", identifier_play)

    async def user_data() -> None:
        # rest.md Update Player Track userData: "Additional track data to be sent back in the Track Object"
        t = tracks["track"]
        ud = {"requester": "170939974227541168", "n": 1, "nested": {"ok": True}}
        mark = main.mark()
        p = await node.ok("PATCH", f"{base}/players/{g_ev}", body={"track": {"encoded": t["encoded"], "userData": ud}})
        expect(p["track"]["userData"] == ud, f"answer userData {p['track']['userData']}")
        e = await main.wait(lambda m: event("TrackStartEvent", g_ev)(m) and m["track"]["encoded"] == t["encoded"], 3, "TrackStartEvent", mark)
        expect(e["track"]["userData"] == ud, f"event userData {e['track']['userData']}")
        g = await node.ok("GET", f"{base}/players/{g_ev}")
        expect(g["track"]["userData"] == ud, f"GET userData {g['track']['userData']}")
    await r.check("track_user_data", user_data)

    async def delete_stopped() -> None:
        # rest.md "Destroy Player": 204; NOTES: "DELETE of a playing player answers 204 and emits
        # TrackEndEvent with reason stopped" (lavaplayer destroy -> stopTrack).
        mark = main.mark()
        res = await node.rest("DELETE", f"{base}/players/{g_ev}")
        expect(res.status == 204 and res.text == "", f"DELETE answered {res.status} {res.text[:100]!r}")
        end = await main.wait(event("TrackEndEvent", g_ev), 3, "TrackEndEvent", mark)
        expect(end["reason"] == "stopped", f"reason {end['reason']!r}")
        check_error(await node.rest("GET", f"{base}/players/{g_ev}"), 404)
        # server: destroying a player that does not exist is a no-op, still 204.
        res = await node.rest("DELETE", f"{base}/players/{g_ev}")
        expect(res.status == 204, f"second DELETE answered {res.status}")
    await r.check("delete_player_stopped", delete_stopped)

    g_fin = "200000000000000004"

    async def finished() -> None:
        # With a voice connection: lavaplayer's position moves as the voice sender pulls frames.
        t = await long_track(1500)
        mark = main.mark()
        await node.ok("PATCH", f"{base}/players/{g_fin}", body={"track": {"encoded": t["encoded"]}, "voice": VOICE})
        t0, _ = await main.wait_at(event("TrackStartEvent", g_fin), 3, "TrackStartEvent", mark)
        t1, end = await main.wait_at(event("TrackEndEvent", g_fin), 5, "TrackEndEvent", mark)
        expect(end["reason"] == "finished", f"reason {end['reason']!r}")
        expect(1.3 <= t1 - t0 <= 3.5, f"a 1500 ms track ended after {t1 - t0:.2f}s")
        p = await node.ok("GET", f"{base}/players/{g_fin}")
        expect(p["track"] is None, "track still set after it finished")
    await r.check("event_track_end_finished", finished)

    async def end_time() -> None:
        # rest.md Update Player endTime; server: TrackEndMarkerHandler stops the track and
        # EventEmitter reports the end as `finished`.
        t = await long_track()
        mark = main.mark()
        await node.ok("PATCH", f"{base}/players/{g_fin}", body={"track": {"encoded": t["encoded"]}, "endTime": 1000})
        t0, _ = await main.wait_at(event("TrackStartEvent", g_fin), 3, "TrackStartEvent", mark)
        t1, end = await main.wait_at(event("TrackEndEvent", g_fin), 4, "TrackEndEvent at endTime", mark)
        expect(end["reason"] == "finished", f"reason {end['reason']!r}")
        expect(0.8 <= t1 - t0 <= 3.0, f"endTime 1000 ended after {t1 - t0:.2f}s")
    await r.check("end_time_finished", end_time)

    async def stats_counts() -> None:
        # websocket.md Stats: "The amount of players connected to the node" / "playing a track";
        # NOTES: they count the whole node, all client sessions (server: StatsCollector sums every
        # live session). A second session with one playing player must show up in both.
        expect("track" in created, "needs player_patch_creates")
        other = await Socket(node).open()
        try:
            osid = (await other.wait(lambda m: m.get("op") == "ready", 3, "ready"))["sessionId"]
            t = await long_track()
            mark = other.mark()
            await node.ok("PATCH", f"/v4/sessions/{osid}/players/200000000000000077",
                          body={"track": {"encoded": t["encoded"]}, "voice": VOICE})
            await other.wait(event("TrackStartEvent", "200000000000000077"), 3, "TrackStartEvent", mark)
            mark = other.mark()  # the next stats op is sent after the player exists
            mine = await node.ok("GET", base + "/players")
            playing = [p for p in mine if p["track"] is not None and not p["paused"]]
            expect(len(playing) >= 1, "test setup: nothing playing")
            for where, st in (("/v4/stats", await node.ok("GET", "/v4/stats")),
                              ("stats op", await other.wait(lambda m: m.get("op") == "stats", 3, "stats op", mark))):
                expect(st["players"] == len(mine) + 1, f"{where}: players {st['players']}, sessions hold {len(mine) + 1}")
                expect(st["playingPlayers"] == len(playing) + 1,
                       f"{where}: playingPlayers {st['playingPlayers']}, {len(playing) + 1} are playing")
        finally:
            await other.close()
    await r.check("stats_counts_all_sessions", stats_counts)

    async def frame_stats_first_minute() -> None:
        # websocket.md: frameStats "null if the node has no players"; with players, the real node
        # still sends null until a player has a whole minute of frame counts behind it (server:
        # AudioLossCounter.isDataUsable needs playback since before the previous full minute;
        # StatsCollector skips players whose data is not usable and leaves frameStats null).
        expect("track" in created, "needs player_patch_creates")
        mark = main.mark()
        st = await main.wait(lambda m: m.get("op") == "stats", 3, "stats op", mark)
        expect(st["playingPlayers"] >= 1, "test setup: nothing playing")
        expect(st["frameStats"] is None, f"frameStats {st['frameStats']} for players playing for seconds, not minutes")
    await r.check("stats_frame_stats_null_first_minute", frame_stats_first_minute)

    # ---- Filters (rest.md "Filters", "Equalizer")
    async def filters_apply() -> None:
        expect("track" in created, "needs player_patch_creates")
        f = {"volume": 0.8, "equalizer": [{"band": 0, "gain": 0.2}, {"band": 14, "gain": -0.25}],
             "timescale": {"speed": 1.1, "pitch": 1.0, "rate": 1.0}, "lowPass": {"smoothing": 20.0}}
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"filters": f})
        got = p["filters"]
        expect(abs(got.get("volume", 0) - 0.8) < 1e-6, f"volume {got.get('volume')!r}")
        eq = {b["band"]: b["gain"] for b in got.get("equalizer", [])}
        expect(abs(eq.get(0, 9) - 0.2) < 1e-6 and abs(eq.get(14, 9) + 0.25) < 1e-6, f"equalizer {got.get('equalizer')!r}")
        expect(abs(got.get("timescale", {}).get("speed", 0) - 1.1) < 1e-6, f"timescale {got.get('timescale')!r}")
        expect(abs(got.get("lowPass", {}).get("smoothing", 0) - 20.0) < 1e-6, f"lowPass {got.get('lowPass')!r}")
        # "This will override all previously applied filters"
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"filters": {"karaoke": {"level": 1.0}}})
        expect(set(p["filters"]) == {"karaoke"}, f"filters after replacing: {sorted(p['filters'])}")
        p = await node.ok("PATCH", f"{base}/players/{g_create}", body={"filters": {}})
        expect(p["filters"] == {}, f"filters after clearing: {p['filters']}")
    await r.check("filters_apply_and_replace", filters_apply)

    async def filters_band_range() -> None:
        # rest.md Equalizer: "There are 15 bands (0-14)". The server does not range-check the band
        # (server: filterConfigs.kt EqualizerConfig writes array[band]); band 15 fails the request
        # with an error answer (an ArrayIndexOutOfBounds, i.e. 500, on the real node) and the
        # player keeps its filters.
        expect("track" in created, "needs player_patch_creates")
        await node.ok("PATCH", f"{base}/players/{g_create}", body={"filters": {"volume": 0.5}})
        res = await node.rest("PATCH", f"{base}/players/{g_create}", body={"filters": {"equalizer": [{"band": 15, "gain": 0.1}]}})
        expect(res.status in (400, 500), f"band 15 answered {res.status}: {res.text[:200]}")
        check_error(res, res.status)
        print(f"# filters_band_out_of_range: band 15 answered {res.status}", flush=True)
        p = await node.ok("GET", f"{base}/players/{g_create}")
        expect(p["filters"] == {"volume": 0.5}, f"filters after a rejected update: {p['filters']}")
        await node.ok("PATCH", f"{base}/players/{g_create}", body={"filters": {}})
    await r.check("filters_band_out_of_range", filters_band_range)

    async def filters_bad_type() -> None:
        # A body that does not deserialize into the documented types is a 400 (Spring: the
        # kotlinx converter fails -> HttpMessageNotReadableException -> 400 Bad Request).
        expect("track" in created, "needs player_patch_creates")
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body={"filters": {"volume": "loud"}}), 400)
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body={"filters": {"equalizer": {"band": 1}}}), 400)
        check_error(await node.rest("PATCH", f"{base}/players/{g_create}", body="{not json"), 400)
    await r.check("filters_bad_type_400", filters_bad_type)

    await node.rest("DELETE", f"{base}/players/{g_create}")
    await node.rest("DELETE", f"{base}/players/{g_fin}")


async def wait_paused(node: Node, sid: str, timeout: float = 3.0) -> None:
    """Waits until the node has taken a closed session out of service.

    Lavalink removes a session from its live sessions when its socket closes (server:
    SocketServer.afterConnectionClosed), so REST for it answers 404 "Session not found" while it
    waits for a resume (or for good, without resuming). That is also the sign the node has seen
    the close before a check reconnects."""
    deadline = time.monotonic() + timeout
    while True:
        res = await node.rest("GET", f"/v4/sessions/{sid}/players")
        if res.status == 404:
            check_error(res, 404, "Session not found")
            return
        expect(time.monotonic() < deadline, f"REST still serves session {sid} {timeout:.0f}s after its socket closed ({res.status})")
        await asyncio.sleep(0.05)


async def resume_checks(node: Node, r: Runner, args: argparse.Namespace) -> None:
    # index.md "Resuming"; rest.md "Update Session"; NOTES "Resuming".
    async def start(sock: Socket) -> str:
        await sock.open()
        m = await sock.wait(lambda m: m.get("op") == "ready", 3, "ready")
        return m["sessionId"]

    async def play(sock: Socket, sid: str, guild: str, ms: int) -> None:
        t = await node.load_track(f"{args.length_prefix}{ms}")
        mark = sock.mark()
        await node.ok("PATCH", f"/v4/sessions/{sid}/players/{guild}", body={"track": {"encoded": t["encoded"]}, "voice": VOICE})
        await sock.wait(event("TrackStartEvent", guild), 3, "TrackStartEvent", mark)

    async def resume_disabled() -> None:
        # "If resuming is disabled all voice connections are closed immediately"; NOTES: "Off by
        # default: then a closed socket destroys all of that session's players at once."
        a = Socket(node)
        sid = await start(a)
        await play(a, sid, "300000000000000001", 600_000)
        await a.close()
        await wait_paused(node, sid)
        b = Socket(node, session_id=sid)
        new = await start(b)
        try:
            expect(b.handshake_headers.get("Session-Resumed") == "false",
                   f"Session-Resumed {b.handshake_headers.get('Session-Resumed')!r} for a session without resuming")
            first = b.messages[0][1]
            expect(first.get("op") == "ready" and first.get("resumed") is False, f"first message {first}")
            expect(new != sid, "a non-resumable session id was handed out again")
            expect(await node.ok("GET", f"/v4/sessions/{new}/players") == [], "the new session has players")
            check_error(await node.rest("GET", f"/v4/sessions/{sid}/players"), 404, "Session not found")
        finally:
            await b.close()
    await r.check("resume_disabled_destroys", resume_disabled)

    async def resume() -> None:
        a = Socket(node)
        sid = await start(a)
        s = await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": True, "timeout": 10})
        expect(s == {"resuming": True, "timeout": 10}, f"session PATCH answered {s}")
        g_long, g_short = "300000000000000002", "300000000000000003"
        await play(a, sid, g_long, 600_000)
        mark = a.mark()
        u = await a.wait(update(g_long), 3, "playerUpdate before closing", mark)
        p0 = u["state"]["position"]
        await play(a, sid, g_short, 1000)
        short_started = time.monotonic()
        await a.close()
        closed_at = time.monotonic()
        await wait_paused(node, sid)
        # "When a session is paused, any events that would normally have been sent are queued up":
        # stay away until the short track has ended (scenario time, not a wait for an event).
        await asyncio.sleep(max(0.0, short_started + 1.6 - time.monotonic()))
        b = Socket(node, session_id=sid)
        await b.open()
        try:
            # "You can tell if your session was resumed by looking at the handshake response header
            # Session-Resumed"; the ready op says the same with the same id.
            expect(b.handshake_headers.get("Session-Resumed") == "true",
                   f"Session-Resumed {b.handshake_headers.get('Session-Resumed')!r}")
            first = await b.wait(lambda m: True, 3, "first message")
            expect(first == {"op": "ready", "resumed": True, "sessionId": sid}, f"first message {first}")
            # "When the session is resumed, this queue is then emptied and the events are replayed."
            end = await b.wait(event("TrackEndEvent", g_short), 2, "replayed TrackEndEvent of the short track")
            expect(end["reason"] == "finished", f"reason {end['reason']!r}")
            # server: SocketContext.resume sends one playerUpdate per player; the player kept playing.
            up = await b.wait(update(g_long), 2, "playerUpdate after resume")
            away_ms = (time.monotonic() - closed_at) * 1000
            pos = up["state"]["position"]
            expect(pos >= p0 + 0.6 * away_ms, f"position {pos} after {away_ms:.0f} ms away from {p0}: not playing while paused")
            players = await node.ok("GET", f"/v4/sessions/{sid}/players")
            by_guild = {p["guildId"]: p for p in players}
            expect(set(by_guild) == {g_long, g_short}, f"players after resume {sorted(by_guild)}")
            expect(by_guild[g_long]["track"] is not None, "the long track is gone")
            expect(by_guild[g_short]["track"] is None, "the short track did not end")
            # The resumed session is controllable again.
            await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": False})
        finally:
            await b.close()
    await r.check("resume_session", resume, timeout=15)

    async def paused_rest() -> None:
        # server: while a session waits for its resume it is not among the live sessions, so REST
        # for it is 404 "Session not found" (checked by wait_paused in resume_session too).
        a = Socket(node)
        sid = await start(a)
        await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": True, "timeout": 10})
        await a.close()
        await wait_paused(node, sid)
        b = Socket(node, session_id=sid)
        await b.open()
        try:
            first = await b.wait(lambda m: True, 3, "first message")
            expect(first.get("resumed") is True, f"could not resume after REST said 404: {first}")
            expect(await node.ok("GET", f"/v4/sessions/{sid}/players") == [], "REST does not serve the resumed session")
        finally:
            await b.close()
    await r.check("paused_session_rest_404", paused_rest)

    async def stats_exclude_paused() -> None:
        # server: a paused session is not among the live sessions (SocketServer.afterConnectionClosed
        # moves it to resumableSessions) and StatsCollector counts only live ones, so its players
        # drop out of `players` / `playingPlayers` until it is resumed.
        a = Socket(node)
        sid = await start(a)
        await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": True, "timeout": 10})
        await play(a, sid, "300000000000000005", 600_000)
        before = await node.ok("GET", "/v4/stats")
        await a.close()
        await wait_paused(node, sid)
        during = await node.ok("GET", "/v4/stats")
        b = Socket(node, session_id=sid)
        await b.open()
        try:
            first = await b.wait(lambda m: True, 3, "first message")
            expect(first.get("resumed") is True, f"not resumed: {first}")
            after = await node.ok("GET", "/v4/stats")
            expect(during["players"] == before["players"] - 1 and during["playingPlayers"] == before["playingPlayers"] - 1,
                   f"paused session still counted: players {before['players']} -> {during['players']}, "
                   f"playing {before['playingPlayers']} -> {during['playingPlayers']}")
            expect(after["players"] == before["players"], f"resumed session not counted again: {after['players']}")
            await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": False})
        finally:
            await b.close()
    await r.check("stats_exclude_paused_sessions", stats_exclude_paused)

    async def resume_timeout() -> None:
        # rest.md Update Session `timeout` (seconds); NOTES: "After the timeout every player of the
        # session is destroyed." The session can no longer be resumed.
        a = Socket(node)
        sid = await start(a)
        s = await node.ok("PATCH", f"/v4/sessions/{sid}", body={"resuming": True, "timeout": 1})
        expect(s == {"resuming": True, "timeout": 1}, f"session PATCH answered {s}")
        await play(a, sid, "300000000000000004", 600_000)
        await a.close()
        closed_at = time.monotonic()
        await wait_paused(node, sid)
        # Stay away past the 1 s timeout (scenario time).
        await asyncio.sleep(max(0.0, closed_at + 2.0 - time.monotonic()))
        b = Socket(node, session_id=sid)
        new = await start(b)
        try:
            expect(b.handshake_headers.get("Session-Resumed") == "false",
                   f"Session-Resumed {b.handshake_headers.get('Session-Resumed')!r} after the timeout")
            expect(b.messages[0][1].get("resumed") is False, "resumed after the timeout")
            expect(new != sid, "the timed-out session id came back")
            expect(await node.ok("GET", f"/v4/sessions/{new}/players") == [], "players carried over")
            check_error(await node.rest("GET", f"/v4/sessions/{sid}/players"), 404, "Session not found")
        finally:
            await b.close()
    await r.check("resume_timeout_destroys", resume_timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the node's base URL, e.g. http://127.0.0.1:2333")
    parser.add_argument("--password", required=True)
    parser.add_argument("--deadline", type=float, default=55.0, help="seconds the whole run may take")
    parser.add_argument("--length-prefix", default="sim:length:", help="identifier prefix for a track of N ms")
    parser.add_argument("--track-identifier", default="sim:length:5000")
    parser.add_argument("--http-url", default="https://cdn.example.com/music/song.mp3")
    parser.add_argument("--search-identifier", default="ytsearch:never gonna give you up")
    parser.add_argument("--playlist-identifier", default="sim:playlist:3")
    parser.add_argument("--empty-identifier", default="sim:empty")
    parser.add_argument("--error-identifier-prefix", default="sim:error:",
                        help="prefix that, with common/suspicious/fault, fails to load with that severity")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only loopback nodes may be checked")

    started = time.monotonic()
    runner = Runner()

    async def bounded() -> None:
        await asyncio.wait_for(run(args, runner), args.deadline)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        runner.fail("deadline", f"the run exceeded {args.deadline:.0f}s")
    print(f"# conformance took {time.monotonic() - started:.1f}s", flush=True)
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
