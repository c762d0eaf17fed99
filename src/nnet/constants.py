"""Fixed-point denominators every layer uses, each stated once.

    PPM   parts per million: shares the chain's parameters give as `*_ppm` (1_000_000 = all)
    PPB   parts per billion: yearly rates as the chain stores them (`*_ppb`, inflation_ppb)

Pool names live with the pool table (econ/pools.py), one base unit (`UNIT`) with the amount
codec (encoding.py).
"""

from __future__ import annotations

from typing import Final

__all__ = ["PPB", "PPM"]

PPM: Final = 1_000_000
PPB: Final = 1_000_000_000
