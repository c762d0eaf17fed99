"""Byzantine test doubles of a validator node, for the fault tests (test_network_faults.py).

Run as a script in place of `python -m nnet`, with the same daemon arguments:

    python tests/node/byzantine.py --mode double-sign -- daemon --home H --listen … --peer …

It patches the real consensus driver (nnet.node.consensus.driver.Driver) in this process, then
runs the real `nnet` command line, so the double is the real node but for one misbehaviour:

- `double-sign`: whenever the node signs a prevote for a block it also signs a conflicting prevote
  (nil) for the same height and round and gossips it right after, bypassing the signing record
  (bls.sign over vote_message directly), as a validator with a broken or malicious signer would.
- `withhold`: the node never sends its proposals. The machine still thinks it proposed (it
  prevotes its own block), but no peer ever sees the block, so its rounds must time out.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

MODES = ("double-sign", "withhold")

log = logging.getLogger("nnet.byzantine")


def patch_double_sign() -> None:
    from nnet import bls
    from nnet.chain.commit import vote_message
    from nnet.node.consensus.driver import Driver
    from nnet.node.consensus.tendermint import Vote

    honest: Callable[[Driver, Any], dict[str, Any] | None] = Driver._sign

    def _sign(self: Driver, message: Any) -> dict[str, Any] | None:
        msg = honest(self, message)
        if (
            msg is None
            or not isinstance(message, Vote)
            or message.type != "prevote"
            or message.value_id is None
        ):
            return msg
        assert self.bls_sk is not None
        sig = bls.sign(
            self.bls_sk,
            vote_message(self.node.chain_id, "prevote", message.height, message.round, None),
        )
        conflict = {**msg, "block_id": None, "sig": "0x" + sig.hex()}
        log.warning("double-signing: a nil prevote at %d/%d", message.height, message.round)
        loop = self._loop
        if loop is None:
            self.gossip.send_consensus(conflict)
        else:  # after the honest vote, which the caller sends once this returns
            loop.call_soon(self.gossip.send_consensus, conflict)
        return msg

    Driver._sign = _sign  # type: ignore[method-assign]


def patch_withhold() -> None:
    from nnet.node.consensus.driver import Driver
    from nnet.node.consensus.tendermint import Proposal

    honest: Callable[[Driver, Any], dict[str, Any] | None] = Driver._sign

    def _sign(self: Driver, message: Any) -> dict[str, Any] | None:
        if isinstance(message, Proposal):
            log.warning("withholding my proposal of %d/%d", message.height, message.round)
            return None
        return honest(self, message)

    Driver._sign = _sign  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("nnet_args", nargs=argparse.REMAINDER, help="-- then the nnet arguments")
    args = parser.parse_args(argv)
    rest = list(args.nnet_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest:
        parser.error("give the nnet arguments after --, e.g. -- daemon --home H …")
    {"double-sign": patch_double_sign, "withhold": patch_withhold}[args.mode]()
    from nnet.cli import main as nnet_main

    nnet_main(rest)


if __name__ == "__main__":
    main()
