"""`nnet key ...` as a user runs it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.test_keys import (
    BAD_MNEMONICS,
    HARDHAT_ADDRESSES,
    HARDHAT_KEY0,
    HARDHAT_MNEMONIC,
    SPEC_ADDRESS,
    SPEC_PBKDF2,
)


def test_new_list_show(run_cli: RunCli, password: str, nnet_home: Path) -> None:
    r = run_cli("key", "new", "alice", "--light-kdf", "--json")
    assert r.exit_code == 0, r.stderr
    alice = json.loads(r.stdout)
    assert stat.S_IMODE(Path(alice["path"]).stat().st_mode) == 0o600
    listed = [json.loads(line) for line in run_cli("key", "list", "--json").lines()]
    assert [k["address"] for k in listed] == [alice["address"]]
    assert (
        json.loads(run_cli("key", "show", "alice", "--json").stdout)["address"] == alice["address"]
    )


def test_new_refuses_to_overwrite(run_cli: RunCli, password: str) -> None:
    assert run_cli("key", "new", "alice", "--light-kdf").exit_code == 0
    r = run_cli("key", "new", "alice", "--light-kdf")
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_password_file_is_used_without_prompt(run_cli: RunCli, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    assert run_cli("key", "new", "bob", "--light-kdf", "--password-file", str(pw)).exit_code == 0
    r = run_cli("key", "export", "bob", "--private-key", "--password-file", str(pw))
    assert r.exit_code == 0 and r.stdout.startswith("0x")


def test_no_password_and_no_terminal_is_a_usage_error(run_cli: RunCli, monkeypatch) -> None:
    import builtins

    real_open = builtins.open

    def no_tty(path, *a, **k):  # type: ignore[no-untyped-def]
        if path == "/dev/tty":
            raise OSError("no tty")
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", no_tty)
    r = run_cli("key", "new", "carol", "--light-kdf")
    assert r.exit_code == 2 and "NNET_PASSWORD" in r.stderr


def test_import_wallet_keystore_gives_the_same_address(run_cli: RunCli, tmp_path: Path) -> None:
    f = tmp_path / "UTC--wallet.json"
    f.write_text(json.dumps(SPEC_PBKDF2))
    r = run_cli(
        "key", "import", str(f), "--name", "cold", "--json", env={"NNET_PASSWORD": "testpassword"}
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["address"] == SPEC_ADDRESS
    # and it exports in a form that imports again to the same address
    exported = run_cli("key", "export", "cold").stdout
    g = tmp_path / "again.json"
    g.write_text(exported)
    r2 = run_cli("key", "import", str(g), "--name", "again", "--json")
    assert json.loads(r2.stdout)["address"] == SPEC_ADDRESS


def test_import_with_wrong_password_exits_1_and_stores_nothing(
    run_cli: RunCli, tmp_path: Path, nnet_home: Path
) -> None:
    f = tmp_path / "w.json"
    f.write_text(json.dumps(SPEC_PBKDF2))
    r = run_cli("key", "import", str(f), env={"NNET_PASSWORD": "nope"})
    assert r.exit_code == 1 and "wrong password" in r.stderr
    assert not (nnet_home / "keys" / "w.json").exists()


def test_export_with_wrong_password_exits_1(run_cli: RunCli, nnet_home: Path) -> None:
    run_cli("key", "new", "alice", "--light-kdf", env={"NNET_PASSWORD": "right"})
    path = nnet_home / "keys" / "alice.json"
    before = path.read_bytes()
    r = run_cli("key", "export", "alice", "--private-key", env={"NNET_PASSWORD": "wrong"})
    assert r.exit_code == 1
    assert r.stderr.startswith("error: wrong password") and "Traceback" not in r.stderr
    assert path.read_bytes() == before


def test_missing_key_exits_2_listing_keys(run_cli: RunCli, password: str) -> None:
    run_cli("key", "new", "alice", "--light-kdf")
    r = run_cli("key", "show", "zed")
    assert r.exit_code == 2
    assert "no key named 'zed'" in r.stderr and "alice" in r.stderr


# ---- mnemonics --------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [0, 1])
def test_recover_hardhat_mnemonic_from_stdin(
    run_cli: RunCli, password: str, nnet_home: Path, index: int
) -> None:
    r = run_cli(
        "key", "recover", "hh", "--index", str(index), "--light-kdf", "--json",
        input=HARDHAT_MNEMONIC + "\n",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["address"] == HARDHAT_ADDRESSES[index]
    assert out["hd_path"] == f"m/44'/60'/0'/0/{index}"
    assert HARDHAT_MNEMONIC not in r.stdout + r.stderr
    stored = (nnet_home / "keys" / "hh.json").read_text()
    assert json.loads(stored)["version"] == 3 and "test" not in stored
    assert json.loads(run_cli("key", "show", "hh", "--json").stdout)["address"] == out["address"]


def test_recover_with_a_passphrase_file_is_another_wallet(
    run_cli: RunCli, password: str, tmp_path: Path
) -> None:
    from tests.test_keys import _eth_account_address

    f = tmp_path / "passphrase"
    f.write_text("TREZOR\n")
    r = run_cli(
        "key", "recover", "salted", "--passphrase-file", str(f), "--light-kdf", "--json",
        input=HARDHAT_MNEMONIC,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    address = json.loads(r.stdout)["address"]
    assert address != HARDHAT_ADDRESSES[0]
    assert address == _eth_account_address(HARDHAT_MNEMONIC, 0, "TREZOR")


@pytest.mark.parametrize("words", BAD_MNEMONICS.values(), ids=BAD_MNEMONICS.keys())
def test_bad_mnemonic_exits_2_stores_nothing_and_says_no_word(
    run_cli: RunCli, password: str, nnet_home: Path, words: str
) -> None:
    r = run_cli("key", "recover", "bad", "--light-kdf", input=words)
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert "test" not in r.stderr and "jxnk" not in r.stderr
    assert not (nnet_home / "keys" / "bad.json").exists()


def test_the_mnemonic_is_never_taken_from_argv(run_cli: RunCli, password: str) -> None:
    import typer

    from nnet.cli import build_app

    r = run_cli("key", "recover", "hh", *HARDHAT_MNEMONIC.split(), input="")
    assert r.exit_code == 2 and "unexpected extra argument" in r.stderr
    # no argument or option of `key new` / `key recover` can carry words: NAME, flags, numbers and
    # file paths only
    group = typer.main.get_command(build_app()).commands["key"]  # type: ignore[attr-defined]
    for verb in ("new", "recover", "import"):
        for p in group.commands[verb].params:
            if p.name in ("name", "file"):
                continue
            assert p.type_descriptor.annotation in (bool, int, Path), (verb, p.name)


def _new_with_mnemonic(run_cli: RunCli, name: str, *extra: str) -> tuple[dict, str]:
    r = run_cli("key", "new", name, "--mnemonic", "--light-kdf", *extra)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def test_new_mnemonic_prints_the_words_once_on_stderr_and_recovers(
    run_cli: RunCli, password: str
) -> None:
    record, stderr = _new_with_mnemonic(run_cli, "fresh")
    assert "mnemonic" not in record and record["hd_path"] == "m/44'/60'/0'/0/0"
    assert "WARNING" in stderr
    lines = [ln for ln in stderr.splitlines() if len(ln.split()) == 12]
    assert len(lines) == 1, stderr
    again = run_cli("key", "recover", "again", "--light-kdf", "--json", input=lines[0])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["address"] == record["address"]


def test_new_mnemonic_json_puts_24_words_on_stdout_only(run_cli: RunCli, password: str) -> None:
    record, stderr = _new_with_mnemonic(run_cli, "big", "--words", "24", "--json")
    words = record["mnemonic"]
    assert len(words.split()) == 24 and words not in stderr and "WARNING" in stderr
    again = run_cli("key", "recover", "big2", "--light-kdf", "--json", input=words)
    assert json.loads(again.stdout)["address"] == record["address"]


@pytest.mark.parametrize("args", [["--words", "13", "--mnemonic"], ["--words", "24"]])
def test_bad_word_counts_exit_2(
    run_cli: RunCli, password: str, nnet_home: Path, args: list[str]
) -> None:
    r = run_cli("key", "new", "w", "--light-kdf", *args)
    assert r.exit_code == 2 and not (nnet_home / "keys" / "w.json").exists()


# ---- raw hex keys -----------------------------------------------------------------------------
@pytest.mark.parametrize("text", [HARDHAT_KEY0, HARDHAT_KEY0[2:] + "\n", f"  {HARDHAT_KEY0}  \n"])
def test_import_raw_hex_from_stdin(run_cli: RunCli, password: str, text: str) -> None:
    from eth_account import Account

    r = run_cli("key", "import", "-", "--name", "mm", "--light-kdf", "--json", input=text)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["address"] == Account.from_key(HARDHAT_KEY0).address
    assert HARDHAT_KEY0[2:] not in r.stdout + r.stderr
    exported = run_cli("key", "export", "mm", "--private-key").stdout.strip()
    assert exported == HARDHAT_KEY0


def test_import_raw_hex_file_takes_its_stem(run_cli: RunCli, password: str, tmp_path: Path) -> None:
    f = tmp_path / "metamask.txt"
    f.write_text(HARDHAT_KEY0 + "\n")
    r = run_cli("key", "import", str(f), "--light-kdf", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {
        "name": "metamask",
        "address": HARDHAT_ADDRESSES[0],
        "path": json.loads(r.stdout)["path"],
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (HARDHAT_KEY0[:-2], "62 hex digits"),
        (HARDHAT_KEY0[:-1] + "z", "non-hex"),
        ("0x" + "00" * 32, "zero"),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "order"),
    ],
    ids=["short", "not hex", "zero", "the order"],
)
def test_import_bad_hex_exits_2_without_echoing_it(
    run_cli: RunCli, password: str, nnet_home: Path, text: str, says: str
) -> None:
    r = run_cli("key", "import", "-", "--name", "bad", "--light-kdf", input=text)
    assert r.exit_code == 2 and says in r.stderr
    assert text[2:20] not in r.stderr and "Traceback" not in r.stderr
    assert not (nnet_home / "keys" / "bad.json").exists()


# ---- the OS keyring ---------------------------------------------------------------------------
def _no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: object) -> str:
        raise AssertionError("prompted for a password")

    monkeypatch.setattr("nnet.commands._common._prompt_password", refuse)


def test_keyring_password_signs_without_nnet_password(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, nnet_home: Path
) -> None:
    from tests.test_os_keyring import install_fake_keyring

    vault = install_fake_keyring(monkeypatch)
    r = run_cli(
        "key", "recover", "hh", "--keyring", "--light-kdf", "--json",
        input=HARDHAT_MNEMONIC, env={"NNET_PASSWORD": "kept"},
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert list(vault.values()) == ["kept"]
    monkeypatch.delenv("NNET_PASSWORD")
    _no_prompt(monkeypatch)
    r = run_cli("key", "export", "hh", "--private-key")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == HARDHAT_KEY0
    # any signing command: a transfer, signed offline with an explicit nonce
    tx = run_cli("transfer", HARDHAT_ADDRESSES[1], "1", "--nonce", "0", "--chain", "devnet")
    assert tx.exit_code == 0, tx.stderr
    assert json.loads(tx.stdout)["from"].lower() == HARDHAT_ADDRESSES[0].lower()


def test_key_keyring_checks_the_password_then_forgets(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, nnet_home: Path
) -> None:
    from tests.test_os_keyring import install_fake_keyring

    vault = install_fake_keyring(monkeypatch)
    run_cli("key", "new", "alice", "--light-kdf", env={"NNET_PASSWORD": "right"})
    r = run_cli("key", "keyring", "alice", env={"NNET_PASSWORD": "wrong"})
    assert r.exit_code == 1 and "wrong password" in r.stderr and vault == {}
    assert run_cli("key", "keyring", "alice", env={"NNET_PASSWORD": "right"}).exit_code == 0
    assert list(vault.values()) == ["right"]
    assert run_cli("key", "keyring", "alice", "--forget").exit_code == 0
    assert vault == {} and not (nnet_home / "keys" / "alice.keyring").exists()


def test_keyring_flag_without_the_package_exits_2_and_makes_no_key(
    run_cli: RunCli, password: str, monkeypatch: pytest.MonkeyPatch, nnet_home: Path
) -> None:
    from tests.test_os_keyring import no_keyring_package

    no_keyring_package(monkeypatch)
    r = run_cli("key", "new", "alice", "--light-kdf", "--keyring")
    assert r.exit_code == 2 and "pip install keyring" in r.stderr
    assert not (nnet_home / "keys" / "alice.json").exists()
    # keys that do not use the keyring work as before
    assert run_cli("key", "new", "bob", "--light-kdf").exit_code == 0
    assert run_cli("key", "export", "bob", "--private-key").exit_code == 0
