"""HTTP client for the daemon's API (PROTOCOL.md), on httpx with timeouts.

Every method returns decoded JSON. A node that cannot be reached is NodeUnreachable (exit 3) with
the URL; a 4xx becomes the error the node reported (InvalidTx, MalformedInput, NotFound), so a
command sees the same errors whether it checks locally or asks the node.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import httpx

from nnet.encoding import to_json_line
from nnet.errors import (
    InvalidTx,
    MalformedInput,
    NnetError,
    NodeUnreachable,
    NotFound,
    VerificationFailed,
)

__all__ = ["NodeClient"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class NodeClient:
    """A keep-alive connection to one daemon."""

    def __init__(self, url: str, *, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- reads --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return self._get("/status")

    def account(self, address: str) -> dict[str, Any]:
        return self._get(f"/accounts/{address}")

    def next_nonce(self, address: str) -> int:
        """The nonce the node expects next from `address`, counting its pending transactions."""
        acct = self.account(address)
        return int(acct.get("next_nonce", acct["nonce"]))

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        return self._get(f"/txs/{tx_hash}")

    def block(self, height: int) -> dict[str, Any]:
        return self._get(f"/blocks/{height}")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """Any GET endpoint, for reads that have no method of their own yet."""
        return self._get(path, params=params or None)

    # ---- writes -------------------------------------------------------------------------------
    def submit(self, txs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST transactions as NDJSON; one result per tx: {"hash"} or {"error", "code"}."""
        body = "\n".join(to_json_line(t) for t in txs) + "\n"
        data = self._request(
            "POST", "/txs", content=body.encode(), headers={"content-type": "application/x-ndjson"}
        )
        results = data.get("results", [data]) if isinstance(data, dict) else data
        return list(results)

    def put_blob(self, chunks: Iterable[bytes], *, cid: str | None = None) -> dict[str, Any]:
        """Upload bytes to the node's content store (streamed); returns {"cid", "size"}."""
        params = {"cid": cid} if cid else None
        data: dict[str, Any] = self._request("PUT", "/blobs", content=chunks, params=params)
        return data

    def get_blob(self, cid: str) -> Iterator[bytes]:
        """Stream a blob from the node, checking that the bytes hash to `cid` as they end."""
        from nnet.store.blobs import verify_stream

        def chunks() -> Iterator[bytes]:
            started = False
            try:
                with self._http.stream("GET", f"/blobs/{cid}") as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        self._raise_for(resp)
                    started = True
                    yield from resp.iter_bytes()
            except httpx.TransportError as e:
                if started:  # the node checks each blob as it sends it and stops at a mismatch
                    raise VerificationFailed(
                        f"the node broke off sending {cid}: its copy fails the hash check, "
                        "or the connection dropped; nothing was kept"
                    ) from None
                raise self._unreachable(e) from None

        return verify_stream(chunks(), cid)

    def list_blobs(self) -> list[dict[str, Any]]:
        return list(self._get("/blobs")["blobs"])

    def wait(self, tx_hash: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """Poll until the transaction is committed (or the timeout passes); the receipt."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            try:
                receipt = self.receipt(tx_hash)
                if receipt.get("status") not in (None, "pending"):
                    return receipt
            except NotFound:
                pass
            if time.monotonic() > deadline:
                raise NnetError(
                    f"{tx_hash} was not committed within {timeout_s:.0f} s",
                    hint=f"check later with `nnet tx show {tx_hash}`",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    # ---- plumbing -----------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", path, params=params)
        return data

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as e:
            raise self._unreachable(e) from None
        if resp.status_code < 400:
            return resp.json()
        self._raise_for(resp)

    def _unreachable(self, e: Exception) -> NodeUnreachable:
        return NodeUnreachable(
            f"cannot reach the node at {self.url} ({type(e).__name__})",
            hint="start it with `nnet daemon` or point --node / NNET_NODE at a running one",
        )

    def _raise_for(self, resp: httpx.Response) -> NoReturn:
        """Turn a 4xx/5xx into the error the node reported."""
        try:
            err = resp.json()
            message, code = str(err.get("error", resp.text)), str(err.get("code", ""))
        except ValueError:
            message, code = resp.text.strip() or resp.reason_phrase, ""
        if resp.status_code == 404:
            raise NotFound(message, code=code or None)
        if resp.status_code >= 500:
            raise NodeUnreachable(f"the node at {self.url} failed: {message}")
        if code in ("malformed", "usage", "too_large"):
            raise MalformedInput(message, code=code)
        if code == "verification_failed":
            raise VerificationFailed(message, code=code)
        raise InvalidTx(message, code=code or None)
