"""Epoch-end economics: one pure function from (params, what the chain verified) to the outcome.

The chain calls `process_epoch_economics` in the last block of each epoch with D_ai, C_g and N_n
taken from verified chain data (job fees of verified work, verified work per node, nodes with a
verified proof in the recent window), never from self-reported numbers. The simulator calls the
very same function. Steps, in order (as consensus-specs' process_epoch):

1. check the inputs
2. compute the dimensionless indices d, c, n, w, b
3. move the inflation rate one step toward its demand goal
4. compute what is due: Y for stakers, R_gpu for nodes, under the decaying maximum reward pool
5. fund it from fees, then the reward pools, then minting (emission.py)
6. credit stakers through the reward accumulator, nodes by their share of verified work
7. new pool balances and supply

Cost is O(1) in the number of stakers and O(nodes) for the per-node GPU split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from nnet.econ.emission import Funding, compute_funding, compute_next_inflation
from nnet.econ.fixedpoint import PPB, floor_fraction, format_fraction
from nnet.econ.formulas import (
    Indices,
    compute_indices,
    compute_max_reward_pool,
    compute_R_gpu,
    compute_Y,
    get_T_g,
    get_T_r,
)
from nnet.econ.params import EconParams
from nnet.econ.pools import GPU_POOL, STAKING_POOL, TREASURY_POOL, validate_pools
from nnet.econ.rewards import RewardAccumulator, process_accrual
from nnet.errors import MalformedInput

__all__ = ["EpochInputs", "EpochOutcome", "process_epoch_economics"]


@dataclass(frozen=True)
class EpochInputs:
    """What the chain knows at the end of an epoch (base units unless said otherwise)."""

    epoch: int  # epochs since genesis (drives the decay of the maximum reward pool)
    demand: int  # D_ai: job fees paid for work verified this epoch
    compute_by_node: Mapping[str, int]  # verified work units per node this epoch
    active_nodes: int  # N_n: nodes with a verified proof in the recent window
    total_staked: int  # S_t
    total_supply: int  # T_s
    pools: Mapping[str, int]  # the six genesis pools' balances
    fees_collected: int  # transaction fees collected this epoch, to distribute
    inflation_ppb: int  # current minting rate, parts per billion per year (chain state)
    accumulator: RewardAccumulator  # staking reward-per-stake accumulator (chain state)

    def validate(self) -> None:
        """Refuse inputs no chain could produce; nothing is computed from bad data."""
        for name in (
            "epoch",
            "demand",
            "active_nodes",
            "total_staked",
            "total_supply",
            "fees_collected",
            "inflation_ppb",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MalformedInput(f"{name} must be a non-negative integer, got {value!r}")
        for node, work in self.compute_by_node.items():
            if isinstance(work, bool) or not isinstance(work, int) or work < 0:
                raise MalformedInput(f"verified work of node {node} must be a non-negative integer")
        if len(self.compute_by_node) > self.active_nodes:
            raise MalformedInput(
                f"{len(self.compute_by_node)} nodes did verified work but only "
                f"{self.active_nodes} are counted active"
            )
        validate_pools(self.pools)
        if self.total_staked > self.total_supply:
            raise MalformedInput("total staked exceeds total supply")
        if sum(self.pools.values()) + self.fees_collected > self.total_supply:
            raise MalformedInput("pools plus collected fees exceed total supply")
        if self.inflation_ppb > PPB:
            raise MalformedInput("inflation rate above 100 % a year")


@dataclass(frozen=True)
class EpochOutcome:
    """Everything epoch-end processing decided; the chain applies it, the simulator records it."""

    epoch: int
    indices: Indices
    max_reward_pool: int  # yearly ceiling at this epoch
    Y: Fraction  # staking APY from the formula (protocol-funded, capped)
    R_gpu: Fraction  # formula reward per average node this epoch
    staking_due: int
    gpu_due: int
    funding: Funding
    staking_reward: int  # credited to stakers through the accumulator
    gpu_reward: int  # paid to nodes, sum of gpu_reward_by_node
    gpu_reward_by_node: dict[str, int]
    gpu_dust: int  # rounding remainder of the per-node split, to treasury
    minted: int
    paid_from_pools: dict[str, int]
    pools: dict[str, int]  # balances after this epoch
    total_supply: int
    inflation_ppb: int
    accumulator: RewardAccumulator

    def realised_apy(self, params: EconParams, total_staked: int) -> Fraction:
        """Staking reward actually credited this epoch, as a yearly rate on the stake."""
        if total_staked == 0:
            return Fraction(0)
        return Fraction(self.staking_reward * params.epochs_per_year, total_staked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: amounts as base-unit strings, rates as decimal strings."""
        f = self.funding
        return {
            "epoch": self.epoch,
            "d": format_fraction(self.indices.d, 9),
            "c": format_fraction(self.indices.c, 9),
            "n": format_fraction(self.indices.n, 9),
            "w": format_fraction(self.indices.w, 9),
            "Y": format_fraction(self.Y, 9),
            "R_gpu": str(floor_fraction(self.R_gpu)),
            "staking_due": str(self.staking_due),
            "gpu_due": str(self.gpu_due),
            "staking_reward": str(self.staking_reward),
            "gpu_reward": str(self.gpu_reward),
            "gpu_reward_by_node": {k: str(v) for k, v in self.gpu_reward_by_node.items()},
            "fees_to_treasury": str(f.fees_to_treasury + self.gpu_dust),
            "minted": str(self.minted),
            "shortfall": str(f.shortfall),
            "paid_from_pools": {k: str(v) for k, v in self.paid_from_pools.items()},
            "pools": {k: str(v) for k, v in self.pools.items()},
            "total_supply": str(self.total_supply),
            "inflation_ppb": self.inflation_ppb,
            "accumulator": self.accumulator.to_dict(),
        }


def compute_node_split(
    total: int, compute_by_node: Mapping[str, int]
) -> tuple[dict[str, int], int]:
    """Split `total` by each node's share of verified work, rounding down; returns the dust too."""
    work = sum(compute_by_node.values())
    if work == 0:
        return {}, total
    shares = {node: total * w // work for node, w in compute_by_node.items() if w}
    return shares, total - sum(shares.values())


def process_epoch_economics(params: EconParams, inputs: EpochInputs) -> EpochOutcome:
    """Run epoch-end economics; see the module docstring for the steps."""
    inputs.validate()
    S_t, T_s, N_n = inputs.total_staked, inputs.total_supply, inputs.active_nodes
    total_work = sum(inputs.compute_by_node.values())

    idx = compute_indices(params, inputs.demand, total_work, N_n, S_t, T_s)
    inflation = compute_next_inflation(params, inputs.inflation_ppb, idx.d)

    max_pool = compute_max_reward_pool(params, inputs.epoch)
    T_r, T_g = get_T_r(params, max_pool), get_T_g(params, max_pool)
    Y = compute_Y(params, T_r, S_t, idx.w)
    R_gpu = compute_R_gpu(params, T_g, idx.w, S_t, T_s)
    has_stake, has_compute = S_t > 0, total_work > 0
    staking_due = floor_fraction(Y * S_t / params.epochs_per_year)
    gpu_due = floor_fraction(R_gpu * N_n) if has_compute else 0

    funding = compute_funding(
        params,
        staking_due=staking_due,
        gpu_due=gpu_due,
        fees=inputs.fees_collected,
        has_stake=has_stake,
        has_compute=has_compute,
        pools=inputs.pools,
        T_s=T_s,
        inflation_ppb=inflation,
    )
    staking_reward, gpu_total = funding.staking_total, funding.gpu_total
    by_node, dust = compute_node_split(gpu_total, inputs.compute_by_node)
    accumulator = process_accrual(inputs.accumulator, staking_reward, S_t)

    paid_from_pools = {STAKING_POOL: funding.pool_to_staking, GPU_POOL: funding.pool_to_gpu}
    pools = dict(inputs.pools)
    pools[STAKING_POOL] -= funding.pool_to_staking
    pools[GPU_POOL] -= funding.pool_to_gpu
    pools[TREASURY_POOL] += funding.fees_to_treasury + dust
    return EpochOutcome(
        epoch=inputs.epoch,
        indices=idx,
        max_reward_pool=max_pool,
        Y=Y,
        R_gpu=R_gpu,
        staking_due=staking_due,
        gpu_due=gpu_due,
        funding=funding,
        staking_reward=staking_reward,
        gpu_reward=gpu_total - dust,
        gpu_reward_by_node=by_node,
        gpu_dust=dust,
        minted=funding.minted,
        paid_from_pools=paid_from_pools,
        pools=pools,
        total_supply=T_s + funding.minted,
        inflation_ppb=inflation,
        accumulator=accumulator,
    )
