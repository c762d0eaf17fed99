"""Hypothesis fuzzing of POST /txs: never a 5xx, always {"error","code"} or per-tx results, and
nothing invalid ever reaches the mempool or the state."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.node.conftest import RunningNode

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "v",
    "chain",
    "type",
    "from",
    "nonce",
    "fee",
    "body",
    "sig",
    "body.to",
    "body.amount",
    "extra",
]


def _mutate(template: dict[str, Any], field: str, value: object, delete: bool) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(json.dumps(template))
    target, key = (d["body"], field[5:]) if field.startswith("body.") else (d, field)
    if delete and key in target:
        del target[key]
    else:
        target[key] = value
    return d


@st.composite
def bodies(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "ndjson"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    lines = []
    for _ in range(1 if kind == "mutated" else draw(st.integers(2, 4))):
        field = draw(st.sampled_from(FIELDS))
        value = draw(json_values)
        old = template.get(field) if "." not in field else template["body"].get(field[5:])
        if value == old:
            value = [value]
        lines.append(json.dumps(_mutate(template, field, value, draw(st.booleans()))))
    return ("\n".join(lines) + "\n").encode()


def test_fuzz_post_txs(running: RunningNode) -> None:
    alice, bob = running.users[0], running.users[1]
    template = alice.transfer(bob.address, 10, nonce=0).to_dict()
    snapshot = {u.address: running.http.get(f"/accounts/{u.address}").json() for u in running.users}

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=bodies(template),
        ctype=st.sampled_from(["application/json", "application/x-ndjson", "text/plain", ""]),
    )
    def check(body: bytes, ctype: str) -> None:
        headers = {"content-type": ctype} if ctype else {}
        r = running.http.post("/txs", content=body, headers=headers)
        assert r.status_code in (202, 400, 413), (r.status_code, r.text)
        data = r.json()
        if r.status_code == 202:
            assert all("error" in x and "code" in x for x in data["results"]), data
        else:
            assert isinstance(data["error"], str) and isinstance(data["code"], str)
        assert len(running.daemon.node.mempool) == 0

    check()
    after = {u.address: running.http.get(f"/accounts/{u.address}").json() for u in running.users}
    assert after == snapshot
    # the template itself is valid: the fuzzing did not just hit a broken node
    r = running.http.post("/txs", json=template)
    assert r.status_code == 202 and r.json()["results"][0]["status"] == "pending"
