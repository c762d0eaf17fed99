"""The quickstart's acts: the whole lifecycle on a throwaway local chain, through a Tour.

Keys; a devnet daemon; staking; GPU nodes registering (typed, as a user sets up once); then one
node agent (`nnet node run`) per node, and from there only the researcher types: its job is
claimed, trained, proved, challenged, opened, replayed by the drawn verifiers' agents and paid; a
cheating node's agent (its trainer swapped for a forger) is caught and slashed; staking rewards
claimed. Every step runs the real command a user would type, in its own process
(nnet.services.tour); `run_lifecycle` returns the summary `nnet quickstart` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnet.services.tour import StepFailed, Tour

__all__ = ["ACTORS", "CHAIN_PARAMS", "NODES", "narrate_reasons", "run_lifecycle"]

ACTORS = ("researcher", "gpu", "verifier-1", "verifier-2", "cheater")
NODES = ("gpu", "verifier-1", "verifier-2", "cheater")
# A devnet whose epochs last ~6 s (30 blocks of 0.2 s: two `nnet claim` processes fit in one
# epoch on a loaded 2-core laptop) with deadlines that fit it running a daemon and four agents.
EPOCH_BLOCKS = 30
CHAIN_PARAMS = (
    "market_proof_epochs=14",
    "market_open_epochs=7",
    "market_attest_epochs=8",
    "market_challenge_q=3",
)


def run_lifecycle(tour: Tour, data: Path | None) -> dict[str, Any]:
    """The acts of the tour; each returns what the summary reports. A NetworkTour
    (services/quickstart_net.py) runs them on a network of validators, and adds what the network
    did: its set and power, the heights it finalized and the light-client check of the last."""
    from nnet.services.quickstart_net import NetworkTour, act_finality, act_network

    network = tour if isinstance(tour, NetworkTour) else None
    summary: dict[str, Any] = {}
    addr = act_keys(tour)
    summary["addresses"] = addr
    summary["offline"] = act_offline(tour, addr)
    act_chain(tour, addr)
    if network is not None:
        summary["network"] = act_network(network)
        network.spread = True  # each node's set-up goes to a validator of its own
    act_nodes(tour)
    if network is not None:
        network.spread = False
    honest_spec, cheat_spec, dataset = write_jobs(tour, data)
    summary["dataset"] = dataset
    summary["honest_job"] = act_honest_job(tour, honest_spec)
    summary["cheating_job"] = act_cheating_job(tour, cheat_spec)
    summary["agents"] = stop_agents(tour)
    summary["staking"] = act_rewards(tour, addr)
    summary["nodes"] = nodes(tour, addr)
    summary["balances"] = balances(tour, addr)
    summary["supply_audit"] = audit(tour)
    if network is not None:
        summary["network"].update(act_finality(network, summary["network"]))
    return summary


def act_keys(tour: Tour) -> dict[str, str]:
    tour.act("1. keys: one per person (Ethereum keystore v3, mode 0600)")
    tour.addresses = {
        name: tour.json("key", "new", name, "--light-kdf", "--json")["address"] for name in ACTORS
    }
    return tour.addresses


def act_offline(tour: Tour, addr: dict[str, str]) -> dict[str, Any]:
    tour.act("2. a signed transaction, checked offline")
    tx = tour.json("transfer", addr["gpu"], "1.5", "--nonce", "0", key="researcher")
    ok = tour.json("tx", "verify", "-", input=json.dumps(tx) + "\n")
    tampered = dict(tx, body={**tx["body"], "amount": str(10**24)})
    bad = tour.json("tx", "verify", "-", input=json.dumps(tampered) + "\n", expect=1)
    tour.say(f"  genuine: ok={ok['ok']}; tampered copy: ok={bad['ok']} ({bad['error']})")
    return {"verified": ok["ok"], "tampered_rejected": not bad["ok"]}


def act_chain(tour: Tour, addr: dict[str, str]) -> None:
    from nnet.services.quickstart_net import NetworkTour

    funds = [f"--fund={a}=10000" for a in addr.values()]
    params = [f"--param={p}" for p in CHAIN_PARAMS]
    epochs = ["--epoch-blocks", str(EPOCH_BLOCKS), "--unbonding-epochs", "1"]
    if isinstance(tour, NetworkTour):
        tour.act(
            f"3. a local network: genesis with the six pools, funded accounts, "
            f"{tour.validators} validators"
        )
        epochs = ["--validators", str(tour.validators), *epochs]
    else:
        tour.act("3. a local chain: genesis with the six pools, funded accounts, a daemon")
    tour.run("devnet", "init", *epochs, *funds, *params)
    tour.start_daemon(block_time=0.2)
    status = tour.json("status", "--json")
    tour.say(f"  chain {status['chain']} at height {status['height']}")


def act_nodes(tour: Tour) -> None:
    tour.act("4. GPU nodes and verifiers stake and register (collateral at risk)")
    for name in NODES:
        tour.pipe(["stake", "1000"], ["send", "--wait"], key=name)
        tour.json(
            "node", "register", "--gpu", "cpu", "--device", "cpu", "--collateral", "500",
            "--send", "--wait", key=name,
        )  # fmt: skip


def write_jobs(tour: Tour, data: Path | None) -> tuple[Path, Path, str]:
    """Two job specs in the tour's home: MNIST when its files are there, else synthetic data."""
    import tomli_w

    jobs = tour.home / "jobs"
    jobs.mkdir()
    if data is not None:
        source = {
            "format": "idx",
            "path": str(data / "t10k-images-idx3-ubyte.gz"),
            "labels": str(data / "t10k-labels-idx1-ubyte.gz"),
            "holdout": 2000,
            "scale": 255.0,
        }
        dataset = f"MNIST t10k from {data}"
    else:
        source = {"path": str(_synthetic_data(jobs / "synthetic.safetensors")), "holdout": 200}
        dataset = "synthetic (MNIST not found; pass --mnist DIR)"
    base: dict[str, Any] = {
        "job": {"seed": 2024, "steps": 400, "batch_size": 64, "threads": 1},
        "model": {"name": "mlp", "hidden": [128]},
        "data": source,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "checkpoint": {"every": 40, "keep_every": 2},
    }
    honest = jobs / "honest.toml"
    honest.write_text(tomli_w.dumps(base))
    cheat = jobs / "second.toml"
    cheat.write_text(tomli_w.dumps({**base, "job": {**base["job"], "seed": 7, "steps": 240}}))
    return honest, cheat, dataset


def _synthetic_data(path: Path) -> Path:
    """2,000 random 1x8x8 "images" in 4 classes given by a fixed linear map: learnable."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 1, 8, 8, generator=g)
    w = torch.randn(64, 4, generator=g)
    save_file({"x": x, "y": (x.reshape(2000, -1) @ w).argmax(1)}, str(path))
    return path


def submit_job(tour: Tour, spec: Path) -> int:
    receipt = tour.json(
        "job",
        "submit",
        str(spec),
        "--fee",
        "100",
        "--verifiers",
        "2",
        "--send",
        "--wait",
        key="researcher",
    )
    job_id = int(next(e["job"] for e in receipt["events"] if e["type"] == "job.submitted"))
    tour.say(f"  job {job_id}: 100 NNET held in escrow")
    return job_id


# The cheating node: the product's own agent, its trainer swapped by this wrapper (never a switch
# in the product) for one that trains, then rewrites the run's history as a prover that skipped
# the work would (proof/forgery.py): every checkpoint on a straight line from the init to the
# final model, files, trace and manifest consistent with each other. Only replay can tell.
CHEATING_AGENT = """
import sys
import nnet.proof.trainer as trainer
from nnet.proof.forgery import forge_run, interpolate_states, read_states
from nnet.proof.rundir import RunDir

honest = trainer.train

def forged(spec, out, options=trainer.TrainOptions()):
    honest(spec, out, options)
    run = RunDir(out)
    forge_run(run, interpolate_states(read_states(run)), run.read_spec())
    return run.read_manifest()

trainer.train = forged
from nnet.cli import main
main(sys.argv[1:])
"""

_STAGES = {
    "claimed": "the {worker} agent claimed it (collateral locked), fetched spec and data, trains",
    "proved": "the {worker} agent proved its run (proof.submit); the next block draws verifiers",
    "drawn": "verifiers drawn; their agents each add their own randomness (a VRF output nobody "
    "else can compute) before the challenge is fixed",
    "challenged": "the challenge is fixed; the {worker} agent uploads and opens those checkpoints",
    "opened": "opened; the drawn verifiers' agents replay the segments and attest",
}


def start_agents(tour: Tour) -> None:
    """One `nnet node run` per node: the honest GPU node works jobs, the others only verify."""
    tour.say(
        "  from here on no node's step is typed: each agent follows the chain's event feed "
        "(GET /events) and claims, trains, proves, seeds, opens and attests on its own"
    )
    tour.start_agent("gpu")
    for name in ("verifier-1", "verifier-2", "cheater"):
        tour.start_agent(name, "--no-worker")


def follow_job(tour: Tour, job: int, worker: str, *, timeout_s: float = 300) -> dict[str, Any]:
    """Poll the chain until `job` settles, narrating each status the agents move it through."""
    from nnet.client import NodeClient

    names = {v: k for k, v in tour.addresses.items()}
    seen: set[str] = set()

    def settled(client: NodeClient) -> dict[str, Any] | None:
        dead = tour.agent_death()
        if dead:
            raise StepFailed(f"{dead} while job {job} was in flight{tour._daemon_death()}")
        view = client.job(job)
        status = str(view["status"])
        if status not in seen:
            seen.add(status)
            height = client.status()["height"]
            line = _STAGES.get(status, "")
            if status != "open":
                said = f": {line.format(worker=worker)}" if line else ""
                tour.say(f"  [height {height}] job {job} {status}{said}")
            if status == "drawn" and view.get("drawn"):
                tour.say(f"    drawn: {', '.join(names.get(a, a) for a in view['drawn'])}")
        if view.get("challenge") and "challenge" not in seen:
            seen.add("challenge")
            c = view["challenge"]
            tour.say(f"    challenged segments: {c['segments']} of {c['of']}")
        return view if view.get("settlement") else None

    with NodeClient(tour.url) as client:
        view = tour.wait_for(
            f"job {job} to settle", lambda: settled(client), timeout_s=timeout_s, every_s=0.2
        )
    return view


def act_honest_job(tour: Tour, spec: Path) -> dict[str, Any]:
    tour.act("5. an honest job, worked by agents: claim, train, prove, challenge, open, verify")
    start_agents(tour)
    job = submit_job(tour, spec)
    view = follow_job(tour, job, "gpu")
    s = view["settlement"]
    tour.say(
        f"  settled {s['outcome']}: node {_nnet(s.get('to_node', 0))}, verifiers "
        f"{_nnet(sum(int(x) for x in s.get('to_verifiers', {}).values()))}, treasury "
        f"{_nnet(s.get('to_treasury', 0))} NNET"
    )
    return {
        "job": job,
        "status": view["status"],
        "settlement": s,
        "heldout_accuracy": ((view.get("proof") or {}).get("metrics") or {}).get(
            "heldout_accuracy"
        ),
    }


def act_cheating_job(tour: Tour, spec: Path) -> dict[str, Any]:
    tour.act("6. a cheating node: fabricated checkpoints are caught by replay and slashed")
    tour.say(
        "  the cheater restarts its agent as a worker, the same `nnet node run` with its trainer "
        "swapped for one that, after training, rewrites every checkpoint on a straight line from "
        "the init to the final model, as if it had skipped the work in between; the gpu agent "
        "restarts as a verifier only, so the cheater is the one to claim"
    )
    tour.stop_agent("gpu")
    tour.start_agent("gpu", "--no-worker")
    tour.stop_agent("cheater")
    tour.start_agent("cheater", python=["-c", CHEATING_AGENT])
    job = submit_job(tour, spec)
    before = tour.json("node", "show", tour.addresses["cheater"], "--json", quiet=True)
    view = follow_job(tour, job, "cheater")
    after = tour.json("node", "show", tour.addresses["cheater"], "--json", quiet=True)
    reasons = sorted(
        {
            r
            for a in view.get("attestations", [])
            for r in a.get("attestation", a).get("reasons", [])
        }
    )
    slashed = int(before["collateral"]) - int(after["collateral"])
    tour.say(
        f"  settled {view['settlement']['outcome']}: cheater slashed {_nnet(slashed)} NNET, "
        f"reputation {before['reputation']} -> {after['reputation']}"
    )
    narrate_reasons(tour, reasons)
    return {
        "job": job,
        "status": view["status"],
        "slashed": str(slashed),
        "reputation": [before["reputation"], after["reputation"]],
        "reasons": reasons,
        "settlement": view["settlement"],
    }


def stop_agents(tour: Tour) -> dict[str, Any]:
    """Stop every agent (SIGTERM); what each signed, from its JSON log."""
    out = {}
    for name in NODES:
        signed = [e for e in tour.agent_events(name) if e.get("event") == "signed"]
        out[name] = {"signed": len(signed)}
    tour.stop_agents()
    tour.say(
        "  agents stopped: "
        + ", ".join(f"{n} signed {v['signed']} transactions" for n, v in out.items())
    )
    return out


def narrate_reasons(tour: Tour, reasons: list[str], shown: int = 3) -> None:
    """The first reasons of a rejection, each whole (a cut reason hides why the proof failed)."""
    for r in reasons[:shown]:
        tour.say(f"  reason: {r}")
    if len(reasons) > shown:
        tour.say(f"  ({len(reasons) - shown} more in the summary's cheating_job.reasons)")


def act_rewards(tour: Tour, addr: dict[str, str]) -> dict[str, Any]:
    tour.act("7. staking rewards: verified demand pays stakers each epoch; claim them")

    from nnet.client import NodeClient

    def fresh(client: NodeClient) -> int:
        """Rewards pending, seen in an epoch's first blocks (0 otherwise), so that both claims
        below fall in one epoch: the second must find nothing new to claim."""
        into_epoch = (int(client.status()["height"]) + 1) % EPOCH_BLOCKS
        pending = int(client.account(addr["verifier-1"])["pending_rewards"])
        return pending if into_epoch <= 3 else 0

    with NodeClient(tour.url) as client:  # polled in-process: the claims start as the epoch does
        accrued = tour.wait_for(
            "staking rewards at an epoch end", lambda: fresh(client), timeout_s=60, every_s=0.1
        )
    tour.say(f"  verifier-1 has {_nnet(accrued)} NNET pending")
    claim = tour.json("claim", key="verifier-1")
    again = tour.json("claim", key="verifier-1", quiet=True)
    tour.say(
        f"  claimed in block {claim.get('height')}; claiming again at once: {again.get('status')}"
    )
    return {
        "pending_seen": str(accrued),
        "claimed": claim.get("status") == "committed",
        "second_claim": again.get("status"),
    }


def nodes(tour: Tour, addr: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name in NODES:
        n = tour.json("node", "show", addr[name], "--json", quiet=True)
        out[name] = {"reputation": n["reputation"], "collateral": n["collateral"]}
    return out


def balances(tour: Tour, addr: dict[str, str]) -> dict[str, Any]:
    tour.act("balances and reputation")
    out = {}
    for name, a in addr.items():
        acct = tour.json("balance", a, "--json", quiet=True)
        out[name] = {
            "balance": acct["balance"],
            "bonded": acct["stake"]["bonded"],
            "pending_rewards": acct["pending_rewards"],
        }
        tour.say(
            f"  {name:11s} {_nnet(acct['balance']):>12} NNET, "
            f"bonded {_nnet(acct['stake']['bonded'])}"
        )
    return out


def audit(tour: Tour) -> dict[str, Any]:
    from nnet.client import NodeClient

    with NodeClient(tour.url) as client:
        a = client.supply()
    tour.say(
        f"  supply {_nnet(a['supply'])} NNET = everything held, to the base unit "
        f"(difference {a['difference']})"
    )
    return a


def _nnet(units: Any) -> str:
    """Base units as NNET for people: exact up to 4 decimals, then rounded down with a '…'."""
    from nnet.encoding import format_amount

    text = format_amount(int(units))
    whole, _, frac = text.partition(".")
    return text if len(frac) <= 4 else f"{whole}.{frac[:4]}…"
