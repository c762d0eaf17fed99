"""Replica mode (`nnet daemon --peer URL`): follow the sequencer, re-execute, refuse divergence.

A replica holds no sequencer key. It pulls blocks with GET /blocks?from=&limit=, applies each
through `Node.apply_block` (the chain's `process_block`: header signature, tx_root, every tx's
signature and rules, and the state_root), and stops following at the first block that does not
check out, keeping its last good state and reporting why. POST /txs is forwarded to the peer.
Reads are served from the replica's own, re-executed state, except an account's `next_nonce`,
which also asks the sequencer (its mempool holds the transactions this replica forwarded), but
waits at most NONCE_HINT_TIMEOUT_S for it: a frozen sequencer must not freeze the replica's reads.

Catching up runs on the event loop that serves the replica's own API, so it hands the loop on
after every block it applies, and follows each page's `next` at once (a page is cut by size, not
only by SYNC_BATCH), resting `interval_s` only once the peer has nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from nnet.chain.block import is_signed_by, parse_block
from nnet.errors import MalformedInput, NnetError, NodeUnreachable
from nnet.node.core import Node

log = logging.getLogger("nnet.sync")

__all__ = ["Replica"]

SYNC_BATCH = 200  # blocks asked for per page (the peer may send fewer: its pages are bounded)
NONCE_HINT_TIMEOUT_S = 1.0  # the most an account read waits for the peer's next nonce


class Replica:
    def __init__(
        self, node: Node, peers: list[str], *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.node = node
        self.peers = [p.rstrip("/") for p in peers]
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self.more = False  # the peer's last page said more blocks follow

    @property
    def halted(self) -> str | None:
        return self.node.sync_error

    async def close(self) -> None:
        await self.client.aclose()

    async def forward(self, body: bytes, content_type: str) -> tuple[int, Any]:
        """POST /txs to the first peer that answers; its status and JSON come back unchanged."""
        for peer in self.peers:
            try:
                resp = await self.client.post(
                    f"{peer}/txs", content=body, headers={"content-type": content_type}
                )
            except httpx.TransportError:
                continue
            try:
                return resp.status_code, resp.json()
            except ValueError:
                continue
        raise NodeUnreachable(f"no peer accepted the transactions ({', '.join(self.peers)})")

    async def peer_next_nonce(self, address: str) -> int | None:
        """The next nonce the first reachable peer expects from `address` (its mempool counts);
        None when no peer answers within NONCE_HINT_TIMEOUT_S in all (the caller keeps its own)."""
        try:
            async with asyncio.timeout(NONCE_HINT_TIMEOUT_S):
                for peer in self.peers:
                    try:
                        resp = await self.client.get(
                            f"{peer}/accounts/{address}", timeout=NONCE_HINT_TIMEOUT_S
                        )
                        value = resp.json().get("next_nonce") if resp.status_code == 200 else None
                    except (httpx.TransportError, ValueError, AttributeError):
                        continue
                    if type(value) is int:
                        return value
        except TimeoutError:
            pass
        return None

    async def sync_once(self) -> int:
        """Apply one page of the blocks the first reachable peer has beyond our head, handing the
        event loop on after each; how many were applied (`more`: whether the page had a `next`)."""
        self.more = False
        for peer in self.peers:
            try:
                resp = await self.client.get(
                    f"{peer}/blocks",
                    params={"from": self.node.head.height + 1, "limit": SYNC_BATCH},
                )
                data = resp.json()
            except (httpx.TransportError, ValueError):
                continue
            blocks = data.get("blocks") if isinstance(data, dict) else None
            if not isinstance(blocks, list):
                raise MalformedInput(f"{peer}/blocks did not return a block list")
            for raw in blocks:
                block = parse_block(raw)
                if block.header.prev_hash != self.node.head.hash_hex:
                    await self._check_equivocation(peer, block.header.height - 1)
                self.node.apply_block(block)
                await asyncio.sleep(0)  # serve our own clients between blocks
            # a peer from before paged answers has no `next`: a full batch means more may follow
            more = data.get("next") is not None if "next" in data else len(blocks) >= SYNC_BATCH
            self.more = more and len(blocks) > 0
            return len(blocks)
        return 0

    async def _check_equivocation(self, peer: str, height: int) -> None:
        """The peer's chain does not extend our head: if the sequencer signed a different block
        at our head's height, keep both signed headers as evidence (ARCHITECTURE.md)."""
        try:
            resp = await self.client.get(f"{peer}/blocks/{height}")
            theirs = parse_block(resp.json()).header
        except (httpx.TransportError, ValueError, NnetError):
            return
        ours = self.node.head
        if theirs.height != ours.height or theirs.hash_hex == ours.hash_hex:
            return
        if is_signed_by(theirs, self.node.sequencer):
            self.node.db.put_evidence(height, ours.to_dict(), theirs.to_dict())

    async def follow(self, interval_s: float) -> bool:
        """Sync until this node becomes the sequencer (True) or a block does not verify (False)."""
        while not self.node.is_sequencer:
            try:
                await self.sync_once()
            except Exception as e:  # a bad block or a bug: stop, and say why in /status
                self.node.sync_error = (
                    e.one_line() if isinstance(e, NnetError) else f"{type(e).__name__}: {e}"
                )
                log.error("replica stopped following: %s", self.halted)
                return False
            if not self.more:
                await asyncio.sleep(interval_s)
        return True
