"""The chain state: a flat key-value map with a journal, and the write-set hash chain.

Keys are strings `"<kind>/<id>"` built only by chain/keys.py, whose KEYSPACE table is the state
layout; values are JSON values made of dicts, lists, strings and integers (a record's value is its
`to_state()`, chain/types.py), and are treated as immutable: a mutator builds a new value and
`put`s it. `None` means absent; putting `None` deletes the key.

Every `put` is journaled, so a failing transaction can be reverted to a mark (a transaction is
all-or-nothing) and a block's write set is exactly the keys whose value differs from the block's
start. The state root (PROTOCOL.md) chains those write sets:

    root_n = keccak256(root_{n-1} ‖ W_n)
    W_n    = keccak256(concat over the sorted keys k of  u32(len k) ‖ k ‖ u32(len v) ‖ v)

where k is the key in UTF-8 and v is `encode_value(value)`: compact JSON with sorted keys and
integers in decimal (`null` for a deleted key). Length prefixes make the encoding unambiguous.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from nnet.crypto import keccak256

__all__ = [
    "ZERO_ROOT",
    "Overlay",
    "State",
    "compute_state_root",
    "compute_write_set_hash",
    "decode_value",
    "encode_value",
]

ZERO_ROOT = b"\x00" * 32


def encode_value(value: Any) -> str:
    """Canonical text of a state value (also how the store keeps it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_value(text: str) -> Any:
    return json.loads(text)


class State:
    """The committed state of a node, held in memory, with a journal of writes since `commit`."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self._journal: list[tuple[str, Any]] = []

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        data = self.data
        self._journal.append((key, data.get(key)))
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """Sorted keys starting with `prefix` (scans everything: for reads, not for consensus)."""
        return sorted(k for k in self.data if k.startswith(prefix))

    def mark(self) -> int:
        """A point to `revert` to."""
        return len(self._journal)

    def revert(self, mark: int) -> None:
        """Undo every write made after `mark`, newest first."""
        journal = self._journal
        data = self.data
        while len(journal) > mark:
            key, old = journal.pop()
            if old is None:
                data.pop(key, None)
            else:
                data[key] = old

    def changes(self) -> dict[str, Any]:
        """Keys whose value differs from the last commit, with their new value (None: deleted)."""
        first: dict[str, Any] = {}
        for key, old in self._journal:
            if key not in first:
                first[key] = old
        data = self.data
        return {k: data.get(k) for k, old in first.items() if data.get(k) != old}

    def commit(self) -> None:
        """Forget the journal: what is in memory is now the committed state."""
        self._journal.clear()

    def rollback(self) -> None:
        self.revert(0)


class Overlay(State):
    """A speculative layer over a State: reads fall through, writes stay here (mempool view)."""

    def __init__(self, base: State) -> None:
        super().__init__()
        self.base = base
        self._deleted: set[str] = set()

    def get(self, key: str) -> Any:
        data = self.data
        if key in data:
            return data[key]
        if key in self._deleted:
            return None
        return self.base.get(key)

    def put(self, key: str, value: Any) -> None:
        self._journal.append((key, self.get(key)))
        self._set(key, value)

    def _set(self, key: str, value: Any) -> None:
        if value is None:
            self.data.pop(key, None)
            self._deleted.add(key)
        else:
            self.data[key] = value
            self._deleted.discard(key)

    def revert(self, mark: int) -> None:
        journal = self._journal
        while len(journal) > mark:
            key, old = journal.pop()
            self._set(key, old)

    def changes(self) -> dict[str, Any]:
        raise TypeError("an overlay is never committed")


def compute_write_set_hash(changes: Mapping[str, Any] | Iterable[tuple[str, str]]) -> bytes:
    """keccak256 of the length-prefixed, key-sorted write set.

    Takes {key: value} or already-encoded (key, encoded value) pairs.
    """
    if isinstance(changes, Mapping):
        pairs = [(k, encode_value(v)) for k, v in changes.items()]
    else:
        pairs = list(changes)
    pairs.sort()
    parts: list[bytes] = []
    pack = struct.Struct(">I").pack
    for key, text in pairs:
        kb = key.encode("utf-8")
        vb = text.encode("utf-8")
        parts.append(pack(len(kb)))
        parts.append(kb)
        parts.append(pack(len(vb)))
        parts.append(vb)
    return keccak256(b"".join(parts))


def compute_state_root(prev_root: bytes, write_set_hash: bytes) -> bytes:
    """root_n = keccak256(root_{n-1} ‖ write_set_hash_n)."""
    return keccak256(prev_root + write_set_hash)
