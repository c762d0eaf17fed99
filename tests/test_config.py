"""Settings precedence: flag > environment > config.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.config import Config, resolve
from nnet.errors import MalformedInput, NotFound, UsageError


def test_precedence(nnet_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("node") == "http://127.0.0.1:7654"
    Config(nnet_home).set("node", "http://config:1")
    assert resolve("node") == "http://config:1"
    monkeypatch.setenv("NNET_NODE", "http://env:2")
    assert resolve("node") == "http://env:2"
    assert resolve("node", "http://flag:3") == "http://flag:3"


def test_values_are_checked_when_set(nnet_home: Path) -> None:
    with pytest.raises(UsageError):
        Config(nnet_home).set("node", "ftp://x")
    with pytest.raises(UsageError):
        Config(nnet_home).set("fee", "1.5e3")
    with pytest.raises(NotFound, match="colour") as e:
        Config(nnet_home).set("colour", "blue")
    assert "settings: chain, fee, key, node" in e.value.one_line()
    assert not (nnet_home / "config.toml").exists()


def test_broken_config_file_is_reported(nnet_home: Path) -> None:
    nnet_home.mkdir(parents=True)
    (nnet_home / "config.toml").write_text("node = [unclosed")
    with pytest.raises(MalformedInput, match=r"config\.toml"):
        resolve("node")


def test_a_running_local_daemon_is_the_default_node(nnet_home: Path) -> None:
    import json
    import os

    nnet_home.mkdir(parents=True)
    (nnet_home / "daemon.json").write_text(
        json.dumps({"url": "http://127.0.0.1:4242", "pid": os.getpid()})
    )
    assert resolve("node") == "http://127.0.0.1:4242"
    Config(nnet_home).set("node", "http://config:1")
    assert resolve("node") == "http://config:1"  # config.toml still wins


def test_a_stale_daemon_file_is_ignored(nnet_home: Path) -> None:
    import json

    nnet_home.mkdir(parents=True)
    (nnet_home / "daemon.json").write_text(
        json.dumps({"url": "http://127.0.0.1:4242", "pid": 2**22 + 12345})
    )
    assert resolve("node") == "http://127.0.0.1:7654"
