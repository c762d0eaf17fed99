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
of serving bad bytes (clients hash what they receive too). `GET /blobs` pages by cursor
(`?limit`, `?after`; the shared listing convention, node/paging.py) and reads only the store's
folders a page walks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nnet.chain.accounts import get_balance, get_stake
from nnet.cid import parse_cid
from nnet.encoding import format_amount
from nnet.errors import MalformedInput, PermitRefused, TooLarge
from nnet.node.core import Node
from nnet.node.paging import parse_limit
from nnet.node.permit import PERMIT_HEADER, BlobPermit, check_permit_terms, parse_permit
from nnet.store.blobs import BlobStore

__all__ = ["UploadPolicy", "blob_routes", "check_funded"]


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


def blob_routes(node: Node, store: BlobStore, policy: UploadPolicy | None = None) -> list[Route]:
    """Routes serving `store` for `node`'s chain; errors propagate to the app's NnetError handler
    (JSON with a code)."""
    policy = policy or UploadPolicy()

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
        chunks = store.read(cid)  # NotFound / MalformedInput before any byte is sent
        return StreamingResponse(
            chunks, media_type="application/octet-stream", headers={"x-cid": cid}
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
