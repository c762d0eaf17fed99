"""`python -m nnet` is the `nnet` command."""

from nnet.cli import main

main()
