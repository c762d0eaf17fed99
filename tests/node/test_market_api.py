"""The marketplace reads against a real daemon: GET /jobs, /jobs/{id}, /proofs/{id}, /nodes."""

from __future__ import annotations

import json
from typing import Any

from nnet.chain.market import compute_proof_hash, make_contribution
from nnet.encoding import UNIT
from tests.chain.test_market import ENV, FEE, proof_doc, register, submit
from tests.node.conftest import RunningNode


def send(running: RunningNode, *txs: Any) -> None:
    body = ("\n".join(json.dumps(t.to_dict()) for t in txs) + "\n").encode()
    r = running.http.post("/txs", content=body, headers={"content-type": "application/x-ndjson"})
    results = r.json()["results"]
    assert all("hash" in x for x in results), results
    for x in results:
        running.wait_committed(x["hash"])


def test_jobs_proofs_and_nodes(running: RunningNode) -> None:
    s, p, v = running.users
    http = running.http
    assert http.get("/jobs").json() == {"jobs": [], "next": None}
    # a tolerance-mode job: verifiers of any class (an exact one needs a class pool of 3)
    send(running, register(p), register(v), submit(s, verifiers=2, mode="tolerance"))
    nodes = http.get("/nodes").json()["nodes"]
    assert sorted(n["address"] for n in nodes) == sorted([p.address, v.address])
    node = http.get(f"/nodes/{p.address.lower()}").json()  # any case; served checksummed
    assert node["address"] == p.address and node["env"] == ENV
    assert node["collateral"] == str(100 * UNIT) and node["free"] == node["collateral"]
    job = http.get("/jobs/1").json()
    assert job["status"] == "open" and job["fee"] == str(FEE) and job["proof"] is None
    assert job["blocks_left"] >= 0
    send(running, p.tx("job.claim", {"job": 1}))
    doc = proof_doc(p, mode="tolerance")
    send(running, p.tx("proof.submit", {"job": 1, "proof": doc}))
    send(running, s.transfer(s.address, 1))  # any next block draws the verifiers
    job = http.get("/jobs/1").json()
    assert job["status"] == "drawn" and job["proof"] == doc
    assert job["drawn"] == [v.address]  # the only eligible node: never the prover or submitter
    proof_hash = compute_proof_hash(doc)
    send(running, v.tx("proof.seed", {"job": 1, **make_contribution(v.secret, 1, proof_hash)}))
    job = http.get("/jobs/1").json()
    assert job["status"] == "challenged" and list(job["contributions"]) == [v.address]
    assert set(job["challenge"]) >= {"seed", "segments", "openings", "q", "of"}
    assert http.get("/proofs/1").json() == doc
    assert [j["id"] for j in http.get("/jobs", params={"status": "challenged"}).json()["jobs"]] == [
        1
    ]
    assert http.get("/jobs", params={"status": "open"}).json() == {"jobs": [], "next": None}
    cases = {
        "/jobs/abc": (400, "malformed"),
        "/jobs/0": (400, "malformed"),
        "/jobs/99": (404, "not_found"),
        "/proofs/99": (404, "not_found"),
        "/jobs?limit=0": (400, "malformed"),
        "/nodes/0xnothex": (400, "malformed"),
        f"/nodes/{s.address}": (404, "not_found"),
    }
    for path, (status, code) in cases.items():
        r = http.get(path)
        assert (r.status_code, r.json()["code"]) == (status, code), path
