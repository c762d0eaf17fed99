"""Blocks: header, hash, tx_root, and the two ways a block reaches the state.

- `build_block` (the sequencer): run the begin-block steps (`process_begin_block`), apply
  candidate transactions in order, leave out the ones that fail, run epoch-end processing in the
  last block of an epoch, compute the roots, sign.
- `process_block` (a replica, a replay, a new node syncing): check the header against its parent,
  run the same begin-block steps, re-execute every transaction with its signature, and refuse
  the block unless tx_root and state_root come out identical. Any failure leaves the state as it
  was.

Both leave the block's writes journaled in the State: the caller persists `state.changes()` and
then calls `state.commit()` (or `state.rollback()` if persisting failed).

Header hash = keccak256(JCS(header without sig)); the sequencer signs that hash.
tx_root = Merkle root over the tx hashes with domain-separated leaves and nodes
(leaf = keccak256(0x00 ‖ h), node = keccak256(0x01 ‖ l ‖ r), an odd node is carried up unchanged,
no transactions -> 32 zero bytes), as RFC 6962, so no two different lists share a root.

Beacon: every header after genesis carries `beacon` = 0x ‖ pi, the proposer's VRF proof
(nnet.vrf, ECVRF over secp256k1) over
alpha = "nnet-beacon" ‖ chain id (utf-8) ‖ height (8 bytes, big-endian) ‖ the parent's output.
The block's beacon output is proof_to_hash(pi); genesis has no proof, its output is
keccak256("nnet-beacon-genesis" ‖ chain id). A VRF output is unique for a key and an input, so
the sequencer cannot vary it (time, tx order, retries change nothing); a replica recovers the
proposer's public key from the header signature and verifies pi before executing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nnet import bls
from nnet.chain.commit import Certificate, parse_certificate, verify_certificate
from nnet.chain.epoch import compute_epoch, is_epoch_end, process_epoch
from nnet.chain.fees import compute_tx_size
from nnet.chain.genesis import Genesis, compute_genesis_state
from nnet.chain.market import process_market_begin_block
from nnet.chain.params import get_param
from nnet.chain.state import (
    ZERO_ROOT,
    State,
    compute_state_root,
    compute_write_set_hash,
    encode_value,
)
from nnet.chain.transition import process_tx
from nnet.chain.types import Address, BlockContext, Event, Height
from nnet.chain.validators import get_validator_set_at, is_network, process_downtime
from nnet.crypto import (
    address_of_public_key,
    keccak256,
    recover_address,
    recover_public_key,
    sign_hash,
)
from nnet.encoding import canonical_json, hex_to_bytes
from nnet.errors import InvalidTx, MalformedInput, NnetError, VerificationFailed
from nnet.tx import Tx, parse_tx
from nnet.vrf import PROOF_LEN, proof_to_hash, prove
from nnet.vrf import verify as verify_vrf

__all__ = [
    "Block",
    "BlockResult",
    "Header",
    "Receipt",
    "build_block",
    "build_network_block",
    "compute_beacon_alpha",
    "compute_beacon_output",
    "compute_genesis_block",
    "compute_tx_root",
    "is_signed_by",
    "parse_block",
    "process_block",
]

ZERO_HASH = "0x" + "00" * 32
Receipt = dict[str, Any]


@dataclass(frozen=True)
class Header:
    chain: str
    height: int
    time_ms: int
    prev_hash: str
    tx_root: str
    state_root: str
    proposer: str
    beacon: str = ""  # 0x ‖ the proposer's VRF proof (network: BLS signature); "" at genesis
    # network chains only (module docstring): the hash of the set that signs this block, and
    # the commit certificate of the parent (None at height 1)
    validators_hash: str = ""
    last_commit: dict[str, Any] | None = None
    sig: str = ""

    @property
    def is_network(self) -> bool:
        return self.validators_hash != ""

    def unsigned_dict(self) -> dict[str, Any]:
        out = {
            "chain": self.chain,
            "height": self.height,
            "time_ms": self.time_ms,
            "prev_hash": self.prev_hash,
            "tx_root": self.tx_root,
            "state_root": self.state_root,
            "proposer": self.proposer,
            "beacon": self.beacon,
        }
        if self.is_network:
            out["validators_hash"] = self.validators_hash
            out["last_commit"] = self.last_commit
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.unsigned_dict(), "sig": self.sig}

    @cached_property
    def hash(self) -> bytes:
        return keccak256(canonical_json(self.unsigned_dict()))

    @cached_property
    def hash_hex(self) -> str:
        return "0x" + self.hash.hex()


@dataclass(frozen=True)
class Block:
    header: Header
    txs: list[Tx] = field(default_factory=list)
    tx_hashes: list[bytes] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header.to_dict(),
            "hash": self.header.hash_hex,
            "txs": [t.to_dict() for t in self.txs],
        }


@dataclass
class BlockResult:
    """What applying a block produced: receipts, the encoded write set, and left-out txs."""

    block: Block
    receipts: list[Receipt]
    writes: list[tuple[str, str | None]]
    rejected: list[tuple[bytes, NnetError]] = field(default_factory=list)


def compute_tx_root(tx_hashes: list[bytes]) -> bytes:
    if not tx_hashes:
        return ZERO_ROOT
    level = [keccak256(b"\x00" + h) for h in tx_hashes]
    while len(level) > 1:
        nxt = [keccak256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def compute_beacon_alpha(chain: str, height: int, prev_output: bytes) -> bytes:
    """The VRF input of the beacon at `height`: "nnet-beacon" ‖ chain ‖ height ‖ parent output."""
    return b"nnet-beacon" + chain.encode("utf-8") + height.to_bytes(8, "big") + prev_output


def compute_beacon_output(header: Header) -> bytes:
    """A block's 32-byte beacon output: proof_to_hash of its proof, or the genesis rule at
    height 0. It does not verify the proof (process_block does, before a header is kept)."""
    if header.height == 0:
        return keccak256(b"nnet-beacon-genesis" + header.chain.encode("utf-8"))
    if header.is_network:
        try:
            return keccak256(hex_to_bytes(header.beacon, "header beacon", bls.SIG_LEN))
        except MalformedInput as e:
            raise VerificationFailed(e.message) from None
    try:
        return proof_to_hash(hex_to_bytes(header.beacon, "header beacon", PROOF_LEN))
    except MalformedInput as e:
        raise VerificationFailed(e.message) from None


def _prove_beacon(secret: bytes, prev: Header) -> tuple[str, bytes]:
    """The sequencer's beacon for the block after `prev`: (header field, output)."""
    alpha = compute_beacon_alpha(prev.chain, prev.height + 1, compute_beacon_output(prev))
    pi = prove(secret, alpha)
    return "0x" + pi.hex(), proof_to_hash(pi)


def _verify_beacon(header: Header, prev: Header, public_key: bytes) -> bytes:
    """The header's beacon output if its proof verifies under the proposer's key over the
    parent's output; otherwise the block is refused."""
    try:
        pi = hex_to_bytes(header.beacon, "header beacon", PROOF_LEN)
        alpha = compute_beacon_alpha(header.chain, header.height, compute_beacon_output(prev))
        return verify_vrf(public_key, pi, alpha)
    except (MalformedInput, VerificationFailed) as e:
        raise _bad_block(header.height, f"bad beacon: {e.message}") from None


def compute_genesis_block(genesis: Genesis) -> tuple[State, Header, list[tuple[str, str | None]]]:
    """Genesis state (journaled), the height-0 header (unsigned), and the encoded writes."""
    state = compute_genesis_state(genesis)
    writes = _encoded_writes(state)
    root = compute_state_root(
        ZERO_ROOT, compute_write_set_hash([(k, v if v is not None else "null") for k, v in writes])
    )
    header = Header(
        genesis.chain,
        0,
        genesis.time_ms,
        ZERO_HASH,
        "0x" + ZERO_ROOT.hex(),
        "0x" + root.hex(),
        genesis.sequencer,
    )
    return state, header, writes


def process_begin_block(
    state: State, ctx: BlockContext, last_commit_signers: list[str] | None = None
) -> None:
    """Steps that run at the start of every block, before its transactions, knowing the parent's
    hash: the marketplace fixes the challenges of proofs included in the parent block; on a
    network, who signed the parent's commit counts toward downtime (chain/validators.py)."""
    process_downtime(state, ctx, last_commit_signers)
    process_market_begin_block(state, ctx)


def _encoded_writes(state: State) -> list[tuple[str, str | None]]:
    return sorted((k, None if v is None else encode_value(v)) for k, v in state.changes().items())


def _finish(state: State, prev: Header, height: int) -> tuple[bytes, list[tuple[str, str | None]]]:
    """Epoch-end steps if due, then the write set and the new state root."""
    if is_epoch_end(state, height):
        process_epoch(state, compute_epoch(state, height))
    writes = _encoded_writes(state)
    ws_hash = compute_write_set_hash([(k, v if v is not None else "null") for k, v in writes])
    root = compute_state_root(hex_to_bytes(prev.state_root, "prev state_root", 32), ws_hash)
    return root, writes


def _receipt(tx: Tx, h: bytes, height: int, index: int, events: list[Event]) -> Receipt:
    return {
        "hash": "0x" + h.hex(),
        "height": height,
        "index": index,
        "type": tx.type,
        "from": tx.sender,
        "events": events,
    }


def build_block(
    state: State,
    prev: Header,
    candidates: Iterable[tuple[Tx, bytes]],
    *,
    time_ms: int,
    proposer: str,
    secret: bytes,
    verified: bool = True,
) -> BlockResult:
    """The sequencer's next block over `prev`, from candidates in order (see module docstring).

    If anything fails while building (an epoch step, a bug), the state is rolled back to the
    last committed block, so no write of an unfinished block can leak into the next one."""
    try:
        return _build_block(
            state,
            prev,
            candidates,
            time_ms=time_ms,
            proposer=proposer,
            secret=secret,
            verified=verified,
        )
    except BaseException:
        state.rollback()
        raise


def _build_block(
    state: State,
    prev: Header,
    candidates: Iterable[tuple[Tx, bytes]],
    *,
    time_ms: int,
    proposer: str,
    secret: bytes,
    verified: bool,
) -> BlockResult:
    beacon, beacon_output = _prove_beacon(secret, prev)
    template = Header(
        prev.chain,
        prev.height + 1,
        max(time_ms, prev.time_ms),
        prev.hash_hex,
        "",
        "",
        proposer,
        beacon,
    )
    result = _execute(state, prev, template, candidates, beacon_output, None, verify=not verified)
    header = result.block.header
    signed = Header(**{**header.to_dict(), "sig": sign_hash(secret, header.hash)})
    return BlockResult(
        Block(signed, result.block.txs, result.block.tx_hashes),
        result.receipts,
        result.writes,
        result.rejected,
    )


def parse_block(obj: object, *, known: Mapping[str, Tx] | None = None) -> Block:
    """A block as served by GET /blocks (header, hash, txs), shape-checked, hashes computed.

    `known`: transactions already parsed (a mempool's), by signature; a block's transaction
    equal to one of them field for field is that one, not parsed again (a proposal of ten
    thousand transactions the validator already holds costs dict comparisons, not parses)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("header"), dict):
        raise MalformedInput("a block must be an object with a header")
    raw = obj["header"]
    fields = tuple(Header.__dataclass_fields__)
    network = {"validators_hash", "last_commit"}
    if set(raw) not in (set(fields), set(fields) - network):
        raise MalformedInput(f"a block header has exactly the fields {', '.join(fields)}")
    fields = tuple(f for f in fields if f in raw)
    for name in ("height", "time_ms"):
        if isinstance(raw[name], bool) or not isinstance(raw[name], int) or raw[name] < 0:
            raise MalformedInput(f"header {name} must be a non-negative integer")
    for name in ("prev_hash", "tx_root", "state_root"):
        hex_to_bytes(raw[name], f"header {name}", 32)
    if raw["height"] == 0 and raw["beacon"] != "":
        raise MalformedInput("the genesis header has no beacon")
    if "validators_hash" in raw:
        hex_to_bytes(raw["validators_hash"], "header validators_hash", 32)
        if raw["last_commit"] is not None:
            parse_certificate(raw["last_commit"])
        if not isinstance(raw["sig"], str):
            raise MalformedInput("header sig must be a string")
    if raw["height"] != 0:
        length = bls.SIG_LEN if "validators_hash" in raw else PROOF_LEN
        hex_to_bytes(raw["beacon"], "header beacon", length)
    header = Header(**{k: raw[k] for k in fields})
    raw_txs = obj.get("txs", [])
    if not isinstance(raw_txs, list):
        raise MalformedInput("block txs must be a list")
    txs = (
        [_reuse(t, known) or parse_tx(t) for t in raw_txs]
        if known
        else [parse_tx(t) for t in raw_txs]
    )
    if "hash" in obj and obj["hash"] != header.hash_hex:
        raise MalformedInput(f"block {header.height} hash does not match its header")
    return Block(header, txs, [t.signing_hash for t in txs])


def _reuse(raw: object, known: Mapping[str, Tx]) -> Tx | None:
    if not isinstance(raw, dict):
        return None
    sig = raw.get("sig")
    tx = known.get(sig) if isinstance(sig, str) else None
    return tx if tx is not None and tx.to_dict() == raw else None


def is_signed_by(header: Header, address: str) -> bool:
    """Whether the header's signature recovers to `address`."""
    try:
        return recover_address(header.hash, header.sig) == address
    except VerificationFailed:
        return False


def _bad_block(height: int, why: str) -> InvalidTx:
    return InvalidTx(f"block {height} refused: {why}", code="bad_block")


def _check_header(h: Header, prev: Header, sequencer: str) -> bytes:
    """Refuse a header that does not extend `prev`, or is not the sequencer's, or whose beacon
    does not verify; return its beacon output."""
    _check_parent(h, prev)
    if h.proposer != sequencer:
        raise _bad_block(h.height, f"proposer {h.proposer} is not the sequencer {sequencer}")
    try:
        public_key = recover_public_key(h.hash, h.sig)
    except VerificationFailed as e:
        raise _bad_block(h.height, f"bad header signature ({e.message})") from None
    if address_of_public_key(public_key) != sequencer:
        raise _bad_block(h.height, "header is not signed by the sequencer")
    return _verify_beacon(h, prev, public_key)


def _check_block_size(state: State, block: Block) -> None:
    """A block holds at most max_block_txs transactions of max_block_bytes in all."""
    h = block.header
    if len(block.txs) > get_param(state, "max_block_txs"):
        raise _bad_block(h.height, f"{len(block.txs)} transactions is over max_block_txs")
    size = sum(compute_tx_size(tx) for tx in block.txs)
    if size > get_param(state, "max_block_bytes"):
        raise _bad_block(h.height, f"{size} bytes of transactions is over max_block_bytes")


def _check_network_header(state: State, h: Header, prev: Header) -> tuple[bytes, list[str] | None]:
    """A network block's header (module docstring): it extends `prev`, commits to the set in
    force, is proposed by a member whose BLS beacon verifies, and carries a certificate that
    proves `prev` final. Returns (beacon output, who signed that certificate)."""
    if not h.is_network:
        raise _bad_block(h.height, "a network block carries validators_hash and last_commit")
    _check_parent(h, prev)
    if h.sig != "":
        raise _bad_block(h.height, "a network header is not signed (its certificate proves it)")
    vset = get_validator_set_at(state, h.height)
    if h.validators_hash != vset.hash_hex:
        raise _bad_block(h.height, "validators_hash is not the hash of the set in force")
    member = vset.get(h.proposer)
    if member is None:
        raise _bad_block(h.height, f"proposer {h.proposer} is not in the validator set")
    try:
        sig = hex_to_bytes(h.beacon, "header beacon", bls.SIG_LEN)
    except MalformedInput as e:
        raise _bad_block(h.height, e.message) from None
    message = bls.beacon_message(h.chain, h.height, compute_beacon_output(prev))
    if not bls.verify(member.bls_key, message, sig):
        raise _bad_block(h.height, "bad beacon: the proposer's BLS signature does not verify")
    if h.height == 1:
        if h.last_commit is not None:
            raise _bad_block(h.height, "block 1 has no parent commit (genesis is not voted)")
        return keccak256(sig), None
    if h.last_commit is None:
        raise _bad_block(h.height, "last_commit is missing")
    try:
        cert = parse_certificate(h.last_commit)
    except MalformedInput as e:
        raise _bad_block(h.height, f"last_commit: {e.message}") from None
    if cert.height != prev.height or cert.block_id != prev.hash:
        raise _bad_block(h.height, "last_commit is not a certificate of the parent")
    signed_by = get_validator_set_at(state, prev.height)
    why = verify_certificate(h.chain, signed_by.members, cert)
    if why is not None:
        raise _bad_block(h.height, f"last_commit does not prove the parent final: {why}")
    return keccak256(sig), [signed_by.members[i].address for i in cert.signer_indexes()]


def _check_parent(h: Header, prev: Header) -> None:
    if h.chain != prev.chain:
        raise _bad_block(h.height, f"chain {h.chain!r} is not {prev.chain!r}")
    if h.height != prev.height + 1:
        raise _bad_block(h.height, f"expected height {prev.height + 1}")
    if h.prev_hash != prev.hash_hex:
        raise _bad_block(h.height, "prev_hash is not the hash of our head")
    if h.time_ms < prev.time_ms:
        raise _bad_block(h.height, "time_ms goes backwards")


def build_network_block(
    state: State,
    prev: Header,
    candidates: Iterable[tuple[Tx, bytes]],
    *,
    time_ms: int,
    proposer: str,
    bls_secret: int,
    last_commit: Certificate | None,
) -> BlockResult:
    """A network proposer's block over `prev` (the ABCI `prepare_proposal`): its BLS beacon, the
    hash of the set in force, the certificate that proves `prev` final. The state is left with
    the block's writes journaled, as `build_block` leaves it (the caller rolls back a proposal
    that is not decided). Any failure rolls the state back."""
    try:
        height = prev.height + 1
        chain = prev.chain
        sig = bls.sign(bls_secret, bls.beacon_message(chain, height, compute_beacon_output(prev)))
        signers: list[str] | None = None
        if last_commit is not None:
            signed_by = get_validator_set_at(state, prev.height)
            signers = [signed_by.members[i].address for i in last_commit.signer_indexes()]
        vset = get_validator_set_at(state, height)
        header = Header(
            chain,
            height,
            max(time_ms, prev.time_ms),
            prev.hash_hex,
            "",
            "",
            proposer,
            "0x" + sig.hex(),
            vset.hash_hex,
            None if last_commit is None else last_commit.to_dict(),
        )
        return _execute(state, prev, header, candidates, keccak256(sig), signers)
    except BaseException:
        state.rollback()
        raise


def _execute(
    state: State,
    prev: Header,
    template: Header,
    candidates: Iterable[tuple[Tx, bytes]],
    beacon_output: bytes,
    signers: list[str] | None,
    *,
    verify: bool = False,
) -> BlockResult:
    """Apply candidates over `prev` into the block `template` describes (roots filled in);
    `verify`: check each candidate's signature (not needed for the mempool's, checked on entry)."""
    height = template.height
    ctx = BlockContext(
        Height(height),
        compute_epoch(state, height),
        Address(template.proposer),
        prev.hash_hex,
        beacon_output,
    )
    process_begin_block(state, ctx, signers)
    max_txs = get_param(state, "max_block_txs")
    room = get_param(state, "max_block_bytes")
    txs: list[Tx] = []
    hashes: list[bytes] = []
    receipts: list[Receipt] = []
    rejected: list[tuple[bytes, NnetError]] = []
    for tx, h in candidates:
        size = compute_tx_size(tx)
        if len(txs) >= max_txs or size > room:
            break  # not skip: a sender's later nonces would then fail and be dropped
        try:
            events = process_tx(state, tx, h, ctx, verify=verify)
        except InvalidTx as e:
            rejected.append((h, e))
            continue
        receipts.append(_receipt(tx, h, height, len(txs), events))
        txs.append(tx)
        hashes.append(h)
        room -= size
    root, writes = _finish(state, prev, height)
    header = Header(
        **{
            **template.to_dict(),
            "tx_root": "0x" + compute_tx_root(hashes).hex(),
            "state_root": "0x" + root.hex(),
        }
    )
    return BlockResult(Block(header, txs, hashes), receipts, writes, rejected)


def process_block(
    state: State,
    prev: Header,
    block: Block,
    *,
    sequencer: str,
    verified: frozenset[bytes] = frozenset(),
) -> BlockResult:
    """Check and re-execute a block over `prev`; refuse (state unchanged) unless it matches.

    On a network (the state holds a validator set) the header is checked as a network header
    and `sequencer` is not used. `verified`: hashes of transactions whose signature this node
    has already checked (its mempool's), not checked again."""
    h = block.header
    try:
        signers: list[str] | None = None
        if is_network(state):
            beacon_output, signers = _check_network_header(state, h, prev)
        else:
            beacon_output = _check_header(h, prev, sequencer)
        if "0x" + compute_tx_root(block.tx_hashes).hex() != h.tx_root:
            raise _bad_block(h.height, "tx_root does not match its transactions")
        _check_block_size(state, block)
        ctx = BlockContext(
            Height(h.height),
            compute_epoch(state, h.height),
            Address(h.proposer),
            h.prev_hash,
            beacon_output,
        )
        process_begin_block(state, ctx, signers)
        receipts: list[Receipt] = []
        for index, (tx, th) in enumerate(zip(block.txs, block.tx_hashes, strict=True)):
            try:
                events = process_tx(state, tx, th, ctx, verify=th not in verified)
            except InvalidTx as e:
                why = f"tx {index} is invalid ({e.code}: {e.message})"
                raise _bad_block(h.height, why) from None
            receipts.append(_receipt(tx, th, h.height, index, events))
        root, writes = _finish(state, prev, h.height)
        if "0x" + root.hex() != h.state_root:
            raise _bad_block(h.height, f"state_root differs: ours is 0x{root.hex()}")
    except BaseException:
        state.rollback()
        raise
    return BlockResult(block, receipts, writes)
