"""HTTP client for the daemon's API (PROTOCOL.md), on httpx with timeouts.

Every method returns decoded JSON. A node that cannot be reached is NodeUnreachable (exit 3) with
the URL; a 4xx becomes the error the node reported (InvalidTx, MalformedInput, NotFound), so a
command sees the same errors whether it checks locally or asks the node.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from nnet.encoding import to_json_line
from nnet.errors import (
    InvalidTx,
    MalformedInput,
    NodeUnreachable,
    NotFound,
    VerificationFailed,
)
from nnet.poll import poll_until

if TYPE_CHECKING:
    from nnet.node.permit import BlobPermit

__all__ = ["BlobPart", "NodeClient"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
_CONTENT_RANGE = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19})", re.ASCII)
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d{1,19})", re.ASCII)


@dataclass(frozen=True)
class BlobPart:
    """A blob's bytes from `start` on, as the node sends them: not checked (a part cannot be
    hashed against the CID alone; the caller hashes the whole file it reassembles). `start` is
    0 when the node sent the whole blob instead of the range; `size` is the whole blob's size
    when the node said it. A range past the end gives no chunks and the size."""

    start: int
    size: int | None
    chunks: Iterator[bytes]


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

    def job(self, job_id: int) -> dict[str, Any]:
        """A job's view: record, blocks left, challenge, attestations, settlement."""
        return self._get(f"/jobs/{job_id}")

    def jobs(self, status: str | None = None, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every job, newest first (only those in `status`), a page at a time as consumed."""
        return self.pages("/jobs", "jobs", limit=page_size, **_only(status=status))

    def node(self, address: str) -> dict[str, Any]:
        """A compute node's registration: class, collateral, reputation, verified work."""
        return self._get(f"/nodes/{address}")

    def nodes(self, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every registered compute node, by address, a page at a time as consumed."""
        return self.pages("/nodes", "nodes", limit=page_size)

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        """A governance proposal with its live tally and time left."""
        return self._get(f"/proposals/{proposal_id}")

    def proposals(
        self, status: str | None = None, *, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every proposal, newest first (only those in `status`), a page at a time as consumed."""
        return self.pages("/proposals", "proposals", limit=page_size, **_only(status=status))

    def supply(self) -> dict[str, Any]:
        """The conservation identity: the supply and everything that holds it, to the unit."""
        return self._get("/supply")

    def params(self) -> dict[str, dict[str, Any]]:
        """Every governance parameter in force: name -> {value, min, max, kind, doc}."""
        return self._get("/params")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """Any GET endpoint, for reads that have no method of their own yet."""
        return self._get(path, params=params or None)

    def pages(self, path: str, items_key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing (`?limit=&after=`, answered `{items_key: [...],
        "next"}`), fetching page after page as the iterator is consumed; `params` go with every
        request (a filter, a page size as `limit`)."""
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params) if after is None else {**params, "after": after}
            page = self._get(path, params=query or None)
            items = page.get(items_key)
            if not isinstance(items, list):
                raise NodeUnreachable(f"{self.url}{path} did not answer a list of {items_key}")
            yield from items
            cursor = page.get("next")
            if cursor is None:
                return
            after = str(cursor)
            if after in seen:  # a node must not walk a client in circles
                raise NodeUnreachable(f"{self.url}{path} gave the cursor {after!r} twice")
            seen.add(after)

    def events(
        self,
        from_height: int = 1,
        *,
        after: str | None = None,
        wait_s: int = 25,
        limit: int = 1000,
        on_page: Callable[[str, int], None] | None = None,
        until: Callable[[], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The chain's events from `from_height` (or the cursor `after`) on, forever: GET /events
        page after page, waiting up to `wait_s` seconds at the head for the next block. After
        each page `on_page(next cursor, head height)` is called (an empty page past the head is
        a new block without events); it stops once `until()` is true, checked after each page.
        The read timeout allows for the wait."""
        cursor = after if after is not None else str(from_height)
        timeout = httpx.Timeout(wait_s + 15.0, connect=3.0)
        while True:
            page: dict[str, Any] = self._request(
                "GET",
                "/events",
                params={"after": cursor, "wait": wait_s, "limit": limit},
                timeout=timeout,
            )
            yield from page["events"]
            cursor = str(page["next"])
            if on_page is not None:
                on_page(cursor, int(page["head"]))
            if until is not None and until():
                return

    # ---- writes -------------------------------------------------------------------------------
    def submit(self, txs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST transactions as NDJSON; one result per tx: {"hash"} or {"error", "code"}."""
        body = "\n".join(to_json_line(t) for t in txs) + "\n"
        data = self._request(
            "POST", "/txs", content=body.encode(), headers={"content-type": "application/x-ndjson"}
        )
        results = data.get("results", [data]) if isinstance(data, dict) else data
        return list(results)

    def put_blob(
        self, content: bytes | Path | Iterable[bytes], *, signer: bytes | BlobPermit
    ) -> dict[str, Any]:
        """Upload to the node's content store (streamed); returns {"cid", "size"}.

        The node keeps bytes only for a funded account that signs for them: `signer` is a secret
        key (a permit for these bytes on the node's chain is signed with it, valid for an hour)
        or a `nnet.node.permit.BlobPermit` signed beforehand. `content` is bytes, a file (hashed
        first, then streamed), or chunks, which need a ready permit (it names their CID and size).
        Refusals come back as PermitRequired, PermitRefused, TooLarge or StorageFull.
        """
        from nnet.cid import compute_cid, compute_file_cid
        from nnet.errors import PermitRefused, PermitRequired, StorageFull, UsageError
        from nnet.node.permit import DEFAULT_LIFETIME_MS, PERMIT_HEADER, BlobPermit, sign_permit
        from nnet.store.blobs import read_chunks

        headers: dict[str, str] = {}
        chunks: Iterable[bytes]
        if isinstance(content, bytes):
            cid, size, chunks = compute_cid(content), len(content), [content]
        elif isinstance(content, Path):
            cid, size, chunks = compute_file_cid(content), content.stat().st_size, ()
            headers["content-length"] = str(size)  # the node refuses what it won't keep unread
        elif isinstance(signer, BlobPermit):
            cid, size, chunks = signer.cid, signer.size, content
        else:
            raise UsageError("uploading a stream of chunks needs a permit naming its CID and size")
        if isinstance(signer, BlobPermit):
            permit = signer
        else:
            expires = int(time.time() * 1000) + DEFAULT_LIFETIME_MS
            chain = str(self.status()["chain"])
            permit = sign_permit(signer, chain=chain, cid=cid, size=size, expires=expires)
        headers[PERMIT_HEADER] = permit.header_value()
        if isinstance(content, Path):
            chunks = read_chunks(content)
        try:
            resp = self._http.request("PUT", "/blobs", content=chunks, headers=headers)
        except httpx.TransportError as e:
            raise self._unreachable(e) from None
        if resp.status_code < 400:
            data: dict[str, Any] = resp.json()
            return data
        refusal = {401: PermitRequired, 403: PermitRefused, 507: StorageFull}.get(resp.status_code)
        try:
            err = resp.json()
            message, code = str(err["error"]), str(err["code"])
        except (ValueError, KeyError, TypeError):
            refusal = None
        if refusal is not None:
            raise refusal(message, code=code)
        self._raise_for(resp)

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

    @contextmanager
    def blob_from(self, cid: str, start: int = 0) -> Iterator[BlobPart]:
        """Open a download of a blob from byte `start` (an HTTP Range, to resume one cut off);
        the connection stays open while the `with` block reads `BlobPart.chunks`. The range is
        asked for from byte 0 too: the node then hashes the whole blob before its first byte, so
        a corrupt copy is VerificationFailed up front, not a stream that breaks off. A
        connection lost midway is NodeUnreachable: what arrived is the caller's to resume from."""
        headers = {"range": f"bytes={start}-"}
        started = False
        try:
            with self._http.stream("GET", f"/blobs/{cid}", headers=headers) as resp:
                if resp.status_code == 416:
                    resp.read()
                    m = _UNSATISFIED_RANGE.fullmatch(resp.headers.get("content-range", ""))
                    yield BlobPart(start, int(m.group(1)) if m else None, iter(()))
                    return
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for(resp)
                first, size = 0, _int_or_none(resp.headers.get("content-length"))
                if resp.status_code == 206:
                    m = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", ""))
                    if m is None or int(m.group(1)) != start:
                        raise NodeUnreachable(
                            f"the node at {self.url} answered a request for {cid} from byte "
                            f"{start} with the range {resp.headers.get('content-range')!r}"
                        )
                    first, size = start, int(m.group(3))
                started = True
                yield BlobPart(first, size, resp.iter_bytes())
        except httpx.TransportError as e:
            if not started:
                raise self._unreachable(e) from None
            raise NodeUnreachable(
                f"lost the node at {self.url} while downloading {cid} ({type(e).__name__}): "
                "it broke off (its copy may fail the hash check) or the connection dropped",
                hint="run the command again: it resumes from the bytes that arrived",
            ) from None

    def list_blobs(self) -> Iterator[dict[str, Any]]:
        """Every blob the node holds, {"cid", "size"}, fetched a page at a time as consumed."""
        return self.pages("/blobs", "blobs", limit=1000)

    def wait(
        self, tx_hash: str, *, timeout_s: float = 30.0, tx: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Poll until the transaction is committed (or the timeout passes: TimedOut); the receipt.

        With `tx`, the signed transaction as it was submitted: if the node answers not-found for
        it (a restart or an eviction lost it), it is submitted again; and a node that cannot be
        reached for a while (it is restarting) is waited for, until the timeout."""

        def committed() -> dict[str, Any] | None:
            try:
                receipt = self.receipt(tx_hash)
            except NotFound:
                if tx is not None:
                    self._resubmit(tx_hash, tx)
                return None
            return receipt if receipt.get("status") not in (None, "pending") else None

        return poll_until(
            committed,
            what=f"{tx_hash} to be committed",
            timeout_s=timeout_s,
            every_s=0.05,
            max_every_s=0.5,
            retry=(NodeUnreachable,) if tx is not None else (),
            hint=f"check later with `nnet tx show {tx_hash}`",
        )

    def _resubmit(self, tx_hash: str, tx: dict[str, Any]) -> None:
        """Submit a transaction the node has lost; refusals that may pass later are not final
        (duplicate: it is back, or committed meanwhile; mempool_full: room comes with blocks)."""
        [result] = self.submit([tx])
        code = result.get("code")
        if "error" in result and code not in ("duplicate", "mempool_full"):
            raise InvalidTx(
                f"the node lost {tx_hash} (a restart or an eviction) and refused it again: "
                f"{result['error']}",
                code=code,
            )

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


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


def _only(**filters: str | None) -> dict[str, str]:
    """The query filters that were given (a listing's `status=`, left out when None)."""
    return {k: v for k, v in filters.items() if v is not None}
