"""`nnet tx sign|inspect|verify|show`: offline work on signed transactions, and receipts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import (
    InputArg,
    JsonOpt,
    NodeOpt,
    emit,
    emit_line,
    human_value,
    ndjson_records,
    node_client,
    note,
    pairs,
    want_json,
)
from nnet.commands._txflow import TxOptions, command_with_tx_options
from nnet.encoding import format_amount
from nnet.errors import MalformedInput, NnetError, VerificationFailed
from nnet.tx import TX_VERSION, Tx, parse_tx

app = typer.Typer(
    help="Sign, inspect and verify transactions offline; show receipts.", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="tx")


def sign(file: InputArg = "-", *, opts: TxOptions) -> None:
    """Sign unsigned transactions (NDJSON); missing v, chain, from, fee and nonce are filled in.

    Nonces count up from --nonce (or the node's next nonce) across the lines.

    Amounts in the body are base units (1 NNET = 10^18), as on the wire.

    Example: echo '{"type":"stake","body":{"amount":"10000000000000000000"}}' | nnet tx sign -
    """
    from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule
    from nnet.commands._common import unlock
    from nnet.commands._txflow import fee_schedule, fill_min_fee
    from nnet.config import resolve
    from nnet.encoding import parse_amount

    records = list(ndjson_records(file))
    sender, secret = unlock(opts.key, opts.password_file)
    fee = resolve("fee", opts.fee)
    next_nonce = opts.nonce
    asked_node = False
    schedule: FeeSchedule | None = None
    for i, obj in enumerate(records, start=1):
        if not isinstance(obj, dict):
            raise MalformedInput(f"line {i}: a transaction must be a JSON object")
        obj.pop("sig", None)
        obj.setdefault("v", TX_VERSION)
        obj.setdefault("chain", resolve("chain", opts.chain))
        obj.setdefault("from", sender)
        if fee is not None:
            obj.setdefault("fee", str(parse_amount(fee)))
        if "nonce" not in obj:
            if next_nonce is None:
                with node_client(opts.node) as client:
                    next_nonce = client.next_nonce(sender)
                asked_node = True
            obj["nonce"] = next_nonce
            next_nonce += 1
        if "fee" not in obj:  # the chain's minimum for its size (the node's, if it was asked)
            if schedule is None:
                schedule = DEFAULT_FEE_SCHEDULE
                if asked_node:
                    with node_client(opts.node) as client:
                        schedule = fee_schedule(client)
            fill_min_fee(obj, schedule)
        try:
            tx = parse_tx(obj, require_sig=False)
        except MalformedInput as e:
            raise MalformedInput(f"line {i}: {e.message}", hint=e.hint) from None
        emit_line(tx.signed(secret).to_dict())


command_with_tx_options(app, "sign", sign, adapt={"send": None, "wait": None})


@app.command("inspect")
def inspect(file: InputArg = "-", as_json: JsonOpt = False) -> None:
    """Pretty-print transactions with their hash, amounts in NNET and signature status.

    Example: nnet transfer 0xAbC… 5 --nonce 0 | nnet tx inspect -
    """
    for i, obj in enumerate(ndjson_records(file), start=1):
        try:
            tx = parse_tx(obj, require_sig=False)
        except MalformedInput as e:
            raise MalformedInput(f"line {i}: {e.message}", hint=e.hint) from None
        emit(describe(tx), as_json=want_json(as_json), human=_human)


def describe(tx: Tx) -> dict[str, Any]:
    """A readable record of a transaction: hash, amounts in NNET, signature status."""
    try:
        tx.verify_signature()
        signature = "valid"
    except VerificationFailed as e:
        signature = f"INVALID ({e.message})"
    body = {
        k: (format_amount(int(v)) + " NNET" if k in ("amount", "collateral") else v)
        for k, v in tx.body.items()
    }
    return {
        "hash": tx.hash_hex,
        "type": tx.type,
        "chain": tx.chain,
        "from": tx.sender,
        "nonce": tx.nonce,
        "fee": format_amount(tx.fee) + " NNET",
        "body": body,
        "signature": signature,
    }


def _human(record: dict[str, Any]) -> str:
    flat = {k: v for k, v in record.items() if k != "body"}
    flat.update({f"body.{k}": v for k, v in record["body"].items()})
    return pairs(flat) + "\n"


@app.command("verify")
def verify(
    file: InputArg = "-",
    chain: Annotated[
        str | None, typer.Option("--chain", help="Also require this chain id.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check each transaction's shape and signature; exit 1 if any fails.

    Prints one result per line: {"ok": true, "hash", "from"} or {"ok": false, "error"}.

    Example: nnet tx verify signed.ndjson && nnet send signed.ndjson
    """
    failed = 0
    for i, obj in enumerate(ndjson_records(file), start=1):
        result: dict[str, Any] = {"line": i}
        try:
            tx = parse_tx(obj)
            result["hash"] = tx.hash_hex
            tx.verify_signature()
            if chain is not None and tx.chain != chain:
                raise VerificationFailed(f"chain is {tx.chain!r}, not {chain!r}")
            result.update(ok=True, **{"from": tx.sender})
        except NnetError as e:
            failed += 1
            result.update(ok=False, error=e.one_line())
        emit(result, as_json=want_json(as_json), human=_verdict)
    if failed:
        note(f"{failed} transaction(s) failed verification")
        raise typer.Exit(1)


def _verdict(r: dict[str, Any]) -> str:
    if r["ok"]:
        return f"ok    {r['hash']}  from {r['from']}"
    return f"FAIL  line {r['line']}: {r['error']}"


@app.command("show")
def show(
    tx_hash: Annotated[str, typer.Argument(help="Transaction hash (0x…).")],
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a transaction's receipt from the node: status, block, events.

    Example: nnet tx show 0x5f1c…
    """
    with node_client(node) as client:
        receipt = client.receipt(tx_hash)
    emit(receipt, as_json=want_json(as_json), human=receipt_human)


AMOUNT_KEYS = frozenset({"amount", "fee", "collateral", "deposit", "reward", "slashed", "refund"})


def _field(key: str, value: Any) -> str:
    """One field of a receipt, event or body: amounts in NNET, the rest as human_value does."""
    if key in AMOUNT_KEYS and isinstance(value, str) and value.isascii() and value.isdigit():
        return format_amount(int(value)) + " NNET"
    return human_value(key, value)


def receipt_human(receipt: dict[str, Any]) -> str:
    """A receipt for people: its fields, the transaction's body and one line per event, with
    amounts in NNET (never a Python repr; --json keeps the node's record)."""
    rows: dict[str, str] = {}
    for key, value in receipt.items():
        if key in ("events", "tx"):
            continue
        rows[key] = _field(key, value)
    tx = receipt.get("tx")
    if isinstance(tx, dict):
        rows["nonce"] = str(tx.get("nonce", "-"))
        rows["fee"] = _field("fee", tx.get("fee"))
        body = tx.get("body")
        for key, value in body.items() if isinstance(body, dict) else ():
            rows[f"body.{key}"] = _field(key, value)
    for i, event in enumerate(receipt.get("events") or [], start=1):
        if isinstance(event, dict):
            details = " ".join(f"{k}={_field(k, v)}" for k, v in event.items() if k != "type")
            rows[f"event {i}"] = f"{event.get('type', '?')} {details}".rstrip()
        else:
            rows[f"event {i}"] = human_value("event", event)
    return pairs(rows)
