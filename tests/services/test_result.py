"""services/result.py against a real daemon: resumable downloads that keep a file under its final
name only once it hashes to its CID (and passes its check), resuming from a `.part` with a Range,
starting over when the part was tampered with; the final-weights check; and the refusal of a job
that is not accepted. The whole marketplace path: tests/commands/test_job_result.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from nnet.cid import compute_cid
from nnet.client import NodeClient
from nnet.errors import NodeUnreachable, Rejected, VerificationFailed
from nnet.node.server import DaemonOptions
from nnet.services.result import check_final_weights, download_blob, fetch_result
from nnet.store.blobs import CHUNK
from tests.chain.helpers import Account, account
from tests.node.conftest import devnet_init, start_daemon

DATA = os.urandom(2 * CHUNK + 999)
CID = compute_cid(DATA)
SIZE = len(DATA)


class Node:
    def __init__(self, url: str, home: Path, user: Account) -> None:
        self.url, self.home, self.user = url, home, user

    @property
    def blob(self) -> Path:
        return self.home / "blobs" / CID[-2:] / CID


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    home, user = tmp_path / "node", account("result-uploader")
    devnet_init(home, [user])
    daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05))
    try:
        with NodeClient(daemon.url) as client:
            client.put_blob(DATA, signer=user.secret)
        yield Node(daemon.url, home, user)
    finally:
        daemon.stop()
        thread.join(timeout=10)


class Seen:
    """What download_blob reported: byte counts and messages."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, int, int | None]] = []
        self.said: list[str] = []

    def on_bytes(self, name: str, done: int, total: int | None) -> None:
        self.counts.append((name, done, total))

    def say(self, text: str) -> None:
        self.said.append(text)


def fetch(node: Node, dest: Path, seen: Seen, **kw: Any) -> Path:
    with NodeClient(node.url) as client:
        return download_blob(client, CID, dest, on_bytes=seen.on_bytes, say=seen.say, **kw)


def test_a_download_takes_its_name_once_verified(node: Node, tmp_path: Path) -> None:
    seen = Seen()
    dest = tmp_path / "out" / "model.safetensors"
    assert fetch(node, dest, seen) == dest
    assert dest.read_bytes() == DATA
    assert not dest.with_name(dest.name + ".part").exists()
    assert seen.counts[0] == ("model.safetensors", 0, SIZE)
    assert seen.counts[-1] == ("model.safetensors", SIZE, SIZE)


def test_a_partial_download_resumes_from_its_part(node: Node, tmp_path: Path) -> None:
    seen = Seen()
    dest = tmp_path / "model.safetensors"
    part = tmp_path / "model.safetensors.part"
    part.write_bytes(DATA[: CHUNK + 5])  # what a download cut off left
    fetch(node, dest, seen)
    assert dest.read_bytes() == DATA and not part.exists()
    assert seen.counts[0] == ("model.safetensors", CHUNK + 5, SIZE)  # only the rest was asked for
    assert not seen.said


def test_a_complete_part_left_unrenamed_is_verified_and_renamed(node: Node, tmp_path: Path) -> None:
    seen = Seen()
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(DATA)
    fetch(node, dest, seen)
    assert dest.read_bytes() == DATA
    assert [c[1] for c in seen.counts] == [SIZE]  # nothing more was downloaded


@pytest.mark.parametrize(
    "tampered",
    [
        b"x" * (CHUNK + 5),  # other bytes where the blob's should be
        DATA + b"more",  # longer than the blob
    ],
    ids=["altered", "too-long"],
)
def test_a_tampered_part_fails_the_cid_and_is_downloaded_again(
    node: Node, tmp_path: Path, tampered: bytes
) -> None:
    seen = Seen()
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(tampered)
    fetch(node, dest, seen)
    assert dest.read_bytes() == DATA
    assert len(seen.said) == 1 and "downloading it again from the start" in seen.said[0]
    assert seen.counts[-1] == ("model.safetensors", SIZE, SIZE)


def test_a_file_that_fails_its_check_never_takes_the_name(node: Node, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "model.safetensors"

    def refuse(path: Path) -> None:
        assert path.read_bytes() == DATA  # the check sees verified bytes, under the part's name
        raise VerificationFailed("not the final weights")

    with pytest.raises(VerificationFailed, match="not the final weights"):
        fetch(node, dest, Seen(), check=refuse)
    assert not list(dest.parent.iterdir())


def test_a_corrupt_copy_on_the_node_is_refused_and_nothing_kept(node: Node, tmp_path: Path) -> None:
    node.blob.write_bytes(b"x" + DATA[1:])
    dest = tmp_path / "out" / "model.safetensors"
    with pytest.raises(VerificationFailed, match="corrupt"):
        fetch(node, dest, Seen())
    assert not list(dest.parent.iterdir())


def test_a_verified_file_already_there_is_kept_without_the_node(tmp_path: Path) -> None:
    dest = tmp_path / "model.safetensors"
    dest.write_bytes(DATA)
    with NodeClient("http://127.0.0.1:9") as nowhere:  # never asked
        assert download_blob(nowhere, CID, dest) == dest
    dest.write_bytes(b"stale")  # another file under the name: it must be downloaded
    with NodeClient("http://127.0.0.1:9") as nowhere, pytest.raises(NodeUnreachable):
        download_blob(nowhere, CID, dest)


def test_final_weights_are_checked_as_the_proof_hashes_them(tmp_path: Path) -> None:
    import torch

    from nnet.proof.checkpoint import compute_tensors_hash, write_checkpoint

    weights = {"0.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    path = tmp_path / "model.safetensors"
    write_checkpoint(path, weights, {})
    final = "0x" + compute_tensors_hash(weights).hex()
    check_final_weights(path, final)
    with pytest.raises(VerificationFailed, match="not to the proof's final"):
        check_final_weights(path, "0x" + "00" * 32)
    path.write_bytes(b"not safetensors at all")
    with pytest.raises(VerificationFailed, match="not a readable checkpoint"):
        check_final_weights(path, final)


class _Chain:
    """A node's job view, for the refusal alone (the real path: test_job_result.py)."""

    def __init__(self, status: str) -> None:
        self.status = status

    def job(self, job_id: int) -> dict[str, Any]:
        return {"id": job_id, "status": self.status, "proof": None}


@pytest.mark.parametrize("status", ["open", "claimed", "opened", "rejected", "refunded"])
def test_a_job_not_accepted_is_refused_with_its_status(tmp_path: Path, status: str) -> None:
    dest = tmp_path / "result"
    with pytest.raises(Rejected, match=f"job 4 is {status}: .* once it is accepted"):
        fetch_result(cast(NodeClient, _Chain(status)), 4, dest)
    assert not dest.exists()


def test_a_proofs_model_field_is_optional_and_must_be_a_cid() -> None:
    from nnet.errors import MalformedInput
    from nnet.proof.shape import check_proof_shape

    proof: dict[str, Any] = {
        "spec": "0x" + "11" * 32,
        "dataset": compute_cid(b"data"),
        "init": "0x" + "22" * 32,
        "root": "0x" + "33" * 32,
        "checkpoints": 3,
        "trace": compute_cid(b"trace"),
        "final": "0x" + "44" * 32,
        "env": "cuda/sm90/cuda-13.0/cudnn-91900/torch-2.11.0+cu130",
        "mode": "exact",
        "prover": account("prover").address,
    }
    check_proof_shape(proof)  # proofs from before the field stay valid
    check_proof_shape({**proof, "model": CID})
    for bad in ("Qm-not-a-cid", 7, CID.upper()):
        with pytest.raises(MalformedInput, match=r"proof\.model"):
            check_proof_shape({**proof, "model": bad})
