"""A deterministic network of Tendermint machines on a virtual clock, with faults to inject.

Every message is delivered after a delay drawn from a seeded RNG; `drop(sender, receiver, t)`
loses messages (a partition, a cut link); a crashed node neither receives nor sends until it
restarts, when it begins again from its last decided height (what its disk held), as a node
after kill -9 does; a Byzantine node's outgoing votes can be rewritten per receiver.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnet.node.consensus.tendermint import (
    Action,
    Broadcast,
    Decide,
    Equivocation,
    Proposal,
    Schedule,
    Tendermint,
    Timeouts,
    Value,
    Vote,
)

Rewrite = Callable[[str, Vote], Vote | None]


@dataclass
class Net:
    names: list[str]
    seed: int = 1
    powers: dict[str, int] | None = None
    max_delay: float = 0.05
    drop: Callable[[str, str, float], bool] = lambda s, r, t: False
    byzantine: dict[str, Rewrite] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(1.0, 0.5, 0.5, 0.5))
    gossip_every: float = 1.0  # each node says again what it said at its height, and syncs

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.power = self.powers or {n: 10 for n in self.names}
        self.now = 0.0
        self.queue: list[tuple[float, int, str, str, Any]] = []
        self.seq = 0
        self.down: set[str] = set()
        self.decided: dict[str, dict[int, Decide]] = {n: {} for n in self.names}
        self.evidence: list[Equivocation] = []
        self.nodes = {n: self._machine(n, 1) for n in self.names}

    def _machine(self, name: str, height: int) -> Tendermint:
        return Tendermint(
            self.power,
            name,
            get_value=lambda h, r: Value(f"{name}@{h}.{r}"),
            is_valid=lambda v: True,
            timeouts=self.timeouts,
            since_height=1,
        )

    def start(self) -> None:
        for n in self.names:
            if n not in self.down:
                self._apply(n, self.nodes[n].start())
            self._push(self.gossip_every, n, "gossip", None)

    def _gossip(self, name: str) -> None:
        """Re-send this node's messages of its height; adopt finalized heights a reachable peer
        has (block sync, certificates checked by the machine)."""
        node = self.nodes[name]
        for msg in node.own_messages():
            self._apply(name, [Broadcast(msg)])
        for peer in self.names:
            if peer == name or peer in self.down or self.drop(peer, name, self.now):
                continue
            ahead = [d for h, d in self.decided[peer].items() if h >= node.height]
            if ahead:
                self._apply(name, node.catch_up(ahead))
                self.decided[name].update(node.decisions)
        self._push(self.now + self.gossip_every, name, "gossip", None)

    def crash(self, name: str) -> None:
        self.down.add(name)

    def restart(self, name: str) -> None:
        """Back from a crash: a fresh machine that replays its decided heights (its disk)."""
        self.down.discard(name)
        m = self._machine(name, 1)
        for h in sorted(self.decided[name]):
            m.decisions[h] = self.decided[name][h]
        m.height = max(self.decided[name], default=0) + 1
        self.nodes[name] = m
        self._apply(name, m.start())

    def _push(self, at: float, target: str, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, target, kind, payload))

    def _apply(self, name: str, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Broadcast):
                for peer in self.names:
                    if peer == name:
                        continue
                    msg: Proposal | Vote | None = a.message
                    if name in self.byzantine and isinstance(msg, Vote):
                        msg = self.byzantine[name](peer, msg)
                    if msg is None or self.drop(name, peer, self.now):
                        continue
                    delay = self.rng.uniform(0.001, self.max_delay)
                    self._push(self.now + delay, peer, "msg", msg)
            elif isinstance(a, Schedule):
                self._push(self.now + a.seconds, name, "timeout", (a.kind, a.height, a.round))
            elif isinstance(a, Decide):
                self.decided[name][a.height] = a
            elif isinstance(a, Equivocation):
                self.evidence.append(a)

    def run_until(self, t_end: float) -> None:
        while self.queue and self.queue[0][0] <= t_end:
            at, _, target, kind, payload = heapq.heappop(self.queue)
            self.now = at
            if target in self.down:
                if kind == "gossip":  # its gossip timer runs again once it restarts
                    self._push(at + self.gossip_every, target, "gossip", None)
                continue
            node = self.nodes[target]
            if kind == "gossip":
                self._gossip(target)
                continue
            if kind == "timeout":
                actions = node.on_timeout(*payload)
            elif isinstance(payload, Proposal):
                actions = node.on_proposal(payload)
            else:
                actions = node.on_vote(payload)
            self._apply(target, actions)
        self.now = t_end

    def heights(self) -> dict[str, int]:
        return {n: max(d, default=0) for n, d in self.decided.items()}

    def check_agreement(self) -> None:
        """No two different values decided at one height, on any node."""
        by_height: dict[int, set[str]] = {}
        for d in self.decided.values():
            for h, dec in d.items():
                by_height.setdefault(h, set()).add(dec.value.id)
        forks = {h: ids for h, ids in by_height.items() if len(ids) > 1}
        assert not forks, f"different values decided: {forks}"

    def check_certificates(self) -> None:
        """Every decision carries precommits of > 2/3 of the power for its value."""
        total = sum(self.power.values())
        for d in self.decided.values():
            for dec in d.values():
                signers = {v.validator for v in dec.precommits}
                assert all(v.value_id == dec.value.id for v in dec.precommits)
                assert 3 * sum(self.power[s] for s in signers) > 2 * total
