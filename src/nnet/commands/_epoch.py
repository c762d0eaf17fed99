"""When the current epoch ends: rewards, unbonding and deadlines all happen at epoch ends, so
`nnet status` and `nnet claim` say when the next one comes, in blocks and (estimated from the
pace of the last blocks) in time.

The last block of epoch e is height (e + 1) * epoch_blocks - 1 (nnet.chain.epoch.is_epoch_end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnet.client import NodeClient

PACE_BLOCKS = 20  # recent blocks whose timestamps give the pace


@dataclass(frozen=True)
class EpochEnd:
    """The next epoch end seen from the head: its height, blocks to go, and a time estimate."""

    epoch: int
    height: int
    blocks_left: int
    seconds_per_block: float | None  # None before the chain has two blocks to measure

    @property
    def eta_s(self) -> float | None:
        if self.seconds_per_block is None:
            return None
        return self.blocks_left * self.seconds_per_block

    def to_dict(self) -> dict[str, Any]:
        eta = self.eta_s
        return {
            "epoch": self.epoch,
            "epoch_ends_at_height": self.height,
            "blocks_left": self.blocks_left,
            "eta_s": None if eta is None else round(eta),
        }

    def describe(self) -> str:
        """e.g. `epoch 0 ends at height 99, in 42 blocks (about 7 min at the recent pace)`."""
        text = f"epoch {self.epoch} ends at height {self.height}, in {self.blocks_left} blocks"
        eta = self.eta_s
        return text if eta is None else f"{text} (about {format_duration(eta)} at the recent pace)"


def compute_epoch_end(head: int, epoch_blocks: int) -> tuple[int, int]:
    """(epoch, height of its last block) of the next epoch end after the head block."""
    epoch = head // epoch_blocks
    last = (epoch + 1) * epoch_blocks - 1
    if last <= head:  # the head closed its epoch: the next one is a whole epoch away
        epoch, last = epoch + 1, last + epoch_blocks
    return epoch, last


def format_duration(seconds: float) -> str:
    """A rough duration for people: 45 s, 7 min, 2.5 h."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def next_epoch_end(client: NodeClient, status: dict[str, Any] | None = None) -> EpochEnd:
    """The next epoch end, from the node's status and the timestamps of its last blocks."""
    status = status if status is not None else client.status()
    head, epoch_blocks = int(status["height"]), int(status["epoch_blocks"])
    epoch, last = compute_epoch_end(head, epoch_blocks)
    pace: float | None = None
    if head >= 1:
        back = max(0, head - PACE_BLOCKS)
        newest = int(client.block(head)["header"]["time_ms"])
        oldest = int(client.block(back)["header"]["time_ms"])
        pace = max(0.0, (newest - oldest) / 1000 / (head - back))
    return EpochEnd(epoch, last, last - head, pace)
