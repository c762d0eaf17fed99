"""Why faking training does not pay: how many segments to challenge, and how much collateral.

A proof commits N segments (checkpoint to checkpoint) in a Merkle tree; only afterwards the chain
draws Q distinct segments uniformly without replacement (proof/challenge.py) and verifiers replay
them. A prover that faked m of the N segments is caught iff a challenged segment is faked:

    P(n, q, m) = 1 - C(N - m, Q) / C(N, Q)              (hypergeometric; Q >= N: 1 when m > 0)

Skipped compute shows up as faked segments: the verifier checks every committed leaf for copies
and absorbing states, so a cheap continuation is not a valid segment (POL.md).

**Rule for Q.** The default asks for detection >= 99 % when 10 % of the segments are faked
(DEFAULT_DETECTION_PPM, DEFAULT_FAKED_PPM). `compute_required_q` returns the least Q that meets
it for the job's own N: Q = N for small jobs, 44 for large ones (the with-replacement bound
1 - 0.9^44 = 99.03 %; without replacement a few less suffice for moderate N).

**Rule for collateral.** When caught, the prover loses its collateral C and is not paid the fee F;
otherwise it gets F. The rule held here: for every m, the expected collateral lost covers the
share of the fee paid for work not done,

    P(n, q, m) * C >= (m / n) * F.

Since the first of the Q draws alone hits a faked segment with probability m / n, P >= m / n for
every Q >= 1, so (m / n) * F / P <= F, with equality at m = n (P = 1): the least C is exactly F,
whatever N and Q are. That is why `compute_required_collateral` is a closed form. The rule holds
even at Q = 1; what a large Q adds is that a cheater is nearly always caught rather than only
losing on average (a one-shot or risk-seeking cheater, collateral that a slash cannot exceed).

**The expected-value argument.** With f = m / n, P = P(n, q, m) >= f and compute cost `cost`:

    E[honest] = F - cost
    E[fake]   = (1 - P) * F - P * C - (1 - f) * cost
    E[fake] - E[honest] = f * cost - P * (F + C)

When cost <= F (an honest node takes the job), f * cost <= f * F <= P * C under the rule, so the
difference is at most -P * F < 0. When cost > F (nobody would do it honestly), faking against not
taking the job, with C >= F (the rule at m = n): E[fake] <= (1 - P) * F - P * F - (1 - f) * F
= (f - 2P) * F < 0. Both strict for F > 0. Any other gain paid only to accepted proofs (GPU
rewards for the verified work, reputation) adds to F in these formulas: for the rule to hold the
collateral must cover F plus that gain (docs/pol.md quantifies it). The model is risk-neutral,
with compute cost linear in the number of segments done.

Everything is integer or Fraction math, so every node gets the same Q and the same verdict; the
chain may call `compute_required_q` for N up to 2**20: about 0.05 ms at the default target, and
under 50 ms for any target up to 99.9999 % (bench/bench_detection.py times the default).
"""

from __future__ import annotations

from fractions import Fraction

__all__ = [
    "DEFAULT_DETECTION_PPM",
    "DEFAULT_FAKED_PPM",
    "PPM",
    "compute_detection",
    "compute_detection_bound",
    "compute_faked_segments",
    "compute_required_collateral",
    "compute_required_q",
    "is_cheating_unprofitable",
]

PPM = 1_000_000
DEFAULT_DETECTION_PPM = 990_000  # catch a run with probability >= 99 % ...
DEFAULT_FAKED_PPM = 100_000  # ... when at least 10 % of its segments are faked


def _check_int(value: int, name: str, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bound}, got {value}")


def _range_product(low: int, high: int) -> int:
    """low * (low + 1) * ... * (high - 1), as a balanced tree (fast for many big factors)."""
    if high - low <= 16:
        result = 1
        for k in range(low, high):
            result *= k
        return result
    mid = (low + high) // 2
    return _range_product(low, mid) * _range_product(mid, high)


def _falling(x: int, k: int) -> int:
    """x * (x - 1) * ... * (x - k + 1)."""
    return _range_product(x - k + 1, x + 1)


def _miss_ratio(n: int, q: int, m: int) -> tuple[int, int]:
    """(numerator, denominator) of C(n - m, q) / C(n, q): no challenged segment is faked.

    Equal to C(n - q, m) / C(n, m) (both are (n-m)!(n-q)! / (n!(n-m-q)!)), so the product runs
    over min(q, m) factors: cheap when either the challenge or the faked set is small.
    """
    if q > n - m:
        return 0, 1
    k, top = (q, n - m) if q <= m else (m, n - q)
    return _falling(top, k), _falling(n, k)


def compute_faked_segments(n: int, faked_ppm: int) -> int:
    """The fewest faked segments a run of n segments has when faked_ppm of it is faked:
    ceil(n * faked_ppm / 1e6), and at least 1 (faking nothing is not cheating)."""
    _check_int(n, "n", 1)
    _check_int(faked_ppm, "faked_ppm", 0, PPM)
    return max(1, -(-n * faked_ppm // PPM))


def compute_detection(n: int, q: int, m: int) -> Fraction:
    """Exact P(at least one of m faked segments among q distinct uniform draws from n).

    1 - C(n - m, q) / C(n, q); 1 when q >= n and m > 0; 0 when m = 0 or q = 0.
    Non-decreasing in m (C(n - m, q) shrinks as m grows) and in q (each extra draw can only add
    a hit), which the tests check.
    """
    _check_int(n, "n", 1)
    _check_int(q, "q", 0)
    _check_int(m, "m", 0, n)
    if m == 0 or q == 0:
        return Fraction(0)
    num, den = _miss_ratio(n, min(q, n), m)
    return Fraction(den - num, den)


def _is_detected(n: int, q: int, m: int, detection_ppm: int) -> bool:
    """compute_detection(n, q, m) >= detection_ppm / 1e6, by integer cross-multiplication."""
    num, den = _miss_ratio(n, q, m)
    return (den - num) * PPM >= detection_ppm * den


def compute_required_q(
    n: int, detection_ppm: int = DEFAULT_DETECTION_PPM, faked_ppm: int = DEFAULT_FAKED_PPM
) -> int:
    """The least Q in [1, n] such that every run with at least faked_ppm of its n segments faked
    (at least one segment) is caught with probability >= detection_ppm / 1e6.

    Detection is non-decreasing in m, so the fewest faked segments m0 = compute_faked_segments is
    the worst case and the only one checked. Detection is non-decreasing in Q, so the least Q is
    found by doubling Q until it suffices, then bisecting: O(log Q) exact evaluations, each a
    product of at most min(2 Q, m0) integers.
    """
    m0 = compute_faked_segments(n, faked_ppm)
    _check_int(detection_ppm, "detection_ppm", 0, PPM)
    if detection_ppm == 0:
        return 1
    if detection_ppm == PPM:
        return n - m0 + 1  # certainty: every challenge must leave fewer than m0 unchallenged
    low, high = 0, 1  # invariant: low does not suffice (Q = 0 detects nothing), high is tested
    while not _is_detected(n, high, m0, detection_ppm):  # Q = n always suffices (P = 1)
        low, high = high, min(2 * high, n)
    while high - low > 1:
        mid = (low + high) // 2
        if _is_detected(n, mid, m0, detection_ppm):
            high = mid
        else:
            low = mid
    return high


def compute_detection_bound(q: int, faked_ppm: int) -> Fraction:
    """1 - (1 - f)^q with f = faked_ppm / 1e6: detection when the q draws are independent (with
    replacement). A lower bound on compute_detection(n, q, m) whenever m / n >= f, since
    drawing without replacement can only find a faked segment sooner. For reference only."""
    _check_int(q, "q", 0)
    _check_int(faked_ppm, "faked_ppm", 0, PPM)
    return 1 - Fraction(PPM - faked_ppm, PPM) ** q


def compute_required_collateral(fee: int, n: int, q: int) -> int:
    """The least integer collateral C with compute_detection(n, q, m) * C >= (m / n) * fee for
    every m in 1..n: exactly the fee, for any n >= 1 and q >= 1 (module docstring: P >= m / n,
    with equality at m = n where P = 1)."""
    _check_int(fee, "fee", 0)
    _check_int(n, "n", 1)
    _check_int(q, "q", 1)
    return fee


def is_cheating_unprofitable(fee: int, collateral: int, n: int, q: int) -> bool:
    """True when, for every number m of faked segments out of n, the collateral expected to be
    lost, compute_detection(n, q, m) * collateral, covers the fee share (m / n) * fee of the work
    not done (and so, module docstring, faking loses against both honest work and idling)."""
    _check_int(collateral, "collateral", 0)
    return collateral >= compute_required_collateral(fee, n, q)
