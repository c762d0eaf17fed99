"""GET /validators: the validator set that signs a height, for light clients (`nnet block
verify`) and operators.

    GET /validators?height=H  ->  {"height", "since", "validators": [{"address", "bls_key",
                                   "power", "net"}], "total_power", "hash"}

Without `height`, the set that signs the next block. `hash` is what headers carry as
`validators_hash` (chain/validators.py), so a client checks the set it is given against the
header it verifies. A sequencer chain has no set: 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet.chain.validators import ValidatorSet, get_validator
from nnet.errors import MalformedInput, NotFound
from nnet.node.core import Node
from nnet.node.storage import load_validator_set

__all__ = ["validator_routes", "validators_view"]


def validators_view(node: Node, height: int) -> dict[str, Any]:
    """The set that signs block `height`, as GET /validators serves it."""
    if not node.is_network:
        raise NotFound("this chain has no validator set (a single-sequencer chain)")
    if not 1 <= height <= node.head.height + 1:
        raise NotFound(f"no validator set for height {height}; the head is {node.head.height}")
    raw = load_validator_set(node.db, height)
    if raw is None:
        raise NotFound(f"no validator set is recorded for height {height}")
    vset = ValidatorSet.from_state(raw)
    members = []
    for m in vset.members:
        record = get_validator(node.state, m.address)
        members.append(
            {
                "address": m.address,
                "bls_key": "0x" + m.bls_key.hex(),
                "power": m.power,
                "net": record.net if record is not None else "",
            }
        )
    return {
        "height": height,
        "since": vset.since,
        "validators": members,
        "total_power": vset.total_power,
        "hash": vset.hash_hex,
    }


def validator_routes(node: Node) -> list[Route]:
    async def get_validators(request: Request) -> Response:
        raw = request.query_params.get("height")
        if raw is None:
            height = node.head.height + 1
        elif raw.isascii() and raw.isdigit() and len(raw) <= 18:
            height = int(raw)
        else:
            raise MalformedInput("height must be a non-negative integer")
        return JSONResponse(validators_view(node, height))

    return [Route("/validators", get_validators, methods=["GET"])]
