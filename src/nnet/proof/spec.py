"""The job spec: a TOML file naming everything a training run (and so its replay) depends on.

`load_spec(path)` parses and checks it: unknown keys and impossible values are refused with the
key's dotted name, before anything runs. `JobSpec.canonical()` is the committed form: local paths
are left out (the data is committed by CID, so one job hashes the same on every machine) and
floats are written as their shortest repr so the canonical JSON stays float-free.
The full schema, with an example, is in docs/job-spec.md. No torch here.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nnet.cid import is_cid
from nnet.crypto import keccak256
from nnet.encoding import canonical_json
from nnet.errors import MalformedInput, UsageError

__all__ = [
    "DATA_FORMATS",
    "MAX_CHECKPOINTS",
    "MODEL_OPTIONS",
    "JobSpec",
    "compute_bound_seed",
    "load_spec",
    "parse_spec",
]

MODELS = ("mlp", "cnn", "resnet20", "transformer")
DATA_FORMATS = ("idx", "safetensors", "npz")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "step")
AUGMENTS = ("none", "shift", "crop-flip")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
MODES = ("exact", "tolerance")

Check = Callable[[Any], str | None]  # returns a complaint, or None when the value is fine


def _int(lo: int | None = None, hi: int | None = None) -> tuple[type, Check]:
    def check(v: Any) -> str | None:
        if lo is not None and v < lo:
            return f"must be >= {lo}"
        if hi is not None and v > hi:
            return f"must be <= {hi}"
        return None

    return int, check


def _float(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> tuple[type, Check]:
    def check(v: Any) -> str | None:
        if not math.isfinite(v):
            return "must be a finite number"
        if v < lo or (lo_open and v == lo):
            return f"must be {'>' if lo_open else '>='} {lo}"
        if v > hi or (hi_open and v == hi):
            return f"must be {'<' if hi_open else '<='} {hi}"
        return None

    return float, check


def _choice(*options: str) -> tuple[type, Check]:
    return str, lambda v: None if v in options else f"must be one of {', '.join(options)}"


def _cid() -> tuple[type, Check]:
    return str, lambda v: None if is_cid(v) else "must be a CIDv1 raw sha2-256 (bafkrei...)"


def _ints(lo: int, hi: int = 1 << 20, most: int = 64) -> tuple[type, Check]:
    def check(v: Any) -> str | None:
        if len(v) > most or not all(type(x) is int and lo <= x <= hi for x in v):
            return f"must be a list of at most {most} integers from {lo} to {hi}"
        return None

    return list, check


def _floats(n: int, lo: float, hi: float) -> tuple[type, Check]:
    def check(v: Any) -> str | None:
        if len(v) != n or not all(type(x) in (int, float) and lo <= x < hi for x in v):
            return f"must be {n} numbers in [{lo}, {hi})"
        return None

    return list, check


_ANY_STR: tuple[type, Check] = (str, lambda v: None)


def _job_id() -> tuple[type, Check]:
    ok = re.compile(r"[0-9]{1,19}", re.ASCII)
    return str, lambda v: None if ok.fullmatch(v) else "must be a job id in decimal digits"


def _address() -> tuple[type, Check]:
    ok = re.compile(r"0x[0-9a-fA-F]{40}", re.ASCII)
    return str, lambda v: None if ok.fullmatch(v) else "must be a 0x address of 40 hex digits"


# section -> key -> (type, check, default); a default of REQUIRED must be given
REQUIRED = object()
MAX_CHECKPOINTS = 1 << 20  # leaves of one proof: bounds what a verifier reads and keeps
Schema = dict[str, tuple[type, Check, Any]]


def _s(**fields: tuple[tuple[type, Check], Any]) -> Schema:
    return {k: (tc[0], tc[1], default) for k, (tc, default) in fields.items()}


SCHEMA: dict[str, Schema] = {
    "job": _s(
        name=(_ANY_STR, ""),
        seed=(_int(0, 2**63 - 1), REQUIRED),
        steps=(_int(1, 10**9), REQUIRED),
        batch_size=(_int(1, 1 << 20), REQUIRED),
        device=(_choice(*DEVICES), "cpu"),
        precision=(_choice(*PRECISIONS), "fp32"),
        threads=(_int(1, 1024), 1),
    ),
    "data": _s(
        format=(_choice(*DATA_FORMATS), None),
        path=(_ANY_STR, REQUIRED),
        cid=(_cid(), None),
        labels=(_ANY_STR, None),
        labels_cid=(_cid(), None),
        holdout=(_int(0, 1 << 40), 0),
        scale=(_float(0.0, 1e9, lo_open=True), 1.0),
    ),
    "optimizer": _s(
        name=(_choice(*OPTIMIZERS), REQUIRED),
        lr=(_float(0.0, 10.0, lo_open=True), REQUIRED),
        momentum=(_float(0.0, 1.0, hi_open=True), 0.0),
        nesterov=((bool, lambda v: None), False),
        weight_decay=(_float(0.0, 1.0), 0.0),
        betas=(_floats(2, 0.0, 1.0), [0.9, 0.999]),
        eps=(_float(0.0, 1.0, lo_open=True), 1e-8),
    ),
    "schedule": _s(
        name=(_choice(*SCHEDULES), "constant"),
        warmup=(_int(0, 10**9), 0),
        milestones=(_ints(1, 10**9, 1024), []),
        gamma=(_float(0.0, 1.0, lo_open=True), 0.1),
        final_lr_ratio=(_float(0.0, 1.0), 0.0),
    ),
    "augment": _s(
        name=(_choice(*AUGMENTS), "none"),
        pad=(_int(0, 64), 2),
    ),
    "checkpoint": _s(
        every=(_int(1, 10**9), REQUIRED),
        keep_every=(_int(1, 10**9), 10),
    ),
    "verify": _s(
        mode=(_choice(*MODES), "exact"),
        tolerance=(_float(0.0, 1.0, lo_open=True), None),
    ),
    "base_model": _s(path=(_ANY_STR, REQUIRED), cid=(_cid(), REQUIRED)),
    # who the run is for: not part of the job (not hashed), but the seeds derive from it
    "binding": _s(job=(_job_id(), REQUIRED), prover=(_address(), REQUIRED)),
}

# model name -> option -> (type, check, default); the [model] table's `name` picks the row
MODEL_OPTIONS: dict[str, Schema] = {
    "mlp": _s(hidden=(_ints(1, 1 << 16), [128]), dropout=(_float(0.0, 1.0, hi_open=True), 0.0)),
    "cnn": _s(channels=(_ints(1, 4096, 16), [16, 32]), hidden=(_int(1, 1 << 16), 64)),
    "resnet20": _s(width=(_int(1, 256), 16), depth=(_int(8, 200), 20)),
    "transformer": _s(
        d_model=(_int(8, 8192), 64),
        heads=(_int(1, 128), 4),
        layers=(_int(1, 64), 2),
        vocab=(_int(2, 1 << 20), REQUIRED),
        dropout=(_float(0.0, 1.0, hi_open=True), 0.0),
    ),
}
_SECTIONS_REQUIRED = ("job", "model", "data", "optimizer", "checkpoint")


def _check_table(table: Any, schema: Schema, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise MalformedInput(f"{where} must be a table")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise MalformedInput(
            f"unknown key {where}.{unknown[0]}",
            hint=f"known keys in [{where}]: {', '.join(schema)}",
        )
    out: dict[str, Any] = {}
    for key, (typ, check, default) in schema.items():
        name = f"{where}.{key}"
        if key not in table:
            if default is REQUIRED:
                raise MalformedInput(f"missing key {name}")
            out[key] = list(default) if isinstance(default, list) else default
            continue
        value = table[key]
        if typ is float and type(value) is int:
            value = float(value)
        if type(value) is not typ:
            raise MalformedInput(f"{name} must be {typ.__name__}, not {type(value).__name__}")
        problem = check(value)
        if problem:
            raise MalformedInput(f"{name} {problem} (got {value!r})")
        out[key] = value
    return out


def _canon(value: Any) -> Any:
    """Floats become their shortest round-trip repr, so canonical JSON needs no floats."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class JobSpec:
    """A checked job spec. Sections are plain dicts of checked values, keyed as in the TOML."""

    job: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    augment: dict[str, Any]
    checkpoint: dict[str, Any]
    verify: dict[str, Any]
    base_model: dict[str, Any] | None = None
    binding: dict[str, Any] | None = None
    base_dir: Path = field(default=Path("."), compare=False)

    @property
    def seed(self) -> int:
        """The seed every random draw of the run derives from (init, data order, augmentation,
        dropout). For a run bound to a (job, prover) it is derived from the job's seed and both,
        so a run is valid for one job and one prover only: a stolen or re-used run replays from
        another init and is rejected."""
        if self.binding is None:
            return int(self.job["seed"])
        return compute_bound_seed(
            int(self.job["seed"]), self.binding["job"], self.binding["prover"]
        )

    @property
    def steps(self) -> int:
        return int(self.job["steps"])

    @property
    def every(self) -> int:
        return int(self.checkpoint["every"])

    @property
    def n_checkpoints(self) -> int:
        """Leaves of the commitment: the init, every k-th step, and the last step."""
        return -(-self.steps // self.every) + 1

    def checkpoint_step(self, index: int) -> int:
        """The training step at which checkpoint `index` is taken (arithmetic: no list)."""
        if not 0 <= index < self.n_checkpoints:
            raise IndexError(f"checkpoint {index} out of range for {self.n_checkpoints}")
        return min(index * self.every, self.steps)

    def checkpoint_steps(self) -> list[int]:
        k, n = self.every, self.steps
        return [*range(0, n, k), n]

    def bind(self, job: str, prover: str) -> JobSpec:
        """The same job, bound to one job id and one prover address (see `seed`)."""
        return replace(self, binding={"job": str(job), "prover": prover})

    def unbound(self) -> JobSpec:
        return replace(self, binding=None)

    def with_binding(self, binding: dict[str, Any] | None) -> JobSpec:
        return replace(self, binding=None if binding is None else dict(binding))

    def resolve(self, path: str) -> Path:
        """A path from the spec, relative to the spec file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def canonical(self) -> dict[str, Any]:
        """The committed form: everything but local paths."""
        data = {k: v for k, v in self.data.items() if k not in ("path", "labels") and v is not None}
        doc: dict[str, Any] = {
            "job": self.job,
            "model": self.model,
            "data": data,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "augment": self.augment,
            "checkpoint": self.checkpoint,
            "verify": {k: v for k, v in self.verify.items() if v is not None},
        }
        if self.base_model is not None:
            doc["base_model"] = {"cid": self.base_model["cid"]}
        # the binding is left out: one job, one spec hash, whoever trains it
        out: dict[str, Any] = _canon(doc)
        return out

    def spec_hash(self) -> str:
        """0x + keccak256 of the canonical JSON: what a proof commits to."""
        return "0x" + keccak256(canonical_json(self.canonical())).hex()

    def with_data_cids(self, cid: str, labels_cid: str | None) -> JobSpec:
        """The same spec with its dataset CIDs filled in (train computes them when absent)."""
        data = dict(self.data, cid=cid)
        if labels_cid is not None:
            data["labels_cid"] = labels_cid
        return replace(self, data=data)

    def to_toml(self) -> dict[str, Any]:
        """A TOML-writable dict that `parse_spec` reads back to an equal spec."""
        doc: dict[str, Any] = {}
        for name in (*SCHEMA, "model"):
            table = getattr(self, name)
            if table is not None:
                doc[name] = {k: v for k, v in table.items() if v is not None}
        return doc


def parse_spec(doc: Any, base_dir: Path = Path(".")) -> JobSpec:
    """Check a parsed TOML document; MalformedInput names the first offending key."""
    if not isinstance(doc, dict):
        raise MalformedInput("a job spec must be a TOML document")
    unknown = sorted(set(doc) - set(SCHEMA) - {"model"})
    if unknown:
        raise MalformedInput(
            f"unknown section [{unknown[0]}]", hint=f"known: {', '.join([*SCHEMA, 'model'])}"
        )
    for section in _SECTIONS_REQUIRED:
        if section not in doc:
            raise MalformedInput(f"missing section [{section}]")
    tables = {
        name: _check_table(doc.get(name, {}), schema, name)
        for name, schema in SCHEMA.items()
        if name not in ("base_model", "binding")
    }
    model = doc["model"]
    if not isinstance(model, dict) or "name" not in model:
        raise MalformedInput("missing key model.name", hint=f"one of {', '.join(MODELS)}")
    if model["name"] not in MODEL_OPTIONS:
        raise MalformedInput(
            f"model.name must be one of {', '.join(MODELS)} (got {model['name']!r})"
        )
    options = _check_table(
        {k: v for k, v in model.items() if k != "name"}, MODEL_OPTIONS[model["name"]], "model"
    )
    base, binding = doc.get("base_model"), doc.get("binding")
    spec = JobSpec(
        model={"name": model["name"], **options},
        base_model=None if base is None else _check_table(base, SCHEMA["base_model"], "base_model"),
        binding=None if binding is None else _check_table(binding, SCHEMA["binding"], "binding"),
        base_dir=base_dir,
        **tables,
    )
    _check_consistency(spec)
    return spec


def _check_consistency(spec: JobSpec) -> None:
    """Rules that span keys."""
    data, opt, sched = spec.data, spec.optimizer, spec.schedule
    fmt = data["format"] or _infer_format(data["path"])
    data["format"] = fmt
    if fmt == "idx" and data["labels"] is None:
        raise MalformedInput("data.labels is required for IDX data (the labels file)")
    if fmt != "idx" and (data["labels"] is not None or data["labels_cid"] is not None):
        raise MalformedInput(f"data.labels is only for IDX data, not {fmt}")
    if spec.every > spec.steps:
        raise MalformedInput(f"checkpoint.every must be <= job.steps ({spec.every} > {spec.steps})")
    if spec.n_checkpoints > MAX_CHECKPOINTS:
        raise MalformedInput(
            f"job.steps / checkpoint.every make {spec.n_checkpoints} checkpoints, more than "
            f"{MAX_CHECKPOINTS}",
            hint="raise checkpoint.every",
        )
    if opt["name"] == "adamw" and (opt["momentum"] or opt["nesterov"]):
        raise MalformedInput("optimizer.momentum/nesterov are SGD options; AdamW uses betas")
    if opt["nesterov"] and opt["momentum"] == 0:
        raise MalformedInput("optimizer.nesterov needs optimizer.momentum > 0")
    if sched["warmup"] >= spec.steps:
        raise MalformedInput(f"schedule.warmup must be < job.steps ({sched['warmup']})")
    if sched["name"] == "step" and not sched["milestones"]:
        raise MalformedInput("schedule.milestones is required for a step schedule")
    if any(m >= spec.steps for m in sched["milestones"]):
        raise MalformedInput("schedule.milestones must all be < job.steps")
    mode, tol = spec.verify["mode"], spec.verify["tolerance"]
    if mode == "tolerance" and tol is None:
        raise MalformedInput("verify.tolerance is required in tolerance mode (e.g. 1e-3)")
    if mode == "exact" and tol is not None:
        raise MalformedInput("verify.tolerance is only for verify.mode = 'tolerance'")
    if spec.model["name"] == "transformer" and spec.augment["name"] != "none":
        raise MalformedInput("augment.name must be 'none' for a transformer (token data)")
    if spec.model["name"] == "transformer" and spec.model["d_model"] % spec.model["heads"]:
        raise MalformedInput("model.d_model must be a multiple of model.heads")


def compute_bound_seed(seed: int, job: str, prover: str) -> int:
    """The run seed of job `job` trained by `prover` (a 63-bit integer, like derive_seed)."""
    text = f"nnet-bind:{seed}:{job}:{prover.lower()}".encode()
    return int.from_bytes(keccak256(text)[:8], "big") >> 1


def _infer_format(path: str) -> str:
    name = path.lower()
    if name.endswith((".idx", ".idx.gz", "-ubyte", "-ubyte.gz")):
        return "idx"
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".npz"):
        return "npz"
    raise MalformedInput(
        f"data.format is not given and cannot be told from {path!r}",
        hint=f"set data.format to one of {', '.join(DATA_FORMATS)}",
    )


def load_spec(path: Path) -> JobSpec:
    """Read and check a job spec file; paths inside it are relative to its folder.

    `-` reads the spec from stdin; its paths are then relative to the current folder."""
    if str(path) == "-":
        import sys

        path, text = Path("<stdin>"), sys.stdin.buffer.read()
        try:
            doc = tomllib.loads(text.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise MalformedInput(f"stdin: not valid TOML: {e}") from None
        return parse_spec(doc, Path.cwd())
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such job spec: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MalformedInput(f"{path}: not valid TOML: {e}") from None
    return parse_spec(doc, path.resolve().parent)
