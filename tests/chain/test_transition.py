"""process_tx: each rule, its error code, and that a refused transaction changes nothing."""

from __future__ import annotations

import copy

import pytest

from nnet.chain.accounts import get_account, get_balance, get_stake, get_total_bonded
from nnet.chain.transition import TX_PROCESSORS, BlockContext, process_tx
from nnet.errors import InvalidTx
from nnet.tx import Tx
from tests.chain.helpers import FUNDED, make_devnet, supply_accounted


@pytest.fixture
def net():  # type: ignore[no-untyped-def]
    return make_devnet(3)


def ctx(net, height: int = 1) -> BlockContext:  # type: ignore[no-untyped-def]
    return BlockContext(height, height // net.params["epoch_blocks"], net.sequencer.address)


def apply(state, tx: Tx, net, **kw):  # type: ignore[no-untyped-def]
    return process_tx(state, tx, tx.signing_hash, ctx(net, **kw))


def refused(state, tx: Tx, net, code: str) -> InvalidTx:  # type: ignore[no-untyped-def]
    before = copy.deepcopy(state.data)
    changes_before = state.changes()
    with pytest.raises(InvalidTx) as info:
        apply(state, tx, net)
    assert info.value.code == code, info.value.message
    assert state.data == before, "a refused transaction changed the state"
    assert state.changes() == changes_before
    return info.value


def test_transfer_moves_amount_collects_fee_for_rewards_and_bumps_nonce(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob = net.users[0], net.users[1]
    seq_before = get_balance(state, net.sequencer.address)
    tx = alice.transfer(bob.address, 300)  # pays the chain's minimum fee for its size
    assert tx.fee > 0
    events = apply(state, tx, net)
    assert get_balance(state, alice.address) == FUNDED - 300 - tx.fee
    assert get_balance(state, bob.address) == FUNDED + 300
    # fees fund the epoch's rewards (chain/economics.py); fee_proposer_ppm is 0 by default
    assert get_balance(state, net.sequencer.address) == seq_before
    assert state.get("epoch_fees") == tx.fee
    assert get_account(state, alice.address).nonce == 1
    assert [e["type"] for e in events] == ["transfer", "fee"]
    assert supply_accounted(state) == net.genesis.supply


def test_wrong_chain(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice = net.users[0]
    refused(state, alice.transfer(alice.address, 1, chain="other-chain"), net, "wrong_chain")


def test_replayed_nonce_and_nonce_gap(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob = net.users[0], net.users[1]
    first = alice.transfer(bob.address, 1)
    apply(state, first, net)
    e = refused(state, first, net, "bad_nonce")
    assert "already used" in e.message and "next nonce is 1" in e.message
    gap = alice.transfer(bob.address, 1, nonce=5)
    assert "nonce gap" in refused(state, gap, net, "bad_nonce").message


def test_bad_signature(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob = net.users[0], net.users[1]
    good = alice.transfer(bob.address, 1)
    # the same signature over a different body recovers to some other address
    tampered = Tx(
        good.chain,
        good.type,
        good.sender,
        good.nonce,
        good.fee,
        {"to": bob.address, "amount": "2"},
        good.sig,
    )
    refused(state, tampered, net, "bad_signature")
    # a transaction signed by bob but claiming to be from alice
    forged = bob.tx("transfer", {"to": bob.address, "amount": "1"})
    forged = Tx(forged.chain, forged.type, alice.address, 0, forged.fee, forged.body, forged.sig)
    refused(state, forged, net, "bad_signature")
    unsigned = Tx(good.chain, good.type, good.sender, good.nonce, good.fee, good.body, "")
    refused(state, unsigned, net, "bad_signature")


def test_insufficient_funds_counts_the_fee(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob = net.users[0], net.users[1]
    refused(state, alice.transfer(bob.address, FUNDED, nonce=0), net, "insufficient_funds")
    refused(
        state, alice.transfer(bob.address, 0, fee=FUNDED + 1, nonce=0), net, "insufficient_funds"
    )
    fee = alice.transfer(bob.address, FUNDED - 10**16, nonce=0).fee  # same size as the next one
    apply(state, alice.transfer(bob.address, FUNDED - fee, fee=fee, nonce=0), net)
    assert get_balance(state, alice.address) == 0


def test_double_spend_second_spend_refused(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob, carol = net.users
    apply(state, alice.transfer(bob.address, FUNDED * 3 // 4), net)
    refused(state, alice.transfer(carol.address, FUNDED * 3 // 4), net, "insufficient_funds")


def test_fee_below_min_fee(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice = net.users[0]
    least = alice.transfer(alice.address, 1, nonce=0)  # the least fee that pays for its size
    refused(state, alice.transfer(alice.address, 1, fee=least.fee - 1, nonce=0), net, "fee_too_low")
    refused(state, alice.transfer(alice.address, 1, fee=0, nonce=0), net, "fee_too_low")
    state.put("param/min_fee", 10)
    state.put("param/min_fee_per_byte", 0)
    state.commit()
    refused(state, alice.transfer(alice.address, 1, fee=9, nonce=0), net, "fee_too_low")
    apply(state, alice.transfer(alice.address, 1, fee=10, nonce=0), net)


def test_stake_and_unstake(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice = net.users[0]
    bonded0 = get_total_bonded(state)
    apply(state, alice.tx("stake", {"amount": "500"}), net)
    assert get_stake(state, alice.address).bonded == 500
    assert get_total_bonded(state) == bonded0 + 500
    refused(state, alice.tx("unstake", {"amount": "501"}, nonce=1), net, "insufficient_stake")
    events = apply(state, alice.tx("unstake", {"amount": "200"}), net, height=5)
    # epoch of height 5 is 1; locked for unbonding_epochs (1) full epochs after it
    assert events[0]["release_epoch"] == 3
    stake = get_stake(state, alice.address)
    assert stake.to_state() == {"bonded": 300, "unbonding": [[200, 3]]}
    assert state.get("unbond_due/3") == [alice.address]
    assert get_total_bonded(state) == bonded0 + 300
    assert supply_accounted(state) == net.genesis.supply


def test_reward_claim(net) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice = net.users[0]
    refused(state, alice.tx("reward.claim", {}, nonce=0), net, "nothing_to_claim")
    state.put("reward/" + alice.address, 42)
    state.put("pool/staking_rewards", state.get("pool/staking_rewards") - 42)
    state.commit()
    claim = alice.tx("reward.claim", {})
    apply(state, claim, net)
    assert get_balance(state, alice.address) == FUNDED + 42 - claim.fee
    assert state.get("reward/" + alice.address) is None
    assert supply_accounted(state) == net.genesis.supply


def test_processor_that_fails_after_writing_is_reverted(net, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    state, _ = net.fresh_state()
    alice, bob = net.users[0], net.users[1]

    def half_done(st, tx, c):  # type: ignore[no-untyped-def]
        st.put("account/" + bob.address, {"balance": 1, "nonce": 0})
        raise InvalidTx("refused after a write", code="custom")

    monkeypatch.setitem(TX_PROCESSORS, "transfer", half_done)
    refused(state, alice.transfer(bob.address, 1), net, "custom")
