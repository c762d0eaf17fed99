"""Marketplace settlement: who gets paid what when a job ends, and the epoch-end deadline step.

Every way a job can end goes through `settle_job` exactly once: it moves the job's whole escrow
and unlocks (or slashes) its collateral, marks the job final and records a `settlement`, so a
settled job can never pay again (`is_final` guards every entry point). The record layout, the
lifecycle and the reasons for each rule are in chain/market.py's docstring.

Outcomes (fee escrow; job collateral):
- accepted: the node gets fee − market_protocol_fee_ppm (to pool/treasury) − market_verifier_fee_ppm
  (split equally among the verifiers who voted accept, remainder to the first); collateral
  unlocked, reputation up, verified work and the fee recorded in `epoch_work/<epoch>`.
- rejected: fee refunded to the submitter; market_slash_ppm of the job collateral slashed by
  econ/slashing.py (the verifiers who voted reject share slash_verifier_share of it, the rest is
  burned or goes to the treasury by slash_burn_share); reputation cut.
- refunded (no eligible verifier, no attestation, a tie): fee refunded, collateral unlocked,
  reputation unchanged.
- expired (nobody claimed it, or its proof came too late to reopen) and cancelled (job.cancel):
  fee refunded; an assignee that missed its proof deadline loses market_miss_slash_ppm.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from nnet.chain.accounts import (
    get_pool,
    get_supply,
    increase_balance,
    set_pool,
)
from nnet.chain.economics import get_econ_params, record_verified_work
from nnet.chain.governance import MAX_REPUTATION
from nnet.chain.keys import (
    ACTIVE_NODES_KEY,
    BURNED_KEY,
    NODES_KEY,
    SUPPLY_KEY,
    job_due_key,
    job_key,
    node_key,
)
from nnet.chain.params import get_param
from nnet.chain.types import (
    Address,
    Epoch,
    Event,
    Height,
    Job,
    JsonObject,
    MissedProof,
    NodeRecord,
    Settlement,
    StateLike,
    Units,
)
from nnet.constants import PPM
from nnet.econ.pools import TREASURY_POOL
from nnet.econ.slashing import SlashOutcome, compute_slash
from nnet.errors import InvalidTx

__all__ = [
    "FINAL_STATUSES",
    "JOB_STATUSES",
    "NODES_KEY",
    "get_job",
    "get_node",
    "is_final",
    "job_key",
    "node_key",
    "process_market_deadlines",
    "put_job",
    "put_node",
    "schedule_job",
    "settle_job",
    "tally_attestations",
]

FINAL_STATUSES = ("accepted", "rejected", "refunded", "expired", "cancelled")
JOB_STATUSES = ("open", "claimed", "proved", "drawn", "challenged", "opened", *FINAL_STATUSES)


# ---- records -----------------------------------------------------------------------------------
def get_job(state: StateLike, job_id: int) -> Job | None:
    raw = state.get(job_key(job_id))
    return None if raw is None else Job.from_state(raw)


def put_job(state: StateLike, job: Job) -> None:
    state.put(job_key(job.id), job.to_state())


def get_node(state: StateLike, address: str) -> NodeRecord | None:
    raw = state.get(node_key(address))
    return None if raw is None else NodeRecord.from_state(raw)


def put_node(state: StateLike, address: str, node: NodeRecord) -> None:
    state.put(node_key(address), node.to_state())


def is_final(job: Job) -> bool:
    return job.status in FINAL_STATUSES


def schedule_job(state: StateLike, epoch: int, job_id: int) -> None:
    """Have the epoch-end step of `epoch` look at this job (its current deadline ends then)."""
    key = job_due_key(epoch)
    due = list(state.get(key) or [])
    if job_id not in due:
        state.put(key, sorted([*due, job_id]))


def _add_reputation(node: NodeRecord, delta: int) -> NodeRecord:
    return replace(node, reputation=max(0, min(MAX_REPUTATION, node.reputation + delta)))


def _change_reputation(state: StateLike, address: str, delta: int) -> None:
    node = get_node(state, address)
    if node is None or delta == 0:
        return
    put_node(state, address, _add_reputation(node, delta))


def _burn(state: StateLike, amount: int) -> None:
    if amount:
        state.put(SUPPLY_KEY, get_supply(state) - amount)
        state.put(BURNED_KEY, int(state.get(BURNED_KEY) or 0) + amount)


def _to_treasury(state: StateLike, amount: int) -> None:
    if amount:
        set_pool(state, TREASURY_POOL, get_pool(state, TREASURY_POOL) + amount)


def compute_job_slash(
    state: StateLike, collateral: int, fraction_ppm: int, catchers: list[str]
) -> SlashOutcome:
    """The slash of a job's collateral at `fraction_ppm` (market_slash_ppm or
    market_miss_slash_ppm): the verifier and burn shares stay econ's (slash_verifier_share,
    slash_burn_share), so one pair of governance numbers routes every slash."""
    params = replace(get_econ_params(state), slash_fraction=Fraction(fraction_ppm, PPM))
    return compute_slash(params, collateral, catchers)


# ---- settlement --------------------------------------------------------------------------------
def tally_attestations(job: Job) -> tuple[list[Address], list[Address]]:
    """(accepting, rejecting) verifiers, each in attestation order; "unavailable" (the openings
    could not be fetched: withheld) counts against the prover like "reject"."""
    acc = [a.verifier for a in job.attestations if a.verdict == "accept"]
    rej = [a.verifier for a in job.attestations if a.verdict != "accept"]
    return acc, rej


def _need_assignee(state: StateLike, job: Job) -> tuple[Address, NodeRecord]:
    """The assigned node of a job that has one (a job past its claim always does)."""
    node = None if job.assignee is None else get_node(state, job.assignee)
    if job.assignee is None or node is None:
        raise InvalidTx(
            f"job {job.id} ({job.status}) has no registered assignee to settle with",
            code="invalid",
        )
    return job.assignee, node


def _release_collateral(state: StateLike, job: Job, slashed: int) -> tuple[Address, NodeRecord]:
    """Unlock the job's collateral on its node, less `slashed` (which leaves the node)."""
    address, node = _need_assignee(state, job)
    node = replace(
        node,
        locked=Units(node.locked - job.collateral),
        collateral=Units(node.collateral - slashed),
    )
    return address, node


def _pay_accepted(state: StateLike, job: Job, epoch: Epoch) -> JsonObject:
    fee = job.escrow
    winners, losers = tally_attestations(job)
    protocol = fee * get_param(state, "market_protocol_fee_ppm") // PPM
    pool = fee * get_param(state, "market_verifier_fee_ppm") // PPM
    shares: dict[str, int] = {}
    if winners:
        each, rest = divmod(pool, len(winners))
        shares = {v: each for v in winners}
        shares[winners[0]] += rest
    to_node = fee - protocol - sum(shares.values())
    address, node = _need_assignee(state, job)
    for verifier, amount in shares.items():
        increase_balance(state, verifier, amount)
    _to_treasury(state, protocol)
    increase_balance(state, address, to_node)
    # verified work (C_g): the job's own steps x batch size, declared at job.submit and bound by
    # its spec hash (verifiers reject a spec that disagrees), never taken from an attestation
    work = job.work
    address, node = _release_collateral(state, job, 0)
    node = _add_reputation(node, get_param(state, "market_reputation_gain"))
    node = replace(
        node,
        proofs_ok=node.proofs_ok + 1,
        verified_work=node.verified_work + work,
        last_verified_epoch=epoch,
    )
    put_node(state, address, node)
    record_verified_work(state, epoch, address, fee, work)
    gain = get_param(state, "market_reputation_gain")
    for v in winners:
        _change_reputation(state, v, gain)
    for v in losers:
        _change_reputation(state, v, -get_param(state, "market_reputation_penalty"))
    return {
        "to_node": str(to_node),
        "to_verifiers": {v: str(a) for v, a in shares.items()},
        "to_treasury": str(protocol),
        "work": work,
    }


def _pay_rejected(
    state: StateLike, job: Job, catchers: list[Address], dissenters: list[Address]
) -> JsonObject:
    slash = compute_job_slash(
        state, job.collateral, get_param(state, "market_slash_ppm"), list(catchers)
    )
    address, node = _release_collateral(state, job, slash.slashed)
    node = _add_reputation(node, -get_param(state, "market_reputation_penalty"))
    put_node(state, address, replace(node, proofs_rejected=node.proofs_rejected + 1))
    for verifier, amount in slash.to_verifiers.items():
        increase_balance(state, verifier, amount)
    _burn(state, slash.burned)
    _to_treasury(state, slash.to_treasury)
    increase_balance(state, job.submitter, job.escrow)
    gain = get_param(state, "market_reputation_gain")
    for v in catchers:
        _change_reputation(state, v, gain)
    for v in dissenters:
        _change_reputation(state, v, -get_param(state, "market_reputation_penalty"))
    return {
        "refund": str(job.escrow),
        "slashed": str(slash.slashed),
        "to_verifiers": {v: str(a) for v, a in slash.to_verifiers.items()},
        "burned": str(slash.burned),
        "to_treasury": str(slash.to_treasury),
    }


def _pay_refund(state: StateLike, job: Job, miss_slash: bool) -> JsonObject:
    """Fee back to the submitter; the collateral of an assigned job unlocked (less a miss slash
    when its proof never came)."""
    out: JsonObject = {"refund": str(job.escrow)}
    increase_balance(state, job.submitter, job.escrow)
    if job.assignee:
        if miss_slash:
            out |= _release_after_miss(state, job)
        else:
            put_node(state, *_release_collateral(state, job, 0))
    return out


def _release_after_miss(state: StateLike, job: Job) -> dict[str, str]:
    """A claimed job whose proof never came: a small slash (no verifier caught anything, so
    nothing to verifiers) and a reputation cut."""
    slash = compute_job_slash(state, job.collateral, get_param(state, "market_miss_slash_ppm"), [])
    address, node = _release_collateral(state, job, slash.slashed)
    node = _add_reputation(node, -get_param(state, "market_miss_reputation_penalty"))
    put_node(state, address, replace(node, proofs_missed=node.proofs_missed + 1))
    _burn(state, slash.burned)
    _to_treasury(state, slash.to_treasury)
    return {
        "slashed": str(slash.slashed),
        "burned": str(slash.burned),
        "to_treasury": str(slash.to_treasury),
    }


def settle_job(
    state: StateLike,
    job: Job,
    outcome: str,
    reason: str,
    *,
    height: Height | None,
    epoch: Epoch,
    miss_slash: bool = False,
) -> list[Event]:
    """End a job once: pay out its escrow and collateral by `outcome`, record it, mark it final.
    `height` is the block of a transaction-driven settlement, None at epoch end (the deadline
    step runs in the last block of `epoch`, whose height governance may just have moved).

    `job` must not be final: the callers check, and this refuses again (InvalidTx), since paying
    twice would break conservation."""
    if is_final(job):
        raise InvalidTx(f"job {job.id} is already {job.status}", code="job_settled")
    if outcome == "accepted":
        payouts = _pay_accepted(state, job, epoch)
    elif outcome == "rejected":
        winners, rejecters = tally_attestations(job)
        payouts = _pay_rejected(state, job, rejecters, winners)
    else:
        payouts = _pay_refund(state, job, miss_slash)
    settlement = Settlement(outcome, reason, height, epoch, payouts)
    put_job(state, replace(job, escrow=Units(0), status=outcome, settlement=settlement))
    return [{"type": "job.settled", "job": job.id, "outcome": outcome, "reason": reason}]


def _penalise_absent_verifiers(state: StateLike, job: Job) -> None:
    attested = {a.verifier for a in job.attestations}
    penalty = get_param(state, "market_miss_reputation_penalty")
    for v in job.drawn:
        if v not in attested:
            _change_reputation(state, v, -penalty)


# ---- epoch end ---------------------------------------------------------------------------------
def _process_due_job(state: StateLike, job: Job, epoch: Epoch) -> None:
    status = job.status

    def settle(outcome: str, reason: str, *, miss_slash: bool = False) -> None:
        settle_job(state, job, outcome, reason, height=None, epoch=epoch, miss_slash=miss_slash)

    if status == "open" and job.claim_deadline == epoch:
        settle("expired", "nobody claimed it by the claim deadline")
    elif status == "claimed" and job.proof_deadline == epoch:
        if epoch < job.claim_deadline:
            _reopen_after_miss(state, job, epoch)
        else:
            settle("expired", "no proof by the proof deadline", miss_slash=True)
    elif status == "drawn" and job.seed_deadline == epoch:
        given = job.contributions or {}
        absent = [v for v in job.drawn if v not in given]
        penalty = get_param(state, "market_miss_reputation_penalty")
        for v in absent:
            _change_reputation(state, v, -penalty)
        settle("refunded", f"{len(absent)} drawn verifiers gave no challenge randomness in time")
    elif status == "challenged" and job.open_deadline == epoch:
        settle("rejected", "no openings by the opening deadline")
    elif status == "opened" and job.attest_deadline == epoch:
        _penalise_absent_verifiers(state, job)
        accepting, rejecting = tally_attestations(job)
        if not accepting and not rejecting:
            settle("refunded", "no attestation by the attestation deadline")
        elif len(accepting) > len(rejecting):
            settle("accepted", "majority of the attestations at the deadline")
        elif len(rejecting) > len(accepting):
            settle("rejected", "majority of the attestations at the deadline")
        else:
            settle("refunded", "attestations tied at the deadline")


def _reopen_after_miss(state: StateLike, job: Job, epoch: Epoch) -> None:
    """The assignee missed its proof deadline while the job could still be claimed: slash a
    little, and put the job back on the market until its claim deadline (scheduled at submit)."""
    address, _ = _need_assignee(state, job)
    info = _release_after_miss(state, job)
    miss = MissedProof(address, epoch, info["slashed"], info["burned"], info["to_treasury"])
    job = replace(
        job,
        status="open",
        assignee=None,
        collateral=Units(0),
        proof_deadline=None,
        missed=(*job.missed, miss),
    )
    put_job(state, job)


def _count_active_nodes(state: StateLike, epoch: int) -> int:
    window = get_param(state, "market_active_window_epochs")
    count = 0
    for address in state.get(NODES_KEY) or []:
        node = get_node(state, address)
        last = None if node is None else node.last_verified_epoch
        if last is not None and epoch - last < window:
            count += 1
    return count


def process_market_deadlines(state: StateLike, epoch: int) -> None:
    """Epoch-end step: every job whose current deadline is this epoch gets its defined outcome;
    then N_n (`active_nodes`) for the tokenomics step that follows."""
    key = job_due_key(epoch)
    for job_id in state.get(key) or []:
        job = get_job(state, int(job_id))
        if job is not None and not is_final(job):
            _process_due_job(state, job, Epoch(epoch))
    state.put(key, None)
    active = _count_active_nodes(state, epoch)
    if (state.get(ACTIVE_NODES_KEY) or 0) != active:
        state.put(ACTIVE_NODES_KEY, active or None)
