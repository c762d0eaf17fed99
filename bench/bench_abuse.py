"""The hardening review's probes, rerun against a real daemon process (issue 11, "Done when").

    .venv/bin/python bench/bench_abuse.py [--idle 500] [--fuzz 3000] [--json]

What it does, in a throwaway NNET_HOME, with a client written from PROTOCOL.md (stdlib sockets
and http.client, signed transactions from nnet.tx only):
1. `nnet devnet init` funding two keys; `python -m nnet daemon` in its own process, under a file
   limit of 256 descriptors (RLIMIT_NOFILE, as the review ran it), mempool cap 200.
2. Free transactions: a never-funded key's fee-0, amount-0 transfer, and the same at the minimum
   fee: both refused, nothing committed.
3. Proposals: deposit 0 and a 10 kB text are refused; an accepted proposal costs its proposer
   the deposit plus the fee.
4. A 2 GiB anonymous blob: the request head declares 2 GiB and 1 MiB follows; the answer's status
   and time, and that nothing was stored.
5. File descriptors: `--idle` sockets are opened and left silent, then 50 honest GET /status on
   fresh connections: how many answered, p50/p99, and how many idle sockets the daemon closed.
6. A full mempool: a second daemon with a block time of an hour and a mempool of 200, filled with
   minimum-fee transfers; then a transfer paying 10x the minimum from another key.
7. Fuzz: `--fuzz` random requests (methods, paths, bodies, headers) over every route: 5xx count.
GET /blocks' bounds are measured by bench/bench_reads.py (100k-tx chain, other clients' p99).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchlib import start_daemon

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHAIN = "nnet-devnet"
UNIT = 10**18


def _keys() -> list[tuple[bytes, str]]:
    from nnet.crypto import address_of_private_key, keccak256

    return [(s, address_of_private_key(s)) for s in (keccak256(b"abuse-%d" % i) for i in range(3))]


def _init(home: Path, funded: list[str], extra: list[str]) -> None:
    args = [PY, "-m", "nnet", "devnet", "init", "--json", "--epoch-blocks", "10"]
    for address in funded:
        args += ["--fund", f"{address}=100000"]
    env = {**os.environ, "NNET_HOME": str(home), "NNET_PASSWORD": "bench"}
    subprocess.run([*args, *extra], env=env, check=True, capture_output=True)


def _start(home: Path, toml: str, nofile: int | None) -> tuple[subprocess.Popen[bytes], str]:
    (home / "daemon.toml").write_text(toml)
    return start_daemon(home, nofile=nofile)


def _request(
    url: str, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, Any]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"content-type": ctype})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw


def _tx(secret: bytes, sender: str, nonce: int, type_: str, body: dict[str, Any], fee: int) -> str:
    from nnet.tx import build_tx

    return json.dumps(build_tx(CHAIN, type_, sender, nonce, fee, body).signed(secret).to_dict())


def _min_fee(sender: str, nonce: int, type_: str, body: dict[str, Any], times: int = 1) -> int:
    from nnet.chain.fees import DEFAULT_FEE_SCHEDULE
    from nnet.tx import build_tx

    need = DEFAULT_FEE_SCHEDULE.required_for(build_tx(CHAIN, type_, sender, nonce, 10**18, body))
    return need * times


def probe_free_txs(url: str) -> dict[str, Any]:
    from nnet.crypto import keccak256

    stranger = keccak256(b"never-funded")
    from nnet.crypto import address_of_private_key

    addr = address_of_private_key(stranger)
    body = {"to": addr, "amount": "0"}
    s0, r0 = _request(url, "POST", "/txs", _tx(stranger, addr, 0, "transfer", body, 0).encode())
    fee = _min_fee(addr, 0, "transfer", body)
    s1, r1 = _request(url, "POST", "/txs", _tx(stranger, addr, 0, "transfer", body, fee).encode())
    return {"fee0": f"{s0} {r0.get('code')}", "min_fee_unfunded": f"{s1} {r1.get('code')}"}


def probe_proposals(url: str, secret: bytes, addr: str) -> dict[str, Any]:
    base = {"kind": "text", "title": "t"}
    nonce = _request(url, "GET", f"/accounts/{addr}")[1]["next_nonce"]
    out: dict[str, Any] = {}
    for name, body in [
        ("deposit_0", {**base, "deposit": "0"}),
        ("text_10kB", {**base, "description": "x" * 10_000, "deposit": str(10 * UNIT)}),
    ]:
        fee = _min_fee(addr, nonce, "gov.propose", body)
        status, data = _request(
            url, "POST", "/txs", _tx(secret, addr, nonce, "gov.propose", body, fee).encode()
        )
        out[name] = f"{status} {data.get('code')}"
    before = int(_request(url, "GET", f"/accounts/{addr}")[1]["balance"])
    body = {**base, "deposit": str(10 * UNIT)}
    fee = _min_fee(addr, nonce, "gov.propose", body)
    status, data = _request(
        url, "POST", "/txs", _tx(secret, addr, nonce, "gov.propose", body, fee).encode()
    )
    data = data["results"][0]
    if "hash" not in data:
        raise SystemExit(f"the proposal was refused: {data}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _request(url, "GET", f"/txs/{data['hash']}")[1].get("status") == "committed":
            break
        time.sleep(0.1)
    after = int(_request(url, "GET", f"/accounts/{addr}")[1]["balance"])
    out["accepted_costs_NNET"] = (before - after) / UNIT
    out["deposit_plus_fee_NNET"] = (10 * UNIT + fee) / UNIT
    return out


def probe_big_blob(url: str, home: Path) -> dict[str, Any]:
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    head = (
        f"PUT /blobs HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
        f"Content-Length: {2 << 30}\r\ncontent-type: application/octet-stream\r\n\r\n"
    )
    t0 = time.perf_counter()
    sock.sendall(head.encode())
    sent = 0
    answer = b""
    sock.settimeout(0.01)
    try:
        while sent < 1 << 20:
            sock.sendall(b"\0" * 65536)
            sent += 65536
            try:
                answer = sock.recv(4096)
                if answer:
                    break
            except TimeoutError:
                pass
    except OSError:
        pass  # the node closed the connection: it read no further
    sock.settimeout(10)
    with contextlib.suppress(OSError):
        answer = answer or sock.recv(4096)
    elapsed = time.perf_counter() - t0
    sock.close()
    stored = (
        [p for p in (home / "blobs").rglob("*") if p.is_file()] if (home / "blobs").exists() else []
    )
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return {"status_line": status, "ms": round(elapsed * 1000, 1), "files_in_store": len(stored)}


def probe_fds(url: str, idle: int) -> dict[str, Any]:
    u = urlparse(url)
    sockets = []
    for _ in range(idle):
        try:
            sockets.append(socket.create_connection((u.hostname, u.port), timeout=5))
        except OSError:
            break
    time.sleep(0.5)
    latencies, ok = [], 0
    for _ in range(50):
        t = time.perf_counter()
        try:
            status, _ = _request(url, "GET", "/status")
            ok += status == 200
        except OSError:
            status = 0
        latencies.append((time.perf_counter() - t) * 1000)
    closed = 0
    for s in sockets:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    latencies.sort()
    return {
        "idle_opened": len(sockets),
        "honest_ok": f"{ok}/50",
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
        "idle_closed_by_node": closed,
    }


def probe_full_mempool(tmp: Path) -> dict[str, Any]:
    keys = _keys()
    home = tmp / "mempool"
    _init(home, [a for _, a in keys], [])
    proc, url = _start(home, 'listen = "127.0.0.1:0"\nblock_time = 3600\nmax_mempool = 200\n', None)
    try:
        (s0, a0), (s1, a1) = keys[0], keys[1]
        body = {"to": a1, "amount": "1"}
        lines = [
            _tx(s0, a0, n, "transfer", body, _min_fee(a0, n, "transfer", body)) for n in range(200)
        ]
        ndjson = ("\n".join(lines) + "\n").encode()
        _, data = _request(url, "POST", "/txs", ndjson, "application/x-ndjson")
        admitted = sum("hash" in r for r in data["results"])
        late = _tx(s0, a0, 200, "transfer", body, _min_fee(a0, 200, "transfer", body))
        s_late, d_late = _request(url, "POST", "/txs", late.encode())
        body2 = {"to": a0, "amount": "1"}
        paying = _tx(s1, a1, 0, "transfer", body2, _min_fee(a1, 0, "transfer", body2, 10))
        s_pay, d_pay = _request(url, "POST", "/txs", paying.encode())
        size = _request(url, "GET", "/status")[1]["mempool"]
        return {
            "filled": admitted,
            "another_min_fee": f"{s_late} {d_late.get('code')}",
            "fee_paying": f"{s_pay} {d_pay['results'][0].get('status') or d_pay.get('code')}",
            "mempool_after": size,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def probe_fuzz(url: str, n: int) -> dict[str, Any]:
    rng = random.Random(7)
    paths = [
        "/status",
        "/health",
        "/metrics",
        "/txs",
        "/txs/0x" + "ab" * 32,
        "/blocks",
        "/blocks/1",
        "/blocks?from=1&limit=1001",
        "/blocks?after=zz",
        "/accounts/0x00",
        "/params",
        "/supply",
        "/jobs",
        "/jobs/1",
        "/jobs?status=bogus",
        "/nodes",
        "/proposals",
        "/proposals/9",
        "/blobs",
        "/blobs?limit=-1",
        "/blobs/bafkrei",
        "/openapi.json",
        "/nope",
    ]
    bodies = [
        b"",
        b"{",
        b"null",
        b"[]",
        b'{"type":"transfer"}',
        bytes(rng.randrange(256) for _ in range(64)),
        b'{"a":1,"a":2}',
        "１٠".encode(),
        b"\n\n{}\n[",
        b"x" * 70_000,
    ]
    u = urlparse(url)
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    for _ in range(n):
        method = rng.choices(["GET", "POST", "PUT", "DELETE", "PATCH"], [45, 35, 10, 5, 5])[0]
        try:
            conn.request(
                method,
                rng.choice(paths),
                body=rng.choice(bodies),
                headers={
                    "content-type": rng.choice(
                        ["application/json", "application/x-ndjson", "text/plain"]
                    )
                },
            )
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            statuses[0] = statuses.get(0, 0) + 1
    conn.close()
    return {
        "requests": n,
        "5xx": sum(c for s, c in statuses.items() if s >= 500),
        "statuses": dict(sorted(statuses.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--fuzz", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nnet-abuse-"))
    keys = _keys()
    home = tmp / "main"
    results: dict[str, Any] = {}
    try:
        _init(home, [a for _, a in keys], [])
        toml = 'listen = "127.0.0.1:0"\nblock_time = 0.5\nmax_mempool = 200\n'
        proc, url = _start(home, toml, 256)
        try:
            results["free transactions"] = probe_free_txs(url)
            results["proposals"] = probe_proposals(url, *keys[2])
            results["2 GiB anonymous blob"] = probe_big_blob(url, home)
            results[f"{args.idle} idle sockets, RLIMIT_NOFILE 256"] = probe_fds(url, args.idle)
            results["fuzz"] = probe_fuzz(url, args.fuzz)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        results["full mempool (200)"] = probe_full_mempool(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results))
        return
    for name, figures in results.items():
        print(f"{name}:")
        for k, v in figures.items():
            print(f"  {k}: {v}")


if __name__ == "__main__":
    main()
