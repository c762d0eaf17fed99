"""nnet: the reference implementation of Neuronet, a proof-of-stake chain that pays GPU operators
for AI training that anyone can verify. See README.md and ../shared/design/ for the design."""

__version__ = "0.1.0"
