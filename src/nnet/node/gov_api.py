"""The daemon's governance reads: `GET /proposals` (paged, node/paging.py) and `/proposals/{id}`.

Each proposal is served with its live tally (what would happen if voting ended now) and how many
blocks are left in its current period, computed from committed state by the same functions the
epoch-end tally uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet.chain.governance import PROPOSAL_STATUSES, compute_tally, get_proposal, proposal_key
from nnet.chain.params import get_param
from nnet.errors import InvalidTx, MalformedInput, NotFound
from nnet.node.paging import collect_page, int_cursor, parse_limit

__all__ = ["describe_proposal", "gov_routes"]


def describe_proposal(state: Any, height: int, proposal: dict[str, Any]) -> dict[str, Any]:
    """A proposal as clients see it: amounts as strings, votes counted, live tally, time left."""
    view = dict(proposal)
    view["deposit"] = str(proposal["deposit"])
    view["deposits"] = {k: str(v) for k, v in proposal["deposits"].items()}
    payload = dict(proposal["payload"])
    if "amount" in payload:
        payload["amount"] = str(payload["amount"])
    view["payload"] = payload
    view["votes"] = dict(sorted(proposal["votes"].items()))
    epoch_blocks = get_param(state, "epoch_blocks")
    end_epoch = {"deposit": proposal["deposit_end_epoch"], "voting": proposal["voting_end_epoch"]}
    if proposal["status"] in end_epoch:
        last_block = (end_epoch[proposal["status"]] + 1) * epoch_blocks - 1
        view["period_ends_at_height"] = last_block
        view["blocks_left"] = max(0, last_block - height)
    if proposal["status"] == "voting":
        view["tally_if_ended_now"] = compute_tally(state, proposal)
    return view


def gov_routes(node: Any) -> list[Route]:
    """Routes reading `node.state` (committed state) and `node.head`."""

    async def list_proposals(request: Request) -> Response:
        """Newest first, paged (node/paging.py): `after` is the id of the last proposal seen."""
        status = request.query_params.get("status")
        if status is not None and status not in PROPOSAL_STATUSES:
            raise MalformedInput(
                f"status must be one of {', '.join(PROPOSAL_STATUSES)}, not {status[:40]!r}"
            )
        limit = parse_limit(request.query_params.get("limit"))
        last = int(node.state.get("gov/next_id") or 1)
        after = int_cursor(request.query_params.get("after"))
        top = last - 1 if after is None else min(after - 1, last - 1)

        def candidates() -> Iterator[tuple[str, dict[str, Any] | None]]:
            for pid in range(top, 0, -1):
                p = node.state.get(proposal_key(pid))
                keep = p is not None and (status is None or p["status"] == status)
                yield str(pid), p if keep else None

        height = node.head.height
        page = collect_page(
            "proposals", candidates(), lambda p: describe_proposal(node.state, height, p), limit
        )
        return Response(page.body(), media_type="application/json")

    async def show_proposal(request: Request) -> Response:
        raw = request.path_params["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise MalformedInput("proposal id must be a positive integer")
        try:
            p = get_proposal(node.state, int(raw))
        except InvalidTx:
            raise NotFound(f"no proposal {raw}") from None
        return JSONResponse(describe_proposal(node.state, node.head.height, p))

    return [
        Route("/proposals", list_proposals, methods=["GET"]),
        Route("/proposals/{id}", show_proposal, methods=["GET"]),
    ]
