"""The daemon: HTTP API (app.py), node core (core.py), mempool, block producer and server
(server.py), replica sync (sync.py). Only this package and commands/ import starlette/uvicorn."""
