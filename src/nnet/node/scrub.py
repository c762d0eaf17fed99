"""Forgetting secrets the daemon no longer needs once it runs.

`nnet daemon` may be started with NNET_PASSWORD in its environment (to unlock the sequencer key).
Once the key is unlocked the password is of no further use, and an environment is readable by
every process of the same user (/proc/PID/environ) and inherited by every child.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

__all__ = ["forget_password"]


def forget_password() -> None:
    """Erase NNET_PASSWORD from this process: from os.environ (so children never inherit it) and
    from the C environment block, which /proc/PID/environ shows to the same user and which
    unsetenv alone leaves in place (Linux, glibc/musl; elsewhere only os.environ)."""
    if "NNET_PASSWORD" not in os.environ:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            environ = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
            prefix = b"NNET_PASSWORD="
            i = 0
            while environ[i]:
                addr = environ[i]
                entry = ctypes.string_at(addr)
                if entry.startswith(prefix):
                    ctypes.memset(addr + len(prefix), 0, len(entry) - len(prefix))
                i += 1
    del os.environ["NNET_PASSWORD"]
