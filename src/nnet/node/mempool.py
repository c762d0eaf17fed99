"""The mempool: admitted, not yet committed transactions, with fee priority when it is full.

Admission runs the chain's own `process_tx` (signature included) against an Overlay of the
committed state that already holds every pending transaction's effects. So a sender's pending
transactions are counted exactly as the next block will count them: nonces must follow on
without gaps, and balance and stake are what is left after the pending ones. Nothing here
re-implements a chain rule.

After a block commits, included entries leave, and the overlay is rebuilt by re-applying the
remaining entries to the new state (no signature check: each was verified when admitted), in
order; any entry that no longer applies (its nonce was used by another tx, its funds are gone) is
stale and evicted. A sender's later entries stay if they still apply.

Priority. A transaction's fee rate is its fee per byte of its signed size (chain/fees.py). When
the pool is full, a newcomer that pays a higher rate than the cheapest *sender tail* (a sender's
highest-nonce pending transaction, so evicting it leaves no nonce gap) takes its place; among
tails of equal rate the newest goes first (it is also the cheapest to undo, see below). A
newcomer paying no more than that is refused `mempool_full`, with the rate to beat. A newcomer is
checked against the pool before anything is evicted for it, so an invalid transaction evicts
nothing. Evicting undoes the victim's effects by reverting the overlay to the victim's mark and
re-applying the entries admitted after it (cost: those entries only); an entry that depended on
the victim (it spent what the victim paid it) no longer applies and leaves with it. Should the
newcomer itself have depended on the victim, the pool is restored as it was and the newcomer
refused.

Blocks take candidates by fee rate, highest first, while keeping each sender's nonce order: a
merge of per-sender queues on the rate of each queue's head.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from nnet.chain.fees import compute_tx_size
from nnet.chain.state import Overlay, State
from nnet.chain.transition import BlockContext, process_tx
from nnet.encoding import format_amount
from nnet.errors import InvalidTx
from nnet.tx import Tx

__all__ = ["Mempool", "PendingTx"]

RATE_BITS = 64


@dataclass(frozen=True)
class PendingTx:
    tx: Tx
    hash: bytes
    hash_hex: str
    size: int = field(default=0, compare=False)
    # fee per byte, scaled to an integer: a heap key (Fractions made admission 2x slower);
    # where exactness decides (admitting into a full pool) `pays_more_than` cross-multiplies
    rate: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", compute_tx_size(self.tx))
        object.__setattr__(self, "rate", (self.tx.fee << RATE_BITS) // self.size)

    def pays_more_than(self, other: PendingTx) -> bool:
        """Whether this one's fee per byte is strictly higher than `other`'s, exactly."""
        return self.tx.fee * other.size > other.tx.fee * self.size


class Mempool:
    """Pending transactions over one committed State."""

    def __init__(self, base: State, *, max_size: int = 100_000) -> None:
        self.base = base
        self.max_size = max_size
        self.entries: dict[str, PendingTx] = {}  # admission order
        self.overlay = Overlay(base)
        self._marks: dict[str, int] = {}  # overlay journal position before each entry applied
        self._seq: dict[str, int] = {}  # admission counter, for ties (newest evicted first)
        self._next_seq = 0
        self._by_sender: dict[str, list[str]] = {}  # each sender's entries in nonce order
        self._tails: list[tuple[int, int, str]] = []  # heap (rate, -seq, hash); lazy

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, hash_hex: str) -> PendingTx | None:
        return self.entries.get(hash_hex)

    # ---- admission ------------------------------------------------------------------------------
    def admit(self, ptx: PendingTx, ctx: BlockContext) -> list[str]:
        """Check `ptx` against committed state plus pending txs and keep it, or raise InvalidTx.

        Returns the hashes evicted to make room (empty unless the pool was full)."""
        if ptx.hash_hex in self.entries:
            raise InvalidTx(f"transaction {ptx.hash_hex} is already pending", code="duplicate")
        victim = None
        if len(self.entries) >= self.max_size:
            victim = self._cheapest_tail(exclude=ptx.tx.sender)
            if victim is None or not ptx.pays_more_than(victim):
                raise self._full(ptx, victim)
        mark = self.overlay.mark()
        process_tx(self.overlay, ptx.tx, ptx.hash, ctx, verify=True)  # raises: nothing changed
        if victim is None:
            self._add(ptx, mark)
            return []
        self.overlay.revert(mark)  # valid on top of the pool: now make room and apply it again
        return self._replace(victim, ptx, ctx)

    def _full(self, ptx: PendingTx, cheapest: PendingTx | None) -> InvalidTx:
        if cheapest is None:
            hint = "retry after the next block"
        else:
            # the least fee that beats the cheapest tail's rate at this transaction's size
            beat = cheapest.tx.fee * ptx.size // cheapest.size + 1
            hint = (
                f"pay more than {format_amount(cheapest.tx.fee)} NNET per {cheapest.size} bytes "
                f"(a fee of {format_amount(beat)} NNET for this one), or retry after the next block"
            )
        return InvalidTx(
            f"the mempool is full ({self.max_size} transactions) and this one pays no more per "
            "byte than the cheapest pending one",
            code="mempool_full",
            hint=hint,
        )

    def _replace(self, victim: PendingTx, ptx: PendingTx, ctx: BlockContext) -> list[str]:
        """Evict `victim` (and whatever depended on it), then admit `ptx`; all or nothing."""
        order = list(self.entries)
        start = order.index(victim.hash_hex)
        later = [self.entries[h] for h in order[start + 1 :]]
        victim_mark = self._marks[victim.hash_hex]
        self.overlay.revert(victim_mark)
        marks: dict[str, int] = {}
        stale: list[str] = []
        for entry in later:
            m = self.overlay.mark()
            try:
                process_tx(self.overlay, entry.tx, entry.hash, ctx, verify=False)
                marks[entry.hash_hex] = m
            except InvalidTx:
                stale.append(entry.hash_hex)
        new_mark = self.overlay.mark()
        try:
            process_tx(self.overlay, ptx.tx, ptx.hash, ctx, verify=False)  # verified above
        except InvalidTx:
            # it depended on the victim: put the pool back exactly as it was (same base, same
            # order, so every entry applies again) and refuse the newcomer
            self.overlay.revert(victim_mark)
            for entry in [victim, *later]:
                process_tx(self.overlay, entry.tx, entry.hash, ctx, verify=False)
            raise self._full(ptx, victim) from None
        evicted = [victim.hash_hex, *stale]
        for h in evicted:
            self._remove(h)
        self._marks.update(marks)
        self._add(ptx, new_mark)
        return evicted

    def _add(self, ptx: PendingTx, mark: int) -> None:
        h = ptx.hash_hex
        self.entries[h] = ptx
        self._marks[h] = mark
        self._seq[h] = self._next_seq
        self._next_seq += 1
        self._by_sender.setdefault(ptx.tx.sender, []).append(h)
        heapq.heappush(self._tails, (ptx.rate, -self._seq[h], h))

    def _remove(self, h: str) -> None:
        ptx = self.entries.pop(h)
        del self._marks[h], self._seq[h]
        queue = self._by_sender[ptx.tx.sender]
        was_tail = queue[-1] == h
        queue.remove(h)
        if not queue:
            del self._by_sender[ptx.tx.sender]
        elif was_tail:  # the sender's previous entry is its tail again
            t = queue[-1]
            heapq.heappush(self._tails, (self.entries[t].rate, -self._seq[t], t))

    def _is_tail(self, h: str) -> bool:
        ptx = self.entries.get(h)
        return ptx is not None and self._by_sender[ptx.tx.sender][-1] == h

    def _cheapest_tail(self, *, exclude: str) -> PendingTx | None:
        """The lowest-rate sender tail (newest first among equals), not of `exclude`."""
        heap = self._tails
        skipped: list[tuple[int, int, str]] = []
        found = None
        while heap:
            _, neg_seq, h = heap[0]
            if h not in self.entries or self._seq[h] != -neg_seq:
                heapq.heappop(heap)  # gone
                continue
            if not self._is_tail(h):
                # no longer a tail (a later nonce arrived); it becomes one again, and is pushed
                # again, if that later entry leaves
                heapq.heappop(heap)
                continue
            if self.entries[h].tx.sender == exclude:
                skipped.append(heapq.heappop(heap))
                continue
            found = self.entries[h]
            break
        for item in skipped:
            heapq.heappush(heap, item)
        return found

    # ---- blocks ---------------------------------------------------------------------------------
    def candidates(self) -> Iterator[tuple[Tx, bytes]]:
        """Pending transactions by fee rate, highest first, each sender's in nonce order (ties:
        admission order)."""
        queues = {s: list(hs) for s, hs in self._by_sender.items()}
        entries = dict(self.entries)
        heads: list[tuple[int, int, str, int]] = []
        for sender, hs in queues.items():
            first = entries[hs[0]]
            heads.append((-first.rate, self._seq[hs[0]], sender, 0))
        heapq.heapify(heads)
        seq = dict(self._seq)
        while heads:
            _, _, sender, i = heapq.heappop(heads)
            ptx = entries[queues[sender][i]]
            yield ptx.tx, ptx.hash
            if i + 1 < len(queues[sender]):
                nxt = queues[sender][i + 1]
                heapq.heappush(heads, (-entries[nxt].rate, seq[nxt], sender, i + 1))

    def after_block(self, included: list[bytes], ctx: BlockContext) -> list[str]:
        """Drop included entries and re-apply the rest to the new state; return evicted hashes."""
        for h in included:
            self.entries.pop("0x" + h.hex(), None)
        remaining = list(self.entries.values())
        self.overlay = Overlay(self.base)
        self.entries = {}
        self._marks, self._seq, self._by_sender, self._tails = {}, {}, {}, []
        evicted: list[str] = []
        for ptx in remaining:
            mark = self.overlay.mark()
            try:
                process_tx(self.overlay, ptx.tx, ptx.hash, ctx, verify=False)
            except InvalidTx:
                evicted.append(ptx.hash_hex)
                continue
            self._add(ptx, mark)
        return evicted
