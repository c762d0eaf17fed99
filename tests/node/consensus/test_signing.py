"""The signing record: no conflicting vote is ever signed, even by a process killed right after
it signed (the record is on disk before the signature exists)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nnet import bls
from nnet.chain.commit import vote_message
from nnet.node.consensus.signing import DoubleSignRefused, SigningRecord

SK = bls.derive_secret(b"\x07" * 32)
A, B = b"\xaa" * 32, b"\xbb" * 32


def test_conflicting_and_backward_votes_are_refused(tmp_path: Path) -> None:
    rec = SigningRecord(tmp_path / "signing.json", "nnet-devnet", SK)
    sig = rec.sign_vote("prevote", 5, 0, A)
    assert bls.verify(bls.sk_to_pk(SK), vote_message("nnet-devnet", "prevote", 5, 0, A), sig)
    assert rec.sign_vote("prevote", 5, 0, A) == sig  # the same vote again: resendable
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("prevote", 5, 0, B)
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("prevote", 5, 0, None)  # nil is a different vote too
    rec.sign_vote("precommit", 5, 0, A)
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("prevote", 5, 0, A)  # going back a step
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("precommit", 4, 3, A)  # going back a height
    rec.sign_vote("prevote", 5, 1, B)  # a later round may vote for anything


def test_a_process_killed_after_signing_cannot_sign_otherwise_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "signing.json"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from nnet import bls\n"
        "from nnet.node.consensus.signing import SigningRecord\n"
        "sk = bls.derive_secret(b'\\x07' * 32)\n"
        f"rec = SigningRecord(Path({str(path)!r}), 'nnet-devnet', sk)\n"
        "rec.sign_vote('precommit', 8, 2, b'\\xaa' * 32)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    rec = SigningRecord(path, "nnet-devnet", SK)
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("precommit", 8, 2, B)
    rec.sign_vote("precommit", 8, 2, A)  # what it signed before the kill, it may send again
