"""The `nnet` command: registers one module per command and maps errors to exit codes.

Each module under `nnet.commands` exposes `register(app)`. Command modules keep their top-level
imports light (no torch, no eth-keyfile, no httpx) so `nnet --help` starts fast; heavy parts are
imported inside the functions that need them.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from nnet import __version__
from nnet.errors import NnetError

# (module under nnet.commands) in the order `nnet --help` lists them
COMMAND_MODULES = (
    "quickstart",
    "key",
    "config_cmd",
    "tx_cmd",
    "transfer",
    "stake",
    "validator",
    "send",
    "status",
    "params",
    "balance",
    "block",
    "store",
    "claim",
    "vote",
    "node",
    "job",
    "econ",
    "devnet",
    "daemon",
    "train",
    "prove",
    "verify",
)


def _version(value: bool) -> None:
    if value:
        print(f"nnet {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The Typer app with every command registered."""
    app = typer.Typer(
        name="nnet",
        help=(
            "Neuronet: a proof-of-stake chain that pays for verifiable AI training.\n\n"
            "Data goes to stdout (JSON lines when piped), messages to stderr. "
            "Exit codes: 0 ok, 1 refused, 2 usage error, 3 node unreachable.\n\n"
            "Example: nnet key new alice && "
            "nnet transfer 0xRECIPIENT 1.5 --nonce 0 | nnet tx verify -"
        ),
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """Neuronet command-line tool."""

    for name in COMMAND_MODULES:
        importlib.import_module(f"nnet.commands.{name}").register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn NnetError into one line on stderr and its exit code.

    Typer's standalone mode already maps its own usage errors to exit 2; anything else that is not
    an NnetError is a bug, reported in one line (with the traceback under NNET_DEBUG=1).
    """
    debug = os.environ.get("NNET_DEBUG") == "1"
    try:
        build_app()(args=argv, prog_name="nnet")
    except NnetError as e:
        if debug:
            raise
        print(f"error: {e.one_line()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away (`nnet ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as e:
        if debug:
            raise
        print(
            f"error: internal error: {type(e).__name__}: {e} (set NNET_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
