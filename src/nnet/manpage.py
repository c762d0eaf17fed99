"""Man pages (roff) generated from the Typer app: one page per command under `man/`.

`python -m nnet.manpage man` rewrites the pages; tests/test_manpage.py fails when a page differs
from what the code would generate now, so help text and man pages cannot drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from nnet import __version__
from nnet.cli import build_app


def iter_commands(
    cmd: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """(path, command, context) for every leaf command and group, depth first, sorted by name."""
    ctx = cmd.context_class(cmd, info_name=path[-1] if path else "nnet")
    yield path, cmd, ctx
    for name in sorted(getattr(cmd, "commands", {})):
        sub = cmd.commands[name]
        if not getattr(sub, "hidden", False):
            yield from iter_commands(sub, (*path, name))


def _esc(text: str) -> str:
    """Escape text for roff: backslashes, and leading dots or quotes on a line."""
    out = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def render(path: tuple[str, ...], cmd: Any, ctx: Any) -> str:
    """The roff source of one page."""
    name = "-".join(("nnet", *path))
    full = " ".join(("nnet", *path))
    help_text = (cmd.help or "").strip()
    summary = (cmd.short_help or help_text.split("\n\n")[0]).strip().rstrip(".")
    lines = [
        f'.TH "{name.upper()}" "1" "" "nnet {__version__}" "nnet manual"',
        ".SH NAME",
        f"{_esc(name)} \\- {_esc(summary)}",
        ".SH SYNOPSIS",
        f".B {_esc(full)}",
        _esc(" ".join(cmd.collect_usage_pieces(ctx))),
    ]
    body, example = _split_example(help_text)
    if body:
        lines += [".SH DESCRIPTION", *_paragraphs(body)]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    opts = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]
    if args:
        lines.append(".SH ARGUMENTS")
        for p in args:
            lines += [
                ".TP",
                f"\\fB{_esc((p.name or '').upper())}\\fR",
                _esc(getattr(p, "help", None) or ""),
            ]
    if opts:
        lines.append(".SH OPTIONS")
        for p in opts:
            record = p.get_help_record(ctx)
            if record:
                lines += [".TP", f"\\fB{_esc(record[0])}\\fR", _esc(record[1])]
    subs = sorted(getattr(cmd, "commands", {}))
    if subs:
        lines.append(".SH COMMANDS")
        for s in subs:
            sub = cmd.commands[s]
            lines += [".TP", f"\\fB{_esc(full + ' ' + s)}\\fR", _esc(sub.get_short_help_str(200))]
    if example:
        lines += [".SH EXAMPLE", ".nf", _esc(example), ".fi"]
    lines += [
        ".SH EXIT STATUS",
        "0 success; 1 the operation ran and said no; 2 usage error or malformed input; "
        "3 the node cannot be reached.",
        ".SH ENVIRONMENT",
        "NNET_HOME, NNET_NODE, NNET_KEY, NNET_PASSWORD, NNET_CHAIN, NNET_FEE, NNET_DEBUG.",
        ".SH SEE ALSO",
        "\\fBnnet\\fR(1)" if path else ", ".join(f"\\fBnnet\\-{_esc(s)}\\fR(1)" for s in subs),
    ]
    return "\n".join(lines) + "\n"


def _split_example(text: str) -> tuple[str, str]:
    """Separate the `Example: ...` paragraph from the rest of a docstring."""
    parts = [p for p in text.split("\n\n")]
    examples = [p for p in parts if p.strip().startswith("Example:")]
    rest = [p for p in parts if not p.strip().startswith("Example:")]
    example = "\n".join(e.strip()[len("Example:") :].strip() for e in examples)
    return "\n\n".join(rest).strip(), example


def _paragraphs(text: str) -> list[str]:
    out: list[str] = []
    for para in text.split("\n\n"):
        out += [".PP", _esc(" ".join(line.strip() for line in para.splitlines()))]
    return out


def pages() -> dict[str, str]:
    """File name -> page text for every command of the current app."""
    root = typer.main.get_command(build_app())
    return {"-".join(("nnet", *p)) + ".1": render(p, c, x) for p, c, x in iter_commands(root)}


def write(directory: Path) -> list[Path]:
    """Rewrite the pages in `directory`, removing pages of commands that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    want = pages()
    for old in directory.glob("nnet*.1"):
        if old.name not in want:
            old.unlink()
    written = []
    for fname, text in want.items():
        target = directory / fname
        target.write_text(text)
        written.append(target)
    return written


if __name__ == "__main__":
    out = write(Path(sys.argv[1] if len(sys.argv) > 1 else "man"))
    print(f"wrote {len(out)} man pages", file=sys.stderr)
