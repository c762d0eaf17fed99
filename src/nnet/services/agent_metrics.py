"""`nnet node run --metrics-listen`: the agent's Prometheus metrics, served at GET /metrics.

The daemon's conventions (node/metrics.py, docs/operations.md): prometheus_client's text format,
a CollectorRegistry of its own (never the global one), labels of bounded cardinality. What must
survive a restart is read from agent.db at each scrape (jobs by role and stage, transactions
signed by step, what settled jobs paid); the rest the agent reports as it goes, through the
`AgentObserver` hooks (services/agent.py, agent_worker.py): the deadline of the step it still
has to take, training progress, errors by code. Per-job series exist only while the job is
unsettled in agent.db, and a deadline only until the agent has signed that step's transaction
(one the node refused brings it back), so their number is bounded by the jobs in flight.

The metrics (docs/agent.md, "Metrics", says what each means): nnet_agent_head_height,
nnet_agent_jobs{role,stage}, nnet_agent_actions_total{kind}, nnet_agent_earned_base_units_total,
nnet_agent_deadline_blocks_left{job_id,stage}, nnet_agent_deadline_margin_blocks,
nnet_agent_training_step{job_id}, nnet_agent_training_steps{job_id},
nnet_agent_errors_total{code}. A job is `job_id`, never `job`: Prometheus gives every target a
`job` label of its own and would rename ours `exported_job`.

`MetricsServer` serves them from a thread (stdlib http.server): GET /metrics only, on loopback
unless `public` (then any Host); bound to loopback it answers loopback Host headers only, as the
daemon does, so a web page whose name rebinds to 127.0.0.1 cannot read them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from nnet.errors import UsageError

if TYPE_CHECKING:
    from nnet.services.agent import Agent

__all__ = [
    "AgentMetrics",
    "AgentObserver",
    "MetricsServer",
    "parse_metrics_listen",
    "serve_metrics",
]

log = logging.getLogger("nnet.agent")

# the step the agent takes in each chain status it has a deadline in (agent.db's action kinds)
STEP_OF_STAGE = {
    "open": "claim",
    "claimed": "proof",
    "challenged": "open",
    "drawn": "seed",
    "opened": "attest",
}
MAX_ERROR_CODES = 64  # codes come from the node too: a flood of new ones ends up as "other"


class AgentObserver:
    """What the agent reports as it goes; this base ignores it (no --metrics-listen)."""

    def deadline(self, job: int, stage: str, height: int) -> None:
        """The agent logged `job`'s deadline in `stage`: due by `height`."""

    def training(self, job: int, step: int, steps: int) -> None:
        """Training of `job` reached `step` of `steps`."""

    def error(self, code: str) -> None:
        """An error the agent met and went on from (its NnetError code)."""


class AgentMetrics(AgentObserver):
    """The metrics of one agent (see the module docstring): `render()` is the text format."""

    def __init__(self, state: Path, margin_blocks: int, head: Callable[[], int]) -> None:
        self.state = state
        self.margin_blocks = margin_blocks
        self.head = head
        self._lock = threading.Lock()
        self._deadlines: dict[int, tuple[str, int]] = {}  # job -> (stage, height)
        self._training: dict[int, tuple[int, int]] = {}  # job -> (step, steps)
        self._codes: set[str] = set()
        self.registry = CollectorRegistry()
        self.errors = Counter(
            "nnet_agent_errors",
            "Errors the agent met and went on from, by code",
            ["code"],
            registry=self.registry,
        )
        self.registry.register(_FromState(self))

    # ---- hooks ---------------------------------------------------------------------------------
    def deadline(self, job: int, stage: str, height: int) -> None:
        with self._lock:
            self._deadlines[job] = (stage, height)

    def training(self, job: int, step: int, steps: int) -> None:
        with self._lock:
            self._training[job] = (step, steps)

    def error(self, code: str) -> None:
        code = re.sub(r"[^a-z0-9_]", "_", (code or "error").lower())[:40]
        with self._lock:
            if code not in self._codes and len(self._codes) >= MAX_ERROR_CODES:
                code = "other"
            self._codes.add(code)
        self.errors.labels(code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # ---- for the collector ---------------------------------------------------------------------
    def snapshot(self) -> tuple[dict[int, tuple[str, int]], dict[int, tuple[int, int]]]:
        with self._lock:
            return dict(self._deadlines), dict(self._training)

    def forget(self, jobs: set[int]) -> None:
        """Drop what was reported of jobs that are settled (or unknown to agent.db)."""
        with self._lock:
            for job in jobs:
                self._deadlines.pop(job, None)
                self._training.pop(job, None)


class _Job(NamedTuple):
    job: int
    role: str
    stage: str
    settled: bool
    earned: int


class _FromState(Collector):
    """The agent.db figures and the per-job gauges, computed at scrape time."""

    def __init__(self, metrics: AgentMetrics) -> None:
        self.metrics = metrics

    def _read(self) -> tuple[list[_Job], list[tuple[int, str, str]]]:
        """agent.db's jobs, and its actions as (job, kind, state); read-only, beside the agent."""
        uri = self.metrics.state.absolute().as_uri() + "?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=5.0)
        except sqlite3.Error:  # not created yet
            return [], []
        try:
            jobs = db.execute("SELECT job, role, stage, outcome, earned FROM jobs").fetchall()
            actions = db.execute("SELECT job, kind, state FROM actions").fetchall()
        except sqlite3.Error:
            return [], []
        finally:
            db.close()
        rows = [_Job(int(j), str(r), str(s), o is not None, int(e)) for j, r, s, o, e in jobs]
        return rows, [(int(j), str(k), str(s)) for j, k, s in actions]

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield GaugeMetricFamily(
            "nnet_agent_head_height", "Chain height the agent has followed to", m.head()
        )
        yield GaugeMetricFamily(
            "nnet_agent_deadline_margin_blocks",
            "Safety margin: no claim this close to its deadline (--margin-blocks)",
            m.margin_blocks,
        )
        rows, actions = self._read()
        by_stage: dict[tuple[str, str], int] = {}
        for row in rows:
            by_stage[row.role, row.stage] = by_stage.get((row.role, row.stage), 0) + 1
        jobs = GaugeMetricFamily(
            "nnet_agent_jobs",
            "Jobs in agent.db by role and stage (a settled job's stage is its outcome)",
            labels=["role", "stage"],
        )
        for (role, stage), n in sorted(by_stage.items()):
            jobs.add_metric([role, stage], n)
        yield jobs
        by_kind: dict[str, int] = {}
        for _, kind, _ in actions:
            step = re.split(r"[@~]", kind, maxsplit=1)[0]  # reward.claim@H, claim~0xretired
            by_kind[step] = by_kind.get(step, 0) + 1
        signed = CounterMetricFamily(
            "nnet_agent_actions", "Transactions the agent signed, by step", labels=["kind"]
        )
        for kind, n in sorted(by_kind.items()):
            signed.add_metric([kind], n)
        yield signed
        yield CounterMetricFamily(
            "nnet_agent_earned_base_units",
            "Base units settled jobs paid this node (its share as worker or verifier)",
            sum(row.earned for row in rows),
        )
        yield from self._per_job(rows, actions)

    def _per_job(self, rows: list[_Job], actions: list[tuple[int, str, str]]) -> Iterator[Metric]:
        m = self.metrics
        active = {row.job for row in rows if not row.settled}
        deadlines, training = m.snapshot()
        m.forget((set(deadlines) | set(training)) - active)
        signed = {(job, kind) for job, kind, state in actions if state != "refused"}
        head = m.head()
        left = GaugeMetricFamily(
            "nnet_agent_deadline_blocks_left",
            "Blocks before the deadline of the step the agent has still to take in a job",
            labels=["job_id", "stage"],
        )
        for job, (stage, height) in sorted(deadlines.items()):
            if job in active and (job, STEP_OF_STAGE.get(stage, "")) not in signed:
                left.add_metric([str(job), stage], max(0, height - head))
        yield left
        step = GaugeMetricFamily(
            "nnet_agent_training_step", "Training steps done in a job", labels=["job_id"]
        )
        steps = GaugeMetricFamily(
            "nnet_agent_training_steps", "Training steps of a job in all", labels=["job_id"]
        )
        for job, (done, total) in sorted(training.items()):
            if job in active:
                step.add_metric([str(job)], done)
                steps.add_metric([str(job)], total)
        yield step
        yield steps


# ---- serving ------------------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_metrics_listen(text: str, *, public: bool = False) -> tuple[str, int]:
    """--metrics-listen: HOST:PORT, [v6]:PORT, :PORT or PORT (host 127.0.0.1; port 0: any free
    one). A host that is not loopback is refused unless `public` (--metrics-public)."""
    host, _, port = text.rpartition(":")
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise UsageError(f"--metrics-listen {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "127.0.0.1"
    if not public and not _is_loopback(host):
        raise UsageError(
            f"--metrics-listen {text}: {host} is not a loopback address, and the metrics name "
            "this node's jobs and earnings",
            hint="add --metrics-public to serve them beyond this machine (behind a firewall), "
            "or listen on 127.0.0.1",
        )
    return host, int(port)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """GET /metrics of `metrics` on host:port (see the module docstring), on a daemon thread."""

    def __init__(self, metrics: AgentMetrics, host: str, port: int) -> None:
        loopback_only = _is_loopback(host)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = (self.headers.get("Host") or "localhost").strip().lower()
                name = name[1:].partition("]")[0] if name.startswith("[") else name
                name = name.partition(":")[0] if name.count(":") == 1 else name
                if loopback_only and not _is_loopback(name.rstrip(".")):
                    self._answer(403, b"bad_host: this agent serves loopback clients only\n")
                elif urlsplit(self.path).path != "/metrics":
                    self._answer(404, b"not found: the metrics are at GET /metrics\n")
                else:
                    self._answer(200, metrics.render(), CONTENT_TYPE_LATEST)

            def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics: " + format, *args)

        server_class = _Server6 if ":" in host else ThreadingHTTPServer
        try:
            self.httpd = server_class((host, port), Handler)
        except OSError as e:
            raise UsageError(
                f"--metrics-listen {host}:{port}: cannot listen: {e.strerror or e}",
                hint="pick another port, or 0 for any free one",
                code="cannot_listen",
            ) from None
        self.httpd.daemon_threads = True
        bound_port = self.httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}/metrics"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="nnet-agent-metrics", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve_metrics(agent: Agent, host: str, port: int) -> MetricsServer:
    """Give `agent` its metrics and serve them on host:port (logged: event metrics_listening)."""
    metrics = AgentMetrics(agent.options.state, agent.options.margin_blocks, lambda: agent.head)
    agent.metrics = metrics
    server = MetricsServer(metrics, host, port)
    log.info("metrics at %s", server.url, extra={"event": "metrics_listening", "url": server.url})
    return server
