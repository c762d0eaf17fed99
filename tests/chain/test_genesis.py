"""Genesis: pools by percentage, funding from the public pool, and the checks on a genesis file."""

from __future__ import annotations

import pytest

from nnet.chain.accounts import POOLS
from nnet.chain.block import compute_genesis_block
from nnet.chain.genesis import DEVNET_SUPPLY, make_devnet_genesis, parse_genesis
from nnet.chain.params import get_params_view
from nnet.encoding import UNIT, strict_loads
from nnet.errors import MalformedInput
from tests.chain.helpers import account, make_devnet, supply_accounted


def test_devnet_pools_follow_economics_percentages() -> None:
    seq, alice = account("g-seq"), account("g-alice")
    g = make_devnet_genesis(
        "nnet-devnet",
        seq.address,
        time_ms=0,
        validators={seq.address: 7 * UNIT},
        fund={alice.address: 5 * UNIT},
    )
    share = {name: DEVNET_SUPPLY * pct // 100 for name, pct in POOLS.items()}
    for name in ("staking_rewards", "gpu_rewards", "team", "treasury", "reserve"):
        assert g.pools[name] == share[name]
    assert g.pools["public"] == share["public"] - 12 * UNIT
    assert g.accounts == {alice.address: 5 * UNIT} and g.stakes == {seq.address: 7 * UNIT}
    state, header, _ = compute_genesis_block(g)
    assert supply_accounted(state) == DEVNET_SUPPLY == state.get("supply")
    assert state.get("total_bonded") == 7 * UNIT
    assert header.height == 0 and header.state_root != "0x" + "00" * 32


def test_genesis_round_trips_and_its_root_is_deterministic() -> None:
    net = make_devnet(2)
    again = parse_genesis(net.genesis.to_dict())
    assert again == net.genesis
    assert (
        compute_genesis_block(again)[1].hash_hex == compute_genesis_block(net.genesis)[1].hash_hex
    )


def test_funding_beyond_the_public_pool_is_refused() -> None:
    seq = account("g-seq")
    with pytest.raises(MalformedInput, match="public pool"):
        make_devnet_genesis("c", seq.address, time_ms=0, fund={seq.address: DEVNET_SUPPLY})


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(supply=str(int(d["supply"]) + 1)), "add up to"),
        (lambda d: d["pools"].pop("team"), "pools must be exactly"),
        (lambda d: d["params"].update(epoch_blocks=1), "outside"),
        (lambda d: d["params"].update(no_such=3), "unknown parameter"),
        (lambda d: d.update(sequencer="0x1234"), "not an address"),
        (lambda d: d["pools"].update(team="-5"), "negative"),
        (lambda d: d.update(extra=1), "unknown genesis field"),
    ],
)
def test_bad_genesis_is_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    d = make_devnet(1).genesis.to_dict()
    mutate(d)
    with pytest.raises(MalformedInput, match=message):
        parse_genesis(d)


def test_float_in_genesis_file_is_refused() -> None:
    with pytest.raises(MalformedInput, match="float"):
        strict_loads('{"supply": 1.5}')


def test_params_view_has_bounds() -> None:
    state, _, _ = compute_genesis_block(make_devnet(1).genesis)
    view = get_params_view(state)
    assert view["epoch_blocks"] == {
        "value": 4,
        "min": 2,
        "max": 1_000_000,
        "kind": "count",
        "doc": "blocks per epoch",
    }
    assert view["min_fee"]["value"] == str(10**15)  # 0.001 NNET, plus a price per byte:
    assert view["min_fee_per_byte"]["value"] == str(10**13)
