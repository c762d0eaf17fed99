"""`nnet node run`: one long-lived process per node that works the marketplace unattended.

It follows the chain through the daemon's event feed (`GET /events`, `NodeClient.events`): an
event names the jobs to look at (job.submitted: one to claim; proof.submitted: one whose
verifiers the next block draws), and every page, even an empty one that only says a block was
committed, re-reads the jobs it tracks, since the draw and the deadlines leave no event. For each
tracked job it takes the step its role allows now:

- worker (the job's assignee, or an open job it picks): claim an open job that fits (its spec's
  device here, an exact-mode verifier pool of this machine's class, fee ≥ --min-fee, submitter
  in --allow, enough free collateral, the claim deadline not within the margin); fetch the spec
  and data; train (on a thread, so verifier duties go on; `--resume` after a restart); upload the
  final model and send the proof; once every drawn verifier has seeded the challenge, publish the
  openings (proof.open). Each deadline is logged with the blocks left and the safety margin.
- verifier (drawn for the job): its share of the challenge randomness (proof.seed), then, once
  the openings are in, the replay and the signed attestation (proof.attest), through
  services/verify.py's `verify_on_chain` as `nnet verify JOB --send` does.
- rewards: `reward.claim` every --claim-every blocks when something is pending.

What it did lives in agent.db (services/agent_store.py); every transaction goes through the
signing record of services/agent_tx.py, so a kill -9 at any point resumes without a second,
conflicting signature. `once` runs one pass (catch up, act, train inline) for cron; `dry_run`
logs what it would send and signs, claims and trains nothing. One log line per action on the
`nnet.agent` logger, with an `event` and the job in its extra fields (JSON with --log-json).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnet.client import NodeClient
from nnet.errors import NnetError, NodeUnreachable, NotFound
from nnet.services.agent_metrics import AgentObserver
from nnet.services.agent_store import AgentStore, JobRow
from nnet.services.agent_tx import Signer

__all__ = ["Agent", "AgentOptions", "earned_from"]

log = logging.getLogger("nnet.agent")

FINAL = ("accepted", "rejected", "refunded", "expired", "cancelled")
ACTIVE = ("open", "claimed", "proved", "drawn", "challenged", "opened")
PROGRESS_EVERY_S = 10.0
RETRY_S = 2.0
# events that make a job worth a look (besides job.submitted, for a worker): a verifier learns of
# a proof (the next block draws its verifiers), a worker of its claim, seeds and openings
_FOLLOWED = ("proof.submitted", "job.claimed", "proof.seeded", "proof.opened")


@dataclass(frozen=True)
class AgentOptions:
    """What `nnet node run` was told (its flags)."""

    state: Path  # agent.db
    workdir: Path  # job folders: spec and data, the run
    worker: bool = True
    verifier: bool = True
    min_fee: int = 0  # base units
    allow: tuple[str, ...] = ()  # researchers whose jobs it takes; empty: anyone's
    threads: int = 1  # CPU threads of the class measured for cpu jobs
    margin_blocks: int = 5  # a deadline closer than this is not taken on
    claim_every: int = 0  # blocks between reward claims; 0: never
    compare: str = "auto"
    once: bool = False
    dry_run: bool = False
    wait_s: int = 25  # long-poll of the feed


def earned_from(view: dict[str, Any], me: str) -> int:
    """What a settled job paid `me` (as its node or as one of its verifiers), in base units."""
    s = view.get("settlement") or {}
    total = int(s.get("to_node", 0)) if view.get("assignee") == me else 0
    for key in ("to_verifiers", "to_catchers"):
        shares = s.get(key)
        if isinstance(shares, dict):
            total += int(shares.get(me, 0))
    return total


@dataclass
class Agent:
    """One node's agent: `run` follows the feed until stopped (or one pass with `once`)."""

    client: NodeClient
    address: str
    secret: bytes
    options: AgentOptions
    store: AgentStore = field(init=False)
    signer: Signer = field(init=False)
    tracked: set[int] = field(default_factory=set)
    node: str = ""  # the node this key acts for: itself, or the node it operates (hot key)
    head: int = 0
    stopping: bool = False
    _training: dict[int, Future[Any]] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _classes: dict[tuple[str, int], str] = field(default_factory=dict)
    _skipped: set[int] = field(default_factory=set)
    _said: set[tuple[int, str, int]] = field(default_factory=set)  # deadlines logged
    metrics: AgentObserver = field(default_factory=AgentObserver)  # --metrics-listen

    def __post_init__(self) -> None:
        self.store = AgentStore(self.options.state, self.address)
        chain = str(self.client.status()["chain"])
        self.signer = Signer(
            self.client, self.store, chain, self.address, self.secret, self.options.dry_run
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        """Follow the chain and act, until `stopping` (or after one pass with `once`)."""
        roles = [
            r
            for r, on in (("worker", self.options.worker), ("verifier", self.options.verifier))
            if on
        ]
        log.info(
            "agent for %s (%s)%s; state in %s",
            self.address,
            " and ".join(roles) or "rewards only",
            ", dry run" if self.options.dry_run else "",
            self.options.state,
            extra={"event": "agent_started", "address": self.address, "roles": roles},
        )
        while not self.stopping:
            try:
                self._follow()
            except NodeUnreachable as e:
                self.metrics.error(e.code)
                log.warning(
                    "%s; retrying in %.0f s", e.message, RETRY_S, extra={"event": "node_down"}
                )
                if self.options.once:
                    raise
                time.sleep(RETRY_S)
            if self.options.once:
                return

    def _follow(self) -> None:
        self.head = int(self.client.status()["height"])
        self.scan()
        cursor = self.store.get_meta("cursor") or str(self.head + 1)
        caught_up = False

        def on_page(next_cursor: str, head: int) -> None:
            nonlocal caught_up
            self.store.set_meta("cursor", next_cursor)
            self.head = head
            caught_up = next_cursor == str(head + 1)
            if not self.options.once or caught_up:
                self.step()

        def until() -> bool:
            return self.stopping or (self.options.once and caught_up)

        wait = 0 if self.options.once else self.options.wait_s
        for event in self.client.events(after=cursor, wait_s=wait, on_page=on_page, until=until):
            self.on_event(event)

    def scan(self) -> None:
        """Track the jobs that may concern this node now: its unsettled ones (agent.db), and
        every job the chain has in a status where a worker or verifier acts."""
        self.tracked.update(r.job for r in self.store.active_jobs())
        wanted = [s for s in ACTIVE if s != "open" or self.options.worker]
        for status in wanted:
            for view in self.client.jobs(status):
                self.tracked.add(int(view["id"]))

    def on_event(self, event: dict[str, Any]) -> None:
        job = event.get("job")
        if not isinstance(job, int):
            return
        kind = event.get("type")
        if kind in _FOLLOWED or (kind == "job.submitted" and self.options.worker):
            self.tracked.add(job)

    def acting_node(self) -> str:
        """The node this key acts for (docs/operations.md, owner and operator keys): the node
        it operates, or its own address (registered or not yet). Asked again every pass, so a
        `node.set_operator` by the owner takes effect here too."""
        try:
            return str(self.client.node(self.address)["address"])
        except NotFound:
            return self.address

    def step(self) -> None:
        """One pass over the tracked jobs (and the reward schedule)."""
        self.node = self.acting_node()
        self._reap_training()
        for job_id in sorted(self.tracked):
            try:
                self.on_job(job_id)
            except NodeUnreachable:
                raise
            except NnetError as e:
                self.metrics.error(e.code)
                log.error(
                    "job %d: %s",
                    job_id,
                    e.one_line(),
                    extra={"event": "job_error", "job": job_id, "code": e.code},
                )
            except Exception as e:  # a bug or a broken file: the other jobs go on
                self.metrics.error("internal")
                log.exception(
                    "job %d: %s: %s",
                    job_id,
                    type(e).__name__,
                    e,
                    extra={"event": "job_error", "job": job_id, "code": "internal"},
                )
        try:
            self.claim_rewards()
        except NnetError as e:
            if isinstance(e, NodeUnreachable):
                raise
            self.metrics.error(e.code)
            log.error("reward claim: %s", e.one_line(), extra={"event": "claim_error"})

    # ---- one job ------------------------------------------------------------------------------
    def on_job(self, job_id: int) -> None:
        view = self.client.job(job_id)
        status = view["status"]
        row = self.store.job(job_id)
        if status in FINAL:
            self._settled(view, row)
            self.tracked.discard(job_id)
        elif view.get("assignee") == self.node:
            self._work(view, row)
        elif self.node in (view.get("drawn") or []):
            self._verify(view, row)
        elif status == "open" and self.options.worker:
            self._consider(view, row)
        elif status not in ("proved",) and row is None:
            self.tracked.discard(job_id)  # someone else's; a proof.submitted brings it back

    def _deadline(self, view: dict[str, Any], what: str) -> None:
        """Log the current stage's deadline, its blocks left and the margin kept: once, and on
        every pass once fewer blocks than the margin are left."""
        left = view.get("blocks_left")
        if left is None:
            return
        self.metrics.deadline(int(view["id"]), str(view["status"]), int(view["deadline_height"]))
        said = (int(view["id"]), what, int(view["deadline_height"]))
        inside = left < self.options.margin_blocks
        if said in self._said and not inside:
            return  # once per stage and deadline; every pass only once inside the margin
        self._said.add(said)
        level = logging.WARNING if inside else logging.INFO
        log.log(
            level,
            "job %d: %s due by height %d, %d blocks left (margin %d)",
            view["id"],
            what,
            view["deadline_height"],
            left,
            self.options.margin_blocks,
            extra={
                "event": "deadline",
                "job": view["id"],
                "stage": view["status"],
                "deadline_height": view["deadline_height"],
                "blocks_left": left,
                "margin": self.options.margin_blocks,
            },
        )

    def _settled(self, view: dict[str, Any], row: JobRow | None) -> None:
        if row is None or row.outcome is not None:
            return
        earned = earned_from(view, self.node)
        outcome = view["status"]
        self.store.put_job(view["id"], row.role, outcome, earned=earned, outcome=outcome)
        log.info(
            "job %d settled %s (%s); earned %d base units",
            view["id"],
            outcome,
            (view.get("settlement") or {}).get("reason", ""),
            earned,
            extra={
                "event": "settled",
                "job": view["id"],
                "outcome": outcome,
                "earned": str(earned),
            },
        )

    # ---- worker -------------------------------------------------------------------------------
    def _consider(self, view: dict[str, Any], row: JobRow | None) -> None:
        from nnet.services.agent_worker import fits

        job_id = int(view["id"])
        if row is not None:  # our claim is on its way
            action = self.store.action(job_id, "claim")
            if action is not None:
                self.signer.confirm(action)
            return
        busy = [r.job for r in self.store.active_jobs() if r.role == "worker"]
        if busy:
            return  # one job at a time; it stays tracked for when this node is free
        why = fits(self, view)
        if why is not None:
            if job_id not in self._skipped:
                self._skipped.add(job_id)
                log.info(
                    "job %d: not taken: %s",
                    job_id,
                    why,
                    extra={"event": "skipped", "job": job_id, "reason": why},
                )
            self.tracked.discard(job_id)
            return
        self._deadline(view, "claim")
        if self.options.dry_run:
            self.signer.act(job_id, "claim", "job.claim", {"job": job_id})
            self.tracked.discard(job_id)  # said once
            return
        self.store.put_job(job_id, "worker", "claiming", fee=int(view["fee"]))
        self.signer.act(job_id, "claim", "job.claim", {"job": job_id})

    def _work(self, view: dict[str, Any], row: JobRow | None) -> None:
        from nnet.services.agent_worker import open_proof, prove, train

        job_id = int(view["id"])
        status = view["status"]
        if row is None:  # claimed by this key outside the agent: take it on
            self.store.put_job(job_id, "worker", status, fee=int(view["fee"]))
            row = self.store.job(job_id)
        if status == "claimed":
            self._deadline(view, "proof")
            if self.store.action(job_id, "proof") is None and not train(self, view):
                return  # training on its thread
            prove(self, view)
        elif status == "challenged":
            self._deadline(view, "openings")
            open_proof(self, view)
        else:
            self._note_stage(job_id, "worker", status, view)

    def _note_stage(self, job_id: int, role: str, stage: str, view: dict[str, Any]) -> None:
        row = self.store.job(job_id)
        if row is not None and row.stage != stage and not self.options.dry_run:
            self.store.put_job(job_id, role, stage, deadline=view.get("deadline_height"))
            log.info(
                "job %d is %s",
                job_id,
                stage,
                extra={"event": "stage", "job": job_id, "stage": stage},
            )

    def _reap_training(self) -> None:
        for job_id, future in list(self._training.items()):
            if not future.done():
                continue
            del self._training[job_id]
            error = future.exception()
            if error is None:
                self.store.put_job(job_id, "worker", "trained")
            else:
                self.metrics.error("train_failed")
                log.error(
                    "job %d: training failed: %s",
                    job_id,
                    error,
                    extra={"event": "train_failed", "job": job_id},
                )

    def submit_training(self, job_id: int, work: Any) -> Future[Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnet-train")
        future = self._pool.submit(work)
        self._training[job_id] = future
        return future

    # ---- verifier -----------------------------------------------------------------------------
    def _verify(self, view: dict[str, Any], row: JobRow | None) -> None:
        from nnet.services.verify import Attested, Contribution, verify_on_chain

        job_id = int(view["id"])
        status = view["status"]
        if not self.options.verifier:
            return
        if row is None and not self.options.dry_run:
            self.store.put_job(job_id, "verifier", status, fee=int(view["fee"]))
        if status == "drawn" and self.node not in (view.get("contributions") or {}):
            self._deadline(view, "challenge randomness")
            kind, tx_type = "seed", "proof.seed"
        elif status == "opened" and not any(
            a.get("verifier") == self.node for a in view.get("attestations") or []
        ):
            self._deadline(view, "attestation")
            kind, tx_type = "attest", "proof.attest"
        else:
            self._note_stage(job_id, "verifier", status, view)
            return
        recorded = self.store.action(job_id, kind)
        if recorded is not None:
            self.signer.confirm(recorded)
            return
        if self.options.dry_run:
            self.signer.act(job_id, kind, tx_type, {})
            self.tracked.discard(job_id)  # said once
            return
        log.info(
            "job %d: %s",
            job_id,
            "seeding the challenge" if kind == "seed" else "replaying",
            extra={"event": kind, "job": job_id},
        )

        def progress(message: str) -> None:
            log.info("job %d: %s", job_id, message, extra={"event": "replay", "job": job_id})

        step = verify_on_chain(
            self.client,
            job_id,
            self.address,
            self.secret,
            compare=self.options.compare,
            send=True,
            progress=progress,
        )
        if isinstance(step, Contribution):
            self.signer.act(job_id, "seed", "proof.seed", step.body)
        elif isinstance(step, Attested):
            verdict = "accept" if step.verdict.accept else "reject"
            log.info(
                "job %d: verdict %s%s",
                job_id,
                verdict,
                "" if step.verdict.accept else f" ({'; '.join(step.verdict.reasons[:3])})",
                extra={"event": "verdict", "job": job_id, "verdict": verdict},
            )
            self.signer.act(
                job_id, "attest", "proof.attest", {"job": job_id, "attestation": step.attestation}
            )

    # ---- rewards ------------------------------------------------------------------------------
    def claim_rewards(self) -> None:
        every = self.options.claim_every
        if every <= 0:
            return
        last = int(self.store.get_meta("last_claim_height") or 0)
        if self.head - last < every:
            return
        node = self.node or self.address
        pending = int(self.client.account(node).get("pending_rewards", "0"))
        if pending > 0:
            log.info(
                "claiming %d base units of rewards",
                pending,
                extra={"event": "claim_rewards", "amount": str(pending)},
            )
            body = {} if node == self.address else {"node": node}  # paid to the node's owner
            self.signer.act(0, f"reward.claim@{self.head}", "reward.claim", body)
        if not self.options.dry_run:
            self.store.set_meta("last_claim_height", str(self.head))
