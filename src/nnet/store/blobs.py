"""Content-addressed blob store on disk: datasets, challenged checkpoints and final models.

Blobs are named by their CID (CIDv1, raw codec, sha2-256; see `nnet.cid`), written through a
temporary file and renamed into place (a crash leaves no half blob), streamed in chunks both ways,
and hashed again on every read: a blob whose bytes no longer match its name is an error, never data.

The store is bounded (BlobLimits): one blob may not exceed `max_blob_bytes` (TooLarge), all blobs
together `quota_bytes`, and no upload may leave the disk with less than `min_free_disk_bytes`
free (StorageFull, codes `quota` and `disk_full`), checked before the first byte and again as
bytes arrive; a refused upload leaves nothing behind. The bytes held are counted once when the
store opens and kept up to date as blobs commit, and uploads in flight reserve their room, so no
request scans the store. Opening the store also deletes the `.incoming-*` files a crash left.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nnet.cid import cid_of_digest, parse_cid
from nnet.errors import NotFound, StorageFull, TooLarge, VerificationFailed

__all__ = [
    "CHUNK",
    "BlobInfo",
    "BlobLimits",
    "BlobStore",
    "BlobWriter",
    "read_chunks",
    "verify_stream",
]

CHUNK = 1 << 20
DISK_PROBE_EVERY = 16 << 20  # bytes an upload writes between two looks at the free disk space
INCOMING = ".incoming-"


@dataclass(frozen=True)
class BlobLimits:
    """What the store may hold (the daemon sets these from its options)."""

    max_blob_bytes: int = 1 << 30  # one blob
    quota_bytes: int = 64 << 30  # every blob together
    min_free_disk_bytes: int = 1 << 30  # an upload must leave at least this much disk free


@dataclass(frozen=True)
class BlobInfo:
    cid: str
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"cid": self.cid, "size": self.size}


class BlobStore:
    """Blobs under `root/<last 2 chars of the CID>/<cid>`."""

    def __init__(self, root: Path, limits: BlobLimits | None = None) -> None:
        self.root = root
        self.limits = limits or BlobLimits()
        root.mkdir(parents=True, exist_ok=True)
        self.removed_leftovers = self._remove_leftovers()
        self.used_bytes = sum(b.size for b in self.iter_blobs())  # once; commits keep it current
        self.reserved_bytes = 0  # room held by uploads in flight

    def path(self, cid: str) -> Path:
        parse_cid(cid)
        return self.root / cid[-2:] / cid

    def has(self, cid: str) -> bool:
        return self.path(cid).is_file()

    def free_disk_bytes(self) -> int:
        """Free space of the file system the store is on (the one probe a test may stand in for)."""
        return shutil.disk_usage(self.root).free

    def writer(self, *, expect_cid: str | None = None, size: int | None = None) -> BlobWriter:
        """An incremental writer, for bytes that arrive in pieces (an HTTP upload).

        With `size` (a permit declares it), the blob is checked against the limits and its room
        reserved before any byte arrives, and the writer refuses to go past it; without, the room
        is checked and reserved as bytes come."""
        limit = self.limits.max_blob_bytes
        reserve = 0
        if size is not None:
            if size > limit:
                raise TooLarge(f"a blob of {size} bytes is over the limit of {limit} bytes")
            limit = size
            stored = expect_cid is not None and self.has(expect_cid)
            reserve = 0 if stored else size  # a blob held already costs no more room
        self.check_room(reserve, disk=size or 0)
        w = BlobWriter(self, expect_cid, limit, reserve_as_written=size is None)
        w.reserve(reserve)
        return w

    def check_room(self, more: int, *, disk: int) -> None:
        """StorageFull unless `more` bytes fit in the quota (beside what is held and reserved)
        and writing `disk` bytes leaves min_free_disk_bytes free."""
        quota = self.limits.quota_bytes
        if self.used_bytes + self.reserved_bytes + more > quota:
            raise StorageFull(
                f"the blob store is full: {self.used_bytes} bytes held and "
                f"{self.reserved_bytes} reserved of a quota of {quota} bytes",
                code="quota",
            )
        free = self.free_disk_bytes()
        if free - disk < self.limits.min_free_disk_bytes:
            raise StorageFull(
                f"the node's disk is nearly full: {free} bytes free, and uploads must leave "
                f"{self.limits.min_free_disk_bytes}",
                code="disk_full",
            )

    def put(
        self, chunks: Iterable[bytes], *, expect_cid: str | None = None, size: int | None = None
    ) -> BlobInfo:
        """Store a stream of bytes; returns its CID. With expect_cid, refuse other content."""
        w = self.writer(expect_cid=expect_cid, size=size)
        try:
            for chunk in chunks:
                w.write(chunk)
        except BaseException:
            w.abort()
            raise
        return w.commit()

    def put_file(self, path: Path) -> BlobInfo:
        return self.put(read_chunks(path))

    def read(self, cid: str) -> Iterator[bytes]:
        """The blob's bytes in chunks; VerificationFailed at the end if they do not match the CID.

        A consumer must treat the data as untrusted until the iterator finishes without error.
        """
        want = parse_cid(cid)
        path = self.path(cid)
        if not path.is_file():
            raise NotFound(f"no blob {cid}")
        return _verified(read_chunks(path), want, cid)

    def iter_blobs(self, after: str | None = None) -> Iterator[BlobInfo]:
        """Every blob once, in (fan-out folder, CID) order, from just after the blob `after`.

        Lazy: a caller that stops early has read only the folders it walked, so a page of a
        listing costs its own size, not the store's."""
        if after is not None:
            parse_cid(after, "after")
        start = after[-2:] if after is not None else ""
        with os.scandir(self.root) as it:
            folders = sorted(e.name for e in it if len(e.name) == 2 and e.is_dir())
        for folder in folders:
            if folder < start:
                continue
            try:
                with os.scandir(self.root / folder) as it:
                    entries = sorted((e.name, e) for e in it if e.name.startswith("b"))
            except FileNotFoundError:
                continue
            for name, entry in entries:
                if after is not None and folder == start and name <= after:
                    continue
                try:
                    if entry.is_file(follow_symlinks=False):
                        yield BlobInfo(name, entry.stat(follow_symlinks=False).st_size)
                except FileNotFoundError:
                    continue

    def page(self, after: str | None, limit: int) -> tuple[list[BlobInfo], str | None]:
        """Up to `limit` blobs after the cursor `after`, and the cursor of the next page (None on
        the last)."""
        blobs = self.iter_blobs(after)
        items = list(itertools.islice(blobs, limit))
        more = next(blobs, None) is not None
        return items, (items[-1].cid if more and items else None)

    def list(self) -> list[BlobInfo]:
        """Every blob, sorted by CID (a full scan: for tests and small stores, not for requests)."""
        return sorted(self.iter_blobs(), key=lambda b: b.cid)

    def _remove_leftovers(self) -> int:
        """Delete the temp files of uploads a crash cut off; how many there were."""
        removed = 0
        for leftover in self.root.glob(f"{INCOMING}*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


class BlobWriter:
    """Writes to a temp file while hashing; `commit` renames it to its CID, `abort` drops it.

    Refuses (and aborts) as soon as the bytes pass `limit`, the quota or the free disk space."""

    def __init__(
        self, store: BlobStore, expect_cid: str | None, limit: int, *, reserve_as_written: bool
    ) -> None:
        self.store = store
        self.expect_cid = expect_cid
        self.limit = limit
        self.reserve_as_written = reserve_as_written  # no size declared up front
        self.size = 0
        self.reserved = 0  # of store.reserved_bytes, given back on commit or abort
        self._unprobed = 0  # bytes written since the last look at the free disk space
        self._hash = hashlib.sha256()
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=INCOMING)
        self._file = os.fdopen(fd, "wb")

    def reserve(self, n: int) -> None:
        self.reserved += n
        self.store.reserved_bytes += n

    def write(self, chunk: bytes) -> None:
        try:
            self._admit(len(chunk))
            self._hash.update(chunk)
            self._file.write(chunk)
        except BaseException as e:
            self.abort()
            if _is_disk_full(e):
                raise _storage_error(e) from None
            raise

    def _admit(self, n: int) -> None:
        self.size += n
        if self.size > self.limit:
            raise TooLarge(f"blob is larger than its limit of {self.limit} bytes")
        if self.reserve_as_written and self.size > self.reserved:
            grow = self.size - self.reserved
            self.store.check_room(grow, disk=0)
            self.reserve(grow)
        self._unprobed += n
        if self._unprobed >= DISK_PROBE_EVERY:
            self._unprobed = 0
            self.store.check_room(0, disk=0)

    def commit(self) -> BlobInfo:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            cid = cid_of_digest(self._hash.digest())
            if self.expect_cid is not None and cid != self.expect_cid:
                raise VerificationFailed(f"content hashes to {cid}, not to {self.expect_cid}")
            target = self.store.path(cid)
            target.parent.mkdir(exist_ok=True)
            before = target.stat().st_size if target.is_file() else 0
            os.replace(self._tmp, target)
        except BaseException as e:
            self.abort()
            if _is_disk_full(e):
                raise _storage_error(e) from None
            raise
        self._release()
        self.store.used_bytes += self.size - before
        return BlobInfo(cid, self.size)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        Path(self._tmp).unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        self.store.reserved_bytes -= self.reserved
        self.reserved = 0


def _is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def _storage_error(e: BaseException) -> StorageFull:
    return StorageFull(f"the node's disk is full ({e})", code="disk_full")


def read_chunks(path: Path) -> Iterator[bytes]:
    """A file's bytes in CHUNK-sized pieces (NotFound if it is missing)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed when the generator finishes
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    with f:
        while chunk := f.read(CHUNK):
            yield chunk


def _verified(chunks: Iterator[bytes], want: bytes, cid: str) -> Iterator[bytes]:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if h.digest() != want:
        raise VerificationFailed(f"blob {cid} is corrupt: its bytes no longer hash to its CID")


def verify_stream(chunks: Iterable[bytes], cid: str) -> Iterator[bytes]:
    """Pass chunks through, raising VerificationFailed at the end unless they hash to `cid`."""
    return _verified(iter(chunks), parse_cid(cid), cid)
