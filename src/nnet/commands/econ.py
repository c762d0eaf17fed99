"""`nnet econ params|simulate`: the tokenomics' parameters, and simulations over the whitepaper's
phases driven by the same epoch code the chain runs (nnet.econ)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import (
    Column,
    JsonOpt,
    NodeOpt,
    check_output_path,
    emit_rows,
    format_param,
    node_client,
    note,
    want_json,
    writing_output,
)
from nnet.errors import UsageError

app = typer.Typer(
    help="Tokenomics: economic parameters and simulations (docs/economics.md).",
    no_args_is_help=True,
)

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="Change a parameter (repeatable): rates as 0.05 or 5%, amounts in NNET.",
    ),
]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="econ")


def _params_with(
    changes: list[str] | None, extra: dict[str, Any] | None = None, base: Any = None
) -> Any:
    from nnet.econ.params import EconParams

    text: dict[str, str] = {}
    for item in changes or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r} is not NAME=VALUE", hint="e.g. --set max_apy=15%")
        text[name.strip()] = value
    params = (base or EconParams()).with_text_changes(text)
    return params.with_changes(extra) if extra else params


def _chain_params(node: str | None) -> tuple[Any, str]:
    """(EconParams in force on the node's chain, a description), or (None, why) if no node
    answers; converted by the chain's own bridge (chain.economics.econ_params_from_values)."""
    from nnet.chain.economics import econ_params_from_values
    from nnet.econ.params import PARAM_SPECS
    from nnet.errors import NnetError

    client = node_client(node, timeout=5.0)
    url = client.url
    try:
        with client:
            status = client.status()
            view = client.params()
        # those not on chain (chain.params.ECON_OFF_CHAIN) keep their econ default
        values = {s.name: int(view[s.name]["value"]) for s in PARAM_SPECS if s.name in view}
        where = f"{status.get('chain', '?')} at height {status.get('height', '?')} ({url})"
        return econ_params_from_values(values), where
    except NnetError as e:
        return None, f"no node reachable at {url} ({e.message})"
    except (KeyError, TypeError, ValueError):
        return None, f"the node at {url} does not serve the economic parameters"


@app.command("params")
def params_(
    set_: SetOpt = None,
    node: NodeOpt = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Show the built-in defaults; ask no node.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print every economic parameter: value, bounds, unit and meaning.

    Shown as `nnet params` shows them: amounts in NNET, rates and shares in percent.

    The values are those in force on the chain when a node answers (--node, env NNET_NODE),
    otherwise the defaults (a note on stderr says which). --set shows a what-if on top.
    With --json, one JSON line per parameter; amounts there are base-unit strings.

    Example: nnet econ params --set target_inflation=3% --json | jq -r '.name + " " + .value'
    """
    from nnet.chain.params import ECON_OFF_CHAIN
    from nnet.econ.params import PARAM_SPECS

    base, source = None, "defaults"
    if not defaults:
        base, where = _chain_params(node)
        if base is None:
            note(f"{where}; showing the defaults")
        else:
            source = "chain"
            note(f"values in force on {where}")
    params = _params_with(set_, base=base)
    rows = [
        {
            "name": s.name,
            "value": s.wire(getattr(params, s.name)),
            "default": s.wire(s.default),
            "min": s.wire(s.min),
            "max": s.wire(s.max),
            "kind": s.kind,
            "unit": s.unit,
            "meaning": s.meaning,
            # a parameter the chain does not hold keeps the model's value: say so
            "source": "model" if source == "chain" and s.name in ECON_OFF_CHAIN else source,
        }
        for s in PARAM_SPECS
    ]
    shown = {s.name: (s, getattr(params, s.name)) for s in PARAM_SPECS}
    columns: list[Column] = [
        ("NAME", "name"),
        ("VALUE", lambda r: format_param(r["kind"], shown[r["name"]][1])),
        ("MIN", lambda r: format_param(r["kind"], shown[r["name"]][0].min)),
        ("MAX", lambda r: format_param(r["kind"], shown[r["name"]][0].max)),
        ("UNIT", "unit"),
        (
            "MEANING",
            lambda r: (
                r["meaning"]
                + (" (model only, not on chain)" if r["name"] in ECON_OFF_CHAIN else "")
            ),
        ),
    ]
    emit_rows(rows, columns, as_json)


@app.command("simulate")
def simulate(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            "-s",
            help="adoption | high-efficiency | low-demand | demand-shock.",
        ),
    ] = "adoption",
    years: Annotated[int, typer.Option("--years", min=1, max=1000, help="Years to simulate.")] = 20,
    epochs_per_year: Annotated[
        int | None,
        typer.Option(
            "--epochs-per-year", min=1, help="Epochs per year (default: the parameter's)."
        ),
    ] = None,
    every: Annotated[
        int | None,
        typer.Option("--every", min=1, help="Epochs between output rows (default: about monthly)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG chart here (needs matplotlib).")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the rows as CSV here.")
    ] = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the token economy over years, running the chain's own epoch code.

    Prints one JSON line per row with --json (or on a pipe), a yearly table on a terminal; writes
    CSV and a PNG chart (supply, inflation, APY, reward per node, pools) when asked.

    Example: nnet econ simulate --scenario demand-shock --years 20 --plot shock.png --csv shock.csv
    """
    from nnet.econ.simulate import SimOptions, get_scenario, run_simulation

    sc = get_scenario(scenario)
    params = _params_with(set_, {"epochs_per_year": epochs_per_year} if epochs_per_year else None)
    if plot is not None:
        from nnet.services.plot import require_matplotlib

        require_matplotlib()  # fail before the work, not after it
        check_output_path(plot, "--plot")
    if csv_file is not None:
        check_output_path(csv_file, "--csv")
    epochs = years * params.epochs_per_year
    if epochs > 2_000_000:
        raise UsageError(
            f"{epochs} epochs is too many for one run",
            hint="lower --years or --epochs-per-year (at most 2,000,000 epochs)",
        )
    options = SimOptions(scenario=sc.name, years=years, every=every, params=params)
    note(
        f"simulating '{sc.name}' ({sc.description}): {years} years x "
        f"{params.epochs_per_year} epochs"
    )
    rows = list(run_simulation(options))

    if csv_file is not None:
        _write_csv(rows, csv_file)
        note(f"wrote {len(rows)} rows to {csv_file}")
    if plot is not None:
        from nnet.services.plot import write_chart

        with writing_output(plot, "--plot"):
            write_chart(
                rows,
                plot,
                scenario=sc.name,
                description=sc.description,
                max_supply_nnet=params.max_supply / 10**18,
            )
        note(f"wrote chart to {plot}")
    yearly = [r for r in rows if r["epoch"] % params.epochs_per_year == 0] or rows[-1:]
    emit_rows(rows if want_json(as_json) else yearly, SIMULATION_COLUMNS, as_json)


SIMULATION_COLUMNS: list[Column] = [
    ("YEAR", "year"),
    ("SUPPLY", lambda r: _short(r["supply_nnet"])),
    ("INFL%", lambda r: r["inflation_pct"][:6]),
    ("APY%", lambda r: r["staking_apy_pct"][:6]),
    ("NODE/YR", lambda r: _short(r["reward_per_node_nnet_year"])),
    ("FEES%", lambda r: r["fee_share_pct"][:5]),
    ("STAKE_POOL", lambda r: _short(r["staking_pool_nnet"])),
    ("GPU_POOL", lambda r: _short(r["gpu_pool_nnet"])),
]


def _short(nnet: str) -> str:
    """Whole NNET with thousands separators, for the terminal table."""
    return f"{int(nnet.split('.')[0]):,}"


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        raise UsageError("nothing to write: the simulation produced no rows")
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    except OSError as e:
        raise UsageError(f"--csv {path}: cannot write: {e.strerror}") from None
