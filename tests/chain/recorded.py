"""Replay the recorded devnet chain (tests/data/recorded_devnet.ndjson.gz) through a State that
records every write, for the keyspace and record round-trip tests."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

from nnet.chain.block import compute_genesis_block, parse_block, process_block
from nnet.chain.genesis import parse_genesis
from nnet.chain.state import State

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded_devnet.ndjson.gz"


class RecordingState(State):
    """A State that keeps every (key, value) ever put, in order."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__(data)
        self.writes: list[tuple[str, Any]] = []

    def put(self, key: str, value: Any) -> None:
        self.writes.append((key, value))
        super().put(key, value)


@cache
def replay_recorded() -> tuple[tuple[str, Any], ...]:
    """Every write of the recorded chain, genesis included, in order (replayed once a session)."""
    with gzip.open(RECORDED, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    genesis = parse_genesis(json.loads(lines[0]))
    start, head, _ = compute_genesis_block(genesis)
    start.commit()
    state = RecordingState(start.data)
    state.writes.extend(start.data.items())
    for line in lines[1:]:
        block = parse_block(json.loads(line))
        process_block(state, head, block, sequencer=genesis.sequencer)  # refuses another root
        state.commit()
        head = block.header
    assert head.height == len(lines) - 1
    return tuple(state.writes)
