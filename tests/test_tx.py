"""Transactions: hashing exactly as PROTOCOL.md says, signing, and every malformed shape refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nnet.crypto import address_of_private_key, keccak256, recover_address
from nnet.encoding import canonical_json
from nnet.errors import MalformedInput, VerificationFailed
from nnet.tx import Tx, build_tx, parse_tx

SECRET = (0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318).to_bytes(32, "big")
SENDER = address_of_private_key(SECRET)
TO = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


def signed_transfer(**over: Any) -> dict[str, Any]:
    tx = build_tx("nnet-devnet", "transfer", SENDER, 7, 1000, {"to": TO, "amount": "25"})
    d = tx.signed(SECRET).to_dict()
    d.update(over)
    return d


def test_hash_is_keccak_of_jcs_without_sig() -> None:
    d = signed_transfer()
    unsigned = {k: v for k, v in d.items() if k != "sig"}
    expected = keccak256(canonical_json(unsigned))
    tx = parse_tx(d)
    assert tx.signing_hash == expected
    assert recover_address(expected, d["sig"]) == SENDER


def test_signing_is_deterministic_and_verifies() -> None:
    a, b = signed_transfer(), signed_transfer()
    assert a == b  # RFC 6979 nonces: same tx, same signature
    parse_tx(a).verify_signature()


@pytest.mark.parametrize(
    ("field", "value"),
    [("nonce", 8), ("fee", "1001"), ("chain", "other"), ("body", {"to": TO, "amount": "26"})],
)
def test_any_change_after_signing_breaks_the_signature(field: str, value: Any) -> None:
    d = signed_transfer(**{field: value})
    with pytest.raises(VerificationFailed, match="recovers to"):
        parse_tx(d).verify_signature()


def test_unsigned_transaction_does_not_verify() -> None:
    d = signed_transfer()
    del d["sig"]
    with pytest.raises(MalformedInput, match="missing 'sig'"):
        parse_tx(d)
    with pytest.raises(VerificationFailed, match="not signed"):
        parse_tx(d, require_sig=False).verify_signature()


def _mutations() -> list[tuple[str, dict[str, Any], str]]:
    base = signed_transfer()
    cases: list[tuple[str, dict[str, Any], str]] = []

    def case(name: str, problem: str, **over: Any) -> None:
        d = copy.deepcopy(base)
        for k, v in over.items():
            if v is ...:
                del d[k]
            else:
                d[k] = v
        cases.append((name, d, problem))

    case("float fee", "decimal string", fee=1.5)
    case("negative fee", "negative", fee="-1")
    case("float amount", "decimal string", body={"to": TO, "amount": 2.5})
    case("negative amount", "negative", body={"to": TO, "amount": "-5"})
    case("unknown type", "unknown transaction type", type="mint")
    case("unknown field", "unknown field", extra=1)
    case("unknown body field", "unknown field body", body={"to": TO, "amount": "1", "memo": "x"})
    case("missing body field", "needs body.to", body={"amount": "1"})
    case("bad address", "not an address", body={"to": "0x1234", "amount": "1"})
    case("lowercase from", "EIP-55 form", **{"from": SENDER.lower()})
    case("version", "version", v=2)
    case("bool nonce", "nonce", nonce=True)
    case("negative nonce", "nonce", nonce=-1)
    case("huge nonce", "nonce", nonce=2**60)
    case("missing fee", "missing 'fee'", fee=...)
    case("zero stake", "greater than zero", type="stake", body={"amount": "0"})
    return cases


@pytest.mark.parametrize(
    ("name", "tx", "problem"), _mutations(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_malformed_transactions_are_refused_with_a_reason(
    name: str, tx: dict[str, Any], problem: str
) -> None:
    with pytest.raises(MalformedInput, match=problem):
        parse_tx(tx)


def test_signing_with_the_wrong_key_is_refused() -> None:
    tx = build_tx("nnet-devnet", "stake", SENDER, 0, 0, {"amount": "1"})
    with pytest.raises(VerificationFailed, match="does not belong"):
        tx.signed((1).to_bytes(32, "big"))


def test_round_trip_through_dict() -> None:
    d = signed_transfer()
    assert parse_tx(d).to_dict() == d
    assert isinstance(parse_tx(d), Tx)


def test_size_is_the_signed_canonical_json_length() -> None:
    """Fees are charged on `Tx.size`; it is computed without re-encoding, so check it against
    the real encoding, signed and unsigned, for bodies of several shapes."""
    from nnet.crypto import address_of_private_key, keccak256
    from nnet.encoding import canonical_json
    from nnet.tx import build_tx

    secret = keccak256(b"size")
    me = address_of_private_key(secret)
    for fee, body in [
        (0, {"to": me, "amount": "1"}),
        (10**22, {"to": me, "amount": "123456789012345678901"}),
    ]:
        unsigned = build_tx("nnet-devnet", "transfer", me, 7, fee, body)
        signed = unsigned.signed(secret)
        assert signed.size == len(canonical_json(signed.to_dict()))
        assert unsigned.size == signed.size
    propose = build_tx(
        "nnet-devnet", "gov.propose", me, 0, 5, {"kind": "text", "title": "é ü", "deposit": "1"}
    ).signed(secret)
    assert propose.size == len(canonical_json(propose.to_dict()))
