"""Workflows that are neither core nor CLI (ARCHITECTURE.md, Services).

A service strings core calls and client.py requests into one piece of work; a command parses its
flags, calls one service and renders what comes back. Services never import typer or rich, never
print to stdout (a `progress` callable takes their messages for people), and raise only errors of
`nnet.errors`.

    devnet      set up a local chain: genesis, validator keys, the sequencer's password
    agent       `nnet node run`, the node agent: agent_store, agent_tx, agent_worker, agent_status
    market      the marketplace's file traffic: fetch a job, publish openings, lay out a run
    verify      judge a proof and sign the attestation; the on-chain verification flow
    tour        drive real `nnet` processes (the quickstart, end-to-end tests)
    quickstart  the quickstart's acts, run through a tour
    plot        charts of a simulation (matplotlib)
"""
