"""State transition for one transaction: `process_tx(state, tx, tx_hash, ctx)`.

Checks, in this order, and raises InvalidTx with a `code` at the first that fails (state unchanged):

| step | rule                                                   | code               |
| ---- | ------------------------------------------------------ | ------------------ |
| 1    | `chain` equals the chain id in state                   | wrong_chain        |
| 2    | `nonce` equals the sender's next nonce                 | bad_nonce          |
| 3    | `fee` ≥ param min_fee                                  | fee_too_low        |
| 4    | the signature recovers to `from` (unless pre-verified) | bad_signature      |
| 5    | the sender can pay the fee                             | insufficient_funds |
| 6    | the type's processor accepts it (balance, stake)    | see each process_<type> |

Fees: the sender pays `fee` to the block's proposer (the sequencer in v1). Paying the proposer,
rather than burning, gives the sequencer an income from usage that does not depend on minting;
the tokenomics layer can later redirect it with one line in `process_fee`.

A new transaction type adds a schema to nnet.tx.BODY_SCHEMAS and a processor to TX_PROCESSORS;
a processor validates before it writes, and `process_tx` reverts the state to its mark if a
processor raises anyway, so a transaction is all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nnet.chain.accounts import (
    StateLike,
    account_key,
    decrease_balance,
    get_account,
    get_pending_rewards,
    get_stake,
    get_total_bonded,
    increase_balance,
    set_stake,
)
from nnet.chain.governance import process_gov_deposit, process_gov_propose, process_gov_vote
from nnet.chain.params import get_param
from nnet.crypto import checksum_address, recover_raw_address
from nnet.errors import InvalidTx, VerificationFailed
from nnet.tx import Tx

__all__ = [
    "TX_PROCESSORS",
    "BlockContext",
    "Event",
    "compute_tx_hash",
    "process_tx",
    "verify_tx_signature",
]

Event = dict[str, Any]


@dataclass(frozen=True)
class BlockContext:
    """What a transaction may know about the block it is in."""

    height: int
    epoch: int
    proposer: str


def compute_tx_hash(tx: Tx) -> bytes:
    """keccak256(JCS(tx without sig)) — the id of a transaction and what its signature signs."""
    return tx.signing_hash


def verify_tx_signature(tx: Tx, tx_hash: bytes) -> None:
    """Raise InvalidTx(bad_signature) unless `sig` recovers to `from`."""
    if not tx.sig:
        raise InvalidTx("transaction is not signed", code="bad_signature")
    try:
        signer = recover_raw_address(tx_hash, tx.sig)
    except VerificationFailed as e:
        raise InvalidTx(f"bad signature: {e.message}", code="bad_signature") from None
    if signer != bytes.fromhex(tx.sender[2:]):
        raise InvalidTx(
            f"signature recovers to {checksum_address(signer)}, not to the sender {tx.sender}",
            code="bad_signature",
        )


def process_tx(
    state: Any, tx: Tx, tx_hash: bytes, ctx: BlockContext, *, verify: bool = True
) -> list[Event]:
    """Apply one transaction to `state` (a State or Overlay); return its receipt events."""
    chain_id = state.get("chain/id")
    if tx.chain != chain_id:
        raise InvalidTx(
            f"transaction is for chain {tx.chain!r}, this is {chain_id!r}", code="wrong_chain"
        )
    acct = get_account(state, tx.sender)
    if tx.nonce != acct["nonce"]:
        used = "already used" if tx.nonce < acct["nonce"] else "is ahead (nonce gap)"
        raise InvalidTx(
            f"nonce {tx.nonce} {used} by {tx.sender}; the next nonce is {acct['nonce']}",
            code="bad_nonce",
        )
    min_fee = get_param(state, "min_fee")
    if tx.fee < min_fee:
        raise InvalidTx(f"fee {tx.fee} is below the minimum {min_fee}", code="fee_too_low")
    if verify:
        verify_tx_signature(tx, tx_hash)
    processor = TX_PROCESSORS.get(tx.type)
    if processor is None:
        raise InvalidTx(
            f"transaction type {tx.type!r} is not enabled on this chain", code="unknown_type"
        )
    if acct["balance"] < tx.fee:
        raise InvalidTx(
            f"{tx.sender} has {acct['balance']} units, the fee is {tx.fee}",
            code="insufficient_funds",
        )
    mark = state.mark()
    try:
        state.put(
            account_key(tx.sender),
            {"balance": acct["balance"] - tx.fee, "nonce": acct["nonce"] + 1},
        )
        events = processor(state, tx, ctx)
        events.extend(process_fee(state, tx, ctx))
    except InvalidTx:
        state.revert(mark)
        raise
    return events


def process_fee(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """Credit the fee (already taken from the sender) to the proposer."""
    if tx.fee == 0:
        return []
    increase_balance(state, ctx.proposer, tx.fee)
    return [{"type": "fee", "from": tx.sender, "to": ctx.proposer, "amount": str(tx.fee)}]


def _require_balance(state: StateLike, tx: Tx, amount: int) -> None:
    have = get_account(state, tx.sender)["balance"]
    if have < amount:
        raise InvalidTx(
            f"{tx.sender} has {have} units after the fee of {tx.fee}, needs {amount}",
            code="insufficient_funds",
        )


def process_transfer(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["amount"])
    to = str(tx.body["to"])
    _require_balance(state, tx, amount)
    decrease_balance(state, tx.sender, amount)
    increase_balance(state, to, amount)
    return [{"type": "transfer", "from": tx.sender, "to": to, "amount": str(amount)}]


def process_stake(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["amount"])
    _require_balance(state, tx, amount)
    decrease_balance(state, tx.sender, amount)
    stake = get_stake(state, tx.sender)
    set_stake(
        state, tx.sender, {"bonded": stake["bonded"] + amount, "unbonding": stake["unbonding"]}
    )
    state.put("total_bonded", get_total_bonded(state) + amount)
    return [{"type": "stake", "address": tx.sender, "amount": str(amount)}]


def compute_release_epoch(state: StateLike, epoch: int) -> int:
    """Unstaked in `epoch`, the amount is locked for `unbonding_epochs` full epochs after it."""
    return epoch + 1 + get_param(state, "unbonding_epochs")


def process_unstake(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["amount"])
    stake = get_stake(state, tx.sender)
    if stake["bonded"] < amount:
        raise InvalidTx(
            f"{tx.sender} has {stake['bonded']} units bonded, cannot unstake {amount}",
            code="insufficient_stake",
        )
    release = compute_release_epoch(state, ctx.epoch)
    unbonding = [*stake["unbonding"], [amount, release]]
    set_stake(state, tx.sender, {"bonded": stake["bonded"] - amount, "unbonding": unbonding})
    state.put("total_bonded", get_total_bonded(state) - amount)
    due_key = f"unbond_due/{release}"
    due = state.get(due_key) or []
    if tx.sender not in due:
        state.put(due_key, sorted([*due, tx.sender]))
    return [
        {"type": "unstake", "address": tx.sender, "amount": str(amount), "release_epoch": release}
    ]


def process_reward_claim(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    pending = get_pending_rewards(state, tx.sender)
    if pending == 0:
        raise InvalidTx(f"{tx.sender} has no rewards to claim", code="nothing_to_claim")
    state.put(f"reward/{tx.sender}", None)
    increase_balance(state, tx.sender, pending)
    return [{"type": "reward", "address": tx.sender, "amount": str(pending)}]


Processor = Callable[[Any, Tx, BlockContext], list[Event]]

TX_PROCESSORS: dict[str, Processor] = {
    "transfer": process_transfer,
    "stake": process_stake,
    "unstake": process_unstake,
    "reward.claim": process_reward_claim,
    "gov.propose": process_gov_propose,
    "gov.deposit": process_gov_deposit,
    "gov.vote": process_gov_vote,
}
