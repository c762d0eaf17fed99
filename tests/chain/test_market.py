"""The training marketplace on chain (issue 6): nodes, jobs, proofs, challenges, attestations.

Every block is re-executed by a replica (identical state roots) and checked for conservation of
supply to the base unit. Proof and attestation documents are small synthetic ones, signed with
the real document functions (no torch): the chain judges signatures, ids, hashes and Merkle paths,
not training.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nnet.chain.accounts import get_balance, get_pool, get_supply
from nnet.chain.block import compute_beacon_output
from nnet.chain.epoch import is_epoch_end
from nnet.chain.market import (
    compute_challenge_seed,
    compute_proof_hash,
    get_challenge,
    get_required_openings,
    make_contribution,
)
from nnet.chain.params import get_param
from nnet.cid import compute_cid
from nnet.crypto import keccak256
from nnet.encoding import UNIT
from nnet.errors import InvalidTx, MalformedInput
from nnet.proof.challenge import compute_challenge
from nnet.proof.commitment import make_attestation
from nnet.proof.document import sign_document
from nnet.proof.merkle import compute_merkle_root
from nnet.tx import build_tx
from tests.chain.helpers import (
    CHAIN,
    FREE,
    Account,
    ReplicatedChain,
    make_devnet,
)

EPOCH = 8
PARAMS = {
    "epoch_blocks": EPOCH,
    "market_proof_epochs": 1,
    "market_open_epochs": 1,
    "market_attest_epochs": 2,
    "market_min_job_collateral": UNIT,
    **FREE,  # the payouts below are checked to the unit: no transaction fees to subtract
}
FEE = 10 * UNIT
COLLATERAL = 100 * UNIT
ENV = "cpu/linux/x86_64/GenuineIntel/AVX2/torch-2.13.0+cpu/t1"
OTHER_ENV = "cuda/sm80/cuda-12.4/cudnn-90100/torch-2.13.0+cu124"
SPEC_HASH = "0x" + keccak256(b"spec").hex()
DATASET = compute_cid(b"dataset bytes")
SPEC_CID = compute_cid(b"spec toml")
N_CHECKPOINTS = 9
LEAVES = [keccak256(f"leaf {i}".encode()) for i in range(N_CHECKPOINTS)]
WORK = 1000  # steps x batch size, declared at job.submit


def job_leaves(job_id: int) -> list[bytes]:
    """The committed leaves of job `job_id` (every run has its own root: a root is paid once)."""
    if job_id == 1:
        return LEAVES
    return [keccak256(f"job {job_id} leaf {i}".encode()) for i in range(N_CHECKPOINTS)]


class Chain(ReplicatedChain):
    """A sequencer's chain plus a replica re-executing each block; conservation after each."""

    def block_mid_epoch(self, *txs: Any) -> Any:
        """A block that is not the last of its epoch (no epoch-end steps mixed into deltas)."""
        while is_epoch_end(self.state, self.head.height + 1):
            self.block()
        return self.block(*txs)

    def until_epoch_end(self, epoch: int) -> None:
        while self.head.height < (epoch + 1) * EPOCH - 1:
            self.block()

    @property
    def epoch(self) -> int:
        return self.head.height // EPOCH

    def job(self, job_id: int = 1) -> dict[str, Any]:
        return dict(self.state.get(f"job/{job_id}"))

    def node(self, address: str) -> dict[str, Any]:
        return dict(self.state.get(f"node/{address}"))

    def refused(self, who: Account, tx: Any) -> tuple[str, str]:
        """`tx` is left out of a block and changes nothing; returns (code, message)."""
        watched = [
            f"account/{who.address}",
            "market/next_job",
            "market/pending",
            "pool/treasury",
            "supply",
            *self.state.keys_with_prefix("job/"),
            *self.state.keys_with_prefix("node/"),
            *self.state.keys_with_prefix("proof/"),
        ]
        while is_epoch_end(self.state, self.head.height + 1):
            self.block()  # the epoch-end steps are no part of what the refused tx changed
        before = {k: copy.deepcopy(self.state.get(k)) for k in watched}
        result = self.block(tx)
        assert not result.block.txs, "the transaction was included"
        ((_, err),) = result.rejected
        assert isinstance(err, InvalidTx)
        assert {k: self.state.get(k) for k in watched} == before, "a refused tx changed state"
        who.nonce -= 1
        return err.code, err.message


@pytest.fixture
def chain() -> Chain:
    net = make_devnet(6, params=PARAMS, tag="market")
    c = Chain(net)
    _, prover, *verifiers, _ = net.users
    c.block(*[register(a) for a in (prover, *verifiers)])
    return c


def roles(c: Chain) -> tuple[Account, Account, list[Account], Account]:
    """submitter, prover, three verifier nodes, an outsider (not a node)."""
    s, p, v1, v2, v3, x = c.net.users
    return s, p, [v1, v2, v3], x


def register(who: Account, collateral: int = COLLATERAL, env: str = ENV) -> Any:
    return who.tx("node.register", {"gpu": "H100", "env": env, "collateral": str(collateral)})


def submit(
    who: Account,
    *,
    fee: int = FEE,
    verifiers: int = 3,
    deadline: int = 2,
    mode: str = "exact",
    checkpoints: int = N_CHECKPOINTS,
    work: int | None = None,
) -> Any:
    body = {
        "spec_cid": SPEC_CID,
        "spec_hash": SPEC_HASH,
        "dataset_cid": DATASET,
        "fee": str(fee),
        "verifiers": verifiers,
        "deadline_epochs": deadline,
        "checkpoints": checkpoints,
        "mode": mode,
        "work": WORK if work is None else work,
    }
    return who.tx("job.submit", body)


def proof_doc(prover: Account, job_id: int = 1, **over: Any) -> dict[str, Any]:
    doc = {
        "kind": "nnet.proof",
        "v": 2,
        "job": str(job_id),
        "spec": SPEC_HASH,
        "dataset": DATASET,
        "init": "0x" + job_leaves(job_id)[0].hex(),
        "root": "0x" + compute_merkle_root(job_leaves(job_id)).hex(),
        "checkpoints": N_CHECKPOINTS,
        "trace": compute_cid(b"trace"),
        "final": "0x" + keccak256(b"final").hex(),
        "metrics": {},
        "env": ENV,
        "mode": "exact",
        **over,
    }
    return sign_document(doc, prover.secret, "prover")


def openings(indices: list[int], leaves: list[bytes] = LEAVES) -> list[dict[str, Any]]:
    """proof.open's {index, cid} list (the verifiers match each blob to the committed trace)."""
    return [{"index": i, "cid": compute_cid(b"checkpoint %d " % i + leaves[i])} for i in indices]


def attest(c: Chain, who: Account, verdict: str = "accept", work: int | None = None) -> Any:
    """An attestation; `work` is an inflated figure a verifier may report, which the chain
    ignores (verified work comes from the job)."""
    job = c.job()
    proof = c.state.get("proof/1")["doc"]
    reasons = [] if verdict == "accept" else [f"{verdict}: segment 3 does not reproduce"]
    report: dict[str, Any] = {} if work is None else {"work": work}
    doc = make_attestation(
        proof,
        reasons=reasons,
        challenge=job["challenge"],
        report=report,
        secret=who.secret,
        unavailable=verdict == "unavailable",
    )
    return who.tx("proof.attest", {"job": 1, "attestation": doc})


def contribute(c: Chain, job_id: int = 1) -> None:
    """Every drawn verifier adds its randomness (proof.seed); the last one fixes the challenge."""
    job = c.job(job_id)
    proof_hash = c.state.get(f"proof/{job_id}")["hash"]
    for v in by_address(c, job["drawn"]):
        body = {"job": job_id, **make_contribution(v.secret, job_id, proof_hash)}
        c.block_mid_epoch(v.tx("proof.seed", body))


def by_address(c: Chain, addresses: list[str]) -> list[Account]:
    users = {u.address: u for u in c.net.users}
    return [users[a] for a in addresses]


def to_opened(c: Chain, verifiers: int = 3) -> tuple[Account, Account, list[Account]]:
    """Submit, claim, prove, (challenge), open; returns submitter, prover, drawn verifiers."""
    s, p, _, _ = roles(c)
    c.block(submit(s, verifiers=verifiers))
    c.block(p.tx("job.claim", {"job": 1}))
    c.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    c.block_mid_epoch()  # the verifiers are drawn at the start of this block
    contribute(c)  # ... and the challenge is fixed once each has added its randomness
    c.block_mid_epoch(
        p.tx("proof.open", {"job": 1, "openings": openings(c.job()["challenge"]["openings"])})
    )
    assert c.job()["status"] == "opened"
    return s, p, by_address(c, c.job()["drawn"])


# ---- the honest flow ---------------------------------------------------------------------------
def test_honest_flow_pays_node_verifiers_and_treasury_exactly(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    before_s = get_balance(chain.state, s.address)
    chain.block(submit(s))
    assert get_balance(chain.state, s.address) == before_s - FEE
    assert chain.job()["status"] == "open" and chain.job()["escrow"] == FEE
    chain.block(p.tx("job.claim", {"job": 1}))
    assert chain.node(p.address)["locked"] == FEE  # market_job_collateral_ppm = 100 %
    doc = proof_doc(p)
    included = chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": doc}))
    assert chain.job()["status"] == "proved" and get_challenge(chain.state, 1) is None
    chain.block_mid_epoch()
    # the verifiers are drawn by keccak(beacon of the next block ‖ proof hash) ...
    job = chain.job()
    assert job["status"] == "drawn" and get_challenge(chain.state, 1) is None
    beacon = compute_beacon_output(chain.head)
    draw_seed = keccak256(beacon + bytes.fromhex(compute_proof_hash(doc)[2:]))
    assert job["draw_seed"] == "0x" + draw_seed.hex()
    assert included.block.header.height + 1 == chain.head.height
    # ... and the challenge is fixed once every one of them has added its own VRF randomness
    contribute(chain)
    fixed = get_challenge(chain.state, 1)
    assert fixed is not None
    challenge = fixed.to_state()
    assert challenge is not None
    given = chain.job()["contributions"]
    parts = [bytes.fromhex(given[v][2:]) for v in chain.job()["drawn"]]
    seed = compute_challenge_seed(draw_seed, parts)
    assert challenge["seed"] == "0x" + seed.hex()
    n = N_CHECKPOINTS - 1
    q = chain.job()["q"]
    assert q == n  # 8 segments: a single faked one must be caught, so all are replayed
    assert challenge["segments"] == sorted(set(compute_challenge(seed, n, q)) | {n - 1})
    want = sorted({0} | set(challenge["segments"]) | {s + 1 for s in challenge["segments"]})
    assert get_required_openings(chain.state, 1) == want
    assert chain.replica.get("job/1") == chain.state.get("job/1")
    job = chain.job()
    assert job["status"] == "challenged"
    assert sorted(job["drawn"]) == sorted(v.address for v in vs)  # never the prover
    chain.block_mid_epoch(p.tx("proof.open", {"job": 1, "openings": openings(want)}))
    drawn = by_address(chain, chain.job()["drawn"])
    chain.block_mid_epoch(attest(chain, drawn[0], work=10**9))  # an inflated report, ignored
    assert chain.job()["status"] == "opened"  # one of three is no majority yet
    balances = {a.address: get_balance(chain.state, a.address) for a in (p, *drawn)}
    treasury = get_pool(chain.state, "treasury")
    chain.block_mid_epoch(attest(chain, drawn[1], work=1))
    job = chain.job()
    assert job["status"] == "accepted" and job["escrow"] == 0
    protocol = FEE * get_param(chain.state, "market_protocol_fee_ppm") // 1_000_000
    verifier_pool = FEE * get_param(chain.state, "market_verifier_fee_ppm") // 1_000_000
    assert get_pool(chain.state, "treasury") - treasury == protocol
    paid_p = get_balance(chain.state, p.address) - balances[p.address]
    assert paid_p == FEE - protocol - verifier_pool
    for v in drawn[:2]:
        assert get_balance(chain.state, v.address) - balances[v.address] == verifier_pool // 2
    assert get_balance(chain.state, drawn[2].address) == balances[drawn[2].address]
    node = chain.node(p.address)
    assert node["locked"] == 0 and node["collateral"] == COLLATERAL
    assert node["reputation"] == 5_000 + get_param(chain.state, "market_reputation_gain")
    assert node["proofs_ok"] == 1 and node["verified_work"] == WORK  # the job's, not a report
    assert chain.state.get(f"epoch_work/{chain.epoch}") == {
        "demand": FEE,
        "compute": {p.address: 1000},
    }
    # double settlement: the third verifier's attestation finds the job settled
    code, msg = chain.refused(drawn[2], attest(chain, drawn[2]))
    assert code == "job_settled" and "accepted" in msg
    # the epoch end hands the verified work to the tokenomics and counts the node active
    chain.until_epoch_end(chain.epoch)
    assert chain.state.get("active_nodes") == 1
    assert chain.job()["settlement"]["to_node"] == str(paid_p)
    # its attestation deadline passing later settles nothing again
    settled, balance = chain.job(), get_balance(chain.state, p.address)
    chain.until_epoch_end(settled["attest_deadline"] + 1)
    assert chain.job() == settled and get_balance(chain.state, p.address) == balance


def test_verifiers_are_a_weighted_subset_never_the_prover_or_submitter(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    chain.block(register(s))  # the submitter is a node too: still never drawn for its own job
    chain.block(submit(s, verifiers=2))
    chain.block(p.tx("job.claim", {"job": 1}))
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    chain.block_mid_epoch()
    drawn = chain.job()["drawn"]
    assert len(drawn) == 2 and len(set(drawn)) == 2
    assert set(drawn) <= {v.address for v in vs}


def test_exact_mode_draws_only_from_a_real_pool_of_the_provers_class(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    # re-register two verifiers with another environment class: one node is left in the
    # prover's class, which is no pool (market_min_class_pool = 3): no draw, refunded
    chain.block(
        *[
            v.tx("node.register", {"gpu": "A100", "env": OTHER_ENV, "collateral": "0"})
            for v in vs[:2]
        ]
    )
    chain.block(submit(s, verifiers=3))
    chain.block(p.tx("job.claim", {"job": 1}))
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    chain.block_mid_epoch()
    job = chain.job()
    assert job["drawn"] == [] and job["status"] == "refunded"
    assert job["settlement"]["reason"].startswith("no verifier pool for class " + ENV)


def test_no_eligible_verifier_refunds_at_once(chain: Chain) -> None:
    s, p, _, _ = roles(chain)
    chain.block(submit(s))
    chain.block(p.tx("job.claim", {"job": 1}))
    before = get_balance(chain.state, s.address)
    doc = proof_doc(p, env=OTHER_ENV)  # nobody else is of this class
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": doc}))
    chain.block_mid_epoch()
    job = chain.job()
    assert job["status"] == "refunded" and "no verifier pool" in job["settlement"]["reason"]
    assert get_balance(chain.state, s.address) == before + FEE
    assert chain.node(p.address)["locked"] == 0
    assert chain.node(p.address)["reputation"] == 5_000


# ---- the cheating flow -------------------------------------------------------------------------
def test_rejection_slashes_pays_the_catchers_refunds_the_submitter(chain: Chain) -> None:
    s, p, drawn = to_opened(chain)
    chain.block_mid_epoch(attest(chain, drawn[0], "accept"))  # one verifier is fooled
    chain.block_mid_epoch(attest(chain, drawn[1], "reject"))
    before = {a.address: get_balance(chain.state, a.address) for a in (s, p, *drawn)}
    treasury, supply = get_pool(chain.state, "treasury"), get_supply(chain.state)
    rep = {v.address: chain.node(v.address)["reputation"] for v in drawn}
    chain.block_mid_epoch(attest(chain, drawn[2], "reject"))
    job = chain.job()
    assert job["status"] == "rejected"
    collateral = job["collateral"]
    slashed = collateral * get_param(chain.state, "market_slash_ppm") // 1_000_000
    to_verifiers = slashed * get_param(chain.state, "slash_verifier_share") // 10**9
    rest = slashed - to_verifiers
    burned = rest * get_param(chain.state, "slash_burn_share") // 10**9
    assert job["settlement"]["slashed"] == str(slashed)
    assert get_balance(chain.state, s.address) - before[s.address] == FEE
    assert get_balance(chain.state, p.address) == before[p.address]
    node = chain.node(p.address)
    assert node["collateral"] == COLLATERAL - slashed and node["locked"] == 0
    assert node["reputation"] == 5_000 - get_param(chain.state, "market_reputation_penalty")
    assert node["proofs_rejected"] == 1
    gained = [get_balance(chain.state, v.address) - before[v.address] for v in drawn]
    assert gained[0] == 0 and sum(gained) == to_verifiers  # only those who caught it
    assert abs(gained[1] - gained[2]) <= 1
    assert get_supply(chain.state) == supply - burned
    assert get_pool(chain.state, "treasury") - treasury == rest - burned
    assert chain.node(drawn[0].address)["reputation"] < rep[drawn[0].address]
    assert chain.node(drawn[1].address)["reputation"] > rep[drawn[1].address]
    assert chain.state.get(f"epoch_work/{chain.epoch}") is None  # nothing verified


# ---- bad input and faults: each refused with its code, nothing changed -------------------------
def test_malformed_cid_is_refused_before_the_chain(chain: Chain) -> None:
    s = roles(chain)[0]
    body = {
        "spec_cid": SPEC_CID,
        "spec_hash": SPEC_HASH,
        "dataset_cid": "bafkreinotacid",
        "fee": str(FEE),
        "verifiers": 1,
        "deadline_epochs": 1,
    }
    with pytest.raises(MalformedInput, match="dataset_cid"):
        build_tx(CHAIN, "job.submit", s.address, 0, 0, body)


def test_job_submit_limits(chain: Chain) -> None:
    s = roles(chain)[0]
    assert chain.refused(s, submit(s, verifiers=0))[0] == "bad_job"
    assert chain.refused(s, submit(s, verifiers=99))[0] == "bad_job"
    assert chain.refused(s, submit(s, fee=10**9 * UNIT))[0] == "insufficient_funds"


def test_claim_without_enough_collateral(chain: Chain) -> None:
    s, p, _, x = roles(chain)
    chain.block(submit(s, fee=200 * UNIT))  # needs 200 NNET of collateral; the node has 100
    code, msg = chain.refused(p, p.tx("job.claim", {"job": 1}))
    assert code == "insufficient_collateral" and "needs" in msg
    assert chain.refused(x, x.tx("job.claim", {"job": 1}))[0] == "not_a_node"
    chain.block(register(s))
    assert chain.refused(s, s.tx("job.claim", {"job": 1}))[0] == "own_job"
    chain.block(register(p, 150 * UNIT))  # re-registering adds collateral
    chain.block(p.tx("job.claim", {"job": 1}))
    assert chain.node(p.address)["locked"] == 200 * UNIT
    _, _, vs, _ = roles(chain)
    assert chain.refused(vs[0], vs[0].tx("job.claim", {"job": 1}))[0] == "job_taken"
    # locked collateral cannot be withdrawn; free collateral can
    assert chain.refused(p, p.tx("node.withdraw", {"amount": str(51 * UNIT)}))[0] == (
        "insufficient_collateral"
    )
    before = get_balance(chain.state, p.address)
    chain.block(p.tx("node.withdraw", {"amount": str(50 * UNIT)}))
    assert get_balance(chain.state, p.address) == before + 50 * UNIT


def test_proof_for_a_job_claimed_by_someone_else_or_for_another_job(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    chain.block(submit(s), submit(s))
    chain.block(p.tx("job.claim", {"job": 1}))
    v = vs[0]
    code, msg = chain.refused(v, v.tx("proof.submit", {"job": 1, "proof": proof_doc(v)}))
    assert code == "not_assignee" and p.address in msg
    # the assignee's proof for job 2 sent as job 1's, another spec, another dataset
    for bad in (
        proof_doc(p, job_id=2),
        proof_doc(p, spec="0x" + "11" * 32),
        proof_doc(p, dataset=compute_cid(b"other data")),
    ):
        code, msg = chain.refused(p, p.tx("proof.submit", {"job": 1, "proof": bad}))
        assert code == "wrong_job" and "proof for another job" in msg
    # signed by someone else, or tampered after signing
    code, _ = chain.refused(p, p.tx("proof.submit", {"job": 1, "proof": proof_doc(v)}))
    assert code == "bad_proof"
    tampered = {**proof_doc(p), "checkpoints": 3}
    assert chain.refused(p, p.tx("proof.submit", {"job": 1, "proof": tampered}))[0] == "bad_proof"
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    chain.block_mid_epoch()  # the challenge (a state change of its own) is fixed here
    again = p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)})
    assert chain.refused(p, again)[0] == "already_proved"


def test_ill_typed_proof_fields_are_refused_at_submit(chain: Chain) -> None:
    """Fields a verifier relies on, ill-typed, are refused on chain, so no verifier can be made
    to crash (a crash means no attestation, and that would refund a cheat instead of slashing)."""
    s, p, _, _ = roles(chain)
    chain.block(submit(s))
    chain.block(p.tx("job.claim", {"job": 1}))
    for over in (
        {"metrics": {"heldout_correct": "seventy-nine"}},
        {"metrics": "high"},
        {"init": 0},
        {"final": "0x1234"},
        {"mode": "lenient"},
        {"dataset": "not-a-cid"},
    ):
        code, msg = chain.refused(
            p, p.tx("proof.submit", {"job": 1, "proof": proof_doc(p, **over)})
        )
        assert code == "bad_proof", (over, code, msg)
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    assert chain.job()["status"] == "proved"


def test_openings_must_match_the_challenge_and_the_root(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    chain.block(submit(s))
    chain.block(p.tx("job.claim", {"job": 1}))
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    chain.block_mid_epoch()
    early = p.tx("proof.open", {"job": 1, "openings": openings([0])})
    assert chain.refused(p, early)[0] == "not_challenged"  # the verifiers have not all spoken
    contribute(chain)
    want = chain.job()["challenge"]["openings"]
    short = p.tx("proof.open", {"job": 1, "openings": openings(want[:-1])})
    assert chain.refused(p, short)[0] == "bad_opening"
    twice = p.tx("proof.open", {"job": 1, "openings": openings([*want[:-1], want[0]])})
    assert chain.refused(p, twice)[0] == "bad_opening"
    with pytest.raises(MalformedInput):  # the old shape, with Merkle paths, is not an opening
        p.tx("proof.open", {"job": 1, "openings": [{**openings(want)[0], "path": []}]})
    p.nonce -= 1
    other = vs[0].tx("proof.open", {"job": 1, "openings": openings(want)})
    assert chain.refused(vs[0], other)[0] == "not_assignee"
    # attestations before the openings are refused too
    drawn = by_address(chain, chain.job()["drawn"])
    assert chain.refused(drawn[0], attest(chain, drawn[0]))[0] == "not_opened"


def test_attestation_rules(chain: Chain) -> None:
    _, p, drawn = to_opened(chain, verifiers=2)
    _, _, vs, x = roles(chain)
    undrawn = next(v for v in vs if v not in drawn)
    code, _ = chain.refused(undrawn, attest(chain, undrawn))
    assert code == "not_drawn"
    assert chain.refused(x, attest(chain, x))[0] == "not_drawn"
    assert chain.refused(p, attest(chain, p))[0] == "not_drawn"
    v = drawn[0]
    proof = chain.state.get("proof/1")["doc"]
    wrong_seed = make_attestation(
        proof, reasons=[], challenge={"seed": "0x" + "22" * 32}, report={}, secret=v.secret
    )
    tx = v.tx("proof.attest", {"job": 1, "attestation": wrong_seed})
    assert chain.refused(v, tx)[0] == "wrong_challenge"
    other_proof = make_attestation(
        proof_doc(p, metrics={"x": 1}),
        reasons=[],
        challenge=chain.job()["challenge"],
        report={},
        secret=v.secret,
    )
    tx = v.tx("proof.attest", {"job": 1, "attestation": other_proof})
    assert chain.refused(v, tx)[0] == "wrong_proof"
    forged = make_attestation(
        proof, reasons=[], challenge=chain.job()["challenge"], report={}, secret=undrawn.secret
    )
    tx = v.tx("proof.attest", {"job": 1, "attestation": forged})
    assert chain.refused(v, tx)[0] == "bad_attestation"
    chain.block_mid_epoch(attest(chain, v))
    assert chain.refused(v, attest(chain, v))[0] == "already_attested"


def test_cancel_rules(chain: Chain) -> None:
    s, p, _, x = roles(chain)
    chain.block(submit(s), submit(s))
    assert chain.refused(x, x.tx("job.cancel", {"job": 1}))[0] == "not_submitter"
    before = get_balance(chain.state, s.address)
    chain.block(s.tx("job.cancel", {"job": 1}))
    assert chain.job(1)["status"] == "cancelled"
    assert get_balance(chain.state, s.address) == before + FEE
    assert chain.refused(s, s.tx("job.cancel", {"job": 1}))[0] == "job_settled"
    chain.block(p.tx("job.claim", {"job": 2}))
    assert chain.refused(s, s.tx("job.cancel", {"job": 2}))[0] == "not_cancellable"
    assert chain.refused(s, s.tx("job.cancel", {"job": 9}))[0] == "unknown_job"


# ---- deadlines: every one has an outcome, no escrow stuck --------------------------------------
def test_unclaimed_job_expires_with_a_refund(chain: Chain) -> None:
    s = roles(chain)[0]
    before = get_balance(chain.state, s.address)
    chain.block(submit(s, deadline=1))
    deadline = chain.job()["claim_deadline"]
    chain.until_epoch_end(deadline - 1)
    assert chain.job()["status"] == "open"
    chain.until_epoch_end(deadline)
    job = chain.job()
    assert job["status"] == "expired" and job["escrow"] == 0
    assert get_balance(chain.state, s.address) == before
    assert chain.state.get(f"job_due/{deadline}") is None


def test_missed_proof_reopens_then_expires_with_small_slashes(chain: Chain) -> None:
    s, p, vs, _ = roles(chain)
    before = get_balance(chain.state, s.address)
    chain.block(submit(s, deadline=2))
    chain.block(p.tx("job.claim", {"job": 1}))
    proof_deadline = chain.job()["proof_deadline"]
    chain.until_epoch_end(proof_deadline)
    job = chain.job()
    assert job["status"] == "open" and job["assignee"] is None  # back on the market
    miss = FEE * get_param(chain.state, "market_miss_slash_ppm") // 1_000_000
    node = chain.node(p.address)
    assert node["collateral"] == COLLATERAL - miss and node["locked"] == 0
    assert node["reputation"] == 5_000 - get_param(chain.state, "market_miss_reputation_penalty")
    assert job["missed"][0]["node"] == p.address
    # a second node claims, misses too; now the claim deadline is reached: expired, refunded
    v = vs[0]
    chain.block(v.tx("job.claim", {"job": 1}))
    assert chain.job()["proof_deadline"] >= chain.job()["claim_deadline"]
    chain.until_epoch_end(chain.job()["proof_deadline"])
    job = chain.job()
    assert job["status"] == "expired" and "no proof" in job["settlement"]["reason"]
    assert get_balance(chain.state, s.address) == before
    assert chain.node(v.address)["collateral"] == COLLATERAL - miss
    late = v.tx("proof.submit", {"job": 1, "proof": proof_doc(v)})
    assert chain.refused(v, late)[0] == "job_settled"


def test_no_openings_by_the_deadline_is_a_rejection(chain: Chain) -> None:
    s, p, _, _ = roles(chain)
    chain.block(submit(s))
    chain.block(p.tx("job.claim", {"job": 1}))
    chain.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": proof_doc(p)}))
    chain.block_mid_epoch()
    contribute(chain)
    before = get_balance(chain.state, s.address)
    chain.until_epoch_end(chain.job()["open_deadline"])
    job = chain.job()
    assert job["status"] == "rejected" and "no openings" in job["settlement"]["reason"]
    assert job["settlement"]["to_verifiers"] == {}  # nobody caught anything
    assert get_balance(chain.state, s.address) == before + FEE
    assert chain.node(p.address)["collateral"] == COLLATERAL - FEE  # the whole job collateral
    # a late opening is refused: the job is settled
    late = p.tx("proof.open", {"job": 1, "openings": openings(job["challenge"]["openings"])})
    code, msg = chain.refused(p, late)
    assert code == "job_settled" and "no openings by the opening deadline" in msg


def test_no_attestation_by_the_deadline_refunds_and_cuts_absent_verifiers(chain: Chain) -> None:
    s, p, drawn = to_opened(chain)
    before = get_balance(chain.state, s.address)
    rep = {v.address: chain.node(v.address)["reputation"] for v in drawn}
    chain.until_epoch_end(chain.job()["attest_deadline"])
    job = chain.job()
    assert job["status"] == "refunded" and "no attestation" in job["settlement"]["reason"]
    assert get_balance(chain.state, s.address) == before + FEE
    node = chain.node(p.address)
    assert node["locked"] == 0 and node["collateral"] == COLLATERAL
    assert node["reputation"] == 5_000
    penalty = get_param(chain.state, "market_miss_reputation_penalty")
    for v in drawn:
        assert chain.node(v.address)["reputation"] == rep[v.address] - penalty


def test_at_the_deadline_the_attesters_majority_decides(chain: Chain) -> None:
    _, p, drawn = to_opened(chain)
    chain.block_mid_epoch(attest(chain, drawn[0], "accept"))
    assert chain.job()["status"] == "opened"
    before = get_balance(chain.state, p.address)
    chain.until_epoch_end(chain.job()["attest_deadline"])
    job = chain.job()
    assert job["status"] == "accepted"
    protocol = FEE * get_param(chain.state, "market_protocol_fee_ppm") // 1_000_000
    verifier_pool = FEE * get_param(chain.state, "market_verifier_fee_ppm") // 1_000_000
    assert get_balance(chain.state, p.address) - before == FEE - protocol - verifier_pool
    assert job["settlement"]["to_verifiers"] == {drawn[0].address: str(verifier_pool)}


def test_a_tie_at_the_deadline_refunds(chain: Chain) -> None:
    _, p, drawn = to_opened(chain, verifiers=2)
    chain.block_mid_epoch(attest(chain, drawn[0], "accept"))
    chain.block_mid_epoch(attest(chain, drawn[1], "reject"))
    assert chain.job()["status"] == "opened"  # 1 of 2 is no majority of the drawn
    chain.until_epoch_end(chain.job()["attest_deadline"])
    assert chain.job()["status"] == "refunded"
    assert chain.node(p.address)["collateral"] == COLLATERAL


# ---- many jobs, random actions: conservation every block, nothing stuck at the end -------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_market_never_strands_escrow_or_collateral(chain: Chain, seed: int) -> None:
    import random

    rng = random.Random(seed)
    s, p, vs, x = roles(chain)
    chain.block(register(s, 20 * UNIT), register(x, 30 * UNIT))
    nodes = [s, p, *vs, x]

    def one(job: dict[str, Any]) -> tuple[Account, Any] | None:
        status, jid = job["status"], job["id"]
        if status == "open":
            if rng.random() < 0.15:
                submitter = by_address(chain, [job["submitter"]])[0]
                return submitter, submitter.tx("job.cancel", {"job": jid})
            who = rng.choice(nodes)
            return who, who.tx("job.claim", {"job": jid})
        assignee = next((n for n in nodes if n.address == job["assignee"]), None)
        if status == "claimed" and assignee is not None and rng.random() < 0.7:
            return assignee, assignee.tx(
                "proof.submit", {"job": jid, "proof": proof_doc(assignee, jid)}
            )
        if status == "drawn" and rng.random() < 0.8:
            v = rng.choice(by_address(chain, job["drawn"]))
            proof_hash = chain.state.get(f"proof/{jid}")["hash"]
            return v, v.tx(
                "proof.seed", {"job": jid, **make_contribution(v.secret, jid, proof_hash)}
            )
        if status == "challenged" and assignee is not None and rng.random() < 0.7:
            wanted = openings(job["challenge"]["openings"], job_leaves(jid))
            return assignee, assignee.tx("proof.open", {"job": jid, "openings": wanted})
        if status == "opened" and rng.random() < 0.8:
            v = rng.choice(by_address(chain, job["drawn"]))
            proof = chain.state.get(f"proof/{jid}")["doc"]
            verdict = rng.choice(["accept", "accept", "reject", "unavailable"])
            doc = make_attestation(
                proof,
                reasons=[] if verdict == "accept" else [f"{verdict}: mismatch"],
                challenge=job["challenge"],
                report={},
                secret=v.secret,
                unavailable=verdict == "unavailable",
            )
            return v, v.tx("proof.attest", {"job": jid, "attestation": doc})
        return None

    for _ in range(120):
        jobs = [chain.job(j) for j in range(1, int(chain.state.get("market/next_job") or 1))]
        live = [
            j
            for j in jobs
            if j["status"] not in ("accepted", "rejected", "refunded", "expired", "cancelled")
        ]
        action = None
        if rng.random() < 0.25 or not live:
            who = rng.choice([s, x])
            action = (
                who,
                submit(
                    who,
                    fee=rng.randrange(1, 40) * UNIT,
                    verifiers=rng.randrange(1, 4),
                    deadline=rng.randrange(0, 3),
                ),
            )
        else:
            action = one(rng.choice(live))
        if action is None:
            chain.block()
            continue
        who, tx = action
        result = chain.block(tx)
        if result.rejected:
            who.nonce -= 1
    last = max(
        [
            0,
            *(
                chain.job(j)["claim_deadline"]
                for j in range(1, int(chain.state.get("market/next_job") or 1))
            ),
        ]
    )
    chain.until_epoch_end(last + 8)
    next_job = int(chain.state.get("market/next_job") or 1)
    assert next_job > 5
    outcomes = set()
    for j in range(1, next_job):
        job = chain.job(j)
        assert job["status"] in ("accepted", "rejected", "refunded", "expired", "cancelled"), job
        assert job["escrow"] == 0
        outcomes.add(job["status"])
    for n in nodes:
        assert chain.node(n.address)["locked"] == 0
    assert len(outcomes) >= 3
