"""The OpenAPI 3.1 description of the daemon's HTTP API, served at GET /openapi.json."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
}
_UNITS = {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "description": "base units"}
_HASH = {"type": "string", "pattern": "^0x[0-9a-f]{64}$"}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


_HEADER = {
    "type": "object",
    "properties": {
        "chain": {"type": "string"},
        "height": {"type": "integer"},
        "time_ms": {"type": "integer"},
        "prev_hash": _HASH,
        "tx_root": _HASH,
        "state_root": _HASH,
        "proposer": _ADDRESS,
        "beacon": {
            "type": "string",
            "pattern": "^(0x[0-9a-f]{162})?$",
            "description": "the proposer's ECVRF proof (secp256k1, 81 bytes) over the chain, "
            "height and parent beacon; its output seeds the block's randomness. Empty at genesis",
        },
        "sig": {"type": "string"},
    },
}
_BLOCK = {
    "type": "object",
    "properties": {
        "header": {"$ref": "#/components/schemas/Header"},
        "hash": _HASH,
        "txs": {"type": "array", "items": {"$ref": "#/components/schemas/Tx"}},
    },
}
_TX = {
    "type": "object",
    "required": ["v", "chain", "type", "from", "nonce", "fee", "body", "sig"],
    "properties": {
        "v": {"const": 1},
        "chain": {"type": "string"},
        "type": {"type": "string"},
        "from": _ADDRESS,
        "nonce": {"type": "integer", "minimum": 0},
        "fee": _UNITS,
        "body": {"type": "object"},
        "sig": {"type": "string", "pattern": "^0x[0-9a-f]{130}$"},
    },
}
_RECEIPT = {
    "type": "object",
    "properties": {
        "hash": _HASH,
        "status": {"enum": ["pending", "committed"]},
        "height": {"type": ["integer", "null"]},
        "index": {"type": ["integer", "null"]},
        "type": {"type": "string"},
        "from": _ADDRESS,
        "events": {"type": "array", "items": {"type": "object"}},
        "tx": {"$ref": "#/components/schemas/Tx"},
    },
}
_ACCOUNT = {
    "type": "object",
    "properties": {
        "address": _ADDRESS,
        "balance": _UNITS,
        "nonce": {"type": "integer", "description": "next nonce per committed state"},
        "next_nonce": {"type": "integer", "description": "next nonce counting pending txs"},
        "stake": {
            "type": "object",
            "properties": {
                "bonded": _UNITS,
                "unbonding": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"amount": _UNITS, "release_epoch": {"type": "integer"}},
                    },
                },
            },
        },
        "pending_rewards": _UNITS,
    },
}
_STATUS = {
    "type": "object",
    "properties": {
        "chain": {"type": "string"},
        "height": {"type": "integer"},
        "head_hash": _HASH,
        "epoch": {"type": "integer"},
        "epoch_blocks": {"type": "integer"},
        "peers": {"type": "array", "items": {"type": "string"}},
        "sync": {"enum": ["sequencer", "replica"]},
        "mempool": {"type": "integer"},
        "sequencer": _ADDRESS,
    },
}
_RESULTS = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"hash": _HASH, "status": {"const": "pending"}},
                    },
                    {"$ref": "#/components/schemas/Error"},
                ]
            },
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "nnet daemon", "version": "1", "description": "Neuronet chain node API"},
    "paths": {
        "/status": {
            "get": {
                "summary": "Chain id, height, head, epoch, peers, sync state",
                "responses": {"200": _json(_STATUS, "node status")},
            }
        },
        "/txs": {
            "post": {
                "summary": "Submit one transaction (JSON) or many (NDJSON)",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": _TX},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    }
                },
                "responses": {
                    "202": _json(_RESULTS, "per-transaction hash or refusal, in order"),
                    "400": _err("malformed body, or the single transaction was refused"),
                    "413": _err("body too large"),
                },
            }
        },
        "/txs/{hash}": {
            "get": {
                "summary": "Receipt of a transaction",
                "parameters": [{"name": "hash", "in": "path", "required": True, "schema": _HASH}],
                "responses": {"200": _json(_RECEIPT, "receipt"), "404": _err("unknown tx")},
            }
        },
        "/blocks/{height}": {
            "get": {
                "summary": "Header and transactions of one block",
                "parameters": [
                    {
                        "name": "height",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"200": _json(_BLOCK, "block"), "404": _err("no such block")},
            }
        },
        "/blocks": {
            "get": {
                "summary": "Consecutive blocks, for sync",
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "integer", "default": 1}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "default": 100, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"blocks": {"type": "array", "items": _BLOCK}},
                        },
                        "blocks",
                    )
                },
            }
        },
        "/accounts/{address}": {
            "get": {
                "summary": "Balance, nonce, stake and pending rewards of an address",
                "parameters": [
                    {"name": "address", "in": "path", "required": True, "schema": _ADDRESS}
                ],
                "responses": {"200": _json(_ACCOUNT, "account"), "400": _err("bad address")},
            }
        },
        "/params": {
            "get": {
                "summary": "Governance parameters with their bounds",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {"value": {}, "min": {}, "max": {}},
                            },
                        },
                        "name -> {value, min, max}",
                    )
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": _ERROR,
            "Header": _HEADER,
            "Tx": _TX,
            "Block": _BLOCK,
            "Receipt": _RECEIPT,
        }
    },
}


def _read(summary: str, *path_params: str, query: tuple[str, ...] = ()) -> dict[str, Any]:
    """A GET that answers a JSON object (capability reads: governance, market, store, audit)."""
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in path_params
    ] + [{"name": q, "in": "query", "schema": {"type": "string"}} for q in query]
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": _json({"type": "object"}, summary), "404": _err("not found")},
    }
    if params:
        op["parameters"] = params
    return {"get": op}


OPENAPI["paths"].update(
    {
        "/supply": _read("Where every unit of the supply is (conservation audit)"),
        "/proposals": _read("Governance proposals, newest first", query=("status",)),
        "/proposals/{id}": _read("A proposal with its live tally", "id"),
        "/jobs": _read("Training jobs", query=("status", "limit")),
        "/jobs/{id}": _read("A job with its proof, challenge, openings, settlement", "id"),
        "/proofs/{id}": _read("The proof document of a job", "id"),
        "/nodes": _read("Registered compute nodes", query=("limit",)),
        "/nodes/{address}": _read("One compute node: collateral, reputation, work", "address"),
        "/blobs": {
            **_read("Blobs held by the content store", query=("limit",)),
            "put": {
                "summary": "Upload a blob (streamed); optional ?cid= must match its bytes",
                "parameters": [{"name": "cid", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/octet-stream": {"schema": {}}}},
                "responses": {
                    "201": _json({"type": "object"}, "cid and size"),
                    "400": _err("bytes do not match ?cid"),
                },
            },
        },
        "/blobs/{cid}": {
            "get": {
                "summary": "Download a blob (CIDv1 raw sha2-256)",
                "parameters": [
                    {"name": "cid", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "the bytes",
                        "content": {"application/octet-stream": {}},
                    },
                    "404": _err("no such blob"),
                },
            }
        },
    }
)
