"""The node without its web server: committed state, mempool, block production and reads.

Everything here runs on one thread (the daemon's event loop), so state, mempool and database need
no locks. The HTTP layer (app.py) only parses requests and renders what these methods return.
A sequencer holds the sequencer key and produces blocks; a replica (sync.py) has no key and
applies the sequencer's blocks through the same `process_block` any node would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nnet.chain.accounts import get_account, get_pending_rewards, get_stake
from nnet.chain.block import (
    Block,
    BlockResult,
    Header,
    build_block,
    compute_genesis_block,
    process_block,
)
from nnet.chain.epoch import compute_epoch
from nnet.chain.genesis import Genesis
from nnet.chain.keys import SEQUENCER_KEY
from nnet.chain.params import get_param, get_params_view
from nnet.chain.state import State
from nnet.chain.types import Address, BlockContext, Height
from nnet.crypto import address_of_private_key, normalize_address
from nnet.encoding import hex_to_bytes, strict_loads
from nnet.errors import InvalidTx, MalformedInput, NnetError, NotFound, UsageError
from nnet.node.mempool import Mempool, PendingTx
from nnet.node.paging import MAX_LIMIT, MAX_PAGE_BYTES
from nnet.node.storage import load_header, load_state, store_block, store_genesis
from nnet.store.chaindb import ChainDB
from nnet.tx import MAX_TX_BYTES, parse_tx

__all__ = ["Node", "NodeConfig", "SubmitResult"]

MAX_BLOCKS_PER_REQUEST = MAX_LIMIT
MAX_PAGE_TXS = 10_000  # transactions per page of blocks (one block over it still served whole)


@dataclass
class NodeConfig:
    block_time_s: float = 1.0
    max_body_bytes: int = 16 * 1024 * 1024
    max_mempool: int = 100_000
    peers: list[str] = field(default_factory=list)


@dataclass
class SubmitResult:
    """Per-tx results of one POST /txs, and whether the body held a single transaction."""

    results: list[dict[str, Any]]
    single: bool


class Node:
    """One node: opens (or initialises) its database from the genesis and serves the chain."""

    def __init__(
        self,
        db: ChainDB,
        genesis: Genesis,
        *,
        signer: bytes | None = None,
        config: NodeConfig | None = None,
    ) -> None:
        self.db = db
        self.genesis = genesis
        self.config = config or NodeConfig()
        self.signer = signer
        self.address = address_of_private_key(signer) if signer is not None else None
        _, genesis_header, writes = compute_genesis_block(genesis)
        stored = db.get_meta("genesis_hash")
        if stored is None:
            store_genesis(db, genesis, genesis_header, writes)
        elif stored != genesis_header.hash_hex:
            raise UsageError(
                f"{db.path} belongs to another genesis ({stored}, not {genesis_header.hash_hex})",
                hint="use a fresh node home, or the genesis it was made with",
                code="wrong_genesis",
            )
        self.genesis_header = genesis_header
        self.state = State(load_state(db))
        head_height = db.get_head_height()
        head = load_header(db, head_height or 0)
        assert head is not None  # store_genesis wrote height 0
        self.head: Header = head
        self.mempool = Mempool(self.state, max_size=self.config.max_mempool)
        self.sync_error: str | None = None  # why a replica stopped following, if it did
        # heard of the text of every transaction a POST admitted (a network node gossips them)
        self.on_admitted: Callable[[list[str]], None] | None = None
        # extra /status fields (a network node's consensus view)
        self.status_extra: Callable[[], dict[str, Any]] | None = None
        # mempool journal writes of the POST being handled (one SQLite write per POST)
        self._journal_touched: list[str] = []
        self._journal_texts: dict[str, str] = {}
        self.readmitted, self.dropped = self._readmit()

    def _readmit(self) -> tuple[int, int]:
        """Admit again, in order and signature-checked, what the mempool journal holds (what
        this node had accepted before it stopped); drop what no longer applies. Returns
        (re-admitted, dropped)."""
        rows = self.db.get_mempool()
        dropped: list[str] = []
        ctx = self.next_context()
        for hash_hex, text in rows:
            try:
                tx = parse_tx(strict_loads(text))
                h = tx.signing_hash
                if "0x" + h.hex() != hash_hex:
                    raise MalformedInput("journaled under another hash")
                dropped += self.mempool.admit(PendingTx(tx, h, hash_hex), ctx)
            except Exception:  # a row that no longer applies (or is damaged) must not stop a start
                dropped.append(hash_hex)
        self.db.journal_mempool(removed=dropped)
        return len(rows) - len(dropped), len(dropped)

    @property
    def sequencer(self) -> str:
        """The sequencer now: the genesis one until governance hands the role on (chain state)."""
        return str(self.state.get(SEQUENCER_KEY) or self.genesis.sequencer)

    @property
    def is_sequencer(self) -> bool:
        """Whether this node holds the key of the current sequencer (and so produces blocks)."""
        return self.address is not None and self.address == self.sequencer

    @property
    def is_network(self) -> bool:
        """A network of validators (its genesis lists them): blocks are decided by consensus
        (node/consensus/driver.py), every node takes transactions and gossips them on."""
        return bool(self.genesis.validators)

    @property
    def accepts_txs(self) -> bool:
        return self.is_network or self.is_sequencer

    @property
    def chain_id(self) -> str:
        return self.genesis.chain

    def next_context(self) -> BlockContext:
        height = self.head.height + 1
        return BlockContext(
            Height(height),
            compute_epoch(self.state, height),
            Address(self.sequencer),
            self.head.hash_hex,
        )

    # ---- writes -------------------------------------------------------------------------------
    def submit_body(self, body: bytes, content_type: str = "") -> SubmitResult:
        """Admit the transactions of one POST /txs body.

        NDJSON (content type application/x-ndjson, or several lines that are not one JSON value)
        gives one result per line, a line that is not JSON included. Otherwise the body is one
        JSON transaction (`single`). A body that is not UTF-8, or holds no JSON at all, is a
        whole-body MalformedInput. What was admitted (and evicted for it) is journaled in the
        database, in one write, before this returns: a restart re-admits it.
        """
        try:
            result = self._submit(body, content_type)
        finally:
            touched, texts = self._journal_touched, self._journal_texts
            self._journal_touched, self._journal_texts = [], {}
        self._journal(touched, texts)
        if self.on_admitted is not None and texts:
            admitted = [t for h, t in texts.items() if self.mempool.get(h) is not None]
            if admitted:
                self.on_admitted(admitted)
        return result

    def _journal(self, touched: list[str], texts: dict[str, str]) -> None:
        """Write the mempool membership of every hash a POST touched: admitted ones in, evicted
        ones out (one hash may be both, in a batch: what holds now is what counts). If the write
        fails (a full disk), what it admitted leaves the mempool again and the error goes up:
        nothing is answered 202 that a restart would not find."""
        if not touched:
            return
        unique = list(dict.fromkeys(touched))
        added = [(h, texts[h]) for h in unique if self.mempool.get(h) and h in texts]
        removed = [h for h in unique if self.mempool.get(h) is None]
        try:
            self.db.journal_mempool(added, removed)
        except BaseException:
            unadmit = [bytes.fromhex(h[2:]) for h, _ in added]
            self.mempool.after_block(unadmit, self.next_context())
            raise

    def _submit(self, body: bytes, content_type: str) -> SubmitResult:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedInput(f"body is not valid UTF-8 (byte {e.start})") from None
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            raise MalformedInput("body holds no transaction")
        if "ndjson" not in content_type:
            if len(lines) == 1 or "json" in content_type:
                obj = strict_loads(text)
                return SubmitResult([self._admit_one(obj, text)], single=True)
            try:
                obj = strict_loads(text)
            except MalformedInput:
                pass  # several lines that are not one JSON value: NDJSON
            else:
                return SubmitResult([self._admit_one(obj, text)], single=True)
        parsed: list[tuple[object, str] | MalformedInput] = []
        for line in lines:
            try:
                parsed.append((strict_loads(line), line))
            except MalformedInput as e:
                parsed.append(e)
        if all(isinstance(p, MalformedInput) for p in parsed):
            first = parsed[0]
            assert isinstance(first, MalformedInput)
            raise MalformedInput(f"no line of the body is JSON (line 1: {first.message})")
        results: list[dict[str, Any]] = []
        for p in parsed:
            if isinstance(p, MalformedInput):
                results.append({"error": p.one_line(), "code": p.code})
            else:
                results.append(self._admit_one(*p))
        return SubmitResult(results, single=False)

    def _admit_one(self, obj: object, text: str) -> dict[str, Any]:
        """Admit one transaction (`obj`, parsed from `text`, which the journal keeps as sent:
        it is strict JSON of the same transaction, so re-admission reads it back)."""
        size = len(text)
        try:
            if size > MAX_TX_BYTES:
                raise InvalidTx(
                    f"transaction is {size} bytes; the limit is {MAX_TX_BYTES}", code="too_large"
                )
            tx = parse_tx(obj)
            h = tx.signing_hash
            hash_hex = "0x" + h.hex()
            try:
                evicted = self.mempool.admit(PendingTx(tx, h, hash_hex), self.next_context())
                self._journal_texts[hash_hex] = text.strip()
                self._journal_touched += [hash_hex, *evicted]
            except InvalidTx as e:
                # a committed tx fails on its used nonce; say what really happened (the lookup
                # only runs for refused txs, so it costs the hot path nothing)
                if e.code == "bad_nonce" and (height := self.db.get_tx_height(hash_hex)):
                    raise InvalidTx(
                        f"transaction {hash_hex} is already committed at height {height}",
                        code="duplicate",
                    ) from None
                raise
        except NnetError as e:
            return {"error": e.one_line(), "code": e.code}
        except Exception as e:  # never a 5xx, never half a batch, for any input
            return {"error": f"transaction refused ({type(e).__name__}: {e})", "code": "invalid"}
        return {"hash": hash_hex, "status": "pending"}

    def produce_block(self, time_ms: int) -> BlockResult:
        """Build, persist and apply the next block from the mempool (sequencer only)."""
        if self.signer is None or not self.is_sequencer:
            raise UsageError(f"only the sequencer ({self.sequencer}) produces blocks")
        result = build_block(
            self.state,
            self.head,
            self.mempool.candidates(),
            time_ms=time_ms,
            proposer=self.sequencer,
            secret=self.signer,
            verified=True,
        )
        self.persist(result)
        return result

    def apply_block(self, block: Block) -> BlockResult:
        """Check, re-execute and persist a block made by the sequencer (replicas, sync)."""
        result = process_block(self.state, self.head, block, sequencer=self.sequencer)
        self.persist(result)
        return result

    def finalize_block(self, result: BlockResult, commit: dict[str, Any]) -> BlockResult:
        """Persist a block a network decided (executed by node/abci.py), with the certificate
        that made it final. Like `produce_block` and `apply_block`, the event feed and the
        block log and metrics hear of it (they wrap these three)."""
        self.persist(result, commit=commit)
        return result

    def persist(self, result: BlockResult, commit: dict[str, Any] | None = None) -> None:
        try:
            store_block(self.db, result, commit=commit)
        except BaseException:
            self.state.rollback()  # memory must not run ahead of the database
            raise
        self.state.commit()
        self.head = result.block.header
        # included txs left the journal with the block's commit; stale ones leave now (were
        # this write lost, a restart would drop them anyway: they no longer apply)
        stale = self.mempool.after_block(result.block.tx_hashes, self.next_context())
        self.db.journal_mempool(removed=stale)

    # ---- reads --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "chain": self.chain_id,
            "height": self.head.height,
            "head_hash": self.head.hash_hex,
            "epoch": compute_epoch(self.state, self.head.height),
            "epoch_blocks": get_param(self.state, "epoch_blocks"),
            "peers": list(self.config.peers),
            "sync": "validator"
            if self.is_network
            else ("sequencer" if self.is_sequencer else "replica"),
            "mempool": len(self.mempool),
            "sequencer": self.sequencer,
            "genesis_hash": self.genesis_header.hash_hex,
            "sync_error": self.sync_error,
            "evidence": len(self.db.get_evidence()),
            **(self.status_extra() if self.status_extra is not None else {}),
        }

    def account(self, address: str) -> dict[str, Any]:
        addr = normalize_address(address)
        acct = get_account(self.state, addr)
        stake = get_stake(self.state, addr)
        return {
            "address": addr,
            "balance": str(acct.balance),
            "nonce": acct.nonce,
            "next_nonce": get_account(self.mempool.overlay, addr).nonce,
            "stake": {
                "bonded": str(stake.bonded),
                "unbonding": [
                    {"amount": str(u.amount), "release_epoch": u.release_epoch}
                    for u in stake.unbonding
                ],
            },
            "pending_rewards": str(get_pending_rewards(self.state, addr)),
        }

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        hash_hex = "0x" + hex_to_bytes(tx_hash, "transaction hash", 32).hex()
        ptx = self.mempool.get(hash_hex)
        if ptx is not None:
            return {
                "hash": hash_hex,
                "status": "pending",
                "height": None,
                "index": None,
                "type": ptx.tx.type,
                "from": ptx.tx.sender,
                "events": [],
                "tx": ptx.tx.to_dict(),
            }
        receipt = self.db.get_receipt(hash_hex)
        if receipt is None:
            raise NotFound(f"no transaction {hash_hex} (neither pending nor committed)")
        return receipt

    def block(self, height: int) -> dict[str, Any]:
        block = self.db.get_block(height)
        if block is None:
            raise NotFound(f"no block at height {height}; the head is {self.head.height}")
        return block

    def blocks(self, start: int, limit: int) -> dict[str, Any]:
        """GET /blocks decoded: {"blocks": [...], "next": "height" or None} (see `blocks_page`)."""
        page: dict[str, Any] = json.loads(b"".join(self.blocks_page(start, limit)))
        return page

    def blocks_page(
        self,
        start: int,
        limit: int,
        *,
        max_bytes: int | None = None,
        max_txs: int | None = None,
    ) -> Iterator[bytes]:
        """The JSON text of GET /blocks?from=start&limit=, one block per piece, then its `next`.

        Up to `limit` consecutive blocks, stopping before the block that would take the page
        over `max_bytes` of JSON (MAX_PAGE_BYTES) or `max_txs` transactions (MAX_PAGE_TXS), but
        always at least one block.
        `next` is the height to continue from ("from", or the opaque "after"), null once the
        page reaches the head. Blocks are assembled from their stored JSON text, never decoded,
        and each is read by its own query, so a caller may hand the event loop on between
        pieces (app.py does) while blocks are committed: stored blocks never change."""
        if not 0 < limit <= MAX_BLOCKS_PER_REQUEST:
            raise MalformedInput(f"limit must be an integer from 1 to {MAX_BLOCKS_PER_REQUEST}")
        max_bytes = MAX_PAGE_BYTES if max_bytes is None else max_bytes
        max_txs = MAX_PAGE_TXS if max_txs is None else max_txs
        rows = self.db.get_block_rows(start, limit)
        yield b'{"blocks":['
        size = n_txs = 0
        next_height: int | None = None
        for i, (height, block_hash, header, tx_count) in enumerate(rows):
            if i and (size >= max_bytes or n_txs + tx_count > max_txs):
                next_height = height
                break
            txs = ",".join(self.db.get_block_tx_texts(height))
            piece = f'{{"header":{header},"hash":"{block_hash}","txs":[{txs}]}}'.encode()
            if i and size + len(piece) > max_bytes:
                next_height = height
                break
            yield b"," + piece if i else piece
            size += len(piece)
            n_txs += tx_count
        else:
            if rows and rows[-1][0] < self.head.height:
                next_height = rows[-1][0] + 1
        yield b'],"next":' + (b"null" if next_height is None else b'"%d"' % next_height) + b"}"

    def params(self) -> dict[str, Any]:
        return get_params_view(self.state)
