"""Owner (cold) and operator (hot) keys of a compute node (chain/market_node.py), through
transactions on a replicated chain (a replica re-executes every block; supply conserved).

The operator claims, proves, seeds, opens, attests and claims rewards for its node; only the owner
withdraws collateral or names the operator, and the owner is paid. Each test asserts the refusal
code, the index key or the balance that would change if the rule went.
"""

from __future__ import annotations

from typing import Any

import pytest

from nnet.chain.accounts import get_balance, get_pending_rewards
from nnet.chain.keys import get_key_family
from nnet.chain.market import make_contribution
from nnet.chain.market_node import find_operated_node
from nnet.proof.commitment import make_attestation
from tests.chain.helpers import Account, make_devnet
from tests.chain.test_market import (
    COLLATERAL,
    ENV,
    PARAMS,
    Chain,
    openings,
    proof_doc,
    register,
    submit,
)

OLD_NODE_FIELDS = {
    "gpu",
    "env",
    "collateral",
    "locked",
    "reputation",
    "verified_work",
    "proofs_ok",
    "proofs_rejected",
    "proofs_missed",
    "last_verified_epoch",
    "registered_height",
}


class Cast:
    """s submits; node `owner` (cold) is run by `hot`; verifier node v0 is run by its own hot
    key `vhot`, v1 and v2 by themselves; x is a stranger with funds; h2 a spare hot key."""

    def __init__(self, c: Chain) -> None:
        s, owner, hot, v0, vhot, v1, v2, x, h2 = c.net.users
        self.s, self.owner, self.hot, self.x, self.h2 = s, owner, hot, x, h2
        self.vs, self.vhot = [v0, v1, v2], vhot
        # the acting key of each verifier node
        self.acting = {v0.address: vhot, v1.address: v1, v2.address: v2}


def body(**over: Any) -> dict[str, Any]:
    return {"gpu": "H100", "env": ENV, "collateral": str(COLLATERAL), **over}


@pytest.fixture
def chain() -> Chain:
    c = Chain(make_devnet(9, params=PARAMS, tag="operator"))
    k = Cast(c)
    v0, v1, v2 = k.vs
    c.block(
        k.owner.tx("node.register", body(operator=k.hot.address)),
        v0.tx("node.register", body(operator=k.vhot.address)),
        register(v1),
        register(v2),
    )
    return c


def refused(c: Chain, who: Account, type_: str, tx_body: dict[str, Any]) -> str:
    return c.refused(who, who.tx(type_, tx_body))[0]


def balances(c: Chain, *who: Account) -> list[int]:
    return [get_balance(c.state, a.address) for a in who]


def run_job(c: Chain, k: Cast) -> dict[str, Any]:
    """Submit; the operator claims, proves and opens; the drawn verifiers' acting keys seed and
    attest accept. Returns the settled job."""
    c.block(submit(k.s))
    c.block(k.hot.tx("job.claim", {"job": 1}))
    c.block_mid_epoch(k.hot.tx("proof.submit", {"job": 1, "proof": proof_doc(k.hot)}))
    c.block_mid_epoch()  # the draw
    proof_hash = c.state.get("proof/1")["hash"]
    for node in c.job()["drawn"]:
        key = k.acting[node]
        c.block_mid_epoch(
            key.tx("proof.seed", {"job": 1, **make_contribution(key.secret, 1, proof_hash)})
        )
    want = c.job()["challenge"]["openings"]
    c.block_mid_epoch(k.hot.tx("proof.open", {"job": 1, "openings": openings(want)}))
    for node in c.job()["drawn"][:2]:
        key = k.acting[node]
        doc = make_attestation(
            c.state.get("proof/1")["doc"],
            reasons=[],
            challenge=c.job()["challenge"],
            report={},
            secret=key.secret,
        )
        c.block_mid_epoch(key.tx("proof.attest", {"job": 1, "attestation": doc}))
    return c.job()


# ---- the operator acts, the owner is paid -----------------------------------------------------
def test_a_job_claimed_and_proved_by_the_operator_pays_the_owner(chain: Chain) -> None:
    k = Cast(chain)
    assert chain.node(k.owner.address)["operator"] == k.hot.address
    assert chain.state.get(f"operator/{k.hot.address}") == k.owner.address
    index = chain.state.keys_with_prefix("operator/")
    assert len(index) == 2 and {get_key_family(key) for key in index} == {"node operator"}
    owner_before, hot_before = balances(chain, k.owner, k.hot)
    verifier_before = balances(chain, *k.vs, k.vhot)
    job = run_job(chain, k)
    assert job["status"] == "accepted"
    assert job["assignee"] == k.owner.address  # the node, never its operator
    assert chain.state.get("proof/1")["doc"]["prover"] == k.hot.address  # signed by the hot key
    paid = int(job["settlement"]["to_node"])
    assert paid > 0
    assert balances(chain, k.owner, k.hot) == [owner_before + paid, hot_before]  # FREE: no fees
    node = chain.node(k.owner.address)
    assert node["proofs_ok"] == 1 and node["locked"] == 0 and node["collateral"] == COLLATERAL
    # the verifier node run by a hot key is paid at its own (owner's) address, never the hot key's
    shares = {a: int(v) for a, v in job["settlement"]["to_verifiers"].items()}
    assert set(shares) <= {v.address for v in k.vs}
    after = balances(chain, *k.vs, k.vhot)
    assert after[:3] == [
        b + shares.get(v.address, 0) for b, v in zip(verifier_before[:3], k.vs, strict=True)
    ]
    assert after[3] == verifier_before[3]
    # the epoch's verified work is the node's, and its GPU reward, claimed by the operator,
    # is paid to the owner
    assert chain.state.get(f"epoch_work/{chain.epoch}")["compute"] == {k.owner.address: 1000}
    chain.until_epoch_end(chain.epoch)
    pending = get_pending_rewards(chain.state, k.owner.address)
    assert pending > 0
    owner_before, hot_before = balances(chain, k.owner, k.hot)
    chain.block(k.hot.tx("reward.claim", {"node": k.owner.address}))
    assert balances(chain, k.owner, k.hot) == [owner_before + pending, hot_before]
    assert get_pending_rewards(chain.state, k.owner.address) == 0


def test_the_owner_does_not_act_for_a_node_it_gave_an_operator(chain: Chain) -> None:
    k = Cast(chain)
    chain.block(submit(k.s))
    assert refused(chain, k.owner, "job.claim", {"job": 1}) == "not_operator"
    chain.block(k.hot.tx("job.claim", {"job": 1}))
    doc = proof_doc(k.owner)
    assert refused(chain, k.owner, "proof.submit", {"job": 1, "proof": doc}) == "not_assignee"
    # the hot key cannot pass off the owner's signature either: the proof must be the sender's
    assert refused(chain, k.hot, "proof.submit", {"job": 1, "proof": doc}) == "bad_proof"


# ---- only the owner takes collateral out or names the operator --------------------------------
def test_the_operator_cannot_withdraw_collateral_the_owner_can(chain: Chain) -> None:
    k = Cast(chain)
    assert refused(chain, k.hot, "node.withdraw", {"amount": str(COLLATERAL)}) == "not_owner"
    owner_before, hot_before = balances(chain, k.owner, k.hot)
    chain.block(k.owner.tx("node.withdraw", {"amount": str(COLLATERAL)}))
    assert chain.node(k.owner.address)["collateral"] == 0
    assert balances(chain, k.owner, k.hot) == [owner_before + COLLATERAL, hot_before]


def test_only_the_owner_names_the_operator(chain: Chain) -> None:
    k = Cast(chain)
    assert refused(chain, k.hot, "node.set_operator", {"operator": k.h2.address}) == "not_owner"
    tx_body = body(owner=k.owner.address, operator=k.h2.address)
    assert refused(chain, k.hot, "node.register", tx_body) == "not_owner"
    # the operator may add collateral (its own money) and update the hardware, nothing else
    hot_before = get_balance(chain.state, k.hot.address)
    chain.block(k.hot.tx("node.register", body(owner=k.owner.address, gpu="H200")))
    node = chain.node(k.owner.address)
    assert node["collateral"] == 2 * COLLATERAL and node["gpu"] == "H200"
    assert node["operator"] == k.hot.address
    assert get_balance(chain.state, k.hot.address) == hot_before - COLLATERAL


def test_a_stranger_cannot_act_for_the_node(chain: Chain) -> None:
    k = Cast(chain)
    owner = k.owner.address
    assert refused(chain, k.x, "node.withdraw", {"amount": "1"}) == "not_a_node"
    assert refused(chain, k.x, "node.set_operator", {"operator": k.x.address}) == "not_a_node"
    assert refused(chain, k.x, "node.register", body(owner=owner)) == "not_owner"
    assert refused(chain, k.x, "node.register", body(owner=owner, operator=k.hot.address)) == (
        "not_owner"
    )
    assert refused(chain, k.x, "reward.claim", {"node": owner}) == "not_operator"
    chain.block(submit(k.s))
    assert refused(chain, k.x, "job.claim", {"job": 1}) == "not_a_node"
    chain.block(k.hot.tx("job.claim", {"job": 1}))
    doc = proof_doc(k.x)
    assert refused(chain, k.x, "proof.submit", {"job": 1, "proof": doc}) == "not_assignee"
    assert chain.node(owner)["operator"] == k.hot.address


def test_changing_the_operator_makes_the_old_one_powerless(chain: Chain) -> None:
    k = Cast(chain)
    owner = k.owner.address
    chain.block(submit(k.s))
    chain.block(k.hot.tx("job.claim", {"job": 1}))
    chain.block(k.owner.tx("node.set_operator", {"operator": k.h2.address}))
    assert chain.node(owner)["operator"] == k.h2.address
    assert chain.state.get(f"operator/{k.hot.address}") is None
    assert chain.state.get(f"operator/{k.h2.address}") == owner
    # the job in flight is the node's: the new operator proves it, the old one cannot
    old = proof_doc(k.hot)
    assert refused(chain, k.hot, "proof.submit", {"job": 1, "proof": old}) == "not_assignee"
    chain.block_mid_epoch(k.h2.tx("proof.submit", {"job": 1, "proof": proof_doc(k.h2)}))
    assert chain.job()["status"] == "proved"
    chain.block(submit(k.s))
    assert refused(chain, k.hot, "job.claim", {"job": 2}) == "not_a_node"
    assert refused(chain, k.hot, "reward.claim", {"node": owner}) == "not_operator"
    # the old hot key is free again: it may register a node of its own
    chain.block(k.hot.tx("node.register", body()))
    found = find_operated_node(chain.state, k.hot.address)
    assert found is not None and found[0] == k.hot.address
    # registering again, the owner may name the operator too; naming itself drops the index
    chain.block(k.owner.tx("node.register", body(collateral="0", operator=owner)))
    assert "operator" not in chain.node(owner)
    assert chain.state.get(f"operator/{k.h2.address}") is None
    assert refused(chain, k.h2, "job.claim", {"job": 2}) == "not_a_node"
    chain.block(k.owner.tx("job.claim", {"job": 2}))
    assert chain.job(2)["assignee"] == owner


def test_an_address_operates_one_node(chain: Chain) -> None:
    k = Cast(chain)
    # the hot key of one node cannot be named for another, nor register a node of its own
    chain.block(k.x.tx("node.register", body()))
    assert refused(chain, k.x, "node.set_operator", {"operator": k.hot.address}) == (
        "operator_taken"
    )
    assert refused(chain, k.hot, "node.register", body()) == "operator_taken"
    # a node that operates itself cannot be another's operator either
    assert refused(chain, k.owner, "node.set_operator", {"operator": k.x.address}) == (
        "operator_taken"
    )


def test_a_hot_key_registers_for_a_cold_owner(chain: Chain) -> None:
    k = Cast(chain)
    cold = Account(k.s.secret, k.s.address)  # any address; it signs nothing here
    cold_before, h2_before = balances(chain, cold, k.h2)
    chain.block(k.h2.tx("node.register", body(owner=cold.address)))
    node = chain.node(cold.address)
    assert node["operator"] == k.h2.address and node["collateral"] == COLLATERAL
    assert cold.address in chain.state.get("market/nodes")
    assert balances(chain, cold, k.h2) == [cold_before, h2_before - COLLATERAL]
    # a sender that is neither the new node's owner nor its operator is refused
    tx_body = body(owner=k.x.address, operator=k.vhot.address)
    assert refused(chain, k.h2, "node.register", tx_body) == "not_owner"


def test_the_original_form_is_stored_as_before(chain: Chain) -> None:
    """No owner and no operator, or both naming the sender: the record has exactly the fields it
    always had and no index key is written (the recorded chain's replay checks the roots)."""
    k = Cast(chain)
    v1 = k.vs[1]
    assert set(chain.node(v1.address)) == OLD_NODE_FIELDS
    before = set(chain.state.keys_with_prefix("operator/"))
    explicit = body(owner=k.h2.address, operator=k.h2.address)
    chain.block(k.x.tx("node.register", body()), k.h2.tx("node.register", explicit))
    assert chain.node(k.h2.address) == {
        **chain.node(k.x.address),
        "registered_height": (chain.node(k.h2.address)["registered_height"]),
    }
    assert set(chain.node(k.h2.address)) == OLD_NODE_FIELDS
    assert set(chain.state.keys_with_prefix("operator/")) == before
    found = find_operated_node(chain.state, v1.address)
    assert found is not None and found[0] == v1.address


def test_no_key_of_a_node_serves_a_job_its_other_key_submitted(chain: Chain) -> None:
    """The submitter may not claim its job through its node's operator, nor be drawn to verify
    it through a node it operates."""
    k = Cast(chain)
    chain.block(submit(k.owner), submit(k.vhot, mode="tolerance"))
    assert refused(chain, k.hot, "job.claim", {"job": 1}) == "own_job"
    assert refused(chain, k.vhot, "job.claim", {"job": 2}) == "own_job"
    chain.block(k.hot.tx("job.claim", {"job": 2}))
    chain.block_mid_epoch(
        k.hot.tx("proof.submit", {"job": 2, "proof": proof_doc(k.hot, 2, mode="tolerance")})
    )
    chain.block_mid_epoch()
    assert sorted(chain.job(2)["drawn"]) == sorted(v.address for v in k.vs[1:])  # not v0
