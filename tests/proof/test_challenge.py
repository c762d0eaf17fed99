"""Challenges: a pure function of the seed, uniform, distinct, and sized for the target."""

from __future__ import annotations

from collections import Counter

from nnet.proof.challenge import compute_challenge, get_detection_probability, get_required_q


def test_deterministic_distinct_sorted() -> None:
    a = compute_challenge(b"block-hash", 2300, 44)
    assert a == compute_challenge(b"block-hash", 2300, 44)
    assert a != compute_challenge(b"other-hash", 2300, 44)
    assert len(a) == 44 and len(set(a)) == 44 and a == sorted(a)
    assert all(0 <= i < 2300 for i in a)
    assert compute_challenge(b"s", 5, 44) == [0, 1, 2, 3, 4]
    assert compute_challenge(b"s", 0, 3) == []


def test_roughly_uniform() -> None:
    counts: Counter[int] = Counter()
    for s in range(400):
        counts.update(compute_challenge(s.to_bytes(4, "big"), 10, 3))
    # 1200 draws over 10 segments: each about 120
    assert all(80 < counts[i] < 160 for i in range(10)), counts


def test_required_q() -> None:
    assert get_required_q(0.99, 0.10) == 44
    assert get_detection_probability(44, 0.10) >= 0.99 > get_detection_probability(43, 0.10)
    assert get_required_q(0.5, 1.0) == 1
