"""Every state key belongs to exactly one family of the schema (chain/keys.py), and no module but
the schema builds a key: a misspelled key fails here instead of forking the chain."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnet.chain.accounts import get_nonce
from nnet.chain.keys import KEYSPACE, job_key, match_key, node_key, proof_root_key
from nnet.encoding import UNIT
from tests.chain.helpers import make_devnet
from tests.chain.recorded import RecordingState, replay_recorded

SRC = Path(__file__).resolve().parents[2] / "src" / "nnet"
SCHEMA = SRC / "chain" / "keys.py"


def _unmatched(keys: set[str]) -> dict[str, int]:
    """Keys matching no family or more than one, with how many they match."""
    return {k: len(match_key(k)) for k in sorted(keys) if len(match_key(k)) != 1}


def test_every_key_the_recorded_chain_writes_matches_exactly_one_family() -> None:
    keys = {key for key, _ in replay_recorded()}
    assert not _unmatched(keys)
    families = {match_key(k)[0].name for k in keys}
    # the recorded chain runs every capability: most of the layout is exercised
    assert {"account", "stake", "node", "job", "proof", "proof root", "proposal"} <= families
    assert len(families) >= 25, sorted({f.name for f in KEYSPACE} - families)


def test_the_patterns_refuse_near_misses() -> None:
    good = [job_key(7), node_key("0x" + "ab" * 20), proof_root_key("0x" + "AB" * 20, "0x1f")]
    assert all(len(match_key(k)) == 1 for k in good)
    for bad in ("job/07", "job/x", "jobs/1", "node/0x12", "proof_root/0xAB/0x1", "supply/1", ""):
        assert match_key(bad) == [], bad


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "stake", "unstake", "claim", "propose", "empty"]),
        st.integers(0, 2),
        st.integers(1, 50),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_OPS)
def test_random_blocks_write_only_keys_of_the_layout(ops: list[tuple[str, int, int]]) -> None:
    net = make_devnet(3, params={"gov_min_propose_deposit": 0})
    start, head = net.fresh_state()
    state = RecordingState(start.data)
    users = net.users
    for op, who, amount in ops:
        user, other = users[who], users[(who + 1) % len(users)]
        if op == "transfer":
            txs = [user.transfer(other.address, amount * UNIT)]
        elif op == "stake":
            txs = [user.tx("stake", {"amount": str(amount * UNIT)})]
        elif op == "unstake":
            txs = [user.tx("unstake", {"amount": str(amount)})]
        elif op == "claim":
            txs = [user.tx("reward.claim", {})]
        elif op == "propose":
            txs = [user.tx("gov.propose", {"kind": "text", "title": f"t{amount}"})]
        else:
            txs = []
        result = net.block(state, head, txs)
        head = result.block.header
        # a refused transaction leaves the nonce unused: resync the local counter
        user.nonce = get_nonce(state, user.address)
    keys = {key for key, _ in state.writes}
    assert not _unmatched(keys)


# ---- no key is spelled outside the schema --------------------------------------------------
def _prefixes() -> set[str]:
    out = set()
    for family in KEYSPACE:
        head = family.pattern.pattern.split("/", 1)[0]
        if "/" in family.pattern.pattern and re.fullmatch(r"[a-z_]+", head):
            out.add(head + "/")
    return out


def _spelled_keys(path: Path) -> list[str]:
    """String constants in `path` that start a state key, and literal keys given to get/put."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prefixes = tuple(_prefixes())
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(prefixes)
        ):
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "put", "delete")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and match_key(node.args[0].value)
        ):
            found.append(f"{path.name}:{node.lineno}: state key {node.args[0].value!r}")
    return found


def test_no_module_but_the_schema_spells_a_state_key() -> None:
    spelled = [
        hit for path in sorted(SRC.rglob("*.py")) if path != SCHEMA for hit in _spelled_keys(path)
    ]
    assert not spelled, "build keys with nnet.chain.keys:\n" + "\n".join(spelled)


def test_the_scan_finds_a_spelled_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('def f(state, i):\n    state.put(f"job/{i}", 1)\n    state.get("supply")\n')
    assert len(_spelled_keys(bad)) == 2
