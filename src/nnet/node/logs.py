"""The daemon's logs: the `nnet` logger hierarchy on stderr, as text or JSON lines.

Loggers: nnet.daemon (start, stop, role), nnet.block (one line per block produced or applied),
nnet.http (connection limits, refusal bursts, errors), nnet.sync (peers, replica halts).
`configure_logging` is called once per process by `nnet daemon`; daemons started in-process
(tests) log through whatever the host process configured.

Refused transactions are not logged one by one (a flood would drown the log): `RefusalLog`
counts them by code and `flush` writes one line per burst, e.g.
`refused 1200 transactions in 5.0 s: bad_nonce=1000 low_fee=200`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from typing import Any

__all__ = ["JsonFormatter", "RefusalLog", "configure_logging"]

LEVELS = ("debug", "info", "warning", "error")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601, UTC), level, logger, msg, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info", *, json_lines: bool = False) -> None:
    """Send the nnet and uvicorn loggers to stderr at `level`, replacing earlier handlers."""
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s",
                datefmt="%Y-%m-%dT%H:%M:%S",
            )
        )
    for name in ("nnet", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level.upper() if name == "nnet" else max(logging.WARNING, _num(level)))


def _num(level: str) -> int:
    return int(logging.getLevelName(level.upper()))


class RefusalLog:
    """Counts refused transactions by code; `flush` logs one line for all since the last flush."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("nnet.http")
        self.counts: Counter[str] = Counter()
        self.since = time.monotonic()

    def record(self, code: str) -> None:
        if not self.counts:
            self.since = time.monotonic()
        self.counts[code] += 1

    def flush(self) -> None:
        if not self.counts:
            return
        total = sum(self.counts.values())
        seconds = time.monotonic() - self.since
        by_code = " ".join(f"{code}={n}" for code, n in self.counts.most_common())
        self.logger.info(
            "refused %d transactions in %.1f s: %s",
            total,
            seconds,
            by_code,
            extra={"refused": total, "by_code": dict(self.counts)},
        )
        self.counts.clear()
