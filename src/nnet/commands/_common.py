"""What every command shares: option aliases, output (human or JSON), input files, passwords, keys,
and the client of the node.

Commands parse, call the core or a service, render, and raise errors from `nnet.errors`;
`nnet.cli.main` maps those to exit codes. Options are `Annotated` aliases so each is spelled one
way everywhere. Output goes through `emit` (one record), `emit_rows` (many: JSON lines or a
table), `emit_line` (an NDJSON line) and `emit_text` (text as it is); messages through `note`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from nnet.config import home_dir, resolve
from nnet.encoding import read_ndjson, to_json_line
from nnet.errors import NotFound, UsageError

if TYPE_CHECKING:
    from nnet.client import NodeClient

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
    emit_text(to_json_line(record) if as_json or human is None else human(record))


def emit_line(record: Any) -> None:
    """One NDJSON line on stdout (transactions, receipts, attestations)."""
    emit_text(to_json_line(record))


def emit_text(text: str) -> None:
    """Text that is the command's data, as it is (a path, a value, a keystore, a summary)."""
    print(text, flush=True)


# a table column: its header, and the record's key (shown by human_value) or a function of it
Column = tuple[str, str | Callable[[Any], object]]


def emit_rows(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[Column],
    as_json: bool,
    *,
    empty: str | None = None,
) -> None:
    """Many records: one JSON line each as they come (with --json, or whenever stdout is not a
    terminal), else one table of `columns` that fits the terminal. On a terminal, `empty` is
    said on stderr when there are no rows."""
    if want_json(as_json):
        for row in rows:
            emit_line(row)
        return
    cells = [
        [
            human_value(key, row.get(key)) if isinstance(key, str) else str(key(row))
            for _, key in columns
        ]
        for row in rows
    ]
    if not cells and empty is not None:
        note(empty)
        return
    emit_text(table(cells, [header for header, _ in columns]))


def note(message: str, *, end: str = "\n") -> None:
    """A message for people: stderr, never stdout."""
    print(message, end=end, file=sys.stderr, flush=True)


# ---- the node --------------------------------------------------------------------------------
def node_client(flag: str | None, *, timeout: float | None = None) -> NodeClient:
    """A client of the daemon: --node, else NNET_NODE, config `node`, this home's running
    daemon, or the default URL. `timeout` (seconds) for requests that move blobs or replay."""
    from nnet.client import DEFAULT_TIMEOUT, NodeClient

    url = resolve("node", flag) or ""
    return NodeClient(url, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)


def terminal_width() -> int:
    """Columns of the terminal (COLUMNS wins, as in every Unix tool); 80 when there is none."""
    import shutil

    return max(20, shutil.get_terminal_size((80, 24)).columns)


def table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    *,
    width: int | None = None,
    keep: Sequence[str] = (),
) -> str:
    """Aligned columns that fit the terminal (rich): a table wider than `width` (default: the
    terminal's) wraps its cells, at word boundaries where it can, rather than running off the
    edge. Columns named in `keep` never wrap (rich shortens the others first)."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    width = width or terminal_width()
    grid = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))
    for h in headers:
        grid.add_column(Text(h), no_wrap=h in keep, overflow="fold")
    for r in rows:
        grid.add_row(*(Text(str(c)) for c in r))  # Text: a cell's "[x]" is not rich markup
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False, emoji=False).print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def iso_time(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC, e.g. 2026-01-02T03:04:05.678Z."""
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def human_value(key: str, value: Any) -> str:
    """One value for people: `-` for none, times (keys ending in `time_ms`) as ISO-8601 UTC,
    nested records as compact JSON (never a Python repr)."""
    if value is None:
        return "-"
    if key.endswith("time_ms") and isinstance(value, int) and not isinstance(value, bool):
        return iso_time(value)
    if isinstance(value, dict | list | tuple):
        import json

        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def pairs(record: dict[str, Any]) -> str:
    """`key: value` lines for a terminal."""
    width = max((len(k) for k in record), default=0)
    return "\n".join(f"{k.rjust(width)}: {human_value(k, v)}" for k, v in record.items())


def format_param(kind: str, value: Any) -> str:
    """A governance parameter for people, the one way `nnet params` and `nnet econ params` both
    show it: amounts in NNET, shares and rates in percent, counts as they are. `kind` is the
    node's (units, ppm, ppb, count) or nnet.econ's (amount, rate, count); value an integer on the
    node's scale, or the Fraction nnet.econ holds for a rate."""
    from fractions import Fraction

    from nnet.encoding import format_amount

    if kind in ("units", "amount"):
        return format_amount(int(value)) + " NNET"
    scale = {"ppm": 10**6, "ppb": 10**9, "rate": 1}.get(kind)
    if scale is None:
        return str(value)
    percent = Fraction(value) * 100 / scale
    whole, rest = divmod(abs(percent.numerator), percent.denominator)
    digits = str(rest * 10**7 // percent.denominator).rjust(7, "0").rstrip("0")
    return ("-" if percent < 0 else "") + str(whole) + (f".{digits}" if digits else "") + "%"


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


# ---- output files ----------------------------------------------------------------------------
def check_output_path(path: Path, option: str, *, folder: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written: a usage error (exit 2)
    naming the option and the path. The nearest existing ancestor must be a writable folder; an
    existing path must be a folder (`folder`) or a file, as the command will write it."""
    if path.exists():
        if folder and not path.is_dir():
            raise UsageError(f"{option} {path}: exists and is not a folder")
        if not folder and path.is_dir():
            raise UsageError(f"{option} {path}: is a folder, a file path is needed")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: permission denied")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot create it, {parent} is not writable")


@contextmanager
def writing_output(path: Path, option: str) -> Iterator[None]:
    """Turn an OSError met while writing under `path` (permission, read-only or full disk, a
    file where a folder should be) into a usage error naming the option and the path, instead
    of an internal error. Errors about other files pass through unchanged."""
    try:
        yield
    except OSError as e:
        name = os.fsdecode(e.filename) if e.filename is not None else None
        target, failed = path.absolute(), Path(name).absolute() if name else None
        # the output itself, a file under it, or a folder on the way to it (mkdir -p)
        if failed is not None and not (
            failed.is_relative_to(target) or target.is_relative_to(failed)
        ):
            raise
        raise UsageError(f"{option} {path}: cannot write: {e.strerror or e}") from None


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


def address_of(text: str | None, key: str | None = None, *, what: str = "address") -> str:
    """The account a read command is about: an address as given (0x + 40 hex), or a key's
    address by name (TEXT or --key), else the signing key's. One resolver for every command
    that takes "ADDR or key name" (balance, node show)."""
    from nnet.crypto import normalize_address
    from nnet.keys import KeyStore

    if text and key:
        raise UsageError(f"give an {what} or --key, not both")
    if text and text.startswith(("0x", "0X")):
        return normalize_address(text, what)
    return KeyStore(home_dir()).info(key_name(text or key)).address


_UNLOCKED: dict[tuple[str, str, str], bytes] = {}


def unlock(flag: str | None, password_file: Path | None) -> tuple[str, bytes]:
    """(address, private key) of the signing key, decrypted with its password.

    A command that signs twice (a transaction and a blob upload permit) prompts once: a key
    unlocked at the prompt is kept for the life of this process, by keystore, name and address
    (a password from --password-file or NNET_PASSWORD is simply read again)."""
    from nnet.keys import KeyStore

    home = home_dir()
    store = KeyStore(home)
    name = key_name(flag)
    info = store.info(name)  # NotFound (listing keys) before asking for a password
    if password_file is not None or "NNET_PASSWORD" in os.environ:
        return info.address, store.secret(name, read_password(password_file))
    cache_key = (str(home), name, info.address)
    if cache_key not in _UNLOCKED:
        from nnet.os_keyring import saved_password  # a key put in the OS keyring (key keyring)

        password = saved_password(info)
        if password is None:
            password = read_password(None, what=f"key {name!r}")
        _UNLOCKED[cache_key] = store.secret(name, password)
    return info.address, _UNLOCKED[cache_key]


def each(items: Iterable[Any]) -> Iterator[Any]:
    """Iterate, flushing stdout as we go so pipes see records as they come."""
    for item in items:
        yield item
        sys.stdout.flush()
