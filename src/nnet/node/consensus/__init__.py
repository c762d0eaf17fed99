"""Consensus among validators (NETWORK.md): Tendermint rounds, proposer rotation, certificates."""
