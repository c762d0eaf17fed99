"""`nnet train SPEC -o RUN`: deterministic training with proof logging (torch loads only here)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nnet.commands._common import (
    JsonOpt,
    check_output_path,
    emit,
    note,
    pairs,
    want_json,
    writing_output,
)
from nnet.commands._hints import flag_hints

if TYPE_CHECKING:
    from nnet.proof.trainer import Progress


def register(app: typer.Typer) -> None:
    app.command("train")(train)


class _Bar:
    """A progress line on stderr: redrawn in place on a terminal, every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5 and p.step != p.steps:
            return
        self.last = now
        filled = int(30 * p.step / p.steps)
        line = (
            f"[{'#' * filled}{'.' * (30 - filled)}] step {p.step}/{p.steps}  "
            f"loss {p.loss:.4f}  {p.steps_per_s:.0f} steps/s"
        )
        if self.tty:
            note(f"\r{line}", end="\n" if p.step == p.steps else "")
        else:
            note(line)


def train(
    spec: Annotated[
        Path, typer.Argument(help="Job spec (TOML), or - for stdin; see docs/job-spec.md.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create.")],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run in --out bit-identically.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a job deterministically, writing hashed checkpoints for a proof-of-learning.

    Ctrl-C leaves a resumable run. Then `nnet prove RUN` signs the commitment.

    Example: nnet train examples/mnist.toml -o run && nnet prove run | nnet verify - --run run
    """
    from nnet.proof.spec import load_spec
    from nnet.proof.trainer import TrainOptions
    from nnet.proof.trainer import train as run_training

    check_output_path(out, "--out", folder=True)  # before any work
    job = load_spec(spec)
    options = TrainOptions(resume=resume, progress=None if quiet else _Bar())
    note(f"{'resuming' if resume else 'training'} {spec} into {out}")
    try:
        resume_hint = "pass --resume to continue that run, or choose another -o"
        with writing_output(out, "--out"), flag_hints(run_exists=resume_hint):
            manifest = run_training(job, out, options)
    except KeyboardInterrupt:
        note(f"\ninterrupted; continue with: nnet train {spec} -o {out} --resume")
        raise typer.Exit(130) from None
    summary = {
        "run": str(out),
        "spec": manifest["spec"],
        "dataset": manifest["dataset"],
        "steps": manifest["steps_done"],
        "checkpoints": manifest["checkpoints"],
        "final": manifest["final"],
        "env": manifest["env"]["class"],
        **manifest["metrics"],
    }
    emit(summary, as_json=want_json(as_json), human=pairs)
