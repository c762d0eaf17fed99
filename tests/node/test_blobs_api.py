"""The content store over HTTP and through `nnet store`: CIDs as IPFS gives them, bytes checked
against their CID on upload and on every download, nothing kept from a failed upload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnet.store.cid import compute_cid
from tests.conftest import RunCli
from tests.node.conftest import RunningNode

HELLO_CID = "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"


def test_put_get_and_list(running: RunningNode) -> None:
    r = running.http.put("/blobs", content=b"Hello world")
    assert r.status_code == 201 and r.json() == {"cid": HELLO_CID, "size": 11}
    got = running.http.get(f"/blobs/{HELLO_CID}")
    assert got.status_code == 200 and got.content == b"Hello world"
    assert {"cid": HELLO_CID, "size": 11} in running.http.get("/blobs").json()["blobs"]


def test_upload_that_does_not_match_its_cid_is_refused_and_not_kept(running: RunningNode) -> None:
    r = running.http.put("/blobs", params={"cid": HELLO_CID}, content=b"Hello World")
    assert r.status_code == 400 and r.json()["code"] == "verification_failed"
    assert running.http.get("/blobs").json()["blobs"] == []
    assert running.http.get(f"/blobs/{HELLO_CID}").status_code == 404


def test_bad_cid_and_missing_blob(running: RunningNode) -> None:
    assert running.http.get("/blobs/not-a-cid").status_code == 400
    assert running.http.get(f"/blobs/{compute_cid(b'absent')}").status_code == 404


def test_store_commands_round_trip_and_refuse_a_corrupt_blob(
    running: RunningNode, run_cli: RunCli, tmp_path: Path
) -> None:
    src = tmp_path / "weights.bin"
    data = bytes(range(256)) * 9000  # > 2 MiB: several chunks each way
    src.write_bytes(data)
    env = {"NNET_NODE": running.url}
    put = run_cli("store", "put", str(src), "--json", env=env)
    assert put.exit_code == 0, put.stderr
    cid = json.loads(put.stdout)["cid"]
    assert cid == compute_cid(data)
    out = tmp_path / "back.bin"
    got = run_cli("store", "get", cid, "-o", str(out), env=env)
    assert got.exit_code == 0, got.stderr
    assert out.read_bytes() == data
    listed = [json.loads(line) for line in run_cli("store", "ls", "--json", env=env).lines()]
    assert {"cid": cid, "size": len(data)} in listed

    # bytes on the node's disk go bad: the download fails and nothing appears under the name
    blob = running.home / "blobs" / cid[-2:] / cid
    blob.write_bytes(b"x" + data[1:])
    bad_out = tmp_path / "bad.bin"
    bad = run_cli("store", "get", cid, "-o", str(bad_out), env=env)
    assert bad.exit_code == 1 and not bad_out.exists()
    assert "fails the hash check" in bad.stderr


def test_job_fetch_into_a_relative_folder_gives_a_trainable_spec(
    running: RunningNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nnet job fetch 1 -o job1 && nnet train job1/job.toml`: paths must not depend on the cwd."""
    import tomllib

    from nnet.client import NodeClient
    from nnet.market_io import fetch_job

    data = b"dataset bytes"
    data_cid = compute_cid(data)
    spec = f'[data]\npath = "x.safetensors"\ncid = "{data_cid}"\n'.encode()
    with NodeClient(running.url) as client:
        client.put_blob([data])
        spec_cid = client.put_blob([spec])["cid"]
        monkeypatch.chdir(tmp_path)
        job = {"id": 1, "spec_cid": spec_cid, "dataset_cid": data_cid}
        out = fetch_job(client, job, Path("job1"))
    doc = tomllib.loads(out.read_text())
    path = Path(doc["data"]["path"])
    assert path.is_absolute() and path.read_bytes() == data
