"""`nnet job submit|list|show|claim|cancel`: training jobs on the marketplace.

`submit` reads the job spec, computes the CID of each data file from its bytes (refusing a spec
whose declared CID differs), fills the CIDs into the spec, hashes it exactly as `nnet train`
does (so the proof's "spec" will equal the job's spec_hash), uploads the spec and the data to the
node's blob store, and builds the `job.submit` transaction. Rules: docs/marketplace.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import (
    ChainOpt,
    JsonOpt,
    KeyOpt,
    NodeOpt,
    NonceOpt,
    PasswordFileOpt,
    SendOpt,
    WaitOpt,
    check_output_path,
    emit,
    note,
    pairs,
    table,
    want_json,
    writing_output,
)
from nnet.commands._listing import LimitOpt, listing
from nnet.commands._txflow import TxOptions, command_with_tx_options, issue, tx_command
from nnet.config import resolve
from nnet.encoding import format_amount, parse_amount
from nnet.errors import NnetError, Rejected, UsageError, VerificationFailed

app = typer.Typer(help="Submit, list, claim and cancel training jobs.", no_args_is_help=True)
IdArg = Annotated[int, typer.Argument(min=1, help="Job id.")]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="job")


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
    import tomli_w

    from nnet.proof.spec import load_spec
    from nnet.store.cid import compute_cid, compute_file_cid

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


def upload_job(files: JobFiles, node_url: str, secret: bytes) -> None:
    """Put the spec and every data file into the node's blob store (each checked by its CID),
    with upload permits signed by the submitter's key (the node keeps blobs for funded keys)."""
    from nnet.client import NodeClient

    with NodeClient(node_url, timeout=600.0) as client:
        client.put_blob(files.spec_toml, signer=secret)
        for cid, path in files.blobs.items():
            if client.put_blob(path, signer=secret)["cid"] != cid:
                raise VerificationFailed(f"{path} changed while it was being submitted")
            note(f"uploaded {path.name} as {cid}")


def job_body(files: JobFiles, fee: int, verifiers: int, deadline_epochs: int) -> dict[str, Any]:
    return {
        "spec_cid": files.spec_cid,
        "spec_hash": files.spec_hash,
        "dataset_cid": files.dataset_cid,
        "fee": str(fee),
        "verifiers": verifiers,
        "deadline_epochs": deadline_epochs,
        "checkpoints": files.checkpoints,
        "mode": files.mode,
        "work": files.work,
    }


@app.command("submit")
def submit(
    spec: Annotated[Path, typer.Argument(help="Job spec (TOML), see docs/job-spec.md.")],
    fee: Annotated[str, typer.Option("--fee", help="What the job pays, in NNET (escrowed).")],
    verifiers: Annotated[
        int, typer.Option("--verifiers", min=1, help="Verifiers to draw for the proof.")
    ] = 1,
    deadline_epochs: Annotated[
        int, typer.Option("--deadline-epochs", min=0, help="Epochs the job stays claimable.")
    ] = 10,
    no_upload: Annotated[
        bool, typer.Option("--no-upload", help="Do not upload the spec and data to the node.")
    ] = False,
    tx_fee: Annotated[
        str | None, typer.Option("--tx-fee", help="Transaction fee in NNET [env NNET_FEE].")
    ] = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    nonce: NonceOpt = None,
    chain: ChainOpt = None,
    node: NodeOpt = None,
    send: SendOpt = False,
    wait: WaitOpt = False,
) -> None:
    """Submit a training job: check the data CIDs against the files, upload spec and data to the
    node's blob store, and escrow the fee (`--fee` is the job's price; `--tx-fee` the tx fee).

    The chain gives the job its id when the submission commits: with --send --wait the receipt's
    job.submitted event holds it (and stderr says it); with --send alone the receipt is still
    pending, and stderr says how to find the id (`nnet tx show HASH`).

    Example: nnet job submit examples/mnist.toml --fee 25 --verifiers 3 --send --wait
    """
    amount = parse_amount(fee)
    if amount == 0:
        raise UsageError("--fee must be more than 0")
    files = prepare_job(spec)
    opts = TxOptions(key, password_file, nonce, tx_fee, chain, node, send, wait)
    if not no_upload:
        from nnet.commands._common import unlock

        upload_job(files, resolve("node", node) or "", unlock(key, password_file)[1])
    note(f"spec {files.spec_cid} (hash {files.spec_hash[:18]}…), dataset {files.dataset_cid}")
    _tell_challenge(files, resolve("node", node) or "")
    if send:
        _warn_if_too_few_verifiers(resolve("node", node) or "", key, verifiers)
    tx = issue("job.submit", job_body(files, amount, verifiers, deadline_epochs), opts)
    if send:
        _tell_job_id(tx.hash_hex, resolve("node", node) or "", waited=wait)


def _tell_job_id(tx_hash: str, node_url: str, *, waited: bool) -> None:
    """The chain numbers the job when it commits the submission: say the id after --wait, and
    otherwise how to learn it (the receipt printed on stdout is the submission's, still pending)."""
    if not waited:
        note(
            f"the job gets its id when {tx_hash} commits (a block or two): "
            f"`nnet tx show {tx_hash}` then shows it (job.submitted), or submit with --wait"
        )
        return
    from nnet.client import NodeClient

    with NodeClient(node_url) as client:
        receipt = client.receipt(tx_hash)
    ids = [e.get("job") for e in receipt.get("events", []) if e.get("type") == "job.submitted"]
    if ids:
        note(f"job {ids[0]} submitted; next: nnet job show {ids[0]}")


def _tell_challenge(files: JobFiles, node_url: str) -> None:
    """Say how many of the job's segments a proof will be challenged on, and what that catches
    (the chain sizes Q from N with its detection parameters; the defaults when offline)."""
    from nnet.econ.soundness import compute_detection, compute_faked_segments, compute_required_q

    params = {"market_detection_ppm": 990_000, "market_faked_ppm": 100_000, "market_challenge_q": 4}
    try:
        from nnet.client import NodeClient

        with NodeClient(node_url, timeout=5.0) as client:
            live = client.get("/params")
            params |= {k: int(live[k]["value"]) for k in params if k in live}
    except (NnetError, KeyError, TypeError, ValueError):  # only a hint: offline, the defaults
        pass
    n = files.checkpoints - 1
    need = compute_required_q(n, params["market_detection_ppm"], params["market_faked_ppm"])
    q = min(n, max(need, params["market_challenge_q"]))
    m = compute_faked_segments(n, params["market_faked_ppm"])
    p = compute_detection(n, q, m)
    note(
        f"challenge: {q} of {n} segments replayed ({100 * q / n:.1f} % of the training); a run "
        f"faking {params['market_faked_ppm'] / 10_000:g} % of its compute is caught with "
        f"probability {float(p):.4f}"
    )


def _warn_if_too_few_verifiers(node_url: str, key: str | None, wanted: int) -> None:
    """Verifiers are drawn among registered nodes other than the submitter and the prover."""
    from nnet.client import NodeClient
    from nnet.commands._common import key_name
    from nnet.config import home_dir
    from nnet.keys import KeyStore

    me = KeyStore(home_dir()).info(key_name(key)).address
    with NodeClient(node_url) as client:
        others = [n for n in client.get("/nodes")["nodes"] if n["address"] != me]
    eligible = max(0, len(others) - 1)  # one of them will be the prover
    if eligible < wanted:
        note(
            f"warning: {len(others)} other node(s) are registered, so at most {eligible} can "
            f"verify (never the prover); with fewer than {wanted} drawn, the job settles with "
            "whoever is drawn, or is refunded if nobody is"
        )


def claim(job: IdArg, *, opts: TxOptions) -> None:
    """Claim an open job for this node, locking its collateral until the job settles. With
    --send, the job's spec is fetched first and checked against the chain's record of it (a job
    posted with other figures than its spec can be neither trained nor verified as posted).

    Example: nnet job claim 4 --send
    """
    if opts.send:
        _check_before_claim(job, opts.node)
    issue("job.claim", {"job": job}, opts)


def _check_before_claim(job_id: int, node: str | None) -> None:
    import tempfile

    from nnet.client import NodeClient
    from nnet.market_io import check_job_record, read_job_spec

    with NodeClient(resolve("node", node) or "", timeout=120.0) as client:
        record = client.get(f"/jobs/{job_id}")
        with tempfile.TemporaryDirectory(prefix=f"nnet-claim-{job_id}-") as tmp:
            problems = check_job_record(record, read_job_spec(client, record, Path(tmp)))
    if problems:
        raise Rejected(
            f"job {job_id} is not claimable as posted: {problems[0]}",
            hint="verifiers would reject any proof of it; leave it",
        )


def cancel(job: IdArg) -> dict[str, Any]:
    """Cancel your job before it is claimed (or after its proof deadline passed); refunds the fee.

    Example: nnet job cancel 4 --send
    """
    return {"job": job}


command_with_tx_options(app, "claim", claim)
tx_command(app, "cancel", "job.cancel", cancel)


def _client(node: str | None):  # type: ignore[no-untyped-def]
    from nnet.client import NodeClient

    return NodeClient(resolve("node", node) or "")


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Only jobs in this status (e.g. open).")
    ] = None,
    limit: LimitOpt = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first: status, fee, assignee, blocks left before the current deadline.

    Every job, page by page, unless --limit says how many.

    Example: nnet job list --status open --limit 20
    """
    from nnet.chain.market_settle import JOB_STATUSES

    if status is not None and status not in JOB_STATUSES:
        raise UsageError(
            f"--status {status!r} is not a job status",
            hint=f"one of: {', '.join(JOB_STATUSES)}",
        )
    filters = {"status": status} if status else {}
    with _client(node) as client:
        jobs = listing(client, "/jobs", "jobs", limit, **filters)
        if want_json(as_json):
            for j in jobs:
                emit(j, as_json=True)
            return
        rows = [
            (
                str(j["id"]),
                j["status"],
                format_amount(int(j["fee"])),
                str(j["verifiers"]),
                j["assignee"] or "-",
                str(j.get("blocks_left", "-")),
            )
            for j in jobs
        ]
    print(table(rows, ("ID", "STATUS", "FEE", "VERIFIERS", "ASSIGNEE", "BLOCKS LEFT")))


@app.command("show")
def show(job: IdArg, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show a job: spec, escrow, assignee, challenge, verifiers, attestations, settlement.

    Example: nnet job show 4
    """
    with _client(node) as client:
        record = client.get(f"/jobs/{job}")
    emit(record, as_json=want_json(as_json), human=_human)


def _human(j: dict[str, Any]) -> str:
    rows: dict[str, Any] = {
        "id": j["id"],
        "status": j["status"],
        "submitter": j["submitter"],
        "fee": format_amount(int(j["fee"])) + " NNET",
        "spec": f"{j['spec_cid']} (hash {j['spec_hash']})",
        "dataset": j["dataset_cid"],
        "assignee": j["assignee"] or "-",
    }
    if "blocks_left" in j:
        rows["deadline"] = f"height {j['deadline_height']} ({j['blocks_left']} blocks left)"
    if j.get("challenge"):
        c = j["challenge"]
        rows["challenge"] = f"segments {c['segments']} of {c['of']} (seed {c['seed'][:18]}…)"
        rows["verifiers"] = ", ".join(j["drawn"]) or "-"
    for a in j.get("attestations") or []:
        rows[f"attestation {a['verifier'][:10]}…"] = a["verdict"]
    if j.get("settlement"):
        s = j["settlement"]
        rows["settlement"] = f"{s['outcome']}: {s['reason']}"
    return pairs(rows)


@app.command("fetch")
def fetch(
    job: IdArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write job.toml and the data into.")
    ],
    node: NodeOpt = None,
) -> None:
    """Download a job's spec and data from the node (each checked against its CID) into a folder,
    ready to train: `nnet train DIR/job.toml -o run`.

    Example: nnet job fetch 4 -o job4 && nnet train job4/job.toml -o run4
    """
    from nnet.client import NodeClient
    from nnet.market_io import fetch_job

    check_output_path(output, "--output", folder=True)
    with NodeClient(resolve("node", node) or "", timeout=600.0) as client:
        record = client.get(f"/jobs/{job}")
        if not record.get("assignee"):
            raise UsageError(
                f"job {job} is not claimed yet: a run is bound to its job and its prover",
                hint=f"claim it first: nnet job claim {job} --send --wait",
            )
        with writing_output(output, "--output"):
            spec = fetch_job(client, record, output, bind_to=str(record["assignee"]))
    note(f"job {job}: spec and data in {output}, bound to prover {record['assignee']}")
    print(spec)
