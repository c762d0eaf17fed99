"""Bounded reads: other clients' /status latency while one client pulls GET /blocks pages.

    .venv/bin/python bench/bench_reads.py [--txs 20000] [--per-block 100] [--seconds 20] [--json]

What it does, in a throwaway NNET_HOME:
1. `nnet devnet init` funding 100 senders; then, in this process, a Node on the home's chain.db
   takes --txs signed transfers (each paying a fee above the chain's minimum) in blocks of
   --per-block, exactly as the daemon would admit and produce them (no HTTP, to build fast).
2. What the handler before paging did for `GET /blocks?from=1&limit=1000`, timed here on the same
   database: decode 1000 blocks and encode them as one JSON answer (it ran on the event loop).
3. Starts `python -m nnet daemon` on that home (a separate process) and measures, from this
   process (stdlib http.client, keep-alive): /status latency alone; then /status latency from one
   thread while another walks every /blocks page (from=1, limit=1000, following `next`) over and
   over; and the size and fetch time of each page.
4. Starts a fresh replica (`--peer`) of that daemon and measures the replica's own /status
   latency until it has caught up with every block.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchlib import start_daemon

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
N_SENDERS = 100
TX_FEE = 10**16  # 0.01 NNET: above min_fee + min_fee_per_byte x size for a transfer
NEXT_RE = re.compile(rb'"next":(null|"(\d+)")\}$')


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(1000 * _percentile(values, 0.50), 2),
        "p99_ms": round(1000 * _percentile(values, 0.99), 2),
        "max_ms": round(1000 * max(values), 2),
    }


def build_chain(home: Path, n_txs: int, per_block: int) -> dict[str, Any]:
    """--txs transfers from N_SENDERS funded keys, committed through a Node in this process."""
    from nnet.crypto import address_of_private_key, keccak256
    from nnet.encoding import to_json_line
    from nnet.node.core import Node, NodeConfig
    from nnet.node.server import load_genesis, load_signer
    from nnet.store.chaindb import ChainDB
    from nnet.tx import build_tx

    secrets = [keccak256(b"bench-reads-%d" % i) for i in range(N_SENDERS)]
    senders = [(s, address_of_private_key(s)) for s in secrets]
    sink = address_of_private_key(keccak256(b"bench-reads-sink"))
    cmd = [PY, "-m", "nnet", "devnet", "init", "--json", "--epoch-blocks", "100"]
    for _, address in senders:
        cmd += ["--fund", f"{address}=1000000"]
    env = {**os.environ, "NNET_HOME": str(home)}
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    genesis = load_genesis(home / "genesis.json")
    db = ChainDB(home / "chain.db", synchronous="OFF")  # built once, fsyncs only cost time here
    node = Node(
        db,
        genesis,
        signer=load_signer(home, genesis),
        config=NodeConfig(max_mempool=per_block + 10),
    )
    t0 = time.perf_counter()
    nonces = [0] * N_SENDERS
    made = refused = 0
    last_ms = 0
    while made < n_txs:
        lines = []
        for k in range(min(per_block, n_txs - made)):
            i = (made + k) % N_SENDERS
            tx = build_tx(
                genesis.chain,
                "transfer",
                senders[i][1],
                nonces[i],
                TX_FEE,
                {"to": sink, "amount": str(1 + made + k)},
            ).signed(senders[i][0])
            nonces[i] += 1
            lines.append(to_json_line(tx.to_dict()))
        results = node.submit_body(("\n".join(lines) + "\n").encode(), "application/x-ndjson")
        bad = [r for r in results.results if "error" in r]
        if bad:
            raise SystemExit(f"the node refused a load transaction: {bad[0]}")
        last_ms = max(last_ms + 1, int(time.time() * 1000))
        committed = len(node.produce_block(last_ms).block.txs)
        refused += len(lines) - committed
        made += len(lines)
    built = {
        "txs": made,
        "blocks": node.head.height,
        "not_included": refused,
        "build_s": round(time.perf_counter() - t0, 1),
        "db_mb": round(os.path.getsize(home / "chain.db") / 1e6, 1),
    }
    # what GET /blocks?from=1&limit=1000 did before paging, on the event loop: decode, encode
    t = time.perf_counter()
    old_body = json.dumps(
        {"blocks": db.get_blocks(1, 1000)}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    built["old_page"] = {
        "bytes": len(old_body),
        "build_ms": round(1000 * (time.perf_counter() - t), 1),
    }
    db.close()
    return built


def _start_daemon(home: Path, *extra: str) -> tuple[Any, str]:
    return start_daemon(home, ["--listen", "127.0.0.1:0", "--block-time", "1", *extra])


def _conn(url: str) -> http.client.HTTPConnection:
    u = urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise SystemExit(f"GET {path}: {resp.status} {data[:200]!r}")
    return data


def _status_latencies(url: str, stop: threading.Event, out: list[float], gap_s: float) -> None:
    conn = _conn(url)
    while not stop.is_set():
        t = time.perf_counter()
        _get(conn, "/status")
        out.append(time.perf_counter() - t)
        time.sleep(gap_s)
    conn.close()


def _walk_blocks(url: str, stop: threading.Event, pages: list[tuple[int, int, float]]) -> None:
    """Every page from height 1, again and again: (blocks' first height, bytes, seconds)."""
    conn = _conn(url)
    while not stop.is_set():
        start: str | None = "1"
        while start is not None and not stop.is_set():
            t = time.perf_counter()
            data = _get(conn, f"/blocks?from={start}&limit=1000")
            pages.append((int(start), len(data), time.perf_counter() - t))
            m = NEXT_RE.search(data)
            start = None if m is None or m.group(1) == b"null" else m.group(2).decode()
    conn.close()


def measure(url: str, seconds: float) -> dict[str, Any]:
    alone: list[float] = []
    stop = threading.Event()
    t = threading.Thread(target=_status_latencies, args=(url, stop, alone, 0.01))
    t.start()
    time.sleep(min(5.0, seconds / 4))
    stop.set()
    t.join()
    loaded: list[float] = []
    pages: list[tuple[int, int, float]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_walk_blocks, args=(url, stop, pages)),
        threading.Thread(target=_status_latencies, args=(url, stop, loaded, 0.01)),
    ]
    for th in threads:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join()
    sizes = [b for _, b, _ in pages]
    return {
        "status_alone": _ms(alone),
        "status_while_blocks_served": _ms(loaded),
        "blocks_pages": {
            "n": len(pages),
            "bytes_max": max(sizes),
            "bytes_p50": int(_percentile([float(s) for s in sizes], 0.5)),
            "fetch": _ms([s for _, _, s in pages]),
            "mb_per_s": round(sum(sizes) / 1e6 / seconds, 1),
        },
    }


def measure_replica(tmp: Path, home: Path, url: str) -> dict[str, Any]:
    """A fresh replica follows the loaded chain: its own /status latency while it catches up."""
    replica_home = tmp / "replica"
    replica_home.mkdir()
    shutil.copy(home / "genesis.json", replica_home / "genesis.json")
    target = json.loads(_get(_conn(url), "/status"))["height"]
    t0 = time.perf_counter()
    proc, replica_url = _start_daemon(replica_home, "--peer", url)
    latencies: list[float] = []
    try:
        conn = _conn(replica_url)
        while True:
            t = time.perf_counter()
            height = json.loads(_get(conn, "/status"))["height"]
            latencies.append(time.perf_counter() - t)
            if height >= target:
                break
            time.sleep(0.01)
        catch_up = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {"blocks": target, "catch_up_s": round(catch_up, 1), "status": _ms(latencies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txs", type=int, default=20_000, help="transfers in the chain")
    ap.add_argument("--per-block", type=int, default=100, help="transfers per block")
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time under load")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nnet-bench-reads-"))
    home = tmp / "home"
    try:
        built = build_chain(home, args.txs, args.per_block)
        proc, url = _start_daemon(home)
        try:
            figures = measure(url, args.seconds)
            figures["replica_catching_up"] = measure_replica(tmp, home, url)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        from nnet.node.core import MAX_PAGE_TXS
        from nnet.node.paging import MAX_PAGE_BYTES

        result = {
            "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            "chain": built,
            "caps": {"page_bytes": MAX_PAGE_BYTES, "page_txs": MAX_PAGE_TXS},
            **figures,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    c, p = result["chain"], result["blocks_pages"]
    print(f"machine: {result['machine']}")
    print(
        f"chain: {c['txs']} transfers in {c['blocks']} blocks ({c['db_mb']} MB database, "
        f"built in {c['build_s']} s)"
    )
    print(
        f"before paging, GET /blocks?from=1&limit=1000 built {c['old_page']['bytes'] / 1e6:.1f} MB "
        f"in {c['old_page']['build_ms']} ms on the event loop (decode + encode, emulated)"
    )
    print(
        f"pages now: cap {result['caps']['page_bytes']} bytes / {result['caps']['page_txs']} txs; "
        f"{p['n']} pages served, largest {p['bytes_max']} bytes, median {p['bytes_p50']} bytes, "
        f"fetch p50 {p['fetch']['p50_ms']} ms p99 {p['fetch']['p99_ms']} ms, {p['mb_per_s']} MB/s"
    )
    r = result["replica_catching_up"]
    print(
        f"a fresh replica caught up {r['blocks']} blocks in {r['catch_up_s']} s; its own /status "
        f"meanwhile: n={r['status']['n']} p50 {r['status']['p50_ms']} ms, "
        f"p99 {r['status']['p99_ms']} ms, max {r['status']['max_ms']} ms"
    )
    for name in ("status_alone", "status_while_blocks_served"):
        s = result[name]
        print(
            f"/status {name.removeprefix('status_').replace('_', ' ')}: n={s['n']} "
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms"
        )


if __name__ == "__main__":
    main()
