"""The one path every transaction-making command takes: build, sign, then print or send.

A command gathers its body and a TxOptions (from the shared option aliases), and calls `issue`.
Without --send the signed transaction is printed as one JSON line (for `| nnet send` or a file);
with --send it is submitted and the node's receipt is printed instead.

A command registered here gets the shared options without declaring them; one whose flags differ
says so with `OptionAs` (a shared option under another name, or with another default) or by
leaving an option out: `job submit` calls the fee `--tx-fee` (its `--fee` is the job's price),
`tx sign` has no --send, `nnet claim` always sends.

Fees: with no --fee (nor NNET_FEE, nor a `fee` in config.toml) a transaction pays the chain's
minimum for its size (chain/fees.py), read from the node's /params, or the default parameters
when nothing is asked of a node (--nonce given, no --send); the fee is said on stderr.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    node_client,
    note,
)
from nnet.config import resolve
from nnet.encoding import format_amount, parse_amount
from nnet.errors import InvalidTx
from nnet.tx import Tx, build_tx, parse_tx

if TYPE_CHECKING:
    from nnet.client import NodeClient


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
if [p.name for p in _TX_PARAMS] != [f.name for f in fields(TxOptions)]:
    raise RuntimeError("_tx_option_template and TxOptions list different options")


@dataclass(frozen=True)
class OptionAs:
    """A shared option as one command declares it: its own parameter name (and so its flag, as
    the annotation spells it), annotation and default."""

    name: str
    annotation: Any
    default: Any = None


# per shared option: how the command declares it, or None when it does not take it
Adapt = Mapping[str, OptionAs | None]


def tx_command(
    parent: typer.Typer,
    name: str,
    type_: str,
    make_body: Callable[..., dict[str, Any]],
    *,
    adapt: Adapt | None = None,
) -> None:
    """Register `nnet NAME`: make_body's own arguments, then the shared transaction options.

    make_body's docstring is the command's --help; it returns the transaction body.
    """

    def run(opts: TxOptions, **kwargs: Any) -> None:
        issue(type_, make_body(**kwargs), opts)

    _register(parent, name, make_body, run, adapt or {})


def command_with_tx_options(
    parent: typer.Typer, name: str, fn: Callable[..., None], *, adapt: Adapt | None = None
) -> None:
    """Register `nnet NAME` for a command with its own flow that ends in transactions:
    fn(own arguments..., opts: TxOptions), shown with the shared transaction options (as
    `adapt` renames them or leaves them out)."""

    def run(opts: TxOptions, **kwargs: Any) -> None:
        fn(**kwargs, opts=opts)

    _register(parent, name, fn, run, adapt or {})


def _register(
    parent: typer.Typer,
    name: str,
    source: Callable[..., Any],
    run: Callable[..., None],
    adapt: Adapt,
) -> None:
    """A Typer command whose parameters are source's (less `opts`) and then the shared options,
    each as `adapt` declares it; the options it leaves out keep TxOptions' defaults."""
    unknown = set(adapt) - {p.name for p in _TX_PARAMS}
    if unknown:
        raise ValueError(f"{name}: no shared transaction option {sorted(unknown)}")
    own = [
        p for p in inspect.signature(source, eval_str=True).parameters.values() if p.name != "opts"
    ]
    shared: dict[str, str] = {}  # TxOptions field -> the command's parameter name
    params = list(own)
    for p in _TX_PARAMS:
        if p.name not in adapt:
            shared[p.name] = p.name
            params.append(p)
        elif (alt := adapt[p.name]) is not None:
            shared[p.name] = alt.name
            params.append(p.replace(name=alt.name, annotation=alt.annotation, default=alt.default))
    clash = {p.name for p in own} & set(shared.values())
    if clash:
        raise ValueError(f"{name}: {sorted(clash)} is both its own and a shared option")

    def command(**kwargs: Any) -> None:
        run(TxOptions(**{f: kwargs.pop(param) for f, param in shared.items()}), **kwargs)

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
    schedule = DEFAULT_FEE_SCHEDULE
    if nonce is None or opts.send:  # a node is asked anyway: its fee parameters count
        with node_client(opts.node) as client:
            if nonce is None:
                nonce = client.next_nonce(sender)
            if explicit_fee is None:
                schedule = fee_schedule(client)
    n = nonce
    if explicit_fee is None:
        unsigned = fit_fee(lambda f: build_tx(chain, type_, sender, n, f, body), schedule)
        note(
            f"fee {format_amount(unsigned.fee)} NNET, the chain's minimum for this "
            f"{compute_tx_size(unsigned)}-byte {type_}"
        )
    else:
        unsigned = build_tx(chain, type_, sender, n, parse_amount(explicit_fee), body)
    tx = unsigned.signed(secret)
    fee = tx.fee
    if opts.send:
        send_signed([tx.to_dict()], opts.node, wait=opts.wait)
    else:
        emit_line(tx.to_dict())
        _hint_not_sent(type_)
        if fee:
            note(f"signed {type_} from {sender}, nonce {nonce}, fee {format_amount(fee)} NNET")
    return tx


def send_signed(
    txs: list[dict[str, Any]], node: str | None, *, wait: bool, raise_single: bool = True
) -> int:
    """Submit signed transactions to the node (--node `node`), print one receipt line each;
    returns how many were refused."""
    refused = 0
    with node_client(node) as client:
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


def fee_schedule(client: NodeClient | None) -> FeeSchedule:
    """The chain's fee parameters: from the node's /params, or the defaults (offline: None)."""
    if client is None:
        return DEFAULT_FEE_SCHEDULE
    view = client.params()

    def value(name: str) -> int:
        entry = view.get(name)  # a node from before the per-byte price lacks it: 0
        return int(entry["value"]) if isinstance(entry, dict) else 0

    return FeeSchedule(value("min_fee"), value("min_fee_per_byte"))


def fill_min_fee(obj: dict[str, Any], schedule: FeeSchedule) -> None:
    """Set an unsigned transaction's `fee` (a JSON object) to the least its size requires."""
    tx = fit_fee(lambda f: parse_tx({**obj, "fee": str(f)}, require_sig=False), schedule)
    obj["fee"] = str(tx.fee)
