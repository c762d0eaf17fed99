"""One module per command or command group; each exposes `register(app)`, listed in `nnet.cli`."""
