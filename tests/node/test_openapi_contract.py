"""The OpenAPI document agrees with the daemon: the same paths and methods, 405s with `Allow`,
listing limits refused past the maximum, and sampled answers with documented status codes whose
bodies fit their documented schemas (schemathesis validates them; a fuzzing run is marked slow)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from nnet.node.openapi import NETWORK_ONLY, OPENAPI
from tests.node.conftest import RunningNode

SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
LISTINGS = ["/blocks", "/proposals", "/jobs", "/nodes", "/blobs"]


def _sample_path(path: str, running: RunningNode) -> str:
    return (
        path.replace("{hash}", "0x" + "ab" * 32)
        .replace("{height}", "1")
        .replace("{address}", running.users[0].address)
        .replace("{id}", "1")
        .replace("{cid}", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    )


def test_every_route_is_documented_and_every_documented_path_is_served(
    running: RunningNode,
) -> None:
    served: dict[str, set[str]] = {}
    for route in running.daemon.app.routes:
        served.setdefault(route.path, set()).update(set(route.methods) - {"HEAD"})
    documented = {
        path: {m.upper() for m in ops}
        for path, ops in OPENAPI["paths"].items()
        if not ops.get(NETWORK_ONLY)  # a sequencer node does not serve them
    }
    assert served == documented


def test_an_unserved_method_is_405_with_allow(running: RunningNode) -> None:
    for path, ops in OPENAPI["paths"].items():
        if ops.get(NETWORK_ONLY):
            continue
        allowed = {m.upper() for m in ops} | ({"HEAD"} if "get" in ops else set())
        for method in {"DELETE", "PATCH", "POST", "PUT"} - allowed:
            r = running.http.request(method, _sample_path(path, running))
            assert r.status_code == 405, (method, path)
            assert r.json()["code"] == "method_not_allowed"
            assert set(r.headers["allow"].split(", ")) == allowed, (method, path)


@pytest.mark.parametrize("path", LISTINGS)
def test_listing_limits_outside_the_range_are_400(running: RunningNode, path: str) -> None:
    documented = OPENAPI["paths"][path]["get"]
    assert "400" in documented["responses"]
    limit = next(p for p in documented["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    for bad in ("1001", "0", "-1", "ten", "1e3"):
        r = running.http.get(path, params={"limit": bad})
        assert r.status_code == 400 and r.json()["code"] == "malformed", (path, bad, r.text)
    assert running.http.get(path, params={"limit": "1000"}).status_code == 200


def test_sampled_answers_match_their_documented_status_and_schema(running: RunningNode) -> None:
    tx = running.users[0].transfer(running.users[1].address, 1)
    r = running.http.post("/txs", json=tx.to_dict())
    tx_hash = r.json()["results"][0]["hash"]
    running.wait_committed(tx_hash)
    samples = [
        ("GET", path, {})
        for path, ops in OPENAPI["paths"].items()
        if "get" in ops and "{" not in path
    ]
    samples += [
        ("GET", f"/txs/{tx_hash}", {}),
        ("GET", "/txs/0x" + "cd" * 32, {}),
        ("GET", "/txs/nothex", {}),
        ("GET", "/blocks/1", {}),
        ("GET", "/blocks/999999", {}),
        ("GET", "/blocks/x", {}),
        ("GET", f"/accounts/{running.users[0].address}", {}),
        ("GET", "/accounts/0x12", {}),
        ("GET", "/proposals/1", {}),
        ("GET", "/jobs/1", {}),
        ("GET", "/jobs/zero", {}),
        ("GET", "/proofs/1", {}),
        ("GET", "/nodes/0x12", {}),
        ("GET", "/blobs/not-a-cid", {}),
        ("GET", "/blocks", {"limit": "2"}),
        ("GET", "/proposals", {"status": "bogus"}),
        ("POST", "/txs", {}),
        ("PUT", "/blobs", {}),
    ]
    for method, path, params in samples:
        r = running.http.request(method, path, params=params, content=b"{}")
        template = _template(path)
        documented = OPENAPI["paths"][template][method.lower()]["responses"]
        assert str(r.status_code) in documented, (method, path, r.status_code, r.text)
        op = SCHEMA.find_operation_by_label(f"{method} {template}")
        if r.headers.get("content-type", "").startswith("application/json"):
            op.validate_response(r)  # raises when the body does not fit its schema


def _template(path: str) -> str:
    if path in OPENAPI["paths"]:
        return path
    head = "/" + path.split("/")[1]
    return next(p for p in OPENAPI["paths"] if p.startswith(head + "/{"))


@pytest.mark.slow
def test_schemathesis_fuzz_finds_no_disagreement(running: RunningNode) -> None:
    """Generated requests for every read operation: no 5xx, documented status codes, bodies fit
    their schemas."""
    validated = 0
    for result in SCHEMA.get_all_operations():
        op = result.ok()
        if op.method.upper() != "GET":
            continue
        validated += _fuzz(op, running.url)
    assert validated > 50


def _fuzz(op: Any, url: str) -> int:
    """Run generated requests for `op`; how many JSON answers were validated against the schema."""
    validated = 0
    responses = op.definition.raw["responses"]

    @given(case=op.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        nonlocal validated
        response = case.call(base_url=url)
        where = (case.formatted_path, case.query, response.status_code, response.text)
        assert response.status_code < 500, where
        assert str(response.status_code) in responses, where
        types = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        if types[0].startswith("application/json"):
            op.validate_response(response)  # raises when the body does not fit its schema
            validated += 1

    check()
    return validated


def test_openapi_is_served(running: RunningNode) -> None:
    assert httpx.get(f"{running.url}/openapi.json").json() == OPENAPI
