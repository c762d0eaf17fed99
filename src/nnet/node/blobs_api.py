"""The daemon's content store endpoints: `PUT /blobs`, `GET /blobs/{cid}`, `GET /blobs`.

Uploads are not free: each needs a permit (node/permit.py) in the `x-nnet-permit` header, signed
by an account whose balance plus bonded stake is at least `min_permit_balance`, naming this chain,
the blob's CID and size, and an expiry. Everything that can be refused is refused before a byte
of the body is read: no or a bad permit (401), a permit the node will not honour (403: expired,
another chain, unfunded), a declared length over the per-blob limit or over the permit (413), no
room in the quota or on the disk (507). The body then streams to a temporary file while hashed,
is cut off as soon as it passes the permit's size or the disk fills, and is renamed to its CID
only when it hashes to the permit's CID; an optional `?cid=` must name the same CID.

Downloads stream and are hashed again on the way out: a corrupt blob aborts the response instead
of serving bad bytes (clients hash what they receive too). A download may ask for one byte range
(`Range: bytes=START-`, `bytes=START-END`, `bytes=-LAST`; RFC 9110 section 14), to resume: 206
with `Content-Range`, 416 with `Content-Range: bytes */SIZE` when the range starts past the end,
and a Range header of any other form (several ranges, another unit) is ignored (200, the whole
blob). A part cannot be checked against the CID by itself, so before the first range of a blob
the node hashes the whole file once and remembers the (size, mtime, inode) it verified; a file
that changed since is hashed again, one that fails is refused (400 `verification_failed`) before
any byte is sent. Clients still hash the reassembled file (services/market.py download_blob): a
file altered in place without a new mtime would pass the node's memory, never the client's check.
`GET /blobs` pages by cursor
(`?limit`, `?after`; the shared listing convention, node/paging.py) and reads only the store's
folders a page walks.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nnet.chain.accounts import get_balance, get_stake
from nnet.cid import parse_cid
from nnet.encoding import format_amount
from nnet.errors import MalformedInput, NotFound, PermitRefused, TooLarge, VerificationFailed
from nnet.node.core import Node
from nnet.node.paging import parse_limit
from nnet.node.permit import PERMIT_HEADER, BlobPermit, check_permit_terms, parse_permit
from nnet.store.blobs import CHUNK, BlobStore

__all__ = ["ByteRange", "UploadPolicy", "blob_routes", "check_funded", "parse_range"]

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})", re.ASCII | re.IGNORECASE)
VERIFIED_MEMORY = 4096  # blobs whose verified (size, mtime, inode) the node remembers


@dataclass(frozen=True)
class UploadPolicy:
    """Who may upload: accounts holding at least `min_permit_balance` base units (balance plus
    bonded stake, in the committed state)."""

    min_permit_balance: int = 10**18


def check_funded(node: Node, permit: BlobPermit, policy: UploadPolicy) -> None:
    """PermitRefused (`unfunded`) unless the permit's uploader holds enough in committed state."""
    held = get_balance(node.state, permit.uploader) + get_stake(node.state, permit.uploader).bonded
    if held < policy.min_permit_balance:
        raise PermitRefused(
            f"{permit.uploader} holds {format_amount(held)} NNET (balance and bonded stake); "
            f"uploads need {format_amount(policy.min_permit_balance)} NNET",
            code="unfunded",
        )


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end` inclusive, as HTTP counts them; unsatisfiable when `start` is at or
    past the end of the blob (`start >= size`)."""

    start: int
    end: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str, size: int) -> ByteRange | None:
    """The one byte range a `Range` header asks of a blob of `size` bytes, its end cut to the
    blob's; None for a header nnet ignores (several ranges, another unit, START after END)."""
    m = _RANGE.fullmatch(header.strip())
    if m is None or m.group(1) == m.group(2) == "":
        return None
    first, last = m.group(1), m.group(2)
    if first == "":  # bytes=-N: the last N bytes
        n = int(last)
        return ByteRange(max(0, size - n), size - 1) if n else ByteRange(size, size - 1)
    start = int(first)
    if last != "" and int(last) < start:
        return None
    return ByteRange(start, size - 1 if last == "" else min(int(last), size - 1))


class _VerifiedFiles:
    """Blobs whose file the node hashed whole and found right, keyed by what changes when the
    file is rewritten (size, mtime, inode); the oldest are forgotten past VERIFIED_MEMORY."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, tuple[int, int, int]] = OrderedDict()

    def has(self, cid: str, st: os.stat_result) -> bool:
        return self._seen.get(cid) == (st.st_size, st.st_mtime_ns, st.st_ino)

    def add(self, cid: str, st: os.stat_result) -> None:
        self._seen[cid] = (st.st_size, st.st_mtime_ns, st.st_ino)
        self._seen.move_to_end(cid)
        while len(self._seen) > VERIFIED_MEMORY:
            self._seen.popitem(last=False)


def _hash_whole(f: BinaryIO, cid: str) -> None:
    """VerificationFailed unless the open file's bytes hash to `cid` (runs on a worker thread)."""
    want = parse_cid(cid)
    h = hashlib.sha256()
    f.seek(0)
    while chunk := f.read(CHUNK):
        h.update(chunk)
    if h.digest() != want:
        raise VerificationFailed(f"blob {cid} is corrupt: its bytes no longer hash to its CID")


def _read_span(f: BinaryIO, span: ByteRange) -> Iterator[bytes]:
    """The span's bytes from the open file, in chunks; the file is closed when they end."""
    with f:
        f.seek(span.start)
        left = span.end - span.start + 1
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


def blob_routes(node: Node, store: BlobStore, policy: UploadPolicy | None = None) -> list[Route]:
    """Routes serving `store` for `node`'s chain; errors propagate to the app's NnetError handler
    (JSON with a code)."""
    policy = policy or UploadPolicy()
    verified = _VerifiedFiles()

    def admit(request: Request) -> BlobPermit:
        """Every check that needs no byte of the body; the permit that admits the upload."""
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()) or len(declared) > 18:
                raise MalformedInput("content-length is not a number")
            if int(declared) > store.limits.max_blob_bytes:
                raise TooLarge(
                    f"body is {declared} bytes; blobs are limited to "
                    f"{store.limits.max_blob_bytes} bytes"
                )
        permit = parse_permit(request.headers.get(PERMIT_HEADER))
        check_permit_terms(permit, chain=node.chain_id, now_ms=int(time.time() * 1000))
        expect = request.query_params.get("cid")
        if expect is not None:
            parse_cid(expect, "cid")
            if expect != permit.cid:
                raise PermitRefused(
                    f"?cid={expect} is not the permit's CID {permit.cid}", code="permit_mismatch"
                )
        if declared is not None and int(declared) > permit.size:
            raise TooLarge(f"body is {declared} bytes; the permit allows {permit.size}")
        check_funded(node, permit, policy)
        return permit

    async def put_blob(request: Request) -> Response:
        permit = admit(request)
        writer = store.writer(expect_cid=permit.cid, size=permit.size)  # 413/507 before reading
        try:
            async for chunk in request.stream():
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        info = writer.commit()
        return JSONResponse(info.to_dict(), status_code=201)

    async def get_blob(request: Request) -> Response:
        cid = request.path_params["cid"]
        wanted = request.headers.get("range")
        if wanted is not None:
            ranged = await get_range(cid, wanted)
            if ranged is not None:
                return ranged
        chunks = store.read(cid)  # NotFound / MalformedInput before any byte is sent
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers={"x-cid": cid, "accept-ranges": "bytes"},
        )

    async def get_range(cid: str, wanted: str) -> Response | None:
        """206 with the range, 416, or None to serve the whole blob (a Range header ignored)."""
        path = store.path(cid)  # MalformedInput for a bad CID
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by _read_span, or below
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"no blob {cid}") from None
        try:
            st = os.fstat(f.fileno())  # of the very file the bytes will come from
            span = parse_range(wanted, st.st_size)
            if span is None:
                f.close()
                return None
            if span.start >= st.st_size:
                f.close()
                return JSONResponse(
                    {
                        "error": f"blob {cid} has {st.st_size} bytes; the range {wanted!r} "
                        "starts past its end",
                        "code": "range_not_satisfiable",
                    },
                    status_code=416,
                    headers={"content-range": f"bytes */{st.st_size}", "x-cid": cid},
                )
            if not verified.has(cid, st):
                await run_in_threadpool(_hash_whole, f, cid)
                verified.add(cid, st)
        except BaseException:
            f.close()
            raise
        headers = {
            "x-cid": cid,
            "accept-ranges": "bytes",
            "content-range": span.content_range(st.st_size),
            "content-length": str(span.end - span.start + 1),
        }
        return StreamingResponse(
            _read_span(f, span),
            status_code=206,
            media_type="application/octet-stream",
            headers=headers,
        )

    async def list_blobs(request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        after = request.query_params.get("after")
        if after is not None:
            parse_cid(after, "after")  # a previous page's `next` is the CID it ended on
        blobs, cursor = store.page(after, limit)
        return JSONResponse({"blobs": [b.to_dict() for b in blobs], "next": cursor})

    return [
        Route("/blobs", put_blob, methods=["PUT"]),
        Route("/blobs", list_blobs, methods=["GET"]),
        Route("/blobs/{cid}", get_blob, methods=["GET"]),
    ]
