"""`nnet key new|recover|list|show|import|export`: keystore v3 keys under $NNET_HOME/keys, made
at random, from a BIP-39 mnemonic (MetaMask's path), or imported from a wallet's keystore or raw
hex export. Secrets (words, raw keys) are read from stdin or the terminal, never from argv, which
leaks into shell history and `ps`."""

from __future__ import annotations

import json
import sys
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
    from nnet.keys import KeyInfo, KeyStore

NameArg = Annotated[str, typer.Argument(help="Name of the key, e.g. alice.")]
LightKdfOpt = Annotated[
    bool,
    typer.Option(
        "--light-kdf", help="Weaker, faster scrypt (n=4096) for devnets, as geth's --lightkdf."
    ),
]
KeyringOpt = Annotated[
    bool,
    typer.Option(
        "--keyring",
        help="Keep the password in the OS keyring too (needs the optional `keyring` package):"
        " signing commands then need no NNET_PASSWORD.",
    ),
]
MNEMONIC_WARNING = (
    "WARNING: these words ARE the key. Anyone who reads them controls its funds, and nnet shows\n"
    "them only this once. Write them down, in order, and keep them offline; `nnet key recover`\n"
    "or any BIP-39 wallet (MetaMask, Ledger) rebuilds the key from them."
)

app = typer.Typer(
    help="Create, recover, list, show, import and export keys (Ethereum keystore v3).",
    no_args_is_help=True,
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="key")


def _store() -> KeyStore:
    from nnet.keys import KeyStore

    return KeyStore(home_dir())


@app.command("new")
def new(
    name: NameArg,
    mnemonic: Annotated[
        bool,
        typer.Option(
            "--mnemonic",
            help="Make the key from a new BIP-39 mnemonic (account 0 of m/44'/60'/0'/0/i, as"
            " MetaMask) and print the words once.",
        ),
    ] = False,
    words: Annotated[
        int | None, typer.Option("--words", help="With --mnemonic: 12 (default), 15, 18, 21 or 24.")
    ] = None,
    password_file: PasswordFileOpt = None,
    light_kdf: LightKdfOpt = False,
    keyring: KeyringOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a new key (random, or from a new BIP-39 mnemonic), encrypted with a password, and
    print its address.

    With --mnemonic the key is account 0 of a new BIP-39 mnemonic; the words are printed once, on
    stderr (in the JSON on stdout with --json), and never stored.

    Example: NNET_PASSWORD=secret nnet key new alice --mnemonic --words 24
    """
    if words is not None and not mnemonic:
        raise UsageError("--words needs --mnemonic")
    _check_keyring(keyring)
    store = _store()
    if store.path(name).exists():
        raise UsageError(f"a key named {name!r} already exists", hint="choose another name")
    if not mnemonic:
        password = read_password(password_file, confirm=True, what=f"new key {name!r}")
        info = store.create(name, password, light=light_kdf)
        note(f"created key {name!r} at {info.path}")
        _keep_in_keyring(keyring, info, password)
        emit(info.to_dict(), as_json=want_json(as_json), human=lambda r: r["address"])
        return
    from nnet.keys import hd_path, new_mnemonic

    phrase, secret = new_mnemonic(12 if words is None else words)
    password = read_password(password_file, confirm=True, what=f"new key {name!r}")
    info = store.add_secret(name, secret, password, light=light_kdf)
    note(f"created key {name!r} at {info.path} from a new mnemonic, path {hd_path(0)}")
    record: dict[str, str] = {**info.to_dict(), "hd_path": hd_path(0)}
    note(MNEMONIC_WARNING)
    if as_json:  # asked for by name: the words go to stdout, where the caller wants them
        emit({**record, "mnemonic": phrase}, as_json=True)
    else:
        note("\n" + phrase + "\n")
        emit(record, as_json=want_json(as_json), human=lambda r: r["address"])
    _keep_in_keyring(keyring, info, password)  # after the words: a refusal must not lose them


@app.command("recover")
def recover(
    name: NameArg,
    index: Annotated[
        int,
        typer.Option(
            "--index", min=0, help="Account i of m/44'/60'/0'/0/i; MetaMask's first account is 0."
        ),
    ] = 0,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help="Read the BIP-39 passphrase (the optional '25th word') from this file.",
        ),
    ] = None,
    password_file: PasswordFileOpt = None,
    light_kdf: LightKdfOpt = False,
    keyring: KeyringOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a key from its BIP-39 mnemonic and store it encrypted, as `key new` does.

    The words are read from stdin, or asked on the terminal without echo; never from the command
    line, which shell history and `ps` would keep. The key is account i (--index) of MetaMask's
    path m/44'/60'/0'/0/i.

    Example: nnet key recover alice --index 1 < words.txt
    """
    from nnet.keys import hd_path, secret_from_mnemonic

    _check_keyring(keyring)
    store = _store()
    if store.path(name).exists():
        raise UsageError(f"a key named {name!r} already exists", hint="choose another name")
    path = hd_path(index)
    passphrase = ""
    if passphrase_file is not None:
        try:
            passphrase = passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise UsageError(
                f"cannot read passphrase file {passphrase_file}: {e.strerror}"
            ) from None
    secret = secret_from_mnemonic(_read_secret("mnemonic"), index=index, passphrase=passphrase)
    password = read_password(password_file, confirm=True, what=f"new key {name!r}")
    info = store.add_secret(name, secret, password, light=light_kdf)
    note(f"recovered key {name!r} at {info.path}, path {path}")
    _keep_in_keyring(keyring, info, password)
    emit(
        {**info.to_dict(), "hd_path": path},
        as_json=want_json(as_json),
        human=lambda r: r["address"],
    )


def _check_keyring(wanted: bool) -> None:
    if wanted:  # before any work: a missing package must not leave a key half set up
        from nnet.os_keyring import check_available

        check_available()


def _keep_in_keyring(wanted: bool, info: KeyInfo, password: str) -> None:
    if wanted:
        from nnet.os_keyring import save_password

        save_password(info, password)
        note(f"the password of key {info.name!r} is in the OS keyring")


def _password(name: str, password_file: Path | None) -> str:
    """--password-file, NNET_PASSWORD, the OS keyring (for a key put there), or a prompt."""
    import os

    if password_file is None and "NNET_PASSWORD" not in os.environ:
        from nnet.os_keyring import saved_password

        saved = saved_password(_store().info(name))
        if saved is not None:
            return saved
    return read_password(password_file, what=f"key {name!r}")


@app.command("keyring")
def keyring_(
    name: NameArg,
    forget: Annotated[
        bool, typer.Option("--forget", help="Take the password out of the OS keyring instead.")
    ] = False,
    password_file: PasswordFileOpt = None,
) -> None:
    """Keep a key's password in the OS keyring (needs the optional `keyring` package), so that
    signing commands find it there instead of in NNET_PASSWORD; the password must open the key.

    Example: nnet key keyring alice
    """
    from nnet.os_keyring import check_available, forget_password

    store = _store()
    info = store.info(name)
    check_available()
    if forget:
        gone = forget_password(info)
        note(
            f"key {name!r}: " + ("password removed from" if gone else "was not in") + " the keyring"
        )
        return
    password = read_password(password_file, what=f"key {name!r}")
    store.secret(name, password)  # WrongPassword (exit 1) before anything is kept
    _keep_in_keyring(True, info, password)


def _read_secret(what: str) -> str:
    """Words or a key typed by a person: stdin when it is not a terminal, else a prompt on the
    terminal with echo off."""
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        if not text.strip():
            raise UsageError(
                f"no {what} on stdin", hint=f"pipe the {what} in, or run on a terminal"
            )
        return text
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115
    except OSError:
        raise UsageError(
            f"a {what} is needed and there is no terminal to ask on", hint=f"pipe the {what} in"
        ) from None
    import getpass

    with tty:
        return getpass.getpass(f"{what.capitalize()} (not shown): ", stream=tty)


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
        str,
        typer.Argument(
            help="Keystore v3 JSON (geth, MetaMask) or a raw hex private key (MetaMask's export),"
            " in a file or - for stdin."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name to store it under (default: the file's stem)."),
    ] = None,
    password_file: PasswordFileOpt = None,
    light_kdf: LightKdfOpt = False,
    keyring: KeyringOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a key exported from an Ethereum wallet: a keystore v3 file (its password must open
    it; the file is kept as it is), or a raw private key, 64 hex digits with or without 0x
    (encrypted here with a new password, --light-kdf applies).

    Example: nnet key import - --name metamask < exported-key.txt
    """
    from nnet.commands._common import open_input

    _check_keyring(keyring)
    if file == "-" and sys.stdin.isatty():  # typed or pasted by a person: do not echo it
        text, source = _read_secret("private key"), "the terminal"
    else:
        stream, source = open_input(file)
        with stream:
            text = stream.read()
    key_name = name or (Path(file).stem if file != "-" else None)
    if not key_name:
        raise UsageError("reading from stdin needs --name")
    store = _store()
    if store.path(key_name).exists():
        raise UsageError(f"a key named {key_name!r} already exists", hint="pass --name OTHER")
    info: KeyInfo
    if text.lstrip().startswith("{"):
        keystore = strict_loads_keystore(text, source)
        password = read_password(password_file, what=f"{source}")
        info = store.add(key_name, keystore, password)
        note(f"imported {source} as {key_name!r}")
    else:
        from nnet.keys import secret_from_hex

        secret = secret_from_hex(text, source=source)
        password = read_password(password_file, confirm=True, what=f"new key {key_name!r}")
        info = store.add_secret(key_name, secret, password, light=light_kdf)
        note(f"imported the raw private key in {source} as {key_name!r}, now encrypted")
    _keep_in_keyring(keyring, info, password)
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
        secret = store.secret(name, _password(name, password_file))
        note("this is the raw private key: anyone who sees it controls the funds")
        emit_text("0x" + secret.hex())
        return
    emit_text(json.dumps(store.read(name)))
