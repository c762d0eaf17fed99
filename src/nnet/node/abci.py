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

import time

from nnet.chain.block import Block, BlockResult, build_network_block, process_block
from nnet.chain.commit import Certificate
from nnet.errors import NnetError
from nnet.node.core import Node, SubmitResult

__all__ = ["ChainApp"]

MAX_VERIFIED_BLOCKS = 64  # proposals whose signatures were checked, kept for finalize


class ChainApp:
    """The chain as consensus sees it (a CometBFT ABCI++ application would be this class)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._checked: dict[str, frozenset[bytes]] = {}  # block id -> tx hashes checked

    def check_tx(self, body: bytes, content_type: str = "") -> SubmitResult:
        return self.node.submit_body(body, content_type)

    def prepare_proposal(
        self, proposer: str, bls_secret: int, last_commit: Certificate | None
    ) -> Block:
        """The next block from the mempool (not applied: the state is rolled back)."""
        node = self.node
        result = build_network_block(
            node.state,
            node.head,
            node.mempool.candidates(),
            time_ms=int(time.time() * 1000),
            proposer=proposer,
            bls_secret=bls_secret,
            last_commit=last_commit,
        )
        node.state.rollback()
        block = result.block
        self._remember(block.header.hash_hex, frozenset(block.tx_hashes))
        return block

    def process_proposal(self, block: Block) -> str | None:
        """None if `block` is a valid next block over our head; otherwise why not."""
        node = self.node
        block_id = block.header.hash_hex
        if block_id in self._checked:
            return None
        pending = frozenset(h for h in block.tx_hashes if node.mempool.get("0x" + h.hex()))
        try:
            process_block(node.state, node.head, block, sequencer=node.sequencer, verified=pending)
        except NnetError as e:
            return e.one_line()
        finally:
            node.state.rollback()
        self._remember(block_id, frozenset(block.tx_hashes))
        return None

    def finalize_block(self, block: Block, commit: Certificate) -> BlockResult:
        """Execute the decided `block` and persist it with its certificate; the new head."""
        node = self.node
        verified = self._checked.get(block.header.hash_hex, frozenset())
        result = process_block(
            node.state, node.head, block, sequencer=node.sequencer, verified=verified
        )
        node.persist(result, commit=commit.to_dict())
        self._checked.clear()
        return result

    def _remember(self, block_id: str, hashes: frozenset[bytes]) -> None:
        if len(self._checked) >= MAX_VERIFIED_BLOCKS:
            self._checked.pop(next(iter(self._checked)))
        self._checked[block_id] = hashes
