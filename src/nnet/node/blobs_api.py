"""The daemon's content store endpoints: `PUT /blobs`, `GET /blobs/{cid}`, `GET /blobs`.

Uploads stream to a temporary file while hashed and are renamed to their CID only when complete;
an optional `?cid=` makes the upload fail unless the bytes hash to it. Downloads stream and are
hashed again on the way out: a corrupt blob aborts the response instead of serving bad bytes
(clients hash what they receive too).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nnet.errors import MalformedInput
from nnet.store.blobs import BlobStore
from nnet.store.cid import parse_cid

__all__ = ["blob_routes"]


def blob_routes(store: BlobStore) -> list[Route]:
    """Routes serving `store`; errors propagate to the app's NnetError handler (4xx JSON)."""

    async def put_blob(request: Request) -> Response:
        expect = request.query_params.get("cid")
        if expect is not None:
            parse_cid(expect, "cid")
        writer = store.writer(expect_cid=expect)
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
        limit = request.query_params.get("limit", "1000")
        if not (limit.isascii() and limit.isdigit()):
            raise MalformedInput("limit must be a non-negative integer")
        blobs = store.list()[: int(limit)]
        return JSONResponse({"blobs": [b.to_dict() for b in blobs]})

    return [
        Route("/blobs", put_blob, methods=["PUT"]),
        Route("/blobs", list_blobs, methods=["GET"]),
        Route("/blobs/{cid}", get_blob, methods=["GET"]),
    ]
