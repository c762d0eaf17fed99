"""Compute nodes on chain: node.register, node.withdraw, node.set_operator, and which node a
transaction acts for. The layout of the keys, with commands: docs/operations.md, "Owner and
operator keys".

A node has two keys:
- its **owner** (cold): the node's address, `node/<owner>`. Only the owner withdraws collateral
  and names the operator, and everything the node earns goes to that address (job payouts,
  verifier shares and slash shares, GPU rewards), as every payout names the node.
- its **operator** (hot): signs the node's marketplace work, acting for the node: job.claim,
  proof.submit, proof.seed, proof.open, proof.attest, and reward.claim {"node": owner} (paid to
  the owner). It takes nothing out: a stolen hot key can at worst miss deadlines.

Without `owner` and `operator` (the original form of node.register) both are the sender, the
record is stored exactly as before (no `operator` key) and no index key is written, so existing
chains replay to the same roots. The record holds `operator` only when it is another address
than the node's, and `operator/<addr>` indexes exactly those operators: finding the node a
transaction acts for is two keyed reads (`find_operated_node`), never a scan.

Rules:
- one address operates at most one node, so a transaction acts for one node and never for a
  choice: naming an operator that already operates another node is refused (operator_taken).
- node.register {gpu, env, collateral[, owner][, operator]} registers or updates node `owner`
  (default: the sender) with operator `operator` (default: the sender), locking `collateral` from
  the sender's balance. A new node: the sender is its owner (who may name any free address as
  operator, which need not agree: a hot key is free to make) or its operator (which may register
  for a cold owner and pay the collateral). An existing node: its owner updates it and may name a
  new operator; its operator may add collateral and update gpu/env, nothing else; anyone else is
  refused (not_owner). `env` must be a canonical environment class (proof/envclass.py), never free
  text a Sybil could make its own.
- node.set_operator {operator}: the owner names a new operator (itself included); the old one is
  powerless at once, for jobs in flight too (a run in flight is bound to the key that trained it:
  change operators between jobs).
- node.withdraw {amount}: the owner takes free (unlocked) collateral back to its balance; from an
  operator it is refused (not_owner).
"""

from __future__ import annotations

from dataclasses import replace

from nnet.chain.accounts import decrease_balance, get_balance, increase_balance
from nnet.chain.keys import NODES_KEY, node_operator_key
from nnet.chain.market_settle import get_node, put_node
from nnet.chain.params import get_param
from nnet.chain.types import Address, BlockContext, Event, Job, NodeRecord, StateLike, Units
from nnet.encoding import format_amount as nnet
from nnet.errors import InvalidTx, MalformedInput
from nnet.proof.envclass import parse_env_class
from nnet.tx import Tx

__all__ = [
    "find_operated_node",
    "need_assignee_operator",
    "need_drawn_operator",
    "need_operated_node",
    "process_node_register",
    "process_node_set_operator",
    "process_node_withdraw",
]


# ---- who acts for which node ---------------------------------------------------------------
def find_operated_node(state: StateLike, address: str) -> tuple[Address, NodeRecord] | None:
    """(node address, record) of the node `address` operates, or None: the node its index names,
    else its own node if it operates that itself."""
    indexed = state.get(node_operator_key(address))
    if indexed is not None:
        node = get_node(state, indexed)
        return None if node is None else (Address(indexed), node)
    node = get_node(state, address)
    if node is not None and node.operator is None:
        return Address(address), node
    return None


def need_operated_node(state: StateLike, sender: str) -> tuple[Address, NodeRecord]:
    """The node a transaction from `sender` acts for; InvalidTx if it operates none (an owner
    whose node has another operator is told so: not_operator)."""
    found = find_operated_node(state, sender)
    if found is not None:
        return found
    own = get_node(state, sender)
    if own is not None:
        raise InvalidTx(
            f"{sender} owns its node but does not operate it: {own.operator} acts for it",
            code="not_operator",
        )
    raise InvalidTx(
        f"{sender} is not a registered node; register it as a compute node first",
        code="not_a_node",
    )


def need_assignee_operator(state: StateLike, job: Job, sender: str, what: str) -> None:
    """Refuse `sender` unless it operates the job's assigned node (not_assignee)."""
    acting = find_operated_node(state, sender)
    if job.assignee is None or acting is None or acting[0] != job.assignee:
        who = "nobody" if job.assignee is None else f"node {job.assignee}"
        raise InvalidTx(
            f"job {job.id} is claimed by {who}, which {sender} does not operate: only its "
            f"operator {what}",
            code="not_assignee",
        )


def need_drawn_operator(state: StateLike, job: Job, sender: str) -> Address:
    """The drawn node `sender` operates (acts for), or InvalidTx(not_drawn)."""
    acting = find_operated_node(state, sender)
    if acting is None or acting[0] not in job.drawn:
        raise InvalidTx(f"{sender} was not drawn to verify job {job.id}", code="not_drawn")
    return acting[0]


def _need_owner(state: StateLike, sender: str, what: str) -> NodeRecord:
    """The sender's own node, for what only its owner may do (`what`)."""
    node = get_node(state, sender)
    if node is not None:
        return node
    acting = find_operated_node(state, sender)
    if acting is not None:
        raise InvalidTx(
            f"{sender} operates node {acting[0]} but does not own it: only the owner {what}",
            code="not_owner",
        )
    raise InvalidTx(f"{sender} is not a registered node", code="not_a_node")


def _set_operator(state: StateLike, address: Address, node: NodeRecord, new: str) -> NodeRecord:
    """`node` (at `address`) with operator `new`, its index moved; refused if `new` operates
    another node already."""
    acting = find_operated_node(state, new)
    if acting is not None and acting[0] != address:
        raise InvalidTx(
            f"{new} already operates node {acting[0]}; an address operates one node",
            code="operator_taken",
        )
    old = node.operator_of(address)
    if old != address:
        state.put(node_operator_key(old), None)
    if new != address:
        state.put(node_operator_key(new), address)
    return replace(node, operator=None if new == address else Address(new))


# ---- transactions ----------------------------------------------------------------------------
def process_node_register(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["collateral"])
    try:
        parse_env_class(tx.body["env"])  # measured and canonical, never a name a Sybil picks
    except MalformedInput as e:
        raise InvalidTx(f"node.register env: {e.message}", code="bad_env") from None
    address = Address(str(tx.body.get("owner", tx.sender)))
    operator = tx.body.get("operator")
    have = get_balance(state, tx.sender)
    if have < amount:
        raise InvalidTx(
            f"{tx.sender} has {nnet(have)} NNET after the fee, "
            f"collateral needs {nnet(amount)} NNET",
            code="insufficient_funds",
        )
    node = get_node(state, address)
    new = node is None
    if node is None:
        operator = operator or tx.sender
        if tx.sender not in (address, operator):
            raise InvalidTx(
                f"{tx.sender} registers node {address} for operator {operator}: the sender must "
                "be the node's owner or its operator",
                code="not_owner",
            )
        node = NodeRecord(
            gpu=tx.body["gpu"],
            env=tx.body["env"],
            collateral=Units(0),
            locked=Units(0),
            reputation=get_param(state, "market_start_reputation"),
            verified_work=0,
            proofs_ok=0,
            proofs_rejected=0,
            proofs_missed=0,
            last_verified_epoch=None,
            registered_height=ctx.height,
        )
        node = _set_operator(state, address, node, operator)
        nodes = list(state.get(NODES_KEY) or [])
        state.put(NODES_KEY, sorted([*nodes, address]))
    elif tx.sender == address:  # the owner: may name a new operator
        if operator is not None:
            node = _set_operator(state, address, node, operator)
    elif tx.sender != node.operator_of(address) or operator not in (None, tx.sender):
        raise InvalidTx(
            f"only node {address}'s owner may change it; its operator may add collateral",
            code="not_owner",
        )
    decrease_balance(state, tx.sender, amount)
    node = replace(
        node,
        gpu=tx.body["gpu"],
        env=tx.body["env"],
        collateral=Units(node.collateral + amount),
    )
    put_node(state, address, node)
    event: Event = {
        "type": "node.registered" if new else "node.updated",
        "node": address,
        "collateral": str(node.collateral),
    }
    if node.operator is not None:
        event["operator"] = node.operator
    return [event]


def process_node_set_operator(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    address = Address(tx.sender)
    node = _need_owner(state, tx.sender, "names its operator")
    before = node.operator_of(address)
    node = _set_operator(state, address, node, str(tx.body["operator"]))
    put_node(state, address, node)
    return [
        {
            "type": "node.operator",
            "node": address,
            "operator": node.operator_of(address),
            "previous": before,
        }
    ]


def process_node_withdraw(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    amount = int(tx.body["amount"])
    node = _need_owner(state, tx.sender, "withdraws collateral")
    if amount > node.free:
        raise InvalidTx(
            f"{tx.sender} has {nnet(node.free)} NNET of free collateral "
            f"({nnet(node.locked)} NNET locked in jobs)",
            code="insufficient_collateral",
        )
    put_node(state, tx.sender, replace(node, collateral=Units(node.collateral - amount)))
    increase_balance(state, tx.sender, amount)
    return [{"type": "node.withdrawn", "node": tx.sender, "amount": str(amount)}]
