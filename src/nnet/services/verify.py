"""Verification as a workflow: judge a proof and sign the attestation, offline or on chain.

- `job_of_record`: the spec a proof is judged against (never the prover's own).
- `judge`: run the replay verifier over a run directory and sign its attestation.
- `verify_on_chain`: a drawn verifier's turn on an on-chain job, fetched through the node: first
  its share of the challenge randomness (a `proof.seed` body to send), then, once the prover has
  opened the challenged checkpoints, the replay and the signed attestation.

Sending transactions is the command's part; this module says what to send. Messages for people
go to a `progress` callable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnet.client import NodeClient
from nnet.errors import NotFound, UsageError, VerificationFailed
from nnet.poll import poll_until

if TYPE_CHECKING:
    from nnet.proof.rundir import RunDir
    from nnet.proof.spec import JobSpec
    from nnet.proof.verifier import Verdict, VerifyOptions

__all__ = ["Attested", "Contribution", "job_of_record", "judge", "verify_on_chain"]

WAIT_S = 120.0  # for the verifiers to be drawn, then for the prover's openings


def job_of_record(spec: Path | None, spec_hash: str | None, run: RunDir) -> JobSpec:
    """The spec a proof is judged against: `spec`, or the run's job.toml if it hashes to
    `spec_hash`; refused without either (the prover's own spec would pass lr x 1.01)."""
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
    run: RunDir,
    options: VerifyOptions,
    secret: bytes,
    refuse: list[str] | None = None,
) -> tuple[dict[str, Any], Verdict]:
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
    }
    if missing or refuse:
        seed = options.seed or b""
        verdict.challenge = {"seed": "0x" + seed.hex(), "q": options.q}
    attestation = make_attestation(
        doc,
        reasons=verdict.reasons,
        challenge=verdict.challenge,
        report=report,
        secret=secret,
        unavailable=bool(missing),
    )
    return attestation, verdict


@dataclass(frozen=True)
class Contribution:
    """This verifier's share of a job's challenge randomness: the `proof.seed` body to send."""

    job: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Attested:
    """The replay's outcome: the signed attestation (for `proof.attest`) and the verdict."""

    job: int
    attestation: dict[str, Any]
    verdict: Verdict


def verify_on_chain(
    client: NodeClient,
    job_id: int,
    me: str,
    secret: bytes,
    *,
    compare: str,
    send: bool,
    progress: Callable[[str], None],
) -> Contribution | Attested:
    """The step a drawn verifier takes now on job `job_id`: its randomness while the job awaits
    the drawn verifiers' shares, else (once the prover has opened) the replay and attestation.

    `send` says the result will be submitted: then what the chain would refuse (a verifier not
    drawn, a job not open for attestations) is refused here, before hours of replay.
    """
    from nnet.proof.spec import load_spec
    from nnet.proof.verifier import VerifyOptions
    from nnet.services.market import check_job_record, fetch_job, lay_out_openings

    me = _acting_node(client, me)
    job = _drawn(client, job_id)
    if job.get("status") == "drawn":
        return _contribution(job, me, secret, send=send)
    job = _opened(client, job)
    if not job.get("proof") or not job.get("challenge"):
        raise UsageError(f"job {job_id} is {job.get('status')}: no proof to verify")
    drawn = job.get("drawn") or []
    if send:
        if me not in drawn:
            raise UsageError(
                f"{me} was not drawn to verify job {job_id}; the chain would refuse its "
                "attestation",
                hint=f"drawn: {', '.join(drawn) or 'nobody'}",
            )
        if job.get("status") != "opened":
            raise UsageError(f"job {job_id} is {job.get('status')}: not open for attestations")
    elif drawn and me not in drawn:
        progress(f"note: {me} was not drawn to verify job {job_id}; verifying for yourself only")
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
            progress=progress,
        )
        attestation, verdict = judge(job["proof"], run, options, secret, refuse=problems)
    return Attested(job_id, attestation, verdict)


def _acting_node(client: NodeClient, me: str) -> str:
    """The node `me` acts for (the draw names nodes): its own, or the one it operates as a hot
    key (`/nodes/{addr}` resolves an operator); `me` itself when it is neither."""
    try:
        return str(client.node(me)["address"])
    except NotFound:
        return me


def _drawn(client: NodeClient, job_id: int) -> dict[str, Any]:
    """The job, once the block after its proof has drawn the verifiers: run right after `nnet
    prove --send --wait`, a verifier waits for that block instead of missing the draw."""
    first = client.job(job_id)
    if first.get("status") != "proved":
        return first

    def drawn() -> dict[str, Any] | None:
        job = client.job(job_id)
        return job if job.get("status") != "proved" else None

    return poll_until(drawn, what=f"job {job_id}'s verifiers to be drawn", timeout_s=WAIT_S)


def _opened(client: NodeClient, job: dict[str, Any]) -> dict[str, Any]:
    """The job once the prover has opened the challenged checkpoints (or it moved past them)."""
    waiting = ("claimed", "proved", "drawn", "challenged")
    if job.get("openings") or job.get("status") not in waiting:
        return job
    job_id = int(job["id"])

    def opened() -> dict[str, Any] | None:
        view = client.job(job_id)
        return view if view.get("openings") or view.get("status") not in waiting else None

    return poll_until(
        opened,
        what=f"job {job_id}'s openings",
        timeout_s=WAIT_S,
        hint="the prover opens once every drawn verifier has added its randomness",
    )


def _contribution(job: dict[str, Any], me: str, secret: bytes, *, send: bool) -> Contribution:
    """Our share of the randomness of a job that awaits its drawn verifiers' (proof.seed)."""
    from nnet.chain.market import compute_proof_hash, make_contribution

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
    if not send:
        raise UsageError(
            f"job {job['id']} awaits your share of the challenge randomness",
            hint=f"nnet verify {job['id']} --send (then again after the prover opens)",
        )
    body = make_contribution(secret, int(job["id"]), compute_proof_hash(job["proof"]))
    return Contribution(int(job["id"]), {"job": int(job["id"]), **body})
