"""The minimum transaction fee: a base plus a price per byte of the signed transaction.

    required fee = min_fee + min_fee_per_byte × size(tx)
    size(tx)     = byte length of JCS(tx with its "sig")          (RFC 8785, UTF-8)

Both numbers are governance parameters (params.py); `process_tx` refuses a fee below the
requirement with `fee_too_low` (transition.py, step 3). The size is what every node computes
identically: the canonical JSON the signature rule already uses, with the signature included.
A signature is always "0x" + 130 hex digits, so an unsigned transaction is measured with a
placeholder of that length and its size does not change when it is signed: a client can fit the
fee before signing (`fit_fee`) and the node measures the same number after.

Why a price per byte: what a transaction costs the network is mostly its bytes (kept forever in
every node's database, sent to every replica), and the largest one (MAX_TX_BYTES, 64 KiB) costs
about 200 times a transfer. docs/economics.md ("Transaction fees") justifies the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from nnet.chain.params import PARAMS, get_param
from nnet.chain.types import StateLike
from nnet.tx import Tx

__all__ = [
    "DEFAULT_FEE_SCHEDULE",
    "FeeSchedule",
    "compute_fee_rate",
    "compute_required_fee",
    "compute_tx_size",
    "fit_fee",
    "get_fee_schedule",
]


def compute_tx_size(tx: Tx) -> int:
    """Bytes of the signed transaction's canonical JSON (an unsigned one counts as signed)."""
    return tx.size


def compute_fee_rate(tx: Tx) -> Fraction:
    """What a transaction pays per byte, exactly (the mempool's priority)."""
    return Fraction(tx.fee, compute_tx_size(tx))


@dataclass(frozen=True)
class FeeSchedule:
    """The two fee parameters in force: base units per transaction and per byte."""

    base: int
    per_byte: int

    def required(self, size: int) -> int:
        return self.base + self.per_byte * size

    def required_for(self, tx: Tx) -> int:
        return self.required(compute_tx_size(tx))


DEFAULT_FEE_SCHEDULE = FeeSchedule(
    int(PARAMS["min_fee"].default), int(PARAMS["min_fee_per_byte"].default)
)


def get_fee_schedule(state: StateLike) -> FeeSchedule:
    return FeeSchedule(get_param(state, "min_fee"), get_param(state, "min_fee_per_byte"))


def compute_required_fee(state: StateLike, tx: Tx) -> int:
    """The least fee `tx` may pay on this state."""
    return get_fee_schedule(state).required_for(tx)


def fit_fee(make: Callable[[int], Tx], schedule: FeeSchedule, *, at_least: int = 0) -> Tx:
    """The transaction `make(fee)` with the least fee ≥ at_least that pays for its own size.

    A larger fee has more digits and so a larger size: measure, recompute, until it is stable
    (the fee only grows, by a few units per digit, so this ends in two or three rounds).
    """
    fee = at_least
    while True:
        tx = make(fee)
        need = schedule.required_for(tx)
        if tx.fee >= need:
            return tx
        fee = need
