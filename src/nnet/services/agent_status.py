"""`nnet node status`: what the agent has done and where its jobs stand, from agent.db and the node.

For each job the agent took part in: its role, stage, outcome and earnings (agent.db), and for an
unsettled one the live deadline from the chain (height and blocks left). Then the node's own
figures: reputation (its registration) and pending rewards (its account).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnet.client import NodeClient
from nnet.errors import NotFound
from nnet.services.agent_store import AgentStore

__all__ = ["agent_status"]


def agent_status(client: NodeClient, path: Path, address: str) -> dict[str, Any]:
    """{"address", "node", "height", "reputation", "earned", "pending_rewards", "jobs": [...]};
    reputation and pending rewards are the node's, which a hot key acts for."""
    store = AgentStore(path, address)
    try:
        rows = store.jobs()
        actions = store.actions()
    finally:
        store.close()
    height = int(client.status()["height"])
    jobs = []
    for row in rows:
        deadline: int | None = None
        left: int | None = None
        if row.outcome is None:
            try:
                view = client.job(row.job)
            except NotFound:
                view = {}
            deadline, left = view.get("deadline_height"), view.get("blocks_left")
        jobs.append(
            {
                "job": row.job,
                "role": row.role,
                "stage": row.stage,
                "deadline_height": deadline,
                "blocks_left": left,
                "outcome": row.outcome,
                "fee": str(row.fee),
                "earned": str(row.earned),
                "signed": [a.kind for a in actions if a.job == row.job],
            }
        )
    node = address  # the node this key acts for: itself, or the node it operates (a hot key)
    try:
        record = client.node(address)
        node = str(record["address"])
        reputation: int | None = int(record["reputation"])
    except NotFound:
        reputation = None
    pending = int(client.account(node).get("pending_rewards", "0"))
    return {
        "address": address,
        "node": node,
        "height": height,
        "reputation": reputation,
        "earned": str(sum(r.earned for r in rows)),
        "pending_rewards": str(pending),
        "jobs": jobs,
    }
