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

from fractions import Fraction
from typing import Any

from nnet.chain.accounts import (
    StateLike,
    get_pool,
    get_supply,
    increase_balance,
    set_pool,
)
from nnet.chain.governance import MAX_REPUTATION
from nnet.chain.params import get_param
from nnet.econ.slashing import SlashOutcome, compute_slash

__all__ = [
    "FINAL_STATUSES",
    "JOB_STATUSES",
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

PPM = 1_000_000
TREASURY = "treasury"
FINAL_STATUSES = ("accepted", "rejected", "refunded", "expired", "cancelled")
JOB_STATUSES = ("open", "claimed", "proved", "drawn", "challenged", "opened", *FINAL_STATUSES)
NODES_KEY = "market/nodes"
ACTIVE_NODES_KEY = "active_nodes"  # read by chain/economics.py as N_n

Event = dict[str, Any]


# ---- records -----------------------------------------------------------------------------------
def job_key(job_id: int) -> str:
    return f"job/{job_id}"


def node_key(address: str) -> str:
    return f"node/{address}"


def get_job(state: StateLike, job_id: int) -> dict[str, Any] | None:
    job = state.get(job_key(job_id))
    return None if job is None else dict(job)


def put_job(state: StateLike, job: dict[str, Any]) -> None:
    state.put(job_key(job["id"]), job)


def get_node(state: StateLike, address: str) -> dict[str, Any] | None:
    node = state.get(node_key(address))
    return None if node is None else dict(node)


def put_node(state: StateLike, address: str, node: dict[str, Any]) -> None:
    state.put(node_key(address), node)


def is_final(job: dict[str, Any]) -> bool:
    return job["status"] in FINAL_STATUSES


def schedule_job(state: StateLike, epoch: int, job_id: int) -> None:
    """Have the epoch-end step of `epoch` look at this job (its current deadline ends then)."""
    key = f"job_due/{epoch}"
    due = list(state.get(key) or [])
    if job_id not in due:
        state.put(key, sorted([*due, job_id]))


def _add_reputation(node: dict[str, Any], delta: int) -> None:
    node["reputation"] = max(0, min(MAX_REPUTATION, int(node["reputation"]) + delta))


def _change_reputation(state: StateLike, address: str, delta: int) -> None:
    node = get_node(state, address)
    if node is None or delta == 0:
        return
    _add_reputation(node, delta)
    put_node(state, address, node)


def _burn(state: StateLike, amount: int) -> None:
    if amount:
        state.put("supply", get_supply(state) - amount)
        state.put("burned", int(state.get("burned") or 0) + amount)


def _to_treasury(state: StateLike, amount: int) -> None:
    if amount:
        set_pool(state, TREASURY, get_pool(state, TREASURY) + amount)


def _slash_params(state: StateLike, fraction_ppm: int) -> Any:
    """EconParams in force now, with the slash fraction of this case (market_slash_ppm or
    market_miss_slash_ppm): the verifier and burn shares stay econ's (slash_verifier_share,
    slash_burn_share), so one pair of governance numbers routes every slash."""
    from dataclasses import replace

    from nnet.chain.economics import get_econ_params

    return replace(get_econ_params(state), slash_fraction=Fraction(fraction_ppm, PPM))


def compute_job_slash(
    state: StateLike, collateral: int, fraction_ppm: int, catchers: list[str]
) -> SlashOutcome:
    return compute_slash(_slash_params(state, fraction_ppm), collateral, catchers)


# ---- settlement --------------------------------------------------------------------------------
def tally_attestations(job: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(accepting, rejecting) verifiers, each in attestation order; "unavailable" (the openings
    could not be fetched: withheld) counts against the prover like "reject"."""
    acc = [a["verifier"] for a in job["attestations"] if a["verdict"] == "accept"]
    rej = [a["verifier"] for a in job["attestations"] if a["verdict"] != "accept"]
    return acc, rej


def _release_collateral(state: StateLike, job: dict[str, Any], slashed: int) -> dict[str, Any]:
    """Unlock the job's collateral on its node, less `slashed` (which leaves the node)."""
    node = get_node(state, job["assignee"])
    assert node is not None, "an assigned job's node always exists"
    node["locked"] = int(node["locked"]) - int(job["collateral"])
    node["collateral"] = int(node["collateral"]) - slashed
    return node


def _compute_work(job: dict[str, Any]) -> int:
    """Verified work units: the job's own steps x batch size, declared at job.submit and bound
    by its spec hash (verifiers reject a spec that disagrees), never taken from an attestation."""
    return int(job.get("work") or 0)


def _record_work(state: StateLike, epoch: int, node: str, fee: int, work: int) -> None:
    """Add to `epoch_work/<epoch>` (chain/economics.py reads it as D_ai and C_g at epoch end)."""
    key = f"epoch_work/{epoch}"
    record = dict(state.get(key) or {"demand": 0, "compute": {}})
    compute = dict(record.get("compute") or {})
    compute[node] = int(compute.get(node, 0)) + work
    state.put(key, {"demand": int(record.get("demand", 0)) + fee, "compute": compute})


def _pay_accepted(state: StateLike, job: dict[str, Any], epoch: int) -> dict[str, Any]:
    fee = int(job["escrow"])
    winners, losers = tally_attestations(job)
    protocol = fee * get_param(state, "market_protocol_fee_ppm") // PPM
    pool = fee * get_param(state, "market_verifier_fee_ppm") // PPM
    shares: dict[str, int] = {}
    if winners:
        each, rest = divmod(pool, len(winners))
        shares = {v: each for v in winners}
        shares[winners[0]] += rest
    to_node = fee - protocol - sum(shares.values())
    for verifier, amount in shares.items():
        increase_balance(state, verifier, amount)
    _to_treasury(state, protocol)
    increase_balance(state, job["assignee"], to_node)
    work = _compute_work(job)
    node = _release_collateral(state, job, 0)
    _add_reputation(node, get_param(state, "market_reputation_gain"))
    node["proofs_ok"] = int(node["proofs_ok"]) + 1
    node["verified_work"] = int(node["verified_work"]) + work
    node["last_verified_epoch"] = epoch
    put_node(state, job["assignee"], node)
    _record_work(state, epoch, job["assignee"], fee, work)
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
    state: StateLike, job: dict[str, Any], catchers: list[str], dissenters: list[str]
) -> dict[str, Any]:
    slash = compute_job_slash(
        state, int(job["collateral"]), get_param(state, "market_slash_ppm"), catchers
    )
    node = _release_collateral(state, job, slash.slashed)
    _add_reputation(node, -get_param(state, "market_reputation_penalty"))
    node["proofs_rejected"] = int(node["proofs_rejected"]) + 1
    put_node(state, job["assignee"], node)
    for verifier, amount in slash.to_verifiers.items():
        increase_balance(state, verifier, amount)
    _burn(state, slash.burned)
    _to_treasury(state, slash.to_treasury)
    increase_balance(state, job["submitter"], int(job["escrow"]))
    gain = get_param(state, "market_reputation_gain")
    for v in catchers:
        _change_reputation(state, v, gain)
    for v in dissenters:
        _change_reputation(state, v, -get_param(state, "market_reputation_penalty"))
    return {
        "refund": str(job["escrow"]),
        "slashed": str(slash.slashed),
        "to_verifiers": {v: str(a) for v, a in slash.to_verifiers.items()},
        "burned": str(slash.burned),
        "to_treasury": str(slash.to_treasury),
    }


def _pay_refund(state: StateLike, job: dict[str, Any], miss_slash: bool) -> dict[str, Any]:
    """Fee back to the submitter; the collateral of an assigned job unlocked (less a miss slash
    when its proof never came)."""
    out: dict[str, Any] = {"refund": str(job["escrow"])}
    increase_balance(state, job["submitter"], int(job["escrow"]))
    if job.get("assignee"):
        if miss_slash:
            out |= _release_after_miss(state, job)
        else:
            put_node(state, job["assignee"], _release_collateral(state, job, 0))
    return out


def _release_after_miss(state: StateLike, job: dict[str, Any]) -> dict[str, Any]:
    """A claimed job whose proof never came: a small slash (no verifier caught anything, so
    nothing to verifiers) and a reputation cut."""
    slash = compute_job_slash(
        state, int(job["collateral"]), get_param(state, "market_miss_slash_ppm"), []
    )
    node = _release_collateral(state, job, slash.slashed)
    _add_reputation(node, -get_param(state, "market_miss_reputation_penalty"))
    node["proofs_missed"] = int(node.get("proofs_missed", 0)) + 1
    put_node(state, job["assignee"], node)
    _burn(state, slash.burned)
    _to_treasury(state, slash.to_treasury)
    return {
        "slashed": str(slash.slashed),
        "burned": str(slash.burned),
        "to_treasury": str(slash.to_treasury),
    }


def settle_job(
    state: StateLike,
    job: dict[str, Any],
    outcome: str,
    reason: str,
    *,
    height: int | None,
    epoch: int,
    miss_slash: bool = False,
) -> list[Event]:
    """End a job once: pay out its escrow and collateral by `outcome`, record it, mark it final.
    `height` is the block of a transaction-driven settlement, None at epoch end (the deadline
    step runs in the last block of `epoch`, whose height governance may just have moved).

    `job` must not be final (the callers check; this asserts, since paying twice would be a bug
    that breaks conservation)."""
    assert not is_final(job), f"job {job['id']} is already {job['status']}"
    if outcome == "accepted":
        payouts = _pay_accepted(state, job, epoch)
    elif outcome == "rejected":
        winners, rejecters = tally_attestations(job)
        payouts = _pay_rejected(state, job, rejecters, winners)
    else:
        payouts = _pay_refund(state, job, miss_slash)
    job["escrow"] = 0
    job["status"] = outcome
    job["settlement"] = {
        "outcome": outcome,
        "reason": reason,
        "height": height,
        "epoch": epoch,
        **payouts,
    }
    put_job(state, job)
    return [{"type": "job.settled", "job": job["id"], "outcome": outcome, "reason": reason}]


def _penalise_absent_verifiers(state: StateLike, job: dict[str, Any]) -> None:
    attested = {a["verifier"] for a in job["attestations"]}
    penalty = get_param(state, "market_miss_reputation_penalty")
    for v in job.get("drawn") or []:
        if v not in attested:
            _change_reputation(state, v, -penalty)


# ---- epoch end ---------------------------------------------------------------------------------
def _process_due_job(state: StateLike, job: dict[str, Any], epoch: int) -> None:
    status = job["status"]

    def settle(outcome: str, reason: str, *, miss_slash: bool = False) -> None:
        settle_job(state, job, outcome, reason, height=None, epoch=epoch, miss_slash=miss_slash)

    if status == "open" and job["claim_deadline"] == epoch:
        settle("expired", "nobody claimed it by the claim deadline")
    elif status == "claimed" and job["proof_deadline"] == epoch:
        if epoch < job["claim_deadline"]:
            _reopen_after_miss(state, job, epoch)
        else:
            settle("expired", "no proof by the proof deadline", miss_slash=True)
    elif status == "drawn" and job["seed_deadline"] == epoch:
        given = job.get("contributions") or {}
        absent = [v for v in job["drawn"] if v not in given]
        penalty = get_param(state, "market_miss_reputation_penalty")
        for v in absent:
            _change_reputation(state, v, -penalty)
        settle("refunded", f"{len(absent)} drawn verifiers gave no challenge randomness in time")
    elif status == "challenged" and job["open_deadline"] == epoch:
        settle("rejected", "no openings by the opening deadline")
    elif status == "opened" and job["attest_deadline"] == epoch:
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


def _reopen_after_miss(state: StateLike, job: dict[str, Any], epoch: int) -> None:
    """The assignee missed its proof deadline while the job could still be claimed: slash a
    little, and put the job back on the market until its claim deadline (scheduled at submit)."""
    info = _release_after_miss(state, job)
    misses = list(job.get("missed") or [])
    misses.append({"node": job["assignee"], "epoch": epoch, **info})
    job |= {"status": "open", "assignee": None, "collateral": 0, "proof_deadline": None}
    job["missed"] = misses
    put_job(state, job)


def _count_active_nodes(state: StateLike, epoch: int) -> int:
    window = get_param(state, "market_active_window_epochs")
    count = 0
    for address in state.get(NODES_KEY) or []:
        node = get_node(state, address)
        last = None if node is None else node.get("last_verified_epoch")
        if last is not None and epoch - int(last) < window:
            count += 1
    return count


def process_market_deadlines(state: StateLike, epoch: int) -> None:
    """Epoch-end step: every job whose current deadline is this epoch gets its defined outcome;
    then N_n (`active_nodes`) for the tokenomics step that follows."""
    key = f"job_due/{epoch}"
    for job_id in state.get(key) or []:
        job = get_job(state, int(job_id))
        if job is not None and not is_final(job):
            _process_due_job(state, job, epoch)
    state.put(key, None)
    active = _count_active_nodes(state, epoch)
    if (state.get(ACTIVE_NODES_KEY) or 0) != active:
        state.put(ACTIVE_NODES_KEY, active or None)
