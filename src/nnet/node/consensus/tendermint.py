"""Tendermint consensus for one height after another, as a pure state machine (NETWORK.md).

Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic, arXiv 1807.04938),
the algorithm CometBFT runs: rounds of propose, prevote and precommit; locking (`locked_value`,
`locked_round`) and `valid_value`/`valid_round`; timeouts that grow with the round; a value is
decided once precommits from more than 2/3 of the voting power name it. The rule numbers in the
comments (L22, L28, ...) are the paper's lines.

The machine does no I/O and reads no clock. A node feeds it what arrives (`on_proposal`,
`on_vote`) and the timeouts it asked for (`on_timeout`), and carries out the actions it returns:
`Broadcast` a proposal or a vote (after signing it and writing the signing record to disk, so a
crash can never make it sign twice), `Schedule` a timeout, `Decide` a value with the precommits
that commit it (the commit certificate), `Equivocation` evidence. Values are opaque to it beyond
their id (the block hash); `get_value` and `is_valid` come from the application, that is the
ABCI-shaped boundary (`prepare_proposal`, `process_proposal`).

Messages are assumed authenticated: the caller checks each signature and drops a message from a
non-validator before it gets here. Messages for a later height are kept and replayed when the
machine gets there; earlier heights are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from nnet.node.consensus.proposer import ProposerSchedule

__all__ = [
    "Broadcast",
    "Decide",
    "Equivocation",
    "Proposal",
    "Schedule",
    "Tendermint",
    "Timeouts",
    "Vote",
]

Step = Literal["propose", "prevote", "precommit"]
VoteType = Literal["prevote", "precommit"]
STEPS: dict[Step, int] = {"propose": 0, "prevote": 1, "precommit": 2}


@dataclass(frozen=True)
class Value:
    """A proposed block, to consensus: its id, and the bytes the application gave."""

    id: str
    data: bytes = b""


@dataclass(frozen=True)
class Proposal:
    height: int
    round: int
    value: Value
    valid_round: int  # -1, or the round whose prevote quorum backs a re-proposed value
    proposer: str


@dataclass(frozen=True)
class Vote:
    type: VoteType
    height: int
    round: int
    value_id: str | None  # None: nil
    validator: str


@dataclass(frozen=True)
class Broadcast:
    message: Proposal | Vote


@dataclass(frozen=True)
class Schedule:
    kind: Step
    height: int
    round: int
    seconds: float


@dataclass(frozen=True)
class Decide:
    height: int
    round: int
    value: Value
    precommits: tuple[Vote, ...]  # the commit: > 2/3 of the power for value.id at round


@dataclass(frozen=True)
class Equivocation:
    first: Vote
    second: Vote


Action = Broadcast | Schedule | Decide | Equivocation


@dataclass(frozen=True)
class Timeouts:
    """Seconds per step: base + delta × round (they grow so a slow network is caught up with)."""

    propose: float = 2.0
    prevote: float = 0.5
    precommit: float = 0.5
    delta: float = 0.5

    def of(self, kind: Step, round_: int) -> float:
        base = {"propose": self.propose, "prevote": self.prevote, "precommit": self.precommit}
        return base[kind] + self.delta * round_


@dataclass
class _Height:
    """What has arrived for one height: proposals and votes by round."""

    proposals: dict[int, Proposal] = field(default_factory=dict)
    votes: dict[tuple[VoteType, int], dict[str, Vote]] = field(default_factory=dict)

    def tally(self, type_: VoteType, round_: int) -> dict[str, Vote]:
        return self.votes.setdefault((type_, round_), {})


class Tendermint:
    """One validator's (or an observer's, with `me` None) view of consensus."""

    def __init__(
        self,
        powers: Mapping[str, int],
        me: str | None,
        *,
        get_value: Callable[[int, int], Value],
        is_valid: Callable[[Value], bool],
        timeouts: Timeouts | None = None,
        since_height: int = 1,
        start_height: int | None = None,
        pause_after_decide: bool = False,
    ) -> None:
        """`since_height`: where this set took effect (the proposer rotation counts from it);
        `start_height`: the first height to decide (default `since_height`). With
        `pause_after_decide`, a decision does not start the next height: the caller waits its
        commit timeout and calls `next_height` (messages for it are kept meanwhile)."""
        self.powers = dict(powers)
        self.total = sum(self.powers.values())
        self.schedule = ProposerSchedule(self.powers, since_height)
        self.pause_after_decide = pause_after_decide
        self.paused = False
        self.me = me
        self.get_value = get_value
        self.is_valid = is_valid
        self.timeouts = timeouts or Timeouts()
        self.height = since_height if start_height is None else start_height
        self.round = 0
        self.step: Step = "propose"
        self.locked: tuple[int, Value | None] = (-1, None)
        self.valid: tuple[int, Value | None] = (-1, None)
        self.decisions: dict[int, Decide] = {}
        self._log: dict[int, _Height] = {}
        self._fired: set[tuple[str, int]] = set()  # "for the first time" rules, per round
        self._valid_cache: dict[str, bool] = {}

    # ---- inputs -----------------------------------------------------------------------------
    def start(self) -> list[Action]:
        return self._start_round(0)

    def next_height(self) -> list[Action]:
        """Start round 0 of the height after a decision (with `pause_after_decide`)."""
        if not self.paused:
            return []
        self.paused = False
        return self._start_round(0)

    def on_proposal(self, p: Proposal) -> list[Action]:
        if p.height < self.height or p.round < 0 or p.valid_round >= p.round:
            return []
        if p.proposer != self.schedule.proposer(p.height, p.round):
            return []  # only the round's proposer may propose
        log = self._at(p.height)
        if p.round in log.proposals:
            return []  # a second proposal of a round is ignored (evidence is votes')
        log.proposals[p.round] = p
        return self._evaluate() if p.height == self.height else []

    def on_vote(self, v: Vote) -> list[Action]:
        if v.height < self.height or v.round < 0 or v.validator not in self.powers:
            return []
        tally = self._at(v.height).tally(v.type, v.round)
        first = tally.get(v.validator)
        if first is not None:
            return [] if first == v else [Equivocation(first, v)]
        tally[v.validator] = v
        return self._evaluate() if v.height == self.height else []

    def on_timeout(self, kind: Step, height: int, round_: int) -> list[Action]:
        if self.paused or height != self.height or round_ != self.round:
            return []
        out: list[Action] = []
        if kind == "propose" and self.step == "propose":  # L57
            out += self._vote("prevote", None)
            self.step = "prevote"
        elif kind == "prevote" and self.step == "prevote":  # L61
            out += self._vote("precommit", None)
            self.step = "precommit"
        elif kind == "precommit":  # L65
            out += self._start_round(self.round + 1)
            return out
        return out + self._evaluate()

    def catch_up(self, decisions: list[Decide]) -> list[Action]:
        """Adopt finalized heights learned from a peer (sync), each checked against its commit:
        precommits of > 2/3 of the power for its value at its round. Stops at the first that
        does not check out; starts round 0 of the height after the last adopted."""
        adopted = False
        for d in sorted(decisions, key=lambda d: d.height):
            if d.height != self.height:
                continue
            signers = {v.validator for v in d.precommits}
            if len(signers) != len(d.precommits) or not all(
                v.type == "precommit"
                and v.height == d.height
                and v.round == d.round
                and v.value_id == d.value.id
                for v in d.precommits
            ):
                break
            if 3 * self._power(signers) <= 2 * self.total:
                break
            self.decisions[d.height] = d
            self._log.pop(d.height, None)
            self.height += 1
            adopted = True
        if not adopted:
            return []
        self.locked = self.valid = (-1, None)
        self._fired.clear()
        self._valid_cache.clear()
        return self._start_round(0)

    def own_messages(self) -> list[Proposal | Vote]:
        """What this validator has said at the current height, to gossip again: a message lost
        to a cut link reaches its peer once the link is back (CometBFT's gossip does the same)."""
        if self.me is None:
            return []
        log = self._at(self.height)
        said: list[Proposal | Vote] = [p for p in log.proposals.values() if p.proposer == self.me]
        for tally in log.votes.values():
            if self.me in tally:
                said.append(tally[self.me])
        return said

    # ---- the rules --------------------------------------------------------------------------
    def _start_round(self, round_: int) -> list[Action]:  # L11
        self.round, self.step = round_, "propose"
        out: list[Action] = []
        if self.me is not None and self.schedule.proposer(self.height, round_) == self.me:
            vr, vv = self.valid
            value = vv if vv is not None else self.get_value(self.height, round_)
            p = Proposal(self.height, round_, value, vr, self.me)
            out.append(Broadcast(p))
            self._at(self.height).proposals.setdefault(round_, p)
        else:
            seconds = self.timeouts.of("propose", round_)
            out.append(Schedule("propose", self.height, round_, seconds))
        return out + self._evaluate()

    def _evaluate(self) -> list[Action]:
        """Fire every rule whose condition holds, until none does."""
        out: list[Action] = []
        if self.paused:
            return out
        while True:
            fired = self._one_rule()
            if fired is None:
                return out
            out += fired

    def _one_rule(self) -> list[Action] | None:
        h, r = self.height, self.round
        log = self._at(h)
        prop = log.proposals.get(r)

        # L49: a decision, at any round of this height
        for pr, p in sorted(log.proposals.items()):
            commit = self._quorum_for(log, "precommit", pr, p.value.id)
            if commit is not None and self._is_valid(p.value):
                return self._decide(p, commit)

        # L55: f+1 of the power is already in a later round: go there
        for later in sorted({rr for (_, rr) in log.votes if rr > r}):
            voters = {v for (_, rr), vs in log.votes.items() if rr == later for v in vs}
            if 3 * self._power(voters) > self.total:
                return self._start_round(later)

        if self.step == "propose" and prop is not None:
            vr = prop.valid_round
            if vr == -1:  # L22
                lr, lv = self.locked
                ok = self._is_valid(prop.value) and (lr == -1 or _same(lv, prop.value))
                self.step = "prevote"
                return self._vote("prevote", prop.value.id if ok else None)
            if 0 <= vr < r and self._quorum_for(log, "prevote", vr, prop.value.id):  # L28
                lr, lv = self.locked
                ok = self._is_valid(prop.value) and (lr <= vr or _same(lv, prop.value))
                self.step = "prevote"
                return self._vote("prevote", prop.value.id if ok else None)

        if self.step == "prevote" and self._once("prevote-any", r):  # L34
            if self._quorum_any(log, "prevote", r):
                return [Schedule("prevote", h, r, self.timeouts.of("prevote", r))]
            self._fired.discard(("prevote-any", r))

        if (  # L36
            prop is not None
            and STEPS[self.step] >= 1
            and self._quorum_for(log, "prevote", r, prop.value.id)
            and self._is_valid(prop.value)
            and self._once("lock", r)
        ):
            out: list[Action] = []
            if self.step == "prevote":
                self.locked = (r, prop.value)
                out += self._vote("precommit", prop.value.id)
                self.step = "precommit"
            self.valid = (r, prop.value)
            return out

        if self.step == "prevote" and self._quorum_for(log, "prevote", r, None):  # L44
            self.step = "precommit"
            return self._vote("precommit", None)

        if self._once("precommit-any", r):  # L47
            if self._quorum_any(log, "precommit", r):
                return [Schedule("precommit", h, r, self.timeouts.of("precommit", r))]
            self._fired.discard(("precommit-any", r))
        return None

    def _decide(self, p: Proposal, commit: tuple[Vote, ...]) -> list[Action]:
        decision = Decide(p.height, p.round, p.value, commit)
        self.decisions[p.height] = decision
        self._log.pop(p.height, None)
        self.height += 1
        self.locked = self.valid = (-1, None)
        self._fired.clear()
        self._valid_cache.clear()
        if self.pause_after_decide:
            self.paused = True
            return [decision]
        return [decision, *self._start_round(0)]

    # ---- helpers ----------------------------------------------------------------------------
    def _vote(self, type_: VoteType, value_id: str | None) -> list[Action]:
        if self.me is None or self.me not in self.powers:
            return []
        v = Vote(type_, self.height, self.round, value_id, self.me)
        self._at(self.height).tally(type_, self.round).setdefault(self.me, v)
        return [Broadcast(v)]

    def _at(self, height: int) -> _Height:
        return self._log.setdefault(height, _Height())

    def _power(self, voters: set[str] | list[str]) -> int:
        return sum(self.powers.get(v, 0) for v in voters)

    def _quorum_any(self, log: _Height, type_: VoteType, round_: int) -> bool:
        return 3 * self._power(list(log.tally(type_, round_))) > 2 * self.total

    def _quorum_for(
        self, log: _Height, type_: VoteType, round_: int, value_id: str | None
    ) -> tuple[Vote, ...] | None:
        votes = tuple(v for v in log.tally(type_, round_).values() if v.value_id == value_id)
        if 3 * self._power([v.validator for v in votes]) > 2 * self.total:
            return tuple(sorted(votes, key=lambda v: v.validator))
        return None

    def _once(self, rule: str, round_: int) -> bool:
        if (rule, round_) in self._fired:
            return False
        self._fired.add((rule, round_))
        return True

    def _is_valid(self, value: Value) -> bool:
        if value.id not in self._valid_cache:
            self._valid_cache[value.id] = bool(self.is_valid(value))
        return self._valid_cache[value.id]


def _same(a: Value | None, b: Value) -> bool:
    return a is not None and a.id == b.id
