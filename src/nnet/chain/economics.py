"""The tokenomics on chain: econ parameters from state, fee collection, F1 settlement, epoch step.

`nnet.econ` is pure (params in, outcome out); this module is the one bridge between it and the
chain state. Nothing here loops over stakers: the epoch step is O(1) in stakers (O(nodes) for the
per-node GPU split), and settling or claiming one staker's reward is O(1).

State keys (chain/keys.py has the layout): epoch_fees, epoch_work/<epoch> (written by the
marketplace), active_nodes, inflation_ppb, reward_acc, reward_snap/<addr>, reward_escrow, minted,
econ/last (EpochOutcome.to_dict).

Money flow, every base unit accounted for (tests/chain/helpers.supply_accounted):
fees leave the payer into `epoch_fees` (less an optional proposer cut, fee_proposer_ppm); at epoch
end econ funds rewards from those fees, then the genesis pools, then minting (supply grows by
exactly what is minted); staking rewards go to `reward_escrow` and the accumulator, GPU rewards
straight to `reward/<node>`, fees nobody could take and rounding dust to `pool/treasury`. A stake
change or a claim settles a staker's accrued reward out of the escrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from nnet.chain.accounts import (
    get_accrued_staking_reward,
    get_pool,
    get_reward_acc,
    get_stored_rewards,
    get_supply,
    get_total_bonded,
    increase_balance,
    put_reward_acc,
    set_pool,
    set_stored_rewards,
)
from nnet.chain.keys import (
    ACTIVE_NODES_KEY,
    EPOCH_FEES_KEY,
    INFLATION_KEY,
    LAST_OUTCOME_KEY,
    MINTED_KEY,
    REWARD_ESCROW_KEY,
    SUPPLY_KEY,
    epoch_work_key,
    reward_snapshot_key,
)
from nnet.chain.params import ECON_OFF_CHAIN, PARAMS, get_econ_values, get_param
from nnet.chain.types import Address, EpochWork, Event, StateLike, Units
from nnet.constants import PPB, PPM
from nnet.econ.epoch import EpochInputs, EpochOutcome, process_epoch_economics
from nnet.econ.fixedpoint import fraction_to_ppb
from nnet.econ.params import PARAM_SPECS, EconParams
from nnet.econ.pools import POOL_NAMES
from nnet.errors import UsageError

__all__ = [
    "EPOCH_FEES_KEY",
    "REWARD_ESCROW_KEY",
    "econ_params_from_values",
    "epoch_work_key",
    "get_econ_params",
    "get_epoch_work",
    "get_epoch_work_record",
    "process_economics",
    "process_fee_collection",
    "process_reward_settlement",
    "record_verified_work",
]


# ---- parameters --------------------------------------------------------------------------------
def econ_params_from_values(values: Mapping[str, int]) -> EconParams:
    """EconParams from the chain's integers (ppb rates, base-unit amounts, counts).

    Each value is already inside its bounds (check_param, at genesis and at enforcement), but
    governance changes one parameter at a time, so the band inflation_min <= target_inflation <=
    inflation_max can end up disordered. Epoch processing must never fail, so the band is repaired
    deterministically: the floor is capped at the top, and the target clamped into the band.
    """
    kwargs: dict[str, Fraction | int] = {}
    for spec in PARAM_SPECS:
        if spec.name in ECON_OFF_CHAIN and spec.name not in values:
            continue  # the chain never reads it: its econ default
        raw = int(values[spec.name])
        kwargs[spec.name] = Fraction(raw, PPB) if spec.kind == "rate" else raw
    low, high = kwargs["inflation_min"], kwargs["inflation_max"]
    low = min(low, high)
    kwargs["inflation_min"] = low
    kwargs["target_inflation"] = max(low, min(high, kwargs["target_inflation"]))
    try:
        return EconParams(**kwargs)  # type: ignore[arg-type]
    except UsageError as e:  # only reachable if the chain table and econ disagree: a bug
        raise RuntimeError(f"chain economic parameters are inconsistent: {e.message}") from None


def get_econ_params(state: StateLike) -> EconParams:
    """The economic parameters in force now (the one bridge from `param/<name>` to econ)."""
    return econ_params_from_values(get_econ_values(state))


# ---- fees and stakers --------------------------------------------------------------------------
def process_fee_collection(state: StateLike, fee: int, proposer: str) -> list[Event]:
    """A fee already taken from its payer: the proposer's cut (fee_proposer_ppm) to the proposer,
    the rest into this epoch's reward funding. Returns the receipt events."""
    if fee == 0:
        return []
    cut = fee * get_param(state, "fee_proposer_ppm") // PPM
    events: list[Event] = []
    if cut:
        increase_balance(state, proposer, cut)
        events.append({"type": "fee", "to": proposer, "amount": str(cut)})
    if fee - cut:
        state.put(EPOCH_FEES_KEY, int(state.get(EPOCH_FEES_KEY) or 0) + fee - cut)
        events.append({"type": "fee", "to": "rewards", "amount": str(fee - cut)})
    return events


def process_reward_settlement(state: StateLike, address: str) -> int:
    """Move a staker's accrued staking reward from the escrow to `reward/<addr>` and restart its
    snapshot at the accumulator's value. Must run before anything changes the bonded amount.
    Returns the amount settled. O(1)."""
    accrued = get_accrued_staking_reward(state, address)
    if accrued:
        state.put(REWARD_ESCROW_KEY, int(state.get(REWARD_ESCROW_KEY) or 0) - accrued)
        set_stored_rewards(state, address, get_stored_rewards(state, address) + accrued)
    snap = get_reward_acc(state).reward_per_stake
    key = reward_snapshot_key(address)
    if (state.get(key) or 0) != snap:
        state.put(key, snap or None)
    return accrued


def process_reward_payout(state: StateLike, address: str) -> int:
    """Settle, then empty `reward/<addr>`; returns what the claimer is owed (0: nothing)."""
    process_reward_settlement(state, address)
    amount = get_stored_rewards(state, address)
    if amount:
        set_stored_rewards(state, address, 0)
    return amount


# ---- epoch end ---------------------------------------------------------------------------------
def get_epoch_work(state: StateLike, epoch: int) -> tuple[int, dict[str, int], int]:
    """(D_ai, verified work per node, N_n) for `epoch` from what the marketplace recorded.

    No record means no verified work (zero demand, no nodes): econ then pays no protocol reward
    and passes fees to stakers. A node with verified work this epoch counts as active even if the
    window count lags."""
    work = get_epoch_work_record(state, epoch)
    compute: dict[str, int] = {a: w for a, w in sorted(work.compute.items()) if w}
    active = max(int(state.get(ACTIVE_NODES_KEY) or 0), len(compute))
    return work.demand, compute, active


def get_epoch_work_record(state: StateLike, epoch: int) -> EpochWork:
    """What the marketplace recorded for `epoch` (empty if nothing was verified)."""
    raw = state.get(epoch_work_key(epoch))
    return EpochWork() if raw is None else EpochWork.from_state(raw)


def put_epoch_work(state: StateLike, epoch: int, work: EpochWork) -> None:
    state.put(epoch_work_key(epoch), work.to_state())


def record_verified_work(state: StateLike, epoch: int, node: Address, fee: int, work: int) -> None:
    """Add a verified job's fee (D_ai) and work (C_g) to `epoch_work/<epoch>`."""
    record = get_epoch_work_record(state, epoch)
    compute = dict(record.compute)
    compute[node] = compute.get(node, 0) + work
    put_epoch_work(state, epoch, EpochWork(Units(record.demand + fee), compute))


def get_inflation_ppb(state: StateLike, params: EconParams) -> int:
    raw = state.get(INFLATION_KEY)
    return fraction_to_ppb(params.target_inflation) if raw is None else int(raw)


def compute_epoch_outcome(state: StateLike, epoch: int) -> EpochOutcome:
    """What econ decides for the epoch ending now, from chain state only (reads, no writes)."""
    params = get_econ_params(state)
    demand, compute, active = get_epoch_work(state, epoch)
    inputs = EpochInputs(
        epoch=epoch,
        demand=demand,
        compute_by_node=compute,
        active_nodes=active,
        total_staked=get_total_bonded(state),
        total_supply=get_supply(state),
        pools={name: get_pool(state, name) for name in POOL_NAMES},
        fees_collected=int(state.get(EPOCH_FEES_KEY) or 0),
        inflation_ppb=get_inflation_ppb(state, params),
        accumulator=get_reward_acc(state),
    )
    return process_epoch_economics(params, inputs)


def process_economics(state: StateLike, epoch: int) -> None:
    """Epoch-end step: run econ on the epoch's verified work and fees, and apply the outcome."""
    outcome = compute_epoch_outcome(state, epoch)
    for name in POOL_NAMES:
        if outcome.pools[name] != get_pool(state, name):
            set_pool(state, name, outcome.pools[name])
    if outcome.minted:
        state.put(SUPPLY_KEY, outcome.total_supply)
        state.put(MINTED_KEY, int(state.get(MINTED_KEY) or 0) + outcome.minted)
    state.put(INFLATION_KEY, outcome.inflation_ppb)
    if outcome.staking_reward or outcome.accumulator != get_reward_acc(state):
        put_reward_acc(state, outcome.accumulator)
        escrow = int(state.get(REWARD_ESCROW_KEY) or 0)
        state.put(REWARD_ESCROW_KEY, escrow + outcome.staking_reward)
    for node, amount in sorted(outcome.gpu_reward_by_node.items()):
        if amount:
            set_stored_rewards(state, node, get_stored_rewards(state, node) + amount)
    state.put(EPOCH_FEES_KEY, None)
    state.put(epoch_work_key(epoch), None)
    state.put(LAST_OUTCOME_KEY, outcome.to_dict())


def _check_table() -> None:
    """Every econ parameter has its chain row (derived in params.py) or is one the chain never
    reads (ECON_OFF_CHAIN); fail loudly if not."""
    missing = [s.name for s in PARAM_SPECS if s.name not in PARAMS and s.name not in ECON_OFF_CHAIN]
    if missing:
        raise RuntimeError(f"economic parameters without a chain row: {missing}")


_check_table()
