"""The whitepaper's two reward formulas, made dimensionless and bounded.

Whitepaper (section 4), names kept:

    Y     = (T_r / S_t) * (D_ai * C_g / N_n)           staking APY
    R_gpu = (D_ai * C_g / N_n) * (S_t / T_s)           reward per training node

D_ai (fees), C_g (work units) and N_n (a count) have different units, so each is divided by a
governance reference first (docs/economics.md explains why):

    d = D_ai / D_target     c = C_g / C_ref     n = N_n / N_ref     w = min(d * c / n, w_max)

and the formulas become, with T_r and T_g the yearly staking and GPU shares of the (decaying)
maximum reward pool and E the epochs per year:

    Y     = min((T_r / S_t) * w, max_apy)                               per year
    R_gpu = (T_g / (E * N_ref)) * w * (S_t / T_s) / bonded_goal     per node per epoch

Every factor is 1 at the reference point, where stakers earn T_r a year and the average node
T_g / N_ref. Everything is a Fraction; callers floor to base units at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from nnet.econ.fixedpoint import POW_SCALE, compute_fixed_pow, floor_fraction
from nnet.econ.params import EconParams

__all__ = [
    "Indices",
    "compute_R_gpu",
    "compute_Y",
    "compute_compute_index",
    "compute_demand_index",
    "compute_indices",
    "compute_max_reward_pool",
    "compute_node_index",
    "compute_work_index",
    "get_T_g",
    "get_T_r",
]


@dataclass(frozen=True)
class Indices:
    """The dimensionless inputs of one epoch."""

    d: Fraction  # demand index: D_ai per year / demand_target
    c: Fraction  # compute index: average verified work per active node per year / compute_ref
    n: Fraction  # node index: N_n / nodes_ref
    w: Fraction  # work index: min(d * c / n, max_work_index); 0 with no nodes
    b: Fraction  # bonded ratio: S_t / T_s


def compute_demand_index(params: EconParams, D_ai: int) -> Fraction:
    """d = yearly rate of verified job fees / demand_target (D_ai is this epoch's fees)."""
    return Fraction(D_ai * params.epochs_per_year, params.demand_target)


def compute_compute_index(params: EconParams, total_compute: int, N_n: int) -> Fraction:
    """c = C_g / C_ref, with C_g the average verified work per active node (per year)."""
    if N_n == 0:
        return Fraction(0)
    return Fraction(total_compute * params.epochs_per_year, N_n * params.compute_ref)


def compute_node_index(params: EconParams, N_n: int) -> Fraction:
    """n = N_n / nodes_ref."""
    return Fraction(N_n, params.nodes_ref)


def compute_work_index(params: EconParams, d: Fraction, c: Fraction, n: Fraction) -> Fraction:
    """w = D_ai * C_g / N_n in index form, capped; 0 when there are no nodes (nothing to pay)."""
    if n == 0:
        return Fraction(0)
    return min(d * c / n, params.max_work_index)


def compute_indices(
    params: EconParams, D_ai: int, total_compute: int, N_n: int, S_t: int, T_s: int
) -> Indices:
    """All indices of one epoch from the chain's verified numbers."""
    d = compute_demand_index(params, D_ai)
    c = compute_compute_index(params, total_compute, N_n)
    n = compute_node_index(params, N_n)
    b = Fraction(S_t, T_s) if T_s else Fraction(0)
    return Indices(d=d, c=c, n=n, w=compute_work_index(params, d, c, n), b=b)


def compute_max_reward_pool(params: EconParams, epoch: int) -> int:
    """The yearly reward ceiling at `epoch`: max_reward_pool * (1 - decay)**years, decaying
    linearly within each year (so it shrinks every epoch, with no cliff at a year boundary)."""
    year, into_year = divmod(epoch, params.epochs_per_year)
    keep = 1 - params.reward_pool_decay
    start = params.max_reward_pool * compute_fixed_pow(keep, year) // POW_SCALE
    end = floor_fraction(start * keep)
    return start - (start - end) * into_year // params.epochs_per_year


def get_T_r(params: EconParams, max_pool: int) -> Fraction:
    """T_r: the yearly rewards allocated to staking."""
    return max_pool * params.staking_share


def get_T_g(params: EconParams, max_pool: int) -> Fraction:
    """T_g: the yearly rewards allocated to GPU nodes."""
    return max_pool * (1 - params.staking_share)


def compute_Y(params: EconParams, T_r: Fraction, S_t: int, w: Fraction) -> Fraction:
    """Y = (T_r / S_t) * w, capped at max_apy. With nothing staked Y is the capped yield a first
    staker would get (max_apy if anything is allocated at all), so Y never rises with stake."""
    if T_r * w == 0:
        return Fraction(0)
    if S_t == 0:
        return params.max_apy
    return min(T_r / S_t * w, params.max_apy)


def compute_R_gpu(params: EconParams, T_g: Fraction, w: Fraction, S_t: int, T_s: int) -> Fraction:
    """R_gpu = (T_g / (E * N_ref)) * w * (S_t / T_s) / bonded_goal, per node per epoch.

    Since w carries N_ref / N_n, the total over all nodes, N_n * R_gpu, does not grow with the
    node count (until w hits its cap): more nodes share the same reward.
    """
    if T_s == 0:
        return Fraction(0)
    per_node = T_g / (params.epochs_per_year * params.nodes_ref)
    return per_node * w * Fraction(S_t, T_s) / params.bonded_goal
