"""What every command shares: option aliases, output (human or JSON), input files, passwords, keys.

Commands parse, call the core, render, and raise errors from `nnet.errors`; `nnet.cli.main` maps
those to exit codes. Options are `Annotated` aliases so each is spelled one way everywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from nnet.config import home_dir, resolve
from nnet.encoding import read_ndjson, to_json_line
from nnet.errors import NotFound, UsageError

# ---- option aliases --------------------------------------------------------------------------
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (the default when stdout is not a terminal).")
]
KeyOpt = Annotated[
    str | None, typer.Option("--key", "-k", help="Key that signs [env NNET_KEY, config key].")
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read the key's password from this file [env NNET_PASSWORD]."
    ),
]
NodeOpt = Annotated[
    str | None, typer.Option("--node", help="Daemon URL [env NNET_NODE, config node].")
]
NonceOpt = Annotated[
    int | None, typer.Option("--nonce", min=0, help="Nonce to use (default: asked from the node).")
]
FeeOpt = Annotated[
    str | None, typer.Option("--fee", help="Fee in NNET, e.g. 0.001 [env NNET_FEE, config fee].")
]
ChainOpt = Annotated[
    str | None, typer.Option("--chain", help="Chain id [env NNET_CHAIN, config chain].")
]
SendOpt = Annotated[
    bool, typer.Option("--send", help="Submit to the node and print the receipt instead of the tx.")
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="With --send: wait until the tx is committed.")
]
InputArg = Annotated[str, typer.Argument(help="File to read, or - for stdin.")]


# ---- output ----------------------------------------------------------------------------------
def want_json(flag: bool) -> bool:
    """JSON when asked, and whenever stdout is not a terminal (pipes, files, cron)."""
    return flag or not sys.stdout.isatty()


def emit(record: Any, *, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    """Print one record: a JSON line, or the human rendering on a terminal."""
    if as_json or human is None:
        print(to_json_line(record), flush=True)
    else:
        print(human(record), flush=True)


def emit_line(record: Any) -> None:
    """One NDJSON line on stdout (transactions, receipts, attestations)."""
    print(to_json_line(record), flush=True)


def note(message: str) -> None:
    """A message for people: stderr, never stdout."""
    print(message, file=sys.stderr, flush=True)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Plain aligned columns for a terminal."""
    cells = [list(headers), *[list(map(str, r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def pairs(record: dict[str, Any]) -> str:
    """`key: value` lines for a terminal."""
    width = max((len(k) for k in record), default=0)
    return "\n".join(f"{k.rjust(width)}: {'-' if v is None else v}" for k, v in record.items())


# ---- input -----------------------------------------------------------------------------------
def open_input(path: str) -> tuple[TextIO, str]:
    """A text stream for FILE or `-` (stdin), and a name for error messages."""
    if path == "-":
        return sys.stdin, "stdin"
    try:
        return open(path, encoding="utf-8"), path
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}", hint="give a path, or - to read stdin") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def ndjson_records(path: str) -> Iterator[Any]:
    """Each JSON value of an NDJSON file or stdin; a malformed line is exit 2 naming its number."""
    stream, name = open_input(path)
    try:
        yield from read_ndjson(stream, source=name)
    finally:
        if stream is not sys.stdin:
            stream.close()


# ---- keys and passwords ----------------------------------------------------------------------
def read_password(password_file: Path | None, *, confirm: bool = False, what: str = "key") -> str:
    """--password-file, then NNET_PASSWORD, then a prompt on the terminal (never on a pipe)."""
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"cannot read password file {password_file}: {e.strerror}") from None
    env = os.environ.get("NNET_PASSWORD")
    if env is not None:
        return env
    return _prompt_password(confirm=confirm, what=what)


def _prompt_password(*, confirm: bool, what: str) -> str:
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115
    except OSError:
        raise UsageError(
            "a password is needed and there is no terminal to ask on",
            hint="set NNET_PASSWORD or pass --password-file",
        ) from None
    import getpass

    with tty:
        first = getpass.getpass(f"Password for {what}: ", stream=tty)
        if confirm and getpass.getpass("Repeat password: ", stream=tty) != first:
            raise UsageError("the passwords do not match; nothing was written")
    return first


def key_name(flag: str | None) -> str:
    """The signing key: --key, NNET_KEY, config `key`, or the only key there is."""
    from nnet.keys import KeyStore

    name = resolve("key", flag)
    if name:
        return name
    names = KeyStore(home_dir()).names()
    if len(names) == 1:
        return names[0]
    have = ", ".join(names) if names else "none yet (create one with `nnet key new NAME`)"
    raise NotFound("no key chosen", hint=f"pass --key NAME or set NNET_KEY; keys here: {have}")


def unlock(flag: str | None, password_file: Path | None) -> tuple[str, bytes]:
    """(address, private key) of the signing key, decrypted with its password."""
    from nnet.keys import KeyStore

    store = KeyStore(home_dir())
    name = key_name(flag)
    info = store.info(name)  # NotFound (listing keys) before asking for a password
    secret = store.secret(name, read_password(password_file, what=f"key {name!r}"))
    return info.address, secret


def each(items: Iterable[Any]) -> Iterator[Any]:
    """Iterate, flushing stdout as we go so pipes see records as they come."""
    for item in items:
        yield item
        sys.stdout.flush()
