"""Shared builders for tests of a network chain (chain/validators.py, network headers in
chain/block.py): validators with real secp256k1 keys and the BLS keys derived from them, a
network genesis, and a chain built block by block by `build_network_block`, each block carrying
a real commit certificate of its parent signed by the validators a test chooses, and re-executed
(through its JSON form) by a replica with `process_block`."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nnet import bls
from nnet.chain.audit import compute_supply_audit
from nnet.chain.block import (
    Block,
    BlockResult,
    Header,
    build_network_block,
    compute_genesis_block,
    parse_block,
    process_block,
)
from nnet.chain.commit import Certificate, make_certificate, vote_message
from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule
from nnet.chain.genesis import Genesis, make_devnet_genesis
from nnet.chain.state import State
from nnet.chain.validators import ValidatorSet, get_validator_set_at
from nnet.encoding import UNIT
from nnet.errors import InvalidTx
from nnet.tx import Tx
from tests.chain.helpers import CHAIN, FUNDED, Account, account

POWERS = (40, 30, 30, 20)
"""Whole NNET bonded by the genesis validators, in address order: 120 in all, so exactly 2/3
(80 = 30 + 30 + 20) is reachable and must not be enough."""

EPOCH = 5
WINDOW = 10  # the smallest downtime_window the chain allows
BASE_PARAMS = {"epoch_blocks": EPOCH, "unbonding_epochs": 1, "downtime_window": WINDOW}


@functools.cache
def bls_secret(secp_secret: bytes) -> int:
    """The validator's BLS secret, derived from its node key as a validator node derives it
    (slow, so once per key per test session)."""
    return bls.validator_secret(secp_secret)


def bls_key(who: Account) -> bytes:
    return bls.sk_to_pk(bls_secret(who.secret))


def pop(who: Account) -> bytes:
    return bls.pop_prove(bls_secret(who.secret), who.address)


def validator_info(who: Account, net: str = "http://127.0.0.1:7001") -> dict[str, str]:
    """One entry of a genesis `validators` list, with a real proof of possession."""
    return {
        "address": who.address,
        "bls_key": "0x" + bls_key(who).hex(),
        "pop": "0x" + pop(who).hex(),
        "net": net,
    }


def register_tx(who: Account, net: str = "http://127.0.0.1:7100", **over: Any) -> Tx:
    """`validator.register` with `who`'s own BLS key and proof of possession."""
    body = {"bls_key": "0x" + bls_key(who).hex(), "pop": "0x" + pop(who).hex(), "net": net}
    return who.tx("validator.register", {**body, **over})


def stake_tx(who: Account, nnet: int) -> Tx:
    return who.tx("stake", {"amount": str(nnet * UNIT)})


@dataclass
class Network:
    validators: list[Account]  # the genesis validators, in address order (set order)
    users: list[Account]
    genesis: Genesis
    params: dict[str, int] = field(default_factory=dict)

    def fresh_state(self) -> tuple[State, Header]:
        state, header, _ = compute_genesis_block(self.genesis)
        state.commit()
        return state, header

    @property
    def accounts(self) -> dict[str, Account]:
        return {a.address: a for a in (*self.validators, *self.users)}


def make_network(
    powers: Iterable[int] = POWERS,
    n_users: int = 3,
    *,
    params: dict[str, int] | None = None,
    tag: str = "net",
) -> Network:
    """A network genesis: validators holding `powers` NNET bonded (in address order), each
    also funded (to pay fees), and `n_users` funded accounts."""
    powers = list(powers)
    validators = sorted((account(f"{tag}-validator-{i}") for i in range(len(powers))),
                        key=lambda a: a.address.lower())  # fmt: skip
    users = [account(f"{tag}-user-{i}") for i in range(n_users)]
    merged = {**BASE_PARAMS, **(params or {})}
    schedule = FeeSchedule(
        merged.get("min_fee", DEFAULT_FEE_SCHEDULE.base),
        merged.get("min_fee_per_byte", DEFAULT_FEE_SCHEDULE.per_byte),
    )
    for a in (*validators, *users):
        a.fees = schedule
    genesis = make_devnet_genesis(
        CHAIN,
        validators[0].address,
        time_ms=1_000,
        validators={v.address: p * UNIT for v, p in zip(validators, powers, strict=True)},
        fund={a.address: FUNDED for a in (*validators, *users)},
        params=merged,
        validators_info=[
            validator_info(v, f"http://127.0.0.1:{7001 + i}") for i, v in enumerate(validators)
        ],
    )
    return Network(validators, users, genesis, merged)


_PARENT_SET = object()  # sentinel: "the certificate the chain would carry"


class NetworkChain:
    """A network chain built by `build_network_block`, plus a replica that re-executes every
    block from its JSON with `process_block`; after each block the roots agree and the supply
    is fully accounted.

    Each block carries the certificate of its parent, signed by `signers` (default: every
    member of the parent's set) with their real BLS keys; the proposer defaults to the member
    of the set in force whose turn it is (height modulo the set size)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.keys = net.accounts
        self.state, self.head = net.fresh_state()
        self.replica, self.replica_head = net.fresh_state()

    # ---- sets and certificates ----------------------------------------------------------------
    def set_at(self, height: int) -> ValidatorSet:
        return get_validator_set_at(self.state, height)

    def members(self, height: int) -> list[str]:
        return [m.address for m in self.set_at(height).members]

    def certify(
        self,
        header: Header,
        signers: Iterable[str] | None = None,
        *,
        round_: int = 0,
        block_id: bytes | None = None,
        height: int | None = None,
        vset: ValidatorSet | None = None,
    ) -> Certificate:
        """A certificate of `header` by real precommits of `signers` (default: all of `vset`,
        by default the set that signs `header`)."""
        if vset is None:
            vset = self.set_at(max(header.height, 1))  # genesis is never voted: the first set
        names = [m.address for m in vset.members] if signers is None else list(signers)
        bid = header.hash if block_id is None else block_id
        h = header.height if height is None else height
        message = vote_message(header.chain, "precommit", h, round_, bid)
        sigs = {a: bls.sign(bls_secret(self.keys[a].secret), message) for a in names}
        return make_certificate(vset.members, h, round_, bid, sigs)

    def proposer_at(self, height: int) -> str:
        members = self.members(height)
        return members[height % len(members)]

    # ---- blocks -------------------------------------------------------------------------------
    def _build(
        self,
        txs: Iterable[Tx],
        *,
        signers: Iterable[str] | None,
        proposer: str | None,
        beacon_key: int | None,
        last_commit: Any,
        time_ms: int | None,
    ) -> BlockResult:
        height = self.head.height + 1
        if last_commit is _PARENT_SET:
            last_commit = None if height == 1 else self.certify(self.head, signers)
        proposer = self.proposer_at(height) if proposer is None else proposer
        secret = bls_secret(self.keys[proposer].secret) if beacon_key is None else beacon_key
        return build_network_block(
            self.state,
            self.head,
            [(t, t.signing_hash) for t in txs],
            time_ms=self.head.time_ms + 1_000 if time_ms is None else time_ms,
            proposer=proposer,
            bls_secret=secret,
            last_commit=last_commit,
        )

    def propose(
        self,
        *txs: Tx,
        signers: Iterable[str] | None = None,
        proposer: str | None = None,
        beacon_key: int | None = None,
        last_commit: Any = _PARENT_SET,
        time_ms: int | None = None,
    ) -> BlockResult:
        """The next block as a proposer would build it; nothing is applied (rolled back)."""
        result = self._build(
            txs,
            signers=signers,
            proposer=proposer,
            beacon_key=beacon_key,
            last_commit=last_commit,
            time_ms=time_ms,
        )
        self.state.rollback()
        return result

    def block(
        self, *txs: Tx, signers: Iterable[str] | None = None, proposer: str | None = None
    ) -> BlockResult:
        """Build the next block, commit it, and have the replica check and apply it."""
        result = self._build(
            txs,
            signers=signers,
            proposer=proposer,
            beacon_key=None,
            last_commit=_PARENT_SET,
            time_ms=None,
        )
        self.state.commit()
        self.head = result.block.header
        wire = parse_block(json.loads(json.dumps(result.block.to_dict())))
        replayed = process_block(
            self.replica, self.replica_head, wire, sequencer=self.net.genesis.sequencer
        )
        self.replica.commit()
        self.replica_head = replayed.block.header
        assert self.replica_head.hash_hex == self.head.hash_hex
        assert self.replica_head.state_root == self.head.state_root
        audit = compute_supply_audit(self.state)
        assert audit["difference"] == 0, audit
        return result

    def until(self, height: int, *, signers: Iterable[str] | None = None) -> None:
        """Empty blocks until the head is at `height`."""
        while self.head.height < height:
            self.block(signers=None if signers is None else list(signers))

    def refused(self, who: Account, tx: Tx) -> InvalidTx:
        """`tx` is left out of the next block and changes nothing: the block's write set is
        exactly that of an empty block. The sender's local nonce is given back."""
        empty = self.propose()
        result = self.propose(tx)
        assert not result.block.txs, "the transaction was included"
        ((_, err),) = result.rejected
        assert isinstance(err, InvalidTx)
        assert result.writes == empty.writes, "a refused transaction changed state"
        who.nonce -= 1
        return err

    def included(self, *txs: Tx, signers: Iterable[str] | None = None) -> BlockResult:
        """A block in which every one of `txs` is included (else the test fails, naming why)."""
        result = self.block(*txs, signers=signers)
        assert not result.rejected, [(e.code, e.message) for _, e in result.rejected]
        return result


def vote(
    who: Account,
    block_id: bytes | None,
    *,
    height: int,
    round_: int = 0,
    type_: str = "precommit",
    chain: str = CHAIN,
    signer: Account | None = None,
) -> dict[str, Any]:
    """One vote signed by `signer` (default: `who`) in `who`'s name."""
    sk = bls_secret((signer or who).secret)
    sig = bls.sign(sk, vote_message(chain, type_, height, round_, block_id))
    return {
        "type": type_,
        "height": height,
        "round": round_,
        "block_id": None if block_id is None else "0x" + block_id.hex(),
        "validator": who.address,
        "sig": "0x" + sig.hex(),
    }


def tampered(block: Block, **header_changes: Any) -> Block:
    """`block` with header fields replaced (the txs unchanged): a tampered block."""
    header = Header(**{**block.header.to_dict(), **header_changes})
    return Block(header, block.txs, block.tx_hashes)
