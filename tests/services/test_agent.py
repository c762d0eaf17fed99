"""The agent's signing record (services/agent_store.py, agent_tx.py) against a fake node: a step
is signed once and recorded before it is sent; after a "crash" the recorded transaction is sent
again as is, never re-signed; a transaction whose nonce went elsewhere is retired, and only then
may the step be signed anew; agent.db refuses another key's work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nnet.errors import NotFound, UsageError
from nnet.services.agent import earned_from
from nnet.services.agent_store import AgentStore
from nnet.services.agent_tx import Signer
from tests.chain.helpers import account


class FakeNode:
    """Just enough of NodeClient: nonces, params, submit (recording), receipts."""

    def __init__(self) -> None:
        self.nonce = 0
        self.sent: list[dict[str, Any]] = []
        self.committed: set[str] = set()
        self.answer: dict[str, Any] | None = None  # the next submit's answer, if set

    def next_nonce(self, address: str) -> int:
        return self.nonce

    def params(self) -> dict[str, Any]:
        return {"min_fee": {"value": "0"}, "min_fee_per_byte": {"value": "0"}}

    def submit(self, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.sent += txs
        answer, self.answer = self.answer, None
        return [answer or {"hash": "0x", "status": "pending"}]

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        if tx_hash in self.committed:
            return {"status": "committed", "height": 5}
        raise NotFound(tx_hash)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[FakeNode, Signer]:
    me = account("agent-me")
    node = FakeNode()
    store = AgentStore(tmp_path / "agent.db", me.address)
    signer = Signer(node, store, "nnet-devnet", me.address, me.secret)  # type: ignore[arg-type]
    return node, signer


def test_a_step_is_signed_once_and_sent_again_as_is_after_a_restart(
    parts: tuple[FakeNode, Signer], tmp_path: Path
) -> None:
    node, signer = parts
    first = signer.act(3, "claim", "job.claim", {"job": 3})
    assert first is not None and first.state == "sent" and len(node.sent) == 1
    # a restart: a new store on the same file, and the node lost the transaction
    store = AgentStore(tmp_path / "agent.db", signer.address)
    again = Signer(node, store, "nnet-devnet", signer.address, signer.secret)  # type: ignore[arg-type]
    node.nonce = 7  # whatever the node says now, the recorded transaction is what goes
    second = again.act(3, "claim", "job.claim", {"job": 3})
    assert second is not None and second.tx_hash == first.tx_hash
    assert node.sent[1] == node.sent[0]
    node.committed.add(first.tx_hash)
    assert again.act(3, "claim", "job.claim", {"job": 3}).state == "committed"  # type: ignore[union-attr]
    assert len(node.sent) == 2  # a committed step is not sent again


def test_a_transaction_whose_nonce_went_elsewhere_is_retired_then_signed_anew(
    parts: tuple[FakeNode, Signer],
) -> None:
    node, signer = parts
    first = signer.act(4, "proof", "proof.submit", {"job": 4, "proof": {}})
    assert first is not None
    node.nonce = 1  # the nonce was spent by another transaction; the node lost ours
    node.answer = {"error": "nonce 0 is used", "code": "bad_nonce"}
    assert signer.act(4, "proof", "proof.submit", {"job": 4, "proof": {}}).state == "retired"  # type: ignore[union-attr]
    third = signer.act(4, "proof", "proof.submit", {"job": 4, "proof": {}})
    assert third is not None and third.tx["nonce"] == 1 and third.tx_hash != first.tx_hash
    kinds = sorted(a.kind for a in signer.store.actions(4))
    assert kinds[0] == "proof" and kinds[1].startswith("proof~")


def test_a_dry_run_signs_and_records_nothing(parts: tuple[FakeNode, Signer]) -> None:
    node, signer = parts
    signer.dry_run = True
    assert signer.act(5, "seed", "proof.seed", {"job": 5}) is None
    assert node.sent == [] and signer.store.actions() == []


def test_agent_db_refuses_another_keys_work(tmp_path: Path) -> None:
    AgentStore(tmp_path / "agent.db", account("one").address).close()
    with pytest.raises(UsageError, match="holds the work of"):
        AgentStore(tmp_path / "agent.db", account("two").address)


def test_job_rows_keep_large_amounts_and_what_is_not_updated(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent.db", account("one").address)
    store.put_job(1, "worker", "claiming", fee=10 * 10**18)
    store.put_job(1, "worker", "accepted", earned=9 * 10**18, outcome="accepted")
    row = store.job(1)
    assert row is not None and row.fee == 10 * 10**18 and row.earned == 9 * 10**18
    assert store.active_jobs() == []


def test_earnings_count_the_node_and_verifier_shares() -> None:
    view = {
        "assignee": "0xA",
        "settlement": {"to_node": "90", "to_verifiers": {"0xB": "5", "0xC": "5"}},
    }
    assert earned_from(view, "0xA") == 90 and earned_from(view, "0xB") == 5
    assert earned_from(view, "0xD") == 0
