"""The core's error messages name no CLI flags: flags belong to the command that has them.

A core error says what is wrong ("the run is not finished") and carries a stable code; the command
that called it adds the hint that names its flags (commands/_hints.py). The scan reads, with `ast`,
every error the core builds (`raise UsageError(...)`, or one made to be raised later) and the
strings that flow into it, including a hint built in a local variable first.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import nnet.errors
from nnet.commands._hints import flag_hints
from nnet.errors import NotFound, UsageError
from nnet.proof.rundir import RUN_FORMAT
from tests.conftest import RunCli
from tests.test_layers import CORE, _modules, layer_of

SCOPE = CORE | {"node"}  # the daemon is no command either: its errors go out over HTTP too
ERRORS = set(nnet.errors.__all__)
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")

# (module, flag) still named in a core message, each with the reason it stands. The list may only
# shrink: a flag that is gone must leave it too (the test says so).
KNOWN: dict[tuple[str, str], str] = {}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _assigned(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """Local name -> the values assigned to it in `scope` (a hint built before the error is)."""
    out: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            out.setdefault(node.target.id, []).append(node.value)
    return out


def _texts(node: ast.AST, names: dict[str, list[ast.expr]], depth: int = 0) -> list[str]:
    texts = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            texts.append(sub.value)
        elif isinstance(sub, ast.Name) and depth < 2:
            for value in names.get(sub.id, []):
                texts += _texts(value, names, depth + 1)
    return texts


def flags_in_errors(source: str) -> list[tuple[int, str]]:
    """(line, flag) of every `--flag` in the text of an error the source builds."""
    tree = ast.parse(source)
    found = []
    scopes: list[ast.AST] = [tree]
    scopes += [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in scopes:
        names = _assigned(scope)
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and _name(node.func) in ERRORS:
                parts = [*node.args, *(k.value for k in node.keywords)]
                for text in (t for p in parts for t in _texts(p, names)):
                    found += [(node.lineno, flag) for flag in FLAG.findall(text)]
    return sorted(set(found))


def _core_flags() -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for module, path in _modules():
        if layer_of(module) in SCOPE:
            for line, flag in flags_in_errors(path.read_text(encoding="utf-8")):
                out.setdefault((module, flag), []).append(line)
    return out


def test_the_scan_finds_flags_in_messages_and_hints_however_they_are_built() -> None:
    source = '''
def f(x):
    if x:
        raise UsageError(f"--listen {x!r} is bad", hint="e.g. 1")
    hint = "pass" + " --resume" if x else "none"
    return errors.InvalidTx("no", hint=hint)

def g():
    """A docstring may say --anything."""
    log("--not-an-error")
    raise NotFound("nothing here", hint="give it a name")
'''
    assert flags_in_errors(source) == [(4, "--listen"), (6, "--resume")]


def test_core_error_messages_name_no_cli_flags() -> None:
    found = _core_flags()
    new = {k: lines for k, lines in found.items() if k not in KNOWN}
    assert not new, "core errors that name a CLI flag (move the flag to the command):\n" + (
        "\n".join(f"  {m}:{lines} {flag}" for (m, flag), lines in sorted(new.items()))
    )
    gone = [k for k in KNOWN if k not in found]
    assert not gone, f"fixed, so remove from KNOWN: {gone}"


def test_flag_hints_give_a_core_error_the_commands_hint_by_its_code() -> None:
    with pytest.raises(UsageError) as info, flag_hints(run_exists="pass --resume"):
        raise UsageError("the run exists", hint="resume it", code="run_exists")
    assert info.value.one_line() == "the run exists; pass --resume"
    with pytest.raises(NotFound) as other, flag_hints(run_exists="pass --resume"):
        raise NotFound("no such run", hint="check the path")
    assert other.value.hint == "check the path"  # another code keeps its own hint


def test_the_daemon_command_names_its_flags_where_the_node_does_not(
    run_cli: RunCli, tmp_path: Path
) -> None:
    r = run_cli("daemon", "--listen", "127.0.0.1:0", env={"NNET_HOME": str(tmp_path / "x")})
    assert r.exit_code == 2 and "nnet devnet init" in r.stderr and "--genesis" in r.stderr
    r = run_cli("daemon", "--listen", "nonsense")
    assert r.exit_code == 2 and "--listen 'nonsense' is not HOST:PORT" in r.stderr


def test_prove_names_the_resume_flag_for_an_unfinished_run(run_cli: RunCli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    manifest = {"format": RUN_FORMAT, "complete": False, "steps_done": 3}
    (run / "run.json").write_text(json.dumps(manifest))
    (run / "trace.jsonl").write_text("")
    r = run_cli("prove", str(run))
    assert r.exit_code == 2 and "not finished" in r.stderr, r.stderr
    assert f"nnet train SPEC -o {run} --resume" in r.stderr
