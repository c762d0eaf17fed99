"""Genesis: the JSON file that fixes a chain's id, sequencer, parameters and initial allocations.

    {"chain": "nnet-devnet", "time_ms": 1767225600000, "sequencer": "0x…",
     "supply": "1000000000000000000000000000",
     "pools": {"staking_rewards": "…", "gpu_rewards": "…", "public": "…", "team": "…",
               "treasury": "…", "reserve": "…"},
     "accounts": {"0x…": "units"}, "stakes": {"0x…": "units"}, "params": {"epoch_blocks": 100},
     "validators": [{"address": "0x…", "bls_key": "0x…", "pop": "0x…", "net": "http://…"}]}

`validators` (optional) makes the chain a network of validators (NETWORK.md, chain/validators.py):
each is registered at genesis, with its BLS key's proof of possession checked, and needs at least
one NNET in `stakes`; together they are the first validator set, in force from block 1. Without
it the chain is the single-sequencer chain, and its genesis state is exactly what it always was.

Rules (checked by `parse_genesis`): every pool of accounts.POOLS is present; pools + accounts +
stakes add up to `supply` exactly; addresses are EIP-55; params are known and inside their bounds.
`make_devnet_genesis` splits a supply into the pools by their percentages and pays funded
accounts and validator stakes out of the `public` pool, as ECONOMICS.md's market allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnet.chain.accounts import POOLS
from nnet.chain.keys import (
    CHAIN_ID_KEY,
    SEQUENCER_KEY,
    SUPPLY_KEY,
    TOTAL_BONDED_KEY,
    VALIDATOR_LIST_KEY,
    VALSET_KEY,
    account_key,
    param_key,
    pool_key,
    stake_key,
    validator_bls_key,
)
from nnet.chain.params import NETWORK_PARAMS, PARAMS, check_param
from nnet.chain.state import State
from nnet.chain.types import Account, Stake, Units
from nnet.crypto import normalize_address
from nnet.econ.pools import compute_genesis_pools
from nnet.encoding import UNIT, hex_to_bytes, parse_units
from nnet.errors import MalformedInput

__all__ = [
    "DEVNET_SUPPLY",
    "Genesis",
    "GenesisValidator",
    "compute_genesis_state",
    "make_devnet_genesis",
    "parse_genesis",
]

DEVNET_SUPPLY = 10**9 * UNIT


@dataclass(frozen=True)
class GenesisValidator:
    address: str
    bls_key: bytes
    pop: bytes
    net: str

    def to_dict(self) -> dict[str, str]:
        return {
            "address": self.address,
            "bls_key": "0x" + self.bls_key.hex(),
            "pop": "0x" + self.pop.hex(),
            "net": self.net,
        }


@dataclass(frozen=True)
class Genesis:
    chain: str
    time_ms: int
    sequencer: str
    supply: int
    pools: dict[str, int]
    accounts: dict[str, int] = field(default_factory=dict)
    stakes: dict[str, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    validators: tuple[GenesisValidator, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "chain": self.chain,
            "time_ms": self.time_ms,
            "sequencer": self.sequencer,
            "supply": str(self.supply),
            "pools": {k: str(v) for k, v in self.pools.items()},
            "accounts": {k: str(v) for k, v in sorted(self.accounts.items())},
            "stakes": {k: str(v) for k, v in sorted(self.stakes.items())},
            "params": dict(self.params),
        }
        if self.validators:
            out["validators"] = [v.to_dict() for v in self.validators]
        return out


def _address_map(obj: object, what: str) -> dict[str, int]:
    if not isinstance(obj, dict):
        raise MalformedInput(f"genesis {what} must be an object of address: units")
    out: dict[str, int] = {}
    for addr, units in obj.items():
        canonical = normalize_address(addr, f"genesis {what} address")
        if canonical in out:
            raise MalformedInput(f"genesis {what} lists {canonical} twice")
        out[canonical] = parse_units(units, f"genesis {what}[{canonical}]")
    return out


def parse_genesis(obj: object) -> Genesis:
    """Check a decoded genesis JSON and return it; MalformedInput names the first problem."""
    if not isinstance(obj, dict):
        raise MalformedInput("genesis must be a JSON object")
    known = {
        "chain",
        "time_ms",
        "sequencer",
        "supply",
        "pools",
        "accounts",
        "stakes",
        "params",
        "validators",
    }
    unknown = set(obj) - known
    if unknown:
        raise MalformedInput(f"unknown genesis field {sorted(unknown)[0]!r}")
    for name in ("chain", "time_ms", "sequencer", "supply", "pools"):
        if name not in obj:
            raise MalformedInput(f"genesis is missing {name!r}")
    chain = obj["chain"]
    if not isinstance(chain, str) or not 0 < len(chain) <= 64:
        raise MalformedInput("genesis chain must be a string of 1 to 64 characters")
    time_ms = obj["time_ms"]
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms < 0:
        raise MalformedInput("genesis time_ms must be a non-negative integer")
    sequencer = normalize_address(obj["sequencer"], "genesis sequencer")
    supply = parse_units(obj["supply"], "genesis supply")
    raw_pools = obj["pools"]
    if not isinstance(raw_pools, dict) or set(raw_pools) != set(POOLS):
        raise MalformedInput(f"genesis pools must be exactly {', '.join(POOLS)}")
    pools = {name: parse_units(raw_pools[name], f"genesis pools.{name}") for name in POOLS}
    accounts = _address_map(obj.get("accounts", {}), "accounts")
    stakes = _address_map(obj.get("stakes", {}), "stakes")
    raw_params = obj.get("params", {})
    if not isinstance(raw_params, dict):
        raise MalformedInput("genesis params must be an object")
    params = {name: check_param(name, value) for name, value in raw_params.items()}
    total = sum(pools.values()) + sum(accounts.values()) + sum(stakes.values())
    if total != supply:
        raise MalformedInput(
            f"genesis allocations add up to {total} units, not the supply {supply}"
        )
    validators = _validators(obj.get("validators", []), stakes)
    return Genesis(chain, time_ms, sequencer, supply, pools, accounts, stakes, params, validators)


MAX_GENESIS_VALIDATORS = 1_000


def _validators(obj: object, stakes: dict[str, int]) -> tuple[GenesisValidator, ...]:
    from nnet import bls
    from nnet.chain.validators import POWER_UNIT

    if not isinstance(obj, list) or len(obj) > MAX_GENESIS_VALIDATORS:
        raise MalformedInput(
            f"genesis validators must be a list of at most {MAX_GENESIS_VALIDATORS}"
        )
    out: list[GenesisValidator] = []
    seen: set[str] = set()
    for i, raw in enumerate(obj):
        where = f"genesis validators[{i}]"
        if not isinstance(raw, dict) or set(raw) != {"address", "bls_key", "pop", "net"}:
            raise MalformedInput(f"{where} must have exactly address, bls_key, pop and net")
        address = normalize_address(raw["address"], f"{where}.address")
        key = hex_to_bytes(raw["bls_key"], f"{where}.bls_key", bls.PK_LEN)
        pop = hex_to_bytes(raw["pop"], f"{where}.pop", bls.SIG_LEN)
        net = raw["net"]
        if (
            not isinstance(net, str)
            or not net.startswith(("http://", "https://"))
            or len(net) > 200
        ):
            raise MalformedInput(f"{where}.net must be an http(s):// URL")
        if address in seen or key.hex() in seen:
            raise MalformedInput(f"{where} repeats an address or a BLS key")
        seen |= {address, key.hex()}
        if stakes.get(address, 0) < POWER_UNIT:
            raise MalformedInput(f"{where} ({address}) needs at least 1 NNET in genesis stakes")
        if not bls.pop_verify(key, pop, address):
            raise MalformedInput(f"{where}: the proof of possession does not verify")
        out.append(GenesisValidator(address, key, pop, net))
    return tuple(out)


def make_devnet_genesis(
    chain: str,
    sequencer: str,
    *,
    time_ms: int,
    supply: int = DEVNET_SUPPLY,
    validators: dict[str, int] | None = None,
    fund: dict[str, int] | None = None,
    params: dict[str, int] | None = None,
    validators_info: list[dict[str, str]] | None = None,
) -> Genesis:
    """Pools by ECONOMICS.md's percentages; validator stakes and funded accounts from `public`.
    `validators_info` (the genesis `validators` list) makes the chain a network."""
    pools = compute_genesis_pools(supply)  # the one table; rounding dust to `reserve`
    stakes = dict(validators or {})
    accounts = dict(fund or {})
    needed = sum(stakes.values()) + sum(accounts.values())
    if needed > pools["public"]:
        raise MalformedInput(
            f"funding and validator stakes need {needed} units; the public pool holds "
            f"{pools['public']}"
        )
    pools["public"] -= needed
    genesis = Genesis(
        chain, time_ms, sequencer, supply, pools, accounts, stakes, dict(params or {})
    )
    raw = genesis.to_dict()
    if validators_info:
        raw["validators"] = list(validators_info)
    return parse_genesis(raw)  # the same checks a file read from disk gets


def compute_genesis_state(genesis: Genesis) -> State:
    """The state before block 1, with its writes journaled (for the genesis state root)."""
    state = State()
    state.put(CHAIN_ID_KEY, genesis.chain)
    state.put(SEQUENCER_KEY, genesis.sequencer)
    state.put(SUPPLY_KEY, genesis.supply)
    for name, amount in genesis.pools.items():
        state.put(pool_key(name), amount)
    for name in PARAMS:
        if name in NETWORK_PARAMS and not genesis.validators:
            continue  # a sequencer chain's genesis state is what it always was
        state.put(param_key(name), genesis.params.get(name, PARAMS[name].default))
    for address, amount in genesis.accounts.items():
        state.put(account_key(address), Account(Units(amount), 0).to_state())
    for address, amount in genesis.stakes.items():
        state.put(stake_key(address), Stake(Units(amount)).to_state())
    state.put(TOTAL_BONDED_KEY, sum(genesis.stakes.values()))
    if genesis.validators:
        _genesis_validators(state, genesis)
    return state


def _genesis_validators(state: State, genesis: Genesis) -> None:
    """Register the genesis validators; they are the set from block 1."""
    from nnet.chain.commit import ValidatorKey
    from nnet.chain.validators import (
        POWER_UNIT,
        ValidatorRecord,
        ValidatorSet,
        put_validator,
        set_order,
    )

    members = []
    for v in genesis.validators:
        key_hex = "0x" + v.bls_key.hex()
        put_validator(state, v.address, ValidatorRecord(key_hex, v.net))
        state.put(validator_bls_key(key_hex), v.address)
        members.append(ValidatorKey(v.address, v.bls_key, genesis.stakes[v.address] // POWER_UNIT))
    state.put(VALIDATOR_LIST_KEY, sorted((v.address for v in genesis.validators), key=str.lower))
    ordered = tuple(sorted(members, key=set_order))
    state.put(VALSET_KEY, ValidatorSet(1, ordered).to_state())
