"""End-to-end attacks on a devnet: a real daemon (127.0.0.1, port 0, SQLite), real keystores, real
training of a tiny job, the honest side running the real `nnet` commands (in this process, or as
processes where the CLI's own refusal is the point), and the cheaters running modified clients
(documents built and signed here, sent with `nnet tx sign | nnet send`). Every attack ends with
the cheater unpaid; where a verdict is reached, with its job collateral slashed.

1. Sybil verifier: a second key registered in a class nobody else has, and a proof claiming it.
2. Crash-to-refund: openings whose blobs are garbage, pickles or header bombs.
3. Withholding: openings naming blobs that were never uploaded; and openings never sent.
4. Stolen run: another node's run directory, proved for the thief's own identical job.
5. Double job: one run (one Merkle root) proved for two jobs.

Two tests hold fixes for what this suite first found: a thief who submits a copied root first
cannot lock the honest node out of its own job (roots are spent per prover); and a drawn
verifier's `nnet verify JOB --send` run before the openings waits for them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from nnet.cid import compute_cid
from nnet.errors import NotFound
from nnet.proof.commitment import PROOF_VERSION, make_attestation
from nnet.proof.document import sign_document
from nnet.proof.envclass import measure_environment
from nnet.proof.rundir import RunDir
from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet
from tests.proof.conftest import TINY, make_tiny_data

pytestmark = pytest.mark.slow

UNIT = 10**18
FEE = "10"  # NNET; the job collateral is the same (market_job_collateral_ppm = 100 %)
HONEST = ("gpu", "verifier-1", "verifier-2", "verifier-3")
CHEATERS = ("sybil", "crasher", "withholder", "thief", "doubler")
SUBMITTERS = tuple(f"researcher-{i}" for i in range(1, 7))
EVERYONE = (*SUBMITTERS, *HONEST, *CHEATERS, "sybil-verifier")
# a canonical class, but one no honest node here has: the Sybil's second key registers in it
RARE_CLASS = "cpu/linux/s390x/IBM/ZVECTOR/torch-2.13.0+cpu/t1"
# epochs of ~1 s (10 blocks of 0.1 s); deadlines roomy enough for a loaded 2-core machine
PARAMS = (
    "market_proof_epochs=120",
    "market_open_epochs=10",
    "market_attest_epochs=60",
    "market_challenge_q=3",
    "market_detection_ppm=500000",  # Q = 6 of the 20 segments: the challenge is a real sample
    # holdings are compared to the unit before and after each attack: no transaction fees
    # (tests/commands/test_fee_cli.py and the quickstart run with the default fees)
    "min_fee=0",
    "min_fee_per_byte=0",
)
JOB = {
    **TINY,
    "job": {"seed": 11, "steps": 40, "batch_size": 32},
    "checkpoint": {"every": 2, "keep_every": 1},
}


# ---- the devnet shared by every attack -----------------------------------------------------------
@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    root = tmp_path_factory.mktemp("attacks-devnet")
    with (root / "narration.log").open("w") as log:
        dn = start_devnet(
            root / "home",
            EVERYONE,
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=PARAMS,
            narrate=log,
        )
        try:
            for name in HONEST:  # the class measured on this machine (what `nnet train` records)
                register(dn, name, "1000", "--device", "cpu")
            for name in CHEATERS:
                register(dn, name, "100", "--device", "cpu")
            yield dn
        finally:
            stop_devnet(dn)


def register(dn: Devnet, name: str, collateral: str, *how: str) -> None:
    receipt = dn.cli(
        "node", "register", "--gpu", "cpu", *how, "--collateral", collateral, "--send", "--wait",
        key=name,
    ).one()  # fmt: skip
    assert receipt["status"] == "committed", receipt


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks-work")


@pytest.fixture(scope="module")
def spec(work: Path) -> Path:
    make_tiny_data(work / "tiny.safetensors")
    path = work / "tiny.toml"
    path.write_text(tomli_w.dumps(JOB), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def measured_class() -> str:
    return str(measure_environment("cpu", 1)["class"])


# ---- helpers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Holdings:
    balance: int
    collateral: int
    locked: int
    reputation: int


def holdings(dn: Devnet, name: str) -> Holdings:
    try:
        node: dict[str, Any] | None = dn.node(name)
    except NotFound:
        node = None
    return Holdings(
        dn.balance(name),
        int(node["collateral"]) if node else 0,
        int(node["locked"]) if node else 0,
        int(node["reputation"]) if node else 0,
    )


def sign_proof(run: Path, job: int, secret: bytes, **override: Any) -> dict[str, Any]:
    """A modified client's proof: the run's commitment, for `job`, signed by `secret`."""
    doc = {"kind": "nnet.proof", "v": PROOF_VERSION, "job": str(job)}
    doc |= RunDir(run).get_commitment() | override
    return sign_document(doc, secret, "prover")


def openings_with(indices: list[int], cids: list[str]) -> list[dict[str, Any]]:
    """proof.open's openings ({index, cid}: the chain checks only that they cover the challenge)
    naming `cids`, round robin: what a cheater that publishes something else sends."""
    return [{"index": i, "cid": cids[k % len(cids)]} for k, i in enumerate(indices)]


def reasons_of(view: dict[str, Any]) -> list[str]:
    return [r for a in view["attestations"] for r in a["reasons"]]


def assert_supply_accounted(dn: Devnet) -> None:
    assert dn.supply()["difference"] == "0"


def assert_slashed(
    dn: Devnet,
    view: dict[str, Any],
    cheater: str,
    submitter: str,
    before: dict[str, Holdings],
    *,
    jobs: int = 1,
    escrowed: int = 0,
) -> None:
    """The cheater unpaid and its whole job collateral gone (for each of its `jobs`); the fee back
    to the submitter (who still has `escrowed` jobs' fees in escrow); the catchers paid."""
    fee = int(FEE) * UNIT
    s = view["settlement"]
    assert s["outcome"] == "rejected"
    assert int(s["refund"]) == fee and int(s["slashed"]) == fee == int(view["collateral"])
    after = {name: holdings(dn, name) for name in before}
    c0, c1 = before[cheater], after[cheater]
    assert c1.balance == c0.balance, "the cheater was paid"
    assert c0.collateral - c1.collateral == jobs * fee
    assert c1.locked == c0.locked
    assert c1.reputation < c0.reputation
    # the fee was escrowed, then refunded
    assert before[submitter].balance - after[submitter].balance == escrowed * fee
    for verifier, amount in s["to_verifiers"].items():
        name = dn.name_of(verifier)
        assert after[name].balance - before[name].balance == int(amount) > 0
    assert int(s["burned"]) + int(s["to_treasury"]) + sum(
        int(a) for a in s["to_verifiers"].values()
    ) == int(s["slashed"])


# ---- 1. Sybil verifier ---------------------------------------------------------------------------
def test_a_sybil_class_of_ones_own_gets_no_verifier_and_no_pay(
    devnet: Devnet, spec: Path, work: Path, measured_class: str
) -> None:
    dn = devnet
    assert measured_class != RARE_CLASS
    # a made-up class never reaches the chain: the CLI refuses it (usage error), nothing is sent
    r = dn.proc(
        "node", "register", "--gpu", "cpu", "--env", "my-class", "--collateral", "10", "--send",
        key="sybil-verifier", expect=2,
    )  # fmt: skip
    assert "--env" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(NotFound):
        dn.node("sybil-verifier")
    # a canonical but rare class is accepted: the cheater's second key is its only member
    register(dn, "sybil-verifier", "100", "--env", RARE_CLASS)
    assert dn.node("sybil-verifier")["env"] == RARE_CLASS

    people = ("sybil", "sybil-verifier", "researcher-1")
    before = {name: holdings(dn, name) for name in people}
    job = dn.submit(spec, "researcher-1", fee=FEE, verifiers=1)
    run = dn.claim_and_train(job, "sybil", work)
    assert RunDir(run).get_commitment()["env"] == measured_class
    # the modified client: the same commitment, claiming the class only its own Sybil has
    proof = sign_proof(run, job, dn.secret("sybil"), env=RARE_CLASS)
    receipt = dn.send_tx("sybil", "proof.submit", {"job": job, "proof": proof})
    assert receipt["status"] == "committed", receipt

    view = dn.settled(job)
    s = view["settlement"]
    assert (view["status"], s["outcome"]) == ("refunded", "refunded")
    assert s["reason"].startswith(f"no verifier pool for class {RARE_CLASS}: 1 nodes")
    assert view["drawn"] == [] and view["attestations"] == [] and not view.get("challenge")
    # the second key can never attest: the CLI says so, and the chain refuses a forged one
    r2 = dn.cli("verify", str(job), "--send", key="sybil-verifier", expect=2)
    assert "refunded" in r2.stderr
    attestation = make_attestation(
        proof, reasons=[], challenge={"seed": "0x" + "00" * 32}, report={},
        secret=dn.secret("sybil-verifier"),
    )  # fmt: skip
    refused = dn.send_tx(
        "sybil-verifier", "proof.attest", {"job": job, "attestation": attestation}, expect=1
    )
    assert refused["code"] == "job_settled"
    assert dn.job(job)["attestations"] == []

    after = {name: holdings(dn, name) for name in people}
    assert after == before  # nobody paid, nothing slashed or locked, the fee back where it was
    assert_supply_accounted(dn)


# ---- 2. Crash-to-refund --------------------------------------------------------------------------
class _Unpickled:
    """Unpickling this creates a file: a verifier that ever unpickles an opening is caught."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


GARBAGE = ("random", "pickle", "torch-pickle", "header-bomb", "nan", "altered")


def write_garbage(run: Path, index: int, kind: str, folder: Path, marker: Path) -> Path:
    """A file a cheater could publish as checkpoint `index`: random bytes, a pickle, a torch.save
    zip, a safetensors header bomb, or the real checkpoint with NaN weights or one weight nudged
    (well-formed, the right step, but not the committed one)."""
    from safetensors.torch import load_file, save_file

    path = folder / f"{index:06d}-{kind}"
    evil = {"model.0.weight": _Unpickled(marker)}
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(evil))
    elif kind == "torch-pickle":
        torch.save(evil, path)
    elif kind == "header-bomb":
        path.write_bytes(struct.pack("<Q", 2**62) + b'{"a":')
    else:
        tensors = load_file(str(RunDir(run).checkpoint_path(index)))
        name = next(k for k in sorted(tensors) if k.startswith("model."))
        if kind == "nan":
            tensors[name] = torch.full_like(tensors[name], float("nan"))
        else:
            tensors[name] = tensors[name].clone()
            tensors[name].view(-1)[0] += 1e-3
        save_file(tensors, str(path))
    return path


def test_garbage_openings_are_rejected_not_crashed_on(
    devnet: Devnet, spec: Path, work: Path
) -> None:
    dn = devnet
    before = {name: holdings(dn, name) for name in EVERYONE}
    job = dn.submit(spec, "researcher-2", fee=FEE, verifiers=2)
    run = dn.claim_and_train(job, "crasher", work)
    receipt = dn.cli("prove", str(run), "--job", str(job), "--send", "--wait", key="crasher").one()
    assert receipt["status"] == "committed", receipt
    dn.contribute(job)
    challenge = dn.job(job)["challenge"]
    assert len(challenge["segments"]) < challenge["of"]  # a sample, not the whole run

    # the modified client: the real trace (so the verifiers get as far as the checkpoints), and
    # every opened checkpoint replaced by garbage that is in the store under its own valid CID
    marker, folder = work / "UNPICKLED", work / "garbage"
    folder.mkdir()
    indices = challenge["openings"]
    files = [
        RunDir(run).trace_path,
        *(write_garbage(run, i, GARBAGE[k % len(GARBAGE)], folder, marker)
          for k, i in enumerate(indices)),
    ]  # fmt: skip
    cids = [dn.cli("store", "put", str(f), "--json", key="crasher").one()["cid"] for f in files]
    openings = openings_with(indices, cids[1:])
    receipt = dn.send_tx("crasher", "proof.open", {"job": job, "openings": openings})
    assert receipt["status"] == "committed", receipt

    results = dn.attest(job, expect=1)  # each drawn verifier signs a reject (exit 1), no crash
    for result in results.values():
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        assert result.one()["status"] == "committed"
    assert not marker.exists(), "a verifier unpickled a prover's file"

    view = dn.settled(job)
    assert view["status"] == "rejected"
    assert view["settlement"]["reason"] == "a majority of the drawn verifiers rejected"
    assert [a["verdict"] for a in view["attestations"]] == ["reject", "reject"]
    reasons = reasons_of(view)
    assert all(r.startswith(("checkpoint:", "opening:")) for r in reasons), reasons
    for caught in ("safetensors header of", "non-finite values", "is not the committed one"):
        assert any(caught in r for r in reasons), (caught, reasons)
    assert_slashed(dn, view, "crasher", "researcher-2", before)
    assert_supply_accounted(dn)


# ---- 3. Withholding ------------------------------------------------------------------------------
def test_withheld_or_missing_openings_are_slashed(devnet: Devnet, spec: Path, work: Path) -> None:
    dn = devnet
    before = {name: holdings(dn, name) for name in EVERYONE}
    withheld = dn.submit(spec, "researcher-3", fee=FEE, verifiers=2)
    silent = dn.submit(spec, "researcher-3", fee=FEE, verifiers=2)
    runs = {job: dn.claim_and_train(job, "withholder", work) for job in (withheld, silent)}
    for job, run in runs.items():
        dn.cli("prove", str(run), "--job", str(job), "--send", "--wait", key="withholder")
    # job `withheld`: opened, naming blobs that are nowhere (neither they nor the trace uploaded)
    dn.contribute(withheld)
    challenge = dn.job(withheld)["challenge"]
    nowhere = [compute_cid(os.urandom(64)) for _ in range(3)]
    openings = openings_with(challenge["openings"], nowhere)
    receipt = dn.send_tx("withholder", "proof.open", {"job": withheld, "openings": openings})
    assert receipt["status"] == "committed", receipt
    stored = {b["cid"] for b in dn.http.list_blobs()}
    assert not stored & {*nowhere, dn.job(withheld)["proof"]["trace"]}
    # job `silent`: never opened; its opening deadline (market_open_epochs) settles it meanwhile
    dn.contribute(silent)

    results = dn.attest(withheld, expect=1)
    for result in results.values():
        assert "internal error" not in result.stderr
        assert "unavailable" in result.stderr
    view = dn.settled(withheld)
    assert view["status"] == "rejected"
    assert view["settlement"]["reason"].startswith("openings withheld")
    assert [a["verdict"] for a in view["attestations"]] == ["unavailable", "unavailable"]
    assert all("could not be fetched" in r for r in reasons_of(view))

    late = dn.settled(silent, timeout_s=180)
    assert late["status"] == "rejected"
    assert late["settlement"]["reason"] == "no openings by the opening deadline"
    assert int(late["settlement"]["slashed"]) == int(late["collateral"]) == int(FEE) * UNIT
    assert late["settlement"]["to_verifiers"] == {}  # nobody caught it: burned or to treasury
    assert_slashed(dn, view, "withholder", "researcher-3", before, jobs=2)
    assert_supply_accounted(dn)


# ---- 4. Stolen run -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Theft:
    job_a: int  # the honest node's job, trained by it
    job_b: int  # the thief's own job, identical spec
    run_a: Path  # the honest run
    copy: Path  # the thief's copy of it
    refusal_a: str  # `nnet prove COPY --job A` as the thief
    refusal_b: str  # `nnet prove COPY --job B` as the thief
    view_b: dict[str, Any]  # job B once settled
    before: dict[str, Holdings]


@pytest.fixture(scope="module")
def theft(devnet: Devnet, spec: Path, work: Path) -> Theft:
    dn = devnet
    before = {name: holdings(dn, name) for name in EVERYONE}
    job_a = dn.submit(spec, "researcher-4", fee=FEE, verifiers=2)
    job_b = dn.submit(spec, "researcher-4", fee=FEE, verifiers=2)
    assert dn.job(job_a)["spec_hash"] == dn.job(job_b)["spec_hash"]
    run_a = dn.claim_and_train(job_a, "gpu", work)
    dn.cli("job", "claim", str(job_b), "--send", "--wait", key="thief")
    copy = work / "stolen-run"
    shutil.copytree(run_a, copy)

    # the real CLI refuses to sign someone else's run, for its job or for the thief's
    refusal_a = dn.proc("prove", str(copy), "--job", str(job_a), "--send", key="thief", expect=2)
    refusal_b = dn.proc("prove", str(copy), "--job", str(job_b), "--send", key="thief", expect=2)
    # the modified client signs the copied commitment as the thief's proof for job B
    proof = sign_proof(copy, job_b, dn.secret("thief"))
    receipt = dn.send_tx("thief", "proof.submit", {"job": job_b, "proof": proof})
    assert receipt["status"] == "committed", receipt
    dn.contribute(job_b)
    # the stolen checkpoints are genuine, so the real `nnet prove --open` publishes them
    dn.cli("prove", str(copy), "--job", str(job_b), "--open", "--send", "--wait", key="thief")
    dn.attest(job_b, expect=1)
    return Theft(
        job_a, job_b, run_a, copy, refusal_a.stderr, refusal_b.stderr, dn.settled(job_b), before
    )


def test_a_stolen_run_is_refused_by_the_cli_and_slashed_on_chain(
    devnet: Devnet, theft: Theft
) -> None:
    dn = devnet
    gpu, thief = dn.addr["gpu"].lower(), dn.addr["thief"].lower()
    for refusal, job in ((theft.refusal_a, theft.job_a), (theft.refusal_b, theft.job_b)):
        assert f"trained for job {theft.job_a} by {gpu}" in refusal.lower(), refusal
        assert f"not for job {job} by {thief}" in refusal.lower(), refusal
    view = theft.view_b
    assert view["status"] == "rejected"
    assert view["settlement"]["reason"] == "a majority of the drawn verifiers rejected"
    assert [a["verdict"] for a in view["attestations"]] == ["reject", "reject"]
    reasons = reasons_of(view)
    assert sum(r.startswith("init:") for r in reasons) == 2, reasons
    assert all("for this job and prover" in r for r in reasons if r.startswith("init:"))
    assert_slashed(dn, view, "thief", "researcher-4", theft.before, escrowed=1)  # job A's
    assert_supply_accounted(dn)


def test_the_honest_node_can_still_prove_its_own_run_after_the_theft(
    devnet: Devnet, theft: Theft
) -> None:
    dn = devnet
    assert dn.job(theft.job_a)["status"] == "claimed"  # the honest node has not proved yet
    r = dn.cli(
        "prove", str(theft.run_a), "--job", str(theft.job_a), "--send", "--wait", key="gpu",
        expect=None,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr  # today: exit 1, "already proved for job B" (duplicate_root)
    assert r.one()["status"] == "committed"


# ---- 5. Double job -------------------------------------------------------------------------------
def test_one_run_proved_for_two_jobs_is_refused_by_the_chain(
    devnet: Devnet, spec: Path, work: Path
) -> None:
    dn = devnet
    people = ("doubler", "researcher-5")
    before = {name: holdings(dn, name) for name in people}
    first = dn.submit(spec, "researcher-5", fee=FEE, verifiers=1)
    second = dn.submit(spec, "researcher-5", fee=FEE, verifiers=1)
    run = dn.claim_and_train(first, "doubler", work)
    dn.cli("job", "claim", str(second), "--send", "--wait", key="doubler")
    dn.cli("prove", str(run), "--job", str(first), "--send", "--wait", key="doubler")

    # the CLI will not sign the run for the other job (it is bound to the first)...
    refusal = dn.proc("prove", str(run), "--job", str(second), key="doubler", expect=2)
    assert f"trained for job {first} by {dn.addr['doubler'].lower()}" in refusal.stderr.lower()
    # ...and the chain refuses a modified client's proof of the same run for it
    proof = sign_proof(run, second, dn.secret("doubler"))
    refused = dn.send_tx("doubler", "proof.submit", {"job": second, "proof": proof}, expect=1)
    assert refused["code"] == "duplicate_root", refused
    assert f"already proved for job {first}" in refused["error"]
    assert dn.job(second)["status"] == "claimed" and not dn.job(second).get("drawn")

    # the first job is honest work and is paid, once
    dn.contribute(first)
    dn.cli("prove", str(run), "--job", str(first), "--open", "--send", "--wait", key="doubler")
    dn.attest(first, expect=0)
    view = dn.settled(first)
    assert view["status"] == "accepted"
    fee = int(FEE) * UNIT
    paid = int(view["settlement"]["to_node"])
    assert 0 < paid < fee
    after = {name: holdings(dn, name) for name in people}
    assert after["doubler"].balance - before["doubler"].balance == paid
    assert after["doubler"].collateral == before["doubler"].collateral
    assert after["doubler"].locked - before["doubler"].locked == fee  # the second claim's
    assert before["researcher-5"].balance - after["researcher-5"].balance == 2 * fee
    assert_supply_accounted(dn)


# ---- the verifier's side of the protocol ---------------------------------------------------------
def test_a_verifier_run_before_the_openings_waits_for_them(
    devnet: Devnet, spec: Path, work: Path
) -> None:
    dn = devnet
    job = dn.submit(spec, "researcher-6", fee=FEE, verifiers=1)
    run = dn.claim_and_train(job, "gpu", work)
    dn.cli("prove", str(run), "--job", str(job), "--send", "--wait", key="gpu")
    (verifier,) = dn.contribute(job)
    early = dn.spawn("verify", str(job), "--send", "--wait", key=verifier)
    with contextlib.suppress(subprocess.TimeoutExpired):  # still waiting, as it should be
        early.wait(timeout=3)
    dn.cli("prove", str(run), "--job", str(job), "--open", "--send", "--wait", key="gpu")
    if early.poll() is not None:  # it gave up: attest the documented way, so the job settles
        _, err = early.communicate()
        dn.attest(job, expect=0)
    else:
        _, err = early.communicate(timeout=180)
    assert dn.settled(job)["status"] == "accepted"
    assert early.returncode == 0, err  # today: 2, "job N is challenged: not open for attestations"
