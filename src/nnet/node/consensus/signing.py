"""The signing record: a validator never signs two conflicting votes, even across a crash.

As CometBFT's `priv_validator_state.json`: before a vote leaves the node, the (height, round,
step, block id) it signs is written to disk and fsynced. A later request to sign at the same
(height, round, step) for another block is refused, as is anything below the last signed
position; the same vote again returns the same signature (BLS is deterministic), so a node that
crashed after signing and before sending can resend what it signed, and nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nnet import bls
from nnet.chain.commit import vote_message
from nnet.errors import NnetError

__all__ = ["DoubleSignRefused", "SigningRecord"]

STEP_ORDER = {"propose": 0, "prevote": 1, "precommit": 2}


class DoubleSignRefused(NnetError):
    code = "double_sign_refused"


@dataclass(frozen=True)
class _Last:
    height: int
    round: int
    step: str
    block_id: str  # hex, "" for nil

    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, STEP_ORDER[self.step])


class SigningRecord:
    """Signs votes with `secret` for `chain`, keeping the last signed position in `path`."""

    def __init__(self, path: Path, chain: str, secret: int) -> None:
        self.path, self.chain, self.secret = path, chain, secret
        self.last = self._load()

    def _load(self) -> _Last | None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return _Last(int(raw["height"]), int(raw["round"]), str(raw["step"]), str(raw["block"]))

    def _store(self, last: _Last) -> None:
        tmp = self.path.with_suffix(".tmp")
        data = {
            "height": last.height,
            "round": last.round,
            "step": last.step,
            "block": last.block_id,
        }
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.last = last

    def sign_vote(self, type_: str, height: int, round_: int, block_id: bytes | None) -> bytes:
        """The BLS signature of this vote, recorded on disk before it is returned."""
        want = _Last(height, round_, type_, block_id.hex() if block_id is not None else "")
        last = self.last
        if last is not None:
            if want.position() < last.position():
                raise DoubleSignRefused(
                    f"already signed at height {last.height} round {last.round} {last.step}; "
                    f"refusing {type_} at height {height} round {round_}"
                )
            if want.position() == last.position() and want.block_id != last.block_id:
                raise DoubleSignRefused(
                    f"already signed a {type_} at height {height} round {round_} for another block"
                )
        if last != want:
            self._store(want)
        return bls.sign(self.secret, vote_message(self.chain, type_, height, round_, block_id))
