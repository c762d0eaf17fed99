"""`nnet store put|get|ls`: the node's content-addressed store (datasets, checkpoints, models)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from nnet.commands._common import (
    JsonOpt,
    KeyOpt,
    NodeOpt,
    PasswordFileOpt,
    check_output_path,
    emit,
    emit_rows,
    node_client,
    note,
    unlock,
    want_json,
    writing_output,
)
from nnet.errors import UsageError

app = typer.Typer(
    help="Put and get content-addressed blobs (CIDv1) on the node.", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="store")


@app.command("put")
def put(
    file: Annotated[
        str, typer.Argument(help="File to upload, a directory (each file in it), or - for stdin.")
    ],
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a file (streamed) and print its CID; the node refuses bytes that do not hash to it.

    The key signs the upload permit (docs/blobs.md): nodes keep blobs only for funded accounts.
    A directory uploads every regular file directly in it (not its subdirectories), one line
    each, with its path. Stdin is spooled to a temporary file first (the permit names the CID).

    Example: nnet store put ../shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz --key alice
    """
    if file == "-":
        _put_stdin(key, password_file, node, want_json(as_json))
        return
    path = Path(file)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.is_file())
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            note(f"skipping {sub}: subdirectories are not uploaded")
        if not paths:
            raise UsageError(f"{file} is a directory with no regular files in it")
    elif path.is_file():
        paths = [path]
    else:
        raise UsageError(f"no such file: {file}")
    _put_files(paths, key, password_file, node, want_json(as_json))


def _put_files(
    paths: list[Path], key: str | None, password_file: Path | None, node: str | None, js: bool
) -> None:
    """Upload each file with a permit signed by the key; one line per file as it is stored."""
    _, secret = unlock(key, password_file)
    with node_client(node, timeout=600.0) as client:
        for path in paths:
            info = client.put_blob(path, signer=secret)
            emit(
                {**info, "path": str(path)}, as_json=js, human=lambda r: f"{r['cid']}  {r['path']}"
            )


def _put_stdin(key: str | None, password_file: Path | None, node: str | None, js: bool) -> None:
    from nnet.store.blobs import CHUNK

    with tempfile.TemporaryDirectory(prefix="nnet-put-") as tmp:
        spool = Path(tmp) / "stdin"
        with spool.open("wb") as f:
            while chunk := sys.stdin.buffer.read(CHUNK):
                f.write(chunk)
        _, secret = unlock(key, password_file)
        with node_client(node, timeout=600.0) as client:
            info = client.put_blob(spool, signer=secret)
    emit({**info, "path": "-"}, as_json=js, human=lambda r: r["cid"])


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
    from nnet.cid import parse_cid

    parse_cid(cid)
    if output is not None:
        check_output_path(output, "-o")
    with node_client(node, timeout=600.0) as client:
        chunks = client.get_blob(cid)
        if output is None:
            # stdout gets bytes as they arrive; a mismatch at the end still exits 1
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        with writing_output(output, "-o"):
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
    with node_client(node, timeout=600.0) as client:
        # a page at a time, as they are printed
        emit_rows(client.list_blobs(), [("CID", "cid"), ("BYTES", "size")], as_json)
