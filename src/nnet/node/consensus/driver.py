"""The consensus driver of a network node: Tendermint fed by gossip, timers and sync.

The pure machine (tendermint.py) decides; this module does its I/O on the daemon's event loop:

- **In**: consensus messages from peers (POST /p2p/consensus). Each is checked before the
  machine sees it: a proposal's BLS signature by the round's proposer and its block's shape, a
  vote's BLS signature by a member of the set. A proposal's blobs (every CID its transactions
  reference) are fetched from peers first; a block whose blobs cannot be had is not valid here.
- **Out**: what the machine broadcasts is signed (votes through the signing record, written and
  fsynced before the vote leaves: a crash never makes this node sign twice) and pushed to every
  peer; what this node said at the current height is pushed again every `REBROADCAST_S`, so a
  message lost to a cut link arrives once the link is back.
- **Decide**: the precommits become a commit certificate (one aggregate BLS signature and a
  bitmap), the block is executed and persisted with it (abci.py), and after the commit pause
  (`--block-time`, CometBFT's timeout_commit) the next height starts.
- **Sync**: a node behind its peers (restarted, partitioned, new) fetches finalized blocks with
  GET /blocks and each one's certificate (the next header's `last_commit`, or GET
  /p2p/commit/H), checks the certificate against the set in its own state, and applies the block.
  It trusts no peer: a block without a valid certificate is not applied.
- **Evidence**: two conflicting votes of one validator become an `evidence` transaction, signed
  by this node's key, admitted and gossiped like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nnet import bls
from nnet.chain.block import Block, parse_block
from nnet.chain.commit import (
    Certificate,
    make_certificate,
    parse_certificate,
    proposal_message,
    verify_certificate,
    vote_message,
)
from nnet.chain.fees import fit_fee, get_fee_schedule
from nnet.chain.validators import ValidatorSet, get_validator_set_at, parse_signed_vote
from nnet.crypto import address_of_private_key
from nnet.encoding import hex_to_bytes, to_json_line
from nnet.errors import MalformedInput, NnetError, NodeUnreachable
from nnet.node.abci import ChainApp
from nnet.node.consensus.signing import DoubleSignRefused, SigningRecord
from nnet.node.consensus.tendermint import (
    Action,
    Broadcast,
    Decide,
    Equivocation,
    Proposal,
    Schedule,
    Step,
    Tendermint,
    Timeouts,
    Value,
    Vote,
)
from nnet.node.core import Node
from nnet.node.p2p import Gossip, Peer
from nnet.node.storage import load_commit
from nnet.tx import build_tx

__all__ = ["Driver", "DriverOptions"]

log = logging.getLogger("nnet.consensus")

REBROADCAST_S = 1.0  # own votes of the current height are pushed again this often
PROPOSAL_RESEND_AFTER_S = 3.0  # and own proposals, once the height has lasted this long
SYNC_EVERY_S = 1.0  # peers' heights are asked this often
SYNC_PAGE = 100  # blocks asked for per GET /blocks while syncing
MAX_FUTURE_HEIGHTS = 2  # messages this far ahead of our height are kept; later ones dropped
MAX_KEPT_MESSAGES = 20_000  # signed messages kept for the current and next heights
ADMIT_CHUNK = 250  # gossiped transactions admitted between two turns of the event loop
IDLE_POLL_S = 0.05  # how often an idle node looks again whether to start the next height


@dataclass(frozen=True)
class DriverOptions:
    timeouts: Timeouts = field(default_factory=Timeouts)
    commit_pause_s: float = 1.0  # timeout_commit: rest after a decision
    blob_timeout_s: float = 10.0  # the most a proposal waits for its blobs
    # transactions in one proposal: what every validator parses and executes on its event
    # loop before it can vote, so a burst is spread over heights instead of outlasting the
    # propose timeout in one (the chain's own bound, max_block_txs, is far above it)
    max_proposal_txs: int = 2_000
    # an idle chain makes an empty block only this often (CometBFT's create_empty_blocks_
    # interval): with nothing to order, a height starts when a transaction arrives, when a
    # peer has moved on, or when this much time has passed since the last block; None: never wait
    empty_block_interval_s: float | None = None
    max_blob_bytes: int = 1 << 30


class Driver:
    """One node's part in consensus: a validator when `secret` is a member's key, otherwise an
    observer that follows the decided chain (it votes for nothing)."""

    def __init__(
        self,
        node: Node,
        gossip: Gossip,
        *,
        secret: bytes | None,
        record_path: Path,
        options: DriverOptions | None = None,
        blob_store: Any = None,
    ) -> None:
        self.node = node
        self.app = ChainApp(node, blob_store)
        self.gossip = gossip
        self.options = options or DriverOptions()
        self.secret = secret
        self.me = address_of_private_key(secret) if secret is not None else None
        self.bls_sk = bls.validator_secret(secret) if secret is not None else None
        self.record = (
            SigningRecord(record_path, node.chain_id, self.bls_sk)
            if self.bls_sk is not None
            else None
        )
        self.blob_store = blob_store
        self.blocks: dict[str, Block] = {}  # proposed blocks by id
        self.invalid: set[str] = set()  # proposed blocks whose blobs could not be had
        self.sigs: dict[tuple[str, int, int, str], tuple[str | None, bytes]] = {}
        self._conflicts: dict[tuple[str, int, int, str], tuple[str | None, bytes]] = {}
        self.own: dict[tuple[Any, ...], dict[str, Any]] = {}  # own signed messages, to resend
        self.inbox: dict[int, list[Proposal | Vote]] = {}  # checked messages of later heights
        self.reported: set[str] = set()  # validators whose equivocation we sent
        self._evidence: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}  # to send
        self.last_cert: Certificate | None = self._load_last_cert()
        self.decide_times: list[float] = []  # seconds from height start to decision
        self.sync_wanted = asyncio.Event()
        self._height_started = time.monotonic()
        self._decided_at = time.monotonic()
        self._waiting = False  # after a decision: waiting for transactions (idle chain)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.vset: ValidatorSet = get_validator_set_at(node.state, node.head.height + 1)
        self.tm = self._machine()
        node.status_extra = self.status_fields
        node.on_admitted = self._gossip_txs
        self._quiet_admission = False

    # ---- setup ------------------------------------------------------------------------------
    def _load_last_cert(self) -> Certificate | None:
        if self.node.head.height == 0:
            return None
        raw = load_commit(self.node.db, self.node.head.height)
        return None if raw is None else parse_certificate(raw)

    def _machine(self) -> Tendermint:
        height = self.node.head.height + 1
        self.vset = get_validator_set_at(self.node.state, height)
        me = self.me if self.me is not None and self.me in self.vset.powers else None
        return Tendermint(
            self.vset.powers,
            me,
            get_value=self._get_value,
            is_valid=self._is_valid,
            timeouts=self.options.timeouts,
            since_height=self.vset.since,
            start_height=height,
            pause_after_decide=True,
        )

    @property
    def is_validator(self) -> bool:
        return self.tm.me is not None

    async def run(self) -> None:
        """Start consensus, then keep resending and syncing until cancelled."""
        self._loop = asyncio.get_running_loop()
        self.gossip.start()
        self._height_started = time.monotonic()
        self._do(self.tm.start())
        tasks = [
            asyncio.create_task(self._rebroadcast_loop()),
            asyncio.create_task(self._sync_loop()),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await self.gossip.close()

    # ---- the application side of the machine -----------------------------------------------
    def _get_value(self, height: int, round_: int) -> Value:
        """Our block for `height`: the one we proposed in an earlier round of it if any (every
        validator has it parsed and executed already), else a new one from the mempool."""
        assert self.me is not None and self.bls_sk is not None
        for block_id, block in self.blocks.items():
            if block.header.height == height and block.header.proposer == self.me:
                return Value(block_id)
        block = self.app.prepare_proposal(
            self.me, self.bls_sk, self.last_cert, max_txs=self.options.max_proposal_txs
        )
        self.blocks[block.header.hash_hex] = block
        return Value(block.header.hash_hex)

    def _is_valid(self, value: Value) -> bool:
        block = self.blocks.get(value.id)
        if block is None or value.id in self.invalid:
            return False
        if block.header.height != self.node.head.height + 1:
            return False
        why = self.app.process_proposal(block)
        if why is not None:
            log.warning("proposal %s refused: %s", value.id[:18], why)
        return why is None

    # ---- actions ----------------------------------------------------------------------------
    def _do(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                msg = self._sign(action.message)
                if msg is not None:
                    self.gossip.send_consensus(msg)
            elif isinstance(action, Schedule):
                self._schedule(action)
            elif isinstance(action, Decide):
                self._decide(action)
            elif isinstance(action, Equivocation):
                self._report(action)

    def _schedule(self, s: Schedule) -> None:
        loop = self._loop or asyncio.get_running_loop()
        loop.call_later(s.seconds, self._timeout, s.kind, s.height, s.round)

    def _timeout(self, kind: Step, height: int, round_: int) -> None:
        self._do(self.tm.on_timeout(kind, height, round_))

    def _sign(self, message: Proposal | Vote) -> dict[str, Any] | None:
        assert self.bls_sk is not None and self.record is not None
        chain = self.node.chain_id
        if isinstance(message, Proposal):
            block = self.blocks[message.value.id]
            sig = bls.sign(
                self.bls_sk,
                proposal_message(
                    chain, message.height, message.round, message.valid_round, block.header.hash
                ),
            )
            msg = {
                "kind": "proposal",
                "height": message.height,
                "round": message.round,
                "valid_round": message.valid_round,
                "proposer": message.proposer,
                "block": block.to_dict(),
                "sig": "0x" + sig.hex(),
            }
            self.own[("proposal", message.height, message.round)] = msg
            return msg
        block_id = None if message.value_id is None else hex_to_bytes(message.value_id, "id", 32)
        try:
            sig = self.record.sign_vote(message.type, message.height, message.round, block_id)
        except DoubleSignRefused as e:
            log.error("vote not signed: %s", e.message)
            return None
        key = (message.type, message.height, message.round, message.validator)
        self.sigs.setdefault(key, (message.value_id, sig))
        msg = {
            "kind": "vote",
            "type": message.type,
            "height": message.height,
            "round": message.round,
            "block_id": message.value_id,
            "validator": message.validator,
            "sig": "0x" + sig.hex(),
        }
        self.own[("vote", message.height, message.round, message.type, message.validator)] = msg
        return msg

    def _decide(self, d: Decide) -> None:
        block = self.blocks.get(d.value.id)
        if block is None or d.height != self.node.head.height + 1:
            return
        sigs = {
            v.validator: self.sigs[(v.type, v.height, v.round, v.validator)][1]
            for v in d.precommits
        }
        cert = make_certificate(self.vset.members, d.height, d.round, block.header.hash, sigs)
        self._finalize(block, cert)
        took = time.monotonic() - self._height_started
        self.decide_times.append(took)
        del self.decide_times[:-1000]
        log.info(
            "finalized %d (%d txs) in round %d, %.2f s",
            d.height,
            len(block.txs),
            d.round,
            took,
            extra={"event": "finalized", "height": d.height},
        )
        self._decided_at = time.monotonic()
        if get_validator_set_at(self.node.state, d.height + 1).hash_hex != self.vset.hash_hex:
            # an epoch boundary changed the set: the next height's machine (its members, its
            # proposer schedule) is made now, held until the pause ends, so what peers send for
            # that height meanwhile is checked against the new set and kept, not lost
            self.tm = self._machine()
            self.tm.paused = True
        loop = self._loop or asyncio.get_running_loop()
        loop.call_later(self.options.commit_pause_s, self._next_height)

    def _finalize(self, block: Block, cert: Certificate) -> None:
        self.app.finalize_block(block, cert)
        self.last_cert = cert
        height = block.header.height
        self.blocks = {k: b for k, b in self.blocks.items() if b.header.height > height}
        self.invalid.clear()
        self.sigs = {k: v for k, v in self.sigs.items() if k[1] > height}
        self._conflicts = {k: v for k, v in self._conflicts.items() if k[1] > height}
        self.own = {k: m for k, m in self.own.items() if k[1] > height}
        for h in [h for h in self.inbox if h <= height]:
            del self.inbox[h]
        self._send_evidence()

    def _idle(self) -> bool:
        """Whether to hold the next height back: nothing to order, no peer gone ahead, and
        the empty-block interval not yet over."""
        interval = self.options.empty_block_interval_s
        if interval is None or len(self.node.mempool) > 0 or self.inbox.get(self.tm.height):
            return False
        return time.monotonic() - self._decided_at < interval

    def _wake(self) -> None:
        """Something to do (a transaction, or a peer's message for the next height): start
        the height now if it was held back for want of transactions."""
        if self._waiting:
            self._next_height()

    def _next_height(self) -> None:
        """After the commit pause: the machine's next height, or a new machine when the set
        changed (an epoch boundary) or sync moved the head under it. On an idle chain the
        height waits (polled every IDLE_POLL_S, woken by `_wake`) for work or for the
        empty-block interval."""
        if self.tm.paused and self._idle():
            if not self._waiting:
                self._waiting = True
                self._poll_idle()
            return
        self._waiting = False
        self._height_started = time.monotonic()
        height = self.node.head.height + 1
        same_set = get_validator_set_at(self.node.state, height).hash_hex == self.vset.hash_hex
        if self.tm.height == height and same_set:
            self._do(self.tm.next_height())  # nothing if sync already restarted it
            return
        self._restart()

    def _poll_idle(self) -> None:
        if not self._waiting:
            return
        if self._idle():
            loop = self._loop or asyncio.get_running_loop()
            loop.call_later(IDLE_POLL_S, self._poll_idle)
        else:
            self._next_height()

    def _restart(self) -> None:
        self.tm = self._machine()
        self._do(self.tm.start())
        for msgs in sorted(self.inbox.items()):
            for m in msgs[1]:
                self._feed(m)

    def _report(self, e: Equivocation) -> None:
        """Keep evidence of a double-signing validator (once per validator), to be sent once
        its height is finalized here: the chain refuses evidence of a height not yet reached."""
        who = e.first.validator
        if self.secret is None or self.me is None or who in self.reported:
            return
        if who in self._evidence:
            return
        key = (e.first.type, e.first.height, e.first.round, who)
        first = self.sigs.get(key)
        second = self._conflicts.get(key)
        if first is None or second is None:
            return
        votes = [
            {
                "type": e.first.type,
                "height": e.first.height,
                "round": e.first.round,
                "block_id": block_id,
                "validator": who,
                "sig": "0x" + sig.hex(),
            }
            for block_id, sig in (first, second)
        ]
        self._evidence[who] = (e.first.height, votes[0], votes[1])
        self._send_evidence()

    def _send_evidence(self) -> None:
        """Submit the kept evidence whose height is now below the next block's."""
        if self.secret is None or self.me is None:
            return
        node = self.node
        secret = self.secret
        me = self.me
        for who, (height, a, b) in list(self._evidence.items()):
            if height > node.head.height:
                continue
            del self._evidence[who]
            nonce = int(node.account(me)["next_nonce"])

            def make(fee: int, nonce: int = nonce, a: Any = a, b: Any = b) -> Any:
                return build_tx(node.chain_id, "evidence", me, nonce, fee, {"a": a, "b": b}).signed(
                    secret
                )

            tx = fit_fee(make, get_fee_schedule(node.state))
            result = node.submit_body(to_json_line(tx.to_dict()).encode(), "application/json")
            outcome = result.results[0]
            self.reported.add(who)
            log.warning(
                "evidence that %s double-signed at height %d: %s",
                who,
                height,
                outcome.get("hash") or outcome.get("error"),
                extra={"event": "evidence", "validator": who},
            )

    # ---- messages in ------------------------------------------------------------------------
    async def on_consensus(self, messages: list[dict[str, Any]], peer: str) -> None:
        for raw in messages:
            try:
                checked = await self._check(raw)
            except (NnetError, KeyError, TypeError, ValueError) as e:
                why = e.one_line() if isinstance(e, NnetError) else f"{type(e).__name__}: {e}"
                log.debug("message from %s dropped: %s", peer or "?", why)
                continue
            if checked is None:
                continue
            if checked.height > self.tm.height or (
                self._waiting and checked.height == self.tm.height
            ):
                kept = self.inbox.setdefault(checked.height, [])
                if len(kept) < MAX_KEPT_MESSAGES:
                    kept.append(checked)
                if checked.height > self.tm.height:
                    self.sync_wanted.set()
            self._feed(checked)
            if self._waiting and checked.height == self.tm.height:
                self._wake()  # a peer started the height: so do we

    def _feed(self, m: Proposal | Vote) -> None:
        if isinstance(m, Proposal):
            self._do(self.tm.on_proposal(m))
        else:
            self._do(self.tm.on_vote(m))

    async def _check(self, raw: dict[str, Any]) -> Proposal | Vote | None:
        """The message as the machine takes it, once its signature checks out; None for one
        that is stale, too far ahead, or already seen."""
        if not isinstance(raw, dict):
            raise MalformedInput("a consensus message is an object")
        kind = raw.get("kind")
        height = raw.get("height")
        if type(height) is not int:
            raise MalformedInput("height must be an integer")
        if height < self.tm.height or height > self.tm.height + MAX_FUTURE_HEIGHTS:
            if height > self.tm.height:
                self.sync_wanted.set()
            return None
        chain = self.node.chain_id
        if kind == "vote":
            v = parse_signed_vote(raw, "vote")
            member = self.vset.get(v.validator)
            if member is None:
                raise MalformedInput(f"{v.validator} is not in the validator set")
            key = (v.type, v.height, v.round, v.validator)
            block_hex = None if v.block_id is None else "0x" + v.block_id.hex()
            known = self.sigs.get(key)
            if known is not None and known == (block_hex, v.signature):
                return None  # seen
            message = vote_message(chain, v.type, v.height, v.round, v.block_id)
            if not bls.verify(member.bls_key, message, v.signature):
                raise MalformedInput("vote signature does not verify")
            if known is None:
                self.sigs[key] = (block_hex, v.signature)
            elif known[0] != block_hex:
                self._conflicts[key] = (block_hex, v.signature)
            vote_type: Any = v.type
            return Vote(vote_type, v.height, v.round, block_hex, v.validator)
        if kind == "proposal":
            return await self._check_proposal(raw, chain)
        raise MalformedInput(f"unknown message kind {kind!r}")

    async def _check_proposal(self, raw: dict[str, Any], chain: str) -> Proposal | None:
        height, round_, vr = raw["height"], raw["round"], raw["valid_round"]
        if type(round_) is not int or type(vr) is not int or not -1 <= vr < round_ < 2**31:
            raise MalformedInput("bad round or valid_round")
        if ("p", height, round_) in self.own or ("proposal", height, round_) in self.own:
            return None  # one proposal per round counts (the machine ignores a second): seen
        proposer = str(raw["proposer"])
        if self.tm.schedule.proposer(height, round_) != proposer:
            raise MalformedInput(f"{proposer} is not the proposer of {height}/{round_}")
        member = self.vset.get(proposer)
        if member is None:
            raise MalformedInput(f"{proposer} is not in the validator set")
        known = {p.tx.sig: p.tx for p in self.node.mempool.entries.values()}
        block = parse_block(raw["block"], known=known)
        if block.header.height != height or block.header.proposer != proposer:
            raise MalformedInput("the block is not at the proposal's height, by its proposer")
        block_id = block.header.hash_hex
        sig = hex_to_bytes(raw["sig"], "proposal sig", bls.SIG_LEN)
        message = proposal_message(chain, height, round_, vr, block.header.hash)
        if not bls.verify(member.bls_key, message, sig):
            raise MalformedInput("proposal signature does not verify")
        self.own[("p", height, round_)] = raw  # seen (never resent: "p" is not ours)
        self.blocks[block_id] = block
        await self._fetch_blobs(block)
        return Proposal(height, round_, Value(block_id), vr, proposer)

    async def _fetch_blobs(self, block: Block) -> None:
        """Every blob the block's transactions reference, fetched and kept before we vote."""
        if self.blob_store is None:
            return
        from nnet.node.blob_fetch import ensure_blobs, nested_blobs, referenced_by_txs

        cids = referenced_by_txs(block.txs)
        if not cids:
            return
        store = self.blob_store

        async def fetch(wanted: list[str]) -> list[str]:
            return await ensure_blobs(
                store,
                wanted,
                [p.url for p in self.gossip.peers],
                self.gossip.client,
                max_bytes=self.options.max_blob_bytes,
                timeout_s=self.options.blob_timeout_s,
            )

        missing = await fetch(cids)
        nested = [cid for tx in block.txs for cid in nested_blobs(store, tx)]
        if nested:  # a spec's labels file: known once the spec is here
            missing += await fetch(nested)
        if missing:
            log.warning(
                "block %s: %d blobs not found on any peer", block.header.height, len(missing)
            )
            self.invalid.add(block.header.hash_hex)

    async def on_txs(self, body: bytes, content_type: str) -> dict[str, Any]:
        """Transactions a peer gossiped: admitted here, not gossiped again (full mesh), a few
        hundred at a time, handing the event loop on in between: consensus messages that
        arrive meanwhile are not held up behind a batch of thousands of signatures."""
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        results: list[dict[str, Any]] = []
        for start in range(0, len(lines), ADMIT_CHUNK):
            chunk = b"\n".join(lines[start : start + ADMIT_CHUNK])
            self._quiet_admission = True
            try:
                results += self.node.submit_body(chunk, "application/x-ndjson").results
            except NnetError as e:  # a chunk with no JSON line at all
                results += [{"error": e.one_line(), "code": e.code}]
            finally:
                self._quiet_admission = False
            await asyncio.sleep(0)
        self._wake()
        return {"results": results}

    def commit(self, height: int) -> dict[str, Any] | None:
        return load_commit(self.node.db, height)

    def _gossip_txs(self, texts: list[str]) -> None:
        if not self._quiet_admission:
            self.gossip.send_txs(texts)
        self._wake()

    # ---- loops ------------------------------------------------------------------------------
    async def _rebroadcast_loop(self) -> None:
        while True:
            await asyncio.sleep(REBROADCAST_S)
            height = self.tm.height
            stuck = time.monotonic() - self._height_started > PROPOSAL_RESEND_AFTER_S
            for key, msg in list(self.own.items()):
                if key[1] != height or key[0] == "p":
                    continue
                if key[0] == "proposal" and not stuck:
                    continue  # a block is big: resent only once the height is slow to decide
                self.gossip.send_consensus(msg)

    async def _sync_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(SYNC_EVERY_S):
                    await self.sync_wanted.wait()
            except TimeoutError:
                pass
            self.sync_wanted.clear()
            try:
                await self.sync_once()
            except Exception as e:  # a peer's bad answer must not stop the node
                log.warning("sync: %s", e.one_line() if isinstance(e, NnetError) else repr(e))

    async def sync_once(self) -> int:
        """Apply the finalized blocks peers have beyond our head, each checked against its
        certificate; how many were applied."""
        applied = 0
        for peer in list(self.gossip.peers):
            try:
                resp = await self.gossip.get(peer, "/status", timeout=2.0)
                their = int(resp.json().get("height", 0))
            except (NodeUnreachable, httpx.HTTPError, ValueError, AttributeError, TypeError):
                continue
            while their > self.node.head.height:
                got = await self._sync_page(peer)
                if got == 0:
                    break
                applied += got
        if applied:
            log.info("synced %d blocks, now at %d", applied, self.node.head.height)
            self._restart()
        return applied

    async def _sync_page(self, peer: Peer) -> int:
        start = self.node.head.height + 1
        resp = await self.gossip.get(peer, "/blocks", {"from": start, "limit": SYNC_PAGE})
        data = resp.json()
        raw_blocks = data.get("blocks") if isinstance(data, dict) else None
        if not isinstance(raw_blocks, list):
            return 0
        blocks = [parse_block(b) for b in raw_blocks]
        applied = 0
        for i, block in enumerate(blocks):
            h = block.header.height
            if h != self.node.head.height + 1:
                break
            raw_cert: Any = None
            if i + 1 < len(blocks):
                raw_cert = blocks[i + 1].header.last_commit
            if raw_cert is None:
                got = await self.gossip.get(peer, f"/p2p/commit/{h}")
                if got.status_code != 200:
                    break
                raw_cert = got.json()
            cert = parse_certificate(raw_cert)
            signed_by = get_validator_set_at(self.node.state, h)
            why = verify_certificate(self.node.chain_id, signed_by.members, cert)
            if why is None and (cert.height != h or cert.block_id != block.header.hash):
                why = "the certificate is of another block"
            if why is not None:
                raise MalformedInput(f"{peer.name}: block {h} is not proven final: {why}")
            self._finalize(block, cert)
            applied += 1
            await asyncio.sleep(0)
        return applied

    # ---- reads ------------------------------------------------------------------------------
    def status_fields(self) -> dict[str, Any]:
        vset = get_validator_set_at(self.node.state, self.node.head.height + 1)
        cert = self.last_cert
        last_commit = None
        if cert is not None:
            try:
                signed_by = get_validator_set_at(self.node.state, cert.height)
                signed = sum(signed_by.members[i].power for i in cert.signer_indexes())
                total = signed_by.total_power
            except MalformedInput:
                signed = total = 0
            last_commit = {
                "height": cert.height,
                "round": cert.round,
                "signed_power": signed,
                "total_power": total,
            }
        return {
            "validators": [{"address": m.address, "power": m.power} for m in vset.members],
            "total_power": vset.total_power,
            "last_commit": last_commit,
            "peers": [p.name for p in self.gossip.peers],
            "consensus": {
                "height": self.tm.height,
                "round": self.tm.round,
                "step": self.tm.step,
                "validator": self.is_validator,
            },
        }
