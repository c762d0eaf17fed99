"""One parameter table: EconParams' fields are PARAM_SPECS, and the chain's rows share its class."""

from __future__ import annotations

from dataclasses import fields

from nnet.chain import params as chain_params
from nnet.econ.params import PARAM_SPECS, EconParams, ParamSpec


def test_econ_params_are_the_spec_table() -> None:
    assert [f.name for f in fields(EconParams)] == [s.name for s in PARAM_SPECS]
    defaults = EconParams()
    for spec in PARAM_SPECS:
        assert getattr(defaults, spec.name) == spec.default
        assert spec.min <= spec.default <= spec.max


def test_the_chain_rows_use_the_one_param_spec_class() -> None:
    assert chain_params.ParamSpec is ParamSpec
    assert all(isinstance(row, ParamSpec) for row in chain_params.PARAMS.values())
    for spec in PARAM_SPECS:
        if spec.name in chain_params.ECON_OFF_CHAIN:
            continue
        row = chain_params.PARAMS[spec.name]
        assert (row.unit, row.meaning) == (spec.unit, spec.meaning)
        assert row.doc == f"{spec.meaning} [{spec.unit}]"
