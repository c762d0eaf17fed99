"""Blocks: tx_root, build_block, process_block (replay), refusal of tampered blocks, epochs."""

from __future__ import annotations

import copy
import random
from dataclasses import replace

import pytest
from coincurve import PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnet import vrf
from nnet.chain import block as block_mod
from nnet.chain import epoch as epoch_mod
from nnet.chain.accounts import get_balance, get_stake
from nnet.chain.block import (
    Block,
    Header,
    build_block,
    compute_beacon_alpha,
    compute_beacon_output,
    compute_tx_root,
    parse_block,
    process_block,
)
from nnet.chain.state import ZERO_ROOT, compute_write_set_hash
from nnet.crypto import keccak256, sign_hash
from nnet.errors import InvalidTx, MalformedInput
from tests.chain.helpers import FUNDED, make_devnet, supply_accounted


def test_tx_root_commits_to_order_and_count() -> None:
    hs = [keccak256(bytes([i])) for i in range(5)]
    assert compute_tx_root([]) == ZERO_ROOT
    roots = {compute_tx_root(hs[:n]) for n in range(1, 6)}
    assert len(roots) == 5
    assert compute_tx_root(hs) != compute_tx_root(hs[::-1])
    # a leaf is not confusable with an inner node (domain separation)
    assert compute_tx_root([hs[0], hs[1]]) != compute_tx_root([keccak256(hs[0] + hs[1])])


def test_write_set_hash_ignores_insertion_order() -> None:
    a = compute_write_set_hash({"b": 1, "a": {"x": 2, "y": [1, 2]}})
    b = compute_write_set_hash({"a": {"y": [1, 2], "x": 2}, "b": 1})
    assert a == b
    assert a != compute_write_set_hash({"a": {"y": [1, 2], "x": 2}, "b": 2})


def test_build_block_leaves_out_invalid_txs() -> None:
    net = make_devnet(2)
    state, genesis = net.fresh_state()
    alice, bob = net.users
    good = alice.transfer(bob.address, 5)
    stale = alice.transfer(bob.address, 5, nonce=0)  # same nonce again
    too_much = bob.transfer(alice.address, FUNDED * 2)
    result = net.block(state, genesis, [good, stale, too_much])
    assert [t.signing_hash for t in result.block.txs] == [good.signing_hash]
    assert {e.code for _, e in result.rejected} == {"bad_nonce", "insufficient_funds"}
    assert result.receipts[0]["index"] == 0 and result.receipts[0]["height"] == 1


def _chain_of_blocks(net, n_blocks: int):  # type: ignore[no-untyped-def]
    state, head = net.fresh_state()
    blocks = []
    alice, bob, carol = net.users
    for i in range(n_blocks):
        txs = [alice.transfer(bob.address, 10 + i, fee=1), bob.transfer(carol.address, 3)]
        if i == 1:
            txs.append(carol.tx("stake", {"amount": "100"}))
        if i == 2:
            txs.append(carol.tx("unstake", {"amount": "40"}))
        result = net.block(state, head, txs, time_ms=2_000 + i)
        head = result.block.header
        blocks.append(result.block)
    return state, blocks


def test_replay_reaches_the_same_state_root_at_every_height() -> None:
    net = make_devnet(3)
    source_state, blocks = _chain_of_blocks(net, 12)  # 3 epochs of 4 blocks
    replica, head = net.fresh_state()
    for block in blocks:
        # through the wire format, as a syncing node gets them
        wire = parse_block(copy.deepcopy(block.to_dict()))
        result = process_block(replica, head, wire, sequencer=net.sequencer.address)
        replica.commit()
        assert result.block.header.state_root == block.header.state_root
        head = wire.header
    assert replica.data == source_state.data
    # the unstaked 40 was released at the end of epoch 1 (release_epoch 2)
    carol = net.users[2]
    assert get_stake(replica, carol.address).to_state() == {"bonded": 60, "unbonding": []}
    assert supply_accounted(replica) == net.genesis.supply


def _resign(net, header: Header, **changes):  # type: ignore[no-untyped-def]
    h = replace(header, **changes, sig="")
    return replace(h, sig=sign_hash(net.sequencer.secret, h.hash))


@pytest.mark.parametrize(
    "tamper", ["state_root", "tx_root", "signer", "invalid_tx", "prev_hash", "height", "time"]
)
def test_process_block_refuses_a_tampered_block_and_changes_nothing(tamper: str) -> None:
    net = make_devnet(2)
    _, blocks = _chain_of_blocks_2(net)
    replica, genesis = net.fresh_state()
    block = blocks[0]
    h = block.header
    if tamper == "state_root":
        block = Block(_resign(net, h, state_root="0x" + "11" * 32), block.txs, block.tx_hashes)
    elif tamper == "tx_root":
        block = Block(h, block.txs[:1], block.tx_hashes[:1])
    elif tamper == "signer":
        other = net.users[0]
        h2 = replace(h, sig="")
        block = Block(replace(h2, sig=sign_hash(other.secret, h2.hash)), block.txs, block.tx_hashes)
    elif tamper == "invalid_tx":
        bad = net.users[0].transfer(net.users[1].address, FUNDED * 5, nonce=1)
        txs = [*block.txs, bad]
        hashes = [*block.tx_hashes, bad.signing_hash]
        block = Block(_resign(net, h, tx_root="0x" + compute_tx_root(hashes).hex()), txs, hashes)
    elif tamper == "prev_hash":
        block = Block(_resign(net, h, prev_hash="0x" + "22" * 32), block.txs, block.tx_hashes)
    elif tamper == "height":
        block = Block(_resign(net, h, height=2), block.txs, block.tx_hashes)
    elif tamper == "time":
        block = Block(_resign(net, h, time_ms=0), block.txs, block.tx_hashes)
    before = copy.deepcopy(replica.data)
    with pytest.raises(InvalidTx) as info:
        process_block(replica, genesis, block, sequencer=net.sequencer.address)
    assert info.value.code == "bad_block"
    assert replica.data == before and replica.changes() == {}


def _chain_of_blocks_2(net):  # type: ignore[no-untyped-def]
    state, head = net.fresh_state()
    alice, bob = net.users
    result = net.block(
        state, head, [alice.transfer(bob.address, 1), bob.transfer(alice.address, 2)], time_ms=5_000
    )
    return state, [result.block]


def test_epoch_steps_run_in_the_last_block_of_each_epoch(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    net = make_devnet(1)
    seen: list[int] = []

    def process_probe(state, epoch: int) -> None:  # type: ignore[no-untyped-def]
        seen.append(epoch)
        state.put("probe/last_epoch", epoch)

    monkeypatch.setattr(epoch_mod, "EPOCH_STEPS", list(epoch_mod.EPOCH_STEPS))
    epoch_mod.register_epoch_step(
        "process_probe", process_probe, before="process_unbonding_releases"
    )
    assert [n for n, _ in epoch_mod.EPOCH_STEPS][:2] == [
        "process_probe",
        "process_unbonding_releases",
    ]
    state, head = net.fresh_state()
    heights_with_probe = []
    for _ in range(9):
        result = net.block(state, head, [])
        head = result.block.header
        if any(k == "probe/last_epoch" for k, _ in result.writes):
            heights_with_probe.append(head.height)
    assert heights_with_probe == [3, 7]  # epoch_blocks = 4: heights 3 and 7 end epochs 0 and 1
    assert seen == [0, 1]


def test_unbonded_funds_come_back_only_at_their_release_epoch() -> None:
    net = make_devnet(1, params={"epoch_blocks": 4, "unbonding_epochs": 2})
    state, head = net.fresh_state()
    alice = net.users[0]
    head = net.block(state, head, [alice.tx("stake", {"amount": "1000"})]).block.header
    head = net.block(state, head, [alice.tx("unstake", {"amount": "1000"})]).block.header  # h=2
    balance_locked = get_balance(state, alice.address)
    # epoch 0 -> release_epoch 0 + 1 + 2 = 3, released in the last block of epoch 2 (height 11)
    while head.height < 10:
        head = net.block(state, head, []).block.header
        assert get_balance(state, alice.address) == balance_locked
    head = net.block(state, head, []).block.header
    assert head.height == 11
    assert get_balance(state, alice.address) == balance_locked + 1000
    assert get_stake(state, alice.address).to_state() == {"bonded": 0, "unbonding": []}
    assert state.get("stake/" + alice.address) is None


ops = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "stake", "unstake"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(0, 3 * 10**21),
        st.integers(0, 10),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, per_block=st.integers(1, 5))
def test_supply_is_conserved_and_replay_agrees(ops, per_block: int) -> None:  # type: ignore[no-untyped-def]
    net = make_devnet(3, params={"epoch_blocks": 2, "unbonding_epochs": 0})
    state, head = net.fresh_state()
    txs = []
    for kind, i, j, amount, fee in ops:
        user = net.users[i]
        if kind == "transfer":
            txs.append(user.transfer(net.users[j].address, amount, fee=fee))
        else:
            txs.append(user.tx(kind, {"amount": str(max(amount, 1))}, fee=fee))
    blocks = []
    for k in range(0, len(txs), per_block):
        result = net.block(state, head, txs[k : k + per_block])
        head = result.block.header
        blocks.append(result.block)
        assert supply_accounted(state) == net.genesis.supply
    replica, rhead = net.fresh_state()
    for block in blocks:
        process_block(replica, rhead, block, sequencer=net.sequencer.address)
        replica.commit()
        rhead = block.header
    assert replica.data == state.data


# ---- beacon ---------------------------------------------------------------------------------


def _beacon_over(secret: bytes, chain: str, height: int, prev_output: bytes) -> str:
    return "0x" + vrf.prove(secret, compute_beacon_alpha(chain, height, prev_output)).hex()


@pytest.mark.parametrize(
    "tamper", ["bit_flip", "other_height", "other_prev_beacon", "other_key", "empty", "garbage"]
)
def test_process_block_refuses_a_bad_beacon_and_changes_nothing(tamper: str) -> None:
    net = make_devnet(2)
    _, blocks = _chain_of_blocks_2(net)
    replica, genesis = net.fresh_state()
    block = blocks[0]
    h = block.header
    secret, chain, prev_output = net.sequencer.secret, h.chain, compute_beacon_output(genesis)
    beacon = {
        "bit_flip": "0x" + _flip_hex_byte(h.beacon[2:], 40),
        "other_height": _beacon_over(secret, chain, 2, prev_output),
        "other_prev_beacon": _beacon_over(secret, chain, 1, keccak256(b"another beacon")),
        "other_key": _beacon_over(net.users[0].secret, chain, 1, prev_output),
        "empty": "",
        "garbage": "0x" + "ab" * 81,
    }[tamper]
    # re-signed by the sequencer: only the beacon is wrong
    bad = Block(_resign(net, h, beacon=beacon), block.txs, block.tx_hashes)
    before = copy.deepcopy(replica.data)
    with pytest.raises(InvalidTx, match="bad beacon") as info:
        process_block(replica, genesis, bad, sequencer=net.sequencer.address)
    assert info.value.code == "bad_block"
    assert replica.data == before and replica.changes() == {}


def _flip_hex_byte(text: str, index: int) -> str:
    raw = bytearray(bytes.fromhex(text))
    raw[index] ^= 1
    return raw.hex()


def test_parse_block_checks_the_beacon_field() -> None:
    net = make_devnet(2)
    _, blocks = _chain_of_blocks_2(net)
    wire = blocks[0].to_dict()
    assert parse_block(copy.deepcopy(wire)).header.beacon == blocks[0].header.beacon
    for bad in ("", "0x" + "ab" * 80, "0x" + "zz" * 81, None):
        raw = copy.deepcopy(wire)
        raw["header"]["beacon"] = bad
        with pytest.raises(MalformedInput):
            parse_block(raw)
    missing = copy.deepcopy(wire)
    del missing["header"]["beacon"]
    with pytest.raises(MalformedInput, match="exactly the fields"):
        parse_block(missing)
    _, genesis = net.fresh_state()
    assert genesis.beacon == "" and parse_block({"header": genesis.to_dict()}).header == genesis
    with pytest.raises(MalformedInput, match="genesis"):
        parse_block({"header": {**genesis.to_dict(), "beacon": wire["header"]["beacon"]}})


def test_beacon_outputs_chain_and_reach_the_block_context(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    net = make_devnet(3)
    seen: list[bytes] = []
    monkeypatch.setattr(
        block_mod, "process_market_begin_block", lambda state, ctx: seen.append(ctx.beacon)
    )
    _, blocks = _chain_of_blocks(net, 6)
    _, genesis = net.fresh_state()
    public = PublicKey.from_secret(net.sequencer.secret).format()
    prev_output = keccak256(b"nnet-beacon-genesis" + genesis.chain.encode())
    assert compute_beacon_output(genesis) == prev_output
    outputs = []
    for block in blocks:
        h = block.header
        pi = bytes.fromhex(h.beacon[2:])
        alpha = b"nnet-beacon" + h.chain.encode() + h.height.to_bytes(8, "big") + prev_output
        prev_output = vrf.verify(public, pi, alpha)
        assert compute_beacon_output(h) == prev_output
        outputs.append(prev_output)
    assert len(set(outputs)) == len(outputs)
    assert seen == outputs  # build_block passed each block's own output
    replica, head = net.fresh_state()
    seen.clear()
    for block in blocks:
        process_block(replica, head, block, sequencer=net.sequencer.address)
        replica.commit()
        head = block.header
    assert seen == outputs  # and so did process_block


def test_the_sequencer_cannot_grind_the_beacon() -> None:
    """100 variants of block 1 (time, which txs, their order) and a different chain history
    all give the one beacon output the key fixes for each height."""
    net = make_devnet(3)
    alice, bob, carol = net.users
    txs = [
        alice.transfer(bob.address, 1),
        bob.transfer(carol.address, 2),
        carol.transfer(alice.address, 3),
    ]
    state, genesis = net.fresh_state()
    rng = random.Random(1)
    header_hashes, outputs = set(), set()
    for attempt in range(100):
        order = rng.sample(txs, k=rng.randint(0, 3))
        result = build_block(
            state,
            genesis,
            [(t, t.signing_hash) for t in order],
            time_ms=2_000 + attempt,
            proposer=net.sequencer.address,
            secret=net.sequencer.secret,
        )
        state.rollback()
        header_hashes.add(result.block.header.hash)
        outputs.add(compute_beacon_output(result.block.header))
    assert len(header_hashes) == 100 and len(outputs) == 1
    # two different histories: the same beacon at every height
    _, chain_a = _chain_of_blocks(net, 4)
    state_b, head = net.fresh_state()
    chain_b = []
    for i in range(4):
        head = net.block(state_b, head, [], time_ms=9_000 + i).block.header
        chain_b.append(head)
    assert [b.header.beacon for b in chain_a] == [h.beacon for h in chain_b]
    assert [b.header.hash for b in chain_a] != [h.hash for h in chain_b]


def test_a_block_holds_at_most_max_block_bytes_of_transactions() -> None:
    """The sequencer stops at the byte cap (the rest waits for the next block); a block over it
    is refused on replay, so no peer can be made to serve (or store) an unbounded block."""
    from nnet.chain.fees import compute_tx_size

    cap = 64 << 10
    net = make_devnet(2, params={"max_block_bytes": cap})
    state, genesis = net.fresh_state()
    alice, bob = net.users
    txs = [alice.transfer(bob.address, 1) for _ in range(250)]  # ~330 bytes each: ~80 kB
    result = net.block(state, genesis, txs)
    sizes = [compute_tx_size(t) for t in txs]
    fits = max(n for n in range(len(txs) + 1) if sum(sizes[:n]) <= cap)
    assert 0 < fits < len(txs)
    assert len(result.block.txs) == fits and not result.rejected

    # a block made under a bigger cap is refused by a node whose chain says 64 KiB
    big = make_devnet(2, params={"max_block_bytes": 12 << 20})
    big_state, big_genesis = big.fresh_state()
    a2, b2 = big.users
    many = [a2.transfer(b2.address, 1) for _ in range(250)]
    block = big.block(big_state, big_genesis, many).block
    assert len(block.txs) == 250
    strict = make_devnet(2, params={"max_block_bytes": cap})
    strict_state, _ = strict.fresh_state()
    with pytest.raises(InvalidTx, match="max_block_bytes"):
        process_block(strict_state, big_genesis, block, sequencer=big.sequencer.address)
