"""Job specs: checked before anything runs, refused with the key's name, hashed without paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nnet.errors import MalformedInput, UsageError
from nnet.proof.spec import load_spec, parse_spec

GOOD: dict[str, Any] = {
    "job": {"seed": 1, "steps": 100, "batch_size": 8},
    "model": {"name": "mlp", "hidden": [16]},
    "data": {"path": "d.safetensors"},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "checkpoint": {"every": 10},
}


def with_(section: str, **kv: Any) -> dict[str, Any]:
    doc = {k: dict(v) for k, v in GOOD.items()}
    doc.setdefault(section, {}).update(kv)
    return doc


def test_good_spec_defaults_and_checkpoint_steps() -> None:
    spec = parse_spec(GOOD)
    assert spec.data["format"] == "safetensors"
    assert spec.schedule["name"] == "constant"
    assert spec.verify["mode"] == "exact"
    assert spec.checkpoint_steps() == list(range(0, 101, 10))
    odd = parse_spec(with_("checkpoint", every=30))
    assert odd.checkpoint_steps() == [0, 30, 60, 90, 100]


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        (with_("optimizer", mometum=0.9), "optimizer.mometum"),
        (with_("job", stpes=3), "job.stpes"),
        ({**GOOD, "trainer": {}}, "[trainer]"),
        (with_("model", width=3), "model.width"),
        (with_("job", steps=0), "job.steps"),
        (with_("job", steps=1.5), "job.steps"),
        (with_("optimizer", lr=-0.1), "optimizer.lr"),
        (with_("optimizer", lr=float("nan")), "optimizer.lr"),
        (with_("optimizer", momentum=1.0), "optimizer.momentum"),
        (with_("job", device="tpu"), "job.device"),
        (with_("model", name="gpt5"), "model.name"),
        (with_("checkpoint", every=1000), "checkpoint.every"),
        (with_("verify", mode="tolerance"), "verify.tolerance"),
        (with_("verify", tolerance=0.1), "verify.tolerance"),
        (with_("data", cid="Qmnotacid"), "data.cid"),
        (with_("data", path="x.idx.gz"), "data.labels"),
        (with_("data", path="x.bin"), "data.format"),
        (with_("schedule", name="step"), "schedule.milestones"),
        (with_("optimizer", name="adamw"), "momentum"),
        ({k: v for k, v in GOOD.items() if k != "checkpoint"}, "[checkpoint]"),
        (with_("job", seed="1"), "job.seed"),
    ],
)
def test_refusals_name_the_key(doc: dict[str, Any], named: str) -> None:
    with pytest.raises(MalformedInput) as e:
        parse_spec(doc)
    assert named in e.value.one_line()


def test_hash_ignores_paths_but_not_hyperparameters() -> None:
    a = parse_spec(GOOD)
    moved = parse_spec(with_("data", path="/elsewhere/d.safetensors"))
    assert a.spec_hash() == moved.spec_hash()
    assert a.spec_hash() != parse_spec(with_("optimizer", lr=0.2)).spec_hash()
    assert a.spec_hash() != parse_spec(with_("job", batch_size=9)).spec_hash()
    # an int where a float is expected means the same number
    assert parse_spec(with_("optimizer", lr=1)).optimizer["lr"] == 1.0
    assert a.canonical()["optimizer"]["lr"] == "0.1"


def test_toml_roundtrip(tmp_path: Path) -> None:
    import tomli_w

    spec = parse_spec(with_("verify", mode="tolerance", tolerance=0.01))
    p = tmp_path / "job.toml"
    p.write_text(tomli_w.dumps(spec.to_toml()), encoding="utf-8")
    assert load_spec(p).spec_hash() == spec.spec_hash()


def test_load_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\n", encoding="utf-8")
    with pytest.raises(MalformedInput):
        load_spec(bad)


def test_spec_from_stdin_resolves_paths_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    text = (Path(__file__).resolve().parents[2] / "examples" / "tiny.toml").read_text()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    spec = load_spec(Path("-"))
    assert spec.resolve(spec.data["path"]) == tmp_path / "tiny.safetensors"
    from_file = load_spec(Path(__file__).resolve().parents[2] / "examples" / "tiny.toml")
    assert spec.canonical() == from_file.canonical()  # local paths are not part of the job
