"""The shape of a proof document, checked the same way by the chain (at `proof.submit`) and by
every verifier, so that no field a verifier relies on can be missing or of another type.

Torch-free and deterministic: the chain calls it while applying transactions.
"""

from __future__ import annotations

from typing import Any

from nnet.cid import parse_cid
from nnet.crypto import normalize_address
from nnet.encoding import hex_to_bytes
from nnet.errors import MalformedInput
from nnet.proof.envclass import parse_env_class

__all__ = ["METRIC_KEYS", "PROOF_FIELDS", "check_proof_shape"]

PROOF_FIELDS = (
    "spec",
    "dataset",
    "init",
    "root",
    "checkpoints",
    "trace",
    "final",
    "env",
    "mode",
    "prover",
)
# `model`: the CID of the final weights file (RUN/model.safetensors) the prover uploaded, so the
# researcher can download what the proof's `final` hashes (`nnet job result`); older proofs lack it
OPTIONAL_FIELDS = ("kind", "v", "job", "labels", "metrics", "model", "sig")
MODES = ("exact", "tolerance")
# every metric a proof may claim; the verifier recomputes each one (proof/verifier.py)
METRIC_KEYS = ("heldout_accuracy", "heldout_correct", "heldout_loss", "heldout_n", "train_loss")
_SAFE_INT = 2**53


def check_proof_shape(proof: Any) -> None:
    """MalformedInput naming the first field of a proof document that is missing or ill-typed."""
    if not isinstance(proof, dict):
        raise MalformedInput("a proof must be a JSON object")
    missing = [f for f in PROOF_FIELDS if f not in proof]
    if missing:
        raise MalformedInput(f"proof lacks {', '.join(missing)}")
    extra = sorted(set(proof) - set(PROOF_FIELDS) - set(OPTIONAL_FIELDS))
    if extra:
        raise MalformedInput(f"proof has unknown fields: {', '.join(extra)}")
    for name in ("spec", "init", "root", "final"):
        hex_to_bytes(proof[name], f"proof.{name}", 32)
    parse_cid(proof["dataset"], "proof.dataset")
    parse_cid(proof["trace"], "proof.trace")
    if "labels" in proof:
        parse_cid(proof["labels"], "proof.labels")
    if "model" in proof:
        parse_cid(proof["model"], "proof.model")
    count = proof["checkpoints"]
    if type(count) is not int or not 2 <= count <= 2**32:
        raise MalformedInput("proof.checkpoints must be an integer from 2 to 2^32")
    parse_env_class(proof["env"])
    if proof["mode"] not in MODES:
        raise MalformedInput(f"proof.mode must be one of {', '.join(MODES)}")
    if "job" in proof:
        job = proof["job"]
        if not (isinstance(job, str) and job.isascii() and job.isdigit() and len(job) <= 19):
            raise MalformedInput("proof.job must be a job id written as decimal digits")
    normalize_address(proof["prover"], "proof.prover")
    _check_metrics(proof.get("metrics", {}))


def _check_metrics(metrics: Any) -> None:
    if not isinstance(metrics, dict):
        raise MalformedInput("proof.metrics must be an object")
    unknown = sorted(set(metrics) - set(METRIC_KEYS))
    if unknown:
        raise MalformedInput(
            f"proof.metrics.{unknown[0]} is not a metric nnet recomputes "
            f"(known: {', '.join(METRIC_KEYS)})"
        )
    for key, value in metrics.items():
        if key in ("heldout_correct", "heldout_n"):
            if type(value) is not int or not 0 <= value < _SAFE_INT:
                raise MalformedInput(f"proof.metrics.{key} must be a non-negative integer")
        elif isinstance(value, str):
            if len(value) > 64:
                raise MalformedInput(f"proof.metrics.{key} is longer than 64 characters")
        elif type(value) is not int or not -_SAFE_INT < value < _SAFE_INT:
            raise MalformedInput(f"proof.metrics.{key} must be a string or a safe integer")
