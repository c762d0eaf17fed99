"""The chain's objects in and out of the chain database.

store/chaindb.py keeps plain rows (JSON text, strings, integers) and knows nothing of `chain/`;
this module is where a genesis, a Header or a BlockResult becomes those rows, inside one
`atomic_batch`, and where stored rows become a Header or a state again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnet.chain.block import BlockResult, Header
from nnet.chain.genesis import Genesis
from nnet.chain.state import decode_value
from nnet.encoding import to_json_line
from nnet.store.chaindb import ChainDB

__all__ = ["load_header", "load_state", "store_block", "store_genesis"]


def store_genesis(
    db: ChainDB, genesis: Genesis, header: Header, writes: Sequence[tuple[str, str | None]]
) -> None:
    """Store the genesis block (height 0) and the genesis state, atomically."""
    with db.atomic_batch() as batch:
        batch.put_meta(
            [
                ("chain", header.chain),
                ("genesis", to_json_line(genesis.to_dict())),
                ("genesis_hash", header.hash_hex),
            ]
        )
        batch.put_block(0, header.hash_hex, to_json_line(header.to_dict()), [])
        batch.write_state(writes)


def store_block(db: ChainDB, result: BlockResult) -> None:
    """Persist a block with its txs, receipts and state writes in one batch; its transactions
    leave the mempool journal in the same batch."""
    block = result.block
    header = block.header
    hashes = ["0x" + th.hex() for th in block.tx_hashes]
    with db.atomic_batch() as batch:
        batch.put_block(
            header.height,
            header.hash_hex,
            to_json_line(header.to_dict()),
            [(hx, to_json_line(tx.to_dict())) for hx, tx in zip(hashes, block.txs, strict=True)],
        )
        batch.put_receipts(header.height, result.receipts)
        batch.write_state(result.writes)
        batch.journal_mempool(removed=hashes)


def load_header(db: ChainDB, height: int) -> Header | None:
    """The stored header of the block at `height`, if there is one."""
    fields = db.get_header_dict(height)
    return None if fields is None else Header(**fields)


def load_state(db: ChainDB) -> dict[str, Any]:
    """The whole state after the head block, decoded."""
    return {key: decode_value(text) for key, text in db.get_state().items()}
