"""The content store over HTTP: CIDs as IPFS gives them, bytes checked against their CID on upload
and on every download, nothing kept from a failed upload (permits and limits:
test_blobs_permits.py; `nnet store`: test_blobs_cli.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nnet.cid import compute_cid
from nnet.node.permit import PERMIT_HEADER, sign_permit
from tests.node.conftest import RunningNode

HELLO_CID = "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"


def permit_header(running: RunningNode, cid: str, size: int) -> dict[str, str]:
    """A permit signed by a funded user of the devnet, valid for a minute."""
    expires = int(time.time() * 1000) + 60_000
    permit = sign_permit(
        running.users[0].secret, chain=running.node.chain_id, cid=cid, size=size, expires=expires
    )
    return {PERMIT_HEADER: permit.header_value()}


def test_put_get_and_list(running: RunningNode) -> None:
    r = running.http.put(
        "/blobs", content=b"Hello world", headers=permit_header(running, HELLO_CID, 11)
    )
    assert r.status_code == 201 and r.json() == {"cid": HELLO_CID, "size": 11}
    got = running.http.get(f"/blobs/{HELLO_CID}")
    assert got.status_code == 200 and got.content == b"Hello world"
    assert running.http.get("/blobs").json() == {
        "blobs": [{"cid": HELLO_CID, "size": 11}],
        "next": None,
    }


def test_upload_that_does_not_match_its_cid_is_refused_and_not_kept(running: RunningNode) -> None:
    headers = permit_header(running, HELLO_CID, 11)
    r = running.http.put(
        "/blobs", params={"cid": HELLO_CID}, content=b"Hello World", headers=headers
    )
    assert r.status_code == 400 and r.json()["code"] == "verification_failed"
    assert running.http.get("/blobs").json()["blobs"] == []
    assert running.http.get(f"/blobs/{HELLO_CID}").status_code == 404
    assert not list((running.home / "blobs").glob(".incoming-*"))


def test_query_cid_must_be_the_permits(running: RunningNode) -> None:
    other = compute_cid(b"other")
    headers = permit_header(running, HELLO_CID, 11)
    r = running.http.put("/blobs", params={"cid": other}, content=b"Hello world", headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "permit_mismatch"
    assert running.http.get("/blobs").json()["blobs"] == []


def test_bad_cid_and_missing_blob(running: RunningNode) -> None:
    assert running.http.get("/blobs/not-a-cid").status_code == 400
    assert running.http.get(f"/blobs/{compute_cid(b'absent')}").status_code == 404


def test_job_fetch_into_a_relative_folder_gives_a_trainable_spec(
    running: RunningNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nnet job fetch 1 -o job1 && nnet train job1/job.toml`: paths must not depend on the cwd."""
    import tomllib

    from nnet.client import NodeClient
    from nnet.services.market import fetch_job

    data = b"dataset bytes"
    data_cid = compute_cid(data)
    spec = f'[data]\npath = "x.safetensors"\ncid = "{data_cid}"\n'.encode()
    with NodeClient(running.url) as client:
        client.put_blob(data, signer=running.users[0].secret)
        spec_cid = client.put_blob(spec, signer=running.users[1].secret)["cid"]
        monkeypatch.chdir(tmp_path)
        job = {"id": 1, "spec_cid": spec_cid, "dataset_cid": data_cid}
        out = fetch_job(client, job, Path("job1"))
    doc = tomllib.loads(out.read_text())
    path = Path(doc["data"]["path"])
    assert path.is_absolute() and path.read_bytes() == data
