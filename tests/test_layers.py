"""The layer table of the architecture (design/ARCHITECTURE.md, "Layers"), enforced on the source.

Each layer imports only the layers below it; the core never imports the CLI or web frameworks;
torch is loaded only where training or replay happens. The check reads every module's imports
with `ast` (module level and inside functions alike: a lazy import still couples the layers).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nnet"

# lowest first; a module may import its own layer and any layer listed before it
LAYERS = [
    "foundation",  # keys, tx, crypto, vrf, encoding, errors, config, cid
    "store",
    "econ",
    "proof",
    "chain",
    "node",
    "client",
    "services",  # services/: workflows that are neither core nor CLI
    "commands",
    "cli",
]
RANK = {name: i for i, name in enumerate(LAYERS)}
PACKAGES = {"store", "econ", "proof", "chain", "node", "commands"}
SERVICES = {"services"}
CLI = {"cli", "manpage", "__main__"}
CORE = {"foundation", "store", "econ", "proof", "chain"}
FRAMEWORKS = {"typer", "rich", "starlette", "uvicorn", "click"}

# Edges that break the table today, each with the reason it still stands. The list may only
# shrink: an edge that is gone must leave it too (the test says so).
KNOWN: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return "foundation"
    head = parts[1]
    if head in PACKAGES:
        return head
    if head in SERVICES:
        return "services"
    if head == "client":
        return "client"
    if head in CLI:
        return "cli"
    return "foundation"


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append((".".join(["nnet", *parts]), path))
    return out


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
    return found


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in _modules():
        src_layer = layer_of(module)
        for name in _imports(path, module):
            if name == "nnet" or not name.startswith("nnet."):
                continue
            dst_layer = layer_of(name)
            if RANK[dst_layer] > RANK[src_layer]:
                edges.setdefault((module, name), []).append(f"{src_layer} -> {dst_layer}")
    return edges


def test_every_module_has_a_layer() -> None:
    assert len(_modules()) > 50
    for module, _ in _modules():
        assert layer_of(module) in RANK


def test_layers_import_only_downward() -> None:
    upward = _edges()
    new = {edge: how for edge, how in upward.items() if edge not in KNOWN}
    assert not new, "imports against the layer table:\n" + "\n".join(
        f"  {a} imports {b} ({how[0]})" for (a, b), how in sorted(new.items())
    )
    gone = [edge for edge in KNOWN if edge not in upward]
    assert not gone, f"fixed, so remove from KNOWN: {gone}"


def test_core_never_imports_cli_or_web_frameworks() -> None:
    bad = []
    for module, path in _modules():
        if layer_of(module) not in CORE:
            continue
        for name in _imports(path, module):
            if name.split(".")[0] in FRAMEWORKS:
                bad.append(f"{module} imports {name}")
    assert not bad, bad


def test_chain_is_free_of_floats_clocks_and_randomness() -> None:
    """chain/ is deterministic: no wall clock, no randomness, no float math modules."""
    banned = {"time", "datetime", "random", "secrets", "math", "os", "socket", "sqlite3"}
    bad = []
    for module, path in _modules():
        if layer_of(module) != "chain":
            continue
        for name in _imports(path, module):
            if name.split(".")[0] in banned:
                bad.append(f"{module} imports {name}")
    assert not bad, bad


def test_importing_the_node_and_chain_loads_no_torch() -> None:
    code = (
        "import sys\n"
        "import nnet.chain.transition, nnet.chain.block, nnet.node.core, nnet.node.app\n"
        "import nnet.node.server, nnet.client, nnet.cli\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout
