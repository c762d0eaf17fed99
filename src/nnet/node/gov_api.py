"""The daemon's governance reads: `GET /proposals` (paged, node/paging.py) and `/proposals/{id}`.

Each proposal is served with its live tally (what would happen if voting ended now) and how many
blocks are left in its current period, computed from committed state by the same functions the
epoch-end tally uses.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet.chain.governance import PROPOSAL_STATUSES, compute_tally, get_proposal
from nnet.chain.keys import NEXT_PROPOSAL_KEY, proposal_key
from nnet.chain.params import get_param
from nnet.chain.types import Proposal
from nnet.errors import InvalidTx, MalformedInput, NotFound
from nnet.node.paging import newest_first

__all__ = ["describe_proposal", "gov_routes"]


def describe_proposal(state: Any, height: int, proposal: Proposal) -> dict[str, Any]:
    """A proposal as clients see it: amounts as strings, votes counted, live tally, time left."""
    view = proposal.to_state()
    view["deposit"] = str(proposal.deposit)
    view["deposits"] = {k: str(v) for k, v in proposal.deposits.items()}
    payload = dict(proposal.payload)
    if "amount" in payload:
        payload["amount"] = str(payload["amount"])
    view["payload"] = payload
    view["votes"] = dict(sorted(proposal.votes.items()))
    epoch_blocks = get_param(state, "epoch_blocks")
    end_epoch = {"deposit": proposal.deposit_end_epoch, "voting": proposal.voting_end_epoch}
    end = end_epoch.get(proposal.status)
    if end is not None:
        last_block = (end + 1) * epoch_blocks - 1
        view["period_ends_at_height"] = last_block
        view["blocks_left"] = max(0, last_block - height)
    if proposal.status == "voting":
        view["tally_if_ended_now"] = compute_tally(state, proposal).to_state()
    return view


def gov_routes(node: Any) -> list[Route]:
    """Routes reading `node.state` (committed state) and `node.head`."""

    async def list_proposals(request: Request) -> Response:
        """Newest first, paged (node/paging.py): `after` is the id of the last proposal seen."""
        height = node.head.height

        def load(pid: int) -> Proposal | None:
            raw = node.state.get(proposal_key(pid))
            return None if raw is None else Proposal.from_state(raw)

        page = newest_first(
            request.query_params,
            "proposals",
            PROPOSAL_STATUSES,
            int(node.state.get(NEXT_PROPOSAL_KEY) or 1),
            load,
            lambda p: p.status,
            lambda p: describe_proposal(node.state, height, p),
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
