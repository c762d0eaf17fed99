"""ECVRF-SECP256K1-SHA256-TAI: a verifiable random function on the chain's own curve.

A VRF is a signature that is *unique*: for one key and one input `alpha` there is exactly one
output `beta` that verifies, so whoever holds the key cannot vary the output by re-signing, yet
nobody without the key can predict it. The chain uses it for its random beacon (chain/block.py).

This is RFC 9381's ECVRF (section 5) with these choices, the community's secp256k1 suite:

| parameter             | value                                                         |
| --------------------- | ------------------------------------------------------------- |
| suite_string          | 0xFE                                                          |
| group                 | secp256k1, cofactor 1, points SEC1-compressed (33 bytes)      |
| hash                  | SHA-256; cLen = 16, qLen = 32, so pi = Gamma ‖ c ‖ s, 81 bytes |
| encode_to_curve       | try-and-increment, salt = the public key (section 5.4.1.1)    |
| nonce                 | RFC 6979 (HMAC-SHA256) over point_to_string(H) (5.4.2.1)      |
| challenge             | over Y, H, Gamma, U, V (5.4.3)                                |
| key validation        | none needed: libsecp256k1 only parses points on the curve     |

All curve arithmetic is libsecp256k1's (coincurve); secret-dependent multiplications go through
its constant-time paths. `verify` and `proof_to_hash` answer any malformed input with
VerificationFailed and never with another exception.
"""

from __future__ import annotations

import hashlib
import hmac

from coincurve import PublicKey

from nnet.crypto import SECP256K1_N
from nnet.errors import VerificationFailed

__all__ = ["OUTPUT_LEN", "PROOF_LEN", "SUITE", "proof_to_hash", "prove", "verify"]

SUITE = b"\xfe"
POINT_LEN = 33
C_LEN = 16
S_LEN = 32
PROOF_LEN = POINT_LEN + C_LEN + S_LEN
OUTPUT_LEN = 32

_ENCODE_TO_CURVE = b"\x01"
_CHALLENGE = b"\x02"
_PROOF_TO_HASH = b"\x03"
_BACK = b"\x00"
_N = SECP256K1_N


def prove(secret: bytes, alpha: bytes) -> bytes:
    """The proof pi (81 bytes) that `beta = proof_to_hash(pi)` is the VRF of `alpha` under the
    32-byte secp256k1 `secret`. Deterministic: the same secret and alpha give the same pi."""
    x = _secret_scalar(secret)
    y = PublicKey.from_secret(secret).format()
    h = _encode_to_curve(y, alpha)
    h_string = h.format()
    gamma = h.multiply(secret).format()
    k = _nonce(x, h_string)
    k_bytes = k.to_bytes(32, "big")
    u = PublicKey.from_secret(k_bytes).format()
    v = h.multiply(k_bytes).format()
    c = _challenge(y, h_string, gamma, u, v)
    s = (k + c * x) % _N
    return gamma + c.to_bytes(C_LEN, "big") + s.to_bytes(S_LEN, "big")


def verify(public_key: bytes, pi: bytes, alpha: bytes) -> bytes:
    """beta (32 bytes) if `pi` proves the VRF of `alpha` under `public_key` (33-byte compressed
    or 65-byte uncompressed secp256k1 point); otherwise raise VerificationFailed."""
    y_point = _decode_point(public_key, "VRF public key")
    gamma, c, s = _decode_proof(pi)
    y = y_point.format()
    h = _encode_to_curve(y, alpha)
    u = _add(_mul(None, s), _mul(y_point, _N - c))  # U = s·B - c·Y
    v = _add(_mul(h, s), _mul(gamma, _N - c))  # V = s·H - c·Gamma
    if _challenge(y, h.format(), gamma.format(), u.format(), v.format()) != c:
        raise VerificationFailed("VRF proof does not verify for this key and input")
    return _gamma_to_hash(gamma)


def proof_to_hash(pi: bytes) -> bytes:
    """beta of a proof, without verifying it (RFC 9381 section 5.2): call it on proofs that
    `verify` accepted, or that `prove` made. A malformed pi raises VerificationFailed."""
    gamma, _, _ = _decode_proof(pi)
    return _gamma_to_hash(gamma)


def _gamma_to_hash(gamma: PublicKey) -> bytes:
    return hashlib.sha256(SUITE + _PROOF_TO_HASH + gamma.format() + _BACK).digest()


def _secret_scalar(secret: bytes) -> int:
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise ValueError("a VRF secret is 32 bytes")
    x = int.from_bytes(secret, "big")
    if not 0 < x < _N:
        raise ValueError("a VRF secret must be a scalar in [1, n-1]")
    return x


def _decode_point(data: object, what: str) -> PublicKey:
    if not isinstance(data, bytes) or len(data) not in (33, 65):
        raise VerificationFailed(f"{what} must be a 33- or 65-byte secp256k1 point")
    try:
        return PublicKey(data)
    except ValueError:
        raise VerificationFailed(f"{what} is not a point on secp256k1") from None


def _decode_proof(pi: object) -> tuple[PublicKey, int, int]:
    """(Gamma, c, s) of pi = Gamma(33, compressed) ‖ c(16) ‖ s(32), with s < n."""
    if not isinstance(pi, bytes) or len(pi) != PROOF_LEN:
        raise VerificationFailed(f"a VRF proof is {PROOF_LEN} bytes")
    gamma = _decode_point(pi[:POINT_LEN], "VRF proof Gamma")
    c = int.from_bytes(pi[POINT_LEN : POINT_LEN + C_LEN], "big")
    s = int.from_bytes(pi[POINT_LEN + C_LEN :], "big")
    if s >= _N:
        raise VerificationFailed("VRF proof has s >= n")
    return gamma, c, s


def _encode_to_curve(salt: bytes, alpha: bytes) -> PublicKey:
    """H: the first candidate x = SHA-256(suite ‖ 0x01 ‖ salt ‖ alpha ‖ ctr ‖ 0x00) that is the
    x-coordinate of a curve point (taken with even y). Each try succeeds with probability ~1/2."""
    if not isinstance(alpha, bytes):
        raise VerificationFailed("VRF input alpha must be bytes")
    for ctr in range(256):
        candidate = hashlib.sha256(
            SUITE + _ENCODE_TO_CURVE + salt + alpha + bytes([ctr]) + _BACK
        ).digest()
        try:
            return PublicKey(b"\x02" + candidate)
        except ValueError:
            continue
    raise VerificationFailed("no curve point in 256 tries (probability 2^-256)")


def _nonce(x: int, h_string: bytes) -> int:
    """RFC 6979 section 3.2 with HMAC-SHA256, private key x and message point_to_string(H)."""
    h1 = int.from_bytes(hashlib.sha256(h_string).digest(), "big") % _N
    seed = x.to_bytes(32, "big") + h1.to_bytes(32, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = _hmac(k, v + b"\x00" + seed)
    v = _hmac(k, v)
    k = _hmac(k, v + b"\x01" + seed)
    v = _hmac(k, v)
    while True:
        v = _hmac(k, v)
        candidate = int.from_bytes(v, "big")
        if 0 < candidate < _N:
            return candidate
        k = _hmac(k, v + b"\x00")
        v = _hmac(k, v)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _challenge(*points: bytes) -> int:
    """c: the first cLen bytes of SHA-256(suite ‖ 0x02 ‖ Y ‖ H ‖ Gamma ‖ U ‖ V ‖ 0x00)."""
    digest = hashlib.sha256(SUITE + _CHALLENGE + b"".join(points) + _BACK).digest()
    return int.from_bytes(digest[:C_LEN], "big")


def _mul(point: PublicKey | None, scalar: int) -> PublicKey | None:
    """scalar·point (point None: the generator B); None stands for the point at infinity."""
    scalar %= _N
    if scalar == 0:
        return None
    raw = scalar.to_bytes(32, "big")
    return PublicKey.from_secret(raw) if point is None else point.multiply(raw)


def _add(a: PublicKey | None, b: PublicKey | None) -> PublicKey:
    """a + b; a sum at infinity cannot come from an honest proof (U = k·B, V = k·H, 0 < k < n)."""
    terms = [p for p in (a, b) if p is not None]
    if not terms:
        raise VerificationFailed("VRF proof gives the point at infinity")
    if len(terms) == 1:
        return terms[0]
    try:
        return PublicKey.combine_keys(terms)
    except ValueError:
        raise VerificationFailed("VRF proof gives the point at infinity") from None
