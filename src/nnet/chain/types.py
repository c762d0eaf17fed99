"""The chain's types, as consensus-specs declares its containers: units, records, the block context.

Records are frozen dataclasses, not TypedDicts: a record read from state is a value, so a rule
that changes it must build a new one (`dataclasses.replace`) and `put` it, which makes every write
visible at the call site; attribute access is checked by mypy and by Python alike, while a
TypedDict still reads and writes with string subscripts. Each record maps to exactly the JSON the
state has always stored: `to_state()` returns that dict (same keys, same value types: the state
root hashes it), `from_state()` reads it back, and `from_state(x).to_state() == x` for every
record a chain writes (tests/chain/test_types.py, and the recorded-chain replay).

Some keys of a job or a proposal appear only once a step has run (a job's `draw_seed`, a
proposal's `tally`): their fields are None (or empty, for `missed`) while the key is absent, and
such a field is never stored as null. Fields stored as null (`assignee`, `proof_deadline`, ...)
are always present.

    Units, Epoch, Height, Address      NewTypes: base units, epoch and block numbers, addresses
    StateLike                          what the rules need of a state (State and Overlay have it)
    BlockContext, Event                what a transaction may know of its block; a receipt event
    Account, Stake, NodeRecord, Job, Proposal, ProofRecord, EpochWork   the stored records
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType, Protocol

from nnet.tx import Tx

__all__ = [
    "Account",
    "Address",
    "Attestation",
    "BlockContext",
    "Challenge",
    "Epoch",
    "EpochWork",
    "Event",
    "Height",
    "Job",
    "JsonObject",
    "MissedProof",
    "NodeRecord",
    "Opening",
    "Processor",
    "ProofRecord",
    "Proposal",
    "Settlement",
    "Stake",
    "StateLike",
    "Tally",
    "Tx",
    "Unbonding",
    "Units",
]

Units = NewType("Units", int)  # base units (1 NNET = 10**18)
Epoch = NewType("Epoch", int)  # height // epoch_blocks
Height = NewType("Height", int)  # block number, genesis = 0
Address = NewType("Address", str)  # EIP-55 checksummed

JsonObject = dict[str, Any]  # a document the chain stores as given (a proof, a payout record)
Event = dict[str, Any]  # one receipt event: {"type": ..., ...}


class StateLike(Protocol):
    """The one state interface of the rules: reads, journaled writes, and a mark to revert to."""

    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...
    def mark(self) -> int: ...
    def revert(self, mark: int) -> None: ...


@dataclass(frozen=True)
class BlockContext:
    """What a transaction may know about the block it is in."""

    height: Height
    epoch: Epoch
    proposer: Address
    prev_hash: str = "0x" + "00" * 32  # the parent block's hash (the marketplace's challenges)
    beacon: bytes = b"\x00" * 32  # this block's beacon output (chain/block.py), not grindable


class Processor(Protocol):
    """A transaction type's rules: validate, then write; returns the receipt events."""

    def __call__(self, state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]: ...


# ---- accounts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    """`account/<addr>`: a balance and the next nonce."""

    balance: Units = Units(0)
    nonce: int = 0

    def to_state(self) -> dict[str, int]:
        return {"balance": self.balance, "nonce": self.nonce}

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Account:
        return cls(Units(int(raw["balance"])), int(raw["nonce"]))


@dataclass(frozen=True)
class Unbonding:
    """An unstaked amount and the epoch it is released in; stored as [amount, release_epoch]."""

    amount: Units
    release_epoch: Epoch


@dataclass(frozen=True)
class Stake:
    """`stake/<addr>`: bonded stake and the unbonding entries, oldest first."""

    bonded: Units = Units(0)
    unbonding: tuple[Unbonding, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.bonded == 0 and not self.unbonding

    def to_state(self) -> dict[str, Any]:
        return {
            "bonded": self.bonded,
            "unbonding": [[u.amount, u.release_epoch] for u in self.unbonding],
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Stake:
        return cls(
            Units(int(raw["bonded"])),
            tuple(Unbonding(Units(int(a)), Epoch(int(r))) for a, r in raw["unbonding"]),
        )


# ---- the marketplace ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeRecord:
    """`node/<addr>`: a registered compute node (chain/market_node.py). Its address is its owner
    (the cold key: collateral and payouts); `operator` is the hot key that acts for it, stored
    only when it is another address (None: the owner operates it, as every node did before)."""

    gpu: str
    env: str
    collateral: Units
    locked: Units
    reputation: int
    verified_work: int
    proofs_ok: int
    proofs_rejected: int
    proofs_missed: int
    last_verified_epoch: Epoch | None
    registered_height: Height
    operator: Address | None = None  # absent from the state while None

    @property
    def free(self) -> Units:
        """Collateral not locked in a job."""
        return Units(self.collateral - self.locked)

    def operator_of(self, address: str) -> Address:
        """The key that acts for this node, `address` being the node's (its owner's)."""
        return Address(address) if self.operator is None else self.operator

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gpu": self.gpu,
            "env": self.env,
            "collateral": self.collateral,
            "locked": self.locked,
            "reputation": self.reputation,
            "verified_work": self.verified_work,
            "proofs_ok": self.proofs_ok,
            "proofs_rejected": self.proofs_rejected,
            "proofs_missed": self.proofs_missed,
            "last_verified_epoch": self.last_verified_epoch,
            "registered_height": self.registered_height,
        }
        if self.operator is not None:
            out["operator"] = self.operator
        return out

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> NodeRecord:
        last, operator = raw["last_verified_epoch"], raw.get("operator")
        return cls(
            gpu=str(raw["gpu"]),
            env=str(raw["env"]),
            collateral=Units(int(raw["collateral"])),
            locked=Units(int(raw["locked"])),
            reputation=int(raw["reputation"]),
            verified_work=int(raw["verified_work"]),
            proofs_ok=int(raw["proofs_ok"]),
            proofs_rejected=int(raw["proofs_rejected"]),
            proofs_missed=int(raw["proofs_missed"]),
            last_verified_epoch=None if last is None else Epoch(int(last)),
            registered_height=Height(int(raw["registered_height"])),
            operator=None if operator is None else Address(str(operator)),
        )


@dataclass(frozen=True)
class Challenge:
    """A job's fixed challenge: the segments to replay and the checkpoints to open."""

    seed: str
    draw_seed: str
    q: int
    segments: tuple[int, ...]
    of: int
    openings: tuple[int, ...]

    def to_state(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "draw_seed": self.draw_seed,
            "q": self.q,
            "segments": list(self.segments),
            "of": self.of,
            "openings": list(self.openings),
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Challenge:
        return cls(
            str(raw["seed"]),
            str(raw["draw_seed"]),
            int(raw["q"]),
            tuple(int(s) for s in raw["segments"]),
            int(raw["of"]),
            tuple(int(i) for i in raw["openings"]),
        )


@dataclass(frozen=True)
class Opening:
    """Where an opened checkpoint is: its index and the CID of its blob."""

    index: int
    cid: str

    def to_state(self) -> dict[str, Any]:
        return {"index": self.index, "cid": self.cid}

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Opening:
        return cls(int(raw["index"]), str(raw["cid"]))


@dataclass(frozen=True)
class Attestation:
    """A drawn verifier's verdict on a job's proof, as recorded."""

    verifier: Address
    verdict: str
    reasons: tuple[str, ...]
    hash: str
    height: Height

    def to_state(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "hash": self.hash,
            "height": self.height,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Attestation:
        return cls(
            Address(str(raw["verifier"])),
            str(raw["verdict"]),
            tuple(str(r) for r in raw["reasons"]),
            str(raw["hash"]),
            Height(int(raw["height"])),
        )


@dataclass(frozen=True)
class Settlement:
    """How a job ended: outcome, reason, when, and the payouts (amounts as decimal strings)."""

    outcome: str
    reason: str
    height: Height | None  # None: settled by the epoch-end step
    epoch: Epoch
    payouts: JsonObject = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        base = {
            "outcome": self.outcome,
            "reason": self.reason,
            "height": self.height,
            "epoch": self.epoch,
        }
        return {**base, **self.payouts}

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Settlement:
        fixed = ("outcome", "reason", "height", "epoch")
        height = raw["height"]
        return cls(
            str(raw["outcome"]),
            str(raw["reason"]),
            None if height is None else Height(int(height)),
            Epoch(int(raw["epoch"])),
            {k: v for k, v in raw.items() if k not in fixed},
        )


@dataclass(frozen=True)
class MissedProof:
    """An assignee that missed its proof deadline while the job went back on the market."""

    node: Address
    epoch: Epoch
    slashed: str
    burned: str
    to_treasury: str

    def to_state(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "epoch": self.epoch,
            "slashed": self.slashed,
            "burned": self.burned,
            "to_treasury": self.to_treasury,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> MissedProof:
        return cls(
            Address(str(raw["node"])),
            Epoch(int(raw["epoch"])),
            str(raw["slashed"]),
            str(raw["burned"]),
            str(raw["to_treasury"]),
        )


def _opt_int(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return None if value is None else int(value)


@dataclass(frozen=True)
class Job:
    """`job/<id>`: a training job through its lifecycle (chain/market.py has the statuses)."""

    id: int
    submitter: Address
    spec_cid: str
    spec_hash: str
    dataset_cid: str
    fee: Units
    escrow: Units
    verifiers: int
    checkpoints: int
    mode: str
    work: int
    q: int
    status: str
    submit_height: Height
    claim_deadline: Epoch
    assignee: Address | None = None
    collateral: Units = Units(0)
    proof_deadline: Epoch | None = None
    open_deadline: Epoch | None = None
    attest_deadline: Epoch | None = None
    challenge: Challenge | None = None
    drawn: tuple[Address, ...] = ()
    openings: tuple[Opening, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    settlement: Settlement | None = None
    # keys that exist only once a step has run (absent while None / empty)
    draw_seed: str | None = None
    draw_beacon: str | None = None
    contributions: Mapping[Address, str] | None = None
    seed_deadline: Epoch | None = None
    missed: tuple[MissedProof, ...] = ()

    @property
    def segments(self) -> int:
        """N, the number of segments between the job's checkpoints."""
        return self.checkpoints - 1

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "submitter": self.submitter,
            "spec_cid": self.spec_cid,
            "spec_hash": self.spec_hash,
            "dataset_cid": self.dataset_cid,
            "fee": self.fee,
            "escrow": self.escrow,
            "verifiers": self.verifiers,
            "checkpoints": self.checkpoints,
            "mode": self.mode,
            "work": self.work,
            "q": self.q,
            "status": self.status,
            "submit_height": self.submit_height,
            "claim_deadline": self.claim_deadline,
            "assignee": self.assignee,
            "collateral": self.collateral,
            "proof_deadline": self.proof_deadline,
            "open_deadline": self.open_deadline,
            "attest_deadline": self.attest_deadline,
            "challenge": None if self.challenge is None else self.challenge.to_state(),
            "drawn": list(self.drawn),
            "openings": [o.to_state() for o in self.openings],
            "attestations": [a.to_state() for a in self.attestations],
            "settlement": None if self.settlement is None else self.settlement.to_state(),
        }
        if self.draw_seed is not None:
            out["draw_seed"] = self.draw_seed
        if self.draw_beacon is not None:
            out["draw_beacon"] = self.draw_beacon
        if self.contributions is not None:
            out["contributions"] = dict(self.contributions)
        if self.seed_deadline is not None:
            out["seed_deadline"] = self.seed_deadline
        if self.missed:
            out["missed"] = [m.to_state() for m in self.missed]
        return out

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Job:
        def epoch(name: str) -> Epoch | None:
            value = _opt_int(raw, name)
            return None if value is None else Epoch(value)

        challenge, settlement = raw["challenge"], raw["settlement"]
        contributions = raw.get("contributions")
        assignee = raw["assignee"]
        return cls(
            id=int(raw["id"]),
            submitter=Address(str(raw["submitter"])),
            spec_cid=str(raw["spec_cid"]),
            spec_hash=str(raw["spec_hash"]),
            dataset_cid=str(raw["dataset_cid"]),
            fee=Units(int(raw["fee"])),
            escrow=Units(int(raw["escrow"])),
            verifiers=int(raw["verifiers"]),
            checkpoints=int(raw["checkpoints"]),
            mode=str(raw["mode"]),
            work=int(raw["work"]),
            q=int(raw["q"]),
            status=str(raw["status"]),
            submit_height=Height(int(raw["submit_height"])),
            claim_deadline=Epoch(int(raw["claim_deadline"])),
            assignee=None if assignee is None else Address(str(assignee)),
            collateral=Units(int(raw["collateral"])),
            proof_deadline=epoch("proof_deadline"),
            open_deadline=epoch("open_deadline"),
            attest_deadline=epoch("attest_deadline"),
            challenge=None if challenge is None else Challenge.from_state(challenge),
            drawn=tuple(Address(str(a)) for a in raw["drawn"]),
            openings=tuple(Opening.from_state(o) for o in raw["openings"]),
            attestations=tuple(Attestation.from_state(a) for a in raw["attestations"]),
            settlement=None if settlement is None else Settlement.from_state(settlement),
            draw_seed=None if raw.get("draw_seed") is None else str(raw["draw_seed"]),
            draw_beacon=None if raw.get("draw_beacon") is None else str(raw["draw_beacon"]),
            contributions=None
            if contributions is None
            else {Address(str(k)): str(v) for k, v in contributions.items()},
            seed_deadline=epoch("seed_deadline"),
            missed=tuple(MissedProof.from_state(m) for m in raw.get("missed") or ()),
        )


@dataclass(frozen=True)
class ProofRecord:
    """`proof/<id>`: a job's proof document as submitted, its hash, and the block it came in."""

    doc: JsonObject
    hash: str
    height: Height

    def to_state(self) -> dict[str, Any]:
        return {"doc": self.doc, "hash": self.hash, "height": self.height}

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> ProofRecord:
        return cls(dict(raw["doc"]), str(raw["hash"]), Height(int(raw["height"])))


@dataclass(frozen=True)
class EpochWork:
    """`epoch_work/<epoch>`: verified job fees (D_ai) and verified work per node (C_g)."""

    demand: Units = Units(0)
    compute: Mapping[Address, int] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {"demand": self.demand, "compute": dict(self.compute)}

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> EpochWork:
        compute = raw.get("compute") or {}
        return cls(
            Units(int(raw.get("demand", 0))),
            {Address(str(a)): int(w) for a, w in compute.items()},
        )


# ---- governance --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tally:
    """Weighted votes per option, the stake that voted, and what the rules conclude."""

    power: Mapping[str, int]
    voted_stake: Units
    total_bonded: Units
    quorum: bool
    outcome: str
    reason: str

    def to_state(self) -> dict[str, Any]:
        return {
            "power": {k: str(v) for k, v in self.power.items()},
            "voted_stake": str(self.voted_stake),
            "total_bonded": str(self.total_bonded),
            "quorum": self.quorum,
            "outcome": self.outcome,
            "reason": self.reason,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Tally:
        return cls(
            {str(k): int(v) for k, v in raw["power"].items()},
            Units(int(raw["voted_stake"])),
            Units(int(raw["total_bonded"])),
            bool(raw["quorum"]),
            str(raw["outcome"]),
            str(raw["reason"]),
        )


@dataclass(frozen=True)
class Proposal:
    """`proposal/<id>`: a governance proposal through its periods (chain/governance.py)."""

    id: int
    kind: str
    title: str
    description: str
    payload: Mapping[str, str | int]
    proposer: Address
    status: str
    deposit: Units
    deposits: Mapping[Address, Units]
    votes: Mapping[Address, str]
    submit_height: Height
    deposit_end_epoch: Epoch
    voting_end_epoch: Epoch | None = None
    # keys that exist only once the proposal closed (absent while None)
    tally: Tally | None = None
    deposit_outcome: str | None = None
    effective_height: Height | None = None
    enforced: JsonObject | None = None

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "payload": dict(self.payload),
            "proposer": self.proposer,
            "status": self.status,
            "deposit": self.deposit,
            "deposits": dict(self.deposits),
            "votes": dict(self.votes),
            "submit_height": self.submit_height,
            "deposit_end_epoch": self.deposit_end_epoch,
            "voting_end_epoch": self.voting_end_epoch,
        }
        if self.tally is not None:
            out["tally"] = self.tally.to_state()
        if self.deposit_outcome is not None:
            out["deposit_outcome"] = self.deposit_outcome
        if self.effective_height is not None:
            out["effective_height"] = self.effective_height
        if self.enforced is not None:
            out["enforced"] = dict(self.enforced)
        return out

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> Proposal:
        voting_end, tally = raw["voting_end_epoch"], raw.get("tally")
        effective, enforced = raw.get("effective_height"), raw.get("enforced")
        outcome = raw.get("deposit_outcome")
        return cls(
            id=int(raw["id"]),
            kind=str(raw["kind"]),
            title=str(raw["title"]),
            description=str(raw["description"]),
            payload=dict(raw["payload"]),
            proposer=Address(str(raw["proposer"])),
            status=str(raw["status"]),
            deposit=Units(int(raw["deposit"])),
            deposits={Address(str(k)): Units(int(v)) for k, v in raw["deposits"].items()},
            votes={Address(str(k)): str(v) for k, v in raw["votes"].items()},
            submit_height=Height(int(raw["submit_height"])),
            deposit_end_epoch=Epoch(int(raw["deposit_end_epoch"])),
            voting_end_epoch=None if voting_end is None else Epoch(int(voting_end)),
            tally=None if tally is None else Tally.from_state(tally),
            deposit_outcome=None if outcome is None else str(outcome),
            effective_height=None if effective is None else Height(int(effective)),
            enforced=None if enforced is None else dict(enforced),
        )
