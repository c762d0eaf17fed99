"""A devnet for end-to-end marketplace tests: a real `nnet daemon` subprocess (127.0.0.1, port 0,
SQLite under a throwaway NNET_HOME), real keystores, and `nnet` commands run either in this
process (`Devnet.cli`, the CLI's own `main`, so torch is imported once) or as real processes
(`Devnet.proc`, through nnet.services.tour). The chain itself is set up by
`nnet.services.devnet.init_devnet`, as `nnet devnet init` does (tests/node/test_devnet_cmd.py
tests that command).

Reads go through the Python client (`Devnet.job`, `.node`, `.balance`); every write a test makes
goes through the CLI: `nnet job submit|claim|fetch`, `nnet train`, `nnet prove`, `nnet verify`,
`nnet store put`, and for a modified client `nnet tx sign | nnet send`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nnet.client import NodeClient
from nnet.commands.vote import parse_param_value
from nnet.encoding import UNIT
from nnet.keys import KeyStore
from nnet.services.devnet import DevnetOptions, init_devnet
from nnet.services.tour import Tour
from tests.conftest import Result as CliResult
from tests.conftest import invoke_main

PASSWORD = "devnet-attacks"
T = TypeVar("T")
_SCRUB = ("NNET_KEY", "NNET_NODE", "NNET_CHAIN", "NNET_FEE", "NNET_DEBUG", "NNET_PASSWORD")


class Result(CliResult):
    """A command's exit code and output, read as JSON lines."""

    def records(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def one(self) -> Any:
        records = self.records()
        assert len(records) == 1, f"expected one JSON line, got {self.stdout!r}"
        return records[0]


@dataclass
class Devnet:
    """One chain, its daemon and the keys of everyone acting on it."""

    home: Path
    tour: Tour
    addr: dict[str, str] = field(default_factory=dict)
    client: NodeClient | None = None

    # ---- commands ------------------------------------------------------------------------------
    @contextmanager
    def _environment(self, key: str | None) -> Iterator[None]:
        saved = {k: os.environ.get(k) for k in (*_SCRUB, "NNET_HOME")}
        for k in _SCRUB:
            os.environ.pop(k, None)
        os.environ["NNET_HOME"] = str(self.home)
        os.environ["NNET_PASSWORD"] = PASSWORD
        if self.tour.url:
            os.environ["NNET_NODE"] = self.tour.url
        if key:
            os.environ["NNET_KEY"] = key
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def cli(
        self, *args: str, key: str | None = None, input: str = "", expect: int | None = 0
    ) -> Result:
        """`nnet ARGS` in this process (as KEY); fails unless it exits with `expect` (None: any
        exit code)."""
        with self._environment(key):
            result = Result(**vars(invoke_main(list(args), input)))
        code = result.exit_code
        self.tour.say(f"$ [{key or '-'}] nnet {' '.join(args)}  -> {code}")
        assert expect is None or code == expect, (
            f"`nnet {' '.join(args)}` as {key} exited {code}, expected {expect}:\n"
            f"{result.stderr[-2000:]}"
        )
        return result

    def proc(
        self, *args: str, key: str | None = None, input: str | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        """`nnet ARGS` as a real process (as KEY)."""
        return self.tour.run(*args, key=key, input=input, expect=expect)

    def spawn(self, *args: str, key: str | None = None) -> subprocess.Popen[str]:
        """`nnet ARGS` as a real process (as KEY) left running; stdout and stderr piped."""
        return subprocess.Popen(
            [sys.executable, "-m", "nnet", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.tour._env(key),
        )

    def send_tx(self, key: str, type_: str, body: dict[str, Any], *, expect: int = 0) -> Any:
        """A modified client's transaction: `nnet tx sign - | nnet send --wait`; the receipt."""
        unsigned = json.dumps({"type": type_, "body": body}) + "\n"
        signed = self.cli("tx", "sign", "-", key=key, input=unsigned).stdout
        return self.cli("send", "-", "--wait", input=signed, expect=expect).one()

    # ---- reads ---------------------------------------------------------------------------------
    @property
    def http(self) -> NodeClient:
        assert self.client is not None, "the daemon is not running"
        return self.client

    def job(self, job_id: int) -> dict[str, Any]:
        return self.http.job(job_id)

    def node(self, name: str) -> dict[str, Any]:
        return self.http.node(self.addr[name])

    def balance(self, name: str) -> int:
        return int(self.http.account(self.addr[name])["balance"])

    def supply(self) -> dict[str, Any]:
        return self.http.supply()

    def name_of(self, address: str) -> str:
        return next(n for n, a in self.addr.items() if a.lower() == address.lower())

    def secret(self, name: str) -> bytes:
        return KeyStore(self.home).secret(name, PASSWORD)

    def wait_for(self, what: str, check: Callable[[], T | None], timeout_s: float = 120.0) -> T:
        """Poll `check()` until it returns something truthy; that value."""
        return self.tour.wait_for(what, check, timeout_s=timeout_s, every_s=0.1)

    def wait_status(self, job_id: int, *statuses: str, timeout_s: float = 120.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            view = self.job(job_id)
            return view if view["status"] in statuses else None

        return self.wait_for(f"job {job_id} to be {' or '.join(statuses)}", reached, timeout_s)

    # ---- the marketplace, as the honest CLI does it ---------------------------------------------
    def submit(self, spec: Path, submitter: str, *, fee: str, verifiers: int) -> int:
        receipt = self.cli(
            "job", "submit", str(spec), "--fee", fee, "--verifiers", str(verifiers),
            "--deadline-epochs", "500", "--send", "--wait", key=submitter,
        ).one()  # fmt: skip
        assert receipt["status"] == "committed", receipt
        return int(next(e["job"] for e in receipt["events"] if e["type"] == "job.submitted"))

    def claim_and_train(self, job_id: int, prover: str, workdir: Path) -> Path:
        """`nnet job claim`, `nnet job fetch` (which binds the run to job and prover), `nnet
        train`: the run directory."""
        receipt = self.cli("job", "claim", str(job_id), "--send", "--wait", key=prover).one()
        assert receipt["status"] == "committed", receipt
        folder, run = workdir / f"{prover}-job{job_id}", workdir / f"{prover}-run{job_id}"
        self.cli("job", "fetch", str(job_id), "-o", str(folder), key=prover)
        self.cli("train", str(folder / "job.toml"), "-o", str(run), key=prover)
        return run

    def contribute(self, job_id: int) -> list[str]:
        """Each drawn verifier's first `nnet verify JOB --send` (proof.seed); the drawn names."""
        view = self.wait_status(job_id, "drawn")
        names = [self.name_of(v) for v in view["drawn"]]
        for name in names:
            r = self.cli("verify", str(job_id), "--send", "--wait", key=name).one()
            assert r["status"] == "committed", r
        self.wait_status(job_id, "challenged")
        return names

    def attest(self, job_id: int, *, expect: int) -> dict[str, Result]:
        """Each drawn verifier's second `nnet verify JOB --send` (replay, proof.attest)."""
        view = self.wait_status(job_id, "opened")
        names = [self.name_of(v) for v in view["drawn"]]
        verify = ("verify", str(job_id), "--send", "--wait")
        return {name: self.cli(*verify, key=name, expect=expect) for name in names}

    def settled(self, job_id: int, timeout_s: float = 120.0) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            view = self.job(job_id)
            return view if view.get("settlement") else None

        return self.wait_for(f"job {job_id} to settle", final, timeout_s)


def start_devnet(
    home: Path,
    names: Sequence[str],
    *,
    fund_nnet: int,
    epoch_blocks: int,
    block_time: float,
    params: Sequence[str],
    narrate: Any,
) -> Devnet:
    """Keys for `names` (funded at genesis), a devnet (init_devnet) and a daemon subprocess.
    `params` are NAME=VALUE as `nnet devnet init --param` takes them."""
    tour = Tour(home, password=PASSWORD, narrate=narrate, timeout_s=300.0)
    dn = Devnet(home, tour)
    for name in names:
        dn.addr[name] = dn.cli("key", "new", name, "--light-kdf", "--json").one()["address"]
    tour.addresses = dict(dn.addr)
    values = dict(p.split("=", 1) for p in params)
    options = DevnetOptions(
        epoch_blocks=epoch_blocks,
        fund={a: fund_nnet * UNIT for a in dn.addr.values()},
        params={k: parse_param_value(k, v) for k, v in values.items()},
    )
    init_devnet(home, options)
    url = tour.start_daemon(block_time=block_time)
    dn.client = NodeClient(url, timeout=30.0)
    return dn


def stop_devnet(dn: Devnet) -> None:
    if dn.client is not None:
        dn.client.close()
    dn.tour.stop_daemon()
