"""What a researcher gets for an accepted job: the final model and the run's record, downloaded
from the node's content store and checked against what the accepted proof commits.

- `download_blob`: one blob to a file, resumably. Bytes go to `NAME.part` (a download that was
  cut off resumes from its end with an HTTP Range), the whole reassembled file is hashed against
  the CID, an optional check runs on it, and only then is it renamed to NAME: a file under its
  final name has passed every check. A part that fails the CID after a resume (altered, or left
  by another download) is discarded and the blob downloaded once more from its first byte.
- `fetch_result`: the accepted job's files into a folder, `RESULT_FILES`: `proof.json` (the
  accepted proof, signature checked, as canonical JSON: its keccak256 is the proof hash the
  attestations name), `metrics.json` (the proof's metrics, which the verifiers recomputed),
  `trace.jsonl` (the proof's `trace` CID) and `model.safetensors` (the proof's `model` CID, whose
  tensors must hash to the proof's `final`, as proof/checkpoint.py hashes weights).

Messages for people go to `say`, byte counts to `on_bytes`; nothing here prints. torch loads only
to check the model's weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnet.cid import compute_file_cid
from nnet.client import NodeClient
from nnet.crypto import keccak256
from nnet.encoding import canonical_json, hex_to_bytes
from nnet.errors import MalformedInput, NotFound, Rejected, VerificationFailed

__all__ = [
    "RESULT_FILES",
    "JobResult",
    "check_final_weights",
    "download_blob",
    "fetch_result",
]

RESULT_FILES = ("proof.json", "metrics.json", "trace.jsonl", "model.safetensors")
PART = ".part"

OnBytes = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)
Counter = Callable[[int, int | None], None]  # (bytes so far, total or None)


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class JobResult:
    """The files of an accepted job as written into `folder`, and what they were checked
    against."""

    job: int
    folder: Path
    proof_hash: str
    final: str  # the proof's hash of the final weights, which model.safetensors matched
    cids: dict[str, str] = field(default_factory=dict)  # file name -> CID it was checked against

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "folder": str(self.folder),
            "proof_hash": self.proof_hash,
            "final": self.final,
            "files": {name: str(self.folder / name) for name in RESULT_FILES},
            "cids": dict(self.cids),
        }


def download_blob(
    client: NodeClient,
    cid: str,
    dest: Path,
    *,
    check: Callable[[Path], None] | None = None,
    on_bytes: OnBytes | None = None,
    say: Callable[[str], None] = _quiet,
) -> Path:
    """`dest` holding the blob `cid`, downloaded (or resumed from `dest.part`) and hashed whole;
    `check(path)` runs on the verified bytes before they take the final name. A `dest` already
    holding those bytes is checked and kept. VerificationFailed when a download from the first
    byte does not hash to `cid` (the node's copy is bad: nothing is kept); NodeUnreachable when
    the connection drops (the part is kept: run again to resume)."""
    if dest.is_file() and compute_file_cid(dest) == cid:
        if check is not None:
            check(dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART)
    while True:
        start = part.stat().st_size if part.is_file() else 0
        _receive(client, cid, part, start, lambda n, total: _tell(on_bytes, dest.name, n, total))
        got = compute_file_cid(part)
        if got == cid:
            break
        part.unlink()
        if start == 0:
            raise VerificationFailed(
                f"the node sent bytes for {cid} that hash to {got}: its copy is corrupt; "
                "nothing was kept"
            )
        say(
            f"{part.name} did not complete to {cid} (the part was altered, or left by another "
            "download); downloading it again from the start"
        )
    try:
        if check is not None:
            check(part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _tell(on_bytes: OnBytes | None, name: str, n: int, total: int | None) -> None:
    if on_bytes is not None:
        on_bytes(name, n, total)


def _receive(
    client: NodeClient,
    cid: str,
    part: Path,
    start: int,
    on_bytes: Callable[[int, int | None], None],
) -> None:
    """Append the blob's bytes from `start` to `part` (rewrite it when the node sends the whole
    blob); a part longer than the blob is emptied, so the next look hashes it wrong and restarts."""
    with client.blob_from(cid, start) as got:
        if got.size is not None and start > got.size:
            part.write_bytes(b"")  # more bytes than the blob has: not a part of it
            return
        done = got.start
        with open(part, "ab" if got.start else "wb") as f:
            on_bytes(done, got.size)
            for chunk in got.chunks:
                f.write(chunk)
                done += len(chunk)
                on_bytes(done, got.size)


def check_final_weights(path: Path, final: str) -> None:
    """VerificationFailed unless the safetensors file's tensors hash to `final` (0x + the hash
    of the final weights that a proof commits; proof/checkpoint.py compute_tensors_hash).
    The file is read as untrusted (proof/safeload.py): nothing is unpickled."""
    from nnet.proof.checkpoint import compute_tensors_hash
    from nnet.proof.safeload import read_untrusted_checkpoint

    try:
        tensors = read_untrusted_checkpoint(path)
    except MalformedInput as e:
        raise VerificationFailed(
            f"the model file is not a readable checkpoint: {e.message}"
        ) from None
    got = compute_tensors_hash(tensors)
    if got != hex_to_bytes(final, "proof.final", 32):
        raise VerificationFailed(
            f"the model file's weights hash to 0x{got.hex()}, not to the proof's final {final}"
        )


def fetch_result(
    client: NodeClient,
    job_id: int,
    dest: Path,
    *,
    on_bytes: OnBytes | None = None,
    say: Callable[[str], None] = _quiet,
) -> JobResult:
    """The accepted job's RESULT_FILES in `dest`, each checked (module docstring). Rejected when
    the job is not accepted, or when its proof names no model (a prover's client that did not
    upload it: the other files are still written); VerificationFailed for a file that does not
    match what the proof commits (it is not kept)."""
    from nnet.proof.document import verify_document
    from nnet.proof.shape import check_proof_shape

    view = client.job(job_id)
    status = view.get("status")
    if status != "accepted":
        raise Rejected(
            f"job {job_id} is {status}: its results are downloadable once it is accepted",
            hint=f"follow it with `nnet job show {job_id}`",
            code="not_accepted",
        )
    proof: dict[str, Any] = view["proof"]  # None until proved; check_proof_shape refuses it
    try:
        check_proof_shape(proof)
        verify_document(proof, "nnet.proof", "prover")
    except (MalformedInput, VerificationFailed) as e:
        raise VerificationFailed(f"job {job_id}'s proof does not check out: {e.message}") from None
    doc = canonical_json(proof)
    proof_hash = "0x" + keccak256(doc).hex()
    if view.get("proof_hash") not in (None, proof_hash):
        raise VerificationFailed(
            f"job {job_id}'s proof hashes to {proof_hash}, the node says {view['proof_hash']}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    _write_atomically(dest / "proof.json", doc + b"\n")
    metrics = json.dumps(proof.get("metrics", {}), indent=1, sort_keys=True) + "\n"
    _write_atomically(dest / "metrics.json", metrics.encode())
    cids = {"trace.jsonl": str(proof["trace"])}
    _fetch(client, job_id, cids["trace.jsonl"], dest / "trace.jsonl", None, on_bytes, say)
    model = proof.get("model")
    if model is None:
        raise Rejected(
            f"job {job_id}'s proof names no model file (its prover's client did not upload one); "
            f"{', '.join(RESULT_FILES[:3])} are in {dest}",
            code="no_model",
        )
    cids["model.safetensors"] = str(model)
    final = str(proof["final"])
    check = lambda path: check_final_weights(path, final)  # noqa: E731
    _fetch(client, job_id, str(model), dest / "model.safetensors", check, on_bytes, say)
    return JobResult(job_id, dest, proof_hash, final, cids)


def _fetch(
    client: NodeClient,
    job_id: int,
    cid: str,
    dest: Path,
    check: Callable[[Path], None] | None,
    on_bytes: OnBytes | None,
    say: Callable[[str], None],
) -> None:
    """download_blob, a blob the node does not hold being the job's trouble (Rejected), not a
    usage error."""
    try:
        download_blob(client, cid, dest, check=check, on_bytes=on_bytes, say=say)
    except NotFound:
        raise Rejected(
            f"job {job_id}'s {dest.name} ({cid}) is not in the node's content store",
            hint="ask a node that holds it (--node)",
            code="unavailable",
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + PART)
    tmp.write_bytes(data)
    os.replace(tmp, path)
