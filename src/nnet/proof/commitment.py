"""The two signed documents of proof-of-learning: the prover's proof and the verifier's attestation.

A proof is a few hundred bytes whatever the model size: hashes, counts, metrics and a signature.
Both are built here from plain data (no torch), so `nnet prove` starts fast.
"""

from __future__ import annotations

from typing import Any

from nnet.crypto import keccak256
from nnet.encoding import canonical_json
from nnet.proof.document import sign_document
from nnet.proof.rundir import RunDir

__all__ = ["PROOF_VERSION", "make_attestation", "make_proof"]

PROOF_VERSION = 2


def make_proof(
    run: RunDir, secret: bytes, job: str | None = None, *, model: str | None = None
) -> dict[str, Any]:
    """The signed commitment over a finished run; `model`: the CID under which the run's final
    weights file was uploaded (services/market.py upload_model), for the researcher to fetch."""
    doc: dict[str, Any] = {"kind": "nnet.proof", "v": PROOF_VERSION}
    if job is not None:
        doc["job"] = job
    doc |= run.get_commitment()
    if model is not None:
        doc["model"] = model
    return sign_document(doc, secret, "prover")


def make_attestation(
    proof: dict[str, Any],
    *,
    reasons: list[str],
    challenge: dict[str, Any],
    report: dict[str, Any],
    secret: bytes,
    unavailable: bool = False,
) -> dict[str, Any]:
    """The verifier's signed verdict on one proof: accept when there are no reasons; reject; or
    unavailable when the prover's openings could not be fetched (withheld), which the chain
    counts against the prover as well."""
    verdict = "accept" if not reasons else "unavailable" if unavailable else "reject"
    doc: dict[str, Any] = {
        "kind": "nnet.attestation",
        "v": PROOF_VERSION,
        "proof": "0x" + keccak256(canonical_json(proof)).hex(),
        "verdict": verdict,
        "reasons": reasons,
        "challenge": challenge,
        **report,
    }
    if "job" in proof:
        doc["job"] = proof["job"]
    return sign_document(doc, secret, "verifier")
