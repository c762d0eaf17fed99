"""Marketplace proofs: proof.submit, the challenge and verifier draw at the next block's start,
proof.open and proof.attest. The rules and the reasons for them are in chain/market.py's
docstring; payouts in market_settle.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nnet.chain.accounts import get_stake
from nnet.chain.keys import NODES_KEY, PENDING_KEY, proof_key, proof_root_key
from nnet.chain.market_challenge import record_contribution
from nnet.chain.market_node import need_assignee_operator, need_drawn_operator
from nnet.chain.market_settle import (
    get_job,
    get_node,
    is_final,
    put_job,
    schedule_job,
    settle_job,
    tally_attestations,
)
from nnet.chain.params import get_param
from nnet.chain.types import (
    Address,
    Attestation,
    BlockContext,
    Epoch,
    Event,
    Job,
    JsonObject,
    Opening,
    ProofRecord,
    StateLike,
)
from nnet.constants import PPM
from nnet.crypto import keccak256
from nnet.encoding import canonical_json, hex_to_bytes
from nnet.errors import InvalidTx, MalformedInput, VerificationFailed
from nnet.proof.document import verify_document
from nnet.proof.shape import check_proof_shape
from nnet.tx import Tx

__all__ = [
    "compute_proof_hash",
    "draw_verifiers",
    "get_proof",
    "need_job",
    "on_time",
    "process_market_begin_block",
    "process_proof_attest",
    "process_proof_open",
    "process_proof_seed",
    "process_proof_submit",
    "root_key",
    "select_verifier_pool",
]

# accept; reject (the openings are invalid); unavailable (they could not be fetched by the
# deadline: the prover withheld them). Both of the latter count against the prover.
VERDICTS = ("accept", "reject", "unavailable")
MAX_REASONS = 64
MAX_REASON_CHARS = 1_000

# `proof_root/<prover>/<root>`: one run, one payment (chain/keys.py)
root_key = proof_root_key


# ---- reads and shared checks -------------------------------------------------------------------
def compute_proof_hash(doc: dict[str, Any]) -> str:
    """0x + keccak256(JCS(proof with its sig)): how an attestation names the proof."""
    return "0x" + keccak256(canonical_json(doc)).hex()


def get_proof(state: StateLike, job_id: int) -> ProofRecord | None:
    """The job's proof document, its hash and the block it came in, or None."""
    raw = state.get(proof_key(job_id))
    return None if raw is None else ProofRecord.from_state(raw)


def need_job(state: StateLike, job_id: int) -> Job:
    job = get_job(state, job_id)
    if job is None:
        raise InvalidTx(f"no job {job_id}", code="unknown_job")
    if is_final(job):
        why = job.settlement.reason if job.settlement is not None else ""
        raise InvalidTx(
            f"job {job_id} is already settled ({job.status}: {why})", code="job_settled"
        )
    return job


def on_time(deadline: int | None, ctx: BlockContext, what: str, code: str) -> None:
    """Refuse a transaction after `deadline` (an epoch; None: the job has no such deadline)."""
    if deadline is None or ctx.epoch > deadline:
        raise InvalidTx(f"{what}: the deadline was epoch {deadline}, now {ctx.epoch}", code=code)


# ---- proofs ------------------------------------------------------------------------------------
def _check_proof_doc(doc: JsonObject, job: Job, sender: str) -> None:
    try:
        check_proof_shape(doc)  # every field verifiers rely on, so none can make them crash
        signer = verify_document(doc, "nnet.proof", "prover")
    except (MalformedInput, VerificationFailed) as e:
        raise InvalidTx(f"bad proof document: {e.message}", code="bad_proof") from None
    if signer != sender:
        raise InvalidTx(f"the proof is signed by {signer}, not by {sender}", code="bad_proof")
    mine: dict[str, str | int] = {
        "job": str(job.id),
        "spec": job.spec_hash,
        "dataset": job.dataset_cid,
        "checkpoints": job.checkpoints,
        "mode": job.mode,
    }
    for name, want in mine.items():
        if doc.get(name) != want:
            raise InvalidTx(
                f"proof for another job: its {name} is {doc.get(name)!r}, job {job.id} "
                f"has {want!r}",
                code="wrong_job",
            )


def process_proof_submit(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    need_assignee_operator(state, job, tx.sender, "proves it")
    if job.status != "claimed":
        raise InvalidTx(f"job {job.id} already has a proof", code="already_proved")
    on_time(job.proof_deadline, ctx, "proof too late", "late_proof")
    doc = tx.body["proof"]
    _check_proof_doc(doc, job, tx.sender)
    used = state.get(root_key(tx.sender, doc["root"]))
    if used is not None:  # one run, one payment: a root already proved for a job is spent
        raise InvalidTx(
            f"this run (Merkle root {doc['root'][:18]}…) was already proved for job {used}",
            code="duplicate_root",
        )
    state.put(root_key(tx.sender, doc["root"]), job.id)
    proof_hash = compute_proof_hash(doc)
    state.put(proof_key(job.id), ProofRecord(doc, proof_hash, ctx.height).to_state())
    put_job(state, replace(job, status="proved"))
    pending = list(state.get(PENDING_KEY) or [])
    state.put(PENDING_KEY, [*pending, job.id])
    return [{"type": "proof.submitted", "job": job.id, "proof": proof_hash}]


def _verifier_weights(state: StateLike, job: Job) -> list[tuple[Address, int, str]]:
    """(address, weight, env) of every node that may verify this job: all registered nodes but
    its prover and its submitter (and a node the submitter operates); weight = (bonded stake +
    collateral) x (1 + reputation)."""
    out = []
    for address in state.get(NODES_KEY) or []:
        if address in (job.assignee, job.submitter):
            continue
        node = get_node(state, address)
        if node is None or node.operator == job.submitter:
            continue
        weight = (get_stake(state, address).bonded + node.collateral) * (1 + node.reputation)
        if weight > 0:
            out.append((Address(address), weight, node.env))
    return out


def select_verifier_pool(
    state: StateLike, job: Job, proof: JsonObject
) -> tuple[list[tuple[Address, int]], str]:
    """The nodes a job's verifiers are drawn from, and why (a refusal reason when empty).

    Tolerance mode: every eligible node, whatever its class (each compares within its own
    calibrated bound). Exact mode needs the prover's class, but a class is something a prover
    can pick, so it counts only as a real pool: at least market_min_class_pool nodes holding at
    least market_min_class_pool_ppm of all eligible verifier weight. A class a Sybil made up for
    itself is neither; the job then gets no verifiers (refunded, nobody paid)."""
    everyone = _verifier_weights(state, job)
    if job.mode != "exact":
        return [(a, w) for a, w, _ in everyone], "every class (tolerance mode)"
    pool = [(a, w) for a, w, env in everyone if env == proof.get("env")]
    total = sum(w for _, w, _ in everyone)
    mine = sum(w for _, w in pool)
    least = get_param(state, "market_min_class_pool")
    share = get_param(state, "market_min_class_pool_ppm")
    if len(pool) >= least and mine * PPM >= share * total and pool:
        return pool, f"class {proof.get('env')}"
    pct = 0 if total == 0 else mine * 100 // total
    return [], (
        f"no verifier pool for class {proof.get('env')}: {len(pool)} nodes holding {pct} % of "
        f"verifier weight; exact mode needs at least {least} nodes and {share / 10_000:g} %"
    )


def draw_verifiers(state: StateLike, job: Job, proof: JsonObject, seed: bytes) -> list[Address]:
    """Stake-weighted draw without replacement from the job's pool (see `select_verifier_pool`
    and the module docstring); deterministic in `seed`, which no single party controls."""
    candidates, _ = select_verifier_pool(state, job, proof)
    chosen: list[Address] = []
    counter = 0
    while candidates and len(chosen) < job.verifiers:
        total = sum(w for _, w in candidates)
        limit = (1 << 256) - (1 << 256) % total
        while True:
            x = int.from_bytes(keccak256(seed + b"verifiers" + counter.to_bytes(8, "big")), "big")
            counter += 1
            if x < limit:
                break
        r = x % total
        for i, (address, weight) in enumerate(candidates):
            if r < weight:
                chosen.append(address)
                del candidates[i]
                break
            r -= weight
    return chosen


def process_market_begin_block(state: StateLike, ctx: BlockContext) -> list[Event]:
    """Begin-block step: fix the challenge and draw the verifiers of every proof included in the
    previous block, whose hash (ctx.prev_hash) is now known."""
    pending = state.get(PENDING_KEY)
    if not pending:
        return []
    events: list[Event] = []
    for job_id in pending:
        job = get_job(state, int(job_id))
        record = get_proof(state, int(job_id))
        if job is None or record is None or job.status != "proved":
            continue
        doc = record.doc
        draw_seed = keccak256(ctx.beacon + hex_to_bytes(record.hash, "proof hash", 32))
        job = replace(job, draw_seed="0x" + draw_seed.hex(), draw_beacon="0x" + ctx.beacon.hex())
        job = replace(job, drawn=tuple(draw_verifiers(state, job, doc, draw_seed)))
        if not job.drawn:
            _, why = select_verifier_pool(state, job, doc)
            reason = why if why.startswith("no verifier pool") else "no eligible verifier"
            events += settle_job(state, job, "refunded", reason, height=ctx.height, epoch=ctx.epoch)
            continue
        # the segments are fixed once every drawn verifier adds its randomness (proof.seed)
        seed_deadline = Epoch(ctx.epoch + get_param(state, "market_open_epochs"))
        job = replace(job, status="drawn", contributions={}, seed_deadline=seed_deadline)
        put_job(state, job)
        schedule_job(state, seed_deadline, job.id)
        events.append({"type": "proof.drawn", "job": job.id, "verifiers": list(job.drawn)})
    state.put(PENDING_KEY, None)
    return events


def process_proof_seed(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    record = get_proof(state, job.id)
    if record is None:
        raise InvalidTx(f"job {job.id} has no proof", code="not_drawn_status")
    return record_contribution(state, job, tx, ctx, record.hash)


def process_proof_open(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    need_assignee_operator(state, job, tx.sender, "opens its proof")
    if job.status != "challenged" or job.challenge is None:
        why = (
            "its challenge is fixed once every drawn verifier has added its randomness"
            if job.status in ("proved", "drawn")
            else ""
        )
        raise InvalidTx(
            f"job {job.id} is {job.status}, not awaiting openings {why}".rstrip(),
            code="not_challenged",
        )
    on_time(job.open_deadline, ctx, "openings too late", "late_opening")
    # each opening names where its checkpoint is ({index, cid}); the verifiers check it against
    # the proof's trace, which commits every checkpoint's hashes under the root, so no Merkle
    # path travels on chain (an opening stays ~100 bytes whatever N: Q up to 44 fits one tx)
    given = [Opening.from_state(o) for o in tx.body["openings"]]
    want = list(job.challenge.openings)
    if sorted(o.index for o in given) != want:
        raise InvalidTx(
            f"openings must cover exactly checkpoints {want}, once each", code="bad_opening"
        )
    attest_deadline = Epoch(ctx.epoch + get_param(state, "market_attest_epochs"))
    job = replace(
        job,
        openings=tuple(sorted(given, key=lambda o: o.index)),
        status="opened",
        attest_deadline=attest_deadline,
    )
    put_job(state, job)
    schedule_job(state, attest_deadline, job.id)
    return [{"type": "proof.opened", "job": job.id, "openings": len(given)}]


def _check_attestation(doc: JsonObject, job: Job, sender: str, proof_hash: str) -> None:
    try:
        signer = verify_document(doc, "nnet.attestation", "verifier")
    except (MalformedInput, VerificationFailed) as e:
        raise InvalidTx(f"bad attestation: {e.message}", code="bad_attestation") from None
    if signer != sender:
        raise InvalidTx(
            f"the attestation is signed by {signer}, not {sender}", code="bad_attestation"
        )
    if doc.get("proof") != proof_hash:
        raise InvalidTx(
            f"the attestation is about proof {doc.get('proof')!r}, not job {job.id}'s {proof_hash}",
            code="wrong_proof",
        )
    challenge = doc.get("challenge")
    seed = challenge.get("seed") if isinstance(challenge, dict) else None
    want = None if job.challenge is None else job.challenge.seed
    if seed != want:
        raise InvalidTx(
            f"the attestation used challenge seed {seed!r}, the chain's is {want}",
            code="wrong_challenge",
        )
    verdict, reasons = doc.get("verdict"), doc.get("reasons")
    if (
        not isinstance(reasons, list)
        or len(reasons) > MAX_REASONS
        or not all(isinstance(r, str) and len(r) <= MAX_REASON_CHARS for r in reasons)
    ):
        raise InvalidTx(
            f"attestation reasons must be a list of at most {MAX_REASONS} strings of at most "
            f"{MAX_REASON_CHARS} characters",
            code="bad_attestation",
        )
    if verdict not in VERDICTS or (verdict != "accept") != bool(reasons):
        raise InvalidTx(
            "attestation verdict must be accept (no reasons), or reject or unavailable (with "
            "reasons)",
            code="bad_attestation",
        )


def process_proof_attest(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    verifier = need_drawn_operator(state, job, tx.sender)  # the drawn node the sender acts for
    record = get_proof(state, job.id)
    if record is None:
        raise InvalidTx(f"job {job.id} has no proof", code="not_opened")
    if job.status != "opened":
        raise InvalidTx(
            f"job {job.id} is {job.status}; attestations come after the openings",
            code="not_opened",
        )
    if any(a.verifier == verifier for a in job.attestations):
        raise InvalidTx(f"{verifier} already attested job {job.id}", code="already_attested")
    on_time(job.attest_deadline, ctx, "attestation too late", "late_attestation")
    doc = tx.body["attestation"]
    _check_attestation(doc, job, tx.sender, record.hash)
    entry = Attestation(
        verifier=verifier,
        verdict=doc["verdict"],
        reasons=tuple(doc["reasons"]),
        hash=compute_proof_hash(doc),
        height=ctx.height,
    )
    job = replace(job, attestations=(*job.attestations, entry))
    events: list[Event] = [
        {"type": "proof.attested", "job": job.id, "verifier": verifier, "verdict": doc["verdict"]}
    ]
    majority = len(job.drawn) // 2 + 1
    accepting, rejecting = tally_attestations(job)
    if len(accepting) >= majority:
        events += settle_job(
            state,
            job,
            "accepted",
            "a majority of the drawn verifiers accepted",
            height=ctx.height,
            epoch=ctx.epoch,
        )
    elif len(rejecting) >= majority:
        withheld = all(
            a.verdict == "unavailable" for a in job.attestations if a.verifier in rejecting
        )
        events += settle_job(
            state,
            job,
            "rejected",
            "openings withheld: a majority of the drawn verifiers could not fetch them"
            if withheld
            else "a majority of the drawn verifiers rejected",
            height=ctx.height,
            epoch=ctx.epoch,
        )
    else:
        put_job(state, job)
    return events
