"""The typed records (chain/types.py) map to exactly the JSON the state stores: the state root
hashes that JSON, so a record that dropped, added or retyped a key would fork the chain."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnet.chain import types
from nnet.chain.keys import match_key
from nnet.chain.transition import TX_PROCESSORS
from nnet.chain.types import (
    Account,
    Address,
    EpochWork,
    Job,
    NodeRecord,
    ProofRecord,
    Proposal,
    Stake,
    Unbonding,
    Units,
)
from tests.chain.recorded import replay_recorded

RECORDS: dict[str, Any] = {
    "account": Account,
    "stake": Stake,
    "node": NodeRecord,
    "job": Job,
    "proof": ProofRecord,
    "proposal": Proposal,
    "epoch work": EpochWork,
}


def test_every_record_the_recorded_chain_writes_round_trips_exactly() -> None:
    seen = dict.fromkeys(RECORDS, 0)
    for key, value in replay_recorded():
        if value is None:
            continue
        (family,) = match_key(key)
        record = RECORDS.get(family.name)
        if record is None:
            continue
        assert record.from_state(value).to_state() == value, key
        seen[family.name] += 1
    assert all(seen.values()), seen  # every record type was written and checked


def test_a_settled_job_keeps_its_late_keys_and_its_nulls() -> None:
    jobs = [v for k, v in replay_recorded() if v and match_key(k)[0].name == "job"]
    settled = [j for j in jobs if j["settlement"] is not None and "draw_seed" in j]
    assert settled, "the recorded chain settles a drawn job"
    job = Job.from_state(settled[-1])
    assert job.draw_seed is not None and job.settlement is not None
    out = job.to_state()
    assert out["settlement"]["outcome"] == job.settlement.outcome
    fresh = Job.from_state(jobs[0])
    assert "draw_seed" not in fresh.to_state() and fresh.to_state()["assignee"] is None


@given(
    st.integers(0, 10**30),
    st.lists(st.tuples(st.integers(1, 10**30), st.integers(0, 10**6)), max_size=5),
)
def test_stake_round_trips(bonded: int, unbonding: list[tuple[int, int]]) -> None:
    raw = {"bonded": bonded, "unbonding": [[a, e] for a, e in unbonding]}
    stake = Stake.from_state(raw)
    assert stake.to_state() == raw
    assert stake.is_empty == (bonded == 0 and not unbonding)
    assert all(isinstance(u, Unbonding) for u in stake.unbonding)


def test_records_are_frozen() -> None:
    acct = Account(Units(5), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        acct.balance = Units(6)  # type: ignore[misc]
    assert dataclasses.replace(acct, balance=Units(6)).to_state() == {"balance": 6, "nonce": 1}


def test_epoch_work_reads_an_empty_record() -> None:
    work = EpochWork.from_state({"demand": 3, "compute": {"0x" + "ab" * 20: 7}})
    assert work.demand == 3 and work.compute == {Address("0x" + "ab" * 20): 7}
    assert EpochWork().to_state() == {"demand": 0, "compute": {}}


def test_every_processor_takes_a_typed_tx_and_block_context() -> None:
    for name, processor in TX_PROCESSORS.items():
        hints = typing.get_type_hints(processor, vars(types))
        params = list(inspect.signature(processor).parameters)
        assert params == ["state", "tx", "ctx"], name
        assert hints["tx"] is types.Tx and hints["ctx"] is types.BlockContext, name
        assert hints["state"] is types.StateLike, name
        assert Any not in hints.values(), name
