"""The mempool: admitted, not yet committed transactions, in admission order.

Admission runs the chain's own `process_tx` (signature included) against an Overlay of the
committed state that already holds every pending transaction's effects. So a sender's pending
transactions are counted exactly as the next block will count them: nonces must follow on
without gaps, and balance and stake are what is left after the pending ones. Nothing here
re-implements a chain rule.

After a block commits, included entries leave, and the overlay is rebuilt by re-applying the
remaining entries to the new state (no signature check: each was verified when admitted), in
order; any entry that no longer applies (its nonce was used by another tx, its funds are gone) is
stale and evicted. A sender's later entries stay if they still apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nnet.chain.state import Overlay, State
from nnet.chain.transition import BlockContext, process_tx
from nnet.errors import InvalidTx
from nnet.tx import Tx

__all__ = ["Mempool", "PendingTx"]


@dataclass(frozen=True)
class PendingTx:
    tx: Tx
    hash: bytes
    hash_hex: str


class Mempool:
    """Pending transactions over one committed State."""

    def __init__(self, base: State, *, max_size: int = 100_000) -> None:
        self.base = base
        self.max_size = max_size
        self.entries: dict[str, PendingTx] = {}
        self.overlay = Overlay(base)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, hash_hex: str) -> PendingTx | None:
        return self.entries.get(hash_hex)

    def admit(self, ptx: PendingTx, ctx: BlockContext) -> None:
        """Check `ptx` against committed state plus pending txs; keep it, or raise InvalidTx."""
        if ptx.hash_hex in self.entries:
            raise InvalidTx(f"transaction {ptx.hash_hex} is already pending", code="duplicate")
        if len(self.entries) >= self.max_size:
            raise InvalidTx(
                f"the mempool is full ({self.max_size} transactions)",
                code="mempool_full",
                hint="retry after the next block",
            )
        process_tx(self.overlay, ptx.tx, ptx.hash, ctx, verify=True)
        self.entries[ptx.hash_hex] = ptx

    def candidates(self) -> Iterator[tuple[Tx, bytes]]:
        """Pending transactions in admission order (which keeps each sender's nonce order)."""
        for ptx in list(self.entries.values()):
            yield ptx.tx, ptx.hash

    def after_block(self, included: list[bytes], ctx: BlockContext) -> list[str]:
        """Drop included entries and re-apply the rest to the new state; return evicted hashes."""
        for h in included:
            self.entries.pop("0x" + h.hex(), None)
        self.overlay = Overlay(self.base)
        evicted: list[str] = []
        for hash_hex, ptx in self.entries.items():
            try:
                process_tx(self.overlay, ptx.tx, ptx.hash, ctx, verify=False)
            except InvalidTx:
                evicted.append(hash_hex)
        for hash_hex in evicted:
            del self.entries[hash_hex]
        return evicted
