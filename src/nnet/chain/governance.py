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

State keys (chain/keys.py): `gov/next_id`, `proposal/<id>` (a Proposal, chain/types.py),
`proposal_due/<epoch>` (ids whose deposit or voting period ends in that epoch), `burned` (total
burned, with `supply` reduced).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nnet.chain.accounts import (
    decrease_balance,
    get_pool,
    get_stake,
    get_supply,
    get_total_bonded,
    increase_balance,
    set_pool,
)
from nnet.chain.keys import (
    BURNED_KEY,
    NEXT_PROPOSAL_KEY,
    SEQUENCER_KEY,
    SUPPLY_KEY,
    node_key,
    param_key,
    proposal_due_key,
    proposal_key,
)
from nnet.chain.params import check_param, get_param
from nnet.chain.types import (
    Address,
    BlockContext,
    Epoch,
    Event,
    Height,
    JsonObject,
    NodeRecord,
    Proposal,
    StateLike,
    Tally,
    Units,
)
from nnet.constants import PPM
from nnet.econ.pools import TREASURY_POOL
from nnet.encoding import format_amount
from nnet.errors import InvalidTx, MalformedInput
from nnet.tx import Tx

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
    "proposal_key",
    "put_proposal",
]

KINDS = ("param", "text", "spend", "sequencer")
FIXED_AT_GENESIS = frozenset({"epoch_blocks"})
OPTIONS = ("yes", "no", "abstain", "veto")
PROPOSAL_STATUSES = ("deposit", "voting", "passed", "rejected", "vetoed", "expired")
MAX_REPUTATION = 10_000
MAX_TITLE_BYTES = 200
MAX_DESCRIPTION_BYTES = 2_000


# ---- reads -------------------------------------------------------------------------------------
def get_proposal(state: StateLike, pid: int) -> Proposal:
    raw = state.get(proposal_key(pid))
    if raw is None:
        raise InvalidTx(f"no proposal {pid}", code="unknown_proposal")
    return Proposal.from_state(raw)


def put_proposal(state: StateLike, proposal: Proposal) -> None:
    state.put(proposal_key(proposal.id), proposal.to_state())


def get_reputation(state: StateLike, address: str) -> int:
    """A registered compute node's reputation in [0, MAX_REPUTATION]; 0 for everyone else."""
    raw = state.get(node_key(address))
    if not raw:
        return 0
    return max(0, min(MAX_REPUTATION, NodeRecord.from_state(raw).reputation))


def compute_voting_weight(state: StateLike, address: str) -> tuple[int, int]:
    """(bonded stake, voting weight) of `address` now."""
    bonded = get_stake(state, address).bonded
    bonus_ppm = get_param(state, "gov_reputation_bonus_ppm") * get_reputation(state, address)
    weight = bonded + bonded * bonus_ppm // (MAX_REPUTATION * PPM)
    return bonded, weight


def compute_tally(state: StateLike, proposal: Proposal) -> Tally:
    """Weighted votes per option, the stake that voted, and what the rules conclude now."""
    power = dict.fromkeys(OPTIONS, 0)
    voted_stake = 0
    for voter, option in sorted(proposal.votes.items()):
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
    return Tally(power, Units(voted_stake), Units(total_bonded), quorum, outcome, reason)


# ---- transactions ------------------------------------------------------------------------------
def _epoch_blocks(state: StateLike) -> int:
    return get_param(state, "epoch_blocks")


def _check_payload(state: StateLike, body: dict[str, Any]) -> dict[str, str | int]:
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
        treasury = get_pool(state, TREASURY_POOL)
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
    key = proposal_due_key(epoch)
    due = list(state.get(key) or [])
    if pid not in due:
        state.put(key, sorted([*due, pid]))


def _add_deposit(
    state: StateLike, proposal: Proposal, who: Address, amount: int, epoch: int
) -> tuple[Proposal, list[Event]]:
    """The proposal with `amount` more deposit from `who` (which may open its voting period),
    and the receipt events."""
    decrease_balance(state, who, amount)  # InvalidTx(insufficient_funds); the tx is reverted
    deposits = dict(proposal.deposits)
    deposits[who] = Units(deposits.get(who, 0) + amount)
    proposal = replace(proposal, deposits=deposits, deposit=Units(proposal.deposit + amount))
    events: list[Event] = [
        {"type": "gov.deposit", "proposal": proposal.id, "from": who, "amount": str(amount)}
    ]
    if proposal.status == "deposit" and proposal.deposit >= get_param(state, "gov_min_deposit"):
        end = Epoch(epoch + get_param(state, "gov_voting_epochs"))
        proposal = replace(proposal, status="voting", voting_end_epoch=end)
        _schedule(state, end, proposal.id)
        events.append(
            {"type": "gov.voting_started", "proposal": proposal.id, "voting_end_epoch": end}
        )
    return proposal, events


def _check_text(body: dict[str, Any]) -> None:
    for name, cap in (("title", MAX_TITLE_BYTES), ("description", MAX_DESCRIPTION_BYTES)):
        size = len(str(body.get(name, "")).encode("utf-8"))
        if size > cap:
            raise InvalidTx(
                f"the proposal's {name} is {size} bytes; the limit is {cap}",
                code="text_too_long",
                hint="put the full text in the content store and cite its CID",
            )


def process_gov_propose(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
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
            hint=f"deposit {format_amount(least)} NNET or more",
        )
    pid = int(state.get(NEXT_PROPOSAL_KEY) or 1)
    state.put(NEXT_PROPOSAL_KEY, pid + 1)
    proposal = Proposal(
        id=pid,
        kind=body["kind"],
        title=body["title"],
        description=body.get("description", ""),
        payload=payload,
        proposer=Address(tx.sender),
        status="deposit",
        deposit=Units(0),
        deposits={},
        votes={},
        submit_height=ctx.height,
        deposit_end_epoch=Epoch(ctx.epoch + get_param(state, "gov_deposit_epochs")),
    )
    _schedule(state, proposal.deposit_end_epoch, pid)
    events: list[Event] = [{"type": "gov.proposed", "proposal": pid, "kind": body["kind"]}]
    if deposit:
        proposal, more = _add_deposit(state, proposal, Address(tx.sender), deposit, ctx.epoch)
        events += more
    put_proposal(state, proposal)
    return events


def process_gov_deposit(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """Add to a proposal's deposit while it is in its deposit or voting period."""
    proposal = get_proposal(state, int(tx.body["proposal"]))
    if proposal.status not in ("deposit", "voting"):
        raise InvalidTx(
            f"proposal {proposal.id} is {proposal.status}; deposits are closed",
            code="proposal_closed",
        )
    amount = int(tx.body["amount"])
    proposal, events = _add_deposit(state, proposal, Address(tx.sender), amount, ctx.epoch)
    put_proposal(state, proposal)
    return events


def process_gov_vote(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """Cast or change a vote; only bonded stakers vote, only during the voting period."""
    proposal = get_proposal(state, int(tx.body["proposal"]))
    if proposal.status == "deposit":
        need = get_param(state, "gov_min_deposit")
        raise InvalidTx(
            f"proposal {proposal.id} is still in its deposit period "
            f"({format_amount(proposal.deposit)} of {format_amount(need)} NNET); voting opens "
            "once its deposits reach the minimum",
            code="voting_closed",
        )
    if proposal.status != "voting":
        raise InvalidTx(
            f"proposal {proposal.id} is {proposal.status}, not open for votes",
            code="voting_closed",
        )
    bonded, _ = compute_voting_weight(state, tx.sender)
    if bonded == 0:
        raise InvalidTx(f"{tx.sender} has no bonded stake; stake first to vote", code="no_stake")
    voter = Address(tx.sender)
    votes = dict(proposal.votes)
    changed = voter in votes
    votes[voter] = tx.body["option"]
    put_proposal(state, replace(proposal, votes=votes))
    return [
        {
            "type": "gov.vote",
            "proposal": proposal.id,
            "voter": tx.sender,
            "option": tx.body["option"],
            "changed": changed,
        }
    ]


# ---- epoch end ---------------------------------------------------------------------------------
def process_governance(state: StateLike, epoch: int) -> None:
    """Close every deposit or voting period that ends in `epoch`: expire, tally, enforce."""
    due_key = proposal_due_key(epoch)
    for pid in state.get(due_key) or []:
        proposal = get_proposal(state, pid)
        if proposal.status == "deposit" and proposal.deposit_end_epoch == epoch:
            proposal = _refund(state, replace(proposal, status="expired"))
        elif proposal.status == "voting" and proposal.voting_end_epoch == epoch:
            tally = compute_tally(state, proposal)
            proposal = replace(proposal, tally=tally, status=tally.outcome)
            if tally.outcome == "vetoed" or not tally.quorum:
                proposal = _burn_deposit(state, proposal)
            else:
                proposal = _refund(state, proposal)
            if tally.outcome == "passed":
                effective = Height((epoch + 1) * _epoch_blocks(state))
                proposal = replace(proposal, effective_height=effective)
                proposal = replace(proposal, enforced=_enforce(state, proposal))
        put_proposal(state, proposal)
    state.put(due_key, None)


def _refund(state: StateLike, proposal: Proposal) -> Proposal:
    for who, amount in sorted(proposal.deposits.items()):
        increase_balance(state, who, amount)
    return replace(proposal, deposit_outcome="refunded")


def _burn_deposit(state: StateLike, proposal: Proposal) -> Proposal:
    amount = proposal.deposit
    state.put(SUPPLY_KEY, get_supply(state) - amount)
    state.put(BURNED_KEY, int(state.get(BURNED_KEY) or 0) + amount)
    return replace(proposal, deposit_outcome="burned")


def _enforce(state: StateLike, proposal: Proposal) -> JsonObject:
    """Carry out a passed proposal, re-checking it against the state of now."""
    payload = proposal.payload
    kind = proposal.kind
    if kind == "param":
        name = str(payload["key"])
        try:
            value = check_param(name, payload["value"])
        except MalformedInput as e:
            return {"done": False, "reason": e.message}
        old = get_param(state, name)
        state.put(param_key(name), value)
        return {"done": True, "param": name, "old": old, "new": value}
    if kind == "spend":
        amount = int(payload["amount"])
        to = str(payload["to"])
        treasury = get_pool(state, TREASURY_POOL)
        if amount > treasury:
            return {"done": False, "reason": f"the treasury holds {treasury}, not {amount}"}
        set_pool(state, TREASURY_POOL, treasury - amount)
        increase_balance(state, to, amount)
        return {"done": True, "paid": str(amount), "to": to}
    if kind == "sequencer":
        state.put(SEQUENCER_KEY, payload["address"])
        return {"done": True, "sequencer": payload["address"]}
    return {"done": True}
