"""`nnet node register|set-operator|withdraw|list|show`: a compute node's registration, keys and
collateral.

A node registers its GPU and its environment class (the class a proof records, POL.md: exact-mode
jobs draw their verifiers among nodes of the prover's class) and locks collateral that job claims
draw on. It has an owner (cold key: withdraws, names the operator, is paid) and an operator (hot
key: claims, proves, opens, attests); by default both are the signing key. Rules:
docs/marketplace.md; the key layout: docs/operations.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import (
    Column,
    JsonOpt,
    KeyOpt,
    NodeOpt,
    PasswordFileOpt,
    address_of,
    emit,
    emit_rows,
    node_client,
    note,
    pairs,
    unlock,
    want_json,
)
from nnet.commands._listing import LimitOpt, listing
from nnet.commands._txflow import tx_command
from nnet.crypto import normalize_address
from nnet.encoding import format_amount, parse_amount
from nnet.errors import MalformedInput, UsageError

app = typer.Typer(help="Register a compute node and manage its collateral.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="node")


DEVICE_CHOICES = ("auto", "cpu", "cuda")


def env_class_to_register(env: str | None, device: str, threads: int) -> str:
    """--env if given (it must be canonical), else this machine's class as `nnet train` records it
    (measuring imports torch, so only then)."""
    from nnet.proof.envclass import measure_environment, parse_env_class

    if env is not None:
        try:
            env_class = str(parse_env_class(env))
        except MalformedInput as e:
            raise UsageError(
                f"--env: {e.message}",
                hint="leave --env out to register the class measured on this machine",
            ) from None
        note(f"environment class {env_class} (from --env, not measured here)")
        return env_class
    if device not in DEVICE_CHOICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, not {device!r}")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    env_class = str(measure_environment(device, threads)["class"])
    note(f"environment class {env_class} (measured on this machine)")
    return env_class


def register_node(
    gpu: Annotated[str, typer.Option("--gpu", help="GPU model, e.g. H100 (or cpu).")],
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Device whose class to measure: auto (cuda when there is one), cpu or cuda.",
        ),
    ] = "auto",
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=1024, help="CPU threads of the jobs to verify (cpu classes)."
        ),
    ] = 1,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Canonical environment class to register instead of measuring this machine's "
            "(e.g. one printed by `nnet node register` on the verifying machine).",
        ),
    ] = None,
    collateral: Annotated[
        str, typer.Option("--collateral", help="NNET to lock as collateral (adds to any).")
    ] = "0",
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            help="Owner (cold key) address or key name: the node, paid, the only one to "
            "withdraw or change the operator [default: the signing key].",
        ),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            help="Operator (hot key) address or key name: claims, proves, opens and attests "
            "for the node [default: the signing key].",
        ),
    ] = None,
) -> dict[str, str]:
    """Register a compute node (or update it, adding collateral from the signing key's balance).

    The environment class is measured on this machine (device, GPU architecture, torch, CUDA
    and cuDNN versions, or CPU family, ISA and threads) and printed on stderr; exact-mode proofs
    are verified by nodes of the prover's class.

    Keys: the owner (cold) is the node's address; the operator (hot) acts for it. Sign with the
    owner and name the operator (--operator HOT), or sign with the operator and name the owner
    (--owner COLD): see docs/operations.md, "Owner and operator keys".

    Example: nnet node register --gpu H100 --collateral 500 --send
    """
    env_class = env_class_to_register(env, device, threads)
    body = {"gpu": gpu, "env": env_class, "collateral": str(parse_amount(collateral))}
    if owner is not None:
        body["owner"] = address_of(owner, what="--owner")
    if operator is not None:
        body["operator"] = address_of(operator, what="--operator")
    return body


def set_operator(
    operator: Annotated[
        str, typer.Argument(help="The new operator (hot key): an address or a key name.")
    ],
) -> dict[str, str]:
    """Name the key that acts for your node (the owner signs: it may do so offline with --nonce).
    The old operator can do nothing for the node from the next block on, for jobs in flight too.

    Example: nnet node set-operator 0x8ba1f109551bD432803012645Ac136ddd64DBA72 --send
    """
    return {"operator": address_of(operator, what="operator")}


def withdraw(
    amount: Annotated[str, typer.Argument(help="NNET of free collateral to take back.")],
) -> dict[str, str]:
    """Take free collateral (not locked in a claimed job) back to the balance; only the node's
    owner may (its cold key can sign offline: --nonce N, then `nnet send` elsewhere).

    Example: nnet node withdraw 100 --send
    """
    return {"amount": str(parse_amount(amount))}


tx_command(app, "register", "node.register", register_node)
tx_command(app, "set-operator", "node.set_operator", set_operator)
tx_command(app, "withdraw", "node.withdraw", withdraw)


NODE_COLUMNS: list[Column] = [
    ("ADDRESS", "address"),
    ("GPU", "gpu"),
    ("COLLATERAL", lambda n: format_amount(int(n["collateral"]))),
    ("LOCKED", lambda n: format_amount(int(n["locked"]))),
    ("REPUTATION", "reputation"),
    ("PROOFS OK", "proofs_ok"),
]


@app.command("list")
def list_(limit: LimitOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List registered compute nodes with collateral and reputation, by address.

    Every node, page by page, unless --limit says how many.

    Example: nnet node list --limit 50
    """
    with node_client(node) as client:
        emit_rows(listing(lambda size: client.nodes(page_size=size), limit), NODE_COLUMNS, as_json)


@app.command("show")
def show(
    address: Annotated[
        str | None, typer.Argument(help="Node address or key name (default: your key).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Key name whose node to show.")
    ] = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one compute node: owner, operator, class, collateral, reputation, verified work.

    The node is an address, a key name (as ADDRESS or --key), or by default your signing key,
    as for `nnet balance`; an operator's address shows the node it acts for.

    Example: nnet node show gpu; nnet node show 0x8ba1f109551bD432803012645Ac136ddd64DBA72
    """
    addr = address_of(address, key, what="address")
    with node_client(node) as client:
        record = client.node(addr)
    emit(record, as_json=want_json(as_json), human=_human)


def _human(n: dict[str, Any]) -> str:
    return pairs(
        {
            "address": n["address"],
            "owner": n.get("owner", n["address"]),
            "operator": n.get("operator", n["address"]),
            "gpu": n["gpu"],
            "env": n["env"],
            "collateral": format_amount(int(n["collateral"])) + " NNET",
            "locked": format_amount(int(n["locked"])) + " NNET",
            "reputation": n["reputation"],
            "verified work": n["verified_work"],
            "proofs": f"{n['proofs_ok']} ok, {n['proofs_rejected']} rejected",
        }
    )


# ---- the agent: `nnet node run`, `nnet node status` (services/agent.py; docs/agent.md) ---------
def _agent_state(state: Path | None) -> Path:
    from nnet.config import home_dir

    return state if state is not None else home_dir() / "agent.db"


StateOpt = Annotated[
    Path | None,
    typer.Option("--state", help="The agent's SQLite state [default: $NNET_HOME/agent.db]."),
]


@app.command("run")
def run(
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    node: NodeOpt = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Claim, train, prove and open jobs.")
    ] = True,
    verifier: Annotated[
        bool,
        typer.Option("--verifier/--no-verifier", help="Seed and attest the jobs it is drawn for."),
    ] = True,
    min_fee: Annotated[
        str, typer.Option("--min-fee", help="Least fee (NNET) of a job it claims.")
    ] = "0",
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Only jobs of this researcher address (repeatable)."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=1024, help="CPU threads of cpu jobs it takes.")
    ] = 1,
    margin: Annotated[
        int,
        typer.Option(
            "--margin-blocks", min=0, help="Safety margin: no claim this close to its deadline."
        ),
    ] = 5,
    claim_every: Annotated[
        int,
        typer.Option(
            "--claim-every", min=0, help="Claim pending rewards every this many blocks (0: never)."
        ),
    ] = 0,
    state: StateOpt = None,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Jobs' data and runs [default: $NNET_HOME/agent/]."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="One pass (catch up, act, train inline), for cron.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Log what it would do; sign and train nothing.")
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    log_json: Annotated[bool, typer.Option("--log-json", help="Logs as JSON lines.")] = False,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            "--metrics-listen",
            metavar="HOST:PORT",
            help="Serve Prometheus metrics at GET /metrics there (PORT alone: on 127.0.0.1).",
        ),
    ] = None,
    metrics_public: Annotated[
        bool,
        typer.Option(
            "--metrics-public", help="Allow --metrics-listen on an address other than loopback."
        ),
    ] = False,
) -> None:
    """Run this node's agent: follow the chain and work jobs unattended, as worker and verifier.

    It claims open jobs that fit this machine (--min-fee, --allow, its class), trains them,
    proves, opens the challenged checkpoints; it seeds and attests the jobs it is drawn to
    verify; with --claim-every it claims rewards. Its state is in agent.db, so after a crash it
    resumes where it stopped and never signs two things for one step. Logs go to stderr, one
    line per action; --metrics-listen serves Prometheus metrics. See docs/agent.md (flags,
    metrics, the systemd unit).

    Example: nnet node run --min-fee 10 --claim-every 100 --password-file ~/.nnet/pw
    """
    from nnet.config import home_dir
    from nnet.node.logs import LEVELS, configure_logging
    from nnet.services.agent import Agent, AgentOptions
    from nnet.services.agent_metrics import parse_metrics_listen, serve_metrics

    if log_level not in LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LEVELS)}, not {log_level!r}")
    listen = None
    if metrics_listen is not None:
        listen = parse_metrics_listen(metrics_listen, public=metrics_public)
    configure_logging(log_level, json_lines=log_json)
    address, secret = unlock(key, password_file)
    options = AgentOptions(
        state=_agent_state(state),
        workdir=workdir if workdir is not None else home_dir() / "agent",
        worker=worker,
        verifier=verifier,
        min_fee=parse_amount(min_fee),
        allow=tuple(normalize_address(a, "--allow") for a in allow or []),
        threads=threads,
        margin_blocks=margin,
        claim_every=claim_every,
        once=once,
        dry_run=dry_run,
    )
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (systemd, kill) stops it as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    with node_client(node, timeout=600.0) as client:
        agent = Agent(client, address, secret, options)
        server = None
        try:
            if listen is not None:
                server = serve_metrics(agent, *listen)
            agent.run()
        except KeyboardInterrupt:
            note("stopped; `nnet node run` again resumes where it stopped")
        finally:
            if server is not None:
                server.close()
            agent.close()


@app.command("status")
def status(
    key: KeyOpt = None,
    state: StateOpt = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the agent's jobs (role, stage, deadline, outcome, earned), its total earnings, and
    the node's reputation and pending rewards.

    Example: nnet node status; nnet node status --json | jq .jobs
    """
    from nnet.services.agent_status import agent_status

    addr = address_of(None, key)
    path = _agent_state(state)
    if not path.exists():
        raise UsageError(f"no agent state at {path}", hint="start the agent: nnet node run")
    with node_client(node) as client:
        report = agent_status(client, path, addr)
    emit(report, as_json=want_json(as_json), human=_human_status)


def _human_status(report: dict[str, Any]) -> str:
    head = pairs(
        {
            "address": report["address"],
            "height": report["height"],
            "reputation": report["reputation"] if report["reputation"] is not None else "-",
            "earned": format_amount(int(report["earned"])) + " NNET",
            "pending rewards": format_amount(int(report["pending_rewards"])) + " NNET",
        }
    )
    from nnet.commands._common import table

    rows = [
        [
            str(j["job"]),
            j["role"],
            j["stage"],
            "-" if j["deadline_height"] is None else f"{j['deadline_height']} ({j['blocks_left']})",
            j["outcome"] or "-",
            format_amount(int(j["earned"])),
        ]
        for j in report["jobs"]
    ]
    headers = ["JOB", "ROLE", "STAGE", "DEADLINE (LEFT)", "OUTCOME", "EARNED"]
    return head + ("\n\n" + table(rows, headers) if rows else "\n\nno jobs yet")
