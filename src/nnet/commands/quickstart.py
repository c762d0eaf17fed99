"""`nnet quickstart`: a narrated tour on a throwaway NNET_HOME, nothing left behind.

Each step prints the command a user would type (stderr) and runs the same core code that command
runs; the summary is one JSON object on stdout. It grows with the product: keys and signed
transactions now, the local chain and the training marketplace as they land.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from nnet.commands._common import note
from nnet.errors import NnetError, VerificationFailed


def register(parent: typer.Typer) -> None:
    parent.command("quickstart")(quickstart)


def quickstart(
    keep: bool = typer.Option(False, "--keep", help="Keep the throwaway home and print its path."),
) -> None:
    """Run the whole tour on a throwaway home: keys, a signed transfer, inspection, verification.

    Example: nnet quickstart | jq .
    """
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="nnet-quickstart-"))
    try:
        summary = _tour(home)
    finally:
        if not keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    summary["seconds"] = round(time.monotonic() - started, 2)
    if keep:
        summary["home"] = str(home)
    print(json.dumps(summary, indent=2))


def _step(text: str) -> None:
    note(f"\n$ {text}")


def _tour(home: Path) -> dict[str, Any]:
    from nnet.commands.tx_cmd import describe
    from nnet.encoding import parse_amount
    from nnet.keys import KeyStore
    from nnet.tx import build_tx, parse_tx

    note(f"nnet quickstart: a throwaway home at {home} (NNET_HOME)")
    os.environ["NNET_HOME"] = str(home)
    store = KeyStore(home)
    password = "quickstart"  # throwaway keys on a throwaway home

    _step("nnet key new alice --light-kdf       # keystore v3, mode 0600")
    alice = store.create("alice", password, light=True)
    note(f"  alice is {alice.address}")
    _step("nnet key new bob --light-kdf")
    bob = store.create("bob", password, light=True)
    note(f"  bob is {bob.address}")

    _step(f"nnet transfer {bob.address} 12.5 --key alice --nonce 0 > transfer.json")
    secret = store.secret("alice", password)
    body = {"to": bob.address, "amount": str(parse_amount("12.5"))}
    tx = build_tx("nnet-devnet", "transfer", alice.address, 0, 0, body).signed(secret)
    line = json.dumps(tx.to_dict(), separators=(",", ":"))
    (home / "transfer.json").write_text(line + "\n")
    note(f"  {line[:96]}…")

    _step("nnet tx inspect transfer.json")
    for k, v in describe(parse_tx(tx.to_dict())).items():
        note(f"  {k}: {v}")

    _step("nnet tx verify transfer.json          # exit 0: signature recovers to alice")
    parse_tx(json.loads(line)).verify_signature()
    note("  ok")

    _step("sed 's/12500000000000000000/99000000000000000000/' transfer.json | nnet tx verify -")
    tampered = json.loads(line.replace(body["amount"], "99000000000000000000"))
    try:
        parse_tx(tampered).verify_signature()
        raise NnetError("a tampered transaction verified: this is a bug")
    except VerificationFailed as e:
        note(f"  refused, exit 1: {e.message}")

    return {
        "keys": {"alice": alice.address, "bob": bob.address},
        "transfer": {"hash": tx.hash_hex, "verified": True},
        "tampered_copy_rejected": True,
    }
