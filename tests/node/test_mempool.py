"""Mempool: admission sees pending txs; after a block, included entries leave and stale ones go."""

from __future__ import annotations

import pytest

from nnet.chain.state import State
from nnet.chain.transition import BlockContext, process_tx
from nnet.chain.types import Address, Epoch, Height
from nnet.encoding import UNIT
from nnet.errors import InvalidTx
from nnet.node.mempool import Mempool, PendingTx
from nnet.tx import Tx
from tests.chain.helpers import FUNDED, Devnet, make_devnet


def pending(tx: Tx) -> PendingTx:
    return PendingTx(tx, tx.signing_hash, tx.hash_hex)


def setup() -> tuple[Devnet, State, Mempool, BlockContext]:
    net = make_devnet(2)
    state, _ = net.fresh_state()
    ctx = BlockContext(Height(1), Epoch(0), Address(net.sequencer.address))
    return net, state, Mempool(state, max_size=5), ctx


def test_admission_counts_pending_nonces_and_balance() -> None:
    net, state, pool, ctx = setup()
    alice, bob = net.users
    pool.admit(pending(alice.transfer(bob.address, FUNDED // 2)), ctx)
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(alice.transfer(bob.address, FUNDED // 2 + 1, nonce=1)), ctx)
    assert info.value.code == "insufficient_funds"
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(alice.transfer(bob.address, 1, nonce=0)), ctx)
    assert info.value.code == "bad_nonce"
    dup = alice.transfer(bob.address, 1, nonce=1)
    pool.admit(pending(dup), ctx)
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(dup), ctx)
    assert info.value.code == "duplicate"
    assert state.changes() == {}, "admission must not touch the committed state"


def test_full_mempool_refuses() -> None:
    net, _state, pool, ctx = setup()
    alice = net.users[0]
    for _ in range(5):
        pool.admit(pending(alice.transfer(alice.address, 1)), ctx)
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(alice.transfer(alice.address, 1)), ctx)
    assert info.value.code == "mempool_full"


def test_after_block_drops_included_and_evicts_stale() -> None:
    net, state, pool, ctx = setup()
    alice, bob = net.users
    t0, t1, t2 = (alice.transfer(bob.address, 1) for _ in range(3))
    b0 = bob.transfer(alice.address, FUNDED - UNIT)
    for t in (t0, t1, t2, b0):
        pool.admit(pending(t), ctx)
    # a block elsewhere used alice's nonce 0 for another tx and spent most of bob's funds
    other = alice.transfer(bob.address, 5, nonce=0)
    bob_spend = bob.transfer(alice.address, 20, nonce=0)
    for t in (other, bob_spend):
        process_tx(state, t, t.signing_hash, ctx)
    state.commit()
    evicted = pool.after_block(
        [other.signing_hash], BlockContext(Height(2), Epoch(0), Address(net.sequencer.address))
    )
    assert evicted == [t0.hash_hex, b0.hash_hex]
    assert list(pool.entries) == [t1.hash_hex, t2.hash_hex]
    assert pool.overlay.get("account/" + alice.address)["nonce"] == 3
