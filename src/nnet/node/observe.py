"""What the daemon tells its operator about the chain: block lines, peer events, `GET /health`.

- `observe_blocks` wraps the node's `produce_block` and `apply_block` so each block produced or
  applied gives one log line (height, txs, ms) on nnet.block and feeds the block metrics.
- `PeerWatch` (replicas) asks each peer's /status every few seconds: the peer's height gives
  `nnet_peer_lag_blocks`, and a peer going unreachable or coming back is one line on nnet.sync.
- `Production` logs a burst of failed block production once when it starts (a full disk fails
  every tick until someone frees space) and once when it ends.
- `health` answers 200 {"status": "ok", ...} while the node serves and its head keeps moving;
  503 with "halted" when a replica stopped at a block that does not verify, or "stale" when the
  head is older than `stale_after_s` (production failing, or the peer unreachable).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from nnet.chain.params import get_param
from nnet.node.limits import is_disk_full
from nnet.node.metrics import DaemonMetrics

__all__ = [
    "PeerWatch",
    "Production",
    "health",
    "health_routes",
    "idle_interval_s",
    "observe_blocks",
]

block_log = logging.getLogger("nnet.block")
sync_log = logging.getLogger("nnet.sync")


def observe_blocks(node: Any, metrics: DaemonMetrics | None) -> None:
    """Log and meter every block `node` produces, applies or finalizes (a network's decided
    block), wrapping the three methods in place."""
    kinds = (
        ("produce_block", "produced"),
        ("apply_block", "applied"),
        ("finalize_block", "finalized"),
    )
    for method, kind in kinds:
        setattr(node, method, _observed(getattr(node, method), kind, metrics))


def _observed(fn: Callable[..., Any], kind: str, metrics: DaemonMetrics | None) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
        header = result.block.header
        txs = len(result.block.txs)
        left_out = len(result.rejected)
        block_log.info(
            "%s block %d: %d txs%s in %.1f ms",
            kind,
            header.height,
            txs,
            f" ({left_out} left out)" if left_out else "",
            seconds * 1000,
            extra={
                "event": f"block_{kind}",
                "height": header.height,
                "txs": txs,
                "left_out": left_out,
                "ms": round(seconds * 1000, 3),
            },
        )
        if metrics is not None:
            metrics.observe_block(kind, txs, seconds)
        return result

    return run


class PeerWatch:
    """Tracks the followed peers' heights; logs when one becomes unreachable or comes back."""

    def __init__(self, client: httpx.AsyncClient, peers: list[str], interval_s: float) -> None:
        self.client = client
        self.peers = peers
        self.interval_s = interval_s
        self.peer_height: int | None = None
        self.reachable: dict[str, bool] = {}

    def lag(self, height: int) -> int | None:
        return None if self.peer_height is None else max(0, self.peer_height - height)

    async def poll_once(self) -> None:
        best: int | None = None
        for peer in self.peers:
            try:
                resp = await self.client.get(f"{peer}/status", timeout=2.0)
                height = resp.json().get("height")
                if type(height) is not int:
                    raise ValueError(f"status {resp.status_code} without a height")
            except (httpx.HTTPError, ValueError, AttributeError) as e:
                if self.reachable.get(peer, True):
                    sync_log.warning(
                        "peer %s unreachable: %s",
                        peer,
                        f"{type(e).__name__}: {e}",
                        extra={"event": "peer_down", "peer": peer},
                    )
                self.reachable[peer] = False
                continue
            if not self.reachable.get(peer, False):
                sync_log.info(
                    "peer %s reachable at height %d",
                    peer,
                    height,
                    extra={"event": "peer_up", "peer": peer, "height": height},
                )
            self.reachable[peer] = True
            best = height if best is None else max(best, height)
        if best is not None:
            self.peer_height = best

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval_s)


class Production:
    """Whether block production is failing: logged once when a burst of failures starts and once
    when it ends, not on every tick (a full disk fails every tick until someone frees space)."""

    def __init__(self, metrics: Any = None) -> None:
        self.metrics = metrics
        self.failures = 0
        self.last_error: str | None = None

    def failed(self, e: Exception) -> None:
        self.failures += 1
        if self.metrics is not None:
            self.metrics.block_failures.inc()
        reason = "disk full" if is_disk_full(e) else "error"
        self.last_error = f"block production failing ({reason}): {type(e).__name__}: {e}"
        if self.failures == 1:
            block_log.error(
                "%s; serving reads, retrying every tick",
                self.last_error,
                exc_info=reason != "disk full",
                extra={"event": "production_failing", "disk_full": reason == "disk full"},
            )

    def succeeded(self) -> None:
        if self.failures:
            block_log.warning(
                "block production recovered after %d failed ticks",
                self.failures,
                extra={"event": "production_recovered", "failures": self.failures},
            )
        self.failures = 0
        self.last_error = None


def idle_interval_s(node: Any, block_time_s: float) -> float:
    """The longest a healthy chain goes without a block: an empty one every epoch_blocks/10."""
    return max(1, get_param(node.state, "epoch_blocks") // 10) * block_time_s


def health(
    node: Any, stale_after_s: float, last_error: str | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of GET /health (see the module docstring)."""
    age = max(0.0, time.time() - node.head.time_ms / 1000)
    if node.sync_error is not None:
        status = "halted"
    elif age > stale_after_s:
        status = "stale"
    else:
        status = "ok"
    body = {
        "status": status,
        "height": node.head.height,
        "role": "sequencer" if node.is_sequencer else "replica",
        "head_age_s": round(age, 3),
        "stale_after_s": stale_after_s,
        "mempool": len(node.mempool),
        "sync_error": node.sync_error,
        "last_error": last_error,
    }
    return (200 if status == "ok" else 503), body


def health_routes(
    node: Any, stale_after_s: Callable[[], float], last_error: Callable[[], str | None]
) -> list[BaseRoute]:
    async def get_health(request: Request) -> Response:
        code, body = health(node, stale_after_s(), last_error())
        return JSONResponse(body, status_code=code)

    return [Route("/health", get_health, methods=["GET"])]
