"""`nnet daemon`: run a chain node (the sequencer, or a replica with --peer) until stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnet.config import home_dir
from nnet.errors import UsageError


def register(parent: typer.Typer) -> None:
    parent.command("daemon")(daemon)


def daemon(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Node home (genesis, keys, chain.db) [env NNET_HOME]."),
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve on; port 0 picks a free one.")
    ] = "127.0.0.1:7654",
    peer: Annotated[
        list[str] | None,
        typer.Option("--peer", help="Sequencer URL to follow as a replica (repeatable)."),
    ] = None,
    genesis: Annotated[
        Path | None, typer.Option("--genesis", help="Genesis file [default: HOME/genesis.json].")
    ] = None,
    block_time: Annotated[
        float, typer.Option("--block-time", help="Seconds between blocks when there are txs.")
    ] = 1.0,
) -> None:
    """Run the node: HTTP API, mempool and block production, until SIGTERM or Ctrl-C.

    Writes HOME/daemon.json {"url", "pid"} once it listens, prints "listening on URL" to
    stderr, and removes daemon.json when it stops.

    Example: nnet devnet init --fund 0xYOURADDRESS=1000 && nnet daemon --listen 127.0.0.1:0
    """
    from nnet.node.server import DaemonOptions, parse_listen, run_daemon

    if not 0.01 <= block_time <= 3600:
        raise UsageError("--block-time must be between 0.01 and 3600 seconds")
    peers = []
    for url in peer or []:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--peer {url!r} must be an http:// or https:// URL")
        peers.append(url.rstrip("/"))
    host, port = parse_listen(listen)
    run_daemon(
        DaemonOptions(
            home=home_dir(home),
            host=host,
            port=port,
            peers=peers,
            genesis=genesis,
            block_time_s=block_time,
        )
    )
