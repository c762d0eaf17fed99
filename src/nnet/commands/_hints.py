"""Flag names in hints belong to the command layer: the core says what is wrong ("the run is not
finished", code `run_unfinished`), the command that called it says which of its flags fixes it.

    with flag_hints(run_exists="pass --resume to continue that run, or choose another -o"):
        train(spec, out, options)

The core's errors carry a stable `code` for this (errors.py); tests/test_core_messages.py keeps
flag names out of the core's error messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nnet.errors import NnetError

__all__ = ["flag_hints"]


@contextmanager
def flag_hints(**hints: str) -> Iterator[None]:
    """Give an NnetError raised inside the block the hint named by its code, if there is one."""
    try:
        yield
    except NnetError as e:
        hint = hints.get(e.code)
        if hint is not None:
            e.hint = hint
        raise
