"""Consensus figures for GET /metrics on a network node (docs/operations.md).

Read from the driver at scrape time: where consensus is (height, round), whether this node
votes, how long recent heights took to decide, how much of the power signed the last commit,
and what gossip did per peer (messages sent, batches given up, items dropped from a full queue,
items a fault rule withheld).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ConsensusCollector"]


class ConsensusCollector(Collector):
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def collect(self) -> Iterator[Metric]:
        d = self.driver
        yield GaugeMetricFamily("nnet_consensus_height", "Height consensus works on", d.tm.height)
        yield GaugeMetricFamily("nnet_consensus_round", "Round of that height", d.tm.round)
        yield GaugeMetricFamily(
            "nnet_consensus_validator", "1 while this node votes", int(d.is_validator)
        )
        times = list(d.decide_times[-100:])
        if times:
            yield GaugeMetricFamily(
                "nnet_consensus_decide_seconds_p50",
                "Median seconds from a height's start to its decision (last 100 heights)",
                statistics.median(times),
            )
        commit = d.status_fields().get("last_commit")
        if commit and commit["total_power"]:
            yield GaugeMetricFamily(
                "nnet_last_commit_signed_ratio",
                "Share of the voting power in this node's last commit certificate",
                commit["signed_power"] / commit["total_power"],
            )
        counters = {
            "sent": "Items gossiped to the peer",
            "failed": "Gossip batches given up after retries",
            "dropped": "Items dropped from the peer's full queue",
            "faulted": "Items a fault rule withheld (tests)",
        }
        for field, doc in counters.items():
            family = CounterMetricFamily(f"nnet_gossip_{field}", doc, labels=["peer"])
            for peer, stats in d.gossip.stats().items():
                family.add_metric([peer], getattr(stats, field))
            yield family
