"""`nnet store put|get|ls`: the node's content-addressed store (datasets, checkpoints, models)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, note, table, want_json
from nnet.config import resolve
from nnet.errors import UsageError

app = typer.Typer(
    help="Put and get content-addressed blobs (CIDv1) on the node.", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="store")


def _client(node: str | None):  # type: ignore[no-untyped-def]
    from nnet.client import NodeClient

    return NodeClient(resolve("node", node) or "", timeout=600.0)


@app.command("put")
def put(
    file: Annotated[str, typer.Argument(help="File to upload, or - for stdin.")],
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a file (streamed) and print its CID; the node refuses bytes that do not hash to it.

    Example: nnet store put ../shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz
    """
    from nnet.store.blobs import CHUNK
    from nnet.store.cid import compute_file_cid

    if file == "-":
        stream = sys.stdin.buffer
        expect = None
    else:
        path = Path(file)
        if not path.is_file():
            raise UsageError(f"no such file: {file}")
        expect = compute_file_cid(path)
        stream = path.open("rb")
    with stream, _client(node) as client:
        info = client.put_blob(iter(lambda: stream.read(CHUNK), b""), cid=expect)
    emit(info, as_json=want_json(as_json), human=lambda r: r["cid"])


@app.command("get")
def get(
    cid: Annotated[str, typer.Argument(help="CID of the blob (bafk…).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    node: NodeOpt = None,
) -> None:
    """Download a blob and check that its bytes hash to its CID before keeping them.

    Example: nnet store get bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq -o hello.txt
    """
    from nnet.store.cid import parse_cid

    parse_cid(cid)
    with _client(node) as client:
        chunks = client.get_blob(cid)
        if output is None:
            # stdout gets bytes as they arrive; a mismatch at the end still exits 1
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        fd, tmp = tempfile.mkstemp(
            dir=output.parent if str(output.parent) else ".", prefix=f".{output.name}."
        )
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, output)  # only verified bytes ever appear under the name
        finally:
            Path(tmp).unlink(missing_ok=True)
    note(f"wrote {output}")


@app.command("ls")
def ls(node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List the blobs the node holds, with their sizes.

    Example: nnet store ls --json | jq -r .cid
    """
    with _client(node) as client:
        blobs = client.list_blobs()
    if want_json(as_json):
        for b in blobs:
            emit(b, as_json=True)
    else:
        print(table([(b["cid"], str(b["size"])) for b in blobs], ("CID", "BYTES")))
