"""The marketplace's file traffic between machines, over the node's content store.

- `prepare_job` and `upload_job`: a researcher's job, its data CIDs checked against the files'
  bytes and filled in, and its spec and data put into the node's blob store (`nnet job submit`).
- `check_claimable`: a job's spec, fetched and compared with the chain's record before a claim.
- `fetch_job`: a job's spec and data, downloaded by CID into a folder, ready for `nnet train`
  (the GPU node) or a replay (a verifier). Every blob is hashed against its CID on arrival.
- `upload_model`: the run's final weights file, uploaded when the proof is sent; its CID becomes
  the proof's `model`, by which the researcher downloads it (services/result.py).
- `publish_openings`: the prover's answer to the on-chain challenge: its trace and the challenged
  checkpoints, uploaded by CID, as `proof.open`'s {index, cid} list.
- `lay_out_openings`: a verifier's view of a job as a run directory holding only the opened
  checkpoints, so `nnet.proof.verifier.verify_proof` judges it exactly as it judges a local run.

This module sits above client.py and proof/ (the core never talks to the network). torch loads
only when a dropped checkpoint must be regenerated for an opening. Messages for people go to a
`progress` callable, never to stdout.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from nnet.client import NodeClient
from nnet.errors import MalformedInput, NnetError, NotFound, Rejected, VerificationFailed
from nnet.poll import poll_until
from nnet.proof.rundir import RunDir

if TYPE_CHECKING:
    from nnet.proof.spec import JobSpec

__all__ = [
    "JobFiles",
    "OpenedRun",
    "check_claimable",
    "check_job_record",
    "fetch_blob",
    "fetch_job",
    "lay_out_openings",
    "prepare_job",
    "publish_openings",
    "read_job_spec",
    "upload_job",
    "upload_model",
    "wait_for_challenge",
]


@dataclass(frozen=True)
class JobFiles:
    """What a job submission publishes: the filled-in spec and the files it names, by CID."""

    spec_toml: bytes  # the spec with its data CIDs filled in (what verifiers fetch)
    spec_cid: str
    spec_hash: str  # equals the "spec" of a proof of this job
    dataset_cid: str  # equals the "dataset" of a proof of this job
    checkpoints: int  # leaves of a proof: the chain sizes the challenge Q from it
    mode: str  # exact | tolerance
    work: int  # steps x batch size: the verified work counted when the job is accepted
    blobs: dict[str, Path] = field(default_factory=dict)  # CID -> file, data and base model


def prepare_job(spec_path: Path) -> JobFiles:
    """Load a spec, check and fill its CIDs from the files' bytes; no torch, no network."""
    from nnet.cid import compute_cid, compute_file_cid
    from nnet.proof.spec import load_spec

    spec = load_spec(spec_path)
    found: dict[str, tuple[str, Path]] = {}
    for key, path_key in (("cid", "path"), ("labels_cid", "labels")):
        if spec.data.get(path_key):
            path = spec.resolve(spec.data[path_key])
            found[key] = (compute_file_cid(path), path)
    if spec.base_model is not None:
        path = spec.resolve(spec.base_model["path"])
        found["base_model"] = (compute_file_cid(path), path)
    declared = {
        "cid": spec.data.get("cid"),
        "labels_cid": spec.data.get("labels_cid"),
        "base_model": spec.base_model["cid"] if spec.base_model else None,
    }
    what = {"cid": "dataset", "labels_cid": "labels", "base_model": "base model"}
    for key, (cid, path) in found.items():
        want = declared[key]
        if want is not None and want != cid:
            raise VerificationFailed(
                f"{what[key]} CID does not match its bytes: the spec declares {want} for "
                f"{path}, whose bytes have CID {cid}",
                hint="fix the CID in the spec (or drop it: submit fills it in)",
            )
    labels = found.get("labels_cid")
    filled = spec.with_data_cids(found["cid"][0], labels[0] if labels else None)
    toml = tomli_w.dumps(filled.to_toml()).encode()
    return JobFiles(
        spec_toml=toml,
        spec_cid=compute_cid(toml),
        spec_hash=filled.spec_hash(),
        dataset_cid=found["cid"][0],
        checkpoints=filled.n_checkpoints,
        mode=str(filled.verify["mode"]),
        work=filled.steps * int(filled.job["batch_size"]),
        blobs={cid: path for cid, path in found.values()},
    )


def upload_job(
    client: NodeClient, files: JobFiles, secret: bytes, progress: Callable[[str], None]
) -> None:
    """Put the spec and every data file into the node's blob store (each checked by its CID),
    with upload permits signed by the submitter's key (the node keeps blobs for funded keys)."""
    client.put_blob(files.spec_toml, signer=secret)
    for cid, path in files.blobs.items():
        if client.put_blob(path, signer=secret)["cid"] != cid:
            raise VerificationFailed(f"{path} changed while it was being submitted")
        progress(f"uploaded {path.name} as {cid}")


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


def check_job_record(job: dict[str, Any], spec: JobSpec) -> list[str]:
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


def read_job_spec(client: NodeClient, job: dict[str, Any], dest: Path) -> JobSpec:
    """The job's spec alone (no data), fetched by CID and parsed: enough to check its record."""
    from nnet.proof.spec import parse_spec

    spec_file = fetch_blob(client, job["spec_cid"], dest / "blobs" / job["spec_cid"])
    try:
        doc = tomllib.loads(spec_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MalformedInput(f"job {job['id']}'s spec is not TOML: {e}") from None
    return parse_spec(doc, dest)


def check_claimable(client: NodeClient, job_id: int) -> None:
    """Refuse a job whose spec disagrees with the chain's record of it: verifiers would reject
    any proof of it, and the claim would lock collateral for nothing (Rejected)."""
    record = client.job(job_id)
    with tempfile.TemporaryDirectory(prefix=f"nnet-claim-{job_id}-") as tmp:
        problems = check_job_record(record, read_job_spec(client, record, Path(tmp)))
    if problems:
        raise Rejected(
            f"job {job_id} is not claimable as posted: {problems[0]}",
            hint="verifiers would reject any proof of it; leave it",
        )


def wait_for_challenge(
    client: NodeClient, job_id: int, *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """The job view once its challenge is fixed (the block after the proof's)."""

    def challenged() -> dict[str, Any] | None:
        job = client.job(job_id)
        if job.get("challenge"):
            return job
        if job.get("status") == "claimed":
            raise NnetError(
                f"job {job_id} has no proof yet, so no challenge",
                hint=f"submit it first: nnet prove RUN --job {job_id} --send --wait",
            )
        if job.get("status") not in ("proved", "drawn"):
            raise NnetError(f"job {job_id} is {job.get('status')}; there is no challenge to answer")
        return None

    return poll_until(
        challenged,
        what=f"job {job_id}'s challenge",
        timeout_s=timeout_s,
        every_s=0.2,
        hint="the drawn verifiers must each add their randomness first "
        "(`nnet verify ID --send`); is the node producing blocks? check `nnet status`",
    )


def upload_model(client: NodeClient, run: RunDir, signer: bytes) -> str:
    """Upload the run's final weights (RUN/model.safetensors, whose tensors hash to the proof's
    `final`) with a permit signed by `signer` (the prover's key): the CID for the proof's
    `model` field. NotFound when the file is gone; the node's refusals (TooLarge, StorageFull,
    PermitRefused, PermitRequired) as put_blob raises them."""
    return str(client.put_blob(run.model_path, signer=signer)["cid"])


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
