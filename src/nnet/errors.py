"""The one error tree of nnet; every error knows its exit code (CLI.md) and a stable code string.

    NnetError                  exit 1   the operation ran and said no
    ├── Rejected               exit 1   a check failed: bad signature, verification, policy
    │   ├── InvalidTx          exit 1   a transaction the chain refuses (carries a reason code)
    │   ├── VerificationFailed exit 1   a proof or signature that does not check out
    │   ├── WrongPassword      exit 1   a keystore that the password does not open
    │   ├── PermitRequired     exit 1   an upload with no (or an unverifiable) permit: HTTP 401
    │   └── PermitRefused      exit 1   a verified permit the node refuses (expired, unfunded): 403
    ├── StorageFull            exit 1   the node has no room: its blob quota or its disk (507)
    ├── TimedOut               exit 1   a wait gave up: what it waited for did not happen in time
    ├── UsageError             exit 2   bad flag, unreadable file, malformed input
    │   ├── MalformedInput     exit 2   JSON/NDJSON/TOML that does not parse or fit its schema
    │   ├── NotFound           exit 2   a named thing (key, file, config key) that does not exist
    │   └── TooLarge           exit 2   more bytes than a limit allows (HTTP 413)
    └── NodeUnreachable        exit 3   the daemon cannot be reached

The core raises these; `nnet.cli.main` turns them into one line on stderr and the exit code, and the
daemon turns them into a 4xx with `{"error", "code"}`. Nothing here imports a CLI or web library.
"""

from __future__ import annotations

__all__ = [
    "InvalidTx",
    "MalformedInput",
    "NnetError",
    "NodeUnreachable",
    "NotFound",
    "PermitRefused",
    "PermitRequired",
    "Rejected",
    "StorageFull",
    "TimedOut",
    "TooLarge",
    "UsageError",
    "VerificationFailed",
    "WrongPassword",
]


class NnetError(Exception):
    """Base of every error nnet raises on purpose."""

    exit_code = 1
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def one_line(self) -> str:
        """The message and, when there is one, what to do about it."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


class Rejected(NnetError):
    """The operation ran and said no."""

    code = "rejected"


class InvalidTx(Rejected):
    """A transaction the chain refuses. `code` names the rule (e.g. `bad_nonce`)."""

    code = "invalid_tx"


class VerificationFailed(Rejected):
    """A signature, proof or checkpoint that does not check out."""

    code = "verification_failed"


class WrongPassword(Rejected):
    """A keystore that the given password does not open."""

    code = "wrong_password"


class PermitRequired(Rejected):
    """An upload to the blob store without a permit, or with one whose signature does not check
    out (code `permit_required` or `bad_permit`)."""

    code = "permit_required"
    http_status = 401


class PermitRefused(Rejected):
    """A signed upload permit the node will not honour; `code` says why (`permit_expired`,
    `permit_too_long`, `wrong_chain`, `unfunded`, `permit_mismatch`)."""

    code = "permit_refused"
    http_status = 403


class StorageFull(NnetError):
    """The node has no room for a blob: its store quota (code `quota`) or its disk (`disk_full`)."""

    code = "storage_full"
    http_status = 507


class TimedOut(NnetError):
    """A wait that gave up: a transaction not committed, a job not drawn, a daemon not listening
    (nnet.poll.poll_until raises it; every wait of nnet ends in this one error and exit code)."""

    code = "timeout"


class UsageError(NnetError):
    """The caller asked for something malformed or impossible."""

    exit_code = 2
    code = "usage"


class MalformedInput(UsageError):
    """Input that does not parse or does not fit its schema."""

    code = "malformed"


class NotFound(UsageError):
    """A named thing that does not exist."""

    code = "not_found"
    http_status = 404


class TooLarge(UsageError):
    """More bytes than a limit allows (a blob over the per-blob limit or over its permit)."""

    code = "too_large"
    http_status = 413


class NodeUnreachable(NnetError):
    """The daemon cannot be reached (connection refused, timeout, DNS)."""

    exit_code = 3
    code = "unreachable"
    http_status = 503
