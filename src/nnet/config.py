"""Settings: `$NNET_HOME/config.toml` (tomllib to read, tomli-w to write), environment, flags.

Precedence: a flag beats the environment, which beats config.toml, which beats the default.
One derived default: with no node URL set anywhere, a daemon running from this NNET_HOME (its
`daemon.json`, written once it listens) is the node, so a devnet on port 0 needs no setup.
Every setting is declared once in SETTINGS with its environment variable, default and a check;
`nnet config get/set` and every command read them through `resolve`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from nnet.errors import MalformedInput, NotFound, UsageError

__all__ = [
    "SETTINGS",
    "Config",
    "Setting",
    "home_dir",
    "node_keys_home",
    "resolve",
    "running_daemon",
]


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise UsageError(f"node URL {value!r} must start with http:// or https://")
    return value.rstrip("/")


def _amount(value: str) -> str:
    from nnet.encoding import parse_amount

    parse_amount(value)
    return value


def _any(value: str) -> str:
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    env: str | None
    default: str | None
    help: str
    check: Callable[[str], str] = _any


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("node", "NNET_NODE", "http://127.0.0.1:7654", "URL of the daemon to talk to", _url),
        Setting("key", "NNET_KEY", None, "name of the key that signs transactions"),
        Setting("chain", "NNET_CHAIN", "nnet-devnet", "chain id written into transactions"),
        Setting(
            "fee", "NNET_FEE", None, "transaction fee in NNET (unset: the chain's minimum)", _amount
        ),
    )
}


def home_dir(flag: str | Path | None = None) -> Path:
    """NNET_HOME: flag, then environment, then ~/.nnet."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("NNET_HOME")
    return Path(env).expanduser() if env else Path.home() / ".nnet"


def node_keys_home(home: Path) -> Path:
    """Where a node keeps its own (validator) keys, HOME/node/keys: apart from the user's keys,
    so `nnet key list` and the default signing key are never a devnet's sequencer."""
    return home / "node"


class Config:
    """config.toml of one NNET_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "config.toml"

    def load(self) -> dict[str, Any]:
        try:
            with self.path.open("rb") as f:
                return tomllib.load(f)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as e:
            raise MalformedInput(f"{self.path}: {e}", hint="fix or delete the file") from None

    def get(self, name: str) -> str | None:
        setting = _setting(name)
        value = self.load().get(setting.name)
        return None if value is None else str(value)

    def set(self, name: str, value: str) -> None:
        setting = _setting(name)
        data = self.load()
        data[setting.name] = setting.check(value)
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".toml.tmp")
        with tmp.open("wb") as f:
            tomli_w.dump(data, f)
        tmp.replace(self.path)

    def unset(self, name: str) -> None:
        data = self.load()
        data.pop(_setting(name).name, None)
        self.home.mkdir(parents=True, exist_ok=True)
        with self.path.open("wb") as f:
            tomli_w.dump(data, f)


def resolve(name: str, flag: str | None = None, home: Path | None = None) -> str | None:
    """A setting's value: flag > environment > config.toml > default."""
    setting = _setting(name)
    if flag is not None:
        return setting.check(flag)
    if setting.env and os.environ.get(setting.env):
        return setting.check(os.environ[setting.env])
    home = home or home_dir()
    stored = Config(home).get(name)
    if stored is not None:
        return stored
    if name == "node":
        local = _local_daemon_url(home)
        if local:
            return local
    return setting.default


def _local_daemon_url(home: Path) -> str | None:
    """The URL in $NNET_HOME/daemon.json, if a daemon of this home is running."""
    info = running_daemon(home)
    url = info["url"] if info else None
    return url if isinstance(url, str) and url.startswith("http") else None


def running_daemon(home: Path) -> dict[str, Any] | None:
    """{"url", "pid"} of the daemon serving this home, if its daemon.json names a live process."""
    import json

    try:
        info = json.loads((home / "daemon.json").read_text())
        os.kill(int(info["pid"]), 0)  # raises if no such process
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def _setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise NotFound(
            f"unknown setting {name!r}", hint=f"settings: {', '.join(sorted(SETTINGS))}"
        ) from None
