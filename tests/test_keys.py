"""Keystore v3 keys: creation, file mode, no overwrite, wrong passwords, wallet interop."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nnet.errors import NotFound, UsageError, WrongPassword
from nnet.keys import KeyStore, decrypt_keystore, encrypt_keystore

# The Web3 Secret Storage definition's test vectors: what geth and wallets export.
SPEC_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
SPEC_ADDRESS = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b"
SPEC_PBKDF2 = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
SPEC_SCRYPT = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "p": 8,
            "r": 1,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}


@pytest.mark.parametrize("keystore", [SPEC_PBKDF2, SPEC_SCRYPT], ids=["pbkdf2", "scrypt"])
def test_wallet_exported_keystore_decrypts_to_the_spec_key(keystore: dict) -> None:
    assert decrypt_keystore(keystore, "testpassword").hex() == SPEC_KEY


def test_created_key_is_0600_and_never_overwritten(nnet_home: Path) -> None:
    store = KeyStore(nnet_home)
    info = store.create("alice", "pw", light=True)
    mode = stat.S_IMODE(info.path.stat().st_mode)
    assert mode == 0o600
    before = info.path.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        store.create("alice", "pw", light=True)
    assert info.path.read_bytes() == before


def test_wrong_password_leaves_the_file_untouched(nnet_home: Path) -> None:
    store = KeyStore(nnet_home)
    info = store.create("alice", "right", light=True)
    before = info.path.read_bytes()
    with pytest.raises(WrongPassword):
        store.secret("alice", "wrong")
    assert info.path.read_bytes() == before


def test_missing_key_lists_existing_ones(nnet_home: Path) -> None:
    store = KeyStore(nnet_home)
    store.create("alice", "pw", light=True)
    store.create("bob", "pw", light=True)
    with pytest.raises(NotFound, match="carol") as e:
        store.info("carol")
    assert "alice, bob" in e.value.one_line()


def test_our_keystore_is_standard_v3() -> None:
    ks = encrypt_keystore(bytes.fromhex(SPEC_KEY), "pw", light=True)
    assert ks["version"] == 3 and ks["crypto"]["kdf"] == "scrypt"
    assert ks["address"].lower() == SPEC_ADDRESS[2:].lower()
    assert decrypt_keystore(json.loads(json.dumps(ks)), "pw").hex() == SPEC_KEY


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 65])
def test_bad_key_names_are_refused(nnet_home: Path, name: str) -> None:
    with pytest.raises(UsageError):
        KeyStore(nnet_home).path(name)
