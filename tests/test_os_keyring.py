"""Key passwords in the OS keyring: kept and found by key, never asked for a key that does not use
it, a clear error when the optional `keyring` package is missing. The keyring here is an in-memory
stand-in with keyring's API (set/get/delete_password, keyring.errors)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from nnet.errors import NotFound, UsageError
from nnet.keys import KeyStore
from nnet.os_keyring import SERVICE, forget_password, save_password, saved_password, uses_keyring

Vault = dict[tuple[str, str], str]


def install_fake_keyring(monkeypatch: pytest.MonkeyPatch, *, broken: bool = False) -> Vault:
    """An in-memory `keyring` module; `broken` makes every call raise KeyringError, as a locked
    or absent Secret Service does."""
    vault: Vault = {}
    errors = types.ModuleType("keyring.errors")

    class KeyringError(Exception):
        pass

    class PasswordDeleteError(KeyringError):
        pass

    errors.KeyringError = KeyringError  # type: ignore[attr-defined]
    errors.PasswordDeleteError = PasswordDeleteError  # type: ignore[attr-defined]

    def check() -> None:
        if broken:
            raise KeyringError("no backend available")

    def set_password(service: str, user: str, password: str) -> None:
        check()
        vault[(service, user)] = password

    def get_password(service: str, user: str) -> str | None:
        check()
        return vault.get((service, user))

    def delete_password(service: str, user: str) -> None:
        check()
        if vault.pop((service, user), None) is None:
            raise PasswordDeleteError("not found")

    module = types.ModuleType("keyring")
    module.errors = errors  # type: ignore[attr-defined]
    module.set_password = set_password  # type: ignore[attr-defined]
    module.get_password = get_password  # type: ignore[attr-defined]
    module.delete_password = delete_password  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)
    monkeypatch.setitem(sys.modules, "keyring.errors", errors)
    return vault


def no_keyring_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` raises ImportError


def test_saved_password_comes_back_and_forgetting_removes_it(
    nnet_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = install_fake_keyring(monkeypatch)
    info = KeyStore(nnet_home).create("alice", "s3cret", light=True)
    assert not uses_keyring(info) and saved_password(info) is None
    save_password(info, "s3cret")
    assert uses_keyring(info)
    assert vault == {(SERVICE, str(info.path.resolve())): "s3cret"}
    assert saved_password(info) == "s3cret"
    assert KeyStore(nnet_home).names() == ["alice"]  # the marker is not a key
    assert forget_password(info) and vault == {} and saved_password(info) is None
    assert not forget_password(info)


def test_a_key_without_the_marker_never_imports_keyring(
    nnet_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_keyring_package(monkeypatch)
    info = KeyStore(nnet_home).create("alice", "pw", light=True)
    assert saved_password(info) is None


def test_missing_package_is_a_clear_usage_error(
    nnet_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_keyring_package(monkeypatch)
    info = KeyStore(nnet_home).create("alice", "pw", light=True)
    with pytest.raises(UsageError, match="keyring") as e:
        save_password(info, "pw")
    assert e.value.exit_code == 2 and "pip install keyring" in e.value.one_line()
    assert not uses_keyring(info)


def test_lost_entry_and_refusing_keyring_are_errors_not_prompts(
    nnet_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = install_fake_keyring(monkeypatch)
    info = KeyStore(nnet_home).create("alice", "pw", light=True)
    save_password(info, "pw")
    vault.clear()  # someone emptied the keychain
    with pytest.raises(NotFound, match="no password for key 'alice'"):
        saved_password(info)
    install_fake_keyring(monkeypatch, broken=True)
    with pytest.raises(UsageError, match="refused"):
        saved_password(info)
