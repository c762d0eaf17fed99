"""Signed votes and commit certificates: what a header carries to prove its parent final.

A vote is signed with the validator's BLS key over `vote_message` (domain, chain, type, height,
round, block id or nil). Precommits for one block all sign the same message, so a commit
certificate is one aggregate signature plus a bitmap of who signed, in validator-set order: a
light client (`nnet block verify H`) checks finality with one FastAggregateVerify over the
signers' keys and a sum of their power (NETWORK.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nnet import bls
from nnet.encoding import hex_to_bytes
from nnet.errors import MalformedInput

__all__ = [
    "Certificate",
    "ValidatorKey",
    "make_certificate",
    "parse_certificate",
    "proposal_message",
    "verify_certificate",
    "vote_message",
]

VOTE_DOMAIN = b"nnet-vote/1"
PROPOSAL_DOMAIN = b"nnet-proposal/1"
NIL = b"\x00" * 32


@dataclass(frozen=True)
class ValidatorKey:
    address: str
    bls_key: bytes  # 48-byte G1 public key, possession proved at registration
    power: int


def vote_message(chain: str, type_: str, height: int, round_: int, block_id: bytes | None) -> bytes:
    """The bytes a validator signs for one vote (the same for every validator: aggregatable)."""
    if type_ not in ("prevote", "precommit"):
        raise MalformedInput(f"a vote is a prevote or a precommit, not {type_!r}")
    if block_id is not None and len(block_id) != 32:
        raise MalformedInput("a block id is 32 bytes")
    return b"".join(
        [
            VOTE_DOMAIN,
            hashlib.sha256(chain.encode("ascii")).digest(),
            b"\x01" if type_ == "prevote" else b"\x02",
            height.to_bytes(8, "big"),
            round_.to_bytes(4, "big"),
            block_id if block_id is not None else NIL,
        ]
    )


def proposal_message(
    chain: str, height: int, round_: int, valid_round: int, block_id: bytes
) -> bytes:
    """The bytes a proposer signs for its proposal of `block_id` at (height, round)."""
    if len(block_id) != 32:
        raise MalformedInput("a block id is 32 bytes")
    if valid_round < -1 or valid_round >= round_:
        raise MalformedInput("a proposal's valid_round is -1 or a round before its own")
    return b"".join(
        [
            PROPOSAL_DOMAIN,
            hashlib.sha256(chain.encode("ascii")).digest(),
            height.to_bytes(8, "big"),
            round_.to_bytes(4, "big"),
            (valid_round + 1).to_bytes(4, "big"),
            block_id,
        ]
    )


@dataclass(frozen=True)
class Certificate:
    """Precommits of one block at one round: aggregate signature and signer bitmap."""

    height: int
    round: int
    block_id: bytes
    signers: bytes  # bit i (LSB first within each byte) set: validator i of the set signed
    signature: bytes

    def signer_indexes(self) -> list[int]:
        return [i for i in range(len(self.signers) * 8) if self.signers[i // 8] >> (i % 8) & 1]

    def to_dict(self) -> dict[str, object]:
        return {
            "height": self.height,
            "round": self.round,
            "block_id": "0x" + self.block_id.hex(),
            "signers": "0x" + self.signers.hex(),
            "signature": "0x" + self.signature.hex(),
        }


def _uint(value: object, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise MalformedInput(f"certificate {name} must be an integer from 0 to {limit - 1}")
    return value


MAX_SIGNER_BYTES = 1024  # a bitmap for up to 8,192 validators (max_validators is far below)


def parse_certificate(obj: object) -> Certificate:
    """A certificate as JSON (`Certificate.to_dict`), shape-checked (not verified)."""
    fields = {"height", "round", "block_id", "signers", "signature"}
    if not isinstance(obj, dict) or set(obj) != fields:
        raise MalformedInput(f"a certificate is an object with exactly {', '.join(sorted(fields))}")
    signers = hex_to_bytes(obj["signers"], "certificate signers")
    if not 0 < len(signers) <= MAX_SIGNER_BYTES:
        raise MalformedInput(f"certificate signers must be 1 to {MAX_SIGNER_BYTES} bytes")
    return Certificate(
        _uint(obj["height"], "height", 2**63),
        _uint(obj["round"], "round", 2**31),
        hex_to_bytes(obj["block_id"], "certificate block_id", 32),
        signers,
        hex_to_bytes(obj["signature"], "certificate signature", bls.SIG_LEN),
    )


def make_certificate(
    validators: Sequence[ValidatorKey],
    height: int,
    round_: int,
    block_id: bytes,
    signatures: dict[str, bytes],
) -> Certificate:
    """Aggregate the precommit signatures we hold (address -> signature) into a certificate."""
    index = {v.address: i for i, v in enumerate(validators)}
    bits = bytearray((len(validators) + 7) // 8)
    sigs = []
    for address, sig in sorted(signatures.items(), key=lambda kv: index.get(kv[0], -1)):
        if address not in index:
            raise MalformedInput(f"{address} is not in the validator set")
        i = index[address]
        bits[i // 8] |= 1 << (i % 8)
        sigs.append(sig)
    return Certificate(height, round_, block_id, bytes(bits), bls.aggregate(sigs))


def verify_certificate(
    chain: str, validators: Sequence[ValidatorKey], cert: Certificate
) -> str | None:
    """None if `cert` proves its block final under `validators`; otherwise why not."""
    if len(cert.signers) != (len(validators) + 7) // 8:
        return "the signer bitmap does not fit the validator set"
    signers = cert.signer_indexes()
    if any(i >= len(validators) for i in signers):
        return "the signer bitmap names a validator past the end of the set"
    power = sum(validators[i].power for i in signers)
    total = sum(v.power for v in validators)
    if 3 * power <= 2 * total:
        return f"signers hold {power} of {total} power, not more than 2/3"
    message = vote_message(chain, "precommit", cert.height, cert.round, cert.block_id)
    keys = [validators[i].bls_key for i in signers]
    if not bls.fast_aggregate_verify(keys, message, cert.signature):
        return "the aggregate signature does not verify"
    return None
