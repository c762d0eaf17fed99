"""`$NNET_HOME/daemon.toml`: the daemon's settings in a file; `nnet daemon` flags override them.

Every key is optional; an unknown key, or a value of the wrong kind, is a usage error naming the
key. docs/operations.md documents each key. Sizes are bytes as an integer, or a string with a
unit: "512MiB", "16 GiB", "2GB" (KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB of 1000).

    listen = "127.0.0.1:7654"
    peers = ["http://10.0.0.2:7654"]
    block_time = 1.0
    max_connections = 1024
    header_timeout = 10.0
    log_level = "info"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from nnet.errors import NnetError, UsageError
from nnet.node.logs import LEVELS
from nnet.node.server import DaemonOptions, parse_listen

__all__ = ["CONFIG_FILE", "KEYS", "build_options", "parse_size", "read_daemon_toml"]

CONFIG_FILE = "daemon.toml"

_SIZE = re.compile(r"([0-9]{1,15})\s*([KMGT]i?B|B)?", re.ASCII)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def parse_size(value: object, name: str) -> int:
    """Bytes from an integer or a string such as "16GiB"."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and (m := _SIZE.fullmatch(value.strip())):
        return int(m.group(1)) * _UNITS[m.group(2) or "B"]
    raise UsageError(f'{name} must be a size in bytes, e.g. 1073741824 or "1GiB" (got {value!r})')


def _seconds(low: float, high: float) -> Callable[[object, str], float]:
    def check(value: object, name: str) -> float:
        if type(value) not in (int, float) or not low <= float(value) <= high:  # type: ignore[arg-type]
            raise UsageError(f"{name} must be a number of seconds from {low} to {high}")
        return float(value)  # type: ignore[arg-type]

    return check


def _count(value: object, name: str) -> int:
    if type(value) is not int or not 1 <= value <= 1_000_000:
        raise UsageError(f"{name} must be an integer from 1 to 1000000")
    return value


def _urls(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise UsageError(f"{name} must be a list of URLs")
    out = []
    for entry in value:
        # NAME=URL names a gossip peer of a network (its name is what fault rules and logs use)
        peer_name, sep, url = (
            entry.partition("=") if "=" in entry.split("://")[0] else ("", "", entry)
        )
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{name}: {entry!r} must be an http:// or https:// URL, or NAME=URL")
        out.append(f"{peer_name}{sep}{url.rstrip('/')}")
    return out


def _node_name(value: object, name: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise UsageError(f"{name} must be 1 to 64 letters, digits, '.', '_' or '-'")
    return value


def _names(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(h, str) and h for h in value):
        raise UsageError(f"{name} must be a list of host names")
    return list(value)


def _level(value: object, name: str) -> str:
    if value not in LEVELS:
        raise UsageError(f"{name} must be one of {', '.join(LEVELS)}")
    return str(value)


def _flag(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise UsageError(f"{name} must be true or false")
    return value


def _path(value: object, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{name} must be a file path")
    return Path(value).expanduser()


def _amount(value: object, name: str) -> int:
    """NNET as a string ("1.5") or an integer number of NNET, in base units."""
    from nnet.encoding import parse_amount

    if type(value) is int and value >= 0:
        value = str(value)
    if not isinstance(value, str):
        raise UsageError(f'{name} must be an amount of NNET, e.g. "1.5"')
    try:
        return parse_amount(value)
    except NnetError as e:
        raise UsageError(f"{name}: {e.one_line()}") from None


def _listen(value: object, name: str) -> tuple[str, int]:
    if not isinstance(value, str):
        raise UsageError(f'{name} must be "HOST:PORT"')
    return parse_listen(value, name)


# key in daemon.toml -> (DaemonOptions field, checker); "listen" sets host and port
KEYS: dict[str, tuple[str, Callable[[object, str], Any]]] = {
    "listen": ("listen", _listen),
    "peers": ("peers", _urls),
    "name": ("name", _node_name),
    "genesis": ("genesis", _path),
    "block_time": ("block_time_s", _seconds(0.01, 3600)),
    "max_connections": ("max_connections", _count),
    "header_timeout": ("header_timeout_s", _seconds(0.1, 3600)),
    "allowed_hosts": ("allowed_hosts", _names),
    "stale_after": ("stale_after_s", _seconds(0, 10**6)),
    "empty_block_interval": ("empty_block_interval_s", _seconds(0, 3600)),
    "max_blob_size": ("max_blob_bytes", parse_size),
    "blob_quota": ("blob_quota_bytes", parse_size),
    "min_free_disk": ("min_free_disk_bytes", parse_size),
    "max_mempool": ("max_mempool", _count),
    "min_permit_balance": ("min_permit_balance", _amount),
    "log_level": ("log_level", _level),
    "log_json": ("log_json", _flag),
}


def read_daemon_toml(home: Path) -> dict[str, Any]:
    """The settings in HOME/daemon.toml as DaemonOptions fields ({} when there is no file)."""
    path = home / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML: {e}") from None
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KEYS:
            raise UsageError(
                f"{path}: unknown key {key!r}",
                hint=f"known keys: {', '.join(KEYS)} (docs/operations.md)",
            )
        field_name, check = KEYS[key]
        out[field_name] = check(value, f"{path.name}: {key}")
    return out


def build_options(home: Path, file_values: dict[str, Any], flags: dict[str, Any]) -> DaemonOptions:
    """DaemonOptions from defaults, then daemon.toml, then the flags given (None: not given)."""
    merged = {**file_values, **{k: v for k, v in flags.items() if v is not None}}
    listen = merged.pop("listen", None)
    if listen is not None:
        merged["host"], merged["port"] = listen
    known = {f.name for f in fields(DaemonOptions)}
    assert set(merged) <= known, set(merged) - known
    return DaemonOptions(home=home, **merged)
