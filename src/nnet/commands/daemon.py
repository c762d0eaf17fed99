"""`nnet daemon`: run a chain node (the sequencer, or a replica with --peer) until stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._hints import flag_hints
from nnet.config import home_dir


def register(parent: typer.Typer) -> None:
    parent.command("daemon")(daemon)


def daemon(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Node home (genesis, keys, chain.db) [env NNET_HOME]."),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT to serve on; port 0 picks a free one [default: 127.0.0.1:7654].",
        ),
    ] = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(
            "--peer",
            help="Sequencer URL to follow as a replica; on a network, a gossip peer as "
            "NAME=URL or URL (repeatable).",
        ),
    ] = None,
    empty_block_interval: Annotated[
        float | None,
        typer.Option(
            "--empty-block-interval",
            help="A network: an idle chain's empty block at most every S seconds; 0: one every "
            "height [block time x epoch_blocks/10].",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="This node's name in gossip and fault rules [its URL]."),
    ] = None,
    genesis: Annotated[
        Path | None, typer.Option("--genesis", help="Genesis file [default: HOME/genesis.json].")
    ] = None,
    block_time: Annotated[
        float | None,
        typer.Option("--block-time", help="Seconds between blocks when there are txs [1.0]."),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option("--max-connections", help="Open HTTP connections at most [1024]."),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option("--header-timeout", help="Seconds a client has to send a request head [10]."),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option("--allowed-host", help="Host name this node also answers to (repeatable)."),
    ] = None,
    max_blob_size: Annotated[
        str | None, typer.Option("--max-blob-size", help="Largest blob accepted, e.g. 1GiB.")
    ] = None,
    blob_quota: Annotated[
        str | None, typer.Option("--blob-quota", help="Bytes the blob store may hold, e.g. 64GiB.")
    ] = None,
    min_free_disk: Annotated[
        str | None,
        typer.Option("--min-free-disk", help="Refuse uploads leaving less free disk, e.g. 1GiB."),
    ] = None,
    max_mempool: Annotated[
        int | None,
        typer.Option("--max-mempool", help="Pending transactions kept at most [100000]."),
    ] = None,
    min_permit_balance: Annotated[
        str | None,
        typer.Option(
            "--min-permit-balance", help="NNET (balance + bonded) an uploader must hold [1]."
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option("--log-level", help="debug, info, warning or error [info]."),
    ] = None,
    log_json: Annotated[
        bool | None,
        typer.Option("--log-json/--log-text", help="Log JSON lines instead of text."),
    ] = None,
) -> None:
    """Run the node: HTTP API, mempool and block production, until SIGTERM or Ctrl-C.

    Settings come from flags, then HOME/daemon.toml (same names: listen, peers, block_time,
    max_connections, header_timeout, allowed_hosts, max_blob_size, blob_quota, min_free_disk,
    max_mempool, min_permit_balance, log_level, log_json; docs/operations.md), then defaults.
    Writes HOME/daemon.json {"url", "pid"} once it listens, prints "listening on URL" to stderr,
    logs to stderr, serves GET /health and GET /metrics, and removes daemon.json when it stops.

    Example: nnet devnet init --fund 0xYOURADDRESS=1000 && nnet daemon --listen 127.0.0.1:0
    """
    from nnet.node import daemon_config as dc
    from nnet.node.server import run_daemon

    def checked(value: Any, key: str, flag: str = "") -> Any:
        name = flag or "--" + key.replace("_", "-")
        return None if value is None else dc.KEYS[key][1](value, name)

    node_home = home_dir(home)
    flags = {
        "listen": checked(listen, "listen"),
        "peers": checked(peer, "peers", "--peer") if peer else None,
        "name": checked(name, "name"),
        "empty_block_interval_s": checked(empty_block_interval, "empty_block_interval"),
        "genesis": genesis,
        "block_time_s": checked(block_time, "block_time"),
        "max_connections": checked(max_connections, "max_connections"),
        "header_timeout_s": checked(header_timeout, "header_timeout"),
        "allowed_hosts": (
            checked(allowed_host, "allowed_hosts", "--allowed-host") if allowed_host else None
        ),
        "max_blob_bytes": checked(max_blob_size, "max_blob_size"),
        "blob_quota_bytes": checked(blob_quota, "blob_quota"),
        "min_free_disk_bytes": checked(min_free_disk, "min_free_disk"),
        "max_mempool": checked(max_mempool, "max_mempool"),
        "min_permit_balance": checked(min_permit_balance, "min_permit_balance"),
        "log_level": checked(log_level, "log_level"),
        "log_json": log_json,
    }
    with flag_hints(**DAEMON_FLAG_HINTS):
        run_daemon(dc.build_options(node_home, dc.read_daemon_toml(node_home), flags))


DAEMON_FLAG_HINTS = {  # refusals of node/server.py by code, with the flags that fix them
    "no_genesis": "create a local chain with `nnet devnet init`, or pass --genesis FILE",
    "home_in_use": "stop it first, or give this one its own --home",
    "wrong_genesis": "point --home at a fresh directory, or pass the --genesis it was made with",
    "no_sequencer_key": "run it where `nnet devnet init` put the key, or follow it with --peer URL",
    "cannot_listen": "pick another --listen port, or 0 for any free one",
}
