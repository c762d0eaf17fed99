"""Content-addressed blob store on disk: datasets, challenged checkpoints and final models.

Blobs are named by their CID (CIDv1, raw codec, sha2-256; see `nnet.store.cid`), written through a
temporary file and renamed into place (a crash leaves no half blob), streamed in chunks both ways,
and hashed again on every read: a blob whose bytes no longer match its name is an error, never data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nnet.errors import NotFound, UsageError, VerificationFailed
from nnet.store.cid import cid_of_digest, parse_cid

__all__ = ["CHUNK", "BlobInfo", "BlobStore", "BlobWriter", "read_chunks", "verify_stream"]

CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobInfo:
    cid: str
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"cid": self.cid, "size": self.size}


class BlobStore:
    """Blobs under `root/<2 chars>/<cid>`."""

    def __init__(self, root: Path, *, max_size: int = 16 << 30) -> None:
        self.root = root
        self.max_size = max_size

    def path(self, cid: str) -> Path:
        parse_cid(cid)
        return self.root / cid[-2:] / cid

    def has(self, cid: str) -> bool:
        return self.path(cid).is_file()

    def writer(self, *, expect_cid: str | None = None) -> BlobWriter:
        """An incremental writer, for bytes that arrive in pieces (an HTTP upload)."""
        return BlobWriter(self, expect_cid)

    def put(self, chunks: Iterable[bytes], *, expect_cid: str | None = None) -> BlobInfo:
        """Store a stream of bytes; returns its CID. With expect_cid, refuse other content."""
        w = self.writer(expect_cid=expect_cid)
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

    def list(self) -> list[BlobInfo]:
        if not self.root.is_dir():
            return []
        return sorted(
            (BlobInfo(p.name, p.stat().st_size) for p in self.root.glob("*/b*") if p.is_file()),
            key=lambda b: b.cid,
        )


class BlobWriter:
    """Writes to a temp file while hashing; `commit` renames it to its CID, `abort` drops it."""

    def __init__(self, store: BlobStore, expect_cid: str | None) -> None:
        store.root.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.expect_cid = expect_cid
        self.size = 0
        self._hash = hashlib.sha256()
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".incoming-")
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_size:
            self.abort()
            raise UsageError(f"blob is larger than the limit of {self.store.max_size} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

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
            os.replace(self._tmp, target)
        except BaseException:
            self.abort()
            raise
        return BlobInfo(cid, self.size)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        Path(self._tmp).unlink(missing_ok=True)


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
