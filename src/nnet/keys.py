"""Keys at rest: Ethereum keystore v3 files under `$NNET_HOME/keys/NAME.json`, mode 0600, and the
ways a wallet's key gets there.

A keystore made here opens in geth or MetaMask and the other way round. Files are created with
O_EXCL, so an existing key is never overwritten. eth-keyfile (the Ethereum Foundation's keystore
implementation) does the cryptography; it is imported only when a key is encrypted or decrypted,
because it is slow to import and most commands never need it.

A key may also come from a BIP-39 mnemonic, derived along BIP-32/44's `m/44'/60'/0'/0/i` (the path
MetaMask, Ledger Live, Hardhat and Foundry use), or from a raw hex private key (MetaMask's "export
private key"). eth-account does the BIP-39/32 work; this module only checks the words first, so an
error can say what is wrong without repeating the words (eth-account's own errors quote them).
Whatever the source, what is stored is the keystore v3 file of the derived private key.
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
    "MNEMONIC_WORD_COUNTS",
    "STANDARD_SCRYPT_N",
    "KeyInfo",
    "KeyStore",
    "decrypt_keystore",
    "encrypt_keystore",
    "hd_path",
    "new_mnemonic",
    "normalize_mnemonic",
    "secret_from_hex",
    "secret_from_mnemonic",
]

STANDARD_SCRYPT_N = 262144  # geth's default: ~1 s and 256 MiB to open
LIGHT_SCRYPT_N = 4096  # geth's --lightkdf: for devnets and tests, not for real money
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)  # whole name
MNEMONIC_WORD_COUNTS = (12, 15, 18, 21, 24)  # BIP-39: 128 to 256 bits of entropy
_COUNTS_TEXT = "12, 15, 18, 21 or 24"
_HARDENED = 2**31  # BIP-32: indices at and above this are hardened, not a plain account index
_HEX_RE = re.compile(r"[0-9a-fA-F]*", re.ASCII)  # whole text


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
                hint="check the password (NNET_PASSWORD, or the file); the key file is unchanged",
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
        return self.add_secret(name, _random_secret(), password, light=light)

    def add_secret(
        self, name: str, secret: bytes, password: str, *, light: bool = False
    ) -> KeyInfo:
        """Store a private key (from a mnemonic or a raw hex export) encrypted with `password`."""
        if self.path(name).exists():
            raise UsageError(f"a key named {name!r} already exists", hint="choose another name")
        return self._write(name, encrypt_keystore(_checked_secret(secret), password, light=light))

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


def _checked_secret(secret: bytes) -> bytes:
    from nnet.crypto import SECP256K1_N

    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
        raise MalformedInput("not a secp256k1 private key (32 bytes, between 1 and the order - 1)")
    return secret


# ---- raw hex private keys (MetaMask's "export private key") ----------------------------------
def secret_from_hex(text: str, *, source: str = "the input") -> bytes:
    """The 32-byte private key written as 64 hex digits, with or without 0x, whitespace around it
    ignored. MalformedInput (exit 2) for anything else; the message never repeats the text."""
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not _HEX_RE.fullmatch(digits):
        raise MalformedInput(
            f"{source} is neither a keystore v3 JSON nor a hex private key (it has non-hex"
            " characters)",
            hint="a raw key is 64 hex digits, with or without 0x",
        )
    if len(digits) != 64:
        raise MalformedInput(
            f"{source} is not a private key: {len(digits)} hex digits, a key has 64",
            hint="copy the whole key from the wallet's export",
        )
    from nnet.crypto import SECP256K1_N

    value = int(digits, 16)
    if value == 0:
        raise MalformedInput(f"{source} is not a private key: it is zero")
    if value >= SECP256K1_N:
        raise MalformedInput(f"{source} is not a private key: it is not below the secp256k1 order")
    return bytes.fromhex(digits)


# ---- BIP-39 mnemonics, BIP-32/44 derivation ---------------------------------------------------
def hd_path(index: int) -> str:
    """The derivation path of account `index`: MetaMask's `m/44'/60'/0'/0/i`."""
    if not 0 <= index < _HARDENED:
        raise UsageError(f"account index {index} is out of range", hint=f"use 0 to {_HARDENED - 1}")
    return f"m/44'/60'/0'/0/{index}"


def _hd_account() -> Any:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account


def new_mnemonic(words: int = 12) -> tuple[str, bytes]:
    """A fresh English BIP-39 mnemonic of `words` words, and the private key of account 0."""
    if words not in MNEMONIC_WORD_COUNTS:
        raise UsageError(f"a mnemonic has {_COUNTS_TEXT} words, not {words}")
    account, phrase = _hd_account().create_with_mnemonic(num_words=words, account_path=hd_path(0))
    return str(phrase), bytes(account.key)


def normalize_mnemonic(text: str) -> str:
    """The words as BIP-39 expects them: lower case, single spaces. MalformedInput (exit 2), with
    no word repeated back, when the count, a word or the checksum is wrong. English only, as in
    MetaMask; a word may be abbreviated to its first four letters, which BIP-39 makes unique."""
    from eth_account.hdaccount.mnemonic import Mnemonic

    words = text.lower().split()
    if len(words) not in MNEMONIC_WORD_COUNTS:
        raise MalformedInput(
            f"not a BIP-39 mnemonic: {len(words)} words, a mnemonic has {_COUNTS_TEXT}",
            hint="give all the words on one line, separated by spaces",
        )
    english = Mnemonic()
    words = [english.expand_word(w) for w in words]
    unknown = [str(i) for i, w in enumerate(words, 1) if w not in english.wordlist]
    if unknown:
        raise MalformedInput(
            f"not a BIP-39 mnemonic: {'words' if len(unknown) > 1 else 'word'}"
            f" {', '.join(unknown)} not in the English word list",
            hint="check the spelling against the written copy (English words only)",
        )
    phrase = " ".join(words)
    if not english.is_mnemonic_valid(phrase):
        raise MalformedInput(
            "not a BIP-39 mnemonic: the checksum does not match (a word is wrong or out of order)",
            hint="check each word and their order against the written copy",
        )
    return phrase


def secret_from_mnemonic(text: str, *, index: int = 0, passphrase: str = "") -> bytes:
    """The private key of account `index` (path `m/44'/60'/0'/0/index`) of a BIP-39 mnemonic, with
    an optional BIP-39 passphrase (the "25th word": another passphrase is another wallet)."""
    phrase = normalize_mnemonic(text)
    account = _hd_account().from_mnemonic(
        phrase, passphrase=passphrase, account_path=hd_path(index)
    )
    return bytes(account.key)
