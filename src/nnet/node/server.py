"""Running the daemon: open the node, bind, serve with uvicorn, produce blocks, shut down cleanly.

Files under the node's home (NNET_HOME or --home):

    genesis.json         the chain's genesis (`nnet devnet init` writes it)
    chain.db             the chain database (store/)
    node/keys/sequencer.json  the sequencer key, if this node is the sequencer (the node's own
                         keys live apart from the user's, so `nnet key list` shows only yours)
    sequencer.password   its password (mode 0600), so the daemon unlocks it unattended
    daemon.json          {"url", "pid"} while the daemon runs; removed on a clean exit
    daemon.toml          the daemon's settings, if any (daemon_config.py, docs/operations.md)

The socket is bound before uvicorn starts, so port 0 works and the URL is known; daemon.json is
written and "listening on URL" printed only once uvicorn accepts connections. SIGTERM and Ctrl-C
stop the producer between blocks, let open requests finish, close the database and remove
daemon.json. A block is either fully committed or not at all, so even kill -9 loses nothing
that was reported committed.

Around the Starlette app (app.py) sit, outermost first: the Host check and connection guard
(limits.py), HTTP latency metrics (metrics.py); /health and /metrics join the routes (observe.py).
Logs go to the `nnet` loggers (logs.py); "listening on URL" stays a bare stderr line, since tools
wait for it. `NNET_PASSWORD` is erased from the process once the sequencer key is unlocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from nnet.chain.genesis import Genesis, parse_genesis
from nnet.chain.params import get_param
from nnet.encoding import strict_loads
from nnet.errors import NnetError, UsageError
from nnet.node.core import Node, NodeConfig
from nnet.node.observe import Production

__all__ = [
    "Daemon",
    "DaemonOptions",
    "load_genesis",
    "load_signer",
    "parse_listen",
    "run_daemon",
]

log = logging.getLogger("nnet.daemon")

LISTEN_BACKLOG = 2048
SEQUENCER_KEY = "sequencer"
VALIDATOR_KEY = "validator"


@dataclass
class DaemonOptions:
    home: Path
    host: str = "127.0.0.1"
    port: int = 7654
    peers: list[str] = field(default_factory=list)  # URL, or NAME=URL (a network's gossip peer)
    name: str | None = None  # this node's name in gossip (a network); default its URL
    genesis: Path | None = None
    block_time_s: float = 1.0
    # limits on what strangers can make this daemon hold (flags, or $NNET_HOME/daemon.toml)
    max_blob_bytes: int = 1 << 30  # one blob
    blob_quota_bytes: int = 64 << 30  # the whole blob store
    min_free_disk_bytes: int = 1 << 30  # refuse uploads (507) that would leave less free
    min_permit_balance: int = 10**18  # base units (balance + bonded) an uploader must hold
    max_mempool: int = 100_000  # pending transactions; a full pool admits only higher fee rates
    max_connections: int = 1024  # open connections; more are answered 503
    header_timeout_s: float = 10.0  # a client must send its request head within this
    allowed_hosts: list[str] = field(default_factory=list)  # Host names besides the bound one
    stale_after_s: float = 0.0  # /health says stale past this head age; 0: 10 idle intervals
    # a network: an idle chain's empty block at most this often (-1: the idle interval,
    # block_time x max(1, epoch_blocks / 10), as a sequencer's; 0: a block every height)
    empty_block_interval_s: float = -1.0
    log_level: str = "info"
    log_json: bool = False

    @property
    def genesis_path(self) -> Path:
        return self.genesis or self.home / "genesis.json"


def parse_listen(text: str, name: str = "listen address") -> tuple[str, int]:
    """HOST:PORT (port 0: any free port); [v6]:PORT also works. `name`: what the caller calls
    the value in a refusal (a flag, or a key of daemon.toml)."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise UsageError(f"{name} {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:7654")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def load_genesis(path: Path) -> Genesis:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"no genesis file at {path}",
            hint="create a local chain with `nnet devnet init`, or give the daemon its genesis",
            code="no_genesis",
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        return parse_genesis(strict_loads(text))
    except NnetError as e:
        raise UsageError(f"{path}: {e.one_line()}") from None


def load_signer(home: Path, genesis: Genesis) -> bytes | None:
    """This node's key when its home holds one: `validator` (a network's validator, unlocked
    with validator.password) or `sequencer` (unlocked with sequencer.password).

    The node produces blocks while that key is the chain's current sequencer: the genesis one,
    or the one a passed `sequencer` proposal named; on a network it votes while the key is in
    the validator set."""
    from nnet.config import node_keys_home
    from nnet.keys import KeyStore

    store = KeyStore(node_keys_home(home))
    names = store.names()
    key_name = VALIDATOR_KEY if VALIDATOR_KEY in names else SEQUENCER_KEY
    if key_name not in names:
        return None
    password_path = home / f"{key_name}.password"
    env = os.environ.get("NNET_PASSWORD")
    try:
        password = password_path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        if env is None:
            raise UsageError(
                f"the {key_name} key needs its password in {password_path}",
                hint="or set NNET_PASSWORD",
            ) from None
        password = env
    return store.secret(key_name, password)


def _write_daemon_json(path: Path, url: str) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    tmp.replace(path)


def _remove_daemon_json(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


async def drive(
    node: Node, replica: Any, block_time_s: float, production: Production | None = None
) -> None:
    """Produce blocks while this node's key is the sequencer; follow a peer while it is not
    (a governance `sequencer` proposal hands the role on at an epoch boundary)."""
    while True:
        if node.is_sequencer:
            log.info("producing blocks as the sequencer", extra={"event": "role_sequencer"})
            await produce_blocks(node, block_time_s, production)
        elif replica is not None:
            log.info("following %s", ", ".join(replica.peers), extra={"event": "role_replica"})
            if await replica.follow(block_time_s) is False:
                return  # stopped at a block that does not verify; /status says why
        else:
            await asyncio.sleep(block_time_s)  # a former sequencer with no peer serves reads


async def produce_blocks(
    node: Node, block_time_s: float, production: Production | None = None
) -> None:
    """Every block_time: a block if there are pending txs; an empty one every epoch_blocks/10
    ticks so epochs advance on an idle chain. Returns when this node stops being the sequencer."""
    production = production or Production()
    loop = asyncio.get_running_loop()
    last_block = loop.time()
    tick = loop.time()
    while node.is_sequencer:
        tick += block_time_s
        await asyncio.sleep(max(0.0, tick - loop.time()))
        now = loop.time()
        tick = max(tick, now - block_time_s)  # after a long block, do not try to catch up
        idle_every = max(1, get_param(node.state, "epoch_blocks") // 10) * block_time_s
        if len(node.mempool) == 0 and now - last_block < idle_every - 1e-3:
            continue
        try:
            node.produce_block(int(time.time() * 1000))
        except Exception as e:  # disk full, database locked: keep serving, retry next tick
            production.failed(e)
        else:
            production.succeeded()
        last_block = now


class Daemon:
    """An opened node bound to its socket, ready to `run` (tests run it on a thread)."""

    def __init__(self, opts: DaemonOptions) -> None:
        from nnet.config import running_daemon
        from nnet.node import limits
        from nnet.node.app import make_app
        from nnet.node.logs import RefusalLog
        from nnet.node.metrics import DaemonMetrics, HttpMetrics, metrics_routes
        from nnet.node.observe import PeerWatch, health_routes, idle_interval_s, observe_blocks
        from nnet.store.chaindb import ChainDB

        opts.home.mkdir(parents=True, exist_ok=True)
        other = running_daemon(opts.home)
        if other is not None and int(other["pid"]) != os.getpid():
            raise UsageError(
                f"a daemon (pid {other['pid']}) already serves {opts.home} at {other.get('url')}",
                hint="stop it first, or give this one its own home",
                code="home_in_use",
            )
        genesis = load_genesis(opts.genesis_path)
        signer = load_signer(opts.home, genesis)
        self.opts = opts
        self.db = ChainDB(opts.home / "chain.db")
        try:
            config = NodeConfig(
                block_time_s=opts.block_time_s,
                peers=list(opts.peers),
                max_mempool=opts.max_mempool,
            )
            self.node = Node(self.db, genesis, signer=signer, config=config)
            self.driver: Any = None
            if self.node.is_network:
                self._network_parts(opts, signer)
            elif not self.node.is_sequencer and not opts.peers:
                raise UsageError(
                    f"this home ({opts.home}) has no key of the sequencer "
                    f"{self.node.sequencer} and no peer to follow",
                    hint="run it where `nnet devnet init` put the key, or follow a peer",
                    code="no_sequencer_key",
                )
            self.replica = None
            self.peer_watch: PeerWatch | None = None
            if opts.peers and not self.node.is_network:
                from nnet.node.sync import Replica

                self.replica = Replica(self.node, [p.partition("=")[2] or p for p in opts.peers])
                self.peer_watch = PeerWatch(
                    self.replica.client, self.replica.peers, max(2.0, opts.block_time_s)
                )
            nofile = limits.raise_nofile_limit()
            self.guard = limits.ConnectionGuard(
                limits.effective_max_connections(opts.max_connections, nofile),
                opts.header_timeout_s,
            )
            if self.guard.max_connections < opts.max_connections:
                log.warning(
                    "max_connections lowered from %d to %d to fit the file limit (%d)",
                    opts.max_connections,
                    self.guard.max_connections,
                    nofile,
                )
            watch = self.peer_watch
            self.metrics = DaemonMetrics(
                self.node,
                connections=lambda: len(self.guard.open),
                peer_lag=lambda: watch.lag(self.node.head.height) if watch else None,
            )
            self.production = Production(self.metrics)
            self.refusals = RefusalLog()
            observe_blocks(self.node, self.metrics)
            stale_after = opts.stale_after_s or None

            def on_refused(code: str) -> None:
                self.refusals.record(code)
                self.metrics.refusals.labels(code).inc()

            ops_routes = [
                *health_routes(
                    self.node,
                    lambda: stale_after or 10 * idle_interval_s(self.node, opts.block_time_s),
                    lambda: self.production.last_error,
                ),
                *metrics_routes(self.metrics),
            ]
            self.app: Any = make_app(
                self.node,
                forward=self.replica.forward if self.replica else None,
                peer_next_nonce=self.replica.peer_next_nonce if self.replica else None,
                extra_routes=[
                    *_capability_routes(self.node, opts, self._keep_blob_store),
                    *ops_routes,
                    *self._network_routes(),
                ],
                on_refused=on_refused,
            )
            self.sock = _bind(opts.host, opts.port)
        except BaseException:
            self.db.close()
            raise
        host, port = self.sock.getsockname()[:2]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        served = limits.HostCheck(
            HttpMetrics(self.app, self.metrics), limits.HostPolicy(opts.host, opts.allowed_hosts)
        )
        uv_config = uvicorn.Config(
            served,
            http=limits.guarded_protocol(self.guard),
            log_config=None,
            # asyncio accepts up to `backlog` sockets per wakeup before any of them reaches the
            # protocol (and the guard): a small batch keeps a flood within the descriptors kept
            # in reserve. The kernel's queue stays LISTEN_BACKLOG (`startup` listens again).
            backlog=limits.ACCEPT_BATCH,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self.server = _DaemonServer(uv_config, self)

    def _network_parts(self, opts: DaemonOptions, signer: bytes | None) -> None:
        """A network node: gossip to its peers (faults from HOME/faults.json, for tests) and
        the consensus driver; the bound URL names it when --name is not given."""
        from nnet.node.faults import FaultPlan
        from nnet.node.p2p import Gossip, parse_peer

        peers = [parse_peer(p) for p in opts.peers]
        self.faults = FaultPlan(opts.home / "faults.json")
        self.gossip = Gossip(
            opts.name or f"{opts.host}:{opts.port}",
            peers,
            faults=self.faults,
            max_queue=opts.max_mempool,  # a full mempool's worth of transactions may wait per peer
        )
        self._signer = signer

    def _empty_block_interval(self) -> float | None:
        from nnet.node.observe import idle_interval_s

        chosen = self.opts.empty_block_interval_s
        if chosen < 0:
            return idle_interval_s(self.node, self.opts.block_time_s)
        return chosen or None

    def _keep_blob_store(self, store: Any) -> None:
        self.blob_store = store

    def _network_routes(self) -> list[Any]:
        if not self.node.is_network:
            return []
        from nnet.node.consensus.driver import Driver, DriverOptions
        from nnet.node.consensus.tendermint import Timeouts
        from nnet.node.p2p import p2p_routes
        from nnet.node.validators_api import validator_routes

        opts = self.opts
        self.driver = Driver(
            self.node,
            self.gossip,
            secret=self._signer,
            record_path=opts.home / "signing_record.json",
            options=DriverOptions(
                timeouts=Timeouts(),
                commit_pause_s=opts.block_time_s,
                max_blob_bytes=opts.max_blob_bytes,
                empty_block_interval_s=self._empty_block_interval(),
            ),
            blob_store=getattr(self, "blob_store", None),
        )
        from nnet.node.consensus.metrics import ConsensusCollector

        self.metrics.registry.register(ConsensusCollector(self.driver))
        return [*p2p_routes(self.driver, self.faults), *validator_routes(self.node)]

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or `stop`); then close the database, remove daemon.json."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()
            self.db.close()
            _remove_daemon_json(self.opts.home / "daemon.json")

    def stop(self) -> None:
        self.server.should_exit = True


def run_daemon(opts: DaemonOptions) -> None:
    """Serve until SIGTERM/SIGINT, as this process's one daemon: its logging set up from `opts`,
    NNET_PASSWORD forgotten once the key is unlocked. Blocks the calling thread."""
    from nnet.node.logs import configure_logging
    from nnet.node.scrub import forget_password

    configure_logging(opts.log_level, json_lines=opts.log_json)
    daemon = Daemon(opts)
    forget_password()
    daemon.run()


def _capability_routes(node: Node, opts: DaemonOptions, keep_store: Any = None) -> list[Any]:
    """Endpoints of other capabilities, served by the same app: governance reads, blobs, the
    event feed."""
    from nnet.node.blobs_api import UploadPolicy, blob_routes
    from nnet.node.events_api import event_routes
    from nnet.node.gov_api import gov_routes
    from nnet.node.market_api import market_routes
    from nnet.store.blobs import BlobLimits, BlobStore

    limits = BlobLimits(opts.max_blob_bytes, opts.blob_quota_bytes, opts.min_free_disk_bytes)
    store = BlobStore(opts.home / "blobs", limits)  # deletes uploads a crash cut off
    if store.removed_leftovers:
        log.info("removed %d unfinished uploads from %s", store.removed_leftovers, store.root)
    if keep_store is not None:
        keep_store(store)  # a network's driver fetches referenced blobs into it
    policy = UploadPolicy(min_permit_balance=opts.min_permit_balance)
    return [
        *gov_routes(node),
        *market_routes(node),
        *blob_routes(node, store, policy),
        *event_routes(node),
    ]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {e.strerror}",
            hint="pick another port, or 0 for any free one",
            code="cannot_listen",
        ) from None
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


REFUSAL_LOG_EVERY_S = 5.0


class _DaemonServer(uvicorn.Server):
    """uvicorn's server, plus: block production, peer watch, refusal log and daemon.json around
    its serving life."""

    def __init__(self, config: Any, daemon: Daemon) -> None:
        super().__init__(config)
        self.daemon = daemon
        self.node, self.opts, self.url, self.replica = (
            daemon.node,
            daemon.opts,
            daemon.url,
            daemon.replica,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def handle_exit(self, sig: int, frame: Any) -> None:
        # uvicorn re-raises a captured signal after its graceful shutdown, which would kill us
        # before the database closes and daemon.json goes; a stop we asked for exits 0 instead
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        for sock in sockets or []:
            sock.listen(LISTEN_BACKLOG)
        d = self.daemon
        if d.driver is not None:
            self._tasks.append(asyncio.create_task(d.driver.run()))
        else:
            self._tasks.append(
                asyncio.create_task(
                    drive(self.node, self.replica, self.opts.block_time_s, d.production)
                )
            )
        self._tasks.append(asyncio.create_task(_flush_every(d.refusals, REFUSAL_LOG_EVERY_S)))
        if d.peer_watch is not None:
            self._tasks.append(asyncio.create_task(d.peer_watch.run()))
        _write_daemon_json(self.opts.home / "daemon.json", self.url)
        if self.node.is_network:
            role = "validator" if d.driver.is_validator else "observer"
        else:
            role = "sequencer" if self.node.is_sequencer else "replica"
        print(f"listening on {self.url}", file=sys.stderr, flush=True)
        log.info(
            "%s of %s at height %d, home %s, serving %s (at most %d connections)",
            role,
            self.node.chain_id,
            self.node.head.height,
            self.opts.home,
            self.url,
            d.guard.max_connections,
            extra={"event": "started", "url": self.url, "role": role},
        )
        if self.node.readmitted or self.node.dropped:
            log.info(
                "mempool journal: %d pending transactions re-admitted, %d no longer apply",
                self.node.readmitted,
                self.node.dropped,
                extra={"event": "mempool_restored"},
            )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.daemon.refusals.flush()
        if self.replica is not None:
            await self.replica.close()
        await super().shutdown(sockets=sockets)
        log.info("stopped at height %d", self.node.head.height, extra={"event": "stopped"})


async def _flush_every(refusals: Any, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        refusals.flush()
