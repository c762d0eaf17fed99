"""`nnet verify PROOF --run DIR`: challenge, open, replay, judge; prints a signed attestation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import (
    InputArg,
    KeyOpt,
    PasswordFileOpt,
    emit_line,
    ndjson_records,
    note,
    unlock,
)
from nnet.errors import MalformedInput, UsageError, VerificationFailed


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


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
    proof: InputArg = "-",
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
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Verify a proof-of-learning: signature, spec, dataset, init from the seed, then replay
    randomly challenged segments (chosen after reading the proof) and compare. Prints a signed
    attestation; exit 0 accept, 1 reject (every reason on stderr and in the attestation).

    Example: nnet prove run | nnet verify - --run run
    """
    if run is None:
        raise UsageError("--run DIR is needed (the prover's run directory with its checkpoints)")
    if compare not in ("auto", "exact", "tolerance"):
        raise UsageError(f"--compare must be auto, exact or tolerance, not {compare!r}")
    doc = _read_proof(proof)
    _, secret = unlock(key, password_file)  # fail on a wrong password before a long replay

    from nnet.proof.commitment import make_attestation
    from nnet.proof.rundir import RunDir
    from nnet.proof.spec import load_spec
    from nnet.proof.verifier import VerifyOptions, verify_proof

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
    verdict = verify_proof(doc, RunDir(run), options)
    total = int(doc["checkpoints"]) and int(verdict.challenge.get("of", 0))
    report = {
        "comparison": verdict.comparison,
        "env": verdict.env,
        "replayed_steps": verdict.replayed_steps,
        "segments_of": total,
        "metrics": verdict.metrics,
    }
    attestation = make_attestation(
        doc, reasons=verdict.reasons, challenge=verdict.challenge, report=report, secret=secret
    )
    emit_line(attestation)
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
