"""Tokenomics on chain (issue 5 part 2): params, fees, F1 rewards, epoch step, governance."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnet.chain.accounts import (
    get_balance,
    get_pending_rewards,
    get_pool,
    get_stored_rewards,
    get_supply,
)
from nnet.chain.economics import econ_params_from_values, epoch_work_key, get_econ_params
from nnet.chain.genesis import make_devnet_genesis
from nnet.chain.governance import get_proposal
from nnet.chain.params import (
    ECON_OFF_CHAIN,
    PARAMS,
    PPB,
    check_param,
    get_econ_values,
    get_param,
    get_params_view,
)
from nnet.chain.state import State
from nnet.commands.vote import parse_param_value
from nnet.econ.params import PARAM_SPECS, EconParams
from nnet.encoding import UNIT
from nnet.errors import MalformedInput, UsageError
from tests.chain.helpers import (
    CHAIN,
    FREE,
    Account,
    Devnet,
    ReplicatedChain,
    account,
    make_devnet,
)

NODE = account("econ-gpu-node")


class Chain(ReplicatedChain):
    """A sequencer's chain plus a replica re-executing every block; `work` plays the marketplace
    (not built yet) by recording verified work for an epoch in both states, as its txs would."""

    @property
    def epoch_blocks(self) -> int:
        return get_param(self.state, "epoch_blocks")

    def work(self, epoch: int, demand: int, compute: dict[str, int]) -> None:
        for s in (self.state, self.replica):
            s.put(epoch_work_key(epoch), {"demand": demand, "compute": compute})

    def epoch(self) -> int:
        return (self.head.height + 1) // self.epoch_blocks

    def finish_epoch(self, *txs: Any) -> int:
        """Blocks (the first carrying `txs`) until the current epoch's last block is done."""
        epoch = self.epoch()
        self.block(*txs)
        while self.head.height < (epoch + 1) * self.epoch_blocks - 1:
            self.block()
        return epoch


# ---- parameters --------------------------------------------------------------------------------
def test_every_econ_parameter_is_a_chain_row_with_the_same_bounds() -> None:
    for spec in PARAM_SPECS:
        if spec.name in ECON_OFF_CHAIN:  # not a chain row: a vote on it would change nothing
            assert spec.name not in PARAMS
            continue
        row = PARAMS[spec.name]
        scale = PPB if spec.kind == "rate" else 1
        assert (row.default, row.min, row.max) == tuple(
            int(Fraction(v) * scale) for v in (spec.default, spec.min, spec.max)
        )
        assert row.kind == {"rate": "ppb", "amount": "units", "count": "count"}[spec.kind]
    state, _ = make_devnet(1).fresh_state()
    assert get_econ_params(state) == EconParams()
    with pytest.raises(MalformedInput):
        check_param("max_apy", 10 * PPB + 1)
    assert check_param("target_inflation", 40_000_000) == 40_000_000


def test_vote_value_parsing_for_ppb_rates() -> None:
    assert parse_param_value("target_inflation", "4%") == 40_000_000
    assert parse_param_value("target_inflation", "0.04") == 40_000_000
    assert parse_param_value("max_work_index", "2.5") == 2_500_000_000
    assert parse_param_value("target_inflation", "40000000") == 40_000_000  # raw ppb
    with pytest.raises(UsageError, match="outside"):
        parse_param_value("max_apy", "1001%")
    with pytest.raises(UsageError):
        parse_param_value("target_inflation", "0.0000000001")  # finer than 1 ppb


def test_a_disordered_inflation_band_is_repaired_not_fatal() -> None:
    values = get_econ_values(State())
    values.update(inflation_min=300_000_000, inflation_max=100_000_000, target_inflation=500)
    params = econ_params_from_values(values)
    assert (
        params.inflation_min == params.inflation_max == params.target_inflation == Fraction(1, 10)
    )


# ---- fees, accrual, claims ---------------------------------------------------------------------
@pytest.fixture
def chain() -> Chain:
    net = make_devnet(3, params=FREE)  # the fee arithmetic below is exact: no minimum fee
    c = Chain(net)
    a, b, _ = net.users
    c.block(a.tx("stake", {"amount": str(100 * UNIT)}), b.tx("stake", {"amount": str(300 * UNIT)}))
    return c


def test_fees_fund_stakers_and_pending_rewards_grow_every_epoch(chain: Chain) -> None:
    a, b, c = chain.net.users
    seq = chain.net.sequencer.address
    history = []
    for _ in range(4):
        epoch = chain.finish_epoch(c.transfer(a.address, 1, fee=41 * UNIT))
        assert chain.state.get("epoch_fees") is None  # distributed at the epoch end
        history.append((get_pending_rewards(chain.state, a.address), epoch))
        pa, pb, ps = (get_pending_rewards(chain.state, x) for x in (a.address, b.address, seq))
        # zero demand: no protocol reward, the whole fee goes to stakers by stake (10/100/300)
        assert pa + pb + ps <= 41 * UNIT * len(history)
        assert 41 * UNIT * len(history) - (pa + pb + ps) < 3
        assert pb // 3 - 1 <= pa <= pb // 3 + 1
        assert get_supply(chain.state) == chain.net.genesis.supply  # nothing minted
    pendings = [p for p, _ in history]
    assert all(x < y for x, y in itertools.pairwise(pendings))
    assert pendings[0] == 41 * UNIT * 100 // 410


def test_claim_pays_exactly_once(chain: Chain) -> None:
    a = chain.net.users[0]
    chain.finish_epoch(chain.net.users[2].transfer(a.address, 0, fee=10 * UNIT))
    due = get_pending_rewards(chain.state, a.address)
    escrow = chain.state.get("reward_escrow")
    balance = get_balance(chain.state, a.address)
    result = chain.block(a.tx("reward.claim", {}), a.tx("reward.claim", {}))
    assert len(result.block.txs) == 1 and result.rejected[0][1].code == "nothing_to_claim"
    assert result.receipts[0]["events"][0]["amount"] == str(due)
    assert get_balance(chain.state, a.address) == balance + due
    assert chain.state.get("reward_escrow") == escrow - due
    assert get_pending_rewards(chain.state, a.address) == 0
    a.nonce -= 1  # the refused claim's nonce is free again
    chain.finish_epoch()  # an epoch without fees or work: nothing new accrues
    again = chain.block(a.tx("reward.claim", {}))
    assert not again.block.txs and again.rejected[0][1].code == "nothing_to_claim"


def test_stake_change_settles_first_and_loses_nothing(chain: Chain) -> None:
    a, _, c = chain.net.users
    chain.finish_epoch(c.transfer(a.address, 0, fee=10 * UNIT))
    before = get_pending_rewards(chain.state, a.address)
    chain.block(a.tx("stake", {"amount": str(100 * UNIT)}))
    assert get_stored_rewards(chain.state, a.address) == before
    assert get_pending_rewards(chain.state, a.address) == before
    chain.block(a.tx("unstake", {"amount": str(200 * UNIT)}))  # all of it
    assert get_pending_rewards(chain.state, a.address) == before
    chain.finish_epoch(c.transfer(a.address, 0, fee=10 * UNIT))
    assert get_pending_rewards(chain.state, a.address) == before  # unbonded earns nothing


def test_fee_proposer_cut_is_a_governance_parameter() -> None:
    net = make_devnet(2, params={"fee_proposer_ppm": 250_000, **FREE})
    chain = Chain(net)
    a, b = net.users
    chain.block(a.transfer(b.address, 1, fee=1000))
    assert get_balance(chain.state, net.sequencer.address) == 250
    assert chain.state.get("epoch_fees") == 750


def test_zero_demand_no_nodes_no_fees_is_a_quiet_epoch(chain: Chain) -> None:
    pools = {k: v for k, v in chain.state.data.items() if k.startswith("pool/")}
    chain.finish_epoch()
    last = chain.state.get("econ/last")
    assert last["minted"] == "0" and last["staking_reward"] == "0" and last["gpu_reward"] == "0"
    assert {k: v for k, v in chain.state.data.items() if k.startswith("pool/")} == pools
    # with d = 0 the minting rate winds down from its target toward inflation_min
    assert chain.state.get("inflation_ppb") < PARAMS["target_inflation"].default


def test_verified_work_pays_gpu_nodes_and_they_claim(chain: Chain) -> None:
    params = get_econ_params(chain.state)
    epoch = chain.epoch()
    chain.work(epoch, params.demand_target // params.epochs_per_year, {NODE.address: 10**9})
    gpu_pool = get_pool(chain.state, "gpu_rewards")
    chain.finish_epoch()
    last = chain.state.get("econ/last")
    paid = get_stored_rewards(chain.state, NODE.address)
    assert paid > 0 and last["gpu_reward_by_node"] == {NODE.address: str(paid)}
    assert gpu_pool - get_pool(chain.state, "gpu_rewards") == int(
        last["paid_from_pools"]["gpu_rewards"]
    )
    assert chain.state.get(epoch_work_key(epoch)) is None  # consumed
    node = Account(NODE.secret, NODE.address, fees=chain.net.users[0].fees)  # fee-free chain
    chain.block(node.tx("reward.claim", {}))
    assert get_balance(chain.state, NODE.address) == paid


# ---- minting, cap, governance ------------------------------------------------------------------
SMALL_SUPPLY = 10_000 * UNIT
MINTING = {  # rewards far above what minting may cover, so the minting rate is what binds
    "epoch_blocks": 4,
    "unbonding_epochs": 1,
    "epochs_per_year": 10,
    "pool_release_rate": 0,
    "max_apy": 10 * PPB,
    "inflation_rate_change": 10 * PPB,  # the rate reaches its goal in one epoch
    "gov_min_deposit": 10 * UNIT,
    "gov_deposit_epochs": 1,
    "gov_voting_epochs": 1,
}


def small_devnet(params: dict[str, int], n_users: int = 3) -> Devnet:
    seq = account("econ-seq")
    users = [account(f"econ-user-{i}") for i in range(n_users)]
    genesis = make_devnet_genesis(
        CHAIN,
        seq.address,
        time_ms=1_000,
        supply=SMALL_SUPPLY,
        validators={seq.address: 10 * UNIT},
        fund={u.address: 500 * UNIT for u in users},
        params=params,
    )
    return Devnet(seq, users, genesis, params)


def run_busy_epoch(chain: Chain) -> dict[str, Any]:
    """One epoch at demand target with one working node; returns the epoch's outcome."""
    params = get_econ_params(chain.state)
    chain.work(chain.epoch(), params.demand_target // params.epochs_per_year, {NODE.address: 10**9})
    supply = get_supply(chain.state)
    chain.finish_epoch()
    last: dict[str, Any] = chain.state.get("econ/last")
    assert get_supply(chain.state) == supply + int(last["minted"])
    return {**last, "supply_before": supply}


def test_governance_lowers_target_inflation_and_minting_follows_from_the_stated_height() -> None:
    chain = Chain(small_devnet(MINTING))
    a, b, c = chain.net.users
    chain.block(*[u.tx("stake", {"amount": str(100 * UNIT)}) for u in (a, b, c)])
    E = 10
    first = run_busy_epoch(chain)
    assert int(first["minted"]) == first["supply_before"] * 50_000_000 // (PPB * E) > 0
    value = parse_param_value("target_inflation", "2%")
    chain.block(
        a.tx(
            "gov.propose",
            {
                "title": "lower inflation",
                "kind": "param",
                "key": "target_inflation",
                "value": str(value),
                "deposit": str(10 * UNIT),
            },
        )
    )
    chain.block(
        a.tx("gov.vote", {"proposal": 1, "option": "yes"}),
        b.tx("gov.vote", {"proposal": 1, "option": "yes"}),
        c.tx("gov.vote", {"proposal": 1, "option": "veto"}),
    )
    voting_end = get_proposal(chain.state, 1).voting_end_epoch
    while chain.epoch() <= voting_end:
        out = run_busy_epoch(chain)
        # the tally's own epoch still mints at the old rate: economics runs before governance
        assert int(out["minted"]) == out["supply_before"] * 50_000_000 // (PPB * E)
    proposal = get_proposal(chain.state, 1)
    assert proposal.status == "passed", proposal.tally  # veto 1/3 < 33.4 %, yes 2/3 > 50 %
    assert proposal.effective_height == chain.head.height + 1
    assert get_econ_params(chain.state).target_inflation == Fraction(2, 100)
    after = run_busy_epoch(chain)
    assert int(after["minted"]) == after["supply_before"] * 20_000_000 // (PPB * E)


def test_supply_never_passes_its_cap() -> None:
    cap = SMALL_SUPPLY + 7 * UNIT + 3
    chain = Chain(small_devnet({**MINTING, "max_supply": cap}))
    a = chain.net.users[0]
    chain.block(a.tx("stake", {"amount": str(400 * UNIT)}))
    for _ in range(4):
        run_busy_epoch(chain)
        assert get_supply(chain.state) <= cap
    assert get_supply(chain.state) == cap
    assert run_busy_epoch(chain)["minted"] == "0"


# ---- conservation over random blocks and epochs ------------------------------------------------
ops = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "stake", "unstake", "claim", "work"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(0, 400 * UNIT),
        st.integers(0, 3 * UNIT),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, per_block=st.integers(1, 3))
def test_conservation_cap_and_replica_over_random_blocks(ops, per_block: int) -> None:  # type: ignore[no-untyped-def]
    net = small_devnet({**MINTING, "epoch_blocks": 2, "max_supply": SMALL_SUPPLY + 50 * UNIT})
    chain = Chain(net)
    pending: list[Any] = []
    for kind, i, j, amount, fee in ops:
        user = net.users[i]
        if kind == "transfer":
            pending.append(user.transfer(net.users[j].address, amount, fee=fee))
        elif kind == "claim":
            pending.append(user.tx("reward.claim", {}, fee=fee))
        elif kind == "work":
            chain.work(chain.epoch(), amount, {net.users[j].address: fee + 1, NODE.address: i})
        else:
            pending.append(user.tx(kind, {"amount": str(max(amount, 1))}, fee=fee))
        if len(pending) >= per_block:
            chain.block(*pending)
            pending = []
            for u in net.users:  # a refused tx frees its nonce: re-sync the local counters
                u.nonce = chain.state.get(f"account/{u.address}")["nonce"]
            assert get_supply(chain.state) <= SMALL_SUPPLY + 50 * UNIT
    chain.finish_epoch(*pending)
    for u in [*net.users, NODE]:
        assert get_pending_rewards(chain.state, u.address) >= 0
    assert chain.replica.data == chain.state.data
    escrow = int(chain.state.get("reward_escrow") or 0)
    owed = sum(
        get_pending_rewards(chain.state, u.address) - get_stored_rewards(chain.state, u.address)
        for u in [*net.users, net.sequencer]
    )
    # what stakers can claim is in escrow; the rest is floor dust, < 1 unit per settlement
    assert 0 <= escrow - owed <= len(ops) + 4


def test_params_view_serves_econ_rows_json_safe() -> None:
    state, _ = make_devnet(1).fresh_state()
    view = get_params_view(state)
    assert view["target_inflation"] == {**view["target_inflation"], "value": 50_000_000}
    assert view["target_inflation"]["kind"] == "ppb"
    assert view["compute_ref"]["max"] == str(10**30)  # past 2^53: a decimal string
    assert view["max_supply"]["value"] == str(1_500_000_000 * UNIT)
