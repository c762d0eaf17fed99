"""A recorded devnet chain replays to identical state roots: refactors of chain/ change nothing.

tests/data/recorded_devnet.ndjson.gz is a real chain, made by `nnet quickstart --keep` (keys,
stakes, node registrations, an honest and a forged job through submit, claim, proof, seed shares,
openings and attestations, a slash, reward claims) and then a few more commands against its
daemon (a transfer, an unstake, two proposals with a deposit and votes, a collateral withdrawal),
350 blocks over 17 epochs. Its first line is the genesis, then one block per line as GET /blocks
serves them. Every block goes through `process_block`, which re-executes each transaction and
refuses any state root that differs from the recorded header's; the replay must reach the
recorded head. Re-record it (same way) only when consensus rules change on purpose.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from nnet.chain.audit import compute_supply_audit
from nnet.chain.block import compute_genesis_block, parse_block, process_block
from nnet.chain.genesis import parse_genesis

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded_devnet.ndjson.gz"


def test_the_recorded_devnet_replays_to_identical_roots() -> None:
    with gzip.open(RECORDED, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    genesis = parse_genesis(json.loads(lines[0]))
    state, head, _ = compute_genesis_block(genesis)
    state.commit()
    types: set[str] = set()
    for line in lines[1:]:
        block = parse_block(json.loads(line))
        process_block(state, head, block, sequencer=genesis.sequencer)  # refuses another root
        state.commit()
        head = block.header
        types.update(tx.type for tx in block.txs)
    assert head.height == len(lines) - 1 == 350
    assert {"proof.attest", "proof.open", "gov.vote", "unstake", "node.withdraw"} <= types
    audit = compute_supply_audit(state)
    assert audit["total"] == audit["supply"]
