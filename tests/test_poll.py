"""nnet.poll.poll_until: the one wait of nnet, and its one way of giving up."""

from __future__ import annotations

import time

import pytest

from nnet.errors import NodeUnreachable, NotFound, TimedOut
from nnet.poll import poll_until


def test_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, {}, "ready", "later"])
    assert poll_until(lambda: next(answers), what="x", timeout_s=5, every_s=0.001) == "ready"
    assert next(answers) == "later"  # asked no more than needed


def test_gives_up_with_timed_out_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimedOut) as caught:
        poll_until(lambda: None, what="job 4's openings", timeout_s=0.2, every_s=0.01, hint="h")
    assert 0.2 <= time.monotonic() - started < 2
    assert caught.value.exit_code == 1 and caught.value.code == "timeout"
    assert caught.value.one_line() == "timed out after 0.2 s waiting for job 4's openings; h"


def test_a_retried_error_is_waited_out_then_raised_as_itself() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise NodeUnreachable("cannot reach the node")

    with pytest.raises(NodeUnreachable):  # exit 3, not a timeout: the node never answered
        poll_until(down, what="the node", timeout_s=0.1, every_s=0.01, retry=(NodeUnreachable,))
    assert len(calls) > 1
    flaky = iter([NodeUnreachable("down"), NodeUnreachable("down"), "up"])

    def recovering() -> str:
        value = next(flaky)
        if isinstance(value, Exception):
            raise value
        return value

    assert (
        poll_until(recovering, what="x", timeout_s=5, every_s=0.001, retry=(NodeUnreachable,))
        == "up"
    )


def test_other_errors_stop_the_wait_at_once() -> None:
    def gone() -> None:
        raise NotFound("no such job")

    started = time.monotonic()
    with pytest.raises(NotFound):
        poll_until(gone, what="x", timeout_s=30, retry=(NodeUnreachable,))
    assert time.monotonic() - started < 1


def test_the_delay_backs_off_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    answers = iter([None] * 6 + [True])
    poll_until(lambda: next(answers), what="x", timeout_s=60, every_s=0.05, max_every_s=0.5)
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
