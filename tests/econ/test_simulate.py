"""The simulator: runs the chain's epoch function, keeps every invariant, scenarios behave."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nnet.econ import epoch, simulate
from nnet.econ.params import EconParams
from nnet.econ.simulate import SCENARIOS, SimOptions, get_curve_value, run_simulation
from nnet.encoding import UNIT, parse_amount
from nnet.errors import UsageError

FAST = EconParams(epochs_per_year=12)


def test_simulator_runs_the_chain_epoch_function_not_a_copy() -> None:
    assert simulate.process_epoch_economics is epoch.process_epoch_economics


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_runs_and_stays_within_caps(name: str) -> None:
    rows = list(run_simulation(SimOptions(scenario=name, years=20, params=FAST)))
    assert len(rows) == 20 * 12 and rows[-1]["epoch"] == 240
    for row in rows:
        assert parse_amount(row["supply_nnet"]) <= FAST.max_supply
        assert Fraction(row["Y_pct"]) <= FAST.max_apy * 100
        assert parse_amount(row["staking_pool_nnet"]) >= 0
    # the conservation invariant is checked inside run_simulation after every epoch


def test_high_efficiency_runs_into_the_supply_cap_and_stops_minting() -> None:
    rows = list(run_simulation(SimOptions("high-efficiency", years=20, params=FAST)))
    capped = [r for r in rows if parse_amount(r["supply_nnet"]) == FAST.max_supply]
    assert capped, "the default cap should bind in this scenario"
    assert all(Fraction(r["inflation_pct"]) == 0 for r in capped[1:])


def test_adoption_shifts_rewards_toward_fees() -> None:
    rows = list(run_simulation(SimOptions("adoption", years=20, params=FAST)))
    assert Fraction(rows[0]["fee_share_pct"]) < 20 < 90 < Fraction(rows[-1]["fee_share_pct"])


def test_demand_shock_pays_no_protocol_reward_without_demand() -> None:
    rows = list(run_simulation(SimOptions("demand-shock", years=7, params=FAST)))
    in_shock = [r for r in rows if Fraction(5) < Fraction(r["year"]) <= Fraction(6)]
    assert in_shock and all(
        r["Y_pct"] == "0" and r["minted_nnet"] == in_shock[0]["minted_nnet"] for r in in_shock
    )


def test_governance_change_applies_in_its_year() -> None:
    rows = list(run_simulation(SimOptions("low-demand", years=4, params=FAST)))
    before, after = rows[35], rows[36]  # epochs 36 (end of year 3) and 37 (first of year 4)
    # staking_share 0.4 -> 0.6 raises the formula yield by about half at once
    assert Fraction(after["Y_pct"]) > Fraction(before["Y_pct"]) * Fraction(14, 10)


def test_rows_every_n_epochs_and_bad_options() -> None:
    rows = list(run_simulation(SimOptions("adoption", years=2, every=5, params=FAST)))
    assert [r["epoch"] for r in rows] == [5, 10, 12, 15, 20, 24]  # and each year end
    with pytest.raises(UsageError, match="unknown scenario"):
        list(run_simulation(SimOptions("boom", years=1, params=FAST)))
    with pytest.raises(UsageError, match="years"):
        list(run_simulation(SimOptions("adoption", years=0, params=FAST)))


def test_curves_interpolate_and_step() -> None:
    knots = (
        (Fraction(0), Fraction(1)),
        (Fraction(2), Fraction(3)),
        (Fraction(2), Fraction(0)),
        (Fraction(4), Fraction(0)),
    )
    assert get_curve_value(knots, Fraction(1)) == 2
    assert get_curve_value(knots, Fraction(2)) == 0  # a repeated year is a step
    assert get_curve_value(knots, Fraction(9)) == 0
    assert get_curve_value(knots, Fraction(-1)) == 1


def test_genesis_supply_is_respected() -> None:
    rows = list(
        run_simulation(SimOptions("adoption", years=1, genesis_supply=10**6 * UNIT, params=FAST))
    )
    assert parse_amount(rows[0]["supply_nnet"]) >= 10**6 * UNIT
