"""Which segments a verifier replays: drawn from randomness fixed only after the commitment.

`compute_challenge(seed, n, q)` is a pure function so the chain can call it with a block hash and
every node gets the same indices; offline the verifier uses its own random seed and records it.
Sampling is without replacement, by keccak256 in counter mode with rejection (no modulo bias).
"""

from __future__ import annotations

import math

from nnet.crypto import keccak256

__all__ = ["compute_challenge", "get_detection_probability", "get_required_q"]

DEFAULT_DETECTION = 0.99  # target probability of catching a run ...
DEFAULT_FAKED_FRACTION = 0.10  # ... in which at least this fraction of segments is faked


def compute_challenge(seed: bytes, n_segments: int, q: int) -> list[int]:
    """Sorted distinct segment indices in [0, n_segments): min(q, n_segments) of them."""
    if n_segments < 0 or q < 0:
        raise ValueError("n_segments and q must be >= 0")
    want = min(q, n_segments)
    if want == n_segments:
        return list(range(n_segments))
    chosen: set[int] = set()
    limit = (1 << 256) - (1 << 256) % n_segments  # rejection bound: uniform over [0, n)
    counter = 0
    while len(chosen) < want:
        x = int.from_bytes(keccak256(seed + counter.to_bytes(8, "big")), "big")
        counter += 1
        if x < limit:
            chosen.add(x % n_segments)
    return sorted(chosen)


def get_required_q(detection: float, faked_fraction: float) -> int:
    """Smallest Q with 1 - (1 - f)^Q >= detection: e.g. 44 for 99 % at f = 10 %."""
    if not 0 < detection < 1 or not 0 < faked_fraction <= 1:
        raise ValueError("detection must be in (0, 1) and faked_fraction in (0, 1]")
    if faked_fraction == 1:
        return 1
    q = math.ceil(math.log1p(-detection) / math.log1p(-faked_fraction))
    # guard against rounding of the logs at the boundary
    while get_detection_probability(q - 1, faked_fraction) >= detection and q > 1:
        q -= 1
    return q


def get_detection_probability(q: int, faked_fraction: float) -> float:
    """P(at least one faked segment among q uniform draws) = 1 - (1 - f)^q."""
    return 1.0 - (1.0 - faked_fraction) ** q
