"""BLS12-381 signatures for validators: votes, commit certificates, the beacon (NETWORK.md).

The IETF ciphersuite with the proof-of-possession scheme, as Ethereum uses it
(`BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`): public keys in G1 (48 bytes compressed),
signatures in G2 (96 bytes). The hot path runs on `milagro_bls_binding` (a Rust binding of the
same ciphersuite); `py_ecc` is the reference, slow but pure, and the tests check the two agree
byte for byte (tests/test_bls.py), as consensus-specs does. When the binding is not installed,
every function falls back to py_ecc, so results never depend on which one ran.

Proof of possession. A validator proves it holds the secret of the key it registers by signing
`POP_DOMAIN ‖ public key ‖ its 20-byte account address` under the same ciphersuite, as
Ethereum's deposits sign a message that holds the key and the depositor (a proof seen in gossip
cannot be replayed from another account). That stops rogue-key attacks on aggregates (a key
made as the difference of others cannot sign) and verifies in milliseconds, where the IETF
PopProve (another hash-to-curve tag) has only the slow reference implementation here.

A BLS signature is unique for a key and a message: the beacon (`beacon_message`) cannot be
ground by the proposer, which can only withhold it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import Any

from nnet.errors import MalformedInput

__all__ = [
    "PK_LEN",
    "POP_DOMAIN",
    "SIG_LEN",
    "aggregate",
    "beacon_message",
    "derive_secret",
    "fast_aggregate_verify",
    "pop_prove",
    "pop_verify",
    "sign",
    "sk_to_pk",
    "validator_secret",
    "verify",
]

PK_LEN = 48
SIG_LEN = 96
POP_DOMAIN = b"nnet-bls-pop/1"
BEACON_DOMAIN = b"nnet-beacon"
# the order of G1/G2: a secret is an integer in [1, CURVE_ORDER)
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


def _load_fast() -> Any:
    """The binding, or None; it warns that it is unmaintained, which the tests' cross-check
    against the reference answers."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import milagro_bls_binding

        return milagro_bls_binding
    except ImportError:  # pragma: no cover - exercised where the binding is missing
        return None


_fast = _load_fast()


def _ref() -> Any:
    from py_ecc.bls.ciphersuites import G2ProofOfPossession

    return G2ProofOfPossession


def _sk_bytes(sk: int) -> bytes:
    if not 0 < sk < CURVE_ORDER:
        raise MalformedInput("a BLS secret key is an integer in [1, r)")
    return sk.to_bytes(32, "big")


def derive_secret(seed: bytes) -> int:
    """A BLS secret from 32+ bytes of key material (IETF KeyGen: HKDF-SHA256, salt loop)."""
    if len(seed) < 32:
        raise MalformedInput("BLS key material must be at least 32 bytes")
    return int(_ref().KeyGen(seed))


def validator_secret(secp_secret: bytes) -> int:
    """A validator's BLS secret, derived from its secp256k1 node key (one key file to keep:
    the BLS key is a function of it, under its own domain, so neither reveals the other)."""
    if len(secp_secret) != 32:
        raise MalformedInput("a node key is 32 bytes")
    return derive_secret(hashlib.sha256(b"nnet-validator-bls/1" + secp_secret).digest())


def sk_to_pk(sk: int) -> bytes:
    """The 48-byte compressed G1 public key of `sk`."""
    if _fast is not None:
        return bytes(_fast.SkToPk(_sk_bytes(sk)))
    return bytes(_ref().SkToPk(sk))


def sign(sk: int, message: bytes) -> bytes:
    """The 96-byte signature of `message` (unique for the key and the message)."""
    if _fast is not None:
        return bytes(_fast.Sign(_sk_bytes(sk), message))
    return bytes(_ref().Sign(sk, message))


def _shaped(pk: bytes, sig: bytes) -> bool:
    return len(pk) == PK_LEN and len(sig) == SIG_LEN


def verify(pk: bytes, message: bytes, sig: bytes) -> bool:
    """Whether `sig` is `pk`'s signature of `message`; False (never an exception) for bytes that
    are not a valid key or signature."""
    if not _shaped(pk, sig):
        return False
    try:
        if _fast is not None:
            return bool(_fast.Verify(pk, message, sig))
        return bool(_ref().Verify(pk, message, sig))
    except Exception:
        return False


def aggregate(sigs: Sequence[bytes]) -> bytes:
    """One signature standing for all of `sigs` (a commit certificate's)."""
    if not sigs or any(len(s) != SIG_LEN for s in sigs):
        raise MalformedInput("aggregate needs one or more 96-byte signatures")
    try:
        if _fast is not None:
            return bytes(_fast.Aggregate(list(sigs)))
        return bytes(_ref().Aggregate(list(sigs)))
    except Exception as e:
        raise MalformedInput(f"a signature is not a point of G2: {e}") from None


def fast_aggregate_verify(pks: Sequence[bytes], message: bytes, sig: bytes) -> bool:
    """Whether `sig` aggregates signatures of `message` by every key in `pks` (keys whose
    possession was proved at registration: pop_verify)."""
    if not pks or any(len(p) != PK_LEN for p in pks) or len(sig) != SIG_LEN:
        return False
    try:
        if _fast is not None:
            return bool(_fast.FastAggregateVerify(list(pks), message, sig))
        return bool(_ref().FastAggregateVerify(list(pks), message, sig))
    except Exception:
        return False


def _pop_message(pk: bytes, owner: str) -> bytes:
    if not (owner.startswith("0x") and len(owner) == 42):
        raise MalformedInput("a proof of possession names a 0x address of 20 bytes")
    return POP_DOMAIN + pk + bytes.fromhex(owner[2:])


def pop_prove(sk: int, owner: str) -> bytes:
    """Proof that the holder of `sk` registers its public key for the account `owner` (a
    0x address). The address is in the signed message, as Ethereum deposits bind a key to its
    depositor: a proof seen in gossip cannot be replayed from another account to take the key."""
    return sign(sk, _pop_message(sk_to_pk(sk), owner))


def pop_verify(pk: bytes, proof: bytes, owner: str) -> bool:
    return verify(pk, _pop_message(pk, owner), proof)


def beacon_message(chain: str, height: int, prev_beacon: bytes) -> bytes:
    """What a proposer signs for the beacon of block `height` (NETWORK.md)."""
    return b"".join(
        [
            BEACON_DOMAIN,
            hashlib.sha256(chain.encode("ascii")).digest(),
            height.to_bytes(8, "big"),
            prev_beacon,
        ]
    )
