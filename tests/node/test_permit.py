"""Blob upload permits: signed by the document rule every signed JSON of nnet uses, one spelling,
and a bounded validity."""

from __future__ import annotations

import json

import pytest

from nnet.cid import compute_cid
from nnet.crypto import address_of_private_key
from nnet.errors import PermitRefused, PermitRequired
from nnet.node.permit import MAX_LIFETIME_MS, check_permit_terms, parse_permit, sign_permit
from nnet.proof.document import verify_document
from tests.chain.helpers import secret_for

SECRET = secret_for("uploader")
CID = compute_cid(b"blob")
NOW = 1_800_000_000_000


def test_a_permit_round_trips_through_its_header() -> None:
    p = sign_permit(SECRET, chain="nnet-devnet", cid=CID, size=4, expires=NOW + 1000)
    assert p.uploader == address_of_private_key(SECRET)
    assert parse_permit(p.header_value()) == p
    # the same signature rule as proofs and attestations: the generic checker accepts it
    assert verify_document(json.loads(p.header_value()), "blob.permit", "uploader") == p.uploader


def test_the_uploader_has_one_spelling() -> None:
    doc = sign_permit(SECRET, chain="c", cid=CID, size=4, expires=NOW).to_dict()
    lower = {**doc, "uploader": doc["uploader"].lower()}
    with pytest.raises(PermitRequired) as e:
        parse_permit(json.dumps(lower))
    assert e.value.code == "bad_permit"


def test_no_permit_is_permit_required() -> None:
    with pytest.raises(PermitRequired) as e:
        parse_permit(None)
    assert e.value.code == "permit_required" and e.value.http_status == 401


@pytest.mark.parametrize(
    ("expires", "refusal"),
    [
        (NOW, "permit_expired"),
        (NOW + 1, None),
        (NOW + MAX_LIFETIME_MS, None),
        (NOW + MAX_LIFETIME_MS + 1, "permit_too_long"),
    ],
)
def test_validity_is_bounded_both_ways(expires: int, refusal: str | None) -> None:
    p = sign_permit(SECRET, chain="c", cid=CID, size=4, expires=expires)
    if refusal is None:
        check_permit_terms(p, chain="c", now_ms=NOW)
    else:
        with pytest.raises(PermitRefused) as e:
            check_permit_terms(p, chain="c", now_ms=NOW)
        assert e.value.code == refusal and e.value.http_status == 403
