"""Merkle commitments over checkpoint hashes, shaped as RFC 6962 (Certificate Transparency) trees.

Leaves and inner nodes are domain-separated (0x00 / 0x01 prefixes) so no leaf can pose as a node;
the tree over n leaves splits at the largest power of two below n, so every count has exactly one
tree and the count is bound into the root's shape. Hash: keccak256, as everywhere on the chain.
"""

from __future__ import annotations

from nnet.crypto import keccak256

__all__ = ["compute_merkle_path", "compute_merkle_root", "is_valid_merkle_path"]


def _leaf(h: bytes) -> bytes:
    return keccak256(b"\x00" + h)


def _node(left: bytes, right: bytes) -> bytes:
    return keccak256(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def compute_merkle_root(leaves: list[bytes]) -> bytes:
    """Root over the leaf hashes (at least one)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [_leaf(h) for h in leaves]
    return _root(level)


def _root(nodes: list[bytes]) -> bytes:
    if len(nodes) == 1:
        return nodes[0]
    k = _split(len(nodes))
    return _node(_root(nodes[:k]), _root(nodes[k:]))


def compute_merkle_path(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root (RFC 6962 audit path)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} out of range for {len(leaves)} leaves")
    return _path([_leaf(h) for h in leaves], index)


def _path(nodes: list[bytes], index: int) -> list[bytes]:
    if len(nodes) == 1:
        return []
    k = _split(len(nodes))
    if index < k:
        return [*_path(nodes[:k], index), _root(nodes[k:])]
    return [*_path(nodes[k:], index - k), _root(nodes[:k])]


def is_valid_merkle_path(
    leaf: bytes, index: int, count: int, path: list[bytes], root: bytes
) -> bool:
    """Whether `leaf` sits at `index` of a `count`-leaf tree with this root (RFC 9162 2.1.3.2)."""
    if not 0 <= index < count:
        return False
    fn, sn = index, count - 1
    r = _leaf(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
