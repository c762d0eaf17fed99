"""Tokenomics: the whitepaper's formulas in fixed-point, emission, pools, rewards, slashing.

Pure and deterministic (ints and Fractions; no floats, clock, randomness or I/O), so the chain's
epoch-end processing and `nnet econ simulate` run the same code. Entry points:

    EconParams                    every governance parameter, with bounds (params.py)
    process_epoch_economics       one epoch: indices, emission, funding, rewards (epoch.py)
    RewardAccumulator & helpers   pull-based staking rewards, O(1) per epoch and claim (rewards.py)
    compute_slash                 the slashing split (slashing.py)
    compute_genesis_pools         the six genesis pools (pools.py)
"""

from __future__ import annotations

from nnet.econ.epoch import EpochInputs, EpochOutcome, process_epoch_economics
from nnet.econ.params import PARAM_SPECS, EconParams, ParamSpec
from nnet.econ.pools import POOL_NAMES, compute_genesis_pools
from nnet.econ.rewards import (
    RewardAccumulator,
    StakePosition,
    get_pending_reward,
    process_accrual,
    process_claim,
    process_stake_change,
)
from nnet.econ.slashing import SlashOutcome, compute_slash

__all__ = [
    "PARAM_SPECS",
    "POOL_NAMES",
    "EconParams",
    "EpochInputs",
    "EpochOutcome",
    "ParamSpec",
    "RewardAccumulator",
    "SlashOutcome",
    "StakePosition",
    "compute_genesis_pools",
    "compute_slash",
    "get_pending_reward",
    "process_accrual",
    "process_claim",
    "process_epoch_economics",
    "process_stake_change",
]
