"""nnet.vrf: reference vectors, round trips, refusal of every tampering, garbage, uniqueness."""

from __future__ import annotations

import os
import random

import pytest
from coincurve import PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from nnet import vrf
from nnet.crypto import SECP256K1_N, keccak256
from nnet.errors import VerificationFailed

# ECVRF-SECP256K1-SHA256-TAI vectors (RFC 9381 structure, suite 0xFE) from atikayda/ecvrf
# (vectors/vectors.json), whose generator reproduces RFC 9381's P-256 vectors byte for byte.
# (sk, alpha, H, k, pi, beta)
VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "",
        "024192220588c4ef502f5d2ab75552edfbe0256cebb0424efb9c4c58f438c3dcb4",
        "db55edaf0706552da59a41b69be3740840ff95f529b0ebdc5a4ab2a32832aeda",
        "024192220588c4ef502f5d2ab75552edfbe0256cebb0424efb9c4c58f438c3dcb4"
        "3740e701a78589f13a3577908db37b1d"
        "db55edaf0706552da59a41b69be3740878407cf6d13675cd94802a33b5e629f7",
        "6bf7eda22a89f87fb8c8e17fa111727ca02d0a23db29fdcbe7ac84280e8bde24",
    ),
    (
        "07ae54391b81d1f1cbbeaf1389935d132295c2ac16e90f8742ee9c08cdacbf0e",
        "",
        "02229e9e7e38bf1711c9688cd9783f048d4cc9525d0752b31b9a65db0816ccedc7",
        "8b42dca5c6cf02aab958696567e21df6f46ae025feae8017965fae9374a079a9",
        "032e7686ba8b2cd61b75ccce93ae49cd97ff5d65009586d9db7fb0d1420f3d087b"
        "520b88c0422a7b4dbd97471b79a50393"
        "cc4400324f49c38bb308fef58fca7f81dd94f86aa0861a604fe544ab13bd7706",
        "816255bf4c87656e41e4c1c0e40ecc6e11ee86d996da843f74d49c1f80cdbcc3",
    ),
    (
        "9828d8ebfd85e5ddd819e7a87515a882f7b0c2b664e852949eaa4028f5d83934",
        "00",
        "0228546beed387b3ab9bcad80ca8fc9dfb50fbd221af98e12aa8bdd4173d106bdd",
        "b47f31736bb11d54819a1c45df435c1f3f5f9978ec6f3edaef3795b10c107e96",
        "03da2e8fe3af65da1e68e133cd65e7dc4309db3ceea971cd916c0f0e93e25125c4"
        "824458e8883c15642109e1b6d9b0273a"
        "b5245ae674014aa3c8142d15d9578bdeba4eb83c7a34b5324cca1bb891932f25",
        "91e438c9fbdd0949502acd234d39e085af7d9bf6c92d35116f67430f70733a45",
    ),
    (
        "9828d8ebfd85e5ddd819e7a87515a882f7b0c2b664e852949eaa4028f5d83934",
        "30312d303030303033",  # "01-000003": H found at ctr = 3
        "02d44f312f43e8a582b4fe515da1aad43aa95d6f7edf7173221ccb5ce52d42fa85",
        "a26ac8ed022aae8940e7a97cefb0db4118ba0ce7feb2503153fb105676eeb4b3",
        "036dd09336079d5d29ec14212e5455e7f437102335f907dd4a3310108b9a5139c2"
        "e0014dbd2836b79f5c2a9cc4daf4c0e7"
        "370f7e807e496763e2397658a3de31473e3262c9efecbc488ff9a1491336bdc4",
        "c83abaac553b1748ea424b32848101a9b76b507c3e4c16f21cef472327db562d",
    ),
]

SECRET = keccak256(b"vrf-test-key")
PUBLIC = PublicKey.from_secret(SECRET).format()
OTHER_SECRET = keccak256(b"vrf-test-other-key")


def _flip(data: bytes, index: int, bit: int = 1) -> bytes:
    return data[:index] + bytes([data[index] ^ bit]) + data[index + 1 :]


@pytest.mark.parametrize("vector", VECTORS, ids=[f"vector{i}" for i in range(len(VECTORS))])
def test_matches_the_reference_vectors(vector: tuple[str, ...]) -> None:
    sk, alpha, h, k, pi, beta = (bytes.fromhex(v) for v in vector)
    public = PublicKey.from_secret(sk).format()
    point_h = vrf._encode_to_curve(public, alpha)
    assert point_h.format() == h
    assert vrf._nonce(int.from_bytes(sk, "big"), point_h.format()) == int.from_bytes(k, "big")
    assert vrf.prove(sk, alpha) == pi
    assert vrf.verify(public, pi, alpha) == beta
    assert vrf.proof_to_hash(pi) == beta


def test_round_trip_and_determinism() -> None:
    pi = vrf.prove(SECRET, b"alpha")
    assert len(pi) == vrf.PROOF_LEN == 81
    beta = vrf.verify(PUBLIC, pi, b"alpha")
    assert len(beta) == vrf.OUTPUT_LEN and beta == vrf.proof_to_hash(pi)
    assert vrf.prove(SECRET, b"alpha") == pi
    uncompressed = PublicKey.from_secret(SECRET).format(compressed=False)
    assert vrf.verify(uncompressed, pi, b"alpha") == beta


def test_different_alphas_give_different_outputs() -> None:
    betas = {vrf.proof_to_hash(vrf.prove(SECRET, bytes([i]) * i)) for i in range(64)}
    assert len(betas) == 64


@pytest.mark.parametrize("index", range(vrf.PROOF_LEN))
def test_every_single_bit_flip_of_pi_is_refused(index: int) -> None:
    pi = vrf.prove(SECRET, b"tamper")
    for bit in (0x01, 0x80):
        with pytest.raises(VerificationFailed):
            vrf.verify(PUBLIC, _flip(pi, index, bit), b"tamper")


def test_another_alpha_or_another_key_is_refused() -> None:
    pi = vrf.prove(SECRET, b"tamper")
    for alpha in (b"tampeR", b"tamper\x00", b"", b"tampe"):
        with pytest.raises(VerificationFailed, match="does not verify"):
            vrf.verify(PUBLIC, pi, alpha)
    other = PublicKey.from_secret(OTHER_SECRET).format()
    with pytest.raises(VerificationFailed, match="does not verify"):
        vrf.verify(other, pi, b"tamper")
    # the other key's own proof verifies only under the other key
    with pytest.raises(VerificationFailed):
        vrf.verify(PUBLIC, vrf.prove(OTHER_SECRET, b"tamper"), b"tamper")


def test_garbage_of_every_length_is_refused_with_verification_failed() -> None:
    rng = random.Random(7)
    for length in range(0, 200):
        junk = rng.randbytes(length)
        with pytest.raises(VerificationFailed):
            vrf.verify(PUBLIC, junk, b"x")
        with pytest.raises(VerificationFailed):
            vrf.proof_to_hash(junk)
        with pytest.raises(VerificationFailed):
            vrf.verify(junk, vrf.prove(SECRET, b"x"), b"x")


def test_malformed_fields_are_refused() -> None:
    pi = vrf.prove(SECRET, b"x")
    gamma, c, s = pi[:33], pi[33:49], pi[49:]
    n = SECP256K1_N.to_bytes(32, "big")
    not_on_curve = b"\x02" + (7).to_bytes(32, "big")  # x = 7: x^3 + 7 = 350 is no square mod p
    cases = {
        "s = n": gamma + c + n,
        "s = 2^256 - 1": gamma + c + b"\xff" * 32,
        "Gamma off the curve": not_on_curve + c + s,
        "Gamma x >= p": b"\x02" + b"\xff" * 32 + c + s,
        "Gamma uncompressed prefix": b"\x04" + gamma[1:] + c + s,
        "Gamma zero": b"\x00" * 33 + c + s,
        "c = 0, s = 0": gamma + b"\x00" * 48,
        "c = 0": gamma + b"\x00" * 16 + s,
    }
    for name, bad in cases.items():
        with pytest.raises(VerificationFailed):
            vrf.verify(PUBLIC, bad, b"x")
            pytest.fail(name)
    for key in (not_on_curve, b"\x04" + b"\x00" * 64, b"", PUBLIC[:-1], PUBLIC + b"\x00"):
        with pytest.raises(VerificationFailed):
            vrf.verify(key, pi, b"x")
    for wrong_type in (pi.hex(), None, 5, bytearray(pi)):
        with pytest.raises(VerificationFailed):
            vrf.verify(PUBLIC, wrong_type, b"x")  # type: ignore[arg-type]
        with pytest.raises(VerificationFailed):
            vrf.verify(wrong_type, pi, b"x")  # type: ignore[arg-type]
    with pytest.raises(VerificationFailed):
        vrf.verify(PUBLIC, pi, "x")  # type: ignore[arg-type]


def test_a_prover_free_to_pick_its_nonce_still_gets_the_same_output() -> None:
    """The nonce is the only freedom a prover has besides the key; a proof made with any nonce
    verifies, but its beta is the same: the output depends on the key and alpha only."""
    x = int.from_bytes(SECRET, "big")
    h = vrf._encode_to_curve(PUBLIC, b"grind")
    gamma = h.multiply(SECRET).format()
    honest = vrf.prove(SECRET, b"grind")
    seen = set()
    for _ in range(20):
        k = int.from_bytes(os.urandom(32), "big") % (SECP256K1_N - 1) + 1
        u = PublicKey.from_secret(k.to_bytes(32, "big")).format()
        v = h.multiply(k.to_bytes(32, "big")).format()
        c = vrf._challenge(PUBLIC, h.format(), gamma, u, v)
        s = (k + c * x) % SECP256K1_N
        pi = gamma + c.to_bytes(16, "big") + s.to_bytes(32, "big")
        seen.add(pi)
        assert vrf.verify(PUBLIC, pi, b"grind") == vrf.proof_to_hash(honest)
    assert len(seen) == 20


def test_prove_refuses_a_bad_secret() -> None:
    for secret in (b"\x00" * 32, SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31):
        with pytest.raises(ValueError):
            vrf.prove(secret, b"x")


@settings(max_examples=60, deadline=None)
@given(
    secret=st.integers(1, SECP256K1_N - 1).map(lambda v: v.to_bytes(32, "big")),
    alpha=st.binary(max_size=100),
    other=st.binary(max_size=100),
)
def test_any_key_and_alpha_round_trip_and_bind_alpha(
    secret: bytes, alpha: bytes, other: bytes
) -> None:
    public = PublicKey.from_secret(secret).format()
    pi = vrf.prove(secret, alpha)
    assert vrf.verify(public, pi, alpha) == vrf.proof_to_hash(pi)
    if other != alpha:
        with pytest.raises(VerificationFailed):
            vrf.verify(public, pi, other)
