"""The state's key schema: every key the chain reads or writes is built here, nowhere else.

Like py-evm's SchemaV1: one function (or constant) per key family, so a key cannot be misspelled
in one module and right in another, and KEYSPACE, one row per family with its exact pattern and
what its value holds, documents the whole state layout (the value shapes are the records of
chain/types.py). tests/chain/test_keyspace.py checks that every key a chain writes matches
exactly one row, and that no other module spells a key.

| family             | key                          | value                                        |
| ------------------ | ---------------------------- | -------------------------------------------- |
| chain id           | chain/id                     | chain id (str)                               |
| sequencer          | chain/sequencer              | the sequencer's address (str)                |
| supply             | supply                       | total supply in base units (int)             |
| total bonded       | total_bonded                 | sum of all bonded stake (int)                |
| burned             | burned                       | total burned (int; supply already reduced)   |
| minted             | minted                       | total minted since genesis (int)             |
| pool               | pool/<name>                  | balance of a genesis pool (int)              |
| param              | param/<name>                 | governance parameter (int), chain/params.py  |
| account            | account/<addr>               | Account                                      |
| stake              | stake/<addr>                 | Stake                                        |
| unbonding due      | unbond_due/<epoch>           | sorted addresses released then (list)        |
| reward             | reward/<addr>                | settled, claimable rewards (int)             |
| reward snapshot    | reward_snap/<addr>           | F1 accumulator at the last settlement (int)  |
| reward accumulator | reward_acc                   | {"reward_per_stake": int, "carry": int}      |
| reward escrow      | reward_escrow                | staking rewards not yet settled (int)        |
| epoch fees         | epoch_fees                   | fees collected this epoch (int)              |
| epoch work         | epoch_work/<epoch>           | EpochWork (verified marketplace work)        |
| active nodes       | active_nodes                 | N_n, nodes verified in the window (int)      |
| inflation          | inflation_ppb                | minting rate, ppb a year (int)               |
| last outcome       | econ/last                    | the last epoch's EpochOutcome.to_dict()      |
| next proposal      | gov/next_id                  | the next proposal id (int)                   |
| proposal           | proposal/<id>                | Proposal                                     |
| proposals due      | proposal_due/<epoch>         | proposal ids whose period ends then (list)   |
| node               | node/<addr>                  | NodeRecord                                   |
| node operator      | operator/<addr>              | the node this address operates, when it is   |
|                    |                              | not the node's own address (str)             |
| node list          | market/nodes                 | sorted addresses of registered nodes (list)  |
| next job           | market/next_job              | the next job id (int)                        |
| pending proofs     | market/pending               | job ids proved in the previous block (list)  |
| job                | job/<id>                     | Job                                          |
| proof              | proof/<id>                   | ProofRecord                                  |
| proof root         | proof_root/<addr>/<root>     | the job that root was proved for (int)       |
| jobs due           | job_due/<epoch>              | job ids with a deadline then (list)          |
| validator          | validator/<addr>             | ValidatorRecord (chain/validators.py)        |
| validator bls key  | validator_bls/<key hex>      | the validator that registered it (str)       |
| validator list     | validator_list               | sorted registered validators (list)          |
| validator set      | valset                       | ValidatorSet in force (network chains only)  |
| previous set       | valset_prev                  | the ValidatorSet before it                   |

<addr> is an EIP-55 address (lower-case hex in proof_root), <epoch> and <id> decimal integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ACTIVE_NODES_KEY",
    "BURNED_KEY",
    "CHAIN_ID_KEY",
    "EPOCH_FEES_KEY",
    "INFLATION_KEY",
    "KEYSPACE",
    "LAST_OUTCOME_KEY",
    "MINTED_KEY",
    "NEXT_JOB_KEY",
    "NEXT_PROPOSAL_KEY",
    "NODES_KEY",
    "PENDING_KEY",
    "REWARD_ACC_KEY",
    "REWARD_ESCROW_KEY",
    "SEQUENCER_KEY",
    "SUPPLY_KEY",
    "TOTAL_BONDED_KEY",
    "VALIDATOR_LIST_KEY",
    "VALSET_KEY",
    "VALSET_PREV_KEY",
    "KeyFamily",
    "account_key",
    "epoch_work_key",
    "get_key_family",
    "job_due_key",
    "job_key",
    "match_key",
    "node_key",
    "node_operator_key",
    "param_key",
    "pool_key",
    "proof_key",
    "proof_root_key",
    "proposal_due_key",
    "proposal_key",
    "reward_key",
    "reward_snapshot_key",
    "stake_key",
    "unbond_due_key",
    "validator_bls_key",
    "validator_key",
]

# ---- single keys -------------------------------------------------------------------------------
CHAIN_ID_KEY = "chain/id"
SEQUENCER_KEY = "chain/sequencer"
SUPPLY_KEY = "supply"
TOTAL_BONDED_KEY = "total_bonded"
BURNED_KEY = "burned"
MINTED_KEY = "minted"
REWARD_ACC_KEY = "reward_acc"
REWARD_ESCROW_KEY = "reward_escrow"
EPOCH_FEES_KEY = "epoch_fees"
ACTIVE_NODES_KEY = "active_nodes"
INFLATION_KEY = "inflation_ppb"
LAST_OUTCOME_KEY = "econ/last"
NEXT_PROPOSAL_KEY = "gov/next_id"
NODES_KEY = "market/nodes"
NEXT_JOB_KEY = "market/next_job"
PENDING_KEY = "market/pending"
VALIDATOR_LIST_KEY = "validator_list"
VALSET_KEY = "valset"
VALSET_PREV_KEY = "valset_prev"


# ---- key families ------------------------------------------------------------------------------
def pool_key(name: str) -> str:
    return f"pool/{name}"


def param_key(name: str) -> str:
    return f"param/{name}"


def account_key(address: str) -> str:
    return f"account/{address}"


def stake_key(address: str) -> str:
    return f"stake/{address}"


def unbond_due_key(epoch: int) -> str:
    return f"unbond_due/{epoch}"


def reward_key(address: str) -> str:
    return f"reward/{address}"


def reward_snapshot_key(address: str) -> str:
    return f"reward_snap/{address}"


def epoch_work_key(epoch: int) -> str:
    return f"epoch_work/{epoch}"


def proposal_key(pid: int) -> str:
    return f"proposal/{pid}"


def proposal_due_key(epoch: int) -> str:
    return f"proposal_due/{epoch}"


def node_key(address: str) -> str:
    return f"node/{address}"


def node_operator_key(address: str) -> str:
    """The node an operator (hot key) acts for, indexed so that a transaction from it finds its
    node in one read (chain/market_node.py); only operators other than the node itself."""
    return f"operator/{address}"


def job_key(job_id: int) -> str:
    return f"job/{job_id}"


def proof_key(job_id: int) -> str:
    return f"proof/{job_id}"


def proof_root_key(prover: str, root: str) -> str:
    """The job a prover proved a run's Merkle root for. Per prover, so a thief who copies a root
    and submits it first cannot lock the honest prover out (chain/market_proof.py)."""
    return f"proof_root/{prover.lower()}/{root.lower()}"


def job_due_key(epoch: int) -> str:
    return f"job_due/{epoch}"


def validator_key(address: str) -> str:
    return f"validator/{address}"


def validator_bls_key(key_hex: str) -> str:
    """Who registered a BLS key (lower-case hex): one key, one validator."""
    return f"validator_bls/{key_hex.lower()}"


# ---- the layout as a table ---------------------------------------------------------------------
@dataclass(frozen=True)
class KeyFamily:
    """One row of the layout: a family's name, the exact pattern of its keys, its value."""

    name: str
    pattern: re.Pattern[str]
    value: str

    def matches(self, key: str) -> bool:
        return self.pattern.fullmatch(key) is not None


_ADDR = r"0x[0-9a-fA-F]{40}"
_INT = r"(0|[1-9][0-9]*)"


def _row(name: str, pattern: str, value: str) -> KeyFamily:
    return KeyFamily(name, re.compile(pattern), value)


KEYSPACE: tuple[KeyFamily, ...] = (
    _row("chain id", re.escape(CHAIN_ID_KEY), "chain id (str)"),
    _row("sequencer", re.escape(SEQUENCER_KEY), "the sequencer's address (str)"),
    _row("supply", re.escape(SUPPLY_KEY), "total supply (int)"),
    _row("total bonded", re.escape(TOTAL_BONDED_KEY), "sum of bonded stake (int)"),
    _row("burned", re.escape(BURNED_KEY), "total burned (int)"),
    _row("minted", re.escape(MINTED_KEY), "total minted (int)"),
    _row("pool", r"pool/[a-z_]+", "balance of a genesis pool (int)"),
    _row("param", r"param/[a-z][a-z0-9_]*", "governance parameter (int)"),
    _row("account", rf"account/{_ADDR}", "Account"),
    _row("stake", rf"stake/{_ADDR}", "Stake"),
    _row("unbonding due", rf"unbond_due/{_INT}", "addresses released then (list)"),
    _row("reward", rf"reward/{_ADDR}", "settled rewards (int)"),
    _row("reward snapshot", rf"reward_snap/{_ADDR}", "accumulator at last settlement (int)"),
    _row("reward accumulator", re.escape(REWARD_ACC_KEY), "the F1 accumulator"),
    _row("reward escrow", re.escape(REWARD_ESCROW_KEY), "unsettled staking rewards (int)"),
    _row("epoch fees", re.escape(EPOCH_FEES_KEY), "fees collected this epoch (int)"),
    _row("epoch work", rf"epoch_work/{_INT}", "EpochWork"),
    _row("active nodes", re.escape(ACTIVE_NODES_KEY), "N_n (int)"),
    _row("inflation", re.escape(INFLATION_KEY), "minting rate, ppb a year (int)"),
    _row("last outcome", re.escape(LAST_OUTCOME_KEY), "EpochOutcome.to_dict()"),
    _row("next proposal", re.escape(NEXT_PROPOSAL_KEY), "the next proposal id (int)"),
    _row("proposal", rf"proposal/{_INT}", "Proposal"),
    _row("proposals due", rf"proposal_due/{_INT}", "proposal ids due then (list)"),
    _row("node", rf"node/{_ADDR}", "NodeRecord"),
    _row("node operator", rf"operator/{_ADDR}", "the node it operates (str)"),
    _row("node list", re.escape(NODES_KEY), "registered node addresses (list)"),
    _row("next job", re.escape(NEXT_JOB_KEY), "the next job id (int)"),
    _row("pending proofs", re.escape(PENDING_KEY), "job ids proved last block (list)"),
    _row("job", rf"job/{_INT}", "Job"),
    _row("proof", rf"proof/{_INT}", "ProofRecord"),
    _row("proof root", r"proof_root/0x[0-9a-f]{40}/0x[0-9a-f]+", "the job proved (int)"),
    _row("jobs due", rf"job_due/{_INT}", "job ids due then (list)"),
    _row("validator", rf"validator/{_ADDR}", "ValidatorRecord"),
    _row("validator bls key", r"validator_bls/0x[0-9a-f]{96}", "its validator (str)"),
    _row("validator list", re.escape(VALIDATOR_LIST_KEY), "registered validators (list)"),
    _row("validator set", re.escape(VALSET_KEY), "ValidatorSet in force"),
    _row("previous set", re.escape(VALSET_PREV_KEY), "the ValidatorSet before"),
)


def match_key(key: str) -> list[KeyFamily]:
    """The KEYSPACE rows a key matches (exactly one for every key the chain writes)."""
    return [family for family in KEYSPACE if family.matches(key)]


def get_key_family(key: str) -> str | None:
    """The name of the one family `key` belongs to, or None for a key outside the layout."""
    found = match_key(key)
    return found[0].name if len(found) == 1 else None
