"""Proof-of-learning: job specs, models, data, the deterministic trainer, commitments and the
replay verifier (POL.md).

Modules that need torch (models, data, engine, checkpoint, trainer, replay, verifier) import it at
their top, so import them only from code that trains or verifies. spec, merkle, challenge,
document, rundir and commitment are torch-free: `nnet prove` uses only those.
"""
