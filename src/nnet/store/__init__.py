"""Persistence: the SQLite chain database (schema.py owns the tables, chaindb.py the access)."""
