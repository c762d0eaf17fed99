"""The daemon's HTTP API (PROTOCOL.md) on Starlette: parse, call the Node, render JSON.

Handlers are `async def` and call the Node synchronously, so every request runs on the event loop
thread, one at a time, in between block production: no locks, and admission always sees the state
the next block will be built on.

Bad input never gets a 5xx: NnetError -> its http_status with {"error", "code"}; unknown routes
and methods -> 404/405 in the same shape (a 405 names the path's methods in `Allow`); a body over
the limit -> 413 "too_large", read no further. A full disk (ENOSPC, SQLite's "database or disk is
full") answers 507 "disk_full"; any other failure 500 "internal", logged on nnet.http.

POST /txs answers 202 {"results": [...]} for NDJSON, whatever each line's fate (that is what
`NodeClient.submit` sends and reads). A body that is one JSON transaction (not NDJSON) and is
refused answers 4xx {"error", "code", "results"}, so a one-off `curl -d @tx.json` fails loudly.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from nnet.errors import MalformedInput, NnetError, TooLarge
from nnet.node.core import Node
from nnet.node.limits import is_disk_full
from nnet.node.openapi import OPENAPI

__all__ = ["make_app"]

log = logging.getLogger("nnet.http")

Forward = Callable[[bytes, str], Awaitable[tuple[int, Any]]]
PeerNonce = Callable[[str], Awaitable[int | None]]


class NotSequencer(NnetError):
    code = "not_sequencer"
    http_status = 503


def _error(e: NnetError) -> JSONResponse:
    return JSONResponse({"error": e.one_line(), "code": e.code}, status_code=e.http_status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise MalformedInput("content-length is not a number")
        if int(declared) > limit:
            raise TooLarge(f"body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _allowed_methods(routes: Sequence[BaseRoute], scope: Any) -> list[str]:
    """Every method some route serves at the request's path (the `Allow` of a 405)."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise MalformedInput(f"{name} must be a non-negative integer")
    return int(value)


def make_app(
    node: Node,
    *,
    forward: Forward | None = None,
    peer_next_nonce: PeerNonce | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    on_refused: Callable[[str], None] | None = None,
) -> Starlette:
    """The Starlette app serving `node`. A replica passes `forward` to send POST /txs onward and
    `peer_next_nonce` to count the sequencer's pending transactions in an account's next nonce;
    `extra_routes` are other capabilities' endpoints (governance reads, the blob store, health);
    `on_refused(code)` hears of every transaction admission refused (logs, metrics)."""

    async def status(request: Request) -> Response:
        return JSONResponse(node.status())

    async def post_txs(request: Request) -> Response:
        body = await read_body(request, node.config.max_body_bytes)
        content_type = request.headers.get("content-type", "")
        if not node.accepts_txs:
            if forward is None:
                raise NotSequencer(
                    f"this node is not the sequencer (now {node.sequencer}) and follows no peer",
                    hint="send transactions to the sequencer's node",
                )
            code, data = await forward(body, content_type)
            return JSONResponse(data, status_code=code)
        result = node.submit_body(body, content_type)
        if on_refused is not None:
            for r in result.results:
                if "error" in r:
                    on_refused(str(r.get("code", "invalid")))
        if result.single and "error" in result.results[0]:
            first = result.results[0]
            status_code = 413 if first["code"] == "too_large" else 400
            return JSONResponse({**first, "results": result.results}, status_code=status_code)
        return JSONResponse({"results": result.results}, status_code=202)

    async def get_tx(request: Request) -> Response:
        return JSONResponse(node.receipt(request.path_params["hash"]))

    async def get_block(request: Request) -> Response:
        height = _int_param(request.path_params["height"], "height", 0)
        return JSONResponse(node.block(height))

    async def get_blocks(request: Request) -> Response:
        # a page is bounded (node/paging.py) and built a block at a time, handing the event
        # loop on in between, so other clients are served while it is read
        import asyncio

        from nnet.node.paging import int_cursor, parse_limit

        start = _int_param(request.query_params.get("from"), "from", 1)
        after = int_cursor(request.query_params.get("after"))  # a previous page's `next`
        limit = parse_limit(request.query_params.get("limit"))
        pieces = []
        for piece in node.blocks_page(start if after is None else after, limit):
            pieces.append(piece)
            await asyncio.sleep(0)
        return Response(b"".join(pieces), media_type="application/json")

    async def get_account(request: Request) -> Response:
        view = node.account(request.path_params["address"])
        if peer_next_nonce is not None and not node.is_sequencer:
            pending = await peer_next_nonce(view["address"])
            if pending is not None:
                view["next_nonce"] = max(int(view["next_nonce"]), pending)
        return JSONResponse(view)

    async def get_params(request: Request) -> Response:
        return JSONResponse(node.params())

    async def supply(request: Request) -> Response:
        from nnet.chain.audit import compute_supply_audit

        audit = compute_supply_audit(node.state)
        return JSONResponse({"height": node.head.height, **{k: str(v) for k, v in audit.items()}})

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def on_nnet_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NnetError)
        return _error(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(routes, request.scope))
        return JSONResponse(
            {"error": str(exc.detail), "code": code},
            status_code=exc.status_code,
            headers=headers,
        )

    async def on_storage_error(request: Request, exc: Exception) -> Response:
        # storage errors are answered here, not by on_bug, which Starlette re-raises to uvicorn
        if is_disk_full(exc):
            log.error(
                "%s %s: disk full: %s",
                request.method,
                request.url.path,
                exc,
                extra={"event": "disk_full"},
            )
            return JSONResponse(
                {"error": "the node's disk is full; try again later", "code": "disk_full"},
                status_code=507,
            )
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _internal(exc)

    async def on_bug(request: Request, exc: Exception) -> Response:
        if is_disk_full(exc):
            return await on_storage_error(request, exc)
        return _internal(exc)

    routes = [
        Route("/status", status, methods=["GET"]),
        Route("/txs", post_txs, methods=["POST"]),
        Route("/txs/{hash}", get_tx, methods=["GET"]),
        Route("/blocks", get_blocks, methods=["GET"]),
        Route("/blocks/{height}", get_block, methods=["GET"]),
        Route("/accounts/{address}", get_account, methods=["GET"]),
        Route("/params", get_params, methods=["GET"]),
        Route("/supply", supply, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            NnetError: on_nnet_error,
            HTTPException: on_http_error,
            OSError: on_storage_error,
            sqlite3.Error: on_storage_error,
            Exception: on_bug,
        },
    )


def _internal(exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": f"internal error: {type(exc).__name__}", "code": "internal"}, status_code=500
    )
