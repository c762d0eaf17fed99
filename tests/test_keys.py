"""Keystore v3 keys: creation, file mode, no overwrite, wrong passwords, wallet interop; keys from
BIP-39 mnemonics (the published Hardhat/Foundry vectors) and from raw hex exports."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nnet.crypto import SECP256K1_N, address_of_private_key
from nnet.errors import MalformedInput, NotFound, UsageError, WrongPassword
from nnet.keys import (
    KeyStore,
    decrypt_keystore,
    encrypt_keystore,
    hd_path,
    new_mnemonic,
    normalize_mnemonic,
    secret_from_hex,
    secret_from_mnemonic,
)

# The Web3 Secret Storage definition's test vectors: what geth and wallets export.
SPEC_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
SPEC_ADDRESS = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b"
# Hardhat's and Foundry's default accounts: published, and in every Ethereum tutorial.
HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"
HARDHAT_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",  # m/44'/60'/0'/0/0
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",  # m/44'/60'/0'/0/1
]
HARDHAT_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
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


# ---- mnemonics --------------------------------------------------------------------------------
def _eth_account_address(mnemonic: str, index: int, passphrase: str = "") -> str:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    path = f"m/44'/60'/0'/0/{index}"
    return str(Account.from_mnemonic(mnemonic, passphrase=passphrase, account_path=path).address)


@pytest.mark.parametrize("index", [0, 1])
def test_hardhat_mnemonic_gives_the_published_addresses(index: int) -> None:
    secret = secret_from_mnemonic(HARDHAT_MNEMONIC, index=index)
    assert address_of_private_key(secret) == HARDHAT_ADDRESSES[index]
    assert _eth_account_address(HARDHAT_MNEMONIC, index) == HARDHAT_ADDRESSES[index]
    if index == 0:
        assert "0x" + secret.hex() == HARDHAT_KEY0


def test_metamask_path() -> None:
    assert hd_path(0) == "m/44'/60'/0'/0/0" and hd_path(7) == "m/44'/60'/0'/0/7"
    with pytest.raises(UsageError):
        hd_path(2**31)  # a hardened index is not an account number
    with pytest.raises(UsageError):
        hd_path(-1)


def test_passphrase_is_another_wallet_as_in_eth_account() -> None:
    plain = address_of_private_key(secret_from_mnemonic(HARDHAT_MNEMONIC))
    salted = address_of_private_key(secret_from_mnemonic(HARDHAT_MNEMONIC, passphrase="TREZOR"))
    assert salted != plain
    assert salted == _eth_account_address(HARDHAT_MNEMONIC, 0, "TREZOR")


def test_words_are_taken_as_people_type_them() -> None:
    messy = "  TEST test\ttest test test test\ntest test test test test junk\n"
    assert normalize_mnemonic(messy) == HARDHAT_MNEMONIC
    # BIP-39 words are unique in their first four letters: wallets accept the short form
    short = "aban aban aban aban aban aban aban aban aban aban aban abou"
    assert normalize_mnemonic(short) == " ".join(["abandon"] * 11 + ["about"])


BAD_MNEMONICS = {
    "checksum": "test test test test test test test test test test test test",
    "11 words": "test test test test test test test test test test junk",
    "13 words": HARDHAT_MNEMONIC + " test",
    "unknown word": "test test test test test test test test test test test jxnk",
    "empty": "",
}


@pytest.mark.parametrize("words", BAD_MNEMONICS.values(), ids=BAD_MNEMONICS.keys())
def test_bad_mnemonic_is_refused_without_repeating_it(words: str) -> None:
    with pytest.raises(MalformedInput, match="not a BIP-39 mnemonic") as e:
        secret_from_mnemonic(words)
    assert e.value.exit_code == 2
    text = e.value.one_line()
    assert "test" not in text and "junk" not in text and "jxnk" not in text


@pytest.mark.parametrize("count", [12, 24])
def test_new_mnemonic_is_valid_and_its_key_is_account_0(count: int) -> None:
    phrase, secret = new_mnemonic(count)
    assert len(phrase.split()) == count
    assert normalize_mnemonic(phrase) == phrase
    assert secret == secret_from_mnemonic(phrase, index=0)
    assert new_mnemonic(count)[0] != phrase


def test_new_mnemonic_refuses_a_count_bip39_lacks() -> None:
    with pytest.raises(UsageError, match="12, 15, 18, 21 or 24"):
        new_mnemonic(13)


# ---- raw hex keys -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", [HARDHAT_KEY0, HARDHAT_KEY0[2:], f"  {HARDHAT_KEY0.upper().replace('0X', '0x')}\n"]
)
def test_hex_key_gives_the_address_eth_account_computes(text: str) -> None:
    from eth_account import Account

    secret = secret_from_hex(text)
    assert address_of_private_key(secret) == Account.from_key(HARDHAT_KEY0).address
    assert address_of_private_key(secret) == HARDHAT_ADDRESSES[0]


BAD_HEX = {
    "63 digits": HARDHAT_KEY0[:-1],
    "65 digits": HARDHAT_KEY0 + "0",
    "not hex": HARDHAT_KEY0[:-1] + "g",
    "two keys": HARDHAT_KEY0 + " " + HARDHAT_KEY0,
    "zero": "0x" + "00" * 32,
    "the order": f"{SECP256K1_N:064x}",
    "above the order": f"{SECP256K1_N + 1:064x}",
    "empty": "",
}


@pytest.mark.parametrize("text", BAD_HEX.values(), ids=BAD_HEX.keys())
def test_bad_hex_key_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(MalformedInput) as e:
        secret_from_hex(text, source="stdin")
    assert e.value.exit_code == 2
    assert "stdin" in e.value.message
    assert text.strip().removeprefix("0x")[:16] not in e.value.one_line() or not text.strip()


def test_stored_secret_is_a_keystore_that_opens_to_it(nnet_home: Path) -> None:
    store = KeyStore(nnet_home)
    secret = secret_from_mnemonic(HARDHAT_MNEMONIC, index=1)
    info = store.add_secret("hh1", secret, "pw", light=True)
    assert info.address == HARDHAT_ADDRESSES[1]
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert store.read("hh1")["version"] == 3 and store.secret("hh1", "pw") == secret
    with pytest.raises(UsageError, match="already exists"):
        store.add_secret("hh1", secret, "pw", light=True)
