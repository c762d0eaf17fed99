"""secp256k1 signatures and Ethereum addresses, on libsecp256k1 (coincurve).

Signatures are 65-byte recoverable ECDSA over a 32-byte hash, written `0x` + r ‖ s ‖ v with
v ∈ {27, 28}, low-s enforced (PROTOCOL.md). Addresses are the last 20 bytes of keccak256 of the
uncompressed public key, written with the EIP-55 checksum, so keys work in Ethereum wallets too.
py-ecc is the pure-Python reference the tests cross-check this module against.
"""

from __future__ import annotations

import re
from functools import lru_cache

import coincurve
from Crypto.Hash import keccak as _keccak

from nnet.errors import MalformedInput, VerificationFailed

__all__ = [
    "SECP256K1_N",
    "address_of_private_key",
    "address_of_public_key",
    "checksum_address",
    "keccak256",
    "normalize_address",
    "recover_address",
    "recover_public_key",
    "recover_raw_address",
    "sign_hash",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}", re.ASCII)  # whole text: no trailing newline


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (not NIST SHA3-256)."""
    return _keccak.new(digest_bits=256, data=data).digest()


def checksum_address(raw20: bytes) -> str:
    """EIP-55 mixed-case checksum encoding of a 20-byte address."""
    hexaddr = raw20.hex()
    digest = keccak256(hexaddr.encode("ascii")).hex()[:40]
    cased = (c.upper() if int(d, 16) >= 8 else c for c, d in zip(hexaddr, digest, strict=True))
    return "0x" + "".join(cased)


def normalize_address(text: object, field: str = "address") -> str:
    """Parse an address; refuse bad hex and a wrong EIP-55 checksum; return the checksummed form.

    All-lowercase and all-uppercase hex carry no checksum and are accepted, as in Ethereum.
    """
    if not isinstance(text, str) or not _ADDRESS_RE.fullmatch(text):
        raise MalformedInput(f"{field} {text!r} is not an address (0x + 40 hex digits)")
    return _normalize_address_text(text, field)


@lru_cache(maxsize=65536)  # nodes see the same senders again and again; str keys only
def _normalize_address_text(text: str, field: str) -> str:
    body = text[2:]
    canonical = checksum_address(bytes.fromhex(body))
    if body not in (body.lower(), body.upper()) and canonical != text:
        raise MalformedInput(
            f"{field} {text} has a wrong EIP-55 checksum", hint=f"did you mean {canonical}?"
        )
    return canonical


def address_of_public_key(uncompressed65: bytes) -> str:
    """Address of a 65-byte uncompressed public key (0x04 ‖ X ‖ Y)."""
    return checksum_address(keccak256(uncompressed65[1:])[-20:])


def address_of_private_key(secret: bytes) -> str:
    """Address belonging to a 32-byte private key."""
    pub = coincurve.PrivateKey(secret).public_key.format(compressed=False)
    return address_of_public_key(pub)


def sign_hash(secret: bytes, msg_hash: bytes) -> str:
    """Sign a 32-byte hash; returns `0x` + r ‖ s ‖ v (v = 27 + recovery id), low-s."""
    if len(msg_hash) != 32:
        raise ValueError("sign_hash takes a 32-byte hash")
    sig = coincurve.PrivateKey(secret).sign_recoverable(msg_hash, hasher=None)
    return "0x" + sig[:64].hex() + format(27 + sig[64], "02x")


def recover_address(msg_hash: bytes, signature: str) -> str:
    """Recover the signer's checksummed address; raise VerificationFailed on a bad signature."""
    return checksum_address(recover_raw_address(msg_hash, signature))


def recover_raw_address(msg_hash: bytes, signature: str) -> bytes:
    """The signer's 20-byte address; the hot path of every node (no checksum formatting)."""
    sig = _parse_signature(signature)
    try:
        pub = coincurve.PublicKey.from_signature_and_message(sig, msg_hash, hasher=None)
    except Exception:  # libsecp256k1 reports any unrecoverable signature the same way
        raise VerificationFailed("signature does not recover to a public key") from None
    return keccak256(pub.format(compressed=False)[1:])[-20:]


def recover_public_key(msg_hash: bytes, signature: str) -> bytes:
    """The signer's 65-byte uncompressed public key (0x04 ‖ X ‖ Y), for checks that need the key
    and not only its address (the block beacon's VRF); raise VerificationFailed on a bad sig."""
    sig = _parse_signature(signature)
    try:
        pub = coincurve.PublicKey.from_signature_and_message(sig, msg_hash, hasher=None)
    except Exception:  # libsecp256k1 reports any unrecoverable signature the same way
        raise VerificationFailed("signature does not recover to a public key") from None
    return pub.format(compressed=False)


def _parse_signature(signature: str) -> bytes:
    """`0x` r ‖ s ‖ v (v ∈ {27, 28}, s ≤ n/2) -> coincurve's r ‖ s ‖ recid."""
    if not isinstance(signature, str) or not signature.startswith("0x") or len(signature) != 132:
        raise VerificationFailed("sig must be 0x + 130 hex digits (r ‖ s ‖ v)")
    try:
        raw = bytes.fromhex(signature[2:])
    except ValueError:
        raise VerificationFailed("sig is not valid hex") from None
    v = raw[64]
    if v not in (27, 28):
        raise VerificationFailed(f"sig has v = {v}; expected 27 or 28")
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise VerificationFailed("sig has r or s out of range")
    if s > _HALF_N:
        raise VerificationFailed("sig has a high s value (malleable); low-s is required")
    return raw[:64] + bytes([v - 27])
