"""Fault injection for the gossip transport (tests and devnet drills only; never on by default).

A node reads HOME/faults.json, when it exists, and applies its rules to its peer traffic:

    {"rules": [{"peer": "node-2", "action": "drop"},                  # every message to/from node-2
               {"peer": "node-3", "action": "delay", "seconds": 0.5},
               {"peer": "*", "action": "duplicate"},
               {"peer": "node-1", "action": "drop", "p": 0.3}]}       # p: probability, default 1

`FaultPlan.decide(peer)` says what to do with one outbound request to `peer` (node/p2p.py asks it
for every push and every sync GET); `FaultPlan.drops(peer)` says whether an inbound /p2p/ request
from `peer` is refused. Several matching rules combine: any drop drops, the longest delay wins,
any duplicate sends twice. Each rule rolls its own `p` on the plan's `random.Random`, which tests
seed.

The file is re-read when it changes (its mtime, size or inode), looked at no more than once every
RECHECK_S, so a test partitions and heals a running network by rewriting it. A missing file means no
faults; a file that is unreadable, over MAX_FILE_BYTES, over MAX_RULES or not of this shape is
logged once and means no faults either: a typo must not take a node down, nor half-apply.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from nnet.errors import MalformedInput

__all__ = [
    "MAX_DELAY_S",
    "MAX_FILE_BYTES",
    "MAX_RULES",
    "NO_FAULT",
    "RECHECK_S",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "parse_rules",
]

log = logging.getLogger("nnet.faults")

RECHECK_S = 0.2  # the most often the file's mtime is looked at
MAX_FILE_BYTES = 64 * 1024
MAX_RULES = 1_000
MAX_DELAY_S = 300.0
MAX_PEER_CHARS = 300  # a peer's name, or its URL when it has no name

Action = Literal["drop", "delay", "duplicate"]
_ACTIONS: tuple[Action, ...] = ("drop", "delay", "duplicate")


@dataclass(frozen=True)
class Fault:
    """One request's fate: never sent (`drop`), sent `delay_s` late, sent `copies` times."""

    drop: bool = False
    delay_s: float = 0.0
    copies: int = 1


NO_FAULT = Fault()


@dataclass(frozen=True)
class FaultRule:
    """One rule of faults.json: `action` on traffic with `peer` ("*": every peer), with
    probability `p`; `seconds` is the delay of a delay rule."""

    peer: str
    action: Action
    p: float = 1.0
    seconds: float = 0.0

    def matches(self, peer: str) -> bool:
        return self.peer in ("*", peer)


def _number(value: object, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedInput(f"{where} must be a number")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise MalformedInput(f"{where} must be between {low:g} and {high:g}")
    return number


def _parse_rule(raw: object, index: int) -> FaultRule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise MalformedInput(f"{where} must be an object")
    unknown = set(raw) - {"peer", "action", "p", "seconds"}
    if unknown:
        raise MalformedInput(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    peer = raw.get("peer")
    if not isinstance(peer, str) or not 0 < len(peer) <= MAX_PEER_CHARS:
        raise MalformedInput(f"{where}.peer must be a peer name or '*'")
    action = raw.get("action")
    if action not in _ACTIONS:
        raise MalformedInput(f"{where}.action must be one of {', '.join(_ACTIONS)}")
    p = _number(raw.get("p", 1.0), f"{where}.p", 0.0, 1.0)
    seconds = 0.0
    if action == "delay":
        if "seconds" not in raw:
            raise MalformedInput(f"{where}: a delay rule needs 'seconds'")
        seconds = _number(raw["seconds"], f"{where}.seconds", 0.0, MAX_DELAY_S)
    elif "seconds" in raw:
        raise MalformedInput(f"{where}: only a delay rule takes 'seconds'")
    return FaultRule(peer=peer, action=cast(Action, action), p=p, seconds=seconds)


def parse_rules(data: Any) -> tuple[FaultRule, ...]:
    """The rules of a parsed faults.json; MalformedInput naming the first thing that is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise MalformedInput('a faults file is an object {"rules": [...]}')
    if set(data) != {"rules"}:
        raise MalformedInput(f"unknown keys: {', '.join(sorted(set(data) - {'rules'}))}")
    rules = data["rules"]
    if len(rules) > MAX_RULES:
        raise MalformedInput(f"{len(rules)} rules; the limit is {MAX_RULES}")
    return tuple(_parse_rule(raw, i) for i, raw in enumerate(rules))


def _read_rules(path: Path) -> tuple[FaultRule, ...]:
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise MalformedInput(f"over the limit of {MAX_FILE_BYTES} bytes")
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MalformedInput(f"invalid JSON: {e}") from None
    return parse_rules(parsed)


class FaultPlan:
    """The rules of `path` (None: no file, no faults), kept up to date with the file.

    Safe to share between threads (the daemon's event loop and a test thread): a lock guards the
    reload; `rng` draws each rule's probability and `clock` paces the re-checks (tests pass both).
    """

    def __init__(
        self,
        path: Path | None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.rng = rng or random.Random()
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: tuple[FaultRule, ...] = ()
        self._stamp: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) last read
        self._checked_at: float | None = None
        self.error: str | None = None  # why the file in place was refused, if it was

    @classmethod
    def none(cls) -> FaultPlan:
        """A plan with no file: nothing is ever dropped, delayed or duplicated."""
        return cls(None)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules in force now (the file is re-checked first when RECHECK_S has passed)."""
        self._refresh()
        return self._rules

    def _refresh(self) -> None:
        if self.path is None:
            return
        with self._lock:
            now = self._clock()
            if self._checked_at is not None and now - self._checked_at < RECHECK_S:
                return
            self._checked_at = now
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                if self._stamp is not None or self._rules:
                    log.info("%s is gone: no faults", self.path)
                self._rules, self._stamp, self.error = (), None, None
                return
            except OSError as e:
                self._refuse(f"cannot stat it: {e}", None)
                return
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp:
                return
            try:
                rules = _read_rules(self.path)
            except OSError as e:
                self._refuse(f"cannot read it: {e}", stamp)
                return
            except MalformedInput as e:
                self._refuse(e.one_line(), stamp)
                return
            self._rules, self._stamp, self.error = rules, stamp, None
            log.warning("fault injection from %s: %d rule(s)", self.path, len(rules))

    def _refuse(self, why: str, stamp: tuple[int, int, int] | None) -> None:
        # logged once per version of the file, not on every check
        if stamp is None or stamp != self._stamp or self.error is None:
            log.warning("ignoring fault file %s (%s): no faults", self.path, why)
        self._rules, self._stamp, self.error = (), stamp, why

    def _fires(self, rule: FaultRule) -> bool:
        return rule.p >= 1.0 or self.rng.random() < rule.p

    def decide(self, peer: str) -> Fault:
        """What to do with one outbound request to `peer`."""
        rules = [r for r in self.rules if r.matches(peer)]
        if not rules:
            return NO_FAULT
        drop, delay_s, copies = False, 0.0, 1
        for rule in rules:
            if not self._fires(rule):
                continue
            if rule.action == "drop":
                drop = True
            elif rule.action == "delay":
                delay_s = max(delay_s, rule.seconds)
            else:
                copies = 2
        return Fault(drop=drop, delay_s=delay_s, copies=copies)

    def drops(self, peer: str) -> bool:
        """Whether an inbound request from `peer` is refused (only drop rules apply inbound)."""
        return any(r.action == "drop" and r.matches(peer) and self._fires(r) for r in self.rules)
