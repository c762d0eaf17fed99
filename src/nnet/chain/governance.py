"""On-chain governance (whitepaper section 6), shaped after Cosmos x/gov; docs/governance.md.

Lifecycle of a proposal, every number a parameter (params.py, `gov_*`):

    gov.propose ──► deposit period ──(deposits ≥ gov_min_deposit)──► voting period ──► tally
                    (gov_deposit_epochs)                               (gov_voting_epochs)
                    └─ not enough deposit by its end: "expired", deposits refunded

Tally, in the epoch-end processing of the epoch in which voting ends (integers only):

| rule      | test                                                 | default | if it fails        |
| --------- | ---------------------------------------------------- | ------- | ------------------ |
| quorum    | bonded stake that voted ≥ gov_quorum_ppm of bonded   | 33.4 %  | rejected, burn     |
| veto      | veto power ≤ gov_veto_ppm of all voting power        | 33.4 %  | vetoed, burn       |
| threshold | yes > gov_threshold_ppm of (yes + no + veto) power   | 50 %    | rejected, refund   |

A passed proposal is enforced in the same step, so it is in force from the first block of the next
epoch (`effective_height`), on every node at the same height: a parameter change is checked against
its bounds again, a treasury spend against the treasury pool, and either outcome is recorded.

Voting weight is bonded stake with reputational weighting: a registered compute node's weight is
its bonded stake × (1 + gov_reputation_bonus_ppm × reputation / MAX_REPUTATION / 10^6), so a node
with full reputation weighs up to 20 % more than its stake by default. The quorum counts stake
only, so reputation can sway a vote but never manufacture turnout. Weights are taken at tally
time, from the stake bonded then (a voter who unstakes before the end votes with what is left).

What a proposal costs its proposer, so proposals cannot flood the state: the transaction's fee
(which grows with its bytes, chain/fees.py), a deposit of at least `gov_min_propose_deposit` taken
from the proposer's balance (refused `deposit_too_low` below it; refunded or burned with the rest
of the deposits), and text bounded in bytes of UTF-8: a title of at most MAX_TITLE_BYTES and a
description of at most MAX_DESCRIPTION_BYTES (refused `text_too_long`). A longer text belongs in
the content store, named by its CID in the description.

State keys: `gov/next_id`, `proposal/<id>` (the record below), `proposal_due/<epoch>` (ids whose
deposit or voting period ends in that epoch), `burned` (total burned, with `supply` reduced).
"""

from __future__ import annotations

from typing import Any

from nnet.chain.accounts import (
    StateLike,
    decrease_balance,
    get_pool,
    get_stake,
    get_supply,
    get_total_bonded,
    increase_balance,
    set_pool,
)
from nnet.chain.params import check_param, get_param, param_key
from nnet.encoding import format_amount
from nnet.errors import InvalidTx, MalformedInput

__all__ = [
    "KINDS",
    "MAX_DESCRIPTION_BYTES",
    "MAX_REPUTATION",
    "MAX_TITLE_BYTES",
    "OPTIONS",
    "PROPOSAL_STATUSES",
    "compute_tally",
    "compute_voting_weight",
    "get_proposal",
    "process_gov_deposit",
    "process_gov_propose",
    "process_gov_vote",
    "process_governance",
]

KINDS = ("param", "text", "spend", "sequencer")
FIXED_AT_GENESIS = frozenset({"epoch_blocks"})
OPTIONS = ("yes", "no", "abstain", "veto")
PROPOSAL_STATUSES = ("deposit", "voting", "passed", "rejected", "vetoed", "expired")
MAX_REPUTATION = 10_000
MAX_TITLE_BYTES = 200
MAX_DESCRIPTION_BYTES = 2_000
PPM = 1_000_000
TREASURY = "treasury"

Event = dict[str, Any]


# ---- reads -------------------------------------------------------------------------------------
def proposal_key(pid: int) -> str:
    return f"proposal/{pid}"


def get_proposal(state: StateLike, pid: int) -> dict[str, Any]:
    proposal = state.get(proposal_key(pid))
    if proposal is None:
        raise InvalidTx(f"no proposal {pid}", code="unknown_proposal")
    return dict(proposal)


def get_reputation(state: StateLike, address: str) -> int:
    """A registered compute node's reputation in [0, MAX_REPUTATION]; 0 for everyone else."""
    node = state.get(f"node/{address}")
    if not node:
        return 0
    return max(0, min(MAX_REPUTATION, int(node.get("reputation", 0))))


def compute_voting_weight(state: StateLike, address: str) -> tuple[int, int]:
    """(bonded stake, voting weight) of `address` now."""
    bonded = int(get_stake(state, address)["bonded"])
    bonus_ppm = get_param(state, "gov_reputation_bonus_ppm") * get_reputation(state, address)
    weight = bonded + bonded * bonus_ppm // (MAX_REPUTATION * PPM)
    return bonded, weight


def compute_tally(state: StateLike, proposal: dict[str, Any]) -> dict[str, Any]:
    """Weighted votes per option, the stake that voted, and what the rules conclude now."""
    power = dict.fromkeys(OPTIONS, 0)
    voted_stake = 0
    for voter, option in sorted(proposal["votes"].items()):
        bonded, weight = compute_voting_weight(state, voter)
        power[option] += weight
        voted_stake += bonded
    total_bonded = get_total_bonded(state)
    all_power = sum(power.values())
    decisive = power["yes"] + power["no"] + power["veto"]
    quorum = (
        total_bonded > 0 and voted_stake * PPM >= get_param(state, "gov_quorum_ppm") * total_bonded
    )
    vetoed = all_power > 0 and power["veto"] * PPM > get_param(state, "gov_veto_ppm") * all_power
    passes = decisive > 0 and power["yes"] * PPM > get_param(state, "gov_threshold_ppm") * decisive
    if not quorum:
        outcome = "rejected"
        reason = "quorum not reached"
    elif vetoed:
        outcome, reason = "vetoed", "vetoed"
    elif passes:
        outcome, reason = "passed", "threshold reached"
    else:
        outcome, reason = "rejected", "threshold not reached"
    return {
        "power": {k: str(v) for k, v in power.items()},
        "voted_stake": str(voted_stake),
        "total_bonded": str(total_bonded),
        "quorum": quorum,
        "outcome": outcome,
        "reason": reason,
    }


# ---- transactions ------------------------------------------------------------------------------
def _epoch_blocks(state: StateLike) -> int:
    return get_param(state, "epoch_blocks")


def _check_payload(state: StateLike, body: dict[str, Any]) -> dict[str, Any]:
    """The kind-specific part of a proposal, checked now (and again when enforced)."""
    kind = body["kind"]
    if kind == "param":
        if "key" not in body or "value" not in body:
            raise InvalidTx("a param proposal needs key and value", code="bad_proposal")
        if body["key"] in FIXED_AT_GENESIS:
            raise InvalidTx(
                f"{body['key']} is fixed at genesis: epochs are numbered height // epoch_blocks, "
                "so changing it would skip or repeat epochs and strand what falls due in them",
                code="bad_param",
            )
        try:
            value = check_param(str(body["key"]), body["value"])
        except MalformedInput as e:
            raise InvalidTx(e.message, code="bad_param") from None
        return {"key": body["key"], "value": value}
    if kind == "spend":
        if "to" not in body or "amount" not in body:
            raise InvalidTx("a spend proposal needs to and amount", code="bad_proposal")
        amount = int(body["amount"])
        treasury = get_pool(state, TREASURY)
        if amount == 0 or amount > treasury:
            raise InvalidTx(
                f"a spend of {format_amount(amount)} NNET: "
                f"the treasury holds {format_amount(treasury)} NNET",
                code="treasury_too_small",
            )
        return {"to": body["to"], "amount": amount}
    if kind == "sequencer":
        if "address" not in body:
            raise InvalidTx("a sequencer proposal needs address", code="bad_proposal")
        return {"address": body["address"]}
    return {}


def _schedule(state: StateLike, epoch: int, pid: int) -> None:
    key = f"proposal_due/{epoch}"
    due = list(state.get(key) or [])
    if pid not in due:
        state.put(key, sorted([*due, pid]))


def _add_deposit(
    state: StateLike, proposal: dict[str, Any], who: str, amount: int, epoch: int
) -> list[Event]:
    decrease_balance(state, who, amount)  # InvalidTx(insufficient_funds); the tx is reverted
    deposits = dict(proposal["deposits"])
    deposits[who] = deposits.get(who, 0) + amount
    proposal["deposits"] = deposits
    proposal["deposit"] = proposal["deposit"] + amount
    events: list[Event] = [
        {"type": "gov.deposit", "proposal": proposal["id"], "from": who, "amount": str(amount)}
    ]
    if proposal["status"] == "deposit" and proposal["deposit"] >= get_param(
        state, "gov_min_deposit"
    ):
        proposal["status"] = "voting"
        proposal["voting_end_epoch"] = epoch + get_param(state, "gov_voting_epochs")
        _schedule(state, proposal["voting_end_epoch"], proposal["id"])
        events.append(
            {
                "type": "gov.voting_started",
                "proposal": proposal["id"],
                "voting_end_epoch": proposal["voting_end_epoch"],
            }
        )
    return events


def _check_text(body: dict[str, Any]) -> None:
    for name, cap in (("title", MAX_TITLE_BYTES), ("description", MAX_DESCRIPTION_BYTES)):
        size = len(str(body.get(name, "")).encode("utf-8"))
        if size > cap:
            raise InvalidTx(
                f"the proposal's {name} is {size} bytes; the limit is {cap}",
                code="text_too_long",
                hint="put the full text in the content store (nnet store put) and cite its CID",
            )


def process_gov_propose(state: StateLike, tx: Any, ctx: Any) -> list[Event]:
    """Open a proposal with an initial deposit (which may already start the voting period)."""
    body = tx.body
    _check_text(body)
    payload = _check_payload(state, body)
    deposit = int(body.get("deposit", "0"))
    least = get_param(state, "gov_min_propose_deposit")
    if deposit < least:
        raise InvalidTx(
            f"a proposal's deposit is {format_amount(deposit)} NNET; "
            f"the least is {format_amount(least)} NNET (gov_min_propose_deposit)",
            code="deposit_too_low",
            hint=f"propose with --deposit {format_amount(least)} or more",
        )
    pid = int(state.get("gov/next_id") or 1)
    state.put("gov/next_id", pid + 1)
    proposal: dict[str, Any] = {
        "id": pid,
        "kind": body["kind"],
        "title": body["title"],
        "description": body.get("description", ""),
        "payload": payload,
        "proposer": tx.sender,
        "status": "deposit",
        "deposit": 0,
        "deposits": {},
        "votes": {},
        "submit_height": ctx.height,
        "deposit_end_epoch": ctx.epoch + get_param(state, "gov_deposit_epochs"),
        "voting_end_epoch": None,
    }
    _schedule(state, proposal["deposit_end_epoch"], pid)
    events: list[Event] = [{"type": "gov.proposed", "proposal": pid, "kind": body["kind"]}]
    if deposit:
        events += _add_deposit(state, proposal, tx.sender, deposit, ctx.epoch)
    state.put(proposal_key(pid), proposal)
    return events


def process_gov_deposit(state: StateLike, tx: Any, ctx: Any) -> list[Event]:
    """Add to a proposal's deposit while it is in its deposit or voting period."""
    proposal = get_proposal(state, int(tx.body["proposal"]))
    if proposal["status"] not in ("deposit", "voting"):
        raise InvalidTx(
            f"proposal {proposal['id']} is {proposal['status']}; deposits are closed",
            code="proposal_closed",
        )
    amount = int(tx.body["amount"])
    events = _add_deposit(state, proposal, tx.sender, amount, ctx.epoch)
    state.put(proposal_key(proposal["id"]), proposal)
    return events


def process_gov_vote(state: StateLike, tx: Any, ctx: Any) -> list[Event]:
    """Cast or change a vote; only bonded stakers vote, only during the voting period."""
    proposal = get_proposal(state, int(tx.body["proposal"]))
    if proposal["status"] == "deposit":
        need = get_param(state, "gov_min_deposit")
        raise InvalidTx(
            f"proposal {proposal['id']} is still in its deposit period "
            f"({format_amount(proposal['deposit'])} of {format_amount(need)} NNET); voting opens "
            f"at the minimum: nnet vote deposit {proposal['id']} AMOUNT",
            code="voting_closed",
        )
    if proposal["status"] != "voting":
        raise InvalidTx(
            f"proposal {proposal['id']} is {proposal['status']}, not open for votes",
            code="voting_closed",
        )
    bonded, _ = compute_voting_weight(state, tx.sender)
    if bonded == 0:
        raise InvalidTx(f"{tx.sender} has no bonded stake; stake first to vote", code="no_stake")
    votes = dict(proposal["votes"])
    changed = tx.sender in votes
    votes[tx.sender] = tx.body["option"]
    proposal["votes"] = votes
    state.put(proposal_key(proposal["id"]), proposal)
    return [
        {
            "type": "gov.vote",
            "proposal": proposal["id"],
            "voter": tx.sender,
            "option": tx.body["option"],
            "changed": changed,
        }
    ]


# ---- epoch end ---------------------------------------------------------------------------------
def process_governance(state: StateLike, epoch: int) -> None:
    """Close every deposit or voting period that ends in `epoch`: expire, tally, enforce."""
    due_key = f"proposal_due/{epoch}"
    for pid in state.get(due_key) or []:
        proposal = get_proposal(state, pid)
        if proposal["status"] == "deposit" and proposal["deposit_end_epoch"] == epoch:
            proposal["status"] = "expired"
            _refund(state, proposal)
        elif proposal["status"] == "voting" and proposal["voting_end_epoch"] == epoch:
            tally = compute_tally(state, proposal)
            proposal["tally"] = tally
            proposal["status"] = tally["outcome"]
            if tally["outcome"] == "vetoed" or not tally["quorum"]:
                _burn_deposit(state, proposal)
            else:
                _refund(state, proposal)
            if tally["outcome"] == "passed":
                effective = (epoch + 1) * _epoch_blocks(state)
                proposal["effective_height"] = effective
                proposal["enforced"] = _enforce(state, proposal)
        state.put(proposal_key(pid), proposal)
    state.put(due_key, None)


def _refund(state: StateLike, proposal: dict[str, Any]) -> None:
    for who, amount in sorted(proposal["deposits"].items()):
        increase_balance(state, who, amount)
    proposal["deposit_outcome"] = "refunded"


def _burn_deposit(state: StateLike, proposal: dict[str, Any]) -> None:
    amount = proposal["deposit"]
    state.put("supply", get_supply(state) - amount)
    state.put("burned", int(state.get("burned") or 0) + amount)
    proposal["deposit_outcome"] = "burned"


def _enforce(state: StateLike, proposal: dict[str, Any]) -> dict[str, Any]:
    """Carry out a passed proposal, re-checking it against the state of now."""
    payload = proposal["payload"]
    kind = proposal["kind"]
    if kind == "param":
        try:
            value = check_param(payload["key"], payload["value"])
        except MalformedInput as e:
            return {"done": False, "reason": e.message}
        old = get_param(state, payload["key"])
        state.put(param_key(payload["key"]), value)
        return {"done": True, "param": payload["key"], "old": old, "new": value}
    if kind == "spend":
        amount = int(payload["amount"])
        treasury = get_pool(state, TREASURY)
        if amount > treasury:
            return {"done": False, "reason": f"the treasury holds {treasury}, not {amount}"}
        set_pool(state, TREASURY, treasury - amount)
        increase_balance(state, payload["to"], amount)
        return {"done": True, "paid": str(amount), "to": payload["to"]}
    if kind == "sequencer":
        state.put("chain/sequencer", payload["address"])
        return {"done": True, "sequencer": payload["address"]}
    return {"done": True}
