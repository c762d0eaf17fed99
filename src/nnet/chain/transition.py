"""State transition for one transaction: `process_tx(state, tx, tx_hash, ctx)`.

Checks, in this order, and raises InvalidTx with a `code` at the first that fails (state unchanged):

| step | rule                                                   | code               |
| ---- | ------------------------------------------------------ | ------------------ |
| 1    | `chain` equals the chain id in state                   | wrong_chain        |
| 2    | `nonce` equals the sender's next nonce                 | bad_nonce          |
| 3    | `fee` ≥ min_fee + min_fee_per_byte × size (fees.py)    | fee_too_low        |
| 4    | the signature recovers to `from` (unless pre-verified) | bad_signature      |
| 5    | the sender can pay the fee                             | insufficient_funds |
| 6    | the type's processor accepts it (balance, stake)    | see each process_<type> |

The size is the byte length of the signed transaction's canonical JSON (chain/fees.py), so a
transaction pays for the bytes every node keeps; a never-funded key cannot send anything, since
even the least transaction owes a fee it cannot pay (step 5).

Fees: the sender pays `fee` into the epoch's reward funding (`epoch_fees`), less a cut for the
block's proposer set by governance (`fee_proposer_ppm`, default 0). At epoch end the tokenomics
(chain/economics.py) passes those fees to stakers and GPU nodes, and they count toward what is due,
so as usage grows the protocol mints less: the whitepaper's shift from minting to fees. (The
sequencer earns its share as a staker, like every other staker.)

Staking rewards are pull-based (F1): a stake or unstake first settles the sender's accrued reward
at the old stake, and `reward.claim` pays settled plus accrued rewards once, all O(1).

A new transaction type adds a schema to nnet.tx.BODY_SCHEMAS and a processor to TX_PROCESSORS;
a processor validates before it writes, and `process_tx` reverts the state to its mark if a
processor raises anyway, so a transaction is all-or-nothing.
"""

from __future__ import annotations

from dataclasses import replace

from nnet.chain import market, validators
from nnet.chain.accounts import (
    decrease_balance,
    get_account,
    get_pending_rewards,
    get_stake,
    get_total_bonded,
    increase_balance,
    put_account,
    set_stake,
)
from nnet.chain.economics import (
    process_fee_collection,
    process_reward_payout,
    process_reward_settlement,
)
from nnet.chain.fees import compute_tx_size, get_fee_schedule
from nnet.chain.governance import process_gov_deposit, process_gov_propose, process_gov_vote
from nnet.chain.keys import CHAIN_ID_KEY, TOTAL_BONDED_KEY, unbond_due_key
from nnet.chain.params import get_param
from nnet.chain.types import (
    Account,
    BlockContext,
    Epoch,
    Event,
    Processor,
    Stake,
    StateLike,
    Unbonding,
    Units,
)
from nnet.crypto import checksum_address, recover_raw_address
from nnet.encoding import format_amount as nnet
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
    state: StateLike, tx: Tx, tx_hash: bytes, ctx: BlockContext, *, verify: bool = True
) -> list[Event]:
    """Apply one transaction to `state` (a State or Overlay); return its receipt events."""
    chain_id = state.get(CHAIN_ID_KEY)
    if tx.chain != chain_id:
        raise InvalidTx(
            f"transaction is for chain {tx.chain!r}, this is {chain_id!r}", code="wrong_chain"
        )
    acct = get_account(state, tx.sender)
    if tx.nonce != acct.nonce:
        used = "already used" if tx.nonce < acct.nonce else "is ahead (nonce gap)"
        raise InvalidTx(
            f"nonce {tx.nonce} {used} by {tx.sender}; the next nonce is {acct.nonce}",
            code="bad_nonce",
        )
    schedule = get_fee_schedule(state)
    size = compute_tx_size(tx)
    min_fee = schedule.required(size)
    if tx.fee < min_fee:
        raise InvalidTx(
            f"fee {nnet(tx.fee)} NNET is below the minimum {nnet(min_fee)} NNET for a "
            f"{size}-byte transaction ({nnet(schedule.base)} + {nnet(schedule.per_byte)} per byte)",
            code="fee_too_low",
            hint=f"pay at least {nnet(min_fee)} NNET",
        )
    if verify:
        verify_tx_signature(tx, tx_hash)
    processor = TX_PROCESSORS.get(tx.type)
    if processor is None:
        raise InvalidTx(
            f"transaction type {tx.type!r} is not enabled on this chain", code="unknown_type"
        )
    if acct.balance < tx.fee:
        raise InvalidTx(
            f"{tx.sender} has {nnet(acct.balance)} NNET, the fee is {nnet(tx.fee)} NNET",
            code="insufficient_funds",
        )
    mark = state.mark()
    try:
        put_account(state, tx.sender, Account(Units(acct.balance - tx.fee), acct.nonce + 1))
        events = processor(state, tx, ctx)
        events.extend(process_fee(state, tx, ctx))
    except InvalidTx:
        state.revert(mark)
        raise
    except Exception as e:
        # A processor that trips over an input its checks let through must still leave the
        # state untouched and refuse the same way on every node, never half-apply or crash.
        state.revert(mark)
        raise InvalidTx(
            f"transaction could not be applied ({type(e).__name__}: {e})", code="invalid"
        ) from e
    return events


def process_fee(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """Route the fee (already taken from the sender): proposer cut, the rest to reward funding."""
    events = process_fee_collection(state, tx.fee, ctx.proposer)
    return [{**e, "from": tx.sender} for e in events]


def _require_balance(state: StateLike, tx: Tx, amount: int) -> None:
    have = get_account(state, tx.sender).balance
    if have < amount:
        raise InvalidTx(
            f"{tx.sender} has {nnet(have)} NNET after the fee of {nnet(tx.fee)} NNET, "
            f"needs {nnet(amount)} NNET",
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
    process_reward_settlement(state, tx.sender)  # earned at the old stake, before it changes
    stake = get_stake(state, tx.sender)
    set_stake(state, tx.sender, replace(stake, bonded=Units(stake.bonded + amount)))
    state.put(TOTAL_BONDED_KEY, get_total_bonded(state) + amount)
    return [{"type": "stake", "address": tx.sender, "amount": str(amount)}]


def compute_release_epoch(state: StateLike, epoch: int) -> Epoch:
    """Unstaked in `epoch`, the amount is locked for `unbonding_epochs` full epochs after it."""
    return Epoch(epoch + 1 + get_param(state, "unbonding_epochs"))


def process_unstake(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["amount"])
    stake = get_stake(state, tx.sender)
    if stake.bonded < amount:
        raise InvalidTx(
            f"{tx.sender} has {nnet(stake.bonded)} NNET bonded, cannot unstake {nnet(amount)} NNET",
            code="insufficient_stake",
        )
    process_reward_settlement(state, tx.sender)  # earned at the old stake, before it changes
    release = compute_release_epoch(state, ctx.epoch)
    unbonding = (*stake.unbonding, Unbonding(Units(amount), release))
    set_stake(state, tx.sender, Stake(Units(stake.bonded - amount), unbonding))
    state.put(TOTAL_BONDED_KEY, get_total_bonded(state) - amount)
    due_key = unbond_due_key(release)
    due = state.get(due_key) or []
    if tx.sender not in due:
        state.put(due_key, sorted([*due, tx.sender]))
    return [
        {"type": "unstake", "address": tx.sender, "amount": str(amount), "release_epoch": release}
    ]


def process_reward_claim(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """Pay settled plus accrued rewards once; the snapshot moves up so a repeat pays nothing.

    With body {"node": N}, the rewards of node N, paid to N (its owner) and sent by the key that
    operates N: an agent on the GPU box claims on a schedule without the cold key
    (chain/market_node.py)."""
    payee = str(tx.body.get("node", tx.sender))
    if payee != tx.sender:
        acting = market.find_operated_node(state, tx.sender)
        if acting is None or acting[0] != payee:
            raise InvalidTx(
                f"{tx.sender} does not operate node {payee}: only its owner or its operator "
                "claims its rewards",
                code="not_operator",
            )
    if get_pending_rewards(state, payee) == 0:
        raise InvalidTx(f"{payee} has no rewards to claim", code="nothing_to_claim")
    pending = process_reward_payout(state, payee)
    increase_balance(state, payee, pending)
    return [{"type": "reward", "address": payee, "amount": str(pending)}]


TX_PROCESSORS: dict[str, Processor] = {
    "transfer": process_transfer,
    "stake": process_stake,
    "unstake": process_unstake,
    "reward.claim": process_reward_claim,
    "gov.propose": process_gov_propose,
    "gov.deposit": process_gov_deposit,
    "gov.vote": process_gov_vote,
    "node.register": market.process_node_register,
    "node.withdraw": market.process_node_withdraw,
    "node.set_operator": market.process_node_set_operator,
    "job.submit": market.process_job_submit,
    "job.claim": market.process_job_claim,
    "job.cancel": market.process_job_cancel,
    "proof.submit": market.process_proof_submit,
    "proof.seed": market.process_proof_seed,
    "proof.open": market.process_proof_open,
    "proof.attest": market.process_proof_attest,
    "validator.register": validators.process_validator_register,
    "validator.unjail": validators.process_validator_unjail,
    "evidence": validators.process_evidence,
}
