"""The tokenomics on chain: econ parameters from state, fee collection, F1 settlement, epoch step.

`nnet.econ` is pure (params in, outcome out); this module is the one bridge between it and the
chain state. Nothing here loops over stakers: the epoch step is O(1) in stakers (O(nodes) for the
per-node GPU split), and settling or claiming one staker's reward is O(1).

State keys (also in state.py's table):

| key                  | value                                                                  |
| -------------------- | ---------------------------------------------------------------------- |
| epoch_fees           | tx fees collected since the last epoch end, to fund rewards (int)      |
| epoch_work/<epoch>   | {"demand": int, "compute": {addr: int}}: verified job fees (D_ai) and  |
|                      | verified work units per node this epoch; written by the marketplace    |
| active_nodes         | N_n: nodes with a verified proof in the recent window (int; marketplace)|
| inflation_ppb        | current minting rate, ppb a year (int; absent = target_inflation)      |
| reward_acc           | {"reward_per_stake": int, "carry": int}: the F1 accumulator (x 10^36) |
| reward_snap/<addr>   | accumulator value at the staker's last settlement (int; absent = 0)    |
| reward_escrow        | staking rewards credited to the accumulator and not yet settled (int)  |
| minted               | total minted since genesis (int)                                       |
| econ/last            | the last epoch's outcome (EpochOutcome.to_dict)                        |

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
from typing import Any

from nnet.chain.accounts import (
    StateLike,
    get_accrued_staking_reward,
    get_pool,
    get_reward_acc,
    get_stored_rewards,
    get_supply,
    get_total_bonded,
    increase_balance,
    set_pool,
)
from nnet.chain.params import ECON_OFF_CHAIN, PARAMS, PPB, get_econ_values, get_param
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
    "process_economics",
    "process_fee_collection",
    "process_reward_settlement",
]

EPOCH_FEES_KEY = "epoch_fees"
REWARD_ESCROW_KEY = "reward_escrow"
ACTIVE_NODES_KEY = "active_nodes"
INFLATION_KEY = "inflation_ppb"
MINTED_KEY = "minted"
LAST_OUTCOME_KEY = "econ/last"


def epoch_work_key(epoch: int) -> str:
    return f"epoch_work/{epoch}"


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
def process_fee_collection(state: StateLike, fee: int, proposer: str) -> list[dict[str, Any]]:
    """A fee already taken from its payer: the proposer's cut (fee_proposer_ppm) to the proposer,
    the rest into this epoch's reward funding. Returns the receipt events."""
    if fee == 0:
        return []
    cut = fee * get_param(state, "fee_proposer_ppm") // 1_000_000
    events: list[dict[str, Any]] = []
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
        state.put(f"reward/{address}", get_stored_rewards(state, address) + accrued)
    snap = get_reward_acc(state).reward_per_stake
    key = f"reward_snap/{address}"
    if (state.get(key) or 0) != snap:
        state.put(key, snap or None)
    return accrued


def process_reward_payout(state: StateLike, address: str) -> int:
    """Settle, then empty `reward/<addr>`; returns what the claimer is owed (0: nothing)."""
    process_reward_settlement(state, address)
    amount = get_stored_rewards(state, address)
    if amount:
        state.put(f"reward/{address}", None)
    return amount


# ---- epoch end ---------------------------------------------------------------------------------
def get_epoch_work(state: StateLike, epoch: int) -> tuple[int, dict[str, int], int]:
    """(D_ai, verified work per node, N_n) for `epoch` from what the marketplace recorded.

    No record means no verified work (zero demand, no nodes): econ then pays no protocol reward
    and passes fees to stakers. A node with verified work this epoch counts as active even if the
    window count lags."""
    record = state.get(epoch_work_key(epoch)) or {}
    demand = int(record.get("demand", 0))
    compute = {str(a): int(w) for a, w in sorted((record.get("compute") or {}).items()) if int(w)}
    active = max(int(state.get(ACTIVE_NODES_KEY) or 0), len(compute))
    return demand, compute, active


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
        state.put("supply", outcome.total_supply)
        state.put(MINTED_KEY, int(state.get(MINTED_KEY) or 0) + outcome.minted)
    state.put(INFLATION_KEY, outcome.inflation_ppb)
    if outcome.staking_reward or outcome.accumulator != get_reward_acc(state):
        acc = outcome.accumulator
        state.put("reward_acc", {"reward_per_stake": acc.reward_per_stake, "carry": acc.carry})
        escrow = int(state.get(REWARD_ESCROW_KEY) or 0)
        state.put(REWARD_ESCROW_KEY, escrow + outcome.staking_reward)
    for node, amount in sorted(outcome.gpu_reward_by_node.items()):
        if amount:
            state.put(f"reward/{node}", get_stored_rewards(state, node) + amount)
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
