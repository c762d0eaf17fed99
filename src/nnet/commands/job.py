"""`nnet job submit|list|show|claim|cancel|fetch`: training jobs on the marketplace.

`submit` reads the job spec, computes the CID of each data file from its bytes (refusing a spec
whose declared CID differs), fills the CIDs into the spec, hashes it exactly as `nnet train`
does (so the proof's "spec" will equal the job's spec_hash), uploads the spec and the data to the
node's blob store (nnet.services.market), and builds the `job.submit` transaction. Rules:
docs/marketplace.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nnet.commands._common import (
    Column,
    JsonOpt,
    NodeOpt,
    check_output_path,
    emit,
    emit_rows,
    emit_text,
    node_client,
    note,
    pairs,
    unlock,
    want_json,
    writing_output,
)
from nnet.commands._listing import LimitOpt, check_status, listing
from nnet.commands._txflow import OptionAs, TxOptions, command_with_tx_options, issue, tx_command
from nnet.encoding import format_amount, parse_amount
from nnet.errors import NnetError, UsageError

if TYPE_CHECKING:
    from nnet.services.market import JobFiles

app = typer.Typer(help="Submit, list, claim and cancel training jobs.", no_args_is_help=True)
IdArg = Annotated[int, typer.Argument(min=1, help="Job id.")]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="job")


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


TxFeeOpt = Annotated[
    str | None, typer.Option("--tx-fee", help="Transaction fee in NNET [env NNET_FEE].")
]


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
    *,
    opts: TxOptions,
) -> None:
    """Submit a training job: check the data CIDs against the files, upload spec and data to the
    node's blob store, and escrow the fee (`--fee` is the job's price; `--tx-fee` the tx fee).

    The chain gives the job its id when the submission commits: with --send --wait the receipt's
    job.submitted event holds it (and stderr says it); with --send alone the receipt is still
    pending, and stderr says how to find the id (`nnet tx show HASH`).

    Example: nnet job submit examples/mnist.toml --fee 25 --verifiers 3 --send --wait
    """
    from nnet.services.market import prepare_job, upload_job

    amount = parse_amount(fee)
    if amount == 0:
        raise UsageError("--fee must be more than 0")
    files = prepare_job(spec)
    if not no_upload:
        secret = unlock(opts.key, opts.password_file)[1]
        with node_client(opts.node, timeout=600.0) as client:
            upload_job(client, files, secret, note)
    note(f"spec {files.spec_cid} (hash {files.spec_hash[:18]}…), dataset {files.dataset_cid}")
    _tell_challenge(files, opts.node)
    if opts.send:
        _warn_if_too_few_verifiers(opts.node, opts.key, verifiers)
    tx = issue("job.submit", job_body(files, amount, verifiers, deadline_epochs), opts)
    if opts.send:
        _tell_job_id(tx.hash_hex, opts.node, waited=opts.wait)


command_with_tx_options(app, "submit", submit, adapt={"fee": OptionAs("tx_fee", TxFeeOpt)})


def _tell_job_id(tx_hash: str, node: str | None, *, waited: bool) -> None:
    """The chain numbers the job when it commits the submission: say the id after --wait, and
    otherwise how to learn it (the receipt printed on stdout is the submission's, still pending)."""
    if not waited:
        note(
            f"the job gets its id when {tx_hash} commits (a block or two): "
            f"`nnet tx show {tx_hash}` then shows it (job.submitted), or submit with --wait"
        )
        return
    with node_client(node) as client:
        receipt = client.receipt(tx_hash)
    ids = [e.get("job") for e in receipt.get("events", []) if e.get("type") == "job.submitted"]
    if ids:
        note(f"job {ids[0]} submitted; next: nnet job show {ids[0]}")


def _tell_challenge(files: JobFiles, node: str | None) -> None:
    """Say how many of the job's segments a proof will be challenged on, and what that catches
    (the chain sizes Q from N with its detection parameters; the defaults when offline)."""
    from nnet.econ.soundness import compute_detection, compute_faked_segments, compute_required_q

    params = {"market_detection_ppm": 990_000, "market_faked_ppm": 100_000, "market_challenge_q": 4}
    try:
        with node_client(node, timeout=5.0) as client:
            live = client.params()
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


def _warn_if_too_few_verifiers(node: str | None, key: str | None, wanted: int) -> None:
    """Verifiers are drawn among registered nodes other than the submitter and the prover."""
    from nnet.commands._common import address_of

    me = address_of(None, key)
    with node_client(node) as client:
        others = [n for n in client.nodes() if n["address"] != me]
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
        from nnet.services.market import check_claimable

        with node_client(opts.node, timeout=120.0) as client:
            check_claimable(client, job)
    issue("job.claim", {"job": job}, opts)


def cancel(job: IdArg) -> dict[str, Any]:
    """Cancel your job before it is claimed (or after its proof deadline passed); refunds the fee.

    Example: nnet job cancel 4 --send
    """
    return {"job": job}


command_with_tx_options(app, "claim", claim)
tx_command(app, "cancel", "job.cancel", cancel)


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

    check_status(status, JOB_STATUSES, "job")
    with node_client(node) as client:
        jobs = listing(lambda size: client.jobs(status, page_size=size), limit)
        emit_rows(jobs, JOB_COLUMNS, as_json)


JOB_COLUMNS: list[Column] = [
    ("ID", "id"),
    ("STATUS", "status"),
    ("FEE", lambda j: format_amount(int(j["fee"]))),
    ("VERIFIERS", "verifiers"),
    ("ASSIGNEE", lambda j: j["assignee"] or "-"),
    ("BLOCKS LEFT", "blocks_left"),
]


@app.command("show")
def show(job: IdArg, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show a job: spec, escrow, assignee, challenge, verifiers, attestations, settlement.

    Example: nnet job show 4
    """
    with node_client(node) as client:
        record = client.job(job)
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
    from nnet.services.market import fetch_job

    check_output_path(output, "--output", folder=True)
    with node_client(node, timeout=600.0) as client:
        record = client.job(job)
        if not record.get("assignee"):
            raise UsageError(
                f"job {job} is not claimed yet: a run is bound to its job and its prover",
                hint=f"claim it first: nnet job claim {job} --send --wait",
            )
        # the run is bound to the key that will sign its proof: the node's operator (hot key)
        prover = str(client.node(record["assignee"]).get("operator") or record["assignee"])
        with writing_output(output, "--output"):
            spec = fetch_job(client, record, output, bind_to=prover)
    note(f"job {job}: spec and data in {output}, bound to prover {prover}")
    emit_text(str(spec))


@app.command("result")
def result(
    job: IdArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for model.safetensors, metrics.json, trace.jsonl."
        ),
    ],
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download an accepted job's results into a folder: the final model (model.safetensors),
    metrics.json, trace.jsonl and the accepted proof (proof.json). Every file is checked against
    the proof (the CIDs it names, the model's weights against its final hash) before it takes
    its name; an interrupted download resumes from its .part file. A job not accepted is refused.

    Example: nnet job result 4 -o result4
    """
    from nnet.commands._progress import DownloadBars
    from nnet.services.result import fetch_result

    check_output_path(output, "--output", folder=True)
    with (
        node_client(node, timeout=600.0) as client,
        writing_output(output, "--output"),
        DownloadBars() as bars,
    ):
        got = fetch_result(client, job, output, on_bytes=bars, say=note)
    note(f"job {job}: results in {output}, each checked against its proof")
    emit(
        got.to_dict(),
        as_json=want_json(as_json),
        human=lambda r: pairs({**r["files"], "final": r["final"], "proof hash": r["proof_hash"]}),
    )
