"""GET /metrics (Prometheus text, a registry per daemon) and GET /health on real daemons."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nnet.node.server import Daemon, DaemonOptions
from tests.chain.helpers import account
from tests.node.conftest import RunningNode, devnet_init, start_daemon

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""(metric name, sorted labels) -> value."""


def scrape(url: str) -> Samples:
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_answer_and_counters_move(running: RunningNode) -> None:
    before = scrape(running.url)
    for name in ("nnet_height", "nnet_mempool_size", "nnet_http_connections", "nnet_txs_total"):
        assert (name, ()) in before, name
    alice, bob = running.users[0], running.users[1]
    tx = alice.transfer(bob.address, 1)
    r = running.http.post("/txs", json=tx.to_dict())
    assert r.status_code == 202, r.text
    running.wait_committed(r.json()["results"][0]["hash"])
    bad = alice.transfer(bob.address, 1, nonce=0)  # a used nonce: refused
    assert running.http.post("/txs", json=bad.to_dict()).status_code == 400
    running.http.get(f"/txs/0x{'ab' * 32}")  # 404 under its route template
    running.http.get("/no/such/path")
    after = scrape(running.url)
    assert value(after, "nnet_height") > value(before, "nnet_height")
    assert value(after, "nnet_txs_total") >= value(before, "nnet_txs_total") + 1
    assert value(after, "nnet_blocks_total", kind="produced") > 0
    assert value(after, "nnet_block_time_seconds_count", kind="produced") > 0
    refused = sum(v for (n, labels), v in after.items() if n == "nnet_refusals_total")
    assert refused >= 1
    assert (
        value(
            after,
            "nnet_http_request_duration_seconds_count",
            route="/txs",
            method="POST",
            status="202",
        )
        == 1
    )
    assert (
        value(
            after,
            "nnet_http_request_duration_seconds_count",
            route="/txs/{hash}",
            method="GET",
            status="404",
        )
        >= 1
    )
    assert (
        value(
            after,
            "nnet_http_request_duration_seconds_count",
            route="unmatched",
            method="GET",
            status="404",
        )
        == 1
    )
    # route labels are templates, never raw paths
    routes = {dict(labels).get("route") for (n, labels) in after if n.startswith("nnet_http")}
    assert not any("0xabab" in (r or "") for r in routes)
    assert value(after, "nnet_http_connections") >= 1


@pytest.fixture
def two_daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    out = []
    for i in range(2):
        home = tmp_path / f"h{i}"
        devnet_init(home, [account(f"metrics-{i}")])
        out.append(start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05)))
    yield [d for d, _ in out]
    for d, t in out:
        d.stop()
        t.join(timeout=10)


def test_each_daemon_has_its_own_registry(two_daemons: list[Daemon]) -> None:
    first, second = two_daemons
    for _ in range(3):
        httpx.get(f"{first.url}/status")
    a, b = scrape(first.url), scrape(second.url)
    key = (
        "nnet_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/status"), ("status", "200")),
    )
    assert a[key] == 3 and key not in b


def test_health_ok_then_halted(running: RunningNode) -> None:
    r = running.http.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["role"] == "sequencer"
    assert body["height"] >= 0 and body["last_error"] is None
    running.node.sync_error = "block 7 does not verify: bad state_root"  # what a replica sets
    r = running.http.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "halted"
    assert "bad state_root" in r.json()["sync_error"]
    running.node.sync_error = None


def test_health_stale_head(tmp_path: Path) -> None:
    home = tmp_path / "stale"
    devnet_init(home, [account("stale-user")])
    # blocks every 60 s at best; the head goes stale after 0.2 s
    daemon, thread = start_daemon(
        DaemonOptions(home=home, port=0, block_time_s=60, stale_after_s=0.2)
    )
    try:
        time.sleep(0.3)
        r = httpx.get(f"{daemon.url}/health")
        assert r.status_code == 503 and r.json()["status"] == "stale"
        assert r.json()["head_age_s"] > 0.2
    finally:
        daemon.stop()
        thread.join(timeout=10)
