"""The marketplace's file traffic between machines, over the node's content store.

- `fetch_job`: a job's spec and data, downloaded by CID into a folder, ready for `nnet train`
  (the GPU node) or a replay (a verifier). Every blob is hashed against its CID on arrival.
- `publish_openings`: the prover's answer to the on-chain challenge: its trace and the challenged
  checkpoints, uploaded by CID, as `proof.open`'s {index, cid} list.
- `lay_out_openings`: a verifier's view of a job as a run directory holding only the opened
  checkpoints, so `nnet.proof.verifier.verify_proof` judges it exactly as it judges a local run.

This module sits above client.py and proof/ (the core never talks to the network). torch loads
only when a dropped checkpoint must be regenerated for an opening.
"""

from __future__ import annotations

import os
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from nnet.client import NodeClient
from nnet.errors import MalformedInput, NnetError, NotFound, VerificationFailed
from nnet.proof.rundir import RunDir

__all__ = [
    "OpenedRun",
    "check_job_record",
    "fetch_blob",
    "fetch_job",
    "lay_out_openings",
    "publish_openings",
    "read_job_spec",
    "wait_for_challenge",
]


def fetch_blob(client: NodeClient, cid: str, dest: Path) -> Path:
    """Download a blob to `dest` (atomically; only bytes that hash to `cid` are kept)."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in client.get_blob(cid):
                f.write(chunk)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def fetch_job(
    client: NodeClient, job: dict[str, Any], dest: Path, bind_to: str | None = None
) -> Path:
    """Write DEST/job.toml with its data paths pointing at the job's blobs, fetched into DEST.
    `bind_to` (the assignee's address) adds the [binding] a run for this job must be trained
    with: its seeds derive from (job id, prover), so the run is valid for this job only."""
    dest = dest.resolve()  # the spec's paths must not depend on the folder it is read from
    spec_file = fetch_blob(client, job["spec_cid"], dest / "blobs" / job["spec_cid"])
    try:
        doc = tomllib.loads(spec_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MalformedInput(f"job {job['id']}'s spec is not TOML: {e}") from None
    data = doc.get("data", {})
    for path_key, cid_key in (("path", "cid"), ("labels", "labels_cid")):
        if data.get(cid_key):
            data[path_key] = str(fetch_blob(client, data[cid_key], dest / "blobs" / data[cid_key]))
    base = doc.get("base_model")
    if isinstance(base, dict) and base.get("cid"):
        base["path"] = str(fetch_blob(client, base["cid"], dest / "blobs" / base["cid"]))
    if data.get("cid") != job["dataset_cid"]:
        raise MalformedInput(
            f"job {job['id']}'s spec names dataset {data.get('cid')}, the job {job['dataset_cid']}"
        )
    if bind_to is not None:
        doc["binding"] = {"job": str(job["id"]), "prover": bind_to}
    else:
        doc.pop("binding", None)
    out = dest / "job.toml"
    out.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return out


def check_job_record(job: dict[str, Any], spec: Any) -> list[str]:
    """How the chain's record of a job (checkpoints, mode, work) disagrees with its spec: the chain
    sizes the challenge and counts the work from the record, so a job whose submitter declared
    other figures can be neither trained honestly nor verified (empty when they agree)."""
    want = {
        "checkpoints": spec.n_checkpoints,
        "mode": spec.verify["mode"],
        "work": spec.steps * int(spec.job["batch_size"]),
    }
    return [
        f"job: the chain records {key} = {job.get(key)!r} for job {job['id']}, its spec says "
        f"{value!r}"
        for key, value in want.items()
        if job.get(key) != value
    ]


def read_job_spec(client: NodeClient, job: dict[str, Any], dest: Path) -> Any:
    """The job's spec alone (no data), fetched by CID and parsed: enough to check its record."""
    from nnet.proof.spec import parse_spec

    spec_file = fetch_blob(client, job["spec_cid"], dest / "blobs" / job["spec_cid"])
    try:
        doc = tomllib.loads(spec_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MalformedInput(f"job {job['id']}'s spec is not TOML: {e}") from None
    return parse_spec(doc, dest)


def wait_for_challenge(
    client: NodeClient, job_id: int, *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """The job view once its challenge is fixed (the block after the proof's)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}")
        if job.get("challenge"):
            return job
        if job.get("status") == "claimed":
            raise NnetError(
                f"job {job_id} has no proof yet, so no challenge",
                hint=f"submit it first: nnet prove RUN --job {job_id} --send --wait",
            )
        if job.get("status") not in ("proved", "drawn"):
            raise NnetError(f"job {job_id} is {job.get('status')}; there is no challenge to answer")
        if time.monotonic() > deadline:
            raise NnetError(
                f"job {job_id} has no challenge after {timeout_s:.0f} s",
                hint="the drawn verifiers must each add their randomness first "
                "(`nnet verify ID --send`); is the node producing blocks? check `nnet status`",
            )
        time.sleep(0.2)


def publish_openings(
    client: NodeClient, run: RunDir, challenge: dict[str, Any], signer: bytes
) -> list[dict[str, Any]]:
    """Upload the run's trace and each challenged checkpoint (regenerating dropped ones: the
    prover's work, never the verifier's) and describe the openings. `signer` (the prover's key)
    signs the upload permits."""
    client.put_blob(run.trace_path, signer=signer)  # verifiers fetch it by the proof's trace CID
    indices = [int(i) for i in challenge["openings"]]
    missing = [i for i in indices if not run.checkpoint_path(i).exists()]
    openings = []
    with tempfile.TemporaryDirectory(prefix="nnet-openings-") as tmp:
        if missing:  # torch only when the retention tiers dropped a challenged checkpoint
            from nnet.proof.checkpoint import write_checkpoint
            from nnet.proof.replay import load_run_checkpoints

            spec_hash = run.read_manifest()["spec"]
            for index, tensors in zip(missing, load_run_checkpoints(run, missing), strict=True):
                meta = {"spec": spec_hash, "index": str(index)}
                write_checkpoint(Path(tmp) / f"{index:06d}.safetensors", tensors, meta)
        for index in indices:
            path = Path(tmp) / f"{index:06d}.safetensors" if index in missing else None
            info = client.put_blob(path or run.checkpoint_path(index), signer=signer)
            openings.append({"index": index, "cid": info["cid"]})
    return openings


@dataclass(frozen=True)
class OpenedRun(RunDir):
    """A run directory holding only the opened checkpoints and the trace; `unavailable` lists
    what the prover named but the node could not serve (withheld)."""

    unavailable: list[str] = field(default_factory=list)


def lay_out_openings(client: NodeClient, job: dict[str, Any], dest: Path) -> OpenedRun:
    """DEST as a run directory of the job's opened checkpoints and trace (fetched by CID).

    The job's spec and data must be there (`fetch_job` first). Blobs the prover named but the
    node cannot serve (or serves with other bytes) are listed in `OpenedRun.unavailable`, not
    raised: "could not fetch it" is the prover withholding, distinct from "it is invalid"."""
    unavailable: list[str] = []
    wanted = [("trace", str(job["proof"]["trace"]), dest / "trace.jsonl")]
    for opening in job.get("openings") or []:
        index = int(opening["index"])
        wanted.append(
            (f"checkpoint {index}", opening["cid"], dest / "ckpt" / f"{index:06d}.safetensors")
        )
    for what, cid, path in wanted:
        try:
            fetch_blob(client, cid, path)
        except (NotFound, VerificationFailed) as e:  # not there, or not those bytes: withheld
            unavailable.append(f"unavailable: {what} ({cid}) could not be fetched: {e.message}")
        # anything else (the node unreachable or failing) is our trouble, not the prover's: it
        # propagates, no attestation is signed, and the verifier tries again
    return OpenedRun(dest, unavailable)
