"""Governance: proposals, deposits, reputation-weighted votes, tallies, enforcement (issue 7)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nnet.chain.accounts import get_balance, get_pool, get_supply
from nnet.chain.block import process_block
from nnet.chain.governance import compute_voting_weight, get_proposal
from nnet.chain.params import get_param
from nnet.chain.state import State
from nnet.chain.types import Height, NodeRecord, Units
from nnet.encoding import UNIT
from nnet.errors import InvalidTx
from tests.chain.helpers import Account, ReplicatedChain, make_devnet, supply_accounted

MIN_DEPOSIT = 10 * UNIT
PARAMS = {
    "gov_min_deposit": MIN_DEPOSIT,
    "gov_min_propose_deposit": UNIT,  # below MIN_DEPOSIT: a proposal may wait in its deposit period
    "gov_deposit_epochs": 1,
    "gov_voting_epochs": 1,
}


class Chain(ReplicatedChain):
    """One sequencer's chain, built block by block, plus a replica re-executing every block."""

    def until_epoch_end(self, epoch: int) -> None:
        """Produce empty blocks until the last block of `epoch` is done."""
        while self.head.height < (epoch + 1) * self.net.params["epoch_blocks"] - 1:
            self.block()

    def receipt_error(self, who: Account, tx: Any) -> tuple[str, str]:
        """Try `tx` in a block; it must be left out, changing neither its sender nor governance.

        Returns (code, message) of the refusal."""
        watched = [
            f"account/{who.address}",
            "gov/next_id",
            *self.state.keys_with_prefix("proposal/"),
        ]
        before = {k: copy.deepcopy(self.state.get(k)) for k in watched}
        result = self.block(tx)
        assert not result.block.txs, "the transaction was included"
        ((_, err),) = result.rejected
        assert isinstance(err, InvalidTx)
        assert {k: self.state.get(k) for k in watched} == before, "a refused tx changed state"
        who.nonce -= 1  # the refused nonce is free again
        return err.code, err.message


@pytest.fixture
def chain() -> Chain:
    net = make_devnet(4, params=PARAMS)
    c = Chain(net)
    c.block(*[u.tx("stake", {"amount": str(100 * UNIT)}) for u in net.users[:3]])
    return c


def propose(who: Account, **body: Any) -> Any:
    return who.tx("gov.propose", {"title": "t", **body})


def vote(who: Account, pid: int, option: str) -> Any:
    return who.tx("gov.vote", {"proposal": pid, "option": option})


def test_two_yes_one_veto_passes_and_changes_the_param_once_at_the_stated_height(
    chain: Chain,
) -> None:
    a, b, c = chain.net.users[:3]
    old = get_param(chain.state, "unbonding_epochs")
    chain.block(
        propose(a, kind="param", key="unbonding_epochs", value="5", deposit=str(MIN_DEPOSIT))
    )
    p = get_proposal(chain.state, 1)
    assert p.status == "voting"
    chain.block(vote(a, 1, "yes"), vote(b, 1, "yes"), vote(c, 1, "veto"))
    end = p.voting_end_epoch
    effective = (end + 1) * chain.net.params["epoch_blocks"]
    # before the tally the old value holds, on both nodes
    while chain.head.height < effective - 1:
        assert get_param(chain.state, "unbonding_epochs") == old
        assert get_param(chain.replica, "unbonding_epochs") == old
        chain.block()
    p = get_proposal(chain.state, 1)
    assert p.status == "passed", p.tally
    assert p.effective_height == effective
    assert p.enforced == {"done": True, "param": "unbonding_epochs", "old": old, "new": 5}
    assert get_param(chain.state, "unbonding_epochs") == 5
    assert get_param(chain.replica, "unbonding_epochs") == 5
    # one veto of three equal stakes is 33.3 %: under the 33.4 % veto line
    assert p.tally is not None and p.tally.power["veto"] == 100 * UNIT
    assert p.deposit_outcome == "refunded"
    chain.until_epoch_end(end + 3)
    assert get_proposal(chain.state, 1).status == "passed"  # never tallied twice
    assert supply_accounted(chain.state) == get_supply(chain.state)


def test_veto_above_the_line_rejects_and_burns_the_deposit(chain: Chain) -> None:
    a, b, _, d = chain.net.users
    chain.block(d.tx("stake", {"amount": str(200 * UNIT)}))
    supply = get_supply(chain.state)
    chain.block(propose(a, kind="text", deposit=str(MIN_DEPOSIT)))
    chain.block(vote(a, 1, "yes"), vote(b, 1, "yes"), vote(d, 1, "veto"))
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    p = get_proposal(chain.state, 1)
    assert p.status == "vetoed" and p.deposit_outcome == "burned"
    assert get_supply(chain.state) == supply - MIN_DEPOSIT
    assert int(chain.state.get("burned")) == MIN_DEPOSIT
    assert supply_accounted(chain.state) == get_supply(chain.state)


def test_no_quorum_rejects(chain: Chain) -> None:
    a, _, _, d = chain.net.users
    chain.block(d.tx("stake", {"amount": str(900 * UNIT)}))
    chain.block(propose(a, kind="text", deposit=str(MIN_DEPOSIT)))
    chain.block(vote(a, 1, "yes"))  # 100 of 1,310 bonded: under 33.4 %
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    p = get_proposal(chain.state, 1)
    assert p.status == "rejected" and p.tally is not None and p.tally.reason == "quorum not reached"


def test_deposit_period_expiry_refunds_once(chain: Chain) -> None:
    a, b = chain.net.users[:2]
    chain.block(propose(a, kind="text", deposit=str(UNIT)))
    chain.block(b.tx("gov.deposit", {"proposal": 1, "amount": str(2 * UNIT)}))
    bal_a, bal_b = get_balance(chain.state, a.address), get_balance(chain.state, b.address)
    chain.until_epoch_end(get_proposal(chain.state, 1).deposit_end_epoch)
    assert get_proposal(chain.state, 1).status == "expired"
    assert get_balance(chain.state, a.address) == bal_a + UNIT
    assert get_balance(chain.state, b.address) == bal_b + 2 * UNIT
    code, _ = chain.receipt_error(b, b.tx("gov.deposit", {"proposal": 1, "amount": str(UNIT)}))
    assert code == "proposal_closed"
    chain.until_epoch_end(get_proposal(chain.state, 1).deposit_end_epoch + 2)
    assert get_balance(chain.state, b.address) == bal_b + 2 * UNIT  # refunded exactly once


def test_a_vote_can_change_until_the_end(chain: Chain) -> None:
    a, b, c = chain.net.users[:3]
    chain.block(propose(a, kind="text", deposit=str(MIN_DEPOSIT)))
    chain.block(vote(a, 1, "no"), vote(b, 1, "no"), vote(c, 1, "yes"))
    chain.block(vote(a, 1, "yes"))
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    assert get_proposal(chain.state, 1).status == "passed"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "param", "key": "unbonding_epochs", "value": "99999"}, "bad_param"),
        ({"kind": "param", "key": "no_such_param", "value": "1"}, "bad_param"),
        ({"kind": "param", "key": "gov_quorum_ppm", "value": "1000001"}, "bad_param"),
        (
            {
                "kind": "spend",
                "to": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                "amount": str(10**9 * UNIT),
            },
            "treasury_too_small",
        ),
        ({"kind": "param", "key": "min_fee"}, "bad_proposal"),
        ({"kind": "param", "key": "epoch_blocks", "value": "8"}, "bad_param"),
    ],
)
def test_bad_proposals_are_refused_without_state_change(
    chain: Chain, body: dict[str, Any], code: str
) -> None:
    a = chain.net.users[0]
    got, _ = chain.receipt_error(a, propose(a, **body))
    assert got == code


def test_vote_without_stake_and_after_the_period_are_refused(chain: Chain) -> None:
    a, _, _, d = chain.net.users
    chain.block(propose(a, kind="text", deposit=str(MIN_DEPOSIT)))
    code, msg = chain.receipt_error(d, vote(d, 1, "yes"))
    assert code == "no_stake" and "stake first" in msg
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    code, _ = chain.receipt_error(a, vote(a, 1, "no"))
    assert code == "voting_closed"
    code, _ = chain.receipt_error(a, vote(a, 7, "no"))
    assert code == "unknown_proposal"


def test_treasury_spend_pays_from_the_treasury(chain: Chain) -> None:
    a, b, c, d = chain.net.users
    treasury = get_pool(chain.state, "treasury")
    bal = get_balance(chain.state, d.address)
    chain.block(
        propose(a, kind="spend", to=d.address, amount=str(5 * UNIT), deposit=str(MIN_DEPOSIT))
    )
    chain.block(vote(a, 1, "yes"), vote(b, 1, "yes"), vote(c, 1, "abstain"))
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    assert (get_proposal(chain.state, 1).enforced or {})["done"] is True
    assert get_pool(chain.state, "treasury") == treasury - 5 * UNIT
    assert get_balance(chain.state, d.address) == bal + 5 * UNIT


def test_reputation_adds_weight_but_not_turnout() -> None:
    def node(reputation: int) -> dict[str, Any]:
        return NodeRecord(
            "gpu", "env", Units(0), Units(0), reputation, 0, 0, 0, 0, None, Height(1)
        ).to_state()

    state = State(
        {
            "stake/0xA": {"bonded": 100, "unbonding": []},
            "node/0xA": node(10_000),
            "total_bonded": 100,
        }
    )
    bonded, weight = compute_voting_weight(state, "0xA")
    assert bonded == 100 and weight == 120  # +20 % at full reputation by default
    state.put("node/0xA", node(5_000))
    assert compute_voting_weight(state, "0xA") == (100, 110)


def test_a_sequencer_change_hands_block_production_on_at_the_epoch_boundary(chain: Chain) -> None:
    from nnet.chain.block import build_block
    from nnet.errors import InvalidTx as BadBlock

    a, b, c, new = chain.net.users
    chain.block(propose(a, kind="sequencer", address=new.address, deposit=str(MIN_DEPOSIT)))
    chain.block(vote(a, 1, "yes"), vote(b, 1, "yes"), vote(c, 1, "yes"))
    chain.until_epoch_end(get_proposal(chain.state, 1).voting_end_epoch)
    p = get_proposal(chain.state, 1)
    assert p.status == "passed" and p.enforced == {"done": True, "sequencer": new.address}
    assert chain.state.get("chain/sequencer") == new.address
    assert chain.head.height + 1 == p.effective_height

    # the old sequencer's next block is refused by every node; the new sequencer's is accepted
    old = chain.net.sequencer
    stale = build_block(
        chain.state, chain.head, [], time_ms=0, proposer=old.address, secret=old.secret
    )
    chain.state.rollback()
    with pytest.raises(BadBlock, match="not the sequencer"):
        process_block(chain.replica, chain.replica_head, stale.block, sequencer=new.address)
    fresh = build_block(
        chain.state, chain.head, [], time_ms=0, proposer=new.address, secret=new.secret
    )
    chain.state.commit()
    process_block(
        chain.replica,
        chain.replica_head,
        fresh.block,
        sequencer=str(chain.replica.get("chain/sequencer")),
    )
    chain.replica.commit()
    assert fresh.block.header.proposer == new.address
