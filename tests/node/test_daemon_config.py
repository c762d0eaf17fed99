"""$NNET_HOME/daemon.toml: keys become DaemonOptions, flags override them, unknown keys are named;
and a real daemon process forgets NNET_PASSWORD once it has unlocked its key."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from nnet.errors import UsageError
from nnet.node.daemon_config import KEYS, build_options, parse_size, read_daemon_toml
from tests.chain.helpers import account
from tests.conftest import RunCli
from tests.node.conftest import devnet_init
from tests.node.test_daemon_process import start


def test_every_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "daemon.toml").write_text(
        """
listen = "0.0.0.0:7700"
peers = ["http://10.0.0.2:7654/"]
genesis = "/srv/nnet/genesis.json"
block_time = 2
max_connections = 300
header_timeout = 5.5
allowed_hosts = ["node.example"]
stale_after = 120
max_blob_size = "512MiB"
blob_quota = "2 TB"
min_free_disk = 1073741824
max_mempool = 5000
min_permit_balance = "2.5"
log_level = "warning"
log_json = true
name = "node-7"
empty_block_interval = 0
"""
    )
    opts = build_options(tmp_path, read_daemon_toml(tmp_path), {})
    assert (opts.host, opts.port, opts.peers) == ("0.0.0.0", 7700, ["http://10.0.0.2:7654"])
    assert opts.genesis == Path("/srv/nnet/genesis.json") and opts.block_time_s == 2.0
    assert (opts.max_connections, opts.header_timeout_s) == (300, 5.5)
    assert opts.allowed_hosts == ["node.example"] and opts.stale_after_s == 120
    assert opts.max_blob_bytes == 512 << 20 and opts.blob_quota_bytes == 2 * 10**12
    assert opts.min_free_disk_bytes == 1 << 30
    assert (opts.max_mempool, opts.min_permit_balance) == (5000, 25 * 10**17)
    assert (opts.log_level, opts.log_json) == ("warning", True)
    assert opts.name == "node-7" and opts.empty_block_interval_s == 0
    assert len(KEYS) == 17  # a new key gets a line above and a row in docs/operations.md


def test_flags_override_the_file_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    (tmp_path / "daemon.toml").write_text('listen = "127.0.0.1:7700"\nmax_connections = 50\n')
    opts = build_options(
        tmp_path, read_daemon_toml(tmp_path), {"max_connections": 70, "log_level": None}
    )
    assert (opts.port, opts.max_connections, opts.log_level) == (7700, 70, "info")
    assert build_options(tmp_path, {}, {}).port == 7654  # no file: the defaults


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("max_conections = 5", "max_conections"),
        ("[limits]\nmax_connections = 5", "limits"),
        ("max_connections = 0", "max_connections"),
        ('max_connections = "5"', "max_connections"),
        ("block_time = 0", "block_time"),
        ('max_blob_size = "1.5GiB"', "max_blob_size"),
        ('log_level = "loud"', "log_level"),
        ('peers = ["ftp://x"]', "peers"),
        ('listen = "nowhere"', "nowhere"),
        ("log_json = 1", "log_json"),
        ("not toml at all", "not valid TOML"),
    ],
)
def test_bad_files_are_usage_errors_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "daemon.toml").write_text(text)
    with pytest.raises(UsageError) as e:
        read_daemon_toml(tmp_path)
    assert named in e.value.one_line()


def test_sizes() -> None:
    assert parse_size("16GiB", "x") == 16 << 30 and parse_size("2 KB", "x") == 2000
    assert parse_size(5, "x") == 5 and parse_size("5", "x") == 5
    for bad in (-1, "1e9", "٥GiB", "5 gib", 1.5, True):
        with pytest.raises(UsageError):
            parse_size(bad, "x")


def test_the_daemon_command_refuses_an_unknown_key(run_cli: RunCli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "daemon.toml").write_text("listen_on = '127.0.0.1:0'\n")
    r = run_cli("daemon", env={"NNET_HOME": str(home)})
    assert r.exit_code == 2 and "unknown key 'listen_on'" in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/environ")
def test_the_daemon_forgets_nnet_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    devnet_init(home, [account("env-user")])
    secret = "pw-" + os.urandom(8).hex()
    monkeypatch.setenv("NNET_PASSWORD", secret)
    proc, _ = start(home, "--block-time", "0.1")
    try:
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert secret.encode() not in environ
        assert str(home).encode() in environ  # the rest of the environment is intact
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
