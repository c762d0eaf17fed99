"""The node agent's worker steps (services/agent.py drives them): whether an open job fits this
node, then fetch and train, prove, open, each through the same services the CLI uses
(services/market.py for the files, proof/ for training and the commitment).

A job's folder is WORKDIR/job-ID: `job/` holds its spec and data as `nnet job fetch` writes them
(bound to this prover), `run/` the training run. Training runs on the agent's training thread
(inline with --once); a run folder left by a killed agent is continued with the trainer's
resume, bit for bit as if it had never stopped (a complete one is proved as it is; one killed
before the trainer wrote its run.json is started afresh).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnet.errors import Rejected

if TYPE_CHECKING:
    from nnet.proof.trainer import Progress
    from nnet.services.agent import Agent

__all__ = ["fits", "open_proof", "prove", "train"]

log = logging.getLogger("nnet.agent")


def job_dir(agent: Agent, job_id: int) -> Path:
    return agent.options.workdir / f"job-{job_id}"


def fits(agent: Agent, view: dict[str, Any]) -> str | None:
    """Why this node should not claim the open job `view`, or None when it fits."""
    from nnet.services.market import check_job_record, read_job_spec

    opts = agent.options
    me = agent.node or agent.address
    submitter = str(view["submitter"])
    if submitter.lower() == me.lower():
        return "it is this node's own job"
    if int(view["fee"]) < opts.min_fee:
        return f"its fee {view['fee']} is under --min-fee {opts.min_fee}"
    if opts.allow and submitter.lower() not in {a.lower() for a in opts.allow}:
        return f"its researcher {submitter} is not in --allow"
    left = view.get("blocks_left")
    if left is not None and left < opts.margin_blocks:
        return (
            f"its claim deadline is {left} blocks away, inside the margin of {opts.margin_blocks}"
        )
    record = agent.client.node(me)
    if int(record["free"]) < int(view["collateral"]):
        return f"it locks {view['collateral']} of collateral; {record['free']} is free"
    spec = read_job_spec(agent.client, view, job_dir(agent, int(view["id"])) / "spec")
    problems = check_job_record(view, spec)
    if problems:
        return problems[0]
    device, threads = str(spec.job["device"]), int(spec.job["threads"])
    env_class = environment_class(agent, device, threads)
    if env_class is None:
        return f"this machine has no {device} device"
    if view["mode"] == "exact":
        params = agent.client.params()
        least = int(params["market_min_class_pool"]["value"])
        pool = [
            n
            for n in agent.client.nodes()
            if n["env"] == env_class and n["address"] not in (me, submitter)
        ]
        if len(pool) < least:
            return (
                f"exact mode draws its verifiers among class {env_class}: {len(pool)} other nodes "
                f"have it, the chain wants {least}"
            )
    return None


def environment_class(agent: Agent, device: str, threads: int) -> str | None:
    """This machine's class for a job on `device` with `threads` (None: no such device)."""
    key = (device, threads)
    if key not in agent._classes:
        import torch

        from nnet.proof.envclass import measure_environment

        if device == "cuda" and not torch.cuda.is_available():
            return None
        agent._classes[key] = str(measure_environment(device, threads)["class"])
    return agent._classes[key]


def train(agent: Agent, view: dict[str, Any]) -> bool:
    """Fetch the job and train it (resuming a run a restart left); True once the run is complete.
    Off --once, training goes to the agent's training thread and this returns False until done."""
    job_id = int(view["id"])
    if job_id in agent._training:
        return False
    row = agent.store.job(job_id)
    if row is not None and row.stage == "trained":
        return True
    if agent.options.dry_run:
        log.info(
            "job %d: would fetch and train it (dry run)",
            job_id,
            extra={"event": "would_train", "job": job_id},
        )
        return False

    agent.store.put_job(job_id, "worker", "training")
    if agent.options.once:
        _fetch_and_train(agent, view)
        agent.store.put_job(job_id, "worker", "trained")
        return True
    # the thread only trains; the agent's own thread records the outcome (`_reap_training`)
    agent.submit_training(job_id, lambda: _fetch_and_train(agent, view))
    return False


def _fetch_and_train(agent: Agent, view: dict[str, Any]) -> None:
    from nnet.proof.rundir import RunDir
    from nnet.proof.spec import load_spec
    from nnet.proof.trainer import TrainOptions
    from nnet.proof.trainer import train as run_training
    from nnet.services.market import fetch_job

    job_id = int(view["id"])
    folder = job_dir(agent, job_id)
    spec_path = fetch_job(agent.client, view, folder / "job", bind_to=agent.address)
    run = folder / "run"
    resume = RunDir(run).exists()
    if resume and RunDir(run).read_manifest().get("complete"):
        # killed after the trainer's last write, before the run was noted done: prove it as is
        log.info(
            "job %d: the run in %s is complete",
            job_id,
            run,
            extra={"event": "trained", "job": job_id},
        )
        return
    if not resume and run.exists():
        shutil.rmtree(run)  # killed while the trainer set it up: nothing in it to resume
    log.info(
        "job %d: %s training into %s",
        job_id,
        "resuming" if resume else "starting",
        run,
        extra={"event": "train", "job": job_id, "resume": resume},
    )
    last = [0.0]

    def progress(p: Progress) -> None:
        agent.metrics.training(job_id, p.step, p.steps)
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and p.step != p.steps:
            return
        last[0] = now
        log.info(
            "job %d: step %d/%d, loss %.4f, %.0f steps/s",
            job_id,
            p.step,
            p.steps,
            p.loss,
            p.steps_per_s,
            extra={"event": "progress", "job": job_id, "step": p.step, "steps": p.steps},
        )

    manifest = run_training(
        load_spec(spec_path), run, TrainOptions(resume=resume, progress=progress)
    )
    log.info(
        "job %d: trained %d steps, %d checkpoints",
        job_id,
        manifest["steps_done"],
        manifest["checkpoints"],
        extra={"event": "trained", "job": job_id},
    )


PROGRESS_EVERY_S = 10.0


def prove(agent: Agent, view: dict[str, Any]) -> None:
    """Check the run as a verifier will, upload the final model, sign and send the proof."""
    from nnet.errors import NotFound, PermitRefused, PermitRequired, StorageFull, TooLarge
    from nnet.proof.commitment import make_proof
    from nnet.proof.rundir import RunDir
    from nnet.proof.trace import check_trace
    from nnet.services.market import upload_model

    job_id = int(view["id"])
    recorded = agent.store.action(job_id, "proof")
    if recorded is not None:
        agent.signer.confirm(recorded)
        return
    run = RunDir(job_dir(agent, job_id) / "run")
    entries = run.read_trace()
    commitment = run.get_commitment(entries)
    spec = run.read_spec()
    root = bytes.fromhex(commitment["root"][2:])
    reasons = check_trace(
        entries, spec.checkpoint_step, root, commitment["init"], commitment["final"]
    )
    if reasons:  # every verifier would reject it: a missed proof costs less than a rejected one
        raise Rejected(f"job {job_id}: not proving a run every verifier rejects: {reasons[0]}")
    try:
        model: str | None = upload_model(agent.client, run, agent.secret)
    except (NotFound, PermitRefused, PermitRequired, StorageFull, TooLarge) as e:
        log.warning(
            "job %d: the final model was not uploaded (%s); proving without it",
            job_id,
            e.one_line(),
            extra={"event": "model_not_uploaded", "job": job_id},
        )
        model = None
    proof = make_proof(run, agent.secret, str(job_id), model=model)
    agent.signer.act(job_id, "proof", "proof.submit", {"job": job_id, "proof": proof})
    if not agent.options.dry_run:
        agent.store.put_job(job_id, "worker", "proving")


def open_proof(agent: Agent, view: dict[str, Any]) -> None:
    """Publish the challenged checkpoints and send proof.open (once)."""
    from nnet.proof.rundir import RunDir
    from nnet.services.market import publish_openings

    job_id = int(view["id"])
    recorded = agent.store.action(job_id, "open")
    if recorded is not None:
        agent.signer.confirm(recorded)
        return
    if agent.options.dry_run:
        agent.signer.act(job_id, "open", "proof.open", {})
        return
    challenge = view["challenge"]
    log.info(
        "job %d: opening checkpoints %s",
        job_id,
        challenge["openings"],
        extra={"event": "open", "job": job_id},
    )
    run = RunDir(job_dir(agent, job_id) / "run")
    openings = publish_openings(agent.client, run, challenge, agent.secret)
    agent.signer.act(job_id, "open", "proof.open", {"job": job_id, "openings": openings})
    agent.store.put_job(job_id, "worker", "opening")
