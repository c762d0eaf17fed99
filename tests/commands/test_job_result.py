"""`nnet job result ID -o DIR`: the researcher's download of what an accepted job produced.

End to end on a devnet (tests/commands/devnet_harness.py: a real daemon process, real keys, a
real tiny training): the prover's `nnet prove --send` uploads the final model and names its CID
in the proof; `job result` refuses the job until it is accepted, then writes model.safetensors
(whose weights hash to the proof's `final`), metrics.json, trace.jsonl and proof.json; an
interrupted download resumes from its .part, and a tampered .part is downloaded again. Without a
devnet: an unwritable -o is a usage error before anything is asked of a node.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from nnet.cid import compute_file_cid
from nnet.crypto import keccak256
from nnet.encoding import canonical_json
from nnet.proof.rundir import RunDir
from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet
from tests.conftest import RunCli
from tests.proof.conftest import TINY, make_tiny_data

PARAMS = (
    "market_proof_epochs=120",
    "market_open_epochs=10",
    "market_attest_epochs=60",
    "market_challenge_q=3",
    "market_min_class_pool=1",  # one verifier node is a pool: a small devnet
)
JOB = {
    **TINY,
    "job": {"seed": 5, "steps": 20, "batch_size": 32},
    "checkpoint": {"every": 2, "keep_every": 1},
}


def test_an_unwritable_output_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    r = run_cli("job", "result", "1", "-o", str(taken), "--node", "http://127.0.0.1:9")
    assert r.exit_code == 2 and "exists and is not a folder" in r.stderr, r.stderr
    r = run_cli("job", "result", "1", "-o", str(taken / "sub"), "--node", "http://127.0.0.1:9")
    assert r.exit_code == 2, r.stderr


@dataclass(frozen=True)
class Accepted:
    dn: Devnet
    job: int
    run: Path
    refusal: str  # `nnet job result` before the job was accepted
    view: dict[str, Any]  # the job once accepted


@pytest.fixture(scope="module")
def accepted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accepted]:
    root = tmp_path_factory.mktemp("job-result")
    make_tiny_data(root / "tiny.safetensors")
    spec = root / "tiny.toml"
    spec.write_text(tomli_w.dumps(JOB), encoding="utf-8")
    with (root / "narration.log").open("w") as log:
        dn = start_devnet(
            root / "home",
            ("researcher", "gpu", "verifier"),
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=PARAMS,
            narrate=log,
        )
        try:
            for name in ("gpu", "verifier"):
                dn.cli(
                    "node", "register", "--gpu", "cpu", "--device", "cpu", "--collateral", "100",
                    "--send", "--wait", key=name,
                )  # fmt: skip
            job = dn.submit(spec, "researcher", fee="10", verifiers=1)
            run = dn.claim_and_train(job, "gpu", root)
            dn.cli("prove", str(run), "--job", str(job), "--send", "--wait", key="gpu")
            early = dn.cli(
                "job", "result", str(job), "-o", str(root / "early"), key="researcher", expect=1
            )
            assert not (root / "early").exists()
            dn.contribute(job)
            dn.cli("prove", str(run), "--job", str(job), "--open", "--send", "--wait", key="gpu")
            dn.attest(job, expect=0)
            view = dn.settled(job)
            assert view["status"] == "accepted", view["settlement"]
            yield Accepted(dn, job, run, early.stderr, view)
        finally:
            stop_devnet(dn)


@pytest.mark.slow
def test_a_job_not_yet_accepted_is_refused_with_its_status(accepted: Accepted) -> None:
    assert f"job {accepted.job} is " in accepted.refusal
    assert "downloadable once it is accepted" in accepted.refusal


@pytest.mark.slow
def test_the_proof_names_the_uploaded_final_model(accepted: Accepted) -> None:
    proof = accepted.view["proof"]
    assert proof["model"] == compute_file_cid(RunDir(accepted.run).model_path)


@pytest.mark.slow
def test_result_downloads_the_model_the_proof_commits(accepted: Accepted, tmp_path: Path) -> None:
    import torch  # noqa: F401 - the weights check below loads it anyway

    from nnet.proof.checkpoint import compute_tensors_hash, read_checkpoint

    dn, out = accepted.dn, tmp_path / "result"
    summary = dn.cli("job", "result", str(accepted.job), "-o", str(out), "--json").one()
    proof = accepted.view["proof"]
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json", "model.safetensors", "proof.json", "trace.jsonl",
    ]  # fmt: skip
    # the model is the prover's final weights: its tensors hash to the proof's `final`
    weights = read_checkpoint(out / "model.safetensors")
    assert "0x" + compute_tensors_hash(weights).hex() == proof["final"]
    assert compute_file_cid(out / "model.safetensors") == proof["model"]
    assert compute_file_cid(out / "trace.jsonl") == proof["trace"]
    assert (out / "trace.jsonl").read_bytes() == RunDir(accepted.run).trace_path.read_bytes()
    assert json.loads((out / "metrics.json").read_text()) == proof["metrics"]
    assert "heldout_accuracy" in proof["metrics"]
    # proof.json is the accepted proof, byte for byte as the attestations hash it
    assert (
        keccak256((out / "proof.json").read_bytes().rstrip(b"\n")).hex()
        == (accepted.view["proof_hash"][2:])
    )
    assert keccak256(canonical_json(proof)).hex() == accepted.view["proof_hash"][2:]
    assert summary["final"] == proof["final"] and summary["job"] == accepted.job
    assert summary["cids"] == {"trace.jsonl": proof["trace"], "model.safetensors": proof["model"]}


@pytest.mark.slow
def test_an_interrupted_download_resumes_and_a_tampered_part_is_replaced(
    accepted: Accepted, tmp_path: Path
) -> None:
    dn, out = accepted.dn, tmp_path / "result"
    dn.cli("job", "result", str(accepted.job), "-o", str(out))
    model = out / "model.safetensors"
    good = model.read_bytes()
    part = out / "model.safetensors.part"

    # cut off halfway: only the part is there, and the rerun resumes it to the same bytes
    model.unlink()
    part.write_bytes(good[: len(good) // 2])
    r = dn.cli("job", "result", str(accepted.job), "-o", str(out))
    assert model.read_bytes() == good and not part.exists()
    assert "downloading it again" not in r.stderr

    # a part altered meanwhile fails the CID of the whole and is downloaded again, never kept
    model.unlink()
    part.write_bytes(b"\0" * (len(good) // 2))
    r = dn.cli("job", "result", str(accepted.job), "-o", str(out))
    assert "downloading it again from the start" in r.stderr, r.stderr
    assert model.read_bytes() == good and not part.exists()


def test_download_bars_draw_one_bar_per_file_on_a_terminal() -> None:
    from nnet.commands._progress import DownloadBars

    with DownloadBars(show=True) as bars:
        bars("model.safetensors", 0, 10)
        bars("model.safetensors", 10, 10)
        bars("trace.jsonl", 5, None)
        assert bars._progress is not None
        tasks = {t.description: (t.completed, t.total) for t in bars._progress.tasks}
    assert tasks == {"model.safetensors": (10, 10), "trace.jsonl": (5, None)}
    with DownloadBars(show=False) as quiet:  # a pipe or cron: nothing drawn
        quiet("model.safetensors", 1, 2)
        assert quiet._progress is None
