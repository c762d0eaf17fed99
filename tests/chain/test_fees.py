"""The minimum fee: min_fee + min_fee_per_byte × the signed transaction's canonical size."""

from __future__ import annotations

from nnet.chain.accounts import get_balance
from nnet.chain.fees import (
    DEFAULT_FEE_SCHEDULE,
    compute_required_fee,
    compute_tx_size,
    fit_fee,
)
from nnet.chain.params import PARAMS
from nnet.encoding import UNIT, canonical_json
from nnet.tx import build_tx
from tests.chain.helpers import CHAIN, ReplicatedChain, account, make_devnet


def test_size_is_the_signed_canonical_json_and_signing_does_not_change_it() -> None:
    alice = account("fees-alice")
    unsigned = build_tx(
        CHAIN, "transfer", alice.address, 7, 10**15, {"to": alice.address, "amount": "1"}
    )
    signed = unsigned.signed(alice.secret)
    assert compute_tx_size(signed) == len(canonical_json(signed.to_dict()))
    assert compute_tx_size(unsigned) == compute_tx_size(signed)
    # text counts in UTF-8 bytes: "é" is two
    plain = alice.tx("gov.propose", {"kind": "text", "title": "e" * 10}, fee=0, nonce=0)
    accented = alice.tx("gov.propose", {"kind": "text", "title": "é" * 10}, fee=0, nonce=0)
    assert compute_tx_size(accented) == compute_tx_size(plain) + 10


def test_defaults_are_non_zero_and_scale_with_size() -> None:
    assert PARAMS["min_fee"].default == 10**15 and PARAMS["min_fee_per_byte"].default == 10**13
    alice = account("fees-alice")
    transfer = alice.transfer(alice.address, 1, nonce=0)
    big = alice.tx("gov.propose", {"kind": "text", "title": "t", "description": "x" * 2000})
    assert 300 < compute_tx_size(transfer) < 400
    assert transfer.fee == DEFAULT_FEE_SCHEDULE.required(compute_tx_size(transfer))
    assert transfer.fee < UNIT // 100  # well under a hundredth of an NNET
    assert big.fee - transfer.fee == 10**13 * (compute_tx_size(big) - compute_tx_size(transfer))


def test_fit_fee_finds_the_least_fee_that_pays_for_its_own_digits() -> None:
    alice = account("fees-alice")

    def make(f: int):  # type: ignore[no-untyped-def]
        return build_tx(
            CHAIN, "transfer", alice.address, 0, f, {"to": alice.address, "amount": "1"}
        )

    tx = fit_fee(make, DEFAULT_FEE_SCHEDULE)
    assert tx.fee == DEFAULT_FEE_SCHEDULE.required_for(tx)
    assert make(tx.fee - 1).fee < DEFAULT_FEE_SCHEDULE.required_for(make(tx.fee - 1))
    assert fit_fee(make, DEFAULT_FEE_SCHEDULE, at_least=UNIT).fee == UNIT


def test_a_never_funded_key_cannot_send_anything_and_fees_keep_the_supply_whole() -> None:
    net = make_devnet(2, tag="fees")
    chain = ReplicatedChain(net)  # checks the supply audit and a replica after every block
    stranger = account("fees-never-funded")
    free = stranger.transfer(stranger.address, 0, fee=0, nonce=0)
    paying = stranger.transfer(stranger.address, 0, nonce=0)
    result = chain.block(free, paying)
    assert not result.block.txs
    assert [e.code for _, e in result.rejected] == ["fee_too_low", "insufficient_funds"]
    assert chain.state.get("account/" + stranger.address) is None
    # funded users pay, block after block across an epoch end, and every unit is accounted for
    a, b = net.users
    paid = 0
    for _ in range(2 * net.params["epoch_blocks"]):
        tx = a.transfer(b.address, UNIT)
        paid += tx.fee
        chain.block(tx)
    assert get_balance(chain.state, a.address) == 1_000 * UNIT - 8 * UNIT - paid
    assert compute_required_fee(chain.state, tx) == tx.fee
