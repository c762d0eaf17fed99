"""The marketplace's soundness defences, each attacked the way a cheating prover would, through
transactions on a replicated chain (every block re-executed by a replica, supply conserved).

- canonical environment classes (node.register, proof.submit);
- verifier pools: a class a cheater's Sybils make up is no pool; draws are stake-weighted;
- verified work comes from job.submit, never from an attestation;
- one run, one payment (a Merkle root is proved once);
- Q scales with N (econ/soundness.py), collateral and slash cannot be governed below the fee;
- challenge randomness: every drawn verifier's VRF contribution, nothing the sequencer controls;
- withheld openings and missing openings are rejections that slash the whole job collateral.

Each test asserts the specific refusal code or settlement reason, so it fails if the defence goes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import pytest

from nnet.chain.accounts import get_balance, get_pool, get_supply
from nnet.chain.genesis import make_devnet_genesis
from nnet.chain.market import (
    compute_challenge_seed,
    compute_required_collateral,
    draw_verifiers,
    make_contribution,
    process_proof_seed,
)
from nnet.chain.market_proof import select_verifier_pool
from nnet.chain.params import PARAMS as PARAM_TABLE
from nnet.chain.params import check_param, get_param
from nnet.chain.types import Job
from nnet.cid import compute_cid
from nnet.crypto import keccak256
from nnet.econ.soundness import (
    compute_detection,
    compute_faked_segments,
    compute_required_q,
    is_cheating_unprofitable,
)
from nnet.encoding import UNIT, canonical_json
from nnet.errors import InvalidTx, MalformedInput
from nnet.proof.commitment import PROOF_VERSION, make_attestation
from nnet.proof.document import sign_document
from nnet.proof.envclass import is_canonical_env_class
from nnet.proof.merkle import compute_merkle_root
from nnet.proof.spec import MAX_CHECKPOINTS
from nnet.tx import MAX_TX_BYTES, build_tx
from tests.chain.helpers import CHAIN, FUNDED, Account, Devnet, account, make_devnet
from tests.chain.test_market import (
    COLLATERAL,
    ENV,
    FEE,
    OTHER_ENV,
    PARAMS,
    WORK,
    Chain,
    by_address,
    contribute,
    proof_doc,
    register,
    submit,
)

PPM = 1_000_000
RARE_ENV = "cpu/linux/aarch64/Ampere/DEFAULT/torch-2.13.0+cpu/t1"  # canonical, nobody honest
SMALL_N = 8  # segments of the default job (9 checkpoints)


@dataclass
class Cast:
    s: Account  # submitter
    p: Account  # prover (the cheater, where there is one)
    vs: list[Account]  # honest verifier nodes
    sybils: list[Account]  # the cheater's other keys
    x: Account  # an outsider, not a node
    w: Account  # a spare key


def cast(c: Chain) -> Cast:
    s, p, v1, v2, v3, y1, y2, y3, x, w = c.net.users
    return Cast(s, p, [v1, v2, v3], [y1, y2, y3], x, w)


def make_chain(**params: int) -> Chain:
    """Prover and three honest verifiers registered in ENV, 100 NNET of collateral each."""
    c = Chain(make_devnet(10, params={**PARAMS, **params}, tag="soundness"))
    k = cast(c)
    c.block(*[register(a) for a in (k.p, *k.vs)])
    return c


@pytest.fixture
def chain() -> Chain:
    return make_chain()


def refuse(c: Chain, who: Account, tx: Any) -> tuple[str, str]:
    """Chain.refused (left out, sender, jobs, nodes, proofs, supply unchanged), and the node list
    and the spent roots unchanged too."""
    extra = ["market/nodes", *c.state.keys_with_prefix("proof_root/")]
    before = {k: c.state.get(k) for k in extra}
    got = c.refused(who, tx)
    assert {k: c.state.get(k) for k in extra} == before
    assert not [k for k in c.state.keys_with_prefix("proof_root/") if k not in before]
    return got


def leaves_of(tag: str, n_checkpoints: int) -> list[bytes]:
    return [keccak256(f"{tag} leaf {i}".encode()) for i in range(n_checkpoints)]


def job_tx(
    who: Account,
    *,
    fee: int = FEE,
    verifiers: int = 3,
    deadline: int = 2,
    mode: str = "exact",
    checkpoints: int = SMALL_N + 1,
    work: int = WORK,
) -> Any:
    """test_market's job.submit with this file's run size (SMALL_N segments) by default."""
    return submit(
        who,
        fee=fee,
        verifiers=verifiers,
        deadline=deadline,
        mode=mode,
        checkpoints=checkpoints,
        work=work,
    )


def run_proof(p: Account, job_id: int, leaves: list[bytes], **over: Any) -> dict[str, Any]:
    """A proof document of `p` for job `job_id` committing to `leaves`."""
    fields = {
        "init": "0x" + leaves[0].hex(),
        "root": "0x" + compute_merkle_root(leaves).hex(),
        "checkpoints": len(leaves),
        **over,
    }
    return proof_doc(p, job_id, **fields)


def openings_of(tag: str, n_checkpoints: int, indices: list[int]) -> list[dict[str, Any]]:
    leaves = leaves_of(tag, n_checkpoints)
    return [{"index": i, "cid": compute_cid(b"checkpoint %d " % i + leaves[i])} for i in indices]


def to_drawn(
    c: Chain, *, fee: int = FEE, verifiers: int = 3, tag: str = "run", n: int = SMALL_N
) -> list[Account]:
    """Job 1 submitted, claimed by the prover, proved; the verifiers drawn (returned)."""
    k = cast(c)
    c.block(job_tx(k.s, fee=fee, verifiers=verifiers, checkpoints=n + 1))
    c.block(k.p.tx("job.claim", {"job": 1}))
    doc = run_proof(k.p, 1, leaves_of(tag, n + 1))
    c.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": doc}))
    c.block_mid_epoch()
    assert c.job()["status"] == "drawn"
    return by_address(c, c.job()["drawn"])


def to_opened(c: Chain, **kw: Any) -> list[Account]:
    drawn = to_drawn(c, **kw)
    contribute(c)
    want = c.job()["challenge"]["openings"]
    n = int(c.job()["checkpoints"])
    opens = openings_of(kw.get("tag", "run"), n, want)
    c.block_mid_epoch(cast(c).p.tx("proof.open", {"job": 1, "openings": opens}))
    assert c.job()["status"] == "opened"
    return drawn


def attestation(
    c: Chain, who: Account, verdict: str, reasons: Any, job_id: int = 1, **report: Any
) -> Any:
    """A proof.attest with any verdict and reasons, signed by `who` (the chain judges them)."""
    job = c.job(job_id)
    doc = {
        "kind": "nnet.attestation",
        "v": PROOF_VERSION,
        "proof": c.state.get(f"proof/{job_id}")["hash"],
        "verdict": verdict,
        "reasons": reasons,
        "challenge": job["challenge"],
        "job": str(job_id),
        **report,
    }
    signed = sign_document(doc, who.secret, "verifier")
    return who.tx("proof.attest", {"job": job_id, "attestation": signed})


def seed_tx(c: Chain, who: Account, job_id: int = 1, body: dict[str, str] | None = None) -> Any:
    """`who`'s proof.seed for the job, with `body` replacing some of its fields."""
    proof_hash = c.state.get(f"proof/{job_id}")["hash"]
    fields = {"job": job_id, **make_contribution(who.secret, job_id, proof_hash), **(body or {})}
    return who.tx("proof.seed", fields)


def balances(c: Chain, accounts: list[Account]) -> dict[str, int]:
    return {a.address: get_balance(c.state, a.address) for a in accounts}


# ---- canonical environment classes -------------------------------------------------------------
LOOK_ALIKES = [
    "my-private-class",
    ENV.replace("GenuineIntel", "GenuineInt\u0435l"),  # a Cyrillic e
    ENV.replace("/t1", "/t\uff11"),  # a fullwidth 1
    ENV.replace("x86_64", "x86\u201164"),  # a non-breaking hyphen for the underscore
    ENV + "\n",
    " " + ENV,
    ENV + "/",
    ENV.replace("/t1", "/t01"),  # the same class, another spelling
    ENV.upper(),
    OTHER_ENV.replace("sm80", "sm8.0"),
    "",
    # canonical-looking but longer than 120 characters (a torch local label of 4 x 32 chars)
    "cpu/linux/x86_64/GenuineIntel/AVX2/torch-2.13.0+" + ".".join(["a" * 32] * 4) + "/t1",
]


def test_register_refuses_free_text_environment_classes(chain: Chain) -> None:
    k = cast(chain)
    assert is_canonical_env_class(ENV) and is_canonical_env_class(RARE_ENV)
    assert all(not is_canonical_env_class(e) for e in LOOK_ALIKES)
    for who in (k.x, k.vs[0]):  # a new node, and a registered one trying to move class
        for env in LOOK_ALIKES:
            code, msg = refuse(chain, who, register(who, env=env))
            assert code == "bad_env", (env, code, msg)
    assert "120" in refuse(chain, k.x, register(k.x, env=LOOK_ALIKES[-1]))[1]
    assert k.x.address not in chain.state.get("market/nodes")
    assert chain.node(k.vs[0].address)["env"] == ENV
    # longer than the schema's 200 characters: not even a transaction
    with pytest.raises(MalformedInput, match="env"):
        body = {"gpu": "H100", "env": ENV + "x" * 200, "collateral": "0"}
        build_tx(CHAIN, "node.register", k.x.address, 0, 0, body)
    # the control: a canonical class registers
    chain.block(register(k.x, env=RARE_ENV))
    assert chain.node(k.x.address)["env"] == RARE_ENV


def test_a_proof_naming_a_non_canonical_class_is_refused() -> None:
    chain = make_chain(market_proof_epochs=3)  # time for a dozen refused proofs
    k = cast(chain)
    chain.block(job_tx(k.s))
    chain.block(k.p.tx("job.claim", {"job": 1}))
    leaves = leaves_of("run", SMALL_N + 1)
    for env in LOOK_ALIKES:
        doc = run_proof(k.p, 1, leaves, env=env)
        code, msg = refuse(chain, k.p, k.p.tx("proof.submit", {"job": 1, "proof": doc}))
        assert code == "bad_proof" and "environment class" in msg, (env, code, msg)
    chain.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": run_proof(k.p, 1, leaves)}))
    assert chain.job()["status"] == "proved"


# ---- verifier pools ----------------------------------------------------------------------------
def _prove_in_class(c: Chain, env: str, *, verifiers: int = 1) -> dict[str, Any]:
    k = cast(c)
    c.block(job_tx(k.s, verifiers=verifiers))
    c.block(k.p.tx("job.claim", {"job": 1}))
    doc = run_proof(k.p, 1, leaves_of("cheat", SMALL_N + 1), env=env)
    c.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": doc}))
    c.block_mid_epoch()
    return c.job()


@pytest.mark.parametrize("n_sybils", [1, 2])
def test_sybils_in_a_rare_class_never_verify_their_own_prover(chain: Chain, n_sybils: int) -> None:
    """1 or 2 extra keys of the cheater in a canonical class nobody else holds, with more weight
    than every honest node together: no pool, refunded at once, nobody paid, nothing gained."""
    k = cast(chain)
    sybils = k.sybils[:n_sybils]
    chain.block(
        k.p.tx("node.register", {"gpu": "A1", "env": RARE_ENV, "collateral": "0"}),
        *[register(y, 500 * UNIT, env=RARE_ENV) for y in sybils],
    )
    everyone = [k.s, k.p, *k.vs, *sybils]
    before = balances(chain, everyone)
    nodes = {a.address: chain.node(a.address) for a in (k.p, *k.vs, *sybils)}
    treasury, supply = get_pool(chain.state, "treasury"), get_supply(chain.state)
    job = _prove_in_class(chain, RARE_ENV)
    assert job["drawn"] == [] and job["status"] == "refunded"
    reason = job["settlement"]["reason"]
    assert reason.startswith(f"no verifier pool for class {RARE_ENV}: {n_sybils} nodes"), reason
    assert balances(chain, everyone) == before  # the fee went back to the submitter
    for a in (k.p, *k.vs, *sybils):
        assert chain.node(a.address) == nodes[a.address]  # collateral unlocked, no reputation
    assert get_pool(chain.state, "treasury") == treasury and get_supply(chain.state) == supply
    assert chain.state.get(f"epoch_work/{chain.epoch}") is None


@pytest.mark.parametrize("each", [UNIT, 50 * UNIT])
def test_three_sybils_short_of_a_third_of_the_weight_are_no_pool(chain: Chain, each: int) -> None:
    """3 Sybils (the pool's least count) with 3 x 1 NNET, or with 150 of 450 NNET (a third, just
    below 333,334 ppm), against 300 NNET of honest collateral in another class: refunded."""
    k = cast(chain)
    chain.block(*[register(y, each, env=RARE_ENV) for y in k.sybils])
    job = _prove_in_class(chain, RARE_ENV, verifiers=3)
    assert job["drawn"] == [] and job["status"] == "refunded"
    assert job["settlement"]["reason"].startswith(f"no verifier pool for class {RARE_ENV}: 3 nodes")
    assert chain.node(k.p.address)["locked"] == 0
    assert chain.node(k.p.address)["collateral"] == COLLATERAL


def test_the_class_pool_bound_is_a_third_of_the_verifier_weight(chain: Chain) -> None:
    """Documents the assumption the defence rests on: Sybils holding at least 333,334 ppm of the
    eligible verifier weight (151 of 451 NNET here) do form a pool of their own class."""
    k = cast(chain)
    chain.block(*[register(y, 50 * UNIT, env=RARE_ENV) for y in k.sybils])
    chain.block(register(k.sybils[0], UNIT, env=RARE_ENV))
    job = _prove_in_class(chain, RARE_ENV, verifiers=3)
    assert job["status"] == "drawn"
    assert sorted(job["drawn"]) == sorted(y.address for y in k.sybils)


def test_draws_follow_the_weights_and_never_pick_prover_submitter_or_other_class(
    chain: Chain,
) -> None:
    k = cast(chain)
    v1, v2, v3 = k.vs
    # weights 1 : 2 : 4 in the prover's class (v3's by bonded stake), 3 in another class;
    # the submitter is a heavy node of the prover's class
    chain.block(
        register(v2),
        v3.tx("stake", {"amount": str(300 * UNIT)}),
        register(k.x, 300 * UNIT, env=OTHER_ENV),
        register(k.s, 500 * UNIT),
    )
    n_jobs = 16
    chain.block(*[job_tx(k.s, fee=UNIT, verifiers=2) for _ in range(n_jobs)])
    chain.block(*[k.p.tx("job.claim", {"job": j}) for j in range(1, n_jobs + 1)])
    proofs = [run_proof(k.p, j, leaves_of(f"job {j}", SMALL_N + 1)) for j in range(1, n_jobs + 1)]
    chain.block_mid_epoch(
        *[k.p.tx("proof.submit", {"job": j, "proof": d}) for j, d in enumerate(proofs, 1)]
    )
    chain.block_mid_epoch()
    honest = {v.address for v in k.vs}
    seen: set[str] = set()
    for j in range(1, n_jobs + 1):
        drawn = chain.job(j)["drawn"]
        assert chain.job(j)["status"] == "drawn"
        assert len(drawn) == 2 and len(set(drawn)) == 2 and set(drawn) <= honest
        seen |= set(drawn)
    assert seen == honest

    # the draw itself, over many seeds: frequencies follow the weights
    job, proof = Job.from_state(chain.job(1)), proofs[0]
    unit = COLLATERAL * (1 + 5_000)  # every node at the starting reputation
    exact, why = select_verifier_pool(chain.state, job, proof)
    assert why == f"class {ENV}"
    assert dict(exact) == {v1.address: unit, v2.address: 2 * unit, v3.address: 4 * unit}
    tolerance = replace(job, mode="tolerance")
    pool, _ = select_verifier_pool(chain.state, tolerance, proof)
    assert dict(pool) == {**dict(exact), k.x.address: 3 * unit}
    trials = 3_000
    for spec, weights in ((job, dict(exact)), (tolerance, dict(pool))):
        one = replace(spec, verifiers=1)
        counts = dict.fromkeys(weights, 0)
        for i in range(trials):
            (picked,) = draw_verifiers(chain.state, one, proof, keccak256(b"seed %d" % i))
            counts[picked] += 1  # KeyError for the prover, the submitter, another class
        total = sum(weights.values())
        for address, weight in weights.items():
            assert abs(counts[address] / trials - weight / total) < 0.03, (counts, weights)
    # fewer eligible nodes than asked: all of them, each once
    everyone = draw_verifiers(chain.state, replace(tolerance, verifiers=5), proof, b"\x07" * 32)
    assert sorted(everyone) == sorted([*honest, k.x.address])


def test_a_tolerance_job_draws_from_every_class(chain: Chain) -> None:
    k = cast(chain)
    chain.block(register(k.x, env=OTHER_ENV), register(k.w, env=RARE_ENV))
    chain.block(job_tx(k.s, verifiers=5, mode="tolerance"))
    chain.block(k.p.tx("job.claim", {"job": 1}))
    doc = run_proof(k.p, 1, leaves_of("run", SMALL_N + 1), mode="tolerance")
    chain.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": doc}))
    chain.block_mid_epoch()
    assert sorted(chain.job()["drawn"]) == sorted(a.address for a in (*k.vs, k.x, k.w))


# ---- verified work -----------------------------------------------------------------------------
def test_verified_work_is_the_jobs_never_an_attestations(chain: Chain) -> None:
    k = cast(chain)
    chain.block(job_tx(k.s, work=777))
    chain.block(k.p.tx("job.claim", {"job": 1}))
    doc = run_proof(k.p, 1, leaves_of("run", SMALL_N + 1))
    chain.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": doc}))
    chain.block_mid_epoch()
    contribute(chain)
    want = chain.job()["challenge"]["openings"]
    chain.block_mid_epoch(
        k.p.tx("proof.open", {"job": 1, "openings": openings_of("run", SMALL_N + 1, want)})
    )
    drawn = by_address(chain, chain.job()["drawn"])
    chain.block_mid_epoch(attestation(chain, drawn[0], "accept", [], work=10**12))
    chain.block_mid_epoch(attestation(chain, drawn[1], "accept", [], work=10**12))
    job = chain.job()
    assert job["status"] == "accepted" and job["settlement"]["work"] == 777
    assert chain.node(k.p.address)["verified_work"] == 777
    assert chain.state.get(f"epoch_work/{chain.epoch}")["compute"] == {k.p.address: 777}


# ---- one run, one payment ----------------------------------------------------------------------
def test_a_run_is_proved_once_for_any_job() -> None:
    chain = make_chain(market_proof_epochs=4)  # jobs 2 and 3 outlive job 1
    k = cast(chain)
    v = k.vs[0]
    chain.block(*[job_tx(k.s, deadline=6) for _ in range(3)])  # three identical jobs
    chain.block(k.p.tx("job.claim", {"job": 1}), k.p.tx("job.claim", {"job": 2}))
    chain.block(v.tx("job.claim", {"job": 3}))
    run = leaves_of("one run", SMALL_N + 1)
    root = "0x" + compute_merkle_root(run).hex()
    chain.block_mid_epoch(k.p.tx("proof.submit", {"job": 1, "proof": run_proof(k.p, 1, run)}))
    assert chain.state.get(f"proof_root/{k.p.address.lower()}/{root}") == 1
    chain.block_mid_epoch()  # job 1's verifiers are drawn
    for who, job_id, over in (
        (k.p, 2, {}),
        (k.p, 2, {"root": "0x" + root[2:].upper()}),  # the same root, spelled otherwise
    ):
        doc = run_proof(who, job_id, run, **over)
        code, msg = refuse(chain, who, who.tx("proof.submit", {"job": job_id, "proof": doc}))
        assert code == "duplicate_root" and "already proved for job 1" in msg
    # another node replaying someone else's run is not refused here: roots are spent per prover
    # (so a thief who submits first cannot lock the owner out), and a copied run fails the
    # verifiers' init check, the run being bound to its prover (tests/commands/test_attacks_devnet)
    chain.block_mid_epoch(v.tx("proof.submit", {"job": 3, "proof": run_proof(v, 3, run)}))
    assert chain.job(3)["status"] == "proved"
    # job 1 ends (no openings: rejected); its run stays spent
    contribute(chain)
    chain.until_epoch_end(chain.job()["open_deadline"])
    assert chain.job()["status"] == "rejected"
    doc = run_proof(k.p, 2, run)
    assert refuse(chain, k.p, k.p.tx("proof.submit", {"job": 2, "proof": doc}))[0] == (
        "duplicate_root"
    )
    # a run of its own is accepted
    chain.block_mid_epoch(
        k.p.tx("proof.submit", {"job": 2, "proof": run_proof(k.p, 2, leaves_of("two", 9))})
    )
    assert chain.job(2)["status"] == "proved"


# ---- Q scales with N; the collateral floor ------------------------------------------------------
PARAMS_Q = ("market_detection_ppm", "market_faked_ppm")


@pytest.mark.parametrize("n", [8, 100, 1000, 100_000])
def test_q_scales_with_the_number_of_segments(chain: Chain, n: int) -> None:
    k = cast(chain)
    chain.block(job_tx(k.s, checkpoints=n + 1))
    q = chain.job()["q"]
    detection, faked = (get_param(chain.state, p) for p in PARAMS_Q)
    assert (detection, faked) == (990_000, 100_000)
    floor = get_param(chain.state, "market_challenge_q")
    assert q == min(n, max(floor, compute_required_q(n, detection, faked)))
    m = compute_faked_segments(n, faked)
    assert compute_detection(n, q, m) >= 0.99  # a run faking 10 % is caught 99 % of the time
    assert q == n or compute_detection(n, q - 1, m) < 0.99  # and Q is the least that does
    assert q == {8: 8, 100: 36, 1000: 43, 100_000: 44}[n]


def test_job_checkpoints_are_bounded(chain: Chain) -> None:
    s = cast(chain).s
    for bad in (0, 1, MAX_CHECKPOINTS + 1, 2**40):
        code, msg = refuse(chain, s, job_tx(s, checkpoints=bad))
        assert code == "bad_job" and "checkpoints" in msg
    chain.block(job_tx(s, checkpoints=2), job_tx(s, checkpoints=MAX_CHECKPOINTS))
    assert chain.job(1)["q"] == 1 and chain.job(2)["q"] == 44
    assert MAX_CHECKPOINTS == 2**20


def test_a_large_job_is_challenged_on_q_segments(chain: Chain) -> None:
    """N = 1000: 43 random segments (plus the last) are challenged and must all be opened."""
    k = cast(chain)
    to_drawn(chain, n=1000, tag="big")
    contribute(chain)
    challenge = chain.job()["challenge"]
    assert challenge["q"] == 43 and challenge["of"] == 1000
    assert 43 <= len(challenge["segments"]) <= 44 and 999 in challenge["segments"]
    want = challenge["openings"]
    short = openings_of("big", 1001, want[:-1])
    assert refuse(chain, k.p, k.p.tx("proof.open", {"job": 1, "openings": short}))[0] == (
        "bad_opening"
    )
    chain.block_mid_epoch(
        k.p.tx("proof.open", {"job": 1, "openings": openings_of("big", 1001, want)})
    )
    assert chain.job()["status"] == "opened"


def test_an_honest_opening_of_a_large_job_fits_in_one_transaction(chain: Chain) -> None:
    k = cast(chain)
    to_drawn(chain, n=1000, tag="big")
    contribute(chain)
    want = chain.job()["challenge"]["openings"]
    tx = k.p.tx("proof.open", {"job": 1, "openings": openings_of("big", 1001, want)})
    # the largest Q (44 segments, <= 89 openings) stays far below the node's size limit
    assert len(canonical_json(tx.to_dict())) <= MAX_TX_BYTES // 4
    chain.block_mid_epoch(tx)
    assert chain.job()["status"] == "opened"


def test_collateral_and_slash_cannot_be_governed_below_the_fee(chain: Chain) -> None:
    for name in ("market_job_collateral_ppm", "market_slash_ppm"):
        assert PARAM_TABLE[name].min == PPM and PARAM_TABLE[name].default == PPM
        with pytest.raises(MalformedInput, match="outside"):
            check_param(name, PPM - 1)
        with pytest.raises(MalformedInput, match="outside"):
            make_devnet(1, params={name: PPM // 2}, tag="low")
    assert check_param("market_job_collateral_ppm", 2 * PPM) == 2 * PPM
    a = cast(chain).s
    for name in ("market_job_collateral_ppm", "market_slash_ppm"):
        body = {"title": "cheaper cheating", "kind": "param", "key": name, "value": "999999"}
        code, msg = refuse(chain, a, a.tx("gov.propose", body))
        assert code == "bad_param" and "outside" in msg
        assert chain.state.get("gov/next_id") is None


# ---- challenge randomness ----------------------------------------------------------------------
def test_bad_contributions_are_refused_and_change_nothing() -> None:
    chain = make_chain(market_open_epochs=3)  # time for many refused contributions
    k = cast(chain)
    chain.block(register(k.w))  # four honest nodes, three drawn: one is not
    drawn = to_drawn(chain)
    undrawn = next(v for v in (*k.vs, k.w) if v not in drawn)
    a, b, _ = drawn
    for who in (undrawn, k.x, k.p, k.s):
        code, _ = refuse(chain, who, seed_tx(chain, who))
        assert code == "not_drawn"
    proof_hash = chain.state.get("proof/1")["hash"]
    theirs = make_contribution(b.secret, 1, proof_hash)
    mine = make_contribution(a.secret, 1, proof_hash)
    other_hash = "0x" + keccak256(b"another proof").hex()
    for body in (
        theirs,  # another key's contribution (key not the sender's)
        {"vrf": theirs["vrf"]},  # my key, another key's VRF
        make_contribution(a.secret, 2, proof_hash),  # over another job
        make_contribution(a.secret, 1, other_hash),  # over another proof
        {"vrf": "0x" + "ab" * 81},  # garbage
        {"vrf": "0x" + mine["vrf"][2:-2] + ("00" if mine["vrf"][-2:] != "00" else "01")},
        {"key": "0x02" + "ff" * 32},  # not a point
        {"key": ("0x03" if mine["key"][:4] == "0x02" else "0x02") + mine["key"][4:]},  # -P
    ):
        code, msg = refuse(chain, a, seed_tx(chain, a, body=body))
        assert code == "bad_seed", (body, code, msg)
    open_early = k.p.tx("proof.open", {"job": 1, "openings": openings_of("run", 9, [0])})
    assert refuse(chain, k.p, open_early)[0] == "not_challenged"
    chain.block_mid_epoch(seed_tx(chain, a))
    assert refuse(chain, a, seed_tx(chain, a))[0] == "already_seeded"
    open_early = k.p.tx("proof.open", {"job": 1, "openings": openings_of("run", 9, [0])})
    assert refuse(chain, k.p, open_early)[0] == "not_challenged"  # 1 of 3 is not enough
    assert chain.job()["status"] == "drawn" and chain.job()["challenge"] is None
    for v in drawn[1:]:
        chain.block_mid_epoch(seed_tx(chain, v))
    assert chain.job()["status"] == "challenged"
    assert refuse(chain, b, seed_tx(chain, b))[0] == "not_drawn_status"


def test_a_missing_contribution_refunds_and_cuts_the_absent_verifier(chain: Chain) -> None:
    k = cast(chain)
    drawn = to_drawn(chain)
    for v in drawn[:2]:
        chain.block_mid_epoch(seed_tx(chain, v))
    absent = drawn[2]
    job = chain.job()
    # a contribution after the deadline: refused as late (checked on a state where the job is
    # still drawn, since the deadline's epoch end settles it first; no write happens)
    late = SimpleNamespace(epoch=job["seed_deadline"] + 1, height=chain.head.height + 1)
    with pytest.raises(InvalidTx) as err:
        process_proof_seed(chain.state, seed_tx(chain, absent), late)
    assert err.value.code == "late_seed"
    absent.nonce -= 1
    before = balances(chain, [k.s, k.p, *drawn])
    reputation = {v.address: chain.node(v.address)["reputation"] for v in drawn}
    prover = chain.node(k.p.address)
    chain.until_epoch_end(job["seed_deadline"])
    job = chain.job()
    assert job["status"] == "refunded" and job["challenge"] is None
    assert job["settlement"]["reason"] == "1 drawn verifiers gave no challenge randomness in time"
    after = balances(chain, [k.s, k.p, *drawn])
    assert after[k.s.address] == before[k.s.address] + FEE
    assert {a: b for a, b in after.items() if a != k.s.address} == {
        a: b for a, b in before.items() if a != k.s.address
    }  # the prover unpaid, the verifiers unpaid
    node = chain.node(k.p.address)
    assert node["collateral"] == COLLATERAL and node["locked"] == 0  # unslashed
    assert node["reputation"] == prover["reputation"]
    penalty = get_param(chain.state, "market_miss_reputation_penalty")
    for v in drawn:
        cut = penalty if v == absent else 0
        assert chain.node(v.address)["reputation"] == reputation[v.address] - cut
    assert refuse(chain, absent, seed_tx(chain, absent))[0] == "job_settled"


@dataclass
class TimedDevnet(Devnet):
    """A devnet whose sequencer stamps each block `step_ms` after its parent."""

    step_ms: int = 0

    def block(self, state: Any, prev: Any, txs: list[Any], *, time_ms: int = 0) -> Any:
        return super().block(state, prev, txs, time_ms=prev.time_ms + self.step_ms)


def _net(verifier_labels: list[str], step_ms: int = 0) -> TimedDevnet:
    """Same sequencer, submitter and prover every time; the verifiers' keys from the labels."""
    sequencer = account("seed-sequencer")
    users = [account("seed-submitter"), account("seed-prover")]
    users += [account(label) for label in verifier_labels]
    params = {"unbonding_epochs": 1, **PARAMS}
    genesis = make_devnet_genesis(
        CHAIN,
        sequencer.address,
        time_ms=1_000,
        validators={sequencer.address: 10 * UNIT},
        fund={u.address: FUNDED for u in users},
        params=params,
    )
    return TimedDevnet(sequencer, users, genesis, params, step_ms=step_ms)


def _fixed_challenge(net: TimedDevnet, *, reverse: bool, one_block: bool) -> dict[str, Any]:
    c = Chain(net)
    s, p, *vs = net.users
    c.block(*[register(a) for a in (p, *vs)])
    c.block(job_tx(s, checkpoints=101))
    c.block(p.tx("job.claim", {"job": 1}))
    doc = run_proof(p, 1, leaves_of("seeded", 101))
    c.block_mid_epoch(p.tx("proof.submit", {"job": 1, "proof": doc}))
    c.block_mid_epoch()
    drawn = by_address(c, c.job()["drawn"])
    txs = [seed_tx(c, v) for v in (drawn[::-1] if reverse else drawn)]
    if one_block:
        c.block_mid_epoch(*txs)
    else:
        for tx in txs:
            c.block_mid_epoch(tx)
    job = c.job()
    assert job["status"] == "challenged"
    return {**job, "time_ms": c.head.time_ms}


def test_the_challenge_depends_on_every_contribution_not_on_time_or_order() -> None:
    honest = [f"seed-verifier-{i}" for i in range(3)]
    base = _fixed_challenge(_net(honest), reverse=False, one_block=False)
    shuffled = _fixed_challenge(_net(honest, step_ms=7_919), reverse=True, one_block=True)
    others = _fixed_challenge(
        _net([f"seed-other-{i}" for i in range(3)]), reverse=False, one_block=False
    )
    # the sequencer's clock and the order it put the contributions in change nothing
    assert shuffled["time_ms"] != base["time_ms"]
    assert shuffled["challenge"] == base["challenge"]
    # the same beacon and proof, other verifiers' keys: another challenge
    assert others["draw_seed"] == base["draw_seed"]
    assert others["challenge"]["seed"] != base["challenge"]["seed"]
    assert others["challenge"]["segments"] != base["challenge"]["segments"]
    # the seed is keccak(draw seed ‖ contributions in drawn order): each one changes it
    draw = bytes.fromhex(base["draw_seed"][2:])
    parts = [bytes.fromhex(base["contributions"][v][2:]) for v in base["drawn"]]
    seed = compute_challenge_seed(draw, parts)
    assert base["challenge"]["seed"] == "0x" + seed.hex()
    for i in range(len(parts)):
        changed = [*parts[:i], keccak256(parts[i]), *parts[i + 1 :]]
        assert compute_challenge_seed(draw, changed) != seed
        assert compute_challenge_seed(draw, parts[:i] + parts[i + 1 :]) != seed


# ---- withholding and rejection: the prover loses the whole job collateral ----------------------
def _assert_rejected_and_slashed(
    c: Chain, before: dict[str, int], fee: int, reason_start: str
) -> None:
    k = cast(c)
    job = c.job()
    assert job["status"] == "rejected", job["settlement"]
    assert job["settlement"]["reason"].startswith(reason_start), job["settlement"]["reason"]
    collateral = job["collateral"]
    assert collateral == compute_required_collateral(c.state, fee) >= fee
    assert job["settlement"]["slashed"] == str(collateral)  # the whole job collateral
    assert get_balance(c.state, k.s.address) == before[k.s.address] + fee  # fee refunded
    assert get_balance(c.state, k.p.address) == before[k.p.address]  # nothing paid
    node = c.node(k.p.address)
    assert node["collateral"] == COLLATERAL - collateral and node["locked"] == 0
    assert is_cheating_unprofitable(fee, collateral, int(job["checkpoints"]) - 1, int(job["q"]))


def test_withheld_openings_are_a_rejection(chain: Chain) -> None:
    k = cast(chain)
    drawn = to_opened(chain)
    before = balances(chain, [k.s, k.p])
    chain.block_mid_epoch(attestation(chain, drawn[0], "unavailable", ["checkpoint 3: timeout"]))
    assert chain.job()["status"] == "opened"
    chain.block_mid_epoch(attestation(chain, drawn[1], "unavailable", ["checkpoint 0: 404"]))
    _assert_rejected_and_slashed(chain, before, FEE, "openings withheld")
    settlement = chain.job()["settlement"]
    assert set(settlement["to_verifiers"]) == {drawn[0].address, drawn[1].address}


def test_attestation_verdicts_must_agree_with_their_reasons(chain: Chain) -> None:
    k = cast(chain)
    drawn = to_opened(chain)
    a, b, c3 = drawn
    proof = chain.state.get("proof/1")["doc"]
    for verdict, reasons in (
        ("unavailable", []),
        ("reject", []),
        ("accept", ["segment 3 does not reproduce"]),
        ("abstain", ["no opinion"]),
        ("crashed", []),
        ("reject", "segment 3"),
        ("reject", [3]),
        ("reject", [f"reason {i}" for i in range(65)]),
        ("reject", ["x" * 10_000]),
        ("unavailable", ["x" * 1_001]),
    ):
        code, msg = refuse(chain, a, attestation(chain, a, verdict, reasons))
        assert code == "bad_attestation", (verdict, code, msg)
    # make_attestation's own documents of each kind are fine; 64 reasons of 1000 characters
    # would not fit a transaction, so 64 short ones and one of 1000 characters
    chain.block_mid_epoch(attestation(chain, a, "reject", [f"reason {i}" for i in range(64)]))
    doc = make_attestation(
        proof,
        reasons=["y" * 1_000],
        challenge=chain.job()["challenge"],
        report={},
        secret=b.secret,
        unavailable=True,
    )
    assert doc["verdict"] == "unavailable"
    before = balances(chain, [k.s, k.p])
    chain.block_mid_epoch(b.tx("proof.attest", {"job": 1, "attestation": doc}))
    # a majority against the prover, not all of it "unavailable": a plain rejection
    _assert_rejected_and_slashed(chain, before, FEE, "a majority of the drawn verifiers rejected")
    assert refuse(chain, c3, attestation(chain, c3, "accept", []))[0] == "job_settled"


@pytest.mark.parametrize("fee", [UNIT // 2, FEE, 70 * UNIT])
def test_no_openings_by_the_deadline_slashes_the_whole_job_collateral(
    chain: Chain, fee: int
) -> None:
    k = cast(chain)
    to_drawn(chain, fee=fee)
    contribute(chain)
    before = balances(chain, [k.s, k.p])
    chain.until_epoch_end(chain.job()["open_deadline"])
    _assert_rejected_and_slashed(chain, before, fee, "no openings by the opening deadline")
    job = chain.job()
    assert job["settlement"]["to_verifiers"] == {}  # nobody caught anything: all of it leaves
    burned = int(job["settlement"]["burned"])
    assert burned + int(job["settlement"]["to_treasury"]) == job["collateral"]
