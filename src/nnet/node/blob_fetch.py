"""Fetching the blobs a block's transactions reference, before a validator votes for it.

No blob may live on one node only (NETWORK.md): a job's spec and dataset, the checkpoints a prover
opens and the final model are kept by every validator. So before prevoting for a proposal, a
validator lists what its transactions reference (`referenced_blobs`) and fetches what its own
store lacks from its peers (`ensure_blobs`); a block whose blobs cannot be had gets a nil prevote.

Peers are not trusted: every download streams into `BlobStore.writer(expect_cid=...)`, which
hashes the bytes and renames them into place only if they hash to the CID, so a peer that lies
about content leaves nothing behind and the next peer is asked. A download is cut off past
`max_bytes`, and the whole call past `timeout_s`. When every blob is present already, nothing
touches the network.

Deliberately not referenced: a proof's `trace` (the prover uploads it with its openings, after
the proof is on chain, so requiring it at proof.submit would stall honest provers) and its
`dataset` and `labels` (the job's own, uploaded with job.submit).
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from nnet.cid import is_cid, parse_cid
from nnet.errors import NnetError, StorageFull, TooLarge
from nnet.store.blobs import BlobStore, BlobWriter
from nnet.tx import Tx

__all__ = [
    "FetchOptions",
    "ensure_blobs",
    "nested_blobs",
    "referenced_blobs",
    "referenced_by_txs",
]

log = logging.getLogger("nnet.sync")

DEFAULT_CONCURRENCY = 4  # blobs fetched at once


def referenced_blobs(tx: Tx) -> list[str]:
    """Every CID a transaction's body references, in a fixed order without duplicates: its
    `*_cid` fields by name, then proof.open's openings in order, then a proof.submit's `model`."""
    found: list[str] = []

    def add(value: object) -> None:
        if isinstance(value, str) and is_cid(value) and value not in found:
            found.append(value)

    body = tx.body
    for name in sorted(body):
        if name.endswith("_cid"):
            add(body[name])
    if tx.type == "proof.open":
        for opening in body.get("openings") or []:
            if isinstance(opening, dict):
                add(opening.get("cid"))
    if tx.type == "proof.submit" and isinstance(body.get("proof"), dict):
        add(body["proof"].get("model"))  # optional; a malformed one is the chain's to refuse
    return found


MAX_SPEC_BYTES = 256 * 1024  # a job spec read for the blobs it names (a spec is a few KiB)


def nested_blobs(store: BlobStore, tx: Tx) -> list[str]:
    """Blobs that a blob the transaction references names in turn, once that blob is here: a
    job's spec names its labels file (`data.labels_cid`, IDX data), which every validator must
    keep like the dataset, though no transaction field holds it. A spec that is absent, too big
    or not TOML names nothing (the chain, not this, judges the spec)."""
    cid = tx.body.get("spec_cid") if tx.type == "job.submit" else None
    if not isinstance(cid, str) or not is_cid(cid) or not store.has(cid):
        return []
    try:
        path = store.path(cid)
        if path.stat().st_size > MAX_SPEC_BYTES:
            return []
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    data = doc.get("data")
    labels = data.get("labels_cid") if isinstance(data, dict) else None
    return [labels] if isinstance(labels, str) and is_cid(labels) else []


def referenced_by_txs(txs: Iterable[Tx]) -> list[str]:
    """The blobs a block's transactions reference, in block order, without duplicates."""
    seen: dict[str, None] = {}
    for tx in txs:
        seen.update(dict.fromkeys(referenced_blobs(tx)))
    return list(seen)


@dataclass(frozen=True)
class FetchOptions:
    """Bounds of one `ensure_blobs` call."""

    max_bytes: int  # one blob; a peer sending more is cut off
    timeout_s: float  # the whole call; what is not stored by then is returned missing
    concurrency: int = DEFAULT_CONCURRENCY


async def ensure_blobs(
    store: BlobStore,
    cids: Iterable[str],
    peers: Sequence[str],
    client: httpx.AsyncClient,
    *,
    max_bytes: int,
    timeout_s: float,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[str]:
    """Fetch into `store` every CID of `cids` it lacks, from `peers` (base URLs) in turn; the
    CIDs still missing afterwards (empty: all present). MalformedInput for a string that is not
    a CID, before anything is fetched."""
    wanted = list(dict.fromkeys(cids))
    for cid in wanted:
        parse_cid(cid)
    missing = [cid for cid in wanted if not store.has(cid)]
    if not missing:
        return []
    opts = FetchOptions(max_bytes, timeout_s, max(1, concurrency))
    gate = asyncio.Semaphore(opts.concurrency)

    async def one(cid: str) -> None:
        async with gate:
            await _fetch_one(store, client, peers, cid, opts)

    try:
        async with asyncio.timeout(opts.timeout_s):
            await asyncio.gather(*(one(cid) for cid in missing))
    except TimeoutError:
        log.warning("blob fetch gave up after %.1f s", opts.timeout_s)
    return [cid for cid in missing if not store.has(cid)]


async def _fetch_one(
    store: BlobStore, client: httpx.AsyncClient, peers: Sequence[str], cid: str, opts: FetchOptions
) -> None:
    for peer in peers:
        if store.has(cid):  # another fetch (or an upload) stored it meanwhile
            return
        try:
            await _fetch_from(store, client, peer, cid, opts.max_bytes)
            return
        except StorageFull as e:  # our own store: no peer can help
            log.warning("blob %s not fetched: %s", cid, e.message)
            return
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, NnetError, OSError) as e:
            # a peer's `net` is whatever it registered: a bad URL is that peer's failure only
            why = e.message if isinstance(e, NnetError) else f"{type(e).__name__}: {e}"
            log.info("blob %s from %s refused: %s", cid, peer, why)


async def _fetch_from(
    store: BlobStore, client: httpx.AsyncClient, peer: str, cid: str, max_bytes: int
) -> None:
    """Stream one blob from one peer into the store; raise on anything but the right bytes
    (the writer, and with it every byte received, is dropped)."""
    writer: BlobWriter | None = None
    try:
        async with client.stream("GET", f"{peer.rstrip('/')}/blobs/{cid}") as resp:
            if resp.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"HTTP {resp.status_code}", request=resp.request, response=resp
                )
            declared = resp.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"the peer offers {declared} bytes; the limit is {max_bytes}")
            writer = store.writer(expect_cid=cid)
            received = 0
            async for chunk in resp.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise TooLarge(f"the peer sent over {max_bytes} bytes")
                writer.write(chunk)
        writer.commit()  # VerificationFailed unless the bytes hash to `cid`
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
