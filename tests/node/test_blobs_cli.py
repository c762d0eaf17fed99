"""`nnet store`: uploads signed with the user's key (a file, each file of a directory, stdin),
round trips checked by CID, refusals with their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnet.cid import compute_cid
from nnet.node.server import DaemonOptions
from tests.conftest import RunCli
from tests.node.conftest import start_daemon


def new_key(run_cli: RunCli, name: str) -> str:
    r = run_cli("key", "new", name, "--light-kdf", "--json")
    assert r.exit_code == 0, r.stderr
    return str(json.loads(r.stdout)["address"])


@pytest.fixture
def node(run_cli: RunCli, nnet_home: Path, password: str) -> Iterator[tuple[str, Path]]:
    """A devnet daemon in NNET_HOME; key alice funded, key pauper not; NNET_NODE set."""
    alice = new_key(run_cli, "alice")
    new_key(run_cli, "pauper")
    r = run_cli("devnet", "init", "--json", "--fund", f"{alice}=1000")
    assert r.exit_code == 0, r.stderr
    d, thread = start_daemon(DaemonOptions(home=nnet_home, port=0, block_time_s=0.05))
    run_cli("config", "set", "node", d.url)
    try:
        yield d.url, nnet_home
    finally:
        d.stop()
        thread.join(timeout=10)


def test_round_trip_and_a_corrupt_blob_is_refused(
    run_cli: RunCli, node: tuple[str, Path], tmp_path: Path
) -> None:
    _, home = node
    src = tmp_path / "weights.bin"
    data = bytes(range(256)) * 9000  # > 2 MiB: several chunks each way
    src.write_bytes(data)
    put = run_cli("store", "put", str(src), "--key", "alice", "--json")
    assert put.exit_code == 0, put.stderr
    assert json.loads(put.stdout) == {"cid": compute_cid(data), "size": len(data), "path": str(src)}
    cid = compute_cid(data)
    out = tmp_path / "back.bin"
    got = run_cli("store", "get", cid, "-o", str(out))
    assert got.exit_code == 0, got.stderr
    assert out.read_bytes() == data
    listed = [json.loads(line) for line in run_cli("store", "ls", "--json").lines()]
    assert {"cid": cid, "size": len(data)} in listed

    # bytes on the node's disk go bad: the download fails and nothing appears under the name
    blob = home / "blobs" / cid[-2:] / cid
    blob.write_bytes(b"x" + data[1:])
    bad_out = tmp_path / "bad.bin"
    bad = run_cli("store", "get", cid, "-o", str(bad_out))
    assert bad.exit_code == 1 and not bad_out.exists()
    assert "fails the hash check" in bad.stderr


def test_a_directory_uploads_each_of_its_files(
    run_cli: RunCli, node: tuple[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "dataset"
    (folder / "nested").mkdir(parents=True)
    files = {folder / f"part-{i}.bin": f"part {i}".encode() for i in range(3)}
    for path, data in files.items():
        path.write_bytes(data)
    (folder / "nested" / "skipped.bin").write_bytes(b"not uploaded")
    r = run_cli("store", "put", str(folder), "--key", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in r.lines()]
    assert lines == [
        {"cid": compute_cid(data), "size": len(data), "path": str(path)}
        for path, data in sorted(files.items())
    ]
    assert "nested" in r.stderr  # said, not silently skipped
    held = {json.loads(line)["cid"] for line in run_cli("store", "ls", "--json").lines()}
    assert compute_cid(b"not uploaded") not in held
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("store", "put", str(empty), "--key", "alice")
    assert r.exit_code == 2 and "is a directory with no regular files" in r.stderr


def test_stdin_is_spooled_then_uploaded(node: tuple[str, Path]) -> None:
    """A real pipe (binary stdin), so a real process."""
    data = bytes(range(256)) * 5000
    done = subprocess.run(
        [sys.executable, "-m", "nnet", "store", "put", "-", "--key", "alice"],
        input=data,
        capture_output=True,
        timeout=60,
        env={**os.environ, "NNET_HOME": str(node[1])},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"cid": compute_cid(data), "size": len(data), "path": "-"}


def test_refusals_and_their_exit_codes(
    run_cli: RunCli, node: tuple[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"bytes")
    r = run_cli("store", "put", str(src))  # two keys here and none chosen: a usage error
    assert r.exit_code == 2 and "no key chosen" in r.stderr
    r = run_cli("store", "put", str(src), "--key", "pauper")
    assert r.exit_code == 1 and "uploads need 1 NNET" in r.stderr
    r = run_cli("store", "put", str(tmp_path / "absent"), "--key", "alice")
    assert r.exit_code == 2 and "no such file" in r.stderr
    assert run_cli("store", "ls", "--json").stdout == ""
