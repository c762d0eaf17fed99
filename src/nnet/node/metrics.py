"""`GET /metrics`: the daemon's Prometheus metrics, on a registry of its own.

Each daemon has its own CollectorRegistry (never prometheus_client's global one), so several
daemons in one process (tests) do not mix their figures. Gauges are read from the node when
scraped; counters and histograms are fed by the block observer (observe.py), the POST /txs
handler (refusals) and `HttpMetrics`, an ASGI middleware that times every request under its
route template (`/txs/{hash}`, never the raw path, so label cardinality stays bounded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["DaemonMetrics", "HttpMetrics", "metrics_routes"]

_BLOCK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
_HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _NodeGauges(Collector):
    """Gauges computed from the node at scrape time."""

    def __init__(
        self, node: Any, connections: Callable[[], int], peer_lag: Callable[[], int | None]
    ) -> None:
        self.node = node
        self.connections = connections
        self.peer_lag = peer_lag

    def collect(self) -> Iterator[Metric]:
        node = self.node
        yield GaugeMetricFamily("nnet_height", "Height of this node's head block", node.head.height)
        yield GaugeMetricFamily(
            "nnet_head_age_seconds",
            "Seconds since the head block's timestamp",
            max(0.0, time.time() - node.head.time_ms / 1000),
        )
        yield GaugeMetricFamily(
            "nnet_mempool_size", "Transactions waiting in the mempool", len(node.mempool)
        )
        yield GaugeMetricFamily(
            "nnet_sequencer",
            "1 while this node produces blocks, 0 while it follows",
            int(node.is_sequencer),
        )
        yield GaugeMetricFamily(
            "nnet_http_connections", "Open HTTP connections", self.connections()
        )
        lag = self.peer_lag()
        if lag is not None:
            yield GaugeMetricFamily(
                "nnet_peer_lag_blocks", "Blocks the followed peer is ahead of this node", lag
            )


class DaemonMetrics:
    """The metrics of one daemon (see the module docstring; docs/operations.md lists them)."""

    def __init__(
        self,
        node: Any,
        *,
        connections: Callable[[], int] = lambda: 0,
        peer_lag: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.blocks = Counter(
            "nnet_blocks", "Blocks produced or applied", ["kind"], registry=self.registry
        )
        self.txs = Counter(
            "nnet_txs", "Transactions in blocks produced or applied", registry=self.registry
        )
        self.block_seconds = Histogram(
            "nnet_block_time_seconds",
            "Seconds to build and commit (produced) or verify and commit (applied) a block",
            ["kind"],
            buckets=_BLOCK_BUCKETS,
            registry=self.registry,
        )
        self.block_failures = Counter(
            "nnet_block_production_failures",
            "Ticks on which producing a block failed (disk full, database locked)",
            registry=self.registry,
        )
        self.refusals = Counter(
            "nnet_refusals", "Transactions refused at admission", ["code"], registry=self.registry
        )
        self.http_seconds = Histogram(
            "nnet_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            buckets=_HTTP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_NodeGauges(node, connections, peer_lag))

    def observe_block(self, kind: str, txs: int, seconds: float) -> None:
        self.blocks.labels(kind).inc()
        self.txs.inc(txs)
        self.block_seconds.labels(kind).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_routes(metrics: DaemonMetrics) -> list[BaseRoute]:
    async def get_metrics(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", get_metrics, methods=["GET"])]


class HttpMetrics:
    """ASGI middleware timing each request into `nnet_http_request_duration_seconds`, labelled
    with the route template the router matched ("unmatched" for 404s)."""

    def __init__(self, app: Any, metrics: DaemonMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[Any, str] | None = None

    def _template(self, endpoint: Any) -> str:
        if self._templates is None:
            self._templates = {
                getattr(r, "endpoint", None): getattr(r, "path", "")
                for r in getattr(self.app, "routes", [])
            }
        return self._templates.get(endpoint, "unmatched")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = self._template(scope.get("endpoint")) if "endpoint" in scope else "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.http_seconds.labels(route, method, str(status)).observe(
                time.perf_counter() - start
            )
