"""The node agent's transactions: signed once per step, recorded before sending, sent again as is.

`nnet node run` signs without a person at the keyboard, so it does not go through the CLI's
`commands/_txflow.py` (commands sit above services). It takes the same lower-level path that
module takes: `nnet.tx.build_tx`, the chain's minimum fee for the size (`chain.fees.fit_fee`
with the node's /params), the node's next nonce, `NodeClient.submit`. What it adds is the
signing record (services/agent_store.py): a step's transaction is written to agent.db before it
is sent, and a restart sends that very transaction again rather than signing another.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from nnet.chain.fees import FeeSchedule, fit_fee
from nnet.client import NodeClient
from nnet.errors import InvalidTx, NotFound
from nnet.services.agent_store import Action, AgentStore
from nnet.tx import build_tx

__all__ = ["Signer", "fee_schedule"]

log = logging.getLogger("nnet.agent")


def fee_schedule(client: NodeClient) -> FeeSchedule:
    """The chain's fee parameters from the node's /params (0 for one a node lacks)."""
    view = client.params()

    def value(name: str) -> int:
        entry = view.get(name)
        return int(entry["value"]) if isinstance(entry, dict) else 0

    return FeeSchedule(value("min_fee"), value("min_fee_per_byte"))


@dataclass
class Signer:
    """Signs and sends the agent's steps as `address`, each at most once (see the module doc)."""

    client: NodeClient
    store: AgentStore
    chain: str
    address: str
    secret: bytes
    dry_run: bool = False

    def act(self, job: int, kind: str, type_: str, body: dict[str, Any]) -> Action | None:
        """Take step `kind` of `job` with a `type_` transaction: the recorded one if the step was
        signed before (sent again if the node lost it), else a new one, recorded, then sent.
        None in a dry run (nothing signed)."""
        done = self.store.action(job, kind)
        if done is not None:
            return self.confirm(done)
        if self.dry_run:
            log.info(
                "would send %s for job %d (dry run: nothing signed)",
                type_,
                job,
                extra={"event": "would_send", "job": job, "kind": kind, "tx_type": type_},
            )
            return None
        nonce = self.client.next_nonce(self.address)
        schedule = fee_schedule(self.client)
        tx = fit_fee(
            lambda f: build_tx(self.chain, type_, self.address, nonce, f, body), schedule
        ).signed(self.secret)
        try:
            self.store.record(job, kind, tx.hash_hex, tx.to_dict())  # before it leaves
        except sqlite3.IntegrityError:  # another pass recorded it meanwhile: send that one
            recorded = self.store.action(job, kind)
            return None if recorded is None else self.confirm(recorded)
        log.info(
            "signed %s for job %d (nonce %d), sending %s",
            type_,
            job,
            nonce,
            tx.hash_hex,
            extra={"event": "signed", "job": job, "kind": kind, "tx": tx.hash_hex},
        )
        return self._send(self.store.action(job, kind))

    def confirm(self, action: Action) -> Action:
        """Where a recorded transaction stands now: committed, still pending, or lost by the node
        (then sent again); one whose nonce went to another transaction is retired."""
        if action.state in ("committed", "refused", "retired"):
            return action
        try:
            receipt = self.client.receipt(action.tx_hash)
        except NotFound:
            return self._send(action)
        if receipt.get("status") == "committed":
            self.store.mark(action.job, action.kind, "committed")
            log.info(
                "job %d: %s committed at height %s",
                action.job,
                action.tx["type"],
                receipt.get("height"),
                extra={
                    "event": "committed",
                    "job": action.job,
                    "kind": action.kind,
                    "tx": action.tx_hash,
                    "height": receipt.get("height"),
                },
            )
            return self.store.action(action.job, action.kind) or action
        return action

    def _send(self, action: Action | None) -> Action:
        assert action is not None
        [result] = self.client.submit([action.tx])
        code = result.get("code")
        if "error" not in result or code == "duplicate":
            self.store.mark(action.job, action.kind, "sent")
        elif code == "bad_nonce" and self.client.next_nonce(self.address) > action.tx["nonce"]:
            # its nonce is spent, and not by it (the receipt lookup found nothing): it can never
            # commit, so nothing conflicting can come of signing the step again
            self.store.retire(action.job, action.kind, str(result["error"]))
            log.warning(
                "job %d: %s can never commit (%s); it will be signed again",
                action.job,
                action.kind,
                result["error"],
                extra={"event": "retired", "job": action.job, "kind": action.kind},
            )
            return replace(action, state="retired")
        else:
            self.store.mark(action.job, action.kind, "refused", str(result["error"]))
            log.error(
                "job %d: the node refused %s: %s",
                action.job,
                action.tx["type"],
                result["error"],
                extra={"event": "refused", "job": action.job, "kind": action.kind, "code": code},
            )
            raise InvalidTx(f"the node refused {action.tx['type']}: {result['error']}", code=code)
        return self.store.action(action.job, action.kind) or action
