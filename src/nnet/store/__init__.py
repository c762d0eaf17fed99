"""Persistence: the SQLite chain database (schema.py owns the tables, chaindb.py the access,
sqlite.py the one write transaction) and the content-addressed blob store (blobs.py)."""
