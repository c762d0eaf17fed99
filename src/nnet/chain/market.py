"""The training marketplace on chain: nodes, jobs, proofs, challenges, verifiers, attestations.

Files: this module (the rules, reads, job transactions), market_node.py (node.register,
node.withdraw, node.set_operator: owner and operator keys, and which node a transaction acts for),
market_proof.py (proof.submit, the begin-block verifier draw and pools, proof.seed, proof.open,
proof.attest; both re-exported here), market_challenge.py (the challenge randomness) and
market_settle.py (payouts, the deadline step).
Why each rule defends what it does, and what an attacker can still do: docs/pol.md.

Lifecycle of a job (statuses; every deadline is an epoch number, a transaction is on time while
the block's epoch ≤ the deadline, and the epoch-end step of the deadline epoch applies the outcome
in the right column, so no escrow is ever stuck; docs/marketplace.md has the walkthrough):

| status     | entered by                    | next                    | deadline passes         |
| ---------- | ----------------------------- | ----------------------- | ----------------------- |
| open       | job.submit (fee escrowed)     | job.claim / job.cancel  | expired, refund         |
| claimed    | job.claim (collateral locked) | proof.submit            | reopened or expired,    |
|            |                               |                         | small slash             |
| proved     | proof.submit                  | verifier draw, next blk | (lasts one block)       |
| drawn      | begin of the next block       | proof.seed by each      | refunded (no seed)      |
| challenged | the last proof.seed           | proof.open              | rejected (slashed)      |
| opened     | proof.open                    | proof.attest to quorum  | majority of attesters   |

accepted / rejected / refunded / expired / cancelled are final (settle_job, market_settle.py).

Rules, and why:
- node.register locks `collateral` from the balance into `node/<owner>`; registering again adds
  collateral and updates gpu/env. `env` must be a canonical environment class (proof/envclass.py),
  never free text a Sybil could make its own. node.withdraw returns free (unlocked) collateral.
- A node is its owner's address (the cold key: withdraws, names the operator, is paid); its
  operator (the hot key, by default the owner) signs every marketplace transaction below for it,
  and "the sender" of those means the node the sender operates (market_node.py). The job's
  assignee, the drawn verifiers and every payout name nodes, never operators.
- job.submit declares, besides the spec hash and CIDs, the job's checkpoint count, mode and work
  (steps × batch size): the chain sizes the challenge from them (q = the least Q detecting
  market_detection_ppm of runs faking market_faked_ppm of their compute, econ/soundness.py, at
  least market_challenge_q, at most N) and counts the work when the job is accepted; verifiers
  check them against the spec, which the spec hash binds.
- job.claim needs free collateral ≥ max(fee × market_job_collateral_ppm, market_min_job_collateral)
  (≥ the fee: the soundness floor) and locks it for the job. A submitter may not claim its own job
  (neither as the operator nor as the node).
- job.cancel: the submitter, while the job is open, or once its proof deadline has passed.
- proof.submit: the assignee, on time; the document passes proof/shape.py (as every verifier
  checks it), its signature recovers to the sender, and its job, spec, dataset, checkpoints and
  mode equal the job's ("proof for another job" otherwise). Its Merkle root must never have been
  proved by this prover before (`proof_root/<prover>/<root>`): one run, one payment. (Per prover,
  so a thief's copy submitted first cannot lock out the honest prover; the copy fails the init
  check, since runs are bound to their prover.)
- Verifier draw, at the start of the next block: draw_seed = keccak256(this block's beacon ‖ proof
  hash), the beacon being the proposer's unique VRF output (chain/block.py), the proof hash
  keccak256(JCS(proof with its sig)) as attestations name it. `verifiers` of them, without
  replacement, weight (bonded stake + node collateral) × (1 + reputation), candidates sorted by
  address, each pick a keccak256(seed ‖ "verifiers" ‖ counter) draw by rejection; never the prover
  or the submitter, nor a node the submitter operates. Tolerance mode: every class. Exact mode:
  the prover's class only, and only if it is a real pool (market_min_class_pool nodes with
  market_min_class_pool_ppm of all eligible weight); otherwise, or with nobody eligible, the job
  is refunded at once.
- proof.seed: each drawn verifier's VRF over (job, proof hash), once, by the seed deadline. The
  last fixes the challenge: seed = keccak256(draw_seed ‖ contributions in drawn order), segments =
  compute_challenge(seed, N, q) ∪ {last segment}, the very set `verify_proof` replays for that seed
  and q. A missing contribution at the deadline refunds (a censoring sequencer can delay, not
  choose) and costs the absent verifiers market_miss_reputation_penalty.
- Openings: for every challenged segment s the checkpoints s and s+1, and checkpoint 0. A leaf is
  keccak256 of the checkpoint's trace entry (proof/trace.py), checked here against the root with
  its path; the blob at "cid" is checked by the verifier against the entry, off chain.
- proof.attest: only drawn verifiers, once each, after the openings and on time; the document is
  signed by the sender, names the stored proof's hash and the chain's challenge seed; its verdict
  is accept, reject or unavailable (openings withheld), with at most 64 bounded reasons. A verdict
  held by a majority of the drawn verifiers settles the job at once (reject and unavailable both
  count against the prover); at the deadline, the majority of those who attested decides (a tie
  or nobody: refunded), and drawn verifiers who did not attest lose market_miss_reputation_penalty.
- Verified work (C_g) of an accepted job = the job's declared work, never a figure from an
  attestation. The fee counts as demand (D_ai). Both go to `epoch_work/<epoch>` for
  chain/economics.py, which this module's epoch step (deadlines, then `active_nodes`) must run
  before.
- A missed proof deadline reopens the job when its claim deadline is still ahead (the submitter
  still wants it done), else expires it with a refund; the assignee loses market_miss_slash_ppm
  of the job collateral and market_miss_reputation_penalty either way.

State keys (chain/keys.py): `market/next_job`, `market/nodes` (sorted registered addresses),
`market/pending` (job ids whose proof was included in the previous block), `node/<addr>` (a
NodeRecord), `operator/<addr>` (the node an operator acts for), `job/<id>` (a Job), `proof/<id>`
(a ProofRecord), `proof_root/<prover>/<root>`, `job_due/<epoch>`, and the tokenomics inputs
`epoch_work/<epoch>` and `active_nodes`; the records are in chain/types.py.
"""

from __future__ import annotations

from dataclasses import replace

from nnet.chain.accounts import decrease_balance, get_balance
from nnet.chain.keys import NEXT_JOB_KEY
from nnet.chain.market_challenge import compute_challenge_seed, make_contribution
from nnet.chain.market_node import (
    find_operated_node,
    need_operated_node,
    process_node_register,
    process_node_set_operator,
    process_node_withdraw,
)
from nnet.chain.market_proof import (
    compute_proof_hash,
    draw_verifiers,
    get_proof,
    need_job,
    on_time,
    process_market_begin_block,
    process_proof_attest,
    process_proof_open,
    process_proof_seed,
    process_proof_submit,
)
from nnet.chain.market_settle import (
    get_job,
    put_job,
    put_node,
    schedule_job,
    settle_job,
)
from nnet.chain.params import get_param
from nnet.chain.types import (
    Address,
    BlockContext,
    Challenge,
    Epoch,
    Event,
    Job,
    StateLike,
    Units,
)
from nnet.constants import PPM
from nnet.econ.soundness import compute_required_q
from nnet.encoding import format_amount as nnet
from nnet.errors import InvalidTx
from nnet.proof.spec import MAX_CHECKPOINTS
from nnet.tx import Tx

__all__ = [
    "compute_challenge_seed",
    "compute_job_q",
    "compute_proof_hash",
    "compute_required_collateral",
    "draw_verifiers",
    "find_operated_node",
    "get_challenge",
    "get_proof",
    "get_required_openings",
    "make_contribution",
    "process_job_cancel",
    "process_job_claim",
    "process_job_submit",
    "process_market_begin_block",
    "process_node_register",
    "process_node_set_operator",
    "process_node_withdraw",
    "process_proof_attest",
    "process_proof_open",
    "process_proof_seed",
    "process_proof_submit",
]


# ---- reads (also for the prove / open / verify glue and the API) ------------------------------
def get_challenge(state: StateLike, job_id: int) -> Challenge | None:
    """The job's challenge once fixed (seed, q, segments, of, openings: the checkpoint indices
    proof.open must cover). Pass bytes.fromhex(seed[2:]) and q to
    nnet.proof.verifier.VerifyOptions to replay exactly these segments."""
    job = get_job(state, job_id)
    return None if job is None else job.challenge


def get_required_openings(state: StateLike, job_id: int) -> list[int]:
    challenge = get_challenge(state, job_id)
    return [] if challenge is None else list(challenge.openings)


def compute_job_q(state: StateLike, segments: int) -> int:
    """Segments a proof of `segments` segments is challenged on: the least Q that catches at
    least market_detection_ppm of runs faking market_faked_ppm of their compute (exact
    hypergeometric, econ/soundness.py), at least market_challenge_q, at most all of them."""
    need = compute_required_q(
        segments, get_param(state, "market_detection_ppm"), get_param(state, "market_faked_ppm")
    )
    return min(segments, max(need, get_param(state, "market_challenge_q")))


def compute_required_collateral(state: StateLike, fee: int) -> int:
    ppm = get_param(state, "market_job_collateral_ppm")
    return max(fee * ppm // PPM, get_param(state, "market_min_job_collateral"))


# ---- jobs --------------------------------------------------------------------------------------
def process_job_submit(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    body = tx.body
    fee = int(body["fee"])
    verifiers = int(body["verifiers"])
    most = get_param(state, "market_max_verifiers")
    if not 1 <= verifiers <= most:
        raise InvalidTx(f"verifiers must be 1 to {most}, not {verifiers}", code="bad_job")
    longest = get_param(state, "market_max_deadline_epochs")
    if int(body["deadline_epochs"]) > longest:
        raise InvalidTx(f"deadline_epochs must be at most {longest}", code="bad_job")
    checkpoints = int(body["checkpoints"])
    if not 2 <= checkpoints <= MAX_CHECKPOINTS:
        raise InvalidTx(f"checkpoints must be 2 to {MAX_CHECKPOINTS}", code="bad_job")
    if int(body["work"]) >= 2**63:
        raise InvalidTx("work must be below 2^63", code="bad_job")
    have = get_balance(state, tx.sender)
    if have < fee:
        raise InvalidTx(
            f"{tx.sender} has {nnet(have)} NNET after the fee, the job fee is {nnet(fee)} NNET",
            code="insufficient_funds",
        )
    decrease_balance(state, tx.sender, fee)
    job_id = int(state.get(NEXT_JOB_KEY) or 1)
    state.put(NEXT_JOB_KEY, job_id + 1)
    deadline = Epoch(ctx.epoch + int(body["deadline_epochs"]))
    job = Job(
        id=job_id,
        submitter=Address(tx.sender),
        spec_cid=body["spec_cid"],
        spec_hash=body["spec_hash"],
        dataset_cid=body["dataset_cid"],
        fee=Units(fee),
        escrow=Units(fee),
        verifiers=verifiers,
        checkpoints=checkpoints,
        mode=body["mode"],
        work=int(body["work"]),
        q=compute_job_q(state, checkpoints - 1),
        status="open",
        submit_height=ctx.height,
        claim_deadline=deadline,
    )
    put_job(state, job)
    schedule_job(state, deadline, job_id)
    return [
        {
            "type": "job.submitted",
            "job": job_id,
            "fee": str(fee),
            "claim_deadline": deadline,
            "q": job.q,
            "segments": job.segments,
        }
    ]


def process_job_claim(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    if job.status != "open":
        raise InvalidTx(f"job {job.id} is {job.status}, not open", code="job_taken")
    on_time(job.claim_deadline, ctx, f"job {job.id} can no longer be claimed", "late_claim")
    if tx.sender == job.submitter:
        raise InvalidTx("a submitter may not claim its own job", code="own_job")
    address, node = need_operated_node(state, tx.sender)  # the operator acts for its node
    if address == job.submitter:
        raise InvalidTx("a submitter's node may not claim its job", code="own_job")
    need = compute_required_collateral(state, job.fee)
    if node.free < need:
        raise InvalidTx(
            f"job {job.id} needs {nnet(need)} NNET of collateral; "
            f"{address} has {nnet(node.free)} NNET free",
            code="insufficient_collateral",
        )
    put_node(state, address, replace(node, locked=Units(node.locked + need)))
    deadline = Epoch(ctx.epoch + get_param(state, "market_proof_epochs"))
    job = replace(
        job,
        status="claimed",
        assignee=address,
        collateral=Units(need),
        proof_deadline=deadline,
    )
    put_job(state, job)
    schedule_job(state, deadline, job.id)
    return [
        {
            "type": "job.claimed",
            "job": job.id,
            "node": address,
            "collateral": str(need),
            "proof_deadline": deadline,
        }
    ]


def process_job_cancel(state: StateLike, tx: Tx, ctx: BlockContext) -> list[Event]:
    job = need_job(state, int(tx.body["job"]))
    if tx.sender != job.submitter:
        raise InvalidTx(f"only the submitter may cancel job {job.id}", code="not_submitter")
    if job.status == "open":
        return settle_job(
            state,
            job,
            "cancelled",
            "cancelled before any claim",
            height=ctx.height,
            epoch=ctx.epoch,
        )
    if (
        job.status == "claimed"
        and job.proof_deadline is not None
        and ctx.epoch > job.proof_deadline
    ):
        return settle_job(
            state,
            job,
            "cancelled",
            "cancelled after the proof deadline passed",
            height=ctx.height,
            epoch=ctx.epoch,
            miss_slash=True,
        )
    raise InvalidTx(
        f"job {job.id} is {job.status}; a job can be cancelled before it is claimed or "
        "after its proof deadline passed without a proof",
        code="not_cancellable",
    )
