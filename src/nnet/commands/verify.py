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

    record = _job_of_record(spec, spec_hash, RunDir(run))
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


def _job_of_record(spec: Path | None, spec_hash: str | None, run: Any) -> Any:
    """The spec a proof is judged against: --spec, or the run's job.toml if it hashes to
    --spec-hash; refused without either (the prover's own spec would pass lr x 1.01)."""
    from nnet.proof.spec import load_spec

    if spec is not None and spec_hash is not None:
        raise UsageError("give --spec or --spec-hash, not both")
    if spec is not None:
        return load_spec(spec)
    if spec_hash is None:
        raise UsageError(
            "verify needs the job of record: the proof is not judged against its prover's spec",
            hint="pass --spec FILE (the job as you posted it) or --spec-hash 0x...",
        )
    own = run.read_spec()
    if own.spec_hash().lower() != spec_hash.lower():
        raise VerificationFailed(
            f"spec: the run's job.toml hashes to {own.spec_hash()}, not {spec_hash}"
        )
    return own.unbound()


def judge(
    doc: dict[str, Any],
    run: Any,
    options: Any,
    secret: bytes,
    extra: dict[str, Any] | None = None,
    refuse: list[str] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Run the verifier and sign its attestation; (attestation, verdict). Openings the prover
    did not make available (`run.unavailable`) give an "unavailable" verdict without a replay;
    `refuse` (a job that cannot be verified as posted) a reject without one."""
    from nnet.proof.commitment import make_attestation
    from nnet.proof.verifier import Verdict, verify_proof

    missing = list(getattr(run, "unavailable", []))
    if missing or refuse:
        verdict = Verdict(reasons=missing or list(refuse or []))
    else:
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
    if missing or refuse:
        verdict.challenge = {"seed": "0x" + options.seed.hex(), "q": options.q}
    attestation = make_attestation(
        doc,
        reasons=verdict.reasons,
        challenge=verdict.challenge,
        report=report,
        secret=secret,
        unavailable=bool(missing),
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
    from nnet.market_io import check_job_record, fetch_job, lay_out_openings
    from nnet.proof.spec import load_spec
    from nnet.proof.verifier import VerifyOptions

    me, secret = unlock(opts.key, opts.password_file)
    with NodeClient(resolve("node", opts.node) or "", timeout=600.0) as client:
        job = client.get(f"/jobs/{job_id}")
        draw_by = time.monotonic() + 120
        while job.get("status") == "proved" and time.monotonic() < draw_by:
            # the block after the proof's draws the verifiers: run right after `nnet prove
            # --send --wait`, this waits for that block instead of missing the draw
            time.sleep(0.25)
            job = client.get(f"/jobs/{job_id}")
        if _contribute(job, me, secret, opts):
            return
        deadline = time.monotonic() + 120
        waiting = ("claimed", "proved", "drawn", "challenged")
        while not job.get("openings") and job.get("status") in waiting:
            if time.monotonic() > deadline:
                raise UsageError(
                    f"job {job_id} is {job.get('status')}: no openings yet; try again later",
                    hint="the prover opens once every drawn verifier has added its randomness",
                )
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
            spec = load_spec(fetch_job(client, job, Path(tmp)))
            run = lay_out_openings(client, job, Path(tmp))
            # a job whose record disagrees with its spec cannot have been trained as posted
            problems = check_job_record(job, spec)
            options = VerifyOptions(
                q=int(challenge["q"]),
                seed=bytes.fromhex(str(challenge["seed"])[2:]),
                spec=spec,
                job=str(job_id),
                compare=compare,
                progress=note,
            )
            attestation, verdict = judge(job["proof"], run, options, secret, refuse=problems)
    if opts.send:
        issue("proof.attest", {"job": job_id, "attestation": attestation}, opts)
    else:
        emit_line(attestation)
    conclude(verdict)


def _contribute(job: dict[str, Any], me: str, secret: bytes, opts: TxOptions) -> bool:
    """While the job awaits its drawn verifiers' randomness, give ours (proof.seed): True when
    that was the step to take now (the attestation comes after the prover's openings)."""
    if job.get("status") != "drawn":
        return False
    drawn, given = job.get("drawn") or [], job.get("contributions") or {}
    if me not in drawn:
        raise UsageError(
            f"job {job['id']} awaits its drawn verifiers' randomness; {me} was not drawn",
            hint=f"drawn: {', '.join(drawn)}",
        )
    if me in given:
        raise UsageError(
            f"job {job['id']}: your randomness is in; waiting for "
            f"{len(drawn) - len(given)} other verifiers, then for the prover's openings",
            hint=f"run `nnet verify {job['id']} --send` again once the job is opened",
        )
    if not opts.send:
        raise UsageError(
            f"job {job['id']} awaits your share of the challenge randomness",
            hint=f"nnet verify {job['id']} --send (then again after the prover opens)",
        )
    from nnet.chain.market import compute_proof_hash, make_contribution

    body = make_contribution(secret, int(job["id"]), compute_proof_hash(job["proof"]))
    issue("proof.seed", {"job": int(job["id"]), **body}, opts)
    note(
        f"job {job['id']}: your share of the challenge randomness is sent; once the prover "
        f"opens, run `nnet verify {job['id']} --send` again to replay and attest"
    )
    return True
