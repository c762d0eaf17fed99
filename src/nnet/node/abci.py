"""The ABCI-shaped boundary between consensus and the chain (docs/network.md).

Consensus (node/consensus/driver.py) knows blocks only by id; the chain (`chain/`) knows nothing
of rounds or votes. Between them sit the five calls ABCI++ names, over one Node:

- `check_tx`: admit transactions to the mempool (POST /txs, gossip) - `Node.submit_body`;
- `prepare_proposal`: the block this validator proposes, built from its mempool;
- `process_proposal`: whether a proposed block is valid (re-executed, then forgotten);
- `finalize_block` + `commit`: execute a decided block, persist it with the certificate that
  made it final, and move the head (one call here: the database write is the commit).

Proposals are executed on the node's State and rolled back before the call returns, so nothing
of an undecided block is ever visible to the mempool, the API or the next proposal. Everything
runs on the daemon's one event-loop thread, so nothing interleaves with it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from nnet.chain.block import Block, BlockResult, build_network_block, process_block
from nnet.chain.commit import Certificate
from nnet.chain.state import decode_value
from nnet.errors import NnetError
from nnet.node.blob_fetch import nested_blobs, referenced_blobs
from nnet.node.core import Node, SubmitResult
from nnet.store.blobs import BlobStore
from nnet.tx import Tx

__all__ = ["ChainApp"]

MAX_EXECUTED_BLOCKS = 16  # executed proposals kept for finalize (a height has few)


class ChainApp:
    """The chain as consensus sees it (a CometBFT ABCI++ application would be this class)."""

    def __init__(self, node: Node, blob_store: BlobStore | None = None) -> None:
        self.node = node
        self.blob_store = blob_store
        # block id -> (the head it was executed over, its result): a decided block that was
        # executed as a proposal is committed from its write set, not executed again
        self._executed: dict[str, tuple[str, BlockResult]] = {}

    def check_tx(self, body: bytes, content_type: str = "") -> SubmitResult:
        return self.node.submit_body(body, content_type)

    def prepare_proposal(
        self,
        proposer: str,
        bls_secret: int,
        last_commit: Certificate | None,
        *,
        max_txs: int | None = None,
    ) -> Block:
        """The next block from the mempool, at most `max_txs` transactions (not applied: the
        state is rolled back)."""
        node = self.node
        candidates = self._with_blobs(node.mempool.candidates())
        if max_txs is not None:
            candidates = itertools.islice(candidates, max_txs)
        result = build_network_block(
            node.state,
            node.head,
            candidates,
            time_ms=int(time.time() * 1000),
            proposer=proposer,
            bls_secret=bls_secret,
            last_commit=last_commit,
        )
        node.state.rollback()
        block = result.block
        self._remember(block.header.hash_hex, result)
        return block

    def _with_blobs(self, candidates: Iterator[tuple[Tx, bytes]]) -> Iterator[tuple[Tx, bytes]]:
        """Candidates whose referenced blobs this node holds: every validator fetches them
        before it votes, so a transaction naming a blob nobody has would sink every block that
        carried it. It waits in the mempool until the blob is uploaded here."""
        store = self.blob_store
        for tx, h in candidates:
            if store is None or all(
                store.has(cid) for cid in [*referenced_blobs(tx), *nested_blobs(store, tx)]
            ):
                yield tx, h

    def process_proposal(self, block: Block) -> str | None:
        """None if `block` is a valid next block over our head; otherwise why not."""
        node = self.node
        block_id = block.header.hash_hex
        if block_id in self._executed and self._executed[block_id][0] == node.head.hash_hex:
            return None
        pending = frozenset(h for h in block.tx_hashes if node.mempool.get("0x" + h.hex()))
        try:
            result = process_block(
                node.state, node.head, block, sequencer=node.sequencer, verified=pending
            )
        except NnetError as e:
            return e.one_line()
        finally:
            node.state.rollback()
        self._remember(block_id, result)
        return None

    def finalize_block(self, block: Block, commit: Certificate) -> BlockResult:
        """Execute the decided `block` and persist it with its certificate; the new head."""
        node = self.node
        cached = self._executed.get(block.header.hash_hex)
        if cached is not None and cached[0] == node.head.hash_hex:
            result = cached[1]
            for key, text in result.writes:  # the same writes executing it again would make
                node.state.put(key, None if text is None else decode_value(text))
        else:
            result = process_block(node.state, node.head, block, sequencer=node.sequencer)
        node.finalize_block(result, commit.to_dict())
        self._executed.clear()
        return result

    def _remember(self, block_id: str, result: BlockResult) -> None:
        if len(self._executed) >= MAX_EXECUTED_BLOCKS:
            self._executed.pop(next(iter(self._executed)))
        self._executed[block_id] = (self.node.head.hash_hex, result)
