"""Real commit certificates for tests: four validators with real BLS keys and powers 40/30/20/10
(sorted by address: set order), network headers naming their set, and certificates made from
real precommit signatures of any subset."""

from __future__ import annotations

from typing import Any

from nnet import bls
from nnet.chain.block import Header
from nnet.chain.commit import Certificate, make_certificate, vote_message
from nnet.chain.validators import compute_validators_hash
from nnet.services.finality import parse_validators
from tests.chain.helpers import account

CHAIN = "nnet-devnet"
HEIGHT = 7
ACCOUNTS = sorted((account(f"finality-validator-{i}") for i in range(4)), key=lambda a: a.address)
SECRETS = [bls.validator_secret(a.secret) for a in ACCOUNTS]
POWERS = [40, 30, 20, 10]
VALIDATORS: list[dict[str, Any]] = [
    {
        "address": a.address,
        "bls_key": "0x" + bls.sk_to_pk(sk).hex(),
        "power": p,
        "net": f"http://127.0.0.1:{7001 + i}",
    }
    for i, (a, sk, p) in enumerate(zip(ACCOUNTS, SECRETS, POWERS, strict=True))
]
KEYS = parse_validators(VALIDATORS)


def set_hash(validators: list[dict[str, Any]]) -> str:
    return "0x" + compute_validators_hash(parse_validators(validators)).hex()


def make_header(height: int = HEIGHT, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "chain": CHAIN,
        "height": height,
        "time_ms": 1_700_000_000_000 + height,
        "prev_hash": "0x" + "01" * 32,
        "tx_root": "0x" + "00" * 32,
        "state_root": "0x" + "02" * 32,
        "proposer": VALIDATORS[0]["address"],
        "beacon": "0x" + "ab" * 96,
        "sig": "",
        "validators_hash": set_hash(VALIDATORS),
        "last_commit": None,
    }
    return {**header, **changes}


def block_id_of(header: dict[str, Any]) -> bytes:
    return Header(**{k: header[k] for k in header if k in Header.__dataclass_fields__}).hash


def make_cert(
    header: dict[str, Any], signers: list[int], *, round_: int = 0, block_id: bytes | None = None
) -> Certificate:
    block_id = block_id if block_id is not None else block_id_of(header)
    message = vote_message(CHAIN, "precommit", header["height"], round_, block_id)
    sigs = {KEYS[i].address: bls.sign(SECRETS[i], message) for i in signers}
    return make_certificate(KEYS, header["height"], round_, block_id, sigs)
