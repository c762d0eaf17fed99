"""The light-client finality check: a real certificate (real BLS signatures of four validators)
proves its block final, and each way of faking one is refused with its reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nnet.errors import MalformedInput
from nnet.services.finality import verify_finality
from tests.services.certs import (
    CHAIN,
    HEIGHT,
    VALIDATORS,
    block_id_of,
    make_cert,
    make_header,
    set_hash,
)


def test_a_real_certificate_proves_its_block_final() -> None:
    header = make_header()
    cert = make_cert(header, [0, 1, 3], round_=2)  # 80 of 100
    report = verify_finality(CHAIN, header, cert, VALIDATORS)
    assert report.ok and report.reason is None
    assert (report.height, report.round) == (HEIGHT, 2)
    assert report.block_hash == "0x" + block_id_of(header).hex()
    assert (report.signed_power, report.total_power) == (80, 100)
    assert report.signers == [VALIDATORS[i]["address"] for i in (0, 1, 3)]
    assert report.to_dict()["ok"] is True and report.to_dict()["hash"] == report.block_hash


def test_a_certificate_of_another_block_is_refused() -> None:
    header = make_header()
    other = make_header(state_root="0x" + "03" * 32)
    report = verify_finality(CHAIN, header, make_cert(other, [0, 1, 2, 3]), VALIDATORS)
    assert not report.ok and "the certificate is for block" in (report.reason or "")
    # and one of another height
    report = verify_finality(CHAIN, header, make_cert(make_header(HEIGHT + 1), [0, 1]), VALIDATORS)
    assert not report.ok and f"not {HEIGHT}" in (report.reason or "")


def test_a_flipped_signer_bit_is_refused() -> None:
    header = make_header()
    cert = make_cert(header, [0, 1, 2])  # bits 0b0111
    added = replace(cert, signers=bytes([cert.signers[0] | 0b1000]))  # claims one who did not sign
    dropped = replace(cert, signers=bytes([cert.signers[0] & ~0b0100]))  # hides one who did
    for forged in (added, dropped):
        report = verify_finality(CHAIN, header, forged, VALIDATORS)
        assert not report.ok and report.reason == "the aggregate signature does not verify"


def test_signers_with_two_thirds_or_less_of_the_power_are_refused() -> None:
    header = make_header()
    report = verify_finality(CHAIN, header, make_cert(header, [1, 2, 3]), VALIDATORS)
    assert not report.ok and report.reason == "signers hold 60 of 100 power, not more than 2/3"
    assert (report.signed_power, report.total_power) == (60, 100)
    assert verify_finality(CHAIN, header, make_cert(header, [0, 2, 3]), VALIDATORS).ok  # 70


def test_a_tampered_aggregate_is_refused() -> None:
    header = make_header()
    cert = make_cert(header, [0, 1, 2])
    elsewhere = make_cert(header, [0, 1, 2], round_=1)  # a real aggregate, of another message
    for signature in (elsewhere.signature, bytes(96), bytes([0xC0]) + bytes(95)):
        report = verify_finality(CHAIN, header, replace(cert, signature=signature), VALIDATORS)
        assert not report.ok and report.reason == "the aggregate signature does not verify"


def test_a_validator_set_that_is_not_the_headers_is_refused() -> None:
    header = make_header()
    cert = make_cert(header, [0, 1, 2])
    more_power = [dict(v) for v in VALIDATORS]
    more_power[3]["power"] = 1  # the set a lying node serves to make 3 signers look like enough
    report = verify_finality(CHAIN, header, cert, more_power)
    assert not report.ok and "does not hash to the header's validators_hash" in (
        report.reason or ""
    )
    reordered = [VALIDATORS[1], VALIDATORS[0], *VALIDATORS[2:]]  # the bitmap means set order
    report = verify_finality(CHAIN, header, cert, reordered)
    assert not report.ok and "validators_hash" in (report.reason or "")


def test_a_header_without_a_validator_set_or_of_another_chain_is_refused() -> None:
    header = make_header(validators_hash="")
    report = verify_finality(CHAIN, header, make_cert(header, [0, 1, 2, 3]), VALIDATORS)
    assert not report.ok and "not a network block" in (report.reason or "")
    header = make_header()
    report = verify_finality("nnet-other", header, make_cert(header, [0, 1, 2]), VALIDATORS)
    assert not report.ok and "nnet-other" in (report.reason or "")


def test_malformed_input_is_a_usage_error() -> None:
    header = make_header()
    cert = make_cert(header, [0, 1, 2])
    with pytest.raises(MalformedInput, match="bls_key"):
        verify_finality(CHAIN, header, cert, [{**VALIDATORS[0], "bls_key": "0x12"}])
    with pytest.raises(MalformedInput, match="power"):
        verify_finality(CHAIN, header, cert, [{**VALIDATORS[0], "power": -1}])
    with pytest.raises(MalformedInput, match="non-empty"):
        verify_finality(CHAIN, header, cert, [])
    with pytest.raises(MalformedInput, match="header"):
        verify_finality(CHAIN, {"chain": CHAIN}, cert, VALIDATORS)
    bad = make_header(validators_hash="0x12")
    with pytest.raises(MalformedInput, match="validators_hash"):
        verify_finality(CHAIN, bad, make_cert(bad, [0, 1, 2]), VALIDATORS)


def test_renaming_the_set_in_the_header_changes_the_block() -> None:
    """A node that serves a set of its choosing and a header naming it: the header's hash is no
    longer the one the validators signed."""
    header = make_header()
    cert = make_cert(header, [0, 1, 2])
    more_power = [dict(v) for v in VALIDATORS]
    more_power[3]["power"] = 1
    forged = make_header(validators_hash=set_hash(more_power))
    report = verify_finality(CHAIN, forged, cert, more_power)
    assert not report.ok and "the certificate is for block" in (report.reason or "")
