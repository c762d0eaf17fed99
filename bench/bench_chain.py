"""Chain node benchmark: committed transfers/s over loopback, submit->commit latency, replay rate.

    .venv/bin/python bench/bench_chain.py [--senders 200] [--per-sender 100] [--single 3000]
                                          [--block-time 0.25] [--profile daemon.prof] [--json]

What it does, in a throwaway NNET_HOME:
1. `nnet devnet init` funding --senders accounts; every load transaction is signed beforehand.
2. Starts `python -m nnet daemon` (a separate process; under cProfile with --profile).
3. A SEPARATE client process (this script, `_client` mode, stdlib http.client keep-alive) sends
   (a) NDJSON batches of 1000 transfers, then (b) one transfer per request. A second thread of
   the client polls GET /blocks and notes when each transaction shows up in a committed block:
   committed tx/s = txs / (first send -> last commit seen); latency = request sent -> block seen
   (polling every 10 ms, so latency is over-stated by up to that).
4. Stops the daemon (SIGTERM), then replays every stored block into a fresh state through
   `process_block` (signatures, tx_root, state_root all re-checked), as a new node would sync.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
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


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- client process --------------------------------------------------------------------------
def run_client(url: str, mode: str, path: str, out: str, threads: int) -> None:
    """Send the pre-signed load; observe commits; write figures to `out` (JSON)."""
    u = urlparse(url)
    lines = Path(path).read_text().splitlines()
    keys = []
    for line in lines:
        d = json.loads(line)
        keys.append((d["from"], d["nonce"]))
    index = {k: i for i, k in enumerate(keys)}
    sent_at = [0.0] * len(lines)
    seen_at = [0.0] * len(lines)
    refused = [0]
    remaining = [len(lines)]
    done = threading.Event()
    start_height = _get_json(u, "/status")["height"] + 1

    def observe() -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        height = start_height
        while not done.is_set():
            conn.request("GET", f"/blocks?from={height}&limit=20")
            blocks = json.loads(conn.getresponse().read())["blocks"]
            now = time.perf_counter()
            for b in blocks:
                for tx in b["txs"]:
                    i = index.get((tx["from"], tx["nonce"]))
                    if i is not None and not seen_at[i]:
                        seen_at[i] = now
                        remaining[0] -= 1
                height = b["header"]["height"] + 1
            if remaining[0] <= refused[0]:
                done.set()
            if not blocks:
                time.sleep(0.01)

    def send(chunk: list[int], batch: int) -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        for k in range(0, len(chunk), batch):
            ids = chunk[k : k + batch]
            if batch == 1:
                body = lines[ids[0]].encode()
                headers = {"content-type": "application/json"}
            else:
                body = ("\n".join(lines[i] for i in ids) + "\n").encode()
                headers = {"content-type": "application/x-ndjson"}
            t = time.perf_counter()
            for i in ids:
                sent_at[i] = t
            conn.request("POST", "/txs", body=body, headers=headers)
            resp = conn.getresponse()
            results = json.loads(resp.read()).get("results", [])
            refused[0] += sum(1 for r in results if "error" in r)

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    t0 = time.perf_counter()
    if mode == "ndjson":
        send(list(range(len(lines))), 1000)
    else:
        # one connection per sender thread; each thread owns whole senders so nonces stay ordered
        by_sender: dict[str, list[int]] = {}
        for i, (sender, _) in enumerate(keys):
            by_sender.setdefault(sender, []).append(i)
        chunks: list[list[int]] = [[] for _ in range(threads)]
        for n, ids in enumerate(by_sender.values()):
            chunks[n % threads].extend(ids)
        workers = [threading.Thread(target=send, args=(c, 1)) for c in chunks if c]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    t_sent = time.perf_counter()
    done.wait(timeout=120)
    t_end = max(seen_at) if any(seen_at) else time.perf_counter()
    latencies = [s - a for s, a in zip(seen_at, sent_at, strict=True) if s]
    Path(out).write_text(
        json.dumps(
            {
                "txs": len(lines),
                "refused": refused[0],
                "committed": len(latencies),
                "submit_s": t_sent - t0,
                "submit_tx_per_s": len(lines) / (t_sent - t0),
                "commit_s": t_end - t0,
                "committed_tx_per_s": len(latencies) / (t_end - t0),
                "latency_p50_ms": 1000 * statistics.median(latencies) if latencies else None,
                "latency_p99_ms": 1000 * _percentile(latencies, 0.99) if latencies else None,
            }
        )
    )


def _get_json(u: Any, path: str) -> Any:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


# ---- orchestration ---------------------------------------------------------------------------
def _sign_load(senders: list[Any], per_sender: int, start_nonce: int, to: str) -> list[str]:
    from nnet.tx import build_tx

    out = []
    for n in range(start_nonce, start_nonce + per_sender):
        for secret, address in senders:
            tx = build_tx(
                "nnet-devnet", "transfer", address, n, 10**16, {"to": to, "amount": "1000000000"}
            ).signed(secret)
            out.append(json.dumps(tx.to_dict(), separators=(",", ":")))
    return out


def _start_daemon(home: Path, block_time: float, profile: str | None) -> tuple[Any, str]:
    args = ["--listen", "127.0.0.1:0", "--block-time", str(block_time)]
    python = [PY, "-m", "cProfile", "-o", profile] if profile else []
    return start_daemon(home, args, python=python)


def _client(url: str, mode: str, lines: list[str], tmp: Path, threads: int = 4) -> dict[str, Any]:
    load = tmp / f"{mode}.ndjson"
    load.write_text("\n".join(lines) + "\n")
    out = tmp / f"{mode}.json"
    subprocess.run(
        [PY, __file__, "_client", url, mode, str(load), str(out), str(threads)], check=True
    )
    return dict(json.loads(out.read_text()))


def _replay(home: Path) -> dict[str, Any]:
    from nnet.chain.block import compute_genesis_block, parse_block, process_block
    from nnet.chain.genesis import parse_genesis
    from nnet.node.storage import load_state
    from nnet.store.chaindb import ChainDB

    db = ChainDB(home / "chain.db")
    genesis = parse_genesis(json.loads(db.get_meta("genesis") or "{}"))
    state, head, _ = compute_genesis_block(genesis)
    state.commit()
    height = db.get_head_height() or 0
    txs = 0
    t0 = time.perf_counter()
    read_s = 0.0
    for start in range(1, height + 1, 100):
        r0 = time.perf_counter()
        raws = db.get_blocks(start, 100)
        blocks = [parse_block(raw) for raw in raws]
        read_s += time.perf_counter() - r0
        for block in blocks:
            process_block(state, head, block, sequencer=genesis.sequencer)
            state.commit()
            head = block.header
            txs += len(block.txs)
    elapsed = time.perf_counter() - t0
    assert state.data == load_state(db), "replay diverged from the stored state"
    db.close()
    return {
        "blocks": height,
        "txs": txs,
        "replay_s": elapsed,
        "replay_tx_per_s": txs / elapsed,
        "read_and_parse_s": read_s,
    }


def _breakdown(tmp: Path, senders: list[Any], sink: str, n_per_sender: int) -> dict[str, float]:
    """Where a transaction's time goes, in-process (no HTTP, no profiler): us per tx per stage."""
    from nnet.chain.genesis import make_devnet_genesis
    from nnet.crypto import keccak256, recover_raw_address
    from nnet.encoding import UNIT, strict_loads
    from nnet.node.core import Node
    from nnet.node.storage import store_block
    from nnet.store.chaindb import ChainDB
    from nnet.tx import parse_tx

    seq = keccak256(b"bench-breakdown-seq")
    from nnet.crypto import address_of_private_key

    genesis = make_devnet_genesis(
        "nnet-devnet",
        address_of_private_key(seq),
        time_ms=0,
        fund={a: 10**5 * UNIT for _, a in senders},
    )
    node = Node(ChainDB(tmp / "breakdown.db"), genesis, signer=seq)
    lines = _sign_load(senders, n_per_sender, 0, sink)
    n = len(lines)
    out: dict[str, float] = {}

    def stage(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        result = fn()
        out[name] = 1e6 * (time.perf_counter() - t) / n
        return result

    objs = stage("strict_loads", lambda: [strict_loads(x) for x in lines])
    txs = stage("parse_tx (shape, EIP-55)", lambda: [parse_tx(o) for o in objs])
    hashes = stage("signing_hash (JCS + keccak)", lambda: [t.signing_hash for t in txs])
    stage(
        "signature recovery",
        lambda: [recover_raw_address(h, t.sig) for h, t in zip(hashes, txs, strict=True)],
    )
    body = ("\n".join(lines) + "\n").encode()
    t = time.perf_counter()
    results = node.submit_body(body, "application/x-ndjson").results
    out["admission total (all of the above + mempool)"] = 1e6 * (time.perf_counter() - t) / n
    assert all("hash" in r for r in results)
    t = time.perf_counter()
    from nnet.chain.block import build_block

    result = build_block(
        node.state,
        node.head,
        node.mempool.candidates(),
        time_ms=1,
        proposer=node.sequencer,
        secret=seq,
        verified=True,
    )
    out["build_block (apply, roots, sign)"] = 1e6 * (time.perf_counter() - t) / n
    t = time.perf_counter()
    store_block(node.db, result)
    out["SQLite commit_block (one transaction)"] = 1e6 * (time.perf_counter() - t) / n
    node.state.commit()
    node.db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--senders", type=int, default=200)
    ap.add_argument("--per-sender", type=int, default=100, help="NDJSON txs per sender")
    ap.add_argument("--single", type=int, default=3000, help="one-per-request txs in total")
    ap.add_argument("--threads", type=int, default=4, help="client connections, single mode")
    ap.add_argument("--block-time", type=float, default=0.25)
    ap.add_argument("--profile", help="run the daemon under cProfile, write stats here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from nnet.crypto import address_of_private_key, keccak256

    tmp = Path(tempfile.mkdtemp(prefix="nnet-bench-chain-"))
    home = tmp / "home"
    try:
        senders = [(keccak256(b"bench-%d" % i), "") for i in range(args.senders)]
        senders = [(s, address_of_private_key(s)) for s, _ in senders]
        sink = address_of_private_key(keccak256(b"bench-sink"))
        fund = [a for _, a in senders]
        cmd = [PY, "-m", "nnet", "devnet", "init", "--json"]
        for a in fund:
            cmd += ["--fund", f"{a}=100000"]
        subprocess.run(
            cmd,
            env={**os.environ, "NNET_HOME": str(home)},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t = time.perf_counter()
        bulk = _sign_load(senders, args.per_sender, 0, sink)
        per = max(1, args.single // len(senders))
        single = _sign_load(senders, per, args.per_sender, sink)
        sign_s = time.perf_counter() - t
        breakdown = _breakdown(tmp, senders[:100], sink, 50)
        proc, url = _start_daemon(home, args.block_time, args.profile)
        try:
            ndjson = _client(url, "ndjson", bulk, tmp)
            one = _client(url, "single", single, tmp, args.threads)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        replay = _replay(home)
        result = {
            "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            "block_time_s": args.block_time,
            "presign_s": sign_s,
            "ndjson": ndjson,
            "single": {**one, "client_connections": args.threads},
            "replay": replay,
            "breakdown_us_per_tx": breakdown,
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            for name in ("ndjson", "single"):
                r = result[name]
                print(
                    f"{name:7s}: {r['committed']}/{r['txs']} committed, "
                    f"{r['committed_tx_per_s']:.0f} tx/s committed "
                    f"(submit {r['submit_tx_per_s']:.0f} tx/s), latency p50 "
                    f"{r['latency_p50_ms']:.0f} ms p99 {r['latency_p99_ms']:.0f} ms, "
                    f"refused {r['refused']}"
                )
            print(
                f"replay : {replay['txs']} txs in {replay['blocks']} blocks, "
                f"{replay['replay_tx_per_s']:.0f} tx/s"
            )
            print("in-process cost per tx (us):")
            for stage_name, us in breakdown.items():
                print(f"  {us:7.1f}  {stage_name}")
        if args.profile:
            import pstats

            print(f"\ndaemon profile ({args.profile}), top by cumulative time:")
            pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        run_client(*sys.argv[2:6], threads=int(sys.argv[6]))
    else:
        main()
