"""Inputs found by review that once made the daemon answer 5xx or half-apply a batch: Unicode
digits in ids, integers beyond 2^53 inside a transaction, a parameter value of Unicode digits."""

from __future__ import annotations

import json

import pytest

from tests.node.conftest import RunningNode


@pytest.mark.parametrize(
    "path",
    ["/blocks/²", "/blocks?from=²", "/jobs/²", "/jobs?limit=²", "/proposals/²", "/blobs?limit=²"],
)
def test_unicode_digits_are_400_not_500(running: RunningNode, path: str) -> None:
    r = running.http.get(path)
    assert r.status_code == 400 and r.json()["code"] == "malformed", (path, r.text)


def test_big_integers_and_odd_digits_are_refused_per_line_and_change_nothing(
    running: RunningNode,
) -> None:
    alice, bob = running.users[0], running.users[1]
    good = alice.transfer(bob.address, 5)
    body = good.to_dict()
    big = {**alice.tx("stake", {"amount": "1"}).to_dict(), "nonce": 1}
    big["body"] = {"amount": "1", "x": 2**60}  # cannot even be hashed canonically
    before = running.http.get(f"/accounts/{alice.address}").json()
    lines = "\n".join(json.dumps(t) for t in (big,)) + "\n"
    r = running.http.post("/txs", content=lines, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    (result,) = r.json()["results"]
    assert "error" in result
    assert running.http.get(f"/accounts/{alice.address}").json() == before

    # a parameter value written in superscript digits: refused, the nonce is not consumed
    odd = alice.tx(
        "gov.propose", {"kind": "param", "title": "t", "key": "min_fee", "value": "²"}, nonce=0
    )
    r = running.http.post("/txs", json=odd.to_dict())
    pending = running.http.post("/txs", json=body)
    assert pending.status_code == 202
    running.wait_committed(pending.json()["results"][0]["hash"])
    after = running.http.get(f"/accounts/{alice.address}").json()
    assert after["nonce"] == 1  # only the transfer used a nonce
    assert r.status_code in (202, 400) and r.status_code < 500
