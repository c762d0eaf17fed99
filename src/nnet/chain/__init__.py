"""The chain: a deterministic state machine written like a spec (ethereum consensus-specs shape).

    types.py       typed records (Job, NodeRecord, Stake, ...), units, BlockContext, StateLike
    keys.py        the key schema: every state key is built there; KEYSPACE is the layout
    params.py      governance parameters with bounds (kept in state)
    state.py       key-value state with a journal; write-set hash chain (state_root)
    accounts.py    get_*/set_* helpers for accounts, stakes, pools, supply
    transition.py  process_tx and one process_<type> per transaction type; fees
    epoch.py       process_epoch: the flat, ordered list of epoch-end steps
    genesis.py     genesis file: parse, devnet construction, genesis state
    block.py       headers, tx_root, build_block (sequencer), process_block (replica/replay)

Integers only; no clock, no randomness, no I/O. Every refusal is an InvalidTx with a `code`.
"""
