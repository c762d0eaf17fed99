"""The light-client check behind `nnet block verify H`: is block H final under its validator set?

A block is final when more than 2/3 of the voting power precommitted it. The proof is the commit
certificate (chain/commit.py): one aggregate BLS signature and a bitmap of signers, carried as
`last_commit` by the next header (or served by GET /p2p/commit/H while H is the head). The check:

1. the certificate names this height and this header's hash;
2. the validator set given hashes to the header's `validators_hash` (the set that signs it);
3. the signers hold more than 2/3 of the set's power and their aggregate signature of the
   precommit message verifies: one FastAggregateVerify, whatever the size of the set.

`verify_finality` is pure (no I/O); `fetch_finality` gathers its inputs from a node. The set is
the node's answer to GET /validators: a light client that trusts no node at all would instead
follow the set from genesis, each change certified by the set before it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from nnet.chain.block import Header
from nnet.chain.commit import Certificate, ValidatorKey, parse_certificate, verify_certificate
from nnet.chain.validators import compute_validators_hash
from nnet.client import NodeClient
from nnet.encoding import hex_to_bytes
from nnet.errors import MalformedInput, NotFound
from nnet.tx import CHECKS

__all__ = [
    "Finality",
    "FinalityReport",
    "fetch_finality",
    "parse_validators",
    "verify_finality",
]


@dataclass(frozen=True)
class FinalityReport:
    """What `verify_finality` found; `reason` says why not when `ok` is False."""

    ok: bool
    height: int
    block_hash: str
    round: int
    signed_power: int = 0
    total_power: int = 0
    signers: list[str] = field(default_factory=list)
    reason: str | None = None
    check_ms: float = 0.0  # the aggregate signature check (0 when an earlier check refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "height": self.height,
            "hash": self.block_hash,
            "round": self.round,
            "signed_power": self.signed_power,
            "total_power": self.total_power,
            "signers": self.signers,
            "reason": self.reason,
            "check_ms": round(self.check_ms, 3),
        }


def parse_validators(items: object) -> list[ValidatorKey]:
    """The set as GET /validators lists it ([{"address","bls_key","power",...}], in set order),
    shape-checked; MalformedInput naming the first bad entry."""
    if not isinstance(items, list) or not items:
        raise MalformedInput("a validator set is a non-empty list")
    out = []
    for i, item in enumerate(items):
        where = f"validators[{i}]"
        if not isinstance(item, dict):
            raise MalformedInput(f"{where} must be an object")
        power = item.get("power")
        if isinstance(power, bool) or not isinstance(power, int) or power < 0:
            raise MalformedInput(f"{where}.power must be a non-negative integer")
        address = str(CHECKS["address"](item.get("address"), f"{where}.address"))
        key = hex_to_bytes(item.get("bls_key"), f"{where}.bls_key", 48)
        out.append(ValidatorKey(address, key, power))
    return out


def _header(raw: dict[str, Any]) -> Header:
    """The Header of a header as served (unknown keys ignored: new optional fields hash only
    when the Header type knows them)."""
    try:
        return Header(**{k: raw[k] for k in raw if k in Header.__dataclass_fields__})
    except TypeError as e:
        raise MalformedInput(f"not a block header: {e}") from None


def verify_finality(
    chain: str, header: dict[str, Any], cert: Certificate, validators: list[dict[str, Any]]
) -> FinalityReport:
    """Whether `cert` proves the block of `header` final under `validators` (see the module
    docstring); MalformedInput for input of the wrong shape."""
    h = _header(header)
    keys = parse_validators(validators)
    total = sum(v.power for v in keys)
    signers = [keys[i].address for i in cert.signer_indexes() if i < len(keys)]
    signed = sum(keys[i].power for i in cert.signer_indexes() if i < len(keys))

    def report(reason: str | None, ms: float = 0.0) -> FinalityReport:
        return FinalityReport(
            reason is None, h.height, h.hash_hex, cert.round, signed, total, signers, reason, ms
        )

    if h.chain != chain:
        return report(f"the header is of chain {h.chain!r}, not {chain!r}")
    if cert.height != h.height:
        return report(f"the certificate is for height {cert.height}, not {h.height}")
    if cert.block_id != h.hash:
        return report(f"the certificate is for block 0x{cert.block_id.hex()}, not {h.hash_hex}")
    claimed = header.get("validators_hash")
    if not claimed:
        return report("the header names no validator set (validators_hash): not a network block")
    ours = compute_validators_hash(keys)
    if hex_to_bytes(claimed, "header validators_hash", 32) != ours:
        return report("the validator set given does not hash to the header's validators_hash")
    start = time.perf_counter()
    why = verify_certificate(chain, keys, cert)
    return report(why, (time.perf_counter() - start) * 1000)


@dataclass(frozen=True)
class Finality:
    """What a node serves about one height: inputs of `verify_finality`."""

    chain: str
    header: dict[str, Any]
    certificate: Certificate
    validators: list[dict[str, Any]]

    def verify(self) -> FinalityReport:
        return verify_finality(self.chain, self.header, self.certificate, self.validators)


def fetch_finality(
    client: NodeClient, height: int, *, validators: list[dict[str, Any]] | None = None
) -> Finality:
    """Block `height`, its certificate (the next header's `last_commit`, else GET
    /p2p/commit/H) and its validator set (GET /validators?height=H, unless `validators` is
    given: a set the caller trusts). NotFound when the node has no such block or certificate."""
    block = client.block(height)
    header = block.get("header")
    if not isinstance(header, dict):
        raise MalformedInput(f"the node's block {height} has no header")
    raw_cert: object = None
    with contextlib.suppress(NotFound):  # `height` is the head: no next header yet
        raw_cert = client.block(height + 1).get("header", {}).get("last_commit")
    if raw_cert is None:
        try:
            raw_cert = client.get(f"/p2p/commit/{height}")
        except NotFound:
            raise NotFound(
                f"the node has no commit certificate for block {height}",
                hint="a sequencer-mode chain has none; a network node serves GET /p2p/commit/H",
            ) from None
    if validators is None:
        answer = client.get("/validators", height=height)
        validators = answer.get("validators")
        if not isinstance(validators, list):
            raise MalformedInput("the node's GET /validators has no validators list")
    return Finality(str(header.get("chain")), header, parse_certificate(raw_cert), validators)
