"""The daemon's marketplace reads: `GET /jobs`, `/jobs/{id}`, `/proofs/{id}`, `/nodes`,
`/nodes/{addr}`, served from committed state (chain/market.py has the record layout); the two
listings are paged (node/paging.py). `/nodes/{addr}` takes a node's address or its operator's
(the node that key acts for); a node is served with its owner and operator.

Amounts are decimal strings of base units (PROTOCOL.md); a job is served with its proof
document, its challenge (seed, segments, openings to publish), drawn verifiers, openings,
attestations, settlement and, while it waits for something, the height by which it must happen.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet.chain.keys import NEXT_JOB_KEY, NODES_KEY
from nnet.chain.market import find_operated_node, get_proof
from nnet.chain.market_settle import JOB_STATUSES, get_job, get_node
from nnet.chain.params import get_param
from nnet.chain.types import Job, NodeRecord
from nnet.crypto import normalize_address
from nnet.errors import MalformedInput, NotFound
from nnet.node.paging import collect_page, newest_first, parse_limit

__all__ = ["describe_job", "describe_node", "market_routes"]

_AMOUNTS = ("fee", "escrow", "collateral")
_DEADLINES = {
    "open": "claim_deadline",
    "claimed": "proof_deadline",
    "challenged": "open_deadline",
    "opened": "attest_deadline",
}


def describe_job(state: Any, height: int, job: Job) -> dict[str, Any]:
    """A job as clients see it (see the module docstring)."""
    view = job.to_state()
    for name in _AMOUNTS:
        view[name] = str(view[name])
    record = get_proof(state, job.id)
    view["proof"] = None if record is None else record.doc
    view["proof_hash"] = None if record is None else record.hash
    deadline = _DEADLINES.get(job.status)
    if deadline is not None and view.get(deadline) is not None:
        last_block = (int(view[deadline]) + 1) * get_param(state, "epoch_blocks") - 1
        view["deadline_height"] = last_block
        view["blocks_left"] = max(0, last_block - height)
    return view


def describe_node(state: Any, address: str, node: NodeRecord) -> dict[str, Any]:
    view = {"address": address, **node.to_state()}
    view["owner"] = address
    view["operator"] = node.operator_of(address)
    view["collateral"] = str(node.collateral)
    view["locked"] = str(node.locked)
    view["free"] = str(node.free)
    return view


def _job_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) == 0:
        raise MalformedInput("job id must be a positive integer")
    return int(raw)


def market_routes(node: Any) -> list[Route]:
    """Routes reading `node.state` (committed state) and `node.head`."""

    async def list_jobs(request: Request) -> Response:
        """Newest first, paged (node/paging.py): `after` is the id of the last job seen."""
        height = node.head.height
        page = newest_first(
            request.query_params,
            "jobs",
            JOB_STATUSES,
            int(node.state.get(NEXT_JOB_KEY) or 1),
            lambda job_id: get_job(node.state, job_id),
            lambda j: j.status,
            lambda j: describe_job(node.state, height, j),
        )
        return Response(page.body(), media_type="application/json")

    async def show_job(request: Request) -> Response:
        job_id = _job_id(request.path_params["id"])
        job = get_job(node.state, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return JSONResponse(describe_job(node.state, node.head.height, job))

    async def show_proof(request: Request) -> Response:
        job_id = _job_id(request.path_params["id"])
        record = get_proof(node.state, job_id)
        if record is None:
            raise NotFound(f"job {job_id} has no proof")
        return JSONResponse(record.doc)

    async def list_nodes(request: Request) -> Response:
        """By address, paged (node/paging.py): `after` is the address of the last node seen.
        The chain keeps the addresses sorted, so a page starts by bisection, not by a scan."""
        limit = parse_limit(request.query_params.get("limit"))
        addresses: list[str] = node.state.get(NODES_KEY) or []
        start = 0
        after = request.query_params.get("after")
        if after is not None:
            start = bisect.bisect_right(addresses, normalize_address(after, "after"))

        def candidates() -> Iterator[tuple[str, tuple[str, NodeRecord] | None]]:
            for i in range(start, len(addresses)):
                address = addresses[i]
                record = get_node(node.state, address)
                yield address, None if record is None else (address, record)

        page = collect_page(
            "nodes", candidates(), lambda r: describe_node(node.state, r[0], r[1]), limit
        )
        return Response(page.body(), media_type="application/json")

    async def show_node(request: Request) -> Response:
        address = normalize_address(request.path_params["address"], "address")
        record = get_node(node.state, address)
        if record is None and (acting := find_operated_node(node.state, address)) is not None:
            address, record = acting  # an operator's address: the node it acts for
        if record is None:
            raise NotFound(f"{address} is not a registered node nor a node's operator")
        return JSONResponse(describe_node(node.state, address, record))

    return [
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{id}", show_job, methods=["GET"]),
        Route("/proofs/{id}", show_proof, methods=["GET"]),
        Route("/nodes", list_nodes, methods=["GET"]),
        Route("/nodes/{address}", show_node, methods=["GET"]),
    ]
