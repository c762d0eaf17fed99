"""The commands shown in README.md, docs/ and every --help example exist, with the flags they use.

Each `nnet ...` invocation in a code block (split at pipes, `&&` and `;`) is resolved through the
Typer app: the subcommand path must exist and every `--flag` must be one of that command's options.
Nothing is run; this only keeps the docs from drifting away from the code.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from nnet.cli import build_app
from nnet.manpage import iter_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _root() -> Any:
    return typer.main.get_command(build_app())


def _invocations(text: str) -> list[str]:
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip().removeprefix("$ ")
            for part in re.split(r"\|\||&&|\||;|\$\(", line):
                part = part.strip()
                if part.startswith("nnet "):
                    out.append(part.rstrip(")"))
    return out


def _examples() -> list[str]:
    lines = []
    for _, cmd, _ in iter_commands(_root()):
        for m in re.finditer(r"Example: (.*)", cmd.help or ""):
            for part in re.split(r"\|\||&&|\||;", m.group(1)):
                if part.strip().startswith("nnet "):
                    lines.append(part.strip())
    return lines


CASES = [(p.name, inv) for p in DOCS for inv in _invocations(p.read_text())]
CASES += [("--help", inv) for inv in _examples()]


def test_the_docs_show_commands() -> None:
    assert len(CASES) > 40


@pytest.mark.parametrize(("where", "line"), CASES, ids=[f"{w}: {c[:60]}" for w, c in CASES])
def test_documented_command_exists_with_its_flags(where: str, line: str) -> None:
    try:
        words = shlex.split(line.replace("…", ""))[1:]
    except ValueError:
        words = line.split()[1:]
    cmd: Any = _root()
    path = ["nnet"]
    while hasattr(cmd, "commands") and words and not words[0].startswith("-"):
        name = words.pop(0)
        assert name in cmd.commands, f"{where}: `{' '.join(path)} {name}` does not exist ({line})"
        cmd = cmd.commands[name]
        path.append(name)
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
    for word in words:
        flag = word.split("=", 1)[0]
        if flag.startswith("--") or re.fullmatch(r"-[a-zA-Z]", flag):
            assert flag in known, f"{where}: `{' '.join(path)}` has no option {flag} ({line})"
