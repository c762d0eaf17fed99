"""The shape of a proof document, checked the same way by the chain (at `proof.submit`) and by
every verifier, so that no field a verifier relies on can be missing or of another type.

Torch-free and deterministic: the chain calls it while applying transactions.
"""

from __future__ import annotations

from typing import Any

from nnet.encoding import hex_to_bytes
from nnet.errors import MalformedInput
from nnet.store.cid import parse_cid

__all__ = ["PROOF_FIELDS", "check_proof_shape"]

PROOF_FIELDS = ("spec", "dataset", "init", "root", "checkpoints", "final", "env", "mode", "prover")
MODES = ("exact", "tolerance")
_SAFE_INT = 2**53


def check_proof_shape(proof: Any) -> None:
    """MalformedInput naming the first field of a proof document that is missing or ill-typed."""
    if not isinstance(proof, dict):
        raise MalformedInput("a proof must be a JSON object")
    missing = [f for f in PROOF_FIELDS if f not in proof]
    if missing:
        raise MalformedInput(f"proof lacks {', '.join(missing)}")
    for name in ("spec", "init", "root", "final"):
        hex_to_bytes(proof[name], f"proof.{name}", 32)
    parse_cid(proof["dataset"], "proof.dataset")
    count = proof["checkpoints"]
    if type(count) is not int or not 2 <= count <= 2**32:
        raise MalformedInput("proof.checkpoints must be an integer from 2 to 2^32")
    if not isinstance(proof["env"], str) or len(proof["env"]) > 200:
        raise MalformedInput("proof.env must be a string of at most 200 characters")
    if proof["mode"] not in MODES:
        raise MalformedInput(f"proof.mode must be one of {', '.join(MODES)}")
    job = proof.get("job")
    if job is not None and not (isinstance(job, str) and job.isascii() and job.isdigit()):
        raise MalformedInput("proof.job must be a job id written as decimal digits")
    _check_metrics(proof.get("metrics", {}))


def _check_metrics(metrics: Any) -> None:
    if not isinstance(metrics, dict) or len(metrics) > 32:
        raise MalformedInput("proof.metrics must be an object of at most 32 entries")
    for key, value in metrics.items():
        if key in ("heldout_correct", "heldout_n"):
            if type(value) is not int or not 0 <= value < _SAFE_INT:
                raise MalformedInput(f"proof.metrics.{key} must be a non-negative integer")
        elif isinstance(value, str):
            if len(value) > 64:
                raise MalformedInput(f"proof.metrics.{key} is longer than 64 characters")
        elif type(value) is not int or not -_SAFE_INT < value < _SAFE_INT:
            raise MalformedInput(f"proof.metrics.{key} must be a string or a safe integer")
