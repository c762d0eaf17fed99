"""Merkle commitments: every leaf opens against the root, nothing else does."""

from __future__ import annotations

import hashlib

import pytest

from nnet.proof.merkle import compute_merkle_path, compute_merkle_root, is_valid_merkle_path


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(bytes([i, n])).digest() for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 33])
def test_every_leaf_opens_and_tampering_fails(n: int) -> None:
    ls = leaves(n)
    root = compute_merkle_root(ls)
    for i in range(n):
        path = compute_merkle_path(ls, i)
        assert is_valid_merkle_path(ls[i], i, n, path, root)
        assert not is_valid_merkle_path(b"\x00" * 32, i, n, path, root)
        if n > 1:
            assert not is_valid_merkle_path(ls[i], (i + 1) % n, n, path, root)
            assert not is_valid_merkle_path(ls[i], i, n, path[:-1], root)


def test_root_binds_order_and_count() -> None:
    ls = leaves(4)
    assert compute_merkle_root(ls) != compute_merkle_root([ls[1], ls[0], *ls[2:]])
    assert compute_merkle_root(ls) != compute_merkle_root(ls[:3])
    # a leaf cannot pose as an inner node (domain separation)
    assert compute_merkle_root(ls[:2]) != compute_merkle_root([compute_merkle_root(ls[:2])])
    with pytest.raises(ValueError):
        compute_merkle_root([])
