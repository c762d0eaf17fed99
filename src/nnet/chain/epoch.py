"""Epoch-end processing: a flat, ordered list of named steps run in the last block of each epoch.

    def process_epoch(state, epoch):
        for name, step in EPOCH_STEPS:
            step(state, epoch)

A step is `process_<what>(state, epoch) -> None`, deterministic (integers only, no clock, no I/O),
and reads and writes only through `state.get`/`state.put`. Later capabilities plug in by adding a
row to EPOCH_STEPS at the place their order requires (emission before reward accrual, tallies
before deadlines, ...); `register_epoch_step` does that without editing this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from nnet.chain.accounts import get_stake, increase_balance, set_stake
from nnet.chain.economics import process_economics
from nnet.chain.governance import process_governance
from nnet.chain.keys import unbond_due_key
from nnet.chain.market_settle import process_market_deadlines
from nnet.chain.params import get_param
from nnet.chain.types import Epoch, StateLike
from nnet.chain.validators import process_validator_set

__all__ = [
    "EPOCH_STEPS",
    "EpochStep",
    "compute_epoch",
    "is_epoch_end",
    "process_epoch",
    "process_unbonding_releases",
    "register_epoch_step",
]

EpochStep = Callable[[StateLike, int], None]


def compute_epoch(state: StateLike, height: int) -> Epoch:
    return Epoch(height // get_param(state, "epoch_blocks"))


def is_epoch_end(state: StateLike, height: int) -> bool:
    """The last block of an epoch is the one whose successor starts the next epoch."""
    return height > 0 and (height + 1) % get_param(state, "epoch_blocks") == 0


def process_unbonding_releases(state: StateLike, epoch: int) -> None:
    """Return to their owners' balances the unbonding entries that become free next epoch."""
    due_key = unbond_due_key(epoch + 1)
    due = state.get(due_key)
    if not due:
        return
    for address in due:
        stake = get_stake(state, address)
        released = sum(u.amount for u in stake.unbonding if u.release_epoch <= epoch + 1)
        keep = tuple(u for u in stake.unbonding if u.release_epoch > epoch + 1)
        set_stake(state, address, replace(stake, unbonding=keep))
        increase_balance(state, address, released)
    state.put(due_key, None)


# Economics runs before governance: the epoch's rewards follow the parameters in force during the
# epoch, and a parameter change passed in this tally is in force from the next epoch's first block
# (its effective_height), so the first epoch-end that uses it is the next one.
EPOCH_STEPS: list[tuple[str, EpochStep]] = [
    ("process_unbonding_releases", process_unbonding_releases),
    ("process_market_deadlines", process_market_deadlines),  # before economics: verified work
    ("process_economics", process_economics),
    ("process_governance", process_governance),
    # last: the next epoch's validator set sees this epoch's stake, slashes and jailings
    ("process_validator_set", process_validator_set),
]


def register_epoch_step(name: str, step: EpochStep, *, before: str | None = None) -> None:
    """Add a step at the end, or before the named one; registering a name twice replaces it."""
    for i, (existing, _) in enumerate(EPOCH_STEPS):
        if existing == name:
            EPOCH_STEPS[i] = (name, step)
            return
    if before is None:
        EPOCH_STEPS.append((name, step))
        return
    index = next((i for i, (n, _) in enumerate(EPOCH_STEPS) if n == before), None)
    if index is None:
        raise KeyError(f"no epoch step named {before!r}")
    EPOCH_STEPS.insert(index, (name, step))


def process_epoch(state: StateLike, epoch: int) -> None:
    """Run every epoch-end step, in order, for the epoch that ends now."""
    for _name, step in EPOCH_STEPS:
        step(state, epoch)
