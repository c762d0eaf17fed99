"""Stake-weighted proposer rotation, as CometBFT's `ProposerPriority` (NETWORK.md).

Each step, every validator's priority grows by its voting power; the highest priority proposes
(ties go to the lowest address) and pays the total power back. Over any window a validator
proposes in proportion to its power, and the order is deterministic from the validator set alone.

CometBFT carries priorities from block to block. Here they restart from zero whenever the set
changes (an epoch boundary, NETWORK.md), so the proposer of (height, round) is a pure function of
the set, the height the set took effect and the round: `height - since + round` steps from zero.
Each height starts from its own step count, so a round change moves the turn on without moving
the next height's. Priorities are kept centred and their spread bounded as CometBFT does, so
they never grow without bound however long the set lives.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ProposerSchedule"]


class ProposerSchedule:
    """The proposers of one validator set, from the height it took effect."""

    def __init__(self, powers: Mapping[str, int], since_height: int) -> None:
        if not powers or any(p <= 0 for p in powers.values()):
            raise ValueError("a validator set needs validators with positive power")
        self.order = sorted(powers)
        self.powers = [powers[a] for a in self.order]
        self.total = sum(self.powers)
        self.since = since_height
        self._priorities = [0] * len(self.order)
        self._steps = 0  # steps applied to _priorities
        self._cache: dict[int, str] = {}

    def proposer(self, height: int, round_: int) -> str:
        """Who proposes at (height, round)."""
        if height < self.since or round_ < 0:
            raise ValueError(f"height {height} is before this set (from {self.since})")
        step = (height - self.since) + round_
        if step not in self._cache:
            self._cache[step] = self._advance_to(step)
        return self._cache[step]

    def _advance_to(self, step: int) -> str:
        if step < self._steps:  # earlier than we have gone: start again (rare; small sets)
            self._priorities, self._steps = [0] * len(self.order), 0
        chosen = self._step()
        while self._steps <= step:
            chosen = self._step()
        return chosen

    def _step(self) -> str:
        prios = self._priorities
        self._rescale()
        for i, p in enumerate(self.powers):
            prios[i] += p
        best = max(range(len(prios)), key=lambda i: (prios[i], -i))
        prios[best] -= self.total
        self._steps += 1
        return self.order[best]

    def _rescale(self) -> None:
        """CometBFT's bounds: spread at most 2 × total, then centred on zero (floor division:
        integers only, the same on every node)."""
        prios = self._priorities
        spread = max(prios) - min(prios)
        limit = 2 * self.total
        if spread > limit:
            ratio = -(-spread // limit)
            for i in range(len(prios)):
                prios[i] //= ratio
        mean = sum(prios) // len(prios)
        for i in range(len(prios)):
            prios[i] -= mean
