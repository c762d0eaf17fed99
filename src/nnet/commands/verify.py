"""`nnet verify PROOF --run DIR`: challenge, open, replay, judge; prints a signed attestation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import emit_line, ndjson_records, note, unlock
from nnet.commands._txflow import TxOptions, command_with_tx_options, issue
from nnet.errors import MalformedInput, UsageError, VerificationFailed


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
        typer.Option("--spec", help="The job of record (default: the run's job.toml)."),
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

    On chain, give a job id instead of a proof: the proof, the challenge fixed by the chain and
    the prover's openings come from the node, and `--send` submits the attestation (proof.attest).

    Example: nnet prove run | nnet verify - --run run
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
    _, secret = unlock(opts.key, opts.password_file)  # fail on a wrong password before a replay

    from nnet.proof.rundir import RunDir
    from nnet.proof.spec import load_spec
    from nnet.proof.verifier import VerifyOptions

    options = VerifyOptions(
        q=q,
        detection=detect,
        faked_fraction=faked,
        seed=_parse_seed(seed),
        spec=load_spec(spec) if spec else None,
        job=job,
        compare=compare,
        progress=note,
    )
    attestation, verdict = judge(doc, RunDir(run), options, secret)
    emit_line(attestation)
    conclude(verdict)


def judge(
    doc: dict[str, Any], run: Any, options: Any, secret: bytes, extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """Run the verifier and sign its attestation; (attestation, verdict)."""
    from nnet.proof.commitment import make_attestation
    from nnet.proof.verifier import verify_proof

    verdict = verify_proof(doc, run, options)
    total = int(doc["checkpoints"]) and int(verdict.challenge.get("of", 0))
    report = {
        "comparison": verdict.comparison,
        "env": verdict.env,
        "replayed_steps": verdict.replayed_steps,
        "segments_of": total,
        "metrics": verdict.metrics,
        **(extra or {}),
    }
    attestation = make_attestation(
        doc, reasons=verdict.reasons, challenge=verdict.challenge, report=report, secret=secret
    )
    return attestation, verdict


def conclude(verdict: Any) -> None:
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
    """Fetch job, proof, challenge and openings from the node; judge; attest (print or send)."""
    import tempfile
    import time
    from pathlib import Path

    from nnet.client import NodeClient
    from nnet.config import resolve
    from nnet.market_io import lay_out_openings
    from nnet.proof.spec import load_spec
    from nnet.proof.verifier import VerifyOptions

    me, secret = unlock(opts.key, opts.password_file)
    with NodeClient(resolve("node", opts.node) or "", timeout=600.0) as client:
        job = client.get(f"/jobs/{job_id}")
        deadline = time.monotonic() + 120
        while not job.get("openings") and job.get("status") in ("claimed", "proved"):
            if time.monotonic() > deadline:
                raise UsageError(f"job {job_id} has no openings yet; try again later")
            time.sleep(0.25)
            job = client.get(f"/jobs/{job_id}")
        if not job.get("proof") or not job.get("challenge"):
            raise UsageError(f"job {job_id} is {job.get('status')}: no proof to verify")
        if opts.send:  # refuse before hours of replay what the chain would refuse after
            if me not in (job.get("drawn") or []):
                raise UsageError(
                    f"{me} was not drawn to verify job {job_id}; the chain would refuse its "
                    "attestation",
                    hint=f"drawn: {', '.join(job.get('drawn') or []) or 'nobody'}",
                )
            if job.get("status") != "opened":
                raise UsageError(f"job {job_id} is {job.get('status')}: not open for attestations")
        elif job.get("drawn") and me not in job["drawn"]:
            note(f"note: {me} was not drawn to verify job {job_id}; verifying for yourself only")
        challenge = job["challenge"]
        with tempfile.TemporaryDirectory(prefix=f"nnet-verify-{job_id}-") as tmp:
            run = lay_out_openings(client, job, Path(tmp))
            spec = load_spec(Path(tmp) / "job.toml")
            options = VerifyOptions(
                q=int(challenge["q"]),
                seed=bytes.fromhex(str(challenge["seed"])[2:]),
                spec=spec,
                job=str(job_id),
                compare=compare,
                progress=note,
            )
            work = spec.steps * int(spec.job["batch_size"])
            attestation, verdict = judge(job["proof"], run, options, secret, {"work": work})
    if opts.send:
        issue("proof.attest", {"job": job_id, "attestation": attestation}, opts)
    else:
        emit_line(attestation)
    conclude(verdict)
