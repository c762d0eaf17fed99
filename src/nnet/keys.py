"""Keys at rest: Ethereum keystore v3 files under `$NNET_HOME/keys/NAME.json`, mode 0600.

A keystore made here opens in geth or MetaMask and the other way round. Files are created with
O_EXCL, so an existing key is never overwritten. eth-keyfile (the Ethereum Foundation's keystore
implementation) does the cryptography; it is imported only when a key is encrypted or decrypted,
because it is slow to import and most commands never need it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnet.crypto import address_of_private_key, checksum_address
from nnet.errors import MalformedInput, NotFound, UsageError, WrongPassword

__all__ = [
    "LIGHT_SCRYPT_N",
    "STANDARD_SCRYPT_N",
    "KeyInfo",
    "KeyStore",
    "decrypt_keystore",
    "encrypt_keystore",
]

STANDARD_SCRYPT_N = 262144  # geth's default: ~1 s and 256 MiB to open
LIGHT_SCRYPT_N = 4096  # geth's --lightkdf: for devnets and tests, not for real money
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)  # whole name


@dataclass(frozen=True)
class KeyInfo:
    """What can be known of a key without its password."""

    name: str
    address: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "path": str(self.path)}


def encrypt_keystore(secret: bytes, password: str, *, light: bool = False) -> dict[str, Any]:
    """Keystore v3 JSON (scrypt) for a 32-byte private key."""
    from eth_keyfile.keyfile import create_keyfile_json

    n = LIGHT_SCRYPT_N if light else STANDARD_SCRYPT_N
    ks: dict[str, Any] = create_keyfile_json(
        secret, password.encode("utf-8"), kdf="scrypt", iterations=n
    )
    return ks


def decrypt_keystore(keystore: dict[str, Any], password: str, *, label: str = "key") -> bytes:
    """The private key inside a keystore v3 JSON; WrongPassword when the MAC does not match."""
    from eth_keyfile.keyfile import decode_keyfile_json

    try:
        secret = decode_keyfile_json(keystore, password.encode("utf-8"))
    except ValueError as e:
        if "MAC mismatch" in str(e):
            raise WrongPassword(
                f"wrong password for {label}",
                hint="check NNET_PASSWORD or --password-file; the key file is unchanged",
            ) from None
        raise MalformedInput(f"{label} is not a valid keystore v3 file: {e}") from None
    except (KeyError, TypeError) as e:
        raise MalformedInput(f"{label} is not a valid keystore v3 file (missing {e})") from None
    stored = keystore.get("address")
    derived = address_of_private_key(bytes(secret))
    if stored and checksum_address(bytes.fromhex(str(stored).removeprefix("0x"))) != derived:
        raise MalformedInput(f"{label}: the address field does not match the key inside")
    return bytes(secret)


def _keystore_address(keystore: dict[str, Any], label: str) -> str:
    stored = keystore.get("address")
    if not isinstance(stored, str) or len(stored.removeprefix("0x")) != 40:
        raise MalformedInput(f"{label} has no address field")
    return checksum_address(bytes.fromhex(stored.removeprefix("0x")))


class KeyStore:
    """The named keys of one NNET_HOME."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "keys"

    def path(self, name: str) -> Path:
        check_name(name)
        return self.dir / f"{name}.json"

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def list(self) -> list[KeyInfo]:
        return [self.info(n) for n in self.names()]

    def read(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            have = ", ".join(self.names()) or "none yet"
            raise NotFound(
                f"no key named {name!r}",
                hint=f"keys here: {have}; create one with `nnet key new {name}`",
            ) from None
        except (OSError, ValueError) as e:
            raise MalformedInput(f"key file {path} is unreadable: {e}") from None
        if not isinstance(data, dict):
            raise MalformedInput(f"key file {path} is not a keystore object")
        return data

    def info(self, name: str) -> KeyInfo:
        return KeyInfo(name, _keystore_address(self.read(name), name), self.path(name))

    def secret(self, name: str, password: str) -> bytes:
        """Decrypt key NAME; WrongPassword (exit 1) if the password does not open it."""
        return decrypt_keystore(self.read(name), password, label=f"key {name!r}")

    def create(self, name: str, password: str, *, light: bool = False) -> KeyInfo:
        """Make a new random key and store it encrypted."""
        path = self.path(name)
        if path.exists():
            raise UsageError(f"a key named {name!r} already exists", hint="choose another name")
        secret = _random_secret()
        return self._write(name, encrypt_keystore(secret, password, light=light))

    def add(self, name: str, keystore: dict[str, Any], password: str) -> KeyInfo:
        """Store a keystore made elsewhere (geth, MetaMask) after checking the password opens it."""
        secret = decrypt_keystore(keystore, password, label="the imported file")
        ks = dict(keystore)
        ks["address"] = address_of_private_key(secret)[2:].lower()
        return self._write(name, ks)

    def _write(self, name: str, keystore: dict[str, Any]) -> KeyInfo:
        path = self.path(name)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(
                f"a key named {name!r} already exists", hint="choose another name"
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(keystore, f)
            f.flush()
            os.fsync(f.fileno())
        return self.info(name)


def check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid key name {name!r}",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def _random_secret() -> bytes:
    from nnet.crypto import SECP256K1_N

    while True:
        secret = os.urandom(32)
        if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            return secret
