"""`nnet prove RUN`: the signed proof-of-learning commitment over a finished run (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nnet.commands._common import emit_line, node_client, note, unlock
from nnet.commands._hints import flag_hints
from nnet.commands._txflow import TxOptions, command_with_tx_options, issue
from nnet.errors import Rejected, UsageError

if TYPE_CHECKING:
    from nnet.proof.rundir import RunDir


def register(app: typer.Typer) -> None:
    command_with_tx_options(app, "prove", prove)


def prove(
    run: Annotated[Path, typer.Argument(help="Run directory written by `nnet train`.")],
    job: Annotated[
        str | None, typer.Option("--job", help="Job id on chain the proof is for.")
    ] = None,
    open_: Annotated[
        bool,
        typer.Option(
            "--open",
            help="Answer the job's on-chain challenge: upload the challenged "
            "checkpoints and build proof.open (needs --job).",
        ),
    ] = False,
    *,
    opts: TxOptions,
) -> None:
    """Sign the commitment over a training run: spec, dataset, init, Merkle root of checkpoint
    hashes, final model, metrics, environment class. Prints one JSON line of a few hundred bytes.

    On chain: `--job ID --send` uploads the final model to the node (its CID goes into the
    proof as `model`, for `nnet job result`) and submits the proof as proof.submit; once the
    next block fixes the challenge, `--job ID --open --send` publishes the challenged
    checkpoints (proof.open).

    Example: nnet prove run | nnet verify - --run run
    """
    from nnet.proof.commitment import make_proof
    from nnet.proof.rundir import RunDir

    rundir = RunDir(run)
    entries = rundir.read_trace()
    with flag_hints(run_unfinished=f"continue it with `nnet train SPEC -o {run} --resume`"):
        commitment = rundir.get_commitment(entries)  # a usage error (unfinished run) first
    _refuse_doomed_run(rundir, commitment, entries)
    if open_:
        _open(rundir, job, opts)
        return
    me, secret = unlock(opts.key, opts.password_file)
    job = _check_binding(rundir, job, me)
    if not opts.send:
        proof = make_proof(rundir, secret, job)
        note(f"proof over {proof['checkpoints']} checkpoints, signed by {proof['prover']}")
        emit_line(proof)
        return
    if job is None or not (job.isascii() and job.isdigit()):
        raise UsageError("--send submits the proof for an on-chain job: pass --job ID")
    proof = make_proof(rundir, secret, job, model=_upload_model(rundir, secret, opts))
    note(f"proof over {proof['checkpoints']} checkpoints, signed by {proof['prover']}")
    issue("proof.submit", {"job": int(job), "proof": proof}, opts)


def _upload_model(rundir: RunDir, secret: bytes, opts: TxOptions) -> str | None:
    """Upload the final weights for the researcher (`nnet job result`); their CID goes into the
    proof as `model`. A node that will not keep them (too large, full, unfunded) only costs the
    researcher the download: the proof goes without `model` rather than miss its deadline."""
    from nnet.errors import NotFound, PermitRefused, PermitRequired, StorageFull, TooLarge
    from nnet.services.market import upload_model

    try:
        with node_client(opts.node, timeout=600.0) as client:
            cid = upload_model(client, rundir, secret)
    except (NotFound, PermitRefused, PermitRequired, StorageFull, TooLarge) as e:
        note(
            f"warning: the final model was not uploaded ({e.one_line()}); the proof goes "
            "without it, so the researcher cannot download it with `nnet job result`"
        )
        return None
    note(f"uploaded the final model {rundir.model_path.name} as {cid}")
    return cid


def _refuse_doomed_run(rundir: RunDir, commitment: dict[str, Any], entries: list[Any]) -> None:
    """Check the run's own trace as every verifier will (non-finite losses, segments that leave
    the weights unchanged): a job whose training diverged or froze is refused here, before its
    proof costs the prover its collateral. A segment with loss exactly 0 is only a warning: its
    gradients may all be zero, which a verifier that replays it rejects as absorbing."""
    from nnet.proof.trace import check_trace

    spec = rundir.read_spec()
    root = bytes.fromhex(commitment["root"][2:])
    reasons = check_trace(
        entries, spec.checkpoint_step, root, commitment["init"], commitment["final"]
    )
    if reasons:
        raise Rejected(
            f"every verifier would reject this run: {reasons[0]}",
            hint="the job's training diverged or stalled; do not submit it (a rejection is "
            "slashed). Lower the learning rate if the job is yours",
        )
    zero = [e.i for e in entries[1:] if e.loss is not None and float(e.loss) == 0.0]
    if zero:
        note(
            f"warning: {len(zero)} segments (first: {zero[0]}) have a mean loss of exactly 0; "
            "if their gradients are all zero a verifier rejects them as absorbing"
        )


def _check_binding(rundir: RunDir, job: str | None, me: str) -> str | None:
    """A run for a job is trained bound to (job, prover): refuse to sign one for another job or
    by another key, which every verifier would reject at the init check."""
    binding = rundir.read_manifest().get("binding")
    if job is None and binding is None:
        return None
    if binding is None:
        raise UsageError(
            f"this run was trained without a job, so it cannot prove job {job}",
            hint=f"train from the spec `nnet job fetch {job} -o DIR` writes (it binds the run)",
        )
    if job is None:
        job = str(binding["job"])
    if str(binding["job"]) != job or str(binding["prover"]).lower() != me.lower():
        raise UsageError(
            f"this run was trained for job {binding['job']} by {binding['prover']}, not for job "
            f"{job} by {me}: its init and data order derive from those, so verifiers would "
            "reject it"
        )
    return job


def _open(rundir: RunDir, job: str | None, opts: TxOptions) -> None:
    """Publish the openings the chain's challenge asks for, as a proof.open transaction."""
    from nnet.services.market import publish_openings, wait_for_challenge

    if job is None or not (job.isascii() and job.isdigit()):
        raise UsageError("--open answers an on-chain challenge: pass --job ID")
    secret = unlock(opts.key, opts.password_file)[1]  # signs the upload permits
    with node_client(opts.node, timeout=600.0) as client:
        view = wait_for_challenge(client, int(job))
        challenge = view["challenge"]
        note(
            f"challenge of job {job}: segments {challenge['segments']} of {challenge['of']}; "
            f"opening checkpoints {challenge['openings']}"
        )
        openings = publish_openings(client, rundir, challenge, secret)
    issue("proof.open", {"job": int(job), "openings": openings}, opts)
