"""nnet.crypto against published Ethereum vectors and against py-ecc, the pure-Python reference."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.secp256k1 import secp256k1 as ref

from nnet.crypto import (
    SECP256K1_N,
    address_of_private_key,
    address_of_public_key,
    checksum_address,
    keccak256,
    normalize_address,
    recover_address,
    sign_hash,
)
from nnet.errors import MalformedInput, VerificationFailed

# Published key -> address pairs (private key 1; the web3.js documentation account).
KNOWN_KEYS = [
    (1, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
    (
        0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318,
        "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
    ),
]
# EIP-55's own test addresses.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]

secrets = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda i: i.to_bytes(32, "big"))
hashes = st.binary(min_size=32, max_size=32)


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@pytest.mark.parametrize(("secret", "address"), KNOWN_KEYS)
def test_known_private_keys_give_known_addresses(secret: int, address: str) -> None:
    assert address_of_private_key(secret.to_bytes(32, "big")) == address


@pytest.mark.parametrize("address", EIP55)
def test_eip55_vectors(address: str) -> None:
    assert checksum_address(bytes.fromhex(address[2:])) == address
    assert normalize_address(address.lower()) == address


def test_wrong_checksum_is_refused() -> None:
    bad = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # one letter's case flipped
    with pytest.raises(MalformedInput, match="checksum"):
        normalize_address(bad)


@settings(max_examples=40, deadline=None)
@given(secrets, hashes)
def test_signature_agrees_with_py_ecc(secret: bytes, msg_hash: bytes) -> None:
    sig = bytes.fromhex(sign_hash(secret, msg_hash)[2:])
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    # the reference recovers the same public key, hence the same address
    pub = ref.ecdsa_raw_recover(msg_hash, (v, r, s))
    ref_uncompressed = b"\x04" + pub[0].to_bytes(32, "big") + pub[1].to_bytes(32, "big")
    assert address_of_public_key(ref_uncompressed) == address_of_private_key(secret)
    assert recover_address(msg_hash, "0x" + sig.hex()) == address_of_private_key(secret)
    # and the reference's public key derivation matches ours
    ref_pub = ref.privtopub(secret)
    assert ref_pub == pub
    assert s <= SECP256K1_N // 2  # low-s


@settings(max_examples=20, deadline=None)
@given(secrets, hashes)
def test_py_ecc_signatures_recover_with_coincurve(secret: bytes, msg_hash: bytes) -> None:
    v, r, s = ref.ecdsa_raw_sign(msg_hash, secret)
    if s > SECP256K1_N // 2:  # py-ecc does not normalise; flip to low-s as Ethereum requires
        s, v = SECP256K1_N - s, 55 - v
    sig = "0x" + r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex() + format(v, "02x")
    assert recover_address(msg_hash, sig) == address_of_private_key(secret)


def test_high_s_signature_is_refused() -> None:
    secret, h = os.urandom(32), os.urandom(32)
    sig = bytes.fromhex(sign_hash(secret, h)[2:])
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(VerificationFailed, match="high s"):
        recover_address(h, "0x" + flipped.hex())


@pytest.mark.parametrize(
    "sig",
    ["0x", "0x" + "00" * 65, "0x" + "11" * 64 + "1d", "0x" + "zz" * 65, "nothex"],
)
def test_malformed_signatures_are_refused(sig: str) -> None:
    with pytest.raises(VerificationFailed):
        recover_address(b"\x01" * 32, sig)


def test_an_address_is_the_whole_text() -> None:
    """`$` matched before a trailing newline, and bytes.fromhex skips whitespace: one address,
    two spellings."""
    from nnet.crypto import normalize_address
    from nnet.errors import MalformedInput

    good = "0x" + "ab" * 20
    assert normalize_address(good)
    for bad in (good + "\n", " " + good, good + " ", "0x" + "ab" * 19 + "a\u0663"):
        with pytest.raises(MalformedInput):
            normalize_address(bad)
