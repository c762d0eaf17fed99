"""`nnet prove RUN`: the signed proof-of-learning commitment over a finished run (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnet.commands._common import KeyOpt, PasswordFileOpt, emit_line, note, unlock


def register(app: typer.Typer) -> None:
    app.command("prove")(prove)


def prove(
    run: Annotated[Path, typer.Argument(help="Run directory written by `nnet train`.")],
    job: Annotated[
        str | None, typer.Option("--job", help="Job id on chain the proof is for.")
    ] = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Sign the commitment over a training run: spec, dataset, init, Merkle root of checkpoint
    hashes, final model, metrics, environment class. Prints one JSON line of a few hundred bytes.

    Example: nnet prove run | nnet verify - --run run
    """
    from nnet.proof.commitment import make_proof
    from nnet.proof.rundir import RunDir

    rundir = RunDir(run)
    rundir.get_commitment()  # a usage error (unfinished run) before asking for a password
    _, secret = unlock(key, password_file)
    proof = make_proof(rundir, secret, job)
    note(f"proof over {proof['checkpoints']} checkpoints, signed by {proof['prover']}")
    emit_line(proof)
