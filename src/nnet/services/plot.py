"""A PNG chart of an econ simulation (`nnet econ simulate --plot`): floats and file I/O, for
drawing, kept out of econ/, whose formulas are fixed-point and do no I/O.

matplotlib is the optional extra `plot` (`pip install 'nnet[plot]'`); it is imported here only,
lazily, and a clear UsageError says how to install it when it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnet.errors import UsageError

__all__ = ["require_matplotlib", "write_chart"]


def require_matplotlib() -> Any:
    """pyplot, or a UsageError saying how to install it (call before doing any work)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed (servers, cron, CI)
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed",
            hint="pip install 'nnet[plot]' (or pip install matplotlib), or use --csv/--json",
        ) from None
    return plt


def _col(rows: Sequence[dict[str, Any]], key: str, scale: float = 1.0) -> list[float]:
    return [float(r[key]) / scale for r in rows]


def write_chart(
    rows: Sequence[dict[str, Any]],
    path: Path,
    *,
    scenario: str,
    description: str,
    max_supply_nnet: float,
) -> None:
    """Six panels over years: supply, inflation, staking APY, reward per node, pools, fee share."""
    if not rows:
        raise UsageError("nothing to plot: the simulation produced no rows")
    plt = require_matplotlib()
    years = _col(rows, "year")
    fig, axes = plt.subplots(3, 2, figsize=(12, 11), sharex=True)
    fig.suptitle(
        f"Neuronet tokenomics simulation: scenario '{scenario}'\n{description}", fontsize=12
    )

    ax = axes[0][0]
    ax.plot(years, _col(rows, "supply_nnet", 1e6), label="total supply")
    ax.axhline(max_supply_nnet / 1e6, color="red", linestyle="--", label="max supply (cap)")
    ax.set(title="Total supply", ylabel="million NNET")
    ax.legend(loc="lower right")

    ax = axes[0][1]
    ax.plot(years, _col(rows, "inflation_pct"), label="realised (minted / supply)")
    ax.plot(years, _col(rows, "mint_ceiling_pct"), linestyle="--", label="minting-rate ceiling")
    ax.set(title="Inflation", ylabel="% per year")
    ax.legend(loc="upper right")

    ax = axes[1][0]
    ax.plot(years, _col(rows, "staking_apy_pct"), label="realised APY (incl. fees)")
    ax.plot(years, _col(rows, "Y_pct"), linestyle="--", label="formula Y (protocol-funded)")
    ax.set(title="Staking yield", ylabel="% per year")
    ax.legend(loc="upper right")

    ax = axes[1][1]
    ax.plot(years, _col(rows, "reward_per_node_nnet_year", 1e3), color="tab:green")
    ax.set(title="GPU reward per active node", ylabel="thousand NNET per year")
    twin = ax.twinx()
    twin.plot(
        years,
        _col(rows, "active_nodes"),
        color="tab:gray",
        linestyle=":",
        label="active nodes (right axis)",
    )
    twin.set_ylabel("active nodes")
    twin.legend(loc="upper right")

    ax = axes[2][0]
    for key, label in (
        ("staking_pool_nnet", "staking rewards pool"),
        ("gpu_pool_nnet", "GPU rewards pool"),
        ("treasury_nnet", "treasury"),
    ):
        ax.plot(years, _col(rows, key, 1e6), label=label)
    ax.set(title="Pool balances", ylabel="million NNET", xlabel="years since genesis")
    ax.legend(loc="upper right")

    ax = axes[2][1]
    ax.plot(years, _col(rows, "fee_share_pct"), color="tab:purple")
    ax.set(
        title="Share of rewards paid from user fees",
        ylabel="% of rewards",
        xlabel="years since genesis",
        ylim=(0, 105),
    )

    for ax in (a for row in axes for a in row):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    finally:
        plt.close(fig)
