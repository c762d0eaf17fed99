"""What a proposal costs: a least deposit the proposer pays, and text bounded in bytes."""

from __future__ import annotations

from typing import Any

import pytest

from nnet.chain.accounts import get_balance
from nnet.chain.governance import MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES, get_proposal
from nnet.chain.params import PARAMS
from nnet.encoding import UNIT
from nnet.errors import InvalidTx
from tests.chain.helpers import ReplicatedChain, make_devnet

LEAST = PARAMS["gov_min_propose_deposit"].default


@pytest.fixture
def chain() -> ReplicatedChain:
    return ReplicatedChain(make_devnet(2, tag="gov-limits"))


def refused(chain: ReplicatedChain, tx: Any) -> InvalidTx:
    result = chain.block(tx)
    assert not result.block.txs and chain.state.get("gov/next_id") is None
    ((_, err),) = result.rejected
    chain.net.users[0].nonce -= 1
    assert isinstance(err, InvalidTx)
    return err


def propose(chain: ReplicatedChain, **body: Any) -> Any:
    return chain.net.users[0].tx("gov.propose", {"kind": "text", "title": "t", **body})


def test_the_least_deposit_is_a_default_parameter_and_the_proposer_pays_it(
    chain: ReplicatedChain,
) -> None:
    assert LEAST == 10 * UNIT
    assert refused(chain, propose(chain)).code == "deposit_too_low"
    err = refused(chain, propose(chain, deposit=str(LEAST - 1)))
    assert err.code == "deposit_too_low" and "10 NNET" in err.message
    a = chain.net.users[0]
    before = get_balance(chain.state, a.address)
    tx = propose(chain, deposit=str(LEAST))
    assert len(chain.block(tx).block.txs) == 1
    assert get_balance(chain.state, a.address) == before - LEAST - tx.fee
    assert get_proposal(chain.state, 1).deposits == {a.address: LEAST}


@pytest.mark.parametrize(
    ("field", "cap"), [("title", MAX_TITLE_BYTES), ("description", MAX_DESCRIPTION_BYTES)]
)
def test_text_fields_are_bounded_in_bytes(chain: ReplicatedChain, field: str, cap: int) -> None:
    # two-byte characters: under the schema's character count, over the byte cap
    over = "é" * (cap // 2) + "x"
    assert len(over.encode()) == cap + 1
    err = refused(chain, propose(chain, deposit=str(LEAST), **{field: over}))
    assert err.code == "text_too_long" and f"{cap + 1} bytes" in err.message
    at_cap = "é" * (cap // 2)
    assert len(chain.block(propose(chain, deposit=str(LEAST), **{field: at_cap})).block.txs) == 1
    assert getattr(get_proposal(chain.state, 1), field) == at_cap


def test_the_probes_ten_kilobyte_free_proposal_is_refused(chain: ReplicatedChain) -> None:
    err = refused(chain, propose(chain, description="x" * 10_000))
    assert err.code == "text_too_long"
