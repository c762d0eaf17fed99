"""Governance-tunable numbers of the chain: one table with defaults and bounds, kept in state.

Every parameter lives in state under `param/<name>` so governance (a later issue) can change it by a
transaction and every node sees the change at the same height. The bounds are code: a value outside
them is refused at genesis and will be refused by a governance proposal. A new capability adds its
parameters as rows of PARAMS.

| name             | kind  | default | min | max       | meaning                                   |
| ---------------- | ----- | ------- | --- | --------- | ----------------------------------------- |
| epoch_blocks     | count | 100     | 2   | 1_000_000 | blocks per epoch (epoch = height // this) |
| unbonding_epochs | count | 7       | 0   | 10_000    | full epochs unstaked tokens stay locked   |
| min_fee          | units | 10**15  | 0   | 10**24    | least fee of any transaction (0.001 NNET) |
| min_fee_per_byte | units | 10**13  | 0   | 10**21    | ...plus this per byte of it (chain/fees)  |
| max_block_txs    | count | 20_000  | 1   | 1_000_000 | most transactions in one block            |
| max_block_bytes  | count | 8 MiB   | 64 KiB | 12 MiB | most bytes of transactions in one block   |
| fee_proposer_ppm | ppm   | 0       | 0   | 1_000_000 | share of each fee paid to the proposer    |

plus the `gov_*` rows of governance and one row per economic parameter of `nnet.econ.params`
(PARAM_SPECS, same names and bounds, derived below, not copied): rates as "ppb" (parts per
billion, 0.05 = 50_000_000), amounts as "units" (base units), counts as "count". The one bridge
from these integers to `EconParams` is `chain.economics.get_econ_params` (through
`get_econ_values`).

Not every economic parameter is a chain row: ECON_OFF_CHAIN lists those the chain never reads,
which a vote could change without effect. `slash_fraction` is one: on chain a rejected proof
slashes `market_slash_ppm` of the job's collateral (all of it, the soundness floor of
econ/soundness.py) and a missed proof `market_miss_slash_ppm`; the econ model keeps its own
`slash_fraction` for simulations only.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from nnet.chain.keys import param_key
from nnet.chain.types import StateLike
from nnet.constants import PPB
from nnet.econ.params import PARAM_SPECS as ECON_PARAM_SPECS
from nnet.econ.params import Kind, ParamSpec
from nnet.errors import MalformedInput

__all__ = [
    "ECON_KINDS",
    "ECON_OFF_CHAIN",
    "NETWORK_PARAMS",
    "PARAMS",
    "PPB",
    "ParamSpec",
    "check_param",
    "get_econ_values",
    "get_param",
    "get_params_view",
    "param_key",
]


def _row(name: str, kind: Kind, default: int, low: int, high: int, doc: str) -> ParamSpec:
    """A chain row: an integer parameter (the one ParamSpec class, econ/params.py)."""
    return ParamSpec(name, kind, default, low, high, "", doc)


# econ kind -> chain kind: every econ rate is an exact multiple of 1e-9 (checked at import)
ECON_KINDS: dict[str, Kind] = {"rate": "ppb", "amount": "units", "count": "count"}


def _to_chain_int(spec: ParamSpec, value: Fraction | int) -> int:
    """An econ value as the integer the chain stores; refuses values finer than 1 ppb."""
    scaled = Fraction(value) * (PPB if spec.kind == "rate" else 1)
    if scaled.denominator != 1:
        raise RuntimeError(f"econ parameter {spec.name} value {value} is not a whole chain integer")
    return int(scaled)


def _econ_row(spec: ParamSpec) -> ParamSpec:
    """The chain row of one economic parameter: the same name, default, bounds and meaning."""
    return ParamSpec(
        spec.name,
        ECON_KINDS[spec.kind],
        _to_chain_int(spec, spec.default),
        _to_chain_int(spec, spec.min),
        _to_chain_int(spec, spec.max),
        spec.unit,
        spec.meaning,
    )


# economic parameters the chain does not read (see the module docstring), with the reason
ECON_OFF_CHAIN = {
    "slash_fraction": "on chain a rejected proof slashes market_slash_ppm of the collateral "
    "(all of it); slash_fraction is the econ model's number only",
}

_M = _row
_MARKET_PARAMS = (
    _M("market_max_verifiers", "count", 5, 1, 100, "most verifiers a job may ask for"),
    _M("market_max_deadline_epochs", "count", 1_000, 0, 100_000, "longest claim deadline"),
    _M("market_proof_epochs", "count", 2, 0, 10_000, "epochs after a claim to submit the proof"),
    _M("market_open_epochs", "count", 1, 0, 10_000, "epochs after the challenge to open it"),
    _M("market_attest_epochs", "count", 2, 0, 10_000, "epochs after the openings to attest"),
    _M("market_challenge_q", "count", 4, 1, 10_000, "least segments challenged per proof"),
    # Q scales with the job's N: the least Q catching >= detection_ppm of runs whose faked
    # (skipped) compute is >= faked_ppm (econ/soundness.py; docs/pol.md)
    _M("market_detection_ppm", "ppm", 990_000, 500_000, 999_999, "target chance to catch a fake"),
    _M("market_faked_ppm", "ppm", 100_000, 1_000, 1_000_000, "...faking this share of compute"),
    # an exact-mode proof is verified within its environment class only when that class is a
    # real pool: this many nodes holding this share of all verifier weight (docs/pol.md: Sybils)
    _M("market_min_class_pool", "count", 3, 1, 1_000, "least nodes in a verifier class pool"),
    _M("market_min_class_pool_ppm", "ppm", 333_334, 0, 1_000_000, "least weight share of a pool"),
    # soundness floor: collateral >= fee and a rejection slashes all of it (econ/soundness.py)
    _M("market_job_collateral_ppm", "ppm", 1_000_000, 1_000_000, 100_000_000, "collateral per fee"),
    _M("market_min_job_collateral", "units", 10**18, 0, 10**27, "least collateral per job"),
    _M("market_protocol_fee_ppm", "ppm", 20_000, 0, 500_000, "job fee share to the treasury"),
    _M("market_verifier_fee_ppm", "ppm", 50_000, 0, 500_000, "job fee share to verifiers"),
    _M("market_slash_ppm", "ppm", 1_000_000, 1_000_000, 1_000_000, "collateral slashed on reject"),
    _M("market_miss_slash_ppm", "ppm", 100_000, 0, 1_000_000, "slashed for a missed proof"),
    _M("market_start_reputation", "count", 5_000, 0, 10_000, "reputation of a new node"),
    _M("market_reputation_gain", "count", 100, 0, 10_000, "reputation per verified proof"),
    _M("market_reputation_penalty", "count", 1_000, 0, 10_000, "reputation lost on a reject"),
    _M("market_miss_reputation_penalty", "count", 250, 0, 10_000, "lost for a missed duty"),
    _M("market_active_window_epochs", "count", 7, 1, 10_000, "window for active nodes (N_n)"),
)

NETWORK_PARAMS: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        _row("max_validators", "count", 100, 1, 1_000, "size of the validator set"),
        _row(
            "double_sign_slash_ppm", "ppm", 50_000, 0, 1_000_000, "stake slashed for a double sign"
        ),
        _row("downtime_window", "count", 100, 10, 1_000_000, "blocks in a downtime window"),
        _row(
            "downtime_max_missed_ppm",
            "ppm",
            500_000,
            0,
            1_000_000,
            "share of a window a validator may miss before it is jailed",
        ),
        _row("downtime_slash_ppm", "ppm", 100, 0, 1_000_000, "stake slashed for downtime"),
        _row("downtime_jail_epochs", "count", 1, 0, 10_000, "epochs jailed for downtime"),
        _row("evidence_max_age", "count", 100_000, 1, 10_000_000, "blocks evidence stays valid"),
    )
}

PARAMS: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        _row("epoch_blocks", "count", 100, 2, 1_000_000, "blocks per epoch"),
        _row(
            "unbonding_epochs", "count", 7, 0, 10_000, "full epochs an unstaked amount stays locked"
        ),
        # the minimum fee (chain/fees.py): min_fee + min_fee_per_byte x signed size in bytes;
        # a transfer (~330 bytes) pays ~0.0043 NNET, a 64 KiB transaction ~0.66 NNET
        # (docs/economics.md, "Transaction fees")
        _row("min_fee", "units", 10**15, 0, 10**24, "least fee of any transaction"),
        _row(
            "min_fee_per_byte", "units", 10**13, 0, 10**21, "minimum fee per byte of a transaction"
        ),
        _row("max_block_txs", "count", 20_000, 1, 1_000_000, "most transactions in one block"),
        # every valid transaction fits (MAX_TX_BYTES); at most 12 MiB so a block, served alone,
        # stays under the 16 MiB a GET /blocks page may hold
        _row(
            "max_block_bytes",
            "count",
            8 << 20,
            64 << 10,
            12 << 20,
            "most transaction bytes in a block",
        ),
        # tokenomics (chain/economics.py): fees go to the epoch's reward funding; governance may
        # give the block's proposer a cut first
        _row("fee_proposer_ppm", "ppm", 0, 0, 1_000_000, "share of each fee paid to the proposer"),
        # governance (chain/governance.py, docs/governance.md); ppm = parts per million
        _row("gov_deposit_epochs", "count", 2, 1, 10_000, "epochs a proposal may gather deposits"),
        _row("gov_voting_epochs", "count", 2, 1, 10_000, "epochs a proposal is open for votes"),
        _row("gov_min_deposit", "units", 100 * 10**18, 0, 10**27, "deposit that opens voting"),
        _row(
            "gov_min_propose_deposit",
            "units",
            10 * 10**18,
            0,
            10**27,
            "least deposit a gov.propose must carry (the proposer's)",
        ),
        _row(
            "gov_quorum_ppm", "ppm", 334_000, 0, 1_000_000, "share of bonded stake that must vote"
        ),
        _row("gov_threshold_ppm", "ppm", 500_000, 1, 1_000_000, "yes share needed to pass"),
        _row("gov_veto_ppm", "ppm", 334_000, 1, 1_000_000, "veto share that rejects and burns"),
        _row(
            "gov_reputation_bonus_ppm",
            "ppm",
            200_000,
            0,
            1_000_000,
            "extra voting weight of a node at full reputation",
        ),
        # the training marketplace (chain/market.py, docs/marketplace.md)
        *_MARKET_PARAMS,
        # a network of validators (chain/validators.py, docs/network.md); written to state at
        # genesis only on a network chain
        *NETWORK_PARAMS.values(),
        *(_econ_row(spec) for spec in ECON_PARAM_SPECS if spec.name not in ECON_OFF_CHAIN),
    )
}


def check_param(name: str, value: object) -> int:
    """A parameter value as an int, refusing unknown names and values outside the bounds."""
    spec = PARAMS.get(name)
    if spec is None:
        raise MalformedInput(f"unknown parameter {name!r}", hint=f"known: {', '.join(PARAMS)}")
    if isinstance(value, str) and (value.isascii() and value.isdigit()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInput(f"parameter {name} must be an integer")
    if not spec.min <= value <= spec.max:
        raise MalformedInput(f"parameter {name} = {value} is outside [{spec.min}, {spec.max}]")
    return value


def get_param(state: StateLike, name: str) -> int:
    """The current value of a parameter (its default if the state has never set it)."""
    value = state.get(param_key(name))
    return int(PARAMS[name].default) if value is None else int(value)


def get_econ_values(state: StateLike) -> dict[str, int]:
    """Every economic parameter as the chain integer in force: the chain rows from state, the
    ECON_OFF_CHAIN ones at their econ default (nothing on chain reads them)."""
    return {
        spec.name: (
            _to_chain_int(spec, spec.default)
            if spec.name in ECON_OFF_CHAIN
            else get_param(state, spec.name)
        )
        for spec in ECON_PARAM_SPECS
    }


def get_params_view(state: StateLike) -> dict[str, dict[str, Any]]:
    """The table as the daemon serves it: amounts (and any number that may pass 2^53, as
    PROTOCOL.md asks) as decimal strings, other counts, ppm and ppb as integers."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in PARAMS.items():
        value = get_param(state, name)
        if spec.kind == "units" or spec.max > 2**53:
            out[name] = {
                "value": str(value),
                "min": str(spec.min),
                "max": str(spec.max),
                "kind": spec.kind,
                "doc": spec.doc,
            }
        else:
            out[name] = {
                "value": value,
                "min": spec.min,
                "max": spec.max,
                "kind": spec.kind,
                "doc": spec.doc,
            }
    return out
