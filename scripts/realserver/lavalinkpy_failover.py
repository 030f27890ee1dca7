#!/usr/bin/env python3
"""Failover under a node fault, as Lavalink.py 5.11.1 does it, measured as audio gaps.

The reference side of the failover comparison: the same fault on the same real nodes (NodeLink
2.3.0 on loopback, see ../../../shared/realserver/README.md), handled by Lavalink.py instead of
our cluster. Nothing of Lavalink.py is patched and no failover logic is added: a bot only creates
players, hands Lavalink.py the Discord voice events and plays; when a node's websocket closes,
Lavalink.py's NodeManager moves that node's players itself (Player.change_node to the node with
the lowest penalty: voice update, then the track with its last position).

Steps:
  1. connect one Lavalink.py Client to every node (--nodes) and wait until each is ready;
  2. load --track-identifier, create --players players (one made-up guild each) with Lavalink.py's
     default placement, feed each the two gateway events (VOICE_STATE_UPDATE with a session id,
     VOICE_SERVER_UPDATE with a token and --voice-endpoint) through Client.voice_update_handler,
     and play the track;
  3. wait until the fake voice server counts RTP for every guild, then --fault-after seconds;
  4. pick the node with the most players, note the unix time T and /proc/loadavg, and send it
     SIGKILL / SIGTERM / SIGSTOP (--fault kill / term / stop) by RUNDIR/node.PORT.pid;
  5. wait --settle seconds (Lavalink.py notices a SIGSTOPped node only through its websocket
     heartbeat: up to ~60 s), snapshot RUNDIR/voice_status.json, run voice_gaps.py on it, and
     count the players that the live nodes report with a track and not paused;
  6. print one JSON object (--json) or a short summary, close the client.

It never starts or stops nodes: the caller runs start / stop with a fresh RUNDIR per run.

  lavalinkpy_failover.py --nodes http://127.0.0.1:23331,http://127.0.0.1:23332,http://127.0.0.1:23333 \\
      --players 30 --fault kill --fault-after 60 --settle 120 --rundir /tmp/nl-run-X --json

Needs Python 3.11+, lavalink==5.11.1 (which brings aiohttp); the password comes from --password or
$NL_PASSWORD (default youshallnotpass) and is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import urlsplit

try:
    import lavalink
    from lavalink import AudioTrack, Client, LoadType, Node, NodeChangedEvent, NodeDisconnectedEvent
except ImportError:  # pragma: no cover - depends on the caller's venv
    sys.exit("lavalinkpy_failover.py needs Lavalink.py: pip install lavalink==5.11.1")

EXPECTED_LAVALINK_PY = "5.11.1"
CLIENT_LABEL = f"lavalink.py {EXPECTED_LAVALINK_PY}"
FAULT_SIGNALS: Dict[str, signal.Signals] = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "stop": signal.SIGSTOP}
NODE_CMDLINE_MARK = "src/connection/index.js"  # what realserver/start runs; checked before any signal
DEFAULT_KIT = Path(__file__).resolve().parents[3] / "shared" / "realserver"  # /work/main/scripts/realserver -> /work/shared/realserver

READY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 20.0
AUDIO_START_TIMEOUT_S = 90.0
VOICE_GAPS_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 15.0

log = logging.getLogger("lavalinkpy_failover")


class HarnessError(Exception):
    """The run could not be set up or measured; the message says why."""


@dataclass(frozen=True)
class NodeAddr:
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"node-{self.port}"


@dataclass
class Timeline:
    """When Lavalink.py reported a node's disconnect and each player's move (unix seconds)."""

    disconnected: Dict[str, float] = field(default_factory=dict)  # node name -> first NodeDisconnectedEvent
    moved: Dict[int, float] = field(default_factory=dict)  # guild -> NodeChangedEvent time
    moved_to: Dict[int, str] = field(default_factory=dict)  # guild -> new node name

    async def hook(self, event: Any) -> None:
        now = time.time()
        if isinstance(event, NodeDisconnectedEvent):
            self.disconnected.setdefault(event.node.name, now)
        elif isinstance(event, NodeChangedEvent):
            self.moved[event.player.guild_id] = now
            self.moved_to[event.player.guild_id] = event.new_node.name


# --------------------------------------------------------------------------------------------- helpers

def parse_nodes(spec: str) -> List[NodeAddr]:
    nodes: List[NodeAddr] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        url = urlsplit(item if "://" in item else f"http://{item}")
        if url.scheme not in ("http", "ws") or not url.hostname or not url.port:
            raise HarnessError(f"bad node '{item}': expected http://HOST:PORT")
        nodes.append(NodeAddr(url.hostname, url.port))
    if not nodes:
        raise HarnessError("--nodes names no node")
    if len({n.port for n in nodes}) != len(nodes):
        raise HarnessError("--nodes names a port twice")
    return nodes


def snowflake(rng: random.Random) -> int:
    """A made-up Discord id of 18 or 19 digits (NodeLink refuses other lengths)."""
    return rng.randrange(10**17, 10**19 - 1)


def voice_state_update(guild_id: int, channel_id: int, user_id: int, session_id: str) -> Dict[str, Any]:
    """VOICE_STATE_UPDATE for our own bot user, as the gateway (and discord.py's socket hook) hands it over."""
    return {"op": 0, "s": None, "t": "VOICE_STATE_UPDATE", "d": {
        "guild_id": str(guild_id), "channel_id": str(channel_id), "user_id": str(user_id),
        "session_id": session_id, "deaf": False, "mute": False, "self_deaf": True, "self_mute": False,
        "self_video": False, "suppress": False, "request_to_speak_timestamp": None}}


def voice_server_update(guild_id: int, token: str, endpoint: str) -> Dict[str, Any]:
    """VOICE_SERVER_UPDATE, as the gateway sends it after the voice state."""
    return {"op": 0, "s": None, "t": "VOICE_SERVER_UPDATE",
            "d": {"token": token, "guild_id": str(guild_id), "endpoint": endpoint}}


def read_json(path: Path) -> Any:
    """Reads a JSON file that another process rewrites atomically (fake_voice.py uses os.replace)."""
    with path.open() as f:
        return json.load(f)


def guilds_with_rtp(status_file: Path) -> set[str]:
    """Guilds for which fake_voice.py has counted at least one RTP packet."""
    try:
        status = read_json(status_file)
    except (OSError, ValueError):
        return set()
    return {s["guild"] for s in status.get("sessions", []) if s.get("guild") and s.get("first_rtp")}


def node_pid(rundir: Path, port: int) -> int:
    pid_file = rundir / f"node.{port}.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read {pid_file}: {exc}") from exc
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError as exc:
        raise HarnessError(f"node on port {port}: pid {pid} from {pid_file} is not running") from exc
    if NODE_CMDLINE_MARK not in cmdline:
        raise HarnessError(f"node on port {port}: pid {pid} is not a NodeLink started by realserver/start")
    return pid


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return ""


async def bounded(aw: Any, timeout: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError as exc:
        raise HarnessError(f"timed out after {timeout:.0f} s: {what}") from exc


async def wait_until(pred: Callable[[], bool], timeout: float, what: str, every: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s: {what}")
        await asyncio.sleep(every)


def percentile(values: List[float], q: int) -> Optional[float]:
    if not values:
        return None
    v = sorted(values)
    return v[max(1, -(-len(v) * q // 100)) - 1]


# --------------------------------------------------------------------------------------------- the run

class Run:
    def __init__(self, args: argparse.Namespace, nodes: List[NodeAddr]) -> None:
        self.args = args
        self.addrs = nodes
        self.rundir: Path = args.rundir
        self.status_file = self.rundir / "voice_status.json"
        self.rng = random.Random()
        self.user_id = snowflake(self.rng)
        self.client: Optional[Client] = None
        self.timeline = Timeline()
        self.guilds: List[int] = []

    # -- setup

    async def connect(self) -> Client:
        client = Client(self.user_id)
        self.client = client
        client.add_event_hook(self.timeline.hook, event=NodeDisconnectedEvent)
        client.add_event_hook(self.timeline.hook, event=NodeChangedEvent)
        for addr in self.addrs:
            client.add_node(addr.host, addr.port, self.args.password, region="local", name=addr.name)
        await wait_until(lambda: all(n.available and n.session_id for n in client.node_manager.nodes),
                         READY_TIMEOUT_S, "every node's websocket ready (is the password right?)")
        return client

    async def load_track(self, client: Client) -> AudioTrack:
        result = await bounded(client.get_tracks(self.args.track_identifier), REQUEST_TIMEOUT_S, "loadtracks")
        if result.load_type != LoadType.TRACK or not result.tracks:
            raise HarnessError(f"loadtracks '{self.args.track_identifier}' gave {result.load_type}, not a track")
        return result.tracks[0]

    async def start_players(self, client: Client, track: AudioTrack) -> Dict[str, int]:
        for i in range(self.args.players):
            guild_id = snowflake(self.rng)
            while guild_id in self.guilds:
                guild_id = snowflake(self.rng)
            self.guilds.append(guild_id)
            player = client.player_manager.create(guild_id)  # Lavalink.py's default placement
            await bounded(client.voice_update_handler(voice_state_update(
                guild_id, snowflake(self.rng), self.user_id, f"session{i:04d}{self.rng.getrandbits(64):016x}")),
                REQUEST_TIMEOUT_S, f"voice state update of player {i}")
            await bounded(client.voice_update_handler(voice_server_update(
                guild_id, f"token{self.rng.getrandbits(64):016x}", self.args.voice_endpoint)),
                REQUEST_TIMEOUT_S, f"voice server update of player {i}")
            await bounded(player.play(track), REQUEST_TIMEOUT_S, f"play on player {i}")
        return self.placement(client)

    def placement(self, client: Client) -> Dict[str, int]:
        return {n.name: len(n.players) for n in client.node_manager.nodes}

    # -- the fault and what follows

    def pick_victim(self, client: Client) -> tuple[Node, NodeAddr]:
        node = max(client.node_manager.nodes, key=lambda n: len(n.players))  # first of equals
        addr = next(a for a in self.addrs if a.name == node.name)
        return node, addr

    async def players_playing(self, client: Client, exclude: Node) -> Dict[str, Optional[int]]:
        """Players that each live node reports with a track and not paused (None: the node did not answer)."""
        counts: Dict[str, Optional[int]] = {}
        for node in client.node_manager.nodes:
            if node is exclude:
                continue
            try:
                players = await bounded(node.get_players(), REQUEST_TIMEOUT_S, f"players of {node.name}")
                counts[node.name] = sum(1 for p in players if p.get("track") and not p.get("paused"))
            except Exception as exc:  # noqa: BLE001 - a dead or hung node is reported, not fatal
                log.warning("%s: could not list players: %s", node.name, exc)
                counts[node.name] = None
        return counts

    def voice_gaps(self, snapshot: Path, fault_t: float) -> Dict[str, Any]:
        script = self.args.voice_gaps
        try:
            out = subprocess.run([sys.executable, str(script), "--status", str(snapshot), "--fault-t", repr(fault_t),
                                  "--json"], capture_output=True, text=True, timeout=VOICE_GAPS_TIMEOUT_S, check=True)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{script} did not finish in {VOICE_GAPS_TIMEOUT_S:.0f} s") from exc
        except subprocess.CalledProcessError as exc:
            raise HarnessError(f"{script} failed ({exc.returncode}): {exc.stderr.strip()[-500:]}") from exc
        return json.loads(out.stdout)

    async def run(self) -> Dict[str, Any]:
        a = self.args
        if not self.status_file.exists():
            raise HarnessError(f"{self.status_file} is missing: start the nodes with realserver/start first")
        for addr in self.addrs:
            node_pid(self.rundir, addr.port)  # fail early on a missing or foreign pid

        client = await self.connect()
        track = await self.load_track(client)
        t_setup = time.monotonic()
        placement = await self.start_players(client, track)
        setup_s = time.monotonic() - t_setup
        wanted = {str(g) for g in self.guilds}
        await wait_until(lambda: wanted <= guilds_with_rtp(self.status_file), AUDIO_START_TIMEOUT_S,
                         "RTP from every player at the fake voice server", every=0.5)
        audio_s = time.monotonic() - t_setup
        log.info("%d players playing after %.1f s, placement %s; fault in %.0f s", a.players, audio_s, placement,
                 a.fault_after)
        await asyncio.sleep(a.fault_after)

        victim, addr = self.pick_victim(client)
        pid = node_pid(self.rundir, addr.port)
        placement_at_fault = self.placement(client)
        load = loadavg()
        fault_t = time.time()
        os.kill(pid, FAULT_SIGNALS[a.fault])
        log.info("sent SIG%s to %s (pid %d, %d players) at %.3f; settling %.0f s", a.fault.upper(), victim.name,
                 pid, placement_at_fault[victim.name], fault_t, a.settle)
        await asyncio.sleep(a.settle)

        snapshot = self.rundir / f"voice_status.lavalinkpy-{a.fault}.json"
        shutil.copyfile(self.status_file, snapshot)
        gaps = self.voice_gaps(snapshot, fault_t)
        playing = await self.players_playing(client, exclude=victim)

        tl = self.timeline
        ours = set(self.guilds)
        moved_s = [t - fault_t for g, t in tl.moved.items() if g in ours]
        detect_t = tl.disconnected.get(victim.name)
        return {
            "client": CLIENT_LABEL,
            "fault": a.fault,
            "players": a.players,
            "gaps": gaps,
            "players_playing_at_end": sum(c for c in playing.values() if c is not None),
            "load": load,
            "fault_t": fault_t,
            "faulted_node": victim.name,
            "placement_at_fault": placement_at_fault,
            "placement_at_end": self.placement(client),
            "playing_per_live_node": playing,
            "lavalinkpy": {
                "setup_s": round(setup_s, 2),
                "all_audio_s": round(audio_s, 2),
                "disconnect_noticed_s": None if detect_t is None else round(detect_t - fault_t, 3),
                "players_moved": len(moved_s),
                "move_done_p50_s": None if not moved_s else round(percentile(moved_s, 50) or 0, 3),
                "move_done_max_s": None if not moved_s else round(max(moved_s), 3),
                "moved_to": sorted(set(tl.moved_to.values())),
            },
            "settle_s": a.settle,
            "fault_after_s": a.fault_after,
            "status_snapshot": str(snapshot),
        }

    async def close(self) -> None:
        if self.client is None:
            return
        try:
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - best effort on the way out (a timeout included)
            log.warning("closing the Lavalink.py client: %s", exc or type(exc).__name__)


# --------------------------------------------------------------------------------------------- main

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", required=True, help="comma-separated http://HOST:PORT of every node")
    ap.add_argument("--password", help="node password (default: $NL_PASSWORD, else the kit's default)")
    ap.add_argument("--players", type=int, default=30)
    ap.add_argument("--track-identifier", default="local:/tmp/nl-audio/sine.mp3")
    ap.add_argument("--voice-endpoint", default="127.0.0.1:9443")
    ap.add_argument("--fault", choices=sorted(FAULT_SIGNALS), required=True,
                    help="kill = SIGKILL (crash), term = SIGTERM (stop), stop = SIGSTOP (hang)")
    ap.add_argument("--fault-after", type=float, default=60.0, help="seconds of playing before the fault")
    ap.add_argument("--settle", type=float, default=40.0, help="seconds after the fault before measuring")
    ap.add_argument("--rundir", type=Path, required=True, help="the RUNDIR given to realserver/start")
    ap.add_argument("--voice-gaps", type=Path, default=DEFAULT_KIT / "voice_gaps.py", help="path of voice_gaps.py")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--verbose", action="store_true", help="log progress (and Lavalink.py's warnings) to stderr")
    a = ap.parse_args(argv)
    if a.password is None:
        a.password = os.environ.get("NL_PASSWORD", "youshallnotpass")
    if not 1 <= a.players <= 1000:
        ap.error("--players must be 1..1000")
    if a.fault_after < 0 or a.settle <= 0:
        ap.error("--fault-after must be >= 0 and --settle > 0")
    if not a.voice_gaps.is_file():
        ap.error(f"voice_gaps.py not found at {a.voice_gaps} (use --voice-gaps)")
    if not a.rundir.is_dir():
        ap.error(f"--rundir {a.rundir} is not a directory")
    return a


async def amain(args: argparse.Namespace) -> Dict[str, Any]:
    if lavalink.__version__ != EXPECTED_LAVALINK_PY:
        raise HarnessError(f"Lavalink.py {lavalink.__version__} is installed, this compares {EXPECTED_LAVALINK_PY}")
    run = Run(args, parse_nodes(args.nodes))
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: task.cancel() if task else None)
    try:
        return await run.run()
    finally:
        await run.close()


def print_summary(res: Dict[str, Any]) -> None:
    g = res["gaps"]
    print(f"{res['client']}  fault={res['fault']} on {res['faulted_node']}  players={res['players']}  load={res['load']}")
    print(f"  affected={g['affected']} resumed={g['resumed']} gap p50/p99/max ms = "
          f"{g['gap_p50_ms']}/{g['gap_p99_ms']}/{g['gap_max_ms']}  overlap_guilds={g['overlap_guilds']}")
    print(f"  playing at end={res['players_playing_at_end']} {res['playing_per_live_node']}  "
          f"lavalink.py: {res['lavalinkpy']}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        res = asyncio.run(amain(args))
    except HarnessError as exc:
        print(f"lavalinkpy_failover: {exc}", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("lavalinkpy_failover: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(res))
    else:
        print_summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
