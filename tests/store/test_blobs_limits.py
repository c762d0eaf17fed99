"""The blob store's bounds: per-blob limit, quota, free disk space, the bytes held counted without
rescanning, crash leftovers removed on open, and listings that read only what a page needs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nnet.cid import compute_cid
from nnet.errors import MalformedInput, StorageFull, TooLarge
from nnet.store.blobs import DISK_PROBE_EVERY, BlobLimits, BlobStore

MIB = 1 << 20


def incoming(store: BlobStore) -> list[Path]:
    return list(store.root.glob(".incoming-*"))


def test_leftovers_of_a_crash_are_deleted_on_open(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    kept = BlobStore(root).put([b"kept"])
    for name in (".incoming-a1", ".incoming-b2"):
        (root / name).write_bytes(b"half an upload")
    store = BlobStore(root)
    assert store.removed_leftovers == 2 and incoming(store) == []
    assert b"".join(store.read(kept.cid)) == b"kept"


def test_bytes_held_are_counted_on_open_and_kept_current(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.put([b"a" * 100])
    store.put([b"b" * 50], size=50)
    store.put([b"a" * 100], expect_cid=compute_cid(b"a" * 100), size=100)  # held already
    assert store.used_bytes == 150 and store.reserved_bytes == 0
    assert BlobStore(tmp_path).used_bytes == 150


def test_per_blob_limit_declared_or_streamed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, BlobLimits(max_blob_bytes=10))
    with pytest.raises(TooLarge):
        store.writer(size=11)
    with pytest.raises(TooLarge):
        store.put([b"12345", b"678901"])
    with pytest.raises(TooLarge):  # a declared size binds the writer too
        store.put([b"12345", b"6"], size=5)
    assert store.put([b"1234567890"]).size == 10
    assert incoming(store) == [] and store.reserved_bytes == 0 and store.used_bytes == 10


def test_quota_declared_up_front_and_as_bytes_arrive(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, BlobLimits(quota_bytes=100))
    held = store.put([b"x" * 60])
    with pytest.raises(StorageFull) as declared:
        store.writer(size=41)
    assert declared.value.code == "quota" and declared.value.http_status == 507
    w = store.writer(size=40)  # room is reserved while it uploads: nobody else gets it
    with pytest.raises(StorageFull):
        store.put([b"y"])
    w.abort()
    with pytest.raises(StorageFull) as streamed:
        store.put([b"z" * 30, b"z" * 30])
    assert streamed.value.code == "quota"
    assert incoming(store) == [] and store.reserved_bytes == 0
    assert [b.cid for b in store.list()] == [held.cid] and store.used_bytes == 60
    # a blob the store holds already costs no room
    assert store.put([b"x" * 60], expect_cid=held.cid, size=60).cid == held.cid


def test_a_disk_that_fills_during_an_upload_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path, BlobLimits(min_free_disk_bytes=MIB))
    probes: list[int] = []

    def free_disk_bytes() -> int:  # plenty at the start, nearly nothing after
        probes.append(1)
        return 1 << 40 if len(probes) == 1 else MIB // 2

    monkeypatch.setattr(store, "free_disk_bytes", free_disk_bytes)
    size = 3 * DISK_PROBE_EVERY

    def chunks() -> Iterator[bytes]:
        for _ in range(size // MIB):
            yield b"\0" * MIB

    with pytest.raises(StorageFull) as full:
        store.put(chunks(), size=size)
    assert full.value.code == "disk_full" and len(probes) == 2  # refused at the first look
    assert incoming(store) == [] and store.list() == []
    assert store.used_bytes == 0 and store.reserved_bytes == 0


def test_a_nearly_full_disk_refuses_before_the_first_byte(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, BlobLimits(min_free_disk_bytes=1 << 62))
    with pytest.raises(StorageFull) as full:
        store.writer(size=1)
    assert full.value.code == "disk_full" and incoming(store) == []


def test_pages_walk_every_blob_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    cids = {store.put([f"blob {i}".encode()]).cid for i in range(40)}
    for limit in (1, 3, 7, 40, 1000):
        seen: list[str] = []
        after = None
        while True:
            page, after = store.page(after, limit)
            assert len(page) <= limit and (after is None or len(page) == limit)
            seen += [b.cid for b in page]
            if after is None:
                break
        assert sorted(seen) == sorted(cids), limit
    assert store.page(None, 1000)[1] is None


def test_a_page_reads_only_the_folders_it_walks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    for i in range(60):
        store.put([f"blob {i}".encode()])
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) > 10
    opened: list[Any] = []
    real = os.scandir

    def scandir(path: Any) -> Any:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    page, after = store.page(None, 1)
    assert len(page) == 1 and after == page[0].cid
    assert len(opened) <= 3  # the store's root, the first folder, at most one to peek into
    opened.clear()
    store.page(after, 1)
    assert len(opened) <= 4  # the root, the cursor's folder, the next one, one to peek into


def test_a_cursor_must_be_a_cid(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput):
        BlobStore(tmp_path).page("../../etc", 10)
