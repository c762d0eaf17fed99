"""The validator set of a network chain: registration, the active set, jailing and slashing.

A chain whose genesis lists validators is a network (NETWORK.md); one without is the single
sequencer chain, and none of this runs for it (`is_network`).

- **Registration** (`validator.register`): a staker names a BLS12-381 public key, its proof of
  possession and a network address. A key can belong to one validator only (`validator_bls/`).
- **The active set** (`valset`): the top `max_validators` registered, unjailed validators by
  bonded stake, power = bonded // 10**18 (whole NNET). It is recomputed in the last block of each
  epoch and takes effect from the next block, so the set that signs a block is fixed an epoch
  ahead. The set before (`valset_prev`) is kept for the certificate of its last block, which the
  first block of the new set carries.
- **Downtime**: every header carries the certificate of its parent; a validator of the parent's
  set absent from it has missed that block. At the end of each `downtime_window` blocks, one that
  missed more than `downtime_max_missed_ppm` of them is slashed `downtime_slash_ppm` and jailed
  for `downtime_jail_epochs`; `validator.unjail` brings it back at the next epoch boundary.
  (Windows are consecutive, not sliding: a validator can miss up to twice the share across a
  window boundary before it is jailed. Cosmos slides; the bound here is what it costs to keep
  one counter per validator.)
- **Equivocation** (`evidence`): two votes a validator signed for different blocks at one
  height, round and step (chain/evidence.py) slash `double_sign_slash_ppm` of its bonded stake
  and jail it for good (tombstoned, as Cosmos): once per validator.
Slashed stake is burned: `supply` goes down by the same amount, so GET /supply still balances.
Unbonding stake is not slashed (Cosmos slashes it too; noted in docs/network.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from nnet import bls
from nnet.chain.accounts import get_stake, get_total_bonded, set_stake
from nnet.chain.commit import ValidatorKey
from nnet.chain.economics import process_reward_settlement
from nnet.chain.evidence import SignedVote, check_equivocation
from nnet.chain.keys import (
    BURNED_KEY,
    CHAIN_ID_KEY,
    SUPPLY_KEY,
    TOTAL_BONDED_KEY,
    VALIDATOR_LIST_KEY,
    VALSET_KEY,
    VALSET_PREV_KEY,
    validator_bls_key,
    validator_key,
)
from nnet.chain.params import get_param
from nnet.chain.types import BlockContext, Event, StateLike, Units
from nnet.crypto import keccak256, normalize_address
from nnet.encoding import canonical_json, hex_to_bytes
from nnet.errors import InvalidTx, MalformedInput
from nnet.tx import Tx

__all__ = [
    "POWER_UNIT",
    "ValidatorRecord",
    "ValidatorSet",
    "compute_next_validator_set",
    "compute_validators_hash",
    "get_validator",
    "get_validator_set",
    "get_validator_set_at",
    "is_network",
    "parse_signed_vote",
    "process_downtime",
    "process_evidence",
    "process_validator_register",
    "process_validator_set",
    "process_validator_unjail",
    "put_validator",
    "set_order",
    "slash_stake",
]

POWER_UNIT = 10**18  # one unit of voting power: one whole NNET bonded


@dataclass(frozen=True)
class ValidatorRecord:
    """A registered validator (`validator/<addr>`)."""

    bls_key: str  # 0x ‖ 48-byte G1 key
    net: str
    jailed_until: int | None = None  # epoch from which it may unjail; None: not jailed
    tombstoned: bool = False  # convicted of equivocation: never again
    missed: int = 0  # blocks missed in the current downtime window

    @property
    def jailed(self) -> bool:
        return self.tombstoned or self.jailed_until is not None

    def to_state(self) -> dict[str, Any]:
        return {
            "bls_key": self.bls_key,
            "net": self.net,
            "jailed_until": self.jailed_until,
            "tombstoned": self.tombstoned,
            "missed": self.missed,
        }

    @staticmethod
    def from_state(raw: dict[str, Any]) -> ValidatorRecord:
        until = raw.get("jailed_until")
        return ValidatorRecord(
            str(raw["bls_key"]),
            str(raw["net"]),
            None if until is None else int(until),
            bool(raw.get("tombstoned", False)),
            int(raw.get("missed", 0)),
        )


def compute_validators_hash(members: Sequence[ValidatorKey]) -> bytes:
    """keccak256 of the JCS list [[address, bls key hex, power], ...] in set order: what a
    header commits to, so a light client can check the set it is given."""
    rows = [[m.address, "0x" + m.bls_key.hex(), m.power] for m in members]
    return keccak256(canonical_json(rows))


@dataclass(frozen=True)
class ValidatorSet:
    """The validators that sign blocks from height `since` on, in address order (the order of
    a certificate's signer bitmap)."""

    since: int
    members: tuple[ValidatorKey, ...]

    @property
    def total_power(self) -> int:
        return sum(m.power for m in self.members)

    @property
    def powers(self) -> dict[str, int]:
        return {m.address: m.power for m in self.members}

    @property
    def hash_hex(self) -> str:
        return "0x" + compute_validators_hash(self.members).hex()

    def get(self, address: str) -> ValidatorKey | None:
        for m in self.members:
            if m.address == address:
                return m
        return None

    def to_state(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "validators": [[m.address, "0x" + m.bls_key.hex(), m.power] for m in self.members],
        }

    @staticmethod
    def from_state(raw: dict[str, Any]) -> ValidatorSet:
        members = tuple(
            ValidatorKey(str(a), bytes.fromhex(str(k)[2:]), int(p)) for a, k, p in raw["validators"]
        )
        return ValidatorSet(int(raw["since"]), members)


def get_validator(state: StateLike, address: str) -> ValidatorRecord | None:
    raw = state.get(validator_key(address))
    return None if raw is None else ValidatorRecord.from_state(raw)


def put_validator(state: StateLike, address: str, record: ValidatorRecord) -> None:
    state.put(validator_key(address), record.to_state())


def is_network(state: StateLike) -> bool:
    """Whether this chain is a network of validators (its genesis listed them)."""
    return state.get(VALSET_KEY) is not None


def get_validator_set(state: StateLike) -> ValidatorSet | None:
    """The set in force now (the one that signs the next block), None on a sequencer chain."""
    raw = state.get(VALSET_KEY)
    return None if raw is None else ValidatorSet.from_state(raw)


def get_validator_set_at(state: StateLike, height: int) -> ValidatorSet:
    """The set that signed block `height`: the current one, or the one before it for the last
    block of the previous set. Older heights are not kept in state (the node keeps them)."""
    current = get_validator_set(state)
    if current is None:
        raise MalformedInput("this chain has no validator set (a sequencer chain)")
    if current.since <= height:
        return current
    raw = state.get(VALSET_PREV_KEY)
    if raw is not None:
        prev = ValidatorSet.from_state(raw)
        if prev.since <= height:
            return prev
    raise MalformedInput(f"the validator set of height {height} is no longer in state")


# ---- the set at epoch boundaries ---------------------------------------------------------------
def compute_next_validator_set(state: StateLike, candidates: Sequence[str]) -> list[ValidatorKey]:
    """The top `max_validators` of `candidates` by bonded stake (ties: lower address), among
    registered validators not jailed and holding at least one unit of power; address order."""
    ranked: list[tuple[int, str, bytes]] = []
    for address in candidates:
        record = get_validator(state, address)
        if record is None or record.jailed:
            continue
        power = get_stake(state, address).bonded // POWER_UNIT
        if power >= 1:
            ranked.append((power, address, hex_to_bytes(record.bls_key, "bls key", bls.PK_LEN)))
    ranked.sort(key=lambda r: (-r[0], r[1].lower()))
    top = ranked[: get_param(state, "max_validators")]
    return sorted((ValidatorKey(a, k, p) for p, a, k in top), key=set_order)


def set_order(member: ValidatorKey) -> str:
    """A set is ordered by address as lower-case hex (numeric order): the order of a
    certificate's signer bitmap, which any implementation must reproduce."""
    return member.address.lower()


def process_validator_set(state: StateLike, epoch: int) -> None:
    """Epoch-end step: the next epoch's set, in force from its first block. Candidates are the
    current members and every registered validator (the `validator_list`). An empty result
    keeps the current set: a chain must never be left with nobody to sign."""
    current = get_validator_set(state)
    if current is None:
        return  # a sequencer chain
    registered = list(state.get(VALIDATOR_LIST_KEY) or [])
    # a registration without stake stops being a candidate (it registers again once staked):
    # the list read here every epoch stays as long as the validators that could sign
    staying = current.powers
    kept = [a for a in registered if a in staying or get_stake(state, a).bonded >= POWER_UNIT]
    if len(kept) != len(registered):
        state.put(VALIDATOR_LIST_KEY, kept)
    members = compute_next_validator_set(state, kept)
    if not members or tuple(members) == current.members:
        return
    since = (epoch + 1) * get_param(state, "epoch_blocks")
    joining = {m.address for m in members}
    for m in current.members:  # a leaver's misses of this window must not follow it back
        record = get_validator(state, m.address)
        if m.address not in joining and record is not None and record.missed:
            put_validator(state, m.address, replace(record, missed=0))
    state.put(VALSET_PREV_KEY, current.to_state())
    state.put(VALSET_KEY, ValidatorSet(since, tuple(members)).to_state())


# ---- slashing ------------------------------------------------------------------------------------
def slash_stake(state: StateLike, address: str, ppm: int) -> int:
    """Burn `ppm` of `address`'s bonded stake (rewards earned before settle first); the amount."""
    stake = get_stake(state, address)
    amount = stake.bonded * ppm // 1_000_000
    if amount == 0:
        return 0
    process_reward_settlement(state, address)
    set_stake(state, address, replace(stake, bonded=Units(stake.bonded - amount)))
    state.put(TOTAL_BONDED_KEY, get_total_bonded(state) - amount)
    state.put(SUPPLY_KEY, int(state.get(SUPPLY_KEY)) - amount)
    state.put(BURNED_KEY, int(state.get(BURNED_KEY) or 0) + amount)
    return amount


# ---- downtime ------------------------------------------------------------------------------------
def process_downtime(state: StateLike, ctx: BlockContext, signers: Sequence[str] | None) -> None:
    """Begin-block step: count who of the parent's set is missing from the parent's commit
    (`signers`, from the header's certificate; None at height 1), and at the end of each window
    jail those that missed too many."""
    if signers is None or not is_network(state):
        return
    parent_set = get_validator_set_at(state, ctx.height - 1)
    signed = set(signers)
    for member in parent_set.members:
        if member.address not in signed:
            record = get_validator(state, member.address)
            if record is not None:
                put_validator(state, member.address, replace(record, missed=record.missed + 1))
    window = get_param(state, "downtime_window")
    if ctx.height % window:
        return
    limit = window * get_param(state, "downtime_max_missed_ppm")
    for member in parent_set.members:
        record = get_validator(state, member.address)
        if record is None or record.missed == 0:
            continue
        if record.missed * 1_000_000 > limit and not record.jailed:
            slash_stake(state, member.address, get_param(state, "downtime_slash_ppm"))
            until = ctx.epoch + get_param(state, "downtime_jail_epochs")
            record = replace(record, jailed_until=until)
        put_validator(state, member.address, replace(record, missed=0))


# ---- transactions --------------------------------------------------------------------------------
def _require_network(state: StateLike) -> None:
    if not is_network(state):
        raise InvalidTx("this chain has one sequencer and no validator set", code="not_network")


def process_validator_register(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """`validator.register` {bls_key, pop, net}: become a candidate for the set (next epoch)."""
    _require_network(state)
    key_hex = str(tx.body["bls_key"]).lower()
    key = hex_to_bytes(key_hex, "bls_key", bls.PK_LEN)
    pop = hex_to_bytes(str(tx.body["pop"]), "pop", bls.SIG_LEN)
    net = str(tx.body["net"])
    if not (net.startswith("http://") or net.startswith("https://")):
        raise InvalidTx("net must be the node's http(s):// URL", code="bad_net")
    if get_stake(state, tx.sender).bonded < POWER_UNIT:
        raise InvalidTx(
            f"{tx.sender} has less than 1 NNET bonded; stake before registering",
            code="not_staked",
        )
    existing = get_validator(state, tx.sender)
    if existing is not None and existing.bls_key != key_hex:
        raise InvalidTx(
            f"{tx.sender} is registered with another BLS key (a key cannot change)",
            code="already_registered",
        )
    if existing is None:
        owner = state.get(validator_bls_key(key_hex))
        if owner is not None:
            raise InvalidTx(f"BLS key {key_hex[:18]}… belongs to {owner}", code="bls_key_taken")
        if not bls.pop_verify(key, pop, tx.sender):
            raise InvalidTx("the proof of possession does not verify", code="bad_pop")
        state.put(validator_bls_key(key_hex), tx.sender)
        record = ValidatorRecord(key_hex, net)
    else:
        if existing.tombstoned:
            raise InvalidTx(f"{tx.sender} double-signed and is jailed for good", code="tombstoned")
        record = replace(existing, net=net)
    listed = list(state.get(VALIDATOR_LIST_KEY) or [])
    if tx.sender not in listed:  # new, or dropped from the list while it had no stake
        state.put(VALIDATOR_LIST_KEY, sorted([*listed, tx.sender], key=str.lower))
    put_validator(state, tx.sender, record)
    return [{"type": "validator.register", "address": tx.sender, "net": net}]


def process_validator_unjail(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """`validator.unjail` {}: a validator jailed for downtime, its jail served, becomes a
    candidate again (it rejoins the set at the next epoch boundary)."""
    _require_network(state)
    record = get_validator(state, tx.sender)
    if record is None:
        raise InvalidTx(f"{tx.sender} is not a registered validator", code="not_validator")
    if record.tombstoned:
        raise InvalidTx(f"{tx.sender} double-signed and is jailed for good", code="tombstoned")
    if record.jailed_until is None:
        raise InvalidTx(f"{tx.sender} is not jailed", code="not_jailed")
    if ctx.epoch < record.jailed_until:
        raise InvalidTx(
            f"{tx.sender} is jailed until epoch {record.jailed_until} (now {ctx.epoch})",
            code="still_jailed",
        )
    put_validator(state, tx.sender, replace(record, jailed_until=None, missed=0))
    return [{"type": "validator.unjail", "address": tx.sender}]


def parse_signed_vote(obj: object, name: str) -> SignedVote:
    """A vote as gossiped ({type, height, round, block_id, validator, sig}), shape-checked."""
    fields = {"type", "height", "round", "block_id", "validator", "sig"}
    if not isinstance(obj, dict) or set(obj) - {"kind"} != fields:
        raise MalformedInput(f"{name} must be a vote with exactly {', '.join(sorted(fields))}")
    if obj["type"] not in ("prevote", "precommit"):
        raise MalformedInput(f"{name}.type must be prevote or precommit")
    for f, limit in (("height", 2**63), ("round", 2**31)):
        v = obj[f]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < limit:
            raise MalformedInput(f"{name}.{f} must be a non-negative integer")
    block = obj["block_id"]
    return SignedVote(
        str(obj["type"]),
        int(obj["height"]),
        int(obj["round"]),
        None if block is None else hex_to_bytes(block, f"{name}.block_id", 32),
        normalize_address(obj["validator"], f"{name}.validator"),
        hex_to_bytes(obj["sig"], f"{name}.sig", bls.SIG_LEN),
    )


def process_evidence(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    """`evidence` {a, b}: two conflicting votes of one validator. Anyone may send it; the
    validator's bonded stake is slashed `double_sign_slash_ppm` (burned) and it is jailed for
    good. The same validator cannot be convicted twice."""
    _require_network(state)
    try:
        a = parse_signed_vote(tx.body["a"], "a")
        b = parse_signed_vote(tx.body["b"], "b")
    except MalformedInput as e:
        raise InvalidTx(e.message, code="bad_evidence") from None
    record = get_validator(state, a.validator)
    if record is None:
        raise InvalidTx(f"{a.validator} is not a registered validator", code="not_validator")
    if record.tombstoned:
        raise InvalidTx(f"{a.validator} is already convicted", code="already_slashed")
    if a.height >= ctx.height:
        raise InvalidTx("evidence is of a height not yet reached", code="bad_evidence")
    if ctx.height - a.height > get_param(state, "evidence_max_age"):
        raise InvalidTx("evidence is older than evidence_max_age blocks", code="evidence_too_old")
    key = hex_to_bytes(record.bls_key, "bls key", bls.PK_LEN)
    why = check_equivocation(str(state.get(CHAIN_ID_KEY)), key, a, b)
    if why is not None:
        raise InvalidTx(f"not evidence of equivocation: {why}", code="bad_evidence")
    slashed = slash_stake(state, a.validator, get_param(state, "double_sign_slash_ppm"))
    put_validator(state, a.validator, replace(record, tombstoned=True, jailed_until=ctx.epoch))
    return [
        {
            "type": "slash",
            "reason": "double_sign",
            "address": a.validator,
            "amount": str(slashed),
            "height": a.height,
            "round": a.round,
        }
    ]
