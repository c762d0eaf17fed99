"""BLS (nnet.bls): the fast binding and py_ecc, the reference, agree byte for byte; verification
refuses what it must (another message, another key, a tampered or malformed signature, a missing
signer in an aggregate, a key whose possession was not proved)."""

from __future__ import annotations

import pytest
from py_ecc.bls import G2ProofOfPossession as ref

from nnet import bls
from nnet.errors import MalformedInput

SKS = [bls.derive_secret(bytes([i]) * 32) for i in range(1, 5)]
PKS = [bls.sk_to_pk(sk) for sk in SKS]
MSG = b"nnet-vote|height 7|round 0|precommit|0xabc"

pytestmark = pytest.mark.skipif(bls._fast is None, reason="milagro_bls_binding not installed")


def test_keys_and_signatures_match_the_reference() -> None:
    for sk, pk in zip(SKS, PKS, strict=True):
        assert pk == ref.SkToPk(sk)
        assert len(pk) == bls.PK_LEN
    sig = bls.sign(SKS[0], MSG)
    assert sig == ref.Sign(SKS[0], MSG) and len(sig) == bls.SIG_LEN
    assert ref.Verify(PKS[0], MSG, sig)


def test_aggregates_match_the_reference() -> None:
    sigs = [bls.sign(sk, MSG) for sk in SKS]
    agg = bls.aggregate(sigs)
    assert agg == ref.Aggregate(sigs)
    assert bls.fast_aggregate_verify(PKS, MSG, agg)
    assert ref.FastAggregateVerify(PKS, MSG, agg)


def test_verify_refuses_what_it_must() -> None:
    sig = bls.sign(SKS[0], MSG)
    assert bls.verify(PKS[0], MSG, sig)
    assert not bls.verify(PKS[1], MSG, sig)  # another key
    assert not bls.verify(PKS[0], MSG + b"!", sig)  # another message
    tampered = bytes([sig[0] ^ 1]) + sig[1:]
    assert not bls.verify(PKS[0], MSG, tampered)
    assert not bls.verify(PKS[0], MSG, sig[:-1])  # malformed: no exception, just no
    assert not bls.verify(b"\x00" * 48, MSG, sig)
    assert not bls.verify(PKS[0], MSG, b"\xff" * 96)


def test_an_aggregate_needs_every_signer() -> None:
    sigs = [bls.sign(sk, MSG) for sk in SKS]
    agg = bls.aggregate(sigs[:3])
    assert bls.fast_aggregate_verify(PKS[:3], MSG, agg)
    assert not bls.fast_aggregate_verify(PKS, MSG, agg)  # a key that did not sign
    assert not bls.fast_aggregate_verify(PKS[:2], MSG, agg)
    assert not bls.fast_aggregate_verify([], MSG, agg)
    with pytest.raises(MalformedInput):
        bls.aggregate([])
    with pytest.raises(MalformedInput):
        bls.aggregate([b"\x01" * 96])


OWNER = "0x" + "ab" * 20


def test_proof_of_possession_binds_the_key_and_its_owner() -> None:
    pop = bls.pop_prove(SKS[0], OWNER)
    assert bls.pop_verify(PKS[0], pop, OWNER)
    assert not bls.pop_verify(PKS[1], pop, OWNER)
    # replayed for another account, it is no proof
    assert not bls.pop_verify(PKS[0], pop, "0x" + "cd" * 20)
    # a plain signature of the key bytes (no domain) is not a proof
    assert not bls.pop_verify(PKS[0], bls.sign(SKS[0], PKS[0]), OWNER)


def test_the_beacon_signature_is_unique_and_bound_to_its_slot() -> None:
    prev = b"\x11" * 32
    m = bls.beacon_message("nnet-devnet", 10, prev)
    assert bls.sign(SKS[0], m) == bls.sign(SKS[0], m)  # deterministic: nothing to grind
    assert m != bls.beacon_message("nnet-devnet", 11, prev)
    assert m != bls.beacon_message("nnet-other", 10, prev)
    assert m != bls.beacon_message("nnet-devnet", 10, b"\x12" * 32)


def test_secrets_are_checked() -> None:
    with pytest.raises(MalformedInput):
        bls.derive_secret(b"short")
    with pytest.raises(MalformedInput):
        bls.sign(0, MSG)
    with pytest.raises(MalformedInput):
        bls.sign(bls.CURVE_ORDER, MSG)
