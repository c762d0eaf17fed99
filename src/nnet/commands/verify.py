"""`nnet verify PROOF --run DIR`: challenge, open, replay, judge; prints a signed attestation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nnet.commands._common import emit_line, ndjson_records, node_client, note, unlock
from nnet.commands._txflow import TxOptions, command_with_tx_options, issue
from nnet.errors import MalformedInput, UsageError, VerificationFailed

if TYPE_CHECKING:
    from nnet.proof.verifier import Verdict


def register(app: typer.Typer) -> None:
    command_with_tx_options(app, "verify", verify)


def _read_proof(path: str) -> dict[str, Any]:
    records = list(ndjson_records(path))
    if len(records) != 1 or not isinstance(records[0], dict):
        raise MalformedInput(f"expected one proof (a JSON object) in {path}, got {len(records)}")
    return records[0]


def _parse_seed(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UsageError(f"--seed {text!r} is not hex") from None


def verify(
    proof: Annotated[
        str, typer.Argument(help="Proof file, - for stdin, or a job id (with a node, on chain).")
    ] = "-",
    run: Annotated[
        Path | None, typer.Option("--run", help="The prover's run directory (openings).")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="The job of record (never the prover's own job.toml)."),
    ] = None,
    spec_hash: Annotated[
        str | None,
        typer.Option(
            "--spec-hash",
            help="Instead of --spec: the job's spec hash; the run's job.toml is used only if it "
            "hashes to exactly this.",
        ),
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Job id the proof must name.")] = None,
    q: Annotated[
        int | None,
        typer.Option(
            "--segments", "-Q", min=1, help="Segments to replay (default: from --detect)."
        ),
    ] = None,
    detect: Annotated[
        float,
        typer.Option("--detect", min=0.5, max=0.999999, help="Target chance of catching a fake."),
    ] = 0.99,
    faked: Annotated[
        float,
        typer.Option(
            "--if-faked", min=0.001, max=1.0, help="...when this fraction of segments is faked."
        ),
    ] = 0.10,
    seed: Annotated[
        str | None,
        typer.Option("--seed", help="Challenge randomness as hex (default: fresh random)."),
    ] = None,
    compare: Annotated[
        str,
        typer.Option(
            "--compare",
            help="auto (exact within the prover's class, calibrated tolerance across classes "
            "for tolerance-mode jobs), exact, or tolerance.",
        ),
    ] = "auto",
    *,
    opts: TxOptions,
) -> None:
    """Verify a proof-of-learning: signature, spec, dataset, init from the seed, then replay
    randomly challenged segments (chosen after reading the proof) and compare. Prints a signed
    attestation; exit 0 accept, 1 reject (every reason on stderr and in the attestation).

    On chain, give a job id instead of a proof. A drawn verifier runs it twice: first, while the
    job awaits its verifiers, `--send` adds this key's share of the challenge randomness
    (proof.seed); then, once the prover has opened the challenged checkpoints, it replays them and
    `--send` submits the signed attestation (proof.attest).

    Offline, the job of record is --spec FILE (or --spec-hash, checked against the run's
    job.toml): a proof is never judged against a spec its prover wrote.

    Example: nnet prove run | nnet verify - --run run --spec examples/mnist.toml
    """
    if compare not in ("auto", "exact", "tolerance"):
        raise UsageError(f"--compare must be auto, exact or tolerance, not {compare!r}")
    if run is None:
        if not (proof.isascii() and proof.isdigit()):
            raise UsageError(
                "--run DIR is needed (the prover's run directory with its checkpoints)",
                hint="or give a job id to verify an on-chain proof through the node",
            )
        _verify_on_chain(int(proof), compare, opts)
        return
    if opts.send:
        raise UsageError("--send is for on-chain jobs: give a job id instead of a proof file")
    doc = _read_proof(proof)
    from nnet.proof.rundir import RunDir
    from nnet.proof.verifier import VerifyOptions
    from nnet.services.verify import job_of_record, judge

    record = job_of_record(spec, spec_hash, RunDir(run))
    _, secret = unlock(opts.key, opts.password_file)  # fail on a wrong password before a replay
    options = VerifyOptions(
        q=q,
        detection=detect,
        faked_fraction=faked,
        seed=_parse_seed(seed),
        spec=record,
        job=job,
        compare=compare,
        progress=note,
    )
    attestation, verdict = judge(doc, RunDir(run), options, secret)
    emit_line(attestation)
    conclude(verdict)


def conclude(verdict: Verdict) -> None:
    """Tell the verdict on stderr; a rejection is exit 1 naming how many reasons."""
    total = int(verdict.challenge.get("of", 0))
    acc = verdict.metrics.get("heldout_accuracy")
    if verdict.accept:
        note(
            f"accept: {len(verdict.challenge.get('segments', []))} of {total} segments replayed "
            f"({verdict.replayed_steps} steps)" + (f", held-out accuracy {acc}" if acc else "")
        )
        return
    for reason in verdict.reasons:
        note(f"reject: {reason}")
    raise VerificationFailed(f"proof rejected ({len(verdict.reasons)} reasons)")


def _verify_on_chain(job_id: int, compare: str, opts: TxOptions) -> None:
    """This verifier's step on an on-chain job: its randomness (proof.seed), or the replay and
    the attestation (printed, or sent as proof.attest)."""
    from nnet.services.verify import Contribution, verify_on_chain

    me, secret = unlock(opts.key, opts.password_file)
    with node_client(opts.node, timeout=600.0) as client:
        step = verify_on_chain(
            client, job_id, me, secret, compare=compare, send=opts.send, progress=note
        )
    if isinstance(step, Contribution):
        issue("proof.seed", step.body, opts)
        note(
            f"job {job_id}: your share of the challenge randomness is sent; once the prover "
            f"opens, run `nnet verify {job_id} --send` again to replay and attest"
        )
        return
    if opts.send:
        issue("proof.attest", {"job": job_id, "attestation": step.attestation}, opts)
    else:
        emit_line(step.attestation)
    conclude(step.verdict)
