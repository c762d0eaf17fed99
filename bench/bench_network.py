"""Network benchmark (issue 13): four validators as separate processes against the single node.

    .venv/bin/python bench/bench_network.py [--quick] [--profile DIR] [--out FILE]
        [--senders N --per-sender M --batch B] [--rate R --seconds S] [--sync-blocks H]
        [--block-times 0.2,1.0] [--validators 4,1] [--max-block-txs N] [--only-throughput]

Full run: 100 senders x 100 transfers (10,000), finality 20/s for 20 s, sync after 300 blocks
(~10 minutes). --quick: 60 x 100 (6,000), 10 s of finality, sync after 80 blocks (~3 minutes).

Everything runs on this machine, in throwaway homes, each node a real `python -m nnet daemon`
process started by `nnet devnet up`'s code (services/devnet_proc.py) on loopback. The client is
this process (stdlib http.client, keep-alive); every load transaction is signed before timing
starts, with real secp256k1 keys funded at genesis (DevnetOptions.fund). It prints one JSON line
per result as it goes, then a table.

1. **Committed transfers/s, NDJSON.** --senders funded keys, --per-sender transfers each. Each
   sender is tied to one validator (its nonces must arrive in order), and each validator's share
   is posted as NDJSON batches of --batch lines by its own thread, all four at once; the
   validators gossip them to each other. Committed = from the first POST until EVERY node serves
   all of them in blocks (a watcher per node polls GET /status and reads new blocks with GET
   /blocks); afterwards every sender's nonce is checked on every node (GET /accounts). The same
   signed load then goes to the single-node chain (`devnet init` with 1 validator: today's
   sequencer) with the same block time, for the ratio. Block times 0.2 s and 1.0 s.
2. **Time to finality.** On the 0.2 s network (and on the 0.2 s single node, for comparison): one
   transfer per POST at --rate per second for --seconds, each from its own key to a random
   validator; latency = POST sent -> the block holding it is served by THAT node (its receipt
   then has a height: checked with GET /txs/{hash} for every one afterwards). Also the block
   interval from the headers' time_ms and the decision time each validator logs.
3. **Commit certificate check**: `chain.commit.verify_certificate` over 4 and 64 validators (all
   signing), with milagro_bls_binding (what nnet.bls runs) and with py_ecc (nnet.bls._fast set to
   None in this process), median time.
4. **Sync speed.** Once the 0.2 s network has made --sync-blocks blocks, a fifth node (an
   observer: same genesis, no validator key, every validator as --peer) is started, and its
   height is polled until it reaches the height the validators had when it started. It applies
   each block only after checking its commit certificate against the validator set in its own
   state (driver.py `_sync_page`: BLS FastAggregateVerify + power > 2/3) and re-executing it
   (every transaction signature recovered, state root compared).

--profile DIR runs py-spy on node-1 during the first network's NDJSON load and on the syncing
observer, writes their collapsed stacks there and reports each one's top self-time frames (py-spy
must be installed; the profiled runs' figures are a little lower). A load the network does not
commit within --timeout is reported as such ("committed": false, what each node has), not fatal.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchlib import start_daemon

PY = sys.executable
CHAIN = "nnet-devnet"
UNIT = 10**18
FEE = 10**16  # 0.01 NNET: above the minimum fee of a transfer
FINALIZED_RE = re.compile(r"finalized (\d+) \((\d+) txs\) in round (\d+), ([0-9.]+) s")


# ---- small helpers ---------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _emit(out: list[dict[str, Any]], record: dict[str, Any], path: Path | None) -> None:
    """One result: a JSON line on stdout (and appended to --out)."""
    out.append(record)
    line = json.dumps(record, separators=(",", ":"))
    print(line, flush=True)
    if path is not None:
        with path.open("a") as f:
            f.write(line + "\n")


class Http:
    """A keep-alive connection to one node (one per thread)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        u = urlparse(url)
        self.host, self.port, self.timeout = u.hostname or "127.0.0.1", u.port or 80, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
    ) -> tuple[int, Any]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers={"content-type": ctype})
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt:
                    raise
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data

    def get(self, path: str) -> Any:
        status, data = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {str(data)[:200]}")
        return data

    def close(self) -> None:
        self.conn.close()


@dataclass
class Signed:
    """A pre-signed transaction: who, which nonce, its JSON line and hash."""

    sender: str
    nonce: int
    line: str
    hash: str


def _keys(tag: str, n: int) -> list[tuple[bytes, str]]:
    from nnet.crypto import address_of_private_key, keccak256

    secrets = [keccak256(b"bench-net-%s-%d" % (tag.encode(), i)) for i in range(n)]
    return [(s, address_of_private_key(s)) for s in secrets]


def _sign(secret: bytes, sender: str, nonce: int, to: str, amount: int) -> Signed:
    from nnet.tx import build_tx

    tx = build_tx(CHAIN, "transfer", sender, nonce, FEE, {"to": to, "amount": str(amount)})
    tx = tx.signed(secret)
    line = json.dumps(tx.to_dict(), separators=(",", ":"))
    return Signed(sender, nonce, line, "0x" + tx.signing_hash.hex())


# ---- a chain: homes, start, stop -------------------------------------------------------------
@dataclass
class Chain:
    """A devnet that is up: its home and its nodes' names and URLs."""

    home: Path
    names: list[str]
    urls: list[str]
    pids: list[int]
    block_time: float

    @property
    def network(self) -> bool:
        return len(self.urls) > 1


def make_chain(
    home: Path, validators: int, fund: list[str], block_time: float, params: dict[str, int]
) -> Chain:
    from nnet.services.devnet import DevnetOptions, init_devnet
    from nnet.services.devnet_proc import up

    funds = {a: 10_000 * UNIT for a in fund}
    init_devnet(home, DevnetOptions(validators=validators, fund=funds, params=params))
    # a block every height, idle or not (as before idle networks waited for transactions): the
    # sync figure needs the blocks, and the loads' timing starts on an already running chain
    nodes = up(home, block_time=block_time, extra_args=["--empty-block-interval", "0"])
    return Chain(
        home, [n.name for n in nodes], [n.url for n in nodes], [n.pid for n in nodes], block_time
    )


def stop_chain(chain: Chain) -> None:
    from nnet.services.devnet_proc import down

    down(chain.home)


def node_logs(chain: Chain) -> list[Path]:
    from nnet.services.devnet import node_homes

    homes = node_homes(chain.home) or [chain.home]
    return [h / "daemon.log" for h in homes]


# ---- watching blocks -------------------------------------------------------------------------
@dataclass
class Seen:
    """What one node has served in blocks: (sender, nonce) -> when first seen; headers."""

    txs: dict[tuple[str, int], float] = field(default_factory=dict)
    heights: dict[tuple[str, int], int] = field(default_factory=dict)
    headers: list[dict[str, Any]] = field(default_factory=list)  # height, time_ms, txs, seen
    height: int = 0


class Watcher:
    """A thread per node: GET /status every `poll_s`; new blocks read with GET /blocks."""

    def __init__(self, urls: list[str], poll_s: float) -> None:
        self.urls, self.poll_s = urls, poll_s
        self.seen = [Seen(height=_node_height(u)) for u in urls]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(urls))
        ]
        self.errors: list[str] = []

    def __enter__(self) -> Watcher:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _run(self, i: int) -> None:
        conn = Http(self.urls[i])
        seen = self.seen[i]
        try:
            while not self.stop.is_set():
                try:
                    height = int(conn.get("/status")["height"])
                    while height > seen.height and not self.stop.is_set():
                        page = conn.get(f"/blocks?from={seen.height + 1}&limit=100")
                        now = time.perf_counter()
                        blocks = page.get("blocks") or []
                        if not blocks:
                            break
                        with self.lock:
                            for b in blocks:
                                self._note(seen, b, now)
                except (RuntimeError, OSError, http.client.HTTPException) as e:
                    self.errors.append(f"{self.urls[i]}: {e}")
                self.stop.wait(self.poll_s)
        finally:
            conn.close()

    @staticmethod
    def _note(seen: Seen, block: dict[str, Any], now: float) -> None:
        header = block["header"]
        h = int(header["height"])
        if h != seen.height + 1:
            return
        txs = block.get("txs") or []
        for tx in txs:
            key = (str(tx["from"]), int(tx["nonce"]))
            seen.txs.setdefault(key, now)
            seen.heights.setdefault(key, h)
        seen.headers.append(
            {"height": h, "time_ms": int(header["time_ms"]), "txs": len(txs), "seen": now}
        )
        seen.height = h

    def wait_for(self, keys: list[tuple[str, int]], timeout: float) -> bool:
        """Whether every node serves every key within `timeout` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if all(all(k in s.txs for k in keys) for s in self.seen):
                    return True
            time.sleep(0.05)
        return False


# ---- 1. committed transfers/s ----------------------------------------------------------------
def throughput(
    chain: Chain, load: list[list[Signed]], batch: int, timeout: float
) -> dict[str, Any]:
    """Post `load` (one list per sender, in nonce order) as NDJSON batches, each sender's to
    its own node; seconds until every node serves all of it."""
    n = len(chain.urls)
    shares: list[list[Signed]] = [[] for _ in range(n)]
    per_sender = len(load[0])
    for nonce in range(per_sender):  # nonce-major: a batch holds many senders' next nonce
        for i, txs in enumerate(load):
            shares[i % n].append(txs[nonce])
    keys = [(t.sender, t.nonce) for txs in load for t in txs]
    refused: list[Any] = []
    post_s: list[float] = []
    start = threading.Barrier(n + 1)

    def post(i: int) -> None:
        conn = Http(chain.urls[i], timeout=300)
        start.wait()
        try:
            share = shares[i]
            for k in range(0, len(share), batch):
                body = ("\n".join(t.line for t in share[k : k + batch]) + "\n").encode()
                t = time.perf_counter()
                status, data = conn.request("POST", "/txs", body, "application/x-ndjson")
                post_s.append(time.perf_counter() - t)
                if status >= 300:
                    refused.append(f"{status} {str(data)[:200]}")
                    continue
                refused.extend(r for r in data.get("results", []) if "error" in r)
        finally:
            conn.close()

    with Watcher(chain.urls, 0.05) as watcher:
        base = [s.height for s in watcher.seen]
        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        t0 = time.perf_counter()
        start.wait()
        for th in threads:
            th.join()
        posted = time.perf_counter() - t0
        ok = watcher.wait_for(keys, timeout=timeout)
    if refused:
        raise SystemExit(f"the load was refused ({len(refused)}: {refused[:3]})")
    if not ok:  # a result too: the network did not commit it in time (stalled rounds)
        return {
            "txs": len(keys),
            "committed": False,
            "timeout_s": timeout,
            "committed_by_node": [sum(k in s.txs for k in keys) for s in watcher.seen],
            "heights": [s.height for s in watcher.seen],
        }
    done = [max(s.txs[k] for k in keys) - t0 for s in watcher.seen]
    first = [min(s.txs[k] for k in keys) - t0 for s in watcher.seen]
    blocks = [h for h in watcher.seen[0].headers if h["height"] > base[0] and h["txs"]]
    _check_nonces(chain, load)
    took = max(done)
    return {
        "txs": len(keys),
        "committed": True,
        "senders": len(load),
        "batch": batch,
        "seconds": round(took, 2),
        "tx_per_s": round(len(keys) / took),
        "posted_s": round(posted, 2),
        "post_p50_ms": round(1000 * _pct(post_s, 0.5), 1),
        "first_commit_s": round(min(first), 2),
        "all_nodes_done_s": [round(d, 2) for d in done],
        "blocks_with_txs": len(blocks),
        "max_txs_per_block": max((b["txs"] for b in blocks), default=0),
    }


def _check_nonces(chain: Chain, load: list[list[Signed]]) -> None:
    """Every sender's committed nonce is its load's length, on every node."""
    for url in chain.urls:
        conn = Http(url)
        try:
            for txs in load:
                acct = conn.get(f"/accounts/{txs[0].sender}")
                if int(acct["nonce"]) != len(txs):
                    raise SystemExit(f"{url}: {txs[0].sender} nonce {acct['nonce']} != {len(txs)}")
        finally:
            conn.close()


# ---- 2. time to finality ---------------------------------------------------------------------
def finality(chain: Chain, txs: list[Signed], rate: float) -> dict[str, Any]:
    """One tx per POST at `rate`/s to a random node; POST sent -> its block served there."""
    rng = random.Random(13)
    n = len(chain.urls)
    target = [rng.randrange(n) for _ in txs]
    conns = [Http(u) for u in chain.urls]
    sent = [0.0] * len(txs)
    errors: list[str] = []
    with Watcher(chain.urls, 0.02) as watcher:
        base = watcher.seen[0].height
        t0 = time.perf_counter()
        for i, tx in enumerate(txs):
            wait = t0 + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent[i] = time.perf_counter()
            status, data = conns[target[i]].request("POST", "/txs", tx.line.encode())
            if status >= 300:
                errors.append(f"{status} {str(data)[:200]}")
        window = time.perf_counter() - t0
        ok = watcher.wait_for([(t.sender, t.nonce) for t in txs], timeout=60)
    if not ok or errors:
        raise SystemExit(f"finality load not committed ({errors[:3]})")
    lat = [watcher.seen[target[i]].txs[(t.sender, t.nonce)] - sent[i] for i, t in enumerate(txs)]
    everywhere = [
        max(s.txs[(t.sender, t.nonce)] for s in watcher.seen) - sent[i] for i, t in enumerate(txs)
    ]
    # the receipt on that node shows the height the watcher saw
    for i, tx in enumerate(txs):
        receipt = conns[target[i]].get(f"/txs/{tx.hash}")
        want = watcher.seen[target[i]].heights[(tx.sender, tx.nonce)]
        if receipt.get("height") != want:
            raise SystemExit(f"{tx.hash}: receipt height {receipt.get('height')} != {want}")
    for c in conns:
        c.close()
    headers = [h for h in watcher.seen[0].headers if h["height"] > base]
    gaps = [(b["time_ms"] - a["time_ms"]) / 1000 for a, b in itertools.pairwise(headers)]
    return {
        "txs": len(txs),
        "rate_per_s": rate,
        "window_s": round(window, 1),
        "p50_s": round(_pct(lat, 0.5), 3),
        "p99_s": round(_pct(lat, 0.99), 3),
        "max_s": round(max(lat), 3),
        "all_nodes_p50_s": round(_pct(everywhere, 0.5), 3),
        "all_nodes_p99_s": round(_pct(everywhere, 0.99), 3),
        "blocks": len(headers),
        "block_interval_p50_s": round(_pct(gaps, 0.5), 3) if gaps else None,
        "block_interval_mean_s": round(statistics.mean(gaps), 3) if gaps else None,
        "block_interval_max_s": round(max(gaps), 3) if gaps else None,
    }


def decisions(chain: Chain, since_height: int = 0) -> dict[str, Any]:
    """From the validators' logs: seconds from height start to decision, rounds past 0."""
    took: list[float] = []
    late_rounds = 0
    for path in node_logs(chain):
        with contextlib.suppress(OSError):
            for m in FINALIZED_RE.finditer(path.read_text(errors="replace")):
                if int(m.group(1)) > since_height:
                    took.append(float(m.group(4)))
                    late_rounds += int(m.group(3)) > 0
    if not took:
        return {}
    return {
        "decisions": len(took),
        "decide_p50_s": round(_pct(took, 0.5), 3),
        "decide_p99_s": round(_pct(took, 0.99), 3),
        "rounds_after_0": late_rounds,
    }


# ---- 3. certificate checks -------------------------------------------------------------------
def certificate_cost(sizes: list[int], slow_reps: int) -> list[dict[str, Any]]:
    from nnet import bls
    from nnet.chain.commit import ValidatorKey, make_certificate, verify_certificate, vote_message

    out = []
    block_id = bytes(range(32))
    for n in sizes:
        sks = [bls.derive_secret(i.to_bytes(32, "big")) for i in range(1, n + 1)]
        vals = [ValidatorKey(f"v{i:03d}", bls.sk_to_pk(sk), 1) for i, sk in enumerate(sks)]
        msg = vote_message(CHAIN, "precommit", 7, 0, block_id)
        sigs = {v.address: bls.sign(sk, msg) for v, sk in zip(vals, sks, strict=True)}
        cert = make_certificate(vals, 7, 0, block_id, sigs)

        def check(vals: list[ValidatorKey] = vals, cert: Any = cert) -> None:
            if verify_certificate(CHAIN, vals, cert) is not None:
                raise SystemExit("a certificate did not verify")

        fast = _median_ms(check, 30) if bls._fast is not None else float("nan")
        saved = bls._fast
        bls._fast = None
        try:
            slow = _median_ms(check, slow_reps)
        finally:
            bls._fast = saved
        out.append(
            {
                "validators": n,
                "signers": n,
                "milagro_ms": round(fast, 2),
                "py_ecc_ms": round(slow, 1),
                "py_ecc_reps": slow_reps,
            }
        )
    return out


def _median_ms(fn: Callable[[], None], reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


# ---- 4. sync -------------------------------------------------------------------------------
def sync_speed(chain: Chain, tmp: Path, prof: Path | None = None) -> dict[str, Any]:
    """A fresh observer node catches up with the network: blocks/s, certificates checked."""
    home = tmp / "observer"
    home.mkdir()
    shutil.copy(chain.home / "devnet" / "genesis.json", home / "genesis.json")
    peers = [
        a
        for name, url in zip(chain.names, chain.urls, strict=True)
        for a in ("--peer", f"{name}={url}")
    ]
    target = _height(chain)
    t0 = time.perf_counter()
    proc, url = start_daemon(home, ["--listen", "127.0.0.1:0", "--name", "observer", *peers])
    t_up = time.perf_counter() - t0
    conn = Http(url)
    t_first = None
    spy = contextlib.ExitStack()
    spy.enter_context(py_spy(proc.pid, prof))
    try:
        while True:
            status = conn.get("/status")
            h = int(status["height"])
            now = time.perf_counter() - t0
            if h > 0 and t_first is None:
                t_first = now
            if h >= target:
                break
            if now > 600:
                raise SystemExit(f"the observer reached {h} of {target} in 600 s")
            time.sleep(0.02)
        t_done = time.perf_counter() - t0
        certified = conn.get(f"/p2p/commit/{target}") if target else None
    finally:
        spy.close()
        conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    syncing_s = t_done - (t_first or t_up)
    return {
        "blocks": target,
        "start_s": round(t_up, 2),
        "catch_up_s": round(t_done, 2),
        "blocks_per_s": round(target / t_done, 1),
        "blocks_per_s_after_first": round(target / syncing_s, 1) if syncing_s > 0 else None,
        "certificate_of_last": certified is not None and certified.get("height") == target,
    }


# ---- profile -------------------------------------------------------------------------------
@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy record on `pid` while the block runs (collapsed stacks in `out`)."""
    if out is None or shutil.which("py-spy") is None:
        yield
        return
    proc = subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "100"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)


def top_self(collapsed: Path, n: int = 15) -> list[tuple[str, float]]:
    """The `n` frames with the most self time in py-spy's collapsed stacks (share of samples)."""
    counts: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, num = line.rpartition(" ")
        if not num.isdigit():
            continue
        leaf = stack.split(";")[-1]
        counts[leaf] = counts.get(leaf, 0) + int(num)
        total += int(num)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return [(k, round(v / max(total, 1), 3)) for k, v in ranked]


# ---- main ----------------------------------------------------------------------------------
def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), no GPU used, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller loads: under ~3 minutes")
    ap.add_argument("--senders", type=int, help="funded keys of the NDJSON load")
    ap.add_argument("--per-sender", type=int, help="transfers per sender")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for commits")
    ap.add_argument("--batch", type=int, default=1000, help="NDJSON lines per POST")
    ap.add_argument("--rate", type=float, default=20.0, help="finality: single txs per second")
    ap.add_argument("--seconds", type=float, help="finality: how long")
    ap.add_argument("--sync-blocks", type=int, help="blocks the network makes before sync")
    ap.add_argument("--block-times", default="0.2,1.0", help="comma-separated")
    ap.add_argument("--validators", default="4,1", help="network size(s); 1 = single node")
    ap.add_argument("--max-block-txs", type=int, help="genesis max_block_txs (default: chain's)")
    ap.add_argument("--only-throughput", action="store_true", help="skip finality, sync, certs")
    ap.add_argument("--keep", action="store_true", help="keep the homes (and logs); print where")
    ap.add_argument("--profile", type=Path, help="py-spy node-1 under load; stacks here")
    ap.add_argument("--out", type=Path, help="also append the JSON lines here")
    args = ap.parse_args()
    senders_n = args.senders or (60 if args.quick else 100)
    per_sender = args.per_sender or 100
    seconds = args.seconds or (10.0 if args.quick else 20.0)
    sync_blocks = args.sync_blocks or (80 if args.quick else 300)
    block_times = [float(b) for b in args.block_times.split(",")]

    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    _emit(results, {"bench": "machine", "machine": machine(), "quick": args.quick}, args.out)

    senders = _keys("load", senders_n)
    single = _keys("final", int(args.rate * seconds))
    sink = _keys("sink", 1)[0][1]
    t = time.perf_counter()
    load = [[_sign(sk, addr, n, sink, 1 + n) for n in range(per_sender)] for sk, addr in senders]
    one_each = [_sign(sk, addr, 0, sink, 7) for sk, addr in single]
    _emit(
        results,
        {
            "bench": "presign",
            "txs": senders_n * per_sender + len(single),
            "seconds": round(time.perf_counter() - t, 1),
        },
        args.out,
    )
    fund = [a for _, a in senders] + [a for _, a in single]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    params = {} if args.max_block_txs is None else {"max_block_txs": args.max_block_txs}
    if params:
        _emit(results, {"bench": "params", **params}, args.out)
    tmp = Path(tempfile.mkdtemp(prefix="nnet-bench-network-"))
    try:
        for bt in block_times:
            for validators in [int(v) for v in args.validators.split(",")]:
                home = tmp / f"v{validators}-bt{bt}"
                chain = make_chain(home, validators, fund, bt, params)
                try:
                    prof = None
                    if args.profile and validators == 4 and bt == block_times[0]:
                        prof = args.profile / f"node-1-bt{bt}.txt"
                    with py_spy(chain.pids[min(1, len(chain.pids) - 1)], prof):
                        tp = throughput(chain, load, args.batch, args.timeout)
                    rec = {"bench": "throughput", "validators": validators, "block_time_s": bt}
                    _emit(results, {**rec, **tp, **decisions(chain)}, args.out)
                    if prof is not None and prof.exists():
                        _emit(
                            results,
                            {"bench": "profile", "node": "node-1", "top_self": top_self(prof)},
                            args.out,
                        )
                    if bt != block_times[0] or args.only_throughput or not tp["committed"]:
                        continue
                    h0 = _height(chain)
                    fin = finality(chain, one_each, args.rate)
                    rec = {"bench": "finality", "validators": validators, "block_time_s": bt}
                    _emit(results, {**rec, **fin, **decisions(chain, h0)}, args.out)
                    if validators > 1:
                        while _height(chain) < sync_blocks:
                            time.sleep(0.5)
                        prof = args.profile / "observer.txt" if args.profile else None
                        sy = sync_speed(chain, tmp, prof)
                        _emit(results, {"bench": "sync", "block_time_s": bt, **sy}, args.out)
                        if prof is not None and prof.exists():
                            top = {
                                "bench": "profile",
                                "node": "observer",
                                "top_self": top_self(prof),
                            }
                            _emit(results, top, args.out)
                finally:
                    stop_chain(chain)
        for row in (
            [] if args.only_throughput else certificate_cost([4, 64], 1 if args.quick else 3)
        ):
            _emit(results, {"bench": "certificate", **row}, args.out)
    finally:
        if args.keep:
            print(f"homes kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    _emit(results, {"bench": "total", "seconds": round(time.perf_counter() - started, 1)}, args.out)
    print_table(results)


def _height(chain: Chain) -> int:
    return min(_node_height(u) for u in chain.urls)


def _node_height(url: str) -> int:
    conn = Http(url)
    try:
        return int(conn.get("/status")["height"])
    finally:
        conn.close()


def print_table(results: list[dict[str, Any]]) -> None:
    print()
    for r in results:
        if r["bench"] == "machine":
            print(f"machine: {r['machine']}")
    tp = {(r["validators"], r["block_time_s"]): r for r in results if r["bench"] == "throughput"}
    print("\ncommitted transfers/s (NDJSON, every node serving all of them)")
    print(f"{'block time':>10} {'4 validators':>13} {'1 node':>8} {'ratio':>6} {'txs':>7}")
    for bt in sorted({k[1] for k in tp}):
        net, one = tp.get((4, bt)), tp.get((1, bt))
        if net is None or one is None:
            continue
        if not (net["committed"] and one["committed"]):
            for name, r in (("4 validators", net), ("1 node", one)):
                if not r["committed"]:
                    print(
                        f"{bt:>9}s {name}: NOT committed in {r['timeout_s']} s (by node "
                        f"{r['committed_by_node']} of {r['txs']}, heights {r['heights']})"
                    )
            continue
        ratio = net["tx_per_s"] / one["tx_per_s"]
        print(
            f"{bt:>9}s {net['tx_per_s']:>13,} {one['tx_per_s']:>8,} {ratio:>6.2f} {net['txs']:>7,}"
        )
    print("\ntime to finality (one tx per POST; sent -> in a block served by that node)")
    for r in results:
        if r["bench"] == "finality":
            print(
                f"  {r['validators']} validator(s), block time {r['block_time_s']} s: p50 "
                f"{r['p50_s']} s, p99 {r['p99_s']} s (all nodes: p50 {r['all_nodes_p50_s']} s, "
                f"p99 {r['all_nodes_p99_s']} s); block interval p50 "
                f"{r['block_interval_p50_s']} s, mean {r['block_interval_mean_s']} s"
                + (f"; decide p50 {r['decide_p50_s']} s" if "decide_p50_s" in r else "")
            )
    for r in results:
        if r["bench"] == "sync":
            print(
                f"\nsync: an observer caught up {r['blocks']} blocks in {r['catch_up_s']} s "
                f"({r['blocks_per_s']} blocks/s; {r['blocks_per_s_after_first']} after its "
                f"first block; start-up {r['start_s']} s), every certificate checked"
            )
    print("\ncommit certificate check (verify_certificate, every validator signing)")
    print(f"{'validators':>10} {'milagro ms':>11} {'py_ecc ms':>10}")
    for r in results:
        if r["bench"] == "certificate":
            print(f"{r['validators']:>10} {r['milagro_ms']:>11} {r['py_ecc_ms']:>10}")
    for r in results:
        if r["bench"] == "total":
            print(f"\ntotal {r['seconds']} s")


if __name__ == "__main__":
    main()
