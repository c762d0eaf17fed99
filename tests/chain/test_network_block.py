"""Network headers (chain/block.py): a block of a network chain names the set that signs it
(`validators_hash`), carries its proposer's BLS beacon and a commit certificate proving its
parent final, and is not signed itself. A replica re-executing a chain of them agrees on every
root; every way of faking a header is refused with the state unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nnet import bls
from nnet.chain.block import Block, Header, compute_beacon_output, process_block
from nnet.chain.commit import Certificate
from nnet.chain.validators import is_network
from nnet.crypto import keccak256
from nnet.errors import InvalidTx
from tests.chain import test_market as market
from tests.chain.network_helpers import (
    NetworkChain,
    bls_secret,
    make_network,
    register_tx,
    stake_tx,
    tampered,
)


@pytest.fixture
def chain() -> NetworkChain:
    return NetworkChain(make_network(tag="netblock"))


def refused(c: NetworkChain, block: Block, why: str) -> None:
    """The replica refuses `block` as bad_block naming `why`, and its state is untouched."""
    before = copy.deepcopy(c.replica.data)
    with pytest.raises(InvalidTx, match=why) as err:
        process_block(c.replica, c.replica_head, block, sequencer=c.net.genesis.sequencer)
    assert err.value.code == "bad_block"
    assert c.replica.data == before and c.replica.changes() == {}


def test_a_chain_of_network_blocks_replays_to_the_same_roots(chain: NetworkChain) -> None:
    a, b, carol = chain.net.users
    proposers = set()
    for i in range(12):  # two epoch ends, each proposer several times
        result = chain.included(a.transfer(b.address, 10 + i), b.transfer(carol.address, 1))
        h = result.block.header
        proposers.add(h.proposer)
        assert h.sig == "" and h.is_network
        assert h.validators_hash == chain.set_at(h.height).hash_hex
        assert (h.last_commit is None) == (h.height == 1)
        if h.last_commit is not None:
            assert h.last_commit["height"] == h.height - 1
    assert proposers == set(chain.members(chain.head.height))
    assert chain.replica.data == chain.state.data
    assert is_network(chain.state)


def test_the_beacon_output_is_the_hash_of_the_proposers_bls_signature(
    chain: NetworkChain,
) -> None:
    chain.until(3)
    prev = chain.head
    block = chain.block().block.header
    sig = bytes.fromhex(block.beacon[2:])
    assert len(sig) == bls.SIG_LEN
    assert compute_beacon_output(block) == keccak256(sig)
    message = bls.beacon_message(block.chain, block.height, compute_beacon_output(prev))
    proposer = chain.set_at(block.height).get(block.proposer)
    assert proposer is not None and bls.verify(proposer.bls_key, message, sig)
    # unique: the proposer has exactly one beacon for this height and parent (no grinding)
    again = chain.keys[block.proposer]
    assert bls.sign(bls_secret(again.secret), message) == sig


def _next(chain: NetworkChain, **kw: Any) -> Block:
    return chain.propose(**kw).block


def test_a_header_naming_another_set_is_refused(chain: NetworkChain) -> None:
    chain.until(2)
    good = _next(chain)
    refused(chain, tampered(good, validators_hash="0x" + "11" * 32), "validators_hash")
    process_block(chain.replica, chain.replica_head, good, sequencer="")


def test_a_proposer_outside_the_set_is_refused(chain: NetworkChain) -> None:
    chain.until(2)
    outsider = chain.net.users[0].address  # a funded account, not a validator
    refused(chain, _next(chain, proposer=outsider), "not in the validator set")


def test_a_beacon_by_another_key_is_refused(chain: NetworkChain) -> None:
    chain.until(2)
    proposer = chain.proposer_at(3)
    other = next(a for a in chain.members(3) if a != proposer)
    forged = _next(chain, proposer=proposer, beacon_key=bls_secret(chain.keys[other].secret))
    refused(chain, forged, "bad beacon")


@pytest.mark.parametrize("change", ["height", "prev beacon", "chain"])
def test_a_beacon_over_another_message_is_refused(chain: NetworkChain, change: str) -> None:
    chain.until(2)
    good = _next(chain)
    h = good.header
    chain_id, height, prev = h.chain, h.height, compute_beacon_output(chain.head)
    if change == "height":
        height += 1
    elif change == "prev beacon":
        prev = keccak256(b"another parent")
    else:
        chain_id = "nnet-other"
    message = bls.beacon_message(chain_id, height, prev)
    sig = bls.sign(bls_secret(chain.keys[h.proposer].secret), message)
    refused(chain, tampered(good, beacon="0x" + sig.hex()), "bad beacon")


def test_a_signed_network_header_is_refused(chain: NetworkChain) -> None:
    chain.until(2)
    good = _next(chain)
    refused(chain, tampered(good, sig="0x" + "ab" * 65), "is not signed")


def test_a_sequencer_header_on_a_network_is_refused(chain: NetworkChain) -> None:
    chain.until(2)
    good = _next(chain)
    plain = Block(
        Header(**{**good.header.to_dict(), "validators_hash": "", "last_commit": None}),
        good.txs,
        good.tx_hashes,
    )
    refused(chain, plain, "carries validators_hash and last_commit")


def test_last_commit_is_required_from_height_2(chain: NetworkChain) -> None:
    chain.until(1)
    refused(chain, _next(chain, last_commit=None), "last_commit is missing")
    chain.until(4)
    refused(chain, _next(chain, last_commit=None), "last_commit is missing")


def test_block_1_carries_no_commit(chain: NetworkChain) -> None:
    genesis = chain.head
    # precommits of the genesis header by the whole set: still not allowed (genesis is not voted)
    fake = chain.certify(genesis, height=0, block_id=genesis.hash)
    good = _next(chain)
    assert good.header.height == 1 and good.header.last_commit is None
    refused(chain, tampered(good, last_commit=fake.to_dict()), "block 1 has no parent commit")
    process_block(chain.replica, chain.replica_head, good, sequencer="")


def test_a_certificate_of_another_block_is_refused(chain: NetworkChain) -> None:
    chain.until(3)
    sibling = keccak256(b"a block at the parent's height that is not the parent")
    other_block = chain.certify(chain.head, block_id=sibling)
    refused(chain, _next(chain, last_commit=other_block), "not a certificate of the parent")
    grandparent = chain.certify(chain.head, height=chain.head.height - 1)
    refused(chain, _next(chain, last_commit=grandparent), "not a certificate of the parent")


def test_two_thirds_of_the_power_is_not_enough(chain: NetworkChain) -> None:
    chain.until(3)
    members = chain.set_at(3).members
    powers = {m.address: m.power for m in members}
    assert sorted(powers.values()) == [20, 30, 30, 40]
    exactly = [m.address for m in members if m.power != 40]  # 30 + 30 + 20 = 80 of 120
    assert 3 * sum(powers[a] for a in exactly) == 2 * 120
    refused(chain, _next(chain, signers=exactly), "not more than 2/3")
    one_more = [m.address for m in members if m.power != 20]  # 100 of 120
    chain.block(signers=one_more)
    thirties = [m.address for m in members if m.power == 30]
    just_over = [m.address for m in members if m.address != thirties[0]]  # 40 + 30 + 20 = 90
    chain.block(signers=just_over)


def test_a_flipped_signer_bit_is_refused(chain: NetworkChain) -> None:
    chain.until(3)
    members = chain.members(3)
    cert = chain.certify(chain.head, members[:3])  # 40 + 30 + 30 of 120
    assert cert.signer_indexes() == [0, 1, 2]
    add_one = Certificate(cert.height, cert.round, cert.block_id, b"\x0f", cert.signature)
    refused(chain, _next(chain, last_commit=add_one), "does not verify")
    swap = Certificate(cert.height, cert.round, cert.block_id, b"\x0b", cert.signature)
    refused(chain, _next(chain, last_commit=swap), "does not verify")
    past_end = Certificate(cert.height, cert.round, cert.block_id, b"\x17", cert.signature)
    good = _next(chain, last_commit=cert)
    refused(chain, tampered(good, last_commit=past_end.to_dict()), "past the end")
    process_block(chain.replica, chain.replica_head, good, sequencer="")


def test_a_tampered_aggregate_is_refused(chain: NetworkChain) -> None:
    chain.until(3)
    cert = chain.certify(chain.head)
    # a valid G2 point, but the aggregate of precommits for the round after
    other_round = chain.certify(chain.head, round_=1)
    bad = Certificate(cert.height, cert.round, cert.block_id, cert.signers, other_round.signature)
    refused(chain, _next(chain, last_commit=bad), "does not verify")
    # bytes that are not a point at all
    junk = Certificate(cert.height, cert.round, cert.block_id, cert.signers, b"\x01" * 96)
    refused(chain, _next(chain, last_commit=junk), "does not verify")


def test_the_certificate_of_a_set_boundary_is_signed_by_the_set_before(
    chain: NetworkChain,
) -> None:
    """Across an epoch boundary where the set changes, the first block of the new set carries
    the certificate of the old set's last block; one signed by the new set is refused."""
    newcomer = chain.net.users[0]
    chain.included(stake_tx(newcomer, 50), register_tx(newcomer))
    chain.until(4)  # the last block of epoch 0: the set is recomputed here
    assert chain.set_at(5).since == 5
    old, new = chain.members(4), chain.members(5)
    assert newcomer.address in new and newcomer.address not in old
    # signed by the set that signs block 5, not by the one that signed block 4
    by_new = chain.certify(chain.head, vset=chain.set_at(5))
    good = _next(chain)
    refused(chain, tampered(good, last_commit=by_new.to_dict()), "past the end of the set")
    chain.block()  # by the old set: accepted
    assert chain.head.validators_hash == chain.set_at(5).hash_hex != chain.set_at(4).hash_hex


def test_a_proof_drawn_in_block_h_plus_1_uses_that_blocks_beacon() -> None:
    """The verifiers of a proof included in block h are drawn at the start of block h+1 from
    h+1's beacon output, keccak256 of its proposer's BLS signature (BlockContext.beacon)."""
    net = make_network(n_users=6, params=market.PARAMS, tag="netdraw")
    chain = NetworkChain(net)
    submitter, prover, *verifiers, _ = net.users
    chain.included(*[market.register(a) for a in (prover, *verifiers)])
    chain.included(market.submit(submitter))
    chain.included(prover.tx("job.claim", {"job": 1}))
    chain.included(prover.tx("proof.submit", {"job": 1, "proof": market.proof_doc(prover)}))
    proved_at = chain.head.height
    job = chain.state.get("job/1")
    assert job["status"] == "proved" and job.get("draw_beacon") is None
    drawn = chain.block().block.header
    job = chain.state.get("job/1")
    assert drawn.height == proved_at + 1 and job["status"] == "drawn"
    output = compute_beacon_output(drawn)
    assert output == keccak256(bytes.fromhex(drawn.beacon[2:]))
    assert job["draw_beacon"] == "0x" + output.hex()
    proof_hash = bytes.fromhex(chain.state.get("proof/1")["hash"][2:])
    assert job["draw_seed"] == "0x" + keccak256(output + proof_hash).hex()
