"""Transactions: the envelope, body schemas per type, hashing, signing and verification.

    {"v":1,"chain":"nnet-devnet","type":"transfer","from":"0x…","nonce":7,"fee":"1000",
     "body":{"to":"0x…","amount":"2500000000000000000"},"sig":"0x…"}

`hash = keccak256(JCS(tx without "sig"))`. This module checks what can be checked without state
(shape, types, signature); the chain checks the rest (nonce, balance, chain id against its own).
Body schemas live in BODY_SCHEMAS, one entry per transaction type; a new type adds one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nnet.cid import parse_cid
from nnet.crypto import (
    address_of_private_key,
    checksum_address,
    keccak256,
    normalize_address,
    recover_raw_address,
    sign_hash,
)
from nnet.encoding import canonical_json, hex_to_bytes, parse_units
from nnet.errors import MalformedInput, VerificationFailed

__all__ = [
    "BODY_SCHEMAS",
    "ENVELOPE_FIELDS",
    "MAX_TX_BYTES",
    "TX_VERSION",
    "Tx",
    "build_tx",
    "parse_tx",
]

TX_VERSION = 1
MAX_TX_BYTES = 64 * 1024
MAX_NONCE = 2**53 - 1
ENVELOPE_FIELDS = ("v", "chain", "type", "from", "nonce", "fee", "body", "sig")

FieldCheck = Callable[[object, str], object]


def _address(value: object, name: str) -> str:
    """Addresses in transactions must be in their EIP-55 form, so the signed bytes are unique."""
    canonical = normalize_address(value, name)
    if canonical != value:
        raise MalformedInput(f"{name} must be written in its EIP-55 form {canonical}")
    return canonical


def _units(value: object, name: str) -> str:
    parse_units(value, name)
    return str(value)


def _positive_units(value: object, name: str) -> str:
    if parse_units(value, name) == 0:
        raise MalformedInput(f"{name} must be greater than zero")
    return str(value)


def _uint(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NONCE:
        raise MalformedInput(f"{name} must be an integer from 0 to 2^53-1")
    return value


def _text(max_len: int) -> FieldCheck:
    def check(value: object, name: str) -> str:
        if not isinstance(value, str) or len(value) > max_len:
            raise MalformedInput(f"{name} must be a string of at most {max_len} characters")
        return value

    return check


def _hex32(value: object, name: str) -> str:
    hex_to_bytes(value, name, 32)
    return str(value).lower()


def _hexbytes(length: int) -> FieldCheck:
    def check(value: object, name: str) -> str:
        hex_to_bytes(value, name, length)
        return str(value).lower()

    return check


def _choice(*options: str) -> FieldCheck:
    def check(value: object, name: str) -> str:
        if value not in options:
            raise MalformedInput(f"{name} must be one of {', '.join(options)}")
        return str(value)

    return check


def _json_object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedInput(f"{name} must be an object")
    return value


def _cid(value: object, name: str) -> str:
    parse_cid(value, name)
    return str(value)


MAX_OPENINGS = 4096


def _openings(value: object, name: str) -> list[dict[str, Any]]:
    """[{"index": uint, "cid": cid}, ...] (proof.open): where each challenged checkpoint is; the
    verifiers check it against the proof's committed trace."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_OPENINGS:
        raise MalformedInput(f"{name} must be a list of 1 to {MAX_OPENINGS} openings")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict) or set(item) != {"index", "cid"}:
            raise MalformedInput(f"{where} must be an object with index and cid")
        out.append(
            {
                "index": _uint(item["index"], f"{where}.index"),
                "cid": _cid(item["cid"], f"{where}.cid"),
            }
        )
    return out


@dataclass(frozen=True)
class Schema:
    """Required and optional body fields with their checks."""

    required: Mapping[str, FieldCheck]
    optional: Mapping[str, FieldCheck] = field(default_factory=dict)


BODY_SCHEMAS: dict[str, Schema] = {
    "transfer": Schema({"to": _address, "amount": _units}),
    "stake": Schema({"amount": _positive_units}),
    "unstake": Schema({"amount": _positive_units}),
    # {"node": N}: node N's rewards, paid to N, sent by its operator (chain/market_node.py)
    "reward.claim": Schema({}, {"node": _address}),
    "gov.propose": Schema(
        {"kind": _choice("param", "text", "spend", "sequencer"), "title": _text(200)},
        {
            "description": _text(10_000),
            "key": _text(64),
            "value": _text(80),
            "to": _address,
            "amount": _positive_units,
            "address": _address,
            "deposit": _units,
        },
    ),
    "gov.deposit": Schema({"proposal": _uint, "amount": _positive_units}),
    "gov.vote": Schema({"proposal": _uint, "option": _choice("yes", "no", "abstain", "veto")}),
    # the training marketplace (chain/market.py, docs/marketplace.md)
    # owner (cold: withdraws, names the operator, is paid) and operator (hot: acts for the
    # node); each defaults to the sender, and the original three-field form is unchanged
    "node.register": Schema(
        {"gpu": _text(64), "env": _text(200), "collateral": _units},
        {"owner": _address, "operator": _address},
    ),
    "node.withdraw": Schema({"amount": _positive_units}),
    "node.set_operator": Schema({"operator": _address}),
    "job.submit": Schema(
        {
            "spec_cid": _cid,
            "spec_hash": _hex32,
            "dataset_cid": _cid,
            "fee": _positive_units,
            "verifiers": _uint,
            "deadline_epochs": _uint,
            # what the chain must know of the spec (the spec hash binds them; verifiers check
            # the spec agrees): the leaf count N + 1 (Q scales with N), the comparison mode and
            # the work (steps x batch size) counted as verified compute when the job is accepted
            "checkpoints": _uint,
            "mode": _choice("exact", "tolerance"),
            "work": _uint,
        }
    ),
    "job.claim": Schema({"job": _uint}),
    "job.cancel": Schema({"job": _uint}),
    "proof.submit": Schema({"job": _uint, "proof": _json_object}),
    # a drawn verifier's share of the challenge randomness: its VRF over (job, proof hash)
    "proof.seed": Schema({"job": _uint, "key": _hexbytes(33), "vrf": _hexbytes(81)}),
    "proof.open": Schema({"job": _uint, "openings": _openings}),
    "proof.attest": Schema({"job": _uint, "attestation": _json_object}),
    # a network of validators (chain/validators.py, docs/network.md)
    "validator.register": Schema(
        {"bls_key": _hexbytes(48), "pop": _hexbytes(96), "net": _text(200)}
    ),
    "validator.unjail": Schema({}),
    # two conflicting signed votes of one validator (chain/evidence.py)
    "evidence": Schema({"a": _json_object, "b": _json_object}),
}
"""Schemas per type. Types of later capabilities (node.register, job.*, proof.*, gov.*) add
their entry here when their state exists."""

# Public checkers so other modules can declare schemas in the same vocabulary.
CHECKS: dict[str, FieldCheck] = {
    "address": _address,
    "units": _units,
    "positive_units": _positive_units,
    "uint": _uint,
    "hex32": _hex32,
    "object": _json_object,
    "cid": _cid,
}
text_check = _text
choice_check = _choice


# `,"sig":"0x…"` in canonical JSON: comma, key, and a 132-character string (65 bytes in hex)
SIG_FIELD_BYTES = len(',"sig":""') + 132


@dataclass(frozen=True)
class Tx:
    """A parsed, shape-checked transaction. `sig` is empty for an unsigned one."""

    chain: str
    type: str
    sender: str
    nonce: int
    fee: int
    body: dict[str, Any]
    sig: str = ""

    def unsigned_dict(self) -> dict[str, Any]:
        return {
            "v": TX_VERSION,
            "chain": self.chain,
            "type": self.type,
            "from": self.sender,
            "nonce": self.nonce,
            "fee": str(self.fee),
            "body": self.body,
        }

    def to_dict(self) -> dict[str, Any]:
        d = self.unsigned_dict()
        if self.sig:
            d["sig"] = self.sig
        return d

    @cached_property
    def unsigned_json(self) -> bytes:
        """Canonical JSON of the transaction without its signature (what is signed)."""
        return canonical_json(self.unsigned_dict())

    @cached_property
    def signing_hash(self) -> bytes:
        """keccak256 of the canonical JSON of the transaction without its signature."""
        return keccak256(self.unsigned_json)

    @cached_property
    def size(self) -> int:
        """Bytes of the signed transaction's canonical JSON, which fees are charged on; an
        unsigned one counts as signed (every signature has the same length)."""
        return len(self.unsigned_json) + SIG_FIELD_BYTES

    @property
    def hash_hex(self) -> str:
        return "0x" + self.signing_hash.hex()

    def signed(self, secret: bytes) -> Tx:
        """A copy signed by `secret`, which must belong to `from`."""
        if address_of_private_key(secret) != self.sender:
            raise VerificationFailed(f"the key does not belong to {self.sender}")
        return Tx(
            self.chain,
            self.type,
            self.sender,
            self.nonce,
            self.fee,
            self.body,
            sign_hash(secret, self.signing_hash),
        )

    def verify_signature(self) -> None:
        """Raise VerificationFailed unless `sig` recovers to `from`."""
        if not self.sig:
            raise VerificationFailed("transaction is not signed")
        signer = recover_raw_address(self.signing_hash, self.sig)
        if signer != bytes.fromhex(self.sender[2:]):
            raise VerificationFailed(
                f"signature recovers to {checksum_address(signer)}, not to the sender {self.sender}"
            )


def build_tx(chain: str, type_: str, sender: str, nonce: int, fee: int, body: dict[str, Any]) -> Tx:
    """Build an unsigned transaction, checking it exactly as a received one would be checked."""
    return parse_tx(
        {
            "v": TX_VERSION,
            "chain": chain,
            "type": type_,
            "from": sender,
            "nonce": nonce,
            "fee": str(fee),
            "body": body,
        },
        require_sig=False,
    )


def parse_tx(obj: object, *, require_sig: bool = True) -> Tx:
    """Check a decoded JSON value against the envelope and its type's body schema.

    Raises MalformedInput naming the first problem. Does not check the signature (see
    `Tx.verify_signature`), so it can parse a tampered copy for `nnet tx inspect`.
    """
    if not isinstance(obj, dict):
        raise MalformedInput("a transaction must be a JSON object")
    unknown = set(obj) - set(ENVELOPE_FIELDS)
    if unknown:
        raise MalformedInput(f"unknown field {sorted(unknown)[0]!r} in transaction")
    missing = [k for k in ENVELOPE_FIELDS if k not in obj and (k != "sig" or require_sig)]
    if missing:
        raise MalformedInput(f"transaction is missing {missing[0]!r}")
    if isinstance(obj["v"], bool) or obj["v"] != TX_VERSION:
        raise MalformedInput(f"unsupported transaction version {obj['v']!r}; expected {TX_VERSION}")
    chain = _text(64)(obj["chain"], "chain")
    type_ = obj["type"]
    schema = BODY_SCHEMAS.get(type_) if isinstance(type_, str) else None
    if schema is None:
        raise MalformedInput(
            f"unknown transaction type {type_!r}", hint=f"known: {', '.join(sorted(BODY_SCHEMAS))}"
        )
    sender = _address(obj["from"], "from")
    nonce = _uint(obj["nonce"], "nonce")
    fee = parse_units(obj["fee"], "fee")
    body = _check_body(type_, schema, obj["body"])
    sig = obj.get("sig", "")
    if sig and (not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132):
        raise MalformedInput("sig must be 0x + 130 hex digits")
    return Tx(str(chain), type_, sender, nonce, fee, body, str(sig))


def _check_body(type_: str, schema: Schema, body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedInput(f"body of a {type_} must be an object")
    allowed = set(schema.required) | set(schema.optional)
    unknown = set(body) - allowed
    if unknown:
        raise MalformedInput(f"unknown field body.{sorted(unknown)[0]} in a {type_}")
    out: dict[str, Any] = {}
    for name, check in schema.required.items():
        if name not in body:
            raise MalformedInput(f"a {type_} needs body.{name}")
        out[name] = check(body[name], f"body.{name}")
    for name, check in schema.optional.items():
        if name in body:
            out[name] = check(body[name], f"body.{name}")
    return out
