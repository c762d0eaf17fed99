"""The quickstart's acts: the whole lifecycle on a throwaway local chain, through a Tour.

Keys; a devnet daemon; staking; GPU nodes registering; a researcher's job trained, proved,
challenged on chain, replayed by drawn verifiers and paid; a cheating node caught and slashed;
staking rewards claimed. Every step runs the real command a user would type, in its own process
(nnet.services.tour); `run_lifecycle` returns the summary `nnet quickstart` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnet.services.tour import Tour

__all__ = ["ACTORS", "CHAIN_PARAMS", "NODES", "narrate_reasons", "run_lifecycle"]

ACTORS = ("researcher", "gpu", "verifier-1", "verifier-2", "cheater")
NODES = ("gpu", "verifier-1", "verifier-2", "cheater")
# A devnet whose epochs last ~4 s (20 blocks of 0.2 s) with deadlines that fit a 2-core laptop.
CHAIN_PARAMS = (
    "market_proof_epochs=12",
    "market_open_epochs=6",
    "market_attest_epochs=8",
    "market_challenge_q=3",
)


def run_lifecycle(tour: Tour, data: Path | None) -> dict[str, Any]:
    """The acts of the tour; each returns what the summary reports."""
    summary: dict[str, Any] = {}
    addr = act_keys(tour)
    summary["addresses"] = addr
    summary["offline"] = act_offline(tour, addr)
    act_chain(tour, addr)
    act_nodes(tour)
    honest_spec, cheat_spec, dataset = write_jobs(tour, data)
    summary["dataset"] = dataset
    summary["honest_job"] = act_honest_job(tour, honest_spec)
    summary["cheating_job"] = act_cheating_job(tour, cheat_spec)
    summary["staking"] = act_rewards(tour, addr)
    summary["nodes"] = nodes(tour, addr)
    summary["balances"] = balances(tour, addr)
    summary["supply_audit"] = audit(tour)
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
    tour.act("3. a local chain: genesis with the six pools, funded accounts, a daemon")
    funds = [f"--fund={a}=10000" for a in addr.values()]
    params = [f"--param={p}" for p in CHAIN_PARAMS]
    tour.run("devnet", "init", "--epoch-blocks", "20", "--unbonding-epochs", "1", *funds, *params)
    tour.start_daemon(block_time=0.2)
    status = tour.json("status", "--json")
    tour.say(f"  chain {status['chain']} at height {status['height']}")


def act_nodes(tour: Tour) -> None:
    tour.act("4. GPU nodes and verifiers stake and register (collateral at risk)")
    for name in NODES:
        tour.pipe(["stake", "1000"], ["send", "--wait"], key=name)
        tour.json(
            "node", "register", "--gpu", "cpu", "--collateral", "500", "--send", "--wait", key=name
        )


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


def _submit(tour: Tour, spec: Path) -> int:
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


def _train_and_prove(tour: Tour, job: int, prover: str, *, forge: bool = False) -> Path:
    tour.json("job", "claim", str(job), "--send", "--wait", key=prover)
    folder, run = tour.home / f"{prover}-job{job}", tour.home / f"{prover}-run{job}"
    tour.run("job", "fetch", str(job), "-o", str(folder), key=prover)
    tour.run("train", str(folder / "job.toml"), "-o", str(run), key=prover)
    if forge:
        _forge(tour, run)
    tour.json("prove", str(run), "--job", str(job), "--send", "--wait", key=prover)
    _contribute_all(tour, job)
    tour.json("prove", str(run), "--job", str(job), "--open", "--send", "--wait", key=prover)
    return run


def _contribute_all(tour: Tour, job: int) -> None:
    """The drawn verifiers each add their randomness; only then is the challenge fixed."""

    def drawn() -> Any:
        view = tour.json("job", "show", str(job), "--json", quiet=True)
        return view if view.get("drawn") else None

    view = tour.wait_for(f"job {job}'s verifiers to be drawn", drawn, timeout_s=60)
    tour.say(
        f"  drawn verifiers: {', '.join(view['drawn'])}; each adds its own randomness (a VRF "
        "output nobody else can compute) before the challenge is fixed"
    )
    names = {v: k for k, v in tour.addresses.items()}
    for verifier in view["drawn"]:
        tour.run("verify", str(job), "--send", "--wait", key=names[verifier])


def _forge(tour: Tour, run: Path) -> None:
    from nnet.proof.forgery import forge_run, interpolate_states, read_states
    from nnet.proof.rundir import RunDir

    tour.say(
        "  (the cheater rewrites its history: every checkpoint on a straight line from the "
        "init to the final model, as if it had skipped the work in between)"
    )
    rd = RunDir(run)
    forge_run(rd, interpolate_states(read_states(rd)), rd.read_spec())


def _verify_all(tour: Tour, job: int, *, expect: int) -> dict[str, Any]:
    view = tour.json("job", "show", str(job), "--json", quiet=True)
    tour.say(
        f"  the chain fixed the challenge: segments {view['challenge']['segments']} of "
        f"{view['challenge']['of']}; drawn verifiers: {', '.join(view['drawn'])}"
    )
    names = {v: k for k, v in tour.addresses.items()}
    for verifier in view["drawn"]:
        tour.run("verify", str(job), "--send", "--wait", key=names[verifier], expect=expect)

    def settled() -> Any:
        v = tour.json("job", "show", str(job), "--json", quiet=True)
        return v if v.get("settlement") else None

    return tour.wait_for(f"job {job} to settle", settled, timeout_s=90)


def act_honest_job(tour: Tour, spec: Path) -> dict[str, Any]:
    tour.act("5. an honest job: submit, claim, train, prove, challenge, open, verify, settle")
    job = _submit(tour, spec)
    _train_and_prove(tour, job, "gpu")
    view = _verify_all(tour, job, expect=0)
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
        "heldout_accuracy": view["proof"]["metrics"].get("heldout_accuracy"),
    }


def act_cheating_job(tour: Tour, spec: Path) -> dict[str, Any]:
    tour.act("6. a cheating node: fabricated checkpoints are caught by replay and slashed")
    job = _submit(tour, spec)
    before = tour.json("node", "show", tour.addresses["cheater"], "--json", quiet=True)
    _train_and_prove(tour, job, "cheater", forge=True)
    view = _verify_all(tour, job, expect=1)
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


def narrate_reasons(tour: Tour, reasons: list[str], shown: int = 3) -> None:
    """The first reasons of a rejection, each whole (a cut reason hides why the proof failed)."""
    for r in reasons[:shown]:
        tour.say(f"  reason: {r}")
    if len(reasons) > shown:
        tour.say(f"  ({len(reasons) - shown} more in the summary's cheating_job.reasons)")


def act_rewards(tour: Tour, addr: dict[str, str]) -> dict[str, Any]:
    tour.act("7. staking rewards: verified demand pays stakers each epoch; claim them")

    def pending() -> int:
        return int(
            tour.json("balance", addr["verifier-1"], "--json", quiet=True)["pending_rewards"]
        )

    accrued = tour.wait_for("staking rewards at an epoch end", pending, timeout_s=60)
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
