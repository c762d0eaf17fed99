"""BLS timings for consensus (NETWORK.md): the fast binding against py_ecc, the reference.

    .venv/bin/python bench/bench_bls.py [--keys 64]

Sign, verify, aggregate N signatures and FastAggregateVerify over N keys (a commit certificate
checked by a light client), with milagro_bls_binding (what nnet.bls runs) and py_ecc.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from py_ecc.bls import G2ProofOfPossession as ref

from nnet import bls

OWNER = "0x" + "ab" * 20  # the account a proof of possession names


def _ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=64)
    args = parser.parse_args()
    sks = [bls.derive_secret(i.to_bytes(32, "big")) for i in range(1, args.keys + 1)]
    pks = [bls.sk_to_pk(sk) for sk in sks]
    msg = b"nnet-vote|precommit|height 1|round 0|" + b"\xab" * 32
    sigs = [bls.sign(sk, msg) for sk in sks]
    agg = bls.aggregate(sigs)
    rows = [
        ("sign", _ms(lambda: bls.sign(sks[0], msg), 50), _ms(lambda: ref.Sign(sks[0], msg), 3)),
        (
            "verify",
            _ms(lambda: bls.verify(pks[0], msg, sigs[0]), 50),
            _ms(lambda: ref.Verify(pks[0], msg, sigs[0]), 3),
        ),
        (
            f"aggregate {args.keys}",
            _ms(lambda: bls.aggregate(sigs), 20),
            _ms(lambda: ref.Aggregate(sigs), 1),
        ),
        (
            f"FastAggregateVerify {args.keys} keys",
            _ms(lambda: bls.fast_aggregate_verify(pks, msg, agg), 20),
            _ms(lambda: ref.FastAggregateVerify(pks, msg, agg), 1),
        ),
        (
            "proof of possession, verify",
            _ms(lambda: bls.pop_verify(pks[0], bls.pop_prove(sks[0], OWNER), OWNER), 20),
            float("nan"),
        ),
    ]
    print(f"{'operation':36} {'milagro ms':>11} {'py_ecc ms':>10}")
    for name, fast, slow in rows:
        print(f"{name:36} {fast:11.2f} {slow:10.1f}")


if __name__ == "__main__":
    main()
