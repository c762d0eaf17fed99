"""The one way nnet waits for something: `poll_until`, with one error when it gives up.

Every wait (a transaction to commit, a job's verifiers to be drawn, its challenge or its
openings, a daemon to listen, a node to answer) asks a `check` again and again until it answers
something, and gives up after a deadline with `nnet.errors.TimedOut` (exit 1) naming what it
waited for. It sits among the foundations so that client.py, the services and the commands can
all use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from nnet.errors import TimedOut

__all__ = ["poll_until"]

T = TypeVar("T")


def poll_until(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout_s: float,
    every_s: float = 0.25,
    max_every_s: float | None = None,
    retry: tuple[type[Exception], ...] = (),
    hint: str | None = None,
) -> T:
    """Call `check()` until it returns something truthy, and return that.

    Between calls it sleeps `every_s`, doubling up to `max_every_s` when that is given. An error
    of a type in `retry` counts as "not yet"; if the last call before the deadline raised one, that
    error is raised again at the deadline (it says why better than a timeout: a node that never
    answered stays NodeUnreachable, exit 3). Otherwise the deadline raises TimedOut, saying what
    was waited for (`what`, e.g. "job 4's verifiers to be drawn") and `hint`.
    """
    deadline = time.monotonic() + timeout_s
    delay = every_s
    while True:
        failure: Exception | None = None
        try:
            value = check()
            if value:
                return value
        except retry as e:
            failure = e
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            raise TimedOut(f"timed out after {timeout_s:g} s waiting for {what}", hint=hint)
        time.sleep(delay)
        if max_every_s is not None:
            delay = min(delay * 2, max_every_s)
