"""Key passwords in the OS keyring (macOS Keychain, Windows Credential Locker, the freedesktop
Secret Service) through the `keyring` package, instead of NNET_PASSWORD in an environment that
`ps e`, /proc and crash reports can show.

Optional: `keyring` is not a dependency of nnet (`pip install keyring`), and it is imported only
here, only when a key uses it. A key whose password is in the keyring has a marker file
`$NNET_HOME/keys/NAME.keyring` beside its keystore, holding the keyring's user name for it (the
keystore's absolute path, so two homes never share an entry); without the marker the keyring is
never asked, so commands do not touch D-Bus or prompt an unlock dialog for nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnet.errors import NotFound, UsageError
from nnet.keys import KeyInfo

__all__ = [
    "SERVICE",
    "check_available",
    "forget_password",
    "save_password",
    "saved_password",
    "uses_keyring",
]

SERVICE = "nnet"  # the keyring's service name for every nnet key password


def _marker(info: KeyInfo) -> Path:
    return info.path.with_suffix(".keyring")


def _keyring() -> Any:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise UsageError(
            "the OS keyring needs the optional `keyring` package, which is not installed",
            hint="pip install keyring, or set NNET_PASSWORD, or give the password in a file",
        ) from None
    return keyring


def check_available() -> None:
    """UsageError (exit 2) now, before any work, if the `keyring` package is missing."""
    _keyring()


def _refused(e: Exception) -> UsageError:
    return UsageError(
        f"the OS keyring refused: {e}",
        hint="set NNET_PASSWORD, or give the password in a file, instead",
    )


def uses_keyring(info: KeyInfo) -> bool:
    """Whether this key's password was put in the OS keyring."""
    return _marker(info).is_file()


def save_password(info: KeyInfo, password: str) -> None:
    """Put the password of key `info` in the OS keyring and mark the key as using it."""
    keyring = _keyring()
    user = str(info.path.resolve())
    try:
        keyring.set_password(SERVICE, user, password)
    except keyring.errors.KeyringError as e:
        raise _refused(e) from None
    _marker(info).write_text(user + "\n")


def saved_password(info: KeyInfo) -> str | None:
    """The password of key `info` from the OS keyring; None if the key does not use the keyring."""
    if not uses_keyring(info):
        return None
    keyring = _keyring()
    user = _marker(info).read_text().strip()
    try:
        password = keyring.get_password(SERVICE, user)
    except keyring.errors.KeyringError as e:
        raise _refused(e) from None
    if password is None:
        raise NotFound(
            f"the OS keyring has no password for key {info.name!r}",
            hint=f"store it again with `nnet key keyring {info.name}`, or use NNET_PASSWORD",
        )
    return str(password)


def forget_password(info: KeyInfo) -> bool:
    """Take the key's password out of the OS keyring; False if it was not there."""
    if not uses_keyring(info):
        return False
    keyring = _keyring()
    user = _marker(info).read_text().strip()
    try:
        keyring.delete_password(SERVICE, user)
    except keyring.errors.PasswordDeleteError:
        pass  # already gone from the keyring: forgetting the marker is all that is left
    except keyring.errors.KeyringError as e:
        raise _refused(e) from None
    _marker(info).unlink()
    return True
