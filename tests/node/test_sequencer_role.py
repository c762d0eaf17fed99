"""A node produces blocks exactly while its key is the chain's current sequencer."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.errors import UsageError
from nnet.node.core import Node
from nnet.store.chaindb import ChainDB
from tests.chain.helpers import make_devnet


def test_the_role_follows_the_chain_state(tmp_path: Path) -> None:
    net = make_devnet(2)
    old, new = net.sequencer, net.users[0]
    first = Node(ChainDB(tmp_path / "a.db"), net.genesis, signer=old.secret)
    second = Node(ChainDB(tmp_path / "b.db"), net.genesis, signer=new.secret)
    assert first.is_sequencer and not second.is_sequencer
    first.produce_block(0)
    with pytest.raises(UsageError, match="only the sequencer"):
        second.produce_block(0)

    # what a passed `sequencer` proposal writes at an epoch end
    for node in (first, second):
        node.state.put("chain/sequencer", new.address)
        node.state.commit()
    assert not first.is_sequencer and second.is_sequencer
    assert first.status()["sequencer"] == new.address
    with pytest.raises(UsageError, match="only the sequencer"):
        first.produce_block(0)
