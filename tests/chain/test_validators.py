"""The validator set of a network chain (chain/validators.py): the genesis set, registration,
equivocation evidence, downtime jailing, and the epoch-boundary set update. Every block is built
by a proposer with real BLS keys and real certificates and re-executed by a replica
(tests/chain/network_helpers.py); supply is accounted to the unit after each block."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nnet.chain.accounts import get_stake, get_supply, get_total_bonded
from nnet.chain.block import compute_genesis_block
from nnet.chain.genesis import make_devnet_genesis, parse_genesis
from nnet.chain.keys import BURNED_KEY, VALIDATOR_LIST_KEY, param_key
from nnet.chain.params import NETWORK_PARAMS, PARAMS
from nnet.chain.validators import (
    ValidatorRecord,
    get_validator,
    get_validator_set,
    is_network,
    process_validator_set,
)
from nnet.encoding import UNIT
from nnet.errors import MalformedInput
from tests.chain.helpers import CHAIN, Account, account, make_devnet
from tests.chain.network_helpers import (
    EPOCH,
    WINDOW,
    NetworkChain,
    bls_key,
    make_network,
    pop,
    register_tx,
    stake_tx,
    validator_info,
    vote,
)


def record(c: NetworkChain, who: Account | str) -> ValidatorRecord:
    address = who if isinstance(who, str) else who.address
    found = get_validator(c.state, address)
    assert found is not None
    return found


# ---- genesis -----------------------------------------------------------------------------------
def _genesis_dict(stakes: dict[str, int], infos: list[dict[str, str]]) -> dict[str, Any]:
    first = min(stakes)
    raw = make_devnet_genesis(
        CHAIN, first, time_ms=0, validators=stakes, params={"epoch_blocks": EPOCH}
    ).to_dict()
    raw["validators"] = infos
    return raw


GEN = [account(f"genesis-validator-{i}") for i in range(3)]


def test_the_genesis_set_is_in_force_from_block_1_in_address_order() -> None:
    stakes = {GEN[0].address: 7 * UNIT + UNIT // 2, GEN[1].address: UNIT, GEN[2].address: 40 * UNIT}
    infos = [validator_info(v, f"http://127.0.0.1:{7001 + i}") for i, v in enumerate(GEN)]
    genesis = parse_genesis(_genesis_dict(stakes, infos[::-1]))  # listed in any order
    state, _, _ = compute_genesis_block(genesis)
    vset = get_validator_set(state)
    assert vset is not None and vset.since == 1 and is_network(state)
    ordered = sorted(GEN, key=lambda a: a.address.lower())
    assert [m.address for m in vset.members] == [a.address for a in ordered]
    assert vset.powers == {a.address: stakes[a.address] // UNIT for a in GEN}  # 7.5 NNET: 7
    assert [m.bls_key for m in vset.members] == [bls_key(a) for a in ordered]
    assert state.get(VALIDATOR_LIST_KEY) == [a.address for a in ordered]
    for i, v in enumerate(GEN):
        assert get_validator(state, v.address) == ValidatorRecord(
            "0x" + bls_key(v).hex(), f"http://127.0.0.1:{7001 + i}"
        )
    for name, spec in NETWORK_PARAMS.items():
        assert state.get(param_key(name)) == spec.default


def _mutated(mutate: Any) -> dict[str, Any]:
    stakes = {GEN[0].address: 5 * UNIT, GEN[1].address: 5 * UNIT}
    raw = _genesis_dict(stakes, [validator_info(GEN[0]), validator_info(GEN[1])])
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        # a proof of possession made by another key
        (lambda d: d["validators"][0].update(pop="0x" + pop(GEN[1]).hex()), "possession"),
        (lambda d: d["validators"][0].update(pop="0x" + "00" * 96), "possession"),
        (lambda d: d["validators"][0].update(pop="0x" + "00" * 95), "96 bytes"),
        # no stake, or less than one whole NNET
        (lambda d: d["validators"].append(validator_info(GEN[2])), "at least 1 NNET"),
        (lambda d: _move_stake(d, GEN[1].address, 4 * UNIT + 1), "at least 1 NNET"),
        # one key, one validator; one address, one entry
        (lambda d: d["validators"][1].update(bls_key=d["validators"][0]["bls_key"]), "repeats"),
        (lambda d: d["validators"].append(dict(d["validators"][0])), "repeats"),
        (lambda d: d["validators"][0].update(net="ftp://x"), "http"),
        (lambda d: d["validators"][0].pop("net"), "exactly address"),
        (lambda d: d.update(validators={}), "must be a list"),
    ],
)
def test_a_bad_genesis_validator_is_refused(mutate: Any, message: str) -> None:
    assert parse_genesis(_mutated(lambda d: None)).validators  # the unmutated one is fine
    with pytest.raises(MalformedInput, match=message):
        parse_genesis(_mutated(mutate))


def _move_stake(d: dict[str, Any], address: str, amount: int) -> None:
    """Move `amount` of `address`'s genesis stake back to the public pool (supply unchanged)."""
    d["stakes"][address] = str(int(d["stakes"][address]) - amount)
    d["pools"]["public"] = str(int(d["pools"]["public"]) + amount)


def test_exactly_one_nnet_is_enough_at_genesis() -> None:
    raw = _mutated(lambda d: _move_stake(d, GEN[1].address, 4 * UNIT))
    state, _, _ = compute_genesis_block(parse_genesis(raw))
    vset = get_validator_set(state)
    assert vset is not None and vset.powers[GEN[1].address] == 1


def test_a_genesis_without_validators_is_the_sequencer_chain_unchanged() -> None:
    state, _, _ = compute_genesis_block(make_devnet(2).genesis)
    assert not is_network(state) and get_validator_set(state) is None
    for name in NETWORK_PARAMS:
        assert state.get(param_key(name)) is None
    for name in set(PARAMS) - set(NETWORK_PARAMS):
        assert state.get(param_key(name)) is not None
    assert state.get(VALIDATOR_LIST_KEY) is None
    assert not [k for k in state.data if k.startswith(("validator", "valset"))]
    assert "validators" not in make_devnet(2).genesis.to_dict()


# ---- validator.register ------------------------------------------------------------------------
@pytest.fixture
def chain() -> NetworkChain:
    return NetworkChain(make_network(n_users=4, tag="validators"))


def test_registration_needs_one_whole_nnet_bonded(chain: NetworkChain) -> None:
    alice = chain.net.users[0]
    assert chain.refused(alice, register_tx(alice)).code == "not_staked"
    chain.included(alice.tx("stake", {"amount": str(UNIT - 1)}))
    assert chain.refused(alice, register_tx(alice)).code == "not_staked"
    chain.included(alice.tx("stake", {"amount": "1"}))  # exactly 1 NNET now
    chain.included(register_tx(alice))
    assert record(chain, alice) == ValidatorRecord(
        "0x" + bls_key(alice).hex(), "http://127.0.0.1:7100"
    )


def test_registration_needs_a_proof_of_possession(chain: NetworkChain) -> None:
    alice, bob = chain.net.users[:2]
    chain.included(stake_tx(alice, 5))
    stolen = register_tx(alice, pop="0x" + pop(bob).hex())  # bob's proof, alice's key
    assert chain.refused(alice, stolen).code == "bad_pop"
    # bob's key, which alice holds no secret for, without a proof she could make
    rogue = register_tx(alice, bls_key="0x" + bls_key(bob).hex(), pop="0x" + "00" * 96)
    assert chain.refused(alice, rogue).code == "bad_pop"
    assert get_validator(chain.state, alice.address) is None


def test_a_proof_of_possession_cannot_be_replayed_by_another_address(
    chain: NetworkChain,
) -> None:
    alice, bob = chain.net.users[:2]
    chain.included(stake_tx(alice, 5), stake_tx(bob, 5))
    seen = register_tx(bob)  # bob's registration, seen by alice before it is included
    front_run = register_tx(alice, bls_key=seen.body["bls_key"], pop=seen.body["pop"])
    assert chain.refused(alice, front_run).code == "bad_pop"
    chain.included(seen)


def test_a_bls_key_belongs_to_one_validator(chain: NetworkChain) -> None:
    alice = chain.net.users[0]
    v0 = chain.net.validators[0]
    chain.included(stake_tx(alice, 5))
    # a genesis validator's key and proof are public (the genesis file): copying them fails
    copied = register_tx(alice, bls_key="0x" + bls_key(v0).hex(), pop="0x" + pop(v0).hex())
    err = chain.refused(alice, copied)
    assert err.code == "bls_key_taken" and v0.address in err.message


def test_re_registering_may_change_the_net_only(chain: NetworkChain) -> None:
    alice, bob = chain.net.users[:2]
    chain.included(stake_tx(alice, 5))
    chain.included(register_tx(alice, net="http://127.0.0.1:7100"))
    chain.included(register_tx(alice, net="https://validator.example:443"))
    assert record(chain, alice).net == "https://validator.example:443"
    assert record(chain, alice).bls_key == "0x" + bls_key(alice).hex()
    another = register_tx(alice, bls_key="0x" + bls_key(bob).hex(), pop="0x" + pop(bob).hex())
    assert chain.refused(alice, another).code == "already_registered"
    # a genesis validator moves its node the same way
    v0 = chain.net.validators[0]
    chain.included(register_tx(v0, net="http://10.0.0.7:7001"))
    assert record(chain, v0).net == "http://10.0.0.7:7001"


@pytest.mark.parametrize("net", ["ftp://127.0.0.1:7100", "127.0.0.1:7100", "", "HTTP://x"])
def test_the_net_address_is_an_http_url(chain: NetworkChain, net: str) -> None:
    alice = chain.net.users[0]
    chain.included(stake_tx(alice, 5))
    assert chain.refused(alice, register_tx(alice, net=net)).code == "bad_net"


def test_a_new_validator_joins_at_the_next_epoch_boundary_not_before(chain: NetworkChain) -> None:
    alice = chain.net.users[0]
    genesis_members = chain.members(1)
    chain.until(1)
    chain.included(stake_tx(alice, 25), register_tx(alice))  # block 2, epoch 0
    for _ in range(2):  # blocks 3, 4: the set of epoch 0 still signs them
        chain.block()
        assert chain.members(chain.head.height) == genesis_members
    assert chain.head.height == EPOCH - 1  # the last block of epoch 0 recomputed the set
    vset = chain.set_at(EPOCH)
    assert vset.since == EPOCH and alice.address in vset.powers
    assert vset.powers[alice.address] == 25
    assert [m.address for m in chain.set_at(EPOCH - 1).members] == genesis_members
    assert get_validator_set(chain.replica) == vset
    # from block 5 alice signs and proposes (the helper signs with every member's real key)
    chain.until(EPOCH + len(vset.members))
    proposers = {chain.proposer_at(h) for h in range(EPOCH, EPOCH + len(vset.members))}
    assert alice.address in proposers
    assert chain.head.last_commit is not None


def test_the_set_is_the_top_max_validators_by_stake() -> None:
    c = NetworkChain(make_network(n_users=2, params={"max_validators": 4}, tag="top"))
    alice, bob = c.net.users
    weakest = min(c.set_at(1).members, key=lambda m: m.power)
    assert weakest.power == 20
    c.included(stake_tx(alice, 25), register_tx(alice), stake_tx(bob, 5), register_tx(bob))
    c.until(EPOCH - 1)
    vset = c.set_at(EPOCH)
    assert len(vset.members) == 4
    assert alice.address in vset.powers and bob.address not in vset.powers
    assert weakest.address not in vset.powers  # 20 NNET, outranked by alice's 25
    assert [m.address for m in vset.members] == sorted(vset.powers, key=str.lower)  # hex order


def test_a_tie_in_stake_goes_to_the_lower_address() -> None:
    c = NetworkChain(make_network(n_users=1, params={"max_validators": 4}, tag="tie"))
    (alice,) = c.net.users
    weakest = min(c.set_at(1).members, key=lambda m: m.power)
    c.included(stake_tx(alice, weakest.power), register_tx(alice))
    c.until(EPOCH - 1)
    winner = min(alice.address, weakest.address, key=str.lower)
    loser = max(alice.address, weakest.address, key=str.lower)
    vset = c.set_at(EPOCH)
    assert winner in vset.powers and loser not in vset.powers


def test_power_follows_bonded_stake_at_the_boundary(chain: NetworkChain) -> None:
    v = chain.net.validators[0]
    before = chain.set_at(1).powers[v.address]
    chain.included(v.tx("stake", {"amount": str(3 * UNIT + UNIT // 2)}))
    assert chain.set_at(chain.head.height + 1).powers[v.address] == before
    chain.until(EPOCH - 1)
    assert chain.set_at(EPOCH).powers[v.address] == before + 3  # whole NNET only


# ---- evidence ----------------------------------------------------------------------------------
EVIDENCE_AGE = 12


@pytest.fixture
def evchain() -> NetworkChain:
    net = make_network(n_users=2, params={"evidence_max_age": EVIDENCE_AGE}, tag="evidence")
    return NetworkChain(net)


A, B = b"\xaa" * 32, b"\xbb" * 32


def evidence(sender: Account, a: dict[str, Any], b: dict[str, Any]) -> Any:
    return sender.tx("evidence", {"a": a, "b": b})


def test_two_conflicting_votes_slash_and_tombstone(evchain: NetworkChain) -> None:
    c = evchain
    c.until(3)
    culprit = c.net.validators[1]
    reporter = c.net.users[0]
    state = c.state
    bonded = get_stake(state, culprit.address).bonded
    total, supply = get_total_bonded(state), get_supply(state)
    burned = int(state.get(BURNED_KEY) or 0)
    slash = bonded * NETWORK_PARAMS["double_sign_slash_ppm"].default // 1_000_000
    assert slash == 30 * UNIT // 20  # 5% of 30 NNET
    a, b = vote(culprit, A, height=2), vote(culprit, B, height=2)
    result = c.included(evidence(reporter, a, b))
    (event,) = [e for e in result.receipts[0]["events"] if e["type"] == "slash"]
    assert event == {
        "type": "slash",
        "reason": "double_sign",
        "address": culprit.address,
        "amount": str(slash),
        "height": 2,
        "round": 0,
    }
    assert get_stake(state, culprit.address).bonded == bonded - slash
    assert get_total_bonded(state) == total - slash
    assert get_supply(state) == supply - slash
    assert int(state.get(BURNED_KEY)) == burned + slash
    rec = record(c, culprit)
    assert rec.tombstoned and rec.jailed
    # once per validator: other conflicting votes of it are refused
    again = evidence(reporter, vote(culprit, A, height=3), vote(culprit, None, height=3))
    assert c.refused(reporter, again).code == "already_slashed"


def test_nil_and_prevotes_are_evidence_too(evchain: NetworkChain) -> None:
    c = evchain
    c.until(3)
    v0, v2 = c.net.validators[0], c.net.validators[2]
    reporter = c.net.users[0]
    c.included(evidence(reporter, vote(v0, A, height=1), vote(v0, None, height=1)))
    prevotes = [vote(v2, blk, height=2, round_=3, type_="prevote") for blk in (A, B)]
    c.included(evidence(reporter, *prevotes))
    assert record(c, v0).tombstoned and record(c, v2).tombstoned


def test_what_is_not_evidence_is_refused(evchain: NetworkChain) -> None:
    c = evchain
    c.until(3)
    culprit, other = c.net.validators[1], c.net.validators[2]
    reporter, outsider = c.net.users
    soon = c.head.height + 1  # the height of the block the evidence would be in

    def by(who: Account, block: bytes, **kw: Any) -> dict[str, Any]:
        return vote(who, block, **{"height": 2, **kw})

    a = by(culprit, A)
    cases: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
        (a, by(culprit, A), "bad_evidence", "same block"),
        (a, by(culprit, B, height=1), "bad_evidence", "different"),
        (a, by(culprit, B, round_=1), "bad_evidence", "different"),
        (a, by(culprit, B, type_="prevote"), "bad_evidence", "steps"),
        (a, by(culprit, B, signer=other), "bad_evidence", "does not verify"),
        (a, by(culprit, B, chain="nnet-other"), "bad_evidence", "does not verify"),
        (a, by(other, B), "bad_evidence", "different validators"),
        (by(culprit, A, height=soon), by(culprit, B, height=soon), "bad_evidence", "not yet"),
        (
            by(culprit, A, height=soon + 5),
            by(culprit, B, height=soon + 5),
            "bad_evidence",
            "not yet",
        ),
        (by(outsider, A), by(outsider, B), "not_validator", "not a registered validator"),
        ({**a, "extra": 1}, by(culprit, B), "bad_evidence", "exactly"),
        ({**a, "type": "commit"}, by(culprit, B), "bad_evidence", "prevote or precommit"),
        ({**a, "height": -1}, by(culprit, B), "bad_evidence", "non-negative"),
    ]
    for a, b, code, why in cases:
        err = c.refused(reporter, evidence(reporter, a, b))
        assert (err.code, why in err.message) == (code, True), (err.code, err.message, why)
    assert not record(c, culprit).tombstoned


def test_evidence_older_than_evidence_max_age_is_refused(evchain: NetworkChain) -> None:
    c = evchain
    culprit = c.net.validators[3]
    reporter = c.net.users[0]
    c.until(EVIDENCE_AGE + 1)  # the next block is EVIDENCE_AGE + 2: height 1 is too old
    old = evidence(reporter, vote(culprit, A, height=1), vote(culprit, B, height=1))
    assert c.refused(reporter, old).code == "evidence_too_old"
    # exactly evidence_max_age blocks old is still in time
    c.included(evidence(reporter, vote(culprit, A, height=2), vote(culprit, B, height=2)))
    assert record(c, culprit).tombstoned


def test_the_convicted_leave_at_the_next_boundary_and_never_come_back(
    evchain: NetworkChain,
) -> None:
    c = evchain
    culprit = c.net.validators[0]  # the strongest: 40 of 120
    reporter = c.net.users[0]
    c.until(1)
    c.included(evidence(reporter, vote(culprit, A, height=1), vote(culprit, B, height=1)))
    c.until(EPOCH - 2)
    assert culprit.address in c.members(EPOCH - 1)  # the set is fixed for the epoch
    c.block()  # the last block of epoch 0
    assert culprit.address not in c.members(EPOCH)
    assert c.set_at(EPOCH).total_power == 80
    assert c.refused(culprit, culprit.tx("validator.unjail", {})).code == "tombstoned"
    c.until(4 * EPOCH)
    assert c.refused(culprit, culprit.tx("validator.unjail", {})).code == "tombstoned"
    assert culprit.address not in c.members(c.head.height + 1)
    # staking more does not bring it back either
    c.included(stake_tx(culprit, 100))
    c.until(6 * EPOCH)
    assert culprit.address not in c.members(c.head.height + 1)


def test_the_set_never_becomes_empty(evchain: NetworkChain) -> None:
    c = evchain
    reporter = c.net.users[0]
    c.until(1)
    genesis_set = c.set_at(1)
    c.included(
        *[evidence(reporter, vote(v, A, height=1), vote(v, B, height=1)) for v in c.net.validators]
    )
    assert all(record(c, v).tombstoned for v in c.net.validators)
    c.until(3 * EPOCH)  # three boundaries: everyone is jailed, so the set stays as it was
    assert c.set_at(c.head.height + 1) == genesis_set
    # and process_validator_set alone, on a state where nobody is eligible, keeps it too
    state = copy.deepcopy(c.state)
    process_validator_set(state, 7)
    assert get_validator_set(state) == genesis_set


# ---- downtime ----------------------------------------------------------------------------------
@pytest.fixture
def downchain() -> NetworkChain:
    return NetworkChain(make_network(n_users=1, tag="downtime"))


def _without(c: NetworkChain, height: int, absent: str) -> list[str]:
    return [a for a in c.members(height) if a != absent]


def test_missing_more_than_the_share_of_a_window_jails_and_slashes(
    downchain: NetworkChain,
) -> None:
    c = downchain
    lazy = next(m for m in c.set_at(1).members if m.power == 20)
    honest = [v for v in c.net.validators if v.address != lazy.address]
    max_missed = WINDOW * NETWORK_PARAMS["downtime_max_missed_ppm"].default // 1_000_000
    assert max_missed == 5

    # window 1 (blocks 1..10): absent from exactly 5 certificates: not jailed; counter reset
    c.block()
    for h in range(2, WINDOW + 1):
        absent = h <= 1 + max_missed  # the certificates carried by blocks 2..6
        c.block(signers=_without(c, h - 1, lazy.address) if absent else None)
        if h < WINDOW:
            assert record(c, lazy.address).missed == min(h - 1, max_missed)
    assert record(c, lazy.address) == ValidatorRecord(
        record(c, lazy.address).bls_key, record(c, lazy.address).net
    )

    # window 2 (blocks 11..20): absent from 6 certificates: jailed at block 20, slashed
    bonded = get_stake(c.state, lazy.address).bonded
    supply = get_supply(c.state)
    for h in range(WINDOW + 1, 2 * WINDOW):
        absent = h <= WINDOW + max_missed + 1  # blocks 11..16 carry 6 certificates without it
        c.block(signers=_without(c, h - 1, lazy.address) if absent else None)
        assert record(c, lazy.address).jailed_until is None
    c.block()  # block 20: the window's end
    jailed = record(c, lazy.address)
    epoch = 2 * WINDOW // EPOCH
    assert jailed.jailed_until == epoch + 1 and jailed.missed == 0 and not jailed.tombstoned
    slash = bonded * NETWORK_PARAMS["downtime_slash_ppm"].default // 1_000_000
    assert slash > 0
    assert get_stake(c.state, lazy.address).bonded == bonded - slash
    assert get_supply(c.state) == supply - slash
    for v in honest:  # the validators that signed are never jailed
        assert record(c, v).jailed_until is None and record(c, v).missed == 0

    # it leaves the set at the next boundary (after block 24), not before
    boundary = (epoch + 1) * EPOCH
    c.until(boundary - 2)
    assert lazy.address in c.members(boundary - 1)
    unjail = c.net.validators[[v.address for v in c.net.validators].index(lazy.address)]
    assert c.refused(unjail, unjail.tx("validator.unjail", {})).code == "still_jailed"
    c.block()
    assert lazy.address not in c.members(boundary)

    # from epoch jailed_until it may unjail; it is back at the following boundary
    c.block()  # block 25, epoch 5
    assert c.head.height // EPOCH == jailed.jailed_until
    c.included(unjail.tx("validator.unjail", {}))
    assert record(c, lazy.address).jailed_until is None
    assert lazy.address not in c.members(c.head.height + 1)
    c.until(boundary + EPOCH - 1)
    assert lazy.address in c.members(boundary + EPOCH)
    assert c.set_at(boundary + EPOCH).powers[lazy.address] == (bonded - slash) // UNIT
    for v in honest:
        assert record(c, v).jailed_until is None


def test_unjail_needs_a_jailed_validator(downchain: NetworkChain) -> None:
    c = downchain
    (user,) = c.net.users
    v = c.net.validators[0]
    c.until(1)
    assert c.refused(user, user.tx("validator.unjail", {})).code == "not_validator"
    assert c.refused(v, v.tx("validator.unjail", {})).code == "not_jailed"


def test_validators_that_always_sign_are_never_jailed(downchain: NetworkChain) -> None:
    c = downchain
    c.until(3 * WINDOW + 1)
    for v in c.net.validators:
        assert record(c, v) == ValidatorRecord(record(c, v).bls_key, record(c, v).net)
    assert c.set_at(c.head.height + 1).members == c.set_at(1).members


def test_each_certificate_without_a_validator_counts_one_miss(downchain: NetworkChain) -> None:
    """Misses are counted from the certificate each header carries, for that validator only."""
    c = downchain
    lazy = next(m.address for m in c.set_at(1).members if m.power == 30)
    c.block()
    for h in range(2, 5):
        c.block(signers=_without(c, h - 1, lazy))
        assert record(c, lazy).missed == h - 1
    assert all(record(c, a).missed == 0 for a in c.members(1) if a != lazy)


def test_misses_from_before_leaving_the_set_do_not_count_after_rejoining() -> None:
    c = NetworkChain(make_network(n_users=1, params={"max_validators": 4}, tag="stale"))
    (rival,) = c.net.users
    weak = min(c.set_at(1).members, key=lambda m: m.power).address  # 20 NNET
    # window 2 (blocks 11..20): weak misses the certificates carried by blocks 11..15 (5: not
    # enough to be jailed), and a rival with more stake takes its seat from block 15
    c.until(WINDOW)
    c.included(stake_tx(rival, 25), register_tx(rival), signers=_without(c, WINDOW, weak))
    for h in range(WINDOW + 2, 3 * EPOCH + 1):  # blocks 12..15
        c.block(signers=_without(c, h - 1, weak))
    assert weak not in c.members(3 * EPOCH)
    assert record(c, weak).jailed_until is None  # 5 of 10 missed: not enough
    # the rival unstakes: weak is back in the set that signs blocks 20.. (certified in 21..)
    c.included(rival.tx("unstake", {"amount": str(25 * UNIT)}))
    c.until(4 * EPOCH - 1)
    assert weak in c.members(4 * EPOCH)
    c.until(2 * WINDOW)
    # window 3 (blocks 21..30): weak misses one certificate of ten
    c.block(signers=_without(c, 2 * WINDOW, weak))
    c.until(3 * WINDOW)
    assert record(c, weak).jailed_until is None, "jailed for 1 missed block of 10"


def test_a_sequencer_chain_refuses_validator_transactions() -> None:
    """Without a validator set nothing would ever read these records: refused, not stored."""
    from tests.chain.helpers import make_devnet

    net = make_devnet(n_users=2, tag="seq-refuses")
    state, head = net.fresh_state()
    alice, bob = net.users
    result = net.block(state, head, [register_tx(alice), bob.tx("validator.unjail", {})])
    assert not result.block.txs
    assert [e.code for _, e in result.rejected] == ["not_network", "not_network"]
    assert not state.keys_with_prefix("validator")


def test_a_registration_without_stake_leaves_the_candidate_list() -> None:
    c = NetworkChain(make_network(n_users=1, tag="prune"))
    (alice,) = c.net.users
    c.included(stake_tx(alice, 5), register_tx(alice))
    assert alice.address in c.state.get("validator_list")
    c.included(alice.tx("unstake", {"amount": str(5 * UNIT)}))
    c.until(EPOCH - 1)
    assert alice.address not in c.state.get("validator_list")  # pruned at the epoch's end
    c.included(stake_tx(alice, 5), register_tx(alice))  # staked again: a candidate again
    assert alice.address in c.state.get("validator_list")
