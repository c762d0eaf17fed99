"""`nnet key new|list|show|import|export`: keystore v3 keys under $NNET_HOME/keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nnet.commands._common import (
    JsonOpt,
    PasswordFileOpt,
    emit,
    emit_rows,
    emit_text,
    note,
    pairs,
    read_password,
    want_json,
)
from nnet.config import home_dir
from nnet.encoding import strict_loads
from nnet.errors import MalformedInput, UsageError

if TYPE_CHECKING:
    from nnet.keys import KeyStore

NameArg = Annotated[str, typer.Argument(help="Name of the key, e.g. alice.")]

app = typer.Typer(
    help="Create, list, show, import and export keys (Ethereum keystore v3).", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="key")


def _store() -> KeyStore:
    from nnet.keys import KeyStore

    return KeyStore(home_dir())


@app.command("new")
def new(
    name: NameArg,
    password_file: PasswordFileOpt = None,
    light_kdf: Annotated[
        bool,
        typer.Option(
            "--light-kdf", help="Weaker, faster scrypt (n=4096) for devnets, as geth's --lightkdf."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a new random key, encrypted with a password, and print its address.

    Example: NNET_PASSWORD=secret nnet key new alice
    """
    store = _store()
    if store.path(name).exists():
        raise UsageError(f"a key named {name!r} already exists", hint="choose another name")
    password = read_password(password_file, confirm=True, what=f"new key {name!r}")
    info = store.create(name, password, light=light_kdf)
    note(f"created key {name!r} at {info.path}")
    emit(info.to_dict(), as_json=want_json(as_json), human=lambda r: r["address"])


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the keys in $NNET_HOME/keys with their addresses (no password needed).

    Example: nnet key list --json | jq -r .address
    """
    emit_rows(
        (info.to_dict() for info in _store().list()),
        [("NAME", "name"), ("ADDRESS", "address")],
        as_json,
        empty="no keys yet; create one with `nnet key new NAME`",
    )


@app.command("show")
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show a key's address and file (no password needed).

    Example: nnet key show alice
    """
    emit(_store().info(name).to_dict(), as_json=want_json(as_json), human=pairs)


@app.command("import")
def import_(
    file: Annotated[
        str, typer.Argument(help="Keystore v3 JSON file (geth, MetaMask), or - for stdin.")
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name to store it under (default: the file's stem)."),
    ] = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a keystore v3 file exported from an Ethereum wallet; the password must open it.

    Example: NNET_PASSWORD=secret nnet key import UTC--2026-01-01--0x1234.json --name cold
    """
    from nnet.commands._common import open_input

    stream, source = open_input(file)
    with stream:
        text = stream.read()
    keystore = strict_loads_keystore(text, source)
    key_name = name or (Path(file).stem if file != "-" else None)
    if not key_name:
        raise UsageError("reading from stdin needs --name")
    store = _store()
    if store.path(key_name).exists():
        raise UsageError(f"a key named {key_name!r} already exists", hint="pass --name OTHER")
    info = store.add(key_name, keystore, read_password(password_file, what=f"{source}"))
    note(f"imported {source} as {key_name!r}")
    emit(info.to_dict(), as_json=want_json(as_json), human=lambda r: r["address"])


def strict_loads_keystore(text: str, source: str) -> dict[str, object]:
    """Parse a keystore file; keystores do contain no floats, so the strict parser fits."""
    try:
        data = strict_loads(text)
    except MalformedInput as e:
        raise MalformedInput(f"{source}: {e.message}") from None
    if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
        raise MalformedInput(f"{source} is not a keystore v3 file (no crypto section)")
    if "crypto" not in data:  # some wallets write "Crypto"
        data["crypto"] = data.pop(next(k for k in data if k.lower() == "crypto"))
    return data


@app.command("export")
def export(
    name: NameArg,
    private_key: Annotated[
        bool,
        typer.Option(
            "--private-key", help="Print the raw private key (hex) instead; asks the password."
        ),
    ] = False,
    password_file: PasswordFileOpt = None,
) -> None:
    """Print a key's keystore v3 JSON, ready for geth or MetaMask (or its raw private key).

    Example: nnet key export alice > alice.keystore.json
    """
    store = _store()
    if private_key:
        secret = store.secret(name, read_password(password_file, what=f"key {name!r}"))
        note("this is the raw private key: anyone who sees it controls the funds")
        emit_text("0x" + secret.hex())
        return
    emit_text(json.dumps(store.read(name)))
