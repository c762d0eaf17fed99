"""The one path every transaction-making command takes: build, sign, then print or send.

A command gathers its body and a TxOptions (from the shared option aliases), and calls `issue`.
Without --send the signed transaction is printed as one JSON line (for `| nnet send` or a file);
with --send it is submitted and the node's receipt is printed instead.

Fees: with no --fee (nor NNET_FEE, nor a `fee` in config.toml) a transaction pays the chain's
minimum for its size (chain/fees.py), read from the node's /params, or the default parameters
when nothing is asked of a node (--nonce given, no --send); the fee is said on stderr.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import typer

from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule, compute_tx_size, fit_fee
from nnet.commands._common import (
    ChainOpt,
    FeeOpt,
    KeyOpt,
    NodeOpt,
    NonceOpt,
    PasswordFileOpt,
    SendOpt,
    WaitOpt,
    emit_line,
    note,
)
from nnet.config import resolve
from nnet.encoding import format_amount, parse_amount
from nnet.errors import InvalidTx
from nnet.tx import Tx, build_tx, parse_tx


@dataclass(frozen=True)
class TxOptions:
    """What every transaction-making command accepts besides its own arguments."""

    key: str | None = None
    password_file: Path | None = None
    nonce: int | None = None
    fee: str | None = None
    chain: str | None = None
    node: str | None = None
    send: bool = False
    wait: bool = False


def _tx_option_template(
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    nonce: NonceOpt = None,
    fee: FeeOpt = None,
    chain: ChainOpt = None,
    node: NodeOpt = None,
    send: SendOpt = False,
    wait: WaitOpt = False,
) -> None:
    """Only its signature is used: the shared options, in the order --help lists them."""


_TX_PARAMS = list(inspect.signature(_tx_option_template, eval_str=True).parameters.values())
assert [p.name for p in _TX_PARAMS] == [f.name for f in fields(TxOptions)]


def tx_command(
    parent: typer.Typer, name: str, type_: str, make_body: Callable[..., dict[str, Any]]
) -> None:
    """Register `nnet NAME`: make_body's own arguments, then the shared transaction options.

    make_body's docstring is the command's --help; it returns the transaction body.
    """

    def run(opts: TxOptions, **kwargs: Any) -> None:
        issue(type_, make_body(**kwargs), opts)

    _register(parent, name, make_body, run)


def command_with_tx_options(parent: typer.Typer, name: str, fn: Callable[..., None]) -> None:
    """Register `nnet NAME` for a command with its own flow that ends in transactions:
    fn(own arguments..., opts: TxOptions), shown with the shared transaction options."""

    def run(opts: TxOptions, **kwargs: Any) -> None:
        fn(**kwargs, opts=opts)

    _register(parent, name, fn, run)


def _register(
    parent: typer.Typer, name: str, source: Callable[..., Any], run: Callable[..., None]
) -> None:
    """A Typer command whose parameters are source's (less `opts`) and then the shared options."""
    own = [
        p for p in inspect.signature(source, eval_str=True).parameters.values() if p.name != "opts"
    ]

    def command(**kwargs: Any) -> None:
        run(TxOptions(**{p.name: kwargs.pop(p.name) for p in _TX_PARAMS}), **kwargs)

    params = own + _TX_PARAMS
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = source.__doc__
    command.__name__ = source.__name__
    parent.command(name)(command)


def issue(type_: str, body: dict[str, Any], opts: TxOptions) -> Tx:
    """Build, sign and print (or submit) one transaction of `type_` with `body`."""
    from nnet.commands._common import unlock

    sender, secret = unlock(opts.key, opts.password_file)
    chain = resolve("chain", opts.chain) or "nnet-devnet"
    explicit_fee = resolve("fee", opts.fee)
    nonce = opts.nonce
    node_url = resolve("node", opts.node) or ""
    online = nonce is None or opts.send  # a node is asked anyway: its fee parameters count
    if nonce is None:
        from nnet.client import NodeClient

        with NodeClient(node_url) as client:
            nonce = client.next_nonce(sender)
    n = nonce
    if explicit_fee is None:
        unsigned = fit_fee(
            lambda f: build_tx(chain, type_, sender, n, f, body),
            fee_schedule(node_url if online else None),
        )
        note(
            f"fee {format_amount(unsigned.fee)} NNET, the chain's minimum for this "
            f"{compute_tx_size(unsigned)}-byte {type_}"
        )
    else:
        unsigned = build_tx(chain, type_, sender, n, parse_amount(explicit_fee), body)
    tx = unsigned.signed(secret)
    fee = tx.fee
    if opts.send:
        send_signed([tx.to_dict()], node_url, wait=opts.wait)
    else:
        emit_line(tx.to_dict())
        _hint_not_sent(type_)
        if fee:
            note(f"signed {type_} from {sender}, nonce {nonce}, fee {format_amount(fee)} NNET")
    return tx


def send_signed(
    txs: list[dict[str, Any]], node_url: str, *, wait: bool, raise_single: bool = True
) -> int:
    """Submit signed transactions, print one receipt line each; returns how many were refused."""
    from nnet.client import NodeClient

    refused = 0
    with NodeClient(node_url) as client:
        results = client.submit(txs)
        for tx, result in zip(txs, results, strict=False):
            if "error" in result:
                refused += 1
            elif wait:  # with the tx, so that what a restart or an eviction lost is sent again
                result = client.wait(result["hash"], tx=tx)
            emit_line(result)
    if raise_single and refused and len(txs) == 1:
        r = results[0]
        raise InvalidTx(f"the node refused the transaction: {r['error']}", code=r.get("code"))
    return refused


def _hint_not_sent(type_: str) -> None:
    """On a terminal a printed transaction looks like a result: say that nothing was sent."""
    import sys

    if sys.stdout.isatty():
        note(
            f"not sent: this is the signed {type_} transaction; to send it, pipe it to "
            "`nnet send` (e.g. `nnet stake 100 | nnet send --wait`) or add --send"
        )


def fee_schedule(node_url: str | None) -> FeeSchedule:
    """The chain's fee parameters: from the node's /params, or the defaults (offline)."""
    if not node_url:
        return DEFAULT_FEE_SCHEDULE
    from nnet.client import NodeClient

    with NodeClient(node_url) as client:
        view = client.get("/params")

    def value(name: str) -> int:
        entry = view.get(name)  # a node from before the per-byte price lacks it: 0
        return int(entry["value"]) if isinstance(entry, dict) else 0

    return FeeSchedule(value("min_fee"), value("min_fee_per_byte"))


def fill_min_fee(obj: dict[str, Any], schedule: FeeSchedule) -> None:
    """Set an unsigned transaction's `fee` (a JSON object) to the least its size requires."""
    tx = fit_fee(lambda f: parse_tx({**obj, "fee": str(f)}, require_sig=False), schedule)
    obj["fee"] = str(tx.fee)
