"""Shared test helpers for the chain, store and node tests: deterministic keys, a small devnet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnet.chain.audit import compute_supply_audit
from nnet.chain.block import BlockResult, Header, build_block, compute_genesis_block, process_block
from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule, fit_fee
from nnet.chain.genesis import Genesis, make_devnet_genesis
from nnet.chain.state import State
from nnet.crypto import address_of_private_key, keccak256
from nnet.encoding import UNIT
from nnet.tx import Tx, build_tx

CHAIN = "nnet-devnet"
FUNDED = 1_000 * UNIT


def secret_for(label: str) -> bytes:
    return keccak256(label.encode())


@dataclass
class Account:
    secret: bytes
    address: str
    nonce: int = 0
    fees: FeeSchedule = DEFAULT_FEE_SCHEDULE  # the chain's fee parameters (make_devnet sets them)

    def tx(
        self,
        type_: str,
        body: dict[str, Any],
        *,
        fee: int | None = None,
        nonce: int | None = None,
        chain: str = CHAIN,
    ) -> Tx:
        """A signed tx; without an explicit nonce, uses and advances the local counter; without
        an explicit fee, pays the least the chain accepts for its size (as the CLI does)."""
        if nonce is None:
            nonce = self.nonce
            self.nonce += 1
        n = nonce
        if fee is None:
            tx = fit_fee(lambda f: build_tx(chain, type_, self.address, n, f, body), self.fees)
        else:
            tx = build_tx(chain, type_, self.address, n, fee, body)
        return tx.signed(self.secret)

    def transfer(self, to: str, amount: int, **kw: Any) -> Tx:
        return self.tx("transfer", {"to": to, "amount": str(amount)}, **kw)


def account(label: str) -> Account:
    secret = secret_for(label)
    return Account(secret, address_of_private_key(secret))


@dataclass
class Devnet:
    sequencer: Account
    users: list[Account]
    genesis: Genesis
    params: dict[str, int] = field(default_factory=dict)

    def fresh_state(self) -> tuple[State, Header]:
        state, header, _ = compute_genesis_block(self.genesis)
        state.commit()
        return state, header

    def block(self, state: State, prev: Header, txs: list[Tx], *, time_ms: int = 0) -> BlockResult:
        """build_block as the sequencer, with signature checks (verified=False), committed."""
        result = build_block(
            state,
            prev,
            [(t, t.signing_hash) for t in txs],
            time_ms=time_ms,
            proposer=self.sequencer.address,
            secret=self.sequencer.secret,
            verified=False,
        )
        state.commit()
        return result


def make_devnet(
    n_users: int = 3, *, params: dict[str, int] | None = None, fund: int = FUNDED, tag: str = "t"
) -> Devnet:
    sequencer = account(f"{tag}-sequencer")
    users = [account(f"{tag}-user-{i}") for i in range(n_users)]
    merged = {"epoch_blocks": 4, "unbonding_epochs": 1, **(params or {})}
    schedule = FeeSchedule(
        merged.get("min_fee", DEFAULT_FEE_SCHEDULE.base),
        merged.get("min_fee_per_byte", DEFAULT_FEE_SCHEDULE.per_byte),
    )
    for a in (sequencer, *users):
        a.fees = schedule
    genesis = make_devnet_genesis(
        CHAIN,
        sequencer.address,
        time_ms=1_000,
        validators={sequencer.address: 10 * UNIT},
        fund={u.address: fund for u in users},
        params=merged,
    )
    return Devnet(sequencer, users, genesis, merged)


FREE = {"min_fee": 0, "min_fee_per_byte": 0}
"""Params for tests about exact balances, where a fee would only obscure the arithmetic."""


def supply_accounted(state: State) -> int:
    """Every unit the state holds, by the chain's own audit (chain/audit.py)."""
    return compute_supply_audit(state)["total"]


class ReplicatedChain:
    """A sequencer's chain built block by block, plus a replica re-executing every block through
    `process_block`; after each block the state roots agree and the supply is fully accounted."""

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.state, self.head = net.fresh_state()
        self.replica, self.replica_head = net.fresh_state()

    def block(self, *txs: Tx) -> BlockResult:
        result = self.net.block(self.state, self.head, list(txs))
        self.head = result.block.header
        process_block(
            self.replica, self.replica_head, result.block, sequencer=self.net.sequencer.address
        )
        self.replica.commit()
        self.replica_head = result.block.header
        assert self.replica_head.state_root == self.head.state_root
        audit = compute_supply_audit(self.state)
        assert audit["difference"] == 0, audit
        return result
