"""On-chain tokenomics bench: the epoch step and a claim cost the same for 10 or 100,000 stakers.

    .venv/bin/python bench/bench_econ_chain.py [--json]

Builds a chain state (genesis of a devnet) holding N stake records with reward snapshots and
accounts, the same total stake split N ways, then measures single-threaded, median of many runs,
each run reverted through the state journal so every run sees the same state:

  1. `process_economics(state, epoch)`: the whole epoch-end step on chain state (read params from
     state, econ's epoch function, write pools, supply, accumulator, escrow, 100 nodes' GPU rewards)
     with 1,000 NNET of fees and demand at target;
  2. a `reward.claim` transaction through `process_tx` (signature already checked, as a sequencer
     does for mempool txs), for a staker who has accrued rewards;
  3. a `stake` transaction (which settles the staker's accrued reward first).

The state is built by writing keys directly (what 100,000 stake transactions would leave behind);
genesis, params and every code path measured are the chain's own.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from nnet.chain.accounts import get_pending_rewards
from nnet.chain.block import compute_genesis_block
from nnet.chain.economics import epoch_work_key, get_econ_params, process_economics
from nnet.chain.genesis import make_devnet_genesis
from nnet.chain.state import State
from nnet.chain.transition import BlockContext, process_tx
from nnet.crypto import address_of_private_key, checksum_address, keccak256
from nnet.encoding import UNIT
from nnet.tx import build_tx

TOTAL_STAKE = 10**8 * UNIT
CHAIN = "nnet-devnet"
SEQ_SECRET = keccak256(b"bench-seq")
SEQ = address_of_private_key(SEQ_SECRET)


def median_us(fn: Callable[[], object], state: State, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        mark = state.mark()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        state.revert(mark)
    return statistics.median(times) * 1e6


def build_state(n: int) -> tuple[State, str]:
    """Genesis plus n stakers (each with a snapshot and an account), one epoch of rewards."""
    genesis = make_devnet_genesis(
        CHAIN, SEQ, time_ms=0, params={"epoch_blocks": 100}, validators={SEQ: 10 * UNIT}
    )
    state, _, _ = compute_genesis_block(genesis)
    state.commit()
    data = state.data
    per = TOTAL_STAKE // n
    addresses = [checksum_address(i.to_bytes(20, "big")) for i in range(n)]
    for addr in addresses:
        data[f"stake/{addr}"] = {"bonded": per, "unbonding": []}
        data[f"account/{addr}"] = {"balance": 10 * UNIT, "nonce": 0}
    # the stake came out of the public pool, as the devnet's funded stakes do
    data["pool/public"] -= per * n
    data["total_bonded"] = data["total_bonded"] + per * n
    record_work(state, 0)
    state.put("epoch_fees", 0)
    process_economics(state, 0)  # one epoch of rewards, so the claimer has something due
    state.commit()
    return state, addresses[n // 2]


def record_work(state: State, epoch: int) -> None:
    params = get_econ_params(state)
    compute = {
        checksum_address((0xA000 + i).to_bytes(20, "big")): params.compute_ref // 365
        for i in range(100)
    }
    state.put(epoch_work_key(epoch), {"demand": params.demand_target // 365, "compute": compute})


def bench(n: int) -> dict[str, float | int]:
    state, staker = build_state(n)
    assert get_pending_rewards(state, staker) > 0
    ctx = BlockContext(150, 1, SEQ)

    def epoch_step() -> None:
        record_work(state, 1)
        state.put("epoch_fees", 1000 * UNIT)
        process_economics(state, 1)

    claim = build_tx(CHAIN, "reward.claim", staker, 0, 10**16, {})
    stake = build_tx(CHAIN, "stake", staker, 0, 10**16, {"amount": str(UNIT)})
    claim_hash, stake_hash = claim.signing_hash, stake.signing_hash
    return {
        "stakers": n,
        "state_keys": len(state.data),
        "epoch_step_us": round(median_us(epoch_step, state, 300), 1),
        "claim_us": round(
            median_us(lambda: process_tx(state, claim, claim_hash, ctx, verify=False), state, 3000),
            1,
        ),
        "stake_us": round(
            median_us(lambda: process_tx(state, stake, stake_hash, ctx, verify=False), state, 3000),
            1,
        ),
    }


def main() -> None:
    rows = [bench(n) for n in (10, 100_000)]
    if "--json" in sys.argv:
        for row in rows:
            print(json.dumps(row))
        return
    print(f"{'stakers':>8} {'state keys':>11} {'epoch step':>11} {'claim tx':>9} {'stake tx':>9}")
    for r in rows:
        print(
            f"{r['stakers']:>8,} {r['state_keys']:>11,} {r['epoch_step_us']:>9} µs "
            f"{r['claim_us']:>6} µs {r['stake_us']:>6} µs"
        )


if __name__ == "__main__":
    main()
