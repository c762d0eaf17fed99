"""Mempool fee priority: a full pool gives way to a higher fee rate by evicting sender tails."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.chain.fees import compute_tx_size
from nnet.chain.state import Overlay, State
from nnet.chain.transition import BlockContext, process_tx
from nnet.chain.types import Address, Epoch, Height
from nnet.encoding import UNIT, parse_amount
from nnet.errors import InvalidTx, NotFound
from nnet.node.core import Node, NodeConfig
from nnet.node.mempool import Mempool, PendingTx
from nnet.store.chaindb import ChainDB
from nnet.tx import Tx
from tests.chain.helpers import Devnet, account, make_devnet
from tests.node.test_core import body


def pending(tx: Tx) -> PendingTx:
    return PendingTx(tx, tx.signing_hash, tx.hash_hex)


def setup(n_users: int = 4, max_size: int = 4) -> tuple[Devnet, State, Mempool, BlockContext]:
    net = make_devnet(n_users, tag="prio")
    state, _ = net.fresh_state()
    ctx = BlockContext(Height(1), Epoch(0), Address(net.sequencer.address))
    return net, state, Mempool(state, max_size=max_size), ctx


def same_view(x: Overlay, y: Overlay) -> bool:
    """Whether two overlays read the same (a reverted key may hold its base value explicitly)."""
    keys = set(x.data) | set(y.data) | x._deleted | y._deleted
    return all(x.get(k) == y.get(k) for k in keys)


def next_nonce(pool: Mempool, address: str) -> int:
    return int(pool.overlay.get("account/" + address)["nonce"])


def test_a_higher_fee_rate_evicts_the_cheapest_sender_tail_without_a_nonce_gap() -> None:
    net, _, pool, ctx = setup()
    a, b, c, honest = net.users
    cheap = [a.transfer(c.address, 1), a.transfer(c.address, 1), b.transfer(c.address, 1)]
    pricier = c.transfer(a.address, 1, fee=UNIT // 100)  # above the minimum
    for t in (*cheap, pricier):
        assert pool.admit(pending(t), ctx) == []
    assert len(pool) == pool.max_size
    paying = honest.transfer(a.address, 5 * UNIT, fee=UNIT)
    evicted = pool.admit(pending(paying), ctx)
    # the tails are a's nonce 1, b's nonce 0 and c's; of the cheapest two (equal rates, a's and
    # b's) the newest goes: b's. a's nonce 0 is no tail, so no gap opens
    assert evicted == [cheap[2].hash_hex]
    assert pool.get(cheap[2].hash_hex) is None and pool.get(paying.hash_hex) is not None
    assert len(pool) == pool.max_size
    assert next_nonce(pool, b.address) == 0 and next_nonce(pool, a.address) == 2
    # the next one evicts a's tail (nonce 1), then a's nonce 0 is the tail in turn
    assert pool.admit(pending(honest.transfer(a.address, 1, fee=UNIT)), ctx) == [cheap[1].hash_hex]
    assert next_nonce(pool, a.address) == 1
    assert pool.admit(pending(honest.transfer(a.address, 1, fee=UNIT)), ctx) == [cheap[0].hash_hex]
    assert next_nonce(pool, a.address) == 0
    # the overlay is exactly the remaining entries applied in order
    fresh = Overlay(pool.base)
    for ptx in pool.entries.values():
        process_tx(fresh, ptx.tx, ptx.hash, ctx, verify=False)
    assert same_view(fresh, pool.overlay)


def test_a_newcomer_paying_no_more_per_byte_is_refused_with_the_rate_to_beat() -> None:
    net, state, pool, ctx = setup()
    a, b, c, d = net.users
    for u in (a, b, c, a):
        pool.admit(pending(u.transfer(d.address, 1)), ctx)
    same = d.transfer(a.address, 1)  # the minimum, like every pending one
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(same), ctx)
    assert info.value.code == "mempool_full" and "a fee of" in (info.value.hint or "")
    assert len(pool) == 4 and pool.get(same.hash_hex) is None
    # the hinted fee does get in
    fee = parse_amount(str(info.value.hint).split("a fee of ")[1].split(" ")[0])
    assert fee > same.fee
    assert pool.admit(pending(d.transfer(a.address, 1, fee=fee, nonce=0)), ctx)
    assert state.changes() == {}


def test_an_invalid_newcomer_evicts_nothing_nor_does_one_whose_sender_holds_every_tail() -> None:
    net, _, pool, ctx = setup(max_size=3)
    a, b, _, _ = net.users
    stranger = account("prio-stranger")  # never funded
    for u in (a, a, b):
        pool.admit(pending(u.transfer(b.address, 1)), ctx)
    before = (list(pool.entries), dict(pool.overlay.data))
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(stranger.transfer(a.address, 0, fee=UNIT)), ctx)
    assert info.value.code == "insufficient_funds"
    good = a.transfer(b.address, 1, fee=UNIT)
    forged = Tx(
        good.chain,
        good.type,
        good.sender,
        good.nonce,
        good.fee,
        good.body,
        b.transfer(a.address, 1, nonce=0).sig,
    )
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(forged), ctx)
    assert info.value.code == "bad_signature"
    assert (list(pool.entries), dict(pool.overlay.data)) == before
    # a pool holding only a's transactions: a's newcomer would have to evict its own tail
    _, _, own, _ = setup(max_size=2)
    own.admit(pending(a.transfer(b.address, 1, nonce=0)), ctx)
    own.admit(pending(a.transfer(b.address, 1, nonce=1)), ctx)
    with pytest.raises(InvalidTx) as info:
        own.admit(pending(a.transfer(b.address, 1, fee=UNIT, nonce=2)), ctx)
    assert info.value.code == "mempool_full" and len(own) == 2


def test_what_depended_on_the_victim_leaves_with_it() -> None:
    net, _, pool, ctx = setup(max_size=3)
    a, b, c, _ = net.users
    poor = account("prio-poor")  # funded only by a's pending transfer
    fund = a.transfer(poor.address, 10 * UNIT)  # the lowest rate: a longer amount, same fee
    spend = poor.transfer(c.address, UNIT)
    other = b.transfer(c.address, 1, fee=UNIT)
    for t in (fund, other, spend):
        pool.admit(pending(t), ctx)
    assert pending(fund).rate < pending(spend).rate
    newcomer = c.transfer(a.address, 1, fee=UNIT // 2)
    assert pool.admit(pending(newcomer), ctx) == [fund.hash_hex, spend.hash_hex]
    assert list(pool.entries) == [other.hash_hex, newcomer.hash_hex]
    assert pool.overlay.get("account/" + poor.address) is None


def test_a_newcomer_that_needs_the_victim_is_refused_and_the_pool_restored() -> None:
    net, _, pool, ctx = setup(max_size=3)
    a, b, c, _ = net.users
    poor = account("prio-poor")
    fund = a.transfer(poor.address, 10 * UNIT)  # the cheapest tail
    for t in (fund, b.transfer(c.address, 1, fee=UNIT), c.transfer(b.address, 1, fee=UNIT)):
        pool.admit(pending(t), ctx)
    before = (list(pool.entries), dict(pool.overlay.data), dict(pool._marks))
    needs_fund = poor.transfer(c.address, UNIT, fee=UNIT // 10)  # valid only after `fund`
    with pytest.raises(InvalidTx) as info:
        pool.admit(pending(needs_fund), ctx)
    assert info.value.code == "mempool_full"
    assert (list(pool.entries), dict(pool.overlay.data), dict(pool._marks)) == before


def test_blocks_take_the_highest_fee_rate_first_in_each_senders_nonce_order() -> None:
    net, _, pool, ctx = setup(max_size=10)
    a, b, c, _ = net.users
    a0, a1 = a.transfer(c.address, 1), a.transfer(c.address, 1, fee=UNIT)  # a1 pays most...
    b0 = b.transfer(c.address, 1, fee=UNIT // 100)
    for t in (a0, a1, b0):
        pool.admit(pending(t), ctx)
    order = [tx.hash_hex for tx, _ in pool.candidates()]
    assert order == [b0.hash_hex, a0.hash_hex, a1.hash_hex]  # ...but only after a0
    assert compute_tx_size(a0) == pending(a0).size


def test_node_admits_a_fee_paying_tx_into_a_full_mempool_and_the_evicted_one_is_gone(
    tmp_path: Path,
) -> None:
    net = make_devnet(5, tag="prio-node")
    node = Node(
        ChainDB(tmp_path / "chain.db"),
        net.genesis,
        signer=net.sequencer.secret,
        config=NodeConfig(max_mempool=4),
    )
    *spammers, honest = net.users
    spam = [u.transfer(u.address, 0) for u in spammers]  # the minimum fee, nothing else
    assert all("hash" in r for r in node.submit_body(body(*spam), "x").results)
    full = node.submit_body(body(honest.transfer(honest.address, 0, nonce=0)), "x").results[0]
    assert full["code"] == "mempool_full"
    paying = honest.transfer(spammers[0].address, UNIT, fee=UNIT, nonce=0)
    [result] = node.submit_body(body(paying), "x").results
    assert result == {"hash": paying.hash_hex, "status": "pending"}
    evicted = spam[-1]  # the newest of the cheapest tails
    with pytest.raises(NotFound):
        node.receipt(evicted.hash_hex)
    journal = [h for h, _ in node.db.get_mempool()]
    assert journal == [t.hash_hex for t in spam[:-1]] + [paying.hash_hex]
    block = node.produce_block(1_000).block
    assert block.txs[0] == paying  # the best rate first
