"""Foundation benchmarks: signature recovery rate and whole-process start-up of two commands.

    .venv/bin/python bench/bench_foundation.py [--json]

Measures, on one core (this process is single-threaded):
  1. recover + address per second with coincurve (libsecp256k1), the hot path of every node
     (raw 20-byte address, as nodes compare it; and with EIP-55 formatting);
  2. the same with py-ecc, the pure-Python reference, for scale;
  3. a whole transaction check (parse, canonical JSON, keccak, recover) per second;
  4. wall time of `nnet --help` and `nnet tx verify` on one line, as new processes (median of 15).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnet.crypto import (
    address_of_private_key,
    keccak256,
    recover_address,
    recover_raw_address,
    sign_hash,
)
from nnet.tx import build_tx, parse_tx


def rate(fn, seconds: float = 2.0) -> float:  # type: ignore[no-untyped-def]
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / elapsed


def main() -> None:
    # 1,000 distinct signers and messages, cycled, so no cache can help
    cases = []
    for i in range(1000):
        key, digest = os.urandom(32), keccak256(i.to_bytes(4, "big"))
        cases.append((digest, sign_hash(key, digest)))
    ring = itertools.cycle(cases)
    results: dict[str, float] = {}
    results["recover_per_s_coincurve"] = rate(lambda: recover_raw_address(*next(ring)))
    results["recover_checksummed_per_s"] = rate(lambda: recover_address(*next(ring)))
    secret = os.urandom(32)
    h, sig = cases[0]

    from py_ecc.secp256k1 import secp256k1 as ref

    raw = bytes.fromhex(sig[2:])
    vrs = (raw[64], int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))
    results["recover_per_s_py_ecc"] = rate(lambda: ref.ecdsa_raw_recover(h, vrs), seconds=1.0)

    sender = address_of_private_key(secret)
    tx = (
        build_tx("nnet-devnet", "transfer", sender, 1, 10**16, {"to": sender, "amount": "5"})
        .signed(secret)
        .to_dict()
    )
    results["full_tx_checks_per_s"] = rate(lambda: parse_tx(tx).verify_signature())

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "NNET_HOME": home}
        line = Path(home) / "one.ndjson"
        line.write_text(json.dumps(tx) + "\n")
        nnet = [sys.executable, "-m", "nnet"]
        for name, args in (("help", ["--help"]), ("tx_verify", ["tx", "verify", str(line)])):
            times = []
            for _ in range(15):
                t = time.perf_counter()
                subprocess.run(nnet + args, env=env, capture_output=True, check=True)
                times.append(time.perf_counter() - t)
            results[f"startup_ms_{name}_median"] = statistics.median(times) * 1000
            results[f"startup_ms_{name}_max"] = max(times) * 1000

    if "--json" in sys.argv:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k:32s} {v:12,.1f}")


if __name__ == "__main__":
    main()
