"""`nnet config get|set|unset|list`: settings in $NNET_HOME/config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._common import JsonOpt, emit_rows, emit_text, note
from nnet.config import SETTINGS, Config, home_dir, resolve

app = typer.Typer(help="Read and write settings in $NNET_HOME/config.toml.", no_args_is_help=True)
KeyArg = Annotated[str, typer.Argument(help=f"Setting: one of {', '.join(SETTINGS)}.")]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="config")


@app.command("get")
def get(name: KeyArg) -> None:
    """Print a setting's value as it applies now (environment beats config.toml).

    Example: nnet config get node
    """
    value = resolve(name)
    if value is None:
        note(f"{name} is not set")
        raise typer.Exit(1)
    emit_text(value)


@app.command("set")
def set_(name: KeyArg, value: Annotated[str, typer.Argument(help="The new value.")]) -> None:
    """Store a setting in $NNET_HOME/config.toml.

    Example: nnet config set node http://10.0.0.5:7654
    """
    cfg = Config(home_dir())
    cfg.set(name, value)
    note(f"{name} = {value} (in {cfg.path})")


@app.command("unset")
def unset(name: KeyArg) -> None:
    """Remove a setting from config.toml, so its default applies again.

    Example: nnet config unset key
    """
    Config(home_dir()).unset(name)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every setting with its value now and where that value comes from.

    Example: nnet config list --json
    """
    import os

    stored = Config(home_dir()).load()
    rows = []
    for s in SETTINGS.values():
        if s.env and os.environ.get(s.env):
            source = f"env {s.env}"
        elif s.name in stored:
            source = "config.toml"
        else:
            source = "default"
        rows.append({"name": s.name, "value": resolve(s.name), "source": source, "help": s.help})
    columns = [("SETTING", "name"), ("VALUE", "value"), ("SOURCE", "source"), ("MEANING", "help")]
    emit_rows(rows, columns, as_json)
