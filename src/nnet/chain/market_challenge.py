"""The challenge of a marketplace proof: randomness that no single party controls.

A proof is included in block h. At the start of block h+1 the verifiers are drawn with
draw_seed = keccak256(beacon of h+1 ‖ proof hash); the beacon is the proposer's unique VRF output
(chain/block.py), so the sequencer cannot grind it, but it can compute its own future beacons.
The segments to replay are therefore fixed only once every drawn verifier has contributed its own
unique randomness (`proof.seed`): a VRF output of its key over (job, proof hash), which nobody else
can compute and which the verifier itself cannot vary:

    seed = keccak256(draw_seed ‖ contribution_1 ‖ … ‖ contribution_k)   (in drawn order)

A prover (or a sequencer colluding with it) then knows the challenge only after the proof is
fixed and after honest verifiers spoke. Every contribution is required: if one is missing at the
contribution deadline the job is refunded (nobody is paid, the absent verifiers lose reputation),
so a sequencer that censors contributions can delay a job but never choose among seeds.
"""

from __future__ import annotations

from dataclasses import replace

from coincurve import PrivateKey, PublicKey

from nnet.chain.market_node import need_drawn_operator
from nnet.chain.market_settle import put_job, schedule_job
from nnet.chain.params import get_param
from nnet.chain.types import BlockContext, Challenge, Epoch, Event, Job, StateLike
from nnet.crypto import address_of_public_key, keccak256
from nnet.encoding import hex_to_bytes
from nnet.errors import InvalidTx, MalformedInput, VerificationFailed
from nnet.proof.challenge import compute_challenge
from nnet.tx import Tx
from nnet.vrf import PROOF_LEN, prove, verify

__all__ = [
    "compute_challenge_seed",
    "compute_contribution_alpha",
    "fix_challenge",
    "make_contribution",
    "record_contribution",
]


def compute_contribution_alpha(job_id: int, proof_hash: str) -> bytes:
    """The VRF input of a verifier's contribution: "nnet-challenge" ‖ job id ‖ proof hash."""
    return (
        b"nnet-challenge" + job_id.to_bytes(8, "big") + hex_to_bytes(proof_hash, "proof hash", 32)
    )


def make_contribution(secret: bytes, job_id: int, proof_hash: str) -> dict[str, str]:
    """The body fields of a proof.seed transaction: the verifier's public key and VRF proof."""
    key = PrivateKey(secret).public_key.format(compressed=True)
    pi = prove(secret, compute_contribution_alpha(job_id, proof_hash))
    return {"key": "0x" + key.hex(), "vrf": "0x" + pi.hex()}


def compute_challenge_seed(draw_seed: bytes, contributions: list[bytes]) -> bytes:
    return keccak256(draw_seed + b"".join(contributions))


def _check_contribution(tx: Tx, job: Job, proof_hash: str) -> bytes:
    """The contribution's VRF output, if it is the sender's and verifies."""
    try:
        key = hex_to_bytes(tx.body["key"], "proof.seed key", 33)
        pi = hex_to_bytes(tx.body["vrf"], "proof.seed vrf", PROOF_LEN)
        owner = address_of_public_key(PublicKey(key).format(compressed=False))
    except (MalformedInput, ValueError, TypeError) as e:
        raise InvalidTx(f"bad proof.seed: {e}", code="bad_seed") from None
    if owner != tx.sender:
        raise InvalidTx(f"proof.seed key is {owner}'s, not the sender's", code="bad_seed")
    try:
        return verify(key, pi, compute_contribution_alpha(job.id, proof_hash))
    except VerificationFailed as e:
        raise InvalidTx(f"bad proof.seed: {e.message}", code="bad_seed") from None


def record_contribution(
    state: StateLike, job: Job, tx: Tx, ctx: BlockContext, proof_hash: str
) -> list[Event]:
    """A drawn verifier's contribution (proof.seed); the last one fixes the challenge in the
    same block."""
    if job.status != "drawn":
        raise InvalidTx(
            f"job {job.id} is {job.status}, not awaiting challenge randomness",
            code="not_drawn_status",
        )
    sender = need_drawn_operator(state, job, tx.sender)  # the drawn node the sender acts for
    given = dict(job.contributions or {})
    if sender in given:
        raise InvalidTx(f"{sender} already contributed to job {job.id}", code="already_seeded")
    deadline = job.seed_deadline
    if deadline is None or ctx.epoch > deadline:
        raise InvalidTx(
            f"contribution too late: the deadline was epoch {deadline}", code="late_seed"
        )
    given[sender] = "0x" + _check_contribution(tx, job, proof_hash).hex()
    job = replace(job, contributions=given)
    events: list[Event] = [{"type": "proof.seeded", "job": job.id, "verifier": sender}]
    if len(given) == len(job.drawn):
        events += fix_challenge(state, job, ctx)
    else:
        put_job(state, job)
    return events


def fix_challenge(state: StateLike, job: Job, ctx: BlockContext) -> list[Event]:
    """Every drawn verifier spoke: fix the segments and openings, start the opening deadline."""
    given = job.contributions or {}
    if job.draw_seed is None or set(given) != set(job.drawn):
        raise InvalidTx(f"job {job.id} is not ready for its challenge", code="not_drawn_status")
    parts = [hex_to_bytes(given[v], "contribution", 32) for v in job.drawn]
    seed = compute_challenge_seed(hex_to_bytes(job.draw_seed, "draw seed", 32), parts)
    n, q = job.segments, job.q
    segments = sorted(set(compute_challenge(seed, n, q)) | {n - 1})
    challenge = Challenge(
        seed="0x" + seed.hex(),
        draw_seed=job.draw_seed,
        q=q,
        segments=tuple(segments),
        of=n,
        openings=tuple(sorted({0, *segments, *(s + 1 for s in segments)})),
    )
    open_deadline = Epoch(ctx.epoch + get_param(state, "market_open_epochs"))
    job = replace(job, challenge=challenge, status="challenged", open_deadline=open_deadline)
    put_job(state, job)
    schedule_job(state, open_deadline, job.id)
    return [
        {
            "type": "proof.challenged",
            "job": job.id,
            "segments": segments,
            "verifiers": list(job.drawn),
        }
    ]
