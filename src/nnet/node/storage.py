"""The chain's objects in and out of the chain database.

store/chaindb.py keeps plain rows (JSON text, strings, integers) and knows nothing of `chain/`;
this module is where a genesis, a Header or a BlockResult becomes those rows, inside one
`atomic_batch`, and where stored rows become a Header or a state again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nnet.chain.block import BlockResult, Header
from nnet.chain.genesis import Genesis
from nnet.chain.keys import VALSET_KEY
from nnet.chain.state import decode_value
from nnet.encoding import to_json_line
from nnet.store.chaindb import ChainDB

__all__ = [
    "load_commit",
    "load_header",
    "load_state",
    "load_validator_set",
    "store_block",
    "store_genesis",
]


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
        batch.put_meta(_valset_history(writes))


def commit_meta_key(height: int) -> str:
    return f"commit/{height}"


def store_block(db: ChainDB, result: BlockResult, *, commit: dict[str, Any] | None = None) -> None:
    """Persist a block with its txs, receipts and state writes in one batch; its transactions
    leave the mempool journal in the same batch. On a network, `commit` is the certificate that
    made it final (kept beside it: the next header carries one too, maybe of other signers)."""
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
        meta = _valset_history(result.writes)
        if commit is not None:
            meta.append((commit_meta_key(header.height), to_json_line(commit)))
        batch.put_meta(meta)


VALSET_HISTORY = "valset/"


def _valset_key(since: int) -> str:
    return f"{VALSET_HISTORY}{since:012d}"


def _valset_history(writes: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """A new validator set among a block's writes, kept by the height it takes effect: a set
    leaves the state two changes later, but `nnet block verify` may ask for any height."""
    for key, value in writes:
        if key == VALSET_KEY and value is not None:
            since = int(decode_value(value)["since"])
            return [(_valset_key(since), value)]
    return []


def load_validator_set(db: ChainDB, height: int) -> dict[str, Any] | None:
    """The validator set that signed block `height` ({"since", "validators"}), if any."""
    row = db.get_meta_before(VALSET_HISTORY, f"{height:012d}")
    return None if row is None else dict(decode_value(row[1]))


def load_commit(db: ChainDB, height: int) -> dict[str, Any] | None:
    """The certificate this node finalized block `height` with, on a network."""
    text = db.get_meta(commit_meta_key(height))
    return None if text is None else dict(json.loads(text))


def load_header(db: ChainDB, height: int) -> Header | None:
    """The stored header of the block at `height`, if there is one."""
    fields = db.get_header_dict(height)
    return None if fields is None else Header(**fields)


def load_state(db: ChainDB) -> dict[str, Any]:
    """The whole state after the head block, decoded."""
    return {key: decode_value(text) for key, text in db.get_state().items()}
