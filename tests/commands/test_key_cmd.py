"""`nnet key ...` as a user runs it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import RunCli
from tests.test_keys import SPEC_ADDRESS, SPEC_PBKDF2


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
